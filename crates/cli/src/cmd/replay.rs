//! `idres replay`: the fold's records, profiles, rejections and digest, from the engine (its
//! snapshot plus the log) or, with `--from-scratch`, from the whole log read-only.

use std::io::Write;
use std::path::Path;

use idres::Engine;
use idres_resolve::{Config, Resolver};

use crate::lsn;
use crate::session::{fold_from, hex, open_log_for_reading};

/// The engine's fold, as it opened.
pub(crate) fn run(engine: &Engine, out: &mut impl Write) -> anyhow::Result<()> {
    let s = engine.stats();
    let (records, rejections) = (s.folded_lsn, s.rejections);
    writeln!(out, "records {records} ({})\nprofiles {}\nrejections {rejections}", lsn::range(0, records), s.profiles)?;
    writeln!(out, "digest {}", hex(&engine.digest()))?;
    Ok(())
}

/// The whole log folded from LSN 0 without a snapshot, changing nothing on disk.
pub(crate) fn from_scratch(data: &Path, config: Config, progress: bool) -> anyhow::Result<()> {
    let log = open_log_for_reading(data)?;
    if let Some((seg, offset, problem)) = &log.torn_tail {
        eprintln!(
            "idres: the log's valid frames end in {} at byte {offset} ({problem}); replaying what precedes it",
            seg.display()
        );
    }
    let (r, records) = fold_from(&log, Resolver::new(config), progress)?;
    print_replay(&r, records)
}

fn print_replay(r: &Resolver, records: u64) -> anyhow::Result<()> {
    say!("records {records} ({})", lsn::range(0, records));
    say!("profiles {}", r.profile_count());
    say!("rejections {}", r.rejection_count());
    if !r.rejections_forgotten().is_empty() {
        say!("rejections forgotten {}", r.rejections_forgotten().count());
    }
    say!("digest {}", hex(&r.digest()));
    Ok(())
}
