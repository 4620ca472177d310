//! The change stream as a subscriber meets it (issue 14, item 12): each change carries its
//! record's LSN and the profile's primary cid and devices as they stand after that record; one
//! record yields one change per profile; a subscriber that lags never holds the writer and is
//! told how much it missed; changes arrive in LSN order; a subscription ends with the engine.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use idres::prelude::*;
use idres::{
    ChangeKind, Reason, Stats, Subscription, SubscriptionEnded, Uuid, CHANGE_UIDS_MAX, SUBSCRIBER_CHANGES_MAX,
};

fn config() -> EngineConfig {
    EngineConfig {
        segment_bytes: 1 << 20,
        snapshot_every_records: 0,
        store: idres::StoreBackend::Memory,
        ..EngineConfig::default()
    }
}

fn open() -> (tempfile::TempDir, Engine) {
    let dir = tempfile::tempdir().unwrap();
    let engine = Engine::open(dir.path(), config()).unwrap();
    (dir, engine)
}

fn attrs(pairs: &[(&str, i64)]) -> Map {
    pairs.iter().map(|(k, v)| ((*k).to_string(), Value::Int(*v))).collect()
}

fn event(uid: &str) -> Record {
    Record::Event {
        target: Target::uid(uid).unwrap(),
        name: "view".into(),
        props: Map::new(),
        session_id: None,
        ts: None,
        system: false,
        message_id: None,
    }
}

fn identify(uid: &str, cid: &str) -> Record {
    Record::Identify {
        uid: Some(Uid::parse(uid).unwrap()),
        cid: Cid::parse(cid).unwrap(),
        attrs: Map::new(),
        ts: None,
        message_id: None,
    }
}

/// Every event the subscription holds now.
fn drain(sub: &Subscription) -> Vec<ChangeEvent> {
    sub.try_iter().collect()
}

/// The profile changes among `events`, as (profile, kind, lsn).
fn kinds(events: &[ChangeEvent]) -> Vec<(Uuid, ChangeKind, Lsn)> {
    events
        .iter()
        .filter_map(|e| match e {
            ChangeEvent::Profile(c) => Some((c.profile, c.kind, c.lsn)),
            _ => None,
        })
        .collect()
}

fn profile_change(e: &ChangeEvent) -> &ProfileChange {
    match e {
        ChangeEvent::Profile(c) => c,
        other => panic!("not a profile change: {other:?}"),
    }
}

fn customer(engine: &Engine, cid: &str) -> Profile {
    engine.profile_by_cid(cid).unwrap().unwrap()
}

fn anonymous_id(uid: &str) -> Uuid {
    idres_resolve::anonymous_profile_id(&Uid::parse(uid).unwrap(), 0)
}

/// `change` describes `profile` as read back: its primary cid and every device.
fn assert_describes(change: &ProfileChange, profile: &Profile) {
    assert_eq!(change.primary_cid, profile.primary_cid, "{change:?}");
    assert_eq!(change.uids, profile.uids, "{change:?}");
    assert_eq!(change.uids_more, 0);
}

#[test]
fn each_change_carries_its_records_lsn_and_the_profile_as_it_stands_after_it() {
    let (_dir, engine) = open();
    let sub = engine.subscribe();
    let first = engine.identify(Some("A"), "u1", attrs(&[("plan", 1)])).unwrap().wait().unwrap();
    let got = drain(&sub);
    let u1 = customer(&engine, "u1");
    // The device was created and linked by the same record: it only redirects now.
    assert_eq!(
        kinds(&got),
        vec![(anonymous_id("A"), ChangeKind::Retired { into: u1.id }, first), (u1.id, ChangeKind::Created, first)]
    );
    for e in &got {
        assert_eq!(e.lsn(), Some(first));
        // A retired id's change describes its survivor.
        assert_describes(profile_change(e), &u1);
    }
    let second = engine.identify(Some("B"), "u1", Map::new()).unwrap().wait().unwrap();
    let got = drain(&sub);
    let u1 = customer(&engine, "u1");
    assert_eq!(u1.uids.len(), 2);
    assert_eq!(kinds(&got)[1], (u1.id, ChangeKind::Changed, second));
    assert_describes(profile_change(&got[1]), &u1);
    // An anonymous profile has no primary cid, and its device.
    let third = engine.track_uid("C", "view", Map::new()).unwrap().wait().unwrap();
    let got = drain(&sub);
    let c = engine.profile_by_uid("C").unwrap().unwrap();
    assert_eq!(kinds(&got), vec![(c.id, ChangeKind::Created, third)]);
    assert_describes(profile_change(&got[0]), &c);
    assert_eq!(profile_change(&got[0]).primary_cid, None);
    engine.close().unwrap();
}

