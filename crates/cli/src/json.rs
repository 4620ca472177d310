//! JSON in and out: caller values to idres [`Value`]s, and the output shapes of the CLI
//! (profile, history, explain, rejects), which are a contract other tools script against.

use idres_model::{Cid, Entry, Map, Profile, ProfileKind, Record, Target, Timestamp, Value};
use idres_resolve::{Explanation, ForgottenRejections, ImplicitReset, NodeRef, Rejection, REJECTIONS_KEPT_MAX};
use serde_json::{json, Value as Json};

use crate::time::format_rfc3339;

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

fn ts_json(ts: Option<Timestamp>) -> Json {
    ts.map_or(Json::Null, |t| Json::String(format_rfc3339(t.as_micros())))
}

fn cid_json(c: &Cid) -> Json {
    Json::String(c.to_string())
}

/// The profile shape: `id`, `kind`, `primary_cid`, `cids`, `uids` (`{"uid", "epoch"}`),
/// `attributes`, `event_count`, `events_by_name`, `first_seen`, `last_seen`.
pub fn profile_json(p: &Profile) -> Json {
    json!({
        "id": p.id.to_string(),
        "kind": match p.kind { ProfileKind::Customer => "customer", ProfileKind::Anonymous => "anonymous" },
        "primary_cid": p.primary_cid.as_ref().map_or(Json::Null, cid_json),
        "cids": p.cids.iter().map(cid_json).collect::<Vec<_>>(),
        "uids": p.uids.iter().map(|d| json!({"uid": d.uid.to_string(), "epoch": d.epoch})).collect::<Vec<_>>(),
        "attributes": map_to_json(&p.attributes),
        "event_count": p.event_count,
        "events_by_name": p.events_by_name.iter().map(|(k, v)| (k.clone(), Json::from(*v))).collect::<serde_json::Map<_, _>>(),
        "first_seen": ts_json(p.first_seen),
        "last_seen": ts_json(p.last_seen),
    })
}

/// One event of a history: `lsn`, `name`, `ts`, `uid` + `epoch` or `cid`, `session_id`, `props`.
/// `epoch` is the device's epoch the event landed in (from the profile's device list), `None`
/// when the profile no longer holds that device.
pub fn history_json(lsn: u64, entry: &Entry, epoch: Option<u32>) -> Option<Json> {
    let Record::Event { target, name, props, session_id, ts } = &entry.record else { return None };
    let mut o = serde_json::Map::new();
    o.insert("lsn".into(), Json::from(lsn));
    o.insert("name".into(), Json::String(name.clone()));
    o.insert("ts".into(), ts_json(Some(ts.unwrap_or(entry.appended_at))));
    match target {
        Target::Uid(u) => {
            o.insert("uid".into(), Json::String(u.to_string()));
            o.insert("epoch".into(), epoch.map_or(Json::Null, Json::from));
        }
        Target::Cid(c) => {
            o.insert("cid".into(), cid_json(c));
        }
    }
    o.insert("session_id".into(), session_id.clone().map_or(Json::Null, Json::String));
    o.insert("props".into(), map_to_json(props));
    Some(Json::Object(o))
}

fn node_json(n: &NodeRef) -> Json {
    Json::String(n.to_string())
}

fn rejection_json(r: &Rejection) -> Json {
    json!({"lsn": r.lsn, "kind": r.kind.as_str(), "reason": r.reason.as_str()})
}

fn implicit_reset_json(r: &ImplicitReset) -> Json {
    json!({
        "lsn": r.lsn,
        "kind": "implicit_reset",
        "reason": format!(
            "uid {} epoch {} stayed with {}; epoch {} linked to {}",
            r.uid, r.from_epoch, r.previous_cid, r.to_epoch, r.cid
        ),
    })
}

/// The explain shape: `node`, `profile_id`, `path` (`{"from", "to", "kind", "lsn", "time",
/// "rule"}` from the node to the primary), `implicit_resets` and `rejections` (`{"lsn", "kind",
/// "reason"}`); and, only when the fold forgot older rejections, `rejections_forgotten` (the shape
/// of [`forgotten_json`]).
pub fn explain_json(e: &Explanation) -> Json {
    let mut j = json!({
        "node": e.node.as_ref().map_or(Json::Null, node_json),
        "profile_id": e.profile_id.map_or(Json::Null, |id| Json::String(id.to_string())),
        "path": e.path.iter().map(|s| json!({
            "from": node_json(&s.from),
            "to": node_json(&s.to),
            "kind": s.kind.as_str(),
            "lsn": s.lsn,
            "time": format_rfc3339(s.time.as_micros()),
            "rule": s.rule,
        })).collect::<Vec<_>>(),
        "implicit_resets": e.implicit_resets.iter().map(implicit_reset_json).collect::<Vec<_>>(),
        "rejections": e.rejections.iter().map(rejection_json).collect::<Vec<_>>(),
    });
    if let (false, Json::Object(o)) = (e.rejections_forgotten.is_empty(), &mut j) {
        o.insert(
            "rejections_forgotten".into(),
            forgotten_json(&e.rejections_forgotten)["rejections_forgotten"].clone(),
        );
    }
    j
}

/// The rejections the fold no longer keeps: `{"rejections_forgotten": {"count", "newest_lsn",
/// "by_reason": {reason: count}, "kept_max"}}` (the first line of `rejects --json` when any were
/// forgotten).
pub fn forgotten_json(f: &ForgottenRejections) -> Json {
    let by_reason: serde_json::Map<String, Json> =
        f.by_reason().into_iter().map(|(r, c)| (r.as_str().to_string(), Json::from(c))).collect();
    json!({"rejections_forgotten": {
        "count": f.count(),
        "newest_lsn": f.newest_lsn(),
        "by_reason": by_reason,
        "kept_max": REJECTIONS_KEPT_MAX,
    }})
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
