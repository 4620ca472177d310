#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
//! Properties of the codec: round trips of every record kind, canonical bytes, and hostile
//! input (random, mutated, crafted lengths, deep nesting) that must fail cleanly.

use idres_model::codec::tag;
use idres_model::limits::{RECORD_BYTES_MAX, VALUE_DEPTH_MAX, VALUE_ENTRIES_MAX};
use idres_model::{
    decode_entry, decode_entry_with_schema, encode_entry, encode_entry_into, Cid, CodecError, Entry, Map, Record,
    Target, Timestamp, Uid, Value, SCHEMA_VERSION, SCHEMA_VERSION_OLDEST,
};
use proptest::collection::{btree_map, vec};
use proptest::option;
use proptest::prelude::*;

// ---------------------------------------------------------------------------------------------
// Strategies

fn arb_uid() -> impl Strategy<Value = Uid> {
    prop_oneof![
        any::<[u8; 16]>().prop_map(Uid::Uuid),
        "[a-zA-Z0-9 _-]{0,24}".prop_map(|s| Uid::from_wire_bytes(s.into_bytes())),
        // Anything a log written elsewhere could hold, malformed included.
        vec(any::<u8>(), 0..40).prop_map(Uid::from_wire_bytes),
        "\\PC{0,12}".prop_map(|s| Uid::from_wire_bytes(s.into_bytes())),
    ]
}

fn arb_cid() -> impl Strategy<Value = Cid> {
    prop_oneof![
        "[a-zA-Z0-9@._-]{0,24}".prop_map(|s| Cid::from_wire_bytes(s.into_bytes())),
        vec(any::<u8>(), 0..300).prop_map(Cid::from_wire_bytes),
        "\\PC{0,12}".prop_map(|s| Cid::from_wire_bytes(s.into_bytes())),
    ]
}

fn arb_target() -> impl Strategy<Value = Target> {
    prop_oneof![arb_uid().prop_map(Target::Uid), arb_cid().prop_map(Target::Cid)]
}

fn arb_float() -> impl Strategy<Value = f64> {
    prop_oneof![
        any::<f64>().prop_filter("finite", |f| f.is_finite()),
        Just(0.0),
        Just(-0.0),
        Just(f64::MAX),
        Just(f64::MIN_POSITIVE),
        Just(5e-324),
    ]
}

fn arb_key() -> impl Strategy<Value = String> {
    "\\PC{0,10}"
}

fn arb_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::Int),
        arb_float().prop_map(Value::Float),
        "\\PC{0,20}".prop_map(Value::String),
    ];
    leaf.prop_recursive(6, 64, 6, |inner| {
        prop_oneof![
            vec(inner.clone(), 0..6).prop_map(Value::List),
            btree_map(arb_key(), inner, 0..6).prop_map(Value::Map),
        ]
    })
}

fn arb_map() -> impl Strategy<Value = Map> {
    btree_map(arb_key(), arb_value(), 0..6)
}

fn arb_ts() -> impl Strategy<Value = Option<Timestamp>> {
    option::of(any::<i64>().prop_map(Timestamp))
}

fn arb_record() -> impl Strategy<Value = Record> {
    prop_oneof![
        (option::of(arb_uid()), arb_cid(), arb_map(), arb_ts(), option::of("\\PC{0,20}"))
            .prop_map(|(uid, cid, attrs, ts, message_id)| Record::Identify { uid, cid, attrs, ts, message_id }),
        (arb_uid(), arb_ts()).prop_map(|(uid, ts)| Record::Reset { uid, ts }),
        (
            arb_target(),
            "\\PC{0,30}",
            arb_map(),
            option::of("\\PC{0,20}"),
            arb_ts(),
            any::<bool>(),
            option::of("\\PC{0,20}")
        )
            .prop_map(|(target, name, props, session_id, ts, system, message_id)| Record::Event {
                target,
                name,
                props,
                session_id,
                ts,
                system,
                message_id
            }),
        (arb_target(), arb_map(), arb_map(), vec(arb_key(), 0..5), arb_ts(), any::<bool>(), option::of("\\PC{0,20}"))
            .prop_map(|(target, set, set_once, unset, ts, system, message_id)| Record::Attributes {
                target,
                set,
                set_once,
                unset,
                ts,
                system,
                message_id
            }),
        (arb_cid(), arb_cid()).prop_map(|(from, into)| Record::Merge { from, into }),
        arb_cid().prop_map(|cid| Record::Unmerge { cid }),
        (arb_uid(), arb_cid()).prop_map(|(uid, cid)| Record::Unlink { uid, cid }),
    ]
}

