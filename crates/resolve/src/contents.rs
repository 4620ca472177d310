//! What one node holds, and the join that makes a profile out of its nodes (SEMANTICS §4).
//!
//! Every field is a join-semilattice: joining is commutative, associative and idempotent, so a
//! profile's contents do not depend on the order its nodes were joined in, a merge is one join and
//! an unmerge or unlink is an exact recomputation from the nodes that remain.
//!
//! Attribute values: for key `k`, the newest `set`/`unset` by (effective ts, LSN, slot) wins; if
//! it is an `unset`, or there is none, the earliest `set_once` ordered after it is the value. A
//! cell keeps the newest `set`/`unset` and only the `set_once` writes ordered after it: an older
//! `set_once` can never be "after" the winner again, since the winner only moves forward under
//! joins.

use idres_model::Value;

use crate::events::{EventsRef, EventsView};
use crate::Lsn;

/// The order of attribute writes: effective time, then LSN, then the slot within the record
/// (set_once 0, set 1, unset 2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) struct WriteKey {
    pub ts: i64,
    pub lsn: Lsn,
    pub slot: u8,
}

pub(crate) const SLOT_SET_ONCE: u8 = 0;
pub(crate) const SLOT_SET: u8 = 1;
pub(crate) const SLOT_UNSET: u8 = 2;

/// The mark of a system attribute's key id in a node's cells (docs/SEMANTICS.md, "System and
/// custom data"): its cell is `keys`' id of the key with this bit set, beside the custom
/// attribute's cell of the same key. Ids stay below it: an interner of 2^31 keys would not fit
/// in memory first (a restore refuses ids past it).
pub(crate) const SYSTEM_KEY: u32 = 1 << 31;

/// One attribute key's writes, reduced to what can still decide its value. A node's cells own
/// their values (`V = Value`); a profile being materialised joins them into cells that borrow
/// (`V = &Value`), so that a value is copied only if the profile is wanted owned.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct AttrCell<V = Value> {
    /// The newest `set` (`Some(value)`) or `unset` (`None`).
    pub(crate) latest: Option<(WriteKey, Option<V>)>,
    /// `set_once` writes ordered after `latest`, ascending.
    pub(crate) set_once: Vec<(WriteKey, V)>,
}

impl<V> Default for AttrCell<V> {
    fn default() -> Self {
        AttrCell { latest: None, set_once: Vec::new() }
    }
}

impl<V: Clone> AttrCell<V> {
    /// Records a `set` (`Some`) or `unset` (`None`).
    pub(crate) fn write_latest(&mut self, key: WriteKey, value: Option<&V>) {
        if self.latest.as_ref().is_some_and(|(k, _)| *k >= key) {
            return;
        }
        self.latest = Some((key, value.cloned()));
        self.set_once.retain(|(k, _)| *k > key);
    }

    /// Records a `set_once`.
    pub(crate) fn write_set_once(&mut self, key: WriteKey, value: &V) {
        if self.latest.as_ref().is_some_and(|(k, _)| *k >= key) {
            return;
        }
        let at = self.set_once.partition_point(|(k, _)| *k < key);
        if self.set_once.get(at).is_some_and(|(k, _)| *k == key) {
            return;
        }
        // Room for exactly the first (a cell rarely holds more than one, and `Vec`'s first
        // growth would make room for four of 56 bytes), then growth by half: this also runs as
        // profiles are joined at read time.
        if self.set_once.is_empty() {
            self.set_once.reserve_exact(1);
        } else {
            grow_by_half(&mut self.set_once);
        }
        self.set_once.insert(at, (key, value.clone()));
    }

    /// The attribute's value, if it has one.
    pub(crate) fn value(&self) -> Option<&V> {
        match &self.latest {
            Some((_, Some(v))) => Some(v),
            _ => self.set_once.first().map(|(_, v)| v),
        }
    }
}

impl AttrCell {
    /// Bytes of attribute `key` with every value this cell keeps
    /// ([`idres_model::limits::attribute_bytes`] of each).
    pub(crate) fn bytes(&self, key: &str) -> u64 {
        let latest = self.latest.iter().filter_map(|(_, v)| v.as_ref());
        latest
            .chain(self.set_once.iter().map(|(_, v)| v))
            .map(|v| idres_model::limits::attribute_bytes(key, v) as u64)
            .sum()
    }
}

