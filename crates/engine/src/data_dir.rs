//! The data directory: where everything an engine keeps lives, and the one way files in it are
//! replaced.
//!
//! Owns: the layout (every path below is named here and nowhere else), snapshot file names and
//! their listing, and atomic file replacement (temp file, fsync, rename, fsync of the directory).
//! Does not own: the bytes of any file (the log, the snapshot file, the store own theirs) or the
//! lock (the log's `LOCK` keeps a second writer out; sled locks its own directory).
//!
//! ```text
//! DIR/
//!   log/                    the append-only log (idres-log): the only source of truth
//!   snapshots/              {lsn:020}.snap: the fold's state after lsn records (a cache)
//!   store/                  the read model (fjall or sled): a cache of the log
//!   store-backend           which backend wrote store/ (`fjall`, `sled`; none: sled, from before)
//!   quarantine/             lines `idres ingest --skip-invalid` refused, per input file
//!   ingest/                 `idres ingest`'s checkpoints: per input, how many lines are in
//!   fold-config.sha256      the hash of the fold config the store was written under
//!   store-rebuild.lsn       while a store rebuild runs: how many records had been acknowledged
//!   config.toml             the fold config text `idres` records (`--config`)
//! ```

use std::fs;
use std::path::{Path, PathBuf};

use idres_io::Site;
use idres_log::Lsn;

/// The name of the fold-config hash file beside `log/`.
pub const FOLD_CONFIG_FILE: &str = "fold-config.sha256";
/// The name of the store-rebuild marker beside `log/`.
pub const STORE_REBUILD_MARKER: &str = "store-rebuild.lsn";
/// The name of the file beside `log/` that records which backend wrote `store/`.
pub const STORE_BACKEND_FILE: &str = "store-backend";
/// The name of the recorded fold config text beside `log/` (written by `idres --config`).
pub const CONFIG_FILE: &str = "config.toml";

/// A file-system operation on the data directory that failed.
#[derive(Debug, thiserror::Error)]
#[error("{op} {}", path.display())]
pub struct DataDirError {
    /// What was being done.
    pub op: &'static str,
    /// The path it was done to.
    pub path: PathBuf,
    /// The OS error.
    #[source]
    pub source: std::io::Error,
}

fn io<'a>(op: &'static str, path: &'a Path) -> impl Fn(std::io::Error) -> DataDirError + 'a {
    move |source| DataDirError { op, path: path.to_path_buf(), source }
}

/// A data directory's layout.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DataDir {
    root: PathBuf,
}

impl DataDir {
    /// The layout under `root` (nothing is read or created).
    pub fn new(root: impl Into<PathBuf>) -> DataDir {
        DataDir { root: root.into() }
    }

    /// The directory itself.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// `log/`.
    pub fn log_dir(&self) -> PathBuf {
        self.root.join("log")
    }

    /// `snapshots/`.
    pub fn snapshots_dir(&self) -> PathBuf {
        self.root.join("snapshots")
    }

    /// `store/`.
    pub fn store_dir(&self) -> PathBuf {
        self.root.join("store")
    }

    /// `quarantine/`.
    pub fn quarantine_dir(&self) -> PathBuf {
        self.root.join("quarantine")
    }

    /// `ingest/`: the command line's ingest checkpoints, one small file per input (which of its
    /// lines are in the log, for `idres ingest --resume`).
    pub fn ingest_checkpoints_dir(&self) -> PathBuf {
        self.root.join("ingest")
    }

    /// `fold-config.sha256`.
    pub fn fold_config_file(&self) -> PathBuf {
        self.root.join(FOLD_CONFIG_FILE)
    }

    /// `store-backend`.
    pub fn store_backend_file(&self) -> PathBuf {
        self.root.join(STORE_BACKEND_FILE)
    }

    /// `store-rebuild.lsn`.
    pub fn store_rebuild_marker(&self) -> PathBuf {
        self.root.join(STORE_REBUILD_MARKER)
    }

    /// `config.toml`.
    pub fn config_file(&self) -> PathBuf {
        self.root.join(CONFIG_FILE)
    }

    /// The snapshot file of the state after `lsn` records.
    pub fn snapshot_path(&self, lsn: Lsn) -> PathBuf {
        self.snapshots_dir().join(snapshot_name(lsn))
    }

    /// A data directory that exists must be a directory: a file given as `--data` is the caller's
    /// mistake, said as such before anything tries to read inside it.
    pub fn check_is_directory(&self) -> Result<(), String> {
        match fs::metadata(&self.root) {
            Ok(m) if !m.is_dir() => Err(format!("{} is not a directory", self.root.display())),
            _ => Ok(()),
        }
    }

