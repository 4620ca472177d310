//! The real `idres` binary on damaged or full data directories: exit codes that say what is
//! durable, and the commands that mend (issue 12's defects 4, 12, 16).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::print_stderr)]

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use common::{idres, ok_run as ok};

fn records(data: &Path) -> String {
    ok(data, &["stats"]).stdout.lines().find(|l| l.starts_with("records")).unwrap().to_string()
}

/// A data directory with `n` generated records.
fn ingested(tmp: &Path, n: u64) -> PathBuf {
    let data = tmp.join("d");
    let input = tmp.join("in.ndjson");
    ok(&data, &["gen", "--records", &n.to_string(), "--out", input.to_str().unwrap()]);
    ok(&data, &["ingest", input.to_str().unwrap()]);
    data
}

#[test]
fn a_damaged_rebuild_marker_is_exit_3_and_rebuild_replaces_it() {
    // Defects 4 and 16: a garbage `store-rebuild.lsn` was "invalid input" (exit 2), and neither
    // `rebuild` nor `repair` cleared it.
    let tmp = tempfile::tempdir().unwrap();
    let data = ingested(tmp.path(), 500);
    let before = records(&data);
    std::fs::write(data.join("store-rebuild.lsn"), b"garbage").unwrap();
    let r = idres(&data, &["stats"]);
    assert_eq!(r.code, 3, "damage is exit 3");
    assert!(r.stderr.contains("store-rebuild.lsn") && r.stderr.contains("idres rebuild"), "{}", r.stderr);
    ok(&data, &["rebuild"]);
    assert!(!data.join("store-rebuild.lsn").exists());
    assert_eq!(records(&data), before);
}

#[test]
fn repair_replaces_a_damaged_rebuild_marker() {
    let tmp = tempfile::tempdir().unwrap();
    let data = ingested(tmp.path(), 500);
    std::fs::write(data.join("store-rebuild.lsn"), b"\xff\xfe").unwrap();
    // The cut must fall between frames: the whole log is one frame's worth or more; cut after
    // the last record keeps everything.
    let r = ok(&data, &["repair", "--truncate-after", "499"]);
    assert!(r.stdout.contains("removed the store-rebuild marker"), "{}", r.stdout);
    assert!(records(&data).starts_with("records        500"), "{}", records(&data));
}

/// A tmpfs mounted for the test, unmounted when dropped.
struct Tmpfs(PathBuf);

impl Tmpfs {
    fn mount(at: PathBuf, size: &str) -> Option<Tmpfs> {
        std::fs::create_dir_all(&at).unwrap();
        let ok = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(&at)
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        ok.then_some(Tmpfs(at))
    }

    fn resize(&self, size: &str) {
        let status = Command::new("mount").args(["-o", &format!("remount,size={size}")]).arg(&self.0).status().unwrap();
        assert!(status.success());
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.0).status();
    }
}

#[test]
fn a_full_disk_under_the_store_is_a_warning_that_says_what_is_durable() {
    // Defect 12: on ENOSPC ingest printed "N records appended" and exited 3 because the store
    // could not write; a script re-ingested and duplicated everything.
    let tmp = tempfile::tempdir().unwrap();
    let input = tmp.path().join("in.ndjson");
    ok(&tmp.path().join("gen"), &["gen", "--records", "100000", "--out", input.to_str().unwrap()]);
    // The log's 64 MiB segment is preallocated and fits; the store and the snapshot do not.
    let Some(disk) = Tmpfs::mount(tmp.path().join("mnt"), "70m") else {
        eprintln!("skipped: mounting a tmpfs needs root (CI runs as root)");
        return;
    };
    let data = disk.0.join("d");
    let r = idres(&data, &["ingest", input.to_str().unwrap()]);
    assert_eq!(r.code, 0, "every record is durable in the log: {}", r.stderr);
    assert!(r.stdout.contains("100000 records appended"), "{}", r.stdout);
    assert!(r.stdout.contains("log holds 100000 records"), "{}", r.stdout);
    assert!(r.stderr.contains("warning: the store trails the log"), "{}", r.stderr);
    assert!(r.stderr.contains("every record before LSN 100000 is durable"), "{}", r.stderr);
    let line = r.stderr.lines().find(|l| l.contains("store trails")).unwrap();
    assert_eq!(line.matches("No space left on device").count(), 1, "the cause said once: {line}");
    // Space freed: everything works without a manual step.
    disk.resize("300m");
    let stats = ok(&data, &["stats"]).stdout;
    assert!(stats.contains("records        100000"), "{stats}");
    assert!(stats.contains("holds LSN 0..=99999"), "the store caught up: {stats}");
    let verify = ok(&data, &["verify"]).stdout;
    assert!(verify.contains("verify: ok"), "{verify}");
}

/// A read-only bind mount of `src` at `at`, unmounted when dropped.
struct ReadOnlyMount(PathBuf);

impl ReadOnlyMount {
    fn mount(src: &Path, at: PathBuf) -> Option<ReadOnlyMount> {
        std::fs::create_dir_all(&at).unwrap();
        let run = |args: &[&str], path: &[&Path]| {
            Command::new("mount").args(args).args(path).stderr(Stdio::null()).status().is_ok_and(|s| s.success())
        };
        if !run(&["--bind"], &[src, &at]) {
            return None;
        }
        let mounted = ReadOnlyMount(at);
        run(&["-o", "remount,ro,bind"], &[&mounted.0]).then_some(mounted)
    }
}

impl Drop for ReadOnlyMount {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.0).status();
    }
}

#[test]
fn every_read_command_works_on_a_read_only_data_directory() {
    // Defect 16: a read-only data directory failed every read command.
    let tmp = tempfile::tempdir().unwrap();
    let src = tmp.path().join("src");
    std::fs::create_dir_all(&src).unwrap();
    let data = ingested(&src, 2000);
    let writable_stats = ok(&data, &["stats"]).stdout;
    let profile = ok(&data, &["export"]).stdout.lines().next().unwrap().to_string();
    let id = profile.split('"').nth(3).unwrap().to_string();
    let Some(ro) = ReadOnlyMount::mount(&src, tmp.path().join("ro")) else {
        eprintln!("skipped: a read-only bind mount needs root (CI runs as root)");
        return;
    };
    let data = ro.0.join("d");
    let r = ok(&data, &["stats"]);
    assert!(r.stderr.contains("reading it read-only (2000 records, no store)"), "{}", r.stderr);
    assert_eq!(r.stdout.lines().next(), writable_stats.lines().next(), "{}", r.stdout);
    for args in [
        &["profile", "--id", &id][..],
        &["history", "--cid", "user1@example.com"],
        &["explain", "--cid", "user1@example.com"],
        &["export"],
        &["rejects"],
        &["replay"],
        &["replay", "--from-scratch"],
        &["verify"],
    ] {
        ok(&data, args);
    }
    // A write is refused as such, and nothing changed.
    let r = idres(&data, &["ingest", src.join("in.ndjson").to_str().unwrap()]);
    assert_ne!(r.code, 0);
    assert!(r.stderr.contains("Read-only file system"), "{}", r.stderr);
}
