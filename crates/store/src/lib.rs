//! idres-store: the persisted read model — profiles by id, CID and UID — behind [`ProfileStore`].
//!
//! The store is a **cache of the log**: the engine feeds it, off the acknowledgement path, one
//! [`StoreBatch`] per flush (the newest version of each changed profile, coalesced, never one write
//! per record), and a store that is missing, behind or damaged is rebuilt from the log. So its
//! damage costs a rebuild, never data. It keeps no event history (that stays in the fold).
//!
//! Three implementations share one contract and one test suite: [`FjallStore`] (on disk, fjall
//! 3: the default), [`SledStore`] (on disk, sled 0.34: supported) and [`MemoryStore`] (nothing
//! persisted: tests, and services that need no read model). [`StoreBackend`] chooses one; the two
//! on-disk ones share their key layout (`layout.rs`).
//!
//! **Architecture invariant:** after a crash the store says an applied LSN whose batch, and every
//! batch before it, it holds whole. fjall applies a batch atomically; sled in parts of at most
//! [`SLED_BATCH_OPS_MAX`] operations, the applied LSN in the last (its memory), so parts of the
//! batch after that LSN may be in too — harmless, because writes are idempotent and the engine
//! writes every profile changed since the applied LSN again.
//!
//! **Architecture invariant:** the store never decodes bytes it has not checked: a damaged value
//! is a [`StoreError::Corrupt`] naming the key, never a panic.

mod backend;
mod fjall_store;
mod layout;
mod load;
mod memory;
mod sled_store;

use idres_model::{Cid, CodecError, Profile, Uid};
use uuid::Uuid;

pub use backend::StoreBackend;
pub use fjall_store::{FjallOptions, FjallStore, FJALL_LOCK_WAIT};
pub use load::{load_in_batches, StoreLoad, LOAD_BATCH, LOAD_BATCHES_PER_FLUSH};
pub use memory::MemoryStore;
pub use sled_store::{SledOptions, SledStore, SLED_BATCH_OPS_MAX, SLED_LOCK_WAIT};

/// A log sequence number.
pub type Lsn = u64;

/// Redirects are followed at most this many hops (a chain longer than any real merge history;
/// a longer one, or a cycle, is damage).
pub const REDIRECT_HOPS_MAX: usize = 1024;

/// A key of the read model's index: a customer, or a device node (a uid at an epoch).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum IndexKey {
    /// The customer node of this CID.
    Cid(Cid),
    /// The device node of this uid at this epoch.
    Device(Uid, u32),
}

/// One flush: what changed since the last one, coalesced. Applied in the order of its fields:
/// retirements, upserts, index entries, then the applied LSN.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct StoreBatch {
    /// Every record up to (not including) this LSN is reflected once the batch is applied.
    pub applied_lsn: Lsn,
    /// The newest version of every profile that exists and changed. Upserts are idempotent. An
    /// upsert does not index the profile's nodes: [`StoreBatch::index`] does, for the nodes that
    /// need it ([`StoreBatch::index_upserts`] adds every node of every upsert).
    pub upserts: Vec<Profile>,
    /// Ids that no longer name a profile, each with the id of the profile that now holds the node
    /// it named (a redirect: reads of the id, and of index entries pointing to it, follow it).
    pub retired: Vec<(Uuid, Uuid)>,
    /// Index entries: a node, and the id of the profile holding it (or any id whose redirects
    /// lead there). Only nodes that are new or moved need one; a merge needs none, because the
    /// retired id's redirect leads its nodes' entries to the survivor.
    pub index: Vec<(IndexKey, Uuid)>,
}

impl StoreBatch {
    /// Adds an index entry for every CID and device node of every upsert, pointing to it: the
    /// whole index of the profiles the batch writes.
    pub fn index_upserts(mut self) -> StoreBatch {
        for p in &self.upserts {
            self.index.extend(p.cids.iter().map(|c| (IndexKey::Cid(c.clone()), p.id)));
            self.index.extend(p.uids.iter().map(|d| (IndexKey::Device(d.uid.clone(), d.epoch), p.id)));
        }
        self
    }
}

