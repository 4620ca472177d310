//! Arbitrary record sequences through the fold: no panic; a snapshot taken at a point chosen by
//! the input restores and, folded on, gives the same digest as the uninterrupted fold; the
//! snapshot of the final state restores to the same digest; folding the encoded records
//! (`apply_encoded`, which reads events in place, with the change stream off after the restore)
//! gives that digest too.
#![no_main]

use idres_model::{encode_entry, Cid, Entry, Map, Record, Target, Timestamp, Uid, Value, SCHEMA_VERSION};
use idres_resolve::{Config, OnCidConflict, Resolver};
use libfuzzer_sys::fuzz_target;

const UIDS: [&str; 5] = ["A", "B", "C", "{6BA7B810-9DAD-11D1-80B4-00C04FD430C8}", "undefined"];
const CIDS: [&str; 5] = ["u1", "u2", "u3", "null", " x"];
const KEYS: [&str; 3] = ["a", "b", "c"];

struct Bytes<'a>(&'a [u8]);

impl Bytes<'_> {
    fn next(&mut self) -> Option<u8> {
        let (&b, rest) = self.0.split_first()?;
        self.0 = rest;
        Some(b)
    }
}

fn record(b: &mut Bytes<'_>) -> Option<Record> {
    let op = b.next()?;
    let x = b.next()? as usize;
    let y = b.next()? as usize;
    let uid = |i: usize| Uid::from_wire_bytes(UIDS[i % UIDS.len()].as_bytes().to_vec());
    let cid = |i: usize| Cid::from_wire_bytes(CIDS[i % CIDS.len()].as_bytes().to_vec());
    let ts = if y & 0x80 != 0 { None } else { Some(Timestamp((y & 0x3f) as i64)) };
    let map = |v: usize| -> Map {
        (0..v % 3).map(|i| (KEYS[(v + i) % 3].to_string(), Value::Int((v >> 2) as i64 - 8))).collect()
    };
    Some(match op % 9 {
        0 | 1 => Record::Event {
            target: if op & 0x40 != 0 { Target::Cid(cid(x)) } else { Target::Uid(uid(x)) },
            name: ["view", "buy"][y % 2].into(),
            props: Map::new(),
            session_id: (x & 0x80 != 0).then(|| format!("s{}", y % 3)),
            ts,
            system: op & 0x20 != 0,
            message_id: (y & 0x40 != 0).then(|| format!("m{}", x % 4)),
        },
        2 | 3 => Record::Identify {
            uid: (op & 0x40 == 0).then(|| uid(x)),
            cid: cid(y),
            attrs: map(x ^ y),
            ts,
            message_id: (y & 0x40 != 0).then(|| format!("m{}", x % 4)),
        },
        4 => Record::Attributes {
            target: if op & 0x40 != 0 { Target::Cid(cid(x)) } else { Target::Uid(uid(x)) },
            set: map(y),
            set_once: map(y >> 3),
            unset: (0..(y >> 5) % 2).map(|i| KEYS[i].to_string()).collect(),
            ts,
            // System attributes belong to a device: on a cid the fold rejects the record.
            system: op & 0x20 != 0,
            message_id: (y & 0x40 != 0).then(|| format!("m{}", x % 4)),
        },
        5 => Record::Reset { uid: uid(x), ts },
        6 => Record::Merge { from: cid(x), into: cid(y) },
        7 => Record::Unmerge { cid: cid(x) },
        _ => Record::Unlink { uid: uid(x), cid: cid(y) },
    })
}

fuzz_target!(|data: &[u8]| {
    let Some((&setup, rest)) = data.split_first() else { return };
    let config = Config {
        max_devices_per_profile: u32::from(setup % 4) + 1,
        max_customers_per_profile: u32::from((setup >> 2) % 4) + 1,
        on_cid_conflict: if setup & 0x10 != 0 { OnCidConflict::Reject } else { OnCidConflict::ImplicitReset },
        // Times are 0..64 µs: a gap of 0 (off), 3 or 9 µs makes several inferred sessions.
        session_gap_us: [0, 3, 9, 3][usize::from(setup >> 5) % 4],
        ..Config::default()
    };
    let mut b = Bytes(rest);
    let mut log = Vec::new();
    while let Some(r) = record(&mut b) {
        log.push(Entry { appended_at: Timestamp(log.len() as i64 * 2), record: r });
        if log.len() >= 200 {
            break;
        }
    }
    let cut = if log.is_empty() { 0 } else { usize::from(setup) % (log.len() + 1) };
    let mut full = Resolver::new(config.clone());
    let mut snap = None;
    for (i, e) in log.iter().enumerate() {
        if i == cut {
            snap = Some(full.snapshot().expect("snapshot"));
        }
        full.apply(i as u64, e).expect("in order");
        let _ = full.drain_changes().count();
    }
    let snap = snap.unwrap_or_else(|| full.snapshot().expect("snapshot"));
    let digest = full.digest();
    let mut restored = Resolver::restore(&snap, config.clone()).expect("restore own snapshot");
    for (i, e) in log.iter().enumerate().skip(restored.next_lsn() as usize) {
        restored.apply(i as u64, e).expect("in order");
    }
    assert_eq!(restored.digest(), digest, "restore at {cut} then fold differs");
    assert_eq!(restored.sessions_digest(), full.sessions_digest(), "restore at {cut}: sessions differ");
    let mut encoded = Resolver::new(config.clone());
    for (i, e) in log.iter().enumerate() {
        if i == cut {
            encoded = Resolver::restore(&encoded.snapshot().expect("snapshot"), config.clone()).expect("restore");
            encoded.set_change_tracking(false);
        }
        let bytes = encode_entry(e).expect("encode");
        encoded.apply_encoded(i as u64, SCHEMA_VERSION, &bytes).expect("in order");
        let _ = encoded.drain_changes().count();
    }
    assert_eq!(encoded.digest(), digest, "the encoded fold differs");
    assert_eq!(encoded.sessions_digest(), full.sessions_digest(), "the encoded fold's sessions differ");
    let last = Resolver::restore(&full.snapshot().expect("snapshot"), config).expect("restore");
    assert_eq!(last.digest(), digest);
    assert_eq!(last.sessions_digest(), full.sessions_digest());
    assert_eq!(last.profiles(), full.profiles());
    for u in UIDS {
        let _ = full.explain_uid(&Uid::from_wire_bytes(u.as_bytes().to_vec()));
    }
    for c in CIDS {
        let _ = full.explain_cid(&Cid::from_wire_bytes(c.as_bytes().to_vec()));
    }
});
