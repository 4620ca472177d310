//! Durable ingest through the Engine: 1 and 4 producer threads, fdatasync per group commit.
//! Prints records/s, p50 / p99 acknowledgement latency, the store's lag when the producers finish,
//! the time until the store has caught up, and the store thread's rate (profiles written per
//! second of its busy time).
//!
//! Two ways to write: `single` (one call per record, each producer keeps up to 1024 writes in
//! flight, a service batching its callers) and `batch` (`Engine::write_batch` of 512 records,
//! each producer keeps up to 4 batches in flight: bulk ingest of a file or a queue). The driver
//! is `idres_bench::ingest_run`, shared with the comparison harness.
//!
//! `cargo bench -p idres-bench --bench ingest` (IDRES_BENCH_DIR picks the disk; IDRES_INGEST_RECORDS
//! the total, default 400 000; IDRES_INGEST_STORE=memory uses the in-memory store instead of sled,
//! to see the writer's ceiling).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stdout)]

use std::path::PathBuf;

use idres::{EngineConfig, StoreBackend};
use idres_bench::{fold_workload, ingest_run};
use idres_model::Record;

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
                config.store = StoreBackend::Memory;
            }
            let per = total / producers;
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
            let run = ingest_run(dir.path(), config, workloads, batched, 0).unwrap();
            println!(
                "{} producers {producers}: {:.0} records/s ({} records in {:.2} s), ack p50 {:.2} ms, p99 {:.2} ms; \
                 store: lag {} records when the producers finished, caught up after {:.2} s, {:.0} profiles/s busy",
                if batched { "batch " } else { "single" },
                run.records as f64 / run.elapsed.as_secs_f64(),
                run.records,
                run.elapsed.as_secs_f64(),
                run.p50.as_secs_f64() * 1000.0,
                run.p99.as_secs_f64() * 1000.0,
                run.store_lag,
                run.store_caught_up.as_secs_f64(),
                run.store_profiles_per_s,
            );
        }
    }
}
