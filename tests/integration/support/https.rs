//! An in-process HTTPS server (hyper over tokio-rustls, HTTP/1.1) that
//! serves a signed list artifact to `ward serve`'s updater. A test CA and
//! a leaf certificate for `localhost` / 127.0.0.1 are minted at start-up
//! with rcgen; the CA is written to `ca.pem` so ward can be told to trust
//! it. The server's behaviour is switched at run time with [`Mode`], and
//! every request is recorded as a [`Seen`].

use std::convert::Infallible;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use bytes::Bytes;
use hyper::body::{Body, Frame, Incoming, SizeHint};
use hyper::header::{self, HeaderValue};
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use sha2::{Digest, Sha256};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio_rustls::TlsAcceptor;
use tokio_rustls::rustls::ServerConfig;
use tokio_rustls::rustls::crypto::ring;
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use tokio_util::sync::CancellationToken;

/// The path the list artifact is published at.
pub const LIST_PATH: &str = "/national.ward";

/// Chunk size for the streamed bodies (Endless, Huge).
const CHUNK: usize = 64 * 1024;

/// How long a client may take to finish the TLS handshake.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// A behaviour the server follows for GET requests to the list path.
#[derive(Clone, Debug)]
pub enum Mode {
    /// Serve the published artifact: 200 with body, `ETag: "<first 16 hex of sha256>"`,
    /// `Last-Modified` (fixed per publish), `Content-Length`; answer 304 (no body) when
    /// the request's If-None-Match equals the current ETag. 404 if nothing published.
    Serve,
    /// Reply with this status code and a short text body, every time.
    Status(u16),
    /// Reply with status `status` for the next `n` list requests, then behave as Serve
    /// (the counter is decremented per request).
    FailThenServe { n: usize, status: u16 },
    /// Accept the connection and the request, then never send a response (hold the
    /// connection open until the client gives up or the server is dropped).
    Hang,
    /// 200 with an endless body of zero bytes streamed in 64 KiB chunks, no
    /// Content-Length (chunked), until the client disconnects.
    Endless,
    /// 200 announcing `Content-Length: len` and then streaming zeros up to len bytes.
    Huge { len: u64 },
    /// Send the artifact's body at `bytes_per_sec` (slow-loris style), with Content-Length.
    Slow { bytes_per_sec: usize },
    /// 302 redirect to this absolute URL.
    Redirect(String),
}

/// One request the server saw.
#[derive(Clone, Debug)]
pub struct Seen {
    pub path: String,
    pub if_none_match: Option<String>,
    pub if_modified_since: Option<String>,
    pub user_agent: Option<String>,
    /// Status the server answered with (0 for Hang/no response).
    pub status: u16,
}

/// The artifact currently published.
#[derive(Clone, Debug)]
struct Artifact {
    body: Bytes,
    /// With the quotes: `"0123456789abcdef"`.
    etag: String,
    last_modified: String,
}

#[derive(Debug)]
struct State {
    mode: Mode,
    artifact: Option<Artifact>,
    /// Unix second of the last publish; each publish moves strictly forward
    /// so that Last-Modified changes even for publishes within one second.
    last_modified_secs: i64,
    seen: Vec<Seen>,
}

type Shared = Arc<Mutex<State>>;

fn lock(state: &Shared) -> MutexGuard<'_, State> {
    // A panicking test thread must not wedge the server for the others.
    state.lock().unwrap_or_else(|e| e.into_inner())
}

/// A running list server (HTTPS, or plain HTTP from [`ListServer::start_plain`]).
/// Dropping it stops accepting and aborts every connection.
#[derive(Debug)]
pub struct ListServer {
    /// e.g. "https://localhost:PORT/national.ward" (hostname `localhost`, bound to 127.0.0.1)
    pub url: String,
    /// PEM file of the test CA (written into the dir given to start()).
    pub ca_file: PathBuf,
    pub addr: SocketAddr,
    /// `https://localhost` or `http://127.0.0.1` (no port, no path).
    base: String,
    state: Shared,
    shutdown: CancellationToken,
    accept_task: JoinHandle<()>,
}

impl ListServer {
    /// Binds 127.0.0.1:0, generates at start-up a CA (rcgen, CA cert with
    /// BasicConstraints CA) and a leaf cert for DNS name "localhost" and IP 127.0.0.1
    /// signed by that CA, writes the CA cert PEM to `dir/ca.pem`, and serves HTTPS
    /// (HTTP/1.1 via hyper) on a tokio task. Must be called inside a tokio runtime.
    pub async fn start(dir: &Path) -> Self {
        let (ca_file, tls) = make_tls(dir);
        Self::launch(
            ca_file,
            Some(TlsAcceptor::from(Arc::new(tls))),
            "https://localhost",
        )
        .await
    }

