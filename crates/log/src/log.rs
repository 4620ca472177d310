//! The writer side of the log: open and recover a directory, append frames, roll segments over,
//! sync per the durability setting, poison on failure; plus the offline `verify` and `repair`.
//!
//! Every change to the directory goes through `idres_io` at a named fail point: segment files
//! being made (`Site::Segment`), frames and their fdatasync (`Site::Frame`), the seal fsync at
//! roll-over (`Site::Seal`), recovery zeroing a torn tail (`Site::TornTail`), and directory
//! fsyncs and temp-file removals (`Site::LogDir`).

use std::fs::{self, File, OpenOptions};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crate::error::{Damage, LogError};
use crate::format::{FrameProblem, SegmentHeader, FRAME_HEADER_BYTES, SEGMENT_HEADER_BYTES};
use crate::reader::{ReadHandle, Reader, Shared};
use crate::segment::{
    check_headers, list_dir, read_whole, scan_segment, segment_file_name, Listing, SegmentInfo, Tail, TailPolicy,
    SEGMENT_BYTES_LIMIT, TEMP_SUFFIX,
};
use crate::{BatchBuilder, Lsn};
use idres_io::Site;

/// Name of the lock file that keeps a second writer out of a log directory.
const LOCK_FILE: &str = "LOCK";
/// Zeros are written in chunks of this size when a segment is preallocated.
const ZERO_CHUNK_BYTES: usize = 1 << 20;
/// Prefix of a segment file prepared ahead of time: `prepared-{seq:020}.seg.tmp`.
const PREPARED_PREFIX: &str = "prepared-";

/// When appended frames are made durable with `fdatasync`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Durability {
    /// `fdatasync` after every appended batch before `append` returns: a returned append is
    /// durable. Callers get group commit by putting many records in one batch.
    EveryBatch,
    /// `fdatasync` at an append when at least this long has passed since the last one, and
    /// whenever the owner calls [`Log::sync_if_due`]. A machine crash can lose the appends since
    /// the last sync: up to about twice the interval if the owner calls `sync_if_due` at least
    /// every interval, unbounded if nobody does. A process crash loses nothing (the data is in
    /// the page cache).
    Interval(Duration),
    /// Only at segment roll-over, [`Log::sync`] and close. A machine crash may lose any unsynced
    /// appends; a process crash loses none.
    Never,
}

/// What open does with a bad frame in the last segment that is *not* a plain torn tail (a valid
/// frame follows it, or its checksum holds but its content is wrong).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum TailRecovery {
    /// Refuse to open ([`LogError::Corrupt`] naming segment and offset): the right choice for
    /// [`Durability::EveryBatch`], where every acknowledged frame was synced and a bad frame
    /// followed by good ones is damage.
    #[default]
    Strict,
    /// Keep the longest valid prefix: cut off everything from the first bad frame of the last
    /// segment and report it ([`RecoveryEvent::DamagedTailTruncated`]). For
    /// [`Durability::Never`] / [`Durability::Interval`], where a machine crash can persist a later
    /// frame and tear an earlier one; records after the cut were never promised durable.
    PointInTime,
}

/// How a log is opened and written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogOptions {
    /// A segment is closed and a new one started when the next frame would not fit.
    /// Default 64 MiB; at least 4 KiB and at most [`SEGMENT_BYTES_LIMIT`].
    pub segment_bytes: u64,
    /// Largest payload of one frame the writer accepts; the effective limit is also capped so
    /// that a frame fits in a segment. Default 16 MiB.
    pub frame_payload_bytes_max: u32,
    /// When appends are synced.
    pub durability: Durability,
    /// What open does with damage at the end of the last segment.
    pub tail_recovery: TailRecovery,
    /// Write zeros over each new segment's full size before use. On ext4 an fdatasync into an
    /// already-allocated, already-written region needs no journal commit; measured here this
    /// halves the sync time of large batches (docs/PERFORMANCE.md). The next segment is prepared
    /// on a background thread once the active one is half full. Default true.
    pub preallocate: bool,
    /// The payload codec of the log's owner, stored in every segment header and checked on open.
    pub codec_id: u16,
    /// The number of records the owner knows were acknowledged (its newest snapshot or read
    /// model has seen them). If the log would end before this LSN after recovery (a "torn tail"
    /// that is really bit rot in acknowledged records, or a missing or copied-over file), open
    /// fails with [`LogError::LostRecords`] and changes nothing, so the evidence stays for
    /// `verify` and a human. Default 0 (nothing known).
    pub keep_at_least: Lsn,
}

impl Default for LogOptions {
    fn default() -> LogOptions {
        LogOptions {
            segment_bytes: 64 << 20,
            frame_payload_bytes_max: 16 << 20,
            durability: Durability::EveryBatch,
            tail_recovery: TailRecovery::Strict,
            preallocate: true,
            codec_id: 0,
            keep_at_least: 0,
        }
    }
}

impl LogOptions {
    fn check(&self) -> Result<(), LogError> {
        if self.segment_bytes < 4096 || self.segment_bytes > SEGMENT_BYTES_LIMIT {
            return Err(LogError::InvalidOptions(format!(
                "segment_bytes {} outside 4096..={SEGMENT_BYTES_LIMIT}",
                self.segment_bytes
            )));
        }
        if self.frame_payload_bytes_max < 4 {
            return Err(LogError::InvalidOptions("frame_payload_bytes_max below 4".into()));
        }
        Ok(())
    }

    /// The payload limit in force: the configured one, capped so a frame fits in a segment.
    pub fn effective_payload_max(&self) -> u32 {
        let fits = self.segment_bytes.saturating_sub((SEGMENT_HEADER_BYTES + FRAME_HEADER_BYTES) as u64);
        u64::from(self.frame_payload_bytes_max).min(fits) as u32
    }
}

