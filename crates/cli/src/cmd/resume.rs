//! Which of an input's lines the log holds, for `idres ingest --resume`: [`Matcher`] reads the log
//! from where the input's records began (a checkpoint's anchor, `cmd/checkpoint.rs`) and matches
//! its records one by one against what the input's lines parse to, byte for byte but for the
//! append time. What it finds is all a resume trusts: a checkpoint's count of lines done may be
//! stale (batches made durable after its last write) and the log may hold records of another
//! process after the input's; neither can make a line go in twice or not at all.

use std::ops::Range;
use std::path::Path;

use idres::data_dir::DataDir;
use idres_log::{ReadOnlyLog, Reader};
use idres_model::{
    decode_entry_with_schema, encode_record_entry_into, Record, Timestamp, APPENDED_AT_BYTES, CODEC_ID, SCHEMA_VERSION,
};

use crate::cmd::checkpoint::Continued;
use crate::exit;
use crate::lsn;

/// The log's records in LSN order, from a position that can be moved ([`LogCursor`]; a list in
/// the tests).
pub(crate) trait LogRecords {
    /// Reads from `lsn` on next.
    fn seek(&mut self, lsn: u64) -> anyhow::Result<()>;
    /// The next record: its LSN, its frame's schema and its bytes; `None` at the log's end.
    fn next_record(&mut self) -> anyhow::Result<Option<(u64, u16, &[u8])>>;
}

/// The data directory's log, read-only (beside the ingest's own engine, which is idle while it
/// is read), a frame at a time.
pub(crate) struct LogCursor {
    log: ReadOnlyLog,
    reader: Option<Reader>,
    schema: u16,
    buf: Vec<u8>,
    records: Vec<(u64, Range<usize>)>,
    at: usize,
}

impl LogCursor {
    /// Opens the log of `data` read-only; damage is exit 3.
    pub(crate) fn open(data: &Path) -> anyhow::Result<LogCursor> {
        let log =
            ReadOnlyLog::open(DataDir::new(data).log_dir(), Some(CODEC_ID)).map_err(|e| exit(3, e.to_string()))?;
        Ok(LogCursor { log, reader: None, schema: 0, buf: Vec::new(), records: Vec::new(), at: 0 })
    }
}

impl LogRecords for LogCursor {
    fn seek(&mut self, lsn: u64) -> anyhow::Result<()> {
        let lsn = lsn.min(self.log.end_lsn());
        self.reader = Some(self.log.reader(lsn).map_err(|e| exit(3, e.to_string()))?);
        self.records.clear();
        self.at = 0;
        Ok(())
    }

    fn next_record(&mut self) -> anyhow::Result<Option<(u64, u16, &[u8])>> {
        while self.at >= self.records.len() {
            let Some(reader) = self.reader.as_mut() else { return Ok(None) };
            let Some(frame) = reader.next_frame().map_err(|e| exit(3, e.to_string()))? else { return Ok(None) };
            self.buf.clear();
            self.records.clear();
            self.at = 0;
            self.schema = frame.schema;
            for (lsn, bytes) in frame.records() {
                let start = self.buf.len();
                self.buf.extend_from_slice(bytes);
                self.records.push((lsn, start..self.buf.len()));
            }
        }
        let Some((lsn, range)) = self.records.get(self.at).cloned() else { return Ok(None) };
        self.at += 1;
        Ok(self.buf.get(range).map(|bytes| (lsn, self.schema, bytes)))
    }
}

/// Why matching stopped before the input's last line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Stop {
    /// The log ended.
    LogEnd,
    /// The record at this LSN is not what the line parses to (another process's, or the input
    /// changed).
    Other { lsn: u64 },
}

/// Which of an input's lines the log holds, as [`Matcher`] found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Verified {
    /// Lines `1..=lines_in` are in: every record of each is in the log where it belongs.
    pub(crate) lines_in: u64,
    /// The LSNs of the records matched, per stretch reached: the line it starts at, and the range.
    pub(crate) spans: Vec<(u64, Range<u64>)>,
    /// Why it stopped, if before the last line.
    pub(crate) stop: Option<Stop>,
}

