//! The data model of idres: identifiers, values, the records of the log, the id rules of the
//! fold, and the one codec that turns entries into bytes.
//!
//! - [`id`]: [`Uid`] (device, canonicalised to 16 bytes when it is a UUID) and [`Cid`]
//!   (customer, byte-exact), with the malformed-id rules of SEMANTICS §6.
//! - [`validate`]: the blocked-value list and [`IdValidator`], the verdict the fold gives each id
//!   (`invalid_id` or `blocked_value`).
//! - [`value`]: [`Value`] and [`Map`], JSON-like, totally ordered, with limits.
//! - [`record`]: [`Record`], [`Entry`], [`Timestamp`] and the shape checks of the edge.
//! - [`codec`]: schema version, codec id, and `encode_entry` / `decode_entry`.
//! - [`limits`]: every size limit, named.
//!
//! **Architecture invariant:** this crate does no I/O, reads no clock and knows nothing of the
//! log's framing; bytes are produced and consumed only in [`codec`]. Decoding never validates
//! ids (the fold must be able to reject a malformed id found in a log), but it does hold every
//! length and nesting depth to its limit before allocating or recursing.

pub mod codec;
pub mod id;
pub mod limits;
pub mod record;
pub mod validate;
pub mod value;

pub use codec::{
    decode_entry, decode_entry_with_schema, encode_entry, encode_entry_into, CodecError, CODEC_ID, SCHEMA_VERSION,
};
pub use id::{Cid, IdError, IdKind, Uid};
pub use record::{Entry, Record, RecordError, RecordKind, Target, Timestamp};
pub use validate::{BlockedList, IdRejection, IdValidator};
pub use value::{Map, Value, ValueError};
