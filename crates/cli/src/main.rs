//! `idres`: ingest, query, replay and audit an idres data directory, and the demo.
//!
//! Exit codes: 0 success; 1 not found; 2 bad input or usage (nothing appended from the bad
//! file); 3 damaged or unreadable data.
#![allow(clippy::print_stdout, clippy::print_stderr)] // a command line prints

use std::fs;
use std::io::{BufWriter, IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

use anyhow::{anyhow, Context};
use clap::{Parser, Subcommand, ValueEnum};
use idres::{Engine, EngineConfig, EngineError};
use idres_cli::config::parse_config;
use idres_cli::gen::{write_ndjson, GenOptions};
use idres_cli::input::Format;
use idres_cli::json::{explain_json, history_json, profile_json, reject_json};
use idres_cli::time::format_rfc3339;
use idres_log::ReadOnlyLog;
use idres_model::{Cid, IdExcerpt, Profile, ProfileKind, Record, Uid, CODEC_ID};
use idres_resolve::{ApplyEncodedError, Config, Explanation, Resolver};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use uuid::Uuid;

/// `println!` that returns the error instead of panicking (Rust ignores SIGPIPE: a closed pipe
/// is an `Err` here, which `main` turns into a quiet exit).
macro_rules! say {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        writeln!(std::io::stdout().lock(), $($arg)*)?
    }};
}

mod ingest;
use ingest::{ingest, ingest_one, Source};

/// The config in force is recorded here, in the data directory.
const CONFIG_FILE: &str = "config.toml";
/// Records per `write_batch` when ingesting.
const INGEST_BATCH: usize = 4096;
/// Batches in flight when ingesting.
const INGEST_IN_FLIGHT: usize = 4;
/// Marks a data directory the demo made (and may wipe on its next run).
const DEMO_MARKER: &str = ".idres-demo";

#[derive(Parser)]
#[command(name = "idres", version, about = "Event-sourced identity resolution: ingest, query, replay, audit")]
struct Cli {
    /// The data directory (log/, snapshots/, store/, quarantine/); default ./idres-data
    /// (./idres-demo for `demo`).
    #[arg(long, global = true)]
    data: Option<PathBuf>,
    /// A TOML file with the fold's rules; recorded in the data directory and used from then on.
    #[arg(long, global = true)]
    config: Option<PathBuf>,
    /// Show progress bars even when stderr is not a terminal.
    #[arg(long, global = true)]
    progress: bool,
    #[command(subcommand)]
    command: Command,
}

#[derive(Clone, Copy, ValueEnum)]
enum InputFormat {
    Native,
    Segment,
}

