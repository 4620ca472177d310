//! Events read in place: the fold's fast path.
//!
//! Nine records in ten are events, and the fold needs four things from one: its target, its
//! name, its time and the time it was appended. [`event_view`] reads those without copying or
//! allocating. It walks the whole encoding, with every check [`super::decode_entry`] makes and
//! every check [`Record::validate_shape`](crate::Record::validate_shape) makes of an event, and
//! answers only when all of them pass. Anything else (another kind of record, a malformed or
//! over-limit encoding, an event the edge would have refused) gets `None`, and the caller decodes
//! the record the ordinary way, which says what is wrong. So a view exists only for bytes that
//! decode to a valid event with the same fields, which `tests/event_view.rs` checks on arbitrary input
//! and at every limit.

use super::{tag, SCHEMA_VERSION};
use crate::limits::{
    EVENT_NAME_BYTES_MAX, RECORD_BYTES_MAX, SESSION_ID_BYTES_MAX, VALUE_DEPTH_MAX, VALUE_ENTRIES_MAX,
    VALUE_KEY_BYTES_MAX, VALUE_STRING_BYTES_MAX,
};
use crate::record::Timestamp;

/// The target of an event, borrowed from its encoding (as written: not validated, not
/// canonicalised, like a decoded [`crate::Target`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TargetView<'a> {
    /// A uid in its 16-byte UUID form.
    Uuid(&'a [u8; 16]),
    /// A uid in text form.
    UidText(&'a [u8]),
    /// A cid.
    Cid(&'a [u8]),
}

/// What the fold reads of an event, borrowed from the record's bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EventView<'a> {
    /// When the engine appended the record.
    pub appended_at: Timestamp,
    /// Whose event it is.
    pub target: TargetView<'a>,
    /// The event's name (shape-checked: 1..=128 bytes, no control characters).
    pub name: &'a str,
    /// The caller's time, if any.
    pub ts: Option<Timestamp>,
}

impl EventView<'_> {
    /// The time the event counts at: `min(ts, appended_at)`, as [`crate::Entry::effective_ts`].
    pub fn effective_ts(&self) -> Timestamp {
        match self.ts {
            Some(ts) => ts.min(self.appended_at),
            None => self.appended_at,
        }
    }
}

/// Reads the record `bytes` (stored under `schema`) as an event, in place, if it is one that
/// decodes and passes the shape rules; `None` otherwise (see the module docs).
pub fn event_view(schema: u16, bytes: &[u8]) -> Option<EventView<'_>> {
    if schema != SCHEMA_VERSION || bytes.len() > RECORD_BYTES_MAX {
        return None;
    }
    let mut c = Cursor { bytes, pos: 0 };
    let appended_at = Timestamp(c.i64()?);
    if c.u8()? != tag::RECORD_EVENT {
        return None;
    }
    let target = match c.u8()? {
        tag::TARGET_UID => match c.u8()? {
            tag::UID_UUID => TargetView::Uuid(c.array16()?),
            tag::UID_TEXT => TargetView::UidText(c.bytes(RECORD_BYTES_MAX)?),
            _ => return None,
        },
        tag::TARGET_CID => TargetView::Cid(c.bytes(RECORD_BYTES_MAX)?),
        _ => return None,
    };
    let name = c.str(RECORD_BYTES_MAX)?;
    if !shape_text_ok(name, EVENT_NAME_BYTES_MAX) {
        return None;
    }
    // Top-level props: the decoder's rules, plus the shape rule that a key is not empty.
    if !c.map(0, true)? {
        return None;
    }
    match c.u8()? {
        tag::OPTION_NONE => {}
        tag::OPTION_SOME => {
            // Only checked, never read: its bytes need not become a `str`.
            if !shape_bytes_ok(c.utf8(RECORD_BYTES_MAX)?, SESSION_ID_BYTES_MAX) {
                return None;
            }
        }
        _ => return None,
    }
    let ts = match c.u8()? {
        tag::OPTION_NONE => None,
        tag::OPTION_SOME => Some(Timestamp(c.i64()?)),
        _ => return None,
    };
    // Nothing may follow the entry.
    (c.pos == bytes.len()).then_some(EventView { appended_at, target, name, ts })
}

/// The shape rule of event names and session ids: 1..=`max` bytes, no control characters.
fn shape_text_ok(s: &str, max: usize) -> bool {
    shape_bytes_ok(s.as_bytes(), max)
}

/// [`shape_text_ok`] of UTF-8 bytes. Printable ASCII (the usual name or session id) is
/// decided a byte at a time without looking ahead; anything else by [`has_control_bytes`].
fn shape_bytes_ok(b: &[u8], max: usize) -> bool {
    !b.is_empty() && b.len() <= max && (b.iter().all(|&c| (0x20..0x7f).contains(&c)) || !has_control_bytes(b))
}

/// [`has_control_bytes`] of a `str` (the tests' reference form).
#[cfg(test)]
fn has_control(s: &str) -> bool {
    has_control_bytes(s.as_bytes())
}

