//! Opening the read model: the backend the data directory records, a switch of backend, and a
//! store that cannot be read rebuilt (open step 1, [`crate::Engine::open`]).
//!
//! Owns: `store-backend` (which backend wrote `store/`: `fjall` or `sled`; a directory from
//! before the record is sled's, the only backend then), the switch (the old store's applied LSN
//! kept in the store-rebuild marker, then the old store removed and the new one rebuilt from the
//! log, said in the open report), and telling damage (rebuild) from a store in use or a failing
//! disk (an error: deleting would not help and could destroy a store in use).

use std::fs;

use idres_log::Lsn;
use idres_model::IdExcerpt;
use idres_store::{ProfileStore, StoreBackend};

use crate::data_dir::{write_atomically, DataDir};
use crate::error::{chain, io};
use crate::{EngineConfig, EngineError, OpenReport};

/// What the data directory says about its store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Recorded {
    /// No store yet.
    Nothing,
    /// A store written by this backend (default options).
    Backend(StoreBackend),
    /// `store-backend` holds no backend name (damage: the store is rebuilt).
    Unknown(String),
}

/// The backend that wrote `store/`, as `store-backend` records it.
pub(crate) fn recorded_backend(dir: &DataDir) -> Result<Recorded, EngineError> {
    let path = dir.store_backend_file();
    match fs::read(&path) {
        Ok(bytes) => {
            let name = String::from_utf8_lossy(&bytes).trim().to_string();
            Ok(match StoreBackend::by_name(&name).filter(StoreBackend::is_on_disk) {
                Some(b) => Recorded::Backend(b),
                None => Recorded::Unknown(IdExcerpt::new(name.as_bytes()).to_string()),
            })
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let store_dir = dir.store_dir();
            let has_files = fs::read_dir(&store_dir).map(|mut d| d.next().is_some()).unwrap_or(false);
            Ok(if has_files {
                Recorded::Backend(StoreBackend::by_name("sled").unwrap_or_default())
            } else {
                Recorded::Nothing
            })
        }
        Err(e) => Err(io("read", &path)(e)),
    }
}

/// The store's lock is held, or its files cannot be read or written: not damage.
fn not_damage(e: &idres_store::StoreError) -> bool {
    e.is_io()
}

/// What [`open_store`] opened.
pub(crate) struct OpenedStore {
    /// The store.
    pub(crate) store: Box<dyn ProfileStore>,
    /// The LSN it has applied (`None`: empty, or damaged and cleared, or written by another
    /// backend and to be rebuilt).
    pub(crate) applied: Option<Lsn>,
    /// The backend was switched (the store-rebuild marker then holds what the old store had seen).
    pub(crate) switched: bool,
    /// The store is new: there was none (or an empty one that had applied nothing), and nothing
    /// was found damaged or switched. On an empty log, filling it is creating it, not a rebuild.
    pub(crate) new: bool,
}

/// Step 1: the store, the LSN it has applied, and whether the backend switched or the store is
/// new ([`OpenedStore`]).
pub(crate) fn open_store(
    dir: &DataDir,
    config: &EngineConfig,
    report: &mut OpenReport,
) -> Result<OpenedStore, EngineError> {
    let backend = &config.store;
    if !backend.is_on_disk() {
        // Nothing persisted: every open makes it anew.
        return Ok(OpenedStore { store: backend.open(&dir.store_dir())?, applied: None, switched: false, new: true });
    }
    let store_dir = dir.store_dir();
    let recorded = recorded_backend(dir)?;
    let switched = match &recorded {
        Recorded::Backend(old) if old.name() == backend.name() => false,
        Recorded::Nothing => false,
        Recorded::Backend(old) => {
            // What the old store has seen was acknowledged: the marker keeps it while the new
            // store is rebuilt (an old store that cannot be read has seen nothing we can know).
            let seen = match old.open(&store_dir) {
                Ok(s) => s.applied_lsn().ok().flatten(),
                Err(e) if not_damage(&e) => return Err(e.into()),
                Err(_) => None,
            };
            if let Some(seen) = seen {
                let marker = dir.store_rebuild_marker();
                let before = fs::read_to_string(&marker).ok().and_then(|t| t.trim().parse::<Lsn>().ok());
                let keep = seen.max(before.unwrap_or(0));
                write_atomically(&marker, format!("{keep}\n").as_bytes())?;
            }
            report.events.push(format!(
                "the store was written by {}, and this engine's store is {}: rebuilding it from the log",
                old.name(),
                backend.name()
            ));
            true
        }
        Recorded::Unknown(text) => {
            report.events.push(format!(
                "{} names no store backend ({text}); rebuilding the store from the log",
                dir.store_backend_file().display()
            ));
            true
        }
    };
    if switched {
        match fs::remove_dir_all(&store_dir) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(io("remove the store", &store_dir)(e)),
        }
    }
    let mut damaged = false;
    let mut store = match backend.open(&store_dir) {
        Ok(s) => s,
        Err(e) if not_damage(&e) => return Err(e.into()),
        Err(e) => {
            damaged = true;
            report.events.push(format!("store unreadable ({}); rebuilding it", chain(&e)));
            let _ = fs::remove_dir_all(&store_dir);
            backend.open(&store_dir)?
        }
    };
    if switched || !dir.store_backend_file().exists() {
        // Recorded once the store of this backend exists; before (a crash in between), the
        // directory still names the old one, and the switch is done again.
        write_atomically(&dir.store_backend_file(), format!("{}\n", backend.name()).as_bytes())?;
    }
    let applied = match store.applied_lsn() {
        Ok(a) => a,
        Err(e) => {
            damaged = true;
            report.events.push(format!("store damaged ({}); rebuilding it", chain(&e)));
            store.clear()?;
            None
        }
    };
    let new = !switched && !damaged && applied.is_none();
    Ok(OpenedStore { store, applied: if switched { None } else { applied }, switched, new })
}
