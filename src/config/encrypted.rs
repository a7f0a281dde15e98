//! `[dot]` and `[doh]`: DNS over TLS (RFC 7858) and DNS over HTTPS
//! (RFC 8484) listeners. Both sections have the same keys, except that
//! `max_streams` is DoH's alone:
//!
//! - `listen`: `IP:PORT` addresses (an address alone means port 853 for
//!   DoT, 443 for DoH);
//! - `cert` and `key`: PEM files, or arrays of the same length for
//!   several certificates (the client's TLS server name picks one; the
//!   first is the default);
//! - `server_name`: the resolver's name (`dns.example.vn`); a client id
//!   is the first label under it (`school-42.dns.example.vn`); a
//!   certificate must cover it;
//! - `handshake_timeout`, `idle_timeout`, `max_connections`,
//!   `max_connections_per_client`, and DoH's `max_streams` (concurrent
//!   requests on one connection).

use std::fmt;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use serde::Serialize;

use super::extract::{self, Got, Invalid, Table};
use crate::domain::DomainName;
use crate::readers::Certified;
use crate::spelling;

/// Which of the two sections.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transport {
    Dot,
    Doh,
}

impl Transport {
    /// The port an address without one gets.
    pub fn default_port(self) -> u16 {
        match self {
            Self::Dot => 853,
            Self::Doh => 443,
        }
    }
}

/// `handshake_timeout` default.
pub(super) const DEFAULT_HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(5);
/// `idle_timeout` default: long enough for a phone's Private DNS to keep
/// its connection between bursts, short enough to free idle ones.
pub(super) const DEFAULT_IDLE_TIMEOUT: Duration = Duration::from_secs(30);
/// `max_connections` default, across the section's addresses.
pub(super) const DEFAULT_MAX_CONNECTIONS: usize = 10_000;
/// `max_streams` default (DoH): concurrent requests on one connection.
pub(super) const DEFAULT_MAX_STREAMS: u32 = 100;

/// One `[dot]` or `[doh]` section, its certificates read and checked.
#[derive(Clone, PartialEq, Serialize)]
pub struct EncryptedSettings {
    #[serde(serialize_with = "spelling::displays")]
    pub listen: Vec<SocketAddr>,
    /// PEM certificate chains, leaf first; `key[i]` is `cert[i]`'s.
    #[serde(serialize_with = "one_or_many")]
    pub cert: Vec<PathBuf>,
    #[serde(serialize_with = "one_or_many")]
    pub key: Vec<PathBuf>,
    /// Lower case, without a final dot.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub server_name: Option<String>,
    #[serde(serialize_with = "spelling::duration")]
    pub handshake_timeout: Duration,
    #[serde(serialize_with = "spelling::duration")]
    pub idle_timeout: Duration,
    pub max_connections: usize,
    /// Connections one client address (an IPv6 /64) may hold: a school's
    /// NAT puts every device behind one address, so this is generous.
    pub max_connections_per_client: usize,
    /// DoH only.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_streams: Option<u32>,
    /// The pairs, read when the config was loaded; `certs[i]` is
    /// `cert[i]` with `key[i]`.
    #[serde(skip)]
    pub certs: Vec<Certified>,
}

impl fmt::Debug for EncryptedSettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EncryptedSettings")
            .field("listen", &self.listen)
            .field("cert", &self.cert)
            .field("key", &self.key)
            .field("server_name", &self.server_name)
            .finish_non_exhaustive()
    }
}

fn one_or_many<S: serde::Serializer>(paths: &[PathBuf], s: S) -> Result<S::Ok, S::Error> {
    match paths {
        [one] => spelling::path(one, s),
        many => s.collect_seq(many.iter().map(|p| p.display().to_string())),
    }
}

/// A path, or an array of paths.
fn paths(value: &toml::de::DeValue<'_>) -> Result<Vec<PathBuf>, Invalid> {
    match value {
        toml::de::DeValue::Array(items) => {
            let all: Result<Vec<PathBuf>, Invalid> =
                items.iter().map(|v| extract::path(v.get_ref())).collect();
            let all = all?;
            if all.is_empty() {
                return Err(Invalid("an empty array: give at least one file".into()));
            }
            Ok(all)
        }
        other => Ok(vec![extract::path(other)?]),
    }
}