#[derive(Subcommand)]
enum Command {
    /// Validates, then appends and folds NDJSON files (`-` is stdin).
    Ingest {
        #[arg(long, value_enum, default_value = "native")]
        format: InputFormat,
        /// Append the valid lines and quarantine the bad ones instead of refusing the file.
        #[arg(long)]
        skip_invalid: bool,
        #[arg(required = true)]
        files: Vec<PathBuf>,
    },
    /// One profile.
    Profile {
        #[arg(long, group = "key")]
        cid: Option<String>,
        #[arg(long, group = "key")]
        uid: Option<String>,
        /// With --uid: this epoch instead of the current one.
        #[arg(long, requires = "uid")]
        epoch: Option<u32>,
        #[arg(long, group = "key")]
        id: Option<Uuid>,
        /// The profile as it stood once the record at this LSN was folded.
        #[arg(long)]
        as_of: Option<u64>,
        #[arg(long)]
        json: bool,
    },
    /// A profile's events in LSN order.
    History {
        #[command(flatten)]
        id: IdArgs,
    },
    /// Why an id is in its profile: the edge path, implicit resets, rejections.
    Explain {
        #[command(flatten)]
        id: IdArgs,
    },
    /// Every profile, one JSON object per line, sorted by profile id.
    Export {
        /// Accepted for symmetry: export always prints JSON.
        #[arg(long)]
        json: bool,
    },
    /// Every rejected record.
    Rejects {
        #[arg(long)]
        json: bool,
    },
    /// Folds the log and prints records, profiles, rejections and the digest.
    Replay {
        /// Fold the whole log from LSN 0, ignoring snapshots.
        #[arg(long)]
        from_scratch: bool,
    },
    /// Checks every frame, replays from scratch and from every snapshot; exit 0 only if all agree.
    Verify,
    /// Rebuilds the store and the snapshots from the log.
    Rebuild,
    /// Cuts the log after an LSN (after `verify` named damage).
    Repair {
        #[arg(long)]
        truncate_after: u64,
    },
    /// Counts, sizes, LSN range.
    Stats,
    /// Writes the synthetic workload as native NDJSON.
    Gen {
        #[arg(long, default_value_t = 200_000)]
        records: u64,
        #[arg(long, default_value_t = 1)]
        seed: u64,
        /// Distinct devices to aim for (default: derived from --records).
        #[arg(long)]
        uids: Option<u64>,
        /// The output file (default: stdout).
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// The main job: generate a workload, ingest it into a fresh data directory, summarise.
    Demo {
        #[arg(long, default_value_t = 200_000)]
        records: u64,
        #[arg(long, default_value_t = 1)]
        seed: u64,
    },
}

/// `(--cid C | --uid U) [--json]`, shared by `history` and `explain`.
#[derive(clap::Args)]
struct IdArgs {
    #[arg(long, group = "key")]
    cid: Option<String>,
    #[arg(long, group = "key")]
    uid: Option<String>,
    #[arg(long)]
    json: bool,
}

/// An error with its exit code.
#[derive(Debug)]
struct Exit {
    code: u8,
    message: String,
}

impl std::fmt::Display for Exit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Exit {}

fn exit(code: u8, message: impl Into<String>) -> anyhow::Error {
    anyhow::Error::new(Exit { code, message: message.into() })
}

fn not_found(message: impl Into<String>) -> anyhow::Error {
    exit(1, message)
}

fn bad_input(message: impl Into<String>) -> anyhow::Error {
    exit(2, message)
}

/// The exit code of an error: its own, else 2 for input refused at the edge, else 3.
fn code_of(e: &anyhow::Error) -> u8 {
    for cause in e.chain() {
        if let Some(x) = cause.downcast_ref::<Exit>() {
            return x.code;
        }
        if let Some(EngineError::Invalid(_)) = cause.downcast_ref::<EngineError>() {
            return 2;
        }
    }
    3
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        // The reader went away (`idres export | head`): not an error of ours.
        Err(e)
            if e.chain().any(|c| {
                c.downcast_ref::<std::io::Error>().is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
            }) =>
        {
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("idres: {e:#}");
            ExitCode::from(code_of(&e))
        }
    }
}

impl Cli {
    fn data(&self) -> PathBuf {
        self.data.clone().unwrap_or_else(|| PathBuf::from("./idres-data"))
    }
}

fn run(cli: Cli) -> anyhow::Result<()> {
    let progress = cli.progress || std::io::stderr().is_terminal();
    match &cli.command {
        Command::Gen { .. } => {}
        Command::Demo { .. } => check_data_dir(cli.data.as_deref().unwrap_or(Path::new("./idres-demo")))?,
        _ => check_data_dir(&cli.data())?,
    }
    match &cli.command {
        Command::Gen { records, seed, uids, out } => gen(*records, *seed, *uids, out.as_deref()),
        Command::Demo { records, seed } => {
            let dir = cli.data.clone().unwrap_or_else(|| PathBuf::from("./idres-demo"));
            demo(&dir, *records, *seed, progress)
        }
        Command::Repair { truncate_after } => repair(&cli.data(), *truncate_after),
        Command::Verify => verify(&cli.data(), &fold_config(&cli)?.0, progress),
        Command::Replay { from_scratch: true } => {
            let log = open_log_for_reading(&cli.data())?;
            if let Some((seg, offset, problem)) = &log.torn_tail {
                eprintln!(
                    "idres: the log's valid frames end in {} at byte {offset} ({problem}); replaying what precedes it",
                    seg.display()
                );
            }
            let (r, records) = fold_from(&log, Resolver::new(fold_config(&cli)?.0), progress)?;
            print_replay(&r, records)
        }
        Command::Rebuild => {
            // The engine deletes the snapshots and clears the store only once the log is open and
            // known to hold everything they have seen (a damaged log keeps its evidence).
            let engine = open_engine_with(&cli, true)?;
            let s = engine.stats();
            engine.close()?;
            say!("rebuilt the store and a snapshot from {} records: {} profiles", s.folded_lsn, s.profiles);
            Ok(())
        }
        _ => {
            let engine = open_engine(&cli)?;
            let result = with_engine(&cli, &engine, progress);
            let closed = engine.close();
            result?;
            closed?;
            Ok(())
        }
    }
}

