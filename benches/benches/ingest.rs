//! Durable ingest through the Engine: 1 and 4 producer threads, fdatasync per group commit.
//! Prints records/s, p50 / p99 acknowledgement latency, the store's lag when the producers finish,
//! the time until the store has caught up, and the store thread's rate (profiles written per
//! second of its busy time).
//!
//! Two ways to write: `single` (one call per record, each producer keeps up to 1024 writes in
//! flight, a service batching its callers) and `batch` (`Engine::write_batch` of 512 records,
//! each producer keeps up to 4 batches in flight: bulk ingest of a file or a queue). The latency
//! of a write is from its submit to the return of its ticket's `wait` (tickets are waited in
//! order, so a write that completed early is counted when its turn comes: a slight overestimate;
//! for a batch, every record of it counts that latency).
//!
//! `cargo bench -p idres-bench --bench ingest` (IDRES_BENCH_DIR picks the disk; IDRES_INGEST_RECORDS
//! the total, default 400 000; IDRES_INGEST_STORE=memory uses the in-memory store instead of sled,
//! to see the writer's ceiling).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stdout)]

use std::collections::VecDeque;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use idres::{Engine, EngineConfig, Ticket};
use idres_bench::fold_workload;
use idres_model::Record;

const IN_FLIGHT: usize = 1024;
const BATCH: usize = 512;
const BATCHES_IN_FLIGHT: usize = 4;

fn single(engine: &Engine, record: Record) -> Option<Ticket> {
    let t = match record {
        Record::Identify { uid, cid, attrs, .. } => {
            engine.identify(uid.map(|u| u.to_string()).as_deref(), &cid.to_string(), attrs)
        }
        Record::Event { target, name, props, session_id, ts } => engine.track(target, &name, props, session_id, ts),
        Record::Attributes { target, set, set_once, unset, ts } => engine.attributes(target, set, set_once, unset, ts),
        Record::Reset { uid, .. } => engine.reset(&uid.to_string()),
        _ => return None,
    };
    Some(t.unwrap())
}

fn produce(engine: &Engine, records: Vec<Record>, batched: bool) -> Vec<Duration> {
    let mut lat = Vec::with_capacity(records.len());
    let mut inflight: VecDeque<(Instant, Ticket, usize)> = VecDeque::new();
    let window = if batched { BATCHES_IN_FLIGHT } else { IN_FLIGHT };
    let settle = |inflight: &mut VecDeque<(Instant, Ticket, usize)>, lat: &mut Vec<Duration>| {
        let (at, t, n) = inflight.pop_front().unwrap();
        t.wait().unwrap();
        let d = at.elapsed();
        lat.extend(std::iter::repeat_n(d, n));
    };
    if batched {
        let mut records = records.into_iter().peekable();
        while records.peek().is_some() {
            let chunk: Vec<Record> = records.by_ref().take(BATCH).collect();
            let n = chunk.len();
            inflight.push_back((Instant::now(), engine.write_batch(chunk).unwrap(), n));
            if inflight.len() >= window {
                settle(&mut inflight, &mut lat);
            }
        }
    } else {
        for record in records {
            if let Some(t) = single(engine, record) {
                inflight.push_back((Instant::now(), t, 1));
            }
            if inflight.len() >= window {
                settle(&mut inflight, &mut lat);
            }
        }
    }
    while !inflight.is_empty() {
        settle(&mut inflight, &mut lat);
    }
    lat
}

fn main() {
    if std::env::args().any(|a| a == "--list") {
        return; // `cargo bench -- --list` and `cargo test --benches` probe bench binaries
    }
    let total: usize = std::env::var("IDRES_INGEST_RECORDS").ok().and_then(|v| v.parse().ok()).unwrap_or(400_000);
    let base = std::env::var_os("IDRES_BENCH_DIR").map(PathBuf::from).unwrap_or_else(std::env::temp_dir);
    let memory = std::env::var("IDRES_INGEST_STORE").as_deref() == Ok("memory");
    println!(
        "durable ingest, {total} records, fdatasync per group commit, dir {}, store {}",
        base.display(),
        if memory { "memory" } else { "sled" }
    );
    for batched in [false, true] {
        for producers in [1usize, 4] {
            let dir = tempfile::Builder::new().prefix("idres-ingest").tempdir_in(&base).unwrap();
            let mut config = EngineConfig::default();
            if memory {
                config.store = None;
            }
            let engine = Engine::open(dir.path(), config).unwrap();
            let per = total / producers;
            // Generated before the clock starts: only ingest is timed.
            let workloads: Vec<Vec<Record>> = (0..producers)
                .map(|p| {
                    fold_workload(per, 200_000, 100 + p as u64)
                        .into_iter()
                        .map(|e| e.record)
                        .filter(|r| {
                            matches!(
                                r,
                                Record::Identify { .. }
                                    | Record::Event { .. }
                                    | Record::Attributes { .. }
                                    | Record::Reset { .. }
                            )
                        })
                        .collect()
                })
                .collect();
            let start = Instant::now();
            let workers: Vec<_> = workloads
                .into_iter()
                .map(|records| {
                    let engine = engine.clone();
                    std::thread::spawn(move || produce(&engine, records, batched))
                })
                .collect();
            let mut lat: Vec<Duration> = workers.into_iter().flat_map(|w| w.join().unwrap()).collect();
            let elapsed = start.elapsed();
            let at_end = engine.stats();
            engine.wait_stored(at_end.folded_lsn.saturating_sub(1)).unwrap();
            let caught_up = start.elapsed();
            let stats = engine.stats();
            engine.close().unwrap();
            lat.sort_unstable();
            let pct = |q: f64| lat[((lat.len() as f64 * q) as usize).min(lat.len() - 1)];
            println!(
                "{} producers {producers}: {:.0} records/s ({} records in {:.2} s), ack p50 {:.2} ms, p99 {:.2} ms; \
                 store: lag {} records when the producers finished, caught up after {:.2} s, {} profiles in {} flushes, \
                 {:.0} profiles/s busy",
                if batched { "batch " } else { "single" },
                lat.len() as f64 / elapsed.as_secs_f64(),
                lat.len(),
                elapsed.as_secs_f64(),
                pct(0.50).as_secs_f64() * 1000.0,
                pct(0.99).as_secs_f64() * 1000.0,
                at_end.store_lag,
                caught_up.as_secs_f64(),
                stats.store_profiles_written,
                stats.store_flushes,
                stats.store_profiles_written as f64 / stats.store_busy.as_secs_f64().max(1e-9),
            );
        }
    }
}
