//! The certificates of the `[dot]` and `[doh]` listeners.
//!
//! A listener's [`ServerConfig`] is built once; its certificate resolver
//! reads the [`Certs`] in force on every handshake, so a reload swaps the
//! certificates under the listeners without touching them: new
//! handshakes get the new certificate, established connections keep
//! theirs. A reload reads every pair first and swaps only when all of
//! them are good, so a broken new file keeps the old certificates.

use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;

use arc_swap::ArcSwap;
use rustls::ServerConfig;
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;

use crate::readers::{Certified, ReadError};

pub mod keeper;
pub mod metrics;

pub use self::keeper::{Files, Keeper};
pub use self::metrics::{HandshakeFailure, Section, TlsMetrics};

/// The certificates one section serves, swapped whole.
pub struct Certs {
    current: ArcSwap<Vec<Certified>>,
}

impl fmt::Debug for Certs {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let current = self.current.load();
        let paths: Vec<_> = current.iter().map(|c| &c.cert_path).collect();
        f.debug_struct("Certs").field("cert", &paths).finish()
    }
}

impl Certs {
    /// The certificates as the config read them. `certs` is not empty
    /// (the config requires a `cert`).
    pub fn new(certs: Vec<Certified>) -> Arc<Self> {
        Arc::new(Self {
            current: ArcSwap::from_pointee(certs),
        })
    }

    /// The certificates in force.
    pub fn current(&self) -> Arc<Vec<Certified>> {
        self.current.load_full()
    }

    /// Reads every `cert[i]`/`key[i]` pair again and puts them in force if
    /// all are good; otherwise keeps the ones in force and says why.
    pub fn reload(&self, cert: &[PathBuf], key: &[PathBuf]) -> Result<(), ReadError> {
        let fresh = cert
            .iter()
            .zip(key)
            .map(|(c, k)| Certified::read(c, k))
            .collect::<Result<Vec<_>, _>>()?;
        if fresh.is_empty() {
            return Err(ReadError::Tls("no certificate given".into()));
        }
        self.replace(fresh);
        Ok(())
    }

    /// Puts `fresh` in force (read and checked by the caller; not empty).
    pub fn replace(&self, fresh: Vec<Certified>) {
        self.current.store(Arc::new(fresh));
    }

    /// A TLS server configuration (ring; TLS 1.2 and 1.3) offering `alpn`,
    /// whose certificate is picked, on each handshake, from the ones in
    /// force by the client's server name.
    pub fn server_config(self: &Arc<Self>, alpn: &[&[u8]]) -> Result<Arc<ServerConfig>, ReadError> {
        let mut config =
            ServerConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
                .with_safe_default_protocol_versions()
                .map_err(|e| ReadError::Tls(e.to_string()))?
                .with_no_client_auth()
                .with_cert_resolver(Arc::new(Resolver(Arc::clone(self))));
        config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
        Ok(Arc::new(config))
    }

    /// The certificate for a handshake that asked for `server_name`: the
    /// first that covers it, else the first.
    fn pick(&self, server_name: Option<&str>) -> Option<Arc<CertifiedKey>> {
        let current = self.current.load();
        server_name
            .and_then(|name| current.iter().find(|c| c.covers(name)))
            .or_else(|| current.first())
            .map(|c| Arc::clone(&c.key))
    }
}

#[derive(Debug)]
struct Resolver(Arc<Certs>);

impl ResolvesServerCert for Resolver {
    fn resolve(&self, hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        self.0.pick(hello.server_name())
    }
}
