//! Stored profiles: a committed fixture pins the bytes; round trips keep every field but history;
//! hostile bytes are refused without panicking or allocating for what is not there; a borrowed
//! profile (`ProfileRef`) encodes as the owned one and is refused with its maps out of order.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::BTreeMap;

use idres_model::{
    decode_profile, encode_profile_into, encode_profile_ref_into, Cid, DeviceInfo, DeviceRef, Map, Profile,
    ProfileKind, SessionsSummary, Timestamp, Uid, Value,
};
use proptest::prelude::*;

fn sample() -> Profile {
    let mut attributes = Map::new();
    attributes.insert("plan".into(), Value::String("pro".into()));
    attributes.insert("score".into(), Value::Float(-0.5));
    attributes.insert("tags".into(), Value::List(vec![Value::Int(1), Value::Null, Value::Bool(true)]));
    Profile {
        id: uuid::Uuid::from_u128(0x1234_5678_9abc_4def_8123_4567_89ab_cdef),
        kind: ProfileKind::Customer,
        primary_cid: Some(Cid::parse("u2").unwrap()),
        cids: vec![Cid::parse("u2").unwrap(), Cid::parse("Łukasz").unwrap()],
        uids: vec![
            DeviceRef { uid: Uid::parse("6ba7b810-9dad-11d1-80b4-00c04fd430c8").unwrap(), epoch: 0 },
            DeviceRef { uid: Uid::parse("web-7").unwrap(), epoch: 3 },
        ],
        attributes,
        event_count: 42,
        events_by_name: BTreeMap::from([("buy".to_string(), 2), ("view".to_string(), 40)]),
        first_seen: Some(Timestamp(1_700_000_000_000_000)),
        last_seen: Some(Timestamp(1_700_000_100_000_000)),
        history: vec![1, 2, 3],
        system_event_count: 0,
        sessions: SessionsSummary::default(),
        devices: vec![DeviceInfo::default(); 2],
    }
}

/// [`sample`] with what layout 2 adds: system events, sessions, devices seen and their system
/// attributes.
fn sample_v2() -> Profile {
    let mut p = sample();
    p.system_event_count = 7;
    p.sessions = SessionsSummary {
        count: 3,
        first_start: Some(Timestamp(1_700_000_000_000_000)),
        last_start: Some(Timestamp(1_700_000_090_000_000)),
        median_micros: Some(600_000_000),
    };
    p.devices[0] = DeviceInfo {
        first_seen: Some(Timestamp(1_700_000_000_000_000)),
        last_seen: Some(Timestamp(1_700_000_100_000_000)),
        event_count: 40,
        system_attributes: BTreeMap::from([
            ("device.model".to_string(), Value::String("Pixel 8".into())),
            ("os.name".to_string(), Value::String("Android".into())),
        ]),
    };
    p
}

fn without_history(p: &Profile) -> Profile {
    Profile { history: Vec::new(), ..p.clone() }
}

#[test]
fn fixture_pins_the_stored_bytes() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/profile-v2.bin");
    let mut bytes = Vec::new();
    encode_profile_into(&sample_v2(), &mut bytes).unwrap();
    if std::env::var("IDRES_BLESS").is_ok() {
        std::fs::write(path, &bytes).unwrap();
    }
    let fixture = std::fs::read(path).expect("fixture exists (IDRES_BLESS=1 writes it)");
    assert_eq!(decode_profile(&fixture).unwrap(), without_history(&sample_v2()));
    assert_eq!(bytes, fixture, "the stored profile layout changed: bump its version");
}

