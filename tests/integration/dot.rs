//! DNS over TLS (`[dot]`): real `kdig +tls` and `dig +tls`, and a
//! rustls client where a test must see the certificate, against the real
//! `ward serve` with a test CA: answers, EDE, the profile a client id in
//! the TLS server name selects, pipelining, certificate rotation under
//! load, a broken certificate, stalled handshakes and the per-client cap.

use std::net::{Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use hickory_proto::op::{Message, ResponseCode};
use hickory_proto::rr::RecordType;
use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose, SanType,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};
use tokio_rustls::TlsConnector;
use tokio_rustls::client::TlsStream;
use tokio_rustls::rustls::pki_types::ServerName;

use crate::list_file::metric;
use crate::schools::{allowed, censored, filtered, have_dig};
use crate::serve::{config, key};
use crate::support::client::{ANSWER_WAIT, a_records, ede, query};
use crate::support::https::client_tls;
use crate::support::upstream::TestUpstream;
use crate::support::ward::{TEST_LIST, Ward, find_addr, write_list};

/// The resolver's name; client ids are the label under it.
const SERVER_NAME: &str = "dns.example.test";

/// How many times a test looks again for something that happens after a
/// signal or a timeout (every 50 ms: at most 20 s).
const LOOKS: usize = 400;

/// A test CA that signs the server's certificates.
struct Pki {
    ca: Issuer<'static, KeyPair>,
    ca_file: PathBuf,
}

/// A leaf certificate and its key, as PEM, and its DER to compare with
/// what a handshake presents.
struct Leaf {
    cert: String,
    key: String,
    der: Vec<u8>,
}

impl Pki {
    fn new(dir: &Path) -> Self {
        let key = KeyPair::generate().unwrap();
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params
            .distinguished_name
            .push(DnType::CommonName, "ward DoT test CA");
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::CrlSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        let cert = params.self_signed(&key).unwrap();
        let ca_file = dir.join("ca.pem");
        std::fs::write(&ca_file, cert.pem()).unwrap();
        Self {
            ca: Issuer::new(params, key),
            ca_file,
        }
    }

    /// A leaf for the server name, every client id under it and
    /// 127.0.0.1, valid until the start of `year`.
    fn leaf(&self, year: i32) -> Leaf {
        let key = KeyPair::generate().unwrap();
        let mut params =
            CertificateParams::new(vec![SERVER_NAME.to_owned(), format!("*.{SERVER_NAME}")])
                .unwrap();
        params
            .subject_alt_names
            .push(SanType::IpAddress([127, 0, 0, 1].into()));
        params
            .distinguished_name
            .push(DnType::CommonName, SERVER_NAME);
        params.is_ca = IsCa::ExplicitNoCa;
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        params.not_after = rcgen::date_time_ymd(year, 1, 1);
        let cert = params.signed_by(&key, &self.ca).unwrap();
        Leaf {
            cert: cert.pem(),
            key: key.serialize_pem(),
            der: cert.der().to_vec(),
        }
    }
}

/// Unix seconds of the start of `year` (a leaf's notAfter).
fn new_year(year: i32) -> f64 {
    jiff::Timestamp::from_str(&format!("{year}-01-01T00:00:00Z"))
        .unwrap()
        .as_second() as f64
}

/// Puts `leaf` in `dot.pem`/`dot.key` the way an operator or certbot
/// does: each file written aside and renamed into place.
fn install(dir: &Path, cert: &str, key: &str) {
    for (name, text) in [("dot.pem", cert), ("dot.key", key)] {
        let aside = dir.join(format!(".{name}.new"));
        std::fs::write(&aside, text).unwrap();
        std::fs::rename(&aside, dir.join(name)).unwrap();
    }
}

const PROFILES: &str = r#"
[[lists]]
name = "school"
source = "school.txt"

[[profile]]
name = "school-42"
client_ids = ["school-42"]
age = 10
lists = ["school"]
"#;

