//! `[rpz]`: the feed of the national list as a Response Policy Zone, for
//! resolvers that are not ward (BIND, Unbound, PowerDNS Recursor, Knot
//! Resolver): AXFR and IXFR over TCP, an SOA answer over UDP and TCP,
//! NOTIFY to secondaries, TSIG keys and an address ACL, and the zone file
//! over HTTPS.
//!
//! The TSIG secrets are read here, once, from their `secret_file`s
//! (base64, as `tsig-keygen` prints them), and the HTTPS certificate and
//! key (`https_listen`, `cert`, `key`) once, into a server configuration.

use std::fmt;
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use base64::Engine;
use ipnet::IpNet;
use serde::Serialize;

use super::extract::{self, Got, Invalid, Table};
use crate::domain::DomainName;
use crate::list::export::{Action, parse_category_action};
use crate::spelling;

/// The one TSIG algorithm accepted (RFC 8945's mandatory one).
pub const TSIG_HMAC_SHA256: &str = "hmac-sha256";

/// Shortest secret accepted, bytes: RFC 8945 §6 asks for keys no shorter
/// than the hash's output, but 16 random bytes already cannot be guessed.
pub const MIN_TSIG_SECRET: usize = 16;

/// Lists whose changes IXFR can send by default (`ixfr_depth`).
pub const DEFAULT_IXFR_DEPTH: u32 = 16;
/// Most `ixfr_depth` accepted.
pub const MAX_IXFR_DEPTH: u32 = 1024;

/// `[rpz]`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RpzSettings {
    /// TCP (and UDP, for SOA queries) addresses of the feed.
    #[serde(serialize_with = "spelling::displays")]
    pub listen: Vec<SocketAddr>,
    /// The zone's name, lower case, with its trailing dot (`child.rpz.`).
    pub zone: String,
    /// The networks allowed to query the feed; others get REFUSED.
    #[serde(serialize_with = "spelling::displays")]
    pub allow_transfer: Vec<IpNet>,
    /// `[[rpz.tsig]]`: with any, every query must be signed by one.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub tsig: Vec<TsigKeySettings>,
    /// Secondaries told by NOTIFY when a new list is in force.
    #[serde(
        serialize_with = "spelling::displays",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub notify: Vec<SocketAddr>,
    /// How many past lists an IXFR can start from (0: every IXFR gets
    /// the whole zone).
    pub ixfr_depth: u32,
    /// What the zone makes secondaries answer for a listed name, unless
    /// `category_actions` says otherwise.
    pub action: Action,
    /// Actions by category (`"adult=redirect"`). A category the list in
    /// force lacks is ignored until a list has it.
    #[serde(
        serialize_with = "category_actions",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub category_actions: Vec<(String, Action)>,
    /// The block page's addresses for `redirect` (default: `[block]`'s).
    #[serde(
        serialize_with = "spelling::displays_opt",
        skip_serializing_if = "Option::is_none"
    )]
    pub sinkhole_ipv4: Option<Vec<Ipv4Addr>>,
    #[serde(
        serialize_with = "spelling::displays_opt",
        skip_serializing_if = "Option::is_none"
    )]
    pub sinkhole_ipv6: Option<Vec<Ipv6Addr>>,
    /// The zone file over HTTPS: `https_listen`, `cert`, `key`.
    #[serde(flatten, skip_serializing_if = "Option::is_none")]
    pub https: Option<RpzHttps>,
}

impl RpzSettings {
    /// Is `peer` in `allow_transfer`? (An IPv4-mapped IPv6 address counts
    /// as the IPv4 address.)
    pub fn allows(&self, peer: std::net::IpAddr) -> bool {
        let peer = peer.to_canonical();
        self.allow_transfer.iter().any(|n| n.contains(&peer))
    }
}

/// `https_listen`, `cert` and `key` of `[rpz]`.
#[derive(Clone, Serialize)]
pub struct RpzHttps {
    #[serde(rename = "https_listen", serialize_with = "spelling::displays")]
    pub listen: Vec<SocketAddr>,
    /// PEM certificate chain, leaf first.
    #[serde(serialize_with = "spelling::path")]
    pub cert: PathBuf,
    /// PEM private key.
    #[serde(serialize_with = "spelling::path")]
    pub key: PathBuf,
    /// Built from the two files when the config was read.
    #[serde(skip)]
    pub server: Arc<rustls::ServerConfig>,
}

impl fmt::Debug for RpzHttps {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RpzHttps")
            .field("listen", &self.listen)
            .field("cert", &self.cert)
            .field("key", &self.key)
            .finish_non_exhaustive()
    }
}

/// Equal when they name the same addresses and files: a server
/// configuration has no equality.
impl PartialEq for RpzHttps {
    fn eq(&self, other: &Self) -> bool {
        (&self.listen, &self.cert, &self.key) == (&other.listen, &other.cert, &other.key)
    }
}

