//! Reading an input's lines in bounded memory: [`LineReader`] and the line limit
//! [`LINE_BYTES_MAX`]. A line longer than the limit is reported by its length and skipped as it
//! is read; it is never held whole.

use std::io::{self, BufRead};

use idres_model::limits::RECORD_BYTES_MAX;

/// Longest input line, in bytes (its newline and a trailing CR not counted): four records'
/// worth ([`RECORD_BYTES_MAX`]). A line holds one record, whose JSON text is larger than its
/// encoding (quoted keys, escapes, a Segment line's `context` that is read and dropped): four
/// times leaves room for that; a line past it could not become a record anyway, or barely. A
/// longer line is a bad line ("line longer than N bytes") found while it is read, so reading
/// takes at most this much memory whatever the input.
pub const LINE_BYTES_MAX: usize = 4 * RECORD_BYTES_MAX;

/// One line of an input.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Line<'a> {
    /// The line, without its newline and a trailing CR.
    Text(&'a [u8]),
    /// A line longer than the reader's limit: skipped, only its length is known (without its
    /// newline).
    TooLong {
        /// Its length in bytes.
        bytes: u64,
    },
}

/// Reads lines of at most `max` bytes from a buffered input: its buffer never grows past `max`
/// bytes, whatever the input holds.
pub struct LineReader<R> {
    input: R,
    buf: Vec<u8>,
    max: usize,
    number: u64,
}

impl<R: BufRead> LineReader<R> {
    /// A reader of lines of at most `max` bytes (use [`LINE_BYTES_MAX`]).
    pub fn new(input: R, max: usize) -> LineReader<R> {
        LineReader { input, buf: Vec::new(), max, number: 0 }
    }

    /// The number of the line [`LineReader::next_line`] returned last (1-based; 0 before the first).
    pub fn line_number(&self) -> u64 {
        self.number
    }

    /// The line buffer's capacity: at most the limit, always.
    pub fn capacity(&self) -> usize {
        self.buf.capacity()
    }

    /// The next line and its number, or `None` at the end of the input. A last line without a
    /// newline is a line.
    pub fn next_line(&mut self) -> io::Result<Option<(u64, Line<'_>)>> {
        self.buf.clear();
        // Bytes of the line seen so far (the buffer holds the first `max` of them), and its last.
        let mut len: u64 = 0;
        let mut last = None;
        let mut any = false;
        loop {
            let chunk = match self.input.fill_buf() {
                Ok(c) => c,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            };
            if chunk.is_empty() {
                if !any {
                    return Ok(None);
                }
                break;
            }
            any = true;
            let (part, used, done) = match chunk.iter().position(|&b| b == b'\n') {
                Some(at) => (&chunk[..at], at + 1, true),
                None => (chunk, chunk.len(), false),
            };
            len += part.len() as u64;
            last = part.last().copied().or(last);
            let room = self.max.saturating_sub(self.buf.len());
            push_bounded(&mut self.buf, &part[..part.len().min(room)], self.max);
            self.input.consume(used);
            if done {
                break;
            }
        }
        self.number += 1;
        // A trailing CR is not part of the line, nor of its length.
        let content = len - u64::from(last == Some(b'\r'));
        if content > self.max as u64 {
            return Ok(Some((self.number, Line::TooLong { bytes: content })));
        }
        // The buffer holds min(len, max) >= content bytes.
        self.buf.truncate(content as usize);
        Ok(Some((self.number, Line::Text(&self.buf))))
    }
}

/// Appends `part` to `buf`, whose length with it is at most `max`, growing its capacity by
/// doubling but never past `max`.
fn push_bounded(buf: &mut Vec<u8>, part: &[u8], max: usize) {
    let needed = buf.len() + part.len();
    if needed > buf.capacity() {
        let target = needed.max(buf.capacity().saturating_mul(2)).max(256).min(max).max(needed);
        buf.reserve_exact(target - buf.len());
    }
    buf.extend_from_slice(part);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn all(input: &[u8], max: usize, chunk: usize) -> Vec<(u64, Result<Vec<u8>, u64>)> {
        let mut r = LineReader::new(io::BufReader::with_capacity(chunk, input), max);
        let mut out = Vec::new();
        while let Some((n, line)) = r.next_line().unwrap() {
            out.push((
                n,
                match line {
                    Line::Text(t) => Ok(t.to_vec()),
                    Line::TooLong { bytes } => Err(bytes),
                },
            ));
            assert!(r.capacity() <= max, "capacity {} past {max}", r.capacity());
        }
        out
    }

    #[test]
    fn lines_lose_their_newline_and_cr_and_number_from_one() {
        for chunk in [1, 3, 64] {
            assert_eq!(
                all(b"a\r\n\nbc\nlast", 10, chunk),
                vec![(1, Ok(b"a".to_vec())), (2, Ok(vec![])), (3, Ok(b"bc".to_vec())), (4, Ok(b"last".to_vec()))]
            );
            assert_eq!(all(b"", 10, chunk), vec![]);
            assert_eq!(all(b"\n", 10, chunk), vec![(1, Ok(vec![]))]);
        }
    }

    #[test]
    fn a_line_past_the_limit_is_counted_not_held() {
        for chunk in [1, 4, 7, 1 << 16] {
            // 10 bytes is the limit: a line of 10 is whole, 11 is too long, the next is read.
            let input = b"0123456789\n0123456789A\nok\n0123456789\r\n".to_vec();
            assert_eq!(
                all(&input, 10, chunk),
                vec![
                    (1, Ok(b"0123456789".to_vec())),
                    (2, Err(11)),
                    (3, Ok(b"ok".to_vec())),
                    (4, Ok(b"0123456789".to_vec()))
                ],
                "chunk {chunk}"
            );
        }
    }

    #[test]
    fn the_line_limit_is_four_records_and_holds_at_its_edge() {
        assert_eq!(LINE_BYTES_MAX, 4 * RECORD_BYTES_MAX);
        let mut input = vec![b'x'; LINE_BYTES_MAX];
        input.extend_from_slice(b"\r\n");
        input.extend(std::iter::repeat_n(b'y', LINE_BYTES_MAX + 1));
        let mut r = LineReader::new(io::BufReader::new(input.as_slice()), LINE_BYTES_MAX);
        assert!(matches!(r.next_line().unwrap(), Some((1, Line::Text(t))) if t.len() == LINE_BYTES_MAX));
        let bytes = LINE_BYTES_MAX as u64 + 1;
        assert_eq!(r.next_line().unwrap(), Some((2, Line::TooLong { bytes })));
        assert!(r.capacity() <= LINE_BYTES_MAX);
    }

    #[test]
    fn the_buffer_never_grows_past_the_limit_on_a_huge_line() {
        let max = 1000;
        let mut input = vec![b'x'; 8 << 20];
        input.extend_from_slice(b"\n{}\n");
        let mut r = LineReader::new(io::BufReader::with_capacity(4096, input.as_slice()), max);
        assert_eq!(r.next_line().unwrap(), Some((1, Line::TooLong { bytes: 8 << 20 })));
        assert!(r.capacity() <= max, "{}", r.capacity());
        assert_eq!(r.next_line().unwrap(), Some((2, Line::Text(b"{}"))));
        assert_eq!(r.next_line().unwrap(), None);
        assert!(r.capacity() <= max);
    }
}
