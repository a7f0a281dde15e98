//! `[dns]`: the listeners, the upstreams, who may ask, and the
//! transport limits.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4};
use std::time::Duration;

use ipnet::{IpNet, Ipv4Net, Ipv6Net};
use serde::Serialize;

use super::extract::{self, Got, Invalid, Table};
use crate::spelling;

/// Where the system resolver configuration is read from when
/// `dns.upstreams` is not set.
pub const RESOLV_CONF: &str = "/etc/resolv.conf";

const LOCALHOST: Ipv4Addr = Ipv4Addr::LOCALHOST;

/// `dns.listen`.
pub const DEFAULT_LISTEN: &[SocketAddr] = &[SocketAddr::V4(SocketAddrV4::new(LOCALHOST, 5353))];
/// The port of an upstream given without one, and of `nameserver` lines.
pub const DEFAULT_UPSTREAM_PORT: u16 = 53;
/// `dns.allow_clients`: loopback only.
pub const DEFAULT_ALLOW_CLIENTS: &[IpNet] = &[
    IpNet::V4(Ipv4Net::new_assert(Ipv4Addr::new(127, 0, 0, 0), 8)),
    IpNet::V6(Ipv6Net::new_assert(Ipv6Addr::LOCALHOST, 128)),
];
/// `dns.upstream_timeout`.
pub const DEFAULT_UPSTREAM_TIMEOUT: Duration = Duration::from_secs(2);
pub const MIN_UPSTREAM_TIMEOUT: Duration = Duration::from_millis(10);
pub const MAX_UPSTREAM_TIMEOUT: Duration = Duration::from_secs(30);
/// `dns.upstream_attempts`.
pub const DEFAULT_UPSTREAM_ATTEMPTS: u32 = 2;
pub const MAX_UPSTREAM_ATTEMPTS: u32 = 5;
/// `dns.tcp_idle_timeout`.
pub const DEFAULT_TCP_IDLE_TIMEOUT: Duration = Duration::from_secs(10);
pub const MIN_TCP_IDLE_TIMEOUT: Duration = Duration::from_millis(100);
pub const MAX_TCP_IDLE_TIMEOUT: Duration = Duration::from_secs(3600);
/// `dns.tcp_max_connections`.
pub const DEFAULT_TCP_MAX_CONNECTIONS: usize = 1024;
/// `dns.udp_workers`: 0 means one per CPU.
pub const DEFAULT_UDP_WORKERS: usize = 0;
pub const MAX_UDP_WORKERS: usize = 256;
/// `dns.edns_payload`: the DNS Flag Day 2020 size.
pub const DEFAULT_EDNS_PAYLOAD: u16 = 1232;
pub const MIN_EDNS_PAYLOAD: u16 = 512;
pub const MAX_EDNS_PAYLOAD: u16 = 4096;

/// `[dns]`: the resolver itself.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DnsSettings {
    /// Addresses to serve DNS on, UDP and TCP. Non-empty, no duplicates.
    #[serde(serialize_with = "spelling::displays")]
    pub listen: Vec<SocketAddr>,
    /// Recursive resolvers to forward allowed queries to, in order of
    /// preference.
    #[serde(serialize_with = "spelling::displays")]
    pub upstreams: Vec<SocketAddr>,
    /// Client networks allowed to query; others are refused.
    #[serde(serialize_with = "spelling::displays")]
    pub allow_clients: Vec<IpNet>,
    /// How long to wait for one upstream answer.
    #[serde(serialize_with = "spelling::duration")]
    pub upstream_timeout: Duration,
    /// Tries per upstream before failing over to the next.
    pub upstream_attempts: u32,
    /// A client TCP connection idle this long is closed.
    #[serde(serialize_with = "spelling::duration")]
    pub tcp_idle_timeout: Duration,
    /// Concurrent client TCP connections.
    #[serde(serialize_with = "spelling::count")]
    pub tcp_max_connections: usize,
    /// UDP worker threads per listen address, each with its own
    /// `SO_REUSEPORT` socket; 0 is one per CPU.
    pub udp_workers: usize,
    /// The EDNS UDP payload size ward advertises.
    pub edns_payload: u16,
}

impl Default for DnsSettings {
    /// The defaults, with no upstreams (a config file's default comes from
    /// `/etc/resolv.conf`; see [`Config::parse`](super::Config::parse)).
    fn default() -> Self {
        Self {
            listen: DEFAULT_LISTEN.to_vec(),
            upstreams: Vec::new(),
            allow_clients: DEFAULT_ALLOW_CLIENTS.to_vec(),
            upstream_timeout: DEFAULT_UPSTREAM_TIMEOUT,
            upstream_attempts: DEFAULT_UPSTREAM_ATTEMPTS,
            tcp_idle_timeout: DEFAULT_TCP_IDLE_TIMEOUT,
            tcp_max_connections: DEFAULT_TCP_MAX_CONNECTIONS,
            udp_workers: DEFAULT_UDP_WORKERS,
            edns_payload: DEFAULT_EDNS_PAYLOAD,
        }
    }
}

