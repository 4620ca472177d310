//! The sled store: one tree, keys by prefix ([`crate::layout`]), a batch written as sled batches
//! of at most [`SLED_BATCH_OPS_MAX`] operations.
//!
//! sled is a supported backend, not the default (fjall is: 5–10× sled's write rate, flat memory;
//! docs/PERFORMANCE.md). Its measured ~40–80 k random inserts/s is why the engine writes one
//! upsert per changed profile per flush, on its own thread. The cache size and the flush policy
//! are set explicitly ([`SledOptions`]); by default sled does not flush on a timer — the engine
//! calls [`ProfileStore::flush`] when it wants the store durable.
//!
//! **Why batches are split**: sled holds one epoch guard across an `apply_batch`, and what it
//! frees in the meantime waits for that guard (sled #1309): one batch of ~8,600 operations (a
//! store chunk of 4,096 profiles with their CIDs and devices) held 2.6 GB at 2 M records. At most
//! [`SLED_BATCH_OPS_MAX`] operations per `apply_batch` keeps it flat. The applied LSN is written by
//! the last sled batch, so a crash in between leaves part of the store batch in with the store
//! still saying the LSN before it: upserts and redirects are idempotent, and the next open writes
//! every profile changed since that LSN again.
//!
//! sled panics on some damaged files (a truncated `db` indexes out of bounds in its page cache):
//! every call into sled goes through [`crate::contained`], which turns a panic into
//! [`StoreError::Panicked`], damage that the engine rebuilds.

use std::collections::HashSet;
use std::path::Path;

use idres_model::{Cid, Profile, Uid};
use uuid::Uuid;

use crate::layout::{self, Reads, Writes};
use crate::{contained, Lsn, ProfileStore, StoreBatch, StoreError};

/// How long [`SledStore::open`] waits for sled's file lock to be released.
pub const SLED_LOCK_WAIT: std::time::Duration = std::time::Duration::from_secs(2);

/// Most operations in one sled `apply_batch` (see the module docs: sled's memory).
pub const SLED_BATCH_OPS_MAX: usize = 512;

/// sled 0.34 reports a held lock as an `Other` I/O error with this text (pinned version).
fn is_lock_held(e: &std::io::Error) -> bool {
    e.to_string().contains("could not acquire lock")
}

/// How the sled store is opened.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SledOptions {
    /// sled's page cache, in bytes. Default 128 MiB.
    pub cache_bytes: u64,
    /// sled's background flush interval; `None` (default): only explicit flushes.
    pub flush_every_ms: Option<u64>,
}

impl Default for SledOptions {
    fn default() -> SledOptions {
        SledOptions { cache_bytes: 128 << 20, flush_every_ms: None }
    }
}

/// The sled store.
pub struct SledStore {
    db: sled::Db,
    /// The retired ids that have a redirect in the store (read at open): an upsert removes a
    /// redirect only where one exists.
    redirects: HashSet<Uuid>,
}

impl std::fmt::Debug for SledStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SledStore").finish_non_exhaustive()
    }
}

fn sled_err(op: &'static str) -> impl Fn(sled::Error) -> StoreError {
    move |source| StoreError::Sled { op, source }
}

/// Runs `f` on sled, a panic contained.
fn guarded<T>(op: &'static str, f: impl FnOnce() -> sled::Result<T>) -> Result<T, StoreError> {
    contained("sled", op, f)?.map_err(sled_err(op))
}

/// The writes of a batch, applied as sled batches of at most [`SLED_BATCH_OPS_MAX`] operations.
struct Chunked<'a> {
    db: &'a sled::Db,
    batch: sled::Batch,
    ops: usize,
}

impl Chunked<'_> {
    fn apply(&mut self) -> Result<(), StoreError> {
        if self.ops > 0 {
            let b = std::mem::take(&mut self.batch);
            self.ops = 0;
            guarded("apply batch", || self.db.apply_batch(b))?;
        }
        Ok(())
    }

    fn counted(&mut self) -> Result<(), StoreError> {
        self.ops += 1;
        if self.ops >= SLED_BATCH_OPS_MAX {
            self.apply()?;
        }
        Ok(())
    }
}