    /// The same server without TLS: `url` is `http://127.0.0.1:PORT/national.ward`.
    /// `ca_file` is still written (and unused), so tests can treat both alike.
    pub async fn start_plain(dir: &Path) -> Self {
        let (ca_file, _) = make_tls(dir);
        Self::launch(ca_file, None, "http://127.0.0.1").await
    }

    async fn launch(ca_file: PathBuf, tls: Option<TlsAcceptor>, host: &str) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind the list server on loopback");
        let addr = listener.local_addr().expect("list server local address");
        let base = format!("{host}:{}", addr.port());
        let state: Shared = Arc::new(Mutex::new(State {
            mode: Mode::Serve,
            artifact: None,
            last_modified_secs: 0,
            seen: Vec::new(),
        }));
        let shutdown = CancellationToken::new();
        let accept_task = tokio::spawn(accept_loop(
            listener,
            tls,
            Arc::clone(&state),
            shutdown.clone(),
        ));
        Self {
            url: format!("{base}{LIST_PATH}"),
            ca_file,
            addr,
            base,
            state,
            shutdown,
            accept_task,
        }
    }

    /// The URL of another path on the same server (same scheme, host and
    /// port). `path` may omit the leading `/`.
    pub fn second_url(&self, path: &str) -> String {
        if path.starts_with('/') {
            format!("{}{path}", self.base)
        } else {
            format!("{}/{path}", self.base)
        }
    }

    /// Replaces the artifact served in Mode::Serve (new ETag, new Last-Modified).
    pub fn publish(&self, bytes: Vec<u8>) {
        let digest = Sha256::digest(&bytes);
        let etag = format!("\"{}\"", &hex::encode(digest)[..16]);
        let mut st = lock(&self.state);
        let now = jiff::Timestamp::now().as_second();
        st.last_modified_secs = now.max(st.last_modified_secs + 1);
        let ts = jiff::Timestamp::from_second(st.last_modified_secs).expect("a sane clock");
        let last_modified = jiff::fmt::rfc2822::DateTimePrinter::new()
            .timestamp_to_rfc9110_string(&ts)
            .expect("an HTTP date");
        st.artifact = Some(Artifact {
            body: Bytes::from(bytes),
            etag,
            last_modified,
        });
    }

    /// Removes the published artifact (Serve answers 404 again).
    pub fn unpublish(&self) {
        lock(&self.state).artifact = None;
    }

    /// The ETag (with quotes) of the published artifact, if any.
    pub fn etag(&self) -> Option<String> {
        lock(&self.state).artifact.as_ref().map(|a| a.etag.clone())
    }

    /// The Last-Modified of the published artifact, if any.
    pub fn last_modified(&self) -> Option<String> {
        lock(&self.state)
            .artifact
            .as_ref()
            .map(|a| a.last_modified.clone())
    }

    pub fn set_mode(&self, mode: Mode) {
        lock(&self.state).mode = mode;
    }

    /// Every request seen so far, in order.
    pub fn requests(&self) -> Vec<Seen> {
        lock(&self.state).seen.clone()
    }

    /// Number of requests seen.
    pub fn request_count(&self) -> usize {
        lock(&self.state).seen.len()
    }

    /// Waits (async, polling every 50 ms, at most 20 s) until request_count() >= n;
    /// returns whether it got there.
    pub async fn wait_requests(&self, n: usize) -> bool {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if self.request_count() >= n {
                return true;
            }
            if Instant::now() >= deadline {
                return false;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

impl Drop for ListServer {
    fn drop(&mut self) {
        self.shutdown.cancel();
        self.accept_task.abort();
    }
}

/// Mints the CA and the leaf, writes `dir/ca.pem` (and the leaf's chain
/// and key as `dir/server.pem`, `dir/server.key`), and builds the rustls
/// server configuration (ring provider, HTTP/1.1 ALPN).
pub fn make_tls(dir: &Path) -> (PathBuf, ServerConfig) {
    use rcgen::{
        BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer,
        KeyPair, KeyUsagePurpose,
    };

    let ca_key = KeyPair::generate().expect("generate the test CA key");
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).expect("CA params");
    ca_params
        .distinguished_name
        .push(DnType::CommonName, "ward test CA");
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    let ca_cert = ca_params
        .self_signed(&ca_key)
        .expect("self-sign the test CA");
    let ca = Issuer::new(ca_params, ca_key);

    let leaf_key = KeyPair::generate().expect("generate the leaf key");
    let mut leaf_params =
        CertificateParams::new(vec!["localhost".to_owned(), "127.0.0.1".to_owned()])
            .expect("leaf params");
    leaf_params
        .distinguished_name
        .push(DnType::CommonName, "localhost");
    leaf_params.is_ca = IsCa::ExplicitNoCa;
    leaf_params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    leaf_params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    leaf_params.use_authority_key_identifier_extension = true;
    let leaf_cert = leaf_params
        .signed_by(&leaf_key, &ca)
        .expect("sign the leaf with the test CA");

    let ca_file = dir.join("ca.pem");
    std::fs::write(&ca_file, ca_cert.pem()).expect("write ca.pem");
    // The same leaf as PEM files, for servers that read their own (the
    // real `ward collector`).
    std::fs::write(
        dir.join("server.pem"),
        format!("{}{}", leaf_cert.pem(), ca_cert.pem()),
    )
    .expect("write server.pem");
    std::fs::write(dir.join("server.key"), leaf_key.serialize_pem()).expect("write server.key");

    let chain: Vec<CertificateDer<'static>> = vec![leaf_cert.der().clone(), ca_cert.der().clone()];
    let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(leaf_key.serialize_der()));
    let mut config = ServerConfig::builder_with_provider(Arc::new(ring::default_provider()))
        .with_safe_default_protocol_versions()
        .expect("ring supports the default TLS versions")
        .with_no_client_auth()
        .with_single_cert(chain, key)
        .expect("the leaf certificate and key match");
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    (ca_file, config)
}

