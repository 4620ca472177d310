//! The bytes of the log: the segment header, the frame header and the frame payload's record table.
//!
//! Everything here is a pure function over byte slices: no files, no allocation of sizes read from
//! the bytes before they are checked. docs/FORMAT.md describes the same layout for readers of the
//! files; the two must change together (and bump [`FORMAT_VERSION`]).
//!
//! All integers are little-endian. Checksums are CRC-32C (Castagnoli).

use crate::Lsn;

/// The first eight bytes of every segment file.
pub const SEGMENT_MAGIC: [u8; 8] = *b"IDRESLOG";
/// The version of this byte format. A reader refuses any other version.
pub const FORMAT_VERSION: u16 = 1;
/// Size of the segment header at the start of every segment file.
pub const SEGMENT_HEADER_BYTES: usize = 64;
/// Size of the header in front of every frame's payload.
pub const FRAME_HEADER_BYTES: usize = 24;
/// The only frame kind of format version 1: a batch of records.
pub const FRAME_KIND_RECORDS: u16 = 1;
/// Bytes of the record count at the start of a payload.
const COUNT_BYTES: usize = 4;
/// Bytes of one record length in the payload's table.
const RECORD_LEN_BYTES: usize = 4;
/// The smallest possible payload (an empty record table). Also why an all-zero frame header can
/// never be a frame: its `len` would be 0.
pub const PAYLOAD_BYTES_MIN: usize = COUNT_BYTES;

/// The decoded segment header.
///
/// Layout (64 bytes): `magic [8] | format_version u16 | codec_id u16 | flags u32 | segment_seq u64 |
/// base_lsn u64 | log_id [16] | reserved [12] (zero) | crc32c u32` where the CRC covers bytes 0..60.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SegmentHeader {
    /// Which payload codec the log's owner writes (opaque to the log; checked on open).
    pub codec_id: u16,
    /// Position of this segment in the log: 0, 1, 2, … without gaps.
    pub segment_seq: u64,
    /// LSN of the first record that this segment holds (or would hold).
    pub base_lsn: Lsn,
    /// Random id of the log, the same in every segment: segments of two logs never mix.
    pub log_id: [u8; 16],
}

/// Why a segment header was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HeaderProblem {
    /// Fewer than [`SEGMENT_HEADER_BYTES`] bytes.
    Short(usize),
    /// The magic bytes are not [`SEGMENT_MAGIC`].
    Magic,
    /// The stored CRC does not match the header bytes.
    Crc {
        /// CRC stored in the header.
        stored: u32,
        /// CRC computed over the header bytes.
        computed: u32,
    },
    /// A format version this build does not read.
    Version(u16),
    /// Flags or reserved bytes that are not zero.
    Reserved,
}

impl std::fmt::Display for HeaderProblem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            HeaderProblem::Short(n) => write!(f, "segment header truncated ({n} of {SEGMENT_HEADER_BYTES} bytes)"),
            HeaderProblem::Magic => write!(f, "not an idres segment (bad magic)"),
            HeaderProblem::Crc { stored, computed } => {
                write!(f, "segment header checksum mismatch (stored {stored:#010x}, computed {computed:#010x})")
            }
            HeaderProblem::Version(v) => {
                write!(f, "segment format version {v} is not supported (this build reads {FORMAT_VERSION})")
            }
            HeaderProblem::Reserved => write!(f, "segment header flags or reserved bytes are not zero"),
        }
    }
}

fn u16_at(buf: &[u8], at: usize) -> u16 {
    let mut b = [0u8; 2];
    b.copy_from_slice(&buf[at..at + 2]);
    u16::from_le_bytes(b)
}

fn u32_at(buf: &[u8], at: usize) -> u32 {
    let mut b = [0u8; 4];
    b.copy_from_slice(&buf[at..at + 4]);
    u32::from_le_bytes(b)
}

fn u64_at(buf: &[u8], at: usize) -> u64 {
    let mut b = [0u8; 8];
    b.copy_from_slice(&buf[at..at + 8]);
    u64::from_le_bytes(b)
}

