#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
//! Known-bytes fixtures: one committed file per record kind and schema in
//! `tests/fixtures/schema<N>/<kind>.bin`.
//!
//! Each test decodes the committed bytes under their schema and compares them with the entry built
//! here. The current schema's bytes must also be what that entry encodes to; an older schema's
//! bytes were written by an older build and are never rewritten: they must still decode, to the
//! same record with what the newer schema added at its defaults. Any change of the encoding,
//! intended or not, fails here; an intended one also needs a new `SCHEMA_VERSION`, a reader for
//! the old bytes and fixtures of the new ones. `IDRES_BLESS=1 cargo test -p idres-model --test
//! fixtures` writes the current schema's files (never an older schema's).

use std::path::PathBuf;

use idres_model::codec::{tag, CONFIG};
use idres_model::{
    decode_entry, decode_entry_with_schema, encode_entry, Cid, Entry, Map, Record, RecordKind, Target, Timestamp, Uid,
    Value, CODEC_ID, SCHEMA_VERSION, SCHEMA_VERSION_OLDEST,
};

fn uid(s: &str) -> Uid {
    Uid::parse(s).unwrap()
}

fn cid(s: &str) -> Cid {
    Cid::parse(s).unwrap()
}

fn map<const N: usize>(entries: [(&str, Value); N]) -> Map {
    entries.into_iter().map(|(k, v)| (k.to_owned(), v)).collect()
}

/// The fixed entry of each kind under `schema`. Never change one without re-blessing and bumping
/// the schema. Schema 2's entries are schema 1's with what schema 2 added set (a message id on
/// identify, event and attributes; `system` on the event and the attributes).
fn fixture_entry(kind: RecordKind, schema: u16) -> Entry {
    let v2 = schema >= 2;
    let message_id = |id: &str| v2.then(|| id.to_owned());
    let record = match kind {
        RecordKind::Identify => Record::Identify {
            uid: Some(uid("67E55044-10B1-426F-9247-BB680E5FE0C8")),
            cid: cid("Łukasz-ß-名前"),
            attrs: map([
                ("age", Value::Int(-42)),
                ("name", Value::from("Łukasz")),
                (
                    "plan",
                    Value::Map(map([
                        ("seats", Value::Int(3)),
                        ("tags", Value::List(vec![Value::from("a"), Value::Bool(true), Value::Null])),
                    ])),
                ),
                ("score", Value::Float(-1.5)),
            ]),
            ts: Some(Timestamp(1_700_000_000_123_456)),
            message_id: message_id("3f1c5a8e-identify"),
        },
        RecordKind::Reset => Record::Reset { uid: uid("device-42"), ts: None },
        RecordKind::Event => Record::Event {
            target: Target::Cid(cid("customer-7")),
            name: "screen_view".to_owned(),
            props: map([
                (
                    "nested",
                    Value::Map(map([("deep", Value::List(vec![Value::Map(map([("x", Value::Int(i64::MIN))]))]))])),
                ),
                ("ms", Value::Float(12.25)),
                ("screen", Value::from("home")),
            ]),
            session_id: Some("sess-1".to_owned()),
            ts: Some(Timestamp(-1)),
            system: v2,
            message_id: message_id("ajs-next-1700000000200-ü"),
        },
        RecordKind::Attributes => Record::Attributes {
            target: Target::Uid(uid("anon-ünïcode")),
            set: map([("a", Value::Int(1)), ("b", Value::Float(-0.0)), ("c", Value::Bool(false))]),
            set_once: map([("first_source", Value::from("ad"))]),
            unset: vec!["old".to_owned(), "stale".to_owned()],
            ts: None,
            system: v2,
            message_id: message_id("m"),
        },
        RecordKind::Merge => Record::Merge { from: cid("u1"), into: cid("u2") },
        RecordKind::Unmerge => Record::Unmerge { cid: cid("u1") },
        RecordKind::Unlink => Record::Unlink { uid: uid("f81d4fae-7dec-11d0-a765-00a0c91e6bf6"), cid: cid("Bob") },
    };
    Entry { appended_at: Timestamp(1_700_000_000_200_000), record }
}

fn fixture_path(kind: RecordKind, schema: u16) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(format!("schema{schema}"))
        .join(format!("{}.bin", kind.as_str()))
}

fn blessing() -> bool {
    std::env::var("IDRES_BLESS").is_ok_and(|v| v == "1")
}

fn check_fixture(kind: RecordKind) {
    // The current schema: the committed bytes are exactly what the entry encodes to.
    let entry = fixture_entry(kind, SCHEMA_VERSION);
    assert_eq!(entry.record.kind(), kind);
    let encoded = encode_entry(&entry).unwrap();
    let path = fixture_path(kind, SCHEMA_VERSION);
    if blessing() {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, &encoded).unwrap();
    } else {
        let committed = std::fs::read(&path)
            .unwrap_or_else(|e| panic!("{}: {e}; run with IDRES_BLESS=1 to create it", path.display()));
        let decoded = decode_entry(&committed).unwrap();
        assert_eq!(decoded, entry, "{} decodes to another entry", path.display());
        assert_eq!(encode_entry(&decoded).unwrap(), committed, "{} re-encodes to other bytes", path.display());
        assert_eq!(encoded, committed);
        assert_eq!(decode_entry_with_schema(SCHEMA_VERSION, &committed).unwrap(), entry);
    }
    // Every older schema: its committed bytes still decode, to its entry.
    for schema in SCHEMA_VERSION_OLDEST..SCHEMA_VERSION {
        let path = fixture_path(kind, schema);
        let committed = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let decoded = decode_entry_with_schema(schema, &committed)
            .unwrap_or_else(|e| panic!("{} no longer decodes: {e}", path.display()));
        assert_eq!(decoded, fixture_entry(kind, schema), "{} decodes to another entry", path.display());
    }
}

