//! Which data directory a command may use, said before anything is read or made there: every
//! command but `ingest`, `gen` and `demo` needs an existing data directory (one holding `log/`);
//! `ingest` creates one where nothing exists or in an empty directory, says so, and removes what
//! it made if it fails before anything was appended. A mistyped `--data` is a usage error (exit
//! 2), never a new 64 MiB directory.

use std::fs;
use std::path::{Path, PathBuf};

use idres::data_dir::DataDir;
use idres_log::ReadOnlyLog;
use idres_model::CODEC_ID;

use crate::bad_input;

/// A data directory is a directory, or does not exist yet: said before anything reads inside it
/// (a wrong `--data` is the caller's mistake, exit 2, not "config.toml: Not a directory").
pub(crate) fn check_data_dir(dir: &Path) -> anyhow::Result<()> {
    match fs::metadata(dir) {
        Ok(m) if !m.is_dir() => Err(bad_input(format!("{} is not a directory", dir.display()))),
        Err(e) if e.kind() == std::io::ErrorKind::NotADirectory => {
            Err(bad_input(format!("{} is not a directory (a part of the path is a file)", dir.display())))
        }
        _ => Ok(()),
    }
}

/// `dir` is an existing data directory (it holds `log/`): else exit 2, naming the path and what
/// to pass instead. Read commands, `rebuild` and `repair` start with this, so a wrong `--data`
/// creates nothing.
pub(crate) fn require_data_dir(dir: &Path) -> anyhow::Result<()> {
    check_data_dir(dir)?;
    if !dir.exists() {
        return Err(bad_input(format!(
            "no data directory at {}: it does not exist (pass --data DIR naming an existing data directory; \
             `idres --data DIR ingest FILE` creates one)",
            dir.display()
        )));
    }
    if !DataDir::new(dir).log_dir().is_dir() {
        return Err(bad_input(format!(
            "{} is not an idres data directory: it holds no log/ (pass --data DIR naming one)",
            dir.display()
        )));
    }
    Ok(())
}

/// A data directory `ingest` is creating: where, and what to remove if the ingest fails.
pub(crate) struct NewDataDir {
    dir: PathBuf,
    made: Made,
}

enum Made {
    /// The directory did not exist: this one (the topmost of the path that was missing) was made,
    /// with everything below it.
    Tree(PathBuf),
    /// The directory existed and was empty: everything in it was made.
    Contents,
}

/// Readies `dir` for an ingest: an existing data directory is used as it is (`None`); a path that
/// does not exist, or an empty directory, becomes a new data directory (its missing directories
/// are created now); any other directory is refused (exit 2): it is not a data directory, and
/// holds something else.
pub(crate) fn prepare_for_ingest(dir: &Path) -> anyhow::Result<Option<NewDataDir>> {
    check_data_dir(dir)?;
    if dir.exists() {
        if DataDir::new(dir).log_dir().is_dir() {
            return Ok(None);
        }
        let empty = fs::read_dir(dir).map_err(|e| bad_input(format!("read {}: {e}", dir.display())))?.next().is_none();
        if !empty {
            return Err(bad_input(format!(
                "{} is not an idres data directory (it holds no log/) and is not empty: ingest creates a data \
                 directory only at a path that does not exist or in an empty directory (pass --data DIR)",
                dir.display()
            )));
        }
        return Ok(Some(NewDataDir { dir: dir.to_path_buf(), made: Made::Contents }));
    }
    // The topmost missing directory of the path: the one to remove if the ingest fails.
    let top =
        dir.ancestors().take_while(|a| !a.as_os_str().is_empty() && !a.exists()).last().unwrap_or(dir).to_path_buf();
    fs::create_dir_all(dir).map_err(|e| anyhow::anyhow!("create the data directory {}: {e}", dir.display()))?;
    Ok(Some(NewDataDir { dir: dir.to_path_buf(), made: Made::Tree(top) }))
}

impl NewDataDir {
    /// What ingest prints first: that it made a data directory, and where.
    pub(crate) fn announcement(&self) -> String {
        match self.made {
            Made::Tree(_) => format!("created data directory {}", self.dir.display()),
            Made::Contents => format!("created data directory {} (in the empty directory)", self.dir.display()),
        }
    }

    /// After a failed ingest: removes what this command made, unless the log holds records
    /// (files before the failing one stay appended, and durable records are never removed).
    /// Says on stderr what it did; `failed` is returned as it was.
    pub(crate) fn undo(self, failed: anyhow::Error) -> anyhow::Error {
        let log_dir = DataDir::new(&self.dir).log_dir();
        let records =
            if log_dir.exists() { ReadOnlyLog::open(&log_dir, Some(CODEC_ID)).map(|l| l.end_lsn()) } else { Ok(0) };
        match records {
            Ok(0) => match self.remove() {
                Ok(()) => crate::output::note(format_args!(
                    "removed {} this ingest created (nothing was appended)",
                    match &self.made {
                        Made::Tree(top) => format!("the data directory {}", top.display()),
                        Made::Contents => format!("everything in {}", self.dir.display()),
                    }
                )),
                Err(e) => crate::output::warning(format_args!(
                    "could not remove the data directory {} this ingest created: {e}",
                    self.dir.display()
                )),
            },
            Ok(n) => crate::output::note(format_args!(
                "kept the data directory {} this ingest created: it holds {n} durable records",
                self.dir.display()
            )),
            Err(e) => crate::output::warning(format_args!(
                "kept the data directory {} this ingest created: its log could not be read ({e})",
                self.dir.display()
            )),
        }
        failed
    }

    fn remove(&self) -> std::io::Result<()> {
        match &self.made {
            Made::Tree(top) => fs::remove_dir_all(top),
            Made::Contents => {
                for entry in fs::read_dir(&self.dir)? {
                    let path = entry?.path();
                    if fs::symlink_metadata(&path)?.is_dir() {
                        fs::remove_dir_all(&path)?;
                    } else {
                        fs::remove_file(&path)?;
                    }
                }
                Ok(())
            }
        }
    }
}
