//! The listeners of `[sni]` and `[http]`: accept, find the original
//! destination, read a name, judge it, then refuse or relay.

use std::net::SocketAddr;
use std::sync::Arc;

use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;
use tracing::{debug, info, warn};

use super::hello::{HelloError, HelloReader, Progress};
use super::{Channel, Decision, Unparsable, WebMetrics, WebResult, decide, relay, sockopt};
use crate::blockpage::{BlockPage, send_and_close};
use crate::config::{InterceptMode, InterceptSettings, OnUnparsable};
use crate::dns::engine::truncate_client;
use crate::store::{Active, ListStore};

/// TLS alert `access_denied` (RFC 8446 §6.2), sent to a blocked client.
const ALERT_ACCESS_DENIED: u8 = 49;
/// TLS alert `internal_error`, sent when no list is in force.
const ALERT_INTERNAL_ERROR: u8 = 80;

/// One filter: its settings and what it shares with the rest of ward.
#[derive(Debug)]
pub struct Filter {
    pub channel: Channel,
    pub settings: InterceptSettings,
    pub store: Arc<ListStore>,
    pub metrics: Arc<WebMetrics>,
    /// The notice page for blocked HTTP requests (`[http]` only).
    pub page: Option<Arc<BlockPage>>,
    /// `log.query_log`: log each verdict (client truncated, confidential
    /// names redacted). Off by default.
    pub query_log: bool,
}

/// Why a web-side listener cannot start.
#[derive(Debug, thiserror::Error)]
pub enum SetupError {
    #[error("cannot listen on {addr} ({mode} mode)")]
    Listen {
        addr: std::net::SocketAddr,
        mode: &'static str,
        #[source]
        source: std::io::Error,
    },
    #[error(
        "cannot set SO_MARK {mark:#x}{transparent} on outbound sockets: {error}; ward needs CAP_NET_ADMIN for the SNI/HTTP filters (systemd: AmbientCapabilities=CAP_NET_BIND_SERVICE CAP_NET_ADMIN; see docs/deploy-sni.md)"
    )]
    Privileges {
        mark: u32,
        transparent: &'static str,
        error: std::io::Error,
    },
}

/// Binds every `listen` address of a filter (before privileges drop).
pub fn bind(settings: &InterceptSettings) -> Result<Vec<TcpListener>, SetupError> {
    settings
        .listen
        .iter()
        .map(|&addr| {
            sockopt::bind_listener(addr, settings.mode).map_err(|source| SetupError::Listen {
                addr,
                mode: settings.mode.as_str(),
                source,
            })
        })
        .collect()
}

/// Fails unless this process may set the outbound mark and, in tproxy
/// mode, make transparent sockets (both need CAP_NET_ADMIN).
pub fn check_privileges(settings: &InterceptSettings) -> Result<(), SetupError> {
    sockopt::check_privileges(settings.mode, settings.mark).map_err(|source| {
        SetupError::Privileges {
            mark: settings.mark,
            transparent: if settings.mode == InterceptMode::Tproxy {
                " or IP_TRANSPARENT"
            } else {
                ""
            },
            error: source,
        }
    })
}

/// Accepts connections until `shutdown`; each one runs in its own task.
/// At most `max_connections` are handled at once; beyond that, new
/// connections wait in the listen backlog.
pub async fn serve(listener: TcpListener, filter: Arc<Filter>, shutdown: CancellationToken) {
    let limit = Arc::new(Semaphore::new(filter.settings.max_connections));
    let local = listener.local_addr().ok();
    loop {
        let permit = tokio::select! {
            () = shutdown.cancelled() => return,
            permit = Arc::clone(&limit).acquire_owned() => match permit {
                Ok(p) => p,
                Err(_) => return, // the semaphore is never closed
            },
        };
        let (stream, peer) = tokio::select! {
            () = shutdown.cancelled() => return,
            accepted = listener.accept() => match accepted {
                Ok(a) => a,
                Err(e) => {
                    // EMFILE and friends: back off instead of spinning.
                    warn!(channel = filter.channel.as_str(), listen = ?local, "accept failed: {e}");
                    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                    continue;
                }
            },
        };
        let filter = Arc::clone(&filter);
        tokio::spawn(async move {
            let result = match filter.channel {
                Channel::Sni => filter.tls(stream, peer).await,
                Channel::Http => filter.http(stream, peer).await,
            };
            filter.metrics.web(filter.channel, result);
            drop(permit);
        });
    }
}

