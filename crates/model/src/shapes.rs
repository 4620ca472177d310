//! The read side's JSON shapes (docs/OPERATIONS.md, the CLI's `--json` output): `Serialize` for
//! [`Value`], [`Profile`] and [`HistoryEvent`], written out field by field so that the shape is
//! a contract, not whatever a derive would make of the structs. The CLI prints these, and an
//! embedding service serialises the same values to get the same JSON. Timestamps are RFC 3339
//! text (UTC, microseconds), ids their text, the profile's history left out.

use serde::ser::{SerializeMap, SerializeSeq, SerializeStruct};
use serde::{Serialize, Serializer};

use crate::id::Cid;
use crate::profile::Profile;
use crate::record::{Entry, Record, Target, Timestamp};
use crate::value::{Map, Value};

/// JSON-like: null, booleans, integers, (finite) floats, strings, lists, maps with sorted keys.
impl Serialize for Value {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Value::Null => s.serialize_unit(),
            Value::Bool(b) => s.serialize_bool(*b),
            Value::Int(i) => s.serialize_i64(*i),
            Value::Float(f) => s.serialize_f64(*f),
            Value::String(t) => s.serialize_str(t),
            Value::List(items) => {
                let mut seq = s.serialize_seq(Some(items.len()))?;
                for v in items {
                    seq.serialize_element(v)?;
                }
                seq.end()
            }
            Value::Map(m) => MapShape(m).serialize(s),
        }
    }
}

/// A [`Map`] as a JSON object.
struct MapShape<'a>(&'a Map);

impl Serialize for MapShape<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut map = s.serialize_map(Some(self.0.len()))?;
        for (k, v) in self.0 {
            map.serialize_entry(k, v)?;
        }
        map.end()
    }
}

/// A timestamp as RFC 3339 text; `None` as null.
struct TimeShape(Option<Timestamp>);

impl Serialize for TimeShape {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self.0 {
            Some(t) => s.serialize_str(&t.to_rfc3339()),
            None => s.serialize_unit(),
        }
    }
}

/// A cid as its text.
struct CidShape<'a>(&'a Cid);

impl Serialize for CidShape<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self.0)
    }
}

/// The profile shape: `id`, `kind` (`"customer"` / `"anonymous"`), `primary_cid` (text or null),
/// `cids`, `uids` (`{"uid", "epoch"}`), `attributes`, `event_count`, `events_by_name`,
/// `first_seen`, `last_seen` (RFC 3339 or null), `system_event_count`, `sessions` (`{"count",
/// "first_start", "last_start", "median_seconds"}`), `devices` (per uid, in `uids`' order:
/// `{"uid", "epoch", "first_seen", "last_seen", "event_count", "system_attributes"}`). The history is not part of it (`history` reads
/// the events themselves: [`HistoryEvent`]).
impl Serialize for Profile {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        struct Cids<'a>(&'a [Cid]);
        impl Serialize for Cids<'_> {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.collect_seq(self.0.iter().map(CidShape))
            }
        }
        struct Device<'a>(&'a crate::profile::DeviceRef);
        impl Serialize for Device<'_> {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                let mut o = s.serialize_struct("Device", 2)?;
                o.serialize_field("uid", &self.0.uid.to_string())?;
                o.serialize_field("epoch", &self.0.epoch)?;
                o.end()
            }
        }
        struct Devices<'a>(&'a [crate::profile::DeviceRef]);
        impl Serialize for Devices<'_> {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.collect_seq(self.0.iter().map(Device))
            }
        }
        struct Sessions<'a>(&'a crate::profile::SessionsSummary);
        impl Serialize for Sessions<'_> {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                let mut o = s.serialize_struct("Sessions", 4)?;
                o.serialize_field("count", &self.0.count)?;
                o.serialize_field("first_start", &TimeShape(self.0.first_start))?;
                o.serialize_field("last_start", &TimeShape(self.0.last_start))?;
                o.serialize_field("median_seconds", &self.0.median_micros.map(|m| m as f64 / 1e6))?;
                o.end()
            }
        }
        struct Info<'a>(&'a crate::profile::DeviceRef, Option<&'a crate::profile::DeviceInfo>);
        impl Serialize for Info<'_> {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                let empty = crate::profile::DeviceInfo::default();
                let i = self.1.unwrap_or(&empty);
                let mut o = s.serialize_struct("DeviceInfo", 6)?;
                o.serialize_field("uid", &self.0.uid.to_string())?;
                o.serialize_field("epoch", &self.0.epoch)?;
                o.serialize_field("first_seen", &TimeShape(i.first_seen))?;
                o.serialize_field("last_seen", &TimeShape(i.last_seen))?;
                o.serialize_field("event_count", &i.event_count)?;
                o.serialize_field("system_attributes", &MapShape(&i.system_attributes))?;
                o.end()
            }
        }
        struct Infos<'a>(&'a Profile);
        impl Serialize for Infos<'_> {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.collect_seq(self.0.uids.iter().enumerate().map(|(i, d)| Info(d, self.0.devices.get(i))))
            }
        }
        let mut o = s.serialize_struct("Profile", 13)?;
        o.serialize_field("id", &self.id.to_string())?;
        o.serialize_field("kind", self.kind.as_str())?;
        o.serialize_field("primary_cid", &self.primary_cid.as_ref().map(CidShape))?;
        o.serialize_field("cids", &Cids(&self.cids))?;
        o.serialize_field("uids", &Devices(&self.uids))?;
        o.serialize_field("attributes", &MapShape(&self.attributes))?;
        o.serialize_field("event_count", &self.event_count)?;
        o.serialize_field("events_by_name", &self.events_by_name)?;
        o.serialize_field("first_seen", &TimeShape(self.first_seen))?;
        o.serialize_field("last_seen", &TimeShape(self.last_seen))?;
        o.serialize_field("system_event_count", &self.system_event_count)?;
        o.serialize_field("sessions", &Sessions(&self.sessions))?;
        o.serialize_field("devices", &Infos(self))?;
        o.end()
    }
}

