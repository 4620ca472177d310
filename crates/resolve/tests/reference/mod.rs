//! A naive reference fold: the oracle the resolver is checked against.
//!
//! Written for obviousness, not speed, and independently of `src/resolver.rs`: it keeps the raw
//! lists of nodes, edges, attribute writes and events, and recomputes everything (connected
//! components by BFS, attribute winners by scanning) from scratch whenever it is asked.
//! It implements shared/design/SEMANTICS.md §3-§5 plus the decisions the lead made where that text
//! is silent (check order, node creation, limit arithmetic, implicit reset, merge roots, unlink).
#![allow(dead_code)]

pub(crate) mod gen;

use std::collections::{BTreeMap, BTreeSet, VecDeque};

use idres_model::{
    Cid, DeviceInfo, Entry, IdRejection, IdValidator, Record, RecordKind, SessionsSummary, Target, Timestamp, Uid,
    Value,
};
use idres_resolve::{
    anonymous_profile_id, customer_profile_id, Config, DeviceRef, Lsn, OnCidConflict, Profile, ProfileKind, Reason,
    REJECTIONS_KEPT_MAX,
};
use uuid::Uuid;

/// A session as the reference lists it: `(id, start, end, events)`; id `None` when inferred.
pub(crate) type RefSession = (Option<String>, i64, i64, u64);

/// A node of the identity graph.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Node {
    /// Device node (canonical uid, epoch).
    Device(Uid, u32),
    /// Customer node.
    Customer(Cid),
}

/// One attribute write: slot 0 = set_once, 1 = set, 2 = unset (value `None`).
#[derive(Debug, Clone)]
pub(crate) struct Write {
    pub node: Node,
    pub key: String,
    pub ts: Timestamp,
    pub lsn: Lsn,
    pub slot: u8,
    pub value: Option<Value>,
    /// A system attribute (the device's own; never joined into the profile's attributes).
    pub system: bool,
}

/// One event.
#[derive(Debug, Clone)]
pub(crate) struct Event {
    pub node: Node,
    pub lsn: Lsn,
    pub name: String,
    pub ts: Timestamp,
    pub session_id: Option<String>,
    pub system: bool,
}

/// What the accepted records did, for coverage checks.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Stats {
    /// Merges that added a merge edge.
    pub merges: u64,
    /// Unmerges that removed at least one merge edge.
    pub unmerge_splits: u64,
    /// Unlinks that removed at least one link edge.
    pub unlink_detaches: u64,
    /// Identifies that advanced the epoch (implicit reset).
    pub implicit_resets: u64,
    /// Identifies that added a link edge to a device that was not linked before.
    pub plain_links: u64,
}

#[derive(Debug, Clone)]
pub(crate) struct Reference {
    pub config: Config,
    validator: IdValidator,
    next_lsn: Lsn,
    /// Current epoch per canonical uid (absent = 0).
    epochs: BTreeMap<Uid, u32>,
    /// Every node that exists.
    nodes: BTreeSet<Node>,
    /// Link edges: (device node, customer cid, lsn).
    pub links: Vec<(Node, Cid, Lsn)>,
    /// Merge edges: (from cid, into cid, lsn).
    pub merges: Vec<(Cid, Cid, Lsn)>,
    writes: Vec<Write>,
    events: Vec<Event>,
    /// Device nodes that were, at some point after a record, an anonymous profile.
    ever_anonymous: BTreeSet<Node>,
    /// Every profile id that ever named a profile, and the node it named.
    issued_ids: BTreeMap<Uuid, Node>,
    /// (lsn, kind, reason) of the newest `REJECTIONS_KEPT_MAX` rejected records.
    pub rejections: Vec<(Lsn, RecordKind, Reason)>,
    /// The older rejected records: how many by reason, and the newest one's LSN.
    pub forgotten: BTreeMap<Reason, u64>,
    pub forgotten_newest: Option<Lsn>,
    pub stats: Stats,
    /// The dedupe window, oldest first: (message id, LSN, appended_at, still held). A plain list
    /// scanned from the front (the fold keeps a hash table and a byte buffer).
    seen: Vec<(String, Lsn, i64, bool)>,
    /// Ids that left the window early (past `dedupe_ids_max`).
    pub dedupe_evicted: u64,
}

