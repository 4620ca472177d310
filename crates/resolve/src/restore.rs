//! Restoring a snapshot ([`Resolver::restore`]): checks both CRCs, the config hash, every length
//! against the bytes that remain (before allocating) and every reference between tables; the
//! components are then rebuilt from the graph ([`crate::components::Components::rebuild`]), so a
//! snapshot cannot smuggle in an inconsistent union-find.

use std::collections::VecDeque;

use idres_model::{decode_value_prefix, Cid, RecordKind, Uid, Value};
use petgraph::stable_graph::{NodeIndex, StableDiGraph};

use crate::cid_index::CidIndex;
use crate::components::Components;
use crate::config::Config;
use crate::contents::{AttrCell, Contents, WriteKey, SYSTEM_KEY};
use crate::events::EventArena;
use crate::interner::Interner;
use crate::node::{CidEntry, EdgeInfo, Graph, Node, NodeId, NodeKind};
use crate::outcome::{EdgeKind, ForgottenRejections, ImplicitReset, Rejection, REJECTIONS_KEPT_MAX};
use crate::resolver::Resolver;
use crate::snapshot::{
    check_header, SnapshotError, EDGE_CODES, REASON_CODES, SECTION_DEDUPE, SECTION_FORGOTTEN, SECTION_SESSIONS,
    SNAPSHOT_HEADER_BYTES, SNAPSHOT_VERSION, SNAPSHOT_VERSION_DEDUPE, SNAPSHOT_VERSION_FORGOTTEN,
    SNAPSHOT_VERSION_OLDEST_READ,
};
use crate::uid_index::UidIndex;
use crate::uids::UidTable;
use crate::Lsn;

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

