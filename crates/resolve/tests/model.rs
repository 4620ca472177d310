#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
//! Model-based test: the resolver against a naive reference fold (tests/reference), record by
//! record, over random logs of all seven record kinds on a tiny alphabet of ids; plus the worked
//! examples of SEMANTICS §8 run on the reference itself, so the oracle is checked on its own.

mod reference;

use idres_model::{Entry, Map, Record, Target, Timestamp, Value};
use idres_resolve::{
    anonymous_profile_id, customer_profile_id, Applied, Config, OnCidConflict, Profile, ProfileKind, Reason, Resolver,
};
use proptest::prelude::*;
use proptest::strategy::ValueTree;
use proptest::test_runner::{Config as ProptestConfig, RngAlgorithm, TestRng, TestRunner};
use reference::gen::{arb_config, arb_entries, cases, cid, cid_alphabet, uid, uid_alphabet};
use reference::Reference;

const MAX_EPOCH_PROBED: u32 = 3;

/// Folds `entries` into both the resolver and the reference, comparing after every record.
fn check_against_reference(config: &Config, entries: &[Entry]) -> Result<(), TestCaseError> {
    let mut resolver = Resolver::new(config.clone());
    let mut reference = Reference::new(config.clone());
    let uids = uid_alphabet();
    let cids = cid_alphabet();
    let customer_ids: Vec<uuid::Uuid> = cids.iter().map(customer_profile_id).collect();
    let mut anonymous_ids = Vec::new();
    for u in uids.iter().filter_map(|u| u.canonical().ok()) {
        for epoch in 0..=MAX_EPOCH_PROBED {
            anonymous_ids.push((reference::Node::Device(u.clone(), epoch), anonymous_profile_id(&u, epoch)));
        }
    }
    for (i, entry) in entries.iter().enumerate() {
        let lsn = i as u64;
        prop_assert_eq!(resolver.next_lsn(), lsn);
        let got = match resolver.apply(lsn, entry) {
            Ok(Applied::Accepted) => Ok(()),
            Ok(Applied::Rejected(reason)) => Err(reason),
            Err(e) => return Err(TestCaseError::fail(format!("lsn {lsn}: apply error {e:?}"))),
        };
        let want = reference.apply(lsn, entry);
        prop_assert_eq!(got, want, "outcome of lsn {}: {:?}", lsn, entry);
        let want_profiles = reference.profiles();
        prop_assert_eq!(resolver.profiles(), want_profiles.clone(), "profiles after lsn {}", lsn);
        let customers = want_profiles.iter().filter(|p| p.kind == idres_model::ProfileKind::Customer).count();
        prop_assert_eq!(
            resolver.profile_counts(),
            (customers, want_profiles.len() - customers),
            "counts after lsn {}",
            lsn
        );
        // Sessions, listed: the fold's join against the definition.
        let listed = |s: Option<Vec<idres_resolve::SessionInfo>>| {
            s.map(|s| {
                let mut v: Vec<_> = s.into_iter().map(|s| (s.id, s.start, s.end, s.events)).collect();
                v.sort();
                v
            })
        };
        for c in &cids {
            prop_assert_eq!(listed(resolver.sessions_by_cid(c)), reference.sessions_by_cid(c), "sessions of {:?}", c);
        }
        for u in &uids {
            prop_assert_eq!(listed(resolver.sessions_by_uid(u)), reference.sessions_by_uid(u), "sessions of {:?}", u);
        }
        for c in &cids {
            prop_assert_eq!(
                resolver.profile_by_cid(c),
                reference.profile_by_cid(c),
                "profile_by_cid({:?}) after lsn {}",
                c,
                lsn
            );
        }
        for u in &uids {
            prop_assert_eq!(
                resolver.profile_by_uid(u),
                reference.profile_by_uid(u),
                "profile_by_uid({:?}) after lsn {}",
                u,
                lsn
            );
            for epoch in 0..=MAX_EPOCH_PROBED {
                prop_assert_eq!(
                    resolver.profile_by_uid_epoch(u, epoch),
                    reference.profile_by_uid_epoch(u, epoch),
                    "profile_by_uid_epoch({:?}, {}) after lsn {}",
                    u,
                    epoch,
                    lsn
                );
            }
        }
        // Ids: every current one, the customer ids of the alphabet (a customer node was a profile
        // of its own when created, so its id is either current or retired), and the anonymous
        // ids of device nodes that do not exist or were an anonymous profile at some point (a
        // device node linked at birth never had its anonymous id: not probed).
        let mut ids: Vec<uuid::Uuid> = want_profiles.iter().map(|p| p.id).collect();
        ids.extend(customer_ids.iter().copied());
        for (node, id) in &anonymous_ids {
            if !reference.exists(node) || reference.was_ever_anonymous(node) {
                ids.push(*id);
            }
        }
        for id in ids {
            prop_assert_eq!(
                resolver.profile_by_id(id),
                reference.profile_by_id(id),
                "profile_by_id({}) after lsn {}",
                id,
                lsn
            );
        }
    }
    // The state through a snapshot: the same profiles, digest and sessions.
    let back = Resolver::restore(&resolver.snapshot().unwrap(), config.clone()).unwrap();
    prop_assert_eq!(back.profiles(), resolver.profiles());
    prop_assert_eq!(back.digest(), resolver.digest());
    prop_assert_eq!(back.sessions_digest(), resolver.sessions_digest());
    let got: Vec<_> = resolver.rejections().iter().map(|r| (r.lsn, r.kind, r.reason)).collect();
    prop_assert_eq!(got, reference.rejections.clone(), "rejections");
    let forgotten = resolver.rejections_forgotten();
    prop_assert_eq!(forgotten.by_reason(), reference.forgotten.clone().into_iter().collect::<Vec<_>>());
    prop_assert_eq!(forgotten.newest_lsn(), reference.forgotten_newest);
    Ok(())
}