/// `at` is more than `window` after `then`.
fn older(then: i64, at: i64, window: i64) -> bool {
    i128::from(at) - i128::from(then) > i128::from(window)
}

fn reason_of(rejection: &IdRejection) -> Reason {
    match rejection {
        IdRejection::Invalid(_) => Reason::InvalidId,
        IdRejection::Blocked { .. } => Reason::BlockedValue,
    }
}

impl Reference {
    pub(crate) fn new(config: Config) -> Reference {
        Reference {
            validator: IdValidator::new(config.blocked.clone()),
            config,
            next_lsn: 0,
            epochs: BTreeMap::new(),
            nodes: BTreeSet::new(),
            links: Vec::new(),
            merges: Vec::new(),
            writes: Vec::new(),
            events: Vec::new(),
            ever_anonymous: BTreeSet::new(),
            issued_ids: BTreeMap::new(),
            rejections: Vec::new(),
            forgotten: BTreeMap::new(),
            forgotten_newest: None,
            stats: Stats::default(),
            seen: Vec::new(),
            dedupe_evicted: 0,
        }
    }

    pub(crate) fn next_lsn(&self) -> Lsn {
        self.next_lsn
    }

    // ---- graph helpers -------------------------------------------------------------------

    pub(crate) fn epoch(&self, uid: &Uid) -> u32 {
        self.epochs.get(uid).copied().unwrap_or(0)
    }

    pub(crate) fn exists(&self, node: &Node) -> bool {
        self.nodes.contains(node)
    }

    /// Whether this device node was an anonymous profile after some record.
    pub(crate) fn was_ever_anonymous(&self, node: &Node) -> bool {
        self.ever_anonymous.contains(node)
    }

    /// The customer a device node is linked to, if any.
    pub(crate) fn link_of(&self, device: &Node) -> Option<Cid> {
        let found: Vec<&Cid> = self.links.iter().filter(|(d, _, _)| d == device).map(|(_, c, _)| c).collect();
        assert!(found.len() <= 1, "device node {device:?} has {} link edges", found.len());
        found.first().map(|c| (*c).clone())
    }

    /// Every node adjacent to `node` through a link or merge edge, in either direction.
    fn neighbours(&self, node: &Node) -> Vec<Node> {
        let mut out = Vec::new();
        for (d, c, _) in &self.links {
            let customer = Node::Customer(c.clone());
            if d == node {
                out.push(customer);
            } else if &customer == node {
                out.push(d.clone());
            }
        }
        for (f, i, _) in &self.merges {
            let from = Node::Customer(f.clone());
            let into = Node::Customer(i.clone());
            if &from == node {
                out.push(into);
            } else if &into == node {
                out.push(from);
            }
        }
        out
    }

    /// The connected component of an existing node (BFS from scratch), sorted.
    pub(crate) fn component_of(&self, start: &Node) -> Vec<Node> {
        let mut seen = BTreeSet::new();
        let mut queue = VecDeque::new();
        seen.insert(start.clone());
        queue.push_back(start.clone());
        while let Some(n) = queue.pop_front() {
            for m in self.neighbours(&n) {
                if seen.insert(m.clone()) {
                    queue.push_back(m);
                }
            }
        }
        seen.into_iter().collect()
    }

    /// Every component, each sorted, in order of their smallest node.
    pub(crate) fn components(&self) -> Vec<Vec<Node>> {
        let mut done: BTreeSet<Node> = BTreeSet::new();
        let mut out = Vec::new();
        for n in &self.nodes {
            if done.contains(n) {
                continue;
            }
            let comp = self.component_of(n);
            for m in &comp {
                assert!(self.nodes.contains(m), "edge to a node that does not exist: {m:?}");
                done.insert(m.clone());
            }
            out.push(comp);
        }
        out
    }

    /// (device nodes, customer nodes) of a component.
    fn counts(comp: &[Node]) -> (u64, u64) {
        let devices = comp.iter().filter(|n| matches!(n, Node::Device(..))).count() as u64;
        let customers = comp.iter().filter(|n| matches!(n, Node::Customer(..))).count() as u64;
        (devices, customers)
    }