impl SegmentHeader {
    /// The 64 bytes of this header.
    pub fn encode(&self) -> [u8; SEGMENT_HEADER_BYTES] {
        let mut b = [0u8; SEGMENT_HEADER_BYTES];
        b[0..8].copy_from_slice(&SEGMENT_MAGIC);
        b[8..10].copy_from_slice(&FORMAT_VERSION.to_le_bytes());
        b[10..12].copy_from_slice(&self.codec_id.to_le_bytes());
        // 12..16 flags: zero in version 1.
        b[16..24].copy_from_slice(&self.segment_seq.to_le_bytes());
        b[24..32].copy_from_slice(&self.base_lsn.to_le_bytes());
        b[32..48].copy_from_slice(&self.log_id);
        // 48..60 reserved: zero.
        let crc = crc32c::crc32c(&b[0..60]);
        b[60..64].copy_from_slice(&crc.to_le_bytes());
        b
    }

    /// Parses and checks a header from the first [`SEGMENT_HEADER_BYTES`] of `buf`.
    pub fn decode(buf: &[u8]) -> Result<SegmentHeader, HeaderProblem> {
        if buf.len() < SEGMENT_HEADER_BYTES {
            return Err(HeaderProblem::Short(buf.len()));
        }
        let b = &buf[..SEGMENT_HEADER_BYTES];
        if b[0..8] != SEGMENT_MAGIC {
            return Err(HeaderProblem::Magic);
        }
        let stored = u32_at(b, 60);
        let computed = crc32c::crc32c(&b[0..60]);
        if stored != computed {
            return Err(HeaderProblem::Crc { stored, computed });
        }
        let version = u16_at(b, 8);
        if version != FORMAT_VERSION {
            return Err(HeaderProblem::Version(version));
        }
        if u32_at(b, 12) != 0 || b[48..60].iter().any(|&x| x != 0) {
            return Err(HeaderProblem::Reserved);
        }
        let mut log_id = [0u8; 16];
        log_id.copy_from_slice(&b[32..48]);
        Ok(SegmentHeader { codec_id: u16_at(b, 10), segment_seq: u64_at(b, 16), base_lsn: u64_at(b, 24), log_id })
    }
}

/// The decoded fixed part of a frame.
///
/// Layout (24 bytes): `crc32c u32 | len u32 | first_lsn u64 | kind u16 | schema u16 | flags u32`,
/// then `len` bytes of payload. The CRC covers bytes 4..24 of the header and the whole payload.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FrameHeader {
    /// CRC-32C stored in the frame.
    pub crc: u32,
    /// Payload length in bytes.
    pub len: u32,
    /// LSN of the frame's first record.
    pub first_lsn: Lsn,
    /// Frame kind; version 1 knows only [`FRAME_KIND_RECORDS`].
    pub kind: u16,
    /// The payload schema version given by the log's owner (opaque to the log).
    pub schema: u16,
    /// Flags; zero in version 1.
    pub flags: u32,
}

impl FrameHeader {
    /// Reads the 24 header bytes without checking anything. `None` if `buf` is shorter.
    pub fn parse(buf: &[u8]) -> Option<FrameHeader> {
        if buf.len() < FRAME_HEADER_BYTES {
            return None;
        }
        Some(FrameHeader {
            crc: u32_at(buf, 0),
            len: u32_at(buf, 4),
            first_lsn: u64_at(buf, 8),
            kind: u16_at(buf, 16),
            schema: u16_at(buf, 18),
            flags: u32_at(buf, 20),
        })
    }

    /// Total bytes of the frame: header plus payload.
    pub fn frame_bytes(&self) -> u64 {
        FRAME_HEADER_BYTES as u64 + u64::from(self.len)
    }
}

/// True if `buf` starts with an all-zero frame header: the end of the written part of a segment
/// (segments are preallocated with zeros, and no valid frame has `len == 0`).
pub fn is_zero_header(buf: &[u8]) -> bool {
    buf.len() >= FRAME_HEADER_BYTES && buf[..FRAME_HEADER_BYTES].iter().all(|&b| b == 0)
}

