//! Arbitrary bytes as a frame and as a segment header: checks never panic, never read out of
//! bounds, and anything accepted re-encodes to the same bytes.
#![no_main]

use idres_log::format::{self, decode_frame, find_valid_frame_after, SegmentHeader};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let limit = 1 << 20;
    // The expected LSN is the frame's own (when there is a header) so that the checks after the
    // CRC are reached too.
    let expected = format::FrameHeader::parse(data).map_or(0, |h| h.first_lsn);
    if let Ok(frame) = decode_frame(data, expected, limit) {
        let records: Vec<&[u8]> = format::records(frame.payload).collect();
        assert_eq!(records.len(), frame.count as usize);
        let mut out = Vec::new();
        format::encode_frame(
            &mut out,
            frame.header.first_lsn,
            frame.header.schema,
            frame.count,
            records.iter().map(|r| r.len() as u32),
            records.iter().copied(),
        );
        assert_eq!(&out[..], &data[..out.len()], "accepted frame does not re-encode to its bytes");
    }
    let _ = decode_frame(data, 0, limit);
    let _ = find_valid_frame_after(data, 0, expected, limit);
    if let Ok(h) = SegmentHeader::decode(data) {
        assert_eq!(&h.encode()[..], &data[..64]);
    }
});
