//! The fold's state as bytes: the snapshot format (header, error, the codes of reasons, kinds and
//! edges), writing a snapshot, and the byte writer the digest shares. Reading one back is in
//! `restore.rs`, the digest in `digest.rs`.
//!
//! **Snapshot** = a 72-byte header (magic, version, LSN, config hash, body length, body CRC,
//! header CRC) + a body that lists the state in a fixed order (docs/FORMAT.md, "Snapshot").
//! Values inside go through `idres_model::codec`; everything else is little-endian integers and
//! length-prefixed bytes.

use idres_model::{encode_value_into, RecordKind, Uid, Value};
use petgraph::visit::{EdgeRef, IntoEdgeReferences};
use sha2::{Digest, Sha256};

use crate::contents::{Contents, WriteKey};
use crate::events::EventsView;
use crate::node::NodeKind;
use std::collections::VecDeque;

use crate::outcome::{
    EdgeKind, ForgottenRejections, ImplicitReset, Reason, Rejection, REASON_COUNT, REJECTIONS_KEPT_MAX,
};
use crate::resolver::Resolver;
use crate::Lsn;

/// The first eight bytes of a snapshot.
pub const SNAPSHOT_MAGIC: [u8; 8] = *b"IDRESSNP";
/// The newest snapshot layout this build writes and reads. Version 3 is version 2 with a last
/// section, the rejections the fold no longer keeps ([`crate::REJECTIONS_KEPT_MAX`]); version 4
/// is version 2 with tagged last sections (the forgotten rejections, the dedupe window). Each
/// state is written in the oldest version that holds it: one that forgot none and holds no
/// message id as version 2, byte for byte what builds before version 3 wrote; one that only forgot
/// rejections as version 3 (docs/FORMAT.md, "Snapshot"). Version 5 is version 4 whose tagged
/// sections are each optional, with a sessions section, and whose nodes' attribute key ids may
/// carry the system mark: every state with events or system attributes is written as version 5
/// (so a snapshot of an older version that holds events was written by a build that kept no
/// sessions: it is not used, and the log is replayed).
pub const SNAPSHOT_VERSION: u16 = 5;
/// The version whose tagged sections end with the dedupe window, always present.
pub(crate) const SNAPSHOT_VERSION_DEDUPE: u16 = 4;
/// A version-5 section tag: the session ids, then every node's sessions.
pub(crate) const SECTION_SESSIONS: u8 = 3;
/// The version whose one last section is the forgotten rejections, untagged.
pub(crate) const SNAPSHOT_VERSION_FORGOTTEN: u16 = 3;
/// A version-4 section tag: the rejections the fold no longer keeps (version 3's section).
pub(crate) const SECTION_FORGOTTEN: u8 = 1;
/// A version-4 section tag: the dedupe window (ids dropped early, then the live ids oldest first).
pub(crate) const SECTION_DEDUPE: u8 = 2;
/// The oldest snapshot layout this build reads.
pub const SNAPSHOT_VERSION_OLDEST_READ: u16 = 2;
/// Size of the snapshot header.
pub const SNAPSHOT_HEADER_BYTES: usize = 72;

/// Why a snapshot could not be restored.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SnapshotError {
    /// The header is short, has the wrong magic, version or checksum.
    #[error("snapshot header: {0}")]
    Header(String),
    /// The snapshot was folded under another config: it must not be used (a full replay
    /// applies the new config to history).
    #[error("snapshot was folded under another config (config hash {found}, this config {expected})")]
    ConfigMismatch {
        /// Hex of the hash in the snapshot.
        found: String,
        /// Hex of the hash of the config given.
        expected: String,
    },
    /// A snapshot of another layout version (an older or newer build's): not damage, but not
    /// usable by this build; the log is replayed instead (a snapshot is a cache).
    #[error(
        "snapshot layout version {found}; this build reads versions {SNAPSHOT_VERSION_OLDEST_READ} to {supported}"
    )]
    Version {
        /// The version in the header.
        found: u16,
        /// The newest version this build reads and writes.
        supported: u16,
    },
    /// A snapshot of an older layout (before version 5) of a state with events: written by a
    /// build that kept no sessions, so not this build's state; the log is replayed instead.
    #[error("snapshot layout version {found} holds events but not their sessions (written before version 5)")]
    WithoutSessions {
        /// The version in the header.
        found: u16,
    },
    /// A snapshot of a build that keeps another number of rejections
    /// ([`crate::REJECTIONS_KEPT_MAX`]): not damage, but its kept and forgotten rejections are
    /// not what this build's fold would hold; the log is replayed instead.
    #[error("snapshot keeps the newest {found} rejections; this build keeps {this_build}")]
    RejectionsKeptMax {
        /// The limit the snapshot was folded under.
        found: u32,
        /// This build's [`crate::REJECTIONS_KEPT_MAX`].
        this_build: u32,
    },
    /// The body does not match its checksum.
    #[error("snapshot body checksum mismatch (stored {stored:#010x}, computed {computed:#010x})")]
    Checksum {
        /// CRC in the header.
        stored: u32,
        /// CRC of the body.
        computed: u32,
    },
    /// The body is inconsistent.
    #[error("snapshot body invalid at byte offset {offset}: {what}")]
    Invalid {
        /// Byte offset in the whole snapshot.
        offset: usize,
        /// What is wrong.
        what: String,
    },
    /// A value in the state could not be encoded (it breaks a value limit: a bug, since the fold
    /// accepts only valid records).
    #[error("value cannot be encoded: {0}")]
    Encode(String),
}

