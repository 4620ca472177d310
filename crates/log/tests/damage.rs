//! Damage that open, readers and verify must name, and the point-in-time tail policy.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::fs::{self, OpenOptions};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use common::*;
use idres_log::format::SegmentHeader;
use idres_log::{Damage, Log, LogError, LogOptions, RecoveryEvent, TailRecovery};

/// `n` batches of one record of `size` bytes (record i is filled with byte i).
fn write_log(dir: &Path, n: u8, size: usize) -> Vec<Vec<u8>> {
    let mut log = Log::open(dir, small_opts()).unwrap();
    let recs: Vec<Vec<u8>> = (0..n).map(|i| vec![i; size]).collect();
    for r in &recs {
        log.append(&batch(std::slice::from_ref(r))).unwrap();
    }
    recs
}

fn poke(path: &Path, at: u64, bytes: &[u8]) {
    OpenOptions::new().write(true).open(path).unwrap().write_all_at(bytes, at).unwrap();
}

fn corrupt_at(err: &LogError) -> Option<(PathBuf, u64)> {
    match err {
        LogError::Corrupt { segment, offset, .. } => Some((segment.clone(), *offset)),
        _ => None,
    }
}

#[test]
fn point_in_time_keeps_the_longest_valid_prefix() {
    let dir = tempdir();
    let recs = write_log(dir.path(), 5, 100); // one segment: 5 frames
    let seg = segment_files(dir.path()).pop().unwrap();
    let frames = frame_offsets(&seg);
    assert_eq!(frames.len(), 5);
    poke(&seg, frames[2].0 + 40, b"rot");
    let err = Log::open(dir.path(), small_opts()).err().expect("strict refuses damage followed by valid frames");
    assert_eq!(corrupt_at(&err), Some((seg.clone(), frames[2].0)), "{err}");
    let pit = LogOptions { tail_recovery: TailRecovery::PointInTime, ..small_opts() };
    let mut log = Log::open(dir.path(), pit.clone()).unwrap();
    assert_eq!(log.next_lsn(), 2);
    assert!(
        matches!(log.recovery(), [RecoveryEvent::DamagedTailTruncated { offset, end_lsn: 2, .. }] if *offset == frames[2].0),
        "{:?}",
        log.recovery()
    );
    assert!(log.recovery()[0].to_string().contains("DAMAGED"));
    let got: Vec<Vec<u8>> = read_all(&log, 0).into_iter().map(|x| x.1).collect();
    assert_eq!(got, recs[..2].to_vec());
    assert_eq!(log.append(&batch(&[b"new".to_vec()])).unwrap().first_lsn, 2);
    drop(log);
    // The discarded frames are gone for good: the next strict open is clean.
    let log = Log::open(dir.path(), small_opts()).unwrap();
    assert!(log.recovery().is_empty());
    assert_eq!(log.next_lsn(), 3);
}

#[test]
fn point_in_time_still_refuses_damage_in_sealed_segments() {
    let dir = tempdir();
    write_log(dir.path(), 9, 1500); // 2 frames per segment
    let segs = segment_files(dir.path());
    let (off, _) = frame_offsets(&segs[0])[0];
    poke(&segs[0], off + 30, b"x");
    let pit = LogOptions { tail_recovery: TailRecovery::PointInTime, ..small_opts() };
    let log = Log::open(dir.path(), pit).unwrap(); // segment 0 is not scanned on open
    let err = log.reader(0).unwrap().for_each_record(|_, _| {}).unwrap_err();
    assert_eq!(corrupt_at(&err), Some((segs[0].clone(), off)));
}

#[test]
fn codec_mismatch_is_refused() {
    let dir = tempdir();
    write_log(dir.path(), 1, 10);
    let err = Log::open(dir.path(), LogOptions { codec_id: 5, ..small_opts() }).err().unwrap();
    assert!(matches!(err, LogError::Corrupt { damage: Damage::CodecMismatch { found: 0, expected: 5 }, .. }), "{err}");
}

#[test]
fn renamed_segment_is_refused() {
    let dir = tempdir();
    write_log(dir.path(), 6, 1500);
    let segs = segment_files(dir.path());
    let renamed = dir.path().join("00000000000000000003.seg");
    fs::rename(&segs[1], &renamed).unwrap();
    let err = Log::open(dir.path(), small_opts()).err().unwrap();
    assert!(
        matches!(&err, LogError::Corrupt { segment, damage: Damage::NameMismatch { .. }, .. } if *segment == renamed),
        "{err}"
    );
}

