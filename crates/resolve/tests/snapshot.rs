//! Snapshots restore bit for bit; the digest is a function of the log and the config alone.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::print_stdout)]

use idres_model::{Cid, Entry, Map, Record, Target, Timestamp, Uid, Value};
use idres_resolve::{Config, OnCidConflict, Resolver, SnapshotError};
use proptest::prelude::*;
use proptest::strategy::ValueTree;

fn cases(default: u32) -> u32 {
    std::env::var("PROPTEST_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

/// Text uids of 1 and 40 bytes (a long one lives in the uid table's arena), a UUID and a blocked one.
const UIDS: [&str; 5] =
    ["A", "B", "6BA7B810-9DAD-11D1-80B4-00C04FD430C8", "null", "web-a-uid-of-forty-bytes-0123456789abcde"];
const CIDS: [&str; 4] = ["u1", "u2", "u3", " bad"];
const KEYS: [&str; 3] = ["plan", "city", "age"];

fn uid(i: usize) -> Uid {
    Uid::from_wire_bytes(UIDS[i % UIDS.len()].as_bytes().to_vec())
}

fn cid(i: usize) -> Cid {
    Cid::from_wire_bytes(CIDS[i % CIDS.len()].as_bytes().to_vec())
}

fn small_map(keys: &[(usize, i64)]) -> Map {
    keys.iter().map(|(k, v)| (KEYS[k % KEYS.len()].to_string(), Value::Int(*v))).collect()
}

/// Any of the seven record kinds over a small alphabet, so that links, conflicts, merges,
/// unmerges, unlinks, limits and rejections all happen.
fn record() -> impl Strategy<Value = Record> {
    let ts = prop::option::of((0i64..50).prop_map(Timestamp));
    let kv = prop::collection::vec((0usize..3, -3i64..3), 0..3);
    prop_oneof![
        4 => (0usize..4, 0usize..3, ts.clone()).prop_map(|(u, n, ts)| Record::Event {
            target: Target::Uid(uid(u)),
            name: ["view", "buy", "open"][n].into(),
            props: Map::new(),
            session_id: None,
            ts, system: false, message_id: None
        }),
        1 => (0usize..4, ts.clone()).prop_map(|(c, ts)| Record::Event {
            target: Target::Cid(cid(c)),
            name: "server".into(),
            props: Map::new(),
            session_id: None,
            ts, system: false, message_id: None
        }),
        3 => (prop::option::of(0usize..4), 0usize..4, kv.clone(), ts.clone()).prop_map(|(u, c, a, ts)| Record::Identify {
            uid: u.map(uid),
            cid: cid(c),
            attrs: small_map(&a),
            ts, message_id: None
        }),
        2 => (0usize..4, kv.clone(), kv.clone(), prop::collection::vec(0usize..3, 0..2), ts.clone(), any::<bool>())
            .prop_map(|(t, set, once, unset, ts, on_cid)| Record::Attributes {
                target: if on_cid { Target::Cid(cid(t)) } else { Target::Uid(uid(t)) },
                set: small_map(&set),
                set_once: small_map(&once),
                unset: unset.into_iter().map(|k| KEYS[k].to_string()).collect(),
                ts, system: false, message_id: None
            }),
        1 => (0usize..4, ts).prop_map(|(u, ts)| Record::Reset { uid: uid(u), ts }),
        1 => (0usize..4, 0usize..4).prop_map(|(a, b)| Record::Merge { from: cid(a), into: cid(b) }),
        1 => (0usize..4).prop_map(|c| Record::Unmerge { cid: cid(c) }),
        1 => (0usize..4, 0usize..4).prop_map(|(u, c)| Record::Unlink { uid: uid(u), cid: cid(c) }),
    ]
}

fn config(strict: bool) -> Config {
    Config {
        max_devices_per_profile: 3,
        max_customers_per_profile: 2,
        on_cid_conflict: if strict { OnCidConflict::Reject } else { OnCidConflict::ImplicitReset },
        ..Config::default()
    }
}

fn entries(records: &[Record]) -> Vec<Entry> {
    records
        .iter()
        .enumerate()
        .map(|(i, r)| Entry { appended_at: Timestamp(10 + i as i64 * 3), record: r.clone() })
        .collect()
}

fn fold(config: Config, log: &[Entry]) -> Resolver {
    let mut r = Resolver::new(config);
    for (i, e) in log.iter().enumerate() {
        r.apply(i as u64, e).unwrap();
    }
    r
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(cases(200)))]

    /// For every k: restore(snapshot after k records) + fold the rest = the full fold.
    #[test]
    fn snapshot_at_every_point_replays_to_the_same_state(records in prop::collection::vec(record(), 0..40), strict in any::<bool>()) {
        let log = entries(&records);
        let mut full = Resolver::new(config(strict));
        let mut full_changes = Vec::new();
        for (i, e) in log.iter().enumerate() {
            full.apply(i as u64, e).unwrap();
            full_changes.push(full.drain_changes().collect::<Vec<_>>());
        }
        let digest = full.digest();
        let full_snapshot = full.snapshot().unwrap();
        let mut r = Resolver::new(config(strict));
        for k in 0..=log.len() {
            let snap = r.snapshot().unwrap();
            prop_assert_eq!(Resolver::snapshot_lsn(&snap).unwrap(), k as u64);
            let mut restored = Resolver::restore(&snap, config(strict)).unwrap();
            prop_assert_eq!(restored.digest(), r.digest(), "restore changed the state at k = {}", k);
            prop_assert_eq!(restored.profiles(), r.profiles());
            prop_assert_eq!(restored.snapshot().unwrap(), snap.clone(), "snapshot of a restore differs at k = {}", k);
            for (i, e) in log.iter().enumerate().skip(k) {
                restored.apply(i as u64, e).unwrap();
                let changes: Vec<_> = restored.drain_changes().collect();
                prop_assert_eq!(&changes, &full_changes[i], "changes of record {} after a restore at {}", i, k);
            }
            prop_assert_eq!(restored.digest(), digest, "restore at k = {} then fold differs", k);
            prop_assert_eq!(restored.profiles(), full.profiles());
            prop_assert_eq!(restored.snapshot().unwrap(), full_snapshot.clone(), "snapshot bytes after a restore at {}", k);
            for u in 0..UIDS.len() {
                prop_assert_eq!(restored.explain_uid(&uid(u)), full.explain_uid(&uid(u)));
            }
            for c in 0..CIDS.len() {
                prop_assert_eq!(restored.explain_cid(&cid(c)), full.explain_cid(&cid(c)));
            }
            if let Some(e) = log.get(k) {
                r.apply(k as u64, e).unwrap();
            }
        }
    }

    /// A rejected record changes nothing: whatever it was, replacing it with a record that is
    /// trivially rejected (an identify of a blocked cid) gives the same profiles and explanations.
    #[test]
    fn a_rejected_record_changes_nothing(records in prop::collection::vec(record(), 1..40), strict in any::<bool>()) {
        let log = entries(&records);
        let mut r = Resolver::new(config(strict));
        let mut rejected = Vec::new();
        for (i, e) in log.iter().enumerate() {
            if let idres_resolve::Applied::Rejected(_) = r.apply(i as u64, e).unwrap() {
                rejected.push(i);
            }
        }
        let trivial = Record::Identify { uid: None, cid: Cid::from_wire_bytes(b"null".to_vec()), attrs: Map::new(), ts: None, message_id: None  };
        for k in rejected {
            let mut other = log.clone();
            other[k].record = trivial.clone();
            let o = fold(config(strict), &other);
            prop_assert_eq!(o.profiles(), r.profiles(), "replacing rejected record {} changed the profiles", k);
            // Explain also lists an id's rejections (which differ by construction): compare the rest.
            let graph_part = |e: Option<idres_resolve::Explanation>| {
                e.map(|e| (e.node, e.path, e.implicit_resets)).unwrap_or((None, Vec::new(), Vec::new()))
            };
            for u in 0..UIDS.len() {
                prop_assert_eq!(graph_part(o.explain_uid(&uid(u))), graph_part(r.explain_uid(&uid(u))));
            }
            for c in 0..CIDS.len() {
                prop_assert_eq!(graph_part(o.explain_cid(&cid(c))), graph_part(r.explain_cid(&cid(c))));
            }
        }
    }

    /// A flipped byte anywhere in a snapshot is refused (checksums), never a panic.
    #[test]
    fn damaged_snapshot_is_refused(records in prop::collection::vec(record(), 1..25), at in any::<prop::sample::Index>(), mask in 1u8..=255) {
        let r = fold(config(false), &entries(&records));
        let mut snap = r.snapshot().unwrap();
        let i = at.index(snap.len());
        snap[i] ^= mask;
        prop_assert!(Resolver::restore(&snap, config(false)).is_err(), "flip at {} accepted", i);
        // Truncated anywhere: refused too.
        prop_assert!(Resolver::restore(&snap[..i], config(false)).is_err());
    }
}