/// A data directory is a directory, or does not exist yet: said before anything reads inside it
/// (a wrong `--data` is the caller's mistake, exit 2, not "config.toml: Not a directory").
fn check_data_dir(dir: &Path) -> anyhow::Result<()> {
    match fs::metadata(dir) {
        Ok(m) if !m.is_dir() => Err(bad_input(format!("{} is not a directory", dir.display()))),
        Err(e) if e.kind() == std::io::ErrorKind::NotADirectory => {
            Err(bad_input(format!("{} is not a directory (a part of the path is a file)", dir.display())))
        }
        _ => Ok(()),
    }
}

/// The fold's config: `--config`, else the one recorded in the data directory, else the
/// defaults. With `--config`, also the text to record once an engine has opened under it.
fn fold_config(cli: &Cli) -> anyhow::Result<(Config, Option<String>)> {
    let recorded = cli.data().join(CONFIG_FILE);
    match &cli.config {
        Some(path) => {
            let text = fs::read_to_string(path).map_err(|e| bad_input(format!("config {}: {e}", path.display())))?;
            let config = parse_config(&path.display().to_string(), &text).map_err(|e| bad_input(e.to_string()))?;
            Ok((config, Some(text)))
        }
        None => match fs::read_to_string(&recorded) {
            Ok(text) => parse_config(&recorded.display().to_string(), &text)
                .map(|c| (c, None))
                .map_err(|e| exit(3, e.to_string())),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok((Config::default(), None)),
            Err(e) => Err(anyhow!("read {}: {e}", recorded.display())),
        },
    }
}

/// Records the config text in force (after an engine opened under it): later commands without
/// `--config` use it. Audits (`verify`, `replay --from-scratch`) never record one.
fn record_config(data: &Path, text: &str) -> anyhow::Result<()> {
    let recorded = data.join(CONFIG_FILE);
    if fs::read_to_string(&recorded).ok().as_deref() == Some(text) {
        return Ok(());
    }
    let tmp = data.join(format!("{CONFIG_FILE}.tmp"));
    let mut f = fs::File::create(&tmp).with_context(|| format!("write {}", tmp.display()))?;
    f.write_all(text.as_bytes()).and_then(|()| f.sync_all()).with_context(|| format!("write {}", tmp.display()))?;
    fs::rename(&tmp, &recorded).with_context(|| format!("record {}", recorded.display()))?;
    Ok(())
}

fn open_engine(cli: &Cli) -> anyhow::Result<Engine> {
    open_engine_with(cli, false)
}

fn open_engine_with(cli: &Cli, rebuild: bool) -> anyhow::Result<Engine> {
    let (fold, text) = fold_config(cli)?;
    let config = EngineConfig { fold, rebuild, ..EngineConfig::default() };
    let engine = Engine::open(cli.data(), config).with_context(|| format!("open {}", cli.data().display()))?;
    if let Some(text) = text {
        record_config(&cli.data(), &text)?;
    }
    for event in &engine.open_report().events {
        eprintln!("idres: {event}");
    }
    Ok(engine)
}

