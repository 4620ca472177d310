//! The index of profile ids: profile id -> the node whose own id it is, for
//! [`crate::Resolver::profile_by_id`], built lazily and extended as nodes are added.

use std::hash::BuildHasher;
use std::sync::{Mutex, MutexGuard, PoisonError};

use uuid::Uuid;

use crate::hash::FastMap;
use crate::node::NodeId;

/// Profile id -> the node that names it, for [`crate::Resolver::profile_by_id`]. Built on the first
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

    /// The node whose own id is `id`, indexing first the nodes below `nodes` not indexed yet
    /// (`own_id`: a node's own profile id).
    pub(crate) fn get(&self, nodes: usize, own_id: impl Fn(NodeId) -> Uuid, id: Uuid) -> Option<NodeId> {
        let mut guard = self.lock();
        let (map, upto) = &mut *guard;
        Self::extend_to(map, upto, nodes, own_id);
        map.get(&id).copied()
    }

    fn extend_to(map: &mut FastMap<Uuid, NodeId>, upto: &mut usize, nodes: usize, own_id: impl Fn(NodeId) -> Uuid) {
        let new = nodes.saturating_sub(*upto);
        map.reserve(new);
        if new <= 1024 {
            for n in *upto..nodes {
                map.insert(own_id(n as NodeId), n as NodeId);
            }
        } else {
            // Many at once (an open, a first lookup): insert in the order of the buckets the
            // ids land in, so the table is written front to back rather than at a cache miss per
            // id (the bucket count assumed is hashbrown's; were it another, only slower).
            let mask = ((map.capacity().saturating_mul(8) / 7).max(1).next_power_of_two() - 1) as u64;
            let hasher = *map.hasher();
            let mut ids: Vec<(u64, Uuid, NodeId)> = (*upto..nodes)
                .map(|n| {
                    let id = own_id(n as NodeId);
                    (hasher.hash_one(id) & mask, id, n as NodeId)
                })
                .collect();
            ids.sort_unstable_by_key(|&(bucket, _, n)| (bucket, n));
            for (_, id, n) in ids {
                map.insert(id, n);
            }
        }
        *upto = nodes;
    }

    /// Indexes every node below `nodes` now.
    pub(crate) fn build(&mut self, nodes: usize, own_id: impl Fn(NodeId) -> Uuid) {
        let (map, upto) = self.inner.get_mut().unwrap_or_else(PoisonError::into_inner);
        Self::extend_to(map, upto, nodes, own_id);
    }

    /// Indexes the new node `n` (own id `id`) if the index is complete up to it; a partial index
    /// picks it up at its next lookup.
    pub(crate) fn note(&mut self, n: NodeId, id: Uuid) {
        let (map, upto) = self.inner.get_mut().unwrap_or_else(PoisonError::into_inner);
        if *upto == n as usize {
            map.insert(id, n);
            *upto += 1;
        }
    }
}
