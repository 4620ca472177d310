//! The engine end to end: read-your-writes, concurrency, reopen and replay, snapshots under
//! another config, the bounded store lag, errors at the edge.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::BTreeMap;

use idres::{Engine, EngineConfig, EngineError};
use idres_model::{decode_entry, Map, Record, Value};

fn tempdir() -> tempfile::TempDir {
    // Logic, not disk speed: tmpfs where there is one (the crash test uses a real disk).
    match tempfile::Builder::new().prefix("idres-engine").tempdir_in("/dev/shm") {
        Ok(d) => d,
        Err(_) => tempfile::tempdir().unwrap(),
    }
}

fn props(pairs: &[(&str, i64)]) -> Map {
    pairs.iter().map(|(k, v)| (k.to_string(), Value::Int(*v))).collect()
}

fn small() -> EngineConfig {
    EngineConfig { segment_bytes: 1 << 20, snapshot_every_records: 500, ..EngineConfig::default() }
}

#[test]
fn reads_see_writes_once_the_ticket_is_done() {
    let dir = tempdir();
    let engine = Engine::open(dir.path(), small()).unwrap();
    engine.track_uid("A", "view", Map::new()).unwrap().wait().unwrap();
    engine.track_uid("A", "view", Map::new()).unwrap().wait().unwrap();
    let lsn = engine.identify(Some("A"), "u1", props(&[("plan", 2)])).unwrap().wait().unwrap();
    let p = engine.profile_by_cid("u1").unwrap().unwrap();
    assert_eq!(p.event_count, 2, "the anonymous past merged into the customer");
    assert_eq!(p.attributes.get("plan"), Some(&Value::Int(2)));
    assert_eq!(engine.profile_by_uid("A").unwrap().unwrap().id, p.id);
    engine.wait_stored(lsn).unwrap();
    let stored = engine.stored_profile_by_cid("u1").unwrap().unwrap();
    assert_eq!(stored, idres_model::Profile { history: Vec::new(), ..p.clone() }, "the store agrees with the fold");
    // History comes back from the log.
    let events = engine.history(&p).unwrap();
    assert_eq!(events.iter().map(|(l, _)| *l).collect::<Vec<_>>(), vec![0, 1]);
    assert!(matches!(events[0].1.record, Record::Event { .. }));
    // Explain and as-of.
    let e = engine.explain_uid("A").unwrap().unwrap();
    assert_eq!(e.path.len(), 1);
    let before = engine.as_of(1).unwrap();
    assert!(before.profile_by_cid(&idres_model::Cid::parse("u1").unwrap()).is_none(), "u1 did not exist after LSN 1");
    engine.close().unwrap();
}

#[test]
fn edge_refuses_malformed_input_and_appends_nothing() {
    let dir = tempdir();
    let engine = Engine::open(dir.path(), small()).unwrap();
    assert!(matches!(engine.identify(Some(" A"), "u1", Map::new()), Err(EngineError::Invalid(_))));
    assert!(matches!(engine.identify(Some("A"), "", Map::new()), Err(EngineError::Invalid(_))));
    assert!(matches!(engine.track_uid("A", "", Map::new()), Err(EngineError::Invalid(_))));
    // A blocked value is a rule of the fold: accepted into the log, rejected by the fold.
    let lsn = engine.identify(Some("A"), "null", Map::new()).unwrap().wait().unwrap();
    assert_eq!(lsn, 0);
    assert_eq!(engine.stats().rejections, 1);
    engine.close().unwrap();
    assert!(matches!(engine.track_uid("A", "x", Map::new()), Err(EngineError::Closed)));
}

