//! The log at each of its fail points (feature `failpoints`, through `idres_io::failpoints`): a
//! failed frame write or fsync, or the seal fsync at roll-over, is a typed error and poisons the
//! log, and a reopen has every acknowledged record; a failed segment creation, directory fsync,
//! temp-file removal or torn-tail repair is a typed error that poisons nothing and leaves a
//! directory the next open recovers. The last test checks that these are all the points the
//! workload reaches, so a new point without a test here fails it.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::fs;
use std::io::ErrorKind;
use std::path::Path;

use common::*;
use idres_io::failpoints::{arm, disarm, reached, Action};
use idres_io::{Op, Point, Site};
use idres_log::{Log, LogError, LogOptions, RecoveryEvent};

/// One record of 1000 bytes per batch: three batches fill a 4 KiB segment (after the second the
/// next segment is prepared in the background), the fourth rolls over.
fn rec(i: u8) -> Vec<u8> {
    vec![i; 1000]
}

fn opts() -> LogOptions {
    LogOptions { frame_payload_bytes_max: 2048, ..small_opts() }
}

/// The OS error kind under a log error (its source).
fn kind(e: &LogError) -> Option<ErrorKind> {
    std::error::Error::source(e)?.downcast_ref::<std::io::Error>().map(|io| io.kind())
}

fn io_op(e: &LogError) -> Option<&'static str> {
    match e {
        LogError::Io { op, .. } => Some(op),
        _ => None,
    }
}

fn records(dir: &Path) -> Vec<Vec<u8>> {
    let log = Log::open(dir, opts()).unwrap();
    read_all(&log, 0).into_iter().map(|(_, r)| r).collect()
}

/// Appends `n` batches (from record `from`) and returns the records acknowledged.
fn append_n(log: &mut Log, from: u8, n: u8) -> Vec<Vec<u8>> {
    (from..from + n)
        .map(|i| {
            log.append(&batch(&[rec(i)])).unwrap();
            rec(i)
        })
        .collect()
}

/// Zeros the second half of the last segment's last frame: a write a crash cut short.
fn tear_last_frame(dir: &Path) {
    let seg = segment_files(dir).pop().unwrap();
    let (at, len) = *frame_offsets(&seg).last().unwrap();
    let mut bytes = fs::read(&seg).unwrap();
    bytes[(at + len / 2) as usize..(at + len) as usize].fill(0);
    fs::write(&seg, bytes).unwrap();
}

/// A failure of a frame's write, its fdatasync, or the seal fsync: the append is a typed error of
/// the armed kind, the log is poisoned (every later append and sync refuse), nothing is reported
/// durable that was not synced, and a reopen holds every acknowledged record.
fn poisons(point: Point, nth_append: u8, op: &str, kind_armed: ErrorKind) {
    let dir = tempdir();
    let mut log = Log::open(dir.path(), opts()).unwrap();
    let mut acked = append_n(&mut log, 0, nth_append);
    let durable = log.durable_lsn();
    arm(point, dir.path(), Action::FailOnce(kind_armed));
    let err = log.append(&batch(&[rec(100)])).expect_err("the armed point fails the append");
    assert_eq!(io_op(&err), Some(op), "{err}");
    assert_eq!(kind(&err), Some(kind_armed), "{err}");
    assert!(log.poisoned().unwrap().contains(&point.to_string()), "the cause keeps the OS error: {:?}", log.poisoned());
    for _ in 0..2 {
        assert!(matches!(log.append(&batch(&[rec(101)])), Err(LogError::Poisoned { .. })));
    }
    assert!(matches!(log.sync(), Err(LogError::Poisoned { .. })));
    assert!(log.durable_lsn() <= durable + 1 && log.read_handle().durable_lsn() == durable);
    drop(log);
    disarm(dir.path());
    let got = records(dir.path());
    // The failed batch's outcome is unknown (it may be on disk); every acknowledged one is there.
    assert_eq!(got[..acked.len()], acked[..]);
    assert!(got.len() <= acked.len() + 1);
    let mut log = Log::open(dir.path(), opts()).unwrap();
    log.append(&batch(&[rec(7)])).unwrap();
    acked.push(rec(7));
    let n = log.next_lsn() as usize;
    assert_eq!(read_all(&log, 0).last().unwrap().1, rec(7));
    assert_eq!(n, got.len() + 1);
}

#[test]
fn a_failed_frame_write_poisons_and_loses_nothing_acknowledged() {
    poisons(Point::new(Site::Frame, Op::Write), 2, "write frame", ErrorKind::StorageFull);
}

#[test]
fn a_failed_frame_fdatasync_poisons_and_loses_nothing_acknowledged() {
    poisons(Point::new(Site::Frame, Op::Sync), 2, "fdatasync", ErrorKind::Other);
}

