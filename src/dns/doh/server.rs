//! The DoH listener: TLS (ALPN `h2`, `http/1.1`), then HTTP/2 or HTTP/1.1
//! through hyper, each request read by the `request` module and
//! answered by the engine.
//!
//! Bounded cost for hostile clients, each refusal counted:
//!
//! * **connections:** at most `max_connections` per listener and
//!   `max_connections_per_client` per client address (IPv6 by /64); a new
//!   connection over either is closed at once
//!   (`ward_connections_closed_total{listener="dns_doh",reason="full"|"client_cap"}`);
//! * **handshake:** a TLS handshake that fails or does not finish within
//!   `handshake_timeout` is dropped (`reason="handshake"`);
//! * **idle:** a connection with no request in progress for
//!   `idle_timeout` is shut down gracefully (`reason="idle"`), then
//!   dropped if it has not closed within another `idle_timeout` (a peer
//!   that stopped reading); a POST body that does not arrive within it is
//!   a 408;
//! * **HTTP/2:** at most `max_streams` concurrent streams per connection;
//!   hyper's rapid-reset guards (streams reset by the client before they
//!   are answered, [`MAX_PENDING_RESETS`]; streams ward had to reset,
//!   [`MAX_LOCAL_RESETS`]) close a flooding connection with GOAWAY
//!   (`reason="http_error"`, as for malformed or oversized headers);
//! * **headers:** at most [`MAX_HEADER_BYTES`] of headers (HTTP/2 header
//!   list, HTTP/1.1 read buffer);
//! * **queries:** at most `max_queries` in flight per listener; past it a
//!   request is answered 503 (`ward_doh_requests_total{result="busy"}`).
//!
//! Nothing here logs a client's address, server name or path.

use std::collections::HashMap;
use std::convert::Infallible;
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Full, LengthLimitError, Limited};
use hyper::body::Incoming;
use hyper::header::{self, HeaderValue};
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use rustls::ServerConfig;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Semaphore;
use tokio_rustls::TlsAcceptor;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::debug;

use super::freshness;
use super::metrics::DohMetrics;
use super::request::{self, CONTENT_TYPE, Head, MAX_MESSAGE, Method, Outcome, Refusal, Route};
use crate::dns::Protocol;
use crate::dns::engine::Engine;
use crate::dns::padding::{self, RESPONSE_BLOCK};
use crate::instrument::CloseReason;
use crate::policy::{ClientId, Via};

/// ALPN protocols DoH offers, in order of preference.
pub const ALPN: [&[u8]; 2] = [b"h2", b"http/1.1"];
/// HTTP/2 streams the client may reset before ward answers them, pending
/// at once, before the connection is closed (CVE-2023-44487).
pub const MAX_PENDING_RESETS: usize = 20;
/// HTTP/2 streams ward may reset for a client's protocol errors before
/// the connection is closed.
pub const MAX_LOCAL_RESETS: usize = 64;
/// Bytes of a refused POST's body read (and dropped) so that the client
/// sees the refusal; past it the connection is closed.
pub const DRAIN_LIMIT: usize = 2 * MAX_MESSAGE;
/// Bytes of request headers one request may carry.
pub const MAX_HEADER_BYTES: u32 = 16 * 1024;

pub const DEFAULT_MAX_CONNECTIONS: usize = 10_000;
pub const DEFAULT_MAX_CONNECTIONS_PER_CLIENT: usize = 2_500;
pub const DEFAULT_MAX_STREAMS: u32 = 100;
pub const DEFAULT_MAX_QUERIES: usize = 4096;
pub const DEFAULT_HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(5);
pub const DEFAULT_IDLE_TIMEOUT: Duration = Duration::from_secs(30);

/// One DoH listener's limits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DohLimits {
    /// Connections open at once on the listener.
    pub max_connections: usize,
    /// Connections open at once from one client address (IPv6: one /64).
    pub max_connections_per_client: usize,
    /// Concurrent HTTP/2 streams per connection.
    pub max_streams: u32,
    /// Queries in flight at once on the listener.
    pub max_queries: usize,
    /// Time for the TLS handshake.
    pub handshake_timeout: Duration,
    /// A connection with no request in progress this long is closed.
    pub idle_timeout: Duration,
}

impl Default for DohLimits {
    fn default() -> Self {
        Self {
            max_connections: DEFAULT_MAX_CONNECTIONS,
            max_connections_per_client: DEFAULT_MAX_CONNECTIONS_PER_CLIENT,
            max_streams: DEFAULT_MAX_STREAMS,
            max_queries: DEFAULT_MAX_QUERIES,
            handshake_timeout: DEFAULT_HANDSHAKE_TIMEOUT,
            idle_timeout: DEFAULT_IDLE_TIMEOUT,
        }
    }
}

