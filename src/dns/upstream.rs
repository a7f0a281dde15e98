//! Forwarding to upstream resolvers: UDP first, TCP when truncated, with
//! per-upstream timeouts, retries, failover and health.
//!
//! Every upstream query is built from scratch: a random ID, a fresh socket
//! (so a random source port), the lowercase question, and ward's own OPT
//! carrying only the client's DO bit. Nothing else from the client crosses
//! over: no EDNS Client Subnet, no cookies, no padding. The client's
//! address never leaves the node.
//!
//! Health: after [`DOWN_AFTER`] consecutive failures an upstream is skipped
//! for a back-off that doubles up to [`MAX_BACKOFF`]; once it elapses, one
//! query is let through as a probe. While another upstream is up, down
//! ones are skipped; when every upstream is down, each query tries them
//! all again (bounded by timeout x attempts), so one flaky or
//! rate-limiting upstream cannot turn every miss into SERVFAIL. Going down
//! and coming back are logged.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpStream, UdpSocket};
use tracing::{debug, info, warn};

use super::metrics::{DnsMetrics, UpstreamError, UpstreamHandles};
use super::response::{self, Rejected, Upstreamed};
use super::wire::{
    self, Header, RCODE_FORMERR, RCODE_NOTIMP, RCODE_REFUSED, RCODE_SERVFAIL, flags,
};

/// Consecutive failures before an upstream is considered down.
pub const DOWN_AFTER: u32 = 3;
/// First back-off for a down upstream.
pub const MIN_BACKOFF: Duration = Duration::from_secs(2);
/// Longest back-off.
pub const MAX_BACKOFF: Duration = Duration::from_secs(60);
/// An upstream that answered within this window counts as healthy for
/// readiness.
pub const HEALTHY_WINDOW: Duration = Duration::from_secs(60);
/// The UDP receive buffer of one forward: the largest `dns.edns_payload`
/// and one byte.
const UDP_BUF: usize = 4096 + 1;

/// How an exchange failed, for the Extended DNS Error.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Failure {
    /// Every upstream is marked down; none was tried.
    AllDown,
    /// Tried, and every try timed out or was refused by the upstream.
    NoAnswer,
    /// Tried, and at least one try failed with a network error.
    Network,
}

/// Forwarding settings.
#[derive(Debug, Clone)]
pub struct UpstreamSettings {
    pub addrs: Vec<SocketAddr>,
    pub timeout: Duration,
    pub attempts: u32,
    /// The UDP payload size ward advertises upstream.
    pub edns_payload: u16,
}

#[derive(Debug)]
struct Upstream {
    addr: SocketAddr,
    handles: UpstreamHandles,
    failures: AtomicU32,
    /// Milliseconds since `epoch` before which the upstream is skipped.
    down_until: AtomicU64,
    /// Milliseconds since `epoch` of the last well-formed answer, plus one
    /// (0 means never).
    last_ok: AtomicU64,
}

/// The configured upstreams and their health.
#[derive(Debug)]
pub struct Upstreams {
    list: Vec<Upstream>,
    timeout: Duration,
    attempts: u32,
    edns_payload: u16,
    epoch: Instant,
}

enum TryError {
    Timeout,
    Network,
    Rcode(u8),
    Malformed,
}

impl Upstreams {
    pub fn new(settings: &UpstreamSettings, metrics: &DnsMetrics) -> Self {
        Self {
            list: settings
                .addrs
                .iter()
                .map(|&addr| Upstream {
                    addr,
                    handles: metrics.upstream_handles(&addr.to_string()),
                    failures: AtomicU32::new(0),
                    down_until: AtomicU64::new(0),
                    last_ok: AtomicU64::new(0),
                })
                .collect(),
            timeout: settings.timeout,
            attempts: settings.attempts.max(1),
            edns_payload: settings.edns_payload,
            epoch: Instant::now(),
        }
    }

    fn now_ms(&self) -> u64 {
        u64::try_from(self.epoch.elapsed().as_millis()).unwrap_or(u64::MAX)
    }

    /// True when some upstream answered within [`HEALTHY_WINDOW`].
    pub fn any_healthy(&self) -> bool {
        let now = self.now_ms();
        let window = u64::try_from(HEALTHY_WINDOW.as_millis()).unwrap_or(u64::MAX);
        self.list.iter().any(|u| {
            let last = u.last_ok.load(Ordering::Relaxed);
            last != 0 && now.saturating_sub(last - 1) <= window
        })
    }

    /// Upstreams that have not answered within half the healthy window,
    /// for the background health probe.
    pub fn needs_probe(&self) -> Vec<usize> {
        let now = self.now_ms();
        let half = u64::try_from(HEALTHY_WINDOW.as_millis() / 2).unwrap_or(u64::MAX);
        (0..self.list.len())
            .filter(|&i| {
                let last = self.list[i].last_ok.load(Ordering::Relaxed);
                last == 0 || now.saturating_sub(last - 1) > half
            })
            .collect()
    }