#[test]
fn a_failed_seal_fsync_at_roll_over_poisons_and_loses_nothing_acknowledged() {
    // The fourth batch does not fit in the first segment: it seals it first.
    poisons(Point::new(Site::Seal, Op::Sync), 3, "fdatasync", ErrorKind::Other);
}

/// A failure while a segment file is made: at the first open, open is a typed error and the next
/// open starts the log; at roll-over (failing the background preparation and the creation on the
/// append path), the append is a typed error that does not poison: nothing written is in doubt,
/// and the next append rolls over.
fn segment_creation_fails(op: Op, expect_op: &str) {
    let point = Point::new(Site::Segment, op);
    let dir = tempdir();
    arm(point, dir.path(), Action::FailOnce(ErrorKind::StorageFull));
    let err = Log::open(dir.path(), opts()).err().expect("the first segment cannot be made");
    assert_eq!(io_op(&err), Some(expect_op), "{err}");
    assert_eq!(kind(&err), Some(ErrorKind::StorageFull));
    assert!(segment_files(dir.path()).is_empty() || op == Op::Rename, "no half-made segment is left");
    let mut log = Log::open(dir.path(), opts()).unwrap();
    // Armed before the background preparation starts, so that it fails too.
    let mut acked = append_n(&mut log, 0, 1);
    arm(point, dir.path(), Action::FailAlways(ErrorKind::StorageFull));
    acked.extend(append_n(&mut log, 1, 2));
    let err = log.append(&batch(&[rec(4)])).expect_err("no next segment");
    assert!(matches!(err, LogError::Io { .. }), "{err}");
    assert!(log.poisoned().is_none(), "an empty segment that could not be made poisons nothing");
    disarm(dir.path());
    acked.extend(append_n(&mut log, 4, 3));
    assert!(log.segments().len() >= 2);
    drop(log);
    assert_eq!(records(dir.path()), acked);
}

#[test]
fn a_failed_segment_create_is_a_typed_error_and_poisons_nothing() {
    segment_creation_fails(Op::Create, "create segment");
}

#[test]
fn a_failed_segment_zero_fill_or_header_write_is_a_typed_error_and_poisons_nothing() {
    segment_creation_fails(Op::Write, "write segment header");
}

#[test]
fn a_failed_segment_fsync_is_a_typed_error_and_poisons_nothing() {
    segment_creation_fails(Op::Sync, "fsync segment");
}

#[test]
fn a_failed_segment_rename_is_a_typed_error_and_poisons_nothing() {
    segment_creation_fails(Op::Rename, "rename segment");
}

/// The log directory's fsync after a segment is renamed in: open (first segment) or the append
/// that rolls over is a typed error; the renamed segment is whole, so the next open reads it.
#[test]
fn a_failed_log_dir_fsync_is_a_typed_error_and_the_next_open_recovers() {
    let point = Point::new(Site::LogDir, Op::SyncDir);
    let dir = tempdir();
    arm(point, dir.path(), Action::FailOnce(ErrorKind::Other));
    let err = Log::open(dir.path(), opts()).err().expect("directory fsync fails");
    assert_eq!(io_op(&err), Some("fsync directory"), "{err}");
    let mut log = Log::open(dir.path(), opts()).unwrap();
    let mut acked = append_n(&mut log, 0, 3);
    arm(point, dir.path(), Action::FailAlways(ErrorKind::Other));
    let err = log.append(&batch(&[rec(4)])).expect_err("roll-over cannot make its segment durable");
    assert_eq!(io_op(&err), Some("fsync directory"), "{err}");
    assert!(log.poisoned().is_none());
    disarm(dir.path());
    drop(log);
    let mut log = Log::open(dir.path(), opts()).unwrap();
    acked.extend(append_n(&mut log, 4, 3));
    drop(log);
    assert_eq!(records(dir.path()), acked);
}

/// Removing a leftover `*.seg.tmp` on open: a typed error naming it, nothing else changed; the
/// next open removes it and appends.
#[test]
fn a_failed_temp_file_removal_is_a_typed_error_and_the_next_open_removes_it() {
    let dir = tempdir();
    let mut log = Log::open(dir.path(), opts()).unwrap();
    let acked = append_n(&mut log, 0, 2);
    drop(log);
    let tmp = dir.path().join("00000000000000000002.seg.tmp");
    fs::write(&tmp, b"half").unwrap();
    arm(Point::new(Site::LogDir, Op::Remove), dir.path(), Action::FailOnce(ErrorKind::PermissionDenied));
    let err = Log::open(dir.path(), opts()).err().expect("cannot remove");
    assert!(matches!(&err, LogError::Io { op: "remove unfinished segment", path, .. } if *path == tmp), "{err}");
    assert!(tmp.exists());
    let mut log = Log::open(dir.path(), opts()).unwrap();
    assert!(matches!(log.recovery(), [RecoveryEvent::TempSegmentRemoved { path }] if *path == tmp));
    log.append(&batch(&[rec(9)])).unwrap();
    assert_eq!(read_all(&log, 0).len(), acked.len() + 1);
}

