//! `idres verify`: every frame, every snapshot and the store checked against one fold from
//! scratch; exit 0 only if all agree.

use std::fs;
use std::path::{Path, PathBuf};

use anyhow::Context;
use idres::snapshot_file::SnapshotFile;
use idres_model::CODEC_ID;
use idres_resolve::{Config, Resolver};

use crate::exit;
use crate::session::{fold_from, hex, open_log_for_reading};

/// Verifies the data directory `data` under `config`.
pub(crate) fn run(data: &Path, config: &Config, progress: bool) -> anyhow::Result<()> {
    let mut problems = Vec::new();
    let log_dir = data.join("log");
    // Every frame's checksum, every segment header: damage anywhere but the tail is an error here.
    let frames = idres_log::verify(&log_dir, Some(CODEC_ID)).map_err(|e| exit(3, format!("verify: {e}")))?;
    say!("log: {} segments, {} frames, LSN {}..{}", frames.segments, frames.frames, frames.start_lsn, frames.end_lsn);
    let log = open_log_for_reading(data)?;
    let log_end = log.end_lsn();
    // What the snapshots and the store have seen was acknowledged: the log must still hold it.
    let mut snaps: Vec<(u64, PathBuf)> = fs::read_dir(data.join("snapshots"))
        .map(|d| {
            d.flatten()
                .filter_map(|e| {
                    let name = e.file_name().to_string_lossy().into_owned();
                    name.strip_suffix(".snap").and_then(|n| n.parse::<u64>().ok()).map(|l| (l, e.path()))
                })
                .collect()
        })
        .unwrap_or_default();
    snaps.sort();
    let store_dir = data.join("store");
    let store_seen = if store_dir.exists() {
        match idres_store::SledStore::open(&store_dir, &idres_store::SledOptions::default()) {
            Ok(s) => match idres_store::ProfileStore::applied_lsn(&s) {
                Ok(a) => a,
                Err(e) => {
                    problems.push(format!("store damaged: {e} (rebuild fixes it)"));
                    None
                }
            },
            // A lock held by a running engine, or permissions: not damage, and not checked.
            Err(e) if e.is_io() => {
                say!("store: not checked ({e})");
                None
            }
            Err(e) => {
                problems.push(format!("store unreadable: {e} (rebuild fixes it)"));
                None
            }
        }
    } else {
        None
    };
    let seen = snaps.iter().map(|(l, _)| *l).chain(store_seen).max().unwrap_or(0);
    let where_it_ends = match &log.torn_tail {
        Some((seg, offset, problem)) => format!("in {} at byte offset {offset} ({problem})", seg.display()),
        None => "cleanly".to_string(),
    };
    if seen > log_end {
        problems.push(format!(
            "acknowledged records were lost: the snapshots or the store have seen LSN {seen}, but the log's valid frames end at LSN {log_end}, {where_it_ends}"
        ));
    } else if log.torn_tail.is_some() {
        // Not damage: a write that was never acknowledged (a crash mid-append); the next open cuts it.
        say!("note: the log ends {where_it_ends}: an unacknowledged write, cut on the next open");
    }
    let (scratch, n) = fold_from(&log, Resolver::new(config.clone()), progress)?;
    let digest = scratch.digest();
    say!("from scratch: {n} records, digest {}", hex(&digest));
    for (lsn, path) in snaps {
        if lsn > log_end {
            problems.push(format!("snapshot {} has seen LSN {lsn}, past the log's end {log_end}", path.display()));
            continue;
        }
        let bytes = fs::read(&path).with_context(|| format!("read {}", path.display()))?;
        let file = match SnapshotFile::parse(&bytes) {
            Ok(file) => file,
            Err(e) => {
                problems.push(format!("snapshot {} is damaged: {e} (a cache: rebuild replaces it)", path.display()));
                continue;
            }
        };
        match Resolver::restore(file.snapshot(), config.clone()) {
            Ok(r) => {
                let (r, _) = fold_from(&log, r, false)?;
                let d = r.digest();
                if d == digest {
                    say!("snapshot {}: digest agrees", path.display());
                } else {
                    problems.push(format!("snapshot {}: digest {} differs", path.display(), hex(&d)));
                }
            }
            Err(e @ idres_resolve::SnapshotError::ConfigMismatch { .. }) => {
                say!("snapshot {}: folded under another config; not used ({e})", path.display())
            }
            Err(e @ idres_resolve::SnapshotError::Version { .. }) => {
                say!("snapshot {}: written by another build; not used ({e})", path.display())
            }
            Err(e) => {
                problems.push(format!("snapshot {} is damaged: {e} (a cache: rebuild replaces it)", path.display()))
            }
        }
    }
    if let Some(a) = store_seen {
        if a <= log_end {
            say!("store: at LSN {a}");
        }
    }
    say!("digest {}", hex(&digest));
    if problems.is_empty() {
        say!("verify: ok");
        Ok(())
    } else {
        for p in &problems {
            say!("problem: {p}");
        }
        Err(exit(3, format!("verify found {} problem(s): {}", problems.len(), problems.join("; "))))
    }
}
