//! Any sequence of batches, across roll-overs and reopens, reads back byte-identical with the
//! right LSNs, from the start and from any LSN.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::*;
use idres_log::{Durability, Log, LogError, LogOptions};
use proptest::prelude::*;

#[derive(Debug, Clone)]
enum Op {
    Append(Vec<Vec<u8>>),
    Reopen,
    Sync,
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        8 => prop::collection::vec(prop::collection::vec(any::<u8>(), 0..300), 0..6).prop_map(Op::Append),
        1 => Just(Op::Reopen),
        1 => Just(Op::Sync),
    ]
}

fn durability() -> impl Strategy<Value = Durability> {
    prop_oneof![
        Just(Durability::EveryBatch),
        Just(Durability::Never),
        Just(Durability::Interval(std::time::Duration::from_millis(1))),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(cases(48)))]

    #[test]
    fn batches_read_back_identical(ops in prop::collection::vec(op(), 1..40), durability in durability(), probes in prop::collection::vec(any::<prop::sample::Index>(), 1..8)) {
        let dir = tempdir();
        let opts = LogOptions { durability, ..small_opts() };
        let mut log = Log::open(dir.path(), opts.clone()).unwrap();
        let mut model: Vec<Vec<u8>> = Vec::new();
        for op in &ops {
            match op {
                Op::Append(records) => {
                    let a = log.append(&batch(records)).unwrap();
                    prop_assert_eq!(a.first_lsn, model.len() as u64);
                    model.extend(records.iter().cloned());
                    prop_assert_eq!(a.end_lsn, model.len() as u64);
                    prop_assert_eq!(log.next_lsn(), model.len() as u64);
                }
                Op::Reopen => {
                    drop(log);
                    log = Log::open(dir.path(), opts.clone()).unwrap();
                    prop_assert!(log.recovery().is_empty(), "clean reopen reported {:?}", log.recovery());
                    prop_assert_eq!(log.next_lsn(), model.len() as u64);
                }
                Op::Sync => {
                    log.sync().unwrap();
                    prop_assert_eq!(log.durable_lsn(), model.len() as u64);
                }
            }
        }
        let expected: Vec<(u64, Vec<u8>)> = model.iter().cloned().enumerate().map(|(i, r)| (i as u64, r)).collect();
        prop_assert_eq!(&read_all(&log, 0), &expected);
        for p in &probes {
            let from = if model.is_empty() { 0 } else { p.index(model.len() + 1) };
            prop_assert_eq!(&read_all(&log, from as u64), &expected[from..].to_vec());
        }
        // Past the end is an error, not an empty read that hides a bug.
        let past = model.len() as u64 + 1;
        prop_assert!(
            matches!(log.reader(past), Err(LogError::LsnOutOfRange { .. })),
            "reader past the end must fail"
        );
        // A second process view: close and verify the whole directory offline.
        drop(log);
        let report = idres_log::verify(dir.path(), Some(0)).unwrap();
        prop_assert_eq!(report.end_lsn, model.len() as u64);
        prop_assert_eq!(report.torn_tail, None);
        let log = Log::open(dir.path(), opts).unwrap();
        prop_assert_eq!(&read_all(&log, 0), &expected);
    }
}

#[test]
fn rolls_over_and_reads_across_segments() {
    let dir = tempdir();
    let mut log = Log::open(dir.path(), small_opts()).unwrap();
    let rec = vec![7u8; 1000];
    for _ in 0..20 {
        log.append(&batch(std::slice::from_ref(&rec))).unwrap();
    }
    let segs = log.segments();
    assert!(segs.len() >= 5, "expected roll-overs, got {} segments", segs.len());
    for (i, s) in segs.iter().enumerate() {
        assert_eq!(s.header.segment_seq, i as u64);
    }
    let all = read_all(&log, 0);
    assert_eq!(all.len(), 20);
    assert!(all.iter().enumerate().all(|(i, (lsn, r))| *lsn == i as u64 && *r == rec));
    assert_eq!(read_all(&log, 13).first().map(|x| x.0), Some(13));
    // The next segment was prepared in the background; a clean shutdown keeps it for reuse.
    drop(log);
    let names = || {
        let mut v: Vec<String> =
            std::fs::read_dir(dir.path()).unwrap().map(|e| e.unwrap().file_name().into_string().unwrap()).collect();
        v.sort();
        v
    };
    let prepared = format!("prepared-{:020}.seg.tmp", segs.len());
    let expected: Vec<String> = {
        let mut v: Vec<String> =
            segs.iter().map(|s| s.path.file_name().unwrap().to_str().unwrap().to_string()).collect();
        v.push("LOCK".into());
        v.push(prepared.clone());
        v.sort();
        v
    };
    assert_eq!(names(), expected);
    let mut log = Log::open(dir.path(), small_opts()).unwrap();
    assert!(log.recovery().is_empty(), "{:?}", log.recovery());
    for _ in 0..4 {
        log.append(&batch(std::slice::from_ref(&rec))).unwrap();
    }
    assert!(log.segments().len() > segs.len());
    assert!(!names().contains(&prepared), "the prepared file became a segment");
    assert_eq!(read_all(&log, 0).len(), 24);
}