/// Why a frame was refused. The caller adds the segment and offset.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FrameProblem {
    /// Fewer bytes remain than a frame header.
    ShortHeader {
        /// Bytes that remain.
        remaining: u64,
    },
    /// `len` is below the minimum payload or above the configured limit.
    BadLength {
        /// The stored length.
        len: u32,
        /// The configured limit.
        max: u32,
    },
    /// The frame claims more bytes than remain in the segment.
    PastEnd {
        /// Bytes the frame claims (header + payload).
        frame_bytes: u64,
        /// Bytes that remain in the segment.
        remaining: u64,
    },
    /// The CRC does not match.
    Crc {
        /// CRC stored in the frame.
        stored: u32,
        /// CRC computed over the frame.
        computed: u32,
    },
    /// A frame kind this build does not know.
    Kind(u16),
    /// Non-zero flags.
    Flags(u32),
    /// The frame's first LSN does not continue the log.
    LsnGap {
        /// The LSN that should come next.
        expected: Lsn,
        /// The frame's first LSN.
        found: Lsn,
    },
    /// The record table does not add up to the payload length.
    RecordTable,
    /// The frame's records would run past the largest LSN.
    LsnOverflow,
}

impl std::fmt::Display for FrameProblem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            FrameProblem::ShortHeader { remaining } => {
                write!(f, "frame header truncated ({remaining} of {FRAME_HEADER_BYTES} bytes)")
            }
            FrameProblem::BadLength { len, max } => {
                write!(f, "frame length {len} outside {PAYLOAD_BYTES_MIN}..={max}")
            }
            FrameProblem::PastEnd { frame_bytes, remaining } => {
                write!(f, "frame of {frame_bytes} bytes runs past the end of the segment ({remaining} bytes remain)")
            }
            FrameProblem::Crc { stored, computed } => {
                write!(f, "frame checksum mismatch (stored {stored:#010x}, computed {computed:#010x})")
            }
            FrameProblem::Kind(k) => write!(f, "unknown frame kind {k}"),
            FrameProblem::Flags(x) => write!(f, "unknown frame flags {x:#x}"),
            FrameProblem::LsnGap { expected, found } => {
                write!(f, "LSN gap: expected a frame starting at LSN {expected}, found {found}")
            }
            FrameProblem::RecordTable => write!(f, "record table does not match the payload length"),
            FrameProblem::LsnOverflow => write!(f, "frame runs past the largest LSN"),
        }
    }
}

/// A frame that passed every check: header fields and the (still borrowed) payload.
#[derive(Debug, Clone, Copy)]
pub struct FrameRef<'a> {
    /// The frame header.
    pub header: FrameHeader,
    /// Number of records in the payload.
    pub count: u32,
    /// The payload bytes (record table and records).
    pub payload: &'a [u8],
}

impl FrameRef<'_> {
    /// One past the LSN of this frame's last record.
    pub fn end_lsn(&self) -> Lsn {
        self.header.first_lsn + u64::from(self.count)
    }
}

/// The CRC of a frame: over header bytes 4..24, then the payload.
pub fn frame_crc(header: &[u8], payload: &[u8]) -> u32 {
    let c = crc32c::crc32c(&header[4..FRAME_HEADER_BYTES]);
    crc32c::crc32c_append(c, payload)
}

/// Checks the record table of a payload: `count u32 | count × len u32 | records`, `count >= 1`.
/// Returns the record count. Allocates nothing.
pub fn check_record_table(payload: &[u8]) -> Result<u32, FrameProblem> {
    if payload.len() < COUNT_BYTES {
        return Err(FrameProblem::RecordTable);
    }
    let count = u32_at(payload, 0);
    // An empty batch is never written (it would take no LSN), so a zero count is damage.
    if count == 0 {
        return Err(FrameProblem::RecordTable);
    }
    let table_end = (count as usize)
        .checked_mul(RECORD_LEN_BYTES)
        .and_then(|t| t.checked_add(COUNT_BYTES))
        .ok_or(FrameProblem::RecordTable)?;
    if table_end > payload.len() {
        return Err(FrameProblem::RecordTable);
    }
    let mut total: u64 = 0;
    for i in 0..count as usize {
        total += u64::from(u32_at(payload, COUNT_BYTES + i * RECORD_LEN_BYTES));
    }
    if total != (payload.len() - table_end) as u64 {
        return Err(FrameProblem::RecordTable);
    }
    Ok(count)
}

