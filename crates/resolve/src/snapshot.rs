//! The fold's state as bytes: snapshots that restore bit for bit, and the state digest.
//!
//! **Snapshot** = a 72-byte header (magic, version, LSN, config hash, body length, body CRC,
//! header CRC) + a body that lists the state in a fixed order (docs/FORMAT.md, "Snapshot").
//! Values inside go through `idres_model::codec`; everything else is little-endian integers and
//! length-prefixed bytes. Restoring checks both CRCs, the config hash, every length against the
//! bytes that remain (before allocating) and every reference between tables; components are then
//! rebuilt from the graph, so a snapshot cannot smuggle in an inconsistent union-find.
//!
//! **Digest** = SHA-256 over a canonical encoding of, in this order: a version tag, the config's
//! canonical bytes, the next LSN, every profile (sorted by id, with its history), every node
//! (sorted by its uid/epoch or cid, with its attribute writes and events), every edge (sorted by
//! its ends, kind and LSN, with its time), every uid's epoch, every rejection (in LSN order: LSN,
//! kind, reason and the ids it named, not its wording) and every implicit reset (in LSN order:
//! LSN, uid, epochs, previous and new cid). It depends on the log and the config only: not on node
//! numbering, hash seeds or the order of unions.

use std::collections::BTreeMap;

use crate::hash::FastMap;
use crate::uid_index::UidIndex;

use idres_model::{decode_value_prefix, encode_value_into, Cid, RecordKind, Uid, Value};
use petgraph::stable_graph::{NodeIndex, StableDiGraph};
use petgraph::visit::{EdgeRef, IntoEdgeReferences};
use sha2::{Digest, Sha256};

use crate::components::Components;
use crate::config::Config;
use crate::contents::{AttrCell, Contents, WriteKey};
use crate::events::{EventArena, EventsView};
use crate::interner::Interner;
use crate::node::{CidEntry, EdgeInfo, Graph, Node, NodeId, NodeKind};
use crate::outcome::EdgeKind;
use crate::outcome::{ImplicitReset, Reason, Rejection};
use crate::resolver::Resolver;
use crate::uids::UidTable;
use crate::Lsn;

