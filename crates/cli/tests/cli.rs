//! The real `idres` binary, end to end: every command on small fixtures, the JSON shapes, the
//! Segment mapping, bad input with and without `--skip-invalid`, `verify` on a flipped byte, and
//! the demo.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::print_stderr)]

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use common::{idres, idres_stdin, json_lines, ok};
use serde_json::Value as Json;

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures").join(name)
}

fn digest_of(out: &str) -> String {
    out.lines().find_map(|l| l.strip_prefix("digest ")).unwrap_or_else(|| panic!("no digest in {out}")).to_string()
}

/// Appends one more batch (LSN 14, event "late" on Z) after the fixture's.
fn ingest_one_more(tmp: &Path, data: &Path) {
    let more = tmp.join("more.ndjson");
    std::fs::write(&more, "{\"type\":\"event\",\"uid\":\"Z\",\"name\":\"late\"}\n").unwrap();
    ok(data, &["ingest", more.to_str().unwrap()]);
}

/// The log's first segment file.
fn first_segment(data: &Path) -> PathBuf {
    std::fs::read_dir(data.join("log"))
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .find(|p| p.extension().is_some_and(|e| e == "seg"))
        .unwrap()
}

fn ingested(data: &Path) {
    let out = ok(data, &["ingest", fixture("small.ndjson").to_str().unwrap()]);
    assert!(out.contains("14 records appended (LSN 0..=13)"), "{out}");
}

