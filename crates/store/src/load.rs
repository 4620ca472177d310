//! Loading a whole read model into an empty store in one pass ([`ProfileStore::load`]): the
//! rebuild's write path.
//!
//! Owns: [`StoreLoad`] (what a rebuild hands over: the profiles streamed in id order, already
//! encoded, the redirects and index entries whole), [`load_in_batches`] (the path every store can take: plain
//! batches, flushed every few), and [`sorted_keys`] (the same content as one ascending run of
//! keys, for a backend that writes sorted runs straight to its files, as fjall's ingestion does).

use std::sync::{Mutex, PoisonError};

use uuid::Uuid;

use crate::layout::{self, APPLIED_KEY};
use crate::{EncodedProfile, IndexKey, Lsn, ProfileStore, StoreBatch, StoreError};
use idres_model::{decode_profile, Profile};

/// Profiles (and as many redirects or index entries) per batch in [`load_in_batches`].
pub const LOAD_BATCH: usize = 4096;
/// [`load_in_batches`] flushes every this many batches (sled holds what it has not flushed in
/// memory).
pub const LOAD_BATCHES_PER_FLUSH: usize = 8;

/// A whole read model, for [`ProfileStore::load`] into an empty store.
pub struct StoreLoad<'a> {
    /// Every record up to (not including) this LSN is reflected once loaded.
    pub applied_lsn: Lsn,
    /// Every current profile, each once, in ascending id order, encoded (streamed: a rebuild
    /// never holds every profile at once). An `Err` ends the load with it.
    pub profiles: &'a mut dyn Iterator<Item = Result<EncodedProfile, StoreError>>,
    /// Every id that no longer names a profile, with the id of the profile holding its node.
    pub retired: Vec<(Uuid, Uuid)>,
    /// An entry for every node: its key and the id of the profile holding it.
    pub index: Vec<(IndexKey, Uuid)>,
}

/// Loads `load` as plain batches of [`LOAD_BATCH`] items: profiles (decoded again: a batch holds
/// profiles, and these backends' loads are not the fast path), then redirects, then index
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
        let upserts = (&mut *profiles)
            .take(LOAD_BATCH)
            .map(|e| {
                let e = e?;
                decode_profile(&e.bytes).map_err(|source| StoreError::Corrupt {
                    key: format!("p{}", e.id),
                    detail: format!("a profile handed to the load does not decode: {source}"),
                })
            })
            .collect::<Result<Vec<Profile>, StoreError>>()?;
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
    let StoreLoad { applied_lsn, profiles, retired, index } = load;
    let (cids, devices): (Vec<_>, Vec<_>) = index.into_iter().partition(|(k, _)| matches!(k, IndexKey::Cid(_)));
    // The devices' keys (most of the index) and the redirects are sorted on a thread of their
    // own while the profiles stream in: they are written after them. (Without a thread to be
    // had, they are sorted here once the profiles are in.)
    let rest = Mutex::new(Some((devices, retired)));
    let sort_rest = || match rest.lock().unwrap_or_else(PoisonError::into_inner).take() {
        Some((devices, retired)) => (sorted_index(devices), sorted_redirects(retired)),
        None => (Vec::new(), Vec::new()),
    };
    std::thread::scope(|scope| {
        let sorter = std::thread::Builder::new().name("idres-load-sort".into()).spawn_scoped(scope, sort_rest);
        for (k, id) in &sorted_index(cids) {
            put(k, id.as_bytes())?;
        }
        put(APPLIED_KEY, &applied_lsn.to_le_bytes())?;
        let mut last: Option<Uuid> = None;
        for p in profiles {
            let p = p?;
            if last.is_some_and(|l| p.id <= l) {
                return Err(StoreError::OutOfOrder { id: p.id });
            }
            last = Some(p.id);
            put(&layout::key(b'p', p.id.as_bytes()), &p.bytes)?;
        }
        let (devices, retired) = match sorter {
            Ok(handle) => handle.join().map_err(|_| StoreError::Corrupt {
                key: "-".into(),
                detail: "the load's sorting thread panicked".into(),
            })?,
            Err(_) => sort_rest(),
        };
        for (id, into) in &retired {
            put(&layout::key(b'r', id.as_bytes()), into.as_bytes())?;
        }
        for (k, id) in &devices {
            put(k, id.as_bytes())?;
        }
        Ok(())
    })
}