/// Past `REJECTIONS_KEPT_MAX` rejections (too many records for the record-by-record check):
/// the resolver keeps and forgets what the reference does, with accepted records in between.
#[test]
fn resolver_matches_reference_past_the_rejection_bound() {
    let config = Config::default();
    let (mut resolver, mut reference) = (Resolver::new(config.clone()), Reference::new(config));
    let device = |i: usize| uid(["A", "B", "0d"][i % 3]);
    let event = |u| Record::Event {
        target: Target::Uid(u),
        name: "e".into(),
        props: Map::new(),
        session_id: None,
        ts: None,
        system: false,
        message_id: None,
    };
    let entry = |i: usize| {
        let record = match i % 5 {
            0 => Record::Identify {
                uid: Some(device(i)),
                cid: cid("null"),
                attrs: Map::new(),
                ts: None,
                message_id: None,
            },
            1 => Record::Merge { from: cid("c0"), into: cid("c1") },
            // A few accepted records, early (each accepted one costs the reference a copy of
            // its state, which grows with them).
            4 if i < 100 => event(device(i)),
            _ => event(uid(" padded")),
        };
        Entry { appended_at: Timestamp(i as i64), record }
    };
    let n = idres_resolve::REJECTIONS_KEPT_MAX * 5 / 4 + 7;
    for i in 0..n {
        let e = entry(i);
        let got = resolver.apply(i as u64, &e).unwrap();
        assert_eq!(got == Applied::Accepted, reference.apply(i as u64, &e).is_ok(), "lsn {i}");
    }
    let got: Vec<_> = resolver.rejections().iter().map(|r| (r.lsn, r.kind, r.reason)).collect();
    assert_eq!(got, reference.rejections);
    let forgotten = resolver.rejections_forgotten();
    assert!(forgotten.count() > 20_000, "the bound was passed");
    assert_eq!(forgotten.by_reason(), reference.forgotten.clone().into_iter().collect::<Vec<_>>());
    assert_eq!(forgotten.newest_lsn(), reference.forgotten_newest);
    assert_eq!(resolver.profiles(), reference.profiles());
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(cases(2000)))]

    #[test]
    fn resolver_matches_reference(config in arb_config(), entries in arb_entries(1..60)) {
        check_against_reference(&config, &entries)?;
    }
}

