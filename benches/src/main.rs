//! The `idres-bench` binary: its command line (`compare`, the comparison harness, and the
//! internal commands that measure one row alone), the dispatch to them, and what they share: the
//! fold of a log, the median of timed runs, the peak RSS. See docs/PERFORMANCE.md.
#![allow(clippy::print_stdout, clippy::print_stderr)] // a command line prints

use std::fs;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context};
use clap::{Parser, Subcommand};
use idres::{EngineConfig, StoreBackend};
use idres_bench::ingest_run;
use idres_log::ReadOnlyLog;
use idres_model::{Record, CODEC_ID};
use idres_resolve::{Config, Resolver};

use compare::compare;
use logs::read_records;
use report::write_docs_section;

mod compare;
mod logs;
mod report;
mod stitch;
mod work;

#[derive(Parser)]
#[command(name = "idres-bench", about = "idres's comparison harness")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Measures every row on one generated workload and prints the table.
    Compare {
        #[arg(long, default_value_t = 2_000_000)]
        records: u64,
        #[arg(long, default_value_t = 1)]
        seed: u64,
        /// Distinct devices in the workload (default: the generator's, about one per 8 records).
        #[arg(long)]
        uids: Option<u64>,
        /// Runs per row (the median is reported).
        #[arg(long, default_value_t = 3)]
        runs: usize,
        /// Runs of the replay row (default: --runs; at 10 M records one replay takes minutes).
        #[arg(long)]
        replay_runs: Option<usize>,
        /// Working directory (default: a temporary one, removed at the end).
        #[arg(long)]
        dir: Option<PathBuf>,
        /// Also write the markdown table into docs/PERFORMANCE.md (between its markers).
        #[arg(long)]
        write_docs: bool,
        /// Only the rows up to SQLite stitching (frame read, decode, the folds, union-find,
        /// SQLite) and their ratios: no replay, snapshot, peak-RSS or ingest rows.
        #[arg(long)]
        fold_rows_only: bool,
    },
    /// (internal) Folds a log in this process and prints its peak RSS and node counts.
    FoldRss {
        #[arg(long)]
        log: PathBuf,
    },
    /// (internal) Folds a log --runs times in this process and prints each time, the fastest and
    /// the median, and the digest (a fold row alone, e.g. on the identity-only log of
    /// `compare --dir`, for work on the fold).
    FoldTime {
        #[arg(long)]
        log: PathBuf,
        #[arg(long, default_value_t = 7)]
        runs: usize,
        /// Skip the digest (and the freeing of the folds): a profile of the folds alone.
        #[arg(long)]
        no_digest: bool,
    },
    /// (internal) Reads a log --runs times and only finds each record's ids in a hash map: the
    /// floor under any fold of its identity records.
    IdFloor {
        #[arg(long)]
        log: PathBuf,
        #[arg(long, default_value_t = 7)]
        runs: usize,
    },
    /// (internal) Snapshots the fold of a log at 99% and times restore + tail, three times (the
    /// snapshot row alone, for work on it).
    RestoreTime {
        #[arg(long)]
        log: PathBuf,
    },
    /// (internal) The ingest row alone: the first --records records of a log, through an
    /// Engine in --dir, from --producers threads (for work on the write path).
    IngestTime {
        #[arg(long)]
        log: PathBuf,
        #[arg(long)]
        dir: PathBuf,
        #[arg(long, default_value_t = 1_000_000)]
        records: u64,
        #[arg(long, default_value_t = 4)]
        producers: usize,
        #[arg(long)]
        batched: bool,
        /// The store's flush interval, in milliseconds (default: the engine's).
        #[arg(long)]
        store_interval_ms: Option<u64>,
        /// The store: fjall (default), sled or memory.
        #[arg(long, default_value = "fjall")]
        store: String,
        /// Threads reading the change stream (`Engine::subscribe`) meanwhile, as fast as they can.
        #[arg(long, default_value_t = 0)]
        subscribers: usize,
    },
    /// (internal) Opens a data directory from scratch in this process and prints the time and
    /// the peak RSS (the replay row; a child so that its memory is its own).
    ReplayChild {
        #[arg(long)]
        data: PathBuf,
        /// The store: fjall (default), sled or memory.
        #[arg(long, default_value = "fjall")]
        store: String,
    },
}

