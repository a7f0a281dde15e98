//! DNS over TLS (RFC 7858), `[dot]`: TLS 1.2 and 1.3 (rustls, ring) with
//! ALPN `dot`, then the DNS-over-TCP framing and pipelining of
//! [`super::tcp`] over the TLS stream: out-of-order answers up to
//! [`PIPELINE_DEPTH`](super::tcp::PIPELINE_DEPTH), the idle and write
//! timeouts (`idle_timeout`), and a connection table of its own
//! (`max_connections` across the section's addresses,
//! `max_connections_per_client` per address or IPv6 /64; when full, the
//! longest-idle connection is closed for the new one).
//!
//! * **Admission first.** A connection takes its place in the table
//!   before its handshake, so stalled handshakes count against the caps
//!   and are the first evicted (they have never sent a query).
//! * **Handshake.** Bounded by `handshake_timeout`; a stalled or failed
//!   handshake is closed and counted in
//!   `ward_tls_handshake_failures_total{section="dot",reason}`. The
//!   certificate is picked per handshake from the ones in force
//!   ([`crate::tls::Certs`]), so a reload applies to the next handshake
//!   while established connections keep theirs.
//! * **Client id.** The first label of the client's TLS server name
//!   under `server_name` (`school-42.dns.example.vn`), if it is a valid
//!   label; without `server_name` no client id is taken. Every query on
//!   the connection carries it ([`Via::encrypted`]), so the profile with
//!   that id in `client_ids` answers; an id no profile has gets the
//!   client address's profile, as if absent.
//! * **Privacy.** Nothing here logs a client address, server name or
//!   client id; refusals and failures are counted, by reason only.

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::{TcpListener, TcpStream};
use tokio_rustls::TlsAcceptor;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::{debug, info, warn};

use super::Protocol;
use super::engine::Engine;
use super::tcp::{Connection, Connections, Entry};
use crate::instrument::{CloseReason, HotCounter};
use crate::policy::{ClientId, Via};
use crate::readers::ReadError;
use crate::tls::{Certs, HandshakeFailure, Section, TlsMetrics};

/// The ALPN protocol id of DNS over TLS (RFC 7858, IANA).
pub const ALPN: &[u8] = b"dot";

/// Binds every `[dot] listen` address (before the privilege drop) and
/// logs each as `listening for DoT on ADDR`.
pub fn bind(addrs: &[SocketAddr]) -> io::Result<Vec<TcpListener>> {
    let mut bound = Vec::with_capacity(addrs.len());
    for addr in addrs {
        let listener = super::server::bind_tcp(*addr)
            .map_err(|e| io::Error::new(e.kind(), format!("cannot bind DoT {addr}: {e}")))?;
        info!("listening for DoT on {}", listener.local_addr()?);
        bound.push(listener);
    }
    Ok(bound)
}

/// The `[dot]` settings the listeners follow (`config::EncryptedSettings`,
/// passed down by `serve`).
#[derive(Debug, Clone)]
pub struct DotSettings {
    /// The resolver's name: a client id is the first label under it.
    pub server_name: Option<String>,
    pub handshake_timeout: Duration,
    pub idle_timeout: Duration,
    pub max_connections: usize,
    pub max_connections_per_client: usize,
}

/// What every DoT connection shares.
struct Shared {
    engine: Arc<Engine>,
    acceptor: TlsAcceptor,
    connections: Arc<Connections>,
    server_name: Option<String>,
    handshake_timeout: Duration,
    idle_timeout: Duration,
    tls: Arc<TlsMetrics>,
}

/// The DoT listeners, ready to serve.
pub struct Dot {
    listeners: Vec<TcpListener>,
    shared: Arc<Shared>,
}

impl std::fmt::Debug for Dot {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let addrs: Vec<_> = self
            .listeners
            .iter()
            .filter_map(|l| l.local_addr().ok())
            .collect();
        f.debug_struct("Dot").field("listen", &addrs).finish()
    }
}

