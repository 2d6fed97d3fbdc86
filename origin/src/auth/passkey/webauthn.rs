//! The WebAuthn verification core for passkeys in `@better-auth/passkey`'s format: the
//! options JSON `@simplewebauthn/server` 13 emits, and the checks of a registration and of
//! an authentication response, with no HTTP and no database. The caller stores the challenge
//! ([`registration_options`], [`authentication_options`]), finds the stored passkey, and keeps
//! the rows; everything in here is a pure function of its arguments (and of the OS's CSPRNG
//! for challenges).
//!
//! # Libraries
//!
//! CBOR is decoded by `ciborium` (through `coset`'s re-export `coset::cbor`, so the two always
//! agree on the version), COSE keys by Google's `coset`, and signatures are checked by the
//! RustCrypto and dalek crates the origin already builds for `jsonwebtoken` and the token
//! crate: `p256` (ES256), `ed25519-dalek` (EdDSA, `verify_strict`) and `rsa` (RS256, PKCS#1
//! v1.5). Both are small, pure Rust, and `coset` is the only crate new to `Cargo.lock`
//! (`ciborium` was there for `criterion`). The alternatives fit worse: `webauthn-rs-core`
//! (kanidm) links OpenSSL, a system dependency the project avoids (lettre uses rustls; a fresh
//! Debian would need `libssl-dev`) and a long compile, needs Rust 1.89 (the workspace is on
//! 1.85) and keeps credentials in its own serialized format rather than Better Auth's columns;
//! `passkey-types` (1Password) only describes the wire types, verifies nothing and needs Rust
//! 1.87. `coset` also keeps the COSE key as the authenticator's exact bytes, which Better Auth
//! stores (standard base64). Only the fixed binary layout of `authenticatorData` (RP ID hash,
//! flags, counter, AAGUID, credential id length and id) is read by hand; the length of the
//! COSE key that follows is what `ciborium` consumed decoding exactly one item.
//!
//! # What is checked
//!
//! Both ceremonies: `type` is `"public-key"` and `id` equals `rawId` (canonical base64url);
//! `clientDataJSON` has the ceremony's `type`, the expected challenge (compared in constant
//! time; an empty expected challenge never matches) and an origin in [`RelyingParty::origins`]
//! (exact string match; the request's `Origin` header plays no part), and is not marked
//! `crossOrigin` (a ceremony inside a foreign iframe); the RP ID hash is SHA-256 of
//! [`RelyingParty::id`]; user presence (UP) **and user verification (UV) are required**
//! (stricter than Better Auth, which asks for UV as "preferred" and accepts its absence); a
//! credential cannot be backed up (BS) without being backup eligible (BE); the authenticator
//! data holds nothing after its last field.
//!
//! Registration ([`verify_registration`]): the attestation object has a text `fmt`, a map
//! `attStmt` and the authenticator data with attested credential data (AT); the credential id
//! there equals `rawId`; the credential public key is a COSE key for ES256 (P-256), EdDSA
//! (Ed25519) or RS256 (2048 to 4096 bits), exactly the algorithms the options offer, and must
//! be a valid key (on the curve, not a small-order Ed25519 point). **Attestation statements
//! are not verified**: `"none"` must come with an empty `attStmt`; the other registered
//! formats (`packed`, `tpm`, `android-key`, `android-safetynet`, `fido-u2f`, `apple`,
//! `compound`) are accepted as if they were `"none"` (the options ask for `"none"`, and
//! browsers usually strip attestation then); any other format is refused. The AAGUID is
//! therefore the authenticator's unverified claim, for display only.
//!
//! Authentication ([`verify_authentication`]): `id` names the stored passkey; the
//! authenticator data carries no attested credential data; the signature over
//! `authenticatorData || SHA-256(clientDataJSON)` verifies with the stored COSE key (ES256:
//! ASN.1 DER, either S; EdDSA: strict RFC 8032; RS256: PKCS#1 v1.5 with SHA-256), the
//! algorithm being the key's own `alg`, never the response's; then the signature counter: if
//! either the stored or the new counter is non-zero, the new one must be strictly greater
//! (else the authenticator may have been cloned), and two zeros pass (authenticators without
//! a counter). The counter is checked only after the signature, so a refusal for it always
//! concerns a genuine assertion.
//!
//! # The JSON, as `@simplewebauthn/browser` 13 sends it
//!
//! - `id`, `rawId`: the credential id in base64url **without** padding; they must be equal
//!   and canonical. Binary fields (`clientDataJSON`, `attestationObject`,
//!   `authenticatorData`, `signature`) are base64url without padding; `=` padding is
//!   tolerated there, never `+` or `/`.
//! - `response.transports` (registration): an array of strings, kept when each is a short
//!   `[a-z0-9-]` token (unknown tokens included, for forward compatibility), joined with `,`;
//!   absent or empty gives `None`.
//! - `response.userHandle` (authentication): base64url of the `user.id` bytes given at
//!   registration (`user_handle` of [`registration_options`]); it is not used here (the
//!   caller finds the passkey by `id`), only required to be a string or null when present.
//! - `clientExtensionResults`, `authenticatorAttachment` and the extra `response` fields of
//!   L3 browsers (`publicKey`, `publicKeyAlgorithm`, `authenticatorData` beside the
//!   attestation object) are ignored: everything checked comes from the signed or attested
//!   bytes.
//!
//! The stored passkey's `publicKey` is standard base64 **with** padding of the COSE key as
//! the authenticator encoded it (Better Auth's `base64.encode(credential.publicKey)`; for the
//! canonical CTAP2 encodings authenticators use, the same bytes simplewebauthn re-encodes).
//! A row Better Auth wrote for another algorithm simplewebauthn verifies (ES384, ES512, PS*,
//! RS384/512, RS1: never offered by its options, so rare) is refused with
//! [`WebauthnError::UnsupportedAlgorithm`].
//!
//! # Left to the caller
//!
//! Using a challenge once and within its lifetime, refusing a credential id already
//! registered, binding a registration challenge to its user, and storing the new counter
//! only if the stored one has not moved meanwhile.

use base64ct::{Base64, Base64UrlUnpadded, Encoding};
use coset::cbor::value::Value as Cbor;
use coset::{iana, AsCborValue, CoseKey, KeyType, Label, RegisteredLabelWithPrivate};
use p256::ecdsa::signature::Verifier;
use rand::rngs::OsRng;
use rand::RngCore;
use serde::Deserialize;
use serde_json::{json, Map, Value};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// Random bytes in a challenge (simplewebauthn's `generateChallenge`).
pub const CHALLENGE_BYTES: usize = 32;
/// The ceremony timeout announced to the browser, in milliseconds (simplewebauthn's default).
pub const TIMEOUT_MS: u64 = 60_000;
/// COSE algorithm identifiers offered and accepted, in simplewebauthn's order: EdDSA, ES256,
/// RS256.
pub const ALGORITHMS: [i64; 3] = [-8, -7, -257];

/// Longest credential id accepted (WebAuthn: at most 1023 bytes).
const MAX_CREDENTIAL_ID: usize = 1023;
/// CBOR nesting accepted; attestation objects and COSE keys are a few levels deep.
const CBOR_DEPTH: usize = 16;
/// Smallest RSA modulus accepted, in bits (the largest is the `rsa` crate's 4096).
const MIN_RSA_BITS: usize = 2048;
/// Transports kept from one response.
const MAX_TRANSPORTS: usize = 8;
/// Longest transport token kept.
const MAX_TRANSPORT_LEN: usize = 32;

/// Authenticator data flags (WebAuthn §6.1).
pub(crate) const FLAG_UP: u8 = 0x01;
pub(crate) const FLAG_UV: u8 = 0x04;
pub(crate) const FLAG_BE: u8 = 0x08;
pub(crate) const FLAG_BS: u8 = 0x10;
pub(crate) const FLAG_AT: u8 = 0x40;
pub(crate) const FLAG_ED: u8 = 0x80;

/// Attestation formats of the WebAuthn registry, accepted (and not verified) besides `none`.
const KNOWN_FORMATS: [&str; 7] = [
    "packed",
    "tpm",
    "android-key",
    "android-safetynet",
    "fido-u2f",
    "apple",
    "compound",
];

/// The relying party, from configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RelyingParty {
    /// The RP ID, e.g. `"localhost"` or `"example.com"`: the authenticator data must carry
    /// its SHA-256.
    pub id: String,
    /// The name authenticators show.
    pub name: String,
    /// The exact origins a ceremony may come from, e.g. `"http://localhost:8787"`.
    pub origins: Vec<String>,
}

/// A stored passkey, in Better Auth's `passkey` table format.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredPasskey {
    /// `credentialID`: base64url without padding, as simplewebauthn returns it.
    pub credential_id: String,
    /// `publicKey`: standard base64 with padding of the COSE_Key bytes.
    pub public_key: String,
    /// `counter`: the last signature counter seen.
    pub counter: i64,
    /// `transports`: comma-joined, e.g. `"internal,hybrid"`.
    pub transports: Option<String>,
}

/// What a verified registration gives, in the `passkey` table's format.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Registered {
    /// `credentialID`: base64url without padding of the authenticator's credential id.
    pub credential_id: String,
    /// `publicKey`: standard base64 with padding of the COSE_Key bytes, exactly as the
    /// authenticator encoded them.
    pub public_key: String,
    /// `counter`: the signature counter at registration (often 0).
    pub counter: i64,
    /// `deviceType`: `"multiDevice"` when backup eligible (a synced passkey), else
    /// `"singleDevice"`.
    pub device_type: String,
    /// `backedUp`: whether the credential is backed up now.
    pub backed_up: bool,
    /// `transports`: the browser's hints, comma-joined; `None` when it gave none.
    pub transports: Option<String>,
    /// `aaguid`: the authenticator model as UUID text (lowercase, hyphenated; all zeros when
    /// the browser anonymised it). Always present after a registration; unverified (see the
    /// module documentation), for display only.
    pub aaguid: Option<String>,
}

/// What a verified authentication gives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Asserted {
    /// The passkey's credential id (the stored one).
    pub credential_id: String,
    /// The signature counter to store.
    pub new_counter: i64,
    /// Whether the credential is backed up now (BS).
    pub backed_up: bool,
}

/// Why a response was refused. Each refusal is its own variant (the reason belongs in logs;
/// clients get Better Auth's generic message). No variant carries a secret or any part of
/// the response.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum WebauthnError {
    /// The response, one of its encodings (JSON, base64url, CBOR, COSE structure, binary
    /// layout) or a flag combination is malformed; the text says which part.
    #[error("malformed WebAuthn response: {0}")]
    Malformed(&'static str),
    /// The credential `type` is not `"public-key"`, or `clientDataJSON.type` is not this
    /// ceremony's (`webauthn.create` / `webauthn.get`).
    #[error("wrong credential or ceremony type")]
    WrongType,
    /// `clientDataJSON.challenge` is not the expected challenge.
    #[error("challenge mismatch")]
    ChallengeMismatch,
    /// `clientDataJSON.origin` is not an allowed origin, or the ceremony ran in a
    /// cross-origin iframe.
    #[error("origin not allowed")]
    WrongOrigin,
    /// The authenticator data's RP ID hash is not SHA-256 of the RP ID.
    #[error("wrong RP ID")]
    WrongRpId,
    /// The user presence flag (UP) is not set.
    #[error("user presence missing")]
    UserPresenceMissing,
    /// The user verification flag (UV) is not set.
    #[error("user verification missing")]
    UserVerificationMissing,
    /// The credential public key's algorithm (or curve) is not ES256/P-256, EdDSA/Ed25519 or
    /// RS256, or the key has no algorithm.
    #[error("unsupported public key algorithm")]
    UnsupportedAlgorithm,
    /// The credential public key is not a valid key of its algorithm (a malformed COSE key,
    /// a point off the curve, a small-order Ed25519 key, an RSA modulus out of bounds), or
    /// the stored one does not decode.
    #[error("invalid public key")]
    InvalidPublicKey,
    /// The response's credential id does not match: `rawId` against the authenticator data's
    /// credential id at registration, `id` against the stored passkey at authentication.
    #[error("credential id mismatch")]
    CredentialMismatch,
    /// The assertion's signature does not verify.
    #[error("bad signature")]
    BadSignature,
    /// The signature counter did not move forward (a possibly cloned authenticator).
    #[error("signature counter did not increase")]
    CounterRegression,
}

