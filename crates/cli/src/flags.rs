//! The command line's flags and subcommands (clap): what each command takes, nothing of what
//! it does (`cmd/`).

use std::path::PathBuf;

use clap::{Parser, Subcommand, ValueEnum};
use uuid::Uuid;

#[derive(Parser)]
#[command(name = "idres", version = crate::version::VERSION.as_str(), about = "Event-sourced identity resolution: ingest, query, replay, audit")]
pub(crate) struct Cli {
    /// The data directory (log/, snapshots/, store/, quarantine/, ingest/); default ./idres-data
    /// (./idres-demo for `demo`). Also accepted after the command's name.
    #[arg(long, value_name = "DIR", help_heading = "Data directory")]
    pub(crate) data: Option<PathBuf>,
    /// A TOML file with the fold's rules; recorded in the data directory and used from then on.
    /// Also accepted after the command's name.
    #[arg(long, value_name = "FILE", help_heading = "Data directory")]
    pub(crate) config: Option<PathBuf>,
    /// Show progress on stderr even when it is not a terminal (then as plain lines: done, rate,
    /// time left).
    #[arg(long, global = true, help_heading = "Global options", conflicts_with = "quiet")]
    pub(crate) progress: bool,
    /// Print only errors, warnings and what the command was asked for: no progress, no notes on
    /// stderr, and no summary from a command that changes data (`ingest`, `rebuild`, `repair`,
    /// `demo`, `gen`) unless it has `--json`.
    #[arg(short, long, global = true, help_heading = "Global options")]
    pub(crate) quiet: bool,
    /// Colour the output: `auto` when the stream is a terminal and NO_COLOR is not set.
    #[arg(
        long,
        global = true,
        value_enum,
        default_value = "auto",
        value_name = "WHEN",
        help_heading = "Global options"
    )]
    pub(crate) color: ColorWhen,
    #[command(subcommand)]
    pub(crate) command: Command,
}

/// When to colour the output (`--color`).
#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum ColorWhen {
    /// When the stream is a terminal, NO_COLOR is unset and TERM is not `dumb`.
    Auto,
    /// Always (also into files and pipes).
    Always,
    /// Never.
    Never,
}

/// `--data` and `--config` after a command's name (the same flags as before it).
#[derive(clap::Args, Default)]
pub(crate) struct DirArgs {
    /// The data directory (log/, snapshots/, store/, quarantine/, ingest/); default ./idres-data.
    #[arg(long, value_name = "DIR", help_heading = "Data directory")]
    pub(crate) data: Option<PathBuf>,
    /// A TOML file with the fold's rules; recorded in the data directory and used from then on.
    #[arg(long, value_name = "FILE", help_heading = "Data directory")]
    pub(crate) config: Option<PathBuf>,
}

/// `--data` alone after a command's name, for the commands no fold config applies to.
#[derive(clap::Args, Default)]
pub(crate) struct DataArg {
    /// The data directory (log/, snapshots/, store/, quarantine/, ingest/).
    #[arg(long, value_name = "DIR", help_heading = "Data directory")]
    pub(crate) data: Option<PathBuf>,
}

#[derive(Clone, Copy, ValueEnum)]
pub(crate) enum InputFormat {
    /// idres's own NDJSON (docs/FORMATS-IN.md).
    Native,
    /// Segment / RudderStack export NDJSON (identify, track, page, screen, alias, group).
    Segment,
}

/// A shell `completions` writes a script for.
#[derive(Clone, Copy, ValueEnum)]
pub(crate) enum Shell {
    /// bash
    Bash,
    /// zsh
    Zsh,
    /// fish
    Fish,
}

