//! The data model of idres: identifiers, values, the records of the log, the id rules of the
//! fold, and the one codec that turns entries into bytes.
//!
//! - [`id`]: [`Uid`] (device, canonicalised to 16 bytes when it is a UUID) and [`Cid`]
//!   (customer, byte-exact), with the malformed-id rules of SEMANTICS §6.
//! - [`validate`]: the blocked-value list and [`IdValidator`], the verdict the fold gives each id
//!   (`invalid_id` or `blocked_value`).
//! - [`value`]: [`Value`] and [`Map`], JSON-like, totally ordered, with limits.
//! - [`record`]: [`Record`], [`Entry`], [`Timestamp`] and the shape checks of the edge.
//! - [`time`]: RFC 3339 text of timestamps ([`Timestamp::parse_rfc3339`],
//!   [`Timestamp::to_rfc3339`]).
//! - [`codec`]: schema version, codec id, and `encode_entry` / `decode_entry`.
//! - [`limits`]: every size limit, named.
//!
//! **Architecture invariant:** this crate does no I/O, reads no clock and knows nothing of the
//! log's framing; bytes are produced and consumed only in [`codec`]. Decoding never validates
//! ids (the fold must be able to reject a malformed id found in a log), but it does hold every
//! length and nesting depth to its limit before allocating or recursing.

//!
//! ```
//! use idres_model::{decode_entry, encode_entry, Cid, Entry, IdValidator, Map, Record, Timestamp, Uid};
//!
//! // UUIDs in any form are one device; the edge validates ids before anything is appended.
//! let uid = Uid::parse("{6BA7B810-9DAD-11D1-80B4-00C04FD430C8}").unwrap();
//! assert_eq!(uid.to_string(), "6ba7b810-9dad-11d1-80b4-00c04fd430c8");
//! let cid = Cid::parse("customer-42").unwrap();
//!
//! let entry = Entry {
//!     appended_at: Timestamp::from_micros(1_700_000_000_000_000),
//!     record: Record::Identify { uid: Some(uid), cid, attrs: Map::new(), ts: None, message_id: None },
//! };
//! let bytes = encode_entry(&entry).unwrap();
//! assert_eq!(decode_entry(&bytes).unwrap(), entry);
//!
//! // Placeholder ids are a rule of the fold: they are valid on the wire but blocked.
//! let blocked = Cid::parse("'null'").unwrap();
//! assert_eq!(IdValidator::default().check_cid(&blocked).unwrap_err().reason(), "blocked_value");
//! ```

pub mod codec;
pub mod id;
pub mod limits;
pub mod profile;
pub mod record;
mod record_shape;
pub mod shapes;
pub mod time;
pub mod validate;
pub mod value;

pub use codec::{
    decode_entry, decode_entry_with_schema, decode_profile, decode_value_prefix, encode_entry, encode_entry_into,
    encode_profile_into, encode_profile_ref_into, encode_record_entry_into, encode_value_into, event_view,
    reads_schema, record_view, set_encoded_appended_at, CodecError, EntryView, EventView, KeysView, KeysViewIter,
    MapView, MapViewIter, RecordView, TargetView, ValueView, APPENDED_AT_BYTES, CODEC_ID, SCHEMA_VERSION,
    SCHEMA_VERSION_OLDEST,
};
pub use id::{Cid, IdError, IdExcerpt, IdKind, Uid, UidView, ID_EXCERPT_CHARS};
pub use profile::{DeviceInfo, DeviceInfoRef, DeviceRef, Profile, ProfileKind, ProfileRef, SessionsSummary};
pub use record::{Entry, Record, RecordError, RecordKind, Target, Timestamp};
pub use shapes::HistoryEvent;
pub use time::TimeError;
pub use validate::{BlockedEntryError, BlockedList, IdRejection, IdValidator, NIL_UUID};
pub use value::{Map, Value, ValueError};
