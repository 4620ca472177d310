//! The fold's state, [`Resolver`], and its wiring: creating nodes, the change stream, the nodes'
//! own profile ids, and the union-find as the fold sees it (a union or split also reports its
//! changes). What each record does is in `apply.rs` and `identity.rs` (reading it as a
//! `record_ref.rs` `RecordRef`, checked by `rules.rs`), reads in `reads.rs`
//! and `explain.rs`, the state as bytes in `snapshot.rs`, `restore.rs` and `digest.rs`.
//!
//! State: interned uids (`uids.rs`, found through `uid_index.rs`: with their current epoch and
//! the device nodes of their epochs) and cids (with their customer node, found through
//! `cid_index.rs`); dense `u32` node ids
//! (`node.rs`); a union-find over the nodes (`components.rs`) whose roots hold the component
//! (members, device and customer counts, primary customer, attribute sums; the profile id is not
//! stored there but
//! computed from the primary, or from the device of an anonymous profile, when asked for, and
//! cached per node for the change stream); and the identity graph, whose edges carry the
//! provenance of the record that made them.

use std::collections::VecDeque;

use idres_model::{Cid, IdValidator};
use petgraph::stable_graph::StableDiGraph;
use uuid::Uuid;

use crate::cid_index::CidIndex;
use crate::components::{CompView, Components, United};
use crate::config::Config;
use crate::contents::Contents;
use crate::events::EventArena;
use crate::interner::Interner;
use crate::node::{CidEntry, Graph, Node, NodeId, NodeKind};
use crate::outcome::{Change, ForgottenRejections, ImplicitReset, Rejection, REJECTIONS_KEPT_MAX};
use crate::profile_id::{anonymous_profile_id_of, customer_profile_id};
use crate::profile_index::ProfileIndex;
use crate::rules::{CheckedCid, CheckedUid};
use crate::uid_index::UidIndex;
use crate::uids::UidTable;
use crate::Lsn;

/// The fold's state. Feed it records with [`Resolver::apply`]; read profiles from it.
#[derive(Debug, Clone)]
pub struct Resolver {
    pub(crate) config: Config,
    pub(crate) validator: IdValidator,
    pub(crate) next_lsn: Lsn,
    pub(crate) uid_index: UidIndex,
    pub(crate) uids: UidTable,
    pub(crate) cid_index: CidIndex,
    pub(crate) cids: Vec<CidEntry>,
    pub(crate) nodes: Vec<Node>,
    /// The union-find over the nodes and their components.
    pub(crate) components: Components,
    /// Graph node `i` is node `i` (so its weight is nothing: 12 bytes a node, not 16).
    pub(crate) graph: Graph,
    /// Own profile ids of nodes, filled as the change stream needs them (`Uuid::nil()`, never a
    /// v5 id: not computed yet). See [`Resolver::own_id`].
    pub(crate) own_ids: Vec<Uuid>,
    /// Profile id -> the node that names it, built on the first lookup by id.
    pub(crate) profile_index: ProfileIndex,
    /// Whether the fold records its [`Change`]s (see [`Resolver::set_change_tracking`]).
    pub(crate) track_changes: bool,
    /// Every node's events (a node holds an [`crate::events::EventsRef`] into it).
    pub(crate) events: EventArena,
    pub(crate) keys: Interner,
    pub(crate) names: Interner,
    /// The newest [`REJECTIONS_KEPT_MAX`] rejections, oldest first.
    pub(crate) rejections: VecDeque<Rejection>,
    /// The older ones, counted.
    pub(crate) rejections_forgotten: ForgottenRejections,
    pub(crate) implicit_resets: Vec<ImplicitReset>,
    /// Changes since the last drain (not part of the state: snapshots and digests ignore it).
    pub(crate) changes: Vec<Change>,
    /// The message ids accepted within the dedupe window.
    pub(crate) dedupe: crate::dedupe::Dedupe,
    /// The session ids' text (docs/SEMANTICS.md, "Sessions").
    pub(crate) session_texts: crate::sessions::SessionTexts,
    /// The nodes' sessions: node `n` with `nodes[n].sessions == i + 1` holds `sessions[i]`.
    pub(crate) sessions: Vec<crate::sessions::NodeSessions>,
    /// A buffer for system event names (`"\0"` + the name: see `apply.rs`).
    pub(crate) name_buf: String,
}