/// Bytes with valid checksums but a body that lies: restore refuses, never panics.
#[test]
fn forged_bodies_with_valid_checksums_are_refused() {
    let records: Vec<Record> = (0..30)
        .map(|i| match i % 5 {
            0 => Record::Identify {
                uid: Some(uid(i)),
                cid: cid(i / 2),
                attrs: small_map(&[(i, 1)]),
                ts: None,
                message_id: None,
            },
            1 => Record::Merge { from: cid(i), into: cid(i + 1) },
            _ => Record::Event {
                target: Target::Uid(uid(i)),
                name: "view".into(),
                props: Map::new(),
                session_id: None,
                ts: None,
                system: false,
                message_id: None,
            },
        })
        .collect();
    let r = fold(config(false), &entries(&records));
    let snap = r.snapshot().unwrap();
    let header = idres_resolve::SNAPSHOT_HEADER_BYTES;
    let mut refused = 0;
    for at in header..snap.len() {
        for mask in [0x01u8, 0x80, 0xFF] {
            let mut s = snap.clone();
            s[at] ^= mask;
            // Fix both checksums so that only the body's meaning is wrong.
            let body_crc = crc32c(&s[header..]);
            s[64..68].copy_from_slice(&body_crc.to_le_bytes());
            let head_crc = crc32c(&s[..68]);
            s[68..72].copy_from_slice(&head_crc.to_le_bytes());
            match Resolver::restore(&s, config(false)) {
                Err(_) => refused += 1,
                Ok(restored) => {
                    // Accepted bytes must at least be a state that snapshots back to themselves.
                    assert_eq!(restored.snapshot().unwrap(), s, "flip at {at} restored to something else");
                }
            }
        }
    }
    assert!(refused > 0);
}

