//! What the fold reports besides profiles: why a record was rejected ([`Reason`], [`Rejection`]),
//! implicit resets, the change stream ([`Change`]), and explanations with the graph's nodes and
//! edges they name ([`Explanation`], [`NodeRef`], [`EdgeKind`], [`PathStep`]). Profiles themselves
//! are `idres_model`'s types, re-exported here; their ids are in `profile_id.rs`.

use std::fmt;

use idres_model::{Cid, RecordKind, Timestamp, Uid};
pub use idres_model::{DeviceRef, Profile, ProfileKind};
use uuid::Uuid;

use crate::Lsn;

/// Why the fold rejected a record (SEMANTICS §3). A rejected record changes nothing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Reason {
    /// A malformed uid or cid (SEMANTICS §6).
    InvalidId,
    /// A uid or cid on the blocked list.
    BlockedValue,
    /// An identify whose uid and cid are the same string.
    SelfLink,
    /// A login without logout under `on_cid_conflict = reject`.
    CidConflict,
    /// A merge, unmerge or unlink naming a cid that does not exist.
    UnknownCid,
    /// A link or merge that would exceed a profile size limit.
    Limit,
    /// A record whose shape breaks a rule of the edge (an event name over 128 bytes, an empty
    /// attribute key, …): only possible in a log written by something other than idres's edge.
    InvalidRecord,
    /// A record whose message id was accepted within the dedupe window (docs/SEMANTICS.md,
    /// "Duplicates"): a resend.
    Duplicate,
}

impl Reason {
    /// The reason as the CLI and the docs spell it.
    pub fn as_str(self) -> &'static str {
        match self {
            Reason::InvalidId => "invalid_id",
            Reason::BlockedValue => "blocked_value",
            Reason::SelfLink => "self_link",
            Reason::CidConflict => "cid_conflict",
            Reason::UnknownCid => "unknown_cid",
            Reason::Limit => "limit",
            Reason::InvalidRecord => "invalid_record",
            Reason::Duplicate => "duplicate",
        }
    }
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A rejected record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rejection {
    /// Its LSN.
    pub lsn: Lsn,
    /// Its kind.
    pub kind: RecordKind,
    /// Why.
    pub reason: Reason,
    /// Which id or rule, in words (e.g. `cid "null" is blocked`).
    pub detail: String,
    /// The uid the record named, as text (canonical when valid), for explain.
    pub uid: Option<String>,
    /// The cids the record named, as text.
    pub cids: Vec<String>,
}

/// How many rejections the fold keeps in full: the newest this many. A log can hold any number of
/// rejected records (an SDK that sends a placeholder id on every call rejects millions), and the
/// kept ones live in memory, in every snapshot and in the digest, and explain scans them; so the
/// older ones are forgotten, counted by reason ([`ForgottenRejections`]). 100 000 rejections are
/// about 10–30 MB in memory with ids of usual length (a rejection keeps the ids it named in full,
/// so that explain can find it), a few seconds of an operator's reading, and far more than a
/// healthy log makes between two looks at `idres rejects`. Part of the fold's rules: which
/// rejections are kept depends only on the log (docs/SEMANTICS.md, "Rejections kept").
pub const REJECTIONS_KEPT_MAX: usize = 100_000;

/// The rejections the fold no longer keeps (older than the newest [`REJECTIONS_KEPT_MAX`]):
/// counted by reason, with the LSN of the newest of them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ForgottenRejections {
    /// By reason code (`snapshot::REASON_CODES` order).
    pub(crate) counts: [u64; REASON_COUNT],
    pub(crate) newest_lsn: Option<Lsn>,
}

/// The number of [`Reason`]s.
pub(crate) const REASON_COUNT: usize = 8;

impl ForgottenRejections {
    /// How many rejections were forgotten (0: none).
    pub fn count(&self) -> u64 {
        self.counts.iter().fold(0u64, |a, &c| a.saturating_add(c))
    }

    /// True if none was forgotten.
    pub fn is_empty(&self) -> bool {
        self.newest_lsn.is_none()
    }

    /// The LSN of the newest forgotten rejection: every rejection at or before it is forgotten,
    /// every later one is kept.
    pub fn newest_lsn(&self) -> Option<Lsn> {
        self.newest_lsn
    }

    /// How many were forgotten, by reason: the reasons with a count, in code order.
    pub fn by_reason(&self) -> Vec<(Reason, u64)> {
        crate::snapshot::REASON_CODES.iter().zip(self.counts).filter(|(_, c)| *c > 0).map(|(r, c)| (*r, c)).collect()
    }

    pub(crate) fn note(&mut self, r: &Rejection) {
        let i = crate::snapshot::reason_code(r.reason) as usize;
        if let Some(c) = self.counts.get_mut(i) {
            *c = c.saturating_add(1);
        }
        self.newest_lsn = Some(r.lsn);
    }
}