fn arb_entry() -> impl Strategy<Value = Entry> {
    (any::<i64>(), arb_record()).prop_map(|(at, record)| Entry { appended_at: Timestamp(at), record })
}

#[derive(Debug, Clone)]
enum Mutation {
    Flip { at: usize, mask: u8 },
    Insert { at: usize, byte: u8 },
    Delete { at: usize },
    Truncate { at: usize },
}

fn arb_mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        (any::<usize>(), 1..=255u8).prop_map(|(at, mask)| Mutation::Flip { at, mask }),
        (any::<usize>(), any::<u8>()).prop_map(|(at, byte)| Mutation::Insert { at, byte }),
        any::<usize>().prop_map(|at| Mutation::Delete { at }),
        any::<usize>().prop_map(|at| Mutation::Truncate { at }),
    ]
}

fn mutate(bytes: &mut Vec<u8>, mutation: &Mutation) {
    let len = bytes.len();
    match *mutation {
        Mutation::Flip { at, mask } if len > 0 => bytes[at % len] ^= mask,
        Mutation::Insert { at, byte } => bytes.insert(at % (len + 1), byte),
        Mutation::Delete { at } if len > 0 => {
            bytes.remove(at % len);
        }
        Mutation::Truncate { at } => bytes.truncate(at % (len + 1)),
        _ => {}
    }
}

/// Whatever decodes must re-encode to exactly the same bytes: the encoding is canonical.
fn assert_canonical_if_decodes(bytes: &[u8]) -> Result<(), TestCaseError> {
    if let Ok(entry) = decode_entry(bytes) {
        let again = encode_entry(&entry).map_err(|e| TestCaseError::fail(e.to_string()))?;
        prop_assert_eq!(again.as_slice(), bytes);
    }
    Ok(())
}