fn crc32c(b: &[u8]) -> u32 {
    // The same CRC the snapshot uses; a tiny bitwise version keeps this test independent.
    let mut crc = !0u32;
    for &byte in b {
        crc ^= u32::from(byte);
        for _ in 0..8 {
            crc = if crc & 1 == 1 { (crc >> 1) ^ 0x82F6_3B78 } else { crc >> 1 };
        }
    }
    !crc
}

#[test]
fn another_config_is_refused() {
    let r = fold(config(false), &entries(&[Record::Unmerge { cid: cid(0) }]));
    let snap = r.snapshot().unwrap();
    let err = Resolver::restore(&snap, config(true)).err().unwrap();
    assert!(matches!(err, SnapshotError::ConfigMismatch { .. }), "{err}");
    let mut other = config(false);
    other.blocked.extend(["anon"], [] as [&str; 0]);
    assert!(matches!(Resolver::restore(&snap, other), Err(SnapshotError::ConfigMismatch { .. })));
    assert!(Resolver::restore(&snap, config(false)).is_ok());
}

#[test]
fn digest_changes_with_the_log_and_the_config() {
    let a =
        entries(&[Record::Identify { uid: Some(uid(0)), cid: cid(0), attrs: Map::new(), ts: None, message_id: None }]);
    let mut b = a.clone();
    b.push(Entry {
        appended_at: Timestamp(99),
        record: Record::Event {
            target: Target::Uid(uid(0)),
            name: "view".into(),
            props: Map::new(),
            session_id: None,
            ts: None,
            system: false,
            message_id: None,
        },
    });
    let da = fold(config(false), &a).digest();
    assert_ne!(da, fold(config(false), &b).digest());
    assert_ne!(da, fold(config(true), &a).digest());
    assert_eq!(da, fold(config(false), &a).digest());
}