// ---- writing ----------------------------------------------------------------------------------

// ---- writing ----------------------------------------------------------------------------------

pub(crate) trait Sink {
    fn put(&mut self, bytes: &[u8]);
}

impl Sink for Vec<u8> {
    fn put(&mut self, bytes: &[u8]) {
        self.extend_from_slice(bytes);
    }
}

impl Sink for Sha256 {
    fn put(&mut self, bytes: &[u8]) {
        self.update(bytes);
    }
}

pub(crate) struct Out<'a, S: Sink>(pub(crate) &'a mut S);

impl<S: Sink> Out<'_, S> {
    pub(crate) fn u8(&mut self, v: u8) {
        self.0.put(&[v]);
    }
    pub(crate) fn u32(&mut self, v: u32) {
        self.0.put(&v.to_le_bytes());
    }
    pub(crate) fn u64(&mut self, v: u64) {
        self.0.put(&v.to_le_bytes());
    }
    pub(crate) fn i64(&mut self, v: i64) {
        self.0.put(&v.to_le_bytes());
    }
    pub(crate) fn count(&mut self, n: usize) {
        // The snapshot checks its counts fit first; the digest's (nodes, and what a node holds)
        // fit as node ids do. Saturating keeps a digest total anyway.
        debug_assert!(u32::try_from(n).is_ok(), "count {n} does not fit a u32");
        self.u32(u32::try_from(n).unwrap_or(u32::MAX));
    }
    pub(crate) fn bytes(&mut self, b: &[u8]) {
        self.count(b.len());
        self.0.put(b);
    }
    pub(crate) fn opt_i64(&mut self, v: Option<i64>) {
        match v {
            None => self.u8(0),
            Some(x) => {
                self.u8(1);
                self.i64(x);
            }
        }
    }
    pub(crate) fn wk(&mut self, k: WriteKey) {
        self.i64(k.ts);
        self.u64(k.lsn);
        self.u8(k.slot);
    }
    pub(crate) fn uid(&mut self, uid: &Uid) {
        match uid {
            Uid::Uuid(b) => {
                self.u8(0);
                self.0.put(b);
            }
            Uid::Text(b) => {
                self.u8(1);
                self.bytes(b);
            }
        }
    }
}

/// The codes of rejection reasons in snapshots and the digest: a reason's code is its index here
/// (the one table both directions use; pinned by the format, see the test below).
pub(crate) const REASON_CODES: [Reason; REASON_COUNT] = [
    Reason::InvalidId,
    Reason::BlockedValue,
    Reason::SelfLink,
    Reason::CidConflict,
    Reason::UnknownCid,
    Reason::Limit,
    Reason::InvalidRecord,
    Reason::Duplicate,
];

/// The codes of edge kinds in snapshots and the digest: a kind's code is its index here.
pub(crate) const EDGE_CODES: [EdgeKind; 2] = [EdgeKind::Link, EdgeKind::Merge];

/// The code of `x`: its index in `table` (every value is in its table).
fn code_in<T: Copy + PartialEq + std::fmt::Debug>(table: &[T], x: T) -> u8 {
    let code = table.iter().position(|t| *t == x);
    debug_assert!(code.is_some(), "{x:?} has no code in its table");
    code.unwrap_or(0) as u8
}