proptest! {
    #[test]
    fn every_entry_round_trips(entry in arb_entry()) {
        let bytes = encode_entry(&entry).unwrap();
        let decoded = decode_entry(&bytes).unwrap();
        prop_assert_eq!(&decoded, &entry);
        prop_assert_eq!(encode_entry(&decoded).unwrap(), bytes.clone());
        prop_assert_eq!(decode_entry_with_schema(SCHEMA_VERSION, &bytes).unwrap(), entry);
    }

    #[test]
    fn values_round_trip_on_their_own(value in arb_value()) {
        let config = idres_model::codec::CONFIG;
        let bytes = bincode::encode_to_vec(&value, config).unwrap();
        let (decoded, read): (Value, usize) = bincode::decode_from_slice(&bytes, config).unwrap();
        prop_assert_eq!(read, bytes.len());
        prop_assert_eq!(decoded, value);
    }

    #[test]
    fn batches_append_entry_after_entry(entries in vec(arb_entry(), 0..6)) {
        let mut batch = b"prefix".to_vec();
        let mut expected = batch.clone();
        for entry in &entries {
            encode_entry_into(entry, &mut batch).unwrap();
            expected.extend_from_slice(&encode_entry(entry).unwrap());
        }
        prop_assert_eq!(batch, expected);
    }

    #[test]
    fn arbitrary_bytes_never_panic(bytes in vec(any::<u8>(), 0..4096)) {
        assert_canonical_if_decodes(&bytes)?;
    }

    /// Random bytes rarely get past the record tag; these start from a plausible prefix.
    #[test]
    fn arbitrary_bodies_never_panic(
        record_tag in 0u8..9,
        body in vec(any::<u8>(), 0..2048),
    ) {
        let mut bytes = 0_i64.to_le_bytes().to_vec();
        bytes.push(record_tag);
        bytes.extend_from_slice(&body);
        assert_canonical_if_decodes(&bytes)?;
    }

    #[test]
    fn mutated_encodings_never_panic(
        entry in arb_entry(),
        mutations in vec(arb_mutation(), 1..4),
    ) {
        let mut bytes = encode_entry(&entry).unwrap();
        for mutation in &mutations {
            mutate(&mut bytes, mutation);
        }
        assert_canonical_if_decodes(&bytes)?;
    }

    #[test]
    fn unsupported_schemas_are_refused(schema in any::<u16>(), entry in arb_entry()) {
        prop_assume!(!(SCHEMA_VERSION_OLDEST..=SCHEMA_VERSION).contains(&schema));
        let bytes = encode_entry(&entry).unwrap();
        let result = decode_entry_with_schema(schema, &bytes);
        let is_unsupported = matches!(
            result,
            Err(CodecError::UnsupportedSchema { found, supported: 2, oldest: 1 }) if found == schema
        );
        prop_assert!(is_unsupported);
    }
}

// ---------------------------------------------------------------------------------------------
// Crafted hostile input

const AT: [u8; 8] = 0_i64.to_le_bytes();

/// An identify without uid for cid "c", whose attrs map bytes follow.
fn identify_prefix() -> Vec<u8> {
    let mut bytes = AT.to_vec();
    bytes.push(tag::RECORD_IDENTIFY);
    bytes.push(tag::OPTION_NONE);
    bytes.extend_from_slice(&1_u64.to_le_bytes());
    bytes.push(b'c');
    bytes
}

/// An identify whose attrs hold one key "k" and whose value bytes follow.
fn one_attr_prefix() -> Vec<u8> {
    let mut bytes = identify_prefix();
    bytes.extend_from_slice(&1_u64.to_le_bytes());
    bytes.extend_from_slice(&1_u64.to_le_bytes());
    bytes.push(b'k');
    bytes
}

fn decode_error(bytes: &[u8]) -> String {
    match decode_entry(bytes) {
        Err(CodecError::Decode { offset, source }) => {
            assert!(offset <= bytes.len());
            format!("{source:?}")
        }
        other => panic!("expected a decode error, got {other:?}"),
    }
}

#[test]
fn huge_map_count_is_refused_before_allocating() {
    let mut bytes = identify_prefix();
    bytes.extend_from_slice(&u64::MAX.to_le_bytes());
    assert!(decode_error(&bytes).contains("map entries"));
    assert_eq!(
        decode_entry(&bytes).unwrap_err().to_string(),
        format!(
            "cannot decode entry (failed after {} bytes): map entries: length {} over the limit of 1024",
            bytes.len(),
            u64::MAX
        )
    );
}

