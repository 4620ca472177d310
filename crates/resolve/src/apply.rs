//! Applying a record: [`Resolver::apply`] (a decoded entry) and [`Resolver::apply_encoded`] (the
//! log's bytes, read in place when they decode to a valid shape) in LSN order, both through one
//! dispatch on a `RecordRef`; what events and attribute records do to the nodes' contents (the
//! identity records are in `identity.rs`).
//!
//! Every handler checks everything first (`rules.rs`) and changes state only once the record is
//! accepted: a rejected record changes nothing.

use idres_model::{
    decode_entry_with_schema, event_view, record_view, CodecError, Entry, MapView, RecordView, TargetView, UidView,
    Value,
};
use petgraph::stable_graph::NodeIndex;

use crate::components::node_attrs;
use crate::contents::{WriteKey, SLOT_SET, SLOT_SET_ONCE, SLOT_UNSET, SYSTEM_KEY};
use crate::node::{EdgeInfo, NodeId};
use crate::outcome::{Change, EdgeKind, Reason, Rejection};
use crate::record_ref::{Attrs, Keys, RecordRef};
use crate::resolver::Resolver;
use crate::rules::{check_shape, Rejected};
use crate::sessions::{NodeSessions, Slot, NODE_SESSIONS_MAX};
use crate::Lsn;

/// Why [`Resolver::apply_encoded`] could not apply a record.
#[derive(Debug, thiserror::Error)]
pub enum ApplyEncodedError {
    /// The bytes do not decode (damage, or a log written by something else).
    #[error("the record does not decode")]
    Decode(#[source] CodecError),
    /// The resolver was misused (see [`ApplyError`]).
    #[error(transparent)]
    Apply(#[from] ApplyError),
}

/// What a record did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Applied {
    /// The record was applied (possibly as a no-op, e.g. an unmerge of a cid without merges).
    Accepted,
    /// The record was rejected and changed nothing; [`Resolver::rejections`] has the details.
    Rejected(Reason),
}

/// Misuse of the resolver by its caller (never caused by a record's content).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ApplyError {
    /// Records must be applied in LSN order without gaps or repeats.
    #[error("record at LSN {found} applied out of order: the resolver expects LSN {expected}")]
    OutOfOrder {
        /// The LSN the resolver expects next.
        expected: Lsn,
        /// The LSN it was given.
        found: Lsn,
    },
    /// The largest LSN has been applied; nothing can follow it.
    #[error("no LSN follows {}", Lsn::MAX)]
    LsnExhausted,
}

/// How a record was sent: what the dedupe window needs beside the record itself.
#[derive(Clone, Copy)]
struct Sent<'a> {
    /// When the engine appended it, µs.
    appended_at: i64,
    /// The sender's message id (record schema 2), if any.
    message_id: Option<&'a str>,
}

impl Resolver {
    /// Applies the record at `lsn`. Records must come in LSN order, from 0, without gaps.
    pub fn apply(&mut self, lsn: Lsn, entry: &Entry) -> Result<Applied, ApplyError> {
        if lsn != self.next_lsn {
            return Err(ApplyError::OutOfOrder { expected: self.next_lsn, found: lsn });
        }
        self.next_lsn = lsn.checked_add(1).ok_or(ApplyError::LsnExhausted)?;
        let ts = entry.effective_ts().as_micros();
        let sent = Sent { appended_at: entry.appended_at.as_micros(), message_id: entry.record.message_id() };
        Ok(self.apply_ref(lsn, ts, RecordRef::of(&entry.record), check_shape(&entry.record), sent))
    }