    /// Removes the temp files an interrupted atomic write of the engine left (`NAME.tmp` of the
    /// markers, `*.snap.tmp` in `snapshots/`): they are never read, and a full disk
    /// should not keep them. Returns what it removed.
    pub fn remove_temp_files(&self) -> Result<Vec<PathBuf>, DataDirError> {
        // Not `config.toml.tmp`: the command line writes that file outside the log's lock, and a
        // leftover is replaced by its next write.
        let mut temps: Vec<PathBuf> = [FOLD_CONFIG_FILE, STORE_REBUILD_MARKER, STORE_BACKEND_FILE]
            .iter()
            .map(|name| self.root.join(format!("{name}.tmp")))
            .collect();
        let dir = self.snapshots_dir();
        match fs::read_dir(&dir) {
            Ok(entries) => {
                for entry in entries {
                    let entry = entry.map_err(io("read directory", &dir))?;
                    let name = entry.file_name();
                    if name
                        .to_str()
                        .is_some_and(|n| n.strip_suffix(".tmp").is_some_and(|n| parse_snapshot_name(n).is_some()))
                    {
                        temps.push(entry.path());
                    }
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(io("read directory", &dir)(e)),
        }
        let mut removed = Vec::new();
        for path in temps {
            let site = if path.starts_with(&dir) { Site::Snapshot } else { Site::Marker };
            if remove_file_durably(site, &path)? {
                removed.push(path);
            }
        }
        Ok(removed)
    }

    /// Snapshot files, newest first: `(lsn, path)`. A missing `snapshots/` has none; names that
    /// are not `{digits}.snap` are not snapshots (temp files, a user's notes) and are skipped.
    pub fn snapshots(&self) -> Result<Vec<(Lsn, PathBuf)>, DataDirError> {
        let dir = self.snapshots_dir();
        let entries = match fs::read_dir(&dir) {
            Ok(entries) => entries,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(io("read directory", &dir)(e)),
        };
        let mut out = Vec::new();
        for entry in entries {
            let entry = entry.map_err(io("read directory", &dir))?;
            if let Some(lsn) = entry.file_name().to_str().and_then(parse_snapshot_name) {
                out.push((lsn, entry.path()));
            }
        }
        out.sort_by_key(|s| std::cmp::Reverse(s.0));
        Ok(out)
    }
}

/// The file name of the snapshot after `lsn` records: 20 digits, so names sort in LSN order.
pub fn snapshot_name(lsn: Lsn) -> String {
    format!("{lsn:020}.snap")
}

/// The LSN a snapshot file name stands for (`None`: not a snapshot's name).
pub fn parse_snapshot_name(name: &str) -> Option<Lsn> {
    let digits = name.strip_suffix(".snap")?;
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

/// fsyncs a directory, so that a rename or removal in it is durable.
pub fn sync_dir(dir: &Path) -> Result<(), DataDirError> {
    idres_io::sync_dir(Site::DataDir, dir).map_err(io("fsync directory", dir))
}

/// Replaces `path` atomically with `parts` written one after the other: a temp file beside it
/// (`NAME.tmp`), fsync, rename over `path`, fsync of the directory. A crash leaves the old file or
/// the new one, never a mix; a leftover temp file is never read as the file. `site` names the
/// fail points of the file's writes (a snapshot, a marker).
pub fn write_atomically_parts(site: Site, path: &Path, parts: &[&[u8]]) -> Result<(), DataDirError> {
    let dir = path.parent().unwrap_or_else(|| Path::new("."));
    let mut tmp_name = path.file_name().map(|n| n.to_os_string()).unwrap_or_default();
    tmp_name.push(".tmp");
    let tmp = dir.join(tmp_name);
    let mut f = idres_io::create(site, &tmp).map_err(io("create", &tmp))?;
    for part in parts {
        idres_io::write_all(site, &mut f, &tmp, part).map_err(io("write", &tmp))?;
    }
    idres_io::sync_all(site, &f, &tmp).map_err(io("fsync", &tmp))?;
    drop(f);
    idres_io::rename(site, &tmp, path).map_err(io("rename", &tmp))?;
    sync_dir(dir)
}

/// [`write_atomically_parts`] for a small file of the data directory (a marker, the recorded
/// config): fail points `marker.*`.
pub fn write_atomically(path: &Path, bytes: &[u8]) -> Result<(), DataDirError> {
    write_atomically_parts(Site::Marker, path, &[bytes])
}

/// [`write_atomically`] for a file only its owner may read (mode 0600 on Unix: it names inputs
/// or holds personal data): the temp file is made anew with that mode (a leftover one is removed
/// first, never written through), so the file is never readable by others, not even for a moment.
pub fn write_atomically_private(path: &Path, bytes: &[u8]) -> Result<(), DataDirError> {
    let site = Site::Marker;
    let dir = path.parent().unwrap_or_else(|| Path::new("."));
    let mut tmp_name = path.file_name().map(|n| n.to_os_string()).unwrap_or_default();
    tmp_name.push(".tmp");
    let tmp = dir.join(tmp_name);
    match idres_io::remove_file(site, &tmp) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(io("remove", &tmp)(e)),
    }
    let mut options = fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut f = options.open(&tmp).map_err(io("create", &tmp))?;
    idres_io::write_all(site, &mut f, &tmp, bytes).map_err(io("write", &tmp))?;
    idres_io::sync_all(site, &f, &tmp).map_err(io("fsync", &tmp))?;
    drop(f);
    idres_io::rename(site, &tmp, path).map_err(io("rename", &tmp))?;
    sync_dir(dir)
}

/// Removes `path` if it exists and fsyncs its directory. Returns whether it existed. `site`
/// names the fail point of the removal.
pub fn remove_file_durably(site: Site, path: &Path) -> Result<bool, DataDirError> {
    match idres_io::remove_file(site, path) {
        Ok(()) => {
            sync_dir(path.parent().unwrap_or_else(|| Path::new(".")))?;
            Ok(true)
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(false),
        Err(e) => Err(io("remove", path)(e)),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn snapshot_names_round_trip_and_nothing_else_is_a_snapshot() {
        assert_eq!(snapshot_name(42), "00000000000000000042.snap");
        assert_eq!(parse_snapshot_name(&snapshot_name(42)), Some(42));
        assert_eq!(parse_snapshot_name(&snapshot_name(u64::MAX)), Some(u64::MAX));
        for name in ["42.snap.tmp", ".snap", "+1.snap", "-1.snap", "4 2.snap", "x.snap", "42.snp"] {
            assert_eq!(parse_snapshot_name(name), None, "{name}");
        }
    }

    #[test]
    fn snapshots_are_listed_newest_first_and_a_missing_directory_has_none() {
        let tmp = tempfile::tempdir().unwrap();
        let d = DataDir::new(tmp.path());
        assert!(d.snapshots().unwrap().is_empty());
        fs::create_dir_all(d.snapshots_dir()).unwrap();
        for lsn in [5, 500, 50] {
            write_atomically(&d.snapshot_path(lsn), b"x").unwrap();
        }
        fs::write(d.snapshots_dir().join("00000000000000000900.snap.tmp"), b"unfinished").unwrap();
        let lsns: Vec<Lsn> = d.snapshots().unwrap().into_iter().map(|(l, _)| l).collect();
        assert_eq!(lsns, vec![500, 50, 5]);
    }

    #[test]
    fn an_atomic_write_replaces_the_file_and_leaves_no_temp_file() {
        let tmp = tempfile::tempdir().unwrap();
        let path = tmp.path().join("marker");
        write_atomically(&path, b"one").unwrap();
        write_atomically(&path, b"two").unwrap();
        assert_eq!(fs::read(&path).unwrap(), b"two");
        assert!(!tmp.path().join("marker.tmp").exists());
        assert!(remove_file_durably(Site::Marker, &path).unwrap());
        assert!(!remove_file_durably(Site::Marker, &path).unwrap(), "removing a missing file is not an error");
    }

    #[cfg(unix)]
    #[test]
    fn a_private_atomic_write_is_owner_only_and_replaces_a_leftover_temp_file() {
        use std::os::unix::fs::PermissionsExt;
        let tmp = tempfile::tempdir().unwrap();
        let path = tmp.path().join("checkpoint.json");
        fs::write(tmp.path().join("checkpoint.json.tmp"), b"left by a kill").unwrap();
        write_atomically_private(&path, b"one").unwrap();
        write_atomically_private(&path, b"two").unwrap();
        assert_eq!(fs::read(&path).unwrap(), b"two");
        assert_eq!(fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o600);
        assert!(!tmp.path().join("checkpoint.json.tmp").exists());
    }

    #[test]
    fn temp_files_of_interrupted_writes_are_removed_and_nothing_else() {
        // Found by the ENOSPC run (issue 12, defect 12): a snapshot that could not be written
        // left its empty temp file behind, counted by `stats` as a snapshot.
        let tmp = tempfile::tempdir().unwrap();
        let d = DataDir::new(tmp.path());
        fs::create_dir_all(d.snapshots_dir()).unwrap();
        let leftovers = [
            d.snapshots_dir().join("00000000000000000900.snap.tmp"),
            tmp.path().join("store-rebuild.lsn.tmp"),
            tmp.path().join("fold-config.sha256.tmp"),
        ];
        for p in &leftovers {
            fs::write(p, b"").unwrap();
        }
        let kept = [d.snapshot_path(5), d.snapshots_dir().join("notes.tmp"), tmp.path().join("stdin.ingest.tmp")];
        for p in &kept {
            fs::write(p, b"x").unwrap();
        }
        let mut removed = d.remove_temp_files().unwrap();
        removed.sort();
        let mut expected = leftovers.to_vec();
        expected.sort();
        assert_eq!(removed, expected);
        assert!(leftovers.iter().all(|p| !p.exists()));
        assert!(kept.iter().all(|p| p.exists()), "only the temp files of atomic writes go");
    }

    #[test]
    fn a_file_as_the_data_directory_is_named_as_such() {
        let tmp = tempfile::tempdir().unwrap();
        let file = tmp.path().join("data");
        fs::write(&file, b"").unwrap();
        let e = DataDir::new(&file).check_is_directory().unwrap_err();
        assert!(e.ends_with("data is not a directory"), "{e}");
        assert!(DataDir::new(tmp.path()).check_is_directory().is_ok());
        assert!(DataDir::new(tmp.path().join("new")).check_is_directory().is_ok(), "a new one is made");
    }
}