impl Resolver {
    /// An empty state under `config`.
    pub fn new(config: Config) -> Resolver {
        let validator = IdValidator::new(config.blocked.clone());
        Resolver {
            config,
            validator,
            next_lsn: 0,
            uid_index: UidIndex::default(),
            uids: UidTable::default(),
            cid_index: CidIndex::default(),
            cids: Vec::new(),
            nodes: Vec::new(),
            components: Components::default(),
            graph: StableDiGraph::default(),
            own_ids: Vec::new(),
            profile_index: ProfileIndex::default(),
            track_changes: true,
            events: EventArena::default(),
            keys: Interner::default(),
            names: Interner::default(),
            rejections: VecDeque::new(),
            rejections_forgotten: ForgottenRejections::default(),
            implicit_resets: Vec::new(),
            changes: Vec::new(),
            dedupe: crate::dedupe::Dedupe::default(),
            session_texts: crate::sessions::SessionTexts::default(),
            sessions: Vec::new(),
            name_buf: String::new(),
        }
    }

    /// The config the fold runs under.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// The LSN the next record must have.
    pub fn next_lsn(&self) -> Lsn {
        self.next_lsn
    }

    /// Keeps rejection `r`, forgetting the oldest kept one (but counting it) if
    /// [`REJECTIONS_KEPT_MAX`] are kept already.
    pub(crate) fn keep_rejection(&mut self, r: Rejection) {
        while self.rejections.len() >= REJECTIONS_KEPT_MAX {
            let Some(old) = self.rejections.pop_front() else { break };
            self.rejections_forgotten.note(&old);
        }
        self.rejections.push_back(r);
    }

    /// The device node of uid `u`'s current epoch, once that epoch saw a record.
    pub(crate) fn current_device(&self, u: u32) -> Option<NodeId> {
        self.uids.current(u)
    }

    /// The index of a checked uid, interned on first sight (the only time it is copied).
    pub(crate) fn intern_uid(&mut self, uid: CheckedUid<'_>) -> u32 {
        if let Some(u) = uid.known {
            return u;
        }
        let u = self.uids.push(uid.uid);
        self.uid_index.insert(uid.uid, u);
        u
    }

    /// The device node of uid `u`'s current epoch, created if new.
    pub(crate) fn device_node(&mut self, u: u32) -> NodeId {
        if let Some(n) = self.current_device(u) {
            return n;
        }
        let epoch = self.uids.epoch(u);
        let n = self.new_node(NodeKind::Device { uid: u, epoch });
        self.uids.push_node(u, epoch, n);
        n
    }

    /// The customer node of a checked cid, created if new (the only time the cid is copied).
    pub(crate) fn customer_node(&mut self, cid: CheckedCid<'_>) -> NodeId {
        if let Some(n) = cid.node {
            return n;
        }
        let c = self.cids.len() as u32;
        let n = self.nodes.len() as NodeId;
        // The cid first: the new node's profile id is read from it.
        self.cids.push(CidEntry { cid: Cid::from_wire_bytes(cid.bytes), node: n });
        let new = self.cid_index.insert(cid.bytes, n);
        debug_assert!(new, "a cid checked as new is not interned meanwhile");
        self.new_node(NodeKind::Customer { cid: c })
    }

    fn new_node(&mut self, kind: NodeKind) -> NodeId {
        let n = self.nodes.len() as NodeId;
        self.nodes.push(Node::new(kind, Contents::default()));
        self.components.push(n);
        // On its own: no stored component (see `comp`).
        let g = self.graph.add_node(());
        debug_assert_eq!(g.index(), n as usize);
        if self.track_changes {
            let profile = self.own_id_cached(n);
            self.profile_index.note(n, profile);
            self.changes.push(Change::Created { profile });
        }
        n
    }

