//! Record schema 2 through the embedding API: `Engine::message`, `WriteAt::message_id` and
//! `WriteAt::system` put a message id and the system flag on the records the engine appends, the
//! history shows them after a reopen (so they went through the log's bytes), and the calls that
//! cannot carry them refuse them before anything is appended.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use idres::{Engine, EngineConfig, EngineError, Map, Record, Target};

#[test]
fn message_ids_and_the_system_flag_reach_the_log() {
    let tmp = tempfile::tempdir().unwrap();
    {
        let engine = Engine::open(tmp.path(), EngineConfig::default()).unwrap();
        engine.message("m-1").track_uid("A", "Application Opened", Map::new()).unwrap().wait().unwrap();
        engine.at(None).system().message_id("m-2").track_uid("A", "Screen Viewed", Map::new()).unwrap();
        engine.track_uid("A", "buy", Map::new()).unwrap();
        engine.message("m-3").identify(Some("A"), "u1", Map::new()).unwrap().wait().unwrap();
        engine.close().unwrap();
    }
    let engine = Engine::open(tmp.path(), EngineConfig::default()).unwrap();
    let profile = engine.profile_by_cid("u1").unwrap().expect("identified");
    let history = engine.history_events(&profile).unwrap();
    let seen: Vec<(String, bool, Option<String>)> = history
        .iter()
        .map(|h| match &h.entry().record {
            Record::Event { name, system, message_id, .. } => (name.clone(), *system, message_id.clone()),
            other => panic!("not an event: {other:?}"),
        })
        .collect();
    assert_eq!(
        seen,
        [
            ("Application Opened".to_string(), false, Some("m-1".to_string())),
            ("Screen Viewed".to_string(), true, Some("m-2".to_string())),
            ("buy".to_string(), false, None),
        ]
    );
    // The history's JSON shape carries both (docs/OPERATIONS.md).
    let j = serde_json::to_value(&history[1]).unwrap();
    assert_eq!((j["system"].as_bool(), j["message_id"].as_str()), (Some(true), Some("m-2")));
    engine.close().unwrap();
}

#[test]
fn what_cannot_carry_schema_2_fields_is_refused_before_appending() {
    let tmp = tempfile::tempdir().unwrap();
    let engine = Engine::open(tmp.path(), EngineConfig::default()).unwrap();
    let invalid = |r: Result<idres::Ticket, EngineError>| matches!(r, Err(EngineError::Invalid(_)));
    assert!(invalid(engine.message("m").reset("A")));
    assert!(invalid(engine.at(None).system().identify(Some("A"), "u1", Map::new())));
    // System attributes belong to a device.
    let on_cid = engine.at(None).system().attributes(Target::cid("u1").unwrap(), Map::new(), Map::new(), vec![]);
    assert!(invalid(on_cid), "system attributes on a cid");
    assert!(invalid(engine.message("").track_uid("A", "e", Map::new())), "an empty message id");
    assert!(invalid(engine.message("x".repeat(257)).track_uid("A", "e", Map::new())), "past MESSAGE_ID_BYTES_MAX");
    assert!(invalid(engine.message("a\nb").track_uid("A", "e", Map::new())), "a control character");
    assert_eq!(engine.stats().folded_lsn, 0, "nothing was appended");
    engine.close().unwrap();
}
