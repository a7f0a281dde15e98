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
//! * `GET /nodes/{isp}/{node}`, `GET /lag`, `GET /export`, `GET /report`
//!   (basic auth): the node, lag, export-form and annual-report pages.
//! * `GET /api/overview`, `GET /api/nodes/{isp}/{node}` (basic auth): the
//!   same views as JSON.
//! * `GET /export.csv`, `GET /report.csv` (basic auth): CSV, the export
//!   streamed.
//! * `GET /schools`, `GET /schools.csv` (basic auth): the school nodes,
//!   their profiles, lists and counts per profile (`hours=` or
//!   `from=`/`to=`, as the node page).
//!
//! Every page carries [`super::dashboard::CSP`]. Bad query parameters get
//! a 400 saying which and why ([`super::params`]).
//!
//! Every connection gets [`HANDSHAKE_TIMEOUT`] for TLS and
//! [`HEADER_READ_TIMEOUT`] for each request head, so a silent client
//! cannot hold a task forever. On shutdown the loop stops accepting,
//! connections finish their request in flight, and after [`DRAIN_LIMIT`]
//! the rest are dropped. Client addresses are never logged.

use std::collections::BTreeMap;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use arc_swap::ArcSwap;
use axum::Router;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{DefaultBodyLimit, Path, Query, Request, State};
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