/// Something recovery did on open that the owner should log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RecoveryEvent {
    /// A torn last frame (a write cut short by a crash) was cut off: `bytes` bytes from `offset`
    /// of `segment` were zeroed. The log ends at `end_lsn`.
    TornTailTruncated {
        /// The last segment.
        segment: PathBuf,
        /// Byte offset of the torn frame.
        offset: u64,
        /// Bytes zeroed.
        bytes: u64,
        /// Why the frame did not parse.
        problem: FrameProblem,
        /// The LSN the log continues at.
        end_lsn: Lsn,
    },
    /// Under [`TailRecovery::PointInTime`]: a bad frame that was not a plain tear (valid frames
    /// followed it, or its checksum held) was cut off together with everything after it.
    DamagedTailTruncated {
        /// The last segment.
        segment: PathBuf,
        /// Byte offset of the bad frame.
        offset: u64,
        /// Bytes zeroed.
        bytes: u64,
        /// Why the frame did not parse.
        problem: FrameProblem,
        /// The LSN the log continues at.
        end_lsn: Lsn,
    },
    /// A segment file left half-created by a crash was removed (it never held data).
    TempSegmentRemoved {
        /// The removed file.
        path: PathBuf,
    },
    /// A warning, nothing was changed: a sealed segment holds non-zero bytes past its last frame,
    /// in its unused zero tail (bit rot, or a stray write). They are not data (the segment's
    /// frames end where the next segment begins), so no record is lost and nothing is cut.
    StrayBytesAfterSeal {
        /// The sealed segment.
        segment: PathBuf,
        /// Byte offset of the first non-zero byte past its last frame.
        offset: u64,
    },
}

impl std::fmt::Display for RecoveryEvent {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            RecoveryEvent::TornTailTruncated { segment, offset, bytes, problem, end_lsn } => write!(
                f,
                "torn tail truncated: {} at byte offset {offset} ({bytes} bytes: {problem}); log continues at LSN {end_lsn}",
                segment.display()
            ),
            RecoveryEvent::DamagedTailTruncated { segment, offset, bytes, problem, end_lsn } => write!(
                f,
                "DAMAGED tail discarded (point-in-time recovery): {} at byte offset {offset} ({bytes} bytes: {problem}); log continues at LSN {end_lsn}",
                segment.display()
            ),
            RecoveryEvent::TempSegmentRemoved { path } => {
                write!(f, "removed unfinished segment {}", path.display())
            }
            RecoveryEvent::StrayBytesAfterSeal { segment, offset } => write!(
                f,
                "warning: sealed segment {} holds non-zero bytes at byte offset {offset}, past its last frame (unused tail, not data; nothing lost, nothing changed)",
                segment.display()
            ),
        }
    }
}

/// Where an appended batch landed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Appended {
    /// LSN of the batch's first record.
    pub first_lsn: Lsn,
    /// One past the LSN of its last record: the next append starts here.
    pub end_lsn: Lsn,
    /// True if the batch was synced to disk before `append` returned.
    pub durable: bool,
}

struct Active {
    file: File,
    path: PathBuf,
    header: SegmentHeader,
    /// Where the next frame goes.
    write_offset: u64,
    /// True if no frame has been written in this segment.
    empty: bool,
}

/// A segment file made ready off the append path: zero-filled to full size and fsynced, but with
/// no header yet (its base LSN is known only at roll-over). Named `*.seg.tmp` until activated, so
/// a crash leaves nothing that open would take for part of the log.
struct Prepared {
    file: File,
    path: PathBuf,
}

/// The segment after the active one.
enum Next {
    /// Not started (the active segment is less than half full, or preallocation is off).
    Idle,
    /// Being zero-filled on a background thread.
    Preparing(JoinHandle<Result<Prepared, LogError>>),
    /// Ready to be activated (prepared earlier, possibly by a previous run).
    Ready(Prepared),
}

/// An open, writable log. One per directory (a lock file keeps others out).
pub struct Log {
    dir: PathBuf,
    opts: LogOptions,
    payload_max: u32,
    active: Active,
    next: Next,
    next_lsn: Lsn,
    synced_lsn: Lsn,
    last_sync: Instant,
    poisoned: Option<String>,
    recovery: Vec<RecoveryEvent>,
    frame_buf: Vec<u8>,
    shared: Arc<Shared>,
    _lock: File,
}

fn sync_dir(dir: &Path) -> Result<(), LogError> {
    idres_io::sync_dir(Site::LogDir, dir).map_err(|e| LogError::io("fsync directory", dir, e))
}

/// Creates `dir` and its missing parents, fsyncing each new directory's parent so that the new
/// entries survive a machine crash.
fn create_dir_durable(dir: &Path) -> Result<(), LogError> {
    if dir.is_dir() {
        return Ok(());
    }
    let mut missing = Vec::new();
    let mut at = Some(dir);
    while let Some(d) = at {
        if d.as_os_str().is_empty() || d.is_dir() {
            break;
        }
        missing.push(d.to_path_buf());
        at = d.parent();
    }
    fs::create_dir_all(dir).map_err(|e| LogError::io("create directory", dir, e))?;
    for d in missing.iter().rev() {
        let parent = match d.parent() {
            Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
            _ => PathBuf::from("."),
        };
        sync_dir(&parent)?;
    }
    Ok(())
}

fn write_zeros(site: Site, file: &File, path: &Path, from: u64, to: u64) -> Result<(), LogError> {
    let zeros = vec![0u8; ZERO_CHUNK_BYTES];
    let mut at = from;
    while at < to {
        let n = ((to - at) as usize).min(ZERO_CHUNK_BYTES);
        idres_io::write_all_at(site, file, path, &zeros[..n], at).map_err(|e| LogError::io("write zeros", path, e))?;
        at += n as u64;
    }
    Ok(())
}

