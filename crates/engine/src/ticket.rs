//! A write's receipt: [`Ticket`], and the writer's end of it.
//!
//! Owns: how an outcome travels from the writer thread to the caller that waits (one slot per
//! write, one wake-up per round of writes), and the rule that every wait ends: with the write's
//! LSNs, with the failure that poisoned the engine, or with [`EngineError::Closed`] /
//! [`EngineError::Panicked`] when the writer went away without an outcome.

use std::ops::Range;
use std::sync::{Arc, Condvar, Mutex};

use idres_log::Lsn;

use crate::EngineError;

/// A queued write's receipt: [`Ticket::wait`] returns its LSN once it is durable and folded.
///
/// The ticket of a [`crate::Engine::write_batch`] covers all its records: they have consecutive
/// LSNs, and [`Ticket::wait_range`] returns them.
#[derive(Debug)]
pub struct Ticket {
    pub(crate) outcome: Arc<Outcome>,
    pub(crate) acks: Arc<Acks>,
}

/// A request's outcome, left by the writer: its LSNs, or the failure that poisoned the engine,
/// or why there is none (the engine closed, or its writer panicked).
pub(crate) type OutcomeValue = Result<Range<Lsn>, Arc<EngineError>>;

#[derive(Debug, Default)]
pub(crate) struct Outcome {
    value: Mutex<Option<OutcomeValue>>,
}

/// Wakes waiting tickets. The writer leaves the outcomes of a whole round, then bumps `round`
/// and wakes the waiters once: a wake-up per round, not per write.
#[derive(Debug, Default)]
pub(crate) struct Acks {
    round: Mutex<u64>,
    cv: Condvar,
}

impl Acks {
    pub(crate) fn notify(&self) {
        *self.round.lock().unwrap_or_else(|e| e.into_inner()) += 1;
        self.cv.notify_all();
    }
}

/// The writer's end of a ticket. Dropped without an outcome (the engine went away, or the writer
/// is unwinding from a panic), it leaves [`EngineError::Closed`] or [`EngineError::Panicked`] and
/// wakes the waiters itself.
#[derive(Debug)]
pub(crate) struct Reply {
    outcome: Arc<Outcome>,
    acks: Arc<Acks>,
    sent: bool,
}

impl Reply {
    /// A new ticket and its writer's end.
    pub(crate) fn new(acks: &Arc<Acks>) -> (Ticket, Reply) {
        let outcome = Arc::new(Outcome::default());
        let reply = Reply { outcome: outcome.clone(), acks: acks.clone(), sent: false };
        (Ticket { outcome, acks: acks.clone() }, reply)
    }

    /// Leaves the outcome; the caller wakes the waiters ([`Acks::notify`]) once it has left all
    /// of its round's.
    pub(crate) fn send(mut self, value: OutcomeValue) {
        self.leave(value);
    }

    fn leave(&mut self, value: OutcomeValue) {
        *self.outcome.value.lock().unwrap_or_else(|e| e.into_inner()) = Some(value);
        self.sent = true;
    }
}

impl Drop for Reply {
    fn drop(&mut self) {
        if !self.sent {
            let why =
                if std::thread::panicking() { EngineError::Panicked { thread: "writer" } } else { EngineError::Closed };
            self.leave(Err(Arc::new(why)));
            self.acks.notify();
        }
    }
}

impl Ticket {
    /// Waits until the write is durable (per the durability setting) and folded; returns the LSN
    /// of its (first) record.
    pub fn wait(self) -> Result<Lsn, EngineError> {
        self.wait_range().map(|r| r.start)
    }

    /// Waits like [`Ticket::wait`]; returns the LSNs of all the write's records.
    pub fn wait_range(self) -> Result<Range<Lsn>, EngineError> {
        // The outcome is checked under the wake-up lock, and the writer takes that lock after it
        // leaves an outcome: no wake-up is lost between the check and the wait. Every `Reply`
        // leaves an outcome, when sent or when dropped: the wait ends.
        let mut round = self.acks.round.lock().unwrap_or_else(|e| e.into_inner());
        loop {
            if let Some(value) = self.outcome.value.lock().unwrap_or_else(|e| e.into_inner()).take() {
                return value.map_err(|why| match &*why {
                    EngineError::Closed => EngineError::Closed,
                    EngineError::Panicked { thread } => EngineError::Panicked { thread },
                    _ => EngineError::Poisoned { cause: why },
                });
            }
            round = self.acks.cv.wait(round).unwrap_or_else(|e| e.into_inner());
        }
    }
}
