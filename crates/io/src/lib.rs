//! idres-io: the file-system calls that change what is on disk, each at a named fail point.
//!
//! Owns: every create, write, sync, rename, removal, resize and directory fsync that the log and
//! the engine make, and the fail points tests use to make any one of them fail (feature
//! `failpoints`, as raft-engine's `env` and `tests/failpoints`). Does not own: what is written
//! (each caller owns its bytes), reads (a failed read is found by the checks on what is read), or
//! error messages (callers say what and where; this layer returns `std::io::Error`).
//!
//! A fail point is a [`Point`]: a [`Site`] (what is being written: a segment, a frame, a
//! snapshot, …) and an [`Op`] (create, write, sync, …), named `site.op` (`frame.sync`). Without the
//! feature each call is the plain `std` call. With it, [`failpoints::arm`] makes the calls at one
//! point under one directory fail (once, or every time, or as a torn write), so tests in one
//! process do not see each other's faults; [`failpoints::reached`] lists the points a run went
//! through, so a test can check that it armed every point its workload reaches.

use std::fs::File;
use std::io::{self, Write};
use std::os::unix::fs::FileExt;
use std::path::Path;

/// What a call writes to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Site {
    /// A log segment file while it is made (create, zero-fill, header, fsync) and renamed into
    /// place; a prepared one reopened; segment files removed by repair.
    Segment,
    /// The active segment's frames: opening it for appends, the appends and their fdatasync.
    Frame,
    /// The fsync that seals a full segment before the next one starts.
    Seal,
    /// Recovery zeroing a torn tail and its fdatasync (and repair zeroing what follows its cut).
    TornTail,
    /// The log directory: creating it and its lock file, its fsync after a rename or removal,
    /// temp files removed on open.
    LogDir,
    /// A snapshot file.
    Snapshot,
    /// A small file beside `log/` that the engine replaces atomically: the store-rebuild marker,
    /// the fold-config hash, the recorded config.
    Marker,
    /// The data directory and `snapshots/` (their fsync after a rename or removal).
    DataDir,
}

/// What a call does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Op {
    /// Creating (or opening for writing) a file.
    Create,
    /// Writing bytes.
    Write,
    /// `fdatasync` / `fsync` of a file.
    Sync,
    /// Renaming a file.
    Rename,
    /// Removing a file.
    Remove,
    /// Setting a file's length.
    SetLen,
    /// `fsync` of a directory.
    SyncDir,
}

/// A fail point: a site and an operation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Point {
    /// What is written.
    pub site: Site,
    /// What is done.
    pub op: Op,
}

impl Point {
    /// The point of `op` at `site`.
    pub const fn new(site: Site, op: Op) -> Point {
        Point { site, op }
    }
}

impl std::fmt::Display for Point {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let site = match self.site {
            Site::Segment => "segment",
            Site::Frame => "frame",
            Site::Seal => "seal",
            Site::TornTail => "torn_tail",
            Site::LogDir => "log_dir",
            Site::Snapshot => "snapshot",
            Site::Marker => "marker",
            Site::DataDir => "data_dir",
        };
        let op = match self.op {
            Op::Create => "create",
            Op::Write => "write",
            Op::Sync => "sync",
            Op::Rename => "rename",
            Op::Remove => "remove",
            Op::SetLen => "set_len",
            Op::SyncDir => "sync_dir",
        };
        write!(f, "{site}.{op}")
    }
}

#[inline]
fn check(_point: Point, _path: &Path) -> io::Result<()> {
    #[cfg(feature = "failpoints")]
    if let Some(action) = failpoints::hit(_point, _path) {
        return Err(action.error(_point));
    }
    Ok(())
}

/// Creates (truncating) `path` for writing.
#[inline]
pub fn create(site: Site, path: &Path) -> io::Result<File> {
    check(Point::new(site, Op::Create), path)?;
    File::create(path)
}

/// Opens `path` for reading and writing, creating it if it is missing, never truncating it (a
/// lock file).
#[inline]
pub fn open_or_create(site: Site, path: &Path) -> io::Result<File> {
    check(Point::new(site, Op::Create), path)?;
    std::fs::OpenOptions::new().read(true).write(true).create(true).truncate(false).open(path)
}

/// Creates the directory `dir` and its missing parents (fsync their parents to make it durable).
#[inline]
pub fn create_dir_all(site: Site, dir: &Path) -> io::Result<()> {
    check(Point::new(site, Op::Create), dir)?;
    std::fs::create_dir_all(dir)
}

/// Opens an existing `path` for reading and writing.
#[inline]
pub fn open_rw(site: Site, path: &Path) -> io::Result<File> {
    check(Point::new(site, Op::Create), path)?;
    std::fs::OpenOptions::new().read(true).write(true).open(path)
}

