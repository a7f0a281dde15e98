//! A server certificate and its key, read and checked together, with what
//! a listener needs to know of the certificate: the names and addresses
//! it covers and when it expires.

use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::sign::CertifiedKey;
use x509_parser::extensions::GeneralName;
use x509_parser::prelude::{FromDer, X509Certificate};

use super::{ReadError, read_certs, read_key};

/// A PEM certificate chain and its private key, checked to belong
/// together, with the leaf's names, addresses and expiry.
#[derive(Debug, Clone)]
pub struct Certified {
    pub cert_path: PathBuf,
    pub key_path: PathBuf,
    pub key: Arc<CertifiedKey>,
    /// The leaf's DNS names (subjectAltName, else the subject's CN), lower
    /// case; a wildcard as `*.example.vn`.
    pub names: Vec<String>,
    /// The leaf's IP addresses (subjectAltName).
    pub ips: Vec<IpAddr>,
    /// The leaf's notAfter, in seconds since the Unix epoch.
    pub not_after: i64,
}

impl PartialEq for Certified {
    fn eq(&self, other: &Self) -> bool {
        self.cert_path == other.cert_path
            && self.key_path == other.key_path
            && self.key.cert == other.key.cert
    }
}

impl Certified {
    /// Reads `cert` (the chain, leaf first) and `key`, and checks that the
    /// key is the leaf's.
    pub fn read(cert: &Path, key: &Path) -> Result<Self, ReadError> {
        let chain = read_certs(cert)?;
        let secret = read_key(key)?;
        let provider = rustls::crypto::ring::default_provider();
        let certified = CertifiedKey::from_der(chain, secret, &provider).map_err(|e| {
            ReadError::Mismatch(format!("{} with {}: {e}", cert.display(), key.display()))
        })?;
        let leaf = certified
            .cert
            .first()
            .ok_or_else(|| ReadError::EmptyChain {
                path: cert.to_path_buf(),
            })?;
        let (names, ips, not_after) = facts(leaf.as_ref(), cert)?;
        Ok(Self {
            cert_path: cert.to_path_buf(),
            key_path: key.to_path_buf(),
            key: Arc::new(certified),
            names,
            ips,
            not_after,
        })
    }

    /// Whether the certificate covers the DNS name `name` (a wildcard
    /// covers one label).
    pub fn covers(&self, name: &str) -> bool {
        let name = name.strip_suffix('.').unwrap_or(name).to_ascii_lowercase();
        self.names.iter().any(|n| {
            if let Some(base) = n.strip_prefix("*.") {
                name.split_once('.')
                    .is_some_and(|(label, rest)| !label.is_empty() && rest == base)
            } else {
                *n == name
            }
        })
    }

    /// Whether the certificate covers the IP address `ip`.
    pub fn covers_ip(&self, ip: IpAddr) -> bool {
        self.ips
            .iter()
            .any(|a| a.to_canonical() == ip.to_canonical())
    }
}

/// The leaf certificate's DNS names, IP addresses and notAfter.
fn facts(leaf: &[u8], cert: &Path) -> Result<(Vec<String>, Vec<IpAddr>, i64), ReadError> {
    let (_, parsed) = X509Certificate::from_der(leaf).map_err(|e| ReadError::NotChain {
        path: cert.to_path_buf(),
        error: format!("the first certificate cannot be parsed: {e}"),
    })?;
    let mut names = Vec::new();
    let mut ips = Vec::new();
    if let Ok(Some(san)) = parsed.subject_alternative_name() {
        for name in &san.value.general_names {
            match name {
                GeneralName::DNSName(n) => names.push(n.to_ascii_lowercase()),
                GeneralName::IPAddress(raw) => {
                    if let Ok(a) = <[u8; 4]>::try_from(*raw) {
                        ips.push(IpAddr::from(a));
                    } else if let Ok(a) = <[u8; 16]>::try_from(*raw) {
                        ips.push(IpAddr::from(a));
                    }
                }
                _ => {}
            }
        }
    }
    if names.is_empty() && ips.is_empty() {
        names.extend(
            parsed
                .subject()
                .iter_common_name()
                .filter_map(|cn| cn.as_str().ok())
                .map(str::to_ascii_lowercase),
        );
    }
    Ok((names, ips, parsed.validity().not_after.timestamp()))
}
