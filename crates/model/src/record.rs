//! The records of the log (SEMANTICS §2) and their shape rules.
//!
//! Owns: [`Record`], [`Entry`] (a record stamped with its append time), [`Timestamp`],
//! [`Target`], [`RecordKind`] and [`Record::validate_shape`], the checks the edge makes on
//! everything except ids. Does not own: id verdicts (see [`crate::validate`], because the fold
//! treats a bad id as a rejection, not as a bad record), bytes (see [`crate::codec`]), nor what a
//! record means (the fold's business).

use std::fmt;

use crate::id::{Cid, Uid};
use crate::limits::VALUE_ENTRIES_MAX;
#[cfg(doc)]
use crate::limits::{
    ATTRIBUTE_KEYS_PER_RECORD_MAX, EVENT_NAME_BYTES_MAX, MESSAGE_ID_BYTES_MAX, SESSION_ID_BYTES_MAX,
    VALUE_KEY_BYTES_MAX,
};
pub use crate::record_shape::RecordError;
use crate::record_shape::{
    check_attribute_count, check_event_name, check_key, check_map, check_message_id, check_session_id,
};
use crate::value::Map;

/// A point in time: microseconds since the Unix epoch (1970-01-01T00:00:00Z), UTC, without leap
/// seconds. Negative values are before the epoch. Timestamps are data: they never decide links
/// (log order does), only which attribute write is newest.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Timestamp(pub i64);

impl Timestamp {
    /// The timestamp `micros` microseconds after the epoch.
    pub const fn from_micros(micros: i64) -> Timestamp {
        Timestamp(micros)
    }

    /// Microseconds since the epoch.
    pub const fn as_micros(self) -> i64 {
        self.0
    }
}

/// The node a record writes to: a device (by uid, in its current epoch) or a customer.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Target {
    /// The device node of this uid's current epoch.
    Uid(Uid),
    /// The customer node of this cid.
    Cid(Cid),
}

impl Target {
    /// The device `uid` ([`Uid::parse`]): `Target::uid("web-7f3a")?`.
    pub fn uid(uid: &str) -> Result<Target, crate::id::IdError> {
        Uid::parse(uid).map(Target::Uid)
    }

    /// The customer `cid` ([`Cid::parse`]): `Target::cid("customer-42")?`.
    pub fn cid(cid: &str) -> Result<Target, crate::id::IdError> {
        Cid::parse(cid).map(Target::Cid)
    }
}

/// One record of the log (SEMANTICS §2). Ids in a record are as received: they may be
/// malformed or blocked; the fold checks them and rejects the record if so.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Record {
    /// Links a device to a customer (or, without uid, names a customer) and writes attributes on
    /// the customer.
    Identify {
        /// The device, if any.
        uid: Option<Uid>,
        /// The customer.
        cid: Cid,
        /// Written on the customer as `set`; may be empty.
        attrs: Map,
        /// When the caller says it happened; `None` means the append time.
        ts: Option<Timestamp>,
        /// The sender's id of the message (record schema 2), for de-duplication; 1..=
        /// [`MESSAGE_ID_BYTES_MAX`] bytes when present.
        message_id: Option<String>,
    },
    /// Starts the next epoch of a uid.
    Reset {
        /// The device.
        uid: Uid,
        /// When the caller says it happened; `None` means the append time.
        ts: Option<Timestamp>,
    },
    /// An event on a device or a customer.
    Event {
        /// Where it counts.
        target: Target,
        /// 1..=[`EVENT_NAME_BYTES_MAX`] bytes, no control characters.
        name: String,
        /// Event properties.
        props: Map,
        /// Session id, 1..=[`SESSION_ID_BYTES_MAX`] bytes when present.
        session_id: Option<String>,
        /// When the caller says it happened; `None` means the append time.
        ts: Option<Timestamp>,
        /// Collected by the SDK (app open, screen view, …), not the app's own (record schema 2).
        system: bool,
        /// The sender's id of the message (record schema 2), for de-duplication.
        message_id: Option<String>,
    },
    /// Attribute writes on a device or a customer; applied set_once, then set, then unset.
    Attributes {
        /// Where they are written.
        target: Target,
        /// Values that overwrite.
        set: Map,
        /// Values that apply only where no value is set.
        set_once: Map,
        /// Keys to remove.
        unset: Vec<String>,
        /// When the caller says it happened; `None` means the append time.
        ts: Option<Timestamp>,
        /// The device's system attributes (model, OS, app version, …), collected by the SDK
        /// (record schema 2); the target must then be a uid.
        system: bool,
        /// The sender's id of the message (record schema 2), for de-duplication.
        message_id: Option<String>,
    },
    /// An operator merges customer `from` into customer `into`.
    Merge {
        /// The customer whose component is merged away.
        from: Cid,
        /// The customer whose component survives.
        into: Cid,
    },
    /// An operator removes every merge edge of a customer.
    Unmerge {
        /// The customer.
        cid: Cid,
    },
    /// An operator detaches every epoch of a device from a customer.
    Unlink {
        /// The device.
        uid: Uid,
        /// The customer.
        cid: Cid,
    },
}

