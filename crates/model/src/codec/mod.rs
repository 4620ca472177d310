//! The one place where entries become bytes and bytes become entries.
//!
//! Owns: the schema version, the codec id, the bincode configuration, the tag bytes ([`tag`]) and
//! the limits applied while reading. Does not own: framing, checksums or batching (the log's
//! business; it stores these bytes as opaque payloads with the schema version beside them), nor
//! validity of ids and shapes (a decoded entry is what was written, see [`crate::validate`]).
//!
//! The encoding is bincode 2.0.1 native with [`CONFIG`]: little-endian, fixed-width integers,
//! every length a `u64`. Each tag is a single `u8`, listed in [`tag`]; docs/FORMAT.md ("Record
//! payload") spells out the layout byte by byte. Changing any byte of it requires a
//! new [`SCHEMA_VERSION`]; the committed fixtures in `tests/fixtures/` catch an accidental change.
//!
//! **Canonical:** every entry has exactly one encoding. Map keys must be strictly increasing,
//! booleans and option tags are 0 or 1, floats finite, nothing may follow the entry; so
//! `encode(decode(bytes)) == bytes` for every input that decodes.

mod cursor;
mod profile_wire;
mod record_view;
mod view;
mod wire;

pub use record_view::{record_view, EntryView, KeysView, KeysViewIter, MapView, MapViewIter, RecordView, ValueView};
pub use view::{event_view, EventView, TargetView};

use bincode::config::{Configuration, Fixint, Limit, LittleEndian};
use bincode::de::read::Reader;
use bincode::de::{Decode, Decoder, DecoderImpl};
use bincode::enc::write::Writer;
use bincode::enc::{Encode, EncoderImpl};
use bincode::error::{DecodeError, EncodeError};

use crate::limits::RECORD_BYTES_MAX;
use crate::record::{Entry, Record, Timestamp};
use crate::value::Value;

/// Version of the record schema these functions write. Stored by the log beside each batch; any
/// change of the encoded layout must bump it and keep reading the old ones
/// ([`SCHEMA_VERSION_OLDEST`]..=[`SCHEMA_VERSION`]). Schema 2 added `message_id` to identify,
/// event and attributes records and `system` to events and attributes (docs/FORMAT.md).
pub const SCHEMA_VERSION: u16 = 2;

/// The oldest record schema this build reads: a schema-1 record reads as the same record with
/// `system: false, message_id: None`.
pub const SCHEMA_VERSION_OLDEST: u16 = 1;

/// True if this build reads records stored under `schema`.
pub const fn reads_schema(schema: u16) -> bool {
    schema >= SCHEMA_VERSION_OLDEST && schema <= SCHEMA_VERSION
}

/// Identifies the codec: 1 = bincode 2.0.1 native encoding with [`CONFIG`]. Stored in log
/// segment headers.
pub const CODEC_ID: u16 = 1;

/// The bincode configuration type of [`CONFIG`].
pub type CodecConfig = Configuration<LittleEndian, Fixint, Limit<RECORD_BYTES_MAX>>;

/// The one bincode configuration of record payloads: little-endian, fixed-width integers, and a
/// decode limit of [`RECORD_BYTES_MAX`] bytes.
///
/// Memory: no claimed length is allocated before it is checked against its limit and the bytes
/// that remain, so decoding `n` bytes allocates at most about `32 × n` bytes (the worst case is a
/// list of nulls: one input byte per 32-byte `Value`), i.e. at most ~32 MiB for the largest
/// record. `tests/alloc_bound.rs` measures this with a counting allocator.
pub const CONFIG: CodecConfig =
    bincode::config::standard().with_little_endian().with_fixed_int_encoding().with_limit::<{ RECORD_BYTES_MAX }>();

/// The bincode configuration of stored profiles (the store's values): as [`CONFIG`], with the
/// decode limit [`crate::limits::PROFILE_BYTES_MAX`].
pub type ProfileConfig = Configuration<LittleEndian, Fixint, Limit<{ crate::limits::PROFILE_BYTES_MAX }>>;

/// See [`ProfileConfig`].
pub const PROFILE_CONFIG: ProfileConfig = bincode::config::standard()
    .with_little_endian()
    .with_fixed_int_encoding()
    .with_limit::<{ crate::limits::PROFILE_BYTES_MAX }>();

/// The tag bytes of the encoding. They are part of the on-disk format: never renumber one.
pub mod tag {
    /// `Option::None`.
    pub const OPTION_NONE: u8 = 0;
    /// `Option::Some`, followed by the value.
    pub const OPTION_SOME: u8 = 1;

