//! The log read without its lock, or changed while no writer has it open: [`ReadOnlyLog`]
//! (audits, `idres verify`, readers beside a live writer: nothing written, a torn tail reported,
//! not cut), [`verify`] (every frame of every segment checked) and [`repair`] (cut after an LSN,
//! crash-safe in its order).

use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicU64;
use std::sync::{Arc, RwLock};

use idres_io::Site;

use crate::error::{Damage, LogError};
use crate::format::SEGMENT_HEADER_BYTES;
use crate::lock::lock_dir;
use crate::log::{sync_dir, write_zeros};
use crate::reader::{ReadHandle, Reader, Shared};
use crate::recovery::check_sealed_end;
use crate::segment::{
    check_headers, list_dir, read_header, read_live_segment, read_whole, scan_segment, Listing, Tail, TailPolicy,
};
use crate::Lsn;

/// A log opened for reading only (audits, `verify`, a reader beside a live writer): nothing in
/// the directory is written, no lock is taken, and a torn tail is not cut but reported; the
/// records before it can be read. Beside a live writer it reads the log as it is at the open: a
/// frame being appended as the last segment is read is a torn tail (read up to), never damage;
/// every frame before [`ReadOnlyLog::end_lsn`] is whole and stays so.
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
    /// segment is [`LogError::Corrupt`], as for [`Log::open`](crate::Log::open); `codec_id` (if given) must match.
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
                // A writer may be appending to it as it is read (no lock is taken).
                let (_, scan) = read_live_segment(&last.path, last.header.base_lsn)?;
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

    /// A cloneable handle for reading the log (ranges, its id), as [`crate::Log::read_handle`].
    pub fn read_handle(&self) -> ReadHandle {
        self.handle.clone()
    }
}

/// The id of the log in `dir` and its first segment, read from that segment's header without
/// opening the log (no lock, no recovery): `None` if there is no such directory or it holds no
/// segment. An error if the first segment's header cannot be read or is damaged.
pub fn log_id_of(dir: impl AsRef<Path>) -> Result<Option<([u8; 16], PathBuf)>, LogError> {
    let dir = dir.as_ref();
    if !dir.is_dir() {
        return Ok(None);
    }
    let listing = list_dir(dir)?;
    match listing.segments.first() {
        None => Ok(None),
        Some((base, path)) => Ok(Some((read_header(path, *base)?.log_id, path.clone()))),
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
        // The last segment may be being appended to (no lock is taken): read until it reads
        // the same twice where it looks damaged.
        let buf = match policy {
            TailPolicy::Strict => read_live_segment(&seg.path, seg.header.base_lsn)?.0,
            _ => read_whole(&seg.path, seg.header.base_lsn)?,
        };
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
    repair_with(dir, lsn, || Ok(()))
}

/// [`repair`], calling `before_cut` once the lock is held and the cut is known to be sound, just
/// before anything of the log is changed: the place for the log's owner to remove what has seen
/// past the cut (its snapshots, its read model), under the lock and only if the repair will go
/// ahead. An error of `before_cut` stops the repair with the log unchanged.
pub fn repair_with<E: From<LogError>>(
    dir: impl AsRef<Path>,
    lsn: Option<Lsn>,
    before_cut: impl FnOnce() -> Result<(), E>,
) -> Result<RepairReport, E> {
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
        before_cut()?;
        return Ok(RepairReport { end_lsn: 0, removed_segments: Vec::new(), cut: None });
    };
    // Every frame that stays must be sound: check the kept segments before the cut one whole.
    for pair in segments.windows(2) {
        let (seg, next) = (&pair[0], &pair[1]);
        let buf = read_whole(&seg.path, seg.header.base_lsn)?;
        let policy = TailPolicy::Sealed { next_base: next.header.base_lsn };
        let scan = scan_segment(&buf, &seg.path, seg.header.base_lsn, policy, |_, _| true)?;
        if scan.end_lsn != next.header.base_lsn {
            return Err(E::from(LogError::corrupt(
                &seg.path,
                scan.end_offset,
                scan.end_lsn,
                Damage::SegmentEndsEarly { ends_at: scan.end_lsn, next_base: next.header.base_lsn },
            )));
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
        return Err(E::from(LogError::NotABatchBoundary { lsn: target_end - 1, first, end }));
    }
    let Some(cut) = cut_at else {
        let end = scan.map_or(last.header.base_lsn, |s| s.end_lsn);
        return Err(E::from(LogError::LsnOutOfRange { lsn: target_end.saturating_sub(1), start: 0, end }));
    };
    let garbage_end = buf.iter().rposition(|&b| b != 0).map_or(0, |p| p + 1) as u64;
    drop(buf);
    before_cut()?;
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
