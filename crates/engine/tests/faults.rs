//! Injected faults (idres-io's fail points, feature `failpoints`, armed per data directory): a
//! failed frame fsync poisons the engine with a clear error; a full disk on append is a clear
//! error and the log still opens and reads; a torn last frame is recovered on reopen.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use idres::{Engine, EngineConfig, EngineError};
use idres_io::failpoints::{arm, Action};
use idres_io::{Op, Point, Site};
use idres_model::Map;

fn config() -> EngineConfig {
    EngineConfig { segment_bytes: 1 << 20, ..EngineConfig::default() }
}

#[test]
fn failed_fsync_poisons_every_later_write() {
    let dir = tempfile::tempdir().unwrap();
    let engine = Engine::open(dir.path(), config()).unwrap();
    let ok = engine.identify(Some("A"), "u1", Map::new()).unwrap().wait().unwrap();
    arm(Point::new(Site::Frame, Op::Sync), dir.path(), Action::FailOnce(std::io::ErrorKind::Other));
    let err = engine.track_uid("A", "view", Map::new()).unwrap().wait().unwrap_err();
    let cause = err.poison_cause().map(|c| format!("{c:?}")).unwrap_or_default();
    assert!(cause.contains("fdatasync"), "{err}: {cause}");
    // Every later write fails at once, with the cause.
    match engine.track_uid("A", "view", Map::new()) {
        Err(e @ EngineError::Poisoned { .. }) => assert!(format!("{:?}", e.poison_cause()).contains("fdatasync")),
        Ok(t) => assert!(matches!(t.wait(), Err(EngineError::Poisoned { .. }))),
        Err(other) => panic!("{other}"),
    }
    assert!(engine.close().is_err(), "close reports the poisoning");
    drop(engine);
    // Nothing acknowledged is lost; the engine opens again and accepts writes.
    let engine = Engine::open(dir.path(), config()).unwrap();
    assert!(engine.stats().folded_lsn > ok);
    assert_eq!(engine.profile_by_cid("u1").unwrap().unwrap().uids.len(), 1);
    engine.track_uid("A", "view", Map::new()).unwrap().wait().unwrap();
    engine.close().unwrap();
}

#[test]
fn full_disk_on_append_is_a_clear_error_and_the_log_still_reads() {
    let dir = tempfile::tempdir().unwrap();
    let engine = Engine::open(dir.path(), config()).unwrap();
    for i in 0..10 {
        engine.track_uid(&format!("d{i}"), "view", Map::new()).unwrap().wait().unwrap();
    }
    arm(Point::new(Site::Frame, Op::Write), dir.path(), Action::FailOnce(std::io::ErrorKind::StorageFull));
    let err = engine.track_uid("d0", "view", Map::new()).unwrap().wait().unwrap_err();
    let cause = err.poison_cause().map(ToString::to_string).unwrap_or_default();
    assert!(cause.contains("write frame"), "{err}: {cause}");
    let _ = engine.close();
    drop(engine);
    let engine = Engine::open(dir.path(), config()).unwrap();
    assert_eq!(engine.stats().folded_lsn, 10, "the ten acknowledged records, nothing else");
    assert_eq!(engine.stats().profiles, 10);
    engine.close().unwrap();
}

#[test]
fn torn_last_frame_is_recovered_on_reopen() {
    let dir = tempfile::tempdir().unwrap();
    {
        let engine = Engine::open(dir.path(), EngineConfig { snapshot_every_records: 0, ..config() }).unwrap();
        for i in 0..5 {
            engine.track_uid(&format!("d{i}"), "view", Map::new()).unwrap().wait().unwrap();
        }
        engine.close().unwrap();
    }
    // Tear the last frame: zero its second half (what a crash mid-write leaves).
    let seg = std::fs::read_dir(dir.path().join("log"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.extension().is_some_and(|e| e == "seg"))
        .unwrap();
    let bytes = std::fs::read(&seg).unwrap();
    let end = bytes.iter().rposition(|&b| b != 0).unwrap() + 1;
    let mut torn = bytes.clone();
    torn[end - 20..end].fill(0);
    std::fs::write(&seg, &torn).unwrap();
    let copy = tempfile::tempdir().unwrap();
    std::fs::create_dir(copy.path().join("log")).unwrap();
    std::fs::copy(&seg, copy.path().join("log").join(seg.file_name().unwrap())).unwrap();
    // Snapshot and store saw LSN 5; the log now ends at 4: the lost record is damage, the error
    // says where the log's valid frames end, and the damaged bytes are left as they were (the
    // evidence stays for verify; no "torn tail" was cut).
    let err = Engine::open(dir.path(), config()).expect_err("a snapshot saw the lost record");
    assert!(
        matches!(&err, EngineError::LostRecords { seen: 5, log_end: 4, log_recovery, .. } if log_recovery.iter().any(|e| e.contains("byte offset") && e.contains("nothing was changed"))),
        "{err}"
    );
    assert_eq!(std::fs::read(&seg).unwrap(), torn, "open changed nothing");
    // The log alone (a crash before any snapshot or store saw the frame): the torn tail is cut.
    let engine = Engine::open(copy.path(), config()).unwrap();
    assert!(engine.open_report().events.iter().any(|e| e.contains("torn tail")), "{:?}", engine.open_report());
    assert_eq!(engine.stats().folded_lsn, 4);
    engine.track_uid("d9", "view", Map::new()).unwrap().wait().unwrap();
    engine.close().unwrap();
}
