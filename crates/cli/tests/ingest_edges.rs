//! The real `idres` binary on the edges of `ingest`: numbers as ids, lines past the line limit,
//! what errors and quarantine files reveal of an id, and a data directory that is not one.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::print_stderr)]

mod common;

use std::path::Path;
use std::process::{Command, Stdio};

use common::{idres, json_lines, ok};
use serde_json::Value as Json;

fn records(data: &Path) -> String {
    ok(data, &["stats"]).lines().find(|l| l.starts_with("records")).unwrap().to_string()
}

#[test]
fn segment_numeric_user_ids_past_64_bits_stay_two_customers() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("d");
    let file = tmp.path().join("big.ndjson");
    std::fs::write(
        &file,
        "{\"type\":\"identify\",\"userId\":123456789012345678901234,\"traits\":{\"n\":1}}\n\
         {\"type\":\"identify\",\"userId\":123456789012345678901235,\"traits\":{\"n\":2}}\n\
         {\"type\":\"identify\",\"userId\":-0,\"traits\":{\"n\":3}}\n",
    )
    .unwrap();
    ok(&data, &["ingest", "--format", "segment", file.to_str().unwrap()]);
    for (cid, n) in [("123456789012345678901234", 1), ("123456789012345678901235", 2), ("-0", 3)] {
        let p = &json_lines(&ok(&data, &["profile", &format!("--cid={cid}"), "--json"]))[0];
        assert_eq!(p["cids"], serde_json::json!([cid]));
        assert_eq!(p["attributes"]["n"], n);
    }
}

#[test]
fn segment_numeric_ids_with_a_fraction_or_exponent_are_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("d");
    for (i, id) in ["12345.0", "1e3", "-2.5E-7"].iter().enumerate() {
        let file = tmp.path().join(format!("f{i}.ndjson"));
        std::fs::write(&file, format!("{{\"type\":\"track\",\"userId\":{id},\"event\":\"x\"}}\n")).unwrap();
        let r = idres(&data, &["ingest", "--format", "segment", file.to_str().unwrap()]);
        assert_eq!(r.code, 2, "{id}: {}", r.stdout);
        assert!(r.stderr.contains(&format!("f{i}.ndjson:1: userId {id}")), "{}", r.stderr);
        assert!(r.stderr.contains("fraction or exponent"), "{}", r.stderr);
    }
}

#[test]
fn property_integers_past_64_bits_are_refused_not_rounded() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("d");
    for (i, line) in [
        "{\"type\":\"event\",\"uid\":\"A\",\"name\":\"v\",\"props\":{\"k\":123456789012345678901234}}",
        "{\"type\":\"event\",\"uid\":\"A\",\"name\":\"v\",\"props\":{\"k\":[{\"d\":-99999999999999999999}]}}",
    ]
    .iter()
    .enumerate()
    {
        let file = tmp.path().join(format!("p{i}.ndjson"));
        std::fs::write(&file, format!("{line}\n")).unwrap();
        let r = idres(&data, &["ingest", file.to_str().unwrap()]);
        assert_eq!(r.code, 2, "{line}: {}", r.stdout);
        assert!(r.stderr.contains(&format!("p{i}.ndjson:1: props: integer")), "{}", r.stderr);
    }
    // Floats stay floats, integers integers.
    let file = tmp.path().join("fine.ndjson");
    std::fs::write(
        &file,
        "{\"type\":\"attributes\",\"uid\":\"A\",\"set\":{\"f\":12345.0,\"e\":1e3,\"i\":-9223372036854775808}}\n",
    )
    .unwrap();
    ok(&data, &["ingest", file.to_str().unwrap()]);
    let p = &json_lines(&ok(&data, &["profile", "--uid", "A", "--json"]))[0];
    assert_eq!(p["attributes"]["f"].as_f64(), Some(12345.0));
    assert!(p["attributes"]["f"].is_f64());
    assert_eq!(p["attributes"]["e"].as_f64(), Some(1000.0));
    assert_eq!(p["attributes"]["i"].as_i64(), Some(i64::MIN));
}

/// A line of 8 MiB: past the line limit.
fn long_line() -> String {
    format!("{{\"type\":\"event\",\"uid\":\"A\",\"name\":\"v\",\"props\":{{\"k\":\"{}\"}}}}", "x".repeat(8 << 20))
}

#[test]
fn a_line_past_the_line_limit_is_refused_with_its_number() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("d");
    let file = tmp.path().join("long.ndjson");
    std::fs::write(&file, format!("{{\"type\":\"event\",\"uid\":\"A\",\"name\":\"v\"}}\n{}\n", long_line())).unwrap();
    let r = idres(&data, &["ingest", file.to_str().unwrap()]);
    assert_eq!(r.code, 2);
    assert!(r.stderr.contains("long.ndjson:2: line longer than 4194304 bytes"), "{}", r.stderr);
    assert!(r.stderr.len() < 500, "the message does not repeat the line: {} bytes", r.stderr.len());
}

#[test]
fn skip_invalid_quarantines_a_line_past_the_limit_by_number_and_length() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("d");
    let file = tmp.path().join("long.ndjson");
    let long = long_line();
    std::fs::write(
        &file,
        format!(
            "{{\"type\":\"event\",\"uid\":\"A\",\"name\":\"one\"}}\n{long}\n{{\"type\":\"event\",\"uid\":\"A\",\"name\":\"two\"}}\n"
        ),
    )
    .unwrap();
    let out = ok(&data, &["ingest", "--skip-invalid", file.to_str().unwrap()]);
    assert!(out.contains("2 records appended") && out.contains("1 quarantined"), "{out}");
    let q = json_lines(&std::fs::read_to_string(data.join("quarantine/long.ndjson.rejected.ndjson")).unwrap());
    assert_eq!(q.len(), 1);
    assert_eq!(q[0]["line"], 2);
    assert_eq!(q[0]["bytes"], long.len());
    assert_eq!(q[0]["text"], Json::Null, "the line itself is not kept");
    assert!(q[0]["reason"].as_str().unwrap().contains("line longer than"));
    assert_eq!(records(&data), "records        2 (LSN 0..=1)");
}

