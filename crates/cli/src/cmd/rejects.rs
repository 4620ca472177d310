//! `idres rejects`: every record the fold refused, and why.

use std::io::Write;

use idres::Engine;
use idres_cli::json::{forgotten_json, forgotten_words, reject_json};
use idres_resolve::REJECTIONS_KEPT_MAX;

use crate::output::{paint, Paint};

/// Prints every rejection the fold keeps, as text or JSON; first, if the fold forgot older ones
/// ([`REJECTIONS_KEPT_MAX`]), how many, by reason (JSON: one object with `rejections_forgotten`).
pub(crate) fn run(engine: &Engine, out: &mut impl Write, json: bool) -> anyhow::Result<()> {
    let (rejections, forgotten) =
        engine.read(|r| (r.rejections().iter().cloned().collect::<Vec<_>>(), r.rejections_forgotten().clone()));
    if !forgotten.is_empty() {
        if json {
            writeln!(out, "{}", forgotten_json(&forgotten))?;
        } else {
            writeln!(
                out,
                "{} older rejections not kept (REJECTIONS_KEPT_MAX = {REJECTIONS_KEPT_MAX}): {}",
                forgotten.count(),
                forgotten_words(&forgotten)
            )?;
        }
    }
    if !json && !rejections.is_empty() {
        writeln!(
            out,
            "{}",
            paint(Paint::Heading, &format!("{:>10}  {:<10} {:<14} {}", "LSN", "RECORD", "REASON", "WHY"))
        )?;
    }
    for r in &rejections {
        if json {
            writeln!(out, "{}", reject_json(r))?;
        } else {
            let reason = paint(Paint::Notice, &format!("{:<14}", r.reason.as_str()));
            writeln!(out, "{:>10}  {:<10} {reason} {}", r.lsn, r.kind.as_str(), r.detail)?;
        }
    }
    Ok(())
}
