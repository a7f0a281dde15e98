//! Keeps one section's certificates current: reads the `cert`/`key`
//! files again on SIGHUP and when they change on disk, and puts them in
//! force only when every pair is good.
//!
//! The files are stamped (device, inode, size, mtime; symlinks followed,
//! so a certbot `live/` link that moves counts) every [`WATCH_INTERVAL`].
//! A change is read once the stamps have held still for one interval, so
//! that a certificate and its key written one after the other are read
//! together, not as a mismatched pair in between.
//!
//! A refused reload (a file that does not parse, a key that does not
//! match its certificate, a certificate that no longer covers
//! `server_name`) keeps the certificates in force, logs an alarm naming
//! the file and the reason, and counts
//! `ward_tls_cert_reload_failures_total{section}`. The same files are not
//! read again until they change. Each reload that succeeds publishes
//! `ward_tls_cert_expiry_timestamp_seconds` for the new certificates.

use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio_util::sync::CancellationToken;
use tracing::{error, info, warn};

use super::Certs;
use super::metrics::{Section, TlsMetrics};
use crate::fsx::Stamp;
use crate::readers::Certified;

/// How often the files' stamps are read.
pub const WATCH_INTERVAL: Duration = Duration::from_secs(2);

/// A certificate expiring sooner than this is warned about on each load.
const EXPIRY_WARNING: Duration = Duration::from_secs(14 * 24 * 3600);

/// Where a section's certificates come from (its `cert`, `key` and
/// `server_name`).
#[derive(Debug, Clone)]
pub struct Files {
    /// PEM chains, leaf first.
    pub cert: Vec<PathBuf>,
    /// `key[i]` is `cert[i]`'s.
    pub key: Vec<PathBuf>,
    /// A name one of the certificates must cover.
    pub server_name: Option<String>,
}

/// One section's certificates and the files they are read from.
#[derive(Debug)]
pub struct Keeper {
    section: Section,
    cert: Vec<PathBuf>,
    key: Vec<PathBuf>,
    server_name: Option<String>,
    certs: Arc<Certs>,
    metrics: Arc<TlsMetrics>,
    /// The files' stamps when they were last read, well or not.
    read: Mutex<Vec<Option<Stamp>>>,
}

impl Keeper {
    /// `certs`, as the config read them from `files`, in force from now,
    /// and their expiry published.
    pub fn new(
        section: Section,
        files: Files,
        certs: Vec<Certified>,
        metrics: Arc<TlsMetrics>,
    ) -> Self {
        let keeper = Self {
            section,
            cert: files.cert,
            key: files.key,
            server_name: files.server_name,
            certs: Certs::new(certs.clone()),
            metrics,
            read: Mutex::new(Vec::new()),
        };
        *keeper.lock() = keeper.stamps();
        keeper.published(&certs);
        keeper
    }

    /// The certificates in force, for the section's listeners.
    pub fn certs(&self) -> &Arc<Certs> {
        &self.certs
    }

    pub fn section(&self) -> Section {
        self.section
    }

    /// Reads every pair again and puts them in force if all are good;
    /// otherwise keeps the ones in force, logs an alarm and counts it.
    /// `cause` says what asked (`SIGHUP`, a change on disk). Reads files:
    /// call it off the async threads.
    pub fn reload(&self, cause: &str) -> bool {
        let stamps = self.stamps();
        let result = self.read_pairs();
        *self.lock() = stamps;
        let section = self.section.as_str();
        match result {
            Ok(fresh) => {
                self.published(&fresh);
                self.certs.replace(fresh);
                info!(section, cause, "TLS certificates reloaded");
                true
            }
            Err(reason) => {
                error!(
                    section,
                    cause,
                    %reason,
                    "ALARM: TLS certificates not reloaded; the ones in force keep serving"
                );
                self.metrics.reload_failed(self.section);
                false
            }
        }
    }

    /// Looks at the files every [`WATCH_INTERVAL`] until `shutdown`, and
    /// reloads once a change has held still for one interval.
    pub async fn watch(self: Arc<Self>, shutdown: CancellationToken) {
        let mut seen = self.stamps();
        loop {
            tokio::select! {
                () = tokio::time::sleep(WATCH_INTERVAL) => {}
                () = shutdown.cancelled() => return,
            }
            let now = self.stamps();
            let settled = now == seen;
            seen.clone_from(&now);
            if settled && now != *self.lock() {
                let keeper = Arc::clone(&self);
                let _ =
                    tokio::task::spawn_blocking(move || keeper.reload("the files changed")).await;
            }
        }
    }

