//! `idres history`: a profile's events in LSN order, read back from the log, with the epoch of
//! the device node that holds each.

use std::io::Write;

use idres::Engine;
use idres_cli::json::history_json;

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
    for event in engine.history_events(&p)? {
        let lsn = event.lsn();
        let j = history_json(&event);
        if json {
            writeln!(out, "{j}")?;
        } else {
            let who = j.get("uid").or_else(|| j.get("cid")).map(|v| v.to_string()).unwrap_or_default();
            let system = if j["system"] == serde_json::Value::Bool(true) { " (system)" } else { "" };
            writeln!(
                out,
                "{lsn:>10}  {}  {:<20} {who}  {}{system}",
                j["ts"].as_str().unwrap_or("-"),
                j["name"].as_str().unwrap_or(""),
                j["props"]
            )?;
        }
    }
    Ok(())
}
