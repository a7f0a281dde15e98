//! Discovery of Designated Resolvers (RFC 9462): the SVCB records
//! (RFC 9461) ward answers `_dns.resolver.arpa` with when it serves DNS
//! over TLS (`[dot]`) or DNS over HTTPS (`[doh]`) itself.
//!
//! A client that knows ward only by the IP address it was given (DHCP,
//! router advertisement) asks that address for `_dns.resolver.arpa` SVCB,
//! and upgrades to an encrypted resolver only if the certificate that
//! resolver presents covers that very IP address (RFC 9462 §4.2, verified
//! discovery). So ward designates a transport only for the addresses its
//! certificate covers, and builds the records for each `[dns] listen`
//! address when the configuration is loaded:
//!
//! - a specific address (`192.0.2.53:53`): one record per transport whose
//!   certificate (the one a client gets for the target name) covers
//!   `192.0.2.53`, priority 1 for DoT and 2 for DoH; none: NODATA;
//! - a wildcard address (`0.0.0.0:53`, `[::]:53`): the address a client
//!   asked cannot be known from the configuration (the engine sees the
//!   listener, not the packet's destination), so no designation: NODATA,
//!   as before encrypted DNS. List the resolver's addresses one by one
//!   in `[dns] listen` for discovery.
//!
//! Each record's TargetName is `server_name` (RFC 9462 §4.2: the name
//! the client checks the certificate against; `.` would stand for
//! `resolver.arpa`, which no certificate covers), or, without one, the
//! certificate's first DNS name that is not a wildcard: a certificate
//! with only wildcards and addresses designates nothing. `alpn` is `dot`
//! or `h2`, `port` the section's port for that address, `dohpath`
//! `/dns-query{?dns}`, and `ipv4hint`/`ipv6hint` the section's addresses.
//!
//! A query over DoT or DoH itself is answered for the section's single
//! specific address, if it has one (the listener the query came in on is
//! not known to the engine).
//!
//! Profiles: a query whose profile comes from its listener (`[[profile]]
//! listen`) would lose that profile over the designated transport (an
//! encrypted connection has no `[dns] listen` address), so it is given
//! the profile's first client id (`school-42.dns.example.vn` for DoT,
//! `/dns-query/school-42{?dns}` for DoH); without a client id, or a
//! certificate for it, the transport is not designated. See
//! [`Designation::body_for`].
//!
//! Pure: no I/O, no configuration types (`Config::discovery` gives the
//! sections); built once per configuration.

use std::net::{IpAddr, SocketAddr};

use super::Protocol;
use super::answer::Body;
use super::wire::{self, CLASS_IN, RCODE_NOERROR, TYPE_SVCB};
use crate::policy::ClientId;
use crate::readers::Certified;

/// The reversed key of `_dns.resolver.arpa` (`NameKey` form).
pub const DDR_KEY: &[u8] = b"arpa.resolver._dns.";

/// TTL of the SVCB records: an hour, as a designation changes only with
/// the configuration (RFC 9462 leaves it to the resolver).
pub const DESIGNATION_TTL: u32 = 3600;

/// The DoH path ward serves (RFC 8484's customary one).
const DOH_PATH: &str = "/dns-query";

/// SvcParamKeys (RFC 9460 §14.3.2, RFC 9461 §5).
const KEY_ALPN: u16 = 1;
const KEY_PORT: u16 = 3;
const KEY_IPV4HINT: u16 = 4;
const KEY_IPV6HINT: u16 = 6;
const KEY_DOHPATH: u16 = 7;

/// One `[dot]` or `[doh]` section, as discovery reads it.
#[derive(Debug, Clone, Copy)]
pub struct Section<'a> {
    /// [`Protocol::Dot`] or [`Protocol::Doh`].
    pub protocol: Protocol,
    pub listen: &'a [SocketAddr],
    /// Lower case, without a final dot.
    pub server_name: Option<&'a str>,
    pub certs: &'a [Certified],
}

/// One encrypted transport designated for one address.
#[derive(Debug, Clone, PartialEq)]
pub struct Endpoint {
    /// [`Protocol::Dot`] or [`Protocol::Doh`].
    pub transport: Protocol,
    pub port: u16,
    /// The TargetName, lower case, without a final dot.
    pub target: String,
    /// `ipv4hint` and `ipv6hint`.
    pub hints: Vec<IpAddr>,
    /// `server_name`, whose first label under it is a DoT client id.
    server_name: Option<String>,
    /// The section's certificates, for a client id's name.
    certs: Vec<Certified>,
    /// The address the client asked, which a certificate must cover.
    asked: IpAddr,
}

