#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
//! `record_view` against the decoder: a view exists exactly for bytes that decode to an
//! identify, reset, attributes, merge, unmerge or unlink record whose shape is valid, and it
//! carries the same fields (its maps' values decode to the record's values, and their
//! encodings are `Value::encoded_len` long). On valid records of every kind, at the shape
//! limits, and on damaged bytes. Also: the borrowed id checks give the owned ones' verdicts.

use idres_model::limits::ATTRIBUTE_KEYS_PER_RECORD_MAX;
use idres_model::{
    decode_entry_with_schema, encode_entry, record_view, BlockedList, Cid, Entry, IdValidator, Map, MapView, Record,
    RecordView, Target, TargetView, Timestamp, Uid, UidView, Value, SCHEMA_VERSION,
};
use proptest::collection::{btree_map, vec};
use proptest::option;
use proptest::prelude::*;

fn arb_uid() -> impl Strategy<Value = Uid> {
    prop_oneof![
        any::<[u8; 16]>().prop_map(Uid::Uuid),
        "[a-zA-Z0-9 _-]{0,24}".prop_map(|s| Uid::from_wire_bytes(s.into_bytes())),
        // Text that parses as a UUID (not canonical), and placeholders.
        "[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-fA-F]{12}"
            .prop_map(|s| Uid::from_wire_bytes(s.into_bytes())),
        prop_oneof![Just("null"), Just("'NULL'"), Just(" id"), Just("0")]
            .prop_map(|s| Uid::from_wire_bytes(s.as_bytes())),
        vec(any::<u8>(), 0..40).prop_map(Uid::from_wire_bytes),
    ]
}

fn arb_cid() -> impl Strategy<Value = Cid> {
    prop_oneof![
        "[a-z@.]{0,20}".prop_map(|s| Cid::from_wire_bytes(s.into_bytes())),
        prop_oneof![Just("null"), Just("\"none\""), Just("a\tb"), Just("x ")]
            .prop_map(|s| Cid::from_wire_bytes(s.as_bytes())),
        vec(any::<u8>(), 0..20).prop_map(Cid::from_wire_bytes),
    ]
}

fn arb_target() -> impl Strategy<Value = Target> {
    prop_oneof![arb_uid().prop_map(Target::Uid), arb_cid().prop_map(Target::Cid)]
}

fn arb_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::Int),
        any::<f64>().prop_filter("finite", |f| f.is_finite()).prop_map(Value::Float),
        "\\PC{0,12}".prop_map(Value::String),
    ];
    leaf.prop_recursive(20, 64, 4, |inner| {
        prop_oneof![
            vec(inner.clone(), 0..4).prop_map(Value::List),
            btree_map("\\PC{0,6}", inner, 0..4).prop_map(Value::Map),
        ]
    })
}

/// Maps near the shape rules: empty keys (refused at the top level only), and now and then
/// more keys than one record may carry.
fn arb_map() -> impl Strategy<Value = Map> {
    prop_oneof![
        8 => btree_map("[a-z]{0,4}", arb_value(), 0..5),
        1 => btree_map("[a-z]{3,6}", Just(Value::Null), 120..140),
    ]
}

fn arb_keys() -> impl Strategy<Value = Vec<String>> {
    prop_oneof![8 => vec("[a-z]{0,4}", 0..4), 1 => vec("[a-z]{1,4}", 100..140)]
}

fn arb_ts() -> impl Strategy<Value = Option<Timestamp>> {
    option::of(any::<i64>().prop_map(Timestamp))
}

fn arb_entry() -> impl Strategy<Value = Entry> {
    let record = prop_oneof![
        4 => (option::of(arb_uid()), arb_cid(), arb_map(), arb_ts(), option::of("[a-z0-9-]{0,12}|\\PC{0,4}"))
            .prop_map(|(uid, cid, attrs, ts, message_id)| Record::Identify { uid, cid, attrs, ts, message_id }),
        2 => (arb_uid(), arb_ts()).prop_map(|(uid, ts)| Record::Reset { uid, ts }),
        3 => (arb_target(), arb_map(), arb_map(), arb_keys(), arb_ts(), any::<bool>(), option::of("[a-z0-9-]{0,12}|\\PC{0,4}"))
            .prop_map(|(target, set, set_once, unset, ts, system, message_id)| {
                Record::Attributes { target, set, set_once, unset, ts, system, message_id }
            }),
        1 => (arb_cid(), arb_cid()).prop_map(|(from, into)| Record::Merge { from, into }),
        1 => arb_cid().prop_map(|cid| Record::Unmerge { cid }),
        1 => (arb_uid(), arb_cid()).prop_map(|(uid, cid)| Record::Unlink { uid, cid }),
        1 => (arb_target(), "[a-z]{1,8}").prop_map(|(target, name)| Record::Event {
            target,
            name,
            props: Map::new(),
            session_id: None,
            ts: None, system: false, message_id: None
        }),
    ];
    (any::<i64>(), record).prop_map(|(at, record)| Entry { appended_at: Timestamp(at), record })
}

