//! The reader of the in-place views ([`super::view`], [`super::record_view`]): a cursor over a
//! record's bytes that reads what the decoder reads, with the same limits and checks, but
//! borrows instead of copying and answers `None` where the decoder would fail. Also the shape
//! rule of event names and session ids, by bytes.

use super::tag;
use crate::id::UidView;
use crate::limits::{
    RECORD_BYTES_MAX, VALUE_DEPTH_MAX, VALUE_ENTRIES_MAX, VALUE_KEY_BYTES_MAX, VALUE_STRING_BYTES_MAX,
};
use crate::record::Timestamp;

/// The shape rule of event names and session ids: 1..=`max` bytes, no control characters.
pub(super) fn shape_text_ok(s: &str, max: usize) -> bool {
    shape_bytes_ok(s.as_bytes(), max)
}

/// [`shape_text_ok`] of UTF-8 bytes. Printable ASCII (the usual name or session id) is
/// decided a byte at a time without looking ahead; anything else by [`has_control_bytes`].
pub(super) fn shape_bytes_ok(b: &[u8], max: usize) -> bool {
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

#[derive(Debug, Clone)]
pub(super) struct Cursor<'a> {
    pub(super) bytes: &'a [u8],
    pub(super) pos: usize,
}

impl<'a> Cursor<'a> {
    pub(super) fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        let s = self.bytes.get(self.pos..self.pos.checked_add(n)?)?;
        self.pos += n;
        Some(s)
    }

    pub(super) fn u8(&mut self) -> Option<u8> {
        self.take(1).map(|b| b[0])
    }

    pub(super) fn word(&mut self) -> Option<[u8; 8]> {
        self.take(8)?.try_into().ok()
    }

    pub(super) fn i64(&mut self) -> Option<i64> {
        self.word().map(i64::from_le_bytes)
    }

    pub(super) fn array16(&mut self) -> Option<&'a [u8; 16]> {
        self.take(16)?.try_into().ok()
    }

    /// A uid as the decoder reads it: a form tag, then 16 bytes or a length and bytes.
    pub(super) fn uid(&mut self) -> Option<UidView<'a>> {
        match self.u8()? {
            tag::UID_UUID => self.array16().map(|b| UidView::Uuid(*b)),
            tag::UID_TEXT => self.bytes(RECORD_BYTES_MAX).map(UidView::Text),
            _ => None,
        }
    }

    /// An optional timestamp: an option tag, then an `i64`.
    pub(super) fn ts(&mut self) -> Option<Option<Timestamp>> {
        match self.u8()? {
            tag::OPTION_NONE => Some(None),
            tag::OPTION_SOME => self.i64().map(|t| Some(Timestamp(t))),
            _ => None,
        }
    }

    /// A `u64` length of at most `max`.
    /// What schema 2 appended to a record (`with_system`: a `bool` byte, 0 or 1; then the message
    /// id, an option of UTF-8 bytes that passes the shape rule); `(false, None)` under schema 1.
    pub(super) fn schema2_tail(&mut self, schema: u16, with_system: bool) -> Option<(bool, Option<&'a str>)> {
        if schema < 2 {
            return Some((false, None));
        }
        let system = if with_system {
            match self.u8()? {
                0 => false,
                1 => true,
                _ => return None,
            }
        } else {
            false
        };
        let message_id = match self.u8()? {
            tag::OPTION_NONE => None,
            tag::OPTION_SOME => {
                let id = self.str(RECORD_BYTES_MAX)?;
                if !shape_text_ok(id, crate::limits::MESSAGE_ID_BYTES_MAX) {
                    return None;
                }
                Some(id)
            }
            _ => return None,
        };
        Some((system, message_id))
    }

    pub(super) fn len(&mut self, max: usize) -> Option<usize> {
        let len = usize::try_from(u64::from_le_bytes(self.word()?)).ok()?;
        (len <= max).then_some(len)
    }

    pub(super) fn bytes(&mut self, max: usize) -> Option<&'a [u8]> {
        let len = self.len(max)?;
        self.take(len)
    }

    pub(super) fn str(&mut self, max: usize) -> Option<&'a str> {
        std::str::from_utf8(self.bytes(max)?).ok()
    }

    /// Bytes that are UTF-8 (what `str` reads, without making a `str` of it): most strings of
    /// a record are ASCII, which is checked a word at a time.
    pub(super) fn utf8(&mut self, max: usize) -> Option<&'a [u8]> {
        let b = self.bytes(max)?;
        (b.is_ascii() || std::str::from_utf8(b).is_ok()).then_some(b)
    }

    /// A value enclosed by `level` containers, as the decoder reads it.
    pub(super) fn value(&mut self, level: usize) -> Option<()> {
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
    pub(super) fn map(&mut self, value_level: usize, top: bool) -> Option<bool> {
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
