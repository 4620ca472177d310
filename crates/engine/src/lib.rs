//! idres: embeddable, event-sourced identity resolution.
//!
//! An [`Engine`] owns a data directory: `log/` (the append-only log, the only source of truth),
//! `snapshots/` (the fold's state every N records) and `store/` (the read model, fjall by default). Writes are
//! validated at the edge, queued on a bounded channel (back-pressure), appended by one writer
//! thread as one frame per batch with an fdatasync per batch (group commit), folded, and only then
//! acknowledged: a [`Ticket`] resolves to the record's LSN once it is durable and visible to reads.
//! A store thread writes the changed profiles to the store behind the writer, off the
//! acknowledgement path.
//!
//! Everything a caller needs is re-exported here (ids, values, records, profiles, explanations,
//! changes, the errors they convert from), so `idres` is the only dependency a service takes;
//! [`prelude`] brings the everyday names in with one `use`.
//!
//! ```
//! use idres::prelude::*;
//!
//! fn main() -> Result<(), EngineError> {
//! # let tmp = tempfile::tempdir().map_err(|e| EngineError::Invalid(e.to_string()))?;
//!     let engine = Engine::open(tmp.path(), EngineConfig::default())?;
//!     engine.track_uid("web-7f3a", "page_view", Map::from([("path".into(), Value::from("/pricing"))]))?;
//!     let attrs = Map::from([("plan".into(), Value::from("pro")), ("seats".into(), Value::from(12))]);
//!     let lsn = engine.identify(Some("web-7f3a"), "customer-42", attrs)?.wait()?;
//!     let profile = engine.profile_by_cid("customer-42")?.expect("just identified");
//!     assert_eq!(profile.event_count, 1); // the anonymous past joined the customer
//!     assert_eq!(profile.attributes["seats"], Value::Int(12));
//!     // A backfill: records with their own time.
//!     let then = Timestamp::parse_rfc3339("2024-03-01T09:30:00Z")?;
//!     engine.at(then).track(Target::cid("customer-42")?, "invoice_paid", Map::new(), None)?.wait()?;
//!     engine.wait_stored(lsn)?; // the persisted read model has the identify too
//!     engine.close()
//! }
//! ```
//!
//! # Writing
//!
//! The write calls ([`Engine::identify`], [`Engine::reset`], [`Engine::track_uid`],
//! [`Engine::track`], [`Engine::attributes`], [`Engine::merge`], [`Engine::unmerge`],
//! [`Engine::unlink`], [`Engine::write_batch`]) check the record at the edge (a malformed one is
//! [`EngineError::Invalid`], and nothing is queued) and return a [`Ticket`]. Records carry the
//! append time unless the caller gives one: [`Engine::at`] makes the same calls with the caller's
//! [`Timestamp`] (its effective time is `min(ts, appended_at)`, docs/SEMANTICS.md §2);
//! [`Timestamp::parse_rfc3339`] and [`Timestamp::to_rfc3339`] are the text form. A caller's
//! function that returns [`EngineError`] can use `?` on the model's errors ([`IdError`],
//! [`ValueError`], [`RecordError`], [`TimeError`] become [`EngineError::Invalid`]). [`Value`]
//! converts from `bool`, integers up to `i64`/`u32`, `&str`, `String`, `Vec<Value>`, [`Map`] and
//! `Option<T>` (`None` is null); from `f64` by `Value::try_from`, which refuses NaN and the
//! infinities (a valid value holds only finite floats).
//!
//! # Changes
//!
//! [`Engine::subscribe`] gives a [`Subscription`]: one [`ChangeEvent`] per profile a record
//! changed ([`ProfileChange`]: the record's LSN, what happened, the profile's primary cid and
//! first [`CHANGE_UIDS_MAX`] devices as they stand after the record), in LSN order, in the
//! subscription before the record's ticket completes. The writer never waits for a subscriber:
//! one that falls [`SUBSCRIBER_CHANGES_MAX`] behind misses the newest events and is told how
//! many with a [`ChangeEvent::Lagged`] (and [`Subscription::lagged`], [`Stats::changes_dropped`]).
//!
//! ```
//! use idres::prelude::*;
//!
//! # fn main() -> Result<(), EngineError> {
//! # let tmp = tempfile::tempdir().map_err(|e| EngineError::Invalid(e.to_string()))?;
//! let engine = Engine::open(tmp.path(), EngineConfig::default())?;
//! let changes = engine.subscribe();
//! let lsn = engine.identify(Some("web-7f3a"), "customer-42", Map::new())?.wait()?;
//! let events: Vec<ChangeEvent> = changes.try_iter().collect();
//! // The device's own id retired into the customer's profile, which is new: one change each.
//! assert_eq!(events.len(), 2);
//! for event in events {
//!     if let ChangeEvent::Profile(c) = event {
//!         assert_eq!(c.lsn, lsn);
//!         assert_eq!(c.primary_cid, Some(Cid::parse("customer-42")?));
//!         assert_eq!(c.uids[0].uid, Uid::parse("web-7f3a")?);
//!     }
//! }
//! # engine.close()
//! # }
//! ```
//!
//! # What blocks, and async callers
//!
//! - [`Engine::open`] blocks while it recovers (the log's tail folded, the store caught up or
//!   rebuilt); [`Engine::close`] blocks until everything queued is written and the threads end.
//! - A write call blocks only while the write queue is full (`EngineConfig::queue_capacity`
//!   requests: back-pressure); it returns once the record is queued, not written.
//! - [`Ticket::wait`] / [`Ticket::wait_range`] block until the write is durable and folded. In
//!   async code, await the ticket instead (`ticket.await`, [`Ticket::wait_range_async`]):
//!   runtime-agnostic futures woken by the writer thread, no thread blocked.
//! - Reads of the fold ([`Engine::profile_by_cid`], [`Engine::explain_uid`], [`Engine::read`],
//!   [`Engine::stats`], …) take the fold's read lock: they wait while the writer folds a frame
//!   (microseconds to milliseconds) and never for the disk. [`Engine::as_of`] and
//!   [`Engine::history`] read the log; the `stored_profile_*` reads read the store.
//! - [`Engine::wait_stored`] blocks until the store has caught up (it trails the log by at most
//!   `EngineConfig::store_lag_max_records`).
//!
//! So an async service awaits its tickets, and can call the write calls and reads from its tasks
//! directly; one that must never block a runtime thread (a full queue under overload) calls the
//! write calls from a blocking pool.
//!
//! **Architecture invariant:** nothing is acknowledged that is not durable (per the durability
//! setting) and folded; a failed write or fsync poisons the engine: every pending and later write
//! returns [`EngineError::Poisoned`].
//!
//! **Architecture invariant:** the store is never on the acknowledgement path; it trails the log
//! by at most `store_lag_max_records` (the writer waits beyond that).