    /// Every pair, read and checked, or the first problem (naming its
    /// file).
    fn read_pairs(&self) -> Result<Vec<Certified>, String> {
        let mut fresh = Vec::with_capacity(self.cert.len());
        for (c, k) in self.cert.iter().zip(&self.key) {
            fresh.push(Certified::read(c, k).map_err(|e| e.to_string())?);
        }
        if fresh.is_empty() {
            return Err("no certificate given".into());
        }
        if let Some(name) = &self.server_name
            && !fresh.iter().any(|c| c.covers(name))
        {
            let files: Vec<String> = self.cert.iter().map(|c| c.display().to_string()).collect();
            return Err(format!(
                "{}: no certificate covers the server name {name:?}; clients would refuse the connection",
                files.join(", ")
            ));
        }
        Ok(fresh)
    }

    /// Publishes the expiry of `certs`, warning about those that expire
    /// within two weeks.
    fn published(&self, certs: &[Certified]) {
        self.metrics.publish_expiry(self.section, certs);
        let now = jiff::Timestamp::now().as_second();
        let soon = now.saturating_add(EXPIRY_WARNING.as_secs() as i64);
        for c in certs.iter().filter(|c| c.not_after < soon) {
            let not_after = jiff::Timestamp::from_second(c.not_after)
                .map_or_else(|_| c.not_after.to_string(), |t| t.to_string());
            warn!(
                section = self.section.as_str(),
                cert = %c.cert_path.display(),
                %not_after,
                expired = c.not_after <= now,
                "a TLS certificate in force expires within two weeks; renew it"
            );
        }
    }

    /// The stamps of every cert and key file, in that order (`None`: it
    /// cannot be read now).
    fn stamps(&self) -> Vec<Option<Stamp>> {
        self.cert
            .iter()
            .chain(&self.key)
            .map(|p| Stamp::read(p).ok())
            .collect()
    }

    /// A poisoned lock still holds a whole vector of stamps.
    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<Option<Stamp>>> {
        self.read
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;
    use std::sync::Arc;

    use super::{Files, Keeper};
    use crate::config::{Config, EncryptedSettings};
    use crate::metrics::Metrics;
    use crate::tls::Section;

    /// A self-signed certificate for `name` and its key, as PEM text.
    fn pair(name: &str) -> (String, String) {
        let key = rcgen::KeyPair::generate().unwrap();
        let cert = rcgen::CertificateParams::new(vec![name.to_owned()])
            .unwrap()
            .self_signed(&key)
            .unwrap();
        (cert.pem(), key.serialize_pem())
    }

    fn settings(dir: &Path) -> EncryptedSettings {
        let (c, k) = (dir.join("c.pem"), dir.join("c.key"));
        let text = format!(
            "[dns]\nupstreams = [\"192.0.2.53\"]\n[list]\nfile = {:?}\ntrusted_keys = [{:?}]\n\
             [dot]\nlisten = [\"127.0.0.1\"]\ncert = {c:?}\nkey = {k:?}\nserver_name = \"dns.example.vn\"\n",
            concat!(env!("CARGO_MANIFEST_DIR"), "/examples/demo.ward"),
            concat!(env!("CARGO_MANIFEST_DIR"), "/examples/demo.pub"),
        );
        Config::parse_with(&text, "t.toml", || None)
            .unwrap()
            .dot
            .unwrap()
    }

    fn write(dir: &Path, (cert, key): &(String, String)) {
        std::fs::write(dir.join("c.pem"), cert).unwrap();
        std::fs::write(dir.join("c.key"), key).unwrap();
    }

    #[test]
    fn a_refused_reload_keeps_the_certificates_and_counts() {
        let dir = tempfile::tempdir().unwrap();
        let first = pair("dns.example.vn");
        write(dir.path(), &first);
        let metrics = Metrics::new();
        let s = settings(dir.path());
        let files = Files {
            cert: s.cert,
            key: s.key,
            server_name: s.server_name,
        };
        let keeper = Keeper::new(Section::Dot, files, s.certs, Arc::clone(metrics.tls()));
        let in_force = || keeper.certs().current()[0].key.cert[0].to_vec();
        let before = in_force();
        let failures = |m: &Metrics| {
            m.encode()
                .lines()
                .find_map(|l| {
                    l.strip_prefix("ward_tls_cert_reload_failures_total{section=\"dot\"} ")
                        .map(str::to_owned)
                })
                .unwrap()
        };
        // Another name: the server name is no longer covered.
        write(dir.path(), &pair("other.example.vn"));
        assert!(!keeper.reload("test"));
        // A certificate with another's key.
        let (cert, _) = pair("dns.example.vn");
        write(dir.path(), &(cert, first.1.clone()));
        assert!(!keeper.reload("test"));
        assert_eq!(in_force(), before);
        assert_eq!(failures(&metrics), "2");
        // A good pair is put in force, and its expiry published.
        write(dir.path(), &pair("dns.example.vn"));
        assert!(keeper.reload("test"));
        assert_ne!(in_force(), before);
        assert_eq!(failures(&metrics), "2");
        let expiry = metrics
            .encode()
            .lines()
            .filter(|l| l.starts_with("ward_tls_cert_expiry_timestamp_seconds{"))
            .count();
        assert_eq!(expiry, 1);
    }
}
