//! `idres ingest --resume` (issue 14, item 7) on the real binary: a killed ingest (SIGKILL) and
//! the resume that follows leave every line of the file in the log exactly once, with the
//! checkpoint as it was left or as stale as it can be; resume after a complete ingest appends
//! nothing; other records after the prefix, a changed file, another `--format`, a log cut before
//! the file, bad lines under `--skip-invalid`, stdin and a damaged checkpoint.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::print_stderr)]

mod common;

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use common::{idres, idres_stdin, json_lines, ok, ok_run};
use serde_json::Value as Json;

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures").join(name)
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// How many records the log holds.
fn records(data: &Path) -> u64 {
    json_lines(&ok(data, &["stats", "--json"]))[0]["records"].as_u64().unwrap()
}

/// The digest of folding the whole log from LSN 0.
fn digest(data: &Path) -> String {
    json_lines(&ok(data, &["replay", "--from-scratch", "--json"]))[0]["digest"].as_str().unwrap().to_string()
}

/// `idres gen --records n` into `out`.
fn gen(tmp: &Path, out: &Path, n: u64) {
    ok(tmp, &["gen", "--records", &n.to_string(), "--seed", "7", "--out", s(out)]);
}

/// Lines `from..=to` (1-based) of `src` written to `dst`.
fn lines_of(src: &Path, dst: &Path, from: usize, to: usize) {
    let text = fs::read_to_string(src).unwrap();
    let mut out: String = text.lines().skip(from - 1).take(to + 1 - from).collect::<Vec<_>>().join("\n");
    out.push('\n');
    fs::write(dst, out).unwrap();
}

/// The one checkpoint file of a data directory.
fn checkpoint_file(data: &Path) -> PathBuf {
    let files: Vec<PathBuf> = fs::read_dir(data.join("ingest")).unwrap().flatten().map(|e| e.path()).collect();
    assert_eq!(files.len(), 1, "{files:?}");
    files.into_iter().next().unwrap()
}

fn read_json(path: &Path) -> Json {
    serde_json::from_slice(&fs::read(path).unwrap()).unwrap()
}

/// Puts into `data` the checkpoint `from` as it was written before the first batch of its file
/// was appended (no line in yet: the stalest a checkpoint can be).
fn put_stale(from: &Path, data: &Path) {
    let mut c = read_json(from);
    c["lines_done"] = 0.into();
    c["end_lsn"] = c["anchor_lsn"].clone();
    c["complete"] = false.into();
    fs::create_dir_all(data.join("ingest")).unwrap();
    fs::write(data.join("ingest").join(from.file_name().unwrap()), serde_json::to_vec(&c).unwrap()).unwrap();
}

fn copy_dir(from: &Path, to: &Path) {
    fs::create_dir_all(to).unwrap();
    for entry in fs::read_dir(from).unwrap().flatten() {
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            fs::copy(entry.path(), target).unwrap();
        }
    }
}

