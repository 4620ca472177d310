//! The checks a record must pass before it changes anything (SEMANTICS §3): the id rules, the
//! record's shape, and the profile limits (devices, customers, attribute keys and bytes, epochs).
//! Each returns the rejection's reason and its words.

use std::borrow::Cow;

use idres_model::limits::{attribute_bytes, PROFILE_ATTRIBUTES_MAX, PROFILE_ATTRIBUTE_BYTES_MAX};
use idres_model::{Cid, IdRejection, Record, Target, Uid, Value};

use crate::node::NodeId;
use crate::outcome::Reason;
use crate::resolver::Resolver;

/// A rejection: its reason and, in words, which id or rule.
pub(crate) type Rejected = (Reason, String);

pub(crate) fn check_shape(record: &Record) -> Result<(), Rejected> {
    record.validate_shape().map_err(|e| (Reason::InvalidRecord, e.to_string()))
}

fn id_rejection(r: IdRejection) -> Rejected {
    let reason = match r {
        IdRejection::Invalid(_) => Reason::InvalidId,
        IdRejection::Blocked { .. } => Reason::BlockedValue,
    };
    (reason, r.to_string())
}

impl Resolver {
    /// The id rules for a uid. An id interned as written passed them when it was first seen
    /// (only checked ids are interned, and a snapshot's ids are checked on restore; the rules
    /// depend only on the bytes and the config): one lookup answers.
    pub(crate) fn check_uid<'u>(&self, uid: &'u Uid) -> Result<Cow<'u, Uid>, Rejected> {
        if self.uid_index.get(uid, &self.uids).is_some() {
            return Ok(Cow::Borrowed(uid));
        }
        self.validator.check_uid_cow(uid).map_err(id_rejection)
    }

    /// The id rules for a cid; a cid already interned passed them (see [`Self::check_uid`]).
    pub(crate) fn check_cid(&self, cid: &Cid) -> Result<(), Rejected> {
        if self.cid_index.contains_key(cid) {
            return Ok(());
        }
        self.validator.check_cid(cid).map_err(id_rejection)
    }

    pub(crate) fn check_target<'t>(&self, target: &'t Target) -> Result<Option<Cow<'t, Uid>>, Rejected> {
        match target {
            Target::Uid(u) => self.check_uid(u).map(Some),
            Target::Cid(c) => self.check_cid(c).map(|()| None),
        }
    }

    /// A uid can start a next epoch unless it is at the last one (2^32 - 1 resets: only a
    /// hostile log gets there, and it must be a rejection, not an overflow).
    pub(crate) fn check_epoch_room(&self, uid: &Uid) -> Result<(), Rejected> {
        match self.uid_index.get(uid, &self.uids) {
            Some(u) if self.uids.epoch(u) == u32::MAX => {
                Err((Reason::Limit, format!("uid {uid} has reached the last epoch")))
            }
            _ => Ok(()),
        }
    }

    pub(crate) fn check_limit(&self, devices: u32, customers: u32) -> Result<(), Rejected> {
        if devices > self.config.max_devices_per_profile {
            return Err((
                Reason::Limit,
                format!(
                    "the profile would have {devices} devices, over max_devices_per_profile = {}",
                    self.config.max_devices_per_profile
                ),
            ));
        }
        if customers > self.config.max_customers_per_profile {
            return Err((
                Reason::Limit,
                format!(
                    "the profile would have {customers} customers, over max_customers_per_profile = {}",
                    self.config.max_customers_per_profile
                ),
            ));
        }
        Ok(())
    }

    pub(crate) fn check_union_limit(&self, a: NodeId, b: NodeId) -> Result<(), Rejected> {
        let (ca, cb) = (self.comp(a), self.comp(b));
        self.check_limit(ca.devices + cb.devices, ca.customers + cb.customers)?;
        let ((ka, ba), (kb, bb)) = (self.comp_attrs(a), self.comp_attrs(b));
        self.check_attr_limit(ka + kb, ba + bb)
    }

    /// Attribute keys and attribute bytes of the component at root `root`, summed over its nodes
    /// (an upper bound of its profile's: a key two nodes hold counts twice). One read per member;
    /// members are bounded by the device and customer limits.
    pub(crate) fn comp_attrs(&self, root: NodeId) -> (u64, u64) {
        self.comp(root).members.iter().fold((0, 0), |(k, b), &m| {
            let c = &self.nodes[m as usize].contents;
            (k + c.attrs.len() as u64, b + c.attr_bytes())
        })
    }

    /// At most how many keys and bytes `writes` (key, value or `None` for an unset) add to node
    /// `n`: a key the node lacks counts one, every value its bytes (a value it replaces is not
    /// subtracted, so the check never depends on the order of the writes).
    pub(crate) fn attrs_added<'a>(
        &self,
        n: NodeId,
        writes: impl Iterator<Item = (&'a str, Option<&'a Value>)>,
    ) -> (u64, u64) {
        let attrs = &self.nodes[n as usize].contents.attrs;
        writes.fold((0, 0), |(k, b), (key, v)| {
            let new = self.keys.index.get(key).is_none_or(|&id| attrs.get(id).is_none());
            (k + u64::from(new), b + v.map_or(0, |v| attribute_bytes(key, v) as u64))
        })
    }

    /// A profile may hold at most [`PROFILE_ATTRIBUTES_MAX`] keys and
    /// [`PROFILE_ATTRIBUTE_BYTES_MAX`] attribute bytes, so that every profile the fold makes can be
    /// stored (docs/SEMANTICS.md, "Limits").
    pub(crate) fn check_attr_limit(&self, keys: u64, bytes: u64) -> Result<(), Rejected> {
        if keys > PROFILE_ATTRIBUTES_MAX as u64 {
            return Err((
                Reason::Limit,
                format!("the profile would have {keys} attribute keys, over PROFILE_ATTRIBUTES_MAX = {PROFILE_ATTRIBUTES_MAX}"),
            ));
        }
        if bytes > PROFILE_ATTRIBUTE_BYTES_MAX as u64 {
            return Err((
                Reason::Limit,
                format!(
                    "the profile would hold {bytes} bytes of attributes, over PROFILE_ATTRIBUTE_BYTES_MAX = {PROFILE_ATTRIBUTE_BYTES_MAX}"
                ),
            ));
        }
        Ok(())
    }

    pub(crate) fn existing_customer(&self, cid: &Cid) -> Result<NodeId, Rejected> {
        match self.cid_index.get(cid) {
            Some(&c) => Ok(self.cids[c as usize].node),
            None => Err((Reason::UnknownCid, format!("cid {cid:?} does not exist"))),
        }
    }
}
