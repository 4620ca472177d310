//! The real `idres` binary's `-q`, `--color`, the data-directory flags a command does not take,
//! and `rejects` in words for people (issue 14, item 4).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::print_stderr)]

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::{idres, json_lines, ok, ok_run};

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures").join(name)
}

const ESC: &str = "\x1b[";

/// `idres ARGS…` without `--data`, with `env` set (and NO_COLOR / CLICOLOR_FORCE cleared).
fn bare(args: &[&str], env: &[(&str, &str)]) -> (i32, String, String) {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_idres"));
    cmd.args(args).env_remove("NO_COLOR").env_remove("CLICOLOR_FORCE");
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = cmd.output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn quiet_keeps_results_and_warnings_and_drops_notes_and_summaries() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("d");
    let small = fixture("small.ndjson");
    let small = small.to_str().unwrap();
    // A change of data says nothing under -q; the same ingest without it says what it did.
    let quiet = ok_run(&data, &["-q", "ingest", small]);
    assert_eq!((quiet.stdout.as_str(), quiet.stderr.as_str()), ("", ""), "quiet ingest is silent");
    let loud = ok_run(&data, &["ingest", small]);
    assert!(loud.stdout.contains("ingested 14 records"), "{}", loud.stdout);
    // --json is asked for: it is printed under -q too.
    let j = json_lines(&ok(&data, &["--quiet", "ingest", "--json", small]));
    assert_eq!(j[0]["records"], 14);
    // A read's result is what was asked for.
    let stats = ok_run(&data, &["-q", "stats"]);
    assert!(stats.stdout.contains("records"), "{}", stats.stdout);
    assert_eq!(ok_run(&data, &["-q", "rebuild"]).stdout, "");
    // A note (recovery removed a leftover temp file) is dropped under -q, kept without it.
    for quiet in [true, false] {
        // A snapshot's temp file of an interrupted write, as `NAME.tmp` beside the snapshot.
        let snap = std::fs::read_dir(data.join("snapshots")).unwrap().next().unwrap().unwrap().path();
        std::fs::write(snap.with_file_name(format!("{}.tmp", snap.file_name().unwrap().to_str().unwrap())), b"x")
            .unwrap();
        let args: &[&str] = if quiet { &["-q", "stats"] } else { &["stats"] };
        let run = ok_run(&data, args);
        assert_eq!(run.stderr.contains("idres: "), !quiet, "quiet {quiet}: {}", run.stderr);
    }
    // Errors still print, with their exit code.
    let missing = idres(&data, &["-q", "profile", "--cid", "nobody"]);
    assert_eq!(missing.code, 1);
    assert!(missing.stderr.contains("is unknown"), "{}", missing.stderr);
    // The demo under -q: only its digest, the one line a script compares.
    let demo = ok_run(&tmp.path().join("demo"), &["-q", "demo", "--records", "2000"]);
    assert!(demo.stdout.starts_with("digest ") && demo.stdout.lines().count() == 1, "{}", demo.stdout);
    // -q and --progress say opposite things: refused.
    assert_eq!(idres(&data, &["-q", "--progress", "stats"]).code, 2);
}