/// One event of a profile's history, as `history` shows it: its LSN, the record as the log
/// holds it, and the epoch of the device node that holds it (`None` for an event on a cid, or
/// when the profile no longer holds that device). Only events: [`HistoryEvent::new`] refuses
/// other records.
#[derive(Debug, Clone, PartialEq)]
pub struct HistoryEvent {
    lsn: u64,
    entry: Entry,
    epoch: Option<u32>,
}

impl HistoryEvent {
    /// The event at `lsn`, `None` if `entry` is not an event.
    pub fn new(lsn: u64, entry: Entry, epoch: Option<u32>) -> Option<HistoryEvent> {
        matches!(entry.record, Record::Event { .. }).then_some(HistoryEvent { lsn, entry, epoch })
    }

    /// Its LSN.
    pub fn lsn(&self) -> u64 {
        self.lsn
    }

    /// The entry (an event record and its append time).
    pub fn entry(&self) -> &Entry {
        &self.entry
    }

    /// The epoch of the device node holding it, if on a uid and still in the profile.
    pub fn epoch(&self) -> Option<u32> {
        self.epoch
    }
}

/// The history shape: `lsn`, `name`, `ts` (the caller's time, else the append time: RFC 3339),
/// then `uid` + `epoch` (an event on a device) or `cid`, `session_id` (or null), `props`, then
/// (record schema 2) `system` (a system event) and `message_id` (or null).
impl Serialize for HistoryEvent {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let Record::Event { target, name, props, session_id, ts, system, message_id } = &self.entry.record else {
            // Not constructible: `new` takes events only.
            return s.serialize_unit();
        };
        let mut o = s.serialize_map(Some(9))?;
        o.serialize_entry("lsn", &self.lsn)?;
        o.serialize_entry("name", name)?;
        o.serialize_entry("ts", &TimeShape(Some(ts.unwrap_or(self.entry.appended_at))))?;
        match target {
            Target::Uid(u) => {
                o.serialize_entry("uid", &u.to_string())?;
                o.serialize_entry("epoch", &self.epoch)?;
            }
            Target::Cid(c) => o.serialize_entry("cid", &CidShape(c))?,
        }
        o.serialize_entry("session_id", session_id)?;
        o.serialize_entry("props", &MapShape(props))?;
        o.serialize_entry("system", system)?;
        o.serialize_entry("message_id", message_id)?;
        o.end()
    }
}
