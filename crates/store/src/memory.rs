//! The in-memory store: the same contract as the sled store, in `BTreeMap`s, for tests.

use std::collections::BTreeMap;

use idres_model::{Cid, Profile, Uid};
use uuid::Uuid;

use crate::{IndexKey, Lsn, ProfileStore, StoreBatch, StoreError, REDIRECT_HOPS_MAX};

/// A store that lives in memory (nothing is durable).
#[derive(Debug, Clone, Default)]
pub struct MemoryStore {
    profiles: BTreeMap<Uuid, Profile>,
    redirects: BTreeMap<Uuid, Uuid>,
    by_cid: BTreeMap<Vec<u8>, Uuid>,
    by_uid: BTreeMap<(Uid, u32), Uuid>,
    applied: Option<Lsn>,
}

impl MemoryStore {
    /// An empty store.
    pub fn new() -> MemoryStore {
        MemoryStore::default()
    }
}

impl ProfileStore for MemoryStore {
    fn apply(&mut self, batch: &StoreBatch) -> Result<(), StoreError> {
        crate::check_not_stale(self.applied, batch)?;
        for (id, into) in &batch.retired {
            self.profiles.remove(id);
            self.redirects.insert(*id, *into);
        }
        for p in &batch.upserts {
            let stored = Profile { history: Vec::new(), ..p.clone() };
            self.profiles.insert(p.id, stored);
            self.redirects.remove(&p.id);
        }
        for (k, id) in &batch.index {
            match k {
                IndexKey::Cid(c) => self.by_cid.insert(c.as_bytes().to_vec(), *id),
                IndexKey::Device(uid, epoch) => self.by_uid.insert((uid.clone(), *epoch), *id),
            };
        }
        self.applied = Some(batch.applied_lsn);
        Ok(())
    }

    fn applied_lsn(&self) -> Result<Option<Lsn>, StoreError> {
        Ok(self.applied)
    }

    fn profile(&self, id: Uuid) -> Result<Option<Profile>, StoreError> {
        let mut at = id;
        for _ in 0..REDIRECT_HOPS_MAX {
            if let Some(p) = self.profiles.get(&at) {
                return Ok(Some(p.clone()));
            }
            match self.redirects.get(&at) {
                Some(next) => at = *next,
                None => return Ok(None),
            }
        }
        Err(StoreError::Corrupt { key: format!("redirect {id}"), detail: "redirect chain too long or a cycle".into() })
    }

    fn profile_by_cid(&self, cid: &Cid) -> Result<Option<Profile>, StoreError> {
        match self.by_cid.get(cid.as_bytes()) {
            Some(id) => self.profile(*id),
            None => Ok(None),
        }
    }

    fn profile_by_uid(&self, uid: &Uid, epoch: u32) -> Result<Option<Profile>, StoreError> {
        match self.by_uid.get(&(uid.clone(), epoch)) {
            Some(id) => self.profile(*id),
            None => Ok(None),
        }
    }

    fn flush(&mut self) -> Result<(), StoreError> {
        Ok(())
    }

    fn clear(&mut self) -> Result<(), StoreError> {
        *self = MemoryStore::default();
        Ok(())
    }
}
