//! JSON in and out: caller values to idres [`Value`]s, and the output shapes of the CLI
//! (profile, history, explain, rejects), which are a contract other tools script against.

use idres_model::{HistoryEvent, Map, Profile, Value};
use idres_resolve::{Explanation, ForgottenRejections, Rejection};
use serde_json::{json, Value as Json};

/// Converts a JSON value to an idres value. Integers that fit in i64 stay integers; other numbers
/// become floats; a number that is neither (a u64 above i64::MAX) is an error rather than a
/// silent loss of precision. An integer literal past u64 is a float already in serde_json's
/// tree, beyond this function's sight: the input formats refuse it from the line's text first
/// (see [`crate::input::parse_line`]).
pub fn value_from_json(v: &Json) -> Result<Value, String> {
    Ok(match v {
        Json::Null => Value::Null,
        Json::Bool(b) => Value::Bool(*b),
        Json::Number(n) => match (n.as_i64(), n.as_u64(), n.as_f64()) {
            (Some(i), _, _) => Value::Int(i),
            (None, Some(u), _) => return Err(format!("integer {u} is out of range (more than 2^63 - 1)")),
            (None, None, Some(f)) if f.is_finite() => Value::Float(f),
            _ => return Err(format!("number {n} is not finite")),
        },
        Json::String(s) => Value::String(s.clone()),
        Json::Array(items) => Value::List(items.iter().map(value_from_json).collect::<Result<_, _>>()?),
        Json::Object(o) => Value::Map(map_from_json_object(o)?),
    })
}

/// Converts a JSON object to an idres map.
pub fn map_from_json_object(o: &serde_json::Map<String, Json>) -> Result<Map, String> {
    o.iter().map(|(k, v)| Ok((k.clone(), value_from_json(v)?))).collect()
}

/// Converts an idres value to JSON.
pub fn value_to_json(v: &Value) -> Json {
    match v {
        Value::Null => Json::Null,
        Value::Bool(b) => Json::Bool(*b),
        Value::Int(i) => Json::from(*i),
        Value::Float(f) => serde_json::Number::from_f64(*f).map_or(Json::Null, Json::Number),
        Value::String(s) => Json::String(s.clone()),
        Value::List(items) => Json::Array(items.iter().map(value_to_json).collect()),
        Value::Map(m) => map_to_json(m),
    }
}

/// Converts an idres map to a JSON object.
pub fn map_to_json(m: &Map) -> Json {
    Json::Object(m.iter().map(|(k, v)| (k.clone(), value_to_json(v))).collect())
}

/// The profile shape (`Profile`'s `Serialize`, `idres_model::shapes`): `id`, `kind`,
/// `primary_cid`, `cids`, `uids` (`{"uid", "epoch"}`), `attributes`, `event_count`,
/// `events_by_name`, `first_seen`, `last_seen`.
pub fn profile_json(p: &Profile) -> Json {
    to_json(p)
}

/// One event of a history (`HistoryEvent`'s `Serialize`): `lsn`, `name`, `ts`, `uid` + `epoch`
/// or `cid`, `session_id`, `props`.
pub fn history_json(event: &HistoryEvent) -> Json {
    to_json(event)
}

/// The explain shape (`Explanation`'s `Serialize`, `idres_resolve`): `node`, `profile_id`,
/// `path` (`{"from", "to", "kind", "lsn", "time", "rule"}` from the node to the primary),
/// `implicit_resets` and `rejections` (`{"lsn", "kind", "reason"}`); and, only when the fold
/// forgot older rejections, `rejections_forgotten` (the shape inside [`forgotten_json`]).
pub fn explain_json(e: &Explanation) -> Json {
    to_json(e)
}

/// A value of one of the read side's shapes as JSON. Their `Serialize` impls write strings,
/// numbers, lists and maps with string keys only, which serde_json always takes.
fn to_json(v: &impl serde::Serialize) -> Json {
    serde_json::to_value(v).unwrap_or(Json::Null)
}

/// The rejections the fold no longer keeps: `{"rejections_forgotten": {"count", "newest_lsn",
/// "by_reason": {reason: count}, "kept_max"}}` (the first line of `rejects --json` when any were
/// forgotten).
pub fn forgotten_json(f: &ForgottenRejections) -> Json {
    json!({ "rejections_forgotten": to_json(f) })
}

/// The forgotten rejections by reason in words: `invalid_id 12, blocked_value 3`.
pub fn forgotten_words(f: &ForgottenRejections) -> String {
    f.by_reason().iter().map(|(r, c)| format!("{} {c}", r.as_str())).collect::<Vec<_>>().join(", ")
}

/// One line of `rejects`: `lsn`, `kind`, `reason`, `id` (the uid the record named, else its
/// first cid, else null).
pub fn reject_json(r: &Rejection) -> Json {
    let id = r.uid.clone().or_else(|| r.cids.first().cloned());
    json!({"lsn": r.lsn, "kind": r.kind.as_str(), "reason": r.reason.as_str(), "id": id, "detail": r.detail})
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_round_trip_and_refuse_what_they_cannot_hold() {
        let j: Json = serde_json::from_str(r#"{"a":[1,-2,3.5,true,null,"x",{"b":{}}]}"#).unwrap();
        let v = value_from_json(&j).unwrap();
        assert_eq!(value_to_json(&v), j);
        assert!(value_from_json(&serde_json::from_str::<Json>("18446744073709551615").unwrap()).is_err());
        assert_eq!(value_from_json(&Json::from(9_223_372_036_854_775_807i64)).unwrap(), Value::Int(i64::MAX));
    }
}