/// The records for one address: the endpoints, and their SVCB answer
/// built once.
#[derive(Debug, Clone, PartialEq)]
pub struct Designation {
    pub endpoints: Vec<Endpoint>,
    body: Body,
}

/// What ward designates, by how a query arrived.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Discovery {
    /// By `ListenerId` (the place in `[dns] listen`).
    by_listener: Vec<Option<Designation>>,
    /// For queries over DoT and over DoH.
    dot: Option<Designation>,
    doh: Option<Designation>,
}

impl Discovery {
    /// What the sections designate for the `[dns] listen` addresses
    /// `dns_listen` and for queries over DoT/DoH; `None` without a
    /// section, or when no address is covered (every answer would be
    /// NODATA).
    pub fn new(dns_listen: &[SocketAddr], sections: &[Section<'_>]) -> Option<Self> {
        if sections.is_empty() {
            return None;
        }
        let designation_for = |asked: IpAddr| Designation::new(designate(sections, asked));
        let by_listener = dns_listen
            .iter()
            .map(|l| {
                (!l.ip().is_unspecified())
                    .then(|| designation_for(l.ip()))
                    .flatten()
            })
            .collect();
        let single = |protocol: Protocol| {
            let section = sections.iter().find(|s| s.protocol == protocol)?;
            single_address(section.listen).and_then(designation_for)
        };
        let discovery = Self {
            by_listener,
            dot: single(Protocol::Dot),
            doh: single(Protocol::Doh),
        };
        let any = discovery.by_listener.iter().any(Option::is_some)
            || discovery.dot.is_some()
            || discovery.doh.is_some();
        any.then_some(discovery)
    }

    /// The designation for a query that came over `protocol`: to `[dns]
    /// listen` address number `listener` (UDP, TCP), or over DoT/DoH.
    pub fn for_query(&self, listener: Option<u16>, protocol: Protocol) -> Option<&Designation> {
        match protocol {
            Protocol::Dot => self.dot.as_ref(),
            Protocol::Doh => self.doh.as_ref(),
            Protocol::Udp | Protocol::Tcp => self.by_listener.get(usize::from(listener?))?.as_ref(),
        }
    }
}

/// The one specific address a section listens on, if it listens on one
/// only (ports aside).
fn single_address(listen: &[SocketAddr]) -> Option<IpAddr> {
    let first = listen.first()?.ip();
    (!first.is_unspecified() && listen.iter().all(|a| a.ip() == first)).then_some(first)
}

/// The endpoints `sections` offer to a client that asked `asked`.
fn designate(sections: &[Section<'_>], asked: IpAddr) -> Vec<Endpoint> {
    sections.iter().filter_map(|s| endpoint(s, asked)).collect()
}

/// The certificate a client gets when it asks for `name` (as
/// `tls::Certs` picks it: the first that covers it, else the first).
fn picked<'a>(certs: &'a [Certified], name: &str) -> Option<&'a Certified> {
    certs
        .iter()
        .find(|c| c.covers(name))
        .or_else(|| certs.first())
}

fn endpoint(s: &Section<'_>, asked: IpAddr) -> Option<Endpoint> {
    let target = match s.server_name {
        Some(name) => name.to_owned(),
        None => s
            .certs
            .iter()
            .filter(|c| c.covers_ip(asked))
            .flat_map(|c| c.names.iter())
            .find(|n| !n.starts_with("*."))?
            .clone(),
    };
    if !picked(s.certs, &target).is_some_and(|c| c.covers_ip(asked)) {
        return None;
    }
    // The port of the address that serves `asked` (itself, or a wildcard
    // of its family), else of the first.
    let serves = |a: &SocketAddr| {
        a.ip() == asked || (a.ip().is_unspecified() && a.is_ipv4() == asked.is_ipv4())
    };
    let port = s
        .listen
        .iter()
        .find(|a| serves(a))
        .or(s.listen.first())?
        .port();
    let mut hints: Vec<IpAddr> = Vec::new();
    if s.listen.iter().any(|a| serves(a) && a.port() == port) {
        hints.push(asked);
    }
    for a in s.listen {
        if a.port() == port && !a.ip().is_unspecified() && !hints.contains(&a.ip()) {
            hints.push(a.ip());
        }
    }
    Some(Endpoint {
        transport: s.protocol,
        port,
        target,
        hints,
        server_name: s.server_name.map(str::to_owned),
        certs: s.certs.to_vec(),
        asked,
    })
}