    /// The component at union-find root `root` (see [`Components::view`]).
    pub(crate) fn comp(&self, root: NodeId) -> CompView<'_> {
        self.components.view(root, &self.nodes)
    }

    /// The id of the profile at root `root` (SEMANTICS §5).
    pub(crate) fn comp_id(&self, root: NodeId) -> Uuid {
        self.own_id(self.components.naming_node(root))
    }

    pub(crate) fn find(&mut self, x: NodeId) -> NodeId {
        self.components.find(x)
    }

    pub(crate) fn find_ro(&self, x: NodeId) -> NodeId {
        self.components.find_ro(x)
    }

    /// Unites two components (roots `a`, `b`); the result's primary is `primary`.
    pub(crate) fn union(&mut self, a: NodeId, b: NodeId, primary: Option<NodeId>) {
        let Some(United { named_by, now_named_by }) = self.components.union(a, b, primary, &self.nodes) else {
            return;
        };
        if self.track_changes {
            let into = self.own_id_cached(now_named_by);
            for old in named_by {
                let profile = self.own_id_cached(old);
                if profile != into {
                    self.changes.push(Change::Retired { profile, into });
                }
            }
            self.changes.push(Change::Changed { profile: into });
        }
    }

    /// Recomputes the components of the former component at `root` after edges were removed:
    /// each new component gets its members, counts and primary from its nodes alone.
    pub(crate) fn split(&mut self, root: NodeId) {
        let Some(old) = self.components.split(root, &self.graph, &self.nodes) else { return };
        if !self.track_changes {
            return;
        }
        let from = self.own_id(old.named_by);
        // Sorted by id: member order depends on the history of unions (and differs after a
        // restore), the change stream must not.
        let mut into: Vec<Uuid> = Vec::new();
        for &m in &old.members {
            let r = self.find(m);
            let id = self.comp_id(r);
            if !into.contains(&id) {
                into.push(id);
            }
        }
        into.sort_unstable();
        for id in into {
            self.changes.push(Change::Split { from, into: id });
        }
    }

    pub(crate) fn note_changed(&mut self, node: NodeId) {
        if !self.track_changes {
            return;
        }
        let root = self.find(node);
        let id = self.own_id_cached(self.components.naming_node(root));
        self.changes.push(Change::Changed { profile: id });
    }

    /// Builds the index of profile ids now. It is otherwise built on the first lookup by id
    /// ([`Resolver::profile_by_id`]), under a lock that a reader holds meanwhile: a service that
    /// looks profiles up by id (the engine's store does) builds it before it takes writes. While
    /// the change stream is on, new nodes are then indexed as they are created. Every node's
    /// profile id is computed once here and kept (16 bytes a node, as the change stream keeps
    /// them), so that the reads after it (a store rebuild reads every one) hash nothing again.
    pub fn index_profile_ids(&mut self) {
        let n = self.nodes.len();
        if self.own_ids.len() < n {
            self.own_ids.resize(n, Uuid::nil());
        }
        for i in 0..n {
            if self.own_ids[i].is_nil() {
                self.own_ids[i] = self.compute_own_id(i as NodeId);
            }
        }
        let mut index = std::mem::take(&mut self.profile_index);
        index.build(n, |n| self.own_id(n));
        self.profile_index = index;
    }

    /// Turns the change stream on (the default) or off. A fold whose changes nobody reads (a
    /// replay that rebuilds everything from the result, a benchmark) turns it off and saves the
    /// profile id of every node it touches; turning it back on resumes the stream from the next
    /// record. It changes nothing else: state, snapshots and digests are the same either way.
    pub fn set_change_tracking(&mut self, on: bool) {
        self.track_changes = on;
    }

    /// The id of the profile node `n` names on its own (its customer's, or its device epoch's
    /// anonymous profile: SEMANTICS §5). A UUID v5, computed when asked for unless the change
    /// stream has cached it.
    pub(crate) fn own_id(&self, n: NodeId) -> Uuid {
        match self.own_ids.get(n as usize) {
            Some(id) if !id.is_nil() => *id,
            _ => self.compute_own_id(n),
        }
    }

    fn compute_own_id(&self, n: NodeId) -> Uuid {
        match self.nodes[n as usize].kind() {
            NodeKind::Device { uid, epoch } => {
                let (form, bytes) = self.uids.form_and_bytes(uid);
                anonymous_profile_id_of(form, bytes, epoch)
            }
            NodeKind::Customer { cid } => customer_profile_id(&self.cids[cid as usize].cid),
        }
    }

    /// As [`Self::own_id`], remembering it: the change stream names a node's profile at each of
    /// its events.
    fn own_id_cached(&mut self, n: NodeId) -> Uuid {
        let i = n as usize;
        if self.own_ids.len() <= i {
            self.own_ids.resize(self.nodes.len().max(i + 1), Uuid::nil());
        }
        if self.own_ids[i].is_nil() {
            self.own_ids[i] = self.compute_own_id(n);
        }
        self.own_ids[i]
    }

    /// Hands out the changes since the last call, oldest first. The buffer is reused, so the
    /// event path allocates nothing in steady state; a caller that never drains lets it grow.
    pub fn drain_changes(&mut self) -> std::vec::Drain<'_, Change> {
        self.changes.drain(..)
    }
}

#[cfg(test)]
mod tests {
    use idres_model::{encode_entry, Entry, Map, Record, Target, Timestamp, Uid, Value, SCHEMA_VERSION};

    use super::*;
    use crate::uid_index::tests::FORCE_COLLISIONS;
    use crate::{Applied, Reason};

