//! Input formats: one JSON object per line, in idres's native shape or in the Segment spec
//! (Segment / RudderStack exports). A line becomes records, is skipped (a Segment `group`), or
//! is a bad line with a reason. Documented with its edge cases in docs/FORMATS-IN.md.

use idres_model::{Cid, IdExcerpt, Map, Record, Target, Timestamp, Uid};
use serde_json::{Map as JsonMap, Value as Json};

use crate::json::{map_from_json_object, value_from_json};
use crate::literals::{is_integer, is_wide_integer, literals, shown, Literal};
use crate::time::parse_rfc3339;

/// The format of an input file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// idres's native NDJSON.
    Native,
    /// The Segment spec (identify, track, page, screen, alias, group).
    Segment,
}

/// What one line became.
#[derive(Debug, Clone, PartialEq)]
pub enum Parsed {
    /// Records to append (a native line is one record).
    Records(Vec<Record>),
    /// Nothing to append, and why (counted in the summary): a Segment `group`, or a Segment
    /// `identify` with only an anonymousId and no traits.
    Skipped(&'static str),
}

/// Parses one line (without its newline). The error says what is wrong with it.
pub fn parse_line(line: &[u8], format: Format) -> Result<Parsed, String> {
    let text = std::str::from_utf8(line).map_err(|e| format!("not UTF-8 (byte {} of the line)", e.valid_up_to()))?;
    let json: Json = serde_json::from_str(text).map_err(|e| format!("malformed JSON: {e}"))?;
    let Json::Object(o) = json else { return Err("not a JSON object".into()) };
    // The tree holds no number's text: read the literals that need it from the line itself.
    let literals = literals(text);
    let value_keys: &[&str] = match format {
        Format::Native => &["attrs", "props", "set", "set_once"],
        Format::Segment => &["traits", "properties", "name"],
    };
    if let Some(wide) = literals.iter().find(|l| is_wide_integer(l.text) && value_keys.contains(&l.key.as_ref())) {
        return Err(format!(
            "{}: integer {} is out of range (a value's integer must fit in 64 bits, signed); send it as a string",
            wide.key,
            shown(wide.text)
        ));
    }
    let parsed = match format {
        Format::Native => Parsed::Records(vec![native(&o)?]),
        Format::Segment => segment(&o, &literals)?,
    };
    if let Parsed::Records(records) = &parsed {
        for r in records {
            r.validate_shape().map_err(|e| e.to_string())?;
        }
    }
    Ok(parsed)
}

struct Fields<'a> {
    o: &'a JsonMap<String, Json>,
    kind: &'a str,
}

impl<'a> Fields<'a> {
    fn only(&self, allowed: &[&str]) -> Result<(), String> {
        match self.o.keys().find(|k| !allowed.contains(&k.as_str())) {
            Some(k) => Err(format!("unknown field {} in a {} record", IdExcerpt::new(k.as_bytes()), self.kind)),
            None => Ok(()),
        }
    }

    fn opt_str(&self, key: &str) -> Result<Option<&'a str>, String> {
        match self.o.get(key) {
            None | Some(Json::Null) => Ok(None),
            Some(Json::String(s)) => Ok(Some(s)),
            Some(other) => Err(format!("{key} must be a string, not {}", type_name(other))),
        }
    }

    fn str(&self, key: &str) -> Result<&'a str, String> {
        self.opt_str(key)?.ok_or_else(|| format!("a {} record needs {key}", self.kind))
    }

    fn map(&self, key: &str) -> Result<Map, String> {
        match self.o.get(key) {
            None | Some(Json::Null) => Ok(Map::new()),
            Some(Json::Object(m)) => map_from_json_object(m).map_err(|e| format!("{key}: {e}")),
            Some(other) => Err(format!("{key} must be an object, not {}", type_name(other))),
        }
    }

    fn ts(&self, key: &str) -> Result<Option<Timestamp>, String> {
        match self.opt_str(key)? {
            None => Ok(None),
            Some(s) => parse_rfc3339(s).map(|m| Some(Timestamp::from_micros(m))).map_err(|e| format!("{key}: {e}")),
        }
    }
}

fn type_name(v: &Json) -> &'static str {
    match v {
        Json::Null => "null",
        Json::Bool(_) => "a boolean",
        Json::Number(_) => "a number",
        Json::String(_) => "a string",
        Json::Array(_) => "a list",
        Json::Object(_) => "an object",
    }
}

