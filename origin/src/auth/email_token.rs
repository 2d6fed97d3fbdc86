//! Better Auth's email verification token: a stateless HS256 JWT signed with the raw
//! secret, `{email, updateTo?, requestType?, iat, exp}`, one hour by default. Nothing is
//! stored: a Better Auth server on the same secret accepts the links edgeauth mails, and
//! the other way round.
//!
//! HS256 appears nowhere else: this is a separate token type with its own key use (the
//! EdDSA JWTs of the token crate never accept it, and this module accepts nothing else).

use chrono::{DateTime, Utc};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};

/// `requestType` of the first (current address) step of a confirmed email change.
pub const CHANGE_EMAIL_CONFIRMATION: &str = "change-email-confirmation";
/// `requestType` of the new-address step of an email change.
pub const CHANGE_EMAIL_VERIFICATION: &str = "change-email-verification";

/// What a verification token says.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EmailClaims {
    /// The (lower-cased) address the user has now.
    pub email: String,
    /// The address to change to (email change flows).
    #[serde(rename = "updateTo", default, skip_serializing_if = "Option::is_none")]
    pub update_to: Option<String>,
    /// Which email change step this is.
    #[serde(
        rename = "requestType",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub request_type: Option<String>,
}

#[derive(Serialize, Deserialize)]
struct Wire {
    #[serde(flatten)]
    claims: EmailClaims,
    iat: i64,
    exp: i64,
}

/// Why a token is refused; the two reasons Better Auth tells apart.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EmailTokenError {
    /// Genuine but past `exp` (`token_expired`).
    Expired,
    /// Anything else: malformed, forged, another algorithm (`invalid_token`).
    Invalid,
}

/// Signs `claims`, issued at `now`, valid for `expires_in` seconds.
pub fn sign(
    secret: &str,
    claims: &EmailClaims,
    now: DateTime<Utc>,
    expires_in: u64,
) -> Result<String, jsonwebtoken::errors::Error> {
    let iat = now.timestamp();
    let wire = Wire {
        claims: claims.clone(),
        iat,
        exp: iat.saturating_add(i64::try_from(expires_in).unwrap_or(i64::MAX)),
    };
    jsonwebtoken::encode(
        &Header::new(Algorithm::HS256),
        &wire,
        &EncodingKey::from_secret(secret.as_bytes()),
    )
}

/// Verifies `token` (signature first, HS256 only) and its expiry at `now`, with no leeway,
/// as Better Auth's `jwtVerify` does.
pub fn verify(
    secret: &str,
    token: &str,
    now: DateTime<Utc>,
) -> Result<EmailClaims, EmailTokenError> {
    let mut validation = Validation::new(Algorithm::HS256);
    // Expiry is checked below against the server's clock (a parameter, for tests).
    validation.validate_exp = false;
    validation.required_spec_claims.clear();
    let data = jsonwebtoken::decode::<Wire>(
        token,
        &DecodingKey::from_secret(secret.as_bytes()),
        &validation,
    )
    .map_err(|_| EmailTokenError::Invalid)?;
    if now.timestamp() >= data.claims.exp {
        return Err(EmailTokenError::Expired);
    }
    Ok(data.claims.claims)
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64ct::{Base64UrlUnpadded, Encoding};

    const SECRET: &str = "a-secret-a-secret-a-secret-a-secret";

    fn claims() -> EmailClaims {
        EmailClaims {
            email: "a@example.com".into(),
            update_to: None,
            request_type: None,
        }
    }

    #[test]
    fn round_trip_and_expiry_without_leeway() {
        let now = Utc::now();
        let token = sign(SECRET, &claims(), now, 3600).unwrap();
        assert_eq!(verify(SECRET, &token, now).unwrap(), claims());
        let almost = now + chrono::Duration::seconds(3599);
        assert!(verify(SECRET, &token, almost).is_ok());
        let expired = now + chrono::Duration::seconds(3600);
        assert_eq!(
            verify(SECRET, &token, expired),
            Err(EmailTokenError::Expired)
        );
    }

    #[test]
    fn forged_tampered_and_other_algorithms_are_invalid() {
        let now = Utc::now();
        let token = sign(SECRET, &claims(), now, 3600).unwrap();
        let other = sign("another-secret-another-secret-00", &claims(), now, 3600).unwrap();
        assert_eq!(verify(SECRET, &other, now), Err(EmailTokenError::Invalid));
        let mut tampered = token.clone().into_bytes();
        let i = tampered.len() - 3;
        tampered[i] = if tampered[i] == b'A' { b'B' } else { b'A' };
        let tampered = String::from_utf8(tampered).unwrap();
        assert_eq!(
            verify(SECRET, &tampered, now),
            Err(EmailTokenError::Invalid)
        );
        // alg "none" with the same payload.
        let payload = token.split('.').nth(1).unwrap();
        let none = format!(
            "{}.{payload}.",
            Base64UrlUnpadded::encode_string(br#"{"alg":"none"}"#)
        );
        assert_eq!(verify(SECRET, &none, now), Err(EmailTokenError::Invalid));
        assert_eq!(verify(SECRET, "", now), Err(EmailTokenError::Invalid));
        // An expired forgery is invalid, not expired: the signature is checked first.
        let late = now + chrono::Duration::seconds(7200);
        assert_eq!(verify(SECRET, &other, late), Err(EmailTokenError::Invalid));
    }

    #[test]
    fn the_payload_is_better_auths() {
        let now = DateTime::from_timestamp(1_800_000_000, 0).unwrap();
        let claims = EmailClaims {
            email: "old@example.com".into(),
            update_to: Some("new@example.com".into()),
            request_type: Some(CHANGE_EMAIL_VERIFICATION.into()),
        };
        let token = sign(SECRET, &claims, now, 3600).unwrap();
        let payload = token.split('.').nth(1).unwrap();
        let json: serde_json::Value =
            serde_json::from_slice(&Base64UrlUnpadded::decode_vec(payload).unwrap()).unwrap();
        assert_eq!(
            json,
            serde_json::json!({"email": "old@example.com", "updateTo": "new@example.com",
                "requestType": "change-email-verification", "iat": 1_800_000_000i64, "exp": 1_800_003_600i64})
        );
    }
}
