//! Arbitrary bytes as an encoded entry: decoding never panics and never allocates past the
//! limit; whatever decodes re-encodes to the same bytes (one encoding per value), and the edge
//! and fold checks run on it without panicking.
#![no_main]

use idres_model::{decode_entry, encode_entry, IdValidator, Record, Target};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(entry) = decode_entry(data) else { return };
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