fn with_engine(cli: &Cli, engine: &Engine, progress: bool) -> anyhow::Result<()> {
    let mut out = BufWriter::new(std::io::stdout().lock());
    let result = match &cli.command {
        Command::Ingest { format, skip_invalid, files } => {
            let format = match format {
                InputFormat::Native => Format::Native,
                InputFormat::Segment => Format::Segment,
            };
            ingest(engine, &cli.data(), format, *skip_invalid, files, progress)
        }
        Command::Profile { cid, uid, epoch, id, as_of, json } => {
            let p = match as_of {
                Some(lsn) => {
                    let r = engine.as_of(*lsn).context("as-of fold")?;
                    find_profile(&r, cid, uid, *epoch, *id)?
                }
                None => engine.read(|r| find_profile(r, cid, uid, *epoch, *id))?,
            };
            if *json {
                writeln!(out, "{}", profile_json(&p))?;
            } else {
                print_profile(&mut out, &p)?;
            }
            Ok(())
        }
        Command::History { id: IdArgs { cid, uid, json } } => {
            let p = engine.read(|r| find_profile(r, cid, uid, None, None))?;
            // Per uid, its events' epochs, read once: one pass over its packed events.
            let mut epochs: std::collections::HashMap<Uid, Vec<(u64, u32)>> = std::collections::HashMap::new();
            for (lsn, entry) in engine.history(&p)? {
                let epoch = match &entry.record {
                    Record::Event { target: idres_model::Target::Uid(u), .. } => {
                        // The epoch whose device node holds the event.
                        let of_uid = epochs.entry(u.clone()).or_insert_with(|| engine.read(|r| r.event_epochs(u)));
                        of_uid.binary_search_by_key(&lsn, |&(l, _)| l).ok().map(|i| of_uid[i].1)
                    }
                    _ => None,
                };
                let Some(j) = history_json(lsn, &entry, epoch) else { continue };
                if *json {
                    writeln!(out, "{j}")?;
                } else {
                    let who = j.get("uid").or_else(|| j.get("cid")).map(|v| v.to_string()).unwrap_or_default();
                    writeln!(
                        out,
                        "{lsn:>10}  {}  {:<20} {who}  {}",
                        j["ts"].as_str().unwrap_or("-"),
                        j["name"].as_str().unwrap_or(""),
                        j["props"]
                    )?;
                }
            }
            Ok(())
        }
        Command::Explain { id: IdArgs { cid, uid, json } } => {
            let e = match (cid, uid) {
                (Some(c), None) => engine.explain_cid(c).map_err(|e| bad_input(e.to_string()))?,
                (None, Some(u)) => engine.explain_uid(u).map_err(|e| bad_input(e.to_string()))?,
                _ => return Err(bad_input("explain needs --cid or --uid")),
            };
            let e =
                e.ok_or_else(|| not_found(format!("{} is unknown", cid.as_deref().or(uid.as_deref()).unwrap_or(""))))?;
            if *json {
                writeln!(out, "{}", explain_json(&e))?;
            } else {
                print_explanation(&mut out, &e)?;
            }
            Ok(())
        }
        Command::Export { .. } => {
            let mut profiles = engine.read(|r| r.profiles());
            profiles.sort_by_key(|p| p.id);
            for p in &profiles {
                writeln!(out, "{}", profile_json(p))?;
            }
            Ok(())
        }
        Command::Rejects { json } => {
            let rejections = engine.read(|r| r.rejections().to_vec());
            for r in &rejections {
                if *json {
                    writeln!(out, "{}", reject_json(r))?;
                } else {
                    writeln!(out, "{:>10}  {:<10} {:<14} {}", r.lsn, r.kind.as_str(), r.reason.as_str(), r.detail)?;
                }
            }
            Ok(())
        }
        Command::Replay { .. } => {
            let s = engine.stats();
            let (records, rejections) = (s.folded_lsn, s.rejections);
            writeln!(out, "records {records}\nprofiles {}\nrejections {rejections}", s.profiles)?;
            writeln!(out, "digest {}", hex(&engine.digest()))?;
            Ok(())
        }
        Command::Stats => {
            let s = engine.stats();
            let (customers, anonymous) = engine.read(|r| r.profile_counts());
            let log_bytes = dir_bytes(&cli.data().join("log"));
            let snaps = fs::read_dir(cli.data().join("snapshots")).map(|d| d.count()).unwrap_or(0);
            writeln!(out, "records        {} (LSN 0..{})", s.folded_lsn, s.folded_lsn)?;
            writeln!(out, "profiles       {} ({customers} customers, {anonymous} anonymous)", s.profiles)?;
            writeln!(out, "rejections     {}", s.rejections)?;
            writeln!(out, "log            {log_bytes} bytes on disk (segments are preallocated)")?;
            writeln!(out, "snapshots      {snaps} ({} bytes)", dir_bytes(&cli.data().join("snapshots")))?;
            writeln!(out, "store          {} bytes, at LSN {}", dir_bytes(&cli.data().join("store")), s.stored_lsn)?;
            Ok(())
        }
        _ => Ok(()),
    };
    // An error writing the last buffered lines (a full disk, a closed pipe) is an error too.
    result.and(out.flush().map_err(anyhow::Error::from))
}

