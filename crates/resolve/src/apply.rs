//! Applying a record: [`Resolver::apply`] and [`Resolver::apply_encoded`] in LSN order, and what
//! each record kind does to the identity graph and the nodes' contents (events, attribute writes,
//! identify with its implicit reset, reset, merge, unmerge, unlink).
//!
//! Every handler checks everything first (`rules.rs`) and changes state only once the record is
//! accepted: a rejected record changes nothing.

use std::borrow::Cow;

use idres_model::limits::attribute_bytes;
use idres_model::{decode_entry_with_schema, event_view, Cid, CodecError, Entry, Record, Target, TargetView, Uid};
use petgraph::stable_graph::{EdgeIndex, NodeIndex};
use petgraph::visit::EdgeRef;
use petgraph::Direction;

use crate::config::OnCidConflict;
use crate::contents::{WriteKey, SLOT_SET, SLOT_SET_ONCE, SLOT_UNSET};
use crate::explain::subjects;
use crate::node::{EdgeInfo, NodeId, NodeKind};
use crate::outcome::{Change, EdgeKind, ImplicitReset, Reason, Rejection};
use crate::resolver::Resolver;
use crate::rules::{check_shape, Rejected};
use crate::Lsn;

/// Why [`Resolver::apply_encoded`] could not apply a record.
#[derive(Debug, thiserror::Error)]
pub enum ApplyEncodedError {
    /// The bytes do not decode (damage, or a log written by something else).
    #[error("the record does not decode")]
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

impl Resolver {
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
                self.keep_rejection(Rejection { lsn, kind: entry.record.kind(), reason, detail, uid, cids });
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
                    debug_assert!(false, "a component with a customer has a primary");
                    return Ok(());
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
                    match self.graph.edge_endpoints(e) {
                        Some((src, _)) => self.nodes[src.index()].set_out(None),
                        None => debug_assert!(false, "edge {e:?} was just listed, so it exists"),
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
                } else {
                    debug_assert!(false, "a link ends at a customer node");
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

    fn node_label(&self, n: NodeId) -> String {
        match self.nodes[n as usize].kind() {
            NodeKind::Customer { cid } => format!("cid {:?}", self.cids[cid as usize].cid),
            NodeKind::Device { uid, epoch } => format!("device {}#{epoch}", self.uids.uid(uid)),
        }
    }

    fn link_target(&self, d: NodeId) -> Option<NodeId> {
        let e = self.nodes[d as usize].out()?;
        let target = self.graph.edge_endpoints(e).map(|(_, t)| t.index() as NodeId);
        debug_assert!(target.is_some(), "a node's outgoing edge is in the graph");
        target
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
    pub(crate) fn events_full(&self, n: NodeId) -> bool {
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
                debug_assert!(false, "a checked uid target comes with its canonical uid");
                let u = self.intern_uid(u);
                self.device_node(u)
            }
        }
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
}
