//! idres-log: a segmented, append-only, crash-safe log of opaque record batches.
//!
//! The log stores **batches of opaque byte records**; it knows nothing about what a record means
//! (the engine encodes records with `idres-model`'s codec and hands the log bytes). Every record
//! gets a log sequence number (LSN), dense from 0. One batch is one frame on disk and is atomic:
//! after a crash either all of its records are there or none are.
//!
//! - [`Log::open`] recovers a directory: checks every segment header, scans the last segment,
//!   truncates a torn tail (reported in [`Log::recovery`]) and refuses anything else that is wrong
//!   with [`LogError::Corrupt`] naming the segment and byte offset.
//! - [`Log::append`] writes a [`BatchBuilder`] as one frame and syncs it per [`Durability`].
//! - [`Log::reader`] / [`ReadHandle::reader`] read from any LSN without scanning the whole log.
//! - [`ReadOnlyLog::open`] reads a log without its lock, also beside a live writer (a frame being
//!   appended is the end of what is read, never damage); [`is_locked`] tells whether a writer
//!   holds it.
//! - [`verify`] checks every frame of a log directory; [`repair`] truncates after a given LSN.
//!
//! **Architecture invariant:** the log never decodes a record and never allocates a size read from
//! disk before checking it against a limit and the file length.
//!
//! **Architecture invariant:** after a failed write or fsync the log is poisoned: every later
//! append fails; nothing is reported durable that might not be.
//!
//! docs/FORMAT.md describes the bytes; docs/ARCHITECTURE.md the fsync steps.
//!
//! ```
//! use idres_log::{BatchBuilder, Log, LogOptions};
//!
//! # fn main() -> Result<(), idres_log::LogError> {
//! let dir = tempfile::tempdir().map_err(|e| idres_log::LogError::InvalidOptions(e.to_string()))?;
//! let mut log = Log::open(dir.path(), LogOptions::default())?;
//! let mut batch = BatchBuilder::new(1);
//! batch.push(b"first")?;
//! batch.push(b"second")?;
//! let appended = log.append(&batch)?; // one frame, fdatasynced before it returns
//! assert_eq!((appended.first_lsn, appended.end_lsn), (0, 2));
//!
//! let mut records = Vec::new();
//! log.reader(1)?.for_each_record(|lsn, bytes| records.push((lsn, bytes.to_vec())))?;
//! assert_eq!(records, vec![(1, b"second".to_vec())]);
//! # Ok(())
//! # }
//! ```

mod error;
pub mod format;
mod lock;
mod log;
mod offline;
mod options;
mod reader;
mod recovery;
mod segment;

pub use error::{chain as error_chain, Damage, LogError};
pub use lock::{is_locked, lock_holder};
pub use log::{Appended, Log};
pub use offline::{log_id_of, repair, repair_with, verify, ReadOnlyLog, RepairReport, VerifyReport};
pub use options::{Durability, LogOptions, TailRecovery};
pub use reader::{ReadFrame, ReadHandle, Reader};
pub use recovery::RecoveryEvent;
pub use segment::{SegmentInfo, SEGMENT_BYTES_LIMIT};

/// A log sequence number: the position of a record in the log, from 0.
pub type Lsn = u64;

/// The LSNs `start..end` (an exclusive end, as positions and counts are kept) as every message
/// says them: the inclusive `LSN 3..=9`, or `no records` when the range is empty.
pub fn lsn_range(start: Lsn, end: Lsn) -> String {
    match end.checked_sub(1) {
        Some(last) if last >= start => format!("LSN {start}..={last}"),
        _ => "no records".to_string(),
    }
}

/// The records of one batch, collected before they are appended as one frame.
///
/// Records are stored back to back in one buffer; building a batch allocates only when the
/// buffer grows. Reuse a builder with [`BatchBuilder::clear`].
#[derive(Debug, Clone)]
pub struct BatchBuilder {
    schema: u16,
    lens: Vec<u32>,
    data: Vec<u8>,
}

impl BatchBuilder {
    /// An empty batch whose payload follows the owner's `schema` version (stored in the frame).
    pub fn new(schema: u16) -> BatchBuilder {
        BatchBuilder { schema, lens: Vec::new(), data: Vec::new() }
    }

    /// Adds one record. Fails only if the record alone is larger than 4 GiB.
    pub fn push(&mut self, record: &[u8]) -> Result<(), LogError> {
        let len = u32::try_from(record.len())
            .map_err(|_| LogError::BatchTooLarge { bytes: record.len() as u64, max: u32::MAX })?;
        self.lens.push(len);
        self.data.extend_from_slice(record);
        Ok(())
    }

    /// Adds one record written by `write` straight into the batch buffer (no copy). If `write`
    /// fails, the batch is left as it was.
    pub fn push_with<E>(&mut self, write: impl FnOnce(&mut Vec<u8>) -> Result<(), E>) -> Result<(), E>
    where
        E: From<LogError>,
    {
        let start = self.data.len();
        if let Err(e) = write(&mut self.data) {
            self.data.truncate(start);
            return Err(e);
        }
        let written = self.data.len() - start;
        match u32::try_from(written) {
            Ok(len) => {
                self.lens.push(len);
                Ok(())
            }
            Err(_) => {
                self.data.truncate(start);
                Err(LogError::BatchTooLarge { bytes: written as u64, max: u32::MAX }.into())
            }
        }
    }

    /// Number of records in the batch.
    pub fn len(&self) -> usize {
        self.lens.len()
    }

    /// True if the batch holds no record.
    pub fn is_empty(&self) -> bool {
        self.lens.is_empty()
    }

    /// The payload size this batch will have in its frame (record table included).
    pub fn payload_bytes(&self) -> u64 {
        4 + 4 * self.lens.len() as u64 + self.data.len() as u64
    }

    /// The payload schema version.
    pub fn schema(&self) -> u16 {
        self.schema
    }

    /// Keeps the first `len` records and removes the rest (no-op if the batch holds no more).
    pub fn truncate(&mut self, len: usize) {
        if len < self.lens.len() {
            let keep: u64 = self.lens[..len].iter().map(|&l| u64::from(l)).sum();
            self.lens.truncate(len);
            self.data.truncate(keep as usize);
        }
    }

    /// The records, in order.
    pub fn records(&self) -> impl Iterator<Item = &[u8]> {
        let mut at = 0usize;
        self.lens.iter().map(move |&len| {
            let r = &self.data[at..at + len as usize];
            at += len as usize;
            r
        })
    }

    /// Removes every record, keeping the buffers.
    pub fn clear(&mut self) {
        self.lens.clear();
        self.data.clear();
    }

    pub(crate) fn encode_frame(&self, out: &mut Vec<u8>, first_lsn: Lsn) {
        let lens = self.lens.iter().copied();
        format::encode_frame(
            out,
            first_lsn,
            self.schema,
            self.lens.len() as u32,
            lens,
            std::iter::once(&self.data[..]),
        );
    }
}
