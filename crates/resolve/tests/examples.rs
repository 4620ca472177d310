//! The worked examples of SEMANTICS §8 and the rules of §3, each as its own test.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::BTreeMap;

use idres_model::{Cid, Entry, Map, Record, Target, Timestamp, Uid, Value};
use idres_resolve::{
    anonymous_profile_id, customer_profile_id, Applied, ApplyError, Config, OnCidConflict, Profile, ProfileKind,
    Reason, Resolver,
};

// ---- a tiny language for logs -------------------------------------------------------------

fn uid(s: &str) -> Uid {
    Uid::from_wire_bytes(s.as_bytes().to_vec())
}

fn cid(s: &str) -> Cid {
    Cid::from_wire_bytes(s.as_bytes().to_vec())
}

fn map(pairs: &[(&str, i64)]) -> Map {
    pairs.iter().map(|(k, v)| (k.to_string(), Value::Int(*v))).collect()
}

fn event(u: &str) -> Record {
    Record::Event {
        target: Target::Uid(uid(u)),
        name: "view".into(),
        props: Map::new(),
        session_id: None,
        ts: None,
        system: false,
        message_id: None,
    }
}

fn event_at(u: &str, ts: i64) -> Record {
    Record::Event {
        target: Target::Uid(uid(u)),
        name: "view".into(),
        props: Map::new(),
        session_id: None,
        ts: Some(Timestamp(ts)),
        system: false,
        message_id: None,
    }
}

fn identify(u: &str, c: &str) -> Record {
    Record::Identify { uid: Some(uid(u)), cid: cid(c), attrs: Map::new(), ts: None, message_id: None }
}

fn identify_attrs(u: &str, c: &str, attrs: &[(&str, i64)], ts: i64) -> Record {
    Record::Identify { uid: Some(uid(u)), cid: cid(c), attrs: map(attrs), ts: Some(Timestamp(ts)), message_id: None }
}

fn attrs(u: &str, set: &[(&str, i64)], ts: i64) -> Record {
    Record::Attributes {
        target: Target::Uid(uid(u)),
        set: map(set),
        set_once: Map::new(),
        unset: Vec::new(),
        ts: Some(Timestamp(ts)),
        system: false,
        message_id: None,
    }
}

fn reset(u: &str) -> Record {
    Record::Reset { uid: uid(u), ts: None }
}

fn merge(from: &str, into: &str) -> Record {
    Record::Merge { from: cid(from), into: cid(into) }
}

fn unmerge(c: &str) -> Record {
    Record::Unmerge { cid: cid(c) }
}

fn unlink(u: &str, c: &str) -> Record {
    Record::Unlink { uid: uid(u), cid: cid(c) }
}

/// Folds `records` (appended at 1000, 2000, … µs) and returns the resolver and each outcome.
fn fold_with(config: Config, records: &[Record]) -> (Resolver, Vec<Applied>) {
    let mut r = Resolver::new(config);
    let outcomes = records
        .iter()
        .enumerate()
        .map(|(i, rec)| {
            let entry = Entry { appended_at: Timestamp((i as i64 + 1) * 1000), record: rec.clone() };
            r.apply(i as u64, &entry).unwrap()
        })
        .collect();
    (r, outcomes)
}

fn fold(records: &[Record]) -> (Resolver, Vec<Applied>) {
    fold_with(Config::default(), records)
}

fn by_cid(r: &Resolver, c: &str) -> Profile {
    r.profile_by_cid(&cid(c)).unwrap_or_else(|| panic!("no profile for cid {c}"))
}

fn by_uid(r: &Resolver, u: &str, epoch: u32) -> Profile {
    r.profile_by_uid_epoch(&uid(u), epoch).unwrap_or_else(|| panic!("no profile for {u}#{epoch}"))
}

fn devices(p: &Profile) -> Vec<String> {
    p.uids.iter().map(|d| format!("{}#{}", d.uid, d.epoch)).collect()
}

fn attr_map(p: &Profile) -> BTreeMap<String, i64> {
    p.attributes
        .iter()
        .map(|(k, v)| match v {
            Value::Int(i) => (k.clone(), *i),
            other => panic!("unexpected value {other:?}"),
        })
        .collect()
}

