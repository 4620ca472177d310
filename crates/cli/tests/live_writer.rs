//! The `idres` read commands beside a live writer: an `Engine` opened in this process holds the
//! data directory (the log's lock and the store's) and goes on writing, while `idres profile`,
//! `export`, `stats` and the other read commands run as separate processes. Each succeeds,
//! reading read-only and saying up to which LSN; a write command is refused as "in use" (exit 4),
//! never as damage.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::print_stderr)]

mod common;

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;

use common::{idres, json_lines, ok_run};
use idres::{Engine, EngineConfig};
use idres_model::{Cid, Map, Record, Target, Uid, Value};

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures").join(name)
}

/// `n` records of the writer: devices identified as `live-N` customers, and their events.
fn batch(from: u64, n: u64) -> Vec<Record> {
    (from..from + n)
        .map(|i| {
            let uid = Uid::parse(&format!("ld{}", i % 50)).unwrap();
            if i % 5 == 0 {
                let mut attrs = Map::new();
                attrs.insert("i".into(), Value::Int(i as i64));
                Record::Identify {
                    uid: Some(uid),
                    cid: Cid::parse(&format!("live-{}", i % 17)).unwrap(),
                    attrs,
                    ts: None,
                    message_id: None,
                }
            } else {
                Record::Event {
                    target: Target::Uid(uid),
                    name: "tick".into(),
                    props: Map::new(),
                    session_id: None,
                    ts: None,
                    system: false,
                    message_id: None,
                }
            }
        })
        .collect()
}

/// The `N` of `reading it read-only (N records, …): LSN 0..=N-1` on `stderr`.
fn read_up_to(stderr: &str) -> u64 {
    let line = stderr.lines().find(|l| l.contains("reading it read-only")).unwrap_or_else(|| panic!("{stderr}"));
    assert!(line.contains("is open by another process"), "{line}");
    let n: u64 =
        line.split("read-only (").nth(1).and_then(|t| t.split(' ').next()).and_then(|n| n.parse().ok()).unwrap();
    assert!(line.contains(&format!("records, no store): LSN 0..={},", n - 1)), "the range is inclusive: {line}");
    n
}

#[test]
fn read_commands_read_beside_a_live_writer_and_a_write_is_in_use_not_damage() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("d");
    let r = ok_run(&data, &["ingest", fixture("small.ndjson").to_str().unwrap()]);
    assert!(r.stdout.contains("14 records appended"), "{}", r.stdout);
    let config = EngineConfig { snapshot_every_records: 500, segment_bytes: 256 << 10, ..EngineConfig::default() };
    let engine = Engine::open(&data, config.clone()).unwrap();
    let first = engine.write_batch(batch(0, 300)).unwrap().wait_range().unwrap();
    assert_eq!(first, 14..314);

    // The writer goes on while the commands run.
    let acked = Arc::new(AtomicU64::new(first.end));
    let stop = Arc::new(AtomicBool::new(false));
    let writer = {
        let (engine, acked, stop) = (engine.clone(), Arc::clone(&acked), Arc::clone(&stop));
        std::thread::spawn(move || {
            // Bounded, so that the log the commands fold stays small.
            let mut i = 300;
            while !stop.load(Ordering::Acquire) && i < 40_000 {
                let end = engine.write_batch(batch(i, 200)).unwrap().wait_range().unwrap().end;
                acked.store(end, Ordering::Release);
                i += 200;
            }
        })
    };
    let mut last = 0;
    for args in [
        &["profile", "--cid", "u1"][..],
        &["profile", "--cid", "live-3", "--json"],
        &["export"],
        &["stats"],
        &["history", "--cid", "live-4"],
        &["explain", "--uid", "ld7"],
        &["rejects"],
        &["replay"],
        &["profile", "--cid", "live-5", "--as-of", "200"],
    ] {
        let before = acked.load(Ordering::Acquire);
        let r = idres(&data, args);
        assert_eq!(r.code, 0, "idres {args:?} beside a live writer: {}", r.stderr);
        assert!(!r.stderr.to_lowercase().contains("damage"), "{}", r.stderr);
        let lsn = read_up_to(&r.stderr);
        assert!(lsn >= before, "idres {args:?} read up to {lsn}, but {before} were acknowledged before it ran");
        assert!(lsn >= last, "idres {args:?} read up to {lsn}, an earlier command up to {last}");
        last = lsn;
        if args[0] == "stats" {
            assert!(r.stdout.contains(&format!("records        {lsn} (LSN 0..={})", lsn - 1)), "{}", r.stdout);
            assert!(r.stdout.contains("not read (opened read-only)"), "{}", r.stdout);
        }
        if args[0] == "export" {
            assert!(json_lines(&r.stdout).len() > 17, "{}", r.stdout);
        }
    }
    // verify: its own read-only audit; the store in use is noted, not a problem.
    let r = ok_run(&data, &["verify"]);
    assert!(r.stdout.contains("verify: ok"), "{}", r.stdout);
    assert!(r.stdout.contains("store: not checked"), "{}", r.stdout);
    // It folds what it checked, not what the writer appended meanwhile.
    let last: u64 =
        r.stdout.split("frames, LSN 0..=").nth(1).and_then(|t| t.split_whitespace().next()).unwrap().parse().unwrap();
    assert!(r.stdout.contains(&format!("from scratch: {} records", last + 1)), "{}", r.stdout);
    // A write needs the lock: refused as in use, exit 4, nothing appended; the message names the
    // process that holds it (this one).
    for args in [vec!["ingest", fixture("small.ndjson").to_str().unwrap()], vec!["rebuild"]] {
        let r = idres(&data, &args);
        assert_eq!(r.code, 4, "{args:?}: {}", r.stderr);
        let holder = format!("process {} holds its log's lock", std::process::id());
        assert!(r.stderr.contains(&holder) && r.stderr.contains("nothing was changed"), "{args:?}: {}", r.stderr);
        assert!(!r.stderr.to_lowercase().contains("damage"), "{}", r.stderr);
    }
    stop.store(true, Ordering::Release);
    writer.join().unwrap();

    // Held but quiet: what the commands read is what the writer has.
    let end = engine.stats().folded_lsn;
    let held = idres(&data, &["profile", "--cid", "live-3", "--json"]);
    assert_eq!(held.code, 0, "{}", held.stderr);
    assert_eq!(read_up_to(&held.stderr), end);
    let p = engine.profile_by_cid("live-3").unwrap().unwrap();
    let shown = &json_lines(&held.stdout)[0];
    assert_eq!(shown["id"], p.id.to_string());
    assert_eq!(shown["event_count"], p.event_count);
    let stats = idres(&data, &["stats"]);
    assert!(stats.stdout.contains(&format!("records        {end} (LSN 0..={})", end - 1)), "{}", stats.stdout);
    let export_held = idres(&data, &["export"]).stdout;
    engine.close().unwrap();
    drop(engine);
    // Once the writer is gone the commands open the directory themselves, and show the same.
    let r = ok_run(&data, &["profile", "--cid", "live-3", "--json"]);
    assert!(!r.stderr.contains("read-only"), "{}", r.stderr);
    assert_eq!(r.stdout, held.stdout);
    assert_eq!(ok_run(&data, &["export"]).stdout, export_held);
    assert!(ok_run(&data, &["stats"]).stdout.contains(&format!("holds LSN 0..={}", end - 1)));
}