#[test]
fn a_killed_ingest_resumes_to_every_line_of_the_file_exactly_once() {
    const N: u64 = 200_000;
    let tmp = tempfile::tempdir().unwrap();
    let input = tmp.path().join("w.ndjson");
    gen(tmp.path(), &input, N);
    let clean = tmp.path().join("clean");
    ok(&clean, &["ingest", s(&input)]);
    assert_eq!(records(&clean), N);

    // An ingest killed once some of its batches are durable (its checkpoint says so) and more
    // are in flight.
    let killed = tmp.path().join("killed");
    let mut child = Command::new(env!("CARGO_BIN_EXE_idres"))
        .arg("--data")
        .arg(&killed)
        .args(["ingest", s(&input)])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    loop {
        assert!(child.try_wait().unwrap().is_none(), "the ingest ended before it could be killed");
        let done = fs::read_dir(killed.join("ingest"))
            .ok()
            .and_then(|mut d| d.next())
            .and_then(|e| fs::read(e.ok()?.path()).ok())
            .and_then(|b| serde_json::from_slice::<Json>(&b).ok())
            .and_then(|c| c["lines_done"].as_u64())
            .unwrap_or(0);
        if done >= 8192 {
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    child.kill().unwrap();
    child.wait().unwrap();
    let checkpoint = checkpoint_file(&killed);
    let recorded = read_json(&checkpoint)["lines_done"].as_u64().unwrap();
    let kept = records(&killed);
    assert!(kept >= recorded && kept < N, "the kill left {kept} of {N} records (checkpoint: {recorded} lines)");
    // The same directory with its checkpoint as stale as can be: written before the first batch.
    let stale = tmp.path().join("stale");
    copy_dir(&killed, &stale);
    put_stale(&checkpoint, &stale);

    for data in [&killed, &stale] {
        let r = ok_run(data, &["ingest", "--resume", s(&input)]);
        // One record a line: lines 1..=kept are in, at LSNs 0..kept.
        let said = format!(
            "{}: lines 1..={kept} are in (LSN 0..={}); appending from line {}",
            input.display(),
            kept - 1,
            kept + 1
        );
        assert!(r.stdout.contains(&said), "{}", r.stdout);
        assert!(r.stdout.contains(&format!("{} records appended (LSN {kept}..={})", N - kept, N - 1)), "{}", r.stdout);
        assert_eq!(records(data), N, "{}", data.display());
        assert_eq!(digest(data), digest(&clean), "exactly the file's records, once, in order");
    }
    // Once more: everything is in, nothing is appended.
    let again = ok(&killed, &["ingest", "--resume", s(&input)]);
    assert!(again.contains(&format!("all {N} lines were already in (LSN 0..={})", N - 1)), "{again}");
    assert_eq!(records(&killed), N);
}

#[test]
fn resume_after_a_complete_ingest_appends_nothing_and_a_plain_ingest_is_told() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("d");
    let small = fixture("small.ndjson");
    ok(&data, &["ingest", s(&small)]);
    let c = read_json(&checkpoint_file(&data));
    assert_eq!(
        (c["anchor_lsn"].as_u64(), c["lines_done"].as_u64(), c["end_lsn"].as_u64()),
        (Some(0), Some(15), Some(14))
    );
    assert_eq!((c["complete"].as_bool(), c["format"].as_str()), (Some(true), Some("native")));
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = fs::metadata(checkpoint_file(&data)).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600, "a checkpoint names its input: owner-only");
    }

    let r = ok_run(&data, &["ingest", "--resume", s(&small)]);
    assert!(
        r.stdout.contains(&format!("{}: all 15 lines were already in (LSN 0..=13)", small.display())),
        "{}",
        r.stdout
    );
    assert!(r.stdout.contains("ingested 0 records from 15 lines"), "{}", r.stdout);
    assert_eq!(records(&data), 14);
    let j = &json_lines(&ok(&data, &["ingest", "--resume", "--json", s(&small)]))[0];
    let f = &j["files"][0];
    assert_eq!((f["records"].as_u64(), f["first_lsn"].is_null()), (Some(0), true), "{j}");
    assert_eq!((f["resumed_after_line"].as_u64(), f["already_in"].as_bool()), (Some(15), Some(true)), "{j}");
    assert_eq!(records(&data), 14);

    // Without --resume the file goes in again (the user may mean it), with a note; its checkpoint
    // is then the new ingest's.
    let r = ok_run(&data, &["ingest", s(&small)]);
    assert!(
        r.stderr.contains(&format!(
            "idres: note: {} was ingested before (lines 1..=15 are in, LSN 0..=13); `--resume` continues after them",
            small.display()
        )),
        "{}",
        r.stderr
    );
    assert_eq!(records(&data), 28);
    let r = ok(&data, &["ingest", "--resume", s(&small)]);
    assert!(r.contains("all 15 lines were already in (LSN 14..=27)"), "{r}");
    // A plain ingest's JSON: not resumed.
    let j = &json_lines(&ok(&tmp.path().join("e"), &["ingest", "--json", s(&small)]))[0];
    assert_eq!(
        (j["files"][0]["resumed_after_line"].is_null(), j["files"][0]["already_in"].as_bool()),
        (true, Some(false))
    );
}

