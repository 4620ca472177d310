//! The hasher of the fold's in-memory indexes (uids, cids, profile ids, interned strings).
//!
//! std's default hasher (SipHash-1-3) spends more time hashing a 16-byte uid than the fold spends
//! on the rest of an event. This one folds 8 bytes at a time with a 64×64→128-bit multiply (the
//! construction of wyhash and foldhash): a few cycles per word, and every input bit reaches the
//! top bits that hashbrown's control bytes use.
//!
//! Its seed is drawn per process from std's `RandomState`, as std's own maps do, so that ids
//! chosen by a caller cannot be aimed at one bucket. No output depends on it: the fold never
//! iterates one of these maps into a profile, a snapshot, a digest or a change (they are lookups
//! only; where a map is listed, the list is sorted first).

use std::borrow::Borrow;
use std::collections::HashMap;
use std::hash::{BuildHasher, Hash, Hasher};
use std::sync::OnceLock;

use idres_model::Uid;

/// A `HashMap` with [`FoldHash`].
pub(crate) type FastMap<K, V> = HashMap<K, V, FoldHash>;

/// A `FastMap` with room for `n` entries.
pub(crate) fn map_with_capacity<K, V>(n: usize) -> FastMap<K, V> {
    HashMap::with_capacity_and_hasher(n, FoldHash::default())
}

const K0: u64 = 0xa076_1d64_78bd_642f;
const K1: u64 = 0xe703_7ed1_a0b4_28db;
const K2: u64 = 0x8ebc_6af0_9c88_c6e3;

#[inline(always)]
fn fold_mul(a: u64, b: u64) -> u64 {
    let r = u128::from(a) * u128::from(b);
    (r as u64) ^ ((r >> 64) as u64)
}

fn process_seed() -> u64 {
    static SEED: OnceLock<u64> = OnceLock::new();
    *SEED.get_or_init(|| {
        let mut h = std::collections::hash_map::RandomState::new().build_hasher();
        h.write_u64(K2);
        h.finish()
    })
}

/// Builds [`FoldHasher`]s with this process's seed.
#[derive(Debug, Clone, Copy)]
pub(crate) struct FoldHash {
    seed: u64,
}

impl Default for FoldHash {
    fn default() -> Self {
        FoldHash { seed: process_seed() }
    }
}

impl BuildHasher for FoldHash {
    type Hasher = FoldHasher;

    #[inline]
    fn build_hasher(&self) -> FoldHasher {
        FoldHasher { state: self.seed }
    }
}

/// The hasher itself; see the module docs.
#[derive(Debug, Clone, Copy)]
pub(crate) struct FoldHasher {
    state: u64,
}

impl FoldHasher {
    #[inline(always)]
    fn mix(&mut self, word: u64) {
        self.state = fold_mul(self.state ^ word, K0);
    }
}

impl Hasher for FoldHasher {
    #[inline]
    fn write(&mut self, bytes: &[u8]) {
        let mut chunks = bytes.chunks_exact(8);
        for c in &mut chunks {
            let mut w = [0u8; 8];
            w.copy_from_slice(c);
            self.mix(u64::from_le_bytes(w));
        }
        let rest = chunks.remainder();
        // The length goes in with the tail, so "ab" and "ab\0" differ.
        let mut w = [0u8; 8];
        w[..rest.len()].copy_from_slice(rest);
        self.state = fold_mul(self.state ^ u64::from_le_bytes(w), K1 ^ (bytes.len() as u64));
    }

    #[inline]
    fn write_u8(&mut self, i: u8) {
        self.mix(u64::from(i));
    }

    #[inline]
    fn write_u32(&mut self, i: u32) {
        self.mix(u64::from(i));
    }

    #[inline]
    fn write_u64(&mut self, i: u64) {
        self.mix(i);
    }

    #[inline]
    fn write_usize(&mut self, i: usize) {
        self.mix(i as u64);
    }

    #[inline]
    fn finish(&self) -> u64 {
        fold_mul(self.state, K2)
    }
}

