//! Regression tests of the defects issue 12 reproduced in the engine: each failed before its fix.
//! (The log's are in idres-log's tests, the command line's in idres-cli's.)
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::mpsc;
use std::time::Duration;

use idres::{ChangeEvent, Engine, EngineConfig, EngineError, StoreBackend, SUBSCRIBER_CHANGES_MAX};
use idres_io::{failpoints, Op, Point, Site};
use idres_log::error_chain as chain;
use idres_model::{Map, Record, Target, Uid};

fn config() -> EngineConfig {
    EngineConfig {
        segment_bytes: 1 << 20,
        snapshot_every_records: 0,
        store: StoreBackend::Memory,
        ..EngineConfig::default()
    }
}

/// Runs `f` on another thread and fails the test if it has not returned after a minute: for
/// calls that used to block forever (no timing is asserted; a minute is only "never").
fn ends<T: Send + 'static>(what: &str, f: impl FnOnce() -> T + Send + 'static) -> T {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(f());
    });
    rx.recv_timeout(Duration::from_secs(60)).unwrap_or_else(|_| panic!("{what} did not return"))
}

fn events(engine: &Engine, uids: &[&str]) {
    for uid in uids {
        engine.track_uid(uid, "view", Map::new()).unwrap().wait().unwrap();
    }
}

#[test]
fn a_rebuild_marker_that_holds_no_lsn_is_damage_not_bad_input() {
    // Defect 4 and 16: a garbage `store-rebuild.lsn` was `EngineError::Invalid` (exit 2).
    let dir = tempfile::tempdir().unwrap();
    Engine::open(dir.path(), config()).unwrap().close().unwrap();
    let marker = dir.path().join("store-rebuild.lsn");
    std::fs::write(&marker, b"not a number\n").unwrap();
    let err = Engine::open(dir.path(), config()).unwrap_err();
    assert!(matches!(&err, EngineError::Damaged { path, .. } if path == &marker), "{err:?}");
    assert!(err.is_damage());
    assert!(err.to_string().contains("\"not a number"), "the marker's text, as an excerpt: {err}");
}

#[test]
fn rebuild_replaces_a_rebuild_marker_that_holds_no_lsn() {
    // Defect 16: neither `rebuild` nor `repair` cleared a garbage marker.
    let dir = tempfile::tempdir().unwrap();
    let on_disk = EngineConfig { store: StoreBackend::default(), ..config() };
    let engine = Engine::open(dir.path(), on_disk.clone()).unwrap();
    events(&engine, &["a", "b", "c"]);
    engine.close().unwrap();
    drop(engine);
    let marker = dir.path().join("store-rebuild.lsn");
    std::fs::write(&marker, [0xff, 0, 0x41]).unwrap();
    let engine = Engine::open(dir.path(), EngineConfig { rebuild: true, ..on_disk.clone() }).unwrap();
    assert!(engine.open_report().events.iter().any(|e| e.contains("holds no LSN")), "{:?}", engine.open_report());
    assert_eq!(engine.stats().profiles, 3);
    engine.close().unwrap();
    drop(engine);
    assert!(!marker.exists(), "the rebuilt store's marker is gone");
    let engine = Engine::open(dir.path(), on_disk).unwrap();
    assert_eq!(engine.stats().folded_lsn, 3);
    engine.close().unwrap();
}

#[test]
fn an_error_says_its_os_error_once() {
    // Defect 5: `{source}` in a Display whose field is also `#[source]` printed it twice.
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("file"), b"").unwrap();
    let err = Engine::open(dir.path().join("file").join("data"), config()).unwrap_err();
    let text = chain(&err);
    assert_eq!(text.matches("Not a directory").count(), 1, "{text}");
}

#[test]
fn wait_stored_for_an_lsn_never_written_ends_with_an_error() {
    // Defect 6: `wait_stored` blocked forever on an LSN past the fold.
    let dir = tempfile::tempdir().unwrap();
    let engine = Engine::open(dir.path(), config()).unwrap();
    events(&engine, &["a"]);
    let e = engine.clone();
    let waited = ends("wait_stored(100)", move || e.wait_stored(100));
    assert!(matches!(waited, Err(EngineError::Invalid(_))), "{waited:?}");
    engine.wait_stored(0).unwrap();
    engine.close().unwrap();
    // After close, a wait for what was stored still answers, and a write says closed.
    engine.wait_stored(0).unwrap();
    assert!(matches!(engine.track_uid("a", "x", Map::new()), Err(EngineError::Closed)));
}