mod changes;
mod config;
pub mod data_dir;
mod engine;
mod error;
mod open;
mod read_only;
mod reads;
mod rebuild;
mod repair;
pub mod snapshot_file;
mod snapshots;
mod stats;
mod store_open;
mod store_thread;
mod store_writes;
mod subscription;
mod ticket;
mod verify;
mod write_at;
mod writer;

pub use changes::{ChangeEvent, ChangeKind, ProfileChange, CHANGE_UIDS_MAX};
pub use config::EngineConfig;
pub use data_dir::FOLD_CONFIG_FILE;
pub use engine::Engine;
pub use error::EngineError;
pub use reads::HISTORY_GAP_RECORDS;
pub use rebuild::{rebuild, RebuildReport};
pub use repair::{repair, RepairReport};
pub use stats::{OpenReport, Stats};
pub use subscription::{Subscription, SubscriptionEnded, SUBSCRIBER_CHANGES_MAX};
pub use ticket::{Ticket, TicketFuture, TicketRangeFuture};
pub use verify::{fold_to_end, verify, VerifyReport};
pub use write_at::WriteAt;

// What the engine's API mentions, from the crates below it: a caller depends on `idres` alone.
pub use idres_log::{Durability, LogError, Lsn, ReadOnlyLog, TailRecovery, VerifyReport as LogVerifyReport};
pub use idres_model::{
    limits, Cid, CodecError, DeviceInfo, DeviceRef, Entry, HistoryEvent, IdError, IdKind, Map, Profile, ProfileKind,
    Record, RecordError, RecordKind, SessionsSummary, Target, TimeError, Timestamp, Uid, Value, ValueError,
};
pub use idres_resolve::{
    ApplyError, Change, Config as FoldConfig, EdgeKind, Explanation, ForgottenRejections, ImplicitReset, NodeRef,
    OnCidConflict, PathStep, ProfileSummary, Reason, Rejection, Resolver, SessionInfo, NODE_SESSIONS_MAX,
    REJECTIONS_KEPT_MAX, SESSION_GAP_DEFAULT,
};
pub use idres_store::{FjallOptions, SledOptions, StoreBackend, StoreError};
pub use uuid::Uuid;

/// The everyday names of an embedding service: `use idres::prelude::*;`.
///
/// The engine and its errors, the ids, values and records a write takes, and what the reads
/// return. Everything else is at the crate root.
pub mod prelude {
    pub use crate::{
        Change, ChangeEvent, ChangeKind, Cid, Engine, EngineConfig, EngineError, Explanation, Lsn, Map, Profile,
        ProfileChange, ProfileKind, Record, Subscription, Target, Ticket, Timestamp, Uid, Value,
    };
}