// ---- SEMANTICS §8 ---------------------------------------------------------------------------

#[test]
fn example_1_anonymous_events() {
    let (r, _) = fold(&[event("A"), event("A"), event("A")]);
    let ps = r.profiles();
    assert_eq!(ps.len(), 1);
    assert_eq!(ps[0].kind, ProfileKind::Anonymous);
    assert_eq!(ps[0].id, anonymous_profile_id(&uid("A"), 0));
    assert_eq!(devices(&ps[0]), ["A#0"]);
    assert_eq!(ps[0].event_count, 3);
    assert_eq!(ps[0].history, vec![0, 1, 2]);
}

#[test]
fn example_2_identify_merges_the_anonymous_past() {
    let (r, _) = fold(&[event_at("A", 10), event_at("A", 20), identify("A", "u1"), event_at("A", 40)]);
    let ps = r.profiles();
    assert_eq!(ps.len(), 1);
    let p = &ps[0];
    assert_eq!(p.id, customer_profile_id(&cid("u1")));
    assert_eq!(p.primary_cid, Some(cid("u1")));
    assert_eq!(devices(p), ["A#0"]);
    assert_eq!(p.event_count, 3);
    assert_eq!(p.first_seen, Some(Timestamp(10)));
    assert_eq!(p.last_seen, Some(Timestamp(40)));
    // The anonymous profile id now leads to the customer profile.
    assert_eq!(r.profile_by_id(anonymous_profile_id(&uid("A"), 0)).unwrap().id, p.id);
}

#[test]
fn example_3_reset_separates_customers() {
    let (r, _) = fold(&[identify("A", "u1"), reset("A"), event("A"), identify("A", "u2")]);
    let u1 = by_cid(&r, "u1");
    let u2 = by_cid(&r, "u2");
    assert_eq!(devices(&u1), ["A#0"]);
    assert_eq!(devices(&u2), ["A#1"]);
    assert_eq!(u1.event_count, 0);
    assert_eq!(u2.event_count, 1);
    assert_ne!(u1.id, u2.id);
    assert_eq!(r.profiles().len(), 2);
}

#[test]
fn example_4_login_without_logout_is_an_implicit_reset() {
    let (r, out) = fold(&[identify("A", "u1"), event("A"), identify("A", "u2")]);
    assert_eq!(out, vec![Applied::Accepted; 3]);
    let u1 = by_cid(&r, "u1");
    let u2 = by_cid(&r, "u2");
    assert_eq!((devices(&u1), u1.event_count), (vec!["A#0".to_string()], 1));
    assert_eq!((devices(&u2), u2.event_count), (vec!["A#1".to_string()], 0));
    assert_eq!(r.profile_by_uid(&uid("A")).unwrap().id, u2.id, "the uid's current epoch is with u2");
}

#[test]
fn example_5_two_devices_one_customer() {
    let (r, _) = fold(&[identify("A", "u1"), identify("B", "u1")]);
    let ps = r.profiles();
    assert_eq!(ps.len(), 1);
    assert_eq!(devices(&ps[0]), ["A#0", "B#0"]);
}

#[test]
fn example_6_attributes_are_decided_by_time_not_arrival() {
    let (r, _) = fold(&[attrs("A", &[("a", 1), ("b", 2)], 100), identify_attrs("A", "u1", &[("b", 3)], 200)]);
    assert_eq!(attr_map(&by_cid(&r, "u1")), BTreeMap::from([("a".into(), 1), ("b".into(), 3)]));
    let (r, _) = fold(&[attrs("A", &[("a", 1), ("b", 2)], 100), identify_attrs("A", "u1", &[("b", 3)], 50)]);
    assert_eq!(attr_map(&by_cid(&r, "u1")), BTreeMap::from([("a".into(), 1), ("b".into(), 2)]));
}

