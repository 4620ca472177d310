//! A node's sessions (docs/SEMANTICS.md, "Sessions"): what one node keeps of them as its events
//! arrive, and the join that lists a profile's sessions.
//!
//! An event with a session id counts in that **explicit** session of its node: the session's
//! start and end are the least and greatest effective time of its events. Events without one
//! make **inferred** sessions: the node's event times cut wherever two neighbours (by time) are
//! more than the inactivity gap apart. Both are functions of the set of (time, session id) of a
//! node's events, so arrival order cannot change them: an inferred session is kept as a span,
//! and an event inside a span or within the gap of one extends it, joining two spans it
//! bridges. Nodes never split (unmerge, unlink and reset only regroup whole nodes), so a
//! profile's sessions are its nodes' sessions joined, exactly.

/// The most sessions one node may hold: an event that would open one more is rejected with
/// reason `limit` (a server-side device sending events hours apart for years stays under it).
pub const NODE_SESSIONS_MAX: usize = 100_000;

/// The id of an inferred session (explicit ones are indexes into [`SessionTexts`]).
pub(crate) const INFERRED: u32 = u32::MAX;

/// The session ids' text, each once per node session that names it, in one byte buffer: no
/// hash table and no allocation per id (a workload with a session id per visit has about as many
/// ids as sessions, and a table of owned strings cost ~150 bytes an id). A node finds its own
/// sessions by binary search over their texts.
#[derive(Debug, Clone, Default)]
pub(crate) struct SessionTexts {
    bytes: Vec<u8>,
    /// End offset of each text in `bytes`.
    ends: Vec<u64>,
}

impl SessionTexts {
    /// Adds `text`, returning its index.
    pub(crate) fn push(&mut self, text: &str) -> u32 {
        self.bytes.extend_from_slice(text.as_bytes());
        self.ends.push(self.bytes.len() as u64);
        (self.ends.len() - 1) as u32
    }

    /// The text of index `i` (an index `push` handed out: a restore checks the ones it reads).
    pub(crate) fn get(&self, i: u32) -> &str {
        let i = i as usize;
        let end = self.ends.get(i).copied().unwrap_or(0) as usize;
        let start = if i == 0 { 0 } else { self.ends.get(i - 1).copied().unwrap_or(0) as usize };
        // Every text was a `&str` pushed whole, so its bytes are UTF-8.
        std::str::from_utf8(self.bytes.get(start..end).unwrap_or(&[])).unwrap_or("")
    }

    /// Number of texts.
    pub(crate) fn len(&self) -> usize {
        self.ends.len()
    }
}

/// One session of one node: 24 bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Session {
    /// Least effective time of its events, µs.
    pub start: i64,
    /// Greatest effective time of its events, µs.
    pub end: i64,
    /// The interned session id, or [`INFERRED`].
    pub id: u32,
    /// Its events.
    pub count: u32,
}

/// A node's sessions: explicit ones ascending by id text, then inferred ones ascending by start
/// (disjoint, each more than the gap from the next). Empty for a node without events.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct NodeSessions {
    pub(crate) list: Vec<Session>,
}

/// Where an event goes among a node's sessions, found before anything changes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Slot {
    /// Into the explicit session at this index.
    Explicit(usize),
    /// A new explicit session inserted at this index.
    NewExplicit(usize),
    /// Into inferred spans `lo..hi` (one or two: an event can bridge two), or a new span at
    /// `lo` when `lo == hi`.
    Inferred { lo: usize, hi: usize },
}

impl Slot {
    /// True if the event opens a session.
    pub(crate) fn opens(self) -> bool {
        match self {
            Slot::Explicit(_) => false,
            Slot::NewExplicit(_) => true,
            Slot::Inferred { lo, hi } => lo == hi,
        }
    }
}

impl NodeSessions {
    /// Index of the first inferred session.
    fn inferred_from(&self) -> usize {
        self.list.partition_point(|s| s.id != INFERRED)
    }

    /// Where an event at `ts` of explicit session `id` (its text; or none, under inactivity gap
    /// `gap` µs; `None` when inferring is off) goes. `None`: it counts in no session.
    pub(crate) fn slot(&self, ts: i64, id: Option<&str>, texts: &SessionTexts, gap: Option<i64>) -> Option<Slot> {
        let split = self.inferred_from();
        if let Some(id) = id {
            return Some(match self.list[..split].binary_search_by(|s| texts.get(s.id).cmp(id)) {
                Ok(at) => Slot::Explicit(at),
                Err(at) => Slot::NewExplicit(at),
            });
        }
        let gap = gap?;
        let spans = &self.list[split..];
        // Spans whose reach [start - gap, end + gap] holds ts: contiguous, at most two (spans
        // are more than the gap apart, so a point is within the gap of at most the two beside it).
        let lo = spans.partition_point(|s| s.end.saturating_add(gap) < ts);
        let mut hi = lo;
        while hi < spans.len() && spans[hi].start.saturating_sub(gap) <= ts {
            hi += 1;
        }
        Some(Slot::Inferred { lo: split + lo, hi: split + hi })
    }

