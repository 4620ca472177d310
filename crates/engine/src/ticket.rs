//! A write's receipt: [`Ticket`], its futures ([`TicketFuture`], [`TicketRangeFuture`]), and the
//! writer's end of it.
//!
//! Owns: how an outcome travels from the writer thread to the caller that waits (one slot per
//! write, one wake-up per round of writes for blocking waits, the task's [`Waker`] for awaits),
//! and the rule that every wait ends: with the write's LSNs, with the failure that poisoned the
//! engine, or with [`EngineError::Closed`] / [`EngineError::Panicked`] when the writer went away
//! without an outcome. The futures need no runtime: the writer wakes the waker the last poll left
//! in the slot, under the slot's lock, so no wake-up is lost.

use std::future::{Future, IntoFuture};
use std::ops::Range;
use std::pin::Pin;
use std::sync::{Arc, Condvar, Mutex};
use std::task::{Context, Poll, Waker};

use idres_log::Lsn;

use crate::EngineError;

/// A queued write's receipt: [`Ticket::wait`] returns its LSN once it is durable and folded.
///
/// The ticket of a [`crate::Engine::write_batch`] covers all its records: they have consecutive
/// LSNs, and [`Ticket::wait_range`] returns them.
///
/// In async code, await it instead of blocking a runtime's thread: `ticket.await` is
/// [`Ticket::wait`] (the future is [`TicketFuture`]) and [`Ticket::wait_range_async`] is
/// [`Ticket::wait_range`]. The futures work under any executor (the writer thread wakes the
/// task's [`Waker`]); they end exactly when the blocking waits would, with the same outcome.
///
/// ```
/// use idres::{Engine, EngineConfig, Map};
///
/// #[tokio::main(flavor = "current_thread")]
/// async fn main() -> Result<(), idres::EngineError> {
/// # let tmp = tempfile::tempdir().map_err(|e| idres::EngineError::Invalid(e.to_string()))?;
///     let engine = Engine::open(tmp.path(), EngineConfig::default())?;
///     let lsn = engine.identify(Some("web-7f3a"), "customer-42", Map::new())?.await?;
///     // Awaited: durable and folded, so the read sees it.
///     let profile = engine.profile_by_cid("customer-42")?.expect("just identified");
///     assert_eq!(profile.uids.len(), 1);
///     let lsns = engine.track_uid("web-7f3a", "page_view", Map::new())?.wait_range_async().await?;
///     assert_eq!(lsns, lsn + 1..lsn + 2);
///     engine.close()
/// }
/// ```
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
    slot: Mutex<Slot>,
}

/// The outcome once left, and the waker of the task that awaits it, if one polled first.
#[derive(Debug, Default)]
struct Slot {
    value: Option<OutcomeValue>,
    waker: Option<Waker>,
}

impl Outcome {
    fn slot(&self) -> std::sync::MutexGuard<'_, Slot> {
        self.slot.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The outcome if it has been left, else the task's waker kept for the writer to wake.
    fn poll(&self, cx: &mut Context<'_>) -> Poll<Result<Range<Lsn>, EngineError>> {
        let mut slot = self.slot();
        match &slot.value {
            // Cloned, not taken: a future polled again after it is ready gives the same answer.
            Some(value) => Poll::Ready(outcome_of(value.clone())),
            None => {
                match &mut slot.waker {
                    Some(w) if w.will_wake(cx.waker()) => {}
                    w => *w = Some(cx.waker().clone()),
                }
                Poll::Pending
            }
        }
    }
}

/// The caller's error for an outcome the writer left.
fn outcome_of(value: OutcomeValue) -> Result<Range<Lsn>, EngineError> {
    value.map_err(|why| match &*why {
        EngineError::Closed => EngineError::Closed,
        EngineError::Panicked { thread } => EngineError::Panicked { thread },
        _ => EngineError::Poisoned { cause: why },
    })
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

    /// Leaves the outcome and wakes the task awaiting it, if any (outside the slot's lock); the
    /// blocking waiters are woken by [`Acks::notify`].
    fn leave(&mut self, value: OutcomeValue) {
        let waker = {
            let mut slot = self.outcome.slot();
            slot.value = Some(value);
            slot.waker.take()
        };
        self.sent = true;
        if let Some(waker) = waker {
            waker.wake();
        }
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
            if let Some(value) = self.outcome.slot().value.take() {
                return outcome_of(value);
            }
            round = self.acks.cv.wait(round).unwrap_or_else(|e| e.into_inner());
        }
    }

    /// [`Ticket::wait_range`] as a future: the LSNs of all the write's records, without blocking
    /// a thread. (`ticket.await` gives the first LSN, as [`Ticket::wait`] does.)
    pub fn wait_range_async(self) -> TicketRangeFuture {
        TicketRangeFuture { outcome: self.outcome }
    }
}