/// Parses and fully checks the frame at the start of `buf` (which holds the rest of the segment).
///
/// `expected_lsn` is the LSN the frame must start at; `payload_max` the configured limit on `len`.
/// The length is checked against the limit and the bytes that remain before anything else.
pub fn decode_frame(buf: &[u8], expected_lsn: Lsn, payload_max: u32) -> Result<FrameRef<'_>, FrameProblem> {
    let header = FrameHeader::parse(buf).ok_or(FrameProblem::ShortHeader { remaining: buf.len() as u64 })?;
    if (header.len as usize) < PAYLOAD_BYTES_MIN || header.len > payload_max {
        return Err(FrameProblem::BadLength { len: header.len, max: payload_max });
    }
    let remaining = buf.len() as u64;
    if header.frame_bytes() > remaining {
        return Err(FrameProblem::PastEnd { frame_bytes: header.frame_bytes(), remaining });
    }
    let payload = &buf[FRAME_HEADER_BYTES..FRAME_HEADER_BYTES + header.len as usize];
    let computed = frame_crc(buf, payload);
    if computed != header.crc {
        return Err(FrameProblem::Crc { stored: header.crc, computed });
    }
    if header.kind != FRAME_KIND_RECORDS {
        return Err(FrameProblem::Kind(header.kind));
    }
    if header.flags != 0 {
        return Err(FrameProblem::Flags(header.flags));
    }
    let count = check_record_table(payload)?;
    if header.first_lsn != expected_lsn {
        return Err(FrameProblem::LsnGap { expected: expected_lsn, found: header.first_lsn });
    }
    if header.first_lsn.checked_add(u64::from(count)).is_none() {
        return Err(FrameProblem::LsnOverflow);
    }
    Ok(FrameRef { header, count, payload })
}

/// The records of a checked payload, in order.
/// On a payload that did not pass [`check_record_table`] it yields what it can and never panics.
pub fn records(payload: &[u8]) -> RecordIter<'_> {
    let count = if payload.len() >= COUNT_BYTES { u32_at(payload, 0) } else { 0 };
    let table_end = COUNT_BYTES.saturating_add((count as usize).saturating_mul(RECORD_LEN_BYTES));
    RecordIter { payload, count, index: 0, data_at: table_end }
}

/// Iterator over the records of a payload that passed [`check_record_table`].
#[derive(Debug, Clone)]
pub struct RecordIter<'a> {
    payload: &'a [u8],
    count: u32,
    index: u32,
    data_at: usize,
}

impl<'a> Iterator for RecordIter<'a> {
    type Item = &'a [u8];

    fn next(&mut self) -> Option<&'a [u8]> {
        if self.index >= self.count {
            return None;
        }
        // Reads through `get`: on a payload that was not checked this ends early, never panics.
        let at = COUNT_BYTES + self.index as usize * RECORD_LEN_BYTES;
        let len_bytes: [u8; 4] = self.payload.get(at..at + RECORD_LEN_BYTES)?.try_into().ok()?;
        let len = u32::from_le_bytes(len_bytes) as usize;
        let rec = self.payload.get(self.data_at..self.data_at.checked_add(len)?)?;
        self.index += 1;
        self.data_at += len;
        Some(rec)
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        (0, Some(self.count.saturating_sub(self.index) as usize))
    }
}

/// Appends one whole frame (header and payload) for `records` to `out`.
///
/// The payload is the record table followed by the records. The caller has checked the size limit.
pub fn encode_frame<'r>(
    out: &mut Vec<u8>,
    first_lsn: Lsn,
    schema: u16,
    count: u32,
    lens: impl Iterator<Item = u32>,
    data: impl Iterator<Item = &'r [u8]>,
) {
    let start = out.len();
    out.extend_from_slice(&[0u8; FRAME_HEADER_BYTES]);
    out.extend_from_slice(&count.to_le_bytes());
    for l in lens {
        out.extend_from_slice(&l.to_le_bytes());
    }
    for d in data {
        out.extend_from_slice(d);
    }
    let len = (out.len() - start - FRAME_HEADER_BYTES) as u32;
    let h = &mut out[start..start + FRAME_HEADER_BYTES];
    h[4..8].copy_from_slice(&len.to_le_bytes());
    h[8..16].copy_from_slice(&first_lsn.to_le_bytes());
    h[16..18].copy_from_slice(&FRAME_KIND_RECORDS.to_le_bytes());
    h[18..20].copy_from_slice(&schema.to_le_bytes());
    h[20..24].copy_from_slice(&0u32.to_le_bytes());
    let (head, payload) = out[start..].split_at(FRAME_HEADER_BYTES);
    let crc = frame_crc(head, payload);
    out[start..start + 4].copy_from_slice(&crc.to_le_bytes());
}