fn same_map(view: MapView<'_>, map: &Map) -> Result<(), TestCaseError> {
    prop_assert_eq!(view.len(), map.len());
    prop_assert_eq!(view.is_empty(), map.is_empty());
    let entries: Vec<_> = view.iter().collect();
    prop_assert_eq!(entries.len(), map.len());
    for ((vk, vv), (k, v)) in entries.iter().zip(map) {
        prop_assert_eq!(*vk, k.as_str());
        prop_assert_eq!(&vv.to_value().unwrap(), v);
        prop_assert_eq!(vv.encoded().len(), v.encoded_len());
    }
    Ok(())
}

fn same_target(view: TargetView<'_>, target: &Target) -> bool {
    match (view, target) {
        (TargetView::Uuid(a), Target::Uid(Uid::Uuid(b))) => a == b,
        (TargetView::UidText(a), Target::Uid(Uid::Text(b))) => a == &b[..],
        (TargetView::Cid(a), Target::Cid(b)) => a == b.as_bytes(),
        _ => false,
    }
}

/// The contract: `record_view` is `Some` iff the bytes decode to a shape-valid record other
/// than an event, with equal fields.
fn check(bytes: &[u8]) -> Result<(), TestCaseError> {
    let view = record_view(SCHEMA_VERSION, bytes);
    let decoded = decode_entry_with_schema(SCHEMA_VERSION, bytes);
    let valid = match &decoded {
        Ok(e) => !matches!(e.record, Record::Event { .. }) && e.record.validate_shape().is_ok(),
        Err(_) => false,
    };
    prop_assert_eq!(view.is_some(), valid, "view {:?} for {:?}", view, decoded);
    let (Some(v), Ok(entry)) = (view, decoded) else { return Ok(()) };
    prop_assert_eq!(v.appended_at, entry.appended_at);
    prop_assert_eq!(v.effective_ts(), entry.effective_ts());
    prop_assert_eq!(v.record.kind(), entry.record.kind());
    prop_assert_eq!(v.record.ts(), entry.record.ts());
    match (v.record, &entry.record) {
        (
            RecordView::Identify { uid: vu, cid: vc, attrs: va, ts: vt, message_id: vm },
            Record::Identify { uid, cid, attrs, ts, message_id },
        ) => {
            prop_assert_eq!(vm, message_id.as_deref());
            prop_assert_eq!(vu, uid.as_ref().map(Uid::view));
            prop_assert_eq!(vc, cid.as_bytes());
            prop_assert_eq!(vt, *ts);
            same_map(va, attrs)?;
        }
        (RecordView::Reset { uid: vu, ts: vt }, Record::Reset { uid, ts }) => {
            prop_assert_eq!(vu, uid.view());
            prop_assert_eq!(vt, *ts);
        }
        (
            RecordView::Attributes {
                target: vtg,
                set: vs,
                set_once: vo,
                unset: vn,
                ts: vt,
                system: vy,
                message_id: vm,
            },
            Record::Attributes { target, set, set_once, unset, ts, system, message_id },
        ) => {
            prop_assert_eq!(vy, *system);
            prop_assert_eq!(vm, message_id.as_deref());
            prop_assert!(same_target(vtg, target), "{:?} vs {:?}", vtg, target);
            same_map(vs, set)?;
            same_map(vo, set_once)?;
            prop_assert_eq!(vn.len(), unset.len());
            prop_assert_eq!(vn.is_empty(), unset.is_empty());
            prop_assert_eq!(vn.iter().collect::<Vec<_>>(), unset.iter().map(String::as_str).collect::<Vec<_>>());
            prop_assert_eq!(vt, *ts);
        }
        (RecordView::Merge { from: vf, into: vi }, Record::Merge { from, into }) => {
            prop_assert_eq!((vf, vi), (from.as_bytes(), into.as_bytes()));
        }
        (RecordView::Unmerge { cid: vc }, Record::Unmerge { cid }) => prop_assert_eq!(vc, cid.as_bytes()),
        (RecordView::Unlink { uid: vu, cid: vc }, Record::Unlink { uid, cid }) => {
            prop_assert_eq!(vu, uid.view());
            prop_assert_eq!(vc, cid.as_bytes());
        }
        (v, r) => prop_assert!(false, "view {:?} of record {:?}", v, r),
    }
    Ok(())
}

