//! The engine handle: [`Engine`], the state its threads share, the write API, close.
//!
//! The write path, in the order a record takes it (each step in its own file):
//! 1. the caller's thread checks and encodes the record (`Engine::check`, here) and queues it on
//!    the bounded write queue (back-pressure);
//! 2. the writer thread ([`crate::writer`]) gathers a round of requests, appends them as frames
//!    (one atomic write and fdatasync per frame: group commit), folds each frame as the log now
//!    holds it, tells subscribers, and only then completes the round's tickets ([`crate::ticket`]);
//! 3. the store thread ([`crate::store_thread`]) writes the changed profiles to the read model
//!    behind the writer; the snapshot thread ([`crate::snapshots`]) writes the fold's state every
//!    N records. Neither is on the acknowledgement path.
//!
//! Opening (recovery, as named steps) is [`crate::open`]; reads are [`crate::reads`].

use std::sync::{Arc, Condvar, Mutex, MutexGuard, RwLock, RwLockReadGuard};
use std::thread::JoinHandle;
use std::time::Duration;

use crossbeam_channel::Sender;
use idres_log::{Lsn, ReadHandle};
use idres_model::{encode_record_entry_into, Cid, Map, Record, Target, Timestamp, Uid};
use idres_resolve::Resolver;
use idres_store::ProfileStore;

use crate::data_dir::DataDir;
use crate::subscription::{Subscribers, Subscription};
use crate::ticket::{Acks, Reply};
use crate::writer::{Records, Request};
use crate::{EngineConfig, EngineError, OpenReport, Ticket};

/// What the threads have done; guarded by [`Shared::progress`], signalled by [`Shared::changed`].
pub(crate) struct Progress {
    /// Records appended and folded (the next LSN).
    pub(crate) folded: Lsn,
    /// Records the store reflects.
    pub(crate) stored: Lsn,
    pub(crate) store_profiles_written: u64,
    pub(crate) store_keys_written: u64,
    pub(crate) store_flushes: u64,
    pub(crate) store_busy: Duration,
    pub(crate) snapshots_written: u64,
    pub(crate) snapshot_failures: u64,
    pub(crate) last_snapshot_failure: Option<Arc<EngineError>>,
    /// The LSN of the newest snapshot on disk that this engine wrote or restored.
    pub(crate) snapshot_lsn: Option<Lsn>,
    /// The failure that stopped the writer: no write is accepted after it.
    pub(crate) poisoned: Option<Arc<EngineError>>,
    /// The failure that stopped the store thread's writes: the log goes on, the store trails.
    pub(crate) store_failed: Option<Arc<EngineError>>,
    /// The store thread has ended (the engine closed, or it panicked): `stored` moves no more.
    pub(crate) store_stopped: bool,
}

/// What the engine's threads and its handle share.
pub(crate) struct Shared {
    pub(crate) dir: DataDir,
    /// The log's id (in every segment header, and in every snapshot this engine writes).
    pub(crate) log_id: [u8; 16],
    /// The log's first segment, named when a file of another log is refused.
    pub(crate) log_file: std::path::PathBuf,
    /// The log's frame payload limit: the edge refuses a record that could not fit.
    pub(crate) payload_max: u64,
    pub(crate) config: EngineConfig,
    pub(crate) resolver: RwLock<Resolver>,
    pub(crate) log: ReadHandle,
    pub(crate) progress: Mutex<Progress>,
    pub(crate) changed: Condvar,
    /// Wakes tickets (see [`Acks`]).
    pub(crate) acks: Arc<Acks>,
    pub(crate) subscribers: Subscribers,
    /// `None` once the engine is closed: the store's files are released.
    pub(crate) store: Mutex<Option<Box<dyn ProfileStore>>>,
    /// Held while a snapshot is written and old ones are removed (the snapshot thread and the
    /// final snapshot on close).
    pub(crate) snapshot_lock: Mutex<()>,
    /// Opened by [`Engine::open_read_only`]: no writer, no store.
    pub(crate) read_only: bool,
}

impl Shared {
    pub(crate) fn progress(&self) -> MutexGuard<'_, Progress> {
        self.progress.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub(crate) fn resolver(&self) -> RwLockReadGuard<'_, Resolver> {
        self.resolver.read().unwrap_or_else(|e| e.into_inner())
    }

    /// Poisons the engine with `cause` (the first cause is kept) and wakes every waiter.
    pub(crate) fn poison(&self, cause: Arc<EngineError>) -> Arc<EngineError> {
        let kept = self.progress().poisoned.get_or_insert(cause).clone();
        self.changed.notify_all();
        kept
    }
}

