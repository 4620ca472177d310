//! Records with their own time and message: [`Engine::at`], [`Engine::message`] and [`WriteAt`],
//! the write calls that carry the
//! caller's timestamp (backfills, imports, a device's clock), the sender's message id and the system
//! flag (record schema 2), without a hand-built `Record`.
//!
//! Owns: only that mapping. The calls are the engine's own write calls (same checks, same
//! queue, same [`Ticket`]) with `ts` set; what a timestamp means is the fold's rule (SEMANTICS §2):
//! a record's effective time is `min(ts, appended_at)`, so a time in the future counts as the
//! append time, and a timestamp never decides links (log order does).

use idres_model::{Map, Record, Target, Timestamp};

use crate::{Engine, EngineError, Ticket};

/// The engine's time-carrying write calls, made by [`Engine::at`] (or [`Engine::message`]). Cheap:
/// a borrow of the engine, a timestamp and what record schema 2 adds (a message id, the system
/// flag); make one per record, or keep one without a message id for a run of records of the same
/// time.
///
/// ```
/// use idres::{Engine, EngineConfig, Map, Target, Timestamp, Value};
///
/// # fn main() -> Result<(), idres::EngineError> {
/// # let tmp = tempfile::tempdir().map_err(|e| idres::EngineError::Invalid(e.to_string()))?;
/// let engine = Engine::open(tmp.path(), EngineConfig::default())?;
/// let then = Timestamp::parse_rfc3339("2024-03-01T09:30:00Z")?;
/// engine.at(then).track_uid("web-7f3a", "page_view", Map::new())?;
/// let plan = Map::from([("plan".to_string(), Value::from("pro"))]);
/// engine.at(then).attributes(Target::cid("customer-42")?, plan, Map::new(), vec![])?;
/// engine.at(then).identify(Some("web-7f3a"), "customer-42", Map::new())?.wait()?;
/// // What the SDK collects, with the message's own id:
/// engine.at(then).system().message_id("ajs-1").track_uid("web-7f3a", "Application Opened", Map::new())?;
/// let profile = engine.profile_by_cid("customer-42")?.expect("identified");
/// assert_eq!(profile.first_seen, Some(then)); // the event's own time, not the append time
/// # engine.close()?;
/// # Ok(())
/// # }
/// ```
#[derive(Debug, Clone)]
pub struct WriteAt<'e> {
    engine: &'e Engine,
    ts: Option<Timestamp>,
    message_id: Option<String>,
    system: bool,
}

impl Engine {
    /// The write calls with the caller's time `ts` (a [`Timestamp`], or `None` for the append
    /// time, as the plain calls have): `engine.at(ts).identify(...)`, `.reset(...)`,
    /// `.track_uid(...)`, `.track(...)`, `.attributes(...)`. The record's effective time is
    /// `min(ts, appended_at)` (SEMANTICS §2). The operator records (merge, unmerge, unlink) have
    /// no time of their own. [`WriteAt::message_id`] and [`WriteAt::system`] add what record
    /// schema 2 carries.
    pub fn at(&self, ts: impl Into<Option<Timestamp>>) -> WriteAt<'_> {
        WriteAt { engine: self, ts: ts.into(), message_id: None, system: false }
    }

    /// The write calls for a message with the sender's id (Segment `messageId`, PostHog `uuid`):
    /// `engine.message("m-1").track_uid(...)`, at the append time; the same as
    /// `engine.at(None).message_id("m-1")`. A message id lets the fold drop a resent message
    /// (docs/SEMANTICS.md, "Duplicates").
    pub fn message(&self, message_id: impl Into<String>) -> WriteAt<'_> {
        self.at(None).message_id(message_id)
    }
}

impl WriteAt<'_> {
    /// The time these writes carry (`None`: the append time).
    pub fn ts(&self) -> Option<Timestamp> {
        self.ts
    }

    /// These writes carry the sender's message id (1..=`MESSAGE_ID_BYTES_MAX` bytes; checked
    /// when a record is written). Meant for one record: a second record with the same id is a
    /// duplicate of the first.
    pub fn message_id(mut self, message_id: impl Into<String>) -> Self {
        self.message_id = Some(message_id.into());
        self
    }

    /// These writes are system data, collected by the SDK rather than the app: a system event
    /// (`track`), or the device's system attributes (`attributes`, on a uid only).
    pub fn system(mut self) -> Self {
        self.system = true;
        self
    }

    /// [`Engine::identify`] at this time (with the message id, if any; identify is never system
    /// data: its attributes are the customer's).
    pub fn identify(&self, uid: Option<&str>, cid: &str, attrs: Map) -> Result<Ticket, EngineError> {
        if self.system {
            return Err(EngineError::Invalid(
                "an identify is not system data: its attributes are the customer's".into(),
            ));
        }
        self.engine.identify_with(uid, cid, attrs, self.ts, self.message_id.clone())
    }

    /// [`Engine::reset`] at this time. A reset carries no message id and is not system data.
    pub fn reset(&self, uid: &str) -> Result<Ticket, EngineError> {
        if self.system || self.message_id.is_some() {
            return Err(EngineError::Invalid("a reset carries no message id and is not system data".into()));
        }
        self.engine.reset_with(uid, self.ts)
    }

    /// [`Engine::track_uid`] at this time.
    pub fn track_uid(&self, uid: &str, name: &str, props: Map) -> Result<Ticket, EngineError> {
        self.track(Target::Uid(Engine::uid(uid)?), name, props, None)
    }

    /// [`Engine::track`] at this time: an event on a device or a customer, with an optional
    /// session.
    pub fn track(
        &self,
        target: Target,
        name: &str,
        props: Map,
        session_id: Option<String>,
    ) -> Result<Ticket, EngineError> {
        self.engine.submit_targeted(Record::Event {
            target,
            name: name.to_string(),
            props,
            session_id,
            ts: self.ts,
            system: self.system,
            message_id: self.message_id.clone(),
        })
    }

    /// [`Engine::attributes`] at this time; with [`WriteAt::system`], the device's system
    /// attributes (the target must be a uid).
    pub fn attributes(
        &self,
        target: Target,
        set: Map,
        set_once: Map,
        unset: Vec<String>,
    ) -> Result<Ticket, EngineError> {
        self.engine.submit_targeted(Record::Attributes {
            target,
            set,
            set_once,
            unset,
            ts: self.ts,
            system: self.system,
            message_id: self.message_id.clone(),
        })
    }
}