    /// A log over text and UUID uids: events, identifies, attribute writes, resets, an unlink.
    fn log() -> Vec<Entry> {
        let uid = |i: usize| {
            if i.is_multiple_of(2) {
                Uid::Uuid([i as u8 + 1; 16])
            } else {
                Uid::from_wire_bytes(format!("web-{i}").into_bytes())
            }
        };
        let cid = |i: usize| Cid::parse(&format!("c{}", i % 3)).unwrap();
        let mut records = Vec::new();
        for round in 0..4 {
            for i in 0..12 {
                records.push(Record::Event {
                    target: Target::Uid(uid(i)),
                    name: format!("e{}", (i + round) % 3),
                    props: Map::new(),
                    session_id: None,
                    ts: Some(Timestamp(i as i64)),
                    system: false,
                    message_id: None,
                });
            }
            for i in (round..12).step_by(4) {
                let mut attrs = Map::new();
                attrs.insert("plan".into(), Value::Int(round as i64));
                records.push(Record::Identify {
                    uid: Some(uid(i)),
                    cid: cid(i + round),
                    attrs,
                    ts: None,
                    message_id: None,
                });
            }
            records.push(Record::Reset { uid: uid(round), ts: None });
            records.push(Record::Unlink { uid: uid(round + 4), cid: cid(round + 4) });
        }
        records
            .into_iter()
            .enumerate()
            .map(|(i, record)| Entry { appended_at: Timestamp(100 + i as i64), record })
            .collect()
    }

    fn fold_encoded(entries: &[Entry], restore_at: usize) -> Resolver {
        let mut r = Resolver::new(Config::default());
        for (lsn, e) in entries.iter().enumerate() {
            if lsn == restore_at {
                r = Resolver::restore(&r.snapshot().unwrap(), Config::default()).unwrap();
            }
            r.apply_encoded(lsn as u64, SCHEMA_VERSION, &encode_entry(e).unwrap()).unwrap();
        }
        r
    }

    #[test]
    fn an_event_past_the_node_event_limit_is_rejected_and_changes_nothing() {
        let entries = log();
        let mut r = fold_encoded(&entries, entries.len());
        let Record::Event { target: Target::Uid(uid), .. } = &entries[0].record else { panic!("an event first") };
        let u = r.uid_index.get(uid, &r.uids).unwrap();
        let n = r.current_device(u).unwrap() as usize;
        r.nodes[n].contents.events = r.events.claiming_bytes_for_tests(crate::NODE_EVENT_BYTES_MAX - 14);
        let (nodes, uids, rejections) = (r.nodes.len(), r.uids.len(), r.rejections().len());
        let lsn = r.next_lsn();
        let bytes = encode_entry(&entries[0]).unwrap();
        assert_eq!(
            r.apply_encoded(lsn, SCHEMA_VERSION, &bytes).unwrap(),
            Applied::Rejected(Reason::Limit),
            "the in-place path defers to the checked one"
        );
        assert_eq!(r.apply(lsn + 1, &entries[0]).unwrap(), Applied::Rejected(Reason::Limit));
        assert!(r.rejections().back().unwrap().detail.contains("NODE_EVENT_BYTES_MAX"));
        assert_eq!(r.next_lsn(), lsn + 2);
        // Only the rejections were added: no node, no uid, no event.
        assert_eq!((r.nodes.len(), r.uids.len(), r.rejections().len()), (nodes, uids, rejections + 2));
        assert_eq!(r.events.view(r.nodes[n].contents.events).bytes_used(), crate::NODE_EVENT_BYTES_MAX - 14);
        // One byte less and the node takes events again.
        r.nodes[n].contents.events = r.events.claiming_bytes_for_tests(crate::NODE_EVENT_BYTES_MAX - 15);
        assert!(!r.events_full(n as NodeId));
    }

    #[test]
    fn event_epochs_is_event_epoch_for_every_lsn() {
        let entries = log();
        let r = fold_encoded(&entries, entries.len());
        let mut seen = 0;
        for (lsn, e) in entries.iter().enumerate() {
            let Record::Event { target: Target::Uid(u), .. } = &e.record else { continue };
            let all = r.event_epochs(u);
            assert!(all.windows(2).all(|w| w[0].0 < w[1].0), "in LSN order");
            let batch = all.binary_search_by_key(&(lsn as u64), |&(l, _)| l).ok().map(|i| all[i].1);
            assert_eq!(batch, r.event_epoch(u, lsn as u64), "LSN {lsn}");
            assert!(batch.is_some(), "every accepted event of the log is held (LSN {lsn})");
            seen += 1;
        }
        assert!(seen > 40);
        // The reset uids have events in two epochs.
        assert!(r.event_epochs(&Uid::Uuid([1; 16])).iter().any(|&(_, e)| e > 0));
    }

    #[test]
    fn colliding_uid_fingerprints_change_nothing() {
        let entries = log();
        let normal = fold_encoded(&entries, entries.len() / 2);
        FORCE_COLLISIONS.with(|c| c.set(true));
        let colliding = fold_encoded(&entries, entries.len() / 2);
        FORCE_COLLISIONS.with(|c| c.set(false));
        assert!(colliding.uid_index.spilled() > 10, "the uids really went to the spill map");
        assert_eq!(normal.digest(), colliding.digest());
        assert_eq!(normal.snapshot().unwrap(), colliding.snapshot().unwrap());
        assert_eq!(normal.profiles(), colliding.profiles());
    }
}
