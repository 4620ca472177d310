//! Forged snapshots with valid checksums and config hash: restore either refuses them or gives a
//! state that can take more records and be read (profiles, explain, digest, snapshot) without a
//! panic, and whose snapshot restores to the same digest.
#![no_main]

use std::sync::OnceLock;

use idres_model::{Cid, Entry, Map, Record, Target, Timestamp, Uid};
use idres_resolve::{Config, Resolver, SNAPSHOT_HEADER_BYTES};
use libfuzzer_sys::fuzz_target;

fn uid(s: &str) -> Uid {
    Uid::from_wire_bytes(s.as_bytes().to_vec())
}

fn cid(s: &str) -> Cid {
    Cid::from_wire_bytes(s.as_bytes().to_vec())
}

fn log() -> Vec<Record> {
    let ev = |u: &str| Record::Event { target: Target::Uid(uid(u)), name: "view".into(), props: Map::new(), session_id: None, ts: None, system: false, message_id: None };
    let id = |u: &str, c: &str| Record::Identify { uid: Some(uid(u)), cid: cid(c), attrs: Map::new(), ts: None, message_id: None };
    vec![
        ev("A"),
        id("A", "u1"),
        id("B", "u2"),
        Record::Merge { from: cid("u1"), into: cid("u2") },
        id("A", "u3"),
        id("C", "null"),
        Record::Reset { uid: uid("B"), ts: None },
        ev("B"),
        Record::Unmerge { cid: cid("u1") },
        Record::Unlink { uid: uid("A"), cid: cid("u3") },
        // Version 5's parts: an explicit session, a system event, system attributes.
        Record::Event {
            target: Target::Uid(uid("B")),
            name: "screen".into(),
            props: Map::new(),
            session_id: Some("s1".into()),
            ts: None,
            system: true,
            message_id: None,
        },
        Record::Attributes {
            target: Target::Uid(uid("B")),
            set: [("os.name".to_string(), idres_model::Value::Bool(true))].into_iter().collect(),
            set_once: Map::new(),
            unset: Vec::new(),
            ts: None,
            system: true,
            message_id: None,
        },
    ]
}

fn base() -> &'static Vec<u8> {
    static BASE: OnceLock<Vec<u8>> = OnceLock::new();
    BASE.get_or_init(|| {
        let mut r = Resolver::new(Config::default());
        for (i, rec) in log().into_iter().enumerate() {
            r.apply(i as u64, &Entry { appended_at: Timestamp(i as i64), record: rec }).expect("in order");
        }
        r.snapshot().expect("snapshot")
    })
}

fn crc32c(b: &[u8]) -> u32 {
    let mut crc = !0u32;
    for &byte in b {
        crc ^= u32::from(byte);
        for _ in 0..8 {
            crc = if crc & 1 == 1 { (crc >> 1) ^ 0x82F6_3B78 } else { crc >> 1 };
        }
    }
    !crc
}

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else { return };
    let mut snap = base().clone();
    if mode & 1 == 0 {
        // Mutate the real body: (offset u16, xor u8) triples.
        for t in rest.chunks_exact(3) {
            let body_len = snap.len() - SNAPSHOT_HEADER_BYTES;
            let at = SNAPSHOT_HEADER_BYTES + usize::from(u16::from_le_bytes([t[0], t[1]])) % body_len;
            snap[at] ^= t[2];
        }
    } else {
        snap.truncate(SNAPSHOT_HEADER_BYTES);
        snap.extend_from_slice(rest);
    }
    // Mode bit 1: claim version 3, so that the body is read with its last section, the
    // forgotten rejections (which only a state past REJECTIONS_KEPT_MAX rejections has: a base
    // that large would slow every run, so the section's checks are reached from forged bodies).
    if mode & 2 != 0 {
        snap[8..10].copy_from_slice(&idres_resolve::SNAPSHOT_VERSION.to_le_bytes());
    }
    // Make the header agree with whatever body there is.
    let body_len = (snap.len() - SNAPSHOT_HEADER_BYTES) as u64;
    let lsn = snap.get(SNAPSHOT_HEADER_BYTES..SNAPSHOT_HEADER_BYTES + 8).map_or([0u8; 8], |b| {
        let mut a = [0u8; 8];
        a.copy_from_slice(b);
        a
    });
    snap[16..24].copy_from_slice(&lsn);
    snap[56..64].copy_from_slice(&body_len.to_le_bytes());
    let body_crc = crc32c(&snap[SNAPSHOT_HEADER_BYTES..]);
    snap[64..68].copy_from_slice(&body_crc.to_le_bytes());
    let head_crc = crc32c(&snap[..68]);
    snap[68..72].copy_from_slice(&head_crc.to_le_bytes());

    let Ok(mut r) = Resolver::restore(&snap, Config::default()) else { return };
    let start = r.next_lsn();
    for (i, rec) in log().into_iter().enumerate() {
        let Some(lsn) = start.checked_add(i as u64) else { break };
        // Near the end of the LSN space apply refuses with a typed error; that is the contract.
        if r.apply(lsn, &Entry { appended_at: Timestamp(i as i64), record: rec }).is_err() {
            break;
        }
        let _ = r.drain_changes().count();
    }
    let _ = r.profiles();
    for u in ["A", "B", "C"] {
        let _ = r.explain_uid(&uid(u));
        let _ = r.profile_by_uid(&uid(u));
    }
    for c in ["u1", "u2", "u3", "null"] {
        let _ = r.explain_cid(&cid(c));
    }
    let digest = r.digest();
    let again = Resolver::restore(&r.snapshot().expect("snapshot"), Config::default()).expect("own snapshot restores");
    assert_eq!(again.digest(), digest);
});