/// The first eight bytes of a snapshot.
pub const SNAPSHOT_MAGIC: [u8; 8] = *b"IDRESSNP";
/// The version of the snapshot layout this build writes and reads.
pub const SNAPSHOT_VERSION: u16 = 2;
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
    /// A snapshot of another layout version (an older build's): not damage, but not usable by
    /// this build; the log is replayed instead (a snapshot is a cache).
    #[error("snapshot layout version {found}; this build reads version {supported}")]
    Version {
        /// The version in the header.
        found: u16,
        /// The version this build reads and writes.
        supported: u16,
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

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

// ---- writing ----------------------------------------------------------------------------------

trait Sink {
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

struct Out<'a, S: Sink>(&'a mut S);

impl<S: Sink> Out<'_, S> {
    fn u8(&mut self, v: u8) {
        self.0.put(&[v]);
    }
    fn u32(&mut self, v: u32) {
        self.0.put(&v.to_le_bytes());
    }
    fn u64(&mut self, v: u64) {
        self.0.put(&v.to_le_bytes());
    }
    fn i64(&mut self, v: i64) {
        self.0.put(&v.to_le_bytes());
    }
    fn count(&mut self, n: usize) {
        // Callers check with `fits_counts` first; saturating keeps a digest total anyway.
        self.u32(u32::try_from(n).unwrap_or(u32::MAX));
    }
    fn bytes(&mut self, b: &[u8]) {
        self.count(b.len());
        self.0.put(b);
    }
    fn opt_i64(&mut self, v: Option<i64>) {
        match v {
            None => self.u8(0),
            Some(x) => {
                self.u8(1);
                self.i64(x);
            }
        }
    }
    fn wk(&mut self, k: WriteKey) {
        self.i64(k.ts);
        self.u64(k.lsn);
        self.u8(k.slot);
    }
    fn uid(&mut self, uid: &Uid) {
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

/// A canonical, infallible encoding of a value for the digest (tags as in the record codec).
fn digest_value(out: &mut Out<'_, Sha256>, v: &Value) {
    match v {
        Value::Null => out.u8(0),
        Value::Bool(b) => {
            out.u8(1);
            out.u8(u8::from(*b));
        }
        Value::Int(i) => {
            out.u8(2);
            out.i64(*i);
        }
        Value::Float(f) => {
            out.u8(3);
            out.u64(f.to_bits());
        }
        Value::String(s) => {
            out.u8(4);
            out.bytes(s.as_bytes());
        }
        Value::List(items) => {
            out.u8(5);
            out.count(items.len());
            for i in items {
                digest_value(out, i);
            }
        }
        Value::Map(m) => {
            out.u8(6);
            out.count(m.len());
            for (k, v) in m {
                out.bytes(k.as_bytes());
                digest_value(out, v);
            }
        }
    }
}

fn reason_code(r: Reason) -> u8 {
    match r {
        Reason::InvalidId => 0,
        Reason::BlockedValue => 1,
        Reason::SelfLink => 2,
        Reason::CidConflict => 3,
        Reason::UnknownCid => 4,
        Reason::Limit => 5,
        Reason::InvalidRecord => 6,
    }
}

const REASONS: [Reason; 7] = [
    Reason::InvalidId,
    Reason::BlockedValue,
    Reason::SelfLink,
    Reason::CidConflict,
    Reason::UnknownCid,
    Reason::Limit,
    Reason::InvalidRecord,
];

fn kind_code(k: RecordKind) -> u8 {
    RecordKind::ALL.iter().position(|x| *x == k).unwrap_or(0) as u8
}

fn edge_code(k: EdgeKind) -> u8 {
    match k {
        EdgeKind::Link => 0,
        EdgeKind::Merge => 1,
    }
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
        let mut out = Vec::with_capacity(SNAPSHOT_HEADER_BYTES + body.len());
        out.extend_from_slice(&SNAPSHOT_MAGIC);
        out.extend_from_slice(&SNAPSHOT_VERSION.to_le_bytes());
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

    /// The LSN a snapshot continues at (the number of records folded into it), read from its
    /// header without restoring it.
    pub fn snapshot_lsn(bytes: &[u8]) -> Result<Lsn, SnapshotError> {
        check_header(bytes).map(|(lsn, _, _)| lsn)
    }

    /// Restores a snapshot taken under `config`. The next record to apply is
    /// [`Resolver::next_lsn`].
    pub fn restore(bytes: &[u8], config: Config) -> Result<Resolver, SnapshotError> {
        let (lsn, hash, body_len) = check_header(bytes)?;
        let expected = config.hash();
        if hash != expected {
            return Err(SnapshotError::ConfigMismatch { found: hex(&hash), expected: hex(&expected) });
        }
        let body = &bytes[SNAPSHOT_HEADER_BYTES..];
        if body.len() as u64 != body_len {
            return Err(SnapshotError::Header(format!("body is {} bytes, header says {body_len}", body.len())));
        }
        let mut stored = [0u8; 4];
        stored.copy_from_slice(&bytes[64..68]);
        let stored = u32::from_le_bytes(stored);
        let computed = crc32c::crc32c(body);
        if stored != computed {
            return Err(SnapshotError::Checksum { stored, computed });
        }
        let mut r = Resolver::new(config);
        let mut i = In { b: bytes, pos: SNAPSHOT_HEADER_BYTES };
        read_body(&mut r, &mut i)?;
        if r.next_lsn != lsn {
            return Err(i.invalid("body LSN differs from the header's"));
        }
        if i.pos != bytes.len() {
            return Err(i.invalid("bytes after the body"));
        }
        Ok(r)
    }

    fn label_bytes(&self, n: NodeId, out: &mut Vec<u8>) {
        out.clear();
        match self.nodes[n as usize].kind() {
            NodeKind::Device { uid, epoch } => {
                out.push(0);
                out.extend_from_slice(self.uids.uid(uid).to_string().as_bytes());
                out.push(b'#');
                out.extend_from_slice(&epoch.to_be_bytes());
            }
            NodeKind::Customer { cid } => {
                out.push(1);
                out.extend_from_slice(self.cids[cid as usize].cid.as_bytes());
            }
        }
    }

    /// SHA-256 over the canonical encoding of the whole state (see the module doc): equal for
    /// equal logs and configs, on every machine and run.
    pub fn digest(&self) -> [u8; 32] {
        let mut h = Sha256::new();
        let mut o = Out(&mut h);
        o.bytes(b"idres.state-digest.1");
        o.bytes(&self.config.canonical_bytes());
        o.u64(self.next_lsn);
        let profiles = self.profiles();
        o.count(profiles.len());
        for p in &profiles {
            o.0.put(p.id.as_bytes());
            o.u8(u8::from(p.primary_cid.is_some()));
            o.count(p.cids.len());
            for c in &p.cids {
                o.bytes(c.as_bytes());
            }
            o.count(p.uids.len());
            for d in &p.uids {
                o.bytes(d.uid.to_string().as_bytes());
                o.u32(d.epoch);
            }
            o.count(p.attributes.len());
            for (k, v) in &p.attributes {
                o.bytes(k.as_bytes());
                digest_value(&mut o, v);
            }
            o.u64(p.event_count);
            o.count(p.events_by_name.len());
            for (n, c) in &p.events_by_name {
                o.bytes(n.as_bytes());
                o.u64(*c);
            }
            o.opt_i64(p.first_seen.map(|t| t.as_micros()));
            o.opt_i64(p.last_seen.map(|t| t.as_micros()));
            o.count(p.history.len());
            for l in &p.history {
                o.u64(*l);
            }
        }
        // Nodes by label.
        let mut labels: Vec<(Vec<u8>, NodeId)> = (0..self.nodes.len() as NodeId)
            .map(|n| {
                let mut l = Vec::new();
                self.label_bytes(n, &mut l);
                (l, n)
            })
            .collect();
        labels.sort();
        let label_of: FastMap<NodeId, usize> = labels.iter().enumerate().map(|(i, (_, n))| (*n, i)).collect();
        o.count(labels.len());
        for (label, n) in &labels {
            let node = &self.nodes[*n as usize];
            o.bytes(label);
            let c = &node.contents;
            let mut attrs: Vec<(&str, &AttrCell)> = c.attrs.iter().map(|(k, cell)| (self.keys.get(*k), cell)).collect();
            attrs.sort_by(|a, b| a.0.cmp(b.0));
            o.count(attrs.len());
            for (k, cell) in attrs {
                o.bytes(k.as_bytes());
                match &cell.latest {
                    None => o.u8(0),
                    Some((wk, None)) => {
                        o.u8(2);
                        o.wk(*wk);
                    }
                    Some((wk, Some(v))) => {
                        o.u8(1);
                        o.wk(*wk);
                        digest_value(&mut o, v);
                    }
                }
                o.count(cell.set_once.len());
                for (wk, v) in &cell.set_once {
                    o.wk(*wk);
                    digest_value(&mut o, v);
                }
            }
            let e = self.events.view(c.events);
            o.u64(e.count());
            let mut counts: BTreeMap<&str, u64> = BTreeMap::new();
            for (_, n) in e.iter() {
                *counts.entry(self.names.get(n)).or_insert(0) += 1;
            }
            o.count(counts.len());
            for (name, count) in counts {
                o.bytes(name.as_bytes());
                o.u64(count);
            }
            o.opt_i64(e.first_seen());
            o.opt_i64(e.last_seen());
            o.count(e.count() as usize);
            for (l, _) in e.iter() {
                o.u64(l);
            }
        }
        // Edges by (source label, target label, kind, LSN).
        let mut edges: Vec<(usize, usize, u8, Lsn, i64)> = (&self.graph)
            .edge_references()
            .map(|e| {
                let w = e.weight();
                let s = label_of.get(&(e.source().index() as NodeId)).copied().unwrap_or(usize::MAX);
                let t = label_of.get(&(e.target().index() as NodeId)).copied().unwrap_or(usize::MAX);
                (s, t, edge_code(w.kind), w.lsn, w.ts)
            })
            .collect();
        edges.sort();
        o.count(edges.len());
        for (s, t, k, lsn, ts) in edges {
            o.u32(s as u32);
            o.u32(t as u32);
            o.u8(k);
            o.u64(lsn);
            o.i64(ts);
        }
        // Epochs by uid.
        let mut epochs: Vec<(String, u32)> =
            (0..self.uids.len() as u32).map(|u| (self.uids.uid(u).to_string(), self.uids.epoch(u))).collect();
        epochs.sort();
        o.count(epochs.len());
        for (u, e) in epochs {
            o.bytes(u.as_bytes());
            o.u32(e);
        }
        write_rejections(&mut o, &self.rejections, false);
        write_implicit_resets(&mut o, &self.implicit_resets);
        h.finalize().into()
    }
}

/// `with_detail`: the snapshot keeps the words of each rejection; the digest leaves them out,
/// because they quote ids with `{:?}`, whose escapes follow the compiler's Unicode tables and
/// could change with a toolchain.
fn write_rejections<S: Sink>(o: &mut Out<'_, S>, rejections: &[Rejection], with_detail: bool) {
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

fn write_implicit_resets<S: Sink>(o: &mut Out<'_, S>, resets: &[ImplicitReset]) {
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

fn read_uid(i: &mut In<'_>) -> Result<Uid, SnapshotError> {
    match i.u8()? {
        0 => {
            let mut b = [0u8; 16];
            b.copy_from_slice(i.take(16)?);
            Ok(Uid::Uuid(b))
        }
        1 => Ok(Uid::Text(i.bytes()?.into())),
        t => Err(i.invalid(format!("uid tag {t}"))),
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

// ---- reading ----------------------------------------------------------------------------------

fn check_header(bytes: &[u8]) -> Result<(Lsn, [u8; 32], u64), SnapshotError> {
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
    if version != SNAPSHOT_VERSION {
        return Err(SnapshotError::Version { found: version, supported: SNAPSHOT_VERSION });
    }
    let mut hash = [0u8; 32];
    hash.copy_from_slice(&bytes[24..56]);
    Ok((le64(16), hash, le64(56)))
}

struct In<'a> {
    b: &'a [u8],
    pos: usize,
}

impl<'a> In<'a> {
    fn invalid(&self, what: impl Into<String>) -> SnapshotError {
        SnapshotError::Invalid { offset: self.pos, what: what.into() }
    }
    fn take(&mut self, n: usize) -> Result<&'a [u8], SnapshotError> {
        let end = self.pos.checked_add(n).filter(|e| *e <= self.b.len()).ok_or_else(|| self.invalid("truncated"))?;
        let s = &self.b[self.pos..end];
        self.pos = end;
        Ok(s)
    }
    fn u8(&mut self) -> Result<u8, SnapshotError> {
        Ok(self.take(1)?[0])
    }
    fn u32(&mut self) -> Result<u32, SnapshotError> {
        let mut a = [0u8; 4];
        a.copy_from_slice(self.take(4)?);
        Ok(u32::from_le_bytes(a))
    }
    fn u64(&mut self) -> Result<u64, SnapshotError> {
        let mut a = [0u8; 8];
        a.copy_from_slice(self.take(8)?);
        Ok(u64::from_le_bytes(a))
    }
    fn i64(&mut self) -> Result<i64, SnapshotError> {
        Ok(self.u64()? as i64)
    }
    /// A count of elements each at least `min_bytes` long: checked against what remains before
    /// anyone allocates for it.
    fn count(&mut self, min_bytes: usize) -> Result<usize, SnapshotError> {
        let n = self.u32()? as usize;
        if n.saturating_mul(min_bytes) > self.b.len() - self.pos {
            return Err(self.invalid(format!("count {n} larger than the bytes that remain")));
        }
        Ok(n)
    }
    fn bytes(&mut self) -> Result<&'a [u8], SnapshotError> {
        let n = self.count(1)?;
        self.take(n)
    }
    fn str(&mut self) -> Result<&'a str, SnapshotError> {
        let b = self.bytes()?;
        std::str::from_utf8(b).map_err(|_| self.invalid("string is not UTF-8"))
    }
    fn opt_i64(&mut self) -> Result<Option<i64>, SnapshotError> {
        match self.u8()? {
            0 => Ok(None),
            1 => Ok(Some(self.i64()?)),
            t => Err(self.invalid(format!("option tag {t}"))),
        }
    }
    fn wk(&mut self) -> Result<WriteKey, SnapshotError> {
        Ok(WriteKey { ts: self.i64()?, lsn: self.u64()?, slot: self.u8()? })
    }
    fn value(&mut self) -> Result<Value, SnapshotError> {
        let (v, used) = decode_value_prefix(&self.b[self.pos..]).map_err(|e| self.invalid(format!("value: {e}")))?;
        self.pos += used;
        Ok(v)
    }
    fn index(&mut self, len: usize, what: &str) -> Result<u32, SnapshotError> {
        let i = self.u32()?;
        if i as usize >= len {
            return Err(self.invalid(format!("{what} {i} out of range (there are {len})")));
        }
        Ok(i)
    }
}

fn read_interner(i: &mut In<'_>) -> Result<Interner, SnapshotError> {
    let n = i.count(4)?;
    let mut out = Interner::default();
    for _ in 0..n {
        let s = i.str()?;
        if out.index.contains_key(s) {
            return Err(i.invalid(format!("string {s:?} interned twice")));
        }
        out.intern(s);
    }
    Ok(out)
}

/// A node's contents; its events must be folded before `next_lsn`.
fn read_contents(
    i: &mut In<'_>,
    events: &mut EventArena,
    keys: usize,
    names: usize,
    next_lsn: Lsn,
) -> Result<Contents, SnapshotError> {
    let mut c = Contents::default();
    let n = i.count(5)?;
    for _ in 0..n {
        let k = i.index(keys, "attribute key")?;
        let latest = match i.u8()? {
            0 => None,
            1 => {
                let wk = i.wk()?;
                Some((wk, Some(i.value()?)))
            }
            2 => Some((i.wk()?, None)),
            t => return Err(i.invalid(format!("attribute tag {t}"))),
        };
        let m = i.count(18)?;
        let mut set_once = Vec::with_capacity(m);
        for _ in 0..m {
            let wk = i.wk()?;
            set_once.push((wk, i.value()?));
        }
        let ordered = set_once.windows(2).all(|w| w[0].0 < w[1].0)
            && latest.as_ref().is_none_or(|(lk, _)| set_once.first().is_none_or(|(k, _)| k > lk));
        if !ordered {
            return Err(i.invalid("set_once writes out of order"));
        }
        if !c.attrs.push_ascending(k, AttrCell { latest, set_once }) {
            return Err(i.invalid("attribute keys not strictly ascending"));
        }
    }
    let count = i.u64()?;
    let seen = match (i.opt_i64()?, i.opt_i64()?) {
        (None, None) => None,
        (Some(f), Some(l)) => Some((f, l)),
        _ => return Err(i.invalid("first seen without last seen, or the reverse")),
    };
    let packed = i.bytes()?;
    c.events = events.restore(packed, count, seen, names, next_lsn).map_err(|what| i.invalid(what))?;
    Ok(c)
}

fn read_body(r: &mut Resolver, i: &mut In<'_>) -> Result<(), SnapshotError> {
    // Any LSN is acceptable: `apply` checks its arithmetic, and every LSN stored in the body
    // must be below this one (checked below).
    r.next_lsn = i.u64()?;
    r.keys = read_interner(i)?;
    r.names = read_interner(i)?;
    let n_uids = i.count(9)?;
    let mut uids = UidTable::default();
    let mut nodes_of = Vec::new();
    for u in 0..n_uids {
        let uid = read_uid(i)?;
        // Only accepted ids reach the state, under this same config (the hash matched).
        if !matches!(r.validator.check_uid_cow(&uid), Ok(std::borrow::Cow::Borrowed(_))) {
            return Err(i.invalid(format!("uid {uid} is not a canonical, valid, unblocked id")));
        }
        let epoch = i.u32()?;
        if epoch == u32::MAX {
            return Err(i.invalid("a uid at the last epoch"));
        }
        let n = i.count(8)?;
        nodes_of.clear();
        for _ in 0..n {
            let (e, node) = (i.u32()?, i.u32()?);
            // No node has the largest id (node counts fit a u32); the table uses it for "none".
            if node == NodeId::MAX {
                return Err(i.invalid(format!("uid {u} names node {node}, which is not a node")));
            }
            nodes_of.push((e, node));
        }
        if !nodes_of.windows(2).all(|w| w[0].0 < w[1].0) {
            return Err(i.invalid(format!("uid {u}: epochs of its nodes are not ascending")));
        }
        // Node ids checked above to not be the table's "none": every pair is kept.
        uids.push_restored(&uid, epoch, &nodes_of);
    }
    let n_cids = i.count(8)?;
    let mut cids = Vec::with_capacity(n_cids);
    for _ in 0..n_cids {
        let cid = Cid::from_wire_bytes(i.bytes()?.to_vec());
        if r.validator.check_cid(&cid).is_err() {
            return Err(i.invalid(format!("cid {cid} is not a valid, unblocked id")));
        }
        cids.push(CidEntry { cid, node: i.u32()? });
    }
    // Smallest node: a customer with empty contents: tag 1 + cid 4 + attribute count 4 + event
    // count 8 + two option tags 2 + packed events length 4.
    let n_nodes = i.count(23)?;
    let mut nodes = Vec::with_capacity(n_nodes);
    for _ in 0..n_nodes {
        let kind = match i.u8()? {
            0 => {
                let uid = i.index(uids.len(), "uid")?;
                NodeKind::Device { uid, epoch: i.u32()? }
            }
            1 => NodeKind::Customer { cid: i.index(cids.len(), "cid")? },
            t => return Err(i.invalid(format!("node tag {t}"))),
        };
        let mut contents = read_contents(i, &mut r.events, r.keys.list.len(), r.names.list.len(), r.next_lsn)?;
        recount_attr_bytes(&r.keys, &mut contents);
        nodes.push(Node::new(kind, contents));
    }
    // Every table entry must point at the node that points back at it.
    for u in 0..uids.len() as u32 {
        for (e, n) in uids.nodes(u) {
            let ok = nodes
                .get(n as usize)
                .is_some_and(|node| node.kind() == NodeKind::Device { uid: u, epoch: e } && e <= uids.epoch(u));
            if !ok {
                return Err(i.invalid(format!("uid {u} names node {n} for epoch {e}, which is not it")));
            }
        }
    }
    for (c, entry) in cids.iter().enumerate() {
        if nodes.get(entry.node as usize).is_none_or(|n| n.kind() != NodeKind::Customer { cid: c as u32 }) {
            return Err(i.invalid(format!("cid {c} names node {}, which is not it", entry.node)));
        }
    }
    // Each table entry points at its own node (checked above); with equal counts, every node is
    // named by exactly one entry: no orphan and no duplicate nodes.
    let device_nodes = nodes.iter().filter(|n| matches!(n.kind(), NodeKind::Device { .. })).count();
    let named_devices: usize = (0..uids.len() as u32).map(|u| uids.node_count(u)).sum();
    if device_nodes != named_devices || nodes.len() - device_nodes != cids.len() {
        return Err(i.invalid("nodes and id tables disagree"));
    }
    let mut graph: Graph = StableDiGraph::with_capacity(nodes.len(), 0);
    for _ in 0..nodes.len() {
        graph.add_node(());
    }
    // An edge: source 4 + target 4 + kind 1 + LSN 8 + time 8.
    let n_edges = i.count(25)?;
    let mut last_edge_lsn: Option<Lsn> = None;
    for _ in 0..n_edges {
        let s = i.index(nodes.len(), "edge source")?;
        let t = i.index(nodes.len(), "edge target")?;
        let kind = match i.u8()? {
            0 => EdgeKind::Link,
            1 => EdgeKind::Merge,
            k => return Err(i.invalid(format!("edge kind {k}"))),
        };
        let lsn = i.u64()?;
        let ts = i.i64()?;
        if lsn >= r.next_lsn || last_edge_lsn.is_some_and(|l| l >= lsn) {
            return Err(i.invalid("edge LSNs not ascending, or not yet folded"));
        }
        last_edge_lsn = Some(lsn);
        let (sk, tk) = (nodes[s as usize].kind(), nodes[t as usize].kind());
        let shape_ok = match kind {
            EdgeKind::Link => {
                matches!((sk, tk), (NodeKind::Device { .. }, NodeKind::Customer { .. }))
                    && nodes[s as usize].out().is_none()
            }
            EdgeKind::Merge => {
                matches!((sk, tk), (NodeKind::Customer { .. }, NodeKind::Customer { .. }))
                    && nodes[s as usize].out().is_none()
                    && s != t
            }
        };
        if !shape_ok {
            return Err(i.invalid(format!("edge {s} -> {t} breaks the graph's shape")));
        }
        let e = graph.add_edge(NodeIndex::new(s as usize), NodeIndex::new(t as usize), EdgeInfo { kind, lsn, ts });
        match kind {
            EdgeKind::Link => nodes[s as usize].set_out(Some(e)),
            EdgeKind::Merge => nodes[s as usize].set_out(Some(e)),
        }
    }
    let n_rej = i.count(14)?;
    let mut rejections = Vec::with_capacity(n_rej);
    for _ in 0..n_rej {
        let lsn = i.u64()?;
        if lsn >= r.next_lsn || rejections.last().is_some_and(|x: &Rejection| x.lsn >= lsn) {
            return Err(i.invalid("rejection LSNs not ascending, or not yet folded"));
        }
        let kind = *RecordKind::ALL.get(i.u8()? as usize).ok_or_else(|| i.invalid("record kind"))?;
        let reason = *REASONS.get(i.u8()? as usize).ok_or_else(|| i.invalid("reason"))?;
        let detail = i.str()?.to_string();
        let uid = match i.u8()? {
            0 => None,
            1 => Some(i.str()?.to_string()),
            t => return Err(i.invalid(format!("option tag {t}"))),
        };
        let n = i.count(4)?;
        let mut cids = Vec::with_capacity(n);
        for _ in 0..n {
            cids.push(i.str()?.to_string());
        }
        rejections.push(Rejection { lsn, kind, reason, detail, uid, cids });
    }
    // Smallest implicit reset: LSN 8 + uid 5 + epochs 8 + two cids 8.
    let n_resets = i.count(29)?;
    let mut implicit_resets = Vec::with_capacity(n_resets);
    for _ in 0..n_resets {
        let lsn = i.u64()?;
        if lsn >= r.next_lsn || implicit_resets.last().is_some_and(|x: &ImplicitReset| x.lsn >= lsn) {
            return Err(i.invalid("implicit reset LSNs not ascending, or not yet folded"));
        }
        let uid = read_uid(i)?;
        let from_epoch = i.u32()?;
        let to_epoch = i.u32()?;
        let previous_cid = Cid::from_wire_bytes(i.bytes()?.to_vec());
        let cid = Cid::from_wire_bytes(i.bytes()?.to_vec());
        implicit_resets.push(ImplicitReset { lsn, uid, from_epoch, to_epoch, previous_cid, cid });
    }
    r.uid_index = UidIndex::build(&uids).ok_or_else(|| i.invalid("a uid appears twice"))?;
    r.cid_index = cids.iter().enumerate().map(|(c, e)| (e.cid.clone(), c as u32)).collect();
    if r.cid_index.len() != cids.len() {
        return Err(i.invalid("an id appears twice"));
    }
    r.uids = uids;
    r.cids = cids;
    r.components = Components::rebuild(&graph, &nodes)
        .ok_or_else(|| i.invalid("a component has no single primary customer (merge edges form a cycle)"))?;
    r.nodes = nodes;
    r.graph = graph;
    r.rejections = rejections;
    r.implicit_resets = implicit_resets;
    Ok(())
}

/// Recomputes node contents' attribute bytes from its cells (a restored node's).
fn recount_attr_bytes(keys: &Interner, c: &mut Contents) {
    let total = c.attrs.iter().map(|(k, cell)| cell.bytes(keys.get(*k))).sum();
    if c.attrs.len() > 0 {
        c.attrs.set_total(total);
    }
}
