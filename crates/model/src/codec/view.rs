//! Events read in place: the fold's fast path.
//!
//! Nine records in ten are events, and the fold needs four things from one: its target, its
//! name, its time and the time it was appended. [`event_view`] reads those without copying or
//! allocating. It walks the whole encoding, with every check [`super::decode_entry`] makes and
//! every check [`Record::validate_shape`](crate::Record::validate_shape) makes of an event, and
//! answers only when all of them pass. Anything else (another kind of record, a malformed or
//! over-limit encoding, an event the edge would have refused) gets `None`, and the caller decodes
//! the record the ordinary way, which says what is wrong. So a view exists only for bytes that
//! decode to a valid event with the same fields, which `tests/event_view.rs` checks on arbitrary input
//! and at every limit.

use super::cursor::{shape_text_ok, Cursor};
use super::{reads_schema, tag};
use crate::id::UidView;
use crate::limits::{EVENT_NAME_BYTES_MAX, RECORD_BYTES_MAX, SESSION_ID_BYTES_MAX};
use crate::record::Timestamp;

/// The target of an event, borrowed from its encoding (as written: not validated, not
/// canonicalised, like a decoded [`crate::Target`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TargetView<'a> {
    /// A uid in its 16-byte UUID form.
    Uuid(&'a [u8; 16]),
    /// A uid in text form.
    UidText(&'a [u8]),
    /// A cid.
    Cid(&'a [u8]),
}

impl<'a> TargetView<'a> {
    /// The uid it names, if it names one.
    pub fn uid(self) -> Option<UidView<'a>> {
        match self {
            TargetView::Uuid(b) => Some(UidView::Uuid(*b)),
            TargetView::UidText(t) => Some(UidView::Text(t)),
            TargetView::Cid(_) => None,
        }
    }
}

/// Reads a target as the decoder does (tag, then a uid or a cid).
pub(super) fn read_target<'a>(c: &mut Cursor<'a>) -> Option<TargetView<'a>> {
    Some(match c.u8()? {
        tag::TARGET_UID => match c.u8()? {
            tag::UID_UUID => TargetView::Uuid(c.array16()?),
            tag::UID_TEXT => TargetView::UidText(c.bytes(RECORD_BYTES_MAX)?),
            _ => return None,
        },
        tag::TARGET_CID => TargetView::Cid(c.bytes(RECORD_BYTES_MAX)?),
        _ => return None,
    })
}

/// What the fold reads of an event, borrowed from the record's bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EventView<'a> {
    /// When the engine appended the record.
    pub appended_at: Timestamp,
    /// Whose event it is.
    pub target: TargetView<'a>,
    /// The event's name (shape-checked: 1..=128 bytes, no control characters).
    pub name: &'a str,
    /// The session id, if any (shape-checked: 1..=128 bytes, no control characters).
    pub session_id: Option<&'a str>,
    /// The caller's time, if any.
    pub ts: Option<Timestamp>,
    /// A system event (record schema 2; `false` under schema 1).
    pub system: bool,
    /// The sender's message id (record schema 2), shape-checked.
    pub message_id: Option<&'a str>,
}

impl EventView<'_> {
    /// The time the event counts at: `min(ts, appended_at)`, as [`crate::Entry::effective_ts`].
    pub fn effective_ts(&self) -> Timestamp {
        match self.ts {
            Some(ts) => ts.min(self.appended_at),
            None => self.appended_at,
        }
    }
}

/// Reads the record `bytes` (stored under `schema`) as an event, in place, if it is one that
/// decodes and passes the shape rules; `None` otherwise (see the module docs).
pub fn event_view(schema: u16, bytes: &[u8]) -> Option<EventView<'_>> {
    if !reads_schema(schema) || bytes.len() > RECORD_BYTES_MAX {
        return None;
    }
    let mut c = Cursor { bytes, pos: 0 };
    let appended_at = Timestamp(c.i64()?);
    if c.u8()? != tag::RECORD_EVENT {
        return None;
    }
    let target = read_target(&mut c)?;
    let name = c.str(RECORD_BYTES_MAX)?;
    if !shape_text_ok(name, EVENT_NAME_BYTES_MAX) {
        return None;
    }
    // Top-level props: the decoder's rules, plus the shape rule that a key is not empty.
    if !c.map(0, true)? {
        return None;
    }
    let session_id = match c.u8()? {
        tag::OPTION_NONE => None,
        tag::OPTION_SOME => {
            let s = c.str(RECORD_BYTES_MAX)?;
            if !shape_text_ok(s, SESSION_ID_BYTES_MAX) {
                return None;
            }
            Some(s)
        }
        _ => return None,
    };
    let ts = c.ts()?;
    let (system, message_id) = c.schema2_tail(schema, true)?;
    // Nothing may follow the entry.
    (c.pos == bytes.len()).then_some(EventView { appended_at, target, name, session_id, ts, system, message_id })
}