/// A profile stored by layout 1 (before sessions and devices: the fixture was written by that
/// build and is never re-blessed) still reads, its devices with nothing known of them alone.
#[test]
fn a_layout_1_profile_still_reads() {
    let fixture = std::fs::read(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/profile.bin")).unwrap();
    assert_eq!(fixture[0], 1, "layout 1");
    assert_eq!(decode_profile(&fixture).unwrap(), without_history(&sample()));
    for cut in 0..fixture.len() {
        assert!(decode_profile(&fixture[..cut]).is_err(), "cut at {cut}");
    }
}

#[test]
fn devices_must_match_uids() {
    let mut p = sample_v2();
    p.devices.pop();
    let mut out = vec![7u8];
    assert!(encode_profile_into(&p, &mut out).is_err());
    assert_eq!(out, vec![7u8]);
}

#[test]
fn over_limit_and_trailing_bytes_are_refused() {
    let mut bytes = Vec::new();
    encode_profile_into(&sample_v2(), &mut bytes).unwrap();
    bytes.push(0);
    assert!(decode_profile(&bytes).is_err());
    bytes.pop();
    for cut in 0..bytes.len() {
        assert!(decode_profile(&bytes[..cut]).is_err(), "cut at {cut}");
    }
    let mut p = sample();
    for i in 0..70_000 {
        p.attributes.insert(format!("k{i}"), Value::Null);
    }
    let mut out = vec![7u8];
    assert!(encode_profile_into(&p, &mut out).is_err());
    assert_eq!(out, vec![7u8], "a refused profile leaves the buffer unchanged");
}

fn profile() -> impl Strategy<Value = Profile> {
    (
        any::<u128>(),
        any::<bool>(),
        prop::collection::vec("[a-z]{1,8}", 0..4),
        prop::collection::vec(("[a-z0-9]{1,8}", 0u32..5), 0..4),
        prop::collection::btree_map("[a-z]{1,6}", any::<i64>().prop_map(Value::Int), 0..5),
        prop::collection::btree_map("[a-z]{1,6}", 1u64..100, 0..4),
        prop::option::of(any::<i64>()),
        (any::<u64>(), any::<u64>(), prop::option::of(any::<u64>())),
        prop::collection::btree_map("[a-z.]{1,6}", any::<bool>().prop_map(Value::Bool), 0..3),
    )
        .prop_map(
            |(id, customer, cids, uids, attributes, names, seen, (system, sessions, median), system_attributes)| {
                let devices = (0..uids.len())
                    .map(|i| DeviceInfo {
                        first_seen: seen.map(Timestamp),
                        last_seen: seen.map(|s| Timestamp(s.saturating_add(i as i64))),
                        event_count: i as u64,
                        system_attributes: if i == 0 { system_attributes.clone() } else { BTreeMap::new() },
                    })
                    .collect();
                Profile {
                    id: uuid::Uuid::from_u128(id),
                    kind: if customer { ProfileKind::Customer } else { ProfileKind::Anonymous },
                    primary_cid: cids.first().map(|c| Cid::parse(c).unwrap()),
                    cids: cids.iter().map(|c| Cid::parse(c).unwrap()).collect(),
                    uids: uids.into_iter().map(|(u, e)| DeviceRef { uid: Uid::parse(&u).unwrap(), epoch: e }).collect(),
                    attributes,
                    event_count: names.values().sum(),
                    events_by_name: names,
                    first_seen: seen.map(Timestamp),
                    last_seen: seen.map(Timestamp),
                    history: vec![9],
                    system_event_count: system,
                    sessions: SessionsSummary {
                        count: sessions,
                        first_start: seen.map(Timestamp),
                        last_start: seen.map(Timestamp),
                        median_micros: median,
                    },
                    devices,
                }
            },
        )
}

proptest! {
    #[test]
    fn round_trip_keeps_all_but_history(p in profile()) {
        let mut bytes = Vec::new();
        encode_profile_into(&p, &mut bytes).unwrap();
        let back = decode_profile(&bytes).unwrap();
        prop_assert_eq!(&back, &without_history(&p));
        let mut again = Vec::new();
        encode_profile_into(&back, &mut again).unwrap();
        prop_assert_eq!(again, bytes);
    }

    #[test]
    fn a_borrowed_profile_encodes_as_the_owned_one(p in profile()) {
        let (mut owned, mut borrowed) = (Vec::new(), Vec::new());
        encode_profile_into(&p, &mut owned).unwrap();
        let r = p.borrowed();
        encode_profile_ref_into(&r, &mut borrowed).unwrap();
        prop_assert_eq!(&borrowed, &owned);
        prop_assert_eq!(r.to_profile(p.history.clone()), p);
    }

    #[test]
    fn a_borrowed_profile_with_its_maps_out_of_order_is_refused(p in profile()) {
        let mut r = p.borrowed();
        if r.attributes.len() >= 2 {
            let mut bad = r.clone();
            bad.attributes.swap(0, 1);
            let mut buf = vec![7u8];
            prop_assert!(encode_profile_ref_into(&bad, &mut buf).is_err());
            prop_assert_eq!(buf, vec![7u8], "nothing written on error");
        }
        if let Some(&first) = r.events_by_name.first() {
            r.events_by_name.push(first); // a name twice
            prop_assert!(encode_profile_ref_into(&r, &mut Vec::new()).is_err());
        }
    }

    #[test]
    fn hostile_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..512), p in profile(), at in any::<prop::sample::Index>(), x in 1u8..=255) {
        let _ = decode_profile(&bytes);
        let mut good = Vec::new();
        encode_profile_into(&p, &mut good).unwrap();
        let i = at.index(good.len());
        good[i] ^= x;
        if let Ok(q) = decode_profile(&good) {
            let mut re = Vec::new();
            encode_profile_into(&q, &mut re).unwrap();
            prop_assert_eq!(re, good, "accepted bytes must be canonical");
        }
    }
}

