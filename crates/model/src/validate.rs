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

/// Entries blocked ignoring ASCII case, by default: [`DEFAULT_BLOCKED_CASE_INSENSITIVE_V1`] and
/// `distinctid` (issue 15 part 6).
pub const DEFAULT_BLOCKED_CASE_INSENSITIVE: [&str; 17] = [
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
    "distinctid",
    "user_id",
    "email",
    "not_authenticated",
    "unknown",
    "n/a",
];

/// The case-insensitive entries of the first default list (before `distinctid` joined it): what
/// [`BlockedList::default_v1`] holds, for data directories and pinned digests made under it.
pub const DEFAULT_BLOCKED_CASE_INSENSITIVE_V1: [&str; 16] = [
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

/// Whether the all-zero (nil) UUID is blocked as a uid by default (`block_nil_uuid`): SDKs and
/// platforms send it when they have no device id (an advertising id with tracking limited, an
/// uninitialised UUID field), so it is a placeholder like `null`.
pub const DEFAULT_BLOCK_NIL_UUID: bool = true;

/// The nil UUID as it is printed.
pub const NIL_UUID: &str = "00000000-0000-0000-0000-000000000000";

/// Magic that starts [`BlockedList::canonical_bytes`]; its trailing digit is the layout version.
const CANONICAL_MAGIC: &[u8] = b"idres.blocked-list.1\n";

/// Tags of the sections [`BlockedList::canonical_bytes`] appends after the first layout, each only
/// when it is not empty (off), so a list without them has the bytes it always had.
const TAG_UID_PATTERNS: u8 = 1;
const TAG_CID_PATTERNS: u8 = 2;
const TAG_BLOCK_NIL_UUID: u8 = 3;

/// Ids that probe whether a pattern matches everything: a pattern that matches every one of
/// these would block (nearly) every id, which is refused as a mistake.
const PROBE_IDS: [&str; 5] =
    ["a", "Z9", "customer-000001", "user42@example.com", "6ba7b810-9dad-11d1-80b4-00c04fd430c8"];

/// A blocked-list entry that cannot take effect, refused when the list is built from a config.
/// `list` names the list the entry was given in (`case_insensitive`, `exact`, `uid_patterns`,
/// `cid_patterns`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BlockedEntryError {
    /// The empty string: no id is empty (an empty pattern would match every id).
    #[error("{list} entry {entry:?} is empty: no id is empty, so it could never take effect")]
    Empty {
        /// Which list.
        list: &'static str,
        /// The entry as given.
        entry: String,
    },
    /// Not a valid id (whitespace at an end, a control character, too long): no id the fold
    /// checks could ever equal it.
    #[error("{list} entry {entry:?} is not a valid id ({why}), so no id could ever equal it")]
    NotAnId {
        /// Which list.
        list: &'static str,
        /// The entry as given.
        entry: String,
        /// The id rule it breaks.
        why: IdError,
    },
    /// Already on the list: given twice, on the default list that `extend` keeps, or (an exact
    /// entry) equal to a case-insensitive entry but for case.
    #[error("{list} entry {entry:?} is already blocked by {by}")]
    Duplicate {
        /// Which list.
        list: &'static str,
        /// The entry as given.
        entry: String,
        /// The entry already there that blocks it.
        by: String,
    },
    /// A pattern that does not compile.
    #[error("{list} pattern {entry:?} does not compile: {why}")]
    PatternInvalid {
        /// Which list.
        list: &'static str,
        /// The pattern as given.
        entry: String,
        /// The regex crate's message.
        why: String,
    },
    /// A pattern that compiles but can never match a valid id of its kind.
    #[error("{list} pattern {entry:?} can never match a valid {kind}: {why}")]
    PatternNeverMatches {
        /// Which list.
        list: &'static str,
        /// The pattern as given.
        entry: String,
        /// The kind of id it was given for.
        kind: IdKind,
        /// Why.
        why: String,
    },
    /// A pattern that matches every probe id: it would block (nearly) every id.
    #[error("{list} pattern {entry:?} matches every id (it matches {probe:?}); anchor it (`^…$`)")]
    PatternMatchesEverything {
        /// Which list.
        list: &'static str,
        /// The pattern as given.
        entry: String,
        /// One ordinary id it matches.
        probe: &'static str,
    },
}

