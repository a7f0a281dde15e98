//! The DoH listener over real sockets and TLS, with real clients
//! (reqwest over HTTP/2 and HTTP/1.1, the `h2` crate for the flood): the
//! engine behind it runs the demo list and forwards to a small UDP
//! upstream on loopback.

use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer, ServerName};
use rustls::{ClientConfig, RootCertStore, ServerConfig};
use tokio::io::AsyncReadExt;
use tokio::net::{TcpListener, TcpStream, UdpSocket};
use tokio_util::sync::CancellationToken;

use super::*;
use crate::dns::answer::{BlockAnswer, BlockMode};
use crate::dns::cache::CacheLimits;
use crate::dns::upstream::UpstreamSettings;
use crate::dns::wire::{self, CLASS_IN, Header, OPT_EDE, TYPE_A, flags};
use crate::dns::{Settings, padding};
use crate::list::{Bytes as ListBytes, DEMO_ARTIFACT, DEMO_PUBLIC_KEY, TrustedKeys};
use crate::store::ListStore;

fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// A test CA and a server configuration for `dns.test` and
/// `*.dns.test`, signed by it; the CA's certificate for clients.
fn tls() -> (ServerConfig, CertificateDer<'static>) {
    use rcgen::{
        BasicConstraints, CertificateParams, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
        KeyUsagePurpose,
    };
    let ca_key = KeyPair::generate().unwrap();
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    let ca_cert = ca_params.self_signed(&ca_key).unwrap();
    let ca = Issuer::new(ca_params, ca_key);
    let leaf_key = KeyPair::generate().unwrap();
    let mut leaf =
        CertificateParams::new(vec!["dns.test".to_owned(), "*.dns.test".to_owned()]).unwrap();
    leaf.is_ca = IsCa::ExplicitNoCa;
    leaf.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    let leaf_cert = leaf.signed_by(&leaf_key, &ca).unwrap();
    let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(leaf_key.serialize_der()));
    let mut config = ServerConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(vec![leaf_cert.der().clone()], key)
        .unwrap();
    config.alpn_protocols = ALPN.iter().map(|p| p.to_vec()).collect();
    (config, ca_cert.der().clone())
}

fn client_tls(ca: &CertificateDer<'static>, alpn: &[&[u8]]) -> ClientConfig {
    let mut roots = RootCertStore::empty();
    roots.add(ca.clone()).unwrap();
    let mut c = ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    c.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
    c
}

/// A UDP upstream answering every A query with 192.0.2.10, TTL 300.
async fn upstream() -> SocketAddr {
    let sock = UdpSocket::bind((Ipv4Addr::LOCALHOST, 0)).await.unwrap();
    let addr = sock.local_addr().unwrap();
    tokio::spawn(async move {
        let mut buf = [0u8; 4096];
        while let Ok((n, from)) = sock.recv_from(&mut buf).await {
            let Ok(q) = crate::dns::query::parse(&buf[..n]) else {
                continue;
            };
            let mut out = Vec::new();
            wire::put_header(
                &mut out,
                &Header {
                    id: q.header.id,
                    flags: flags::QR | flags::RD | flags::RA,
                    qdcount: 1,
                    ancount: 1,
                    nscount: 0,
                    arcount: 0,
                },
            );
            out.extend_from_slice(q.question);
            wire::put_record_at_qname(&mut out, TYPE_A, CLASS_IN, 300, &[192, 0, 2, 10]);
            let _ = sock.send_to(&out, from).await;
        }
    });
    addr
}

async fn engine() -> Arc<Engine> {
    let key = crate::keys::parse_public(DEMO_PUBLIC_KEY).unwrap();
    let trust: TrustedKeys = std::iter::once(key).collect();
    let list = crate::list::verify(ListBytes::Static(DEMO_ARTIFACT), &trust).unwrap();
    let settings = Settings {
        allow_clients: vec!["127.0.0.0/8".parse().unwrap()],
        block: BlockAnswer {
            mode: BlockMode::Sinkhole,
            ipv4: vec!["192.0.2.1".parse().unwrap()],
            ipv6: vec![],
            ttl: 60,
        },
        cache: Some(CacheLimits {
            max_entries: 1000,
            max_memory: 1 << 20,
            min_ttl: 0,
            max_ttl: 86_400,
            max_negative_ttl: 3600,
        }),
        upstream: UpstreamSettings {
            addrs: vec![upstream().await],
            timeout: Duration::from_secs(5),
            attempts: 3,
            edns_payload: 1232,
        },
        query_log: false,
    };
    Arc::new(Engine::new(
        settings,
        Arc::new(ListStore::with(list)),
        Arc::clone(crate::metrics::Metrics::new().dns()),
    ))
}

/// A running DoH listener.
struct Server {
    addr: SocketAddr,
    ca: CertificateDer<'static>,
    metrics: Arc<DohMetrics>,
    shutdown: CancellationToken,
}

impl Drop for Server {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}

