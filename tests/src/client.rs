//! A small HTTP client for Better Auth's API that keeps its cookies like a browser would
//! (only the ones it is given, replaced or deleted by `Set-Cookie`), and shows raw responses.

use std::collections::BTreeMap;

use anyhow::{Context, Result};
use reqwest::header::{HeaderMap, HeaderValue, COOKIE, SET_COOKIE};
use reqwest::{Method, StatusCode};
use serde_json::Value;

/// A response, read in full.
#[derive(Debug, Clone)]
pub struct Reply {
    /// Status code.
    pub status: StatusCode,
    /// Headers.
    pub headers: HeaderMap,
    /// Body text.
    pub text: String,
}

impl Reply {
    /// The body as JSON (`Value::Null` for an empty body that is not JSON).
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.text).unwrap_or(Value::Null)
    }

    /// Every `Set-Cookie` header, as sent.
    pub fn set_cookies(&self) -> Vec<String> {
        self.headers
            .get_all(SET_COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok().map(str::to_string))
            .collect()
    }

    /// The `Set-Cookie` header for cookie `name`, if any.
    pub fn set_cookie(&self, name: &str) -> Option<String> {
        self.set_cookies()
            .into_iter()
            .find(|c| c.split('=').next() == Some(name))
    }

    /// A header's value as text.
    pub fn header(&self, name: &str) -> Option<String> {
        self.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
    }

    /// The error `code` of a `{"code","message"}` body.
    pub fn code(&self) -> Option<String> {
        self.json()["code"].as_str().map(str::to_string)
    }
}

/// A client bound to one origin, with a cookie jar.
#[derive(Debug, Clone)]
pub struct AuthClient {
    base: String,
    http: reqwest::Client,
    /// The cookies this client holds, by name.
    pub cookies: BTreeMap<String, String>,
    /// Extra headers sent with every request (e.g. `Origin`).
    pub headers: HeaderMap,
}

impl AuthClient {
    /// A client for `base` (e.g. `http://127.0.0.1:3000`), without cookies.
    pub fn new(base: &str) -> Self {
        AuthClient {
            base: base.trim_end_matches('/').to_string(),
            http: reqwest::Client::builder()
                .no_proxy()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .unwrap_or_default(),
            cookies: BTreeMap::new(),
            headers: HeaderMap::new(),
        }
    }

    /// The base URL.
    pub fn base(&self) -> &str {
        &self.base
    }

    /// Sends a request with the client's cookies and headers; stores `Set-Cookie`s.
    pub async fn send(
        &mut self,
        method: Method,
        path: &str,
        body: Option<(&str, Vec<u8>)>,
        extra: &[(&str, &str)],
    ) -> Result<Reply> {
        let mut request = self
            .http
            .request(method, format!("{}{path}", self.base))
            .headers(self.headers.clone());
        if !self.cookies.is_empty() {
            let line: Vec<String> = self
                .cookies
                .iter()
                .map(|(n, v)| format!("{n}={v}"))
                .collect();
            request = request.header(COOKIE, HeaderValue::from_str(&line.join("; "))?);
        }
        for (name, value) in extra {
            request = request.header(*name, *value);
        }
        if let Some((content_type, bytes)) = body {
            request = request.header("content-type", content_type).body(bytes);
        }
        let response = request.send().await.context("sending the request")?;
        let reply = Reply {
            status: response.status(),
            headers: response.headers().clone(),
            text: response.text().await.unwrap_or_default(),
        };
        for cookie in reply.set_cookies() {
            let first = cookie.split(';').next().unwrap_or_default();
            let Some((name, value)) = first.split_once('=') else {
                continue;
            };
            let deleted = value.is_empty() || cookie.contains("Max-Age=0");
            if deleted {
                self.cookies.remove(name);
            } else {
                self.cookies.insert(name.to_string(), value.to_string());
            }
        }
        Ok(reply)
    }

    /// `GET path`.
    pub async fn get(&mut self, path: &str) -> Result<Reply> {
        self.send(Method::GET, path, None, &[]).await
    }

    /// `POST path` with a JSON body.
    pub async fn post(&mut self, path: &str, body: &Value) -> Result<Reply> {
        self.send(
            Method::POST,
            path,
            Some(("application/json", body.to_string().into_bytes())),
            &[],
        )
        .await
    }

    /// `POST path` with no body.
    pub async fn post_empty(&mut self, path: &str) -> Result<Reply> {
        self.send(Method::POST, path, None, &[]).await
    }

    /// Signs up through `/api/auth/sign-up/email`.
    pub async fn sign_up(&mut self, name: &str, email: &str, password: &str) -> Result<Reply> {
        self.post(
            "/api/auth/sign-up/email",
            &serde_json::json!({ "name": name, "email": email, "password": password }),
        )
        .await
    }

    /// Signs in through `/api/auth/sign-in/email`.
    pub async fn sign_in(&mut self, email: &str, password: &str) -> Result<Reply> {
        self.post(
            "/api/auth/sign-in/email",
            &serde_json::json!({ "email": email, "password": password }),
        )
        .await
    }
}