impl Dot {
    /// The listeners with the section's settings, the certificates in
    /// force and the engine. `closed`: the `dns_dot` row of
    /// `ward_connections_closed_total`.
    pub fn new(
        listeners: Vec<TcpListener>,
        settings: DotSettings,
        certs: &Arc<Certs>,
        engine: Arc<Engine>,
        tls: Arc<TlsMetrics>,
        closed: [HotCounter; CloseReason::ALL.len()],
    ) -> Result<Self, ReadError> {
        let config = certs.server_config(&[ALPN])?;
        let shared = Arc::new(Shared {
            engine,
            acceptor: TlsAcceptor::from(config),
            connections: Arc::new(Connections::with_caps(
                settings.max_connections,
                settings.max_connections_per_client,
                closed,
            )),
            server_name: settings.server_name,
            handshake_timeout: settings.handshake_timeout,
            idle_timeout: settings.idle_timeout,
            tls,
        });
        Ok(Self { listeners, shared })
    }

    /// Serves until `shutdown`, then waits for the connections to finish
    /// (at most `drain`).
    pub async fn serve(self, drain: Duration, shutdown: CancellationToken) {
        let tracker = TaskTracker::new();
        for listener in self.listeners {
            tracker.spawn(accept_loop(
                listener,
                Arc::clone(&self.shared),
                tracker.clone(),
                shutdown.clone(),
            ));
        }
        tracker.close();
        shutdown.cancelled().await;
        if tokio::time::timeout(drain, tracker.wait()).await.is_err() {
            warn!(limit = ?drain, "DoT drain limit reached; dropping unanswered queries");
        }
    }
}

/// Accepts connections until `shutdown`.
async fn accept_loop(
    listener: TcpListener,
    shared: Arc<Shared>,
    tracker: TaskTracker,
    shutdown: CancellationToken,
) {
    loop {
        let Some((stream, src)) = super::tcp::accept_or_back_off(&listener, &shutdown, "DoT").await
        else {
            break;
        };
        let (id, token) = match shared.connections.admit(src.ip(), &shutdown) {
            Ok(admitted) => admitted,
            Err(reason) => {
                debug!(
                    reason = reason.as_str(),
                    "DoT connection limit reached; closing a new connection"
                );
                shared.connections.closed(reason);
                drop(stream);
                continue;
            }
        };
        let (shared, conn_tracker) = (Arc::clone(&shared), tracker.clone());
        tracker.spawn(async move {
            let _entry = Entry {
                connections: Arc::clone(&shared.connections),
                id,
            };
            handshake_and_serve(stream, src, id, token, &shared, conn_tracker).await;
        });
    }
}

/// The TLS handshake (bounded), then DNS over the TLS stream.
async fn handshake_and_serve(
    stream: TcpStream,
    src: SocketAddr,
    id: u64,
    token: CancellationToken,
    shared: &Shared,
    tracker: TaskTracker,
) {
    let _ = stream.set_nodelay(true);
    let accepted = tokio::select! {
        r = tokio::time::timeout(shared.handshake_timeout, shared.acceptor.accept(stream)) => r,
        // Evicted for a newer connection, or shutting down.
        () = token.cancelled() => return,
    };
    let tls = match accepted {
        Ok(Ok(tls)) => tls,
        Ok(Err(error)) => {
            debug!(%error, "DoT handshake failed");
            shared
                .tls
                .handshake_failed(Section::Dot, HandshakeFailure::Error);
            return;
        }
        Err(_) => {
            debug!("DoT handshake timed out");
            shared
                .tls
                .handshake_failed(Section::Dot, HandshakeFailure::Timeout);
            return;
        }
    };
    let client_id = match (&shared.server_name, tls.get_ref().1.server_name()) {
        (Some(server_name), Some(sni)) => ClientId::from_sni(sni, server_name),
        _ => None,
    };
    let (reader, writer) = tokio::io::split(tls);
    Connection {
        id,
        src,
        protocol: Protocol::Dot,
        via: Via::encrypted(client_id),
        engine: Arc::clone(&shared.engine),
        timeout: shared.idle_timeout,
        connections: Arc::clone(&shared.connections),
        tracker,
        token,
    }
    .run(reader, writer)
    .await;
}
