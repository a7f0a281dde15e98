//! `ward collector --config FILE`: the collector's own configuration, a
//! file apart from a node's (the ministry runs it, not an ISP), read with
//! the same machinery: every problem at once, with its line.
//!
//! ```toml
//! listen = "127.0.0.1:8443"
//! registry = "registry.toml"       # which key each node signs with
//! storage = "collector.db"         # SQLite file, or "postgres://..."
//! max_body = "64KiB"
//! report_interval = "5m"           # the nodes' report.interval
//!
//! [tls]                            # absent: plain HTTP (behind a proxy)
//! cert = "collector.pem"
//! key = "collector.key"
//!
//! [[user]]                         # dashboard and API (HTTP basic auth)
//! name = "demo"
//! password_hash = "$argon2id$v=19$..."
//!
//! [log]
//! level = "info"
//! ```
//!
//! The registry file is read and validated with the config, its errors
//! named by its own file and line. Relative paths are relative to the
//! working directory, as in the node's config.

use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use super::extract::{self, Got, Invalid, Table};
use super::registry::Registry;
use super::{ConfigError, ConfigErrors, LogSettings, parse_with_extract, read_text};

/// `listen`: loopback, for a reverse proxy or the demo.
pub const DEFAULT_COLLECTOR_LISTEN: SocketAddr =
    SocketAddr::V4(SocketAddrV4::new(Ipv4Addr::LOCALHOST, 8443));
/// `storage`: the SQLite file under the systemd unit's StateDirectory.
pub const DEFAULT_STORAGE: &str = "/var/lib/ward-collector/collector.db";
/// `max_body`: a report is 1.5 KiB plus about 60 bytes per category.
pub const DEFAULT_MAX_BODY: u64 = 64 << 10;
/// Smallest `max_body`: one report of a small list.
pub const MIN_MAX_BODY: u64 = 4 << 10;
/// Largest `max_body`.
pub const MAX_MAX_BODY: u64 = 16 << 20;
/// `report_interval`: the nodes' default `report.interval`.
pub const DEFAULT_EXPECTED_INTERVAL: Duration = Duration::from_secs(300);
/// Longest user name.
pub const MAX_USER_NAME_LEN: usize = 64;

/// Where reports are stored.
#[derive(Clone, PartialEq, Eq)]
pub enum StorageSettings {
    /// An SQLite database file (created on first start).
    Sqlite(PathBuf),
    /// A PostgreSQL connection URL (`postgres://` or `postgresql://`),
    /// parsed (and its `sslrootcert` read) when the config was loaded.
    Postgres(Box<PostgresUrl>),
}

/// A PostgreSQL URL and what it says, read once. The URL may hold a
/// password, so `Debug` shows it redacted; two are equal when their URLs
/// are (the parsed form has no equality of its own).
#[derive(Clone)]
pub struct PostgresUrl {
    pub url: String,
    pub target: crate::readers::postgres::Target,
}

impl PostgresUrl {
    /// Parses `url` without connecting; the error never holds the password.
    pub fn parse(url: &str) -> Result<Self, crate::readers::postgres::UrlError> {
        Ok(Self {
            url: url.to_owned(),
            target: crate::readers::postgres::Target::parse(url)?,
        })
    }
}

impl PartialEq for PostgresUrl {
    fn eq(&self, other: &Self) -> bool {
        self.url == other.url
    }
}

impl Eq for PostgresUrl {}

impl std::fmt::Debug for PostgresUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("PostgresUrl")
            .field(&self.target.shown)
            .finish()
    }
}

impl std::fmt::Debug for StorageSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Sqlite(path) => f.debug_tuple("Sqlite").field(path).finish(),
            Self::Postgres(pg) => f.debug_tuple("Postgres").field(&pg.target.shown).finish(),
        }
    }
}

/// `[tls]`: the certificate the listener serves.
#[derive(Clone)]
pub struct TlsSettings {
    /// PEM certificate chain, leaf first.
    pub cert: PathBuf,
    /// PEM private key (PKCS#8, PKCS#1 or SEC1).
    pub key: PathBuf,
    /// The server configuration built from the two files when the config
    /// was loaded (HTTP/1.1 by ALPN); the listener serves with it.
    pub server: Arc<rustls::ServerConfig>,
}

