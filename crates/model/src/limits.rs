//! Every size limit of the data model, named once.
//!
//! Owns: the numbers. Each limit is enforced where its data enters: ids by
//! [`crate::id`] validation, values by [`crate::Value::validate`] and by the codec on both sides,
//! record shapes by [`crate::Record::validate_shape`]. Does not own: resolver limits such as
//! devices per profile, which are configuration of the fold.
//!
//! All byte limits count bytes of UTF-8 (or of raw wire bytes), never characters.

/// Longest accepted UID, in bytes. A longer one is malformed (`invalid_id`).
pub const UID_BYTES_MAX: usize = 128;

/// Longest accepted CID, in bytes. A longer one is malformed (`invalid_id`).
pub const CID_BYTES_MAX: usize = 256;

/// Longest event name, in bytes (names are 1..=this).
pub const EVENT_NAME_BYTES_MAX: usize = 128;

/// Longest session id of an event, in bytes.
pub const SESSION_ID_BYTES_MAX: usize = 128;

/// Deepest nesting of lists and maps inside one [`crate::Value`].
///
/// Depth is the number of containers on the longest path from the value down to a leaf:
/// a scalar has depth 0, `[]` and `{}` have depth 1, `[[1]]` has depth 2. Each value of a
/// record's map (attrs, props, set, set_once) is measured on its own; the record's map itself
/// is not counted. A value of depth `VALUE_DEPTH_MAX` is accepted, one deeper is not. The
/// decoder enforces this before it recurses, so hostile bytes cannot exhaust the stack.
pub const VALUE_DEPTH_MAX: usize = 16;

/// Longest map key, in bytes: keys inside values and attribute / property keys of records alike.
pub const VALUE_KEY_BYTES_MAX: usize = 256;

/// Longest string value, in bytes.
pub const VALUE_STRING_BYTES_MAX: usize = 64 * 1024;

/// Most entries in one list or one map (a record's attrs / props / set / set_once maps and its
/// unset list included).
pub const VALUE_ENTRIES_MAX: usize = 1024;

/// Most attribute keys one record may carry: `set`, `set_once` and `unset` counted together
/// for an attributes record, `attrs` for an identify record.
pub const ATTRIBUTE_KEYS_PER_RECORD_MAX: usize = 256;

/// Largest encoded entry, in bytes. The codec refuses to write a larger one and refuses to read
/// a larger input; it is also the byte limit given to the decoder, so no length claimed by
/// hostile bytes can make it allocate more than this.
pub const RECORD_BYTES_MAX: usize = 1024 * 1024;

/// Largest encoded stored profile, in bytes (the store's decode limit). A profile holds up to
/// `max_customers_per_profile` cids and `max_devices_per_profile` devices, plus its attributes
/// and per-name counts; no history.
pub const PROFILE_BYTES_MAX: usize = 16 * 1024 * 1024;

/// Most attributes a stored profile may carry. The fold does not cap attribute keys per profile
/// yet; a profile past this cannot be stored and the store reports it.
pub const PROFILE_ATTRIBUTES_MAX: usize = 65_536;

/// Most distinct event names a stored profile may carry (same caveat as attributes).
pub const PROFILE_EVENT_NAMES_MAX: usize = 65_536;

/// Most cids or devices a stored profile may list (well above the fold's default limits of 100
/// customers and 1000 devices per profile).
pub const PROFILE_IDS_MAX: usize = 1 << 20;
