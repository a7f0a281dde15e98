//! `[profile.bypass]` over real `dig` on loopback: the names a school
//! profile answers itself (and never asks upstream for), `ech` taken out of
//! HTTPS answers on the way to a school client (whether the answer was
//! forwarded or cached), the `encrypted-dns` category, the counters by
//! kind, and `ward check --config` explaining each; a client without a
//! profile, and a profile with every switch off, get the plain answers.

use std::net::{Ipv4Addr, SocketAddr};
use std::path::Path;
use std::str::FromStr;
use std::sync::Arc;

use ed25519_dalek::SigningKey;
use hickory_proto::rr::rdata::svcb::{
    Alpn, EchConfigList, IpHint, SVCB, SvcParamKey, SvcParamValue,
};
use hickory_proto::rr::rdata::{A, HTTPS, SOA};
use hickory_proto::rr::{LowerName, Name, RData, Record};
use hickory_server::Server;
use hickory_server::store::in_memory::InMemoryZoneHandler;
use hickory_server::zone_handler::{AxfrPolicy, Catalog, ZoneHandler, ZoneType};
use tokio::net::UdpSocket;

use crate::schools::{dig, have_dig};
use crate::serve::{config, key};
use crate::serve_lifecycle::http_get;
use crate::support::ward::{TEST_LIST, Ward, write_list};
use crate::util::ward;

/// The bytes of the `ech` parameter the upstream serves (an ECHConfigList
/// as far as DNS cares: opaque).
const ECH: &[u8] = b"\x00\x08ward-ech";

fn name(s: &str) -> Name {
    Name::from_str(s).unwrap()
}

fn https(hint: [u8; 4]) -> RData {
    RData::HTTPS(HTTPS(SVCB::new(
        1,
        Name::root(),
        vec![
            (
                SvcParamKey::Alpn,
                SvcParamValue::Alpn(Alpn(vec!["h2".into(), "h3".into()])),
            ),
            (
                SvcParamKey::Ipv4Hint,
                SvcParamValue::Ipv4Hint(IpHint(vec![A(Ipv4Addr::from(hint))])),
            ),
            (
                SvcParamKey::EchConfigList,
                SvcParamValue::EchConfigList(EchConfigList(ECH.to_vec())),
            ),
        ],
    )))
}

/// An authoritative server (UDP) for the names the switches cover, as
/// the open internet answers them, and HTTPS records with `ech`:
///
/// ```text
/// use-application-dns.net.  A      192.0.2.80
/// mask.icloud.com.          A      192.0.2.81
/// mask-h2.icloud.com.       A      192.0.2.82
/// _dns.resolver.arpa.       SVCB   1 dns.example.test. alpn=dot
/// ech.example.test.         HTTPS  1 . alpn=h2,h3 ipv4hint=192.0.2.10 ech=…
/// ech2.example.test.        HTTPS  1 . alpn=h2,h3 ipv4hint=192.0.2.11 ech=…
/// doh.example.test.         A      192.0.2.53
/// ```
pub(crate) struct Upstream {
    pub(crate) addr: SocketAddr,
    server: Server<Catalog>,
}

impl Upstream {
    pub(crate) async fn start() -> Self {
        let dot = RData::SVCB(SVCB::new(
            1,
            name("dns.example.test."),
            vec![(
                SvcParamKey::Alpn,
                SvcParamValue::Alpn(Alpn(vec!["dot".into()])),
            )],
        ));
        let a = |last: u8| RData::A(A(Ipv4Addr::new(192, 0, 2, last)));
        let zones: [(&str, Vec<(&str, RData)>); 4] = [
            ("net.", vec![("use-application-dns.net.", a(80))]),
            (
                "icloud.com.",
                vec![("mask.icloud.com.", a(81)), ("mask-h2.icloud.com.", a(82))],
            ),
            ("resolver.arpa.", vec![("_dns.resolver.arpa.", dot)]),
            (
                "test.",
                vec![
                    ("ech.example.test.", https([192, 0, 2, 10])),
                    ("ech2.example.test.", https([192, 0, 2, 11])),
                    ("doh.example.test.", a(53)),
                ],
            ),
        ];
        let mut catalog = Catalog::new();
        for (origin, records) in zones {
            let origin = name(origin);
            let mut zone: InMemoryZoneHandler =
                InMemoryZoneHandler::empty(origin.clone(), ZoneType::Primary, AxfrPolicy::Deny);
            let soa = SOA::new(
                name("ns.test."),
                name("hostmaster.test."),
                1,
                3600,
                600,
                86400,
                45,
            );
            assert!(zone.upsert_mut(Record::from_rdata(origin.clone(), 3600, RData::SOA(soa)), 1));
            for (owner, rdata) in records {
                assert!(zone.upsert_mut(Record::from_rdata(name(owner), 300, rdata), 1));
            }
            let handler: Arc<dyn ZoneHandler> = Arc::new(zone);
            catalog.upsert(LowerName::new(&origin), vec![handler]);
        }
        let udp = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let addr = udp.local_addr().unwrap();
        let mut server = Server::new(catalog);
        server.register_socket(udp);
        Self { addr, server }
    }