/// A login without logout that moved a device to a new epoch (SEMANTICS §3.3).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImplicitReset {
    /// LSN of the identify.
    pub lsn: Lsn,
    /// The device.
    pub uid: Uid,
    /// The epoch that stays with `previous_cid`.
    pub from_epoch: u32,
    /// The new epoch, linked to `cid`.
    pub to_epoch: u32,
    /// The customer the old epoch was linked to.
    pub previous_cid: Cid,
    /// The customer of the identify.
    pub cid: Cid,
}

/// A node of the identity graph, by what names it.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum NodeRef {
    /// A device node.
    Device(DeviceRef),
    /// A customer node.
    Customer(Cid),
}

impl fmt::Display for NodeRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            NodeRef::Device(d) => write!(f, "uid:{}#{}", d.uid, d.epoch),
            NodeRef::Customer(c) => write!(f, "cid:{c}"),
        }
    }
}

/// The kind of an edge of the identity graph.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum EdgeKind {
    /// Device node -> customer node, made by an identify.
    Link,
    /// Customer node -> customer node, made by a merge.
    Merge,
}

impl EdgeKind {
    /// `"link"` or `"merge"`.
    pub fn as_str(self) -> &'static str {
        match self {
            EdgeKind::Link => "link",
            EdgeKind::Merge => "merge",
        }
    }
}

/// One edge on the way from a node to its profile's primary customer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PathStep {
    /// Where the edge starts.
    pub from: NodeRef,
    /// Where it ends.
    pub to: NodeRef,
    /// Link or merge.
    pub kind: EdgeKind,
    /// LSN of the record that made it.
    pub lsn: Lsn,
    /// Effective time of that record.
    pub time: Timestamp,
    /// The rule that made it, in words.
    pub rule: &'static str,
    /// The kind of the record that made it: [`RecordKind::Identify`] for a link,
    /// [`RecordKind::Merge`] for a merge (the only records that make edges, SEMANTICS §3).
    pub record: RecordKind,
}

/// One epoch of a device, as an explanation of a uid lists them: its device node and the profile
/// holding it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EpochProfile {
    /// The epoch.
    pub epoch: u32,
    /// The id of the profile holding that epoch's device node.
    pub profile_id: Uuid,
    /// True for the uid's current epoch (the one later records land in).
    pub current: bool,
}

/// Why an id is in the profile it is in (SEMANTICS §7).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Explanation {
    /// The node explained: a uid's current epoch, or a cid. `None` if the id has no node (all its
    /// records were rejected, or a reset's new epoch has seen nothing yet).
    pub node: Option<NodeRef>,
    /// The profile the node is in.
    pub profile_id: Option<Uuid>,
    /// The edges from the node to the profile's primary customer, in order.
    pub path: Vec<PathStep>,
    /// Implicit resets that involved the id.
    pub implicit_resets: Vec<ImplicitReset>,
    /// Rejected records that named the id, of those the fold keeps.
    pub rejections: Vec<Rejection>,
    /// The rejections the fold no longer keeps ([`REJECTIONS_KEPT_MAX`]); which ids they named
    /// is not known, so any of them may have named this id. Empty when none was forgotten.
    pub rejections_forgotten: ForgottenRejections,
    /// For a uid: every epoch of it that has a device node, ascending, with the profile holding
    /// each (the explained one among them). Empty for a cid.
    pub epochs: Vec<EpochProfile>,
}

/// What a record changed, for subscribers and the store. [`crate::Resolver::drain_changes`]
/// hands them out in the order they happened; a record's changes follow its own order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Change {
    /// A new profile exists (a new node, on its own).
    Created {
        /// Its id.
        profile: Uuid,
    },
    /// A profile's contents changed (an event, attributes, a member joined).
    Changed {
        /// Its id.
        profile: Uuid,
    },
    /// A profile was merged into another (a customer merge, or a device linked to a customer);
    /// its id now redirects to the survivor.
    Retired {
        /// The retired id.
        profile: Uuid,
        /// The survivor.
        into: Uuid,
    },
    /// An unmerge or unlink split a profile: one entry per resulting profile (one of them may keep
    /// the old id).
    Split {
        /// The id of the profile that was split.
        from: Uuid,
        /// One of the resulting profiles.
        into: Uuid,
    },
    /// A login without logout moved a device to a new epoch ([`crate::Resolver::implicit_resets`]).
    ImplicitReset {
        /// LSN of the identify.
        lsn: Lsn,
    },
    /// A record was rejected ([`crate::Resolver::rejections`]).
    Rejected {
        /// Its LSN.
        lsn: Lsn,
        /// Why.
        reason: Reason,
    },
}
