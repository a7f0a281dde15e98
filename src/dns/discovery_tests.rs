use std::net::IpAddr;
use std::path::Path;

use hickory_proto::op::Message;
use hickory_proto::rr::RData;
use hickory_proto::rr::rdata::svcb::{SvcParamKey, SvcParamValue};

use super::*;
use crate::config::Config;
use crate::dns::Protocol;

const DEMO_PUB: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/examples/demo.pub");
const DEMO_WARD: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/examples/demo.ward");

/// A self-signed certificate for `names` (DNS names and IP addresses)
/// and its key, as `FILE.pem` and `FILE.key` in `dir`.
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

fn config(listen: &str, rest: &str) -> Config {
    let text = format!(
        "[dns]\nlisten = [{listen}]\nupstreams = [\"198.51.100.53\"]\n[list]\nfile = {DEMO_WARD:?}\ntrusted_keys = [{DEMO_PUB:?}]\n{rest}"
    );
    Config::parse_with(&text, "t.toml", || None).unwrap()
}

/// One SVCB record, as a client reads it.
#[derive(Debug, PartialEq)]
struct Seen {
    priority: u16,
    target: String,
    alpn: Vec<String>,
    port: Option<u16>,
    hints: Vec<IpAddr>,
    dohpath: Option<String>,
    ttl: u32,
}

/// `body` after a header and a `_dns.resolver.arpa` SVCB question,
/// parsed back by hickory.
fn parse(body: &Body) -> Vec<Seen> {
    let mut msg = vec![0, 1, 0x84, 0, 0, 1];
    for c in body.counts {
        msg.extend_from_slice(&c.to_be_bytes());
    }
    wire::put_name(&mut msg, "_dns.resolver.arpa");
    msg.extend_from_slice(&TYPE_SVCB.to_be_bytes());
    msg.extend_from_slice(&CLASS_IN.to_be_bytes());
    msg.extend_from_slice(&body.bytes);
    let parsed = Message::from_vec(&msg).expect("hickory reads the answer");
    assert_eq!(parsed.answers.len(), usize::from(body.counts[0]));
    parsed
        .answers
        .iter()
        .map(|r| {
            assert_eq!(r.name.to_ascii(), "_dns.resolver.arpa.");
            let RData::SVCB(svcb) = &r.data else {
                panic!("not SVCB: {r:?}")
            };
            let mut seen = Seen {
                priority: svcb.svc_priority,
                target: svcb.target_name.to_ascii(),
                alpn: Vec::new(),
                port: None,
                hints: Vec::new(),
                dohpath: None,
                ttl: r.ttl,
            };
            let mut keys = Vec::new();
            for (key, value) in &svcb.svc_params {
                keys.push(u16::from(*key));
                match value {
                    SvcParamValue::Alpn(a) => seen.alpn = a.0.clone(),
                    SvcParamValue::Port(p) => seen.port = Some(*p),
                    SvcParamValue::Ipv4Hint(h) => {
                        seen.hints.extend(h.0.iter().map(|a| IpAddr::V4(a.0)))
                    }
                    SvcParamValue::Ipv6Hint(h) => {
                        seen.hints.extend(h.0.iter().map(|a| IpAddr::V6(a.0)))
                    }
                    SvcParamValue::Unknown(u) if *key == SvcParamKey::Unknown(KEY_DOHPATH) => {
                        seen.dohpath = Some(String::from_utf8(u.0.clone()).unwrap())
                    }
                    other => panic!("unexpected parameter {key:?}={other:?}"),
                }
            }
            let mut sorted = keys.clone();
            sorted.sort_unstable();
            sorted.dedup();
            assert_eq!(keys, sorted, "keys in increasing order, once each");
            seen
        })
        .collect()
}

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

#[test]
fn both_transports_for_a_covered_address() {
    let dir = tempfile::tempdir().unwrap();
    let (c, k) = pair(
        dir.path(),
        "a",
        &["dns.example.vn", "*.dns.example.vn", "127.0.0.1"],
    );
    let cfg = config(
        "\"127.0.0.1:5353\", \"127.0.0.2:5353\", \"0.0.0.0:5354\"",
        &format!(
            "[dot]\nlisten = [\"127.0.0.1:8853\"]\ncert = {c:?}\nkey = {k:?}\nserver_name = \"dns.example.vn\"\n\
             [doh]\nlisten = [\"0.0.0.0:8443\"]\ncert = {c:?}\nkey = {k:?}\nserver_name = \"dns.example.vn\"\n"
        ),
    );
    let d = cfg.discovery().unwrap();
    let on = d.for_query(Some(0), Protocol::Udp).unwrap();
    assert_eq!(
        parse(on.body()),
        [
            Seen {
                priority: 1,
                target: "dns.example.vn.".into(),
                alpn: vec!["dot".into()],
                port: Some(8853),
                hints: vec![ip("127.0.0.1")],
                dohpath: None,
                ttl: DESIGNATION_TTL,
            },
            Seen {
                priority: 2,
                target: "dns.example.vn.".into(),
                alpn: vec!["h2".into()],
                port: Some(8443),
                hints: vec![ip("127.0.0.1")],
                dohpath: Some("/dns-query{?dns}".into()),
                ttl: DESIGNATION_TTL,
            },
        ]
    );
    // 127.0.0.2 is not in the certificate; a wildcard cannot be checked.
    assert!(d.for_query(Some(1), Protocol::Tcp).is_none());
    assert!(d.for_query(Some(2), Protocol::Udp).is_none());
    assert!(d.for_query(Some(3), Protocol::Udp).is_none());
    // Over DoT: its one address; DoH listens on a wildcard.
    assert_eq!(d.for_query(None, Protocol::Dot).unwrap().body(), on.body());
    assert!(d.for_query(None, Protocol::Doh).is_none());
    assert!(d.for_query(None, Protocol::Udp).is_none());
}

