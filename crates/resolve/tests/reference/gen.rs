//! Generators of small, collision-rich logs over a tiny alphabet of ids, shared by the model and
//! property tests.

use idres_model::{Cid, Entry, Map, Record, Target, Timestamp, Uid, Value};
use idres_resolve::{Config, OnCidConflict};
use proptest::prelude::*;

pub(crate) const UUID_UPPER: &str = "6BA7B810-9DAD-11D1-80B4-00C04FD430C8";
pub(crate) const UUID_BRACED: &str = "{6ba7b810-9dad-11d1-80b4-00c04fd430c8}";
pub(crate) const UUID_CANONICAL: &str = "6ba7b810-9dad-11d1-80b4-00c04fd430c8";

/// An id as a log may hold it: unvalidated, not canonicalised.
pub(crate) fn uid(s: &str) -> Uid {
    Uid::from_wire_bytes(s.as_bytes().to_vec())
}

/// A cid as a log may hold it: unvalidated.
pub(crate) fn cid(s: &str) -> Cid {
    Cid::from_wire_bytes(s.as_bytes().to_vec())
}

fn uuid_form() -> Uid {
    Uid::from_uuid(uuid::Uuid::parse_str(UUID_CANONICAL).unwrap())
}

/// A text uid of exactly 16 bytes (the most the fold's uid table holds in a row) and one of 17
/// (the fewest it keeps in its arena).
const UID_16: &str = "sixteen-bytes-16";
const UID_17: &str = "seventeen-bytes17";

/// Every uid the generators use: five texts (`0d` sorts before the UUID as text, after it as
/// `Uid`; two of 16 and 17 bytes), one UUID in three forms, a blocked one and a malformed one.
pub(crate) fn uid_alphabet() -> Vec<Uid> {
    vec![
        uid("A"),
        uid("B"),
        uid("0d"),
        uid(UID_16),
        uid(UID_17),
        uid(UUID_UPPER),
        uid(UUID_BRACED),
        uuid_form(),
        uid("null"),
        uid(" x"),
    ]
}

/// Every cid the generators use: three plain ones, `A` and the canonical UUID text (self-links
/// with uids `A` and the UUID), a blocked one and a malformed one.
pub(crate) fn cid_alphabet() -> Vec<Cid> {
    vec![cid("c1"), cid("c2"), cid("c3"), cid("A"), cid(UUID_CANONICAL), cid("null"), cid(" x")]
}

pub(crate) fn arb_uid() -> impl Strategy<Value = Uid> {
    prop_oneof![
        3 => Just(uid("A")),
        3 => Just(uid("B")),
        2 => Just(uid("0d")),
        1 => Just(uid(UID_16)),
        1 => Just(uid(UID_17)),
        1 => Just(uid(UUID_UPPER)),
        1 => Just(uid(UUID_BRACED)),
        1 => Just(uuid_form()),
        1 => Just(uid("null")),
        1 => Just(uid(" x")),
    ]
}

pub(crate) fn arb_cid() -> impl Strategy<Value = Cid> {
    prop_oneof![
        4 => Just(cid("c1")),
        4 => Just(cid("c2")),
        3 => Just(cid("c3")),
        1 => Just(cid("A")),
        1 => Just(cid(UUID_CANONICAL)),
        1 => Just(cid("null")),
        1 => Just(cid(" x")),
    ]
}

/// A good cid only (for operator records that should mostly find their target).
pub(crate) fn arb_good_cid() -> impl Strategy<Value = Cid> {
    prop_oneof![4 => Just(cid("c1")), 4 => Just(cid("c2")), 3 => Just(cid("c3")), 1 => Just(cid("A"))]
}

fn arb_target() -> impl Strategy<Value = Target> {
    prop_oneof![3 => arb_uid().prop_map(Target::Uid), 2 => arb_cid().prop_map(Target::Cid)]
}

fn arb_ts() -> impl Strategy<Value = Option<Timestamp>> {
    prop_oneof![1 => Just(None), 3 => (0i64..12).prop_map(|t| Some(Timestamp(1000 + t)))]
}

/// Attribute keys; the empty key (rare) makes the record's shape invalid.
fn arb_key() -> impl Strategy<Value = String> {
    prop_oneof![
        10 => Just("k1".to_owned()),
        10 => Just("k2".to_owned()),
        6 => Just("k3".to_owned()),
        1 => Just(String::new()),
    ]
}

fn arb_good_key() -> impl Strategy<Value = String> {
    prop_oneof![Just("k1".to_owned()), Just("k2".to_owned()), Just("k3".to_owned())]
}

