//! What the commands share: the fold config in force, opening an
//! engine (and printing what its recovery did; read commands read-only beside a live writer or on
//! a directory that cannot be written), the read-only log and its fold for audits, progress bars.

use std::fs;
use std::io::{BufWriter, Write};
use std::path::Path;

use crate::progress::Progress;
use anyhow::{anyhow, Context};
use idres::data_dir::{write_atomically, DataDir};
use idres::{Engine, EngineConfig, EngineError, StoreBackend};
use idres_cli::config::{parse_settings, Settings};
use idres_log::ReadOnlyLog;
use idres_model::CODEC_ID;
use idres_resolve::{Config, Resolver};

use crate::data_dirs::require_data_dir;
use crate::flags::Cli;
use crate::{bad_input, exit};

/// The config (the fold's rules, the store's backend): `--config`, else the one recorded in the
/// data directory, else the defaults. With `--config`, also the text to record once an engine has
/// opened under it.
pub(crate) fn settings(cli: &Cli) -> anyhow::Result<(Settings, Option<String>)> {
    let recorded = DataDir::new(cli.data()).config_file();
    match &cli.config {
        Some(path) => {
            let text = fs::read_to_string(path).map_err(|e| bad_input(format!("config {}: {e}", path.display())))?;
            let config = parse_settings(&path.display().to_string(), &text).map_err(|e| bad_input(e.to_string()))?;
            Ok((config, Some(text)))
        }
        None => match fs::read_to_string(&recorded) {
            Ok(text) => parse_settings(&recorded.display().to_string(), &text)
                .map(|c| (c, None))
                .map_err(|e| exit(3, e.to_string())),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                Ok((Settings { fold: Config::default(), store: StoreBackend::default() }, None))
            }
            Err(e) => Err(anyhow!("read {}: {e}", recorded.display())),
        },
    }
}

/// Records the config text in force (after an engine opened under it): later commands without
/// `--config` use it. Audits (`verify`, `replay --from-scratch`) never record one.
pub(crate) fn record_config(data: &Path, text: &str) -> anyhow::Result<()> {
    let recorded = DataDir::new(data).config_file();
    if fs::read_to_string(&recorded).ok().as_deref() == Some(text) {
        return Ok(());
    }
    write_atomically(&recorded, text.as_bytes()).with_context(|| format!("record {}", recorded.display()))?;
    Ok(())
}

pub(crate) fn open_engine(cli: &Cli) -> anyhow::Result<Engine> {
    let (Settings { fold, store }, text) = settings(cli)?;
    let config = EngineConfig { fold, store, ..EngineConfig::default() };
    let engine = Engine::open(cli.data(), config).with_context(|| format!("open {}", cli.data().display()))?;
    if let Some(text) = text {
        record_config(&cli.data(), &text)?;
    }
    for event in &engine.open_report().events {
        crate::output::note(event);
    }
    Ok(engine)
}

/// Opens the engine for a command that only reads: as [`open_engine`] (which also brings the
/// store up to date), unless another process holds the data directory (a live writer: the log's
/// lock, or the store's, is held) or it cannot be written (a read-only mount, permissions); then
/// read-only (`Engine::open_read_only`: the newest snapshot and the log's tail as they are, no
/// lock, no store), saying why and the LSN it read up to. A held lock is never an error here.
pub(crate) fn open_engine_for_reading(cli: &Cli) -> anyhow::Result<Engine> {
    let data = cli.data();
    // Probed first: an open for writing would wait for the store's lock, and could make files
    // (the store of a writer that keeps none) beside the writer before it met the log's lock.
    if idres_log::is_locked(DataDir::new(&data).log_dir()).unwrap_or(false) {
        return open_read_only(cli, "is open by another process (its log's lock is held)".into());
    }
    match open_engine(cli) {
        Err(e) if e.chain().any(|c| c.downcast_ref::<EngineError>().is_some_and(EngineError::is_locked)) => {
            open_read_only(cli, format!("is open by another process ({})", e.root_cause()))
        }
        Err(e) if e.chain().any(|c| c.downcast_ref::<EngineError>().is_some_and(EngineError::is_read_only_fs)) => {
            open_read_only(cli, format!("cannot be written ({})", e.root_cause()))
        }
        opened => opened,
    }
}

