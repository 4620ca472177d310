//! `idres explain`: why an id is in its profile (the edge path, implicit resets, rejections).

use std::io::Write;

use idres::Engine;
use idres_cli::json::{explain_json, forgotten_words};
use idres_cli::time::format_rfc3339;
use idres_model::IdExcerpt;
use idres_resolve::Explanation;

use crate::{bad_input, not_found};

/// The explanation of `--cid` or `--uid`.
pub(crate) fn run(
    engine: &Engine,
    out: &mut impl Write,
    cid: &Option<String>,
    uid: &Option<String>,
    json: bool,
) -> anyhow::Result<()> {
    let e = match (cid, uid) {
        (Some(c), None) => engine.explain_cid(c).map_err(|e| bad_input(e.to_string()))?,
        (None, Some(u)) => engine.explain_uid(u).map_err(|e| bad_input(e.to_string()))?,
        _ => return Err(bad_input("explain needs --cid or --uid")),
    };
    let e = e.ok_or_else(|| {
        not_found(format!("{} is unknown", IdExcerpt::new(cid.as_deref().or(uid.as_deref()).unwrap_or("").as_bytes())))
    })?;
    if json {
        writeln!(out, "{}", explain_json(&e))?;
    } else {
        print_explanation(out, &e)?;
    }
    Ok(())
}

pub(crate) fn print_explanation(out: &mut impl Write, e: &Explanation) -> anyhow::Result<()> {
    match (&e.node, e.profile_id) {
        (Some(n), Some(id)) => writeln!(out, "{n} is in profile {id}")?,
        _ if e.rejections.is_empty() && !e.rejections_forgotten.is_empty() => {
            writeln!(
                out,
                "no node: its current epoch holds nothing yet, or every record of this id was rejected and the fold no longer keeps those rejections"
            )?
        }
        _ => writeln!(out, "no node: every record of this id was rejected, or its current epoch holds nothing yet")?,
    }
    for s in &e.path {
        writeln!(
            out,
            "  {} -> {}  {} at LSN {} ({}): {}",
            s.from,
            s.to,
            s.kind.as_str(),
            s.lsn,
            format_rfc3339(s.time.as_micros()),
            s.rule
        )?;
    }
    for r in &e.implicit_resets {
        writeln!(
            out,
            "  implicit reset at LSN {}: uid {} epoch {} stayed with {}; epoch {} linked to {}",
            r.lsn, r.uid, r.from_epoch, r.previous_cid, r.to_epoch, r.cid
        )?;
    }
    for r in &e.rejections {
        writeln!(out, "  rejected at LSN {}: {} ({}) {}", r.lsn, r.kind.as_str(), r.reason.as_str(), r.detail)?;
    }
    let f = &e.rejections_forgotten;
    if let Some(newest) = f.newest_lsn() {
        writeln!(
            out,
            "  {} older rejections (LSN {newest} and before) were forgotten, and may have named this id: {}",
            f.count(),
            forgotten_words(f)
        )?;
    }
    Ok(())
}
