//! What the identity records do (SEMANTICS §3): identify (a link, with its implicit reset),
//! reset, and the operator records merge, unmerge and unlink. Called by `apply.rs` with the
//! record's ids borrowed as written (from a decoded record or from the log's bytes: see
//! `record_ref.rs`).
//!
//! Each id is looked up once: the id check returns where the fold has it ([`CheckedUid`],
//! [`CheckedCid`]), and the handler reuses that instead of looking the id up again to check,
//! to find its node and to intern it. Like every handler, each checks everything before it
//! changes anything.

use idres_model::limits::attribute_bytes;
use idres_model::{Cid, UidView};
use petgraph::stable_graph::{EdgeIndex, NodeIndex};
use petgraph::visit::EdgeRef;
use petgraph::Direction;

use crate::components::node_attrs;
use crate::config::OnCidConflict;
use crate::contents::{WriteKey, SLOT_SET};
use crate::node::{EdgeInfo, NodeId, NodeKind};
use crate::outcome::{Change, EdgeKind, ImplicitReset, Reason};
use crate::record_ref::Attrs;
use crate::resolver::Resolver;
use crate::rules::{CheckedCid, CheckedUid, Rejected};
use crate::Lsn;

/// True if the uid's canonical text equals `bytes` (without formatting it into a `String`).
fn uid_text_is(uid: UidView<'_>, bytes: &[u8]) -> bool {
    match uid {
        UidView::Text(t) => t == bytes,
        UidView::Uuid(b) => {
            let mut buf = [0u8; uuid::fmt::Hyphenated::LENGTH];
            let text = uuid::Uuid::from_bytes(b).hyphenated().encode_lower(&mut buf);
            text.as_bytes() == bytes
        }
    }
}

/// A cid as messages show it: quoted (`"ghost"`, [`Cid::quoted`]).
fn cid_quoted(bytes: &[u8]) -> String {
    Cid::from_wire_bytes(bytes).quoted()
}

impl Resolver {
    pub(crate) fn apply_identify(
        &mut self,
        lsn: Lsn,
        ts: i64,
        uid: Option<UidView<'_>>,
        cid: &[u8],
        attrs: Attrs<'_>,
        shape: Result<(), Rejected>,
    ) -> Result<(), Rejected> {
        let uid = match uid {
            Some(u) => Some(self.check_uid(u)?),
            None => None,
        };
        let cid = self.check_cid(cid)?;
        shape?;
        if let Some(u) = uid {
            if uid_text_is(u.uid, cid.bytes) {
                return Err((Reason::SelfLink, format!("uid and cid are the same string {}", cid_quoted(cid.bytes))));
            }
        }
        let existing = cid.node;
        let added = match existing {
            // Most identifies carry no attributes: the customer's node is not read for them.
            _ if attrs.is_empty() => (0, 0),
            Some(c) => self.attrs_added(c, false, attrs.iter().map(|(k, v)| (k, Some(v)))),
            None => attrs.iter().fold((0, 0), |(n, b), (k, v)| (n + 1, b + attribute_bytes(k, v) as u64)),
        };
        let customer = match uid {
            None => {
                let (keys, bytes) = existing.map_or((0, 0), |c| self.comp_attrs(self.find_ro(c)));
                self.check_attr_limit(keys + added.0, bytes + added.1)?;
                self.customer_node(cid)
            }
            Some(u) => self.identify(u, cid, existing, lsn, ts, added)?,
        };
        if !attrs.is_empty() {
            let before = node_attrs(&self.nodes[customer as usize]);
            for (k, v) in attrs.iter() {
                self.write_attr(customer, k, false, WriteKey { ts, lsn, slot: SLOT_SET }, Some(v), false);
            }
            self.attrs_written(customer, before);
            self.note_changed(customer);
        }
        Ok(())
    }