impl Writes for Chunked<'_> {
    fn put(&mut self, k: Vec<u8>, v: &[u8]) -> Result<(), StoreError> {
        self.batch.insert(k, v);
        self.counted()
    }

    fn remove(&mut self, k: Vec<u8>) -> Result<(), StoreError> {
        self.batch.remove(k);
        self.counted()
    }
}

impl SledStore {
    /// Opens (or creates) the store in directory `dir`.
    ///
    /// sled releases its directory's file lock only when its background I/O threads have let go
    /// of the database, a moment after the last handle is dropped: an open that finds the lock
    /// held retries for up to [`SLED_LOCK_WAIT`] before it reports the error (a store opened right
    /// after a close in the same process; a store really in use elsewhere still fails).
    pub fn open(dir: impl AsRef<Path>, options: &SledOptions) -> Result<SledStore, StoreError> {
        let config = sled::Config::new()
            .path(dir.as_ref())
            .cache_capacity(options.cache_bytes)
            .flush_every_ms(options.flush_every_ms)
            .mode(sled::Mode::HighThroughput);
        let started = std::time::Instant::now();
        let db = loop {
            match contained("sled", "open", || config.open())? {
                Ok(db) => break db,
                Err(sled::Error::Io(e)) if is_lock_held(&e) && started.elapsed() < SLED_LOCK_WAIT => {
                    std::thread::sleep(std::time::Duration::from_millis(10));
                }
                Err(e) => return Err(sled_err("open")(e)),
            }
        };
        let redirects = guarded("read redirects", || {
            db.scan_prefix([b'r']).map(|kv| kv.map(|(k, _)| k)).collect::<sled::Result<Vec<_>>>()
        })?
        .iter()
        .map(|k| layout::redirect_key_id(k))
        .collect::<Result<HashSet<_>, _>>()?;
        Ok(SledStore { db, redirects })
    }

    /// Writes raw bytes under a raw key, bypassing every check: for tests that damage the store.
    #[doc(hidden)]
    pub fn insert_raw_for_tests(&self, k: &[u8], v: &[u8]) -> Result<(), StoreError> {
        guarded("write", || self.db.insert(k, v)).map(|_| ())
    }
}

impl Reads for SledStore {
    type Value = sled::IVec;

    fn get(&self, k: &[u8]) -> Result<Option<sled::IVec>, StoreError> {
        guarded("read", || self.db.get(k))
    }
}

impl ProfileStore for SledStore {
    fn apply(&mut self, batch: &StoreBatch) -> Result<(), StoreError> {
        crate::check_not_stale(self.applied_lsn()?, batch)?;
        let mut w = Chunked { db: &self.db, batch: sled::Batch::default(), ops: 0 };
        let written = layout::write_batch(batch, &self.redirects, &mut w).and_then(|()| w.apply());
        // Also after a failure part-way: the sled batches already in are in (a redirect the set
        // does not know of only costs a blind remove later; one it knows that is gone, nothing).
        layout::note_redirects(batch, &mut self.redirects);
        written
    }

    fn applied_lsn(&self) -> Result<Option<Lsn>, StoreError> {
        layout::read_applied(self)
    }

    fn profile(&self, id: Uuid) -> Result<Option<Profile>, StoreError> {
        layout::read_profile(self, id)
    }

    fn profile_by_cid(&self, cid: &Cid) -> Result<Option<Profile>, StoreError> {
        layout::read_by_cid(self, cid)
    }

    fn profile_by_uid(&self, uid: &Uid, epoch: u32) -> Result<Option<Profile>, StoreError> {
        layout::read_by_uid(self, uid, epoch)
    }

    fn flush(&mut self) -> Result<(), StoreError> {
        guarded("flush", || self.db.flush()).map(|_| ())
    }

    fn clear(&mut self) -> Result<(), StoreError> {
        self.redirects.clear();
        guarded("clear", || self.db.clear())?;
        self.flush()
    }
}
