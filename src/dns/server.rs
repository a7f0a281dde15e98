//! UDP and TCP listeners around the [`Engine`].
//!
//! UDP: the fast path in [`super::udp`]: worker threads, each with its own
//! socket, receiving and answering in batches. Blocked, cached, refused
//! and malformed queries are answered inline, without a task; only
//! forwards are spawned, bounded by [`MAX_INFLIGHT`].
//!
//! TCP (RFC 7766): in [`super::tcp`]: length-prefixed queries answered
//! concurrently through one writer, with idle and write timeouts, a cap
//! per client address and a global one that evicts the longest-idle
//! connection when full.
//!
//! Shutdown: cancel the token; loops stop receiving and accepting, and
//! [`Server::drain`] waits (bounded) for in-flight answers.

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::info;

use super::engine::Engine;
use super::udp::Worker;
use crate::policy::ListenerId;

/// Forwards in flight across all UDP sockets; past this, new misses are
/// dropped (the client retries) rather than piling up without bound.
pub const MAX_INFLIGHT: usize = 10_000;
pub use super::tcp::TcpLimits;

/// Bound sockets, before serving.
#[derive(Debug)]
pub struct Listeners {
    /// Per listen address, one UDP socket per worker (all on one port).
    pub udp: Vec<Vec<std::net::UdpSocket>>,
    pub tcp: Vec<TcpListener>,
}

/// Tries to find a port free for UDP and TCP when the configured port is 0.
const PORT_ZERO_TRIES: usize = 16;

impl Listeners {
    /// Binds `workers` UDP sockets (at least one) and one TCP listener on
    /// every address and logs each bound address once (with the real port
    /// when the configured port is 0).
    pub async fn bind(addrs: &[SocketAddr], workers: usize) -> io::Result<Self> {
        let workers = workers.max(1);
        let mut udp = Vec::new();
        let mut tcp = Vec::new();
        for addr in addrs {
            let (group, t) = bind_group(*addr, workers)?;
            udp.push(group);
            tcp.push(t);
        }
        for group in &udp {
            if let Some(u) = group.first() {
                info!(
                    "listening for UDP on {} with {} worker{}",
                    u.local_addr()?,
                    group.len(),
                    if group.len() == 1 { "" } else { "s" }
                );
            }
        }
        for t in &tcp {
            info!("listening for TCP on {}", t.local_addr()?);
        }
        Ok(Self { udp, tcp })
    }

    /// The bound UDP addresses (TCP uses the same ones).
    pub fn local_addrs(&self) -> Vec<SocketAddr> {
        self.udp
            .iter()
            .filter_map(|group| group.first()?.local_addr().ok())
            .collect()
    }
}

/// The UDP sockets and the TCP listener for one address. With port 0, TCP
/// takes the port the first UDP socket got, so one address serves both;
/// when that port is taken for TCP, another is tried.
fn bind_group(
    addr: SocketAddr,
    workers: usize,
) -> io::Result<(Vec<std::net::UdpSocket>, TcpListener)> {
    let shared = workers > 1;
    let tries = if addr.port() == 0 { PORT_ZERO_TRIES } else { 1 };
    let mut attempt = 0;
    loop {
        attempt += 1;
        let first = bind_udp(addr, shared)
            .map_err(|e| io::Error::new(e.kind(), format!("cannot bind UDP {addr}: {e}")))?;
        let bound = SocketAddr::new(addr.ip(), first.local_addr()?.port());
        let tcp = match bind_tcp(bound) {
            Ok(t) => t,
            Err(e) if e.kind() == io::ErrorKind::AddrInUse && attempt < tries => continue,
            Err(e) => {
                return Err(io::Error::new(
                    e.kind(),
                    format!("cannot bind TCP {bound}: {e}"),
                ));
            }
        };
        let mut group = vec![first];
        for _ in 1..workers {
            group.push(bind_udp(bound, true).map_err(|e| {
                io::Error::new(
                    e.kind(),
                    format!("cannot bind UDP {bound} (SO_REUSEPORT): {e}"),
                )
            })?);
        }
        return Ok((group, tcp));
    }
}

