//! The checks a record must pass before it changes anything (SEMANTICS §3): the id rules (of
//! ids borrowed as written: [`CheckedUid`], [`CheckedCid`] also say where the fold has the id,
//! so that a handler looks each id up once), the record's shape, and the profile limits
//! (devices, customers, attribute keys and bytes, epochs). Each returns the rejection's reason
//! and its words.

use idres_model::limits::{attribute_bytes, PROFILE_ATTRIBUTES_MAX, PROFILE_ATTRIBUTE_BYTES_MAX};
use idres_model::{Cid, IdRejection, Record, UidView, Value};

use crate::components::node_attrs;
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

/// A uid that passed the id rules: its canonical form, and its number if it is interned.
#[derive(Debug, Clone, Copy)]
pub(crate) struct CheckedUid<'a> {
    pub(crate) uid: UidView<'a>,
    pub(crate) known: Option<u32>,
}

/// A cid that passed the id rules: its bytes, and its customer node if it has one.
#[derive(Debug, Clone, Copy)]
pub(crate) struct CheckedCid<'a> {
    pub(crate) bytes: &'a [u8],
    pub(crate) node: Option<NodeId>,
}

impl Resolver {
    /// The id rules for a uid, and where the fold has it. A uid interned as written passed them
    /// when it was first seen (only checked, canonical ids are interned, and a snapshot's ids
    /// are checked on restore; the rules depend only on the bytes and the config): one lookup
    /// answers. Otherwise the rules run on the bytes as borrowed, and a uid written in another
    /// form than its canonical one is looked up in that.
    pub(crate) fn check_uid<'u>(&self, uid: UidView<'u>) -> Result<CheckedUid<'u>, Rejected> {
        if let Some(u) = self.uid_index.get_view(uid, &self.uids) {
            return Ok(CheckedUid { uid, known: Some(u) });
        }
        let canonical = self.validator.check_uid_view(uid).map_err(id_rejection)?;
        let known = if canonical == uid { None } else { self.uid_index.get_view(canonical, &self.uids) };
        Ok(CheckedUid { uid: canonical, known })
    }

    /// The id rules for a cid, and where the fold has it; a cid already interned passed them
    /// (see [`Self::check_uid`]).
    pub(crate) fn check_cid<'c>(&self, cid: &'c [u8]) -> Result<CheckedCid<'c>, Rejected> {
        if let Some(n) = self.cid_index.get(cid) {
            return Ok(CheckedCid { bytes: cid, node: Some(n) });
        }
        self.validator.check_cid_bytes(cid).map_err(id_rejection)?;
        Ok(CheckedCid { bytes: cid, node: None })
    }

    /// A uid can start a next epoch unless it is at the last one (2^32 - 1 resets: only a
    /// hostile log gets there, and it must be a rejection, not an overflow).
    pub(crate) fn check_epoch_room(&self, uid: CheckedUid<'_>) -> Result<(), Rejected> {
        match uid.known {
            Some(u) if self.uids.epoch(u) == u32::MAX => {
                Err((Reason::Limit, format!("uid {} has reached the last epoch", uid.uid)))
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
    /// (an upper bound of its profile's: a key two nodes hold counts twice). The component keeps
    /// the sums; debug builds (the tests) check them against the members each time.
    pub(crate) fn comp_attrs(&self, root: NodeId) -> (u64, u64) {
        let comp = self.comp(root);
        debug_assert_eq!(
            comp.attrs,
            comp.members.iter().fold((0, 0), |(k, b), &m| {
                let (mk, mb) = node_attrs(&self.nodes[m as usize]);
                (k + mk, b + mb)
            }),
            "the attribute sums of the component at {root}"
        );
        comp.attrs
    }

    /// At most how many keys and bytes `writes` (key, value or `None` for an unset) add to node
    /// `n`: a key the node lacks counts one, every value its bytes (a value it replaces is not
    /// subtracted, so the check never depends on the order of the writes).
    pub(crate) fn attrs_added<'a>(
        &self,
        n: NodeId,
        system: bool,
        writes: impl Iterator<Item = (&'a str, Option<&'a Value>)>,
    ) -> (u64, u64) {
        let attrs = &self.nodes[n as usize].contents.attrs;
        let mark = if system { crate::contents::SYSTEM_KEY } else { 0 };
        writes.fold((0, 0), |(k, b), (key, v)| {
            let new = self.keys.index.get(key).is_none_or(|&id| attrs.get(id | mark).is_none());
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

    pub(crate) fn existing_customer(&self, cid: CheckedCid<'_>) -> Result<NodeId, Rejected> {
        match cid.node {
            Some(n) => Ok(n),
            None => {
                Err((Reason::UnknownCid, format!("cid {} does not exist", Cid::from_wire_bytes(cid.bytes).quoted())))
            }
        }
    }
}
