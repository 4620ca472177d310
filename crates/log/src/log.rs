//! The writer side of the log: open and recover a directory, append frames, roll segments over,
//! sync per the durability setting, poison on failure; plus the offline `verify` and `repair`.

use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use crate::error::{Damage, LogError};
use crate::format::{FrameProblem, SegmentHeader, FRAME_HEADER_BYTES, SEGMENT_HEADER_BYTES};
use crate::reader::{ReadHandle, Reader, Shared};
use crate::segment::{
    check_headers, list_dir, read_whole, scan_segment, segment_file_name, SegmentInfo, Tail, SEGMENT_BYTES_LIMIT,
    TEMP_SUFFIX,
};
use crate::{BatchBuilder, Lsn};

/// Name of the lock file that keeps a second writer out of a log directory.
const LOCK_FILE: &str = "LOCK";
/// Zeros are written in chunks of this size when a segment is preallocated.
const ZERO_CHUNK_BYTES: usize = 1 << 20;

/// When appended frames are made durable with `fdatasync`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Durability {
    /// `fdatasync` after every appended batch before `append` returns: a returned append is
    /// durable. Callers get group commit by putting many records in one batch.
    EveryBatch,
    /// `fdatasync` at an append when at least this long has passed since the last one, and
    /// whenever the owner calls [`Log::sync_if_due`]. Up to that long of acknowledged appends can
    /// be lost in a machine crash (not in a process crash: the data is in the page cache).
    Interval(Duration),
    /// Only at segment roll-over, [`Log::sync`] and close. A machine crash may lose any unsynced
    /// appends; a process crash loses none.
    Never,
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
    /// Write zeros over each new segment's full size before use. On ext4 an fdatasync into an
    /// already-allocated, already-written region needs no journal commit; measured here this
    /// doubles group-commit throughput. Default true.
    pub preallocate: bool,
    /// The payload codec of the log's owner, stored in every segment header and checked on open.
    pub codec_id: u16,
}