impl<'a> AttrCell<&'a Value> {
    /// Joins a node's cell `other` into this borrowing one (the join of SEMANTICS §4: the newest
    /// set/unset, and the set_once writes after it), the values borrowed from `other`.
    pub(crate) fn join_stored(&mut self, other: &'a AttrCell) {
        if let Some((k, v)) = &other.latest {
            let v: Option<&'a Value> = v.as_ref();
            self.write_latest(*k, v.as_ref());
        }
        for (k, v) in &other.set_once {
            self.write_set_once(*k, &v);
        }
    }
}

/// A map kept as a vector sorted by key: nodes hold a handful of attribute keys, and a small
/// vector costs one allocation where a `BTreeMap` costs a node of ~200–700 bytes. Boxed, so that
/// an empty map (most device nodes have no attributes) is one null pointer. The box also holds a
/// running total the owner keeps (a node's attribute bytes, see [`Contents::attr_bytes`]), so
/// only nodes with attributes pay for it.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct SmallMap<V> {
    entries: Option<Box<Inner<V>>>,
}

#[derive(Debug, Clone, PartialEq, Default)]
struct Inner<V> {
    list: Vec<(u32, V)>,
    total: u64,
}

impl<V> Default for SmallMap<V> {
    fn default() -> Self {
        SmallMap { entries: None }
    }
}

/// Makes room for one more entry, growing by half (at least one) rather than doubling from
/// four: most maps hold one to three entries of 88 bytes.
fn grow_by_half<T>(v: &mut Vec<T>) {
    if v.len() == v.capacity() {
        v.reserve_exact((v.len() / 2).max(1));
    }
}

impl<V> SmallMap<V> {
    fn entries(&self) -> &[(u32, V)] {
        self.entries.as_deref().map_or(&[], |v| v.list.as_slice())
    }

    fn inner(&mut self) -> &mut Inner<V> {
        self.entries.get_or_insert_with(|| Box::new(Inner { list: Vec::new(), total: 0 }))
    }

    /// The running total (0 for an empty map).
    pub(crate) fn total(&self) -> u64 {
        self.entries.as_deref().map_or(0, |v| v.total)
    }

    /// Sets the running total.
    pub(crate) fn set_total(&mut self, total: u64) {
        self.inner().total = total;
    }

    /// The value of `key`, if present.
    pub(crate) fn get(&self, key: u32) -> Option<&V> {
        let entries = self.entries();
        let at = entries.binary_search_by_key(&key, |(k, _)| *k).ok()?;
        Some(&entries[at].1)
    }

    /// The value of `key`, inserted with `make` if absent.
    pub(crate) fn entry_or_insert_with(&mut self, key: u32, make: impl FnOnce() -> V) -> &mut V {
        let entries = &mut self.inner().list;
        let at = match entries.binary_search_by_key(&key, |(k, _)| *k) {
            Ok(at) => at,
            Err(at) => {
                grow_by_half(entries);
                entries.insert(at, (key, make()));
                at
            }
        };
        &mut entries[at].1
    }

    /// Appends an entry whose key is larger than every key present (false otherwise, and
    /// nothing is added): restore builds maps in linear time and refuses unsorted input.
    pub(crate) fn push_ascending(&mut self, key: u32, value: V) -> bool {
        if self.entries().last().is_some_and(|(k, _)| *k >= key) {
            return false;
        }
        let entries = &mut self.inner().list;
        grow_by_half(entries);
        entries.push((key, value));
        true
    }

    /// Entries in key order.
    pub(crate) fn iter(&self) -> impl Iterator<Item = (&u32, &V)> {
        self.entries().iter().map(|(k, v)| (k, v))
    }

    /// Number of entries.
    pub(crate) fn len(&self) -> usize {
        self.entries().len()
    }
}

/// The contents of one node: its attribute writes and its events. Attribute keys and event
/// names are interned ids (`u32`, in order of first appearance in the log, so deterministic);
/// the resolver turns them back into strings when it materialises.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct Contents {
    pub attrs: SmallMap<AttrCell>,
    pub events: EventsRef,
}

impl Contents {
    /// The node's attribute bytes: [`idres_model::limits::attribute_bytes`] of every value its
    /// cells keep (a winning `set` and the `set_once` writes after it), summed. The resolver keeps
    /// it current on every write and recomputes it on restore; it is never stored.
    pub(crate) fn attr_bytes(&self) -> u64 {
        self.attrs.total()
    }

    /// The cell of attribute `key`, created empty if new.
    pub(crate) fn cell(&mut self, key: u32) -> &mut AttrCell {
        self.attrs.entry_or_insert_with(key, AttrCell::default)
    }
}

