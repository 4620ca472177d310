#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
//! The blocked list's patterns, the nil-UUID switch, `distinctid`, and the entries refused
//! because they could never take effect: the worked examples of docs/SEMANTICS.md ("Blocked
//! values"), one test each.

use idres_model::validate::{DEFAULT_BLOCKED_CASE_INSENSITIVE, DEFAULT_BLOCKED_CASE_INSENSITIVE_V1};
use idres_model::{BlockedEntryError, BlockedList, Cid, IdKind, IdRejection, IdValidator, Uid, NIL_UUID};

fn uid_blocked(v: &IdValidator, text: &str) -> bool {
    match v.check_uid(&Uid::from_wire_bytes(text.as_bytes().to_vec())) {
        Ok(_) => false,
        Err(IdRejection::Blocked { kind: IdKind::Uid, .. }) => true,
        Err(e) => panic!("{text:?}: {e}"),
    }
}

fn cid_blocked(v: &IdValidator, text: &str) -> bool {
    match v.check_cid(&Cid::parse(text).unwrap()) {
        Ok(()) => false,
        Err(IdRejection::Blocked { kind: IdKind::Cid, .. }) => true,
        Err(e) => panic!("{text:?}: {e}"),
    }
}

/// Example: `uid_patterns = ["^[0-]*$"]` blocks the uids `0000` and `0-0-0` but not `00a`, and
/// not the cid `0000` (patterns are per kind).
#[test]
fn example_a_uid_pattern_blocks_uids_only() {
    let mut list = BlockedList::default();
    list.try_add_pattern(IdKind::Uid, "^[0-]*$").unwrap();
    let v = IdValidator::new(list);
    assert!(uid_blocked(&v, "0000"));
    assert!(uid_blocked(&v, "0-0-0"));
    assert!(!uid_blocked(&v, "00a"));
    assert!(!cid_blocked(&v, "0000"), "a uid pattern leaves cids alone");
    assert!(cid_blocked(&v, "0"), "the exact value 0 blocks both kinds");
}

/// Example: patterns are anchored only as written: `test` blocks any cid containing it.
#[test]
fn example_patterns_are_anchored_as_written() {
    let mut list = BlockedList::default();
    list.try_add_pattern(IdKind::Cid, "test").unwrap();
    list.try_add_pattern(IdKind::Cid, "^qa-[0-9]+$").unwrap();
    let v = IdValidator::new(list);
    assert!(cid_blocked(&v, "my-test-user"));
    assert!(cid_blocked(&v, "qa-17"));
    assert!(!cid_blocked(&v, "qa-17b"), "anchored at both ends");
    assert!(!cid_blocked(&v, "Test"), "case-sensitive unless the pattern says (?i)");
}

/// Example: a pattern sees the id as given, not unwrapped of quotes: `^[0-]*$` does not block
/// the cid `"000"` with its quotes.
#[test]
fn example_patterns_see_the_id_as_given() {
    let mut list = BlockedList::default();
    list.try_add_pattern(IdKind::Cid, "^[0-]*$").unwrap();
    let v = IdValidator::new(list);
    assert!(cid_blocked(&v, "000"));
    assert!(!cid_blocked(&v, "\"000\""));
}

/// Example: a uid pattern sees the canonical form: a UUID-form uid is never matched by one (the
/// nil UUID has its own switch).
#[test]
fn example_a_uuid_uid_is_not_matched_by_patterns() {
    let mut list = BlockedList::default();
    list.try_add_pattern(IdKind::Uid, "^[0-9a-f-]+$").unwrap();
    let v = IdValidator::new(list);
    assert!(!uid_blocked(&v, "67e55044-10b1-426f-9247-bb680e5fe0c8"));
    assert!(uid_blocked(&v, "abc-123"));
}

/// Example: the nil UUID is blocked as a uid by default, in every form it parses from; with
/// `block_nil_uuid = false` it is an ordinary device. As a cid it is text, never blocked by the
/// switch.
#[test]
fn example_the_nil_uuid_is_blocked_by_default() {
    let v = IdValidator::default();
    for form in [NIL_UUID, "00000000000000000000000000000000", "{00000000-0000-0000-0000-000000000000}"] {
        assert!(uid_blocked(&v, form), "{form}");
    }
    let err = v.check_uid(&Uid::parse(NIL_UUID).unwrap()).unwrap_err();
    assert_eq!(err.to_string(), format!("uid {NIL_UUID:?} is a blocked value"));
    assert!(!cid_blocked(&v, NIL_UUID));
    let mut off = BlockedList::default();
    off.set_block_nil_uuid(false);
    assert!(!uid_blocked(&IdValidator::new(off), NIL_UUID));
    assert!(!uid_blocked(&v, "00000000-0000-0000-0000-000000000001"));
}