/// Writes all of `buf` at `offset` of `file` (whose path is `path`).
#[inline]
pub fn write_all_at(site: Site, file: &File, path: &Path, buf: &[u8], offset: u64) -> io::Result<()> {
    #[cfg(feature = "failpoints")]
    if let Some(action) = failpoints::hit(Point::new(site, Op::Write), path) {
        if action.torn() {
            // A torn write: the first half reaches the file, then the call fails.
            file.write_all_at(&buf[..buf.len() / 2], offset)?;
        }
        return Err(action.error(Point::new(site, Op::Write)));
    }
    let _ = (site, path);
    file.write_all_at(buf, offset)
}

/// Writes all of `buf` at `file`'s position.
#[inline]
pub fn write_all(site: Site, file: &mut File, path: &Path, buf: &[u8]) -> io::Result<()> {
    #[cfg(feature = "failpoints")]
    if let Some(action) = failpoints::hit(Point::new(site, Op::Write), path) {
        if action.torn() {
            file.write_all(&buf[..buf.len() / 2])?;
        }
        return Err(action.error(Point::new(site, Op::Write)));
    }
    let _ = (site, path);
    file.write_all(buf)
}

/// `fdatasync` of `file`.
#[inline]
pub fn sync_data(site: Site, file: &File, path: &Path) -> io::Result<()> {
    check(Point::new(site, Op::Sync), path)?;
    file.sync_data()
}

/// `fsync` of `file` (data and metadata).
#[inline]
pub fn sync_all(site: Site, file: &File, path: &Path) -> io::Result<()> {
    check(Point::new(site, Op::Sync), path)?;
    file.sync_all()
}

/// Sets `file`'s length.
#[inline]
pub fn set_len(site: Site, file: &File, path: &Path, len: u64) -> io::Result<()> {
    check(Point::new(site, Op::SetLen), path)?;
    file.set_len(len)
}

/// Renames `from` to `to` (replacing `to`).
#[inline]
pub fn rename(site: Site, from: &Path, to: &Path) -> io::Result<()> {
    check(Point::new(site, Op::Rename), from)?;
    std::fs::rename(from, to)
}

/// Removes the file `path`.
#[inline]
pub fn remove_file(site: Site, path: &Path) -> io::Result<()> {
    check(Point::new(site, Op::Remove), path)?;
    std::fs::remove_file(path)
}

/// `fsync` of the directory `dir`, so that a rename or removal in it is durable.
#[inline]
pub fn sync_dir(site: Site, dir: &Path) -> io::Result<()> {
    check(Point::new(site, Op::SyncDir), dir)?;
    File::open(dir)?.sync_all()
}

/// Failure injection at named points (feature `failpoints`).
///
/// Armed points are matched by point and by directory: a point armed under `dir` fires only for
/// paths under `dir`, so tests running in parallel in one process each fault their own data
/// directory.
#[cfg(feature = "failpoints")]
pub mod failpoints {
    use std::collections::BTreeSet;
    use std::io;
    use std::path::{Path, PathBuf};
    use std::sync::Mutex;

    use super::Point;

    /// What an armed point does when a call reaches it.
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    pub enum Action {
        /// The next call fails with an error of this kind; later calls succeed.
        FailOnce(io::ErrorKind),
        /// Every call fails with an error of this kind until [`disarm`].
        FailAlways(io::ErrorKind),
        /// The next write puts the first half of its bytes in the file, then fails (a torn
        /// write); at a point that is not a write, the same as `FailOnce(Other)`.
        TornOnce,
    }

    impl Action {
        pub(crate) fn torn(self) -> bool {
            self == Action::TornOnce
        }

        pub(crate) fn error(self, point: Point) -> io::Error {
            let kind = match self {
                Action::FailOnce(kind) | Action::FailAlways(kind) => kind,
                Action::TornOnce => io::ErrorKind::Other,
            };
            io::Error::new(kind, format!("injected failure at fail point {point}"))
        }
    }

    struct Armed {
        point: Point,
        under: PathBuf,
        action: Action,
    }

    struct Registry {
        armed: Vec<Armed>,
        reached: BTreeSet<(PathBuf, Point)>,
    }

    static REGISTRY: Mutex<Registry> = Mutex::new(Registry { armed: Vec::new(), reached: BTreeSet::new() });

    fn registry() -> std::sync::MutexGuard<'static, Registry> {
        REGISTRY.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Arms `point` for paths under `under` (replacing what was armed there before).
    pub fn arm(point: Point, under: impl AsRef<Path>, action: Action) {
        let under = under.as_ref().to_path_buf();
        let mut r = registry();
        r.armed.retain(|a| !(a.point == point && a.under == under));
        r.armed.push(Armed { point, under, action });
    }

    /// Disarms every point under `under` and forgets which points were reached there.
    pub fn disarm(under: impl AsRef<Path>) {
        let under = under.as_ref();
        let mut r = registry();
        r.armed.retain(|a| a.under != under);
        r.reached.retain(|(dir, _)| !dir.starts_with(under));
    }

