//! The snapshot file: the fold's snapshot bytes behind a header naming the log they were folded
//! from.
//!
//! Owns: the file header's bytes and the check that a snapshot belongs to this data directory's
//! log. Does not own: the snapshot itself (`idres_resolve::snapshot`, whose bytes are pinned) or
//! where snapshot files live (the engine's data directory).
//!
//! A snapshot copied in from another log at the same LSN would restore, and every read would then
//! serve the other log's profiles. The segments name their log (segment header bytes 32..48); a
//! snapshot file names it too, and a snapshot of another log is refused as damage.
//!
//! Header (32 bytes):
//!
//! | bytes | field | value |
//! | --- | --- | --- |
//! | 0..8 | magic | `IDRESSNF` |
//! | 8..10 | file version | `u16` = 1 |
//! | 10..12 | reserved | zero |
//! | 12..28 | log id | the log's id, as in its segment headers |
//! | 28..32 | CRC-32C | of bytes 0..28 |
//!
//! then the fold's snapshot (magic `IDRESSNP`, its own header and CRCs). A file that starts with
//! `IDRESSNP` was written before snapshot files named their log: it is read as it is (its log
//! cannot be checked), and the next snapshot written replaces it in time.

/// The magic of a snapshot file's header.
pub const SNAPSHOT_FILE_MAGIC: [u8; 8] = *b"IDRESSNF";
/// The magic the fold's snapshot bytes start with (a file of the first format has no header).
const FOLD_SNAPSHOT_MAGIC: [u8; 8] = *b"IDRESSNP";
/// The snapshot file format this build writes and reads.
pub const SNAPSHOT_FILE_VERSION: u16 = 1;
/// Bytes of the header.
pub const SNAPSHOT_FILE_HEADER_BYTES: usize = 32;

/// The header of a snapshot file naming `log_id`; the fold's snapshot bytes follow it.
pub fn header(log_id: [u8; 16]) -> [u8; SNAPSHOT_FILE_HEADER_BYTES] {
    let mut h = [0u8; SNAPSHOT_FILE_HEADER_BYTES];
    h[0..8].copy_from_slice(&SNAPSHOT_FILE_MAGIC);
    h[8..10].copy_from_slice(&SNAPSHOT_FILE_VERSION.to_le_bytes());
    h[12..28].copy_from_slice(&log_id);
    let crc = crc32c::crc32c(&h[0..28]);
    h[28..32].copy_from_slice(&crc.to_le_bytes());
    h
}

/// What a snapshot file holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SnapshotFile<'a> {
    /// A file with a header: the log it was folded from and the fold's snapshot bytes.
    Named {
        /// The log's id.
        log_id: [u8; 16],
        /// The fold's snapshot bytes.
        snapshot: &'a [u8],
    },
    /// A file of the first format (no header): the fold's snapshot bytes; its log is unknown.
    Unnamed {
        /// The fold's snapshot bytes.
        snapshot: &'a [u8],
    },
}

impl<'a> SnapshotFile<'a> {
    /// Parses a snapshot file's bytes. An error says what is wrong with the header; the fold's
    /// snapshot bytes are checked by `Resolver::restore`.
    pub fn parse(bytes: &'a [u8]) -> Result<SnapshotFile<'a>, String> {
        match bytes.get(0..8) {
            Some(m) if m == SNAPSHOT_FILE_MAGIC => {}
            Some(m) if m == FOLD_SNAPSHOT_MAGIC => return Ok(SnapshotFile::Unnamed { snapshot: bytes }),
            _ => return Err("not a snapshot file (no known magic at byte 0)".into()),
        }
        let Some(h) = bytes.get(..SNAPSHOT_FILE_HEADER_BYTES) else {
            return Err(format!("a header of {} bytes, cut short", bytes.len()));
        };
        let crc = u32::from_le_bytes([h[28], h[29], h[30], h[31]]);
        if crc != crc32c::crc32c(&h[0..28]) {
            return Err("header CRC mismatch (bytes 0..28)".into());
        }
        let version = u16::from_le_bytes([h[8], h[9]]);
        if version != SNAPSHOT_FILE_VERSION {
            return Err(format!("snapshot file version {version}; this build reads {SNAPSHOT_FILE_VERSION}"));
        }
        if h[10..12] != [0, 0] {
            return Err("reserved header bytes 10..12 are not zero".into());
        }
        let mut log_id = [0u8; 16];
        log_id.copy_from_slice(&h[12..28]);
        Ok(SnapshotFile::Named { log_id, snapshot: &bytes[SNAPSHOT_FILE_HEADER_BYTES..] })
    }

    /// The fold's snapshot bytes.
    pub fn snapshot(&self) -> &'a [u8] {
        match *self {
            SnapshotFile::Named { snapshot, .. } | SnapshotFile::Unnamed { snapshot } => snapshot,
        }
    }

    /// The log it names, if it names one.
    pub fn log_id(&self) -> Option<[u8; 16]> {
        match *self {
            SnapshotFile::Named { log_id, .. } => Some(log_id),
            SnapshotFile::Unnamed { .. } => None,
        }
    }
}

/// The log a snapshot file names, read from its header alone: `None` for a file of the first
/// format or one whose header is damaged (the whole file is checked when it is restored).
pub fn read_log_id(path: &std::path::Path) -> std::io::Result<Option<[u8; 16]>> {
    use std::io::Read;
    let mut head = Vec::with_capacity(SNAPSHOT_FILE_HEADER_BYTES);
    std::fs::File::open(path)?.take(SNAPSHOT_FILE_HEADER_BYTES as u64).read_to_end(&mut head)?;
    Ok(SnapshotFile::parse(&head).ok().and_then(|f| f.log_id()))
}

/// A log id as text (hex), for messages.
pub fn log_id_hex(id: &[u8; 16]) -> String {
    id.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn file(log_id: [u8; 16], body: &[u8]) -> Vec<u8> {
        let mut v = header(log_id).to_vec();
        v.extend_from_slice(body);
        v
    }

    #[test]
    fn a_named_file_gives_back_its_log_and_snapshot() {
        let bytes = file([7; 16], b"IDRESSNP and the rest");
        let f = SnapshotFile::parse(&bytes).unwrap();
        assert_eq!(f.log_id(), Some([7; 16]));
        assert_eq!(f.snapshot(), b"IDRESSNP and the rest");
    }

    #[test]
    fn a_first_format_file_is_the_snapshot_itself() {
        let f = SnapshotFile::parse(b"IDRESSNP old").unwrap();
        assert_eq!(f, SnapshotFile::Unnamed { snapshot: b"IDRESSNP old" });
        assert_eq!(f.log_id(), None);
    }

    #[test]
    fn every_header_byte_is_checked() {
        let good = file([3; 16], b"IDRESSNP");
        for i in 0..SNAPSHOT_FILE_HEADER_BYTES {
            let mut bad = good.clone();
            bad[i] ^= 0x40;
            assert!(SnapshotFile::parse(&bad).is_err(), "a flipped header byte {i} is refused");
        }
        assert!(SnapshotFile::parse(&good[..20]).is_err(), "a header cut short");
        assert!(SnapshotFile::parse(b"").is_err());
        assert!(SnapshotFile::parse(b"garbage!garbage!").is_err());
    }
}
