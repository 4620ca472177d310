//! `idres rebuild`: the store and the snapshots rebuilt from the log (`idres::rebuild`).

use anyhow::Context;
use idres::EngineConfig;

use crate::flags::Cli;
use idres_cli::config::Settings;

use crate::session::{record_config, settings};

/// Rebuilds the data directory under the config in force.
pub(crate) fn run(cli: &Cli, progress: bool) -> anyhow::Result<()> {
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
    for event in &report.open.events {
        eprintln!("idres: {event}");
    }
    if progress {
        eprintln!("rebuild: done in {:.1} s", started.elapsed().as_secs_f64());
    }
    let s = report.stats;
    say!("rebuilt the store and a snapshot from {} records: {} profiles", s.folded_lsn, s.profiles);
    Ok(())
}
