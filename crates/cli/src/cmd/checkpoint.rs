//! `idres ingest`'s checkpoints: owns the checkpoint file of an input
//! (`DATA/ingest/{size}-{sha256 of its first MiB}.json`, docs/FORMAT.md): its key, its content,
//! reading it (a damaged one is named), writing it (atomically, durably, owner-only), and what a
//! resume and a plain ingest make of it.
//!
//! A checkpoint is a hint, never trusted for what is in the log: only where the input's records
//! begin (its anchor, written durably before the first of them is appended, and where they
//! continue after other records) is taken from it. Which lines are in is what the log says
//! (`cmd/resume.rs`); ingest (`cmd/ingest.rs`) drives both.

use std::fs;
use std::io::Read;
use std::path::{Path, PathBuf};

use anyhow::Context;
use idres::data_dir::{sync_dir, write_atomically_private, DataDir};
use idres_cli::input::Format;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::cmd::resume::Verified;
use crate::lsn;
use crate::{bad_input, exit};

/// The version of the checkpoint file this build writes and reads.
pub(crate) const CHECKPOINT_VERSION: u64 = 1;
/// How much of an input's head its key hashes.
pub(crate) const HEAD_BYTES: u64 = 1 << 20;
/// The largest checkpoint file read (one is a few hundred bytes).
const CHECKPOINT_BYTES_MAX: u64 = 64 << 10;
/// Settled batches between two writes of a checkpoint's progress.
const SAVE_EVERY_BATCHES: u32 = 4;

/// What names an input's checkpoint: its size in bytes and the SHA-256 of its first
/// [`HEAD_BYTES`] bytes (its content, not its name: a spooled stdin has one too).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Key {
    size: u64,
    head_sha256: String,
}

impl Key {
    /// The key of the file at `path`, as it is now.
    pub(crate) fn of(path: &Path) -> std::io::Result<Key> {
        let file = fs::File::open(path)?;
        let size = file.metadata()?.len();
        let mut hasher = Sha256::new();
        std::io::copy(&mut file.take(HEAD_BYTES), &mut hasher)?;
        Ok(Key { size, head_sha256: crate::session::hex(&hasher.finalize()) })
    }

    /// The checkpoint's file name: `{size}-{sha256 hex}.json`.
    fn file_name(&self) -> String {
        format!("{}-{}.json", self.size, self.head_sha256)
    }
}

/// Lines of the input from `from_line` on were appended from `lsn` on (after records that are not
/// the input's: a resume found them where the input's next line would have been).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Continued {
    pub(crate) from_line: u64,
    pub(crate) lsn: u64,
}

/// The checkpoint file's content (docs/FORMAT.md, "Ingest checkpoints").
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Checkpoint {
    pub(crate) version: u64,
    /// The input's name as given (`stdin` for `-`).
    pub(crate) file: String,
    pub(crate) size: u64,
    pub(crate) head_sha256: String,
    /// `native` or `segment`.
    pub(crate) format: String,
    /// The log's end when the input's ingest began: the LSN its first record got.
    pub(crate) anchor_lsn: u64,
    /// Every record of lines `1..=lines_done` was durable when this was written.
    pub(crate) lines_done: u64,
    /// The log's end after those lines.
    pub(crate) end_lsn: u64,
    /// Every line is in.
    pub(crate) complete: bool,
    /// Where later lines continue after other records (usually none).
    pub(crate) continued: Vec<Continued>,
}

fn format_name(format: Format) -> &'static str {
    match format {
        Format::Native => "native",
        Format::Segment => "segment",
    }
}

impl Checkpoint {
    /// A new ingest of the input from line 1, its records from `anchor` on.
    fn fresh(name: &str, key: &Key, format: Format, anchor: u64) -> Checkpoint {
        Checkpoint {
            version: CHECKPOINT_VERSION,
            file: name.to_string(),
            size: key.size,
            head_sha256: key.head_sha256.clone(),
            format: format_name(format).to_string(),
            anchor_lsn: anchor,
            lines_done: 0,
            end_lsn: anchor,
            complete: false,
            continued: Vec::new(),
        }
    }

