//! Snapshots: the fold's state written every N records and on close, read back on open and for
//! as-of queries.
//!
//! Owns: the snapshot thread (off the acknowledgement path: the writer only wakes it, and a
//! snapshot already being written absorbs further requests), writing a snapshot file (the header
//! naming the log, then the fold's pinned snapshot bytes; atomically, fsync step 3 of
//! ARCHITECTURE.md), keeping the newest `snapshots_keep`, counting failures, and restoring one
//! (a snapshot of another log is damage, not a cache miss). Does not own: the file header's bytes
//! ([`crate::snapshot_file`]) or the fold's snapshot bytes (`idres_resolve`).

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::thread::JoinHandle;

use crossbeam_channel::{bounded, Receiver, Sender};
use idres_io::Site;
use idres_log::Lsn;
use idres_resolve::{Config, Resolver, SnapshotError};

use crate::data_dir::{sync_dir, write_atomically_parts, DataDir};
use crate::engine::Shared;
use crate::error::io;
use crate::snapshot_file::{self, log_id_hex, SnapshotFile};
use crate::EngineError;

/// Writes the fold's current state as a snapshot and keeps the newest `keep`. Returns its LSN.
fn write(shared: &Shared) -> Result<Lsn, EngineError> {
    let _writing = shared.snapshot_lock.lock().unwrap_or_else(|e| e.into_inner());
    // The fold is read under its read lock only while it is serialised; the writer folds on
    // while the file is written and synced.
    let (lsn, bytes) = {
        let r = shared.resolver();
        let bytes = r.snapshot().map_err(|e| EngineError::Snapshot {
            path: shared.dir.snapshot_path(r.next_lsn()),
            detail: e.to_string(),
        })?;
        (r.next_lsn(), bytes)
    };
    let path = shared.dir.snapshot_path(lsn);
    write_atomically_parts(Site::Snapshot, &path, &[&snapshot_file::header(shared.log_id), &bytes])?;
    prune(&shared.dir, shared.config.snapshots_keep)?;
    Ok(lsn)
}

/// Removes all but the newest `keep` (at least one) snapshots.
pub(crate) fn prune(dir: &DataDir, keep: usize) -> Result<(), EngineError> {
    let old: Vec<(Lsn, PathBuf)> = dir.snapshots()?.into_iter().skip(keep.max(1)).collect();
    for (_, path) in &old {
        idres_io::remove_file(Site::Snapshot, path).map_err(io("remove snapshot", path))?;
    }
    if !old.is_empty() {
        sync_dir(&dir.snapshots_dir())?;
    }
    Ok(())
}

/// Writes a snapshot and counts the outcome in the engine's stats. A failure loses nothing (a
/// snapshot is a cache of the log) and never poisons the engine.
fn write_counted(shared: &Shared) {
    let result = write(shared);
    let mut p = shared.progress();
    match result {
        Ok(lsn) => {
            p.snapshots_written += 1;
            p.snapshot_lsn = Some(lsn);
        }
        Err(e) => {
            p.snapshot_failures += 1;
            p.last_snapshot_failure = Some(Arc::new(e));
        }
    }
}

/// The final snapshot on close: written unless the newest snapshot on disk (restored on open,
/// or written since) is of this very state, so a read-only session writes nothing.
pub(crate) fn take_unless_on_disk(shared: &Shared) {
    let next = shared.resolver().next_lsn();
    if shared.progress().snapshot_lsn != Some(next) {
        write_counted(shared);
    }
}

/// The snapshot thread, woken by the writer.
pub(crate) struct Snapshotter {
    tx: Option<Sender<()>>,
    thread: Option<JoinHandle<()>>,
    shared: Arc<Shared>,
}

impl Snapshotter {
    /// Starts the thread. If it cannot be started, snapshots are taken on close only (and the
    /// failure is counted).
    pub(crate) fn spawn(shared: &Arc<Shared>) -> Snapshotter {
        // One request waits while one is written: more requests in between ask for nothing more.
        let (tx, rx): (Sender<()>, Receiver<()>) = bounded(1);
        let worker = Arc::clone(shared);
        let thread = std::thread::Builder::new().name("idres-snapshot".into()).spawn(move || {
            while rx.recv().is_ok() {
                write_counted(&worker);
            }
        });
        let thread = match thread {
            Ok(t) => Some(t),
            Err(e) => {
                let mut p = shared.progress();
                p.snapshot_failures += 1;
                p.last_snapshot_failure = Some(Arc::new(io("spawn snapshot thread", shared.dir.root())(e)));
                None
            }
        };
        Snapshotter { tx: thread.as_ref().map(|_| tx), thread, shared: Arc::clone(shared) }
    }

    /// Asks for a snapshot of the state as it will be when the thread gets to it; never waits.
    pub(crate) fn request(&self) {
        if let Some(tx) = &self.tx {
            let _ = tx.try_send(());
        }
    }

    /// Lets the snapshot being written finish and stops the thread.
    pub(crate) fn stop(self) {
        drop(self);
    }
}

impl Drop for Snapshotter {
    /// Also when the writer unwinds from a panic: the snapshot thread never outlives the engine
    /// (it would write or prune beside the next open).
    fn drop(&mut self) {
        drop(self.tx.take());
        if let Some(t) = self.thread.take() {
            if t.join().is_err() {
                let mut p = self.shared.progress();
                p.snapshot_failures += 1;
                p.last_snapshot_failure = Some(Arc::new(EngineError::Panicked { thread: "snapshot" }));
            }
        }
    }
}

/// Reads the snapshot file at `path` and restores the fold from it under `fold`.
///
/// `Ok(Err(why))`: the file is not usable here and is skipped (written under another config or
/// build, or damaged: a snapshot is a cache). `Err`: the file could not be read, or it names
/// another log than this data directory's (`log_id`, whose first segment is `log_file`): damage.
pub(crate) fn restore(
    path: &Path,
    log_id: [u8; 16],
    log_file: &Path,
    fold: &Config,
) -> Result<Result<Resolver, String>, EngineError> {
    let bytes = match std::fs::read(path) {
        Ok(bytes) => bytes,
        // Pruned by a running engine between the listing and the read (a reader beside a live
        // writer): not there to be used, and not damage.
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Err("removed while being read".into())),
        Err(e) => return Err(io("read snapshot", path)(e)),
    };
    let file = match SnapshotFile::parse(&bytes) {
        Ok(f) => f,
        Err(why) => return Ok(Err(why)),
    };
    if let Some(id) = file.log_id() {
        if id != log_id {
            return Err(EngineError::Damaged {
                path: path.to_path_buf(),
                detail: format!(
                    "a snapshot of log {}, but this data directory's log is log {} ({}): a file copied in from another data directory",
                    log_id_hex(&id),
                    log_id_hex(&log_id),
                    log_file.display()
                ),
            });
        }
    }
    Ok(Resolver::restore(file.snapshot(), fold.clone()).map_err(|e| match e {
        SnapshotError::ConfigMismatch { found, expected } => format!(
            "folded under another fold config (config hash {found}, this config {expected}): a changed rule, or an \
             upgrade's new default (docs/OPERATIONS.md), applies to all history, so the log is folded again"
        ),
        e => e.to_string(),
    }))
}
