//! Segment files on disk: their names, their headers, and the scan that tells a clean end, a torn
//! tail and damage apart (and, read beside a live writer, a frame being written from damage:
//! `read_live_segment`). Writing and reading whole logs live in `log.rs` and `reader.rs`.

use std::fs::{self, File};
use std::io::Read;
use std::path::{Path, PathBuf};

use crate::error::{Damage, LogError};
use crate::format::{
    decode_frame, find_valid_frame_after, is_zero_header, FrameProblem, FrameRef, SegmentHeader, FRAME_HEADER_BYTES,
    SEGMENT_HEADER_BYTES,
};
use crate::Lsn;

/// Suffix of segment files.
pub(crate) const SEGMENT_SUFFIX: &str = ".seg";
/// Suffix of a segment being created; such a file never holds acknowledged data.
pub(crate) const TEMP_SUFFIX: &str = ".seg.tmp";

/// The largest segment file the log reads or writes. Recovery reads the last segment whole, so
/// this bounds the memory of an open.
pub const SEGMENT_BYTES_LIMIT: u64 = 1 << 30;

/// The largest frame payload any reader accepts, whatever the writer's configured limit was: a
/// frame must fit inside one segment.
pub(crate) const READ_PAYLOAD_LIMIT: u32 =
    (SEGMENT_BYTES_LIMIT as usize - SEGMENT_HEADER_BYTES - FRAME_HEADER_BYTES) as u32;

/// The largest base LSN a segment may have. Far beyond any real log (2^62 records), it keeps
/// every LSN sum in range: nothing read from a header can overflow the arithmetic.
pub(crate) const BASE_LSN_LIMIT: Lsn = 1 << 62;

/// `{base_lsn:020}.seg`: names sort in LSN order.
pub(crate) fn segment_file_name(base_lsn: Lsn) -> String {
    format!("{base_lsn:020}{SEGMENT_SUFFIX}")
}

fn parse_segment_name(name: &str) -> Option<Lsn> {
    let digits = name.strip_suffix(SEGMENT_SUFFIX)?;
    if digits.len() != 20 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

/// One segment of the log, as its header describes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SegmentInfo {
    /// Path of the segment file.
    pub path: PathBuf,
    /// Its checked header.
    pub header: SegmentHeader,
}

/// The segment files of a directory, in LSN order, plus leftovers of interrupted creations.
pub(crate) struct Listing {
    pub segments: Vec<(Lsn, PathBuf)>,
    pub temp_files: Vec<PathBuf>,
}

pub(crate) fn list_dir(dir: &Path) -> Result<Listing, LogError> {
    let mut segments = Vec::new();
    let mut temp_files = Vec::new();
    let entries = fs::read_dir(dir).map_err(|e| LogError::io("read directory", dir, e))?;
    for entry in entries {
        let entry = entry.map_err(|e| LogError::io("read directory", dir, e))?;
        let name = entry.file_name();
        let Some(name) = name.to_str() else { continue };
        if name.ends_with(TEMP_SUFFIX) {
            temp_files.push(entry.path());
        } else if let Some(base) = parse_segment_name(name) {
            segments.push((base, entry.path()));
        }
    }
    segments.sort();
    temp_files.sort();
    Ok(Listing { segments, temp_files })
}

pub(crate) fn read_header(path: &Path, lsn: Lsn) -> Result<SegmentHeader, LogError> {
    let mut f = File::open(path).map_err(|e| LogError::io("open segment", path, e))?;
    let mut buf = Vec::with_capacity(SEGMENT_HEADER_BYTES);
    f.by_ref()
        .take(SEGMENT_HEADER_BYTES as u64)
        .read_to_end(&mut buf)
        .map_err(|e| LogError::io("read segment header", path, e))?;
    SegmentHeader::decode(&buf).map_err(|p| LogError::corrupt(path, 0, lsn, Damage::Header(p)))
}

