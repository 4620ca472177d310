//! The number literals of an input line that a parsed JSON tree does not hold exactly.
//!
//! serde_json (without `arbitrary_precision`, which would change numbers for every user of the
//! crate) turns an integer literal past 64 bits into a float, and keeps no text of any number:
//! `123456789012345678901234` and `…235` become one float, `12345.0` cannot be told from
//! `12345`. This module reads the literals themselves from the line's text, so that the input
//! formats can keep a numeric id's exact text and refuse an integer they would round (the rules
//! are in docs/FORMATS-IN.md).

use std::borrow::Cow;

/// A number literal of a line, under a top-level key of the line's object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Literal<'a> {
    /// The top-level key it is under, unescaped.
    pub(crate) key: Cow<'a, str>,
    /// Whether it is that key's value itself, not nested inside it.
    pub(crate) top: bool,
    /// The literal, exactly as the line writes it.
    pub(crate) text: &'a str,
}

/// Whether a number literal is an integer: digits, with an optional leading `-` (no fraction,
/// no exponent).
pub(crate) fn is_integer(text: &str) -> bool {
    let digits = text.strip_prefix('-').unwrap_or(text);
    !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit())
}

/// Whether a number literal is an integer outside `i64`, which no idres value holds.
pub(crate) fn is_wide_integer(text: &str) -> bool {
    is_integer(text) && text.parse::<i64>().is_err()
}

/// A literal as a message shows it: whole up to 24 bytes, else its first 16 and its length (a
/// hostile line can hold a megabyte of digits).
pub(crate) fn shown(text: &str) -> Cow<'_, str> {
    if text.len() <= 24 {
        Cow::Borrowed(text)
    } else {
        // Literals are ASCII: any byte index is a character boundary.
        Cow::Owned(format!("{}…({} characters)", &text[..16], text.len()))
    }
}

/// The literals of `text` that the tree may not hold exactly: every number that is the value of
/// a top-level key, and every integer literal outside `i64` at any depth. `text` must be a JSON
/// object that serde_json has accepted (this reads it without checking it again). One pass over
/// the bytes; no allocation unless such a literal is found.
pub(crate) fn literals(text: &str) -> Vec<Literal<'_>> {
    let b = text.as_bytes();
    let mut out = Vec::new();
    let mut depth = 0usize;
    // Inside the top-level object, the next string is a key (after `{` and after `,`).
    let mut want_key = false;
    // The current top-level key, as the line writes it (quotes included).
    let mut key = "\"\"";
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'"' => {
                let start = i;
                i += 1;
                // To the closing quote, stepping over escapes (an escaped quote included).
                while let Some(at) = b.get(i..).and_then(|rest| rest.iter().position(|&c| c == b'"' || c == b'\\')) {
                    i += at;
                    if b[i] == b'"' {
                        break;
                    }
                    i += 2;
                }
                let end = (i + 1).min(b.len());
                if depth == 1 && want_key {
                    key = &text[start..end];
                    want_key = false;
                }
                i = end;
            }
            b'{' | b'[' => {
                depth += 1;
                want_key = depth == 1;
                i += 1;
            }
            b'}' | b']' => {
                depth = depth.saturating_sub(1);
                i += 1;
            }
            b',' => {
                want_key = depth == 1;
                i += 1;
            }
            b'-' | b'0'..=b'9' => {
                let start = i;
                while i < b.len() && matches!(b[i], b'0'..=b'9' | b'-' | b'+' | b'.' | b'e' | b'E') {
                    i += 1;
                }
                let literal = &text[start..i];
                let top = depth == 1;
                if top || is_wide_integer(literal) {
                    out.push(Literal { key: unquote(key), top, text: literal });
                }
            }
            _ => i += 1,
        }
    }
    out
}

/// A JSON string's text (it was accepted by serde_json, so it decodes).
fn unquote(quoted: &str) -> Cow<'_, str> {
    let inner = quoted.get(1..quoted.len().saturating_sub(1)).unwrap_or("");
    if inner.contains('\\') {
        serde_json::from_str::<String>(quoted).map_or(Cow::Borrowed(inner), Cow::Owned)
    } else {
        Cow::Borrowed(inner)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lit<'a>(key: &'a str, top: bool, text: &'a str) -> Literal<'a> {
        Literal { key: Cow::Borrowed(key), top, text }
    }

    #[test]
    fn top_level_numbers_and_wide_integers_are_found_with_their_key() {
        let line = r#"{"userId":123456789012345678901234,"a":"x,\"b\":1","p":{"k":[1,-99999999999999999999,2.5e400]},"n":-0,"f":12345.0}"#;
        assert_eq!(
            literals(line),
            vec![
                lit("userId", true, "123456789012345678901234"),
                lit("p", false, "-99999999999999999999"),
                lit("n", true, "-0"),
                lit("f", true, "12345.0"),
            ]
        );
        // Numbers inside strings are text; an escaped key is unescaped.
        assert_eq!(literals(r#"{"s":"1e3 99999999999999999999","user\u0049d":1e3}"#), vec![lit("userId", true, "1e3")]);
        assert_eq!(literals(r#"{"a":{"b":1,"c":9223372036854775807}}"#), vec![], "i64 holds these");
        assert_eq!(literals(r#"{"a":{"b":-9223372036854775809}}"#), vec![lit("a", false, "-9223372036854775809")]);
        // Not JSON (the caller never passes such text): no panic, whatever comes out.
        for broken in [r#"{"a\"#, r#"{"a":"\"#, "{\"", "{1-", "}}]]{", "\"\\"] {
            let _ = literals(broken);
        }
    }

    #[test]
    fn literal_kinds_and_how_messages_show_them() {
        assert!(is_integer("-0") && is_integer("123456789012345678901234"));
        assert!(!is_integer("12345.0") && !is_integer("1e3") && !is_integer("-"));
        assert!(is_wide_integer("9223372036854775808") && !is_wide_integer("9223372036854775807"));
        assert_eq!(shown("12345.0"), "12345.0");
        assert_eq!(shown(&"9".repeat(1000)), format!("{}…(1000 characters)", "9".repeat(16)));
    }
}
