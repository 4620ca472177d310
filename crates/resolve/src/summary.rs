//! A profile's heads, read cheaply for the change stream: [`ProfileSummary`] (the primary cid and
//! the first device uids, capped) by profile id, without materialising the profile's contents.
//!
//! The engine reads one per change it tells subscribers of, on the writer thread while it holds
//! the fold, so the work is bounded: the primary cid is one lookup, and the uid list is the
//! profile's devices in [`Profile::uids`]'s order (uid as text, then epoch), cut at the caller's
//! cap; a profile with more devices costs one pass over its members (no copy of a uid it does
//! not list), never a sort of all of them.
//!
//! [`Profile::uids`]: crate::Profile::uids

use std::cmp::Ordering;

use idres_model::{Cid, DeviceRef, UidView};
use uuid::Uuid;

use crate::node::NodeKind;
use crate::resolver::Resolver;

/// A profile's primary customer and devices as they stand, the device list capped: see
/// [`Resolver::profile_summary`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProfileSummary {
    /// The id of the profile that holds the id asked for now (the survivor, for a retired id).
    pub id: Uuid,
    /// The profile's primary customer (`None`: an anonymous profile), as [`crate::Profile::primary_cid`].
    pub primary_cid: Option<Cid>,
    /// The first of the profile's devices in [`crate::Profile::uids`]'s order (uid as text,
    /// then epoch), at most the cap asked for.
    pub uids: Vec<DeviceRef>,
    /// How many devices the profile has beyond those in `uids` (0: `uids` is all of them).
    pub uids_more: usize,
}

/// A device's uid as the text [`crate::Profile::uids`] sorts by, without allocating for the
/// valid uids the fold holds (a UUID's 36 characters on the stack, a text uid's own bytes).
enum TextKey<'a> {
    Uuid([u8; 36]),
    Text(&'a [u8]),
    /// A text uid that is not UTF-8 (a node never holds one; kept exact all the same).
    Lossy(String),
}

impl<'a> TextKey<'a> {
    fn of(view: UidView<'a>) -> TextKey<'a> {
        match view {
            UidView::Uuid(bytes) => {
                let mut buf = [0u8; 36];
                Uuid::from_bytes(bytes).hyphenated().encode_lower(&mut buf);
                TextKey::Uuid(buf)
            }
            UidView::Text(bytes) => match std::str::from_utf8(bytes) {
                Ok(_) => TextKey::Text(bytes),
                Err(_) => TextKey::Lossy(String::from_utf8_lossy(bytes).into_owned()),
            },
        }
    }

    fn bytes(&self) -> &[u8] {
        match self {
            TextKey::Uuid(buf) => buf,
            TextKey::Text(bytes) => bytes,
            TextKey::Lossy(s) => s.as_bytes(),
        }
    }
}

impl Resolver {
    /// The primary cid and at most `uids_max` device uids of the profile that holds id `id` (a
    /// current or a retired profile id: a retired one reads its survivor), `None` if no profile
    /// ever had that id. The uids are the first `uids_max` of [`crate::Profile::uids`] (the same
    /// order), and `uids_more` counts the rest: with a cap at least the profile's device count,
    /// `uids` equals the materialised profile's. The cost is one lookup by id plus, for the uid
    /// list, one pass over the profile's members and a sort of at most `uids_max` entries; no
    /// attribute, event or history is read.
    pub fn profile_summary(&self, id: Uuid, uids_max: usize) -> Option<ProfileSummary> {
        let node = self.profile_index.get(self.nodes.len(), |n| self.own_id(n), id)?;
        let root = self.find_ro(node);
        let comp = self.comp(root);
        let primary_cid = comp.primary.and_then(|p| match self.nodes[p as usize].kind() {
            NodeKind::Customer { cid } => Some(self.cids[cid as usize].cid.clone()),
            NodeKind::Device { .. } => None,
        });
        let mut devices: Vec<(TextKey<'_>, u32, UidView<'_>)> = Vec::with_capacity(comp.devices as usize);
        for &m in comp.members {
            if let NodeKind::Device { uid, epoch } = self.nodes[m as usize].kind() {
                let view = self.uids.view(uid);
                devices.push((TextKey::of(view), epoch, view));
            }
        }
        let order = |a: &(TextKey<'_>, u32, UidView<'_>), b: &(TextKey<'_>, u32, UidView<'_>)| -> Ordering {
            a.0.bytes().cmp(b.0.bytes()).then(a.1.cmp(&b.1))
        };
        let total = devices.len();
        if total > uids_max {
            if uids_max == 0 {
                devices.clear();
            } else {
                // The `uids_max` smallest, in linear time; then only those are sorted.
                devices.select_nth_unstable_by(uids_max - 1, order);
                devices.truncate(uids_max);
            }
        }
        devices.sort_unstable_by(order);
        let uids: Vec<DeviceRef> =
            devices.into_iter().map(|(_, epoch, view)| DeviceRef { uid: view.to_uid(), epoch }).collect();
        Some(ProfileSummary { id: self.comp_id(root), primary_cid, uids_more: total - uids.len(), uids })
    }
}