/// The generator really produces the interesting cases: counted on the reference's outcomes
/// over a fixed-seed sample of 300 logs.
#[test]
fn generator_coverage() {
    let mut runner =
        TestRunner::new_with_rng(ProptestConfig::default(), TestRng::from_seed(RngAlgorithm::ChaCha, &[7; 32]));
    let strategy = (arb_config(), arb_entries(1..60));
    let mut counts = std::collections::BTreeMap::<&str, u32>::new();
    for _ in 0..300 {
        let (config, entries) = strategy.new_tree(&mut runner).unwrap().current();
        let mut reference = Reference::new(config);
        for (i, entry) in entries.iter().enumerate() {
            let _ = reference.apply(i as u64, entry);
        }
        let s = &reference.stats;
        let has = |reason: Reason| reference.rejections.iter().any(|r| r.2 == reason);
        for (name, hit) in [
            ("merge accepted", s.merges > 0),
            ("unmerge split", s.unmerge_splits > 0),
            ("unlink detached", s.unlink_detaches > 0),
            ("implicit reset", s.implicit_resets > 0),
            ("limit", has(Reason::Limit)),
            ("cid_conflict", has(Reason::CidConflict)),
            ("self_link", has(Reason::SelfLink)),
            ("invalid_id", has(Reason::InvalidId)),
            ("blocked_value", has(Reason::BlockedValue)),
            ("unknown_cid", has(Reason::UnknownCid)),
            ("invalid_record", has(Reason::InvalidRecord)),
            ("duplicate", has(Reason::Duplicate)),
            ("a message id left the window early", reference.dedupe_evicted > 0),
        ] {
            *counts.entry(name).or_default() += u32::from(hit);
        }
    }
    for (name, count) in &counts {
        assert!(*count > 0, "no generated log had: {name} ({counts:?})");
    }
}

// ---- the reference on its own: SEMANTICS §8 --------------------------------------------------

fn at(t: i64, record: Record) -> Entry {
    Entry { appended_at: Timestamp(t), record }
}

fn event(u: &str) -> Record {
    Record::Event {
        target: Target::Uid(uid(u)),
        name: "view".to_owned(),
        props: Map::new(),
        session_id: None,
        ts: None,
        system: false,
        message_id: None,
    }
}

fn identify(u: &str, c: &str) -> Record {
    Record::Identify { uid: Some(uid(u)), cid: cid(c), attrs: Map::new(), ts: None, message_id: None }
}

fn reset(u: &str) -> Record {
    Record::Reset { uid: uid(u), ts: None }
}

fn ints(pairs: &[(&str, i64)]) -> Map {
    pairs.iter().map(|(k, v)| ((*k).to_owned(), Value::Int(*v))).collect()
}

/// Folds records stamped at 100, 200, ... into the reference (default config).
fn fold(records: Vec<Record>) -> (Reference, Vec<Result<(), Reason>>) {
    fold_entries(Config::default(), records.into_iter().enumerate().map(|(i, r)| at(100 * (i as i64 + 1), r)).collect())
}

fn fold_entries(config: Config, entries: Vec<Entry>) -> (Reference, Vec<Result<(), Reason>>) {
    let mut reference = Reference::new(config);
    let results = entries.iter().enumerate().map(|(i, e)| reference.apply(i as u64, e)).collect();
    (reference, results)
}

fn by_uid(r: &Reference, u: &str, epoch: u32) -> Profile {
    r.profile_by_uid_epoch(&uid(u), epoch).unwrap()
}

fn devices(p: &Profile) -> Vec<String> {
    p.uids.iter().map(|d| format!("{}#{}", d.uid, d.epoch)).collect()
}

fn cids(p: &Profile) -> Vec<String> {
    p.cids.iter().map(|c| c.to_string()).collect()
}

