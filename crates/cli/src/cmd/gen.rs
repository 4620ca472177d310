//! `idres gen`: the synthetic workload (`idres_cli::gen`) written as native NDJSON, with its
//! progress (lines written) and a summary for people on stderr.

use std::fs;
use std::io::{BufWriter, Write};
use std::path::Path;

use anyhow::Context;
use idres_cli::gen::{write_ndjson, GenOptions, GenStats};

use crate::progress::Progress;

/// A writer that counts the lines through it, for the progress of `gen`.
struct Counting<'p, W> {
    inner: W,
    lines: u64,
    progress: &'p mut Progress,
}

impl<W: Write> Write for Counting<'_, W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.inner.write(buf)?;
        let lines = buf[..n].iter().filter(|&&b| b == b'\n').count() as u64;
        if lines > 0 {
            self.lines += lines;
            self.progress.set_position(self.lines);
        }
        Ok(n)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

/// Writes `records` records of seed `seed` to `out` (stdout if `None`).
pub(crate) fn run(
    records: u64,
    seed: u64,
    uids: Option<u64>,
    out: Option<&Path>,
    progress: bool,
) -> anyhow::Result<()> {
    let opts = GenOptions { records, seed, uids };
    let mut bar = Progress::new(progress, records, "gen");
    let stats = match out {
        Some(path) => {
            let file = fs::File::create(path).with_context(|| format!("create {}", path.display()))?;
            let mut w = Counting { inner: BufWriter::new(file), lines: 0, progress: &mut bar };
            let stats = write_ndjson(&opts, &mut w)?;
            w.flush()?;
            stats
        }
        None => {
            let mut w = Counting { inner: BufWriter::new(std::io::stdout().lock()), lines: 0, progress: &mut bar };
            let stats = write_ndjson(&opts, &mut w)?;
            w.flush()?;
            stats
        }
    };
    bar.finish();
    crate::output::note(summary(&stats));
    Ok(())
}

/// What `gen` wrote, for people (after `idres: `): `generated 1000 records: 95 identify, …`.
fn summary(s: &GenStats) -> String {
    format!(
        "generated {} records: {} identify ({} with a placeholder cid), {} reset, {} event ({} late), \
         {} attributes, {} merge, {} unmerge, {} unlink; {} devices ({} shared by two customers), {} customers",
        s.records,
        s.identifies,
        s.blocked_ids,
        s.resets,
        s.events,
        s.late_events,
        s.attributes,
        s.merges,
        s.unmerges,
        s.unlinks,
        s.devices,
        s.shared_devices,
        s.customers
    )
}