/// A socket for `addr`; IPv6 sockets are IPv6-only, so the same port can
/// be bound on 0.0.0.0 and [::] side by side.
fn new_socket(
    addr: SocketAddr,
    ty: socket2::Type,
    proto: socket2::Protocol,
) -> io::Result<socket2::Socket> {
    let s = socket2::Socket::new(socket2::Domain::for_address(addr), ty, Some(proto))?;
    if addr.is_ipv6() {
        s.set_only_v6(true)?;
    }
    Ok(s)
}

/// A blocking UDP socket for a worker thread, with a receive timeout so
/// the worker notices shutdown. `shared`: `SO_REUSEPORT`, one of several
/// workers' sockets on the same address.
fn bind_udp(addr: SocketAddr, shared: bool) -> io::Result<std::net::UdpSocket> {
    let s = new_socket(addr, socket2::Type::DGRAM, socket2::Protocol::UDP)?;
    if shared {
        s.set_reuse_port(true)?;
    }
    // Room for bursts: the worker drains it as fast as the engine answers.
    let _ = s.set_recv_buffer_size(4 << 20);
    s.set_read_timeout(Some(super::udp::POLL))?;
    s.bind(&addr.into())?;
    Ok(s.into())
}

/// A listening TCP socket (`SO_REUSEADDR`, IPv6-only for IPv6), for the
/// DNS and DoT listeners.
pub(super) fn bind_tcp(addr: SocketAddr) -> io::Result<TcpListener> {
    let s = new_socket(addr, socket2::Type::STREAM, socket2::Protocol::TCP)?;
    s.set_nonblocking(true)?;
    s.set_reuse_address(true)?;
    s.bind(&addr.into())?;
    s.listen(1024)?;
    TcpListener::from_std(s.into())
}

/// The id of the listen address at `place` in `[dns] listen`. The config
/// lets a profile select only the first 65 535; the sockets past them
/// share the last id, which no profile has.
fn listener_id(place: usize) -> ListenerId {
    ListenerId(u16::try_from(place).unwrap_or(u16::MAX))
}

/// Running listeners.
#[derive(Debug)]
pub struct Server {
    tracker: TaskTracker,
    shutdown: CancellationToken,
}

impl Server {
    /// Starts serving. Stops when `shutdown` is cancelled.
    pub fn start(
        engine: Arc<Engine>,
        listeners: Listeners,
        tcp: TcpLimits,
        limiter: Option<Arc<super::limit::Limiter>>,
        shutdown: CancellationToken,
    ) -> Self {
        let tracker = TaskTracker::new();
        let inflight = Arc::new(Semaphore::new(MAX_INFLIGHT));
        let runtime = tokio::runtime::Handle::current();
        // Listeners are numbered by their place in `[dns] listen`, which
        // `bind` keeps: what a profile's `listen` refers to.
        for (place, group) in listeners.udp.into_iter().enumerate() {
            for socket in group {
                let worker = Worker {
                    socket: Arc::new(socket),
                    listener: listener_id(place),
                    engine: Arc::clone(&engine),
                    limiter: limiter.clone(),
                    runtime: runtime.clone(),
                    inflight: Arc::clone(&inflight),
                    tracker: tracker.clone(),
                    shutdown: shutdown.clone(),
                };
                tracker.spawn_blocking(move || worker.run());
            }
        }
        let connections = Arc::new(super::tcp::Connections::new(
            tcp,
            Arc::clone(engine.metrics()),
        ));
        for (place, listener) in listeners.tcp.into_iter().enumerate() {
            tracker.spawn(super::tcp::accept_loop(
                listener,
                listener_id(place),
                Arc::clone(&engine),
                tcp,
                Arc::clone(&connections),
                tracker.clone(),
                shutdown.clone(),
            ));
        }
        tracker.close();
        Self { tracker, shutdown }
    }

    /// Waits for every loop and in-flight answer to finish, at most
    /// `limit`. Returns false when the limit cut the drain short.
    pub async fn drain(&self, limit: Duration) -> bool {
        self.shutdown.cancel();
        tokio::time::timeout(limit, self.tracker.wait())
            .await
            .is_ok()
    }
}
