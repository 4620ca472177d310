//! The engine: open and recovery, the writer thread, the store thread, reads, snapshots, close.

use std::collections::BTreeSet;
use std::fs;
use std::io::Write;
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, RwLock, RwLockReadGuard};
use std::thread::JoinHandle;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crossbeam_channel::{bounded, unbounded, Receiver, RecvTimeoutError, Sender};
use idres_log::{BatchBuilder, Durability, Log, LogError, LogOptions, Lsn, ReadHandle, TailRecovery};
use idres_model::{
    decode_entry_with_schema, encode_record_entry_into, set_encoded_appended_at, Cid, CodecError, Entry, Map, Profile,
    Record, Target, Timestamp, Uid, CODEC_ID, SCHEMA_VERSION,
};
use idres_resolve::{ApplyEncodedError, Change, Config, Explanation, Resolver, SnapshotError};
use idres_store::{MemoryStore, ProfileStore, SledOptions, SledStore, StoreBatch, StoreError};
use uuid::Uuid;

/// How an engine runs.
#[derive(Debug, Clone)]
pub struct EngineConfig {
    /// The fold's rules; their hash is in every snapshot.
    pub fold: Config,
    /// When appends are fdatasynced (default: every batch, i.e. group commit).
    pub durability: Durability,
    /// What open does with a damaged (not merely torn) end of the log: refuse (default, right for
    /// `EveryBatch`) or keep the longest valid prefix (for `Never` / `Interval`; docs/OPERATIONS.md).
    pub tail_recovery: TailRecovery,
    /// Log segment size (default 64 MiB).
    pub segment_bytes: u64,
    /// Most records the writer puts in one frame.
    pub batch_records_max: usize,
    /// Capacity of the write queue; callers block when it is full (back-pressure).
    pub queue_capacity: usize,
    /// A snapshot every this many records (and one on close); 0: only on close.
    pub snapshot_every_records: u64,
    /// Snapshots kept on disk (the newest ones).
    pub snapshots_keep: usize,
    /// The writer waits when the store trails the log by more records than this.
    pub store_lag_max_records: u64,
    /// The store thread gathers changes for this long between flushes (earlier when the lag
    /// passes half of `store_lag_max_records`), so a hot profile is written once per interval
    /// instead of once per batch. Default 100 ms.
    pub store_flush_interval: Duration,
    /// The sled store's options; `None`: an in-memory store (tests, or services that do not need a
    /// persisted read model).
    pub store: Option<SledOptions>,
    /// Rebuild on open: once the log is open (locked, and checked to hold every record the store
    /// and the snapshots have seen), delete the snapshots, clear the store and fold the whole
    /// log. `idres rebuild`. Default false.
    pub rebuild: bool,
}

impl Default for EngineConfig {
    fn default() -> EngineConfig {
        EngineConfig {
            fold: Config::default(),
            durability: Durability::EveryBatch,
            tail_recovery: TailRecovery::Strict,
            segment_bytes: 64 << 20,
            batch_records_max: 4096,
            queue_capacity: 65_536,
            snapshot_every_records: 1_000_000,
            snapshots_keep: 2,
            store_lag_max_records: 1_000_000,
            store_flush_interval: Duration::from_millis(100),
            store: Some(SledOptions::default()),
            rebuild: false,
        }
    }
}

/// Errors of the engine. Each says what and where.
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    /// A caller's input is malformed (an id, an event name, a value over a limit): nothing was
    /// appended.
    #[error("invalid input: {0}")]
    Invalid(String),
    /// The log failed.
    #[error(transparent)]
    Log(#[from] LogError),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A snapshot could not be written or read.
    #[error("snapshot {path}: {detail}")]
    Snapshot {
        /// The file.
        path: PathBuf,
        /// What went wrong.
        detail: String,
    },
    /// A record in the log does not decode: the log was written by something else or damaged.
    #[error("record at LSN {lsn} does not decode: {source}")]
    Undecodable {
        /// Its LSN.
        lsn: Lsn,
        /// Why.
        #[source]
        source: CodecError,
    },
    /// The data directory lost acknowledged records: something has seen LSNs the log no longer
    /// holds (bit rot in the tail, a copied-over file). Run `idres verify`.
    #[error("data damaged, acknowledged records lost: {what} has seen LSN {seen}, but the log ends at LSN {log_end}{}; run `idres verify`",
        if log_recovery.is_empty() { String::new() } else { format!(" (log recovery on this open: {})", log_recovery.join("; ")) })]
    LostRecords {
        /// The snapshot or the store.
        what: String,
        /// The LSN it has seen (exclusive end).
        seen: Lsn,
        /// The log's end.
        log_end: Lsn,
        /// What the log's recovery did on this open (e.g. a torn tail it cut off).
        log_recovery: Vec<String>,
    },
    /// An earlier write or fsync failed; the engine accepts no more writes.
    #[error("engine is poisoned by an earlier failure: {0}")]
    Poisoned(String),
    /// The engine is closed.
    #[error("engine is closed")]
    Closed,
    /// A file-system operation failed.
    #[error("{op} {path}: {source}")]
    Io {
        /// What the engine was doing.
        op: &'static str,
        /// The path.
        path: PathBuf,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
}

fn io<'a>(op: &'static str, path: &'a Path) -> impl Fn(std::io::Error) -> EngineError + 'a {
    move |source| EngineError::Io { op, path: path.to_path_buf(), source }
}

/// What open found and did (for the service's log).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OpenReport {
    /// Each thing recovery did, in words.
    pub events: Vec<String>,
    /// The LSN the restored snapshot continued at (`None`: folded from scratch).
    pub snapshot_lsn: Option<Lsn>,
    /// Records folded from the log on open.
    pub folded_records: u64,
    /// True if the store was rebuilt from the fold.
    pub store_rebuilt: bool,
    /// Profiles (and retired ids) open wrote to the store: those the records it had not seen
    /// changed, or every one on a rebuild.
    pub store_profiles_written: u64,
}

/// Counters of a running engine.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Stats {
    /// Records appended and folded (the next LSN).
    pub folded_lsn: Lsn,
    /// Records reflected in the store.
    pub stored_lsn: Lsn,
    /// Records the store trails the log by.
    pub store_lag: u64,
    /// Current profiles.
    pub profiles: usize,
    /// Rejected records.
    pub rejections: usize,
    /// Profiles (and retired-id redirects) the store thread has written since open.
    pub store_profiles_written: u64,
    /// Flushes (atomic batches) the store thread has written since open.
    pub store_flushes: u64,
    /// Time the store thread has spent materialising and writing since open: with
    /// `store_profiles_written` it gives the store's rate.
    pub store_busy: Duration,
}

/// A queued write's receipt: [`Ticket::wait`] returns its LSN once it is durable and folded.
///
/// The ticket of a [`Engine::write_batch`] covers all its records: they have consecutive LSNs,
/// and [`Ticket::wait_range`] returns them.
#[derive(Debug)]
pub struct Ticket {
    outcome: Arc<Outcome>,
    acks: Arc<Acks>,
}

