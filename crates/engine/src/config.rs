//! How an engine runs: [`EngineConfig`] and its defaults.
//!
//! Owns: every knob of the engine (the fold's rules, durability, segment size, batching, the
//! write queue, snapshots, the store's lag and cadence, rebuild on open). Does not own: the fold's
//! rules themselves (`idres_resolve::Config`) or the store's options (`idres_store`).

use std::time::Duration;

use idres_log::{Durability, TailRecovery};
use idres_resolve::Config;
use idres_store::StoreBackend;

/// How an engine runs.
#[derive(Debug, Clone)]
pub struct EngineConfig {
    /// The fold's rules; their hash is in every snapshot.
    pub fold: Config,
    /// When appends are fdatasynced (default: every batch, i.e. group commit).
    pub durability: Durability,
    /// What open does with a damaged (not merely torn) end of the log: refuse (default, right for
    /// `EveryBatch`) or keep the longest valid prefix (for `Never` / `Interval`; docs/OPERATIONS.md).
    pub tail_recovery: TailRecovery,
    /// Log segment size (default 64 MiB).
    pub segment_bytes: u64,
    /// Most records the writer puts in one frame.
    pub batch_records_max: usize,
    /// Capacity of the write queue; callers block when it is full (back-pressure).
    pub queue_capacity: usize,
    /// A snapshot every this many records (and one on close); 0: only on close.
    pub snapshot_every_records: u64,
    /// Snapshots kept on disk (the newest ones).
    pub snapshots_keep: usize,
    /// The writer waits when the store trails the log by more records than this.
    pub store_lag_max_records: u64,
    /// The store thread gathers changes for this long between flushes (earlier when the lag
    /// passes half of `store_lag_max_records`), so a hot profile is written once per interval
    /// instead of once per batch. Default 100 ms.
    pub store_flush_interval: Duration,
    /// The store of the read model, with its options: fjall (default), sled, or memory (nothing
    /// persisted: tests, or services that need no read model). Recorded in the data directory;
    /// opening with another on-disk backend than the one recorded rebuilds the store.
    pub store: StoreBackend,
    /// Rebuild on open: once the log is open (locked, and checked to hold every record the store
    /// and the snapshots have seen), delete the snapshots, clear the store and fold the whole
    /// log. `idres rebuild`. Default false.
    pub rebuild: bool,
}

impl Default for EngineConfig {
    fn default() -> EngineConfig {
        EngineConfig {
            fold: Config::default(),
            durability: Durability::EveryBatch,
            tail_recovery: TailRecovery::Strict,
            segment_bytes: 64 << 20,
            batch_records_max: 4096,
            queue_capacity: 65_536,
            snapshot_every_records: 1_000_000,
            snapshots_keep: 2,
            store_lag_max_records: 1_000_000,
            store_flush_interval: Duration::from_millis(100),
            store: StoreBackend::default(),
            rebuild: false,
        }
    }
}