/// Example: `distinctid`, in any ASCII case, is on the default list (beside `distinct_id`).
#[test]
fn example_distinctid_is_blocked_by_default() {
    let v = IdValidator::default();
    for text in ["distinctid", "DistinctId", "DISTINCTID", "'distinctid'"] {
        assert!(cid_blocked(&v, text), "{text}");
        assert!(uid_blocked(&v, text), "{text}");
    }
    let old = IdValidator::new(BlockedList::default_v1());
    assert!(!cid_blocked(&old, "distinctid"), "the first default list did not hold it");
    assert!(!uid_blocked(&old, NIL_UUID), "nor the nil UUID");
}

/// The first default list is the new one without `distinctid` and the nil UUID, and its
/// canonical bytes are the first layout's (no tagged sections): the old config hash.
#[test]
fn the_first_default_list_keeps_its_bytes() {
    let mut v1: Vec<&str> = DEFAULT_BLOCKED_CASE_INSENSITIVE.into_iter().filter(|e| *e != "distinctid").collect();
    v1.sort_unstable();
    let mut old = DEFAULT_BLOCKED_CASE_INSENSITIVE_V1.to_vec();
    old.sort_unstable();
    assert_eq!(v1, old);
    let bytes = BlockedList::default_v1().canonical_bytes();
    let mut rebuilt = BlockedList::default_v1();
    rebuilt.set_block_nil_uuid(false);
    assert_eq!(bytes, rebuilt.canonical_bytes());
    assert_ne!(bytes, BlockedList::default().canonical_bytes());
    // Byte for byte: magic, then the two counted sets, then nothing.
    let mut tail = BlockedList::default_v1();
    tail.try_add_pattern(IdKind::Uid, "^x$").unwrap();
    assert!(tail.canonical_bytes().starts_with(&bytes));
    assert_eq!(tail.canonical_bytes().len(), bytes.len() + 1 + 4 + 4 + 3);
}

/// Patterns enter the canonical bytes sorted, and per kind: the order they were added in does
/// not matter, the kind does.
#[test]
fn patterns_enter_the_canonical_bytes_sorted_and_per_kind() {
    let mut a = BlockedList::default();
    a.try_add_pattern(IdKind::Uid, "^b$").unwrap();
    a.try_add_pattern(IdKind::Uid, "^a$").unwrap();
    let mut b = BlockedList::default();
    b.try_add_pattern(IdKind::Uid, "^a$").unwrap();
    b.try_add_pattern(IdKind::Uid, "^b$").unwrap();
    assert_eq!(a.canonical_bytes(), b.canonical_bytes());
    assert_eq!(a, b);
    let mut c = BlockedList::default();
    c.try_add_pattern(IdKind::Cid, "^a$").unwrap();
    c.try_add_pattern(IdKind::Cid, "^b$").unwrap();
    assert_ne!(a.canonical_bytes(), c.canonical_bytes());
    assert_eq!(a.patterns_of(IdKind::Uid).collect::<Vec<_>>(), ["^a$", "^b$"]);
}

/// Exact values are checked before the patterns, and the patterns only of the id's kind.
#[test]
fn values_are_checked_before_patterns() {
    let mut list = BlockedList::default();
    list.try_add_pattern(IdKind::Cid, "^zz").unwrap();
    assert!(list.is_blocked_as(IdKind::Cid, b"null"));
    assert!(list.is_blocked_as(IdKind::Cid, b"zzz"));
    assert!(!list.is_blocked_as(IdKind::Uid, b"zzz"));
    assert!(!list.is_blocked(b"zzz"), "is_blocked is the values only");
    assert!(!list.is_blocked_as(IdKind::Cid, b"\xff"), "not UTF-8: malformed, never blocked");
}

fn refused(result: Result<(), BlockedEntryError>) -> BlockedEntryError {
    result.expect_err("the entry should be refused")
}

/// Refused: an empty value or pattern.
#[test]
fn an_empty_entry_is_refused() {
    let mut list = BlockedList::default();
    assert!(matches!(refused(list.try_add_exact("")), BlockedEntryError::Empty { list: "exact", .. }));
    assert!(matches!(refused(list.try_add_case_insensitive("")), BlockedEntryError::Empty { .. }));
    assert!(matches!(refused(list.try_add_pattern(IdKind::Uid, "")), BlockedEntryError::Empty { .. }));
}

