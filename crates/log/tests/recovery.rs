//! Crash consistency: a torn last frame is cut off at every byte offset; a flipped byte anywhere
//! else is damage named by segment and offset, never a panic, never wrong bytes.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::fs::{self, OpenOptions};
use std::os::unix::fs::FileExt;

use common::*;
use idres_log::{Log, LogError, RecoveryEvent};
use proptest::prelude::*;

fn records() -> impl Strategy<Value = Vec<Vec<u8>>> {
    prop::collection::vec(prop::collection::vec(any::<u8>(), 0..60), 1..4)
}

/// Writes `batches` and returns the model of records.
fn write(dir: &std::path::Path, batches: &[Vec<Vec<u8>>]) -> Vec<Vec<u8>> {
    let mut log = Log::open(dir, small_opts()).unwrap();
    let mut model = Vec::new();
    for b in batches {
        log.append(&batch(b)).unwrap();
        model.extend(b.iter().cloned());
    }
    model
}

fn check_reads(log: &Log, model: &[Vec<u8>]) {
    let got: Vec<Vec<u8>> = read_all(log, 0).into_iter().map(|x| x.1).collect();
    assert_eq!(got, model);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(cases(12)))]

    /// The last frame torn at every byte offset, in the two ways a crash tears it: the file ends
    /// there (no preallocation) or the rest is still preallocated zeros.
    #[test]
    fn torn_last_frame_at_every_offset(batches in prop::collection::vec(records(), 1..12), last in records()) {
        let dir = tempdir();
        let mut all = batches.clone();
        all.push(last.clone());
        let model = write(dir.path(), &all);
        let kept = &model[..model.len() - last.len()];
        let seg = segment_files(dir.path()).pop().unwrap();
        let (start, size) = *frame_offsets(&seg).last().unwrap();
        let seg_bytes = fs::read(&seg).unwrap();
        for cut in start..start + size {
            // Written bytes that are all zero cannot be told from preallocated zeros: a clean end.
            let prefix_nonzero = seg_bytes[start as usize..cut as usize].iter().any(|&b| b != 0);
            for zero_fill in [false, true] {
                let copy = copy_dir(dir.path());
                let seg_copy = copy.path().join(seg.file_name().unwrap());
                let f = OpenOptions::new().write(true).open(&seg_copy).unwrap();
                if zero_fill {
                    f.write_all_at(&vec![0u8; (start + size - cut) as usize], cut).unwrap();
                } else {
                    f.set_len(cut).unwrap();
                }
                drop(f);
                // Zeroing bytes that were zero already tears nothing: the frame is intact.
                let intact = zero_fill && seg_bytes[cut as usize..(start + size) as usize].iter().all(|&b| b == 0);
                let kept: &[Vec<u8>] = if intact { &model } else { kept };
                let mut log = Log::open(copy.path(), small_opts()).unwrap();
                prop_assert_eq!(log.next_lsn(), kept.len() as u64, "cut at {} (zero_fill {})", cut, zero_fill);
                let torn_reported = log.recovery().iter().any(|e| matches!(e,
                    RecoveryEvent::TornTailTruncated { offset, .. } if *offset == start));
                prop_assert_eq!(torn_reported, prefix_nonzero && !intact, "cut {} events {:?}", cut, log.recovery());
                check_reads(&log, kept);
                let a = log.append(&batch(&[b"after".to_vec()])).unwrap();
                prop_assert_eq!(a.first_lsn, kept.len() as u64);
                drop(log);
                let log = Log::open(copy.path(), small_opts()).unwrap();
                prop_assert!(log.recovery().is_empty(), "second open is clean: {:?}", log.recovery());
                let mut expect = kept.to_vec();
                expect.push(b"after".to_vec());
                check_reads(&log, &expect);
            }
        }
    }

    /// Any single byte of any frame but the tail, flipped: open or read names that segment and the
    /// frame's offset; no panic; every record returned before the error is right.
    #[test]
    fn flipped_byte_is_named_damage(batches in prop::collection::vec(records(), 2..40), pick in any::<prop::sample::Index>(), byte in any::<prop::sample::Index>(), mask in 1u8..=255) {
        let dir = tempdir();
        let model = write(dir.path(), &batches);
        let mut frames = Vec::new();
        for seg in segment_files(dir.path()) {
            for (off, size) in frame_offsets(&seg) {
                frames.push((seg.clone(), off, size));
            }
        }
        frames.pop(); // the tail is indistinguishable from a torn write
        let (seg, off, size) = frames[pick.index(frames.len())].clone();
        let at = off + byte.index(size as usize) as u64;
        let f = OpenOptions::new().read(true).write(true).open(&seg).unwrap();
        let mut b = [0u8; 1];
        f.read_exact_at(&mut b, at).unwrap();
        f.write_all_at(&[b[0] ^ mask], at).unwrap();
        drop(f);

        let is_damage_here = |e: &LogError| matches!(e, LogError::Corrupt { segment, offset, .. } if *segment == seg && *offset == off);
        match Log::open(dir.path(), small_opts()) {
            Err(e) => prop_assert!(is_damage_here(&e), "open: {}", e),
            Ok(log) => {
                let mut reader = log.reader(0).unwrap();
                let mut got = Vec::new();
                let res = reader.for_each_record(|lsn, r| got.push((lsn, r.to_vec())));
                let err = res.expect_err("reading over a flipped byte must fail");
                prop_assert!(is_damage_here(&err), "read: {}", err);
                for (lsn, r) in &got {
                    prop_assert_eq!(&model[*lsn as usize], r);
                }
            }
        }
        let err = idres_log::verify(dir.path(), None).expect_err("verify must see the damage");
        prop_assert!(is_damage_here(&err), "verify: {}", err);
    }
}

