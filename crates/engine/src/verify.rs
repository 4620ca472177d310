//! `verify`: every frame, every snapshot and the store of a data directory checked against one
//! fold from scratch, changing nothing.
//!
//! Owns: what an audit checks and in which order — (1) every segment header and frame checksum
//! (damage anywhere but an unacknowledged torn tail is an error); (2) that what the snapshots and
//! the store have seen is still in the log; (3) the fold from scratch and its digest; (4) each
//! snapshot restored and folded to the end, its digest compared (a snapshot of another log is a
//! problem); (5) the store's applied LSN. Nothing is written, no lock is taken: it runs beside a
//! live engine. Does not own: how the findings are printed (the `idres` binary).

use std::path::Path;

use crate::store_open::{recorded_backend, Recorded};
use idres_log::{lsn_range, Lsn, ReadOnlyLog, VerifyReport as LogVerifyReport};
use idres_model::CODEC_ID;
use idres_resolve::{Config, Resolver, SnapshotError};

use crate::data_dir::DataDir;
use crate::error::{chain, encoded_error, io};
use crate::snapshot_file::{log_id_hex, SnapshotFile};
use crate::EngineError;

/// What [`verify`] found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifyReport {
    /// What the log's own check found (segments, frames, LSNs, a torn tail).
    pub log: LogVerifyReport,
    /// Records folded from scratch.
    pub records: u64,
    /// The digest of the fold from scratch: what every snapshot and replay must reach.
    pub digest: [u8; 32],
    /// What was checked and found sound, or not checked and why, in the order it was checked.
    pub notes: Vec<String>,
    /// What is wrong. Empty: the data directory is sound.
    pub problems: Vec<String>,
}