/// The patterns of one kind of id: their sources (sorted) and, compiled once, one set.
#[derive(Clone, Default)]
struct Patterns {
    sources: BTreeSet<String>,
    set: Option<regex::RegexSet>,
}

impl Patterns {
    fn is_match(&self, id: &str) -> bool {
        self.set.as_ref().is_some_and(|s| s.is_match(id))
    }
}

impl PartialEq for Patterns {
    fn eq(&self, other: &Patterns) -> bool {
        self.sources == other.sources
    }
}

impl Eq for Patterns {}

impl std::hash::Hash for Patterns {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.sources.hash(state);
    }
}

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
/// Besides these values, each kind of id has its own **patterns** (regular expressions of the
/// `regex` crate, matched against the id as given, its canonical form for a uid; anchored only as
/// written, so `^[0-]*$` blocks `000` and `0-0` but `test` blocks any id containing `test`). The
/// values are checked first; the patterns only for an id no value blocks. And the nil UUID can be
/// blocked as a uid ([`BlockedList::set_block_nil_uuid`], on by default); no other UUID-form uid
/// is ever blocked.
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
    uid_patterns: Patterns,
    cid_patterns: Patterns,
    block_nil_uuid: bool,
}

impl Default for BlockedList {
    /// The documented default list of SEMANTICS §6: [`DEFAULT_BLOCKED_CASE_INSENSITIVE`],
    /// [`DEFAULT_BLOCKED_EXACT`], no patterns, and the nil UUID blocked
    /// ([`DEFAULT_BLOCK_NIL_UUID`]).
    fn default() -> BlockedList {
        let mut list = BlockedList::new(DEFAULT_BLOCKED_CASE_INSENSITIVE, DEFAULT_BLOCKED_EXACT);
        list.block_nil_uuid = DEFAULT_BLOCK_NIL_UUID;
        list
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
            uid_patterns: Patterns::default(),
            cid_patterns: Patterns::default(),
            block_nil_uuid: false,
        }
    }

    /// The default list of the releases before `distinctid` and the nil UUID joined it:
    /// [`DEFAULT_BLOCKED_CASE_INSENSITIVE_V1`] and [`DEFAULT_BLOCKED_EXACT`], the nil UUID not
    /// blocked. Its canonical bytes are those the old default had, so a config built on it has
    /// the old config hash (pinned digests, data directories written under the old default).
    pub fn default_v1() -> BlockedList {
        BlockedList::new(DEFAULT_BLOCKED_CASE_INSENSITIVE_V1, DEFAULT_BLOCKED_EXACT)
    }

    /// Adds a case-insensitive entry from a config, refusing one that cannot take effect: empty,
    /// not a valid id, or already blocked by an entry on the list.
    pub fn try_add_case_insensitive(&mut self, entry: &str) -> Result<(), BlockedEntryError> {
        const LIST: &str = "case_insensitive";
        check_value(LIST, entry)?;
        let lower = entry.to_ascii_lowercase();
        if self.case_insensitive.contains(&lower) {
            return Err(BlockedEntryError::Duplicate {
                list: LIST,
                entry: entry.to_owned(),
                by: format!("case_insensitive entry {lower:?}"),
            });
        }
        self.extend([entry], [] as [&str; 0]);
        Ok(())
    }

    /// Adds an exact entry from a config, refusing one that cannot take effect: empty, not a
    /// valid id, already an exact entry, or blocked already by a case-insensitive entry.
    pub fn try_add_exact(&mut self, entry: &str) -> Result<(), BlockedEntryError> {
        const LIST: &str = "exact";
        check_value(LIST, entry)?;
        let by = if self.exact.contains(entry) {
            Some(format!("exact entry {entry:?}"))
        } else {
            let lower = entry.to_ascii_lowercase();
            self.case_insensitive.contains(&lower).then(|| format!("case_insensitive entry {lower:?}"))
        };
        if let Some(by) = by {
            return Err(BlockedEntryError::Duplicate { list: LIST, entry: entry.to_owned(), by });
        }
        self.extend([] as [&str; 0], [entry]);
        Ok(())
    }

    /// Adds a pattern for ids of `kind` from a config, compiled at once, refusing one that does
    /// not compile, can never match a valid id of that kind (matches only the empty string, or
    /// only text longer than the kind's limit), matches every id, or is on the list already.
    pub fn try_add_pattern(&mut self, kind: IdKind, pattern: &str) -> Result<(), BlockedEntryError> {
        let list = match kind {
            IdKind::Uid => "uid_patterns",
            IdKind::Cid => "cid_patterns",
        };
        let entry = || pattern.to_owned();
        if pattern.is_empty() {
            return Err(BlockedEntryError::Empty { list, entry: entry() });
        }
        let regex = regex::Regex::new(pattern).map_err(|e| BlockedEntryError::PatternInvalid {
            list,
            entry: entry(),
            why: e.to_string(),
        })?;
        // The regex crate's own parser (same syntax, same defaults) tells the lengths a match can
        // have.
        let hir = regex_syntax::Parser::new().parse(pattern).map_err(|e| BlockedEntryError::PatternInvalid {
            list,
            entry: entry(),
            why: e.to_string(),
        })?;
        let props = hir.properties();
        let never = |why: String| BlockedEntryError::PatternNeverMatches { list, entry: entry(), kind, why };
        // A match of length 0 anchored at both ends of the id is a match of the empty id only
        // (`^$`); unanchored, an empty match may sit inside any id (`^`, `\b`: see below).
        let anchored = props.look_set_prefix().contains(regex_syntax::hir::Look::Start)
            && props.look_set_suffix().contains(regex_syntax::hir::Look::End);
        if props.maximum_len() == Some(0) && anchored {
            return Err(never("it matches only the empty string, and no id is empty".into()));
        }
        if props.minimum_len().is_some_and(|min| min > kind.bytes_max()) {
            return Err(never(format!(
                "every match is at least {} bytes long, and a {kind} has at most {}",
                props.minimum_len().unwrap_or_default(),
                kind.bytes_max()
            )));
        }
        if props.minimum_len().is_none() {
            return Err(never("it matches nothing at all".into()));
        }
        if PROBE_IDS.iter().all(|p| regex.is_match(p)) {
            return Err(BlockedEntryError::PatternMatchesEverything { list, entry: entry(), probe: PROBE_IDS[0] });
        }
        let patterns = self.patterns_mut(kind);
        if patterns.sources.contains(pattern) {
            return Err(BlockedEntryError::Duplicate { list, entry: entry(), by: format!("{list} entry {pattern:?}") });
        }
        let mut sources = patterns.sources.clone();
        sources.insert(pattern.to_owned());
        let set = regex::RegexSet::new(&sources).map_err(|e| BlockedEntryError::PatternInvalid {
            list,
            entry: entry(),
            why: e.to_string(),
        })?;
        *patterns = Patterns { sources, set: Some(set) };
        Ok(())
    }

    fn patterns_mut(&mut self, kind: IdKind) -> &mut Patterns {
        match kind {
            IdKind::Uid => &mut self.uid_patterns,
            IdKind::Cid => &mut self.cid_patterns,
        }
    }

    fn patterns(&self, kind: IdKind) -> &Patterns {
        match kind {
            IdKind::Uid => &self.uid_patterns,
            IdKind::Cid => &self.cid_patterns,
        }
    }

    /// The patterns for ids of `kind`, sorted.
    pub fn patterns_of(&self, kind: IdKind) -> impl Iterator<Item = &str> {
        self.patterns(kind).sources.iter().map(String::as_str)
    }

    /// Whether the nil UUID is blocked as a uid.
    pub fn block_nil_uuid(&self) -> bool {
        self.block_nil_uuid
    }

    /// Blocks the nil UUID as a uid, or stops blocking it.
    pub fn set_block_nil_uuid(&mut self, on: bool) {
        self.block_nil_uuid = on;
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

    /// Replaces every value entry (the default ones included) with these; the patterns and the
    /// nil-UUID switch stay as they are.
    pub fn replace<I, E>(&mut self, case_insensitive: I, exact: E)
    where
        I: IntoIterator,
        I::Item: AsRef<str>,
        E: IntoIterator,
        E::Item: AsRef<str>,
    {
        let mut list = BlockedList::new(case_insensitive, exact);
        list.uid_patterns = std::mem::take(&mut self.uid_patterns);
        list.cid_patterns = std::mem::take(&mut self.cid_patterns);
        list.block_nil_uuid = self.block_nil_uuid;
        *self = list;
    }

    /// Whether an id of `kind` is blocked by a value entry or, failing that, by one of the
    /// kind's patterns (matched against `id` as given). Bytes that are not UTF-8 are never
    /// blocked. (The nil UUID is a question for [`IdValidator::check_uid_view`], which sees the
    /// UUID form.)
    pub fn is_blocked_as(&self, kind: IdKind, id: &[u8]) -> bool {
        if self.is_blocked(id) {
            return true;
        }
        let patterns = self.patterns(kind);
        if patterns.set.is_none() {
            return false;
        }
        std::str::from_utf8(id).is_ok_and(|id| patterns.is_match(id))
    }

    /// The case-insensitive entries, ASCII-lower-cased, sorted.
    pub fn case_insensitive(&self) -> impl Iterator<Item = &str> {
        self.case_insensitive.iter().map(String::as_str)
    }

    /// The exact entries, sorted.
    pub fn exact(&self) -> impl Iterator<Item = &str> {
        self.exact.iter().map(String::as_str)
    }

    /// Whether the id bytes are blocked by a value entry, of either kind (see the type's
    /// documentation for the matching rule; patterns are [`BlockedList::is_blocked_as`]'s).
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
    /// order, each entry a `u32` little-endian byte length and its UTF-8 bytes. Then, each only
    /// when present, a tag byte and its section: `1` and the uid patterns, `2` and the cid
    /// patterns (each a set as above: sorted, so deduplicated); `3` when the nil UUID is blocked.
    /// A list without patterns and without the nil UUID has the first layout's bytes.
    pub fn canonical_bytes(&self) -> Vec<u8> {
        let mut out = CANONICAL_MAGIC.to_vec();
        for set in [&self.case_insensitive, &self.exact] {
            push_set(&mut out, set);
        }
        for (tag, patterns) in [(TAG_UID_PATTERNS, &self.uid_patterns), (TAG_CID_PATTERNS, &self.cid_patterns)] {
            if !patterns.sources.is_empty() {
                out.push(tag);
                push_set(&mut out, &patterns.sources);
            }
        }
        if self.block_nil_uuid {
            out.push(TAG_BLOCK_NIL_UUID);
        }
        out
    }
}

