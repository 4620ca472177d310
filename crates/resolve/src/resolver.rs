//! The fold: records in LSN order change the identity graph and the nodes' contents.
//!
//! State: interned uids (with their current epoch and the device nodes of their epochs) and cids
//! (with their customer node); dense `u32` node ids; a union-find over the nodes (path halving,
//! union by size) whose roots carry the component (members, device and customer counts, primary
//! customer; the profile id is not stored there but computed from the primary, or from the device of an
//! anonymous profile, when asked for, and cached per node for the change stream); and the identity graph, whose edges carry the provenance of
//! the record that made them.
//!
//! Every handler checks everything first and changes state only once the record is accepted:
//! a rejected record changes nothing.

use crate::hash::FastMap;
use crate::uid_index::UidIndex;
use crate::uids::UidTable;
use std::borrow::Cow;
use std::hash::BuildHasher;
use std::sync::{Mutex, MutexGuard, PoisonError};

use idres_model::limits::{attribute_bytes, PROFILE_ATTRIBUTES_MAX, PROFILE_ATTRIBUTE_BYTES_MAX};
use idres_model::{
    decode_entry_with_schema, event_view, Cid, CodecError, Entry, IdRejection, IdValidator, Record, Target, TargetView,
    Uid, Value,
};
use petgraph::stable_graph::{EdgeIndex, NodeIndex, StableDiGraph};
use petgraph::visit::{EdgeRef, IntoEdgeReferences};
use petgraph::Direction;
use uuid::Uuid;

use crate::components::{CompView, Components, United};
use crate::config::{Config, OnCidConflict};
use crate::contents::{Contents, Joined, WriteKey, SLOT_SET, SLOT_SET_ONCE, SLOT_UNSET};
use crate::events::EventArena;
use crate::interner::Interner;
use crate::node::{CidEntry, EdgeInfo, Graph, Node, NodeId, NodeKind};
use crate::profile::EdgeKind;
use crate::profile::{
    anonymous_profile_id_of, customer_profile_id, Change, DeviceRef, Explanation, ImplicitReset, NodeRef, PathStep,
    Profile, ProfileKind, Reason, Rejection,
};
use crate::Lsn;

/// Why [`Resolver::apply_encoded`] could not apply a record.
#[derive(Debug, thiserror::Error)]
pub enum ApplyEncodedError {
    /// The bytes do not decode (damage, or a log written by something else).
    #[error("the record does not decode: {0}")]
    Decode(#[source] CodecError),
    /// The resolver was misused (see [`ApplyError`]).
    #[error(transparent)]
    Apply(#[from] ApplyError),
}

/// What a record did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Applied {
    /// The record was applied (possibly as a no-op, e.g. an unmerge of a cid without merges).
    Accepted,
    /// The record was rejected and changed nothing; [`Resolver::rejections`] has the details.
    Rejected(Reason),
}

/// Misuse of the resolver by its caller (never caused by a record's content).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ApplyError {
    /// Records must be applied in LSN order without gaps or repeats.
    #[error("record at LSN {found} applied out of order: the resolver expects LSN {expected}")]
    OutOfOrder {
        /// The LSN the resolver expects next.
        expected: Lsn,
        /// The LSN it was given.
        found: Lsn,
    },
    /// The largest LSN has been applied; nothing can follow it.
    #[error("no LSN follows {}", Lsn::MAX)]
    LsnExhausted,
}

/// Profile id -> the node that names it, for [`Resolver::profile_by_id`]. Built on the first
/// lookup and extended at each later one (nodes are only ever added, and a node's own id never
/// changes), so a fold that is never asked by id never computes it.
#[derive(Debug, Default)]
pub(crate) struct ProfileIndex {
    /// The index, and how many nodes (from node 0) it covers.
    inner: Mutex<(FastMap<Uuid, NodeId>, usize)>,
}

impl Clone for ProfileIndex {
    fn clone(&self) -> Self {
        ProfileIndex { inner: Mutex::new(self.lock().clone()) }
    }
}

impl ProfileIndex {
    fn lock(&self) -> MutexGuard<'_, (FastMap<Uuid, NodeId>, usize)> {
        // The index holds no invariant a panic elsewhere could break halfway: keep using it.
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn get(&self, r: &Resolver, id: Uuid) -> Option<NodeId> {
        let mut guard = self.lock();
        let (map, upto) = &mut *guard;
        Self::extend_to(map, upto, r);
        map.get(&id).copied()
    }

    fn extend_to(map: &mut FastMap<Uuid, NodeId>, upto: &mut usize, r: &Resolver) {
        let new = r.nodes.len().saturating_sub(*upto);
        map.reserve(new);
        if new <= 1024 {
            for n in *upto..r.nodes.len() {
                map.insert(r.own_id(n as NodeId), n as NodeId);
            }
        } else {
            // Many at once (an open, a first lookup): insert in the order of the buckets the
            // ids land in, so the table is written front to back rather than at a cache miss per
            // id (the bucket count assumed is hashbrown's; were it another, only slower).
            let mask = ((map.capacity().saturating_mul(8) / 7).max(1).next_power_of_two() - 1) as u64;
            let hasher = *map.hasher();
            let mut ids: Vec<(u64, Uuid, NodeId)> = (*upto..r.nodes.len())
                .map(|n| {
                    let id = r.own_id(n as NodeId);
                    (hasher.hash_one(id) & mask, id, n as NodeId)
                })
                .collect();
            ids.sort_unstable_by_key(|&(bucket, _, n)| (bucket, n));
            for (_, id, n) in ids {
                map.insert(id, n);
            }
        }
        *upto = r.nodes.len();
    }

    /// Indexes every node of `r` now.
    fn build(&mut self, r: &Resolver) {
        let (map, upto) = self.inner.get_mut().unwrap_or_else(PoisonError::into_inner);
        Self::extend_to(map, upto, r);
    }

