//! Every node's events, packed in blocks of one arena.
//!
//! A node's events are when first and last, and each event's LSN and name in LSN order, packed
//! as LEB128 varints (the LSN as its distance from the previous one; the first as is): about four
//! bytes an event. Nine records in ten are events, and this is most of the fold's memory, so a
//! node's events are one block of one arena, named by an 8-byte [`EventsRef`], rather than a heap
//! allocation per node behind a 16-byte pointer (which cost an allocator header and rounding per
//! node on top). A node without events has no block.
//!
//! A block: the last event's LSN (`u64`), the first and last effective times (`i64`), the packed
//! bytes in use (`u32`), all little-endian, the block's size class (`u8`), then the packed bytes
//! and room to grow. Blocks come in size classes, four per doubling (40, 48, 56, 64, 80, …);
//! a block that grows moves to a class about half as large again, and the block it leaves goes
//! on its class's free list for the next node that needs one. A block that would pass
//! [`BIG_BLOCK`] bytes (a node with thousands of events: a busy customer, a server-side device)
//! leaves the arena for a heap block of its own, which grows by half in place: the arena's free
//! lists only ever hold small blocks, which other nodes reuse, so a hot node leaves no more than
//! about twice `BIG_BLOCK` behind.

use crate::Lsn;

/// The most packed event bytes one node holds (about a billion events on one device epoch or
/// customer): an event past it is rejected with reason `limit`. The snapshot format stores the
/// length as a `u32`.
pub const NODE_EVENT_BYTES_MAX: usize = u32::MAX as usize;

/// A node's events: its block's offset in the arena plus one, or `BIG` + the index of its own
/// heap block, or 0 for none.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct EventsRef(u64);

/// `EventsRef`'s flag for a block of its own.
const BIG: u64 = 1 << 63;
/// The largest block the arena holds (its classes end here); larger ones are heap blocks.
const BIG_BLOCK: usize = 64 * 1024;

const AT_LAST_LSN: usize = 0;
const AT_FIRST_SEEN: usize = 8;
const AT_LAST_SEEN: usize = 16;
const AT_USED: usize = 24;
const AT_CLASS: usize = 28;
/// Bytes of a block's header.
const HEAD: usize = 29;
/// The arena's classes: class `CLASSES - 1` is `BIG_BLOCK` bytes.
const CLASSES: usize = 45;
const _: () = assert!(class_size(CLASSES - 1) == BIG_BLOCK);

/// Bytes of a block of class `k`.
const fn class_size(k: usize) -> usize {
    (4 + k % 4) << (k / 4 + 3)
}

/// The smallest class whose blocks hold `len` bytes; `None` past `BIG_BLOCK`.
fn class_for(len: usize) -> Option<usize> {
    (1..CLASSES).find(|&k| class_size(k) >= len)
}

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

/// See the module docs.
#[derive(Debug, Clone, Default)]
pub(crate) struct EventArena {
    bytes: Vec<u8>,
    /// Per class, the first free block (offset + 1; 0: none). A free block's first 8 bytes hold
    /// the next one.
    free: Vec<u64>,
    /// The blocks past `BIG_BLOCK`, one heap block each (never freed: a node keeps its events).
    big: Vec<Vec<u8>>,
}

/// One node's events as read from the arena.
#[derive(Debug, Clone, Copy)]
pub(crate) struct EventsView<'a> {
    block: Option<&'a [u8]>,
}