async fn accept_loop(
    listener: TcpListener,
    tls: Option<TlsAcceptor>,
    state: Shared,
    shutdown: CancellationToken,
) {
    loop {
        let accepted = tokio::select! {
            biased;
            () = shutdown.cancelled() => return,
            accepted = listener.accept() => accepted,
        };
        let Ok((tcp, _peer)) = accepted else {
            // EMFILE and friends: back off briefly, keep serving.
            tokio::time::sleep(Duration::from_millis(10)).await;
            continue;
        };
        let tls = tls.clone();
        let state = Arc::clone(&state);
        let token = shutdown.clone();
        tokio::spawn(async move {
            tokio::select! {
                biased;
                () = token.cancelled() => {}
                () = connection(tcp, tls, state, token.clone()) => {}
            }
        });
    }
}

/// One client connection: TLS handshake (if any), then HTTP/1.1. Errors
/// (a failed handshake, a client that goes away) just end the connection.
async fn connection(
    tcp: TcpStream,
    tls: Option<TlsAcceptor>,
    state: Shared,
    shutdown: CancellationToken,
) {
    let _ = tcp.set_nodelay(true);
    match tls {
        Some(acceptor) => {
            let Ok(Ok(stream)) =
                tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(tcp)).await
            else {
                return;
            };
            serve_http(stream, state, shutdown).await;
        }
        None => serve_http(tcp, state, shutdown).await,
    }
}

async fn serve_http<S>(io: S, state: Shared, shutdown: CancellationToken)
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let service = hyper::service::service_fn(move |req: Request<Incoming>| {
        let state = Arc::clone(&state);
        let shutdown = shutdown.clone();
        async move { Ok::<_, Infallible>(respond(&req, &state, &shutdown).await) }
    });
    let _ = hyper::server::conn::http1::Builder::new()
        .serve_connection(TokioIo::new(io), service)
        .await;
}

fn header_string(req: &Request<Incoming>, name: header::HeaderName) -> Option<String> {
    req.headers()
        .get(name)
        .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
}

/// What to answer, decided under the lock.
enum Plan {
    Hang,
    Status(u16),
    NotFound,
    NotModified(Artifact),
    Full(Artifact),
    Slow(Artifact, usize),
    Endless,
    Huge(u64),
    Redirect(String),
}

impl Plan {
    fn status(&self) -> u16 {
        match self {
            Self::Hang => 0,
            Self::Status(s) => *s,
            Self::NotFound => 404,
            Self::NotModified(_) => 304,
            Self::Full(_) | Self::Slow(..) | Self::Endless | Self::Huge(_) => 200,
            Self::Redirect(_) => 302,
        }
    }
}

/// Whether an If-None-Match header value matches `etag` (exact, weak or `*`).
fn etag_matches(if_none_match: &str, etag: &str) -> bool {
    if_none_match.split(',').map(str::trim).any(|candidate| {
        candidate == "*" || candidate == etag || candidate.strip_prefix("W/") == Some(etag)
    })
}