#[test]
fn profile_history_explain_export_rejects_and_stats() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("d");
    ingested(&data);

    let p = &json_lines(&ok(&data, &["profile", "--cid", "u1", "--json"]))[0];
    let keys: Vec<&str> = p.as_object().unwrap().keys().map(String::as_str).collect();
    for k in [
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
    ] {
        assert!(keys.contains(&k), "profile JSON lacks {k}: {p}");
    }
    assert_eq!(p["kind"], "customer");
    assert_eq!(p["primary_cid"], "u1");
    assert_eq!(p["cids"], serde_json::json!(["u1"]));
    assert_eq!(p["uids"], serde_json::json!([{"uid": "B", "epoch": 0}]), "A was unlinked; B#1 belongs to u2");
    assert_eq!(p["attributes"], serde_json::json!({"plan": "pro", "first_source": "ad"}));
    assert_eq!(p["event_count"], 2);
    assert_eq!(p["events_by_name"], serde_json::json!({"app_open": 1, "purchase": 1}));
    assert_eq!(p["first_seen"], "2026-01-02T08:00:00Z");
    assert_eq!(p["last_seen"], "2026-01-03T00:00:01Z");

    // By uid: the current epoch (B#1 is u2's), or a chosen one; by profile id; as of an LSN.
    let b = &json_lines(&ok(&data, &["profile", "--uid", "B", "--json"]))[0];
    assert_eq!(b["primary_cid"], "u2");
    let b0 = &json_lines(&ok(&data, &["profile", "--uid", "B", "--epoch", "0", "--json"]))[0];
    assert_eq!(b0["id"], p["id"]);
    let by_id = &json_lines(&ok(&data, &["profile", "--id", p["id"].as_str().unwrap(), "--json"]))[0];
    assert_eq!(by_id, p);
    let early = &json_lines(&ok(&data, &["profile", "--cid", "u1", "--as-of", "3", "--json"]))[0];
    assert_eq!(early["uids"], serde_json::json!([{"uid": "A", "epoch": 0}]), "after LSN 3 only A was linked");
    assert_eq!(early["event_count"], 2);
    let a = &json_lines(&ok(&data, &["profile", "--uid", "A", "--json"]))[0];
    assert_eq!(a["kind"], "anonymous");
    assert_eq!(a["primary_cid"], Json::Null);
    assert!(ok(&data, &["profile", "--cid", "u1"]).contains("primary    u1"));

    // Not found: exit 1 with a message.
    for args in [&["profile", "--cid", "nobody"][..], &["profile", "--uid", "Z"], &["explain", "--cid", "nobody"]] {
        let r = idres(&data, args);
        assert_eq!(r.code, 1, "{args:?}");
        assert!(r.stderr.contains("unknown"), "{}", r.stderr);
    }

    // History: events in LSN order, with uid + epoch or cid.
    let h = json_lines(&ok(&data, &["history", "--cid", "u1", "--json"]));
    assert_eq!(h.len(), 2);
    assert_eq!(h[0]["lsn"], 3);
    assert_eq!(h[0]["uid"], "B");
    assert_eq!(h[0]["epoch"], 0);
    assert_eq!(h[1]["cid"], "u1");
    assert_eq!(h[1]["name"], "purchase");
    assert_eq!(h[1]["props"], serde_json::json!({"price": 9.99}));
    for e in &h {
        for k in ["lsn", "name", "ts", "session_id", "props"] {
            assert!(e.get(k).is_some(), "history line lacks {k}: {e}");
        }
    }
    let ha = json_lines(&ok(&data, &["history", "--uid", "A", "--json"]));
    assert_eq!(ha.iter().map(|e| e["lsn"].as_u64().unwrap()).collect::<Vec<_>>(), vec![0, 1]);
    assert_eq!(ha[0]["session_id"], "s1");

    // Explain: the path from the node to the primary, and the rejections of an id.
    let e = &json_lines(&ok(&data, &["explain", "--uid", "B", "--json"]))[0];
    assert_eq!(e["node"], "uid:B#1");
    assert_eq!(e["path"][0]["to"], "cid:u2");
    assert_eq!(e["path"][0]["kind"], "link");
    assert_eq!(e["path"][0]["lsn"], 9);
    for k in ["from", "to", "kind", "lsn", "time", "rule"] {
        assert!(e["path"][0].get(k).is_some(), "path step lacks {k}");
    }
    let c = &json_lines(&ok(&data, &["explain", "--uid", "C", "--json"]));
    assert_eq!(c[0]["node"], Json::Null);
    assert_eq!(c[0]["rejections"][0]["reason"], "blocked_value");

    // Export: every profile, sorted by id.
    let all = json_lines(&ok(&data, &["export"]));
    assert_eq!(all.len(), 3, "u1, u2 and the anonymous A");
    let ids: Vec<&str> = all.iter().map(|p| p["id"].as_str().unwrap()).collect();
    let mut sorted = ids.clone();
    sorted.sort_unstable();
    assert_eq!(ids, sorted);

    // Rejects.
    let r = json_lines(&ok(&data, &["rejects", "--json"]));
    assert_eq!(r.len(), 1);
    assert_eq!(r[0]["lsn"], 10);
    assert_eq!(r[0]["kind"], "identify");
    assert_eq!(r[0]["reason"], "blocked_value");
    assert_eq!(r[0]["id"], "C");

    let stats = ok(&data, &["stats"]);
    assert!(stats.contains("records        14"), "{stats}");
    assert!(stats.contains("profiles       3 (2 customers, 1 anonymous)"), "{stats}");
}

