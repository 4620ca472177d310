//! The log directory's writer lock: `LOCK`, held (an OS file lock) by the one writer — an open
//! [`crate::Log`] or a repair — and holding that process's id as text, so that a refused second
//! writer can say who holds it. The id is advice for people (a pid can be reused once its process
//! is gone, and the lock, not the text, is what excludes); nothing trusts it.

use std::fs::File;
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::Path;

use idres_io::Site;

use crate::LogError;

const LOCK_FILE: &str = "LOCK";

/// Takes the writer lock of the log in `dir` and writes this process's id into the lock file;
/// [`LogError::Locked`] (with the holder's id, if it wrote one) when another writer holds it.
pub(crate) fn lock_dir(dir: &Path) -> Result<File, LogError> {
    let path = dir.join(LOCK_FILE);
    let mut file =
        idres_io::open_or_create(Site::LogDir, &path).map_err(|e| LogError::io("open lock file", &path, e))?;
    match file.try_lock() {
        Ok(()) => {
            // Best effort: the pid is for messages only, so a failure to write it is not an error.
            let _ = file
                .set_len(0)
                .and_then(|()| file.seek(SeekFrom::Start(0)))
                .and_then(|_| file.write_all(format!("{}\n", std::process::id()).as_bytes()));
            Ok(file)
        }
        Err(std::fs::TryLockError::WouldBlock) => Err(LogError::Locked { holder: holder_pid(&mut file), path }),
        Err(std::fs::TryLockError::Error(e)) => Err(LogError::io("lock", &path, e)),
    }
}

/// The process id the lock file's holder wrote, if it reads as one (at most 32 bytes read).
fn holder_pid(file: &mut File) -> Option<u32> {
    let mut text = String::new();
    file.seek(SeekFrom::Start(0)).ok()?;
    file.take(32).read_to_string(&mut text).ok()?;
    text.trim().parse().ok()
}

/// Whether a writer (an open [`crate::Log`], or a repair) holds the lock of the log in `dir`, in
/// this process or another. A probe that changes nothing: a free lock is taken and at once
/// released, and a directory without a lock file (or without the directory) is not locked. For a
/// reader that would rather read beside a live writer ([`crate::ReadOnlyLog`]) than open the log
/// itself.
pub fn is_locked(dir: impl AsRef<Path>) -> Result<bool, LogError> {
    Ok(lock_holder(dir)?.is_some())
}

/// `None` if no writer holds the lock of the log in `dir`; else `Some` of the holder's process
/// id, if it wrote one (see [`is_locked`]).
pub fn lock_holder(dir: impl AsRef<Path>) -> Result<Option<Option<u32>>, LogError> {
    let path = dir.as_ref().join(LOCK_FILE);
    let mut file = match File::open(&path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(LogError::io("open lock file", &path, e)),
    };
    match file.try_lock() {
        // Released as the file is closed.
        Ok(()) => Ok(None),
        Err(std::fs::TryLockError::WouldBlock) => Ok(Some(holder_pid(&mut file))),
        Err(std::fs::TryLockError::Error(e)) => Err(LogError::io("lock", &path, e)),
    }
}
