//! The store thread: the read model (the persisted store) brought up to date behind the writer.
//!
//! Owns: gathering the changes of folded rounds for `store_flush_interval` (so a hot profile is
//! written once per flush), materialising the touched profiles from the fold, and writing them in
//! bounded chunks, the applied LSN set by the last chunk (fsync step 2 of ARCHITECTURE.md: the
//! store's flush, after the log's). The store is a cache of the log: a failure here stops the
//! store's writes (reported as [`EngineError::StoreBehind`]) but never a write to the log.

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use crossbeam_channel::Receiver;
use idres_log::Lsn;
use idres_model::Profile;
use idres_resolve::Change;
use idres_store::{ProfileStore, StoreBatch, StoreError};
use uuid::Uuid;

use crate::engine::Shared;
use crate::EngineError;

/// Profiles materialised and written per store batch: the memory of a rebuild or a long
/// catch-up stays bounded however many profiles change (a 10 M-record rebuild would otherwise
/// materialise every profile at once).
const STORE_CHUNK: usize = 4096;
/// A long catch-up or rebuild flushes the store every this many chunks.
const STORE_CHUNKS_PER_FLUSH: usize = 8;

/// The profile ids a batch of changes touched.
pub(crate) fn touched(changes: &[Change], ids: &mut BTreeSet<Uuid>) {
    for c in changes {
        match *c {
            Change::Created { profile } | Change::Changed { profile } => {
                ids.insert(profile);
            }
            Change::Retired { profile, into } => {
                ids.insert(profile);
                ids.insert(into);
            }
            Change::Split { from, into } => {
                ids.insert(from);
                ids.insert(into);
            }
            Change::ImplicitReset { .. } | Change::Rejected { .. } => {}
        }
    }
}

/// A store batch bringing `ids` to their current state, as `lookup` (the fold's
/// `profile_by_id`) reports it: an upsert if the id names a profile, a redirect if it was retired.
fn store_batch<'a>(
    ids: impl IntoIterator<Item = &'a Uuid>,
    applied_lsn: Lsn,
    lookup: &impl Fn(Uuid) -> Option<Profile>,
) -> StoreBatch {
    let mut batch = StoreBatch { applied_lsn, upserts: Vec::new(), retired: Vec::new() };
    for &id in ids {
        match lookup(id) {
            Some(p) if p.id == id => batch.upserts.push(p),
            Some(p) => batch.retired.push((id, p.id)),
            None => {}
        }
    }
    batch
}

/// Brings `ids` to their current state in the store, [`STORE_CHUNK`] profiles per batch, and
/// flushes every [`STORE_CHUNKS_PER_FLUSH`] chunks and at the end (sled holds what it has not
/// flushed in memory). Every batch but the last keeps the store's applied LSN at `before` (what
/// the store already reflected); the last one sets `after`. A crash in between leaves a store
/// that says it is at `before`, which the next open catches up or rebuilds. Returns the profiles
/// and redirects written.
pub(crate) fn write_store_chunked(
    store: &Mutex<Option<Box<dyn ProfileStore>>>,
    ids: &[Uuid],
    before: Lsn,
    after: Lsn,
    lookup: impl Fn(Uuid) -> Option<Profile>,
) -> Result<u64, StoreError> {
    let chunks: Vec<&[Uuid]> = if ids.is_empty() { vec![&[]] } else { ids.chunks(STORE_CHUNK).collect() };
    let last = chunks.len() - 1;
    let mut written = 0;
    for (i, chunk) in chunks.into_iter().enumerate() {
        let batch = store_batch(chunk, if i == last { after } else { before }, &lookup);
        written += (batch.upserts.len() + batch.retired.len()) as u64;
        let mut guard = store.lock().unwrap_or_else(|e| e.into_inner());
        let Some(store) = guard.as_mut() else {
            return Err(StoreError::Corrupt { key: "-".into(), detail: "the store was released".into() });
        };
        store.apply(&batch)?;
        if i == last || (i + 1) % STORE_CHUNKS_PER_FLUSH == 0 {
            store.flush()?;
        }
    }
    Ok(written)
}

/// Marks the store thread as ended when it returns or unwinds, so that no wait (the writer's
/// back-pressure, `wait_stored`) outlives it.
struct Stopped<'a>(&'a Shared);

impl Drop for Stopped<'_> {
    fn drop(&mut self) {
        let mut p = self.0.progress();
        p.store_stopped = true;
        if std::thread::panicking() {
            p.store_failed.get_or_insert_with(|| Arc::new(EngineError::Panicked { thread: "store" }));
        }
        drop(p);
        self.0.changed.notify_all();
    }
}

/// The store thread's body: until the writer hangs up, gather changes and write them.
pub(crate) fn store_loop(shared: &Shared, rx: &Receiver<(Lsn, Vec<Change>)>) {
    let _stopped = Stopped(shared);
    let mut ids = BTreeSet::new();
    let interval = shared.config.store_flush_interval;
    let half_lag = shared.config.store_lag_max_records / 2;
    let mut last_flush = Instant::now();
    while let Ok((mut upto, changes)) = rx.recv() {
        ids.clear();
        touched(&changes, &mut ids);
        // Coalesce: gather until the interval has passed since the last flush (or the lag grows,
        // or the engine closes), so each changed profile is written once per flush.
        let deadline = last_flush + interval;
        loop {
            let lagging = {
                let p = shared.progress();
                p.folded.saturating_sub(p.stored) > half_lag
            };
            let now = Instant::now();
            if lagging || now >= deadline {
                break;
            }
            match rx.recv_timeout(deadline - now) {
                Ok((next, more)) => {
                    upto = next;
                    touched(&more, &mut ids);
                }
                Err(_) => break,
            }
        }
        while let Ok((next, more)) = rx.try_recv() {
            upto = next;
            touched(&more, &mut ids);
        }
        if shared.progress().store_failed.is_some() {
            // The store could not be written: what it holds stays at its applied LSN, and the
            // next open catches it up from the log. Keep draining, so the writer never waits.
            continue;
        }
        // The read lock is taken per profile, not for the whole batch: the writer needs the
        // write lock for every batch it folds, and must not wait behind a long materialisation.
        let started = Instant::now();
        let before = shared.progress().stored;
        let ids: Vec<Uuid> = ids.iter().copied().collect();
        let result = write_store_chunked(&shared.store, &ids, before, upto, |id| shared.resolver().profile_by_id(id));
        last_flush = Instant::now();
        let mut p = shared.progress();
        p.store_busy += last_flush.duration_since(started);
        match result {
            Ok(written) => {
                p.stored = p.stored.max(upto);
                p.store_profiles_written += written;
                p.store_flushes += 1;
            }
            Err(e) => {
                p.store_failed.get_or_insert_with(|| Arc::new(EngineError::Store(e)));
            }
        }
        drop(p);
        shared.changed.notify_all();
    }
}
