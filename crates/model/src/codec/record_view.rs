//! Identity, attribute and operator records read in place: the fold's path for everything that
//! is not an event (events have [`super::event_view`]).
//!
//! [`record_view`] reads an identify, reset, attributes, merge, unmerge or unlink record
//! without copying or allocating: its ids are slices of the bytes (a [`UidView`], cid bytes),
//! its maps stay encoded ([`MapView`], whose values become [`Value`]s only when the fold keeps
//! them). Like [`super::event_view`] it walks the whole encoding with every check
//! [`super::decode_entry`] makes and every check [`Record::validate_shape`](crate::Record::validate_shape)
//! makes of the record, and answers only when all of them pass; anything else (an event, a
//! malformed or over-limit encoding, a shape the edge would have refused) gets `None`, and the
//! caller decodes the record the ordinary way, which says what is wrong. So a view exists only
//! for bytes that decode to a shape-valid record with the same fields, which
//! `tests/record_view.rs` checks on arbitrary records and damaged bytes. Ids are as written (not
//! validated, not canonicalised), like a decoded record's.

use super::cursor::Cursor;
use super::view::{read_target, TargetView};
use super::{decode_value_prefix, reads_schema, tag, CodecError};
use crate::id::UidView;
use crate::limits::{ATTRIBUTE_KEYS_PER_RECORD_MAX, RECORD_BYTES_MAX, VALUE_ENTRIES_MAX, VALUE_KEY_BYTES_MAX};
use crate::record::{RecordKind, Timestamp};
use crate::value::Value;

/// A record's top-level map (identify `attrs`, attributes `set` / `set_once`), still encoded:
/// its entries in key order, each a key and an encoded value. Every entry was checked when the
/// view was made (keys 1..=[`VALUE_KEY_BYTES_MAX`] bytes, strictly increasing; values within
/// the value limits).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MapView<'a> {
    /// The entries' bytes (what follows the map's count).
    entries: &'a [u8],
    len: usize,
}

impl<'a> MapView<'a> {
    /// Number of entries.
    pub fn len(&self) -> usize {
        self.len
    }

    /// True if the map has no entry.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The entries, keys ascending.
    pub fn iter(&self) -> MapViewIter<'a> {
        MapViewIter { c: Cursor { bytes: self.entries, pos: 0 }, left: self.len }
    }
}

/// The entries of a [`MapView`].
#[derive(Debug, Clone)]
pub struct MapViewIter<'a> {
    c: Cursor<'a>,
    left: usize,
}

impl<'a> Iterator for MapViewIter<'a> {
    type Item = (&'a str, ValueView<'a>);

    fn next(&mut self) -> Option<Self::Item> {
        if self.left == 0 {
            return None;
        }
        self.left -= 1;
        // The bytes were checked when the view was made: these reads cannot fail. Were they to,
        // the iteration would end early, never read out of bounds.
        let key = self.c.str(VALUE_KEY_BYTES_MAX)?;
        let start = self.c.pos;
        self.c.value(0)?;
        let bytes = self.c.bytes.get(start..self.c.pos)?;
        Some((key, ValueView { bytes }))
    }
}

/// One value of a [`MapView`], still encoded (checked when the view was made).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ValueView<'a> {
    bytes: &'a [u8],
}

impl ValueView<'_> {
    /// The value's encoding: what [`super::encode_value_into`] writes for it, so its length is
    /// [`Value::encoded_len`] (the encoding is canonical).
    pub fn encoded(&self) -> &[u8] {
        self.bytes
    }

    /// Decodes the value. It was checked when its view was made, so this fails only if that
    /// check and the decoder disagree (which `tests/record_view.rs` looks for); the error is the
    /// decoder's, as decoding the whole record would have given it.
    pub fn to_value(&self) -> Result<Value, CodecError> {
        let (value, used) = decode_value_prefix(self.bytes)?;
        if used != self.bytes.len() {
            return Err(CodecError::TrailingBytes { consumed: used, len: self.bytes.len() });
        }
        Ok(value)
    }
}

