//! The two identifiers of the domain: [`Uid`] (a device / install) and [`Cid`] (a customer).
//!
//! Owns: the in-memory forms, the malformed-id rules of SEMANTICS §6 ([`IdError`]), UUID
//! canonicalisation of UIDs, and how a message shows an id ([`IdExcerpt`]: a short escaped
//! prefix, never the whole id). Does not own: the blocked-value list (that is a configurable rule
//! of the fold, see [`crate::validate`]) nor the bytes (see [`crate::codec`]).
//!
//! Two ways in, on purpose: `parse` is for the edge (Engine API, CLI) and returns only valid,
//! canonical ids; `from_wire_bytes` takes whatever a log holds, unvalidated, so that the fold
//! can reject a malformed id written elsewhere with reason `invalid_id` instead of the log
//! becoming unreadable.

use std::fmt;
use std::str::FromStr;

use crate::limits::{CID_BYTES_MAX, UID_BYTES_MAX};

/// Which kind of identifier an error or rejection is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum IdKind {
    /// A device / install id ([`Uid`]).
    Uid,
    /// A customer id ([`Cid`]).
    Cid,
}

impl IdKind {
    /// `"uid"` or `"cid"`, as used in messages and reports.
    pub fn as_str(self) -> &'static str {
        match self {
            IdKind::Uid => "uid",
            IdKind::Cid => "cid",
        }
    }

    /// The byte limit for this kind of id.
    pub fn bytes_max(self) -> usize {
        match self {
            IdKind::Uid => UID_BYTES_MAX,
            IdKind::Cid => CID_BYTES_MAX,
        }
    }
}

impl fmt::Display for IdKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why an id is malformed (SEMANTICS §6). The fold reports every one of these as `invalid_id`.
///
/// When several rules are broken, the first in this order is reported: empty, too long, not
/// UTF-8, whitespace-only, leading whitespace, trailing whitespace, control character. Whitespace
/// is Unicode `White_Space` (`char::is_whitespace`); control is category `Cc`
/// (`char::is_control`), so a tab at the start is reported as leading whitespace.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IdError {
    /// Zero bytes.
    #[error("{kind} is empty")]
    Empty {
        /// Which id.
        kind: IdKind,
    },
    /// More bytes than the limit of its kind.
    #[error("{kind} is {len} bytes long, over the limit of {max}")]
    TooLong {
        /// Which id.
        kind: IdKind,
        /// Its length in bytes.
        len: usize,
        /// The limit it broke.
        max: usize,
    },
    /// Not valid UTF-8 (only possible for ids read from a log).
    #[error("{kind} is not valid UTF-8 (first invalid byte at offset {valid_up_to})")]
    NotUtf8 {
        /// Which id.
        kind: IdKind,
        /// Length of the valid UTF-8 prefix.
        valid_up_to: usize,
    },
    /// Nothing but whitespace.
    #[error("{kind} is whitespace only")]
    WhitespaceOnly {
        /// Which id.
        kind: IdKind,
    },
    /// Starts with whitespace.
    #[error("{kind} starts with whitespace")]
    LeadingWhitespace {
        /// Which id.
        kind: IdKind,
    },
    /// Ends with whitespace.
    #[error("{kind} ends with whitespace")]
    TrailingWhitespace {
        /// Which id.
        kind: IdKind,
    },
    /// Contains a control character.
    #[error("{kind} contains control character U+{code_point:04X} at byte offset {offset}")]
    ControlCharacter {
        /// Which id.
        kind: IdKind,
        /// The first control character found.
        code_point: u32,
        /// Its byte offset in the id.
        offset: usize,
    },
}

impl IdError {
    /// Which kind of id the error is about.
    pub fn kind(&self) -> IdKind {
        match self {
            IdError::Empty { kind }
            | IdError::TooLong { kind, .. }
            | IdError::NotUtf8 { kind, .. }
            | IdError::WhitespaceOnly { kind }
            | IdError::LeadingWhitespace { kind }
            | IdError::TrailingWhitespace { kind }
            | IdError::ControlCharacter { kind, .. } => *kind,
        }
    }
}