/// The kind of a [`Record`], without its data.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum RecordKind {
    /// [`Record::Identify`].
    Identify,
    /// [`Record::Reset`].
    Reset,
    /// [`Record::Event`].
    Event,
    /// [`Record::Attributes`].
    Attributes,
    /// [`Record::Merge`].
    Merge,
    /// [`Record::Unmerge`].
    Unmerge,
    /// [`Record::Unlink`].
    Unlink,
}

impl RecordKind {
    /// Every kind, in declaration order.
    pub const ALL: [RecordKind; 7] = [
        RecordKind::Identify,
        RecordKind::Reset,
        RecordKind::Event,
        RecordKind::Attributes,
        RecordKind::Merge,
        RecordKind::Unmerge,
        RecordKind::Unlink,
    ];

    /// The lower-case name used in reports and file names: `identify`, `reset`, `event`,
    /// `attributes`, `merge`, `unmerge`, `unlink`.
    pub fn as_str(self) -> &'static str {
        match self {
            RecordKind::Identify => "identify",
            RecordKind::Reset => "reset",
            RecordKind::Event => "event",
            RecordKind::Attributes => "attributes",
            RecordKind::Merge => "merge",
            RecordKind::Unmerge => "unmerge",
            RecordKind::Unlink => "unlink",
        }
    }
}

impl fmt::Display for RecordKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Record {
    /// The record's kind.
    pub fn kind(&self) -> RecordKind {
        match self {
            Record::Identify { .. } => RecordKind::Identify,
            Record::Reset { .. } => RecordKind::Reset,
            Record::Event { .. } => RecordKind::Event,
            Record::Attributes { .. } => RecordKind::Attributes,
            Record::Merge { .. } => RecordKind::Merge,
            Record::Unmerge { .. } => RecordKind::Unmerge,
            Record::Unlink { .. } => RecordKind::Unlink,
        }
    }

    /// The caller's timestamp; always `None` for the operator records (merge, unmerge, unlink),
    /// which have none.
    pub fn ts(&self) -> Option<Timestamp> {
        match self {
            Record::Identify { ts, .. }
            | Record::Reset { ts, .. }
            | Record::Event { ts, .. }
            | Record::Attributes { ts, .. } => *ts,
            Record::Merge { .. } | Record::Unmerge { .. } | Record::Unlink { .. } => None,
        }
    }

    /// The sender's message id (record schema 2), if the record carries one; operator records
    /// and resets never do.
    pub fn message_id(&self) -> Option<&str> {
        match self {
            Record::Identify { message_id, .. }
            | Record::Event { message_id, .. }
            | Record::Attributes { message_id, .. } => message_id.as_deref(),
            Record::Reset { .. } | Record::Merge { .. } | Record::Unmerge { .. } | Record::Unlink { .. } => None,
        }
    }

    /// True for a system event or a system attributes write (record schema 2).
    pub fn is_system(&self) -> bool {
        matches!(self, Record::Event { system: true, .. } | Record::Attributes { system: true, .. })
    }

    /// Checks everything the edge refuses except ids: event name (1..=[`EVENT_NAME_BYTES_MAX`]
    /// bytes, no control characters), session id (1..=[`SESSION_ID_BYTES_MAX`] bytes, no control characters), message id (1..=[`MESSAGE_ID_BYTES_MAX`] bytes, no control
    /// characters), system attributes only on a uid, attribute
    /// keys per record ([`ATTRIBUTE_KEYS_PER_RECORD_MAX`]: identify attrs, or set + set_once +
    /// unset together), properties per event ([`VALUE_ENTRIES_MAX`]), every attribute, property
    /// and unset key (1..=[`VALUE_KEY_BYTES_MAX`] bytes) and every value
    /// ([`crate::Value::validate`]). A record that passes, with valid ids, always encodes unless
    /// it exceeds [`crate::limits::RECORD_BYTES_MAX`] as a whole.
    pub fn validate_shape(&self) -> Result<(), RecordError> {
        if let Some(id) = self.message_id() {
            check_message_id(id)?;
        }
        match self {
            Record::Identify { attrs, .. } => {
                check_attribute_count(attrs.len())?;
                check_map("attrs", attrs)
            }
            Record::Event { name, props, session_id, .. } => {
                check_event_name(name)?;
                if let Some(session_id) = session_id {
                    check_session_id(session_id)?;
                }
                if props.len() > VALUE_ENTRIES_MAX {
                    return Err(RecordError::TooManyProperties { count: props.len(), max: VALUE_ENTRIES_MAX });
                }
                check_map("props", props)
            }
            Record::Attributes { target, set, set_once, unset, system, .. } => {
                if *system && matches!(target, Target::Cid(_)) {
                    return Err(RecordError::SystemAttributesOnCustomer);
                }
                check_attribute_count(set.len().saturating_add(set_once.len()).saturating_add(unset.len()))?;
                check_map("set_once", set_once)?;
                check_map("set", set)?;
                unset.iter().try_for_each(|key| check_key("unset", key))
            }
            Record::Reset { .. } | Record::Merge { .. } | Record::Unmerge { .. } | Record::Unlink { .. } => Ok(()),
        }
    }
}

