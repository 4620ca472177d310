//! Tests of restoring snapshots: the rejections kept and forgotten (snapshot v3), v2 snapshots, damage.

use idres_model::{Entry, Map, Record, Target, Timestamp};

use super::*;
use crate::outcome::REASON_COUNT;
use crate::{Applied, Reason, REJECTIONS_KEPT_MAX};

const EARLY: usize = 10;

/// `EARLY` rejected records made by `early(i)`, then `REJECTIONS_KEPT_MAX` events of a
/// malformed uid (`invalid_id`): the first `EARLY` rejections are forgotten.
fn fold(early: impl Fn(usize) -> Record) -> Resolver {
    let mut r = Resolver::new(Config::default());
    r.set_change_tracking(false);
    for i in 0..EARLY + REJECTIONS_KEPT_MAX {
        let record = if i < EARLY {
            early(i)
        } else {
            let target = Target::Uid(Uid::from_wire_bytes(b" bad".to_vec()));
            Record::Event {
                target,
                name: "e".into(),
                props: Map::new(),
                session_id: None,
                ts: None,
                system: false,
                message_id: None,
            }
        };
        let e = Entry { appended_at: Timestamp(i as i64), record };
        assert!(matches!(r.apply(i as u64, &e), Ok(Applied::Rejected(_))), "record {i} is rejected");
    }
    r
}

/// Five blocked identifies of uid `early` (`blocked_value`), five merges of unknown cids.
fn blocked_then_unknown(i: usize) -> Record {
    if i < EARLY / 2 {
        Record::Identify {
            uid: Some(Uid::from_wire_bytes(b"early".to_vec())),
            cid: Cid::from_wire_bytes(b"null".to_vec()),
            attrs: Map::new(),
            ts: None,
            message_id: None,
        }
    } else {
        Record::Merge { from: Cid::from_wire_bytes(b"c0".to_vec()), into: Cid::from_wire_bytes(b"c1".to_vec()) }
    }
}

/// Sets the header's body length and both CRCs to fit the bytes.
fn reseal(mut s: Vec<u8>) -> Vec<u8> {
    let body_len = (s.len() - SNAPSHOT_HEADER_BYTES) as u64;
    s[56..64].copy_from_slice(&body_len.to_le_bytes());
    let body_crc = crc32c::crc32c(&s[SNAPSHOT_HEADER_BYTES..]);
    s[64..68].copy_from_slice(&body_crc.to_le_bytes());
    let head_crc = crc32c::crc32c(&s[..68]);
    s[68..72].copy_from_slice(&head_crc.to_le_bytes());
    s
}

#[test]
fn the_fold_keeps_the_newest_rejections_and_counts_the_forgotten_by_reason() {
    let r = fold(blocked_then_unknown);
    assert_eq!(r.rejections().len(), REJECTIONS_KEPT_MAX);
    let lsns: Vec<Lsn> = r.rejections().iter().map(|x| x.lsn).collect();
    assert_eq!(lsns, (EARLY as u64..(EARLY + REJECTIONS_KEPT_MAX) as u64).collect::<Vec<_>>(), "the newest");
    let f = r.rejections_forgotten();
    assert_eq!(f.by_reason(), [(Reason::BlockedValue, 5), (Reason::UnknownCid, 5)]);
    assert_eq!((f.count(), f.newest_lsn()), (EARLY as u64, Some(EARLY as u64 - 1)));
    assert_eq!(r.rejection_count(), (EARLY + REJECTIONS_KEPT_MAX) as u64);

    // Explain of ids named only by forgotten rejections says that some were forgotten.
    for e in
        [r.explain_uid(&Uid::from_wire_bytes(b"early".to_vec())), r.explain_cid(&Cid::from_wire_bytes(b"c0".to_vec()))]
    {
        let e = e.expect("an explanation, not `unknown`");
        assert!(e.node.is_none() && e.rejections.is_empty());
        assert_eq!(&e.rejections_forgotten, f);
    }
    // An id with kept rejections lists them, and the forgotten count beside them.
    let bad = r.explain_uid(&Uid::from_wire_bytes(b" bad".to_vec())).unwrap();
    assert_eq!(bad.rejections.len(), REJECTIONS_KEPT_MAX);
    assert_eq!(bad.rejections_forgotten.count(), EARLY as u64);
    // Before the bound nothing is forgotten, and an unknown id stays unknown.
    let mut young = Resolver::new(Config::default());
    let e = Entry { appended_at: Timestamp(0), record: blocked_then_unknown(0) };
    young.apply(0, &e).unwrap();
    assert!(young.rejections_forgotten().is_empty());
    assert!(young.explain_uid(&Uid::from_wire_bytes(b"never".to_vec())).is_none());
    assert!(young.explain_uid(&Uid::from_wire_bytes(b"early".to_vec())).unwrap().rejections_forgotten.is_empty());
}

