//! The `ingest` command of the binary (not of the library: errors here are `anyhow`): reads each
//! input twice in bounded memory (validate, then append), quarantines bad lines, spools stdin,
//! keeps each input's checkpoint and resumes after the lines that are in (`--resume`). Line
//! reading is `idres_cli::lines`, parsing `idres_cli::input`, the checkpoint `cmd/checkpoint.rs`,
//! which lines are in `cmd/resume.rs`.

use std::fs;
use std::io::{BufRead, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::Context;
use idres::{Engine, Ticket};
use idres_cli::input::{parse_line, Format, Parsed};
use idres_cli::lines::{Line, LineReader, LINE_BYTES_MAX};
use idres_model::Record;

use crate::bad_input;
use crate::cmd::checkpoint;
use crate::cmd::resume::{LogCursor, Matcher, Stop};

/// Records per `write_batch` when ingesting.
const INGEST_BATCH: usize = 4096;
/// Batches in flight when ingesting.
const INGEST_IN_FLIGHT: usize = 4;

/// Calls `f(line_number, line)` for each line that is not blank (1-based numbers, newline and a
/// trailing CR removed), a line past [`LINE_BYTES_MAX`] as [`Line::TooLong`]: memory stays
/// bounded by the limit whatever the input. Returns the number of lines.
fn for_each_line(input: impl BufRead, mut f: impl FnMut(u64, Line<'_>) -> anyhow::Result<()>) -> anyhow::Result<u64> {
    let mut lines = LineReader::new(input, LINE_BYTES_MAX);
    while let Some((n, line)) = lines.next_line()? {
        if matches!(line, Line::Text(text) if text.iter().all(u8::is_ascii_whitespace)) {
            continue;
        }
        f(n, line)?;
    }
    Ok(lines.line_number())
}

/// The reason of a line past the limit.
fn too_long() -> String {
    format!("line longer than {LINE_BYTES_MAX} bytes")
}

/// One input: a file, or stdin copied to a spool file (validation reads the input twice, and
/// memory must not follow the input's size).
pub(crate) enum Source {
    File(PathBuf),
    Stdin(Spool),
}

/// Stdin, copied to `stdin.ingest.tmp` in the data directory (owner-only: it may hold personal
/// data); removed when dropped, and replaced if an earlier run left one behind.
pub(crate) struct Spool {
    path: PathBuf,
}

impl Spool {
    fn of_stdin(data: &Path) -> anyhow::Result<Spool> {
        let path = data.join("stdin.ingest.tmp");
        let file = create_private(&path).with_context(|| format!("create {}", path.display()))?;
        let spool = Spool { path };
        let mut w = BufWriter::new(file);
        std::io::copy(&mut std::io::stdin().lock(), &mut w).context("read stdin")?;
        w.flush().with_context(|| format!("write {}", spool.path.display()))?;
        Ok(spool)
    }
}

impl Drop for Spool {
    fn drop(&mut self) {
        // Best effort: a spool left behind is replaced by the next ingest from stdin.
        let _ = fs::remove_file(&self.path);
    }
}

/// Creates `path` anew, readable and writable by its owner only (mode 0600 on Unix): an earlier
/// file there, or a symlink, is removed first rather than written through.
fn create_private(path: &Path) -> std::io::Result<fs::File> {
    match fs::remove_file(path) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(e),
    }
    let mut options = fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    options.open(path)
}

impl Source {
    fn name(&self) -> String {
        match self {
            Source::File(p) => p.display().to_string(),
            Source::Stdin(_) => "stdin".into(),
        }
    }

    fn quarantine_name(&self) -> String {
        match self {
            Source::File(p) => p.file_name().map_or_else(|| "input".into(), |n| n.to_string_lossy().into_owned()),
            Source::Stdin(_) => "stdin".into(),
        }
    }

    fn path(&self) -> &Path {
        match self {
            Source::File(p) => p,
            Source::Stdin(spool) => &spool.path,
        }
    }

    fn reader(&self) -> anyhow::Result<std::io::BufReader<fs::File>> {
        let p = self.path();
        let file = fs::File::open(p).map_err(|e| bad_input(format!("{}: {e}", self.name())))?;
        Ok(std::io::BufReader::with_capacity(1 << 20, file))
    }

    fn len(&self) -> u64 {
        fs::metadata(self.path()).map(|m| m.len()).unwrap_or(0)
    }
}

/// Every input file can be opened (`-` is stdin): checked before the data directory is made or
/// anything is appended, so a mistyped file name changes nothing.
pub(crate) fn check_inputs(files: &[PathBuf]) -> anyhow::Result<()> {
    for file in files.iter().filter(|f| f.as_path() != Path::new("-")) {
        let opened = fs::File::open(file).and_then(|f| f.metadata());
        match opened {
            Ok(m) if m.is_dir() => {
                return Err(bad_input(format!(
                    "{}: is a directory, not an input file (nothing was ingested)",
                    file.display()
                )))
            }
            Ok(_) => {}
            Err(e) => return Err(bad_input(format!("{}: {e} (nothing was ingested)", file.display()))),
        }
    }
    Ok(())
}

#[derive(Default)]
pub(crate) struct IngestSummary {
    lines: u64,
    pub(crate) records: u64,
    skipped: std::collections::BTreeMap<&'static str, u64>,
    quarantined: u64,
    first_lsn: Option<u64>,
    end_lsn: u64,
    /// With `--resume` and a checkpoint: the lines `1..=L` found in the log, not appended again.
    resumed_after_line: Option<u64>,
    /// With `--resume`: every line was in already; nothing was appended.
    already_in: bool,
}

/// How to ingest (the command's flags but the files).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Options {
    pub(crate) format: Format,
    pub(crate) skip_invalid: bool,
    /// Continue after the lines of each input that are in the log (its checkpoint, checked).
    pub(crate) resume: bool,
    pub(crate) progress: bool,
    /// The summary is one JSON object on stdout: what else is said goes to stderr.
    pub(crate) json: bool,
}

