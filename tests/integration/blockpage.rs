//! The block page served in-process on a loopback listener, fetched with
//! raw HTTP over TCP, curl and headless Chromium.
//!
//! Chromium maps every name to 127.0.0.1 (`--host-resolver-rules`), so it
//! sends the listed name in `Host` and the page looks it up in the list for
//! real. CI installs Chromium and sets WARD_REQUIRE_CHROMIUM=1, so there the
//! browser test cannot skip. Screenshots go to `target/test-artifacts/`.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use ed25519_dalek::SigningKey;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use ward::blockpage::{self, BlockPage, HeadLimits, PageSettings};
use ward::list::build::build_from_str;
use ward::list::{BuildOptions, Bytes, TrustedKeys};
use ward::metrics::Metrics;
use ward::store::ListStore;

const SOURCE: &str = "\
blocked.example.test        adult
*.casino.example.test       gambling
secret.example.test         csam
";

const CSP: &str = "default-src 'none'; style-src 'unsafe-inline'; img-src data:";

fn store() -> ListStore {
    let key = SigningKey::from_bytes(&[77; 32]);
    let now = jiff::Timestamp::now();
    let opts = BuildOptions {
        list_id: "vn-830-test".into(),
        serial: 20260301,
        issued_at: "2026-03-01T02:00:00Z".parse().unwrap(),
        expires_at: now + jiff::SignedDuration::from_hours(24 * 365),
        confidential: ["csam".to_owned()].into_iter().collect(),
        min_age: Default::default(),
    };
    let (bytes, _) = build_from_str(SOURCE, &opts, &key).unwrap();
    let trust: TrustedKeys = [key.verifying_key()].into_iter().collect();
    ListStore::with(ward::list::verify(Bytes::Owned(bytes), &trust).unwrap())
}

/// `ward::blockpage::serve` on 127.0.0.1, port 0.
struct PageServer {
    addr: SocketAddr,
    metrics: Arc<Metrics>,
    shutdown: CancellationToken,
    task: JoinHandle<()>,
}

impl PageServer {
    async fn start(limits: HeadLimits) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let page = BlockPage::new(&PageSettings {
            template: None,
            appeal_url: "https://isp.example/appeal".into(),
            blocked_by: "https://isp.example/".into(),
            hotline: "111".into(),
        })
        .unwrap();
        let metrics = Arc::new(Metrics::new());
        let shutdown = CancellationToken::new();
        let task = tokio::spawn(blockpage::serve(
            listener,
            Arc::new(page),
            Arc::new(store()),
            None,
            metrics.page_views().clone(),
            limits,
            shutdown.clone(),
        ));
        Self {
            addr,
            metrics,
            shutdown,
            task,
        }
    }

    /// Stops the server; fails if it does not stop promptly.
    async fn stop(self) {
        self.shutdown.cancel();
        tokio::time::timeout(Duration::from_secs(5), self.task)
            .await
            .expect("serve returns promptly after shutdown")
            .unwrap();
    }

    fn views(&self, category: &str) -> Option<String> {
        let series = format!("ward_blockpage_views_total{{category=\"{category}\"}} ");
        self.metrics
            .encode()
            .lines()
            .find_map(|l| l.strip_prefix(&series).map(str::to_owned))
    }
}

/// Sends `request` and reads until the server closes.
async fn exchange(addr: SocketAddr, request: &[u8]) -> String {
    let mut s = TcpStream::connect(addr).await.unwrap();
    s.write_all(request).await.unwrap();
    let mut out = Vec::new();
    tokio::time::timeout(Duration::from_secs(10), s.read_to_end(&mut out))
        .await
        .expect("the server answers and closes")
        .unwrap();
    String::from_utf8(out).unwrap()
}

fn header<'a>(response: &'a str, name: &str) -> Option<&'a str> {
    let head = response.split("\r\n\r\n").next()?;
    head.lines().skip(1).find_map(|l| {
        let (n, v) = l.split_once(':')?;
        n.eq_ignore_ascii_case(name).then(|| v.trim())
    })
}

fn body(response: &str) -> &str {
    response.split_once("\r\n\r\n").map_or("", |(_, b)| b)
}

