//! Errors to and from the runtime: a `worker::Error` is an [`EdgeError`], and an
//! [`EdgeError`] becomes a `worker::Response` here, through the one mapping
//! ([`crate::decide::error::reply`]) and its logging policy ([`EdgeError::is_logged`]).

use crate::decide::error::{reply, EdgeError, Reply, ReplyContext};

impl From<worker::Error> for EdgeError {
    fn from(e: worker::Error) -> Self {
        EdgeError::Internal(e.to_string())
    }
}

/// Builds the `worker::Response` for a [`Reply`].
pub fn to_response(reply: Reply) -> worker::Result<worker::Response> {
    let response = match &reply.body {
        Some(body) => worker::Response::from_json(body)?,
        None => worker::Response::empty()?,
    };
    let mut response = response.with_status(reply.status);
    let headers = response.headers_mut();
    for (name, value) in &reply.headers {
        headers.set(name, value)?;
    }
    Ok(response)
}

/// Builds `error`'s response, logging it if it is a failure of the edge or its dependencies
/// (never a credential, never a refusal: [`EdgeError::is_logged`]).
pub fn respond(error: &EdgeError, context: &ReplyContext<'_>) -> worker::Result<worker::Response> {
    if error.is_logged() {
        worker::console_error!("edgeauth-edge: {error}");
    }
    to_response(reply(error, context))
}