    /// The customer node of a component without an outgoing merge edge (exactly one).
    pub(crate) fn primary(&self, comp: &[Node]) -> Cid {
        let roots: Vec<Cid> = comp
            .iter()
            .filter_map(|n| match n {
                Node::Customer(c) => Some(c.clone()),
                Node::Device(..) => None,
            })
            .filter(|c| !self.merges.iter().any(|(f, _, _)| f == c))
            .collect();
        assert_eq!(roots.len(), 1, "component {comp:?} has roots {roots:?}");
        roots[0].clone()
    }

    fn create(&mut self, node: Node) {
        self.nodes.insert(node);
    }

    // ---- the fold ------------------------------------------------------------------------

    fn check_uid(&self, uid: &Uid) -> Result<Uid, Reason> {
        self.validator.check_uid(uid).map_err(|e| reason_of(&e))
    }

    fn check_cid(&self, cid: &Cid) -> Result<(), Reason> {
        self.validator.check_cid(cid).map_err(|e| reason_of(&e))
    }

    fn check_target(&self, target: &Target) -> Result<Node, Reason> {
        match target {
            Target::Uid(uid) => {
                let uid = self.check_uid(uid)?;
                let epoch = self.epoch(&uid);
                Ok(Node::Device(uid, epoch))
            }
            Target::Cid(cid) => {
                self.check_cid(cid)?;
                Ok(Node::Customer(cid.clone()))
            }
        }
    }

    /// Applies the record at `lsn` (which must be the next one). A rejection changes nothing
    /// except the rejection list.
    pub(crate) fn apply(&mut self, lsn: Lsn, entry: &Entry) -> Result<(), Reason> {
        assert_eq!(lsn, self.next_lsn, "LSNs must be consecutive");
        self.next_lsn += 1;
        // The rejection list stays out of the copy (a long one would make every record cost
        // its length).
        let mut rejections = std::mem::take(&mut self.rejections);
        // Before every record, accepted or not: what is more than the window older than it
        // leaves from the front (a dropped id and everything dropped ahead of it).
        let (window, at) = (self.config.dedupe_window_us, entry.appended_at.as_micros());
        if window > 0 {
            while self.seen.first().is_some_and(|(_, _, t, held)| !held || older(*t, at, window)) {
                self.seen.remove(0);
            }
        }
        let before = self.clone();
        let result = self.apply_inner(lsn, entry);
        match result {
            Err(reason) => {
                // A rejected record changes nothing: restore the state, then note the rejection;
                // past REJECTIONS_KEPT_MAX the oldest is forgotten, but counted.
                let next_lsn = self.next_lsn;
                *self = before;
                self.next_lsn = next_lsn;
                rejections.push((lsn, entry.record.kind(), reason));
                if rejections.len() > REJECTIONS_KEPT_MAX {
                    let (old, _, why) = rejections.remove(0);
                    *self.forgotten.entry(why).or_insert(0) += 1;
                    self.forgotten_newest = Some(old);
                }
                self.rejections = rejections;
            }
            Ok(()) => {
                self.rejections = rejections;
                if let (Some(id), true) = (entry.record.message_id(), window > 0) {
                    for s in self.seen.iter_mut().filter(|s| s.0 == id) {
                        s.3 = false;
                    }
                    self.seen.push((id.to_string(), lsn, at, true));
                    while self.seen.iter().filter(|s| s.3).count() > self.config.dedupe_ids_max as usize {
                        let (_, _, _, held) = self.seen.remove(0);
                        if held {
                            self.dedupe_evicted += 1;
                        }
                    }
                }
                for comp in self.components() {
                    match comp.as_slice() {
                        [n @ Node::Device(u, e)] => {
                            if self.ever_anonymous.insert(n.clone()) {
                                self.issued_ids.insert(anonymous_profile_id(u, *e), n.clone());
                            }
                        }
                        _ => {
                            let primary = self.primary(&comp);
                            self.issued_ids
                                .entry(customer_profile_id(&primary))
                                .or_insert_with(|| Node::Customer(primary.clone()));
                        }
                    }
                }
            }
        }
        result
    }