    /// Applies the record at `lsn` as the log holds it (`bytes`, written under `schema`): the
    /// same as decoding it and calling [`Resolver::apply`]. A record that decodes to a valid
    /// shape is read in place ([`idres_model::event_view`] for events,
    /// [`idres_model::record_view`] for the other kinds: its ids are looked up as borrowed and
    /// copied only when new, and only the attribute values the fold keeps are decoded); both
    /// answer only for bytes that decode to a record of valid shape with the same fields. Any
    /// other bytes are decoded the ordinary way, which says what is wrong with them.
    pub fn apply_encoded(&mut self, lsn: Lsn, schema: u16, bytes: &[u8]) -> Result<Applied, ApplyEncodedError> {
        if lsn != self.next_lsn {
            return Err(ApplyError::OutOfOrder { expected: self.next_lsn, found: lsn }.into());
        }
        let next = lsn.checked_add(1).ok_or(ApplyError::LsnExhausted)?;
        if let Some(view) = event_view(schema, bytes) {
            self.next_lsn = next;
            let ts = view.effective_ts().as_micros();
            let sent = Sent { appended_at: view.appended_at.as_micros(), message_id: view.message_id };
            return Ok(self.apply_ref(
                lsn,
                ts,
                RecordRef::Event {
                    target: view.target,
                    name: view.name,
                    session_id: view.session_id,
                    system: view.system,
                },
                Ok(()),
                sent,
            ));
        }
        if let Some(view) = record_view(schema, bytes) {
            // The values the fold keeps, decoded before anything changes (each was checked when
            // the view was made; were one not to decode, the record is refused as undecodable,
            // as decoding it whole would refuse it, and the LSN is not used up).
            let (first, second): (Decoded<'_>, Decoded<'_>);
            let message_id = match view.record {
                RecordView::Identify { message_id, .. } | RecordView::Attributes { message_id, .. } => message_id,
                _ => None,
            };
            let record = match view.record {
                RecordView::Identify { uid, cid, attrs, .. } => {
                    first = decoded(attrs)?;
                    RecordRef::Identify { uid, cid, attrs: Attrs::Decoded(&first) }
                }
                RecordView::Reset { uid, .. } => RecordRef::Reset { uid },
                RecordView::Attributes { target, set, set_once, unset, system, .. } => {
                    first = decoded(set)?;
                    second = decoded(set_once)?;
                    RecordRef::Attributes {
                        target,
                        set: Attrs::Decoded(&first),
                        set_once: Attrs::Decoded(&second),
                        unset: Keys::View(unset),
                        system,
                    }
                }
                RecordView::Merge { from, into } => RecordRef::Merge { from, into },
                RecordView::Unmerge { cid } => RecordRef::Unmerge { cid },
                RecordView::Unlink { uid, cid } => RecordRef::Unlink { uid, cid },
            };
            self.next_lsn = next;
            let sent = Sent { appended_at: view.appended_at.as_micros(), message_id };
            return Ok(self.apply_ref(lsn, view.effective_ts().as_micros(), record, Ok(()), sent));
        }
        let entry = decode_entry_with_schema(schema, bytes).map_err(ApplyEncodedError::Decode)?;
        self.apply(lsn, &entry).map_err(ApplyEncodedError::Apply)
    }

    /// Applies `record` (LSN `lsn`, effective time `ts`, whose shape check gave `shape`, sent as
    /// `sent` says) and keeps its rejection, if it is one. The caller has moved `next_lsn` on.
    ///
    /// A record of valid shape whose message id the dedupe window holds is rejected `duplicate`
    /// before anything else is checked (docs/SEMANTICS.md, "Duplicates"); an accepted record's
    /// message id enters the window.
    fn apply_ref(
        &mut self,
        lsn: Lsn,
        ts: i64,
        record: RecordRef<'_>,
        shape: Result<(), Rejected>,
        sent: Sent<'_>,
    ) -> Applied {
        let window = self.config.dedupe_window_us;
        if window > 0 {
            // Before every record, accepted or not, with a message id or not.
            self.dedupe.expire(sent.appended_at, window);
        }
        let dedupe = window > 0 && shape.is_ok();
        let verdict = match sent.message_id {
            Some(id) if dedupe => match self.dedupe.check(id.as_bytes(), sent.appended_at, window) {
                Some(first) => Err((
                    Reason::Duplicate,
                    format!("message id {} was accepted at LSN {first}", idres_model::id::quote(id)),
                )),
                None => self.apply_record(lsn, ts, record, shape),
            },
            _ => self.apply_record(lsn, ts, record, shape),
        };
        match verdict {
            Ok(()) => {
                if let (Some(id), true) = (sent.message_id, dedupe) {
                    self.dedupe.register(id.as_bytes(), lsn, sent.appended_at, self.config.dedupe_ids_max);
                }
                Applied::Accepted
            }
            Err((reason, detail)) => {
                let (uid, cids) = record.subjects();
                self.keep_rejection(Rejection { lsn, kind: record.kind(), reason, detail, uid, cids });
                if self.track_changes {
                    self.changes.push(Change::Rejected { lsn, reason });
                }
                Applied::Rejected(reason)
            }
        }
    }

