//! Reading the fold's state without changing it: profiles (materialised by joining their nodes'
//! contents) by cid, uid, epoch and profile id, counts, the profile ids current and retired, the
//! graph's edges, the epochs of a uid's events, rejections and implicit resets.

use std::collections::VecDeque;

use idres_model::{Cid, DeviceInfoRef, ProfileRef, Uid, UidView, Value};
use petgraph::visit::{EdgeRef, IntoEdgeReferences};
use uuid::Uuid;

use crate::contents::{Contents, Joined, SYSTEM_KEY};
use crate::events::EventsView;
use crate::node::{NodeId, NodeKind};
use crate::outcome::{EdgeKind, ForgottenRejections, ImplicitReset, NodeRef, Profile, ProfileKind, Rejection};
use crate::resolver::Resolver;
use crate::Lsn;

impl Resolver {
    /// The rejected records the fold keeps, in LSN order: the newest [`crate::REJECTIONS_KEPT_MAX`]
    /// (all of them, while there are no more); the older ones are counted in
    /// [`Resolver::rejections_forgotten`].
    pub fn rejections(&self) -> &VecDeque<Rejection> {
        &self.rejections
    }

    /// The rejections no longer kept, counted by reason (empty while there are at most
    /// [`crate::REJECTIONS_KEPT_MAX`]).
    pub fn rejections_forgotten(&self) -> &ForgottenRejections {
        &self.rejections_forgotten
    }

    /// Every rejected record so far, kept or forgotten.
    pub fn rejection_count(&self) -> u64 {
        (self.rejections.len() as u64).saturating_add(self.rejections_forgotten.count())
    }

    /// Materialises the profile of the component at `root`.
    pub(crate) fn materialise(&self, root: NodeId) -> Profile {
        self.materialise_with(root, true)
    }

    /// Materialises the profile of the component at `root`, its history only if `history`.
    pub(crate) fn materialise_with(&self, root: NodeId, history: bool) -> Profile {
        let (profile, history) = self.materialise_ref(root, history);
        profile.to_profile(history)
    }

    /// The profile of the component at `root` borrowed from the fold (its stored fields), and
    /// its history (LSNs ascending) if `history`, else an empty one. The one join every
    /// materialisation goes through: an owned profile is this one copied.
    pub(crate) fn materialise_ref(&self, root: NodeId, history: bool) -> (ProfileRef<'_>, Vec<Lsn>) {
        let comp = self.comp(root);
        let mut cids: Vec<&Cid> = Vec::new();
        let mut uids: Vec<(UidView<'_>, u32, DeviceInfoRef<'_>)> = Vec::new();
        let mut joined = Joined { without_history: !history, ..Joined::default() };
        for &m in comp.members {
            let node = &self.nodes[m as usize];
            let events = self.events.view(node.contents.events);
            joined.add(&node.contents, events);
            match node.kind() {
                NodeKind::Device { uid, epoch } => {
                    uids.push((self.uids.view(uid), epoch, self.device_info(&node.contents, events)))
                }
                NodeKind::Customer { cid } => {
                    if Some(m) != comp.primary {
                        cids.push(&self.cids[cid as usize].cid);
                    }
                }
            }
        }
        cids.sort_by(|a, b| a.as_bytes().cmp(b.as_bytes()));
        let primary_cid = comp.primary.and_then(|p| match self.nodes[p as usize].kind() {
            NodeKind::Customer { cid } => Some(&self.cids[cid as usize].cid),
            NodeKind::Device { .. } => None,
        });
        if let Some(p) = primary_cid {
            cids.insert(0, p);
        }
        if uids.len() > 1 {
            uids.sort_by_cached_key(|(uid, epoch, _)| (uid.to_string(), *epoch));
        }
        let (uids, devices) = uids.into_iter().map(|(u, e, d)| ((u, e), d)).unzip();
        joined.finish();
        let mut attributes: Vec<(&str, &Value)> =
            joined.attrs.iter().filter_map(|(k, cell)| cell.value().map(|&v| (self.keys.get(*k), v))).collect();
        attributes.sort_unstable_by(|a, b| a.0.cmp(b.0));
        // System events are interned as "\0" + name (apply.rs): counted apart, and by name with
        // the custom events of the same name.
        let mut system_event_count = 0;
        let mut events_by_name: Vec<(&str, u64)> = joined
            .by_name
            .iter()
            .map(|(n, count)| {
                let name = self.names.get(*n);
                match name.strip_prefix('\0') {
                    Some(name) => {
                        system_event_count += *count;
                        (name, *count)
                    }
                    None => (name, *count),
                }
            })
            .collect();
        events_by_name.sort_unstable_by(|a, b| a.0.cmp(b.0));
        events_by_name.dedup_by(|later, kept| {
            let same = later.0 == kept.0;
            if same {
                kept.1 += later.1;
            }
            same
        });
        let profile = ProfileRef {
            id: self.comp_id(root),
            kind: if primary_cid.is_some() { ProfileKind::Customer } else { ProfileKind::Anonymous },
            primary_cid,
            cids,
            uids,
            attributes,
            event_count: joined.event_count,
            events_by_name,
            first_seen: joined.first_seen.map(idres_model::Timestamp::from_micros),
            last_seen: joined.last_seen.map(idres_model::Timestamp::from_micros),
            system_event_count,
            sessions: self.sessions_summary(comp.members),
            devices,
        };
        (profile, joined.history)
    }

    /// What a profile lists of one device node alone: when it was seen, its events, its system
    /// attributes (ascending by key).
    fn device_info<'a>(&'a self, c: &'a Contents, events: EventsView<'_>) -> DeviceInfoRef<'a> {
        let mut system_attributes: Vec<(&str, &Value)> = c
            .attrs
            .iter()
            .filter(|(k, _)| **k & SYSTEM_KEY != 0)
            .filter_map(|(k, cell)| cell.value().map(|v| (self.keys.get(*k & !SYSTEM_KEY), v)))
            .collect();
        system_attributes.sort_unstable_by(|a, b| a.0.cmp(b.0));
        DeviceInfoRef {
            first_seen: events.first_seen().map(idres_model::Timestamp::from_micros),
            last_seen: events.last_seen().map(idres_model::Timestamp::from_micros),
            event_count: events.count(),
            system_attributes,
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
        let node = self.cid_index.get(cid.as_bytes())?;
        Some(self.materialise(self.find_ro(node)))
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
        let n = self.profile_index.get(self.nodes.len(), |n| self.own_id(n), id)?;
        Some(self.materialise(self.find_ro(n)))
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