#[test]
fn missing_first_segment_is_refused() {
    let dir = tempdir();
    write_log(dir.path(), 6, 1500);
    fs::remove_file(&segment_files(dir.path())[0]).unwrap();
    let err = Log::open(dir.path(), small_opts()).err().unwrap();
    assert!(matches!(err, LogError::Corrupt { damage: Damage::MissingStart { segment_seq: 1, .. }, .. }), "{err}");
    let err = idres_log::verify(dir.path(), None).unwrap_err();
    assert!(matches!(err, LogError::Corrupt { damage: Damage::MissingStart { .. }, .. }), "{err}");
}

#[test]
fn absurd_base_lsn_is_refused_not_overflowed() {
    let dir = tempdir();
    write_log(dir.path(), 4, 1500);
    let segs = segment_files(dir.path());
    let h = SegmentHeader::decode(&fs::read(&segs[1]).unwrap()).unwrap();
    let huge = u64::MAX - 3;
    let forged = SegmentHeader { base_lsn: huge, ..h };
    let path = dir.path().join(format!("{huge:020}.seg"));
    let mut bytes = fs::read(&segs[1]).unwrap();
    bytes[..64].copy_from_slice(&forged.encode());
    fs::write(&path, &bytes).unwrap();
    for s in &segs[1..] {
        fs::remove_file(s).unwrap();
    }
    let err = Log::open(dir.path(), small_opts()).err().unwrap();
    assert!(matches!(err, LogError::Corrupt { damage: Damage::BaseLsnTooLarge { .. }, .. }), "{err}");
}

#[test]
fn sealed_segment_cut_short_is_found_on_open_and_on_read() {
    // Second-to-last segment: open walks its frame headers.
    let dir = tempdir();
    write_log(dir.path(), 6, 1500);
    let segs = segment_files(dir.path());
    let prev = &segs[segs.len() - 2];
    let (off, size) = *frame_offsets(prev).last().unwrap();
    poke(prev, off, &vec![0u8; size as usize]);
    let err = Log::open(dir.path(), small_opts()).err().expect("open must see the missing frame");
    assert!(
        matches!(&err, LogError::Corrupt { segment, damage: Damage::SegmentEndsEarly { .. }, .. } if segment == prev),
        "{err}"
    );

    // An older sealed segment: readers and verify find it.
    let dir = tempdir();
    let recs = write_log(dir.path(), 8, 1500);
    let segs = segment_files(dir.path());
    let (off, size) = *frame_offsets(&segs[0]).last().unwrap();
    poke(&segs[0], off, &vec![0u8; size as usize]);
    let log = Log::open(dir.path(), small_opts()).unwrap();
    let mut got = Vec::new();
    let err = log.reader(0).unwrap().for_each_record(|l, r| got.push((l, r.to_vec()))).unwrap_err();
    assert!(
        matches!(&err, LogError::Corrupt { segment, damage: Damage::SegmentEndsEarly { .. }, .. } if *segment == segs[0]),
        "{err}"
    );
    assert!(got.iter().all(|(l, r)| recs[*l as usize] == *r));
    // Starting the read past the hole never returns wrong records.
    let got = read_all(&log, 3);
    assert!(got.iter().all(|(l, r)| recs[*l as usize] == *r));
    drop(log);
    assert!(matches!(idres_log::verify(dir.path(), None), Err(LogError::Corrupt { .. })));
}