impl VerifyReport {
    /// True if nothing is wrong.
    pub fn is_ok(&self) -> bool {
        self.problems.is_empty()
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Folds the read-only `log` from `r`'s next LSN to its end as it was opened (an audit replay:
/// no change stream), calling `progress(done, total)` per frame. Returns the fold and the records
/// folded. A writer that appends meanwhile is not followed: what was checked is what is folded,
/// and a frame it is still writing is never read.
pub fn fold_to_end(
    log: &ReadOnlyLog,
    r: Resolver,
    progress: &mut dyn FnMut(u64, u64),
) -> Result<(Resolver, u64), EngineError> {
    fold_to(log, r, log.end_lsn(), progress)
}

/// [`fold_to_end`], but only up to `end` (at most the log's end as opened; a frame boundary, as
/// an end some earlier open of the same log found is).
fn fold_to(
    log: &ReadOnlyLog,
    mut r: Resolver,
    end: Lsn,
    progress: &mut dyn FnMut(u64, u64),
) -> Result<(Resolver, u64), EngineError> {
    let end = end.min(log.end_lsn());
    let total = end.saturating_sub(r.next_lsn());
    // An audit reads the result, not the change stream.
    r.set_change_tracking(false);
    let mut reader = log.reader(r.next_lsn())?;
    let mut n = 0u64;
    // Frames are whole batches and the end as opened lies between two of them.
    while r.next_lsn() < end {
        let Some(frame) = reader.next_frame()? else { break };
        for (lsn, bytes) in frame.records() {
            r.apply_encoded(lsn, frame.schema, bytes).map_err(|e| encoded_error(lsn, e))?;
            n += 1;
        }
        r.drain_changes().for_each(drop);
        progress(n, total);
    }
    Ok((r, n))
}

/// The store's applied LSN, if there is a store: `Ok(None)` for none or not checked (noted).
fn store_seen(dir: &DataDir, notes: &mut Vec<String>, problems: &mut Vec<String>) -> Option<Lsn> {
    let store_dir = dir.store_dir();
    if !store_dir.exists() {
        return None;
    }
    let backend = match recorded_backend(dir) {
        Ok(Recorded::Backend(b)) => b,
        Ok(Recorded::Nothing) => return None,
        Ok(Recorded::Unknown(text)) => {
            problems.push(format!(
                "{} names no store backend ({text}) (rebuild fixes it)",
                dir.store_backend_file().display()
            ));
            return None;
        }
        Err(e) => {
            problems.push(format!("store: {}", chain(&e)));
            return None;
        }
    };
    match backend.open(&store_dir) {
        Ok(s) => match s.applied_lsn() {
            Ok(a) => a,
            Err(e) => {
                problems.push(format!("store damaged: {} (rebuild fixes it)", chain(&e)));
                None
            }
        },
        // A lock held by a running engine, or permissions: not damage, and not checked.
        Err(e) if e.is_io() => {
            notes.push(format!("store: not checked ({})", chain(&e)));
            None
        }
        Err(e) => {
            problems.push(format!("store unreadable: {} (rebuild fixes it)", chain(&e)));
            None
        }
    }
}

/// Verifies the data directory `dir` under the fold config `fold`. `progress(done, total)` is
/// called as the fold from scratch goes. Damage in the log (before an unacknowledged torn tail)
/// is an error; everything else found is in the report.
pub fn verify(
    dir: impl AsRef<Path>,
    fold: &Config,
    progress: &mut dyn FnMut(u64, u64),
) -> Result<VerifyReport, EngineError> {
    let dir = DataDir::new(dir.as_ref());
    let log_dir = dir.log_dir();
    if !log_dir.is_dir() {
        return Err(EngineError::Invalid(format!("{} holds no log", dir.root().display())));
    }
    let mut notes = Vec::new();
    let mut problems = Vec::new();
    // The snapshots before the log: one that a live writer adds meanwhile would be past the end
    // of the log as read, and pass for lost records.
    let mut snaps = dir.snapshots()?;
    snaps.reverse();
    // 1. Every frame's checksum, every segment header.
    let frames = idres_log::verify(&log_dir, Some(CODEC_ID))?;
    for (segment, offset) in &frames.stray_bytes {
        notes.push(format!(
            "warning: bytes past the last frame of sealed segment {} at byte offset {offset}: not data (never read), left as they are",
            segment.display()
        ));
    }
    let log = ReadOnlyLog::open(&log_dir, Some(CODEC_ID))?;
    // The end the frame check saw: a writer may have appended since, and what is folded and
    // compared must be what was checked.
    let log_end = log.end_lsn().min(frames.end_lsn);
    let log_id = log.log_id();
    // 2. What the snapshots and the store have seen was acknowledged: the log must still hold it.
    let store_seen = store_seen(&dir, &mut notes, &mut problems);
    let seen = snaps.iter().map(|(l, _)| *l).chain(store_seen).max().unwrap_or(0);
    let where_it_ends = match &log.torn_tail {
        Some((seg, offset, problem)) => format!("in {} at byte offset {offset} ({problem})", seg.display()),
        None => "cleanly".to_string(),
    };
    if seen > log_end {
        problems.push(format!(
            "acknowledged records were lost: the snapshots or the store hold {}, but the log's valid frames hold {}, ending {where_it_ends}",
            lsn_range(0, seen),
            lsn_range(0, log_end)
        ));
    } else if log.torn_tail.is_some() {
        // Not damage: a write that was never acknowledged (a crash mid-append); the next open cuts it.
        notes.push(format!("the log ends {where_it_ends}: an unacknowledged write, cut on the next open"));
    }
    // 3. The fold from scratch.
    let (scratch, records) = fold_to(&log, Resolver::new(fold.clone()), log_end, progress)?;
    let digest = scratch.digest();
    // Sessions are outside the state digest (old logs keep their pinned digests): compared apart.
    let sessions_digest = scratch.sessions_digest();
    drop(scratch);
    notes.push(format!("from scratch: {records} records, digest {}", hex(&digest)));
    // 4. Each snapshot, oldest first.
    for (lsn, path) in snaps {
        if lsn > log_end {
            problems.push(format!(
                "snapshot {} holds {}, past the log's {}",
                path.display(),
                lsn_range(0, lsn),
                lsn_range(0, log_end)
            ));
            continue;
        }
        let bytes = match std::fs::read(&path) {
            Ok(bytes) => bytes,
            // Pruned by a running engine while the log was folded: nothing to check.
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                notes.push(format!("snapshot {}: removed (by a running engine) before it was checked", path.display()));
                continue;
            }
            Err(e) => return Err(io("read snapshot", &path)(e)),
        };
        let file = match SnapshotFile::parse(&bytes) {
            Ok(file) => file,
            Err(e) => {
                problems.push(format!("snapshot {} is damaged: {e} (a cache: rebuild replaces it)", path.display()));
                continue;
            }
        };
        if let Some(id) = file.log_id().filter(|id| Some(*id) != log_id) {
            problems.push(format!(
                "snapshot {} is of log {}, not of this data directory's log {} ({}): rebuild replaces it",
                path.display(),
                log_id_hex(&id),
                log_id.map_or_else(|| "(empty)".to_string(), |l| log_id_hex(&l)),
                log_dir.display()
            ));
            continue;
        }
        match Resolver::restore(file.snapshot(), fold.clone()) {
            Ok(r) => {
                let (r, _) = fold_to(&log, r, log_end, &mut |_, _| {})?;
                let d = r.digest();
                if d != digest {
                    problems.push(format!("snapshot {}: digest {} differs", path.display(), hex(&d)));
                } else if r.sessions_digest() != sessions_digest {
                    problems.push(format!("snapshot {}: its sessions differ from the replay's", path.display()));
                } else {
                    notes.push(format!("snapshot {}: digest agrees", path.display()));
                }
            }
            Err(e @ SnapshotError::ConfigMismatch { .. }) => {
                notes.push(format!("snapshot {}: folded under another config; not used ({e})", path.display()))
            }
            Err(
                e @ (SnapshotError::Version { .. }
                | SnapshotError::RejectionsKeptMax { .. }
                | SnapshotError::WithoutSessions { .. }),
            ) => notes.push(format!("snapshot {}: written by another build; not used ({e})", path.display())),
            Err(e) => {
                problems.push(format!("snapshot {} is damaged: {e} (a cache: rebuild replaces it)", path.display()))
            }
        }
    }
    // 5. The store's position.
    if let Some(a) = store_seen.filter(|&a| a <= log_end) {
        notes.push(format!("store: holds {}", lsn_range(0, a)));
    }
    Ok(VerifyReport { log: frames, records, digest, notes, problems })
}
