//! Every size limit of the data model, named once.
//!
//! Owns: the numbers. Each limit is enforced where its data enters: ids by
//! [`crate::id`] validation, values by [`crate::Value::validate`] and by the codec on both sides,
//! record shapes by [`crate::Record::validate_shape`], profile attributes by the fold
//! (`idres-resolve`, as `limit` rejections) so that every profile it makes fits the store
//! ([`PROFILE_WORST_CASE_BYTES`]). Does not own: resolver limits such as devices per profile,
//! which are configuration of the fold.
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

/// Longest message id of a record (record schema 2: Segment `messageId`, PostHog `uuid`), in
/// bytes (ids are 1..=this, without control characters).
pub const MESSAGE_ID_BYTES_MAX: usize = 256;

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

/// Most attributes a stored profile may carry. The fold holds it: a record that would give a
/// profile (the sum over its nodes of their attribute keys) more is rejected with reason `limit`.
pub const PROFILE_ATTRIBUTES_MAX: usize = 65_536;

/// Most attribute bytes one profile may hold, as [`attribute_bytes`] measures them, summed over
/// every value each of its nodes keeps (a node's cell may keep a `set_once` or two besides its
/// winning value). The fold holds it, like [`PROFILE_ATTRIBUTES_MAX`]: an attributes or identify
/// record, a link or a merge that would take a profile past it is rejected with reason `limit`.
/// A single value can be far larger than its bytes of text (a list of 1024 maps), so values are
/// measured by their encoding, not by their strings.
pub const PROFILE_ATTRIBUTE_BYTES_MAX: usize = 5 * 1024 * 1024;

/// What the worst-case arithmetic below charges for the tags, lengths and numbers around one id
/// or name (the codec writes a one-byte tag and eight-byte lengths, epochs and counts).
pub const ID_OVERHEAD_BYTES: usize = 32;

/// The bytes attribute `key` with `value` takes in an encoded profile, exactly: the key's
/// eight-byte length, its bytes, and [`crate::Value::encoded_len`].
pub fn attribute_bytes(key: &str, value: &crate::Value) -> usize {
    (8 + key.len()).saturating_add(value.encoded_len())
}

/// Most distinct event names a stored profile may carry. The fold does not cap event names per
/// profile yet; a profile past this cannot be stored and the store reports it.
pub const PROFILE_EVENT_NAMES_MAX: usize = 65_536;

/// Most cids or devices a stored profile may list (well above the fold's default limits of 100
/// customers and 1000 devices per profile).
pub const PROFILE_IDS_MAX: usize = 1 << 20;

/// An upper bound of the largest encoded profile at every limit at once, by the default resolver limits of 100
/// customers and 1000 devices per profile (each id charged its longest length and an overhead),
/// every attribute byte, and every event name at its longest with its count. Tested against the
/// profile codec in `tests/profile_codec.rs`.
/// (Fixed fields: version, id, kind, option tags, counts and times, the sessions summary: under
/// 128 bytes. Each device's first / last seen and event count: three overheads. Its system
/// attributes are in the attribute bytes: the fold counts them in the same budget.)
pub const PROFILE_WORST_CASE_BYTES: usize = 128
    + 100 * (CID_BYTES_MAX + ID_OVERHEAD_BYTES)
    + 1000 * (UID_BYTES_MAX + 4 * ID_OVERHEAD_BYTES)
    + PROFILE_ATTRIBUTE_BYTES_MAX
    + PROFILE_EVENT_NAMES_MAX * (EVENT_NAME_BYTES_MAX + ID_OVERHEAD_BYTES);

const _: () = assert!(PROFILE_WORST_CASE_BYTES <= PROFILE_BYTES_MAX, "a profile at every limit must fit the store");
