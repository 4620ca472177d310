//! `idres gen`: the synthetic workload (`idres_cli::gen`) written as native NDJSON.

use std::fs;
use std::io::{BufWriter, Write};
use std::path::Path;

use anyhow::Context;
use idres_cli::gen::{write_ndjson, GenOptions};

/// Writes `records` records of seed `seed` to `out` (stdout if `None`).
pub(crate) fn run(records: u64, seed: u64, uids: Option<u64>, out: Option<&Path>) -> anyhow::Result<()> {
    let opts = GenOptions { records, seed, uids };
    let stats = match out {
        Some(path) => {
            let mut w = BufWriter::new(fs::File::create(path).with_context(|| format!("create {}", path.display()))?);
            let stats = write_ndjson(&opts, &mut w)?;
            w.flush()?;
            stats
        }
        None => {
            let mut w = BufWriter::new(std::io::stdout().lock());
            let stats = write_ndjson(&opts, &mut w)?;
            w.flush()?;
            stats
        }
    };
    eprintln!("idres: generated {stats:?}");
    Ok(())
}