#[test]
fn reads_from_the_middle_of_a_batch() {
    let dir = tempdir();
    let mut log = Log::open(dir.path(), small_opts()).unwrap();
    log.append(&batch(&[b"a".to_vec(), b"b".to_vec(), b"c".to_vec()])).unwrap();
    log.append(&batch(&[b"d".to_vec()])).unwrap();
    let got: Vec<Vec<u8>> = read_all(&log, 1).into_iter().map(|x| x.1).collect();
    assert_eq!(got, vec![b"b".to_vec(), b"c".to_vec(), b"d".to_vec()]);
    let handle = log.read_handle();
    let mut r = handle.reader_range(1, 2).unwrap();
    let mut out = Vec::new();
    r.for_each_record(|l, b| out.push((l, b.to_vec()))).unwrap();
    assert_eq!(out, vec![(1, b"b".to_vec())]);
}

#[test]
fn empty_batch_takes_no_lsn() {
    let dir = tempdir();
    let mut log = Log::open(dir.path(), small_opts()).unwrap();
    let a = log.append(&batch(&[])).unwrap();
    assert_eq!((a.first_lsn, a.end_lsn), (0, 0));
    let a = log.append(&batch(&[Vec::new()])).unwrap();
    assert_eq!((a.first_lsn, a.end_lsn), (0, 1), "an empty record still takes an LSN");
}

#[test]
fn oversized_batch_is_refused_and_nothing_is_written() {
    let dir = tempdir();
    let mut log = Log::open(dir.path(), small_opts()).unwrap();
    let err = log.append(&batch(&[vec![0u8; 5000]])).unwrap_err();
    assert!(matches!(err, LogError::BatchTooLarge { .. }), "{err}");
    assert_eq!(log.next_lsn(), 0);
    assert!(log.poisoned().is_none(), "a refused batch does not poison");
    log.append(&batch(&[b"ok".to_vec()])).unwrap();
    assert_eq!(read_all(&log, 0), vec![(0, b"ok".to_vec())]);
}

#[test]
fn concurrent_reader_sees_what_was_written() {
    let dir = tempdir();
    let mut log = Log::open(dir.path(), LogOptions { durability: Durability::Never, ..small_opts() }).unwrap();
    let handle = log.read_handle();
    let reader_thread = std::thread::spawn(move || {
        let mut seen = 0u64;
        while seen < 500 {
            let end = handle.end_lsn();
            if end > seen {
                let mut r = handle.reader(seen).unwrap();
                r.for_each_record(|lsn, rec| {
                    assert_eq!(lsn, seen);
                    assert_eq!(rec, lsn.to_le_bytes());
                    seen += 1;
                })
                .unwrap();
            }
            std::thread::yield_now();
        }
        seen
    });
    for i in 0..500u64 {
        log.append(&batch(&[i.to_le_bytes().to_vec()])).unwrap();
    }
    assert_eq!(reader_thread.join().unwrap(), 500);
}

#[test]
fn preallocated_zero_tail_is_the_end() {
    let dir = tempdir();
    let opts = small_opts();
    {
        let mut log = Log::open(dir.path(), opts.clone()).unwrap();
        log.append(&batch(&[b"x".to_vec()])).unwrap();
    }
    let seg = &segment_files(dir.path())[0];
    assert_eq!(std::fs::metadata(seg).unwrap().len(), opts.segment_bytes, "segment is preallocated");
    let log = Log::open(dir.path(), opts.clone()).unwrap();
    assert!(log.recovery().is_empty());
    assert_eq!(log.next_lsn(), 1);
    drop(log);
    // Without preallocation, then zeros appended by hand (as a filesystem might leave them).
    let dir2 = tempdir();
    let no_prealloc = LogOptions { preallocate: false, ..opts };
    {
        let mut log = Log::open(dir2.path(), no_prealloc.clone()).unwrap();
        log.append(&batch(&[b"y".to_vec()])).unwrap();
    }
    let seg = &segment_files(dir2.path())[0];
    let f = std::fs::OpenOptions::new().append(true).open(seg).unwrap();
    f.set_len(f.metadata().unwrap().len() + 3000).unwrap();
    let mut log = Log::open(dir2.path(), no_prealloc).unwrap();
    assert!(log.recovery().is_empty(), "{:?}", log.recovery());
    assert_eq!(log.append(&batch(&[b"z".to_vec()])).unwrap().first_lsn, 1);
    assert_eq!(read_all(&log, 0).len(), 2);
}