impl std::fmt::Debug for TlsSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TlsSettings")
            .field("cert", &self.cert)
            .field("key", &self.key)
            .finish_non_exhaustive()
    }
}

/// Equal when they name the same files: a server configuration has no
/// equality, and each holds what its files held when read.
impl PartialEq for TlsSettings {
    fn eq(&self, other: &Self) -> bool {
        (&self.cert, &self.key) == (&other.cert, &other.key)
    }
}

impl Eq for TlsSettings {}

/// One dashboard user.
#[derive(Clone, PartialEq, Eq)]
pub struct User {
    pub name: String,
    /// An Argon2 PHC string (`$argon2id$v=19$m=…,t=…,p=…$salt$hash`).
    pub password_hash: String,
}

impl std::fmt::Debug for User {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("User")
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

/// `[published]`: where the ministry publishes the signed list, so the
/// collector knows the latest serial itself rather than inferring it from
/// what nodes report. Exactly one of `url` and `file`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublishedSettings {
    pub source: PublishedSource,
    /// The ministry's list signing keys (`.pub` files), read with the
    /// config.
    pub trusted_keys: Vec<crate::keys::PublicKeyFile>,
    /// Extra CA certificates for `url`; read with the config.
    pub ca_file: Option<crate::readers::CaBundle>,
    pub poll_interval: Duration,
    pub timeout: Duration,
    pub max_size: u64,
}

/// Where the published list is read from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PublishedSource {
    /// The list endpoint the nodes poll (`https://`).
    Url(reqwest::Url),
    /// The artifact on a local or mounted file system.
    File(PathBuf),
}

/// `published.poll_interval`'s default.
pub const DEFAULT_PUBLISHED_POLL: Duration = Duration::from_secs(60);

impl PublishedSettings {
    fn extract(mut t: Table<'_, '_>) -> Option<Self> {
        use extract::{byte_size, duration, https_url, path};
        let url = t.get("url", https_url);
        let file = t.get("file", path);
        let source = match (url, file) {
            (Got::Ok(url), Got::Missing) => Some(PublishedSource::Url(url)),
            (Got::Missing, Got::Ok(file)) => Some(PublishedSource::File(file)),
            (Got::Missing, Got::Missing) => {
                t.error(
                    "url",
                    "required: the list endpoint (https://…) the nodes poll, or set file to the published artifact",
                );
                None
            }
            (Got::Ok(_), Got::Ok(_)) => {
                t.error("file", "set either url or file, not both");
                None
            }
            _ => None,
        };
        let trusted_keys = match t.list("trusted_keys", extract::public_key_file) {
            Got::Ok(v) if !v.is_empty() => Some(v),
            Got::Bad => None,
            _ => {
                t.error(
                    "trusted_keys",
                    "required: list the .pub file(s) of the key(s) the list is signed with",
                );
                None
            }
        };
        let ca_file = t.get("ca_file", extract::ca_file).ok();
        let poll_interval = t
            .get(
                "poll_interval",
                duration(Duration::from_secs(5), Duration::from_secs(86_400)),
            )
            .or(DEFAULT_PUBLISHED_POLL);
        let timeout = t
            .get(
                "timeout",
                duration(Duration::from_secs(1), Duration::from_secs(3600)),
            )
            .or(Duration::from_secs(60));
        let max_size = t
            .get("max_size", byte_size)
            .or(super::ListSettings::default().max_size);
        let source = source?;
        if ca_file.is_some() && matches!(source, PublishedSource::File(_)) {
            t.error("ca_file", "only used with url; remove it or set url");
        }
        Some(Self {
            source,
            trusted_keys: trusted_keys?,
            ca_file,
            poll_interval,
            timeout,
            max_size,
        })
    }
}