    /// What is wrong with a parsed checkpoint of `key`, if anything.
    fn problem(&self, key: &Key) -> Option<String> {
        if self.size != key.size || self.head_sha256 != key.head_sha256 {
            return Some("its size or head hash is not its name's".into());
        }
        if !matches!(self.format.as_str(), "native" | "segment") {
            return Some(format!("unknown format {:?}", self.format));
        }
        if self.end_lsn < self.anchor_lsn {
            return Some(format!("end_lsn {} before anchor_lsn {}", self.end_lsn, self.anchor_lsn));
        }
        let (mut line, mut lsn) = (1, self.anchor_lsn);
        for c in &self.continued {
            if c.from_line <= line || c.lsn < lsn || c.from_line > self.lines_done.saturating_add(1) {
                return Some(format!("continued {{from_line {}, lsn {}}} out of order", c.from_line, c.lsn));
            }
            (line, lsn) = (c.from_line, c.lsn);
        }
        None
    }

    /// The LSNs of the lines it says are in, in words.
    fn lsn_words(&self) -> String {
        if self.continued.is_empty() {
            lsn::range(self.anchor_lsn, self.end_lsn)
        } else {
            format!("{}, with other records among them", lsn::range(self.anchor_lsn, self.end_lsn))
        }
    }

    /// Refuses (exit 2, nothing appended) a resume this checkpoint cannot serve: another
    /// `--format`, or a log that ends before where the input's records began (cut by `repair`).
    pub(crate) fn check_resumable(&self, name: &str, format: Format, log_end: u64) -> anyhow::Result<()> {
        if self.format != format_name(format) {
            return Err(bad_input(format!(
                "{name} was ingested with --format {}, not --format {}: resume it with --format {}, or ingest it \
                 without --resume to append all of it (nothing was appended)",
                self.format,
                format_name(format),
                self.format
            )));
        }
        let start = self.continued.last().map_or(self.anchor_lsn, |c| c.lsn);
        if start > log_end {
            return Err(bad_input(format!(
                "{name}'s records began at LSN {start}, but the log now ends before it ({}): it was cut (`idres \
                 repair`) since, and what is left of {name} cannot be told; check what the log holds (`idres stats`, \
                 `idres history`), then ingest {name} without --resume to append it from line 1 (nothing was appended)",
                lsn::range(0, log_end)
            )));
        }
        Ok(())
    }

    /// The note a plain ingest of an input with a checkpoint prints on stderr.
    pub(crate) fn note(&self, name: &str) -> String {
        if self.lines_done == 0 {
            format!(
                "note: an ingest of {name} began before (at LSN {}); `--resume` checks which of its lines are \
                 in and continues after them",
                self.anchor_lsn
            )
        } else {
            format!(
                "note: {name} was ingested before (lines 1..={} are in, {}); `--resume` continues after them",
                self.lines_done,
                self.lsn_words()
            )
        }
    }
}

/// An input's checkpoint file: where it is, and what it held when looked up.
pub(crate) struct Prior {
    key: Key,
    path: PathBuf,
    /// The checkpoint, if there is one that could be read.
    pub(crate) found: Option<Checkpoint>,
    /// The file there could not be read or parsed: `PATH: a damaged ingest checkpoint of F (why)`.
    pub(crate) damaged: Option<String>,
}

