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

/// One attribute key's writes, reduced to what can still decide its value.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct AttrCell {
    /// The newest `set` (`Some(value)`) or `unset` (`None`).
    pub(crate) latest: Option<(WriteKey, Option<Value>)>,
    /// `set_once` writes ordered after `latest`, ascending.
    pub(crate) set_once: Vec<(WriteKey, Value)>,
}

impl AttrCell {
    /// Records a `set` (`Some`) or `unset` (`None`).
    pub(crate) fn write_latest(&mut self, key: WriteKey, value: Option<&Value>) {
        if self.latest.as_ref().is_some_and(|(k, _)| *k >= key) {
            return;
        }
        self.latest = Some((key, value.cloned()));
        self.set_once.retain(|(k, _)| *k > key);
    }

    /// Records a `set_once`.
    pub(crate) fn write_set_once(&mut self, key: WriteKey, value: &Value) {
        if self.latest.as_ref().is_some_and(|(k, _)| *k >= key) {
            return;
        }
        let at = self.set_once.partition_point(|(k, _)| *k < key);
        if self.set_once.get(at).is_some_and(|(k, _)| *k == key) {
            return;
        }
        // Exactly as many as there are: a cell rarely holds more than one, and `Vec`'s first
        // growth would make room for four (56 bytes each).
        self.set_once.reserve_exact(1);
        self.set_once.insert(at, (key, value.clone()));
    }

    /// Joins `other` into `self`.
    pub(crate) fn join(&mut self, other: &AttrCell) {
        if let Some((k, v)) = &other.latest {
            self.write_latest(*k, v.as_ref());
        }
        for (k, v) in &other.set_once {
            self.write_set_once(*k, v);
        }
    }

    /// The attribute's value, if it has one.
    pub(crate) fn value(&self) -> Option<&Value> {
        match &self.latest {
            Some((_, Some(v))) => Some(v),
            _ => self.set_once.first().map(|(_, v)| v),
        }
    }
}

