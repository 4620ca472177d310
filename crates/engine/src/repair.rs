//! `repair`: the log cut after an LSN the operator chose (after `verify` named damage), and
//! everything that has seen past the cut removed first.
//!
//! Owns: the order of a repair's steps, chosen so that a repair killed or failed at any point
//! leaves a data directory that opens or that the same repair, run again, finishes:
//! 1. snapshots past the cut are removed (each removal durable);
//! 2. the store-rebuild marker is removed (it holds how many records had been acknowledged, which
//!    the cut makes untrue; a damaged one goes too);
//! 3. the store is removed (the next open rebuilds it from the log);
//! 4. only then is the log cut (`idres_log::repair`, crash-safe on its own).
//!
//! All four run under the log's lock, and only once the log has checked that the cut is sound:
//! a repair refused (the engine open elsewhere, an LSN inside a batch, damage before the cut)
//! removes nothing. Before the log is cut, nothing that remains has seen past the end the log
//! will have; the steps before the cut remove only caches of the log. The other order (log first) could be
//! killed with the log cut and a newer snapshot in place: "acknowledged records lost" on every
//! open after.

use std::path::{Path, PathBuf};

use idres_io::Site;
use idres_log::{Lsn, RepairReport as LogRepairReport};

use crate::data_dir::{remove_file_durably, sync_dir, DataDir};
use crate::error::io;
use crate::EngineError;

/// What [`repair`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RepairReport {
    /// Snapshot files removed (they had seen past the cut).
    pub removed_snapshots: Vec<PathBuf>,
    /// The store-rebuild marker was removed.
    pub removed_marker: bool,
    /// The store was removed (the next open rebuilds it).
    pub removed_store: bool,
    /// What the log's repair did.
    pub log: LogRepairReport,
}

/// Steps 1–3: what has seen LSN `end` or later. Returns the snapshots removed and whether the
/// marker and the store were.
fn remove_what_saw_past(dir: &DataDir, end: Lsn) -> Result<(Vec<PathBuf>, bool, bool), EngineError> {
    // 1. Snapshots that have seen past the cut.
    let mut removed_snapshots = Vec::new();
    for (lsn, path) in dir.snapshots()? {
        if lsn > end {
            idres_io::remove_file(Site::Snapshot, &path).map_err(io("remove snapshot", &path))?;
            removed_snapshots.push(path);
        }
    }
    if !removed_snapshots.is_empty() {
        sync_dir(&dir.snapshots_dir())?;
    }
    // 2. The marker of an interrupted store rebuild.
    let removed_marker = remove_file_durably(Site::Marker, &dir.store_rebuild_marker())?;
    // 3. The store.
    let store = dir.store_dir();
    let removed_store = match std::fs::remove_dir_all(&store) {
        Ok(()) => {
            sync_dir(dir.root())?;
            true
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => false,
        Err(e) => return Err(io("remove the store", &store)(e)),
    };
    // With the store goes the record of its backend (the next open records its own).
    remove_file_durably(Site::Marker, &dir.store_backend_file())?;
    dir.remove_temp_files()?;
    Ok((removed_snapshots, removed_marker, removed_store))
}

/// Cuts the log of the data directory `dir` after `after` (it keeps LSNs `0..=after`), having
/// first removed what saw past the cut. The engine must not be open: the log's lock is taken
/// first, and nothing is removed unless the cut is sound (a batch boundary, no damage before
/// it). Run again after a failure or a kill: every step is idempotent.
pub fn repair(dir: impl AsRef<Path>, after: Lsn) -> Result<RepairReport, EngineError> {
    let dir = DataDir::new(dir.as_ref());
    if let Err(detail) = dir.check_is_directory() {
        return Err(EngineError::Invalid(detail));
    }
    if !dir.log_dir().is_dir() {
        return Err(EngineError::Invalid(format!("{} holds no log", dir.root().display())));
    }
    let end = after.checked_add(1).ok_or_else(|| EngineError::Invalid(format!("LSN {after} is out of range")))?;
    let mut removed = (Vec::new(), false, false);
    // Under the log's lock, once the cut is known to be sound (a batch boundary, no damage before
    // it): steps 1–3, then the log's own cut (step 4). A repair that cannot go ahead (the engine
    // is open elsewhere, the LSN is inside a batch) removes nothing.
    let log = idres_log::repair_with(dir.log_dir(), Some(after), || -> Result<(), EngineError> {
        removed = remove_what_saw_past(&dir, end)?;
        Ok(())
    })?;
    let (removed_snapshots, removed_marker, removed_store) = removed;
    Ok(RepairReport { removed_snapshots, removed_marker, removed_store, log })
}
