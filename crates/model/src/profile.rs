//! The materialised profile: what the fold produces and the store keeps (docs/SEMANTICS.md §4).
//!
//! Owns the data only: [`Profile`], and [`ProfileRef`], the same fields borrowed from where they
//! are kept (the fold writes a rebuild's profiles from it without copying their values). The
//! fold (`idres-resolve`) computes profiles; the store (`idres-store`) persists them through
//! [`crate::codec::encode_profile_into`] or [`crate::codec::encode_profile_ref_into`] (one
//! encoder: a [`Profile`] is encoded as its [`Profile::borrowed`]), without their history.

use std::collections::BTreeMap;

use uuid::Uuid;

use crate::id::{Cid, Uid, UidView};
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

/// A profile's sessions summarised (docs/SEMANTICS.md, "Sessions"): the full list is
/// `Resolver::sessions_of` / `Engine::sessions`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SessionsSummary {
    /// Number of sessions (explicit ones held by several devices count once).
    pub count: u64,
    /// Start of the earliest session.
    pub first_start: Option<Timestamp>,
    /// Start of the latest session.
    pub last_start: Option<Timestamp>,
    /// Median length (end − start) in µs; for an even count the lower of the two middle ones.
    pub median_micros: Option<u64>,
}

/// One device of a profile with what the fold keeps of it alone: when it was seen, its event
/// count and its system attributes (docs/SEMANTICS.md, "System and custom data").
#[derive(Debug, Clone, Default, PartialEq)]
pub struct DeviceInfo {
    /// Earliest effective time of the device's events.
    pub first_seen: Option<Timestamp>,
    /// Latest effective time of the device's events.
    pub last_seen: Option<Timestamp>,
    /// Number of the device's events.
    pub event_count: u64,
    /// The device's system attributes (model, OS, app version, …).
    pub system_attributes: BTreeMap<String, Value>,
}

/// As [`DeviceInfo`], its attributes borrowed.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct DeviceInfoRef<'a> {
    /// As [`DeviceInfo::first_seen`].
    pub first_seen: Option<Timestamp>,
    /// As [`DeviceInfo::last_seen`].
    pub last_seen: Option<Timestamp>,
    /// As [`DeviceInfo::event_count`].
    pub event_count: u64,
    /// As [`DeviceInfo::system_attributes`], strictly ascending by key.
    pub system_attributes: Vec<(&'a str, &'a Value)>,
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
    /// How many of `event_count` are system events.
    pub system_event_count: u64,
    /// The profile's sessions, summarised.
    pub sessions: SessionsSummary,
    /// Per device, in the order of `uids` (one entry each): what the fold keeps of it alone.
    pub devices: Vec<DeviceInfo>,
}

/// A profile's stored fields borrowed from where they are kept: what a [`Profile`] holds but its
/// history, in the same orders. The encoder checks the orders it relies on (attributes and event
/// names strictly ascending), so a `ProfileRef` encodes exactly as the equal [`Profile`] does.
#[derive(Debug, Clone, PartialEq)]
pub struct ProfileRef<'a> {
    /// As [`Profile::id`].
    pub id: Uuid,
    /// As [`Profile::kind`].
    pub kind: ProfileKind,
    /// As [`Profile::primary_cid`].
    pub primary_cid: Option<&'a Cid>,
    /// As [`Profile::cids`]: primary first, then the merged ones sorted by bytes.
    pub cids: Vec<&'a Cid>,
    /// As [`Profile::uids`]: (uid, epoch), sorted by (uid as text, epoch).
    pub uids: Vec<(UidView<'a>, u32)>,
    /// As [`Profile::attributes`], strictly ascending by key.
    pub attributes: Vec<(&'a str, &'a Value)>,
    /// As [`Profile::event_count`].
    pub event_count: u64,
    /// As [`Profile::events_by_name`], strictly ascending by name.
    pub events_by_name: Vec<(&'a str, u64)>,
    /// As [`Profile::first_seen`].
    pub first_seen: Option<Timestamp>,
    /// As [`Profile::last_seen`].
    pub last_seen: Option<Timestamp>,
    /// As [`Profile::system_event_count`].
    pub system_event_count: u64,
    /// As [`Profile::sessions`].
    pub sessions: SessionsSummary,
    /// As [`Profile::devices`], in the order of `uids`.
    pub devices: Vec<DeviceInfoRef<'a>>,
}

impl DeviceInfo {
    /// Borrowed.
    pub fn borrowed(&self) -> DeviceInfoRef<'_> {
        DeviceInfoRef {
            first_seen: self.first_seen,
            last_seen: self.last_seen,
            event_count: self.event_count,
            system_attributes: self.system_attributes.iter().map(|(k, v)| (k.as_str(), v)).collect(),
        }
    }
}

impl DeviceInfoRef<'_> {
    /// Owned.
    pub fn to_owned_info(&self) -> DeviceInfo {
        DeviceInfo {
            first_seen: self.first_seen,
            last_seen: self.last_seen,
            event_count: self.event_count,
            system_attributes: self.system_attributes.iter().map(|&(k, v)| (k.to_owned(), v.clone())).collect(),
        }
    }
}

impl Profile {
    /// The profile's stored fields, borrowed.
    pub fn borrowed(&self) -> ProfileRef<'_> {
        ProfileRef {
            id: self.id,
            kind: self.kind,
            primary_cid: self.primary_cid.as_ref(),
            cids: self.cids.iter().collect(),
            uids: self.uids.iter().map(|d| (d.uid.view(), d.epoch)).collect(),
            attributes: self.attributes.iter().map(|(k, v)| (k.as_str(), v)).collect(),
            event_count: self.event_count,
            events_by_name: self.events_by_name.iter().map(|(n, c)| (n.as_str(), *c)).collect(),
            first_seen: self.first_seen,
            last_seen: self.last_seen,
            system_event_count: self.system_event_count,
            sessions: self.sessions,
            devices: self.devices.iter().map(DeviceInfo::borrowed).collect(),
        }
    }
}

impl ProfileRef<'_> {
    /// The owned profile, with `history`.
    pub fn to_profile(&self, history: Vec<u64>) -> Profile {
        Profile {
            id: self.id,
            kind: self.kind,
            primary_cid: self.primary_cid.cloned(),
            cids: self.cids.iter().map(|&c| c.clone()).collect(),
            uids: self.uids.iter().map(|&(uid, epoch)| DeviceRef { uid: uid.to_uid(), epoch }).collect(),
            attributes: self.attributes.iter().map(|&(k, v)| (k.to_owned(), v.clone())).collect(),
            event_count: self.event_count,
            events_by_name: self.events_by_name.iter().map(|&(n, c)| (n.to_owned(), c)).collect(),
            first_seen: self.first_seen,
            last_seen: self.last_seen,
            history,
            system_event_count: self.system_event_count,
            sessions: self.sessions,
            devices: self.devices.iter().map(DeviceInfoRef::to_owned_info).collect(),
        }
    }
}
