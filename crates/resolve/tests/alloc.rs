//! The event path allocates nothing per event in steady state: once a device's node exists and
//! the event names are known, folding more events onto it performs no heap allocation (a counting
//! global allocator checks it) but the amortised growth of the events arena, which doubles. In the
//! measured window 100 nodes' events grow from ~130 to ~2 100 bytes each (7 growths by half a
//! node, inside the arena, on its free lists): the arena grows a few times, where one allocation
//! per event would be 100 000 and one per node growth 700.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, unsafe_code)]

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

use idres_model::{Entry, Map, Record, Target, Timestamp, Uid, Value};
use idres_resolve::{Config, Resolver};

struct Counting;

thread_local! {
    // Per thread: the test harness runs tests on parallel threads.
    static ALLOCATIONS: Cell<usize> = const { Cell::new(0) };
}

fn allocations() -> usize {
    ALLOCATIONS.with(Cell::get)
}

fn count() {
    // `try_with`: a thread being torn down still allocates.
    let _ = ALLOCATIONS.try_with(|c| c.set(c.get() + 1));
}

// SAFETY: forwards to the system allocator unchanged; only counts calls.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        count();
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        count();
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

/// Events per device at the end of the measured window (it starts after 65).
const STEADY_END: usize = 1065;
/// Allocations allowed in the window: the arena's doublings from ~13 kB to ~300 kB are five.
const ALLOCATIONS_MAX: usize = 8;

fn event(device: usize, name: &str, i: i64) -> Entry {
    let mut props = Map::new();
    props.insert("url".into(), Value::String("https://shop.example/p/1".into()));
    props.insert("qty".into(), Value::Int(i));
    Entry {
        appended_at: Timestamp(1_000 + i),
        record: Record::Event {
            // Text uids: the path that used to copy the uid for every record.
            target: Target::Uid(Uid::from_wire_bytes(format!("device-{device}").into_bytes())),
            name: name.into(),
            props,
            session_id: Some("s-1".into()),
            ts: Some(Timestamp(i)),
            system: false,
            message_id: None,
        },
    }
}

#[test]
fn events_on_known_devices_allocate_nothing() {
    const DEVICES: usize = 100;
    let names = ["view", "buy", "open"];
    // Build every entry first: building them allocates, folding them must not.
    let warm: Vec<Entry> = (0..65).flat_map(|i| (0..DEVICES).map(move |d| event(d, names[i % 3], i as i64))).collect();
    let steady: Vec<Entry> =
        (65..STEADY_END).flat_map(|i| (0..DEVICES).map(move |d| event(d, names[i % 3], i as i64))).collect();
    let mut r = Resolver::new(Config::default());
    let mut lsn = 0;
    for e in &warm {
        r.apply(lsn, e).unwrap();
        r.drain_changes().for_each(drop);
        lsn += 1;
    }
    let before = allocations();
    for e in &steady {
        r.apply(lsn, e).unwrap();
        r.drain_changes().for_each(drop);
        lsn += 1;
    }
    let allocations = allocations() - before;
    assert!(allocations <= ALLOCATIONS_MAX, "{allocations} allocations while folding {} events", steady.len());
    // The events were really folded.
    let p = r.profile_by_uid(&Uid::from_wire_bytes(b"device-7".to_vec())).unwrap();
    assert_eq!(p.event_count, STEADY_END as u64);
}

#[test]
fn encoded_events_on_known_devices_allocate_nothing() {
    // As above, from the bytes the log holds: reading the event in place decodes nothing.
    const DEVICES: usize = 100;
    let names = ["view", "buy", "open"];
    let encode = |i: usize, d: usize| idres_model::encode_entry(&event(d, names[i % 3], i as i64)).unwrap();
    let warm: Vec<Vec<u8>> = (0..65).flat_map(|i| (0..DEVICES).map(move |d| encode(i, d))).collect();
    let steady: Vec<Vec<u8>> = (65..STEADY_END).flat_map(|i| (0..DEVICES).map(move |d| encode(i, d))).collect();
    let mut r = Resolver::new(Config::default());
    let mut lsn = 0;
    for bytes in &warm {
        r.apply_encoded(lsn, idres_model::SCHEMA_VERSION, bytes).unwrap();
        r.drain_changes().for_each(drop);
        lsn += 1;
    }
    let before = allocations();
    for bytes in &steady {
        r.apply_encoded(lsn, idres_model::SCHEMA_VERSION, bytes).unwrap();
        r.drain_changes().for_each(drop);
        lsn += 1;
    }
    let allocations = allocations() - before;
    assert!(allocations <= ALLOCATIONS_MAX, "{allocations} allocations while folding {} encoded events", steady.len());
    let p = r.profile_by_uid(&Uid::from_wire_bytes(b"device-7".to_vec())).unwrap();
    assert_eq!(p.event_count, STEADY_END as u64);
}
