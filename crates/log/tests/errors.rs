//! What the log's errors say: each fact once, with what and where (file, byte offset, LSN).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::fs::OpenOptions;
use std::os::unix::fs::FileExt;

use idres_log::{repair, verify, Log, LogError, LogOptions, ReadOnlyLog};

use common::*;

use idres_log::error_chain as chain;

#[test]
fn an_os_error_is_printed_once_in_the_error_chain() {
    let dir = tempdir();
    let file = dir.path().join("not-a-dir");
    std::fs::write(&file, b"x").unwrap();
    let err = Log::open(file.join("log"), LogOptions::default()).err().expect("a file is no directory");
    let text = chain(&err);
    let os = std::io::Error::from_raw_os_error(20).to_string();
    assert_eq!(text.matches(&os).count(), 1, "{text}");
    assert!(text.contains("not-a-dir"), "says where: {text}");
}

/// A damage message gives the LSN at the damage and the last record before it, the LSN that
/// `idres repair --truncate-after` takes; repairing at that LSN keeps every record before it.
#[test]
fn a_damage_message_names_the_lsn_repair_needs() {
    let dir = tempdir();
    let mut log = Log::open(dir.path(), small_opts()).unwrap();
    for i in 0..5u8 {
        log.append(&batch(&[vec![i; 100], vec![i; 50]])).unwrap(); // two records per frame
    }
    drop(log);
    let seg = segment_files(dir.path()).pop().unwrap();
    let frames = frame_offsets(&seg);
    // Damage in the third frame (LSNs 4 and 5), valid frames after it: strict open refuses.
    let f = OpenOptions::new().write(true).open(&seg).unwrap();
    f.write_all_at(b"rot", frames[2].0 + 40).unwrap();
    drop(f);
    let err = Log::open(dir.path(), small_opts()).err().expect("damage");
    assert!(matches!(err, LogError::Corrupt { lsn: 4, .. }), "{err}");
    let text = err.to_string();
    assert!(text.contains(&format!("byte offset {}", frames[2].0)), "{text}");
    assert!(text.contains("at LSN 4") && text.contains("last record before it is LSN 3"), "{text}");
    for e in [verify(dir.path(), None).unwrap_err(), ReadOnlyLog::open(dir.path(), None).unwrap_err()] {
        assert!(e.to_string().contains("last record before it is LSN 3"), "{e}");
    }
    repair(dir.path(), Some(3)).unwrap();
    let log = Log::open(dir.path(), small_opts()).unwrap();
    assert_eq!(read_all(&log, 0).len(), 4);
}

/// Damage in the first frame: no record comes before it, and the message says so.
#[test]
fn a_damage_message_at_lsn_0_says_no_record_comes_before_it() {
    let dir = tempdir();
    let mut log = Log::open(dir.path(), small_opts()).unwrap();
    for i in 0..3u8 {
        log.append(&batch(&[vec![i; 100]])).unwrap();
    }
    drop(log);
    let seg = segment_files(dir.path()).pop().unwrap();
    let frames = frame_offsets(&seg);
    let f = OpenOptions::new().write(true).open(&seg).unwrap();
    f.write_all_at(b"rot", frames[0].0 + 40).unwrap();
    drop(f);
    let err = Log::open(dir.path(), small_opts()).err().expect("damage");
    assert!(err.to_string().contains("at LSN 0; no record before it"), "{err}");
}
