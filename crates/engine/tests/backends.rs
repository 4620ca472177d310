//! The store's backend: one config value, recorded in the data directory; opening with another
//! backend rebuilds the store from the log and says so; a directory from before the record (a
//! sled store, no `store-backend`) is sled's.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::Path;

use idres::{Engine, EngineConfig, FjallOptions, SledOptions, StoreBackend};
use idres_model::{Map, Value};

fn config(store: StoreBackend) -> EngineConfig {
    EngineConfig { segment_bytes: 1 << 20, snapshot_every_records: 0, store, ..EngineConfig::default() }
}

fn fjall() -> StoreBackend {
    StoreBackend::Fjall(FjallOptions::default())
}

fn sled() -> StoreBackend {
    StoreBackend::Sled(SledOptions::default())
}

const CUSTOMERS: u64 = 40;

/// Writes a workload: devices identified as customers, events, merges.
fn write(dir: &Path, store: StoreBackend) -> u64 {
    let engine = Engine::open(dir, config(store)).unwrap();
    let mut last = None;
    for i in 0..2_000u64 {
        let dev = format!("dev-{}", i % 97);
        let t = match i % 10 {
            0 => engine.identify(Some(&dev), &format!("c{}", (i / 10) % CUSTOMERS), Map::new()).unwrap(),
            1 if i % 70 == 1 => {
                engine.merge(&format!("c{}", i % CUSTOMERS), &format!("c{}", (i + 3) % CUSTOMERS)).unwrap()
            }
            _ => {
                let mut props = Map::new();
                props.insert("i".into(), Value::Int(i as i64));
                engine.track_uid(&dev, "view", props).unwrap()
            }
        };
        last = Some(t);
    }
    let lsn = last.unwrap().wait().unwrap();
    engine.wait_stored(lsn).unwrap();
    engine.close().unwrap();
    lsn
}

/// Every customer's profile from the fold, and from the store (which must agree).
fn profiles(engine: &Engine, end: u64) -> Vec<Option<idres_model::Profile>> {
    engine.wait_stored(end).unwrap();
    (0..CUSTOMERS)
        .map(|c| {
            let cid = format!("c{c}");
            let folded =
                engine.profile_by_cid(&cid).unwrap().map(|p| idres_model::Profile { history: Vec::new(), ..p });
            assert_eq!(engine.stored_profile_by_cid(&cid).unwrap(), folded, "store and fold agree on {cid}");
            folded
        })
        .collect()
}

fn recorded(dir: &Path) -> String {
    std::fs::read_to_string(dir.join(idres::data_dir::STORE_BACKEND_FILE)).unwrap()
}

#[test]
fn the_backend_is_recorded_and_a_switch_rebuilds_saying_so() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let end = write(dir, sled());
    assert_eq!(recorded(dir), "sled\n");
    let before = {
        let engine = Engine::open(dir, config(sled())).unwrap();
        assert!(!engine.open_report().store_rebuilt, "{:?}", engine.open_report().events);
        let p = profiles(&engine, end);
        engine.close().unwrap();
        p
    };
    assert!(before.iter().flatten().count() > 10);
    // sled -> fjall: rebuilt from the log, said; the same profiles; the record follows.
    let engine = Engine::open(dir, config(fjall())).unwrap();
    let events = engine.open_report().events.join("\n");
    assert!(events.contains("written by sled, and this engine's store is fjall: rebuilding it"), "{events}");
    assert!(!events.contains("interrupted"), "a switch is not reported as an interrupted rebuild: {events}");
    assert!(engine.open_report().store_rebuilt);
    assert_eq!(profiles(&engine, end), before);
    engine.close().unwrap();
    assert_eq!(recorded(dir), "fjall\n");
    assert!(!dir.join(idres::data_dir::STORE_REBUILD_MARKER).exists(), "the marker goes once the store is rebuilt");
    // Opened again with fjall: nothing to rebuild.
    let engine = Engine::open(dir, config(fjall())).unwrap();
    assert!(!engine.open_report().store_rebuilt, "{:?}", engine.open_report().events);
    assert_eq!(profiles(&engine, end), before);
    engine.close().unwrap();
    // And back to sled.
    let engine = Engine::open(dir, config(sled())).unwrap();
    assert!(engine.open_report().events.join("\n").contains("written by fjall"));
    assert_eq!(profiles(&engine, end), before);
    engine.close().unwrap();
    assert_eq!(recorded(dir), "sled\n");
    // An in-memory store leaves the on-disk one and its record as they are.
    let engine = Engine::open(dir, config(StoreBackend::Memory)).unwrap();
    assert_eq!(profiles(&engine, end), before);
    engine.close().unwrap();
    assert_eq!(recorded(dir), "sled\n");
}

