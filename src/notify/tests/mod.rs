//! Tests against real peers on loopback (an in-process SMTP server, an axum HTTP server)
//! plus shared fixtures for the unit tests.

mod file_peer;
pub(crate) mod fixtures;
mod http_peer;
mod smtp_peer;