#[test]
fn flipped_segment_header_byte_is_damage() {
    let dir = tempdir();
    write(dir.path(), &[vec![vec![1u8; 1500]], vec![vec![2u8; 1500]], vec![vec![3u8; 1500]]]);
    let segs = segment_files(dir.path());
    assert!(segs.len() >= 2);
    for seg in &segs {
        for at in 0..64u64 {
            let f = OpenOptions::new().read(true).write(true).open(seg).unwrap();
            let mut b = [0u8; 1];
            f.read_exact_at(&mut b, at).unwrap();
            f.write_all_at(&[b[0] ^ 0x41], at).unwrap();
            let err = Log::open(dir.path(), small_opts()).err().expect("damaged header must not open");
            assert!(matches!(&err, LogError::Corrupt { segment, offset: 0, .. } if segment == seg), "{err}");
            f.write_all_at(&b, at).unwrap();
        }
    }
    assert!(Log::open(dir.path(), small_opts()).is_ok());
}

#[test]
fn zeroed_middle_frame_is_damage_not_the_end() {
    let dir = tempdir();
    let model = write(dir.path(), &[vec![b"one".to_vec()], vec![b"two".to_vec()], vec![b"three".to_vec()]]);
    assert_eq!(model.len(), 3);
    let seg = segment_files(dir.path()).pop().unwrap();
    let (off, size) = frame_offsets(&seg)[1];
    let f = OpenOptions::new().write(true).open(&seg).unwrap();
    f.write_all_at(&vec![0u8; size as usize], off).unwrap();
    let err = Log::open(dir.path(), small_opts()).err().expect("a hole before valid frames is damage");
    assert!(matches!(&err, LogError::Corrupt { offset, .. } if *offset == off), "{err}");
}

#[test]
fn huge_length_at_the_tail_is_refused_before_allocating() {
    let dir = tempdir();
    let model = write(dir.path(), &[vec![b"keep".to_vec()], vec![b"tail".to_vec()]]);
    let seg = segment_files(dir.path()).pop().unwrap();
    let (off, _) = *frame_offsets(&seg).last().unwrap();
    let f = OpenOptions::new().write(true).open(&seg).unwrap();
    f.write_all_at(&u32::MAX.to_le_bytes(), off + 4).unwrap();
    let log = Log::open(dir.path(), small_opts()).unwrap();
    assert_eq!(log.next_lsn(), 1);
    check_reads(&log, &model[..1]);
}

#[test]
fn garbage_after_the_end_is_cut_off() {
    let dir = tempdir();
    let model = write(dir.path(), &[vec![b"a".to_vec()], vec![b"b".to_vec()]]);
    let seg = segment_files(dir.path()).pop().unwrap();
    let (off, size) = *frame_offsets(&seg).last().unwrap();
    let f = OpenOptions::new().write(true).open(&seg).unwrap();
    f.write_all_at(b"junk that is not a frame", off + size + 100).unwrap();
    let log = Log::open(dir.path(), small_opts()).unwrap();
    assert_eq!(log.next_lsn(), 2);
    assert!(matches!(log.recovery(), [RecoveryEvent::TornTailTruncated { .. }]), "{:?}", log.recovery());
    check_reads(&log, &model);
}

