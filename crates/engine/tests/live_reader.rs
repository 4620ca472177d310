//! Reads beside a live writer, with real processes: a child engine ingests a deterministic
//! workload (identifies, events, resets) with `write_batch` on the default store (fjall), with
//! small segments and a snapshot every few batches, so that segments roll over and snapshots are
//! written and pruned while it is read; meanwhile this process opens the data directory with
//! `Engine::open_read_only` again and again. Every open must succeed (never a lock error, never
//! damage), the LSNs read up to must never go back, and each state read must be the writer's at
//! that LSN: once the writer has finished, the directory is opened normally and every read-only
//! open's digest and sampled profiles are compared with `as_of` of the final engine.
//!
//! The writer is paced by the reader, so that every open overlaps its writes however fast either
//! side is: it writes [`BATCHES_PER_PERMIT`] batches per line it reads on stdin, and the reader
//! opens once the first batch of a permit is acknowledged, while the writer is at the others. No
//! timing is asserted.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::print_stdout)]

use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};
use std::sync::mpsc;

use idres::{Engine, EngineConfig};
use idres_model::{Cid, Map, Profile, Record, Target, Uid, Value};

const CHILD_ENV: &str = "IDRES_LIVE_WRITER_CHILD";
/// Batches the writer ingests.
const BATCHES: u64 = 72;
/// Records per `write_batch`.
const BATCH_RECORDS: u64 = 2000;
/// Batches the writer writes per permit.
const BATCHES_PER_PERMIT: u64 = 3;
const DEVICES: u64 = 20_000;
const CUSTOMERS: u64 = 6_000;

fn config() -> EngineConfig {
    EngineConfig {
        // Segments roll over every few batches, snapshots are written (and the older ones
        // pruned) every five: both happen while the reader lists and reads them.
        segment_bytes: 1 << 20,
        snapshot_every_records: 10_000,
        snapshots_keep: 3,
        ..EngineConfig::default()
    }
}

fn uid(n: u64) -> Uid {
    Uid::parse(&format!("dev-{}", n % DEVICES)).unwrap()
}

fn cid(n: u64) -> Cid {
    Cid::parse(&format!("cust-{}", n % CUSTOMERS)).unwrap()
}

/// The record at position `i` of the workload.
fn record(i: u64) -> Record {
    let mut props = Map::new();
    props.insert("i".into(), Value::Int(i as i64));
    match i % 20 {
        0 | 7 => Record::Identify {
            uid: Some(uid(i.wrapping_mul(7_919))),
            cid: cid(i.wrapping_mul(31)),
            attrs: props,
            ts: None,
            message_id: None,
        },
        13 => Record::Identify { uid: None, cid: cid(i / 3), attrs: props, ts: None, message_id: None },
        3 if i % 60 == 3 => Record::Reset { uid: uid(i.wrapping_mul(7_919) + 1), ts: None },
        _ => Record::Event {
            target: Target::Uid(uid(i)),
            name: "view".into(),
            props,
            session_id: None,
            ts: None,
            system: false,
            message_id: None,
        },
    }
}

/// The child: writes the workload, [`BATCHES_PER_PERMIT`] batches per line read on stdin,
/// printing `ACK end` per batch and `DONE end` once closed.
#[test]
#[ignore = "the child process of a_reader_beside_a_live_writer_reads_the_writers_state"]
fn live_writer_child() {
    let Ok(dir) = std::env::var(CHILD_ENV) else { return };
    let engine = Engine::open(&dir, config()).unwrap();
    let mut out = std::io::stdout().lock();
    writeln!(out, "READY").unwrap();
    out.flush().unwrap();
    let mut permits = std::io::stdin().lock().lines();
    let mut end = 0;
    for b in 0..BATCHES {
        if b % BATCHES_PER_PERMIT == 0 {
            permits.next().expect("a permit").unwrap();
        }
        let records = (b * BATCH_RECORDS..(b + 1) * BATCH_RECORDS).map(record).collect();
        end = engine.write_batch(records).unwrap().wait_range().unwrap().end;
        writeln!(out, "ACK {end}").unwrap();
        out.flush().unwrap();
    }
    engine.close().unwrap();
    writeln!(out, "DONE {end}").unwrap();
    out.flush().unwrap();
}

/// What one read-only open read.
struct Read {
    lsn: u64,
    digest: [u8; 32],
    snapshot_lsn: Option<u64>,
    by_cid: Vec<Option<Profile>>,
    by_uid: Vec<Option<Profile>>,
}

fn sample_cids() -> Vec<Cid> {
    (0..CUSTOMERS).step_by(97).map(cid).collect()
}

fn sample_uids() -> Vec<Uid> {
    (0..DEVICES).step_by(331).map(uid).collect()
}