#[test]
fn example_7_blocked_cid_is_rejected() {
    let (r, out) = fold(&[identify("A", "null")]);
    assert_eq!(out, vec![Applied::Rejected(Reason::BlockedValue)]);
    assert!(r.profile_by_cid(&cid("null")).is_none());
    assert!(r.profile_by_uid(&uid("A")).is_none(), "a rejected record creates nothing");
    assert_eq!(r.rejections()[0].lsn, 0);
    let (r, _) = fold(&[event("A"), identify("A", "null")]);
    assert_eq!(r.profile_by_uid(&uid("A")).unwrap().kind, ProfileKind::Anonymous);
}

#[test]
fn example_8_merge_and_exact_unmerge() {
    let base = [
        identify_attrs("A", "u1", &[("x", 1)], 10),
        event("A"),
        identify_attrs("B", "u2", &[("y", 2)], 20),
        event("B"),
    ];
    let mut log = base.to_vec();
    log.push(merge("u1", "u2"));
    let (r, _) = fold(&log);
    let p = by_cid(&r, "u2");
    assert_eq!(r.profiles().len(), 1);
    assert_eq!(p.cids, vec![cid("u2"), cid("u1")]);
    assert_eq!(by_cid(&r, "u1").id, p.id, "lookup of u1 returns the survivor");
    assert_eq!(r.profile_by_id(customer_profile_id(&cid("u1"))).unwrap().id, p.id);
    assert_eq!(p.event_count, 2);
    log.push(unmerge("u1"));
    let (after, _) = fold(&log);
    // Equal to the same log without merge and unmerge: two rejected no-op records keep the LSNs.
    let mut without = base.to_vec();
    without.push(merge("u1", "nobody"));
    without.push(unmerge("nobody"));
    let (expected, _) = fold(&without);
    assert_eq!(after.profiles(), expected.profiles());
    assert_eq!(after.profiles().len(), 2);
}

#[test]
fn example_9_unlink_corrects_the_past() {
    let (r, _) = fold(&[identify("A", "u1"), event("A"), unlink("A", "u1")]);
    let u1 = by_cid(&r, "u1");
    assert!(u1.uids.is_empty());
    assert_eq!(u1.event_count, 0);
    let a = by_uid(&r, "A", 0);
    assert_eq!(a.kind, ProfileKind::Anonymous);
    assert_eq!(a.event_count, 1);
    // Future events of the unlinked current epoch go to the anonymous profile.
    let (r, _) = fold(&[identify("A", "u1"), event("A"), unlink("A", "u1"), event("A")]);
    assert_eq!(by_uid(&r, "A", 0).event_count, 2);
    assert_eq!(by_uid(&r, "A", 0).kind, ProfileKind::Anonymous);
    assert_eq!(by_cid(&r, "u1").event_count, 0);
    // Unlink forbids nothing: the same epoch links again.
    let (r, _) = fold(&[identify("A", "u1"), event("A"), unlink("A", "u1"), identify("A", "u1")]);
    assert_eq!(by_cid(&r, "u1").event_count, 1);
}

#[test]
fn example_10_double_reset_skips_an_epoch() {
    let (r, _) = fold(&[identify("A", "u1"), reset("A"), reset("A"), event("A")]);
    assert!(r.profile_by_uid_epoch(&uid("A"), 1).is_none(), "{{A#1}} never materialises");
    let a2 = by_uid(&r, "A", 2);
    assert_eq!(a2.event_count, 1);
    assert_eq!(a2.kind, ProfileKind::Anonymous);
    assert_eq!(r.profiles().len(), 2);
}

// ---- SEMANTICS §3 rules ---------------------------------------------------------------------