/// Most characters of an id that [`IdExcerpt`] shows.
pub const ID_EXCERPT_CHARS: usize = 16;

/// An id as a message shows it: its first [`ID_EXCERPT_CHARS`] characters, quoted and escaped
/// like `{:?}` (control characters, quotes, backslashes; bytes that are not UTF-8 as `\xNN`),
/// and, when that is not all of it, `…(N bytes)` after the closing quote. An id can be a
/// megabyte long, or an email address: messages name it by this, never in full.
///
/// ```
/// use idres_model::IdExcerpt;
/// assert_eq!(IdExcerpt::new(b"u1").to_string(), r#""u1""#);
/// assert_eq!(IdExcerpt::new(b"alice.private@example.com").to_string(), r#""alice.private@ex"…(25 bytes)"#);
/// assert_eq!(IdExcerpt::new(b"a\nb\xff").to_string(), r#""a\nb\xff""#);
/// ```
#[derive(Debug, Clone, Copy)]
pub struct IdExcerpt<'a>(&'a [u8]);

impl<'a> IdExcerpt<'a> {
    /// The excerpt of these id bytes.
    pub fn new(bytes: &'a [u8]) -> IdExcerpt<'a> {
        IdExcerpt(bytes)
    }
}

impl fmt::Display for IdExcerpt<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("\"")?;
        let mut shown = 0usize;
        let mut whole = true;
        'chunks: for chunk in self.0.utf8_chunks() {
            for c in chunk.valid().chars() {
                if shown == ID_EXCERPT_CHARS {
                    whole = false;
                    break 'chunks;
                }
                write!(f, "{}", c.escape_debug())?;
                shown += 1;
            }
            for b in chunk.invalid() {
                if shown == ID_EXCERPT_CHARS {
                    whole = false;
                    break 'chunks;
                }
                write!(f, "\\x{b:02x}")?;
                shown += 1;
            }
        }
        f.write_str("\"")?;
        if !whole {
            write!(f, "…({} bytes)", self.0.len())?;
        }
        Ok(())
    }
}

/// Applies the malformed rules of SEMANTICS §6 to raw id bytes; returns them as text when valid.
pub(crate) fn check_id_bytes(bytes: &[u8], kind: IdKind) -> Result<&str, IdError> {
    if bytes.is_empty() {
        return Err(IdError::Empty { kind });
    }
    let max = kind.bytes_max();
    if bytes.len() > max {
        return Err(IdError::TooLong { kind, len: bytes.len(), max });
    }
    let text = std::str::from_utf8(bytes).map_err(|e| IdError::NotUtf8 { kind, valid_up_to: e.valid_up_to() })?;
    if text.chars().all(char::is_whitespace) {
        return Err(IdError::WhitespaceOnly { kind });
    }
    if text.starts_with(char::is_whitespace) {
        return Err(IdError::LeadingWhitespace { kind });
    }
    if text.ends_with(char::is_whitespace) {
        return Err(IdError::TrailingWhitespace { kind });
    }
    if let Some((offset, c)) = text.char_indices().find(|(_, c)| c.is_control()) {
        return Err(IdError::ControlCharacter { kind, code_point: u32::from(c), offset });
    }
    Ok(text)
}

/// A device / install id.
///
/// Two forms, which are also its two wire forms: 16 UUID bytes, or text bytes. A value of this
/// type is not necessarily valid or canonical: one decoded from a log is exactly what the log
/// holds. [`Uid::parse`] and [`Uid::canonical`] give the validated, canonical form, in which every
/// text that the `uuid` crate parses has become [`Uid::Uuid`]; two canonical uids are the same
/// device if and only if they are equal.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Uid {
    /// A UUID, as its 16 bytes (RFC 9562 byte order, as `uuid::Uuid::as_bytes`).
    Uuid([u8; 16]),
    /// Any other id, as its bytes. Valid ones are UTF-8; ones read from a log may not be.
    Text(Box<[u8]>),
}

