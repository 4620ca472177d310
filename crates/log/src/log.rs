//! The writer side of the log: open and recover a directory, append frames, roll segments over,
//! sync per the durability setting, poison on failure. (What open does to recover the directory
//! is in `recovery.rs`; reading without writing, `verify` and `repair` in `offline.rs`.)
//!
//! Every change to the directory goes through `idres_io` at a named fail point: segment files
//! being made (`Site::Segment`), frames and their fdatasync (`Site::Frame`), the seal fsync at
//! roll-over (`Site::Seal`), recovery zeroing a torn tail (`Site::TornTail`), and directory
//! fsyncs and temp-file removals (`Site::LogDir`).

use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::thread::JoinHandle;
use std::time::Instant;

use crate::error::LogError;
use crate::format::{SegmentHeader, FRAME_HEADER_BYTES, SEGMENT_HEADER_BYTES};
use crate::options::{Durability, LogOptions};
use crate::reader::{ReadHandle, Reader, Shared};
use crate::recovery::{adopt_temp_files, check_sealed_end, recover_last, RecoveryEvent};
use crate::segment::{check_headers, list_dir, segment_file_name, SegmentInfo, TEMP_SUFFIX};
use crate::{BatchBuilder, Lsn};
use idres_io::Site;

/// Name of the lock file that keeps a second writer out of a log directory.
/// Zeros are written in chunks of this size when a segment is preallocated.
const ZERO_CHUNK_BYTES: usize = 1 << 20;
/// Prefix of a segment file prepared ahead of time: `prepared-{seq:020}.seg.tmp`.
pub(crate) const PREPARED_PREFIX: &str = "prepared-";

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

/// The segment being written.
pub(crate) struct Active {
    pub(crate) file: File,
    pub(crate) path: PathBuf,
    pub(crate) header: SegmentHeader,
    /// Where the next frame goes.
    pub(crate) write_offset: u64,
    /// True if no frame has been written in this segment.
    pub(crate) empty: bool,
}

/// A segment file made ready off the append path: zero-filled to full size and fsynced, but with
/// no header yet (its base LSN is known only at roll-over). Named `*.seg.tmp` until activated, so
/// a crash leaves nothing that open would take for part of the log.
pub(crate) struct Prepared {
    pub(crate) file: File,
    pub(crate) path: PathBuf,
}

/// The segment after the active one.
pub(crate) enum Next {
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

pub(crate) fn sync_dir(dir: &Path) -> Result<(), LogError> {
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
    idres_io::create_dir_all(Site::LogDir, dir).map_err(|e| LogError::io("create directory", dir, e))?;
    for d in missing.iter().rev() {
        let parent = match d.parent() {
            Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
            _ => PathBuf::from("."),
        };
        sync_dir(&parent)?;
    }
    Ok(())
}

pub(crate) fn write_zeros(site: Site, file: &File, path: &Path, from: u64, to: u64) -> Result<(), LogError> {
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

pub(crate) fn prepared_path(dir: &Path, seq: u64) -> PathBuf {
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
        let lock = crate::lock::lock_dir(&dir)?;
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::offline::repair;
    use std::time::Duration;

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
        use crate::is_locked;
        let dir = tempfile::tempdir().unwrap();
        assert!(!is_locked(dir.path()).unwrap(), "no lock file");
        assert!(!is_locked(dir.path().join("missing")).unwrap(), "no directory");
        let log = Log::open(dir.path(), small()).unwrap();
        assert!(is_locked(dir.path()).unwrap());
        drop(log);
        assert!(!is_locked(dir.path()).unwrap(), "released");
        assert!(!is_locked(dir.path()).unwrap(), "the probe released it too");
        let _log = Log::open(dir.path(), small()).unwrap();
        // The refused writer is told who holds it: this process wrote its id.
        let me = Some(std::process::id());
        assert!(matches!(Log::open(dir.path(), small()), Err(LogError::Locked { holder, .. }) if holder == me));
        assert_eq!(crate::lock_holder(dir.path()).unwrap(), Some(me));
        let msg = Log::open(dir.path(), small()).err().unwrap().to_string();
        assert!(msg.contains(&format!("(process {})", std::process::id())), "{msg}");
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