pub(crate) struct Handle {
    pub(crate) tx: RwLock<Option<Sender<Request>>>,
    pub(crate) shared: Arc<Shared>,
    /// The writer (first) and the store thread; the writer joins the snapshot thread.
    pub(crate) threads: Mutex<Vec<(&'static str, JoinHandle<()>)>>,
    pub(crate) report: OpenReport,
}

/// An open engine. Cheap to clone; every clone shares the same engine. Dropping the last clone
/// closes it (see [`Engine::close`]).
#[derive(Clone)]
pub struct Engine {
    pub(crate) handle: Arc<Handle>,
}

impl std::fmt::Debug for Engine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Engine").field("dir", &self.handle.shared.dir.root()).finish_non_exhaustive()
    }
}

impl Engine {
    /// What open found and did.
    pub fn open_report(&self) -> &OpenReport {
        &self.handle.report
    }

    /// True if opened by [`Engine::open_read_only`]: its state is fixed at the LSN it read up to
    /// (`stats().folded_lsn`), it takes no writes and has no store.
    pub fn is_read_only(&self) -> bool {
        self.handle.shared.read_only
    }

    /// Checks a record as a write would, without queueing it: its shape and limits, and that it
    /// fits in a record and a frame. For callers that validate a whole input before writing any
    /// of it.
    pub fn validate(&self, record: &Record) -> Result<(), EngineError> {
        thread_local! {
            static SCRATCH: std::cell::RefCell<Vec<u8>> = const { std::cell::RefCell::new(Vec::new()) };
        }
        SCRATCH.with(|scratch| {
            let mut buf = scratch.borrow_mut();
            buf.clear();
            self.check(record, &mut buf).map_err(EngineError::Invalid)
        })
    }

    /// Queues a record that passed the edge's checks.
    fn submit(&self, record: Record) -> Result<Ticket, EngineError> {
        self.writable()?;
        let mut bytes = Vec::new();
        self.check(&record, &mut bytes).map_err(EngineError::Invalid)?;
        self.enqueue(Records::One(bytes))
    }

    /// The edge's checks: the record's shape and limits, and that its encoding fits in a record
    /// and in a frame, so the writer never meets a record it cannot append. Appends the encoded
    /// entry (`appended_at` 0, for the writer to set) to `out`; on error `out` is as it was.
    fn check(&self, record: &Record, out: &mut Vec<u8>) -> Result<(), String> {
        record.validate_shape().map_err(|e| e.to_string())?;
        let payload_max = self.handle.shared.payload_max;
        let start = out.len();
        encode_record_entry_into(Timestamp::from_micros(0), record, out)
            .map_err(|e| format!("record cannot be encoded: {e}"))?;
        // The frame's payload: a 4-byte count, a 4-byte length per record, the records.
        let len = out.len() - start;
        if len as u64 + 8 > payload_max {
            out.truncate(start);
            return Err(format!("record of {len} bytes does not fit in a frame of {payload_max} bytes"));
        }
        Ok(())
    }

    /// Refuses a write to an engine opened read-only, before any check of the record.
    fn writable(&self) -> Result<(), EngineError> {
        if self.handle.shared.read_only {
            return Err(EngineError::ReadOnly("it takes no writes"));
        }
        Ok(())
    }

    fn enqueue(&self, records: Records) -> Result<Ticket, EngineError> {
        if let Some(cause) = &self.handle.shared.progress().poisoned {
            return Err(EngineError::Poisoned { cause: cause.clone() });
        }
        let (ticket, reply) = Reply::new(&self.handle.shared.acks);
        let tx = self.handle.tx.read().unwrap_or_else(|e| e.into_inner());
        tx.as_ref().ok_or(EngineError::Closed)?.send(Request { records, reply }).map_err(|_| EngineError::Closed)?;
        Ok(ticket)
    }

    /// Writes several records with one ticket: the way to ingest in bulk (a file, a queue's
    /// batch), at a fraction of the per-write cost. Every record is checked first; if one is
    /// malformed nothing is queued and the error names its index. The records get consecutive
    /// LSNs in the given order and are folded together; they are appended in as few frames as
    /// the frame size allows, so a crash can keep a prefix of a large batch (each frame is
    /// atomic). An empty batch completes at once with an empty range.
    pub fn write_batch(&self, records: Vec<Record>) -> Result<Ticket, EngineError> {
        self.writable()?;
        let mut data = Vec::new();
        let mut lens = Vec::with_capacity(records.len());
        for (i, record) in records.iter().enumerate() {
            let start = data.len();
            self.check(record, &mut data).map_err(|e| EngineError::Invalid(format!("record {i} of the batch: {e}")))?;
            // `check` holds a record to the frame's payload limit (≤ 4 GiB by construction).
            lens.push(u32::try_from(data.len() - start).unwrap_or(u32::MAX));
        }
        drop(records);
        self.enqueue(Records::Many { data, lens })
    }

