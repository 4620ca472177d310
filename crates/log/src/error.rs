//! The one error type of the log. Every variant says what went wrong and where.

use std::path::PathBuf;

use crate::format::{FrameProblem, HeaderProblem};
use crate::Lsn;

/// What exactly is wrong at a damaged place in the log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Damage {
    /// The segment header is unreadable or invalid.
    Header(HeaderProblem),
    /// A frame failed a check.
    Frame(FrameProblem),
    /// A bad frame is followed by a valid one, so it is not a torn tail.
    ValidFrameFollows {
        /// The problem of the bad frame.
        problem: FrameProblem,
        /// Byte offset of the valid frame found after it.
        valid_at: u64,
    },
    /// The segment file name does not match its header's base LSN.
    NameMismatch {
        /// The base LSN in the header.
        header_base_lsn: Lsn,
    },
    /// The segment belongs to another log: its log id differs from the first segment's.
    ForeignSegment {
        /// The log's first segment, whose log id the others must carry.
        first_segment: PathBuf,
        /// The log id of the first segment.
        log_id: [u8; 16],
        /// The log id found in this segment.
        found: [u8; 16],
    },
    /// A segment's header changed after the log was opened (the file was replaced).
    HeaderChanged,
    /// The first segment is not segment 0 at LSN 0: earlier segment files are missing.
    MissingStart {
        /// Sequence number of the first segment found.
        segment_seq: u64,
        /// Its base LSN.
        base_lsn: Lsn,
    },
    /// A base LSN beyond any real log.
    BaseLsnTooLarge {
        /// The base LSN in the header.
        base_lsn: Lsn,
    },
    /// The segment's payload codec differs from the one the owner expects.
    CodecMismatch {
        /// Codec id stored in the segment header.
        found: u16,
        /// Codec id the owner opened the log with.
        expected: u16,
    },
    /// Segment sequence numbers are not consecutive.
    SequenceGap {
        /// The sequence number that should come next.
        expected: u64,
        /// The one found.
        found: u64,
    },
    /// The segment's base LSN does not continue the previous segment.
    BaseLsnGap {
        /// The LSN where the previous segment ended (or should have).
        expected: Lsn,
        /// The base LSN in the header.
        found: Lsn,
    },
    /// A sealed segment ends before the next segment's base LSN: frames are missing.
    SegmentEndsEarly {
        /// LSN at which its frames end.
        ends_at: Lsn,
        /// Base LSN of the following segment.
        next_base: Lsn,
    },
}

impl std::fmt::Display for Damage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Damage::Header(p) => write!(f, "{p}"),
            Damage::Frame(p) => write!(f, "{p}"),
            Damage::ValidFrameFollows { problem, valid_at } => {
                write!(f, "{problem}, and a valid frame follows at byte offset {valid_at} (damage, not a torn tail)")
            }
            Damage::NameMismatch { header_base_lsn } => {
                write!(f, "file name does not match the header's base LSN {header_base_lsn}")
            }
            Damage::ForeignSegment { first_segment, log_id, found } => write!(
                f,
                "segment belongs to another log: its log id {} differs from {} of the log's first segment {}",
                hex(found),
                hex(log_id),
                first_segment.display()
            ),
            Damage::HeaderChanged => write!(f, "segment header changed since the log was opened (file replaced)"),
            Damage::MissingStart { segment_seq, base_lsn } => write!(
                f,
                "the log's first segment is segment {segment_seq} at LSN {base_lsn}, not segment 0 at LSN 0: earlier segments are missing"
            ),
            Damage::BaseLsnTooLarge { base_lsn } => write!(f, "base LSN {base_lsn} is beyond any real log"),
            Damage::CodecMismatch { found, expected } => {
                write!(f, "segment payload codec {found}, expected {expected}")
            }
            Damage::SequenceGap { expected, found } => {
                write!(f, "segment sequence {found}, expected {expected}")
            }
            Damage::BaseLsnGap { expected, found } => {
                write!(f, "segment base LSN {found}, expected {expected}")
            }
            Damage::SegmentEndsEarly { ends_at, next_base } => {
                write!(f, "sealed segment ends at LSN {ends_at} but the next segment starts at {next_base}")
            }
        }
    }
}

fn hex(id: &[u8; 16]) -> String {
    id.iter().map(|b| format!("{b:02x}")).collect()
}

/// Shows the LSN at a damage and the last record before it (what repair keeps).
struct DamageLsn(Lsn);

impl std::fmt::Display for DamageLsn {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.0.checked_sub(1) {
            Some(last) => write!(f, "at LSN {}; the last record before it is LSN {last}", self.0),
            None => write!(f, "at LSN 0; no record before it"),
        }
    }
}