impl DnsSettings {
    pub(super) fn extract(
        mut t: Table<'_, '_>,
        resolv_conf: impl FnOnce() -> Option<String>,
    ) -> Self {
        use extract::{duration, integer, ip_net, socket_addr, socket_addr_or_ip};
        let d = Self::default();
        let listen = non_empty(&mut t, "listen", socket_addr, DEFAULT_LISTEN.to_vec());
        let upstream = socket_addr_or_ip(DEFAULT_UPSTREAM_PORT);
        let upstreams = match t.list("upstreams", |v| {
            let addr = upstream(v)?;
            check_upstream(addr, &listen)?;
            Ok(addr)
        }) {
            Got::Missing => {
                let found = resolv_conf()
                    .map(|text| system_upstreams(&text, &listen))
                    .unwrap_or_default();
                if found.is_empty() {
                    t.error_unplaced(
                        "upstreams",
                        format!(
                            "not set and {RESOLV_CONF} names no usable nameserver; set dns.upstreams to your recursive resolvers, e.g. [\"192.0.2.53\"]"
                        ),
                    );
                }
                found
            }
            Got::Ok(v) if v.is_empty() => {
                t.error(
                    "upstreams",
                    "empty: ward would have nowhere to send allowed queries; name at least one recursive resolver, or remove the key to use /etc/resolv.conf",
                );
                v
            }
            got => got.or(Vec::new()),
        };
        Self {
            upstreams,
            allow_clients: non_empty(&mut t, "allow_clients", ip_net, d.allow_clients),
            upstream_timeout: t
                .get(
                    "upstream_timeout",
                    duration(MIN_UPSTREAM_TIMEOUT, MAX_UPSTREAM_TIMEOUT),
                )
                .or(d.upstream_timeout),
            upstream_attempts: t
                .get(
                    "upstream_attempts",
                    integer(1, MAX_UPSTREAM_ATTEMPTS.into()),
                )
                .or(d.upstream_attempts),
            tcp_idle_timeout: t
                .get(
                    "tcp_idle_timeout",
                    duration(MIN_TCP_IDLE_TIMEOUT, MAX_TCP_IDLE_TIMEOUT),
                )
                .or(d.tcp_idle_timeout),
            tcp_max_connections: t
                .get("tcp_max_connections", integer(1, usize::MAX as i128))
                .or(d.tcp_max_connections),
            udp_workers: t
                .get("udp_workers", integer(0, MAX_UDP_WORKERS as i128))
                .or(d.udp_workers),
            edns_payload: t
                .get(
                    "edns_payload",
                    integer(MIN_EDNS_PAYLOAD.into(), MAX_EDNS_PAYLOAD.into()),
                )
                .or(d.edns_payload),
            listen,
        }
    }
}

/// A list that must not be empty; `default` when absent.
fn non_empty<T: PartialEq>(
    t: &mut Table<'_, '_>,
    key: &'static str,
    parse: impl FnMut(&toml::de::DeValue<'_>) -> Result<T, Invalid>,
    default: Vec<T>,
) -> Vec<T> {
    match t.list(key, parse) {
        Got::Ok(v) if v.is_empty() => {
            t.error(key, "must not be empty; remove the key to use the default");
            default
        }
        got => got.or(default),
    }
}

fn check_upstream(addr: SocketAddr, listen: &[SocketAddr]) -> Result<(), Invalid> {
    if addr.ip().is_unspecified() || addr.port() == 0 {
        return Err(Invalid(format!(
            "{addr} is not a resolver address; name a recursive resolver"
        )));
    }
    if is_own_address(addr, listen) {
        return Err(Invalid(format!(
            "{addr} is one of ward's own dns.listen addresses; queries would loop"
        )));
    }
    Ok(())
}

/// Whether a query sent to `addr` would come back to ward itself.
fn is_own_address(addr: SocketAddr, listen: &[SocketAddr]) -> bool {
    listen.iter().any(|l| {
        l.port() == addr.port()
            && (l.ip() == addr.ip() || (l.ip().is_unspecified() && addr.ip().is_loopback()))
    })
}

/// The `nameserver` lines of a resolv.conf, minus ward's own addresses.
pub(super) fn system_upstreams(resolv_conf: &str, listen: &[SocketAddr]) -> Vec<SocketAddr> {
    parse_resolv_conf(resolv_conf)
        .into_iter()
        .filter(|a| !is_own_address(*a, listen))
        .collect()
}

/// The `nameserver` addresses of resolv.conf text, port 53, in order,
/// without duplicates. Comments (`#`, `;`) and other lines are skipped, as
/// are link-local IPv6 entries with a `%scope`, which would be unusable
/// without it.
pub fn parse_resolv_conf(text: &str) -> Vec<SocketAddr> {
    let mut out: Vec<SocketAddr> = Vec::new();
    for line in text.lines() {
        let line = line.split(['#', ';']).next().unwrap_or_default();
        let mut words = line.split_whitespace();
        if words.next() != Some("nameserver") {
            continue;
        }
        let Some(Ok(ip)) = words.next().map(str::parse::<IpAddr>) else {
            continue;
        };
        let addr = SocketAddr::new(ip, DEFAULT_UPSTREAM_PORT);
        if !out.contains(&addr) {
            out.push(addr);
        }
    }
    out
}