/// `[[rpz.tsig]]`: one key.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TsigKeySettings {
    /// The key's name, lower case, with its trailing dot.
    pub name: String,
    /// Always [`TSIG_HMAC_SHA256`] for now.
    pub algorithm: String,
    #[serde(serialize_with = "spelling::path")]
    pub secret_file: PathBuf,
    /// The secret, read from `secret_file`.
    #[serde(skip)]
    pub secret: TsigSecret,
}

/// A TSIG secret; its `Debug` does not show it.
#[derive(Clone, PartialEq, Eq)]
pub struct TsigSecret(pub Vec<u8>);

impl fmt::Debug for TsigSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "TsigSecret({} bytes)", self.0.len())
    }
}

impl RpzSettings {
    /// Reads `[rpz]`; `None` when a required key is missing or refused
    /// (the error is recorded).
    pub(super) fn extract(mut t: Table<'_, '_>) -> Option<Self> {
        let listen = match t.list("listen", extract::socket_addr) {
            Got::Ok(l) if !l.is_empty() => Some(l),
            Got::Bad => None,
            Got::Missing | Got::Ok(_) => {
                t.error(
                    "listen",
                    "required: the IP:PORT addresses to serve the zone on (TCP for transfers, UDP for SOA queries)",
                );
                None
            }
        };
        let zone = match t.get("zone", zone_name) {
            Got::Missing => {
                t.error("zone", "required: the zone's name, e.g. \"child.rpz.\"");
                None
            }
            got => got.ok(),
        };
        let allow_transfer = match t.list("allow_transfer", extract::ip_net) {
            Got::Missing => {
                t.error(
                    "allow_transfer",
                    "required: the networks of the secondaries (CIDRs or addresses); write [\"0.0.0.0/0\", \"::/0\"] to allow every address",
                );
                None
            }
            got => got.ok(),
        };
        let mut names: Vec<String> = Vec::new();
        let tsig = t
            .tables("tsig", |t| tsig_key(t, &mut names))
            .ok()
            .unwrap_or_default();
        let notify = t.list("notify", extract::socket_addr);
        let ixfr_depth = match t.get("ixfr_depth", extract::integer(0, MAX_IXFR_DEPTH.into())) {
            Got::Missing => Some(DEFAULT_IXFR_DEPTH),
            got => got.ok(),
        };
        let https = https(&mut t);
        let action = match t.get("action", |v| {
            let text = extract::string(v)?;
            Action::parse(text).ok_or_else(|| {
                Invalid(format!(
                    "action {text:?}: use \"nxdomain\", \"nodata\" or \"redirect\""
                ))
            })
        }) {
            Got::Missing => Some(Action::Nxdomain),
            got => got.ok(),
        };
        let category_actions = match t.list("category_actions", |v| {
            parse_category_action(extract::string(v)?).map_err(Invalid)
        }) {
            Got::Missing => Some(Vec::new()),
            got => got.ok(),
        };
        let sinkhole_ipv4 = t.list("sinkhole_ipv4", extract::ip("IPv4", "192.0.2.1"));
        let sinkhole_ipv6 = t.list("sinkhole_ipv6", extract::ip("IPv6", "2001:db8::1"));
        Some(Self {
            listen: listen?,
            zone: zone?,
            allow_transfer: allow_transfer?,
            tsig,
            notify: match notify {
                Got::Missing => Vec::new(),
                got => got.ok()?,
            },
            ixfr_depth: ixfr_depth?,
            action: action?,
            category_actions: category_actions?,
            sinkhole_ipv4: match sinkhole_ipv4 {
                Got::Missing => None,
                got => Some(got.ok()?),
            },
            sinkhole_ipv6: match sinkhole_ipv6 {
                Got::Missing => None,
                got => Some(got.ok()?),
            },
            https: https.ok()?,
        })
    }
}

/// `category_actions` as written: `"CATEGORY=ACTION"` strings.
fn category_actions<S: serde::Serializer>(
    actions: &[(String, Action)],
    s: S,
) -> Result<S::Ok, S::Error> {
    s.collect_seq(actions.iter().map(|(c, a)| format!("{c}={}", a.as_str())))
}