fn serve_plan(st: &State, if_none_match: Option<&str>) -> Plan {
    match &st.artifact {
        None => Plan::NotFound,
        Some(a) if if_none_match.is_some_and(|inm| etag_matches(inm, &a.etag)) => {
            Plan::NotModified(a.clone())
        }
        Some(a) => Plan::Full(a.clone()),
    }
}

async fn respond(
    req: &Request<Incoming>,
    state: &Shared,
    shutdown: &CancellationToken,
) -> Response<TestBody> {
    let path = req.uri().path().to_owned();
    let if_none_match = header_string(req, header::IF_NONE_MATCH);
    let if_modified_since = header_string(req, header::IF_MODIFIED_SINCE);
    let user_agent = header_string(req, header::USER_AGENT);

    let plan = {
        let mut st = lock(state);
        let plan = match st.mode.clone() {
            Mode::Serve => serve_plan(&st, if_none_match.as_deref()),
            Mode::Status(s) => Plan::Status(s),
            Mode::FailThenServe { n, status } if n > 0 => {
                st.mode = Mode::FailThenServe { n: n - 1, status };
                Plan::Status(status)
            }
            Mode::FailThenServe { .. } => serve_plan(&st, if_none_match.as_deref()),
            Mode::Hang => Plan::Hang,
            Mode::Endless => Plan::Endless,
            Mode::Huge { len } => Plan::Huge(len),
            Mode::Slow { bytes_per_sec } => match &st.artifact {
                Some(a) => Plan::Slow(a.clone(), bytes_per_sec),
                None => Plan::NotFound,
            },
            Mode::Redirect(to) if path == LIST_PATH => Plan::Redirect(to),
            Mode::Redirect(_) => serve_plan(&st, if_none_match.as_deref()),
        };
        // An invalid code from a test (outside 100..=999) becomes a 500.
        let status = match plan.status() {
            0 => 0,
            s if StatusCode::from_u16(s).is_ok() => s,
            _ => 500,
        };
        st.seen.push(Seen {
            path,
            if_none_match,
            if_modified_since,
            user_agent,
            status,
        });
        plan
    };

    let code = |s: u16| StatusCode::from_u16(s).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let builder = Response::builder();
    let response = match plan {
        Plan::Hang => {
            // Never answers; the connection task is dropped (closing the
            // socket) when the server is dropped; a client that gives up just
            // stops waiting.
            std::future::pending::<()>().await;
            unreachable!("pending() never completes")
        }
        Plan::Status(s) => {
            let text = format!("test server says {s}\n");
            builder
                .status(code(s))
                .header(header::CONTENT_TYPE, "text/plain")
                .header(header::CONTENT_LENGTH, text.len())
                .body(TestBody::full(Bytes::from(text)))
        }
        Plan::NotFound => builder
            .status(StatusCode::NOT_FOUND)
            .header(header::CONTENT_TYPE, "text/plain")
            .body(TestBody::full(Bytes::from_static(b"nothing published\n"))),
        Plan::NotModified(a) => builder
            .status(StatusCode::NOT_MODIFIED)
            .header(header::ETAG, a.etag)
            .header(header::LAST_MODIFIED, a.last_modified)
            .body(TestBody::empty()),
        Plan::Full(a) => builder
            .status(StatusCode::OK)
            .header(header::CONTENT_TYPE, "application/octet-stream")
            .header(header::ETAG, a.etag)
            .header(header::LAST_MODIFIED, a.last_modified)
            .header(header::CONTENT_LENGTH, a.body.len())
            .body(TestBody::full(a.body)),
        Plan::Slow(a, bytes_per_sec) => {
            let len = a.body.len() as u64;
            let rx = spawn_producer(shutdown, move |tx| slow_producer(tx, a.body, bytes_per_sec));
            builder
                .status(StatusCode::OK)
                .header(header::CONTENT_TYPE, "application/octet-stream")
                .header(header::ETAG, a.etag)
                .header(header::LAST_MODIFIED, a.last_modified)
                .header(header::CONTENT_LENGTH, len)
                .body(TestBody::stream(rx, Some(len)))
        }
        Plan::Endless => {
            let rx = spawn_producer(shutdown, |tx| zeros_producer(tx, None));
            builder
                .status(StatusCode::OK)
                .header(header::CONTENT_TYPE, "application/octet-stream")
                .body(TestBody::stream(rx, None))
        }
        Plan::Huge(len) => {
            let rx = spawn_producer(shutdown, move |tx| zeros_producer(tx, Some(len)));
            builder
                .status(StatusCode::OK)
                .header(header::CONTENT_TYPE, "application/octet-stream")
                .header(header::CONTENT_LENGTH, len)
                .body(TestBody::stream(rx, Some(len)))
        }
        Plan::Redirect(to) => match HeaderValue::from_str(&to) {
            Ok(location) => builder
                .status(StatusCode::FOUND)
                .header(header::LOCATION, location)
                .body(TestBody::full(Bytes::from_static(b"moved\n"))),
            Err(_) => Response::builder()
                .status(StatusCode::INTERNAL_SERVER_ERROR)
                .body(TestBody::full(Bytes::from_static(b"bad redirect URL\n"))),
        },
    };
    response.unwrap_or_else(|_| {
        let mut r = Response::new(TestBody::empty());
        *r.status_mut() = StatusCode::INTERNAL_SERVER_ERROR;
        r
    })
}

