//! The `[http]` filter: the host of a steered plain-HTTP request (from an
//! absolute-URI target, else the `Host` header) decides; a blocked request
//! gets the 451 notice page, anything else is relayed.
//!
//! Only the first request of a connection is judged; see the limits in
//! `docs/deploy-sni.md`.

use std::net::SocketAddr;
use std::time::Duration;

use tokio::net::TcpStream;

use super::proxy::Filter;
use super::{Channel, Decision, Unparsable, WebResult, decide};
use crate::blockpage::head::{HeadError, HeadLimits, RequestHead, read_head};
use crate::blockpage::send_and_close;
use crate::config::OnUnparsable;

/// Answer when no verified list is in force: never relay unchecked.
const NOT_READY: &[u8] = b"HTTP/1.1 503 Service Unavailable\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: 34\r\nCache-Control: no-store\r\nConnection: close\r\n\r\nfiltering is not ready; try again\n";
/// Answer to bytes that are not HTTP, with `on_unparsable = "block"`.
const BAD_REQUEST: &[u8] =
    b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n";

impl Filter {
    /// One steered HTTP connection.
    pub(super) async fn http(&self, mut client: TcpStream, peer: SocketAddr) -> WebResult {
        let Some(dst) = self.destination(&client) else {
            return WebResult::ClientError;
        };
        let limits = HeadLimits {
            max_bytes: self.settings.max_read,
            timeout: self.settings.read_timeout,
        };
        let mut buf = Vec::with_capacity(2048);
        let head = read_head(&mut client, &mut buf, &limits).await;
        let guard = self.store.load();
        let Some(active) = guard.as_ref() else {
            drop(guard);
            send_and_close(&mut client, NOT_READY, self.settings.read_timeout).await;
            return WebResult::NotReady;
        };
        let (decision, head): (Decision, Option<RequestHead>) = match head {
            Ok(head) => {
                let decision = match head.host.as_deref() {
                    Some(host) => decide([host.as_bytes()], active),
                    None => Decision::Unparsable(Unparsable::NoName),
                };
                (decision, Some(head))
            }
            Err(HeadError::TooLarge) => (Decision::Unparsable(Unparsable::TooLarge), None),
            Err(HeadError::Malformed(_)) => (Decision::Unparsable(Unparsable::WrongProtocol), None),
            Err(HeadError::Timeout) => return WebResult::Timeout,
            Err(HeadError::Io(_) | HeadError::Closed) => return WebResult::ClientError,
        };
        self.log(peer, active, &decision);
        // The notice page is rendered now, against this snapshot; then the
        // snapshot is released so a list swap is never held up by a slow
        // client.
        let refusing = match decision {
            Decision::Blocked { .. } => true,
            Decision::Unparsable(_) => self.settings.on_unparsable == OnUnparsable::Block,
            Decision::Allowed => false,
        };
        let page = match (&head, &self.page) {
            (Some(head), Some(page)) if refusing => {
                Some(page.respond(head, Some(active), self.metrics.page_views()))
            }
            _ => None,
        };
        drop(guard);
        match decision {
            Decision::Blocked { category, .. } => {
                self.metrics.web_blocked(Channel::Http, &category);
                refuse(&mut client, page, self.settings.read_timeout).await;
                WebResult::Blocked
            }
            Decision::Unparsable(reason) => {
                self.metrics.web_unparsable(Channel::Http, reason);
                match self.settings.on_unparsable {
                    OnUnparsable::Block => {
                        refuse(&mut client, page, self.settings.read_timeout).await;
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
}

/// Sends the page (or a bare 400 for bytes that are not HTTP), then closes
/// politely.
async fn refuse(client: &mut TcpStream, page: Option<Vec<u8>>, timeout: Duration) {
    send_and_close(client, page.as_deref().unwrap_or(BAD_REQUEST), timeout).await;
}