/// The `unset` keys of an attributes record, still encoded (each checked: 1..=
/// [`VALUE_KEY_BYTES_MAX`] bytes of UTF-8).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KeysView<'a> {
    entries: &'a [u8],
    len: usize,
}

impl<'a> KeysView<'a> {
    /// Number of keys.
    pub fn len(&self) -> usize {
        self.len
    }

    /// True if there is no key.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The keys, in record order.
    pub fn iter(&self) -> KeysViewIter<'a> {
        KeysViewIter { c: Cursor { bytes: self.entries, pos: 0 }, left: self.len }
    }
}

/// The keys of a [`KeysView`].
#[derive(Debug, Clone)]
pub struct KeysViewIter<'a> {
    c: Cursor<'a>,
    left: usize,
}

impl<'a> Iterator for KeysViewIter<'a> {
    type Item = &'a str;

    fn next(&mut self) -> Option<&'a str> {
        if self.left == 0 {
            return None;
        }
        self.left -= 1;
        // Checked when the view was made (see `MapViewIter`).
        self.c.str(VALUE_KEY_BYTES_MAX)
    }
}

/// A record other than an event, borrowed from its bytes (see the module docs). The fields are
/// those of [`crate::Record`]'s variants; ids as written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RecordView<'a> {
    /// [`crate::Record::Identify`].
    Identify {
        /// The device, if any.
        uid: Option<UidView<'a>>,
        /// The customer's bytes.
        cid: &'a [u8],
        /// Written on the customer as `set`.
        attrs: MapView<'a>,
        /// The caller's time, if any.
        ts: Option<Timestamp>,
        /// The sender's message id (record schema 2).
        message_id: Option<&'a str>,
    },
    /// [`crate::Record::Reset`].
    Reset {
        /// The device.
        uid: UidView<'a>,
        /// The caller's time, if any.
        ts: Option<Timestamp>,
    },
    /// [`crate::Record::Attributes`].
    Attributes {
        /// Where they are written.
        target: TargetView<'a>,
        /// Values that overwrite.
        set: MapView<'a>,
        /// Values that apply only where no value is set.
        set_once: MapView<'a>,
        /// Keys to remove.
        unset: KeysView<'a>,
        /// The caller's time, if any.
        ts: Option<Timestamp>,
        /// The device's system attributes (record schema 2).
        system: bool,
        /// The sender's message id (record schema 2).
        message_id: Option<&'a str>,
    },
    /// [`crate::Record::Merge`].
    Merge {
        /// The customer whose component is merged away.
        from: &'a [u8],
        /// The customer whose component survives.
        into: &'a [u8],
    },
    /// [`crate::Record::Unmerge`].
    Unmerge {
        /// The customer.
        cid: &'a [u8],
    },
    /// [`crate::Record::Unlink`].
    Unlink {
        /// The device.
        uid: UidView<'a>,
        /// The customer.
        cid: &'a [u8],
    },
}

impl RecordView<'_> {
    /// The record's kind.
    pub fn kind(&self) -> RecordKind {
        match self {
            RecordView::Identify { .. } => RecordKind::Identify,
            RecordView::Reset { .. } => RecordKind::Reset,
            RecordView::Attributes { .. } => RecordKind::Attributes,
            RecordView::Merge { .. } => RecordKind::Merge,
            RecordView::Unmerge { .. } => RecordKind::Unmerge,
            RecordView::Unlink { .. } => RecordKind::Unlink,
        }
    }

    /// The caller's timestamp, as [`crate::Record::ts`].
    pub fn ts(&self) -> Option<Timestamp> {
        match self {
            RecordView::Identify { ts, .. } | RecordView::Reset { ts, .. } | RecordView::Attributes { ts, .. } => *ts,
            RecordView::Merge { .. } | RecordView::Unmerge { .. } | RecordView::Unlink { .. } => None,
        }
    }
}

/// An entry whose record is a [`RecordView`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EntryView<'a> {
    /// When the engine appended the record.
    pub appended_at: Timestamp,
    /// The record.
    pub record: RecordView<'a>,
}