#[test]
fn a_profile_at_every_limit_at_once_encodes_within_profile_bytes_max() {
    use idres_model::limits::{
        attribute_bytes, CID_BYTES_MAX, EVENT_NAME_BYTES_MAX, PROFILE_ATTRIBUTE_BYTES_MAX, PROFILE_BYTES_MAX,
        PROFILE_EVENT_NAMES_MAX, PROFILE_WORST_CASE_BYTES, UID_BYTES_MAX, VALUE_KEY_BYTES_MAX, VALUE_STRING_BYTES_MAX,
    };
    let padded = |i: usize, len: usize| format!("{i:08}{}", "x".repeat(len - 8));
    // Attributes: keys of the longest length with strings, filling PROFILE_ATTRIBUTE_BYTES_MAX exactly.
    let mut attributes = Map::new();
    let mut bytes = 0;
    let mut i = 0;
    while bytes < PROFILE_ATTRIBUTE_BYTES_MAX {
        let key = padded(i, VALUE_KEY_BYTES_MAX);
        let room = PROFILE_ATTRIBUTE_BYTES_MAX - bytes - attribute_bytes(&key, &Value::String(String::new()));
        let value = Value::String("v".repeat(room.min(VALUE_STRING_BYTES_MAX)));
        bytes += attribute_bytes(&key, &value);
        attributes.insert(key, value);
        i += 1;
    }
    assert_eq!(bytes, PROFILE_ATTRIBUTE_BYTES_MAX);
    // The fold counts system attributes in the same budget: move every other one to a device.
    let mut devices = vec![
        DeviceInfo {
            first_seen: Some(Timestamp(i64::MIN)),
            last_seen: Some(Timestamp(i64::MAX)),
            event_count: u64::MAX,
            system_attributes: BTreeMap::new(),
        };
        1000
    ];
    let keys: Vec<String> = attributes.keys().step_by(2).cloned().collect();
    for (i, key) in keys.into_iter().enumerate() {
        let value = attributes.remove(&key).unwrap();
        devices[i % 1000].system_attributes.insert(key, value);
    }
    let p = Profile {
        id: uuid::Uuid::from_u128(1),
        kind: ProfileKind::Customer,
        primary_cid: Some(Cid::parse(&padded(0, CID_BYTES_MAX)).unwrap()),
        cids: (0..100).map(|i| Cid::parse(&padded(i, CID_BYTES_MAX)).unwrap()).collect(),
        uids: (0..1000)
            .map(|i| DeviceRef { uid: Uid::parse(&padded(i, UID_BYTES_MAX)).unwrap(), epoch: u32::MAX })
            .collect(),
        attributes,
        event_count: u64::MAX,
        events_by_name: (0..PROFILE_EVENT_NAMES_MAX).map(|i| (padded(i, EVENT_NAME_BYTES_MAX), u64::MAX)).collect(),
        first_seen: Some(Timestamp(i64::MIN)),
        last_seen: Some(Timestamp(i64::MAX)),
        history: Vec::new(),
        system_event_count: u64::MAX,
        sessions: SessionsSummary {
            count: u64::MAX,
            first_start: Some(Timestamp(i64::MIN)),
            last_start: Some(Timestamp(i64::MAX)),
            median_micros: Some(u64::MAX),
        },
        devices,
    };
    let mut buf = Vec::new();
    encode_profile_into(&p, &mut buf).unwrap();
    assert!(buf.len() <= PROFILE_WORST_CASE_BYTES, "{} > {PROFILE_WORST_CASE_BYTES}", buf.len());
    assert!(buf.len() <= PROFILE_BYTES_MAX);
    assert_eq!(decode_profile(&buf).unwrap(), p);
}
