//! edgeauth-edge: the Cloudflare Worker in front of an application, deciding who a request
//! is without a round trip to the origin on the hot path.
//!
//! # Run it locally against the origin
//!
//! ```sh
//! # 1. The origin on 127.0.0.1:3000, sharing both secrets with the edge, trusting the
//! #    edge's client-address header and the edge's browser origin (for CSRF checks):
//! BETTER_AUTH_SECRET=<secret> EDGEAUTH_EDGE_SECRET=<edge secret> \
//!   EDGEAUTH_TRUSTED_IP_HEADER=x-edgeauth-client-ip \
//!   BETTER_AUTH_TRUSTED_ORIGINS=http://127.0.0.1:8787,http://localhost:8787 \
//!   cargo run -p edgeauth-origin --bin edgeauth -- serve
//! # 2. The application behind the edge on 127.0.0.1:3001 (anything that answers HTTP).
//! # 3. The edge: bundle, secrets, wrangler dev on 127.0.0.1:8787.
//! bash scripts/build-edge.sh
//! cp .dev.vars.example .dev.vars        # set BETTER_AUTH_SECRET and EDGE_SECRET as above
//! npx wrangler dev --ip 127.0.0.1 --port 8787
//! # Vars come from wrangler.toml's [vars]; override any with --var NAME:VALUE
//! # (e.g. --var UPSTREAM_URL:http://127.0.0.1:4000 --var SESSION_CACHE_TTL:5).
//! curl -i http://127.0.0.1:8787/__edge/ok                      # the edge's health check
//! curl -i http://127.0.0.1:8787/api/auth/sign-up/email \
//!   -H 'content-type: application/json' \
//!   -d '{"name":"Ada","email":"ada@example.com","password":"a long passphrase"}'
//! curl -i http://127.0.0.1:8787/app -H 'cookie: better-auth.session_token=<from set-cookie>'
//! ```
//!
//! The upstream then sees `x-edgeauth-user-id`, `x-edgeauth-user-email`,
//! `x-edgeauth-user-name` (percent-encoded), `x-edgeauth-session-id` and `x-edgeauth-auth`
//! ([`decide::forward`]). Configuration:
//! [`decide::config`]; error bodies: [`decide::error`]. Two `wrangler dev` at once need distinct
//! `--inspector-port`s (both default to 9229).
//!
//! # What it does with a request
//!
//! The path is normalised first ([`decide::route`]); then
//!
//! 1. `GET /__edge/ok` is answered here (no configuration needed); other `/__edge/*` paths
//!    are a JSON 404;
//! 2. `/api/auth/*` is proxied to `ORIGIN_URL` ([`handlers::auth_api`]), with the client's
//!    address and the edge's proof; calls that revoke sessions are recorded
//!    ([`decide::revocation`], [`runtime::revoke`]); the origin's hosted pages (`PAGES_PATH`,
//!    default `/auth`) are proxied the same way ([`handlers::auth_api::pages`]);
//! 3. paths under `PROTECTED_PATHS` need a verified identity ([`handlers::protected`],
//!    [`runtime::authenticate`]): a JWT ([`decide::jwt`], [`decide::jwks_cache`]) or a
//!    session cookie / signed bearer value ([`decide::credentials`],
//!    [`decide::session_cache`]); they go to `UPSTREAM_URL` with identity headers, or get a
//!    401 (a 302 to `SIGN_IN_URL`, default `/auth/sign-in`, for browser navigations);
//! 4. everything else goes to `UPSTREAM_URL` as is.
//!
//! Every client-sent `x-edgeauth-*` header is removed from every request.
//!
//! # Layout
//!
//! Three layers; every import points down, and a unit test (`layering`) enforces it:
//!
//! ```text
//! lib.rs        the #[event(fetch)] entry: read the request and the configuration,
//!               dispatch on the route, map every error to its response
//! handlers/     top-level handlers: auth_api (the auth API and pages pass-through),
//!               protected (protected routes, and the public pass-through)
//! runtime/      glue to the Workers runtime (worker::): the request context (cx),
//!               outgoing requests (fetch), the origin's own endpoints (origin_client),
//!               authentication, revocation effects (revoke), the session cache at
//!               runtime (sessions), isolate memory (state), error responses (respond)
//! decide/       pure decisions, no worker:: anywhere: route, config, credentials,
//!               forward (headers), identity, jwt, jwks_cache, session_cache, liveness,
//!               revocation, memory, error
//! ```
//!
//! Handlers may use the runtime and the decisions; the runtime may use the decisions; the
//! decisions use neither (only the token crate, whose [`edgeauth_token::wire`] is the
//! contract with the origin: header and cookie names, credential precedence, paths).
//!
//! # Bounds
//!
//! | what | bound |
//! |---|---|
//! | revocation through the edge (sign-out, revoke-*, change-password with `revokeOtherSessions`, password reset, account deletion) | immediate in the isolate that saw it; other isolates and locations as soon as KV propagates the marker (KV is eventually consistent, typically within 60 s) |
//! | a session ended directly at the origin, presented as a cookie or bearer session value | refused within `SESSION_CACHE_TTL` (default 60 s) |
//! | a JWT whose session (`sid`) ended directly at the origin | refused within `SESSION_CACHE_TTL` while the origin answers; otherwise at its `exp` |
//! | a JWT without `sid` | valid until `exp` unless a user marker (all-session revocation) refuses it |
//! | JWT lifetime accepted | at most 24 h (`exp - iat`), 30 s leeway |
//! | revocation markers in KV | 25 h (longer than any acceptable JWT) |
//! | origin down | cached sessions until their cache entry ends (≤ `SESSION_CACHE_TTL`), JWTs with the last key set for 24 h after it was fetched; unknown sessions get 503 |
//! | unknown `kid` | at most one JWKS refresh per 30 s per isolate |
//! | the origin slow or answering garbage | the edge's own calls give up after `ORIGIN_TIMEOUT` (10 s), body included, and read at most 1 MiB: no answer, so an unknown session gets 503; a passed-through request gets 504 after `ORIGIN_PROXY_TIMEOUT` (35 s) without an answer, 502 for one that is not HTTP |
//!
//! # Limits
//!
//! - Sessions ended at the origin without passing through the edge (a password reset with
//!   `revokeSessionsOnPasswordReset`, an operator deleting rows) are caught by the bounds
//!   above, not at once.
//! - A raw 32-character session token as a bearer is refused on protected paths (it carries
//!   no HMAC, so every guess would cost an origin call); the auth API passes it through.
//! - WebSocket upgrades are not proxied (`Upgrade` is a hop-by-hop header).
//! - The client address comes from `CF-Connecting-IP`, which Cloudflare sets; under
//!   `wrangler dev` a client can send its own.
//!
//! # Building
//!
//! `bash scripts/build-edge.sh` (worker-build writes `edge/build/`); the pure decisions are
//! unit-tested natively with `cargo test -p edgeauth-edge`, the bundle under `wrangler dev`
//! by `cargo test -p edgeauth-tests --test e2e edge`. Bundle: about 615 KiB of wasm, 218 KiB
//! gzipped, without the token crate's `fast` feature (precomputed Ed25519 tables; with it,
//! 226 KiB gzipped). It is left off: each token is verified once per isolate (the memo), so
//! the faster verification would rarely pay for its size.

