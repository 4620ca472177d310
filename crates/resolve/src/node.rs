//! The fold's nodes: dense `u32` node ids, what a node is (a device epoch or a customer), its
//! packed 32-byte form with its contents and outgoing edge, the identity graph's edge weights,
//! and the cid table's entries.

use idres_model::Cid;
use petgraph::stable_graph::{EdgeIndex, StableDiGraph};

use crate::contents::Contents;
use crate::outcome::EdgeKind;
use crate::Lsn;

/// A node's number: nodes are numbered densely from 0 in order of creation, and node `i` is
/// graph node `i`.
pub(crate) type NodeId = u32;

/// The identity graph: graph node `i` is node `i` (so its weight is nothing: 12 bytes a node, not
/// 16); its edges are links and merges.
pub(crate) type Graph = StableDiGraph<(), EdgeInfo, u32>;

/// An edge of the identity graph and the record that made it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct EdgeInfo {
    pub kind: EdgeKind,
    pub lsn: Lsn,
    /// Effective time of the record.
    pub ts: i64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum NodeKind {
    Device { uid: u32, epoch: u32 },
    Customer { cid: u32 },
}

/// A node: its kind packed in two words, its contents and its outgoing edge. 32 bytes; there
/// is one per device epoch and per customer.
#[derive(Debug, Clone)]
pub(crate) struct Node {
    /// A device: `(uid, epoch)`; a customer: `(CUSTOMER, cid)` (no uid number reaches it: a uid
    /// table of four billion uids would not fit in memory first).
    kind: (u32, u32),
    /// Its outgoing edge, at most one: a device's link edge, or a customer's merge edge (only a
    /// customer merged into another has one); `NO_EDGE` for none.
    out: u32,
    /// Its sessions: 0 for none, else the index + 1 of its entry in the resolver's
    /// `sessions` (in the 4 bytes the struct would pad anyway).
    pub(crate) sessions: u32,
    /// Its attribute writes and events (with their LSNs: the node's history).
    pub(crate) contents: Contents,
}

const CUSTOMER: u32 = u32::MAX;
// The size the docs quote (docs/ARCHITECTURE.md, docs/PERFORMANCE.md).
#[cfg(target_pointer_width = "64")]
const _: () = assert!(std::mem::size_of::<Node>() == 32);
const NO_EDGE: u32 = u32::MAX;

impl Node {
    pub(crate) fn new(kind: NodeKind, contents: Contents) -> Node {
        let kind = match kind {
            NodeKind::Device { uid, epoch } => (uid, epoch),
            NodeKind::Customer { cid } => (CUSTOMER, cid),
        };
        Node { kind, out: NO_EDGE, sessions: 0, contents }
    }

    pub(crate) fn kind(&self) -> NodeKind {
        match self.kind {
            (CUSTOMER, cid) => NodeKind::Customer { cid },
            (uid, epoch) => NodeKind::Device { uid, epoch },
        }
    }

    pub(crate) fn out(&self) -> Option<EdgeIndex> {
        (self.out != NO_EDGE).then(|| EdgeIndex::new(self.out as usize))
    }

    /// Sets the outgoing edge (petgraph's `u32` edge indexes stop below `NO_EDGE`: it is their
    /// own "no edge" value).
    pub(crate) fn set_out(&mut self, e: Option<EdgeIndex>) {
        self.out = e.map_or(NO_EDGE, |e| e.index() as u32);
    }
}

#[derive(Debug, Clone)]
pub(crate) struct CidEntry {
    pub(crate) cid: Cid,
    pub(crate) node: NodeId,
}
