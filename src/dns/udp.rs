//! The UDP fast path.
//!
//! Each worker is a thread with its own socket on the listen address
//! (`SO_REUSEPORT` when there are several, so the kernel spreads clients
//! over them). A worker blocks in `recvmmsg(2)` for one datagram, takes
//! every other datagram already queued (up to [`BATCH`]), runs each
//! through [`Engine::prepare`] straight into a slot of its send batch, and
//! sends every immediate answer with one `sendmmsg(2)`. Blocked, cached,
//! refused and malformed queries therefore cost two system calls per
//! batch, not two per query, and allocate nothing.
//!
//! A query that must go upstream becomes a task on the Tokio runtime, as
//! before; its answer is sent from there on the worker's socket with
//! `MSG_DONTWAIT`, so a full socket buffer drops that one answer (as a
//! full network would) instead of stalling a runtime thread.
//!
//! With `[limits]` on, each datagram passes the [`Limiter`] before the
//! engine (`client_qps`) and each answer after it (`rrl`), immediate and
//! forwarded alike; the batch shares one clock reading.
//!
//! Shutdown: sockets have a short receive timeout, and a worker checks the
//! cancellation token each time `recvmmsg` returns.

use std::net::{SocketAddr, UdpSocket};
use std::os::fd::AsFd;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::time::{Duration, Instant};

use nix::libc;
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::{debug, error, warn};

use super::Protocol;
use super::engine::{Engine, Step};
use super::limit::{self, Admit, Limiter};
use crate::policy::ListenerId;
use crate::sys::{RecvBatch, SendBatch};

/// Datagrams taken per `recvmmsg` and answers sent per `sendmmsg`.
pub const BATCH: usize = 32;
/// Largest query read. Longer datagrams are cut by the kernel, counted as
/// malformed and not answered: a real query is a few dozen bytes, and
/// even one carrying every EDNS option fits easily.
pub const MAX_QUERY: usize = 4096;
/// How often an idle worker looks at the shutdown token.
pub const POLL: Duration = Duration::from_millis(100);

/// Everything one worker needs.
pub(super) struct Worker {
    pub socket: Arc<UdpSocket>,
    /// The socket's listen address, by its place in `[dns] listen`.
    pub listener: ListenerId,
    pub engine: Arc<Engine>,
    /// `None` when every limit is off.
    pub limiter: Option<Arc<Limiter>>,
    pub runtime: tokio::runtime::Handle,
    pub inflight: Arc<Semaphore>,
    pub tracker: TaskTracker,
    pub shutdown: CancellationToken,
}

impl Worker {
    /// The receive–answer loop. Returns when `shutdown` is cancelled.
    pub(super) fn run(self) {
        let mut recv = RecvBatch::new(BATCH, MAX_QUERY);
        let mut send = SendBatch::new(BATCH);
        let fd = self.socket.as_fd();
        while !self.shutdown.is_cancelled() {
            let n = match recv.recv(fd) {
                Ok(n) => n,
                Err(error) => {
                    match error.kind() {
                        std::io::ErrorKind::WouldBlock
                        | std::io::ErrorKind::TimedOut
                        | std::io::ErrorKind::Interrupted => {}
                        // ICMP errors from earlier sends surface here.
                        _ => debug!(%error, "UDP receive error"),
                    }
                    continue;
                }
            };
            // One clock reading per batch, and only when limits need it.
            let now = self.limiter.as_ref().map(|_| Instant::now());
            for i in 0..n {
                let Some(datagram) = recv.get(i) else { break };
                let Some(src) = datagram.from else { continue };
                if datagram.truncated {
                    self.engine.count_malformed(Protocol::Udp);
                    continue;
                }
                // The send batch has as many slots as the receive batch,
                // and is flushed after every receive: a slot is free.
                let Some(out) = send.next_buf() else { break };
                if let (Some(limiter), Some(now)) = (&self.limiter, now) {
                    match limiter.query(src.ip(), now) {
                        Admit::Pass => {}
                        Admit::Drop => continue,
                        Admit::Slip => {
                            if limit::slip_query(datagram.bytes, out) {
                                send.commit(src);
                            }
                            continue;
                        }
                    }
                }
                // A panic must not end the worker: its socket would keep
                // receiving its share of the clients and answer none of
                // them. The engine is fuzzed never to panic; this is the
                // backstop.
                let step = std::panic::catch_unwind(AssertUnwindSafe(|| {
                    self.engine
                        .prepare(datagram.bytes, src, Protocol::Udp, self.listener, out)
                }));
                match step {
                    Ok(Step::Reply) => {
                        let admit = match (&self.limiter, now) {
                            (Some(limiter), Some(now)) => limiter.response(src.ip(), out, now),
                            _ => Admit::Pass,
                        };
                        if passes(admit, out) {
                            send.commit(src);
                        }
                    }
                    Ok(Step::Drop) => {}
                    Ok(Step::Forward(pending)) => self.forward(*pending, src),
                    Err(_) => {
                        self.engine.count_malformed(Protocol::Udp);
                        error!(
                            "ALARM: answering a UDP query panicked; it was dropped and the worker goes on"
                        );
                    }
                }
            }
            if !send.is_empty() {
                send.flush(fd);
            }
        }
    }

    fn forward(&self, pending: super::engine::Pending, src: SocketAddr) {
        let Ok(permit) = Arc::clone(&self.inflight).try_acquire_owned() else {
            warn!("too many queries in flight; dropping one");
            return;
        };
        let socket = Arc::clone(&self.socket);
        let engine = Arc::clone(&self.engine);
        let limiter = self.limiter.clone();
        self.tracker.spawn_on(
            async move {
                let mut bytes = engine.forward(pending).await;
                if let Some(limiter) = limiter {
                    let admit = limiter.response(src.ip(), &bytes, Instant::now());
                    if !passes(admit, &mut bytes) {
                        return;
                    }
                }
                let _ = socket2::SockRef::from(&*socket).send_to_with_flags(
                    &bytes,
                    &src.into(),
                    libc::MSG_DONTWAIT,
                );
                drop(permit);
            },
            &self.runtime,
        );
    }
}

/// Applies a response limit's decision to the answer in `out`: true when
/// something (the answer, or its slipped form) is to be sent.
fn passes(admit: Admit, out: &mut Vec<u8>) -> bool {
    match admit {
        Admit::Pass => true,
        Admit::Drop => false,
        Admit::Slip => limit::slip_response(out),
    }
}