#[test]
fn every_rejection_reason() {
    let cases: Vec<(Vec<Record>, Reason)> = vec![
        (vec![identify(" A", "u1")], Reason::InvalidId),
        (vec![identify("A", "")], Reason::InvalidId),
        (vec![event("undefined")], Reason::BlockedValue),
        (vec![identify("A", "'NULL'")], Reason::BlockedValue),
        (vec![identify("same", "same")], Reason::SelfLink),
        (vec![identify("A", "u1"), merge("u1", "ghost")], Reason::UnknownCid),
        (vec![unmerge("ghost")], Reason::UnknownCid),
        (vec![unlink("A", "ghost")], Reason::UnknownCid),
        (
            vec![Record::Event {
                target: Target::Uid(uid("A")),
                name: "n".repeat(200),
                props: Map::new(),
                session_id: None,
                ts: None,
                system: false,
                message_id: None,
            }],
            Reason::InvalidRecord,
        ),
    ];
    for (log, reason) in cases {
        let (r, out) = fold(&log);
        assert_eq!(out.last(), Some(&Applied::Rejected(reason)), "{log:?}");
        assert_eq!(r.rejections().back().unwrap().reason, reason);
        assert_eq!(r.rejections().back().unwrap().lsn, log.len() as u64 - 1);
    }
}

#[test]
fn uuid_forms_are_one_device() {
    let (r, _) = fold(&[
        event("6BA7B810-9DAD-11D1-80B4-00C04FD430C8"),
        event("{6ba7b810-9dad-11d1-80b4-00c04fd430c8}"),
        event("6ba7b8109dad11d180b400c04fd430c8"),
    ]);
    let ps = r.profiles();
    assert_eq!(ps.len(), 1);
    assert_eq!(devices(&ps[0]), ["6ba7b810-9dad-11d1-80b4-00c04fd430c8#0"]);
    // A uuid uid equal to a uuid cid (as canonical text) is a self link.
    let (_, out) = fold(&[identify("6BA7B810-9DAD-11D1-80B4-00C04FD430C8", "6ba7b810-9dad-11d1-80b4-00c04fd430c8")]);
    assert_eq!(out, vec![Applied::Rejected(Reason::SelfLink)]);
}

#[test]
fn cid_conflict_policy_reject() {
    let config = Config { on_cid_conflict: OnCidConflict::Reject, ..Config::default() };
    let (r, out) = fold_with(config, &[identify("A", "u1"), event("A"), identify("A", "u2")]);
    assert_eq!(out[2], Applied::Rejected(Reason::CidConflict));
    assert!(r.profile_by_cid(&cid("u2")).is_none(), "the rejected identify created nothing");
    assert_eq!(by_uid(&r, "A", 0).primary_cid, Some(cid("u1")));
    assert!(r.profile_by_uid_epoch(&uid("A"), 1).is_none(), "no epoch advanced");
}

#[test]
fn identify_of_a_customer_in_the_same_profile_links_nothing_new() {
    let (r, _) = fold(&[identify("A", "u1"), identify("B", "u2"), merge("u1", "u2"), identify("A", "u2")]);
    assert_eq!(r.profiles().len(), 1);
    assert_eq!(devices(&by_cid(&r, "u2")), ["A#0", "B#0"], "A stays in epoch 0: no implicit reset");
}

#[test]
fn device_limit_rejects_without_advancing_the_epoch() {
    let config = Config { max_devices_per_profile: 2, ..Config::default() };
    let (r, out) = fold_with(config.clone(), &[identify("A", "u1"), identify("B", "u1"), identify("C", "u1")]);
    assert_eq!(out[2], Applied::Rejected(Reason::Limit));
    assert_eq!(devices(&by_cid(&r, "u1")), ["A#0", "B#0"]);
    assert!(r.profile_by_uid(&uid("C")).is_none());
    // An implicit reset that would hit the limit does not advance the epoch either.
    let (r, out) =
        fold_with(config, &[identify("A", "u1"), identify("B", "u2"), identify("C", "u2"), identify("A", "u2")]);
    assert_eq!(out[3], Applied::Rejected(Reason::Limit));
    assert_eq!(by_uid(&r, "A", 0).primary_cid, Some(cid("u1")));
    assert!(r.profile_by_uid_epoch(&uid("A"), 1).is_none());
}

#[test]
fn customer_limit_rejects_a_merge() {
    let config = Config { max_customers_per_profile: 2, ..Config::default() };
    let (r, out) = fold_with(
        config,
        &[identify("A", "u1"), identify("B", "u2"), identify("C", "u3"), merge("u1", "u2"), merge("u3", "u2")],
    );
    assert_eq!(out[3], Applied::Accepted);
    assert_eq!(out[4], Applied::Rejected(Reason::Limit));
    assert_eq!(by_cid(&r, "u2").cids, vec![cid("u2"), cid("u1")]);
    assert_eq!(by_cid(&r, "u3").cids, vec![cid("u3")]);
}

