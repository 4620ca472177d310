//! The workload's logs: the generated workload written once as a log and once as its identity
//! records only, and the readers and copies of them that the rows use.

use std::fs;
use std::io::{BufRead, BufWriter, Write};
use std::path::{Path, PathBuf};

use anyhow::{anyhow, bail};
use idres_cli::gen::{write_ndjson, GenOptions};
use idres_cli::input::{parse_line, Format, Parsed};
use idres_log::{BatchBuilder, Durability, Log, LogOptions, ReadOnlyLog};
use idres_model::{decode_entry_with_schema, encode_entry_into, Entry, Record, Timestamp, CODEC_ID, SCHEMA_VERSION};

/// Records per frame when the harness writes the workload's logs.
const WRITE_BATCH: usize = 4096;

/// The two logs of the workload: everything, and its identity records only.
pub(crate) struct Logs {
    pub(crate) full: PathBuf,
    pub(crate) identity: PathBuf,
    pub(crate) records: u64,
    pub(crate) identity_records: u64,
}

fn is_identity(r: &Record) -> bool {
    matches!(
        r,
        Record::Identify { .. }
            | Record::Reset { .. }
            | Record::Merge { .. }
            | Record::Unmerge { .. }
            | Record::Unlink { .. }
    )
}

/// Generates the workload with the CLI's generator (as native NDJSON, like `idres gen`), and
/// writes it once as a log, and its identity records as a second log. Each record's append time
/// is its own time (or the previous one's), so the logs and the digest depend on the seed only.
pub(crate) fn write_logs(dir: &Path, records: u64, seed: u64, uids: Option<u64>) -> anyhow::Result<Logs> {
    let ndjson = dir.join("workload.ndjson");
    {
        let mut w = BufWriter::new(fs::File::create(&ndjson)?);
        write_ndjson(&GenOptions { records, seed, uids }, &mut w)?;
        w.flush()?;
    }
    let opts = LogOptions { durability: Durability::Never, codec_id: CODEC_ID, ..LogOptions::default() };
    let (full, identity) = (dir.join("full/log"), dir.join("identity/log"));
    for d in [&full, &identity] {
        if d.exists() {
            fs::remove_dir_all(d)?;
        }
    }
    let mut logs = [Log::open(&full, opts.clone())?, Log::open(&identity, opts)?];
    let mut batches = [BatchBuilder::new(SCHEMA_VERSION), BatchBuilder::new(SCHEMA_VERSION)];
    let mut counts = [0u64; 2];
    let mut appended_at = Timestamp::from_micros(0);
    let input = std::io::BufReader::with_capacity(1 << 20, fs::File::open(&ndjson)?);
    for (n, line) in input.split(b'\n').enumerate() {
        let line = line?;
        if line.is_empty() {
            continue;
        }
        let record = match parse_line(&line, Format::Native).map_err(|e| anyhow!("workload line {}: {e}", n + 1))? {
            Parsed::Records(mut r) if r.len() == 1 => r.remove(0),
            other => bail!("workload line {}: unexpected {other:?}", n + 1),
        };
        if let Some(ts) = record.ts() {
            appended_at = ts;
        }
        let entry = Entry { appended_at, record };
        for (i, wanted) in [true, is_identity(&entry.record)].into_iter().enumerate() {
            if !wanted {
                continue;
            }
            batches[i].push_with(|buf| {
                encode_entry_into(&entry, buf).map_err(|e| idres_log::LogError::InvalidOptions(e.to_string()))
            })?;
            counts[i] += 1;
            if batches[i].len() >= WRITE_BATCH {
                logs[i].append(&batches[i])?;
                batches[i].clear();
            }
        }
    }
    for i in 0..2 {
        logs[i].append(&batches[i])?;
        logs[i].sync()?;
    }
    let [a, b] = logs;
    a.close()?;
    b.close()?;
    fs::remove_file(&ndjson)?;
    Ok(Logs { full, identity, records: counts[0], identity_records: counts[1] })
}

pub(crate) fn copy_log(from: &Path, to: &Path) -> anyhow::Result<()> {
    fs::create_dir_all(to)?;
    for e in fs::read_dir(from)? {
        let e = e?;
        if e.path().extension().is_some_and(|x| x == "seg") {
            fs::copy(e.path(), to.join(e.file_name()))?;
        }
    }
    Ok(())
}

pub(crate) fn read_records(log: &ReadOnlyLog, n: u64) -> anyhow::Result<Vec<Record>> {
    let mut reader = log.reader(0)?;
    let mut out = Vec::with_capacity(n as usize);
    'frames: while let Some(frame) = reader.next_frame()? {
        for (_, bytes) in frame.records() {
            if out.len() as u64 >= n {
                break 'frames;
            }
            out.push(decode_entry_with_schema(frame.schema, bytes)?.record);
        }
    }
    Ok(out)
}
