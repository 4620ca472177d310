//! `idres repair`: the log cut after an LSN (after `verify` named damage), and what saw past the
//! cut removed.

use std::fs;
use std::path::Path;

use anyhow::Context;

/// Cuts the log after `after`.
pub(crate) fn run(data: &Path, after: u64) -> anyhow::Result<()> {
    let report = idres_log::repair(data.join("log"), Some(after)).context("repair")?;
    // Snapshots and a store that saw past the cut would make open refuse the directory.
    let end = after + 1;
    let snaps = data.join("snapshots");
    if let Ok(entries) = fs::read_dir(&snaps) {
        for e in entries.flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            let lsn = name.strip_suffix(".snap").and_then(|n| n.parse::<u64>().ok());
            if lsn.is_some_and(|l| l > end) || name.ends_with(".tmp") {
                fs::remove_file(e.path()).with_context(|| format!("remove {}", e.path().display()))?;
                say!("removed snapshot {name} (past the cut)");
            }
        }
    }
    let store = data.join("store");
    if store.exists() {
        fs::remove_dir_all(&store).with_context(|| format!("remove {}", store.display()))?;
        say!("removed the store; the next open rebuilds it");
    }
    say!("{report:?}");
    Ok(())
}