impl EventArena {
    /// The events of `r`.
    pub(crate) fn view(&self, r: EventsRef) -> EventsView<'_> {
        EventsView { block: (r.0 != 0).then(|| self.block(r)) }
    }

    /// Where the arena block of `r` (not 0, not big) lies in `bytes`.
    fn span(&self, r: EventsRef) -> std::ops::Range<usize> {
        let at = (r.0 - 1) as usize;
        at..at + class_size(usize::from(self.bytes[at + AT_CLASS]))
    }

    /// The block of `r` (not 0).
    fn block(&self, r: EventsRef) -> &[u8] {
        if r.0 & BIG != 0 {
            return &self.big[(r.0 & !BIG) as usize];
        }
        &self.bytes[self.span(r)]
    }

    fn block_mut(&mut self, r: EventsRef) -> &mut [u8] {
        if r.0 & BIG != 0 {
            return &mut self.big[(r.0 & !BIG) as usize];
        }
        let span = self.span(r);
        &mut self.bytes[span]
    }

    /// A block for `len` bytes: in the arena, or of its own past `BIG_BLOCK`.
    fn new_block(&mut self, len: usize) -> EventsRef {
        match class_for(len) {
            Some(k) => EventsRef(self.alloc(k) as u64 + 1),
            None => {
                self.big.push(vec![0u8; len]);
                EventsRef((self.big.len() - 1) as u64 | BIG)
            }
        }
    }

    /// A block of class `k`, header zeroed but for the class: off a free list, or at the end.
    fn alloc(&mut self, k: usize) -> usize {
        if self.free.is_empty() {
            self.free = vec![0; CLASSES];
        }
        let size = class_size(k);
        let at = match self.free[k] {
            0 => {
                let at = self.bytes.len();
                self.bytes.resize(at + size, 0);
                at
            }
            head => {
                let at = (head - 1) as usize;
                self.free[k] = u64::from_le_bytes(get8(&self.bytes, at));
                self.bytes[at..at + HEAD].fill(0);
                at
            }
        };
        self.bytes[at + AT_CLASS] = k as u8;
        at
    }

    fn release(&mut self, at: usize, k: usize) {
        let next = self.free[k];
        self.bytes[at..at + 8].copy_from_slice(&next.to_le_bytes());
        self.free[k] = at as u64 + 1;
    }

    fn put_header(b: &mut [u8], last_lsn: Lsn, first_seen: i64, last_seen: i64, used: u32) {
        b[AT_LAST_LSN..AT_LAST_LSN + 8].copy_from_slice(&last_lsn.to_le_bytes());
        b[AT_FIRST_SEEN..AT_FIRST_SEEN + 8].copy_from_slice(&first_seen.to_le_bytes());
        b[AT_LAST_SEEN..AT_LAST_SEEN + 8].copy_from_slice(&last_seen.to_le_bytes());
        b[AT_USED..AT_USED + 4].copy_from_slice(&used.to_le_bytes());
    }

    /// Adds the event at `lsn` (above every LSN present: the fold applies records in LSN order)
    /// named `name` at effective time `ts` to the events `r`, after checking `full` (so the
    /// bytes in use stay below [`NODE_EVENT_BYTES_MAX`]).
    pub(crate) fn push(&mut self, r: &mut EventsRef, lsn: Lsn, name: u32, ts: i64) {
        let mut enc = [0u8; 20];
        if r.0 == 0 {
            let n = put_varint_at(&mut enc, 0, lsn);
            let n = put_varint_at(&mut enc, n, u64::from(name));
            *r = self.new_block(HEAD + n);
            let b = self.block_mut(*r);
            Self::put_header(b, lsn, ts, ts, n as u32);
            b[HEAD..HEAD + n].copy_from_slice(&enc[..n]);
            return;
        }
        let b = self.block(*r);
        let last = u64::from_le_bytes(get8(b, AT_LAST_LSN));
        let first_seen = i64::from_le_bytes(get8(b, AT_FIRST_SEEN)).min(ts);
        let last_seen = i64::from_le_bytes(get8(b, AT_LAST_SEEN)).max(ts);
        let used = u32::from_le_bytes(get4(b, AT_USED)) as usize;
        let room = b.len();
        let n = put_varint_at(&mut enc, 0, lsn.saturating_sub(last));
        let n = put_varint_at(&mut enc, n, u64::from(name));
        if HEAD + used + n > room {
            // Grow by half (at least one class): amortised, a byte copied moves about twice.
            let want = HEAD + used + (used / 2).max(n);
            if r.0 & BIG != 0 {
                let v = &mut self.big[(r.0 & !BIG) as usize];
                v.reserve_exact(want - v.len());
                v.resize(want, 0);
            } else {
                let at = (r.0 - 1) as usize;
                let k = usize::from(self.bytes[at + AT_CLASS]);
                let to = match class_for(want) {
                    // `want` is past this class, so `k2` is a larger one.
                    Some(k2) => EventsRef(self.alloc(k2) as u64 + 1),
                    None => self.new_block(want),
                };
                if to.0 & BIG != 0 {
                    let src = &self.bytes[at + HEAD..at + HEAD + used];
                    self.big[(to.0 & !BIG) as usize][HEAD..HEAD + used].copy_from_slice(src);
                } else {
                    self.bytes.copy_within(at + HEAD..at + HEAD + used, (to.0 - 1) as usize + HEAD);
                }
                self.release(at, k);
                *r = to;
            }
        }
        let b = self.block_mut(*r);
        b[HEAD + used..HEAD + used + n].copy_from_slice(&enc[..n]);
        Self::put_header(b, lsn, first_seen, last_seen, (used + n) as u32);
    }

    /// Rebuilds a node's events from a snapshot's parts, or says what is wrong with them: the
    /// packed events must decode to exactly `count` events with strictly ascending LSNs below
    /// `next_lsn` and names below `names`, and `seen` must be there exactly when there are
    /// events, first no later than last.
    pub(crate) fn restore(
        &mut self,
        packed: &[u8],
        count: u64,
        seen: Option<(i64, i64)>,
        names: usize,
        next_lsn: Lsn,
    ) -> Result<EventsRef, &'static str> {
        let mut decoded = 0u64;
        let mut last: Option<Lsn> = None;
        let mut pos = 0;
        while pos < packed.len() {
            let delta = get_varint(packed, &mut pos).ok_or("an event's LSN is not a varint")?;
            let name = get_varint(packed, &mut pos).ok_or("an event's name is not a varint")?;
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
            (None, 0) => return Ok(EventsRef::default()),
            (Some((f, l)), c) if c > 0 && f <= l => (f, l),
            _ => return Err("first/last seen disagree with the events"),
        };
        let used = u32::try_from(packed.len()).map_err(|_| "the packed events are too long")?;
        let r = self.new_block(HEAD + packed.len());
        let b = self.block_mut(r);
        Self::put_header(b, last.unwrap_or(0), first_seen, last_seen, used);
        b[HEAD..HEAD + packed.len()].copy_from_slice(packed);
        Ok(r)
    }

    /// Events whose header claims `used` bytes without holding them (tests of the limit only:
    /// nothing but `full` and `bytes_used` may read them).
    #[cfg(test)]
    pub(crate) fn claiming_bytes_for_tests(&mut self, used: usize) -> EventsRef {
        let at = self.alloc(1);
        self.bytes[at + AT_USED..at + AT_USED + 4].copy_from_slice(&(used as u32).to_le_bytes());
        EventsRef(at as u64 + 1)
    }
}

