//! `idres-bench compare`: one workload, measured side by side against the physical limits and a
//! SQL peer, in one run. See docs/PERFORMANCE.md ("The comparison harness").
//!
//! `cargo run --release -p idres-bench -- compare --records 2000000 [--seed S] [--uids U]
//! [--runs R] [--replay-runs R] [--dir DIR] [--write-docs | --fold-rows-only]`
#![allow(clippy::print_stdout, clippy::print_stderr)] // a command line prints

use std::collections::HashMap;
use std::fs;
use std::io::{BufRead, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context};
use clap::{Parser, Subcommand};
use idres::{EngineConfig, StoreBackend};
use idres_bench::{ingest_run, IngestRun};
use idres_cli::gen::{write_ndjson, GenOptions};
use idres_cli::input::{parse_line, Format, Parsed};
use idres_log::{BatchBuilder, Durability, Log, LogOptions, ReadOnlyLog};
use idres_model::{decode_entry_with_schema, encode_entry_into, Entry, Record, Timestamp, CODEC_ID, SCHEMA_VERSION};
use idres_resolve::{Config, EdgeKind, NodeRef, Resolver};

mod work;

/// `writeln!` into a String (whose fmt::Write never fails).
macro_rules! writeln_ {
    ($w:expr, $($arg:tt)*) => {{
        use std::fmt::Write as _;
        writeln!($w, $($arg)*)
    }};
}