/// A request's outcome, left by the writer: its LSNs, or why it failed (`None`: the engine
/// closed without writing it).
type OutcomeValue = Result<Range<Lsn>, Option<String>>;

#[derive(Debug, Default)]
struct Outcome {
    value: Mutex<Option<OutcomeValue>>,
}

/// Wakes waiting tickets. The writer leaves the outcomes of a whole round, then bumps `round`
/// and wakes the waiters once: a wake-up per round, not per write.
#[derive(Debug, Default)]
struct Acks {
    round: Mutex<u64>,
    cv: Condvar,
}

impl Acks {
    fn notify(&self) {
        *self.round.lock().unwrap_or_else(|e| e.into_inner()) += 1;
        self.cv.notify_all();
    }
}

/// The writer's end of a ticket. Dropped without an outcome (the engine went away), it leaves
/// "closed" and wakes the waiters itself.
#[derive(Debug)]
struct Reply {
    outcome: Arc<Outcome>,
    acks: Arc<Acks>,
    sent: bool,
}

impl Reply {
    /// Leaves the outcome; the caller wakes the waiters ([`Acks::notify`]) once it has left all
    /// of its round's.
    fn send(mut self, value: Result<Range<Lsn>, String>) {
        self.leave(value.map_err(Some));
    }

    fn leave(&mut self, value: OutcomeValue) {
        *self.outcome.value.lock().unwrap_or_else(|e| e.into_inner()) = Some(value);
        self.sent = true;
    }
}

impl Drop for Reply {
    fn drop(&mut self) {
        if !self.sent {
            self.leave(Err(None));
            self.acks.notify();
        }
    }
}

impl Ticket {
    /// Waits until the write is durable (per the durability setting) and folded; returns the LSN
    /// of its (first) record.
    pub fn wait(self) -> Result<Lsn, EngineError> {
        self.wait_range().map(|r| r.start)
    }

    /// Waits like [`Ticket::wait`]; returns the LSNs of all the write's records.
    pub fn wait_range(self) -> Result<Range<Lsn>, EngineError> {
        // The outcome is checked under the wake-up lock, and the writer takes that lock after it
        // leaves an outcome: no wake-up is lost between the check and the wait.
        let mut round = self.acks.round.lock().unwrap_or_else(|e| e.into_inner());
        loop {
            if let Some(value) = self.outcome.value.lock().unwrap_or_else(|e| e.into_inner()).take() {
                return match value {
                    Ok(lsns) => Ok(lsns),
                    Err(Some(cause)) => Err(EngineError::Poisoned(cause)),
                    Err(None) => Err(EngineError::Closed),
                };
            }
            round = self.acks.cv.wait(round).unwrap_or_else(|e| e.into_inner());
        }
    }
}

/// One caller's write, encoded by the edge (on the caller's thread) as entries whose
/// `appended_at` the writer fills in: one record (the common case), or several back to back.
/// The writer copies these bytes into its frame and folds the frame's bytes; it never encodes
/// or decodes an event itself.
enum Records {
    One(Vec<u8>),
    Many { data: Vec<u8>, lens: Vec<u32> },
}

impl Records {
    fn len(&self) -> usize {
        match self {
            Records::One(_) => 1,
            Records::Many { lens, .. } => lens.len(),
        }
    }

    fn for_each(&self, mut f: impl FnMut(&[u8]) -> Result<(), String>) -> Result<(), String> {
        match self {
            Records::One(bytes) => f(bytes),
            Records::Many { data, lens } => {
                let mut at = 0usize;
                for &len in lens {
                    let end = at + len as usize;
                    f(data.get(at..end).ok_or("a batch's lengths exceed its bytes")?)?;
                    at = end;
                }
                Ok(())
            }
        }
    }
}

struct Request {
    records: Records,
    reply: Reply,
}

struct Progress {
    folded: Lsn,
    stored: Lsn,
    store_profiles_written: u64,
    store_flushes: u64,
    store_busy: Duration,
    poisoned: Option<String>,
    store_failed: Option<String>,
}

struct Shared {
    dir: PathBuf,
    /// The log's frame payload limit: the edge refuses a record that could not fit.
    payload_max: u64,
    /// The LSN of the snapshot open restored (under this config), if any.
    restored_snapshot: Option<Lsn>,
    config: EngineConfig,
    resolver: RwLock<Resolver>,
    log: ReadHandle,
    progress: Mutex<Progress>,
    changed: Condvar,
    /// Wakes tickets (see [`Acks`]).
    acks: Arc<Acks>,
    subscribers: Mutex<Vec<Sender<Change>>>,
    /// `None` once the engine is closed: the store's files are released.
    store: Mutex<Option<Box<dyn ProfileStore>>>,
}

impl Shared {
    fn progress(&self) -> MutexGuard<'_, Progress> {
        self.progress.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn resolver(&self) -> RwLockReadGuard<'_, Resolver> {
        self.resolver.read().unwrap_or_else(|e| e.into_inner())
    }
}

struct Handle {
    tx: RwLock<Option<Sender<Request>>>,
    shared: Arc<Shared>,
    threads: Mutex<Vec<JoinHandle<()>>>,
    report: OpenReport,
}

/// An open engine. Cheap to clone; every clone shares the same engine. Dropping the last clone
/// closes it (see [`Engine::close`]).
#[derive(Clone)]
pub struct Engine {
    handle: Arc<Handle>,
}

impl std::fmt::Debug for Engine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Engine").field("dir", &self.handle.shared.dir).finish_non_exhaustive()
    }
}

fn now_micros() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_micros().min(i64::MAX as u128) as i64)
}

fn snapshot_path(dir: &Path, lsn: Lsn) -> PathBuf {
    dir.join(format!("{lsn:020}.snap"))
}

/// Snapshot files, newest first.
fn list_snapshots(dir: &Path) -> Result<Vec<(Lsn, PathBuf)>, EngineError> {
    let mut out = Vec::new();
    for entry in fs::read_dir(dir).map_err(io("read directory", dir))? {
        let entry = entry.map_err(io("read directory", dir))?;
        let name = entry.file_name();
        let Some(name) = name.to_str() else { continue };
        if let Some(digits) = name.strip_suffix(".snap") {
            if let Ok(lsn) = digits.parse::<Lsn>() {
                out.push((lsn, entry.path()));
            }
        }
    }
    out.sort_by_key(|s| std::cmp::Reverse(s.0));
    Ok(out)
}

fn sync_dir(dir: &Path) -> Result<(), EngineError> {
    fs::File::open(dir).and_then(|d| d.sync_all()).map_err(io("fsync directory", dir))
}