#[test]
fn reference_example_1() {
    let (r, results) = fold(vec![event("A"), event("A"), event("A")]);
    assert!(results.iter().all(Result::is_ok));
    let profiles = r.profiles();
    assert_eq!(profiles.len(), 1);
    let p = &profiles[0];
    assert_eq!(p.kind, ProfileKind::Anonymous);
    assert_eq!(p.id, anonymous_profile_id(&uid("A"), 0));
    assert_eq!(devices(p), ["A#0"]);
    assert_eq!(p.event_count, 3);
    assert_eq!(p.history, [0, 1, 2]);
    assert_eq!((p.first_seen, p.last_seen), (Some(Timestamp(100)), Some(Timestamp(300))));
}

#[test]
fn reference_example_2() {
    let (r, results) = fold(vec![event("A"), event("A"), identify("A", "u1"), event("A")]);
    assert!(results.iter().all(Result::is_ok));
    let profiles = r.profiles();
    assert_eq!(profiles.len(), 1);
    let p = &profiles[0];
    assert_eq!(p.kind, ProfileKind::Customer);
    assert_eq!(p.id, customer_profile_id(&cid("u1")));
    assert_eq!(cids(p), ["u1"]);
    assert_eq!(devices(p), ["A#0"]);
    assert_eq!(p.event_count, 3);
    assert_eq!(p.history, [0, 1, 3]);
    assert_eq!(p.first_seen, Some(Timestamp(100)));
    assert_eq!(r.profile_by_uid(&uid("A")).unwrap(), *p);
}

#[test]
fn reference_example_3() {
    let (r, results) = fold(vec![identify("A", "u1"), reset("A"), event("A"), identify("A", "u2")]);
    assert!(results.iter().all(Result::is_ok));
    let profiles = r.profiles();
    assert_eq!(profiles.len(), 2);
    let u1 = r.profile_by_cid(&cid("u1")).unwrap();
    let u2 = r.profile_by_cid(&cid("u2")).unwrap();
    assert_eq!(devices(&u1), ["A#0"]);
    assert_eq!(devices(&u2), ["A#1"]);
    assert_eq!(u1.event_count, 0);
    assert_eq!(u2.event_count, 1);
    assert_eq!(r.stats.implicit_resets, 0);
}

#[test]
fn reference_example_4() {
    let (r, results) = fold(vec![identify("A", "u1"), event("A"), identify("A", "u2")]);
    assert!(results.iter().all(Result::is_ok));
    assert_eq!(r.stats.implicit_resets, 1);
    let u1 = r.profile_by_cid(&cid("u1")).unwrap();
    let u2 = r.profile_by_cid(&cid("u2")).unwrap();
    assert_eq!((devices(&u1), u1.event_count), (vec!["A#0".to_owned()], 1));
    assert_eq!((devices(&u2), u2.event_count), (vec!["A#1".to_owned()], 0));
    assert_eq!(r.profile_by_uid(&uid("A")).unwrap(), u2);

    // Under `reject`, the same log rejects the second identify and changes nothing.
    let config = Config { on_cid_conflict: OnCidConflict::Reject, ..Config::default() };
    let entries = vec![at(1, identify("A", "u1")), at(2, event("A")), at(3, identify("A", "u2"))];
    let (r, results) = fold_entries(config, entries);
    assert_eq!(results, [Ok(()), Ok(()), Err(Reason::CidConflict)]);
    assert_eq!(r.profiles().len(), 1);
    assert!(r.profile_by_cid(&cid("u2")).is_none());
    assert_eq!(r.epoch(&uid("A")), 0);
}

#[test]
fn reference_example_5() {
    let (r, results) = fold(vec![identify("A", "u1"), identify("B", "u1")]);
    assert!(results.iter().all(Result::is_ok));
    let profiles = r.profiles();
    assert_eq!(profiles.len(), 1);
    assert_eq!(devices(&profiles[0]), ["A#0", "B#0"]);
    assert_eq!(cids(&profiles[0]), ["u1"]);
}

