//! Strict JSON: `serde_json`, but an object with a repeated member name is an error.
//!
//! RFC 7515/7519 let parsers take the lexically last duplicate, which is exactly how two
//! parsers (edge and origin, or a proxy and an app) come to disagree about one token:
//! `{"alg":"EdDSA",...,"alg":"none"}`. `serde_json::Value` silently keeps the last member, so
//! this module supplies the one visitor that refuses duplicates at every nesting level.
//! Depth stays bounded by `serde_json`'s recursion limit (128), so deep nesting is an error,
//! not a stack overflow.

use alloc::string::String;
use core::fmt;

use serde::de::{self, Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::map::Entry;
use serde_json::{Map, Number, Value};

/// Parses one JSON document, rejecting duplicate object members anywhere in it.
///
/// Also rejects everything `serde_json` rejects: trailing data, a byte-order mark, invalid
/// UTF-8, lone surrogates, comments, trailing commas, non-finite numbers.
pub(crate) fn parse(bytes: &[u8]) -> Result<Value, serde_json::Error> {
    serde_json::from_slice::<Strict>(bytes).map(|s| s.0)
}

struct Strict(Value);

impl<'de> Deserialize<'de> for Strict {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(StrictVisitor).map(Strict)
    }
}

struct StrictVisitor;

impl<'de> Visitor<'de> for StrictVisitor {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value without duplicate object members")
    }

    fn visit_bool<E>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }

    fn visit_i64<E>(self, v: i64) -> Result<Value, E> {
        Ok(Value::Number(v.into()))
    }

    fn visit_u64<E>(self, v: u64) -> Result<Value, E> {
        Ok(Value::Number(v.into()))
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Value, E> {
        Number::from_f64(v)
            .map(Value::Number)
            .ok_or_else(|| E::custom("non-finite number"))
    }

    fn visit_str<E>(self, v: &str) -> Result<Value, E> {
        Ok(Value::String(v.into()))
    }

    fn visit_string<E>(self, v: String) -> Result<Value, E> {
        Ok(Value::String(v))
    }

    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_none<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut items = alloc::vec::Vec::new();
        while let Some(Strict(item)) = seq.next_element()? {
            items.push(item);
        }
        Ok(Value::Array(items))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut access: A) -> Result<Value, A::Error> {
        let mut map = Map::new();
        while let Some(key) = access.next_key::<String>()? {
            match map.entry(key) {
                Entry::Occupied(_) => return Err(de::Error::custom("duplicate object member")),
                Entry::Vacant(slot) => {
                    let Strict(value) = access.next_value()?;
                    slot.insert(value);
                }
            }
        }
        Ok(Value::Object(map))
    }
}

#[cfg(test)]
mod tests {
    use super::parse;

    #[test]
    fn duplicates_are_rejected_at_every_level() {
        assert!(parse(br#"{"a":1,"a":1}"#).is_err());
        assert!(parse(br#"{"a":{"b":1,"b":2}}"#).is_err());
        assert!(parse(br#"[{"b":1,"b":2}]"#).is_err());
        assert!(parse(br#"{"a":{"b":1},"c":{"b":2}}"#).is_ok());
    }

    #[test]
    fn non_json_is_rejected() {
        for bad in [
            &b"\xef\xbb\xbf{}"[..],
            b"{} {}",
            b"{\"a\":1,}",
            b"{/*c*/}",
            b"{\"a\":\"\\ud800\"}",
            b"{\"a\":\"\xff\"}",
            b"{\"a\":1e309}",
            b"",
        ] {
            assert!(parse(bad).is_err(), "accepted {bad:?}");
        }
    }

    #[test]
    fn deep_nesting_is_an_error_not_a_crash() {
        let mut deep = alloc::vec![b'['; 100_000];
        deep.extend(core::iter::repeat_n(b']', 100_000));
        assert!(parse(&deep).is_err());
    }
}