    /// Counts an event at `ts` into `slot` (from [`NodeSessions::slot`] on this state).
    pub(crate) fn add(&mut self, slot: Slot, ts: i64, id: Option<u32>) {
        match slot {
            Slot::Explicit(at) => {
                let s = &mut self.list[at];
                s.start = s.start.min(ts);
                s.end = s.end.max(ts);
                s.count = s.count.saturating_add(1);
            }
            Slot::NewExplicit(at) => {
                grow(&mut self.list);
                self.list.insert(at, Session { start: ts, end: ts, id: id.unwrap_or(INFERRED), count: 1 });
            }
            Slot::Inferred { lo, hi } if lo == hi => {
                grow(&mut self.list);
                self.list.insert(lo, Session { start: ts, end: ts, id: INFERRED, count: 1 });
            }
            Slot::Inferred { lo, hi } => {
                let mut joined = self.list[lo];
                for s in &self.list[lo + 1..hi] {
                    joined.start = joined.start.min(s.start);
                    joined.end = joined.end.max(s.end);
                    joined.count = joined.count.saturating_add(s.count);
                }
                joined.start = joined.start.min(ts);
                joined.end = joined.end.max(ts);
                joined.count = joined.count.saturating_add(1);
                self.list[lo] = joined;
                self.list.drain(lo + 1..hi);
            }
        }
    }

    /// True if the list is in its canonical order (what a restore checks): explicit sessions
    /// strictly ascending by their text in `texts`, then inferred ones ascending and more than
    /// `gap` apart (`None`: there can be none), every start no later than its end, no empty
    /// session.
    pub(crate) fn is_canonical(&self, texts: &SessionTexts, gap: Option<i64>) -> bool {
        let split = self.inferred_from();
        let (explicit, inferred) = self.list.split_at(split);
        let sane = |s: &Session| s.start <= s.end && s.count > 0;
        explicit.iter().all(|s| (s.id as usize) < texts.len() && sane(s))
            && explicit.windows(2).all(|w| texts.get(w[0].id) < texts.get(w[1].id))
            // The split is a binary search: it proves nothing about the sessions after it.
            && inferred.iter().all(|s| s.id == INFERRED && sane(s))
            && match gap {
                None => inferred.is_empty(),
                Some(g) => inferred.windows(2).all(|w| w[0].end.saturating_add(g) < w[1].start),
            }
    }
}

/// Room for one more, growing by half: most nodes hold one or two sessions.
fn grow(v: &mut Vec<Session>) {
    if v.len() == v.capacity() {
        v.reserve_exact((v.len() / 2).max(1));
    }
}

/// One session of a profile as listed: an explicit session joined over the profile's nodes
/// that hold its id, or one inferred session of one node.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionInfo {
    /// The session id; `None` for an inferred session.
    pub id: Option<String>,
    /// The nodes that hold it, as `(uid, epoch)` in canonical text; a customer node (events sent
    /// to a cid) as `None`.
    pub devices: Vec<Option<(String, u32)>>,
    /// Least effective time of its events, µs.
    pub start: i64,
    /// Greatest effective time of its events, µs.
    pub end: i64,
    /// Its events.
    pub events: u64,
}

impl SessionInfo {
    /// Its length, µs.
    pub fn length(&self) -> u64 {
        self.end.abs_diff(self.start)
    }
}

