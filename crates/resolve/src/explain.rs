//! Explain (SEMANTICS §7): why an id is in its profile, as the edge path from its node to the
//! profile's primary customer, with the implicit resets and rejected records that named it.

use idres_model::{Cid, RecordKind, Uid};

use crate::node::{NodeId, NodeKind};
use crate::outcome::{DeviceRef, EdgeKind, EpochProfile, Explanation, ImplicitReset, NodeRef, PathStep, Rejection};
use crate::resolver::Resolver;

impl Resolver {
    pub(crate) fn node_ref(&self, n: NodeId) -> NodeRef {
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
            let (Some((_, to)), Some(w)) = (self.graph.edge_endpoints(e), self.graph.edge_weight(e)) else {
                debug_assert!(false, "a node's outgoing edge is in the graph");
                break;
            };
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
                record: match w.kind {
                    EdgeKind::Link => RecordKind::Identify,
                    EdgeKind::Merge => RecordKind::Merge,
                },
            });
            at = to;
        }
        path
    }

    /// Why `uid`'s current epoch is in its profile: the edge path to the primary customer, the
    /// implicit resets of the uid and the rejected records that named it, and every epoch of the
    /// uid with its profile. `None` if the resolver has never heard of the uid; once rejections
    /// were forgotten ([`crate::REJECTIONS_KEPT_MAX`]) it cannot tell that from a uid named only
    /// by forgotten rejections, and answers with an explanation without a node whose
    /// `rejections_forgotten` says how many were forgotten.
    pub fn explain_uid(&self, uid: &Uid) -> Option<Explanation> {
        self.explain_uid_at(uid, None)
    }

    /// As [`Resolver::explain_uid`], for the device node of `uid` at `epoch`: `None` also if the
    /// uid has no node at that epoch (an epoch that saw no record, or one it never reached).
    pub fn explain_uid_epoch(&self, uid: &Uid, epoch: u32) -> Option<Explanation> {
        self.explain_uid_at(uid, Some(epoch))
    }

    fn explain_uid_at(&self, uid: &Uid, epoch: Option<u32>) -> Option<Explanation> {
        let canonical = uid.canonical().unwrap_or_else(|_| uid.clone());
        let text = canonical.to_string();
        let u = self.uid_index.get(&canonical, &self.uids);
        let current = u.and_then(|u| self.current_device(u));
        let node = match epoch {
            None => current,
            Some(e) => Some(u.and_then(|u| self.uids.nodes(u).find(|&(ep, _)| ep == e).map(|(_, n)| n))?),
        };
        let implicit_resets: Vec<ImplicitReset> =
            self.implicit_resets.iter().filter(|r| r.uid == canonical).cloned().collect();
        let rejections: Vec<Rejection> =
            self.rejections.iter().filter(|r| r.uid.as_deref() == Some(text.as_str())).cloned().collect();
        if node.is_none() && u.is_none() && rejections.is_empty() && self.rejections_forgotten.is_empty() {
            return None;
        }
        let mut explanation = self.explanation(node, implicit_resets, rejections);
        if let Some(u) = u {
            let mut epochs: Vec<EpochProfile> = self
                .uids
                .nodes(u)
                .map(|(epoch, n)| EpochProfile {
                    epoch,
                    profile_id: self.comp_id(self.find_ro(n)),
                    current: Some(n) == current,
                })
                .collect();
            epochs.sort_by_key(|e| e.epoch);
            explanation.epochs = epochs;
        }
        Some(explanation)
    }

    /// Why `cid` is in its profile: the merge edges to the primary, the implicit resets that
    /// involved it and the rejected records that named it. `None` if it is unknown (and no
    /// rejection was forgotten: see [`Resolver::explain_uid`]).
    pub fn explain_cid(&self, cid: &Cid) -> Option<Explanation> {
        let text = cid.to_string();
        let node = self.cid_index.get(cid.as_bytes());
        let implicit_resets: Vec<ImplicitReset> =
            self.implicit_resets.iter().filter(|r| &r.cid == cid || &r.previous_cid == cid).cloned().collect();
        let rejections: Vec<Rejection> = self.rejections.iter().filter(|r| r.cids.contains(&text)).cloned().collect();
        if node.is_none() && rejections.is_empty() && self.rejections_forgotten.is_empty() {
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
            rejections_forgotten: self.rejections_forgotten.clone(),
            epochs: Vec::new(),
        }
    }
}
