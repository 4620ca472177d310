//! The real `idres` binary as a new user meets it (issue 14, items 2, 5 and 8): a mistyped
//! `--data` is refused and creates nothing, `ingest` creates a data directory only in a new or
//! empty path and says so, a failed ingest removes what it made; one inclusive LSN notation; and
//! `--version` names the formats this build reads.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::print_stderr)]

mod common;

use std::path::{Path, PathBuf};

use common::{idres, ok, ok_run};

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures").join(name)
}

/// The fixture's 14 records (LSNs 0 to 13).
fn small() -> String {
    fixture("small.ndjson").to_str().unwrap().to_string()
}

/// Every command that reads or mends a data directory (all but `ingest`, `gen`, `demo`).
const READ_COMMANDS: &[&[&str]] = &[
    &["profile", "--cid", "u1"],
    &["profile", "--cid", "u1", "--as-of", "0"],
    &["history", "--cid", "u1"],
    &["explain", "--uid", "A"],
    &["export"],
    &["rejects"],
    &["stats"],
    &["replay"],
    &["replay", "--from-scratch"],
    &["verify"],
    &["rebuild"],
    &["repair", "--truncate-after", "0"],
];

fn entries(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> =
        std::fs::read_dir(dir).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
    names.sort();
    names
}

#[test]
fn a_read_command_on_a_missing_directory_is_a_usage_error_and_creates_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("mistyped");
    for args in READ_COMMANDS {
        let r = idres(&data, args);
        assert_eq!(r.code, 2, "idres {args:?} on a missing directory: {}", r.stderr);
        assert!(
            r.stderr.contains(&format!("no data directory at {}: it does not exist", data.display())),
            "{args:?}: {}",
            r.stderr
        );
        assert!(r.stderr.contains("--data"), "suggests --data: {}", r.stderr);
        assert!(r.stdout.is_empty(), "{args:?}: {}", r.stdout);
        assert!(!data.exists(), "idres {args:?} created {}", data.display());
    }
    assert!(entries(tmp.path()).is_empty(), "nothing at all was made: {:?}", entries(tmp.path()));

    // An existing directory that is not a data directory (no log/): refused, left as it was.
    let empty = tmp.path().join("empty");
    std::fs::create_dir(&empty).unwrap();
    for args in READ_COMMANDS {
        let r = idres(&empty, args);
        assert_eq!(r.code, 2, "idres {args:?} on an empty directory: {}", r.stderr);
        assert!(
            r.stderr.contains(&format!("{} is not an idres data directory: it holds no log/", empty.display())),
            "{args:?}: {}",
            r.stderr
        );
        assert!(entries(&empty).is_empty(), "idres {args:?} wrote {:?}", entries(&empty));
    }
}

#[test]
fn ingest_into_a_missing_or_empty_path_creates_a_data_directory_and_says_so() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("new/deeper");
    let out = ok(&data, &["ingest", &small()]);
    assert_eq!(out.lines().next(), Some(format!("created data directory {}", data.display()).as_str()), "{out}");
    assert!(out.contains("14 records appended"), "{out}");
    assert!(data.join("log").is_dir());
    // The second ingest uses it as it is, and says nothing of creating.
    let again = ok(&data, &["ingest", &small()]);
    assert!(!again.contains("created"), "{again}");
    assert!(ok(&data, &["stats"]).contains("records        28"));

    let empty = tmp.path().join("empty");
    std::fs::create_dir(&empty).unwrap();
    let out = ok(&empty, &["ingest", &small()]);
    assert!(
        out.starts_with(&format!("created data directory {} (in the empty directory)\n", empty.display())),
        "{out}"
    );
    assert!(ok(&empty, &["stats"]).contains("records        14"));
}

#[test]
fn ingest_refuses_a_directory_that_holds_something_else() {
    let tmp = tempfile::tempdir().unwrap();
    let home = tmp.path().join("home");
    std::fs::create_dir(&home).unwrap();
    std::fs::write(home.join("notes.txt"), "mine\n").unwrap();
    let r = idres(&home, &["ingest", &small()]);
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(
        r.stderr.contains(&format!(
            "{} is not an idres data directory (it holds no log/) and is not empty",
            home.display()
        )),
        "{}",
        r.stderr
    );
    assert_eq!(entries(&home), vec!["notes.txt"], "nothing was added");
}