#[test]
fn a_directory_from_before_the_record_is_sleds() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let end = write(dir, sled());
    std::fs::remove_file(dir.join(idres::data_dir::STORE_BACKEND_FILE)).unwrap();
    // Opened with sled: the store is used as it is, and the record written.
    let engine = Engine::open(dir, config(sled())).unwrap();
    assert!(!engine.open_report().store_rebuilt, "{:?}", engine.open_report().events);
    let before = profiles(&engine, end);
    engine.close().unwrap();
    assert_eq!(recorded(dir), "sled\n");
    // Opened with the default (fjall) with no record: the sled store is recognised and replaced.
    std::fs::remove_file(dir.join(idres::data_dir::STORE_BACKEND_FILE)).unwrap();
    let engine = Engine::open(dir, config(StoreBackend::default())).unwrap();
    assert!(engine.open_report().events.join("\n").contains("written by sled"), "{:?}", engine.open_report().events);
    assert_eq!(profiles(&engine, end), before);
    engine.close().unwrap();
    assert_eq!(recorded(dir), "fjall\n");
}

#[test]
fn a_record_that_names_no_backend_rebuilds_the_store() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let end = write(dir, fjall());
    std::fs::write(dir.join(idres::data_dir::STORE_BACKEND_FILE), b"rocksdb\n").unwrap();
    let engine = Engine::open(dir, config(fjall())).unwrap();
    let events = engine.open_report().events.join("\n");
    assert!(events.contains("names no store backend (\"rocksdb\")"), "{events}");
    assert!(engine.open_report().store_rebuilt);
    assert!(profiles(&engine, end).iter().flatten().count() > 10);
    engine.close().unwrap();
    assert_eq!(recorded(dir), "fjall\n");
}

#[test]
fn a_switch_still_guards_what_the_old_store_had_seen() {
    // The old store saw every record; the log then loses its tail (a disk that lied). Switching
    // backend must not hide that: the old store's applied LSN is kept in the rebuild marker.
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    write(dir, sled());
    // Only the store has seen the records (no snapshot guards them).
    for snap in std::fs::read_dir(dir.join("snapshots")).unwrap() {
        std::fs::remove_file(snap.unwrap().path()).unwrap();
    }
    let mut segments: Vec<_> = std::fs::read_dir(dir.join("log"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "seg"))
        .collect();
    segments.sort();
    let last = segments.last().unwrap();
    // The records are at the start of the (preallocated) segment: keep its first KiB only.
    let f = std::fs::OpenOptions::new().write(true).open(last).unwrap();
    f.set_len(1024).unwrap();
    drop(f);
    let e =
        Engine::open(dir, config(fjall())).err().unwrap_or_else(|| panic!("lost acknowledged records are an error"));
    assert!(matches!(e, idres::EngineError::LostRecords { .. }), "{e:?}");
    // Still an error on the next try (the marker keeps what the removed sled store had seen).
    let e = Engine::open(dir, config(fjall())).err().unwrap_or_else(|| panic!("still refused"));
    assert!(matches!(e, idres::EngineError::LostRecords { .. }), "{e:?}");
}