/// A running ward with `[dot]` (`dot_extra` appended to the section),
/// the school-42 profile, and the address its DoT listener is on.
struct Dot {
    ward: Ward,
    addr: SocketAddr,
    pki: Pki,
    first: Leaf,
    dir: tempfile::TempDir,
}

async fn start(up: &TestUpstream, dot_extra: &str) -> Dot {
    let dir = tempfile::tempdir().unwrap();
    write_list(dir.path(), &key(), 1, TEST_LIST);
    std::fs::write(dir.path().join("school.txt"), "games.test games\n").unwrap();
    let pki = Pki::new(dir.path());
    let first = pki.leaf(2035);
    install(dir.path(), &first.cert, &first.key);
    let section = format!(
        "[dot]\nlisten = [\"127.0.0.1:0\"]\ncert = \"dot.pem\"\nkey = \"dot.key\"\n\
         server_name = \"{SERVER_NAME}\"\n{dot_extra}\n{PROFILES}"
    );
    let ward = Ward::start(dir.path(), &config(&[up.addr], "", &section), true);
    let addr = find_addr(&ward.logs(), "listening for DoT on ").expect("a DoT address");
    Dot {
        ward,
        addr,
        pki,
        first,
        dir,
    }
}

impl Dot {
    fn admin(&self) -> SocketAddr {
        self.ward.admin.unwrap()
    }

    /// A metric series' value (0 when absent).
    async fn metric(&self, series: &str) -> f64 {
        metric(self.admin(), series).await.unwrap_or(0.0)
    }