/// Says `what` about an input: on stdout with the text summary, on stderr (a note) beside
/// `--json`; nothing under `--quiet`.
fn say_about(json: bool, what: &str) -> anyhow::Result<()> {
    if json {
        crate::output::note(what);
    } else {
        tell!("{what}");
    }
    Ok(())
}

pub(crate) fn ingest(
    engine: &Engine,
    data: &Path,
    opts: Options,
    files: &[PathBuf],
    json: Option<Option<&Path>>,
) -> anyhow::Result<()> {
    let opts = Options { json: json.is_some(), ..opts };
    let started = Instant::now();
    if opts.resume {
        // A checkpoint that cannot serve a resume refuses the command before anything of any file
        // is appended (stdin's is checked once it is spooled).
        for file in files.iter().filter(|f| f.as_path() != Path::new("-")) {
            let name = file.display().to_string();
            let prior = checkpoint::look_up(data, file, &name)?;
            prior.refuse_damaged(&name)?;
            if let Some(c) = prior.found {
                c.check_resumable(&name, opts.format, engine.stats().folded_lsn)?;
            }
        }
    }
    let mut total = IngestSummary::default();
    let mut per_file: Vec<serde_json::Value> = Vec::new();
    let mut quarantined = std::collections::BTreeSet::new();
    for (i, file) in files.iter().enumerate() {
        let source =
            if file == Path::new("-") { Source::Stdin(Spool::of_stdin(data)?) } else { Source::File(file.clone()) };
        let s = ingest_one(engine, data, opts, &source, &mut quarantined).map_err(|e| {
            if i > 0 {
                e.context(format!("the {i} file(s) before {} stay appended", source.name()))
            } else {
                e
            }
        })?;
        let skipped: u64 = s.skipped.values().sum();
        if json.is_some() {
            let last = s.first_lsn.and_then(|_| s.end_lsn.checked_sub(1));
            per_file.push(serde_json::json!({
                "file": source.name(),
                "lines": s.lines,
                "records": s.records,
                "first_lsn": s.first_lsn,
                "last_lsn": last,
                "skipped": s.skipped,
                "quarantined": s.quarantined,
                "resumed_after_line": s.resumed_after_line,
                "already_in": s.already_in,
            }));
        } else if !s.already_in {
            tell!(
                "{}: {} lines, {} records appended{}, {} skipped, {} quarantined",
                source.name(),
                s.lines,
                s.records,
                s.first_lsn.map_or(String::new(), |f| format!(" ({})", crate::lsn::range(f, s.end_lsn))),
                skipped,
                s.quarantined
            );
        }
        total.lines += s.lines;
        total.records += s.records;
        total.quarantined += s.quarantined;
        for (k, v) in s.skipped {
            *total.skipped.entry(k).or_default() += v;
        }
    }
    let secs = started.elapsed().as_secs_f64();
    let stats = engine.stats();
    if let Some(created) = json {
        let j = serde_json::json!({
            "created": created.map(|p| p.display().to_string()),
            "files": per_file,
            "lines": total.lines,
            "records": total.records,
            "skipped": total.skipped,
            "quarantined": total.quarantined,
            "seconds": secs,
            "log_records": stats.folded_lsn,
            "profiles": stats.profiles,
            "rejections": stats.rejections,
        });
        say!("{j}");
        return Ok(());
    }
    tell!(
        "ingested {} records from {} lines in {:.2} s ({:.0} records/s){}; quarantined {}",
        total.records,
        total.lines,
        secs,
        total.records as f64 / secs.max(1e-9),
        skipped_words(&total.skipped),
        total.quarantined
    );
    tell!("log holds {} records; {} profiles; {} rejections", stats.folded_lsn, stats.profiles, stats.rejections);
    Ok(())
}