    /// Every id the record names, in field order (SEMANTICS: such records are rejected first).
    fn check_ids(&self, record: &Record) -> Result<(), Reason> {
        match record {
            Record::Identify { uid, cid, .. } => {
                if let Some(u) = uid {
                    self.check_uid(u)?;
                }
                self.check_cid(cid)
            }
            Record::Reset { uid, .. } => self.check_uid(uid).map(|_| ()),
            Record::Event { target, .. } | Record::Attributes { target, .. } => match target {
                Target::Uid(u) => self.check_uid(u).map(|_| ()),
                Target::Cid(c) => self.check_cid(c),
            },
            Record::Merge { from, into } => {
                self.check_cid(from)?;
                self.check_cid(into)
            }
            Record::Unmerge { cid } => self.check_cid(cid),
            Record::Unlink { uid, cid } => {
                self.check_uid(uid)?;
                self.check_cid(cid)
            }
        }
    }

    fn apply_inner(&mut self, lsn: Lsn, entry: &Entry) -> Result<(), Reason> {
        // A resend of a message the window holds, first (when its shape is valid); then ids,
        // then the record's shape, then its rules.
        let window = self.config.dedupe_window_us;
        if let (Some(id), true) = (entry.record.message_id(), window > 0 && entry.record.validate_shape().is_ok()) {
            let at = entry.appended_at.as_micros();
            if self.seen.iter().any(|(s, _, t, held)| *held && s == id && !older(*t, at, window)) {
                return Err(Reason::Duplicate);
            }
        }
        self.check_ids(&entry.record)?;
        if entry.record.validate_shape().is_err() {
            return Err(Reason::InvalidRecord);
        }
        let ts = entry.effective_ts();
        match &entry.record {
            Record::Identify { uid, cid, attrs, .. } => {
                let uid = match uid {
                    Some(u) => Some(self.check_uid(u)?),
                    None => None,
                };
                self.check_cid(cid)?;
                if let Some(u) = &uid {
                    if u.to_string().as_bytes() == cid.as_bytes() {
                        return Err(Reason::SelfLink);
                    }
                }
                let customer = Node::Customer(cid.clone());
                if let Some(u) = uid {
                    self.identify_link(lsn, u, cid)?;
                } else {
                    self.create(customer.clone());
                }
                for (key, value) in attrs {
                    self.writes.push(Write {
                        node: customer.clone(),
                        key: key.clone(),
                        ts,
                        lsn,
                        slot: 1,
                        value: Some(value.clone()),
                        system: false,
                    });
                }
                Ok(())
            }
            Record::Reset { uid, .. } => {
                let uid = self.check_uid(uid)?;
                let next = self.epoch(&uid) + 1;
                self.epochs.insert(uid, next);
                Ok(())
            }
            Record::Event { target, name, session_id, system, .. } => {
                let node = self.check_target(target)?;
                self.create(node.clone());
                self.events.push(Event {
                    node,
                    lsn,
                    name: name.clone(),
                    ts,
                    session_id: session_id.clone(),
                    system: *system,
                });
                Ok(())
            }
            Record::Attributes { target, set, set_once, unset, system, .. } => {
                let system = *system;
                let node = self.check_target(target)?;
                self.create(node.clone());
                for (key, value) in set_once {
                    self.writes.push(Write {
                        node: node.clone(),
                        key: key.clone(),
                        ts,
                        lsn,
                        slot: 0,
                        value: Some(value.clone()),
                        system,
                    });
                }
                for (key, value) in set {
                    self.writes.push(Write {
                        node: node.clone(),
                        key: key.clone(),
                        ts,
                        lsn,
                        slot: 1,
                        value: Some(value.clone()),
                        system,
                    });
                }
                for key in unset {
                    self.writes.push(Write {
                        node: node.clone(),
                        key: key.clone(),
                        ts,
                        lsn,
                        slot: 2,
                        value: None,
                        system,
                    });
                }
                Ok(())
            }
            Record::Merge { from, into } => {
                self.check_cid(from)?;
                self.check_cid(into)?;
                let from_node = Node::Customer(from.clone());
                let into_node = Node::Customer(into.clone());
                if !self.exists(&from_node) || !self.exists(&into_node) {
                    return Err(Reason::UnknownCid);
                }
                let comp_from = self.component_of(&from_node);
                let comp_into = self.component_of(&into_node);
                let pf = self.primary(&comp_from);
                let pi = self.primary(&comp_into);
                if pf == pi {
                    return Ok(());
                }
                let (df, cf) = Self::counts(&comp_from);
                let (di, ci) = Self::counts(&comp_into);
                if df + di > u64::from(self.config.max_devices_per_profile)
                    || cf + ci > u64::from(self.config.max_customers_per_profile)
                {
                    return Err(Reason::Limit);
                }
                self.merges.push((pf, pi, lsn));
                self.stats.merges += 1;
                Ok(())
            }
            Record::Unmerge { cid } => {
                self.check_cid(cid)?;
                if !self.exists(&Node::Customer(cid.clone())) {
                    return Err(Reason::UnknownCid);
                }
                let before = self.merges.len();
                self.merges.retain(|(f, i, _)| f != cid && i != cid);
                if self.merges.len() != before {
                    self.stats.unmerge_splits += 1;
                }
                Ok(())
            }
            Record::Unlink { uid, cid } => {
                let uid = self.check_uid(uid)?;
                self.check_cid(cid)?;
                if !self.exists(&Node::Customer(cid.clone())) {
                    return Err(Reason::UnknownCid);
                }
                let before = self.links.len();
                self.links.retain(|(d, c, _)| !(matches!(d, Node::Device(u, _) if *u == uid) && c == cid));
                if self.links.len() != before {
                    self.stats.unlink_detaches += 1;
                }
                Ok(())
            }
        }
    }