/// Spawns a task feeding a streamed body; it stops when the body (the
/// client's connection) is dropped or the server shuts down.
fn spawn_producer<F, Fut>(shutdown: &CancellationToken, make: F) -> mpsc::Receiver<Bytes>
where
    F: FnOnce(mpsc::Sender<Bytes>) -> Fut,
    Fut: std::future::Future<Output = ()> + Send + 'static,
{
    let (tx, rx) = mpsc::channel(2);
    let fut = make(tx);
    let token = shutdown.clone();
    tokio::spawn(async move {
        tokio::select! {
            biased;
            () = token.cancelled() => {}
            () = fut => {}
        }
    });
    rx
}

/// Zeros in 64 KiB chunks, up to `len` bytes (forever when `None`).
async fn zeros_producer(tx: mpsc::Sender<Bytes>, len: Option<u64>) {
    let chunk = Bytes::from(vec![0u8; CHUNK]);
    let mut left = len;
    loop {
        let n = match left {
            Some(0) => return,
            Some(l) => l.min(CHUNK as u64) as usize,
            None => CHUNK,
        };
        if tx.send(chunk.slice(..n)).await.is_err() {
            return;
        }
        if let Some(l) = left.as_mut() {
            *l -= n as u64;
        }
    }
}

/// `body` at about `bytes_per_sec`, in ticks of 100 ms (or one byte per
/// tick for rates under 10 B/s). A rate of 0 sends nothing, ever.
async fn slow_producer(tx: mpsc::Sender<Bytes>, body: Bytes, bytes_per_sec: usize) {
    let start = tokio::time::Instant::now();
    let mut sent = 0usize;
    while sent < body.len() {
        tokio::time::sleep(Duration::from_millis(100)).await;
        let due = (start.elapsed().as_secs_f64() * bytes_per_sec as f64) as usize;
        let due = due.min(body.len());
        if due > sent {
            if tx.send(body.slice(sent..due)).await.is_err() {
                return;
            }
            sent = due;
        }
    }
    // Keep the sender alive until the body has been taken in full, so the
    // body ends cleanly rather than early.
    tx.closed().await;
}

/// The response body: all at once, or streamed from a producer task.
#[derive(Debug)]
struct TestBody {
    inner: BodyInner,
}

#[derive(Debug)]
enum BodyInner {
    Full(Option<Bytes>),
    Stream {
        rx: mpsc::Receiver<Bytes>,
        /// Bytes still to come, when announced.
        left: Option<u64>,
    },
}

impl TestBody {
    fn empty() -> Self {
        Self {
            inner: BodyInner::Full(None),
        }
    }

    fn full(bytes: Bytes) -> Self {
        Self {
            inner: BodyInner::Full(Some(bytes)),
        }
    }

    fn stream(rx: mpsc::Receiver<Bytes>, len: Option<u64>) -> Self {
        Self {
            inner: BodyInner::Stream { rx, left: len },
        }
    }
}

impl Body for TestBody {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        match &mut self.get_mut().inner {
            BodyInner::Full(bytes) => Poll::Ready(bytes.take().map(|b| Ok(Frame::data(b)))),
            BodyInner::Stream { rx, left } => {
                if *left == Some(0) {
                    return Poll::Ready(None);
                }
                rx.poll_recv(cx).map(|chunk| {
                    chunk.map(|b| {
                        if let Some(l) = left.as_mut() {
                            *l = l.saturating_sub(b.len() as u64);
                        }
                        Ok(Frame::data(b))
                    })
                })
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        match &self.inner {
            BodyInner::Full(bytes) => bytes.is_none(),
            BodyInner::Stream { left, .. } => *left == Some(0),
        }
    }