/// What every DoH listener shares.
#[derive(Debug)]
pub struct Doh {
    pub engine: Arc<Engine>,
    pub metrics: Arc<DohMetrics>,
    pub limits: DohLimits,
    /// The configured server name: the label under it in a client's TLS
    /// server name is its client id.
    pub server_name: Option<String>,
}

/// Connections open per listener and per client.
#[derive(Debug)]
struct Admission {
    limits: DohLimits,
    table: Mutex<(usize, HashMap<IpAddr, usize>)>,
}

/// A connection's place in [`Admission`], given back when dropped.
struct Admitted {
    admission: Arc<Admission>,
    client: IpAddr,
}

impl Admission {
    fn admit(self: &Arc<Self>, client: IpAddr) -> Result<Admitted, CloseReason> {
        let client = client_key(client);
        let mut t = self.table.lock().unwrap_or_else(|p| p.into_inner());
        let (total, by_client) = &mut *t;
        if *total >= self.limits.max_connections.max(1) {
            return Err(CloseReason::Full);
        }
        let n = by_client.entry(client).or_default();
        if *n >= self.limits.max_connections_per_client.max(1) {
            return Err(CloseReason::ClientCap);
        }
        *n += 1;
        *total += 1;
        Ok(Admitted {
            admission: Arc::clone(self),
            client,
        })
    }
}

impl Drop for Admitted {
    fn drop(&mut self) {
        let mut t = self
            .admission
            .table
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        let (total, by_client) = &mut *t;
        *total = total.saturating_sub(1);
        if let Some(n) = by_client.get_mut(&self.client) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                by_client.remove(&self.client);
            }
        }
    }
}

/// The address a per-client share counts: IPv4 as is, IPv6 by its /64.
fn client_key(ip: IpAddr) -> IpAddr {
    match ip.to_canonical() {
        IpAddr::V6(v6) => IpAddr::V6((u128::from(v6) & !((1u128 << 64) - 1)).into()),
        v4 => v4,
    }
}

/// One listener's state.
#[derive(Debug)]
struct Listener {
    doh: Arc<Doh>,
    queries: Arc<Semaphore>,
    http: auto::Builder<TokioExecutor>,
}

/// Accepts DoH connections on `listener` until `shutdown`, then waits for
/// the open ones to end (they are cancelled by the same token). `tls`
/// must offer [`ALPN`] (`tls::Certs::server_config(&ALPN)`); its
/// certificate resolver picks from the certificates in force, so a
/// reload needs no new configuration here.
pub async fn accept_loop(
    listener: TcpListener,
    tls: Arc<ServerConfig>,
    doh: Arc<Doh>,
    shutdown: CancellationToken,
) {
    let limits = doh.limits;
    let acceptor = TlsAcceptor::from(tls);
    let admission = Arc::new(Admission {
        limits,
        table: Mutex::new((0, HashMap::new())),
    });
    let this = Arc::new(Listener {
        queries: Arc::new(Semaphore::new(limits.max_queries.max(1))),
        http: http_builder(&limits),
        doh,
    });
    let tracker = TaskTracker::new();
    loop {
        let Some((tcp, peer)) =
            crate::dns::tcp::accept_or_back_off(&listener, &shutdown, "DoH").await
        else {
            break;
        };
        let admitted = match admission.admit(peer.ip()) {
            Ok(a) => a,
            Err(reason) => {
                debug!(
                    reason = reason.as_str(),
                    "DoH connection limit reached; closing a new connection"
                );
                this.doh.metrics.closed(reason);
                continue;
            }
        };
        let (this, acceptor, token) = (Arc::clone(&this), acceptor.clone(), shutdown.child_token());
        tracker.spawn(async move {
            this.connection(tcp, peer, acceptor, token).await;
            drop(admitted);
        });
    }
    tracker.close();
    tracker.wait().await;
}

/// The HTTP side's settings, shared by every connection of a listener.
fn http_builder(limits: &DohLimits) -> auto::Builder<TokioExecutor> {
    let mut b = auto::Builder::new(TokioExecutor::new());
    b.http1()
        .timer(TokioTimer::new())
        .header_read_timeout(limits.idle_timeout)
        .max_buf_size(MAX_HEADER_BYTES as usize)
        .keep_alive(true);
    b.http2()
        .timer(TokioTimer::new())
        .max_concurrent_streams(limits.max_streams.max(1))
        .max_pending_accept_reset_streams(MAX_PENDING_RESETS)
        .max_local_error_reset_streams(MAX_LOCAL_RESETS)
        .max_header_list_size(MAX_HEADER_BYTES)
        .max_send_buf_size(MAX_MESSAGE + 1024);
    b
}

