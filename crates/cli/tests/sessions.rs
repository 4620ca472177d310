#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::print_stderr)]
//! `idres sessions` and the profile's sessions summary and devices, through the real binary: a
//! session id joined over two devices of a customer, inferred sessions cut by the gap (and by a
//! configured one), the JSON shapes, and the errors.

mod common;

use common::{idres, json_lines, ok};

const LOG: &str = r#"{"type":"event","uid":"A","name":"open","session_id":"s1","ts":"2026-03-01T10:00:00Z"}
{"type":"event","uid":"A","name":"view","session_id":"s1","ts":"2026-03-01T10:20:00Z"}
{"type":"event","uid":"B","name":"view","session_id":"s1","ts":"2026-03-01T10:05:00Z"}
{"type":"event","uid":"A","name":"view","ts":"2026-03-01T12:00:00Z"}
{"type":"event","uid":"A","name":"view","ts":"2026-03-01T12:10:00Z"}
{"type":"event","uid":"A","name":"view","ts":"2026-03-01T13:00:00Z"}
{"type":"identify","uid":"A","cid":"u1"}
{"type":"identify","uid":"B","cid":"u1"}
"#;

fn ingest(config: Option<&str>) -> (tempfile::TempDir, std::path::PathBuf) {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("d");
    let input = tmp.path().join("in.ndjson");
    std::fs::write(&input, LOG).unwrap();
    match config {
        Some(c) => {
            let path = tmp.path().join("rules.toml");
            std::fs::write(&path, c).unwrap();
            ok(&data, &["--config", path.to_str().unwrap(), "ingest", input.to_str().unwrap()]);
        }
        None => {
            ok(&data, &["ingest", input.to_str().unwrap()]);
        }
    }
    (tmp, data)
}

#[test]
fn sessions_list_explicit_and_inferred_ones_by_start() {
    let (_tmp, data) = ingest(None);
    let lines = json_lines(&ok(&data, &["sessions", "--cid", "u1", "--json"]));
    assert_eq!(lines.len(), 3, "s1, then 12:00–12:10 and 13:00 inferred: {lines:?}");
    assert_eq!(lines[0]["id"], "s1");
    assert_eq!(lines[0]["inferred"], false);
    assert_eq!(lines[0]["devices"].as_array().unwrap().len(), 2, "A and B hold s1");
    assert_eq!(
        (lines[0]["start"].as_str(), lines[0]["end"].as_str()),
        (Some("2026-03-01T10:00:00Z"), Some("2026-03-01T10:20:00Z"))
    );
    assert_eq!(lines[0]["events"], 3);
    assert_eq!(lines[0]["length_seconds"], 1200.0);
    assert_eq!((lines[1]["id"].is_null(), &lines[1]["inferred"]), (true, &serde_json::json!(true)));
    assert_eq!(lines[1]["events"], 2);
    assert_eq!(lines[1]["devices"][0]["uid"], "A");
    assert_eq!(lines[2]["start"], "2026-03-01T13:00:00Z");
    // By uid: the same profile. Text: one line a session.
    let text = ok(&data, &["sessions", "--uid", "B"]);
    assert_eq!(text.lines().count(), 3, "{text}");
    assert!(text.lines().next().unwrap().contains("s1"), "{text}");
    assert!(text.contains("(inferred)"), "{text}");
    // The profile's summary and devices.
    let p = &json_lines(&ok(&data, &["profile", "--cid", "u1", "--json"]))[0];
    assert_eq!(p["sessions"]["count"], 3);
    assert_eq!(p["sessions"]["first_start"], "2026-03-01T10:00:00Z");
    assert_eq!(p["sessions"]["last_start"], "2026-03-01T13:00:00Z");
    assert_eq!(p["sessions"]["median_seconds"], 600.0, "lengths 0, 600, 1200 s");
    assert_eq!(p["devices"][0]["uid"], "A");
    assert_eq!(p["devices"][0]["event_count"], 5);
    assert_eq!(p["devices"][1]["first_seen"], "2026-03-01T10:05:00Z");
    let text = ok(&data, &["profile", "--cid", "u1"]);
    assert!(text.contains("sessions") && text.contains("device"), "{text}");
}

#[test]
fn a_configured_gap_changes_the_inferred_sessions_only() {
    let (_tmp, data) = ingest(Some("session_gap_seconds = 3600\n"));
    let lines = json_lines(&ok(&data, &["sessions", "--cid", "u1", "--json"]));
    assert_eq!(lines.len(), 2, "12:00–13:00 is one session under an hour's gap: {lines:?}");
    assert_eq!(lines[1]["events"], 3);
    let (_tmp2, off) = ingest(Some("session_gap_seconds = 0\n"));
    let lines = json_lines(&ok(&off, &["sessions", "--cid", "u1", "--json"]));
    assert_eq!(lines.len(), 1, "no inferring: only s1");
    // The config (its gap) is in the state digest; `verify` agrees with a replay under it.
    let digest = |d: &std::path::Path| {
        let out = ok(d, &["replay", "--from-scratch"]);
        out.lines().find(|l| l.starts_with("digest")).unwrap().to_string()
    };
    let (_tmp3, default) = ingest(None);
    assert_ne!(digest(&data), digest(&default), "the config is in the digest");
    ok(&data, &["verify"]);
}

#[test]
fn unknown_ids_and_missing_flags_are_errors() {
    let (_tmp, data) = ingest(None);
    let r = idres(&data, &["sessions", "--cid", "nobody"]);
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert!(r.stderr.contains("unknown"), "{}", r.stderr);
    let r = idres(&data, &["sessions"]);
    assert_eq!(r.code, 2, "{}", r.stderr);
}