/// Writes a snapshot atomically (temp file, fsync, rename, fsync directory) and keeps the newest
/// `keep` snapshots.
/// While the store is being rebuilt: the number of records that had been acknowledged (a
/// cleared store no longer says). Removed once the rebuilt store is flushed.
const STORE_REBUILD_MARKER: &str = "store-rebuild.lsn";

/// The file beside `log/` that records the SHA-256 (hex) of the fold config the store was
/// written under.
pub const FOLD_CONFIG_FILE: &str = "fold-config.sha256";

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Writes `name` in `dir` atomically: a temp file, fsync, rename, fsync of the directory.
fn write_atomically(dir: &Path, name: &str, bytes: &[u8]) -> Result<(), EngineError> {
    let tmp = dir.join(format!("{name}.tmp"));
    let path = dir.join(name);
    let mut f = fs::File::create(&tmp).map_err(io("create", &tmp))?;
    f.write_all(bytes).map_err(io("write", &tmp))?;
    f.sync_all().map_err(io("fsync", &tmp))?;
    fs::rename(&tmp, &path).map_err(io("rename", &path))?;
    sync_dir(dir)
}

fn write_snapshot(dir: &Path, resolver: &Resolver, keep: usize) -> Result<(), EngineError> {
    let bytes = resolver
        .snapshot()
        .map_err(|e: SnapshotError| EngineError::Snapshot { path: dir.to_path_buf(), detail: e.to_string() })?;
    let path = snapshot_path(dir, resolver.next_lsn());
    let tmp = path.with_extension("snap.tmp");
    let mut f = fs::File::create(&tmp).map_err(io("create snapshot", &tmp))?;
    f.write_all(&bytes).map_err(io("write snapshot", &tmp))?;
    f.sync_all().map_err(io("fsync snapshot", &tmp))?;
    fs::rename(&tmp, &path).map_err(io("rename snapshot", &path))?;
    sync_dir(dir)?;
    for (_, old) in list_snapshots(dir)?.into_iter().skip(keep.max(1)) {
        fs::remove_file(&old).map_err(io("remove snapshot", &old))?;
    }
    Ok(())
}

/// The profile ids a batch of changes touched.
fn touched(changes: &[Change], ids: &mut BTreeSet<Uuid>) {
    for c in changes {
        match *c {
            Change::Created { profile } | Change::Changed { profile } => {
                ids.insert(profile);
            }
            Change::Retired { profile, into } => {
                ids.insert(profile);
                ids.insert(into);
            }
            Change::Split { from, into } => {
                ids.insert(from);
                ids.insert(into);
            }
            Change::ImplicitReset { .. } | Change::Rejected { .. } => {}
        }
    }
}

/// Profiles materialised and written per store batch: the memory of a rebuild or a long
/// catch-up stays bounded however many profiles change (a 10 M-record rebuild would otherwise
/// materialise every profile at once).
const STORE_CHUNK: usize = 4096;
/// A long catch-up or rebuild flushes the store every this many chunks.
const STORE_CHUNKS_PER_FLUSH: usize = 8;

/// A store batch bringing `ids` to their current state, as `lookup` (the fold's
/// `profile_by_id`) reports it: an upsert if the id names a profile, a redirect if it was retired.
fn store_batch<'a>(
    ids: impl IntoIterator<Item = &'a Uuid>,
    applied_lsn: Lsn,
    lookup: &impl Fn(Uuid) -> Option<Profile>,
) -> StoreBatch {
    let mut batch = StoreBatch { applied_lsn, upserts: Vec::new(), retired: Vec::new() };
    for &id in ids {
        match lookup(id) {
            Some(p) if p.id == id => batch.upserts.push(p),
            Some(p) => batch.retired.push((id, p.id)),
            None => {}
        }
    }
    batch
}

/// Brings `ids` to their current state in the store, [`STORE_CHUNK`] profiles per batch. Every
/// batch but the last keeps the store's applied LSN at `before` (what the store already
/// reflected); the last one sets `after`. A crash in between leaves a store that says it is at
/// `before`, which the next open catches up or rebuilds. Returns the profiles and redirects
/// written.
fn write_store_chunked(
    store: &Mutex<Option<Box<dyn ProfileStore>>>,
    ids: &[Uuid],
    before: Lsn,
    after: Lsn,
    lookup: impl Fn(Uuid) -> Option<Profile>,
    flush: bool,
) -> Result<u64, StoreError> {
    let chunks: Vec<&[Uuid]> = if ids.is_empty() { vec![&[]] } else { ids.chunks(STORE_CHUNK).collect() };
    let last = chunks.len() - 1;
    let mut written = 0;
    for (i, chunk) in chunks.into_iter().enumerate() {
        let batch = store_batch(chunk, if i == last { after } else { before }, &lookup);
        written += (batch.upserts.len() + batch.retired.len()) as u64;
        let mut guard = store.lock().unwrap_or_else(|e| e.into_inner());
        let Some(store) = guard.as_mut() else {
            return Err(StoreError::Corrupt { key: "-".into(), detail: "the store was released".into() });
        };
        store.apply(&batch)?;
        // sled holds what it has not flushed in memory: a long rebuild flushes as it goes.
        if flush && (i == last || (i + 1) % STORE_CHUNKS_PER_FLUSH == 0) {
            store.flush()?;
        }
    }
    Ok(written)
}

