//! DNS over TCP (RFC 7766): length-prefixed queries on a connection,
//! answered concurrently (up to [`PIPELINE_DEPTH`] at once, out of order)
//! through one writer.
//!
//! Limits, so that no client can lock others out (issue 24 found 1,024
//! connections that each sent a query every 8 s shutting every new client
//! out, and clients that never read their answers holding their slots and
//! 767 MB of kernel buffers):
//!
//! * **idle:** a connection with no complete query for `tcp_idle_timeout`
//!   is closed, and so is one whose query is not complete within it;
//! * **write:** an answer the client does not take within the same time
//!   closes the connection; answers are never queued beyond
//!   [`PIPELINE_DEPTH`];
//! * **per client:** one address holds at most a quarter of
//!   `tcp_max_connections`;
//! * **when full:** the connection idle the longest (no query in flight)
//!   is closed for the new one, as Unbound and dnsdist do; if every one
//!   is busy, the new connection is closed.
//!
//! Every connection ward closes itself is counted in
//! `ward_connections_closed_total{listener="dns_tcp"}` by reason.
//!
//! The connection handling is generic over the stream: DNS over TLS
//! (the sibling `dot` module) runs the same framing, pipelining, timeouts and
//! connection table over a TLS stream, with a table of its own.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio::sync::{Semaphore, mpsc};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::{debug, warn};

use super::Protocol;
use super::engine::{Engine, Step};
use super::metrics::DnsMetrics;
use crate::instrument::{CloseReason, HotCounter};
use crate::policy::{ListenerId, Via};

/// Queries answered concurrently on one TCP connection.
pub const PIPELINE_DEPTH: usize = 32;

/// TCP limits (`dns.tcp_idle_timeout`, `dns.tcp_max_connections`).
#[derive(Debug, Clone, Copy)]
pub struct TcpLimits {
    /// A connection with no query for this long is closed; an answer the
    /// client does not read within this long closes it too.
    pub idle_timeout: Duration,
    /// Connections open at once, across every listen address. One client
    /// address may hold a quarter of them.
    pub max_connections: usize,
}

/// One open connection, as the table knows it.
#[derive(Debug)]
struct Conn {
    client: IpAddr,
    last_query: Instant,
    busy: usize,
    token: CancellationToken,
}

/// Every open TCP connection, across the listen addresses.
#[derive(Debug)]
pub struct Connections {
    max: usize,
    per_client: usize,
    table: Mutex<Table>,
    /// `ward_connections_closed_total`'s row of this listener, by reason.
    closed: [HotCounter; CloseReason::ALL.len()],
}

#[derive(Debug, Default)]
struct Table {
    next: u64,
    conns: HashMap<u64, Conn>,
    by_client: HashMap<IpAddr, usize>,
}

impl Connections {
    /// The DNS-over-TCP table: one client address may hold a quarter of
    /// the connections.
    pub fn new(limits: TcpLimits, metrics: Arc<DnsMetrics>) -> Self {
        let max = limits.max_connections.max(1);
        Self::with_caps(max, max / 4, metrics.tcp_closed.clone())
    }

    /// A table of at most `max` connections, `per_client` of them from
    /// one address (an IPv6 /64), counting the ones it closes in `closed`.
    pub fn with_caps(
        max: usize,
        per_client: usize,
        closed: [HotCounter; CloseReason::ALL.len()],
    ) -> Self {
        Self {
            max: max.max(1),
            per_client: per_client.max(1),
            table: Mutex::new(Table::default()),
            closed,
        }
    }

    /// Counts a connection ward closes itself.
    pub(super) fn closed(&self, reason: CloseReason) {
        self.closed[reason as usize].inc();
    }

