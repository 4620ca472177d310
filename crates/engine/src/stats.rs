//! What an engine tells about itself: [`OpenReport`] (what open found and did) and [`Stats`]
//! (counters of a running engine).

use std::time::Duration;

use idres_log::Lsn;

/// What open found and did (for the service's log).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OpenReport {
    /// Each thing recovery did, in words.
    pub events: Vec<String>,
    /// The LSN the restored snapshot continued at (`None`: folded from scratch).
    pub snapshot_lsn: Option<Lsn>,
    /// Records folded from the log on open.
    pub folded_records: u64,
    /// True if the store was rebuilt from the fold: it was missing while the log held records, or
    /// damaged, older than the restored state, written under another fold config or by another
    /// backend, an interrupted rebuild's, or `EngineConfig::rebuild` asked. False when it was
    /// caught up, and when it was simply created: a fresh data directory (an empty log).
    pub store_rebuilt: bool,
    /// Profiles (and retired ids) open wrote to the store: those the records it had not seen
    /// changed, or every one on a rebuild.
    pub store_profiles_written: u64,
    /// Keys those writes set or removed: a profile each, two per redirect (the profile removed,
    /// the redirect set), an index entry per new or moved node, the applied LSN per batch.
    pub store_keys_written: u64,
}

/// Counters of a running engine.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Stats {
    /// Records appended and folded (the next LSN).
    pub folded_lsn: Lsn,
    /// Records reflected in the store.
    pub stored_lsn: Lsn,
    /// Records the store trails the log by.
    pub store_lag: u64,
    /// Current profiles.
    pub profiles: usize,
    /// Rejected records, kept or forgotten.
    pub rejections: usize,
    /// Of those, how many the fold no longer keeps in full (older than the newest
    /// `idres_resolve::REJECTIONS_KEPT_MAX`; counted by reason in
    /// `Resolver::rejections_forgotten`).
    pub rejections_forgotten: u64,
    /// Profiles (and retired-id redirects) the store thread has written since open.
    pub store_profiles_written: u64,
    /// Keys those writes set or removed (counted as [`OpenReport::store_keys_written`] is).
    pub store_keys_written: u64,
    /// Flushes (atomic batches) the store thread has written since open.
    pub store_flushes: u64,
    /// Time the store thread has spent materialising and writing since open: with
    /// `store_profiles_written` it gives the store's rate.
    pub store_busy: Duration,
    /// Snapshots written since open.
    pub snapshots_written: u64,
    /// Snapshots that could not be written since open (a snapshot is a cache: nothing is lost,
    /// the next open folds more of the log). [`crate::Engine::last_snapshot_failure`] says why.
    pub snapshot_failures: u64,
    /// Live subscriptions ([`crate::Engine::subscribe`]; one its owner dropped counts until the
    /// writer next publishes).
    pub subscribers: usize,
    /// Change events dropped since open because a subscription was full
    /// ([`crate::SUBSCRIBER_CHANGES_MAX`] behind), summed over every subscription: each
    /// subscription was told with a [`crate::ChangeEvent::Lagged`] (its own count:
    /// [`crate::Subscription::lagged`]). Above 0, some subscriber reads slower than the engine
    /// writes.
    pub changes_dropped: u64,
}