#[test]
fn reference_example_6() {
    let attributes = |t: i64| Record::Attributes {
        target: Target::Uid(uid("A")),
        set: ints(&[("a", 1), ("b", 2)]),
        set_once: Map::new(),
        unset: vec![],
        ts: Some(Timestamp(t)),
        system: false,
        message_id: None,
    };
    let identify_at = |t: i64| Record::Identify {
        uid: Some(uid("A")),
        cid: cid("u1"),
        attrs: ints(&[("b", 3)]),
        ts: Some(Timestamp(t)),
        message_id: None,
    };
    // t0 < t1 < t2; appended later than all of them.
    let (r, _) = fold_entries(Config::default(), vec![at(1000, attributes(20)), at(1001, identify_at(30))]);
    assert_eq!(r.profile_by_cid(&cid("u1")).unwrap().attributes, ints(&[("a", 1), ("b", 3)]));
    let (r, _) = fold_entries(Config::default(), vec![at(1000, attributes(20)), at(1001, identify_at(10))]);
    assert_eq!(r.profile_by_cid(&cid("u1")).unwrap().attributes, ints(&[("a", 1), ("b", 2)]));
}

#[test]
fn reference_example_7() {
    let (r, results) = fold(vec![identify("A", "null")]);
    assert_eq!(results, [Err(Reason::BlockedValue)]);
    assert!(r.profiles().is_empty());
    assert!(r.profile_by_cid(&cid("null")).is_none());
    assert_eq!(r.rejections, [(0, idres_model::RecordKind::Identify, Reason::BlockedValue)]);

    let (r, results) = fold(vec![event("A"), identify("A", "null")]);
    assert_eq!(results, [Ok(()), Err(Reason::BlockedValue)]);
    let profiles = r.profiles();
    assert_eq!(profiles.len(), 1);
    assert_eq!(profiles[0].kind, ProfileKind::Anonymous);
    assert!(r.profile_by_cid(&cid("null")).is_none());
}

#[test]
fn reference_example_8() {
    let attrs = |k: &str, v: i64| Record::Attributes {
        target: Target::Uid(uid(k)),
        set: ints(&[(k, v)]),
        set_once: Map::new(),
        unset: vec![],
        ts: None,
        system: false,
        message_id: None,
    };
    let base = vec![identify("A", "u1"), identify("B", "u2"), event("A"), attrs("A", 1), attrs("B", 2)];
    let mut merged = base.clone();
    merged.push(Record::Merge { from: cid("u1"), into: cid("u2") });
    let (r, results) = fold(merged.clone());
    assert!(results.iter().all(Result::is_ok));
    let profiles = r.profiles();
    assert_eq!(profiles.len(), 1);
    let p = &profiles[0];
    assert_eq!(p.id, customer_profile_id(&cid("u2")));
    assert_eq!(cids(p), ["u2", "u1"]);
    assert_eq!(devices(p), ["A#0", "B#0"]);
    assert_eq!(p.attributes, ints(&[("A", 1), ("B", 2)]));
    assert_eq!(r.profile_by_cid(&cid("u1")).unwrap(), *p);
    assert_eq!(r.profile_by_id(customer_profile_id(&cid("u1"))).unwrap(), *p);

    let mut unmerged = merged;
    unmerged.push(Record::Unmerge { cid: cid("u1") });
    let (r, results) = fold(unmerged);
    assert!(results.iter().all(Result::is_ok));
    // The same log without merge and unmerge, with two rejected records keeping the LSNs.
    let mut without = base;
    without.push(Record::Merge { from: cid("zz"), into: cid("u2") });
    without.push(Record::Unmerge { cid: cid("zz") });
    let (r2, results2) = fold(without);
    assert_eq!(results2[5..], [Err(Reason::UnknownCid), Err(Reason::UnknownCid)]);
    assert_eq!(r.profiles(), r2.profiles());
    assert_eq!(r.profiles().len(), 2);
}

#[test]
fn reference_example_9() {
    let (r, results) = fold(vec![identify("A", "u1"), event("A"), Record::Unlink { uid: uid("A"), cid: cid("u1") }]);
    assert!(results.iter().all(Result::is_ok));
    let u1 = r.profile_by_cid(&cid("u1")).unwrap();
    assert!(u1.uids.is_empty());
    assert_eq!(u1.event_count, 0);
    let a = r.profile_by_uid(&uid("A")).unwrap();
    assert_eq!(a.kind, ProfileKind::Anonymous);
    assert_eq!(a.id, anonymous_profile_id(&uid("A"), 0));
    assert_eq!((a.event_count, a.history.clone()), (1, vec![1]));
    assert_eq!(r.profiles().len(), 2);
}