#[test]
fn replay_verify_rebuild_agree_and_a_flipped_byte_is_damage() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("d");
    ingested(&data);
    let replay = ok(&data, &["replay"]);
    let scratch = ok(&data, &["replay", "--from-scratch"]);
    assert!(scratch.contains("records 14") && scratch.contains("rejections 1"), "{scratch}");
    assert_eq!(digest_of(&replay), digest_of(&scratch));
    let verify = ok(&data, &["verify"]);
    assert!(verify.contains("verify: ok"), "{verify}");
    assert_eq!(digest_of(&verify), digest_of(&scratch));
    let rebuilt = ok(&data, &["rebuild"]);
    assert!(rebuilt.contains("14 records"), "{rebuilt}");
    assert_eq!(digest_of(&ok(&data, &["replay"])), digest_of(&scratch));

    // Flip one byte inside the first frame's payload: verify names the segment and offset, exit 3.
    let seg = first_segment(&data);
    let mut bytes = std::fs::read(&seg).unwrap();
    bytes[64 + 24 + 40] ^= 0x20;
    std::fs::write(&seg, &bytes).unwrap();
    let r = idres(&data, &["verify"]);
    assert_eq!(r.code, 3, "{}", r.stdout);
    assert!(r.stderr.contains(seg.file_name().unwrap().to_str().unwrap()), "names the segment: {}", r.stderr);
    assert!(r.stderr.contains("offset") || r.stderr.contains("byte"), "names the offset: {}", r.stderr);
    // Every other command meets the damage with exit 3 and no panic, and changes nothing: the
    // damaged frame held acknowledged records, so it is not cut as a torn tail, and rebuild
    // keeps the snapshots and the store that prove it.
    for args in [&["profile", "--cid", "u1"][..], &["rebuild"], &["ingest", fixture("small.ndjson").to_str().unwrap()]]
    {
        let r = idres(&data, args);
        assert_eq!(r.code, 3, "{args:?}");
        assert!(r.stderr.contains("lost"), "{}", r.stderr);
        assert!(!r.stderr.contains("panicked"), "{}", r.stderr);
    }
    assert_eq!(std::fs::read(&seg).unwrap(), bytes, "nothing changed the damaged segment");
    assert!(std::fs::read_dir(data.join("snapshots")).unwrap().count() > 0, "the snapshots are kept");
}

#[test]
fn a_snapshot_of_another_layout_version_is_not_damage() {
    // A data directory from an older build: its snapshot says layout version 1. verify notes it
    // and passes; opening ignores it and replays the log.
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("d");
    ingested(&data);
    let digest = digest_of(&ok(&data, &["verify"]));
    let snaps: Vec<PathBuf> = std::fs::read_dir(data.join("snapshots")).unwrap().map(|e| e.unwrap().path()).collect();
    assert!(!snaps.is_empty());
    for snap in &snaps {
        let mut bytes = std::fs::read(snap).unwrap();
        // The fold's snapshot follows the file's header (the log's id).
        let h = idres::snapshot_file::SNAPSHOT_FILE_HEADER_BYTES;
        bytes[h + 8..h + 10].copy_from_slice(&1u16.to_le_bytes());
        let crc = crc32c::crc32c(&bytes[h..h + 68]);
        bytes[h + 68..h + 72].copy_from_slice(&crc.to_le_bytes());
        std::fs::write(snap, &bytes).unwrap();
    }
    let verify = ok(&data, &["verify"]);
    assert!(verify.contains("written by another build") && verify.contains("verify: ok"), "{verify}");
    assert_eq!(digest_of(&verify), digest);
    assert_eq!(digest_of(&ok(&data, &["replay"])), digest);
}

#[test]
fn damage_before_the_last_frame_is_named_by_verify() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("d");
    ingested(&data);
    ingest_one_more(tmp.path(), &data);
    let seg = first_segment(&data);
    let mut bytes = std::fs::read(&seg).unwrap();
    bytes[64 + 24 + 10] ^= 0x01; // inside the first of two frames
    std::fs::write(&seg, &bytes).unwrap();
    let r = idres(&data, &["verify"]);
    assert_eq!(r.code, 3);
    assert!(r.stderr.contains("at byte offset 64"), "names the frame's offset: {}", r.stderr);
    assert!(r.stderr.contains(seg.file_name().unwrap().to_str().unwrap()), "{}", r.stderr);
    assert_eq!(idres(&data, &["replay", "--from-scratch"]).code, 3);
    assert_eq!(std::fs::read(&seg).unwrap(), bytes, "verify and replay change nothing");
}

#[test]
fn repair_cuts_the_log_and_the_directory_opens_again() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("d");
    ingested(&data);
    // One more batch, so that there is a batch boundary to cut at (LSN 13 ends the first).
    ingest_one_more(tmp.path(), &data);
    assert!(ok(&data, &["stats"]).contains("records        15"));
    ok(&data, &["repair", "--truncate-after", "13"]);
    assert!(ok(&data, &["stats"]).contains("records        14"));
    assert_eq!(idres(&data, &["profile", "--uid", "Z"]).code, 1, "the cut record is gone");
    assert!(ok(&data, &["verify"]).contains("verify: ok"));
}