#[tokio::test]
async fn blockpage_answers_451_over_tcp() {
    let server = PageServer::start(HeadLimits::default()).await;
    let r = exchange(
        server.addr,
        b"GET /some/path HTTP/1.1\r\nHost: Blocked.Example.Test\r\nUser-Agent: test\r\n\r\n",
    )
    .await;
    assert!(
        r.starts_with("HTTP/1.1 451 Unavailable For Legal Reasons\r\n"),
        "{r}"
    );
    assert_eq!(
        header(&r, "Link"),
        Some("<https://isp.example/>; rel=\"blocked-by\"")
    );
    assert_eq!(header(&r, "Content-Type"), Some("text/html; charset=utf-8"));
    assert_eq!(header(&r, "Content-Security-Policy"), Some(CSP));
    assert_eq!(header(&r, "Connection"), Some("close"));
    assert_eq!(header(&r, "Cache-Control"), Some("no-store"));
    let b = body(&r);
    assert_eq!(
        header(&r, "Content-Length"),
        Some(b.len().to_string().as_str())
    );
    assert!(!b.to_ascii_lowercase().contains("<script"));
    assert!(b.contains("blocked.example.test"));
    assert!(b.contains("Tổng đài quốc gia bảo vệ trẻ em 111"));
    assert!(b.find("<section lang=\"vi\">").unwrap() < b.find("<section lang=\"en\">").unwrap());

    // HEAD: the same headers, no body.
    let h = exchange(
        server.addr,
        b"HEAD / HTTP/1.1\r\nHost: blocked.example.test\r\n\r\n",
    )
    .await;
    assert!(h.starts_with("HTTP/1.1 451 "), "{h}");
    assert_eq!(body(&h), "");
    assert_eq!(header(&h, "Content-Length"), header(&r, "Content-Length"));

    // A proxy-style absolute target names the host, and English leads.
    let e = exchange(
        server.addr,
        b"GET http://www.casino.example.test/ HTTP/1.0\r\nHost: ignored.example\r\nAccept-Language: en-GB,en;q=0.8\r\n\r\n",
    )
    .await;
    assert_eq!(header(&e, "Content-Language"), Some("en, vi"));
    let b = body(&e);
    assert!(b.contains("<html lang=\"en\">"));
    assert!(b.contains("gambling"));
    assert!(b.find("<section lang=\"en\">").unwrap() < b.find("<section lang=\"vi\">").unwrap());

    // A confidential block names neither the site nor the category.
    let c = exchange(
        server.addr,
        b"GET / HTTP/1.1\r\nHost: www.secret.example.test\r\n\r\n",
    )
    .await;
    assert!(c.starts_with("HTTP/1.1 451 "), "{c}");
    assert!(!c.contains("secret.example"), "{c}");
    assert!(!body(&c).contains("csam"));

    // The bare address: still 451, generic wording.
    let u = exchange(server.addr, b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n").await;
    assert!(u.starts_with("HTTP/1.1 451 "), "{u}");
    assert!(body(&u).contains("shows notices"));

    assert_eq!(server.views("adult").as_deref(), Some("2"));
    assert_eq!(server.views("gambling").as_deref(), Some("1"));
    assert_eq!(server.views("csam").as_deref(), Some("1"));
    assert_eq!(server.views("unlisted").as_deref(), Some("1"));
    server.stop().await;
}

#[tokio::test]
async fn blockpage_rejects_what_is_not_http() {
    let server = PageServer::start(HeadLimits {
        max_bytes: 2048,
        timeout: Duration::from_secs(2),
    })
    .await;
    // A TLS ClientHello's record header: rejected at once.
    let r = exchange(server.addr, &[0x16, 0x03, 0x01, 0x00, 0x05, 1, 0, 0, 1, 0]).await;
    assert!(r.starts_with("HTTP/1.1 400 Bad Request\r\n"), "{r}");
    assert_eq!(
        header(&r, "Content-Type"),
        Some("text/plain; charset=utf-8")
    );
    let r = exchange(
        server.addr,
        b"GET / HTTP/1.1\r\nHost: a.example\r\nHost: b.example\r\n\r\n",
    )
    .await;
    assert!(r.starts_with("HTTP/1.1 400 "), "{r}");
    let mut big = b"GET / HTTP/1.1\r\nHost: a.example\r\nX-Fill: ".to_vec();
    big.extend([b'a'; 4096]);
    big.extend(b"\r\n\r\n");
    let r = exchange(server.addr, &big).await;
    assert!(r.starts_with("HTTP/1.1 431 "), "{r}");
    // A client that never finishes its head is dropped at the deadline.
    let mut s = TcpStream::connect(server.addr).await.unwrap();
    s.write_all(b"GET / HTTP/1.1\r\nHost: slow.example\r\n")
        .await
        .unwrap();
    let mut out = Vec::new();
    let n = tokio::time::timeout(Duration::from_secs(10), s.read_to_end(&mut out))
        .await
        .expect("closed at the head deadline");
    assert!(matches!(n, Ok(0)), "{n:?} {out:?}");
    assert_eq!(server.views("unlisted"), None, "no page was served");
    server.stop().await;
}

#[tokio::test]
async fn blockpage_serves_concurrent_clients_and_stops_on_shutdown() {
    let server = PageServer::start(HeadLimits::default()).await;
    // Idle connections that never send a byte must not delay shutdown.
    let mut idle = Vec::new();
    for _ in 0..20 {
        idle.push(TcpStream::connect(server.addr).await.unwrap());
    }
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..100 {
        let addr = server.addr;
        tasks.spawn(async move {
            let host = if i % 2 == 0 {
                "blocked.example.test"
            } else {
                "x.casino.example.test"
            };
            let req = format!("GET / HTTP/1.1\r\nHost: {host}\r\n\r\n");
            exchange(addr, req.as_bytes()).await
        });
    }
    while let Some(r) = tasks.join_next().await {
        assert!(r.unwrap().starts_with("HTTP/1.1 451 "));
    }
    assert_eq!(server.views("adult").as_deref(), Some("50"));
    assert_eq!(server.views("gambling").as_deref(), Some("50"));
    server.stop().await;
    drop(idle);
}

/// curl, when installed: a second, independent HTTP client.
#[tokio::test]
async fn blockpage_with_curl() {
    if std::process::Command::new("curl")
        .arg("--version")
        .output()
        .is_err()
    {
        eprintln!("skipped: curl not installed");
        return;
    }
    let server = PageServer::start(HeadLimits::default()).await;
    let port = server.addr.port();
    let out = tokio::process::Command::new("curl")
        .args(["-sS", "-i", "--max-time", "10", "--resolve"])
        .arg(format!("blocked.example.test:{port}:127.0.0.1"))
        .args(["-H", "Accept-Language: vi-VN,vi;q=0.9,en;q=0.8"])
        .arg(format!("http://blocked.example.test:{port}/"))
        .output()
        .await
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{text} {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        text.starts_with("HTTP/1.1 451 Unavailable For Legal Reasons"),
        "{text}"
    );
    assert!(text.contains("rel=\"blocked-by\""), "{text}");
    assert!(text.contains("chỉ dành cho người lớn"), "{text}");
    server.stop().await;
}

/// The Chromium binary, if installed.
pub(crate) fn chromium() -> Option<&'static str> {
    ["chromium", "chromium-browser"].into_iter().find(|c| {
        std::process::Command::new(c)
            .arg("--version")
            .output()
            .is_ok_and(|o| o.status.success())
    })
}