    fn size_hint(&self) -> SizeHint {
        match &self.inner {
            BodyInner::Full(Some(b)) => SizeHint::with_exact(b.len() as u64),
            BodyInner::Full(None) => SizeHint::with_exact(0),
            BodyInner::Stream { left: Some(l), .. } => SizeHint::with_exact(*l),
            BodyInner::Stream { left: None, .. } => SizeHint::default(),
        }
    }
}

// ---------------------------------------------------------------------------
// Self-tests: the server against a raw tokio-rustls client.

/// A parsed HTTP/1.1 response (test client side).
#[derive(Debug)]
pub struct RawResponse {
    pub status: u16,
    /// Header names lowercased, in order.
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl RawResponse {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// A rustls client configuration (ring) trusting only `ca_file`.
pub fn client_tls(ca_file: &Path) -> tokio_rustls::rustls::ClientConfig {
    use tokio_rustls::rustls::pki_types::pem::PemObject;
    let mut roots = tokio_rustls::rustls::RootCertStore::empty();
    for cert in CertificateDer::pem_file_iter(ca_file).expect("open ca.pem") {
        roots
            .add(cert.expect("a PEM certificate"))
            .expect("a valid CA certificate");
    }
    tokio_rustls::rustls::ClientConfig::builder_with_provider(Arc::new(ring::default_provider()))
        .with_safe_default_protocol_versions()
        .expect("ring supports the default TLS versions")
        .with_root_certificates(roots)
        .with_no_client_auth()
}

/// Splits a raw response into status, headers and the bytes after the
/// blank line (the body as sent on the wire, still chunk-encoded if chunked).
pub fn parse_response(raw: &[u8]) -> Option<RawResponse> {
    let end = raw.windows(4).position(|w| w == b"\r\n\r\n")?;
    let head = std::str::from_utf8(&raw[..end]).ok()?;
    let mut lines = head.split("\r\n");
    let status = lines.next()?.split(' ').nth(1)?.parse().ok()?;
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_owned()))
        .collect();
    Some(RawResponse {
        status,
        headers,
        body: raw[end + 4..].to_vec(),
    })
}

/// Sends `GET path` over TLS (trusting `server.ca_file`, SNI `localhost`)
/// with `Connection: close` plus `extra` header lines, and reads to EOF.
pub async fn https_get(server: &ListServer, path: &str, extra: &[(&str, &str)]) -> RawResponse {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let fut = async {
        let connector = tokio_rustls::TlsConnector::from(Arc::new(client_tls(&server.ca_file)));
        let tcp = TcpStream::connect(server.addr).await.expect("connect");
        let name = tokio_rustls::rustls::pki_types::ServerName::try_from("localhost")
            .expect("a valid server name");
        let mut tls = connector.connect(name, tcp).await.expect("TLS handshake");
        let mut req = format!("GET {path} HTTP/1.1\r\nHost: localhost\r\n");
        for (n, v) in extra {
            req.push_str(&format!("{n}: {v}\r\n"));
        }
        req.push_str("Connection: close\r\n\r\n");
        tls.write_all(req.as_bytes()).await.expect("send request");
        let mut raw = Vec::new();
        // Some servers close without close_notify; what was read still counts.
        let _ = tls.read_to_end(&mut raw).await;
        parse_response(&raw).expect("a well-formed HTTP response")
    };
    tokio::time::timeout(Duration::from_secs(5), fut)
        .await
        .expect("a response within 5 s")
}

#[tokio::test]
async fn https_server_serves_artifact_with_etag_and_answers_304() {
    let dir = tempfile::tempdir().unwrap();
    let server = ListServer::start(dir.path()).await;
    assert!(
        server.url.starts_with("https://localhost:"),
        "{}",
        server.url
    );
    assert!(server.url.ends_with(LIST_PATH));
    assert!(server.ca_file.exists());

    let r = https_get(&server, LIST_PATH, &[]).await;
    assert_eq!(r.status, 404, "nothing published yet: {r:?}");

    let artifact = b"WARD\x00signed list bytes".to_vec();
    server.publish(artifact.clone());
    let r = https_get(&server, LIST_PATH, &[("User-Agent", "ward-test")]).await;
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(r.body, artifact);
    let want_etag = format!("\"{}\"", &hex::encode(Sha256::digest(&artifact))[..16]);
    assert_eq!(r.header("etag"), Some(want_etag.as_str()));
    assert_eq!(
        r.header("content-length"),
        Some(artifact.len().to_string().as_str())
    );
    let lm = r.header("last-modified").expect("Last-Modified").to_owned();
    assert!(lm.ends_with(" GMT"), "{lm}");

    let r = https_get(
        &server,
        LIST_PATH,
        &[("If-None-Match", &want_etag), ("If-Modified-Since", &lm)],
    )
    .await;
    assert_eq!(r.status, 304, "{r:?}");
    assert!(r.body.is_empty());

    let r = https_get(
        &server,
        LIST_PATH,
        &[("If-None-Match", "\"0000000000000000\"")],
    )
    .await;
    assert_eq!(r.status, 200, "a stale ETag gets the body");

    server.publish(b"the next serial".to_vec());
    assert_ne!(server.etag().as_deref(), Some(want_etag.as_str()));
    assert_ne!(server.last_modified().as_deref(), Some(lm.as_str()));
    let r = https_get(&server, LIST_PATH, &[("If-None-Match", &want_etag)]).await;
    assert_eq!(r.status, 200, "a new publish invalidates the old ETag");
    assert_eq!(r.body, b"the next serial");

    let seen = server.requests();
    assert_eq!(server.request_count(), 5);
    assert_eq!(
        seen.iter().map(|s| s.status).collect::<Vec<_>>(),
        [404, 200, 304, 200, 200]
    );
    assert_eq!(seen[1].user_agent.as_deref(), Some("ward-test"));
    assert_eq!(seen[2].if_none_match.as_deref(), Some(want_etag.as_str()));
    assert_eq!(seen[2].if_modified_since.as_deref(), Some(lm.as_str()));
    assert!(seen.iter().all(|s| s.path == LIST_PATH));

    server.unpublish();
    assert_eq!(server.etag(), None);
    assert_eq!(https_get(&server, LIST_PATH, &[]).await.status, 404);
}

/// The client ward's updater is built on (reqwest, rustls with ring,
/// offering h2 and http/1.1) gets on with the server too.
#[tokio::test]
async fn https_server_works_with_reqwest() {
    let dir = tempfile::tempdir().unwrap();
    let server = ListServer::start(dir.path()).await;
    server.publish(b"via reqwest".to_vec());
    let client = reqwest::Client::builder()
        .tls_backend_preconfigured(client_tls(&server.ca_file))
        .redirect(reqwest::redirect::Policy::none())
        .user_agent("ward-selftest")
        .timeout(Duration::from_secs(5))
        .build()
        .unwrap();
    let r = client.get(&server.url).send().await.unwrap();
    assert_eq!(r.status(), 200);
    let etag = r.headers()["etag"].to_str().unwrap().to_owned();
    assert_eq!(r.bytes().await.unwrap().as_ref(), b"via reqwest");
    let r = client
        .get(&server.url)
        .header("If-None-Match", &etag)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 304);
    let seen = server.requests();
    assert_eq!(seen[1].user_agent.as_deref(), Some("ward-selftest"));
}

