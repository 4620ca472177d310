#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
//! `event_view` against the decoder: a view exists exactly for bytes that decode to an event
//! whose shape is valid, and it carries the same fields. On valid records, on every record kind,
//! and on mutated bytes.

use idres_model::{
    decode_entry_with_schema, encode_entry, event_view, Cid, Entry, Map, Record, Target, TargetView, Timestamp, Uid,
    Value, SCHEMA_VERSION,
};
use proptest::collection::{btree_map, vec};
use proptest::option;
use proptest::prelude::*;

fn arb_uid() -> impl Strategy<Value = Uid> {
    prop_oneof![
        any::<[u8; 16]>().prop_map(Uid::Uuid),
        "[a-zA-Z0-9 _-]{0,24}".prop_map(|s| Uid::from_wire_bytes(s.into_bytes())),
        vec(any::<u8>(), 0..40).prop_map(Uid::from_wire_bytes),
    ]
}

fn arb_target() -> impl Strategy<Value = Target> {
    prop_oneof![
        arb_uid().prop_map(Target::Uid),
        "[a-z@.]{0,20}".prop_map(|s| Target::Cid(Cid::from_wire_bytes(s.into_bytes())))
    ]
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

fn arb_map() -> impl Strategy<Value = Map> {
    // Empty keys included: the shape rule refuses them at the top level only.
    btree_map("[a-z]{0,4}", arb_value(), 0..5)
}

/// Names and session ids near the shape rules: empty, control characters, long.
fn arb_text() -> impl Strategy<Value = String> {
    prop_oneof![
        "[a-z_]{1,20}",
        Just(String::new()),
        "[a-z]{0,5}[\\x00-\\x1f\\x7f][a-z]{0,5}",
        "[a-z]{120,140}",
        "\\PC{0,20}",
    ]
}

fn arb_entry() -> impl Strategy<Value = Entry> {
    let event = (arb_target(), arb_text(), arb_map(), option::of(arb_text()), option::of(any::<i64>())).prop_map(
        |(target, name, props, session_id, ts)| Record::Event {
            target,
            name,
            props,
            session_id,
            ts: ts.map(Timestamp),
        },
    );
    let other = prop_oneof![
        (arb_uid(), option::of(any::<i64>())).prop_map(|(uid, ts)| Record::Reset { uid, ts: ts.map(Timestamp) }),
        (arb_target(), arb_map()).prop_map(|(target, set)| Record::Attributes {
            target,
            set,
            set_once: Map::new(),
            unset: Vec::new(),
            ts: None
        }),
    ];
    (any::<i64>(), prop_oneof![4 => event, 1 => other])
        .prop_map(|(at, record)| Entry { appended_at: Timestamp(at), record })
}

/// The contract: `event_view` is `Some` iff the bytes decode to a shape-valid event, with equal
/// fields.
fn check(bytes: &[u8]) -> Result<(), TestCaseError> {
    let view = event_view(SCHEMA_VERSION, bytes);
    let decoded = decode_entry_with_schema(SCHEMA_VERSION, bytes);
    let valid_event = match &decoded {
        Ok(e) => matches!(e.record, Record::Event { .. }) && e.record.validate_shape().is_ok(),
        Err(_) => false,
    };
    prop_assert_eq!(view.is_some(), valid_event, "view {:?} for {:?}", view, decoded);
    if let (Some(v), Ok(entry)) = (view, decoded) {
        let Record::Event { target, name, ts, .. } = &entry.record else { unreachable!() };
        prop_assert_eq!(v.appended_at, entry.appended_at);
        prop_assert_eq!(v.name, name.as_str());
        prop_assert_eq!(v.ts, *ts);
        prop_assert_eq!(v.effective_ts(), entry.effective_ts());
        let same_target = match (v.target, target) {
            (TargetView::Uuid(a), Target::Uid(Uid::Uuid(b))) => a == b,
            (TargetView::UidText(a), Target::Uid(Uid::Text(b))) => a == &b[..],
            (TargetView::Cid(a), Target::Cid(b)) => a == b.as_bytes(),
            _ => false,
        };
        prop_assert!(same_target, "{:?} vs {:?}", v.target, target);
    }
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
}

#[test]
fn another_schema_has_no_view() {
    let entry = Entry {
        appended_at: Timestamp(5),
        record: Record::Event {
            target: Target::Uid(Uid::Uuid([7; 16])),
            name: "page_view".into(),
            props: Map::new(),
            session_id: None,
            ts: Some(Timestamp(9)),
        },
    };
    let bytes = encode_entry(&entry).unwrap();
    let v = event_view(SCHEMA_VERSION, &bytes).unwrap();
    assert_eq!((v.name, v.effective_ts()), ("page_view", Timestamp(5)));
    assert!(event_view(SCHEMA_VERSION + 1, &bytes).is_none());
    let mut longer = bytes.clone();
    longer.push(0);
    assert!(event_view(SCHEMA_VERSION, &longer).is_none(), "trailing bytes");
}
