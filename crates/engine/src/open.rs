//! Opening an engine: recovery as named steps, then the threads started.
//!
//! [`Engine::open`] runs, in order:
//! 1. [`open_store`]: the read model of the configured backend, and the LSN it has applied (what
//!    it has seen was acknowledged); a store of another backend, or one that cannot be read, is
//!    rebuilt, a locked one is an error (`store_open.rs`);
//! 2. [`store_config_matches`]: a store written under another fold config is rebuilt;
//! 3. [`read_rebuild_marker`]: an interrupted store rebuild is redone, and its marker keeps how
//!    many records had been acknowledged;
//! 4. [`open_log`]: the log, told how many records were acknowledged, so that its recovery cuts
//!    only an unacknowledged torn tail and refuses to lose anything else;
//! 5. [`restore_snapshot`]: the newest snapshot of this log under this config;
//! 6. [`fold_tail`]: the log after the snapshot folded, collecting the profiles the store has
//!    not seen;
//! 7. [`bring_store_up_to_date`]: the store caught up from those, or rebuilt;
//! 8. the fold config recorded beside the store, and the writer and store threads started.

use std::fs;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Condvar, Mutex, RwLock};
use std::time::Duration;

use crossbeam_channel::{bounded, unbounded};
use idres_io::Site;
use idres_log::{Durability, Log, LogError, LogOptions, Lsn, ReadHandle};
use idres_model::{IdExcerpt, CODEC_ID};
use idres_resolve::{Change, Resolver};
use idres_store::ProfileStore;

use crate::data_dir::{remove_file_durably, sync_dir, write_atomically, DataDir};
use crate::engine::{Handle, Progress, Shared};
use crate::error::{encoded_error, io};
use crate::store_open::open_store;
use crate::store_thread::store_loop;
use crate::store_writes::{write_everything, write_touched, Touched};
use crate::ticket::Acks;
use crate::writer::{writer_loop, Request};
use crate::{snapshots, Engine, EngineConfig, EngineError, OpenReport};

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Step 2: whether the store was written under this fold config (hash `config_hash`), as
/// recorded beside it. Returns the recorded hash.
fn store_config_matches(dir: &DataDir, config_hash: &str) -> Option<String> {
    fs::read_to_string(dir.fold_config_file()).ok().map(|s| s.trim().to_string()).filter(|s| s == config_hash)
}

/// Step 3: the marker of an interrupted store rebuild: how many records had been acknowledged
/// then. A marker that holds no LSN is damage, except to a rebuild, which replaces it (and says
/// so).
fn read_rebuild_marker(dir: &DataDir, rebuild: bool, report: &mut OpenReport) -> Result<Option<Lsn>, EngineError> {
    let path = dir.store_rebuild_marker();
    let text = match fs::read(&path) {
        Ok(bytes) => bytes,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(io("read", &path)(e)),
    };
    match std::str::from_utf8(&text).ok().and_then(|t| t.trim().parse::<Lsn>().ok()) {
        Some(lsn) => Ok(Some(lsn)),
        None if rebuild => {
            report.events.push(format!(
                "{} holds no LSN ({}); the rebuild replaces it",
                path.display(),
                IdExcerpt::new(&text)
            ));
            Ok(None)
        }
        None => Err(EngineError::Damaged {
            path,
            detail: format!(
                "the store-rebuild marker holds no LSN ({}); `idres rebuild` or `idres repair` replaces it",
                IdExcerpt::new(&text)
            ),
        }),
    }
}