#[test]
fn forgotten_rejections_round_trip_through_a_snapshot_and_reach_the_digest() {
    let r = fold(blocked_then_unknown);
    let snap = r.snapshot().unwrap();
    assert_eq!(
        u16::from_le_bytes([snap[8], snap[9]]),
        SNAPSHOT_VERSION_FORGOTTEN,
        "version 3: something was forgotten"
    );
    let back = Resolver::restore(&snap, Config::default()).unwrap();
    assert_eq!(back.rejections_forgotten(), r.rejections_forgotten());
    assert_eq!(back.rejections(), r.rejections());
    assert_eq!(back.digest(), r.digest());
    assert_eq!(back.snapshot().unwrap(), snap);

    // The same kept rejections, other forgotten ones: another digest. (The same log one
    // record shorter forgets one fewer: another digest too.)
    let other = fold(|_| blocked_then_unknown(0));
    assert_eq!(other.rejections(), r.rejections());
    assert_eq!(other.rejections_forgotten().by_reason(), [(Reason::BlockedValue, 10)]);
    assert_ne!(other.digest(), r.digest());
    let mut fewer = Resolver::new(Config::default());
    let mut more = Resolver::new(Config::default());
    for (i, record) in [blocked_then_unknown(0), blocked_then_unknown(0)].into_iter().enumerate() {
        let e = Entry { appended_at: Timestamp(0), record };
        fewer.apply(i as u64, &e).unwrap();
        more.apply(i as u64, &e).unwrap();
    }
    // `more` forgets its first rejection: its kept list equals `fewer`'s second half.
    more.rejections_forgotten.note(&more.rejections[0].clone());
    more.rejections.pop_front();
    fewer.rejections.pop_front();
    assert_ne!(more.digest(), fewer.digest(), "the digest sees a forgotten rejection");
}

#[test]
fn a_version_2_snapshot_holding_every_rejection_restores_to_what_a_replay_keeps() {
    // What a build before the bound wrote: all of them kept, none forgotten (version 2).
    let replay = fold(blocked_then_unknown);
    let mut first = Resolver::new(Config::default());
    for i in 0..EARLY {
        first.apply(i as u64, &Entry { appended_at: Timestamp(i as i64), record: blocked_then_unknown(i) }).unwrap();
    }
    let mut old = replay.clone();
    old.rejections = first.rejections.iter().chain(replay.rejections.iter()).cloned().collect();
    old.rejections_forgotten = ForgottenRejections::default();
    let snap = old.snapshot().unwrap();
    assert_eq!(u16::from_le_bytes([snap[8], snap[9]]), SNAPSHOT_VERSION_OLDEST_READ);
    let back = Resolver::restore(&snap, Config::default()).unwrap();
    assert_eq!(back.rejections(), replay.rejections());
    assert_eq!(back.rejections_forgotten(), replay.rejections_forgotten());
    assert_eq!(back.digest(), replay.digest());
}

