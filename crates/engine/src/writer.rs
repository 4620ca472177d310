//! The writer thread: rounds of requests appended as frames (group commit), folded, acknowledged.
//!
//! Owns: the order of a write's steps after it is queued — (1) gather a round of requests up to
//! `batch_records_max` records; (2) wait if the store trails by more than `store_lag_max_records`;
//! (3) stamp each record's `appended_at` and fill frames; (4) append each frame as one write and
//! fdatasync it per the durability setting (ARCHITECTURE.md's fsync step 1: a frame is durable
//! before anything depends on it); (5) fold the frame's records as the log now holds them and,
//! while anyone is subscribed, build each record's change events right after it (`changes.rs`:
//! they read the fold as that record left it); (6) tell subscribers, never waiting; (7) complete the round's tickets; (8) hand the changes to the store
//! thread and, every `snapshot_every_records`, wake the snapshot thread. A failure at (3)–(5)
//! poisons the engine: nothing of that round is acknowledged, every later write is refused.
//! On close: sync the log, write a final snapshot, stop the snapshot thread.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crossbeam_channel::{Receiver, RecvTimeoutError, Sender};
use idres_log::{BatchBuilder, Durability, Log, LogError, Lsn};
use idres_model::{set_encoded_appended_at, Timestamp, SCHEMA_VERSION};
use idres_resolve::Change;

use crate::changes::{events_of_record, ChangeEvent};
use crate::engine::Shared;
use crate::error::encoded_error;
use crate::snapshots;
use crate::ticket::{Acks, Reply};
use crate::EngineError;

/// One caller's write, encoded by the edge (on the caller's thread) as entries whose
/// `appended_at` the writer fills in: one record (the common case), or several back to back.
/// The writer copies these bytes into its frame and folds the frame's bytes; it never encodes
/// or decodes an event itself.
pub(crate) enum Records {
    One(Vec<u8>),
    Many { data: Vec<u8>, lens: Vec<u32> },
}

impl Records {
    fn len(&self) -> usize {
        match self {
            Records::One(_) => 1,
            Records::Many { lens, .. } => lens.len(),
        }
    }

    fn for_each(&self, mut f: impl FnMut(&[u8]) -> Result<(), EngineError>) -> Result<(), EngineError> {
        match self {
            Records::One(bytes) => f(bytes),
            Records::Many { data, lens } => {
                let mut at = 0usize;
                for &len in lens {
                    let end = at + len as usize;
                    let Some(entry) = data.get(at..end) else {
                        debug_assert!(false, "a batch's lengths exceed its bytes");
                        return Err(EngineError::Invalid("a batch's lengths exceed its bytes".into()));
                    };
                    f(entry)?;
                    at = end;
                }
                Ok(())
            }
        }
    }
}

/// A queued write and the end of its ticket.
pub(crate) struct Request {
    pub(crate) records: Records,
    pub(crate) reply: Reply,
}

/// Fails every request with the engine's poisoning cause.
fn fail_all(acks: &Acks, reqs: impl IntoIterator<Item = Request>, cause: &Arc<EngineError>) {
    for r in reqs {
        r.reply.send(Err(cause.clone()));
    }
    acks.notify();
}

/// The writer's state between frames: the frame being built, and the requests whose records are
/// in it or in earlier frames of this round.
struct Round {
    batch: BatchBuilder,
    /// Requests in LSN order with their first LSN and their number of records.
    waiting: VecDeque<(Request, Lsn, usize)>,
    payload_max: u64,
    /// Whether anyone was subscribed when the round began: only then are `events` built.
    subscribed: bool,
    /// What subscribers are told of the round's records, built record by record as each is
    /// folded (so each event reads the fold as it stands right after its record).
    events: Vec<ChangeEvent>,
}