    /// The points reached by calls on paths under `under` since it was last disarmed, each once,
    /// in order.
    pub fn reached(under: impl AsRef<Path>) -> Vec<Point> {
        let under = under.as_ref();
        let r = registry();
        let points: BTreeSet<Point> =
            r.reached.iter().filter(|(p, _)| p.starts_with(under)).map(|(_, pt)| *pt).collect();
        points.into_iter().collect()
    }

    /// Whether `point` fires for `path`; records that it was reached (under `path` itself, so
    /// that the fsync of a directory counts as reached under that directory).
    pub(crate) fn hit(point: Point, path: &Path) -> Option<Action> {
        let mut r = registry();
        r.reached.insert((path.to_path_buf(), point));
        let i = r.armed.iter().position(|a| a.point == point && path.starts_with(&a.under))?;
        let action = r.armed[i].action;
        if !matches!(action, Action::FailAlways(_)) {
            r.armed.remove(i);
        }
        Some(action)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn points_are_named_site_dot_op() {
        assert_eq!(Point::new(Site::Frame, Op::Sync).to_string(), "frame.sync");
        assert_eq!(Point::new(Site::TornTail, Op::Write).to_string(), "torn_tail.write");
        assert_eq!(Point::new(Site::DataDir, Op::SyncDir).to_string(), "data_dir.sync_dir");
    }

    #[test]
    fn the_calls_do_what_std_does() {
        let tmp = tempfile::tempdir().unwrap();
        let path = tmp.path().join("f");
        let mut f = create(Site::Marker, &path).unwrap();
        write_all(Site::Marker, &mut f, &path, b"hello").unwrap();
        write_all_at(Site::Marker, &f, &path, b"J", 0).unwrap();
        sync_all(Site::Marker, &f, &path).unwrap();
        sync_data(Site::Marker, &f, &path).unwrap();
        set_len(Site::Marker, &f, &path, 4).unwrap();
        drop(f);
        let to = tmp.path().join("g");
        rename(Site::Marker, &path, &to).unwrap();
        sync_dir(Site::DataDir, tmp.path()).unwrap();
        assert_eq!(std::fs::read(&to).unwrap(), b"Jell");
        let f = open_rw(Site::Marker, &to).unwrap();
        drop(f);
        let lock = tmp.path().join("sub/dir/LOCK");
        create_dir_all(Site::LogDir, lock.parent().unwrap()).unwrap();
        drop(open_or_create(Site::LogDir, &lock).unwrap());
        assert_eq!(std::fs::read(&lock).unwrap(), b"");
        std::fs::write(&lock, b"kept").unwrap();
        drop(open_or_create(Site::LogDir, &lock).unwrap());
        assert_eq!(std::fs::read(&lock).unwrap(), b"kept", "never truncated");
        remove_file(Site::Marker, &to).unwrap();
        assert!(!to.exists());
    }

    #[cfg(feature = "failpoints")]
    #[test]
    fn an_armed_point_fails_only_under_its_directory_and_only_as_often_as_armed() {
        use failpoints::{arm, disarm, reached, Action};
        let a = tempfile::tempdir().unwrap();
        let b = tempfile::tempdir().unwrap();
        let (pa, pb) = (a.path().join("f"), b.path().join("f"));
        arm(Point::new(Site::Snapshot, Op::Create), a.path(), Action::FailOnce(io::ErrorKind::StorageFull));
        let e = create(Site::Snapshot, &pa).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::StorageFull);
        assert!(e.to_string().contains("snapshot.create"), "{e}");
        create(Site::Snapshot, &pa).unwrap();
        create(Site::Snapshot, &pb).unwrap();
        arm(Point::new(Site::Snapshot, Op::Sync), a.path(), Action::FailAlways(io::ErrorKind::Other));
        let f = create(Site::Snapshot, &pa).unwrap();
        assert!(sync_all(Site::Snapshot, &f, &pa).is_err());
        assert!(sync_all(Site::Snapshot, &f, &pa).is_err(), "always");
        arm(Point::new(Site::Snapshot, Op::Write), a.path(), Action::TornOnce);
        assert!(write_all_at(Site::Snapshot, &f, &pa, b"abcdef", 0).is_err());
        assert_eq!(std::fs::read(&pa).unwrap(), b"abc", "a torn write leaves the first half");
        assert_eq!(
            reached(a.path()),
            vec![
                Point::new(Site::Snapshot, Op::Create),
                Point::new(Site::Snapshot, Op::Write),
                Point::new(Site::Snapshot, Op::Sync)
            ]
        );
        disarm(a.path());
        sync_all(Site::Snapshot, &f, &pa).unwrap();
        assert_eq!(reached(b.path()), vec![Point::new(Site::Snapshot, Op::Create)]);
    }
}
