//! How a log is opened and written: its options ([`LogOptions`]), when appends are synced
//! ([`Durability`]) and what open does with damage at the end of the last segment
//! ([`TailRecovery`]).

use std::time::Duration;

use crate::error::LogError;
use crate::format::{FRAME_HEADER_BYTES, SEGMENT_HEADER_BYTES};
use crate::segment::SEGMENT_BYTES_LIMIT;
use crate::Lsn;

/// When appended frames are made durable with `fdatasync`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Durability {
    /// `fdatasync` after every appended batch before `append` returns: a returned append is
    /// durable. Callers get group commit by putting many records in one batch.
    EveryBatch,
    /// `fdatasync` at an append when at least this long has passed since the last one, and
    /// whenever the owner calls [`Log::sync_if_due`](crate::Log::sync_if_due). A machine crash can lose the appends since
    /// the last sync: up to about twice the interval if the owner calls `sync_if_due` at least
    /// every interval, unbounded if nobody does. A process crash loses nothing (the data is in
    /// the page cache).
    Interval(Duration),
    /// Only at segment roll-over, [`Log::sync`](crate::Log::sync) and close. A machine crash may lose any unsynced
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
    /// segment and report it ([`RecoveryEvent::DamagedTailTruncated`](crate::RecoveryEvent::DamagedTailTruncated)). For
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
    pub(crate) fn check(&self) -> Result<(), LogError> {
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