    /// Indexes the new node `n` (own id `id`) if the index is complete up to it; a partial index
    /// picks it up at its next lookup.
    fn note(&mut self, n: NodeId, id: Uuid) {
        let (map, upto) = self.inner.get_mut().unwrap_or_else(PoisonError::into_inner);
        if *upto == n as usize {
            map.insert(id, n);
            *upto += 1;
        }
    }
}

type Rejected = (Reason, String);

/// The fold's state. Feed it records with [`Resolver::apply`]; read profiles from it.
#[derive(Debug, Clone)]
pub struct Resolver {
    pub(crate) config: Config,
    pub(crate) validator: IdValidator,
    pub(crate) next_lsn: Lsn,
    pub(crate) uid_index: UidIndex,
    pub(crate) uids: UidTable,
    pub(crate) cid_index: FastMap<Cid, u32>,
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
    pub(crate) rejections: Vec<Rejection>,
    pub(crate) implicit_resets: Vec<ImplicitReset>,
    /// Changes since the last drain (not part of the state: snapshots and digests ignore it).
    pub(crate) changes: Vec<Change>,
}

fn check_shape(record: &Record) -> Result<(), Rejected> {
    record.validate_shape().map_err(|e| (Reason::InvalidRecord, e.to_string()))
}

/// True if the uid's canonical text equals `bytes` (without formatting it into a `String`).
fn uid_text_is(uid: &Uid, bytes: &[u8]) -> bool {
    match uid {
        Uid::Text(t) => &t[..] == bytes,
        Uid::Uuid(b) => {
            let mut buf = [0u8; uuid::fmt::Hyphenated::LENGTH];
            let text = uuid::Uuid::from_bytes(*b).hyphenated().encode_lower(&mut buf);
            text.as_bytes() == bytes
        }
    }
}

/// The ids a record names, as text, for explain: a uid in canonical form when it is valid.
fn subjects(record: &Record) -> (Option<String>, Vec<String>) {
    let uid_text = |u: &Uid| u.canonical().unwrap_or_else(|_| u.clone()).to_string();
    let cid_text = |c: &Cid| c.to_string();
    let target = |t: &Target| match t {
        Target::Uid(u) => (Some(uid_text(u)), Vec::new()),
        Target::Cid(c) => (None, vec![cid_text(c)]),
    };
    match record {
        Record::Identify { uid, cid, .. } => (uid.as_ref().map(uid_text), vec![cid_text(cid)]),
        Record::Reset { uid, .. } => (Some(uid_text(uid)), Vec::new()),
        Record::Event { target: t, .. } | Record::Attributes { target: t, .. } => target(t),
        Record::Merge { from, into } => (None, vec![cid_text(from), cid_text(into)]),
        Record::Unmerge { cid } => (None, vec![cid_text(cid)]),
        Record::Unlink { uid, cid } => (Some(uid_text(uid)), vec![cid_text(cid)]),
    }
}

