//! The explain JSON shape (docs/OPERATIONS.md, `explain --json`): `Serialize` for
//! [`Explanation`] and for [`ForgottenRejections`], written out field by field so that the shape
//! is a contract. The CLI prints these; an embedding service serialises the same values to get
//! the same JSON.

use serde::ser::{SerializeMap, SerializeStruct};
use serde::{Serialize, Serializer};

use crate::outcome::{
    EpochProfile, Explanation, ForgottenRejections, ImplicitReset, PathStep, Rejection, REJECTIONS_KEPT_MAX,
};

/// The explain shape: `node` (text, or null), `profile_id` (or null), `path` (`{"from", "to",
/// "kind", "record", "lsn", "time", "rule"}` from the node to the primary; `record` is the kind of
/// the record that made the edge), `implicit_resets` and `rejections` (`{"lsn", "kind",
/// "reason"}`), `epochs` (for a uid, every epoch with a device node: `{"epoch", "profile_id",
/// "current"}`; empty for a cid); and, only when the fold forgot older rejections,
/// `rejections_forgotten` (the shape of [`ForgottenRejections`]).
impl Serialize for Explanation {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let forgotten = !self.rejections_forgotten.is_empty();
        let mut o = s.serialize_map(Some(6 + usize::from(forgotten)))?;
        o.serialize_entry("node", &self.node.as_ref().map(|n| n.to_string()))?;
        o.serialize_entry("profile_id", &self.profile_id.map(|id| id.to_string()))?;
        o.serialize_entry("path", &self.path.iter().map(Step).collect::<Vec<_>>())?;
        o.serialize_entry("implicit_resets", &self.implicit_resets.iter().map(Reset).collect::<Vec<_>>())?;
        o.serialize_entry("rejections", &self.rejections.iter().map(Rejected).collect::<Vec<_>>())?;
        o.serialize_entry("epochs", &self.epochs.iter().map(Epoch).collect::<Vec<_>>())?;
        if forgotten {
            o.serialize_entry("rejections_forgotten", &self.rejections_forgotten)?;
        }
        o.end()
    }
}

struct Epoch<'a>(&'a EpochProfile);

impl Serialize for Epoch<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut o = s.serialize_struct("EpochProfile", 3)?;
        o.serialize_field("epoch", &self.0.epoch)?;
        o.serialize_field("profile_id", &self.0.profile_id.to_string())?;
        o.serialize_field("current", &self.0.current)?;
        o.end()
    }
}

struct Step<'a>(&'a PathStep);

impl Serialize for Step<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let p = self.0;
        let mut o = s.serialize_struct("PathStep", 7)?;
        o.serialize_field("from", &p.from.to_string())?;
        o.serialize_field("to", &p.to.to_string())?;
        o.serialize_field("kind", p.kind.as_str())?;
        o.serialize_field("record", p.record.as_str())?;
        o.serialize_field("lsn", &p.lsn)?;
        o.serialize_field("time", &p.time.to_rfc3339())?;
        o.serialize_field("rule", p.rule)?;
        o.end()
    }
}

/// An implicit reset as a rejection-like line: `lsn`, `kind` `"implicit_reset"`, `reason` in words.
struct Reset<'a>(&'a ImplicitReset);

impl Serialize for Reset<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let r = self.0;
        let mut o = s.serialize_struct("ImplicitReset", 3)?;
        o.serialize_field("lsn", &r.lsn)?;
        o.serialize_field("kind", "implicit_reset")?;
        o.serialize_field(
            "reason",
            &format!(
                "uid {} epoch {} stayed with {}; epoch {} linked to {}",
                r.uid, r.from_epoch, r.previous_cid, r.to_epoch, r.cid
            ),
        )?;
        o.end()
    }
}

struct Rejected<'a>(&'a Rejection);

impl Serialize for Rejected<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut o = s.serialize_struct("Rejection", 3)?;
        o.serialize_field("lsn", &self.0.lsn)?;
        o.serialize_field("kind", self.0.kind.as_str())?;
        o.serialize_field("reason", self.0.reason.as_str())?;
        o.end()
    }
}

/// `{"count", "newest_lsn", "by_reason": {reason: count}, "kept_max"}`.
impl Serialize for ForgottenRejections {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        struct ByReason(Vec<(crate::outcome::Reason, u64)>);
        impl Serialize for ByReason {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                let mut m = s.serialize_map(Some(self.0.len()))?;
                for (r, c) in &self.0 {
                    m.serialize_entry(r.as_str(), c)?;
                }
                m.end()
            }
        }
        let mut o = s.serialize_struct("ForgottenRejections", 4)?;
        o.serialize_field("count", &self.count())?;
        o.serialize_field("newest_lsn", &self.newest_lsn())?;
        o.serialize_field("by_reason", &ByReason(self.by_reason()))?;
        o.serialize_field("kept_max", &REJECTIONS_KEPT_MAX)?;
        o.end()
    }
}

/// The sessions shape (`idres sessions --json`, one per line): `id` (null for an inferred
/// session), `inferred`, `devices` (`{"uid", "epoch"}` each; null for events sent to a customer
/// id), `start` and `end` (RFC 3339), `length_seconds`, `events`.
impl Serialize for crate::sessions::SessionInfo {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        struct Device<'a>(&'a Option<(String, u32)>);
        impl Serialize for Device<'_> {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                match self.0 {
                    None => s.serialize_unit(),
                    Some((uid, epoch)) => {
                        let mut o = s.serialize_struct("Device", 2)?;
                        o.serialize_field("uid", uid)?;
                        o.serialize_field("epoch", epoch)?;
                        o.end()
                    }
                }
            }
        }
        let time = |us: i64| idres_model::Timestamp::from_micros(us).to_rfc3339();
        let mut o = s.serialize_struct("Session", 7)?;
        o.serialize_field("id", &self.id)?;
        o.serialize_field("inferred", &self.id.is_none())?;
        o.serialize_field("devices", &self.devices.iter().map(Device).collect::<Vec<_>>())?;
        o.serialize_field("start", &time(self.start))?;
        o.serialize_field("end", &time(self.end))?;
        o.serialize_field("length_seconds", &(self.length() as f64 / 1e6))?;
        o.serialize_field("events", &self.events)?;
        o.end()
    }
}