#[test]
fn eight_threads_each_write_lands_exactly_once_in_order() {
    const THREADS: i64 = 8;
    const WRITES: i64 = 10_000;
    let dir = tempdir();
    let engine = Engine::open(dir.path(), EngineConfig { snapshot_every_records: 0, ..small() }).unwrap();
    let workers: Vec<_> = (0..THREADS)
        .map(|t| {
            let engine = engine.clone();
            std::thread::spawn(move || {
                let tickets: Vec<_> = (0..WRITES)
                    .map(|i| engine.track_uid(&format!("device-{t}"), "tick", props(&[("t", t), ("i", i)])).unwrap())
                    .collect();
                tickets.into_iter().map(|tk| tk.wait().unwrap()).collect::<Vec<_>>()
            })
        })
        .collect();
    let mut lsns: Vec<u64> = workers.into_iter().flat_map(|w| w.join().unwrap()).collect();
    lsns.sort_unstable();
    assert_eq!(lsns, (0..(THREADS * WRITES) as u64).collect::<Vec<_>>(), "every write got its own LSN");
    engine.close().unwrap();
    // Read the log back: each (thread, i) exactly once, each thread's writes in order.
    let log = idres_log::Log::open(
        dir.path().join("log"),
        idres_log::LogOptions { codec_id: idres_model::CODEC_ID, ..Default::default() },
    )
    .unwrap();
    let mut next: BTreeMap<i64, i64> = BTreeMap::new();
    let mut count = 0;
    log.reader(0)
        .unwrap()
        .for_each_record(|_, bytes| {
            let e = decode_entry(bytes).unwrap();
            let Record::Event { props, .. } = e.record else { panic!("unexpected record") };
            let (Some(Value::Int(t)), Some(Value::Int(i))) = (props.get("t"), props.get("i")) else { panic!("props") };
            let expected = next.entry(*t).or_insert(0);
            assert_eq!(i, expected, "thread {t}'s writes out of order or repeated");
            *expected += 1;
            count += 1;
        })
        .unwrap();
    assert_eq!(count, THREADS * WRITES);
}

#[test]
fn reopen_gives_the_digest_of_a_full_replay() {
    let dir = tempdir();
    let digest = {
        let engine = Engine::open(dir.path(), small()).unwrap();
        let mut last = None;
        for i in 0..1_200 {
            let dev = format!("d{}", i % 37);
            let t = match i % 7 {
                0 => engine.identify(Some(&dev), &format!("c{}", i % 11), props(&[("k", i)])).unwrap(),
                1 => engine.reset(&dev).unwrap(),
                _ => engine.track_uid(&dev, "view", Map::new()).unwrap(),
            };
            last = Some(t);
        }
        last.unwrap().wait().unwrap();
        let d = engine.digest();
        engine.close().unwrap();
        d
    };
    // Snapshot + tail.
    let engine = Engine::open(dir.path(), small()).unwrap();
    assert!(engine.open_report().snapshot_lsn.is_some(), "a snapshot was used");
    assert!(!engine.open_report().store_rebuilt);
    assert_eq!(engine.digest(), digest);
    engine.close().unwrap();
    // From scratch: no snapshots, no store.
    std::fs::remove_dir_all(dir.path().join("snapshots")).unwrap();
    std::fs::remove_dir_all(dir.path().join("store")).unwrap();
    let engine = Engine::open(dir.path(), small()).unwrap();
    assert_eq!(engine.open_report().snapshot_lsn, None);
    assert!(engine.open_report().store_rebuilt);
    assert_eq!(engine.open_report().folded_records, 1_200);
    assert_eq!(engine.digest(), digest);
    let s = engine.stats();
    assert_eq!((s.folded_lsn, s.stored_lsn), (1_200, 1_200));
    engine.close().unwrap();
}

#[test]
fn a_snapshot_under_another_config_is_ignored() {
    let dir = tempdir();
    {
        let engine = Engine::open(dir.path(), small()).unwrap();
        for i in 0..20 {
            engine.identify(Some(&format!("d{i}")), "c1", Map::new()).unwrap();
        }
        engine.identify(Some("x"), "c2", Map::new()).unwrap().wait().unwrap();
        engine.close().unwrap();
    }
    let mut strict = small();
    strict.fold.max_devices_per_profile = 5;
    let engine = Engine::open(dir.path(), strict.clone()).unwrap();
    assert_eq!(engine.open_report().snapshot_lsn, None);
    assert!(engine.open_report().events.iter().any(|e| e.contains("ignored")), "{:?}", engine.open_report());
    let p = engine.profile_by_cid("c1").unwrap().unwrap();
    assert_eq!(p.uids.len(), 5, "the new limit applies to history");
    assert_eq!(engine.stats().rejections, 15);
    // The store was written under the old config: it is rebuilt, not patched.
    assert!(engine.open_report().store_rebuilt, "{:?}", engine.open_report());
    assert_eq!(engine.stored_profile_by_cid("c1").unwrap().unwrap().uids.len(), 5);
    assert_eq!(engine.stored_profile_by_uid("d19", 0).unwrap(), None, "d19 was rejected under the new limit");
    engine.close().unwrap();
    // Reopened under the same config: nothing is rebuilt.
    let engine = Engine::open(dir.path(), strict).unwrap();
    assert!(!engine.open_report().store_rebuilt, "{:?}", engine.open_report());
    engine.close().unwrap();
}