/// `https_listen`, `cert` and `key`: all three or none. `Err` when they
/// are wrong (recorded).
fn https(t: &mut Table<'_, '_>) -> Result<Option<RpzHttps>, ()> {
    let present = ["https_listen", "cert", "key"].map(|k| t.has(k));
    if present == [false; 3] {
        return Ok(None);
    }
    let listen = t.list("https_listen", extract::socket_addr);
    let cert = t.get("cert", extract::pem_chain);
    let key = t.get("key", extract::pem_key);
    for (name, missing, what) in [
        (
            "https_listen",
            match &listen {
                Got::Missing => true,
                Got::Ok(l) => l.is_empty(),
                Got::Bad => false,
            },
            "the IP:PORT addresses to serve the zone file on over HTTPS",
        ),
        (
            "cert",
            matches!(cert, Got::Missing),
            "the PEM certificate chain for https_listen",
        ),
        (
            "key",
            matches!(key, Got::Missing),
            "the PEM private key for https_listen",
        ),
    ] {
        if missing {
            t.error(
                name,
                format!("required with https_listen, cert or key: {what}"),
            );
        }
    }
    let (Got::Ok(listen), Got::Ok((cert, chain)), Got::Ok((key, secret))) = (listen, cert, key)
    else {
        return Err(());
    };
    if listen.is_empty() {
        return Err(());
    }
    match crate::readers::server_config_of(chain, secret, &[b"http/1.1"]) {
        Ok(server) => Ok(Some(RpzHttps {
            listen,
            cert,
            key,
            server,
        })),
        Err(e) => {
            t.error("key", e.to_string());
            Err(())
        }
    }
}

/// A domain name in lower case with its trailing dot.
fn dns_name(value: &toml::de::DeValue<'_>, what: &str) -> Result<String, Invalid> {
    let text = extract::string(value)?;
    let name =
        DomainName::parse(text).map_err(|e| Invalid(format!("invalid {what} {text:?}: {e}")))?;
    Ok(format!("{}.", name.as_str().to_ascii_lowercase()))
}

fn zone_name(value: &toml::de::DeValue<'_>) -> Result<String, Invalid> {
    dns_name(value, "zone name")
}

/// One `[[rpz.tsig]]` entry; `names` are the key names seen so far.
fn tsig_key(mut t: Table<'_, '_>, names: &mut Vec<String>) -> Option<TsigKeySettings> {
    let name = match t.get("name", |v| dns_name(v, "key name")) {
        Got::Missing => {
            t.error(
                "name",
                "required: the key's name, as the secondaries spell it (e.g. \"ward-feed.\")",
            );
            None
        }
        Got::Ok(name) if names.contains(&name) => {
            t.error("name", format!("key {name:?} is given twice"));
            None
        }
        got => got.ok(),
    };
    if let Some(name) = &name {
        names.push(name.clone());
    }
    let algorithm = match t.get("algorithm", algorithm) {
        Got::Missing => Some(TSIG_HMAC_SHA256.to_owned()),
        got => got.ok(),
    };
    let secret_file = match t.get("secret_file", extract::path) {
        Got::Missing => {
            t.error(
                "secret_file",
                "required: the file holding the key's secret in base64",
            );
            None
        }
        got => got.ok(),
    };
    let secret = match &secret_file {
        Some(path) => match read_secret(path) {
            Ok(secret) => Some(secret),
            Err(message) => {
                t.error("secret_file", message);
                None
            }
        },
        None => None,
    };
    Some(TsigKeySettings {
        name: name?,
        algorithm: algorithm?,
        secret_file: secret_file?,
        secret: secret?,
    })
}

fn algorithm(value: &toml::de::DeValue<'_>) -> Result<String, Invalid> {
    let text = extract::string(value)?;
    let lower = text.trim_end_matches('.').to_ascii_lowercase();
    if lower == TSIG_HMAC_SHA256 {
        Ok(lower)
    } else {
        Err(Invalid(format!(
            "algorithm {text:?} is not supported; only \"{TSIG_HMAC_SHA256}\" is"
        )))
    }
}

/// The base64 secret in `path` (surrounding whitespace ignored).
fn read_secret(path: &Path) -> Result<TsigSecret, String> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    let secret = base64::engine::general_purpose::STANDARD
        .decode(text.trim())
        .map_err(|e| {
            format!(
                "{}: not a base64 secret ({e}); write the secret alone, as `tsig-keygen` prints it",
                path.display()
            )
        })?;
    if secret.len() < MIN_TSIG_SECRET {
        return Err(format!(
            "{}: the secret is {} bytes; use at least {MIN_TSIG_SECRET} random bytes (32 is usual for hmac-sha256)",
            path.display(),
            secret.len()
        ));
    }
    Ok(TsigSecret(secret))
}

#[cfg(test)]
mod tests {
    use super::super::Config;
    use crate::list::export::Action;

    const DEMO_PUB: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/examples/demo.pub");
    const DEMO_WARD: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/examples/demo.ward");

    fn parse(rpz: &str) -> Result<Config, String> {
        let text = format!(
            "[dns]\nupstreams = [\"192.0.2.53\"]\n[list]\nfile = \"{DEMO_WARD}\"\ntrusted_keys = [\"{DEMO_PUB}\"]\n{rpz}"
        );
        Config::parse_with(&text, "t.toml", || None).map_err(|e| e.to_string())
    }

