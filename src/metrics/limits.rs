//! The limits area: UDP answers held back by `[limits]`, and client
//! connections ward closed itself to stay within its bounds. Labelled by
//! limit, action, listener and reason: never by client.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::registry::Registry;

use prometheus_client::metrics::family::Family;

use super::{CONNECTIONS_CLOSED_TOTAL, Metrics, RATE_LIMITED_TOTAL, counter_name};
use crate::dns::metrics::{LimitAction, LimitKind};
use crate::instrument::{CloseReason, HotCounter, label_enum};

label_enum! {
    /// A listener whose connections are bounded
    /// (`ward_connections_closed_total`).
    pub enum Listener {
        /// DNS over TCP (`dns.listen`).
        DnsTcp = "dns_tcp",
        /// DNS over TLS (`dot.listen`).
        DnsDot = "dns_dot",
        /// The admin HTTP listener (`admin.listen`).
        Admin = "admin",
        /// DNS over HTTPS (`doh.listen`).
        DnsDoh = "dns_doh",
    }
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct LimitedLabels {
    limit: LimitKind,
    action: LimitAction,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ClosedLabels {
    listener: Listener,
    reason: CloseReason,
}

/// The limits area's handles, every series pre-created.
#[derive(Debug)]
pub(super) struct LimitMetrics {
    /// Handed to the DNS side (`DnsMetrics::rate_limited`).
    pub(super) limited: [[HotCounter; LimitAction::ALL.len()]; LimitKind::ALL.len()],
    /// The `dns_tcp` row is handed to the DNS side too.
    pub(super) closed: [[HotCounter; CloseReason::ALL.len()]; Listener::ALL.len()],
}

impl LimitMetrics {
    pub(super) fn register(r: &mut Registry) -> Self {
        let limited = Family::<LimitedLabels, HotCounter>::default();
        r.register(
            counter_name(RATE_LIMITED_TOTAL),
            "UDP answers held back by [limits], by limit and action",
            limited.clone(),
        );
        let closed = Family::<ClosedLabels, HotCounter>::default();
        r.register(
            counter_name(CONNECTIONS_CLOSED_TOTAL),
            "Client connections closed by ward to stay within its limits, by listener and reason",
            closed.clone(),
        );
        Self {
            limited: LimitKind::ALL.map(|limit| {
                LimitAction::ALL
                    .map(|action| limited.get_or_create_owned(&LimitedLabels { limit, action }))
            }),
            closed: Listener::ALL.map(|listener| {
                CloseReason::ALL
                    .map(|reason| closed.get_or_create_owned(&ClosedLabels { listener, reason }))
            }),
        }
    }
}

impl Metrics {
    /// `listener`'s row of `ward_connections_closed_total`, by reason,
    /// for a connection table that counts its own closes.
    pub fn closed_row(&self, listener: Listener) -> [HotCounter; CloseReason::ALL.len()] {
        self.limits.closed[listener as usize].clone()
    }

    /// Counts one connection ward closed itself.
    pub fn connection_closed(&self, listener: Listener, reason: CloseReason) {
        self.limits.closed[listener as usize][reason as usize].inc();
    }
}