fn id_rejection(r: IdRejection) -> Rejected {
    let reason = match r {
        IdRejection::Invalid(_) => Reason::InvalidId,
        IdRejection::Blocked { .. } => Reason::BlockedValue,
    };
    (reason, r.to_string())
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
            cid_index: FastMap::default(),
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
            rejections: Vec::new(),
            implicit_resets: Vec::new(),
            changes: Vec::new(),
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

    /// Every rejected record so far, in LSN order.
    pub fn rejections(&self) -> &[Rejection] {
        &self.rejections
    }

    /// Applies the record at `lsn`. Records must come in LSN order, from 0, without gaps.
    pub fn apply(&mut self, lsn: Lsn, entry: &Entry) -> Result<Applied, ApplyError> {
        if lsn != self.next_lsn {
            return Err(ApplyError::OutOfOrder { expected: self.next_lsn, found: lsn });
        }
        self.next_lsn = lsn.checked_add(1).ok_or(ApplyError::LsnExhausted)?;
        let ts = entry.effective_ts().as_micros();
        match self.apply_record(lsn, ts, &entry.record) {
            Ok(()) => Ok(Applied::Accepted),
            Err((reason, detail)) => {
                let (uid, cids) = subjects(&entry.record);
                self.rejections.push(Rejection { lsn, kind: entry.record.kind(), reason, detail, uid, cids });
                if self.track_changes {
                    self.changes.push(Change::Rejected { lsn, reason });
                }
                Ok(Applied::Rejected(reason))
            }
        }
    }

    /// Applies the record at `lsn` as the log holds it (`bytes`, written under `schema`): the
    /// same as decoding it and calling [`Resolver::apply`], with one shortcut. An event whose
    /// target the fold already knows is read in place ([`idres_model::event_view`], which
    /// answers only for bytes that decode to an event of valid shape) and not decoded: its
    /// target's id rules were checked when the id was first seen, so nothing else can reject it.
    /// Everything else is decoded and applied.
    pub fn apply_encoded(&mut self, lsn: Lsn, schema: u16, bytes: &[u8]) -> Result<Applied, ApplyEncodedError> {
        if lsn != self.next_lsn {
            return Err(ApplyError::OutOfOrder { expected: self.next_lsn, found: lsn }.into());
        }
        let next = lsn.checked_add(1).ok_or(ApplyError::LsnExhausted)?;
        if let Some(view) = event_view(schema, bytes) {
            if let Some(node) = self.view_target_node(view.target).filter(|&n| !self.events_full(n)) {
                self.next_lsn = next;
                self.add_event(node, view.name, lsn, view.effective_ts().as_micros());
                return Ok(Applied::Accepted);
            }
        }
        let entry = decode_entry_with_schema(schema, bytes).map_err(ApplyEncodedError::Decode)?;
        self.apply(lsn, &entry).map_err(ApplyEncodedError::Apply)
    }

    /// The node of an event's target read in place, created if new, when the id rules accept
    /// the id as written (what [`Self::checked_target_node`] does for a decoded event whose
    /// shape is valid); `None` when they do not (a rejection, or a uid that is not in canonical
    /// form), which the decoding path then handles with its full detail.
    fn view_target_node(&mut self, target: TargetView<'_>) -> Option<NodeId> {
        let uid = match target {
            TargetView::Uuid(b) => match self.uid_index.get_uuid(b, &self.uids) {
                Some(u) => return Some(self.device_node(u)),
                None => Uid::Uuid(*b),
            },
            TargetView::UidText(t) => match self.uid_index.get_text(t, &self.uids) {
                Some(u) => return Some(self.device_node(u)),
                None => Uid::from_wire_bytes(t),
            },
            TargetView::Cid(c) => {
                if let Some(&c) = self.cid_index.get(c) {
                    return Some(self.cids[c as usize].node);
                }
                let cid = Cid::from_wire_bytes(c);
                self.validator.check_cid(&cid).ok()?;
                return Some(self.customer_node(&cid));
            }
        };
        match self.validator.check_uid_cow(&uid) {
            Ok(Cow::Borrowed(_)) => {
                let u = self.intern_uid(&uid);
                Some(self.device_node(u))
            }
            _ => None,
        }
    }

    /// The id rules for a uid. An id interned as written passed them when it was first seen
    /// (only checked ids are interned, and a snapshot's ids are checked on restore; the rules
    /// depend only on the bytes and the config): one lookup answers.
    fn check_uid<'u>(&self, uid: &'u Uid) -> Result<Cow<'u, Uid>, Rejected> {
        if self.uid_index.get(uid, &self.uids).is_some() {
            return Ok(Cow::Borrowed(uid));
        }
        self.validator.check_uid_cow(uid).map_err(id_rejection)
    }

    /// The id rules for a cid; a cid already interned passed them (see [`Self::check_uid`]).
    fn check_cid(&self, cid: &Cid) -> Result<(), Rejected> {
        if self.cid_index.contains_key(cid) {
            return Ok(());
        }
        self.validator.check_cid(cid).map_err(id_rejection)
    }

    fn check_target<'t>(&self, target: &'t Target) -> Result<Option<Cow<'t, Uid>>, Rejected> {
        match target {
            Target::Uid(u) => self.check_uid(u).map(Some),
            Target::Cid(c) => self.check_cid(c).map(|()| None),
        }
    }

    fn apply_record(&mut self, lsn: Lsn, ts: i64, record: &Record) -> Result<(), Rejected> {
        // Order of checks: the ids a record names (SEMANTICS: "rejected first"), then its shape,
        // then the rules of its kind. Each arm checks its ids, then calls `check_shape`.
        match record {
            Record::Event { target, name, .. } => {
                let node = self.checked_target_node(target, record)?;
                if self.events_full(node) {
                    return Err((
                        Reason::Limit,
                        format!(
                            "the node holds {} bytes of events, the most one node can (NODE_EVENT_BYTES_MAX)",
                            self.events.view(self.nodes[node as usize].contents.events).bytes_used()
                        ),
                    ));
                }
                self.add_event(node, name, lsn, ts);
                Ok(())
            }
            Record::Attributes { target, set, set_once, unset, .. } => {
                let node = self.checked_target_node(target, record)?;
                let writes = set_once.iter().chain(set.iter()).map(|(k, v)| (k.as_str(), Some(v)));
                let added = self.attrs_added(node, writes.chain(unset.iter().map(|k| (k.as_str(), None))));
                let (keys, bytes) = self.comp_attrs(self.find_ro(node));
                self.check_attr_limit(keys + added.0, bytes + added.1)?;
                for (k, v) in set_once {
                    self.write_attr(node, k, WriteKey { ts, lsn, slot: SLOT_SET_ONCE }, Some(v), true);
                }
                for (k, v) in set {
                    self.write_attr(node, k, WriteKey { ts, lsn, slot: SLOT_SET }, Some(v), false);
                }
                for k in unset {
                    self.write_attr(node, k, WriteKey { ts, lsn, slot: SLOT_UNSET }, None, false);
                }
                self.note_changed(node);
                Ok(())
            }
            Record::Identify { uid, cid, attrs, .. } => {
                let uid = match uid {
                    Some(u) => Some(self.check_uid(u)?),
                    None => None,
                };
                self.check_cid(cid)?;
                check_shape(record)?;
                if let Some(u) = &uid {
                    if uid_text_is(u, cid.as_bytes()) {
                        return Err((Reason::SelfLink, format!("uid and cid are the same string {cid:?}")));
                    }
                }
                let existing = self.cid_index.get(cid).map(|&c| self.cids[c as usize].node);
                let added = match existing {
                    Some(c) => self.attrs_added(c, attrs.iter().map(|(k, v)| (k.as_str(), Some(v)))),
                    None => attrs.iter().fold((0, 0), |(n, b), (k, v)| (n + 1, b + attribute_bytes(k, v) as u64)),
                };
                let customer = match uid {
                    None => {
                        let (keys, bytes) = existing.map_or((0, 0), |c| self.comp_attrs(self.find_ro(c)));
                        self.check_attr_limit(keys + added.0, bytes + added.1)?;
                        self.customer_node(cid)
                    }
                    Some(u) => self.identify(&u, cid, lsn, ts, added)?,
                };
                for (k, v) in attrs {
                    self.write_attr(customer, k, WriteKey { ts, lsn, slot: SLOT_SET }, Some(v), false);
                }
                if !attrs.is_empty() {
                    self.note_changed(customer);
                }
                Ok(())
            }
            Record::Reset { uid, .. } => {
                let uid = self.check_uid(uid)?;
                check_shape(record)?;
                self.check_epoch_room(&uid)?;
                let u = self.intern_uid(&uid);
                self.uids.next_epoch(u);
                Ok(())
            }
            Record::Merge { from, into } => {
                self.check_cid(from)?;
                self.check_cid(into)?;
                check_shape(record)?;
                let f = self.existing_customer(from)?;
                let i = self.existing_customer(into)?;
                let (rf, ri) = (self.find(f), self.find(i));
                if rf == ri {
                    return Ok(());
                }
                self.check_union_limit(rf, ri)?;
                let (Some(pf), Some(pi)) = (self.comp(rf).primary, self.comp(ri).primary) else {
                    return Ok(()); // unreachable: both components hold a customer
                };
                let e = self.graph.add_edge(
                    NodeIndex::new(pf as usize),
                    NodeIndex::new(pi as usize),
                    EdgeInfo { kind: EdgeKind::Merge, lsn, ts },
                );
                self.nodes[pf as usize].set_out(Some(e));
                self.union(rf, ri, Some(pi));
                Ok(())
            }
            Record::Unmerge { cid } => {
                self.check_cid(cid)?;
                check_shape(record)?;
                let c = self.existing_customer(cid)?;
                let incident: Vec<EdgeIndex> = self
                    .graph
                    .edges_directed(NodeIndex::new(c as usize), Direction::Incoming)
                    .filter(|e| e.weight().kind == EdgeKind::Merge)
                    .map(|e| e.id())
                    .chain(self.nodes[c as usize].out())
                    .collect();
                if incident.is_empty() {
                    return Ok(());
                }
                let root = self.find(c);
                for e in incident {
                    if let Some((src, _)) = self.graph.edge_endpoints(e) {
                        self.nodes[src.index()].set_out(None);
                    }
                    self.graph.remove_edge(e);
                }
                self.split(root);
                Ok(())
            }
            Record::Unlink { uid, cid } => {
                let uid = self.check_uid(uid)?;
                self.check_cid(cid)?;
                check_shape(record)?;
                let c = self.existing_customer(cid)?;
                let Some(u) = self.uid_index.get(&uid, &self.uids) else { return Ok(()) };
                let devices: Vec<NodeId> = self.uids.nodes(u).map(|(_, n)| n).collect();
                let mut unlinked = false;
                for d in devices {
                    let Some(e) = self.nodes[d as usize].out() else { continue };
                    if self.graph.edge_endpoints(e).is_some_and(|(_, t)| t.index() == c as usize) {
                        self.graph.remove_edge(e);
                        self.nodes[d as usize].set_out(None);
                        unlinked = true;
                    }
                }
                if unlinked {
                    let root = self.find(c);
                    self.split(root);
                }
                Ok(())
            }
        }
    }

    /// The identify of a device: links it (or a new epoch of it) to `cid` and returns the
    /// customer node. Checks before it changes anything.
    /// `added`: the attribute keys and bytes the record adds to the customer node at most.
    fn identify(&mut self, uid: &Uid, cid: &Cid, lsn: Lsn, ts: i64, added: (u64, u64)) -> Result<NodeId, Rejected> {
        let customer = self.cid_index.get(cid).map(|&c| self.cids[c as usize].node);
        let device = self.uid_index.get(uid, &self.uids).and_then(|u| self.current_device(u));
        let linked_to = device.and_then(|d| self.link_target(d));
        let cust_attrs = customer.map_or((0, 0), |c| self.comp_attrs(self.find_ro(c)));
        let with_record = (cust_attrs.0 + added.0, cust_attrs.1 + added.1);
        let (cust_devices, cust_customers) = match customer {
            Some(c) => {
                let comp = self.comp(self.find_ro(c));
                (comp.devices, comp.customers)
            }
            None => (0, 1),
        };
        match linked_to {
            Some(x) => {
                if let Some(c) = customer.filter(|&c| self.find_ro(c) == self.find_ro(x)) {
                    self.check_attr_limit(with_record.0, with_record.1)?;
                    return Ok(c);
                }
                if self.config.on_cid_conflict == OnCidConflict::Reject {
                    let x_cid = self.node_label(x);
                    return Err((
                        Reason::CidConflict,
                        format!("uid {uid} is linked to {x_cid} in another profile; logout (reset) first"),
                    ));
                }
                self.check_limit(cust_devices + 1, cust_customers)?;
                // The new epoch's device node is empty: the profile holds the customer's attributes.
                self.check_attr_limit(with_record.0, with_record.1)?;
                self.check_epoch_room(uid)?;
                let u = self.intern_uid(uid);
                let from_epoch = self.uids.epoch(u);
                self.uids.next_epoch(u);
                if let NodeKind::Customer { cid: x_cid } = self.nodes[x as usize].kind() {
                    self.implicit_resets.push(ImplicitReset {
                        lsn,
                        uid: uid.clone(),
                        from_epoch,
                        to_epoch: from_epoch + 1,
                        previous_cid: self.cids[x_cid as usize].cid.clone(),
                        cid: cid.clone(),
                    });
                    if self.track_changes {
                        self.changes.push(Change::ImplicitReset { lsn });
                    }
                }
                let d = self.device_node(u);
                let c = self.customer_node(cid);
                self.link(d, c, lsn, ts);
                Ok(c)
            }
            None => {
                let (dev_devices, dev_customers) = match device {
                    Some(d) => {
                        let comp = self.comp(self.find_ro(d));
                        (comp.devices, comp.customers)
                    }
                    None => (1, 0),
                };
                self.check_limit(cust_devices + dev_devices, cust_customers + dev_customers)?;
                let dev_attrs = match device {
                    // Already in the customer's profile (a device linked to nothing is not).
                    Some(d) if customer.is_none_or(|c| self.find_ro(c) != self.find_ro(d)) => {
                        self.comp_attrs(self.find_ro(d))
                    }
                    _ => (0, 0),
                };
                self.check_attr_limit(with_record.0 + dev_attrs.0, with_record.1 + dev_attrs.1)?;
                let u = self.intern_uid(uid);
                let d = self.device_node(u);
                let c = self.customer_node(cid);
                self.link(d, c, lsn, ts);
                Ok(c)
            }
        }
    }

    /// A uid can start a next epoch unless it is at the last one (2^32 - 1 resets: only a
    /// hostile log gets there, and it must be a rejection, not an overflow).
    fn check_epoch_room(&self, uid: &Uid) -> Result<(), Rejected> {
        match self.uid_index.get(uid, &self.uids) {
            Some(u) if self.uids.epoch(u) == u32::MAX => {
                Err((Reason::Limit, format!("uid {uid} has reached the last epoch")))
            }
            _ => Ok(()),
        }
    }

    fn check_limit(&self, devices: u32, customers: u32) -> Result<(), Rejected> {
        if devices > self.config.max_devices_per_profile {
            return Err((
                Reason::Limit,
                format!(
                    "the profile would have {devices} devices, over max_devices_per_profile = {}",
                    self.config.max_devices_per_profile
                ),
            ));
        }
        if customers > self.config.max_customers_per_profile {
            return Err((
                Reason::Limit,
                format!(
                    "the profile would have {customers} customers, over max_customers_per_profile = {}",
                    self.config.max_customers_per_profile
                ),
            ));
        }
        Ok(())
    }

    fn check_union_limit(&self, a: NodeId, b: NodeId) -> Result<(), Rejected> {
        let (ca, cb) = (self.comp(a), self.comp(b));
        self.check_limit(ca.devices + cb.devices, ca.customers + cb.customers)?;
        let ((ka, ba), (kb, bb)) = (self.comp_attrs(a), self.comp_attrs(b));
        self.check_attr_limit(ka + kb, ba + bb)
    }

    /// Attribute keys and attribute bytes of the component at root `root`, summed over its nodes
    /// (an upper bound of its profile's: a key two nodes hold counts twice). One read per member;
    /// members are bounded by the device and customer limits.
    fn comp_attrs(&self, root: NodeId) -> (u64, u64) {
        self.comp(root).members.iter().fold((0, 0), |(k, b), &m| {
            let c = &self.nodes[m as usize].contents;
            (k + c.attrs.len() as u64, b + c.attr_bytes())
        })
    }

    /// At most how many keys and bytes `writes` (key, value or `None` for an unset) add to node
    /// `n`: a key the node lacks counts one, every value its bytes (a value it replaces is not
    /// subtracted, so the check never depends on the order of the writes).
    fn attrs_added<'a>(&self, n: NodeId, writes: impl Iterator<Item = (&'a str, Option<&'a Value>)>) -> (u64, u64) {
        let attrs = &self.nodes[n as usize].contents.attrs;
        writes.fold((0, 0), |(k, b), (key, v)| {
            let new = self.keys.index.get(key).is_none_or(|&id| attrs.get(id).is_none());
            (k + u64::from(new), b + v.map_or(0, |v| attribute_bytes(key, v) as u64))
        })
    }

    /// A profile may hold at most [`PROFILE_ATTRIBUTES_MAX`] keys and
    /// [`PROFILE_ATTRIBUTE_BYTES_MAX`] attribute bytes, so that every profile the fold makes can be
    /// stored (docs/SEMANTICS.md, "Limits").
    fn check_attr_limit(&self, keys: u64, bytes: u64) -> Result<(), Rejected> {
        if keys > PROFILE_ATTRIBUTES_MAX as u64 {
            return Err((
                Reason::Limit,
                format!("the profile would have {keys} attribute keys, over PROFILE_ATTRIBUTES_MAX = {PROFILE_ATTRIBUTES_MAX}"),
            ));
        }
        if bytes > PROFILE_ATTRIBUTE_BYTES_MAX as u64 {
            return Err((
                Reason::Limit,
                format!(
                    "the profile would hold {bytes} bytes of attributes, over PROFILE_ATTRIBUTE_BYTES_MAX = {PROFILE_ATTRIBUTE_BYTES_MAX}"
                ),
            ));
        }
        Ok(())
    }

    fn existing_customer(&self, cid: &Cid) -> Result<NodeId, Rejected> {
        match self.cid_index.get(cid) {
            Some(&c) => Ok(self.cids[c as usize].node),
            None => Err((Reason::UnknownCid, format!("cid {cid:?} does not exist"))),
        }
    }

    fn node_label(&self, n: NodeId) -> String {
        match self.nodes[n as usize].kind() {
            NodeKind::Customer { cid } => format!("cid {:?}", self.cids[cid as usize].cid),
            NodeKind::Device { uid, epoch } => format!("device {}#{epoch}", self.uids.uid(uid)),
        }
    }

    fn link_target(&self, d: NodeId) -> Option<NodeId> {
        let e = self.nodes[d as usize].out()?;
        self.graph.edge_endpoints(e).map(|(_, t)| t.index() as NodeId)
    }

    fn current_device(&self, u: u32) -> Option<NodeId> {
        self.uids.current(u)
    }

    /// Checks an event's or attributes write's target (its ids, then the record's shape:
    /// SEMANTICS' order) and returns the target's node, created if new. A uid interned exactly as
    /// written was checked when first seen (the rules depend only on its bytes and the config),
    /// so one lookup replaces the id rules and the interning: the event path's common case.
    fn checked_target_node(&mut self, target: &Target, record: &Record) -> Result<NodeId, Rejected> {
        if let Target::Uid(u) = target {
            if let Some(known) = self.uid_index.get(u, &self.uids) {
                check_shape(record)?;
                return Ok(self.device_node(known));
            }
        }
        let uid = self.check_target(target)?;
        check_shape(record)?;
        Ok(self.target_node(uid.as_deref(), target))
    }

    /// True if node `n` can take no more events ([`crate::NODE_EVENT_BYTES_MAX`]). A node just
    /// created has none, so checking after `checked_target_node` created it changes nothing.
    fn events_full(&self, n: NodeId) -> bool {
        self.events.view(self.nodes[n as usize].contents.events).full()
    }

    /// Counts an accepted event on its node. Only the node changes: a profile's contents are
    /// joined from its nodes when it is read, so the event path touches one node and its
    /// component's id.
    fn add_event(&mut self, node: NodeId, name: &str, lsn: Lsn, ts: i64) {
        let name = self.names.intern(name);
        self.events.push(&mut self.nodes[node as usize].contents.events, lsn, name, ts);
        self.note_changed(node);
    }

    /// The index of a canonical uid, interned on first sight (the only time it is copied).
    fn intern_uid(&mut self, uid: &Uid) -> u32 {
        if let Some(u) = self.uid_index.get(uid, &self.uids) {
            return u;
        }
        let u = self.uids.push(uid);
        self.uid_index.insert(uid, u);
        u
    }

    /// The node a checked event/attributes target names, created if new.
    fn target_node(&mut self, uid: Option<&Uid>, target: &Target) -> NodeId {
        match (uid, target) {
            (Some(u), _) => {
                let u = self.intern_uid(u);
                self.device_node(u)
            }
            (None, Target::Cid(c)) => self.customer_node(c),
            (None, Target::Uid(u)) => {
                // check_target returns the canonical uid for a uid target; kept total anyway.
                let u = self.intern_uid(u);
                self.device_node(u)
            }
        }
    }

    /// The device node of uid `u`'s current epoch, created if new.
    fn device_node(&mut self, u: u32) -> NodeId {
        if let Some(n) = self.current_device(u) {
            return n;
        }
        let epoch = self.uids.epoch(u);
        let n = self.new_node(NodeKind::Device { uid: u, epoch });
        self.uids.push_node(u, epoch, n);
        n
    }

    /// The customer node of `cid`, created if new.
    fn customer_node(&mut self, cid: &Cid) -> NodeId {
        if let Some(&c) = self.cid_index.get(cid) {
            return self.cids[c as usize].node;
        }
        let c = self.cids.len() as u32;
        // The cid first: the new node's profile id is read from it.
        self.cids.push(CidEntry { cid: cid.clone(), node: self.nodes.len() as NodeId });
        self.cid_index.insert(cid.clone(), c);
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

    fn write_attr(&mut self, node: NodeId, key: &str, wk: WriteKey, value: Option<&idres_model::Value>, once: bool) {
        let k = self.keys.intern(key);
        let contents = &mut self.nodes[node as usize].contents;
        let total = contents.attr_bytes();
        let cell = contents.cell(k);
        let before = cell.bytes(key);
        match (once, value) {
            (true, Some(v)) => cell.write_set_once(wk, v),
            (_, v) => cell.write_latest(wk, v),
        }
        let after = cell.bytes(key);
        contents.attrs.set_total(total - before + after);
    }

    /// Recomputes node contents' attribute bytes from its cells (a restored node's).
    pub(crate) fn recount_attr_bytes(keys: &Interner, c: &mut Contents) {
        let total = c.attrs.iter().map(|(k, cell)| cell.bytes(keys.get(*k))).sum();
        if c.attrs.len() > 0 {
            c.attrs.set_total(total);
        }
    }

    fn link(&mut self, d: NodeId, c: NodeId, lsn: Lsn, ts: i64) {
        let e = self.graph.add_edge(
            NodeIndex::new(d as usize),
            NodeIndex::new(c as usize),
            EdgeInfo { kind: EdgeKind::Link, lsn, ts },
        );
        self.nodes[d as usize].set_out(Some(e));
        let (rd, rc) = (self.find(d), self.find(c));
        let primary = self.comp(rc).primary;
        self.union(rd, rc, primary);
    }

    /// The component at union-find root `root` (see [`Components::view`]).
    pub(crate) fn comp(&self, root: NodeId) -> CompView<'_> {
        self.components.view(root, &self.nodes)
    }

    /// The id of the profile at root `root` (SEMANTICS §5).
    pub(crate) fn comp_id(&self, root: NodeId) -> Uuid {
        self.own_id(self.components.naming_node(root))
    }

    fn find(&mut self, x: NodeId) -> NodeId {
        self.components.find(x)
    }

    pub(crate) fn find_ro(&self, x: NodeId) -> NodeId {
        self.components.find_ro(x)
    }

    /// Unites two components (roots `a`, `b`); the result's primary is `primary`.
    fn union(&mut self, a: NodeId, b: NodeId, primary: Option<NodeId>) {
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

    fn note_changed(&mut self, node: NodeId) {
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
    /// the change stream is on, new nodes are then indexed as they are created.
    pub fn index_profile_ids(&mut self) {
        let mut index = std::mem::take(&mut self.profile_index);
        index.build(self);
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

    /// Materialises the profile of the component at `root`.
    pub(crate) fn materialise(&self, root: NodeId) -> Profile {
        let comp = self.comp(root);
        let mut cids: Vec<Cid> = Vec::new();
        let mut uids: Vec<DeviceRef> = Vec::new();
        let mut joined = Joined::default();
        for &m in comp.members {
            let node = &self.nodes[m as usize];
            joined.add(&node.contents, self.events.view(node.contents.events));
            match node.kind() {
                NodeKind::Device { uid, epoch } => uids.push(DeviceRef { uid: self.uids.uid(uid), epoch }),
                NodeKind::Customer { cid } => {
                    if Some(m) != comp.primary {
                        cids.push(self.cids[cid as usize].cid.clone());
                    }
                }
            }
        }
        cids.sort_by(|a, b| a.as_bytes().cmp(b.as_bytes()));
        let primary_cid = comp.primary.and_then(|p| match self.nodes[p as usize].kind() {
            NodeKind::Customer { cid } => Some(self.cids[cid as usize].cid.clone()),
            NodeKind::Device { .. } => None,
        });
        if let Some(p) = &primary_cid {
            cids.insert(0, p.clone());
        }
        uids.sort_by_cached_key(|d| (d.uid.to_string(), d.epoch));
        joined.finish();
        let c = joined;
        Profile {
            id: self.comp_id(root),
            kind: if primary_cid.is_some() { ProfileKind::Customer } else { ProfileKind::Anonymous },
            primary_cid,
            cids,
            uids,
            attributes: c
                .attrs
                .iter()
                .filter_map(|(k, cell)| cell.value().map(|v| (self.keys.get(*k).to_string(), v.clone())))
                .collect(),
            event_count: c.event_count,
            events_by_name: c.by_name.iter().map(|(n, count)| (self.names.get(*n).to_string(), *count)).collect(),
            first_seen: c.first_seen.map(idres_model::Timestamp::from_micros),
            last_seen: c.last_seen.map(idres_model::Timestamp::from_micros),
            history: c.history,
        }
    }

    /// Number of device nodes (a uid's epochs that saw a record) and customer nodes.
    pub fn node_counts(&self) -> (usize, usize) {
        let devices = self.nodes.iter().filter(|n| matches!(n.kind(), NodeKind::Device { .. })).count();
        (devices, self.nodes.len() - devices)
    }

    /// Every edge of the identity graph as it stands (links and merges the fold accepted and
    /// kept; unmerged and unlinked ones are gone), in the LSN order of the records that made
    /// them: `(from, to, kind, lsn)`. For audits and for comparing with other stitchers.
    pub fn edges(&self) -> Vec<(NodeRef, NodeRef, EdgeKind, Lsn)> {
        let mut edges: Vec<_> = (&self.graph)
            .edge_references()
            .map(|e| {
                let (from, to) = (e.source().index() as NodeId, e.target().index() as NodeId);
                (e.weight().lsn, self.node_ref(from), self.node_ref(to), e.weight().kind)
            })
            .collect();
        // By LSN, then by endpoints: the order never rests on the graph's internal indexes.
        edges.sort_by(|a, b| a.0.cmp(&b.0).then_with(|| a.1.cmp(&b.1)).then_with(|| a.2.cmp(&b.2)));
        edges.into_iter().map(|(lsn, from, to, kind)| (from, to, kind, lsn)).collect()
    }

    /// The epoch of `uid` whose device node holds the event at `lsn` (`None` if no node of that
    /// uid holds it: not an event of this uid, or rejected).
    pub fn event_epoch(&self, uid: &Uid, lsn: Lsn) -> Option<u32> {
        let canonical = uid.canonical_cow().ok()?;
        let u = self.uid_index.get(canonical.as_ref(), &self.uids)?;
        // A node's events are in LSN order: stop at the first past `lsn`.
        let holds = |n: NodeId| {
            self.events
                .view(self.nodes[n as usize].contents.events)
                .iter()
                .map(|(l, _)| l)
                .take_while(|&l| l <= lsn)
                .any(|l| l == lsn)
        };
        self.uids.nodes(u).find(|(_, n)| holds(*n)).map(|(epoch, _)| epoch)
    }

    /// Every event of `uid`'s device nodes as `(LSN, epoch)`, in LSN order (empty if the uid is
    /// unknown or malformed): [`Resolver::event_epoch`] for a whole history at once, in one pass
    /// over the uid's packed events instead of one per event.
    pub fn event_epochs(&self, uid: &Uid) -> Vec<(Lsn, u32)> {
        let Ok(canonical) = uid.canonical_cow() else { return Vec::new() };
        let Some(u) = self.uid_index.get(canonical.as_ref(), &self.uids) else { return Vec::new() };
        let mut out: Vec<(Lsn, u32)> = self
            .uids
            .nodes(u)
            .flat_map(|(epoch, n)| {
                self.events.view(self.nodes[n as usize].contents.events).iter().map(move |(l, _)| (l, epoch))
            })
            .collect();
        out.sort_unstable();
        out
    }

    /// The number of current profiles (without materialising them).
    pub fn profile_count(&self) -> usize {
        (0..self.nodes.len()).filter(|&n| self.components.is_root(n as NodeId)).count()
    }

    /// Current profiles by kind, `(customer, anonymous)`, without materialising them.
    pub fn profile_counts(&self) -> (usize, usize) {
        let mut counts = (0, 0);
        for n in 0..self.nodes.len() as NodeId {
            if self.components.is_root(n) {
                if self.comp(n).primary.is_some() {
                    counts.0 += 1;
                } else {
                    counts.1 += 1;
                }
            }
        }
        counts
    }

    /// Every current profile, sorted by id.
    pub fn profiles(&self) -> Vec<Profile> {
        let mut out: Vec<Profile> = (0..self.nodes.len() as NodeId)
            .filter(|&n| self.components.is_root(n))
            .map(|n| self.materialise(n))
            .collect();
        out.sort_by_key(|p| p.id);
        out
    }

    /// The profile that holds customer `cid`, if the cid exists.
    pub fn profile_by_cid(&self, cid: &Cid) -> Option<Profile> {
        let &c = self.cid_index.get(cid)?;
        Some(self.materialise(self.find_ro(self.cids[c as usize].node)))
    }

    /// The profile of `uid`'s current epoch; `None` if the uid is unknown, malformed, or its
    /// current epoch has seen no record yet (after a reset).
    pub fn profile_by_uid(&self, uid: &Uid) -> Option<Profile> {
        let uid = uid.canonical().ok()?;
        let u = self.uid_index.get(&uid, &self.uids)?;
        let n = self.current_device(u)?;
        Some(self.materialise(self.find_ro(n)))
    }

    /// The profile of device node `(uid, epoch)`, if it exists.
    pub fn profile_by_uid_epoch(&self, uid: &Uid, epoch: u32) -> Option<Profile> {
        let uid = uid.canonical().ok()?;
        let u = self.uid_index.get(&uid, &self.uids)?;
        let nodes: Vec<(u32, NodeId)> = self.uids.nodes(u).collect();
        let i = nodes.binary_search_by_key(&epoch, |(e, _)| *e).ok()?;
        Some(self.materialise(self.find_ro(nodes[i].1)))
    }

    /// The profile with id `id`; a retired id (a customer merged away, a device linked to a
    /// customer) returns the profile that now holds its node.
    pub fn profile_by_id(&self, id: Uuid) -> Option<Profile> {
        let n = self.profile_index.get(self, id)?;
        Some(self.materialise(self.find_ro(n)))
    }
}

impl Resolver {
    fn node_ref(&self, n: NodeId) -> NodeRef {
        match self.nodes[n as usize].kind() {
            NodeKind::Device { uid, epoch } => NodeRef::Device(DeviceRef { uid: self.uids.uid(uid), epoch }),
            NodeKind::Customer { cid } => NodeRef::Customer(self.cids[cid as usize].cid.clone()),
        }
    }

    /// The edges from node `n` to its profile's primary: its link (a device), then merge edges.
    fn path_to_primary(&self, n: NodeId) -> Vec<PathStep> {
        let mut path = Vec::new();
        let mut at = n;
        // A path visits each node once; the bound guards against a broken invariant.
        for _ in 0..=self.nodes.len() {
            let node = &self.nodes[at as usize];
            let Some(e) = node.out() else { break };
            let (Some((_, to)), Some(w)) = (self.graph.edge_endpoints(e), self.graph.edge_weight(e)) else { break };
            let to = to.index() as NodeId;
            path.push(PathStep {
                from: self.node_ref(at),
                to: self.node_ref(to),
                kind: w.kind,
                lsn: w.lsn,
                time: idres_model::Timestamp::from_micros(w.ts),
                rule: match w.kind {
                    EdgeKind::Link => "identify linked this device epoch to the customer (SEMANTICS §3.3)",
                    EdgeKind::Merge => "an operator merged this customer into that one (SEMANTICS §3.5)",
                },
            });
            at = to;
        }
        path
    }

    /// Why `uid`'s current epoch is in its profile: the edge path to the primary customer, the
    /// implicit resets of the uid and the rejected records that named it. `None` if the resolver
    /// has never heard of the uid.
    pub fn explain_uid(&self, uid: &Uid) -> Option<Explanation> {
        let canonical = uid.canonical().unwrap_or_else(|_| uid.clone());
        let text = canonical.to_string();
        let node = self.uid_index.get(&canonical, &self.uids).and_then(|u| self.current_device(u));
        let implicit_resets: Vec<ImplicitReset> =
            self.implicit_resets.iter().filter(|r| r.uid == canonical).cloned().collect();
        let rejections: Vec<Rejection> =
            self.rejections.iter().filter(|r| r.uid.as_deref() == Some(text.as_str())).cloned().collect();
        if node.is_none() && self.uid_index.get(&canonical, &self.uids).is_none() && rejections.is_empty() {
            return None;
        }
        Some(self.explanation(node, implicit_resets, rejections))
    }

    /// Why `cid` is in its profile: the merge edges to the primary, the implicit resets that
    /// involved it and the rejected records that named it. `None` if it is unknown.
    pub fn explain_cid(&self, cid: &Cid) -> Option<Explanation> {
        let text = cid.to_string();
        let node = self.cid_index.get(cid).map(|&c| self.cids[c as usize].node);
        let implicit_resets: Vec<ImplicitReset> =
            self.implicit_resets.iter().filter(|r| &r.cid == cid || &r.previous_cid == cid).cloned().collect();
        let rejections: Vec<Rejection> = self.rejections.iter().filter(|r| r.cids.contains(&text)).cloned().collect();
        if node.is_none() && rejections.is_empty() {
            return None;
        }
        Some(self.explanation(node, implicit_resets, rejections))
    }

    fn explanation(
        &self,
        node: Option<NodeId>,
        implicit_resets: Vec<ImplicitReset>,
        rejections: Vec<Rejection>,
    ) -> Explanation {
        Explanation {
            node: node.map(|n| self.node_ref(n)),
            profile_id: node.map(|n| self.comp_id(self.find_ro(n))),
            path: node.map(|n| self.path_to_primary(n)).unwrap_or_default(),
            implicit_resets,
            rejections,
        }
    }

    /// Every profile id the fold has handed out, current and retired, sorted: with
    /// [`Resolver::profile_by_id`] (which redirects a retired id) the whole read model, one id at
    /// a time, without materialising every profile at once.
    pub fn profile_ids(&self) -> Vec<Uuid> {
        let mut ids: Vec<Uuid> = (0..self.nodes.len() as NodeId).map(|n| self.own_id(n)).collect();
        ids.sort_unstable();
        ids
    }

    /// Every id that once named a profile but no longer does (a customer merged away, a device
    /// linked to a customer), with the id of the profile that holds its node now; sorted.
    pub fn retired_ids(&self) -> Vec<(Uuid, Uuid)> {
        let mut out: Vec<(Uuid, Uuid)> = (0..self.nodes.len() as NodeId)
            .filter_map(|n| {
                let id = self.own_id(n);
                let now = self.comp_id(self.find_ro(n));
                (now != id).then_some((id, now))
            })
            .collect();
        out.sort_unstable();
        out
    }

    /// Every implicit reset so far, in LSN order.
    pub fn implicit_resets(&self) -> &[ImplicitReset] {
        &self.implicit_resets
    }
}

#[cfg(test)]
mod tests {
    use idres_model::{encode_entry, Entry, Map, Record, Target, Timestamp, Uid, Value, SCHEMA_VERSION};

    use super::*;
    use crate::uid_index::tests::FORCE_COLLISIONS;

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
                });
            }
            for i in (round..12).step_by(4) {
                let mut attrs = Map::new();
                attrs.insert("plan".into(), Value::Int(round as i64));
                records.push(Record::Identify { uid: Some(uid(i)), cid: cid(i + round), attrs, ts: None });
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
        assert!(r.rejections().last().unwrap().detail.contains("NODE_EVENT_BYTES_MAX"));
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