/// The newest snapshot file that names this data directory's log (read from the first segment's
/// header) or no log (the first format): what it has seen was acknowledged. A snapshot of another
/// log is [`EngineError::Damaged`], naming it and the log; to a rebuild, only reported (the
/// rebuild removes it).
fn newest_snapshot_of_this_log(
    dir: &DataDir,
    rebuild: bool,
    report: &mut OpenReport,
) -> Result<Option<(Lsn, PathBuf)>, EngineError> {
    let log_id = idres_log::log_id_of(dir.log_dir())?;
    for (lsn, path) in dir.snapshots()? {
        let named = crate::snapshot_file::read_log_id(&path).map_err(io("read snapshot", &path))?;
        match (named, &log_id) {
            (Some(theirs), Some((ours, first_segment))) if theirs != *ours => {
                let detail = format!(
                    "a snapshot of log {}, but this data directory's log is log {} ({}): a file copied in from another data directory",
                    crate::snapshot_file::log_id_hex(&theirs),
                    crate::snapshot_file::log_id_hex(ours),
                    first_segment.display(),
                );
                if !rebuild {
                    return Err(EngineError::Damaged { path, detail });
                }
                report.events.push(format!("snapshot {}: {detail}; the rebuild removes it", path.display()));
            }
            _ => return Ok(Some((lsn, path))),
        }
    }
    Ok(None)
}

/// Step 4: the log, opened so that its recovery keeps at least `acknowledged` records (unless
/// durability is `Never`). `seen_by` names what has seen them, for the error if it cannot.
fn open_log(dir: &DataDir, config: &EngineConfig, acknowledged: Lsn, seen_by: String) -> Result<Log, EngineError> {
    let lenient = config.durability == Durability::Never;
    let opts = LogOptions {
        segment_bytes: config.segment_bytes,
        durability: config.durability,
        tail_recovery: config.tail_recovery,
        codec_id: CODEC_ID,
        keep_at_least: if lenient { 0 } else { acknowledged },
        ..LogOptions::default()
    };
    match Log::open(dir.log_dir(), opts) {
        Ok(log) => Ok(log),
        Err(LogError::LostRecords { at, offset, end_lsn, required }) => Err(EngineError::LostRecords {
            what: seen_by,
            seen: required,
            log_end: end_lsn,
            log_recovery: vec![format!(
                "the log's valid frames end in {} at byte offset {offset}; nothing was changed",
                at.display()
            )],
        }),
        Err(e) => Err(e.into()),
    }
}

/// Step 5: of `snapshots` (newest first), the newest that restores under this config, of this
/// log, at or before the log's end; `None` if there is none. A snapshot past the log's end lost records (an error,
/// unless durability is `Never`); one of another log is damage.
pub(crate) fn restore_snapshot(
    snapshots: Vec<(Lsn, PathBuf)>,
    config: &EngineConfig,
    log_id: [u8; 16],
    log_file: &Path,
    log_end: Lsn,
    report: &mut OpenReport,
) -> Result<Option<Resolver>, EngineError> {
    let lenient = config.durability == Durability::Never;
    let mut passed_over = false;
    for (lsn, path) in snapshots {
        if lsn > log_end {
            if lenient {
                report.events.push(format!(
                    "snapshot {} holds {}, past the log's {}; ignored",
                    path.display(),
                    idres_log::lsn_range(0, lsn),
                    idres_log::lsn_range(0, log_end)
                ));
                continue;
            }
            return Err(EngineError::LostRecords {
                what: format!("snapshot {}", path.display()),
                seen: lsn,
                log_end,
                log_recovery: report.events.clone(),
            });
        }
        match snapshots::restore(&path, log_id, log_file, &config.fold)? {
            Ok(r) => {
                report.snapshot_lsn = Some(r.next_lsn());
                return Ok(Some(r));
            }
            Err(why) => {
                report.events.push(format!("snapshot {} ignored: {why}", path.display()));
                passed_over = true;
            }
        }
    }
    if passed_over {
        report.events.push("no usable snapshot: replaying the whole log".into());
    }
    Ok(None)
}