#[test]
fn merge_of_merged_customers_and_partial_unmerge() {
    let (r, _) = fold(&[
        identify("A", "u1"),
        identify("B", "u2"),
        identify("C", "u3"),
        merge("u1", "u2"),
        merge("u3", "u1"), // u1 is no longer primary: the edge goes from u3 to u2
        merge("u2", "u2"), // no-op
    ]);
    let p = by_cid(&r, "u2");
    assert_eq!(p.cids, vec![cid("u2"), cid("u1"), cid("u3")]);
    let (r, _) = fold(&[
        identify("A", "u1"),
        identify("B", "u2"),
        identify("C", "u3"),
        merge("u1", "u2"),
        merge("u3", "u1"),
        unmerge("u1"),
    ]);
    // u1's only merge edge went; u3 -> u2 stays.
    assert_eq!(by_cid(&r, "u2").cids, vec![cid("u2"), cid("u3")]);
    assert_eq!(devices(&by_cid(&r, "u2")), ["B#0", "C#0"]);
    assert_eq!(by_cid(&r, "u1").cids, vec![cid("u1")]);
    assert_eq!(devices(&by_cid(&r, "u1")), ["A#0"]);
}

#[test]
fn no_op_operator_records_are_accepted() {
    let (r, out) = fold(&[identify("A", "u1"), unmerge("u1"), unlink("Z", "u1"), unlink("A", "u1"), unlink("A", "u1")]);
    assert_eq!(out, vec![Applied::Accepted; 5]);
    assert!(r.rejections().is_empty());
}

#[test]
fn attributes_set_once_then_set_then_unset_within_a_record() {
    let rec = Record::Attributes {
        target: Target::Uid(uid("A")),
        set: map(&[("k", 2)]),
        set_once: map(&[("k", 1), ("first", 7)]),
        unset: vec!["k".into()],
        ts: Some(Timestamp(5)),
        system: false,
        message_id: None,
    };
    let (r, _) = fold(&[rec]);
    // unset (slot 2) wins over set (slot 1); no set_once is after it; "first" keeps its set_once.
    assert_eq!(attr_map(&by_uid(&r, "A", 0)), BTreeMap::from([("first".into(), 7)]));
}

#[test]
fn a_future_device_clock_cannot_pin_an_attribute() {
    // ts far in the future: the effective time is min(ts, appended_at).
    let (r, _) = fold(&[attrs("A", &[("plan", 1)], i64::MAX), attrs("A", &[("plan", 2)], 1500)]);
    assert_eq!(attr_map(&by_uid(&r, "A", 0))["plan"], 2);
}

#[test]
fn lsns_must_come_in_order() {
    let mut r = Resolver::new(Config::default());
    let e = Entry { appended_at: Timestamp(1), record: event("A") };
    assert_eq!(r.apply(1, &e), Err(ApplyError::OutOfOrder { expected: 0, found: 1 }));
    r.apply(0, &e).unwrap();
    assert_eq!(r.apply(0, &e), Err(ApplyError::OutOfOrder { expected: 1, found: 0 }));
}

// ---- explain --------------------------------------------------------------------------------

#[test]
fn explain_walks_from_the_device_to_the_primary() {
    let (r, _) = fold(&[identify("A", "u1"), identify("B", "u2"), merge("u1", "u2")]);
    let e = r.explain_uid(&uid("A")).unwrap();
    assert_eq!(e.node.unwrap().to_string(), "uid:A#0");
    assert_eq!(e.profile_id, Some(customer_profile_id(&cid("u2"))));
    let steps: Vec<(String, String, &str, u64)> =
        e.path.iter().map(|s| (s.from.to_string(), s.to.to_string(), s.kind.as_str(), s.lsn)).collect();
    assert_eq!(
        steps,
        vec![
            ("uid:A#0".to_string(), "cid:u1".to_string(), "link", 0),
            ("cid:u1".to_string(), "cid:u2".to_string(), "merge", 2)
        ]
    );
    assert_eq!(e.path[0].time, Timestamp(1000), "the time of the identify");
    assert!(e.path.iter().all(|s| s.rule.contains("SEMANTICS")));
    // Each edge names the record kind that made it, beside its own kind.
    let records: Vec<&str> = e.path.iter().map(|s| s.record.as_str()).collect();
    assert_eq!(records, ["identify", "merge"]);
    let e = r.explain_cid(&cid("u2")).unwrap();
    assert!(e.path.is_empty(), "the primary is where paths end");
}