#[test]
fn each_record_of_a_batch_reads_the_fold_after_itself_not_after_the_batch() {
    // One frame, one fold pass, one publish: still, each change shows its own record's state.
    let (_dir, engine) = open();
    let sub = engine.subscribe();
    let lsns = engine.write_batch(vec![identify("A", "u1"), identify("B", "u1"), event("B")]).unwrap();
    let lsns = lsns.wait_range().unwrap();
    let got = drain(&sub);
    let u1 = customer(&engine, "u1").id;
    let of_u1: Vec<&ProfileChange> = got.iter().map(profile_change).filter(|c| c.profile == u1).collect();
    let uids: Vec<(Lsn, usize)> = of_u1.iter().map(|c| (c.lsn, c.uids.len())).collect();
    assert_eq!(uids, vec![(lsns.start, 1), (lsns.start + 1, 2), (lsns.start + 2, 2)]);
    engine.close().unwrap();
}

#[test]
fn one_record_yields_at_most_one_change_per_profile() {
    let (_dir, engine) = open();
    let sub = engine.subscribe();
    // An event on a new uid: the fold says Created, then Changed; the subscriber hears Created.
    let lsn = engine.track_uid("A", "view", Map::new()).unwrap().wait().unwrap();
    assert_eq!(kinds(&drain(&sub)), vec![(anonymous_id("A"), ChangeKind::Created, lsn)]);
    // An identify with attributes on a new device and a new customer: the fold says Created ×2,
    // Retired, Changed (the link), Changed (the attributes).
    let lsn = engine.identify(Some("B"), "u1", attrs(&[("plan", 2)])).unwrap().wait().unwrap();
    let u1 = customer(&engine, "u1").id;
    assert_eq!(
        kinds(&drain(&sub)),
        vec![(anonymous_id("B"), ChangeKind::Retired { into: u1 }, lsn), (u1, ChangeKind::Created, lsn)]
    );
    // The same on a known device and customer: the link (A joins) and the attributes, one change.
    let lsn = engine.identify(Some("A"), "u1", attrs(&[("plan", 3)])).unwrap().wait().unwrap();
    assert_eq!(
        kinds(&drain(&sub)),
        vec![(anonymous_id("A"), ChangeKind::Retired { into: u1 }, lsn), (u1, ChangeKind::Changed, lsn)]
    );
    let lsn = engine.identify(Some("A"), "u1", attrs(&[("plan", 4)])).unwrap().wait().unwrap();
    assert_eq!(kinds(&drain(&sub)), vec![(u1, ChangeKind::Changed, lsn)]);
    engine.close().unwrap();
}

#[test]
fn a_merge_yields_the_retired_id_and_the_survivors_change_and_an_unmerge_one_split_per_result() {
    let (_dir, engine) = open();
    engine.identify(Some("A"), "u1", Map::new()).unwrap().wait().unwrap();
    engine.identify(Some("B"), "u2", Map::new()).unwrap().wait().unwrap();
    let (u1, u2) = (customer(&engine, "u1").id, customer(&engine, "u2").id);
    let sub = engine.subscribe();
    let lsn = engine.merge("u1", "u2").unwrap().wait().unwrap();
    let got = drain(&sub);
    assert_eq!(kinds(&got), vec![(u1, ChangeKind::Retired { into: u2 }, lsn), (u2, ChangeKind::Changed, lsn)]);
    let merged = customer(&engine, "u2");
    assert_eq!(merged.uids.len(), 2);
    for e in &got {
        assert_describes(profile_change(e), &merged);
    }
    let lsn = engine.unmerge("u1").unwrap().wait().unwrap();
    let got = drain(&sub);
    let mut split = kinds(&got);
    split.sort();
    let mut expected = vec![(u1, ChangeKind::Split { from: u2 }, lsn), (u2, ChangeKind::Split { from: u2 }, lsn)];
    expected.sort();
    assert_eq!(split, expected);
    for e in &got {
        let c = profile_change(e);
        assert_describes(c, &engine.profile_by_id(c.profile).unwrap());
        assert_eq!(c.uids.len(), 1);
    }
    engine.close().unwrap();
}

