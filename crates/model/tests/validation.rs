#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
//! The id rules of SEMANTICS §6, case by case, for uids and cids alike.

use idres_model::limits::{CID_BYTES_MAX, UID_BYTES_MAX};
use idres_model::validate::{DEFAULT_BLOCKED_CASE_INSENSITIVE, DEFAULT_BLOCKED_EXACT};
use idres_model::{BlockedList, Cid, IdError, IdKind, IdRejection, IdValidator, Uid};

/// What the fold should say about an id.
#[derive(Debug, Clone, Copy)]
enum Verdict {
    Accepted,
    Blocked,
    Invalid(fn(IdKind) -> IdError),
}

fn uid_verdict(validator: &IdValidator, bytes: &[u8]) -> Result<(), IdRejection> {
    validator.check_uid(&Uid::from_wire_bytes(bytes.to_vec())).map(|_| ())
}

fn cid_verdict(validator: &IdValidator, bytes: &[u8]) -> Result<(), IdRejection> {
    validator.check_cid(&Cid::from_wire_bytes(bytes.to_vec()))
}

fn expected_for(kind: IdKind, bytes: &[u8], verdict: Verdict) -> Result<(), IdRejection> {
    match verdict {
        Verdict::Accepted => Ok(()),
        Verdict::Blocked => Err(IdRejection::Blocked { kind, value: String::from_utf8(bytes.to_vec()).unwrap() }),
        Verdict::Invalid(error) => Err(IdRejection::Invalid(error(kind))),
    }
}

/// Checks one input as a uid and as a cid, through the validator and through `parse`.
fn check_with(validator: &IdValidator, input: &[u8], verdict: Verdict) {
    for kind in [IdKind::Uid, IdKind::Cid] {
        let expected = expected_for(kind, input, verdict);
        let got = match kind {
            IdKind::Uid => uid_verdict(validator, input),
            IdKind::Cid => cid_verdict(validator, input),
        };
        assert_eq!(got, expected, "{kind} {:?}", String::from_utf8_lossy(input));

        // The edge's `parse` refuses exactly the malformed ones (blocking is the fold's rule).
        if let Ok(text) = std::str::from_utf8(input) {
            let parsed = match kind {
                IdKind::Uid => Uid::parse(text).map(|_| ()),
                IdKind::Cid => Cid::parse(text).map(|_| ()),
            };
            match verdict {
                Verdict::Invalid(error) => assert_eq!(parsed, Err(error(kind)), "{text:?}"),
                Verdict::Accepted | Verdict::Blocked => assert_eq!(parsed, Ok(()), "{text:?}"),
            }
        }
    }
}

fn check(input: &str, verdict: Verdict) {
    check_with(&IdValidator::default(), input.as_bytes(), verdict);
}

use Verdict::{Accepted, Blocked, Invalid};

// ---------------------------------------------------------------------------------------------
// Blocked values

/// Case variants of an ASCII word: lower, UPPER, Capitalised, aLtErNaTiNg.
fn case_variants(word: &str) -> Vec<String> {
    let mut capitalised = word.to_owned();
    if let Some(first) = capitalised.get_mut(0..1) {
        first.make_ascii_uppercase();
    }
    let alternating =
        word.chars().enumerate().map(|(i, c)| if i % 2 == 1 { c.to_ascii_uppercase() } else { c }).collect();
    vec![word.to_owned(), word.to_ascii_uppercase(), capitalised, alternating]
}

/// Ways of wrapping a value in quotes that the blocked list sees through.
fn quotings(value: &str) -> Vec<String> {
    vec![
        value.to_owned(),
        format!("'{value}'"),
        format!("\"{value}\""),
        format!("\"'{value}'\""),
        format!("'\"{value}\"'"),
        format!("''{value}''"),
        format!("\" {value} \""),
        format!("'  {value}\u{a0}'"),
        format!("\" ' {value} ' \""),
    ]
}

#[test]
fn every_default_case_insensitive_value_is_blocked_in_any_case_and_quoting() {
    for word in DEFAULT_BLOCKED_CASE_INSENSITIVE {
        for variant in case_variants(word) {
            for quoted in quotings(&variant) {
                check(&quoted, Blocked);
            }
        }
    }
}