#[derive(Subcommand)]
pub(crate) enum Command {
    /// Validates, then appends and folds NDJSON files (`-` is stdin); creates the data directory
    /// at a new or empty path.
    Ingest {
        #[command(flatten)]
        dir: DirArgs,
        /// The lines' format.
        #[arg(long, value_enum, default_value = "native")]
        format: InputFormat,
        /// Append the valid lines and quarantine the bad ones instead of refusing the file.
        #[arg(long)]
        skip_invalid: bool,
        /// Continue each file after its lines that are already in the log (a killed ingest): its
        /// checkpoint says where its records begin, the log is checked for which lines are in, and
        /// only the rest is appended. A file without a checkpoint is ingested from line 1.
        #[arg(long)]
        resume: bool,
        /// The NDJSON files, in order (`-` is stdin).
        #[arg(required = true, value_name = "FILE")]
        files: Vec<PathBuf>,
        /// Print the summary as one JSON object (docs/OPERATIONS.md) instead of text.
        #[arg(long)]
        json: bool,
    },
    /// One profile.
    Profile {
        #[command(flatten)]
        dir: DirArgs,
        /// The customer's profile.
        #[arg(long, group = "key")]
        cid: Option<String>,
        /// The profile of the device's current epoch (or --epoch).
        #[arg(long, group = "key")]
        uid: Option<String>,
        /// With --uid: this epoch instead of the current one.
        #[arg(long, requires = "uid")]
        epoch: Option<u32>,
        /// The profile of this id (a retired id leads to the profile that holds its node).
        #[arg(long, group = "key")]
        id: Option<Uuid>,
        /// The profile as it stood once the record at this LSN was folded.
        #[arg(long, value_name = "LSN")]
        as_of: Option<u64>,
        /// Print JSON (the documented profile shape) instead of text.
        #[arg(long)]
        json: bool,
    },
    /// A profile's events in LSN order.
    History {
        #[command(flatten)]
        dir: DirArgs,
        #[command(flatten)]
        id: IdArgs,
    },
    /// A profile's sessions by start: explicit ones (by session id) and those inferred from
    /// inactivity gaps, each with its devices, start, end and events.
    Sessions {
        #[command(flatten)]
        dir: DirArgs,
        #[command(flatten)]
        id: IdArgs,
    },
    /// Why an id is in its profile: the edge path, implicit resets, rejections; for a uid, every
    /// epoch with its profile.
    Explain {
        #[command(flatten)]
        dir: DirArgs,
        #[command(flatten)]
        id: IdArgs,
        /// With --uid: explain this epoch instead of the current one.
        #[arg(long, requires = "uid")]
        epoch: Option<u32>,
    },
    /// Every profile, one JSON object per line, sorted by profile id.
    Export {
        #[command(flatten)]
        dir: DirArgs,
        /// Accepted for symmetry: export always prints JSON.
        #[arg(long)]
        json: bool,
    },
    /// Every rejected record.
    Rejects {
        #[command(flatten)]
        dir: DirArgs,
        /// Print one JSON object per line instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Folds the log and prints records, profiles, rejections and the digest.
    Replay {
        #[command(flatten)]
        dir: DirArgs,
        /// Fold the whole log from LSN 0, ignoring snapshots.
        #[arg(long)]
        from_scratch: bool,
        /// Print the summary as one JSON object (docs/OPERATIONS.md) instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Checks every frame, replays from scratch and from every snapshot; exit 0 only if all agree.
    Verify {
        #[command(flatten)]
        dir: DirArgs,
        /// Print the report as one JSON object (docs/OPERATIONS.md) instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Rebuilds the store and the snapshots from the log.
    Rebuild {
        #[command(flatten)]
        dir: DirArgs,
        /// Print the summary as one JSON object (docs/OPERATIONS.md) instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Cuts the log after an LSN (after `verify` named damage).
    Repair {
        #[command(flatten)]
        dir: DataArg,
        /// The last LSN to keep (a batch boundary; `verify` names it).
        #[arg(long, value_name = "LSN")]
        truncate_after: u64,
    },
    /// Counts, sizes, LSN range.
    Stats {
        #[command(flatten)]
        dir: DirArgs,
        /// Print one JSON object (docs/OPERATIONS.md) instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Writes the synthetic workload as native NDJSON.
    Gen {
        /// How many records (lines) to write.
        #[arg(long, default_value_t = 200_000)]
        records: u64,
        /// The seed: the same seed and counts give the same bytes.
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
        #[command(flatten)]
        dir: DataArg,
        /// How many records to generate and ingest.
        #[arg(long, default_value_t = 200_000)]
        records: u64,
        /// The workload's seed.
        #[arg(long, default_value_t = 1)]
        seed: u64,
    },
    /// Writes a shell completion script to stdout (e.g. `idres completions bash >
    /// /etc/bash_completion.d/idres`).
    Completions {
        /// The shell.
        #[arg(value_enum)]
        shell: Shell,
    },
    /// Writes the man page (roff) to stdout (e.g. `idres man > idres.1`).
    Man,
}

/// `(--cid C | --uid U) [--json]`, shared by `history` and `explain`.
#[derive(clap::Args)]
pub(crate) struct IdArgs {
    /// The customer.
    #[arg(long, group = "key")]
    pub(crate) cid: Option<String>,
    /// The device (its current epoch).
    #[arg(long, group = "key")]
    pub(crate) uid: Option<String>,
    /// Print JSON (the documented shape) instead of text.
    #[arg(long)]
    pub(crate) json: bool,
}

impl Cli {
    /// The data directory: `--data`, else `./idres-data`.
    pub(crate) fn data(&self) -> PathBuf {
        self.data.clone().unwrap_or_else(|| PathBuf::from("./idres-data"))
    }

    /// Moves `--data` and `--config` given after the command's name to where the commands read
    /// them (`self.data`, `self.config`). Refuses one given twice, and one given to a command it
    /// does nothing for (`gen`, `completions`, `man`; `--config` to `repair` and `demo`): a
    /// flag that is silently ignored is a mistake the user does not see.
    pub(crate) fn normalise(mut self) -> Result<Cli, String> {
        let name = self.command.name();
        let (data, config) = match &mut self.command {
            Command::Ingest { dir, .. }
            | Command::Profile { dir, .. }
            | Command::History { dir, .. }
            | Command::Sessions { dir, .. }
            | Command::Explain { dir, .. }
            | Command::Export { dir, .. }
            | Command::Rejects { dir, .. }
            | Command::Replay { dir, .. }
            | Command::Verify { dir, .. }
            | Command::Rebuild { dir, .. }
            | Command::Stats { dir, .. } => (Some(dir.data.take()), Some(dir.config.take())),
            Command::Repair { dir, .. } | Command::Demo { dir, .. } => (Some(dir.data.take()), None),
            Command::Gen { .. } | Command::Completions { .. } | Command::Man => (None, None),
        };
        merge_flag(&mut self.data, data, "--data", name)?;
        merge_flag(&mut self.config, config, "--config", name)?;
        Ok(self)
    }
}

/// Puts `after` (the flag's value after the command's name; `None` when the command has no such
/// flag) into `before` (its value before the name).
fn merge_flag(
    before: &mut Option<PathBuf>,
    after: Option<Option<PathBuf>>,
    flag: &str,
    command: &str,
) -> Result<(), String> {
    match (before.is_some(), after) {
        (true, None) => Err(format!("`{command}` takes no {flag}: it does nothing for it")),
        (true, Some(Some(_))) => Err(format!("{flag} is given twice (before and after `{command}`)")),
        (false, Some(Some(v))) => {
            *before = Some(v);
            Ok(())
        }
        _ => Ok(()),
    }
}

impl Command {
    /// The command's name as typed.
    pub(crate) fn name(&self) -> &'static str {
        match self {
            Command::Ingest { .. } => "ingest",
            Command::Profile { .. } => "profile",
            Command::History { .. } => "history",
            Command::Sessions { .. } => "sessions",
            Command::Explain { .. } => "explain",
            Command::Export { .. } => "export",
            Command::Rejects { .. } => "rejects",
            Command::Replay { .. } => "replay",
            Command::Verify { .. } => "verify",
            Command::Rebuild { .. } => "rebuild",
            Command::Repair { .. } => "repair",
            Command::Stats { .. } => "stats",
            Command::Gen { .. } => "gen",
            Command::Demo { .. } => "demo",
            Command::Completions { .. } => "completions",
            Command::Man => "man",
        }
    }
}

#[cfg(test)]
mod tests {
    use clap::{CommandFactory, Parser};

    use super::Cli;

    /// Every command, flag and argument says what it is for (`--help`, the man page and the
    /// completions show it); the global ones are grouped apart from a command's own.
    #[test]
    fn every_command_flag_and_argument_has_a_description() {
        fn walk(cmd: &clap::Command, path: &str, missing: &mut Vec<String>) {
            for arg in cmd.get_arguments() {
                let id = arg.get_id().as_str();
                if id == "help" || id == "version" {
                    continue;
                }
                if arg.get_help().is_none() && arg.get_long_help().is_none() {
                    missing.push(format!("{path} --{id}"));
                }
                if arg.is_global_set() && arg.get_help_heading() != Some("Global options") {
                    missing.push(format!("{path} --{id}: a global flag outside \"Global options\""));
                }
                if (id == "data" || id == "config") && arg.get_help_heading() != Some("Data directory") {
                    missing.push(format!("{path} --{id}: outside \"Data directory\""));
                }
                for v in arg.get_possible_values() {
                    if v.get_help().is_none() {
                        missing.push(format!("{path} --{id} value {}", v.get_name()));
                    }
                }
            }
            for sub in cmd.get_subcommands() {
                if sub.get_name() == "help" {
                    continue;
                }
                if sub.get_about().is_none() {
                    missing.push(format!("{path} {}", sub.get_name()));
                }
                walk(sub, &format!("{path} {}", sub.get_name()), missing);
            }
        }
        let mut missing = Vec::new();
        let mut cmd = Cli::command();
        cmd.build();
        walk(&cmd, "idres", &mut missing);
        assert!(missing.is_empty(), "without a description: {missing:#?}");
    }

    /// A command lists only the flags that do something for it: `gen`, `completions` and `man`
    /// read no data directory, `repair` and `demo` no fold config.
    #[test]
    fn commands_list_no_data_directory_flags_they_ignore() {
        let mut cmd = Cli::command();
        cmd.build();
        let has = |sub: &str, flag: &str| {
            cmd.find_subcommand(sub).is_some_and(|s| s.get_arguments().any(|a| a.get_id().as_str() == flag))
        };
        for sub in ["gen", "completions", "man"] {
            assert!(!has(sub, "data") && !has(sub, "config"), "{sub} lists --data or --config");
            assert!(has(sub, "quiet") && has(sub, "color"), "{sub} lacks the global flags");
        }
        for sub in ["repair", "demo"] {
            assert!(has(sub, "data") && !has(sub, "config"), "{sub}: --data only");
        }
        for sub in ["ingest", "profile", "stats", "verify", "replay", "rebuild", "export", "rejects"] {
            assert!(has(sub, "data") && has(sub, "config"), "{sub} lacks --data or --config");
        }
    }

    #[test]
    fn data_flags_after_the_command_move_before_it_and_ignored_ones_are_refused() {
        let parse = |args: &[&str]| Cli::try_parse_from(args).map_err(|e| e.to_string()).and_then(Cli::normalise);
        let refused = |args: &[&str]| match parse(args) {
            Ok(_) => panic!("{args:?} was accepted"),
            Err(e) => e,
        };
        let cli = parse(&["idres", "stats", "--data", "d"]).unwrap();
        assert_eq!(cli.data(), std::path::PathBuf::from("d"));
        let cli = parse(&["idres", "--data", "d", "--config", "c.toml", "stats"]).unwrap();
        assert_eq!((cli.data(), cli.config), ("d".into(), Some("c.toml".into())));
        assert!(refused(&["idres", "--data", "d", "stats", "--data", "e"]).contains("given twice"));
        assert!(refused(&["idres", "--data", "d", "gen"]).contains("`gen` takes no --data"));
        assert!(refused(&["idres", "--config", "c", "repair", "--truncate-after", "3"])
            .contains("`repair` takes no --config"));
        assert!(refused(&["idres", "gen", "--data", "d"]).contains("--data"), "clap refuses it after the name");
    }
}
