//! The edge's own calls to the origin (not the auth API pass-through): session lookups, the
//! caller's session list, the JWKS and session liveness.
//!
//! Every call carries the edge's proof (`x-edgeauth-edge-secret`) and, when known, the
//! client's address (`x-edgeauth-client-ip`), so the origin rate-limits the client on whose
//! behalf the edge asks rather than the edge itself. Each call is abandoned after
//! `ORIGIN_TIMEOUT` (its answer's body included), and an answer longer than [`MAX_ANSWER`]
//! is not read further; any failure is returned as a reason for the log.

use std::pin::pin;
use std::time::Duration;

use edgeauth_token::wire::{
    AUTH_PREFIX, CLIENT_IP_HEADER, EDGE_SECRET_HEADER, SESSION_LIVENESS_PREFIX,
};
use futures_util::future::{select, Either};
use futures_util::StreamExt;
use worker::{AbortController, Delay, Fetch};

use crate::decide::credentials::ForwardAs;
use crate::decide::liveness::{self, Liveness};
use crate::decide::revocation;
use crate::decide::session_cache::{self, CachedSession};
use crate::runtime::fetch::{self, Body};

/// Longest answer body read from the origin: beyond, the call has failed (and the rest of
/// the body is not read).
pub const MAX_ANSWER: usize = 1024 * 1024;

/// The JWT plugin's header on get-session's answer (Better Auth's name).
const AUTH_JWT_HEADER: &str = "set-auth-jwt";

/// A client for the origin at `ORIGIN_URL`, on behalf of one request.
#[derive(Debug, Clone, Copy)]
pub struct OriginClient<'a> {
    /// `ORIGIN_URL`.
    pub origin_url: &'a str,
    /// `EDGE_SECRET`.
    pub edge_secret: &'a str,
    /// The client's address, when known.
    pub client_ip: Option<&'a str>,
    /// `ORIGIN_TIMEOUT`: how long a call may take, its answer's body included.
    pub timeout: Duration,
}

impl OriginClient<'_> {
    /// `GET /api/auth<path>` with `credential`: the status and the body text.
    async fn get(
        &self,
        path: &str,
        credential: Option<&ForwardAs>,
    ) -> Result<(u16, String), String> {
        self.get_with_jwt(path, credential)
            .await
            .map(|(status, body, _)| (status, body))
    }

    /// [`Self::get`], with the answer's `set-auth-jwt` header.
    async fn get_with_jwt(
        &self,
        path: &str,
        credential: Option<&ForwardAs>,
    ) -> Result<(u16, String, Option<String>), String> {
        let mut headers = vec![
            ("accept".to_string(), "application/json".to_string()),
            (EDGE_SECRET_HEADER.to_string(), self.edge_secret.to_string()),
        ];
        if let Some(ip) = self.client_ip {
            headers.push((CLIENT_IP_HEADER.to_string(), ip.to_string()));
        }
        if let Some(credential) = credential {
            let (name, value) = credential.header();
            headers.push((name.to_string(), value));
        }
        let url = format!("{}{AUTH_PREFIX}{path}", self.origin_url);
        let request = fetch::build_request("GET", &url, &headers, Body::Empty)
            .map_err(|e| format!("building GET {path}: {e}"))?;

        let controller = AbortController::default();
        let signal = controller.signal();
        let fetch = Fetch::Request(request);
        let call = async {
            let mut response = fetch.send_with_signal(&signal).await?;
            let status = response.status_code();
            let jwt = response.headers().get(AUTH_JWT_HEADER).ok().flatten();
            // Read chunk by chunk, so that an endless answer is cut at the cap rather than
            // held in memory whole.
            let mut stream = response.stream()?;
            let mut bytes = Vec::new();
            while let Some(chunk) = stream.next().await {
                let chunk = chunk?;
                if bytes.len() + chunk.len() > MAX_ANSWER {
                    return Ok::<_, worker::Error>((status, None, jwt));
                }
                bytes.extend_from_slice(&chunk);
            }
            Ok((status, Some(bytes), jwt))
        };
        let call = pin!(call);
        let timeout = pin!(Delay::from(self.timeout));
        let outcome = select(call, timeout).await;
        match outcome {
            Either::Left((Ok((status, Some(bytes), jwt)), _)) => {
                Ok((status, String::from_utf8_lossy(&bytes).into_owned(), jwt))
            }
            Either::Left((Ok((_, None, _)), _)) => {
                controller.abort();
                Err(format!("GET {path}: answer too large"))
            }
            Either::Left((Err(e), _)) => Err(format!("GET {path}: {e}")),
            Either::Right(((), _)) => {
                controller.abort();
                Err(format!(
                    "GET {path}: no answer within {} s",
                    self.timeout.as_secs()
                ))
            }
        }
    }

    /// The session `credential` names, asked with `get-session?disableRefresh=true` (which
    /// never extends the session), with the JWT the origin minted for it when usable
    /// ([`session_cache::session_jwt`]). `Ok(None)`: no live session.
    pub async fn get_session(
        &self,
        credential: &ForwardAs,
        now: u64,
    ) -> Result<Option<CachedSession>, String> {
        let (status, body, jwt) = self
            .get_with_jwt("/get-session?disableRefresh=true", Some(credential))
            .await?;
        match status {
            200 => session_cache::parse_get_session(&body, now)
                .map(|found| {
                    found.map(|mut session| {
                        session.jwt = jwt.as_deref().and_then(|token| {
                            session_cache::session_jwt(token, &session.user_id, now)
                        });
                        session
                    })
                })
                .map_err(|e| format!("get-session: {}", e.0)),
            // Better Auth answers 401 `null` when it cannot refresh: no usable session.
            401 => Ok(None),
            other => Err(format!("get-session answered {other}")),
        }
    }

    /// The id of the caller's session whose raw token is `token`, from `list-sessions`.
    pub async fn find_session_id(
        &self,
        credential: &ForwardAs,
        token: &str,
    ) -> Result<Option<String>, String> {
        let (status, body) = self.get("/list-sessions", Some(credential)).await?;
        match status {
            200 => Ok(revocation::find_session_id(&body, token)),
            401 => Ok(None),
            other => Err(format!("list-sessions answered {other}")),
        }
    }

    /// The JWKS document.
    pub async fn jwks(&self) -> Result<String, String> {
        match self.get("/jwks", None).await? {
            (200, body) => Ok(body),
            (other, _) => Err(format!("jwks answered {other}")),
        }
    }

    /// Whether session `sid` is live.
    pub async fn liveness(&self, sid: &str) -> Result<Liveness, String> {
        let encoded: String =
            percent_encoding::utf8_percent_encode(sid, percent_encoding::NON_ALPHANUMERIC)
                .collect();
        let (status, body) = self
            .get(&format!("{SESSION_LIVENESS_PREFIX}{encoded}"), None)
            .await?;
        liveness::parse_answer(status, &body)
            .map_err(|e| format!("edge/session answered {status}: {}", e.0))
    }
}