    #[test]
    fn a_feed_with_keys_reads_and_round_trips() {
        let dir = tempfile::tempdir().unwrap();
        let secret = dir.path().join("k.secret");
        std::fs::write(&secret, "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=\n").unwrap();
        let config = parse(&format!(
            "[rpz]\nlisten = [\"127.0.0.1:5300\", \"[::1]:5300\"]\nzone = \"Child.RPZ\"\nallow_transfer = [\"10.0.0.0/8\", \"192.0.2.7\"]\nnotify = [\"192.0.2.7:53\"]\nixfr_depth = 3\naction = \"NODATA\"\ncategory_actions = [\"adult=redirect\"]\nsinkhole_ipv4 = [\"192.0.2.1\"]\n[[rpz.tsig]]\nname = \"Feed-Key\"\nalgorithm = \"hmac-sha256\"\nsecret_file = \"{}\"\n",
            secret.display()
        ))
        .unwrap();
        let rpz = config.rpz.as_ref().unwrap();
        assert_eq!(rpz.zone, "child.rpz.");
        assert_eq!(rpz.ixfr_depth, 3);
        assert_eq!(rpz.action, Action::Nodata);
        assert_eq!(
            rpz.category_actions,
            [("adult".to_owned(), Action::Redirect)]
        );
        assert_eq!(rpz.sinkhole_ipv4, Some(vec!["192.0.2.1".parse().unwrap()]));
        assert_eq!(rpz.sinkhole_ipv6, None);
        assert_eq!(rpz.notify, ["192.0.2.7:53".parse().unwrap()]);
        assert_eq!(rpz.tsig[0].name, "feed-key.");
        assert_eq!(rpz.tsig[0].secret.0, b"0123456789abcdef0123456789abcdef");
        assert!(!format!("{rpz:?}").contains("0123456789"));
        let text = config.to_toml();
        assert!(text.contains("[[rpz.tsig]]"), "{text}");
        let back = Config::parse_with(&text, "round-trip", || None).unwrap();
        assert_eq!(back, config);
    }

    #[test]
    fn every_problem_at_once_with_its_line() {
        let dir = tempfile::tempdir().unwrap();
        let short = dir.path().join("short");
        std::fs::write(&short, "c2hvcnQ=").unwrap();
        let err = parse(&format!(
            "[rpz]\nlisten = [\"127.0.0.1\"]\nnotify = [\"192.0.2.1\"]\nhttps_listen = [\"0.0.0.0:443\"]\nixfr_depth = 5000\naction = \"drop\"\ncategory_actions = [\"adult\", \"adult=pass\"]\n[[rpz.tsig]]\nname = \"k\"\nalgorithm = \"hmac-md5\"\nsecret_file = \"{}\"\n[[rpz.tsig]]\nname = \"k.\"\nsecret_file = \"/nonexistent/k\"\n",
            short.display()
        ))
        .unwrap_err();
        let lines: Vec<&str> = err.lines().collect();
        let expect = [
            "t.toml:6: rpz.zone: required: the zone's name",
            "t.toml:6: rpz.allow_transfer: required: the networks of the secondaries",
            "t.toml:7: rpz.listen[0]: invalid address \"127.0.0.1\"",
            "t.toml:8: rpz.notify[0]: invalid address \"192.0.2.1\"",
            "t.toml:10: rpz.ixfr_depth: must be between 0 and 1024, found 5000",
            "t.toml:6: rpz.cert: required with https_listen, cert or key: the PEM certificate chain",
            "t.toml:6: rpz.key: required with https_listen, cert or key: the PEM private key",
            "t.toml:11: rpz.action: action \"drop\": use \"nxdomain\", \"nodata\" or \"redirect\"",
            "t.toml:12: rpz.category_actions[0]: \"adult\": expected CATEGORY=ACTION",
            "t.toml:12: rpz.category_actions[1]: action \"pass\": use nxdomain, nodata or redirect",
            "t.toml:15: rpz.tsig[0].algorithm: algorithm \"hmac-md5\" is not supported; only \"hmac-sha256\" is",
            "t.toml:16: rpz.tsig[0].secret_file: ",
            "t.toml:18: rpz.tsig[1].name: key \"k.\" is given twice",
            "t.toml:19: rpz.tsig[1].secret_file: cannot read /nonexistent/k",
        ];
        assert_eq!(lines.len(), expect.len(), "{err}");
        for want in expect {
            assert!(
                lines.iter().any(|l| l.starts_with(want)),
                "no {want:?} in:\n{err}"
            );
        }
        assert!(err.contains("the secret is 5 bytes"), "{err}");
    }
}