/// Looks up the checkpoint of the input at `input` (named `name` in messages). A file there that
/// cannot be read or parsed is kept in [`Prior::damaged`]: every write of a checkpoint is atomic
/// and fsynced, so a crash never leaves one half-written; such a file is damage (bit rot, an
/// edit), and without it nothing says where the input's records begin.
pub(crate) fn look_up(data: &Path, input: &Path, name: &str) -> anyhow::Result<Prior> {
    let key = Key::of(input).map_err(|e| bad_input(format!("{name}: {e}")))?;
    let path = DataDir::new(data).ingest_checkpoints_dir().join(key.file_name());
    let read = match read_bounded(&path) {
        Ok(Some(bytes)) => parse(&bytes, &key),
        Ok(None) => Err(format!("larger than {CHECKPOINT_BYTES_MAX} bytes")),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Ok(Prior { key, path, found: None, damaged: None })
        }
        Err(e) => Err(format!("it cannot be read: {e}")),
    };
    Ok(match read {
        Ok(c) => Prior { key, path, found: Some(c), damaged: None },
        Err(why) => {
            let damaged = format!("{}: a damaged ingest checkpoint of {name} ({why})", path.display());
            Prior { key, path, found: None, damaged: Some(damaged) }
        }
    })
}

/// The bytes of the file at `path`, or `None` if it holds more than [`CHECKPOINT_BYTES_MAX`].
fn read_bounded(path: &Path) -> std::io::Result<Option<Vec<u8>>> {
    let mut bytes = Vec::new();
    fs::File::open(path)?.take(CHECKPOINT_BYTES_MAX + 1).read_to_end(&mut bytes)?;
    Ok((bytes.len() as u64 <= CHECKPOINT_BYTES_MAX).then_some(bytes))
}

/// Parses a checkpoint file's bytes; the error says what is wrong in words.
fn parse(bytes: &[u8], key: &Key) -> Result<Checkpoint, String> {
    let json: serde_json::Value = serde_json::from_slice(bytes).map_err(|e| format!("not JSON: {e}"))?;
    match json.get("version").and_then(serde_json::Value::as_u64) {
        Some(CHECKPOINT_VERSION) => {}
        Some(v) => return Err(format!("version {v}; this build reads version {CHECKPOINT_VERSION}")),
        None => return Err("no version".into()),
    }
    let c: Checkpoint = serde_json::from_value(json).map_err(|e| e.to_string())?;
    match c.problem(key) {
        Some(why) => Err(why),
        None => Ok(c),
    }
}

impl Prior {
    /// A resume cannot go on from a damaged checkpoint (exit 3): nothing else says where the
    /// input's records begin.
    pub(crate) fn refuse_damaged(&self, name: &str) -> anyhow::Result<()> {
        match &self.damaged {
            None => Ok(()),
            Some(d) => Err(exit(
                3,
                format!(
                    "{d}: it cannot say where {name}'s records begin; remove it, check what the log holds (`idres \
                     stats`, `idres history`), then ingest {name} again (nothing was appended)"
                ),
            )),
        }
    }

    /// The checkpoint of a new ingest of the input from line 1 (records from `anchor` on),
    /// written durably before anything of it is appended.
    pub(crate) fn start(&self, name: &str, format: Format, anchor: u64) -> anyhow::Result<Recorder> {
        self.record(Checkpoint::fresh(name, &self.key, format, anchor))
    }

    /// The checkpoint of a resume after `verified` (of the checkpoint found, with the log's end
    /// `log_end`): lines `1..=lines_in` stay where they are, later ones are appended from
    /// `log_end` on. Written durably before anything is appended.
    pub(crate) fn resume(
        &self,
        name: &str,
        format: Format,
        verified: &Verified,
        log_end: u64,
    ) -> anyhow::Result<Recorder> {
        let Some(found) = self.found.as_ref().filter(|_| verified.lines_in > 0) else {
            return self.start(name, format, log_end);
        };
        let mut c = found.clone();
        c.file = name.to_string();
        c.continued.retain(|s| s.from_line <= verified.lines_in);
        let end = verified.end_lsn().unwrap_or(c.anchor_lsn);
        if end != log_end {
            c.continued.push(Continued { from_line: verified.lines_in + 1, lsn: log_end });
        }
        c.lines_done = verified.lines_in;
        c.end_lsn = end;
        c.complete = false;
        self.record(c)
    }