/// Adds one encoded entry (from the edge) to the frame being built, stamped `appended_at`,
/// appending and folding the frame first if the entry would not fit. An error is fatal (a
/// failed append, or a record the edge should have refused).
fn push_entry(
    shared: &Shared,
    log: &mut Log,
    round: &mut Round,
    entry: &[u8],
    appended_at: Timestamp,
    next_lsn: &mut Lsn,
    changes: &mut Vec<Change>,
) -> Result<(), EngineError> {
    let full = round.batch.len() >= shared.config.batch_records_max.max(1);
    if full {
        flush_frame(shared, log, round, next_lsn, changes)?;
    }
    for attempt in 0..2 {
        round.batch.push_with(|buf| {
            let start = buf.len();
            buf.extend_from_slice(entry);
            if set_encoded_appended_at(&mut buf[start..], appended_at) {
                Ok(())
            } else {
                debug_assert!(false, "the edge let through an entry shorter than its appended_at");
                Err(LogError::InvalidOptions("an encoded entry shorter than its appended_at".into()))
            }
        })?;
        if round.batch.payload_bytes() <= round.payload_max {
            return Ok(());
        }
        round.batch.truncate(round.batch.len() - 1);
        if attempt == 0 && !round.batch.is_empty() {
            flush_frame(shared, log, round, next_lsn, changes)?;
        } else {
            break;
        }
    }
    debug_assert!(false, "the edge let through a record that does not fit in a frame");
    Err(LogError::BatchTooLarge {
        bytes: entry.len() as u64 + 8,
        max: u32::try_from(round.payload_max).unwrap_or(u32::MAX),
    }
    .into())
}

/// Appends the frame being built (one atomic write, synced per the durability setting) and folds
/// its records, as the log now holds them.
fn flush_frame(
    shared: &Shared,
    log: &mut Log,
    round: &mut Round,
    next_lsn: &mut Lsn,
    changes: &mut Vec<Change>,
) -> Result<(), EngineError> {
    if round.batch.is_empty() {
        return Ok(());
    }
    // fsync step 1 (ARCHITECTURE.md): the frame is written and fdatasynced before it is folded.
    let appended = log.append(&round.batch)?;
    if appended.first_lsn != *next_lsn {
        debug_assert!(false, "the log appended at LSN {} where the writer expected {next_lsn}", appended.first_lsn);
        return Err(EngineError::Damaged {
            path: log.dir().to_path_buf(),
            detail: format!("the log appended at LSN {} where the writer expected {next_lsn}", appended.first_lsn),
        });
    }
    let mut r = shared.resolver.write().unwrap_or_else(|e| e.into_inner());
    let schema = round.batch.schema();
    for (i, bytes) in round.batch.records().enumerate() {
        // The LSNs come from the log in order; a mismatch (or bytes the edge's encoder did not
        // write) would be a bug, reported as a poisoning rather than a panic.
        let lsn = appended.first_lsn + i as u64;
        r.apply_encoded(lsn, schema, bytes).map_err(|e| encoded_error(lsn, e))?;
        let start = changes.len();
        changes.extend(r.drain_changes());
        if round.subscribed {
            events_of_record(&r, lsn, &changes[start..], &mut round.events);
        }
    }
    drop(r);
    round.batch.clear();
    *next_lsn = appended.end_lsn;
    Ok(())
}

fn now_micros() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_micros().min(i64::MAX as u128) as i64)
}

