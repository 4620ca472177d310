//! `idres profile`: one profile, now or as of an LSN, as text or JSON; and the profile lookup
//! and printing the other commands share.

use std::io::Write;

use idres::Engine;
use idres_cli::json::profile_json;
use idres_cli::time::format_rfc3339;
use idres_model::{Cid, IdExcerpt, Profile, ProfileKind, Uid};
use idres_resolve::Resolver;
use uuid::Uuid;

use anyhow::Context;

use crate::output::{paint, Paint};
use crate::{bad_input, not_found};

/// The profile named by the flags, as text or JSON.
#[allow(clippy::too_many_arguments)]
pub(crate) fn run(
    engine: &Engine,
    out: &mut impl Write,
    cid: &Option<String>,
    uid: &Option<String>,
    epoch: Option<u32>,
    id: Option<Uuid>,
    as_of: Option<u64>,
    json: bool,
) -> anyhow::Result<()> {
    let p = match as_of {
        Some(lsn) => {
            // Named here, in the flag's terms: the last LSN is one less than the records folded.
            let end = engine.stats().folded_lsn;
            if lsn >= end {
                return Err(bad_input(match end.checked_sub(1) {
                    Some(last) => format!("--as-of {lsn} is past the last LSN {last}"),
                    None => format!("--as-of {lsn}: the log holds no records"),
                }));
            }
            let r = engine.as_of(lsn).context("as-of fold")?;
            find_profile(&r, cid, uid, epoch, id)?
        }
        None => engine.read(|r| find_profile(r, cid, uid, epoch, id))?,
    };
    if json {
        writeln!(out, "{}", profile_json(&p))?;
    } else {
        print_profile(out, &p)?;
    }
    Ok(())
}

pub(crate) fn find_profile(
    r: &Resolver,
    cid: &Option<String>,
    uid: &Option<String>,
    epoch: Option<u32>,
    id: Option<Uuid>,
) -> anyhow::Result<Profile> {
    match (cid, uid, id) {
        (Some(c), None, None) => {
            let c = Cid::parse(c).map_err(|e| bad_input(format!("--cid {}: {e}", IdExcerpt::new(c.as_bytes()))))?;
            r.profile_by_cid(&c).ok_or_else(|| not_found(format!("cid {} is unknown", IdExcerpt::new(c.as_bytes()))))
        }
        (None, Some(u), None) => {
            let parsed =
                Uid::parse(u).map_err(|e| bad_input(format!("--uid {}: {e}", IdExcerpt::new(u.as_bytes()))))?;
            let found = match epoch {
                Some(e) => r.profile_by_uid_epoch(&parsed, e),
                None => r.profile_by_uid(&parsed),
            };
            found.ok_or_else(|| match epoch {
                Some(e) => not_found(format!("uid {} has nothing at epoch {e}", IdExcerpt::new(u.as_bytes()))),
                None => not_found(format!(
                    "uid {} is unknown, or its current epoch holds nothing yet (after a reset)",
                    IdExcerpt::new(u.as_bytes())
                )),
            })
        }
        (None, None, Some(id)) => r.profile_by_id(id).ok_or_else(|| not_found(format!("profile {id} is unknown"))),
        _ => Err(bad_input("name one of --cid, --uid, --id")),
    }
}

fn ts_text(ts: Option<idres_model::Timestamp>) -> String {
    ts.map_or_else(|| "-".to_string(), |t| format_rfc3339(t.as_micros()))
}

/// A field's name in the text shape, padded to the column and bold when stdout is coloured.
fn label(name: &str) -> String {
    paint(Paint::Heading, &format!("{name:<10}"))
}

pub(crate) fn print_profile(out: &mut impl Write, p: &Profile) -> anyhow::Result<()> {
    let kind = match p.kind {
        ProfileKind::Customer => "customer",
        ProfileKind::Anonymous => "anonymous",
    };
    writeln!(out, "{} {} ({kind})", label("profile"), p.id)?;
    if let Some(c) = &p.primary_cid {
        writeln!(out, "{} {c}", label("primary"))?;
    }
    if p.cids.len() > 1 {
        writeln!(out, "{} {}", label("cids"), p.cids.iter().map(|c| c.to_string()).collect::<Vec<_>>().join(", "))?;
    }
    writeln!(
        out,
        "{} {}",
        label("devices"),
        p.uids.iter().map(|d| format!("{}#{}", d.uid, d.epoch)).collect::<Vec<_>>().join(", ")
    )?;
    writeln!(
        out,
        "{} {} (first {}, last {}; {} system)",
        label("events"),
        p.event_count,
        ts_text(p.first_seen),
        ts_text(p.last_seen),
        p.system_event_count
    )?;
    let s = &p.sessions;
    if s.count > 0 {
        writeln!(
            out,
            "{} {} (first {}, last {}, median {:.1}s)",
            label("sessions"),
            s.count,
            ts_text(s.first_start),
            ts_text(s.last_start),
            s.median_micros.unwrap_or(0) as f64 / 1e6
        )?;
    }
    for (name, n) in &p.events_by_name {
        writeln!(out, "  {n:>8}  {name}")?;
    }
    if !p.attributes.is_empty() {
        writeln!(out, "{}", paint(Paint::Heading, "attributes"))?;
        for (k, v) in &p.attributes {
            writeln!(out, "  {k} = {}", idres_cli::json::value_to_json(v))?;
        }
    }
    for (d, info) in p.uids.iter().zip(&p.devices) {
        if info.event_count == 0 && info.system_attributes.is_empty() {
            continue;
        }
        writeln!(
            out,
            "{} {}#{}: {} events (first {}, last {})",
            paint(Paint::Heading, "device"),
            d.uid,
            d.epoch,
            info.event_count,
            ts_text(info.first_seen),
            ts_text(info.last_seen)
        )?;
        for (k, v) in &info.system_attributes {
            writeln!(out, "  {k} = {}", idres_cli::json::value_to_json(v))?;
        }
    }
    Ok(())
}
