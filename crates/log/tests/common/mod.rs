//! Helpers shared by the log's integration tests.
#![allow(dead_code)]

use std::fs;
use std::path::{Path, PathBuf};

use idres_log::format::{FrameHeader, FRAME_HEADER_BYTES, SEGMENT_HEADER_BYTES};
use idres_log::{BatchBuilder, Durability, Log, LogOptions, Lsn};

/// A temporary directory, on tmpfs where there is one: these tests check logic, not the disk, and
/// thousands of fsyncs on a real disk would make them slow. The crash tests use real disks.
pub(crate) fn tempdir() -> tempfile::TempDir {
    let shm = Path::new("/dev/shm");
    if shm.is_dir() {
        if let Ok(d) = tempfile::Builder::new().prefix("idres-log-test").tempdir_in(shm) {
            return d;
        }
    }
    tempfile::tempdir().unwrap()
}

/// Number of proptest cases: `PROPTEST_CASES` if set, else `default`.
pub(crate) fn cases(default: u32) -> u32 {
    std::env::var("PROPTEST_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

/// Small segments so that a few batches roll over.
pub(crate) fn small_opts() -> LogOptions {
    LogOptions {
        segment_bytes: 4096,
        frame_payload_bytes_max: 2048,
        durability: Durability::EveryBatch,
        ..LogOptions::default()
    }
}

pub(crate) fn batch(records: &[Vec<u8>]) -> BatchBuilder {
    let mut b = BatchBuilder::new(1);
    for r in records {
        b.push(r).unwrap();
    }
    b
}

/// Reads every record from `from` to the end; panics on error.
pub(crate) fn read_all(log: &Log, from: Lsn) -> Vec<(Lsn, Vec<u8>)> {
    let mut out = Vec::new();
    log.reader(from).unwrap().for_each_record(|lsn, r| out.push((lsn, r.to_vec()))).unwrap();
    out
}

/// The segment files of a log directory, in order.
pub(crate) fn segment_files(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "seg"))
        .collect();
    v.sort();
    v
}

/// Byte offsets and total sizes of the frames in a segment file (walked by headers only).
pub(crate) fn frame_offsets(path: &Path) -> Vec<(u64, u64)> {
    let buf = fs::read(path).unwrap();
    let mut at = SEGMENT_HEADER_BYTES;
    let mut out = Vec::new();
    while at + FRAME_HEADER_BYTES <= buf.len() {
        let h = FrameHeader::parse(&buf[at..]).unwrap();
        if h.len == 0 {
            break;
        }
        out.push((at as u64, h.frame_bytes()));
        at += h.frame_bytes() as usize;
    }
    out
}

/// Copies a log directory (segment files only) into a new temporary directory.
pub(crate) fn copy_dir(from: &Path) -> tempfile::TempDir {
    let to = tempdir();
    for p in segment_files(from) {
        fs::copy(&p, to.path().join(p.file_name().unwrap())).unwrap();
    }
    to
}
