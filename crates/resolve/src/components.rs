//! The union-find over the nodes and the components it keeps at its roots: uniting two
//! components, splitting one after edges were removed, and rebuilding all of them from the graph
//! (a restore).
//!
//! Union-find by path halving and union by size. A root holds the component of two or more nodes
//! (members, device and customer counts, primary customer, the members' attribute keys and bytes
//! summed) in a map by root; a node on its own,
//! most devices, stores none and its component is read off the node. Its fields are private: the
//! fold changes them only through these methods, and a restore only through
//! [`Components::rebuild`], which checks what it builds.
//!
//! Invariants kept here: there is one entry in `parent` per node; `parent[r] == r` exactly for
//! the roots; a stored component is at a root, has two or more members (every node whose root it
//! is), and its counts, sums and primary are those of its members; a node on its own has none
//! stored; `over_limit` is the number of components (stored or not) over the attribute limits.

use petgraph::stable_graph::NodeIndex;

use idres_model::limits::{PROFILE_ATTRIBUTES_MAX, PROFILE_ATTRIBUTE_BYTES_MAX};

use crate::hash::FastMap;
use crate::node::{Graph, Node, NodeId, NodeKind};

/// A connected component of two or more nodes: one profile. Stored at its union-find root; a
/// node on its own stores none (see [`Components::view`]).
#[derive(Debug, Clone)]
struct Component {
    members: Vec<NodeId>,
    devices: u32,
    customers: u32,
    /// The customer node without an outgoing merge edge; `None` for an anonymous profile.
    /// The profile's id is its primary's own id (SEMANTICS §5), computed when asked for.
    primary: Option<NodeId>,
    /// The members' attribute keys and attribute bytes, summed (what the attribute limits are
    /// checked against): kept as the members' contents change ([`Components::attrs_changed`]),
    /// so that a check reads two numbers instead of every member.
    attrs: (u64, u64),
}

/// A component as read: stored at its root, or (for a node on its own) read off the node.
#[derive(Debug, Clone, Copy)]
pub(crate) struct CompView<'a> {
    pub(crate) members: &'a [NodeId],
    pub(crate) devices: u32,
    pub(crate) customers: u32,
    pub(crate) primary: Option<NodeId>,
    /// The members' attribute keys and bytes, summed.
    pub(crate) attrs: (u64, u64),
}

/// What a union did, for the change stream: the nodes that named the two profiles before, and
/// the one that names the united profile.
#[derive(Debug, Clone, Copy)]
pub(crate) struct United {
    pub(crate) named_by: [NodeId; 2],
    pub(crate) now_named_by: NodeId,
}

/// What a split took apart: the node that named the former profile, and its members (each now in
/// one of the new components).
#[derive(Debug, Clone)]
pub(crate) struct Former {
    pub(crate) named_by: NodeId,
    pub(crate) members: Vec<NodeId>,
}

/// The union-find and its components (see the module docs).
#[derive(Debug, Clone, Default)]
pub(crate) struct Components {
    parent: Vec<NodeId>,
    /// The components of two or more nodes, by root. Looked up by root only, never iterated.
    comps: FastMap<NodeId, Component>,
    /// How many components (stored ones and nodes on their own) hold more attribute keys or
    /// bytes than a profile may ([`over_limits`]). None does in a state the fold makes (every
    /// record that adds attributes, links or merges is checked first), but it is counted, not
    /// assumed: while it is 0, a check that adds nothing to a component passes and can be
    /// skipped ([`Components::within_limits`]).
    over_limit: usize,
}

/// True if `attrs` (keys, bytes) are more than a profile may hold.
fn over_limits(attrs: (u64, u64)) -> bool {
    attrs.0 > PROFILE_ATTRIBUTES_MAX as u64 || attrs.1 > PROFILE_ATTRIBUTE_BYTES_MAX as u64
}

impl Components {
    /// Adds node `n`, the next node, on its own.
    pub(crate) fn push(&mut self, n: NodeId) {
        debug_assert_eq!(n as usize, self.parent.len(), "nodes are numbered densely");
        self.parent.push(n);
    }

    /// True if node `n` is a union-find root (one per profile).
    pub(crate) fn is_root(&self, n: NodeId) -> bool {
        self.parent[n as usize] == n
    }

    /// The root of `x`'s component, halving the path on the way.
    pub(crate) fn find(&mut self, mut x: NodeId) -> NodeId {
        while self.parent[x as usize] != x {
            let grand = self.parent[self.parent[x as usize] as usize];
            self.parent[x as usize] = grand;
            x = grand;
        }
        x
    }

    /// The root of `x`'s component, without changing the union-find (for readers).
    pub(crate) fn find_ro(&self, mut x: NodeId) -> NodeId {
        while self.parent[x as usize] != x {
            x = self.parent[x as usize];
        }
        x
    }