/// A map kept as a vector sorted by key: nodes hold a handful of attribute keys, and a small
/// vector costs one allocation where a `BTreeMap` costs a node of ~200–700 bytes. Boxed, so that
/// an empty map (most device nodes have no attributes) is one null pointer.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct SmallMap<V> {
    // Boxed on purpose: 8 bytes for the empty map every device node has, where a `Vec` is 24.
    #[allow(clippy::box_collection)]
    entries: Option<Box<Vec<(u32, V)>>>,
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
        self.entries.as_deref().map_or(&[], |v| v.as_slice())
    }

    /// The value of `key`, inserted with `make` if absent.
    pub(crate) fn entry_or_insert_with(&mut self, key: u32, make: impl FnOnce() -> V) -> &mut V {
        let entries = self.entries.get_or_insert_with(Box::default);
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
        let entries = self.entries.get_or_insert_with(Box::default);
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

/// A node's events: when first and last, and each event's LSN and name in LSN order, packed as
/// LEB128 varints (the LSN as its distance from the previous one; the first as is). About four
/// bytes an event, in one allocation per node with a 28-byte header, and nothing at all for a
/// node without events: nine records in ten are events, and this is most of the fold's memory.
///
/// The block: the last event's LSN (`u64`), the first and last effective times (`i64`), the
/// packed bytes in use (`u32`), all little-endian, then the packed bytes and room to grow.
#[derive(Debug, Clone, Default)]
pub(crate) struct Events {
    block: Option<Box<[u8]>>,
}

/// The most packed event bytes one node holds (about a billion events on one device epoch or
/// customer): an event past it is rejected with reason `limit`. The snapshot format stores the
/// length as a `u32`.
pub const NODE_EVENT_BYTES_MAX: usize = u32::MAX as usize;

/// Bytes of the block's header.
const HEAD: usize = 28;
const AT_LAST_LSN: usize = 0;
const AT_FIRST_SEEN: usize = 8;
const AT_LAST_SEEN: usize = 16;
const AT_USED: usize = 24;

fn get8(b: &[u8], at: usize) -> [u8; 8] {
    let mut a = [0u8; 8];
    a.copy_from_slice(&b[at..at + 8]);
    a
}

fn get4(b: &[u8], at: usize) -> [u8; 4] {
    let mut a = [0u8; 4];
    a.copy_from_slice(&b[at..at + 4]);
    a
}

/// The block size for `packed` bytes: a multiple of 16 plus 8, so that with the allocator's
/// 8-byte chunk header nothing of a 16-byte-aligned chunk is wasted.
fn block_len(packed: usize) -> usize {
    (HEAD + packed + 8).div_ceil(16) * 16 - 8
}

impl PartialEq for Events {
    fn eq(&self, other: &Events) -> bool {
        // The header and the bytes in use; the room to grow is not state.
        fn used(e: &Events) -> Option<&[u8]> {
            e.block.as_deref().map(|b| &b[..HEAD + e.used()])
        }
        used(self) == used(other)
    }
}

/// Bytes of `v` as a LEB128 varint.
#[cfg(test)]
fn varint_len(v: u64) -> usize {
    (64 - v.leading_zeros() as usize).max(1).div_ceil(7)
}

/// Writes `v` as a LEB128 varint into `out` at `at` (room for 10 bytes); returns the end.
fn put_varint_at(out: &mut [u8], mut at: usize, mut v: u64) -> usize {
    while v >= 0x80 {
        out[at] = (v as u8) | 0x80;
        v >>= 7;
        at += 1;
    }
    out[at] = v as u8;
    at + 1
}

#[cfg(test)]
fn put_varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

/// Reads a LEB128 varint at `*pos`; `None` if it runs off the end, past 64 bits, or is not in
/// its shortest form (a last byte of 0 after others): one state, one encoding.
fn get_varint(bytes: &[u8], pos: &mut usize) -> Option<u64> {
    let mut v = 0u64;
    for shift in (0..64).step_by(7) {
        let b = *bytes.get(*pos)?;
        *pos += 1;
        let bits = u64::from(b & 0x7f);
        if shift == 63 && bits > 1 {
            return None;
        }
        v |= bits << shift;
        if b < 0x80 {
            return (b != 0 || shift == 0).then_some(v);
        }
    }
    None
}

impl Events {
    fn used(&self) -> usize {
        self.block.as_deref().map_or(0, |b| u32::from_le_bytes(get4(b, AT_USED)) as usize)
    }

    /// Adds the event at `lsn` (above every LSN present: the fold applies records in LSN
    /// order) named `name` at effective time `ts`.
    pub(crate) fn push(&mut self, lsn: Lsn, name: u32, ts: i64) {
        let mut enc = [0u8; 20];
        let Some(b) = self.block.as_deref_mut() else {
            let n = put_varint_at(&mut enc, 0, lsn);
            let n = put_varint_at(&mut enc, n, u64::from(name));
            // Room for about three events (a 48-byte chunk), then growth by half.
            let mut b = vec![0u8; block_len(n.max(12))];
            b[AT_LAST_LSN..AT_LAST_LSN + 8].copy_from_slice(&lsn.to_le_bytes());
            b[AT_FIRST_SEEN..AT_FIRST_SEEN + 8].copy_from_slice(&ts.to_le_bytes());
            b[AT_LAST_SEEN..AT_LAST_SEEN + 8].copy_from_slice(&ts.to_le_bytes());
            b[AT_USED..AT_USED + 4].copy_from_slice(&(n as u32).to_le_bytes());
            b[HEAD..HEAD + n].copy_from_slice(&enc[..n]);
            self.block = Some(b.into_boxed_slice());
            return;
        };
        let last = u64::from_le_bytes(get8(b, AT_LAST_LSN));
        let n = put_varint_at(&mut enc, 0, lsn.saturating_sub(last));
        let n = put_varint_at(&mut enc, n, u64::from(name));
        let used = u32::from_le_bytes(get4(b, AT_USED)) as usize;
        let first_seen = i64::from_le_bytes(get8(b, AT_FIRST_SEEN)).min(ts);
        let last_seen = i64::from_le_bytes(get8(b, AT_LAST_SEEN)).max(ts);
        if HEAD + used + n > b.len() {
            self.grow(used + (used / 2).max(8).max(n));
        }
        let Some(b) = self.block.as_deref_mut() else { return };
        b[HEAD + used..HEAD + used + n].copy_from_slice(&enc[..n]);
        b[AT_LAST_LSN..AT_LAST_LSN + 8].copy_from_slice(&lsn.to_le_bytes());
        b[AT_FIRST_SEEN..AT_FIRST_SEEN + 8].copy_from_slice(&first_seen.to_le_bytes());
        b[AT_LAST_SEEN..AT_LAST_SEEN + 8].copy_from_slice(&last_seen.to_le_bytes());
        // The fold calls `full` first: the bytes in use stay below `NODE_EVENT_BYTES_MAX`.
        b[AT_USED..AT_USED + 4].copy_from_slice(&((used + n) as u32).to_le_bytes());
    }

    /// True when one more event might not fit under [`NODE_EVENT_BYTES_MAX`] (an event takes
    /// at most 15 bytes: a 10-byte LSN distance and a 5-byte name).
    pub(crate) fn full(&self) -> bool {
        self.used() > NODE_EVENT_BYTES_MAX - 15
    }

    /// The packed bytes in use.
    pub(crate) fn bytes_used(&self) -> usize {
        self.used()
    }

    /// A header that claims `used` bytes, without them (tests of the limit only: nothing but
    /// `full` and `bytes_used` may read it).
    #[cfg(test)]
    pub(crate) fn with_bytes_used_for_tests(used: usize) -> Events {
        let mut b = vec![0u8; HEAD];
        b[AT_USED..AT_USED + 4].copy_from_slice(&(used as u32).to_le_bytes());
        Events { block: Some(b.into_boxed_slice()) }
    }

    /// Makes the block hold `packed` bytes.
    fn grow(&mut self, packed: usize) {
        let mut v = self.block.take().map(Vec::from).unwrap_or_default();
        let len = block_len(packed);
        v.reserve_exact(len.saturating_sub(v.len()));
        v.resize(len, 0);
        self.block = Some(v.into_boxed_slice());
    }

    /// Number of events: each is two varints, and each varint ends in a byte below 0x80.
    pub(crate) fn count(&self) -> u64 {
        (self.packed().iter().filter(|&&b| b < 0x80).count() / 2) as u64
    }

    pub(crate) fn first_seen(&self) -> Option<i64> {
        self.block.as_deref().map(|b| i64::from_le_bytes(get8(b, AT_FIRST_SEEN)))
    }

    pub(crate) fn last_seen(&self) -> Option<i64> {
        self.block.as_deref().map(|b| i64::from_le_bytes(get8(b, AT_LAST_SEEN)))
    }

    /// The packed bytes (what a snapshot stores).
    pub(crate) fn packed(&self) -> &[u8] {
        match self.block.as_deref() {
            Some(b) => &b[HEAD..HEAD + self.used()],
            None => &[],
        }
    }

    /// `(LSN, name)` of each event, in LSN order.
    pub(crate) fn iter(&self) -> EventIter<'_> {
        EventIter { packed: self.packed(), pos: 0, lsn: 0, first: true }
    }

    /// Rebuilds a node's events from a snapshot's parts, or says what is wrong with them: the
    /// packed events must decode to exactly `count` events with strictly ascending LSNs below
    /// `next_lsn` and names below `names`, and `seen` must be there exactly when there are
    /// events, first no later than last.
    pub(crate) fn restore(
        packed: Vec<u8>,
        count: u64,
        seen: Option<(i64, i64)>,
        names: usize,
        next_lsn: Lsn,
    ) -> Result<Events, &'static str> {
        let mut decoded = 0u64;
        let mut last: Option<Lsn> = None;
        let mut pos = 0;
        while pos < packed.len() {
            let delta = get_varint(&packed, &mut pos).ok_or("an event's LSN is not a varint")?;
            let name = get_varint(&packed, &mut pos).ok_or("an event's name is not a varint")?;
            let lsn = match last {
                None => delta,
                Some(_) if delta == 0 => return Err("event LSNs are not strictly ascending"),
                Some(l) => l.checked_add(delta).ok_or("an event's LSN overflows")?,
            };
            if lsn >= next_lsn {
                return Err("an event's LSN is not folded yet");
            }
            if name >= names as u64 {
                return Err("an event names an unknown event name");
            }
            last = Some(lsn);
            decoded += 1;
        }
        if decoded != count {
            return Err("the event count differs from the events");
        }
        let (first_seen, last_seen) = match (seen, count) {
            (None, 0) => return Ok(Events::default()),
            (Some((f, l)), c) if c > 0 && f <= l => (f, l),
            _ => return Err("first/last seen disagree with the events"),
        };
        let used = u32::try_from(packed.len()).map_err(|_| "the packed events are too long")?;
        let mut b = vec![0u8; block_len(packed.len())];
        b[AT_LAST_LSN..AT_LAST_LSN + 8].copy_from_slice(&last.unwrap_or(0).to_le_bytes());
        b[AT_FIRST_SEEN..AT_FIRST_SEEN + 8].copy_from_slice(&first_seen.to_le_bytes());
        b[AT_LAST_SEEN..AT_LAST_SEEN + 8].copy_from_slice(&last_seen.to_le_bytes());
        b[AT_USED..AT_USED + 4].copy_from_slice(&used.to_le_bytes());
        b[HEAD..HEAD + packed.len()].copy_from_slice(&packed);
        Ok(Events { block: Some(b.into_boxed_slice()) })
    }
}