    /// Sends `. IN NS` to one upstream; any well-formed answer marks it up.
    pub async fn probe(&self, index: usize) {
        let Some(up) = self.list.get(index) else {
            return;
        };
        let question = b"\x00\x00\x02\x00\x01";
        match self.try_udp(up, question, false, false).await {
            Ok(_) | Err(TryError::Rcode(_)) => self.mark_ok(up),
            Err(_) => self.mark_failed(up),
        }
    }

    /// Resolves `question` (lowercase name, type, class) through the
    /// upstreams in order.
    pub async fn exchange(
        &self,
        question: &[u8],
        checking_disabled: bool,
        dnssec_ok: bool,
    ) -> Result<Upstreamed, Failure> {
        let mut tried = false;
        let mut network = false;
        // First the upstreams believed up (or due a probe). When every one
        // is marked down, try them all anyway: a flaky or rate-limiting
        // sole upstream must not turn every cache miss into SERVFAIL. The
        // time spent stays bounded by timeout x attempts per upstream.
        for pass in 0..2 {
            for up in &self.list {
                if pass == 0 && !self.admit(up) {
                    continue;
                }
                tried = true;
                match self
                    .try_upstream(up, question, checking_disabled, dnssec_ok)
                    .await
                {
                    Ok(answer) => return Ok(answer),
                    Err(was_network) => network |= was_network,
                }
            }
            if tried {
                break;
            }
        }
        Err(match (tried, network) {
            (false, _) => Failure::AllDown,
            (true, true) => Failure::Network,
            (true, false) => Failure::NoAnswer,
        })
    }

    /// Up to `attempts` tries on one upstream. On failure, says whether a
    /// network error (rather than timeouts or refusals) was seen.
    async fn try_upstream(
        &self,
        up: &Upstream,
        question: &[u8],
        checking_disabled: bool,
        dnssec_ok: bool,
    ) -> Result<Upstreamed, bool> {
        let mut network = false;
        for _ in 0..self.attempts {
            match self
                .try_udp(up, question, checking_disabled, dnssec_ok)
                .await
            {
                Ok(answer) => {
                    self.mark_ok(up);
                    return Ok(answer);
                }
                Err(TryError::Timeout) => {
                    debug!(upstream = %up.addr, "upstream timeout");
                    up.handles.error(UpstreamError::Timeout);
                }
                Err(TryError::Network) => {
                    debug!(upstream = %up.addr, "upstream network error");
                    up.handles.error(UpstreamError::Network);
                    network = true;
                    break;
                }
                Err(TryError::Malformed) => {
                    debug!(upstream = %up.addr, "malformed upstream response");
                    up.handles.error(UpstreamError::Malformed);
                    break;
                }
                Err(TryError::Rcode(rcode)) => {
                    // The server is alive; it just will not answer this.
                    self.mark_ok(up);
                    up.handles.error(if rcode == RCODE_REFUSED {
                        UpstreamError::Refused
                    } else {
                        UpstreamError::ServFail
                    });
                    return Err(false);
                }
            }
        }
        self.mark_failed(up);
        Err(network)
    }

    /// Whether to send to `up` now. A down upstream whose back-off has
    /// elapsed is admitted once as a probe.
    fn admit(&self, up: &Upstream) -> bool {
        let until = up.down_until.load(Ordering::Relaxed);
        if until == 0 {
            return true;
        }
        let now = self.now_ms();
        if now < until {
            return false;
        }
        // Let exactly one query through as the probe: push the window out
        // first, so concurrent queries keep skipping.
        let backoff = backoff_ms(up.failures.load(Ordering::Relaxed));
        up.down_until
            .compare_exchange(until, now + backoff, Ordering::Relaxed, Ordering::Relaxed)
            .is_ok()
    }

    fn mark_ok(&self, up: &Upstream) {
        if up.failures.swap(0, Ordering::Relaxed) >= DOWN_AFTER {
            info!(upstream = %up.addr, "upstream is answering again");
        }
        up.down_until.store(0, Ordering::Relaxed);
        up.last_ok.store(self.now_ms() + 1, Ordering::Relaxed);
        up.handles.set_up(true);
    }

    fn mark_failed(&self, up: &Upstream) {
        let failures = up
            .failures
            .fetch_add(1, Ordering::Relaxed)
            .saturating_add(1);
        if failures == DOWN_AFTER {
            warn!(
                upstream = %up.addr,
                failures,
                "upstream marked down after consecutive failures; backing off"
            );
        }
        if failures >= DOWN_AFTER {
            up.down_until
                .store(self.now_ms() + backoff_ms(failures), Ordering::Relaxed);
            up.handles.set_up(false);
        }
    }