/// Searches `buf[from..]` for any offset where a frame passes every check and starts after
/// `after_lsn` (the LSN the damaged frame should have started at).
///
/// Recovery uses this to tell a torn tail (nothing valid follows) from damage in the middle of the
/// log (valid frames follow a bad one). Cheap filters run before the CRC, so scanning garbage is
/// linear.
pub fn find_valid_frame_after(buf: &[u8], from: usize, after_lsn: Lsn, payload_max: u32) -> Option<usize> {
    let last = buf.len().checked_sub(FRAME_HEADER_BYTES)?;
    let mut at = from;
    while at <= last {
        let h = &buf[at..];
        let len = u32_at(h, 4);
        let first_lsn = u64_at(h, 8);
        let plausible = len as usize >= PAYLOAD_BYTES_MIN
            && len <= payload_max
            && first_lsn > after_lsn
            && u16_at(h, 16) == FRAME_KIND_RECORDS
            && u32_at(h, 20) == 0
            && (FRAME_HEADER_BYTES as u64 + u64::from(len)) <= h.len() as u64;
        if plausible && decode_frame(h, first_lsn, payload_max).is_ok() {
            return Some(at);
        }
        at += 1;
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(first: Lsn, recs: &[&[u8]]) -> Vec<u8> {
        let mut out = Vec::new();
        encode_frame(&mut out, first, 7, recs.len() as u32, recs.iter().map(|r| r.len() as u32), recs.iter().copied());
        out
    }

    #[test]
    fn frame_round_trip_and_records() {
        let f = frame(42, &[b"abc", b"", b"defg"]);
        let r = decode_frame(&f, 42, 1 << 20).unwrap();
        assert_eq!(r.count, 3);
        assert_eq!(r.header.schema, 7);
        assert_eq!(r.end_lsn(), 45);
        let recs: Vec<&[u8]> = records(r.payload).collect();
        assert_eq!(recs, vec![&b"abc"[..], &b""[..], &b"defg"[..]]);
        assert_eq!(f.len(), FRAME_HEADER_BYTES + 4 + 12 + 7);
    }

    #[test]
    fn zero_header_never_parses() {
        let z = [0u8; 64];
        assert!(is_zero_header(&z));
        assert!(matches!(decode_frame(&z, 0, 1 << 20), Err(FrameProblem::BadLength { len: 0, .. })));
    }

    #[test]
    fn wrong_lsn_is_a_gap() {
        let f = frame(5, &[b"x"]);
        assert_eq!(decode_frame(&f, 6, 1 << 20).unwrap_err(), FrameProblem::LsnGap { expected: 6, found: 5 });
    }

    #[test]
    fn length_checked_against_limit_and_remaining() {
        let f = frame(0, &[&[1u8; 100]]);
        assert!(matches!(decode_frame(&f, 0, 50), Err(FrameProblem::BadLength { .. })));
        assert!(matches!(decode_frame(&f[..f.len() - 1], 0, 1 << 20), Err(FrameProblem::PastEnd { .. })));
    }

    #[test]
    fn header_round_trip_and_checks() {
        let h = SegmentHeader { codec_id: 1, segment_seq: 3, base_lsn: 999, log_id: [9; 16] };
        let b = h.encode();
        assert_eq!(SegmentHeader::decode(&b).unwrap(), h);
        for i in 0..SEGMENT_HEADER_BYTES {
            let mut c = b;
            c[i] ^= 0x10;
            assert!(SegmentHeader::decode(&c).is_err(), "flip at {i} accepted");
        }
        assert_eq!(SegmentHeader::decode(&b[..10]), Err(HeaderProblem::Short(10)));
    }

    #[test]
    fn finds_frame_after_garbage() {
        let mut buf = vec![0xAAu8; 37];
        buf.extend_from_slice(&frame(10, &[b"hello"]));
        assert_eq!(find_valid_frame_after(&buf, 0, 3, 1 << 20), Some(37));
        assert_eq!(find_valid_frame_after(&buf, 0, 10, 1 << 20), None);
    }
}
