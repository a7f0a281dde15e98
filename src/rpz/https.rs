//! The zone file over HTTPS (`https_listen`, `cert`, `key`): for RPZ
//! consumers that fetch a zone by URL, such as Unbound's `rpz: url:`,
//! which cannot use TSIG. The address ACL (`allow_transfer`) is the only
//! gate, so give it the secondaries' addresses alone.
//!
//! `GET /ZONE` (the zone's name without its trailing dot, e.g.
//! `/child.rpz`) answers the zone exactly as `ward list export --format
//! rpz` writes it for the zone served over AXFR, with an `ETag` of the
//! list's serial and SHA-256: a request whose `If-None-Match` names it
//! gets 304 and no body. The text is made once per zone, on the first
//! request. Anything else: 404 (405 for another method); no zone yet:
//! 503; an address outside the ACL: 403.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::body::{Body, Bytes};
use hyper::header::{self, HeaderValue};
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::TcpListener;
use tokio::sync::{Mutex, Semaphore};
use tokio_rustls::TlsAcceptor;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::{debug, error, warn};

use super::feed::Feed;
use super::metrics::HttpsResult;
use crate::list::export::write_rpz;

/// Connections served at once per listener; more are closed at once.
const MAX_CONNECTIONS: usize = 64;
/// How long a TLS handshake and a request's headers may take.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
const HEADER_TIMEOUT: Duration = Duration::from_secs(10);
/// How long one connection may last (a 10M-name zone is about 400 MB).
const LIFETIME: Duration = Duration::from_secs(600);

/// The zone file of one zone, made once.
#[derive(Debug)]
struct Text {
    generation: u64,
    etag: HeaderValue,
    body: Bytes,
}

/// Serves the zone file on each of `listeners` (the feed's
/// `https_listen`) until `shutdown`.
pub fn spawn(
    feed: &Arc<Feed>,
    listeners: Vec<TcpListener>,
    shutdown: &CancellationToken,
    background: &mut tokio::task::JoinSet<()>,
) {
    let Some(https) = &feed.settings().https else {
        return;
    };
    for listener in listeners {
        if let Ok(addr) = listener.local_addr() {
            tracing::info!("rpz feed listening for HTTPS on {addr}");
        }
        background.spawn(serve(
            Arc::clone(feed),
            listener,
            Arc::clone(&https.server),
            shutdown.clone(),
        ));
    }
}