impl Default for LogOptions {
    fn default() -> LogOptions {
        LogOptions {
            segment_bytes: 64 << 20,
            frame_payload_bytes_max: 16 << 20,
            durability: Durability::EveryBatch,
            preallocate: true,
            codec_id: 0,
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
    /// A segment file left half-created by a crash was removed (it never held data).
    TempSegmentRemoved {
        /// The removed file.
        path: PathBuf,
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
            RecoveryEvent::TempSegmentRemoved { path } => {
                write!(f, "removed unfinished segment {}", path.display())
            }
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
    /// Bytes the file is preallocated to (or its length).
    capacity: u64,
    /// True if no frame has been written in this segment.
    empty: bool,
}

/// An open, writable log. One per directory (a lock file keeps others out).
pub struct Log {
    dir: PathBuf,
    opts: LogOptions,
    payload_max: u32,
    active: Active,
    next_lsn: Lsn,
    synced_lsn: Lsn,
    last_sync: Instant,
    poisoned: Option<String>,
    recovery: Vec<RecoveryEvent>,
    frame_buf: Vec<u8>,
    shared: Arc<Shared>,
    /// The next segment, being zero-filled on a background thread while this one fills.
    preparing: Option<Preparing>,
    _lock: File,
    #[cfg(test)]
    fail_next: Option<FailPoint>,
}

#[cfg(test)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum FailPoint {
    Write,
    Sync,
}

fn sync_dir(dir: &Path) -> Result<(), LogError> {
    let d = File::open(dir).map_err(|e| LogError::io("open directory", dir, e))?;
    d.sync_all().map_err(|e| LogError::io("fsync directory", dir, e))
}

fn write_zeros(file: &File, path: &Path, from: u64, to: u64) -> Result<(), LogError> {
    let zeros = vec![0u8; ZERO_CHUNK_BYTES];
    let mut at = from;
    while at < to {
        let n = ((to - at) as usize).min(ZERO_CHUNK_BYTES);
        file.write_all_at(&zeros[..n], at).map_err(|e| LogError::io("write zeros", path, e))?;
        at += n as u64;
    }
    Ok(())
}

/// Creates a segment atomically: temp file, header, zeros, fsync, rename, fsync directory.
fn create_segment(dir: &Path, header: SegmentHeader, opts: &LogOptions) -> Result<Active, LogError> {
    let name = segment_file_name(header.base_lsn);
    let path = dir.join(&name);
    let tmp = dir.join(format!("{:020}{TEMP_SUFFIX}", header.base_lsn));
    let mut file = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(true)
        .open(&tmp)
        .map_err(|e| LogError::io("create segment", &tmp, e))?;
    file.write_all(&header.encode()).map_err(|e| LogError::io("write segment header", &tmp, e))?;
    let capacity = if opts.preallocate { opts.segment_bytes } else { SEGMENT_HEADER_BYTES as u64 };
    if opts.preallocate {
        write_zeros(&file, &tmp, SEGMENT_HEADER_BYTES as u64, capacity)?;
    }
    file.sync_all().map_err(|e| LogError::io("fsync segment", &tmp, e))?;
    fs::rename(&tmp, &path).map_err(|e| LogError::io("rename segment", &path, e))?;
    sync_dir(dir)?;
    Ok(Active { file, path, header, write_offset: SEGMENT_HEADER_BYTES as u64, capacity, empty: true })
}

/// A segment file made ready off the append path: zero-filled to full size and fsynced, but with
/// no header yet (its base LSN is known only at roll-over). Named `*.seg.tmp` until activated, so
/// a crash leaves nothing that open would take for part of the log.
struct Prepared {
    file: File,
    path: PathBuf,
}

fn prepare_segment(dir: &Path, seq: u64, size: u64) -> Result<Prepared, LogError> {
    let path = dir.join(format!("prepared-{seq:020}{TEMP_SUFFIX}"));
    let file = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(true)
        .open(&path)
        .map_err(|e| LogError::io("create segment", &path, e))?;
    write_zeros(&file, &path, 0, size)?;
    file.sync_all().map_err(|e| LogError::io("fsync segment", &path, e))?;
    Ok(Prepared { file, path })
}

/// Makes a prepared file the next segment: header, fdatasync, rename, fsync the directory.
fn activate_segment(dir: &Path, prepared: Prepared, header: SegmentHeader, capacity: u64) -> Result<Active, LogError> {
    let Prepared { file, path: tmp } = prepared;
    file.write_all_at(&header.encode(), 0).map_err(|e| LogError::io("write segment header", &tmp, e))?;
    file.sync_data().map_err(|e| LogError::io("fdatasync", &tmp, e))?;
    let path = dir.join(segment_file_name(header.base_lsn));
    fs::rename(&tmp, &path).map_err(|e| LogError::io("rename segment", &path, e))?;
    sync_dir(dir)?;
    Ok(Active { file, path, header, write_offset: SEGMENT_HEADER_BYTES as u64, capacity, empty: true })
}

type Preparing = std::thread::JoinHandle<Result<Prepared, LogError>>;

/// Starts preparing the segment with sequence number `seq` on a background thread.
fn spawn_prepare(dir: &Path, seq: u64, opts: &LogOptions) -> Option<Preparing> {
    if !opts.preallocate {
        return None;
    }
    let (dir, size) = (dir.to_path_buf(), opts.segment_bytes);
    std::thread::Builder::new().name("idres-log-prepare".into()).spawn(move || prepare_segment(&dir, seq, size)).ok()
}

fn join_prepared(handle: Preparing, dir: &Path) -> Result<Prepared, LogError> {
    handle.join().unwrap_or_else(|_| {
        Err(LogError::io("prepare segment", dir, std::io::Error::other("segment preparation thread panicked")))
    })
}

fn new_log_id() -> [u8; 16] {
    *uuid::Uuid::new_v4().as_bytes()
}

impl Log {
    /// Opens the log in `dir`, creating the directory and a first segment if there is none.
    ///
    /// Recovery: every segment header is checked (magic, version, CRC, log id, codec, sequence,
    /// name); the last segment is scanned frame by frame; a torn tail is zeroed and reported in
    /// [`Log::recovery`]; any other damage is [`LogError::Corrupt`] and nothing is changed.
    pub fn open(dir: impl AsRef<Path>, opts: LogOptions) -> Result<Log, LogError> {
        opts.check()?;
        let dir = dir.as_ref().to_path_buf();
        fs::create_dir_all(&dir).map_err(|e| LogError::io("create directory", &dir, e))?;
        let lock = lock_dir(&dir)?;
        let mut recovery = Vec::new();
        let listing = list_dir(&dir)?;
        for tmp in &listing.temp_files {
            fs::remove_file(tmp).map_err(|e| LogError::io("remove unfinished segment", tmp, e))?;
            recovery.push(RecoveryEvent::TempSegmentRemoved { path: tmp.clone() });
        }
        if !listing.temp_files.is_empty() {
            sync_dir(&dir)?;
        }
        let segments = check_headers(&listing, Some(opts.codec_id))?;
        let (active, segments, next_lsn) = match segments.last() {
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
        let preparing = spawn_prepare(&dir, active.header.segment_seq + 1, &opts);
        Ok(Log {
            preparing,
            dir,
            payload_max: opts.effective_payload_max(),
            opts,
            active,
            next_lsn,
            synced_lsn: next_lsn,
            last_sync: Instant::now(),
            poisoned: None,
            recovery,
            frame_buf: Vec::new(),
            shared,
            _lock: lock,
            #[cfg(test)]
            fail_next: None,
        })
    }

    /// What recovery did on open (empty after a clean shutdown).
    pub fn recovery(&self) -> &[RecoveryEvent] {
        &self.recovery
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
        self.shared.segments.read().map(|s| s.clone()).unwrap_or_default()
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
            self.poisoned = Some(err.to_string());
        }
        err
    }

    /// Appends `batch` as one frame (atomic on disk) and syncs it per the durability setting.
    ///
    /// An empty batch takes no LSN and writes nothing. A batch over the frame limit is refused
    /// with nothing written. A failed write or sync poisons the log.
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
        let end_lsn = first_lsn + batch.len() as u64;
        self.next_lsn = end_lsn;
        self.shared.written_end.store(end_lsn, Ordering::Release);
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
        Ok(Appended { first_lsn, end_lsn, durable })
    }

    fn write_frame(&mut self, frame: &[u8]) -> Result<(), LogError> {
        #[cfg(test)]
        if self.fail_next == Some(FailPoint::Write) {
            self.fail_next = None;
            let e = LogError::io("write frame", &self.active.path, std::io::Error::other("injected write failure"));
            return Err(self.poison(e));
        }
        let at = self.active.write_offset;
        if let Err(e) = self.active.file.write_all_at(frame, at) {
            let e = LogError::io("write frame", &self.active.path, e);
            return Err(self.poison(e));
        }
        self.active.write_offset += frame.len() as u64;
        self.active.capacity = self.active.capacity.max(self.active.write_offset);
        self.active.empty = false;
        Ok(())
    }

    /// Syncs every appended frame to disk (`fdatasync`). A failure poisons the log.
    pub fn sync(&mut self) -> Result<(), LogError> {
        self.check_poison()?;
        if self.synced_lsn == self.next_lsn {
            return Ok(());
        }
        #[cfg(test)]
        if self.fail_next == Some(FailPoint::Sync) {
            self.fail_next = None;
            let e = LogError::io("fdatasync", &self.active.path, std::io::Error::other("injected fsync failure"));
            return Err(self.poison(e));
        }
        // Without preallocation the file grows, and its size is metadata fdatasync must flush
        // anyway; sync_data covers that on Linux.
        if let Err(e) = self.active.file.sync_data() {
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

    /// Seals the active segment (synced first, so sealed segments are always complete on disk)
    /// and starts the next one.
    fn roll_over(&mut self) -> Result<(), LogError> {
        if let Err(e) = self.active.file.sync_data() {
            let e = LogError::io("fdatasync", &self.active.path, e);
            return Err(self.poison(e));
        }
        self.synced_lsn = self.next_lsn;
        self.shared.durable_end.store(self.synced_lsn, Ordering::Release);
        let header = SegmentHeader {
            codec_id: self.active.header.codec_id,
            segment_seq: self.active.header.segment_seq + 1,
            base_lsn: self.next_lsn,
            log_id: self.active.header.log_id,
        };
        // Normally the next file is ready (zero-filled and synced in the background); only the
        // header, one fdatasync, the rename and the directory fsync remain on the append path.
        let created = match self.preparing.take() {
            Some(handle) => join_prepared(handle, &self.dir)
                .and_then(|p| activate_segment(&self.dir, p, header, self.opts.segment_bytes)),
            None => create_segment(&self.dir, header, &self.opts),
        };
        let active = match created {
            Ok(a) => a,
            Err(e) => return Err(self.poison(e)),
        };
        self.preparing = spawn_prepare(&self.dir, header.segment_seq + 1, &self.opts);
        if let Ok(mut segs) = self.shared.segments.write() {
            segs.push(SegmentInfo { path: active.path.clone(), header });
        }
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
        // Drop joins the segment preparation and removes its file.
    }

    #[cfg(test)]
    pub(crate) fn inject_failure(&mut self, point: FailPoint) {
        self.fail_next = Some(point);
    }
}

impl Drop for Log {
    fn drop(&mut self) {
        // Best effort: an explicit close() reports errors; a drop cannot.
        if self.poisoned.is_none() && self.synced_lsn < self.next_lsn {
            let _ = self.active.file.sync_data();
        }
        // A prepared file holds no data; removing it keeps a clean shutdown free of leftovers
        // (open would remove it anyway, and report it).
        if let Some(handle) = self.preparing.take() {
            if let Ok(prepared) = join_prepared(handle, &self.dir) {
                let _ = fs::remove_file(&prepared.path);
            }
        }
    }
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

/// Scans the last segment, zeroes a torn tail, and makes it ready for appends.
fn recover_last(
    last: &SegmentInfo,
    opts: &LogOptions,
    recovery: &mut Vec<RecoveryEvent>,
) -> Result<(Active, Lsn), LogError> {
    let path = &last.path;
    let buf = read_whole(path)?;
    let mut frames = 0u64;
    let scan = scan_segment(&buf, path, last.header.base_lsn, true, |_, _| {
        frames += 1;
        true
    })?;
    drop(buf);
    let file =
        OpenOptions::new().read(true).write(true).open(path).map_err(|e| LogError::io("open segment", path, e))?;
    let file_len = file.metadata().map_err(|e| LogError::io("stat segment", path, e))?.len();
    if let Tail::Torn { offset, garbage_end, problem } = &scan.tail {
        write_zeros(&file, path, *offset, *garbage_end)?;
        file.sync_data().map_err(|e| LogError::io("fdatasync", path, e))?;
        recovery.push(RecoveryEvent::TornTailTruncated {
            segment: path.clone(),
            offset: *offset,
            bytes: garbage_end - offset,
            problem: problem.clone(),
            end_lsn: scan.end_lsn,
        });
    }
    let mut capacity = file_len;
    if opts.preallocate && file_len < opts.segment_bytes {
        write_zeros(&file, path, file_len, opts.segment_bytes)?;
        file.sync_all().map_err(|e| LogError::io("fsync segment", path, e))?;
        capacity = opts.segment_bytes;
    }
    let active = Active {
        file,
        path: path.clone(),
        header: last.header,
        write_offset: scan.end_offset,
        capacity,
        empty: frames == 0,
    };
    Ok((active, scan.end_lsn))
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
}

/// Checks every header and every frame of the log in `dir` without changing anything.
///
/// `codec_id`, if given, must match every segment. Damage is an error naming segment and offset;
/// a torn tail (which open would truncate) is reported, not an error.
pub fn verify(dir: impl AsRef<Path>, codec_id: Option<u16>) -> Result<VerifyReport, LogError> {
    let dir = dir.as_ref();
    let listing = list_dir(dir)?;
    let segments = check_headers(&listing, codec_id)?;
    let mut report = VerifyReport {
        segments: segments.len(),
        frames: 0,
        start_lsn: segments.first().map_or(0, |s| s.header.base_lsn),
        end_lsn: 0,
        frame_bytes: 0,
        torn_tail: None,
    };
    report.end_lsn = report.start_lsn;
    for (i, seg) in segments.iter().enumerate() {
        let is_last = i + 1 == segments.len();
        if seg.header.base_lsn != report.end_lsn {
            return Err(LogError::corrupt(
                &seg.path,
                24,
                Damage::BaseLsnGap { expected: report.end_lsn, found: seg.header.base_lsn },
            ));
        }
        let buf = read_whole(&seg.path)?;
        let scan = scan_segment(&buf, &seg.path, seg.header.base_lsn, is_last, |f, _| {
            report.frames += 1;
            report.frame_bytes += f.header.frame_bytes();
            true
        })?;
        if let Tail::Torn { offset, .. } = scan.tail {
            report.torn_tail = Some((seg.path.clone(), offset));
        }
        if let Some(next) = segments.get(i + 1) {
            if scan.end_lsn != next.header.base_lsn {
                return Err(LogError::corrupt(
                    &seg.path,
                    scan.end_offset,
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
/// up to the cut is checked; damage before it is an error (choose an earlier LSN); whatever follows the
/// cut, damaged or not, is discarded: zeroed in the cut segment, later segment files deleted.
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
    let kept = crate::segment::Listing { segments: listing.segments[..keep_count].to_vec(), temp_files: Vec::new() };
    let segments = check_headers(&kept, None)?;
    let Some(last) = segments.last() else {
        return Ok(RepairReport { end_lsn: 0, removed_segments: Vec::new(), cut: None });
    };
    // Every frame that stays must be sound: check the kept segments before the cut one whole.
    for pair in segments.windows(2) {
        let (seg, next) = (&pair[0], &pair[1]);
        let buf = read_whole(&seg.path)?;
        let scan = scan_segment(&buf, &seg.path, seg.header.base_lsn, false, |_, _| true)?;
        if scan.end_lsn != next.header.base_lsn {
            return Err(LogError::corrupt(
                &seg.path,
                scan.end_offset,
                Damage::SegmentEndsEarly { ends_at: scan.end_lsn, next_base: next.header.base_lsn },
            ));
        }
    }
    let buf = read_whole(&last.path)?;
    let mut cut_at: Option<u64> =
        if last.header.base_lsn == target_end { Some(SEGMENT_HEADER_BYTES as u64) } else { None };
    let mut spanning: Option<(Lsn, Lsn)> = None;
    let scan = if cut_at.is_some() {
        None
    } else {
        Some(scan_segment(&buf, &last.path, last.header.base_lsn, true, |f, off| {
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
    let file =
        OpenOptions::new().write(true).open(&last.path).map_err(|e| LogError::io("open segment", &last.path, e))?;
    if garbage_end > cut {
        write_zeros(&file, &last.path, cut, garbage_end)?;
        file.sync_data().map_err(|e| LogError::io("fdatasync", &last.path, e))?;
    }
    let mut removed = Vec::new();
    for (_, path) in listing.segments[keep_count..].iter().rev() {
        fs::remove_file(path).map_err(|e| LogError::io("remove segment", path, e))?;
        removed.push(path.clone());
    }
    removed.reverse();
    if !removed.is_empty() {
        sync_dir(dir)?;
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
    fn failed_sync_poisons_every_later_append() {
        let dir = tempfile::tempdir().unwrap();
        let mut log = Log::open(dir.path(), small()).unwrap();
        log.append(&batch(&[b"a"])).unwrap();
        log.inject_failure(FailPoint::Sync);
        let err = log.append(&batch(&[b"b"])).unwrap_err();
        assert!(matches!(err, LogError::Io { op: "fdatasync", .. }), "{err}");
        for _ in 0..3 {
            assert!(matches!(log.append(&batch(&[b"c"])), Err(LogError::Poisoned { .. })));
        }
        assert!(matches!(log.sync(), Err(LogError::Poisoned { .. })));
        assert_eq!(log.durable_lsn(), 1, "the failed batch is never reported durable");
        assert!(log.poisoned().unwrap().contains("injected fsync failure"));
    }

    #[test]
    fn failed_write_poisons() {
        let dir = tempfile::tempdir().unwrap();
        let mut log = Log::open(dir.path(), small()).unwrap();
        log.inject_failure(FailPoint::Write);
        assert!(matches!(log.append(&batch(&[b"a"])), Err(LogError::Io { op: "write frame", .. })));
        assert!(matches!(log.append(&batch(&[b"a"])), Err(LogError::Poisoned { .. })));
        assert_eq!(log.next_lsn(), 0);
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