/// `ticket.await`: [`Ticket::wait`] without blocking a thread.
impl IntoFuture for Ticket {
    type Output = Result<Lsn, EngineError>;
    type IntoFuture = TicketFuture;

    fn into_future(self) -> TicketFuture {
        TicketFuture { outcome: self.outcome }
    }
}

/// A [`Ticket`] awaited (`ticket.await`): ready with the LSN of the write's (first) record once
/// it is durable and folded, or with the error [`Ticket::wait`] would return. Runtime-agnostic:
/// the engine's writer thread wakes the task. Dropping it abandons the wait, not the write.
#[derive(Debug)]
#[must_use = "futures do nothing unless awaited"]
pub struct TicketFuture {
    outcome: Arc<Outcome>,
}

impl Future for TicketFuture {
    type Output = Result<Lsn, EngineError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        self.outcome.poll(cx).map(|r| r.map(|range| range.start))
    }
}

/// [`Ticket::wait_range_async`]: ready with the LSNs of all the write's records, as
/// [`Ticket::wait_range`] returns them.
#[derive(Debug)]
#[must_use = "futures do nothing unless awaited"]
pub struct TicketRangeFuture {
    outcome: Arc<Outcome>,
}

impl Future for TicketRangeFuture {
    type Output = Result<Range<Lsn>, EngineError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        self.outcome.poll(cx)
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::task::Wake;

    use super::*;

    /// Counts its wake-ups.
    #[derive(Default)]
    struct Counting(AtomicUsize);

    impl Wake for Counting {
        fn wake(self: Arc<Self>) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }

    fn poll<F: Future + Unpin>(f: &mut F, waker: &Arc<Counting>) -> Poll<F::Output> {
        let waker = Waker::from(waker.clone());
        Pin::new(f).poll(&mut Context::from_waker(&waker))
    }

    #[test]
    fn the_writer_wakes_the_task_that_polled() {
        let acks = Arc::new(Acks::default());
        let (ticket, reply) = Reply::new(&acks);
        let mut future = ticket.into_future();
        let waker = Arc::new(Counting::default());
        assert!(poll(&mut future, &waker).is_pending());
        assert!(poll(&mut future, &waker).is_pending(), "polled again before the outcome");
        assert_eq!(waker.0.load(Ordering::SeqCst), 0);
        reply.send(Ok(7..9));
        assert_eq!(waker.0.load(Ordering::SeqCst), 1, "one wake-up for the outcome");
        assert!(matches!(poll(&mut future, &waker), Poll::Ready(Ok(7))));
        assert!(matches!(poll(&mut future, &waker), Poll::Ready(Ok(7))), "ready stays ready");
    }

    #[test]
    fn a_range_future_sees_an_outcome_left_before_its_first_poll() {
        let acks = Arc::new(Acks::default());
        let (ticket, reply) = Reply::new(&acks);
        reply.send(Ok(3..6));
        let waker = Arc::new(Counting::default());
        assert!(matches!(poll(&mut ticket.wait_range_async(), &waker), Poll::Ready(Ok(r)) if r == (3..6)));
        assert_eq!(waker.0.load(Ordering::SeqCst), 0);
    }

    #[test]
    fn a_reply_dropped_unsent_wakes_the_task_with_closed() {
        let acks = Arc::new(Acks::default());
        let (ticket, reply) = Reply::new(&acks);
        let mut future = ticket.into_future();
        let waker = Arc::new(Counting::default());
        assert!(poll(&mut future, &waker).is_pending());
        drop(reply);
        assert_eq!(waker.0.load(Ordering::SeqCst), 1);
        assert!(matches!(poll(&mut future, &waker), Poll::Ready(Err(EngineError::Closed))));
    }

    #[test]
    fn a_failure_reaches_the_task_as_poisoned() {
        let acks = Arc::new(Acks::default());
        let (ticket, reply) = Reply::new(&acks);
        let mut future = ticket.into_future();
        let waker = Arc::new(Counting::default());
        assert!(poll(&mut future, &waker).is_pending());
        reply.send(Err(Arc::new(EngineError::Invalid("disk".into()))));
        match poll(&mut future, &waker) {
            Poll::Ready(Err(e @ EngineError::Poisoned { .. })) => {
                assert!(matches!(e.poison_cause(), Some(EngineError::Invalid(m)) if m == "disk"));
            }
            other => panic!("{other:?}"),
        }
    }
}