    /// Order of checks: the ids a record names (SEMANTICS: "rejected first"), then its shape
    /// (`shape`, the record's shape check: reported only once its ids passed), then the rules of
    /// its kind. Each handler checks its ids, then `shape?`, then the rest, before it changes
    /// anything.
    fn apply_record(
        &mut self,
        lsn: Lsn,
        ts: i64,
        record: RecordRef<'_>,
        shape: Result<(), Rejected>,
    ) -> Result<(), Rejected> {
        match record {
            RecordRef::Event { target, name, session_id, system } => {
                let node = self.checked_target_node(target, shape)?;
                if self.events_full(node) {
                    return Err((
                        Reason::Limit,
                        format!(
                            "the node holds {} bytes of events, the most one node can (NODE_EVENT_BYTES_MAX)",
                            self.events.view(self.nodes[node as usize].contents.events).bytes_used()
                        ),
                    ));
                }
                let slot = self.session_slot(node, session_id, ts)?;
                self.add_event(node, name, system, lsn, ts);
                self.add_to_session(node, slot, session_id, ts);
                Ok(())
            }
            RecordRef::Attributes { target, set, set_once, unset, system } => {
                let node = self.checked_target_node(target, shape)?;
                let writes = set_once.iter().chain(set.iter()).map(|(k, v)| (k, Some(v)));
                let added = self.attrs_added(node, system, writes.chain(unset.iter().map(|k| (k, None))));
                let (keys, bytes) = self.comp_attrs(self.find_ro(node));
                self.check_attr_limit(keys + added.0, bytes + added.1)?;
                let before = node_attrs(&self.nodes[node as usize]);
                for (k, v) in set_once.iter() {
                    self.write_attr(node, k, system, WriteKey { ts, lsn, slot: SLOT_SET_ONCE }, Some(v), true);
                }
                for (k, v) in set.iter() {
                    self.write_attr(node, k, system, WriteKey { ts, lsn, slot: SLOT_SET }, Some(v), false);
                }
                for k in unset.iter() {
                    self.write_attr(node, k, system, WriteKey { ts, lsn, slot: SLOT_UNSET }, None, false);
                }
                self.attrs_written(node, before);
                self.note_changed(node);
                Ok(())
            }
            RecordRef::Identify { uid, cid, attrs } => self.apply_identify(lsn, ts, uid, cid, attrs, shape),
            RecordRef::Reset { uid } => self.apply_reset(uid, shape),
            RecordRef::Merge { from, into } => self.apply_merge(lsn, ts, from, into, shape),
            RecordRef::Unmerge { cid } => self.apply_unmerge(cid, shape),
            RecordRef::Unlink { uid, cid } => self.apply_unlink(uid, cid, shape),
        }
    }

    /// Checks an event's or attributes write's target (its id, then the record's shape:
    /// SEMANTICS' order) and returns the target's node, created if new. A uid interned exactly as
    /// written was checked when first seen, so one lookup replaces the id rules and the
    /// interning: the event path's common case.
    fn checked_target_node(&mut self, target: TargetView<'_>, shape: Result<(), Rejected>) -> Result<NodeId, Rejected> {
        let uid = match target {
            TargetView::Cid(c) => {
                let cid = self.check_cid(c)?;
                shape?;
                return Ok(self.customer_node(cid));
            }
            TargetView::Uuid(b) => UidView::Uuid(*b),
            TargetView::UidText(t) => UidView::Text(t),
        };
        let uid = self.check_uid(uid)?;
        shape?;
        let u = self.intern_uid(uid);
        Ok(self.device_node(u))
    }

    /// True if node `n` can take no more events ([`crate::NODE_EVENT_BYTES_MAX`]). A node just
    /// created has none, so checking after `checked_target_node` created it changes nothing.
    pub(crate) fn events_full(&self, n: NodeId) -> bool {
        self.events.view(self.nodes[n as usize].contents.events).full()
    }

    /// Counts an accepted event on its node. Only the node changes: a profile's contents are
    /// joined from its nodes when it is read, so the event path touches one node and its
    /// component's id.
    ///
    /// A system event's name is interned as `"\0"` + its name: an event name cannot hold a
    /// control character, so the two never meet, and a log without system events interns, counts
    /// and digests exactly what it did before system events existed.
    fn add_event(&mut self, node: NodeId, name: &str, system: bool, lsn: Lsn, ts: i64) {
        let name = if system {
            self.name_buf.clear();
            self.name_buf.push('\0');
            self.name_buf.push_str(name);
            self.names.intern(&self.name_buf)
        } else {
            self.names.intern(name)
        };
        self.events.push(&mut self.nodes[node as usize].contents.events, lsn, name, ts);
        self.note_changed(node);
    }

