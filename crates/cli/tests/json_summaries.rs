//! `--json` summaries (issue 14, item 4): `stats --json`, `replay --json` (from the engine and
//! from scratch), `rebuild --json`, `ingest --json` and `verify --json` print one JSON object of the documented shape, agreeing with
//! the text output (and verify with its exit code).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::print_stderr)]

mod common;

use std::path::{Path, PathBuf};

use common::{json_lines, ok};

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures").join(name)
}

fn keys(j: &serde_json::Value) -> Vec<String> {
    j.as_object().unwrap().keys().cloned().collect()
}

#[test]
fn stats_and_replay_print_their_documented_json_shapes() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("d");
    ok(&data, &["ingest", fixture("small.ndjson").to_str().unwrap()]);

    let stats = json_lines(&ok(&data, &["stats", "--json"]));
    assert_eq!(stats.len(), 1, "one object");
    let s = &stats[0];
    assert_eq!(
        keys(s),
        [
            "records",
            "first_lsn",
            "last_lsn",
            "profiles",
            "customers",
            "anonymous",
            "rejections",
            "rejections_forgotten",
            "log_bytes",
            "snapshots",
            "snapshot_bytes",
            "store_bytes",
            "store_read",
            "store_last_lsn"
        ]
    );
    assert_eq!((s["records"].as_u64(), s["first_lsn"].as_u64(), s["last_lsn"].as_u64()), (Some(14), Some(0), Some(13)));
    let text = ok(&data, &["stats"]);
    assert!(text.contains(&format!("profiles       {} (", s["profiles"])), "{text}");
    assert_eq!(s["customers"].as_u64().unwrap() + s["anonymous"].as_u64().unwrap(), s["profiles"].as_u64().unwrap());
    assert!(s["log_bytes"].as_u64().unwrap() > 0);
    assert_eq!(s["store_read"], true);
    assert_eq!(s["store_last_lsn"].as_u64(), Some(13));

    let replay_keys = ["records", "first_lsn", "last_lsn", "profiles", "rejections", "rejections_forgotten", "digest"];
    let engine_replay = &json_lines(&ok(&data, &["replay", "--json"]))[0];
    let scratch = &json_lines(&ok(&data, &["replay", "--from-scratch", "--json"]))[0];
    for r in [engine_replay, scratch] {
        assert_eq!(keys(r), replay_keys);
        assert_eq!(r["records"].as_u64(), Some(14));
        assert_eq!(r["last_lsn"].as_u64(), Some(13));
        assert_eq!(r["profiles"], s["profiles"]);
    }
    assert_eq!(engine_replay["digest"], scratch["digest"], "one fold, one digest");
    let text = ok(&data, &["replay"]);
    assert!(text.contains(&format!("digest {}", scratch["digest"].as_str().unwrap())), "{text}");

    let rb = &json_lines(&ok(&data, &["rebuild", "--json"]))[0];
    assert_eq!(
        keys(rb),
        ["records", "profiles", "snapshot_lsn", "store_profiles_written", "store_keys_written", "seconds", "events"]
    );
    assert_eq!((rb["records"].as_u64(), rb["profiles"].clone()), (Some(14), s["profiles"].clone()));
    assert!(rb["store_profiles_written"].as_u64().unwrap() > 0);
    let v = &json_lines(&ok(&data, &["verify", "--json"]))[0];
    assert_eq!(
        keys(v),
        ["ok", "segments", "frames", "first_lsn", "last_lsn", "records", "digest", "notes", "problems"]
    );
    assert_eq!((v["ok"].as_bool(), v["records"].as_u64(), v["last_lsn"].as_u64()), (Some(true), Some(14), Some(13)));
    assert_eq!(v["digest"], scratch["digest"]);
    assert!(v["problems"].as_array().unwrap().is_empty());
    // A flipped byte in the log: the same exit code as the text report, and the problem in the object.
    let seg = std::fs::read_dir(data.join("log"))
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .find(|p| p.extension().is_some_and(|e| e == "seg"))
        .unwrap();
    let mut bytes = std::fs::read(&seg).unwrap();
    let at = bytes.iter().rposition(|&b| b != 0).unwrap() - 8;
    bytes[at] ^= 0x40;
    std::fs::write(&seg, bytes).unwrap();
    let bad = common::idres(&data, &["verify", "--json"]);
    assert_eq!(bad.code, 3, "{}", bad.stderr);
    let b = &json_lines(&bad.stdout)[0];
    assert_eq!(b["ok"], false);
    assert!(!b["problems"].as_array().unwrap().is_empty(), "{b}");

    // ingest --json: one object, the files in it; `created` names a directory it made.
    let fresh = tmp.path().join("f");
    let i = &json_lines(&ok(&fresh, &["ingest", "--json", fixture("small.ndjson").to_str().unwrap()]))[0];
    assert_eq!(
        keys(i),
        [
            "created",
            "files",
            "lines",
            "records",
            "skipped",
            "quarantined",
            "seconds",
            "log_records",
            "profiles",
            "rejections"
        ]
    );
    assert_eq!(i["created"].as_str(), Some(fresh.to_str().unwrap()));
    let f = &i["files"][0];
    assert_eq!(
        keys(f),
        [
            "file",
            "lines",
            "records",
            "first_lsn",
            "last_lsn",
            "skipped",
            "quarantined",
            "resumed_after_line",
            "already_in"
        ]
    );
    assert_eq!((f["resumed_after_line"].is_null(), f["already_in"].as_bool()), (true, Some(false)));
    assert_eq!((f["records"].as_u64(), f["first_lsn"].as_u64(), f["last_lsn"].as_u64()), (Some(14), Some(0), Some(13)));
    let again = &json_lines(&ok(&fresh, &["ingest", "--json", fixture("small.ndjson").to_str().unwrap()]))[0];
    assert!(again["created"].is_null(), "an existing directory is not created");
    assert_eq!((again["files"][0]["first_lsn"].as_u64(), again["log_records"].as_u64()), (Some(14), Some(28)));

    // An empty log: nulls, not made-up LSNs.
    let empty = tmp.path().join("e");
    let blank = tmp.path().join("blank.ndjson");
    std::fs::write(&blank, "\n").unwrap();
    ok(&empty, &["ingest", blank.to_str().unwrap()]);
    let e = &json_lines(&ok(&empty, &["stats", "--json"]))[0];
    assert_eq!((e["records"].as_u64(), e["first_lsn"].is_null(), e["last_lsn"].is_null()), (Some(0), true, true));
}