/// Where screenshots go: `$CARGO_TARGET_DIR/test-artifacts` or
/// `target/test-artifacts`.
pub(crate) fn artifacts_dir() -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target"));
    let dir = target.join("test-artifacts");
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Runs headless Chromium with a fresh profile, every name resolving to
/// loopback and `Accept-Language` set from `lang`; returns its stdout.
pub(crate) async fn run_chromium(bin: &str, lang: &str, extra: &[String], url: &str) -> String {
    let profile = tempfile::tempdir().unwrap();
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
        "--hide-scrollbars",
        "--host-resolver-rules=MAP * 127.0.0.1",
    ])
    .arg(format!("--user-data-dir={}", profile.path().display()))
    .arg(format!("--lang={lang}"))
    .arg(format!("--accept-lang={lang}"))
    .args(extra)
    .arg(url)
    .kill_on_drop(true);
    let out = tokio::time::timeout(Duration::from_secs(120), cmd.output())
        .await
        .expect("chromium finished within 120 s")
        .unwrap();
    assert!(
        out.status.success(),
        "chromium failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The rendered text of a DOM dump: tags dropped, entities left alone.
pub(crate) fn text_of(dom: &str) -> String {
    let mut out = String::new();
    let mut in_tag = false;
    let mut in_style = false;
    let lower = dom.to_ascii_lowercase();
    for (i, c) in dom.char_indices() {
        if c == '<' {
            in_tag = true;
            if lower[i..].starts_with("<style") {
                in_style = true;
            } else if lower[i..].starts_with("</style") {
                in_style = false;
            }
            out.push(' ');
        } else if c == '>' {
            in_tag = false;
        } else if !in_tag && !in_style {
            out.push(c);
        }
    }
    out.split_whitespace().collect::<Vec<_>>().join(" ")
}

#[tokio::test]
async fn blockpage_in_headless_chromium() {
    let Some(bin) = chromium() else {
        assert!(
            std::env::var("WARD_REQUIRE_CHROMIUM").as_deref() != Ok("1"),
            "WARD_REQUIRE_CHROMIUM=1 but chromium is not installed (apt-get install -y chromium)"
        );
        eprintln!(
            "SKIPPED: chromium not installed; set WARD_REQUIRE_CHROMIUM=1 to make this a failure"
        );
        return;
    };
    let server = PageServer::start(HeadLimits::default()).await;
    let port = server.addr.port();
    let url = |host: &str| format!("http://{host}:{port}/");
    let dump = ["--dump-dom".to_owned()];

    // A listed, non-confidential name, Vietnamese browser.
    let dom = run_chromium(bin, "vi", &dump, &url("blocked.example.test")).await;
    assert!(dom.contains("<html lang=\"vi\">"), "{dom}");
    let text = text_of(&dom);
    assert!(text.contains("111"), "{text}");
    assert!(
        text.contains("Tổng đài quốc gia bảo vệ trẻ em 111"),
        "{text}"
    );
    assert!(text.contains("chỉ dành cho người lớn"), "{text}");
    assert!(text.contains("meant only for adults"), "{text}");
    assert!(text.contains("blocked.example.test"), "{text}");
    assert!(
        text.find("Trang này đã bị chặn").unwrap() < text.find("This page is blocked").unwrap(),
        "{text}"
    );
    assert!(!dom.to_ascii_lowercase().contains("<script"));

    // English browser: English first.
    let dom = run_chromium(bin, "en-US", &dump, &url("www.casino.example.test")).await;
    assert!(dom.contains("<html lang=\"en\">"), "{dom}");
    let text = text_of(&dom);
    assert!(
        text.find("This page is blocked").unwrap() < text.find("Trang này đã bị chặn").unwrap(),
        "{text}"
    );
    assert!(text.contains("gambling or betting"), "{text}");
    assert!(text.contains("cờ bạc"), "{text}");

    // Confidential: the host appears nowhere in what the browser shows.
    let dom = run_chromium(bin, "vi", &dump, &url("www.secret.example.test")).await;
    let text = text_of(&dom);
    assert!(text.contains("111"), "{text}");
    assert!(text.contains("không an toàn cho trẻ em"), "{text}");
    assert!(!dom.contains("secret.example"), "{dom}");
    assert!(!dom.contains("csam"), "{dom}");

    // Screenshots: phone and desktop.
    let dir = artifacts_dir();
    for (name, lang, host, size) in [
        (
            "blockpage-phone-vi.png",
            "vi",
            "blocked.example.test",
            "412,915",
        ),
        (
            "blockpage-desktop-vi.png",
            "vi",
            "blocked.example.test",
            "1280,900",
        ),
        // The whole page, footer included, at phone width.
        (
            "blockpage-phone-vi-full.png",
            "vi",
            "blocked.example.test",
            "412,1900",
        ),
        (
            "blockpage-phone-en.png",
            "en-US",
            "www.casino.example.test",
            "412,915",
        ),
        (
            "blockpage-phone-confidential.png",
            "vi",
            "www.secret.example.test",
            "412,915",
        ),
    ] {
        let path = dir.join(name);
        let _ = std::fs::remove_file(&path);
        let args = [
            format!("--screenshot={}", path.display()),
            format!("--window-size={size}"),
        ];
        run_chromium(bin, lang, &args, &url(host)).await;
        let png = std::fs::read(&path).unwrap_or_default();
        assert!(
            png.starts_with(b"\x89PNG"),
            "no screenshot at {}",
            path.display()
        );
        eprintln!("screenshot: {}", path.display());
    }
    assert!(server.views("adult").is_some());
    assert!(server.views("csam").is_some());
    server.stop().await;
}
