//! Decoding allocates in proportion to the bytes really present: a counting global allocator
//! measures the peak live bytes while hostile and worst-case inputs are decoded.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::print_stderr, unsafe_code)]

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

use idres_model::{decode_entry, encode_entry, Entry, Map, Record, Target, Timestamp, Uid, Value};

struct Counting;

static LIVE: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);
/// Tests in this file run one at a time: the counters are global.
static SERIAL: Mutex<()> = Mutex::new(());

// SAFETY: forwards every call to the system allocator unchanged; only counts bytes.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let p = unsafe { System.alloc(layout) };
        if !p.is_null() {
            let live = LIVE.fetch_add(layout.size(), Ordering::SeqCst) + layout.size();
            PEAK.fetch_max(live, Ordering::SeqCst);
        }
        p
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) };
        LIVE.fetch_sub(layout.size(), Ordering::SeqCst);
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

/// Peak bytes allocated (above what was live before) while decoding `bytes`.
fn peak_while_decoding(bytes: &[u8]) -> (usize, bool) {
    let base = LIVE.load(Ordering::SeqCst);
    PEAK.store(base, Ordering::SeqCst);
    let ok = decode_entry(bytes).is_ok();
    (PEAK.load(Ordering::SeqCst) - base, ok)
}

/// The documented bound: about 32 bytes of `Value` per input byte, plus growth slack.
fn bound(len: usize) -> usize {
    48 * len + 256 * 1024
}

fn event(props: Map) -> Entry {
    Entry {
        appended_at: Timestamp::from_micros(1),
        record: Record::Event {
            target: Target::Uid(Uid::from_wire_bytes(b"device".to_vec())),
            name: "e".into(),
            props,
            session_id: None,
            ts: None,
            system: false,
            message_id: None,
        },
    }
}

#[test]
fn lists_of_nulls_stay_within_the_bound() {
    let _g = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    // ~1 MiB of lists of nulls: the largest amplification a valid record allows.
    let mut props = Map::new();
    for k in 0..1000 {
        props.insert(format!("k{k:04}"), Value::List(vec![Value::Null; 1000]));
    }
    let bytes = encode_entry(&event(props)).unwrap();
    assert!(bytes.len() > 1_000_000);
    let (peak, ok) = peak_while_decoding(&bytes);
    assert!(ok);
    assert!(peak <= bound(bytes.len()), "peak {peak} for {} input bytes", bytes.len());
    eprintln!("lists of nulls: {} input bytes, peak {peak} ({:.1}x)", bytes.len(), peak as f64 / bytes.len() as f64);
}

#[test]
fn claimed_counts_without_bytes_reserve_little() {
    let _g = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    // A valid prefix up to the props map, then 16 nested lists each claiming 1024 entries, and
    // the input ends: every claim is a lie.
    let head = encode_entry(&event(Map::new())).unwrap();
    // The props map is the last-but-four field: its count (8 bytes, 0) sits before the
    // session-id and ts option tags, the system byte and the message-id option tag (4 bytes).
    // Replace from there.
    let mut bytes = head[..head.len() - 12].to_vec();
    bytes.extend_from_slice(&1u64.to_le_bytes()); // one prop
    bytes.extend_from_slice(&1u64.to_le_bytes());
    bytes.push(b'k');
    for _ in 0..16 {
        bytes.push(5); // list tag
        bytes.extend_from_slice(&1024u64.to_le_bytes());
    }
    let (peak, ok) = peak_while_decoding(&bytes);
    assert!(!ok);
    // It failed where the bytes ran out, deep in the lists, not earlier.
    let err = decode_entry(&bytes).unwrap_err();
    assert!(format!("{err:?}").contains("UnexpectedEnd"), "{err:?}");
    assert!(peak <= 64 * 1024, "peak {peak} for {} hostile bytes", bytes.len());
}

#[test]
fn long_strings_claimed_but_absent_allocate_nothing_big() {
    let _g = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let head = encode_entry(&event(Map::new())).unwrap();
    let mut bytes = head[..head.len() - 12].to_vec();
    bytes.extend_from_slice(&1u64.to_le_bytes());
    bytes.extend_from_slice(&1u64.to_le_bytes());
    bytes.push(b'k');
    bytes.push(4); // string tag
    bytes.extend_from_slice(&(60_000u64).to_le_bytes()); // within the limit, but absent
    let (peak, ok) = peak_while_decoding(&bytes);
    assert!(!ok);
    let err = decode_entry(&bytes).unwrap_err();
    assert!(format!("{err:?}").contains("UnexpectedEnd"), "{err:?}");
    assert!(peak < 4096, "peak {peak}");
}
