//! Web-side enforcement: the transparent TLS (SNI) and HTTP (Host) filters.
//!
//! (Being written.)

pub mod hello;