pub(crate) fn reason_code(r: Reason) -> u8 {
    code_in(&REASON_CODES, r)
}

/// A record kind's code: its index in `RecordKind::ALL`.
pub(crate) fn kind_code(k: RecordKind) -> u8 {
    code_in(&RecordKind::ALL, k)
}

pub(crate) fn edge_code(k: EdgeKind) -> u8 {
    code_in(&EDGE_CODES, k)
}

impl Resolver {
    /// The whole state as bytes (header + body), restorable with [`Resolver::restore`].
    pub fn snapshot(&self) -> Result<Vec<u8>, SnapshotError> {
        let too_many = |n: usize| u32::try_from(n).is_err();
        if too_many(self.nodes.len())
            || too_many(self.graph.edge_count())
            || too_many(self.rejections.len())
            || too_many(self.implicit_resets.len())
            || self.nodes.iter().any(|n| too_many(self.events.view(n.contents.events).packed().len()))
            || too_many(self.session_texts.len())
        {
            return Err(SnapshotError::Encode("a count does not fit the snapshot format's u32".into()));
        }
        let mut body: Vec<u8> = Vec::new();
        let mut value_buf = Vec::new();
        {
            let mut o = Out(&mut body);
            o.u64(self.next_lsn);
            for interner in [&self.keys, &self.names] {
                o.count(interner.list.len());
                for s in &interner.list {
                    o.bytes(s.as_bytes());
                }
            }
            o.count(self.uids.len());
            for u in 0..self.uids.len() as u32 {
                o.uid(&self.uids.uid(u));
                o.u32(self.uids.epoch(u));
                o.count(self.uids.node_count(u));
                for (e, n) in self.uids.nodes(u) {
                    o.u32(e);
                    o.u32(n);
                }
            }
            o.count(self.cids.len());
            for c in &self.cids {
                o.bytes(c.cid.as_bytes());
                o.u32(c.node);
            }
        }
        body.extend_from_slice(&(self.nodes.len() as u32).to_le_bytes());
        for node in &self.nodes {
            let mut o = Out(&mut body);
            match node.kind() {
                NodeKind::Device { uid, epoch } => {
                    o.u8(0);
                    o.u32(uid);
                    o.u32(epoch);
                }
                NodeKind::Customer { cid } => {
                    o.u8(1);
                    o.u32(cid);
                }
            }
            write_contents(&mut body, &node.contents, self.events.view(node.contents.events), &mut value_buf)?;
        }
        let mut o = Out(&mut body);
        // By LSN (each edge comes from its own record): edge slots are reused after removals and
        // a restored graph is compacted, so slot order would differ from run to run.
        let mut edges: Vec<_> = (&self.graph).edge_references().collect();
        edges.sort_by_key(|e| e.weight().lsn);
        o.count(edges.len());
        for e in edges {
            let w = e.weight();
            o.u32(e.source().index() as u32);
            o.u32(e.target().index() as u32);
            o.u8(edge_code(w.kind));
            o.u64(w.lsn);
            o.i64(w.ts);
        }
        write_rejections(&mut o, &self.rejections, true);
        write_implicit_resets(&mut o, &self.implicit_resets);
        // The oldest version that holds the state: the bytes of every state an older build could
        // hold stay what they were.
        let newer = self.holds_events_or_system_data();
        let version = match (self.rejections_forgotten.is_empty(), self.dedupe.is_empty(), newer) {
            (true, true, false) => SNAPSHOT_VERSION_OLDEST_READ,
            (false, true, false) => {
                write_forgotten(&mut o, &self.rejections_forgotten);
                SNAPSHOT_VERSION_FORGOTTEN
            }
            (forgot_none, no_dedupe, newer) => {
                let sessions = newer && !self.sessions.is_empty();
                let sections = u8::from(!forgot_none) + u8::from(!no_dedupe) + u8::from(sessions);
                o.u8(sections);
                if !forgot_none {
                    o.u8(SECTION_FORGOTTEN);
                    write_forgotten(&mut o, &self.rejections_forgotten);
                }
                if !no_dedupe {
                    o.u8(SECTION_DEDUPE);
                    o.u64(self.dedupe.evicted);
                    o.count(self.dedupe.len());
                    for l in self.dedupe.live_ids() {
                        o.bytes(l.id);
                        o.u64(l.lsn);
                        o.i64(l.appended_at);
                    }
                }
                if sessions {
                    o.u8(SECTION_SESSIONS);
                    self.write_sessions(&mut o);
                }
                if newer {
                    SNAPSHOT_VERSION
                } else {
                    SNAPSHOT_VERSION_DEDUPE
                }
            }
        };
        let mut out = Vec::with_capacity(SNAPSHOT_HEADER_BYTES + body.len());
        out.extend_from_slice(&SNAPSHOT_MAGIC);
        out.extend_from_slice(&version.to_le_bytes());
        out.extend_from_slice(&[0u8; 6]);
        out.extend_from_slice(&self.next_lsn.to_le_bytes());
        out.extend_from_slice(&self.config.hash());
        out.extend_from_slice(&(body.len() as u64).to_le_bytes());
        out.extend_from_slice(&crc32c::crc32c(&body).to_le_bytes());
        let header_crc = crc32c::crc32c(&out);
        out.extend_from_slice(&header_crc.to_le_bytes());
        out.extend_from_slice(&body);
        Ok(out)
    }

