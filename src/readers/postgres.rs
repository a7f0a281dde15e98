//! PostgreSQL URLs as the collector's `[storage] url` gives them:
//! `sslmode` and `sslrootcert` read by ward (the `postgres` crate knows
//! only disable/prefer/require and has no root certificates), the rest by
//! the `postgres` crate, and the password never shown.

use std::path::PathBuf;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use postgres::config::{Host, SslMode};
use tokio_postgres_rustls::MakeRustlsConnect;

/// A URL that cannot be used; `url` has its password redacted.
#[derive(Debug)]
pub struct UrlError {
    pub url: String,
    pub reason: UrlProblem,
}

/// What is wrong with a `postgres://` URL. The text never contains the
/// URL (nor so its password).
#[derive(Debug, thiserror::Error)]
pub enum UrlProblem {
    /// `key` is `sslmode` or `sslrootcert`.
    #[error("{key}: malformed percent-encoding")]
    PercentEncoding { key: &'static str },
    /// The `postgres` crate's error, which does not echo the URL.
    #[error("{source}")]
    Syntax {
        #[source]
        source: postgres::Error,
    },
    #[error("TLS is not used over a Unix socket: drop sslmode, or connect over TCP")]
    TlsOverUnixSocket,
    #[error(
        "TLS needs sslrootcert=FILE (the PEM CA certificates that issued the server's certificate) or sslrootcert=system"
    )]
    NoRootCert,
    #[error("sslrootcert=system: no system CA certificates found ({errors:?})")]
    NoSystemRoots {
        errors: Vec<rustls_native_certs::Error>,
    },
    /// The `sslrootcert` file cannot be read.
    #[error(transparent)]
    RootCertFile(#[from] super::ReadError),
    #[error("sslrootcert {file}: unusable certificate: {source}")]
    UnusableRootCert {
        file: String,
        #[source]
        source: rustls::Error,
    },
    #[error("TLS setup: {source}")]
    TlsSetup {
        #[source]
        source: rustls::Error,
    },
    #[error(
        "sslmode={mode} falls back to plain text without saying so; write sslmode=require (with sslrootcert) or sslmode=disable"
    )]
    FallsBackToPlainText { mode: String },
    #[error("sslmode={mode:?} is not one of disable, require, verify-ca, verify-full")]
    UnknownSslMode { mode: String },
    #[error("sslrootcert is given but TLS is not: add sslmode=verify-full")]
    RootCertWithoutTls,
}

/// Used when the URL sets no `connect_timeout`.
const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// `postgres://user:secret@host/db` → `postgres://user:***@host/db`; a
/// `password=` query parameter is masked too. Anything unparsable is
/// left as is except those two places.
pub fn redact(url: &str) -> String {
    let (scheme, rest) = match url.find("://") {
        Some(i) => (&url[..i + 3], &url[i + 3..]),
        None => ("", url),
    };
    let authority_end = rest.find(['/', '?']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(authority_end);
    let authority = match authority.rfind('@') {
        Some(at) => {
            let (userinfo, host) = authority.split_at(at);
            match userinfo.find(':') {
                Some(colon) => format!("{}:***{host}", &userinfo[..colon]),
                None => authority.to_owned(),
            }
        }
        None => authority.to_owned(),
    };
    let tail = match tail.split_once('?') {
        Some((path, query)) => {
            let query: Vec<String> = query
                .split('&')
                .map(|kv| match kv.split_once('=') {
                    Some((k, _)) if k.eq_ignore_ascii_case("password") => format!("{k}=***"),
                    _ => kv.to_owned(),
                })
                .collect();
            format!("{path}?{}", query.join("&"))
        }
        None => tail.to_owned(),
    };
    format!("{scheme}{authority}{tail}")
}

/// Decodes `%XX` escapes (a URL query value); `None` if malformed.
fn percent_decode(text: &str) -> Option<String> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' => {
                let hex = text.get(i + 1..i + 3)?;
                out.push(u8::from_str_radix(hex, 16).ok()?);
                i += 3;
            }
            b => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8(out).ok()
}