#[tokio::test]
async fn https_server_fail_then_serve_and_status() {
    let dir = tempfile::tempdir().unwrap();
    let server = ListServer::start(dir.path()).await;
    server.publish(b"artifact".to_vec());
    server.set_mode(Mode::FailThenServe { n: 2, status: 500 });
    let mut got = Vec::new();
    for _ in 0..3 {
        got.push(https_get(&server, LIST_PATH, &[]).await.status);
    }
    assert_eq!(got, [500, 500, 200]);

    server.set_mode(Mode::Status(503));
    let r = https_get(&server, "/other.ward", &[]).await;
    assert_eq!(r.status, 503);
    assert!(!r.body.is_empty());
    let r = https_get(&server, LIST_PATH, &[]).await;
    assert_eq!(r.status, 503);
    assert_eq!(server.requests()[3].path, "/other.ward");
    assert!(server.wait_requests(5).await);
}

#[tokio::test]
async fn https_server_huge_announces_length_and_endless_is_chunked() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let dir = tempfile::tempdir().unwrap();
    let server = ListServer::start(dir.path()).await;
    let connector = tokio_rustls::TlsConnector::from(Arc::new(client_tls(&server.ca_file)));
    let name = tokio_rustls::rustls::pki_types::ServerName::try_from("localhost").unwrap();

    for (mode, want) in [
        (Mode::Huge { len: 10 << 30 }, Some("10737418240")),
        (Mode::Endless, None),
    ] {
        server.set_mode(mode);
        let tcp = TcpStream::connect(server.addr).await.unwrap();
        let mut tls = connector.connect(name.clone(), tcp).await.unwrap();
        tls.write_all(
            b"GET /national.ward HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n",
        )
        .await
        .unwrap();
        // Read the head and a good part of the body, then hang up.
        let mut raw = Vec::new();
        let mut buf = vec![0u8; 64 * 1024];
        while raw.len() < 300 * 1024 {
            let n = tokio::time::timeout(Duration::from_secs(5), tls.read(&mut buf))
                .await
                .unwrap()
                .unwrap();
            assert!(n > 0, "the body keeps coming");
            raw.extend_from_slice(&buf[..n]);
        }
        let r = parse_response(&raw).unwrap();
        assert_eq!(r.status, 200);
        assert_eq!(r.header("content-length"), want);
        if want.is_none() {
            assert_eq!(r.header("transfer-encoding"), Some("chunked"));
        }
    }
}