#[test]
fn the_store_lag_stays_bounded_and_close_leaves_it_at_the_end() {
    let dir = tempdir();
    let config = EngineConfig { store_lag_max_records: 200, batch_records_max: 64, ..small() };
    let engine = Engine::open(dir.path(), config).unwrap();
    let mut max_lag = 0;
    for i in 0..3_000 {
        let t = engine.track_uid(&format!("d{}", i % 500), "view", Map::new()).unwrap();
        if i % 100 == 0 {
            t.wait().unwrap();
            max_lag = max_lag.max(engine.stats().store_lag);
        }
    }
    assert!(max_lag <= 200 + 64, "store lag {max_lag}");
    engine.close().unwrap();
    let s = engine.stats();
    assert_eq!(s.stored_lsn, s.folded_lsn, "close leaves the store at the log's end");
    assert_eq!(s.folded_lsn, 3_000);
}

#[test]
fn subscribers_see_changes() {
    let dir = tempdir();
    let engine = Engine::open(dir.path(), small()).unwrap();
    let rx = engine.subscribe();
    engine.identify(Some("A"), "u1", Map::new()).unwrap().wait().unwrap();
    let changes: Vec<_> = rx.try_iter().collect();
    assert!(
        changes.iter().any(
            |c| matches!(c, idres::ChangeEvent::Profile(p) if matches!(p.kind, idres::ChangeKind::Retired { .. }))
        ),
        "{changes:?}"
    );
    engine.close().unwrap();
}

fn event(uid: &str, name: &str) -> Record {
    Record::Event {
        target: idres_model::Target::Uid(idres_model::Uid::parse(uid).unwrap()),
        name: name.into(),
        props: Map::new(),
        session_id: None,
        ts: None,
        system: false,
        message_id: None,
    }
}

#[test]
fn a_batch_gets_consecutive_lsns_in_order_and_one_ticket() {
    let dir = tempdir();
    let engine = Engine::open(dir.path(), small()).unwrap();
    engine.track_uid("A", "first", Map::new()).unwrap().wait().unwrap();
    let records: Vec<Record> = (0..10).map(|i| event("A", &format!("e{i}"))).collect();
    let lsns = engine.write_batch(records).unwrap().wait_range().unwrap();
    assert_eq!(lsns, 1..11);
    assert!(engine.write_batch(Vec::new()).unwrap().wait_range().unwrap().is_empty(), "an empty batch is empty");
    let p = engine.profile_by_uid("A").unwrap().unwrap();
    let names: Vec<String> = engine
        .history(&p)
        .unwrap()
        .into_iter()
        .map(|(_, e)| match e.record {
            Record::Event { name, .. } => name,
            other => panic!("not an event: {other:?}"),
        })
        .collect();
    let expected: Vec<String> = std::iter::once("first".to_string()).chain((0..10).map(|i| format!("e{i}"))).collect();
    assert_eq!(names, expected);
    engine.close().unwrap();
}

#[test]
fn a_batch_with_one_bad_record_queues_nothing_and_names_it() {
    let dir = tempdir();
    let engine = Engine::open(dir.path(), small()).unwrap();
    let records = vec![event("A", "ok"), event("A", ""), event("A", "ok")];
    match engine.write_batch(records) {
        Err(EngineError::Invalid(msg)) => assert!(msg.contains("record 1 of the batch"), "{msg}"),
        other => panic!("expected Invalid, got {other:?}"),
    }
    assert_eq!(engine.stats().folded_lsn, 0, "nothing was appended");
    engine.close().unwrap();
}