impl EntryView<'_> {
    /// The time the record's writes count at, as [`crate::Entry::effective_ts`].
    pub fn effective_ts(&self) -> Timestamp {
        match self.record.ts() {
            Some(ts) => ts.min(self.appended_at),
            None => self.appended_at,
        }
    }
}

/// Reads the record `bytes` (stored under `schema`) in place, if it is an identify, reset,
/// attributes, merge, unmerge or unlink record that decodes and passes the shape rules; `None`
/// otherwise (see the module docs).
pub fn record_view(schema: u16, bytes: &[u8]) -> Option<EntryView<'_>> {
    if !reads_schema(schema) || bytes.len() > RECORD_BYTES_MAX {
        return None;
    }
    let mut c = Cursor { bytes, pos: 0 };
    let appended_at = Timestamp(c.i64()?);
    let record = match c.u8()? {
        tag::RECORD_IDENTIFY => {
            let uid = match c.u8()? {
                tag::OPTION_NONE => None,
                tag::OPTION_SOME => Some(c.uid()?),
                _ => return None,
            };
            let cid = c.bytes(RECORD_BYTES_MAX)?;
            let attrs = map_view(&mut c)?;
            if attrs.len() > ATTRIBUTE_KEYS_PER_RECORD_MAX {
                return None;
            }
            let ts = c.ts()?;
            let (_, message_id) = c.schema2_tail(schema, false)?;
            RecordView::Identify { uid, cid, attrs, ts, message_id }
        }
        tag::RECORD_RESET => RecordView::Reset { uid: c.uid()?, ts: c.ts()? },
        tag::RECORD_ATTRIBUTES => {
            let target = read_target(&mut c)?;
            let set = map_view(&mut c)?;
            let set_once = map_view(&mut c)?;
            let unset = keys_view(&mut c)?;
            if set.len() + set_once.len() + unset.len() > ATTRIBUTE_KEYS_PER_RECORD_MAX {
                return None;
            }
            let ts = c.ts()?;
            let (system, message_id) = c.schema2_tail(schema, true)?;
            if system && matches!(target, TargetView::Cid(_)) {
                return None;
            }
            RecordView::Attributes { target, set, set_once, unset, ts, system, message_id }
        }
        tag::RECORD_MERGE => RecordView::Merge { from: c.bytes(RECORD_BYTES_MAX)?, into: c.bytes(RECORD_BYTES_MAX)? },
        tag::RECORD_UNMERGE => RecordView::Unmerge { cid: c.bytes(RECORD_BYTES_MAX)? },
        tag::RECORD_UNLINK => RecordView::Unlink { uid: c.uid()?, cid: c.bytes(RECORD_BYTES_MAX)? },
        // Events have their own view; anything else is no record.
        _ => return None,
    };
    // Nothing may follow the entry.
    (c.pos == bytes.len()).then_some(EntryView { appended_at, record })
}

/// A record's top-level map: the decoder's rules, plus the shape rule that no key is empty.
fn map_view<'a>(c: &mut Cursor<'a>) -> Option<MapView<'a>> {
    let count_at = c.pos;
    let len = c.clone().len(VALUE_ENTRIES_MAX)?;
    let keys_ok = c.map(0, true)?;
    // The count is a `u64`: the entries follow its 8 bytes.
    let entries = c.bytes.get(count_at + 8..c.pos)?;
    keys_ok.then_some(MapView { entries, len })
}

/// The `unset` list: at most [`VALUE_ENTRIES_MAX`] keys of UTF-8, each 1..=
/// [`VALUE_KEY_BYTES_MAX`] bytes (the decoder's rules, and the shape rule that no key is empty).
fn keys_view<'a>(c: &mut Cursor<'a>) -> Option<KeysView<'a>> {
    let len = c.len(VALUE_ENTRIES_MAX)?;
    let start = c.pos;
    for _ in 0..len {
        if c.utf8(VALUE_KEY_BYTES_MAX)?.is_empty() {
            return None;
        }
    }
    Some(KeysView { entries: c.bytes.get(start..c.pos)?, len })
}
