#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::print_stderr)]
//! One implementation of the read side's JSON shapes: what an embedding service gets by
//! serialising the crate's `Profile`, `HistoryEvent` and `Explanation` with serde_json is, byte
//! for byte, what the real binary prints with `--json` for the same data directory.

mod common;

use std::path::{Path, PathBuf};

use common::ok;
use idres::{Engine, EngineConfig};

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures").join(name)
}

#[test]
fn the_crates_serialize_is_the_clis_json() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("d");
    ok(&data, &["ingest", fixture("small.ndjson").to_str().unwrap()]);
    // Ids with a profile, and one whose only record was rejected (explain only).
    let ids = [("--cid", "u1"), ("--cid", "u2"), ("--uid", "A"), ("--uid", "B")];
    // What the binary prints, before the crate opens the directory (it takes the writer's lock).
    let printed: Vec<[String; 3]> = ids
        .iter()
        .map(|&(flag, id)| ["profile", "history", "explain"].map(|command| ok(&data, &[command, flag, id, "--json"])))
        .collect();
    let explain_c = ok(&data, &["explain", "--uid", "C", "--json"]);
    let engine = Engine::open(&data, EngineConfig::default()).unwrap();
    for (&(flag, id), [profile, history, explain]) in ids.iter().zip(&printed) {
        let p = match flag {
            "--cid" => engine.profile_by_cid(id).unwrap(),
            _ => engine.profile_by_uid(id).unwrap(),
        }
        .unwrap_or_else(|| panic!("no profile for {flag} {id}"));
        assert_eq!(format!("{}\n", serde_json::to_string(&p).unwrap()), *profile, "profile {flag} {id}");
        let events: String = engine
            .history_events(&p)
            .unwrap()
            .iter()
            .map(|e| format!("{}\n", serde_json::to_string(e).unwrap()))
            .collect();
        assert_eq!(events, *history, "history {flag} {id}");
        let e = match flag {
            "--cid" => engine.explain_cid(id).unwrap(),
            _ => engine.explain_uid(id).unwrap(),
        }
        .unwrap();
        assert_eq!(format!("{}\n", serde_json::to_string(&e).unwrap()), *explain, "explain {flag} {id}");
    }
    let c = engine.explain_uid("C").unwrap().unwrap();
    assert!(!c.rejections.is_empty(), "C's identify was rejected");
    assert_eq!(format!("{}\n", serde_json::to_string(&c).unwrap()), explain_c);
    assert!(printed.iter().any(|[_, h, _]| h.lines().count() >= 2), "some history has events");
    // The shapes are the documented ones (key order included), not whatever serde derives.
    let p = engine.profile_by_cid("u1").unwrap().unwrap();
    let keys: Vec<String> = serde_json::to_value(&p).unwrap().as_object().unwrap().keys().cloned().collect();
    assert_eq!(
        keys,
        [
            "id",
            "kind",
            "primary_cid",
            "cids",
            "uids",
            "attributes",
            "event_count",
            "events_by_name",
            "first_seen",
            "last_seen",
            "system_event_count",
            "sessions",
            "devices"
        ]
    );
    let device_keys: Vec<String> =
        serde_json::to_value(&p).unwrap()["devices"][0].as_object().unwrap().keys().cloned().collect();
    assert_eq!(device_keys, ["uid", "epoch", "first_seen", "last_seen", "event_count", "system_attributes"]);
    let session_keys: Vec<String> =
        serde_json::to_value(&p).unwrap()["sessions"].as_object().unwrap().keys().cloned().collect();
    assert_eq!(session_keys, ["count", "first_start", "last_start", "median_seconds"]);
}