#[test]
fn segment_spec_maps_every_call_type() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("d");
    let out = ok(&data, &["ingest", "--format", "segment", fixture("segment.ndjson").to_str().unwrap()]);
    // 10 lines: the group and the identify with neither userId nor traits are skipped.
    assert!(out.contains("10 lines, 8 records appended"), "{out}");
    assert!(out.contains("2 skipped"), "{out}");
    let u = &json_lines(&ok(&data, &["profile", "--cid", "user-1", "--json"]))[0];
    // anon-1 (identify) and anon-2 (alias) joined user-1; their page / screen / track events too.
    assert_eq!(u["uids"], serde_json::json!([{"uid": "anon-1", "epoch": 0}, {"uid": "anon-2", "epoch": 0}]));
    assert_eq!(u["events_by_name"], serde_json::json!({"page": 1, "screen": 1, "Signed Up": 1, "Order Completed": 1}));
    assert_eq!(u["attributes"]["email"], "a@example.com");
    assert_eq!(u["attributes"]["theme"], "dark", "an anonymous identify's traits are attributes of the device");
    let page = json_lines(&ok(&data, &["history", "--uid", "anon-1", "--json"]));
    assert_eq!(page[0]["name"], "page");
    assert_eq!(page[0]["props"], serde_json::json!({"path": "/", "name": "Home"}));
    assert_eq!(page[0]["ts"], "2026-01-01T00:00:00Z");
    // anon-2 joined user-1 by the alias: its history is the profile's.
    let history = json_lines(&ok(&data, &["history", "--uid", "anon-2", "--json"]));
    let screen = history.iter().find(|e| e["name"] == "screen").unwrap();
    assert_eq!(screen["ts"], "2026-01-01T00:00:01Z", "originalTimestamp when there is no timestamp");
    assert_eq!(screen["uid"], "anon-2");
    assert_eq!(screen["props"], serde_json::json!({"name": "Main"}));
    // A numeric userId is its decimal text.
    let n = &json_lines(&ok(&data, &["profile", "--cid", "12345", "--json"]))[0];
    assert_eq!(n["attributes"]["vip"], true);
}

#[test]
fn a_bad_line_refuses_its_file_and_keeps_what_came_before() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("d");
    ingested(&data);
    let cases: &[(&str, &str)] = &[
        ("{\"type\":\"event\",\"uid\":\"A\"", "malformed JSON"),
        ("{\"type\":\"event\",\"uid\":7,\"name\":\"v\"}", "must be a string"),
        ("{\"type\":\"login\",\"uid\":\"A\"}", "unknown record type"),
        ("{\"type\":\"event\",\"uid\":\"A\",\"name\":\"v\",\"props\":{\"k\":18446744073709551615}}", "out of range"),
        ("{\"type\":\"reset\",\"uid\":\"\u{7f}x\"}", "uid"),
        ("{\"type\":\"event\",\"uid\":\"A\",\"name\":\"LONG\"}", "name"),
    ];
    for (i, (line, why)) in cases.iter().enumerate() {
        let line = line.replace("LONG", &"n".repeat(200));
        let file = tmp.path().join(format!("bad{i}.ndjson"));
        std::fs::write(&file, format!("{{\"type\":\"event\",\"uid\":\"Q\",\"name\":\"ok\"}}\n\n{line}\n")).unwrap();
        let r = idres(&data, &["ingest", file.to_str().unwrap()]);
        assert_eq!(r.code, 2, "{line}");
        assert!(r.stderr.contains(&format!("bad{i}.ndjson:3: ")), "FILE:LINE: {}", r.stderr);
        assert!(r.stderr.contains(why), "{why}: {}", r.stderr);
        assert!(ok(&data, &["stats"]).contains("records        14"), "nothing from the bad file was appended");
    }
    // Bad UTF-8.
    let file = tmp.path().join("utf8.ndjson");
    std::fs::write(&file, b"{\"type\":\"reset\",\"uid\":\"\xff\"}\n").unwrap();
    let r = idres(&data, &["ingest", file.to_str().unwrap()]);
    assert_eq!(r.code, 2);
    assert!(r.stderr.contains("UTF-8"), "{}", r.stderr);
    // Several files: the good one before the bad one stays appended, and the message says so.
    let good = tmp.path().join("good.ndjson");
    std::fs::write(&good, "{\"type\":\"event\",\"uid\":\"G\",\"name\":\"ok\"}\n").unwrap();
    let r = idres(&data, &["ingest", good.to_str().unwrap(), file.to_str().unwrap()]);
    assert_eq!(r.code, 2);
    assert!(r.stderr.contains("stay appended"), "{}", r.stderr);
    assert!(ok(&data, &["stats"]).contains("records        15"));
    // A blocked id is not a bad line: the fold rejects it, visible in rejects.
    let blocked = tmp.path().join("blocked.ndjson");
    std::fs::write(&blocked, "{\"type\":\"identify\",\"uid\":\"H\",\"cid\":\"undefined\"}\n").unwrap();
    ok(&data, &["ingest", blocked.to_str().unwrap()]);
    assert_eq!(json_lines(&ok(&data, &["rejects", "--json"])).len(), 2);
}

