//! The store contract, run against every implementation (fjall, sled, memory); a differential
//! property test of each on-disk store against the memory store over random batches; persistence,
//! damaged values and sled's split batches.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::BTreeMap;

use idres_model::{Cid, DeviceRef, Map, Profile, ProfileKind, Timestamp, Uid, Value};
use idres_store::{
    EncodedProfile, FjallOptions, FjallStore, IndexKey, MemoryStore, ProfileStore, SledOptions, SledStore,
    StoreBackend, StoreBatch, StoreError, StoreLoad, SLED_BATCH_OPS_MAX,
};
use proptest::prelude::*;
use uuid::Uuid;

fn id(n: u8) -> Uuid {
    Uuid::from_u128(0x5000 + u128::from(n))
}

fn cid(s: &str) -> Cid {
    Cid::parse(s).unwrap()
}

fn uid(s: &str) -> Uid {
    Uid::parse(s).unwrap()
}

fn profile(n: u8, cids: &[&str], uids: &[(&str, u32)], events: u64) -> Profile {
    let mut attributes = Map::new();
    attributes.insert("v".into(), Value::Int(i64::from(n)));
    Profile {
        id: id(n),
        kind: if cids.is_empty() { ProfileKind::Anonymous } else { ProfileKind::Customer },
        primary_cid: cids.first().map(|c| cid(c)),
        cids: cids.iter().map(|c| cid(c)).collect(),
        uids: uids.iter().map(|(u, e)| DeviceRef { uid: uid(u), epoch: *e }).collect(),
        attributes,
        event_count: events,
        events_by_name: if events > 0 { BTreeMap::from([("view".into(), events)]) } else { BTreeMap::new() },
        first_seen: (events > 0).then_some(Timestamp(1)),
        last_seen: (events > 0).then_some(Timestamp(2)),
        history: Vec::new(),
        system_event_count: events / 2,
        sessions: idres_model::SessionsSummary { count: events.min(1), ..Default::default() },
        devices: vec![idres_model::DeviceInfo::default(); uids.len()],
    }
}

fn ids(p: Option<Profile>) -> Option<Uuid> {
    p.map(|p| p.id)
}

