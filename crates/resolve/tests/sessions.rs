#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
//! The worked examples of docs/SEMANTICS.md, "Sessions" (S1–S6) and "System and custom data"
//! (Y1–Y4), each a test: sessions explicit and inferred, joined over a profile and split exactly,
//! independent of arrival order; system events and a device's system attributes beside the
//! profile's custom ones.

use idres_model::{Entry, Map, Record, Target, Timestamp, Uid, Value};
use idres_resolve::{Applied, Config, Reason, Resolver, SessionInfo, NODE_SESSIONS_MAX};

const MIN: i64 = 60 * 1_000_000;
/// 2026-03-01T10:00:00Z in µs.
const T10: i64 = 1_772_359_200_000_000;
/// When every record is appended: after every event time here (an effective time is the earlier
/// of the caller's time and the append time).
const APPENDED: i64 = T10 + 200_000 * 60 * MIN;

fn uid(s: &str) -> Uid {
    Uid::parse(s).unwrap()
}

fn event(u: &str, name: &str, ts: i64, session: Option<&str>, system: bool) -> Record {
    Record::Event {
        target: Target::Uid(uid(u)),
        name: name.into(),
        props: Map::new(),
        session_id: session.map(str::to_owned),
        ts: Some(Timestamp(ts)),
        system,
        message_id: None,
    }
}

fn view(u: &str, ts: i64) -> Record {
    event(u, "view", ts, None, false)
}

fn attrs(u: &str, set: &[(&str, &str)], system: bool) -> Record {
    Record::Attributes {
        target: Target::Uid(uid(u)),
        set: set.iter().map(|(k, v)| (k.to_string(), Value::String(v.to_string()))).collect(),
        set_once: Map::new(),
        unset: Vec::new(),
        ts: Some(Timestamp(T10)),
        system,
        message_id: None,
    }
}

fn identify(u: &str, c: &str) -> Record {
    Record::Identify {
        uid: Some(uid(u)),
        cid: idres_model::Cid::parse(c).unwrap(),
        attrs: Map::new(),
        ts: None,
        message_id: None,
    }
}

fn fold_with(config: Config, records: &[Record]) -> (Resolver, Vec<Applied>) {
    let mut r = Resolver::new(config);
    let outcomes = records
        .iter()
        .enumerate()
        .map(|(i, rec)| r.apply(i as u64, &Entry { appended_at: Timestamp(APPENDED), record: rec.clone() }).unwrap())
        .collect();
    (r, outcomes)
}

fn fold(records: &[Record]) -> Resolver {
    fold_with(Config::default(), records).0
}

/// A session in brief: `(id, devices, start − T10 in minutes, end − T10 in minutes, events)`.
type Brief = (Option<String>, Vec<String>, i64, i64, u64);

/// Each session in brief.
fn brief(s: &[SessionInfo]) -> Vec<Brief> {
    s.iter()
        .map(|s| {
            let devices =
                s.devices.iter().map(|d| d.as_ref().map_or("-".into(), |(u, e)| format!("{u}#{e}"))).collect();
            (s.id.clone(), devices, (s.start - T10) / MIN, (s.end - T10) / MIN, s.events)
        })
        .collect()
}

fn of_uid(r: &Resolver, u: &str) -> Vec<Brief> {
    brief(&r.sessions_by_uid(&uid(u)).unwrap())
}

fn a(devices: &[&str]) -> Vec<String> {
    devices.iter().map(|d| d.to_string()).collect()
}

/// S1: events without a session id, 10:00, 10:10, 11:00 on one device: two inferred sessions
/// (a gap of 50 minutes is more than 30), whatever order they arrive in.
#[test]
fn s1_inferred_sessions_by_the_inactivity_gap() {
    let log = [view("A", T10), view("A", T10 + 10 * MIN), view("A", T10 + 60 * MIN)];
    let r = fold(&log);
    let want = vec![(None, a(&["A#0"]), 0, 10, 2), (None, a(&["A#0"]), 60, 60, 1)];
    assert_eq!(of_uid(&r, "A"), want);
    let mut reversed = log.to_vec();
    reversed.reverse();
    assert_eq!(of_uid(&fold(&reversed), "A"), want);
    let p = r.profile_by_uid(&uid("A")).unwrap();
    assert_eq!(p.sessions.count, 2);
    assert_eq!(p.sessions.first_start, Some(Timestamp(T10)));
    assert_eq!(p.sessions.last_start, Some(Timestamp(T10 + 60 * MIN)));
    assert_eq!(p.sessions.median_micros, Some(0), "lengths 0 and 10 minutes: the lower middle");
}