    /// The link part of Identify(uid, cid) (ids already checked, not a self-link).
    fn identify_link(&mut self, lsn: Lsn, uid: Uid, cid: &Cid) -> Result<(), Reason> {
        let max_devices = u64::from(self.config.max_devices_per_profile);
        let max_customers = u64::from(self.config.max_customers_per_profile);
        let customer = Node::Customer(cid.clone());
        let epoch = self.epoch(&uid);
        let device = Node::Device(uid.clone(), epoch);
        let (cid_devices, cid_customers) =
            if self.exists(&customer) { Self::counts(&self.component_of(&customer)) } else { (0, 1) };
        match self.link_of(&device) {
            Some(x) => {
                let same_profile =
                    x == *cid || (self.exists(&customer) && self.component_of(&customer).contains(&Node::Customer(x)));
                if same_profile {
                    return Ok(());
                }
                if self.config.on_cid_conflict == OnCidConflict::Reject {
                    return Err(Reason::CidConflict);
                }
                // Implicit reset: a fresh device node joins cid's component.
                if cid_devices + 1 > max_devices || cid_customers > max_customers {
                    return Err(Reason::Limit);
                }
                let fresh = Node::Device(uid.clone(), epoch + 1);
                assert!(!self.exists(&fresh));
                self.epochs.insert(uid, epoch + 1);
                self.create(fresh.clone());
                self.create(customer);
                self.links.push((fresh, cid.clone(), lsn));
                self.stats.implicit_resets += 1;
                Ok(())
            }
            None => {
                let (d_devices, d_customers) =
                    if self.exists(&device) { Self::counts(&self.component_of(&device)) } else { (1, 0) };
                if cid_devices + d_devices > max_devices || cid_customers + d_customers > max_customers {
                    return Err(Reason::Limit);
                }
                self.create(device.clone());
                self.create(customer);
                self.links.push((device, cid.clone(), lsn));
                self.stats.plain_links += 1;
                Ok(())
            }
        }
    }

    // ---- profiles ------------------------------------------------------------------------

    /// The value of attribute `key` over these writes (SEMANTICS §4, decision 6).
    fn attribute(writes: &[&Write]) -> Option<Value> {
        let order = |w: &Write| (w.ts, w.lsn, w.slot);
        let winner = writes.iter().filter(|w| w.slot != 0).max_by_key(|w| order(w));
        if let Some(w) = winner {
            if w.slot == 1 {
                return w.value.clone();
            }
        }
        let after = winner.map(|w| order(w));
        writes
            .iter()
            .filter(|w| w.slot == 0)
            .filter(|w| match after {
                Some(a) => order(w) > a,
                None => true,
            })
            .min_by_key(|w| order(w))
            .and_then(|w| w.value.clone())
    }

