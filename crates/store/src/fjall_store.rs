//! The fjall store, the default: one keyspace, keys by prefix ([`crate::layout`]), one fjall
//! write batch per store batch (atomic, the applied LSN inside it).
//!
//! fjall 3 is an LSM tree: a batch is one journal write and a memtable insert; flushing memtables
//! to tables and compacting them runs on fjall's worker threads. Measured on idres's own write
//! stream it is 5–10× sled's rate with flat memory (docs/PERFORMANCE.md). The journal is persisted
//! by hand ([`ProfileStore::flush`]: `persist(SyncData)`), never after each batch: the store is a
//! cache of the log, and the engine flushes it when it wants it durable. Background work is bounded
//! by [`FjallOptions::worker_threads`] (1 by default, so that on two cores the fold keeps one).
//!
//! Every call into fjall goes through [`crate::contained`]: a panic inside it (a damaged file it
//! did not expect) is [`StoreError::Panicked`], damage that the engine rebuilds.

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use fjall::{Database, Keyspace, KeyspaceCreateOptions, OwnedWriteBatch, PersistMode};
use idres_model::{Cid, Profile, Uid};
use uuid::Uuid;

use crate::layout::{self, Reads, Writes};
use crate::load::{self, StoreLoad};
use crate::{contained, Lsn, ProfileStore, StoreBatch, StoreError};

/// The name of the one keyspace.
const KEYSPACE: &str = "idres";

/// How long [`FjallStore::open`] waits for the database's lock (held by a store being closed in
/// this process a moment ago; one really in use elsewhere still fails).
pub const FJALL_LOCK_WAIT: std::time::Duration = std::time::Duration::from_secs(2);

/// How the fjall store is opened.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FjallOptions {
    /// fjall's block cache, in bytes. Default 64 MiB.
    pub cache_bytes: u64,
    /// fjall's background threads (memtable flushes and compactions). Default 1.
    pub worker_threads: usize,
    /// Most bytes of journal kept before memtables are flushed to make room (fjall's minimum
    /// is 64 MiB). Default 128 MiB.
    pub journal_bytes_max: u64,
}

impl Default for FjallOptions {
    fn default() -> FjallOptions {
        FjallOptions { cache_bytes: 64 << 20, worker_threads: 1, journal_bytes_max: 128 << 20 }
    }
}

/// The fjall store.
pub struct FjallStore {
    /// The database and its keyspace; `None` only if reopening them after a
    /// [`ProfileStore::clear`] failed.
    open: Option<(Database, Keyspace)>,
    dir: PathBuf,
    options: FjallOptions,
    /// The retired ids that have a redirect in the store (read at open): an upsert removes a
    /// redirect only where one exists (a remove is a tombstone the LSM keeps until compaction).
    redirects: HashSet<Uuid>,
}

impl std::fmt::Debug for FjallStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FjallStore").field("dir", &self.dir).finish_non_exhaustive()
    }
}

fn fjall_err(op: &'static str) -> impl Fn(fjall::Error) -> StoreError {
    move |source| StoreError::Fjall { op, source: crate::FjallError(source) }
}

/// Runs `f` on fjall, a panic contained.
fn guarded<T>(op: &'static str, f: impl FnOnce() -> fjall::Result<T>) -> Result<T, StoreError> {
    contained("fjall", op, f)?.map_err(fjall_err(op))
}

struct Batch<'a> {
    batch: OwnedWriteBatch,
    tree: &'a Keyspace,
}

impl Writes for Batch<'_> {
    fn put(&mut self, k: Vec<u8>, v: &[u8]) -> Result<(), StoreError> {
        self.batch.insert(self.tree, k, v);
        Ok(())
    }

    fn remove(&mut self, k: Vec<u8>) -> Result<(), StoreError> {
        self.batch.remove(self.tree, k);
        Ok(())
    }
}

impl FjallStore {
    /// Opens (or creates) the store in directory `dir`.
    pub fn open(dir: impl AsRef<Path>, options: &FjallOptions) -> Result<FjallStore, StoreError> {
        let dir = dir.as_ref().to_path_buf();
        let (db, tree) = Self::open_parts(&dir, options)?;
        let redirects = guarded("read redirects", || {
            tree.prefix([b'r']).map(|kv| kv.key().map(|k| k.to_vec())).collect::<fjall::Result<Vec<_>>>()
        })?
        .iter()
        .map(|k| layout::redirect_key_id(k))
        .collect::<Result<HashSet<_>, _>>()?;
        Ok(FjallStore { open: Some((db, tree)), dir, options: options.clone(), redirects })
    }