    pub(crate) fn uid(s: &str) -> Result<Uid, EngineError> {
        Ok(Uid::parse(s)?)
    }

    pub(crate) fn cid(s: &str) -> Result<Cid, EngineError> {
        Ok(Cid::parse(s)?)
    }

    /// `setCustomerProperties`: links the device (if any) to the customer, creating it if new,
    /// and writes `attrs` on the customer. At the append time; [`Engine::at`] gives it the
    /// caller's.
    pub fn identify(&self, uid: Option<&str>, cid: &str, attrs: Map) -> Result<Ticket, EngineError> {
        self.identify_with(uid, cid, attrs, None, None)
    }

    pub(crate) fn identify_with(
        &self,
        uid: Option<&str>,
        cid: &str,
        attrs: Map,
        ts: Option<Timestamp>,
        message_id: Option<String>,
    ) -> Result<Ticket, EngineError> {
        let uid = uid.map(Self::uid).transpose()?;
        self.submit(Record::Identify { uid, cid: Self::cid(cid)?, attrs, ts, message_id })
    }

    /// `resetCustomer`: the device's future records start a new epoch. At the append time;
    /// [`Engine::at`] gives it the caller's.
    pub fn reset(&self, uid: &str) -> Result<Ticket, EngineError> {
        self.reset_with(uid, None)
    }

    pub(crate) fn reset_with(&self, uid: &str, ts: Option<Timestamp>) -> Result<Ticket, EngineError> {
        self.submit(Record::Reset { uid: Self::uid(uid)?, ts })
    }

    /// An event on a device, at the append time ([`Engine::at`] gives it the caller's).
    pub fn track_uid(&self, uid: &str, name: &str, props: Map) -> Result<Ticket, EngineError> {
        self.track(Target::Uid(Self::uid(uid)?), name, props, None, None)
    }

    /// An event on a device or a customer, with an optional session and time (`None`: the append
    /// time). `engine.at(ts).track(target, name, props, session_id)` says the same.
    pub fn track(
        &self,
        target: Target,
        name: &str,
        props: Map,
        session_id: Option<String>,
        ts: Option<Timestamp>,
    ) -> Result<Ticket, EngineError> {
        let target = self.checked_target(target)?;
        self.submit(Record::Event {
            target,
            name: name.to_string(),
            props,
            session_id,
            ts,
            system: false,
            message_id: None,
        })
    }

    /// A record whose target is checked first (a uid canonicalised, a cid validated).
    pub(crate) fn submit_targeted(&self, record: Record) -> Result<Ticket, EngineError> {
        match record {
            Record::Event { target, name, props, session_id, ts, system, message_id } => {
                let target = self.checked_target(target)?;
                self.submit(Record::Event { target, name, props, session_id, ts, system, message_id })
            }
            Record::Attributes { target, set, set_once, unset, ts, system, message_id } => {
                let target = self.checked_target(target)?;
                self.submit(Record::Attributes { target, set, set_once, unset, ts, system, message_id })
            }
            other => self.submit(other),
        }
    }

    fn checked_target(&self, target: Target) -> Result<Target, EngineError> {
        match target {
            Target::Uid(u) => Ok(Target::Uid(u.canonical()?)),
            Target::Cid(c) => c.validate().map(|()| Target::Cid(c)).map_err(EngineError::from),
        }
    }

    /// Attribute writes on a device or a customer, with an optional time (`None`: the append
    /// time). `engine.at(ts).attributes(target, set, set_once, unset)` says the same.
    pub fn attributes(
        &self,
        target: Target,
        set: Map,
        set_once: Map,
        unset: Vec<String>,
        ts: Option<Timestamp>,
    ) -> Result<Ticket, EngineError> {
        let target = self.checked_target(target)?;
        self.submit(Record::Attributes { target, set, set_once, unset, ts, system: false, message_id: None })
    }

    /// An operator merges customer `from` into `into`.
    pub fn merge(&self, from: &str, into: &str) -> Result<Ticket, EngineError> {
        self.submit(Record::Merge { from: Self::cid(from)?, into: Self::cid(into)? })
    }

    /// An operator undoes every merge of `cid`.
    pub fn unmerge(&self, cid: &str) -> Result<Ticket, EngineError> {
        self.submit(Record::Unmerge { cid: Self::cid(cid)? })
    }

    /// An operator detaches every epoch of `uid` from `cid`.
    pub fn unlink(&self, uid: &str, cid: &str) -> Result<Ticket, EngineError> {
        self.submit(Record::Unlink { uid: Self::uid(uid)?, cid: Self::cid(cid)? })
    }