fn read_only(dir: &std::path::Path, n: usize) -> Read {
    let ro = Engine::open_read_only(dir, config()).unwrap_or_else(|e| {
        panic!("read-only open {n} beside the writer (locked: {}, damage: {}): {e:?}", e.is_locked(), e.is_damage())
    });
    assert!(ro.is_read_only());
    let read = ro.read(|r| Read {
        lsn: r.next_lsn(),
        digest: r.digest(),
        snapshot_lsn: None,
        by_cid: sample_cids().iter().map(|c| r.profile_by_cid(c)).collect(),
        by_uid: sample_uids().iter().map(|u| r.profile_by_uid(u)).collect(),
    });
    assert_eq!(ro.stats().folded_lsn, read.lsn, "the LSN read up to is the fold's");
    let read = Read { snapshot_lsn: ro.open_report().snapshot_lsn, ..read };
    ro.close().unwrap();
    read
}

#[test]
fn a_reader_beside_a_live_writer_reads_the_writers_state() {
    // A real disk: snapshots and segments are renamed into place, the store fsyncs.
    let dir = tempfile::tempdir().unwrap();
    let exe = std::env::current_exe().unwrap();
    let mut child = Command::new(&exe)
        .args(["--exact", "live_writer_child", "--include-ignored", "--nocapture", "--test-threads=1"])
        .env(CHILD_ENV, dir.path())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut permits = child.stdin.take().unwrap();
    let (tx, lines) = mpsc::channel::<String>();
    let stdout = child.stdout.take().unwrap();
    let pump = std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    // Opened (its log and store exist) before the first read.
    loop {
        // The harness may print `test live_writer_child ... ` before it on the same line.
        let line = lines.recv().expect("the writer is ready");
        if line.ends_with("READY") {
            break;
        }
    }
    let mut acked = 0u64;
    let mut done = None;
    // Takes one line of the writer's: `ACK end` or `DONE end`.
    let take = |line: String, acked: &mut u64, done: &mut Option<u64>| {
        if let Some(end) = line.split("ACK ").nth(1).and_then(|l| l.parse::<u64>().ok()) {
            *acked = end;
        } else if let Some(end) = line.split("DONE ").nth(1).and_then(|l| l.parse::<u64>().ok()) {
            *done = Some(end);
        }
    };
    let mut reads: Vec<Read> = Vec::new();
    for permit in 0..BATCHES / BATCHES_PER_PERMIT {
        writeln!(permits, "go").unwrap();
        permits.flush().unwrap();
        // Once the first batch of this permit is in, the writer is at work on the next ones (and
        // maybe a snapshot): read beside it.
        while acked <= permit * BATCHES_PER_PERMIT * BATCH_RECORDS {
            take(lines.recv().expect("the writer goes on"), &mut acked, &mut done);
        }
        let before = acked;
        let read = read_only(dir.path(), reads.len());
        if let Some(last) = reads.last() {
            assert!(read.lsn >= last.lsn, "open {}: LSN {} after {}", reads.len(), read.lsn, last.lsn);
        }
        assert!(
            read.lsn >= before,
            "open {} read up to {} but {before} were acknowledged before",
            reads.len(),
            read.lsn
        );
        reads.push(read);
    }
    while done.is_none() {
        take(lines.recv().expect("the writer closes"), &mut acked, &mut done);
    }
    drop(permits);
    assert!(child.wait().unwrap().success(), "the writer failed");
    pump.join().unwrap();
    let end = done.unwrap();
    assert_eq!(end, BATCHES * BATCH_RECORDS);
    assert_eq!(reads.len() as u64, BATCHES / BATCHES_PER_PERMIT, "an open per permit, all while the writer ran");
    assert!(reads.iter().any(|r| r.snapshot_lsn.is_some()), "some open beside the writer restored a snapshot");
    // Once the writer is gone: its final snapshot and the whole log.
    let last = read_only(dir.path(), reads.len());
    assert_eq!((last.lsn, last.snapshot_lsn), (end, Some(end)));
    reads.push(last);

    // Each state read is the writer's at that LSN.
    let engine = Engine::open(dir.path(), config()).unwrap();
    assert_eq!(engine.stats().folded_lsn, end);
    let (cids, uids) = (sample_cids(), sample_uids());
    for (n, read) in reads.iter().enumerate() {
        let Some(at) = read.lsn.checked_sub(1) else { continue };
        let r = engine.as_of(at).unwrap();
        assert_eq!(r.next_lsn(), read.lsn);
        assert!(r.digest() == read.digest, "open {n}: the state read at LSN {} differs from the writer's", read.lsn);
        for (c, p) in cids.iter().zip(&read.by_cid) {
            assert_eq!(&r.profile_by_cid(c), p, "open {n} at LSN {}: profile of {c:?}", read.lsn);
        }
        for (u, p) in uids.iter().zip(&read.by_uid) {
            assert_eq!(&r.profile_by_uid(u), p, "open {n} at LSN {}: profile of {u:?}", read.lsn);
        }
    }
    let found = reads.iter().filter(|r| r.by_cid.iter().any(Option::is_some)).count();
    assert!(found > reads.len() / 2, "the samples find profiles");
    engine.close().unwrap();
    println!(
        "{} read-only opens beside the writer ({} from a snapshot), LSNs {:?}",
        reads.len() - 1,
        reads.iter().filter(|r| r.snapshot_lsn.is_some()).count(),
        reads.iter().map(|r| r.lsn).collect::<Vec<_>>()
    );
}
