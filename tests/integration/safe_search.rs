//! Safe search (`[profile.safe_search]`) end to end: real `dig` from a
//! school client and from a subscriber against `ward serve`, forwarding
//! to an in-process authoritative server that holds the engines' hosts;
//! `ward check --config`; and headless Chromium whose own DNS goes to
//! ward (a network namespace whose resolv.conf names ward) reaching the
//! safe-search host.

use std::net::{Ipv4Addr, Ipv6Addr};
use std::path::Path;
use std::str::FromStr;
use std::sync::{Arc, Mutex};

use hickory_proto::rr::rdata::svcb::{IpHint, SvcParamKey, SvcParamValue};
use hickory_proto::rr::rdata::{A, AAAA, HTTPS, MX, SVCB};
use hickory_proto::rr::{Name, RData, Record};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

use crate::schools::{dig, have_dig};
use crate::serve::{config, key};
use crate::serve_lifecycle::http_get;
use crate::support::upstream::{TestUpstream, dead_addr};
use crate::support::ward::{TEST_LIST, Ward, write_list};
use crate::util::ward_bin;

fn name(s: &str) -> Name {
    Name::from_str(s).unwrap()
}

fn a(owner: &str, ip: Ipv4Addr) -> Record {
    Record::from_rdata(name(owner), 300, RData::A(A(ip)))
}

fn aaaa(owner: &str, ip: &str) -> Record {
    let ip: Ipv6Addr = ip.parse().unwrap();
    Record::from_rdata(name(owner), 300, RData::AAAA(AAAA(ip)))
}

/// An HTTPS record whose IPv4 hint is `hint`.
fn https(owner: &str, hint: Ipv4Addr) -> Record {
    let svcb = SVCB::new(
        1,
        Name::root(),
        vec![(
            SvcParamKey::Ipv4Hint,
            SvcParamValue::Ipv4Hint(IpHint(vec![A(hint)])),
        )],
    );
    Record::from_rdata(name(owner), 300, RData::HTTPS(HTTPS(svcb)))
}

/// The open internet: each engine's name at an "unrestricted" address
/// (…80, …81), each safe-search host at its own (…120, …121).
const UNRESTRICTED: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 80);
const SAFE_GOOGLE: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 120);

fn internet() -> Vec<Record> {
    vec![
        a("www.google.com.vn.", UNRESTRICTED),
        aaaa("www.google.com.vn.", "2001:db8::80"),
        https("www.google.com.vn.", UNRESTRICTED),
        Record::from_rdata(
            name("www.google.com.vn."),
            300,
            RData::MX(MX::new(10, name("mx.google.com."))),
        ),
        a("www.google.com.", UNRESTRICTED),
        a("forcesafesearch.google.com.", SAFE_GOOGLE),
        aaaa("forcesafesearch.google.com.", "2001:db8::120"),
        https("forcesafesearch.google.com.", SAFE_GOOGLE),
        a("www.youtube.com.", Ipv4Addr::new(192, 0, 2, 81)),
        aaaa("www.youtube.com.", "2001:db8::81"),
        a("restrict.youtube.com.", Ipv4Addr::new(192, 0, 2, 121)),
        aaaa("restrict.youtube.com.", "2001:db8::121"),
        a("www.bing.com.", Ipv4Addr::new(192, 0, 2, 82)),
        a("strict.bing.com.", Ipv4Addr::new(192, 0, 2, 122)),
    ]
}

/// The school profile (127.0.0.2) enforces Google, strict YouTube and
/// Bing; 127.0.0.1 is a subscriber. `www.bing.com` is on the national
/// list.
const PROFILES: &str = r#"
[[profile]]
name = "primary"
clients = ["127.0.0.2"]
age = 10
[profile.safe_search]
google = true
bing = true
youtube = "strict"
"#;

fn start(dir: &Path, upstream: std::net::SocketAddr) -> Ward {
    write_list(dir, &key(), 1, &format!("{TEST_LIST}=www.bing.com adult\n"));
    let cfg = format!("{}{PROFILES}", config(&[upstream], "", ""));
    Ward::start(dir, &cfg, true)
}

/// The answer section's records as `(owner, type, data)`, from dig's
/// output.
fn answers(text: &str) -> Vec<(String, String, String)> {
    let Some(at) = text.find(";; ANSWER SECTION:") else {
        return Vec::new();
    };
    text[at..]
        .lines()
        .skip(1)
        .take_while(|l| !l.trim().is_empty())
        .map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            (f[0].to_owned(), f[3].to_owned(), f[4..].join(" "))
        })
        .collect()
}

