//! The id rules the fold applies to every record: malformed ids and the blocked-value list.
//!
//! Owns: [`BlockedList`] (the configurable list of SEMANTICS §6 and its canonical bytes for the
//! config hash) and [`IdValidator`], which combines it with the malformed rules of
//! [`crate::id`] into one verdict per id ([`IdRejection`]). Does not own: what the fold does with a
//! rejection, nor record shapes (see [`crate::Record::validate_shape`]).
//!
//! **Determinism:** case-insensitive means ASCII case folding only. Unicode case tables change
//! between Rust releases; a fold that used them could give a different verdict on the same log
//! after a toolchain upgrade. So `NULL` matches `null`, but `İD` does not match `id`.

use std::collections::BTreeSet;
use std::fmt;

use crate::id::{check_id_bytes, Cid, IdError, IdKind, Uid, UidView};

/// Entries blocked ignoring ASCII case, by default.
pub const DEFAULT_BLOCKED_CASE_INSENSITIVE: [&str; 16] = [
    "anonymous",
    "guest",
    "undefined",
    "null",
    "none",
    "nil",
    "nan",
    "true",
    "false",
    "id",
    "distinct_id",
    "user_id",
    "email",
    "not_authenticated",
    "unknown",
    "n/a",
];

/// Entries blocked byte for byte, by default.
///
/// Besides `0`, `-1` and `[object Object]` of SEMANTICS §6 this holds the empty string: no id
/// is empty (that is malformed), but an id made of nothing but quotes and whitespace, such as
/// `""` or `' '`, unwraps to it and is blocked like any other quoted junk value.
pub const DEFAULT_BLOCKED_EXACT: [&str; 4] = ["0", "-1", "[object Object]", ""];

/// Magic that starts [`BlockedList::canonical_bytes`]; its trailing digit is the layout version.
const CANONICAL_MAGIC: &[u8] = b"idres.blocked-list.1\n";

/// The ids the fold rejects as `blocked_value`: placeholder values that SDKs send when they
/// have no real id.
///
/// A value is blocked if it, or what is left after unwrapping it, equals an entry: exactly
/// (exact entries) or ignoring ASCII case (case-insensitive entries). Unwrapping removes one
/// pair of matching outer quotes (`'…'` or `"…"`) and then surrounding whitespace, as often as
/// possible: `'null'`, `"'null'"` and `" null "` (quoted) are blocked like `null`; `"null'`
/// (mismatched quotes) is not unwrapped. Exact entries stay exact: `[OBJECT OBJECT]` and `00`
/// are not blocked by the default list, because real ids may differ from them only in case or
/// in repetition.
///
/// Entries live in sorted sets, so equal lists have equal [`canonical_bytes`](Self::canonical_bytes)
/// however they were built.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct BlockedList {
    /// Stored ASCII-lower-cased.
    case_insensitive: BTreeSet<String>,
    exact: BTreeSet<String>,
    /// Longest case-insensitive entry: longer candidates skip the lower-casing allocation.
    case_insensitive_len_max: usize,
    /// The first bytes of the entries (both ASCII cases of a case-insensitive one's), as a
    /// 256-bit set: most ids start with a byte no entry starts with, and are decided by it.
    first_bytes: [u64; 4],
}

impl Default for BlockedList {
    /// The documented default list of SEMANTICS §6: [`DEFAULT_BLOCKED_CASE_INSENSITIVE`] and
    /// [`DEFAULT_BLOCKED_EXACT`].
    fn default() -> BlockedList {
        BlockedList::new(DEFAULT_BLOCKED_CASE_INSENSITIVE, DEFAULT_BLOCKED_EXACT)
    }
}

impl BlockedList {
    /// A list that blocks nothing.
    pub fn empty() -> BlockedList {
        BlockedList {
            case_insensitive: BTreeSet::new(),
            exact: BTreeSet::new(),
            case_insensitive_len_max: 0,
            first_bytes: [0; 4],
        }
    }

    /// A list of exactly these entries.
    pub fn new<I, E>(case_insensitive: I, exact: E) -> BlockedList
    where
        I: IntoIterator,
        I::Item: AsRef<str>,
        E: IntoIterator,
        E::Item: AsRef<str>,
    {
        let mut list = BlockedList::empty();
        list.extend(case_insensitive, exact);
        list
    }

