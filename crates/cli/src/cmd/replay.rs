//! `idres replay`: the fold's records, profiles, rejections and digest, from the engine (its
//! snapshot plus the log) or, with `--from-scratch`, from the whole log read-only.

use std::io::Write;
use std::path::Path;

use idres::Engine;
use idres_resolve::{Config, Resolver};

use crate::lsn;
use crate::session::{fold_from, hex, open_log_for_reading};

/// The engine's fold, as it opened.
pub(crate) fn run(engine: &Engine, out: &mut impl Write, json: bool) -> anyhow::Result<()> {
    let s = engine.stats();
    let summary = Summary {
        records: s.folded_lsn,
        profiles: s.profiles as u64,
        rejections: s.rejections as u64,
        rejections_forgotten: s.rejections_forgotten,
        digest: hex(&engine.digest()),
    };
    summary.print(out, json)
}

/// What a replay found: the shape of `replay --json`.
struct Summary {
    records: u64,
    profiles: u64,
    rejections: u64,
    rejections_forgotten: u64,
    digest: String,
}

impl Summary {
    /// Text (`records N (LSN 0..=N-1)`, `profiles`, `rejections`, `rejections forgotten` when any,
    /// `digest`), or one JSON object: `records`, `first_lsn`, `last_lsn` (null for none),
    /// `profiles`, `rejections`, `rejections_forgotten`, `digest`.
    fn print(&self, out: &mut impl Write, json: bool) -> anyhow::Result<()> {
        if json {
            let (first, last) = lsn::first_last(self.records);
            let j = serde_json::json!({
                "records": self.records,
                "first_lsn": first,
                "last_lsn": last,
                "profiles": self.profiles,
                "rejections": self.rejections,
                "rejections_forgotten": self.rejections_forgotten,
                "digest": self.digest,
            });
            writeln!(out, "{j}")?;
            return Ok(());
        }
        writeln!(out, "records {} ({})", self.records, lsn::range(0, self.records))?;
        writeln!(out, "profiles {}", self.profiles)?;
        writeln!(out, "rejections {}", self.rejections)?;
        if self.rejections_forgotten > 0 {
            writeln!(out, "rejections forgotten {}", self.rejections_forgotten)?;
        }
        writeln!(out, "digest {}", self.digest)?;
        Ok(())
    }
}

/// The whole log folded from LSN 0 without a snapshot, changing nothing on disk.
pub(crate) fn from_scratch(data: &Path, config: Config, progress: bool, json: bool) -> anyhow::Result<()> {
    let log = open_log_for_reading(data)?;
    if let Some((seg, offset, problem)) = &log.torn_tail {
        crate::output::warning(format_args!(
            "the log's valid frames end in {} at byte {offset} ({problem}); replaying what precedes it",
            seg.display()
        ));
    }
    let (r, records) = fold_from(&log, Resolver::new(config), progress)?;
    let summary = Summary {
        records,
        profiles: r.profile_count() as u64,
        rejections: r.rejection_count(),
        rejections_forgotten: r.rejections_forgotten().count(),
        digest: hex(&r.digest()),
    };
    summary.print(&mut std::io::stdout().lock(), json)
}
