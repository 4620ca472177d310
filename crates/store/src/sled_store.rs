//! The sled store: one tree, keys by prefix, one `apply_batch` per flush (atomic in sled).
//!
//! | key | value |
//! | --- | --- |
//! | `p` + profile id (16 bytes) | the stored profile (`idres_model::encode_profile_into`) |
//! | `r` + retired id (16 bytes) | the survivor's id (16 bytes) |
//! | `c` + CID bytes | the id of the profile that holds it |
//! | `u` + `0` + 16 UUID bytes, or `u` + `1` + uid text, then the epoch (u32 big-endian) | the id of the profile that holds the device node |
//! | `m` + `applied` | the applied LSN (u64 little-endian) |
//!
//! sled is a cache of the log here: its measured ~40–80 k random inserts/s is why the engine
//! writes one upsert per changed profile per flush, on its own thread. The cache size and the
//! flush policy are set explicitly ([`SledOptions`]); by default sled does not flush on a timer —
//! the engine calls [`ProfileStore::flush`] when it wants the store durable.

use std::path::Path;

use idres_model::{decode_profile, encode_profile_into, Cid, Profile, Uid};
use uuid::Uuid;

use crate::{Lsn, ProfileStore, StoreBatch, StoreError, REDIRECT_HOPS_MAX};

const APPLIED_KEY: &[u8] = b"mapplied";

/// How long [`SledStore::open`] waits for sled's file lock to be released.
pub const SLED_LOCK_WAIT: std::time::Duration = std::time::Duration::from_secs(2);

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

/// The on-disk store.
pub struct SledStore {
    db: sled::Db,
    /// The retired ids that have a redirect in the store (read at open): an upsert removes a
    /// redirect only where one exists.
    redirects: std::collections::HashSet<Uuid>,
}

impl std::fmt::Debug for SledStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SledStore").finish_non_exhaustive()
    }
}

fn sled_err(op: &'static str) -> impl Fn(sled::Error) -> StoreError {
    move |source| StoreError::Sled { op, source }
}

fn key(prefix: u8, rest: &[u8]) -> Vec<u8> {
    let mut k = Vec::with_capacity(1 + rest.len());
    k.push(prefix);
    k.extend_from_slice(rest);
    k
}

fn uid_key(uid: &Uid, epoch: u32) -> Vec<u8> {
    let mut k = vec![b'u'];
    match uid {
        Uid::Uuid(b) => {
            k.push(0);
            k.extend_from_slice(b);
        }
        Uid::Text(t) => {
            k.push(1);
            k.extend_from_slice(t);
        }
    }
    k.extend_from_slice(&epoch.to_be_bytes());
    k
}

fn printable(k: &[u8]) -> String {
    k.iter().map(|b| if b.is_ascii_graphic() { (*b as char).to_string() } else { format!("\\x{b:02x}") }).collect()
}

fn id_value(k: &[u8], v: &[u8]) -> Result<Uuid, StoreError> {
    let bytes: [u8; 16] = v.try_into().map_err(|_| StoreError::Corrupt {
        key: printable(k),
        detail: format!("{} bytes where an id goes", v.len()),
    })?;
    Ok(Uuid::from_bytes(bytes))
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
            match config.open() {
                Ok(db) => break db,
                Err(sled::Error::Io(e)) if is_lock_held(&e) && started.elapsed() < SLED_LOCK_WAIT => {
                    std::thread::sleep(std::time::Duration::from_millis(10));
                }
                Err(e) => return Err(sled_err("open")(e)),
            }
        };
        let mut redirects = std::collections::HashSet::new();
        for kv in db.scan_prefix([b'r']) {
            let (k, _) = kv.map_err(sled_err("read redirects"))?;
            let id = <[u8; 16]>::try_from(&k[1..]).map_err(|_| StoreError::Corrupt {
                key: printable(&k),
                detail: "redirect key of the wrong length".into(),
            })?;
            redirects.insert(Uuid::from_bytes(id));
        }
        Ok(SledStore { db, redirects })
    }

    fn get(&self, k: &[u8]) -> Result<Option<sled::IVec>, StoreError> {
        self.db.get(k).map_err(sled_err("read"))
    }

    /// Writes raw bytes under a raw key, bypassing every check: for tests that damage the store.
    #[doc(hidden)]
    pub fn insert_raw_for_tests(&self, k: &[u8], v: &[u8]) -> Result<(), StoreError> {
        self.db.insert(k, v).map(|_| ()).map_err(sled_err("write"))
    }
}

