//! The state digest ([`Resolver::digest`]).
//!
//! **Digest** = SHA-256 over a canonical encoding of, in this order: a version tag, the config's
//! canonical bytes, the next LSN, every profile (sorted by id, with its history), every node
//! (sorted by its uid/epoch or cid, with its attribute writes and events), every edge (sorted by
//! its ends, kind and LSN, with its time), every uid's epoch, every rejection (in LSN order: LSN,
//! kind, reason and the ids it named, not its wording) and every implicit reset (in LSN order:
//! LSN, uid, epochs, previous and new cid), then, only if some rejection was forgotten
//! ([`crate::REJECTIONS_KEPT_MAX`]), the newest forgotten LSN and the forgotten counts by reason.
//! It depends on the log and the config only: not on node
//! numbering, hash seeds or the order of unions.

use std::collections::BTreeMap;

use idres_model::Value;
use petgraph::visit::{EdgeRef, IntoEdgeReferences};
use sha2::{Digest, Sha256};

use crate::contents::{AttrCell, Contents, SYSTEM_KEY};
use crate::hash::FastMap;
use crate::node::{NodeId, NodeKind};
use crate::resolver::Resolver;
use crate::sessions::INFERRED;
use crate::snapshot::{edge_code, write_implicit_resets, write_rejections, Out, Sink};
use crate::Lsn;

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

impl Resolver {
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
            // Custom attributes here; system ones in their own section below.
            self.digest_cells(&mut o, c, false);
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
                let s = label_of.get(&(e.source().index() as NodeId)).copied();
                let t = label_of.get(&(e.target().index() as NodeId)).copied();
                debug_assert!(s.is_some() && t.is_some(), "every graph node is a labelled node");
                let (s, t) = (s.unwrap_or(usize::MAX), t.unwrap_or(usize::MAX));
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
        // Only when some were forgotten: the digest of every state that forgot none is what it
        // was before rejections were bounded. The stream before it ends where its counts say,
        // so the section cannot be confused with anything that could end it otherwise.
        let f = &self.rejections_forgotten;
        if let Some(newest) = f.newest_lsn {
            o.bytes(b"rejections-forgotten");
            o.u64(newest);
            // The seven reasons of the first version always; `duplicate` (code 7) only when some
            // was forgotten, so that the digest of a state without duplicates is what it was.
            for c in &f.counts[..7] {
                o.u64(*c);
            }
            if f.counts[7] > 0 {
                o.bytes(b"duplicate");
                o.u64(f.counts[7]);
            }
        }
        // Only when the fold holds message ids (or dropped some early): the digest of every
        // state without them (every log of record schema 1) is what it was before.
        if !self.dedupe.is_empty() {
            o.bytes(b"dedupe");
            o.u64(self.dedupe.evicted);
            o.count(self.dedupe.len());
            for l in self.dedupe.live_ids() {
                o.bytes(l.id);
                o.u64(l.lsn);
                o.i64(l.appended_at);
            }
        }
        // Only when some node holds a system attribute (record schema 2): the digest of every
        // state without them (every log of record schema 1) is what it was before. (System
        // events are in the nodes' event names above, as "\0" + name.) Sessions are not here:
        // logs of schema 1 carry session ids, and their digests are pinned; they are in
        // [`Resolver::sessions_digest`].
        let system: Vec<(usize, NodeId)> = labels
            .iter()
            .enumerate()
            .filter(|(_, (_, n))| self.nodes[*n as usize].contents.attrs.iter().any(|(k, _)| *k & SYSTEM_KEY != 0))
            .map(|(i, (_, n))| (i, *n))
            .collect();
        if !system.is_empty() {
            o.bytes(b"system-attributes");
            o.count(system.len());
            for (label, n) in system {
                o.u32(label as u32);
                self.digest_cells(&mut o, &self.nodes[n as usize].contents, true);
            }
        }
        h.finalize().into()
    }

    /// SHA-256 over every node's sessions, explicit and inferred (nodes by label, as in the
    /// digest): what the state digest leaves out, so that the digests of logs written before
    /// sessions existed stay what they were. `verify` compares it between a snapshot's state and
    /// a replay's.
    pub fn sessions_digest(&self) -> [u8; 32] {
        let mut h = Sha256::new();
        let mut o = Out(&mut h);
        o.bytes(b"idres.sessions-digest.1");
        let mut labels: Vec<(Vec<u8>, NodeId)> = (0..self.nodes.len() as NodeId)
            .filter(|&n| !self.node_sessions(n).is_empty())
            .map(|n| {
                let mut l = Vec::new();
                self.label_bytes(n, &mut l);
                (l, n)
            })
            .collect();
        labels.sort();
        o.count(labels.len());
        for (label, n) in labels {
            o.bytes(&label);
            self.digest_sessions(&mut o, n);
        }
        h.finalize().into()
    }

    /// Node `n`'s sessions as it keeps them (empty for none).
    pub(crate) fn node_sessions(&self, n: NodeId) -> &[crate::sessions::Session] {
        match self.nodes[n as usize].sessions {
            0 => &[],
            s => &self.sessions[s as usize - 1].list,
        }
    }

    /// Node `n`'s explicit sessions by id (as text), then its inferred ones.
    fn digest_sessions(&self, o: &mut Out<'_, Sha256>, n: NodeId) {
        let list = self.node_sessions(n);
        let mut explicit: Vec<(&str, &crate::sessions::Session)> =
            list.iter().filter(|s| s.id != INFERRED).map(|s| (self.session_texts.get(s.id), s)).collect();
        explicit.sort_by(|a, b| a.0.cmp(b.0));
        o.count(explicit.len());
        for (id, s) in explicit {
            o.bytes(id.as_bytes());
            o.i64(s.start);
            o.i64(s.end);
            o.u32(s.count);
        }
        let spans: Vec<_> = list.iter().filter(|s| s.id == INFERRED).collect();
        o.count(spans.len());
        for s in spans {
            o.i64(s.start);
            o.i64(s.end);
            o.u32(s.count);
        }
    }

    /// A node's attribute cells, custom ones or (`system`) system ones, by key.
    fn digest_cells(&self, o: &mut Out<'_, Sha256>, c: &Contents, system: bool) {
        let mut attrs: Vec<(&str, &AttrCell)> = c
            .attrs
            .iter()
            .filter(|(k, _)| (**k & SYSTEM_KEY != 0) == system)
            .map(|(k, cell)| (self.keys.get(*k & !SYSTEM_KEY), cell))
            .collect();
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
                    digest_value(o, v);
                }
            }
            o.count(cell.set_once.len());
            for (wk, v) in &cell.set_once {
                o.wk(*wk);
                digest_value(o, v);
            }
        }
    }
}
