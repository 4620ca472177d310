//! `idres export`: every profile, one JSON object per line, sorted by profile id.

use std::io::Write;

use idres::Engine;
use idres_cli::json::profile_json;

/// Prints every profile.
pub(crate) fn run(engine: &Engine, out: &mut impl Write) -> anyhow::Result<()> {
    let mut profiles = engine.read(|r| r.profiles());
    profiles.sort_by_key(|p| p.id);
    for p in &profiles {
        writeln!(out, "{}", profile_json(p))?;
    }
    Ok(())
}