/// Records ingested through the Engine per ingest row (the rest of the workload is not needed
/// to measure a steady rate, and a 10 M-record ingest with sled behind it would take minutes).
const INGEST_RECORDS_MAX: u64 = 1_000_000;
/// Records per frame when the harness writes the workload's logs.
const WRITE_BATCH: usize = 4096;
/// Where `--write-docs` puts the table in docs/PERFORMANCE.md.
const DOCS_BEGIN: &str = "<!-- compare:begin -->";
const DOCS_END: &str = "<!-- compare:end -->";

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
        Command::IngestTime { log, dir, records, producers, batched, store_interval_ms, store } => {
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
            let run = ingest_run(&dir, config, parts, batched)?;
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

/// The two logs of the workload: everything, and its identity records only.
struct Logs {
    full: PathBuf,
    identity: PathBuf,
    records: u64,
    identity_records: u64,
}

fn is_identity(r: &Record) -> bool {
    matches!(
        r,
        Record::Identify { .. }
            | Record::Reset { .. }
            | Record::Merge { .. }
            | Record::Unmerge { .. }
            | Record::Unlink { .. }
    )
}

/// Generates the workload with the CLI's generator (as native NDJSON, like `idres gen`), and
/// writes it once as a log, and its identity records as a second log. Each record's append time
/// is its own time (or the previous one's), so the logs and the digest depend on the seed only.
fn write_logs(dir: &Path, records: u64, seed: u64, uids: Option<u64>) -> anyhow::Result<Logs> {
    let ndjson = dir.join("workload.ndjson");
    {
        let mut w = BufWriter::new(fs::File::create(&ndjson)?);
        write_ndjson(&GenOptions { records, seed, uids }, &mut w)?;
        w.flush()?;
    }
    let opts = LogOptions { durability: Durability::Never, codec_id: CODEC_ID, ..LogOptions::default() };
    let (full, identity) = (dir.join("full/log"), dir.join("identity/log"));
    for d in [&full, &identity] {
        if d.exists() {
            fs::remove_dir_all(d)?;
        }
    }
    let mut logs = [Log::open(&full, opts.clone())?, Log::open(&identity, opts)?];
    let mut batches = [BatchBuilder::new(SCHEMA_VERSION), BatchBuilder::new(SCHEMA_VERSION)];
    let mut counts = [0u64; 2];
    let mut appended_at = Timestamp::from_micros(0);
    let input = std::io::BufReader::with_capacity(1 << 20, fs::File::open(&ndjson)?);
    for (n, line) in input.split(b'\n').enumerate() {
        let line = line?;
        if line.is_empty() {
            continue;
        }
        let record = match parse_line(&line, Format::Native).map_err(|e| anyhow!("workload line {}: {e}", n + 1))? {
            Parsed::Records(mut r) if r.len() == 1 => r.remove(0),
            other => bail!("workload line {}: unexpected {other:?}", n + 1),
        };
        if let Some(ts) = record.ts() {
            appended_at = ts;
        }
        let entry = Entry { appended_at, record };
        for (i, wanted) in [true, is_identity(&entry.record)].into_iter().enumerate() {
            if !wanted {
                continue;
            }
            batches[i].push_with(|buf| {
                encode_entry_into(&entry, buf).map_err(|e| idres_log::LogError::InvalidOptions(e.to_string()))
            })?;
            counts[i] += 1;
            if batches[i].len() >= WRITE_BATCH {
                logs[i].append(&batches[i])?;
                batches[i].clear();
            }
        }
    }
    for i in 0..2 {
        logs[i].append(&batches[i])?;
        logs[i].sync()?;
    }
    let [a, b] = logs;
    a.close()?;
    b.close()?;
    fs::remove_file(&ndjson)?;
    Ok(Logs { full, identity, records: counts[0], identity_records: counts[1] })
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

fn node_name(n: &NodeRef) -> String {
    match n {
        NodeRef::Device(d) => format!("uid:{}#{}", d.uid, d.epoch),
        NodeRef::Customer(c) => format!("cid:{c}"),
    }
}

/// The accepted, kept edges of a fold, interned to dense ids (keyed by the node itself, so no
/// two nodes can share an id): (node -> id, pairs, merge edges).
fn interned_edges(r: &Resolver) -> (HashMap<NodeRef, u32>, Vec<(u32, u32)>, usize) {
    let mut ids: HashMap<NodeRef, u32> = HashMap::new();
    let mut pairs = Vec::new();
    let mut merges = 0;
    let intern = |n: NodeRef, ids: &mut HashMap<NodeRef, u32>| -> u32 {
        let next = ids.len() as u32;
        *ids.entry(n).or_insert(next)
    };
    for (from, to, kind, _) in r.edges() {
        if kind == EdgeKind::Merge {
            merges += 1;
        }
        let a = intern(from, &mut ids);
        let b = intern(to, &mut ids);
        pairs.push((a, b));
    }
    (ids, pairs, merges)
}

/// Plain union-find (union by size, path halving) over pre-interned pairs: the algorithm's limit.
fn bare_union_find(nodes: usize, pairs: &[(u32, u32)]) -> Vec<u32> {
    let mut parent: Vec<u32> = (0..nodes as u32).collect();
    let mut size = vec![1u32; nodes];
    fn find(parent: &mut [u32], mut x: u32) -> u32 {
        while parent[x as usize] != x {
            let p = parent[x as usize];
            parent[x as usize] = parent[p as usize];
            x = parent[x as usize];
        }
        x
    }
    for &(a, b) in pairs {
        let (ra, rb) = (find(&mut parent, a), find(&mut parent, b));
        if ra != rb {
            let (big, small) = if size[ra as usize] >= size[rb as usize] { (ra, rb) } else { (rb, ra) };
            parent[small as usize] = big;
            size[big as usize] += size[small as usize];
        }
    }
    (0..nodes as u32).map(|x| find(&mut parent, x)).collect()
}

/// What warehouse users run (dbt / RudderStack style identity stitching): the link pairs in
/// SQLite, connected components by iterated label propagation until nothing changes. Returns the
/// component label per node id and the number of iterations.
fn sqlite_stitch(path: &Path, pairs: &[(u32, u32)]) -> anyhow::Result<(HashMap<u32, i64>, u32)> {
    if path.exists() {
        fs::remove_file(path)?;
    }
    let mut db = rusqlite::Connection::open(path)?;
    db.execute_batch(
        "PRAGMA journal_mode = OFF; PRAGMA synchronous = OFF; PRAGMA temp_store = MEMORY; PRAGMA cache_size = -262144;
         CREATE TABLE edges (a INTEGER NOT NULL, b INTEGER NOT NULL);",
    )?;
    {
        let tx = db.transaction()?;
        {
            let mut insert = tx.prepare("INSERT INTO edges (a, b) VALUES (?1, ?2)")?;
            for &(a, b) in pairs {
                insert.execute((a, b))?;
            }
        }
        tx.commit()?;
    }
    db.execute_batch(
        "CREATE INDEX edges_a ON edges (a); CREATE INDEX edges_b ON edges (b);
         CREATE TABLE label (node INTEGER PRIMARY KEY, comp INTEGER NOT NULL);
         INSERT INTO label (node, comp) SELECT a, a FROM edges UNION SELECT b, b FROM edges;",
    )?;
    let mut iterations = 0;
    loop {
        iterations += 1;
        let changed = db.execute(
            "UPDATE label SET comp = m.c FROM (
                 SELECT x AS node, MIN(c) AS c FROM (
                     SELECT e.a AS x, l.comp AS c FROM edges e JOIN label l ON l.node = e.b
                     UNION ALL
                     SELECT e.b AS x, l.comp AS c FROM edges e JOIN label l ON l.node = e.a
                 ) GROUP BY x
             ) AS m
             WHERE label.node = m.node AND m.c < label.comp",
            (),
        )?;
        if changed == 0 {
            break;
        }
    }
    let mut labels = HashMap::with_capacity(pairs.len());
    let mut q = db.prepare("SELECT node, comp FROM label")?;
    let rows = q.query_map((), |row| Ok((row.get::<_, i64>(0)?, row.get::<_, i64>(1)?)))?;
    for row in rows {
        let (node, comp) = row?;
        labels.insert(u32::try_from(node)?, comp);
    }
    Ok((labels, iterations))
}

/// True if SQLite's components are exactly idres's profiles. Every node of every profile is
/// checked: a node in a profile of several nodes must be in SQLite (it has a kept edge) with the
/// same label as the rest of its profile; a node alone may be absent (no edge); no SQLite
/// component may span two profiles, and every node SQLite labelled must be in some profile.
fn same_partition(
    r: &Resolver,
    ids: &HashMap<NodeRef, u32>,
    labels: &HashMap<u32, i64>,
) -> anyhow::Result<(bool, String)> {
    let mut owner: HashMap<i64, uuid::Uuid> = HashMap::new();
    let (mut labelled, mut components) = (0usize, 0usize);
    for id in r.profile_ids() {
        let Some(p) = r.profile_by_id(id) else { continue };
        if p.id != id {
            continue; // a retired id: its nodes are checked with the survivor
        }
        let nodes: Vec<NodeRef> =
            p.cids.iter().cloned().map(NodeRef::Customer).chain(p.uids.iter().cloned().map(NodeRef::Device)).collect();
        let mut label = None;
        for n in &nodes {
            match ids.get(n).and_then(|i| labels.get(i)) {
                Some(&l) => {
                    labelled += 1;
                    if *label.get_or_insert(l) != l {
                        return Ok((
                            false,
                            format!("profile {} spans two SQLite components (at {})", p.id, node_name(n)),
                        ));
                    }
                }
                None if nodes.len() > 1 => {
                    return Ok((
                        false,
                        format!(
                            "{} is in profile {} of {} nodes but has no kept edge",
                            node_name(n),
                            p.id,
                            nodes.len()
                        ),
                    ))
                }
                None => {}
            }
        }
        if let Some(l) = label {
            components += 1;
            if owner.insert(l, p.id).is_some() {
                return Ok((false, format!("SQLite component {l} spans two profiles (one is {})", p.id)));
            }
        }
    }
    if labelled != labels.len() {
        return Ok((false, format!("SQLite labelled {} nodes, the profiles hold {labelled} of them", labels.len())));
    }
    Ok((true, format!("{components} components over {labelled} nodes")))
}

struct Row {
    name: &'static str,
    time: Duration,
    records: u64,
    note: String,
}

struct Report {
    command: String,
    machine: String,
    records: u64,
    identity_records: u64,
    devices: usize,
    customers: usize,
    edges: usize,
    merges: usize,
    digest: String,
    rows: Vec<Row>,
    ingest: Vec<(usize, bool, IngestRun)>,
    /// `None` when the peak-RSS row was not measured (`--fold-rows-only`).
    peak_rss: Option<u64>,
    partitions_agree: bool,
    partition_note: String,
}

fn machine() -> String {
    let cpuinfo = fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let model = cpuinfo
        .lines()
        .find_map(|l| l.strip_prefix("model name").map(|v| v.trim_start_matches([' ', '\t', ':']).to_string()))
        .unwrap_or_else(|| "unknown CPU".into());
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    let mem = fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|m| m.lines().next().map(|l| l.split_whitespace().nth(1).unwrap_or("0").to_string()))
        .and_then(|kb| kb.parse::<u64>().ok())
        .map_or(String::new(), |kb| format!(", {} GiB", kb / (1024 * 1024)));
    format!("{model}, {cores} cores{mem}")
}