#[test]
fn a_snapshot_that_cannot_be_written_is_counted_and_loses_no_write() {
    // Defect 7: snapshot failures were dropped with `let _`, on the acknowledgement path.
    let dir = tempfile::tempdir().unwrap();
    failpoints::arm(
        Point::new(Site::Snapshot, Op::Create),
        dir.path(),
        failpoints::Action::FailAlways(std::io::ErrorKind::StorageFull),
    );
    let engine = Engine::open(dir.path(), EngineConfig { snapshot_every_records: 10, ..config() }).unwrap();
    for i in 0..50 {
        engine.track_uid(&format!("d{i}"), "view", Map::new()).unwrap().wait().unwrap();
    }
    engine.close().unwrap();
    let s = engine.stats();
    assert!(s.snapshot_failures >= 1, "{s:?}");
    assert_eq!(s.snapshots_written, 0);
    let why = engine.last_snapshot_failure().unwrap();
    assert!(chain(&*why).contains("snapshot.create"), "{}", chain(&*why));
    drop(engine);
    failpoints::disarm(dir.path());
    let engine = Engine::open(dir.path(), config()).unwrap();
    assert_eq!(engine.open_report().snapshot_lsn, None, "no snapshot was written");
    assert_eq!(engine.stats().folded_lsn, 50, "every acknowledged write is there");
    engine.close().unwrap();
}

#[test]
fn a_snapshot_of_another_log_is_refused_naming_both_files() {
    // Defect 9: another log's snapshot at the same LSN made every read serve the other log's
    // profiles.
    let ours = tempfile::tempdir().unwrap();
    let theirs = tempfile::tempdir().unwrap();
    for (dir, uids) in [(ours.path(), ["a", "b", "c"]), (theirs.path(), ["x", "y", "z"])] {
        let engine = Engine::open(dir, config()).unwrap();
        events(&engine, &uids);
        engine.close().unwrap();
    }
    let name = "00000000000000000003.snap";
    let snapshot = ours.path().join("snapshots").join(name);
    assert!(snapshot.exists());
    std::fs::copy(theirs.path().join("snapshots").join(name), &snapshot).unwrap();
    let err = Engine::open(ours.path(), config()).unwrap_err();
    let text = err.to_string();
    assert!(matches!(&err, EngineError::Damaged { path, .. } if path == &snapshot), "{err:?}");
    assert!(text.contains(name) && text.contains(&format!("log{}", std::path::MAIN_SEPARATOR)), "{text}");
    // A rebuild does not read snapshots: it replaces the foreign one.
    let engine = Engine::open(ours.path(), EngineConfig { rebuild: true, ..config() }).unwrap();
    assert!(engine.profile_by_uid("a").unwrap().is_some());
    assert!(engine.profile_by_uid("x").unwrap().is_none());
    engine.close().unwrap();
}

#[test]
fn a_subscriber_that_falls_behind_is_not_buffered_without_bound() {
    // Renovation: subscriber channels were unbounded. A lagging subscriber now misses the
    // changes its channel has no room for, and is told so (tests/changes.rs has the details).
    let dir = tempfile::tempdir().unwrap();
    let engine = Engine::open(dir.path(), config()).unwrap();
    let rx = engine.subscribe();
    let n = SUBSCRIBER_CHANGES_MAX + 1000;
    let records: Vec<Record> = (0..n)
        .map(|i| Record::Event {
            target: Target::Uid(Uid::parse(&format!("d{i}")).unwrap()),
            name: "view".into(),
            props: Map::new(),
            session_id: None,
            ts: None,
            system: false,
            message_id: None,
        })
        .collect();
    for chunk in records.chunks(10_000) {
        engine.write_batch(chunk.to_vec()).unwrap().wait().unwrap();
    }
    let received: Vec<ChangeEvent> = rx.try_iter().collect();
    assert_eq!(received.len(), SUBSCRIBER_CHANGES_MAX + 1, "the channel's changes, then the marker");
    assert_eq!(received.last(), Some(&ChangeEvent::Lagged { missed: 1000 }));
    // A subscriber that keeps up is not affected.
    let live = engine.subscribe();
    events(&engine, &["late"]);
    assert!(live.try_recv().unwrap().is_some());
    engine.close().unwrap();
}

#[test]
fn a_leftover_snapshot_temp_file_is_removed_on_open() {
    // Found by the ENOSPC run (defect 12): a snapshot that hit a full disk left `N.snap.tmp`.
    let dir = tempfile::tempdir().unwrap();
    Engine::open(dir.path(), config()).unwrap().close().unwrap();
    let tmp = dir.path().join("snapshots").join("00000000000000000007.snap.tmp");
    std::fs::write(&tmp, b"").unwrap();
    let engine = Engine::open(dir.path(), config()).unwrap();
    assert!(!tmp.exists());
    assert!(engine.open_report().events.iter().any(|e| e.contains("interrupted write")));
    engine.close().unwrap();
}

