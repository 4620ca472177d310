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
//! ```
//! use idres::{Engine, EngineConfig};
//! use idres_model::Map;
//!
//! # fn main() -> Result<(), idres::EngineError> {
//! # let tmp = tempfile::tempdir().map_err(|e| idres::EngineError::Invalid(e.to_string()))?;
//! let engine = Engine::open(tmp.path(), EngineConfig::default())?;
//! engine.track_uid("web-7f3a", "page_view", Map::new())?.wait()?;
//! let lsn = engine.identify(Some("web-7f3a"), "customer-42", Map::new())?.wait()?;
//! let profile = engine.profile_by_cid("customer-42")?.expect("just identified");
//! assert_eq!(profile.event_count, 1); // the anonymous past joined the customer
//! engine.wait_stored(lsn)?; // the persisted read model has it too
//! engine.close()?;
//! # Ok(())
//! # }
//! ```
//!
//! **Architecture invariant:** nothing is acknowledged that is not durable (per the durability
//! setting) and folded; a failed write or fsync poisons the engine: every pending and later write
//! returns [`EngineError::Poisoned`].
//!
//! **Architecture invariant:** the store is never on the acknowledgement path; it trails the log
//! by at most `store_lag_max_records` (the writer waits beyond that).

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
mod ticket;
mod verify;
mod writer;

pub use config::EngineConfig;
pub use data_dir::FOLD_CONFIG_FILE;
pub use engine::{Engine, SUBSCRIBER_CHANGES_MAX};
pub use error::EngineError;
pub use idres_log::{Durability, TailRecovery};
pub use idres_store::{FjallOptions, SledOptions, StoreBackend};
pub use reads::HISTORY_GAP_RECORDS;
pub use rebuild::{rebuild, RebuildReport};
pub use repair::{repair, RepairReport};
pub use stats::{OpenReport, Stats};
pub use ticket::Ticket;
pub use verify::{fold_to_end, verify, VerifyReport};
