//! `idres sessions`: a profile's sessions (docs/SEMANTICS.md, "Sessions"), by start, as text or
//! JSON lines.

use std::io::Write;

use idres::Engine;
use idres_cli::time::format_rfc3339;
use idres_model::{Cid, IdExcerpt, Uid};
use idres_resolve::SessionInfo;

use crate::{bad_input, not_found};

/// The sessions of the profile of `--cid` or `--uid` (its current epoch).
pub(crate) fn run(
    engine: &Engine,
    out: &mut impl Write,
    cid: &Option<String>,
    uid: &Option<String>,
    json: bool,
) -> anyhow::Result<()> {
    let sessions = engine.read(|r| match (cid, uid) {
        (Some(c), None) => {
            let c = Cid::parse(c).map_err(|e| bad_input(format!("--cid {}: {e}", IdExcerpt::new(c.as_bytes()))))?;
            r.sessions_by_cid(&c).ok_or_else(|| not_found(format!("cid {} is unknown", IdExcerpt::new(c.as_bytes()))))
        }
        (None, Some(u)) => {
            let parsed =
                Uid::parse(u).map_err(|e| bad_input(format!("--uid {}: {e}", IdExcerpt::new(u.as_bytes()))))?;
            r.sessions_by_uid(&parsed).ok_or_else(|| {
                not_found(format!(
                    "uid {} is unknown, or its current epoch holds nothing yet (after a reset)",
                    IdExcerpt::new(u.as_bytes())
                ))
            })
        }
        _ => Err(bad_input("name one of --cid, --uid")),
    })?;
    if json {
        for s in &sessions {
            writeln!(out, "{}", serde_json::to_value(s)?)?;
        }
        return Ok(());
    }
    print_sessions(out, &sessions)
}

/// Sessions as text, one a line: start, end, length, events, id (or `(inferred)`), devices.
pub(crate) fn print_sessions(out: &mut impl Write, sessions: &[SessionInfo]) -> anyhow::Result<()> {
    for s in sessions {
        let devices: Vec<String> = s
            .devices
            .iter()
            .map(|d| d.as_ref().map_or_else(|| "(customer)".to_string(), |(u, e)| format!("{u}#{e}")))
            .collect();
        writeln!(
            out,
            "{}  {}  {:>9.1}s  {:>6} events  {:<24} {}",
            format_rfc3339(s.start),
            format_rfc3339(s.end),
            s.length() as f64 / 1e6,
            s.events,
            s.id.as_deref().unwrap_or("(inferred)"),
            devices.join(", ")
        )?;
    }
    Ok(())
}