impl<'a> EventsView<'a> {
    /// The packed bytes in use.
    pub(crate) fn bytes_used(&self) -> usize {
        self.block.map_or(0, |b| u32::from_le_bytes(get4(b, AT_USED)) as usize)
    }

    /// True when one more event might not fit under [`NODE_EVENT_BYTES_MAX`] (an event takes
    /// at most 15 bytes: a 10-byte LSN distance and a 5-byte name).
    pub(crate) fn full(&self) -> bool {
        self.bytes_used() > NODE_EVENT_BYTES_MAX - 15
    }

    /// Number of events: each is two varints, and each varint ends in a byte below 0x80.
    pub(crate) fn count(&self) -> u64 {
        (self.packed().iter().filter(|&&b| b < 0x80).count() / 2) as u64
    }

    pub(crate) fn first_seen(&self) -> Option<i64> {
        self.block.map(|b| i64::from_le_bytes(get8(b, AT_FIRST_SEEN)))
    }

    pub(crate) fn last_seen(&self) -> Option<i64> {
        self.block.map(|b| i64::from_le_bytes(get8(b, AT_LAST_SEEN)))
    }

    /// The packed bytes (what a snapshot stores).
    pub(crate) fn packed(&self) -> &'a [u8] {
        match self.block {
            Some(b) => &b[HEAD..HEAD + self.bytes_used()],
            None => &[],
        }
    }

    /// `(LSN, name)` of each event, in LSN order.
    pub(crate) fn iter(&self) -> EventIter<'a> {
        EventIter { packed: self.packed(), pos: 0, lsn: 0, first: true }
    }

    /// The header and the packed bytes: equal for equal events, wherever their blocks are.
    #[cfg(test)]
    fn state(&self) -> Option<(&'a [u8], &'a [u8])> {
        self.block.map(|b| (&b[..AT_CLASS], self.packed()))
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

/// See [`EventsView::iter`]. Stops at the first byte that does not decode (only a bug could
/// put one there: pushes and restores write and check every byte).
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_pack_and_unpack() {
        let mut a = EventArena::default();
        let mut e = EventsRef::default();
        let v = a.view(e);
        assert_eq!((v.count(), v.first_seen(), v.iter().count()), (0, None, 0));
        let events = [(3u64, 0u32, 50i64), (4, 1, 10), (200, 0, 70), (1 << 40, 300, 20)];
        for (lsn, name, ts) in events {
            a.push(&mut e, lsn, name, ts);
        }
        let v = a.view(e);
        let got: Vec<(Lsn, u32)> = v.iter().collect();
        assert_eq!(got, events.iter().map(|(l, n, _)| (*l, *n)).collect::<Vec<_>>());
        assert_eq!((v.count(), v.first_seen(), v.last_seen()), (4, Some(10), Some(70)));
        // Small LSN steps and names take a byte each.
        assert!(v.packed().len() <= 4 * 2 + 6 + 1);
        let packed = v.packed().to_vec();
        let again = a.restore(&packed, 4, Some((10, 70)), 301, (1 << 40) + 1).unwrap();
        assert_ne!(again, e, "another block");
        assert_eq!(a.view(again).state(), a.view(e).state());
    }

    #[test]
    fn many_nodes_growing_together_keep_their_own_events() {
        // Interleaved pushes onto many nodes: blocks move, are freed and reused by others.
        let mut a = EventArena::default();
        let mut refs = vec![EventsRef::default(); 50];
        let mut expect: Vec<Vec<(Lsn, u32)>> = vec![Vec::new(); 50];
        let mut lsn = 0u64;
        for round in 0..300u64 {
            for (i, r) in refs.iter_mut().enumerate() {
                // Node i takes an event in rounds that are multiples of (i % 7 + 1).
                if round % (i as u64 % 7 + 1) == 0 {
                    let name = ((round * 31 + i as u64) % 1000) as u32;
                    a.push(r, lsn, name, (lsn as i64 * 7919) % 1000);
                    expect[i].push((lsn, name));
                }
                lsn += 1 + round % 300;
            }
        }
        for (i, r) in refs.iter().enumerate() {
            let v = a.view(*r);
            assert_eq!(v.iter().collect::<Vec<_>>(), expect[i], "node {i}");
            assert_eq!(v.count(), expect[i].len() as u64);
        }
        // Freed blocks were reused: the arena holds less than every block ever made.
        let live: usize = refs.iter().map(|r| a.view(*r).block.map_or(0, <[u8]>::len)).sum();
        assert!(a.bytes.len() < 2 * live, "arena {} for {live} live bytes", a.bytes.len());
    }

    #[test]
    fn classes_grow_by_a_quarter_or_less_up_to_big_blocks() {
        for k in 1..CLASSES - 1 {
            assert!(class_size(k + 1) > class_size(k));
            assert!(class_size(k + 1) * 4 <= class_size(k) * 5, "class {k}");
        }
        assert_eq!(class_for(HEAD + 1), Some(1));
        assert_eq!(class_size(1), 40);
        assert_eq!(class_for(BIG_BLOCK), Some(CLASSES - 1));
        assert_eq!(class_for(BIG_BLOCK + 1), None);
    }

    #[test]
    fn a_hot_node_moves_to_a_block_of_its_own_and_leaves_little_behind() {
        let mut a = EventArena::default();
        let mut hot = EventsRef::default();
        let mut cold = vec![EventsRef::default(); 100];
        let mut expect = Vec::new();
        // 200 k events on one node (~600 kB packed), with 100 small nodes between them.
        for lsn in 0..200_000u64 {
            a.push(&mut hot, lsn * 2, (lsn % 7) as u32, lsn as i64);
            expect.push((lsn * 2, (lsn % 7) as u32));
            if lsn % 2000 == 0 {
                let c = &mut cold[(lsn / 2000) as usize];
                a.push(c, lsn * 2 + 1, 1, 0);
            }
        }
        assert!(hot.0 & BIG != 0, "the hot node has its own block");
        assert_eq!(a.view(hot).iter().collect::<Vec<_>>(), expect);
        assert_eq!(a.view(hot).count(), 200_000);
        assert_eq!((a.view(hot).first_seen(), a.view(hot).last_seen()), (Some(0), Some(199_999)));
        // What the hot node left in the arena is about twice the largest arena block.
        assert!(a.bytes.len() < 3 * BIG_BLOCK, "arena of {} bytes", a.bytes.len());
        for (i, c) in cold.iter().enumerate() {
            assert_eq!(a.view(*c).iter().collect::<Vec<_>>(), vec![(i as u64 * 4000 + 1, 1)]);
        }
        // Restore puts big events in a block of their own too, with the same bytes.
        let packed = a.view(hot).packed().to_vec();
        let again = a.restore(&packed, 200_000, Some((0, 199_999)), 7, 400_000).unwrap();
        assert!(again.0 & BIG != 0);
        assert_eq!(a.view(again).state(), a.view(hot).state());
    }

    #[test]
    fn varint_lengths() {
        for (v, len) in [(0u64, 1), (127, 1), (128, 2), (16_383, 2), (16_384, 3), (u64::MAX, 10)] {
            let mut out = [0u8; 10];
            let end = put_varint_at(&mut out, 0, v);
            assert_eq!((varint_len(v), end), (len, len), "{v}");
            let mut pos = 0;
            assert_eq!(get_varint(&out[..end], &mut pos), Some(v));
        }
    }

    #[test]
    fn restore_refuses_events_that_disagree() {
        let mut a = EventArena::default();
        let mut e = EventsRef::default();
        a.push(&mut e, 5, 1, 1);
        a.push(&mut e, 9, 0, 2);
        let p = a.view(e).packed().to_vec();
        assert!(a.restore(&p, 2, Some((1, 2)), 2, 10).is_ok());
        assert!(a.restore(&p, 3, Some((1, 2)), 2, 10).is_err(), "count");
        assert!(a.restore(&p, 2, None, 2, 10).is_err(), "seen missing");
        assert!(a.restore(&p, 2, Some((3, 2)), 2, 10).is_err(), "first after last");
        assert!(a.restore(&p, 2, Some((1, 2)), 1, 10).is_err(), "unknown name");
        assert!(a.restore(&p, 2, Some((1, 2)), 2, 9).is_err(), "LSN not folded");
        assert!(a.restore(&[5, 0, 0, 0], 2, Some((1, 2)), 2, 10).is_err(), "LSN repeated");
        assert!(a.restore(&[5, 0, 0x80], 2, Some((1, 2)), 2, 10).is_err(), "cut varint");
        assert!(a.restore(&[0xff; 11], 1, Some((1, 2)), 2, 10).is_err(), "varint too long");
        assert!(a.restore(&[0x85, 0x00, 0x00], 1, Some((1, 2)), 2, 10).is_err(), "overlong varint");
        assert!(a.restore(&[0x05, 0x00], 1, Some((1, 2)), 2, 10).is_ok(), "a single 0 byte is 0");
        assert!(a.restore(&[], 0, Some((1, 2)), 2, 10).is_err(), "seen without events");
        assert_eq!(a.restore(&[], 0, None, 2, 10).unwrap(), EventsRef::default());
    }
}
