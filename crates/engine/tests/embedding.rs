//! The crate as a service embeds it (issue 14, items 9, 10, 13, 14): everything through `idres`
//! alone (no `idres_model` import here), `?` on the model's errors, value conversions, records
//! with their own time, awaited tickets (a hand-written executor and tokio), and the open report
//! of a fresh data directory.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::future::{Future, IntoFuture};
use std::pin::{pin, Pin};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll, Wake, Waker};
use std::thread::Thread;
use std::time::Duration;

use idres::prelude::*;
use idres::{FjallOptions, SledOptions, StoreBackend, TimeError, ValueError};

fn tempdir() -> tempfile::TempDir {
    match tempfile::Builder::new().prefix("idres-embedding").tempdir_in("/dev/shm") {
        Ok(d) => d,
        Err(_) => tempfile::tempdir().unwrap(),
    }
}

fn config() -> EngineConfig {
    EngineConfig { segment_bytes: 1 << 20, snapshot_every_records: 0, ..EngineConfig::default() }
}

fn ts(text: &str) -> Timestamp {
    Timestamp::parse_rfc3339(text).unwrap()
}

fn map<const N: usize>(pairs: [(&str, Value); N]) -> Map {
    pairs.into_iter().map(|(k, v)| (k.to_string(), v)).collect()
}

// ---- item 9: one crate, `?`, conversions ----

/// A caller's own write function: every model error it meets converts with `?`.
fn caller_write(engine: &Engine, uid: &str, when: &str, score: f64) -> Result<Lsn, EngineError> {
    let target = Target::uid(uid)?; // IdError
    let at = Timestamp::parse_rfc3339(when)?; // TimeError
    let score = Value::try_from(score)?; // ValueError
    let record = Record::Event {
        target,
        name: "scored".into(),
        props: map([("score", score)]),
        session_id: None,
        ts: Some(at),
        system: false,
        message_id: None,
    };
    record.validate_shape()?; // RecordError
    engine.write_batch(vec![record])?.wait()
}

#[test]
fn model_errors_convert_into_engine_errors_with_question_mark() {
    let dir = tempdir();
    let engine = Engine::open(dir.path(), config()).unwrap();
    assert_eq!(caller_write(&engine, "web-1", "2024-01-01T00:00:00Z", 0.5).unwrap(), 0);
    // Each error is `Invalid`, with the model's message.
    let bad_id = caller_write(&engine, "", "2024-01-01T00:00:00Z", 0.5).unwrap_err();
    let ours = engine.track_uid("", "scored", Map::new()).unwrap_err();
    assert!(matches!(bad_id, EngineError::Invalid(_)), "{bad_id:?}");
    assert_eq!(bad_id.to_string(), ours.to_string(), "the same error as the engine's own check");
    let bad_time = caller_write(&engine, "web-1", "2024-01-01", 0.5).unwrap_err();
    let time_error: TimeError = Timestamp::parse_rfc3339("2024-01-01").unwrap_err();
    assert!(matches!(&bad_time, EngineError::Invalid(m) if *m == time_error.to_string()), "{bad_time:?}");
    let nan = caller_write(&engine, "web-1", "2024-01-01T00:00:00Z", f64::NAN).unwrap_err();
    assert!(matches!(&nan, EngineError::Invalid(m) if *m == ValueError::NonFiniteFloat.to_string()), "{nan:?}");
    let record = Record::Event {
        target: Target::uid("web-1").unwrap(),
        name: String::new(),
        props: Map::new(),
        session_id: None,
        ts: None,
        system: false,
        message_id: None,
    };
    let shape: EngineError = record.validate_shape().unwrap_err().into();
    assert!(matches!(&shape, EngineError::Invalid(m) if m.contains("event name is empty")), "{shape:?}");
    assert_eq!(engine.stats().folded_lsn, 1, "nothing malformed was appended");
    engine.close().unwrap();
}

#[test]
fn converted_values_reach_the_profile_as_given() {
    let dir = tempdir();
    let engine = Engine::open(dir.path(), config()).unwrap();
    let attrs = map([
        ("flag", Value::from(true)),
        ("seats", Value::from(12)),
        ("big", Value::from(u32::MAX)),
        ("wide", Value::from(-5i64)),
        ("name", Value::from("Ada")),
        ("owned", Value::from(String::from("x"))),
        ("ratio", Value::try_from(0.25).unwrap()),
        ("tags", ["a", "b"].into_iter().collect()),
        ("list", Value::from(vec![Value::Null])),
        ("nested", Value::from(map([("k", Value::from(1))]))),
        ("present", Value::from(Some(3))),
    ]);
    engine.identify(None, "customer-1", attrs).unwrap().wait().unwrap();
    let p = engine.profile_by_cid("customer-1").unwrap().unwrap();
    let got = |k: &str| p.attributes.get(k).cloned();
    assert_eq!(got("flag"), Some(Value::Bool(true)));
    assert_eq!(got("seats"), Some(Value::Int(12)));
    assert_eq!(got("big"), Some(Value::Int(4_294_967_295)));
    assert_eq!(got("wide"), Some(Value::Int(-5)));
    assert_eq!(got("name"), Some(Value::String("Ada".into())));
    assert_eq!(got("owned"), Some(Value::String("x".into())));
    assert_eq!(got("ratio"), Some(Value::Float(0.25)));
    assert_eq!(got("tags"), Some(Value::List(vec![Value::from("a"), Value::from("b")])));
    assert_eq!(got("list"), Some(Value::List(vec![Value::Null])));
    assert_eq!(got("nested"), Some(Value::Map(map([("k", Value::Int(1))]))));
    assert_eq!(got("present"), Some(Value::Int(3)));
    assert_eq!(p.kind, ProfileKind::Customer);
    assert_eq!(Value::try_from(f64::INFINITY), Err(ValueError::NonFiniteFloat));
    engine.close().unwrap();
}

