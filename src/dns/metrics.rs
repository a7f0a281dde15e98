//! The DNS side's metric handles and what it records: queries by protocol
//! and result, malformed messages, blocks by category, the answer cache,
//! each upstream's latency, errors and health, rate-limited answers and
//! closed TCP connections.
//!
//! `metrics` names and registers the families and fills these handles
//! once at start-up; the DNS side only records, so it depends on
//! `instrument`, never on `metrics`. Every series with fixed labels is
//! pre-created and indexed from arrays: a hot-path update is one relaxed
//! atomic add.

use std::time::Duration;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;

use super::{Protocol, QueryResult};
use crate::instrument::{CloseReason, CountGauge, HotCounter, label_enum};
use crate::policy::bypass::Switch;
use crate::policy::safe_search::Engine;

label_enum! {
    /// Why an upstream exchange failed (`ward_upstream_errors_total`).
    pub enum UpstreamError {
        /// No answer within the timeout.
        Timeout = "timeout",
        /// A socket error (unreachable, reset, …).
        Network = "network",
        /// The upstream answered SERVFAIL.
        ServFail = "servfail",
        /// The upstream answered REFUSED.
        Refused = "refused",
        /// The answer did not parse or did not match the question.
        Malformed = "malformed",
        /// The UDP answer was truncated (TC), so it was retried over TCP.
        Truncated = "truncated",
    }
}

label_enum! {
    /// Which `[limits]` limit held an answer back
    /// (`ward_rate_limited_total`).
    pub enum LimitKind {
        /// `limits.client_qps`: queries per client prefix.
        ClientQps = "client_qps",
        /// `limits.rrl`: identical responses per client prefix.
        Rrl = "rrl",
    }
}

label_enum! {
    /// What happened to a rate-limited answer.
    pub enum LimitAction {
        /// Nothing was sent.
        Drop = "drop",
        /// An empty truncated answer was sent, so a real client retries
        /// over TCP.
        Slip = "slip",
    }
}

/// The labels of `ward_blocked_total`.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(crate) struct BlockedLabels {
    pub(crate) category: String,
    pub(crate) action: &'static str,
}

/// The labels of `ward_profile_blocked_total`: the profile and list by
/// their names in the config (`national` for the national list), the
/// category by its name in the list's manifest. Never a client or a name.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(crate) struct ProfileBlockedLabels {
    pub(crate) profile: String,
    pub(crate) list: String,
    pub(crate) category: String,
    pub(crate) channel: &'static str,
}

/// The one channel that applies school profiles today.
pub const PROFILE_CHANNEL_DNS: &str = "dns";

/// The labels of the per-upstream latency histogram and health gauge.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(crate) struct UpstreamLabels {
    pub(crate) upstream: String,
}

/// The labels of `ward_upstream_errors_total`.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(crate) struct UpstreamErrorLabels {
    pub(crate) upstream: String,
    pub(crate) kind: &'static str,
}

/// Handles for one upstream, made once per configured address and kept by
/// the upstream's state. [`error`](Self::error) and [`set_up`](Self::set_up)
/// are one atomic operation; [`observe`](Self::observe) takes the
/// histogram's short mutex, once per upstream exchange (not per query).
#[derive(Clone, Debug)]
pub struct UpstreamHandles {
    latency: Histogram,
    errors: [Counter; UpstreamError::ALL.len()],
    up: Gauge,
}

impl UpstreamHandles {
    /// Records the round-trip time of one exchange.
    pub fn observe(&self, elapsed: Duration) {
        self.latency.observe(elapsed.as_secs_f64());
    }

    /// Counts one failed exchange.
    pub fn error(&self, kind: UpstreamError) {
        self.errors[kind as usize].inc();
    }

    /// Marks the upstream healthy or not.
    pub fn set_up(&self, up: bool) {
        self.up.set(i64::from(up));
    }
}