impl Engine {
    /// Opens the engine in `dir` (created if new) and recovers it: the log (a torn tail is cut
    /// off), the newest snapshot folded under the same config, the rest of the log folded, the
    /// store brought up to date or rebuilt. A data directory that lost acknowledged records is an
    /// error ([`EngineError::LostRecords`]) unless durability is `Never`.
    pub fn open(dir: impl AsRef<Path>, config: EngineConfig) -> Result<Engine, EngineError> {
        let dir = dir.as_ref().to_path_buf();
        let (log_dir, snap_dir, store_dir) = (dir.join("log"), dir.join("snapshots"), dir.join("store"));
        fs::create_dir_all(&snap_dir).map_err(io("create directory", &snap_dir))?;
        let mut report = OpenReport::default();
        let opts = LogOptions {
            segment_bytes: config.segment_bytes,
            durability: config.durability,
            tail_recovery: config.tail_recovery,
            codec_id: CODEC_ID,
            ..LogOptions::default()
        };
        let lenient = config.durability == Durability::Never;
        // The store first: what it and the snapshots have seen was acknowledged, and the log must
        // still hold it. Recovery is told so, and refuses (changing nothing) rather than cutting
        // acknowledged records off as a "torn tail".
        let mut store: Box<dyn ProfileStore> = match &config.store {
            None => Box::new(MemoryStore::new()),
            Some(opts) => match SledStore::open(&store_dir, opts) {
                Ok(s) => Box::new(s),
                // Not damage (a lock held by another open engine, permissions, a full disk):
                // deleting the store would not help and could destroy one in use.
                Err(e) if e.is_io() => return Err(e.into()),
                Err(e) => {
                    report.events.push(format!("store unreadable ({e}); rebuilding it"));
                    let _ = fs::remove_dir_all(&store_dir);
                    Box::new(SledStore::open(&store_dir, opts)?)
                }
            },
        };
        let mut applied = match store.applied_lsn() {
            Ok(a) => a,
            Err(e) => {
                report.events.push(format!("store damaged ({e}); rebuilding it"));
                store.clear()?;
                None
            }
        };
        // What the store has seen was acknowledged, under whatever config it was folded.
        let store_seen = applied.unwrap_or(0);
        // The store holds profiles folded under the config recorded beside it; under another
        // config (a rule change applied to history) it is rebuilt.
        let config_path = dir.join(FOLD_CONFIG_FILE);
        let config_hash = hex(&config.fold.hash());
        let recorded = fs::read_to_string(&config_path).ok();
        if applied.is_some() && recorded.as_deref().map(str::trim) != Some(config_hash.as_str()) {
            report.events.push(match recorded {
                Some(_) => "the fold's config changed since the store was written; rebuilding it".into(),
                None => "no fold config recorded beside the store; rebuilding it".into(),
            });
            applied = None;
        }
        // A store rebuild that was interrupted left its marker: what had been acknowledged then
        // (the store was cleared, so it no longer says), and a store to rebuild again.
        let marker_path = dir.join(STORE_REBUILD_MARKER);
        let interrupted: Option<Lsn> = match fs::read_to_string(&marker_path) {
            Ok(text) => Some(text.trim().parse().map_err(|_| {
                EngineError::Invalid(format!("{} does not hold an LSN: {text:?}", marker_path.display()))
            })?),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
            Err(e) => return Err(io("read", &marker_path)(e)),
        };
        if interrupted.is_some() {
            report.events.push("an interrupted store rebuild is done again".into());
            applied = None;
        }
        let newest_snapshot = list_snapshots(&snap_dir)?.into_iter().next();
        let snapshot_seen = newest_snapshot.as_ref().map_or(0, |(l, _)| *l);
        let acknowledged = snapshot_seen.max(store_seen).max(interrupted.unwrap_or(0));
        let keep_at_least = if lenient { 0 } else { acknowledged };
        let log = match Log::open(&log_dir, LogOptions { keep_at_least, ..opts }) {
            Ok(log) => log,
            Err(LogError::LostRecords { at, offset, end_lsn, required }) => {
                let what = match &newest_snapshot {
                    Some((l, path)) if *l >= store_seen => format!("snapshot {}", path.display()),
                    _ => "the store".to_string(),
                };
                return Err(EngineError::LostRecords {
                    what,
                    seen: required,
                    log_end: end_lsn,
                    log_recovery: vec![format!(
                        "the log's valid frames end in {} at byte offset {offset}; nothing was changed",
                        at.display()
                    )],
                });
            }
            Err(e) => return Err(e.into()),
        };
        report.events.extend(log.recovery().iter().map(|e| e.to_string()));
        let log_end = log.next_lsn();

        if config.rebuild {
            // The old snapshots stay until the rebuilt store is in: until then they (and the
            // marker) are what proves how many records were acknowledged.
            report.events.push("rebuild: folding the whole log and rebuilding the store and snapshots".into());
            applied = None;
        }
        let old_snapshots = if config.rebuild { list_snapshots(&snap_dir)? } else { Vec::new() };
        // The newest snapshot that restores under this config.
        let mut resolver = None;
        for (lsn, path) in if config.rebuild { Vec::new() } else { list_snapshots(&snap_dir)? } {
            if lsn > log_end {
                if lenient {
                    report.events.push(format!("snapshot {} is past the log's end {log_end}; ignored", path.display()));
                    continue;
                }
                return Err(EngineError::LostRecords {
                    what: format!("snapshot {}", path.display()),
                    seen: lsn,
                    log_end,
                    log_recovery: report.events.clone(),
                });
            }
            let bytes = fs::read(&path).map_err(io("read snapshot", &path))?;
            match Resolver::restore(&bytes, config.fold.clone()) {
                Ok(r) => {
                    report.snapshot_lsn = Some(r.next_lsn());
                    resolver = Some(r);
                    break;
                }
                Err(e) => report.events.push(format!("snapshot {} ignored: {e}", path.display())),
            }
        }
        let mut resolver = resolver.unwrap_or_else(|| Resolver::new(config.fold.clone()));
        let fold_start = resolver.next_lsn();
        // The changes of the records the store has not seen (from its LSN on) catch it up; those
        // before it are in the store already, and a store that is rebuilt from the result needs
        // none. A fold without the change stream skips the profile id of every node it touches.
        let catch_up_from = applied.filter(|&a| a >= fold_start && a <= log_end);
        resolver.set_change_tracking(catch_up_from == Some(fold_start));

        // Fold the tail.
        let mut tail_ids = BTreeSet::new();
        let mut reader = log.reader(fold_start)?;
        let mut failure = None;
        while let Some(frame) = reader.next_frame()? {
            for (lsn, bytes) in frame.records() {
                if catch_up_from == Some(lsn) {
                    resolver.set_change_tracking(true);
                }
                if let Err(e) = resolver.apply_encoded(lsn, frame.schema, bytes) {
                    failure = Some(encoded_error(lsn, e));
                    break;
                }
                let changes: Vec<Change> = resolver.drain_changes().collect();
                touched(&changes, &mut tail_ids);
                report.folded_records += 1;
            }
            if failure.is_some() {
                break;
            }
        }
        resolver.set_change_tracking(true);
        if let Some(e) = failure {
            return Err(e);
        }
        // The store looks profiles up by id: index them before any write (the first lookup
        // would otherwise build the index under the fold's read lock, and the writer would wait).
        resolver.index_profile_ids();

        // The store: caught up from the tail's changes, or rebuilt.
        if let Some(a) = applied {
            if a > log_end && !lenient {
                return Err(EngineError::LostRecords {
                    what: "the store".into(),
                    seen: a,
                    log_end,
                    log_recovery: report.events.clone(),
                });
            }
        }
        let store = Mutex::new(Some(store));
        let lookup = |id| resolver.profile_by_id(id);
        match applied {
            Some(a) if a >= fold_start && a <= log_end => {
                let ids: Vec<Uuid> = tail_ids.into_iter().collect();
                report.store_profiles_written = write_store_chunked(&store, &ids, a, log_end, lookup, true)?;
            }
            _ => {
                if applied.is_some() {
                    report.events.push("store is older than the restored state; rebuilding it".into());
                }
                report.store_rebuilt = true;
                // Clearing the store forgets what it had seen: the marker keeps it until the
                // rebuilt store is flushed (a crash in between redoes the rebuild, still guarded).
                if config.store.is_some() {
                    write_atomically(&dir, STORE_REBUILD_MARKER, format!("{acknowledged}\n").as_bytes())?;
                }
                if let Some(s) = store.lock().unwrap_or_else(|e| e.into_inner()).as_mut() {
                    s.clear()?;
                }
                report.store_profiles_written =
                    write_store_chunked(&store, &resolver.profile_ids(), 0, log_end, lookup, true)?;
                for (_, path) in &old_snapshots {
                    fs::remove_file(path).map_err(io("remove snapshot", path))?;
                }
                if !old_snapshots.is_empty() {
                    sync_dir(&snap_dir)?;
                }
                if marker_path.exists() {
                    fs::remove_file(&marker_path).map_err(io("remove", &marker_path))?;
                    sync_dir(&dir)?;
                }
            }
        }
        // Recorded for the on-disk store only: an in-memory store leaves an on-disk one as it was.
        if config.store.is_some() && recorded.as_deref().map(str::trim) != Some(config_hash.as_str()) {
            write_atomically(&dir, FOLD_CONFIG_FILE, format!("{config_hash}\n").as_bytes())?;
        }

        let shared = Arc::new(Shared {
            dir: dir.clone(),
            payload_max: u64::from(log.options().effective_payload_max()),
            restored_snapshot: report.snapshot_lsn,
            config: config.clone(),
            log: log.read_handle(),
            resolver: RwLock::new(resolver),
            progress: Mutex::new(Progress {
                folded: log_end,
                stored: log_end,
                store_profiles_written: 0,
                store_flushes: 0,
                store_busy: Duration::ZERO,
                poisoned: None,
                store_failed: None,
            }),
            changed: Condvar::new(),
            acks: Arc::new(Acks::default()),
            subscribers: Mutex::new(Vec::new()),
            store,
        });
        let (tx, rx) = bounded::<Request>(config.queue_capacity.max(1));
        let (store_tx, store_rx) = unbounded::<(Lsn, Vec<Change>)>();
        let writer = {
            let shared = Arc::clone(&shared);
            std::thread::Builder::new()
                .name("idres-writer".into())
                .spawn(move || writer_loop(&shared, log, &rx, store_tx))
                .map_err(io("spawn writer thread", &dir))?
        };
        let storer = {
            let shared = Arc::clone(&shared);
            std::thread::Builder::new()
                .name("idres-store".into())
                .spawn(move || store_loop(&shared, &store_rx))
                .map_err(io("spawn store thread", &dir))?
        };
        Ok(Engine {
            handle: Arc::new(Handle {
                tx: RwLock::new(Some(tx)),
                shared,
                threads: Mutex::new(vec![writer, storer]),
                report,
            }),
        })
    }