#[test]
fn huge_lengths_are_refused_before_allocating() {
    let huge = [1_u64 << 40, u64::MAX, (RECORD_BYTES_MAX as u64) + 1];
    for len in huge {
        // A cid.
        let mut bytes = AT.to_vec();
        bytes.push(tag::RECORD_UNMERGE);
        bytes.extend_from_slice(&len.to_le_bytes());
        assert!(decode_entry(&bytes).is_err(), "cid of {len}");

        // A text uid.
        let mut bytes = AT.to_vec();
        bytes.push(tag::RECORD_RESET);
        bytes.push(tag::UID_TEXT);
        bytes.extend_from_slice(&len.to_le_bytes());
        assert!(decode_entry(&bytes).is_err(), "uid of {len}");

        // An event name.
        let mut bytes = AT.to_vec();
        bytes.push(tag::RECORD_EVENT);
        bytes.push(tag::TARGET_CID);
        bytes.extend_from_slice(&1_u64.to_le_bytes());
        bytes.push(b'c');
        bytes.extend_from_slice(&len.to_le_bytes());
        assert!(decode_entry(&bytes).is_err(), "event name of {len}");

        // A string value, a list, a map inside a value.
        for value_tag in [tag::VALUE_STRING, tag::VALUE_LIST, tag::VALUE_MAP] {
            let mut bytes = one_attr_prefix();
            bytes.push(value_tag);
            bytes.extend_from_slice(&len.to_le_bytes());
            assert!(decode_entry(&bytes).is_err(), "tag {value_tag} of {len}");
        }

        // The unset list.
        let mut bytes = AT.to_vec();
        bytes.push(tag::RECORD_ATTRIBUTES);
        bytes.push(tag::TARGET_CID);
        bytes.extend_from_slice(&1_u64.to_le_bytes());
        bytes.push(b'c');
        bytes.extend_from_slice(&0_u64.to_le_bytes());
        bytes.extend_from_slice(&0_u64.to_le_bytes());
        bytes.extend_from_slice(&len.to_le_bytes());
        assert!(decode_entry(&bytes).is_err(), "unset of {len}");
    }
}

#[test]
fn a_claimed_length_just_within_the_limit_still_needs_the_bytes() {
    let mut bytes = AT.to_vec();
    bytes.push(tag::RECORD_UNMERGE);
    bytes.extend_from_slice(&((RECORD_BYTES_MAX as u64) - 100).to_le_bytes());
    bytes.extend_from_slice(b"short");
    assert!(decode_entry(&bytes).is_err());
}

fn nested_lists(depth: usize) -> Vec<u8> {
    let mut bytes = one_attr_prefix();
    for _ in 0..depth {
        bytes.push(tag::VALUE_LIST);
        bytes.extend_from_slice(&1_u64.to_le_bytes());
    }
    bytes.push(tag::VALUE_NULL);
    bytes.push(tag::OPTION_NONE); // ts
    bytes.push(tag::OPTION_NONE); // message id (schema 2)
    bytes
}

#[test]
fn deep_nesting_is_refused_without_overflowing_the_stack() {
    let bytes = nested_lists(100_000);
    assert!(decode_error(&bytes).contains("deeper"));

    // Only tags, no counts: must fail just as cleanly.
    let mut bytes = one_attr_prefix();
    bytes.extend(std::iter::repeat_n(tag::VALUE_LIST, 100_000));
    assert!(decode_entry(&bytes).is_err());
    let mut bytes = one_attr_prefix();
    for _ in 0..50_000 {
        bytes.push(tag::VALUE_MAP);
        bytes.extend_from_slice(&1_u64.to_le_bytes());
        bytes.extend_from_slice(&1_u64.to_le_bytes());
        bytes.push(b'k');
    }
    assert!(decode_entry(&bytes).is_err());
}

#[test]
fn nesting_at_the_depth_limit_decodes() {
    let entry = decode_entry(&nested_lists(VALUE_DEPTH_MAX)).unwrap();
    let Record::Identify { attrs, .. } = &entry.record else {
        panic!("not an identify: {entry:?}");
    };
    assert_eq!(attrs["k"].validate(), Ok(()));
    assert!(decode_entry(&nested_lists(VALUE_DEPTH_MAX + 1)).is_err());
}

