//! Subscriptions to the change stream: the caller's end ([`Subscription`]) and the writer's
//! ([`Subscribers`]), with the lag policy that keeps the writer from ever waiting on a reader.
//!
//! Each subscription is a bounded channel of [`SUBSCRIBER_CHANGES_MAX`] events. The writer only
//! ever `try_send`s: when a subscription's channel is full, the event is dropped for it and
//! counted (the subscription's [`Subscription::lagged`], the engine's
//! [`crate::Stats::changes_dropped`]). The subscription is kept, as tokio's broadcast keeps a
//! lagging receiver: once the subscriber has read everything that was in its channel, it receives
//! one [`ChangeEvent::Lagged`] with the number missed, then the changes published after it had
//! room again. So a subscriber sees every change in LSN order, or a gap that says how large it
//! is, never a silent one.
//!
//! The missed count lives beside the channel under a small lock taken by the writer (once per
//! subscription per round) and by the reader only when it finds its channel empty: the marker is
//! handed out either by the writer, ahead of the next event that fits, or by the reader itself
//! once the channel is drained, so it always comes after the events that were buffered before the
//! gap and before those after it, even if no record is written after the subscriber catches up.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use crossbeam_channel::{Receiver, RecvTimeoutError, Sender, TryRecvError, TrySendError};

use crate::changes::ChangeEvent;

/// Events a subscription's channel holds. A subscriber that falls this far behind misses the
/// events published while its channel is full, and is told how many with one
/// [`ChangeEvent::Lagged`] once it has read the rest (see [`crate::Engine::subscribe`]); the
/// writer never waits for it.
pub const SUBSCRIBER_CHANGES_MAX: usize = 65_536;

/// What the writer and a subscription share besides the channel.
#[derive(Debug, Default)]
struct Lag {
    /// Events dropped since the last [`ChangeEvent::Lagged`] handed out.
    pending: Mutex<u64>,
    /// Events dropped since the subscription was made.
    total: AtomicU64,
}

impl Lag {
    fn pending(&self) -> MutexGuard<'_, u64> {
        // A count holds no invariant a panic could break halfway.
        self.pending.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// A subscription to the engine's changes ([`crate::Engine::subscribe`]): every
/// [`ChangeEvent`] from the moment it was made, in LSN order, a record's events before its
/// ticket completes. Receiving ends (`Err` / `None`) once the engine has closed and every event
/// sent before has been read. Dropping it unsubscribes. It never holds the writer: one that
/// falls [`SUBSCRIBER_CHANGES_MAX`] behind misses events and is told so with a
/// [`ChangeEvent::Lagged`] (see [`crate::Engine::subscribe`]).
#[derive(Debug)]
pub struct Subscription {
    rx: Receiver<ChangeEvent>,
    lag: Arc<Lag>,
}

/// The subscription has ended: the engine closed and every event was read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the subscription has ended: the engine closed and every change was read")]
pub struct SubscriptionEnded;

impl Subscription {
    /// The next event, waiting for one. `Err` once the engine has closed and every event was
    /// read.
    pub fn recv(&self) -> Result<ChangeEvent, SubscriptionEnded> {
        if let Some(e) = self.try_recv()? {
            return Ok(e);
        }
        match self.rx.recv() {
            Ok(e) => Ok(e),
            // Ended: a marker left to hand out is handed out first.
            Err(_) => self.try_recv()?.ok_or(SubscriptionEnded),
        }
    }

    /// The next event if one is ready (`Ok(None)`: none yet), without waiting.
    pub fn try_recv(&self) -> Result<Option<ChangeEvent>, SubscriptionEnded> {
        match self.rx.try_recv() {
            Ok(e) => return Ok(Some(e)),
            Err(TryRecvError::Empty | TryRecvError::Disconnected) => {}
        }
        // The channel looked empty: look again under the lag's lock, which the writer holds
        // while it sends, so a gap counted is never handed out ahead of events sent before it.
        let mut pending = self.lag.pending();
        match self.rx.try_recv() {
            Ok(e) => Ok(Some(e)),
            Err(e) => {
                if *pending > 0 {
                    let missed = std::mem::take(&mut *pending);
                    return Ok(Some(ChangeEvent::Lagged { missed }));
                }
                match e {
                    TryRecvError::Empty => Ok(None),
                    TryRecvError::Disconnected => Err(SubscriptionEnded),
                }
            }
        }
    }