impl ProfileStore for SledStore {
    fn apply(&mut self, batch: &StoreBatch) -> Result<(), StoreError> {
        if let Some(applied) = self.applied_lsn()? {
            if batch.applied_lsn < applied {
                return Err(StoreError::StaleBatch { batch: batch.applied_lsn, applied });
            }
        }
        let mut b = sled::Batch::default();
        for (id, into) in &batch.retired {
            b.remove(key(b'p', id.as_bytes()));
            b.insert(key(b'r', id.as_bytes()), into.as_bytes().to_vec());
        }
        let mut value = Vec::new();
        for p in &batch.upserts {
            value.clear();
            encode_profile_into(p, &mut value).map_err(|source| StoreError::Encode { id: p.id, source })?;
            b.insert(key(b'p', p.id.as_bytes()), value.as_slice());
            if self.redirects.contains(&p.id) {
                b.remove(key(b'r', p.id.as_bytes()));
            }
            for c in &p.cids {
                b.insert(key(b'c', c.as_bytes()), p.id.as_bytes().to_vec());
            }
            for d in &p.uids {
                b.insert(uid_key(&d.uid, d.epoch), p.id.as_bytes().to_vec());
            }
        }
        b.insert(APPLIED_KEY, batch.applied_lsn.to_le_bytes().to_vec());
        self.db.apply_batch(b).map_err(sled_err("apply batch"))?;
        // Only now that the batch is in: the set describes what the store holds.
        for (id, _) in &batch.retired {
            self.redirects.insert(*id);
        }
        for p in &batch.upserts {
            self.redirects.remove(&p.id);
        }
        Ok(())
    }

    fn applied_lsn(&self) -> Result<Option<Lsn>, StoreError> {
        match self.get(APPLIED_KEY)? {
            None => Ok(None),
            Some(v) => {
                let bytes: [u8; 8] = v.as_ref().try_into().map_err(|_| StoreError::Corrupt {
                    key: printable(APPLIED_KEY),
                    detail: format!("{} bytes where an LSN goes", v.len()),
                })?;
                Ok(Some(u64::from_le_bytes(bytes)))
            }
        }
    }

    fn profile(&self, id: Uuid) -> Result<Option<Profile>, StoreError> {
        let mut at = id;
        for _ in 0..REDIRECT_HOPS_MAX {
            let pk = key(b'p', at.as_bytes());
            if let Some(v) = self.get(&pk)? {
                let p = decode_profile(&v)
                    .map_err(|e| StoreError::Corrupt { key: printable(&pk), detail: e.to_string() })?;
                if p.id != at {
                    return Err(StoreError::Corrupt { key: printable(&pk), detail: format!("holds profile {}", p.id) });
                }
                return Ok(Some(p));
            }
            let rk = key(b'r', at.as_bytes());
            match self.get(&rk)? {
                Some(v) => at = id_value(&rk, &v)?,
                None => return Ok(None),
            }
        }
        Err(StoreError::Corrupt { key: format!("redirect {id}"), detail: "redirect chain too long or a cycle".into() })
    }

    fn profile_by_cid(&self, cid: &Cid) -> Result<Option<Profile>, StoreError> {
        let k = key(b'c', cid.as_bytes());
        match self.get(&k)? {
            Some(v) => self.profile(id_value(&k, &v)?),
            None => Ok(None),
        }
    }

    fn profile_by_uid(&self, uid: &Uid, epoch: u32) -> Result<Option<Profile>, StoreError> {
        let k = uid_key(uid, epoch);
        match self.get(&k)? {
            Some(v) => self.profile(id_value(&k, &v)?),
            None => Ok(None),
        }
    }

    fn flush(&mut self) -> Result<(), StoreError> {
        self.db.flush().map(|_| ()).map_err(sled_err("flush"))
    }

    fn clear(&mut self) -> Result<(), StoreError> {
        self.redirects.clear();
        self.db.clear().map_err(sled_err("clear"))?;
        self.flush()
    }
}