/// The contract of `ProfileStore`, step by step.
fn contract(s: &mut dyn ProfileStore) {
    assert_eq!(s.applied_lsn().unwrap(), None);
    assert!(s.profile(id(1)).unwrap().is_none());

    // Two customers with a device each, one anonymous device.
    let p1 = profile(1, &["u1"], &[("A", 0)], 2);
    let p2 = profile(2, &["u2"], &[("B", 0)], 1);
    let anon = profile(3, &[], &[("C", 0)], 5);
    let b1 = StoreBatch {
        applied_lsn: 10,
        upserts: vec![p1.clone(), p2.clone(), anon.clone()],
        retired: vec![],
        index: vec![],
    }
    .index_upserts();
    s.apply(&b1).unwrap();
    assert_eq!(s.applied_lsn().unwrap(), Some(10));
    assert_eq!(s.profile(id(1)).unwrap(), Some(p1.clone()));
    assert_eq!(ids(s.profile_by_cid(&cid("u2")).unwrap()), Some(id(2)));
    assert_eq!(ids(s.profile_by_uid(&uid("C"), 0).unwrap()), Some(id(3)));
    assert!(s.profile_by_uid(&uid("C"), 1).unwrap().is_none());
    assert!(s.profile_by_cid(&cid("nobody")).unwrap().is_none());

    // Merge u1 into u2; C is identified as u2 (its anonymous profile retires into u2).
    let merged = profile(2, &["u2", "u1"], &[("A", 0), ("B", 0), ("C", 0)], 8);
    let b2 = StoreBatch {
        applied_lsn: 20,
        upserts: vec![merged.clone()],
        retired: vec![(id(1), id(2)), (id(3), id(2))],
        index: vec![],
    }
    .index_upserts();
    s.apply(&b2).unwrap();
    for lookup in [
        s.profile(id(1)).unwrap(),
        s.profile(id(3)).unwrap(),
        s.profile_by_cid(&cid("u1")).unwrap(),
        s.profile_by_uid(&uid("A"), 0).unwrap(),
        s.profile_by_uid(&uid("C"), 0).unwrap(),
    ] {
        assert_eq!(lookup, Some(merged.clone()));
    }

    // Unmerge: u1 is a profile again (its redirect goes), u2 keeps the rest.
    let p1_again = profile(1, &["u1"], &[("A", 0)], 2);
    let p2_after = profile(2, &["u2"], &[("B", 0), ("C", 0)], 6);
    let b3 = StoreBatch {
        applied_lsn: 30,
        upserts: vec![p1_again.clone(), p2_after.clone()],
        retired: vec![],
        index: vec![],
    }
    .index_upserts();
    s.apply(&b3).unwrap();
    assert_eq!(s.profile(id(1)).unwrap(), Some(p1_again.clone()));
    assert_eq!(ids(s.profile_by_cid(&cid("u1")).unwrap()), Some(id(1)));
    assert_eq!(ids(s.profile_by_uid(&uid("A"), 0).unwrap()), Some(id(1)));
    assert_eq!(ids(s.profile(id(3)).unwrap()), Some(id(2)), "C's old anonymous id still redirects");

    // Idempotent: the same batch again changes nothing; an older one is refused.
    s.apply(&b3).unwrap();
    assert_eq!(s.profile(id(1)).unwrap(), Some(p1_again));
    assert!(matches!(s.apply(&b1), Err(StoreError::StaleBatch { batch: 10, applied: 30 })));
    assert_eq!(s.applied_lsn().unwrap(), Some(30));

    // Redirect chains are followed: 2 -> 4 -> 5.
    let p5 = profile(5, &["u5", "u2", "u4"], &[("B", 0)], 9);
    s.apply(
        &StoreBatch {
            applied_lsn: 40,
            upserts: vec![p5.clone()],
            retired: vec![(id(4), id(5)), (id(2), id(4))],
            index: vec![],
        }
        .index_upserts(),
    )
    .unwrap();
    assert_eq!(s.profile(id(2)).unwrap(), Some(p5.clone()));

    // History is not stored.
    let mut with_history = profile(6, &["u6"], &[], 1);
    with_history.history = vec![1, 2, 3];
    s.apply(
        &StoreBatch { applied_lsn: 50, upserts: vec![with_history], retired: vec![], index: vec![] }.index_upserts(),
    )
    .unwrap();
    assert!(s.profile(id(6)).unwrap().unwrap().history.is_empty());

    s.flush().unwrap();
    s.clear().unwrap();
    assert_eq!(s.applied_lsn().unwrap(), None);
    assert!(s.profile(id(5)).unwrap().is_none());
    assert!(s.profile_by_cid(&cid("u5")).unwrap().is_none());
}

fn sled_in(dir: &std::path::Path) -> SledStore {
    SledStore::open(dir, &SledOptions { cache_bytes: 8 << 20, flush_every_ms: None }).unwrap()
}

fn fjall_in(dir: &std::path::Path) -> FjallStore {
    FjallStore::open(dir, &FjallOptions { cache_bytes: 8 << 20, ..FjallOptions::default() }).unwrap()
}

/// The on-disk stores, opened in `dir` through [`StoreBackend`] (as the engine opens them).
fn on_disk() -> [StoreBackend; 2] {
    [
        StoreBackend::Fjall(FjallOptions { cache_bytes: 8 << 20, ..FjallOptions::default() }),
        StoreBackend::Sled(SledOptions { cache_bytes: 8 << 20, flush_every_ms: None }),
    ]
}

#[test]
fn memory_store_keeps_the_contract() {
    contract(&mut MemoryStore::new());
    contract(&mut *StoreBackend::Memory.open(std::path::Path::new("/nonexistent")).unwrap());
}