impl EncryptedSettings {
    /// Reads the section; `None` when it has errors (each reported).
    pub(super) fn extract(mut t: Table<'_, '_>, transport: Transport) -> Option<Self> {
        let port = transport.default_port();
        let listen = match t.list("listen", extract::socket_addr_or_ip(port)) {
            Got::Ok(l) if !l.is_empty() => Some(l),
            Got::Bad => None,
            Got::Missing | Got::Ok(_) => {
                t.error(
                    "listen",
                    format!("required: the addresses to listen on, e.g. [\"192.0.2.53:{port}\"]"),
                );
                None
            }
        };
        let cert = required(&mut t, "cert", "the PEM certificate chain, leaf first");
        let key = required(&mut t, "key", "the PEM private key of `cert`");
        let server_name = t
            .get("server_name", |v| {
                let text = extract::string(v)?;
                let name = DomainName::parse(text)
                    .map_err(|e| Invalid(format!("invalid server name {text:?}: {e}")))?;
                Ok(name.as_str().to_ascii_lowercase())
            })
            .ok();
        let handshake_timeout = t
            .get(
                "handshake_timeout",
                extract::duration(Duration::from_millis(100), Duration::from_secs(120)),
            )
            .or(DEFAULT_HANDSHAKE_TIMEOUT);
        let idle_timeout = t
            .get(
                "idle_timeout",
                extract::duration(Duration::from_secs(1), Duration::from_secs(3600)),
            )
            .or(DEFAULT_IDLE_TIMEOUT);
        let max_connections = t
            .get("max_connections", extract::integer(1, 1_000_000))
            .or(DEFAULT_MAX_CONNECTIONS);
        let max_connections_per_client = t
            .get("max_connections_per_client", extract::integer(1, 1_000_000))
            .or((max_connections / 4).max(1));
        let max_streams = match transport {
            Transport::Doh => Some(
                t.get("max_streams", extract::integer(1, 10_000))
                    .or(DEFAULT_MAX_STREAMS),
            ),
            Transport::Dot => None,
        };
        let (cert, key) = match (cert, key) {
            (Some(cert), Some(key)) => (cert, key),
            (Some(cert), None) => {
                // Still say what is wrong with the certificates.
                for c in &cert {
                    if let Err(e) = crate::readers::read_certs(c) {
                        t.error("cert", e.to_string());
                    }
                }
                return None;
            }
            _ => return None,
        };
        if cert.len() != key.len() {
            t.error(
                "key",
                format!(
                    "{} certificate file(s) but {} key file(s): give one key per certificate, in the same order",
                    cert.len(),
                    key.len()
                ),
            );
            return None;
        }
        let mut certs = Vec::new();
        for (c, k) in cert.iter().zip(&key) {
            match Certified::read(c, k) {
                Ok(pair) => certs.push(pair),
                Err(e) => t.error("cert", e.to_string()),
            }
        }
        if certs.len() != cert.len() {
            return None;
        }
        if let Some(name) = &server_name
            && !certs.iter().any(|c| c.covers(name))
        {
            let covered: Vec<&str> = certs
                .iter()
                .flat_map(|c| c.names.iter().map(String::as_str))
                .collect();
            t.error(
                "server_name",
                format!(
                    "no certificate covers {name:?} (they cover: {}); clients would refuse the connection",
                    if covered.is_empty() {
                        "no DNS names".to_owned()
                    } else {
                        covered.join(", ")
                    }
                ),
            );
            return None;
        }
        Some(Self {
            listen: listen?,
            cert,
            key,
            server_name,
            handshake_timeout,
            idle_timeout,
            max_connections,
            max_connections_per_client,
            max_streams,
            certs,
        })
    }
}

