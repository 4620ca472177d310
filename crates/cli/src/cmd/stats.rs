//! `idres stats`: counts, sizes on disk, the LSN range and the store's position (not read when
//! opened read-only).

use std::fs;
use std::io::Write;
use std::path::Path;

use idres::Engine;

use crate::lsn;

/// Prints the counts of the engine on `data`, as text or as one JSON object: `records`,
/// `first_lsn`, `last_lsn` (null for none), `profiles`, `customers`, `anonymous`, `rejections`,
/// `rejections_forgotten`, `log_bytes`, `snapshots`, `snapshot_bytes`, `store_bytes`,
/// `store_read` (false when opened read-only beside a writer) and `store_last_lsn` (null when not
/// read or empty).
pub(crate) fn run(engine: &Engine, out: &mut impl Write, data: &Path, json: bool) -> anyhow::Result<()> {
    let s = engine.stats();
    let (customers, anonymous) = engine.read(|r| r.profile_counts());
    let log_bytes = dir_bytes(&data.join("log"));
    let snaps = idres::data_dir::DataDir::new(data).snapshots().map(|s| s.len()).unwrap_or(0);
    if json {
        let (first, last) = lsn::first_last(s.folded_lsn);
        let store_read = !engine.is_read_only();
        let j = serde_json::json!({
            "records": s.folded_lsn,
            "first_lsn": first,
            "last_lsn": last,
            "profiles": s.profiles,
            "customers": customers,
            "anonymous": anonymous,
            "rejections": s.rejections,
            "rejections_forgotten": s.rejections_forgotten,
            "log_bytes": log_bytes,
            "snapshots": snaps,
            "snapshot_bytes": dir_bytes(&data.join("snapshots")),
            "store_bytes": dir_bytes(&data.join("store")),
            "store_read": store_read,
            "store_last_lsn": if store_read { lsn::first_last(s.stored_lsn).1 } else { None },
        });
        writeln!(out, "{j}")?;
        return Ok(());
    }
    writeln!(out, "records        {} ({})", s.folded_lsn, lsn::range(0, s.folded_lsn))?;
    writeln!(out, "profiles       {} ({customers} customers, {anonymous} anonymous)", s.profiles)?;
    writeln!(out, "rejections     {}", s.rejections)?;
    if s.rejections_forgotten > 0 {
        writeln!(
            out,
            "               {} older ones not kept (REJECTIONS_KEPT_MAX = {}; `idres rejects`)",
            s.rejections_forgotten,
            idres_resolve::REJECTIONS_KEPT_MAX
        )?;
    }
    writeln!(out, "log            {log_bytes} bytes on disk (segments are preallocated)")?;
    writeln!(out, "snapshots      {snaps} ({} bytes)", dir_bytes(&data.join("snapshots")))?;
    let store_bytes = dir_bytes(&data.join("store"));
    if engine.is_read_only() {
        writeln!(out, "store          {store_bytes} bytes, not read (opened read-only)")?;
    } else {
        writeln!(out, "store          {store_bytes} bytes, holds {}", lsn::range(0, s.stored_lsn))?;
    }
    Ok(())
}

fn dir_bytes(dir: &Path) -> u64 {
    let Ok(entries) = fs::read_dir(dir) else { return 0 };
    entries
        .flatten()
        .map(|e| match e.metadata() {
            Ok(m) if m.is_dir() => dir_bytes(&e.path()),
            Ok(m) => m.len(),
            Err(_) => 0,
        })
        .sum()
}
