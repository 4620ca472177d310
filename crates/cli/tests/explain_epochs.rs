//! `idres explain` covers every epoch of a device (issue 14, item 6): by default it says which
//! epoch it explains and lists the others with their profiles; `--epoch N` explains another; each
//! path edge names the kind of the record that made it.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::print_stderr)]

mod common;

use std::path::{Path, PathBuf};

use common::{idres, json_lines, ok};

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures").join(name)
}

#[test]
fn explain_names_the_epoch_lists_the_others_and_explains_any_of_them() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("d");
    // small.ndjson: B is linked to u1 (epoch 0), reset, seen, then identified as u2 (epoch 1).
    let ingested = ok(&data, &["ingest", fixture("small.ndjson").to_str().unwrap()]);
    // (What was skipped is said for people, never as a debug map.)
    assert!(!ingested.contains("skipped {"), "{ingested}");

    let text = ok(&data, &["explain", "--uid", "B"]);
    assert!(text.contains("uid:B#1 is in profile"), "{text}");
    assert!(text.contains("(epoch 1, the current one)"), "{text}");
    assert!(text.contains("made by identify at LSN 9"), "the edge names its record: {text}");
    assert!(text.contains("other epochs of this device"), "{text}");
    let j = &json_lines(&ok(&data, &["explain", "--uid", "B", "--json"]))[0];
    let epochs: Vec<(u64, bool)> = j["epochs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| (e["epoch"].as_u64().unwrap(), e["current"].as_bool().unwrap()))
        .collect();
    assert_eq!(epochs, [(0, false), (1, true)]);
    assert_eq!(j["path"][0]["record"], "identify");
    assert_eq!(j["path"][0]["kind"], "link");
    let u1 = &json_lines(&ok(&data, &["profile", "--cid", "u1", "--json"]))[0];
    assert_eq!(j["epochs"][0]["profile_id"], u1["id"], "epoch 0 stayed with u1");

    let e0 = &json_lines(&ok(&data, &["explain", "--uid", "B", "--epoch", "0", "--json"]))[0];
    assert_eq!(e0["node"], "uid:B#0");
    assert_eq!(e0["profile_id"], u1["id"]);
    assert_eq!(e0["path"][0]["to"], "cid:u1");
    assert_eq!(e0["epochs"], j["epochs"], "every epoch listed whichever is explained");
    let text0 = ok(&data, &["explain", "--uid", "B", "--epoch", "0"]);
    assert!(text0.contains("(epoch 0, the earlier one)"), "{text0}");
    assert!(text0.contains("epoch 1: profile") && text0.contains(", current"), "{text0}");

    // No node at that epoch: not found, saying so; --epoch needs --uid.
    let none = idres(&data, &["explain", "--uid", "B", "--epoch", "7"]);
    assert_ne!(none.code, 0);
    assert!(none.stderr.contains("no device node at epoch 7"), "{}", none.stderr);
    assert_ne!(idres(&data, &["explain", "--cid", "u1", "--epoch", "0"]).code, 0);
    // A merge edge names the merge record.
    let m = tmp.path().join("m");
    let lines = "{\"type\":\"identify\",\"uid\":\"X\",\"cid\":\"c1\"}\n{\"type\":\"identify\",\"uid\":\"Y\",\"cid\":\"c2\"}\n{\"type\":\"merge\",\"from\":\"c1\",\"into\":\"c2\"}\n";
    let f = tmp.path().join("m.ndjson");
    std::fs::write(&f, lines).unwrap();
    ok(&m, &["ingest", f.to_str().unwrap()]);
    let x = &json_lines(&ok(&m, &["explain", "--uid", "X", "--json"]))[0];
    let records: Vec<&str> = x["path"].as_array().unwrap().iter().map(|s| s["record"].as_str().unwrap()).collect();
    assert_eq!(records, ["identify", "merge"]);
}
