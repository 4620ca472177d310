//! Loading a whole read model into an empty store in one pass ([`ProfileStore::load`]): the
//! rebuild's write path.
//!
//! Owns: [`StoreLoad`] (what a rebuild hands over: the profiles streamed in id order, the
//! redirects and index entries whole), [`load_in_batches`] (the path every store can take: plain
//! batches, flushed every few), and [`sorted_keys`] (the same content as one ascending run of
//! keys, for a backend that writes sorted runs straight to its files, as fjall's ingestion does).

use uuid::Uuid;

use crate::layout::{self, APPLIED_KEY};
use crate::{IndexKey, Lsn, ProfileStore, StoreBatch, StoreError};
use idres_model::{encode_profile_into, Profile};

/// Profiles (and as many redirects or index entries) per batch in [`load_in_batches`].
pub const LOAD_BATCH: usize = 4096;
/// [`load_in_batches`] flushes every this many batches (sled holds what it has not flushed in
/// memory).
pub const LOAD_BATCHES_PER_FLUSH: usize = 8;

/// A whole read model, for [`ProfileStore::load`] into an empty store.
pub struct StoreLoad<'a> {
    /// Every record up to (not including) this LSN is reflected once loaded.
    pub applied_lsn: Lsn,
    /// Every current profile, each once, in ascending id order (streamed: a rebuild never holds
    /// every profile at once).
    pub profiles: &'a mut dyn Iterator<Item = Profile>,
    /// Every id that no longer names a profile, with the id of the profile holding its node.
    pub retired: Vec<(Uuid, Uuid)>,
    /// An entry for every node: its key and the id of the profile holding it.
    pub index: Vec<(IndexKey, Uuid)>,
}

/// Loads `load` as plain batches of [`LOAD_BATCH`] items: profiles, then redirects, then index
/// entries, each batch but the last at applied LSN 0 (an empty store's), the last setting
/// `load.applied_lsn`; a flush every [`LOAD_BATCHES_PER_FLUSH`] batches and at the end. A crash
/// part way leaves a store that says it reflects nothing past 0, which the next open rebuilds.
pub fn load_in_batches<S: ProfileStore + ?Sized>(store: &mut S, load: StoreLoad<'_>) -> Result<(), StoreError> {
    let StoreLoad { applied_lsn, profiles, retired, index } = load;
    let mut batches = 0usize;
    let mut put = |store: &mut S, batch: StoreBatch| -> Result<(), StoreError> {
        store.apply(&batch)?;
        batches += 1;
        if batches.is_multiple_of(LOAD_BATCHES_PER_FLUSH) {
            store.flush()?;
        }
        Ok(())
    };
    loop {
        let upserts: Vec<Profile> = (&mut *profiles).take(LOAD_BATCH).collect();
        if upserts.is_empty() {
            break;
        }
        put(store, StoreBatch { upserts, ..StoreBatch::default() })?;
    }
    for chunk in retired.chunks(LOAD_BATCH) {
        put(store, StoreBatch { retired: chunk.to_vec(), ..StoreBatch::default() })?;
    }
    for chunk in index.chunks(LOAD_BATCH) {
        put(store, StoreBatch { index: chunk.to_vec(), ..StoreBatch::default() })?;
    }
    store.apply(&StoreBatch { applied_lsn, ..StoreBatch::default() })?;
    store.flush()
}

/// The keys and values of `load` in ascending key order (the layout's prefixes sort `c`, `m`,
/// `p`, `r`, `u`), passed to `put` one at a time: index entries of customers, the applied LSN,
/// the profiles as they stream, the redirects, the index entries of devices. A key given twice
/// keeps its last value (as in a batch); a profile out of id order is an error (nothing after it is passed).
pub(crate) fn sorted_keys(
    load: StoreLoad<'_>,
    mut put: impl FnMut(&[u8], &[u8]) -> Result<(), StoreError>,
) -> Result<(), StoreError> {
    let StoreLoad { applied_lsn, profiles, mut retired, index } = load;
    let mut cids: Vec<(Vec<u8>, Uuid)> = Vec::new();
    let mut devices: Vec<(Vec<u8>, Uuid)> = Vec::with_capacity(index.len());
    for (k, id) in index {
        match k {
            IndexKey::Cid(c) => cids.push((layout::key(b'c', c.as_bytes()), id)),
            IndexKey::Device(uid, epoch) => devices.push((layout::uid_key(&uid, epoch), id)),
        }
    }
    // A key given twice keeps its last value, as in a batch: reversed, a stable sort puts the
    // last one first among equals, and dedup keeps the first.
    let sorted = |v: &mut Vec<(Vec<u8>, Uuid)>| {
        v.reverse();
        v.sort_by(|a, b| a.0.cmp(&b.0));
        v.dedup_by(|later, first| later.0 == first.0);
    };
    sorted(&mut cids);
    sorted(&mut devices);
    for (k, id) in &cids {
        put(k, id.as_bytes())?;
    }
    drop(cids);
    put(APPLIED_KEY, &applied_lsn.to_le_bytes())?;
    let mut value = Vec::new();
    let mut last: Option<Uuid> = None;
    for p in profiles {
        if last.is_some_and(|l| p.id <= l) {
            return Err(StoreError::OutOfOrder { id: p.id });
        }
        last = Some(p.id);
        value.clear();
        encode_profile_into(&p, &mut value).map_err(|source| StoreError::Encode { id: p.id, source })?;
        put(&layout::key(b'p', p.id.as_bytes()), &value)?;
    }
    retired.reverse();
    retired.sort_by_key(|&(id, _)| id);
    retired.dedup_by_key(|&mut (id, _)| id);
    for (id, into) in &retired {
        put(&layout::key(b'r', id.as_bytes()), into.as_bytes())?;
    }
    for (k, id) in &devices {
        put(k, id.as_bytes())?;
    }
    Ok(())
}
