//! `idres rebuild`: the store and the snapshots rebuilt from the log (`idres::rebuild`).

use anyhow::Context;
use idres::EngineConfig;

use crate::flags::Cli;
use idres_cli::config::Settings;

use crate::session::{record_config, settings};

/// Rebuilds the data directory under the config in force.
/// With `json`, one object instead of text: `records`, `profiles`, `snapshot_lsn` (the LSN the
/// new snapshot covers up to, or null), `store_profiles_written`, `store_keys_written`, `seconds`,
/// `events` (what the open said, in words).
pub(crate) fn run(cli: &Cli, progress: bool, json: bool) -> anyhow::Result<()> {
    let (Settings { fold, store }, text) = settings(cli)?;
    // The rebuild is one engine open: its steps are reported as it starts and when it is over.
    let started = std::time::Instant::now();
    if progress {
        eprintln!("rebuild: folding the log and writing the store and a snapshot ...");
    }
    let report = idres::rebuild(cli.data(), EngineConfig { fold, store, ..EngineConfig::default() })
        .with_context(|| format!("rebuild {}", cli.data().display()))?;
    if let Some(text) = text {
        record_config(&cli.data(), &text)?;
    }
    if progress {
        eprintln!("rebuild: done in {:.1} s", started.elapsed().as_secs_f64());
    }
    let s = report.stats;
    if json {
        let j = serde_json::json!({
            "records": s.folded_lsn,
            "profiles": s.profiles,
            "snapshot_lsn": report.open.snapshot_lsn,
            "store_profiles_written": report.open.store_profiles_written,
            "store_keys_written": report.open.store_keys_written,
            "seconds": started.elapsed().as_secs_f64(),
            "events": report.open.events,
        });
        say!("{j}");
        return Ok(());
    }
    if crate::output::quiet() {
        return Ok(());
    }
    for event in &report.open.events {
        crate::output::note(event);
    }
    say!("rebuilt the store and a snapshot from {} records: {} profiles", s.folded_lsn, s.profiles);
    Ok(())
}