/// See [`Events::iter`]. Stops at the first byte that does not decode (only a bug could put
/// one there: pushes and restores write and check every byte).
pub(crate) struct EventIter<'a> {
    packed: &'a [u8],
    pos: usize,
    lsn: Lsn,
    first: bool,
}

impl Iterator for EventIter<'_> {
    type Item = (Lsn, u32);

    fn next(&mut self) -> Option<(Lsn, u32)> {
        if self.pos >= self.packed.len() {
            return None;
        }
        let delta = get_varint(self.packed, &mut self.pos)?;
        let name = u32::try_from(get_varint(self.packed, &mut self.pos)?).ok()?;
        self.lsn = if self.first { delta } else { self.lsn.saturating_add(delta) };
        self.first = false;
        Some((self.lsn, name))
    }
}

/// The contents of one node: its attribute writes and its events. Attribute keys and event
/// names are interned ids (`u32`, in order of first appearance in the log, so deterministic);
/// the resolver turns them back into strings when it materialises.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct Contents {
    pub attrs: SmallMap<AttrCell>,
    pub events: Events,
}

impl Contents {
    /// The cell of attribute `key`, created empty if new.
    pub(crate) fn cell(&mut self, key: u32) -> &mut AttrCell {
        self.attrs.entry_or_insert_with(key, AttrCell::default)
    }
}