#[test]
fn named_examples_are_blocked() {
    for value in [
        "NULL",
        "Null",
        "null",
        "n/A",
        "N/A",
        "'null'",
        "\"NULL\"",
        "\"'null'\"",
        "\" null \"",
        "Anonymous",
        "GUEST",
        "UnDeFiNeD",
        "None",
        "NIL",
        "NaN",
        "TRUE",
        "False",
        "ID",
        "Id",
        "DISTINCT_ID",
        "User_Id",
        "EMAIL",
        "Not_Authenticated",
        "Unknown",
    ] {
        check(value, Blocked);
    }
}

#[test]
fn exact_values_are_blocked_only_exactly() {
    for value in ["0", "-1", "[object Object]"] {
        for quoted in quotings(value) {
            check(&quoted, Blocked);
        }
    }
    // Exact means exact: real ids may differ from these only in case or repetition.
    for value in [
        "00",
        "000",
        "-01",
        "0.0",
        "-1.0",
        "1",
        "[OBJECT OBJECT]",
        "[object object]",
        "[Object Object]",
        "object Object",
    ] {
        check(value, Accepted);
    }
}

#[test]
fn quotes_around_nothing_are_blocked() {
    for value in ["\"\"", "''", "\" \"", "'\u{3000}'", "\"''\"", "'\" \"'"] {
        check(value, Blocked);
    }
}

#[test]
fn near_misses_are_accepted() {
    for value in [
        "null_user",
        "nulls",
        "xnull",
        "n/a/b",
        "na",
        "guest1",
        "id_42",
        "email@example.com",
        // Mismatched or one-sided quotes are not unwrapped.
        "\"null'",
        "'null\"",
        "\"null",
        "null'",
        "'",
        "\"",
        // A quote pair with something outside it is not a wrapping.
        "'null'x",
        "x'null'",
        // Inner whitespace between words is not trimmed.
        "n /a",
        // ASCII case folding only: Unicode look-alikes stay distinct.
        "İD",
        "ＮＵＬＬ",
        "NULL\u{200b}",
    ] {
        check(value, Accepted);
    }
}

#[test]
fn a_uuid_uid_is_never_blocked() {
    let nil = "00000000-0000-0000-0000-000000000000";
    let mut list = BlockedList::default();
    // The nil UUID's own switch off (it is on by default; tests/blocked_rules.rs): then no
    // UUID-form uid is blocked, whatever the value entries say.
    list.set_block_nil_uuid(false);
    list.extend([nil, "67e55044-10b1-426f-9247-bb680e5fe0c8"], [nil]);
    let validator = IdValidator::new(list);
    for text in [nil, "67e55044-10b1-426f-9247-bb680e5fe0c8", "67E55044-10B1-426F-9247-BB680E5FE0C8"] {
        let canonical = validator.check_uid(&Uid::from_wire_bytes(text.as_bytes().to_vec())).unwrap();
        assert!(canonical.as_uuid().is_some(), "{text}");
        // The same text as a cid is matched as text, so the extended list blocks it.
        assert!(matches!(
            validator.check_cid(&Cid::parse(text).unwrap()),
            Err(IdRejection::Blocked { kind: IdKind::Cid, .. })
        ));
    }
}

#[test]
fn rejections_name_their_reason_and_kind() {
    let validator = IdValidator::default();
    let blocked = validator.check_cid(&Cid::parse("null").unwrap()).unwrap_err();
    assert_eq!(blocked.reason(), "blocked_value");
    assert_eq!(blocked.kind(), IdKind::Cid);
    assert_eq!(blocked.to_string(), "cid \"null\" is a blocked value");
    let invalid = validator.check_uid(&Uid::from_wire_bytes(Vec::new())).unwrap_err();
    assert_eq!(invalid.reason(), "invalid_id");
    assert_eq!(invalid.kind(), IdKind::Uid);
    assert_eq!(invalid.to_string(), "invalid id: uid is empty");
}

// ---------------------------------------------------------------------------------------------
// Configuring the list

#[test]
fn extend_adds_to_the_defaults() {
    let mut list = BlockedList::default();
    list.extend(["Test-User"], ["X-1"]);
    let validator = IdValidator::new(list);
    for (input, verdict) in [
        ("test-user", Blocked),
        ("TEST-USER", Blocked),
        ("'Test-User'", Blocked),
        ("X-1", Blocked),
        ("\"X-1\"", Blocked),
        ("x-1", Accepted),
        ("null", Blocked),
        ("0", Blocked),
    ] {
        check_with(&validator, input.as_bytes(), verdict);
    }
}