/// Every byte of every frame header and record table, and every fifth payload byte, of every
/// frame but the tail, flipped in turn: open, a read from the start, a read from the damaged
/// frame's own LSN, and verify each either name that segment or return only right records.
#[test]
fn every_flipped_byte_is_named() {
    let dir = tempdir();
    let mut log = Log::open(dir.path(), small_opts()).unwrap();
    let mut model: Vec<Vec<u8>> = Vec::new();
    let mut frame_lsns = Vec::new();
    for i in 0..9u8 {
        let recs: Vec<Vec<u8>> = (0..(i % 3 + 1)).map(|j| vec![i ^ j; 300 + i as usize * 40]).collect();
        frame_lsns.push(model.len() as u64);
        log.append(&batch(&recs)).unwrap();
        model.extend(recs);
    }
    drop(log);
    let mut frames = Vec::new();
    for seg in segment_files(dir.path()) {
        for (off, size) in frame_offsets(&seg) {
            frames.push((seg.clone(), off, size));
        }
    }
    assert_eq!(frames.len(), frame_lsns.len());
    assert!(segment_files(dir.path()).len() >= 3);
    frames.pop();
    let mut flips = 0;
    for (k, (seg, off, size)) in frames.iter().enumerate() {
        let original = fs::read(seg).unwrap();
        let positions = (0..*size).filter(|p| *p < 24 + 4 + 12 || p % 5 == 0);
        for p in positions {
            let at = off + p;
            let mut damaged = original.clone();
            damaged[at as usize] ^= 0x20;
            fs::write(seg, &damaged).unwrap();
            flips += 1;
            let here = |e: &LogError| matches!(e, LogError::Corrupt { segment, .. } if segment == seg);
            match Log::open(dir.path(), small_opts()) {
                Err(e) => assert!(here(&e), "flip at {}:{at}: open said {e}", seg.display()),
                Ok(log) => {
                    for from in [0, frame_lsns[k]] {
                        let mut got = Vec::new();
                        let res =
                            log.reader(from).and_then(|mut r| r.for_each_record(|l, b| got.push((l, b.to_vec()))));
                        let err = res.expect_err("reading over the flipped byte must fail");
                        assert!(here(&err), "flip at {}:{at} read from {from}: {err}", seg.display());
                        for (l, b) in &got {
                            assert_eq!(&model[*l as usize], b, "wrong bytes returned for LSN {l}");
                        }
                    }
                }
            }
            let err = idres_log::verify(dir.path(), None).expect_err("verify must fail");
            assert!(here(&err), "verify: {err}");
        }
        fs::write(seg, &original).unwrap();
    }
    assert!(flips > 1000, "{flips} flips");
}

/// Past a sealed segment's last frame, in its unused zero tail, bytes are not data: a flipped
/// byte there (right after the last frame, inside what would be the next frame header, or at the
/// file's end) is a warning naming segment and offset, never damage or a cut; every record reads.
#[test]
fn a_stray_byte_in_a_sealed_segments_zero_tail_is_a_warning_not_damage() {
    let make = || {
        let dir = tempdir();
        let recs = write_log(dir.path(), 9, 1500); // two frames per 4 KiB segment: five segments
        (dir, recs)
    };
    let (probe, _) = make();
    let segs = segment_files(probe.path());
    assert!(segs.len() >= 3, "{segs:?}");
    let sealed = segs.len() - 2; // the one open checks; verify checks every sealed one
    let end = frame_offsets(&segs[sealed]).last().map(|&(at, len)| at + len).unwrap();
    let len = fs::metadata(&segs[sealed]).unwrap().len();
    assert!(end < len, "a zero tail");
    for at in [end, end + 3, end + 23, len - 1] {
        let (dir, recs) = make();
        let segs = segment_files(dir.path());
        poke(&segs[sealed], at, &[0x5a]);
        poke(&segs[0], end, &[0xa5]);
        let report = idres_log::verify(dir.path(), None).unwrap();
        assert_eq!(report.end_lsn, 9);
        assert_eq!(report.stray_bytes, vec![(segs[0].clone(), end), (segs[sealed].clone(), at)]);
        let ro = idres_log::ReadOnlyLog::open(dir.path(), None).unwrap();
        assert_eq!(ro.stray_bytes, Some((segs[sealed].clone(), at)));
        let mut got = Vec::new();
        ro.reader(0).unwrap().for_each_record(|_, r| got.push(r.to_vec())).unwrap();
        assert_eq!(got, recs);
        drop(ro);
        let mut log = Log::open(dir.path(), small_opts()).unwrap();
        assert!(
            matches!(log.recovery(), [RecoveryEvent::StrayBytesAfterSeal { segment, offset }] if *segment == segs[sealed] && *offset == at),
            "{:?}",
            log.recovery()
        );
        let text = log.recovery()[0].to_string();
        assert!(
            text.contains(&segs[sealed].display().to_string()) && text.contains(&format!("byte offset {at}")),
            "{text}"
        );
        let got: Vec<Vec<u8>> = read_all(&log, 0).into_iter().map(|x| x.1).collect();
        assert_eq!(got, recs, "every record reads");
        log.append(&batch(&[b"more".to_vec()])).unwrap();
        drop(log);
        assert_eq!(fs::read(&segs[sealed]).unwrap()[at as usize], 0x5a, "nothing was changed");
    }
}