#[test]
fn identify_fixture() {
    check_fixture(RecordKind::Identify);
}

#[test]
fn reset_fixture() {
    check_fixture(RecordKind::Reset);
}

#[test]
fn event_fixture() {
    check_fixture(RecordKind::Event);
}

#[test]
fn attributes_fixture() {
    check_fixture(RecordKind::Attributes);
}

#[test]
fn merge_fixture() {
    check_fixture(RecordKind::Merge);
}

#[test]
fn unmerge_fixture() {
    check_fixture(RecordKind::Unmerge);
}

#[test]
fn unlink_fixture() {
    check_fixture(RecordKind::Unlink);
}

/// The fixtures are only meaningful together with the constants that name their format.
#[test]
fn format_constants_are_the_fixtures_ones() {
    assert_eq!((SCHEMA_VERSION_OLDEST, SCHEMA_VERSION), (1, 2), "schema changed: add fixtures for the new version");
    assert_eq!(CODEC_ID, 1, "codec changed: add fixtures for the new codec");
    assert_eq!(RecordKind::ALL.len(), 7);
    // The config is part of the format: fixed-width little-endian integers, 1 MiB limit.
    let bytes = bincode::encode_to_vec(0x0102_0304_u32, CONFIG).unwrap();
    assert_eq!(bytes, [4, 3, 2, 1]);
    let tags = [
        tag::RECORD_IDENTIFY,
        tag::RECORD_RESET,
        tag::RECORD_EVENT,
        tag::RECORD_ATTRIBUTES,
        tag::RECORD_MERGE,
        tag::RECORD_UNMERGE,
        tag::RECORD_UNLINK,
    ];
    assert_eq!(tags, [1, 2, 3, 4, 5, 6, 7]);
    let value_tags = [
        tag::VALUE_NULL,
        tag::VALUE_BOOL,
        tag::VALUE_INT,
        tag::VALUE_FLOAT,
        tag::VALUE_STRING,
        tag::VALUE_LIST,
        tag::VALUE_MAP,
    ];
    assert_eq!(value_tags, [0, 1, 2, 3, 4, 5, 6]);
}

/// The merge fixture spelled out byte by byte, as docs/FORMAT.md documents it.
#[test]
fn merge_layout_matches_the_format_document() {
    let mut expected = Vec::new();
    expected.extend_from_slice(&1_700_000_000_200_000_i64.to_le_bytes()); // appended_at
    expected.push(5); // RECORD_MERGE
    expected.extend_from_slice(&2_u64.to_le_bytes()); // from: length
    expected.extend_from_slice(b"u1");
    expected.extend_from_slice(&2_u64.to_le_bytes()); // into: length
    expected.extend_from_slice(b"u2");
    if !blessing() {
        assert_eq!(std::fs::read(fixture_path(RecordKind::Merge, SCHEMA_VERSION)).unwrap(), expected);
    }
    assert_eq!(encode_entry(&fixture_entry(RecordKind::Merge, SCHEMA_VERSION)).unwrap(), expected);
}

/// A uid in UUID form is 17 bytes: tag 0 and the 16 bytes; text is tag 1, u64 length, bytes.
#[test]
fn reset_layout_matches_the_format_document() {
    let mut expected = Vec::new();
    expected.extend_from_slice(&1_700_000_000_200_000_i64.to_le_bytes());
    expected.push(2); // RECORD_RESET
    expected.push(1); // UID_TEXT
    expected.extend_from_slice(&9_u64.to_le_bytes());
    expected.extend_from_slice(b"device-42");
    expected.push(0); // ts: None
    assert_eq!(encode_entry(&fixture_entry(RecordKind::Reset, SCHEMA_VERSION)).unwrap(), expected);

    let uuid_uid = Entry {
        appended_at: Timestamp(0),
        record: Record::Reset { uid: uid("urn:uuid:F81D4FAE-7DEC-11D0-A765-00A0C91E6BF6"), ts: Some(Timestamp(7)) },
    };
    let mut expected = vec![0; 8];
    expected.push(2);
    expected.push(0); // UID_UUID
    expected.extend_from_slice(&[
        0xf8, 0x1d, 0x4f, 0xae, 0x7d, 0xec, 0x11, 0xd0, 0xa7, 0x65, 0x00, 0xa0, 0xc9, 0x1e, 0x6b, 0xf6,
    ]);
    expected.push(1); // ts: Some
    expected.extend_from_slice(&7_i64.to_le_bytes());
    assert_eq!(encode_entry(&uuid_uid).unwrap(), expected);
}

/// Schema 2 is schema 1 with a tail on identify, event and attributes records (docs/FORMAT.md):
/// a schema-1 record written again today is its old bytes, then `system` (events and attributes:
/// one byte, 0) and `message_id` (an option: 0 for none); the other kinds are unchanged.
#[test]
fn schema_2_is_schema_1_with_a_tail() {
    for kind in RecordKind::ALL {
        let old = std::fs::read(fixture_path(kind, 1)).unwrap();
        let tail: &[u8] = match kind {
            RecordKind::Event | RecordKind::Attributes => &[0, 0],
            RecordKind::Identify => &[0],
            _ => &[],
        };
        let now = encode_entry(&fixture_entry(kind, 1)).unwrap();
        assert_eq!(now, [old.as_slice(), tail].concat(), "{kind}");
        // And schema-1 bytes are not schema-2 bytes for the kinds with a tail.
        assert_eq!(decode_entry(&old).is_ok(), tail.is_empty(), "{kind}");
    }
}