/// `Engine::open_read_only` for a read command, saying on stderr why (`why` the data directory
/// is not opened for writing) and which LSNs the state read holds.
fn open_read_only(cli: &Cli, why: String) -> anyhow::Result<Engine> {
    let (Settings { fold, .. }, _) = settings(cli)?;
    let engine = Engine::open_read_only(cli.data(), EngineConfig { fold, ..EngineConfig::default() })
        .with_context(|| format!("open {} read-only", cli.data().display()))?;
    let end = engine.stats().folded_lsn;
    crate::output::note(format_args!(
        "{} {why}; reading it read-only ({end} records, no store): {}, from the newest snapshot and the log's tail",
        cli.data().display(),
        crate::lsn::range(0, end)
    ));
    for event in &engine.open_report().events {
        crate::output::note(event);
    }
    Ok(engine)
}

/// Runs a read-only `command` as [`with_engine`] does, on [`open_engine_for_reading`].
pub(crate) fn with_reader(
    cli: &Cli,
    command: impl FnOnce(&Engine, &mut BufWriter<std::io::StdoutLock<'static>>) -> anyhow::Result<()>,
) -> anyhow::Result<()> {
    run_on(open_engine_for_reading(cli)?, command)
}

/// Opens the engine, runs `command` on it with a buffered stdout, then closes the engine. The
/// command's error comes first; then an error writing the last buffered lines (a full disk, a
/// closed pipe); then close's.
pub(crate) fn with_engine(
    cli: &Cli,
    command: impl FnOnce(&Engine, &mut BufWriter<std::io::StdoutLock<'static>>) -> anyhow::Result<()>,
) -> anyhow::Result<()> {
    run_on(open_engine(cli)?, command)
}

fn run_on(
    engine: Engine,
    command: impl FnOnce(&Engine, &mut BufWriter<std::io::StdoutLock<'static>>) -> anyhow::Result<()>,
) -> anyhow::Result<()> {
    let mut out = BufWriter::new(std::io::stdout().lock());
    let result = command(&engine, &mut out).and_then(|()| out.flush().map_err(anyhow::Error::from));
    drop(out);
    let closed = engine.close();
    result?;
    warn_about_snapshots(&engine);
    match closed {
        // Nothing is lost: every record the command reported is durable in the log, and the next
        // open brings the store (a cache of the log) up to date. A script must not redo the
        // command (an ingest would append everything twice), so this is a warning, not a failure.
        Err(e @ EngineError::StoreBehind { .. }) => {
            crate::output::warning(format_args!("{:#}", anyhow::Error::new(e)));
            Ok(())
        }
        closed => Ok(closed?),
    }
}

/// Says on stderr if snapshots could not be written (a cache: nothing is lost, the next open
/// folds more of the log).
pub(crate) fn warn_about_snapshots(engine: &Engine) {
    let failures = engine.stats().snapshot_failures;
    if failures > 0 {
        let why = engine.last_snapshot_failure().map(|e| format!(": {:#}", anyhow::Error::new(ArcError(e))));
        crate::output::warning(format_args!("{failures} snapshot(s) could not be written{}", why.unwrap_or_default()));
    }
}

/// An `Arc`'d engine error as an error of its own (for anyhow's chain printing).
#[derive(Debug)]
struct ArcError(std::sync::Arc<EngineError>);

impl std::fmt::Display for ArcError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

impl std::error::Error for ArcError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        std::error::Error::source(&*self.0)
    }
}

/// Progress of `what` over `len` units, shown if `progress` (see [`Progress`]).
pub(crate) fn bar(progress: bool, len: u64, what: &str) -> Progress {
    Progress::new(progress, len, what)
}

pub(crate) fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The log, read-only: audits change nothing (a torn tail is reported, not cut).
pub(crate) fn open_log_for_reading(data: &Path) -> anyhow::Result<ReadOnlyLog> {
    require_data_dir(data)?;
    ReadOnlyLog::open(DataDir::new(data).log_dir(), Some(CODEC_ID)).map_err(|e| exit(3, e.to_string()))
}

/// Folds the log from the resolver's next LSN to the end; returns it and the records folded.
pub(crate) fn fold_from(log: &ReadOnlyLog, r: Resolver, progress: bool) -> anyhow::Result<(Resolver, u64)> {
    let mut bar = bar(progress, log.end_lsn().saturating_sub(r.next_lsn()), "replay");
    let folded = idres::fold_to_end(log, r, &mut |done, _| bar.set_position(done))?;
    bar.finish();
    Ok(folded)
}