fn arb_map() -> impl Strategy<Value = Map> {
    prop::collection::btree_map(arb_key(), (0i64..3).prop_map(Value::Int), 0..=2)
}

fn arb_good_map() -> impl Strategy<Value = Map> {
    prop::collection::btree_map(arb_good_key(), (0i64..3).prop_map(Value::Int), 0..=2)
}

fn arb_name() -> impl Strategy<Value = String> {
    prop_oneof![
        10 => Just("e1".to_owned()),
        10 => Just("e2".to_owned()),
        5 => Just("e3".to_owned()),
        1 => Just(String::new()),
    ]
}

/// Mostly none; else one of three ids (so that resends happen), or an empty one (a bad shape).
pub(crate) fn arb_message_id() -> impl Strategy<Value = Option<String>> {
    prop_oneof![
        6 => Just(None),
        3 => (0u8..3).prop_map(|i| Some(format!("m{i}"))),
        1 => Just(Some(String::new())),
    ]
}

/// Mostly none; else one of two session ids, or an empty one (a bad shape).
pub(crate) fn arb_session_id() -> impl Strategy<Value = Option<String>> {
    prop_oneof![
        6 => Just(None),
        4 => (0u8..2).prop_map(|i| Some(format!("s{i}"))),
        1 => Just(Some(String::new())),
    ]
}

/// One record of any of the seven kinds.
pub(crate) fn arb_record() -> impl Strategy<Value = Record> {
    prop_oneof![
        6 => (prop::option::weighted(0.85, arb_uid()), arb_cid(), arb_good_map(), arb_ts(), arb_message_id())
            .prop_map(|(uid, cid, attrs, ts, message_id)| Record::Identify { uid, cid, attrs, ts, message_id }),
        2 => (arb_uid(), arb_ts()).prop_map(|(uid, ts)| Record::Reset { uid, ts }),
        4 => (arb_target(), arb_name(), arb_ts(), arb_message_id(), arb_session_id(), prop::bool::weighted(0.2))
            .prop_map(|(target, name, ts, message_id, session_id, system)| Record::Event {
                target,
                name,
                props: Map::new(),
                session_id,
                ts,
                system,
                message_id,
            }),
        4 => (
            arb_target(),
            arb_map(),
            arb_map(),
            prop::collection::vec(arb_key(), 0..=2),
            arb_ts(),
            arb_message_id(),
            prop::bool::weighted(0.25)
        )
            .prop_map(|(target, set, set_once, unset, ts, message_id, system)| Record::Attributes {
                target,
                set,
                set_once,
                unset,
                ts,
                system,
                message_id
            }),
        3 => (arb_cid(), arb_cid()).prop_map(|(from, into)| Record::Merge { from, into }),
        2 => arb_cid().prop_map(|cid| Record::Unmerge { cid }),
        2 => (arb_uid(), arb_cid()).prop_map(|(uid, cid)| Record::Unlink { uid, cid }),
    ]
}

/// Stamps records with `appended_at` that starts at 1000 and moves by -1..=2 per record (a clock
/// that sometimes steps back).
pub(crate) fn arb_entries(len: std::ops::Range<usize>) -> impl Strategy<Value = Vec<Entry>> {
    prop::collection::vec((arb_record(), prop_oneof![1 => Just(-1i64), 8 => 0i64..3]), len).prop_map(|records| {
        let mut at = 1000;
        records
            .into_iter()
            .map(|(record, step)| {
                at += step;
                Entry { appended_at: Timestamp(at), record }
            })
            .collect()
    })
}

/// Small limits, either conflict policy, and a dedupe window of a few µs (0: off) holding at
/// most 1..=3 ids, so that ids leave it by time and by count; a session gap of a few µs (0: off),
/// so that events a few µs apart fall into one inferred session or several.
pub(crate) fn arb_config() -> impl Strategy<Value = Config> {
    (2u32..=3, 2u32..=3, any::<bool>(), 0i64..=6, 1u32..=3, 0i64..=4).prop_map(
        |(devices, customers, reject, window, ids, gap)| Config {
            max_devices_per_profile: devices,
            max_customers_per_profile: customers,
            on_cid_conflict: if reject { OnCidConflict::Reject } else { OnCidConflict::ImplicitReset },
            dedupe_window_us: window,
            dedupe_ids_max: ids,
            session_gap_us: gap,
            ..Config::default()
        },
    )
}

/// The number of cases: `PROPTEST_CASES` if set, else `default`.
pub(crate) fn cases(default: u32) -> u32 {
    std::env::var("PROPTEST_CASES").ok().and_then(|s| s.parse().ok()).unwrap_or(default)
}