#[tokio::test]
async fn https_server_hang_redirect_slow_and_bad_clients() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let dir = tempfile::tempdir().unwrap();
    let server = ListServer::start(dir.path()).await;
    server.publish(vec![7u8; 30]);

    // A client that does not trust the CA fails its handshake; one that
    // speaks no TLS at all is dropped. The server carries on.
    let other = tempfile::tempdir().unwrap();
    let stranger = ListServer::start(other.path()).await;
    let connector = tokio_rustls::TlsConnector::from(Arc::new(client_tls(&stranger.ca_file)));
    let tcp = TcpStream::connect(server.addr).await.unwrap();
    let name = tokio_rustls::rustls::pki_types::ServerName::try_from("localhost").unwrap();
    assert!(connector.connect(name, tcp).await.is_err());
    let mut tcp = TcpStream::connect(server.addr).await.unwrap();
    tcp.write_all(b"GET / HTTP/1.1\r\n\r\n").await.unwrap();
    let mut sink = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(2), tcp.read_to_end(&mut sink)).await;
    assert_eq!(https_get(&server, LIST_PATH, &[]).await.status, 200);

    server.set_mode(Mode::Redirect("http://127.0.0.1:9/elsewhere.ward".into()));
    let r = https_get(&server, LIST_PATH, &[]).await;
    assert_eq!(r.status, 302);
    assert_eq!(
        r.header("location"),
        Some("http://127.0.0.1:9/elsewhere.ward")
    );
    let r = https_get(&server, "/mirror.ward", &[]).await;
    assert_eq!(r.status, 200, "only the list path redirects");
    assert!(server.second_url("mirror.ward").ends_with("/mirror.ward"));

    // 30 bytes at 100 B/s: the body takes about 0.3 s and arrives whole.
    server.set_mode(Mode::Slow { bytes_per_sec: 100 });
    let t0 = Instant::now();
    let r = https_get(&server, LIST_PATH, &[]).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.body, vec![7u8; 30]);
    assert!(
        t0.elapsed() >= Duration::from_millis(200),
        "{:?}",
        t0.elapsed()
    );

    // Hang: the request is seen (status 0) but nothing comes back.
    server.set_mode(Mode::Hang);
    let before = server.request_count();
    let connector = tokio_rustls::TlsConnector::from(Arc::new(client_tls(&server.ca_file)));
    let tcp = TcpStream::connect(server.addr).await.unwrap();
    let name = tokio_rustls::rustls::pki_types::ServerName::try_from("localhost").unwrap();
    let mut tls = connector.connect(name, tcp).await.unwrap();
    tls.write_all(b"GET /national.ward HTTP/1.1\r\nHost: localhost\r\n\r\n")
        .await
        .unwrap();
    assert!(server.wait_requests(before + 1).await);
    let mut buf = [0u8; 16];
    let quiet = tokio::time::timeout(Duration::from_millis(200), tls.read(&mut buf)).await;
    assert!(quiet.is_err(), "a hanging server sends nothing");
    assert_eq!(server.requests().last().map(|s| s.status), Some(0));

    // Dropping the server closes the held connection and the port.
    let addr = server.addr;
    drop(server);
    let closed = tokio::time::timeout(Duration::from_secs(2), tls.read(&mut buf)).await;
    assert!(matches!(closed, Ok(Ok(0)) | Ok(Err(_))), "{closed:?}");
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert!(
        TcpStream::connect(addr).await.is_err(),
        "no longer accepting"
    );
}

#[tokio::test]
async fn https_server_plain_variant() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let dir = tempfile::tempdir().unwrap();
    let server = ListServer::start_plain(dir.path()).await;
    assert!(
        server.url.starts_with("http://127.0.0.1:"),
        "{}",
        server.url
    );
    assert!(server.ca_file.exists());
    server.publish(b"plain".to_vec());
    let mut tcp = TcpStream::connect(server.addr).await.unwrap();
    tcp.write_all(b"GET /national.ward HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
        .await
        .unwrap();
    let mut raw = Vec::new();
    tokio::time::timeout(Duration::from_secs(5), tcp.read_to_end(&mut raw))
        .await
        .unwrap()
        .unwrap();
    let r = parse_response(&raw).unwrap();
    assert_eq!(r.status, 200);
    assert_eq!(r.body, b"plain");
    assert_eq!(
        server.second_url("/x"),
        format!("http://127.0.0.1:{}/x", server.addr.port())
    );
}