#[test]
fn reference_example_10() {
    let (r, results) = fold(vec![identify("A", "u1"), reset("A"), reset("A"), event("A")]);
    assert!(results.iter().all(Result::is_ok));
    assert_eq!(r.profiles().len(), 2);
    let a = r.profile_by_uid(&uid("A")).unwrap();
    assert_eq!(devices(&a), ["A#2"]);
    assert_eq!(a.event_count, 1);
    assert!(r.profile_by_uid_epoch(&uid("A"), 1).is_none());
    assert_eq!(devices(&by_uid(&r, "A", 0)), ["A#0"]);
}

// ---- the reference on its own: the lead's decisions ------------------------------------------

#[test]
fn reference_uuid_forms_are_one_device_and_self_link_uses_the_canonical_text() {
    use reference::gen::{UUID_BRACED, UUID_CANONICAL, UUID_UPPER};
    let (r, results) = fold(vec![event(UUID_UPPER), event(UUID_BRACED), identify(UUID_UPPER, UUID_CANONICAL)]);
    assert_eq!(results, [Ok(()), Ok(()), Err(Reason::SelfLink)]);
    let profiles = r.profiles();
    assert_eq!(profiles.len(), 1);
    assert_eq!(profiles[0].event_count, 2);
    assert_eq!(devices(&profiles[0]), [format!("{UUID_CANONICAL}#0")]);
}

#[test]
fn reference_check_order() {
    // Ids first (in field order), then the shape, then self-link.
    let bad_shape = |u: &str| Record::Event {
        target: Target::Uid(uid(u)),
        name: String::new(),
        props: Map::new(),
        session_id: None,
        ts: None,
        system: false,
        message_id: None,
    };
    let (_, results) = fold(vec![
        bad_shape("null"),
        bad_shape("A"),
        identify(" x", "null"),
        identify("null", " x"),
        Record::Merge { from: cid("nope"), into: cid("null") },
        identify("A", "A"),
    ]);
    assert_eq!(
        results,
        [
            Err(Reason::BlockedValue),
            Err(Reason::InvalidRecord),
            Err(Reason::InvalidId),
            Err(Reason::BlockedValue),
            Err(Reason::BlockedValue),
            Err(Reason::SelfLink)
        ]
    );
}

#[test]
fn reference_limits() {
    let config = Config { max_devices_per_profile: 2, max_customers_per_profile: 2, ..Config::default() };
    let entries = vec![
        identify("A", "c1"),
        identify("B", "c1"),
        identify("C", "c1"),                                // third device: limit
        identify("D", "c2"),                                // c2 {D}
        Record::Merge { from: cid("c2"), into: cid("c1") }, // 3 devices: limit
        Record::Unlink { uid: uid("B"), cid: cid("c1") },
        Record::Merge { from: cid("c2"), into: cid("c1") }, // 2 devices, 2 customers
        identify("E", "c3"),
        Record::Merge { from: cid("c3"), into: cid("c2") }, // 3 customers: limit
        identify("A", "c3"),                                // A#0 linked to c1: implicit reset, c3 gets A#1
        identify("E", "c1"), // E#0 linked to c3: implicit reset would give c1's profile 3 devices: limit
    ];
    let (r, results) = fold_entries(config, entries.into_iter().enumerate().map(|(i, e)| at(i as i64, e)).collect());
    assert_eq!(
        results,
        [
            Ok(()),
            Ok(()),
            Err(Reason::Limit),
            Ok(()),
            Err(Reason::Limit),
            Ok(()),
            Ok(()),
            Ok(()),
            Err(Reason::Limit),
            Ok(()),
            Err(Reason::Limit)
        ]
    );
    assert_eq!(r.epoch(&uid("E")), 0, "a rejected implicit reset does not advance the epoch");
    assert_eq!(r.epoch(&uid("A")), 1);
    let c1 = r.profile_by_cid(&cid("c2")).unwrap();
    assert_eq!(cids(&c1), ["c1", "c2"]);
    assert_eq!(devices(&c1), ["A#0", "D#0"]);
    assert_eq!(devices(&r.profile_by_cid(&cid("c3")).unwrap()), ["A#1", "E#0"]);
    assert!(r.profile_by_uid_epoch(&uid("C"), 0).is_none());
}