#[test]
fn sled_store_keeps_the_contract() {
    let dir = tempfile::tempdir().unwrap();
    contract(&mut sled_in(dir.path()));
}

#[test]
fn fjall_store_keeps_the_contract() {
    let dir = tempfile::tempdir().unwrap();
    contract(&mut fjall_in(dir.path()));
}

#[test]
fn on_disk_stores_persist_across_reopen() {
    for backend in on_disk() {
        let dir = tempfile::tempdir().unwrap();
        let p = profile(1, &["u1"], &[("A", 0)], 3);
        {
            let mut s = backend.open(dir.path()).unwrap();
            s.apply(
                &StoreBatch { applied_lsn: 7, upserts: vec![p.clone()], retired: vec![(id(9), id(1))], index: vec![] }
                    .index_upserts(),
            )
            .unwrap();
            s.flush().unwrap();
        }
        // Reopened at once: the lock of the store just dropped does not stand in the way.
        let mut s = backend.open(dir.path()).unwrap();
        assert_eq!(s.applied_lsn().unwrap(), Some(7), "{}", backend.name());
        assert_eq!(s.profile(id(9)).unwrap(), Some(p.clone()), "{}", backend.name());
        // The redirect set is read back at open: an upsert of the retired id removes its redirect,
        // and the id is the profile again after another reopen.
        let back = profile(9, &["u9"], &[], 1);
        s.apply(
            &StoreBatch { applied_lsn: 8, upserts: vec![back.clone()], retired: vec![], index: vec![] }.index_upserts(),
        )
        .unwrap();
        s.flush().unwrap();
        drop(s);
        let s = backend.open(dir.path()).unwrap();
        assert_eq!(s.profile(id(9)).unwrap(), Some(back), "{}", backend.name());
        assert_eq!(s.profile(id(1)).unwrap(), Some(p), "{}", backend.name());
    }
}

#[test]
fn a_store_in_use_is_an_io_error_not_damage() {
    for backend in on_disk() {
        let dir = tempfile::tempdir().unwrap();
        let _held = backend.open(dir.path()).unwrap();
        let started = std::time::Instant::now();
        let e = backend.open(dir.path()).err().expect("a second open of a store in use fails");
        assert!(e.is_io(), "{}: {e:?}", backend.name());
        assert!(started.elapsed() >= std::time::Duration::from_secs(1), "{}: it waited for the lock", backend.name());
    }
}

/// A store that can write raw bytes under raw keys (the damage tests).
trait Raw: ProfileStore {
    fn raw(&self, k: &[u8], v: &[u8]);
}

impl Raw for SledStore {
    fn raw(&self, k: &[u8], v: &[u8]) {
        self.insert_raw_for_tests(k, v).unwrap();
    }
}

impl Raw for FjallStore {
    fn raw(&self, k: &[u8], v: &[u8]) {
        self.insert_raw_for_tests(k, v).unwrap();
    }
}

/// Damaged values are typed errors naming the key, never a panic or a wrong answer.
fn damaged_values_are_corrupt_errors(s: &mut impl Raw) {
    let p = profile(1, &["u1"], &[("A", 0)], 3);
    s.apply(&StoreBatch { applied_lsn: 7, upserts: vec![p], retired: vec![], index: vec![] }.index_upserts()).unwrap();
    let mut pk = vec![b'p'];
    pk.extend_from_slice(id(1).as_bytes());
    s.raw(&pk, b"\x01garbage");
    assert!(matches!(s.profile(id(1)), Err(StoreError::Corrupt { .. })));
    assert!(matches!(s.profile_by_cid(&cid("u1")), Err(StoreError::Corrupt { .. })));
    // A profile stored under another profile's id.
    let mut other = Vec::new();
    idres_model::encode_profile_into(&profile(4, &[], &[], 0), &mut other).unwrap();
    s.raw(&pk, &other);
    let e = s.profile(id(1)).unwrap_err();
    assert!(e.to_string().contains("holds profile"), "{e}");
    s.raw(b"cu1", b"short");
    assert!(matches!(s.profile_by_cid(&cid("u1")), Err(StoreError::Corrupt { .. })));
    s.raw(b"mapplied", b"xyz");
    assert!(matches!(s.applied_lsn(), Err(StoreError::Corrupt { .. })));
    // A redirect cycle is damage, not a hang.
    let mut r1 = vec![b'r'];
    r1.extend_from_slice(id(2).as_bytes());
    let mut r2 = vec![b'r'];
    r2.extend_from_slice(id(3).as_bytes());
    s.raw(&r1, id(3).as_bytes());
    s.raw(&r2, id(2).as_bytes());
    assert!(matches!(s.profile(id(2)), Err(StoreError::Corrupt { .. })));
}

