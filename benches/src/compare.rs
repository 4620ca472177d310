//! `idres-bench compare`: one workload, measured side by side against the physical limits and a
//! SQL peer, in one run: this file runs the rows, report.rs prints them. See docs/PERFORMANCE.md
//! ("The comparison harness").
//!
//! `cargo run --release -p idres-bench -- compare --records 2000000 [--seed S] [--uids U]
//! [--runs R] [--replay-runs R] [--dir DIR] [--write-docs | --fold-rows-only]`

use std::fs;
use std::path::Path;
use std::time::Duration;

use anyhow::{anyhow, bail};
use idres::EngineConfig;
use idres_bench::ingest_run;
use idres_log::ReadOnlyLog;
use idres_model::{decode_entry_with_schema, Record, CODEC_ID};
use idres_resolve::{Config, Resolver};

use super::logs::{copy_log, read_records, write_logs};
use super::report::{machine, Report, Row};
use super::stitch::{bare_union_find, interned_edges, same_partition, sqlite_stitch};
use super::{fold, median, timed};

/// Records ingested through the Engine per ingest row (the rest of the workload is not needed
/// to measure a steady rate, and a 10 M-record ingest with sled behind it would take minutes).
const INGEST_RECORDS_MAX: u64 = 1_000_000;

pub(crate) fn compare(
    dir: &Path,
    records: u64,
    seed: u64,
    uids: Option<u64>,
    runs: usize,
    replay_runs: usize,
    fold_rows_only: bool,
) -> anyhow::Result<Report> {
    let command = format!(
        "cargo run --release -p idres-bench -- compare --records {records} --seed {seed}{} --runs {runs} --replay-runs {replay_runs}{}",
        uids.map_or(String::new(), |u| format!(" --uids {u}")),
        if fold_rows_only { " --fold-rows-only" } else { "" }
    );
    eprintln!("generating {records} records (seed {seed}) and writing the logs ...");
    let logs = write_logs(dir, records, seed, uids)?;
    // Opened once: opening scans the last (preallocated) segment, a constant the rows leave out.
    let (full, identity) =
        (ReadOnlyLog::open(&logs.full, Some(CODEC_ID))?, ReadOnlyLog::open(&logs.identity, Some(CODEC_ID))?);
    let mut rows = Vec::new();

    eprintln!("frame read + CRC ...");
    let (t, n) = timed(runs, || read_frames(&full))?;
    rows.push(Row {
        name: "frame read + CRC",
        time: t,
        records: n,
        note: "I/O limit: every frame read and checked".into(),
    });
    eprintln!("decode only ...");
    let (t, n) = timed(runs, || decode_all(&full))?;
    rows.push(Row { name: "decode only", time: t, records: n, note: "codec limit: read + CRC + decode".into() });

    eprintln!("idres fold ...");
    let (t, (r, n)) = timed(runs, || fold(&full, Resolver::new(Config::default()), None))?;
    let digest: String = r.digest().iter().map(|b| format!("{b:02x}")).collect();
    rows.push(Row {
        name: "idres fold",
        time: t,
        records: n,
        note: "full replay through the resolver, no store".into(),
    });
    let (devices, customers) = r.node_counts();

    eprintln!("idres fold, identity only ...");
    let (t, (ri, n)) = timed(runs, || fold(&identity, Resolver::new(Config::default()), None))?;
    rows.push(Row {
        name: "idres fold, identity only",
        time: t,
        records: n,
        note: "identify, reset, merge, unmerge, unlink only".into(),
    });

    let (node_ids, pairs, merges) = interned_edges(&r);
    {
        let (_, pairs_identity, _) = interned_edges(&ri);
        if pairs_identity.len() != pairs.len() {
            bail!("the identity-only fold kept {} edges, the full fold {}", pairs_identity.len(), pairs.len());
        }
    }
    eprintln!("bare union-find over {} pairs ...", pairs.len());
    let (t, roots) = timed(runs.max(5), || Ok(bare_union_find(node_ids.len(), &pairs)))?;
    std::hint::black_box(&roots);
    rows.push(Row {
        name: "bare union-find",
        time: t,
        records: pairs.len() as u64,
        note: format!("algorithm limit: {} pre-interned link/merge pairs", pairs.len()),
    });

    eprintln!("SQLite stitching ...");
    let (t, (labels, iterations)) = timed(runs, || sqlite_stitch(&dir.join("stitch.sqlite"), &pairs))?;
    let (partitions_agree, partition_note) = same_partition(&r, &node_ids, &labels)?;
    rows.push(Row {
        name: "SQLite stitching",
        time: t,
        records: pairs.len() as u64,
        note: format!("same link pairs; label propagation, {iterations} iterations; {partition_note}"),
    });
    drop(labels);
    let full_digest = r.digest();
    // The folds are done with: the rows below build their own (memory stays one fold's).
    drop(r);
    drop(ri);
    let report = |rows, ingest, peak_rss| Report {
        command,
        machine: machine(),
        records: logs.records,
        identity_records: logs.identity_records,
        devices,
        customers,
        edges: pairs.len(),
        merges,
        digest,
        rows,
        ingest,
        peak_rss,
        partitions_agree,
        partition_note,
    };
    if fold_rows_only {
        return Ok(report(rows, Vec::new(), None));
    }

    eprintln!("peak RSS of the fold (a child process) ...");
    let out =
        std::process::Command::new(std::env::current_exe()?).args(["fold-rss", "--log"]).arg(&logs.full).output()?;
    let text = String::from_utf8_lossy(&out.stdout);
    let peak_rss = text
        .split_whitespace()
        .skip_while(|w| *w != "peak_rss")
        .nth(1)
        .and_then(|v| v.parse().ok())
        .ok_or_else(|| anyhow!("fold-rss printed {text:?} {}", String::from_utf8_lossy(&out.stderr)))?;

    for (name, store) in
        [("idres replay", "fjall"), ("idres replay, sled store", "sled"), ("idres replay, memory store", "memory")]
    {
        eprintln!("idres replay (open from scratch: fold + {store} store) ...");
        let mut opens = Vec::with_capacity(replay_runs);
        let mut replay_rss = 0u64;
        for _ in 0..replay_runs {
            let data = dir.join("replay");
            if data.exists() {
                fs::remove_dir_all(&data)?;
            }
            copy_log(&logs.full, &data.join("log"))?;
            let out = std::process::Command::new(std::env::current_exe()?)
                .args(["replay-child", "--store", store, "--data"])
                .arg(&data)
                .output()?;
            let text = String::from_utf8_lossy(&out.stdout);
            let field = |name: &str| -> Option<u64> {
                text.split_whitespace().skip_while(|w| *w != name).nth(1).and_then(|v| v.parse().ok())
            };
            let (Some(ns), Some(rss)) = (field("replay_ns"), field("peak_rss")) else {
                bail!("replay child failed: {text} {}", String::from_utf8_lossy(&out.stderr));
            };
            opens.push(Duration::from_nanos(ns));
            replay_rss = replay_rss.max(rss);
        }
        let t = median(opens);
        rows.push(Row {
            name,
            time: t,
            records: logs.records,
            note: format!("Engine::open from scratch: fold + {store} store rebuilt; peak RSS {} MiB", replay_rss >> 20),
        });
    }

    eprintln!("idres snapshot restore + tail ...");
    let cut = logs.records - logs.records / 100;
    let (r99, _) = fold(&full, Resolver::new(Config::default()), Some(cut))?;
    let snapshot = r99.snapshot()?;
    drop(r99);
    let (t, (rs, _)) = timed(runs, || {
        let r = Resolver::restore(&snapshot, Config::default())?;
        fold(&full, r, None)
    })?;
    if rs.digest() != full_digest {
        bail!("snapshot + tail gives another digest than the full fold");
    }
    rows.push(Row {
        name: "idres snapshot restore + tail",
        time: t,
        records: 0,
        note: format!("snapshot of {} bytes at LSN {cut}, then the last 1%", snapshot.len()),
    });
    drop(rs);

    let mut ingest = Vec::new();
    let ingest_n = logs.records.min(INGEST_RECORDS_MAX);
    for producers in [1usize, 4] {
        for batched in [false, true] {
            eprintln!("ingest, {producers} producer(s), {} ...", if batched { "write_batch" } else { "single writes" });
            let records = read_records(&full, ingest_n)?;
            let mut parts: Vec<Vec<Record>> = (0..producers).map(|_| Vec::new()).collect();
            // Deal records round-robin: each producer keeps its share in log order.
            for (i, rec) in records.into_iter().enumerate() {
                parts[i % producers].push(rec);
            }
            let data = dir.join("ingest");
            if data.exists() {
                fs::remove_dir_all(&data)?;
            }
            let run = ingest_run(&data, EngineConfig::default(), parts, batched, 0)?;
            ingest.push((producers, batched, run));
        }
    }
    Ok(report(rows, ingest, Some(peak_rss)))
}

fn read_frames(log: &ReadOnlyLog) -> anyhow::Result<u64> {
    let mut reader = log.reader(0)?;
    let mut n = 0u64;
    while let Some(frame) = reader.next_frame()? {
        n += u64::from(frame.count);
    }
    Ok(n)
}

fn decode_all(log: &ReadOnlyLog) -> anyhow::Result<u64> {
    let mut reader = log.reader(0)?;
    let mut n = 0u64;
    while let Some(frame) = reader.next_frame()? {
        for (_, bytes) in frame.records() {
            let entry = decode_entry_with_schema(frame.schema, bytes)?;
            std::hint::black_box(&entry);
            n += 1;
        }
    }
    Ok(n)
}