    /// Admits a connection from `client`, evicting one when full: the
    /// longest-idle, or if every connection has a query in flight, the
    /// oldest of the client holding the most. The error says why the new
    /// connection is refused instead.
    pub(super) fn admit(
        &self,
        client: IpAddr,
        parent: &CancellationToken,
    ) -> Result<(u64, CancellationToken), CloseReason> {
        let client = client_key(client);
        let mut t = self.lock();
        if t.by_client.get(&client).copied().unwrap_or(0) >= self.per_client {
            return Err(CloseReason::ClientCap);
        }
        if t.conns.len() >= self.max {
            let idle = t
                .conns
                .iter()
                .filter(|(_, c)| c.busy == 0)
                .min_by_key(|(_, c)| c.last_query)
                .map(|(&id, _)| id);
            let victim = idle.or_else(|| {
                let heaviest = t
                    .by_client
                    .iter()
                    .max_by_key(|(_, n)| **n)
                    .map(|(c, _)| *c)?;
                t.conns
                    .iter()
                    .filter(|(_, c)| c.client == heaviest)
                    .min_by_key(|(id, _)| **id)
                    .map(|(&id, _)| id)
            });
            let Some(victim) = victim else {
                return Err(CloseReason::Full);
            };
            t.remove(victim);
            self.closed(CloseReason::Evicted);
        }
        t.next += 1;
        let id = t.next;
        let token = parent.child_token();
        t.conns.insert(
            id,
            Conn {
                client,
                last_query: Instant::now(),
                busy: 0,
                token: token.clone(),
            },
        );
        *t.by_client.entry(client).or_default() += 1;
        Ok((id, token))
    }

    /// A query arrived on `id` (`busy` goes up) or was answered (down).
    fn mark(&self, id: u64, started: bool) {
        let mut t = self.lock();
        if let Some(c) = t.conns.get_mut(&id) {
            if started {
                c.busy += 1;
                c.last_query = Instant::now();
            } else {
                c.busy = c.busy.saturating_sub(1);
            }
        }
    }

    fn close(&self, id: u64) {
        self.lock().remove(id);
    }
}

/// The address a per-client share counts: IPv4 as is, IPv6 by its /64
/// (one host usually holds a whole /64).
fn client_key(ip: IpAddr) -> IpAddr {
    match ip.to_canonical() {
        IpAddr::V6(v6) => {
            let bits = u128::from(v6) & !((1u128 << 64) - 1);
            IpAddr::V6(bits.into())
        }
        v4 => v4,
    }
}

/// Removes a connection from the table when its task ends, however it
/// ends (a panic included).
pub(super) struct Entry {
    pub(super) connections: Arc<Connections>,
    pub(super) id: u64,
}

impl Drop for Entry {
    fn drop(&mut self) {
        self.connections.close(self.id);
    }
}

/// Marks a query answered when dropped (a panic included).
struct InFlight {
    connections: Arc<Connections>,
    id: u64,
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.connections.mark(self.id, false);
    }
}