/// Creates a segment atomically on the append path: temp file, header, zeros (when
/// preallocating), fsync, rename, fsync directory.
fn create_segment(dir: &Path, header: SegmentHeader, opts: &LogOptions) -> Result<Active, LogError> {
    let path = dir.join(segment_file_name(header.base_lsn));
    let tmp = dir.join(format!("{:020}{TEMP_SUFFIX}", header.base_lsn));
    let result = (|| {
        let mut file = idres_io::create(Site::Segment, &tmp).map_err(|e| LogError::io("create segment", &tmp, e))?;
        idres_io::write_all(Site::Segment, &mut file, &tmp, &header.encode())
            .map_err(|e| LogError::io("write segment header", &tmp, e))?;
        if opts.preallocate {
            write_zeros(Site::Segment, &file, &tmp, SEGMENT_HEADER_BYTES as u64, opts.segment_bytes)?;
        }
        idres_io::sync_all(Site::Segment, &file, &tmp).map_err(|e| LogError::io("fsync segment", &tmp, e))?;
        idres_io::rename(Site::Segment, &tmp, &path).map_err(|e| LogError::io("rename segment", &path, e))?;
        sync_dir(dir)?;
        Ok(Active { file, path: path.clone(), header, write_offset: SEGMENT_HEADER_BYTES as u64, empty: true })
    })();
    if result.is_err() {
        // Best effort: a leftover is removed by the next open.
        let _ = idres_io::remove_file(Site::LogDir, &tmp);
    }
    result
}

fn prepared_path(dir: &Path, seq: u64) -> PathBuf {
    dir.join(format!("{PREPARED_PREFIX}{seq:020}{TEMP_SUFFIX}"))
}

fn prepare_segment(path: PathBuf, size: u64) -> Result<Prepared, LogError> {
    let file = idres_io::create(Site::Segment, &path).map_err(|e| LogError::io("create segment", &path, e))?;
    let done = write_zeros(Site::Segment, &file, &path, 0, size).and_then(|()| {
        idres_io::sync_all(Site::Segment, &file, &path).map_err(|e| LogError::io("fsync segment", &path, e))
    });
    if let Err(e) = done {
        let _ = idres_io::remove_file(Site::LogDir, &path);
        return Err(e);
    }
    Ok(Prepared { file, path })
}

/// Makes a prepared file the next segment: header, fdatasync, rename, fsync the directory.
fn activate_segment(dir: &Path, prepared: Prepared, header: SegmentHeader) -> Result<Active, LogError> {
    let Prepared { file, path: tmp } = prepared;
    let path = dir.join(segment_file_name(header.base_lsn));
    let result = (|| {
        idres_io::write_all_at(Site::Segment, &file, &tmp, &header.encode(), 0)
            .map_err(|e| LogError::io("write segment header", &tmp, e))?;
        idres_io::sync_data(Site::Segment, &file, &tmp).map_err(|e| LogError::io("fdatasync", &tmp, e))?;
        idres_io::rename(Site::Segment, &tmp, &path).map_err(|e| LogError::io("rename segment", &path, e))?;
        sync_dir(dir)
    })();
    match result {
        Ok(()) => Ok(Active { file, path, header, write_offset: SEGMENT_HEADER_BYTES as u64, empty: true }),
        Err(e) => {
            let _ = idres_io::remove_file(Site::LogDir, &tmp);
            Err(e)
        }
    }
}

fn join_prepared(handle: JoinHandle<Result<Prepared, LogError>>, dir: &Path) -> Result<Prepared, LogError> {
    handle.join().unwrap_or_else(|_| {
        Err(LogError::io("prepare segment", dir, std::io::Error::other("segment preparation thread panicked")))
    })
}

fn new_log_id() -> [u8; 16] {
    *uuid::Uuid::new_v4().as_bytes()
}

fn lock_dir(dir: &Path) -> Result<File, LogError> {
    let path = dir.join(LOCK_FILE);
    let file = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(&path)
        .map_err(|e| LogError::io("open lock file", &path, e))?;
    match file.try_lock() {
        Ok(()) => Ok(file),
        Err(std::fs::TryLockError::WouldBlock) => Err(LogError::Locked { path }),
        Err(std::fs::TryLockError::Error(e)) => Err(LogError::io("lock", &path, e)),
    }
}

impl Log {
    /// Opens the log in `dir`, creating the directory and a first segment if there is none.
    ///
    /// Recovery: every segment header is checked (magic, version, CRC, log id, codec, sequence,
    /// name; the first segment is segment 0 at LSN 0); the second-to-last segment must end where
    /// the last one begins; the last segment is scanned frame by frame and synced. A torn tail is
    /// zeroed and reported in [`Log::recovery`]. Any other damage is [`LogError::Corrupt`], and
    /// then nothing in the directory is changed (apart from creating it and its lock file).
    pub fn open(dir: impl AsRef<Path>, opts: LogOptions) -> Result<Log, LogError> {
        opts.check()?;
        let dir = dir.as_ref().to_path_buf();
        create_dir_durable(&dir)?;
        let lock = lock_dir(&dir)?;
        let listing = list_dir(&dir)?;
        let segments = check_headers(&listing, Some(opts.codec_id), true)?;
        let mut recovery = Vec::new();
        if let [.., prev, last] = &segments[..] {
            if let Some(offset) = check_sealed_end(prev, last.header.base_lsn)? {
                recovery.push(RecoveryEvent::StrayBytesAfterSeal { segment: prev.path.clone(), offset });
            }
        }
        // Leftovers of interrupted segment creations go first, before a segment is created: a
        // kill while the first segment was being made leaves its temp file under the very name
        // the new first segment is created under.
        let active_seq = segments.last().map_or(0, |s| s.header.segment_seq);
        let next = adopt_temp_files(&dir, &listing, active_seq, &opts, &mut recovery)?;
        let (active, segments, next_lsn) = match segments.last() {
            None if opts.keep_at_least > 0 => {
                return Err(LogError::LostRecords {
                    at: dir.clone(),
                    offset: 0,
                    end_lsn: 0,
                    required: opts.keep_at_least,
                })
            }
            None => {
                let header =
                    SegmentHeader { codec_id: opts.codec_id, segment_seq: 0, base_lsn: 0, log_id: new_log_id() };
                let active = create_segment(&dir, header, &opts)?;
                let info = SegmentInfo { path: active.path.clone(), header };
                (active, vec![info], 0)
            }
            Some(last) => {
                let (active, end_lsn) = recover_last(last, &opts, &mut recovery)?;
                (active, segments, end_lsn)
            }
        };
        let shared = Arc::new(Shared {
            dir: dir.clone(),
            segments: RwLock::new(segments),
            written_end: AtomicU64::new(next_lsn),
            durable_end: AtomicU64::new(next_lsn),
        });
        let mut log = Log {
            dir,
            payload_max: opts.effective_payload_max(),
            opts,
            active,
            next,
            next_lsn,
            synced_lsn: next_lsn,
            last_sync: Instant::now(),
            poisoned: None,
            recovery,
            frame_buf: Vec::new(),
            shared,
            _lock: lock,
        };
        log.maybe_prepare_next();
        Ok(log)
    }

