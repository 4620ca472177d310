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
    let event = (
        arb_target(),
        arb_text(),
        arb_map(),
        option::of(arb_text()),
        option::of(any::<i64>()),
        any::<bool>(),
        option::of(arb_text()),
    )
        .prop_map(|(target, name, props, session_id, ts, system, message_id)| Record::Event {
            target,
            name,
            props,
            session_id,
            ts: ts.map(Timestamp),
            system,
            message_id,
        });
    let other = prop_oneof![
        (arb_uid(), option::of(any::<i64>())).prop_map(|(uid, ts)| Record::Reset { uid, ts: ts.map(Timestamp) }),
        (arb_target(), arb_map()).prop_map(|(target, set)| Record::Attributes {
            target,
            set,
            set_once: Map::new(),
            unset: Vec::new(),
            ts: None,
            system: false,
            message_id: None
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
        let Record::Event { target, name, ts, system, message_id, session_id, .. } = &entry.record else {
            unreachable!()
        };
        prop_assert_eq!(v.session_id, session_id.as_deref());
        prop_assert_eq!(v.system, *system);
        prop_assert_eq!(v.message_id, message_id.as_deref());
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
            system: false,
            message_id: None,
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

/// Raw bytes of an event (appended_at 1, UUID target, no session, no ts) whose props are
/// written by `props`: the encoder refuses over-limit values, so these are built by hand, in the
/// layout docs/FORMAT.md gives.
fn raw_event(name: &[u8], props: impl FnOnce(&mut Vec<u8>)) -> Vec<u8> {
    let mut b = Vec::new();
    b.extend_from_slice(&1i64.to_le_bytes());
    b.push(3); // event
    b.extend_from_slice(&[0, 0]); // target uid, UUID form
    b.extend_from_slice(&[7; 16]);
    b.extend_from_slice(&(name.len() as u64).to_le_bytes());
    b.extend_from_slice(name);
    props(&mut b);
    b.extend_from_slice(&[0, 0, 0, 0]); // no session id, no ts, not system, no message id
    b
}

fn len(b: &mut Vec<u8>, n: usize) {
    b.extend_from_slice(&(n as u64).to_le_bytes());
}

fn key(b: &mut Vec<u8>, k: &[u8]) {
    len(b, k.len());
    b.extend_from_slice(k);
}

/// One prop `k` whose value is written by `value`.
fn one_prop(value: impl FnOnce(&mut Vec<u8>)) -> impl FnOnce(&mut Vec<u8>) {
    move |b| {
        len(b, 1);
        key(b, b"k");
        value(b);
    }
}

/// `n` props, keys in order, each null.
fn null_props(n: usize) -> impl FnOnce(&mut Vec<u8>) {
    move |b| {
        len(b, n);
        for i in 0..n {
            key(b, format!("k{i:05}").as_bytes());
            b.push(0);
        }
    }
}

/// Props with exactly these keys, in the order given, each null.
fn null_keys(keys: &[&[u8]]) -> impl FnOnce(&mut Vec<u8>) {
    let keys: Vec<Vec<u8>> = keys.iter().map(|k| k.to_vec()).collect();
    move |b| {
        len(b, keys.len());
        for k in &keys {
            key(b, k);
            b.push(0);
        }
    }
}

/// `depth` lists nested in each other, the innermost empty.
fn nested_lists(depth: usize) -> impl FnOnce(&mut Vec<u8>) {
    move |b| {
        for i in 0..depth {
            b.push(5);
            len(b, usize::from(i + 1 < depth));
        }
    }
}

#[test]
fn the_view_holds_every_limit_exactly() {
    use idres_model::limits::{
        EVENT_NAME_BYTES_MAX, VALUE_DEPTH_MAX, VALUE_ENTRIES_MAX, VALUE_KEY_BYTES_MAX, VALUE_STRING_BYTES_MAX,
    };
    let cases: Vec<(&str, Vec<u8>, bool)> = vec![
        ("plain", raw_event(b"view", |b| len(b, 0)), true),
        ("name at the limit", raw_event(&[b'n'; EVENT_NAME_BYTES_MAX], |b| len(b, 0)), true),
        ("name past the limit", raw_event(&[b'n'; EVENT_NAME_BYTES_MAX + 1], |b| len(b, 0)), false),
        ("empty name", raw_event(b"", |b| len(b, 0)), false),
        ("control character in the name", raw_event(b"a\x07b", |b| len(b, 0)), false),
        ("depth at the limit", raw_event(b"e", one_prop(nested_lists(VALUE_DEPTH_MAX))), true),
        ("depth past the limit", raw_event(b"e", one_prop(nested_lists(VALUE_DEPTH_MAX + 1))), false),
        ("entries at the limit", raw_event(b"e", null_props(VALUE_ENTRIES_MAX)), true),
        ("entries past the limit", raw_event(b"e", null_props(VALUE_ENTRIES_MAX + 1)), false),
        (
            "list entries past the limit",
            raw_event(
                b"e",
                one_prop(|b| {
                    b.push(5);
                    len(b, VALUE_ENTRIES_MAX + 1);
                    b.extend(std::iter::repeat_n(0u8, VALUE_ENTRIES_MAX + 1));
                }),
            ),
            false,
        ),
        ("key at the limit", raw_event(b"e", null_keys(&[&[b'k'; VALUE_KEY_BYTES_MAX]])), true),
        ("key past the limit", raw_event(b"e", null_keys(&[&[b'k'; VALUE_KEY_BYTES_MAX + 1]])), false),
        ("empty top-level key", raw_event(b"e", null_keys(&[b""])), false),
        ("keys out of order", raw_event(b"e", null_keys(&[b"b", b"a"])), false),
        (
            "string at the limit",
            raw_event(
                b"e",
                one_prop(|b| {
                    b.push(4);
                    key(b, &vec![b's'; VALUE_STRING_BYTES_MAX]);
                }),
            ),
            true,
        ),
        (
            "string past the limit",
            raw_event(
                b"e",
                one_prop(|b| {
                    b.push(4);
                    key(b, &vec![b's'; VALUE_STRING_BYTES_MAX + 1]);
                }),
            ),
            false,
        ),
        ("boolean byte 2", raw_event(b"e", one_prop(|b| b.extend_from_slice(&[1, 2]))), false),
        (
            "NaN",
            raw_event(
                b"e",
                one_prop(|b| {
                    b.push(3);
                    b.extend_from_slice(&f64::NAN.to_le_bytes());
                }),
            ),
            false,
        ),
        (
            "a length past the record limit",
            raw_event(
                b"e",
                one_prop(|b| {
                    b.push(4);
                    len(b, idres_model::limits::RECORD_BYTES_MAX + 1);
                }),
            ),
            false,
        ),
        (
            "string not UTF-8",
            raw_event(
                b"e",
                one_prop(|b| {
                    b.push(4);
                    key(b, &[0xff, 0xfe]);
                }),
            ),
            false,
        ),
    ];
    for (what, bytes, valid) in cases {
        assert_eq!(event_view(SCHEMA_VERSION, &bytes).is_some(), valid, "{what}");
        check(&bytes).unwrap_or_else(|e| panic!("{what}: {e}"));
    }
}
