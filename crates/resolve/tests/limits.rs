//! Whatever the fold accepts, the store can hold: the profile attribute limits
//! (`PROFILE_ATTRIBUTES_MAX`, `PROFILE_ATTRIBUTE_BYTES_MAX`) are held where records are accepted,
//! as `limit` rejections that change nothing, never as an encode error later.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use idres_model::limits::{
    attribute_bytes, PROFILE_ATTRIBUTES_MAX, PROFILE_ATTRIBUTE_BYTES_MAX, PROFILE_BYTES_MAX, VALUE_STRING_BYTES_MAX,
};
use idres_model::{encode_profile_into, encode_value_into, Cid, Entry, Map, Record, Target, Timestamp, Uid, Value};
use idres_resolve::{Applied, Config, Reason, Resolver};
use idres_store::{FjallOptions, SledOptions, StoreBackend, StoreBatch};

fn uid(s: &str) -> Uid {
    Uid::from_wire_bytes(s.as_bytes().to_vec())
}

fn cid(s: &str) -> Cid {
    Cid::from_wire_bytes(s.as_bytes().to_vec())
}

fn entry(record: Record) -> Entry {
    Entry { appended_at: Timestamp(1_000_000), record }
}

/// 256 keys `{prefix}{i}`, each a string of `len` bytes.
fn big_attrs(prefix: &str, len: usize) -> Map {
    (0..256).map(|i| (format!("{prefix}{i:03}"), Value::String("x".repeat(len)))).collect()
}

fn set_attrs(u: &str, set: Map) -> Record {
    Record::Attributes {
        target: Target::Uid(uid(u)),
        set,
        set_once: Map::new(),
        unset: Vec::new(),
        ts: None,
        system: false,
        message_id: None,
    }
}

/// Every profile encodes within the store's limit.
fn assert_every_profile_encodes(r: &Resolver) {
    for p in r.profiles() {
        let mut buf = Vec::new();
        encode_profile_into(&p, &mut buf).unwrap_or_else(|e| panic!("profile {} does not encode: {e}", p.id));
        assert!(buf.len() <= PROFILE_BYTES_MAX);
        let attr_bytes: usize = p.attributes.iter().map(|(k, v)| attribute_bytes(k, v)).sum();
        assert!(attr_bytes <= PROFILE_ATTRIBUTE_BYTES_MAX, "{attr_bytes}");
        assert!(p.attributes.len() <= PROFILE_ATTRIBUTES_MAX);
    }
}

fn apply_all(r: &mut Resolver, records: Vec<Record>) -> Vec<Applied> {
    records.into_iter().map(|rec| r.apply(r.next_lsn(), &entry(rec)).unwrap()).collect()
}

#[test]
fn a_profile_the_fold_accepts_always_fits_the_store() {
    // The reported log: 21 identify / attribute records on one customer, each setting 256 keys
    // to strings of ~64 KiB (the old fold accepted all, and the profile did not encode).
    let mut records = vec![Record::Identify {
        uid: Some(uid("dev-1")),
        cid: cid("cust-1"),
        attrs: big_attrs("a00_", VALUE_STRING_BYTES_MAX - 100),
        ts: None,
        message_id: None,
    }];
    for n in 1..21 {
        records.push(if n % 2 == 0 {
            Record::Identify {
                uid: None,
                cid: cid("cust-1"),
                attrs: big_attrs(&format!("a{n:02}_"), VALUE_STRING_BYTES_MAX - 100),
                ts: None,
                message_id: None,
            }
        } else {
            Record::Attributes {
                target: Target::Cid(cid("cust-1")),
                set: big_attrs(&format!("a{n:02}_"), VALUE_STRING_BYTES_MAX - 100),
                set_once: Map::new(),
                unset: Vec::new(),
                ts: None,
                system: false,
                message_id: None,
            }
        });
    }
    let mut r = Resolver::new(Config::default());
    let applied = apply_all(&mut r, records);
    assert!(applied.contains(&Applied::Rejected(Reason::Limit)), "{applied:?}");
    assert_every_profile_encodes(&r);
    // Every on-disk store takes the profile.
    for backend in [StoreBackend::Fjall(FjallOptions::default()), StoreBackend::Sled(SledOptions::default())] {
        let dir = tempfile::tempdir().unwrap();
        let mut store = backend.open(&dir.path().join("store")).unwrap();
        let batch =
            StoreBatch { applied_lsn: r.next_lsn(), upserts: r.profiles(), ..StoreBatch::default() }.index_upserts();
        store.apply(&batch).unwrap();
        let stored = store.profile_by_cid(&cid("cust-1")).unwrap().unwrap();
        assert_eq!(stored.attributes, r.profile_by_cid(&cid("cust-1")).unwrap().attributes, "{}", backend.name());
    }
}

/// Fills device `u` with records of 256 string attributes of `len` bytes until one is rejected;
/// returns the number of records accepted.
fn fill(r: &mut Resolver, u: &str, len: usize) -> usize {
    let mut accepted = 0;
    for n in 0..64 {
        let rec = set_attrs(u, big_attrs(&format!("{u}_{n}_"), len));
        match r.apply(r.next_lsn(), &entry(rec)).unwrap() {
            Applied::Accepted => accepted += 1,
            Applied::Rejected(reason) => {
                assert_eq!(reason, Reason::Limit);
                return accepted;
            }
        }
    }
    panic!("64 records of 256 keys of {len} bytes on {u} and no limit")
}