/// Refused: a value no valid id could equal (whitespace at an end, a control character, too
/// long), with the id rule it breaks.
#[test]
fn a_value_that_is_not_a_valid_id_is_refused() {
    let mut list = BlockedList::default();
    for bad in [" null", "null ", "a\tb", "x\u{7f}", "   ", &"x".repeat(257)] {
        let e = refused(list.try_add_exact(bad));
        assert!(matches!(e, BlockedEntryError::NotAnId { .. }), "{bad:?}: {e}");
        assert!(matches!(refused(list.try_add_case_insensitive(bad)), BlockedEntryError::NotAnId { .. }));
    }
    let e = refused(list.try_add_exact(" null"));
    assert_eq!(
        e.to_string(),
        "exact entry \" null\" is not a valid id (cid starts with whitespace), so no id could ever equal it"
    );
    // 256 bytes is a valid cid.
    list.try_add_exact(&"x".repeat(256)).unwrap();
}

/// Refused: a duplicate, whether given twice, already on the default list, or an exact value a
/// case-insensitive entry blocks already.
#[test]
fn a_duplicate_is_refused() {
    let mut list = BlockedList::default();
    let e = refused(list.try_add_case_insensitive("NULL"));
    assert_eq!(e.to_string(), "case_insensitive entry \"NULL\" is already blocked by case_insensitive entry \"null\"");
    assert!(matches!(refused(list.try_add_exact("0")), BlockedEntryError::Duplicate { .. }));
    assert!(matches!(refused(list.try_add_exact("Undefined")), BlockedEntryError::Duplicate { .. }));
    list.try_add_exact("Test").unwrap();
    assert!(matches!(refused(list.try_add_exact("Test")), BlockedEntryError::Duplicate { .. }));
    list.try_add_pattern(IdKind::Cid, "^t$").unwrap();
    assert!(matches!(refused(list.try_add_pattern(IdKind::Cid, "^t$")), BlockedEntryError::Duplicate { .. }));
    list.try_add_pattern(IdKind::Uid, "^t$").unwrap();
}

/// Refused: a pattern that does not compile.
#[test]
fn a_pattern_that_does_not_compile_is_refused() {
    let mut list = BlockedList::default();
    for bad in ["(", "[a-", "a{2,1}", "\\p{Nope}"] {
        let e = refused(list.try_add_pattern(IdKind::Cid, bad));
        assert!(matches!(e, BlockedEntryError::PatternInvalid { .. }), "{bad}: {e}");
        assert!(e.to_string().starts_with(&format!("cid_patterns pattern {bad:?} does not compile")), "{e}");
    }
}

/// Refused: a pattern that can never match a valid id: only the empty string, nothing at all, or
/// only text longer than the kind's limit (a uid's 128 bytes is less than a cid's 256).
#[test]
fn a_pattern_that_can_never_match_is_refused() {
    let mut list = BlockedList::default();
    for bad in ["^$", "^(?:)$", "[^\\s\\S]", "^x{129}"] {
        let e = refused(list.try_add_pattern(IdKind::Uid, bad));
        assert!(matches!(e, BlockedEntryError::PatternNeverMatches { kind: IdKind::Uid, .. }), "{bad}: {e}");
    }
    list.try_add_pattern(IdKind::Cid, "^x{129}").unwrap();
    assert!(matches!(
        refused(list.try_add_pattern(IdKind::Cid, "x{257}")),
        BlockedEntryError::PatternNeverMatches { .. }
    ));
    let e = refused(list.try_add_pattern(IdKind::Uid, "^$"));
    assert_eq!(
        e.to_string(),
        "uid_patterns pattern \"^$\" can never match a valid uid: it matches only the empty string, and no id is empty"
    );
}

/// Refused: a pattern that matches every id (an unanchored pattern that can match nothing).
#[test]
fn a_pattern_that_matches_everything_is_refused() {
    let mut list = BlockedList::default();
    for bad in [".*", "^", "[0-]*", "x?", "\\b"] {
        let e = refused(list.try_add_pattern(IdKind::Cid, bad));
        assert!(matches!(e, BlockedEntryError::PatternMatchesEverything { .. }), "{bad}: {e}");
    }
}

/// A refused entry leaves the list as it was.
#[test]
fn a_refused_entry_changes_nothing() {
    let mut list = BlockedList::default();
    let before = list.canonical_bytes();
    let _ = list.try_add_pattern(IdKind::Uid, "(");
    let _ = list.try_add_exact(" x");
    let _ = list.try_add_case_insensitive("null");
    assert_eq!(list.canonical_bytes(), before);
}
