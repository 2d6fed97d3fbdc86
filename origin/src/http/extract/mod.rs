//! What a handler takes from a request: its body within the size limit ([`body`]), the
//! client's address ([`client_ip`]), and who is calling ([`session`]).

pub mod body;
pub mod client_ip;
pub mod session;