impl Uid {
    /// Validates `s` (SEMANTICS §6) and returns its canonical form: a UUID in any form the `uuid`
    /// crate parses (hyphenated, simple, braced, urn, any case) becomes [`Uid::Uuid`].
    pub fn parse(s: &str) -> Result<Uid, IdError> {
        check_id_bytes(s.as_bytes(), IdKind::Uid)?;
        Ok(Self::canonical_of_valid_text(s))
    }

    /// Wraps bytes exactly as found in a log: unvalidated, not canonicalised. Use
    /// [`Uid::validate`] or [`Uid::canonical`] before trusting it.
    pub fn from_wire_bytes(bytes: impl Into<Box<[u8]>>) -> Uid {
        Uid::Text(bytes.into())
    }

    /// The uid of a UUID (always valid and canonical).
    pub fn from_uuid(uuid: uuid::Uuid) -> Uid {
        Uid::Uuid(*uuid.as_bytes())
    }

    /// Checks the malformed rules of SEMANTICS §6. A [`Uid::Uuid`] is always valid.
    pub fn validate(&self) -> Result<(), IdError> {
        match self {
            Uid::Uuid(_) => Ok(()),
            Uid::Text(bytes) => check_id_bytes(bytes, IdKind::Uid).map(|_| ()),
        }
    }

    /// Validates and returns the canonical form: text that parses as a UUID becomes
    /// [`Uid::Uuid`]; anything else valid is returned unchanged.
    pub fn canonical(&self) -> Result<Uid, IdError> {
        self.canonical_cow().map(std::borrow::Cow::into_owned)
    }

    /// As [`Uid::canonical`], without copying: a uid that is canonical already is borrowed (text
    /// that parses as a UUID becomes the 16-byte form, which needs no heap either). The fold's
    /// event path uses this to stay free of allocations.
    pub fn canonical_cow(&self) -> Result<std::borrow::Cow<'_, Uid>, IdError> {
        Ok(match self.view().canonical()? {
            UidView::Uuid(bytes) if matches!(self, Uid::Text(_)) => std::borrow::Cow::Owned(Uid::Uuid(bytes)),
            _ => std::borrow::Cow::Borrowed(self),
        })
    }

    /// The uid borrowed as a [`UidView`] (a text uid's bytes are not copied).
    pub fn view(&self) -> UidView<'_> {
        match self {
            Uid::Uuid(bytes) => UidView::Uuid(*bytes),
            Uid::Text(bytes) => UidView::Text(bytes),
        }
    }

    fn canonical_of_valid_text(text: &str) -> Uid {
        match uuid::Uuid::try_parse(text) {
            Ok(uuid) => Uid::from_uuid(uuid),
            Err(_) => Uid::Text(text.as_bytes().into()),
        }
    }

    /// The UUID, if this uid is in UUID form (text that merely looks like one is not, until
    /// canonicalised).
    pub fn as_uuid(&self) -> Option<uuid::Uuid> {
        match self {
            Uid::Uuid(bytes) => Some(uuid::Uuid::from_bytes(*bytes)),
            Uid::Text(_) => None,
        }
    }

    /// The bytes of a text uid; `None` for the UUID form.
    pub fn as_text_bytes(&self) -> Option<&[u8]> {
        match self {
            Uid::Uuid(_) => None,
            Uid::Text(bytes) => Some(bytes),
        }
    }
}

impl From<uuid::Uuid> for Uid {
    fn from(uuid: uuid::Uuid) -> Uid {
        Uid::from_uuid(uuid)
    }
}

impl FromStr for Uid {
    type Err = IdError;

    /// The same as [`Uid::parse`].
    fn from_str(s: &str) -> Result<Uid, IdError> {
        Uid::parse(s)
    }
}

/// UUIDs print lower-case hyphenated; text prints as-is, with invalid UTF-8 replaced by U+FFFD.
impl fmt::Display for Uid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.view(), f)
    }
}

