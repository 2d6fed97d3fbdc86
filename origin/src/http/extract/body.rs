//! Request bodies: JSON (and, where Better Auth allows it, form-encoded), read within a size
//! limit, and fields checked with zod-style messages (`[body.email] Invalid input: expected
//! string, received number`) so clients see Better Auth's `VALIDATION_ERROR`s.
//!
//! Every body read as an object is refused when any string in it (a value at any depth, or
//! a field name) holds a NUL character: PostgreSQL cannot store NUL in text, so such a
//! string would otherwise fail deep in a query with a 500, and SQLite would store it for
//! every reader that stops at the first NUL to misread. One check here covers every
//! endpoint and every hosted page's form.

use axum::body::Bytes;
use axum::extract::{FromRequest, Request};
use axum::http::{header, HeaderMap, StatusCode};
use serde_json::{Map, Value};

use crate::http::error::{messages, ApiError};

/// Largest request body accepted, in bytes.
pub const MAX_BODY_BYTES: usize = 64 * 1024;

/// A request body read in full (within [`MAX_BODY_BYTES`]) with the request's headers.
pub struct RawBody {
    bytes: Bytes,
    content_type: String,
}

impl<S: Send + Sync> FromRequest<S> for RawBody {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        let content_type = content_type(req.headers());
        let bytes = Bytes::from_request(req, state).await.map_err(|rejection| {
            if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
                ApiError::new(StatusCode::PAYLOAD_TOO_LARGE, messages::PAYLOAD_TOO_LARGE)
            } else {
                ApiError::validation("[body] Invalid input: the body could not be read")
            }
        })?;
        Ok(RawBody {
            bytes,
            content_type,
        })
    }
}

fn content_type(headers: &HeaderMap) -> String {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase()
}

impl RawBody {
    /// The body as a JSON object. `allow_form`: also accept
    /// `application/x-www-form-urlencoded` (Better Auth's sign-in and sign-up do).
    /// An empty body reads as an empty object when `empty_ok`. A string holding NUL anywhere
    /// in it is refused (see [`refuse_nul`]).
    pub fn object(&self, allow_form: bool, empty_ok: bool) -> Result<Map<String, Value>, ApiError> {
        let map = self.parse(allow_form, empty_ok)?;
        refuse_nul(&map)?;
        Ok(map)
    }

    /// [`RawBody::object`], but a body that cannot be read as an object answers `unreadable`
    /// instead (update-user's `BODY_MUST_BE_AN_OBJECT`); a field refused for holding NUL
    /// keeps its own error, which names the field.
    pub fn object_or(
        &self,
        allow_form: bool,
        empty_ok: bool,
        unreadable: ApiError,
    ) -> Result<Map<String, Value>, ApiError> {
        let map = self.parse(allow_form, empty_ok).map_err(|_| unreadable)?;
        refuse_nul(&map)?;
        Ok(map)
    }

    fn parse(&self, allow_form: bool, empty_ok: bool) -> Result<Map<String, Value>, ApiError> {
        if self.bytes.is_empty() {
            return if empty_ok {
                Ok(Map::new())
            } else {
                Err(ApiError::validation(
                    "[body] Invalid input: expected object, received undefined",
                ))
            };
        }
        match self.content_type.as_str() {
            "application/x-www-form-urlencoded" if allow_form => {
                let pairs: Vec<(String, String)> = serde_urlencoded::from_bytes(&self.bytes)
                    .map_err(|_| ApiError::validation("[body] Invalid input: malformed form"))?;
                let mut map = Map::new();
                for (name, value) in pairs {
                    if map.insert(name, Value::String(value)).is_some() {
                        return Err(ApiError::validation(
                            "[body] Invalid input: repeated form field",
                        ));
                    }
                }
                Ok(map)
            }
            "application/json" | "" => match serde_json::from_slice::<Value>(&self.bytes) {
                Ok(Value::Object(map)) => Ok(map),
                Ok(other) => Err(ApiError::validation(format!(
                    "[body] Invalid input: expected object, received {}",
                    type_name(Some(&other))
                ))),
                Err(_) => Err(ApiError::validation("[body] Invalid input: malformed JSON")),
            },
            _ => Err(ApiError::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                messages::UNSUPPORTED_MEDIA_TYPE,
            )),
        }
    }
}