    /// Waits until `series` is at least `want`.
    async fn wait_metric(&self, series: &str, want: f64) -> bool {
        for _ in 0..LOOKS {
            if self.metric(series).await >= want {
                return true;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        false
    }

    /// A new TLS connection from 127.0.0.1 with `sni`.
    async fn connect(&self, sni: &str) -> std::io::Result<TlsStream<TcpStream>> {
        self.connect_from("127.0.0.1", sni).await
    }

    /// A new TLS connection from the loopback address `source`.
    async fn connect_from(&self, source: &str, sni: &str) -> std::io::Result<TlsStream<TcpStream>> {
        let socket = TcpSocket::new_v4()?;
        socket.bind(SocketAddr::new(source.parse().unwrap(), 0))?;
        let tcp = socket.connect(self.addr).await?;
        let mut tls = client_tls(&self.pki.ca_file);
        tls.alpn_protocols = vec![b"dot".to_vec()];
        let connector = TlsConnector::from(Arc::new(tls));
        let name = ServerName::try_from(sni.to_owned()).unwrap();
        tokio::time::timeout(ANSWER_WAIT, connector.connect(name, tcp))
            .await
            .map_err(|_| std::io::Error::other("handshake timed out"))?
    }
}

/// The certificate a TLS connection was presented.
fn presented(tls: &TlsStream<TcpStream>) -> Vec<u8> {
    tls.get_ref().1.peer_certificates().unwrap()[0].to_vec()
}

/// Sends one framed query.
async fn send(tls: &mut TlsStream<TcpStream>, m: &Message) -> std::io::Result<()> {
    let bytes = m.to_vec().unwrap();
    let mut framed = (bytes.len() as u16).to_be_bytes().to_vec();
    framed.extend_from_slice(&bytes);
    tls.write_all(&framed).await
}

/// Reads one framed answer.
async fn receive(tls: &mut TlsStream<TcpStream>) -> std::io::Result<Message> {
    let read = async {
        let len = tls.read_u16().await?;
        let mut buf = vec![0; usize::from(len)];
        tls.read_exact(&mut buf).await?;
        Message::from_vec(&buf).map_err(std::io::Error::other)
    };
    tokio::time::timeout(ANSWER_WAIT, read)
        .await
        .map_err(|_| std::io::Error::other("no answer"))?
}

/// One query and its answer on `tls`; the answer's id must match.
async fn ask(tls: &mut TlsStream<TcpStream>, name: &str) -> std::io::Result<Message> {
    let m = query(name, RecordType::A, Some((1232, false)));
    send(tls, &m).await?;
    let answer = receive(tls).await?;
    if answer.metadata.id != m.metadata.id {
        return Err(std::io::Error::other("the answer's id does not match"));
    }
    Ok(answer)
}

/// `kdig +tls` (Knot) with `sni`: its whole output.
async fn kdig(d: &Dot, sni: &str, name: &str) -> String {
    let out = tokio::process::Command::new("kdig")
        .arg(format!("@{}", d.addr.ip()))
        .args(["-p", &d.addr.port().to_string()])
        .arg(format!("+tls-ca={}", d.pki.ca_file.display()))
        .arg(format!("+tls-hostname={sni}"))
        .arg(format!("+tls-sni={sni}"))
        .args(["+edns", "+timeout=5", "+retry=0", name])
        .output()
        .await
        .expect("kdig runs");
    String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr)
}

/// `dig +tls` (BIND) with `sni`: its whole output.
async fn dig_tls(d: &Dot, sni: &str, name: &str) -> String {
    let out = tokio::process::Command::new("dig")
        .arg(format!("@{}", d.addr.ip()))
        .args(["-p", &d.addr.port().to_string()])
        .arg("+tls")
        .arg(format!("+tls-ca={}", d.pki.ca_file.display()))
        .arg(format!("+tls-hostname={sni}"))
        .args(["+tries=1", "+time=5", name])
        .output()
        .await
        .expect("dig runs");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn have_kdig() -> bool {
    let have = std::process::Command::new("kdig")
        .arg("-V")
        .output()
        .is_ok();
    assert!(
        have || std::env::var_os("WARD_REQUIRE_DIG").is_none(),
        "kdig (knot-dnsutils) is required but missing"
    );
    have
}

#[tokio::test]
async fn kdig_and_dig_over_tls_get_answers_blocks_and_the_client_ids_profile() {
    if !have_dig() || !have_kdig() {
        return;
    }
    let up = TestUpstream::start_wildcard().await;
    let d = start(&up, "").await;
    let school = format!("school-42.{SERVER_NAME}");
    let unknown = format!("school-99.{SERVER_NAME}");

    let text = kdig(&d, SERVER_NAME, "www.example.test").await;
    assert!(
        text.contains("NOERROR") && text.contains("192.0.2.10"),
        "{text}"
    );
    let text = kdig(&d, SERVER_NAME, "blocked.test").await;
    assert!(
        text.contains("192.0.2.1") && text.contains("EDE: 16 (Censored)"),
        "{text}"
    );
    // The school's own list applies to the client id's connections only.
    let text = kdig(&d, &school, "games.test").await;
    assert!(
        text.contains("192.0.2.1") && text.contains("EDE: 17 (Filtered)"),
        "{text}"
    );
    let text = kdig(&d, &unknown, "games.test").await;
    assert!(
        text.contains("192.0.2.200") && !text.contains("EDE"),
        "an unknown id gets the default profile: {text}"
    );
    // The national list stands for every profile.
    let text = kdig(&d, &school, "blocked.test").await;
    assert!(text.contains("EDE: 16 (Censored)"), "{text}");

    // BIND's dig 9.18 checks the certificate against +tls-hostname but
    // sends no server name, so its connections carry no client id.
    let text = dig_tls(&d, &school, "games.test").await;
    assert!(allowed(&text), "{text}");
    let text = dig_tls(&d, SERVER_NAME, "blocked.test").await;
    assert!(censored(&text), "{text}");
    // Padded to a block of 468 bytes (RFC 8467), as dig's EDNS asks.
    assert!(text.contains("MSG SIZE  rcvd: 468"), "{text}");
    let text = kdig(&d, &school, "games.test").await;
    assert!(filtered(&text, "school", "games"), "{text}");

    assert!(
        d.metric("ward_queries_total{protocol=\"dot\",result=\"blocked\"}")
            .await
            >= 4.0
    );
    // Nothing logs a client id or a server name.
    let logs = d.ward.logs();
    assert!(
        !logs.contains("school-42.") && !logs.contains("school-99"),
        "{logs}"
    );
}

#[tokio::test]
async fn pipelined_queries_on_one_connection_are_all_answered() {
    let up = TestUpstream::start().await;
    let d = start(&up, "").await;
    let mut tls = d.connect(SERVER_NAME).await.unwrap();
    // Forwards, blocks and a miss, sent before any answer is read.
    let names = [
        "www.example.test",
        "blocked.test",
        "sibling.test",
        "tracker.test",
        "short.example.test",
        "nothing.example.test",
    ];
    let mut sent = Vec::new();
    for round in 0..4 {
        for name in names {
            let m = query(name, RecordType::A, Some((1232, false)));
            send(&mut tls, &m).await.unwrap();
            sent.push((m.metadata.id, name, round));
        }
    }
    let mut answered = std::collections::HashMap::new();
    for _ in 0..sent.len() {
        let a = receive(&mut tls).await.unwrap();
        answered.insert(a.metadata.id, a);
    }
    for (id, name, _) in &sent {
        let a = answered
            .get(id)
            .unwrap_or_else(|| panic!("{name} answered"));
        assert_eq!(a.queries[0].name().to_ascii(), format!("{name}."));
        match *name {
            "blocked.test" => assert_eq!(ede(a).unwrap().0, 16),
            "tracker.test" => assert_eq!(a_records(a), [Ipv4Addr::new(192, 0, 2, 1)]),
            "www.example.test" => assert_eq!(a_records(a), [Ipv4Addr::new(192, 0, 2, 10)]),
            "nothing.example.test" => {
                assert_eq!(a.metadata.response_code, ResponseCode::NXDomain)
            }
            _ => assert!(!a_records(a).is_empty(), "{a:?}"),
        }
    }
    assert!(
        d.metric("ward_queries_total{protocol=\"dot\",result=\"forwarded\"}")
            .await
            >= 1.0
    );
}

#[tokio::test]
async fn certificate_rotation_under_load_loses_no_query() {
    let up = TestUpstream::start().await;
    let d = Arc::new(start(&up, "").await);
    // The file as the config names it (relative to ward's directory).
    let expiry = "ward_tls_cert_expiry_timestamp_seconds{section=\"dot\",cert=\"dot.pem\"}";
    assert_eq!(d.metric(expiry).await, new_year(2035));
    let mut established = d.connect(SERVER_NAME).await.unwrap();
    assert_eq!(presented(&established), d.first.der);
    ask(&mut established, "www.example.test").await.unwrap();

    // Load: clients that each open a connection, ask, and open another,
    // until told to stop; every failure is counted.
    let stop = Arc::new(AtomicBool::new(false));
    let (done, failed) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
    let mut load = Vec::new();
    for _ in 0..4 {
        let (d, stop, done, failed) = (
            Arc::clone(&d),
            Arc::clone(&stop),
            Arc::clone(&done),
            Arc::clone(&failed),
        );
        load.push(tokio::spawn(async move {
            while !stop.load(Ordering::Relaxed) {
                let outcome = match d.connect(SERVER_NAME).await {
                    Ok(mut tls) => ask(&mut tls, "www.example.test").await.map(|_| ()),
                    Err(e) => Err(e),
                };
                match outcome {
                    Ok(()) => done.fetch_add(1, Ordering::Relaxed),
                    Err(e) => {
                        eprintln!("load query failed: {e}");
                        failed.fetch_add(1, Ordering::Relaxed)
                    }
                };
            }
        }));
    }
    let second = d.pki.leaf(2036);
    install(d.dir.path(), &second.cert, &second.key);
    d.ward.signal("HUP");
    let mut rotated = false;
    for _ in 0..LOOKS {
        let mut tls = d.connect(SERVER_NAME).await.unwrap();
        ask(&mut tls, "www.example.test").await.unwrap();
        if presented(&tls) == second.der {
            rotated = true;
            break;
        }
        assert_eq!(presented(&tls), d.first.der);
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(rotated, "new handshakes get the new certificate");
    // The connection made before the swap still answers, on its old
    // certificate.
    for _ in 0..3 {
        ask(&mut established, "sibling.test").await.unwrap();
    }
    assert_eq!(presented(&established), d.first.der);
    // Let the load run through the swap and a little after it.
    let at_swap = done.load(Ordering::Relaxed);
    while done.load(Ordering::Relaxed) < at_swap + 20 && failed.load(Ordering::Relaxed) == 0 {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    stop.store(true, Ordering::Relaxed);
    for task in load {
        task.await.unwrap();
    }
    assert_eq!(failed.load(Ordering::Relaxed), 0, "no query failed");
    assert!(done.load(Ordering::Relaxed) >= 20);
    assert_eq!(d.metric(expiry).await, new_year(2036));
    assert_eq!(
        d.metric("ward_tls_cert_reload_failures_total{section=\"dot\"}")
            .await,
        0.0
    );
    assert!(d.ward.wait_for_log("TLS certificates reloaded"));
}

#[tokio::test]
async fn a_broken_certificate_or_a_foreign_key_keeps_the_one_in_force() {
    let up = TestUpstream::start().await;
    let d = start(&up, "").await;
    let failures = "ward_tls_cert_reload_failures_total{section=\"dot\"}";

    // Not a certificate at all.
    install(
        d.dir.path(),
        "-----BEGIN CERTIFICATE-----\nnot base64\n",
        &d.first.key,
    );
    d.ward.signal("HUP");
    assert!(d.wait_metric(failures, 1.0).await, "{}", d.ward.logs());
    let mut tls = d.connect(SERVER_NAME).await.unwrap();
    assert_eq!(presented(&tls), d.first.der);
    ask(&mut tls, "www.example.test").await.unwrap();

    // A good certificate with the old key, which is not its own.
    let other = d.pki.leaf(2036);
    install(d.dir.path(), &other.cert, &d.first.key);
    d.ward.signal("HUP");
    assert!(d.wait_metric(failures, 2.0).await, "{}", d.ward.logs());
    let tls = d.connect(SERVER_NAME).await.unwrap();
    assert_eq!(presented(&tls), d.first.der);

    // The log lines come through a pipe: wait for both.
    let mut logs = d.ward.logs();
    for _ in 0..LOOKS {
        if logs.matches("ALARM: TLS certificates not reloaded").count() >= 2 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
        logs = d.ward.logs();
    }
    let alarms: Vec<&str> = logs
        .lines()
        .filter(|l| l.contains("ALARM: TLS certificates not reloaded"))
        .collect();
    assert!(alarms.len() >= 2, "{logs}");
    assert!(
        alarms.iter().all(|l| l.contains("dot.pem")),
        "each alarm names the file: {alarms:#?}"
    );
    assert!(
        alarms.iter().any(|l| l.contains("do not match")),
        "{alarms:#?}"
    );
    let expiry = "ward_tls_cert_expiry_timestamp_seconds{section=\"dot\",cert=\"dot.pem\"}";
    assert_eq!(d.metric(expiry).await, new_year(2035), "the old one's");
}

#[tokio::test]
async fn a_stalled_handshake_is_closed_while_others_are_served() {
    let up = TestUpstream::start().await;
    let d = start(&up, "handshake_timeout = \"1s\"").await;
    let timeouts = "ward_tls_handshake_failures_total{section=\"dot\",reason=\"timeout\"}";
    let mut stalled = TcpStream::connect(d.addr).await.unwrap();
    // A half-sent ClientHello stalls the same way: only its first bytes.
    let mut half = TcpStream::connect(d.addr).await.unwrap();
    half.write_all(&[0x16, 0x03, 0x01, 0x02, 0x00, 0x01])
        .await
        .unwrap();
    // Others are served meanwhile.
    let mut tls = d.connect(SERVER_NAME).await.unwrap();
    ask(&mut tls, "www.example.test").await.unwrap();
    for stream in [&mut stalled, &mut half] {
        let mut buf = [0; 64];
        let read = tokio::time::timeout(Duration::from_secs(30), stream.read(&mut buf))
            .await
            .expect("the stalled connection is closed");
        assert!(matches!(read, Ok(0) | Err(_)), "{read:?}");
    }
    assert!(d.wait_metric(timeouts, 2.0).await);
    // Bytes that are not TLS: refused at once, counted as an error.
    let mut junk = TcpStream::connect(d.addr).await.unwrap();
    junk.write_all(b"GET / HTTP/1.1\r\n\r\n").await.unwrap();
    let mut buf = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(30), junk.read_to_end(&mut buf)).await;
    assert!(
        d.wait_metric(
            "ward_tls_handshake_failures_total{section=\"dot\",reason=\"error\"}",
            1.0
        )
        .await
    );
    ask(&mut tls, "sibling.test").await.unwrap();
}

#[tokio::test]
async fn one_client_address_holds_at_most_its_share() {
    let up = TestUpstream::start().await;
    let d = start(&up, "max_connections = 100\nmax_connections_per_client = 2").await;
    let mut held = Vec::new();
    for _ in 0..2 {
        let mut tls = d.connect(SERVER_NAME).await.unwrap();
        ask(&mut tls, "www.example.test").await.unwrap();
        held.push(tls);
    }
    // The third from the same address is closed before its handshake.
    let refused = match d.connect(SERVER_NAME).await {
        Ok(mut tls) => ask(&mut tls, "www.example.test").await.is_err(),
        Err(_) => true,
    };
    assert!(refused, "a third connection from 127.0.0.1 is refused");
    assert!(
        d.wait_metric(
            "ward_connections_closed_total{listener=\"dns_dot\",reason=\"client_cap\"}",
            1.0
        )
        .await
    );
    // Another address is served, and the two held still answer.
    let mut other = d.connect_from("127.0.0.2", SERVER_NAME).await.unwrap();
    ask(&mut other, "www.example.test").await.unwrap();
    for tls in &mut held {
        ask(tls, "sibling.test").await.unwrap();
    }
    // Closing one frees a place for the address.
    drop(held.pop());
    let mut again = None;
    for _ in 0..LOOKS {
        if let Ok(mut tls) = d.connect(SERVER_NAME).await
            && ask(&mut tls, "www.example.test").await.is_ok()
        {
            again = Some(tls);
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(again.is_some(), "a freed place is taken again");
}

#[tokio::test]
async fn renewed_files_are_read_without_a_signal() {
    let up = TestUpstream::start().await;
    let d = start(&up, "").await;
    // The new key, then the new certificate, one after the other: read
    // once both have held still, not as a mismatched pair.
    let second = d.pki.leaf(2036);
    install(d.dir.path(), &d.first.cert, &second.key);
    install(d.dir.path(), &second.cert, &second.key);
    let mut rotated = false;
    for _ in 0..LOOKS {
        let tls = d.connect(SERVER_NAME).await.unwrap();
        if presented(&tls) == second.der {
            rotated = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(rotated, "{}", d.ward.logs());
    assert!(d.ward.wait_for_log("the files changed"));
    assert_eq!(
        d.metric("ward_tls_cert_reload_failures_total{section=\"dot\"}")
            .await,
        0.0
    );
}
