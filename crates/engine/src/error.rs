//! What can go wrong in an engine: [`EngineError`], one variant per kind of failure, each saying
//! what and where.
//!
//! Owns: the error type, how lower layers' errors become it, and the rule that a message is said
//! once (a `Display` never repeats its `#[source]`; `{e:#}` prints the chain). Does not own: the
//! lower layers' errors (`LogError`, `StoreError`, `CodecError` say their own part).

use std::path::{Path, PathBuf};
use std::sync::Arc;

use idres_log::{LogError, Lsn};
use idres_model::{CodecError, IdError, RecordError, TimeError, ValueError};
use idres_resolve::{ApplyEncodedError, ApplyError};
use idres_store::StoreError;

use crate::data_dir::DataDirError;

/// Errors of the engine. Each says what and where; the cause, if any, is its `source()`.
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    /// A caller's input is malformed (an id, an event name, a value over a limit, a timestamp, an
    /// LSN that was never written): nothing was appended. The model's errors a caller meets
    /// building a record (`IdError`, `ValueError`, `RecordError`, `TimeError`) convert into it.
    #[error("invalid input: {0}")]
    Invalid(String),
    /// The log failed.
    #[error(transparent)]
    Log(#[from] LogError),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The fold's state could not be made into a snapshot.
    #[error("snapshot {path}: {detail}")]
    Snapshot {
        /// The file.
        path: PathBuf,
        /// What went wrong.
        detail: String,
    },
    /// A record in the log does not decode: the log was written by something else or damaged.
    #[error("record at LSN {lsn} does not decode")]
    Undecodable {
        /// Its LSN.
        lsn: Lsn,
        /// Why.
        #[source]
        source: CodecError,
    },
    /// The fold refused a record the log holds (out of order, past the last LSN): a bug.
    #[error("the fold refused the record at LSN {lsn}")]
    Fold {
        /// Its LSN.
        lsn: Lsn,
        /// Why.
        #[source]
        source: ApplyError,
    },
    /// A file of the data directory is damaged or does not belong to it (a marker that holds no
    /// LSN, a snapshot of another log). `idres verify` tells more; `idres repair` or `rebuild`
    /// mends what can be mended.
    #[error("data damaged: {path}: {detail}")]
    Damaged {
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        detail: String,
    },
    /// The data directory lost acknowledged records: something has seen LSNs the log no longer
    /// holds (bit rot in the tail, a copied-over file). Run `idres verify`.
    #[error("data damaged, acknowledged records lost: {what} holds {}, but the log holds {}{}; run `idres verify`",
        idres_log::lsn_range(0, *seen), idres_log::lsn_range(0, *log_end),
        if log_recovery.is_empty() { String::new() } else { format!(" (log recovery on this open: {})", log_recovery.join("; ")) })]
    LostRecords {
        /// The snapshot or the store.
        what: String,
        /// The LSN it has seen (exclusive end).
        seen: Lsn,
        /// The log's end.
        log_end: Lsn,
        /// What the log's recovery did on this open (e.g. a torn tail it cut off).
        log_recovery: Vec<String>,
    },
    /// An earlier write or fsync failed; the engine accepts no more writes. The failure is the
    /// source ([`EngineError::poison_cause`]).
    #[error("engine is poisoned by an earlier failure")]
    Poisoned {
        /// The failure that poisoned it.
        #[source]
        cause: Arc<EngineError>,
    },
    /// One of the engine's threads panicked (a bug): what it was doing is not known to be done.
    #[error("the engine's {thread} thread panicked")]
    Panicked {
        /// Which thread: `writer`, `store` or `snapshot`.
        thread: &'static str,
    },
    /// Every acknowledged record is durable in the log, but the store (the read model, a cache of
    /// the log) could not be written, e.g. on a full disk. Nothing is lost: the next open brings
    /// the store up to date. Returned by [`crate::Engine::close`] and
    /// [`crate::Engine::wait_stored`].
    #[error("the store trails the log: every record before LSN {durable} is durable in the log, the store could not be written past LSN {stored}; the next open brings it up to date")]
    StoreBehind {
        /// Records durable in the log (the next LSN).
        durable: Lsn,
        /// Records the store reflects.
        stored: Lsn,
        /// Why the store could not be written.
        #[source]
        cause: Arc<EngineError>,
    },
    /// The engine is closed.
    #[error("engine is closed")]
    Closed,
    /// The engine was opened read-only ([`crate::Engine::open_read_only`]: a directory that
    /// cannot be written, or one a live writer holds): it takes no writes and has no store.
    #[error("the engine is open read-only (no writer, no store): {0}")]
    ReadOnly(&'static str),
    /// A file-system operation failed.
    #[error("{op} {path}")]
    Io {
        /// What the engine was doing.
        op: &'static str,
        /// The path.
        path: PathBuf,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
}

impl EngineError {
    /// The failure behind a [`EngineError::Poisoned`] (the first one, however deep), else `None`.
    pub fn poison_cause(&self) -> Option<&EngineError> {
        match self {
            EngineError::Poisoned { cause } => Some(cause.poison_cause().unwrap_or(cause)),
            _ => None,
        }
    }

    /// True if the data directory could not be written because the file system is read-only or
    /// permissions forbid it: [`crate::Engine::open_read_only`] can still read it.
    pub fn is_read_only_fs(&self) -> bool {
        use std::io::ErrorKind::{PermissionDenied, ReadOnlyFilesystem};
        let kind = match self {
            EngineError::Io { source, .. } | EngineError::Log(LogError::Io { source, .. }) => Some(source.kind()),
            EngineError::Store(e) => e.io_kind(),
            _ => None,
        };
        matches!(kind, Some(PermissionDenied | ReadOnlyFilesystem))
    }

    /// True if another engine (another process, or another open in this one) holds the data
    /// directory: the log's lock or the store's is held. Not damage:
    /// [`crate::Engine::open_read_only`] reads the directory beside that writer.
    pub fn is_locked(&self) -> bool {
        match self {
            EngineError::Log(LogError::Locked { .. }) => true,
            EngineError::Store(e) => e.is_locked(),
            _ => false,
        }
    }

    /// True if the error is about what is on disk (damage, lost records, a foreign file), as
    /// against a caller's input, a closed engine or an OS failure.
    pub fn is_damage(&self) -> bool {
        matches!(
            self,
            EngineError::Damaged { .. }
                | EngineError::LostRecords { .. }
                | EngineError::Undecodable { .. }
                | EngineError::Log(LogError::Corrupt { .. } | LogError::LostRecords { .. })
                | EngineError::Store(StoreError::Corrupt { .. })
        )
    }
}

/// A caller's malformed input, met while building a write: [`EngineError::Invalid`] with the same
/// message the engine's own check gives, so `?` on `Uid::parse`, `Value::try_from`,
/// `Timestamp::parse_rfc3339` or `Record::validate_shape` works in a function returning
/// `EngineError`.
macro_rules! invalid_from {
    ($($t:ty),*) => {$(
        impl From<$t> for EngineError {
            fn from(e: $t) -> EngineError {
                EngineError::Invalid(e.to_string())
            }
        }
    )*};
}

invalid_from!(IdError, ValueError, RecordError, TimeError);

impl From<DataDirError> for EngineError {
    fn from(e: DataDirError) -> EngineError {
        EngineError::Io { op: e.op, path: e.path, source: e.source }
    }
}

pub(crate) use idres_log::error_chain as chain;

/// A mapper of an OS error to [`EngineError::Io`] for `op` on `path`.
pub(crate) fn io<'a>(op: &'static str, path: &'a Path) -> impl Fn(std::io::Error) -> EngineError + 'a {
    move |source| EngineError::Io { op, path: path.to_path_buf(), source }
}

/// An error of [`idres_resolve::Resolver::apply_encoded`] at `lsn` as the engine reports it.
pub(crate) fn encoded_error(lsn: Lsn, e: ApplyEncodedError) -> EngineError {
    match e {
        ApplyEncodedError::Decode(source) => EngineError::Undecodable { lsn, source },
        ApplyEncodedError::Apply(source) => EngineError::Fold { lsn, source },
    }
}
