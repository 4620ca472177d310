//! What the persisted read model holds, node by node: [`StoreRow`]s, read from the fold without
//! changing it, for the engine's store writes.
//!
//! Every node has an own profile id (the id of the profile it formed when it was created). The
//! read model keeps, per node: its index key (a CID, a device node) pointing to the profile that
//! held it when the key was written; its own id, either a stored profile (the node names its
//! profile) or a redirect to the profile holding it; and the profile itself, materialised without
//! its history (the store keeps none). A rebuild reads every row ([`Resolver::store_members_all`]); a
//! flush reads the rows of the ids its changes name ([`Resolver::store_row`]) and, after a split,
//! every member of the profiles it produced ([`Resolver::store_members`]).

use idres_model::ProfileRef;
use uuid::Uuid;

use crate::node::NodeId;
use crate::outcome::{NodeRef, Profile};
use crate::resolver::Resolver;

/// One node as the persisted read model holds it.
#[derive(Debug, Clone, PartialEq)]
pub struct StoreRow {
    /// The node (its index key).
    pub node: NodeRef,
    /// The node's own profile id: the profile it formed when created, and names while it names
    /// its profile.
    pub own_id: Uuid,
    /// The id of the profile that holds the node now.
    pub holder: Uuid,
    /// The profile `holder`, without its history: only where the node names it
    /// (`own_id == holder`) and it was asked for.
    pub profile: Option<Profile>,
}

impl StoreRow {
    /// True if the node names its profile (its own id is a profile, not a redirect).
    pub fn names_its_profile(&self) -> bool {
        self.own_id == self.holder
    }
}

impl Resolver {
    fn store_row_of(&self, n: NodeId, with_profile: bool) -> StoreRow {
        let root = self.find_ro(n);
        let own_id = self.own_id(n);
        // A profile id is a hash: computed once where the node names its own profile.
        let naming = self.components.naming_node(root);
        let holder = if naming == n { own_id } else { self.own_id(naming) };
        let profile = (with_profile && own_id == holder).then(|| self.materialise_with(root, false));
        StoreRow { node: self.node_ref(n), own_id, holder, profile }
    }

    /// How many nodes the fold has.
    pub fn node_total(&self) -> usize {
        self.nodes.len()
    }

    /// The row of the node whose own profile id is `id` (`None`: no node has it), the profile
    /// materialised if `with_profile` and the node names it. A retired id costs a lookup, not a
    /// materialisation.
    pub fn store_row(&self, id: Uuid, with_profile: bool) -> Option<StoreRow> {
        let n = self.profile_index.get(self.nodes.len(), |n| self.own_id(n), id)?;
        Some(self.store_row_of(n, with_profile))
    }

    /// The rows of every member of the profile that holds the node of own id `id`, in member
    /// order, without profiles (empty if no node has that id).
    pub fn store_members(&self, id: Uuid) -> Vec<StoreRow> {
        let Some(n) = self.profile_index.get(self.nodes.len(), |n| self.own_id(n), id) else {
            return Vec::new();
        };
        let root = self.find_ro(n);
        self.comp(root).members.iter().map(|&m| self.store_row_of(m, false)).collect()
    }

    /// The row of every node, in node order, without profiles: with [`Resolver::store_profile`]
    /// (or [`Resolver::store_row`]) for the profiles, the whole read model.
    pub fn store_members_all(&self) -> impl Iterator<Item = StoreRow> + '_ {
        (0..self.nodes.len()).map(|n| self.store_row_of(n as NodeId, false))
    }

    /// The stored fields of the profile named by the node at `position` in
    /// [`Resolver::store_members_all`]'s order, borrowed from the fold; `None` if that node does
    /// not name its profile (or there is no such node). What a rebuild encodes: no lookup by id,
    /// no value copied.
    pub fn store_profile(&self, position: usize) -> Option<ProfileRef<'_>> {
        if position >= self.nodes.len() {
            return None;
        }
        let n = position as NodeId;
        let root = self.find_ro(n);
        (self.components.naming_node(root) == n).then(|| self.materialise_ref(root, false).0)
    }
}