#[test]
fn missing_middle_segment_is_damage() {
    let dir = tempdir();
    write(dir.path(), &(0..8).map(|i| vec![vec![i as u8; 1500]]).collect::<Vec<_>>());
    let segs = segment_files(dir.path());
    assert!(segs.len() >= 3);
    fs::remove_file(&segs[1]).unwrap();
    let err = Log::open(dir.path(), small_opts()).err().expect("a gap in segments is damage");
    assert!(matches!(err, LogError::Corrupt { .. }), "{err}");
}

/// A segment copied in from another log (over one of this log's, or as one more at its end) is
/// damage naming both files: the foreign one and the first segment whose log id it lacks.
#[test]
fn a_segment_of_another_log_is_refused_naming_both_files() {
    for extra in [false, true] {
        let a = tempdir();
        let b = tempdir();
        write(a.path(), &(0..4).map(|i| vec![vec![i as u8; 1500]]).collect::<Vec<_>>());
        write(b.path(), &(0..6).map(|i| vec![vec![i as u8; 1500]]).collect::<Vec<_>>());
        let sa = segment_files(a.path());
        let sb = segment_files(b.path());
        let (from, to) = if extra {
            let i = sa.len();
            (sb[i].clone(), a.path().join(sb[i].file_name().unwrap()))
        } else {
            (sb[1].clone(), sa[1].clone())
        };
        fs::copy(&from, &to).unwrap();
        let id_a = Log::open(b.path(), small_opts()).unwrap().log_id();
        let err = Log::open(a.path(), small_opts()).err().expect("foreign segment");
        let text = err.to_string();
        assert!(text.contains(&to.display().to_string()), "names the foreign file: {text}");
        assert!(text.contains(&sa[0].display().to_string()), "names the first segment: {text}");
        assert!(
            matches!(&err, LogError::Corrupt { segment, damage: idres_log::Damage::ForeignSegment { first_segment, found, .. }, .. }
                if *segment == to && *first_segment == sa[0] && *found == id_a),
            "{err}"
        );
        let ro = idres_log::ReadOnlyLog::open(a.path(), None).expect_err("read-only refuses it too");
        assert!(matches!(ro, LogError::Corrupt { damage: idres_log::Damage::ForeignSegment { .. }, .. }), "{ro}");
        assert!(matches!(idres_log::verify(a.path(), None), Err(LogError::Corrupt { .. })));
    }
}

/// `log_id` is the id in every segment header, the same from the writer, a read handle and a
/// read-only open, and it differs between logs.
#[test]
fn log_id_is_the_segment_headers_id() {
    let a = tempdir();
    let b = tempdir();
    write(a.path(), &(0..4).map(|i| vec![vec![i as u8; 1500]]).collect::<Vec<_>>());
    let log = Log::open(a.path(), small_opts()).unwrap();
    let id = log.log_id();
    assert!(log.segments().iter().all(|s| s.header.log_id == id));
    assert_eq!(log.read_handle().log_id(), Some(id));
    drop(log);
    assert_eq!(idres_log::ReadOnlyLog::open(a.path(), None).unwrap().log_id(), Some(id));
    assert_eq!(idres_log::ReadOnlyLog::open(b.path(), None).unwrap().log_id(), None, "no segment, no id");
    assert_ne!(Log::open(b.path(), small_opts()).unwrap().log_id(), id);
}

#[test]
fn unfinished_segment_creation_is_removed() {
    let dir = tempdir();
    let model = write(dir.path(), &[vec![b"a".to_vec()]]);
    fs::write(dir.path().join("00000000000000000001.seg.tmp"), b"half").unwrap();
    let log = Log::open(dir.path(), small_opts()).unwrap();
    assert!(matches!(log.recovery(), [RecoveryEvent::TempSegmentRemoved { .. }]));
    check_reads(&log, &model);
}

