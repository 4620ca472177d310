//! The bincode `Encode` / `Decode` implementations of every encoded type, written by hand so that
//! each tag byte and each limit check is explicit (see the tag constants in [`super::tag`]).
//!
//! Owns: the field order and the checks made while reading. Does not own: the configuration
//! (little-endian, fixed-width integers, byte limit), which [`super::CONFIG`] fixes; these impls
//! are meant to run under it only, and the layout in docs/FORMAT.md assumes it.
//!
//! Reading never trusts a length: each is compared with its limit before anything is allocated,
//! and the byte claim of the decoder's limit is made before bytes are copied. Writing refuses
//! exactly what reading would refuse (value limits, non-finite floats), so whatever encodes,
//! decodes to an equal value, and decoding then encoding reproduces the bytes.

use bincode::de::read::Reader;
use bincode::de::{Decode, Decoder};
use bincode::enc::write::Writer;
use bincode::enc::{Encode, Encoder};
use bincode::error::{AllowedEnumVariants, DecodeError, EncodeError};

use super::tag;
use crate::id::{Cid, Uid, UidView};
use crate::limits::{
    RECORD_BYTES_MAX, VALUE_DEPTH_MAX, VALUE_ENTRIES_MAX, VALUE_KEY_BYTES_MAX, VALUE_STRING_BYTES_MAX,
};
use crate::record::{Entry, Record, Target, Timestamp};
use crate::value::{check_container, check_float, check_key, check_string, Map, Value, ValueError};

// ---------------------------------------------------------------------------------------------
// Primitives

/// Entries a list reserves before its values are read.
pub(super) const LIST_RESERVE_MAX: usize = 64;

pub(super) fn value_error(e: ValueError) -> EncodeError {
    EncodeError::OtherString(e.to_string())
}

pub(super) fn encode_len<E: Encoder>(encoder: &mut E, len: usize) -> Result<(), EncodeError> {
    u64::try_from(len).map_err(|_| EncodeError::Other("length does not fit in u64"))?.encode(encoder)
}

/// A `u64` length followed by the bytes.
pub(super) fn encode_bytes<E: Encoder>(encoder: &mut E, bytes: &[u8]) -> Result<(), EncodeError> {
    encode_len(encoder, bytes.len())?;
    encoder.writer().write(bytes)
}

/// Reads a `u64` length and checks it against `max` before anyone allocates for it.
pub(super) fn decode_len<D: Decoder>(decoder: &mut D, max: usize, what: &'static str) -> Result<usize, DecodeError> {
    let len = u64::decode(decoder)?;
    match usize::try_from(len) {
        Ok(len) if len <= max => Ok(len),
        _ => Err(DecodeError::OtherString(format!("{what}: length {len} over the limit of {max}"))),
    }
}

/// Reads a length-prefixed byte string of at most `max` bytes.
pub(super) fn decode_bytes<D: Decoder>(
    decoder: &mut D,
    max: usize,
    what: &'static str,
) -> Result<Vec<u8>, DecodeError> {
    let len = decode_len(decoder, max, what)?;
    // Counts against the decoder's byte limit before the copy, like bincode's own containers.
    decoder.claim_bytes_read(len)?;
    let reader = decoder.reader();
    if let Some(bytes) = reader.peek_read(len) {
        let owned = bytes.to_vec();
        reader.consume(len);
        return Ok(owned);
    }
    // Our decoder always reads from a slice, which can peek: `None` means the input ends before
    // `len` bytes. Fail without allocating for bytes that are not there.
    Err(DecodeError::UnexpectedEnd { additional: len })
}

pub(super) fn decode_string<D: Decoder>(
    decoder: &mut D,
    max: usize,
    what: &'static str,
) -> Result<String, DecodeError> {
    let bytes = decode_bytes(decoder, max, what)?;
    String::from_utf8(bytes).map_err(|e| DecodeError::Utf8 { inner: e.utf8_error() })
}

pub(super) fn decode_tag<D: Decoder>(
    decoder: &mut D,
    type_name: &'static str,
    allowed: &'static AllowedEnumVariants,
    max: u8,
) -> Result<u8, DecodeError> {
    let found = u8::decode(decoder)?;
    if found > max {
        return Err(DecodeError::UnexpectedVariant { type_name, allowed, found: u32::from(found) });
    }
    Ok(found)
}

pub(super) fn encode_option<E: Encoder, T>(
    encoder: &mut E,
    option: Option<&T>,
    encode_some: impl FnOnce(&mut E, &T) -> Result<(), EncodeError>,
) -> Result<(), EncodeError> {
    match option {
        None => tag::OPTION_NONE.encode(encoder),
        Some(value) => {
            tag::OPTION_SOME.encode(encoder)?;
            encode_some(encoder, value)
        }
    }
}