pub mod decide;
pub mod handlers;
pub mod runtime;

#[cfg(test)]
mod layering;

use serde_json::json;
use worker::{event, web_sys, Context, Date, Env, Request, Response};

use crate::decide::error::{EdgeError, ReplyContext};
use crate::decide::route::{self, RequestInfo, Route, SERVICE_NAME};
use crate::handlers::{auth_api, protected};
use crate::runtime::cx::{request_info, Cx};
use crate::runtime::{respond, state};

/// The worker's fetch handler: read the request and the configuration, dispatch, and map
/// every error to its response in one place ([`runtime::respond::respond`]). Responses are
/// the runtime's own objects: an upstream's passes through as the runtime gave it.
#[event(fetch)]
async fn fetch(request: Request, env: Env, ctx: Context) -> worker::Result<web_sys::Response> {
    let now = Date::now().as_millis() / 1000;
    let info = request_info(&request);
    match dispatch(request, &env, &ctx, &info, now).await {
        Ok(response) => Ok(response),
        Err(error) => {
            let config = state::loaded_config();
            let return_to = info.return_to();
            respond::respond(
                &error,
                &ReplyContext {
                    wants_html: info.wants_html,
                    sign_in_url: config.as_deref().map(|c| c.sign_in_url.as_str()),
                    return_to: &return_to,
                },
            )
            .map(web_sys::Response::from)
        }
    }
}

async fn dispatch(
    request: Request,
    env: &Env,
    ctx: &Context,
    info: &RequestInfo,
    now: u64,
) -> Result<web_sys::Response, EdgeError> {
    let path = info.path.as_ref().map_err(|e| EdgeError::BadPath(*e))?;
    match route::edge_route(&info.method, path) {
        Some(Route::Health) => {
            return Ok(Response::from_json(&json!({ "ok": true, "service": SERVICE_NAME }))?.into())
        }
        Some(_) => return Err(EdgeError::NotFound),
        None => {}
    }
    let config = state::config(env)?;
    match route::app_route(
        path,
        config.pages_path.as_deref(),
        &config.protected_paths,
        info.preflight,
    ) {
        Route::AuthApi => {
            let cx = Cx::new(&request, env, ctx, &config, info, now);
            auth_api::auth_api(request, &cx, path).await.map(Into::into)
        }
        Route::Pages => {
            let cx = Cx::new(&request, env, ctx, &config, info, now);
            auth_api::pages(request, &cx, path).await.map(Into::into)
        }
        Route::Protected => {
            let cx = Cx::new(&request, env, ctx, &config, info, now);
            protected::protected(request, &cx, path).await
        }
        _ => protected::public(request, &config.upstream_url, info, path).await,
    }
}