    /// The identify of a device: links it (or a new epoch of it) to `cid` and returns the
    /// customer node. Checks before it changes anything.
    /// `customer`: `cid`'s node, if it has one. `added`: the attribute keys and bytes the record
    /// adds to the customer node at most.
    fn identify(
        &mut self,
        uid: CheckedUid<'_>,
        cid: CheckedCid<'_>,
        customer: Option<NodeId>,
        lsn: Lsn,
        ts: i64,
        added: (u64, u64),
    ) -> Result<NodeId, Rejected> {
        let device = uid.known.and_then(|u| self.current_device(u));
        let linked_to = device.and_then(|d| self.link_target(d));
        // A device linked to the customer already (the usual identify: a device's every session
        // repeats it) needs nothing but the attribute limit, which a record that adds nothing
        // passes while no component is over it.
        if let (Some(x), Some(c)) = (linked_to, customer) {
            if x == c || self.find_ro(c) == self.find_ro(x) {
                if added != (0, 0) || !self.components.within_limits() {
                    let cust_attrs = self.comp_attrs(self.find_ro(c));
                    self.check_attr_limit(cust_attrs.0 + added.0, cust_attrs.1 + added.1)?;
                } else {
                    debug_assert!(
                        {
                            let cust_attrs = self.comp_attrs(self.find_ro(c));
                            self.check_attr_limit(cust_attrs.0, cust_attrs.1).is_ok()
                        },
                        "no component is over the limits, so this one is not"
                    );
                }
                return Ok(c);
            }
        }
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
                if self.config.on_cid_conflict == OnCidConflict::Reject {
                    let x_cid = self.node_label(x);
                    return Err((
                        Reason::CidConflict,
                        format!("uid {} is linked to {x_cid} in another profile; logout (reset) first", uid.uid),
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
                        uid: uid.uid.to_uid(),
                        from_epoch,
                        to_epoch: from_epoch + 1,
                        previous_cid: self.cids[x_cid as usize].cid.clone(),
                        cid: Cid::from_wire_bytes(cid.bytes),
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

    pub(crate) fn apply_reset(&mut self, uid: UidView<'_>, shape: Result<(), Rejected>) -> Result<(), Rejected> {
        let uid = self.check_uid(uid)?;
        shape?;
        self.check_epoch_room(uid)?;
        let u = self.intern_uid(uid);
        self.uids.next_epoch(u);
        Ok(())
    }

    pub(crate) fn apply_merge(
        &mut self,
        lsn: Lsn,
        ts: i64,
        from: &[u8],
        into: &[u8],
        shape: Result<(), Rejected>,
    ) -> Result<(), Rejected> {
        let from = self.check_cid(from)?;
        let into = self.check_cid(into)?;
        shape?;
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

    pub(crate) fn apply_unmerge(&mut self, cid: &[u8], shape: Result<(), Rejected>) -> Result<(), Rejected> {
        let cid = self.check_cid(cid)?;
        shape?;
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

    pub(crate) fn apply_unlink(
        &mut self,
        uid: UidView<'_>,
        cid: &[u8],
        shape: Result<(), Rejected>,
    ) -> Result<(), Rejected> {
        let uid = self.check_uid(uid)?;
        let cid = self.check_cid(cid)?;
        shape?;
        let c = self.existing_customer(cid)?;
        let Some(u) = uid.known else { return Ok(()) };
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

    fn node_label(&self, n: NodeId) -> String {
        match self.nodes[n as usize].kind() {
            NodeKind::Customer { cid } => format!("cid {}", self.cids[cid as usize].cid.quoted()),
            NodeKind::Device { uid, epoch } => format!("device {}#{epoch}", self.uids.uid(uid)),
        }
    }

    fn link_target(&self, d: NodeId) -> Option<NodeId> {
        let e = self.nodes[d as usize].out()?;
        let target = self.graph.edge_endpoints(e).map(|(_, t)| t.index() as NodeId);
        debug_assert!(target.is_some(), "a node's outgoing edge is in the graph");
        target
    }
}

#[cfg(test)]
mod tests {
    use idres_model::limits::PROFILE_ATTRIBUTE_BYTES_MAX;
    use idres_model::{Cid, Entry, Map, Record, Timestamp, Uid, Value};

    use crate::components::node_attrs;
    use crate::{Applied, Config, Reason, Resolver};

    fn identify(attrs: Map) -> Entry {
        let record = Record::Identify {
            uid: Some(Uid::parse("d1").unwrap()),
            cid: Cid::parse("c1").unwrap(),
            attrs,
            ts: None,
            message_id: None,
        };
        Entry { appended_at: Timestamp(1), record }
    }

    /// Sets the customer's attribute bytes behind the fold's back (only a damaged state could
    /// hold a component over the limits), keeping the component's sums as the fold would.
    fn set_customer_bytes(r: &mut Resolver, bytes: u64) {
        let c = r.cid_index.get(b"c1").unwrap();
        let before = node_attrs(&r.nodes[c as usize]);
        r.nodes[c as usize].contents.attrs.set_total(bytes);
        let after = node_attrs(&r.nodes[c as usize]);
        let root = r.find_ro(c);
        r.components.attrs_changed(root, before, after);
    }

    #[test]
    fn an_identify_that_adds_nothing_is_still_refused_by_a_component_over_the_limits() {
        let mut r = Resolver::new(Config::default());
        let mut attrs = Map::new();
        attrs.insert("plan".into(), Value::Int(1));
        assert_eq!(r.apply(0, &identify(attrs)).unwrap(), Applied::Accepted);
        assert_eq!(r.apply(1, &identify(Map::new())).unwrap(), Applied::Accepted);
        assert!(r.components.within_limits());
        let normal = node_attrs(&r.nodes[r.cid_index.get(b"c1").unwrap() as usize]).1;
        set_customer_bytes(&mut r, PROFILE_ATTRIBUTE_BYTES_MAX as u64 + 1);
        assert!(!r.components.within_limits());
        assert_eq!(r.apply(2, &identify(Map::new())).unwrap(), Applied::Rejected(Reason::Limit));
        assert!(r.rejections().back().unwrap().detail.contains("PROFILE_ATTRIBUTE_BYTES_MAX"));
        set_customer_bytes(&mut r, normal);
        assert!(r.components.within_limits());
        assert_eq!(r.apply(3, &identify(Map::new())).unwrap(), Applied::Accepted);
    }
}
