//! The admin HTTP listener: `/metrics`, `/healthz` and `/readyz`.
//!
//! * `GET /metrics`: the OpenMetrics exposition of [`Metrics`]. Before
//!   encoding, the time- and state-dependent gauges are brought up to date
//!   (`ward_ready` from the probe, `ward_list_stale` from the clock), so a
//!   scrape never reads a stale verdict.
//! * `GET /healthz`: 200 while the process can answer HTTP at all.
//! * `GET /readyz`: 200 when the [`ReadinessProbe`] says ready (with one
//!   `warning: <text>` line per warning, e.g. a stale list), else 503 with
//!   one `not ready: <reason>` line per reason.
//! * `GET /list/status`: the list in force and the updater's state as JSON
//!   ([`ListStatus`]); what `ward list status` prints.
//!
//! Anything else is 404 (405 for a wrong method on a known path).
//!
//! Limits, so that nothing on this port can take DNS down (issue 24 found
//! 2,000 slowloris connections held open and 20,000 exhausting ward's
//! file descriptors):
//!
//! * a request head must arrive within [`HEADER_TIMEOUT`], and a
//!   connection lives at most [`CONNECTION_LIFETIME`] (a scrape takes
//!   milliseconds), so neither a slow head nor a dribbled body nor an idle
//!   keep-alive holds a connection;
//! * at most [`MAX_CONNECTIONS`] connections at once; when full, the
//!   oldest is closed for the new one (legitimate requests finish in
//!   milliseconds, so the oldest is a slow one), and one client address
//!   holds at most [`MAX_PER_CLIENT`], so a monitoring system on another
//!   address always gets in;
//! * every connection ward closes itself is counted in
//!   `ward_connections_closed_total{listener="admin"}` by reason;
//! * hyper's HTTP/1 defaults otherwise (about 400 KiB of read buffer, at
//!   most 100 headers). After `shutdown`, open connections get at most
//!   [`DRAIN_LIMIT`].
//!
//! Bind the listener to a management address: it has no authentication.

use std::collections::{HashMap, VecDeque};
use std::fmt;
use std::future::Future;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::get;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use tokio::net::{TcpListener, TcpStream};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::{debug, info, warn};

use crate::instrument::CloseReason;
use crate::metrics::{Listener, Metrics};
pub use crate::update::ListStatus;

/// Content type of the `/metrics` response.
pub const OPENMETRICS_CONTENT_TYPE: &str =
    "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// How long [`serve`] waits for open connections once `shutdown` resolves.
pub const DRAIN_LIMIT: Duration = Duration::from_secs(5);
/// The longest wait for a request head.
pub const HEADER_TIMEOUT: Duration = Duration::from_secs(5);
/// The longest life of one connection.
pub const CONNECTION_LIFETIME: Duration = Duration::from_secs(30);
/// Connections open at once.
pub const MAX_CONNECTIONS: usize = 64;
/// Connections open at once from one client address.
pub const MAX_PER_CLIENT: usize = 16;

/// Whether the node should receive traffic, and if not, why.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Readiness {
    pub ready: bool,
    /// Operator-facing reasons, one line each; empty when ready.
    pub reasons: Vec<String>,
    /// Conditions worth an operator's attention that do not stop the node
    /// from serving (a stale list is still enforced).
    pub warnings: Vec<String>,
}

/// Decides readiness for `/readyz` (and `ward_ready` at scrape time).
/// Called on every request: it must be cheap and must not block.
pub trait ReadinessProbe: Send + Sync + 'static {
    fn readiness(&self) -> Readiness;

    /// The list in force and how it is kept up to date; `None` serves 404.
    fn list_status(&self) -> Option<ListStatus> {
        None
    }
}

/// What the admin handlers need.
#[derive(Clone)]
pub struct AdminState {
    pub metrics: Arc<Metrics>,
    pub probe: Arc<dyn ReadinessProbe>,
}

impl fmt::Debug for AdminState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AdminState")
            .field("metrics", &self.metrics)
            .finish_non_exhaustive()
    }
}

/// Serves the admin endpoints on `listener` until `shutdown` resolves,
/// then stops accepting, lets in-flight requests finish, and returns once
/// every connection has closed or [`DRAIN_LIMIT`] has passed.
pub async fn serve(
    listener: TcpListener,
    state: AdminState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    serve_with_drain(listener, state, shutdown, DRAIN_LIMIT).await
}

