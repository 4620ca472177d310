//! Opening a data directory for reading only: [`Engine::open_read_only`].
//!
//! Owns: reading a data directory that cannot (or must not) be written — a read-only mount, a
//! backup, another user's directory — or that a live writer holds (the CLI's read commands and a
//! backup script beside a running service). The log is opened without its lock and without
//! cutting a torn tail ([`idres_log::ReadOnlyLog`]); the newest snapshot of this log is restored
//! and the rest of the log folded; no store, no writer, no snapshot is written. The state is the
//! writer's at the LSN read up to (`stats().folded_lsn`), and stays there. Every read of the fold
//! works (`profile_by_*`, `explain_*`, `history`, `as_of`, `stats`); writes and store reads return
//! [`EngineError::ReadOnly`].
//!
//! Beside a live writer: the snapshots are listed before the log is read (one written in between
//! is past the log's end as read, and would pass for lost records); a snapshot pruned between the
//! listing and its read is skipped (an older one, or the whole log, is folded instead); a segment
//! created meanwhile is not seen (its name appears, header written, by a rename); a frame being
//! appended as the last segment is read is the end of what is read, never damage
//! (`idres_log`'s `read_live_segment`).

use std::path::Path;
use std::sync::{Arc, Mutex, RwLock};

use idres_log::{LogOptions, ReadOnlyLog};
use idres_model::CODEC_ID;
use idres_resolve::Resolver;

use crate::data_dir::DataDir;
use crate::engine::{Handle, Shared};
use crate::open::{fold_tail, restore_snapshot};
use crate::{Engine, EngineConfig, EngineError, OpenReport};

impl Engine {
    /// Opens `dir` for reading only: the log as it is (a torn tail is read up to, not cut; no
    /// lock is taken), the newest snapshot of this log under `config.fold`, the rest of the log
    /// folded. Nothing in `dir` is written. `config.store` and `config.rebuild` are not used.
    ///
    /// It may run while another process's engine writes `dir`: the state read is that writer's
    /// after its first `stats().folded_lsn` records (what `as_of(folded_lsn - 1)` gives once they
    /// are folded), and a later open reads up to the same LSN or a later one. A held lock is
    /// never an error here.
    pub fn open_read_only(dir: impl AsRef<Path>, config: EngineConfig) -> Result<Engine, EngineError> {
        let dir = DataDir::new(dir.as_ref());
        if !dir.log_dir().is_dir() {
            return Err(EngineError::Invalid(format!("{} holds no log", dir.root().display())));
        }
        // The snapshots first, then the log: a snapshot a live writer adds in between would be past
        // the end of the log as read, and pass for lost records.
        let snapshots = dir.snapshots()?;
        let log = ReadOnlyLog::open(dir.log_dir(), Some(CODEC_ID))?;
        let mut report = OpenReport::default();
        report.events.push("opened read-only: nothing is written, the store is not read".into());
        if let Some((segment, offset, problem)) = &log.torn_tail {
            report.events.push(format!(
                "the log's valid frames end in {} at byte offset {offset} ({problem}): a frame being appended by a live writer, or one a crash cut short; read up to there, nothing cut",
                segment.display()
            ));
        }
        let handle = log.read_handle();
        let log_end = log.end_lsn();
        // A log without a segment has no id: no snapshot can be of it.
        let log_id = log.log_id().unwrap_or_default();
        let log_file = dir.log_dir();
        let restored = restore_snapshot(snapshots, &config, log_id, &log_file, log_end, &mut report)?;
        let mut resolver = restored.unwrap_or_else(|| Resolver::new(config.fold.clone()));
        fold_tail(&handle, &mut resolver, None, &mut report)?;
        resolver.index_profile_ids();
        // What a write would be held to, for `validate` (writes themselves are refused).
        let payload_max = u64::from(
            LogOptions { segment_bytes: config.segment_bytes, ..LogOptions::default() }.effective_payload_max(),
        );
        let mut shared =
            Shared::new(dir, config, handle, log_id, log_file, payload_max, resolver, Mutex::new(None), &report);
        shared.read_only = true;
        {
            let p = shared.progress.get_mut().unwrap_or_else(|e| e.into_inner());
            p.stored = 0;
            p.store_stopped = true;
        }
        Ok(Engine {
            handle: Arc::new(Handle {
                tx: RwLock::new(None),
                shared: Arc::new(shared),
                threads: Mutex::new(Vec::new()),
                report,
            }),
        })
    }
}