    fn build_profile(&self, comp: &[Node]) -> Profile {
        let customers: Vec<Cid> = comp
            .iter()
            .filter_map(|n| match n {
                Node::Customer(c) => Some(c.clone()),
                Node::Device(..) => None,
            })
            .collect();
        let mut uids: Vec<DeviceRef> = comp
            .iter()
            .filter_map(|n| match n {
                Node::Device(u, e) => Some(DeviceRef { uid: u.clone(), epoch: *e }),
                Node::Customer(_) => None,
            })
            .collect();
        uids.sort_by_key(|d| (d.uid.to_string(), d.epoch));

        let (id, kind, primary_cid, cids) = if customers.is_empty() {
            assert_eq!(uids.len(), 1, "an anonymous component is one device node: {comp:?}");
            (anonymous_profile_id(&uids[0].uid, uids[0].epoch), ProfileKind::Anonymous, None, Vec::new())
        } else {
            let primary = self.primary(comp);
            let mut others: Vec<Cid> = customers.iter().filter(|c| **c != primary).cloned().collect();
            others.sort_by(|a, b| a.as_bytes().cmp(b.as_bytes()));
            let mut cids = vec![primary.clone()];
            cids.extend(others);
            (customer_profile_id(&primary), ProfileKind::Customer, Some(primary), cids)
        };

        let writes: Vec<&Write> = self.writes.iter().filter(|w| !w.system && comp.contains(&w.node)).collect();
        let keys: BTreeSet<&String> = writes.iter().map(|w| &w.key).collect();
        let mut attributes = BTreeMap::new();
        for key in keys {
            let of_key: Vec<&Write> = writes.iter().filter(|w| &w.key == key).copied().collect();
            if let Some(v) = Self::attribute(&of_key) {
                attributes.insert(key.clone(), v);
            }
        }

        let events: Vec<&Event> = self.events.iter().filter(|e| comp.contains(&e.node)).collect();
        let mut events_by_name = BTreeMap::new();
        for e in &events {
            *events_by_name.entry(e.name.clone()).or_insert(0u64) += 1;
        }
        let devices: Vec<DeviceInfo> = uids
            .iter()
            .map(|d| {
                let node = Node::Device(d.uid.clone(), d.epoch);
                let own: Vec<&&Event> = events.iter().filter(|e| e.node == node).collect();
                let system: Vec<&Write> = self.writes.iter().filter(|w| w.system && w.node == node).collect();
                let keys: BTreeSet<&String> = system.iter().map(|w| &w.key).collect();
                let mut system_attributes = BTreeMap::new();
                for key in keys {
                    let of_key: Vec<&Write> = system.iter().filter(|w| &w.key == key).copied().collect();
                    if let Some(v) = Self::attribute(&of_key) {
                        system_attributes.insert(key.clone(), v);
                    }
                }
                DeviceInfo {
                    first_seen: own.iter().map(|e| e.ts).min(),
                    last_seen: own.iter().map(|e| e.ts).max(),
                    event_count: own.len() as u64,
                    system_attributes,
                }
            })
            .collect();
        let mut history: Vec<Lsn> = events.iter().map(|e| e.lsn).collect();
        history.sort_unstable();
        Profile {
            id,
            kind,
            primary_cid,
            cids,
            uids,
            attributes,
            event_count: events.len() as u64,
            events_by_name,
            first_seen: events.iter().map(|e| e.ts).min(),
            last_seen: events.iter().map(|e| e.ts).max(),
            history,
            system_event_count: events.iter().filter(|e| e.system).count() as u64,
            sessions: Self::summary(&self.sessions(comp)),
            devices,
        }
    }