async fn start(limits: DohLimits) -> Server {
    let (config, ca) = tls();
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).await.unwrap();
    let addr = listener.local_addr().unwrap();
    let metrics = Arc::new(DohMetrics::default());
    let doh = Arc::new(Doh {
        engine: engine().await,
        metrics: Arc::clone(&metrics),
        limits,
        server_name: Some("dns.test".to_owned()),
    });
    let shutdown = CancellationToken::new();
    tokio::spawn(accept_loop(
        listener,
        Arc::new(config),
        doh,
        shutdown.clone(),
    ));
    Server {
        addr,
        ca,
        metrics,
        shutdown,
    }
}

impl Server {
    fn client(&self, http1: bool) -> reqwest::Client {
        let alpn: &[&[u8]] = if http1 { &[b"http/1.1"] } else { &[b"h2"] };
        let mut b = reqwest::Client::builder()
            .use_preconfigured_tls(client_tls(&self.ca, alpn))
            .resolve("dns.test", self.addr)
            .resolve("school-7.dns.test", self.addr);
        if http1 {
            b = b.http1_only();
        }
        b.build().unwrap()
    }

    fn url(&self, path: &str) -> String {
        format!("https://dns.test:{}{path}", self.addr.port())
    }

    /// A TLS connection as a raw stream, for the h2 client.
    async fn tls_stream(&self) -> tokio_rustls::client::TlsStream<TcpStream> {
        let connector = tokio_rustls::TlsConnector::from(Arc::new(client_tls(&self.ca, &[b"h2"])));
        let tcp = TcpStream::connect(self.addr).await.unwrap();
        let name = ServerName::try_from("dns.test").unwrap();
        connector.connect(name, tcp).await.unwrap()
    }
}

/// An `A` query for `name`, ID 0 as RFC 8484 asks, with EDNS.
fn query(name: &str) -> Vec<u8> {
    let mut out = Vec::new();
    wire::put_header(
        &mut out,
        &Header {
            id: 0,
            flags: flags::RD,
            qdcount: 1,
            ancount: 0,
            nscount: 0,
            arcount: 1,
        },
    );
    wire::put_name(&mut out, name);
    out.extend_from_slice(&TYPE_A.to_be_bytes());
    out.extend_from_slice(&CLASS_IN.to_be_bytes());
    wire::put_opt(&mut out, 1232, 0, false, &[]);
    out
}

fn get_url(server: &Server, path: &str, name: &str) -> String {
    format!(
        "{}?dns={}",
        server.url(path),
        URL_SAFE_NO_PAD.encode(query(name))
    )
}

#[tokio::test]
async fn get_and_post_over_both_http_versions() {
    let server = start(DohLimits::default()).await;
    for http1 in [false, true] {
        let client = server.client(http1);
        // Blocked: the sinkhole, EDE 16, padded, cacheable for the block TTL.
        let r = client
            .get(get_url(&server, "/dns-query", "blocked.example.test"))
            .send()
            .await
            .unwrap();
        let want = if http1 {
            reqwest::Version::HTTP_11
        } else {
            reqwest::Version::HTTP_2
        };
        assert_eq!(r.version(), want);
        assert_eq!(r.status(), 200);
        assert_eq!(r.headers()["content-type"], "application/dns-message");
        assert_eq!(r.headers()["cache-control"], "max-age=60");
        let body = r.bytes().await.unwrap();
        assert_eq!(body.len() % padding::RESPONSE_BLOCK, 0);
        assert!(body.windows(4).any(|w| w == [192, 0, 2, 1]));
        let ede = OPT_EDE.to_be_bytes();
        assert!(body.windows(2).any(|w| w == ede), "no EDE option");
        // Allowed, by POST: the upstream's answer.
        let r = client
            .post(server.url("/dns-query/School-7"))
            .header("content-type", "application/dns-message")
            .body(query("allowed.example.test"))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        let cache = r.headers()["cache-control"].to_str().unwrap().to_owned();
        let age: u32 = cache.strip_prefix("max-age=").unwrap().parse().unwrap();
        assert!((1..=300).contains(&age), "{cache}");
        let body = r.bytes().await.unwrap();
        assert!(body.windows(4).any(|w| w == [192, 0, 2, 10]));
        assert_eq!(body.len() % padding::RESPONSE_BLOCK, 0);
    }
    assert_eq!(server.metrics.requests(Outcome::Ok), 4);
}

