//! DNS over HTTPS against the real `ward serve`: `dig +https`, `curl
//! --doh-url`, and hostile HTTP/2 and HTTP/1.1 clients, with a test CA.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio_rustls::rustls::pki_types::{CertificateDer, ServerName};
use tokio_rustls::rustls::{ClientConfig, RootCertStore};

use crate::list_file::metric;
use crate::schools::have_dig;
use crate::serve::{config, key};
use crate::support::client::raw_query;
use crate::support::upstream::TestUpstream;
use crate::support::ward::{TEST_LIST, Ward, find_addr, write_list};

/// The DoH server name; its certificate also covers `*.dns.test`.
const NAME: &str = "dns.test";

/// A test CA (`ca.pem`) and a leaf for `dns.test`, `*.dns.test` and
/// 127.0.0.1 (`doh.pem`, `doh.key`) in `dir`; the CA's DER.
fn mint(dir: &Path) -> CertificateDer<'static> {
    use rcgen::{
        BasicConstraints, CertificateParams, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
        KeyUsagePurpose,
    };
    let ca_key = KeyPair::generate().unwrap();
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params
        .distinguished_name
        .push(rcgen::DnType::CommonName, "ward DoH test CA");
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    let ca_cert = ca_params.self_signed(&ca_key).unwrap();
    let ca = Issuer::new(ca_params, ca_key);
    let leaf_key = KeyPair::generate().unwrap();
    let mut leaf = CertificateParams::new(vec![
        NAME.to_owned(),
        format!("*.{NAME}"),
        "127.0.0.1".to_owned(),
    ])
    .unwrap();
    leaf.distinguished_name
        .push(rcgen::DnType::CommonName, NAME);
    leaf.is_ca = IsCa::ExplicitNoCa;
    leaf.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    leaf.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    leaf.use_authority_key_identifier_extension = true;
    let leaf_cert = leaf.signed_by(&leaf_key, &ca).unwrap();
    std::fs::write(dir.join("ca.pem"), ca_cert.pem()).unwrap();
    std::fs::write(
        dir.join("doh.pem"),
        format!("{}{}", leaf_cert.pem(), ca_cert.pem()),
    )
    .unwrap();
    std::fs::write(dir.join("doh.key"), leaf_key.serialize_pem()).unwrap();
    ca_cert.der().clone()
}

/// A school profile chosen by client id `school-42` alone, blocking
/// `games.test`; the sinkhole is `sinkhole`.
fn doh_config(up: SocketAddr, sinkhole: &str) -> String {
    let base = config(&[up], "", "").replace("192.0.2.1", sinkhole);
    format!(
        r#"{base}
[doh]
listen = ["127.0.0.1:0"]
cert = "doh.pem"
key = "doh.key"
server_name = "{NAME}"

[[lists]]
name = "school"
source = "school.txt"

[[profile]]
name = "school-42"
client_ids = ["school-42"]
age = 10
lists = ["school"]
"#
    )
}

struct Doh {
    ward: Ward,
    addr: SocketAddr,
    ca: CertificateDer<'static>,
    ca_file: PathBuf,
}

fn start(dir: &Path, up: SocketAddr, sinkhole: &str) -> Doh {
    write_list(dir, &key(), 1, TEST_LIST);
    std::fs::write(dir.join("school.txt"), "games.test games\n").unwrap();
    let ca = mint(dir);
    let ward = Ward::start(dir, &doh_config(up, sinkhole), true);
    assert!(
        ward.wait_for_log("listening for DoH on "),
        "{}",
        ward.logs()
    );
    let addr = find_addr(&ward.logs(), "listening for DoH on ").unwrap();
    Doh {
        ward,
        addr,
        ca,
        ca_file: dir.join("ca.pem"),
    }
}

