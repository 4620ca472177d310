//! Attribute and property values: a small, JSON-like, totally ordered value type.
//!
//! Owns: [`Value`], [`Map`], their equality / order and the value limits check
//! ([`Value::validate`]). Does not own: bytes (the codec in [`crate::codec`] encodes values and
//! enforces the same limits on both sides) nor how values of different writes are joined (the
//! fold's business).

use std::cmp::Ordering;
use std::collections::BTreeMap;
use std::hash::{Hash, Hasher};

use crate::limits::{VALUE_DEPTH_MAX, VALUE_ENTRIES_MAX, VALUE_KEY_BYTES_MAX, VALUE_STRING_BYTES_MAX};

/// A map of values with sorted keys: iteration order, and so encoding, is deterministic.
pub type Map = BTreeMap<String, Value>;

/// One attribute or property value.
///
/// Equality is structural, with floats compared by their bits: `-0.0 != 0.0`, and the type is
/// `Eq`, `Ord` and `Hash` (a valid value holds no NaN; should one be built in memory, it equals
/// only a NaN of the same bits). The order is: variants in declaration order (`Null` < `Bool` <
/// `Int` < `Float` < `String` < `List` < `Map`), then contents, floats by `f64::total_cmp`.
/// An `Int` never equals a `Float`, even `1` and `1.0`.
///
/// Nothing stops building an invalid value in memory (a NaN, a string over the limit); it is
/// caught by [`Value::validate`] at the edge and by the encoder, which refuses to write it.
#[derive(Debug, Clone)]
pub enum Value {
    /// No value.
    Null,
    /// A boolean.
    Bool(bool),
    /// A signed 64-bit integer.
    Int(i64),
    /// A finite 64-bit float.
    Float(f64),
    /// UTF-8 text, at most [`VALUE_STRING_BYTES_MAX`] bytes.
    String(String),
    /// A list of at most [`VALUE_ENTRIES_MAX`] values.
    List(Vec<Value>),
    /// A map of at most [`VALUE_ENTRIES_MAX`] entries with keys of at most
    /// [`VALUE_KEY_BYTES_MAX`] bytes (an empty key is allowed inside a value).
    Map(Map),
}

/// Why a value breaks a limit of [`crate::limits`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ValueError {
    /// Lists and maps nested deeper than the limit.
    #[error("value nests lists/maps deeper than the limit of {max}")]
    TooDeep {
        /// The limit ([`VALUE_DEPTH_MAX`]).
        max: usize,
    },
    /// A map key longer than the limit.
    #[error("map key is {len} bytes long, over the limit of {max}")]
    KeyTooLong {
        /// The key's length in bytes.
        len: usize,
        /// The limit ([`VALUE_KEY_BYTES_MAX`]).
        max: usize,
    },
    /// A string longer than the limit.
    #[error("string is {len} bytes long, over the limit of {max}")]
    StringTooLong {
        /// The string's length in bytes.
        len: usize,
        /// The limit ([`VALUE_STRING_BYTES_MAX`]).
        max: usize,
    },
    /// A list or map with more entries than the limit.
    #[error("list or map has {len} entries, over the limit of {max}")]
    TooManyEntries {
        /// The number of entries.
        len: usize,
        /// The limit ([`VALUE_ENTRIES_MAX`]).
        max: usize,
    },
    /// A NaN or an infinity.
    #[error("float is not finite")]
    NonFiniteFloat,
}

impl Value {
    /// A float value, or `None` if `f` is NaN or infinite.
    pub fn float(f: f64) -> Option<Value> {
        f.is_finite().then_some(Value::Float(f))
    }

    /// Checks every limit: depth ([`VALUE_DEPTH_MAX`], see there for how depth counts), key and
    /// string lengths, entries per container, finite floats. Recursion stops at the depth limit,
    /// so even a hostile value built in memory cannot overflow the stack here.
    pub fn validate(&self) -> Result<(), ValueError> {
        self.validate_at(0)
    }

    /// `level` is the number of containers enclosing `self`.
    fn validate_at(&self, level: usize) -> Result<(), ValueError> {
        match self {
            Value::Null | Value::Bool(_) | Value::Int(_) => Ok(()),
            Value::Float(f) => check_float(*f),
            Value::String(s) => check_string(s),
            Value::List(items) => {
                check_container(level, items.len())?;
                items.iter().try_for_each(|v| v.validate_at(level + 1))
            }
            Value::Map(map) => {
                check_container(level, map.len())?;
                validate_map_entries(map, level + 1)
            }
        }
    }

