//! `idres rejects`: every record the fold refused, and why.

use std::io::Write;

use idres::Engine;
use idres_cli::json::reject_json;

/// Prints every rejection, as text or JSON.
pub(crate) fn run(engine: &Engine, out: &mut impl Write, json: bool) -> anyhow::Result<()> {
    let rejections = engine.read(|r| r.rejections().to_vec());
    for r in &rejections {
        if json {
            writeln!(out, "{}", reject_json(r))?;
        } else {
            writeln!(out, "{:>10}  {:<10} {:<14} {}", r.lsn, r.kind.as_str(), r.reason.as_str(), r.detail)?;
        }
    }
    Ok(())
}