    /// The sessions of a component as `(id, start, end, events)` (SEMANTICS, "Sessions"), by the
    /// definition: explicit ones grouped by id over the whole component; the rest per node, its
    /// event times sorted and cut where neighbours are more than the gap apart (none when the
    /// gap is 0).
    pub(crate) fn sessions(&self, comp: &[Node]) -> Vec<RefSession> {
        let events: Vec<&Event> = self.events.iter().filter(|e| comp.contains(&e.node)).collect();
        let mut out = Vec::new();
        let ids: BTreeSet<&String> = events.iter().filter_map(|e| e.session_id.as_ref()).collect();
        for id in ids {
            let times: Vec<i64> =
                events.iter().filter(|e| e.session_id.as_ref() == Some(id)).map(|e| e.ts.as_micros()).collect();
            let (start, end) = (*times.iter().min().unwrap(), *times.iter().max().unwrap());
            out.push((Some(id.clone()), start, end, times.len() as u64));
        }
        let gap = self.config.session_gap_us;
        if gap > 0 {
            for node in comp {
                let mut times: Vec<i64> = events
                    .iter()
                    .filter(|e| &e.node == node && e.session_id.is_none())
                    .map(|e| e.ts.as_micros())
                    .collect();
                times.sort_unstable();
                let mut current: Option<(i64, i64, u64)> = None;
                for t in times {
                    current = match current {
                        Some((s, e, n)) if t - e <= gap => Some((s, t, n + 1)),
                        Some((s, e, n)) => {
                            out.push((None, s, e, n));
                            Some((t, t, 1))
                        }
                        None => Some((t, t, 1)),
                    };
                }
                if let Some((s, e, n)) = current {
                    out.push((None, s, e, n));
                }
            }
        }
        out
    }

    fn summary(sessions: &[RefSession]) -> SessionsSummary {
        let mut lengths: Vec<u64> = sessions.iter().map(|s| (s.2 - s.1) as u64).collect();
        lengths.sort_unstable();
        SessionsSummary {
            count: sessions.len() as u64,
            first_start: sessions.iter().map(|s| Timestamp(s.1)).min(),
            last_start: sessions.iter().map(|s| Timestamp(s.1)).max(),
            median_micros: if lengths.is_empty() { None } else { Some(lengths[(lengths.len() - 1) / 2]) },
        }
    }

    /// Every profile, sorted by id.
    pub(crate) fn profiles(&self) -> Vec<Profile> {
        let mut out: Vec<Profile> = self.components().iter().map(|c| self.build_profile(c)).collect();
        out.sort_by_key(|p| p.id);
        out
    }

    fn profile_of_node(&self, node: &Node) -> Option<Profile> {
        if !self.exists(node) {
            return None;
        }
        Some(self.build_profile(&self.component_of(node)))
    }

    /// The sessions of the component of `node`, as `(id, start, end, events)` sorted.
    fn sessions_of_node(&self, node: &Node) -> Option<Vec<RefSession>> {
        if !self.exists(node) {
            return None;
        }
        let mut s = self.sessions(&self.component_of(node));
        s.sort();
        Some(s)
    }

    pub(crate) fn sessions_by_cid(&self, cid: &Cid) -> Option<Vec<RefSession>> {
        self.sessions_of_node(&Node::Customer(cid.clone()))
    }

    pub(crate) fn sessions_by_uid(&self, uid: &Uid) -> Option<Vec<RefSession>> {
        let uid = uid.canonical().ok()?;
        let epoch = self.epoch(&uid);
        self.sessions_of_node(&Node::Device(uid, epoch))
    }

    pub(crate) fn profile_by_cid(&self, cid: &Cid) -> Option<Profile> {
        self.profile_of_node(&Node::Customer(cid.clone()))
    }

    /// The profile of the uid's current epoch; the uid is canonicalised first.
    pub(crate) fn profile_by_uid(&self, uid: &Uid) -> Option<Profile> {
        let uid = uid.canonical().ok()?;
        let epoch = self.epoch(&uid);
        self.profile_of_node(&Node::Device(uid, epoch))
    }

    pub(crate) fn profile_by_uid_epoch(&self, uid: &Uid, epoch: u32) -> Option<Profile> {
        let uid = uid.canonical().ok()?;
        self.profile_of_node(&Node::Device(uid, epoch))
    }

    /// A current profile id, or an id that was a profile's id once: the profile that now holds
    /// the node it named. (A customer node is a profile of its own when created; a device node's
    /// anonymous id counts once it was an anonymous profile.)
    pub(crate) fn profile_by_id(&self, id: Uuid) -> Option<Profile> {
        let node = self.issued_ids.get(&id)?;
        self.profile_of_node(node)
    }
}