    /// What open found and did.
    pub fn open_report(&self) -> &OpenReport {
        &self.handle.report
    }

    /// Checks a record as a write would, without queueing it: its shape and limits, and that it
    /// fits in a record and a frame. For callers that validate a whole input before writing any
    /// of it.
    pub fn validate(&self, record: &Record) -> Result<(), EngineError> {
        thread_local! {
            static SCRATCH: std::cell::RefCell<Vec<u8>> = const { std::cell::RefCell::new(Vec::new()) };
        }
        SCRATCH.with(|scratch| {
            let mut buf = scratch.borrow_mut();
            buf.clear();
            self.check(record, &mut buf).map_err(EngineError::Invalid)
        })
    }

    /// Runs `read` on the fold's current state under its read lock (writes wait meanwhile): for
    /// reads the other methods do not cover, or several reads that must see one state.
    pub fn read<R>(&self, read: impl FnOnce(&Resolver) -> R) -> R {
        read(&self.handle.shared.resolver())
    }

    /// Queues a record that passed the edge's checks.
    fn submit(&self, record: Record) -> Result<Ticket, EngineError> {
        let mut bytes = Vec::new();
        self.check(&record, &mut bytes).map_err(EngineError::Invalid)?;
        self.enqueue(Records::One(bytes))
    }

    /// The edge's checks: the record's shape and limits, and that its encoding fits in a record
    /// and in a frame, so the writer never meets a record it cannot append. Appends the encoded
    /// entry (`appended_at` 0, for the writer to set) to `out`; on error `out` is as it was.
    fn check(&self, record: &Record, out: &mut Vec<u8>) -> Result<(), String> {
        record.validate_shape().map_err(|e| e.to_string())?;
        let payload_max = self.handle.shared.payload_max;
        let start = out.len();
        encode_record_entry_into(Timestamp::from_micros(0), record, out)
            .map_err(|e| format!("record cannot be encoded: {e}"))?;
        // The frame's payload: a 4-byte count, a 4-byte length per record, the records.
        let len = out.len() - start;
        if len as u64 + 8 > payload_max {
            out.truncate(start);
            return Err(format!("record of {len} bytes does not fit in a frame of {payload_max} bytes"));
        }
        Ok(())
    }

    fn enqueue(&self, records: Records) -> Result<Ticket, EngineError> {
        if let Some(cause) = &self.handle.shared.progress().poisoned {
            return Err(EngineError::Poisoned(cause.clone()));
        }
        let acks = &self.handle.shared.acks;
        let outcome = Arc::new(Outcome::default());
        let reply = Reply { outcome: outcome.clone(), acks: acks.clone(), sent: false };
        let tx = self.handle.tx.read().unwrap_or_else(|e| e.into_inner());
        tx.as_ref().ok_or(EngineError::Closed)?.send(Request { records, reply }).map_err(|_| EngineError::Closed)?;
        Ok(Ticket { outcome, acks: acks.clone() })
    }

    /// Writes several records with one ticket: the way to ingest in bulk (a file, a queue's
    /// batch), at a fraction of the per-write cost. Every record is checked first; if one is
    /// malformed nothing is queued and the error names its index. The records get consecutive
    /// LSNs in the given order and are folded together; they are appended in as few frames as
    /// the frame size allows, so a crash can keep a prefix of a large batch (each frame is
    /// atomic). An empty batch completes at once with an empty range.
    pub fn write_batch(&self, records: Vec<Record>) -> Result<Ticket, EngineError> {
        let mut data = Vec::new();
        let mut lens = Vec::with_capacity(records.len());
        for (i, record) in records.iter().enumerate() {
            let start = data.len();
            self.check(record, &mut data).map_err(|e| EngineError::Invalid(format!("record {i} of the batch: {e}")))?;
            // `check` holds a record to the frame's payload limit (≤ 4 GiB by construction).
            lens.push(u32::try_from(data.len() - start).unwrap_or(u32::MAX));
        }
        drop(records);
        self.enqueue(Records::Many { data, lens })
    }

    fn uid(s: &str) -> Result<Uid, EngineError> {
        Uid::parse(s).map_err(|e| EngineError::Invalid(e.to_string()))
    }

    fn cid(s: &str) -> Result<Cid, EngineError> {
        Cid::parse(s).map_err(|e| EngineError::Invalid(e.to_string()))
    }