#[test]
fn replace_drops_the_defaults() {
    let mut list = BlockedList::default();
    list.replace(["foo"], ["Bar"]);
    let validator = IdValidator::new(list);
    for (input, verdict) in [
        ("FOO", Blocked),
        ("'foo'", Blocked),
        ("Bar", Blocked),
        ("bar", Accepted),
        ("null", Accepted),
        ("0", Accepted),
        ("''", Accepted),
    ] {
        check_with(&validator, input.as_bytes(), verdict);
    }
}

#[test]
fn the_empty_list_blocks_nothing() {
    let validator = IdValidator::new(BlockedList::empty());
    for input in ["null", "0", "''", "[object Object]"] {
        check_with(&validator, input.as_bytes(), Accepted);
    }
    // Malformed stays malformed.
    check_with(&validator, b" null", Invalid(|kind| IdError::LeadingWhitespace { kind }));
}

#[test]
fn canonical_bytes_depend_on_content_only() {
    let a = BlockedList::new(["b", "A", "c"], ["y", "x"]);
    let mut b = BlockedList::empty();
    b.extend(["C"], ["x"]);
    b.extend(["a", "B", "a"], ["y"]);
    assert_eq!(a, b);
    assert_eq!(a.canonical_bytes(), b.canonical_bytes());
    assert_eq!(a.case_insensitive().collect::<Vec<_>>(), ["a", "b", "c"]);
    assert_eq!(a.exact().collect::<Vec<_>>(), ["x", "y"]);

    // Which set an entry is in matters.
    assert_ne!(
        BlockedList::new(["a"], [] as [&str; 0]).canonical_bytes(),
        BlockedList::new([] as [&str; 0], ["a"]).canonical_bytes()
    );
    // Entry boundaries matter.
    assert_ne!(
        BlockedList::new(["ab", "c"], [] as [&str; 0]).canonical_bytes(),
        BlockedList::new(["a", "bc"], [] as [&str; 0]).canonical_bytes()
    );
    assert_ne!(BlockedList::default().canonical_bytes(), BlockedList::empty().canonical_bytes());

    // The layout is documented; pin it.
    let mut expected = b"idres.blocked-list.1\n".to_vec();
    expected.extend_from_slice(&1_u32.to_le_bytes());
    expected.extend_from_slice(&2_u32.to_le_bytes());
    expected.extend_from_slice(b"ab");
    expected.extend_from_slice(&0_u32.to_le_bytes());
    assert_eq!(BlockedList::new(["AB"], [] as [&str; 0]).canonical_bytes(), expected);
}

#[test]
fn the_default_list_is_the_documented_one() {
    let list = BlockedList::default();
    let mut case_insensitive: Vec<_> = DEFAULT_BLOCKED_CASE_INSENSITIVE.to_vec();
    case_insensitive.sort_unstable();
    assert_eq!(list.case_insensitive().collect::<Vec<_>>(), case_insensitive);
    let mut exact: Vec<_> = DEFAULT_BLOCKED_EXACT.to_vec();
    exact.sort_unstable();
    assert_eq!(list.exact().collect::<Vec<_>>(), exact);
    assert_eq!(DEFAULT_BLOCKED_CASE_INSENSITIVE.len(), 17, "the first 16 and distinctid");
    assert!(list.block_nil_uuid(), "the nil UUID is blocked by default");
    assert_eq!(exact, ["", "-1", "0", "[object Object]"]);
}

// ---------------------------------------------------------------------------------------------
// Malformed ids

#[test]
fn malformed_ids_are_invalid_with_the_right_reason() {
    let cases: &[(&str, Verdict)] = &[
        ("", Invalid(|kind| IdError::Empty { kind })),
        (" ", Invalid(|kind| IdError::WhitespaceOnly { kind })),
        ("   \t\n ", Invalid(|kind| IdError::WhitespaceOnly { kind })),
        ("\u{3000}", Invalid(|kind| IdError::WhitespaceOnly { kind })),
        (" abc", Invalid(|kind| IdError::LeadingWhitespace { kind })),
        ("\tabc", Invalid(|kind| IdError::LeadingWhitespace { kind })),
        ("\u{a0}abc", Invalid(|kind| IdError::LeadingWhitespace { kind })),
        ("\u{3000}abc", Invalid(|kind| IdError::LeadingWhitespace { kind })),
        ("abc ", Invalid(|kind| IdError::TrailingWhitespace { kind })),
        ("abc\n", Invalid(|kind| IdError::TrailingWhitespace { kind })),
        ("abc\u{2028}", Invalid(|kind| IdError::TrailingWhitespace { kind })),
        // Whitespace checks come first, so a blocked value with spaces is invalid, not blocked.
        (" null ", Invalid(|kind| IdError::LeadingWhitespace { kind })),
        ("a\0b", Invalid(|kind| IdError::ControlCharacter { kind, code_point: 0, offset: 1 })),
        ("ab\u{7f}", Invalid(|kind| IdError::ControlCharacter { kind, code_point: 0x7f, offset: 2 })),
        ("\u{1b}[31m", Invalid(|kind| IdError::ControlCharacter { kind, code_point: 0x1b, offset: 0 })),
        ("ä\u{9f}x", Invalid(|kind| IdError::ControlCharacter { kind, code_point: 0x9f, offset: 2 })),
        // A tab is whitespace but also a control character: inside quotes it is malformed.
        ("'\tnull'", Invalid(|kind| IdError::ControlCharacter { kind, code_point: 0x09, offset: 1 })),
        ("line\nbreak", Invalid(|kind| IdError::ControlCharacter { kind, code_point: 0x0a, offset: 4 })),
    ];
    for &(input, verdict) in cases {
        check(input, verdict);
    }
}

