//! The hasher of the fold's in-memory indexes (uids, cids, profile ids, interned strings), and
//! [`PreHashed`] for keys that are hashes already (the uid index's fingerprints).
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

use std::collections::HashMap;
use std::hash::{BuildHasher, Hasher};
use std::sync::OnceLock;

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

/// Hashes a fingerprint that is a hash already: a `u64` passes through, a `u32` is spread over
/// 64 bits (Fibonacci hashing: hashbrown reads its tags from the top bits).
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct PreHashed;

impl BuildHasher for PreHashed {
    type Hasher = PreHashedHasher;

    fn build_hasher(&self) -> PreHashedHasher {
        PreHashedHasher(0)
    }
}

/// See [`PreHashed`]. Only `u64` keys come through `write_u64`; anything else is folded in.
#[derive(Debug, Clone, Copy)]
pub(crate) struct PreHashedHasher(u64);

impl Hasher for PreHashedHasher {
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = fold_mul(self.0 ^ u64::from(b), K0);
        }
    }

    fn write_u64(&mut self, i: u64) {
        self.0 = i;
    }

    fn write_u32(&mut self, i: u32) {
        self.0 = u64::from(i).wrapping_mul(0x9e37_79b9_7f4a_7c15);
    }

    fn finish(&self) -> u64 {
        self.0
    }
}

#[cfg(test)]
pub(crate) mod tests {
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
}