fn find_profile(
    r: &Resolver,
    cid: &Option<String>,
    uid: &Option<String>,
    epoch: Option<u32>,
    id: Option<Uuid>,
) -> anyhow::Result<Profile> {
    match (cid, uid, id) {
        (Some(c), None, None) => {
            let c = Cid::parse(c).map_err(|e| bad_input(format!("--cid {}: {e}", IdExcerpt::new(c.as_bytes()))))?;
            r.profile_by_cid(&c).ok_or_else(|| not_found(format!("cid {c} is unknown")))
        }
        (None, Some(u), None) => {
            let parsed =
                Uid::parse(u).map_err(|e| bad_input(format!("--uid {}: {e}", IdExcerpt::new(u.as_bytes()))))?;
            let found = match epoch {
                Some(e) => r.profile_by_uid_epoch(&parsed, e),
                None => r.profile_by_uid(&parsed),
            };
            found.ok_or_else(|| match epoch {
                Some(e) => not_found(format!("uid {u} has nothing at epoch {e}")),
                None => {
                    not_found(format!("uid {u} is unknown, or its current epoch holds nothing yet (after a reset)"))
                }
            })
        }
        (None, None, Some(id)) => r.profile_by_id(id).ok_or_else(|| not_found(format!("profile {id} is unknown"))),
        _ => Err(bad_input("name one of --cid, --uid, --id")),
    }
}

fn ts_text(ts: Option<idres_model::Timestamp>) -> String {
    ts.map_or_else(|| "-".to_string(), |t| format_rfc3339(t.as_micros()))
}

fn print_profile(out: &mut impl Write, p: &Profile) -> anyhow::Result<()> {
    let kind = match p.kind {
        ProfileKind::Customer => "customer",
        ProfileKind::Anonymous => "anonymous",
    };
    writeln!(out, "profile    {} ({kind})", p.id)?;
    if let Some(c) = &p.primary_cid {
        writeln!(out, "primary    {c}")?;
    }
    if p.cids.len() > 1 {
        writeln!(out, "cids       {}", p.cids.iter().map(|c| c.to_string()).collect::<Vec<_>>().join(", "))?;
    }
    writeln!(
        out,
        "devices    {}",
        p.uids.iter().map(|d| format!("{}#{}", d.uid, d.epoch)).collect::<Vec<_>>().join(", ")
    )?;
    writeln!(out, "events     {} (first {}, last {})", p.event_count, ts_text(p.first_seen), ts_text(p.last_seen))?;
    for (name, n) in &p.events_by_name {
        writeln!(out, "  {n:>8}  {name}")?;
    }
    if !p.attributes.is_empty() {
        writeln!(out, "attributes")?;
        for (k, v) in &p.attributes {
            writeln!(out, "  {k} = {}", idres_cli::json::value_to_json(v))?;
        }
    }
    Ok(())
}

fn print_explanation(out: &mut impl Write, e: &Explanation) -> anyhow::Result<()> {
    match (&e.node, e.profile_id) {
        (Some(n), Some(id)) => writeln!(out, "{n} is in profile {id}")?,
        _ => writeln!(out, "no node: every record of this id was rejected, or its current epoch holds nothing yet")?,
    }
    for s in &e.path {
        writeln!(
            out,
            "  {} -> {}  {} at LSN {} ({}): {}",
            s.from,
            s.to,
            s.kind.as_str(),
            s.lsn,
            format_rfc3339(s.time.as_micros()),
            s.rule
        )?;
    }
    for r in &e.implicit_resets {
        writeln!(
            out,
            "  implicit reset at LSN {}: uid {} epoch {} stayed with {}; epoch {} linked to {}",
            r.lsn, r.uid, r.from_epoch, r.previous_cid, r.to_epoch, r.cid
        )?;
    }
    for r in &e.rejections {
        writeln!(out, "  rejected at LSN {}: {} ({}) {}", r.lsn, r.kind.as_str(), r.reason.as_str(), r.detail)?;
    }
    Ok(())
}