pub(super) fn decode_option<D: Decoder, T>(
    decoder: &mut D,
    decode_some: impl FnOnce(&mut D) -> Result<T, DecodeError>,
) -> Result<Option<T>, DecodeError> {
    const ALLOWED: AllowedEnumVariants = AllowedEnumVariants::Range { min: 0, max: 1 };
    match decode_tag(decoder, "Option", &ALLOWED, tag::OPTION_SOME)? {
        tag::OPTION_NONE => Ok(None),
        _ => decode_some(decoder).map(Some),
    }
}

// ---------------------------------------------------------------------------------------------
// Values

/// `level` is the number of containers enclosing `value`.
pub(super) fn encode_value<E: Encoder>(encoder: &mut E, value: &Value, level: usize) -> Result<(), EncodeError> {
    match value {
        Value::Null => tag::VALUE_NULL.encode(encoder),
        Value::Bool(b) => {
            tag::VALUE_BOOL.encode(encoder)?;
            b.encode(encoder)
        }
        Value::Int(i) => {
            tag::VALUE_INT.encode(encoder)?;
            i.encode(encoder)
        }
        Value::Float(f) => {
            check_float(*f).map_err(value_error)?;
            tag::VALUE_FLOAT.encode(encoder)?;
            f.encode(encoder)
        }
        Value::String(s) => {
            check_string(s).map_err(value_error)?;
            tag::VALUE_STRING.encode(encoder)?;
            encode_bytes(encoder, s.as_bytes())
        }
        Value::List(items) => {
            check_container(level, items.len()).map_err(value_error)?;
            tag::VALUE_LIST.encode(encoder)?;
            encode_len(encoder, items.len())?;
            items.iter().try_for_each(|item| encode_value(encoder, item, level + 1))
        }
        Value::Map(map) => {
            check_container(level, map.len()).map_err(value_error)?;
            tag::VALUE_MAP.encode(encoder)?;
            encode_map(encoder, map, level + 1)
        }
    }
}

pub(super) fn decode_value<D: Decoder>(decoder: &mut D, level: usize) -> Result<Value, DecodeError> {
    const ALLOWED: AllowedEnumVariants =
        AllowedEnumVariants::Range { min: tag::VALUE_NULL as u32, max: tag::VALUE_MAP as u32 };
    match decode_tag(decoder, "Value", &ALLOWED, tag::VALUE_MAP)? {
        tag::VALUE_NULL => Ok(Value::Null),
        tag::VALUE_BOOL => bool::decode(decoder).map(Value::Bool),
        tag::VALUE_INT => i64::decode(decoder).map(Value::Int),
        tag::VALUE_FLOAT => {
            let f = f64::decode(decoder)?;
            if !f.is_finite() {
                return Err(DecodeError::Other("float value is not finite"));
            }
            Ok(Value::Float(f))
        }
        tag::VALUE_STRING => decode_string(decoder, VALUE_STRING_BYTES_MAX, "string value").map(Value::String),
        tag::VALUE_LIST => {
            check_depth(level)?;
            let len = decode_len(decoder, VALUE_ENTRIES_MAX, "list entries")?;
            // Grow with what is really there: a claimed count reserves little up front, so a short
            // hostile input cannot make nested lists reserve memory for values that never come.
            let mut items = Vec::with_capacity(len.min(LIST_RESERVE_MAX));
            for _ in 0..len {
                items.push(decode_value(decoder, level + 1)?);
            }
            Ok(Value::List(items))
        }
        _ => {
            check_depth(level)?;
            decode_map(decoder, level + 1).map(Value::Map)
        }
    }
}

/// Refuses a container enclosed by `level` others before recursing into it: this bound, not the
/// input's length, is what limits the decoder's stack.
pub(super) fn check_depth(level: usize) -> Result<(), DecodeError> {
    if level >= VALUE_DEPTH_MAX {
        return Err(DecodeError::Other("value nests lists/maps deeper than VALUE_DEPTH_MAX"));
    }
    Ok(())
}

/// Count, then (key, value) pairs in increasing key order; values sit at `value_level`.
pub(super) fn encode_map<E: Encoder>(encoder: &mut E, map: &Map, value_level: usize) -> Result<(), EncodeError> {
    if map.len() > VALUE_ENTRIES_MAX {
        return Err(value_error(ValueError::TooManyEntries { len: map.len(), max: VALUE_ENTRIES_MAX }));
    }
    encode_len(encoder, map.len())?;
    for (key, value) in map {
        check_key(key).map_err(value_error)?;
        encode_bytes(encoder, key.as_bytes())?;
        encode_value(encoder, value, value_level)?;
    }
    Ok(())
}