#[test]
fn non_utf8_wire_bytes_are_invalid() {
    let validator = IdValidator::default();
    for (bytes, valid_up_to) in [(&b"ab\xffcd"[..], 2), (&b"\xc3"[..], 0), (&b"ok\xed\xa0\x80"[..], 2)] {
        check_with(
            &validator,
            bytes,
            Invalid(match valid_up_to {
                0 => |kind| IdError::NotUtf8 { kind, valid_up_to: 0 },
                _ => |kind| IdError::NotUtf8 { kind, valid_up_to: 2 },
            }),
        );
    }
}

#[test]
fn length_limits_count_bytes() {
    let validator = IdValidator::default();
    let uid_ok = "u".repeat(UID_BYTES_MAX);
    let uid_long = "u".repeat(UID_BYTES_MAX + 1);
    assert_eq!(uid_verdict(&validator, uid_ok.as_bytes()), Ok(()));
    assert_eq!(
        uid_verdict(&validator, uid_long.as_bytes()),
        Err(IdRejection::Invalid(IdError::TooLong { kind: IdKind::Uid, len: 129, max: 128 }))
    );
    assert_eq!(Uid::parse(&uid_ok).unwrap().to_string(), uid_ok);
    assert!(matches!(Uid::parse(&uid_long), Err(IdError::TooLong { len: 129, .. })));

    let cid_ok = "c".repeat(CID_BYTES_MAX);
    let cid_long = "c".repeat(CID_BYTES_MAX + 1);
    assert_eq!(cid_verdict(&validator, cid_ok.as_bytes()), Ok(()));
    // A 129..=256-byte id is a fine cid but too long for a uid.
    assert_eq!(cid_verdict(&validator, uid_long.as_bytes()), Ok(()));
    assert_eq!(
        cid_verdict(&validator, cid_long.as_bytes()),
        Err(IdRejection::Invalid(IdError::TooLong { kind: IdKind::Cid, len: 257, max: 256 }))
    );
    assert_eq!(Cid::parse(&cid_long).unwrap_err().to_string(), "cid is 257 bytes long, over the limit of 256");

    // 'ß' is two bytes: 64 of them fill a uid exactly, 65 overflow it.
    assert!(Uid::parse(&"ß".repeat(64)).is_ok());
    assert!(matches!(Uid::parse(&"ß".repeat(65)), Err(IdError::TooLong { len: 130, .. })));
}

// ---------------------------------------------------------------------------------------------
// Valid ids

#[test]
fn valid_edge_cases_are_accepted() {
    for input in ["Łukasz-ß-名前", "Bob", "bob", "a", "user 42", "a\u{a0}b", "🙂", "nullable", "' 'x"] {
        check(input, Accepted);
    }
    let upper = Cid::parse("Bob").unwrap();
    let lower = Cid::parse("bob").unwrap();
    assert_ne!(upper, lower);
    assert_eq!(upper.as_bytes(), b"Bob");
    let name = Cid::parse("Łukasz-ß-名前").unwrap();
    assert_eq!(name.to_string(), "Łukasz-ß-名前");
    assert_eq!(name.as_str(), Some("Łukasz-ß-名前"));
}