    fn open_parts(dir: &Path, options: &FjallOptions) -> Result<(Database, Keyspace), StoreError> {
        let started = std::time::Instant::now();
        let db = loop {
            let opened = guarded("open", || {
                Database::builder(dir)
                    .cache_size(options.cache_bytes)
                    .worker_threads_unchecked(options.worker_threads.max(1))
                    .max_journaling_size(options.journal_bytes_max.max(64 << 20))
                    .manual_journal_persist(true)
                    .open()
            });
            match opened {
                Ok(db) => break db,
                Err(StoreError::Fjall { source: crate::FjallError(fjall::Error::Locked), .. })
                    if started.elapsed() < FJALL_LOCK_WAIT =>
                {
                    std::thread::sleep(std::time::Duration::from_millis(10));
                }
                Err(e) => return Err(e),
            }
        };
        let tree = guarded("open keyspace", || db.keyspace(KEYSPACE, KeyspaceCreateOptions::default))?;
        Ok((db, tree))
    }

    fn db(&self) -> Result<&Database, StoreError> {
        self.open.as_ref().map(|(db, _)| db).ok_or(StoreError::Closed)
    }

    fn tree(&self) -> Result<&Keyspace, StoreError> {
        self.open.as_ref().map(|(_, tree)| tree).ok_or(StoreError::Closed)
    }

    /// Writes raw bytes under a raw key, bypassing every check: for tests that damage the store.
    #[doc(hidden)]
    pub fn insert_raw_for_tests(&self, k: &[u8], v: &[u8]) -> Result<(), StoreError> {
        let tree = self.tree()?;
        guarded("write", || tree.insert(k, v))
    }
}

impl Reads for FjallStore {
    type Value = fjall::Slice;

    fn get(&self, k: &[u8]) -> Result<Option<fjall::Slice>, StoreError> {
        let tree = self.tree()?;
        guarded("read", || tree.get(k))
    }
}

impl ProfileStore for FjallStore {
    fn apply(&mut self, batch: &StoreBatch) -> Result<(), StoreError> {
        crate::check_not_stale(self.applied_lsn()?, batch)?;
        let mut w = Batch { batch: self.db()?.batch(), tree: self.tree()? };
        layout::write_batch(batch, &self.redirects, &mut w)?;
        guarded("apply batch", || w.batch.commit())?;
        // Only now that the batch is in: the set describes what the store holds.
        layout::note_redirects(batch, &mut self.redirects);
        Ok(())
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
        let db = self.db()?;
        guarded("flush", || db.persist(PersistMode::SyncData))
    }

    /// Closes the database, removes its directory and opens it anew, empty. Not fjall's
    /// `Keyspace::clear`: that is an entry in fjall's journal which its recovery replays over
    /// tables ingested after it (fjall 3.1.13), so a reopened store would lose a rebuild's load.
    fn clear(&mut self) -> Result<(), StoreError> {
        self.redirects.clear();
        if let Some((db, tree)) = self.open.take() {
            contained("fjall", "close", move || drop((tree, db)))?;
        }
        match std::fs::remove_dir_all(&self.dir) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(StoreError::Fjall { op: "clear", source: crate::FjallError(fjall::Error::Io(e)) }),
        }
        self.open = Some(Self::open_parts(&self.dir, &self.options)?);
        Ok(())
    }

    /// fjall's ingestion: every key in ascending order written straight into new tables (no
    /// journal, no memtable, no compaction of what was just written), registered in one new
    /// version at the end — the store holds all of it, applied LSN included, or none of it.
    fn load(&mut self, load: StoreLoad<'_>) -> Result<(), StoreError> {
        let redirects: HashSet<Uuid> = load.retired.iter().map(|&(id, _)| id).collect();
        let tree = self.tree()?;
        let mut ingestion = guarded("start the load", || tree.start_ingestion())?;
        load::sorted_keys(load, |k, v| guarded("load", || ingestion.write(k, v)))?;
        guarded("finish the load", || ingestion.finish())?;
        self.redirects = redirects;
        self.flush()
    }
}