/// Reads and cross-checks every segment header: names, log id, codec, sequence and base LSNs.
///
/// `check_start`: the first segment must be segment 0 at LSN 0 (false only for `repair`, which
/// may be cutting a log whose first files are unreadable).
pub(crate) fn check_headers(
    listing: &Listing,
    codec_id: Option<u16>,
    check_start: bool,
) -> Result<Vec<SegmentInfo>, LogError> {
    let mut out: Vec<SegmentInfo> = Vec::with_capacity(listing.segments.len());
    for (name_base, path) in &listing.segments {
        let header = read_header(path, *name_base)?;
        if header.base_lsn != *name_base {
            return Err(LogError::corrupt(
                path,
                24,
                *name_base,
                Damage::NameMismatch { header_base_lsn: header.base_lsn },
            ));
        }
        if let Some(expected) = codec_id {
            if header.codec_id != expected {
                return Err(LogError::corrupt(
                    path,
                    10,
                    *name_base,
                    Damage::CodecMismatch { found: header.codec_id, expected },
                ));
            }
        }
        if header.base_lsn > BASE_LSN_LIMIT {
            return Err(LogError::corrupt(path, 24, *name_base, Damage::BaseLsnTooLarge { base_lsn: header.base_lsn }));
        }
        if out.is_empty() && check_start && (header.segment_seq != 0 || header.base_lsn != 0) {
            // Until the log can drop old segments, it starts at LSN 0 in segment 0: anything else
            // means the first segment file is missing.
            return Err(LogError::corrupt(
                path,
                16,
                *name_base,
                Damage::MissingStart { segment_seq: header.segment_seq, base_lsn: header.base_lsn },
            ));
        }
        if let Some(first) = out.first() {
            // Every segment names its log: one from another log is refused, naming both files.
            if header.log_id != first.header.log_id {
                return Err(LogError::corrupt(
                    path,
                    32,
                    *name_base,
                    Damage::ForeignSegment {
                        first_segment: first.path.clone(),
                        log_id: first.header.log_id,
                        found: header.log_id,
                    },
                ));
            }
        }
        if let Some(prev) = out.last() {
            let expected_seq = prev.header.segment_seq.wrapping_add(1);
            if header.segment_seq != expected_seq {
                return Err(LogError::corrupt(
                    path,
                    16,
                    *name_base,
                    Damage::SequenceGap { expected: expected_seq, found: header.segment_seq },
                ));
            }
            // Sorting by name already orders base LSNs; equal bases cannot both parse from names.
        }
        out.push(SegmentInfo { path: path.clone(), header });
    }
    Ok(out)
}

/// Reads the segment at `path` whole; `base_lsn` (its first LSN) names where damage is.
pub(crate) fn read_whole(path: &Path, base_lsn: Lsn) -> Result<Vec<u8>, LogError> {
    let f = File::open(path).map_err(|e| LogError::io("open segment", path, e))?;
    let len = f.metadata().map_err(|e| LogError::io("stat segment", path, e))?.len();
    if len > SEGMENT_BYTES_LIMIT {
        return Err(LogError::corrupt(
            path,
            0,
            base_lsn,
            Damage::Frame(FrameProblem::PastEnd { frame_bytes: len, remaining: SEGMENT_BYTES_LIMIT }),
        ));
    }
    let mut buf = Vec::with_capacity(len as usize);
    f.take(SEGMENT_BYTES_LIMIT).read_to_end(&mut buf).map_err(|e| LogError::io("read segment", path, e))?;
    Ok(buf)
}

/// Reads of the last segment [`read_live_segment`] makes before it gives up on damage that moves.
const LIVE_READS_MAX: usize = 16;

/// Reads the last segment of a log that a live writer may be appending to (a reader without the
/// lock: [`crate::ReadOnlyLog`], [`crate::verify`]) and scans it strictly. A frame being written
/// while it is read can show as zeros (or a part of it) with a later, whole frame after it, which
/// one read cannot tell from damage. The writer never changes a byte before its write offset,
/// so damage read again at the same offset is damage; damage that moved, or is gone, was a write
/// in flight: the segment is read again. A frame torn at the end of what was read is the
/// scan's torn tail (read up to, as for any torn tail). Returns the bytes read and their scan.
pub(crate) fn read_live_segment(path: &Path, base_lsn: Lsn) -> Result<(Vec<u8>, Scan), LogError> {
    read_live_with(path, base_lsn, || read_whole(path, base_lsn))
}

/// [`read_live_segment`] with `read` reading the segment's bytes (a test gives it reads of its
/// own).
fn read_live_with(
    path: &Path,
    base_lsn: Lsn,
    mut read: impl FnMut() -> Result<Vec<u8>, LogError>,
) -> Result<(Vec<u8>, Scan), LogError> {
    let mut seen: Option<(u64, Damage)> = None;
    let mut reads = 0;
    loop {
        let buf = read()?;
        reads += 1;
        match scan_segment(&buf, path, base_lsn, TailPolicy::Strict, |_, _| true) {
            Ok(scan) => return Ok((buf, scan)),
            Err(LogError::Corrupt { segment, offset, lsn, damage }) => {
                let again = seen.as_ref().is_some_and(|(o, d)| *o == offset && *d == damage);
                if again || reads >= LIVE_READS_MAX {
                    return Err(LogError::Corrupt { segment, offset, lsn, damage });
                }
                seen = Some((offset, damage));
            }
            Err(e) => return Err(e),
        }
    }
}