    async fn try_udp(
        &self,
        up: &Upstream,
        question: &[u8],
        cd: bool,
        dnssec_ok: bool,
    ) -> Result<Upstreamed, TryError> {
        let id = random_id();
        let query = build_query(id, question, cd, dnssec_ok, self.edns_payload);
        let started = Instant::now();
        let result = tokio::time::timeout(self.timeout, async {
            let bind: SocketAddr = if up.addr.is_ipv4() {
                ([0, 0, 0, 0], 0).into()
            } else {
                ([0u16; 8], 0).into()
            };
            let sock = UdpSocket::bind(bind).await.map_err(|_| TryError::Network)?;
            sock.connect(up.addr).await.map_err(|_| TryError::Network)?;
            sock.send(&query).await.map_err(|_| TryError::Network)?;
            // Room for the largest size ward may advertise and one byte
            // more: an answer that fills the buffer may have been cut by
            // the kernel, so it is asked again over TCP (as a truncated one
            // is). An upstream that sends more than ward advertised, but
            // no more than this, is still taken. 4 KiB per forward in
            // flight, not 64 KiB.
            let mut buf = vec![0u8; UDP_BUF];
            loop {
                let n = sock.recv(&mut buf).await.map_err(|_| TryError::Network)?;
                if n == buf.len() {
                    return Ok(None);
                }
                match response::accept(&buf[..n], id, question) {
                    // Possibly spoofed or a late answer: keep listening.
                    Err(Rejected::Mismatch) => continue,
                    Err(Rejected::Truncated) => return Ok(None),
                    Err(Rejected::Malformed(_)) => return Err(TryError::Malformed),
                    Ok(answer) => return Ok(Some(answer)),
                }
            }
        })
        .await
        .map_err(|_| TryError::Timeout)?;
        let answer = match result? {
            Some(answer) => answer,
            None => {
                up.handles.error(UpstreamError::Truncated);
                self.try_tcp(up, &query, id, question).await?
            }
        };
        up.handles.observe(started.elapsed());
        check_rcode(answer)
    }

    async fn try_tcp(
        &self,
        up: &Upstream,
        query: &[u8],
        id: u16,
        question: &[u8],
    ) -> Result<Upstreamed, TryError> {
        tokio::time::timeout(self.timeout, async {
            let mut stream = TcpStream::connect(up.addr)
                .await
                .map_err(|_| TryError::Network)?;
            let mut framed = Vec::with_capacity(query.len() + 2);
            // Queries ward builds are a few hundred bytes at most.
            framed.extend_from_slice(&(query.len() as u16).to_be_bytes());
            framed.extend_from_slice(query);
            stream
                .write_all(&framed)
                .await
                .map_err(|_| TryError::Network)?;
            let len = stream.read_u16().await.map_err(|_| TryError::Network)?;
            let mut buf = vec![0u8; usize::from(len)];
            stream
                .read_exact(&mut buf)
                .await
                .map_err(|_| TryError::Network)?;
            response::accept(&buf, id, question).map_err(|_| TryError::Malformed)
        })
        .await
        .map_err(|_| TryError::Timeout)?
    }
}

fn check_rcode(answer: Upstreamed) -> Result<Upstreamed, TryError> {
    match answer.rcode() {
        r @ (RCODE_SERVFAIL | RCODE_REFUSED | RCODE_NOTIMP | RCODE_FORMERR) => {
            Err(TryError::Rcode(r))
        }
        _ => Ok(answer),
    }
}

fn backoff_ms(failures: u32) -> u64 {
    let steps = failures.saturating_sub(DOWN_AFTER).min(8);
    let ms = MIN_BACKOFF.as_millis() as u64 * (1u64 << steps);
    ms.min(MAX_BACKOFF.as_millis() as u64)
}

/// A random DNS message ID (for queries ward sends itself).
pub(crate) fn random_id() -> u16 {
    let mut b = [0u8; 2];
    // The OS RNG does not fail on Linux once booted; a constant ID would
    // only weaken spoofing resistance, not correctness.
    let _ = getrandom::fill(&mut b);
    u16::from_be_bytes(b)
}

/// The query ward sends upstream.
pub fn build_query(id: u16, question: &[u8], cd: bool, dnssec_ok: bool, payload: u16) -> Vec<u8> {
    let mut q = Vec::with_capacity(12 + question.len() + 11);
    let mut f = flags::RD | flags::AD;
    if cd {
        f |= flags::CD;
    }
    wire::put_header(
        &mut q,
        &Header {
            id,
            flags: f,
            qdcount: 1,
            ancount: 0,
            nscount: 0,
            arcount: 1,
        },
    );
    q.extend_from_slice(question);
    wire::put_opt(&mut q, payload, 0, dnssec_ok, &[]);
    q
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dns::query;

    #[test]
    fn upstream_query_carries_only_what_it_should() {
        let q = build_query(7, b"\x01a\x00\x00\x01\x00\x01", true, true, 1232);
        let parsed = query::parse(&q).unwrap();
        let edns = parsed.edns.unwrap();
        assert!(edns.dnssec_ok);
        assert!(!edns.client_subnet);
        assert_eq!(edns.udp_size, 1232);
        assert!(parsed.checking_disabled() && parsed.recursion_desired());
        // Header + question + an OPT with no options: 12 + 7 + 11.
        assert_eq!(q.len(), 30);
    }

    #[test]
    fn backoff_grows_and_caps() {
        assert_eq!(backoff_ms(3), 2000);
        assert_eq!(backoff_ms(4), 4000);
        assert_eq!(backoff_ms(100), 60_000);
    }
}