#[test]
fn a_batch_larger_than_a_frame_spans_frames_and_survives_reopen() {
    let dir = tempdir();
    // Frames of at most 16 records: a batch of 100 takes seven frames.
    let config = EngineConfig { batch_records_max: 16, ..small() };
    let engine = Engine::open(dir.path(), config.clone()).unwrap();
    let records: Vec<Record> = (0..100).map(|i| event(&format!("D{}", i % 7), "view")).collect();
    assert_eq!(engine.write_batch(records).unwrap().wait_range().unwrap(), 0..100);
    let digest = engine.digest();
    engine.close().unwrap();
    let frames = idres_log::verify(dir.path().join("log"), None).unwrap();
    assert_eq!(frames.end_lsn, 100);
    assert!(frames.frames >= 7, "{} frames", frames.frames);
    let engine = Engine::open(dir.path(), config).unwrap();
    assert_eq!(engine.digest(), digest);
    engine.close().unwrap();
}

#[test]
fn a_record_too_large_for_a_frame_is_refused_at_the_edge_without_poisoning() {
    let dir = tempdir();
    // 64 KiB segments: a frame holds less than 64 KiB.
    let config = EngineConfig { segment_bytes: 64 << 10, ..small() };
    let engine = Engine::open(dir.path(), config).unwrap();
    let big: Map = (0..4).map(|i| (format!("k{i}"), Value::String("x".repeat(60_000)))).collect();
    assert!(matches!(engine.track_uid("A", "big", big), Err(EngineError::Invalid(_))));
    // Many large records in one group commit are cut into frames that fit.
    let mid: Map = std::iter::once(("k".to_string(), Value::String("y".repeat(20_000)))).collect();
    let tickets: Vec<_> = (0..20).map(|_| engine.track_uid("A", "mid", mid.clone()).unwrap()).collect();
    for t in tickets {
        t.wait().unwrap();
    }
    engine.track_uid("A", "after", Map::new()).unwrap().wait().unwrap();
    assert_eq!(engine.profile_by_uid("A").unwrap().unwrap().event_count, 21);
    engine.close().unwrap();
}

#[test]
fn the_store_is_written_in_bounded_chunks_and_agrees_with_the_fold() {
    let dir = tempdir();
    let config = EngineConfig { store_flush_interval: std::time::Duration::from_millis(300), ..small() };
    let n = 10_000; // more than two store chunks of changed profiles in one flush
    let engine = Engine::open(dir.path(), config.clone()).unwrap();
    let records: Vec<Record> = (0..n).map(|i| event(&format!("dev-{i}"), "view")).collect();
    let lsns = engine.write_batch(records).unwrap().wait_range().unwrap();
    engine.wait_stored(lsns.end - 1).unwrap();
    let s = engine.stats();
    assert!(s.store_profiles_written >= n as u64, "{s:?}");
    for i in [0, 4095, 4096, 8191, 8192, n - 1] {
        let uid = format!("dev-{i}");
        let stored = engine.stored_profile_by_uid(&uid, 0).unwrap().unwrap();
        let folded = engine.profile_by_uid(&uid).unwrap().unwrap();
        assert_eq!(stored, idres_model::Profile { history: Vec::new(), ..folded });
    }
    engine.close().unwrap();
    // A rebuild from scratch goes through the same chunks.
    std::fs::remove_dir_all(dir.path().join("store")).unwrap();
    std::fs::remove_dir_all(dir.path().join("snapshots")).unwrap();
    let engine = Engine::open(dir.path(), config).unwrap();
    assert!(engine.open_report().store_rebuilt);
    for i in [0, 4095, 4096, 8191, 8192, n - 1] {
        let uid = format!("dev-{i}");
        assert_eq!(engine.stored_profile_by_uid(&uid, 0).unwrap().unwrap().event_count, 1);
    }
    assert_eq!(engine.stats().stored_lsn, n as u64);
    engine.close().unwrap();
}

