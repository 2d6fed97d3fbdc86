//! The top-level handlers the fetch entry dispatches to, one per kind of route: the auth API
//! pass-through ([`auth_api`]), and the application's protected and public paths
//! ([`protected`]). They use [`crate::runtime`] and [`crate::decide`]; nothing uses them
//! but the entry.

pub mod auth_api;
pub mod protected;