fn compare(
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
            let run = ingest_run(&data, EngineConfig::default(), parts, batched)?;
            ingest.push((producers, batched, run));
        }
    }
    Ok(report(rows, ingest, Some(peak_rss)))
}

/// The store backend named `name`.
fn backend(name: &str) -> anyhow::Result<StoreBackend> {
    StoreBackend::by_name(name).ok_or_else(|| anyhow!("--store must be one of {:?}, not {name:?}", StoreBackend::NAMES))
}

fn copy_log(from: &Path, to: &Path) -> anyhow::Result<()> {
    fs::create_dir_all(to)?;
    for e in fs::read_dir(from)? {
        let e = e?;
        if e.path().extension().is_some_and(|x| x == "seg") {
            fs::copy(e.path(), to.join(e.file_name()))?;
        }
    }
    Ok(())
}

fn read_records(log: &ReadOnlyLog, n: u64) -> anyhow::Result<Vec<Record>> {
    let mut reader = log.reader(0)?;
    let mut out = Vec::with_capacity(n as usize);
    'frames: while let Some(frame) = reader.next_frame()? {
        for (_, bytes) in frame.records() {
            if out.len() as u64 >= n {
                break 'frames;
            }
            out.push(decode_entry_with_schema(frame.schema, bytes)?.record);
        }
    }
    Ok(out)
}