#[test]
fn uuid_forms_canonicalise_to_one_uid() {
    let canonical = "67e55044-10b1-426f-9247-bb680e5fe0c8";
    let forms = [
        canonical,
        "67E55044-10B1-426F-9247-BB680E5FE0C8",
        "67e5504410b1426f9247bb680e5fe0c8",
        "67E5504410B1426F9247BB680E5FE0C8",
        "{67e55044-10b1-426f-9247-bb680e5fe0c8}",
        "{67E55044-10B1-426F-9247-BB680E5FE0C8}",
        "urn:uuid:67e55044-10b1-426f-9247-bb680e5fe0c8",
        "urn:uuid:67E55044-10B1-426F-9247-BB680E5FE0C8",
    ];
    let expected = Uid::from_uuid(uuid::Uuid::parse_str(canonical).unwrap());
    let validator = IdValidator::default();
    for form in forms {
        let parsed = Uid::parse(form).unwrap();
        assert_eq!(parsed, expected, "{form}");
        assert_eq!(parsed.to_string(), canonical, "{form}");
        assert_eq!(form.parse::<Uid>().unwrap(), expected);

        // From a log: kept as text until canonicalised.
        let wire = Uid::from_wire_bytes(form.as_bytes().to_vec());
        assert_ne!(wire, expected);
        assert_eq!(wire.as_text_bytes(), Some(form.as_bytes()));
        assert_eq!(wire.canonical().unwrap(), expected);
        assert_eq!(validator.check_uid(&wire).unwrap(), expected);
    }
    // Not UUIDs: stay text.
    for text in [
        "67e55044-10b1-426f-9247-bb680e5fe0c",
        "67e55044-10b1-426f-9247-bb680e5fe0c8x",
        "g7e55044-10b1-426f-9247-bb680e5fe0c8",
        "device-42",
    ] {
        let uid = Uid::parse(text).unwrap();
        assert_eq!(uid.as_uuid(), None, "{text}");
        assert_eq!(uid.to_string(), text);
    }
}

#[test]
fn text_uids_display_lossily_when_not_utf8() {
    let uid = Uid::from_wire_bytes(b"a\xffb".to_vec());
    assert_eq!(uid.to_string(), "a\u{fffd}b");
    let cid = Cid::from_wire_bytes(b"a\xffb".to_vec());
    assert_eq!(cid.to_string(), "a\u{fffd}b");
    assert_eq!(cid.as_str(), None);
}

/// `is_blocked` as its documentation states the rule, without shortcuts: the reference the
/// list's first-byte filter must agree with.
fn blocked_by_the_rule(ci: &[&str], exact: &[&str], id: &str) -> bool {
    let matches = |c: &str| exact.contains(&c) || ci.iter().any(|e| e.eq_ignore_ascii_case(c));
    let mut candidate = id;
    loop {
        if matches(candidate) {
            return true;
        }
        let unquoted = ['"', '\''].into_iter().find_map(|q| candidate.strip_prefix(q).and_then(|r| r.strip_suffix(q)));
        match unquoted {
            Some(inner) => candidate = inner.trim(),
            None => return false,
        }
    }
}

#[test]
fn the_first_byte_filter_decides_as_the_rule_does() {
    // Entries starting with letters of either case, digits, punctuation, non-ASCII and nothing.
    let ci = ["Null", "éclair", "x", "[Obj", "9lives", ""];
    let exact = ["Ab", "'q'", "0", "ü", "-1"];
    let list = BlockedList::new(ci, exact);
    let pieces =
        ["null", "NULL", "nUlL", "Éclair", "éclair", "X", "x", "[obj", "[OBJ", "9LIVES", "Ab", "ab", "'q'", "q"];
    let more = ["0", "00", "ü", "Ü", "-1", "", " ", "y", "zz", "\"", "'", "customer-1", "web-0a"];
    let mut ids = Vec::new();
    for p in pieces.iter().chain(more.iter()) {
        for q in quotings(p) {
            ids.push(q);
        }
        ids.push(p.to_string());
    }
    for id in &ids {
        assert_eq!(list.is_blocked(id.as_bytes()), blocked_by_the_rule(&ci, &exact, id), "{id:?}");
    }
    // The empty list, and the default one.
    for id in &ids {
        assert!(!BlockedList::empty().is_blocked(id.as_bytes()), "{id:?}");
        let default = BlockedList::default();
        let (dci, dex): (Vec<&str>, Vec<&str>) =
            (DEFAULT_BLOCKED_CASE_INSENSITIVE.to_vec(), DEFAULT_BLOCKED_EXACT.to_vec());
        assert_eq!(default.is_blocked(id.as_bytes()), blocked_by_the_rule(&dci, &dex, id), "{id:?}");
    }
}
