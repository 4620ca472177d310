//! Arbitrary bytes as an encoded entry: decoding never panics and never allocates past the
//! limit; whatever decodes re-encodes to the same bytes (one encoding per value), and the edge
//! and fold checks run on it without panicking. `event_view` answers exactly for the bytes that
//! decode to an event of valid shape, with the same fields; `record_view` answers exactly for
//! the bytes that decode to any other record of valid shape, of the same kind and times.
#![no_main]

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};

use idres_model::{
    decode_entry, encode_entry, event_view, record_view, IdValidator, Record, Target, SCHEMA_VERSION,
};
use libfuzzer_sys::fuzz_target;

/// Counts live and peak bytes: libFuzzer's own malloc limit needs a sanitizer, and we fuzz
/// without one, so the bound on decoding memory is checked here.
struct Counting;

static LIVE: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

// SAFETY: forwards to the system allocator unchanged; only counts.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let p = unsafe { System.alloc(layout) };
        if !p.is_null() {
            let live = LIVE.fetch_add(layout.size(), Ordering::Relaxed) + layout.size();
            PEAK.fetch_max(live, Ordering::Relaxed);
        }
        p
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) };
        LIVE.fetch_sub(layout.size(), Ordering::Relaxed);
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

fuzz_target!(|data: &[u8]| {
    let base = LIVE.load(Ordering::Relaxed);
    PEAK.store(base, Ordering::Relaxed);
    let decoded = decode_entry(data);
    let peak = PEAK.load(Ordering::Relaxed).saturating_sub(base);
    // The documented bound (idres_model::codec::CONFIG): about 32 bytes per input byte.
    assert!(peak <= 48 * data.len() + 256 * 1024, "decoding {} bytes peaked at {peak} bytes", data.len());
    let view = event_view(SCHEMA_VERSION, data);
    let valid_event =
        matches!(&decoded, Ok(e) if matches!(e.record, Record::Event { .. }) && e.record.validate_shape().is_ok());
    assert_eq!(view.is_some(), valid_event, "event_view disagrees with the decoder: {view:?}");
    let other = record_view(SCHEMA_VERSION, data);
    let valid_other =
        matches!(&decoded, Ok(e) if !matches!(e.record, Record::Event { .. }) && e.record.validate_shape().is_ok());
    assert_eq!(other.is_some(), valid_other, "record_view disagrees with the decoder: {other:?}");
    let Ok(entry) = decoded else { return };
    if let Some(v) = other {
        assert_eq!(v.record.kind(), entry.record.kind(), "record_view reads another kind");
        assert_eq!(v.appended_at, entry.appended_at);
        assert_eq!(v.effective_ts(), entry.effective_ts());
    }
    if let (Some(v), Record::Event { name, ts, .. }) = (view, &entry.record) {
        assert_eq!((v.name, v.ts, v.appended_at), (name.as_str(), *ts, entry.appended_at));
    }
    let bytes = encode_entry(&entry).expect("a decoded entry must encode");
    assert_eq!(bytes, data, "decode then encode must reproduce the bytes");
    let _ = entry.record.validate_shape();
    let _ = entry.effective_ts();
    let v = IdValidator::default();
    match &entry.record {
        Record::Identify { uid, cid, .. } => {
            let _ = v.check_cid(cid);
            if let Some(u) = uid {
                let _ = v.check_uid(u);
            }
        }
        Record::Reset { uid, .. } => {
            let _ = v.check_uid(uid);
        }
        Record::Event { target, .. } | Record::Attributes { target, .. } => match target {
            Target::Uid(u) => {
                let _ = v.check_uid(u);
            }
            Target::Cid(c) => {
                let _ = v.check_cid(c);
            }
        },
        Record::Merge { from, into } => {
            let _ = v.check_cid(from);
            let _ = v.check_cid(into);
        }
        Record::Unmerge { cid } => {
            let _ = v.check_cid(cid);
        }
        Record::Unlink { uid, cid } => {
            let _ = v.check_uid(uid);
            let _ = v.check_cid(cid);
        }
    }
});
