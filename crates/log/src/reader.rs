//! Reading the log from any LSN: find the segment by its base LSN (no scan of earlier segments),
//! skip frames by their headers to the one that holds the LSN, then check every frame it returns.

use std::fs::File;
use std::ops::Range;
use std::os::unix::fs::FileExt;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};

use crate::error::{Damage, LogError};
use crate::format::{
    self, decode_frame, is_zero_header, FrameHeader, FrameProblem, FRAME_HEADER_BYTES, SEGMENT_HEADER_BYTES,
};
use crate::segment::{SegmentInfo, READ_PAYLOAD_LIMIT};
use crate::Lsn;

/// Bytes read from a segment at a time.
const WINDOW_BYTES: usize = 1 << 20;

/// State the writer shares with readers on other threads.
pub(crate) struct Shared {
    pub dir: PathBuf,
    pub segments: RwLock<Vec<SegmentInfo>>,
    /// Every record below this LSN has been written (maybe not yet synced).
    pub written_end: AtomicU64,
    /// Every record below this LSN has been synced.
    pub durable_end: AtomicU64,
}

/// A cheap, cloneable handle for reading a log that another thread is writing.
#[derive(Clone)]
pub struct ReadHandle {
    shared: Arc<Shared>,
}

impl std::fmt::Debug for ReadHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ReadHandle").field("dir", &self.shared.dir).field("end_lsn", &self.end_lsn()).finish()
    }
}

impl ReadHandle {
    pub(crate) fn new(shared: Arc<Shared>) -> ReadHandle {
        ReadHandle { shared }
    }

    /// The log's 16-byte id (every segment header carries it); `None` if the directory holds no
    /// segment (only a read-only open of an empty directory).
    pub fn log_id(&self) -> Option<[u8; 16]> {
        self.shared.segments.read().unwrap_or_else(|e| e.into_inner()).first().map(|s| s.header.log_id)
    }

    /// One past the last record written so far.
    pub fn end_lsn(&self) -> Lsn {
        self.shared.written_end.load(Ordering::Acquire)
    }

    /// One past the last record synced to disk.
    pub fn durable_lsn(&self) -> Lsn {
        self.shared.durable_end.load(Ordering::Acquire)
    }

    /// A reader of the records from `from` to the end written when the reader is made.
    pub fn reader(&self, from: Lsn) -> Result<Reader, LogError> {
        self.reader_range(from, self.end_lsn())
    }

    /// A reader of the records from `from` up to (not including) `to`.
    pub fn reader_range(&self, from: Lsn, to: Lsn) -> Result<Reader, LogError> {
        let end = self.end_lsn();
        let segments = self.shared.segments.read().unwrap_or_else(|e| e.into_inner()).clone();
        let start = segments.first().map_or(0, |s| s.header.base_lsn);
        if from < start || from > to || to > end {
            let lsn = if to > end { to } else { from };
            return Err(LogError::LsnOutOfRange { lsn, start, end });
        }
        Reader::new(segments, from, to)
    }
}

/// One frame as read: the records from the reader's start LSN on.
#[derive(Debug, Clone, Copy)]
pub struct ReadFrame<'a> {
    /// LSN of the frame's first record (it may lie before the reader's start LSN).
    pub first_lsn: Lsn,
    /// Records in the frame.
    pub count: u32,
    /// The payload schema version the owner stored.
    pub schema: u16,
    /// The LSNs at or after this one are yielded by [`ReadFrame::records`].
    from: Lsn,
    /// Up to this LSN (exclusive).
    to: Lsn,
    payload: &'a [u8],
}

impl<'a> ReadFrame<'a> {
    /// The frame's records in the reader's range, with their LSNs, in order.
    pub fn records(&self) -> impl Iterator<Item = (Lsn, &'a [u8])> + 'a {
        let (from, to, first) = (self.from, self.to, self.first_lsn);
        format::records(self.payload)
            .enumerate()
            .map(move |(i, r)| (first + i as u64, r))
            .filter(move |(lsn, _)| *lsn >= from && *lsn < to)
    }

    /// One past the LSN of the frame's last record.
    pub fn end_lsn(&self) -> Lsn {
        self.first_lsn + u64::from(self.count)
    }
}

struct Window {
    file: File,
    file_len: u64,
    buf: Vec<u8>,
    start: u64,
}

impl Window {
    /// Makes `len` bytes from `at` (fewer if the file ends) available; returns their range in `buf`.
    fn ensure(&mut self, path: &std::path::Path, at: u64, len: usize) -> Result<Range<usize>, LogError> {
        let avail = self.file_len.saturating_sub(at);
        let want = (len as u64).min(avail) as usize;
        let buf_end = self.start + self.buf.len() as u64;
        if at >= self.start && at + want as u64 <= buf_end {
            let s = (at - self.start) as usize;
            return Ok(s..s + want);
        }
        // `want` never exceeds what the file holds, so this allocation is bounded by the file.
        let read_len = (want.max(WINDOW_BYTES) as u64).min(avail) as usize;
        self.buf.clear();
        self.buf.resize(read_len, 0);
        self.file.read_exact_at(&mut self.buf, at).map_err(|e| LogError::io("read segment", path, e))?;
        self.start = at;
        Ok(0..want)
    }
}

/// Reads frames of a log in LSN order, checking each (CRC, length, LSN continuity across frames
/// and segments). Damage is [`LogError::Corrupt`] naming segment and offset; a reader never
/// returns bytes that failed a check.
pub struct Reader {
    segments: Vec<SegmentInfo>,
    seg: usize,
    from: Lsn,
    to: Lsn,
    /// The LSN the next frame must start at.
    expected: Lsn,
    offset: u64,
    window: Option<Window>,
}

impl Reader {
    fn new(segments: Vec<SegmentInfo>, from: Lsn, to: Lsn) -> Result<Reader, LogError> {
        let seg = segments.partition_point(|s| s.header.base_lsn <= from).saturating_sub(1);
        let expected = segments.get(seg).map_or(from, |s| s.header.base_lsn);
        let mut r = Reader { segments, seg, from, to, expected, offset: SEGMENT_HEADER_BYTES as u64, window: None };
        r.skip_to_from()?;
        Ok(r)
    }