    /// Where an event at `ts` with `session_id` goes among `node`'s sessions, checking
    /// [`NODE_SESSIONS_MAX`] (nothing changes: a new session id is only looked up).
    fn session_slot(&self, node: NodeId, session_id: Option<&str>, ts: i64) -> Result<Option<Slot>, Rejected> {
        let gap = self.config.session_gap();
        let at = self.nodes[node as usize].sessions;
        let empty = NodeSessions::default();
        let sessions = if at == 0 { &empty } else { &self.sessions[at as usize - 1] };
        let slot = sessions.slot(ts, session_id, &self.session_texts, gap);
        if slot.is_some_and(Slot::opens) && sessions.list.len() >= NODE_SESSIONS_MAX {
            return Err((
                Reason::Limit,
                format!("the node holds {NODE_SESSIONS_MAX} sessions, the most one node can (NODE_SESSIONS_MAX)"),
            ));
        }
        Ok(slot)
    }

    /// Counts an accepted event in its session (`slot`, from [`Self::session_slot`] before the
    /// event was added).
    fn add_to_session(&mut self, node: NodeId, slot: Option<Slot>, session_id: Option<&str>, ts: i64) {
        let Some(slot) = slot else { return };
        // A new explicit session keeps its id's text; an existing one has it already.
        let id = match (slot, session_id) {
            (Slot::NewExplicit(_), Some(text)) => Some(self.session_texts.push(text)),
            _ => None,
        };
        let n = &mut self.nodes[node as usize];
        if n.sessions == 0 {
            self.sessions.push(NodeSessions::default());
            n.sessions = self.sessions.len() as u32;
        }
        self.sessions[n.sessions as usize - 1].add(slot, ts, id);
    }

    /// Keeps the attribute sums of `node`'s component once attributes were written on it
    /// (`before`: its keys and bytes before).
    pub(crate) fn attrs_written(&mut self, node: NodeId, before: (u64, u64)) {
        let after = node_attrs(&self.nodes[node as usize]);
        if after != before {
            let root = self.find_ro(node);
            self.components.attrs_changed(root, before, after);
        }
    }

    /// Writes attribute `key` on `node`; the caller keeps the component's sums
    /// ([`Self::attrs_written`]).
    /// A system attribute (`system`) is a cell of its own, its key id marked with
    /// [`SYSTEM_KEY`].
    pub(crate) fn write_attr(
        &mut self,
        node: NodeId,
        key: &str,
        system: bool,
        wk: WriteKey,
        value: Option<&Value>,
        once: bool,
    ) {
        let k = self.keys.intern(key) | if system { SYSTEM_KEY } else { 0 };
        let contents = &mut self.nodes[node as usize].contents;
        let total = contents.attr_bytes();
        let cell = contents.cell(k);
        let before = cell.bytes(key);
        match (once, value) {
            (true, Some(v)) => cell.write_set_once(wk, v),
            (_, v) => cell.write_latest(wk, v),
        }
        let after = cell.bytes(key);
        contents.attrs.set_total(total - before + after);
    }

    pub(crate) fn link(&mut self, d: NodeId, c: NodeId, lsn: Lsn, ts: i64) {
        let e = self.graph.add_edge(
            NodeIndex::new(d as usize),
            NodeIndex::new(c as usize),
            EdgeInfo { kind: EdgeKind::Link, lsn, ts },
        );
        self.nodes[d as usize].set_out(Some(e));
        let (rd, rc) = (self.find(d), self.find(c));
        let primary = self.comp(rc).primary;
        self.union(rd, rc, primary);
    }
}

/// A view's map with its values decoded (its keys stay borrowed).
type Decoded<'a> = Vec<(&'a str, Value)>;

/// The values of a view's map, decoded.
fn decoded(map: MapView<'_>) -> Result<Decoded<'_>, ApplyEncodedError> {
    let mut out = Vec::with_capacity(map.len());
    for (k, v) in map.iter() {
        out.push((k, v.to_value().map_err(ApplyEncodedError::Decode)?));
    }
    Ok(out)
}
