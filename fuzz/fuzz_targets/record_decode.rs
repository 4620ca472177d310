//! Arbitrary bytes as an encoded entry: decoding never panics and never allocates past the
//! limit; whatever decodes re-encodes to the same bytes (one encoding per value), and the edge
//! and fold checks run on it without panicking. `event_view` answers exactly for the bytes that
//! decode to an event of valid shape, with the same fields; `record_view` answers exactly for
//! the bytes that decode to any other record of valid shape, of the same kind and times. Each
//! input is tried as a record of every schema this build reads (1 and 2).
#![no_main]

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};

use idres_model::{
    decode_entry, decode_entry_with_schema, encode_entry, event_view, record_view, IdValidator, Record, Target,
    SCHEMA_VERSION, SCHEMA_VERSION_OLDEST,
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
    // The same bytes as a schema-2 record (what this build writes) and as a schema-1 record (what
    // older logs hold): each schema's decoder and views must agree with each other.
    let mut current = None;
    for schema in [SCHEMA_VERSION, SCHEMA_VERSION_OLDEST] {
        let base = LIVE.load(Ordering::Relaxed);
        PEAK.store(base, Ordering::Relaxed);
        let decoded = decode_entry_with_schema(schema, data);
        let peak = PEAK.load(Ordering::Relaxed).saturating_sub(base);
        // The documented bound (idres_model::codec::CONFIG): about 32 bytes per input byte.
        assert!(peak <= 48 * data.len() + 256 * 1024, "decoding {} bytes peaked at {peak} bytes", data.len());
        let view = event_view(schema, data);
        let valid_event =
            matches!(&decoded, Ok(e) if matches!(e.record, Record::Event { .. }) && e.record.validate_shape().is_ok());
        assert_eq!(view.is_some(), valid_event, "event_view disagrees with the decoder (schema {schema}): {view:?}");
        let other = record_view(schema, data);
        let valid_other =
            matches!(&decoded, Ok(e) if !matches!(e.record, Record::Event { .. }) && e.record.validate_shape().is_ok());
        assert_eq!(other.is_some(), valid_other, "record_view disagrees with the decoder (schema {schema}): {other:?}");
        let Ok(entry) = decoded else { continue };
        if let Some(v) = other {
            assert_eq!(v.record.kind(), entry.record.kind(), "record_view reads another kind");
            assert_eq!(v.appended_at, entry.appended_at);
            assert_eq!(v.effective_ts(), entry.effective_ts());
        }
        if let (Some(v), Record::Event { name, ts, system, message_id, .. }) = (view, &entry.record) {
            assert_eq!((v.name, v.ts, v.appended_at), (name.as_str(), *ts, entry.appended_at));
            assert_eq!((v.system, v.message_id), (*system, message_id.as_deref()));
        }
        let bytes = encode_entry(&entry).expect("a decoded entry must encode");
        if schema == SCHEMA_VERSION {
            assert_eq!(bytes, data, "decode then encode must reproduce the bytes");
            current = Some(entry);
        } else {
            // Schema 1 has no tail: written again, it is its bytes and the schema-2 defaults.
            assert!(!entry.record.is_system() && entry.record.message_id().is_none());
            assert!(bytes.starts_with(data), "a schema-1 record re-encodes to its bytes and a tail");
            assert_eq!(decode_entry(&bytes).expect("re-encoded"), entry);
        }
    }
    let Some(entry) = current else { return };
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