    /// True if some node holds events or a system attribute: such a state is written as
    /// version 5, whose readers know it keeps sessions.
    pub(crate) fn holds_events_or_system_data(&self) -> bool {
        self.nodes.iter().any(|n| {
            n.sessions != 0
                || self.events.view(n.contents.events).count() > 0
                || n.contents.attrs.iter().any(|(k, _)| *k & crate::contents::SYSTEM_KEY != 0)
        })
    }

    /// The sessions section: the session ids, then each node with sessions (ascending) with
    /// its sessions as the node keeps them (docs/FORMAT.md, "Snapshot").
    fn write_sessions(&self, o: &mut Out<'_, Vec<u8>>) {
        o.count(self.session_texts.len());
        for i in 0..self.session_texts.len() as u32 {
            o.bytes(self.session_texts.get(i).as_bytes());
        }
        let with: Vec<(usize, &crate::sessions::NodeSessions)> = self
            .nodes
            .iter()
            .enumerate()
            .filter(|(_, n)| n.sessions != 0)
            .map(|(i, n)| (i, &self.sessions[n.sessions as usize - 1]))
            .collect();
        o.count(with.len());
        for (n, s) in with {
            o.u32(n as u32);
            o.count(s.list.len());
            for x in &s.list {
                o.u32(x.id);
                o.i64(x.start);
                o.i64(x.end);
                o.u32(x.count);
            }
        }
    }

    /// The LSN a snapshot continues at (the number of records folded into it), read from its
    /// header without restoring it.
    pub fn snapshot_lsn(bytes: &[u8]) -> Result<Lsn, SnapshotError> {
        check_header(bytes).map(|(lsn, ..)| lsn)
    }
}

/// `with_detail`: the snapshot keeps the words of each rejection; the digest leaves them out,
/// because they quote ids with `{:?}`, whose escapes follow the compiler's Unicode tables and
/// could change with a toolchain.
pub(crate) fn write_rejections<S: Sink>(o: &mut Out<'_, S>, rejections: &VecDeque<Rejection>, with_detail: bool) {
    o.count(rejections.len());
    for r in rejections {
        o.u64(r.lsn);
        o.u8(kind_code(r.kind));
        o.u8(reason_code(r.reason));
        if with_detail {
            o.bytes(r.detail.as_bytes());
        }
        match &r.uid {
            None => o.u8(0),
            Some(u) => {
                o.u8(1);
                o.bytes(u.as_bytes());
            }
        }
        o.count(r.cids.len());
        for c in &r.cids {
            o.bytes(c.as_bytes());
        }
    }
}

/// Section 9 of a version-3 snapshot (only written when some rejection was forgotten): the
/// limit, the newest forgotten LSN, and `count` × (reason code, count) for each reason with a
/// count, in code order.
fn write_forgotten(o: &mut Out<'_, Vec<u8>>, f: &ForgottenRejections) {
    o.u32(REJECTIONS_KEPT_MAX as u32);
    o.u64(f.newest_lsn.unwrap_or(0));
    let by_reason = f.by_reason();
    o.count(by_reason.len());
    for (r, c) in by_reason {
        o.u8(reason_code(r));
        o.u64(c);
    }
}