#[test]
fn explain_shows_implicit_resets_and_rejections() {
    let (r, _) = fold(&[identify("A", "u1"), identify("A", "u2"), identify("A", "null"), event("null")]);
    let e = r.explain_uid(&uid("A")).unwrap();
    assert_eq!(e.node.unwrap().to_string(), "uid:A#1");
    assert_eq!(e.implicit_resets.len(), 1);
    let reset = &e.implicit_resets[0];
    assert_eq!((reset.lsn, reset.from_epoch, reset.to_epoch), (1, 0, 1));
    assert_eq!((reset.previous_cid.clone(), reset.cid.clone()), (cid("u1"), cid("u2")));
    assert_eq!(e.rejections.len(), 1);
    assert_eq!((e.rejections[0].lsn, e.rejections[0].reason), (2, Reason::BlockedValue));
    assert_eq!(r.explain_cid(&cid("u1")).unwrap().implicit_resets.len(), 1);
    // An id known only from rejections is still explained.
    let e = r.explain_cid(&cid("null")).unwrap();
    assert!(e.node.is_none());
    assert_eq!(e.rejections.len(), 1);
    let e = r.explain_uid(&uid("null")).unwrap();
    assert_eq!(e.rejections[0].lsn, 3);
    assert!(r.explain_uid(&uid("never-seen")).is_none());
    assert!(r.explain_cid(&cid("never-seen")).is_none());
}

#[test]
fn explain_covers_every_epoch_of_a_device() {
    // A logs in as u1, logs out, is seen anonymously, then logs in as u2: epochs 0, 1, 2.
    let (r, _) = fold(&[identify("A", "u1"), reset("A"), event("A"), reset("A"), identify("A", "u2")]);
    let e = r.explain_uid(&uid("A")).unwrap();
    assert_eq!(e.node.as_ref().unwrap().to_string(), "uid:A#2", "the current epoch by default");
    let epochs: Vec<(u32, uuid::Uuid, bool)> = e.epochs.iter().map(|x| (x.epoch, x.profile_id, x.current)).collect();
    assert_eq!(
        epochs,
        vec![
            (0, customer_profile_id(&cid("u1")), false),
            (1, anonymous_profile_id(&uid("A"), 1), false),
            (2, customer_profile_id(&cid("u2")), true),
        ]
    );
    let e0 = r.explain_uid_epoch(&uid("A"), 0).unwrap();
    assert_eq!(e0.node.as_ref().unwrap().to_string(), "uid:A#0");
    assert_eq!(e0.profile_id, Some(customer_profile_id(&cid("u1"))));
    assert_eq!(e0.path.len(), 1);
    assert_eq!(
        (e0.path[0].to.to_string(), e0.path[0].lsn, e0.path[0].record.as_str()),
        ("cid:u1".into(), 0, "identify")
    );
    assert_eq!(e0.epochs, e.epochs, "every epoch listed whichever is explained");
    let e1 = r.explain_uid_epoch(&uid("A"), 1).unwrap();
    assert!(e1.path.is_empty(), "an anonymous epoch has no edge");
    assert_eq!(e1.profile_id, Some(anonymous_profile_id(&uid("A"), 1)));
    assert!(r.explain_uid_epoch(&uid("A"), 3).is_none(), "no node at that epoch");
    assert!(r.explain_uid_epoch(&uid("never-seen"), 0).is_none());
    assert!(r.explain_cid(&cid("u1")).unwrap().epochs.is_empty(), "a cid has no epochs");
}