    /// The component at union-find root `root` (`nodes`: the fold's nodes). A root without a
    /// stored component is a node on its own (most devices never link): its component is read off
    /// the node, so those nodes cost no allocation.
    pub(crate) fn view<'a>(&'a self, root: NodeId, nodes: &[Node]) -> CompView<'a> {
        if let Some(c) = self.comps.get(&root) {
            return CompView {
                members: &c.members,
                devices: c.devices,
                customers: c.customers,
                primary: c.primary,
                attrs: c.attrs,
            };
        }
        let Some(node) = nodes.get(root as usize) else { unreachable_component(root) };
        let is_customer = matches!(node.kind(), NodeKind::Customer { .. });
        CompView {
            // `parent[root] == root`: a one-element slice of the root's own id.
            members: std::slice::from_ref(&self.parent[root as usize]),
            devices: u32::from(!is_customer),
            customers: u32::from(is_customer),
            primary: is_customer.then_some(root),
            attrs: node_attrs(node),
        }
    }

    /// Records that a member of the component at root `root` went from `before` to `after`
    /// attribute keys and bytes (a node on its own stores no sums: its view reads the node).
    pub(crate) fn attrs_changed(&mut self, root: NodeId, before: (u64, u64), after: (u64, u64)) {
        let (old, new) = match self.comps.get_mut(&root) {
            Some(c) => {
                let old = c.attrs;
                // The sums include the member's `before`: no underflow.
                c.attrs.0 = c.attrs.0.saturating_sub(before.0).saturating_add(after.0);
                c.attrs.1 = c.attrs.1.saturating_sub(before.1).saturating_add(after.1);
                (old, c.attrs)
            }
            None => (before, after),
        };
        self.recount(old, new);
    }

    /// Keeps `over_limit` as a component's sums go from `old` to `new`.
    fn recount(&mut self, old: (u64, u64), new: (u64, u64)) {
        match (over_limits(old), over_limits(new)) {
            (false, true) => self.over_limit += 1,
            (true, false) => self.over_limit = self.over_limit.saturating_sub(1),
            _ => {}
        }
    }

    /// Takes a component with sums `attrs` out of `over_limit` (it is counted if over).
    fn uncount(&mut self, attrs: (u64, u64)) {
        if over_limits(attrs) {
            self.over_limit = self.over_limit.saturating_sub(1);
        }
    }

    /// True if no component holds more attribute keys or bytes than a profile may: then every
    /// component passes the attribute limits as it is.
    pub(crate) fn within_limits(&self) -> bool {
        self.over_limit == 0
    }

    /// The node whose own id names the profile at root `root`: its primary customer, or the
    /// node itself (an anonymous profile is one device node).
    pub(crate) fn naming_node(&self, root: NodeId) -> NodeId {
        match self.comps.get(&root) {
            Some(c) => c.primary.unwrap_or(root),
            None => root,
        }
    }

    /// Unites two components (roots `a` and `b`, which differ); the result's primary is
    /// `primary`. `None` (and nothing changed) if `a == b`, which no caller does.
    ///
    /// The larger component's root (`a`'s on a tie) becomes the root; the smaller one's members
    /// follow the larger one's. The larger one's stored component is extended where it is (a
    /// node on its own gets one), the smaller one's taken out: a device that links to a customer
    /// with devices moves no component and allocates nothing.
    pub(crate) fn union(&mut self, a: NodeId, b: NodeId, primary: Option<NodeId>, nodes: &[Node]) -> Option<United> {
        debug_assert!(self.is_root(a) && self.is_root(b), "union of two roots");
        if a == b {
            debug_assert!(false, "union of component {a} with itself: callers unite two components");
            return None;
        }
        let (root, other) =
            if self.view(a, nodes).members.len() >= self.view(b, nodes).members.len() { (a, b) } else { (b, a) };
        let (big_primary, big_attrs) = {
            let v = self.view(root, nodes);
            (v.primary, v.attrs)
        };
        let small = self.view(other, nodes);
        let (devices, customers, small_primary, attrs) = (small.devices, small.customers, small.primary, small.attrs);
        let named_by = [big_primary.unwrap_or(root), small_primary.unwrap_or(other)];
        let one = [other];
        let stored = self.comps.remove(&other);
        let small_members = stored.as_ref().map_or(&one[..], |c| &c.members[..]);
        self.parent[other as usize] = root;
        if let Some(big) = self.comps.get_mut(&root) {
            big.members.extend_from_slice(small_members);
            big.devices += devices;
            big.customers += customers;
            big.primary = primary;
            big.attrs = (big.attrs.0 + attrs.0, big.attrs.1 + attrs.1);
        } else {
            // The root was a node on its own (and so, at most the same size, was the other).
            let v = self.view(root, nodes);
            let mut members = Vec::with_capacity(1 + small_members.len());
            members.push(root);
            members.extend_from_slice(small_members);
            let big = Component {
                members,
                devices: v.devices + devices,
                customers: v.customers + customers,
                primary,
                attrs: (v.attrs.0 + attrs.0, v.attrs.1 + attrs.1),
            };
            self.comps.insert(root, big);
        }
        let united = (big_attrs.0 + attrs.0, big_attrs.1 + attrs.1);
        self.uncount(big_attrs);
        self.uncount(attrs);
        self.over_limit += usize::from(over_limits(united));
        let now_named_by = primary.unwrap_or(named_by[0]);
        Some(United { named_by, now_named_by })
    }

    /// Recomputes the components of the former component at `root` after edges of `graph` were
    /// removed: each new component gets its members, counts and primary from its nodes alone.
    /// `None` (nothing to split) if `root` stores no component, which no caller does: only a
    /// component of two or more nodes has edges to remove.
    pub(crate) fn split(&mut self, root: NodeId, graph: &Graph, nodes: &[Node]) -> Option<Former> {
        let Some(old) = self.comps.remove(&root) else {
            debug_assert!(false, "split of node {root}, which is on its own: it has no edges to remove");
            return None;
        };
        // `assign` counts the parts.
        self.uncount(old.attrs);
        let consistent = self.assign(&old.members, graph, nodes);
        debug_assert!(consistent, "the fold keeps one primary per component with customers");
        Some(Former { named_by: old.primary.unwrap_or(root), members: old.members })
    }

    /// The components of `nodes` as `graph` connects them (a restore: `graph` and `nodes` are
    /// checked against each other by the caller); `None` if a component with customers does not
    /// have exactly one primary, or one without customers is not a single device (only a damaged
    /// snapshot can cause that).
    pub(crate) fn rebuild(graph: &Graph, nodes: &[Node]) -> Option<Components> {
        let mut c =
            Components { parent: (0..nodes.len() as NodeId).collect(), comps: FastMap::default(), over_limit: 0 };
        let all: Vec<NodeId> = (0..nodes.len() as NodeId).collect();
        c.assign(&all, graph, nodes).then_some(c)
    }

    /// Builds the components of `members` (whose old components are gone) from the graph.
    /// Returns false if a component with customers does not have exactly one primary, or one
    /// without customers is not a single device.
    fn assign(&mut self, members: &[NodeId], graph: &Graph, nodes: &[Node]) -> bool {
        let mut consistent = true;
        for &m in members {
            self.parent[m as usize] = m;
            // None is stored there (a split took its component out first; a rebuild starts
            // empty); kept total anyway.
            if let Some(c) = self.comps.remove(&m) {
                self.uncount(c.attrs);
            }
        }
        let mut assigned: FastMap<NodeId, ()> = crate::hash::map_with_capacity(members.len());
        for &start in members {
            if assigned.contains_key(&start) {
                continue;
            }
            if graph.neighbors_undirected(NodeIndex::new(start as usize)).next().is_none() {
                // A node without edges is a component on its own, as reset above: a device, or a
                // customer that is its own primary (it has no merge edge). Most nodes are.
                self.over_limit += usize::from(over_limits(node_attrs(&nodes[start as usize])));
                continue;
            }
            let mut group = vec![start];
            assigned.insert(start, ());
            let mut i = 0;
            while i < group.len() {
                let n = NodeIndex::new(group[i] as usize);
                for next in graph.neighbors_undirected(n) {
                    let next = next.index() as NodeId;
                    if assigned.insert(next, ()).is_none() {
                        group.push(next);
                    }
                }
                i += 1;
            }
            let mut comp = Component { members: Vec::new(), devices: 0, customers: 0, primary: None, attrs: (0, 0) };
            let mut primaries = 0;
            for &m in &group {
                let node = &nodes[m as usize];
                let (keys, bytes) = node_attrs(node);
                comp.attrs = (comp.attrs.0 + keys, comp.attrs.1 + bytes);
                match node.kind() {
                    NodeKind::Device { .. } => comp.devices += 1,
                    NodeKind::Customer { .. } => {
                        comp.customers += 1;
                        if node.out().is_none() {
                            comp.primary = Some(m);
                            primaries += 1;
                        }
                    }
                }
            }
            if comp.customers > 0 && primaries != 1 || comp.customers == 0 && comp.devices != 1 {
                consistent = false;
            }
            self.over_limit += usize::from(over_limits(comp.attrs));
            for &m in &group {
                self.parent[m as usize] = start;
            }
            // A node on its own keeps no stored component (see `view`).
            if group.len() > 1 {
                comp.members = group;
                self.comps.insert(start, comp);
            }
        }
        consistent
    }
}

/// A node's attribute keys and attribute bytes.
pub(crate) fn node_attrs(node: &Node) -> (u64, u64) {
    (node.contents.attrs.len() as u64, node.contents.attr_bytes())
}

#[cold]
fn unreachable_component(root: NodeId) -> ! {
    // A root without a component would be a broken invariant of this module, not bad input:
    // no record can cause it.
    #[allow(clippy::panic)]
    {
        panic!("resolver invariant broken: union-find root {root} is not a node")
    }
}
