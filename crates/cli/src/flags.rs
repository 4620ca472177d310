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
    #[arg(long, global = true)]
    pub(crate) data: Option<PathBuf>,
    /// A TOML file with the fold's rules; recorded in the data directory and used from then on.
    #[arg(long, global = true)]
    pub(crate) config: Option<PathBuf>,
    /// Show progress bars even when stderr is not a terminal.
    #[arg(long, global = true)]
    pub(crate) progress: bool,
    #[command(subcommand)]
    pub(crate) command: Command,
}

#[derive(Clone, Copy, ValueEnum)]
pub(crate) enum InputFormat {
    Native,
    Segment,
}

#[derive(Subcommand)]
pub(crate) enum Command {
    /// Validates, then appends and folds NDJSON files (`-` is stdin); creates the data directory
    /// at a new or empty path.
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
pub(crate) struct IdArgs {
    #[arg(long, group = "key")]
    pub(crate) cid: Option<String>,
    #[arg(long, group = "key")]
    pub(crate) uid: Option<String>,
    #[arg(long)]
    pub(crate) json: bool,
}

impl Cli {
    /// The data directory: `--data`, else `./idres-data`.
    pub(crate) fn data(&self) -> PathBuf {
        self.data.clone().unwrap_or_else(|| PathBuf::from("./idres-data"))
    }
}
