//! `--progress` with stderr redirected (issue 14, item 3): every long step writes plain progress
//! lines (how far, rate, time left; a last line when done) to stderr, which a bar would not, and
//! without `--progress` a redirected stderr gets none; and the completions and man page.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::print_stderr)]

mod common;

use common::{idres, ok_run};

#[test]
fn progress_lines_go_to_a_redirected_stderr_for_every_long_step() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("d");
    let input = tmp.path().join("w.ndjson");
    // gen: the lines written.
    let gen = ok_run(&data, &["--progress", "gen", "--records", "3000", "--out", input.to_str().unwrap()]);
    assert!(gen.stderr.contains("gen: 3000/3000 (100%)") && gen.stderr.contains("done in"), "{}", gen.stderr);
    assert!(gen.stderr.contains("idres: generated 3000 records: "), "a summary for people: {}", gen.stderr);
    assert!(!gen.stderr.contains("GenStats"), "not a debug struct: {}", gen.stderr);
    // ingest: the bytes of the file read.
    let ingest = ok_run(&data, &["--progress", "ingest", input.to_str().unwrap()]);
    let len = std::fs::metadata(&input).unwrap().len();
    let kb = format!("{:.1} kB", len as f64 / 1e3);
    assert!(ingest.stderr.contains(&format!("{kb}/{kb} (100%)")), "bytes, for people: {}", ingest.stderr);
    assert!(ingest.stderr.contains("B/s, done in"), "rate and end: {}", ingest.stderr);
    assert!(!ingest.stdout.contains("skipped {"), "{}", ingest.stdout);
    for (args, what) in [
        (&["--progress", "replay", "--from-scratch"][..], "replay: 3000/3000 (100%)"),
        (&["--progress", "verify"][..], "verify: "),
        (&["--progress", "export"][..], "export: "),
        (&["--progress", "rebuild"][..], "rebuild: done in"),
    ] {
        let run = ok_run(&data, args);
        assert!(run.stderr.contains(what), "{args:?}: {}", run.stderr);
    }
    // Without --progress a redirected stderr stays free of progress.
    let quiet = idres(&data, &["replay", "--from-scratch"]);
    assert_eq!(quiet.code, 0);
    assert!(!quiet.stderr.contains("replay: "), "{}", quiet.stderr);
}

/// `idres completions SHELL` and `idres man` (issue 14, item 4): scripts and a man page from the
/// same definitions as `--help`, needing no data directory.
#[test]
fn completions_and_the_man_page_are_generated() {
    let tmp = tempfile::tempdir().unwrap();
    let nowhere = tmp.path().join("none");
    for (shell, marker) in [("bash", "_idres()"), ("zsh", "#compdef idres"), ("fish", "complete -c idres")] {
        let run = ok_run(&nowhere, &["completions", shell]);
        assert!(run.stdout.contains(marker), "{shell}: {}", &run.stdout[..run.stdout.len().min(300)]);
        assert!(run.stdout.contains("ingest") && run.stdout.contains("explain"), "{shell} lists the commands");
    }
    let man = ok_run(&nowhere, &["man"]);
    assert!(man.stdout.starts_with(".ie") || man.stdout.contains(".TH idres"), "{}", &man.stdout[..300]);
    assert!(man.stdout.contains("data directory"), "the flags' descriptions are in it");
    assert!(!nowhere.exists(), "no data directory made");
}