/// The writer thread's body. On a panic the tickets of the round it held end with
/// [`EngineError::Panicked`] (see [`Reply`]); the thread's spawner poisons the engine.
pub(crate) fn writer_loop(
    shared: &Arc<Shared>,
    mut log: Log,
    rx: &Receiver<Request>,
    store_tx: Sender<(Lsn, Vec<Change>)>,
) {
    let config = &shared.config;
    let tick = match config.durability {
        Durability::Interval(d) => d.max(Duration::from_millis(1)),
        _ => Duration::from_millis(200),
    };
    let mut round = Round {
        batch: BatchBuilder::new(SCHEMA_VERSION),
        waiting: VecDeque::new(),
        payload_max: u64::from(log.options().effective_payload_max()),
        subscribed: false,
        events: Vec::new(),
    };
    let snapshotter = snapshots::Snapshotter::spawn(shared);
    let mut since_snapshot: u64 = 0;
    let records_max = config.batch_records_max.max(1);
    loop {
        let first = match rx.recv_timeout(tick) {
            Ok(r) => r,
            Err(RecvTimeoutError::Timeout) => {
                if let Err(e) = log.sync_if_due() {
                    shared.poison(Arc::new(e.into()));
                }
                continue;
            }
            Err(RecvTimeoutError::Disconnected) => break,
        };
        let mut count = first.records.len();
        let mut reqs = vec![first];
        while count < records_max {
            match rx.try_recv() {
                Ok(r) => {
                    count += r.records.len();
                    reqs.push(r);
                }
                Err(_) => break,
            }
        }
        if let Some(cause) = shared.progress().poisoned.clone() {
            fail_all(&shared.acks, reqs, &cause);
            continue;
        }
        // Back-pressure: the store may trail by a bounded number of records. The wait ends when
        // the store catches up, fails or stops (its thread sets one of them even on a panic).
        {
            let mut p = shared.progress();
            while p.store_failed.is_none()
                && !p.store_stopped
                && p.folded.saturating_sub(p.stored) > config.store_lag_max_records
            {
                p = shared.changed.wait(p).unwrap_or_else(|e| e.into_inner());
            }
        }
        let appended_at = Timestamp::from_micros(now_micros());
        round.subscribed = shared.subscribers.any();
        let mut changes = Vec::new();
        let mut next_lsn = shared.progress().folded;
        let mut reqs = reqs.into_iter();
        let mut failed = None;
        for mut req in reqs.by_ref() {
            let records = std::mem::replace(&mut req.records, Records::One(Vec::new()));
            let first_lsn = next_lsn + round.batch.len() as u64;
            round.waiting.push_back((req, first_lsn, records.len()));
            let pushed = records.for_each(|entry| {
                push_entry(shared, &mut log, &mut round, entry, appended_at, &mut next_lsn, &mut changes)
            });
            if let Err(cause) = pushed {
                failed = Some(cause);
                break;
            }
        }
        if failed.is_none() {
            if let Err(cause) = flush_frame(shared, &mut log, &mut round, &mut next_lsn, &mut changes) {
                failed = Some(cause);
            }
        }
        if let Some(cause) = failed {
            // Nothing in this round is acknowledged: the engine is poisoned, and a frame that
            // may or may not have reached the disk is reported as failed, never as durable.
            let cause = shared.poison(Arc::new(cause));
            round.batch.clear();
            round.events.clear();
            fail_all(&shared.acks, round.waiting.drain(..).map(|(r, _, _)| r), &cause);
            fail_all(&shared.acks, reqs, &cause);
            continue;
        }
        since_snapshot += next_lsn.saturating_sub(shared.progress().folded);
        shared.progress().folded = next_lsn;
        shared.changed.notify_all();
        // Subscribers hear of a record's changes before its ticket completes: a caller that
        // waited on a ticket finds them already in its subscription.
        shared.subscribers.publish(std::mem::take(&mut round.events));
        for (req, first_lsn, n) in round.waiting.drain(..) {
            req.reply.send(Ok(first_lsn..first_lsn + n as u64));
        }
        shared.acks.notify();
        // After the acknowledgements: the store and the snapshot are caches of the log, and
        // neither may delay a write.
        let _ = store_tx.send((next_lsn, changes));
        if config.snapshot_every_records > 0 && since_snapshot >= config.snapshot_every_records {
            since_snapshot = 0;
            snapshotter.request();
        }
    }
    // Closing: everything queued was written; sync, snapshot, and let the store thread finish.
    snapshotter.stop();
    if shared.progress().poisoned.is_none() {
        match log.sync() {
            Err(e) => {
                shared.poison(Arc::new(e.into()));
            }
            Ok(()) => snapshots::take_unless_on_disk(shared),
        }
    }
    drop(store_tx);
}
