//! The store thread: the read model (the persisted store) brought up to date behind the writer.
//!
//! Owns: gathering the changes of folded rounds for `store_flush_interval` (so a hot profile is
//! written once per flush), materialising the touched profiles from the fold, and writing them in
//! bounded chunks, the applied LSN set by the last chunk (fsync step 2 of ARCHITECTURE.md: the
//! store's flush, after the log's). The store is a cache of the log: a failure here stops the
//! store's writes (reported as [`EngineError::StoreBehind`]) but never a write to the log.

use std::sync::Arc;
use std::time::Instant;

use crossbeam_channel::Receiver;
use idres_log::Lsn;
use idres_resolve::Change;

use crate::engine::Shared;
use crate::store_writes::{write_touched, Touched};
use crate::EngineError;

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
    let mut ids = Touched::default();
    let interval = shared.config.store_flush_interval;
    let half_lag = shared.config.store_lag_max_records / 2;
    let mut last_flush = Instant::now();
    while let Ok((mut upto, changes)) = rx.recv() {
        ids.clear();
        ids.note(&changes);
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
                    ids.note(&more);
                }
                Err(_) => break,
            }
        }
        while let Ok((next, more)) = rx.try_recv() {
            upto = next;
            ids.note(&more);
        }
        if shared.progress().store_failed.is_some() {
            // The store could not be written: what it holds stays at its applied LSN, and the
            // next open catches it up from the log. Keep draining, so the writer never waits.
            continue;
        }
        // The read lock is taken per few dozen profiles, not for the whole batch: the writer needs
        // the write lock for every batch it folds, and must not wait behind a long materialisation.
        let started = Instant::now();
        let before = shared.progress().stored;
        let result = write_touched(&shared.store, &ids, before, upto, || shared.resolver());
        last_flush = Instant::now();
        let mut p = shared.progress();
        p.store_busy += last_flush.duration_since(started);
        match result {
            Ok(written) => {
                p.stored = p.stored.max(upto);
                p.store_profiles_written += written.entries;
                p.store_keys_written += written.keys;
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
