//! Two-factor authentication's endpoints under `/two-factor/` (Better Auth's `twoFactor`
//! plugin, same bodies, answers and error codes), served when `EDGEAUTH_TWO_FACTOR=on`.
//! The rules are in [`crate::auth::two_factor`].
//!
//! | endpoint | who | body | answer |
//! |---|---|---|---|
//! | `enable` | session | `{password, issuer?}` | `{totpURI, backupCodes}` |
//! | `disable` | session | `{password}` | `{status: true}` |
//! | `get-totp-uri` | session | `{password}` | `{totpURI}` |
//! | `generate-backup-codes` | session | `{password}` | `{status: true, backupCodes}` |
//! | `send-otp` | session or pending sign-in | `{}` | `{status: true}` |
//! | `verify-totp`, `verify-otp` | session or pending sign-in | `{code, trustDevice?}` | `{token, user}` |
//! | `verify-backup-code` | session or pending sign-in | `{code, trustDevice?, disableSession?}` | `{token, user}` |

use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::Json;
use serde_json::{json, Map, Value};

use super::endpoint::{
    ApiRoutes, Caller, Endpoint, Field, Method, Reply, Shape, Type, INVALID_INPUT, NO_SESSION,
    UNTRUSTED_ORIGIN,
};
use super::Feature;
use crate::app::AppState;
use crate::auth::two_factor::challenge::{self, Verifier};
use crate::auth::two_factor::{enrolment, Factor};
use crate::http::cookies::{CookieHeaders, TRUST_DEVICE};
use crate::http::edge_proof::tell_edge_sessions_ended;
use crate::http::error::ApiError;
use crate::http::extract::body::{optional_bool, optional_str, required_str, RawBody};
use crate::http::extract::client_ip::SessionClient;
use crate::http::extract::session::CurrentSession;
use crate::rate_limit::{PathRule, Rule};

/// Two-factor authentication (Better Auth's `twoFactor` plugin).
pub const FEATURE: Feature = Feature {
    name: "two-factor",
    routes,
    origin_checked: true,
    // Better Auth's rule for the plugin: 3 requests per 10 s per client.
    rate_limits: &[PathRule {
        prefix: "/two-factor",
        rule: Rule::STRICT,
    }],
};

fn routes(state: &AppState) -> ApiRoutes {
    if !state.config().two_factor.enabled {
        return ApiRoutes::new();
    }
    ApiRoutes::new()
        .route(&ENABLE, post(enable))
        .route(&DISABLE, post(disable))
        .route(&GET_TOTP_URI, post(get_totp_uri))
        .route(&GENERATE_BACKUP_CODES, post(generate_backup_codes))
        .route(&SEND_OTP, post(send_otp))
        .route(&VERIFY_TOTP, post(verify_totp))
        .route(&VERIFY_OTP, post(verify_otp))
        .route(&VERIFY_BACKUP_CODE, post(verify_backup_code))
}

const PASSWORD: &[Field] = &[Field::required(
    "password",
    Type::String,
    "The caller's password",
)];

const CODE: &[Field] = &[
    Field::required("code", Type::String, "The code"),
    Field::optional(
        "trustDevice",
        Type::Boolean,
        "Skip the second factor on this browser for 30 days",
    ),
];

const SIGNED_IN: Reply = Reply::ok(
    "Passed: the session token and the user (the session cookie is set)",
    Shape::Named("TokenAndUser"),
);

const WRONG_CODE: Reply = Reply::error(401, "Wrong code, or no session or pending sign-in");

static ENABLE: Endpoint = Endpoint {
    description: "Two-factor turns on at the first verified TOTP code.",
    body: Some(&[
        Field::required("password", Type::String, "The caller's password"),
        Field::optional(
            "issuer",
            Type::String,
            "The issuer the authenticator app shows",
        ),
    ]),
    ..Endpoint::new(
        Method::Post,
        "/two-factor/enable",
        "Start two-factor enrolment",
        Caller::Session,
        &[
            Reply::ok(
                "The TOTP URI and the backup codes (shown once)",
                Shape::Object(&[
                    Field::required("totpURI", Type::String, "An otpauth:// URI"),
                    Field::required("backupCodes", Type::Strings, "Ten backup codes"),
                ]),
            ),
            Reply::error(400, "Wrong password or invalid input"),
            NO_SESSION,
            UNTRUSTED_ORIGIN,
        ],
    )
};

static DISABLE: Endpoint = Endpoint {
    description: "Every other session ends, and the trusted devices are forgotten.",
    body: Some(PASSWORD),
    ..Endpoint::new(
        Method::Post,
        "/two-factor/disable",
        "Turn two-factor off",
        Caller::Session,
        &[
            Reply::ok("Done", Shape::Named("Status")),
            Reply::error(400, "Wrong password or invalid input"),
            NO_SESSION,
            UNTRUSTED_ORIGIN,
        ],
    )
};