    /// A uid in UUID form, followed by its 16 bytes.
    pub const UID_UUID: u8 = 0;
    /// A uid in text form, followed by a `u64` length and the bytes.
    pub const UID_TEXT: u8 = 1;

    /// A target naming a uid.
    pub const TARGET_UID: u8 = 0;
    /// A target naming a cid.
    pub const TARGET_CID: u8 = 1;

    /// `Value::Null`.
    pub const VALUE_NULL: u8 = 0;
    /// `Value::Bool`, followed by one byte 0 or 1.
    pub const VALUE_BOOL: u8 = 1;
    /// `Value::Int`, followed by an `i64`.
    pub const VALUE_INT: u8 = 2;
    /// `Value::Float`, followed by the `f64`'s bits as a `u64`.
    pub const VALUE_FLOAT: u8 = 3;
    /// `Value::String`, followed by a `u64` length and UTF-8 bytes.
    pub const VALUE_STRING: u8 = 4;
    /// `Value::List`, followed by a `u64` count and the values.
    pub const VALUE_LIST: u8 = 5;
    /// `Value::Map`, followed by a `u64` count and (key, value) pairs, keys strictly increasing.
    pub const VALUE_MAP: u8 = 6;

    /// `Record::Identify`. Record tags start at 1 so that a zero-filled buffer is no record.
    pub const RECORD_IDENTIFY: u8 = 1;
    /// `Record::Reset`.
    pub const RECORD_RESET: u8 = 2;
    /// `Record::Event`.
    pub const RECORD_EVENT: u8 = 3;
    /// `Record::Attributes`.
    pub const RECORD_ATTRIBUTES: u8 = 4;
    /// `Record::Merge`.
    pub const RECORD_MERGE: u8 = 5;
    /// `Record::Unmerge`.
    pub const RECORD_UNMERGE: u8 = 6;
    /// `Record::Unlink`.
    pub const RECORD_UNLINK: u8 = 7;
}

/// What went wrong while encoding or decoding an entry.
#[derive(Debug, thiserror::Error)]
pub enum CodecError {
    /// The entry is larger than [`RECORD_BYTES_MAX`] (when encoding), or the input is (when
    /// decoding, checked before anything is read).
    #[error("entry is {len} bytes, over the limit of {max}")]
    TooLarge {
        /// The size in bytes.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// The entry cannot be encoded because a value breaks a value limit (the same limits the
    /// decoder enforces).
    #[error("cannot encode entry: {}", encode_message(.source))]
    Encode {
        /// What bincode or the value check said.
        source: EncodeError,
    },
    /// The bytes are not a valid entry.
    #[error("cannot decode entry (failed after {offset} bytes): {}", decode_message(.source))]
    Decode {
        /// How many bytes had been read when the failure was found.
        offset: usize,
        /// What was wrong.
        source: DecodeError,
    },
    /// A valid entry was followed by more bytes.
    #[error("{trailing} trailing bytes after an entry of {consumed} bytes", trailing = .len - .consumed)]
    TrailingBytes {
        /// The size of the entry.
        consumed: usize,
        /// The size of the input.
        len: usize,
    },
    /// The bytes were written under a schema this build does not read.
    #[error("unsupported record schema version {found} (this build reads versions {oldest}..={supported})")]
    UnsupportedSchema {
        /// The schema the bytes claim.
        found: u16,
        /// The newest this build reads ([`SCHEMA_VERSION`]).
        supported: u16,
        /// The oldest this build reads ([`SCHEMA_VERSION_OLDEST`]).
        oldest: u16,
    },
}

/// Our own checks report through `Other` / `OtherString`; show their text without the variant
/// wrapper (bincode's `Display` is its `Debug`).
fn decode_message(error: &DecodeError) -> String {
    match error {
        DecodeError::Other(message) => (*message).to_owned(),
        DecodeError::OtherString(message) => message.clone(),
        other => format!("{other:?}"),
    }
}

/// As [`decode_message`], for the value-limit errors the encoder reports.
fn encode_message(error: &EncodeError) -> String {
    match error {
        EncodeError::Other(message) => (*message).to_owned(),
        EncodeError::OtherString(message) => message.clone(),
        other => format!("{other:?}"),
    }
}

/// Appends into a caller's buffer, but stops storing past `limit` while still counting, so an
/// oversized value costs no memory and its exact size can be reported.
struct BoundedAppend<'a> {
    buf: &'a mut Vec<u8>,
    written: usize,
    limit: usize,
}