pub(super) fn decode_map<D: Decoder>(decoder: &mut D, value_level: usize) -> Result<Map, DecodeError> {
    let len = decode_len(decoder, VALUE_ENTRIES_MAX, "map entries")?;
    let mut map = Map::new();
    for _ in 0..len {
        let key = decode_string(decoder, VALUE_KEY_BYTES_MAX, "map key")?;
        // Strictly increasing keys make the encoding canonical: no duplicates that a map would
        // silently collapse, no second order for the same map.
        if let Some((last, _)) = map.last_key_value() {
            if key.as_str() <= last.as_str() {
                return Err(DecodeError::Other("map keys are not strictly increasing"));
            }
        }
        let value = decode_value(decoder, value_level)?;
        map.insert(key, value);
    }
    Ok(map)
}

impl Encode for Value {
    fn encode<E: Encoder>(&self, encoder: &mut E) -> Result<(), EncodeError> {
        encode_value(encoder, self, 0)
    }
}

impl<Context> Decode<Context> for Value {
    fn decode<D: Decoder<Context = Context>>(decoder: &mut D) -> Result<Self, DecodeError> {
        decode_value(decoder, 0)
    }
}
bincode::impl_borrow_decode!(Value);

// ---------------------------------------------------------------------------------------------
// Ids

impl Encode for Uid {
    fn encode<E: Encoder>(&self, encoder: &mut E) -> Result<(), EncodeError> {
        encode_uid_view(encoder, self.view())
    }
}

/// Lenient: ids are carried as found, however malformed; only the record limit bounds them.
impl<Context> Decode<Context> for Uid {
    fn decode<D: Decoder<Context = Context>>(decoder: &mut D) -> Result<Self, DecodeError> {
        const ALLOWED: AllowedEnumVariants = AllowedEnumVariants::Range { min: 0, max: 1 };
        match decode_tag(decoder, "Uid", &ALLOWED, tag::UID_TEXT)? {
            tag::UID_UUID => <[u8; 16]>::decode(decoder).map(Uid::Uuid),
            _ => decode_bytes(decoder, RECORD_BYTES_MAX, "uid").map(Uid::from_wire_bytes),
        }
    }
}
bincode::impl_borrow_decode!(Uid);

impl Encode for Cid {
    fn encode<E: Encoder>(&self, encoder: &mut E) -> Result<(), EncodeError> {
        encode_bytes(encoder, self.as_bytes())
    }
}

/// A uid as [`Uid`] encodes: its form's tag, then 16 bytes or the text's length and bytes.
pub(super) fn encode_uid_view<E: Encoder>(encoder: &mut E, uid: UidView<'_>) -> Result<(), EncodeError> {
    match uid {
        UidView::Uuid(bytes) => {
            tag::UID_UUID.encode(encoder)?;
            encoder.writer().write(&bytes)
        }
        UidView::Text(bytes) => {
            tag::UID_TEXT.encode(encoder)?;
            encode_bytes(encoder, bytes)
        }
    }
}

/// Lenient, like [`Uid`]'s decode.
impl<Context> Decode<Context> for Cid {
    fn decode<D: Decoder<Context = Context>>(decoder: &mut D) -> Result<Self, DecodeError> {
        decode_bytes(decoder, RECORD_BYTES_MAX, "cid").map(Cid::from_wire_bytes)
    }
}
bincode::impl_borrow_decode!(Cid);

impl Encode for Target {
    fn encode<E: Encoder>(&self, encoder: &mut E) -> Result<(), EncodeError> {
        match self {
            Target::Uid(uid) => {
                tag::TARGET_UID.encode(encoder)?;
                uid.encode(encoder)
            }
            Target::Cid(cid) => {
                tag::TARGET_CID.encode(encoder)?;
                cid.encode(encoder)
            }
        }
    }
}

impl<Context> Decode<Context> for Target {
    fn decode<D: Decoder<Context = Context>>(decoder: &mut D) -> Result<Self, DecodeError> {
        const ALLOWED: AllowedEnumVariants = AllowedEnumVariants::Range { min: 0, max: 1 };
        match decode_tag(decoder, "Target", &ALLOWED, tag::TARGET_CID)? {
            tag::TARGET_UID => Uid::decode(decoder).map(Target::Uid),
            _ => Cid::decode(decoder).map(Target::Cid),
        }
    }
}
bincode::impl_borrow_decode!(Target);

