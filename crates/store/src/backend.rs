//! Choosing a store: [`StoreBackend`], its name as configs and the data directory spell it, and
//! opening it.

use std::path::Path;

use crate::{FjallOptions, FjallStore, MemoryStore, ProfileStore, SledOptions, SledStore, StoreError};

/// Which store holds the read model, with its options.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StoreBackend {
    /// fjall (the default).
    Fjall(FjallOptions),
    /// sled (supported; slower, more memory: docs/PERFORMANCE.md).
    Sled(SledOptions),
    /// Nothing persisted: tests, and services that need no read model.
    Memory,
}

impl Default for StoreBackend {
    fn default() -> StoreBackend {
        StoreBackend::Fjall(FjallOptions::default())
    }
}

impl StoreBackend {
    /// The names [`StoreBackend::by_name`] knows.
    pub const NAMES: [&'static str; 3] = ["fjall", "sled", "memory"];

    /// `fjall`, `sled` or `memory`: as configs and the data directory's record spell it.
    pub fn name(&self) -> &'static str {
        match self {
            StoreBackend::Fjall(_) => "fjall",
            StoreBackend::Sled(_) => "sled",
            StoreBackend::Memory => "memory",
        }
    }

    /// The backend of this name, with default options.
    pub fn by_name(name: &str) -> Option<StoreBackend> {
        match name {
            "fjall" => Some(StoreBackend::Fjall(FjallOptions::default())),
            "sled" => Some(StoreBackend::Sled(SledOptions::default())),
            "memory" => Some(StoreBackend::Memory),
            _ => None,
        }
    }

    /// True if the store lives in files (fjall, sled).
    pub fn is_on_disk(&self) -> bool {
        !matches!(self, StoreBackend::Memory)
    }

    /// Opens (or creates) the store in directory `dir` (not used by [`StoreBackend::Memory`]).
    pub fn open(&self, dir: &Path) -> Result<Box<dyn ProfileStore>, StoreError> {
        Ok(match self {
            StoreBackend::Fjall(o) => Box::new(FjallStore::open(dir, o)?),
            StoreBackend::Sled(o) => Box::new(SledStore::open(dir, o)?),
            StoreBackend::Memory => Box::new(MemoryStore::new()),
        })
    }
}
