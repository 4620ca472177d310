//! The command line's flags and subcommands (clap): what each command takes, nothing of what
//! it does (`cmd/`).

use std::path::PathBuf;

use clap::{Parser, Subcommand, ValueEnum};
use uuid::Uuid;

#[derive(Parser)]
#[command(name = "idres", version = crate::version::VERSION.as_str(), about = "Event-sourced identity resolution: ingest, query, replay, audit")]
pub(crate) struct Cli {
    /// The data directory (log/, snapshots/, store/, quarantine/); default ./idres-data
    /// (./idres-demo for `demo`). It must exist, except for `ingest` (which creates it at a new or
    /// empty path, and says so), `gen` and `demo`.
    #[arg(long, global = true, value_name = "DIR", help_heading = "Global options")]
    pub(crate) data: Option<PathBuf>,
    /// A TOML file with the fold's rules; recorded in the data directory and used from then on.
    #[arg(long, global = true, value_name = "FILE", help_heading = "Global options")]
    pub(crate) config: Option<PathBuf>,
    /// Show progress on stderr even when it is not a terminal (then as plain lines: done, rate,
    /// time left).
    #[arg(long, global = true, help_heading = "Global options")]
    pub(crate) progress: bool,
    #[command(subcommand)]
    pub(crate) command: Command,
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
        id: IdArgs,
    },
    /// Why an id is in its profile: the edge path, implicit resets, rejections; for a uid, every
    /// epoch with its profile.
    Explain {
        #[command(flatten)]
        id: IdArgs,
        /// With --uid: explain this epoch instead of the current one.
        #[arg(long, requires = "uid")]
        epoch: Option<u32>,
    },
    /// Every profile, one JSON object per line, sorted by profile id.
    Export {
        /// Accepted for symmetry: export always prints JSON.
        #[arg(long)]
        json: bool,
    },
    /// Every rejected record.
    Rejects {
        /// Print one JSON object per line instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Folds the log and prints records, profiles, rejections and the digest.
    Replay {
        /// Fold the whole log from LSN 0, ignoring snapshots.
        #[arg(long)]
        from_scratch: bool,
        /// Print the summary as one JSON object (docs/OPERATIONS.md) instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Checks every frame, replays from scratch and from every snapshot; exit 0 only if all agree.
    Verify {
        /// Print the report as one JSON object (docs/OPERATIONS.md) instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Rebuilds the store and the snapshots from the log.
    Rebuild {
        /// Print the summary as one JSON object (docs/OPERATIONS.md) instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Cuts the log after an LSN (after `verify` named damage).
    Repair {
        /// The last LSN to keep (a batch boundary; `verify` names it).
        #[arg(long, value_name = "LSN")]
        truncate_after: u64,
    },
    /// Counts, sizes, LSN range.
    Stats {
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
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

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
}