/// Step 6: folds the log from the resolver's next LSN to the end. With `catch_up_from`, the
/// profiles changed from that LSN on are collected (for the store); before it, the fold runs
/// without its change stream.
pub(crate) fn fold_tail(
    log: &ReadHandle,
    resolver: &mut Resolver,
    catch_up_from: Option<Lsn>,
    report: &mut OpenReport,
) -> Result<Touched, EngineError> {
    let mut tail_ids = Touched::default();
    resolver.set_change_tracking(catch_up_from == Some(resolver.next_lsn()));
    let mut reader = log.reader(resolver.next_lsn())?;
    let mut result = Ok(());
    'frames: while let Some(frame) = reader.next_frame()? {
        for (lsn, bytes) in frame.records() {
            if catch_up_from == Some(lsn) {
                resolver.set_change_tracking(true);
            }
            if let Err(e) = resolver.apply_encoded(lsn, frame.schema, bytes) {
                result = Err(encoded_error(lsn, e));
                break 'frames;
            }
            let changes: Vec<Change> = resolver.drain_changes().collect();
            tail_ids.note(&changes);
            report.folded_records += 1;
        }
    }
    resolver.set_change_tracking(true);
    result.map(|()| tail_ids)
}

/// Step 7: the store brought to the fold's state at `log_end`: caught up from `tail_ids` if it
/// had applied `applied` at or after the fold's start, else cleared and rebuilt (the marker
/// keeps `acknowledged` while it is; `old_snapshots` go once the rebuilt store is in). A store
/// that is `new` over an empty log is only created: written the same way, not reported rebuilt.
#[allow(clippy::too_many_arguments)]
fn bring_store_up_to_date(
    dir: &DataDir,
    config: &EngineConfig,
    store: &Mutex<Option<Box<dyn ProfileStore>>>,
    resolver: &Resolver,
    applied: Option<Lsn>,
    fold_start: Lsn,
    log_end: Lsn,
    tail_ids: Touched,
    acknowledged: Lsn,
    old_snapshots: &[(Lsn, PathBuf)],
    new: bool,
    report: &mut OpenReport,
) -> Result<(), EngineError> {
    if let Some(a) = applied.filter(|&a| a >= fold_start && a <= log_end) {
        let written = write_touched(store, &tail_ids, a, log_end, || resolver)?;
        (report.store_profiles_written, report.store_keys_written) = (written.entries, written.keys);
        return Ok(());
    }
    if applied.is_some() {
        report.events.push("store is older than the restored state; rebuilding it".into());
    }
    report.store_rebuilt = !(new && log_end == 0);
    // Clearing the store forgets what it had seen: the marker keeps it until the rebuilt store
    // is flushed (a crash in between redoes the rebuild, still guarded).
    let marker = dir.store_rebuild_marker();
    if config.store.is_on_disk() {
        write_atomically(&marker, format!("{acknowledged}\n").as_bytes())?;
    }
    if let Some(s) = store.lock().unwrap_or_else(|e| e.into_inner()).as_mut() {
        s.clear()?;
    }
    let written = write_everything(store, resolver, log_end)?;
    (report.store_profiles_written, report.store_keys_written) = (written.entries, written.keys);
    for (_, path) in old_snapshots {
        idres_io::remove_file(Site::Snapshot, path).map_err(io("remove snapshot", path))?;
    }
    if !old_snapshots.is_empty() {
        sync_dir(&dir.snapshots_dir())?;
    }
    remove_file_durably(Site::Marker, &marker)?;
    Ok(())
}