    /// What recovery did on open (empty after a clean shutdown).
    pub fn recovery(&self) -> &[RecoveryEvent] {
        &self.recovery
    }

    /// The log's 16-byte id, carried in every segment header (owners stamp what they derive from
    /// the log with it, so that a file of another log is recognised).
    pub fn log_id(&self) -> [u8; 16] {
        self.active.header.log_id
    }

    /// The LSN the next appended record gets (= number of records ever appended, from 0).
    pub fn next_lsn(&self) -> Lsn {
        self.next_lsn
    }

    /// Every record below this LSN has been synced to disk.
    pub fn durable_lsn(&self) -> Lsn {
        self.synced_lsn
    }

    /// The log directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The options the log was opened with.
    pub fn options(&self) -> &LogOptions {
        &self.opts
    }

    /// The segments of the log, oldest first; the last one is being written.
    pub fn segments(&self) -> Vec<SegmentInfo> {
        self.shared.segments.read().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// The failure that poisoned the log, if any.
    pub fn poisoned(&self) -> Option<&str> {
        self.poisoned.as_deref()
    }

    fn check_poison(&self) -> Result<(), LogError> {
        match &self.poisoned {
            Some(cause) => Err(LogError::Poisoned { cause: cause.clone() }),
            None => Ok(()),
        }
    }

    fn poison(&mut self, err: LogError) -> LogError {
        if self.poisoned.is_none() {
            // The whole chain: the OS error is the source, not part of the Display.
            self.poisoned = Some(crate::error::chain(&err));
        }
        err
    }

    /// Appends `batch` as one frame (atomic on disk) and syncs it per the durability setting.
    ///
    /// An empty batch takes no LSN and writes nothing. A batch over the frame limit is refused
    /// with nothing written; so is a batch when a new segment cannot be created (the log is not
    /// poisoned then: no written data is in doubt, and a later append tries again).
    ///
    /// A failed write or sync poisons the log, and then the batch's outcome is **unknown**: it
    /// was not acknowledged, yet it may be present after a restart. Under
    /// [`Durability::EveryBatch`] readers see a batch only once it is synced.
    pub fn append(&mut self, batch: &BatchBuilder) -> Result<Appended, LogError> {
        self.check_poison()?;
        let first_lsn = self.next_lsn;
        if batch.is_empty() {
            return Ok(Appended { first_lsn, end_lsn: first_lsn, durable: self.synced_lsn == first_lsn });
        }
        let payload = batch.payload_bytes();
        if payload > u64::from(self.payload_max) {
            return Err(LogError::BatchTooLarge { bytes: payload, max: self.payload_max });
        }
        let frame_bytes = FRAME_HEADER_BYTES as u64 + payload;
        if !self.active.empty && self.active.write_offset + frame_bytes > self.opts.segment_bytes {
            self.roll_over()?;
        }
        let mut buf = std::mem::take(&mut self.frame_buf);
        buf.clear();
        batch.encode_frame(&mut buf, first_lsn);
        let written = self.write_frame(&buf);
        self.frame_buf = buf;
        written?;
        // Base LSNs are bounded (segment::BASE_LSN_LIMIT) and a segment holds at most 2^30
        // records, so this cannot overflow.
        let end_lsn = first_lsn + batch.len() as u64;
        self.next_lsn = end_lsn;
        let durable = match self.opts.durability {
            Durability::EveryBatch => {
                self.sync()?;
                true
            }
            Durability::Interval(every) => {
                if self.last_sync.elapsed() >= every {
                    self.sync()?;
                    true
                } else {
                    false
                }
            }
            Durability::Never => false,
        };
        self.shared.written_end.store(end_lsn, Ordering::Release);
        self.maybe_prepare_next();
        Ok(Appended { first_lsn, end_lsn, durable })
    }

    fn write_frame(&mut self, frame: &[u8]) -> Result<(), LogError> {
        let at = self.active.write_offset;
        if let Err(e) = idres_io::write_all_at(Site::Frame, &self.active.file, &self.active.path, frame, at) {
            let e = LogError::io("write frame", &self.active.path, e);
            return Err(self.poison(e));
        }
        self.active.write_offset += frame.len() as u64;
        self.active.empty = false;
        Ok(())
    }

    /// Syncs every appended frame to disk (`fdatasync`). A failure poisons the log.
    pub fn sync(&mut self) -> Result<(), LogError> {
        self.check_poison()?;
        if self.synced_lsn == self.next_lsn {
            return Ok(());
        }
        // Without preallocation the file grows; fdatasync flushes the size too (it is needed to
        // read the data back).
        if let Err(e) = idres_io::sync_data(Site::Frame, &self.active.file, &self.active.path) {
            let e = LogError::io("fdatasync", &self.active.path, e);
            return Err(self.poison(e));
        }
        self.synced_lsn = self.next_lsn;
        self.last_sync = Instant::now();
        self.shared.durable_end.store(self.synced_lsn, Ordering::Release);
        Ok(())
    }

    /// Under [`Durability::Interval`], syncs if the interval has passed since the last sync.
    /// Returns whether it synced. The owner calls this from its timer when appends pause.
    pub fn sync_if_due(&mut self) -> Result<bool, LogError> {
        match self.opts.durability {
            Durability::Interval(every) if self.synced_lsn < self.next_lsn && self.last_sync.elapsed() >= every => {
                self.sync()?;
                Ok(true)
            }
            _ => Ok(false),
        }
    }

    /// Starts zero-filling the next segment in the background once the active one is half full:
    /// short-lived opens never pay for it, and a long-running writer finds it ready at roll-over.
    fn maybe_prepare_next(&mut self) {
        if !self.opts.preallocate
            || !matches!(self.next, Next::Idle)
            || self.active.write_offset.saturating_mul(2) < self.opts.segment_bytes
        {
            return;
        }
        let path = prepared_path(&self.dir, self.active.header.segment_seq + 1);
        let size = self.opts.segment_bytes;
        let spawned =
            std::thread::Builder::new().name("idres-log-prepare".into()).spawn(move || prepare_segment(path, size));
        if let Ok(handle) = spawned {
            self.next = Next::Preparing(handle);
        }
        // If no thread can be spawned, roll-over creates the segment itself.
    }

    /// Seals the active segment (synced first, so sealed segments are always complete on disk)
    /// and starts the next one.
    fn roll_over(&mut self) -> Result<(), LogError> {
        if let Err(e) = idres_io::sync_data(Site::Seal, &self.active.file, &self.active.path) {
            let e = LogError::io("fdatasync", &self.active.path, e);
            return Err(self.poison(e));
        }
        self.synced_lsn = self.next_lsn;
        self.last_sync = Instant::now();
        self.shared.durable_end.store(self.synced_lsn, Ordering::Release);
        let header = SegmentHeader {
            codec_id: self.active.header.codec_id,
            segment_seq: self.active.header.segment_seq + 1,
            base_lsn: self.next_lsn,
            log_id: self.active.header.log_id,
        };
        // Normally the next file is ready (zero-filled and synced in the background); only the
        // header, one fdatasync, the rename and the directory fsync remain on the append path.
        // If its preparation failed, create it here. A failure to create an empty segment does
        // not poison: no written data is in doubt.
        let prepared = match std::mem::replace(&mut self.next, Next::Idle) {
            Next::Ready(p) => Some(p),
            Next::Preparing(handle) => join_prepared(handle, &self.dir).ok(),
            Next::Idle => None,
        };
        let active = match prepared {
            Some(p) => {
                activate_segment(&self.dir, p, header).or_else(|_| create_segment(&self.dir, header, &self.opts))
            }
            None => create_segment(&self.dir, header, &self.opts),
        }?;
        self.shared
            .segments
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .push(SegmentInfo { path: active.path.clone(), header });
        self.active = active;
        Ok(())
    }

    /// A reader of the records from `from` up to the end written so far.
    pub fn reader(&self, from: Lsn) -> Result<Reader, LogError> {
        self.read_handle().reader(from)
    }

    /// A handle that other threads can use to read the log while this one writes.
    pub fn read_handle(&self) -> ReadHandle {
        ReadHandle::new(Arc::clone(&self.shared))
    }

    /// Syncs and closes the log.
    pub fn close(mut self) -> Result<(), LogError> {
        self.sync()
        // Drop waits for a segment being prepared; the prepared file is kept for the next open.
    }
}

impl Drop for Log {
    fn drop(&mut self) {
        // Best effort: an explicit close() reports errors; a drop cannot.
        if self.poisoned.is_none() && self.synced_lsn < self.next_lsn {
            let _ = idres_io::sync_data(Site::Frame, &self.active.file, &self.active.path);
        }
        // Wait for a preparation in flight so that no thread writes into the directory after the
        // log is gone; its file stays for the next open to use.
        if let Next::Preparing(handle) = std::mem::replace(&mut self.next, Next::Idle) {
            let _ = handle.join();
        }
    }
}

/// Checks that the frames of sealed segment `prev` end exactly where the next segment begins
/// (frame headers only: a cheap walk that catches a sealed segment cut short or overrun).
/// Returns the offset of a non-zero byte past its last frame, a warning (see
/// [`RecoveryEvent::StrayBytesAfterSeal`]).
fn check_sealed_end(prev: &SegmentInfo, next_base: Lsn) -> Result<Option<u64>, LogError> {
    let (end, offset, stray) = Reader::segment_end(prev, next_base)?;
    if end != next_base {
        return Err(LogError::corrupt(&prev.path, offset, end, Damage::SegmentEndsEarly { ends_at: end, next_base }));
    }
    Ok(stray)
}

/// Removes leftovers of interrupted segment creations (reported), except a prepared file for
/// the segment after the active one, which is kept and used at the next roll-over.
fn adopt_temp_files(
    dir: &Path,
    listing: &Listing,
    active_seq: u64,
    opts: &LogOptions,
    recovery: &mut Vec<RecoveryEvent>,
) -> Result<Next, LogError> {
    let mut next = Next::Idle;
    let wanted = prepared_path(dir, active_seq + 1);
    let mut removed = false;
    for tmp in &listing.temp_files {
        if *tmp == wanted && opts.preallocate && matches!(next, Next::Idle) {
            let file = idres_io::open_rw(Site::Segment, tmp);
            if let Ok(file) = file {
                if file.metadata().map(|m| m.len()).ok() == Some(opts.segment_bytes) {
                    next = Next::Ready(Prepared { file, path: tmp.clone() });
                    continue;
                }
            }
        }
        match idres_io::remove_file(Site::LogDir, tmp) {
            Ok(()) => {}
            // Gone already (another cleanup got there first): nothing to remove.
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(e) => return Err(LogError::io("remove unfinished segment", tmp, e)),
        }
        // A prepared file of another size or number is a leftover of other options, not of a
        // crash: removing it is housekeeping, not recovery.
        let is_prepared = tmp.file_name().and_then(|n| n.to_str()).is_some_and(|n| n.starts_with(PREPARED_PREFIX));
        if !is_prepared {
            recovery.push(RecoveryEvent::TempSegmentRemoved { path: tmp.clone() });
        }
        removed = true;
    }
    if removed {
        sync_dir(dir)?;
    }
    Ok(next)
}

/// Scans the last segment, cuts off a torn tail, syncs it, and makes it ready for appends.
fn recover_last(
    last: &SegmentInfo,
    opts: &LogOptions,
    recovery: &mut Vec<RecoveryEvent>,
) -> Result<(Active, Lsn), LogError> {
    let path = &last.path;
    let buf = read_whole(path, last.header.base_lsn)?;
    let mut frames = 0u64;
    let policy = match opts.tail_recovery {
        TailRecovery::Strict => TailPolicy::Strict,
        TailRecovery::PointInTime => TailPolicy::PointInTime,
    };
    let scan = scan_segment(&buf, path, last.header.base_lsn, policy, |_, _| {
        frames += 1;
        true
    })?;
    drop(buf);
    if scan.end_lsn < opts.keep_at_least {
        let offset = match &scan.tail {
            Tail::Torn { offset, .. } => *offset,
            Tail::Clean => scan.end_offset,
        };
        return Err(LogError::LostRecords {
            at: path.clone(),
            offset,
            end_lsn: scan.end_lsn,
            required: opts.keep_at_least,
        });
    }
    let file = idres_io::open_rw(Site::Frame, path).map_err(|e| LogError::io("open segment", path, e))?;
    let file_len = file.metadata().map_err(|e| LogError::io("stat segment", path, e))?.len();
    if let Tail::Torn { offset, garbage_end, problem, damaged } = &scan.tail {
        write_zeros(Site::TornTail, &file, path, *offset, *garbage_end)?;
        idres_io::sync_data(Site::TornTail, &file, path).map_err(|e| LogError::io("fdatasync", path, e))?;
        let (segment, offset, bytes, problem, end_lsn) =
            (path.clone(), *offset, garbage_end - offset, problem.clone(), scan.end_lsn);
        recovery.push(if *damaged {
            RecoveryEvent::DamagedTailTruncated { segment, offset, bytes, problem, end_lsn }
        } else {
            RecoveryEvent::TornTailTruncated { segment, offset, bytes, problem, end_lsn }
        });
    }
    if opts.preallocate && file_len < opts.segment_bytes {
        write_zeros(Site::Segment, &file, path, file_len, opts.segment_bytes)?;
        idres_io::sync_all(Site::Segment, &file, path).map_err(|e| LogError::io("fsync segment", path, e))?;
    }
    // What is in the file may never have been synced (a crash under `Never`, or a write whose
    // fsync failed in the previous run): sync it before anyone is told it is durable.
    idres_io::sync_data(Site::Frame, &file, path).map_err(|e| LogError::io("fdatasync", path, e))?;
    let active =
        Active { file, path: path.clone(), header: last.header, write_offset: scan.end_offset, empty: frames == 0 };
    Ok((active, scan.end_lsn))
}

/// A log opened for reading only (audits, `verify`): nothing in the directory is written, no
/// lock is taken, and a torn tail is not cut but reported; the records before it can be read.
#[derive(Debug)]
pub struct ReadOnlyLog {
    handle: ReadHandle,
    /// Where the last segment's valid frames end, if something other than zeros follows: the
    /// segment, the byte offset, and what is wrong there.
    pub torn_tail: Option<(PathBuf, u64, String)>,
    /// A warning: the second-to-last (sealed) segment holds non-zero bytes past its last frame,
    /// in its unused tail: the segment and the byte offset of the first. Not data, not damage.
    pub stray_bytes: Option<(PathBuf, u64)>,
}

impl ReadOnlyLog {
    /// Opens the log in `dir` without changing it. Damage other than at the very end of the last
    /// segment is [`LogError::Corrupt`], as for [`Log::open`]; `codec_id` (if given) must match.
    pub fn open(dir: impl AsRef<Path>, codec_id: Option<u16>) -> Result<ReadOnlyLog, LogError> {
        let dir = dir.as_ref().to_path_buf();
        let listing = list_dir(&dir)?;
        let segments = check_headers(&listing, codec_id, true)?;
        let mut stray_bytes = None;
        if let [.., prev, last] = &segments[..] {
            stray_bytes = check_sealed_end(prev, last.header.base_lsn)?.map(|at| (prev.path.clone(), at));
        }
        let (end_lsn, torn_tail) = match segments.last() {
            None => (0, None),
            Some(last) => {
                let buf = read_whole(&last.path, last.header.base_lsn)?;
                let scan = scan_segment(&buf, &last.path, last.header.base_lsn, TailPolicy::Strict, |_, _| true)?;
                let torn = match scan.tail {
                    Tail::Torn { offset, problem, .. } => Some((last.path.clone(), offset, problem.to_string())),
                    Tail::Clean => None,
                };
                (scan.end_lsn, torn)
            }
        };
        let shared = Arc::new(Shared {
            dir,
            segments: RwLock::new(segments),
            written_end: AtomicU64::new(end_lsn),
            durable_end: AtomicU64::new(end_lsn),
        });
        Ok(ReadOnlyLog { handle: ReadHandle::new(shared), torn_tail, stray_bytes })
    }