/// Where and how to connect: the parsed URL, its TLS, and the URL as it
/// may be shown.
#[derive(Clone)]
pub struct Target {
    pub config: postgres::Config,
    pub tls: Option<MakeRustlsConnect>,
    /// The URL with its password redacted.
    pub shown: String,
    /// Plain TCP to something other than loopback.
    pub exposed: bool,
}

impl std::fmt::Debug for Target {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Target")
            .field("url", &self.shown)
            .field("tls", &self.tls.is_some())
            .finish_non_exhaustive()
    }
}

/// Checks a `postgres://` URL the way the collector's PostgreSQL store reads it
/// (sslmode, sslrootcert, the rest by the `postgres` crate), without
/// connecting. The error never contains the password.
pub fn check_url(url: &str) -> Result<(), UrlProblem> {
    Target::parse(url).map(|_| ()).map_err(|e| e.reason)
}

impl Target {
    /// Parses a `postgres://` URL; the error never contains the password.
    pub fn parse(url: &str) -> Result<Self, UrlError> {
        let shown = redact(url);
        let bad = |reason: UrlProblem| UrlError {
            url: shown.clone(),
            reason,
        };
        let ssl = SslParams::split(url).map_err(bad)?;
        // The postgres crate's error does not echo the URL.
        let mut config = postgres::Config::from_str(&ssl.rest)
            .map_err(|source| bad(UrlProblem::Syntax { source }))?;
        let unix = over_unix_socket(&config);
        let loopback = only_loopback(&config);
        let tls = ssl.tls(unix, &mut config).map_err(bad)?;
        if config.get_connect_timeout().is_none() {
            config.connect_timeout(DEFAULT_CONNECT_TIMEOUT);
        }
        if config.get_application_name().is_none() {
            config.application_name("ward-collector");
        }
        config.notice_callback(|notice| {
            tracing::debug!(notice = %notice.message(), "PostgreSQL notice");
        });
        Ok(Self {
            exposed: tls.is_none() && !unix && !loopback,
            config,
            tls,
            shown,
        })
    }
}

/// `sslmode` and `sslrootcert`, taken out of the URL: the `postgres`
/// crate knows only disable/prefer/require and has no root certificates.
#[derive(Debug, PartialEq, Eq)]
struct SslParams {
    sslmode: Option<String>,
    rootcert: Option<String>,
    /// The URL without them, for the `postgres` crate.
    rest: String,
}

impl SslParams {
    /// Takes `sslmode` and `sslrootcert` out of `url`, percent-decoded.
    fn split(url: &str) -> Result<Self, UrlProblem> {
        let (base, query) = url.split_once('?').unwrap_or((url, ""));
        let mut rest = Vec::new();
        let (mut sslmode, mut rootcert) = (None, None);
        for pair in query.split('&').filter(|p| !p.is_empty()) {
            let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
            let decoded = |key| percent_decode(value).ok_or(UrlProblem::PercentEncoding { key });
            match key {
                "sslmode" => sslmode = Some(decoded("sslmode")?),
                "sslrootcert" => rootcert = Some(decoded("sslrootcert")?),
                _ => rest.push(pair),
            }
        }
        let rest = if rest.is_empty() {
            base.to_owned()
        } else {
            format!("{base}?{}", rest.join("&"))
        };
        Ok(Self {
            sslmode,
            rootcert,
            rest,
        })
    }