// ---------------------------------------------------------------------------------------------
// Records

impl Encode for Timestamp {
    fn encode<E: Encoder>(&self, encoder: &mut E) -> Result<(), EncodeError> {
        self.0.encode(encoder)
    }
}

impl<Context> Decode<Context> for Timestamp {
    fn decode<D: Decoder<Context = Context>>(decoder: &mut D) -> Result<Self, DecodeError> {
        i64::decode(decoder).map(Timestamp)
    }
}
bincode::impl_borrow_decode!(Timestamp);

pub(super) fn encode_ts<E: Encoder>(encoder: &mut E, ts: Option<Timestamp>) -> Result<(), EncodeError> {
    encode_option(encoder, ts.as_ref(), |e, ts| ts.encode(e))
}

pub(super) fn decode_ts<D: Decoder>(decoder: &mut D) -> Result<Option<Timestamp>, DecodeError> {
    decode_option(decoder, |d| i64::decode(d).map(Timestamp))
}

/// An attribute key outside a map (the `unset` list): the same limit as map keys.
pub(super) fn encode_key<E: Encoder>(encoder: &mut E, key: &str) -> Result<(), EncodeError> {
    check_key(key).map_err(value_error)?;
    encode_bytes(encoder, key.as_bytes())
}

impl Encode for Record {
    fn encode<E: Encoder>(&self, encoder: &mut E) -> Result<(), EncodeError> {
        match self {
            Record::Identify { uid, cid, attrs, ts, message_id } => {
                tag::RECORD_IDENTIFY.encode(encoder)?;
                encode_option(encoder, uid.as_ref(), |e, uid| uid.encode(e))?;
                cid.encode(encoder)?;
                encode_map(encoder, attrs, 0)?;
                encode_ts(encoder, *ts)?;
                encode_message_id(encoder, message_id.as_deref())
            }
            Record::Reset { uid, ts } => {
                tag::RECORD_RESET.encode(encoder)?;
                uid.encode(encoder)?;
                encode_ts(encoder, *ts)
            }
            Record::Event { target, name, props, session_id, ts, system, message_id } => {
                tag::RECORD_EVENT.encode(encoder)?;
                target.encode(encoder)?;
                encode_bytes(encoder, name.as_bytes())?;
                encode_map(encoder, props, 0)?;
                encode_option(encoder, session_id.as_ref(), |e, s| encode_bytes(e, s.as_bytes()))?;
                encode_ts(encoder, *ts)?;
                system.encode(encoder)?;
                encode_message_id(encoder, message_id.as_deref())
            }
            Record::Attributes { target, set, set_once, unset, ts, system, message_id } => {
                tag::RECORD_ATTRIBUTES.encode(encoder)?;
                target.encode(encoder)?;
                encode_map(encoder, set, 0)?;
                encode_map(encoder, set_once, 0)?;
                if unset.len() > VALUE_ENTRIES_MAX {
                    return Err(value_error(ValueError::TooManyEntries { len: unset.len(), max: VALUE_ENTRIES_MAX }));
                }
                encode_len(encoder, unset.len())?;
                unset.iter().try_for_each(|key| encode_key(encoder, key))?;
                encode_ts(encoder, *ts)?;
                system.encode(encoder)?;
                encode_message_id(encoder, message_id.as_deref())
            }
            Record::Merge { from, into } => {
                tag::RECORD_MERGE.encode(encoder)?;
                from.encode(encoder)?;
                into.encode(encoder)
            }
            Record::Unmerge { cid } => {
                tag::RECORD_UNMERGE.encode(encoder)?;
                cid.encode(encoder)
            }
            Record::Unlink { uid, cid } => {
                tag::RECORD_UNLINK.encode(encoder)?;
                uid.encode(encoder)?;
                cid.encode(encoder)
            }
        }
    }
}

/// The message id of a schema-2 record: an option of bytes, carried at any length up to the
/// record size (the edge holds it to [`crate::limits::MESSAGE_ID_BYTES_MAX`]).
pub(super) fn encode_message_id<E: Encoder>(encoder: &mut E, id: Option<&str>) -> Result<(), EncodeError> {
    match id {
        None => tag::OPTION_NONE.encode(encoder),
        Some(id) => {
            tag::OPTION_SOME.encode(encoder)?;
            encode_bytes(encoder, id.as_bytes())
        }
    }
}