impl Report {
    fn time_of(&self, name: &str) -> Option<Duration> {
        self.rows.iter().find(|r| r.name == name).map(|r| r.time)
    }

    fn ratio(&self, a: &str, b: &str) -> String {
        match (self.time_of(a), self.time_of(b)) {
            (Some(x), Some(y)) if y > Duration::ZERO => format!("{:.2}×", x.as_secs_f64() / y.as_secs_f64()),
            _ => "-".into(),
        }
    }

    fn markdown(&self) -> String {
        let mut s = String::new();
        let w = &mut s;
        let _ = writeln_!(w, "Command: `{}`", self.command);
        let _ = writeln_!(w, "");
        let _ = writeln_!(w, "Machine: {}.", self.machine);
        let _ = writeln_!(
            w,
            "Workload: {} records ({} identity records), {} device nodes, {} customer nodes, {} kept edges ({} merges); digest `{}`.",
            self.records, self.identity_records, self.devices, self.customers, self.edges, self.merges, self.digest
        );
        let _ = writeln_!(w, "");
        let _ = writeln_!(w, "| row | median time | per second | notes |");
        let _ = writeln_!(w, "| --- | --- | --- | --- |");
        for r in &self.rows {
            let rate = if r.records == 0 {
                "-".to_string()
            } else {
                fmt_rate(r.records as f64 / r.time.as_secs_f64().max(1e-9))
            };
            let _ = writeln_!(w, "| {} | {} | {} | {} |", r.name, fmt_time(r.time), rate, r.note);
        }
        for (producers, batched, run) in &self.ingest {
            let per_s = run.records as f64 / run.elapsed.as_secs_f64().max(1e-9);
            let _ = writeln_!(
                w,
                "| idres ingest, {producers} producer{}, {} | {} | {} | {} records, fdatasync per group commit; ack p50 {:.1} ms, p99 {:.1} ms; store caught up after {:.1} s ({:.0} profiles/s, {:.2} keys each) |",
                if *producers == 1 { "" } else { "s" },
                if *batched { "write_batch 512" } else { "single writes" },
                fmt_time(run.elapsed),
                fmt_rate(per_s),
                run.records,
                run.p50.as_secs_f64() * 1e3,
                run.p99.as_secs_f64() * 1e3,
                run.store_caught_up.as_secs_f64(),
                run.store_profiles_per_s,
                run.store_keys_written as f64 / run.store_profiles_written.max(1) as f64,
            );
        }
        let _ = writeln_!(w, "");
        let _ = writeln_!(w, "| ratio | value | target |");
        let _ = writeln_!(w, "| --- | --- | --- |");
        let _ = writeln_!(w, "| idres fold / decode only | {} | ≤ 1.5× |", self.ratio("idres fold", "decode only"));
        let _ = writeln_!(
            w,
            "| idres fold / bare union-find | {} | (the algorithm's share) |",
            self.ratio("idres fold", "bare union-find")
        );
        let _ = writeln_!(
            w,
            "| SQLite / idres identity-only fold | {} | ≥ 10× |",
            self.ratio("SQLite stitching", "idres fold, identity only")
        );
        let _ = writeln_!(w, "| SQLite / idres replay | {} | > 1× |", self.ratio("SQLite stitching", "idres replay"));
        let _ = writeln_!(
            w,
            "| idres replay (fjall) / idres fold | {} | ≤ 2.5× |",
            self.ratio("idres replay", "idres fold")
        );
        let _ = writeln_!(
            w,
            "| idres replay, sled store / idres fold | {} | (supported backend) |",
            self.ratio("idres replay, sled store", "idres fold")
        );
        if let Some(peak_rss) = self.peak_rss {
            let per_device = peak_rss as f64 / (self.devices.max(1) as f64);
            let _ = writeln_!(
                w,
                "| peak RSS of the fold per device node | {:.0} bytes ({} MiB / {} device nodes) | ≤ 150 bytes |",
                per_device,
                peak_rss >> 20,
                self.devices
            );
        }
        let _ = writeln_!(
            w,
            "| SQLite components = idres profiles | {} ({}) | identical |",
            if self.partitions_agree { "yes" } else { "**NO**" },
            self.partition_note
        );
        s
    }
}

fn fmt_time(d: Duration) -> String {
    let s = d.as_secs_f64();
    if s >= 1.0 {
        format!("{s:.2} s")
    } else {
        format!("{:.1} ms", s * 1e3)
    }
}

fn fmt_rate(per_s: f64) -> String {
    if per_s >= 1e6 {
        format!("{:.2} M/s", per_s / 1e6)
    } else {
        format!("{:.0} k/s", per_s / 1e3)
    }
}

fn write_docs_section(md: &str) -> anyhow::Result<()> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/PERFORMANCE.md");
    let text = fs::read_to_string(&path).with_context(|| format!("read {}", path.display()))?;
    let (Some(b), Some(e)) = (text.find(DOCS_BEGIN), text.find(DOCS_END)) else {
        bail!("{} lacks the markers {DOCS_BEGIN} / {DOCS_END}", path.display());
    };
    let new = format!("{}{DOCS_BEGIN}\n{md}{}", &text[..b], &text[e..]);
    fs::write(&path, new).with_context(|| format!("write {}", path.display()))?;
    eprintln!("wrote the table into {}", path.display());
    Ok(())
}