impl Verified {
    /// The stretches that hold lines `1..=lines_in`.
    fn spans_in(&self) -> impl Iterator<Item = &Range<u64>> {
        self.spans.iter().filter(|(from, _)| *from <= self.lines_in).map(|(_, r)| r)
    }

    /// One past the LSN of the last record of lines `1..=lines_in` (`None`: no line is in).
    pub(crate) fn end_lsn(&self) -> Option<u64> {
        self.spans_in().last().map(|r| r.end)
    }

    /// The LSNs of the lines that are in, in the CLI's notation (`LSN 0..=99`; `LSN 0..=99, LSN
    /// 150..=199` when other records lie among them; `no records`).
    pub(crate) fn lsn_words(&self) -> String {
        let spans: Vec<String> =
            self.spans_in().filter(|s| !s.is_empty()).map(|s| lsn::range(s.start, s.end)).collect();
        if spans.is_empty() {
            lsn::range(0, 0)
        } else {
            spans.join(", ")
        }
    }
}

/// Matches an input's lines, in order, against the log's records from the checkpoint's anchor
/// on (and from each `continued` LSN on from its line): a line is in if each of its records is
/// the next record of the log, byte for byte but for `appended_at` (the one thing the writer
/// changes: it stamps the time of the append). Whole lines only; the first line that does not
/// match, or meets the log's end, ends it. Lines without records (a bad line set aside, a skipped
/// Segment call) are in whenever the lines before them are.
pub(crate) struct Matcher {
    stretches: Vec<Continued>,
    next: usize,
    spans: Vec<(u64, Range<u64>)>,
    first_out: Option<u64>,
    stop: Option<Stop>,
    scratch: Vec<u8>,
}

impl Matcher {
    /// A matcher of the lines a checkpoint describes: its anchor, and where it continued.
    pub(crate) fn new(anchor: u64, continued: &[Continued]) -> Matcher {
        let mut stretches = vec![Continued { from_line: 1, lsn: anchor }];
        stretches.extend(continued.iter().copied());
        Matcher { stretches, next: 0, spans: Vec::new(), first_out: None, stop: None, scratch: Vec::new() }
    }

    /// Line `n` (not blank) parses to `records` (none for a bad or skipped line).
    pub(crate) fn line(&mut self, n: u64, records: &[Record], log: &mut impl LogRecords) -> anyhow::Result<()> {
        if self.first_out.is_some() {
            return Ok(());
        }
        while let Some(s) = self.stretches.get(self.next).filter(|s| s.from_line <= n).copied() {
            log.seek(s.lsn)?;
            self.spans.push((s.from_line, s.lsn..s.lsn));
            self.next += 1;
        }
        for record in records {
            self.scratch.clear();
            // The line passed the engine's check, which encodes it the same way.
            encode_record_entry_into(Timestamp::from_micros(0), record, &mut self.scratch)
                .map_err(|e| anyhow::anyhow!("line {n}: {e}"))?;
            let stop = match log.next_record()? {
                None => Some(Stop::LogEnd),
                Some((lsn, schema, bytes)) => {
                    // Records of this build's schema compare as bytes (the codec is canonical);
                    // an older schema's (a kill before an upgrade) as decoded records.
                    let same = if schema == SCHEMA_VERSION {
                        bytes.get(APPENDED_AT_BYTES..) == self.scratch.get(APPENDED_AT_BYTES..)
                    } else {
                        decode_entry_with_schema(schema, bytes).is_ok_and(|e| e.record == *record)
                    };
                    if same {
                        if let Some((_, span)) = self.spans.last_mut() {
                            span.end = lsn + 1;
                        }
                        None
                    } else {
                        Some(Stop::Other { lsn })
                    }
                }
            };
            if let Some(stop) = stop {
                self.first_out = Some(n);
                self.stop = Some(stop);
                return Ok(());
            }
        }
        Ok(())
    }