#[test]
fn without_snapshots_an_up_to_date_store_is_not_rewritten() {
    // The store has seen every record; the snapshots are gone. Open folds the whole log, but
    // writes to the store only what records it had not seen changed: nothing.
    let dir = tempdir();
    let engine = Engine::open(dir.path(), small()).unwrap();
    let records: Vec<Record> = (0..2_000).map(|i| event(&format!("dev-{}", i % 300), "view")).collect();
    engine.write_batch(records).unwrap().wait().unwrap();
    engine.identify(Some("dev-7"), "carol@example.com", Map::new()).unwrap().wait().unwrap();
    engine.close().unwrap();
    std::fs::remove_dir_all(dir.path().join("snapshots")).unwrap();
    let engine = Engine::open(dir.path(), small()).unwrap();
    let report = engine.open_report();
    assert_eq!((report.snapshot_lsn, report.folded_records), (None, 2_001));
    assert!(!report.store_rebuilt);
    assert_eq!(report.store_profiles_written, 0);
    let stored = engine.stored_profile_by_cid("carol@example.com").unwrap().unwrap();
    let folded = engine.profile_by_cid("carol@example.com").unwrap().unwrap();
    assert_eq!(stored, idres_model::Profile { history: Vec::new(), ..folded });
    // Writes go on reaching the store, looked up through the index open built.
    let lsn = engine.track_uid("dev-7", "buy", Map::new()).unwrap().wait().unwrap();
    engine.wait_stored(lsn).unwrap();
    let stored = engine.stored_profile_by_cid("carol@example.com").unwrap().unwrap();
    assert_eq!(stored.event_count, folded.event_count + 1);
    engine.close().unwrap();
}

#[test]
fn an_interrupted_store_rebuild_still_guards_acknowledged_records_and_is_redone() {
    let dir = tempdir();
    let engine = Engine::open(dir.path(), small()).unwrap();
    for i in 0..5 {
        engine.track_uid(&format!("d{i}"), "view", Map::new()).unwrap().wait().unwrap();
    }
    engine.close().unwrap();
    // What a crash mid-rebuild leaves: snapshots gone (rebuild deletes them last, but a user may
    // have), the store cleared, and the marker with the acknowledged count.
    std::fs::remove_dir_all(dir.path().join("snapshots")).unwrap();
    std::fs::remove_dir_all(dir.path().join("store")).unwrap();
    std::fs::write(dir.path().join("store-rebuild.lsn"), "5\n").unwrap();
    // With the log intact, the rebuild is done again and the marker goes.
    let engine = Engine::open(dir.path(), small()).unwrap();
    assert!(engine.open_report().events.iter().any(|e| e.contains("interrupted store rebuild")));
    assert!(engine.open_report().store_rebuilt);
    assert!(!dir.path().join("store-rebuild.lsn").exists());
    assert_eq!(engine.stored_profile_by_uid("d4", 0).unwrap().unwrap().event_count, 1);
    engine.close().unwrap();
    // With the marker back and the last record lost, open refuses: the marker is the guard.
    std::fs::remove_dir_all(dir.path().join("snapshots")).unwrap();
    std::fs::remove_dir_all(dir.path().join("store")).unwrap();
    std::fs::write(dir.path().join("store-rebuild.lsn"), "6\n").unwrap();
    match Engine::open(dir.path(), small()) {
        Err(EngineError::LostRecords { seen: 6, log_end: 5, .. }) => {}
        other => panic!("expected LostRecords, got {:?}", other.map(|_| ())),
    }
}

#[test]
fn rebuild_keeps_the_old_snapshots_until_the_store_is_in() {
    let dir = tempdir();
    let engine = Engine::open(dir.path(), small()).unwrap();
    for i in 0..600 {
        engine.track_uid(&format!("d{}", i % 50), "view", Map::new()).unwrap();
    }
    engine.track_uid("last", "view", Map::new()).unwrap().wait().unwrap();
    let digest = engine.digest();
    engine.close().unwrap();
    let engine = Engine::open(dir.path(), EngineConfig { rebuild: true, ..small() }).unwrap();
    assert!(engine.open_report().store_rebuilt);
    assert_eq!(engine.open_report().snapshot_lsn, None, "the whole log was folded");
    assert_eq!(engine.digest(), digest);
    assert_eq!(std::fs::read_dir(dir.path().join("snapshots")).unwrap().count(), 0, "old snapshots removed");
    engine.close().unwrap();
    let engine = Engine::open(dir.path(), small()).unwrap();
    assert_eq!(engine.open_report().snapshot_lsn, Some(601), "close wrote the new one");
    engine.close().unwrap();
}