static GET_TOTP_URI: Endpoint = Endpoint {
    body: Some(PASSWORD),
    ..Endpoint::new(
        Method::Post,
        "/two-factor/get-totp-uri",
        "The caller's TOTP URI again",
        Caller::Session,
        &[
            Reply::ok(
                "The URI",
                Shape::Object(&[Field::required(
                    "totpURI",
                    Type::String,
                    "An otpauth:// URI",
                )]),
            ),
            Reply::error(
                400,
                "Wrong password, invalid input, or two-factor is not set up",
            ),
            NO_SESSION,
            UNTRUSTED_ORIGIN,
        ],
    )
};

static GENERATE_BACKUP_CODES: Endpoint = Endpoint {
    body: Some(PASSWORD),
    ..Endpoint::new(
        Method::Post,
        "/two-factor/generate-backup-codes",
        "Replace the caller's backup codes",
        Caller::Session,
        &[
            Reply::ok(
                "The new codes (shown once)",
                Shape::Object(&[
                    Field::required("status", Type::Boolean, "true"),
                    Field::required("backupCodes", Type::Strings, "Ten backup codes"),
                ]),
            ),
            Reply::error(400, "Wrong password, invalid input, or two-factor is off"),
            NO_SESSION,
            UNTRUSTED_ORIGIN,
        ],
    )
};

static SEND_OTP: Endpoint = Endpoint::new(
    Method::Post,
    "/two-factor/send-otp",
    "Mail a one-time code (a session or a pending sign-in)",
    Caller::MaybeSession,
    &[
        Reply::ok("Queued", Shape::Named("Status")),
        WRONG_CODE,
        UNTRUSTED_ORIGIN,
    ],
);

static VERIFY_TOTP: Endpoint = Endpoint {
    description: "Finishes a pending sign-in, or enrolment for a signed-in caller.",
    body: Some(CODE),
    ..Endpoint::new(
        Method::Post,
        "/two-factor/verify-totp",
        "Check a code from the authenticator app",
        Caller::MaybeSession,
        &[SIGNED_IN, INVALID_INPUT, WRONG_CODE, UNTRUSTED_ORIGIN],
    )
};

static VERIFY_OTP: Endpoint = Endpoint {
    body: Some(CODE),
    ..Endpoint::new(
        Method::Post,
        "/two-factor/verify-otp",
        "Check a mailed one-time code",
        Caller::MaybeSession,
        &[SIGNED_IN, INVALID_INPUT, WRONG_CODE, UNTRUSTED_ORIGIN],
    )
};

static VERIFY_BACKUP_CODE: Endpoint = Endpoint {
    body: Some(&[
        Field::required(
            "code",
            Type::String,
            "A backup code (with or without its hyphen)",
        ),
        Field::optional(
            "trustDevice",
            Type::Boolean,
            "Skip the second factor on this browser for 30 days",
        ),
        Field::optional("disableSession", Type::Boolean, "Do not start a session"),
    ]),
    ..Endpoint::new(
        Method::Post,
        "/two-factor/verify-backup-code",
        "Use a backup code",
        Caller::MaybeSession,
        &[SIGNED_IN, INVALID_INPUT, WRONG_CODE, UNTRUSTED_ORIGIN],
    )
};

/// Longest code accepted (backup codes are 11 characters; anything longer is not a code).
const MAX_CODE_LEN: usize = 64;

fn code(body: &Map<String, Value>) -> Result<&str, ApiError> {
    let code = required_str(body, "code")?;
    if code.len() > MAX_CODE_LEN || code.contains('\0') {
        return Err(ApiError::validation("[body.code] Invalid code"));
    }
    Ok(code)
}

/// `POST /two-factor/enable {password, issuer?}`.
async fn enable(
    State(state): State<AppState>,
    CurrentSession(current): CurrentSession,
    body: RawBody,
) -> Result<Response, ApiError> {
    let body = body.object(false, false)?;
    let password = optional_str(&body, "password")?;
    let issuer = optional_str(&body, "issuer")?;
    let enrolment = enrolment::enable(&state, &current, password, issuer).await?;
    Ok(Json(json!({
        "totpURI": enrolment.totp_uri,
        "backupCodes": enrolment.backup_codes,
    }))
    .into_response())
}