/// A stored profile already encoded ([`idres_model::encode_profile_ref_into`] or
/// [`idres_model::encode_profile_into`]): what a rebuild hands [`ProfileStore::load`], so that
/// the profiles are encoded where they are materialised, not one at a time in the store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EncodedProfile {
    /// The profile's id.
    pub id: Uuid,
    /// Its stored bytes.
    pub bytes: Vec<u8>,
}

impl EncodedProfile {
    /// `profile` encoded (its history is not stored).
    pub fn of(profile: &Profile) -> Result<EncodedProfile, StoreError> {
        let mut bytes = Vec::new();
        idres_model::encode_profile_into(profile, &mut bytes)
            .map_err(|source| StoreError::Encode { id: profile.id, source })?;
        Ok(EncodedProfile { id: profile.id, bytes })
    }
}

/// Errors of a store.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// sled failed.
    #[error("sled store: {op}")]
    Sled {
        /// What the store was doing.
        op: &'static str,
        /// The database's error.
        #[source]
        source: sled::Error,
    },
    /// fjall failed.
    #[error("fjall store: {op}")]
    Fjall {
        /// What the store was doing.
        op: &'static str,
        /// The database's error.
        #[source]
        source: FjallError,
    },
    /// The database panicked (on a damaged file it did not expect): contained, and damage.
    #[error("{backend} store panicked during {op}: {message}")]
    Panicked {
        /// `fjall` or `sled`.
        backend: &'static str,
        /// What the store was doing.
        op: &'static str,
        /// The panic's message.
        message: String,
    },
    /// A stored value is damaged: rebuild the store from the log.
    #[error("store damaged at key {key}: {detail}")]
    Corrupt {
        /// The key, printed.
        key: String,
        /// What is wrong.
        detail: String,
    },
    /// A profile could not be encoded (it exceeds the stored-profile limits).
    #[error("profile {id} cannot be stored")]
    Encode {
        /// The profile.
        id: Uuid,
        /// Why.
        #[source]
        source: CodecError,
    },
    /// A load's profiles were not in ascending id order (the caller's mistake, not damage).
    #[error("load: profile {id} is not after the profile before it")]
    OutOfOrder {
        /// The profile out of order.
        id: Uuid,
    },
    /// The store's database is not open (reopening it after a clear failed).
    #[error("the store is not open: reopening it after clearing it failed")]
    Closed,
    /// A batch older than what the store already reflects.
    #[error("batch up to LSN {batch} is older than the store, which reflects LSN {applied}")]
    StaleBatch {
        /// The batch's applied LSN.
        batch: Lsn,
        /// The store's.
        applied: Lsn,
    },
}

impl StoreError {
    /// True if the database could not use its files for a reason outside them — its lock held by
    /// another process, permissions, a read-only or full file system — so that rebuilding would not
    /// help and must not be tried. An I/O error that says the files themselves are wrong (a file
    /// missing or cut short, bytes that do not parse) is damage: false.
    pub fn is_io(&self) -> bool {
        match self {
            _ if self.is_locked() => true,
            StoreError::Sled { source: sled::Error::Io(e), .. }
            | StoreError::Fjall { source: FjallError(fjall::Error::Io(e)), .. } => environmental(e.kind()),
            _ => false,
        }
    }

    /// True if the database's lock is held by another open of it (another process, or a handle
    /// of this one): it is in use, not damaged.
    pub fn is_locked(&self) -> bool {
        match self {
            StoreError::Sled { source: sled::Error::Io(e), .. } => e.to_string().contains("could not acquire lock"),
            StoreError::Fjall { source: FjallError(fjall::Error::Locked), .. } => true,
            _ => false,
        }
    }

    /// The kind of the OS error, if the database failed to read or write its files (a lock held
    /// elsewhere is [`std::io::ErrorKind::WouldBlock`] for fjall; sled reports it as `Other`).
    pub fn io_kind(&self) -> Option<std::io::ErrorKind> {
        match self {
            StoreError::Sled { source: sled::Error::Io(e), .. }
            | StoreError::Fjall { source: FjallError(fjall::Error::Io(e)), .. } => Some(e.kind()),
            StoreError::Fjall { source: FjallError(fjall::Error::Locked), .. } => Some(std::io::ErrorKind::WouldBlock),
            _ => None,
        }
    }
}

