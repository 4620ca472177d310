//! Duplicates (docs/SEMANTICS.md, "Duplicates"): the message ids the fold accepted within the
//! dedupe window, and the one question asked of them — was this id accepted less than the window
//! before this record's `appended_at`, and at which LSN?
//!
//! The ids are kept oldest first (by LSN) in a queue; each one's bytes sit in one byte buffer and
//! a hash table of queue positions finds them by content. Before each record, ids more than the
//! window older than the record leave from the front; past [`Config::dedupe_ids_max`] ids, the
//! oldest leaves early and is counted. What is kept depends on the log alone (LSN order and
//! `appended_at`); the table's hasher has a per-process seed but is only ever probed, never
//! listed. A snapshot and the digest list the live ids in queue order.
//!
//! Memory: about 40 bytes an id besides its bytes (a queue entry of 32, a table slot of 8 and its
//! control byte), so the default 1 000 000 ids of 36-byte UUIDs take about 80 MB.

use std::collections::VecDeque;
use std::hash::BuildHasher;

use hashbrown::HashTable;

use crate::hash::FoldHash;
use crate::Lsn;

/// One accepted message id.
#[derive(Debug, Clone, Copy)]
struct Seen {
    /// Where its bytes start, counted from the first byte the buffer ever held.
    start: u64,
    len: u32,
    /// False once a newer record with the same id replaced it (it stays in the queue until it
    /// reaches the front, but is no longer in the table).
    live: bool,
    lsn: Lsn,
    appended_at: i64,
    hash: u64,
}

/// See the module docs.
#[derive(Debug, Clone, Default)]
pub(crate) struct Dedupe {
    queue: VecDeque<Seen>,
    /// The queue position of `queue[0]`, counted from the first id ever queued.
    head: u64,
    bytes: Vec<u8>,
    /// The offset of `bytes[0]`, counted from the first byte ever held.
    bytes_base: u64,
    /// Queue positions of the live ids.
    table: HashTable<u64>,
    live: usize,
    /// Ids that left early because the window held `dedupe_ids_max` (a resend of one is
    /// accepted).
    pub(crate) evicted: u64,
    hasher: FoldHash,
}

/// A live id with its LSN and `appended_at`, oldest first (for snapshots and the digest).
pub(crate) struct LiveId<'a> {
    pub(crate) id: &'a [u8],
    pub(crate) lsn: Lsn,
    pub(crate) appended_at: i64,
}

/// `at - then > window`, without overflow.
fn older_than(then: i64, at: i64, window: i64) -> bool {
    i128::from(at) - i128::from(then) > i128::from(window)
}

impl Dedupe {
    /// Ids in the window.
    pub(crate) fn len(&self) -> usize {
        self.live
    }

    /// True when nothing is held and nothing was ever evicted: the state every log without
    /// message ids has (snapshots and the digest then leave the section out).
    pub(crate) fn is_empty(&self) -> bool {
        self.live == 0 && self.evicted == 0
    }

    fn seen(&self, pos: u64) -> Option<&Seen> {
        self.queue.get(usize::try_from(pos.checked_sub(self.head)?).ok()?)
    }

    fn bytes_of(&self, s: &Seen) -> &[u8] {
        let from = (s.start - self.bytes_base) as usize;
        &self.bytes[from..from + s.len as usize]
    }

    fn find(&self, hash: u64, id: &[u8]) -> Option<u64> {
        self.table.find(hash, |&pos| self.seen(pos).is_some_and(|s| s.hash == hash && self.bytes_of(s) == id)).copied()
    }

    /// Drops the front of the queue while it is dead or more than `window` older than `at` (the
    /// fold calls it before every record).
    pub(crate) fn expire(&mut self, at: i64, window: i64) {
        while let Some(front) = self.queue.front().copied() {
            if front.live && !older_than(front.appended_at, at, window) {
                break;
            }
            self.pop_front();
        }
    }

    fn pop_front(&mut self) {
        let Some(front) = self.queue.pop_front() else { return };
        if front.live {
            let pos = self.head;
            if let Ok(entry) = self.table.find_entry(front.hash, |&p| p == pos) {
                entry.remove();
            }
            self.live -= 1;
        }
        self.head += 1;
        // The bytes before the new front are no longer read: reclaim them once they are most of
        // the buffer (amortised: each byte moves at most once per halving).
        let keep_from = self.queue.front().map_or(self.bytes_base + self.bytes.len() as u64, |s| s.start);
        let dead = (keep_from - self.bytes_base) as usize;
        if dead > 4096 && dead * 2 > self.bytes.len() {
            self.bytes.drain(..dead);
            self.bytes_base += dead as u64;
        }
    }

    /// The LSN at which `id` was accepted, if it is held and that was at most `window` µs before
    /// `at` (the record's `appended_at`). Call [`Dedupe::expire`] first.
    pub(crate) fn check(&self, id: &[u8], at: i64, window: i64) -> Option<Lsn> {
        let hash = self.hasher.hash_one(id);
        let pos = self.find(hash, id)?;
        let s = self.seen(pos)?;
        (!older_than(s.appended_at, at, window)).then_some(s.lsn)
    }