impl Connections {
    /// A poisoned lock still holds consistent data: every critical section
    /// only inserts, removes or counts.
    fn lock(&self) -> std::sync::MutexGuard<'_, Table> {
        self.table
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

impl Table {
    /// Forgets `id` and tells its task to close it (idempotent).
    fn remove(&mut self, id: u64) {
        if let Some(c) = self.conns.remove(&id) {
            c.token.cancel();
            if let Some(n) = self.by_client.get_mut(&c.client) {
                *n = n.saturating_sub(1);
                if *n == 0 {
                    self.by_client.remove(&c.client);
                }
            }
        }
    }
}

/// The next connection on `listener`, or `None` once `shutdown` fires.
/// An accept error (EMFILE and friends) is logged as `what`'s and backed
/// off briefly instead of spinning. Shared by the TCP, DoT and DoH
/// listeners.
pub(super) async fn accept_or_back_off(
    listener: &TcpListener,
    shutdown: &CancellationToken,
    what: &str,
) -> Option<(tokio::net::TcpStream, SocketAddr)> {
    loop {
        tokio::select! {
            r = listener.accept() => match r {
                Ok(r) => return Some(r),
                Err(error) => {
                    warn!(%error, "{what} accept error");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            },
            () = shutdown.cancelled() => return None,
        }
    }
}

/// Accepts connections until `shutdown`. `arrival`: the listener's place
/// in `[dns] listen`, which every query on its connections carries.
pub async fn accept_loop(
    listener: TcpListener,
    arrival: ListenerId,
    engine: Arc<Engine>,
    limits: TcpLimits,
    connections: Arc<Connections>,
    tracker: TaskTracker,
    shutdown: CancellationToken,
) {
    loop {
        let Some((stream, src)) = accept_or_back_off(&listener, &shutdown, "TCP").await else {
            break;
        };
        let (id, token) = match connections.admit(src.ip(), &shutdown) {
            Ok(admitted) => admitted,
            Err(reason) => {
                debug!(
                    reason = reason.as_str(),
                    "TCP connection limit reached; closing a new connection"
                );
                connections.closed(reason);
                drop(stream);
                continue;
            }
        };
        let conn = Connection {
            id,
            src,
            protocol: Protocol::Tcp,
            via: arrival.into(),
            engine: Arc::clone(&engine),
            timeout: limits.idle_timeout,
            connections: Arc::clone(&connections),
            tracker: tracker.clone(),
            token,
        };
        tracker.spawn(async move {
            let _entry = Entry {
                connections: Arc::clone(&conn.connections),
                id,
            };
            let _ = stream.set_nodelay(true);
            let (reader, writer) = stream.into_split();
            conn.run(reader, writer).await;
        });
    }
}

/// The writer half of a connection: frames each answer and writes it. A
/// client that does not read within `timeout` is closed, not buffered
/// for; any write error, or the token (evicted, timed out, shutting
/// down), ends it.
async fn write_answers<W: AsyncWrite + Unpin>(
    mut writer: W,
    mut rx: mpsc::Receiver<Vec<u8>>,
    timeout: Duration,
    token: CancellationToken,
    connections: Arc<Connections>,
) {
    loop {
        let msg = tokio::select! {
            m = rx.recv() => match m {
                Some(m) => m,
                None => break,
            },
            // Evicted, timed out or shutting down: stop at once.
            () = token.cancelled() => break,
        };
        let mut framed = Vec::with_capacity(msg.len() + 2);
        // Responses are built under 64 KiB (counts and RDATA lengths
        // are u16 and ward never concatenates messages).
        framed.extend_from_slice(&(msg.len().min(usize::from(u16::MAX)) as u16).to_be_bytes());
        framed.extend_from_slice(&msg);
        // A client that does not read is closed, not buffered for.
        // The write is not cut short by the token: this is the one
        // place that sees the stall, and counts it once.
        match tokio::time::timeout(timeout, writer.write_all(&framed)).await {
            Ok(Ok(())) => {}
            Ok(Err(_)) => {
                token.cancel();
                break;
            }
            Err(_) => {
                connections.closed(CloseReason::WriteTimeout);
                token.cancel();
                break;
            }
        }
    }
    let _ = writer.shutdown().await;
}

/// One client connection, admitted to `connections` as `id`.
pub(super) struct Connection {
    pub(super) id: u64,
    pub(super) src: SocketAddr,
    /// `Tcp`, or `Dot` over TLS: the protocol label of its queries.
    pub(super) protocol: Protocol,
    /// The listener it was accepted on (TCP), or its client id (DoT).
    pub(super) via: Via,
    pub(super) engine: Arc<Engine>,
    /// Idle and write timeout.
    pub(super) timeout: Duration,
    pub(super) connections: Arc<Connections>,
    pub(super) tracker: TaskTracker,
    /// Cancelled on shutdown, eviction, or a stalled write.
    pub(super) token: CancellationToken,
}

impl Connection {
    /// Reads framed queries until the client leaves, goes idle, or the
    /// connection is cancelled; answers go through one writer task, in
    /// the order they are ready (forwards run concurrently, at most
    /// [`PIPELINE_DEPTH`] at a time).
    pub(super) async fn run<R, W>(self, mut reader: R, writer: W)
    where
        R: AsyncRead + Unpin,
        W: AsyncWrite + Unpin + Send + 'static,
    {
        let (tx, rx) = mpsc::channel::<Vec<u8>>(PIPELINE_DEPTH);
        let writer_task = self.tracker.spawn(write_answers(
            writer,
            rx,
            self.timeout,
            self.token.clone(),
            Arc::clone(&self.connections),
        ));
        let depth = Arc::new(Semaphore::new(PIPELINE_DEPTH));
        let mut buf = Vec::new();
        while self.read_query(&mut reader, &mut buf).await {
            if !self.answer(&buf, &tx, &depth).await {
                break;
            }
        }
        drop(tx);
        let _ = writer_task.await;
    }

    /// Reads the next length-prefixed message into `buf`; false when the
    /// connection is done (EOF, reset, idle timeout, cancelled).
    async fn read_query<R: AsyncRead + Unpin>(&self, reader: &mut R, buf: &mut Vec<u8>) -> bool {
        let len = tokio::select! {
            r = tokio::time::timeout(self.timeout, reader.read_u16()) => match r {
                Ok(Ok(len)) => usize::from(len),
                // EOF or a reset: the connection is done.
                Ok(Err(_)) => return false,
                Err(_) => {
                    self.connections.closed(CloseReason::Idle);
                    return false;
                }
            },
            () = self.token.cancelled() => return false,
        };
        buf.resize(len, 0);
        let read = tokio::select! {
            r = tokio::time::timeout(self.timeout, reader.read_exact(buf)) => r,
            () = self.token.cancelled() => return false,
        };
        match read {
            Ok(Ok(_)) => true,
            Ok(Err(_)) => false,
            Err(_) => {
                self.connections.closed(CloseReason::Idle);
                false
            }
        }
    }

    /// Answers one query: at once from the engine, or from a forward in a
    /// task of its own. False when the connection should close.
    async fn answer(
        &self,
        query: &[u8],
        tx: &mpsc::Sender<Vec<u8>>,
        depth: &Arc<Semaphore>,
    ) -> bool {
        self.connections.mark(self.id, true);
        let in_flight = InFlight {
            connections: Arc::clone(&self.connections),
            id: self.id,
        };
        let mut out = Vec::new();
        match self
            .engine
            .prepare(query, self.src, self.protocol, self.via, &mut out)
        {
            Step::Reply => {
                drop(in_flight);
                self.send(tx, padded(self.protocol, out)).await
            }
            // Unparseable bytes on a stream: framing can no longer be
            // trusted, so close.
            Step::Drop => false,
            Step::Forward(pending) => {
                let permit = tokio::select! {
                    p = Arc::clone(depth).acquire_owned() => p,
                    () = self.token.cancelled() => return false,
                };
                let Ok(permit) = permit else { return false };
                let (tx, engine) = (tx.clone(), Arc::clone(&self.engine));
                let (timeout, token) = (self.timeout, self.token.clone());
                let protocol = self.protocol;
                self.tracker.spawn(async move {
                    let bytes = tokio::select! {
                        b = engine.forward(*pending) => padded(protocol, b),
                        // The connection is gone: nobody to answer.
                        () = token.cancelled() => return,
                    };
                    drop(in_flight);
                    // A full queue means the writer is stuck on a client
                    // that does not read; the writer counts the close.
                    if tokio::time::timeout(timeout, tx.send(bytes)).await.is_err() {
                        token.cancel();
                    }
                    drop(permit);
                });
                true
            }
        }
    }

    /// Queues an answer; false (and the connection closes) when the
    /// writer could not take it within the timeout.
    async fn send(&self, tx: &mpsc::Sender<Vec<u8>>, out: Vec<u8>) -> bool {
        // A full queue means the writer is stuck on a client that does not
        // read; the writer's own timeout counts the close.
        let sent = tokio::select! {
            r = tokio::time::timeout(self.timeout, tx.send(out)) => matches!(r, Ok(Ok(()))),
            () = self.token.cancelled() => false,
        };
        if !sent {
            self.token.cancel();
        }
        sent
    }
}

/// An answer as it goes out on `protocol`: over TLS, padded to a
/// multiple of 468 bytes when it has an OPT record (RFC 8467), so its
/// length does not tell an observer which name was asked.
fn padded(protocol: Protocol, mut answer: Vec<u8>) -> Vec<u8> {
    if protocol == Protocol::Dot {
        super::padding::pad(&mut answer, super::padding::RESPONSE_BLOCK);
    }
    answer
}