/// The join of a profile's nodes (SEMANTICS §4), as a profile is materialised.
#[derive(Debug, Default)]
pub(crate) struct Joined {
    pub attrs: SmallMap<AttrCell>,
    pub event_count: u64,
    pub by_name: SmallMap<u64>,
    pub first_seen: Option<i64>,
    pub last_seen: Option<i64>,
    /// LSNs of the events, ascending once [`Joined::finish`] ran.
    pub history: Vec<Lsn>,
}

impl Joined {
    /// Joins a node's contents in.
    pub(crate) fn add(&mut self, c: &Contents) {
        for (k, cell) in c.attrs.iter() {
            self.attrs.entry_or_insert_with(*k, AttrCell::default).join(cell);
        }
        let e = &c.events;
        self.event_count += e.count();
        for (lsn, name) in e.iter() {
            *self.by_name.entry_or_insert_with(name, || 0) += 1;
            self.history.push(lsn);
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
    fn events_pack_and_unpack() {
        let mut e = Events::default();
        assert_eq!((e.count(), e.first_seen(), e.iter().count()), (0, None, 0));
        let events = [(3u64, 0u32, 50i64), (4, 1, 10), (200, 0, 70), (1 << 40, 300, 20)];
        for (lsn, name, ts) in events {
            e.push(lsn, name, ts);
        }
        let got: Vec<(Lsn, u32)> = e.iter().collect();
        assert_eq!(got, events.iter().map(|(l, n, _)| (*l, *n)).collect::<Vec<_>>());
        assert_eq!((e.count(), e.first_seen(), e.last_seen()), (4, Some(10), Some(70)));
        // Small LSN steps and names take a byte each.
        assert!(e.packed().len() <= 4 * 2 + 6 + 1);
        let again = Events::restore(e.packed().to_vec(), 4, Some((10, 70)), 301, (1 << 40) + 1).unwrap();
        assert_eq!(again, e);
    }

    #[test]
    fn varint_lengths() {
        for (v, len) in [(0u64, 1), (127, 1), (128, 2), (16_383, 2), (16_384, 3), (u64::MAX, 10)] {
            let mut out = Vec::new();
            put_varint(&mut out, v);
            assert_eq!((varint_len(v), out.len()), (len, len), "{v}");
        }
    }

    #[test]
    fn restore_refuses_events_that_disagree() {
        let mut e = Events::default();
        e.push(5, 1, 1);
        e.push(9, 0, 2);
        let p = || e.packed().to_vec();
        assert!(Events::restore(p(), 2, Some((1, 2)), 2, 10).is_ok());
        assert!(Events::restore(p(), 3, Some((1, 2)), 2, 10).is_err(), "count");
        assert!(Events::restore(p(), 2, None, 2, 10).is_err(), "seen missing");
        assert!(Events::restore(p(), 2, Some((3, 2)), 2, 10).is_err(), "first after last");
        assert!(Events::restore(p(), 2, Some((1, 2)), 1, 10).is_err(), "unknown name");
        assert!(Events::restore(p(), 2, Some((1, 2)), 2, 9).is_err(), "LSN not folded");
        assert!(Events::restore(vec![5, 0, 0, 0], 2, Some((1, 2)), 2, 10).is_err(), "LSN repeated");
        assert!(Events::restore(vec![5, 0, 0x80], 2, Some((1, 2)), 2, 10).is_err(), "cut varint");
        assert!(Events::restore(vec![0xff; 11], 1, Some((1, 2)), 2, 10).is_err(), "varint too long");
        assert!(Events::restore(vec![0x85, 0x00, 0x00], 1, Some((1, 2)), 2, 10).is_err(), "overlong varint");
        assert!(Events::restore(vec![0x05, 0x00], 1, Some((1, 2)), 2, 10).is_ok(), "a single 0 byte is 0");
        assert!(Events::restore(Vec::new(), 0, Some((1, 2)), 2, 10).is_err(), "seen without events");
        assert_eq!(Events::restore(Vec::new(), 0, None, 2, 10).unwrap(), Events::default());
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
        let join = |x: &AttrCell, y: &AttrCell| {
            let mut r = x.clone();
            r.join(y);
            r
        };
        assert_eq!(join(&a, &b), join(&b, &a));
        assert_eq!(join(&join(&a, &b), &c), join(&a, &join(&b, &c)));
        assert_eq!(join(&a, &a), a);
        assert_eq!(join(&join(&a, &b), &c).value(), Some(&int(3)));
    }
}