#[test]
fn the_record_past_the_attribute_byte_limit_is_rejected_and_changes_nothing() {
    let mut r = Resolver::new(Config::default());
    let accepted = fill(&mut r, "d", 1000);
    assert!(accepted > 0);
    assert_every_profile_encodes(&r);
    let before = r.profiles();
    let rej = r.apply(r.next_lsn(), &entry(set_attrs("d", big_attrs("late_", 1000)))).unwrap();
    assert_eq!(rej, Applied::Rejected(Reason::Limit));
    assert!(r.rejections().back().unwrap().detail.contains("PROFILE_ATTRIBUTE_BYTES_MAX"));
    assert_eq!(r.profiles(), before);
    // Overwriting a key with a value no larger still needs room for the new value (the check
    // counts what a record writes, not what it replaces); small records still fit.
    let small: Map = [("d_0_000".to_string(), Value::Int(1))].into_iter().collect();
    assert_eq!(r.apply(r.next_lsn(), &entry(set_attrs("d", small))).unwrap(), Applied::Accepted);
    assert_every_profile_encodes(&r);
}

#[test]
fn the_record_past_the_attribute_key_limit_is_rejected() {
    let mut r = Resolver::new(Config::default());
    let per_record = 256;
    let full = PROFILE_ATTRIBUTES_MAX / per_record;
    for n in 0..full {
        let set: Map = (0..per_record).map(|i| (format!("k{n}_{i}"), Value::Null)).collect();
        assert_eq!(r.apply(r.next_lsn(), &entry(set_attrs("d", set))).unwrap(), Applied::Accepted);
    }
    let before = r.profiles();
    let one: Map = [("one_more".to_string(), Value::Null)].into_iter().collect();
    assert_eq!(r.apply(r.next_lsn(), &entry(set_attrs("d", one.clone()))).unwrap(), Applied::Rejected(Reason::Limit));
    assert!(r.rejections().back().unwrap().detail.contains("PROFILE_ATTRIBUTES_MAX"));
    assert_eq!(r.profiles(), before);
    // A key it already has is no new key.
    let old: Map = [("k0_0".to_string(), Value::Int(7))].into_iter().collect();
    assert_eq!(r.apply(r.next_lsn(), &entry(set_attrs("d", old))).unwrap(), Applied::Accepted);
    assert_every_profile_encodes(&r);
}

#[test]
fn a_link_or_merge_whose_union_passes_the_attribute_limit_is_rejected() {
    // Two devices, each more than half full, before any link: the first identify links one, the
    // second would join the other into the same profile and is rejected; so is a merge of two
    // customers each holding one.
    let mut r = Resolver::new(Config::default());
    fill(&mut r, "d1", 1000);
    fill(&mut r, "d2", 1000);
    assert_eq!(
        r.apply(
            r.next_lsn(),
            &entry(Record::Identify {
                uid: Some(uid("d1")),
                cid: cid("c"),
                attrs: Map::new(),
                ts: None,
                message_id: None
            })
        )
        .unwrap(),
        Applied::Accepted
    );
    let before = r.profiles();
    let link = Record::Identify { uid: Some(uid("d2")), cid: cid("c"), attrs: Map::new(), ts: None, message_id: None };
    assert_eq!(r.apply(r.next_lsn(), &entry(link)).unwrap(), Applied::Rejected(Reason::Limit));
    assert_eq!(r.profiles(), before);
    let link = Record::Identify { uid: Some(uid("d2")), cid: cid("c2"), attrs: Map::new(), ts: None, message_id: None };
    assert_eq!(r.apply(r.next_lsn(), &entry(link)).unwrap(), Applied::Accepted);
    let before = r.profiles();
    let merge = Record::Merge { from: cid("c2"), into: cid("c") };
    assert_eq!(r.apply(r.next_lsn(), &entry(merge)).unwrap(), Applied::Rejected(Reason::Limit));
    assert_eq!(r.profiles(), before);
    assert_every_profile_encodes(&r);
}

#[test]
fn nested_values_count_by_their_encoding() {
    // A list of 1024 maps is far more than its text: the measure is its exact encoded length.
    let inner: Map = (0..8).map(|i| (format!("k{i}"), Value::Int(i))).collect();
    let values = [
        Value::Null,
        Value::Bool(true),
        Value::Int(-3),
        Value::Float(1.5),
        Value::String("héllo".into()),
        Value::List((0..1024).map(|_| Value::Map(inner.clone())).collect()),
        Value::Map(inner.clone()),
    ];
    for v in values {
        let mut buf = Vec::new();
        encode_value_into(&v, &mut buf).unwrap();
        assert_eq!(v.encoded_len(), buf.len(), "{v:?}");
    }
    // Such values fill a profile too, and it still encodes.
    let mut r = Resolver::new(Config::default());
    let list = Value::List((0..1024).map(|_| Value::Map(inner.clone())).collect());
    for n in 0..100 {
        let set: Map = (0..4).map(|i| (format!("n{n}_{i}"), list.clone())).collect();
        r.apply(r.next_lsn(), &entry(set_attrs("d", set))).unwrap();
    }
    assert!(r.rejections().iter().any(|x| x.reason == Reason::Limit));
    assert_every_profile_encodes(&r);
}

#[test]
fn a_restored_fold_holds_the_attribute_limit_like_the_one_it_was_saved_from() {
    // The running totals are not in the snapshot: restore recomputes them.
    let mut r = Resolver::new(Config::default());
    fill(&mut r, "d", 1000);
    let mut restored = Resolver::restore(&r.snapshot().unwrap(), Config::default()).unwrap();
    for rec in [set_attrs("d", big_attrs("late_", 1000)), set_attrs("d", big_attrs("d_0_", 10))] {
        let e = entry(rec);
        assert_eq!(r.apply(r.next_lsn(), &e).unwrap(), restored.apply(restored.next_lsn(), &e).unwrap());
    }
    assert_eq!(r.profiles(), restored.profiles());
}
