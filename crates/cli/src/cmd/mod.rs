//! One module per command: each parses nothing (`flags`), opens what it needs (`session`) and
//! prints; and, for `ingest`, `checkpoint` (its checkpoint files) and `resume` (which of an input's
//! lines the log holds).

pub(crate) mod checkpoint;
pub(crate) mod demo;
pub(crate) mod explain;
pub(crate) mod export;
pub(crate) mod gen;
pub(crate) mod history;
pub(crate) mod ingest;
pub(crate) mod profile;
pub(crate) mod rebuild;
pub(crate) mod rejects;
pub(crate) mod repair;
pub(crate) mod replay;
pub(crate) mod resume;
pub(crate) mod sessions;
pub(crate) mod stats;
pub(crate) mod verify;
