//! The block notice page (HTTP 451, RFC 7725): what a browser shows when
//! the DNS sinkhole or the HTTP Host filter sent it here.
//!
//! * [`head`]: reads an HTTP/1.x request head from an untrusted client
//!   under a size limit and a deadline (shared with the HTTP Host filter).
//! * [`lang`]: Vietnamese first, English first if `Accept-Language`
//!   prefers it.
//! * [`template`]: the operator-overridable template and its tiny tag
//!   language; every substituted value is HTML-escaped.
//! * [`page`]: settings, and the 451 response for one request against the
//!   list in force (pure).
//! * [`serve`] (here): the listener: accept, read the head, answer, close.
//!
//! The page is self-contained (inline CSS, no scripts, no external
//! assets). It never names the site or the category of a confidential
//! block, and nothing here logs a client address or a host above debug
//! level, nor a host at any level. `docs/blockpage.md` is the operator's
//! guide.

pub mod head;
pub mod lang;
pub mod page;
pub mod template;

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::{debug, info, warn};

pub use head::{HeadError, HeadLimits, RequestHead, parse_head, read_head};
pub use page::{BlockPage, PageError, PageSettings, PageViews, SettingProblem};

use crate::profiles::ProfileStore;
use crate::store::ListStore;

/// Most connections handled at once; further clients wait in the kernel's
/// accept queue, so a flood cannot exhaust memory.
pub const MAX_CONNECTIONS: usize = 1024;
/// After answering, how long to keep reading (and discarding) what the
/// client still sends, so that closing with unread data does not reset
/// the connection before the client has read the page.
const LINGER: Duration = Duration::from_secs(2);
/// Most bytes discarded while lingering.
const LINGER_BYTES: usize = 64 * 1024;
/// Pause after a failed accept (e.g. out of file descriptors), so the loop
/// does not spin.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(100);

/// The block-page listener. Answers every request with the notice (or a
/// 400 for bytes that are not HTTP) and closes the connection. Returns
/// once `shutdown` is cancelled and the open connections have been
/// dropped.
pub async fn serve(
    listener: TcpListener,
    page: Arc<BlockPage>,
    store: Arc<ListStore>,
    profiles: Option<Arc<ProfileStore>>,
    metrics: PageViews,
    limits: HeadLimits,
    shutdown: CancellationToken,
) {
    match listener.local_addr() {
        Ok(addr) => info!("block page listening on {addr}"),
        Err(error) => warn!(%error, "block page listener has no local address"),
    }
    let permits = Arc::new(Semaphore::new(MAX_CONNECTIONS));
    let tracker = TaskTracker::new();
    loop {
        let permit = tokio::select! {
            () = shutdown.cancelled() => break,
            permit = Arc::clone(&permits).acquire_owned() => match permit {
                Ok(permit) => permit,
                // The semaphore is never closed.
                Err(_) => break,
            },
        };
        let (stream, peer) = tokio::select! {
            () = shutdown.cancelled() => break,
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(error) => {
                    if !matches!(
                        error.kind(),
                        std::io::ErrorKind::ConnectionAborted | std::io::ErrorKind::ConnectionReset
                    ) {
                        warn!(%error, "block page: accept failed");
                        tokio::time::sleep(ACCEPT_BACKOFF).await;
                    }
                    continue;
                }
            },
        };
        let (page, store, metrics) = (page.clone(), store.clone(), metrics.clone());
        let profiles = profiles.clone();
        let shutdown = shutdown.clone();
        tracker.spawn(async move {
            let lists = Lists {
                national: &store,
                profiles: profiles.as_deref(),
            };
            tokio::select! {
                () = shutdown.cancelled() => {}
                () = connection(stream, peer.ip(), &page, lists, &metrics, &limits) => {}
            }
            drop(permit);
        });
    }
    tracker.close();
    tracker.wait().await;
}

/// What a page is decided against: the national list, and the school
/// profiles if the node has any.
#[derive(Clone, Copy)]
struct Lists<'a> {
    national: &'a ListStore,
    profiles: Option<&'a ProfileStore>,
}

/// One connection: one request, one response, close. `client` selects
/// the reader's profile, as it does for DNS; it is never logged.
async fn connection(
    mut stream: TcpStream,
    client: IpAddr,
    page: &BlockPage,
    lists: Lists<'_>,
    metrics: &PageViews,
    limits: &HeadLimits,
) {
    let _ = stream.set_nodelay(true);
    let mut buf = Vec::new();
    let response = match read_head(&mut stream, &mut buf, limits).await {
        Ok(head) => {
            let list = lists.national.load();
            let profiles = lists.profiles.map(ProfileStore::load);
            let reader = profiles.as_ref().and_then(|p| p.reader(client));
            page.respond_for(&head, list.as_deref(), reader, metrics)
        }
        Err(HeadError::Malformed(why)) => {
            debug!(why, "block page: not an HTTP request");
            page::plain_response("400 Bad Request", "Bad Request\n")
        }
        Err(HeadError::TooLarge) => {
            debug!(
                limit = limits.max_bytes,
                "block page: request head too large"
            );
            page::plain_response(
                "431 Request Header Fields Too Large",
                "Request Header Fields Too Large\n",
            )
        }
        Err(error) => {
            debug!(%error, "block page: no request");
            return;
        }
    };
    send_and_close(&mut stream, &response, limits.timeout).await;
}

/// Sends a final answer (a page, a TLS alert), half-closes, then reads and
/// discards what the client still sends for a moment before the socket is
/// dropped: closing with unread bytes would send a reset, which can
/// destroy the answer before the client reads it. The write is bounded by
/// `timeout`, so a client that does not read cannot hold the connection.
pub(crate) async fn send_and_close(stream: &mut TcpStream, response: &[u8], timeout: Duration) {
    let sent = tokio::time::timeout(timeout, async {
        stream.write_all(response).await?;
        stream.shutdown().await
    })
    .await;
    if !matches!(sent, Ok(Ok(()))) {
        return;
    }
    let _ = tokio::time::timeout(LINGER, async {
        let mut sink = [0u8; 4096];
        let mut total = 0;
        while total < LINGER_BYTES {
            match stream.read(&mut sink).await {
                Ok(0) | Err(_) => break,
                Ok(n) => total += n,
            }
        }
    })
    .await;
}