/// `PublicKeyCredentialCreationOptionsJSON` exactly as `@simplewebauthn/server` 13 emits it
/// for `@better-auth/passkey` (key order included), with `userVerification: "required"`
/// (stricter than Better Auth's `"preferred"`), and the challenge to store (base64url of 32
/// random bytes, also the options' `challenge`).
///
/// `user_handle` becomes `user.id` (base64url); WebAuthn wants 1 to 64 bytes that identify
/// the account and carry no personal data. `exclude` lists the user's passkeys, so an
/// authenticator that already holds one declines. `attachment` is passed on when it is
/// `"platform"` or `"cross-platform"` and ignored otherwise.
pub fn registration_options(
    rp: &RelyingParty,
    user_handle: &[u8],
    user_name: &str,
    display_name: &str,
    exclude: &[StoredPasskey],
    attachment: Option<&str>,
) -> (Value, String) {
    let challenge = new_challenge();
    let params: Vec<Value> = ALGORITHMS
        .iter()
        .map(|alg| json!({ "alg": alg, "type": "public-key" }))
        .collect();
    let mut selection = Map::new();
    selection.insert("residentKey".into(), "preferred".into());
    selection.insert("userVerification".into(), "required".into());
    if let Some(attachment) = attachment.filter(|a| matches!(*a, "platform" | "cross-platform")) {
        selection.insert("authenticatorAttachment".into(), attachment.into());
    }
    selection.insert("requireResidentKey".into(), false.into());
    let options = json!({
        "challenge": challenge,
        "rp": { "name": rp.name, "id": rp.id },
        "user": {
            "id": Base64UrlUnpadded::encode_string(user_handle),
            "name": user_name,
            "displayName": display_name,
        },
        "pubKeyCredParams": params,
        "timeout": TIMEOUT_MS,
        "attestation": "none",
        "excludeCredentials": exclude.iter().map(descriptor).collect::<Vec<_>>(),
        "authenticatorSelection": selection,
        "extensions": { "credProps": true },
        "hints": [],
    });
    (options, challenge)
}

/// `PublicKeyCredentialRequestOptionsJSON` as `@simplewebauthn/server` 13 emits it for
/// `@better-auth/passkey`: `{rpId, challenge, allowCredentials?, timeout, userVerification}`
/// with `userVerification: "required"`, and the challenge to store. An empty `allow` omits
/// `allowCredentials` (a discoverable credential then names the user), as Better Auth does.
pub fn authentication_options(rp: &RelyingParty, allow: &[StoredPasskey]) -> (Value, String) {
    let challenge = new_challenge();
    let mut options = Map::new();
    options.insert("rpId".into(), rp.id.clone().into());
    options.insert("challenge".into(), challenge.clone().into());
    if !allow.is_empty() {
        options.insert(
            "allowCredentials".into(),
            allow.iter().map(descriptor).collect::<Vec<_>>().into(),
        );
    }
    options.insert("timeout".into(), TIMEOUT_MS.into());
    options.insert("userVerification".into(), "required".into());
    (Value::Object(options), challenge)
}

/// Verifies a `RegistrationResponseJSON` (what `@simplewebauthn/browser`'s
/// `startRegistration` returns) against the challenge given with the options. See the
/// module documentation for every check; attestation statements are not verified.
pub fn verify_registration(
    rp: &RelyingParty,
    expected_challenge: &str,
    response: &Value,
) -> Result<Registered, WebauthnError> {
    let credential = Credential::parse(response)?;
    let client_data = credential.client_data()?;
    client_data.check(rp, "webauthn.create", expected_challenge)?;

    let attestation = blob(credential.field("attestationObject")?)?;
    let (fmt, statement_empty, auth_data) = attestation_object(&attestation)?;
    let auth_data = AuthData::parse(&auth_data)?;
    auth_data.check(rp)?;
    let Some(attested) = auth_data.attested else {
        return Err(WebauthnError::Malformed("no attested credential data"));
    };
    if fmt == "none" {
        if !statement_empty {
            return Err(WebauthnError::Malformed(
                "a \"none\" attestation with a statement",
            ));
        }
    } else if !KNOWN_FORMATS.contains(&fmt.as_str()) {
        return Err(WebauthnError::Malformed("unknown attestation format"));
    }
    if attested.credential_id != credential.raw_id.as_slice() {
        return Err(WebauthnError::CredentialMismatch);
    }
    PublicKey::from_cose(&attested.key)?;

    Ok(Registered {
        credential_id: credential.id.to_string(),
        public_key: Base64::encode_string(attested.key_bytes),
        counter: i64::from(auth_data.counter),
        device_type: if auth_data.flags & FLAG_BE != 0 {
            "multiDevice"
        } else {
            "singleDevice"
        }
        .to_string(),
        backed_up: auth_data.flags & FLAG_BS != 0,
        transports: transports(credential.response.get("transports"))?,
        aaguid: Some(uuid_text(attested.aaguid)),
    })
}

/// Verifies an `AuthenticationResponseJSON` (what `startAuthentication` returns) for
/// `stored`, the passkey the caller found by the response's `id`, against the challenge given
/// with the options. See the module documentation for every check.
pub fn verify_authentication(
    rp: &RelyingParty,
    expected_challenge: &str,
    response: &Value,
    stored: &StoredPasskey,
) -> Result<Asserted, WebauthnError> {
    let credential = Credential::parse(response)?;
    if credential.id != stored.credential_id {
        return Err(WebauthnError::CredentialMismatch);
    }
    let client_data = credential.client_data()?;
    client_data.check(rp, "webauthn.get", expected_challenge)?;

    let auth_data_bytes = blob(credential.field("authenticatorData")?)?;
    let signature = blob(credential.field("signature")?)?;
    match credential.response.get("userHandle") {
        None | Some(Value::Null | Value::String(_)) => {}
        Some(_) => return Err(WebauthnError::Malformed("userHandle is not a string")),
    }
    let auth_data = AuthData::parse(&auth_data_bytes)?;
    auth_data.check(rp)?;
    if auth_data.attested.is_some() {
        return Err(WebauthnError::Malformed(
            "attested credential data in an assertion",
        ));
    }

    let key_bytes =
        Base64::decode_vec(&stored.public_key).map_err(|_| WebauthnError::InvalidPublicKey)?;
    let (key, _, rest) = cbor_item(&key_bytes).map_err(|_| WebauthnError::InvalidPublicKey)?;
    if !rest.is_empty() {
        return Err(WebauthnError::InvalidPublicKey);
    }
    let key = CoseKey::from_cbor_value(key).map_err(|_| WebauthnError::InvalidPublicKey)?;
    let key = PublicKey::from_cose(&key)?;
    let mut signed = Vec::with_capacity(auth_data_bytes.len() + 32);
    signed.extend_from_slice(&auth_data_bytes);
    signed.extend_from_slice(&Sha256::digest(&client_data.raw));
    key.verify(&signed, &signature)?;

    let new_counter = i64::from(auth_data.counter);
    if (new_counter != 0 || stored.counter != 0) && new_counter <= stored.counter {
        return Err(WebauthnError::CounterRegression);
    }
    Ok(Asserted {
        credential_id: stored.credential_id.clone(),
        new_counter,
        backed_up: auth_data.flags & FLAG_BS != 0,
    })
}

/// A fresh challenge: base64url (no padding) of [`CHALLENGE_BYTES`] bytes from the OS.
fn new_challenge() -> String {
    let mut bytes = [0u8; CHALLENGE_BYTES];
    OsRng.fill_bytes(&mut bytes);
    Base64UrlUnpadded::encode_string(&bytes)
}

/// A `PublicKeyCredentialDescriptorJSON` in simplewebauthn's key order: `{id, transports?,
/// type}` (Better Auth spreads `{id, transports}` and simplewebauthn appends `type`).
fn descriptor(passkey: &StoredPasskey) -> Value {
    let mut entry = Map::new();
    entry.insert(
        "id".into(),
        passkey.credential_id.trim_end_matches('=').into(),
    );
    let transports: Vec<&str> = passkey
        .transports
        .as_deref()
        .unwrap_or("")
        .split(',')
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .collect();
    if !transports.is_empty() {
        entry.insert("transports".into(), transports.into());
    }
    entry.insert("type".into(), "public-key".into());
    Value::Object(entry)
}

/// The fields common to both responses.
struct Credential<'a> {
    /// `id`, equal to `rawId`.
    id: &'a str,
    /// The credential id's bytes.
    raw_id: Vec<u8>,
    /// `response`.
    response: &'a Map<String, Value>,
}

impl<'a> Credential<'a> {
    fn parse(response: &'a Value) -> Result<Self, WebauthnError> {
        let object = response
            .as_object()
            .ok_or(WebauthnError::Malformed("the response is not an object"))?;
        let text = |key: &'static str| {
            object
                .get(key)
                .and_then(Value::as_str)
                .ok_or(WebauthnError::Malformed(key))
        };
        let id = text("id")?;
        if id != text("rawId")? {
            return Err(WebauthnError::Malformed("id and rawId differ"));
        }
        if text("type")? != "public-key" {
            return Err(WebauthnError::WrongType);
        }
        let raw_id = Base64UrlUnpadded::decode_vec(id)
            .map_err(|_| WebauthnError::Malformed("id is not base64url"))?;
        if raw_id.is_empty()
            || raw_id.len() > MAX_CREDENTIAL_ID
            || Base64UrlUnpadded::encode_string(&raw_id) != id
        {
            return Err(WebauthnError::Malformed(
                "id is not a canonical credential id",
            ));
        }
        let response = object
            .get("response")
            .and_then(Value::as_object)
            .ok_or(WebauthnError::Malformed("response"))?;
        Ok(Self {
            id,
            raw_id,
            response,
        })
    }

    /// A string field of `response`.
    fn field(&self, key: &'static str) -> Result<&'a str, WebauthnError> {
        self.response
            .get(key)
            .and_then(Value::as_str)
            .ok_or(WebauthnError::Malformed(key))
    }

    fn client_data(&self) -> Result<ClientData, WebauthnError> {
        let raw = blob(self.field("clientDataJSON")?)?;
        let fields: ClientDataFields = serde_json::from_slice(&raw)
            .map_err(|_| WebauthnError::Malformed("clientDataJSON is not client data"))?;
        Ok(ClientData { raw, fields })
    }
}

/// `clientDataJSON`'s fields that are checked (others, such as `topOrigin`, are ignored).
#[derive(Deserialize)]
struct ClientDataFields {
    #[serde(rename = "type")]
    kind: String,
    challenge: String,
    origin: String,
    #[serde(rename = "crossOrigin", default)]
    cross_origin: Option<bool>,
}

/// `clientDataJSON`: its bytes (hashed into the signed data) and its fields.
struct ClientData {
    raw: Vec<u8>,
    fields: ClientDataFields,
}

impl ClientData {
    fn check(&self, rp: &RelyingParty, kind: &str, challenge: &str) -> Result<(), WebauthnError> {
        if self.fields.kind != kind {
            return Err(WebauthnError::WrongType);
        }
        let same: bool = self
            .fields
            .challenge
            .as_bytes()
            .ct_eq(challenge.as_bytes())
            .into();
        if challenge.is_empty() || !same {
            return Err(WebauthnError::ChallengeMismatch);
        }
        if !rp.origins.contains(&self.fields.origin) || self.fields.cross_origin == Some(true) {
            return Err(WebauthnError::WrongOrigin);
        }
        Ok(())
    }
}