fn bar(progress: bool, len: u64, what: &str) -> ProgressBar {
    let bar = ProgressBar::with_draw_target(
        Some(len),
        if progress { ProgressDrawTarget::stderr() } else { ProgressDrawTarget::hidden() },
    );
    if let Ok(style) = ProgressStyle::with_template(&format!("{what} {{bar:40}} {{pos}}/{{len}} {{per_sec}} {{eta}}")) {
        bar.set_style(style);
    }
    bar
}

fn gen(records: u64, seed: u64, uids: Option<u64>, out: Option<&Path>) -> anyhow::Result<()> {
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

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
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

/// The log, read-only: audits change nothing (a torn tail is reported, not cut).
fn open_log_for_reading(data: &Path) -> anyhow::Result<ReadOnlyLog> {
    let dir = data.join("log");
    if !dir.is_dir() {
        return Err(not_found(format!("{} holds no log", data.display())));
    }
    ReadOnlyLog::open(&dir, Some(CODEC_ID)).map_err(|e| exit(3, e.to_string()))
}

/// Folds the log from the resolver's next LSN to the end; returns it and the records folded.
fn fold_from(log: &ReadOnlyLog, mut r: Resolver, progress: bool) -> anyhow::Result<(Resolver, u64)> {
    let end = log.end_lsn();
    let bar = bar(progress, end.saturating_sub(r.next_lsn()), "replay");
    // An audit replay reads the result, not the change stream.
    r.set_change_tracking(false);
    let mut reader = log.reader(r.next_lsn())?;
    let mut n = 0u64;
    while let Some(frame) = reader.next_frame()? {
        for (lsn, bytes) in frame.records() {
            r.apply_encoded(lsn, frame.schema, bytes).map_err(|e| match e {
                ApplyEncodedError::Decode(e) => exit(3, format!("record at LSN {lsn} cannot be decoded: {e}")),
                ApplyEncodedError::Apply(e) => exit(3, format!("fold at LSN {lsn}: {e}")),
            })?;
            r.drain_changes().for_each(drop);
            n += 1;
        }
        bar.set_position(n);
    }
    bar.finish_and_clear();
    Ok((r, n))
}

fn print_replay(r: &Resolver, records: u64) -> anyhow::Result<()> {
    say!("records {records}");
    say!("profiles {}", r.profile_count());
    say!("rejections {}", r.rejections().len());
    say!("digest {}", hex(&r.digest()));
    Ok(())
}

fn repair(data: &Path, after: u64) -> anyhow::Result<()> {
    let report = idres_log::repair(data.join("log"), Some(after)).context("repair")?;
    // Snapshots and a store that saw past the cut would make open refuse the directory.
    let end = after + 1;
    let snaps = data.join("snapshots");
    if let Ok(entries) = fs::read_dir(&snaps) {
        for e in entries.flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            let lsn = name.strip_suffix(".snap").and_then(|n| n.parse::<u64>().ok());
            if lsn.is_some_and(|l| l > end) || name.ends_with(".tmp") {
                fs::remove_file(e.path()).with_context(|| format!("remove {}", e.path().display()))?;
                say!("removed snapshot {name} (past the cut)");
            }
        }
    }
    let store = data.join("store");
    if store.exists() {
        fs::remove_dir_all(&store).with_context(|| format!("remove {}", store.display()))?;
        say!("removed the store; the next open rebuilds it");
    }
    say!("{report:?}");
    Ok(())
}