/// Errors of the log.
#[derive(Debug, thiserror::Error)]
pub enum LogError {
    /// An operating-system call failed. The Display says what and where; the OS error is the
    /// [`std::error::Error::source`] (printed once by `{e:#}` or an error-chain walker).
    #[error("{op} {path}")]
    Io {
        /// What the log was doing.
        op: &'static str,
        /// The file or directory.
        path: PathBuf,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// The bytes on disk are damaged or inconsistent. `idres verify` names all damage; repair
    /// truncates after the last good LSN.
    #[error("log damaged: segment {segment} at byte offset {offset} ({at}): {damage}", at = DamageLsn(*lsn))]
    Corrupt {
        /// The segment file.
        segment: PathBuf,
        /// Byte offset in that file.
        offset: u64,
        /// The LSN at the damage: the first record that cannot be read there. Records before it
        /// end at `lsn - 1`, the LSN to give `idres repair --truncate-after` to keep them.
        lsn: Lsn,
        /// What is wrong.
        damage: Damage,
    },
    /// The log ends before records its owner knows were acknowledged
    /// ([`crate::LogOptions::keep_at_least`]): they were lost (bit rot at the tail, a missing or
    /// older file). Nothing was changed.
    #[error("log {at} holds {} (its valid frames end at byte offset {offset}) but {} were acknowledged: {} were lost; nothing was changed (see verify and repair)",
        crate::lsn_range(0, *end_lsn), crate::lsn_range(0, *required), crate::lsn_range(*end_lsn, *required))]
    LostRecords {
        /// The last segment (or the log directory, if it holds no segment).
        at: PathBuf,
        /// Where its valid frames end.
        offset: u64,
        /// One past the last readable record.
        end_lsn: Lsn,
        /// The acknowledged end.
        required: Lsn,
    },
    /// An earlier write or fsync failed: the log refuses every later write, because after a failed
    /// fsync the kernel may have dropped the dirty pages and no later fsync could tell.
    #[error("log is poisoned by an earlier failure and accepts no more writes: {cause}")]
    Poisoned {
        /// The first failure.
        cause: String,
    },
    /// A batch larger than the frame limit; nothing was written.
    #[error("batch of {bytes} payload bytes exceeds the frame limit of {max} bytes")]
    BatchTooLarge {
        /// Payload bytes of the batch.
        bytes: u64,
        /// The configured limit.
        max: u32,
    },
    /// Another process (or handle) holds the log open for writing.
    #[error("log directory {path} is locked by another writer{}", holder.map_or(String::new(), |p| format!(" (process {p})")))]
    Locked {
        /// The lock file.
        path: PathBuf,
        /// The process id the holder wrote into the lock file, if it did (advice for people).
        holder: Option<u32>,
    },
    /// The options are inconsistent.
    #[error("invalid log options: {0}")]
    InvalidOptions(String),
    /// The requested LSN lies outside the log.
    #[error("LSN {lsn} is outside the log (it holds {})", crate::lsn_range(*start, *end))]
    LsnOutOfRange {
        /// The LSN asked for.
        lsn: Lsn,
        /// First LSN the log holds.
        start: Lsn,
        /// One past the last LSN the log holds.
        end: Lsn,
    },
    /// Repair must cut between batches: the LSN lies inside a frame.
    #[error("LSN {lsn} lies inside the batch LSN {first}..={last}; truncate after {before} or after {last}",
        before = match first.checked_sub(1) { Some(b) => b.to_string(), None => "nothing (keep no record)".to_string() },
        last = end.saturating_sub(1))]
    NotABatchBoundary {
        /// The LSN asked for.
        lsn: Lsn,
        /// First LSN of the batch that holds it.
        first: Lsn,
        /// One past its last LSN.
        end: Lsn,
    },
}

/// `e` and every error in its source chain, joined with ": " (as anyhow's `{e:#}` prints it): how
/// the crates above the log put an error into words without the binary's anyhow.
pub fn chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut out = e.to_string();
    let mut at = e.source();
    while let Some(s) = at {
        out.push_str(": ");
        out.push_str(&s.to_string());
        at = s.source();
    }
    out
}

impl LogError {
    pub(crate) fn io(op: &'static str, path: impl Into<PathBuf>, source: std::io::Error) -> LogError {
        LogError::Io { op, path: path.into(), source }
    }

    pub(crate) fn corrupt(segment: impl Into<PathBuf>, offset: u64, lsn: Lsn, damage: Damage) -> LogError {
        LogError::Corrupt { segment: segment.into(), offset, lsn, damage }
    }
}