#[test]
fn reference_merge_of_merged_customers_uses_roots_and_unmerge_splits_around_one_node() {
    let merge = |f: &str, i: &str| Record::Merge { from: cid(f), into: cid(i) };
    let (r, results) = fold(vec![
        identify("A", "c1"),
        identify("B", "c2"),
        identify("C", "c3"),
        merge("c1", "c2"), // c1 -> c2
        merge("c3", "c1"), // c3 -> root(c1) = c2
        merge("c2", "c3"), // same profile: no-op
    ]);
    assert!(results.iter().all(Result::is_ok));
    assert_eq!(
        r.merges.iter().map(|(f, i, _)| (f.to_string(), i.to_string())).collect::<Vec<_>>(),
        [("c1".to_owned(), "c2".to_owned()), ("c3".to_owned(), "c2".to_owned())]
    );
    assert_eq!(cids(&r.profiles()[0]), ["c2", "c1", "c3"]);
    let mut r = r;
    r.apply(6, &at(700, Record::Unmerge { cid: cid("c1") })).unwrap();
    // c1 alone; c3 -> c2 remains.
    assert_eq!(cids(&r.profile_by_cid(&cid("c1")).unwrap()), ["c1"]);
    assert_eq!(cids(&r.profile_by_cid(&cid("c3")).unwrap()), ["c2", "c3"]);
}

#[test]
fn reference_attribute_rule() {
    let attributes = |t: i64, set: Map, set_once: Map, unset: Vec<&str>| Record::Attributes {
        target: Target::Cid(cid("c")),
        set,
        set_once,
        unset: unset.into_iter().map(str::to_owned).collect(),
        ts: Some(Timestamp(t)),
        system: false,
        message_id: None,
    };
    let entries = vec![
        at(1000, attributes(50, Map::new(), ints(&[("k", 1)]), vec![])), // set_once @50
        at(1001, attributes(40, Map::new(), ints(&[("k", 2)]), vec![])), // set_once @40: earliest
        at(1002, attributes(30, ints(&[("j", 5)]), ints(&[("j", 6)]), vec!["j"])), // unset wins within one record
        at(1003, attributes(45, Map::new(), Map::new(), vec!["k"])),     // unset @45: set_once @50 is after it
        at(1004, attributes(10, ints(&[("m", 1)]), Map::new(), vec![])),
        at(1005, attributes(5, Map::new(), Map::new(), vec!["m"])), // older unset: set wins
    ];
    let (r, _) = fold_entries(Config::default(), entries.clone());
    assert_eq!(r.profile_by_cid(&cid("c")).unwrap().attributes, ints(&[("k", 1), ("m", 1)]));
    // Without the unset of k: the earliest set_once (@40).
    let mut fewer = entries;
    fewer[3] = at(1003, attributes(45, Map::new(), Map::new(), vec![]));
    let (r, _) = fold_entries(Config::default(), fewer);
    assert_eq!(r.profile_by_cid(&cid("c")).unwrap().attributes, ints(&[("k", 2), ("m", 1)]));
}

#[test]
fn reference_uids_sort_by_text() {
    use reference::gen::{UUID_CANONICAL, UUID_UPPER};
    let (r, _) = fold(vec![identify(UUID_UPPER, "c1"), identify("0d", "c1"), identify("A", "c1")]);
    assert_eq!(devices(&r.profiles()[0]), ["0d#0".to_owned(), format!("{UUID_CANONICAL}#0"), "A#0".to_owned()]);
}