/// The DNS side's handles, filled by `metrics` at registration.
#[derive(Debug)]
pub struct DnsMetrics {
    pub(crate) queries: [[HotCounter; QueryResult::ALL.len()]; Protocol::ALL.len()],
    pub(crate) malformed: [HotCounter; Protocol::ALL.len()],
    pub(crate) blocked: Family<BlockedLabels, HotCounter>,
    /// `ward_profile_blocked_total`.
    pub(crate) profile_blocked: Family<ProfileBlockedLabels, HotCounter>,
    /// `ward_safe_search_rewrites_total`, by engine.
    pub(crate) safe_search: [HotCounter; Engine::ALL.len()],
    /// `ward_bypass_blocked_total`, by `policy::bypass::Switch`.
    pub(crate) bypass: [HotCounter; Switch::ALL.len()],
    pub(crate) cache_hits: HotCounter,
    pub(crate) cache_misses: HotCounter,
    pub(crate) cache_entries: CountGauge,
    pub(crate) cache_bytes: CountGauge,
    pub(crate) upstream_latency: Family<UpstreamLabels, Histogram, fn() -> Histogram>,
    pub(crate) upstream_errors: Family<UpstreamErrorLabels, Counter>,
    pub(crate) upstream_up: Family<UpstreamLabels, Gauge>,
    /// `ward_rate_limited_total`, by limit and action.
    pub(crate) rate_limited: [[HotCounter; LimitAction::ALL.len()]; LimitKind::ALL.len()],
    /// `ward_connections_closed_total{listener="dns_tcp"}`, by reason.
    pub(crate) tcp_closed: [HotCounter; CloseReason::ALL.len()],
}

impl DnsMetrics {
    /// Counts one answered query. Hot path: one atomic add.
    #[inline]
    pub fn query(&self, protocol: Protocol, result: QueryResult) {
        self.queries[protocol as usize][result as usize].inc();
    }

    /// Counts one query answered by a safe-search rule of `engine`.
    #[inline]
    pub fn safe_search(&self, engine: Engine) {
        self.safe_search[engine.index()].inc();
    }

    /// Counts one unparsable client message. Hot path: one atomic add.
    #[inline]
    pub fn malformed(&self, protocol: Protocol) {
        self.malformed[protocol as usize].inc();
    }

    /// The `ward_blocked_total` handle for a category and action. Takes the
    /// family's lock: call it when a list is put in force and cache the
    /// handle per category, not per query. Calls with the same labels
    /// return handles to the same series.
    pub fn blocked_counter(&self, category: &str, action: &'static str) -> HotCounter {
        self.blocked.get_or_create_owned(&BlockedLabels {
            category: category.to_owned(),
            action,
        })
    }

    /// The `ward_profile_blocked_total` handle for a profile, list and
    /// category on the DNS channel. Takes the family's lock: call it when
    /// the profiles or a list change and cache the handle, not per query.
    pub fn profile_blocked_counter(&self, profile: &str, list: &str, category: &str) -> HotCounter {
        self.profile_blocked
            .get_or_create_owned(&ProfileBlockedLabels {
                profile: profile.to_owned(),
                list: list.to_owned(),
                category: category.to_owned(),
                channel: PROFILE_CHANNEL_DNS,
            })
    }

    /// Counts one answer a `[profile.bypass]` switch gave. One atomic add.
    #[inline]
    pub fn bypass(&self, switch: Switch) {
        self.bypass[switch as usize].inc();
    }

    /// The `ward_bypass_blocked_total` handle of `switch`.
    pub fn bypass_counter(&self, switch: Switch) -> HotCounter {
        self.bypass[switch as usize].clone()
    }

    /// Counts one answer-cache hit.
    #[inline]
    pub fn cache_hit(&self) {
        self.cache_hits.inc();
    }

    /// Counts one answer-cache miss.
    #[inline]
    pub fn cache_miss(&self) {
        self.cache_misses.inc();
    }

    /// Publishes the answer cache's size.
    pub fn set_cache_size(&self, entries: u64, bytes: u64) {
        self.cache_entries.set(entries);
        self.cache_bytes.set(bytes);
    }

    /// The handles for one upstream, with every error kind's series
    /// created at zero (so `rate()` works before the first error). Takes
    /// family locks: call once per configured upstream and keep the result.
    pub fn upstream_handles(&self, upstream: &str) -> UpstreamHandles {
        let labels = UpstreamLabels {
            upstream: upstream.to_owned(),
        };
        UpstreamHandles {
            latency: self.upstream_latency.get_or_create_owned(&labels),
            errors: UpstreamError::ALL.map(|kind| {
                self.upstream_errors
                    .get_or_create_owned(&UpstreamErrorLabels {
                        upstream: upstream.to_owned(),
                        kind: kind.as_str(),
                    })
            }),
            up: self.upstream_up.get_or_create_owned(&labels),
        }
    }

    /// Counts one answer held back by a rate limit. Under a flood this is
    /// per packet: one relaxed atomic add.
    pub fn rate_limited(&self, limit: LimitKind, action: LimitAction) {
        self.rate_limited[limit as usize][action as usize].inc();
    }

    /// Counts one DNS-over-TCP connection ward closed itself.
    pub fn tcp_closed(&self, reason: CloseReason) {
        self.tcp_closed[reason as usize].inc();
    }
}
