//! Crash test of a rebuild with real processes: a child opens a data directory with
//! `rebuild: true` (the store cleared and loaded anew from the fold); the parent SIGKILLs it at
//! a moment that moves across the rebuild, then opens the directory normally. Every such open
//! must succeed and leave a store that answers as the fold does, whether the kill came before the
//! store was cleared, while it was loaded, or after. Runs on each on-disk backend.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::print_stdout)]

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use idres::{Engine, EngineConfig, StoreBackend};
use idres_model::{Map, Profile, Record, Target, Uid};

const CHILD_ENV: &str = "IDRES_REBUILD_CRASH_CHILD";
const STORE_ENV: &str = "IDRES_REBUILD_CRASH_STORE";
const UIDS: u64 = 20_000;
const CIDS: u64 = 4_000;

fn config(store: &str) -> EngineConfig {
    EngineConfig { store: StoreBackend::by_name(store).expect("a store backend"), ..EngineConfig::default() }
}

/// The child: one rebuilding open, then a clean close.
#[test]
#[ignore = "the child process of a_rebuild_killed_at_any_moment_leaves_a_store_that_agrees_with_the_fold"]
fn crash_child_rebuild() {
    let Ok(dir) = std::env::var(CHILD_ENV) else { return };
    let store = std::env::var(STORE_ENV).unwrap_or_else(|_| "fjall".into());
    let engine = Engine::open(&dir, EngineConfig { rebuild: true, ..config(&store) }).unwrap();
    engine.close().unwrap();
    println!("REBUILT");
}

/// Devices with events, a fifth of them identified as one of the customers.
fn workload() -> Vec<Record> {
    let mut records = Vec::new();
    for u in 0..UIDS {
        let uid = Uid::parse(&format!("d{u}")).unwrap();
        records.push(Record::Event {
            target: Target::Uid(uid.clone()),
            name: "view".into(),
            props: Map::new(),
            session_id: None,
            ts: None,
            system: false,
            message_id: None,
        });
        if u % 5 == 0 {
            let cid = idres_model::Cid::parse(&format!("c{}", u % CIDS)).unwrap();
            records.push(Record::Identify { uid: Some(uid), cid, attrs: Map::new(), ts: None, message_id: None });
        }
    }
    records
}

fn without_history(p: Profile) -> Profile {
    Profile { history: Vec::new(), ..p }
}

/// Opens `dir` normally; the store must be up to date and answer as the fold does.
fn check(dir: &std::path::Path, store: &str, what: &str) {
    let engine = Engine::open(dir, config(store)).unwrap_or_else(|e| panic!("{store}, {what}: open failed: {e}"));
    let end = engine.stats().folded_lsn;
    engine.wait_stored(end - 1).unwrap();
    for u in (0..UIDS).step_by(97) {
        let uid = format!("d{u}");
        let fold = engine.profile_by_uid(&uid).unwrap().map(without_history);
        assert_eq!(engine.stored_profile_by_uid(&uid, 0).unwrap(), fold, "{store}, {what}: {uid}");
    }
    for c in (0..CIDS).step_by(31) {
        let cid = format!("c{c}");
        let fold = engine.profile_by_cid(&cid).unwrap().map(without_history);
        assert_eq!(engine.stored_profile_by_cid(&cid).unwrap(), fold, "{store}, {what}: {cid}");
        if let Some(p) = &fold {
            assert_eq!(engine.stored_profile_by_id(p.id).unwrap().as_ref(), Some(p), "{store}, {what}: {cid} by id");
        }
    }
    engine.close().unwrap();
}

fn a_rebuild_killed_at_any_moment(store: &str, kills: u64) {
    // A real disk: this test is about what survives a kill.
    let dir = tempfile::tempdir().unwrap();
    let engine = Engine::open(dir.path(), config(store)).unwrap();
    engine.write_batch(workload()).unwrap().wait().unwrap();
    engine.close().unwrap();
    let exe = std::env::current_exe().unwrap();
    let child = || {
        Command::new(&exe)
            .args(["--exact", "crash_child_rebuild", "--include-ignored", "--nocapture", "--test-threads=1"])
            .env(CHILD_ENV, dir.path())
            .env(STORE_ENV, store)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap()
    };
    // How long a whole rebuild takes here: the kills are spread over it.
    let started = Instant::now();
    let out = child().wait_with_output().unwrap();
    let whole = started.elapsed();
    assert!(String::from_utf8_lossy(&out.stdout).contains("REBUILT"), "{store}: the child rebuilt");
    check(dir.path(), store, "after a whole rebuild");
    for k in 0..kills {
        let at = whole.mul_f64((k as f64 + 0.5) / kills as f64);
        let mut c = child();
        std::thread::sleep(at);
        c.kill().unwrap(); // SIGKILL (a no-op if the child is done)
        c.wait().unwrap();
        check(dir.path(), store, &format!("killed {:?} into a rebuild of {whole:?}", at));
    }
    assert!(whole > Duration::ZERO);
}

#[test]
fn a_rebuild_killed_at_any_moment_leaves_a_store_that_agrees_with_the_fold_fjall() {
    a_rebuild_killed_at_any_moment("fjall", 12);
}

#[test]
fn a_rebuild_killed_at_any_moment_leaves_a_store_that_agrees_with_the_fold_sled() {
    a_rebuild_killed_at_any_moment("sled", 8);
}