    /// What was found, for an input of `lines` lines.
    pub(crate) fn finish(self, lines: u64) -> Verified {
        Verified { lines_in: self.first_out.map_or(lines, |n| n.saturating_sub(1)), spans: self.spans, stop: self.stop }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use idres_model::{Cid, Map, Target, Uid};

    /// A log held in a list: `(lsn, schema, bytes)` from LSN 0.
    struct ListLog {
        records: Vec<Vec<u8>>,
        at: usize,
        schema: u16,
    }

    impl LogRecords for ListLog {
        fn seek(&mut self, lsn: u64) -> anyhow::Result<()> {
            self.at = (lsn as usize).min(self.records.len());
            Ok(())
        }
        fn next_record(&mut self) -> anyhow::Result<Option<(u64, u16, &[u8])>> {
            let at = self.at;
            self.at += 1;
            Ok(self.records.get(at).map(|b| (at as u64, self.schema, b.as_slice())))
        }
    }

    fn event(i: u64) -> Record {
        Record::Event {
            target: Target::Uid(Uid::parse(&format!("d{i}")).unwrap()),
            name: "view".into(),
            props: Map::new(),
            session_id: None,
            ts: None,
            system: false,
            message_id: None,
        }
    }

    fn other(i: u64) -> Record {
        Record::Unmerge { cid: Cid::parse(&format!("c{i}")).unwrap() }
    }

    /// Encoded as the writer appends it, at some append time.
    fn appended(r: &Record, at: i64) -> Vec<u8> {
        let mut b = Vec::new();
        encode_record_entry_into(Timestamp::from_micros(at), r, &mut b).unwrap();
        b
    }

    /// What a checkpoint with this anchor and these stretches says.
    struct Stretches(u64, Vec<Continued>);

    fn checkpoint(anchor: u64, continued: Vec<Continued>) -> Stretches {
        Stretches(anchor, continued)
    }

    /// Lines: `Some(i)` a line of one record `event(i)`, `None` a line without records.
    fn run(log: Vec<Vec<u8>>, c: &Stretches, lines: &[Option<u64>]) -> Verified {
        let mut log = ListLog { records: log, at: 0, schema: SCHEMA_VERSION };
        let mut m = Matcher::new(c.0, &c.1);
        for (i, line) in lines.iter().enumerate() {
            let records: Vec<Record> = line.iter().map(|&i| event(i)).collect();
            m.line(i as u64 + 1, &records, &mut log).unwrap();
        }
        m.finish(lines.len() as u64)
    }

    /// A kill before an upgrade: the log's records are schema 1, the lines encode as schema 2.
    #[test]
    fn records_of_an_older_schema_are_compared_as_records() {
        let v1 = |r: &Record| {
            let b = appended(r, 3);
            b[..b.len() - 2].to_vec() // an event's schema-2 tail: not system, no message id
        };
        let mut log = ListLog { records: vec![v1(&event(1)), v1(&event(2))], at: 0, schema: 1 };
        let mut m = Matcher::new(0, &[]);
        for (n, i) in [(1, 1), (2, 2), (3, 3)] {
            m.line(n, &[event(i)], &mut log).unwrap();
        }
        assert_eq!(m.finish(3).lines_in, 2);
    }

    #[test]
    fn lines_are_in_up_to_the_first_that_is_not_and_append_times_do_not_matter() {
        // Two records before the input's, then lines 1..=3 of five.
        let mut log = vec![appended(&other(0), 5), appended(&other(1), 6)];
        log.extend((1..=3).map(|i| appended(&event(i), 1_000 + i as i64)));
        let lines: Vec<Option<u64>> = (1..=5).map(Some).collect();
        let v = run(log.clone(), &checkpoint(2, vec![]), &lines);
        assert_eq!(v, Verified { lines_in: 3, spans: vec![(1, 2..5)], stop: Some(Stop::LogEnd) });
        assert_eq!(v.lsn_words(), "LSN 2..=4");
        // Every line in: nothing stops it.
        let v = run(log.clone(), &checkpoint(2, vec![]), &lines[..3]);
        assert_eq!(v, Verified { lines_in: 3, spans: vec![(1, 2..5)], stop: None });
        // A record of someone else where line 4 would be: it stops there, not at the log's end.
        let mut more = log.clone();
        more.push(appended(&other(9), 7));
        more.push(appended(&event(4), 8));
        let v = run(more, &checkpoint(2, vec![]), &lines);
        assert_eq!(v, Verified { lines_in: 3, spans: vec![(1, 2..5)], stop: Some(Stop::Other { lsn: 5 }) });
        // A wrong anchor matches nothing.
        let v = run(log, &checkpoint(1, vec![]), &lines);
        assert_eq!(v, Verified { lines_in: 0, spans: vec![(1, 1..1)], stop: Some(Stop::Other { lsn: 1 }) });
        assert_eq!(v.lsn_words(), "no records");
    }

    #[test]
    fn lines_without_records_are_in_when_the_lines_before_them_are() {
        let log = vec![appended(&event(1), 0), appended(&event(3), 0)];
        // Line 2 is bad or skipped; line 4 too, and after the log's end; line 5 has a record.
        let v = run(log.clone(), &checkpoint(0, vec![]), &[Some(1), None, Some(3), None, Some(5)]);
        assert_eq!((v.lines_in, v.stop), (4, Some(Stop::LogEnd)));
        let v = run(log, &checkpoint(0, vec![]), &[Some(1), None, Some(3), None]);
        assert_eq!((v.lines_in, v.stop, v.spans), (4, None, vec![(1, 0..2)]));
    }

    #[test]
    fn a_line_whose_records_differ_in_anything_but_the_append_time_is_not_in() {
        let mut changed = event(2);
        if let Record::Event { name, .. } = &mut changed {
            *name = "click".into();
        }
        let log = vec![appended(&event(1), 0), appended(&changed, 0)];
        let v = run(log, &checkpoint(0, vec![]), &[Some(1), Some(2)]);
        assert_eq!((v.lines_in, v.stop), (1, Some(Stop::Other { lsn: 1 })));
    }

    #[test]
    fn a_continued_stretch_is_read_from_its_own_lsn() {
        // Lines 1..=2 at LSN 0..=1, another process's record at 2, lines 3..=4 from LSN 3.
        let log = vec![
            appended(&event(1), 0),
            appended(&event(2), 0),
            appended(&other(0), 0),
            appended(&event(3), 0),
            appended(&event(4), 0),
        ];
        let c = checkpoint(0, vec![Continued { from_line: 3, lsn: 3 }]);
        let v = run(log.clone(), &c, &[Some(1), Some(2), Some(3), Some(4), Some(5)]);
        assert_eq!(v, Verified { lines_in: 4, spans: vec![(1, 0..2), (3, 3..5)], stop: Some(Stop::LogEnd) });
        assert_eq!(v.lsn_words(), "LSN 0..=1, LSN 3..=4");
        // A stretch reached at the line that is not in holds none of the lines that are.
        let c = checkpoint(0, vec![Continued { from_line: 2, lsn: 3 }]);
        let v = run(log.clone(), &c, &[Some(1), Some(2)]);
        assert_eq!((v.lines_in, v.end_lsn(), v.lsn_words()), (1, Some(1), "LSN 0..=0".to_string()));
        // Without the stretch, the other record stops it at line 3.
        let v = run(log, &checkpoint(0, vec![]), &[Some(1), Some(2), Some(3)]);
        assert_eq!((v.lines_in, v.stop), (2, Some(Stop::Other { lsn: 2 })));
    }
}
