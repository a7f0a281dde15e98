//! The block notice page (HTTP 451, RFC 7725).
//!
//! (Stub: being written.)
