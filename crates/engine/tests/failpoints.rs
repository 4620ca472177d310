//! Every fail point an engine's life reaches, made to fail in turn (idres-io's `failpoints`):
//! open, writes across segment roll-overs, periodic snapshots, close, a rebuild. Whatever fails,
//! the documented outcome holds: the failing call returns a typed error (a failed log write or
//! fsync poisons the engine, a failed snapshot is only counted), nothing acknowledged is lost, and
//! the next open recovers a directory that `verify` finds sound, at the digest of its log.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::print_stderr)]

use std::path::Path;

use idres::{Engine, EngineConfig, EngineError, StoreBackend};
use idres_io::failpoints::{arm, disarm, reached, Action};
use idres_io::{Op, Point, Site};
use idres_model::Map;

fn config() -> EngineConfig {
    EngineConfig {
        // Small segments: the workload rolls over several times.
        segment_bytes: 64 << 10,
        snapshot_every_records: 100,
        store: StoreBackend::default(),
        ..EngineConfig::default()
    }
}

fn tempdir() -> tempfile::TempDir {
    match tempfile::Builder::new().prefix("idres-failpoints").tempdir_in("/dev/shm") {
        Ok(d) => d,
        Err(_) => tempfile::tempdir().unwrap(),
    }
}

/// What a run of the workload saw.
#[derive(Debug, Default)]
struct Outcome {
    /// Records acknowledged (each write waited for).
    acknowledged: u64,
    /// The first error, and where.
    error: Option<(&'static str, EngineError)>,
    snapshot_failures: u64,
}

/// The workload: open, 600 acknowledged writes of ~300 bytes (a few roll-overs, snapshots every 100), close;
/// then a rebuild. Stops at the first error.
fn workload(dir: &Path) -> Outcome {
    let mut out = Outcome::default();
    let engine = match Engine::open(dir, config()) {
        Ok(e) => e,
        Err(e) => {
            out.error = Some(("open", e));
            return out;
        }
    };
    for i in 0..600u64 {
        let props: Map = [
            ("n".to_string(), idres_model::Value::Int(i as i64)),
            ("page".to_string(), idres_model::Value::String("/p/".repeat(100))),
        ]
        .into_iter()
        .collect();
        match engine.track_uid(&format!("d{}", i % 97), "view", props).and_then(|t| t.wait()) {
            Ok(_) => out.acknowledged += 1,
            Err(e) => {
                out.error = Some(("write", e));
                break;
            }
        }
    }
    let closed = engine.close();
    out.snapshot_failures = engine.stats().snapshot_failures;
    drop(engine);
    if let Err(e) = closed {
        out.error.get_or_insert(("close", e));
        return out;
    }
    if out.error.is_some() {
        return out;
    }
    match Engine::open(dir, EngineConfig { rebuild: true, ..config() }).and_then(|e| e.close()) {
        Ok(()) => {}
        Err(e) => out.error = Some(("rebuild", e)),
    }
    out
}

#[test]
fn every_fail_point_of_an_engines_life_fails_as_documented() {
    let probe = tempdir();
    let clean = workload(probe.path());
    assert!(clean.error.is_none() && clean.acknowledged == 600, "{clean:?}");
    let points = reached(probe.path());
    for expected in [
        Point::new(Site::Segment, Op::Create),
        Point::new(Site::Frame, Op::Write),
        Point::new(Site::Frame, Op::Sync),
        Point::new(Site::Seal, Op::Sync),
        Point::new(Site::Snapshot, Op::Create),
        Point::new(Site::Snapshot, Op::Sync),
        Point::new(Site::Snapshot, Op::Rename),
        Point::new(Site::Snapshot, Op::Remove),
        Point::new(Site::Marker, Op::Create),
        Point::new(Site::Marker, Op::Remove),
        Point::new(Site::DataDir, Op::SyncDir),
    ] {
        assert!(points.contains(&expected), "the workload reaches {expected}: {points:?}");
    }
    for point in points {
        let dir = tempdir();
        arm(point, dir.path(), Action::FailOnce(std::io::ErrorKind::Other));
        let run = workload(dir.path());
        disarm(dir.path());
        eprintln!(
            "{point}: acknowledged {}, error {:?}, snapshot failures {}",
            run.acknowledged,
            run.error.as_ref().map(|(at, e)| (at, e.to_string())),
            run.snapshot_failures
        );
        let snapshot_point = point.site == Site::Snapshot;
        match &run.error {
            // A snapshot is a cache: its failure is counted, never an error of a write or close.
            _ if snapshot_point && run.snapshot_failures > 0 => {
                assert!(
                    run.error.is_none() || run.error.as_ref().is_some_and(|(at, _)| *at == "rebuild"),
                    "{point}: {run:?}"
                )
            }
            None => {}
            Some((at, e)) => {
                let text = format!("{e:?}");
                assert!(text.contains(&point.to_string()), "{point}: the error at {at} names the fail point: {text}");
                if *at == "write" {
                    assert!(matches!(e, EngineError::Poisoned { .. }), "{point}: a failed write poisons: {e:?}");
                }
            }
        }
        // The next open recovers, with every acknowledged record, at the digest of the log.
        let engine = Engine::open(dir.path(), config()).unwrap_or_else(|e| panic!("{point} ({run:?}): {e:?}"));
        let folded = engine.stats().folded_lsn;
        assert!(folded >= run.acknowledged, "{point}: {folded} records, {} acknowledged", run.acknowledged);
        let digest = engine.digest();
        engine.close().unwrap_or_else(|e| panic!("{point}: {e:?}"));
        drop(engine);
        let report = idres::verify(dir.path(), &Default::default(), &mut |_, _| {}).unwrap();
        assert!(report.is_ok(), "{point}: {:?}", report.problems);
        assert_eq!(report.digest, digest, "{point}");
    }
}
