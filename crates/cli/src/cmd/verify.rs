//! `idres verify`: every frame, every snapshot and the store checked against one fold from
//! scratch (`idres::verify`); exit 0 only if all agree.

use std::path::Path;

use idres_resolve::Config;

use crate::output::{paint, Paint};
use crate::session::{bar, hex};
use crate::{exit, lsn};

/// Verifies the data directory `data` under `config`; with `json`, the report as one object:
/// `ok`, `segments`, `frames`, `first_lsn`, `last_lsn` (null for none), `records`, `digest`,
/// `notes`, `problems` (the exit code is the same either way).
pub(crate) fn run(data: &Path, config: &Config, progress: bool, json: bool) -> anyhow::Result<()> {
    let mut bar = bar(progress, 0, "verify");
    let report = idres::verify(data, config, &mut |done, total| {
        bar.set_length(total);
        bar.set_position(done);
    })
    .map_err(|e| match e {
        idres::EngineError::Invalid(m) => crate::not_found(m),
        e => exit(3, format!("verify: {:#}", anyhow::Error::new(e))),
    })?;
    bar.finish();
    let log = &report.log;
    if json {
        let (first, last) = match log.end_lsn.checked_sub(1) {
            Some(l) if l >= log.start_lsn => (Some(log.start_lsn), Some(l)),
            _ => (None, None),
        };
        let j = serde_json::json!({
            "ok": report.is_ok(),
            "segments": log.segments,
            "frames": log.frames,
            "first_lsn": first,
            "last_lsn": last,
            "records": report.records,
            "digest": hex(&report.digest),
            "notes": report.notes,
            "problems": report.problems,
        });
        say!("{j}");
        return if report.is_ok() {
            Ok(())
        } else {
            Err(exit(3, format!("verify found {} problem(s)", report.problems.len())))
        };
    }
    say!("log: {} segments, {} frames, {}", log.segments, log.frames, lsn::range(log.start_lsn, log.end_lsn));
    for note in &report.notes {
        say!("{note}");
    }
    say!("digest {}", hex(&report.digest));
    if report.is_ok() {
        say!("verify: {}", paint(Paint::Good, "ok"));
        Ok(())
    } else {
        for p in &report.problems {
            say!("{} {p}", paint(Paint::Bad, "problem:"));
        }
        Err(exit(3, format!("verify found {} problem(s): {}", report.problems.len(), report.problems.join("; "))))
    }
}
