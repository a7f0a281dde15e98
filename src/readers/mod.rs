//! Readers for what a configuration names besides itself: PEM certificate
//! chains and private keys, CA bundles, TLS server configurations, and
//! PostgreSQL URLs.
//!
//! A leaf: it uses nothing of ward's but the `spelling` of paths, so
//! `config` (which reads every file when it loads, and hands a CA bundle
//! or a TLS server configuration on as read), `update`, `report` and
//! `collector` (which use them) read files the same way without
//! depending on each other. Errors are
//! sentences that name the file and say what to give instead.

mod certified;
pub mod postgres;

pub use self::certified::Certified;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::ServerConfig;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};

/// Why a file named by the configuration cannot be used. The message
/// names the file and says what to give instead.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    #[error("cannot read {}: {error}", path.display())]
    Io { path: PathBuf, error: String },
    #[error("{}: not a PEM certificate bundle: {error}", path.display())]
    NotCaBundle { path: PathBuf, error: String },
    #[error("{}: no \"BEGIN CERTIFICATE\" block found; give a PEM bundle of CA certificates", path.display())]
    EmptyCaBundle { path: PathBuf },
    #[error("{}: not a PEM certificate chain: {error}", path.display())]
    NotChain { path: PathBuf, error: String },
    #[error("{}: no \"BEGIN CERTIFICATE\" block found; give the PEM chain, leaf first", path.display())]
    EmptyChain { path: PathBuf },
    #[error("{}: no usable PEM private key ({error}); give a PKCS#8, PKCS#1 or SEC1 key", path.display())]
    NoKey { path: PathBuf, error: String },
    #[error("TLS setup: {0}")]
    Tls(String),
    #[error("the certificate and key do not match or are unusable: {0}")]
    Mismatch(String),
}

/// A PEM bundle of CA certificates, for an HTTPS client (the list
/// endpoint, the ministry's collector).
pub fn read_ca_file(path: &Path) -> Result<Vec<reqwest::Certificate>, ReadError> {
    let path_buf = || path.to_path_buf();
    let bytes = std::fs::read(path).map_err(|e| ReadError::Io {
        path: path_buf(),
        error: e.to_string(),
    })?;
    let certs =
        reqwest::Certificate::from_pem_bundle(&bytes).map_err(|e| ReadError::NotCaBundle {
            path: path_buf(),
            error: e.to_string(),
        })?;
    if certs.is_empty() {
        return Err(ReadError::EmptyCaBundle { path: path_buf() });
    }
    Ok(certs)
}

/// A PEM bundle of CA certificates, read once (by `config`, when it
/// loads): the file as named, and the certificates it held then.
#[derive(Clone)]
pub struct CaBundle {
    path: PathBuf,
    certs: Arc<[reqwest::Certificate]>,
}

impl CaBundle {
    /// Reads and checks the bundle at `path` ([`read_ca_file`]).
    pub fn read(path: &Path) -> Result<Self, ReadError> {
        Ok(Self {
            certs: read_ca_file(path)?.into(),
            path: path.to_path_buf(),
        })
    }

    /// The file, as the configuration names it.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The certificates; at least one.
    pub fn certs(&self) -> &[reqwest::Certificate] {
        &self.certs
    }
}

impl std::fmt::Debug for CaBundle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CaBundle")
            .field("path", &self.path)
            .field("certs", &self.certs.len())
            .finish()
    }
}

/// Two bundles are equal when they name the same file: a certificate has
/// no equality of its own, and each holds what its file held when read.
impl PartialEq for CaBundle {
    fn eq(&self, other: &Self) -> bool {
        self.path == other.path
    }
}

impl Eq for CaBundle {}

/// Written as its path, the way the configuration names it.
impl serde::Serialize for CaBundle {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        crate::spelling::path(&self.path, s)
    }
}

/// Installs ring as the process's rustls crypto provider. reqwest is built
/// without a default one and would panic building a client without it.
/// Idempotent: a second install fails harmlessly.
pub fn install_crypto() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}

/// The certificate chain in a PEM file, leaf first; at least one.
pub fn read_certs(path: &Path) -> Result<Vec<CertificateDer<'static>>, ReadError> {
    let path_buf = || path.to_path_buf();
    let certs = CertificateDer::pem_file_iter(path)
        .map_err(|e| ReadError::Io {
            path: path_buf(),
            error: e.to_string(),
        })?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| ReadError::NotChain {
            path: path_buf(),
            error: e.to_string(),
        })?;
    if certs.is_empty() {
        return Err(ReadError::EmptyChain { path: path_buf() });
    }
    Ok(certs)
}

/// The private key in a PEM file.
pub fn read_key(path: &Path) -> Result<PrivateKeyDer<'static>, ReadError> {
    PrivateKeyDer::from_pem_file(path).map_err(|e| ReadError::NoKey {
        path: path.to_path_buf(),
        error: e.to_string(),
    })
}

/// A TLS server configuration (ring, TLS 1.2 and 1.3) for the PEM files
/// `cert` and `key`, offering `alpn`; fails when they do not belong
/// together.
pub fn server_config(
    cert: &Path,
    key: &Path,
    alpn: &[&[u8]],
) -> Result<Arc<ServerConfig>, ReadError> {
    server_config_of(read_certs(cert)?, read_key(key)?, alpn)
}

/// [`server_config`] for a chain and key already read.
pub fn server_config_of(
    chain: Vec<CertificateDer<'static>>,
    key: PrivateKeyDer<'static>,
    alpn: &[&[u8]],
) -> Result<Arc<ServerConfig>, ReadError> {
    let mut config =
        ServerConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
            .with_safe_default_protocol_versions()
            .map_err(|e| ReadError::Tls(e.to_string()))?
            .with_no_client_auth()
            .with_single_cert(chain, key)
            .map_err(|e| ReadError::Mismatch(e.to_string()))?;
    config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
    Ok(Arc::new(config))
}
