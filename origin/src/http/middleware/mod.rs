//! Middleware around the router: request ids and the access log ([`trace`]), ambiguous
//! paths refused ([`path`]), the per-address rate limiter ([`rate_limit`]) and the CSRF
//! origin check on the API's routes ([`origin_check`]).

pub mod origin_check;
pub mod path;
pub mod rate_limit;
pub mod trace;