/// The validated collector configuration.
#[derive(Debug, Clone, PartialEq)]
pub struct CollectorConfig {
    pub listen: SocketAddr,
    /// `None`: plain HTTP, for a TLS-terminating reverse proxy.
    pub tls: Option<TlsSettings>,
    /// The registry file, as named.
    pub registry_file: PathBuf,
    /// Its contents, read and validated with the config.
    pub registry: Registry,
    pub storage: StorageSettings,
    /// Largest request body accepted, bytes.
    pub max_body: u64,
    /// How often nodes report; a node is silent after three of these
    /// without a report.
    pub report_interval: Duration,
    /// Dashboard and API users; empty: dashboard and API refuse everyone.
    pub users: Vec<User>,
    /// `None`: the latest serial is the highest any node reports.
    pub published: Option<PublishedSettings>,
    pub log: LogSettings,
}

impl CollectorConfig {
    /// Reads and validates a collector config file and its registry.
    pub fn load(path: &Path) -> Result<Self, ConfigErrors> {
        let text = read_text(path)?;
        Self::parse(&text, &path.display().to_string())
    }

    /// Validates config text (and reads the registry, TLS and key files it
    /// names); `file_label` names it in errors.
    pub fn parse(text: &str, file_label: &str) -> Result<Self, ConfigErrors> {
        let mut registry_errors = Vec::new();
        let parsed = parse_with_extract(text, file_label, |root| {
            Self::extract(root, &mut registry_errors)
        });
        match parsed {
            Ok(Some(config)) if registry_errors.is_empty() => Ok(config),
            Ok(_) if registry_errors.is_empty() => Err(ConfigErrors::whole_file(
                file_label,
                "invalid configuration".into(),
            )),
            Ok(_) => Err(ConfigErrors(registry_errors)),
            Err(ConfigErrors(mut errors)) => {
                errors.extend(registry_errors);
                Err(ConfigErrors(errors))
            }
        }
    }

    fn extract(mut root: Table<'_, '_>, registry_errors: &mut Vec<ConfigError>) -> Option<Self> {
        use extract::{byte_size, duration, path, socket_addr};
        let listen = root.get("listen", socket_addr).or(DEFAULT_COLLECTOR_LISTEN);
        let registry = match root.get("registry", path) {
            Got::Missing => {
                root.error(
                    "registry",
                    "required: the registry file (TOML) mapping each isp_id/node_id to its public key",
                );
                None
            }
            Got::Bad => None,
            Got::Ok(file) => match Registry::load(&file) {
                Ok(r) => Some((file, r)),
                Err(ConfigErrors(errors)) => {
                    registry_errors.extend(errors);
                    None
                }
            },
        };
        let storage = root
            .get("storage", storage)
            .or(StorageSettings::Sqlite(PathBuf::from(DEFAULT_STORAGE)));
        let max_body = match root.get("max_body", byte_size) {
            Got::Ok(n) if !(MIN_MAX_BODY..=MAX_MAX_BODY).contains(&n) => {
                root.error(
                    "max_body",
                    format!(
                        "{n} bytes is out of range: between {MIN_MAX_BODY} (4KiB) and {MAX_MAX_BODY} (16MiB)"
                    ),
                );
                DEFAULT_MAX_BODY
            }
            got => got.or(DEFAULT_MAX_BODY),
        };
        let report_interval = root
            .get(
                "report_interval",
                duration(super::MIN_REPORT_INTERVAL, super::MAX_REPORT_INTERVAL),
            )
            .or(DEFAULT_EXPECTED_INTERVAL);
        let tls = root
            .has("tls")
            .then(|| TlsSettings::extract(root.table("tls")))
            .flatten();
        let users = root.tables("user", User::extract).or(Vec::new());
        let mut names: Vec<&str> = Vec::new();
        for (i, u) in users.iter().enumerate() {
            if names.contains(&u.name.as_str()) {
                root.error(
                    "user",
                    format!("user[{i}]: {:?} is named twice; names are unique", u.name),
                );
            }
            names.push(&u.name);
        }
        // Extracted whole before anything returns, so every error is seen.
        let published = root
            .has("published")
            .then(|| PublishedSettings::extract(root.table("published")));
        let log = LogSettings::extract(root.table("log"));
        let (registry_file, registry) = registry?;
        let published = match published {
            Some(settings) => Some(settings?),
            None => None,
        };
        Some(Self {
            listen,
            tls,
            registry_file,
            registry,
            storage,
            max_body,
            report_interval,
            users,
            published,
            log,
        })
    }
}