#[test]
fn damaged_sled_values_are_corrupt_errors() {
    let dir = tempfile::tempdir().unwrap();
    damaged_values_are_corrupt_errors(&mut sled_in(dir.path()));
}

#[test]
fn damaged_fjall_values_are_corrupt_errors() {
    let dir = tempfile::tempdir().unwrap();
    damaged_values_are_corrupt_errors(&mut fjall_in(dir.path()));
}

#[test]
fn sled_splits_a_large_batch_and_keeps_all_of_it() {
    let dir = tempfile::tempdir().unwrap();
    let mut s = sled_in(dir.path());
    // 300 profiles with two CIDs and a device each: 1,200 writes and the applied LSN, more than
    // two sled batches.
    let names: Vec<String> = (0..600).map(|i| format!("c{i}")).collect();
    let devices: Vec<String> = (0..300).map(|i| format!("d{i}")).collect();
    let upserts: Vec<Profile> = (0..300u16)
        .map(|i| {
            let i = usize::from(i);
            let mut p = profile(0, &[&names[2 * i], &names[2 * i + 1]], &[(&devices[i], 0)], 1);
            p.id = Uuid::from_u128(0x9000 + i as u128);
            p
        })
        .collect();
    assert!(upserts.len() * 4 > 2 * SLED_BATCH_OPS_MAX);
    s.apply(&StoreBatch { applied_lsn: 99, upserts: upserts.clone(), retired: vec![], index: vec![] }.index_upserts())
        .unwrap();
    s.flush().unwrap();
    drop(s);
    let s = sled_in(dir.path());
    assert_eq!(s.applied_lsn().unwrap(), Some(99));
    for (i, p) in upserts.iter().enumerate() {
        assert_eq!(s.profile_by_cid(&cid(&names[2 * i + 1])).unwrap().as_ref(), Some(p));
        assert_eq!(s.profile_by_uid(&uid(&devices[i]), 0).unwrap().as_ref(), Some(p));
    }
}