    /// This value's encoded length in bytes, exactly ([`crate::codec::encode_value_into`]: a
    /// one-byte tag, fixed eight-byte lengths and numbers). The fold's attribute limits count with
    /// it ([`crate::limits::PROFILE_ATTRIBUTE_BYTES_MAX`]). Recurses as deep as the value nests
    /// (a validated value: at most [`VALUE_DEPTH_MAX`]).
    pub fn encoded_len(&self) -> usize {
        match self {
            Value::Null => 1,
            Value::Bool(_) => 2,
            Value::Int(_) | Value::Float(_) => 9,
            Value::String(s) => 9 + s.len(),
            Value::List(items) => items.iter().fold(9usize, |n, v| n.saturating_add(v.encoded_len())),
            Value::Map(map) => {
                map.iter().fold(9usize, |n, (k, v)| n.saturating_add(8 + k.len()).saturating_add(v.encoded_len()))
            }
        }
    }

    /// Rank of the variant, for the order across variants.
    fn rank(&self) -> u8 {
        match self {
            Value::Null => 0,
            Value::Bool(_) => 1,
            Value::Int(_) => 2,
            Value::Float(_) => 3,
            Value::String(_) => 4,
            Value::List(_) => 5,
            Value::Map(_) => 6,
        }
    }
}

/// Checks the keys and values of a map whose values sit at `level`; the map's own entry count
/// and depth are the caller's business (a record's top-level maps have other count limits).
pub(crate) fn validate_map_entries(map: &Map, level: usize) -> Result<(), ValueError> {
    for (key, value) in map {
        check_key(key)?;
        value.validate_at(level)?;
    }
    Ok(())
}

pub(crate) fn check_float(f: f64) -> Result<(), ValueError> {
    if f.is_finite() {
        Ok(())
    } else {
        Err(ValueError::NonFiniteFloat)
    }
}

pub(crate) fn check_string(s: &str) -> Result<(), ValueError> {
    if s.len() > VALUE_STRING_BYTES_MAX {
        return Err(ValueError::StringTooLong { len: s.len(), max: VALUE_STRING_BYTES_MAX });
    }
    Ok(())
}

pub(crate) fn check_key(key: &str) -> Result<(), ValueError> {
    if key.len() > VALUE_KEY_BYTES_MAX {
        return Err(ValueError::KeyTooLong { len: key.len(), max: VALUE_KEY_BYTES_MAX });
    }
    Ok(())
}

/// A container enclosed by `level` others has depth at least `level + 1`.
pub(crate) fn check_container(level: usize, entries: usize) -> Result<(), ValueError> {
    if level >= VALUE_DEPTH_MAX {
        return Err(ValueError::TooDeep { max: VALUE_DEPTH_MAX });
    }
    if entries > VALUE_ENTRIES_MAX {
        return Err(ValueError::TooManyEntries { len: entries, max: VALUE_ENTRIES_MAX });
    }
    Ok(())
}

impl PartialEq for Value {
    fn eq(&self, other: &Value) -> bool {
        match (self, other) {
            (Value::Null, Value::Null) => true,
            (Value::Bool(a), Value::Bool(b)) => a == b,
            (Value::Int(a), Value::Int(b)) => a == b,
            (Value::Float(a), Value::Float(b)) => a.to_bits() == b.to_bits(),
            (Value::String(a), Value::String(b)) => a == b,
            (Value::List(a), Value::List(b)) => a == b,
            (Value::Map(a), Value::Map(b)) => a == b,
            _ => false,
        }
    }
}

impl Eq for Value {}

impl Ord for Value {
    fn cmp(&self, other: &Value) -> Ordering {
        match (self, other) {
            (Value::Null, Value::Null) => Ordering::Equal,
            (Value::Bool(a), Value::Bool(b)) => a.cmp(b),
            (Value::Int(a), Value::Int(b)) => a.cmp(b),
            // total_cmp is Equal exactly when the bits are equal, so this agrees with `eq`.
            (Value::Float(a), Value::Float(b)) => a.total_cmp(b),
            (Value::String(a), Value::String(b)) => a.cmp(b),
            (Value::List(a), Value::List(b)) => a.cmp(b),
            (Value::Map(a), Value::Map(b)) => a.cmp(b),
            _ => self.rank().cmp(&other.rank()),
        }
    }
}