/// `s.chars().any(char::is_control)` of UTF-8 bytes `b`, without decoding: the control
/// characters (category Cc) are U+0000–U+001F and U+007F–U+009F, whose UTF-8 forms are the
/// bytes 0x00–0x1F and 0x7F, and 0xC2 followed by 0x80–0x9F (in valid UTF-8, 0xC2 only ever
/// leads a character).
fn has_control_bytes(b: &[u8]) -> bool {
    b.iter().enumerate().any(|(i, &c)| c < 0x20 || c == 0x7f || (c == 0xc2 && b.get(i + 1).is_some_and(|&n| n < 0xa0)))
}

struct Cursor<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl<'a> Cursor<'a> {
    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        let s = self.bytes.get(self.pos..self.pos.checked_add(n)?)?;
        self.pos += n;
        Some(s)
    }

    fn u8(&mut self) -> Option<u8> {
        self.take(1).map(|b| b[0])
    }

    fn word(&mut self) -> Option<[u8; 8]> {
        self.take(8)?.try_into().ok()
    }

    fn i64(&mut self) -> Option<i64> {
        self.word().map(i64::from_le_bytes)
    }

    fn array16(&mut self) -> Option<&'a [u8; 16]> {
        self.take(16)?.try_into().ok()
    }

    /// A `u64` length of at most `max`.
    fn len(&mut self, max: usize) -> Option<usize> {
        let len = usize::try_from(u64::from_le_bytes(self.word()?)).ok()?;
        (len <= max).then_some(len)
    }

    fn bytes(&mut self, max: usize) -> Option<&'a [u8]> {
        let len = self.len(max)?;
        self.take(len)
    }

    fn str(&mut self, max: usize) -> Option<&'a str> {
        std::str::from_utf8(self.bytes(max)?).ok()
    }

    /// Bytes that are UTF-8 (what `str` reads, without making a `str` of it): most strings of
    /// a record are ASCII, which is checked a word at a time.
    fn utf8(&mut self, max: usize) -> Option<&'a [u8]> {
        let b = self.bytes(max)?;
        (b.is_ascii() || std::str::from_utf8(b).is_ok()).then_some(b)
    }

    /// A value enclosed by `level` containers, as the decoder reads it.
    fn value(&mut self, level: usize) -> Option<()> {
        match self.u8()? {
            tag::VALUE_NULL => Some(()),
            tag::VALUE_BOOL => (self.u8()? <= 1).then_some(()),
            tag::VALUE_INT => self.word().map(drop),
            tag::VALUE_FLOAT => f64::from_le_bytes(self.word()?).is_finite().then_some(()),
            tag::VALUE_STRING => self.utf8(VALUE_STRING_BYTES_MAX).map(drop),
            tag::VALUE_LIST => {
                if level >= VALUE_DEPTH_MAX {
                    return None;
                }
                let len = self.len(VALUE_ENTRIES_MAX)?;
                (0..len).try_for_each(|_| self.value(level + 1))
            }
            tag::VALUE_MAP => {
                if level >= VALUE_DEPTH_MAX {
                    return None;
                }
                self.map(level + 1, false).map(drop)
            }
            _ => None,
        }
    }

    /// A map whose values sit at `value_level`: count, then strictly increasing keys with their
    /// values. Returns whether every key is non-empty when `top` (the shape rule of a record's
    /// top-level map; nested maps may have an empty key).
    fn map(&mut self, value_level: usize, top: bool) -> Option<bool> {
        let len = self.len(VALUE_ENTRIES_MAX)?;
        // Keys compare as their bytes, which is how `str`s compare.
        let mut last: Option<&[u8]> = None;
        let mut keys_ok = true;
        for _ in 0..len {
            let key = self.utf8(VALUE_KEY_BYTES_MAX)?;
            if last.is_some_and(|l| key <= l) {
                return None;
            }
            last = Some(key);
            keys_ok &= !(top && key.is_empty());
            self.value(value_level)?;
        }
        Some(keys_ok)
    }
}

#[cfg(test)]
mod tests {
    use super::has_control;

    #[test]
    fn the_ascii_shortcut_is_the_full_rule() {
        // Every string of up to two characters from a mix of ASCII, controls and others.
        let chars = ['a', ' ', '~', '\u{0}', '\u{1f}', '\u{7f}', '\u{80}', '\u{9f}', '\u{a0}', 'é', '€', '😀'];
        let mut cases = vec![String::new()];
        for a in chars {
            cases.push(a.to_string());
            for b in chars {
                cases.push(format!("{a}{b}"));
            }
        }
        for s in cases {
            let full = !s.is_empty() && s.len() <= 5 && !s.chars().any(char::is_control);
            assert_eq!(super::shape_bytes_ok(s.as_bytes(), 5), full, "{s:?}");
            assert_eq!(super::shape_text_ok(&s, 5), full, "{s:?}");
        }
    }

    #[test]
    fn control_characters_by_bytes_are_char_is_control() {
        let mut buf = [0u8; 4];
        for c in (0..=0x10ffffu32).filter_map(char::from_u32) {
            let one = c.encode_utf8(&mut buf);
            assert_eq!(has_control(one), c.is_control(), "U+{:04X}", c as u32);
            let framed = format!("a{c}\u{e9}");
            assert_eq!(has_control(&framed), c.is_control(), "U+{:04X} between others", c as u32);
        }
    }
}