    /// `setCustomerProperties`: links the device (if any) to the customer, creating it if new,
    /// and writes `attrs` on the customer.
    pub fn identify(&self, uid: Option<&str>, cid: &str, attrs: Map) -> Result<Ticket, EngineError> {
        let uid = uid.map(Self::uid).transpose()?;
        self.submit(Record::Identify { uid, cid: Self::cid(cid)?, attrs, ts: None })
    }

    /// `resetCustomer`: the device's future records start a new epoch.
    pub fn reset(&self, uid: &str) -> Result<Ticket, EngineError> {
        self.submit(Record::Reset { uid: Self::uid(uid)?, ts: None })
    }

    /// An event on a device.
    pub fn track_uid(&self, uid: &str, name: &str, props: Map) -> Result<Ticket, EngineError> {
        self.track(Target::Uid(Self::uid(uid)?), name, props, None, None)
    }

    /// An event on a device or a customer, with an optional session and time.
    pub fn track(
        &self,
        target: Target,
        name: &str,
        props: Map,
        session_id: Option<String>,
        ts: Option<Timestamp>,
    ) -> Result<Ticket, EngineError> {
        let target = self.checked_target(target)?;
        self.submit(Record::Event { target, name: name.to_string(), props, session_id, ts })
    }

    fn checked_target(&self, target: Target) -> Result<Target, EngineError> {
        match target {
            Target::Uid(u) => u.canonical().map(Target::Uid).map_err(|e| EngineError::Invalid(e.to_string())),
            Target::Cid(c) => c.validate().map(|()| Target::Cid(c)).map_err(|e| EngineError::Invalid(e.to_string())),
        }
    }

    /// Attribute writes on a device or a customer.
    pub fn attributes(
        &self,
        target: Target,
        set: Map,
        set_once: Map,
        unset: Vec<String>,
        ts: Option<Timestamp>,
    ) -> Result<Ticket, EngineError> {
        let target = self.checked_target(target)?;
        self.submit(Record::Attributes { target, set, set_once, unset, ts })
    }

    /// An operator merges customer `from` into `into`.
    pub fn merge(&self, from: &str, into: &str) -> Result<Ticket, EngineError> {
        self.submit(Record::Merge { from: Self::cid(from)?, into: Self::cid(into)? })
    }

    /// An operator undoes every merge of `cid`.
    pub fn unmerge(&self, cid: &str) -> Result<Ticket, EngineError> {
        self.submit(Record::Unmerge { cid: Self::cid(cid)? })
    }

    /// An operator detaches every epoch of `uid` from `cid`.
    pub fn unlink(&self, uid: &str, cid: &str) -> Result<Ticket, EngineError> {
        self.submit(Record::Unlink { uid: Self::uid(uid)?, cid: Self::cid(cid)? })
    }

    /// The profile that holds customer `cid` (from the fold: read-your-writes after a ticket).
    pub fn profile_by_cid(&self, cid: &str) -> Result<Option<Profile>, EngineError> {
        Ok(self.handle.shared.resolver().profile_by_cid(&Self::cid(cid)?))
    }

    /// The profile of `uid`'s current epoch.
    pub fn profile_by_uid(&self, uid: &str) -> Result<Option<Profile>, EngineError> {
        Ok(self.handle.shared.resolver().profile_by_uid(&Self::uid(uid)?))
    }

    /// The profile with this id (retired ids lead to the survivor).
    pub fn profile_by_id(&self, id: Uuid) -> Option<Profile> {
        self.handle.shared.resolver().profile_by_id(id)
    }

    /// The profile of customer `cid` as the persisted store has it (may trail the fold; see
    /// [`Engine::wait_stored`]).
    pub fn stored_profile_by_cid(&self, cid: &str) -> Result<Option<Profile>, EngineError> {
        let cid = Self::cid(cid)?;
        let store = self.handle.shared.store.lock().unwrap_or_else(|e| e.into_inner());
        Ok(store.as_ref().ok_or(EngineError::Closed)?.profile_by_cid(&cid)?)
    }

    /// The persisted read model's profile of a device node (a uid at an epoch), read from the
    /// store itself (trails the fold; see [`Engine::wait_stored`]).
    pub fn stored_profile_by_uid(&self, uid: &str, epoch: u32) -> Result<Option<Profile>, EngineError> {
        let uid = Self::uid(uid)?;
        let store = self.handle.shared.store.lock().unwrap_or_else(|e| e.into_inner());
        Ok(store.as_ref().ok_or(EngineError::Closed)?.profile_by_uid(&uid, epoch)?)
    }

    /// Why a uid is in its profile.
    pub fn explain_uid(&self, uid: &str) -> Result<Option<Explanation>, EngineError> {
        Ok(self.handle.shared.resolver().explain_uid(&Self::uid(uid)?))
    }

    /// Why a cid is in its profile.
    pub fn explain_cid(&self, cid: &str) -> Result<Option<Explanation>, EngineError> {
        Ok(self.handle.shared.resolver().explain_cid(&Self::cid(cid)?))
    }

    /// The state digest of the fold.
    pub fn digest(&self) -> [u8; 32] {
        self.handle.shared.resolver().digest()
    }

    /// Counters.
    pub fn stats(&self) -> Stats {
        let (folded, stored, written, flushes, busy) = {
            let p = self.handle.shared.progress();
            (p.folded, p.stored, p.store_profiles_written, p.store_flushes, p.store_busy)
        };
        let r = self.handle.shared.resolver();
        Stats {
            folded_lsn: folded,
            stored_lsn: stored,
            store_lag: folded.saturating_sub(stored),
            profiles: r.profile_count(),
            rejections: r.rejections().len(),
            store_profiles_written: written,
            store_flushes: flushes,
            store_busy: busy,
        }
    }

    /// The events of a profile (by the LSNs in its history), read back from the log in LSN order.
    pub fn history(&self, profile: &Profile) -> Result<Vec<(Lsn, Entry)>, EngineError> {
        let lsns = match self.handle.shared.resolver().profile_by_id(profile.id) {
            Some(p) => p.history,
            None => return Ok(Vec::new()),
        };
        let mut out = Vec::with_capacity(lsns.len());
        for lsn in lsns {
            let mut reader = self.handle.shared.log.reader_range(lsn, lsn + 1)?;
            while let Some(frame) = reader.next_frame()? {
                for (l, bytes) in frame.records() {
                    let entry = decode_entry_with_schema(frame.schema, bytes)
                        .map_err(|source| EngineError::Undecodable { lsn: l, source })?;
                    out.push((l, entry));
                }
            }
        }
        Ok(out)
    }