#[test]
fn skip_invalid_quarantines_bad_lines_and_appends_the_rest() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("d");
    let input = "{\"type\":\"event\",\"uid\":\"A\",\"name\":\"one\"}\nnot json\n{\"type\":\"event\",\"uid\":\"A\",\"name\":\"two\"}\n{\"type\":\"nope\"}\n";
    let file = tmp.path().join("mixed.ndjson");
    std::fs::write(&file, input).unwrap();
    let out = ok(&data, &["ingest", "--skip-invalid", file.to_str().unwrap()]);
    assert!(out.contains("2 records appended") && out.contains("2 quarantined"), "{out}");
    let q = json_lines(&std::fs::read_to_string(data.join("quarantine/mixed.ndjson.rejected.ndjson")).unwrap());
    assert_eq!(q.iter().map(|l| l["line"].as_u64().unwrap()).collect::<Vec<_>>(), vec![2, 4]);
    assert!(q[0]["reason"].as_str().unwrap().contains("malformed JSON"));
    assert_eq!(q[1]["text"], "{\"type\":\"nope\"}");
    let h = json_lines(&ok(&data, &["history", "--uid", "A", "--json"]));
    assert_eq!(h.iter().map(|e| e["name"].as_str().unwrap()).collect::<Vec<_>>(), vec!["one", "two"]);
    // stdin, with its own quarantine file.
    let r = idres_stdin(
        &data,
        &["ingest", "--skip-invalid", "-"],
        Some(b"{\"type\":\"event\",\"uid\":\"S\",\"name\":\"x\"}\n{]\n"),
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(data.join("quarantine/stdin.rejected.ndjson").exists());
    assert!(ok(&data, &["stats"]).contains("records        3"));
}