/// `storage`: a `postgres://` URL or an SQLite file path.
fn storage(value: &toml::de::DeValue<'_>) -> Result<StorageSettings, Invalid> {
    let text = extract::string(value)?;
    if text.starts_with("postgres://") || text.starts_with("postgresql://") {
        // Checked without connecting (sslmode, sslrootcert, the syntax);
        // the error never repeats the URL, which may hold a password.
        let pg = PostgresUrl::parse(text).map_err(|e| Invalid(e.reason.to_string()))?;
        return Ok(StorageSettings::Postgres(Box::new(pg)));
    }
    if text.contains("://") {
        return Err(Invalid(format!(
            "{text:?}: write an SQLite file path or a postgres:// URL"
        )));
    }
    extract::path(value).map(StorageSettings::Sqlite)
}

impl TlsSettings {
    /// Reads `[tls]`: each file once, then the server configuration of
    /// the two.
    fn extract(mut t: Table<'_, '_>) -> Option<Self> {
        let cert = t.get("cert", extract::pem_chain);
        let key = t.get("key", extract::pem_key);
        for (name, got) in [
            ("cert", matches!(cert, Got::Missing)),
            ("key", matches!(key, Got::Missing)),
        ] {
            if got {
                t.error(
                    name,
                    format!("required in [tls]: the PEM {name} file; remove [tls] to serve plain HTTP behind a proxy"),
                );
            }
        }
        let ((cert, chain), (key, secret)) = (cert.ok()?, key.ok()?);
        match crate::readers::server_config_of(chain, secret, &[b"http/1.1"]) {
            Ok(server) => Some(Self { cert, key, server }),
            Err(e) => {
                t.error("key", e.to_string());
                None
            }
        }
    }
}

impl User {
    fn extract(mut t: Table<'_, '_>) -> Option<Self> {
        let name = t.get("name", |v| {
            let text = extract::string(v)?;
            let ok = !text.is_empty()
                && text.len() <= MAX_USER_NAME_LEN
                && text
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'));
            if ok {
                Ok(text.to_owned())
            } else {
                Err(Invalid(format!(
                    "invalid user name {text:?}: 1 to {MAX_USER_NAME_LEN} letters, digits, '.', '_' or '-' (a basic-auth name cannot hold ':')"
                )))
            }
        });
        let hash = t.get("password_hash", |v| {
            let text = extract::string(v)?;
            check_password_hash(text).map_err(|e| Invalid(e.to_string()))?;
            Ok(text.to_owned())
        });
        if matches!(name, Got::Missing) {
            t.error("name", "required in [[user]]: the login name");
        }
        if matches!(hash, Got::Missing) {
            t.error(
                "password_hash",
                "required in [[user]]: an Argon2id PHC string ($argon2id$v=19$...), never the password itself",
            );
        }
        Some(Self {
            name: name.ok()?,
            password_hash: hash.ok()?,
        })
    }
}

/// Why a `[[user]] password_hash` is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PasswordHashError {
    #[error(
        "not an Argon2 PHC string ({source}); expected $argon2id$v=19$m=...,t=...,p=...$<salt>$<hash>"
    )]
    NotPhc {
        #[source]
        source: argon2::password_hash::phc::Error,
    },
    #[error("hash algorithm {algorithm:?} is not supported; use argon2id")]
    Algorithm { algorithm: String },
    #[error("the PHC string has no hash part")]
    NoHash,
}

/// Checks that `text` is an Argon2 PHC hash string.
pub fn check_password_hash(text: &str) -> Result<(), PasswordHashError> {
    let hash =
        argon2::PasswordHash::new(text).map_err(|source| PasswordHashError::NotPhc { source })?;
    let algorithm = hash.algorithm.as_str();
    if !algorithm.starts_with("argon2") {
        return Err(PasswordHashError::Algorithm {
            algorithm: algorithm.to_owned(),
        });
    }
    if hash.hash.is_none() {
        return Err(PasswordHashError::NoHash);
    }
    Ok(())
}

#[cfg(test)]
mod tests;