    /// Marks the checkpoint found complete after a resume found every line in (`verified`).
    pub(crate) fn all_in(&self, verified: &Verified) -> anyhow::Result<()> {
        let Some(found) = &self.found else { return Ok(()) };
        let end = verified.end_lsn().unwrap_or(found.anchor_lsn);
        if found.complete && found.lines_done == verified.lines_in && found.end_lsn == end {
            return Ok(());
        }
        let c = Checkpoint { lines_done: verified.lines_in, end_lsn: end, complete: true, ..found.clone() };
        self.record(c).map(drop)
    }

    fn record(&self, checkpoint: Checkpoint) -> anyhow::Result<Recorder> {
        let recorder = Recorder { path: self.path.clone(), checkpoint, unsaved: 0, warned: false };
        recorder.save().with_context(|| format!("write the ingest checkpoint {}", self.path.display()))?;
        Ok(recorder)
    }
}

/// Writes an input's checkpoint as its ingest goes: every few settled batches and at the end.
/// Those writes are hints (a resume checks the log): one that fails is a warning, not an error.
pub(crate) struct Recorder {
    path: PathBuf,
    checkpoint: Checkpoint,
    unsaved: u32,
    warned: bool,
}

impl Recorder {
    /// A batch whose last line is `line` is durable, and the log ends at `end_lsn`.
    pub(crate) fn settled(&mut self, line: u64, end_lsn: u64) {
        self.checkpoint.lines_done = line;
        self.checkpoint.end_lsn = end_lsn;
        self.unsaved += 1;
        if self.unsaved >= SAVE_EVERY_BATCHES {
            self.save_or_warn();
        }
    }

    /// Every line of the input (`lines`) is in; the log ends at `end_lsn`.
    pub(crate) fn complete(&mut self, lines: u64, end_lsn: u64) {
        self.checkpoint.lines_done = lines;
        self.checkpoint.end_lsn = end_lsn;
        self.checkpoint.complete = true;
        self.save_or_warn();
    }

    fn save_or_warn(&mut self) {
        match self.save() {
            Ok(()) => self.unsaved = 0,
            Err(e) if !self.warned => {
                self.warned = true;
                crate::output::warning(format_args!(
                    "could not update the ingest checkpoint {}: {e:#} (`--resume` still finds every \
                     line that is in: it checks the log)",
                    self.path.display()
                ));
            }
            Err(_) => {}
        }
    }

