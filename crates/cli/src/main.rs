//! `idres`: ingest, query, replay and audit an idres data directory, and the demo.
//!
//! Exit codes: 0 success; 1 not found; 2 bad input or usage (nothing appended from the bad
//! file; a `--data` that names no data directory); 3 damaged or unreadable data; 4 in use
//! (another process holds the data directory's lock: nothing was changed; read commands do not
//! need it).
#![allow(clippy::print_stdout, clippy::print_stderr)] // a command line prints

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use idres::EngineError;
use idres_cli::input::Format;

/// `println!` that returns the error instead of panicking (Rust ignores SIGPIPE: a closed pipe
/// is an `Err` here, which `main` turns into a quiet exit).
macro_rules! say {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        writeln!(std::io::stdout().lock(), $($arg)*)?
    }};
}

/// `say!` unless `--quiet`: a summary of what a command that changes data did.
macro_rules! tell {
    ($($arg:tt)*) => {{
        if !crate::output::quiet() {
            say!($($arg)*);
        }
    }};
}

mod cmd;
mod data_dirs;
mod flags;
mod lsn;
mod output;
mod progress;
mod session;
mod version;

use data_dirs::{check_data_dir, prepare_for_ingest, require_data_dir};
use flags::{Cli, Command, IdArgs, InputFormat, Shell};
use session::{settings, with_engine, with_reader};

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

/// The exit code of an error: its own, else 2 for input refused at the edge, 4 for a lock held
/// by another process (never damage), else 3.
fn code_of(e: &anyhow::Error) -> u8 {
    for cause in e.chain() {
        if let Some(x) = cause.downcast_ref::<Exit>() {
            return x.code;
        }
        match cause.downcast_ref::<EngineError>() {
            Some(EngineError::Invalid(_)) => return 2,
            Some(e) if e.is_locked() => return 4,
            _ => {}
        }
        if let Some(idres_log::LogError::Locked { .. }) = cause.downcast_ref::<idres_log::LogError>() {
            return 4;
        }
    }
    3
}

/// A command that needs the data directory's lock met another process holding it (the log's,
/// or the store's first): says who holds it, from the pid the writer put in the log's lock file,
/// and that nothing was changed.
fn in_use(data: &Path, e: anyhow::Error) -> anyhow::Error {
    let who = match idres_log::lock_holder(idres::data_dir::DataDir::new(data).log_dir()) {
        Ok(Some(Some(pid))) => format!("process {pid} holds its log's lock"),
        Ok(Some(None)) => "another process holds its log's lock".to_string(),
        _ => "another process holds it".to_string(),
    };
    e.context(format!(
        "{} is in use ({who}); nothing was changed: stop that process first (read commands work beside it)",
        data.display()
    ))
}

fn main() -> ExitCode {
    let args: Vec<std::ffi::OsString> = std::env::args_os().collect();
    let matches = <Cli as clap::CommandFactory>::command().color(output::clap_color(&args)).get_matches_from(args);
    let cli = match <Cli as clap::FromArgMatches>::from_arg_matches(&matches).map(Cli::normalise) {
        Ok(Ok(cli)) => cli,
        Ok(Err(usage)) => {
            output::init(false, flags::ColorWhen::Auto);
            output::error(format!("{usage}; see `idres help`"));
            return ExitCode::from(2);
        }
        Err(e) => e.exit(),
    };
    output::init(cli.quiet, cli.color);
    let data = cli.data();
    let ran = run(cli).map_err(|e| if code_of(&e) == 4 { in_use(&data, e) } else { e });
    match ran {
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
            output::error(format_args!("{e:#}"));
            ExitCode::from(code_of(&e))
        }
    }
}