impl Resolver {
    /// Restores a snapshot taken under `config`. The next record to apply is
    /// [`Resolver::next_lsn`].
    pub fn restore(bytes: &[u8], config: Config) -> Result<Resolver, SnapshotError> {
        let (lsn, hash, body_len, version) = check_header(bytes)?;
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
        read_body(&mut r, &mut i, version)?;
        if r.next_lsn != lsn {
            return Err(i.invalid("body LSN differs from the header's"));
        }
        if i.pos != bytes.len() {
            return Err(i.invalid("bytes after the body"));
        }
        Ok(r)
    }
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
        // A system attribute's cell carries the mark on its key id (version 5; a device's only:
        // the caller checks).
        let k = i.u32()?;
        if (k & !SYSTEM_KEY) as usize >= keys {
            return Err(i.invalid(format!("attribute key {} out of range (there are {keys})", k & !SYSTEM_KEY)));
        }
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

fn read_body(r: &mut Resolver, i: &mut In<'_>, version: u16) -> Result<(), SnapshotError> {
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
        let system = contents.attrs.iter().any(|(k, _)| *k & SYSTEM_KEY != 0);
        if system && (version < SNAPSHOT_VERSION || matches!(kind, NodeKind::Customer { .. })) {
            return Err(i.invalid("a system attribute on a customer node, or before version 5"));
        }
        if version < SNAPSHOT_VERSION && r.events.view(contents.events).count() > 0 {
            return Err(SnapshotError::WithoutSessions { found: version });
        }
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
        let k = i.u8()?;
        let kind = *EDGE_CODES.get(k as usize).ok_or_else(|| i.invalid(format!("edge kind {k}")))?;
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
        nodes[s as usize].set_out(Some(e));
    }
    let mut forgotten = ForgottenRejections::default();
    let n_rej = i.count(14)?;
    let mut rejections = VecDeque::with_capacity(n_rej.min(REJECTIONS_KEPT_MAX));
    for _ in 0..n_rej {
        let lsn = i.u64()?;
        if lsn >= r.next_lsn || rejections.back().is_some_and(|x: &Rejection| x.lsn >= lsn) {
            return Err(i.invalid("rejection LSNs not ascending, or not yet folded"));
        }
        let kind = *RecordKind::ALL.get(i.u8()? as usize).ok_or_else(|| i.invalid("record kind"))?;
        let reason = *REASON_CODES.get(i.u8()? as usize).ok_or_else(|| i.invalid("reason"))?;
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
        let rejection = Rejection { lsn, kind, reason, detail, uid, cids };
        // A version-2 snapshot of a build that kept every rejection: forget what this build's
        // fold would have forgotten, so that it restores to what a replay gives. (A version-3
        // snapshot never holds more than the limit: checked below.)
        if rejections.len() >= REJECTIONS_KEPT_MAX {
            if version != SNAPSHOT_VERSION_OLDEST_READ {
                return Err(i.invalid(format!("more than REJECTIONS_KEPT_MAX = {REJECTIONS_KEPT_MAX} rejections")));
            }
            if let Some(old) = rejections.pop_front() {
                forgotten.note(&old);
            }
        }
        rejections.push_back(rejection);
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
    if version == SNAPSHOT_VERSION_FORGOTTEN {
        forgotten = read_forgotten(i, &rejections, r.next_lsn)?;
    }
    if version >= SNAPSHOT_VERSION_DEDUPE {
        // Tagged sections, ascending, each at most once; in version 4 the dedupe window always
        // (a state without one is written in an older version), in version 5 any.
        let sections = i.u8()?;
        let mut last = 0u8;
        for _ in 0..sections {
            let tag = i.u8()?;
            if tag <= last {
                return Err(i.invalid("snapshot sections not ascending"));
            }
            last = tag;
            match tag {
                SECTION_FORGOTTEN => forgotten = read_forgotten(i, &rejections, r.next_lsn)?,
                SECTION_DEDUPE => r.dedupe = read_dedupe(i, r.next_lsn, r.config.dedupe_ids_max)?,
                SECTION_SESSIONS if version >= SNAPSHOT_VERSION => read_sessions(r, i, &mut nodes)?,
                _ => return Err(i.invalid(format!("unknown snapshot section {tag}"))),
            }
        }
        if version == SNAPSHOT_VERSION && r.config.session_gap().is_some() {
            // Inferring on: every event is in a session of its node.
            let all = nodes.iter().all(|n| {
                let count = r.events.view(n.contents.events).count();
                let counted: u64 = match n.sessions {
                    0 => 0,
                    s => r.sessions[s as usize - 1].list.iter().map(|x| u64::from(x.count)).sum(),
                };
                counted == count
            });
            if !all {
                return Err(i.invalid("a node's sessions do not count its events"));
            }
        }
        if version == SNAPSHOT_VERSION_DEDUPE && last != SECTION_DEDUPE {
            return Err(i.invalid("a version-4 snapshot without its dedupe section"));
        }
    }
    r.uid_index = UidIndex::build(&uids).ok_or_else(|| i.invalid("a uid appears twice"))?;
    r.cid_index = CidIndex::with_capacity(cids.len());
    for e in &cids {
        if !r.cid_index.insert(e.cid.as_bytes(), e.node) {
            return Err(i.invalid("an id appears twice"));
        }
    }
    r.uids = uids;
    r.cids = cids;
    r.components = Components::rebuild(&graph, &nodes)
        .ok_or_else(|| i.invalid("a component has no single primary customer (merge edges form a cycle)"))?;
    r.nodes = nodes;
    r.graph = graph;
    r.rejections = rejections;
    r.rejections_forgotten = forgotten;
    r.implicit_resets = implicit_resets;
    Ok(())
}

/// The dedupe section of a version-4 snapshot: the ids dropped early, then the live ids oldest
/// first, each with its LSN (ascending, all folded) and `appended_at`; at most `max` of them,
/// none twice.
fn read_dedupe(i: &mut In<'_>, next_lsn: Lsn, max: u32) -> Result<crate::dedupe::Dedupe, SnapshotError> {
    let evicted = i.u64()?;
    let n = i.count(4 + 8 + 8)?;
    if n > max as usize {
        return Err(i.invalid(format!("{n} message ids, over dedupe_ids_max = {max}")));
    }
    let mut ids = Vec::with_capacity(n);
    let mut seen = std::collections::BTreeSet::new();
    let mut prev: Option<Lsn> = None;
    for _ in 0..n {
        let id = i.bytes()?.to_vec();
        let lsn = i.u64()?;
        let at = i.i64()?;
        if prev.is_some_and(|p| lsn <= p) || lsn >= next_lsn {
            return Err(i.invalid("message id LSNs not ascending, or not yet folded"));
        }
        prev = Some(lsn);
        if !seen.insert(id.clone()) {
            return Err(i.invalid("a message id appears twice"));
        }
        ids.push((id, lsn, at));
    }
    if n == 0 && evicted == 0 {
        return Err(i.invalid("an empty dedupe section"));
    }
    Ok(crate::dedupe::Dedupe::restore(ids, evicted))
}

/// Section 9 of a version-3 snapshot, which holds it only when some rejection was forgotten. It
/// must agree with the kept rejections: the limit is this build's, and was reached; at least
/// one reason, in code order, each with a count; the newest forgotten LSN lies before every
/// kept one; and no more rejections in all than records folded.
fn read_forgotten(
    i: &mut In<'_>,
    kept: &VecDeque<Rejection>,
    next_lsn: Lsn,
) -> Result<ForgottenRejections, SnapshotError> {
    let limit = i.u32()?;
    if limit as usize != REJECTIONS_KEPT_MAX {
        return Err(SnapshotError::RejectionsKeptMax { found: limit, this_build: REJECTIONS_KEPT_MAX as u32 });
    }
    if kept.len() != REJECTIONS_KEPT_MAX {
        return Err(
            i.invalid(format!("rejections were forgotten, but {} are kept, not {REJECTIONS_KEPT_MAX}", kept.len()))
        );
    }
    let newest = i.u64()?;
    if newest >= next_lsn || kept.front().is_some_and(|k| k.lsn <= newest) {
        return Err(i.invalid("the newest forgotten rejection's LSN is not before every kept one"));
    }
    // A reason: code 1 + count 8.
    let n = i.count(9)?;
    if n == 0 {
        return Err(i.invalid("a forgotten-rejections section without a reason"));
    }
    let mut f = ForgottenRejections { newest_lsn: Some(newest), ..ForgottenRejections::default() };
    let mut last: Option<u8> = None;
    for _ in 0..n {
        let code = i.u8()?;
        if last.is_some_and(|l| l >= code) {
            return Err(i.invalid("forgotten rejection reasons not ascending"));
        }
        last = Some(code);
        let count = i.u64()?;
        let slot = f.counts.get_mut(code as usize).ok_or_else(|| i.invalid(format!("reason {code}")))?;
        if count == 0 {
            return Err(i.invalid("a forgotten rejection reason with no count"));
        }
        *slot = count;
    }
    // Every rejection, kept or forgotten, is a record before the newest forgotten one or after it.
    let total = f.counts.iter().try_fold(0u64, |a, &c| a.checked_add(c));
    if total.is_none_or(|t| t > newest.saturating_add(1) || t.saturating_add(kept.len() as u64) > next_lsn) {
        return Err(i.invalid("more rejections forgotten than records folded"));
    }
    Ok(f)
}

/// The sessions section of a version-5 snapshot: the session ids, then each node that holds
/// sessions, ascending, with its sessions in their canonical order; every node with events holds
/// sessions when inferring is on, and none holds any it could not have made.
fn read_sessions(r: &mut Resolver, i: &mut In<'_>, nodes: &mut [Node]) -> Result<(), SnapshotError> {
    let n = i.count(4)?;
    for _ in 0..n {
        let text = i.str()?;
        // What the fold accepts as a session id (docs/SEMANTICS.md, "Limits").
        if text.is_empty()
            || text.len() > idres_model::limits::SESSION_ID_BYTES_MAX
            || text.chars().any(char::is_control)
        {
            return Err(i.invalid("a session id that no record could carry"));
        }
        r.session_texts.push(text);
    }
    let gap = r.config.session_gap();
    let n = i.count(8)?;
    let mut last: Option<u32> = None;
    for _ in 0..n {
        let node = i.index(nodes.len(), "node")?;
        if last.is_some_and(|l| l >= node) {
            return Err(i.invalid("nodes with sessions not ascending"));
        }
        last = Some(node);
        let m = i.count(24)?;
        if m == 0 || m > crate::sessions::NODE_SESSIONS_MAX {
            return Err(i.invalid(format!("node {node} holds {m} sessions")));
        }
        let mut s = crate::sessions::NodeSessions { list: Vec::with_capacity(m) };
        for _ in 0..m {
            let id = i.u32()?;
            let (start, end) = (i.i64()?, i.i64()?);
            let count = i.u32()?;
            s.list.push(crate::sessions::Session { start, end, id, count });
        }
        let events = r.events.view(nodes[node as usize].contents.events);
        let counted: u64 = s.list.iter().map(|x| u64::from(x.count)).sum();
        let within = events
            .first_seen()
            .zip(events.last_seen())
            .is_some_and(|(f, l)| s.list.iter().all(|x| f <= x.start && x.end <= l));
        if !s.is_canonical(&r.session_texts, gap) || counted > events.count() || !within {
            return Err(i.invalid(format!("node {node}: sessions out of order or not of its events")));
        }
        r.sessions.push(s);
        nodes[node as usize].sessions = r.sessions.len() as u32;
    }
    Ok(())
}

/// Recomputes node contents' attribute bytes from its cells (a restored node's).
fn recount_attr_bytes(keys: &Interner, c: &mut Contents) {
    let total = c.attrs.iter().map(|(k, cell)| cell.bytes(keys.get(*k & !SYSTEM_KEY))).sum();
    if c.attrs.len() > 0 {
        c.attrs.set_total(total);
    }
}

#[cfg(test)]
#[path = "restore_tests.rs"]
mod tests;