    /// Adds entries to the list.
    pub fn extend<I, E>(&mut self, case_insensitive: I, exact: E)
    where
        I: IntoIterator,
        I::Item: AsRef<str>,
        E: IntoIterator,
        E::Item: AsRef<str>,
    {
        for entry in case_insensitive {
            let entry = entry.as_ref().to_ascii_lowercase();
            self.case_insensitive_len_max = self.case_insensitive_len_max.max(entry.len());
            if let Some(&b) = entry.as_bytes().first() {
                self.note_first_byte(b);
                self.note_first_byte(b.to_ascii_uppercase());
            }
            self.case_insensitive.insert(entry);
        }
        for entry in exact {
            if let Some(&b) = entry.as_ref().as_bytes().first() {
                self.note_first_byte(b);
            }
            self.exact.insert(entry.as_ref().to_owned());
        }
    }

    fn note_first_byte(&mut self, b: u8) {
        self.first_bytes[usize::from(b >> 6)] |= 1 << (b & 63);
    }

    /// False if no entry starts with `b`.
    fn may_start_with(&self, b: u8) -> bool {
        self.first_bytes[usize::from(b >> 6)] & (1 << (b & 63)) != 0
    }

    /// Replaces every entry (the default ones included) with these.
    pub fn replace<I, E>(&mut self, case_insensitive: I, exact: E)
    where
        I: IntoIterator,
        I::Item: AsRef<str>,
        E: IntoIterator,
        E::Item: AsRef<str>,
    {
        *self = BlockedList::new(case_insensitive, exact);
    }

    /// The case-insensitive entries, ASCII-lower-cased, sorted.
    pub fn case_insensitive(&self) -> impl Iterator<Item = &str> {
        self.case_insensitive.iter().map(String::as_str)
    }

    /// The exact entries, sorted.
    pub fn exact(&self) -> impl Iterator<Item = &str> {
        self.exact.iter().map(String::as_str)
    }

    /// Whether the id bytes are blocked (see the type's documentation for the matching rule).
    /// Bytes that are not UTF-8 are never blocked; they are malformed instead.
    pub fn is_blocked(&self, id: &[u8]) -> bool {
        let Ok(mut candidate) = std::str::from_utf8(id) else {
            return false;
        };
        loop {
            if self.matches(candidate) {
                return true;
            }
            match unquote(candidate) {
                Some(inner) => candidate = inner.trim(),
                None => return false,
            }
        }
    }

    fn matches(&self, candidate: &str) -> bool {
        if candidate.as_bytes().first().is_some_and(|&b| !self.may_start_with(b)) {
            return false;
        }
        if self.exact.contains(candidate) {
            return true;
        }
        if candidate.len() > self.case_insensitive_len_max {
            return false;
        }
        // Lower-case on the stack: this runs for every id of every record the fold sees.
        let mut buf = [0u8; 64];
        match buf.get_mut(..candidate.len()) {
            Some(lower) => {
                lower.copy_from_slice(candidate.as_bytes());
                lower.make_ascii_lowercase();
                // ASCII lower-casing keeps UTF-8 valid.
                std::str::from_utf8(lower).is_ok_and(|l| self.case_insensitive.contains(l))
            }
            None => self.case_insensitive.contains(&candidate.to_ascii_lowercase()),
        }
    }

    /// A deterministic encoding of the list, for hashing the fold's configuration: equal lists
    /// give equal bytes, different lists different bytes.
    ///
    /// Layout: the magic `idres.blocked-list.1\n`; then the case-insensitive entries, then the
    /// exact ones, each set as a `u32` little-endian count followed by its entries in sorted
    /// order, each entry a `u32` little-endian byte length and its UTF-8 bytes.
    pub fn canonical_bytes(&self) -> Vec<u8> {
        let mut out = CANONICAL_MAGIC.to_vec();
        for set in [&self.case_insensitive, &self.exact] {
            push_len(&mut out, set.len());
            for entry in set {
                push_len(&mut out, entry.len());
                out.extend_from_slice(entry.as_bytes());
            }
        }
        out
    }
}

/// Lengths here are bounded by the caller's memory, far below `u32::MAX` for any sane config;
/// saturating keeps the function total without a panic path.
fn push_len(out: &mut Vec<u8>, len: usize) {
    let len = u32::try_from(len).unwrap_or(u32::MAX);
    out.extend_from_slice(&len.to_le_bytes());
}