fn verify(data: &Path, config: &Config, progress: bool) -> anyhow::Result<()> {
    let mut problems = Vec::new();
    let log_dir = data.join("log");
    // Every frame's checksum, every segment header: damage anywhere but the tail is an error here.
    let frames = idres_log::verify(&log_dir, Some(CODEC_ID)).map_err(|e| exit(3, format!("verify: {e}")))?;
    say!("log: {} segments, {} frames, LSN {}..{}", frames.segments, frames.frames, frames.start_lsn, frames.end_lsn);
    let log = open_log_for_reading(data)?;
    let log_end = log.end_lsn();
    // What the snapshots and the store have seen was acknowledged: the log must still hold it.
    let mut snaps: Vec<(u64, PathBuf)> = fs::read_dir(data.join("snapshots"))
        .map(|d| {
            d.flatten()
                .filter_map(|e| {
                    let name = e.file_name().to_string_lossy().into_owned();
                    name.strip_suffix(".snap").and_then(|n| n.parse::<u64>().ok()).map(|l| (l, e.path()))
                })
                .collect()
        })
        .unwrap_or_default();
    snaps.sort();
    let store_dir = data.join("store");
    let store_seen = if store_dir.exists() {
        match idres_store::SledStore::open(&store_dir, &idres_store::SledOptions::default()) {
            Ok(s) => match idres_store::ProfileStore::applied_lsn(&s) {
                Ok(a) => a,
                Err(e) => {
                    problems.push(format!("store damaged: {e} (rebuild fixes it)"));
                    None
                }
            },
            // A lock held by a running engine, or permissions: not damage, and not checked.
            Err(e) if e.is_io() => {
                say!("store: not checked ({e})");
                None
            }
            Err(e) => {
                problems.push(format!("store unreadable: {e} (rebuild fixes it)"));
                None
            }
        }
    } else {
        None
    };
    let seen = snaps.iter().map(|(l, _)| *l).chain(store_seen).max().unwrap_or(0);
    let where_it_ends = match &log.torn_tail {
        Some((seg, offset, problem)) => format!("in {} at byte offset {offset} ({problem})", seg.display()),
        None => "cleanly".to_string(),
    };
    if seen > log_end {
        problems.push(format!(
            "acknowledged records were lost: the snapshots or the store have seen LSN {seen}, but the log's valid frames end at LSN {log_end}, {where_it_ends}"
        ));
    } else if log.torn_tail.is_some() {
        // Not damage: a write that was never acknowledged (a crash mid-append); the next open cuts it.
        say!("note: the log ends {where_it_ends}: an unacknowledged write, cut on the next open");
    }
    let (scratch, n) = fold_from(&log, Resolver::new(config.clone()), progress)?;
    let digest = scratch.digest();
    say!("from scratch: {n} records, digest {}", hex(&digest));
    for (lsn, path) in snaps {
        if lsn > log_end {
            problems.push(format!("snapshot {} has seen LSN {lsn}, past the log's end {log_end}", path.display()));
            continue;
        }
        let bytes = fs::read(&path).with_context(|| format!("read {}", path.display()))?;
        match Resolver::restore(&bytes, config.clone()) {
            Ok(r) => {
                let (r, _) = fold_from(&log, r, false)?;
                let d = r.digest();
                if d == digest {
                    say!("snapshot {}: digest agrees", path.display());
                } else {
                    problems.push(format!("snapshot {}: digest {} differs", path.display(), hex(&d)));
                }
            }
            Err(e @ idres_resolve::SnapshotError::ConfigMismatch { .. }) => {
                say!("snapshot {}: folded under another config; not used ({e})", path.display())
            }
            Err(e @ idres_resolve::SnapshotError::Version { .. }) => {
                say!("snapshot {}: written by another build; not used ({e})", path.display())
            }
            Err(e) => {
                problems.push(format!("snapshot {} is damaged: {e} (a cache: rebuild replaces it)", path.display()))
            }
        }
    }
    if let Some(a) = store_seen {
        if a <= log_end {
            say!("store: at LSN {a}");
        }
    }
    say!("digest {}", hex(&digest));
    if problems.is_empty() {
        say!("verify: ok");
        Ok(())
    } else {
        for p in &problems {
            say!("problem: {p}");
        }
        Err(exit(3, format!("verify found {} problem(s): {}", problems.len(), problems.join("; "))))
    }
}