/// A data directory of 20 records with an on-disk store and a snapshot at 20.
fn twenty(dir: &std::path::Path) -> EngineConfig {
    let on_disk = EngineConfig { store: StoreBackend::default(), ..config() };
    let engine = Engine::open(dir, on_disk.clone()).unwrap();
    for i in 0..20 {
        engine.track_uid(&format!("d{i}"), "view", Map::new()).unwrap().wait().unwrap();
    }
    engine.close().unwrap();
    assert!(dir.join("snapshots").join("00000000000000000020.snap").exists());
    on_disk
}

#[test]
fn repair_removes_the_store_rebuild_marker() {
    // Defect 3: `idres repair` ignored `store-rebuild.lsn`; the next open still refused the
    // directory, blaming the store repair had just removed.
    let dir = tempfile::tempdir().unwrap();
    let on_disk = twenty(dir.path());
    std::fs::write(dir.path().join("store-rebuild.lsn"), b"20\n").unwrap();
    let report = idres::repair(dir.path(), 9).unwrap();
    assert!(report.removed_marker && report.removed_store, "{report:?}");
    assert_eq!(report.log.end_lsn, 10);
    let engine = Engine::open(dir.path(), on_disk).unwrap();
    assert_eq!(engine.stats().folded_lsn, 10);
    engine.close().unwrap();
}

#[test]
fn a_repair_that_fails_midway_leaves_a_directory_that_opens_and_runs_again() {
    // Defect 14: a kill during `repair` could leave the log cut but a newer snapshot in place:
    // "acknowledged records lost" on every open after. Now the log is cut last.
    let dir = tempfile::tempdir().unwrap();
    let on_disk = twenty(dir.path());
    failpoints::arm(
        Point::new(Site::Snapshot, Op::Remove),
        dir.path(),
        failpoints::Action::FailOnce(std::io::ErrorKind::Other),
    );
    let err = idres::repair(dir.path(), 9).unwrap_err();
    assert!(chain(&err).contains("snapshot.remove"), "{}", chain(&err));
    failpoints::disarm(dir.path());
    // Interrupted before its last step: the log is whole, and the directory opens.
    let engine = Engine::open(dir.path(), on_disk.clone()).unwrap();
    assert_eq!(engine.stats().folded_lsn, 20);
    engine.close().unwrap();
    drop(engine);
    // Run again, it finishes.
    let report = idres::repair(dir.path(), 9).unwrap();
    assert_eq!(report.log.end_lsn, 10);
    let engine = Engine::open(dir.path(), on_disk).unwrap();
    assert_eq!(engine.stats().folded_lsn, 10);
    engine.close().unwrap();
}

#[test]
fn repair_after_each_of_its_steps_is_killed_leaves_a_directory_that_opens() {
    // Defect 14, every step: the fail points a repair reaches, each made to fail in turn.
    let dir = tempfile::tempdir().unwrap();
    let on_disk = twenty(dir.path());
    std::fs::write(dir.path().join("store-rebuild.lsn"), b"20\n").unwrap();
    let probe = tempfile::tempdir().unwrap();
    twenty(probe.path());
    std::fs::write(probe.path().join("store-rebuild.lsn"), b"20\n").unwrap();
    idres::repair(probe.path(), 9).unwrap();
    let points = failpoints::reached(probe.path());
    assert!(points.contains(&Point::new(Site::Snapshot, Op::Remove)), "{points:?}");
    assert!(points.contains(&Point::new(Site::Marker, Op::Remove)), "{points:?}");
    for point in points {
        let copy = tempfile::tempdir().unwrap();
        copy_dir(dir.path(), copy.path());
        failpoints::arm(point, copy.path(), failpoints::Action::FailOnce(std::io::ErrorKind::Other));
        let failed = idres::repair(copy.path(), 9);
        failpoints::disarm(copy.path());
        // Whatever was done, the directory opens (the log whole, or cut with nothing past it)…
        let engine = Engine::open(copy.path(), on_disk.clone()).unwrap_or_else(|e| panic!("{point}: {e:#?}"));
        assert!([10, 20].contains(&engine.stats().folded_lsn), "{point}");
        engine.close().unwrap();
        drop(engine);
        // …and the repair, run again, finishes.
        idres::repair(copy.path(), 9).unwrap_or_else(|e| panic!("{point} ({failed:?}): {e:#?}"));
        let engine = Engine::open(copy.path(), on_disk.clone()).unwrap();
        assert_eq!(engine.stats().folded_lsn, 10, "{point}");
        engine.close().unwrap();
    }
}

fn copy_dir(from: &std::path::Path, to: &std::path::Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), target).unwrap();
        }
    }
}

/// Every file under `dir` with its bytes.
fn tree(dir: &std::path::Path, out: &mut Vec<(std::path::PathBuf, Vec<u8>)>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let entry = entry.unwrap();
        if entry.file_type().unwrap().is_dir() {
            tree(&entry.path(), out);
        } else {
            out.push((entry.path(), std::fs::read(entry.path()).unwrap()));
        }
    }
    out.sort();
}