/// How the frames of a segment end.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Tail {
    /// After the last frame: nothing, or zeros only.
    Clean,
    /// The last segment ends in a frame that was being written when the process or machine died:
    /// no valid frame follows it. Bytes `offset..garbage_end` are not part of the log.
    /// `damaged` is true only under point-in-time recovery, when the bad frame is not a plain
    /// tear (a valid frame follows it, or its checksum holds): strict recovery would refuse it.
    Torn { offset: u64, garbage_end: u64, problem: FrameProblem, damaged: bool },
}

/// What a bad frame in the last segment means.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum TailPolicy {
    /// This is not the last segment: its frames end where the next segment begins
    /// (`next_base`), and every bad frame before that is damage. What follows is its unused zero
    /// tail: not data, so a non-zero byte there is reported ([`Scan::stray_at`]), never a cut.
    Sealed { next_base: Lsn },
    /// The last segment: a bad frame with nothing valid after it is a torn tail; one followed by
    /// a valid frame is damage.
    Strict,
    /// The last segment: the log is the longest valid prefix; everything from the first bad frame
    /// on is cut off (and reported).
    PointInTime,
}

/// Result of scanning one segment's frames.
#[derive(Debug, Clone)]
pub(crate) struct Scan {
    /// Byte offset just after the last valid frame.
    pub end_offset: u64,
    /// One past the LSN of the last valid frame's last record.
    pub end_lsn: Lsn,
    pub tail: Tail,
    /// Sealed segments only: the byte offset of the first non-zero byte past the last frame (in
    /// the unused zero tail). Not data and not damage: a warning.
    pub stray_at: Option<u64>,
}

/// The offset of the first non-zero byte of `buf` at or after `from`.
pub(crate) fn first_nonzero(buf: &[u8], from: usize) -> Option<u64> {
    buf.get(from..)?.iter().position(|&b| b != 0).map(|p| (from + p) as u64)
}

