//! `idres export`: every profile, one JSON object per line, sorted by profile id.

use std::io::Write;

use idres::Engine;
use idres_cli::json::profile_json;

use crate::progress::Progress;

/// Prints every profile.
pub(crate) fn run(engine: &Engine, out: &mut impl Write, progress: bool) -> anyhow::Result<()> {
    let mut profiles = engine.read(|r| r.profiles());
    profiles.sort_by_key(|p| p.id);
    let mut bar = Progress::new(progress, profiles.len() as u64, "export");
    for (i, p) in profiles.iter().enumerate() {
        writeln!(out, "{}", profile_json(p))?;
        bar.set_position(i as u64 + 1);
    }
    bar.finish();
    Ok(())
}