#[test]
fn a_read_only_open_reads_everything_and_writes_nothing() {
    // Defect 16: a data directory that cannot be written could not be read either.
    let dir = tempfile::tempdir().unwrap();
    let on_disk = twenty(dir.path());
    let engine = Engine::open(dir.path(), on_disk.clone()).unwrap();
    events(&engine, &["d0", "late"]);
    let (digest, profile) = (engine.digest(), engine.profile_by_uid("d0").unwrap().unwrap());
    engine.close().unwrap();
    drop(engine);
    let mut before = Vec::new();
    tree(dir.path(), &mut before);
    let ro = Engine::open_read_only(dir.path(), on_disk).unwrap();
    assert_eq!(ro.open_report().snapshot_lsn, Some(22));
    assert_eq!(ro.digest(), digest);
    assert_eq!(ro.profile_by_uid("d0").unwrap().unwrap(), profile);
    assert_eq!(ro.history(&profile).unwrap().len(), 2);
    assert_eq!(ro.as_of(19).unwrap().profile_count(), 20);
    assert!(matches!(ro.track_uid("x", "view", Map::new()), Err(EngineError::ReadOnly(_))));
    assert!(matches!(ro.stored_profile_by_cid("c"), Err(EngineError::ReadOnly(_))));
    ro.close().unwrap();
    drop(ro);
    let mut after = Vec::new();
    tree(dir.path(), &mut after);
    assert!(before == after, "a read-only open changed the data directory");
}

#[test]
fn a_repair_that_cannot_go_ahead_removes_nothing() {
    // Review of defect 14's fix: the caches were removed before the log's lock was taken and the
    // cut checked, so a repair beside an open engine, or at an LSN inside a batch, lost them.
    let dir = tempfile::tempdir().unwrap();
    let on_disk = twenty(dir.path());
    let engine = Engine::open(dir.path(), on_disk.clone()).unwrap();
    let batch: Vec<Record> = (0..5)
        .map(|i| Record::Event {
            target: Target::Uid(Uid::parse(&format!("b{i}")).unwrap()),
            name: "view".into(),
            props: Map::new(),
            session_id: None,
            ts: None,
            system: false,
            message_id: None,
        })
        .collect();
    assert_eq!(engine.write_batch(batch).unwrap().wait_range().unwrap(), 20..25);
    // The engine is open: the log's lock is held.
    let err = idres::repair(dir.path(), 9).unwrap_err();
    assert!(matches!(err, EngineError::Log(idres_log::LogError::Locked { .. })), "{err:?}");
    engine.close().unwrap();
    drop(engine);
    let mut snapshots = Vec::new();
    tree(&dir.path().join("snapshots"), &mut snapshots);
    assert!(!snapshots.is_empty() && dir.path().join("store").exists());
    // LSN 22 is inside the batch 20..25.
    let err = idres::repair(dir.path(), 22).unwrap_err();
    assert!(matches!(err, EngineError::Log(idres_log::LogError::NotABatchBoundary { .. })), "{err:?}");
    let mut after = Vec::new();
    tree(&dir.path().join("snapshots"), &mut after);
    assert_eq!(snapshots, after, "no snapshot removed");
    assert!(dir.path().join("store").exists(), "the store kept");
}

#[test]
fn a_snapshot_of_another_log_past_the_logs_end_is_damage_not_lost_records() {
    // Review of defect 9's fix: the acknowledged count came from the newest snapshot's name
    // before its log was checked, so another log's snapshot past this log's end read as lost
    // records, and a rebuild could not clear it.
    let ours = tempfile::tempdir().unwrap();
    let theirs = tempfile::tempdir().unwrap();
    for (dir, n) in [(ours.path(), 3), (theirs.path(), 8)] {
        let engine = Engine::open(dir, config()).unwrap();
        for i in 0..n {
            engine.track_uid(&format!("u{i}"), "view", Map::new()).unwrap().wait().unwrap();
        }
        engine.close().unwrap();
    }
    let name = "00000000000000000008.snap";
    let foreign = ours.path().join("snapshots").join(name);
    std::fs::copy(theirs.path().join("snapshots").join(name), &foreign).unwrap();
    let err = Engine::open(ours.path(), config()).unwrap_err();
    assert!(matches!(&err, EngineError::Damaged { path, .. } if path == &foreign), "{err:?}");
    assert!(err.to_string().contains("00000000000000000000.seg"), "names the log's first segment: {err}");
    let engine = Engine::open(ours.path(), EngineConfig { rebuild: true, ..config() }).unwrap();
    assert_eq!(engine.stats().folded_lsn, 3);
    engine.close().unwrap();
    drop(engine);
    assert!(!foreign.exists(), "the rebuild removed it");
    Engine::open(ours.path(), config()).unwrap().close().unwrap();
}