// ---- item 10: records with their own time ----

#[test]
fn timed_writes_count_at_their_own_time() {
    let dir = tempdir();
    let engine = Engine::open(dir.path(), config()).unwrap();
    let (t1, t2, t3) = (ts("2024-03-01T09:30:00Z"), ts("2024-03-02T00:00:00Z"), ts("2024-03-03T00:00:00.5Z"));
    engine.at(t2).track_uid("web-1", "view", Map::new()).unwrap();
    engine.at(t1).track(Target::uid("web-1").unwrap(), "view", Map::new(), Some("s-1".into())).unwrap();
    // The later record in the log has the earlier time: the newer time wins, not the log order.
    engine
        .at(t3)
        .attributes(Target::uid("web-1").unwrap(), map([("plan", Value::from("pro"))]), Map::new(), vec![])
        .unwrap();
    engine
        .at(t1)
        .attributes(Target::uid("web-1").unwrap(), map([("plan", Value::from("free"))]), Map::new(), vec![])
        .unwrap();
    engine.at(t3).identify(Some("web-1"), "customer-1", Map::new()).unwrap();
    let last = engine.at(t3).reset("web-1").unwrap().wait().unwrap();
    assert_eq!(last, 5);
    let p = engine.profile_by_cid("customer-1").unwrap().unwrap();
    assert_eq!((p.first_seen, p.last_seen), (Some(t1), Some(t2)), "events at their own times");
    assert_eq!(p.attributes.get("plan"), Some(&Value::from("pro")), "the write at the newer time wins");
    // Each event carries its time, and its effective time is that time (it is in the past).
    let history = engine.history(&p).unwrap();
    assert_eq!(history.iter().map(|(_, e)| e.record.ts()).collect::<Vec<_>>(), vec![Some(t2), Some(t1)]);
    for (_, entry) in &history {
        assert_eq!(Some(entry.effective_ts()), entry.record.ts(), "min(ts, appended_at) is ts in the past");
        assert!(entry.appended_at > t3, "appended now, long after");
    }
    assert_eq!(engine.at(t1).ts(), Some(t1));
    engine.close().unwrap();
}

#[test]
fn a_time_in_the_future_counts_as_the_append_time_and_none_is_the_append_time() {
    let dir = tempdir();
    let engine = Engine::open(dir.path(), config()).unwrap();
    let future = Timestamp::from_micros(i64::MAX);
    engine.at(future).track_uid("web-1", "view", Map::new()).unwrap();
    engine.at(None).track_uid("web-1", "view", Map::new()).unwrap().wait().unwrap();
    let p = engine.profile_by_uid("web-1").unwrap().unwrap();
    let history = engine.history(&p).unwrap();
    assert_eq!(history[0].1.record.ts(), Some(future), "the record keeps the caller's time");
    assert_eq!(history[0].1.effective_ts(), history[0].1.appended_at, "but it counts at the append time");
    assert_eq!(history[1].1.record.ts(), None, "at(None) is the plain call");
    assert_eq!(p.first_seen, Some(history[0].1.appended_at));
    assert!(p.last_seen < Some(future));
    engine.close().unwrap();
}

// ---- item 13: awaited tickets ----

/// Unparks the executor's thread and counts wake-ups.
struct Unpark {
    thread: Thread,
    wakes: AtomicUsize,
}

impl Wake for Unpark {
    fn wake(self: Arc<Self>) {
        self.wakes.fetch_add(1, Ordering::SeqCst);
        self.thread.unpark();
    }
}

/// A minimal executor: polls `future` with `waker`, parks between polls. The park has a bound
/// only so that a lost wake-up fails the test's count instead of hanging it.
fn block_on<F: Future>(future: F, waker: &Arc<Unpark>) -> F::Output {
    let mut future = pin!(future);
    let w = Waker::from(waker.clone());
    let mut cx = Context::from_waker(&w);
    loop {
        if let Poll::Ready(v) = future.as_mut().poll(&mut cx) {
            return v;
        }
        std::thread::park_timeout(Duration::from_secs(5));
    }
}