    fn path(&self) -> PathBuf {
        self.segments.get(self.seg).map(|s| s.path.clone()).unwrap_or_default()
    }

    fn corrupt(&self, offset: u64, damage: Damage) -> LogError {
        LogError::corrupt(self.path(), offset, self.expected, damage)
    }

    fn open_segment(&mut self) -> Result<(), LogError> {
        let Some(info) = self.segments.get(self.seg) else {
            return Err(LogError::corrupt(
                PathBuf::new(),
                0,
                self.expected,
                Damage::SegmentEndsEarly { ends_at: self.expected, next_base: self.to },
            ));
        };
        let path = info.path.clone();
        let file = File::open(&path).map_err(|e| LogError::io("open segment", &path, e))?;
        let file_len = file.metadata().map_err(|e| LogError::io("stat segment", &path, e))?.len();
        let mut w = Window { file, file_len, buf: Vec::new(), start: 0 };
        let r = w.ensure(&path, 0, SEGMENT_HEADER_BYTES)?;
        let header = format::SegmentHeader::decode(&w.buf[r])
            .map_err(|p| LogError::corrupt(&path, 0, self.expected, Damage::Header(p)))?;
        if header != info.header {
            return Err(LogError::corrupt(&path, 0, self.expected, Damage::HeaderChanged));
        }
        if header.base_lsn != self.expected {
            return Err(LogError::corrupt(
                &path,
                24,
                self.expected,
                Damage::BaseLsnGap { expected: self.expected, found: header.base_lsn },
            ));
        }
        self.window = Some(w);
        self.offset = SEGMENT_HEADER_BYTES as u64;
        Ok(())
    }

    /// Reads the header of the frame at the current offset. `None` at the end of the segment's
    /// frames (end of file or zeros, or, in a sealed segment, the next segment's base LSN: what
    /// follows is its unused tail, whatever bytes it holds).
    fn peek_header(&mut self) -> Result<Option<(FrameHeader, u32)>, LogError> {
        if self.segments.get(self.seg + 1).is_some_and(|next| next.header.base_lsn == self.expected) {
            return Ok(None);
        }
        if self.window.is_none() {
            self.open_segment()?;
        }
        let path = self.path();
        let offset = self.offset;
        let Some(w) = self.window.as_mut() else { return Ok(None) };
        let r = w.ensure(&path, offset, FRAME_HEADER_BYTES + 4)?;
        let bytes = &w.buf[r];
        if bytes.len() < FRAME_HEADER_BYTES || is_zero_header(bytes) {
            return Ok(None);
        }
        let Some(h) = FrameHeader::parse(bytes) else { return Ok(None) };
        let remaining = w.file_len - offset;
        if (h.len as usize) < format::PAYLOAD_BYTES_MIN || h.len > READ_PAYLOAD_LIMIT {
            return Err(
                self.corrupt(offset, Damage::Frame(FrameProblem::BadLength { len: h.len, max: READ_PAYLOAD_LIMIT }))
            );
        }
        if h.frame_bytes() > remaining {
            return Err(
                self.corrupt(offset, Damage::Frame(FrameProblem::PastEnd { frame_bytes: h.frame_bytes(), remaining }))
            );
        }
        if h.first_lsn != self.expected {
            return Err(self
                .corrupt(offset, Damage::Frame(FrameProblem::LsnGap { expected: self.expected, found: h.first_lsn })));
        }
        let mut c = [0u8; 4];
        c.copy_from_slice(&bytes[FRAME_HEADER_BYTES..FRAME_HEADER_BYTES + 4]);
        let count = u32::from_le_bytes(c);
        if count == 0 {
            return Err(self.corrupt(offset, Damage::Frame(FrameProblem::RecordTable)));
        }
        Ok(Some((h, count)))
    }