impl Writer for BoundedAppend<'_> {
    fn write(&mut self, bytes: &[u8]) -> Result<(), EncodeError> {
        self.written = self.written.saturating_add(bytes.len());
        if self.written <= self.limit {
            self.buf.extend_from_slice(bytes);
        }
        Ok(())
    }
}

/// Encodes an entry into a new buffer.
///
/// Fails (never panics) if the entry is over [`RECORD_BYTES_MAX`] or holds a value that breaks a
/// value limit.
pub fn encode_entry(entry: &Entry) -> Result<Vec<u8>, CodecError> {
    let mut buf = Vec::new();
    encode_entry_into(entry, &mut buf)?;
    Ok(buf)
}

/// Appends the encoding of an entry to `buf`, for building a batch without a buffer per entry.
/// On error `buf` is left exactly as it was.
pub fn encode_entry_into(entry: &Entry, buf: &mut Vec<u8>) -> Result<(), CodecError> {
    encode_record_entry_into(entry.appended_at, &entry.record, buf)
}

/// Appends the encoding of the entry `(appended_at, record)` to `buf`, the same bytes as
/// [`encode_entry_into`] without building the [`Entry`] (a caller checking a record it keeps).
/// On error `buf` is left exactly as it was.
pub fn encode_record_entry_into(appended_at: Timestamp, record: &Record, buf: &mut Vec<u8>) -> Result<(), CodecError> {
    encode_bounded(buf, RECORD_BYTES_MAX, CONFIG, |e| {
        appended_at.encode(e)?;
        record.encode(e)
    })
}

/// The bytes an entry's `appended_at` takes at the start of its encoding.
pub const APPENDED_AT_BYTES: usize = 8;

/// Overwrites the `appended_at` of an encoded entry (its first [`APPENDED_AT_BYTES`] bytes,
/// a little-endian `i64`), so a record can be encoded before the time it is appended at is
/// known. `false` (and nothing written) if `entry` is shorter than that.
pub fn set_encoded_appended_at(entry: &mut [u8], appended_at: Timestamp) -> bool {
    match entry.get_mut(..APPENDED_AT_BYTES) {
        Some(head) => {
            head.copy_from_slice(&appended_at.as_micros().to_le_bytes());
            true
        }
        None => false,
    }
}

/// Encodes with `encode` into `buf` under `config`, refusing (and leaving `buf` as it was) an
/// encoding that fails or comes out longer than `limit`; an oversized one costs no memory.
fn encode_bounded<C: bincode::config::Config>(
    buf: &mut Vec<u8>,
    limit: usize,
    config: C,
    encode: impl FnOnce(&mut EncoderImpl<BoundedAppend<'_>, C>) -> Result<(), EncodeError>,
) -> Result<(), CodecError> {
    let start = buf.len();
    let mut encoder = EncoderImpl::new(BoundedAppend { buf: &mut *buf, written: 0, limit }, config);
    let encoded = encode(&mut encoder);
    let written = encoder.into_writer().written;
    let result = match encoded {
        Err(source) => Err(CodecError::Encode { source }),
        Ok(()) if written > limit => Err(CodecError::TooLarge { len: written, max: limit }),
        Ok(()) => Ok(()),
    };
    if result.is_err() {
        buf.truncate(start);
    }
    result
}

/// Decodes with `decode` from `bytes`, which it must fill exactly; input over `limit` is refused
/// before anything is read.
fn decode_exact<C: bincode::config::Config, T>(
    bytes: &[u8],
    limit: usize,
    config: C,
    decode: impl FnOnce(&mut DecoderImpl<PositionedReader<'_>, C, ()>) -> Result<T, DecodeError>,
) -> Result<T, CodecError> {
    if bytes.len() > limit {
        return Err(CodecError::TooLarge { len: bytes.len(), max: limit });
    }
    let mut decoder = DecoderImpl::new(PositionedReader { bytes, pos: 0 }, config, ());
    let decoded = decode(&mut decoder);
    let consumed = decoder.reader().pos;
    match decoded {
        Err(source) => Err(CodecError::Decode { offset: consumed, source }),
        Ok(_) if consumed != bytes.len() => Err(CodecError::TrailingBytes { consumed, len: bytes.len() }),
        Ok(value) => Ok(value),
    }
}

/// A slice reader that knows its position, so that a decode error can say where it happened.
struct PositionedReader<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl PositionedReader<'_> {
    fn window(&self, n: usize) -> Option<&[u8]> {
        self.bytes.get(self.pos..self.pos.checked_add(n)?)
    }
}

impl Reader for PositionedReader<'_> {
    fn read(&mut self, out: &mut [u8]) -> Result<(), DecodeError> {
        match self.window(out.len()) {
            Some(src) => {
                out.copy_from_slice(src);
                self.pos += out.len();
                Ok(())
            }
            None => {
                Err(DecodeError::UnexpectedEnd { additional: out.len().saturating_sub(self.bytes.len() - self.pos) })
            }
        }
    }

    fn peek_read(&mut self, n: usize) -> Option<&[u8]> {
        self.window(n)
    }

    fn consume(&mut self, n: usize) {
        self.pos = self.pos.saturating_add(n).min(self.bytes.len());
    }
}

