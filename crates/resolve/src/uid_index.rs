//! The uid index: uid -> its number in the uid table (`uids.rs`), keyed by a 32-bit fingerprint
//! confirmed against the table, searchable with a uid borrowed from a record's bytes.

use std::borrow::Borrow;
use std::collections::HashMap;
use std::hash::{BuildHasher, Hash, Hasher};

use idres_model::{Uid, UidView};

use crate::hash::{FastMap, FoldHash, PreHashed};
use crate::uids::UidTable;

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

impl UidBytes for UidView<'_> {
    fn form_and_bytes(&self) -> (u8, &[u8]) {
        match self {
            UidView::Uuid(b) => (0, b),
            UidView::Text(t) => (1, t),
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

/// A key of [`UidIndex`]'s spill map: hashes and compares as its [`UidBytes`].
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

/// Uid -> its index in the resolver's uid table, searchable with an owned uid or with one
/// borrowed from an encoded record.
///
/// It keys by a 32-bit fingerprint of the uid, not by the uid: a bucket is 8 bytes where a `Uid`
/// key took 32 (plus a second copy of a text uid's bytes), and growing the table moves buckets
/// without reading any uid again. A hit is confirmed against the uid table (`uids`, which the
/// caller reads next anyway); a uid whose fingerprint another uid had first goes to a small
/// spill map keyed by the uid itself (about n²/2³³ uids: ~500 of 2 M), so two uids never share
/// an entry, whatever their fingerprints.
#[derive(Debug, Clone, Default)]
pub(crate) struct UidIndex {
    seed: FoldHash,
    by_hash: HashMap<u32, u32, PreHashed>,
    spill: FastMap<UidKey, u32>,
}

impl UidIndex {
    fn fingerprint(&self, form: u8, bytes: &[u8]) -> u32 {
        #[cfg(test)]
        if tests::FORCE_COLLISIONS.with(std::cell::Cell::get) {
            return 0;
        }
        let mut h = self.seed.build_hasher();
        h.write_u8(form);
        h.write(bytes);
        (h.finish() >> 32) as u32
    }

    /// The index of `uids` (the uid table, in order), or `None` if a uid appears twice. Built in
    /// the order of the buckets the hashes land in: a restore inserts millions of uids, and in
    /// that order the table is written front to back instead of at a cache miss per uid. (The
    /// bucket count assumed is hashbrown's for this capacity; were it another, the inserts would
    /// only be slower.)
    pub(crate) fn build(uids: &UidTable) -> Option<UidIndex> {
        let n = uids.len();
        let mut index = UidIndex {
            seed: FoldHash::default(),
            by_hash: HashMap::with_capacity_and_hasher(n, PreHashed),
            spill: FastMap::default(),
        };
        let mask = ((n.saturating_mul(8) / 7).max(1).next_power_of_two() - 1) as u64;
        let bucket = |fp: u32| {
            let mut h = PreHashed.build_hasher();
            h.write_u32(fp);
            h.finish() & mask
        };
        let mut order: Vec<(u32, u32)> = (0..n as u32)
            .map(|u| {
                let (form, bytes) = uids.form_and_bytes(u);
                (index.fingerprint(form, bytes), u)
            })
            .collect();
        order.sort_unstable_by_key(|&(fp, u)| (bucket(fp), u));
        for (fp, u) in order {
            match index.by_hash.get(&fp) {
                None => {
                    index.by_hash.insert(fp, u);
                }
                Some(&first) => {
                    if uids.form_and_bytes(first) == uids.form_and_bytes(u)
                        || index.spill.insert(UidKey(uids.uid(u)), u).is_some()
                    {
                        return None;
                    }
                }
            }
        }
        Some(index)
    }

    /// The uid in form `form` with bytes `bytes`: the hash's owner confirmed against the table,
    /// then the spill map.
    fn find(&self, form: u8, bytes: &[u8], uids: &UidTable) -> Option<u32> {
        if let Some(&u) = self.by_hash.get(&self.fingerprint(form, bytes)) {
            if uids.is(u, form, bytes) {
                return Some(u);
            }
        }
        if self.spill.is_empty() {
            return None;
        }
        self.spill.get(&BorrowedUid(form, bytes) as &dyn UidBytes).copied()
    }

    /// The index of `uid`, confirmed against the uid table `uids`.
    pub(crate) fn get(&self, uid: &Uid, uids: &UidTable) -> Option<u32> {
        let (form, bytes) = uid.form_and_bytes();
        self.find(form, bytes, uids)
    }

    /// The index of the uid `uid` borrowed from wherever it is.
    pub(crate) fn get_view(&self, uid: UidView<'_>, uids: &UidTable) -> Option<u32> {
        let (form, bytes) = uid.form_and_bytes();
        self.find(form, bytes, uids)
    }

    /// Adds `uid`, which is not in the index yet, at index `u` (copying it only if it spills).
    pub(crate) fn insert(&mut self, uid: UidView<'_>, u: u32) {
        let (form, bytes) = uid.form_and_bytes();
        let fp = self.fingerprint(form, bytes);
        if let std::collections::hash_map::Entry::Vacant(slot) = self.by_hash.entry(fp) {
            slot.insert(u);
        } else {
            self.spill.insert(UidKey(uid.to_uid()), u);
        }
    }

    /// Uids whose fingerprint another uid had first.
    #[cfg(test)]
    pub(crate) fn spilled(&self) -> usize {
        self.spill.len()
    }

    /// Forces `uid` into the spill map, as a collision would (tests only).
    #[cfg(test)]
    fn insert_spilled(&mut self, uid: &Uid, u: u32) {
        self.spill.insert(UidKey(uid.clone()), u);
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    thread_local! {
        /// Every uid gets the same fingerprint (on this test thread): the spill map takes all but
        /// the first, the path a real collision takes.
        pub(crate) static FORCE_COLLISIONS: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
    }

    fn entries(uids: &[Uid]) -> UidTable {
        let mut t = UidTable::default();
        for u in uids {
            t.push(u.view());
        }
        t
    }

    #[test]
    fn uid_index_finds_owned_and_borrowed_forms_apart() {
        let uuid = [9u8; 16];
        // The same 16 bytes as text are another uid.
        let uids = vec![Uid::Uuid(uuid), Uid::from_wire_bytes(b"web-1".to_vec()), Uid::from_wire_bytes(uuid.to_vec())];
        let table = entries(&uids);
        let mut ix = UidIndex::default();
        for (u, uid) in uids.iter().enumerate() {
            ix.insert(uid.view(), u as u32);
        }
        assert_eq!(ix.get(&Uid::Uuid(uuid), &table), Some(0));
        assert_eq!(ix.get_view(UidView::Uuid(uuid), &table), Some(0));
        assert_eq!(ix.get_view(UidView::Text(b"web-1"), &table), Some(1));
        assert_eq!(ix.get_view(UidView::Text(&uuid), &table), Some(2));
        assert_eq!(ix.get(&Uid::from_wire_bytes(uuid.to_vec()), &table), Some(2));
        assert_eq!(ix.get_view(UidView::Text(b"web-2"), &table), None);
        assert_eq!(ix.spilled(), 0);
    }

    #[test]
    fn a_spilled_uid_is_found_and_never_confused() {
        // A uid whose hash bucket belongs to another uid (what a collision does) is found in the
        // spill map; the owner of the hash is still confirmed against the table.
        let uids = vec![Uid::from_wire_bytes(b"a".to_vec()), Uid::from_wire_bytes(b"b".to_vec())];
        let table = entries(&uids);
        let mut ix = UidIndex::default();
        ix.insert(uids[0].view(), 0);
        ix.insert_spilled(&uids[1], 1);
        assert_eq!(ix.get(&uids[0], &table), Some(0));
        assert_eq!(ix.get(&uids[1], &table), Some(1));
        assert_eq!(ix.get_view(UidView::Text(b"c"), &table), None);
        // A table that disagrees with the index (the hash's owner is another uid) is no hit.
        let other = entries(&[Uid::from_wire_bytes(b"z".to_vec()), uids[1].clone()]);
        assert_eq!(ix.get(&uids[0], &other), None);
    }

    #[test]
    fn real_fingerprint_collisions_spill_and_are_found() {
        // 600 k uids under 32-bit fingerprints: about 42 collide (n²/2³³); the chance of none
        // is e^-42. Every uid is found at its own index, inserted one by one or built at once.
        let uids: Vec<Uid> = (0..600_000u32).map(|i| Uid::from_wire_bytes(format!("d-{i}").into_bytes())).collect();
        let table = entries(&uids);
        let mut ix = UidIndex::default();
        for (u, uid) in uids.iter().enumerate() {
            ix.insert(uid.view(), u as u32);
        }
        assert!(ix.spilled() > 0, "no fingerprint collision among 600 k uids");
        let built = UidIndex::build(&table).unwrap();
        assert!(built.spilled() > 0);
        for (u, uid) in uids.iter().enumerate() {
            assert_eq!(ix.get(uid, &table), Some(u as u32));
            assert_eq!(built.get(uid, &table), Some(u as u32));
        }
        assert_eq!(ix.get_view(UidView::Text(b"d-600000"), &table), None);
    }

    #[test]
    fn a_built_index_is_the_inserted_one() {
        let uids: Vec<Uid> = (0..5000u32)
            .map(|i| {
                if i % 2 == 0 {
                    Uid::Uuid([(i % 251) as u8, (i / 251) as u8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 7])
                } else {
                    Uid::from_wire_bytes(format!("w{i}").into_bytes())
                }
            })
            .collect();
        let table = entries(&uids);
        let built = UidIndex::build(&table).unwrap();
        for (u, uid) in uids.iter().enumerate() {
            assert_eq!(built.get(uid, &table), Some(u as u32), "{uid:?}");
        }
        assert_eq!(built.get_view(UidView::Text(b"w5001"), &table), None);
        // A uid twice is refused.
        let mut twice = table.clone();
        twice.push(uids[17].view());
        assert!(UidIndex::build(&twice).is_none());
    }
}
