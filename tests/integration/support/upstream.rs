//! An in-process authoritative server (hickory-server) serving the test
//! zone `test.` on a loopback port, UDP and TCP. ward forwards to it.

use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr};
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use hickory_proto::rr::rdata::{A, AAAA, CNAME, MX, SOA, TXT};
use hickory_proto::rr::{LowerName, Name, RData, Record};
use hickory_server::Server;
use hickory_server::store::in_memory::InMemoryZoneHandler;
use hickory_server::zone_handler::{AxfrPolicy, Catalog, ZoneHandler, ZoneType};
use tokio::net::{TcpListener, UdpSocket};

/// Names in the test zone (see [`TestUpstream::start`]).
pub const ZONE: &str = "test.";

/// A running authoritative server.
pub struct TestUpstream {
    pub addr: SocketAddr,
    server: Server<Catalog>,
}

fn name(s: &str) -> Name {
    Name::from_str(s).expect("test names are valid")
}

fn record(owner: &str, ttl: u32, rdata: RData) -> Record {
    Record::from_rdata(name(owner), ttl, rdata)
}

impl TestUpstream {
    /// Starts the server with the standard test zone:
    ///
    /// ```text
    /// www.example.test.       300  A     192.0.2.10
    /// www.example.test.       300  AAAA  2001:db8::10
    /// mail.example.test.      300  MX    10 www.example.test.
    /// short.example.test.     30   A     192.0.2.30
    /// cloak.example.test.     300  CNAME cdn.tracker.test.
    /// cdn.tracker.test.       300  A     192.0.2.66
    /// later.example.test.     300  CNAME late.example.test.
    /// late.example.test.      300  A     192.0.2.77
    /// big.example.test.       300  TXT   (40 strings of 100 bytes: > 1232)
    /// forever.example.test.   4294967295 A 192.0.2.44 (a TTL RFC 2181 reads as 0)
    /// sibling.test.           300  A     192.0.2.20
    /// www.blocked.test.       300  A     192.0.2.99   (ward must never ask)
    /// ```
    pub async fn start() -> Self {
        Self::start_zone(false).await
    }

    /// The same zone plus a wildcard, `*.test. 300 A 192.0.2.200`: every
    /// name under `test.` resolves, like the open internet to a resolver
    /// that filters nothing.
    pub async fn start_wildcard() -> Self {
        Self::start_zone(true).await
    }

    async fn start_zone(wildcard: bool) -> Self {
        let origin = name(ZONE);
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
        let big: Vec<String> = (0..40)
            .map(|i| format!("{i:03}{}", "x".repeat(97)))
            .collect();
        let records = [
            record(ZONE, 3600, RData::SOA(soa)),
            record(
                "www.example.test.",
                300,
                RData::A(A(Ipv4Addr::new(192, 0, 2, 10))),
            ),
            record(
                "www.example.test.",
                300,
                RData::AAAA(AAAA("2001:db8::10".parse::<Ipv6Addr>().unwrap())),
            ),
            record(
                "mail.example.test.",
                300,
                RData::MX(MX::new(10, name("www.example.test."))),
            ),
            record(
                "short.example.test.",
                30,
                RData::A(A(Ipv4Addr::new(192, 0, 2, 30))),
            ),
            record(
                "cloak.example.test.",
                300,
                RData::CNAME(CNAME(name("cdn.tracker.test."))),
            ),
            record(
                "cdn.tracker.test.",
                300,
                RData::A(A(Ipv4Addr::new(192, 0, 2, 66))),
            ),
            record(
                "later.example.test.",
                300,
                RData::CNAME(CNAME(name("late.example.test."))),
            ),
            record(
                "late.example.test.",
                300,
                RData::A(A(Ipv4Addr::new(192, 0, 2, 77))),
            ),
            record("big.example.test.", 300, RData::TXT(TXT::new(big))),
            record(
                "forever.example.test.",
                u32::MAX,
                RData::A(A(Ipv4Addr::new(192, 0, 2, 44))),
            ),
            record(
                "sibling.test.",
                300,
                RData::A(A(Ipv4Addr::new(192, 0, 2, 20))),
            ),
            record(
                "www.blocked.test.",
                300,
                RData::A(A(Ipv4Addr::new(192, 0, 2, 99))),
            ),
        ];
        for r in records {
            assert!(zone.upsert_mut(r, 1), "record inserted");
        }
        if wildcard {
            let any = record("*.test.", 300, RData::A(A(Ipv4Addr::new(192, 0, 2, 200))));
            assert!(zone.upsert_mut(any, 1), "wildcard inserted");
        }
        let mut catalog = Catalog::new();
        let handler: Arc<dyn ZoneHandler> = Arc::new(zone);
        catalog.upsert(LowerName::new(&origin), vec![handler]);

        let (udp, tcp) = bind_udp_and_tcp().await;
        let addr = udp.local_addr().unwrap();
        let mut server = Server::new(catalog);
        server.register_socket(udp);
        server.register_listener(tcp, Duration::from_secs(5), 65_535);
        Self { addr, server }
    }

    /// A server authoritative for the root zone, holding `records` (and
    /// a root SOA): names under any TLD, such as a search engine's hosts.
    pub async fn start_root(records: Vec<Record>) -> Self {
        let origin = Name::root();
        let mut zone: InMemoryZoneHandler =
            InMemoryZoneHandler::empty(origin.clone(), ZoneType::Primary, AxfrPolicy::Deny);
        let soa = SOA::new(
            name("ns.root."),
            name("hostmaster.root."),
            1,
            3600,
            600,
            86400,
            45,
        );
        assert!(zone.upsert_mut(Record::from_rdata(origin.clone(), 3600, RData::SOA(soa)), 1));
        for r in records {
            assert!(zone.upsert_mut(r, 1), "record inserted");
        }
        let mut catalog = Catalog::new();
        let handler: Arc<dyn ZoneHandler> = Arc::new(zone);
        catalog.upsert(LowerName::new(&origin), vec![handler]);
        let (udp, tcp) = bind_udp_and_tcp().await;
        let addr = udp.local_addr().unwrap();
        let mut server = Server::new(catalog);
        server.register_socket(udp);
        server.register_listener(tcp, Duration::from_secs(5), 65_535);
        Self { addr, server }
    }

    pub async fn stop(mut self) {
        let _ = self.server.shutdown_gracefully().await;
    }
}

/// A UDP socket and a TCP listener on the same free loopback port. The
/// kernel picks the UDP port; that port's TCP side may belong to another
/// test's connection, so a taken one is given back and another tried.
async fn bind_udp_and_tcp() -> (UdpSocket, TcpListener) {
    let mut last = None;
    for _ in 0..64 {
        let udp = UdpSocket::bind("127.0.0.1:0")
            .await
            .expect("bind upstream UDP");
        let addr = udp.local_addr().unwrap();
        match TcpListener::bind(addr).await {
            Ok(tcp) => return (udp, tcp),
            Err(e) => last = Some(e),
        }
    }
    panic!("no loopback port free for both UDP and TCP: {last:?}");
}

/// A loopback UDP address where nothing listens: queries get ICMP port
/// unreachable at once (a dead upstream).
pub async fn dead_addr() -> SocketAddr {
    let s = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let addr = s.local_addr().unwrap();
    drop(s);
    addr
}

/// A UDP socket that reads queries and never answers (a black-holed
/// upstream). Keep the returned socket alive for the test's duration.
pub async fn silent_upstream() -> (SocketAddr, UdpSocket) {
    let s = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    (s.local_addr().unwrap(), s)
}