    pub(crate) async fn stop(mut self) {
        let _ = self.server.shutdown_gracefully().await;
    }
}

/// A signed list `resolvers.ward` (trusted via `resolvers.pub`) that puts
/// `doh.example.test` in `encrypted-dns`, rated 16+ by its publisher.
fn write_resolver_list(dir: &Path) {
    let key = SigningKey::from_bytes(&[9; 32]);
    let now = jiff::Timestamp::now();
    let opts = ward::list::BuildOptions {
        list_id: "resolvers".into(),
        serial: 3,
        issued_at: now,
        expires_at: now + jiff::SignedDuration::from_hours(24),
        confidential: Default::default(),
        min_age: [("encrypted-dns".to_string(), 16)].into_iter().collect(),
    };
    let source = "doh.example.test encrypted-dns\n";
    let (bytes, _) = ward::list::build::build_from_str(source, &opts, &key).unwrap();
    std::fs::write(dir.join("resolvers.ward"), bytes).unwrap();
    std::fs::write(
        dir.join("resolvers.pub"),
        ward::keys::public_file_text(&key.verifying_key()),
    )
    .unwrap();
}

/// 127.0.0.2: a primary school (every switch on by default); 127.0.0.3:
/// 17-year-olds, old enough for the list's `encrypted-dns` rating (the
/// switch blocks it all the same); 127.0.0.4: the same age with every
/// switch off. 127.0.0.1 has no profile.
const PROFILES: &str = r#"
[[lists]]
name = "resolvers"
file = "resolvers.ward"
trusted_keys = ["resolvers.pub"]

[[profile]]
name = "primary"
clients = ["127.0.0.2"]
age = 10
lists = ["resolvers"]

[[profile]]
name = "older"
clients = ["127.0.0.3"]
age = 17
lists = ["resolvers"]

[[profile]]
name = "open"
clients = ["127.0.0.4"]
age = 17
lists = ["resolvers"]
[profile.bypass]
canary_domain = false
private_relay = false
ddr = false
encrypted_dns = false
ech = false
"#;

fn start(dir: &Path, up: &Upstream) -> Ward {
    write_list(dir, &key(), 1, TEST_LIST);
    write_resolver_list(dir);
    let cfg = format!("{}{PROFILES}", config(&[up.addr], "", ""));
    Ward::start(dir, &cfg, true)
}

async fn metrics(w: &Ward) -> String {
    let (status, text) = http_get(w.admin.unwrap(), "/metrics").await;
    assert_eq!(status, 200);
    text
}

/// Queries that went upstream or missed the cache so far.
fn exchanges(metrics: &str) -> u64 {
    metrics
        .lines()
        .filter(|l| {
            l.starts_with("ward_cache_misses_total ")
                || (l.starts_with("ward_queries_total{") && l.contains("result=\"forwarded\""))
        })
        .filter_map(|l| l.rsplit(' ').next()?.parse::<u64>().ok())
        .sum()
}

fn bypass_count(metrics: &str, kind: &str) -> u64 {
    let prefix = format!("ward_bypass_blocked_total{{kind=\"{kind}\"}} ");
    metrics
        .lines()
        .find_map(|l| l.strip_prefix(&prefix)?.parse().ok())
        .unwrap_or_else(|| panic!("no {prefix}\n{metrics}"))
}

fn status(text: &str) -> &str {
    text.split("status: ")
        .nth(1)
        .and_then(|s| s.split(',').next())
        .unwrap_or("")
}