/// A uid borrowed from where it is kept (an owned [`Uid`], or the bytes of an encoded record):
/// the same two forms, without a copy of a text uid's bytes. Like a decoded [`Uid`], not
/// necessarily valid or canonical; [`UidView::canonical`] applies the same rules as
/// [`Uid::canonical`], and the view prints as the uid does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum UidView<'a> {
    /// A UUID, as its 16 bytes (held by value: copying them is cheaper than pointing at them).
    Uuid([u8; 16]),
    /// Any other id, as its bytes.
    Text(&'a [u8]),
}

impl<'a> UidView<'a> {
    /// The owned uid (a text uid's bytes are copied).
    pub fn to_uid(self) -> Uid {
        match self {
            UidView::Uuid(bytes) => Uid::Uuid(bytes),
            UidView::Text(bytes) => Uid::from_wire_bytes(bytes),
        }
    }

    /// Validates (SEMANTICS §6) and returns the canonical form, as [`Uid::canonical`] does:
    /// text that parses as a UUID becomes [`UidView::Uuid`]; anything else valid is returned
    /// unchanged. Never allocates.
    pub fn canonical(self) -> Result<UidView<'a>, IdError> {
        match self {
            UidView::Uuid(_) => Ok(self),
            UidView::Text(bytes) => {
                let text = check_id_bytes(bytes, IdKind::Uid)?;
                Ok(match uuid::Uuid::try_parse(text) {
                    Ok(uuid) => UidView::Uuid(*uuid.as_bytes()),
                    Err(_) => self,
                })
            }
        }
    }
}

/// As [`Uid`]'s: UUIDs lower-case hyphenated, text as-is with invalid UTF-8 replaced by U+FFFD.
impl fmt::Display for UidView<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            UidView::Uuid(bytes) => fmt::Display::fmt(&uuid::Uuid::from_bytes(*bytes).hyphenated(), f),
            UidView::Text(bytes) => f.write_str(&String::from_utf8_lossy(bytes)),
        }
    }
}

impl fmt::Debug for Uid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Uid::Uuid(_) => write!(f, "Uid::Uuid({self})"),
            Uid::Text(bytes) => write!(f, "Uid::Text({:?})", String::from_utf8_lossy(bytes)),
        }
    }
}

/// A customer id: bytes, compared byte for byte (`Bob` and `bob` are two customers; nothing is
/// folded or trimmed). Like [`Uid`], a value may be unvalidated if it came from a log.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Cid(Box<[u8]>);

impl Cid {
    /// Validates `s` (SEMANTICS §6) and returns it unchanged as a cid.
    pub fn parse(s: &str) -> Result<Cid, IdError> {
        check_id_bytes(s.as_bytes(), IdKind::Cid)?;
        Ok(Cid(s.as_bytes().into()))
    }

    /// Wraps bytes exactly as found in a log: unvalidated. Use [`Cid::validate`] before trusting it.
    pub fn from_wire_bytes(bytes: impl Into<Box<[u8]>>) -> Cid {
        Cid(bytes.into())
    }

    /// Checks the malformed rules of SEMANTICS §6.
    pub fn validate(&self) -> Result<(), IdError> {
        check_id_bytes(&self.0, IdKind::Cid).map(|_| ())
    }

    /// The bytes, exactly.
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }

    /// The text, if the bytes are UTF-8 (always so for a valid cid).
    pub fn as_str(&self) -> Option<&str> {
        std::str::from_utf8(&self.0).ok()
    }

    /// The cid in double quotes for messages people read (`"ghost"`): `"` and `\` escaped with
    /// a backslash, control characters (U+0000–U+001F, U+007F) as `\u{..}`, invalid UTF-8 as
    /// U+FFFD; nothing else changes. Unlike `{:?}`, the output depends on no Unicode table, so the
    /// words a fold keeps (rejection details in snapshots) are the same with every toolchain.
    pub fn quoted(&self) -> String {
        quote(&String::from_utf8_lossy(&self.0))
    }
}

