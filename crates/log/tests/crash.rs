//! Crash test with real processes: a child process appends batches with fdatasync per batch and
//! reports each acknowledged LSN on stdout; the parent SIGKILLs it at a random moment, reopens the
//! log, and checks that every acknowledged record is there, that everything there is exactly what
//! was written (a prefix of the child's sequence), and that appending continues.
//!
//! A killed process keeps what it wrote in the page cache, so this catches recovery and
//! bookkeeping bugs (a tail cut too far, a segment left half-made by a kill during roll-over), not
//! a missing fsync; a machine crash that loses unsynced pages is what the torn-tail tests model.
//!
//! `IDRES_CRASH_ITERATIONS` sets the number of kills (default 20).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::print_stdout)]

mod common;

use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};

use idres_log::{BatchBuilder, Durability, Log, LogOptions, Lsn};

const CHILD_ENV: &str = "IDRES_LOG_CRASH_CHILD";
const DURABILITY_ENV: &str = "IDRES_LOG_CRASH_DURABILITY";

/// The record at `lsn`: its content is a function of the LSN, so the parent can check any record.
fn record(lsn: Lsn) -> Vec<u8> {
    let len = (lsn.wrapping_mul(2_654_435_761) % 300) as usize;
    let mut r = lsn.to_le_bytes().to_vec();
    r.extend((0..len).map(|i| (lsn as usize + i) as u8));
    r
}

fn opts(durability: Durability) -> LogOptions {
    LogOptions { segment_bytes: 64 << 10, durability, ..LogOptions::default() }
}

/// The child: appends forever (until killed), printing the end LSN of each durable batch. Not a
/// test on its own: the parent runs it with `--include-ignored`.
#[test]
#[ignore = "the child process of sigkill_loses_no_acknowledged_record"]
fn crash_child_writer() {
    let Ok(dir) = std::env::var(CHILD_ENV) else { return };
    let durability = match std::env::var(DURABILITY_ENV).as_deref() {
        Ok("never") => Durability::Never,
        _ => Durability::EveryBatch,
    };
    let mut log = Log::open(&dir, opts(durability)).unwrap();
    let mut out = std::io::stdout().lock();
    let mut n: u64 = 1;
    loop {
        let first = log.next_lsn();
        let size = 1 + (n * 7919 % 40);
        let mut b = BatchBuilder::new(1);
        for lsn in first..first + size {
            b.push(&record(lsn)).unwrap();
        }
        let a = log.append(&b).unwrap();
        assert_eq!(a.durable, durability == Durability::EveryBatch);
        writeln!(out, "{}", a.end_lsn).unwrap();
        out.flush().unwrap();
        n += 1;
    }
}

#[test]
fn sigkill_loses_no_acknowledged_record() {
    kill_and_check("every_batch", Durability::EveryBatch);
}

/// Without any fsync a process kill still loses nothing that `append` returned: the data is in
/// the page cache, and open syncs it before calling it durable.
#[test]
fn sigkill_under_never_loses_no_written_record() {
    kill_and_check("never", Durability::Never);
}

fn kill_and_check(durability_name: &str, durability: Durability) {
    let iterations: u64 = std::env::var("IDRES_CRASH_ITERATIONS").ok().and_then(|v| v.parse().ok()).unwrap_or(20);
    // A real disk, not tmpfs: this test is about what survives a kill.
    let dir = tempfile::tempdir().unwrap();
    let exe = std::env::current_exe().unwrap();
    let mut acked: Lsn = 0;
    let mut seed: u64 = 0x5EED;
    for iteration in 0..iterations {
        seed = seed.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
        let wait_acks = 1 + (seed >> 33) % 60;
        let mut child = Command::new(&exe)
            .args(["--exact", "crash_child_writer", "--include-ignored", "--nocapture", "--test-threads=1"])
            .env(CHILD_ENV, dir.path())
            .env(DURABILITY_ENV, durability_name)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let mut lines = BufReader::new(stdout).lines();
        let mut seen = 0;
        while seen < wait_acks {
            let Some(Ok(line)) = lines.next() else { break };
            if let Ok(end) = line.trim().parse::<Lsn>() {
                assert!(end > acked, "acknowledged LSNs must grow");
                acked = end;
                seen += 1;
            }
        }
        child.kill().unwrap(); // SIGKILL
        child.wait().unwrap();

        let mut log = Log::open(dir.path(), opts(durability)).unwrap();
        let end = log.next_lsn();
        assert_eq!(log.durable_lsn(), end, "open syncs what it finds");
        assert!(end >= acked, "iteration {iteration}: acknowledged up to {acked}, log ends at {end}");
        let mut expect = 0;
        log.reader(0)
            .unwrap()
            .for_each_record(|lsn, r| {
                assert_eq!(lsn, expect);
                assert_eq!(r, record(lsn), "record {lsn} differs");
                expect += 1;
            })
            .unwrap();
        assert_eq!(expect, end);
        // Everything present now counts as acknowledged for the next round.
        acked = end;
        let mut b = BatchBuilder::new(1);
        b.push(&record(end)).unwrap();
        acked = log.append(&b).unwrap().end_lsn.max(acked);
        drop(log);
    }
    let report = idres_log::verify(dir.path(), None).unwrap();
    assert_eq!(report.end_lsn, acked);
    assert!(report.segments > 1, "the test should cross roll-overs ({} segments)", report.segments);
}