/// The inside of one pair of matching outer quotes, if `s` is wrapped in one.
fn unquote(s: &str) -> Option<&str> {
    ['"', '\''].into_iter().find_map(|q| s.strip_prefix(q).and_then(|rest| rest.strip_suffix(q)))
}

impl fmt::Debug for BlockedList {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BlockedList")
            .field("case_insensitive", &self.case_insensitive)
            .field("exact", &self.exact)
            .finish()
    }
}

/// Why the fold rejects a record because of one of its ids.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IdRejection {
    /// Malformed (SEMANTICS §6); reason `invalid_id`.
    #[error("invalid id: {0}")]
    Invalid(#[from] IdError),
    /// On the blocked list; reason `blocked_value`.
    #[error("{kind} {value:?} is a blocked value")]
    Blocked {
        /// Which id.
        kind: IdKind,
        /// The id as it was given (valid, so UTF-8).
        value: String,
    },
}

impl IdRejection {
    /// The rejection reason the fold reports: `invalid_id` or `blocked_value`.
    pub fn reason(&self) -> &'static str {
        match self {
            IdRejection::Invalid(_) => "invalid_id",
            IdRejection::Blocked { .. } => "blocked_value",
        }
    }

    /// Which kind of id was rejected.
    pub fn kind(&self) -> IdKind {
        match self {
            IdRejection::Invalid(e) => e.kind(),
            IdRejection::Blocked { kind, .. } => *kind,
        }
    }
}

/// The verdict on each id of a record: malformed first, then blocked.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct IdValidator {
    blocked: BlockedList,
}

impl IdValidator {
    /// A validator with this blocked list.
    pub fn new(blocked: BlockedList) -> IdValidator {
        IdValidator { blocked }
    }

    /// The blocked list in force.
    pub fn blocked(&self) -> &BlockedList {
        &self.blocked
    }

    /// Checks a uid and returns its canonical form (see [`Uid::canonical`]). A uid in UUID form
    /// is never blocked: the check runs on the canonical form, so text that parses as a UUID is
    /// exempt too.
    pub fn check_uid(&self, uid: &Uid) -> Result<Uid, IdRejection> {
        self.check_uid_cow(uid).map(std::borrow::Cow::into_owned)
    }

    /// As [`IdValidator::check_uid`], borrowing the uid when it is canonical already (no copy).
    pub fn check_uid_cow<'u>(&self, uid: &'u Uid) -> Result<std::borrow::Cow<'u, Uid>, IdRejection> {
        Ok(match self.check_uid_view(uid.view())? {
            UidView::Uuid(bytes) if matches!(uid, Uid::Text(_)) => std::borrow::Cow::Owned(Uid::Uuid(bytes)),
            _ => std::borrow::Cow::Borrowed(uid),
        })
    }

    /// As [`IdValidator::check_uid`], of a borrowed uid: the same verdict and the same
    /// rejection, and the canonical form as a view (never an allocation but for a rejection's
    /// words).
    pub fn check_uid_view<'u>(&self, uid: UidView<'u>) -> Result<UidView<'u>, IdRejection> {
        let canonical = uid.canonical()?;
        if let UidView::Text(bytes) = canonical {
            if self.blocked.is_blocked(bytes) {
                return Err(IdRejection::Blocked {
                    kind: IdKind::Uid,
                    value: String::from_utf8_lossy(bytes).into_owned(),
                });
            }
        }
        Ok(canonical)
    }

    /// Checks a cid; a cid has no other canonical form than its bytes.
    pub fn check_cid(&self, cid: &Cid) -> Result<(), IdRejection> {
        self.check_cid_bytes(cid.as_bytes())
    }

    /// As [`IdValidator::check_cid`], of a cid's bytes borrowed from wherever they are.
    pub fn check_cid_bytes(&self, cid: &[u8]) -> Result<(), IdRejection> {
        check_id_bytes(cid, IdKind::Cid)?;
        if self.blocked.is_blocked(cid) {
            return Err(IdRejection::Blocked { kind: IdKind::Cid, value: String::from_utf8_lossy(cid).into_owned() });
        }
        Ok(())
    }
}