#[test]
fn the_store_backend_is_one_config_value_and_a_switch_says_so() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("d");
    ingested(&data);
    let backend = || std::fs::read_to_string(data.join("store-backend")).unwrap();
    assert_eq!(backend(), "fjall\n", "fjall is the default");
    let profile = ok(&data, &["profile", "--cid", "u2"]);
    let config = tmp.path().join("sled.toml");
    std::fs::write(&config, "store = \"sled\"\n").unwrap();
    let r = idres(&data, &["--config", config.to_str().unwrap(), "profile", "--cid", "u2"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(
        r.stderr.contains("the store was written by fjall, and this engine's store is sled: rebuilding it"),
        "{}",
        r.stderr
    );
    assert_eq!(r.stdout, profile, "the same profile from the rebuilt store");
    assert_eq!(backend(), "sled\n");
    // Recorded with the config: the next command keeps sled, rebuilding nothing.
    let r = idres(&data, &["stats"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(!r.stderr.contains("rebuilding"), "{}", r.stderr);
    assert_eq!(backend(), "sled\n");
    // Not a store: refused, exit 2, nothing changed.
    std::fs::write(&config, "store = \"rocksdb\"\n").unwrap();
    let r = idres(&data, &["--config", config.to_str().unwrap(), "stats"]);
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(r.stderr.contains("store must be \"fjall\" or \"sled\""), "{}", r.stderr);
    assert_eq!(backend(), "sled\n");
}

#[test]
fn a_config_file_is_recorded_and_a_rule_change_replays_history() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("d");
    ingested(&data);
    assert_eq!(json_lines(&ok(&data, &["rejects", "--json"])).len(), 1);
    let config = tmp.path().join("rules.toml");
    std::fs::write(&config, "[blocked]\nexact = [\"u2\"]\n").unwrap();
    let r = json_lines(&ok(&data, &["--config", config.to_str().unwrap(), "rejects", "--json"]));
    assert!(r.len() > 1, "u2 is blocked now, in history too: {r:?}");
    // Recorded: the next command without --config uses it.
    assert_eq!(json_lines(&ok(&data, &["rejects", "--json"])).len(), r.len());
    assert_eq!(idres(&data, &["profile", "--cid", "u2"]).code, 1);
    let bad = tmp.path().join("bad.toml");
    std::fs::write(&bad, "on_cid_conflict = \"sometimes\"\n").unwrap();
    assert_eq!(idres(&data, &["--config", bad.to_str().unwrap(), "stats"]).code, 2);
}

#[test]
fn gen_is_seeded_and_the_demo_runs_end_to_end() {
    let tmp = tempfile::tempdir().unwrap();
    let a = tmp.path().join("a.ndjson");
    let b = tmp.path().join("b.ndjson");
    let data = tmp.path().join("unused");
    ok(&data, &["gen", "--records", "3000", "--seed", "7", "--out", a.to_str().unwrap()]);
    ok(&data, &["gen", "--records", "3000", "--seed", "7", "--out", b.to_str().unwrap()]);
    let bytes = std::fs::read(&a).unwrap();
    assert_eq!(bytes, std::fs::read(&b).unwrap(), "same seed, same bytes");
    assert_eq!(bytes.iter().filter(|&&c| c == b'\n').count(), 3000);
    // Everything gen writes is valid native input.
    let gdata = tmp.path().join("g");
    assert!(ok(&gdata, &["ingest", a.to_str().unwrap()]).contains("3000 records appended"));

    let demo = tmp.path().join("demo");
    let out = ok(&demo, &["demo", "--records", "5000", "--seed", "3"]);
    for want in
        ["profiles", "customers", "anonymous", "implicit resets", "rejections", "one multi-device customer", "digest "]
    {
        assert!(out.contains(want), "demo output lacks {want:?}:\n{out}");
    }
    // The demo's data is a normal data directory: its digest replays from scratch.
    assert_eq!(digest_of(&out), digest_of(&ok(&demo, &["replay", "--from-scratch"])));
    // Run again: the demo replaces its own directory, and is deterministic.
    assert_eq!(digest_of(&ok(&demo, &["demo", "--records", "5000", "--seed", "3"])), digest_of(&out));
    // It never replaces a directory it did not make.
    let r = idres(&gdata, &["demo", "--records", "100"]);
    assert_eq!(r.code, 2);
    assert!(gdata.join("log").exists());
}

#[test]
fn a_closed_output_pipe_ends_quietly() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("d");
    ok(&data, &["demo", "--records", "3000"]);
    for args in [&["export"][..], &["verify"], &["replay", "--from-scratch"]] {
        let mut child = Command::new(env!("CARGO_BIN_EXE_idres"))
            .arg("--data")
            .arg(&data)
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        drop(child.stdout.take()); // the reader goes away before the first line
        let out = child.wait_with_output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(0), "{args:?}: {stderr}");
        assert!(!stderr.contains("panicked"), "{stderr}");
    }
}

