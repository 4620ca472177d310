//! `idres history`: a profile's events in LSN order, read back from the log, with the epoch of
//! the device node that holds each.

use std::io::Write;

use idres::Engine;
use idres_cli::json::history_json;
use idres_model::{Record, Uid};

use crate::cmd::profile::find_profile;

/// The events of the profile of `--cid` or `--uid`.
pub(crate) fn run(
    engine: &Engine,
    out: &mut impl Write,
    cid: &Option<String>,
    uid: &Option<String>,
    json: bool,
) -> anyhow::Result<()> {
    let p = engine.read(|r| find_profile(r, cid, uid, None, None))?;
    // Per uid, its events' epochs, read once: one pass over its packed events.
    let mut epochs: std::collections::HashMap<Uid, Vec<(u64, u32)>> = std::collections::HashMap::new();
    for (lsn, entry) in engine.history(&p)? {
        let epoch = match &entry.record {
            Record::Event { target: idres_model::Target::Uid(u), .. } => {
                // The epoch whose device node holds the event.
                let of_uid = epochs.entry(u.clone()).or_insert_with(|| engine.read(|r| r.event_epochs(u)));
                of_uid.binary_search_by_key(&lsn, |&(l, _)| l).ok().map(|i| of_uid[i].1)
            }
            _ => None,
        };
        let Some(j) = history_json(lsn, &entry, epoch) else { continue };
        if json {
            writeln!(out, "{j}")?;
        } else {
            let who = j.get("uid").or_else(|| j.get("cid")).map(|v| v.to_string()).unwrap_or_default();
            writeln!(
                out,
                "{lsn:>10}  {}  {:<20} {who}  {}",
                j["ts"].as_str().unwrap_or("-"),
                j["name"].as_str().unwrap_or(""),
                j["props"]
            )?;
        }
    }
    Ok(())
}