#[test]
fn a_failed_ingest_into_a_new_directory_removes_what_it_made() {
    let tmp = tempfile::tempdir().unwrap();
    let bad = tmp.path().join("bad.ndjson");
    std::fs::write(&bad, "{\"type\":\"event\",\"uid\":\"Q\",\"name\":\"ok\"}\nnot json\n").unwrap();

    // A bad line (the file is refused whole): the new directory, from its topmost new part, is gone.
    let data = tmp.path().join("new/deeper");
    let r = idres(&data, &["ingest", bad.to_str().unwrap()]);
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(r.stderr.contains("bad.ndjson:2: malformed JSON"), "{}", r.stderr);
    assert!(
        r.stderr
            .contains(&format!("removed the data directory {} this ingest created", tmp.path().join("new").display())),
        "{}",
        r.stderr
    );
    assert!(!tmp.path().join("new").exists(), "no directory (and no 64 MiB log) is left behind");

    // A missing input file: refused before anything is made.
    let missing = tmp.path().join("no-such-file.ndjson");
    let r = idres(&data, &["ingest", missing.to_str().unwrap()]);
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(r.stderr.contains("no-such-file.ndjson") && r.stderr.contains("nothing was ingested"), "{}", r.stderr);
    assert!(!tmp.path().join("new").exists());

    // Into an empty directory: the directory stays (it was the caller's), empty again.
    let empty = tmp.path().join("empty");
    std::fs::create_dir(&empty).unwrap();
    let r = idres(&empty, &["ingest", "--config", "/nonexistent/rules.toml", &small()]);
    assert_eq!(r.code, 2, "{}", r.stderr);
    let r = idres(&empty, &["ingest", bad.to_str().unwrap()]);
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(empty.is_dir() && entries(&empty).is_empty(), "{:?}", entries(&empty));

    // Files before the failing one are durable: the new directory is kept, and says so.
    let kept = tmp.path().join("kept");
    let r = idres(&kept, &["ingest", &small(), bad.to_str().unwrap()]);
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(r.stderr.contains("stay appended"), "{}", r.stderr);
    assert!(r.stderr.contains("it holds 14 durable records"), "{}", r.stderr);
    assert!(ok(&kept, &["stats"]).contains("records        14"));

    // Into an existing data directory: what was there stays.
    let r = idres(&kept, &["ingest", bad.to_str().unwrap()]);
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(!r.stderr.contains("removed"), "{}", r.stderr);
    assert!(ok(&kept, &["stats"]).contains("records        14"));
}

#[test]
fn lsn_ranges_are_inclusive_everywhere_and_as_of_names_the_last_lsn() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("d");
    let out = ok(&data, &["ingest", &small()]);
    assert!(out.contains("14 records appended (LSN 0..=13)"), "{out}");
    let stats = ok(&data, &["stats"]);
    assert!(stats.contains("records        14 (LSN 0..=13)\n"), "{stats}");
    assert!(stats.contains("bytes, holds LSN 0..=13\n"), "the store: {stats}");
    assert!(ok(&data, &["replay"]).starts_with("records 14 (LSN 0..=13)\n"));
    assert!(ok(&data, &["replay", "--from-scratch"]).starts_with("records 14 (LSN 0..=13)\n"));
    assert!(ok(&data, &["verify"]).contains("log: 1 segments, 1 frames, LSN 0..=13\n"));

    // The last LSN works; one past it is refused, naming the last.
    assert_eq!(ok(&data, &["profile", "--cid", "u1", "--as-of", "13"]), ok(&data, &["profile", "--cid", "u1"]));
    for past in ["14", "200000"] {
        let r = idres(&data, &["profile", "--cid", "u1", "--as-of", past]);
        assert_eq!(r.code, 2, "{}", r.stderr);
        assert!(r.stderr.contains(&format!("--as-of {past} is past the last LSN 13")), "{}", r.stderr);
    }
    // The log's own errors, through repair, use the notation too.
    let r = idres(&data, &["repair", "--truncate-after", "99"]);
    assert_ne!(r.code, 0);
    assert!(r.stderr.contains("LSN 99 is outside the log (it holds LSN 0..=13)"), "{}", r.stderr);
    let r = idres(&data, &["repair", "--truncate-after", "5"]);
    assert_ne!(r.code, 0);
    assert!(r.stderr.contains("lies inside the batch LSN 0..=13"), "{}", r.stderr);
    // Appended after it: LSN 14 alone.
    let more = tmp.path().join("more.ndjson");
    std::fs::write(&more, "{\"type\":\"event\",\"uid\":\"Z\",\"name\":\"late\"}\n").unwrap();
    assert!(ok(&data, &["ingest", more.to_str().unwrap()]).contains("1 records appended (LSN 14..=14)"));
    let cut = ok(&data, &["repair", "--truncate-after", "13"]);
    assert!(cut.contains("the log now holds LSN 0..=13 (14 records)"), "{cut}");

    // An empty log says so.
    let empty_input = tmp.path().join("empty.ndjson");
    std::fs::write(&empty_input, "").unwrap();
    let none = tmp.path().join("none");
    ok(&none, &["ingest", empty_input.to_str().unwrap()]);
    let stats = ok(&none, &["stats"]);
    assert!(stats.contains("records        0 (no records)\n"), "{stats}");
    assert!(ok(&none, &["replay"]).starts_with("records 0 (no records)\n"));
    assert!(ok(&none, &["verify"]).contains("frames, no records\n"));
    let r = idres(&none, &["profile", "--cid", "u1", "--as-of", "0"]);
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(r.stderr.contains("--as-of 0: the log holds no records"), "{}", r.stderr);
}

#[test]
fn version_names_the_crate_and_the_formats_it_reads() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("unused");
    let r = ok_run(&data, &["--version"]);
    let line = r.stdout.trim_end();
    assert!(line.starts_with(&format!("idres {} (", env!("CARGO_PKG_VERSION"))), "{line}");
    for part in [
        format!("log format {}", idres_log::format::FORMAT_VERSION),
        format!("codec {}", idres_model::CODEC_ID),
        format!("record schema {}", idres_model::SCHEMA_VERSION),
        format!(
            "snapshot format {} (reads {}..={})",
            idres_resolve::SNAPSHOT_VERSION,
            idres_resolve::SNAPSHOT_VERSION_OLDEST_READ,
            idres_resolve::SNAPSHOT_VERSION
        ),
        format!("snapshot file format {}", idres::snapshot_file::SNAPSHOT_FILE_VERSION),
    ] {
        assert!(line.contains(&part), "--version lacks {part:?}: {line}");
    }
    assert_eq!(ok(&data, &["-V"]), r.stdout, "-V says the same");
    assert!(!data.exists());
}