/// `POST /two-factor/disable {password}`: also ends the user's other sessions (the edge is
/// told) and forgets this device's trust.
async fn disable(
    State(state): State<AppState>,
    CurrentSession(current): CurrentSession,
    headers: HeaderMap,
    body: RawBody,
) -> Result<Response, ApiError> {
    let body = body.object(false, false)?;
    let password = optional_str(&body, "password")?;
    enrolment::disable(&state, &current, password).await?;
    let mut response = CookieHeaders::default()
        .with_cookies([state.cookies().delete(TRUST_DEVICE)])
        .apply(Json(json!({ "status": true })));
    tell_edge_sessions_ended(&state, &headers, &current.found.user.id, &mut response);
    Ok(response)
}

/// `POST /two-factor/get-totp-uri {password}`.
async fn get_totp_uri(
    State(state): State<AppState>,
    CurrentSession(current): CurrentSession,
    body: RawBody,
) -> Result<Response, ApiError> {
    let body = body.object(false, false)?;
    let password = optional_str(&body, "password")?;
    let uri = enrolment::totp_uri(&state, &current, password).await?;
    Ok(Json(json!({ "totpURI": uri })).into_response())
}

/// `POST /two-factor/generate-backup-codes {password}`.
async fn generate_backup_codes(
    State(state): State<AppState>,
    CurrentSession(current): CurrentSession,
    body: RawBody,
) -> Result<Response, ApiError> {
    let body = body.object(false, false)?;
    let password = optional_str(&body, "password")?;
    let codes = enrolment::regenerate_backup_codes(&state, &current, password).await?;
    Ok(Json(json!({ "status": true, "backupCodes": codes })).into_response())
}

/// `POST /two-factor/send-otp`.
async fn send_otp(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: RawBody,
) -> Result<Response, ApiError> {
    body.object(false, true)?;
    let verifier = challenge::verifier(&state, &headers).await?;
    challenge::send_code(&state, &verifier).await?;
    Ok(Json(json!({ "status": true })).into_response())
}

/// Checks the factor and answers `{token, user}`, with the new session's cookies when a
/// pending sign-in became one.
async fn verify(
    state: &AppState,
    client: &crate::auth::issue::Client,
    verifier: Verifier,
    factor: Factor<'_>,
    body: &Map<String, Value>,
) -> Result<Response, ApiError> {
    let trust_device = optional_bool(body, "trustDevice")?.unwrap_or(false);
    challenge::check(state, &verifier, factor).await?;
    let passed = challenge::pass(state, verifier, factor, client, trust_device).await?;
    let answer = Json(json!({ "token": passed.session.token, "user": passed.user }));
    if !passed.new_session {
        return Ok(answer.into_response());
    }
    Ok(
        CookieHeaders::new_session(state, &passed.session, passed.dont_remember)?
            .with_cookies(passed.cookies)
            .apply(answer),
    )
}

/// `POST /two-factor/verify-totp {code, trustDevice?}`.
async fn verify_totp(
    State(state): State<AppState>,
    SessionClient(client): SessionClient,
    headers: HeaderMap,
    body: RawBody,
) -> Result<Response, ApiError> {
    let body = body.object(false, false)?;
    let verifier = challenge::verifier(&state, &headers).await?;
    verify(&state, &client, verifier, Factor::Totp(code(&body)?), &body).await
}

/// `POST /two-factor/verify-otp {code, trustDevice?}`.
async fn verify_otp(
    State(state): State<AppState>,
    SessionClient(client): SessionClient,
    headers: HeaderMap,
    body: RawBody,
) -> Result<Response, ApiError> {
    let body = body.object(false, false)?;
    let verifier = challenge::verifier(&state, &headers).await?;
    verify(
        &state,
        &client,
        verifier,
        Factor::EmailCode(code(&body)?),
        &body,
    )
    .await
}

/// `POST /two-factor/verify-backup-code {code, trustDevice?, disableSession?}`. With
/// `disableSession`, the code is checked and used but no session is created (the answer's
/// `token` is the caller's session's, or null).
async fn verify_backup_code(
    State(state): State<AppState>,
    SessionClient(client): SessionClient,
    headers: HeaderMap,
    body: RawBody,
) -> Result<Response, ApiError> {
    let body = body.object(false, false)?;
    let verifier = challenge::verifier(&state, &headers).await?;
    let factor = Factor::BackupCode(code(&body)?);
    if optional_bool(&body, "disableSession")?.unwrap_or(false) {
        challenge::check(&state, &verifier, factor).await?;
        let token = match &verifier {
            Verifier::Session(current) => Some(current.found.session.token.clone()),
            Verifier::Pending(..) => None,
        };
        return Ok(Json(json!({ "token": token, "user": verifier.user() })).into_response());
    }
    verify(&state, &client, verifier, factor, &body).await
}