fn cname(owner: &str, target: &str) -> (String, String, String) {
    (owner.to_owned(), "CNAME".to_owned(), target.to_owned())
}

#[tokio::test]
async fn a_school_client_gets_the_cname_and_the_safe_hosts_records() {
    if !have_dig() {
        return;
    }
    let up = TestUpstream::start_root(internet()).await;
    let dir = tempfile::tempdir().unwrap();
    let w = start(dir.path(), up.addr);
    let school = "127.0.0.2";
    let safe = "forcesafesearch.google.com.";

    // The subscriber first, so that the plain answer is in the cache: the
    // school client must not get it from there.
    let out = dig(&w, "127.0.0.1", &["www.google.com.vn", "A"]).await;
    assert_eq!(
        answers(&out),
        [(
            "www.google.com.vn.".into(),
            "A".into(),
            UNRESTRICTED.to_string()
        )],
        "{out}"
    );

    for round in ["upstream", "cache"] {
        let out = dig(&w, school, &["www.google.com.vn", "A"]).await;
        assert!(out.contains("status: NOERROR"), "{round}: {out}");
        assert_eq!(
            answers(&out),
            [
                cname("www.google.com.vn.", safe),
                (safe.into(), "A".into(), SAFE_GOOGLE.to_string())
            ],
            "{round}: {out}"
        );
        assert!(out.contains("EDE: 4 (Forged Answer)"), "{out}");
        assert!(out.contains("safe search (google)"), "{out}");
        let out = dig(&w, school, &["www.google.com.vn", "AAAA"]).await;
        assert_eq!(
            answers(&out),
            [
                cname("www.google.com.vn.", safe),
                (safe.into(), "AAAA".into(), "2001:db8::120".into())
            ],
            "{round}: {out}"
        );
    }

    // HTTPS: the CNAME and the safe host's own record; the original
    // name's hint (the unrestricted address) never appears.
    let out = dig(&w, school, &["www.google.com.vn", "TYPE65"]).await;
    let got = answers(&out);
    assert_eq!(got.len(), 2, "{out}");
    assert_eq!(got[0], cname("www.google.com.vn.", safe), "{out}");
    assert_eq!(got[1].0, safe, "{out}");
    assert!(!out.contains(&UNRESTRICTED.to_string()), "{out}");

    // Other types: NODATA.
    let out = dig(&w, school, &["www.google.com.vn", "MX"]).await;
    assert!(out.contains("status: NOERROR"), "{out}");
    assert!(out.contains("ANSWER: 0"), "{out}");
    assert!(!out.contains("mx.google.com"), "{out}");

    // YouTube, strict.
    let out = dig(&w, school, &["www.youtube.com", "A"]).await;
    assert_eq!(
        answers(&out),
        [
            cname("www.youtube.com.", "restrict.youtube.com."),
            (
                "restrict.youtube.com.".into(),
                "A".into(),
                "192.0.2.121".into()
            )
        ],
        "{out}"
    );
    let out = dig(&w, school, &["www.youtube.com", "AAAA"]).await;
    assert!(out.contains("2001:db8::121"), "{out}");
    assert!(!out.contains("2001:db8::81"), "{out}");

    // The subscriber still gets the plain answers.
    let out = dig(&w, "127.0.0.1", &["www.youtube.com", "A"]).await;
    assert_eq!(
        answers(&out),
        [("www.youtube.com.".into(), "A".into(), "192.0.2.81".into())],
        "{out}"
    );
    let out = dig(&w, "127.0.0.1", &["www.google.com.vn", "TYPE65"]).await;
    assert!(out.contains(&UNRESTRICTED.to_string()), "{out}");

    // A name the national list blocks stays blocked, safe search or not.
    let out = dig(&w, school, &["www.bing.com", "A"]).await;
    assert!(out.contains("EDE: 16 (Censored)"), "{out}");
    assert!(!out.contains("strict.bing.com"), "{out}");

    // Counted by engine, never by client.
    let (status, metrics) = http_get(w.admin.unwrap(), "/metrics").await;
    assert_eq!(status, 200);
    let count = |engine: &str| {
        let series = format!("ward_safe_search_rewrites_total{{engine=\"{engine}\"}} ");
        metrics
            .lines()
            .find_map(|l| l.strip_prefix(series.as_str()))
            .map(|v| v.trim().to_owned())
    };
    assert_eq!(count("google").as_deref(), Some("6"), "{metrics}");
    assert_eq!(count("youtube").as_deref(), Some("2"), "{metrics}");
    assert_eq!(count("bing").as_deref(), Some("0"), "{metrics}");
    assert!(!metrics.contains("127.0.0.2"), "no client in the metrics");

    // `ward check` explains it, with the profile and the setting.
    let out = std::process::Command::new(ward_bin())
        .args(["check", "--config"])
        .arg(dir.path().join("ward.toml"))
        .args(["--client", school, "www.google.com.vn", "www.example.test"])
        .current_dir(dir.path())
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let first = text.lines().next().unwrap_or_default();
    assert!(
        first.starts_with("www.google.com.vn\tsafe-search\t"),
        "{text}"
    );
    assert!(first.contains("profile primary (age 10)"), "{text}");
    assert!(
        text.contains(
            "safe search (google): [profile.safe_search] google = true of profile primary"
        ),
        "{text}"
    );
    assert!(
        text.contains("CNAME to forcesafesearch.google.com"),
        "{text}"
    );
    assert!(text.contains("www.example.test\tallow"), "{text}");
    let out = std::process::Command::new(ward_bin())
        .args(["check", "--json", "--config"])
        .arg(dir.path().join("ward.toml"))
        .args(["--profile", "primary", "m.youtube.com"])
        .current_dir(dir.path())
        .output()
        .unwrap();
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["verdict"], "safe-search", "{v}");
    assert_eq!(v["safe_search"]["engine"], "youtube", "{v}");
    assert_eq!(v["safe_search"]["target"], "restrict.youtube.com", "{v}");
    drop(w);
    up.stop().await;
}