#[test]
fn color_is_painted_only_when_asked_or_on_a_terminal() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("d");
    ok(&data, &["ingest", fixture("small.ndjson").to_str().unwrap()]);
    let d = data.to_str().unwrap();
    // Redirected (as here): no colour by default, nor with NO_COLOR and CLICOLOR_FORCE unset.
    let (_, plain, _) = bare(&["--data", d, "verify"], &[]);
    assert!(plain.contains("verify: ok") && !plain.contains(ESC), "{plain:?}");
    let (_, painted, _) = bare(&["--data", d, "--color", "always", "verify"], &[]);
    assert!(painted.contains("verify: \x1b[32mok\x1b[0m"), "{painted:?}");
    let (_, forced, _) = bare(&["--data", d, "profile", "--cid", "u1"], &[("CLICOLOR_FORCE", "1")]);
    assert!(forced.contains(ESC), "CLICOLOR_FORCE colours auto: {forced:?}");
    let (_, never, _) = bare(&["--data", d, "--color=never", "profile", "--cid", "u1"], &[("CLICOLOR_FORCE", "1")]);
    assert!(!never.contains(ESC), "{never:?}");
    let (_, no_color, _) =
        bare(&["--data", d, "profile", "--cid", "u1"], &[("NO_COLOR", "1"), ("CLICOLOR_FORCE", "1")]);
    assert!(!no_color.contains(ESC), "NO_COLOR wins over CLICOLOR_FORCE: {no_color:?}");
    // JSON is never painted.
    let (_, json, _) = bare(&["--data", d, "--color", "always", "profile", "--cid", "u1", "--json"], &[]);
    assert!(!json.contains(ESC), "{json:?}");
    serde_json::from_str::<serde_json::Value>(&json).unwrap();
    // Errors: the prefix is red on a coloured stderr, plain otherwise; the words are the same.
    let (code, _, err) = bare(&["--data", d, "--color", "always", "profile", "--cid", "nobody"], &[]);
    assert_eq!(code, 1);
    assert!(err.starts_with("\x1b[1;31midres:\x1b[0m cid \"nobody\" is unknown"), "{err:?}");
    // clap's own usage errors follow --color too.
    let (code, _, err) = bare(&["--color", "always", "profile", "--bogus"], &[]);
    assert_eq!(code, 2);
    assert!(err.contains(ESC), "{err:?}");
    let (_, _, err) = bare(&["--color", "never", "profile", "--bogus"], &[("CLICOLOR_FORCE", "1")]);
    assert!(!err.contains(ESC), "{err:?}");
}

#[test]
fn data_directory_flags_go_before_or_after_the_command_and_never_where_they_do_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("d");
    let d = data.to_str().unwrap();
    ok(&data, &["ingest", fixture("small.ndjson").to_str().unwrap()]);
    let (code, after, _) = bare(&["stats", "--data", d], &[]);
    assert_eq!(code, 0);
    let (_, before, _) = bare(&["--data", d, "stats"], &[]);
    assert_eq!(after.lines().next(), before.lines().next(), "the same directory's records");
    assert!(after.starts_with("records        14"), "{after}");
    let out = tmp.path().join("g.ndjson");
    let (code, _, err) = bare(&["--data", d, "gen", "--records", "10", "--out", out.to_str().unwrap()], &[]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("`gen` takes no --data"), "{err}");
    assert!(!out.exists(), "nothing was generated");
    let (code, _, err) = bare(&["--config", "x.toml", "repair", "--data", d, "--truncate-after", "3"], &[]);
    assert_eq!(code, 2);
    assert!(err.contains("`repair` takes no --config"), "{err}");
    let (code, _, err) = bare(&["--data", d, "stats", "--data", d], &[]);
    assert_eq!(code, 2);
    assert!(err.contains("--data is given twice"), "{err}");
    let (_, help, _) = bare(&["gen", "--help"], &[]);
    assert!(!help.contains("--data") && !help.contains("--config") && help.contains("--quiet"), "{help}");
    let (_, help, _) = bare(&["stats", "--help"], &[]);
    assert!(help.contains("Data directory:") && help.contains("Global options:"), "{help}");
}

#[test]
fn rejects_say_their_reasons_in_words_with_ids_quoted() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("d");
    let input = tmp.path().join("ops.ndjson");
    std::fs::write(
        &input,
        concat!(
            "{\"type\":\"identify\",\"uid\":\"A\",\"cid\":\"u1\"}\n",
            "{\"type\":\"merge\",\"from\":\"ghost\",\"into\":\"u1\"}\n",
            "{\"type\":\"identify\",\"uid\":\"same\",\"cid\":\"same\"}\n",
        ),
    )
    .unwrap();
    ok(&data, &["ingest", input.to_str().unwrap()]);
    let text = ok(&data, &["rejects"]);
    assert!(text.contains("cid \"ghost\" does not exist"), "{text}");
    assert!(text.contains("the same string \"same\""), "{text}");
    assert!(!text.contains("Cid("), "no Rust debug text: {text}");
    let explained = ok(&data, &["explain", "--uid", "same"]);
    assert!(!explained.contains("Cid("), "{explained}");
}