fn batch() -> impl Strategy<Value = StoreBatch> {
    let names = ["u1", "u2", "u3", "u4"];
    let devices = ["A", "B", "C"];
    let upsert =
        (0u8..6, prop::collection::vec(0usize..4, 0..3), prop::collection::vec((0usize..3, 0u32..2), 0..3), 0u64..5)
            .prop_map(move |(n, cs, us, ev)| {
                let cs: Vec<&str> = cs.into_iter().map(|c| names[c]).collect();
                let us: Vec<(&str, u32)> = us.into_iter().map(|(u, e)| (devices[u], e)).collect();
                profile(n, &cs, &us, ev)
            });
    // Index entries of their own besides those of the upserts: an entry may point to any id.
    let entry = (0usize..10, 0u8..6).prop_map(move |(k, n)| {
        let k = if k < 4 {
            IndexKey::Cid(cid(names[k]))
        } else {
            IndexKey::Device(uid(devices[(k - 4) % 3]), (k as u32 - 4) / 3)
        };
        (k, id(n))
    });
    (
        prop::collection::vec(upsert, 0..4),
        prop::collection::vec((0u8..6, 0u8..6), 0..3),
        prop::collection::vec(entry, 0..3),
        any::<bool>(),
    )
        .prop_map(|(upserts, retired, index, index_upserts)| {
            // A profile is either upserted or retired in one batch, never both (the engine coalesces).
            let live: Vec<Uuid> = upserts.iter().map(|p| p.id).collect();
            let retired =
                retired.into_iter().map(|(a, b)| (id(a), id(b))).filter(|(a, b)| !live.contains(a) && a != b).collect();
            let b = StoreBatch { applied_lsn: 0, upserts, retired, index };
            if index_upserts {
                b.index_upserts()
            } else {
                b
            }
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(std::env::var("PROPTEST_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(64)))]

    /// Every on-disk store answers every lookup as the memory store does, after every batch.
    #[test]
    fn on_disk_stores_and_memory_agree(batches in prop::collection::vec(batch(), 1..12)) {
        for backend in on_disk() {
            let dir = tempfile::tempdir().unwrap();
            let mut disk = backend.open(dir.path()).unwrap();
            agree(&mut *disk, &batches)?;
        }
    }
}

/// Applies `batches` to `disk` and to a memory store; every lookup agrees after each.
fn agree(disk: &mut dyn ProfileStore, batches: &[StoreBatch]) -> Result<(), TestCaseError> {
    let mut mem = MemoryStore::new();
    for (i, b) in batches.iter().enumerate() {
        let b = StoreBatch { applied_lsn: i as u64 * 10, ..b.clone() };
        let (a, m) = (disk.apply(&b), mem.apply(&b));
        prop_assert_eq!(a.is_ok(), m.is_ok());
        same_answers(disk, &mem)?;
    }
    Ok(())
}

/// Every lookup of `disk` answers as `mem` does.
fn same_answers(disk: &dyn ProfileStore, mem: &MemoryStore) -> Result<(), TestCaseError> {
    prop_assert_eq!(disk.applied_lsn().unwrap(), mem.applied_lsn().unwrap());
    for n in 0u8..6 {
        let (a, m) = (disk.profile(id(n)), mem.profile(id(n)));
        prop_assert_eq!(a.is_ok(), m.is_ok(), "profile {}", n);
        if let (Ok(a), Ok(m)) = (a, m) {
            prop_assert_eq!(a, m);
        }
    }
    for c in ["u1", "u2", "u3", "u4"] {
        let (a, m) = (disk.profile_by_cid(&cid(c)), mem.profile_by_cid(&cid(c)));
        prop_assert_eq!(a.is_ok(), m.is_ok());
        if let (Ok(a), Ok(m)) = (a, m) {
            prop_assert_eq!(a, m);
        }
    }
    for u in ["A", "B", "C"] {
        for e in 0..2 {
            let (a, m) = (disk.profile_by_uid(&uid(u), e), mem.profile_by_uid(&uid(u), e));
            prop_assert_eq!(a.is_ok(), m.is_ok());
            if let (Ok(a), Ok(m)) = (a, m) {
                prop_assert_eq!(a, m);
            }
        }
    }
    Ok(())
}

/// `b`'s content as a load: its profiles each once (the last upsert of an id wins, as in a
/// batch), in id order.
type Loaded = (Vec<Profile>, Vec<(Uuid, Uuid)>, Vec<(IndexKey, Uuid)>);

fn as_load(b: &StoreBatch) -> Loaded {
    let mut by_id: BTreeMap<Uuid, Profile> = BTreeMap::new();
    for p in &b.upserts {
        by_id.insert(p.id, Profile { history: Vec::new(), ..p.clone() });
    }
    (by_id.into_values().collect(), b.retired.clone(), b.index.clone())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(std::env::var("PROPTEST_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(64)))]

    /// A load into a cleared store answers every lookup as the same content applied as one batch
    /// to an empty memory store, on every backend (fjall's sorted ingestion, sled's and memory's
    /// batches), and still does after a reopen.
    #[test]
    fn a_load_answers_as_the_same_batch_applied(before in batch(), b in batch()) {
        let b = StoreBatch { applied_lsn: 77, ..b };
        let mut mem = MemoryStore::new();
        mem.apply(&b).unwrap();
        let (profiles, retired, index) = as_load(&b);
        let load = |s: &mut dyn ProfileStore| {
            s.apply(&StoreBatch { applied_lsn: 5, ..before.clone() }).unwrap();
            s.clear().unwrap();
            let mut it = profiles.iter().map(EncodedProfile::of);
            s.load(StoreLoad { applied_lsn: 77, profiles: &mut it, retired: retired.clone(), index: index.clone() }).unwrap();
        };
        let mut loaded = MemoryStore::new();
        load(&mut loaded);
        same_answers(&loaded, &mem)?;
        for backend in on_disk() {
            let dir = tempfile::tempdir().unwrap();
            let mut disk = backend.open(dir.path()).unwrap();
            load(&mut *disk);
            same_answers(&*disk, &mem)?;
            drop(disk);
            let disk = backend.open(dir.path()).unwrap();
            same_answers(&*disk, &mem)?;
        }
    }
}

#[test]
fn a_load_out_of_id_order_is_refused_not_a_panic() {
    for backend in on_disk() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = backend.open(dir.path()).unwrap();
        let out_of_order = [profile(2, &["u1"], &[], 1), profile(1, &["u2"], &[], 1)];
        let mut profiles = out_of_order.iter().map(EncodedProfile::of);
        let e = s.load(StoreLoad { applied_lsn: 9, profiles: &mut profiles, retired: vec![], index: vec![] });
        if backend.name() == "fjall" {
            assert!(matches!(e, Err(StoreError::OutOfOrder { id: at }) if at == id(1)), "{e:?}");
            // Nothing of a failed load is in.
            assert_eq!(s.applied_lsn().unwrap(), None);
            assert_eq!(s.profile(id(2)).unwrap(), None);
        }
    }
}

/// A rebuild clears the store and loads it: what it loaded is there after a reopen (fjall's own
/// `Keyspace::clear` is replayed from its journal over tables ingested after it, fjall 3.1.13).
#[test]
fn a_load_after_a_clear_survives_a_reopen() {
    for backend in on_disk() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = backend.open(dir.path()).unwrap();
        let old = profile(3, &["u3"], &[("C", 0)], 1);
        s.apply(&StoreBatch { applied_lsn: 4, upserts: vec![old], ..StoreBatch::default() }.index_upserts()).unwrap();
        s.flush().unwrap();
        s.clear().unwrap();
        assert_eq!(s.applied_lsn().unwrap(), None, "{}", backend.name());
        let p = profile(1, &["u2"], &[("A", 0)], 1);
        let mut profiles = std::iter::once(EncodedProfile::of(&p));
        let index = vec![(IndexKey::Cid(cid("u2")), id(1)), (IndexKey::Device(uid("A"), 0), id(1))];
        s.load(StoreLoad { applied_lsn: 9, profiles: &mut profiles, retired: vec![(id(2), id(1))], index }).unwrap();
        drop(s);
        let s = backend.open(dir.path()).unwrap();
        assert_eq!(s.applied_lsn().unwrap(), Some(9), "{}", backend.name());
        assert_eq!(s.profile(id(2)).unwrap(), Some(p.clone()), "{}", backend.name());
        assert_eq!(s.profile_by_uid(&uid("A"), 0).unwrap(), Some(p), "{}", backend.name());
        assert_eq!(s.profile(id(3)).unwrap(), None, "{}: cleared", backend.name());
        assert_eq!(s.profile_by_cid(&cid("u3")).unwrap(), None, "{}: cleared", backend.name());
    }
}