    /// The next event, waiting at most `timeout` (`Ok(None)`: none came).
    pub fn recv_timeout(&self, timeout: Duration) -> Result<Option<ChangeEvent>, SubscriptionEnded> {
        if let Some(e) = self.try_recv()? {
            return Ok(Some(e));
        }
        match self.rx.recv_timeout(timeout) {
            Ok(e) => Ok(Some(e)),
            // Nothing came, or the engine closed: a gap counted meanwhile is handed out now (the
            // channel is empty), else none came / the subscription has ended.
            Err(RecvTimeoutError::Timeout | RecvTimeoutError::Disconnected) => self.try_recv(),
        }
    }

    /// The events ready now, without waiting (a [`ChangeEvent::Lagged`] among them if due).
    pub fn try_iter(&self) -> impl Iterator<Item = ChangeEvent> + '_ {
        std::iter::from_fn(|| self.try_recv().ok().flatten())
    }

    /// Every event, waiting for each, until the subscription ends.
    pub fn iter(&self) -> impl Iterator<Item = ChangeEvent> + '_ {
        std::iter::from_fn(|| self.recv().ok())
    }

    /// How many events this subscription has missed since it was made (the sum of the
    /// [`ChangeEvent::Lagged`] counts it has received or will receive). 0: it has kept up.
    pub fn lagged(&self) -> u64 {
        self.lag.total.load(Ordering::Relaxed)
    }
}

/// The writer's end of one subscription.
struct Subscriber {
    tx: Sender<ChangeEvent>,
    lag: Arc<Lag>,
}

/// Every live subscription, as the writer publishes to them.
#[derive(Default)]
pub(crate) struct Subscribers {
    list: Mutex<Vec<Subscriber>>,
    /// Events dropped for lagging subscriptions since open, summed over all of them.
    dropped: AtomicU64,
}

impl Subscribers {
    fn list(&self) -> MutexGuard<'_, Vec<Subscriber>> {
        self.list.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// A new subscription.
    pub(crate) fn subscribe(&self) -> Subscription {
        let (tx, rx) = crossbeam_channel::bounded(SUBSCRIBER_CHANGES_MAX);
        let lag = Arc::new(Lag::default());
        self.list().push(Subscriber { tx, lag: Arc::clone(&lag) });
        Subscription { rx, lag }
    }

    /// True if anyone is subscribed (the writer builds events only then).
    pub(crate) fn any(&self) -> bool {
        !self.list().is_empty()
    }

    /// Live subscriptions (one dropped by its owner counts until the next publish notices).
    pub(crate) fn count(&self) -> usize {
        self.list().len()
    }

    /// Events dropped for lagging subscriptions since open.
    pub(crate) fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }

    /// Ends every subscription: each receives what is in its channel (and a due marker), then
    /// ends.
    pub(crate) fn close(&self) {
        self.list().clear();
    }

    /// Sends `events` to every subscription, never waiting: an event that does not fit in a
    /// subscription's channel is counted as missed for it. A subscription whose receiver was
    /// dropped is removed. The last subscription gets the events themselves, the others copies.
    pub(crate) fn publish(&self, events: Vec<ChangeEvent>) {
        if events.is_empty() {
            return;
        }
        let mut list = self.list();
        let n = list.len();
        let mut events = Some(events);
        let mut seen = 0usize;
        let mut dropped = 0u64;
        list.retain(|s| {
            seen += 1;
            let (missed, live) = if seen == n {
                s.send(events.take().unwrap_or_default().into_iter())
            } else {
                s.send(events.iter().flatten().cloned())
            };
            dropped += missed;
            live
        });
        self.dropped.fetch_add(dropped, Ordering::Relaxed);
    }
}

impl Subscriber {
    /// Sends `events` without waiting (see [`Subscribers::publish`]): how many were missed, and
    /// whether the receiver is still there.
    fn send(&self, events: impl Iterator<Item = ChangeEvent>) -> (u64, bool) {
        let mut pending = self.lag.pending();
        let mut missed = 0u64;
        let mut live = true;
        for e in events {
            if *pending > 0 {
                // The gap's marker goes first; while it does not fit, the gap grows.
                match self.tx.try_send(ChangeEvent::Lagged { missed: *pending }) {
                    Ok(()) => *pending = 0,
                    Err(TrySendError::Full(_)) => {
                        *pending += 1;
                        missed += 1;
                        continue;
                    }
                    Err(TrySendError::Disconnected(_)) => {
                        live = false;
                        break;
                    }
                }
            }
            match self.tx.try_send(e) {
                Ok(()) => {}
                Err(TrySendError::Full(_)) => {
                    *pending += 1;
                    missed += 1;
                }
                Err(TrySendError::Disconnected(_)) => {
                    live = false;
                    break;
                }
            }
        }
        self.lag.total.fetch_add(missed, Ordering::Relaxed);
        (missed, live)
    }
}
