//! The SNI and HTTP filters end to end: real clients (curl, openssl
//! s_client, dig, a Python socket client) in a client namespace, ward in a
//! router namespace with nftables `redirect` or `tproxy` rules, and real
//! servers (openssl s_server, Python's http.server) in a server namespace.
//!
//! Needs root, `ip`, `nft`, `curl`, `openssl`, `python3` and `dig` (CI
//! installs them and runs as root). See `support::netns` for skipping.

use std::path::{Path, PathBuf};

use crate::support::netns::{self, Lab, REDIRECT_RULES, SERVER_V4, SERVER_V6};
use crate::support::ward::Ward;
use crate::util::repo;

/// Body served by both servers: large enough to need many segments and
/// relay iterations.
const BLOB_LEN: usize = 3 << 20;

fn blob() -> Vec<u8> {
    // xorshift: incompressible, reproducible.
    let mut x = 0x2545_f491_4f6c_dd1du64;
    (0..BLOB_LEN)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Mode {
    Redirect,
    Tproxy,
}

/// A lab with servers running, ward in the router, and the rules loaded.
struct Setup {
    lab: Lab,
    ward: Ward,
    dir: tempfile::TempDir,
    blob: Vec<u8>,
}

impl Setup {
    fn new(mode: Mode) -> Option<Self> {
        if !netns::available() {
            return None;
        }
        let mut lab = Lab::new();
        let dir = tempfile::tempdir().unwrap();
        let www = dir.path().join("www");
        std::fs::create_dir(&www).unwrap();
        let blob = blob();
        std::fs::write(www.join("blob.bin"), &blob).unwrap();
        write_cert(&www);

        let server = lab.server.clone();
        lab.spawn(
            &server,
            &[
                "openssl", "s_server", "-quiet", "-accept", "443", "-cert", "cert.pem", "-key",
                "key.pem", "-WWW",
            ],
            &www,
            &dir.path().join("s_server.log"),
        );
        for (bind, log) in [(SERVER_V4, "http4.log"), (SERVER_V6, "http6.log")] {
            lab.spawn(
                &server,
                &["python3", "-m", "http.server", "80", "--bind", bind],
                &www,
                &dir.path().join(log),
            );
        }
        lab.wait_tcp(&server, SERVER_V4, 443);
        lab.wait_tcp(&server, SERVER_V4, 80);
        lab.wait_tcp(&server, SERVER_V6, 80);

        let router = lab.router.clone();
        let mode_name = match mode {
            Mode::Redirect => "redirect",
            Mode::Tproxy => "tproxy",
        };
        match mode {
            Mode::Redirect => lab.nft(&router, REDIRECT_RULES),
            Mode::Tproxy => {
                lab.nft(&router, TPROXY_RULES);
                lab.tproxy_routing();
            }
        }
        let examples = repo().join("examples");
        let config = format!(
            r#"[dns]
listen = ["10.77.1.1:53"]
upstreams = ["10.77.2.2:53"]
allow_clients = ["10.77.1.0/24"]

[list]
file = "{list}"
trusted_keys = ["{key}"]
state_dir = "state"

[block]
sinkhole_ipv4 = ["10.77.1.1"]

[admin]
listen = "127.0.0.1:9153"

[sni]
listen = ["0.0.0.0:8443", "[::]:8443"]
mode = "{mode_name}"

[http]
listen = ["0.0.0.0:8080", "[::]:8080"]
mode = "{mode_name}"

[blockpage]
listen = ["10.77.1.1:80"]
blocked_by = "https://isp.example/"
appeal_url = "https://isp.example/appeal"
"#,
            list = examples.join("demo.ward").display(),
            key = examples.join("demo.pub").display(),
        );
        let ward = Ward::start_in_netns(dir.path(), &config, &router);
        Some(Self {
            lab,
            ward,
            dir,
            blob,
        })
    }

    fn client(&self, args: &[&str]) -> std::process::Output {
        self.lab.exec(&self.lab.client, args)
    }

    /// `curl` from the client; returns (exit code, body, stderr).
    fn curl(&self, args: &[&str]) -> (i32, Vec<u8>, String) {
        let mut all = vec!["curl", "-sS", "--max-time", "30"];
        all.extend_from_slice(args);
        let out = self.client(&all);
        (
            out.status.code().unwrap_or(-1),
            out.stdout,
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    }

    fn https(&self, name: &str, addr: &str) -> (i32, Vec<u8>, String) {
        let resolve = format!("{name}:443:{addr}");
        let url = format!("https://{name}/blob.bin");
        self.curl(&["-k", "--resolve", &resolve, &url])
    }

    fn http(&self, name: &str, addr: &str, path: &str) -> (i32, Vec<u8>, String) {
        let host = if addr.contains(':') {
            format!("[{addr}]")
        } else {
            addr.to_owned()
        };
        let resolve = format!("{name}:80:{host}");
        let url = format!("http://{name}{path}");
        self.curl(&["-i", "--resolve", &resolve, &url])
    }

    fn metrics(&self) -> String {
        let out = self.lab.exec_ok(
            &self.lab.router,
            &["curl", "-sS", "http://127.0.0.1:9153/metrics"],
        );
        String::from_utf8(out.stdout).unwrap()
    }

    fn server_log(&self, name: &str) -> String {
        std::fs::read_to_string(self.dir.path().join(name)).unwrap_or_default()
    }
}

/// The value of one exact series line.
fn metric(text: &str, series: &str) -> f64 {
    text.lines()
        .find_map(|l| l.strip_prefix(series)?.strip_prefix(' '))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0.0)
}

/// nftables `tproxy`: same steering, without NAT; replies to ward's
/// transparent outbound sockets are marked for local delivery too.
const TPROXY_RULES: &str = r#"
table inet ward {
    chain prerouting {
        type filter hook prerouting priority mangle; policy accept;
        meta l4proto tcp socket transparent 1 meta mark set 0x1 accept
        fib daddr type local return
        iifname "r0" meta l4proto tcp th dport 443 tproxy ip to :8443 meta mark set 0x1 accept
        iifname "r0" meta l4proto tcp th dport 443 tproxy ip6 to :8443 meta mark set 0x1 accept
        iifname "r0" meta l4proto tcp th dport 80 tproxy ip to :8080 meta mark set 0x1 accept
        iifname "r0" meta l4proto tcp th dport 80 tproxy ip6 to :8080 meta mark set 0x1 accept
    }
}
"#;

fn write_cert(dir: &Path) {
    let cert = rcgen::generate_simple_self_signed(vec![
        "allowed.example.test".to_owned(),
        "*.example.test".to_owned(),
    ])
    .unwrap();
    std::fs::write(dir.join("cert.pem"), cert.cert.pem()).unwrap();
    std::fs::write(dir.join("key.pem"), cert.signing_key.serialize_pem()).unwrap();
}

fn fixture(name: &str) -> PathBuf {
    repo().join("tests/fixtures/tls").join(name)
}

/// A Python client that sends a fixture ClientHello re-framed into
/// one-byte TLS records, one TCP segment each, and prints what comes back
/// as hex: a DPI evasion trick that ward must see through.
const ONE_BYTE_RECORDS: &str = r#"
import socket, sys, time
data = open(sys.argv[1], "rb").read()
version = data[1:3]
body = b""
i = 0
while i + 5 <= len(data):
    n = int.from_bytes(data[i + 3:i + 5], "big")
    body += data[i + 5:i + 5 + n]
    i += 5 + n
s = socket.create_connection((sys.argv[2], 443), timeout=20)
s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
for b in body:
    s.sendall(bytes([22]) + version + b"\x00\x01" + bytes([b]))
got = b""
while True:
    chunk = s.recv(4096)
    if not chunk:
        break
    got += chunk
print(got.hex())
"#;

#[test]
fn redirect_mode_blocks_by_sni_and_host_and_relays_the_rest() {
    let Some(s) = Setup::new(Mode::Redirect) else {
        return;
    };

    // Allowed TLS: the handshake completes through ward and the body
    // arrives byte for byte.
    let (code, body, err) = s.https("allowed.example.test", SERVER_V4);
    assert_eq!(code, 0, "allowed HTTPS failed: {err}\n{}", s.ward.logs());
    assert!(
        body == s.blob,
        "allowed HTTPS body differs ({} bytes)",
        body.len()
    );

    // Blocked TLS: curl reports the access_denied alert, at once.
    let (code, _, err) = s.https("blocked.example.test", SERVER_V4);
    assert_eq!(code, 35, "curl should fail in the handshake: {err}");
    assert!(err.contains("alert access denied"), "{err}");
    // Subdomains and case are folded as on the DNS path.
    let (code, _, err) = s.https("WWW.Blocked.Example.Test", SERVER_V4);
    assert!(err.contains("alert access denied"), "{code} {err}");

    // openssl s_client sees the same alert.
    let out = s.client(&[
        "openssl",
        "s_client",
        "-connect",
        "10.77.2.2:443",
        "-servername",
        "blocked.example.test",
    ]);
    let text =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    assert!(text.contains("alert access denied"), "{text}");

    // A ClientHello in one-byte TLS records is reassembled and blocked.
    let script = s.dir.path().join("records.py");
    std::fs::write(&script, ONE_BYTE_RECORDS).unwrap();
    let curl_hello = fixture("curl-openssl.bin");
    let out = s.client(&[
        "python3",
        script.to_str().unwrap(),
        curl_hello.to_str().unwrap(),
        SERVER_V4,
    ]);
    let hex = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        hex.trim(),
        "15030300020231",
        "expected exactly a fatal access_denied alert, then FIN: {}",
        String::from_utf8_lossy(&out.stderr)
    );

    // A confidential category is blocked too, and its name is never
    // logged.
    let (_, _, err) = s.https("csam-demo.example.test", SERVER_V4);
    assert!(err.contains("alert access denied"), "{err}");

    // IPv6, blocked TLS.
    let (_, _, err) = s.https("blocked.example.test", SERVER_V6);
    assert!(err.contains("alert access denied"), "IPv6: {err}");

    // Plain HTTP: blocked gets the 451 page, allowed passes byte for byte.
    let (code, page, err) = s.http("blocked.example.test", SERVER_V4, "/");
    assert_eq!(code, 0, "{err}");
    let page = String::from_utf8_lossy(&page);
    assert!(page.starts_with("HTTP/1.1 451 "), "{page}");
    assert!(page.contains("rel=\"blocked-by\""), "{page}");
    assert!(page.contains("111"), "{page}");
    for addr in [SERVER_V4, SERVER_V6] {
        let (code, body, err) = s.http("allowed.example.test", addr, "/blob.bin");
        assert_eq!(code, 0, "{addr}: {err}");
        assert!(
            body.ends_with(&s.blob) && body.starts_with(b"HTTP/1.0 200"),
            "{addr}: allowed HTTP body differs ({} bytes)",
            body.len()
        );
    }

    // Half-close: the client sends its request and FIN at once; the
    // whole response must still come back.
    let half_close = format!(
        "import socket\ns=socket.create_connection(('{SERVER_V4}',80),timeout=20)\ns.sendall(b'GET /blob.bin HTTP/1.0\\r\\nHost: allowed.example.test\\r\\n\\r\\n')\ns.shutdown(socket.SHUT_WR)\nn=0\nwhile True:\n    c=s.recv(65536)\n    if not c: break\n    n+=len(c)\nprint(n)"
    );
    let out = s.client(&["python3", "-c", &half_close]);
    let n: usize = String::from_utf8_lossy(&out.stdout)
        .trim()
        .parse()
        .unwrap_or(0);
    assert!(n > BLOB_LEN, "half-closed request got {n} bytes");

    // In redirect mode the server sees the router's address.
    assert!(s.server_log("http4.log").contains("10.77.2.1 - -"));

    // DNS to the sinkhole, then the block page behind it.
    let out = s.client(&["dig", "+short", "@10.77.1.1", "blocked.example.test", "A"]);
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "10.77.1.1");
    let (code, page, err) = s.http("blocked.example.test", "10.77.1.1", "/some/path");
    assert_eq!(code, 0, "{err}");
    assert!(String::from_utf8_lossy(&page).starts_with("HTTP/1.1 451 "));

    let m = s.metrics();
    let sni = |r: &str| metric(&m, &format!("ward_sni_connections_total{{result=\"{r}\"}}"));
    assert!(sni("blocked") >= 6.0, "{m}");
    assert!(sni("allowed") >= 1.0, "{m}");
    assert!(
        metric(&m, "ward_http_requests_total{result=\"blocked\"}") >= 1.0,
        "{m}"
    );
    assert!(
        metric(&m, "ward_http_requests_total{result=\"allowed\"}") >= 3.0,
        "{m}"
    );
    assert!(
        metric(
            &m,
            "ward_web_blocked_total{channel=\"sni\",category=\"csam\"}"
        ) >= 1.0,
        "{m}"
    );
    assert!(
        metric(&m, "ward_blockpage_views_total{category=\"adult\"}") >= 2.0,
        "{m}"
    );
    let logs = s.ward.logs();
    assert!(!logs.contains("csam-demo"), "{logs}");
    assert!(!m.contains("example.test"), "{m}");
}