/// Whether any string in `value` (at any depth, object member names included) holds NUL.
fn holds_nul(value: &Value) -> bool {
    match value {
        Value::String(s) => s.contains('\0'),
        Value::Array(items) => items.iter().any(holds_nul),
        Value::Object(map) => map.iter().any(|(k, v)| k.contains('\0') || holds_nul(v)),
        Value::Null | Value::Bool(_) | Value::Number(_) => false,
    }
}

/// Refuses a body holding NUL in any string: 400 `VALIDATION_ERROR`
/// `[body.<field>] Invalid input: contains a NUL character`, naming the top-level field
/// (or `[body]` when a field name itself holds NUL, so the answer never echoes one).
pub fn refuse_nul(body: &Map<String, Value>) -> Result<(), ApiError> {
    for (field, value) in body {
        if field.contains('\0') {
            return Err(ApiError::validation(
                "[body] Invalid input: a field name contains a NUL character",
            ));
        }
        if holds_nul(value) {
            return Err(ApiError::validation(format!(
                "[body.{field}] Invalid input: contains a NUL character"
            )));
        }
    }
    Ok(())
}

/// zod's name for a JSON value's type.
pub fn type_name(value: Option<&Value>) -> &'static str {
    match value {
        None => "undefined",
        Some(Value::Null) => "null",
        Some(Value::Bool(_)) => "boolean",
        Some(Value::Number(_)) => "number",
        Some(Value::String(_)) => "string",
        Some(Value::Array(_)) => "array",
        Some(Value::Object(_)) => "object",
    }
}

fn wrong_type(field: &str, expected: &str, got: Option<&Value>) -> ApiError {
    ApiError::validation(format!(
        "[body.{field}] Invalid input: expected {expected}, received {}",
        type_name(got)
    ))
}

/// A required string field.
pub fn required_str<'a>(body: &'a Map<String, Value>, field: &str) -> Result<&'a str, ApiError> {
    match body.get(field) {
        Some(Value::String(s)) => Ok(s),
        other => Err(wrong_type(field, "string", other)),
    }
}

/// An optional string field (absent or `null` is `None`).
pub fn optional_str<'a>(
    body: &'a Map<String, Value>,
    field: &str,
) -> Result<Option<&'a str>, ApiError> {
    match body.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        other => Err(wrong_type(field, "string", other)),
    }
}

/// An optional boolean field; the strings `"true"`/`"false"` count (form bodies).
pub fn optional_bool(body: &Map<String, Value>, field: &str) -> Result<Option<bool>, ApiError> {
    match body.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Bool(b)) => Ok(Some(*b)),
        Some(Value::String(s)) if s == "true" => Ok(Some(true)),
        Some(Value::String(s)) if s == "false" => Ok(Some(false)),
        other => Err(wrong_type(field, "boolean", other)),
    }
}

/// Longest local part of an address (before the `@`), in octets: RFC 5321 §4.5.3.1.1.
pub const MAX_EMAIL_LOCAL_OCTETS: usize = 64;
/// Longest address, in octets: RFC 5321's 256-octet path less its two angle brackets
/// (RFC 3696 erratum 1690). Longer addresses cannot receive mail, and one of some
/// thousands of characters overflows PostgreSQL's unique index on `email` (a 500).
pub const MAX_EMAIL_OCTETS: usize = 254;
/// Longest `name` (sign-up, update-user and the hosted pages), in characters as
/// JavaScript counts them.
pub const MAX_NAME_LENGTH: usize = 256;
/// Longest `image` URL (sign-up, update-user), in characters as JavaScript counts them:
/// 2048, the longest URL browsers have long been counted on to handle.
pub const MAX_IMAGE_LENGTH: usize = 2048;