/// Messages name an id by a short escaped prefix ([`IdExcerpt`]), never in full.
fn uid(s: &str) -> Result<Uid, String> {
    Uid::parse(s).map_err(|e| format!("uid {}: {e}", IdExcerpt::new(s.as_bytes())))
}

fn cid(s: &str) -> Result<Cid, String> {
    Cid::parse(s).map_err(|e| format!("cid {}: {e}", IdExcerpt::new(s.as_bytes())))
}

/// The target of an event or attributes line: exactly one of `uid` and `cid`.
fn target(f: &Fields<'_>) -> Result<Target, String> {
    match (f.opt_str("uid")?, f.opt_str("cid")?) {
        (Some(u), None) => Ok(Target::Uid(uid(u)?)),
        (None, Some(c)) => Ok(Target::Cid(cid(c)?)),
        (Some(_), Some(_)) => Err(format!("a {} record names uid or cid, not both", f.kind)),
        (None, None) => Err(format!("a {} record needs uid or cid", f.kind)),
    }
}

fn native(o: &JsonMap<String, Json>) -> Result<Record, String> {
    let kind = match o.get("type") {
        Some(Json::String(t)) => t.as_str(),
        Some(other) => return Err(format!("type must be a string, not {}", type_name(other))),
        None => return Err("no \"type\"".into()),
    };
    let f = Fields { o, kind };
    Ok(match kind {
        "identify" => {
            f.only(&["type", "uid", "cid", "attrs", "ts"])?;
            Record::Identify {
                uid: f.opt_str("uid")?.map(uid).transpose()?,
                cid: cid(f.str("cid")?)?,
                attrs: f.map("attrs")?,
                ts: f.ts("ts")?,
                message_id: None,
            }
        }
        "reset" => {
            f.only(&["type", "uid", "ts"])?;
            Record::Reset { uid: uid(f.str("uid")?)?, ts: f.ts("ts")? }
        }
        "event" => {
            f.only(&["type", "uid", "cid", "name", "props", "session_id", "ts"])?;
            Record::Event {
                target: target(&f)?,
                name: f.str("name")?.to_string(),
                props: f.map("props")?,
                session_id: f.opt_str("session_id")?.map(str::to_string),
                ts: f.ts("ts")?,
                system: false,
                message_id: None,
            }
        }
        "attributes" => {
            f.only(&["type", "uid", "cid", "set", "set_once", "unset", "ts"])?;
            let unset = match o.get("unset") {
                None | Some(Json::Null) => Vec::new(),
                Some(Json::Array(items)) => items
                    .iter()
                    .map(|k| match k {
                        Json::String(s) => Ok(s.clone()),
                        other => Err(format!("unset must list strings, not {}", type_name(other))),
                    })
                    .collect::<Result<_, _>>()?,
                Some(other) => return Err(format!("unset must be a list, not {}", type_name(other))),
            };
            Record::Attributes {
                target: target(&f)?,
                set: f.map("set")?,
                set_once: f.map("set_once")?,
                unset,
                ts: f.ts("ts")?,
                system: false,
                message_id: None,
            }
        }
        "merge" => {
            f.only(&["type", "from", "into"])?;
            Record::Merge { from: cid(f.str("from")?)?, into: cid(f.str("into")?)? }
        }
        "unmerge" => {
            f.only(&["type", "cid"])?;
            Record::Unmerge { cid: cid(f.str("cid")?)? }
        }
        "unlink" => {
            f.only(&["type", "uid", "cid"])?;
            Record::Unlink { uid: uid(f.str("uid")?)?, cid: cid(f.str("cid")?)? }
        }
        other => return Err(format!("unknown record type {}", IdExcerpt::new(other.as_bytes()))),
    })
}

