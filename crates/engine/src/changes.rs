//! What a subscriber is told: [`ChangeEvent`] and [`ProfileChange`], and how the fold's raw
//! change stream of one record ([`idres_resolve::Change`]) becomes them — at most one change per
//! profile per record, each with the record's LSN and the profile's primary cid and devices as
//! they stand after it.
//!
//! The rules (which kinds exist, which one wins when a record names a profile twice) are on
//! [`ProfileChange`], where a user reads them.
//!
//! This module runs on the writer thread, under the fold's write lock, once per record, and only
//! while someone is subscribed; its cost per profile change is one lookup by profile id and a
//! uid list capped at [`CHANGE_UIDS_MAX`] ([`idres_resolve::Resolver::profile_summary`]).

use idres_log::Lsn;
use idres_model::{Cid, DeviceRef};
use idres_resolve::{Change, ImplicitReset, Reason, Resolver};
use uuid::Uuid;

/// At most this many device uids are listed in a [`ProfileChange`]; the rest are counted in
/// [`ProfileChange::uids_more`]. A profile can hold up to `max_devices_per_profile` devices
/// (1 000 by default), and the list is built on the writer thread for every change: the cap keeps
/// a change of a large profile as cheap as that of a small one but for one pass over its members.
/// Read the profile ([`crate::Engine::profile_by_id`]) for the whole list.
pub const CHANGE_UIDS_MAX: usize = 32;

/// What happened to a profile in a [`ProfileChange`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ChangeKind {
    /// The profile is new: the record made its first node (a device's first record, a new cid).
    Created,
    /// The profile's contents changed: an event, attributes, a device or customer joined it.
    Changed,
    /// The profile was merged into `into` (a customer merge, a device linked to a customer): its
    /// id now redirects there. The survivor's own `Changed` is in the same record's changes.
    Retired {
        /// The survivor.
        into: Uuid,
    },
    /// An unmerge or unlink split profile `from`; this profile is one of the results (one of
    /// them may keep `from`'s id). Every result of the split has its own change.
    Split {
        /// The id of the profile that was split.
        from: Uuid,
    },
}

/// One profile's change from one record: what happened, and the profile's primary customer and
/// devices as they stand right after the record (read from the fold before the record's ticket
/// completes, so they never include a later record's doing).
///
/// The fold reports a record's changes as they happen, so one record can name a profile more
/// than once (an identify with attributes: `Changed` for the link, `Changed` for the attributes;
/// an event on a new device: `Created`, then `Changed`). A subscriber gets one [`ProfileChange`]
/// per profile a record touched, by these rules, applied in the fold's order:
///
/// - the kinds are [`ChangeKind::Created`], [`ChangeKind::Changed`], [`ChangeKind::Retired`]
///   and [`ChangeKind::Split`] (the profile is keyed by [`ProfileChange::profile`]; for a split,
///   that is the resulting profile);
/// - a later kind replaces an earlier one for the same profile, except that `Changed` never
///   replaces another kind: `Created` + `Changed` is `Created`; `Changed` + `Retired` is
///   `Retired`; `Created` + `Retired` (a new device linked to a customer by the identify that
///   created it) is `Retired`, since after the record the id only redirects to the survivor;
/// - the changes keep the order of each profile's first mention in the record;
/// - a record's implicit reset ([`ChangeEvent::ImplicitReset`]) comes before its profile
///   changes; a rejected record yields only [`ChangeEvent::Rejected`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProfileChange {
    /// The LSN of the record that made the change.
    pub lsn: Lsn,
    /// The profile's id (for [`ChangeKind::Retired`], the retired id).
    pub profile: Uuid,
    /// What happened to it.
    pub kind: ChangeKind,
    /// The primary customer of the profile that holds `profile` after the record (for a retired
    /// id, the survivor's): `None` for an anonymous profile.
    pub primary_cid: Option<Cid>,
    /// That profile's devices (uid and epoch) in [`crate::Profile::uids`]'s order (uid as text,
    /// then epoch), at most [`CHANGE_UIDS_MAX`] of them: the first ones of that order.
    pub uids: Vec<DeviceRef>,
    /// How many devices it has beyond those in `uids` (0: `uids` lists all of them).
    pub uids_more: usize,
}