#[test]
fn client_ids_go_in_the_name_and_the_path() {
    let dir = tempfile::tempdir().unwrap();
    let (c, k) = pair(
        dir.path(),
        "a",
        &[
            "dns.example.vn",
            "*.dns.example.vn",
            "192.0.2.53",
            "2001:db8::53",
        ],
    );
    let cfg = config(
        "\"192.0.2.53:53\", \"[2001:db8::53]:53\"",
        &format!(
            "[dot]\nlisten = [\"192.0.2.53\", \"[2001:db8::53]\"]\ncert = {c:?}\nkey = {k:?}\nserver_name = \"dns.example.vn\"\n\
             [doh]\nlisten = [\"192.0.2.53\"]\ncert = {c:?}\nkey = {k:?}\nserver_name = \"dns.example.vn\"\n"
        ),
    );
    let d = cfg.discovery().unwrap();
    let v6 = parse(d.for_query(Some(1), Protocol::Tcp).unwrap().body());
    // DoT on both addresses (asked first), DoH only on the IPv4 one.
    // (ipv4hint comes before ipv6hint on the wire: keys in order.)
    assert_eq!(v6[0].hints, [ip("192.0.2.53"), ip("2001:db8::53")]);
    assert_eq!(v6[0].port, Some(853));
    assert_eq!(v6[1].hints, [ip("192.0.2.53")]);
    assert_eq!(v6[1].port, Some(443));
    let id = ClientId::parse("School-42").unwrap();
    let seen = parse(
        &d.for_query(Some(0), Protocol::Udp)
            .unwrap()
            .body_for(id)
            .unwrap(),
    );
    assert_eq!(seen.len(), 2);
    assert_eq!(seen[0].target, "school-42.dns.example.vn.");
    assert_eq!(seen[0].alpn, ["dot"]);
    assert_eq!(seen[0].dohpath, None);
    assert_eq!(seen[1].target, "dns.example.vn.");
    assert_eq!(
        seen[1].dohpath.as_deref(),
        Some("/dns-query/school-42{?dns}")
    );
}

#[test]
fn without_a_wildcard_a_client_id_goes_by_doh_only() {
    let dir = tempfile::tempdir().unwrap();
    let (c, k) = pair(dir.path(), "a", &["dns.example.vn", "192.0.2.53"]);
    let cfg = config(
        "\"192.0.2.53:53\"",
        &format!(
            "[dot]\nlisten = [\"192.0.2.53\"]\ncert = {c:?}\nkey = {k:?}\nserver_name = \"dns.example.vn\"\n"
        ),
    );
    let d = cfg.discovery().unwrap();
    let on = d.for_query(Some(0), Protocol::Udp).unwrap();
    assert_eq!(parse(on.body()).len(), 1);
    // school-42.dns.example.vn is not covered, and there is no DoH.
    assert!(on.body_for(ClientId::parse("school-42").unwrap()).is_none());
}

#[test]
fn the_target_without_server_name_is_the_certificates_name() {
    let dir = tempfile::tempdir().unwrap();
    let (c, k) = pair(
        dir.path(),
        "a",
        &["*.example.vn", "resolver.example.vn", "127.0.0.1"],
    );
    let (c2, k2) = pair(dir.path(), "b", &["*.example.vn", "127.0.0.1"]);
    let cfg = config(
        "\"127.0.0.1:5353\"",
        &format!(
            "[dot]\nlisten = [\"127.0.0.1:8853\"]\ncert = {c:?}\nkey = {k:?}\n\
             [doh]\nlisten = [\"127.0.0.1:8443\"]\ncert = {c2:?}\nkey = {k2:?}\n"
        ),
    );
    let d = cfg.discovery().unwrap();
    let seen = parse(d.for_query(Some(0), Protocol::Udp).unwrap().body());
    // DoH's certificate has only a wildcard: no name to designate.
    assert_eq!(seen.len(), 1);
    assert_eq!(seen[0].target, "resolver.example.vn.");
    assert_eq!(seen[0].alpn, ["dot"]);
}

#[test]
fn nothing_to_designate() {
    let dir = tempfile::tempdir().unwrap();
    let (c, k) = pair(dir.path(), "a", &["dns.example.vn", "192.0.2.1"]);
    assert_eq!(config("\"127.0.0.1:5353\"", "").discovery(), None);
    let cfg = config(
        "\"127.0.0.1:5353\", \"0.0.0.0:5354\"",
        &format!("[dot]\nlisten = [\"0.0.0.0\"]\ncert = {c:?}\nkey = {k:?}\n"),
    );
    assert_eq!(cfg.discovery(), None);
}