fn demo(dir: &Path, records: u64, seed: u64, progress: bool) -> anyhow::Result<()> {
    // A fresh data directory: the demo's own from an earlier run is wiped; anything else is kept.
    if dir.exists() {
        let empty = fs::read_dir(dir).map(|mut d| d.next().is_none()).unwrap_or(false);
        if dir.join(DEMO_MARKER).exists() {
            fs::remove_dir_all(dir).with_context(|| format!("remove the earlier demo in {}", dir.display()))?;
        } else if !empty {
            return Err(bad_input(format!(
                "{} holds data the demo did not make; pass --data with a new directory",
                dir.display()
            )));
        }
    }
    fs::create_dir_all(dir).with_context(|| format!("create {}", dir.display()))?;
    fs::write(dir.join(DEMO_MARKER), b"made by `idres demo`; the next demo run replaces this directory\n")?;
    let input = dir.join("demo-input.ndjson");
    let started = Instant::now();
    let opts = GenOptions { records, seed, uids: None };
    let mut w = BufWriter::new(fs::File::create(&input).with_context(|| format!("create {}", input.display()))?);
    let gen_stats = write_ndjson(&opts, &mut w)?;
    w.flush()?;
    let generated = started.elapsed();
    say!("generated {records} records (seed {seed}) in {:.2} s: {}", generated.as_secs_f64(), input.display());
    say!(
        "  {} identifies, {} events, {} attribute writes, {} resets, {} merges, {} unmerges, {} unlinks",
        gen_stats.identifies,
        gen_stats.events,
        gen_stats.attributes,
        gen_stats.resets,
        gen_stats.merges,
        gen_stats.unmerges,
        gen_stats.unlinks
    );
    let engine = Engine::open(dir, EngineConfig::default()).with_context(|| format!("open {}", dir.display()))?;
    let t = Instant::now();
    let s = ingest_one(
        &engine,
        dir,
        Format::Native,
        false,
        &Source::File(input.clone()),
        progress,
        &mut std::collections::BTreeSet::new(),
    )?;
    let secs = t.elapsed().as_secs_f64();
    say!(
        "ingested {} records in {:.2} s ({:.0} records/s, durable: one fdatasync per batch)",
        s.records,
        secs,
        s.records as f64 / secs.max(1e-9)
    );
    let (profiles, customers, multi, implicit, rejections, merges, pick) = engine.read(|r| {
        let all = r.profiles();
        let customers = all.iter().filter(|p| p.kind == ProfileKind::Customer).count();
        let multi = all.iter().filter(|p| p.kind == ProfileKind::Customer && p.uids.len() > 1).count();
        // The customer with the most devices (ties: the smallest profile id), for the tour.
        let pick = all
            .iter()
            .filter(|p| p.kind == ProfileKind::Customer)
            .max_by(|a, b| a.uids.len().cmp(&b.uids.len()).then(b.id.cmp(&a.id)))
            .cloned();
        let merges = all.iter().filter(|p| p.cids.len() > 1).count();
        (all.len(), customers, multi, r.implicit_resets().len(), r.rejections().len(), merges, pick)
    });
    say!("profiles        {profiles}");
    say!("  customers     {customers} ({multi} with several devices: their anonymous pasts merged in)");
    say!("  anonymous     {}", profiles - customers);
    say!(
        "  merged cids   {merges} customers now hold more than one cid ({} operator merges, {} unmerges in the input)",
        gen_stats.merges,
        gen_stats.unmerges
    );
    say!("implicit resets {implicit} (a second login on a device without a logout)");
    say!("rejections      {rejections} (blocked placeholder ids and refused operator records; `idres rejects`)");
    let mut out = BufWriter::new(std::io::stdout().lock());
    if let Some(p) = pick {
        writeln!(out, "\none multi-device customer:")?;
        print_profile(&mut out, &p)?;
        if let Some(d) = p.uids.last() {
            if let Some(e) = engine.read(|r| r.explain_uid(&d.uid)) {
                writeln!(out, "\nwhy {} belongs to it (`idres explain --uid {}`):", d.uid, d.uid)?;
                print_explanation(&mut out, &e)?;
            }
        }
    }
    writeln!(out, "\ndigest {}", hex(&engine.digest()))?;
    writeln!(
        out,
        "\nthe data directory is {}; try: idres --data {} explain --cid <cid>, verify, export",
        dir.display(),
        dir.display()
    )?;
    out.flush()?;
    drop(out);
    engine.close()?;
    Ok(())
}