fn answers(text: &str) -> u32 {
    text.split("ANSWER: ")
        .nth(1)
        .and_then(|s| s.split(',').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or(u32::MAX)
}

#[tokio::test]
async fn bypass_names_are_answered_at_once_for_school_clients_only() {
    if !have_dig() {
        return;
    }
    let up = Upstream::start().await;
    let dir = tempfile::tempdir().unwrap();
    let w = start(dir.path(), &up);
    // School clients first, so nothing is cached: each answer is ward's
    // own, and no query goes upstream.
    let before = exchanges(&metrics(&w).await);
    for source in ["127.0.0.2", "127.0.0.3"] {
        for (qname, qtype) in [
            ("use-application-dns.net", "A"),
            ("mask.icloud.com", "A"),
            ("mask.icloud.com", "AAAA"),
            ("mask.icloud.com", "HTTPS"),
            ("mask-h2.icloud.com", "A"),
        ] {
            let text = dig(&w, source, &[qname, qtype]).await;
            assert_eq!(
                status(&text),
                "NXDOMAIN",
                "{source} {qname} {qtype}: {text}"
            );
            assert!(text.contains("EDE: 17 (Filtered)"), "{text}");
            assert!(text.contains("[profile.bypass]"), "{text}");
        }
        // DDR: the name exists, there is no designated resolver.
        let text = dig(&w, source, &["_dns.resolver.arpa", "SVCB"]).await;
        assert_eq!(status(&text), "NOERROR", "{text}");
        assert_eq!(answers(&text), 0, "{text}");
        assert!(!text.contains("dns.example.test"), "{text}");
    }
    let m = metrics(&w).await;
    assert_eq!(
        exchanges(&m),
        before,
        "a bypass answer never goes upstream\n{m}"
    );
    assert_eq!(bypass_count(&m, "canary_domain"), 2);
    assert_eq!(bypass_count(&m, "private_relay"), 8);
    assert_eq!(bypass_count(&m, "ddr"), 2);
    // No profile, or a profile with every switch off: the names resolve.
    for source in ["127.0.0.1", "127.0.0.4"] {
        for (qname, addr) in [
            ("use-application-dns.net", "192.0.2.80"),
            ("mask.icloud.com", "192.0.2.81"),
            ("mask-h2.icloud.com", "192.0.2.82"),
        ] {
            let text = dig(&w, source, &[qname, "A"]).await;
            assert_eq!(status(&text), "NOERROR", "{source} {qname}: {text}");
            assert!(text.contains(addr) && !text.contains("EDE"), "{text}");
        }
        // Never forwarded (RFC 9462 §6.4): the upstream's designation
        // would name a resolver past the filter.
        let text = dig(&w, source, &["_dns.resolver.arpa", "SVCB"]).await;
        assert!(
            status(&text) == "NOERROR" && !text.contains("dns.example.test") && answers(&text) == 0,
            "{text}"
        );
    }
    // Those went upstream (so the count above could have moved), and are
    // cached now; a school client still gets its own answer.
    assert!(exchanges(&metrics(&w).await) > before);
    let text = dig(&w, "127.0.0.2", &["mask.icloud.com", "A"]).await;
    assert_eq!(status(&text), "NXDOMAIN", "{text}");
    // Counted by kind, never by client.
    let m = metrics(&w).await;
    assert_eq!(bypass_count(&m, "private_relay"), 9);
    for line in m
        .lines()
        .filter(|l| l.starts_with("ward_bypass_blocked_total"))
    {
        assert!(!line.contains("127.0.0"), "{line}");
    }
    up.stop().await;
}

#[tokio::test]
async fn ech_is_taken_out_of_https_answers_for_school_clients() {
    if !have_dig() {
        return;
    }
    let up = Upstream::start().await;
    let dir = tempfile::tempdir().unwrap();
    let w = start(dir.path(), &up);
    let has_ech = |text: &str| text.contains(" ech=");
    let https_ok = |text: &str| {
        status(text) == "NOERROR"
            && answers(text) == 1
            && text.contains("HTTPS\t1 . alpn=\"h2,h3\"")
    };
    // Cached by a client without a profile, with its ech...
    let text = dig(&w, "127.0.0.1", &["ech.example.test", "HTTPS"]).await;
    assert!(https_ok(&text) && has_ech(&text), "{text}");
    assert!(text.contains("ipv4hint=192.0.2.10"), "{text}");
    // ...served to a school client without it (the cached path)...
    for source in ["127.0.0.2", "127.0.0.3"] {
        let text = dig(&w, source, &["ech.example.test", "HTTPS"]).await;
        assert!(https_ok(&text) && !has_ech(&text), "{source}: {text}");
        assert!(text.contains("ipv4hint=192.0.2.10"), "{text}");
    }
    // ...and still with it to everyone else: the cache keeps what the
    // upstream sent.
    for source in ["127.0.0.1", "127.0.0.4"] {
        let text = dig(&w, source, &["ech.example.test", "HTTPS"]).await;
        assert!(https_ok(&text) && has_ech(&text), "{source}: {text}");
    }
    // Forwarded to a school client first: stripped; then cached whole.
    let text = dig(&w, "127.0.0.2", &["ech2.example.test", "HTTPS"]).await;
    assert!(https_ok(&text) && !has_ech(&text), "{text}");
    assert!(text.contains("ipv4hint=192.0.2.11"), "{text}");
    let text = dig(&w, "127.0.0.1", &["ech2.example.test", "HTTPS"]).await;
    assert!(https_ok(&text) && has_ech(&text), "{text}");
    // With DO set (another cache key, so forwarded again): the same.
    let text = dig(&w, "127.0.0.2", &["+dnssec", "ech2.example.test", "HTTPS"]).await;
    assert!(https_ok(&text) && !has_ech(&text), "{text}");
    let m = metrics(&w).await;
    assert_eq!(bypass_count(&m, "ech"), 4, "{m}");
    up.stop().await;
}

#[tokio::test]
async fn the_encrypted_dns_category_and_ward_check() {
    if !have_dig() {
        return;
    }
    let up = Upstream::start().await;
    let dir = tempfile::tempdir().unwrap();
    let w = start(dir.path(), &up);
    // Blocked at 10 (rated 16+) and at 17 (the switch), allowed at 17
    // with the switch off and without a profile.
    for source in ["127.0.0.2", "127.0.0.3"] {
        let text = dig(&w, source, &["doh.example.test", "A"]).await;
        assert!(
            text.contains("EDE: 17 (Filtered)")
                && text.contains("list resolvers serial 3 (category encrypted-dns)"),
            "{source}: {text}"
        );
    }
    for source in ["127.0.0.1", "127.0.0.4"] {
        let text = dig(&w, source, &["doh.example.test", "A"]).await;
        assert!(
            text.contains("192.0.2.53") && !text.contains("EDE"),
            "{source}: {text}"
        );
    }
    assert_eq!(bypass_count(&metrics(&w).await, "encrypted_dns"), 2);
    // `ward check --config` explains each.
    let check = |client: &str, names: &[&str]| {
        let mut args = vec!["check", "--config", "ward.toml", "--client", client];
        args.extend_from_slice(names);
        let run = ward(dir.path(), &args);
        assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
        run.stdout
    };
    let out = check(
        "127.0.0.2",
        &[
            "mask.icloud.com",
            "use-application-dns.net",
            "_dns.resolver.arpa",
        ],
    );
    let lines: Vec<&str> = out.lines().filter(|l| !l.starts_with(' ')).collect();
    assert_eq!(lines.len(), 3, "{out}");
    assert!(
        lines[0].starts_with("mask.icloud.com\tbypass\tNXDOMAIN by [profile.bypass] private_relay: iCloud Private Relay")
            && lines[0].contains("profile primary (age 10): client 127.0.0.2"),
        "{out}"
    );
    assert!(
        lines[1].contains("\tbypass\tNXDOMAIN by [profile.bypass] canary_domain: Firefox"),
        "{out}"
    );
    assert!(
        lines[2].contains("\tbypass\tNODATA by [profile.bypass] ddr: "),
        "{out}"
    );
    let out = check("127.0.0.3", &["doh.example.test"]);
    assert!(
        out.contains("doh.example.test\tblock\tlist=resolvers category=encrypted-dns")
            && out.contains(
                "rated 16+, profile age 17, but [profile.bypass] encrypted_dns = true blocks category encrypted-dns whatever the age"
            ),
        "{out}"
    );
    let out = check("127.0.0.4", &["doh.example.test", "mask.icloud.com"]);
    assert!(!out.contains("bypass"), "{out}");
    let run = ward(
        dir.path(),
        &[
            "check",
            "--config",
            "ward.toml",
            "--profile",
            "primary",
            "--json",
            "mask-h2.icloud.com",
        ],
    );
    let v: serde_json::Value = serde_json::from_str(run.stdout.trim()).unwrap();
    assert_eq!(v["verdict"], "bypass", "{v}");
    assert_eq!(v["bypass"]["switch"], "private_relay", "{v}");
    assert_eq!(v["bypass"]["answer"], "NXDOMAIN", "{v}");
    assert_eq!(v["profile"], "primary", "{v}");
    // Without a profile, no switch applies.
    let run = ward(
        dir.path(),
        &[
            "check",
            "--config",
            "ward.toml",
            "--client",
            "127.0.0.1",
            "--json",
            "mask.icloud.com",
        ],
    );
    let v: serde_json::Value = serde_json::from_str(run.stdout.trim()).unwrap();
    assert_eq!(
        (&v["verdict"], &v["bypass"]),
        (&"allow".into(), &serde_json::Value::Null),
        "{v}"
    );
    up.stop().await;
}