/// Decodes one entry written under [`SCHEMA_VERSION`] that must fill `bytes` exactly.
///
/// Input longer than [`RECORD_BYTES_MAX`] is refused before anything is read. Ids are not
/// validated (see [`crate::Uid::from_wire_bytes`]); values are held to their limits.
pub fn decode_entry(bytes: &[u8]) -> Result<Entry, CodecError> {
    decode_exact(bytes, RECORD_BYTES_MAX, CONFIG, |d| Entry::decode(d))
}

/// Appends the encoding of one value to `buf`: the same bytes a record carries it in. Snapshots
/// and digests use it so that values become bytes in one place only. On error `buf` is unchanged.
pub fn encode_value_into(value: &Value, buf: &mut Vec<u8>) -> Result<(), CodecError> {
    encode_bounded(buf, RECORD_BYTES_MAX, CONFIG, |e| value.encode(e))
}

/// Decodes one value from the start of `bytes` (what follows it is left alone) and returns it
/// with the number of bytes it took. Holds the value limits like [`decode_entry`].
pub fn decode_value_prefix(bytes: &[u8]) -> Result<(Value, usize), CodecError> {
    let mut decoder = DecoderImpl::new(PositionedReader { bytes, pos: 0 }, CONFIG, ());
    let decoded = Value::decode(&mut decoder);
    let consumed = decoder.reader().pos;
    match decoded {
        Err(source) => Err(CodecError::Decode { offset: consumed, source }),
        Ok(value) => Ok((value, consumed)),
    }
}

/// Appends a stored profile to `buf`: every field of `profile` but its history (the store keeps
/// none; history stays in the fold). Fails on a profile over the profile limits; on error `buf`
/// is unchanged.
pub fn encode_profile_into(profile: &crate::profile::Profile, buf: &mut Vec<u8>) -> Result<(), CodecError> {
    encode_profile_ref_into(&profile.borrowed(), buf)
}

/// Appends a stored profile given borrowed ([`crate::ProfileRef`]): the bytes
/// [`encode_profile_into`] writes for the equal [`crate::Profile`]. Fails as it does, and on
/// attributes or event names out of order; on error `buf` is unchanged.
pub fn encode_profile_ref_into(profile: &crate::profile::ProfileRef<'_>, buf: &mut Vec<u8>) -> Result<(), CodecError> {
    encode_bounded(buf, crate::limits::PROFILE_BYTES_MAX, PROFILE_CONFIG, |e| profile_wire::encode_profile(e, profile))
}

/// Decodes a stored profile that fills `bytes` exactly; its `history` is empty.
pub fn decode_profile(bytes: &[u8]) -> Result<crate::profile::Profile, CodecError> {
    decode_exact(bytes, crate::limits::PROFILE_BYTES_MAX, PROFILE_CONFIG, |d| profile_wire::decode_profile(d))
}

/// Decodes one entry whose bytes were stored as written under `schema`
/// ([`SCHEMA_VERSION_OLDEST`]..=[`SCHEMA_VERSION`] are readable by this build), with the checks
/// of [`decode_entry`]. Each schema's encoding is canonical in itself.
pub fn decode_entry_with_schema(schema: u16, bytes: &[u8]) -> Result<Entry, CodecError> {
    if !reads_schema(schema) {
        return Err(CodecError::UnsupportedSchema {
            found: schema,
            supported: SCHEMA_VERSION,
            oldest: SCHEMA_VERSION_OLDEST,
        });
    }
    decode_exact(bytes, RECORD_BYTES_MAX, CONFIG, |d| wire::decode_entry_of(d, schema))
}