/// An OS error about the environment of the files, not their contents.
fn environmental(kind: std::io::ErrorKind) -> bool {
    use std::io::ErrorKind::*;
    matches!(
        kind,
        PermissionDenied
            | ReadOnlyFilesystem
            | StorageFull
            | QuotaExceeded
            | WouldBlock
            | ResourceBusy
            | OutOfMemory
            | Interrupted
            | TimedOut
    )
}

/// fjall's error, said once: fjall's own `Display` repeats its cause in `Debug` form, which a
/// printed error chain would then say a second time.
#[derive(Debug)]
pub struct FjallError(pub fjall::Error);

impl std::fmt::Display for FjallError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.0 {
            fjall::Error::Io(_) => f.write_str("I/O error"),
            fjall::Error::Storage(_) => f.write_str("storage error"),
            fjall::Error::JournalRecovery(_) => f.write_str("journal recovery failed"),
            fjall::Error::Locked => f.write_str("the database is locked: another process has it open"),
            other => write!(f, "{other:?}"),
        }
    }
}

impl std::error::Error for FjallError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        std::error::Error::source(&self.0)
    }
}

/// [`StoreError::StaleBatch`] if `batch` is older than the `applied` LSN the store reflects.
pub(crate) fn check_not_stale(applied: Option<Lsn>, batch: &StoreBatch) -> Result<(), StoreError> {
    match applied {
        Some(applied) if batch.applied_lsn < applied => {
            Err(StoreError::StaleBatch { batch: batch.applied_lsn, applied })
        }
        _ => Ok(()),
    }
}

/// Runs `f`, a call into a database, containing a panic as [`StoreError::Panicked`]: a database
/// that panics on a damaged file must cost a rebuild, never the process.
pub(crate) fn contained<T>(backend: &'static str, op: &'static str, f: impl FnOnce() -> T) -> Result<T, StoreError> {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)).map_err(|payload| {
        let message = payload
            .downcast_ref::<&str>()
            .map(|s| (*s).to_string())
            .or_else(|| payload.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "a panic without a message".into());
        StoreError::Panicked { backend, op, message }
    })
}

/// The persisted read model.
///
/// Contract (every implementation, `tests/suite.rs`): [`apply`](ProfileStore::apply) writes a
/// batch atomically — first every retirement (the profile is removed, its id redirects to the
/// survivor), then every upsert (the profile is written, a redirect of its id is removed), then
/// every index entry (the CID or device node points to the id given), then the applied LSN, which
/// never goes backwards. Lookups by id follow redirects; lookups by CID or device follow their
/// entry, then redirects. [`load`](ProfileStore::load) writes a whole read model into an emptied
/// store and answers as the same content applied as one batch would.
pub trait ProfileStore: Send {
    /// Applies one batch atomically.
    fn apply(&mut self, batch: &StoreBatch) -> Result<(), StoreError>;
    /// The LSN the store reflects (`None`: nothing applied yet).
    fn applied_lsn(&self) -> Result<Option<Lsn>, StoreError>;
    /// The profile with this id, following redirects of retired ids.
    fn profile(&self, id: Uuid) -> Result<Option<Profile>, StoreError>;
    /// The profile that holds customer `cid`.
    fn profile_by_cid(&self, cid: &Cid) -> Result<Option<Profile>, StoreError>;
    /// The profile that holds device node `(uid, epoch)` (`uid` canonical).
    fn profile_by_uid(&self, uid: &Uid, epoch: u32) -> Result<Option<Profile>, StoreError>;
    /// Makes everything applied so far durable.
    fn flush(&mut self) -> Result<(), StoreError>;
    /// Removes everything (before a rebuild).
    fn clear(&mut self) -> Result<(), StoreError>;
    /// Loads a whole read model into this store, emptied by [`ProfileStore::clear`], and makes it
    /// durable: what a rebuild writes. Until it returns the store reflects nothing past LSN 0 (a
    /// crash part way costs the next open another rebuild). The default writes
    /// [`load_in_batches`]; fjall writes one sorted run straight to its tables, registered at once.
    fn load(&mut self, load: StoreLoad<'_>) -> Result<(), StoreError> {
        load_in_batches(self, load)
    }
}