/// A uid as the index sees it: its form (0 UUID, 1 text) and its bytes. Lets the index be
/// searched with a uid borrowed from a record's bytes, without building a [`Uid`].
pub(crate) trait UidBytes {
    fn form_and_bytes(&self) -> (u8, &[u8]);
}

impl UidBytes for Uid {
    fn form_and_bytes(&self) -> (u8, &[u8]) {
        match self {
            Uid::Uuid(b) => (0, b),
            Uid::Text(t) => (1, t),
        }
    }
}

struct BorrowedUid<'a>(u8, &'a [u8]);

impl UidBytes for BorrowedUid<'_> {
    fn form_and_bytes(&self) -> (u8, &[u8]) {
        (self.0, self.1)
    }
}

impl Hash for dyn UidBytes + '_ {
    fn hash<H: Hasher>(&self, state: &mut H) {
        let (form, bytes) = self.form_and_bytes();
        state.write_u8(form);
        state.write(bytes);
    }
}

impl PartialEq for dyn UidBytes + '_ {
    fn eq(&self, other: &Self) -> bool {
        self.form_and_bytes() == other.form_and_bytes()
    }
}

impl Eq for dyn UidBytes + '_ {}

/// A key of [`UidIndex`]: hashes and compares as its [`UidBytes`].
#[derive(Debug, Clone)]
struct UidKey(Uid);

impl<'a> Borrow<dyn UidBytes + 'a> for UidKey {
    fn borrow(&self) -> &(dyn UidBytes + 'a) {
        &self.0
    }
}

impl Hash for UidKey {
    fn hash<H: Hasher>(&self, state: &mut H) {
        (&self.0 as &dyn UidBytes).hash(state);
    }
}

impl PartialEq for UidKey {
    fn eq(&self, other: &Self) -> bool {
        self.0 == other.0
    }
}

impl Eq for UidKey {}

/// Uid -> its index in the resolver's uid table; searchable with an owned uid or with one
/// borrowed from an encoded record.
#[derive(Debug, Clone, Default)]
pub(crate) struct UidIndex {
    map: FastMap<UidKey, u32>,
}