/// Whether `value` is at most `max` characters long as JavaScript (and so zod) counts
/// them: in UTF-16 code units.
pub fn within_length(value: &str, max: usize) -> bool {
    // A UTF-16 code unit never takes fewer than one byte of UTF-8: short strings need no
    // counting.
    value.len() <= max || value.encode_utf16().count() <= max
}

/// zod's `.max(max)` on a string field: 400 `VALIDATION_ERROR`
/// `[body.<field>] Too big: expected string to have <=<max> characters`.
pub fn check_length(field: &str, value: &str, max: usize) -> Result<(), ApiError> {
    if within_length(value, max) {
        Ok(())
    } else {
        Err(ApiError::validation(format!(
            "[body.{field}] Too big: expected string to have <={max} characters"
        )))
    }
}

/// zod 4's email check: `^(?!\.)(?!.*\.\.)([A-Za-z0-9_'+\-\.]*)[A-Za-z0-9_+-]@([A-Za-z0-9][A-Za-z0-9\-]*\.)+[A-Za-z]{2,}$`,
/// written out by hand (one function instead of a regex engine in the server), and RFC
/// 5321's lengths ([`MAX_EMAIL_LOCAL_OCTETS`], [`MAX_EMAIL_OCTETS`]), which zod does not
/// check. This is the one email check: every endpoint and page that takes an address uses
/// it.
pub fn is_valid_email(email: &str) -> bool {
    if email.len() > MAX_EMAIL_OCTETS {
        return false;
    }
    let Some((local, domain)) = email.split_once('@') else {
        return false;
    };
    if local.len() > MAX_EMAIL_LOCAL_OCTETS {
        return false;
    }
    if email.starts_with('.') || email.contains("..") || domain.contains('@') {
        return false;
    }
    let local_ok = local
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || "_'+-.".contains(c))
        && local
            .chars()
            .last()
            .is_some_and(|c| c.is_ascii_alphanumeric() || "_+-".contains(c));
    let labels: Vec<&str> = domain.split('.').collect();
    let Some((tld, hosts)) = labels.split_last() else {
        return false;
    };
    let domain_ok = !hosts.is_empty()
        && hosts.iter().all(|label| {
            label
                .chars()
                .next()
                .is_some_and(|c| c.is_ascii_alphanumeric())
                && label.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
        })
        && tld.len() >= 2
        && tld.chars().all(|c| c.is_ascii_alphabetic());
    local_ok && domain_ok
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn email_check_matches_zod() {
        for ok in [
            "a@b.co",
            "first.last+tag@sub.example.com",
            "o'neil@example.org",
            "x_y-z@a-b.io",
        ] {
            assert!(is_valid_email(ok), "{ok}");
        }
        for bad in [
            "",
            "a",
            "a@",
            "@b.co",
            "a@b",
            "a@b.c",
            ".a@b.co",
            "a.@b.co",
            "a..b@c.co",
            "a@-b.co",
            "a@b..co",
            "a@b.c0",
            "a b@c.co",
            "a@b@c.co",
            "a@b.co.",
            "ä@b.co",
        ] {
            assert!(!is_valid_email(bad), "{bad}");
        }
    }

    fn json(text: &str) -> RawBody {
        RawBody {
            bytes: Bytes::from(text.to_string()),
            content_type: "application/json".into(),
        }
    }

    #[test]
    fn nul_anywhere_in_a_body_is_refused_naming_the_field() {
        for (body, message) in [
            (
                r#"{"name":"a\u0000b"}"#,
                "[body.name] Invalid input: contains a NUL character",
            ),
            (
                r#"{"ok":"x","image":["fine","\u0000"]}"#,
                "[body.image] Invalid input: contains a NUL character",
            ),
            (
                r#"{"nested":{"deep":{"k":"v\u0000"}}}"#,
                "[body.nested] Invalid input: contains a NUL character",
            ),
            (
                r#"{"nested":{"k\u0000":1}}"#,
                "[body.nested] Invalid input: contains a NUL character",
            ),
            (
                r#"{"a\u0000":"x"}"#,
                "[body] Invalid input: a field name contains a NUL character",
            ),
        ] {
            let err = json(body).object(false, false).unwrap_err();
            assert_eq!(err.code(), Some("VALIDATION_ERROR"), "{body}");
            assert_eq!(err.message(), Some(message), "{body}");
        }
        let form = RawBody {
            bytes: Bytes::from_static(b"name=a%00b&email=x"),
            content_type: "application/x-www-form-urlencoded".into(),
        };
        assert_eq!(
            form.object(true, false).unwrap_err().message(),
            Some("[body.name] Invalid input: contains a NUL character")
        );
        // Other control characters, and the text `\0` or `%00` inside JSON, are fine.
        let fine = json(r#"{"name":"tab\there","note":"%00 and \\0"}"#);
        assert_eq!(fine.object(false, false).unwrap().len(), 2);
    }

    #[test]
    fn update_users_refusal_keeps_the_nul_error() {
        let unreadable = || ApiError::validation("unreadable");
        assert_eq!(
            json("[1]")
                .object_or(false, false, unreadable())
                .unwrap_err()
                .message(),
            Some("unreadable")
        );
        assert_eq!(
            json(r#"{"name":"\u0000"}"#)
                .object_or(false, false, unreadable())
                .unwrap_err()
                .message(),
            Some("[body.name] Invalid input: contains a NUL character")
        );
    }

    #[test]
    fn email_lengths_follow_rfc_5321() {
        let local = |n: usize| "a".repeat(n);
        assert!(is_valid_email(&format!("{}@example.com", local(64))));
        assert!(!is_valid_email(&format!("{}@example.com", local(65))));
        assert!(!is_valid_email(&format!("{}@example.com", local(3000))));
        // 254 octets in all: a 64-octet local part, `@`, and a 189-octet domain.
        let domain = |n: usize| format!("{}.{}.com", "b".repeat(63), "c".repeat(n - 68));
        assert_eq!(domain(189).len(), 189);
        let longest = format!("{}@{}", local(64), domain(189));
        assert_eq!(longest.len(), 254);
        assert!(is_valid_email(&longest));
        let too_long = format!("{}@{}", local(64), domain(190));
        assert_eq!(too_long.len(), 255);
        assert!(!is_valid_email(&too_long));
        assert!(!is_valid_email(&format!("a@{}.com", "b".repeat(59_990))));
    }

    #[test]
    fn lengths_count_as_javascript_does() {
        assert!(within_length(&"x".repeat(256), 256));
        assert!(!within_length(&"x".repeat(257), 256));
        // Two bytes of UTF-8, one UTF-16 unit: 256 fit.
        assert!(within_length(&"é".repeat(256), 256));
        // Four bytes of UTF-8, two UTF-16 units: 128 fit, 129 do not.
        assert!(within_length(&"😀".repeat(128), 256));
        assert!(!within_length(&"😀".repeat(129), 256));
        let err = check_length("name", &"x".repeat(257), MAX_NAME_LENGTH).unwrap_err();
        assert_eq!(err.code(), Some("VALIDATION_ERROR"));
        assert_eq!(
            err.message(),
            Some("[body.name] Too big: expected string to have <=256 characters")
        );
        assert!(check_length("image", &"i".repeat(2048), MAX_IMAGE_LENGTH).is_ok());
    }

    #[test]
    fn field_errors_read_like_zod() {
        let body: Map<String, Value> =
            serde_json::from_str(r#"{"email":1,"flag":"yes","name":null}"#).unwrap();
        let err = required_str(&body, "email").unwrap_err();
        assert_eq!(err.code(), Some("VALIDATION_ERROR"));
        assert!(required_str(&body, "password").is_err());
        assert_eq!(optional_str(&body, "name").unwrap(), None);
        assert!(optional_bool(&body, "flag").is_err());
    }
}
