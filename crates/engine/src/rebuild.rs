//! `rebuild`: the store and the snapshots of a data directory made anew from its log.
//!
//! The engine deletes the snapshots and clears the store only once the log is open and known to
//! hold everything they have seen (a damaged log keeps its evidence); the store-rebuild marker
//! keeps the acknowledged count while the store is rewritten ([`crate::Engine::open`], step 7).

use std::path::Path;

use crate::{Engine, EngineConfig, EngineError, OpenReport, Stats};

/// What [`rebuild`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RebuildReport {
    /// What the rebuilding open found and did.
    pub open: OpenReport,
    /// The engine's counters after the rebuild (records folded, profiles, store written).
    pub stats: Stats,
}

/// Folds the whole log of `dir` and rewrites its store and snapshots (`EngineConfig::rebuild`),
/// then closes the engine. The engine must not be open elsewhere (the log's lock is taken).
pub fn rebuild(dir: impl AsRef<Path>, config: EngineConfig) -> Result<RebuildReport, EngineError> {
    let engine = Engine::open(dir, EngineConfig { rebuild: true, ..config })?;
    let open = engine.open_report().clone();
    let closed = engine.close();
    let stats = engine.stats();
    closed?;
    Ok(RebuildReport { open, stats })
}