#[test]
fn stdin_is_spooled_to_disk_not_memory_and_the_spool_is_removed() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("d");
    let input = format!(
        "{{\"type\":\"event\",\"uid\":\"A\",\"name\":\"one\"}}\n{}\n{{\"type\":\"event\",\"uid\":\"A\",\"name\":\"two\"}}\n",
        long_line()
    );
    let mut child = Command::new(env!("CARGO_BIN_EXE_idres"))
        .arg("--data")
        .arg(&data)
        .args(["ingest", "--skip-invalid", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    {
        use std::io::Write;
        child.stdin.take().unwrap().write_all(input.as_bytes()).unwrap();
    }
    let out = child.wait_with_output().unwrap();
    let stdout = String::from_utf8(out.stdout).unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(stdout.contains("stdin: 3 lines, 2 records appended") && stdout.contains("1 quarantined"), "{stdout}");
    let q = json_lines(&std::fs::read_to_string(data.join("quarantine/stdin.rejected.ndjson")).unwrap());
    assert_eq!((q[0]["line"].as_u64(), q[0]["text"].is_null()), (Some(2), true));
    assert!(!data.join("stdin.ingest.tmp").exists(), "the spool is removed");
}

#[test]
fn an_id_error_shows_a_short_escaped_prefix_of_the_id() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("d");
    // A data directory (an empty one), for the read commands below.
    let empty = tmp.path().join("empty.ndjson");
    std::fs::write(&empty, "").unwrap();
    ok(&data, &["ingest", empty.to_str().unwrap()]);
    let file = tmp.path().join("id.ndjson");
    // A 1 MiB cid (too long) that starts with an email.
    let cid = format!("alice.private@example.com{}", "z".repeat(1 << 20));
    std::fs::write(&file, format!("{{\"type\":\"identify\",\"cid\":\"{cid}\"}}\n")).unwrap();
    let r = idres(&data, &["ingest", file.to_str().unwrap()]);
    assert_eq!(r.code, 2);
    assert!(r.stderr.contains("id.ndjson:1: cid"), "{}", r.stderr);
    assert!(r.stderr.len() < 300, "{} bytes: {}", r.stderr.len(), &r.stderr[..300.min(r.stderr.len())]);
    assert!(!r.stderr.contains("alice.private@example.com"), "{}", r.stderr);
    assert!(r.stderr.contains(&format!("({} bytes)", cid.len())), "{}", r.stderr);
    // The same for an id given on the command line.
    // (100 KB: one argument of the OS holds at most 128 KiB.)
    let r = idres(&data, &["profile", "--cid", &format!(" {}", &cid[..100_000])]);
    assert_eq!(r.code, 2);
    assert!(
        r.stderr.len() < 300 && r.stderr.contains("--cid \" alice.private@e\"…("),
        "{}",
        &r.stderr[..300.min(r.stderr.len())]
    );
    // A valid id that names nothing is excerpted too (`profile`, `explain`).
    let unknown = format!("bob.private@example.com{}", "q".repeat(150));
    for command in ["profile", "explain"] {
        let r = idres(&data, &[command, "--cid", &unknown]);
        assert_eq!(r.code, 1, "{command}: {}", r.stderr);
        assert!(r.stderr.len() < 300 && !r.stderr.contains("bob.private@example.com"), "{command}: {}", r.stderr);
    }
}

#[cfg(unix)]
#[test]
fn quarantine_files_are_readable_by_their_owner_only() {
    use std::os::unix::fs::PermissionsExt;
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("d");
    let file = tmp.path().join("q.ndjson");
    std::fs::write(&file, "{\"type\":\"identify\",\"cid\":\"bob@example.com\",\"x\":1}\n").unwrap();
    // An earlier file of that name, readable by all, is replaced by a private one.
    let first = tmp.path().join("first.ndjson");
    std::fs::write(&first, "{\"type\":\"event\",\"uid\":\"A\",\"name\":\"x\"}\n").unwrap();
    ok(&data, &["ingest", first.to_str().unwrap()]);
    std::fs::create_dir_all(data.join("quarantine")).unwrap();
    let q = data.join("quarantine/q.ndjson.rejected.ndjson");
    std::fs::write(&q, "old\n").unwrap();
    std::fs::set_permissions(&q, std::fs::Permissions::from_mode(0o644)).unwrap();
    ok(&data, &["ingest", "--skip-invalid", file.to_str().unwrap()]);
    assert_eq!(std::fs::metadata(&q).unwrap().permissions().mode() & 0o777, 0o600);
    assert_eq!(json_lines(&std::fs::read_to_string(&q).unwrap()).len(), 1, "the old file was replaced");
}

#[test]
fn a_data_directory_that_is_a_file_is_a_usage_error() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("plain-file");
    std::fs::write(&data, "not a directory\n").unwrap();
    for args in [&["stats"][..], &["ingest", "-"][..], &["verify"][..]] {
        let r = idres(&data, args);
        assert_eq!(r.code, 2, "{args:?}: {}", r.stderr);
        assert!(r.stderr.contains(&format!("{} is not a directory", data.display())), "{args:?}: {}", r.stderr);
    }
    let below = data.join("sub");
    let r = idres(&below, &["stats"]);
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(r.stderr.contains(&format!("{} is not a directory", below.display())), "{}", r.stderr);
}