    /// A subscription to every change from now on: one [`crate::ChangeEvent`] per profile a
    /// record changed (with the record's LSN, the profile's primary cid and its first
    /// [`crate::CHANGE_UIDS_MAX`] devices as they stand after the record), implicit resets and
    /// rejections, in LSN order; a record's events are in every subscription before its ticket
    /// completes. Which changes one record yields, and how duplicates are merged, is on
    /// [`crate::ProfileChange`] (and in docs/ARCHITECTURE.md, "The change stream").
    ///
    /// The writer never waits for a subscriber. A subscription holds
    /// [`crate::SUBSCRIBER_CHANGES_MAX`] events; while it is full, the events published are
    /// dropped for it and counted ([`Subscription::lagged`], [`crate::Stats::changes_dropped`]).
    /// It is not disconnected: once it has read what it holds, it receives one
    /// [`crate::ChangeEvent::Lagged`] `{ missed }`, then the events published after it had room
    /// again (as tokio's broadcast reports `Lagged(n)` and keeps the receiver). It ends when the
    /// engine closes, once read to the end. Building the events costs the writer a lookup per
    /// changed profile, and only while at least one subscription is live.
    pub fn subscribe(&self) -> Subscription {
        self.handle.shared.subscribers.subscribe()
    }

    /// Waits until the persisted store reflects every record before `lsn + 1`. Ends with an
    /// error if `lsn` has not been folded ([`EngineError::Invalid`]: no write could make the wait
    /// end), if the store could not be written ([`EngineError::StoreBehind`]), or if the engine
    /// closed or its store thread ended first ([`EngineError::Closed`], [`EngineError::Panicked`]).
    pub fn wait_stored(&self, lsn: Lsn) -> Result<(), EngineError> {
        let shared = &self.handle.shared;
        if shared.read_only {
            return Err(EngineError::ReadOnly("it has no store"));
        }
        let mut p = shared.progress();
        // An LSN is known from a ticket, which completes after its record is folded: a wait for
        // one past the fold could only end by chance.
        if lsn >= p.folded {
            return Err(EngineError::Invalid(format!(
                "LSN {lsn} has not been acknowledged (the log's next LSN is {})",
                p.folded
            )));
        }
        loop {
            if p.stored > lsn {
                return Ok(());
            }
            if let Some(cause) = &p.store_failed {
                return Err(EngineError::StoreBehind { durable: p.folded, stored: p.stored, cause: cause.clone() });
            }
            if p.store_stopped {
                return Err(EngineError::Closed);
            }
            p = shared.changed.wait(p).unwrap_or_else(|e| e.into_inner());
        }
    }

    /// Drains the queue, writes everything, takes a final snapshot and stops the threads. Every
    /// acknowledged write is in the log; the store is left at the log's end. Later writes on any
    /// clone return [`EngineError::Closed`].
    ///
    /// Errors: [`EngineError::Poisoned`] if a write failed (what was acknowledged before is
    /// durable); [`EngineError::StoreBehind`] if only the store could not be written (every
    /// acknowledged record is durable, the next open catches the store up);
    /// [`EngineError::Panicked`] if the writer thread panicked (a store-thread panic is
    /// `StoreBehind` with a `Panicked` cause; a snapshot-thread panic is a counted snapshot failure).
    pub fn close(&self) -> Result<(), EngineError> {
        self.handle.close()
    }
}

impl Handle {
    pub(crate) fn close(&self) -> Result<(), EngineError> {
        drop(self.tx.write().unwrap_or_else(|e| e.into_inner()).take());
        let threads = std::mem::take(&mut *self.threads.lock().unwrap_or_else(|e| e.into_inner()));
        let mut panicked = None;
        for (name, t) in threads {
            // The store thread marks its own panic as the store's failure (the log is whole);
            // the writer catches its own and poisons the engine. Anything else is said here.
            if t.join().is_err() && name != "store" {
                panicked.get_or_insert(name);
            }
        }
        // The writer has published its last changes: every subscription ends once read.
        self.shared.subscribers.close();
        // Release the store's files (sled flushes on drop): the directory can be opened again.
        drop(self.shared.store.lock().unwrap_or_else(|e| e.into_inner()).take());
        if let Some(thread) = panicked {
            return Err(EngineError::Panicked { thread });
        }
        let p = self.shared.progress();
        if let Some(cause) = &p.poisoned {
            return Err(match &**cause {
                EngineError::Panicked { thread } => EngineError::Panicked { thread },
                _ => EngineError::Poisoned { cause: cause.clone() },
            });
        }
        if let Some(cause) = &p.store_failed {
            return Err(EngineError::StoreBehind { durable: p.folded, stored: p.stored, cause: cause.clone() });
        }
        Ok(())
    }
}

impl Drop for Handle {
    fn drop(&mut self) {
        let _ = self.close();
    }
}