/// Serves `listener` until `shutdown`.
async fn serve(
    feed: Arc<Feed>,
    listener: TcpListener,
    tls: Arc<rustls::ServerConfig>,
    shutdown: CancellationToken,
) {
    let acceptor = TlsAcceptor::from(tls);
    let cache: Arc<Mutex<Option<Arc<Text>>>> = Arc::new(Mutex::new(None));
    let slots = Arc::new(Semaphore::new(MAX_CONNECTIONS));
    let tracker = TaskTracker::new();
    loop {
        let (tcp, peer) = tokio::select! {
            () = shutdown.cancelled() => break,
            accepted = listener.accept() => match accepted {
                Ok(a) => a,
                Err(e) => {
                    warn!(error = %e, "rpz feed: HTTPS accept failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
        };
        let Ok(permit) = Arc::clone(&slots).try_acquire_owned() else {
            debug!("rpz feed: HTTPS connection cap reached; closing a new connection");
            continue;
        };
        let (acceptor, feed, cache, stop) = (
            acceptor.clone(),
            Arc::clone(&feed),
            Arc::clone(&cache),
            shutdown.clone(),
        );
        tracker.spawn(async move {
            let served = async {
                let Ok(Ok(stream)) =
                    tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(tcp)).await
                else {
                    debug!(%peer, "rpz feed: HTTPS handshake failed or timed out");
                    return;
                };
                let service = hyper::service::service_fn(move |req| {
                    let (feed, cache) = (Arc::clone(&feed), Arc::clone(&cache));
                    async move { Ok::<_, Infallible>(respond(&feed, &cache, peer, &req).await) }
                });
                let conn = hyper::server::conn::http1::Builder::new()
                    .timer(TokioTimer::new())
                    .header_read_timeout(HEADER_TIMEOUT)
                    .serve_connection(TokioIo::new(stream), service);
                if let Err(e) = conn.await {
                    debug!(%peer, error = %e, "rpz feed: HTTPS connection ended with an error");
                }
            };
            tokio::select! {
                () = stop.cancelled() => {}
                _ = tokio::time::timeout(LIFETIME, served) => {}
            }
            drop(permit);
        });
    }
    tracker.close();
    tracker.wait().await;
}

async fn respond<B>(
    feed: &Feed,
    cache: &Mutex<Option<Arc<Text>>>,
    peer: SocketAddr,
    req: &Request<B>,
) -> Response<Body> {
    let (result, response) = answer(feed, cache, peer, req).await;
    feed.metrics().https[result as usize].inc();
    response
}

async fn answer<B>(
    feed: &Feed,
    cache: &Mutex<Option<Arc<Text>>>,
    peer: SocketAddr,
    req: &Request<B>,
) -> (HttpsResult, Response<Body>) {
    let settings = feed.settings();
    let ip = peer.ip().to_canonical();
    if !settings.allows(ip) {
        debug!(%ip, "rpz feed: HTTPS request from outside allow_transfer; 403");
        return (
            HttpsResult::Refused,
            plain(
                StatusCode::FORBIDDEN,
                "this address is not in allow_transfer\n",
            ),
        );
    }
    let path = format!("/{}", settings.zone.trim_end_matches('.'));
    if req.uri().path() != path {
        return (
            HttpsResult::NotFound,
            plain(StatusCode::NOT_FOUND, &format!("the zone is at {path}\n")),
        );
    }
    let head = req.method() == Method::HEAD;
    if req.method() != Method::GET && !head {
        let mut r = plain(StatusCode::METHOD_NOT_ALLOWED, "GET or HEAD\n");
        r.headers_mut()
            .insert(header::ALLOW, HeaderValue::from_static("GET, HEAD"));
        return (HttpsResult::NotFound, r);
    }
    let Some(text) = text(feed, cache).await else {
        return (
            HttpsResult::Unavailable,
            plain(
                StatusCode::SERVICE_UNAVAILABLE,
                "no verified list in force yet\n",
            ),
        );
    };
    let matches = req
        .headers()
        .get_all(header::IF_NONE_MATCH)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|tag| {
            let tag = tag.trim();
            tag == "*" || tag.trim_start_matches("W/").as_bytes() == text.etag.as_bytes()
        });
    let (status, result, body) = if matches {
        (
            StatusCode::NOT_MODIFIED,
            HttpsResult::NotModified,
            Bytes::new(),
        )
    } else if head {
        (StatusCode::OK, HttpsResult::Ok, Bytes::new())
    } else {
        (StatusCode::OK, HttpsResult::Ok, text.body.clone())
    };
    let mut r = Response::new(Body::from(body));
    *r.status_mut() = status;
    let h = r.headers_mut();
    h.insert(header::ETAG, text.etag.clone());
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    if status == StatusCode::OK {
        h.insert(header::CONTENT_TYPE, HeaderValue::from_static("text/dns"));
        h.insert(header::CONTENT_LENGTH, HeaderValue::from(text.body.len()));
    }
    (result, r)
}

/// The zone file of the zone served, made once per zone; `None` when
/// there is no zone (or its text cannot be written, logged).
async fn text(feed: &Feed, cache: &Mutex<Option<Arc<Text>>>) -> Option<Arc<Text>> {
    let (zone, list) = feed.served_zone().await.ok()?;
    let mut slot = cache.lock().await;
    if let Some(text) = &*slot
        && text.generation == zone.generation
    {
        return Some(Arc::clone(text));
    }
    let opts = feed.options_for(&list.list);
    let written = tokio::task::spawn_blocking(move || {
        let mut out = Vec::new();
        write_rpz(&list.list, &opts, &mut out).map(|_| (out, list.serial(), list.sha256()))
    })
    .await;
    let (body, serial, sha256) = match written {
        Ok(Ok(done)) => done,
        Ok(Err(e)) => {
            error!(error = %e, "rpz feed: the zone file cannot be written for HTTPS");
            return None;
        }
        Err(e) => {
            error!(error = %e, "rpz feed: writing the zone file failed");
            return None;
        }
    };
    // Digits and hex only: always a valid header value.
    let etag = HeaderValue::from_str(&format!("\"{serial}-{}\"", hex::encode(&sha256[..8])))
        .unwrap_or_else(|_| HeaderValue::from_static("\"0\""));
    let text = Arc::new(Text {
        generation: zone.generation,
        etag,
        body: Bytes::from(body),
    });
    *slot = Some(Arc::clone(&text));
    Some(text)
}

fn plain(status: StatusCode, body: &str) -> Response<Body> {
    let mut r = Response::new(Body::from(body.to_owned()));
    *r.status_mut() = status;
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    r
}
