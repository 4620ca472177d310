//! `idres rebuild`: the store and the snapshots rebuilt from the log.

use crate::flags::Cli;
use crate::session::open_engine_with;

/// Opens the engine with `rebuild` and closes it.
pub(crate) fn run(cli: &Cli) -> anyhow::Result<()> {
    // The engine deletes the snapshots and clears the store only once the log is open and
    // known to hold everything they have seen (a damaged log keeps its evidence).
    let engine = open_engine_with(cli, true)?;
    let s = engine.stats();
    engine.close()?;
    say!("rebuilt the store and a snapshot from {} records: {} profiles", s.folded_lsn, s.profiles);
    Ok(())
}
