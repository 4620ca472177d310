//! One-shot failure injection for tests of the crates above the log (feature `failpoints`).
//!
//! [`fail_next_write`] makes the next frame write of any log in the process fail with an OS error
//! of the given kind (e.g. `StorageFull`, as when the disk is full); [`fail_next_sync`] makes the
//! next fdatasync fail. Each fires once. Process-wide: use them from a test binary that runs one
//! engine at a time.

use std::io;
use std::sync::Mutex;

static NEXT_WRITE: Mutex<Option<io::ErrorKind>> = Mutex::new(None);
static NEXT_SYNC: Mutex<bool> = Mutex::new(false);

/// The next frame write fails with an error of `kind`.
pub fn fail_next_write(kind: io::ErrorKind) {
    *NEXT_WRITE.lock().unwrap_or_else(|e| e.into_inner()) = Some(kind);
}

/// The next fdatasync of appended frames fails.
pub fn fail_next_sync() {
    *NEXT_SYNC.lock().unwrap_or_else(|e| e.into_inner()) = true;
}

pub(crate) fn take_write() -> Option<io::Error> {
    NEXT_WRITE
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .take()
        .map(|kind| io::Error::new(kind, "injected write failure (failpoints)"))
}

pub(crate) fn take_sync() -> Option<io::Error> {
    let mut s = NEXT_SYNC.lock().unwrap_or_else(|e| e.into_inner());
    if std::mem::take(&mut *s) {
        Some(io::Error::other("injected fsync failure (failpoints)"))
    } else {
        None
    }
}