/// What was read from the client before a verdict.
pub(super) enum Read<T> {
    Got(T),
    Unparsable(Unparsable),
    Timeout,
    /// EOF or a socket error.
    Gone,
}

impl Filter {
    /// One steered TLS connection.
    async fn tls(&self, mut client: TcpStream, peer: SocketAddr) -> WebResult {
        let Some(dst) = self.destination(&client) else {
            return WebResult::ClientError;
        };
        let mut buf = Vec::with_capacity(2048);
        let read = self.read_hello(&mut client, &mut buf).await;
        let guard = self.store.load();
        let Some(active) = guard.as_ref() else {
            // Never relay what could not be checked.
            refuse_tls(
                &mut client,
                ALERT_INTERNAL_ERROR,
                self.settings.read_timeout,
            )
            .await;
            return WebResult::NotReady;
        };
        let decision = match read {
            Read::Got(hello) => {
                if hello.ech_present {
                    self.metrics.sni_ech();
                }
                decide(hello.server_names.iter().map(Vec::as_slice), active)
            }
            Read::Unparsable(reason) => Decision::Unparsable(reason),
            Read::Timeout => return WebResult::Timeout,
            Read::Gone => return WebResult::ClientError,
        };
        self.log(peer, active, &decision);
        // The verdict owns what it needs: let a list swap free the old
        // list even while this connection lingers or relays.
        drop(guard);
        match decision {
            Decision::Blocked { category, .. } => {
                self.metrics.web_blocked(Channel::Sni, &category);
                refuse_tls(&mut client, ALERT_ACCESS_DENIED, self.settings.read_timeout).await;
                WebResult::Blocked
            }
            Decision::Unparsable(reason) => {
                self.metrics.web_unparsable(Channel::Sni, reason);
                match self.settings.on_unparsable {
                    OnUnparsable::Block => {
                        if reason == Unparsable::WrongProtocol {
                            send_and_close(&mut client, &[], self.settings.read_timeout).await;
                        } else {
                            refuse_tls(
                                &mut client,
                                ALERT_ACCESS_DENIED,
                                self.settings.read_timeout,
                            )
                            .await;
                        }
                        WebResult::UnparsableBlocked
                    }
                    OnUnparsable::Allow => match self.pass(client, peer, dst, &buf).await {
                        WebResult::Allowed => WebResult::UnparsableAllowed,
                        other => other,
                    },
                }
            }
            Decision::Allowed => self.pass(client, peer, dst, &buf).await,
        }
    }

    /// Reads until the ClientHello is complete, the cap is hit, or the
    /// deadline passes. Every byte read is kept in `buf` for the replay.
    async fn read_hello(
        &self,
        client: &mut TcpStream,
        buf: &mut Vec<u8>,
    ) -> Read<super::hello::ClientHello> {
        let mut reader = HelloReader::new(self.settings.max_read);
        let read = async {
            loop {
                // Read straight into the replay buffer (no zeroed scratch
                // buffer per connection); the reader sees the new bytes.
                let start = buf.len();
                buf.reserve(4096);
                match client.read_buf(buf).await {
                    Ok(0) | Err(_) => return Read::Gone,
                    Ok(_) => {}
                }
                match reader.feed(&buf[start..]) {
                    Progress::NeedMore => {}
                    Progress::Done(hello) => return Read::Got(hello),
                    Progress::Failed(e) => {
                        return Read::Unparsable(match e {
                            HelloError::NotTls(_) => Unparsable::WrongProtocol,
                            HelloError::TooLarge { .. } => Unparsable::TooLarge,
                            HelloError::Malformed { .. } => Unparsable::Malformed,
                        });
                    }
                }
            }
        };
        match tokio::time::timeout(self.settings.read_timeout, read).await {
            Ok(r) => r,
            Err(_) => Read::Timeout,
        }
    }