fn push_set(out: &mut Vec<u8>, set: &BTreeSet<String>) {
    push_len(out, set.len());
    for entry in set {
        push_len(out, entry.len());
        out.extend_from_slice(entry.as_bytes());
    }
}

/// A value entry of a config that could match an id: not empty, and a valid id of some kind
/// (a cid's limit is the longer).
fn check_value(list: &'static str, entry: &str) -> Result<(), BlockedEntryError> {
    if entry.is_empty() {
        return Err(BlockedEntryError::Empty { list, entry: entry.to_owned() });
    }
    check_id_bytes(entry.as_bytes(), IdKind::Cid).map_err(|why| BlockedEntryError::NotAnId {
        list,
        entry: entry.to_owned(),
        why,
    })?;
    Ok(())
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
            .field("uid_patterns", &self.uid_patterns.sources)
            .field("cid_patterns", &self.cid_patterns.sources)
            .field("block_nil_uuid", &self.block_nil_uuid)
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
    /// is never blocked but for the nil UUID when the list blocks it: the check runs on the
    /// canonical form, so text that parses as a UUID is exempt (or, the nil UUID, blocked) too.
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
        match canonical {
            UidView::Text(bytes) if self.blocked.is_blocked_as(IdKind::Uid, bytes) => {
                return Err(IdRejection::Blocked {
                    kind: IdKind::Uid,
                    value: String::from_utf8_lossy(bytes).into_owned(),
                })
            }
            UidView::Uuid(bytes) if self.blocked.block_nil_uuid && bytes == [0; 16] => {
                return Err(IdRejection::Blocked { kind: IdKind::Uid, value: NIL_UUID.to_owned() })
            }
            _ => {}
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
        if self.blocked.is_blocked_as(IdKind::Cid, cid) {
            return Err(IdRejection::Blocked { kind: IdKind::Cid, value: String::from_utf8_lossy(cid).into_owned() });
        }
        Ok(())
    }
}