    /// The fold as it stood after the record at `lsn`: the newest snapshot at or before it, plus
    /// the log up to it.
    pub fn as_of(&self, lsn: Lsn) -> Result<Resolver, EngineError> {
        let shared = &self.handle.shared;
        let end = lsn.checked_add(1).ok_or(EngineError::Invalid(format!("LSN {lsn} is out of range")))?;
        let folded = shared.progress().folded;
        if end > folded {
            return Err(EngineError::Invalid(format!("LSN {lsn} has not been folded yet (the log ends at {folded})")));
        }
        let snap_dir = shared.dir.join("snapshots");
        let mut r = Resolver::new(shared.config.fold.clone());
        for (snap_lsn, path) in list_snapshots(&snap_dir)? {
            if snap_lsn > end {
                continue;
            }
            if let Ok(bytes) = fs::read(&path) {
                if let Ok(restored) = Resolver::restore(&bytes, shared.config.fold.clone()) {
                    r = restored;
                    break;
                }
            }
        }
        if r.next_lsn() < end {
            let mut reader = shared.log.reader_range(r.next_lsn(), end)?;
            while let Some(frame) = reader.next_frame()? {
                for (l, bytes) in frame.records() {
                    r.apply_encoded(l, frame.schema, bytes).map_err(|e| encoded_error(l, e))?;
                }
            }
        }
        r.drain_changes().for_each(drop);
        Ok(r)
    }

    /// A channel of every change from now on (created, changed, retired into, split, …). A
    /// record's changes are sent before its ticket completes.
    pub fn subscribe(&self) -> Receiver<Change> {
        let (tx, rx) = unbounded();
        self.handle.shared.subscribers.lock().unwrap_or_else(|e| e.into_inner()).push(tx);
        rx
    }

    /// Waits until the persisted store reflects every record up to `lsn`.
    pub fn wait_stored(&self, lsn: Lsn) -> Result<(), EngineError> {
        let shared = &self.handle.shared;
        let mut p = shared.progress();
        loop {
            if p.stored > lsn {
                return Ok(());
            }
            if let Some(e) = &p.store_failed {
                return Err(EngineError::Poisoned(format!("store: {e}")));
            }
            p = shared.changed.wait(p).unwrap_or_else(|e| e.into_inner());
        }
    }

    /// Drains the queue, writes everything, takes a final snapshot and stops the threads. Every
    /// acknowledged write is in the log; the store is left at the log's end. Later writes on any
    /// clone return [`EngineError::Closed`].
    pub fn close(&self) -> Result<(), EngineError> {
        self.handle.close()
    }
}

impl Handle {
    fn close(&self) -> Result<(), EngineError> {
        drop(self.tx.write().unwrap_or_else(|e| e.into_inner()).take());
        let threads: Vec<JoinHandle<()>> = std::mem::take(&mut *self.threads.lock().unwrap_or_else(|e| e.into_inner()));
        for t in threads {
            let _ = t.join();
        }
        // Release the store's files (sled flushes on drop): the directory can be opened again.
        drop(self.shared.store.lock().unwrap_or_else(|e| e.into_inner()).take());
        let p = self.shared.progress();
        match (&p.poisoned, &p.store_failed) {
            (Some(cause), _) => Err(EngineError::Poisoned(cause.clone())),
            (_, Some(cause)) => Err(EngineError::Poisoned(format!("store: {cause}"))),
            _ => Ok(()),
        }
    }
}

impl Drop for Handle {
    fn drop(&mut self) {
        let _ = self.close();
    }
}

/// Fails every request with the engine's poisoning cause.
fn fail_all(acks: &Acks, reqs: impl IntoIterator<Item = Request>, cause: &str) {
    for r in reqs {
        r.reply.send(Err(cause.to_string()));
    }
    acks.notify();
}

/// The writer's state between frames: the frame being built, the entries it holds (to fold after
/// the append), and the requests whose records are in it or in earlier frames of this round.
struct Round {
    batch: BatchBuilder,
    /// Requests in LSN order with the number of their records not yet appended.
    waiting: std::collections::VecDeque<(Request, Lsn, usize)>,
    payload_max: u64,
}

/// Adds one encoded entry (from the edge) to the frame being built, stamped `appended_at`,
/// appending and folding the frame first if the entry would not fit. An error is fatal (a
/// failed append, or a record the edge should have refused).
fn push_entry(
    shared: &Shared,
    log: &mut Log,
    round: &mut Round,
    entry: &[u8],
    appended_at: Timestamp,
    next_lsn: &mut Lsn,
    changes: &mut Vec<Change>,
) -> Result<(), String> {
    let full = round.batch.len() >= shared.config.batch_records_max.max(1);
    if full {
        flush_frame(shared, log, round, next_lsn, changes)?;
    }
    for attempt in 0..2 {
        round
            .batch
            .push_with(|buf| {
                let start = buf.len();
                buf.extend_from_slice(entry);
                if set_encoded_appended_at(&mut buf[start..], appended_at) {
                    Ok(())
                } else {
                    Err(LogError::InvalidOptions("an encoded entry shorter than its appended_at".into()))
                }
            })
            .map_err(|e| format!("record cannot be added (the edge let it through): {e}"))?;
        if round.batch.payload_bytes() <= round.payload_max {
            return Ok(());
        }
        round.batch.truncate(round.batch.len() - 1);
        if attempt == 0 && !round.batch.is_empty() {
            flush_frame(shared, log, round, next_lsn, changes)?;
        } else {
            break;
        }
    }
    Err(format!("a record does not fit in a frame of {} bytes (the edge let it through)", round.payload_max))
}

/// Appends the frame being built (one atomic write, synced per the durability setting) and folds
/// its records, as the log now holds them.
fn flush_frame(
    shared: &Shared,
    log: &mut Log,
    round: &mut Round,
    next_lsn: &mut Lsn,
    changes: &mut Vec<Change>,
) -> Result<(), String> {
    if round.batch.is_empty() {
        return Ok(());
    }
    let appended = log.append(&round.batch).map_err(|e| e.to_string())?;
    if appended.first_lsn != *next_lsn {
        return Err(format!("the log appended at LSN {} where the writer expected {}", appended.first_lsn, next_lsn));
    }
    let mut r = shared.resolver.write().unwrap_or_else(|e| e.into_inner());
    let schema = round.batch.schema();
    for (i, bytes) in round.batch.records().enumerate() {
        // The LSNs come from the log in order; a mismatch (or bytes the edge's encoder did not
        // write) would be a bug, reported as a poisoning rather than a panic.
        r.apply_encoded(appended.first_lsn + i as u64, schema, bytes).map_err(|e| e.to_string())?;
        changes.extend(r.drain_changes());
    }
    drop(r);
    round.batch.clear();
    *next_lsn = appended.end_lsn;
    Ok(())
}