    /// Registers `id`, accepted at `lsn` with `appended_at`; keeps at most `max` ids.
    pub(crate) fn register(&mut self, id: &[u8], lsn: Lsn, appended_at: i64, max: u32) {
        let hash = self.hasher.hash_one(id);
        // An older acceptance of the same id (out of the window, not yet at the front) is replaced.
        if let Some(pos) = self.find(hash, id) {
            if let Ok(entry) = self.table.find_entry(hash, |&p| p == pos) {
                entry.remove();
            }
            if let Some(i) = pos.checked_sub(self.head) {
                if let Some(s) = self.queue.get_mut(i as usize) {
                    s.live = false;
                }
            }
            self.live -= 1;
        }
        let start = self.bytes_base + self.bytes.len() as u64;
        self.bytes.extend_from_slice(id);
        let pos = self.head + self.queue.len() as u64;
        self.queue.push_back(Seen { start, len: id.len() as u32, live: true, lsn, appended_at, hash });
        let Dedupe { table, queue, head, .. } = self;
        table.insert_unique(hash, pos, |&p| queue.get((p - *head) as usize).map_or(0, |s| s.hash));
        self.live += 1;
        while self.live > max as usize {
            // The oldest live id leaves early (dead entries ahead of it go with it).
            let was = self.live;
            self.pop_front();
            if self.live < was {
                self.evicted += 1;
            }
        }
    }

    /// The live ids, oldest first.
    pub(crate) fn live_ids(&self) -> impl Iterator<Item = LiveId<'_>> + '_ {
        self.queue.iter().filter(|s| s.live).map(|s| LiveId {
            id: self.bytes_of(s),
            lsn: s.lsn,
            appended_at: s.appended_at,
        })
    }

    /// Rebuilds the state from a snapshot's list (live ids oldest first, and the evicted count).
    pub(crate) fn restore(ids: impl IntoIterator<Item = (Vec<u8>, Lsn, i64)>, evicted: u64) -> Dedupe {
        let mut d = Dedupe { evicted, ..Dedupe::default() };
        for (id, lsn, at) in ids {
            d.register(&id, lsn, at, u32::MAX);
        }
        d
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const H: i64 = 3_600_000_000; // an hour, in µs

    /// What the fold does before judging a record: expire, then check.
    fn judge(d: &mut Dedupe, id: &[u8], at: i64, window: i64) -> Option<Lsn> {
        d.expire(at, window);
        d.check(id, at, window)
    }

    #[test]
    fn an_id_within_the_window_is_a_duplicate_of_its_first_lsn() {
        let mut d = Dedupe::default();
        assert_eq!(judge(&mut d, b"m1", 0, 24 * H), None);
        d.register(b"m1", 0, 0, 10);
        assert_eq!(judge(&mut d, b"m1", 23 * H, 24 * H), Some(0));
        assert_eq!(judge(&mut d, b"m2", 23 * H, 24 * H), None);
        assert_eq!(judge(&mut d, b"m1", 24 * H, 24 * H), Some(0), "exactly the window is within it");
        assert_eq!(judge(&mut d, b"m1", 24 * H + 1, 24 * H), None, "past the window");
        assert_eq!(d.len(), 0, "and it left the window");
    }

    #[test]
    fn a_clock_that_steps_back_keeps_ids_longer_and_never_judges_by_position() {
        let mut d = Dedupe::default();
        d.register(b"late", 0, 10 * H, 10);
        d.register(b"early", 1, 0, 10);
        // "early" is behind "late" in the queue; at 20 h it is out of a 12 h window by time.
        assert_eq!(judge(&mut d, b"early", 20 * H, 12 * H), None);
        assert_eq!(judge(&mut d, b"late", 20 * H, 12 * H), Some(0));
        assert_eq!(judge(&mut d, b"late", 23 * H, 12 * H), None);
        assert_eq!(d.len(), 0);
    }

    #[test]
    fn past_the_bound_the_oldest_leaves_and_is_counted() {
        let mut d = Dedupe::default();
        for i in 0..5u64 {
            d.register(format!("m{i}").as_bytes(), i, 0, 3);
        }
        assert_eq!((d.len(), d.evicted), (3, 2));
        assert_eq!(judge(&mut d, b"m0", 0, H), None);
        assert_eq!(judge(&mut d, b"m4", 0, H), Some(4));
        let ids: Vec<_> = d.live_ids().map(|l| (l.id.to_vec(), l.lsn)).collect();
        assert_eq!(ids, [(b"m2".to_vec(), 2), (b"m3".to_vec(), 3), (b"m4".to_vec(), 4)]);
    }

    #[test]
    fn a_reaccepted_id_replaces_its_old_entry() {
        let mut d = Dedupe::default();
        d.register(b"m", 0, 0, 10);
        d.register(b"x", 1, 0, 10);
        assert_eq!(judge(&mut d, b"m", 2 * H, H), None);
        d.register(b"m", 2, 2 * H, 10);
        assert_eq!(judge(&mut d, b"m", 2 * H, H), Some(2));
        assert_eq!(d.len(), 1, "x and the old m left the window");
        let restored = Dedupe::restore(d.live_ids().map(|l| (l.id.to_vec(), l.lsn, l.appended_at)), d.evicted);
        let a: Vec<_> = d.live_ids().map(|l| (l.id.to_vec(), l.lsn, l.appended_at)).collect();
        let b: Vec<_> = restored.live_ids().map(|l| (l.id.to_vec(), l.lsn, l.appended_at)).collect();
        assert_eq!(a, b);
    }

    #[test]
    fn many_ids_reclaim_their_bytes() {
        let mut d = Dedupe::default();
        for i in 0..100_000u64 {
            d.register(format!("message-{i:012}").as_bytes(), i, i as i64, 1000);
        }
        assert_eq!(d.len(), 1000);
        assert!(d.bytes.len() < 64 * 1000, "the buffer holds about the live ids: {}", d.bytes.len());
        assert_eq!(judge(&mut d, b"message-000000099999", 100_000, 1 << 40), Some(99_999));
    }
}