/// The summary of a profile's sessions, given as `(start, end)` in any order: the count, the
/// earliest and latest start, the median length (the lower middle one of an even count).
pub(crate) fn summary(sessions: &[(i64, i64)]) -> idres_model::SessionsSummary {
    let mut lengths: Vec<u64> = sessions.iter().map(|(s, e)| e.abs_diff(*s)).collect();
    lengths.sort_unstable();
    idres_model::SessionsSummary {
        count: sessions.len() as u64,
        first_start: sessions.iter().map(|s| s.0).min().map(idres_model::Timestamp::from_micros),
        last_start: sessions.iter().map(|s| s.0).max().map(idres_model::Timestamp::from_micros),
        median_micros: (!lengths.is_empty()).then(|| lengths[(lengths.len() - 1) / 2]),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Inferred sessions of `times` arriving in that order, gap `gap`.
    fn infer(times: &[i64], gap: i64) -> Vec<(i64, i64, u32)> {
        let mut s = NodeSessions::default();
        let texts = SessionTexts::default();
        for &t in times {
            let slot = s.slot(t, None, &texts, Some(gap)).unwrap();
            s.add(slot, t, None);
            assert!(s.is_canonical(&texts, Some(gap)), "{:?}", s.list);
        }
        s.list.iter().map(|x| (x.start, x.end, x.count)).collect()
    }

    /// The naive definition: sort, cut where neighbours are more than `gap` apart.
    fn naive(times: &[i64], gap: i64) -> Vec<(i64, i64, u32)> {
        let mut t = times.to_vec();
        t.sort_unstable();
        let mut out: Vec<(i64, i64, u32)> = Vec::new();
        for x in t {
            match out.last_mut() {
                Some(last) if x - last.1 <= gap => {
                    last.1 = x;
                    last.2 += 1;
                }
                _ => out.push((x, x, 1)),
            }
        }
        out
    }

    #[test]
    fn inferred_sessions_do_not_depend_on_arrival_order() {
        let times = [100, 10, 55, 40, 200, 170, 135, 0, 100, 300];
        assert_eq!(infer(&times, 30), naive(&times, 30));
        let mut rev = times;
        rev.reverse();
        assert_eq!(infer(&rev, 30), naive(&times, 30));
        // 135 arriving last bridges (100..100) and (170..170) exactly at the gap's edge.
        assert_eq!(infer(&[100, 170, 135], 35), vec![(100, 170, 3)]);
        assert_eq!(infer(&[100, 170, 135], 34), naive(&[100, 170, 135], 34));
    }

    #[test]
    fn every_order_of_a_small_set_gives_the_naive_sessions() {
        // Deterministic pseudo-random sets, each folded in several orders.
        let mut x = 0x9e37_79b9_7f4a_7c15u64;
        let mut next = || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        for _ in 0..300 {
            let n = (next() % 12) as usize + 1;
            let mut times: Vec<i64> = (0..n).map(|_| (next() % 200) as i64).collect();
            let gap = (next() % 40) as i64;
            let want = naive(&times, gap);
            for _ in 0..4 {
                assert_eq!(infer(&times, gap), want, "{times:?} gap {gap}");
                let (a, b) = ((next() as usize) % n, (next() as usize) % n);
                times.swap(a, b);
            }
        }
    }

    #[test]
    fn explicit_sessions_by_id_then_inferred() {
        let mut s = NodeSessions::default();
        let mut texts = SessionTexts::default();
        for (t, id) in [(50, Some("s7")), (10, None), (40, Some("s2")), (20, Some("s7")), (500, None)] {
            let slot = s.slot(t, id, &texts, Some(60)).unwrap();
            assert_eq!(slot.opens(), !matches!((t, id), (20, Some("s7"))));
            let index = match (slot, id) {
                (Slot::NewExplicit(_), Some(text)) => Some(texts.push(text)),
                _ => None,
            };
            s.add(slot, t, index);
        }
        let got: Vec<_> = s
            .list
            .iter()
            .map(|x| (if x.id == INFERRED { "~" } else { texts.get(x.id) }, x.start, x.end, x.count))
            .collect();
        assert_eq!(got, vec![("s2", 40, 40, 1), ("s7", 20, 50, 2), ("~", 10, 10, 1), ("~", 500, 500, 1)]);
        assert!(s.is_canonical(&texts, Some(60)));
        assert!(!s.is_canonical(&SessionTexts::default(), Some(60)), "an id past the texts");
        assert!(!s.is_canonical(&texts, None), "inferred sessions with inferring off");
        assert!(!s.is_canonical(&texts, Some(490)), "spans within the gap of each other");
        let mut forged = s.clone();
        forged.list.push(Session { start: 900, end: 900, id: 0, count: 1 });
        assert!(!forged.is_canonical(&texts, Some(60)), "an explicit session among the inferred ones");
        assert_eq!(s.slot(5, None, &texts, None), None, "no session when inferring is off");
    }

    #[test]
    fn summary_counts_first_last_and_lower_median() {
        let s = summary(&[(10, 20), (0, 100), (50, 51), (60, 90)]);
        assert_eq!(s.count, 4);
        assert_eq!(s.first_start.map(|t| t.as_micros()), Some(0));
        assert_eq!(s.last_start.map(|t| t.as_micros()), Some(60));
        assert_eq!(s.median_micros, Some(10), "lengths 1, 10, 30, 100: the lower middle");
        assert_eq!(summary(&[]), idres_model::SessionsSummary::default());
    }
}