    /// The log's 16-byte id; `None` if the directory holds no segment.
    pub fn log_id(&self) -> Option<[u8; 16]> {
        self.handle.log_id()
    }

    /// One past the last readable record.
    pub fn end_lsn(&self) -> Lsn {
        self.handle.end_lsn()
    }

    /// A reader of the records from `from` to the end.
    pub fn reader(&self, from: Lsn) -> Result<Reader, LogError> {
        self.handle.reader(from)
    }
}

/// What [`verify`] found in a log directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifyReport {
    /// Number of segment files.
    pub segments: usize,
    /// Number of valid frames.
    pub frames: u64,
    /// First LSN the log holds.
    pub start_lsn: Lsn,
    /// One past the last LSN of a valid frame.
    pub end_lsn: Lsn,
    /// Bytes of valid frames (headers included).
    pub frame_bytes: u64,
    /// A torn tail that the next open would cut off: segment and byte offset.
    pub torn_tail: Option<(PathBuf, u64)>,
    /// Warnings: sealed segments holding non-zero bytes past their last frame, in their unused
    /// zero tail (segment and byte offset of the first such byte). Not data, not damage: no
    /// record is lost and nothing needs repair.
    pub stray_bytes: Vec<(PathBuf, u64)>,
}

/// Checks every header and every frame of the log in `dir` without changing anything.
///
/// `codec_id`, if given, must match every segment. Damage is an error naming segment and offset;
/// a torn tail (which open would truncate) is reported, not an error.
pub fn verify(dir: impl AsRef<Path>, codec_id: Option<u16>) -> Result<VerifyReport, LogError> {
    let dir = dir.as_ref();
    let listing = list_dir(dir)?;
    let segments = check_headers(&listing, codec_id, true)?;
    let mut report = VerifyReport {
        segments: segments.len(),
        frames: 0,
        start_lsn: segments.first().map_or(0, |s| s.header.base_lsn),
        end_lsn: 0,
        frame_bytes: 0,
        torn_tail: None,
        stray_bytes: Vec::new(),
    };
    report.end_lsn = report.start_lsn;
    for (i, seg) in segments.iter().enumerate() {
        let policy = match segments.get(i + 1) {
            None => TailPolicy::Strict,
            Some(next) => TailPolicy::Sealed { next_base: next.header.base_lsn },
        };
        if seg.header.base_lsn != report.end_lsn {
            return Err(LogError::corrupt(
                &seg.path,
                24,
                report.end_lsn,
                Damage::BaseLsnGap { expected: report.end_lsn, found: seg.header.base_lsn },
            ));
        }
        let buf = read_whole(&seg.path, seg.header.base_lsn)?;
        let scan = scan_segment(&buf, &seg.path, seg.header.base_lsn, policy, |f, _| {
            report.frames += 1;
            report.frame_bytes += f.header.frame_bytes();
            true
        })?;
        if let Tail::Torn { offset, .. } = scan.tail {
            report.torn_tail = Some((seg.path.clone(), offset));
        }
        if let Some(at) = scan.stray_at {
            report.stray_bytes.push((seg.path.clone(), at));
        }
        if let Some(next) = segments.get(i + 1) {
            if scan.end_lsn != next.header.base_lsn {
                return Err(LogError::corrupt(
                    &seg.path,
                    scan.end_offset,
                    scan.end_lsn,
                    Damage::SegmentEndsEarly { ends_at: scan.end_lsn, next_base: next.header.base_lsn },
                ));
            }
        }
        report.end_lsn = scan.end_lsn;
    }
    Ok(report)
}

