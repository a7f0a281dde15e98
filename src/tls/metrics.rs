//! The `[dot]` and `[doh]` listeners' TLS handles: handshakes that
//! failed or stalled, certificate reloads that were refused, and when
//! each certificate in force expires. Labelled by section, reason and
//! certificate file: never by client, server name or client id.
//!
//! `metrics` names and registers the families and fills these handles;
//! the listeners and the certificate keeper only record.

use std::sync::Mutex;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;

use crate::instrument::label_enum;
use crate::readers::Certified;

label_enum! {
    /// The config section a TLS listener belongs to.
    pub enum Section {
        /// `[dot]`: DNS over TLS.
        Dot = "dot",
        /// `[doh]`: DNS over HTTPS.
        Doh = "doh",
    }
}

label_enum! {
    /// Why a TLS handshake did not complete
    /// (`ward_tls_handshake_failures_total`).
    pub enum HandshakeFailure {
        /// Not complete within `handshake_timeout` (a stalled client).
        Timeout = "timeout",
        /// Refused by either side: no shared version, cipher or ALPN, a
        /// client that does not trust the certificate, bytes that are
        /// not TLS, a reset.
        Error = "error",
    }
}

/// The labels of `ward_tls_cert_expiry_timestamp_seconds`.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(crate) struct ExpiryLabels {
    pub(crate) section: Section,
    /// The certificate file, as the config names it.
    pub(crate) cert: String,
}

/// The TLS listeners' handles, every fixed series pre-created.
#[derive(Debug)]
pub struct TlsMetrics {
    /// `ward_tls_handshake_failures_total{section,reason}`.
    pub(crate) handshake_failures: [[Counter; HandshakeFailure::ALL.len()]; Section::ALL.len()],
    /// `ward_tls_cert_reload_failures_total{section}`.
    pub(crate) reload_failures: [Counter; Section::ALL.len()],
    /// `ward_tls_cert_expiry_timestamp_seconds{section,cert}`.
    pub(crate) expiry: Family<ExpiryLabels, Gauge>,
    /// The expiry series each section published last, to remove those of
    /// certificates no longer in force.
    published: Mutex<[Vec<ExpiryLabels>; Section::ALL.len()]>,
}

impl TlsMetrics {
    pub(crate) fn new(
        handshake_failures: [[Counter; HandshakeFailure::ALL.len()]; Section::ALL.len()],
        reload_failures: [Counter; Section::ALL.len()],
        expiry: Family<ExpiryLabels, Gauge>,
    ) -> Self {
        Self {
            handshake_failures,
            reload_failures,
            expiry,
            published: Mutex::default(),
        }
    }

    /// Counts one handshake that did not complete.
    pub fn handshake_failed(&self, section: Section, reason: HandshakeFailure) {
        self.handshake_failures[section as usize][reason as usize].inc();
    }

    /// Counts one reload that kept the certificates in force.
    pub fn reload_failed(&self, section: Section) {
        self.reload_failures[section as usize].inc();
    }

    /// Publishes the notAfter of each certificate `section` serves,
    /// dropping the series of certificates it no longer serves.
    pub fn publish_expiry(&self, section: Section, certs: &[Certified]) {
        let fresh: Vec<ExpiryLabels> = certs
            .iter()
            .map(|c| ExpiryLabels {
                section,
                cert: c.cert_path.display().to_string(),
            })
            .collect();
        let mut published = self
            .published
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        for old in &published[section as usize] {
            if !fresh.contains(old) {
                self.expiry.remove(old);
            }
        }
        for (labels, cert) in fresh.iter().zip(certs) {
            self.expiry.get_or_create(labels).set(cert.not_after);
        }
        published[section as usize] = fresh;
    }
}