/// What schema 2 added to a record (`system`, `message_id`), read when the bytes are schema 2;
/// a schema-1 record has none (`false`, `None`).
pub(super) fn decode_schema2<D: Decoder>(
    decoder: &mut D,
    schema: u16,
    with_system: bool,
) -> Result<(bool, Option<String>), DecodeError> {
    if schema < 2 {
        return Ok((false, None));
    }
    let system = if with_system { bool::decode(decoder)? } else { false };
    let message_id = decode_option(decoder, |d| decode_string(d, RECORD_BYTES_MAX, "message id"))?;
    Ok((system, message_id))
}

impl<Context> Decode<Context> for Record {
    /// A record of the current schema ([`super::SCHEMA_VERSION`]).
    fn decode<D: Decoder<Context = Context>>(decoder: &mut D) -> Result<Self, DecodeError> {
        decode_record(decoder, super::SCHEMA_VERSION)
    }
}

/// A record written under `schema` (1 or 2: the caller has checked it is one this build reads).
pub(crate) fn decode_record<D: Decoder>(decoder: &mut D, schema: u16) -> Result<Record, DecodeError> {
    const ALLOWED: AllowedEnumVariants =
        AllowedEnumVariants::Range { min: tag::RECORD_IDENTIFY as u32, max: tag::RECORD_UNLINK as u32 };
    let found = u8::decode(decoder)?;
    match found {
        tag::RECORD_IDENTIFY => {
            let uid = decode_option(decoder, Uid::decode)?;
            let cid = Cid::decode(decoder)?;
            let attrs = decode_map(decoder, 0)?;
            let ts = decode_ts(decoder)?;
            let (_, message_id) = decode_schema2(decoder, schema, false)?;
            Ok(Record::Identify { uid, cid, attrs, ts, message_id })
        }
        tag::RECORD_RESET => Ok(Record::Reset { uid: Uid::decode(decoder)?, ts: decode_ts(decoder)? }),
        tag::RECORD_EVENT => {
            let target = Target::decode(decoder)?;
            let name = decode_string(decoder, RECORD_BYTES_MAX, "event name")?;
            let props = decode_map(decoder, 0)?;
            let session_id = decode_option(decoder, |d| decode_string(d, RECORD_BYTES_MAX, "session id"))?;
            let ts = decode_ts(decoder)?;
            let (system, message_id) = decode_schema2(decoder, schema, true)?;
            Ok(Record::Event { target, name, props, session_id, ts, system, message_id })
        }
        tag::RECORD_ATTRIBUTES => {
            let target = Target::decode(decoder)?;
            let set = decode_map(decoder, 0)?;
            let set_once = decode_map(decoder, 0)?;
            let len = decode_len(decoder, VALUE_ENTRIES_MAX, "unset keys")?;
            let mut unset = Vec::with_capacity(len.min(LIST_RESERVE_MAX));
            for _ in 0..len {
                unset.push(decode_string(decoder, VALUE_KEY_BYTES_MAX, "unset key")?);
            }
            let ts = decode_ts(decoder)?;
            let (system, message_id) = decode_schema2(decoder, schema, true)?;
            Ok(Record::Attributes { target, set, set_once, unset, ts, system, message_id })
        }
        tag::RECORD_MERGE => Ok(Record::Merge { from: Cid::decode(decoder)?, into: Cid::decode(decoder)? }),
        tag::RECORD_UNMERGE => Ok(Record::Unmerge { cid: Cid::decode(decoder)? }),
        tag::RECORD_UNLINK => Ok(Record::Unlink { uid: Uid::decode(decoder)?, cid: Cid::decode(decoder)? }),
        _ => Err(DecodeError::UnexpectedVariant { type_name: "Record", allowed: &ALLOWED, found: u32::from(found) }),
    }
}
bincode::impl_borrow_decode!(Record);

impl Encode for Entry {
    fn encode<E: Encoder>(&self, encoder: &mut E) -> Result<(), EncodeError> {
        self.appended_at.encode(encoder)?;
        self.record.encode(encoder)
    }
}

impl<Context> Decode<Context> for Entry {
    /// An entry of the current schema ([`super::SCHEMA_VERSION`]).
    fn decode<D: Decoder<Context = Context>>(decoder: &mut D) -> Result<Self, DecodeError> {
        decode_entry_of(decoder, super::SCHEMA_VERSION)
    }
}

/// An entry written under `schema` (one this build reads).
pub(crate) fn decode_entry_of<D: Decoder>(decoder: &mut D, schema: u16) -> Result<Entry, DecodeError> {
    Ok(Entry { appended_at: Timestamp::decode(decoder)?, record: decode_record(decoder, schema)? })
}
bincode::impl_borrow_decode!(Entry);