/// When a connection last had no request in progress, and how many it
/// has now.
#[derive(Debug)]
struct Activity {
    epoch: Instant,
    /// Milliseconds from `epoch` to the last request's start or end.
    last: AtomicU64,
    busy: AtomicUsize,
}

impl Activity {
    fn new() -> Self {
        Self {
            epoch: Instant::now(),
            last: AtomicU64::new(0),
            busy: AtomicUsize::new(0),
        }
    }

    fn touch(&self) {
        let ms = u64::try_from(self.epoch.elapsed().as_millis()).unwrap_or(u64::MAX);
        self.last.store(ms, Ordering::Relaxed);
    }

    /// When the connection will have been idle for `idle`, if nothing
    /// happens before.
    fn deadline(&self, idle: Duration) -> Instant {
        self.epoch + Duration::from_millis(self.last.load(Ordering::Relaxed)) + idle
    }
}

/// A request in progress; the connection is not idle while one lives.
struct Busy(Arc<Activity>);

impl Busy {
    fn start(activity: &Arc<Activity>) -> Self {
        activity.busy.fetch_add(1, Ordering::Relaxed);
        activity.touch();
        Self(Arc::clone(activity))
    }
}

impl Drop for Busy {
    fn drop(&mut self) {
        self.0.touch();
        self.0.busy.fetch_sub(1, Ordering::Relaxed);
    }
}

impl Listener {
    /// One connection: the handshake, then HTTP until the client leaves,
    /// idles out, breaks the protocol, or `token` (shutdown) fires.
    async fn connection(
        self: Arc<Self>,
        tcp: TcpStream,
        peer: SocketAddr,
        acceptor: TlsAcceptor,
        token: CancellationToken,
    ) {
        let _ = tcp.set_nodelay(true);
        let limits = self.doh.limits;
        let handshake = tokio::select! {
            r = tokio::time::timeout(limits.handshake_timeout, acceptor.accept(tcp)) => r,
            () = token.cancelled() => return,
        };
        let Ok(Ok(tls)) = handshake else {
            self.doh.metrics.closed(CloseReason::Handshake);
            return;
        };
        let sni_id = match (tls.get_ref().1.server_name(), &self.doh.server_name) {
            (Some(sni), Some(server)) => ClientId::from_sni(sni, server),
            _ => None,
        };
        let activity = Arc::new(Activity::new());
        let service = {
            let (this, activity) = (Arc::clone(&self), Arc::clone(&activity));
            hyper::service::service_fn(move |req| {
                let (this, activity) = (Arc::clone(&this), Arc::clone(&activity));
                async move {
                    let _busy = Busy::start(&activity);
                    let response = this.respond(req, peer, sni_id).await;
                    Ok::<_, Infallible>(response)
                }
            })
        };
        let conn = self
            .http
            .serve_connection(TokioIo::new(tls), service)
            .into_owned();
        tokio::pin!(conn);
        loop {
            let deadline = activity.deadline(limits.idle_timeout);
            tokio::select! {
                ended = conn.as_mut() => {
                    if let Err(error) = ended
                        && !is_io(error.as_ref())
                    {
                        debug!(%error, "DoH connection closed on an HTTP error");
                        self.doh.metrics.closed(CloseReason::HttpError);
                    }
                    return;
                }
                () = token.cancelled() => break,
                () = tokio::time::sleep_until(deadline.into()) => {
                    let idle = activity.busy.load(Ordering::Relaxed) == 0
                        && Instant::now() >= activity.deadline(limits.idle_timeout);
                    if idle {
                        self.doh.metrics.closed(CloseReason::Idle);
                        break;
                    }
                }
            }
        }
        // GOAWAY (HTTP/2) or close after the response in progress
        // (HTTP/1.1); a peer that does not let it finish is dropped.
        conn.as_mut().graceful_shutdown();
        let _ = tokio::time::timeout(limits.idle_timeout, conn).await;
    }

    /// Answers one request: a DNS message, or a refusal's status.
    async fn respond(
        &self,
        req: Request<Incoming>,
        peer: SocketAddr,
        sni_id: Option<ClientId>,
    ) -> Response<Full<Bytes>> {
        let (outcome, response) = match self.answer(req, peer, sni_id).await {
            Ok(response) => (Outcome::Ok, response),
            Err(refusal) => (refusal.outcome(), refused(refusal)),
        };
        self.doh.metrics.request(outcome);
        response
    }