/// S2: a late event at 10:35 comes within 30 minutes of both sessions of S1: one session.
#[test]
fn s2_a_late_event_bridges_two_inferred_sessions() {
    let r = fold(&[view("A", T10), view("A", T10 + 10 * MIN), view("A", T10 + 60 * MIN), view("A", T10 + 35 * MIN)]);
    assert_eq!(of_uid(&r, "A"), vec![(None, a(&["A#0"]), 0, 60, 4)]);
    // Exactly the gap apart is the same session; a microsecond more is not.
    let r = fold(&[view("B", T10), view("B", T10 + 30 * MIN)]);
    assert_eq!(of_uid(&r, "B").len(), 1);
    let r = fold(&[view("B", T10), view("B", T10 + 30 * MIN + 1)]);
    assert_eq!(of_uid(&r, "B").len(), 2);
}

/// S3: session "s1" on two devices of one customer is one session of the profile; unlinking
/// one device splits it back exactly.
#[test]
fn s3_explicit_sessions_join_over_a_profile_and_split_exactly() {
    let s1 = Some("s1");
    let mut log = vec![
        event("A", "view", T10, s1, false),
        event("A", "view", T10 + 20 * MIN, s1, false),
        event("B", "view", T10 + 5 * MIN, s1, false),
        identify("A", "u1"),
        identify("B", "u1"),
    ];
    let r = fold(&log);
    let u1 = brief(&r.sessions_by_cid(&idres_model::Cid::parse("u1").unwrap()).unwrap());
    assert_eq!(u1, vec![(Some("s1".into()), a(&["A#0", "B#0"]), 0, 20, 3)]);
    log.push(Record::Unlink { uid: uid("B"), cid: idres_model::Cid::parse("u1").unwrap() });
    let r = fold(&log);
    let u1 = brief(&r.sessions_by_cid(&idres_model::Cid::parse("u1").unwrap()).unwrap());
    assert_eq!(u1, vec![(Some("s1".into()), a(&["A#0"]), 0, 20, 2)]);
    assert_eq!(of_uid(&r, "B"), vec![(Some("s1".into()), a(&["B#0"]), 5, 5, 1)]);
}

/// S4: with `session_gap_us = 0` an event without a session id is in no session; one with a
/// session id still is.
#[test]
fn s4_a_gap_of_zero_infers_nothing() {
    let config = Config { session_gap_us: 0, ..Config::default() };
    let (r, _) = fold_with(config, &[view("A", T10), event("A", "view", T10, Some("s9"), false)]);
    assert_eq!(of_uid(&r, "A"), vec![(Some("s9".into()), a(&["A#0"]), 0, 0, 1)]);
    let p = r.profile_by_uid(&uid("A")).unwrap();
    assert_eq!((p.event_count, p.sessions.count), (2, 1));
}

/// S5: a node holds at most NODE_SESSIONS_MAX sessions: an event that would open one more is
/// rejected `limit` and changes nothing; one that falls into a session it holds is accepted.
#[test]
fn s5_sessions_per_node_are_bounded() {
    let mut log: Vec<Record> = (0..NODE_SESSIONS_MAX as i64).map(|i| view("A", T10 + i * 60 * MIN)).collect();
    log.push(view("A", T10 - 60 * MIN));
    log.push(view("A", T10 + MIN));
    let (r, outcomes) = fold_with(Config::default(), &log);
    assert_eq!(outcomes[NODE_SESSIONS_MAX], Applied::Rejected(Reason::Limit));
    assert_eq!(outcomes[NODE_SESSIONS_MAX + 1], Applied::Accepted);
    let p = r.profile_by_uid(&uid("A")).unwrap();
    assert_eq!(p.sessions.count, NODE_SESSIONS_MAX as u64);
    assert_eq!(p.event_count, NODE_SESSIONS_MAX as u64 + 1);
    assert!(r.rejections().back().unwrap().detail.contains("NODE_SESSIONS_MAX"));
}

/// S6: sessions survive a snapshot; sessions are outside the state digest (so logs written
/// before sessions keep their digests under the default gap) and in the sessions digest, which
/// another gap changes.
#[test]
fn s6_snapshots_keep_sessions_and_the_digests_split() {
    let log = [view("A", T10), event("A", "view", T10 + MIN, Some("s1"), false), view("A", T10 + 90 * MIN)];
    let r = fold(&log);
    let back = Resolver::restore(&r.snapshot().unwrap(), Config::default()).unwrap();
    assert_eq!(of_uid(&back, "A"), of_uid(&r, "A"));
    assert_eq!(back.sessions_digest(), r.sessions_digest());
    let other = Config { session_gap_us: 120 * MIN, ..Config::default() };
    let (o, _) = fold_with(other.clone(), &log);
    assert_eq!(of_uid(&o, "A").len(), 2, "s1 and one inferred session");
    assert_ne!(o.sessions_digest(), r.sessions_digest());
    assert_eq!(o.profiles().len(), r.profiles().len());
    // A snapshot of one gap is refused under another (the config hash): a replay applies it.
    assert!(Resolver::restore(&r.snapshot().unwrap(), other).is_err());
}