#[tokio::test]
async fn an_upstream_failure_is_servfail_never_the_unrestricted_address() {
    if !have_dig() {
        return;
    }
    let dead = dead_addr().await;
    let dir = tempfile::tempdir().unwrap();
    let w = start(dir.path(), dead);
    for qtype in ["A", "AAAA", "TYPE65"] {
        let out = dig(&w, "127.0.0.2", &["www.google.com.vn", qtype]).await;
        assert!(out.contains("status: SERVFAIL"), "{out}");
        assert!(
            out.contains("EDE: 22 (No Reachable Authority)")
                || out.contains("EDE: 23 (Network Error)"),
            "{out}"
        );
        assert!(answers(&out).is_empty(), "{out}");
    }
}

/// A tiny HTTP server answering every request with `body`, noting each
/// request's head.
async fn http_host(addr: &str, body: &'static str) -> Arc<Mutex<Vec<String>>> {
    let listener = TcpListener::bind(addr).await.unwrap();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let log = Arc::clone(&seen);
    tokio::spawn(async move {
        while let Ok((mut s, _)) = listener.accept().await {
            let log = Arc::clone(&log);
            tokio::spawn(async move {
                let mut buf = Vec::new();
                let mut chunk = [0u8; 2048];
                while !buf.windows(4).any(|w| w == b"\r\n\r\n") {
                    match s.read(&mut chunk).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => buf.extend_from_slice(&chunk[..n]),
                    }
                }
                log.lock()
                    .unwrap()
                    .push(String::from_utf8_lossy(&buf).into_owned());
                let page = format!("<html><body><p>{body}</p></body></html>");
                let reply = format!(
                    "HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{page}",
                    page.len()
                );
                let _ = s.write_all(reply.as_bytes()).await;
                let _ = s.shutdown().await;
            });
        }
    });
    seen
}

/// A network namespace joined to this one by a veth pair, with its own
/// resolv.conf (`/etc/netns/NAME/resolv.conf`, which `ip netns exec`
/// mounts over `/etc/resolv.conf`). Dropping it removes all three.
struct ClientNs {
    ns: String,
    host_if: String,
}