// ---- what changed -----------------------------------------------------------------------------

#[test]
fn changes_report_creation_joins_splits_and_rejections() {
    use idres_resolve::Change;
    let (mut r, _) = fold(&[]);
    let pid = |c: &str| customer_profile_id(&cid(c));
    let a0 = anonymous_profile_id(&uid("A"), 0);
    let apply = |r: &mut Resolver, rec: Record| {
        let lsn = r.next_lsn();
        r.apply(lsn, &Entry { appended_at: Timestamp(lsn as i64 + 1), record: rec }).unwrap();
        r.drain_changes().collect::<Vec<Change>>()
    };
    assert_eq!(
        apply(&mut r, identify("A", "u1")),
        vec![
            Change::Created { profile: a0 },
            Change::Created { profile: pid("u1") },
            Change::Retired { profile: a0, into: pid("u1") },
            Change::Changed { profile: pid("u1") },
        ]
    );
    assert_eq!(apply(&mut r, event("A")), vec![Change::Changed { profile: pid("u1") }]);
    apply(&mut r, identify("B", "u2"));
    let merged = apply(&mut r, merge("u1", "u2"));
    assert_eq!(
        merged,
        vec![Change::Retired { profile: pid("u1"), into: pid("u2") }, Change::Changed { profile: pid("u2") }]
    );
    let mut split = apply(&mut r, unmerge("u1"));
    split.sort_by_key(|c| format!("{c:?}"));
    let mut expected =
        vec![Change::Split { from: pid("u2"), into: pid("u1") }, Change::Split { from: pid("u2"), into: pid("u2") }];
    expected.sort_by_key(|c| format!("{c:?}"));
    assert_eq!(split, expected);
    assert_eq!(apply(&mut r, identify("A", "null")), vec![Change::Rejected { lsn: 5, reason: Reason::BlockedValue }]);
    let reset = apply(&mut r, identify("A", "u2"));
    let a1 = anonymous_profile_id(&uid("A"), 1);
    assert_eq!(
        reset,
        vec![
            Change::ImplicitReset { lsn: 6 },
            Change::Created { profile: a1 },
            Change::Retired { profile: a1, into: pid("u2") },
            Change::Changed { profile: pid("u2") },
        ]
    );
}

// ---- decisions documented in docs/SEMANTICS.md ------------------------------------------------

#[test]
fn any_id_that_named_a_node_finds_the_profile_holding_it() {
    // A was linked by the record that created its node: its anonymous id never named a profile.
    let (r, _) = fold(&[identify("A", "u1")]);
    assert_eq!(r.profile_by_id(anonymous_profile_id(&uid("A"), 0)).unwrap().id, customer_profile_id(&cid("u1")));
    assert!(r.profile_by_id(anonymous_profile_id(&uid("A"), 1)).is_none(), "an epoch that never existed");
}

#[test]
fn reset_of_a_never_seen_uid_starts_epoch_one() {
    let (r, _) = fold(&[reset("A"), event("A")]);
    assert!(r.profile_by_uid_epoch(&uid("A"), 0).is_none());
    assert_eq!(by_uid(&r, "A", 1).event_count, 1);
    assert_eq!(r.profiles().len(), 1);
}

#[test]
fn events_and_attributes_on_a_cid_create_the_customer() {
    let server_event = Record::Event {
        target: Target::Cid(cid("u9")),
        name: "invoice".into(),
        props: Map::new(),
        session_id: None,
        ts: Some(Timestamp(7)),
        system: false,
        message_id: None,
    };
    let server_attrs = Record::Attributes {
        target: Target::Cid(cid("u9")),
        set: map(&[("tier", 2)]),
        set_once: Map::new(),
        unset: Vec::new(),
        ts: Some(Timestamp(8)),
        system: false,
        message_id: None,
    };
    let (r, out) = fold(&[server_event, server_attrs, identify("A", "u9")]);
    assert_eq!(out, vec![Applied::Accepted; 3]);
    let p = by_cid(&r, "u9");
    assert_eq!(p.kind, ProfileKind::Customer);
    assert_eq!((p.event_count, p.first_seen), (1, Some(Timestamp(7))));
    assert_eq!(attr_map(&p), BTreeMap::from([("tier".into(), 2)]));
    assert_eq!(devices(&p), ["A#0"]);
}