/// Parsed authenticator data (WebAuthn §6.1).
struct AuthData<'a> {
    rp_id_hash: &'a [u8],
    flags: u8,
    counter: u32,
    attested: Option<AttestedCredential<'a>>,
}

/// Attested credential data (WebAuthn §6.5.2).
struct AttestedCredential<'a> {
    aaguid: &'a [u8],
    credential_id: &'a [u8],
    /// The COSE key's exact bytes.
    key_bytes: &'a [u8],
    key: CoseKey,
}

impl<'a> AuthData<'a> {
    fn parse(bytes: &'a [u8]) -> Result<Self, WebauthnError> {
        let short = WebauthnError::Malformed("authenticator data too short");
        let (rp_id_hash, rest) = bytes.split_at_checked(32).ok_or(short)?;
        let (&flags, rest) = rest.split_first().ok_or(short)?;
        let (counter, mut rest) = rest.split_first_chunk::<4>().ok_or(short)?;
        let counter = u32::from_be_bytes(*counter);
        let attested = if flags & FLAG_AT != 0 {
            let (aaguid, after) = rest.split_at_checked(16).ok_or(short)?;
            let (len, after) = after.split_first_chunk::<2>().ok_or(short)?;
            let (credential_id, after) = after
                .split_at_checked(usize::from(u16::from_be_bytes(*len)))
                .ok_or(short)?;
            if credential_id.is_empty() || credential_id.len() > MAX_CREDENTIAL_ID {
                return Err(WebauthnError::Malformed("credential id length"));
            }
            let (key, key_bytes, after) = cbor_item(after)?;
            let key = CoseKey::from_cbor_value(key).map_err(|_| WebauthnError::InvalidPublicKey)?;
            rest = after;
            Some(AttestedCredential {
                aaguid,
                credential_id,
                key_bytes,
                key,
            })
        } else {
            None
        };
        if flags & FLAG_ED != 0 {
            let (extensions, _, after) = cbor_item(rest)?;
            if !matches!(extensions, Cbor::Map(_)) {
                return Err(WebauthnError::Malformed("extensions are not a map"));
            }
            rest = after;
        }
        if !rest.is_empty() {
            return Err(WebauthnError::Malformed(
                "bytes after the authenticator data",
            ));
        }
        if flags & FLAG_BS != 0 && flags & FLAG_BE == 0 {
            return Err(WebauthnError::Malformed(
                "backed up but not backup eligible",
            ));
        }
        Ok(Self {
            rp_id_hash,
            flags,
            counter,
            attested,
        })
    }

    /// The RP ID hash, then user presence, then user verification.
    fn check(&self, rp: &RelyingParty) -> Result<(), WebauthnError> {
        let expected: [u8; 32] = Sha256::digest(rp.id.as_bytes()).into();
        if expected[..] != *self.rp_id_hash {
            return Err(WebauthnError::WrongRpId);
        }
        if self.flags & FLAG_UP == 0 {
            return Err(WebauthnError::UserPresenceMissing);
        }
        if self.flags & FLAG_UV == 0 {
            return Err(WebauthnError::UserVerificationMissing);
        }
        Ok(())
    }
}

/// Decodes exactly one CBOR item at the start of `bytes`: the value, its bytes, and what
/// follows.
fn cbor_item(bytes: &[u8]) -> Result<(Cbor, &[u8], &[u8]), WebauthnError> {
    let mut reader = bytes;
    let value: Cbor = coset::cbor::de::from_reader_with_recursion_limit(&mut reader, CBOR_DEPTH)
        .map_err(|_| WebauthnError::Malformed("invalid CBOR"))?;
    let used = bytes.len() - reader.len();
    let (item, rest) = bytes
        .split_at_checked(used)
        .ok_or(WebauthnError::Malformed("invalid CBOR"))?;
    Ok((value, item, rest))
}

/// The attestation object's `fmt`, whether `attStmt` is empty, and `authData`.
fn attestation_object(bytes: &[u8]) -> Result<(String, bool, Vec<u8>), WebauthnError> {
    let malformed = WebauthnError::Malformed("attestation object");
    let (value, _, rest) = cbor_item(bytes)?;
    let Cbor::Map(entries) = value else {
        return Err(malformed);
    };
    if !rest.is_empty() {
        return Err(malformed);
    }
    let (mut fmt, mut statement, mut auth_data) = (None, None, None);
    for (key, value) in entries {
        let Cbor::Text(key) = key else { continue };
        let duplicate = match (key.as_str(), value) {
            ("fmt", Cbor::Text(v)) => fmt.replace(v).is_some(),
            ("attStmt", Cbor::Map(v)) => statement.replace(v.is_empty()).is_some(),
            ("authData", Cbor::Bytes(v)) => auth_data.replace(v).is_some(),
            ("fmt" | "attStmt" | "authData", _) => return Err(malformed),
            _ => false,
        };
        if duplicate {
            return Err(malformed);
        }
    }
    match (fmt, statement, auth_data) {
        (Some(fmt), Some(empty), Some(auth_data)) => Ok((fmt, empty, auth_data)),
        _ => Err(malformed),
    }
}

/// A base64url field (padding tolerated).
fn blob(text: &str) -> Result<Vec<u8>, WebauthnError> {
    let unpadded = if text.len() % 4 == 0 {
        text.strip_suffix("==")
            .or_else(|| text.strip_suffix('='))
            .unwrap_or(text)
    } else {
        text
    };
    Base64UrlUnpadded::decode_vec(unpadded).map_err(|_| WebauthnError::Malformed("base64url"))
}

/// `response.transports`, comma-joined.
fn transports(value: Option<&Value>) -> Result<Option<String>, WebauthnError> {
    let items = match value {
        None | Some(Value::Null) => return Ok(None),
        Some(Value::Array(items)) => items,
        Some(_) => return Err(WebauthnError::Malformed("transports is not an array")),
    };
    let mut kept: Vec<&str> = Vec::new();
    for item in items {
        let token = item
            .as_str()
            .ok_or(WebauthnError::Malformed("a transport is not a string"))?;
        let well_formed = !token.is_empty()
            && token.len() <= MAX_TRANSPORT_LEN
            && token
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
        if well_formed && !kept.contains(&token) && kept.len() < MAX_TRANSPORTS {
            kept.push(token);
        }
    }
    Ok((!kept.is_empty()).then(|| kept.join(",")))
}

/// An AAGUID as UUID text, as simplewebauthn's `convertAAGUIDToString`.
fn uuid_text(aaguid: &[u8]) -> String {
    let hex = hex::encode(aaguid);
    let part = |from: usize, to: usize| hex.get(from..to).unwrap_or("");
    format!(
        "{}-{}-{}-{}-{}",
        part(0, 8),
        part(8, 12),
        part(12, 16),
        part(16, 20),
        part(20, 32)
    )
}

/// A credential public key, bound to its one algorithm.
enum PublicKey {
    Es256(p256::ecdsa::VerifyingKey),
    EdDsa(ed25519_dalek::VerifyingKey),
    Rs256(rsa::pkcs1v15::VerifyingKey<Sha256>),
}

impl PublicKey {
    fn from_cose(key: &CoseKey) -> Result<Self, WebauthnError> {
        let param = |label: i64| {
            key.params
                .iter()
                .find(|(l, _)| *l == Label::Int(label))
                .map(|(_, v)| v)
        };
        let bytes = |label: i64| match param(label) {
            Some(Cbor::Bytes(b)) => Ok(b.as_slice()),
            _ => Err(WebauthnError::InvalidPublicKey),
        };
        let curve_is = |curve: iana::EllipticCurve| match param(-1) {
            Some(Cbor::Integer(i)) if i128::from(*i) == curve as i128 => Ok(()),
            Some(_) => Err(WebauthnError::UnsupportedAlgorithm),
            None => Err(WebauthnError::InvalidPublicKey),
        };
        let kty_is = |kty: iana::KeyType| {
            if key.kty == KeyType::Assigned(kty) {
                Ok(())
            } else {
                Err(WebauthnError::InvalidPublicKey)
            }
        };
        let Some(RegisteredLabelWithPrivate::Assigned(alg)) = key.alg else {
            return Err(WebauthnError::UnsupportedAlgorithm);
        };
        match alg {
            iana::Algorithm::ES256 => {
                kty_is(iana::KeyType::EC2)?;
                curve_is(iana::EllipticCurve::P_256)?;
                let (x, y) = (bytes(-2)?, bytes(-3)?);
                if x.len() != 32 || y.len() != 32 {
                    return Err(WebauthnError::InvalidPublicKey);
                }
                let mut point = Vec::with_capacity(65);
                point.push(0x04);
                point.extend_from_slice(x);
                point.extend_from_slice(y);
                p256::ecdsa::VerifyingKey::from_sec1_bytes(&point)
                    .map(Self::Es256)
                    .map_err(|_| WebauthnError::InvalidPublicKey)
            }
            iana::Algorithm::EdDSA => {
                kty_is(iana::KeyType::OKP)?;
                curve_is(iana::EllipticCurve::Ed25519)?;
                let x: &[u8; 32] = bytes(-2)?
                    .try_into()
                    .map_err(|_| WebauthnError::InvalidPublicKey)?;
                match ed25519_dalek::VerifyingKey::from_bytes(x) {
                    Ok(key) if !key.is_weak() => Ok(Self::EdDsa(key)),
                    _ => Err(WebauthnError::InvalidPublicKey),
                }
            }
            iana::Algorithm::RS256 => {
                kty_is(iana::KeyType::RSA)?;
                let n = rsa::BigUint::from_bytes_be(bytes(-1)?);
                let e = rsa::BigUint::from_bytes_be(bytes(-2)?);
                if n.bits() < MIN_RSA_BITS {
                    return Err(WebauthnError::InvalidPublicKey);
                }
                rsa::RsaPublicKey::new(n, e)
                    .map(|key| Self::Rs256(rsa::pkcs1v15::VerifyingKey::new(key)))
                    .map_err(|_| WebauthnError::InvalidPublicKey)
            }
            _ => Err(WebauthnError::UnsupportedAlgorithm),
        }
    }

    fn verify(&self, message: &[u8], signature: &[u8]) -> Result<(), WebauthnError> {
        let bad = |_| WebauthnError::BadSignature;
        match self {
            Self::Es256(key) => {
                let signature = p256::ecdsa::Signature::from_der(signature).map_err(bad)?;
                key.verify(message, &signature).map_err(bad)
            }
            Self::EdDsa(key) => {
                let signature = ed25519_dalek::Signature::from_slice(signature).map_err(bad)?;
                key.verify_strict(message, &signature).map_err(bad)
            }
            Self::Rs256(key) => {
                let signature = rsa::pkcs1v15::Signature::try_from(signature).map_err(bad)?;
                key.verify(message, &signature).map_err(bad)
            }
        }
    }
}