#[test]
fn rejections_and_implicit_resets_are_told_with_their_lsn() {
    let (_dir, engine) = open();
    let sub = engine.subscribe();
    let rejected = engine.identify(Some("A"), "null", Map::new()).unwrap().wait().unwrap();
    assert_eq!(drain(&sub), vec![ChangeEvent::Rejected { lsn: rejected, reason: Reason::BlockedValue }]);
    engine.identify(Some("A"), "u1", Map::new()).unwrap().wait().unwrap();
    drain(&sub);
    let lsn = engine.identify(Some("A"), "u2", Map::new()).unwrap().wait().unwrap();
    let got = drain(&sub);
    let ChangeEvent::ImplicitReset(reset) = &got[0] else { panic!("{got:?}") };
    assert_eq!((reset.lsn, reset.from_epoch, reset.to_epoch), (lsn, 0, 1));
    assert_eq!((reset.previous_cid.as_bytes(), reset.cid.as_bytes()), (&b"u1"[..], &b"u2"[..]));
    let u2 = customer(&engine, "u2");
    assert!(kinds(&got[1..]).contains(&(u2.id, ChangeKind::Created, lsn)), "{got:?}");
    assert!(got.iter().all(|e| e.lsn() == Some(lsn)));
    engine.close().unwrap();
}

#[test]
fn a_large_profile_lists_its_first_uids_and_counts_the_rest() {
    let (_dir, engine) = open();
    let devices = CHANGE_UIDS_MAX + 8;
    let records: Vec<Record> = (0..devices).map(|i| identify(&format!("dev-{:03}", devices - i), "big")).collect();
    engine.write_batch(records).unwrap().wait().unwrap();
    let sub = engine.subscribe();
    let lsn = engine.track(Target::cid("big").unwrap(), "view", Map::new(), None, None).unwrap().wait().unwrap();
    let got = drain(&sub);
    let big = customer(&engine, "big");
    assert_eq!(big.uids.len(), devices);
    let c = profile_change(&got[0]);
    assert_eq!((c.lsn, c.kind, c.uids_more), (lsn, ChangeKind::Changed, 8));
    assert_eq!(c.uids, big.uids[..CHANGE_UIDS_MAX], "the first of the profile's own order");
    engine.close().unwrap();
}

/// `n` records each yielding exactly one change (an event on a new device).
fn fresh_events(n: usize, prefix: &str) -> Vec<Record> {
    (0..n).map(|i| event(&format!("{prefix}{i}"))).collect()
}

fn write_all(engine: &Engine, records: Vec<Record>) {
    for chunk in records.chunks(8_192) {
        engine.write_batch(chunk.to_vec()).unwrap().wait().unwrap();
    }
}

#[test]
fn a_subscriber_that_never_reads_holds_no_write_and_is_told_how_many_it_missed() {
    let (_dir, engine) = open();
    let idle = engine.subscribe();
    let keeping_up = engine.subscribe();
    let missed = 700;
    let total = SUBSCRIBER_CHANGES_MAX + missed;
    // Every write completes although `idle` reads nothing (the writer never waits for it);
    // `keeping_up` reads as the writes go.
    let mut kept = Vec::new();
    for chunk in fresh_events(total, "d").chunks(8_192) {
        engine.write_batch(chunk.to_vec()).unwrap().wait().unwrap();
        kept.extend(keeping_up.try_iter());
    }
    assert_eq!(kept.len(), total, "a subscriber that keeps up misses nothing");
    let stats: Stats = engine.stats();
    assert_eq!((stats.subscribers, stats.changes_dropped), (2, missed as u64));
    assert_eq!((idle.lagged(), keeping_up.lagged()), (missed as u64, 0));
    // The idle one holds the oldest changes in order, then the marker, then nothing.
    let got = drain(&idle);
    assert_eq!(got.len(), SUBSCRIBER_CHANGES_MAX + 1);
    let lsns: Vec<Lsn> = got[..SUBSCRIBER_CHANGES_MAX].iter().map(|e| e.lsn().unwrap()).collect();
    assert_eq!(lsns, (0..SUBSCRIBER_CHANGES_MAX as Lsn).collect::<Vec<_>>());
    assert_eq!(got[SUBSCRIBER_CHANGES_MAX], ChangeEvent::Lagged { missed: missed as u64 });
    assert_eq!(idle.try_recv(), Ok(None));
    // It is still subscribed: the next record's change arrives, with no second marker.
    let lsn = engine.track_uid("later", "view", Map::new()).unwrap().wait().unwrap();
    assert_eq!(drain(&idle).iter().map(ChangeEvent::lsn).collect::<Vec<_>>(), vec![Some(lsn)]);
    assert_eq!(engine.stats().changes_dropped, missed as u64);
    engine.close().unwrap();
}

