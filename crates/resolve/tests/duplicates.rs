//! The worked examples of docs/SEMANTICS.md, "Duplicates": a resent message id within the window
//! is rejected `duplicate` naming the first LSN and changes nothing; past the window, with the
//! window off, or after its first send was rejected, it is judged again; a snapshot keeps the
//! window, and a log without message ids keeps the digest it had.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use idres_model::{Cid, Entry, Map, Record, Target, Timestamp, Uid};
use idres_resolve::{Applied, Config, Reason, Resolver, DEDUPE_WINDOW_DEFAULT};

const HOUR: i64 = 3_600_000_000;

fn event(u: &str, message_id: Option<&str>) -> Record {
    Record::Event {
        target: Target::Uid(Uid::from_wire_bytes(u.as_bytes().to_vec())),
        name: "view".into(),
        props: Map::new(),
        session_id: None,
        ts: None,
        system: false,
        message_id: message_id.map(str::to_string),
    }
}

/// Folds `(appended_at in hours, record)` and returns the resolver and each verdict.
fn fold(config: Config, log: &[(i64, Record)]) -> (Resolver, Vec<Applied>) {
    let mut r = Resolver::new(config);
    let verdicts = log
        .iter()
        .enumerate()
        .map(|(i, (h, record))| {
            r.apply(i as u64, &Entry { appended_at: Timestamp(h * HOUR), record: record.clone() }).unwrap()
        })
        .collect();
    (r, verdicts)
}

fn events_of(r: &Resolver, u: &str) -> u64 {
    r.profile_by_uid(&Uid::from_wire_bytes(u.as_bytes().to_vec())).map_or(0, |p| p.event_count)
}

#[test]
fn a_resend_within_the_window_is_a_duplicate_of_the_first_lsn() {
    let log = [
        (0, event("A", Some("m1"))),
        (1, event("A", Some("m1"))),  // an SDK retry an hour later
        (23, event("A", Some("m2"))), // another message
        (24, event("A", Some("m1"))), // exactly the window after the first: still a resend
        (25, event("A", Some("m1"))), // past it: judged again, accepted
        (25, event("A", None)),       // no message id: never a duplicate
        (25, event("A", None)),
    ];
    let (r, verdicts) = fold(Config::default(), &log);
    let dup = Applied::Rejected(Reason::Duplicate);
    assert_eq!(
        verdicts,
        [Applied::Accepted, dup, Applied::Accepted, dup, Applied::Accepted, Applied::Accepted, Applied::Accepted]
    );
    assert_eq!(events_of(&r, "A"), 5, "the two resends changed nothing");
    let details: Vec<&str> = r.rejections().iter().map(|x| x.detail.as_str()).collect();
    assert_eq!(details, ["message id \"m1\" was accepted at LSN 0", "message id \"m1\" was accepted at LSN 0"]);
}

#[test]
fn off_every_message_counts_and_a_rejected_first_send_registers_nothing() {
    let log = [(0, event("A", Some("m1"))), (0, event("A", Some("m1")))];
    let (r, verdicts) = fold(Config { dedupe_window_us: 0, ..Config::default() }, &log);
    assert_eq!(verdicts, [Applied::Accepted, Applied::Accepted]);
    assert_eq!(events_of(&r, "A"), 2);
    // The first send names a blocked id: rejected, it did not enter the window; its retry with
    // a good id is accepted.
    let log = [(0, event("null", Some("m1"))), (0, event("A", Some("m1")))];
    let (_, verdicts) = fold(Config::default(), &log);
    assert_eq!(verdicts, [Applied::Rejected(Reason::BlockedValue), Applied::Accepted]);
}

#[test]
fn message_ids_are_one_space_across_record_kinds_and_targets() {
    let identify = Record::Identify {
        uid: Some(Uid::from_wire_bytes(b"A".to_vec())),
        cid: Cid::from_wire_bytes(b"u1".to_vec()),
        attrs: Map::new(),
        ts: None,
        message_id: Some("m".into()),
    };
    let (r, verdicts) = fold(Config::default(), &[(0, identify), (0, event("B", Some("m")))]);
    assert_eq!(verdicts, [Applied::Accepted, Applied::Rejected(Reason::Duplicate)]);
    assert_eq!(events_of(&r, "B"), 0);
}

#[test]
fn past_the_bound_the_oldest_id_leaves_early() {
    let config = Config { dedupe_ids_max: 2, ..Config::default() };
    let log: Vec<(i64, Record)> = ["m0", "m1", "m2", "m0", "m2"].iter().map(|m| (0, event("A", Some(m)))).collect();
    let (_, verdicts) = fold(config, &log);
    // m0 left when m2 came; its resend is accepted (and pushes m1 out); m2's is not.
    assert_eq!(verdicts[3..], [Applied::Accepted, Applied::Rejected(Reason::Duplicate)]);
}

#[test]
fn the_window_survives_a_snapshot_and_leaves_old_digests_alone() {
    let log = [(0, event("A", Some("m1"))), (1, event("A", Some("m2")))];
    let (r, _) = fold(Config::default(), &log);
    let snap = r.snapshot().unwrap();
    assert_eq!(u16::from_le_bytes([snap[8], snap[9]]), 5, "events (their sessions): a version-5 snapshot");
    let mut back = Resolver::restore(&snap, Config::default()).unwrap();
    assert_eq!(back.digest(), r.digest());
    let again = Entry { appended_at: Timestamp(2 * HOUR), record: event("A", Some("m1")) };
    assert_eq!(back.apply(2, &again).unwrap(), Applied::Rejected(Reason::Duplicate));
    // The same events without message ids: a state with no window, and a digest that does not
    // depend on the dedupe config.
    let plain = [(0, event("A", None)), (1, event("A", None))];
    let (a, _) = fold(Config::default(), &plain);
    let (b, _) = fold(Config { dedupe_window_us: 0, ..Config::default() }, &plain);
    assert_eq!(u16::from_le_bytes([a.snapshot().unwrap()[8], a.snapshot().unwrap()[9]]), 5);
    assert_eq!(Config::default().dedupe_window_us, DEDUPE_WINDOW_DEFAULT);
    assert_ne!(a.digest(), b.digest(), "the config is in the digest");
    assert_eq!(a.profiles(), b.profiles());
}