impl Engine {
    /// Opens the engine in `dir` (created if new) and recovers it: the log (a torn tail is cut
    /// off), the newest snapshot folded under the same config, the rest of the log folded, the
    /// store brought up to date or rebuilt. A data directory that lost acknowledged records is an
    /// error ([`EngineError::LostRecords`]) unless durability is `Never`; a file of another log
    /// or a damaged marker is [`EngineError::Damaged`].
    pub fn open(dir: impl AsRef<Path>, config: EngineConfig) -> Result<Engine, EngineError> {
        let dir = DataDir::new(dir.as_ref());
        if let Err(detail) = dir.check_is_directory() {
            return Err(EngineError::Invalid(detail));
        }
        let snap_dir = dir.snapshots_dir();
        fs::create_dir_all(&snap_dir).map_err(io("create directory", &snap_dir))?;
        let mut report = OpenReport::default();
        let lenient = config.durability == Durability::Never;

        // 1–3: what the store, the fold config and a rebuild marker say. The store comes first:
        // what it and the snapshots have seen was acknowledged, and the log must still hold it.
        let opened = open_store(&dir, &config, &mut report)?;
        let (store, mut applied, switched) = (opened.store, opened.applied, opened.switched);
        let store_seen = applied.unwrap_or(0);
        let config_hash = hex(&config.fold.hash());
        let recorded = store_config_matches(&dir, &config_hash);
        if applied.is_some() && recorded.is_none() {
            report.events.push(if dir.fold_config_file().exists() {
                "the fold's config changed since the store was written; rebuilding it".into()
            } else {
                "no fold config recorded beside the store; rebuilding it".into()
            });
            applied = None;
        }
        let interrupted = read_rebuild_marker(&dir, config.rebuild, &mut report)?;
        // A new store with nothing to fill it from is created, not rebuilt: a fresh directory
        // (or an in-memory store over an empty log) says `store_rebuilt: false`.
        let store_is_new = opened.new && interrupted.is_none() && !config.rebuild;
        if interrupted.is_some() {
            if !switched {
                report.events.push("an interrupted store rebuild is done again".into());
            }
            applied = None;
        }

        // 4: the log, held to everything acknowledged: by the store, the marker, and the newest
        // snapshot of this log (one of another log is damage, said before it could pass for lost
        // records; a rebuild removes it).
        let newest_snapshot = newest_snapshot_of_this_log(&dir, config.rebuild, &mut report)?;
        let snapshot_seen = newest_snapshot.as_ref().map_or(0, |(l, _)| *l);
        let acknowledged = snapshot_seen.max(store_seen).max(interrupted.unwrap_or(0));
        let seen_by = match &newest_snapshot {
            Some((l, path)) if *l >= store_seen => format!("snapshot {}", path.display()),
            _ => "the store".to_string(),
        };
        let log = open_log(&dir, &config, acknowledged, seen_by)?;
        report.events.extend(log.recovery().iter().map(|e| e.to_string()));
        // Under the log's lock: no other engine is writing these.
        for path in dir.remove_temp_files()? {
            report.events.push(format!("removed {}, left by an interrupted write", path.display()));
        }
        let log_end = log.next_lsn();
        let log_id = log.log_id();
        let log_file = log.segments().first().map_or_else(|| dir.log_dir(), |s| s.path.clone());

        // 5–6: the fold, from the newest usable snapshot (none on a rebuild) and the log's tail.
        let old_snapshots = if config.rebuild {
            // The old snapshots stay until the rebuilt store is in: until then they (and the
            // marker) are what proves how many records were acknowledged.
            report.events.push("rebuild: folding the whole log and rebuilding the store and snapshots".into());
            applied = None;
            dir.snapshots()?
        } else {
            Vec::new()
        };
        let restored = if config.rebuild {
            None
        } else {
            restore_snapshot(dir.snapshots()?, &config, log_id, &log_file, log_end, &mut report)?
        };
        let mut resolver = restored.unwrap_or_else(|| Resolver::new(config.fold.clone()));
        let fold_start = resolver.next_lsn();
        // The changes of the records the store has not seen (from its LSN on) catch it up; those
        // before it are in the store already, and a store that is rebuilt from the result needs
        // none.
        let catch_up_from = applied.filter(|&a| a >= fold_start && a <= log_end);
        let tail_ids = fold_tail(&log.read_handle(), &mut resolver, catch_up_from, &mut report)?;
        // The store looks profiles up by id: index them before any write (the first lookup
        // would otherwise build the index under the fold's read lock, and the writer would wait).
        resolver.index_profile_ids();

        // 7: the store caught up or rebuilt.
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
        bring_store_up_to_date(
            &dir,
            &config,
            &store,
            &resolver,
            applied,
            fold_start,
            log_end,
            tail_ids,
            acknowledged,
            &old_snapshots,
            store_is_new,
            &mut report,
        )?;
        // 8: recorded for the on-disk store only: an in-memory store leaves an on-disk one as it
        // was.
        if config.store.is_on_disk() && recorded.is_none() {
            write_atomically(&dir.fold_config_file(), format!("{config_hash}\n").as_bytes())?;
        }
        start(dir, config, log, log_id, log_file, resolver, store, report)
    }
}