    /// The original destination, unless it is this very listener (a
    /// connection made to ward directly, or a rule that would loop).
    pub(super) fn destination(&self, client: &TcpStream) -> Option<SocketAddr> {
        let local = client.local_addr().ok()?;
        let dst = match sockopt::original_dst(client, local, self.settings.mode) {
            Ok(dst) => dst,
            Err(e) => {
                debug!(
                    channel = self.channel.as_str(),
                    "no original destination: {e}"
                );
                return None;
            }
        };
        let to_self = match self.settings.mode {
            InterceptMode::Redirect => dst == local,
            InterceptMode::Tproxy => self.settings.listen.iter().any(|l| {
                l.port() == dst.port()
                    && (l.ip() == dst.ip() || (l.ip().is_unspecified() && dst.ip().is_loopback()))
            }),
        };
        if to_self {
            debug!(
                channel = self.channel.as_str(),
                "connection was not steered (its destination is ward itself); closing"
            );
            return None;
        }
        Some(dst)
    }

    /// Connects to the original destination, replays what the client sent
    /// so far, and relays both ways.
    pub(super) async fn pass(
        &self,
        client: TcpStream,
        peer: SocketAddr,
        dst: SocketAddr,
        sent: &[u8],
    ) -> WebResult {
        let s = &self.settings;
        let mut server = match sockopt::connect(dst, s.mode, s.mark, peer, s.connect_timeout).await
        {
            Ok(server) => server,
            Err(e) => {
                debug!(
                    channel = self.channel.as_str(),
                    "cannot reach the original destination: {e}"
                );
                return WebResult::ConnectFailed;
            }
        };
        if let Err(e) = server.write_all(sent).await {
            debug!(channel = self.channel.as_str(), "replay failed: {e}");
            return WebResult::ConnectFailed;
        }
        let _ = client.set_nodelay(true);
        match relay::relay(&client, &server, s.relay, s.idle_timeout).await {
            Ok(_) => {}
            Err(e) => debug!(channel = self.channel.as_str(), "relay ended: {e}"),
        }
        WebResult::Allowed
    }

    /// The query log line for a verdict (only with `log.query_log`).
    pub(super) fn log(&self, peer: SocketAddr, active: &Active, decision: &Decision) {
        if !self.query_log {
            return;
        }
        let client = truncate_client(peer.ip().to_canonical());
        let channel = self.channel.as_str();
        match decision {
            Decision::Blocked {
                category,
                confidential,
                key,
            } => {
                let name = if *confidential {
                    format!("confidential:{}", active.redacted(key))
                } else {
                    crate::domain::NameKey::to_forward(key.as_bytes())
                };
                info!(target: "ward::web", %client, channel, name, category, verdict = "blocked", "connection");
            }
            Decision::Allowed => {
                info!(target: "ward::web", %client, channel, verdict = "allowed", "connection");
            }
            Decision::Unparsable(reason) => {
                info!(target: "ward::web", %client, channel, reason = reason.as_str(), verdict = "unparsable", "connection");
            }
        }
    }
}

/// Sends a fatal TLS alert in a plaintext record, then closes politely.
async fn refuse_tls(client: &mut TcpStream, description: u8, timeout: Duration) {
    // ContentType alert(21), legacy version TLS 1.2, length 2,
    // level fatal(2), description.
    let alert = [21, 3, 3, 0, 2, 2, description];
    send_and_close(client, &alert, timeout).await;
}