#[test]
fn quarantine_keeps_the_bad_lines_of_two_files_of_one_name() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("d");
    for dir in ["a", "b"] {
        std::fs::create_dir_all(tmp.path().join(dir)).unwrap();
        std::fs::write(
            tmp.path().join(dir).join("day.ndjson"),
            format!("{{\"type\":\"event\",\"uid\":\"{dir}\",\"name\":\"ok\"}}\nbad {dir}\n"),
        )
        .unwrap();
    }
    let (a, b) = (tmp.path().join("a/day.ndjson"), tmp.path().join("b/day.ndjson"));
    ok(&data, &["ingest", "--skip-invalid", a.to_str().unwrap(), b.to_str().unwrap()]);
    let q = json_lines(&std::fs::read_to_string(data.join("quarantine/day.ndjson.rejected.ndjson")).unwrap());
    assert_eq!(q.len(), 2, "{q:?}");
    assert_eq!(q[0]["text"], "bad a");
    assert_eq!(q[1]["text"], "bad b");
}

#[test]
fn an_audit_under_a_trial_config_records_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("d");
    ingested(&data);
    let config = tmp.path().join("trial.toml");
    std::fs::write(&config, "[blocked]\nexact = [\"u2\"]\n").unwrap();
    let scratch = ok(&data, &["--config", config.to_str().unwrap(), "replay", "--from-scratch"]);
    assert!(
        scratch.contains("rejections 3") || !scratch.contains("rejections 1"),
        "the trial rules applied: {scratch}"
    );
    assert!(!data.join("config.toml").exists(), "an audit records no config");
    assert_eq!(json_lines(&ok(&data, &["rejects", "--json"])).len(), 1, "the recorded (default) rules still apply");
}

/// Past `REJECTIONS_KEPT_MAX` rejected records, `rejects`, `explain` and `stats` say how many
/// older ones the fold no longer keeps (docs/SEMANTICS.md, "Rejections kept").
#[test]
fn rejects_explain_and_stats_report_forgotten_rejections() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("d");
    let file = tmp.path().join("blocked.ndjson");
    let kept = idres_resolve::REJECTIONS_KEPT_MAX;
    let mut lines = String::new();
    for i in 0..kept + 3 {
        let uid = if i < 3 { "early" } else { "H" };
        lines.push_str(&format!("{{\"type\":\"identify\",\"uid\":\"{uid}\",\"cid\":\"null\"}}\n"));
    }
    std::fs::write(&file, lines).unwrap();
    ok(&data, &["ingest", file.to_str().unwrap()]);
    let text = ok(&data, &["rejects"]);
    let first = text.lines().next().unwrap();
    assert_eq!(first, format!("3 older rejections not kept (REJECTIONS_KEPT_MAX = {kept}): blocked_value 3"));
    assert!(text.lines().nth(1).is_some_and(|h| h.split_whitespace().eq(["LSN", "RECORD", "REASON", "WHY"])));
    assert_eq!(text.lines().count(), kept + 2, "the forgotten line, a header, one line a rejection");
    let j = json_lines(&ok(&data, &["rejects", "--json"]));
    assert_eq!(j.len(), kept + 1);
    assert_eq!(
        j[0],
        serde_json::json!({"rejections_forgotten": {"count": 3, "newest_lsn": 2, "by_reason": {"blocked_value": 3}, "kept_max": kept}})
    );
    assert_eq!(j[1]["lsn"], 3);
    // `early` was named only by forgotten rejections: explained, not unknown.
    let e = &json_lines(&ok(&data, &["explain", "--uid", "early", "--json"]))[0];
    assert_eq!(e["rejections_forgotten"]["count"], 3);
    assert_eq!(e["rejections"], serde_json::json!([]));
    assert!(ok(&data, &["explain", "--uid", "early"]).contains("3 older rejections (LSN 2 and before) were forgotten"));
    let stats = ok(&data, &["stats"]);
    assert!(stats.contains(&format!("rejections     {}", kept + 3)), "{stats}");
    assert!(stats.contains("3 older ones not kept"), "{stats}");
}