#[test]
fn a_damaged_forgotten_section_is_a_typed_error() {
    let snap = fold(blocked_then_unknown).snapshot().unwrap();
    // The section: limit u32, newest LSN u64, count u32, 2 × (reason u8, count u64).
    let at = snap.len() - (4 + 8 + 4 + 2 * 9);
    assert_eq!(snap[at..at + 4], (REJECTIONS_KEPT_MAX as u32).to_le_bytes());
    let edit = |f: &dyn Fn(&mut Vec<u8>)| {
        let mut s = snap.clone();
        f(&mut s);
        Resolver::restore(&reseal(s), Config::default()).map(|_| ()).expect_err("refused")
    };
    let invalid = |e: SnapshotError| assert!(matches!(e, SnapshotError::Invalid { .. }), "{e}");
    // Cut short anywhere in the section, or missing altogether.
    for cut in [1, 9, 20, snap.len() - at] {
        invalid(edit(&|s| s.truncate(s.len() - cut)));
    }
    // Another build's limit: not damage, its own error.
    let e = edit(&|s| s[at..at + 4].copy_from_slice(&7u32.to_le_bytes()));
    assert_eq!(e, SnapshotError::RejectionsKeptMax { found: 7, this_build: REJECTIONS_KEPT_MAX as u32 });
    let (lsn, n, r1, c1, r2) = (at + 4, at + 12, at + 16, at + 17, at + 25);
    // The newest forgotten LSN at or after the first kept one, or not yet folded.
    for newest in [EARLY as u64, u64::MAX] {
        invalid(edit(&|s| s[lsn..lsn + 8].copy_from_slice(&newest.to_le_bytes())));
    }
    // No reason; a count larger than the bytes.
    invalid(edit(&|s| s[n..n + 4].copy_from_slice(&0u32.to_le_bytes())));
    invalid(edit(&|s| s[n..n + 4].copy_from_slice(&3u32.to_le_bytes())));
    // An unknown reason, reasons out of order or repeated, a zero count, too many in all.
    invalid(edit(&|s| s[r2] = REASON_COUNT as u8));
    invalid(edit(&|s| s[r2] = s[r1]));
    invalid(edit(&|s| s.swap(r1, r2)));
    invalid(edit(&|s| s[c1..c1 + 8].copy_from_slice(&0u64.to_le_bytes())));
    invalid(edit(&|s| s[c1..c1 + 8].copy_from_slice(&6u64.to_le_bytes())));
    invalid(edit(&|s| s[c1..c1 + 8].copy_from_slice(&u64::MAX.to_le_bytes())));
    // The section under a version-2 header: bytes after the body.
    invalid(edit(&|s| s[8..10].copy_from_slice(&SNAPSHOT_VERSION_OLDEST_READ.to_le_bytes())));
    // A version-3 header over a state that forgot nothing: the section is missing.
    let young = Resolver::new(Config::default()).snapshot().unwrap();
    let mut s = young.clone();
    s[8..10].copy_from_slice(&SNAPSHOT_VERSION_FORGOTTEN.to_le_bytes());
    invalid(Resolver::restore(&reseal(s), Config::default()).map(|_| ()).expect_err("refused"));
    // A version-4 header over it: its sections are missing.
    let mut s = young.clone();
    s[8..10].copy_from_slice(&SNAPSHOT_VERSION.to_le_bytes());
    invalid(Resolver::restore(&reseal(s), Config::default()).map(|_| ()).expect_err("refused"));
    // A version on either side of those this build reads.
    for v in [SNAPSHOT_VERSION_OLDEST_READ - 1, SNAPSHOT_VERSION + 1] {
        let e = edit(&|s| s[8..10].copy_from_slice(&v.to_le_bytes()));
        assert!(matches!(e, SnapshotError::Version { .. }), "{e}");
    }
    assert!(Resolver::restore(&reseal(snap.clone()), Config::default()).is_ok(), "reseal alone changes nothing");
}
