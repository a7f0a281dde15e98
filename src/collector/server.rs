//! The collector's HTTP(S) listener: one accept loop, TLS (rustls) when
//! `[tls]` is set, hyper HTTP/1.1 per connection, an axum router inside.
//!
//! * `POST /v1/reports`: ingest ([`super::ingest`]); the body is capped at
//!   `max_body`; the answer is sent only after the storage committed.
//! * `GET /healthz`: 200 while the process answers.
//! * `GET /metrics`: [`super::metrics::CollectorMetrics`].
//! * `GET /api/nodes` (basic auth, [`super::auth`]): every node with its
//!   state ([`super::state::NodeView`]).
//! * `GET /api/lag` (basic auth): activation lag per serial
//!   ([`super::lag::LagSummary`]).
//! * `POST /v1/probes`, `GET /api/probes` (basic auth): probe results
//!   ([`super::probes`]).
//! * `GET /` (basic auth): the overview page ([`super::dashboard`]).
//!
//! Every connection gets [`HANDSHAKE_TIMEOUT`] for TLS and
//! [`HEADER_READ_TIMEOUT`] for each request head, so a silent client
//! cannot hold a task forever. On shutdown the loop stops accepting,
//! connections finish their request in flight, and after [`DRAIN_LIMIT`]
//! the rest are dropped. Client addresses are never logged.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use arc_swap::ArcSwap;
use axum::Router;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{DefaultBodyLimit, Request, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::{TcpListener, TcpStream};
use tokio_rustls::TlsAcceptor;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::{debug, info, warn};

use super::ingest::{self, IngestResult, Rejection};
use super::metrics::CollectorMetrics;
use super::state;
use super::store::{Inserted, Storage};
use crate::config::collector::User;
use crate::config::registry::Registry;
use crate::report::send::SIGNATURE_HEADER;

/// The path nodes POST to (`report.url` ends in it).
pub const REPORTS_PATH: &str = "/v1/reports";
/// Longest TLS handshake.
pub const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// Longest wait for a request head.
pub const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(30);
/// How long shutdown waits for open connections.
pub const DRAIN_LIMIT: Duration = Duration::from_secs(5);
/// Content type of `/metrics`.
const OPENMETRICS: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// What the handlers share.
pub struct App {
    /// The node keys; replaced whole on SIGHUP.
    pub registry: ArcSwap<Registry>,
    /// Reads (API, dashboard).
    pub store: Arc<dyn Storage>,
    /// Writes, group-committed.
    pub writer: super::writer::Writer,
    pub metrics: Arc<CollectorMetrics>,
    /// Largest request body, bytes.
    pub max_body: usize,
    /// Who may see the dashboard and API.
    pub users: Vec<User>,
    /// The nodes' report interval (for `silent`).
    pub report_interval: Duration,
    /// `[published]`: the list the ministry publishes; `None`: not
    /// configured.
    pub published: Option<Arc<super::published::Tracker>>,
}

impl std::fmt::Debug for App {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("App")
            .field("nodes", &self.registry.load().nodes().len())
            .field("max_body", &self.max_body)
            .finish_non_exhaustive()
    }
}

/// The routes.
pub fn router(app: Arc<App>) -> Router {
    let limit = app.max_body;
    let private = Router::new()
        .route("/", get(overview_page))
        .route("/api/nodes", get(api_nodes))
        .route("/api/lag", get(api_lag))
        .route("/api/probes", get(super::probes::api_probes))
        .route_layer(middleware::from_fn_with_state(
            Arc::clone(&app),
            require_user,
        ));
    Router::new()
        .route(REPORTS_PATH, post(post_report))
        .route(super::probes::PROBES_PATH, post(super::probes::post_probe))
        .route("/healthz", get(healthz))
        .route("/metrics", get(metrics))
        .merge(private)
        .fallback(not_found)
        .layer(DefaultBodyLimit::max(limit))
        .with_state(app)
}