#[test]
fn tproxy_mode_keeps_the_client_address() {
    let Some(s) = Setup::new(Mode::Tproxy) else {
        return;
    };
    let (code, body, err) = s.https("allowed.example.test", SERVER_V4);
    assert_eq!(code, 0, "allowed HTTPS failed: {err}\n{}", s.ward.logs());
    assert!(
        body == s.blob,
        "allowed HTTPS body differs ({} bytes)",
        body.len()
    );
    let (_, _, err) = s.https("blocked.example.test", SERVER_V4);
    assert!(err.contains("alert access denied"), "{err}");
    let (_, _, err) = s.https("blocked.example.test", SERVER_V6);
    assert!(err.contains("alert access denied"), "IPv6: {err}");

    let (code, page, _) = s.http("blocked.example.test", SERVER_V4, "/");
    assert_eq!(code, 0);
    assert!(String::from_utf8_lossy(&page).starts_with("HTTP/1.1 451 "));
    for addr in [SERVER_V4, SERVER_V6] {
        let (code, body, err) = s.http("allowed.example.test", addr, "/blob.bin");
        assert_eq!(code, 0, "{addr}: {err}");
        assert!(body.ends_with(&s.blob), "{addr}: body differs");
    }
    // The server saw the customer's own address, not the router's.
    assert!(
        s.server_log("http4.log").contains("10.77.1.2 - -"),
        "{}",
        s.server_log("http4.log")
    );
    assert!(
        s.server_log("http6.log").contains("fd77:1::2 - -"),
        "{}",
        s.server_log("http6.log")
    );
}