pub(crate) fn ingest_one(
    engine: &Engine,
    data: &Path,
    opts: Options,
    source: &Source,
    quarantined: &mut std::collections::BTreeSet<String>,
) -> anyhow::Result<IngestSummary> {
    let Options { format, skip_invalid, resume, progress, json } = opts;
    let name = source.name();
    // The input's checkpoint; with --resume, pass 1 also finds which lines the log holds.
    let prior = checkpoint::look_up(data, source.path(), &name)?;
    match &prior.damaged {
        Some(_) if resume => prior.refuse_damaged(&name)?,
        Some(d) => crate::output::warning(format_args!("{d}; this ingest replaces it")),
        None => {}
    }
    let log_end = engine.stats().folded_lsn;
    let mut matching = None;
    match &prior.found {
        None if resume => say_about(json, &format!("no checkpoint for {name}: ingesting from line 1"))?,
        None => {}
        Some(c) if resume => {
            c.check_resumable(&name, format, log_end)?;
            matching = Some((Matcher::new(c.anchor_lsn, &c.continued), LogCursor::open(data)?));
        }
        Some(c) => crate::output::note(c.note(&name)),
    }
    // Pass 1: validate every line; without --skip-invalid the first bad line refuses the file.
    // With it, each bad line goes to the quarantine file as it is found; only its number stays
    // in memory (8 bytes a bad line), for pass 2 to skip it.
    let mut bad: Vec<u64> = Vec::new();
    let mut quarantine: Option<(PathBuf, BufWriter<fs::File>)> = None;
    let check = |line: Line<'_>| -> Result<Parsed, String> {
        let Line::Text(line) = line else { return Err(too_long()) };
        let parsed = parse_line(line, format)?;
        if let Parsed::Records(records) = &parsed {
            for r in records {
                engine.validate(r).map_err(|e| e.to_string())?;
            }
        }
        Ok(parsed)
    };
    let lines = for_each_line(source.reader()?, |n, line| match check(line) {
        Ok(parsed) => {
            if let Some((m, log)) = matching.as_mut() {
                let records = match &parsed {
                    Parsed::Records(records) => records.as_slice(),
                    Parsed::Skipped(_) => &[],
                };
                m.line(n, records, log)?;
            }
            Ok(())
        }
        Err(reason) if skip_invalid => {
            if let Some((m, log)) = matching.as_mut() {
                m.line(n, &[], log)?;
            }
            if quarantine.is_none() {
                quarantine = Some(open_quarantine(data, source, quarantined)?);
            }
            if let Some((path, q)) = quarantine.as_mut() {
                // A line past the limit was never held: its number, reason and length say which.
                let entry = match line {
                    Line::Text(text) => serde_json::json!({
                        "file": name, "line": n, "reason": reason, "text": String::from_utf8_lossy(text)
                    }),
                    Line::TooLong { bytes } => serde_json::json!({
                        "file": name, "line": n, "reason": reason, "text": null, "bytes": bytes
                    }),
                };
                writeln!(q, "{entry}").with_context(|| format!("write {}", path.display()))?;
            }
            bad.push(n);
            Ok(())
        }
        Err(reason) => Err(bad_input(format!("{name}:{n}: {reason} (nothing from {name} was appended)"))),
    })?;
    let mut summary = IngestSummary { lines, quarantined: bad.len() as u64, ..IngestSummary::default() };
    if let Some((path, q)) = quarantine {
        // On disk before anything of the file is appended: a bad line is never only in memory.
        q.into_inner()
            .map_err(|e| e.into_error())
            .and_then(|f| f.sync_all())
            .with_context(|| format!("write {}", path.display()))?;
        crate::output::note(format_args!("{} bad lines of {name} quarantined in {}", bad.len(), path.display()));
    }
    // Which lines are in already (with --resume); the checkpoint, durable before any append.
    let (skip_through, mut recorder) = match matching {
        None => (0, prior.start(&name, format, log_end)?),
        Some((m, _)) => {
            let verified = m.finish(lines);
            let recorded = prior.found.as_ref().map_or(0, |c| c.lines_done);
            let l = verified.lines_in;
            if l < recorded.min(lines) {
                crate::output::warning(format_args!(
                    "the log holds lines 1..={l} of {name}, fewer than its checkpoint recorded \
                     (1..={recorded}): the log was cut or changed since"
                ));
            }
            if let (Some(Stop::Other { lsn }), true) = (verified.stop, l < lines) {
                crate::output::note(format_args!(
                    "note: the log holds other records from LSN {lsn} on, where line {} of {name} would be: \
                     lines {} on are appended after them",
                    l + 1,
                    l + 1
                ));
            }
            summary.resumed_after_line = Some(l);
            if l >= lines {
                say_about(json, &format!("{name}: all {lines} lines were already in ({})", verified.lsn_words()))?;
                if let Err(e) = prior.all_in(&verified) {
                    crate::output::warning(format_args!("could not mark {name}'s checkpoint complete: {e:#}"));
                }
                summary.already_in = true;
                return Ok(summary);
            }
            if l == 0 {
                say_about(json, &format!("{name}: none of its lines are in: appending from line 1"))?;
            } else {
                say_about(
                    json,
                    &format!("{name}: lines 1..={l} are in ({}); appending from line {}", verified.lsn_words(), l + 1),
                )?;
            }
            (l, prior.resume(&name, format, &verified, log_end)?)
        }
    };
    // Pass 2: append the valid lines in batches, a few batches in flight.
    let mut bar = crate::progress::Progress::bytes(progress, source.len(), &format!("ingest {name}"));
    let mut bad_lines = bad.iter().copied().peekable();
    let mut batch: Vec<Record> = Vec::with_capacity(INGEST_BATCH);
    // Each batch in flight with its last line.
    let mut inflight: std::collections::VecDeque<(Ticket, u64)> = std::collections::VecDeque::new();
    let settle = |(t, line): (Ticket, u64),
                  summary: &mut IngestSummary,
                  recorder: &mut checkpoint::Recorder|
     -> anyhow::Result<()> {
        let lsns = t.wait_range().with_context(|| format!("appending {name}: earlier lines may have been appended"))?;
        if !lsns.is_empty() {
            summary.first_lsn.get_or_insert(lsns.start);
            summary.end_lsn = lsns.end;
        }
        recorder.settled(line, lsns.end);
        Ok(())
    };
    let mut read = 0u64;
    let mut last_line = 0u64;
    for_each_line(source.reader()?, |n, line| {
        read += match line {
            Line::Text(text) => text.len() as u64 + 1,
            Line::TooLong { bytes } => bytes + 1,
        };
        if bad_lines.peek() == Some(&n) {
            bad_lines.next();
            return Ok(());
        }
        if n <= skip_through {
            return Ok(());
        }
        last_line = n;
        let parsed = match line {
            Line::Text(text) => parse_line(text, format),
            Line::TooLong { .. } => Err(too_long()),
        };
        match parsed {
            Ok(Parsed::Records(records)) => {
                summary.records += records.len() as u64;
                batch.extend(records);
            }
            Ok(Parsed::Skipped(why)) => *summary.skipped.entry(why).or_default() += 1,
            // The file changed between the passes.
            Err(reason) => {
                return Err(bad_input(format!(
                    "{name}:{n}: {reason} (the file changed while being read; lines of {name} before line {n} may have been appended)"
                )))
            }
        }
        if batch.len() >= INGEST_BATCH {
            inflight.push_back((
                engine
                    .write_batch(std::mem::take(&mut batch))
                    .with_context(|| format!("appending {name} at line {n}: earlier lines may have been appended"))?,
                n,
            ));
            bar.set_position(read);
            if inflight.len() >= INGEST_IN_FLIGHT {
                if let Some(t) = inflight.pop_front() {
                    settle(t, &mut summary, &mut recorder)?;
                }
            }
        }
        Ok(())
    })?;
    if !batch.is_empty() {
        inflight.push_back((
            engine
                .write_batch(batch)
                .with_context(|| format!("appending {name}: earlier lines may have been appended"))?,
            last_line,
        ));
    }
    for t in inflight {
        settle(t, &mut summary, &mut recorder)?;
    }
    recorder.complete(lines, engine.stats().folded_lsn);
    bar.set_position(read);
    bar.finish();
    Ok(summary)
}

