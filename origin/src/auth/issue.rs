//! Issuing sessions: a new row for a user, with its lifetime and where it was issued.

use chrono::{DateTime, Duration, Utc};

use crate::config::Config;
use crate::db::Session;
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
pub fn new_session(
    config: &Config,
    client: &Client,
    user_id: &str,
    remember: bool,
    now: DateTime<Utc>,
) -> Session {
    let lifetime = if remember {
        Duration::seconds(config.session_expires_in)
    } else {
        Duration::days(1)
    };
    Session {
        id: ids::generate_id(),
        expires_at: now + lifetime,
        token: ids::generate_id(),
        created_at: now,
        updated_at: now,
        ip_address: Some(client.ip_address.clone()),
        user_agent: Some(client.user_agent.clone()),
        user_id: user_id.to_string(),
    }
}