/// Serves `app` on `listener` (TLS when `tls` is given) until `shutdown`
/// resolves, then drains for at most [`DRAIN_LIMIT`].
pub async fn serve(
    listener: TcpListener,
    tls: Option<Arc<rustls::ServerConfig>>,
    app: Arc<App>,
    shutdown: impl Future<Output = ()> + Send,
) -> std::io::Result<()> {
    let addr = listener.local_addr()?;
    match tls {
        Some(_) => info!("listening for HTTPS on {addr}"),
        None => {
            info!("listening for HTTP on {addr}");
            if !addr.ip().is_loopback() {
                warn!(
                    %addr,
                    "plain HTTP on a non-loopback address: put a TLS-terminating proxy in front, or set [tls]"
                );
            }
        }
    }
    let acceptor = tls.map(TlsAcceptor::from);
    let router = router(app);
    let tracker = TaskTracker::new();
    let closing = CancellationToken::new();
    tokio::pin!(shutdown);
    loop {
        let accepted = tokio::select! {
            () = &mut shutdown => break,
            accepted = listener.accept() => accepted,
        };
        let (tcp, _peer): (TcpStream, SocketAddr) = match accepted {
            Ok(a) => a,
            Err(error) => {
                // EMFILE and friends: back off briefly, keep serving.
                warn!(%error, "accept failed");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let (acceptor, router, closing) = (acceptor.clone(), router.clone(), closing.clone());
        tracker.spawn(async move {
            let _ = tcp.set_nodelay(true);
            match acceptor {
                Some(acceptor) => {
                    match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(tcp)).await {
                        Ok(Ok(stream)) => serve_connection(stream, router, closing).await,
                        Ok(Err(error)) => debug!(%error, "TLS handshake failed"),
                        Err(_) => debug!("TLS handshake timed out"),
                    }
                }
                None => serve_connection(tcp, router, closing).await,
            }
        });
    }
    drop(listener);
    closing.cancel();
    tracker.close();
    if tokio::time::timeout(DRAIN_LIMIT, tracker.wait())
        .await
        .is_err()
    {
        warn!(limit = ?DRAIN_LIMIT, "connections still open after the drain limit; closing");
    }
    Ok(())
}

async fn serve_connection<S>(io: S, router: Router, closing: CancellationToken)
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let conn = hyper::server::conn::http1::Builder::new()
        .timer(TokioTimer::new())
        .header_read_timeout(HEADER_READ_TIMEOUT)
        .serve_connection(TokioIo::new(io), TowerToHyperService::new(router));
    tokio::pin!(conn);
    tokio::select! {
        result = conn.as_mut() => {
            if let Err(error) = result {
                debug!(%error, "connection ended with an error");
            }
        }
        () = closing.cancelled() => {
            conn.as_mut().graceful_shutdown();
            let _ = conn.await;
        }
    }
}

fn text(status: StatusCode, body: String) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
        body,
    )
        .into_response()
}

async fn post_report(
    State(app): State<Arc<App>>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let started = Instant::now();
    let (result, response) = ingest_one(&app, &headers, body).await;
    app.metrics.count(result);
    app.metrics.observe_ingest(started.elapsed().as_secs_f64());
    response
}