#[test]
fn a_lagging_subscriber_that_reads_part_gets_the_marker_before_the_next_changes() {
    let (_dir, engine) = open();
    let sub = engine.subscribe();
    write_all(&engine, fresh_events(SUBSCRIBER_CHANGES_MAX + 5, "d"));
    // Read ten: the channel has room again, and the writer hands out the marker itself, ahead of
    // the next record's change.
    let read: Vec<ChangeEvent> = (0..10).map(|_| sub.try_recv().unwrap().unwrap()).collect();
    assert_eq!(read.last().and_then(ChangeEvent::lsn), Some(9));
    let lsn = engine.track_uid("after", "view", Map::new()).unwrap().wait().unwrap();
    let rest = drain(&sub);
    assert_eq!(rest.len(), SUBSCRIBER_CHANGES_MAX - 10 + 2);
    assert_eq!(rest[rest.len() - 2], ChangeEvent::Lagged { missed: 5 });
    assert_eq!(rest[rest.len() - 1].lsn(), Some(lsn));
    assert_eq!(sub.lagged(), 5);
    engine.close().unwrap();
}

#[test]
fn changes_arrive_in_lsn_order_from_concurrent_writers() {
    let (_dir, engine) = open();
    let sub = engine.subscribe();
    let writers: Vec<_> = (0..4)
        .map(|w| {
            let engine = engine.clone();
            std::thread::spawn(move || {
                (0..200)
                    .map(|i| {
                        let uid = format!("w{w}-{}", i % 7);
                        let is_event = i % 5 != 0;
                        let ticket = if is_event {
                            engine.track_uid(&uid, "view", Map::new())
                        } else {
                            engine.identify(Some(&uid), &format!("c{}", i % 3), Map::new())
                        };
                        (ticket.unwrap().wait().unwrap(), is_event)
                    })
                    .collect::<Vec<(Lsn, bool)>>()
            })
        })
        .collect();
    let acknowledged: Vec<(Lsn, bool)> = writers.into_iter().flat_map(|t| t.join().unwrap()).collect();
    let got = drain(&sub);
    let lsns: Vec<Lsn> = got.iter().map(|e| e.lsn().unwrap()).collect();
    assert!(lsns.windows(2).all(|w| w[0] <= w[1]), "out of LSN order");
    let seen: std::collections::BTreeSet<Lsn> = lsns.iter().copied().collect();
    for (lsn, is_event) in &acknowledged {
        // An event always changes its profile; an identify may change nothing (a link made before).
        assert!(!is_event || seen.contains(lsn), "the event at {lsn} is not told");
    }
    assert!(seen.iter().all(|l| acknowledged.iter().any(|(a, _)| a == l)), "a change of a record never written");
    // No record names a profile twice.
    let mut named = std::collections::BTreeSet::new();
    for c in got.iter().filter_map(|e| match e {
        ChangeEvent::Profile(c) => Some(c),
        _ => None,
    }) {
        assert!(named.insert((c.lsn, c.profile)), "{c:?} twice");
    }
    engine.close().unwrap();
}

#[test]
fn a_subscription_ends_when_the_engine_closes_once_read() {
    let (_dir, engine) = open();
    let sub = engine.subscribe();
    let lsn = engine.track_uid("A", "view", Map::new()).unwrap().wait().unwrap();
    engine.close().unwrap();
    assert_eq!(sub.recv().unwrap().lsn(), Some(lsn), "what was sent is still read");
    assert_eq!(sub.recv(), Err(SubscriptionEnded));
    assert_eq!(sub.try_recv(), Err(SubscriptionEnded));
    assert_eq!(engine.stats().subscribers, 0);
}

#[test]
fn a_dropped_subscription_is_removed_at_the_next_publish() {
    let (_dir, engine) = open();
    let sub = engine.subscribe();
    assert_eq!(engine.stats().subscribers, 1);
    drop(sub);
    engine.track_uid("A", "view", Map::new()).unwrap().wait().unwrap();
    assert_eq!(engine.stats().subscribers, 0);
    engine.close().unwrap();
}
