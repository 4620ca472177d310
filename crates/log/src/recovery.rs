//! Recovery on open: what it reports ([`RecoveryEvent`]), the check of the sealed segment before
//! the last, the removal of leftover temp files (kept: a prepared next segment), and the scan of
//! the last segment that cuts a torn tail and makes it ready for appends.

use std::path::{Path, PathBuf};

use idres_io::Site;

use crate::error::{Damage, LogError};
use crate::format::FrameProblem;
use crate::log::{prepared_path, sync_dir, write_zeros, Active, Next, Prepared, PREPARED_PREFIX};
use crate::options::{LogOptions, TailRecovery};
use crate::reader::Reader;
use crate::segment::{read_whole, scan_segment, Listing, SegmentInfo, Tail, TailPolicy};
use crate::Lsn;

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

/// Checks that the frames of sealed segment `prev` end exactly where the next segment begins
/// (frame headers only: a cheap walk that catches a sealed segment cut short or overrun).
/// Returns the offset of a non-zero byte past its last frame, a warning (see
/// [`RecoveryEvent::StrayBytesAfterSeal`]).
pub(crate) fn check_sealed_end(prev: &SegmentInfo, next_base: Lsn) -> Result<Option<u64>, LogError> {
    let (end, offset, stray) = Reader::segment_end(prev, next_base)?;
    if end != next_base {
        return Err(LogError::corrupt(&prev.path, offset, end, Damage::SegmentEndsEarly { ends_at: end, next_base }));
    }
    Ok(stray)
}

/// Removes leftovers of interrupted segment creations (reported), except a prepared file for
/// the segment after the active one, which is kept and used at the next roll-over.
pub(crate) fn adopt_temp_files(
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
pub(crate) fn recover_last(
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