mod probes;

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
    /// Successful logins, remembered briefly.
    pub logins: super::auth::LoginCache,
    /// Categories shown only as counts, with neutral wording.
    pub confidential: Vec<String>,
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
        .route("/nodes/{isp}/{node}", get(node_page))
        .route("/schools", get(schools_page))
        .route("/schools.csv", get(schools_csv))
        .route("/lag", get(lag_page))
        .route("/export", get(export_form))
        .route("/export.csv", get(export_csv))
        .route("/report", get(annual_page))
        .route("/report.csv", get(annual_csv))
        .route("/api/overview", get(api_overview))
        .route("/api/nodes", get(api_nodes))
        .route("/api/nodes/{isp}/{node}", get(api_node))
        .route("/api/lag", get(api_lag))
        .route("/api/probes", get(probes::api_probes))
        .route_layer(middleware::from_fn_with_state(
            Arc::clone(&app),
            require_user,
        ));
    Router::new()
        .route(REPORTS_PATH, post(post_report))
        .route(super::probes::PROBES_PATH, post(probes::post_probe))
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
    // Argon2 takes tens of milliseconds: not on the async threads (a
    // remembered login returns at once).
    let ok = tokio::task::spawn_blocking(move || {
        check
            .logins
            .authorized(header.as_deref(), &check.users, Instant::now())
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

/// An HTML page with the dashboard's CSP.
fn html(status: StatusCode, body: String) -> Response {
    (
        status,
        [
            (header::CONTENT_TYPE, "text/html; charset=utf-8"),
            (header::CONTENT_SECURITY_POLICY, super::dashboard::CSP),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
            (header::REFERRER_POLICY, "no-referrer"),
            (header::CACHE_CONTROL, "no-store"),
        ],
        body,
    )
        .into_response()
}

fn json(value: &impl serde::Serialize) -> Response {
    match serde_json::to_string_pretty(value) {
        Ok(json) => ([(header::CONTENT_TYPE, "application/json")], json + "\n").into_response(),
        Err(error) => text(StatusCode::INTERNAL_SERVER_ERROR, format!("{error}\n")),
    }
}

fn bad_request(error: super::params::ParamError) -> Response {
    text(StatusCode::BAD_REQUEST, format!("bad request: {error}\n"))
}

/// A CSV download.
fn csv_headers(filename: &str) -> [(header::HeaderName, String); 3] {
    [
        (
            header::CONTENT_TYPE,
            "text/csv; charset=utf-8; header=present".into(),
        ),
        (
            header::CONTENT_DISPOSITION,
            format!("attachment; filename=\"{filename}\""),
        ),
        (header::CACHE_CONTROL, "no-store".into()),
    ]
}

/// Runs a storage read off the async threads; a failure is the 503.
async fn read<T: Send + 'static>(
    app: &Arc<App>,
    what: &'static str,
    f: impl FnOnce(&App) -> Result<T, super::store::StorageError> + Send + 'static,
) -> Result<T, Response> {
    let app = Arc::clone(app);
    match tokio::task::spawn_blocking(move || f(&app)).await {
        Ok(Ok(v)) => Ok(v),
        Ok(Err(error)) => {
            warn!(%error, "cannot read {what}");
            Err(text(
                StatusCode::SERVICE_UNAVAILABLE,
                "storage unavailable\n".into(),
            ))
        }
        Err(error) => {
            warn!(%error, "cannot read {what}");
            Err(text(
                StatusCode::SERVICE_UNAVAILABLE,
                "storage unavailable\n".into(),
            ))
        }
    }
}

type Params = Query<BTreeMap<String, String>>;

async fn overview_page(State(app): State<Arc<App>>) -> Response {
    let views = match node_views(&app).await {
        Ok(v) => v,
        Err(response) => return response,
    };
    let query = super::store::ProbeQuery {
        isp_id: None,
        limit: OVERVIEW_PROBES,
    };
    let probes = match read(&app, "probe results", move |app| app.store.probes(&query)).await {
        Ok(rows) => rows,
        Err(response) => return response,
    };
    let published = app.published.as_ref().and_then(|t| t.latest());
    html(
        StatusCode::OK,
        super::dashboard::overview(
            &views,
            &probes,
            published.as_deref(),
            jiff::Timestamp::now(),
        ),
    )
}

/// Probe results the overview reads to find each ISP's latest.
const OVERVIEW_PROBES: u32 = 1000;

/// Probe results the node page shows (of its ISP, then filtered to it).
const NODE_PROBES: u32 = 200;

/// `GET /api/overview`: per ISP the nodes in each state and the share
/// current, and the latest serial per list.
async fn api_overview(State(app): State<Arc<App>>) -> Response {
    let views = match node_views(&app).await {
        Ok(v) => v,
        Err(response) => return response,
    };
    let isps: Vec<serde_json::Value> = super::dashboard::summarise(&views)
        .into_iter()
        .map(|(isp, s)| {
            let n = |state| s.counts.get(&state).copied().unwrap_or(0);
            serde_json::json!({
                "isp_id": isp,
                "nodes": s.total,
                "current": n(state::NodeState::Current),
                "behind": n(state::NodeState::Behind),
                "stale": n(state::NodeState::Stale),
                "silent": n(state::NodeState::Silent),
                "compliance_percent": s.compliance_percent(),
            })
        })
        .collect();
    json(&serde_json::json!({
        "generated_at": jiff::Timestamp::now(),
        "latest_serials": super::dashboard::overview::latest_serials(&views),
        "isps": isps,
    }))
}

/// The node and its windows, or the response to send instead.
async fn node_data(
    app: &Arc<App>,
    (isp, node): (String, String),
    params: &BTreeMap<String, String>,
) -> Result<
    (
        super::dashboard::node::NodeDetail,
        Vec<super::store::WindowRow>,
    ),
    Response,
> {
    let now = jiff::Timestamp::now();
    let range = super::params::node_range(params, now).map_err(bad_request)?;
    let (i, n) = (isp.clone(), node.clone());
    let found = read(app, "a node", move |app| {
        let published = app.published.as_ref().and_then(|t| t.latest());
        super::views::node_detail(
            app.store.as_ref(),
            published.as_deref(),
            &app.registry.load(),
            now,
            app.report_interval,
            (&i, &n),
            range,
        )
    })
    .await?;
    found.ok_or_else(|| {
        html(
            StatusCode::NOT_FOUND,
            super::dashboard::not_found(&isp, &node),
        )
    })
}

async fn node_page(
    State(app): State<Arc<App>>,
    Path(ids): Path<(String, String)>,
    Query(params): Params,
) -> Response {
    let query = super::store::ProbeQuery {
        isp_id: Some(ids.0.clone()),
        limit: NODE_PROBES,
    };
    let node = ids.1.clone();
    let probes = match read(&app, "probe results", move |app| app.store.probes(&query)).await {
        Ok(rows) => rows
            .into_iter()
            .filter(|p| p.node_id.as_deref() == Some(node.as_str()))
            .collect::<Vec<_>>(),
        Err(response) => return response,
    };
    let section = (!probes.is_empty()).then(|| super::dashboard::probes::table(&probes));
    match node_data(&app, ids, &params).await {
        Ok((detail, windows)) => html(
            StatusCode::OK,
            super::dashboard::node::node_page(
                &detail,
                &windows,
                &app.confidential,
                section,
                jiff::Timestamp::now(),
            ),
        ),
        Err(response) => response,
    }
}

async fn api_node(
    State(app): State<Arc<App>>,
    Path(ids): Path<(String, String)>,
    Query(params): Params,
) -> Response {
    match node_data(&app, ids, &params).await {
        Ok((detail, windows)) => json(&super::dashboard::node::json(&detail, &windows)),
        Err(response) if response.status() == StatusCode::NOT_FOUND => {
            text(StatusCode::NOT_FOUND, "no such node\n".into())
        }
        Err(response) => response,
    }
}

/// The school nodes over the range the parameters ask for, with it.
async fn schools_data(
    app: &Arc<App>,
    params: &BTreeMap<String, String>,
) -> Result<
    (
        super::params::Range,
        Vec<super::dashboard::schools::SchoolView>,
    ),
    Response,
> {
    let range = super::params::node_range(params, jiff::Timestamp::now()).map_err(bad_request)?;
    let schools = read(app, "the schools", move |app| {
        super::views::schools(app.store.as_ref(), range)
    })
    .await?;
    Ok((range, schools))
}

async fn schools_page(State(app): State<Arc<App>>, Query(params): Params) -> Response {
    match schools_data(&app, &params).await {
        Ok((range, schools)) => html(
            StatusCode::OK,
            super::dashboard::schools::schools_page(
                &schools,
                range,
                &app.confidential,
                jiff::Timestamp::now(),
            ),
        ),
        Err(response) => response,
    }
}

async fn schools_csv(State(app): State<Arc<App>>, Query(params): Params) -> Response {
    match schools_data(&app, &params).await {
        Ok((range, schools)) => (
            csv_headers(&format!(
                "ward-schools-{}-{}.csv",
                range.from.strftime("%Y%m%dT%H%M%SZ"),
                range.to.strftime("%Y%m%dT%H%M%SZ")
            )),
            super::dashboard::schools::schools_csv(&schools, range),
        )
            .into_response(),
        Err(response) => response,
    }
}

async fn lag_page(State(app): State<Arc<App>>) -> Response {
    match read(&app, "activation lags", |app| app.store.activation_lags()).await {
        Ok(rows) => html(
            StatusCode::OK,
            super::dashboard::lag::lag_page(
                &super::lag::distribution(&rows),
                jiff::Timestamp::now(),
            ),
        ),
        Err(response) => response,
    }
}

async fn export_form() -> Response {
    html(
        StatusCode::OK,
        super::dashboard::export_form(jiff::Timestamp::now()),
    )
}

/// A byte stream fed by a blocking producer.
struct Chunks(tokio::sync::mpsc::Receiver<Result<Bytes, std::io::Error>>);

impl futures_core::Stream for Chunks {
    type Item = Result<Bytes, std::io::Error>;

    fn poll_next(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Self::Item>> {
        self.0.poll_recv(cx)
    }
}

/// Why the export producer stopped early.
enum ExportStop {
    Storage(super::store::StorageError),
    /// The client went away.
    Gone,
}

impl From<super::store::StorageError> for ExportStop {
    fn from(e: super::store::StorageError) -> Self {
        Self::Storage(e)
    }
}

/// `GET /export.csv?from=&to=`: streamed, node by node, a day at a time.
/// A storage failure midway aborts the response (the client sees a
/// truncated transfer, not a short file that looks whole).
async fn export_csv(State(app): State<Arc<App>>, Query(params): Params) -> Response {
    const FLUSH: usize = 64 << 10;
    let range = match super::params::export_range(&params) {
        Ok(r) => r,
        Err(error) => return bad_request(error),
    };
    let (tx, rx) = tokio::sync::mpsc::channel(4);
    let producer = Arc::clone(&app);
    tokio::task::spawn_blocking(move || {
        let mut buf = super::dashboard::csv::export_header();
        let walked = super::views::for_each_window(
            producer.store.as_ref(),
            range,
            super::views::EXPORT_CHUNK,
            super::views::Take::Overlapping,
            |w| {
                super::dashboard::csv::export_rows(&mut buf, w);
                if buf.len() >= FLUSH {
                    let chunk = Bytes::from(std::mem::take(&mut buf));
                    tx.blocking_send(Ok(chunk)).map_err(|_| ExportStop::Gone)?;
                }
                Ok(())
            },
        );
        match walked {
            Ok(()) => {
                let _ = tx.blocking_send(Ok(Bytes::from(buf)));
            }
            Err(ExportStop::Gone) => debug!("export: the client went away"),
            Err(ExportStop::Storage(error)) => {
                warn!(%error, "export aborted: cannot read the windows");
                let _ = tx.blocking_send(Err(std::io::Error::other(error.to_string())));
            }
        }
    });
    let name = format!(
        "ward-export-{}-{}.csv",
        range.from.strftime("%Y%m%dT%H%M%SZ"),
        range.to.strftime("%Y%m%dT%H%M%SZ")
    );
    (
        csv_headers(&name),
        axum::body::Body::from_stream(Chunks(rx)),
    )
        .into_response()
}

async fn annual_report(
    app: &Arc<App>,
    params: &BTreeMap<String, String>,
) -> Result<super::dashboard::annual::AnnualReport, Response> {
    let now = jiff::Timestamp::now();
    let year = super::params::year(params, now).map_err(bad_request)?;
    read(app, "the year's windows", move |app| {
        super::views::annual(
            app.store.as_ref(),
            &app.registry.load(),
            now,
            app.report_interval,
            year,
        )
    })
    .await
}

async fn annual_page(State(app): State<Arc<App>>, Query(params): Params) -> Response {
    match annual_report(&app, &params).await {
        Ok(r) => html(
            StatusCode::OK,
            super::dashboard::annual::html(&r, &app.confidential),
        ),
        Err(response) => response,
    }
}

async fn annual_csv(State(app): State<Arc<App>>, Query(params): Params) -> Response {
    match annual_report(&app, &params).await {
        Ok(r) => (
            csv_headers(&format!("ward-annual-{}.csv", r.year)),
            super::dashboard::annual::to_csv(&r),
        )
            .into_response(),
        Err(response) => response,
    }
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