#[test]
fn map_keys_must_be_strictly_increasing() {
    let entry_with_keys = |keys: &[&[u8]]| {
        let mut bytes = identify_prefix();
        bytes.extend_from_slice(&(keys.len() as u64).to_le_bytes());
        for key in keys {
            bytes.extend_from_slice(&(key.len() as u64).to_le_bytes());
            bytes.extend_from_slice(key);
            bytes.push(tag::VALUE_NULL);
        }
        bytes.push(tag::OPTION_NONE); // ts
        bytes.push(tag::OPTION_NONE); // message id (schema 2)
        bytes
    };
    assert!(decode_entry(&entry_with_keys(&[b"a", b"b"])).is_ok());
    assert!(decode_error(&entry_with_keys(&[b"a", b"a"])).contains("strictly increasing"));
    assert!(decode_error(&entry_with_keys(&[b"b", b"a"])).contains("strictly increasing"));
    // Byte order, not character order: "Z" (0x5a) < "a" (0x61) < "ä" (0xc3 0xa4).
    assert!(decode_entry(&entry_with_keys(&[b"Z", b"a", "ä".as_bytes()])).is_ok());
}

#[test]
fn non_canonical_scalars_are_refused() {
    // A bool byte other than 0 or 1.
    let mut bytes = one_attr_prefix();
    bytes.extend_from_slice(&[tag::VALUE_BOOL, 2, tag::OPTION_NONE]);
    assert!(decode_entry(&bytes).is_err());
    // An option tag other than 0 or 1.
    let mut bytes = identify_prefix();
    bytes.extend_from_slice(&0_u64.to_le_bytes());
    bytes.push(2);
    assert!(decode_entry(&bytes).is_err());
    // Unknown value and record tags.
    let mut bytes = one_attr_prefix();
    bytes.extend_from_slice(&[7, tag::OPTION_NONE]);
    assert!(decode_entry(&bytes).is_err());
    for record_tag in [0, 8, 255] {
        let mut bytes = AT.to_vec();
        bytes.push(record_tag);
        assert!(decode_entry(&bytes).is_err(), "record tag {record_tag}");
    }
    // Invalid UTF-8 in a value string.
    let mut bytes = one_attr_prefix();
    bytes.push(tag::VALUE_STRING);
    bytes.extend_from_slice(&1_u64.to_le_bytes());
    bytes.extend_from_slice(&[0xff, tag::OPTION_NONE]);
    assert!(decode_entry(&bytes).is_err());
}

#[test]
fn non_finite_floats_are_refused_both_ways() {
    for f in [f64::NAN, f64::INFINITY, f64::NEG_INFINITY] {
        let mut bytes = one_attr_prefix();
        bytes.push(tag::VALUE_FLOAT);
        bytes.extend_from_slice(&f.to_bits().to_le_bytes());
        bytes.push(tag::OPTION_NONE);
        assert!(decode_error(&bytes).contains("finite"));

        let entry = Entry {
            appended_at: Timestamp(0),
            record: Record::Identify {
                uid: None,
                cid: Cid::parse("c").unwrap(),
                attrs: Map::from([("k".to_owned(), Value::List(vec![Value::Float(f)]))]),
                ts: None,
                message_id: None,
            },
        };
        let mut buf = vec![9, 9];
        assert!(matches!(encode_entry_into(&entry, &mut buf), Err(CodecError::Encode { .. })));
        assert_eq!(buf, [9, 9], "a failed encode leaves the buffer as it was");
    }
}

#[test]
fn values_over_the_limits_are_refused_when_encoding() {
    let identify = |value: Value| Entry {
        appended_at: Timestamp(0),
        record: Record::Identify {
            uid: None,
            cid: Cid::parse("c").unwrap(),
            attrs: Map::from([("k".to_owned(), value)]),
            ts: None,
            message_id: None,
        },
    };
    let too_deep = (0..=VALUE_DEPTH_MAX).fold(Value::Null, |v, _| Value::List(vec![v]));
    let too_long = Value::from("x".repeat(64 * 1024 + 1));
    let too_many = Value::List(vec![Value::Null; VALUE_ENTRIES_MAX + 1]);
    for value in [too_deep, too_long, too_many] {
        assert!(matches!(encode_entry(&identify(value)), Err(CodecError::Encode { .. })));
    }
    let at_limit = (0..VALUE_DEPTH_MAX).fold(Value::Null, |v, _| Value::List(vec![v]));
    let entry = identify(at_limit);
    assert_eq!(decode_entry(&encode_entry(&entry).unwrap()).unwrap(), entry);
}

