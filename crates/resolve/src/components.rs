//! The union-find over the nodes and the components it keeps at its roots: uniting two
//! components, splitting one after edges were removed, and rebuilding all of them from the graph
//! (a restore).
//!
//! Union-find by path halving and union by size. A root holds the component of two or more nodes
//! (members, device and customer counts, primary customer) in a map by root; a node on its own,
//! most devices, stores none and its component is read off the node. Its fields are private: the
//! fold changes them only through these methods, and a restore only through
//! [`Components::rebuild`], which checks what it builds.
//!
//! Invariants kept here: there is one entry in `parent` per node; `parent[r] == r` exactly for
//! the roots; a stored component is at a root, has two or more members (every node whose root it
//! is), and its counts and primary are those of its members; a node on its own has none stored.

use petgraph::stable_graph::NodeIndex;

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
}

/// A component as read: stored at its root, or (for a node on its own) read off the node.
#[derive(Debug, Clone, Copy)]
pub(crate) struct CompView<'a> {
    pub(crate) members: &'a [NodeId],
    pub(crate) devices: u32,
    pub(crate) customers: u32,
    pub(crate) primary: Option<NodeId>,
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
            return CompView { members: &c.members, devices: c.devices, customers: c.customers, primary: c.primary };
        }
        let Some(node) = nodes.get(root as usize) else { unreachable_component(root) };
        let is_customer = matches!(node.kind(), NodeKind::Customer { .. });
        CompView {
            // `parent[root] == root`: a one-element slice of the root's own id.
            members: std::slice::from_ref(&self.parent[root as usize]),
            devices: u32::from(!is_customer),
            customers: u32::from(is_customer),
            primary: is_customer.then_some(root),
        }
    }

    /// The node whose own id names the profile at root `root`: its primary customer, or the
    /// node itself (an anonymous profile is one device node).
    pub(crate) fn naming_node(&self, root: NodeId) -> NodeId {
        match self.comps.get(&root) {
            Some(c) => c.primary.unwrap_or(root),
            None => root,
        }
    }

    /// The component at root `n` as an owned value, taken out of `comps` (a singleton's is
    /// built from its node).
    fn take(&mut self, n: NodeId, nodes: &[Node]) -> Component {
        if let Some(c) = self.comps.remove(&n) {
            return c;
        }
        let v = self.view(n, nodes);
        Component { members: v.members.to_vec(), devices: v.devices, customers: v.customers, primary: v.primary }
    }

    /// Unites two components (roots `a` and `b`, which differ); the result's primary is
    /// `primary`. `None` (and nothing changed) if `a == b`, which no caller does.
    pub(crate) fn union(&mut self, a: NodeId, b: NodeId, primary: Option<NodeId>, nodes: &[Node]) -> Option<United> {
        debug_assert!(self.is_root(a) && self.is_root(b), "union of two roots");
        if a == b {
            debug_assert!(false, "union of component {a} with itself: callers unite two components");
            return None;
        }
        let (ca, cb) = (self.take(a, nodes), self.take(b, nodes));
        let (root, mut big, small, other) =
            if ca.members.len() >= cb.members.len() { (a, ca, cb, b) } else { (b, cb, ca, a) };
        self.parent[other as usize] = root;
        let named_by = [big.primary.unwrap_or(root), small.primary.unwrap_or(other)];
        big.members.extend_from_slice(&small.members);
        big.devices += small.devices;
        big.customers += small.customers;
        big.primary = primary;
        let now_named_by = primary.unwrap_or(named_by[0]);
        self.comps.insert(root, big);
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
        let consistent = self.assign(&old.members, graph, nodes);
        debug_assert!(consistent, "the fold keeps one primary per component with customers");
        Some(Former { named_by: old.primary.unwrap_or(root), members: old.members })
    }

    /// The components of `nodes` as `graph` connects them (a restore: `graph` and `nodes` are
    /// checked against each other by the caller); `None` if a component with customers does not
    /// have exactly one primary, or one without customers is not a single device (only a damaged
    /// snapshot can cause that).
    pub(crate) fn rebuild(graph: &Graph, nodes: &[Node]) -> Option<Components> {
        let mut c = Components { parent: (0..nodes.len() as NodeId).collect(), comps: FastMap::default() };
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
            self.comps.remove(&m);
        }
        let mut assigned: FastMap<NodeId, ()> = crate::hash::map_with_capacity(members.len());
        for &start in members {
            if assigned.contains_key(&start) {
                continue;
            }
            if graph.neighbors_undirected(NodeIndex::new(start as usize)).next().is_none() {
                // A node without edges is a component on its own, as reset above: a device, or a
                // customer that is its own primary (it has no merge edge). Most nodes are.
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
            let mut comp = Component { members: Vec::new(), devices: 0, customers: 0, primary: None };
            let mut primaries = 0;
            for &m in &group {
                let node = &nodes[m as usize];
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

#[cold]
fn unreachable_component(root: NodeId) -> ! {
    // A root without a component would be a broken invariant of this module, not bad input:
    // no record can cause it.
    #[allow(clippy::panic)]
    {
        panic!("resolver invariant broken: union-find root {root} is not a node")
    }
}
