//! Log micro-benchmarks: durable append (fdatasync per batch) for batch sizes 1, 64 and 1024
//! against raw pwrite + fdatasync of the same bytes; sequential read + CRC, with and without
//! decoding every record.
//!
//! Durable appends run on a real disk: `IDRES_BENCH_DIR`, else the system temp directory.
//! docs/PERFORMANCE.md has the figures, the machine and the command.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stderr)]

use std::fs::OpenOptions;
use std::os::unix::fs::FileExt;
use std::path::PathBuf;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use idres_bench::sample_entries;
use idres_log::{BatchBuilder, Durability, Log, LogOptions};
use idres_model::{decode_entry, encode_entry_into, SCHEMA_VERSION};

fn bench_dir() -> tempfile::TempDir {
    let base = std::env::var_os("IDRES_BENCH_DIR").map(PathBuf::from).unwrap_or_else(std::env::temp_dir);
    tempfile::Builder::new().prefix("idres-bench").tempdir_in(base).unwrap()
}

fn batch_of(n: usize) -> BatchBuilder {
    let mut b = BatchBuilder::new(SCHEMA_VERSION);
    for e in sample_entries(n, 10_000, 42) {
        b.push_with(|buf| encode_entry_into(&e, buf).map_err(|_| idres_log::LogError::InvalidOptions("encode".into())))
            .unwrap();
    }
    b
}

fn append_durable(c: &mut Criterion) {
    let mut g = c.benchmark_group("append_fdatasync");
    g.sample_size(20).measurement_time(Duration::from_secs(8)).warm_up_time(Duration::from_secs(2));
    for n in [1usize, 64, 1024] {
        let batch = batch_of(n);
        g.throughput(Throughput::Elements(n as u64));
        let dir = bench_dir();
        let opts = LogOptions { codec_id: idres_model::CODEC_ID, ..LogOptions::default() };
        let mut log = Log::open(dir.path(), opts).unwrap();
        g.bench_with_input(BenchmarkId::new("log", n), &n, |b, _| b.iter(|| log.append(&batch).unwrap()));
        drop(log);

        // The same without preallocation (a growing file): what the zero-filled segments buy.
        let dir = bench_dir();
        let opts = LogOptions { codec_id: idres_model::CODEC_ID, preallocate: false, ..LogOptions::default() };
        let mut log = Log::open(dir.path(), opts).unwrap();
        g.bench_with_input(BenchmarkId::new("log_growing_file", n), &n, |b, _| b.iter(|| log.append(&batch).unwrap()));
        drop(log);

        // The reference: as many bytes as the frame, written with pwrite + fdatasync into a
        // preallocated file, no log around them. (The bytes' values do not matter to the disk.)
        let frame = vec![0x5Au8; batch.payload_bytes() as usize + idres_log::format::FRAME_HEADER_BYTES];
        let raw_dir = bench_dir();
        let path = raw_dir.path().join("raw");
        let file = OpenOptions::new().read(true).write(true).create(true).truncate(true).open(&path).unwrap();
        let size: u64 = 64 << 20;
        file.write_all_at(&vec![0u8; size as usize], 0).unwrap();
        file.sync_all().unwrap();
        let mut at = 0u64;
        g.bench_with_input(BenchmarkId::new("raw_pwrite_fdatasync", n), &n, |b, _| {
            b.iter(|| {
                if at + frame.len() as u64 > size {
                    at = 0;
                }
                file.write_all_at(&frame, at).unwrap();
                file.sync_data().unwrap();
                at += frame.len() as u64;
            })
        });
    }
    g.finish();
}

fn read_sequential(c: &mut Criterion) {
    const RECORDS: usize = 200_000;
    let dir = bench_dir();
    let mut log = Log::open(dir.path(), LogOptions { durability: Durability::Never, ..LogOptions::default() }).unwrap();
    let entries = sample_entries(RECORDS, 50_000, 7);
    let mut bytes = 0usize;
    for chunk in entries.chunks(1024) {
        let mut b = BatchBuilder::new(SCHEMA_VERSION);
        for e in chunk {
            b.push_with(|buf| {
                encode_entry_into(e, buf).map_err(|_| idres_log::LogError::InvalidOptions("encode".into()))
            })
            .unwrap();
        }
        bytes += b.payload_bytes() as usize;
        log.append(&b).unwrap();
    }
    log.sync().unwrap();
    eprintln!(
        "read bench: {RECORDS} records, {} bytes of payload, {:.0} bytes/record",
        bytes,
        bytes as f64 / RECORDS as f64
    );
    let handle = log.read_handle();
    let mut g = c.benchmark_group("read_sequential");
    g.sample_size(20).throughput(Throughput::Elements(RECORDS as u64));
    g.bench_function("crc_only", |b| {
        b.iter(|| {
            let mut n = 0usize;
            handle.reader(0).unwrap().for_each_record(|_, r| n += r.len()).unwrap();
            n
        })
    });
    g.bench_function("crc_and_decode", |b| {
        b.iter(|| {
            let mut n = 0usize;
            handle
                .reader(0)
                .unwrap()
                .for_each_record(|_, r| {
                    let e = decode_entry(r).unwrap();
                    n += e.effective_ts().as_micros() as usize & 1;
                })
                .unwrap();
            n
        })
    });
    g.finish();
    let mut g = c.benchmark_group("crc32c");
    let buf = vec![0x5Au8; 1 << 20];
    g.throughput(Throughput::Bytes(buf.len() as u64));
    g.bench_function("1MiB", |b| b.iter(|| crc32c::crc32c(&buf)));
    g.finish();
}

criterion_group!(benches, append_durable, read_sequential);
criterion_main!(benches);