/// The log the cross-process test folds: fixed, with every record kind.
fn fixed_log() -> Vec<Entry> {
    let mut runner = proptest::test_runner::TestRunner::new_with_rng(
        ProptestConfig::default(),
        proptest::test_runner::TestRng::deterministic_rng(proptest::test_runner::RngAlgorithm::ChaCha),
    );
    let records = prop::collection::vec(record(), 400).new_tree(&mut runner).unwrap().current();
    entries(&records)
}

fn hex(d: [u8; 32]) -> String {
    d.iter().map(|b| format!("{b:02x}")).collect()
}

/// Prints the digest of the fixed log when asked to by the parent test.
#[test]
#[ignore = "the child process of digest_is_the_same_in_another_process"]
fn digest_child() {
    if std::env::var("IDRES_DIGEST_CHILD").is_ok() {
        println!("\nIDRES_DIGEST={}", hex(fold(config(false), &fixed_log()).digest()));
    }
}

/// Hash-map seeds differ between processes; the digest must not.
#[test]
fn digest_is_the_same_in_another_process() {
    let here = hex(fold(config(false), &fixed_log()).digest());
    let exe = std::env::current_exe().unwrap();
    for _ in 0..2 {
        let out = std::process::Command::new(&exe)
            .args(["--exact", "digest_child", "--include-ignored", "--nocapture", "--test-threads=1"])
            .env("IDRES_DIGEST_CHILD", "1")
            .output()
            .unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout);
        let line = stdout.lines().find_map(|l| l.strip_prefix("IDRES_DIGEST=")).expect("child printed a digest");
        assert_eq!(line, here);
    }
}

/// A uid's node list naming node `u32::MAX` (the uid table's "none") is refused, wherever it
/// stands in the list, with valid checksums: the table must not silently drop it.
#[test]
fn a_uid_naming_node_u32_max_is_refused() {
    let event = || Record::Event {
        target: Target::Uid(uid(0)),
        name: "view".into(),
        props: Map::new(),
        session_id: None,
        ts: None,
        system: false,
        message_id: None,
    };
    // Uid A: epoch 1, device nodes (epoch 0, node 0) and (epoch 1, node 1).
    let r = fold(config(false), &entries(&[event(), Record::Reset { uid: uid(0), ts: None }, event()]));
    let snap = r.snapshot().unwrap();
    let words: Vec<u8> = [1u32, 2, 0, 0, 1, 1].iter().flat_map(|w| w.to_le_bytes()).collect();
    let at = snap.windows(words.len()).position(|w| w == words.as_slice()).expect("uid A's entry");
    let header = idres_resolve::SNAPSHOT_HEADER_BYTES;
    for node_at in [at + 12, at + 20] {
        let mut s = snap.clone();
        s[node_at..node_at + 4].copy_from_slice(&u32::MAX.to_le_bytes());
        let body_crc = crc32c(&s[header..]);
        s[64..68].copy_from_slice(&body_crc.to_le_bytes());
        let head_crc = crc32c(&s[..68]);
        s[68..72].copy_from_slice(&head_crc.to_le_bytes());
        let err = Resolver::restore(&s, config(false)).expect_err("refused");
        assert!(matches!(err, SnapshotError::Invalid { .. }), "{err}");
    }
    assert!(Resolver::restore(&snap, config(false)).is_ok());
}

/// The snapshot format is pinned: the fixed log's snapshot has these bytes (by length and
/// CRC-32C). A change of layout must bump `SNAPSHOT_VERSION` (docs/FORMAT.md) and this pin; a
/// change of the in-memory layout alone must not move it. (The rejections' words are in the
/// bytes too: quoting cids with `Cid::quoted` instead of `{:?}` moved the pin from
/// (12 953, 4 027 399 374) without changing the layout or any digest; version 5, which keeps the
/// nodes' sessions, moved it from (12 933, 3 534 148 938).)
#[test]
fn snapshot_bytes_are_pinned() {
    let snap = fold(config(false), &fixed_log()).snapshot().unwrap();
    assert_eq!(u16::from_le_bytes([snap[8], snap[9]]), 5);
    assert_eq!((snap.len(), crc32c(&snap)), (13_615, 1_484_533_899));
}