/// What a [`crate::Subscription`] delivers, in LSN order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ChangeEvent {
    /// A profile changed (one per profile per record: see [`ProfileChange`]).
    Profile(ProfileChange),
    /// A login without logout moved a device to a new epoch (docs/SEMANTICS.md §3.3); the
    /// identify's own profile changes follow.
    ImplicitReset(ImplicitReset),
    /// A record was rejected: it changed nothing.
    Rejected {
        /// Its LSN.
        lsn: Lsn,
        /// Why.
        reason: Reason,
    },
    /// The subscription fell [`crate::SUBSCRIBER_CHANGES_MAX`] behind and `missed` changes were
    /// not delivered to it: the newest ones, from the moment its channel was full until it had
    /// room again. The changes before the marker and after it are delivered whole, in order; what
    /// the missed changes did is in the fold (read the profiles again).
    Lagged {
        /// How many changes were skipped since the previous marker.
        missed: u64,
    },
}

impl ChangeEvent {
    /// The LSN of the record the event is about (`None` for [`ChangeEvent::Lagged`]).
    pub fn lsn(&self) -> Option<Lsn> {
        match self {
            ChangeEvent::Profile(c) => Some(c.lsn),
            ChangeEvent::ImplicitReset(r) => Some(r.lsn),
            ChangeEvent::Rejected { lsn, .. } => Some(*lsn),
            ChangeEvent::Lagged { .. } => None,
        }
    }
}

/// Appends to `out` the events of the record at `lsn`, whose raw changes (as the fold drained
/// them, in order) are `changes`; `r` is the fold right after the record.
pub(crate) fn events_of_record(r: &Resolver, lsn: Lsn, changes: &[Change], out: &mut Vec<ChangeEvent>) {
    // A record names few profiles (at most a handful): a linear search beats a map.
    let mut kinds: Vec<(Uuid, ChangeKind)> = Vec::new();
    let mut note = |profile: Uuid, kind: ChangeKind| match kinds.iter_mut().find(|(p, _)| *p == profile) {
        Some((_, k)) => {
            if kind != ChangeKind::Changed {
                *k = kind;
            }
        }
        None => kinds.push((profile, kind)),
    };
    for c in changes {
        match *c {
            Change::Created { profile } => note(profile, ChangeKind::Created),
            Change::Changed { profile } => note(profile, ChangeKind::Changed),
            Change::Retired { profile, into } => note(profile, ChangeKind::Retired { into }),
            Change::Split { from, into } => note(into, ChangeKind::Split { from }),
            Change::ImplicitReset { lsn: at } => {
                // The fold keeps every implicit reset; this record's is its newest.
                let reset = r.implicit_resets().iter().rev().find(|i| i.lsn == at);
                debug_assert!(reset.is_some(), "an implicit reset the fold did not keep");
                if let Some(reset) = reset {
                    out.push(ChangeEvent::ImplicitReset(reset.clone()));
                }
            }
            Change::Rejected { lsn: at, reason } => out.push(ChangeEvent::Rejected { lsn: at, reason }),
        }
    }
    for (profile, kind) in kinds {
        let summary = r.profile_summary(profile, CHANGE_UIDS_MAX);
        debug_assert!(summary.is_some(), "a changed profile id the fold does not know");
        let (primary_cid, uids, uids_more) =
            summary.map_or((None, Vec::new(), 0), |s| (s.primary_cid, s.uids, s.uids_more));
        out.push(ChangeEvent::Profile(ProfileChange { lsn, profile, kind, primary_cid, uids, uids_more }));
    }
}
