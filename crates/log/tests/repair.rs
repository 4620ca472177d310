//! `repair` truncates after a chosen LSN: between batches only, across segments, over damage.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::fs::OpenOptions;
use std::os::unix::fs::FileExt;

use common::*;
use idres_log::{repair, Log, LogError};

/// Ten batches of three records of 600 bytes: several segments of 4 KiB.
fn setup() -> (tempfile::TempDir, Vec<Vec<u8>>) {
    let dir = tempdir();
    let mut log = Log::open(dir.path(), small_opts()).unwrap();
    let mut model = Vec::new();
    for b in 0..10u8 {
        let recs: Vec<Vec<u8>> = (0..3u8).map(|i| vec![b * 3 + i; 600]).collect();
        log.append(&batch(&recs)).unwrap();
        model.extend(recs);
    }
    (dir, model)
}

fn contents(dir: &std::path::Path) -> Vec<Vec<u8>> {
    let log = Log::open(dir, small_opts()).unwrap();
    read_all(&log, 0).into_iter().map(|x| x.1).collect()
}

#[test]
fn truncates_at_every_batch_boundary() {
    for keep_batches in 0..=10usize {
        let (dir, model) = setup();
        let segments_before = segment_files(dir.path()).len();
        let report = if keep_batches == 0 {
            repair(dir.path(), None).unwrap()
        } else {
            repair(dir.path(), Some(keep_batches as u64 * 3 - 1)).unwrap()
        };
        assert_eq!(report.end_lsn, keep_batches as u64 * 3);
        assert_eq!(segment_files(dir.path()).len() + report.removed_segments.len(), segments_before);
        assert_eq!(contents(dir.path()), model[..keep_batches * 3].to_vec(), "keep {keep_batches} batches");
        // The log continues at the cut.
        let mut log = Log::open(dir.path(), small_opts()).unwrap();
        assert_eq!(log.append(&batch(&[b"next".to_vec()])).unwrap().first_lsn, keep_batches as u64 * 3);
        drop(log);
        assert_eq!(idres_log::verify(dir.path(), Some(0)).unwrap().end_lsn, keep_batches as u64 * 3 + 1);
    }
}

#[test]
fn refuses_to_cut_inside_a_batch_or_past_the_end() {
    let (dir, model) = setup();
    let err = repair(dir.path(), Some(4)).unwrap_err();
    assert!(matches!(err, LogError::NotABatchBoundary { lsn: 4, first: 3, end: 6 }), "{err}");
    assert!(err.to_string().contains("truncate after 2 or after 5"), "{err}");
    let err = repair(dir.path(), Some(30)).unwrap_err();
    assert!(matches!(err, LogError::LsnOutOfRange { .. }), "{err}");
    assert_eq!(contents(dir.path()), model, "a refused repair changes nothing");
}

#[test]
fn repairs_a_log_damaged_after_the_cut() {
    let (dir, model) = setup();
    // Damage batch 7 (LSNs 21..24): open or read must fail.
    let mut frames = Vec::new();
    for seg in segment_files(dir.path()) {
        for (off, _) in frame_offsets(&seg) {
            frames.push((seg.clone(), off));
        }
    }
    let (seg, off) = frames[7].clone();
    OpenOptions::new().write(true).open(&seg).unwrap().write_all_at(b"XX", off + 40).unwrap();
    let err = idres_log::verify(dir.path(), None).unwrap_err();
    assert!(matches!(&err, LogError::Corrupt { segment, offset, .. } if *segment == seg && *offset == off), "{err}");
    // Cutting after the damage is refused: the damage lies before the cut.
    assert!(matches!(repair(dir.path(), Some(26)), Err(LogError::Corrupt { .. })));
    let report = repair(dir.path(), Some(20)).unwrap();
    assert_eq!(report.end_lsn, 21);
    assert_eq!(contents(dir.path()), model[..21].to_vec());
    assert_eq!(idres_log::verify(dir.path(), None).unwrap().torn_tail, None);
}