#[test]
fn a_stale_checkpoint_and_other_records_after_the_prefix_still_give_every_line_once() {
    let tmp = tempfile::tempdir().unwrap();
    let input = tmp.path().join("w.ndjson");
    gen(tmp.path(), &input, 20_000);
    let clean = tmp.path().join("clean");
    ok(&clean, &["ingest", s(&input)]);
    let checkpoint = checkpoint_file(&clean);
    // What a kill after 7 000 durable lines leaves: those lines in the log, the checkpoint as
    // written before the first batch.
    let head = tmp.path().join("head.ndjson");
    lines_of(&input, &head, 1, 7000);

    let stale = tmp.path().join("stale");
    ok(&stale, &["ingest", s(&head)]);
    put_stale(&checkpoint, &stale);
    let r = ok(&stale, &["ingest", "--resume", s(&input)]);
    assert!(r.contains("lines 1..=7000 are in (LSN 0..=6999); appending from line 7001"), "{r}");
    assert_eq!((records(&stale), digest(&stale)), (20_000, digest(&clean)));

    // A checkpoint that says more is in than the log holds (the log was cut since, say): the
    // log is what counts, and the difference is said.
    let more = tmp.path().join("more");
    ok(&more, &["ingest", s(&head)]);
    fs::copy(&checkpoint, more.join("ingest").join(checkpoint.file_name().unwrap())).unwrap();
    let r = ok_run(&more, &["ingest", "--resume", s(&input)]);
    assert!(r.stdout.contains("lines 1..=7000 are in (LSN 0..=6999); appending from line 7001"), "{}", r.stdout);
    assert!(
        r.stderr.contains("fewer than its checkpoint recorded (1..=20000): the log was cut or changed since"),
        "{}",
        r.stderr
    );
    assert_eq!((records(&more), digest(&more)), (20_000, digest(&clean)));

    // Another process appended records after the kill: the resume appends after them, and a
    // second resume (after a second kill, say) still finds every line where it is.
    let other = tmp.path().join("other");
    ok(&other, &["ingest", s(&head)]);
    ok(&other, &["ingest", s(&fixture("small.ndjson"))]);
    put_stale(&checkpoint, &other);
    let r = ok_run(&other, &["ingest", "--resume", s(&input)]);
    assert!(r.stdout.contains("lines 1..=7000 are in (LSN 0..=6999); appending from line 7001"), "{}", r.stdout);
    assert!(r.stderr.contains("the log holds other records from LSN 7000 on, where line 7001 of"), "{}", r.stderr);
    assert_eq!(records(&other), 20_014);
    let r = ok(&other, &["ingest", "--resume", s(&input)]);
    assert!(r.contains("all 20000 lines were already in (LSN 0..=6999, LSN 7014..=20013)"), "{r}");
    assert_eq!(records(&other), 20_014);
    // The same records as the head, the other file, then the rest.
    let rest = tmp.path().join("rest.ndjson");
    lines_of(&input, &rest, 7001, 20_000);
    let reference = tmp.path().join("reference");
    ok(&reference, &["ingest", s(&head), s(&fixture("small.ndjson")), s(&rest)]);
    assert_eq!(digest(&other), digest(&reference));
}

#[test]
fn a_file_that_changed_size_has_no_checkpoint() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("d");
    let input = tmp.path().join("f.ndjson");
    fs::copy(fixture("small.ndjson"), &input).unwrap();
    ok(&data, &["ingest", s(&input)]);
    let mut text = fs::read_to_string(&input).unwrap();
    text.push_str("{\"type\":\"reset\",\"uid\":\"A\"}\n");
    fs::write(&input, text).unwrap();
    let r = ok(&data, &["ingest", "--resume", s(&input)]);
    assert!(r.contains(&format!("no checkpoint for {}: ingesting from line 1", input.display())), "{r}");
    assert!(r.contains("15 records appended (LSN 14..=28)"), "{r}");
    assert_eq!(records(&data), 29);
}

#[test]
fn resume_refuses_another_format_and_a_log_cut_before_the_file_appending_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("d");
    let small = fixture("small.ndjson");
    let mid = tmp.path().join("mid.ndjson");
    fs::write(&mid, "{\"type\":\"reset\",\"uid\":\"Y\"}\n").unwrap();
    let last = tmp.path().join("last.ndjson");
    fs::write(&last, "{\"type\":\"reset\",\"uid\":\"Z\"}\n").unwrap();
    ok(&data, &["ingest", s(&small), s(&mid), s(&last)]);
    assert_eq!(records(&data), 16);

    let r = idres(&data, &["ingest", "--resume", "--format", "segment", s(&small)]);
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(r.stderr.contains("was ingested with --format native, not --format segment"), "{}", r.stderr);
    assert!(r.stderr.contains("nothing was appended"), "{}", r.stderr);

    assert_eq!(records(&data), 16);

    // The log cut after the first file: `mid` began at its end (LSN 14), `last` past it (15).
    ok(&data, &["repair", "--truncate-after", "13"]);
    let r = idres(&data, &["ingest", "--resume", s(&mid), s(&last)]);
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(r.stderr.contains("records began at LSN 15, but the log now ends before it (LSN 0..=13)"), "{}", r.stderr);
    assert!(r.stderr.contains("ingest") && r.stderr.contains("without --resume"), "{}", r.stderr);
    assert_eq!(records(&data), 14, "nothing appended, not even of the file before it");
    // `mid`'s records are gone with the cut; its resume appends it from line 1.
    let r = ok(&data, &["ingest", "--resume", s(&mid)]);
    assert!(r.contains("none of its lines are in: appending from line 1"), "{r}");
    assert_eq!(records(&data), 15);
}