impl Shared {
    /// The state an engine's threads share, as recovery left it (`log`'s end folded and stored).
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn new(
        dir: DataDir,
        config: EngineConfig,
        log: ReadHandle,
        log_id: [u8; 16],
        log_file: PathBuf,
        payload_max: u64,
        resolver: Resolver,
        store: Mutex<Option<Box<dyn ProfileStore>>>,
        report: &OpenReport,
    ) -> Shared {
        let log_end = log.end_lsn();
        Shared {
            dir,
            log_id,
            log_file,
            payload_max,
            config,
            log,
            resolver: RwLock::new(resolver),
            progress: Mutex::new(Progress {
                folded: log_end,
                stored: log_end,
                store_profiles_written: 0,
                store_keys_written: 0,
                store_flushes: 0,
                store_busy: Duration::ZERO,
                snapshots_written: 0,
                snapshot_failures: 0,
                last_snapshot_failure: None,
                snapshot_lsn: report.snapshot_lsn,
                poisoned: None,
                store_failed: None,
                store_stopped: false,
            }),
            changed: Condvar::new(),
            acks: Arc::new(Acks::default()),
            subscribers: Default::default(),
            store,
            snapshot_lock: Mutex::new(()),
            read_only: false,
        }
    }
}

/// Starts the writer and the store thread on the recovered state.
#[allow(clippy::too_many_arguments)]
fn start(
    dir: DataDir,
    config: EngineConfig,
    log: Log,
    log_id: [u8; 16],
    log_file: PathBuf,
    resolver: Resolver,
    store: Mutex<Option<Box<dyn ProfileStore>>>,
    report: OpenReport,
) -> Result<Engine, EngineError> {
    let root = dir.root().to_path_buf();
    let payload_max = u64::from(log.options().effective_payload_max());
    let shared = Arc::new(Shared::new(
        dir,
        config.clone(),
        log.read_handle(),
        log_id,
        log_file,
        payload_max,
        resolver,
        store,
        &report,
    ));
    let (tx, rx) = bounded::<Request>(config.queue_capacity.max(1));
    let (store_tx, store_rx) = unbounded::<(Lsn, Vec<Change>)>();
    let writer = {
        let shared = Arc::clone(&shared);
        std::thread::Builder::new()
            .name("idres-writer".into())
            .spawn(move || {
                let ran = catch_unwind(AssertUnwindSafe(|| writer_loop(&shared, log, &rx, store_tx)));
                if ran.is_err() {
                    // A bug: poison the engine, and fail what is queued until it closes (the
                    // tickets of the round it held ended as it unwound).
                    let cause = shared.poison(Arc::new(EngineError::Panicked { thread: "writer" }));
                    while let Ok(req) = rx.recv() {
                        req.reply.send(Err(cause.clone()));
                        shared.acks.notify();
                    }
                }
            })
            .map_err(io("spawn writer thread", &root))?
    };
    let storer = {
        let shared = Arc::clone(&shared);
        std::thread::Builder::new()
            .name("idres-store".into())
            .spawn(move || store_loop(&shared, &store_rx))
            .map_err(io("spawn store thread", &root))?
    };
    Ok(Engine {
        handle: Arc::new(Handle {
            tx: RwLock::new(Some(tx)),
            shared,
            threads: Mutex::new(vec![("writer", writer), ("store", storer)]),
            report,
        }),
    })
}