impl PartialOrd for Value {
    fn partial_cmp(&self, other: &Value) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Hash for Value {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.rank().hash(state);
        match self {
            Value::Null => {}
            Value::Bool(b) => b.hash(state),
            Value::Int(i) => i.hash(state),
            Value::Float(f) => f.to_bits().hash(state),
            Value::String(s) => s.hash(state),
            Value::List(items) => items.hash(state),
            Value::Map(map) => map.hash(state),
        }
    }
}

impl From<bool> for Value {
    fn from(b: bool) -> Value {
        Value::Bool(b)
    }
}

impl From<i64> for Value {
    fn from(i: i64) -> Value {
        Value::Int(i)
    }
}

/// Integers that always fit in an `i64`.
macro_rules! value_from_int {
    ($($t:ty),*) => {$(
        impl From<$t> for Value {
            fn from(i: $t) -> Value {
                Value::Int(i64::from(i))
            }
        }
    )*};
}

value_from_int!(i8, i16, i32, u8, u16, u32);

/// A float value, refused if it is NaN or infinite ([`ValueError::NonFiniteFloat`]).
///
/// `TryFrom`, not `From`: a valid [`Value`] holds only finite floats, and an infallible
/// conversion would let a NaN through to the edge, where the whole record is refused far from the
/// line that made the float (or, unchecked, to the encoder). With `TryFrom` the caller meets the
/// error where the float is made: `Value::try_from(x)?` (an `idres::EngineError` converts from a
/// [`ValueError`]). [`Value::float`] is the same check returning an `Option`.
impl TryFrom<f64> for Value {
    type Error = ValueError;

    fn try_from(f: f64) -> Result<Value, ValueError> {
        check_float(f).map(|()| Value::Float(f))
    }
}

/// `None` is [`Value::Null`]; `Some(v)` is `v`'s value.
impl<T: Into<Value>> From<Option<T>> for Value {
    fn from(v: Option<T>) -> Value {
        v.map_or(Value::Null, Into::into)
    }
}

/// A [`Value::List`] of the items' values: `["a", "b"].into_iter().collect::<Value>()`.
impl<T: Into<Value>> FromIterator<T> for Value {
    fn from_iter<I: IntoIterator<Item = T>>(items: I) -> Value {
        Value::List(items.into_iter().map(Into::into).collect())
    }
}

impl From<&str> for Value {
    fn from(s: &str) -> Value {
        Value::String(s.to_owned())
    }
}

impl From<String> for Value {
    fn from(s: String) -> Value {
        Value::String(s)
    }
}

impl From<Vec<Value>> for Value {
    fn from(items: Vec<Value>) -> Value {
        Value::List(items)
    }
}

