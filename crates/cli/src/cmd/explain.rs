//! `idres explain`: why an id is in its profile (the edge path, implicit resets, rejections),
//! and for a uid which epoch is explained and every epoch with its profile.

use std::io::Write;

use idres::Engine;
use idres_cli::json::{explain_json, forgotten_words};
use idres_cli::time::format_rfc3339;
use idres_model::IdExcerpt;
use idres_resolve::Explanation;

use crate::output::{paint, Paint};
use crate::{bad_input, not_found};

/// The explanation of `--cid` or `--uid`.
pub(crate) fn run(
    engine: &Engine,
    out: &mut impl Write,
    cid: &Option<String>,
    uid: &Option<String>,
    epoch: Option<u32>,
    json: bool,
) -> anyhow::Result<()> {
    let e = match (cid, uid, epoch) {
        (Some(c), None, None) => engine.explain_cid(c).map_err(|e| bad_input(e.to_string()))?,
        (None, Some(u), None) => engine.explain_uid(u).map_err(|e| bad_input(e.to_string()))?,
        (None, Some(u), Some(n)) => {
            let e = engine.explain_uid_epoch(u, n).map_err(|e| bad_input(e.to_string()))?;
            if e.is_none() && engine.explain_uid(u).map_err(|e| bad_input(e.to_string()))?.is_some() {
                return Err(not_found(format!(
                    "uid {} has no device node at epoch {n} (no record landed in it)",
                    IdExcerpt::new(u.as_bytes())
                )));
            }
            e
        }
        _ => return Err(bad_input("explain needs --cid or --uid (and --epoch only with --uid)")),
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
        (Some(n @ idres_resolve::NodeRef::Device(d)), Some(id)) => {
            let which = if e.epochs.iter().any(|x| x.current && x.epoch == d.epoch) { "current" } else { "earlier" };
            writeln!(out, "{n} is in profile {id} (epoch {}, the {which} one)", d.epoch)?
        }
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
            "  {} -> {}  {} made by {} at LSN {} ({}): {}",
            s.from,
            s.to,
            s.kind.as_str(),
            s.record.as_str(),
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
        writeln!(
            out,
            "  rejected at LSN {}: {} ({}) {}",
            r.lsn,
            r.kind.as_str(),
            paint(Paint::Notice, r.reason.as_str()),
            r.detail
        )?;
    }
    let explained = match &e.node {
        Some(idres_resolve::NodeRef::Device(d)) => Some(d.epoch),
        _ => None,
    };
    let others: Vec<_> = e.epochs.iter().filter(|x| Some(x.epoch) != explained).collect();
    if !others.is_empty() {
        writeln!(out, "  other epochs of this device (explain --epoch N):")?;
        for x in others {
            let current = if x.current { ", current" } else { "" };
            writeln!(out, "    epoch {}: profile {}{current}", x.epoch, x.profile_id)?;
        }
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