#[test]
fn oversized_entries_are_errors_not_panics() {
    let entry = Entry {
        appended_at: Timestamp(0),
        record: Record::Unmerge { cid: Cid::from_wire_bytes(vec![b'x'; RECORD_BYTES_MAX]) },
    };
    let mut buf = b"keep".to_vec();
    match encode_entry_into(&entry, &mut buf) {
        Err(CodecError::TooLarge { len, max }) => {
            assert_eq!(len, RECORD_BYTES_MAX + 8 + 1 + 8);
            assert_eq!(max, RECORD_BYTES_MAX);
        }
        other => panic!("expected TooLarge, got {other:?}"),
    }
    assert_eq!(buf, b"keep");
    assert!(matches!(encode_entry(&entry), Err(CodecError::TooLarge { .. })));

    // Exactly at the limit is fine.
    let at_limit = Entry {
        appended_at: Timestamp(0),
        record: Record::Unmerge { cid: Cid::from_wire_bytes(vec![b'x'; RECORD_BYTES_MAX - 17]) },
    };
    let bytes = encode_entry(&at_limit).unwrap();
    assert_eq!(bytes.len(), RECORD_BYTES_MAX);
    assert_eq!(decode_entry(&bytes).unwrap(), at_limit);

    let input = vec![0_u8; RECORD_BYTES_MAX + 1];
    assert!(matches!(
        decode_entry(&input),
        Err(CodecError::TooLarge { len, max: RECORD_BYTES_MAX }) if len == RECORD_BYTES_MAX + 1
    ));
}

#[test]
fn trailing_bytes_are_refused() {
    let entry = Entry { appended_at: Timestamp(5), record: Record::Unmerge { cid: Cid::parse("u1").unwrap() } };
    let mut bytes = encode_entry(&entry).unwrap();
    let consumed = bytes.len();
    bytes.push(0);
    let error = decode_entry(&bytes).unwrap_err();
    assert_eq!(error.to_string(), format!("1 trailing bytes after an entry of {consumed} bytes"));
    assert!(matches!(
        decode_entry(&bytes),
        Err(CodecError::TrailingBytes { consumed: c, len }) if c == consumed && len == consumed + 1
    ));
}

#[test]
fn truncated_input_reports_where_it_ended() {
    let entry = Entry {
        appended_at: Timestamp(5),
        record: Record::Merge { from: Cid::parse("u1").unwrap(), into: Cid::parse("u2").unwrap() },
    };
    let bytes = encode_entry(&entry).unwrap();
    for cut in 0..bytes.len() {
        match decode_entry(&bytes[..cut]) {
            Err(CodecError::Decode { offset, .. }) => assert!(offset <= cut),
            other => panic!("cut at {cut}: {other:?}"),
        }
    }
}

#[test]
fn a_zero_filled_buffer_is_no_entry() {
    for len in [0, 9, 27, 64, 4096] {
        assert!(decode_entry(&vec![0; len]).is_err(), "{len} zero bytes");
    }
}

#[test]
fn malformed_ids_travel_unchanged() {
    let entry = Entry {
        appended_at: Timestamp(1),
        record: Record::Unlink {
            uid: Uid::from_wire_bytes(b" \xff\x00".to_vec()),
            cid: Cid::from_wire_bytes(Vec::new()),
        },
    };
    let decoded = decode_entry(&encode_entry(&entry).unwrap()).unwrap();
    assert_eq!(decoded, entry);
    let Record::Unlink { uid, cid } = decoded.record else {
        panic!("not an unlink");
    };
    assert!(uid.validate().is_err());
    assert!(cid.validate().is_err());
}
