//! Issuing and ending sessions: a new row for a user, with its lifetime and where it was
//! issued; signing out.

use chrono::{DateTime, Duration, Utc};

use crate::app::AppState;
use crate::db::{DbError, Session};
use crate::http::error::ApiError;
use crate::http::extract::session::Lookup;
use crate::ids;

/// Who a session is issued to, as the session row records it.
#[derive(Debug, Clone, Default)]
pub struct Client {
    /// The client's address as stored (`""` when unknown).
    pub ip_address: String,
    /// The `User-Agent` header (`""` when absent).
    pub user_agent: String,
}

/// A new session row for `user_id`: 7 days (`session_expires_in`) when the user asked to be
/// remembered, else one day with a browser-session cookie (Better Auth's rule).
pub async fn new_session(
    state: &AppState,
    client: &Client,
    user_id: &str,
    remember: bool,
    now: DateTime<Utc>,
) -> Result<Session, DbError> {
    let config = state.config();
    let lifetime = if remember {
        Duration::seconds(config.session_expires_in)
    } else {
        Duration::days(1)
    };
    Ok(Session {
        id: state.db().row_id("session").await?,
        expires_at: now + lifetime,
        token: ids::generate_id(),
        created_at: now,
        updated_at: now,
        ip_address: Some(client.ip_address.clone()),
        user_agent: Some(client.user_agent.clone()),
        user_id: user_id.to_string(),
        extra: Default::default(),
    })
}

/// Signs out: ends the session a request's credential resolved to, if it is live. Returns
/// whose it was.
pub async fn sign_out(state: &AppState, found: Lookup) -> Result<Option<String>, ApiError> {
    let Lookup::Live(current) = found else {
        return Ok(None);
    };
    state
        .db()
        .delete_session(&current.found.session.token)
        .await?;
    tracing::info!(user = %current.found.user.id, "sign-out");
    Ok(Some(current.found.user.id))
}