#[test]
fn skip_invalid_resumes_after_bad_lines_and_quarantines_them_again() {
    let tmp = tempfile::tempdir().unwrap();
    let generated = tmp.path().join("g.ndjson");
    gen(tmp.path(), &generated, 12_000);
    // Bad lines and blank lines among the good ones; line 6001 is bad.
    let mut text = String::new();
    let (mut bad, mut n) = (0, 0);
    for (i, line) in fs::read_to_string(&generated).unwrap().lines().enumerate() {
        if n + 1 == 6001 || i % 997 == 3 {
            text.push_str("{\"type\":\"nope\"}\n");
            (bad, n) = (bad + 1, n + 1);
        }
        if i % 1201 == 5 && n + 1 != 6002 {
            text.push('\n');
            n += 1;
        }
        text.push_str(line);
        text.push('\n');
        n += 1;
    }
    let input = tmp.path().join("w.ndjson");
    fs::write(&input, &text).unwrap();
    let lines = text.lines().count();
    assert_eq!(text.lines().nth(6000), Some("{\"type\":\"nope\"}"));
    assert!(!text.lines().nth(6001).unwrap().is_empty());
    let clean = tmp.path().join("clean");
    ok(&clean, &["ingest", "--skip-invalid", s(&input)]);
    assert_eq!(records(&clean), 12_000);

    let data = tmp.path().join("d");
    let head = tmp.path().join("head.ndjson");
    lines_of(&input, &head, 1, 6000);
    ok(&data, &["ingest", "--skip-invalid", s(&head)]);
    put_stale(&checkpoint_file(&clean), &data);
    let r = ok_run(&data, &["ingest", "--resume", "--skip-invalid", "--json", s(&input)]);
    // Line 6001 is bad: it holds no record, so it is in with the lines before it.
    assert!(r.stderr.contains("lines 1..=6001 are in"), "{}", r.stderr);
    let f = &json_lines(&r.stdout)[0]["files"][0];
    assert_eq!((f["resumed_after_line"].as_u64(), f["already_in"].as_bool()), (Some(6001), Some(false)), "{f}");
    assert_eq!((f["lines"].as_u64(), f["quarantined"].as_u64()), (Some(lines as u64), Some(bad)), "{f}");
    assert_eq!((records(&data), digest(&data)), (12_000, digest(&clean)));
    let quarantine = fs::read_to_string(data.join("quarantine/w.ndjson.rejected.ndjson")).unwrap();
    assert_eq!(quarantine.lines().count() as u64, bad, "every bad line of the file, once");
}

#[test]
fn stdin_resumes_by_its_content() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("d");
    let bytes = fs::read(fixture("small.ndjson")).unwrap();
    let r = idres_stdin(&data, &["ingest", "--resume", "-"], Some(&bytes));
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(r.stdout.contains("no checkpoint for stdin: ingesting from line 1"), "{}", r.stdout);
    let r = idres_stdin(&data, &["ingest", "--resume", "-"], Some(&bytes));
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(r.stdout.contains("stdin: all 15 lines were already in (LSN 0..=13)"), "{}", r.stdout);
    assert_eq!(records(&data), 14);
}

#[test]
fn a_damaged_checkpoint_is_exit_3_for_a_resume_and_replaced_by_a_plain_ingest() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("d");
    let small = fixture("small.ndjson");
    ok(&data, &["ingest", s(&small)]);
    let checkpoint = checkpoint_file(&data);
    fs::write(&checkpoint, b"{\"version\":1,\"file\":").unwrap();
    let r = idres(&data, &["ingest", "--resume", s(&small)]);
    assert_eq!(r.code, 3, "{}", r.stderr);
    assert!(r.stderr.contains(&format!("{}: a damaged ingest checkpoint", checkpoint.display())), "{}", r.stderr);
    assert_eq!(records(&data), 14);
    let r = ok_run(&data, &["ingest", s(&small)]);
    assert!(
        r.stderr.contains("a damaged ingest checkpoint") && r.stderr.contains("this ingest replaces it"),
        "{}",
        r.stderr
    );
    assert_eq!(read_json(&checkpoint)["anchor_lsn"].as_u64(), Some(14));
}
