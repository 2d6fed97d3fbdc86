//! The one place the origin talks to other servers: OAuth providers' discovery documents,
//! JWKS, token and user-info endpoints.
//!
//! Every call has a connect timeout and an overall timeout, every answer is read up to
//! [`MAX_RESPONSE_BYTES`] and no further, and redirects are followed only on the same
//! host (at most three): a provider endpoint cannot bounce the origin to another server.
//! TLS is rustls with the webpki roots; no proxy or cookie is ever used.

use std::time::Duration;

use reqwest::redirect::Policy;
use reqwest::{Client, RequestBuilder};
use serde_json::Value;

/// The largest answer read from a provider (discovery documents and JWKS are a few KiB,
/// token answers with an ID token rarely 10 KiB).
pub const MAX_RESPONSE_BYTES: usize = 256 * 1024;

/// How long a call may take, all included.
pub const CALL_TIMEOUT: Duration = Duration::from_secs(10);

/// How long connecting may take.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// Why a call to a provider failed. The text names the endpoint's host and the reason,
/// never a token or a secret.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FetchError {
    /// The call could not be made or timed out.
    #[error("request to a provider failed: {0}")]
    Transport(String),
    /// The answer was larger than [`MAX_RESPONSE_BYTES`].
    #[error("provider answer larger than {MAX_RESPONSE_BYTES} bytes")]
    TooLarge,
    /// The answer was not the JSON object expected.
    #[error("provider answer is not a JSON object")]
    NotJson,
    /// The provider answered with an error status.
    #[error("provider answered {0}")]
    Status(u16),
}

/// The outgoing HTTP client.
#[derive(Debug, Clone)]
pub struct HttpClient {
    client: Option<Client>,
}

impl Default for HttpClient {
    fn default() -> Self {
        Self::new()
    }
}

impl HttpClient {
    /// Builds the client. Should TLS fail to initialise, the client is kept and every call
    /// fails with [`FetchError::Transport`] (sign-in with a provider then ends in an error
    /// redirect; the rest of the origin is unaffected).
    pub fn new() -> Self {
        let policy = Policy::custom(|attempt| {
            let first_host = attempt
                .previous()
                .first()
                .and_then(|u| u.host_str())
                .map(str::to_owned);
            if attempt.previous().len() > 3 {
                attempt.stop()
            } else if first_host.as_deref() == attempt.url().host_str() {
                attempt.follow()
            } else {
                attempt.stop()
            }
        });
        let client = Client::builder()
            .redirect(policy)
            .timeout(CALL_TIMEOUT)
            .connect_timeout(CONNECT_TIMEOUT)
            .user_agent(concat!("edgeauth/", env!("CARGO_PKG_VERSION")))
            .build();
        match client {
            Ok(client) => HttpClient {
                client: Some(client),
            },
            Err(e) => {
                tracing::error!(error = %e, "outgoing HTTP client unavailable");
                HttpClient { client: None }
            }
        }
    }

    fn client(&self) -> Result<&Client, FetchError> {
        self.client
            .as_ref()
            .ok_or_else(|| FetchError::Transport("client unavailable".into()))
    }

    /// `GET url` (with a bearer token if given) answered by a JSON object.
    pub async fn get_json(&self, url: &str, bearer: Option<&str>) -> Result<Value, FetchError> {
        let mut request = self.client()?.get(url).header("accept", "application/json");
        if let Some(token) = bearer {
            request = request.bearer_auth(token);
        }
        let (status, value) = send(request).await?;
        if !(200..300).contains(&status) {
            return Err(FetchError::Status(status));
        }
        value.filter(Value::is_object).ok_or(FetchError::NotJson)
    }

    /// `GET url` (with a bearer token if given) answered by a JSON array (GitHub's
    /// `/user/emails`).
    pub async fn get_json_list(
        &self,
        url: &str,
        bearer: Option<&str>,
    ) -> Result<Vec<Value>, FetchError> {
        let mut request = self.client()?.get(url).header("accept", "application/json");
        if let Some(token) = bearer {
            request = request.bearer_auth(token);
        }
        let (status, value) = send(request).await?;
        if !(200..300).contains(&status) {
            return Err(FetchError::Status(status));
        }
        match value {
            Some(Value::Array(items)) => Ok(items),
            _ => Err(FetchError::NotJson),
        }
    }

    /// `POST url` with a form body (and HTTP Basic credentials if given): the status and
    /// the JSON object answered, if it is one.
    pub async fn post_form(
        &self,
        url: &str,
        form: &[(&str, &str)],
        basic: Option<(&str, Option<&str>)>,
    ) -> Result<(u16, Option<Value>), FetchError> {
        let body = serde_urlencoded::to_string(form)
            .map_err(|_| FetchError::Transport("unencodable form".into()))?;
        let mut request = self
            .client()?
            .post(url)
            .header("content-type", "application/x-www-form-urlencoded")
            .header("accept", "application/json")
            .body(body);
        if let Some((user, password)) = basic {
            request = request.basic_auth(user, password);
        }
        let (status, value) = send(request).await?;
        Ok((status, value.filter(Value::is_object)))
    }
}

async fn send(request: RequestBuilder) -> Result<(u16, Option<Value>), FetchError> {
    let mut response = request.send().await.map_err(|e| {
        // Without the URL: a user-info or token URL may carry nothing secret, but the
        // error text is logged and need not repeat it.
        FetchError::Transport(e.without_url().to_string())
    })?;
    let status = response.status().as_u16();
    if response
        .content_length()
        .is_some_and(|n| n > MAX_RESPONSE_BYTES as u64)
    {
        return Err(FetchError::TooLarge);
    }
    let mut body = Vec::new();
    while let Some(chunk) = response
        .chunk()
        .await
        .map_err(|e| FetchError::Transport(e.without_url().to_string()))?
    {
        if body.len() + chunk.len() > MAX_RESPONSE_BYTES {
            return Err(FetchError::TooLarge);
        }
        body.extend_from_slice(&chunk);
    }
    let value = serde_json::from_slice::<Value>(&body)
        .ok()
        .filter(|v| v.is_object() || v.is_array());
    Ok((status, value))
}