    /// The TLS connector `sslmode` asks for (setting `config`'s own mode
    /// to match), or why it cannot be had.
    fn tls(
        &self,
        unix: bool,
        config: &mut postgres::Config,
    ) -> Result<Option<MakeRustlsConnect>, UrlProblem> {
        let tls = match self.sslmode.as_deref() {
            None | Some("disable") => {
                config.ssl_mode(SslMode::Disable);
                None
            }
            Some("require" | "verify-ca" | "verify-full") => {
                if unix {
                    return Err(UrlProblem::TlsOverUnixSocket);
                }
                let roots = root_store(self.rootcert.as_deref())?;
                config.ssl_mode(SslMode::Require);
                let provider = Arc::new(rustls::crypto::ring::default_provider());
                let client = rustls::ClientConfig::builder_with_provider(provider)
                    .with_safe_default_protocol_versions()
                    .map_err(|source| UrlProblem::TlsSetup { source })?
                    .with_root_certificates(roots)
                    .with_no_client_auth();
                Some(MakeRustlsConnect::new(client))
            }
            Some(mode @ ("prefer" | "allow")) => {
                return Err(UrlProblem::FallsBackToPlainText {
                    mode: mode.to_owned(),
                });
            }
            Some(other) => {
                return Err(UrlProblem::UnknownSslMode {
                    mode: other.to_owned(),
                });
            }
        };
        if tls.is_none() && self.rootcert.is_some() {
            return Err(UrlProblem::RootCertWithoutTls);
        }
        Ok(tls)
    }
}

/// Whether any host is a Unix socket directory.
fn over_unix_socket(config: &postgres::Config) -> bool {
    config
        .get_hosts()
        .iter()
        .any(|h| !matches!(h, Host::Tcp(_)))
}

/// Whether every host (and every `hostaddr`) is loopback or a Unix
/// socket.
fn only_loopback(config: &postgres::Config) -> bool {
    config.get_hosts().iter().all(|h| match h {
        Host::Tcp(name) => {
            name == "localhost"
                || name
                    .trim_start_matches('[')
                    .trim_end_matches(']')
                    .parse::<std::net::IpAddr>()
                    .is_ok_and(|ip| ip.is_loopback())
        }
        _ => true,
    }) && config.get_hostaddrs().iter().all(|ip| ip.is_loopback())
}

/// The trust anchors for `sslrootcert`: a PEM file, or `system`.
fn root_store(rootcert: Option<&str>) -> Result<rustls::RootCertStore, UrlProblem> {
    let mut roots = rustls::RootCertStore::empty();
    match rootcert {
        None => return Err(UrlProblem::NoRootCert),
        Some("system") => {
            let found = rustls_native_certs::load_native_certs();
            if found.certs.is_empty() {
                return Err(UrlProblem::NoSystemRoots {
                    errors: found.errors,
                });
            }
            roots.add_parsable_certificates(found.certs);
        }
        Some(file) => {
            for cert in super::read_certs(&PathBuf::from(file))? {
                roots
                    .add(cert)
                    .map_err(|source| UrlProblem::UnusableRootCert {
                        file: file.to_owned(),
                        source,
                    })?;
            }
        }
    }
    Ok(roots)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ssl_params_are_taken_out_and_decoded_the_rest_kept_in_order() {
        let p = SslParams::split(
            "postgres://u:pw@db/ward?application_name=a&sslmode=verify-full&sslrootcert=%2Fetc%2Fca.pem&connect_timeout=3",
        )
        .unwrap();
        assert_eq!(p.sslmode.as_deref(), Some("verify-full"));
        assert_eq!(p.rootcert.as_deref(), Some("/etc/ca.pem"));
        assert_eq!(
            p.rest,
            "postgres://u:pw@db/ward?application_name=a&connect_timeout=3"
        );

        let p = SslParams::split("postgres://db/ward?sslmode=disable").unwrap();
        assert_eq!(p.rest, "postgres://db/ward");
        let p = SslParams::split("postgres://db/ward").unwrap();
        assert_eq!((p.sslmode, p.rootcert), (None, None));
        assert_eq!(p.rest, "postgres://db/ward");
    }

    #[test]
    fn a_malformed_escape_names_its_key() {
        let e = SslParams::split("postgres://db/ward?sslrootcert=%zz").unwrap_err();
        assert!(
            matches!(e, UrlProblem::PercentEncoding { key: "sslrootcert" }),
            "{e:?}"
        );
    }
}