    async fn answer(
        &self,
        req: Request<Incoming>,
        peer: SocketAddr,
        sni_id: Option<ClientId>,
    ) -> Result<Response<Full<Bytes>>, Refusal> {
        let (parts, body) = req.into_parts();
        let method = match parts.method {
            hyper::Method::GET => Method::Get,
            hyper::Method::POST => Method::Post,
            _ => Method::Other,
        };
        let head = Head {
            method,
            path: parts.uri.path(),
            query: parts.uri.query(),
            content_type: parts
                .headers
                .get(header::CONTENT_TYPE)
                .map(HeaderValue::as_bytes),
            content_length: parts
                .headers
                .get(header::CONTENT_LENGTH)
                .and_then(|v| v.to_str().ok()?.parse().ok()),
        };
        let route = match request::route(&head) {
            Ok(route) => route,
            Err(refusal) => {
                if method == Method::Post {
                    self.drain(body).await;
                }
                return Err(refusal);
            }
        };
        let (client_id, message) = match route {
            Route::Get { client_id, message } => (client_id, message),
            Route::Post { client_id } => (client_id, self.body(body).await?),
        };
        // The path's id, else the server name's.
        let client_id = client_id.or(sni_id);
        let Ok(_permit) = Arc::clone(&self.queries).try_acquire_owned() else {
            return Err(Refusal::Busy);
        };
        let mut answer = resolve(&self.doh.engine, &message, peer, client_id)
            .await
            .ok_or(Refusal::NotAQuery)?;
        padding::pad(&mut answer, RESPONSE_BLOCK);
        let cache = freshness::of_answer(&answer).header_value();
        let mut response = Response::new(Full::new(Bytes::from(answer)));
        let h = response.headers_mut();
        h.insert(header::CONTENT_TYPE, HeaderValue::from_static(CONTENT_TYPE));
        // "max-age=N" or "no-store": always a valid header value.
        if let Ok(v) = HeaderValue::from_str(&cache) {
            h.insert(header::CACHE_CONTROL, v);
        }
        Ok(response)
    }

    /// Reads and drops a refused POST's body, up to [`DRAIN_LIMIT`]
    /// bytes within the idle timeout, so that an HTTP/1.1 client still
    /// writing it reads the refusal instead of a reset.
    async fn drain(&self, body: Incoming) {
        let read = Limited::new(body, DRAIN_LIMIT).collect();
        let _ = tokio::time::timeout(self.doh.limits.idle_timeout, read).await;
    }

    /// A POST's body: at most [`MAX_MESSAGE`] bytes, within the idle
    /// timeout, and a DNS query.
    async fn body(&self, body: Incoming) -> Result<Vec<u8>, Refusal> {
        let read = Limited::new(body, MAX_MESSAGE).collect();
        let collected = match tokio::time::timeout(self.doh.limits.idle_timeout, read).await {
            Err(_) => return Err(Refusal::Timeout),
            Ok(Err(e)) if e.downcast_ref::<LengthLimitError>().is_some() => {
                return Err(Refusal::TooLarge);
            }
            Ok(Err(_)) => return Err(Refusal::NotAQuery),
            Ok(Ok(c)) => c.to_bytes(),
        };
        request::check_query(&collected)?;
        Ok(collected.to_vec())
    }
}

/// The one call into the engine: a DoH query, its profile picked by the
/// client id first (an id no profile has counts as none).
async fn resolve(
    engine: &Engine,
    message: &[u8],
    client: SocketAddr,
    client_id: Option<ClientId>,
) -> Option<Vec<u8>> {
    engine
        .handle(message, client, Protocol::Doh, Via::encrypted(client_id))
        .await
}

/// A refusal's response: its status and reason as plain text.
fn refused(refusal: Refusal) -> Response<Full<Bytes>> {
    let mut r = Response::new(Full::new(Bytes::from(format!("{refusal}\n"))));
    *r.status_mut() = StatusCode::from_u16(refusal.status()).unwrap_or(StatusCode::BAD_REQUEST);
    let h = r.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    if refusal == Refusal::MethodNotAllowed {
        h.insert(header::ALLOW, HeaderValue::from_static("GET, POST"));
    }
    r
}

/// Whether an error (or one of its causes) is an I/O error: the peer
/// went away, which is not the peer's protocol error.
fn is_io(error: &(dyn std::error::Error + 'static)) -> bool {
    let mut cause = Some(error);
    while let Some(e) = cause {
        if e.is::<std::io::Error>() {
            return true;
        }
        cause = e.source();
    }
    false
}

#[cfg(test)]
#[path = "server_tests.rs"]
mod tests;
