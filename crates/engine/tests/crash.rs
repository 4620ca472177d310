//! Crash test with real processes: a child engine ingests a workload with fsync per batch and
//! prints every acknowledged LSN; the parent SIGKILLs it at a random moment, reopens, and checks
//! that every acknowledged record is there, that the reopened state's digest equals a replay of
//! the log alone from scratch, and that the store agrees with the fold.
//!
//! It runs on each on-disk store backend (fjall, sled): the child is told which by
//! `IDRES_CRASH_STORE`. `IDRES_CRASH_ITERATIONS` sets the number of kills per backend (default 30
//! on fjall, 20 on sled).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::print_stdout)]

use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};

use idres::{Engine, EngineConfig, StoreBackend};
use idres_model::{Map, Value};

const CHILD_ENV: &str = "IDRES_ENGINE_CRASH_CHILD";
const STORE_ENV: &str = "IDRES_CRASH_STORE";

fn config_with(store: &str) -> EngineConfig {
    EngineConfig {
        store: StoreBackend::by_name(store).expect("a store backend"),
        segment_bytes: 256 << 10,
        snapshot_every_records: 700,
        batch_records_max: 64,
        ..EngineConfig::default()
    }
}

/// The child: ingests forever, printing the LSN of each acknowledged record's batch end.
#[test]
#[ignore = "the child process of sigkill_loses_no_acknowledged_write"]
fn crash_child_engine() {
    let Ok(dir) = std::env::var(CHILD_ENV) else { return };
    let store = std::env::var(STORE_ENV).unwrap_or_else(|_| "fjall".into());
    let engine = Engine::open(&dir, config_with(&store)).unwrap();
    let mut out = std::io::stdout().lock();
    let mut i: u64 = engine.stats().folded_lsn;
    loop {
        let mut last = None;
        for _ in 0..40 {
            let dev = format!("d{}", i % 61);
            let t = match i % 9 {
                0 => engine.identify(Some(&dev), &format!("c{}", i % 13), Map::new()).unwrap(),
                1 => engine.reset(&dev).unwrap(),
                2 => engine.merge(&format!("c{}", i % 13), &format!("c{}", (i + 1) % 13)).unwrap(),
                3 => engine.unmerge(&format!("c{}", i % 13)).unwrap(),
                _ => {
                    let mut props = Map::new();
                    props.insert("i".into(), Value::Int(i as i64));
                    engine.track_uid(&dev, "view", props).unwrap()
                }
            };
            last = Some(t);
            i += 1;
        }
        let lsn = last.unwrap().wait().unwrap();
        writeln!(out, "ACK {lsn}").unwrap();
        out.flush().unwrap();
    }
}

#[test]
fn sigkill_loses_no_acknowledged_write_fjall() {
    sigkill_loses_no_acknowledged_write("fjall", 30);
}

#[test]
fn sigkill_loses_no_acknowledged_write_sled() {
    sigkill_loses_no_acknowledged_write("sled", 20);
}

fn sigkill_loses_no_acknowledged_write(store: &str, default_iterations: u64) {
    let config = || config_with(store);
    let iterations: u64 =
        std::env::var("IDRES_CRASH_ITERATIONS").ok().and_then(|v| v.parse().ok()).unwrap_or(default_iterations);
    // A real disk: this test is about what survives a kill.
    let dir = tempfile::tempdir().unwrap();
    let exe = std::env::current_exe().unwrap();
    let mut acked: Option<u64> = None;
    let mut seed: u64 = 0xC0FFEE;
    for iteration in 0..iterations {
        seed = seed.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
        let wait_acks = 1 + (seed >> 33) % 12;
        let mut child = Command::new(&exe)
            .args(["--exact", "crash_child_engine", "--include-ignored", "--nocapture", "--test-threads=1"])
            .env(CHILD_ENV, dir.path())
            .env(STORE_ENV, store)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let mut seen = 0;
        while seen < wait_acks {
            let Some(Ok(line)) = lines.next() else { break };
            if let Some(lsn) = line.split("ACK ").nth(1).and_then(|l| l.trim().parse::<u64>().ok()) {
                acked = Some(acked.map_or(lsn, |a| a.max(lsn)));
                seen += 1;
            }
        }
        child.kill().unwrap(); // SIGKILL
        child.wait().unwrap();

        let engine = Engine::open(dir.path(), config()).unwrap();
        let end = engine.stats().folded_lsn;
        if let Some(a) = acked {
            assert!(end > a, "iteration {iteration}: LSN {a} was acknowledged but the log ends at {end}");
        }
        // The store agrees with the fold.
        if end > 0 {
            engine.wait_stored(end - 1).unwrap();
        }
        for c in 0..13 {
            let cid = format!("c{c}");
            let fold = engine.profile_by_cid(&cid).unwrap().map(|p| idres_model::Profile { history: Vec::new(), ..p });
            assert_eq!(
                engine.stored_profile_by_cid(&cid).unwrap(),
                fold,
                "{store}, iteration {iteration}: store differs for {cid}"
            );
        }
        let digest = engine.digest();
        engine.close().unwrap();
        // The log alone, replayed from scratch, gives the same state.
        let scratch = tempfile::tempdir().unwrap();
        std::fs::create_dir(scratch.path().join("log")).unwrap();
        for f in std::fs::read_dir(dir.path().join("log")).unwrap() {
            let f = f.unwrap();
            if f.file_name().to_string_lossy().ends_with(".seg") {
                std::fs::copy(f.path(), scratch.path().join("log").join(f.file_name())).unwrap();
            }
        }
        let replay = Engine::open(scratch.path(), EngineConfig { store: StoreBackend::Memory, ..config() }).unwrap();
        assert_eq!(replay.open_report().folded_records, end);
        assert_eq!(replay.digest(), digest, "iteration {iteration}: reopened state differs from a full replay");
        replay.close().unwrap();
    }
    assert!(acked.is_some(), "the child acknowledged something");
}