/// What [`repair`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RepairReport {
    /// The log now holds LSNs below this.
    pub end_lsn: Lsn,
    /// Segment files removed (they held only LSNs at or after `end_lsn`).
    pub removed_segments: Vec<PathBuf>,
    /// The segment that was cut, and the byte offset it now ends at.
    pub cut: Option<(PathBuf, u64)>,
}

/// Truncates the log in `dir` so that it keeps LSNs `0..=lsn` (`None`: keeps nothing).
///
/// The cut must fall between two batches ([`LogError::NotABatchBoundary`] otherwise). Every frame
/// up to the cut is checked; damage before it is an error (choose an earlier LSN); whatever
/// follows the cut, damaged or not, is discarded. Crash-safe in its order: later segment files are
/// deleted newest first and the directory fsynced before the cut segment's tail is zeroed, so an
/// interrupted repair leaves either the old log's prefix or the repaired log, never a gap.
/// Takes the directory lock: the log must not be open.
pub fn repair(dir: impl AsRef<Path>, lsn: Option<Lsn>) -> Result<RepairReport, LogError> {
    let dir = dir.as_ref();
    let _lock = lock_dir(dir)?;
    let target_end = match lsn {
        Some(l) => l.checked_add(1).ok_or(LogError::LsnOutOfRange { lsn: l, start: 0, end: Lsn::MAX })?,
        None => 0,
    };
    let listing = list_dir(dir)?;
    // Keep the first segment always (it carries the log id); keep the others that start below
    // the cut. Segments from the cut on are removed without reading them: they may be damaged.
    let keep_count = listing.segments.iter().enumerate().filter(|(i, (base, _))| *i == 0 || *base < target_end).count();
    let kept = Listing { segments: listing.segments[..keep_count].to_vec(), temp_files: Vec::new() };
    let segments = check_headers(&kept, None, false)?;
    let Some(last) = segments.last() else {
        return Ok(RepairReport { end_lsn: 0, removed_segments: Vec::new(), cut: None });
    };
    // Every frame that stays must be sound: check the kept segments before the cut one whole.
    for pair in segments.windows(2) {
        let (seg, next) = (&pair[0], &pair[1]);
        let buf = read_whole(&seg.path, seg.header.base_lsn)?;
        let policy = TailPolicy::Sealed { next_base: next.header.base_lsn };
        let scan = scan_segment(&buf, &seg.path, seg.header.base_lsn, policy, |_, _| true)?;
        if scan.end_lsn != next.header.base_lsn {
            return Err(LogError::corrupt(
                &seg.path,
                scan.end_offset,
                scan.end_lsn,
                Damage::SegmentEndsEarly { ends_at: scan.end_lsn, next_base: next.header.base_lsn },
            ));
        }
    }
    let buf = read_whole(&last.path, last.header.base_lsn)?;
    let mut cut_at: Option<u64> =
        if last.header.base_lsn == target_end { Some(SEGMENT_HEADER_BYTES as u64) } else { None };
    let mut spanning: Option<(Lsn, Lsn)> = None;
    let scan = if cut_at.is_some() {
        None
    } else {
        Some(scan_segment(&buf, &last.path, last.header.base_lsn, TailPolicy::Strict, |f, off| {
            let end = f.end_lsn();
            if end == target_end {
                cut_at = Some(off + f.header.frame_bytes());
                return false;
            }
            if f.header.first_lsn < target_end && end > target_end {
                spanning = Some((f.header.first_lsn, end));
                return false;
            }
            true
        })?)
    };
    if let Some((first, end)) = spanning {
        return Err(LogError::NotABatchBoundary { lsn: target_end - 1, first, end });
    }
    let Some(cut) = cut_at else {
        let end = scan.map_or(last.header.base_lsn, |s| s.end_lsn);
        return Err(LogError::LsnOutOfRange { lsn: target_end.saturating_sub(1), start: 0, end });
    };
    let garbage_end = buf.iter().rposition(|&b| b != 0).map_or(0, |p| p + 1) as u64;
    drop(buf);
    let mut removed = Vec::new();
    for (_, path) in listing.segments[keep_count..].iter().rev() {
        idres_io::remove_file(Site::Segment, path).map_err(|e| LogError::io("remove segment", path, e))?;
        removed.push(path.clone());
    }
    // A prepared next segment belongs to the old layout.
    for tmp in &listing.temp_files {
        idres_io::remove_file(Site::LogDir, tmp).map_err(|e| LogError::io("remove unfinished segment", tmp, e))?;
    }
    removed.reverse();
    if !removed.is_empty() || !listing.temp_files.is_empty() {
        sync_dir(dir)?;
    }
    if garbage_end > cut {
        let file =
            idres_io::open_rw(Site::TornTail, &last.path).map_err(|e| LogError::io("open segment", &last.path, e))?;
        write_zeros(Site::TornTail, &file, &last.path, cut, garbage_end)?;
        idres_io::sync_data(Site::TornTail, &file, &last.path).map_err(|e| LogError::io("fdatasync", &last.path, e))?;
    }
    Ok(RepairReport { end_lsn: target_end, removed_segments: removed, cut: Some((last.path.clone(), cut)) })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn batch(recs: &[&[u8]]) -> BatchBuilder {
        let mut b = BatchBuilder::new(1);
        for r in recs {
            b.push(r).unwrap();
        }
        b
    }

    fn small() -> LogOptions {
        LogOptions { segment_bytes: 4096, ..LogOptions::default() }
    }

    #[test]
    fn open_syncs_what_it_reports_durable() {
        let dir = tempfile::tempdir().unwrap();
        let opts = LogOptions { durability: Durability::Never, ..small() };
        let mut log = Log::open(dir.path(), opts.clone()).unwrap();
        log.append(&batch(&[b"a", b"b"])).unwrap();
        assert_eq!(log.durable_lsn(), 0);
        // A process crash: no sync at drop.
        log.poisoned = Some("simulated crash".into());
        drop(log);
        let log = Log::open(dir.path(), opts).unwrap();
        // Open synced the segment before reporting these records durable.
        assert_eq!(log.durable_lsn(), 2);
    }

    #[test]
    fn interval_zero_syncs_every_append() {
        let dir = tempfile::tempdir().unwrap();
        let opts = LogOptions { durability: Durability::Interval(Duration::ZERO), ..small() };
        let mut log = Log::open(dir.path(), opts).unwrap();
        let a = log.append(&batch(&[b"a"])).unwrap();
        assert!(a.durable);
        assert_eq!(log.durable_lsn(), 1);
        let dir = tempfile::tempdir().unwrap();
        let mut log = Log::open(dir.path(), LogOptions { durability: Durability::Never, ..small() }).unwrap();
        assert!(!log.append(&batch(&[b"a"])).unwrap().durable);
        assert!(!log.append(&batch(&[])).unwrap().durable, "an empty batch after unsynced appends is not durable");
        log.sync().unwrap();
        assert_eq!(log.durable_lsn(), 1);
        let dir = tempfile::tempdir().unwrap();
        let mut log = Log::open(dir.path(), small()).unwrap();
        assert!(log.append(&batch(&[b"a"])).unwrap().durable);
    }

    #[test]
    fn second_writer_is_locked_out() {
        let dir = tempfile::tempdir().unwrap();
        let _log = Log::open(dir.path(), small()).unwrap();
        assert!(matches!(Log::open(dir.path(), small()), Err(LogError::Locked { .. })));
        assert!(matches!(repair(dir.path(), Some(0)), Err(LogError::Locked { .. })));
    }

    #[test]
    fn interval_durability_syncs_when_due() {
        let dir = tempfile::tempdir().unwrap();
        let opts = LogOptions { durability: Durability::Interval(Duration::from_secs(3600)), ..small() };
        let mut log = Log::open(dir.path(), opts).unwrap();
        let a = log.append(&batch(&[b"a"])).unwrap();
        assert!(!a.durable);
        assert_eq!(log.durable_lsn(), 0);
        assert!(!log.sync_if_due().unwrap());
        log.sync().unwrap();
        assert_eq!(log.durable_lsn(), 1);
    }
}