fn run(cli: Cli) -> anyhow::Result<()> {
    let progress = !cli.quiet && (cli.progress || std::io::IsTerminal::is_terminal(&std::io::stderr()));
    // Said before anything is read or made in the data directory (`data_dirs`).
    match &cli.command {
        Command::Gen { .. } | Command::Completions { .. } | Command::Man => {}
        Command::Demo { .. } => check_data_dir(cli.data.as_deref().unwrap_or(Path::new("./idres-demo")))?,
        Command::Ingest { .. } => check_data_dir(&cli.data())?,
        _ => require_data_dir(&cli.data())?,
    }
    // One arm per command, no catch-all: a new command does not compile until it is handled here.
    match &cli.command {
        Command::Completions { shell } => {
            let shell = match shell {
                Shell::Bash => clap_complete::Shell::Bash,
                Shell::Zsh => clap_complete::Shell::Zsh,
                Shell::Fish => clap_complete::Shell::Fish,
            };
            clap_complete::generate(
                shell,
                &mut <Cli as clap::CommandFactory>::command(),
                "idres",
                &mut std::io::stdout(),
            );
            Ok(())
        }
        Command::Man => {
            clap_mangen::Man::new(<Cli as clap::CommandFactory>::command()).render(&mut std::io::stdout())?;
            Ok(())
        }
        Command::Gen { records, seed, uids, out, .. } => {
            cmd::gen::run(*records, *seed, *uids, out.as_deref(), progress)
        }
        Command::Demo { records, seed, .. } => {
            let dir = cli.data.clone().unwrap_or_else(|| PathBuf::from("./idres-demo"));
            cmd::demo::run(&dir, *records, *seed, progress)
        }
        Command::Repair { truncate_after, .. } => cmd::repair::run(&cli.data(), *truncate_after),
        Command::Verify { json, .. } => cmd::verify::run(&cli.data(), &settings(&cli)?.0.fold, progress, *json),
        Command::Replay { from_scratch: true, json, .. } => {
            cmd::replay::from_scratch(&cli.data(), settings(&cli)?.0.fold, progress, *json)
        }
        Command::Replay { from_scratch: false, json, .. } => {
            with_reader(&cli, |engine, out| cmd::replay::run(engine, out, *json))
        }
        Command::Rebuild { json, .. } => cmd::rebuild::run(&cli, progress, *json),
        Command::Ingest { format, skip_invalid, resume, files, json, .. } => {
            let format = match format {
                InputFormat::Native => Format::Native,
                InputFormat::Segment => Format::Segment,
            };
            cmd::ingest::check_inputs(files)?;
            let created = prepare_for_ingest(&cli.data())?;
            let ingested = with_engine(&cli, |engine, _| {
                let data = cli.data();
                let json = json.then_some(created.as_ref().map(|_| data.as_path()));
                match &created {
                    Some(created) if json.is_none() && !output::quiet() => say!("{}", created.announcement()),
                    _ => {}
                }
                let opts = cmd::ingest::Options {
                    format,
                    skip_invalid: *skip_invalid,
                    resume: *resume,
                    progress,
                    json: json.is_some(),
                };
                cmd::ingest::ingest(engine, &data, opts, files, json)
            });
            match (ingested, created) {
                (Err(e), Some(created)) => Err(created.undo(e)),
                (ingested, _) => ingested,
            }
        }
        Command::Profile { cid, uid, epoch, id, as_of, json, .. } => {
            with_reader(&cli, |engine, out| cmd::profile::run(engine, out, cid, uid, *epoch, *id, *as_of, *json))
        }
        Command::History { id: IdArgs { cid, uid, json }, .. } => {
            with_reader(&cli, |engine, out| cmd::history::run(engine, out, cid, uid, *json))
        }
        Command::Sessions { id: IdArgs { cid, uid, json }, .. } => {
            with_reader(&cli, |engine, out| cmd::sessions::run(engine, out, cid, uid, *json))
        }
        Command::Explain { id: IdArgs { cid, uid, json }, epoch, .. } => {
            with_reader(&cli, |engine, out| cmd::explain::run(engine, out, cid, uid, *epoch, *json))
        }
        Command::Export { .. } => with_reader(&cli, |engine, out| cmd::export::run(engine, out, progress)),
        Command::Rejects { json, .. } => with_reader(&cli, |engine, out| cmd::rejects::run(engine, out, *json)),
        Command::Stats { json, .. } => {
            with_reader(&cli, |engine, out| cmd::stats::run(engine, out, &cli.data(), *json))
        }
    }
}