/// A Segment id: a string, or an integer kept as the exact text the line writes (any number of
/// digits: `123456789012345678901234` is not rounded, `-0` is not `0`); empty or null is absent.
/// A number with a fraction or an exponent (`12345.0`, `1e3`) is refused: as an id it is almost
/// surely a bug upstream, and no one text of it is the right one.
fn segment_id(o: &JsonMap<String, Json>, literals: &[Literal<'_>], key: &str) -> Result<Option<String>, String> {
    match o.get(key) {
        None | Some(Json::Null) => Ok(None),
        Some(Json::String(s)) if s.is_empty() => Ok(None),
        Some(Json::String(s)) => Ok(Some(s.clone())),
        Some(Json::Number(_)) => {
            // The last one, as for the tree: of two `userId`s, the later counts.
            let text = literals
                .iter()
                .rev()
                .find(|l| l.top && l.key == key)
                .map(|l| l.text)
                .ok_or_else(|| format!("{key}: a number whose text was not found in the line"))?;
            if is_integer(text) {
                Ok(Some(text.to_string()))
            } else {
                Err(format!(
                    "{key} {} is a number with a fraction or exponent: an id must be a string or an integer",
                    shown(text)
                ))
            }
        }
        Some(other) => Err(format!("{key} must be a string or a number, not {}", type_name(other))),
    }
}

fn segment_map(o: &JsonMap<String, Json>, key: &str) -> Result<Map, String> {
    match o.get(key) {
        None | Some(Json::Null) => Ok(Map::new()),
        Some(Json::Object(m)) => map_from_json_object(m).map_err(|e| format!("{key}: {e}")),
        Some(other) => Err(format!("{key} must be an object, not {}", type_name(other))),
    }
}

/// `timestamp`, else `originalTimestamp`.
fn segment_ts(o: &JsonMap<String, Json>) -> Result<Option<Timestamp>, String> {
    for key in ["timestamp", "originalTimestamp"] {
        match o.get(key) {
            None | Some(Json::Null) => continue,
            Some(Json::String(s)) => {
                return parse_rfc3339(s).map(|m| Some(Timestamp::from_micros(m))).map_err(|e| format!("{key}: {e}"))
            }
            Some(other) => return Err(format!("{key} must be a string, not {}", type_name(other))),
        }
    }
    Ok(None)
}

fn segment(o: &JsonMap<String, Json>, literals: &[Literal<'_>]) -> Result<Parsed, String> {
    let kind = match o.get("type") {
        Some(Json::String(t)) => t.as_str(),
        Some(other) => return Err(format!("type must be a string, not {}", type_name(other))),
        None => return Err("no \"type\"".into()),
    };
    let anonymous = segment_id(o, literals, "anonymousId")?;
    let user = segment_id(o, literals, "userId")?;
    let ts = segment_ts(o)?;
    let record = match kind {
        "identify" => {
            let traits = segment_map(o, "traits")?;
            match (anonymous, user) {
                (a, Some(u)) => Record::Identify {
                    uid: a.as_deref().map(uid).transpose()?,
                    cid: cid(&u)?,
                    attrs: traits,
                    ts,
                    message_id: None,
                },
                (Some(a), None) if traits.is_empty() => {
                    uid(&a)?; // a malformed id is a bad line even where nothing is recorded
                    return Ok(Parsed::Skipped("identify without userId or traits"));
                }
                (Some(a), None) => Record::Attributes {
                    target: Target::Uid(uid(&a)?),
                    set: traits,
                    set_once: Map::new(),
                    unset: Vec::new(),
                    ts,
                    system: false,
                    message_id: None,
                },
                (None, None) => return Err("an identify needs anonymousId or userId".into()),
            }
        }
        "track" | "page" | "screen" => {
            let target = match (anonymous, user) {
                (Some(a), _) => Target::Uid(uid(&a)?),
                (None, Some(u)) => Target::Cid(cid(&u)?),
                (None, None) => return Err(format!("a {kind} needs anonymousId or userId")),
            };
            let mut props = segment_map(o, "properties")?;
            let name = if kind == "track" {
                match o.get("event") {
                    Some(Json::String(e)) => e.clone(),
                    Some(other) => return Err(format!("event must be a string, not {}", type_name(other))),
                    None => return Err("a track needs event".into()),
                }
            } else {
                if let Some(n) = o.get("name").filter(|n| !n.is_null()) {
                    props.insert("name".into(), value_from_json(n).map_err(|e| format!("name: {e}"))?);
                }
                kind.to_string()
            };
            Record::Event { target, name, props, session_id: None, ts, system: false, message_id: None }
        }
        "alias" => {
            let previous = segment_id(o, literals, "previousId")?.ok_or("an alias needs previousId")?;
            let user = user.ok_or("an alias needs userId")?;
            Record::Identify { uid: Some(uid(&previous)?), cid: cid(&user)?, attrs: Map::new(), ts, message_id: None }
        }
        "group" => return Ok(Parsed::Skipped("group")),
        other => return Err(format!("unknown Segment call type {}", IdExcerpt::new(other.as_bytes()))),
    };
    Ok(Parsed::Records(vec![record]))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn one(line: &str, format: Format) -> Record {
        match parse_line(line.as_bytes(), format).unwrap() {
            Parsed::Records(mut r) if r.len() == 1 => r.remove(0),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn native_lines() {
        let r = one(
            r#"{"type":"identify","uid":"A","cid":"u1","attrs":{"plan":"pro"},"ts":"2026-01-01T00:00:00Z"}"#,
            Format::Native,
        );
        assert!(
            matches!(r, Record::Identify { uid: Some(_), ref attrs, ts: Some(Timestamp(1_767_225_600_000_000)), .. } if attrs.len() == 1)
        );
        assert!(matches!(
            one(r#"{"type":"event","cid":"u1","name":"v"}"#, Format::Native),
            Record::Event { target: Target::Cid(_), .. }
        ));
        assert!(matches!(one(r#"{"type":"unlink","uid":"A","cid":"u1"}"#, Format::Native), Record::Unlink { .. }));
        for (bad, why) in [
            ("{", "malformed JSON"),
            ("[1]", "not a JSON object"),
            (r#"{"type":"login"}"#, "unknown record type"),
            (r#"{"type":"event","uid":"A"}"#, "needs name"),
            (r#"{"type":"event","uid":"A","cid":"c","name":"v"}"#, "not both"),
            (r#"{"type":"reset","uid":7}"#, "must be a string"),
            (r#"{"type":"reset","uid":"A","sesion":"x"}"#, "unknown field"),
            (r#"{"type":"identify","cid":"u1","ts":"yesterday"}"#, "ts"),
            (r#"{"type":"identify","cid":" u1"}"#, "cid"),
            (r#"{"type":"event","uid":"A","name":""}"#, "name"),
        ] {
            let e = parse_line(bad.as_bytes(), Format::Native).unwrap_err();
            assert!(e.contains(why), "{bad}: {e}");
        }
        assert!(parse_line(b"{\"type\":\"reset\",\"uid\":\"\xff\"}", Format::Native).unwrap_err().contains("UTF-8"));
    }

    #[test]
    fn segment_lines() {
        assert!(matches!(
            one(r#"{"type":"identify","anonymousId":"A","userId":42,"traits":{"x":1}}"#, Format::Segment),
            Record::Identify { uid: Some(_), ref cid, .. } if cid.as_bytes() == b"42"
        ));
        assert!(matches!(
            one(r#"{"type":"identify","anonymousId":"A","traits":{"x":1}}"#, Format::Segment),
            Record::Attributes { target: Target::Uid(_), .. }
        ));
        assert_eq!(
            parse_line(br#"{"type":"identify","anonymousId":"A"}"#, Format::Segment).unwrap(),
            Parsed::Skipped("identify without userId or traits")
        );
        match one(
            r#"{"type":"page","userId":"u1","name":"Home","originalTimestamp":"2026-01-01T00:00:01Z"}"#,
            Format::Segment,
        ) {
            Record::Event { target: Target::Cid(_), name, props, ts: Some(_), .. } => {
                assert_eq!(name, "page");
                assert!(props.contains_key("name"));
            }
            other => panic!("{other:?}"),
        }
        assert!(matches!(
            one(r#"{"type":"alias","previousId":"A","userId":"u1"}"#, Format::Segment),
            Record::Identify { .. }
        ));
        assert_eq!(
            parse_line(br#"{"type":"group","groupId":"g"}"#, Format::Segment).unwrap(),
            Parsed::Skipped("group")
        );
        assert!(parse_line(br#"{"type":"track","anonymousId":"A"}"#, Format::Segment).is_err());
    }

    #[test]
    fn numeric_ids_keep_their_exact_text_or_are_refused() {
        let cid_of = |line: &str| match one(line, Format::Segment) {
            Record::Identify { cid, .. } => cid.to_string(),
            other => panic!("{other:?}"),
        };
        assert_eq!(cid_of(r#"{"type":"identify","userId":123456789012345678901234}"#), "123456789012345678901234");
        assert_eq!(cid_of(r#"{"type":"identify","userId":123456789012345678901235}"#), "123456789012345678901235");
        assert_eq!(cid_of(r#"{"type":"identify","userId":-0}"#), "-0");
        assert_eq!(cid_of(r#"{"type":"identify","userId":1,"userId":18446744073709551616}"#), "18446744073709551616");
        match one(r#"{"type":"alias","previousId":99999999999999999999,"userId":"u"}"#, Format::Segment) {
            Record::Identify { uid: Some(u), .. } => assert_eq!(u.to_string(), "99999999999999999999"),
            other => panic!("{other:?}"),
        }
        for (line, why) in [
            (r#"{"type":"identify","userId":12345.0}"#, "userId 12345.0 is a number with a fraction or exponent"),
            (r#"{"type":"track","anonymousId":1e3,"event":"e"}"#, "anonymousId 1e3 is a number"),
            (r#"{"type":"alias","previousId":-5E-1,"userId":"u"}"#, "previousId -5E-1 is a number"),
        ] {
            let e = parse_line(line.as_bytes(), Format::Segment).unwrap_err();
            assert!(e.contains(why), "{line}: {e}");
        }
    }

    #[test]
    fn value_integers_past_64_bits_are_refused_floats_stay_floats() {
        for (line, format, why) in [
            (
                r#"{"type":"event","uid":"A","name":"n","props":{"k":123456789012345678901234}}"#,
                Format::Native,
                "props: integer 123456789012345678901234 is out of range",
            ),
            (
                r#"{"type":"attributes","uid":"A","set_once":{"k":[-9223372036854775809]}}"#,
                Format::Native,
                "set_once: integer",
            ),
            (
                r#"{"type":"track","userId":"u","event":"e","properties":{"k":{"x":18446744073709551616}}}"#,
                Format::Segment,
                "properties: integer",
            ),
            (r#"{"type":"page","userId":"u","name":99999999999999999999}"#, Format::Segment, "name: integer"),
        ] {
            let e = parse_line(line.as_bytes(), format).unwrap_err();
            assert!(e.contains(why), "{line}: {e}");
        }
        // A wide integer in a field the format ignores is no reason to refuse the line.
        assert!(parse_line(
            br#"{"type":"track","userId":"u","event":"e","context":{"n":99999999999999999999}}"#,
            Format::Segment
        )
        .is_ok());
        let r = one(
            r#"{"type":"event","uid":"A","name":"n","props":{"f":12345.0,"e":1e3,"i":-9223372036854775808}}"#,
            Format::Native,
        );
        let Record::Event { props, .. } = r else { panic!() };
        assert_eq!(props["f"], idres_model::Value::Float(12345.0));
        assert_eq!(props["e"], idres_model::Value::Float(1000.0));
        assert_eq!(props["i"], idres_model::Value::Int(i64::MIN));
    }

    #[test]
    fn id_errors_show_a_short_escaped_prefix_of_the_id() {
        let long = format!("alice.private@example.com{}", "z".repeat(1 << 20));
        let e = parse_line(format!(r#"{{"type":"identify","cid":"{long}"}}"#).as_bytes(), Format::Native).unwrap_err();
        assert!(e.len() < 200, "{} bytes", e.len());
        assert!(e.starts_with(r#"cid "alice.private@ex"…("#), "{e}");
        assert!(!e.contains("alice.private@example.com"), "{e}");
        // Other text of the line that a message names is shortened the same way.
        let key = "k".repeat(1 << 20);
        for (line, format) in [
            (format!(r#"{{"type":"reset","uid":"A","{key}":1}}"#), Format::Native),
            (format!(r#"{{"type":"{key}"}}"#), Format::Native),
            (format!(r#"{{"type":"{key}"}}"#), Format::Segment),
        ] {
            let e = parse_line(line.as_bytes(), format).unwrap_err();
            assert!(e.len() < 200 && e.contains("…(1048576 bytes)"), "{}", &e[..200.min(e.len())]);
        }
        let e = parse_line(br#"{"type":"reset","uid":"a\u001b[2Jb\t"}"#, Format::Native).unwrap_err();
        assert!(e.starts_with(r#"uid "a\u{1b}[2Jb\t": "#), "{e}");
        assert!(!e.contains('\u{1b}'), "{e}");
    }
}