impl Doh {
    /// `dig +https` for `name`, to `path`, with TLS server name `sni`.
    async fn dig(&self, sni: &str, path: &str, name: &str) -> String {
        let out = tokio::process::Command::new("dig")
            .arg(format!("@{}", self.addr.ip()))
            .args(["-p", &self.addr.port().to_string()])
            .arg(format!("+https={path}"))
            .arg(format!("+tls-ca={}", self.ca_file.display()))
            .arg(format!("+tls-hostname={sni}"))
            .args(["+tries=1", "+time=5", name, "A"])
            .output()
            .await
            .unwrap();
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// `kdig +https` for `name` with TLS server name `sni` (dig 9.18
    /// sends no SNI of its own choosing).
    async fn kdig(&self, sni: &str, path: &str, name: &str) -> String {
        let out = tokio::process::Command::new("kdig")
            .arg(format!("@{}", self.addr.ip()))
            .args(["-p", &self.addr.port().to_string()])
            .arg(format!("+https={path}"))
            .arg(format!("+tls-ca={}", self.ca_file.display()))
            .arg(format!("+tls-hostname={sni}"))
            .arg(format!("+tls-sni={sni}"))
            .args(["+retry=0", "+time=5", name, "A"])
            .output()
            .await
            .unwrap();
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    fn tls(&self, alpn: &[u8]) -> ClientConfig {
        let mut roots = RootCertStore::empty();
        roots.add(self.ca.clone()).unwrap();
        let mut c = ClientConfig::builder_with_provider(Arc::new(
            tokio_rustls::rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
        c.alpn_protocols = vec![alpn.to_vec()];
        c
    }

    fn client(&self, http1: bool) -> reqwest::Client {
        let alpn: &[u8] = if http1 { b"http/1.1" } else { b"h2" };
        let b = reqwest::Client::builder()
            .use_preconfigured_tls(self.tls(alpn))
            .resolve(NAME, self.addr);
        if http1 { b.http1_only() } else { b }.build().unwrap()
    }

    fn url(&self, path: &str) -> String {
        format!("https://{NAME}:{}{path}", self.addr.port())
    }

    async fn metric(&self, series: &str) -> f64 {
        metric(self.ward.admin.unwrap(), series)
            .await
            .unwrap_or(0.0)
    }
}

/// The sinkhole with an EDE: 16 (Censored) for the national list, 17
/// (Filtered) for a school's.
fn blocked(dig: &str, sinkhole: &str) -> bool {
    dig.contains("status: NOERROR")
        && dig.contains(sinkhole)
        && (dig.contains("EDE: 16") || dig.contains("EDE: 17"))
}

fn allowed(dig: &str) -> bool {
    dig.contains("status: NOERROR") && dig.contains("192.0.2.200") && !dig.contains("EDE")
}

#[tokio::test]
async fn dig_over_https_gets_the_same_answers_and_the_profile_by_path_or_sni() {
    if !have_dig() {
        return;
    }
    let up = TestUpstream::start_wildcard().await;
    let dir = tempfile::tempdir().unwrap();
    let d = start(dir.path(), up.addr, "192.0.2.1");
    let plain = "/dns-query";
    let school = "/dns-query/school-42";
    // Allowed and blocked names, no client id: the default profile.
    let a = d.dig(NAME, plain, "www.example.test").await;
    assert!(
        a.contains("status: NOERROR") && a.contains("192.0.2.10"),
        "{a}"
    );
    let b = d.dig(NAME, plain, "blocked.test").await;
    assert!(blocked(&b, "192.0.2.1"), "{b}");
    let g = d.dig(NAME, plain, "games.test").await;
    assert!(allowed(&g), "{g}");
    // The school's client id in the path, or in the server name.
    let g = d.dig(NAME, school, "games.test").await;
    assert!(blocked(&g, "192.0.2.1"), "{g}");
    let g = d
        .kdig(&format!("school-42.{NAME}"), plain, "games.test")
        .await;
    assert!(blocked(&g, "192.0.2.1"), "{g}");
    // The path's id wins over the server name's; an unknown id is the
    // default profile, answered like no id at all.
    let g = d
        .kdig(
            &format!("school-42.{NAME}"),
            "/dns-query/other",
            "games.test",
        )
        .await;
    assert!(allowed(&g), "{g}");
    let g = d.dig(NAME, "/dns-query/nobody", "games.test").await;
    assert!(allowed(&g), "{g}");
    // Counted under protocol="doh".
    let doh = d
        .metric(r#"ward_queries_total{protocol="doh",result="blocked"}"#)
        .await;
    assert_eq!(doh, 3.0);
    assert_eq!(
        d.metric(r#"ward_doh_requests_total{result="ok"}"#).await,
        7.0
    );
}

/// A plain HTTP server on 127.0.0.1 that answers every request 451 and
/// counts the `Host`s it saw.
async fn notice_server() -> (SocketAddr, tokio::sync::mpsc::UnboundedReceiver<String>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
    tokio::spawn(async move {
        while let Ok((mut s, _)) = listener.accept().await {
            let tx = tx.clone();
            tokio::spawn(async move {
                let mut buf = vec![0u8; 4096];
                let mut n = 0;
                while !buf[..n].windows(4).any(|w| w == b"\r\n\r\n") {
                    match s.read(&mut buf[n..]).await {
                        Ok(0) | Err(_) => return,
                        Ok(k) => n += k,
                    }
                }
                let head = String::from_utf8_lossy(&buf[..n]).to_ascii_lowercase();
                if let Some(host) = head.lines().find_map(|l| l.strip_prefix("host: ")) {
                    let _ = tx.send(host.trim().to_owned());
                }
                let _ = s
                    .write_all(b"HTTP/1.1 451 Unavailable For Legal Reasons\r\ncontent-length: 0\r\nconnection: close\r\n\r\n")
                    .await;
            });
        }
    });
    (addr, rx)
}

#[tokio::test]
async fn curl_resolves_through_doh_and_gets_the_sinkhole() {
    let have_curl = std::process::Command::new("curl")
        .arg("-V")
        .output()
        .is_ok();
    if !have_curl {
        return;
    }
    let up = TestUpstream::start_wildcard().await;
    let dir = tempfile::tempdir().unwrap();
    // The sinkhole is loopback, where a stand-in for the block page
    // answers 451: curl reaching it proves the name resolved to it.
    let d = start(dir.path(), up.addr, "127.0.0.1");
    let (page, mut hosts) = notice_server().await;
    let curl = |doh_path: &'static str, host: &'static str| {
        let doh_url = d.url(doh_path);
        let ca = d.ca_file.clone();
        let resolve = format!("{NAME}:{}:127.0.0.1", d.addr.port());
        let url = format!("http://{host}:{}/", page.port());
        async move {
            let out = tokio::process::Command::new("curl")
                .args(["-s", "-o", "/dev/null", "-w", "%{http_code}"])
                .arg("--cacert")
                .arg(&ca)
                .args(["--resolve", &resolve, "--doh-url", &doh_url, &url])
                .output()
                .await
                .unwrap();
            String::from_utf8_lossy(&out.stdout).into_owned()
        }
    };
    assert_eq!(curl("/dns-query", "blocked.test").await, "451");
    assert_eq!(
        hosts.recv().await.unwrap(),
        format!("blocked.test:{}", page.port())
    );
    assert_eq!(curl("/dns-query/school-42", "games.test").await, "451");
    assert_eq!(
        hosts.recv().await.unwrap(),
        format!("games.test:{}", page.port())
    );
    assert!(
        d.metric(r#"ward_queries_total{protocol="doh",result="blocked"}"#)
            .await
            >= 2.0
    );
}

#[tokio::test]
async fn bad_requests_and_a_rapid_reset_flood_are_refused_and_others_still_served() {
    let up = TestUpstream::start_wildcard().await;
    let dir = tempfile::tempdir().unwrap();
    let d = start(dir.path(), up.addr, "192.0.2.1");
    let dns = URL_SAFE_NO_PAD.encode(raw_query(0, "blocked.test", 1));
    for http1 in [false, true] {
        let c = d.client(http1);
        let cases = [
            (c.get(d.url(&format!("/dns-query?dns={dns}=="))), 400),
            (c.get(d.url("/dns-query?dns=not*base64")), 400),
            (
                c.get(d.url(&format!("/dns-query/not_a_label?dns={dns}"))),
                400,
            ),
            (
                c.post(d.url("/dns-query"))
                    .header("content-type", "application/json")
                    .body(raw_query(0, "blocked.test", 1)),
                415,
            ),
            (
                c.post(d.url("/dns-query"))
                    .header("content-type", "application/dns-message")
                    .body(vec![0u8; 65_536]),
                413,
            ),
            (c.delete(d.url("/dns-query")), 405),
            (c.get(d.url("/.well-known/x")), 404),
        ];
        for (request, status) in cases {
            let r = request.send().await.unwrap();
            assert_eq!(r.status().as_u16(), status, "http1: {http1}");
        }
        // The same client is still answered.
        let r = c
            .get(d.url(&format!("/dns-query?dns={dns}")))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        assert_eq!(r.headers()["cache-control"], "max-age=60");
    }
    for (result, n) in [
        ("bad_request", 6.0),
        ("unsupported_media_type", 2.0),
        ("payload_too_large", 2.0),
        ("method_not_allowed", 2.0),
        ("not_found", 2.0),
        ("ok", 2.0),
    ] {
        let series = format!(r#"ward_doh_requests_total{{result="{result}"}}"#);
        assert_eq!(d.metric(&series).await, n, "{series}");
    }

    // CVE-2023-44487: streams opened and reset at once, over and over:
    // GOAWAY with ENHANCE_YOUR_CALM (11).
    let tcp = TcpStream::connect(d.addr).await.unwrap();
    let tls = tokio_rustls::TlsConnector::from(Arc::new(d.tls(b"h2")))
        .connect(ServerName::try_from(NAME).unwrap(), tcp)
        .await
        .unwrap();
    assert_eq!(rapid_reset(tls, 1000).await, Some(11));
    let closed = r#"ward_connections_closed_total{listener="dns_doh",reason="http_error"}"#;
    while d.metric(closed).await < 1.0 {
        tokio::task::yield_now().await;
    }
    // Others are still served.
    let r = d
        .client(false)
        .get(d.url(&format!("/dns-query?dns={dns}")))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
}

/// CVE-2023-44487 on the wire: the client preface, then `streams`
/// HEADERS frames each followed at once by RST_STREAM (CANCEL), in one
/// write, as the attack sends them. Returns the error code of the GOAWAY
/// the server sends, if any, before the connection ends.
async fn rapid_reset(
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

/// The base64 SHA-256 of the DoH certificate's public key: what
/// Chromium's `--ignore-certificate-errors-spki-list` takes to trust it.
fn spki_pin(dir: &Path) -> String {
    use sha2::Digest as _;
    use x509_parser::prelude::FromDer as _;
    let pem = std::fs::read(dir.join("doh.pem")).unwrap();
    use tokio_rustls::rustls::pki_types::pem::PemObject as _;
    let leaf = CertificateDer::pem_slice_iter(&pem)
        .next()
        .map(Result::unwrap)
        .unwrap();
    let (_, cert) = x509_parser::certificate::X509Certificate::from_der(leaf.as_ref()).unwrap();
    base64::engine::general_purpose::STANDARD
        .encode(sha2::Sha256::digest(cert.tbs_certificate.subject_pki.raw))
}

/// A plain HTTP server on `listener` that answers every request 200
/// with `body` and counts the requests.
fn page_server(listener: TcpListener, body: &'static str) -> Arc<std::sync::atomic::AtomicUsize> {
    let hits = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let seen = Arc::clone(&hits);
    tokio::spawn(async move {
        while let Ok((mut s, _)) = listener.accept().await {
            let seen = Arc::clone(&seen);
            tokio::spawn(async move {
                let mut buf = vec![0u8; 4096];
                let mut n = 0;
                while !buf[..n].windows(4).any(|w| w == b"\r\n\r\n") {
                    match s.read(&mut buf[n..]).await {
                        Ok(0) | Err(_) => return,
                        Ok(k) => n += k,
                    }
                }
                seen.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                let reply = format!(
                    "HTTP/1.1 200 OK\r\ncontent-type: text/html\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                    body.len()
                );
                let _ = s.write_all(reply.as_bytes()).await;
            });
        }
    });
    hits
}

/// Headless Chromium in secure DNS mode (its "Use secure DNS" setting,
/// written into a fresh profile's `Local State`, as a user or a policy
/// sets it) with ward's DoH template: an allowed name loads its page; a
/// listed name resolves to the sinkhole, where the notice is, never to
/// the address its upstream gives. Nothing maps names for Chromium: with
/// secure mode it asks ward's DoH and nothing else.
#[tokio::test]
async fn chromium_in_secure_dns_mode_resolves_through_ward() {
    let Some(bin) = crate::blockpage::chromium() else {
        assert!(
            std::env::var("WARD_REQUIRE_CHROMIUM").as_deref() != Ok("1"),
            "WARD_REQUIRE_CHROMIUM=1 but chromium is not installed (apt-get install -y chromium)"
        );
        eprintln!("SKIPPED: chromium not installed");
        return;
    };
    use hickory_proto::rr::rdata::A;
    use hickory_proto::rr::{Name, RData, Record};
    let a = |owner: &str, ip: [u8; 4]| {
        Record::from_rdata(
            Name::from_ascii(owner).unwrap(),
            60,
            RData::A(A(std::net::Ipv4Addr::from(ip))),
        )
    };
    // The sinkhole's notice and what the upstream says the listed name
    // is: one port (the URL's) on two loopback addresses, the second
    // bound while the first holds the port. The allowed page anywhere.
    let notice = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = notice.local_addr().unwrap().port();
    let unfiltered = TcpListener::bind(format!("127.0.0.2:{port}"))
        .await
        .unwrap();
    let page = TcpListener::bind("127.0.0.3:0").await.unwrap();
    let page_port = page.local_addr().unwrap().port();
    let notice_hits = page_server(notice, "<p>BLOCK NOTICE</p>");
    let unfiltered_hits = page_server(unfiltered, "<p>UNFILTERED</p>");
    let allowed_hits = page_server(page, "<p>ALLOWED PAGE</p>");
    let up = TestUpstream::start_root(vec![
        a("allowed.example.", [127, 0, 0, 3]),
        a("blocked.test.", [127, 0, 0, 2]),
    ])
    .await;
    let dir = tempfile::tempdir().unwrap();
    let d = start(dir.path(), up.addr, "127.0.0.1");
    let pin = spki_pin(dir.path());
    let run = |url: String| {
        let template = format!("https://127.0.0.1:{}/dns-query", d.addr.port());
        let pin = pin.clone();
        async move {
            let profile = tempfile::tempdir().unwrap();
            let state = serde_json::json!({
                "dns_over_https": { "mode": "secure", "templates": template }
            });
            std::fs::write(profile.path().join("Local State"), state.to_string()).unwrap();
            let mut cmd = tokio::process::Command::new(bin);
            cmd.args([
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-quic",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--disable-features=HttpsUpgrades",
            ])
            .arg(format!("--user-data-dir={}", profile.path().display()))
            .arg(format!("--ignore-certificate-errors-spki-list={pin}"))
            .args(["--dump-dom", &url])
            .kill_on_drop(true);
            let out = tokio::time::timeout(std::time::Duration::from_secs(120), cmd.output())
                .await
                .expect("chromium finished within 120 s")
                .unwrap();
            format!(
                "{}\n--- stderr ---\n{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            )
        }
    };
    let allowed = run(format!("http://allowed.example:{page_port}/")).await;
    assert!(
        allowed.contains("ALLOWED PAGE"),
        "{allowed}\nward:\n{}",
        d.ward.logs()
    );
    let blocked = run(format!("http://blocked.test:{port}/")).await;
    assert!(
        blocked.contains("BLOCK NOTICE"),
        "{blocked}\nward:\n{}",
        d.ward.logs()
    );
    assert!(allowed_hits.load(std::sync::atomic::Ordering::SeqCst) >= 1);
    assert!(notice_hits.load(std::sync::atomic::Ordering::SeqCst) >= 1);
    assert_eq!(unfiltered_hits.load(std::sync::atomic::Ordering::SeqCst), 0);
    assert!(
        d.metric(r#"ward_queries_total{protocol="doh",result="blocked"}"#)
            .await
            >= 1.0
    );
    up.stop().await;
}