    /// Moves to the next segment when the current one's frames end; checks continuity.
    fn next_segment(&mut self) -> Result<(), LogError> {
        let offset = self.offset;
        match self.segments.get(self.seg + 1) {
            Some(next) if next.header.base_lsn == self.expected => {
                self.seg += 1;
                self.window = None;
                self.offset = SEGMENT_HEADER_BYTES as u64;
                Ok(())
            }
            Some(next) => {
                let next_base = next.header.base_lsn;
                Err(self.corrupt(offset, Damage::SegmentEndsEarly { ends_at: self.expected, next_base }))
            }
            None => Err(self.corrupt(offset, Damage::SegmentEndsEarly { ends_at: self.expected, next_base: self.to })),
        }
    }

    /// Skips whole frames (by header, without reading payloads) up to the one holding `from`.
    fn skip_to_from(&mut self) -> Result<(), LogError> {
        while self.expected < self.from {
            match self.peek_header()? {
                None => self.next_segment()?,
                Some((h, count)) => {
                    let end = h.first_lsn + u64::from(count);
                    if end > self.from {
                        return Ok(());
                    }
                    self.offset += h.frame_bytes();
                    self.expected = end;
                }
            }
        }
        Ok(())
    }

    /// Where the frames of sealed segment `info` end: `(end LSN, byte offset)`, found by walking
    /// frame headers only (lengths, LSN continuity and record counts are checked; CRCs are not)
    /// up to `next_base`, where the next segment begins. The third value is the offset of the
    /// first non-zero byte after the frames (in the unused zero tail), if any.
    pub(crate) fn segment_end(info: &SegmentInfo, next_base: Lsn) -> Result<(Lsn, u64, Option<u64>), LogError> {
        let base = info.header.base_lsn;
        // A stand-in for the next segment, so that the walk stops at its base LSN.
        let next =
            SegmentInfo { path: PathBuf::new(), header: format::SegmentHeader { base_lsn: next_base, ..info.header } };
        let mut r = Reader {
            segments: vec![info.clone(), next],
            seg: 0,
            from: base,
            to: Lsn::MAX,
            expected: base,
            offset: SEGMENT_HEADER_BYTES as u64,
            window: None,
        };
        while let Some((h, count)) = r.peek_header()? {
            r.offset += h.frame_bytes();
            r.expected += u64::from(count);
        }
        let stray = if r.expected == next_base { r.stray_after(&info.path)? } else { None };
        Ok((r.expected, r.offset, stray))
    }

    /// The first non-zero byte from the current offset to the end of the open segment.
    fn stray_after(&mut self, path: &std::path::Path) -> Result<Option<u64>, LogError> {
        // No window: the walk stopped before reading a frame, which only a sealed segment with no
        // frame (its base LSN equal to the next one's, which file names exclude) would do.
        let Some(w) = self.window.as_mut() else { return Ok(None) };
        let mut at = self.offset;
        while at < w.file_len {
            let r = w.ensure(path, at, WINDOW_BYTES)?;
            let n = r.len() as u64;
            if let Some(p) = crate::segment::first_nonzero(&w.buf[r], 0) {
                return Ok(Some(at + p));
            }
            at += n.max(1);
        }
        Ok(None)
    }

    /// The next frame that holds records in the reader's range, or `None` at the end.
    pub fn next_frame(&mut self) -> Result<Option<ReadFrame<'_>>, LogError> {
        if self.expected >= self.to {
            return Ok(None);
        }
        let (h, _) = loop {
            match self.peek_header()? {
                None => self.next_segment()?,
                Some(x) => break x,
            }
        };
        let path = self.path();
        let offset = self.offset;
        let expected = self.expected;
        let Some(w) = self.window.as_mut() else { return Ok(None) };
        let range = w.ensure(&path, offset, h.frame_bytes() as usize)?;
        let frame = match decode_frame(&w.buf[range.clone()], expected, READ_PAYLOAD_LIMIT) {
            Ok(f) => f,
            Err(p) => return Err(LogError::corrupt(path, offset, expected, Damage::Frame(p))),
        };
        let count = frame.count;
        let end = frame.end_lsn();
        self.offset += h.frame_bytes();
        self.expected = end;
        let payload_range = range.start + FRAME_HEADER_BYTES..range.end;
        let payload = match self.window.as_ref() {
            Some(w) => &w.buf[payload_range],
            None => return Ok(None),
        };
        Ok(Some(ReadFrame { first_lsn: h.first_lsn, count, schema: h.schema, from: self.from, to: self.to, payload }))
    }

    /// Calls `f` with every record in the range and its LSN, in order.
    pub fn for_each_record(&mut self, mut f: impl FnMut(Lsn, &[u8])) -> Result<(), LogError> {
        while let Some(frame) = self.next_frame()? {
            for (lsn, rec) in frame.records() {
                f(lsn, rec);
            }
        }
        Ok(())
    }
}
