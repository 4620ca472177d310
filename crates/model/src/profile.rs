//! The materialised profile: what the fold produces and the store keeps (docs/SEMANTICS.md §4).
//!
//! Owns the data only. The fold (`idres-resolve`) computes profiles; the store (`idres-store`)
//! persists them through [`crate::codec::encode_profile_into`], without their history.

use std::collections::BTreeMap;

use uuid::Uuid;

use crate::id::{Cid, Uid};
use crate::record::Timestamp;
use crate::value::Value;

/// A customer profile or an anonymous one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ProfileKind {
    /// A component with at least one customer node.
    Customer,
    /// One device node linked to no customer.
    Anonymous,
}

impl ProfileKind {
    /// `"customer"` or `"anonymous"`.
    pub fn as_str(self) -> &'static str {
        match self {
            ProfileKind::Customer => "customer",
            ProfileKind::Anonymous => "anonymous",
        }
    }
}

/// One device node: a uid in one of its epochs.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct DeviceRef {
    /// The canonical uid.
    pub uid: Uid,
    /// The epoch (0, then one more per reset).
    pub epoch: u32,
}

/// A profile as it stands: the join of its nodes' contents (SEMANTICS §4).
#[derive(Debug, Clone, PartialEq)]
pub struct Profile {
    /// Deterministic id (SEMANTICS §5).
    pub id: Uuid,
    /// Customer or anonymous.
    pub kind: ProfileKind,
    /// The customer node without an outgoing merge edge; `None` for an anonymous profile.
    pub primary_cid: Option<Cid>,
    /// Primary first, then the merged ones sorted by bytes.
    pub cids: Vec<Cid>,
    /// The device nodes, sorted by (uid as text, epoch).
    pub uids: Vec<DeviceRef>,
    /// Attribute values (SEMANTICS §4: newest set/unset by (ts, LSN, slot), else the earliest
    /// set_once after it).
    pub attributes: BTreeMap<String, Value>,
    /// Number of events.
    pub event_count: u64,
    /// Events per name.
    pub events_by_name: BTreeMap<String, u64>,
    /// Earliest effective time of an event.
    pub first_seen: Option<Timestamp>,
    /// Latest effective time of an event.
    pub last_seen: Option<Timestamp>,
    /// LSNs of the profile's events, ascending.
    pub history: Vec<u64>,
}