/// The join of a profile's nodes (SEMANTICS §4), as a profile is materialised: borrowing the
/// nodes' values.
#[derive(Debug, Default)]
pub(crate) struct Joined<'a> {
    pub attrs: SmallMap<AttrCell<&'a Value>>,
    pub event_count: u64,
    pub by_name: SmallMap<u64>,
    pub first_seen: Option<i64>,
    pub last_seen: Option<i64>,
    /// LSNs of the events, ascending once [`Joined::finish`] ran.
    pub history: Vec<Lsn>,
    /// The history is not gathered (the persisted read model keeps none).
    pub without_history: bool,
}

impl<'a> Joined<'a> {
    /// Joins a node's contents in (`e`: its events, read from the arena).
    pub(crate) fn add(&mut self, c: &'a Contents, e: EventsView<'_>) {
        // A device's system attributes stay its own (the profile lists them per device).
        for (k, cell) in c.attrs.iter().filter(|(k, _)| **k & SYSTEM_KEY == 0) {
            self.attrs.entry_or_insert_with(*k, AttrCell::default).join_stored(cell);
        }
        self.event_count += e.count();
        if self.without_history {
            for (_, name) in e.iter() {
                *self.by_name.entry_or_insert_with(name, || 0) += 1;
            }
        } else {
            for (lsn, name) in e.iter() {
                *self.by_name.entry_or_insert_with(name, || 0) += 1;
                self.history.push(lsn);
            }
        }
        self.first_seen = match (self.first_seen, e.first_seen()) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        self.last_seen = match (self.last_seen, e.last_seen()) {
            (Some(a), Some(b)) => Some(a.max(b)),
            (a, b) => a.or(b),
        };
    }

    /// Puts the history in LSN order.
    pub(crate) fn finish(&mut self) {
        self.history.sort_unstable();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn k(ts: i64, lsn: Lsn, slot: u8) -> WriteKey {
        WriteKey { ts, lsn, slot }
    }

    fn int(i: i64) -> Value {
        Value::Int(i)
    }

    #[test]
    fn newest_set_wins_by_time_then_lsn_then_slot() {
        let mut c = AttrCell::default();
        c.write_latest(k(5, 1, SLOT_SET), Some(&int(1)));
        c.write_latest(k(3, 9, SLOT_SET), Some(&int(2))); // older by time: ignored
        assert_eq!(c.value(), Some(&int(1)));
        c.write_latest(k(5, 1, SLOT_UNSET), None); // same record, unset after set
        assert_eq!(c.value(), None);
        c.write_latest(k(5, 2, SLOT_SET), Some(&int(3)));
        assert_eq!(c.value(), Some(&int(3)));
    }

    #[test]
    fn set_once_after_the_winner() {
        let mut c = AttrCell::default();
        c.write_set_once(k(4, 0, SLOT_SET_ONCE), &int(10));
        c.write_set_once(k(2, 1, SLOT_SET_ONCE), &int(20));
        assert_eq!(c.value(), Some(&int(20)), "earliest set_once when nothing is set");
        c.write_latest(k(3, 2, SLOT_UNSET), None);
        assert_eq!(c.value(), Some(&int(10)), "earliest set_once after the unset");
        c.write_latest(k(6, 3, SLOT_UNSET), None);
        assert_eq!(c.value(), None, "no set_once after the newest unset");
    }

    #[test]
    fn join_is_commutative_associative_idempotent() {
        let mut a = AttrCell::default();
        a.write_set_once(k(1, 0, 0), &int(1));
        a.write_latest(k(2, 1, 2), None);
        let mut b = AttrCell::default();
        b.write_set_once(k(3, 2, 0), &int(3));
        let mut c = AttrCell::default();
        c.write_latest(k(0, 3, 1), Some(&int(9)));
        // What materialising a profile does: the nodes' cells joined into a borrowing one.
        fn join<'a>(cells: &[&'a AttrCell]) -> AttrCell<&'a Value> {
            let mut r = AttrCell::default();
            for &x in cells {
                r.join_stored(x);
            }
            r
        }
        assert_eq!(join(&[&a, &b]), join(&[&b, &a]));
        let abc = join(&[&a, &b, &c]);
        for order in [[&a, &c, &b], [&b, &a, &c], [&b, &c, &a], [&c, &a, &b], [&c, &b, &a]] {
            assert_eq!(join(&order), abc);
        }
        assert_eq!(join(&[&a, &a]), join(&[&a]));
        let own = join(&[&a]);
        assert_eq!(own.latest.map(|(k, v)| (k, v.cloned())), a.latest.clone());
        assert_eq!(abc.value(), Some(&&int(3)));
    }
}