/// A record as the log holds it: stamped with the time the engine appended it.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Entry {
    /// When the engine appended the record (the engine's clock, not the caller's).
    pub appended_at: Timestamp,
    /// The record.
    pub record: Record,
}

impl Entry {
    /// The time the record's writes count at: `min(ts, appended_at)`, or `appended_at` when the
    /// record has no `ts` (SEMANTICS §2). A device clock in the future cannot pin a value forever.
    pub fn effective_ts(&self) -> Timestamp {
        match self.record.ts() {
            Some(ts) => ts.min(self.appended_at),
            None => self.appended_at,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::limits::{
        ATTRIBUTE_KEYS_PER_RECORD_MAX, EVENT_NAME_BYTES_MAX, SESSION_ID_BYTES_MAX, VALUE_DEPTH_MAX, VALUE_KEY_BYTES_MAX,
    };
    use crate::value::Value;
    use crate::value::ValueError;

    fn cid(s: &str) -> Cid {
        Cid::parse(s).unwrap()
    }

    #[test]
    fn effective_ts_is_the_earlier_of_ts_and_appended_at() {
        let check = |ts: Option<i64>, appended_at: i64, expected: i64| {
            let entry = Entry {
                appended_at: Timestamp(appended_at),
                record: Record::Reset { uid: Uid::parse("d").unwrap(), ts: ts.map(Timestamp) },
            };
            assert_eq!(entry.effective_ts(), Timestamp(expected), "{ts:?} @ {appended_at}");
        };
        check(None, 100, 100);
        check(Some(50), 100, 50); // a historical import keeps its time
        check(Some(100), 100, 100);
        check(Some(5_000), 100, 100); // a clock in the future is capped
        check(Some(i64::MAX), 100, 100);
        check(Some(i64::MIN), 100, i64::MIN);
        check(Some(-7), -3, -7); // before the epoch
    }

    #[test]
    fn operator_records_count_at_their_append_time() {
        for record in [
            Record::Merge { from: cid("a"), into: cid("b") },
            Record::Unmerge { cid: cid("a") },
            Record::Unlink { uid: Uid::parse("d").unwrap(), cid: cid("a") },
        ] {
            assert_eq!(record.ts(), None);
            let entry = Entry { appended_at: Timestamp(9), record };
            assert_eq!(entry.effective_ts(), Timestamp(9));
        }
    }

    fn event(name: &str, session_id: Option<&str>, props: Map) -> Record {
        Record::Event {
            target: Target::Cid(cid("c")),
            name: name.to_owned(),
            props,
            session_id: session_id.map(str::to_owned),
            ts: None,
            system: false,
            message_id: None,
        }
    }

    fn attributes(set: Map, set_once: Map, unset: Vec<String>) -> Record {
        Record::Attributes {
            target: Target::Uid(Uid::parse("d").unwrap()),
            set,
            set_once,
            unset,
            ts: None,
            system: false,
            message_id: None,
        }
    }

    fn keys(prefix: &str, n: usize) -> Map {
        (0..n).map(|i| (format!("{prefix}{i}"), Value::Int(1))).collect()
    }

    fn check(record: Record, expected: Result<(), RecordError>) {
        assert_eq!(record.validate_shape(), expected, "{record:?}");
    }

    #[test]
    fn event_names() {
        check(event("screen_view", None, Map::new()), Ok(()));
        check(event(&"n".repeat(EVENT_NAME_BYTES_MAX), None, Map::new()), Ok(()));
        check(event("名前", None, Map::new()), Ok(()));
        check(event("", None, Map::new()), Err(RecordError::EventNameEmpty));
        check(
            event(&"n".repeat(EVENT_NAME_BYTES_MAX + 1), None, Map::new()),
            Err(RecordError::EventNameTooLong { len: EVENT_NAME_BYTES_MAX + 1, max: EVENT_NAME_BYTES_MAX }),
        );
        check(
            event("a\tb", None, Map::new()),
            Err(RecordError::EventNameControlCharacter { code_point: 9, offset: 1 }),
        );
    }

    #[test]
    fn session_ids() {
        check(event("e", Some("s"), Map::new()), Ok(()));
        check(event("e", Some(&"s".repeat(SESSION_ID_BYTES_MAX)), Map::new()), Ok(()));
        check(event("e", Some(""), Map::new()), Err(RecordError::SessionIdEmpty));
        check(
            event("e", Some("s\n1"), Map::new()),
            Err(RecordError::SessionIdControlCharacter { code_point: 10, offset: 1 }),
        );
        check(
            event("e", Some(&"s".repeat(SESSION_ID_BYTES_MAX + 1)), Map::new()),
            Err(RecordError::SessionIdTooLong { len: SESSION_ID_BYTES_MAX + 1, max: SESSION_ID_BYTES_MAX }),
        );
    }

    #[test]
    fn attribute_key_count_spans_set_set_once_and_unset() {
        let max = ATTRIBUTE_KEYS_PER_RECORD_MAX;
        let unset = |n: usize| (0..n).map(|i| format!("u{i}")).collect::<Vec<_>>();
        check(attributes(keys("s", max), Map::new(), vec![]), Ok(()));
        check(attributes(keys("s", 100), keys("o", 100), unset(max - 200)), Ok(()));
        check(
            attributes(keys("s", 100), keys("o", 100), unset(max - 199)),
            Err(RecordError::TooManyAttributeKeys { count: max + 1, max }),
        );
        let identify = |attrs: Map| Record::Identify { uid: None, cid: cid("c"), attrs, ts: None, message_id: None };
        check(identify(keys("a", max)), Ok(()));
        check(identify(keys("a", max + 1)), Err(RecordError::TooManyAttributeKeys { count: max + 1, max }));
    }

    #[test]
    fn keys_and_values() {
        let one = |key: &str, value: Value| Map::from([(key.to_owned(), value)]);
        check(attributes(one("", Value::Null), Map::new(), vec![]), Err(RecordError::KeyEmpty { field: "set" }));
        check(attributes(Map::new(), Map::new(), vec![String::new()]), Err(RecordError::KeyEmpty { field: "unset" }));
        check(
            event("e", None, one(&"k".repeat(VALUE_KEY_BYTES_MAX + 1), Value::Null)),
            Err(RecordError::KeyTooLong { field: "props", len: VALUE_KEY_BYTES_MAX + 1, max: VALUE_KEY_BYTES_MAX }),
        );
        check(event("e", None, one(&"k".repeat(VALUE_KEY_BYTES_MAX), Value::Null)), Ok(()));
        check(
            attributes(Map::new(), one("k", Value::Float(f64::NAN)), vec![]),
            Err(RecordError::Value { field: "set_once", key: "k".to_owned(), source: ValueError::NonFiniteFloat }),
        );
        let deep = |depth: usize| (0..depth).fold(Value::Null, |v, _| Value::List(vec![v]));
        check(event("e", None, one("k", deep(VALUE_DEPTH_MAX))), Ok(()));
        check(
            event("e", None, one("k", deep(VALUE_DEPTH_MAX + 1))),
            Err(RecordError::Value {
                field: "props",
                key: "k".to_owned(),
                source: ValueError::TooDeep { max: VALUE_DEPTH_MAX },
            }),
        );
        check(
            event("e", None, keys("p", VALUE_ENTRIES_MAX + 1)),
            Err(RecordError::TooManyProperties { count: VALUE_ENTRIES_MAX + 1, max: VALUE_ENTRIES_MAX }),
        );
    }

    #[test]
    fn ids_are_not_a_shape_concern() {
        check(
            Record::Unlink { uid: Uid::from_wire_bytes(Vec::new()), cid: Cid::from_wire_bytes(b" null ".to_vec()) },
            Ok(()),
        );
    }

    #[test]
    fn kinds_have_stable_names() {
        let names: Vec<_> = RecordKind::ALL.iter().map(|k| k.as_str()).collect();
        assert_eq!(names, ["identify", "reset", "event", "attributes", "merge", "unmerge", "unlink"]);
    }

    #[test]
    fn targets_from_text_parse_their_ids() {
        assert_eq!(
            Target::uid("6BA7B810-9DAD-11D1-80B4-00C04FD430C8"),
            Ok(Target::Uid(Uid::parse("6ba7b810-9dad-11d1-80b4-00c04fd430c8").unwrap()))
        );
        assert_eq!(Target::cid("customer-42"), Ok(Target::Cid(cid("customer-42"))));
        assert!(Target::uid("").is_err());
        assert!(Target::cid("").is_err());
    }
}
