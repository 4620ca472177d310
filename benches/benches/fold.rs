//! The fold: 1 M generated records over 200 k uids through the resolver, against decoding the
//! same records alone. docs/PERFORMANCE.md has the figures.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stderr)]

use std::time::Duration;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use idres_bench::fold_workload;
use idres_model::{decode_entry, encode_entry};
use idres_resolve::{Config, Resolver};

const RECORDS: usize = 1_000_000;
const UIDS: u64 = 200_000;

fn fold(c: &mut Criterion) {
    let entries = fold_workload(RECORDS, UIDS, 11);
    let encoded: Vec<Vec<u8>> = entries.iter().map(|e| encode_entry(e).unwrap()).collect();
    let bytes: usize = encoded.iter().map(Vec::len).sum();
    let mut r = Resolver::new(Config::default());
    for (i, e) in entries.iter().enumerate() {
        r.apply(i as u64, e).unwrap();
    }
    let profiles = r.profiles().len();
    eprintln!(
        "fold bench: {RECORDS} records ({:.0} bytes each encoded), {UIDS} uids -> {profiles} profiles, {} rejections, digest {}",
        bytes as f64 / RECORDS as f64,
        r.rejections().len(),
        r.digest().iter().map(|b| format!("{b:02x}")).collect::<String>()
    );
    drop(r);

    let mut g = c.benchmark_group("fold_1M");
    g.sample_size(10).measurement_time(Duration::from_secs(20)).throughput(Throughput::Elements(RECORDS as u64));
    g.bench_function("decode_only", |b| {
        b.iter(|| encoded.iter().map(|bytes| decode_entry(bytes).unwrap().appended_at.as_micros()).sum::<i64>())
    });
    g.bench_function("fold_decoded", |b| {
        b.iter(|| {
            let mut r = Resolver::new(Config::default());
            for (i, e) in entries.iter().enumerate() {
                r.apply(i as u64, e).unwrap();
                r.drain_changes().for_each(drop);
            }
            r.next_lsn()
        })
    });
    g.bench_function("decode_and_fold", |b| {
        b.iter(|| {
            let mut r = Resolver::new(Config::default());
            for (i, bytes) in encoded.iter().enumerate() {
                let e = decode_entry(bytes).unwrap();
                r.apply(i as u64, &e).unwrap();
                r.drain_changes().for_each(drop);
            }
            r.next_lsn()
        })
    });
    g.finish();
}

criterion_group!(benches, fold);
criterion_main!(benches);
