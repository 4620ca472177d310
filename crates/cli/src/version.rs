//! `idres --version`: this build's version and the versions of the on-disk formats it reads, each
//! from the crate that owns the format.

use std::sync::LazyLock;

/// What `idres --version` prints after `idres `: e.g. `0.1.0 (log format 1, codec 1, record
/// schema 1, snapshot format 3 (reads 2..=3), snapshot file format 1)`.
pub(crate) static VERSION: LazyLock<String> = LazyLock::new(|| {
    format!(
        "{} (log format {}, codec {}, record schema {}, snapshot format {} (reads {}..={}), snapshot file format {})",
        env!("CARGO_PKG_VERSION"),
        idres_log::format::FORMAT_VERSION,
        idres_model::CODEC_ID,
        idres_model::SCHEMA_VERSION,
        idres_resolve::SNAPSHOT_VERSION,
        idres_resolve::SNAPSHOT_VERSION_OLDEST_READ,
        idres_resolve::SNAPSHOT_VERSION,
        idres::snapshot_file::SNAPSHOT_FILE_VERSION,
    )
});