#[tokio::test]
async fn bad_requests_get_their_status_and_the_listener_keeps_serving() {
    let server = start(DohLimits::default()).await;
    let client = server.client(false);
    let dns = URL_SAFE_NO_PAD.encode(query("blocked.example.test"));
    let cases: Vec<(reqwest::RequestBuilder, u16)> = vec![
        (
            client.get(server.url(&format!("/dns-query?dns={dns}="))),
            400,
        ),
        (client.get(server.url("/dns-query?dns=%%%")), 400),
        (
            client.get(server.url(&format!("/dns-query/bad_id?dns={dns}"))),
            400,
        ),
        (client.get(server.url("/dns-query?dns=AAAB")), 400),
        (
            client
                .post(server.url("/dns-query"))
                .header("content-type", "text/plain")
                .body(query("a.test")),
            415,
        ),
        (
            client
                .post(server.url("/dns-query"))
                .header("content-type", "application/dns-message")
                .body(vec![0u8; 70_000]),
            413,
        ),
        (client.put(server.url("/dns-query")), 405),
        (client.get(server.url("/resolve")), 404),
    ];
    for (request, status) in cases {
        let r = request.send().await.unwrap();
        assert_eq!(r.status(), status);
        assert_eq!(r.headers()["cache-control"], "no-store");
    }
    assert_eq!(server.metrics.requests(Outcome::BadRequest), 4);
    assert_eq!(server.metrics.requests(Outcome::UnsupportedMediaType), 1);
    assert_eq!(server.metrics.requests(Outcome::PayloadTooLarge), 1);
    assert_eq!(server.metrics.requests(Outcome::MethodNotAllowed), 1);
    assert_eq!(server.metrics.requests(Outcome::NotFound), 1);
    // The same connection still answers.
    let r = client
        .get(get_url(&server, "/dns-query", "blocked.example.test"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
}

/// CVE-2023-44487 on the wire: the client preface, then `streams`
/// HEADERS frames each followed at once by RST_STREAM (CANCEL), in one
/// write, as the attack sends them. Returns the error code of the GOAWAY
/// the server sends, if any, before the connection ends.
pub(crate) async fn rapid_reset(
    mut tls: impl tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
    streams: u32,
) -> Option<u32> {
    use tokio::io::AsyncWriteExt;
    let mut out = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n".to_vec();
    out.extend_from_slice(&[0, 0, 0, 4, 0, 0, 0, 0, 0]); // SETTINGS, empty
    for i in 0..streams {
        let id = (2 * i + 1).to_be_bytes();
        // HEADERS, END_STREAM | END_HEADERS: :method GET, :scheme https,
        // :path / (HPACK static table 2, 7, 4).
        out.extend_from_slice(&[0, 0, 3, 1, 5]);
        out.extend_from_slice(&id);
        out.extend_from_slice(&[0x82, 0x87, 0x84]);
        // RST_STREAM, CANCEL (8).
        out.extend_from_slice(&[0, 0, 4, 3, 0]);
        out.extend_from_slice(&id);
        out.extend_from_slice(&8u32.to_be_bytes());
    }
    // The server may close before it has read everything.
    let _ = tls.write_all(&out).await;
    let _ = tls.flush().await;
    let mut frames = Vec::new();
    let mut buf = [0u8; 16 * 1024];
    loop {
        let n = tls.read(&mut buf).await.unwrap_or(0);
        if n == 0 {
            return None;
        }
        frames.extend_from_slice(&buf[..n]);
        // Whole frames: 9-byte header, then the payload.
        while frames.len() >= 9 {
            let len = (usize::from(frames[0]) << 16)
                | (usize::from(frames[1]) << 8)
                | usize::from(frames[2]);
            if frames.len() < 9 + len {
                break;
            }
            if frames[3] == 7 && len >= 8 {
                return Some(u32::from_be_bytes([
                    frames[13], frames[14], frames[15], frames[16],
                ]));
            }
            frames.drain(..9 + len);
        }
    }
}

#[tokio::test]
async fn a_rapid_reset_flood_closes_that_connection_only() {
    let server = start(DohLimits::default()).await;
    // ENHANCE_YOUR_CALM (11).
    assert_eq!(rapid_reset(server.tls_stream().await, 1000).await, Some(11));
    while server.metrics.closes(CloseReason::HttpError) == 0 {
        tokio::task::yield_now().await;
    }
    // Others are still served.
    let r = server
        .client(false)
        .get(get_url(&server, "/dns-query", "blocked.example.test"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
}

#[tokio::test]
async fn connection_caps_handshakes_and_idle_connections() {
    let server = start(DohLimits {
        max_connections_per_client: 2,
        handshake_timeout: Duration::from_secs(1),
        idle_timeout: Duration::from_millis(300),
        ..DohLimits::default()
    })
    .await;
    // Two silent connections fill this client's share; the third is
    // closed at once.
    let mut a = TcpStream::connect(server.addr).await.unwrap();
    let mut b = TcpStream::connect(server.addr).await.unwrap();
    let mut c = TcpStream::connect(server.addr).await.unwrap();
    let mut buf = [0u8; 64];
    assert_eq!(c.read(&mut buf).await.unwrap_or(0), 0);
    assert_eq!(server.metrics.closes(CloseReason::ClientCap), 1);
    // The two never start a handshake: dropped after its timeout.
    assert_eq!(a.read(&mut buf).await.unwrap_or(0), 0);
    assert_eq!(b.read(&mut buf).await.unwrap_or(0), 0);
    assert_eq!(server.metrics.closes(CloseReason::Handshake), 2);
    // A TLS connection with no request is closed after the idle timeout.
    let mut idle = server.tls_stream().await;
    let mut sink = Vec::new();
    let _ = idle.read_to_end(&mut sink).await;
    while server.metrics.closes(CloseReason::Idle) == 0 {
        tokio::task::yield_now().await;
    }
    // And the listener serves new clients.
    let r = server
        .client(true)
        .get(get_url(&server, "/dns-query", "blocked.example.test"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
}
