//! Reading a log while it is written: [`ReadOnlyLog::open`] and [`idres_log::verify`] run again
//! and again beside a writer appending large frames and rolling segments over. Every open must
//! succeed (a frame being appended as it is read is read up to, never damage), its end LSN must
//! never go back, and every record read must be the one written at its LSN.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::print_stderr)]

mod common;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use common::tempdir;
use idres_log::{BatchBuilder, Durability, Log, LogOptions, Lsn, ReadOnlyLog};

/// The bytes of the record at `lsn`: its LSN repeated, 1..=2048 bytes long.
fn record(lsn: Lsn) -> Vec<u8> {
    let len = 1 + (lsn.wrapping_mul(2_654_435_761) % 2048) as usize;
    lsn.to_le_bytes().iter().copied().cycle().take(len).collect()
}

fn opts(preallocate: bool) -> LogOptions {
    LogOptions {
        segment_bytes: 4 << 20,
        frame_payload_bytes_max: 1 << 20,
        durability: Durability::Never,
        preallocate,
        ..LogOptions::default()
    }
}

/// Appends `frames` frames of 20..=220 records each.
fn write(log: &mut Log, frames: u64) {
    let mut lsn = log.next_lsn();
    for f in 0..frames {
        let mut b = BatchBuilder::new(1);
        for _ in 0..20 + (f * 37) % 200 {
            b.push(&record(lsn)).unwrap();
            lsn += 1;
        }
        log.append(&b).unwrap();
    }
}

fn reads_beside_a_live_writer(preallocate: bool) {
    let dir = tempdir();
    let mut log = Log::open(dir.path(), opts(preallocate)).unwrap();
    write(&mut log, 1);
    let done = Arc::new(AtomicBool::new(false));
    let writer = {
        let done = Arc::clone(&done);
        std::thread::spawn(move || {
            write(&mut log, 500);
            done.store(true, Ordering::Release);
            log.next_lsn()
        })
    };
    let mut last_end = 0;
    let mut opens = 0u64;
    let mut verifies = 0u64;
    while !done.load(Ordering::Acquire) || opens < 3 {
        let ro = ReadOnlyLog::open(dir.path(), None)
            .unwrap_or_else(|e| panic!("open {opens} beside a live writer: {}", idres_log::error_chain(&e)));
        let end = ro.end_lsn();
        assert!(end >= last_end, "open {opens}: the end went back from {last_end} to {end}");
        last_end = end;
        // The last frames read whole, each record the one written at its LSN.
        let from = end.saturating_sub(500);
        let mut next = from;
        ro.reader(from)
            .unwrap()
            .for_each_record(|lsn, bytes| {
                assert_eq!(lsn, next);
                assert!(bytes == record(lsn).as_slice(), "the record at LSN {lsn} differs");
                next += 1;
            })
            .unwrap();
        assert_eq!(next, end);
        opens += 1;
        if opens.is_multiple_of(4) {
            let report = idres_log::verify(dir.path(), None)
                .unwrap_or_else(|e| panic!("verify beside a live writer: {}", idres_log::error_chain(&e)));
            assert!(report.end_lsn >= last_end, "verify's end {} is before an earlier open's", report.end_lsn);
            last_end = report.end_lsn;
            verifies += 1;
        }
    }
    let end = writer.join().unwrap();
    assert!(opens >= 3, "{opens} opens");
    let ro = ReadOnlyLog::open(dir.path(), None).unwrap();
    assert_eq!(ro.end_lsn(), end);
    assert!(ro.torn_tail.is_none());
    eprintln!("{opens} read-only opens and {verifies} verifies beside the writer; {end} records");
}

#[test]
fn a_read_only_open_beside_a_live_writer_reads_up_to_what_is_whole_preallocated() {
    reads_beside_a_live_writer(true);
}

#[test]
fn a_read_only_open_beside_a_live_writer_reads_up_to_what_is_whole_growing() {
    reads_beside_a_live_writer(false);
}