/// Y1: a system event counts like any event, by its name with the custom ones, and apart in
/// `system_event_count`; it changes the digest (a custom event of that name would not give it).
#[test]
fn y1_system_events_count_and_are_marked() {
    let log = [event("A", "Application Opened", T10, None, true), event("A", "Application Opened", T10, None, false)];
    let r = fold(&log);
    let p = r.profile_by_uid(&uid("A")).unwrap();
    assert_eq!(p.event_count, 2);
    assert_eq!(p.system_event_count, 1);
    assert_eq!(p.events_by_name.get("Application Opened"), Some(&2));
    let custom = fold(&[event("A", "Application Opened", T10, None, false), log[1].clone()]);
    assert_eq!(custom.profile_by_uid(&uid("A")).unwrap().system_event_count, 0);
    assert_ne!(custom.digest(), r.digest());
}

/// Y2: a device's system attributes stay the device's: listed under `devices`, never in the
/// profile's attributes, and not joined with another device's of the same key.
#[test]
fn y2_system_attributes_belong_to_the_device() {
    let log = [
        attrs("A", &[("os.name", "iOS")], true),
        attrs("A", &[("plan", "pro")], false),
        attrs("B", &[("os.name", "Android")], true),
        view("A", T10),
        identify("A", "u1"),
        identify("B", "u1"),
    ];
    let r = fold(&log);
    let p = r.profile_by_cid(&idres_model::Cid::parse("u1").unwrap()).unwrap();
    assert_eq!(p.attributes.keys().collect::<Vec<_>>(), vec!["plan"]);
    assert_eq!(p.devices.len(), 2);
    let os = |i: usize| p.devices[i].system_attributes.get("os.name").cloned();
    assert_eq!((os(0), os(1)), (Some(Value::String("iOS".into())), Some(Value::String("Android".into()))));
    assert_eq!((p.devices[0].event_count, p.devices[0].first_seen), (1, Some(Timestamp(T10))));
    assert_eq!((p.devices[1].event_count, p.devices[1].first_seen), (0, None));
    // A custom attribute of the same key as a system one is another cell.
    let r = fold(&[attrs("C", &[("os.name", "iOS")], true), attrs("C", &[("os.name", "mine")], false)]);
    let p = r.profile_by_uid(&uid("C")).unwrap();
    assert_eq!(p.attributes.get("os.name"), Some(&Value::String("mine".into())));
    assert_eq!(p.devices[0].system_attributes.get("os.name"), Some(&Value::String("iOS".into())));
    // Through a snapshot, the same.
    let back = Resolver::restore(&r.snapshot().unwrap(), Config::default()).unwrap();
    assert_eq!(back.profiles(), r.profiles());
    assert_eq!(back.digest(), r.digest());
}

/// Y3: system attributes on a cid are a shape error: `invalid_record`, nothing changes.
#[test]
fn y3_system_attributes_on_a_customer_are_refused() {
    let record = Record::Attributes {
        target: Target::Cid(idres_model::Cid::parse("u1").unwrap()),
        set: [("os.name".to_string(), Value::Null)].into_iter().collect(),
        set_once: Map::new(),
        unset: Vec::new(),
        ts: None,
        system: true,
        message_id: None,
    };
    let (r, outcomes) = fold_with(Config::default(), &[record]);
    assert_eq!(outcomes, vec![Applied::Rejected(Reason::InvalidRecord)]);
    assert_eq!(r.profiles().len(), 0);
}

/// Y4: system attribute bytes count towards the profile's attribute budget like any others.
#[test]
fn y4_system_attributes_count_in_the_attribute_limits() {
    let big = "x".repeat(60_000);
    let mut log = Vec::new();
    // 45 × 60 kB custom and 45 × 60 kB system on one device: past 5 MiB in all, under it alone.
    for i in 0..45 {
        log.push(attrs("A", &[(&format!("c{i}"), &big)], false));
    }
    for i in 0..45 {
        log.push(attrs("A", &[(&format!("s{i}"), &big)], true));
    }
    let (_, outcomes) = fold_with(Config::default(), &log);
    assert!(outcomes[..45].iter().all(|o| *o == Applied::Accepted));
    assert_eq!(outcomes[45], Applied::Accepted, "system attributes are accepted while the budget lasts");
    assert!(outcomes[45..].contains(&Applied::Rejected(Reason::Limit)), "the shared budget runs out");
}