/// The quarantine file of `source`, open for writing and owner-only (mode 0600: bad lines hold
/// ids and attributes). One file per input name; two inputs of the same name in one command
/// share it (the lines say which file), an earlier command's file of that name is replaced.
fn open_quarantine(
    data: &Path,
    source: &Source,
    quarantined: &mut std::collections::BTreeSet<String>,
) -> anyhow::Result<(PathBuf, BufWriter<fs::File>)> {
    let dir = data.join("quarantine");
    fs::create_dir_all(&dir).with_context(|| format!("create {}", dir.display()))?;
    let qname = format!("{}.rejected.ndjson", source.quarantine_name());
    let path = dir.join(&qname);
    let file =
        if quarantined.insert(qname) { create_private(&path) } else { fs::OpenOptions::new().append(true).open(&path) }
            .with_context(|| format!("open {}", path.display()))?;
    Ok((path, BufWriter::new(file)))
}

/// The lines skipped, by why, for people: `; skipped 3 (blank 2, comment 1)`, or nothing when
/// none was.
fn skipped_words(skipped: &std::collections::BTreeMap<&'static str, u64>) -> String {
    let total: u64 = skipped.values().sum();
    if total == 0 {
        return String::new();
    }
    let why: Vec<String> = skipped.iter().map(|(k, v)| format!("{k} {v}")).collect();
    format!("; skipped {total} ({})", why.join(", "))
}

#[cfg(test)]
mod tests {
    use super::skipped_words;

    #[test]
    fn skipped_lines_are_said_for_people() {
        let mut m = std::collections::BTreeMap::new();
        assert_eq!(skipped_words(&m), "");
        m.insert("comment", 1);
        m.insert("blank", 2);
        assert_eq!(skipped_words(&m), "; skipped 3 (blank 2, comment 1)");
    }
}