fn writer_loop(shared: &Shared, mut log: Log, rx: &Receiver<Request>, store_tx: Sender<(Lsn, Vec<Change>)>) {
    let config = &shared.config;
    let tick = match config.durability {
        Durability::Interval(d) => d.max(Duration::from_millis(1)),
        _ => Duration::from_millis(200),
    };
    let mut round = Round {
        batch: BatchBuilder::new(SCHEMA_VERSION),
        waiting: std::collections::VecDeque::new(),
        payload_max: u64::from(log.options().effective_payload_max()),
    };
    let mut since_snapshot: u64 = 0;
    let records_max = config.batch_records_max.max(1);
    loop {
        let first = match rx.recv_timeout(tick) {
            Ok(r) => r,
            Err(RecvTimeoutError::Timeout) => {
                if let Err(e) = log.sync_if_due() {
                    shared.progress().poisoned.get_or_insert(e.to_string());
                }
                continue;
            }
            Err(RecvTimeoutError::Disconnected) => break,
        };
        let mut count = first.records.len();
        let mut reqs = vec![first];
        while count < records_max {
            match rx.try_recv() {
                Ok(r) => {
                    count += r.records.len();
                    reqs.push(r);
                }
                Err(_) => break,
            }
        }
        if let Some(cause) = shared.progress().poisoned.clone() {
            fail_all(&shared.acks, reqs, &cause);
            continue;
        }
        // Back-pressure: the store may trail by a bounded number of records.
        {
            let mut p = shared.progress();
            while p.store_failed.is_none() && p.folded.saturating_sub(p.stored) > config.store_lag_max_records {
                p = shared.changed.wait(p).unwrap_or_else(|e| e.into_inner());
            }
        }
        let appended_at = Timestamp::from_micros(now_micros());
        let mut changes = Vec::new();
        let mut next_lsn = shared.progress().folded;
        let mut reqs = reqs.into_iter();
        let mut failed = None;
        for mut req in reqs.by_ref() {
            let records = std::mem::replace(&mut req.records, Records::One(Vec::new()));
            let first_lsn = next_lsn + round.batch.len() as u64;
            round.waiting.push_back((req, first_lsn, records.len()));
            let pushed = records.for_each(|entry| {
                push_entry(shared, &mut log, &mut round, entry, appended_at, &mut next_lsn, &mut changes)
            });
            if let Err(cause) = pushed {
                failed = Some(cause);
                break;
            }
        }
        if failed.is_none() {
            if let Err(cause) = flush_frame(shared, &mut log, &mut round, &mut next_lsn, &mut changes) {
                failed = Some(cause);
            }
        }
        if let Some(cause) = failed {
            // Nothing in this round is acknowledged: the engine is poisoned, and a frame that
            // may or may not have reached the disk is reported as failed, never as durable.
            shared.progress().poisoned.get_or_insert(cause.clone());
            shared.changed.notify_all();
            round.batch.clear();
            fail_all(&shared.acks, round.waiting.drain(..).map(|(r, _, _)| r), &cause);
            fail_all(&shared.acks, reqs, &cause);
            continue;
        }
        since_snapshot += next_lsn.saturating_sub(shared.progress().folded);
        {
            let mut p = shared.progress();
            p.folded = next_lsn;
        }
        shared.changed.notify_all();
        if config.snapshot_every_records > 0 && since_snapshot >= config.snapshot_every_records {
            since_snapshot = 0;
            // A snapshot is a cache: failing to write one loses nothing.
            let _ = write_snapshot(&shared.dir.join("snapshots"), &shared.resolver(), config.snapshots_keep);
        }
        // Subscribers hear of a record's changes before its ticket completes: a caller that
        // waited on a ticket finds them already in its subscription.
        {
            let mut subs = shared.subscribers.lock().unwrap_or_else(|e| e.into_inner());
            subs.retain(|s| changes.iter().all(|c| s.send(*c).is_ok()));
        }
        for (req, first_lsn, n) in round.waiting.drain(..) {
            req.reply.send(Ok(first_lsn..first_lsn + n as u64));
        }
        shared.acks.notify();
        let _ = store_tx.send((next_lsn, changes));
    }
    // Closing: everything queued was written; sync, snapshot, and let the store thread finish.
    let poisoned = shared.progress().poisoned.is_some();
    if !poisoned {
        if let Err(e) = log.sync() {
            shared.progress().poisoned.get_or_insert(e.to_string());
        } else {
            let r = shared.resolver();
            // A snapshot of this very state under this config is already on disk when open
            // restored one and nothing was written since: a read-only session writes nothing.
            if shared.restored_snapshot != Some(r.next_lsn()) {
                let _ = write_snapshot(&shared.dir.join("snapshots"), &r, config.snapshots_keep);
            }
        }
    }
    drop(store_tx);
}

fn store_loop(shared: &Shared, rx: &Receiver<(Lsn, Vec<Change>)>) {
    let mut ids = BTreeSet::new();
    let interval = shared.config.store_flush_interval;
    let half_lag = shared.config.store_lag_max_records / 2;
    let mut last_flush = std::time::Instant::now();
    while let Ok((mut upto, changes)) = rx.recv() {
        ids.clear();
        touched(&changes, &mut ids);
        // Coalesce: gather until the interval has passed since the last flush (or the lag grows,
        // or the engine closes), so each changed profile is written once per flush.
        let deadline = last_flush + interval;
        loop {
            let lagging = {
                let p = shared.progress();
                p.folded.saturating_sub(p.stored) > half_lag
            };
            let now = std::time::Instant::now();
            if lagging || now >= deadline {
                break;
            }
            match rx.recv_timeout(deadline - now) {
                Ok((next, more)) => {
                    upto = next;
                    touched(&more, &mut ids);
                }
                Err(_) => break,
            }
        }
        while let Ok((next, more)) = rx.try_recv() {
            upto = next;
            touched(&more, &mut ids);
        }
        // The read lock is taken per profile, not for the whole batch: the writer needs the
        // write lock for every batch it folds, and must not wait behind a long materialisation.
        let started = std::time::Instant::now();
        let before = shared.progress().stored;
        let ids: Vec<Uuid> = ids.iter().copied().collect();
        let result =
            write_store_chunked(&shared.store, &ids, before, upto, |id| shared.resolver().profile_by_id(id), true)
                .map_err(|e| e.to_string());
        last_flush = std::time::Instant::now();
        let mut p = shared.progress();
        p.store_busy += last_flush.duration_since(started);
        match result {
            Ok(written) => {
                p.stored = p.stored.max(upto);
                p.store_profiles_written += written;
                p.store_flushes += 1;
            }
            Err(e) => {
                // The store is a cache of the log: a failure costs a rebuild on the next open.
                p.store_failed.get_or_insert(e.to_string());
            }
        }
        drop(p);
        shared.changed.notify_all();
    }
}

/// An error of [`Resolver::apply_encoded`] at `lsn` as the engine reports it.
fn encoded_error(lsn: Lsn, e: ApplyEncodedError) -> EngineError {
    match e {
        ApplyEncodedError::Decode(source) => EngineError::Undecodable { lsn, source },
        ApplyEncodedError::Apply(e) => EngineError::Invalid(e.to_string()),
    }
}