/// Walks the frames of one whole segment file in `buf`, checking every frame.
///
/// A bad frame is a torn tail only if this is the last segment and no valid frame follows it
/// anywhere; every other bad frame is damage. `on_frame` sees each valid frame and its offset and
/// may stop the scan early by returning `false`.
pub(crate) fn scan_segment(
    buf: &[u8],
    path: &Path,
    base_lsn: Lsn,
    policy: TailPolicy,
    mut on_frame: impl FnMut(&FrameRef<'_>, u64) -> bool,
) -> Result<Scan, LogError> {
    let mut at = SEGMENT_HEADER_BYTES;
    let mut lsn = base_lsn;
    loop {
        if let TailPolicy::Sealed { next_base } = policy {
            if lsn == next_base {
                // The sealed segment's frames are complete; the rest is its unused tail.
                return Ok(Scan {
                    end_offset: at as u64,
                    end_lsn: lsn,
                    tail: Tail::Clean,
                    stray_at: first_nonzero(buf, at),
                });
            }
        }
        let rest = &buf[at.min(buf.len())..];
        let problem = if rest.is_empty() {
            return Ok(Scan { end_offset: at as u64, end_lsn: lsn, tail: Tail::Clean, stray_at: None });
        } else if rest.len() < FRAME_HEADER_BYTES || is_zero_header(rest) {
            if rest.iter().all(|&b| b == 0) {
                return Ok(Scan { end_offset: at as u64, end_lsn: lsn, tail: Tail::Clean, stray_at: None });
            }
            // Zeros where a header should be, yet bytes follow: a write whose first page was lost,
            // or a zeroed frame in front of valid ones. The search below tells which.
            if rest.len() < FRAME_HEADER_BYTES {
                FrameProblem::ShortHeader { remaining: rest.len() as u64 }
            } else {
                FrameProblem::BadLength { len: 0, max: READ_PAYLOAD_LIMIT }
            }
        } else {
            match decode_frame(rest, lsn, READ_PAYLOAD_LIMIT) {
                Ok(frame) => {
                    if !on_frame(&frame, at as u64) {
                        return Ok(Scan { end_offset: at as u64, end_lsn: lsn, tail: Tail::Clean, stray_at: None });
                    }
                    lsn = frame.end_lsn();
                    at += frame.header.frame_bytes() as usize;
                    continue;
                }
                Err(p) => p,
            }
        };
        let garbage_end = buf.iter().rposition(|&b| b != 0).map_or(at, |p| p + 1).max(at) as u64;
        let torn = |damaged: bool| Scan {
            end_offset: at as u64,
            end_lsn: lsn,
            tail: Tail::Torn { offset: at as u64, garbage_end, problem: problem.clone(), damaged },
            stray_at: None,
        };
        // A frame whose checksum holds but whose content is wrong was written that way: no tear
        // produces it.
        let checksum_held = matches!(
            problem,
            FrameProblem::Kind(_)
                | FrameProblem::Flags(_)
                | FrameProblem::LsnGap { .. }
                | FrameProblem::RecordTable
                | FrameProblem::LsnOverflow
        );
        let valid_after = if checksum_held {
            None
        } else {
            find_valid_frame_after(buf, at + 1, lsn, READ_PAYLOAD_LIMIT).map(|v| v as u64)
        };
        return match policy {
            TailPolicy::PointInTime => Ok(torn(checksum_held || valid_after.is_some())),
            TailPolicy::Sealed { .. } => Err(LogError::corrupt(path, at as u64, lsn, Damage::Frame(problem))),
            TailPolicy::Strict if checksum_held => Err(LogError::corrupt(path, at as u64, lsn, Damage::Frame(problem))),
            TailPolicy::Strict => match valid_after {
                Some(valid_at) => {
                    Err(LogError::corrupt(path, at as u64, lsn, Damage::ValidFrameFollows { problem, valid_at }))
                }
                None => Ok(torn(false)),
            },
        };
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::panic)]
    use super::*;
    use crate::format::encode_frame;

    /// A segment at LSN 0 holding `frames` one-record frames of 3000 bytes each, and where each
    /// frame starts.
    fn segment(frames: u64) -> (Vec<u8>, Vec<usize>) {
        let header = SegmentHeader { codec_id: 1, segment_seq: 0, base_lsn: 0, log_id: [9; 16] };
        let mut buf = header.encode().to_vec();
        let mut starts = Vec::new();
        for lsn in 0..frames {
            starts.push(buf.len());
            let record = vec![lsn as u8 + 1; 3000];
            encode_frame(&mut buf, lsn, 1, 1, std::iter::once(3000), std::iter::once(&record[..]));
        }
        (buf, starts)
    }

    /// `whole` with the frame at `start` zeroed from byte 100 on: as a read that overtook the
    /// write of that frame sees it.
    fn torn_at(whole: &[u8], start: usize) -> Vec<u8> {
        let mut torn = whole.to_vec();
        torn[start + 100..start + 2000].fill(0);
        torn
    }

    #[test]
    fn a_frame_read_while_it_was_written_is_read_again_not_damage() {
        let (whole, starts) = segment(4);
        let torn = torn_at(&whole, starts[1]);
        // One read alone cannot tell it from damage: a bad frame, and a whole one after it.
        let once = scan_segment(&torn, Path::new("s"), 0, TailPolicy::Strict, |_, _| true);
        assert!(matches!(once, Err(LogError::Corrupt { damage: Damage::ValidFrameFollows { .. }, .. })));
        let mut reads = vec![whole.clone(), torn];
        let (buf, scan) = read_live_with(Path::new("s"), 0, || Ok(reads.pop().unwrap())).unwrap();
        assert!(reads.is_empty(), "read twice");
        assert_eq!(buf, whole);
        assert_eq!((scan.end_lsn, scan.tail), (4, Tail::Clean));
    }

    #[test]
    fn damage_that_moves_is_read_again_and_a_torn_end_is_read_up_to() {
        // The second read overtakes a later frame being written, the third finds it still being
        // written at the end: a torn tail, read up to.
        let (whole, starts) = segment(5);
        let mut end_torn = whole[..starts[4] + 1000].to_vec();
        end_torn.resize(whole.len(), 0);
        let mut reads = vec![end_torn, torn_at(&whole, starts[3]), torn_at(&whole, starts[1])];
        let (_, scan) = read_live_with(Path::new("s"), 0, || Ok(reads.pop().unwrap())).unwrap();
        assert!(reads.is_empty(), "read three times");
        assert_eq!(scan.end_lsn, 4);
        assert!(matches!(scan.tail, Tail::Torn { offset, .. } if offset == starts[4] as u64));
    }

    #[test]
    fn damage_read_again_at_the_same_place_is_damage() {
        let (whole, starts) = segment(4);
        let torn = torn_at(&whole, starts[1]);
        let mut reads = 0;
        let e = read_live_with(Path::new("s"), 0, || {
            reads += 1;
            Ok(torn.clone())
        })
        .unwrap_err();
        assert_eq!(reads, 2, "read once more, then reported");
        let LogError::Corrupt { offset, lsn, damage: Damage::ValidFrameFollows { valid_at, .. }, .. } = e else {
            panic!("{e:?}")
        };
        assert_eq!((offset, lsn, valid_at), (starts[1] as u64, 1, starts[2] as u64));
    }

    #[test]
    fn damage_that_keeps_moving_is_reported_after_a_bounded_number_of_reads() {
        let (whole, starts) = segment(LIVE_READS_MAX as u64 + 2);
        let mut reads = 0;
        let e = read_live_with(Path::new("s"), 0, || {
            reads += 1;
            Ok(torn_at(&whole, starts[reads]))
        })
        .unwrap_err();
        assert_eq!(reads, LIVE_READS_MAX);
        assert!(matches!(e, LogError::Corrupt { damage: Damage::ValidFrameFollows { .. }, .. }));
    }
}