/// Index entries as ascending keys; of a key given twice, the last entry (as in a batch).
fn sorted_index(entries: Vec<(IndexKey, Uuid)>) -> Vec<(Vec<u8>, Uuid)> {
    let mut keyed: Vec<(Vec<u8>, Uuid)> = entries
        .into_iter()
        .map(|(k, id)| {
            let key = match k {
                IndexKey::Cid(c) => layout::key(b'c', c.as_bytes()),
                IndexKey::Device(uid, epoch) => layout::uid_key(&uid, epoch),
            };
            (key, id)
        })
        .collect();
    // Sorted through (the key's first 16 bytes, position): most comparisons are decided by the
    // prefix without reading the keys' heap bytes (a 2 M-key sort is cache misses otherwise).
    // Zero padding keeps the prefix order consistent with the keys' (a shorter key that the
    // prefix cannot tell apart is compared whole). Among equal keys the later entry comes first,
    // and dedup keeps the first of each key.
    let prefix = |k: &[u8]| {
        let mut p = [0u8; 16];
        let n = k.len().min(16);
        p[..n].copy_from_slice(&k[..n]);
        u128::from_be_bytes(p)
    };
    let mut order: Vec<(u128, usize)> = keyed.iter().enumerate().map(|(at, (k, _))| (prefix(k), at)).collect();
    order.sort_unstable_by(|a, b| a.0.cmp(&b.0).then_with(|| keyed[a.1].0.cmp(&keyed[b.1].0)).then(b.1.cmp(&a.1)));
    order.dedup_by(|later, first| later.0 == first.0 && keyed[later.1].0 == keyed[first.1].0);
    let mut out = Vec::with_capacity(order.len());
    for (_, at) in order {
        out.push((std::mem::take(&mut keyed[at].0), keyed[at].1));
    }
    out
}

/// Redirects by ascending id; of an id given twice, the last (as in a batch).
fn sorted_redirects(retired: Vec<(Uuid, Uuid)>) -> Vec<(Uuid, Uuid)> {
    let mut keyed: Vec<(usize, Uuid, Uuid)> =
        retired.into_iter().enumerate().map(|(at, (id, into))| (at, id, into)).collect();
    keyed.sort_unstable_by(|a, b| a.1.cmp(&b.1).then(b.0.cmp(&a.0)));
    keyed.dedup_by(|later, first| later.1 == first.1);
    keyed.into_iter().map(|(_, id, into)| (id, into)).collect()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use idres_model::{Cid, Uid};
    use proptest::prelude::*;

    /// What `sorted_index` must equal: every key built, sorted stably with the later entry
    /// first among equals, one per key.
    fn naive(entries: &[(IndexKey, Uuid)]) -> Vec<(Vec<u8>, Uuid)> {
        let mut v: Vec<(Vec<u8>, Uuid)> = entries
            .iter()
            .map(|(k, id)| {
                let key = match k {
                    IndexKey::Cid(c) => layout::key(b'c', c.as_bytes()),
                    IndexKey::Device(uid, epoch) => layout::uid_key(uid, *epoch),
                };
                (key, *id)
            })
            .collect();
        v.reverse();
        v.sort_by(|a, b| a.0.cmp(&b.0));
        v.dedup_by(|later, first| later.0 == first.0);
        v
    }

    fn entry() -> impl Strategy<Value = (IndexKey, Uuid)> {
        // Few bytes, long shared prefixes, keys shorter and longer than the 16-byte prefix,
        // zero bytes (the prefix's padding), repeats.
        let text = prop::collection::vec(prop_oneof![Just(0u8), Just(b'a'), Just(b'b')], 0..24);
        let key = prop_oneof![
            text.clone().prop_map(|t| IndexKey::Cid(Cid::from_wire_bytes(t))),
            (text, 0u32..3).prop_map(|(t, e)| IndexKey::Device(Uid::from_wire_bytes(t), e)),
            (any::<[u8; 2]>(), 0u32..2).prop_map(|(b, e)| {
                let mut u = [0u8; 16];
                u[..2].copy_from_slice(&b);
                IndexKey::Device(Uid::Uuid(u), e)
            }),
        ];
        (key, any::<u128>().prop_map(Uuid::from_u128))
    }

    proptest! {
        #[test]
        fn sorted_index_is_the_stable_sort_with_the_last_entry_of_each_key(
            entries in prop::collection::vec(entry(), 0..200)
        ) {
            prop_assert_eq!(sorted_index(entries.clone()), naive(&entries));
        }
    }
}
