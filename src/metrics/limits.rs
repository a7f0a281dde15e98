//! The limits area: UDP answers held back by `[limits]`, and client
//! connections ward closed itself to stay within its bounds. Labelled by
//! limit, action, listener and reason: never by client.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::registry::Registry;

use super::{
    CONNECTIONS_CLOSED_TOTAL, CloseReason, HotCounter, LimitAction, LimitKind, Listener, Metrics,
    RATE_LIMITED_TOTAL, counter_name,
};
use prometheus_client::metrics::family::Family;

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
    limited: [[HotCounter; LimitAction::ALL.len()]; LimitKind::ALL.len()],
    closed: [[HotCounter; CloseReason::ALL.len()]; Listener::ALL.len()],
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
    /// Counts one answer held back by a rate limit. Under a flood this is
    /// per packet: one relaxed atomic add.
    pub fn rate_limited(&self, limit: LimitKind, action: LimitAction) {
        self.limits.limited[limit as usize][action as usize].inc();
    }

    /// Counts one connection ward closed itself.
    pub fn connection_closed(&self, listener: Listener, reason: CloseReason) {
        self.limits.closed[listener as usize][reason as usize].inc();
    }
}