async fn serve_with_drain(
    listener: TcpListener,
    state: AdminState,
    shutdown: impl Future<Output = ()> + Send + 'static,
    drain: Duration,
) -> std::io::Result<()> {
    let addr = listener.local_addr()?;
    info!("admin listening on {addr}");
    let metrics = Arc::clone(&state.metrics);
    let closed = move |reason| metrics.connection_closed(Listener::Admin, reason);
    let router = router(state);
    let closing = CancellationToken::new();
    let tracker = TaskTracker::new();
    let open = Arc::new(Mutex::new(Open::default()));
    tokio::pin!(shutdown);
    loop {
        let (tcp, peer) = tokio::select! {
            () = &mut shutdown => break,
            accepted = listener.accept() => match accepted {
                Ok(pair) => pair,
                Err(error) => {
                    // Out of file descriptors, say: wait instead of spinning.
                    warn!(%error, "admin listener: accept failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
        };
        let admitted = lock(&open).admit(peer.ip(), &closing);
        let Some((id, token, evicted)) = admitted else {
            debug!("admin listener: client at its connection cap; closed");
            closed(CloseReason::ClientCap);
            continue;
        };
        if evicted {
            closed(CloseReason::Evicted);
        }
        let closed = closed.clone();
        let router = router.clone();
        let entry = Entry {
            open: Arc::clone(&open),
            id,
            client: peer.ip(),
        };
        tracker.spawn(async move {
            let _entry = entry;
            if let Some(reason) = serve_connection(tcp, router, token).await {
                closed(reason);
            }
        });
    }
    tracker.close();
    closing.cancel();
    if tokio::time::timeout(drain, tracker.wait()).await.is_err() {
        warn!(limit = ?drain, "admin connections still open after the drain limit; closing");
    }
    Ok(())
}

/// One connection: hyper HTTP/1 with a header timeout, for at most
/// [`CONNECTION_LIFETIME`], closed early when `token` is cancelled.
/// Returns why ward cut it short, if it did so for a limit.
async fn serve_connection(
    tcp: TcpStream,
    router: Router,
    token: CancellationToken,
) -> Option<CloseReason> {
    let conn = hyper::server::conn::http1::Builder::new()
        .timer(TokioTimer::new())
        .header_read_timeout(HEADER_TIMEOUT)
        .serve_connection(TokioIo::new(tcp), TowerToHyperService::new(router));
    tokio::pin!(conn);
    tokio::select! {
        result = conn.as_mut() => match result {
            Err(error) if error.is_timeout() => Some(CloseReason::Idle),
            Err(error) => {
                debug!(%error, "admin connection ended with an error");
                None
            }
            Ok(()) => None,
        },
        () = tokio::time::sleep(CONNECTION_LIFETIME) => Some(CloseReason::Lifetime),
        () = token.cancelled() => {
            conn.as_mut().graceful_shutdown();
            let _ = tokio::time::timeout(Duration::from_millis(100), conn).await;
            None
        }
    }
}

/// Forgets a connection when its task ends, however it ends.
struct Entry {
    open: Arc<Mutex<Open>>,
    id: u64,
    client: IpAddr,
}

impl Drop for Entry {
    fn drop(&mut self) {
        lock(&self.open).remove(self.id, self.client);
    }
}

/// The open connections, oldest first, and how many each address holds.
#[derive(Debug, Default)]
struct Open {
    next: u64,
    conns: VecDeque<(u64, IpAddr, CancellationToken)>,
    per_client: HashMap<IpAddr, usize>,
}

impl Open {
    /// Registers a new connection from `client`: `None` when that address
    /// holds [`MAX_PER_CLIENT`] already. When [`MAX_CONNECTIONS`] are open,
    /// the oldest connection of the address holding the most is told to
    /// close (a flood from a few addresses cannot push a monitoring
    /// system's request out); the flag says whether one was.
    fn admit(
        &mut self,
        client: IpAddr,
        closing: &CancellationToken,
    ) -> Option<(u64, CancellationToken, bool)> {
        let held = self.per_client.entry(client).or_default();
        if *held >= MAX_PER_CLIENT {
            return None;
        }
        *held += 1;
        let mut evicted = false;
        if self.conns.len() >= MAX_CONNECTIONS {
            let heaviest = self
                .per_client
                .iter()
                .max_by_key(|(_, n)| **n)
                .map(|(c, _)| *c);
            let at = self.conns.iter().position(|(_, c, _)| Some(*c) == heaviest);
            if let Some((_, _, oldest)) = at.and_then(|i| self.conns.remove(i)) {
                oldest.cancel();
                evicted = true;
            }
        }
        self.next += 1;
        let token = closing.child_token();
        self.conns.push_back((self.next, client, token.clone()));
        Some((self.next, token, evicted))
    }

    fn remove(&mut self, id: u64, client: IpAddr) {
        self.conns.retain(|(i, _, _)| *i != id);
        if let Some(held) = self.per_client.get_mut(&client) {
            *held = held.saturating_sub(1);
            if *held == 0 {
                self.per_client.remove(&client);
            }
        }
    }
}

/// A poisoned lock still holds consistent data: every critical section
/// only pushes, pops or counts.
fn lock(m: &Mutex<Open>) -> std::sync::MutexGuard<'_, Open> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

fn router(state: AdminState) -> Router {
    Router::new()
        .route("/metrics", get(metrics))
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/list/status", get(list_status))
        .fallback(not_found)
        .with_state(state)
}

async fn metrics(State(state): State<AdminState>) -> impl IntoResponse {
    state.metrics.set_ready(state.probe.readiness().ready);
    state.metrics.list().refresh_expiry(jiff::Timestamp::now());
    (
        [(header::CONTENT_TYPE, OPENMETRICS_CONTENT_TYPE)],
        state.metrics.encode(),
    )
}

async fn healthz() -> &'static str {
    "ok\n"
}

async fn readyz(State(state): State<AdminState>) -> (StatusCode, String) {
    let r = state.probe.readiness();
    if r.ready {
        let mut body = "ready\n".to_owned();
        for warning in &r.warnings {
            body.push_str("warning: ");
            body.push_str(&warning.replace(['\r', '\n'], " "));
            body.push('\n');
        }
        return (StatusCode::OK, body);
    }
    let mut body = String::new();
    for reason in &r.reasons {
        body.push_str("not ready: ");
        // One reason per line, whatever the probe wrote.
        body.push_str(&reason.replace(['\r', '\n'], " "));
        body.push('\n');
    }
    if body.is_empty() {
        body.push_str("not ready\n");
    }
    (StatusCode::SERVICE_UNAVAILABLE, body)
}

async fn list_status(State(state): State<AdminState>) -> axum::response::Response {
    match state.probe.list_status() {
        Some(status) => (
            [(header::CONTENT_TYPE, "application/json")],
            serde_json::to_string_pretty(&status).unwrap_or_default() + "\n",
        )
            .into_response(),
        None => (StatusCode::NOT_FOUND, "no list status\n").into_response(),
    }
}

async fn not_found() -> (StatusCode, &'static str) {
    (StatusCode::NOT_FOUND, "not found\n")
}

#[cfg(test)]
mod tests {
    use std::net::SocketAddr;
    use std::sync::atomic::{AtomicBool, Ordering};

    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::TcpStream;
    use tokio::sync::oneshot;
    use tokio::task::JoinHandle;
    use tokio::time::timeout;

    use super::*;
    use crate::dns::{Protocol, QueryResult};

    #[derive(Default)]
    struct Flag(AtomicBool);

    impl ReadinessProbe for Flag {
        fn readiness(&self) -> Readiness {
            if self.0.load(Ordering::SeqCst) {
                Readiness {
                    ready: true,
                    reasons: Vec::new(),
                    warnings: vec!["the list is stale".into()],
                }
            } else {
                Readiness {
                    ready: false,
                    reasons: vec!["no verified list is loaded".into(), "two\nlines".into()],
                    warnings: Vec::new(),
                }
            }
        }
    }

    struct Running {
        addr: SocketAddr,
        metrics: Arc<Metrics>,
        probe: Arc<Flag>,
        stop: oneshot::Sender<()>,
        task: JoinHandle<std::io::Result<()>>,
    }

    async fn start(drain: Duration) -> Running {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let metrics = Arc::new(Metrics::new());
        let probe = Arc::new(Flag::default());
        let state = AdminState {
            metrics: Arc::clone(&metrics),
            probe: Arc::clone(&probe) as Arc<dyn ReadinessProbe>,
        };
        let (stop, stopped) = oneshot::channel::<()>();
        let shutdown = async move {
            let _ = stopped.await;
        };
        let task = tokio::spawn(serve_with_drain(listener, state, shutdown, drain));
        Running {
            addr,
            metrics,
            probe,
            stop,
            task,
        }
    }

    /// (status, lower-cased head, body) of one HTTP/1.1 request.
    async fn request(addr: SocketAddr, method: &str, path: &str) -> (u16, String, String) {
        let mut s = TcpStream::connect(addr).await.unwrap();
        let req = format!("{method} {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
        s.write_all(req.as_bytes()).await.unwrap();
        let mut buf = Vec::new();
        timeout(Duration::from_secs(10), s.read_to_end(&mut buf))
            .await
            .expect("response within 10 s")
            .unwrap();
        let text = String::from_utf8(buf).unwrap();
        let (head, body) = text.split_once("\r\n\r\n").unwrap();
        let status = head.split(' ').nth(1).unwrap().parse().unwrap();
        (status, head.to_ascii_lowercase(), body.to_owned())
    }

    async fn get(addr: SocketAddr, path: &str) -> (u16, String, String) {
        request(addr, "GET", path).await
    }

    #[tokio::test]
    async fn routes() {
        let s = start(DRAIN_LIMIT).await;

        let (status, _, body) = get(s.addr, "/healthz").await;
        assert_eq!((status, body.as_str()), (200, "ok\n"));

        s.metrics.dns().query(Protocol::Udp, QueryResult::Blocked);
        let (status, head, body) = get(s.addr, "/metrics").await;
        assert_eq!(status, 200);
        assert!(
            head.contains(
                "\r\ncontent-type: application/openmetrics-text; version=1.0.0; charset=utf-8\r\n"
            ),
            "{head}"
        );
        assert!(
            body.contains("ward_queries_total{protocol=\"udp\",result=\"blocked\"} 1\n"),
            "{body}"
        );
        assert!(body.ends_with("# EOF\n"), "{body}");

        for path in ["/", "/nope", "/metrics/", "/healthz/x"] {
            assert_eq!(get(s.addr, path).await.0, 404, "{path}");
        }
        assert_eq!(request(s.addr, "POST", "/metrics").await.0, 405);

        s.stop.send(()).unwrap();
        s.task.await.unwrap().unwrap();
    }

    #[tokio::test]
    async fn readyz_follows_the_probe() {
        let s = start(DRAIN_LIMIT).await;
        let (status, _, body) = get(s.addr, "/readyz").await;
        assert_eq!(status, 503);
        assert_eq!(
            body,
            "not ready: no verified list is loaded\nnot ready: two lines\n"
        );
        let (_, _, m) = get(s.addr, "/metrics").await;
        assert!(m.contains("\nward_ready 0\n"), "{m}");

        s.probe.0.store(true, Ordering::SeqCst);
        let (status, _, body) = get(s.addr, "/readyz").await;
        assert_eq!(
            (status, body.as_str()),
            (200, "ready\nwarning: the list is stale\n")
        );
        let (_, _, m) = get(s.addr, "/metrics").await;
        assert!(m.contains("\nward_ready 1\n"), "{m}");

        s.stop.send(()).unwrap();
        s.task.await.unwrap().unwrap();
    }

    #[tokio::test]
    async fn shutdown_completes_serve() {
        let s = start(DRAIN_LIMIT).await;
        assert_eq!(get(s.addr, "/healthz").await.0, 200);
        // An idle keep-alive connection must not hold shutdown up.
        let mut idle = TcpStream::connect(s.addr).await.unwrap();
        idle.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
            .await
            .unwrap();
        let mut buf = [0u8; 512];
        let n = idle.read(&mut buf).await.unwrap();
        assert!(buf[..n].starts_with(b"HTTP/1.1 200"));

        assert!(!s.task.is_finished());
        s.stop.send(()).unwrap();
        timeout(Duration::from_secs(2), s.task)
            .await
            .expect("serve returns promptly after shutdown")
            .unwrap()
            .unwrap();
        // The listener is closed.
        assert!(TcpStream::connect(s.addr).await.is_err());
    }

    #[tokio::test]
    async fn a_stalled_request_cannot_hold_shutdown_past_the_drain_limit() {
        let s = start(Duration::from_millis(200)).await;
        let mut stalled = TcpStream::connect(s.addr).await.unwrap();
        stalled
            .write_all(b"GET /metrics HTTP/1.1\r\nHo")
            .await
            .unwrap();
        // Let the server read the partial head.
        assert_eq!(get(s.addr, "/healthz").await.0, 200);
        s.stop.send(()).unwrap();
        timeout(Duration::from_secs(2), s.task)
            .await
            .expect("serve returns after the drain limit")
            .unwrap()
            .unwrap();
        // The stalled connection was closed rather than waited for.
        let mut rest = Vec::new();
        let read = timeout(Duration::from_secs(2), stalled.read_to_end(&mut rest)).await;
        assert!(read.is_ok(), "the stalled connection is closed");
    }
}