impl Designation {
    /// `None` when there is no endpoint.
    fn new(endpoints: Vec<Endpoint>) -> Option<Self> {
        if endpoints.is_empty() {
            return None;
        }
        let body = encode(endpoints.iter().map(|e| {
            (
                e.transport,
                e.port,
                e.target.as_str(),
                &e.hints[..],
                DOH_PATH,
            )
        }));
        Some(Self { endpoints, body })
    }

    /// The answer, built when the configuration was loaded.
    pub fn body(&self) -> &Body {
        &self.body
    }

    /// The answer for a client whose profile needs client id `id` to be
    /// selected over an encrypted transport: DoT's TargetName becomes
    /// `id.server_name` (when a certificate for it covers the address
    /// asked), DoH's path `/dns-query/id`. `None`: no transport can carry
    /// the id. Built on each call: only clients whose profile comes from
    /// their listener get here, once per discovery.
    pub fn body_for(&self, id: ClientId) -> Option<Body> {
        let mut parts: Vec<(Protocol, u16, String, &[IpAddr], String)> = Vec::new();
        for e in &self.endpoints {
            if e.transport == Protocol::Doh {
                parts.push((
                    e.transport,
                    e.port,
                    e.target.clone(),
                    &e.hints[..],
                    format!("{DOH_PATH}/{id}"),
                ));
                continue;
            }
            let Some(base) = &e.server_name else { continue };
            let name = format!("{id}.{base}");
            if picked(&e.certs, &name).is_some_and(|c| c.covers(&name) && c.covers_ip(e.asked)) {
                parts.push((e.transport, e.port, name, &e.hints[..], String::new()));
            }
        }
        if parts.is_empty() {
            return None;
        }
        Some(encode(parts.iter().map(|(t, p, n, h, path)| {
            (*t, *p, n.as_str(), *h, path.as_str())
        })))
    }
}

/// The SVCB records, one per endpoint, priorities 1, 2… in order.
fn encode<'a>(
    endpoints: impl Iterator<Item = (Protocol, u16, &'a str, &'a [IpAddr], &'a str)>,
) -> Body {
    let mut body = Body {
        rcode: RCODE_NOERROR,
        bytes: Vec::new(),
        counts: [0; 3],
    };
    for (priority, (transport, port, target, hints, path)) in (1u16..).zip(endpoints) {
        let rdata = svcb_rdata(priority, transport, port, target, hints, path);
        wire::put_record_at_qname(
            &mut body.bytes,
            TYPE_SVCB,
            CLASS_IN,
            DESIGNATION_TTL,
            &rdata,
        );
        body.counts[0] += 1;
    }
    body
}

/// One SVCB RDATA in ServiceMode (RFC 9460 §2.2): priority, TargetName
/// (never compressed), then the parameters in increasing key order.
fn svcb_rdata(
    priority: u16,
    transport: Protocol,
    port: u16,
    target: &str,
    hints: &[IpAddr],
    doh_path: &str,
) -> Vec<u8> {
    let mut out = Vec::with_capacity(64 + target.len());
    out.extend_from_slice(&priority.to_be_bytes());
    wire::put_name(&mut out, target);
    let alpn: &[u8] = if transport == Protocol::Doh {
        b"h2"
    } else {
        b"dot"
    };
    let mut value = vec![alpn.len() as u8];
    value.extend_from_slice(alpn);
    put_param(&mut out, KEY_ALPN, &value);
    put_param(&mut out, KEY_PORT, &port.to_be_bytes());
    let v4: Vec<u8> = hints
        .iter()
        .filter_map(|ip| match ip {
            IpAddr::V4(a) => Some(a.octets()),
            IpAddr::V6(_) => None,
        })
        .flatten()
        .collect();
    if !v4.is_empty() {
        put_param(&mut out, KEY_IPV4HINT, &v4);
    }
    let v6: Vec<u8> = hints
        .iter()
        .filter_map(|ip| match ip {
            IpAddr::V6(a) => Some(a.octets()),
            IpAddr::V4(_) => None,
        })
        .flatten()
        .collect();
    if !v6.is_empty() {
        put_param(&mut out, KEY_IPV6HINT, &v6);
    }
    if transport == Protocol::Doh {
        let template = format!("{doh_path}{{?dns}}");
        put_param(&mut out, KEY_DOHPATH, template.as_bytes());
    }
    out
}

fn put_param(out: &mut Vec<u8>, key: u16, value: &[u8]) {
    out.extend_from_slice(&key.to_be_bytes());
    // Parameters ward writes are a few dozen bytes.
    out.extend_from_slice(&(value.len() as u16).to_be_bytes());
    out.extend_from_slice(value);
}

#[cfg(test)]
#[path = "discovery_tests.rs"]
mod tests;