async fn ingest_one(
    app: &Arc<App>,
    headers: &HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> (IngestResult, Response) {
    let refuse = |rejection: Rejection| {
        warn!(result = rejection.result().as_str(), reason = %rejection, "report refused");
        let status = StatusCode::from_u16(rejection.status()).unwrap_or(StatusCode::BAD_REQUEST);
        (rejection.result(), text(status, format!("{rejection}\n")))
    };
    let body = match body {
        Ok(body) => body,
        Err(e) if e.status() == StatusCode::PAYLOAD_TOO_LARGE => {
            return refuse(Rejection::TooLarge {
                limit: u64::try_from(app.max_body).unwrap_or(u64::MAX),
            });
        }
        Err(e) => {
            return refuse(Rejection::NotJson {
                detail: format!("cannot read the body: {e}"),
            });
        }
    };
    let signature = headers
        .get(SIGNATURE_HEADER)
        .map(|v| v.to_str().unwrap_or(""));
    let accepted = match ingest::verify(
        signature,
        &body,
        &app.registry.load(),
        jiff::Timestamp::now(),
    ) {
        Ok(a) => a,
        Err(rejection) => return refuse(rejection),
    };
    let (isp, node, id) = (
        accepted.report.isp_id.clone(),
        accepted.report.node_id.clone(),
        accepted.report.report_id.clone(),
    );
    let stored = app.writer.insert(accepted).await;
    match stored {
        Ok(Inserted::Stored { flags }) if flags.is_empty() => {
            debug!(%isp, %node, report_id = %id, "report stored");
            (
                IngestResult::Stored,
                text(StatusCode::OK, "stored\n".into()),
            )
        }
        Ok(Inserted::Stored { flags }) => {
            let flags: Vec<&str> = flags.iter().map(|f| f.as_str()).collect();
            let flags = flags.join(",");
            warn!(%isp, %node, report_id = %id, %flags, "report stored but flagged: its window overlaps or runs backwards");
            (
                IngestResult::Flagged,
                text(StatusCode::OK, format!("stored, flagged: {flags}\n")),
            )
        }
        Ok(Inserted::Duplicate) => {
            debug!(%isp, %node, report_id = %id, "duplicate report acknowledged");
            (
                IngestResult::Duplicate,
                text(StatusCode::OK, "duplicate: already stored\n".into()),
            )
        }
        Err(error) => {
            warn!(%error, %isp, %node, report_id = %id, "report not stored; the node will retry");
            (
                IngestResult::StorageError,
                text(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "storage unavailable; retry later\n".into(),
                ),
            )
        }
    }
}

/// Lets a request through only with a valid basic-auth login.
async fn require_user(State(app): State<Arc<App>>, request: Request, next: Next) -> Response {
    let header = request
        .headers()
        .get(header::AUTHORIZATION)
        .map(|v| v.as_bytes().to_vec());
    let check = Arc::clone(&app);
    // Argon2 takes tens of milliseconds: not on the async threads.
    let ok = tokio::task::spawn_blocking(move || {
        super::auth::authorized(header.as_deref(), &check.users)
    })
    .await
    .unwrap_or(false);
    if ok {
        next.run(request).await
    } else {
        (
            StatusCode::UNAUTHORIZED,
            [(header::WWW_AUTHENTICATE, super::auth::CHALLENGE)],
            "authentication required\n",
        )
            .into_response()
    }
}

/// Every node's view now, or the 503 to answer.
async fn node_views(app: &Arc<App>) -> Result<Vec<state::NodeView>, Response> {
    let store = Arc::clone(&app.store);
    let rows = match tokio::task::spawn_blocking(move || store.nodes()).await {
        Ok(Ok(rows)) => rows,
        Ok(Err(error)) => {
            warn!(%error, "cannot read nodes");
            return Err(text(
                StatusCode::SERVICE_UNAVAILABLE,
                "storage unavailable\n".into(),
            ));
        }
        Err(error) => {
            warn!(%error, "cannot read nodes");
            return Err(text(
                StatusCode::SERVICE_UNAVAILABLE,
                "storage unavailable\n".into(),
            ));
        }
    };
    let published = app.published.as_ref().and_then(|t| t.latest());
    let views = state::nodes_against(
        &rows,
        published.as_deref(),
        &app.registry.load(),
        jiff::Timestamp::now(),
        app.report_interval,
    );
    app.metrics.set_nodes(&views);
    Ok(views)
}

async fn api_nodes(State(app): State<Arc<App>>) -> Response {
    let views = match node_views(&app).await {
        Ok(v) => v,
        Err(response) => return response,
    };
    match serde_json::to_string_pretty(&views) {
        Ok(json) => ([(header::CONTENT_TYPE, "application/json")], json + "\n").into_response(),
        Err(error) => text(StatusCode::INTERNAL_SERVER_ERROR, format!("{error}\n")),
    }
}

async fn api_lag(State(app): State<Arc<App>>) -> Response {
    let store = Arc::clone(&app.store);
    let Ok(Ok(rows)) = tokio::task::spawn_blocking(move || store.activation_lags()).await else {
        return text(
            StatusCode::SERVICE_UNAVAILABLE,
            "storage unavailable\n".into(),
        );
    };
    match serde_json::to_string_pretty(&super::lag::distribution(&rows)) {
        Ok(json) => ([(header::CONTENT_TYPE, "application/json")], json + "\n").into_response(),
        Err(error) => text(StatusCode::INTERNAL_SERVER_ERROR, format!("{error}\n")),
    }
}

async fn overview_page(State(app): State<Arc<App>>) -> Response {
    let views = match node_views(&app).await {
        Ok(v) => v,
        Err(response) => return response,
    };
    (
        [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
        super::dashboard::overview(&views, jiff::Timestamp::now()),
    )
        .into_response()
}

async fn healthz() -> &'static str {
    "ok\n"
}

async fn metrics(State(app): State<Arc<App>>) -> Response {
    // Node states are worked out at scrape time.
    if let Err(response) = node_views(&app).await {
        return response;
    }
    ([(header::CONTENT_TYPE, OPENMETRICS)], app.metrics.encode()).into_response()
}

async fn not_found() -> Response {
    text(StatusCode::NOT_FOUND, "not found\n".into())
}