/// The module's tests, and a software authenticator the origin's HTTP tests reuse
/// (`Key`, `Ceremony`, `Authenticator`).
#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use coset::{CborSerializable, CoseKeyBuilder};
    use p256::ecdsa::signature::{SignatureEncoding, Signer};
    use rsa::traits::PublicKeyParts;

    pub(crate) const ORIGIN: &str = "http://localhost:8787";

    /// A 2048-bit RSA key made for these tests only (PKCS#1 DER, standard base64).
    const RSA_TEST_KEY: &str = concat!(
        "MIIEogIBAAKCAQEAoGErvCQCl9kLpxNHdljpls35uFIi5ppfqku3WUpSOSer7717go/xPzJfTXMoos5pd3eGGB+S",
        "JZms+u79WPVdD+sDKwPHL4qQCs+d5Z+SfElgXaJ6SdFEXxwpycgRvO99H5bh5MWH/YZw598XhhEo4xluhSFuEccq",
        "rjAPbpGCV4a86V5N37BKhW/nDrHtMwVXiMaEIEY4WjgNV9uKmodpjyVYChfbexS2MdheFebue3FCJ85DL63u2dm8",
        "3m/2wQiMn9luLXTBFSPmKd77TfL3y1AqsapAk0T0aq/Yaps3c94flq8eCxh1+m5b6/PcXVnAxQaLgjPpH8CI/BCg",
        "UIeG5wIDAQABAoIBAAEHIxwt50HDW0OOexrbv6u+2TToEZ9e6duE0Xn64O6s5yaVHMAJFhPiWNoUE3wY0IM6lveD",
        "JIXLHGC77VOxA1tarBfKVgauiRrM3l/RHPhg5Jn0FmydVohIdakprMZ8xwoilaEqdd9mTVSI/i1WtCs7+LLN6SI+",
        "VFTYWQJiQfJz08BbgIY9DcNpRKkq5tuWphlTnNA2H0C36/d/OFLKA+rBN3kqf48KKr9/9ztzU8gC4lmMIsNzFG1Q",
        "dRwR3pY/wqcodbeOX9ACRBSzgl9VWTfB4HWh8+sVxApT2zEGu5IwPiwrLCZbJL1mI5wLopBjtZRBV+K0LRaPuKQT",
        "4NGo2bUCgYEA1j+q7VWpHYRAae9sMGAlDcUBCJ0dPVI/fZ5xK5GbFchi7A1pTUPUp8Rx4/4fC+PhHTd9SQsxc+t4",
        "zIe2l0W8gv69iKQe3GsOIMCGjUcCyM3o3sih5nnLT9onh/J+VDJzfgCdoWy5az+896L34f1Z2Y9RXFKvLX/fEUQS",
        "ZyyvQKUCgYEAv6IbYjP9YxvEsi+nhqO+sDVYuvOvP+RjoKj4nYTfIjU+uXsF6jls0jzsfjaPJthDr3CxTP91C2OT",
        "tyyg/ON3zPtecStrd2fNC3fUEuFNdO0RsY/58b9kjqfvYHDqvk3z3fqQ2n9JxvGDMQMV4s4vWrE198ij0VlwxQMp",
        "piR1Z5sCgYBPBkrYoajwLzDHIj2Ill30dz7LW5BGZwjuH7vkcx996Fy8brHxgtx0SRwtGTWAYDxPV4FJqOxDso3q",
        "+v/ZSiqfMrDcLpUHfiFG6Vx3zcJ0KKcFTYGSDkh0mqXMGiCIk9dPmZCK0xyNN4RO3viJjbZPbfJ3mDPvF2RC7RXQ",
        "ooW91QKBgB7RB8xMBgRpE8F/zlXlgSW+/mzaASWqKadNZOWX13Ydz99t/C6FW42XhIRra6vYfVH6Mljqf7z8H2YG",
        "hEEGp15MUgyq6dZC2ANvGqiKmLUj5oOCXrRUjewu71y369f8mynoQGEStR+L+QfpshxOAel4s/AL0OQ6mNrlvk3c",
        "cRDfAoGAWJFS1yuKTT999MEq5uz1qMxD1qnAr78YfihXKrab+Ktg+SpeNhPZDoEFDqRWqKnsqz/ijwWdXCUSwJxr",
        "lh7NAxB3nba0HcS140GCj44U9WQx1A/NMtUitKFIKvRLXglgvwKns1PeSmgcuDE47zflsRRWV8RYbKc5f1Et20rP",
        "izg=",
    );

    fn rp() -> RelyingParty {
        RelyingParty {
            id: "localhost".into(),
            name: "edgeauth".into(),
            origins: vec!["https://app.example".into(), ORIGIN.into()],
        }
    }

    fn b64url(bytes: &[u8]) -> String {
        Base64UrlUnpadded::encode_string(bytes)
    }

    fn cbor(value: &Cbor) -> Vec<u8> {
        let mut out = Vec::new();
        coset::cbor::ser::into_writer(value, &mut out).unwrap();
        out
    }

    fn text(s: &str) -> Cbor {
        Cbor::Text(s.into())
    }

    /// A software authenticator's key.
    pub(crate) enum Key {
        Es256(p256::ecdsa::SigningKey),
        /// ES256 signing with the high S of each signature (as some authenticators do).
        Es256HighS(p256::ecdsa::SigningKey),
        Ed25519(ed25519_dalek::SigningKey),
        Rs256(Box<rsa::RsaPrivateKey>),
    }

    impl Key {
        pub(crate) fn es256() -> Self {
            Self::Es256(p256::ecdsa::SigningKey::random(&mut OsRng))
        }

        pub(crate) fn ed25519() -> Self {
            let mut seed = [0u8; 32];
            OsRng.fill_bytes(&mut seed);
            Self::Ed25519(ed25519_dalek::SigningKey::from_bytes(&seed))
        }

        pub(crate) fn rs256() -> Self {
            use rsa::pkcs1::DecodeRsaPrivateKey;
            let der = Base64::decode_vec(RSA_TEST_KEY).unwrap();
            Self::Rs256(Box::new(rsa::RsaPrivateKey::from_pkcs1_der(&der).unwrap()))
        }

        /// The COSE_Key, as authenticators encode it (CTAP2 canonical order).
        pub(crate) fn cose(&self) -> Vec<u8> {
            match self {
                Self::Es256(key) | Self::Es256HighS(key) => {
                    let point = key.verifying_key().to_encoded_point(false);
                    CoseKeyBuilder::new_ec2_pub_key(
                        iana::EllipticCurve::P_256,
                        point.x().unwrap().to_vec(),
                        point.y().unwrap().to_vec(),
                    )
                    .algorithm(iana::Algorithm::ES256)
                    .build()
                    .to_vec()
                    .unwrap()
                }
                Self::Ed25519(key) => CoseKeyBuilder::new_okp_key()
                    .algorithm(iana::Algorithm::EdDSA)
                    .param(-1, Cbor::Integer(6.into()))
                    .param(-2, Cbor::Bytes(key.verifying_key().to_bytes().to_vec()))
                    .build()
                    .to_vec()
                    .unwrap(),
                Self::Rs256(key) => CoseKey {
                    kty: KeyType::Assigned(iana::KeyType::RSA),
                    alg: Some(RegisteredLabelWithPrivate::Assigned(iana::Algorithm::RS256)),
                    params: vec![
                        (Label::Int(-1), Cbor::Bytes(key.n().to_bytes_be())),
                        (Label::Int(-2), Cbor::Bytes(key.e().to_bytes_be())),
                    ],
                    ..CoseKey::default()
                }
                .to_vec()
                .unwrap(),
            }
        }

        pub(crate) fn sign(&self, message: &[u8]) -> Vec<u8> {
            match self {
                Self::Es256(key) => {
                    let signature: p256::ecdsa::Signature = key.sign(message);
                    signature.to_der().as_bytes().to_vec()
                }
                Self::Es256HighS(key) => {
                    let signature: p256::ecdsa::Signature = key.sign(message);
                    let low = signature.normalize_s().unwrap_or(signature);
                    let (r, s) = low.split_scalars();
                    let high = p256::ecdsa::Signature::from_scalars(r, -s).unwrap();
                    assert!(high.normalize_s().is_some(), "S is high");
                    high.to_der().as_bytes().to_vec()
                }
                Self::Ed25519(key) => key.sign(message).to_bytes().to_vec(),
                Self::Rs256(key) => rsa::pkcs1v15::SigningKey::<Sha256>::new((**key).clone())
                    .sign(message)
                    .to_vec(),
            }
        }
    }

    /// What the browser and authenticator put in one ceremony.
    #[derive(Clone)]
    pub(crate) struct Ceremony {
        pub(crate) kind: &'static str,
        pub(crate) challenge: String,
        pub(crate) origin: String,
        pub(crate) cross_origin: bool,
        pub(crate) rp_id: String,
        pub(crate) flags: u8,
    }

    impl Ceremony {
        pub(crate) fn create(challenge: &str) -> Self {
            Self {
                kind: "webauthn.create",
                challenge: challenge.into(),
                origin: ORIGIN.into(),
                cross_origin: false,
                rp_id: "localhost".into(),
                flags: FLAG_UP | FLAG_UV,
            }
        }

        pub(crate) fn get(challenge: &str) -> Self {
            Self {
                kind: "webauthn.get",
                ..Self::create(challenge)
            }
        }

        pub(crate) fn client_data(&self) -> Vec<u8> {
            serde_json::to_vec(&json!({
                "type": self.kind,
                "challenge": self.challenge,
                "origin": self.origin,
                "crossOrigin": self.cross_origin,
            }))
            .unwrap()
        }

        /// Authenticator data: RP ID hash, flags, counter, then `rest`.
        pub(crate) fn auth_data(&self, extra_flags: u8, counter: u32, rest: &[u8]) -> Vec<u8> {
            let mut data = Sha256::digest(self.rp_id.as_bytes()).to_vec();
            data.push(self.flags | extra_flags);
            data.extend_from_slice(&counter.to_be_bytes());
            data.extend_from_slice(rest);
            data
        }
    }

    /// A software authenticator holding one credential.
    pub(crate) struct Authenticator {
        pub(crate) key: Key,
        pub(crate) credential_id: Vec<u8>,
        pub(crate) aaguid: [u8; 16],
        pub(crate) counter: u32,
    }

    impl Authenticator {
        pub(crate) fn new(key: Key) -> Self {
            let mut credential_id = vec![0u8; 32];
            OsRng.fill_bytes(&mut credential_id);
            Self {
                key,
                credential_id,
                aaguid: [
                    0xad, 0xce, 0x00, 0x02, 0x35, 0xbc, 0xc6, 0x0a, 0x64, 0x8b, 0x0b, 0x25, 0xf1,
                    0xf0, 0x55, 0x03,
                ],
                counter: 0,
            }
        }

        /// Attested credential data: AAGUID, id length, id, COSE key.
        pub(crate) fn attested(&self) -> Vec<u8> {
            let mut data = self.aaguid.to_vec();
            data.extend_from_slice(
                &u16::try_from(self.credential_id.len())
                    .unwrap()
                    .to_be_bytes(),
            );
            data.extend_from_slice(&self.credential_id);
            data.extend_from_slice(&self.key.cose());
            data
        }

        /// A `none` registration response.
        pub(crate) fn register(&self, ceremony: &Ceremony) -> Value {
            let auth_data = ceremony.auth_data(FLAG_AT, self.counter, &self.attested());
            self.registration(ceremony, "none", vec![], auth_data)
        }

        pub(crate) fn registration(
            &self,
            ceremony: &Ceremony,
            fmt: &str,
            statement: Vec<(Cbor, Cbor)>,
            auth_data: Vec<u8>,
        ) -> Value {
            let attestation = cbor(&Cbor::Map(vec![
                (text("fmt"), text(fmt)),
                (text("attStmt"), Cbor::Map(statement)),
                (text("authData"), Cbor::Bytes(auth_data)),
            ]));
            let id = b64url(&self.credential_id);
            json!({
                "id": id,
                "rawId": id,
                "response": {
                    "clientDataJSON": b64url(&ceremony.client_data()),
                    "attestationObject": b64url(&attestation),
                    "transports": ["internal", "hybrid"],
                },
                "type": "public-key",
                "clientExtensionResults": { "credProps": { "rk": true } },
                "authenticatorAttachment": "platform",
            })
        }

        /// An authentication response with the authenticator's current counter.
        pub(crate) fn assert(&self, ceremony: &Ceremony) -> Value {
            let auth_data = ceremony.auth_data(0, self.counter, &[]);
            self.assertion(ceremony, auth_data)
        }

        pub(crate) fn assertion(&self, ceremony: &Ceremony, auth_data: Vec<u8>) -> Value {
            let client_data = ceremony.client_data();
            let mut signed = auth_data.clone();
            signed.extend_from_slice(&Sha256::digest(&client_data));
            let id = b64url(&self.credential_id);
            json!({
                "id": id,
                "rawId": id,
                "response": {
                    "clientDataJSON": b64url(&client_data),
                    "authenticatorData": b64url(&auth_data),
                    "signature": b64url(&self.key.sign(&signed)),
                    "userHandle": b64url(b"user-1"),
                },
                "type": "public-key",
                "clientExtensionResults": {},
                "authenticatorAttachment": "platform",
            })
        }

        pub(crate) fn stored(&self, counter: i64) -> StoredPasskey {
            StoredPasskey {
                credential_id: b64url(&self.credential_id),
                public_key: Base64::encode_string(&self.key.cose()),
                counter,
                transports: Some("internal,hybrid".into()),
            }
        }
    }

    /// Registers then signs in twice, through the options functions.
    fn round_trip(key: Key) {
        let rp = rp();
        let (_, challenge) = registration_options(&rp, b"user-1", "ada", "Ada", &[], None);
        let mut authenticator = Authenticator::new(key);
        let registered = verify_registration(
            &rp,
            &challenge,
            &authenticator.register(&Ceremony::create(&challenge)),
        )
        .unwrap();
        assert_eq!(
            registered,
            Registered {
                credential_id: b64url(&authenticator.credential_id),
                public_key: Base64::encode_string(&authenticator.key.cose()),
                counter: 0,
                device_type: "singleDevice".into(),
                backed_up: false,
                transports: Some("internal,hybrid".into()),
                aaguid: Some("adce0002-35bc-c60a-648b-0b25f1f05503".into()),
            }
        );
        let mut stored = StoredPasskey {
            credential_id: registered.credential_id,
            public_key: registered.public_key,
            counter: registered.counter,
            transports: registered.transports,
        };
        for counter in [1, 7] {
            let (_, challenge) = authentication_options(&rp, std::slice::from_ref(&stored));
            authenticator.counter = counter;
            let response = authenticator.assert(&Ceremony::get(&challenge));
            let asserted = verify_authentication(&rp, &challenge, &response, &stored).unwrap();
            assert_eq!(
                asserted,
                Asserted {
                    credential_id: stored.credential_id.clone(),
                    new_counter: i64::from(counter),
                    backed_up: false,
                }
            );
            stored.counter = asserted.new_counter;
        }
    }

    #[test]
    fn es256_registers_and_signs_in() {
        round_trip(Key::es256());
    }

    #[test]
    fn es256_with_high_s_signs_in() {
        round_trip(Key::Es256HighS(p256::ecdsa::SigningKey::random(&mut OsRng)));
    }

    #[test]
    fn eddsa_registers_and_signs_in() {
        round_trip(Key::ed25519());
    }

    #[test]
    fn rs256_registers_and_signs_in() {
        round_trip(Key::rs256());
    }

    #[test]
    fn registration_options_are_simplewebauthns_json() {
        let exclude = [
            StoredPasskey {
                credential_id: "AAEC".into(),
                public_key: String::new(),
                counter: 0,
                transports: Some("internal,hybrid".into()),
            },
            StoredPasskey {
                credential_id: "AwQF".into(),
                public_key: String::new(),
                counter: 3,
                transports: None,
            },
        ];
        let (options, challenge) = registration_options(
            &rp(),
            b"user-1",
            "ada@example.com",
            "Ada",
            &exclude,
            Some("platform"),
        );
        assert_eq!(Base64UrlUnpadded::decode_vec(&challenge).unwrap().len(), 32);
        let expected = format!(
            concat!(
                r#"{{"challenge":"{}","rp":{{"name":"edgeauth","id":"localhost"}},"#,
                r#""user":{{"id":"dXNlci0x","name":"ada@example.com","displayName":"Ada"}},"#,
                r#""pubKeyCredParams":[{{"alg":-8,"type":"public-key"}},"#,
                r#"{{"alg":-7,"type":"public-key"}},{{"alg":-257,"type":"public-key"}}],"#,
                r#""timeout":60000,"attestation":"none","excludeCredentials":["#,
                r#"{{"id":"AAEC","transports":["internal","hybrid"],"type":"public-key"}},"#,
                r#"{{"id":"AwQF","type":"public-key"}}],"#,
                r#""authenticatorSelection":{{"residentKey":"preferred","#,
                r#""userVerification":"required","authenticatorAttachment":"platform","#,
                r#""requireResidentKey":false}},"extensions":{{"credProps":true}},"hints":[]}}"#
            ),
            challenge
        );
        assert_eq!(serde_json::to_string(&options).unwrap(), expected);

        let (options, other) =
            registration_options(&rp(), b"user-1", "ada", "Ada", &[], Some("roaming"));
        assert_ne!(other, challenge);
        assert_eq!(options["excludeCredentials"], json!([]));
        assert_eq!(
            options["authenticatorSelection"],
            json!({"residentKey": "preferred", "userVerification": "required", "requireResidentKey": false})
        );
    }

    #[test]
    fn authentication_options_are_simplewebauthns_json() {
        let allow = [StoredPasskey {
            credential_id: "AAEC".into(),
            public_key: String::new(),
            counter: 0,
            transports: Some("usb,nfc".into()),
        }];
        let (options, challenge) = authentication_options(&rp(), &allow);
        assert_eq!(
            serde_json::to_string(&options).unwrap(),
            format!(
                concat!(
                    r#"{{"rpId":"localhost","challenge":"{}","allowCredentials":"#,
                    r#"[{{"id":"AAEC","transports":["usb","nfc"],"type":"public-key"}}],"#,
                    r#""timeout":60000,"userVerification":"required"}}"#
                ),
                challenge
            )
        );
        let (options, other) = authentication_options(&rp(), &[]);
        assert_ne!(other, challenge);
        assert_eq!(
            serde_json::to_string(&options).unwrap(),
            format!(
                r#"{{"rpId":"localhost","challenge":"{other}","timeout":60000,"userVerification":"required"}}"#
            )
        );
    }

    /// A change to a good ceremony that both verifiers must refuse, and the refusal.
    type Refusal = (&'static str, fn(&mut Ceremony), WebauthnError);

    fn ceremony_refusals() -> Vec<Refusal> {
        use WebauthnError::*;
        vec![
            (
                "another port",
                |c| c.origin = "http://localhost:8788".into(),
                WrongOrigin,
            ),
            (
                "a trailing slash",
                |c| c.origin = format!("{ORIGIN}/"),
                WrongOrigin,
            ),
            (
                "another scheme",
                |c| c.origin = "https://localhost:8787".into(),
                WrongOrigin,
            ),
            (
                "another site",
                |c| c.origin = "https://evil.example".into(),
                WrongOrigin,
            ),
            (
                "a cross-origin iframe",
                |c| c.cross_origin = true,
                WrongOrigin,
            ),
            (
                "another RP ID",
                |c| c.rp_id = "example.com".into(),
                WrongRpId,
            ),
            (
                "a longer RP ID",
                |c| c.rp_id = "localhost.evil".into(),
                WrongRpId,
            ),
            (
                "another challenge",
                |c| c.challenge.push('x'),
                ChallengeMismatch,
            ),
            (
                "no user verification",
                |c| c.flags &= !FLAG_UV,
                UserVerificationMissing,
            ),
            (
                "no user presence",
                |c| c.flags &= !FLAG_UP,
                UserPresenceMissing,
            ),
            (
                "the other ceremony's type",
                |c| {
                    c.kind = match c.kind {
                        "webauthn.get" => "webauthn.create",
                        _ => "webauthn.get",
                    }
                },
                WrongType,
            ),
            (
                "backed up, not backup eligible",
                |c| c.flags |= FLAG_BS,
                Malformed("backed up but not backup eligible"),
            ),
        ]
    }

    #[test]
    fn registration_refusals() {
        let authenticator = Authenticator::new(Key::es256());
        let ok = Ceremony::create("challenge");
        let register = |ceremony: &Ceremony| {
            verify_registration(&rp(), "challenge", &authenticator.register(ceremony))
        };
        assert!(register(&ok).is_ok());
        for (what, change, error) in ceremony_refusals() {
            let mut ceremony = ok.clone();
            change(&mut ceremony);
            assert_eq!(register(&ceremony), Err(error), "{what}");
        }
    }

    #[test]
    fn an_empty_expected_challenge_never_matches() {
        let authenticator = Authenticator::new(Key::es256());
        let response = authenticator.register(&Ceremony::create(""));
        assert_eq!(
            verify_registration(&rp(), "", &response),
            Err(WebauthnError::ChallengeMismatch)
        );
        let response = authenticator.assert(&Ceremony::get(""));
        assert_eq!(
            verify_authentication(&rp(), "", &response, &authenticator.stored(0)),
            Err(WebauthnError::ChallengeMismatch)
        );
    }

    #[test]
    fn backup_flags_give_the_device_type() {
        let authenticator = Authenticator::new(Key::ed25519());
        for (flags, device_type, backed_up) in [
            (FLAG_BE, "multiDevice", false),
            (FLAG_BE | FLAG_BS, "multiDevice", true),
        ] {
            let ceremony = Ceremony {
                flags: FLAG_UP | FLAG_UV | flags,
                ..Ceremony::create("c")
            };
            let registered =
                verify_registration(&rp(), "c", &authenticator.register(&ceremony)).unwrap();
            assert_eq!(
                (registered.device_type.as_str(), registered.backed_up),
                (device_type, backed_up)
            );
            let ceremony = Ceremony {
                kind: "webauthn.get",
                ..ceremony
            };
            let asserted = verify_authentication(
                &rp(),
                "c",
                &authenticator.assert(&ceremony),
                &authenticator.stored(0),
            )
            .unwrap();
            assert_eq!(asserted.backed_up, backed_up);
        }
    }

    #[test]
    fn extensions_after_the_key_leave_its_bytes_exact() {
        let authenticator = Authenticator::new(Key::es256());
        let ceremony = Ceremony::create("c");
        let mut rest = authenticator.attested();
        rest.extend_from_slice(&cbor(&Cbor::Map(vec![(
            text("credProtect"),
            Cbor::Integer(2.into()),
        )])));
        let auth_data = ceremony.auth_data(FLAG_AT | FLAG_ED, 0, &rest);
        let response = authenticator.registration(&ceremony, "none", vec![], auth_data);
        let registered = verify_registration(&rp(), "c", &response).unwrap();
        assert_eq!(
            registered.public_key,
            Base64::encode_string(&authenticator.key.cose())
        );

        // The ED flag without extensions, or extensions without the flag: refused.
        let auth_data = ceremony.auth_data(FLAG_AT | FLAG_ED, 0, &authenticator.attested());
        let response = authenticator.registration(&ceremony, "none", vec![], auth_data);
        assert!(matches!(
            verify_registration(&rp(), "c", &response),
            Err(WebauthnError::Malformed(_))
        ));
        let auth_data = ceremony.auth_data(FLAG_AT, 0, &rest);
        let response = authenticator.registration(&ceremony, "none", vec![], auth_data);
        assert_eq!(
            verify_registration(&rp(), "c", &response),
            Err(WebauthnError::Malformed(
                "bytes after the authenticator data"
            ))
        );
    }

    #[test]
    fn attestation_formats() {
        let authenticator = Authenticator::new(Key::es256());
        let ceremony = Ceremony::create("c");
        let auth_data = ceremony.auth_data(FLAG_AT, 0, &authenticator.attested());
        let statement = vec![
            (text("alg"), Cbor::Integer((-7).into())),
            (text("sig"), Cbor::Bytes(vec![1, 2, 3])),
        ];
        // A packed statement is accepted unverified, as if it were "none".
        let packed =
            authenticator.registration(&ceremony, "packed", statement.clone(), auth_data.clone());
        assert!(verify_registration(&rp(), "c", &packed).is_ok());
        // "none" must come without a statement; unknown formats are refused.
        for (fmt, statement) in [("none", statement), ("x-custom", vec![])] {
            let response = authenticator.registration(&ceremony, fmt, statement, auth_data.clone());
            assert!(matches!(
                verify_registration(&rp(), "c", &response),
                Err(WebauthnError::Malformed(_))
            ));
        }
    }

    #[test]
    fn registration_key_refusals() {
        use iana::{Algorithm as A, EllipticCurve as C};
        use WebauthnError::{InvalidPublicKey, UnsupportedAlgorithm};
        let ceremony = Ceremony::create("c");
        let register_key = |cose: Vec<u8>| {
            let authenticator = Authenticator::new(Key::es256());
            let mut rest = authenticator.attested();
            rest.truncate(rest.len() - authenticator.key.cose().len());
            rest.extend_from_slice(&cose);
            let auth_data = ceremony.auth_data(FLAG_AT, 0, &rest);
            let response = authenticator.registration(&ceremony, "none", vec![], auth_data);
            verify_registration(&rp(), "c", &response)
        };
        let point = p256::ecdsa::SigningKey::random(&mut OsRng)
            .verifying_key()
            .to_encoded_point(false);
        let (x, y) = (point.x().unwrap(), point.y().unwrap().to_vec());
        let ec2 = |curve, alg: Option<A>, y: &[u8]| {
            let key = CoseKeyBuilder::new_ec2_pub_key(curve, x.to_vec(), y.to_vec());
            match alg {
                Some(alg) => key.algorithm(alg),
                None => key,
            }
            .build()
            .to_vec()
            .unwrap()
        };
        assert!(register_key(ec2(C::P_256, Some(A::ES256), &y)).is_ok());
        let mut off_curve = y.clone();
        off_curve[31] ^= 1;
        let identity = {
            let mut point = [0u8; 32];
            point[0] = 1;
            point.to_vec()
        };
        let refusals = [
            // No alg, ES384, the fully specified Ed25519, ES256 on P-384.
            (ec2(C::P_256, None, &y), UnsupportedAlgorithm),
            (ec2(C::P_256, Some(A::ES384), &y), UnsupportedAlgorithm),
            (ec2(C::P_256, Some(A::Ed25519), &y), UnsupportedAlgorithm),
            (ec2(C::P_384, Some(A::ES256), &y), UnsupportedAlgorithm),
            // A point off the curve, a short coordinate, EdDSA on an EC2 key.
            (ec2(C::P_256, Some(A::ES256), &off_curve), InvalidPublicKey),
            (ec2(C::P_256, Some(A::ES256), &y[1..]), InvalidPublicKey),
            (ec2(C::P_256, Some(A::EdDSA), &y), InvalidPublicKey),
            // A small-order Ed25519 key (the identity point).
            (
                CoseKeyBuilder::new_okp_key()
                    .algorithm(A::EdDSA)
                    .param(-1, Cbor::Integer(6.into()))
                    .param(-2, Cbor::Bytes(identity))
                    .build()
                    .to_vec()
                    .unwrap(),
                InvalidPublicKey,
            ),
            // A 1024-bit RSA modulus.
            (
                CoseKey {
                    kty: KeyType::Assigned(iana::KeyType::RSA),
                    alg: Some(RegisteredLabelWithPrivate::Assigned(A::RS256)),
                    params: vec![
                        (Label::Int(-1), Cbor::Bytes(vec![0xc5; 128])),
                        (Label::Int(-2), Cbor::Bytes(vec![1, 0, 1])),
                    ],
                    ..CoseKey::default()
                }
                .to_vec()
                .unwrap(),
                InvalidPublicKey,
            ),
            // Not a COSE key: an array, and a map with a duplicate label.
            (vec![0x81, 0x01], InvalidPublicKey),
            (vec![0xa2, 0x01, 0x02, 0x01, 0x02], InvalidPublicKey),
        ];
        for (cose, error) in refusals {
            assert_eq!(register_key(cose.clone()), Err(error), "{cose:02x?}");
        }
    }

    #[test]
    fn registration_credential_id_must_be_the_authenticators() {
        let authenticator = Authenticator::new(Key::es256());
        let mut response = authenticator.register(&Ceremony::create("c"));
        let other = b64url(&[7u8; 32]);
        response["id"] = json!(other);
        response["rawId"] = json!(other);
        assert_eq!(
            verify_registration(&rp(), "c", &response),
            Err(WebauthnError::CredentialMismatch)
        );
    }

    /// Signs in with a stored counter and the authenticator's new one.
    fn sign_in_with_counters(stored: i64, new: u32) -> Result<Asserted, WebauthnError> {
        let mut authenticator = Authenticator::new(Key::ed25519());
        authenticator.counter = new;
        let response = authenticator.assert(&Ceremony::get("c"));
        verify_authentication(&rp(), "c", &response, &authenticator.stored(stored))
    }

    #[test]
    fn counters() {
        assert_eq!(sign_in_with_counters(0, 0).unwrap().new_counter, 0);
        assert_eq!(sign_in_with_counters(0, 1).unwrap().new_counter, 1);
        assert_eq!(sign_in_with_counters(5, 6).unwrap().new_counter, 6);
        assert_eq!(
            sign_in_with_counters(5, u32::MAX).unwrap().new_counter,
            i64::from(u32::MAX)
        );
        for (stored, new) in [(5, 5), (5, 3), (5, 0), (i64::from(u32::MAX), u32::MAX)] {
            assert_eq!(
                sign_in_with_counters(stored, new),
                Err(WebauthnError::CounterRegression),
                "{stored} then {new}"
            );
        }
    }

    #[test]
    fn authentication_refusals() {
        let mut authenticator = Authenticator::new(Key::es256());
        authenticator.counter = 9;
        let stored = authenticator.stored(3);
        let ok = Ceremony::get("c");
        let sign_in = |ceremony: &Ceremony| {
            verify_authentication(&rp(), "c", &authenticator.assert(ceremony), &stored)
        };
        assert!(sign_in(&ok).is_ok());
        for (what, change, error) in ceremony_refusals() {
            let mut ceremony = ok.clone();
            change(&mut ceremony);
            assert_eq!(sign_in(&ceremony), Err(error), "{what}");
        }

        // Another passkey's id, another key, a key that does not decode.
        let other = Authenticator::new(Key::es256());
        let response = authenticator.assert(&ok);
        assert_eq!(
            verify_authentication(&rp(), "c", &response, &other.stored(0)),
            Err(WebauthnError::CredentialMismatch)
        );
        let foreign_key = StoredPasskey {
            public_key: other.stored(0).public_key,
            ..stored.clone()
        };
        assert_eq!(
            verify_authentication(&rp(), "c", &response, &foreign_key),
            Err(WebauthnError::BadSignature)
        );
        for public_key in ["", "not base64", "gQE=", "pQECAyYgASFYIA"] {
            let broken = StoredPasskey {
                public_key: public_key.into(),
                ..stored.clone()
            };
            assert_eq!(
                verify_authentication(&rp(), "c", &response, &broken),
                Err(WebauthnError::InvalidPublicKey),
                "{public_key}"
            );
        }

        // Attested credential data has no place in an assertion.
        let auth_data = ok.auth_data(FLAG_AT, 10, &authenticator.attested());
        let response = authenticator.assertion(&ok, auth_data);
        assert!(matches!(
            verify_authentication(&rp(), "c", &response, &stored),
            Err(WebauthnError::Malformed(_))
        ));
    }

    /// Flips each bit 0 of `field`'s bytes in turn: every change must be refused.
    fn every_flip_refused(key: Key, field: &str) {
        let mut authenticator = Authenticator::new(key);
        authenticator.counter = 2;
        let stored = authenticator.stored(1);
        let response = authenticator.assert(&Ceremony::get("c"));
        assert!(verify_authentication(&rp(), "c", &response, &stored).is_ok());
        let bytes = blob(response["response"][field].as_str().unwrap()).unwrap();
        for i in 0..bytes.len() {
            let mut tampered = bytes.clone();
            tampered[i] ^= 1;
            let mut response = response.clone();
            response["response"][field] = json!(b64url(&tampered));
            assert!(
                verify_authentication(&rp(), "c", &response, &stored).is_err(),
                "{field} byte {i}"
            );
        }
    }

    #[test]
    fn tampered_assertions_are_refused() {
        for field in ["signature", "authenticatorData", "clientDataJSON"] {
            every_flip_refused(Key::es256(), field);
            every_flip_refused(Key::ed25519(), field);
        }
        every_flip_refused(Key::rs256(), "signature");
    }

    #[test]
    fn a_tampered_signature_is_a_bad_signature() {
        let mut authenticator = Authenticator::new(Key::ed25519());
        authenticator.counter = 1;
        let mut response = authenticator.assert(&Ceremony::get("c"));
        let mut signature = blob(response["response"]["signature"].as_str().unwrap()).unwrap();
        signature[5] ^= 0x40;
        response["response"]["signature"] = json!(b64url(&signature));
        assert_eq!(
            verify_authentication(&rp(), "c", &response, &authenticator.stored(0)),
            Err(WebauthnError::BadSignature)
        );
        // Truncated DER (ES256), and an empty signature.
        let mut authenticator = Authenticator::new(Key::es256());
        authenticator.counter = 1;
        let response = authenticator.assert(&Ceremony::get("c"));
        let signature = blob(response["response"]["signature"].as_str().unwrap()).unwrap();
        for cut in [signature.len() - 1, 0] {
            let mut response = response.clone();
            response["response"]["signature"] = json!(b64url(&signature[..cut]));
            assert_eq!(
                verify_authentication(&rp(), "c", &response, &authenticator.stored(0)),
                Err(WebauthnError::BadSignature)
            );
        }
    }

    #[test]
    fn malformed_input_is_refused_without_panicking() {
        let authenticator = Authenticator::new(Key::es256());
        let registration = authenticator.register(&Ceremony::create("c"));
        let assertion = authenticator.assert(&Ceremony::get("c"));
        let stored = authenticator.stored(0);
        type Edit = Box<dyn Fn(&mut Value)>;
        let edits: Vec<(&str, Edit)> = vec![
            ("not an object", Box::new(|r| *r = json!("text"))),
            (
                "no id",
                Box::new(|r| {
                    r.as_object_mut().unwrap().remove("id");
                }),
            ),
            ("id is a number", Box::new(|r| r["id"] = json!(1))),
            ("rawId differs", Box::new(|r| r["rawId"] = json!("AAAA"))),
            (
                "padded id",
                Box::new(|r| {
                    let padded = format!("{}=", r["id"].as_str().unwrap());
                    r["id"] = json!(padded);
                    r["rawId"] = json!(padded);
                }),
            ),
            (
                "standard base64 id",
                Box::new(|r| {
                    r["id"] = json!("ab+/");
                    r["rawId"] = json!("ab+/");
                }),
            ),
            (
                "non-canonical id",
                Box::new(|r| {
                    r["id"] = json!("AB");
                    r["rawId"] = json!("AB");
                }),
            ),
            (
                "empty id",
                Box::new(|r| {
                    r["id"] = json!("");
                    r["rawId"] = json!("");
                }),
            ),
            (
                "no response",
                Box::new(|r| {
                    r.as_object_mut().unwrap().remove("response");
                }),
            ),
            (
                "response is an array",
                Box::new(|r| r["response"] = json!([])),
            ),
            (
                "clientDataJSON is not base64url",
                Box::new(|r| r["response"]["clientDataJSON"] = json!("%%%")),
            ),
            (
                "clientDataJSON is not JSON",
                Box::new(|r| r["response"]["clientDataJSON"] = json!(b64url(b"{not json"))),
            ),
            (
                "clientDataJSON lacks fields",
                Box::new(|r| {
                    r["response"]["clientDataJSON"] =
                        json!(b64url(br#"{"type":"webauthn.create"}"#))
                }),
            ),
            (
                "clientDataJSON with a numeric type",
                Box::new(|r| {
                    r["response"]["clientDataJSON"] = json!(b64url(
                        br#"{"type":1,"challenge":"c","origin":"http://localhost:8787"}"#
                    ))
                }),
            ),
            (
                "clientDataJSON with a string crossOrigin",
                Box::new(|r| {
                    r["response"]["clientDataJSON"] = json!(b64url(br#"{"type":"webauthn.create","challenge":"c","origin":"http://localhost:8787","crossOrigin":"no"}"#))
                }),
            ),
            (
                "clientDataJSON is a number",
                Box::new(|r| r["response"]["clientDataJSON"] = json!(5)),
            ),
        ];
        for (what, edit) in &edits {
            for (response, is_registration) in [(&registration, true), (&assertion, false)] {
                let mut response = response.clone();
                edit(&mut response);
                let result = if is_registration {
                    verify_registration(&rp(), "c", &response).map(|_| ())
                } else {
                    verify_authentication(&rp(), "c", &response, &stored).map(|_| ())
                };
                assert!(
                    matches!(
                        result,
                        Err(WebauthnError::Malformed(_) | WebauthnError::CredentialMismatch)
                    ),
                    "{what}: {result:?}"
                );
            }
        }
        let mut wrong_type = registration.clone();
        wrong_type["type"] = json!("password");
        assert_eq!(
            verify_registration(&rp(), "c", &wrong_type),
            Err(WebauthnError::WrongType)
        );

        // The attestation object: not CBOR, not a map, missing or mistyped members, trailing
        // bytes, deep nesting.
        let auth_data = Ceremony::create("c").auth_data(FLAG_AT, 0, &authenticator.attested());
        let attestation = |entries: Vec<(Cbor, Cbor)>| cbor(&Cbor::Map(entries));
        let good = vec![
            (text("fmt"), text("none")),
            (text("attStmt"), Cbor::Map(vec![])),
            (text("authData"), Cbor::Bytes(auth_data.clone())),
        ];
        let mut trailing = attestation(good.clone());
        trailing.push(0);
        let mut duplicated = good.clone();
        duplicated.push((text("fmt"), text("none")));
        let mut nested = vec![0x81u8; 10_000];
        nested.push(0x01);
        let objects: Vec<Vec<u8>> = vec![
            vec![],
            vec![0xff],
            b"not cbor at all".to_vec(),
            cbor(&Cbor::Array(vec![])),
            attestation(good[..2].to_vec()),
            attestation(vec![
                good[0].clone(),
                good[1].clone(),
                (text("authData"), text("x")),
            ]),
            attestation(vec![
                (text("fmt"), Cbor::Integer(1.into())),
                good[1].clone(),
                good[2].clone(),
            ]),
            attestation(duplicated),
            trailing,
            nested,
            vec![0x5b, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff],
        ];
        for object in objects {
            let mut response = registration.clone();
            response["response"]["attestationObject"] = json!(b64url(&object));
            assert!(
                matches!(
                    verify_registration(&rp(), "c", &response),
                    Err(WebauthnError::Malformed(_))
                ),
                "{object:02x?}"
            );
        }

        // Authenticator data cut anywhere, in both ceremonies.
        for cut in 0..auth_data.len() {
            let response = authenticator.registration(
                &Ceremony::create("c"),
                "none",
                vec![],
                auth_data[..cut].to_vec(),
            );
            assert!(
                verify_registration(&rp(), "c", &response).is_err(),
                "cut {cut}"
            );
        }
        let assertion_data = Ceremony::get("c").auth_data(0, 1, &[]);
        for cut in 0..assertion_data.len() {
            let mut response = assertion.clone();
            response["response"]["authenticatorData"] = json!(b64url(&assertion_data[..cut]));
            assert!(
                matches!(
                    verify_authentication(&rp(), "c", &response, &stored),
                    Err(WebauthnError::Malformed(_))
                ),
                "cut {cut}"
            );
        }

        // Flipping any bit of the attestation object never panics.
        let object = blob(
            registration["response"]["attestationObject"]
                .as_str()
                .unwrap(),
        )
        .unwrap();
        for i in 0..object.len() * 8 {
            let mut flipped = object.clone();
            flipped[i / 8] ^= 1 << (i % 8);
            let mut response = registration.clone();
            response["response"]["attestationObject"] = json!(b64url(&flipped));
            let _ = verify_registration(&rp(), "c", &response);
        }

        // Transports and userHandle of the wrong type.
        let mut response = registration.clone();
        response["response"]["transports"] = json!("internal");
        assert!(matches!(
            verify_registration(&rp(), "c", &response),
            Err(WebauthnError::Malformed(_))
        ));
        let mut response = assertion.clone();
        response["response"]["userHandle"] = json!(1);
        assert!(matches!(
            verify_authentication(&rp(), "c", &response, &stored),
            Err(WebauthnError::Malformed(_))
        ));
    }

    #[test]
    fn transports_are_kept_when_well_formed() {
        let parse = |value: Value| transports(Some(&value));
        assert_eq!(parse(json!([])), Ok(None));
        assert_eq!(parse(json!(null)), Ok(None));
        assert_eq!(
            parse(json!(["usb", "nfc", "usb", "smart-card", "a,b", "", "USB"])),
            Ok(Some("usb,nfc,smart-card".into()))
        );
        assert!(parse(json!([1])).is_err());
    }

    #[test]
    fn padded_binary_fields_are_accepted() {
        let mut authenticator = Authenticator::new(Key::es256());
        authenticator.counter = 1;
        let mut response = authenticator.assert(&Ceremony::get("c"));
        for field in ["clientDataJSON", "authenticatorData", "signature"] {
            let bytes = blob(response["response"][field].as_str().unwrap()).unwrap();
            response["response"][field] = json!(base64ct::Base64Url::encode_string(&bytes));
        }
        assert!(verify_authentication(&rp(), "c", &response, &authenticator.stored(0)).is_ok());
        assert_eq!(blob("AA=="), Ok(vec![0]));
        assert!(blob("AA=").is_err());
        assert!(blob("AA===").is_err());
        assert!(blob("A").is_err());
    }

    // Known answers: simplewebauthn's own fixtures (packages/server/src, MasterKale/SimpleWebAuthn
    // at 803d1da), produced by real browsers and authenticators. All have UV set.

    fn base64url_to_standard(text: &str) -> String {
        Base64::encode_string(&blob(text).unwrap())
    }

    #[test]
    fn known_answer_firefox_none_es256_registration() {
        let rp = RelyingParty {
            id: "dev.dontneeda.pw".into(),
            name: "x".into(),
            origins: vec!["https://dev.dontneeda.pw".into()],
        };
        let response = json!({
            "id": "AdKXJEch1aV5Wo7bj7qLHskVY4OoNaj9qu8TPdJ7kSAgUeRxWNngXlcNIGt4gexZGKVGcqZpqqWordXb_he1izY",
            "rawId": "AdKXJEch1aV5Wo7bj7qLHskVY4OoNaj9qu8TPdJ7kSAgUeRxWNngXlcNIGt4gexZGKVGcqZpqqWordXb_he1izY",
            "response": {
                "attestationObject": concat!(
                    "o2NmbXRkbm9uZWdhdHRTdG10oGhhdXRoRGF0YVjFPdxHEOnAiLIp26idVjIguzn3I",
                    "pr_RlsKZWsa-5qK-KBFAAAAAAAAAAAAAAAAAAAAAAAAAAAAQQHSlyRHIdWleVqO24-6ix7JFWODqDWo_arvEz3Se",
                    "5EgIFHkcVjZ4F5XDSBreIHsWRilRnKmaaqlqK3V2_4XtYs2pQECAyYgASFYID5PQTZQQg6haZFQWFzqfAOyQ_ENs",
                    "MH8xxQ4GRiNPsqrIlggU8IVUOV8qpgk_Jh-OTaLuZL52KdX1fTht07X4DiQPow"
                ),
                "clientDataJSON": concat!(
                    "eyJ0eXBlIjoid2ViYXV0aG4uY3JlYXRlIiwiY2hhbGxlbmdlIjoiYUVWalkxQlhkWHBw",
                    "VURBd1NEQndOV2Q0YURKZmRUVmZVRU0wVG1WWloyUSIsIm9yaWdpbiI6Imh0dHBzOlwvXC9kZXYuZG9udG5lZWRh",
                    "LnB3IiwiYW5kcm9pZFBhY2thZ2VOYW1lIjoib3JnLm1vemlsbGEuZmlyZWZveCJ9"
                ),
                "transports": [],
            },
            "type": "public-key",
            "clientExtensionResults": {},
        });
        let challenge = b64url(b"hEccPWuziP00H0p5gxh2_u5_PC4NeYgd");
        assert_eq!(
            verify_registration(&rp, &challenge, &response),
            Ok(Registered {
                credential_id: "AdKXJEch1aV5Wo7bj7qLHskVY4OoNaj9qu8TPdJ7kSAgUeRxWNngXlcNIGt4gexZGKVGcqZpqqWordXb_he1izY".into(),
                public_key: base64url_to_standard(
                    "pQECAyYgASFYID5PQTZQQg6haZFQWFzqfAOyQ_ENsMH8xxQ4GRiNPsqrIlggU8IVUOV8qpgk_Jh-OTaLuZL52KdX1fTht07X4DiQPow"
                ),
                counter: 0,
                device_type: "singleDevice".into(),
                backed_up: false,
                transports: None,
                aaguid: Some("00000000-0000-0000-0000-000000000000".into()),
            })
        );
        let other = RelyingParty {
            origins: vec!["https://dev.dontneeda.pw.evil".into()],
            ..rp.clone()
        };
        assert_eq!(
            verify_registration(&other, &challenge, &response),
            Err(WebauthnError::WrongOrigin)
        );
    }

    #[test]
    fn known_answer_none_rs256_registration() {
        let rp = RelyingParty {
            id: "dev.dontneeda.pw".into(),
            name: "x".into(),
            origins: vec!["https://dev.dontneeda.pw".into()],
        };
        let response = json!({
            "id": "kGXv4RJWLeXRw8Yf3T22K3Gq_GGeDv9OKYmAHLm0Ylo",
            "rawId": "kGXv4RJWLeXRw8Yf3T22K3Gq_GGeDv9OKYmAHLm0Ylo",
            "response": {
                "attestationObject": concat!(
                    "o2NmbXRkbm9uZWdhdHRTdG10oGhhdXRoRGF0YVkBZz3cRxDpwIiyKduonVYyILs59yKa_0ZbCmVrGvuaivigRQAAAABgKLAX",
                    "sdRMArSzr82vyWuyACCQZe_hElYt5dHDxh_dPbYrcar8YZ4O_04piYAcubRiWqQBAwM5AQAgWQEA8X6V649G2vwB99CSf_lu",
                    "wR0jj7oDg_GhA3TQSnNYIwfQJldxT5dmi9H8IjjCrTP28iNuKl29hc3Mowux1FZB0bc5AEJ2oV3JCOMGP9NZKGmOosF7iBN2",
                    "GtGY7Nomcs-ruBv2mxp1nTm6mv5B8XNwh0e18uTA5AJCsl-k6lNLYB2XBIQ3fy2-TjSQ8IOMLypWQbWWBJXzLmepaJ6EWe6k",
                    "f_NaxpA2chWsaekZcr8xG6OIo3iGh0Mpags_qBZtN4n2TDn0R2LheLk4yQ0R_oOAVtX963Yuw0x5NYSZyMNSMi_1RSEPTYn5",
                    "AILmIzQskglDaWJYtnjKz4QLuXWCRRYyDSFDAQAB"
                ),
                "clientDataJSON": concat!(
                    "eyJjaGFsbGVuZ2UiOiJwWVozVlgyeWI4ZFM5eXBsTnhKQ2hpWGhQR0JrOGdaelRBeUoyaVU1eDFrIiwiY2xpZW50RXh0",
                    "ZW5zaW9ucyI6e30sImhhc2hBbGdvcml0aG0iOiJTSEEtMjU2Iiwib3JpZ2luIjoiaHR0cHM6Ly9kZXYuZG9udG5lZWRh",
                    "LnB3IiwidHlwZSI6IndlYmF1dGhuLmNyZWF0ZSJ9"
                ),
                "transports": [],
            },
            "type": "public-key",
            "clientExtensionResults": {},
        });
        let registered = verify_registration(
            &rp,
            "pYZ3VX2yb8dS9yplNxJChiXhPGBk8gZzTAyJ2iU5x1k",
            &response,
        )
        .unwrap();
        assert_eq!(
            registered.credential_id,
            "kGXv4RJWLeXRw8Yf3T22K3Gq_GGeDv9OKYmAHLm0Ylo"
        );
        assert_eq!(
            registered.public_key,
            base64url_to_standard(concat!(
                "pAEDAzkBACBZAQDxfpXrj0ba_AH30JJ_-W7BHSOPugOD8aEDdNBKc1gjB9AmV3FPl2aL0fwiOMKtM_byI24qXb2F",
                "zcyjC7HUVkHRtzkAQnahXckI4wY_01koaY6iwXuIE3Ya0Zjs2iZyz6u4G_abGnWdObqa_kHxc3CHR7Xy5MDkAkKy",
                "X6TqU0tgHZcEhDd_Lb5ONJDwg4wvKlZBtZYElfMuZ6lonoRZ7qR_81rGkDZyFaxp6RlyvzEbo4ijeIaHQylqCz-o",
                "Fm03ifZMOfRHYuF4uTjJDRH-g4BW1f3rdi7DTHk1hJnIw1IyL_VFIQ9NifkAguYjNCySCUNpYli2eMrPhAu5dYJF",
                "FjINIUMBAAE"
            ))
        );
        assert_eq!(
            registered.aaguid.as_deref(),
            Some("6028b017-b1d4-4c02-b4b3-afcdafc96bb2")
        );
    }

    #[test]
    fn known_answer_packed_registration_and_an_assertion_on_localhost() {
        let rp = RelyingParty {
            id: "localhost".into(),
            name: "x".into(),
            origins: vec!["http://localhost:8000".into()],
        };
        let response = json!({
            "id": "AUywDsPYEOoucI3-o-jB1J6Kt6QAxLMa1WwFKj1bNi4pAakWAsZX-pJ4gAeDmocL7SXnl8vzUfLkfrOGIVmds1RhjU1DYIWlxcGhAA",
            "rawId": "AUywDsPYEOoucI3-o-jB1J6Kt6QAxLMa1WwFKj1bNi4pAakWAsZX-pJ4gAeDmocL7SXnl8vzUfLkfrOGIVmds1RhjU1DYIWlxcGhAA",
            "response": {
                "attestationObject": concat!(
                    "o2NmbXRmcGFja2VkZ2F0dFN0bXSiY2FsZyZjc2lnWEcwRQIhAPgoy3sxIeUvN9Mo8twyIQb9hXDHxQ2urIaEq14u6vNH",
                    "AiB8ltlCippsMIIsh6AqMoZlUH_BH0bXT1xsN2zKoCEy72hhdXRoRGF0YVjQSZYN5YgOjGh0NBcPZHZgW4_krrmihjLH",
                    "mVzzuoMdl2NFYfWYqK3OAAI1vMYKZIsLJfHwVQMATAFMsA7D2BDqLnCN_qPowdSeirekAMSzGtVsBSo9WzYuKQGpFgLG",
                    "V_qSeIAHg5qHC-0l55fL81Hy5H6zhiFZnbNUYY1NQ2CFpcXBoQClAQIDJiABIVggPzMMB0nPKu9zvu6tvvyaP7MlGKJi",
                    "4zazYQw5kyCjGykiWCCyHxcnMCwcj4llYwRY-MedgOCQzcz_TgKeabY4yFQyrA"
                ),
                "clientDataJSON": concat!(
                    "eyJ0eXBlIjoid2ViYXV0aG4uY3JlYXRlIiwiY2hhbGxlbmdlIjoiZXlKaFkzUjFZV3hEYUdGc2JHVnVaMlVpT2lKNFVu",
                    "TlpaRU5SZGpWWFdrOXhiWGhTWldsYWJEWkRPWEUxVTJaeVdtNWxOR3hPVTNJNVVWWjBVR2xuSWl3aVlYSmlhWFJ5WVhK",
                    "NVJHRjBZU0k2SW1GeVltbDBjbUZ5ZVVSaGRHRkdiM0pUYVdkdWFXNW5JbjAiLCJvcmlnaW4iOiJodHRwOi8vbG9jYWxo",
                    "b3N0OjgwMDAiLCJjcm9zc09yaWdpbiI6ZmFsc2V9"
                ),
                "transports": ["internal"],
            },
            "type": "public-key",
            "clientExtensionResults": {},
        });
        let challenge = concat!(
            "eyJhY3R1YWxDaGFsbGVuZ2UiOiJ4UnNZZENRdjVXWk9xbXhSZWlabDZDOXE1U2ZyWm5lNGxOU3I5UVZ0UGlnIiwiYXJi",
            "aXRyYXJ5RGF0YSI6ImFyYml0cmFyeURhdGFGb3JTaWduaW5nIn0"
        );
        let registered = verify_registration(&rp, challenge, &response).unwrap();
        assert_eq!(registered.counter, 1_643_485_352);
        assert_eq!(registered.transports.as_deref(), Some("internal"));
        assert_eq!(
            registered.aaguid.as_deref(),
            Some("adce0002-35bc-c60a-648b-0b25f1f05503")
        );
        assert_eq!(registered.device_type, "singleDevice");

        // An assertion by another credential of the same kind of authenticator.
        let response = json!({
            "id": "AaIBxnYfL2pDWJmIii6CYgHBruhVvFGHheWamphVioG_TnEXxKA9MW4FWnJh21zsbmRpRJso9i2JmAtWOtXfVd4oXTgYVusXwhWWsA",
            "rawId": "AaIBxnYfL2pDWJmIii6CYgHBruhVvFGHheWamphVioG_TnEXxKA9MW4FWnJh21zsbmRpRJso9i2JmAtWOtXfVd4oXTgYVusXwhWWsA",
            "response": {
                "authenticatorData": "SZYN5YgOjGh0NBcPZHZgW4_krrmihjLHmVzzuoMdl2MFYftypQ",
                "clientDataJSON": concat!(
                    "eyJ0eXBlIjoid2ViYXV0aG4uZ2V0IiwiY2hhbGxlbmdlIjoiZXlKaFkzUjFZV3hEYUdGc2JHVnVaMlVpT2lKTE0xRjRU",
                    "MnB1VmtwTWFVZHNibFpGY0RWMllUVlJTbVZOVmxkT1psODNVRmxuZFhSbllrRjBRVlZCSWl3aVlYSmlhWFJ5WVhKNVJH",
                    "RjBZU0k2SW5OcFoyNU5aVkJzWldGelpTSjkiLCJvcmlnaW4iOiJodHRwOi8vbG9jYWxob3N0OjgwMDAiLCJjcm9zc09y",
                    "aWdpbiI6ZmFsc2V9"
                ),
                "signature": "MEUCIByFAVGfkoKPEzynp-37BX_HOXSaC6-58-ELjB7BG9opAiEAyD_1mN9YAPrphcwpzK3ym2Xx8EjAapgQ326mKgQ1pW0",
                "userHandle": "internalUserId",
            },
            "type": "public-key",
            "clientExtensionResults": {},
        });
        let challenge = concat!(
            "eyJhY3R1YWxDaGFsbGVuZ2UiOiJLM1F4T2puVkpMaUdsblZFcDV2YTVRSmVNVldOZl83UFlndXRnYkF0QVVBIiwiYXJi",
            "aXRyYXJ5RGF0YSI6InNpZ25NZVBsZWFzZSJ9"
        );
        let mut stored = StoredPasskey {
            credential_id: response["id"].as_str().unwrap().into(),
            public_key: base64url_to_standard(
                "pQECAyYgASFYILTrxTUQv3X4DRM6L_pk65FSMebenhCx3RMsTKoBm-AxIlggEf3qk5552QLNSh1T1oQs7_2C2qysDwN4r4fCp52Hsqs",
            ),
            counter: 0,
            transports: None,
        };
        assert_eq!(
            verify_authentication(&rp, challenge, &response, &stored),
            Ok(Asserted {
                credential_id: stored.credential_id.clone(),
                new_counter: 1_643_868_837,
                backed_up: false,
            })
        );
        stored.counter = 1_643_868_837;
        assert_eq!(
            verify_authentication(&rp, challenge, &response, &stored),
            Err(WebauthnError::CounterRegression)
        );
    }

    #[test]
    fn known_answer_assertion_without_user_verification_is_refused() {
        // A security key's assertion (UP only), with padded base64url fields.
        let rp = RelyingParty {
            id: "dev.dontneeda.pw".into(),
            name: "x".into(),
            origins: vec!["https://dev.dontneeda.pw".into()],
        };
        let response = json!({
            "id": "KEbWNCc7NgaYnUyrNeFGX9_3Y-8oJ3KwzjnaiD1d1LVTxR7v3CaKfCz2Vy_g_MHSh7yJ8yL0Pxg6jo_o0hYiew",
            "rawId": "KEbWNCc7NgaYnUyrNeFGX9_3Y-8oJ3KwzjnaiD1d1LVTxR7v3CaKfCz2Vy_g_MHSh7yJ8yL0Pxg6jo_o0hYiew",
            "response": {
                "authenticatorData": "PdxHEOnAiLIp26idVjIguzn3Ipr_RlsKZWsa-5qK-KABAAAAkA==",
                "clientDataJSON": concat!(
                    "eyJjaGFsbGVuZ2UiOiJkRzkwWVd4c2VWVnVhWEYxWlZaaGJIVmxSWFpsY25sVWFXMWwiLCJj",
                    "bGllbnRFeHRlbnNpb25zIjp7fSwiaGFzaEFsZ29yaXRobSI6IlNIQS0yNTYiLCJvcmlnaW4iOiJodHRwczovL2Rldi5k",
                    "b250bmVlZGEucHciLCJ0eXBlIjoid2ViYXV0aG4uZ2V0In0="
                ),
                "signature": concat!(
                    "MEUCIQDYXBOpCWSWq2Ll4558GJKD2RoWg958lvJSB_GdeokxogIgWuEVQ7ee6AswQY0OsuQ6y8Ks6",
                    "jhd45bDx92wjXKs900="
                ),
            },
            "clientExtensionResults": {},
            "type": "public-key",
        });
        let stored = StoredPasskey {
            credential_id: response["id"].as_str().unwrap().into(),
            public_key: base64url_to_standard(
                "pQECAyYgASFYIIheFp-u6GvFT2LNGovf3ZrT0iFVBsA_76rRysxRG9A1Ilgg8WGeA6hPmnab0HAViUYVRkwTNcN77QBf_RR0dv3lIvQ",
            ),
            counter: 143,
            transports: None,
        };
        assert_eq!(
            verify_authentication(
                &rp,
                &b64url(b"totallyUniqueValueEveryTime"),
                &response,
                &stored
            ),
            Err(WebauthnError::UserVerificationMissing)
        );
    }
}
