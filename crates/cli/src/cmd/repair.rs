//! `idres repair`: the log cut after an LSN (after `verify` named damage), and what saw past the
//! cut removed first (`idres::repair`).

use std::path::Path;

use anyhow::Context;

/// Cuts the log after `after`.
pub(crate) fn run(data: &Path, after: u64) -> anyhow::Result<()> {
    let report = idres::repair(data, after).context("repair (it can be run again: each step is idempotent)")?;
    for path in &report.removed_snapshots {
        tell!("removed snapshot {} (it had seen past the cut)", path.display());
    }
    if report.removed_marker {
        tell!("removed the store-rebuild marker");
    }
    if report.removed_store {
        tell!("removed the store; the next open rebuilds it");
    }
    for path in &report.log.removed_segments {
        tell!("removed segment {}", path.display());
    }
    if let Some((segment, offset)) = &report.log.cut {
        tell!("cut {} at byte offset {offset}", segment.display());
    }
    tell!("the log now holds {} ({} records)", crate::lsn::range(0, report.log.end_lsn), report.log.end_lsn);
    Ok(())
}