    /// Writes the checkpoint atomically and durably (temp file, fsync, rename, directory fsync),
    /// owner-only; makes `ingest/` (durably) first if it is missing.
    fn save(&self) -> anyhow::Result<()> {
        let dir = self.path.parent().unwrap_or_else(|| Path::new("."));
        if !dir.is_dir() {
            fs::create_dir_all(dir).with_context(|| format!("create {}", dir.display()))?;
            if let Some(root) = dir.parent() {
                sync_dir(root)?;
            }
        }
        let mut bytes = serde_json::to_vec_pretty(&self.checkpoint)?;
        bytes.push(b'\n');
        write_atomically_private(&self.path, &bytes)?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cmd::resume::Stop;

    fn checkpoint(anchor: u64, continued: Vec<Continued>) -> Checkpoint {
        let key = Key { size: 10, head_sha256: "ab".into() };
        Checkpoint { continued, ..Checkpoint::fresh("f", &key, Format::Native, anchor) }
    }

    #[test]
    fn a_resume_continues_the_stretch_or_starts_one_after_other_records() {
        let tmp = tempfile::tempdir().unwrap();
        let input = tmp.path().join("in.ndjson");
        fs::write(&input, b"{}\n").unwrap();
        let mut prior = look_up(tmp.path(), &input, "in.ndjson").unwrap();
        assert!(prior.found.is_none());
        prior.start("in.ndjson", Format::Native, 10).unwrap();
        let found = look_up(tmp.path(), &input, "in.ndjson").unwrap().found.unwrap();
        assert_eq!((found.anchor_lsn, found.lines_done, found.end_lsn, found.complete), (10, 0, 10, false));
        prior.found = Some(found);
        // Lines 1..=5 in at 10..15, the log ends there: the same stretch goes on.
        let v = Verified { lines_in: 5, spans: vec![(1, 10..15)], stop: Some(Stop::LogEnd) };
        let r = prior.resume("in.ndjson", Format::Native, &v, 15).unwrap();
        assert_eq!((r.checkpoint.lines_done, r.checkpoint.end_lsn, r.checkpoint.continued.len()), (5, 15, 0));
        // Other records after them: line 6 on continues at the log's end.
        let r = prior.resume("in.ndjson", Format::Native, &v, 20).unwrap();
        assert_eq!(r.checkpoint.continued, vec![Continued { from_line: 6, lsn: 20 }]);
        assert_eq!(r.checkpoint.anchor_lsn, 10);
        // Nothing in: a new ingest from line 1 at the log's end.
        let v = Verified { lines_in: 0, spans: vec![(1, 10..10)], stop: Some(Stop::Other { lsn: 10 }) };
        let r = prior.resume("in.ndjson", Format::Native, &v, 20).unwrap();
        assert_eq!((r.checkpoint.anchor_lsn, r.checkpoint.lines_done, r.checkpoint.continued.len()), (20, 0, 0));
    }

    #[test]
    fn a_checkpoint_file_that_is_not_one_is_named_as_damage() {
        let key = Key { size: 10, head_sha256: "ab".into() };
        let good = serde_json::to_vec(&checkpoint(3, vec![])).unwrap();
        assert!(parse(&good, &key).is_ok());
        let other_key = Key { size: 11, head_sha256: "ab".into() };
        assert!(parse(&good, &other_key).unwrap_err().contains("size or head hash"));
        assert!(parse(b"", &key).unwrap_err().contains("not JSON"));
        assert!(parse(&good[..good.len() / 2], &key).unwrap_err().contains("not JSON"));
        assert!(parse(br#"{"version":2}"#, &key).unwrap_err().contains("version 2"));
        assert!(parse(br#"{"file":"f"}"#, &key).unwrap_err().contains("no version"));
        let mut j: serde_json::Value = serde_json::from_slice(&good).unwrap();
        j["end_lsn"] = 1.into();
        assert!(parse(&serde_json::to_vec(&j).unwrap(), &key).unwrap_err().contains("before anchor_lsn"));
        j["end_lsn"] = "x".into();
        assert!(parse(&serde_json::to_vec(&j).unwrap(), &key).is_err());
        let back = checkpoint(3, vec![Continued { from_line: 1, lsn: 4 }]);
        assert!(parse(&serde_json::to_vec(&back).unwrap(), &key).unwrap_err().contains("out of order"));
    }

    #[test]
    fn the_key_is_the_size_and_the_hash_of_the_head() {
        let tmp = tempfile::tempdir().unwrap();
        let a = tmp.path().join("a");
        let b = tmp.path().join("b");
        let mut bytes = vec![b'x'; HEAD_BYTES as usize];
        fs::write(&a, &bytes).unwrap();
        bytes.push(b'y');
        fs::write(&b, &bytes).unwrap();
        let (ka, kb) = (Key::of(&a).unwrap(), Key::of(&b).unwrap());
        assert_eq!(ka.head_sha256, kb.head_sha256, "only the first MiB is hashed");
        assert_ne!(ka.file_name(), kb.file_name(), "the size tells them apart");
        assert_eq!(Key::of(&a).unwrap(), ka);
        assert!(ka.file_name().starts_with("1048576-") && ka.file_name().ends_with(".json"));
    }
}