/// The borrowed id checks give the owned ones' verdicts, errors and canonical forms.
fn same_id_verdicts(uid: &Uid, cid: &Cid) -> Result<(), TestCaseError> {
    let mut blocked = BlockedList::default();
    blocked.extend(["web-1"], ["Ab"]);
    for validator in [IdValidator::default(), IdValidator::new(blocked), IdValidator::new(BlockedList::empty())] {
        let owned = validator.check_uid(uid);
        let viewed = validator.check_uid_view(uid.view()).map(UidView::to_uid);
        prop_assert_eq!(&viewed, &owned);
        let cow = validator.check_uid_cow(uid).map(std::borrow::Cow::into_owned);
        prop_assert_eq!(cow, owned);
        prop_assert_eq!(validator.check_cid_bytes(cid.as_bytes()), validator.check_cid(cid));
    }
    prop_assert_eq!(uid.view().canonical().map(UidView::to_uid), uid.canonical());
    prop_assert_eq!(uid.view().to_string(), uid.to_string());
    prop_assert_eq!(uid.view().to_uid(), uid.clone());
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn view_agrees_with_the_decoder(entry in arb_entry()) {
        check(&encode_entry(&entry).unwrap())?;
    }

    #[test]
    fn view_agrees_with_the_decoder_on_damaged_bytes(
        entry in arb_entry(),
        flips in vec((any::<usize>(), 1..=255u8), 1..4),
        cut in option::of(any::<usize>()),
    ) {
        let mut bytes = encode_entry(&entry).unwrap();
        for (at, mask) in flips {
            let len = bytes.len();
            bytes[at % len] ^= mask;
        }
        if let Some(cut) = cut {
            let len = bytes.len();
            bytes.truncate(cut % (len + 1));
        }
        check(&bytes)?;
    }

    #[test]
    fn borrowed_id_checks_are_the_owned_ones(uid in arb_uid(), cid in arb_cid()) {
        same_id_verdicts(&uid, &cid)?;
    }
}

fn entry(record: Record) -> Vec<u8> {
    encode_entry(&Entry { appended_at: Timestamp(5), record }).unwrap()
}

#[test]
fn another_schema_trailing_bytes_and_events_have_no_view() {
    let bytes = entry(Record::Reset { uid: Uid::Uuid([7; 16]), ts: Some(Timestamp(9)) });
    let v = record_view(SCHEMA_VERSION, &bytes).unwrap();
    assert_eq!(v.record, RecordView::Reset { uid: UidView::Uuid([7; 16]), ts: Some(Timestamp(9)) });
    assert_eq!(v.effective_ts(), Timestamp(5));
    assert!(record_view(SCHEMA_VERSION + 1, &bytes).is_none());
    let mut longer = bytes.clone();
    longer.push(0);
    assert!(record_view(SCHEMA_VERSION, &longer).is_none(), "trailing bytes");
    let event = entry(Record::Event {
        target: Target::Uid(Uid::Uuid([7; 16])),
        name: "page_view".into(),
        props: Map::new(),
        session_id: None,
        ts: None,
        system: false,
        message_id: None,
    });
    assert!(record_view(SCHEMA_VERSION, &event).is_none(), "events have event_view");
}

#[test]
fn attribute_keys_per_record_are_held_at_the_limit() {
    let keys = |n: usize, prefix: &str| (0..n).map(|i| (format!("{prefix}{i:04}"), Value::Int(1))).collect::<Map>();
    let identify = |n| Record::Identify {
        uid: None,
        cid: Cid::parse("c").unwrap(),
        attrs: keys(n, "k"),
        ts: None,
        message_id: None,
    };
    assert!(record_view(SCHEMA_VERSION, &entry(identify(ATTRIBUTE_KEYS_PER_RECORD_MAX))).is_some());
    assert!(record_view(SCHEMA_VERSION, &entry(identify(ATTRIBUTE_KEYS_PER_RECORD_MAX + 1))).is_none());
    // set + set_once + unset together.
    let attributes = |unset: usize| Record::Attributes {
        target: Target::Cid(Cid::parse("c").unwrap()),
        set: keys(100, "s"),
        set_once: keys(100, "o"),
        unset: (0..unset).map(|i| format!("u{i}")).collect(),
        ts: None,
        system: false,
        message_id: None,
    };
    let most = ATTRIBUTE_KEYS_PER_RECORD_MAX - 200;
    assert!(record_view(SCHEMA_VERSION, &entry(attributes(most))).is_some());
    assert!(record_view(SCHEMA_VERSION, &entry(attributes(most + 1))).is_none());
    // An empty key anywhere at the top level is a shape error; nested, it is not.
    let mut nested = Map::new();
    nested.insert(String::new(), Value::Null);
    let mut attrs = Map::new();
    attrs.insert("a".into(), Value::Map(nested));
    let ok =
        Record::Identify { uid: None, cid: Cid::parse("c").unwrap(), attrs: attrs.clone(), ts: None, message_id: None };
    assert!(record_view(SCHEMA_VERSION, &entry(ok)).is_some());
    attrs.insert(String::new(), Value::Null);
    let empty_key = Record::Identify { uid: None, cid: Cid::parse("c").unwrap(), attrs, ts: None, message_id: None };
    assert!(record_view(SCHEMA_VERSION, &entry(empty_key)).is_none());
    let empty_unset = Record::Attributes {
        target: Target::Cid(Cid::parse("c").unwrap()),
        set: Map::new(),
        set_once: Map::new(),
        unset: vec![String::new()],
        ts: None,
        system: false,
        message_id: None,
    };
    assert!(record_view(SCHEMA_VERSION, &entry(empty_unset)).is_none());
}
