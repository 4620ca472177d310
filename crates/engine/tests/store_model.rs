//! The persisted read model against the fold: after any mix of identifies, events, resets,
//! merges, unmerges and unlinks, written to the store over many flushes (and again by a rebuild),
//! every read of the store — by profile id (current and retired), by cid, by device node —
//! gives the fold's profile without its history.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::time::Duration;

use idres::{Engine, EngineConfig, FjallOptions, StoreBackend};
use idres_model::{Cid, Map, Profile, Target, Uid, Value};
use proptest::prelude::*;
use proptest::strategy::ValueTree;

const UIDS: u8 = 6;
const CIDS: u8 = 4;

#[derive(Debug, Clone)]
enum Op {
    Identify(Option<u8>, u8),
    Event(u8),
    Reset(u8),
    Attributes(u8, i64),
    Merge(u8, u8),
    Unmerge(u8),
    Unlink(u8, u8),
    /// Waits until the store has everything so far: the next changes go in another flush.
    Sync,
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => (proptest::option::weighted(0.8, 0..UIDS), 0..CIDS).prop_map(|(u, c)| Op::Identify(u, c)),
        4 => (0..UIDS).prop_map(Op::Event),
        1 => (0..UIDS).prop_map(Op::Reset),
        1 => (0..CIDS, any::<i64>()).prop_map(|(c, v)| Op::Attributes(c, v)),
        2 => (0..CIDS, 0..CIDS).prop_map(|(a, b)| Op::Merge(a, b)),
        1 => (0..CIDS).prop_map(Op::Unmerge),
        1 => (0..UIDS, 0..CIDS).prop_map(|(u, c)| Op::Unlink(u, c)),
        2 => Just(Op::Sync),
    ]
}

fn uid(u: u8) -> String {
    format!("u{u}")
}

fn cid(c: u8) -> String {
    format!("c{c}")
}

fn tempdir() -> tempfile::TempDir {
    match tempfile::Builder::new().prefix("idres-store-model").tempdir_in("/dev/shm") {
        Ok(d) => d,
        Err(_) => tempfile::tempdir().unwrap(),
    }
}

fn config(store: StoreBackend) -> EngineConfig {
    EngineConfig {
        segment_bytes: 1 << 20,
        snapshot_every_records: 0,
        store_flush_interval: Duration::from_millis(1),
        store,
        ..EngineConfig::default()
    }
}

fn run(engine: &Engine, ops: &[Op]) {
    let mut last = None;
    for op in ops {
        let ticket = match op {
            Op::Identify(u, c) => engine.identify(u.map(uid).as_deref(), &cid(*c), Map::new()),
            Op::Event(u) => engine.track_uid(&uid(*u), "view", Map::new()),
            Op::Reset(u) => engine.reset(&uid(*u)),
            Op::Attributes(c, v) => {
                let set: Map = [("plan".to_string(), Value::Int(*v))].into_iter().collect();
                engine.attributes(Target::Cid(Cid::parse(&cid(*c)).unwrap()), set, Map::new(), Vec::new(), None)
            }
            Op::Merge(a, b) => engine.merge(&cid(*a), &cid(*b)),
            Op::Unmerge(c) => engine.unmerge(&cid(*c)),
            Op::Unlink(u, c) => engine.unlink(&uid(*u), &cid(*c)),
            Op::Sync => {
                if let Some(lsn) = last {
                    engine.wait_stored(lsn).unwrap();
                }
                continue;
            }
        };
        last = Some(ticket.unwrap().wait().unwrap());
    }
    if let Some(lsn) = last {
        engine.wait_stored(lsn).unwrap();
    }
}

fn without_history(p: Profile) -> Profile {
    Profile { history: Vec::new(), ..p }
}

/// Every read of the store equals the fold's; returns how many reads were compared.
fn check(engine: &Engine) -> usize {
    let mut compared = 0;
    for id in engine.read(|r| r.profile_ids()) {
        let folded = engine.profile_by_id(id).map(without_history);
        assert_eq!(engine.stored_profile_by_id(id).unwrap(), folded, "profile id {id}");
        compared += 1;
    }
    for c in 0..CIDS {
        let folded = engine.profile_by_cid(&cid(c)).unwrap().map(without_history);
        assert_eq!(engine.stored_profile_by_cid(&cid(c)).unwrap(), folded, "cid {}", cid(c));
        compared += 1;
    }
    for u in 0..UIDS {
        let parsed = Uid::parse(&uid(u)).unwrap();
        for epoch in 0..8 {
            let folded = engine.read(|r| r.profile_by_uid_epoch(&parsed, epoch)).map(without_history);
            assert_eq!(engine.stored_profile_by_uid(&uid(u), epoch).unwrap(), folded, "uid {}#{epoch}", uid(u));
            compared += 1;
        }
    }
    compared
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 96, ..ProptestConfig::default() })]

    #[test]
    fn the_store_answers_every_read_as_the_fold_does(ops in proptest::collection::vec(op(), 1..60)) {
        let dir = tempdir();
        let engine = Engine::open(dir.path(), config(StoreBackend::Memory)).unwrap();
        run(&engine, &ops);
        check(&engine);
        engine.close().unwrap();
        // The memory store keeps nothing: this open rebuilds it from the log, or, when the log
        // is empty (no op wrote a record), only creates it.
        let engine = Engine::open(dir.path(), config(StoreBackend::Memory)).unwrap();
        prop_assert_eq!(engine.open_report().store_rebuilt, engine.stats().folded_lsn > 0);
        check(&engine);
        engine.close().unwrap();
    }
}

/// One long mix on fjall (the default store): many flushes, then a catch-up after a reopen, then
/// a rebuild.
#[test]
fn fjall_answers_every_read_as_the_fold_does_after_flushes_catch_up_and_rebuild() {
    let mut rng = proptest::test_runner::TestRunner::deterministic();
    let ops = proptest::collection::vec(op(), 400).new_tree(&mut rng).unwrap().current();
    let dir = tempdir();
    let engine = Engine::open(dir.path(), config(StoreBackend::Fjall(FjallOptions::default()))).unwrap();
    run(&engine, &ops[..200]);
    assert!(check(&engine) > 0);
    engine.close().unwrap();
    let engine = Engine::open(dir.path(), config(StoreBackend::Fjall(FjallOptions::default()))).unwrap();
    run(&engine, &ops[200..]);
    check(&engine);
    engine.close().unwrap();
    let engine = Engine::open(
        dir.path(),
        EngineConfig { rebuild: true, ..config(StoreBackend::Fjall(FjallOptions::default())) },
    )
    .unwrap();
    assert!(engine.open_report().store_rebuilt);
    check(&engine);
    engine.close().unwrap();
    // The rebuilt store is durable: the next open finds it up to date and writes nothing.
    let engine = Engine::open(dir.path(), config(StoreBackend::Fjall(FjallOptions::default()))).unwrap();
    assert!(!engine.open_report().store_rebuilt, "{:?}", engine.open_report());
    assert_eq!(engine.open_report().store_profiles_written, 0);
    check(&engine);
    engine.close().unwrap();
}