impl UidIndex {
    /// The index of `uids` (the i-th at index i; duplicates keep the first), built in the
    /// order of the buckets the uids land in: a restore inserts millions of uids, and in hash
    /// order the table is written front to back instead of at a cache miss per uid. (The
    /// bucket count assumed is hashbrown's for this capacity; were it another, the inserts would
    /// only be slower.)
    pub(crate) fn build<'a>(uids: impl ExactSizeIterator<Item = &'a Uid>) -> UidIndex {
        let n = uids.len();
        let mut map = map_with_capacity(n);
        let hasher = *map.hasher();
        let mask = ((n.saturating_mul(8) / 7).max(1).next_power_of_two() - 1) as u64;
        let mut order: Vec<(u64, u32, &Uid)> =
            uids.enumerate().map(|(i, uid)| (hasher.hash_one(uid as &dyn UidBytes) & mask, i as u32, uid)).collect();
        order.sort_unstable_by_key(|&(bucket, i, _)| (bucket, i));
        for (_, i, uid) in order {
            map.entry(UidKey(uid.clone())).or_insert(i);
        }
        UidIndex { map }
    }

    pub(crate) fn get(&self, uid: &Uid) -> Option<u32> {
        self.map.get(uid as &dyn UidBytes).copied()
    }

    /// The index of the uid in UUID form `bytes`.
    pub(crate) fn get_uuid(&self, bytes: &[u8; 16]) -> Option<u32> {
        self.map.get(&BorrowedUid(0, bytes) as &dyn UidBytes).copied()
    }

    /// The index of the uid in text form `bytes`.
    pub(crate) fn get_text(&self, bytes: &[u8]) -> Option<u32> {
        self.map.get(&BorrowedUid(1, bytes) as &dyn UidBytes).copied()
    }

    pub(crate) fn contains(&self, uid: &Uid) -> bool {
        self.get(uid).is_some()
    }

    pub(crate) fn insert(&mut self, uid: Uid, u: u32) {
        self.map.insert(UidKey(uid), u);
    }

    pub(crate) fn len(&self) -> usize {
        self.map.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hash(build: &FoldHash, bytes: &[u8]) -> u64 {
        let mut h = build.build_hasher();
        h.write(bytes);
        h.finish()
    }

    #[test]
    fn distinct_inputs_hash_apart() {
        let b = FoldHash::default();
        let inputs: Vec<Vec<u8>> =
            vec![b"".to_vec(), b"a".to_vec(), b"a\0".to_vec(), b"ab".to_vec(), b"ba".to_vec(), vec![0; 8], vec![0; 9]];
        let mut hashes: Vec<u64> = inputs.iter().map(|i| hash(&b, i)).collect();
        hashes.sort_unstable();
        hashes.dedup();
        assert_eq!(hashes.len(), inputs.len());
        // Same input, same seed, same hash.
        assert_eq!(hash(&b, b"web-c5d1df70"), hash(&b, b"web-c5d1df70"));
    }

    #[test]
    fn top_bits_spread_over_sequential_ids() {
        // hashbrown takes its 7-bit tag from the top bits: sequential keys must not share them.
        let b = FoldHash::default();
        let mut tags = std::collections::BTreeSet::new();
        for i in 0u32..4096 {
            let mut h = b.build_hasher();
            h.write_u32(i);
            tags.insert(h.finish() >> 57);
        }
        assert_eq!(tags.len(), 128, "every 7-bit tag value is reached");
    }

    #[test]
    fn maps_find_what_they_hold() {
        let mut m: FastMap<Vec<u8>, usize> = map_with_capacity(0);
        for i in 0..10_000usize {
            m.insert(format!("uid-{i}").into_bytes(), i);
        }
        for i in 0..10_000usize {
            assert_eq!(m.get(format!("uid-{i}").as_bytes()), Some(&i));
        }
        assert_eq!(m.get(b"uid-10000".as_slice()), None);
    }

    #[test]
    fn uid_index_finds_owned_and_borrowed_forms_apart() {
        let mut ix = UidIndex::default();
        let uuid = [9u8; 16];
        ix.insert(Uid::Uuid(uuid), 0);
        ix.insert(Uid::from_wire_bytes(b"web-1".to_vec()), 1);
        // The same 16 bytes as text are another uid.
        ix.insert(Uid::from_wire_bytes(uuid.to_vec()), 2);
        assert_eq!(ix.get(&Uid::Uuid(uuid)), Some(0));
        assert_eq!(ix.get_uuid(&uuid), Some(0));
        assert_eq!(ix.get_text(b"web-1"), Some(1));
        assert_eq!(ix.get_text(&uuid), Some(2));
        assert_eq!(ix.get(&Uid::from_wire_bytes(uuid.to_vec())), Some(2));
        assert_eq!(ix.get_text(b"web-2"), None);
        assert!(ix.contains(&Uid::from_wire_bytes(b"web-1".to_vec())));
        assert_eq!(ix.len(), 3);
    }

    #[test]
    fn a_built_index_is_the_inserted_one() {
        let uids: Vec<Uid> = (0..5000u32)
            .map(|i| {
                if i % 2 == 0 {
                    Uid::Uuid([(i % 251) as u8; 16])
                } else {
                    Uid::from_wire_bytes(format!("w{i}").into_bytes())
                }
            })
            .collect();
        let built = UidIndex::build(uids.iter());
        let mut inserted = UidIndex::default();
        for (i, u) in uids.iter().enumerate().rev() {
            inserted.insert(u.clone(), i as u32);
        }
        assert_eq!(built.len(), inserted.len());
        for u in &uids {
            assert_eq!(built.get(u), inserted.get(u), "{u:?}");
        }
        // Duplicates (the UUIDs repeat every 251) keep their first index.
        assert_eq!(built.get(&Uid::Uuid([0; 16])), Some(0));
    }
}