/// A required path or array of paths.
fn required(t: &mut Table<'_, '_>, key: &'static str, what: &str) -> Option<Vec<PathBuf>> {
    match t.get(key, paths) {
        Got::Ok(p) => Some(p),
        Got::Bad => None,
        Got::Missing => {
            t.error(key, format!("required: {what}"));
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::super::Config;

    const DEMO_PUB: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/examples/demo.pub");
    const DEMO_WARD: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/examples/demo.ward");

    /// A self-signed certificate for `names` and its key, as PEM files
    /// `NAME.pem` and `NAME.key` in `dir`.
    fn pair(dir: &Path, file: &str, names: &[&str]) -> (String, String) {
        let key = rcgen::KeyPair::generate().unwrap();
        let names: Vec<String> = names.iter().map(|n| (*n).to_owned()).collect();
        let cert = rcgen::CertificateParams::new(names)
            .unwrap()
            .self_signed(&key)
            .unwrap();
        let (c, k) = (
            dir.join(format!("{file}.pem")),
            dir.join(format!("{file}.key")),
        );
        std::fs::write(&c, cert.pem()).unwrap();
        std::fs::write(&k, key.serialize_pem()).unwrap();
        (c.display().to_string(), k.display().to_string())
    }

    fn parse(text: &str) -> Result<Config, Vec<String>> {
        let text = format!(
            "[dns]\nupstreams = [\"192.0.2.53\"]\n[list]\nfile = {DEMO_WARD:?}\ntrusted_keys = [{DEMO_PUB:?}]\n{text}"
        );
        Config::parse_with(&text, "t.toml", || None)
            .map_err(|e| e.0.iter().map(ToString::to_string).collect())
    }

    #[test]
    fn sections_read_with_defaults_and_round_trip() {
        let dir = tempfile::tempdir().unwrap();
        let (c1, k1) = pair(
            dir.path(),
            "a",
            &["dns.example.vn", "*.dns.example.vn", "127.0.0.1"],
        );
        let (c2, k2) = pair(dir.path(), "b", &["other.example.vn"]);
        let c = parse(&format!(
            "[dot]\nlisten = [\"127.0.0.1\"]\ncert = {c1:?}\nkey = {k1:?}\nserver_name = \"DNS.example.vn.\"\n\
             [doh]\nlisten = [\"127.0.0.1:8443\"]\ncert = [{c1:?}, {c2:?}]\nkey = [{k1:?}, {k2:?}]\nmax_streams = 10\n"
        ))
        .unwrap();
        let dot = c.dot.as_ref().unwrap();
        assert_eq!(dot.listen, ["127.0.0.1:853".parse().unwrap()]);
        assert_eq!(dot.server_name.as_deref(), Some("dns.example.vn"));
        assert_eq!(dot.max_streams, None);
        assert!(dot.certs[0].covers("school-42.dns.example.vn"));
        assert!(!dot.certs[0].covers("a.b.dns.example.vn"));
        assert!(dot.certs[0].covers_ip("127.0.0.1".parse().unwrap()));
        let doh = c.doh.as_ref().unwrap();
        assert_eq!(doh.certs.len(), 2);
        assert_eq!(doh.max_streams, Some(10));
        assert_eq!(doh.max_connections_per_client, doh.max_connections / 4);
        let again = Config::parse_with(&c.to_toml(), "again.toml", || None).unwrap();
        assert_eq!(again.dot, c.dot);
        assert_eq!(again.doh, c.doh);
    }

    #[test]
    fn every_problem_is_reported_with_its_line() {
        let dir = tempfile::tempdir().unwrap();
        let (c1, _) = pair(dir.path(), "a", &["dns.example.vn"]);
        let (_, k2) = pair(dir.path(), "b", &["dns.example.vn"]);
        let (c3, k3) = pair(dir.path(), "c", &["other.example.vn"]);
        let errs = parse(&format!(
            "[dot]\nlisten = [\"nonsense\"]\ncert = {c1:?}\nkey = {k2:?}\n\
             [doh]\nlisten = [\"127.0.0.1:443\"]\ncert = {c3:?}\nkey = {k3:?}\nserver_name = \"dns.example.vn\"\n"
        ))
        .unwrap_err();
        assert_eq!(errs.len(), 3, "{errs:#?}");
        assert!(errs[0].starts_with("t.toml:7: dot.listen[0]"), "{errs:#?}");
        assert!(
            errs[1].starts_with("t.toml:8: dot.cert") && errs[1].contains("do not match"),
            "{errs:#?}"
        );
        assert!(
            errs[2].starts_with("t.toml:14: doh.server_name")
                && errs[2].contains("no certificate covers \"dns.example.vn\""),
            "{errs:#?}"
        );
        let missing = parse("[doh]\nlisten = [\"127.0.0.1:443\"]\ncert = \"/nonexistent.pem\"\n")
            .unwrap_err();
        assert_eq!(missing.len(), 2, "{missing:#?}");
        assert!(
            missing[1].contains("doh.cert") && missing[1].contains("/nonexistent.pem"),
            "{missing:#?}"
        );
        assert!(missing[0].contains("doh.key: required"), "{missing:#?}");
    }
}