fn main() -> ExitCode {
    match run(Cli::parse()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("idres-bench: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::FoldRss { log } => {
            let log = ReadOnlyLog::open(&log, Some(CODEC_ID))?;
            // Opening reads the last segment whole (64 MiB, preallocated); that is the log's
            // cost, not the fold's: reset the peak (Linux: `5` > clear_refs) before folding.
            fs::write("/proc/self/clear_refs", "5").context("reset the peak RSS")?;
            let start = Instant::now();
            let (r, _) = fold(&log, Resolver::new(Config::default()), None)?;
            let took = start.elapsed();
            let (devices, customers) = r.node_counts();
            let peak = peak_rss_bytes()?;
            println!("peak_rss {peak} devices {devices} customers {customers} fold_ns {}", took.as_nanos());
            // The process ends here: freeing millions of small allocations one by one would only
            // add to its run time (and to profiles of it).
            std::mem::forget(r);
            Ok(())
        }
        Command::FoldTime { log, runs, no_digest } => {
            work::fold_time(&ReadOnlyLog::open(&log, Some(CODEC_ID))?, runs, no_digest)
        }
        Command::IdFloor { log, runs } => work::id_floor(&ReadOnlyLog::open(&log, Some(CODEC_ID))?, runs),
        Command::RestoreTime { log } => {
            let log = ReadOnlyLog::open(&log, Some(CODEC_ID))?;
            let cut = log.end_lsn() - log.end_lsn() / 100;
            let (r99, _) = fold(&log, Resolver::new(Config::default()), Some(cut))?;
            let snapshot = r99.snapshot()?;
            drop(r99);
            for _ in 0..3 {
                let start = Instant::now();
                let r = Resolver::restore(&snapshot, Config::default())?;
                let restored = start.elapsed();
                let (r, _) = fold(&log, r, None)?;
                let total = start.elapsed();
                println!("snapshot {} bytes: restore {restored:?}, restore + tail {total:?}", snapshot.len());
                drop(r);
            }
            Ok(())
        }
        Command::IngestTime { log, dir, records, producers, batched, store_interval_ms, store, subscribers } => {
            let log = ReadOnlyLog::open(&log, Some(CODEC_ID))?;
            let mut parts: Vec<Vec<Record>> = (0..producers.max(1)).map(|_| Vec::new()).collect();
            for (i, rec) in read_records(&log, records)?.into_iter().enumerate() {
                parts[i % producers.max(1)].push(rec);
            }
            if dir.exists() {
                fs::remove_dir_all(&dir)?;
            }
            let mut config = EngineConfig::default();
            if let Some(ms) = store_interval_ms {
                config.store_flush_interval = Duration::from_millis(ms);
            }
            config.store = backend(&store)?;
            let run = ingest_run(&dir, config, parts, batched, subscribers)?;
            if subscribers > 0 {
                println!(
                    "{subscribers} subscriber(s) received {} change events; {} changes dropped",
                    run.changes_received, run.changes_dropped
                );
            }
            println!(
                "{} records in {:?}: {:.0} records/s, ack p50 {:?} p99 {:?}; store caught up after {:?} ({:.0} profiles/s; {} profiles and redirects, {} keys)",
                run.records,
                run.elapsed,
                run.records as f64 / run.elapsed.as_secs_f64(),
                run.p50,
                run.p99,
                run.store_caught_up,
                run.store_profiles_per_s,
                run.store_profiles_written,
                run.store_keys_written
            );
            Ok(())
        }
        Command::ReplayChild { data, store } => {
            let start = Instant::now();
            let engine =
                idres::Engine::open(&data, EngineConfig { store: backend(&store)?, ..EngineConfig::default() })?;
            let took = start.elapsed();
            let peak = peak_rss_bytes()?;
            engine.close()?;
            println!("replay_ns {} peak_rss {peak}", took.as_nanos());
            Ok(())
        }
        Command::Compare { records, seed, uids, runs, replay_runs, dir, write_docs, fold_rows_only } => {
            let tmp;
            let dir = match dir {
                Some(d) => {
                    fs::create_dir_all(&d).with_context(|| format!("create {}", d.display()))?;
                    d
                }
                None => {
                    tmp = tempfile::Builder::new().prefix("idres-compare").tempdir()?;
                    tmp.path().to_path_buf()
                }
            };
            if write_docs && fold_rows_only {
                bail!("--write-docs writes the whole table: not with --fold-rows-only");
            }
            let replay_runs = replay_runs.unwrap_or(runs).max(1);
            let report = compare(&dir, records, seed, uids, runs.max(1), replay_runs, fold_rows_only)?;
            let md = report.markdown();
            println!("{md}");
            if write_docs {
                write_docs_section(&md)?;
            }
            if !report.partitions_agree {
                bail!("SQLite's components differ from idres's profiles (see above)");
            }
            Ok(())
        }
    }
}

/// Peak resident set of this process (VmHWM), in bytes.
fn peak_rss_bytes() -> anyhow::Result<u64> {
    let status = fs::read_to_string("/proc/self/status").context("read /proc/self/status")?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:")).ok_or_else(|| anyhow!("no VmHWM"))?;
    let kb: u64 = line.split_whitespace().nth(1).ok_or_else(|| anyhow!("bad VmHWM"))?.parse()?;
    Ok(kb * 1024)
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort_unstable();
    v[v.len() / 2]
}

fn timed<T>(runs: usize, mut f: impl FnMut() -> anyhow::Result<T>) -> anyhow::Result<(Duration, T)> {
    let mut times = Vec::with_capacity(runs);
    let mut last = None;
    for _ in 0..runs {
        let t = Instant::now();
        let out = f()?;
        times.push(t.elapsed());
        last = Some(out);
    }
    let out = last.ok_or_else(|| anyhow!("no run"))?;
    Ok((median(times), out))
}

/// Folds a log from the resolver's next LSN (up to `to`, or the end).
fn fold(log: &ReadOnlyLog, mut r: Resolver, to: Option<u64>) -> anyhow::Result<(Resolver, u64)> {
    let end = to.unwrap_or(log.end_lsn()).min(log.end_lsn());
    // A replay without a store: nobody reads the change stream.
    r.set_change_tracking(false);
    let mut reader = log.reader(r.next_lsn())?;
    let mut n = 0;
    'frames: while let Some(frame) = reader.next_frame()? {
        for (lsn, bytes) in frame.records() {
            if lsn >= end {
                break 'frames;
            }
            r.apply_encoded(lsn, frame.schema, bytes)?;
            r.drain_changes().for_each(drop);
            n += 1;
        }
    }
    Ok((r, n))
}

/// The store backend named `name`.
fn backend(name: &str) -> anyhow::Result<StoreBackend> {
    StoreBackend::by_name(name).ok_or_else(|| anyhow!("--store must be one of {:?}, not {name:?}", StoreBackend::NAMES))
}