/// A kill while a segment was being created leaves its `.seg.tmp`: open removes it (reported),
/// and the log opens and appends, also when the temp file is all there is (a kill during the
/// first segment's creation, which left the temp file under the name the new first segment is
/// created under).
#[test]
fn a_leftover_seg_tmp_is_cleaned_up_and_the_log_appends() {
    for only_file in [true, false] {
        for contents in [&b""[..], &b"half"[..], &[0u8; 4096][..]] {
            let dir = tempdir();
            let mut model = if only_file { Vec::new() } else { write(dir.path(), &[vec![b"a".to_vec()]]) };
            let tmp_name = if only_file { "00000000000000000000.seg.tmp" } else { "00000000000000000001.seg.tmp" };
            let tmp = dir.path().join(tmp_name);
            fs::write(&tmp, contents).unwrap();
            let mut log = Log::open(dir.path(), small_opts()).unwrap();
            assert!(
                matches!(log.recovery(), [RecoveryEvent::TempSegmentRemoved { path }] if *path == tmp),
                "{:?}",
                log.recovery()
            );
            log.append(&batch(&[b"b".to_vec()])).unwrap();
            model.push(b"b".to_vec());
            check_reads(&log, &model);
            drop(log);
            assert!(!tmp.exists(), "removed");
            let log = Log::open(dir.path(), small_opts()).unwrap();
            assert!(log.recovery().is_empty(), "{:?}", log.recovery());
            check_reads(&log, &model);
        }
    }
}

/// An owner that knows records were acknowledged (`keep_at_least`) gets `LostRecords` instead of a
/// cut, and nothing in the directory changes; at or below the log's end, a torn tail is cut as
/// usual. A read-only open reads up to the tear and changes nothing either.
#[test]
fn a_tail_holding_acknowledged_records_is_lost_records_not_a_cut() {
    let dir = tempdir();
    let model = write(dir.path(), &[vec![b"a".to_vec()], vec![b"b".to_vec(), b"c".to_vec()], vec![b"d".to_vec()]]);
    assert_eq!(model.len(), 4);
    let seg = segment_files(dir.path()).pop().unwrap();
    let (start, _) = *frame_offsets(&seg).last().unwrap();
    let f = OpenOptions::new().write(true).open(&seg).unwrap();
    f.write_all_at(&[0xff], start + 30).unwrap(); // bit rot in the last frame's payload
    let before = fs::read(&seg).unwrap();

    // Read-only: the first three records, the tear reported, nothing written.
    let ro = idres_log::ReadOnlyLog::open(dir.path(), None).unwrap();
    assert_eq!(ro.end_lsn(), 3);
    let (torn_seg, offset, _) = ro.torn_tail.clone().unwrap();
    assert_eq!((torn_seg, offset), (seg.clone(), start));
    let mut got = Vec::new();
    ro.reader(0).unwrap().for_each_record(|_, r| got.push(r.to_vec())).unwrap();
    assert_eq!(got, model[..3].to_vec());
    assert_eq!(fs::read(&seg).unwrap(), before);

    // The owner saw LSN 4: refused, unchanged.
    let Err(err) = Log::open(dir.path(), idres_log::LogOptions { keep_at_least: 4, ..small_opts() }) else {
        panic!("opened a log that lost acknowledged records")
    };
    assert!(matches!(&err, LogError::LostRecords { end_lsn: 3, required: 4, offset, .. } if *offset == start), "{err}");
    assert!(err.to_string().contains("nothing was changed"), "{err}");
    assert_eq!(fs::read(&seg).unwrap(), before, "nothing changed");

    // The owner saw only LSN 3: an unacknowledged tear, cut as before.
    let log = Log::open(dir.path(), idres_log::LogOptions { keep_at_least: 3, ..small_opts() }).unwrap();
    assert!(matches!(log.recovery(), [RecoveryEvent::TornTailTruncated { end_lsn: 3, .. }]));
    check_reads(&log, &model[..3]);
    drop(log);

    // An empty directory whose owner saw records: refused, and no segment is created.
    let empty = tempdir();
    let Err(err) = Log::open(empty.path(), idres_log::LogOptions { keep_at_least: 1, ..small_opts() }) else {
        panic!("opened an empty log whose owner saw records")
    };
    assert!(matches!(err, LogError::LostRecords { end_lsn: 0, required: 1, .. }), "{err}");
    assert!(segment_files(empty.path()).is_empty());
}
