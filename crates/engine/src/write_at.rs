//! Records with their own time: [`Engine::at`] and [`WriteAt`], the write calls that carry the
//! caller's timestamp (backfills, imports, a device's clock), without a hand-built `Record`.
//!
//! Owns: only that mapping. The calls are the engine's own write calls (same checks, same
//! queue, same [`Ticket`]) with `ts` set; what a timestamp means is the fold's rule (SEMANTICS §2):
//! a record's effective time is `min(ts, appended_at)`, so a time in the future counts as the
//! append time, and a timestamp never decides links (log order does).

use idres_model::{Map, Target, Timestamp};

use crate::{Engine, EngineError, Ticket};

/// The engine's time-carrying write calls, made by [`Engine::at`]. Cheap: a borrow of the engine
/// and a timestamp; make one per record or keep one for a run of records of the same time.
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
/// let profile = engine.profile_by_cid("customer-42")?.expect("identified");
/// assert_eq!(profile.first_seen, Some(then)); // the event's own time, not the append time
/// # engine.close()?;
/// # Ok(())
/// # }
/// ```
#[derive(Debug, Clone, Copy)]
pub struct WriteAt<'e> {
    engine: &'e Engine,
    ts: Option<Timestamp>,
}

impl Engine {
    /// The write calls with the caller's time `ts` (a [`Timestamp`], or `None` for the append
    /// time, as the plain calls have): `engine.at(ts).identify(...)`, `.reset(...)`,
    /// `.track_uid(...)`, `.track(...)`, `.attributes(...)`. The record's effective time is
    /// `min(ts, appended_at)` (SEMANTICS §2). The operator records (merge, unmerge, unlink) have
    /// no time of their own.
    pub fn at(&self, ts: impl Into<Option<Timestamp>>) -> WriteAt<'_> {
        WriteAt { engine: self, ts: ts.into() }
    }
}

impl WriteAt<'_> {
    /// The time these writes carry (`None`: the append time).
    pub fn ts(&self) -> Option<Timestamp> {
        self.ts
    }

    /// [`Engine::identify`] at this time.
    pub fn identify(&self, uid: Option<&str>, cid: &str, attrs: Map) -> Result<Ticket, EngineError> {
        self.engine.identify_with(uid, cid, attrs, self.ts)
    }

    /// [`Engine::reset`] at this time.
    pub fn reset(&self, uid: &str) -> Result<Ticket, EngineError> {
        self.engine.reset_with(uid, self.ts)
    }

    /// [`Engine::track_uid`] at this time.
    pub fn track_uid(&self, uid: &str, name: &str, props: Map) -> Result<Ticket, EngineError> {
        self.engine.track(Target::Uid(Engine::uid(uid)?), name, props, None, self.ts)
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
        self.engine.track(target, name, props, session_id, self.ts)
    }

    /// [`Engine::attributes`] at this time.
    pub fn attributes(
        &self,
        target: Target,
        set: Map,
        set_once: Map,
        unset: Vec<String>,
    ) -> Result<Ticket, EngineError> {
        self.engine.attributes(target, set, set_once, unset, self.ts)
    }
}