#[test]
fn an_awaited_ticket_is_woken_by_the_writer_and_reads_back_its_write() {
    let dir = tempdir();
    let engine = Engine::open(dir.path(), config()).unwrap();
    let waker = Arc::new(Unpark { thread: std::thread::current(), wakes: AtomicUsize::new(0) });
    // While the fold's read lock is held the writer cannot fold the record, so the ticket cannot
    // be ready: the first poll is pending and leaves the waker.
    let mut future = engine.read(|_| {
        let mut future = engine.identify(Some("web-1"), "customer-1", Map::new()).unwrap().into_future();
        let w = Waker::from(waker.clone());
        assert!(Pin::new(&mut future).poll(&mut Context::from_waker(&w)).is_pending());
        future
    });
    let lsn = block_on(&mut future, &waker).unwrap();
    assert_eq!(lsn, 0);
    assert_eq!(waker.wakes.load(Ordering::SeqCst), 1, "woken once, by the writer");
    let p = engine.profile_by_cid("customer-1").unwrap().expect("read-your-writes after the await");
    assert_eq!(p.uids.len(), 1);
    // A batch's range, awaited.
    let batch = vec![
        Record::Reset { uid: Uid::parse("web-1").unwrap(), ts: None },
        Record::Reset { uid: Uid::parse("web-2").unwrap(), ts: None },
    ];
    let range = block_on(engine.write_batch(batch).unwrap().wait_range_async(), &waker).unwrap();
    assert_eq!(range, 1..3);
    engine.close().unwrap();
    // A write after close is refused before a ticket exists; the engine's `Closed` is the error.
    assert!(matches!(engine.reset("web-1"), Err(EngineError::Closed)));
}

#[tokio::test(flavor = "current_thread")]
async fn many_tasks_await_their_tickets_under_tokio() {
    let dir = tempdir();
    let engine = Engine::open(dir.path(), config()).unwrap();
    let mut tasks = Vec::new();
    for i in 0..64 {
        let engine = engine.clone();
        tasks.push(tokio::spawn(async move {
            let ticket =
                engine.identify(Some(&format!("web-{i}")), &format!("customer-{}", i % 8), Map::new()).unwrap();
            ticket.await.unwrap()
        }));
    }
    let mut lsns = Vec::new();
    for t in tasks {
        lsns.push(t.await.unwrap());
    }
    lsns.sort_unstable();
    assert_eq!(lsns, (0..64).collect::<Vec<Lsn>>(), "every task got its own LSN");
    for c in 0..8 {
        assert_eq!(engine.profile_by_cid(&format!("customer-{c}")).unwrap().unwrap().uids.len(), 8);
    }
    engine.close().unwrap();
}

// ---- item 14: a fresh directory's open report ----

#[test]
fn a_fresh_directory_creates_its_store_without_reporting_a_rebuild() {
    for store in
        [StoreBackend::Fjall(FjallOptions::default()), StoreBackend::Sled(SledOptions::default()), StoreBackend::Memory]
    {
        let tmp = tempdir();
        let dir = tmp.path().join("new"); // not there yet: open creates it
        let engine = Engine::open(&dir, EngineConfig { store: store.clone(), ..config() }).unwrap();
        let report = engine.open_report().clone();
        assert!(!report.store_rebuilt, "{store:?}: {report:?}");
        engine.track_uid("web-1", "view", Map::new()).unwrap().wait().unwrap();
        engine.close().unwrap();
        // Reopened: caught up (on disk) or made anew from a log that holds a record (memory).
        let engine = Engine::open(&dir, EngineConfig { store: store.clone(), ..config() }).unwrap();
        assert_eq!(engine.open_report().store_rebuilt, !store.is_on_disk(), "{store:?}: {:?}", engine.open_report());
        engine.close().unwrap();
    }
}

#[test]
fn a_store_missing_beside_records_or_an_asked_rebuild_is_still_a_rebuild() {
    let tmp = tempdir();
    let dir = tmp.path();
    // An explicit rebuild of a fresh directory says so.
    let engine = Engine::open(dir, EngineConfig { rebuild: true, ..config() }).unwrap();
    assert!(engine.open_report().store_rebuilt, "{:?}", engine.open_report());
    engine.track_uid("web-1", "view", Map::new()).unwrap().wait().unwrap();
    engine.close().unwrap();
    // A store removed from a directory whose log holds records is rebuilt.
    std::fs::remove_dir_all(dir.join("store")).unwrap();
    let engine = Engine::open(dir, config()).unwrap();
    assert!(engine.open_report().store_rebuilt, "{:?}", engine.open_report());
    assert_eq!(engine.stored_profile_by_uid("web-1", 0).unwrap().unwrap().event_count, 1);
    engine.close().unwrap();
    // An empty log whose store is damaged: a rebuild, not a creation.
    let tmp = tempdir();
    let dir = tmp.path();
    Engine::open(dir, config()).unwrap().close().unwrap();
    std::fs::write(dir.join(idres::data_dir::STORE_BACKEND_FILE), b"rocksdb\n").unwrap();
    let engine = Engine::open(dir, config()).unwrap();
    assert!(engine.open_report().store_rebuilt, "{:?}", engine.open_report());
    engine.close().unwrap();
}