/// Zeroing a torn tail, or its fdatasync, fails: open is a typed error; the next open cuts the
/// tail and holds every acknowledged record.
fn torn_tail_repair_fails(op: Op, expect_op: &str) {
    let dir = tempdir();
    let mut log = Log::open(dir.path(), opts()).unwrap();
    let acked = append_n(&mut log, 0, 6);
    drop(log);
    tear_last_frame(dir.path());
    arm(Point::new(Site::TornTail, op), dir.path(), Action::FailOnce(ErrorKind::Other));
    let err = Log::open(dir.path(), opts()).err().expect("the tear cannot be cut");
    assert_eq!(io_op(&err), Some(expect_op), "{err}");
    let log = Log::open(dir.path(), opts()).unwrap();
    // If the zeros were written (only their fdatasync failed), the tail is clean already.
    assert!(
        matches!(log.recovery(), [RecoveryEvent::TornTailTruncated { end_lsn: 5, .. }])
            || (op == Op::Sync && log.recovery().is_empty()),
        "{:?}",
        log.recovery()
    );
    let got: Vec<Vec<u8>> = read_all(&log, 0).into_iter().map(|(_, r)| r).collect();
    assert_eq!(got, acked[..5], "every record but the torn one");
}

#[test]
fn a_failed_torn_tail_zeroing_is_a_typed_error_and_the_next_open_cuts_it() {
    torn_tail_repair_fails(Op::Write, "write zeros");
}

#[test]
fn a_failed_torn_tail_fdatasync_is_a_typed_error_and_the_next_open_cuts_it() {
    torn_tail_repair_fails(Op::Sync, "fdatasync");
}

/// Creating the log directory or its lock file fails: open is a typed error naming it, and the
/// next open works.
#[test]
fn a_failed_log_dir_or_lock_file_creation_is_a_typed_error() {
    let root = tempdir();
    let dir = root.path().join("log");
    arm(Point::new(Site::LogDir, Op::Create), root.path(), Action::FailOnce(ErrorKind::PermissionDenied));
    let err = Log::open(&dir, opts()).err().expect("cannot create the directory");
    assert!(matches!(&err, LogError::Io { op: "create directory", path, .. } if *path == dir), "{err}");
    assert!(!dir.exists());
    arm(Point::new(Site::LogDir, Op::Create), root.path(), Action::FailOnce(ErrorKind::PermissionDenied));
    fs::create_dir(&dir).unwrap();
    let err = Log::open(&dir, opts()).err().expect("cannot create the lock file");
    assert!(matches!(&err, LogError::Io { op: "open lock file", .. }), "{err}");
    let mut log = Log::open(&dir, opts()).unwrap();
    log.append(&batch(&[rec(1)])).unwrap();
}

/// Opening the last segment for appends fails: open is a typed error; the next open works.
#[test]
fn a_failed_open_of_the_active_segment_is_a_typed_error() {
    let dir = tempdir();
    let mut log = Log::open(dir.path(), opts()).unwrap();
    let acked = append_n(&mut log, 0, 2);
    drop(log);
    arm(Point::new(Site::Frame, Op::Create), dir.path(), Action::FailOnce(ErrorKind::PermissionDenied));
    let err = Log::open(dir.path(), opts()).err().expect("cannot open for writing");
    assert_eq!(io_op(&err), Some("open segment"), "{err}");
    assert_eq!(records(dir.path()), acked);
}

/// The workload (a stray temp file from a kill during the first segment's creation, appends that
/// roll over, a torn tail recovered) reaches exactly the points the tests above arm.
#[test]
fn the_workload_reaches_exactly_the_points_tested_here() {
    let dir = tempdir();
    fs::write(dir.path().join("00000000000000000000.seg.tmp"), b"").unwrap();
    let mut log = Log::open(dir.path(), opts()).unwrap();
    append_n(&mut log, 0, 9);
    drop(log);
    tear_last_frame(dir.path());
    let mut log = Log::open(dir.path(), opts()).unwrap();
    assert!(matches!(log.recovery(), [RecoveryEvent::TornTailTruncated { .. }]));
    append_n(&mut log, 9, 1);
    drop(log);
    let p = Point::new;
    let mut tested = vec![
        p(Site::Segment, Op::Create),
        p(Site::Segment, Op::Write),
        p(Site::Segment, Op::Sync),
        p(Site::Segment, Op::Rename),
        p(Site::Frame, Op::Create),
        p(Site::Frame, Op::Write),
        p(Site::Frame, Op::Sync),
        p(Site::Seal, Op::Sync),
        p(Site::TornTail, Op::Write),
        p(Site::TornTail, Op::Sync),
        p(Site::LogDir, Op::Create),
        p(Site::LogDir, Op::Remove),
        p(Site::LogDir, Op::SyncDir),
    ];
    tested.sort();
    assert_eq!(reached(dir.path()), tested);
}
