//! The collector's TLS: PEM files into a rustls server configuration
//! (ring, TLS 1.2 and 1.3, HTTP/1.1 by ALPN), by the shared readers.

use std::path::Path;
use std::sync::Arc;

use rustls::ServerConfig;

pub use crate::readers::{ReadError, read_certs, read_key};

/// The server configuration for `cert` and `key`; fails when they do not
/// belong together.
pub fn server_config(cert: &Path, key: &Path) -> Result<Arc<ServerConfig>, ReadError> {
    crate::readers::server_config(cert, key, &[b"http/1.1"])
}
