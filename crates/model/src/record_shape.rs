//! The shape rules a record is held to at the edge, ids aside (SEMANTICS "Limits"):
//! [`RecordError`] and the checks [`crate::Record::validate_shape`] makes.

#[cfg(doc)]
use crate::limits::VALUE_ENTRIES_MAX;
use crate::limits::{
    ATTRIBUTE_KEYS_PER_RECORD_MAX, EVENT_NAME_BYTES_MAX, MESSAGE_ID_BYTES_MAX, SESSION_ID_BYTES_MAX,
    VALUE_KEY_BYTES_MAX,
};
use crate::value::{Map, ValueError};

/// Why a record's shape is refused at the edge (ids aside).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RecordError {
    /// An event name of zero bytes.
    #[error("event name is empty")]
    EventNameEmpty,
    /// An event name over the limit.
    #[error("event name is {len} bytes long, over the limit of {max}")]
    EventNameTooLong {
        /// Its length in bytes.
        len: usize,
        /// The limit ([`EVENT_NAME_BYTES_MAX`]).
        max: usize,
    },
    /// An event name with a control character.
    #[error("event name contains control character U+{code_point:04X} at byte offset {offset}")]
    EventNameControlCharacter {
        /// The first control character.
        code_point: u32,
        /// Its byte offset.
        offset: usize,
    },
    /// A present but empty session id (absent is `None`).
    #[error("session id is empty")]
    SessionIdEmpty,
    /// A session id with a control character.
    #[error("session id contains control character U+{code_point:04X} at byte offset {offset}")]
    SessionIdControlCharacter {
        /// The first control character.
        code_point: u32,
        /// Its byte offset.
        offset: usize,
    },
    /// A session id over the limit.
    #[error("session id is {len} bytes long, over the limit of {max}")]
    SessionIdTooLong {
        /// Its length in bytes.
        len: usize,
        /// The limit ([`SESSION_ID_BYTES_MAX`]).
        max: usize,
    },
    /// More attribute keys than one record may carry.
    #[error("record carries {count} attribute keys, over the limit of {max}")]
    TooManyAttributeKeys {
        /// set + set_once + unset, or attrs.
        count: usize,
        /// The limit ([`ATTRIBUTE_KEYS_PER_RECORD_MAX`]).
        max: usize,
    },
    /// More event properties than the limit.
    #[error("event carries {count} properties, over the limit of {max}")]
    TooManyProperties {
        /// The number of properties.
        count: usize,
        /// The limit ([`VALUE_ENTRIES_MAX`]).
        max: usize,
    },
    /// A present but empty message id (absent is `None`).
    #[error("message id is empty")]
    MessageIdEmpty,
    /// A message id over the limit.
    #[error("message id is {len} bytes long, over the limit of {max}")]
    MessageIdTooLong {
        /// Its length in bytes.
        len: usize,
        /// The limit ([`MESSAGE_ID_BYTES_MAX`]).
        max: usize,
    },
    /// A message id with a control character.
    #[error("message id contains control character U+{code_point:04X} at byte offset {offset}")]
    MessageIdControlCharacter {
        /// The first control character.
        code_point: u32,
        /// Its byte offset.
        offset: usize,
    },
    /// System attributes written to a customer: they belong to a device.
    #[error("system attributes belong to a device: the target must be a uid, not a cid")]
    SystemAttributesOnCustomer,
    /// An empty attribute or property key.
    #[error("{field} has an empty key")]
    KeyEmpty {
        /// The field: `attrs`, `props`, `set`, `set_once` or `unset`.
        field: &'static str,
    },
    /// An attribute or property key over the limit.
    #[error("{field} has a key of {len} bytes, over the limit of {max}")]
    KeyTooLong {
        /// The field: `attrs`, `props`, `set`, `set_once` or `unset`.
        field: &'static str,
        /// The key's length in bytes.
        len: usize,
        /// The limit ([`VALUE_KEY_BYTES_MAX`]).
        max: usize,
    },
    /// A value that breaks a value limit.
    #[error("{field}[{key:?}]: {source}")]
    Value {
        /// The field: `attrs`, `props`, `set` or `set_once`.
        field: &'static str,
        /// The key of the offending value.
        key: String,
        /// What is wrong with it.
        source: ValueError,
    },
}

pub(crate) fn check_attribute_count(count: usize) -> Result<(), RecordError> {
    if count > ATTRIBUTE_KEYS_PER_RECORD_MAX {
        return Err(RecordError::TooManyAttributeKeys { count, max: ATTRIBUTE_KEYS_PER_RECORD_MAX });
    }
    Ok(())
}

pub(crate) fn check_event_name(name: &str) -> Result<(), RecordError> {
    if name.is_empty() {
        return Err(RecordError::EventNameEmpty);
    }
    if name.len() > EVENT_NAME_BYTES_MAX {
        return Err(RecordError::EventNameTooLong { len: name.len(), max: EVENT_NAME_BYTES_MAX });
    }
    if let Some((offset, c)) = name.char_indices().find(|(_, c)| c.is_control()) {
        return Err(RecordError::EventNameControlCharacter { code_point: u32::from(c), offset });
    }
    Ok(())
}

pub(crate) fn check_session_id(session_id: &str) -> Result<(), RecordError> {
    if session_id.is_empty() {
        return Err(RecordError::SessionIdEmpty);
    }
    if session_id.len() > SESSION_ID_BYTES_MAX {
        return Err(RecordError::SessionIdTooLong { len: session_id.len(), max: SESSION_ID_BYTES_MAX });
    }
    if let Some((offset, c)) = session_id.char_indices().find(|(_, c)| c.is_control()) {
        return Err(RecordError::SessionIdControlCharacter { code_point: u32::from(c), offset });
    }
    Ok(())
}

pub(crate) fn check_message_id(id: &str) -> Result<(), RecordError> {
    if id.is_empty() {
        return Err(RecordError::MessageIdEmpty);
    }
    if id.len() > MESSAGE_ID_BYTES_MAX {
        return Err(RecordError::MessageIdTooLong { len: id.len(), max: MESSAGE_ID_BYTES_MAX });
    }
    if let Some((offset, c)) = id.char_indices().find(|(_, c)| c.is_control()) {
        return Err(RecordError::MessageIdControlCharacter { code_point: u32::from(c), offset });
    }
    Ok(())
}

pub(crate) fn check_key(field: &'static str, key: &str) -> Result<(), RecordError> {
    if key.is_empty() {
        return Err(RecordError::KeyEmpty { field });
    }
    if key.len() > VALUE_KEY_BYTES_MAX {
        return Err(RecordError::KeyTooLong { field, len: key.len(), max: VALUE_KEY_BYTES_MAX });
    }
    Ok(())
}

/// Keys and values of a record's top-level map; its entry count is checked by the caller.
pub(crate) fn check_map(field: &'static str, map: &Map) -> Result<(), RecordError> {
    for (key, value) in map {
        check_key(field, key)?;
        value.validate().map_err(|source| RecordError::Value { field, key: key.clone(), source })?;
    }
    Ok(())
}