impl From<Map> for Value {
    fn from(map: Map) -> Value {
        Value::Map(map)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `depth` nested lists around a scalar.
    fn nested(depth: usize) -> Value {
        (0..depth).fold(Value::Int(1), |v, _| Value::List(vec![v]))
    }

    fn check(value: Value, expected: Result<(), ValueError>) {
        assert_eq!(value.validate(), expected, "{value:?}");
    }

    #[test]
    fn depth_limit_is_inclusive() {
        check(nested(0), Ok(()));
        check(nested(VALUE_DEPTH_MAX), Ok(()));
        check(nested(VALUE_DEPTH_MAX + 1), Err(ValueError::TooDeep { max: VALUE_DEPTH_MAX }));
        // Empty containers count as one level.
        let empty_at_limit = (1..VALUE_DEPTH_MAX).fold(Value::Map(Map::new()), |v, _| Value::List(vec![v]));
        check(empty_at_limit.clone(), Ok(()));
        check(Value::List(vec![empty_at_limit]), Err(ValueError::TooDeep { max: VALUE_DEPTH_MAX }));
    }

    #[test]
    fn depth_counts_maps_and_lists_alike() {
        let mut v = Value::Null;
        for i in 0..=VALUE_DEPTH_MAX {
            v = if i % 2 == 0 { Value::Map(Map::from([("k".to_owned(), v)])) } else { Value::List(vec![v]) };
        }
        check(v, Err(ValueError::TooDeep { max: VALUE_DEPTH_MAX }));
    }

    #[test]
    fn key_length_limit() {
        let map_with_key = |len: usize| Value::Map(Map::from([("k".repeat(len), Value::Null)]));
        check(map_with_key(0), Ok(()));
        check(map_with_key(VALUE_KEY_BYTES_MAX), Ok(()));
        check(
            map_with_key(VALUE_KEY_BYTES_MAX + 1),
            Err(ValueError::KeyTooLong { len: VALUE_KEY_BYTES_MAX + 1, max: VALUE_KEY_BYTES_MAX }),
        );
    }

    #[test]
    fn string_length_limit_counts_bytes() {
        check(Value::from("x".repeat(VALUE_STRING_BYTES_MAX)), Ok(()));
        check(
            Value::from("x".repeat(VALUE_STRING_BYTES_MAX + 1)),
            Err(ValueError::StringTooLong { len: VALUE_STRING_BYTES_MAX + 1, max: VALUE_STRING_BYTES_MAX }),
        );
        // 'ß' is two bytes: half as many characters reach the same byte limit.
        check(
            Value::from("ß".repeat(VALUE_STRING_BYTES_MAX / 2 + 1)),
            Err(ValueError::StringTooLong { len: VALUE_STRING_BYTES_MAX + 2, max: VALUE_STRING_BYTES_MAX }),
        );
    }

    #[test]
    fn entries_limit() {
        let too_many = Err(ValueError::TooManyEntries { len: VALUE_ENTRIES_MAX + 1, max: VALUE_ENTRIES_MAX });
        check(Value::List(vec![Value::Null; VALUE_ENTRIES_MAX]), Ok(()));
        check(Value::List(vec![Value::Null; VALUE_ENTRIES_MAX + 1]), too_many.clone());
        let map = |n: usize| Value::Map((0..n).map(|i| (i.to_string(), Value::Null)).collect());
        check(map(VALUE_ENTRIES_MAX), Ok(()));
        check(map(VALUE_ENTRIES_MAX + 1), too_many);
    }

    #[test]
    fn non_finite_floats_are_rejected_anywhere() {
        for f in [f64::NAN, f64::INFINITY, f64::NEG_INFINITY] {
            check(Value::Float(f), Err(ValueError::NonFiniteFloat));
            check(
                Value::Map(Map::from([("a".to_owned(), Value::List(vec![Value::Float(f)]))])),
                Err(ValueError::NonFiniteFloat),
            );
            assert_eq!(Value::float(f), None);
        }
        for f in [0.0, -0.0, f64::MIN_POSITIVE, f64::MAX, f64::MIN, 5e-324] {
            check(Value::Float(f), Ok(()));
        }
    }

    #[test]
    fn floats_compare_by_bits() {
        assert_ne!(Value::Float(0.0), Value::Float(-0.0));
        assert!(Value::Float(-0.0) < Value::Float(0.0));
        assert_eq!(Value::Float(1.5), Value::Float(1.5));
        assert_ne!(Value::Int(1), Value::Float(1.0));
    }

    #[test]
    fn order_is_by_variant_then_content() {
        let ascending = [
            Value::Null,
            Value::Bool(false),
            Value::Bool(true),
            Value::Int(i64::MIN),
            Value::Int(7),
            Value::Float(-1.0),
            Value::Float(2.0),
            Value::from("a"),
            Value::from("b"),
            Value::List(vec![]),
            Value::List(vec![Value::Null]),
            Value::Map(Map::new()),
        ];
        for pair in ascending.windows(2) {
            assert!(pair[0] < pair[1], "{:?} < {:?}", pair[0], pair[1]);
        }
    }

    #[test]
    fn conversions() {
        assert_eq!(Value::from(true), Value::Bool(true));
        assert_eq!(Value::from(-7i64), Value::Int(-7));
        assert_eq!(Value::from(-7i32), Value::Int(-7));
        assert_eq!(Value::from(u32::MAX), Value::Int(4_294_967_295));
        assert_eq!(Value::from(200u8), Value::Int(200));
        assert_eq!(Value::from("a"), Value::String("a".to_owned()));
        assert_eq!(Value::from(String::from("a")), Value::String("a".to_owned()));
        assert_eq!(Value::from(vec![Value::Null]), Value::List(vec![Value::Null]));
        assert_eq!(Value::from(Map::new()), Value::Map(Map::new()));
        assert_eq!(Value::from(None::<i64>), Value::Null);
        assert_eq!(Value::from(Some("x")), Value::from("x"));
        assert_eq!(["a", "b"].into_iter().collect::<Value>(), Value::List(vec![Value::from("a"), Value::from("b")]));
        assert_eq!(Value::try_from(1.5), Ok(Value::Float(1.5)));
        assert_eq!(Value::try_from(-0.0), Ok(Value::Float(-0.0)));
        for f in [f64::NAN, f64::INFINITY, f64::NEG_INFINITY] {
            assert_eq!(Value::try_from(f), Err(ValueError::NonFiniteFloat));
        }
    }
}