/// `s` in double quotes, escaped as [`Cid::quoted`] says.
pub fn quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if (c as u32) < 0x20 || c as u32 == 0x7f => out.push_str(&format!("\\u{{{:x}}}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// A cid hashes and compares as its bytes, so maps keyed by cids can be searched with bytes
/// borrowed from an encoded record.
impl std::borrow::Borrow<[u8]> for Cid {
    fn borrow(&self) -> &[u8] {
        &self.0
    }
}

impl FromStr for Cid {
    type Err = IdError;

    /// The same as [`Cid::parse`].
    fn from_str(s: &str) -> Result<Cid, IdError> {
        Cid::parse(s)
    }
}

/// Prints the text as-is, with invalid UTF-8 replaced by U+FFFD.
impl fmt::Display for Cid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&String::from_utf8_lossy(&self.0))
    }
}

impl fmt::Debug for Cid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Cid({:?})", String::from_utf8_lossy(&self.0))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoted_cids_escape_only_quotes_backslashes_and_controls() {
        assert_eq!(Cid::parse("ghost").unwrap().quoted(), "\"ghost\"");
        assert_eq!(Cid::from_wire_bytes(b"a\"b\\c".to_vec()).quoted(), "\"a\\\"b\\\\c\"");
        assert_eq!(Cid::from_wire_bytes(b"a\nb\x7f".to_vec()).quoted(), "\"a\\u{a}b\\u{7f}\"");
        assert_eq!(Cid::from_wire_bytes("é\u{200b}".as_bytes().to_vec()).quoted(), "\"é\u{200b}\"");
        assert_eq!(Cid::from_wire_bytes(vec![b'x', 0xff]).quoted(), "\"x\u{fffd}\"");
    }

    #[test]
    fn check_order_reports_the_first_broken_rule() {
        let check = |input: &[u8], expected: Result<(), IdError>| {
            assert_eq!(check_id_bytes(input, IdKind::Cid).map(|_| ()), expected, "{input:?}");
        };
        let kind = IdKind::Cid;
        check(b"", Err(IdError::Empty { kind }));
        check(b" ", Err(IdError::WhitespaceOnly { kind }));
        check(b"\t", Err(IdError::WhitespaceOnly { kind }));
        check(b"\tx", Err(IdError::LeadingWhitespace { kind }));
        check(b"x\n", Err(IdError::TrailingWhitespace { kind }));
        check(b"a\x01b", Err(IdError::ControlCharacter { kind, code_point: 1, offset: 1 }));
        check(b"\xff", Err(IdError::NotUtf8 { kind, valid_up_to: 0 }));
        check(b"ok", Ok(()));
    }

    #[test]
    fn an_id_excerpt_is_short_and_escaped_whatever_the_id() {
        let huge = vec![b'x'; 1 << 20];
        let shown = IdExcerpt::new(&huge).to_string();
        assert!(shown.len() < 40, "{shown}");
        assert!(shown.ends_with("…(1048576 bytes)"), "{shown}");
        assert_eq!(IdExcerpt::new(b"").to_string(), r#""""#);
        assert_eq!(IdExcerpt::new(&[b'a'; 16]).to_string(), format!("\"{}\"", "a".repeat(16)), "16 chars: whole");
        // Control characters, quotes and bad bytes never reach a terminal raw.
        assert_eq!(IdExcerpt::new(b"\x1b[2J\"\\\xfe").to_string(), r#""\u{1b}[2J\"\\\xfe""#);
        // Characters, not bytes, are counted: a multi-byte character is never cut.
        let accents = "é".repeat(20);
        assert_eq!(IdExcerpt::new(accents.as_bytes()).to_string(), format!("\"{}\"…(40 bytes)", "é".repeat(16)));
    }

    #[test]
    fn debug_is_readable() {
        let uid = Uid::parse("67E55044-10B1-426F-9247-BB680E5FE0C8").unwrap();
        assert_eq!(format!("{uid:?}"), "Uid::Uuid(67e55044-10b1-426f-9247-bb680e5fe0c8)");
        assert_eq!(format!("{:?}", Cid::parse("Bob").unwrap()), "Cid(\"Bob\")");
    }
}