pub(crate) fn write_implicit_resets<S: Sink>(o: &mut Out<'_, S>, resets: &[ImplicitReset]) {
    o.count(resets.len());
    for r in resets {
        o.u64(r.lsn);
        o.uid(&r.uid);
        o.u32(r.from_epoch);
        o.u32(r.to_epoch);
        o.bytes(r.previous_cid.as_bytes());
        o.bytes(r.cid.as_bytes());
    }
}

fn write_contents(
    body: &mut Vec<u8>,
    c: &Contents,
    e: EventsView<'_>,
    value_buf: &mut Vec<u8>,
) -> Result<(), SnapshotError> {
    let mut value = |body: &mut Vec<u8>, v: &Value| -> Result<(), SnapshotError> {
        value_buf.clear();
        encode_value_into(v, value_buf).map_err(|e| SnapshotError::Encode(e.to_string()))?;
        body.extend_from_slice(value_buf);
        Ok(())
    };
    Out(body).count(c.attrs.len());
    for (k, cell) in c.attrs.iter() {
        Out(body).u32(*k);
        match &cell.latest {
            None => Out(body).u8(0),
            Some((wk, None)) => {
                Out(body).u8(2);
                Out(body).wk(*wk);
            }
            Some((wk, Some(v))) => {
                Out(body).u8(1);
                Out(body).wk(*wk);
                value(body, v)?;
            }
        }
        Out(body).count(cell.set_once.len());
        for (wk, v) in &cell.set_once {
            Out(body).wk(*wk);
            value(body, v)?;
        }
    }
    let mut o = Out(body);
    o.u64(e.count());
    o.opt_i64(e.first_seen());
    o.opt_i64(e.last_seen());
    o.bytes(e.packed());
    Ok(())
}

// ---- reading the header ------------------------------------------------------------------------

/// The header's LSN, config hash, body length and version.
pub(crate) fn check_header(bytes: &[u8]) -> Result<(Lsn, [u8; 32], u64, u16), SnapshotError> {
    if bytes.len() < SNAPSHOT_HEADER_BYTES {
        return Err(SnapshotError::Header(format!("{} bytes, shorter than a header", bytes.len())));
    }
    if bytes[0..8] != SNAPSHOT_MAGIC {
        return Err(SnapshotError::Header("not an idres snapshot (bad magic)".into()));
    }
    let le32 = |at: usize| {
        let mut b = [0u8; 4];
        b.copy_from_slice(&bytes[at..at + 4]);
        u32::from_le_bytes(b)
    };
    let le64 = |at: usize| {
        let mut b = [0u8; 8];
        b.copy_from_slice(&bytes[at..at + 8]);
        u64::from_le_bytes(b)
    };
    let stored = le32(68);
    let computed = crc32c::crc32c(&bytes[..68]);
    if stored != computed {
        return Err(SnapshotError::Header(format!(
            "header checksum mismatch (stored {stored:#010x}, computed {computed:#010x})"
        )));
    }
    let version = u16::from_le_bytes([bytes[8], bytes[9]]);
    if !(SNAPSHOT_VERSION_OLDEST_READ..=SNAPSHOT_VERSION).contains(&version) {
        return Err(SnapshotError::Version { found: version, supported: SNAPSHOT_VERSION });
    }
    let mut hash = [0u8; 32];
    hash.copy_from_slice(&bytes[24..56]);
    Ok((le64(16), hash, le64(56), version))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reason_and_edge_codes_are_the_pinned_ones() {
        // Adding a variant breaks this match: give it the next code in its table.
        let every = |r: Reason| match r {
            Reason::InvalidId
            | Reason::BlockedValue
            | Reason::SelfLink
            | Reason::CidConflict
            | Reason::UnknownCid
            | Reason::Limit
            | Reason::InvalidRecord
            | Reason::Duplicate => r,
        };
        let names: Vec<&str> = REASON_CODES.iter().map(|r| every(*r).as_str()).collect();
        assert_eq!(
            names,
            [
                "invalid_id",
                "blocked_value",
                "self_link",
                "cid_conflict",
                "unknown_cid",
                "limit",
                "invalid_record",
                "duplicate"
            ]
        );
        for (code, r) in REASON_CODES.iter().enumerate() {
            assert_eq!(reason_code(*r) as usize, code);
        }
        assert_eq!((edge_code(EdgeKind::Link), edge_code(EdgeKind::Merge)), (0, 1));
        for (code, k) in RecordKind::ALL.iter().enumerate() {
            assert_eq!(kind_code(*k) as usize, code);
        }
    }
}
