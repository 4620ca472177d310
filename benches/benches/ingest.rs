//! Durable ingest through the Engine: 1 and 4 producer threads, fdatasync per group commit.
//! Prints records/s, p50 / p99 acknowledgement latency, and the store's lag at the end.
//! Each producer keeps up to 1024 writes in flight (a service batching its callers); the latency
//! of a write is from its submit to the return of its ticket's `wait` (tickets are waited in
//! order, so a write that completed early is counted when its turn comes: a slight overestimate).
//!
//! `cargo bench -p idres-bench --bench ingest` (IDRES_BENCH_DIR picks the disk; IDRES_INGEST_RECORDS
//! the total, default 400 000).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stdout)]

use std::collections::VecDeque;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use idres::{Engine, EngineConfig};
use idres_bench::fold_workload;
use idres_model::Record;

fn main() {
    if std::env::args().any(|a| a == "--list") {
        return; // `cargo bench -- --list` and `cargo test --benches` probe bench binaries
    }
    let total: usize = std::env::var("IDRES_INGEST_RECORDS").ok().and_then(|v| v.parse().ok()).unwrap_or(400_000);
    let base = std::env::var_os("IDRES_BENCH_DIR").map(PathBuf::from).unwrap_or_else(std::env::temp_dir);
    println!("durable ingest, {total} records, fdatasync per group commit, dir {}", base.display());
    for producers in [1usize, 4] {
        let dir = tempfile::Builder::new().prefix("idres-ingest").tempdir_in(&base).unwrap();
        let engine = Engine::open(dir.path(), EngineConfig::default()).unwrap();
        let per = total / producers;
        let start = Instant::now();
        let workers: Vec<_> = (0..producers)
            .map(|p| {
                let engine = engine.clone();
                std::thread::spawn(move || {
                    let entries = fold_workload(per, 200_000, 100 + p as u64);
                    let mut lat = Vec::with_capacity(per);
                    let mut inflight = VecDeque::with_capacity(1024);
                    for e in entries {
                        let t = match e.record {
                            Record::Identify { uid, cid, attrs, .. } => {
                                engine.identify(uid.map(|u| u.to_string()).as_deref(), &cid.to_string(), attrs)
                            }
                            Record::Event { target, name, props, session_id, ts } => {
                                engine.track(target, &name, props, session_id, ts)
                            }
                            Record::Attributes { target, set, set_once, unset, ts } => {
                                engine.attributes(target, set, set_once, unset, ts)
                            }
                            Record::Reset { uid, .. } => engine.reset(&uid.to_string()),
                            _ => continue,
                        }
                        .unwrap();
                        inflight.push_back((Instant::now(), t));
                        if inflight.len() >= 1024 {
                            let (at, t) = inflight.pop_front().unwrap();
                            t.wait().unwrap();
                            lat.push(at.elapsed());
                        }
                    }
                    for (at, t) in inflight {
                        t.wait().unwrap();
                        lat.push(at.elapsed());
                    }
                    lat
                })
            })
            .collect();
        let mut lat: Vec<Duration> = workers.into_iter().flat_map(|w| w.join().unwrap()).collect();
        let elapsed = start.elapsed();
        let stats = engine.stats();
        engine.close().unwrap();
        lat.sort_unstable();
        let pct = |q: f64| lat[((lat.len() as f64 * q) as usize).min(lat.len() - 1)];
        println!(
            "producers {producers}: {:.0} records/s ({} records in {:.2} s), ack p50 {:.2} ms, p99 {:.2} ms, store lag at the end {} records",
            lat.len() as f64 / elapsed.as_secs_f64(),
            lat.len(),
            elapsed.as_secs_f64(),
            pct(0.50).as_secs_f64() * 1000.0,
            pct(0.99).as_secs_f64() * 1000.0,
            stats.store_lag,
        );
    }
}