impl ClientNs {
    fn new(subnet: u8, nameserver: &str) -> Self {
        let tag = std::process::id() % 100_000;
        let me = Self {
            ns: format!("wardss{tag}"),
            host_if: format!("wss{tag}h"),
        };
        let peer = format!("wss{tag}c");
        let run = |args: &[&str]| {
            let out = std::process::Command::new("ip")
                .args(args)
                .output()
                .unwrap();
            assert!(
                out.status.success(),
                "ip {args:?}: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        };
        run(&["netns", "add", &me.ns]);
        run(&[
            "link",
            "add",
            &me.host_if,
            "type",
            "veth",
            "peer",
            "name",
            &peer,
            "netns",
            &me.ns,
        ]);
        for host in [1, 3] {
            let addr = format!("10.79.{subnet}.{host}/24");
            run(&["addr", "add", &addr, "dev", &me.host_if]);
        }
        run(&["link", "set", &me.host_if, "up"]);
        let client = format!("10.79.{subnet}.2/24");
        run(&["-n", &me.ns, "addr", "add", &client, "dev", &peer]);
        run(&["-n", &me.ns, "link", "set", &peer, "up"]);
        run(&["-n", &me.ns, "link", "set", "lo", "up"]);
        let etc = format!("/etc/netns/{}", me.ns);
        std::fs::create_dir_all(&etc).unwrap();
        std::fs::write(
            format!("{etc}/resolv.conf"),
            format!("nameserver {nameserver}\noptions attempts:2\n"),
        )
        .unwrap();
        me
    }
}

impl Drop for ClientNs {
    fn drop(&mut self) {
        let _ = std::process::Command::new("ip")
            .args(["link", "del", &self.host_if])
            .status();
        let _ = std::process::Command::new("ip")
            .args(["netns", "del", &self.ns])
            .status();
        let _ = std::fs::remove_dir_all(format!("/etc/netns/{}", self.ns));
    }
}

/// Chromium's own resolver (it reads the namespace's resolv.conf) asks
/// ward for www.google.com; the school profile sends it to
/// forcesafesearch.google.com, whose address is the local "safe-search
/// host": the page Chromium shows is that host's, and the request it
/// sent there is for www.google.com. Nothing maps names for Chromium.
#[tokio::test]
async fn chromium_resolving_through_ward_reaches_the_safe_search_host() {
    let Some(bin) = crate::blockpage::chromium() else {
        assert!(
            std::env::var("WARD_REQUIRE_CHROMIUM").as_deref() != Ok("1"),
            "WARD_REQUIRE_CHROMIUM=1 but chromium is not installed (apt-get install -y chromium)"
        );
        eprintln!(
            "SKIPPED: chromium not installed; set WARD_REQUIRE_CHROMIUM=1 to make this a failure"
        );
        return;
    };
    if !crate::support::netns::available() {
        return;
    }
    // A /24 of 10.79.0.0/16 per test process.
    let subnet = u8::try_from(std::process::id() % 250).unwrap() + 1;
    let ward_ip = format!("10.79.{subnet}.1");
    let plain_ip = format!("10.79.{subnet}.3");
    let client_ip = format!("10.79.{subnet}.2");
    let ns = ClientNs::new(subnet, &ward_ip);
    let safe_seen = http_host(&format!("{ward_ip}:80"), "SAFE SEARCH HOST").await;
    let plain_seen = http_host(&format!("{plain_ip}:80"), "UNRESTRICTED SEARCH").await;
    let up = TestUpstream::start_root(vec![
        a("www.google.com.", plain_ip.parse().unwrap()),
        a("forcesafesearch.google.com.", ward_ip.parse().unwrap()),
    ])
    .await;
    let dir = tempfile::tempdir().unwrap();
    write_list(dir.path(), &key(), 1, TEST_LIST);
    let cfg = format!(
        r#"
[dns]
listen = ["{ward_ip}:53"]
upstreams = ["{}"]
allow_clients = ["10.79.{subnet}.0/24"]

[list]
file = "list.ward"
trusted_keys = ["list.pub"]
state_dir = "state"

[block]
sinkhole_ipv4 = ["192.0.2.1"]
sinkhole_ipv6 = ["2001:db8::1"]

[[profile]]
name = "primary"
clients = ["{client_ip}"]
age = 10
[profile.safe_search]
google = true
"#,
        up.addr
    );
    let w = Ward::start(dir.path(), &cfg, false);
    let profile = tempfile::tempdir().unwrap();
    let mut cmd = tokio::process::Command::new("ip");
    cmd.args(["netns", "exec", &ns.ns, bin])
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            // Plain DNS through the system's resolver, no upgrade to https.
            "--disable-features=DnsOverHttps,HttpsUpgrades",
        ])
        .arg(format!("--user-data-dir={}", profile.path().display()))
        .args(["--dump-dom", "http://www.google.com/"])
        .kill_on_drop(true);
    let out = tokio::time::timeout(std::time::Duration::from_secs(120), cmd.output())
        .await
        .expect("chromium finished within 120 s")
        .unwrap();
    let dom = String::from_utf8_lossy(&out.stdout);
    assert!(
        dom.contains("SAFE SEARCH HOST"),
        "chromium did not reach the safe-search host:\n{dom}\n{}\nward:\n{}",
        String::from_utf8_lossy(&out.stderr),
        w.logs()
    );
    let heads = safe_seen.lock().unwrap().clone();
    assert!(
        heads
            .iter()
            .any(|h| h.to_ascii_lowercase().contains("host: www.google.com")),
        "{heads:?}"
    );
    assert!(
        plain_seen.lock().unwrap().is_empty(),
        "the unrestricted host was reached"
    );
    drop(w);
    up.stop().await;
    drop(ns);
}
