//! `idres verify`: every frame, every snapshot and the store checked against one fold from
//! scratch (`idres::verify`); exit 0 only if all agree.

use std::path::Path;

use idres_resolve::Config;

use crate::session::{bar, hex};
use crate::{exit, lsn};

/// Verifies the data directory `data` under `config`.
pub(crate) fn run(data: &Path, config: &Config, progress: bool) -> anyhow::Result<()> {
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
    say!("log: {} segments, {} frames, {}", log.segments, log.frames, lsn::range(log.start_lsn, log.end_lsn));
    for note in &report.notes {
        say!("{note}");
    }
    say!("digest {}", hex(&report.digest));
    if report.is_ok() {
        say!("verify: ok");
        Ok(())
    } else {
        for p in &report.problems {
            say!("problem: {p}");
        }
        Err(exit(3, format!("verify found {} problem(s): {}", report.problems.len(), report.problems.join("; "))))
    }
}