#[test]
fn unmerge_of_a_middle_customer_splits_three_ways() {
    // u1 -> u2 -> u3 by two merges (u2 was primary when merged into u3); u4 -> u2 too.
    let (r, _) = fold(&[
        identify("A", "u1"),
        identify("B", "u2"),
        identify("C", "u3"),
        identify("D", "u4"),
        merge("u1", "u2"),
        merge("u4", "u2"),
        merge("u2", "u3"),
        unmerge("u2"),
    ]);
    // Every merge edge touching u2 is gone: u1, u4, u2 and u3 stand alone with their devices.
    for (c, d) in [("u1", "A#0"), ("u2", "B#0"), ("u3", "C#0"), ("u4", "D#0")] {
        let p = by_cid(&r, c);
        assert_eq!(p.cids, vec![cid(c)], "{c}");
        assert_eq!(devices(&p), [d]);
    }
    assert_eq!(r.profiles().len(), 4);
}

#[test]
fn retired_ids_name_their_survivors() {
    let (r, _) = fold(&[identify("A", "u1"), identify("B", "u2"), merge("u1", "u2")]);
    let mut expected = vec![
        (anonymous_profile_id(&uid("A"), 0), customer_profile_id(&cid("u2"))),
        (anonymous_profile_id(&uid("B"), 0), customer_profile_id(&cid("u2"))),
        (customer_profile_id(&cid("u1")), customer_profile_id(&cid("u2"))),
    ];
    expected.sort();
    assert_eq!(r.retired_ids(), expected);
}

#[test]
fn profile_count_matches_the_profiles() {
    let (r, _) = fold(&[identify("A", "u1"), event("B"), identify("C", "u2"), merge("u1", "u2"), event("D")]);
    assert_eq!(r.profile_count(), r.profiles().len());
    assert_eq!(r.profile_count(), 3);
}

#[test]
fn a_profile_summary_is_the_profiles_primary_and_first_uids() {
    // Devices whose text order differs from their byte order and from the order they joined in:
    // a UUID ("0f..." as text, after "0a" but before "A"), text uids, and a second epoch.
    let uuid = "0fffffff-0000-4000-8000-000000000000";
    let (mut r, _) = fold(&[
        identify("b", "u1"),
        identify(uuid, "u1"),
        identify("A", "u1"),
        identify("0a", "u1"),
        reset("b"),
        identify("b", "u1"),
    ]);
    let p = r.profile_by_cid(&cid("u1")).unwrap();
    assert_eq!(p.uids.len(), 5);
    let all = r.profile_summary(p.id, 5).unwrap();
    assert_eq!((all.id, all.primary_cid.as_ref(), &all.uids, all.uids_more), (p.id, Some(&cid("u1")), &p.uids, 0));
    assert_eq!(r.profile_summary(p.id, 100).unwrap(), all);
    let two = r.profile_summary(p.id, 2).unwrap();
    assert_eq!((&two.uids[..], two.uids_more), (&p.uids[..2], 3));
    let none = r.profile_summary(p.id, 0).unwrap();
    assert_eq!((none.uids.len(), none.uids_more), (0, 5));
    // A retired id reads its survivor; an anonymous profile has no primary; an unknown id nothing.
    let a0 = anonymous_profile_id(&uid("A"), 0);
    assert_eq!(r.profile_summary(a0, 5).unwrap(), all);
    r.apply(r.next_lsn(), &Entry { appended_at: Timestamp(99), record: event("lonely") }).unwrap();
    let lonely = r.profile_summary(anonymous_profile_id(&uid("lonely"), 0), 5).unwrap();
    assert_eq!((lonely.primary_cid, lonely.uids.len()), (None, 1));
    assert!(r.profile_summary(anonymous_profile_id(&uid("never"), 0), 5).is_none());
}
