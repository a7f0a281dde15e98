//! The DNS area: queries by protocol and result, malformed messages,
//! blocks by category, the answer cache, and each upstream's latency,
//! errors and health.

use std::sync::atomic::AtomicU64;
use std::time::Duration;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

use super::{
    BLOCKED_TOTAL, CACHE_BYTES, CACHE_ENTRIES, CACHE_HITS_TOTAL, CACHE_MISSES_TOTAL, HotCounter,
    MALFORMED_TOTAL, Metrics, Protocol, QUERIES_TOTAL, QueryResult, UPSTREAM_ERRORS_TOTAL,
    UPSTREAM_LATENCY_BUCKETS, UPSTREAM_LATENCY_SECONDS, UPSTREAM_UP, UpstreamError, counter_name,
};

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct QueryLabels {
    protocol: &'static str,
    result: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ProtocolLabels {
    protocol: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(super) struct BlockedLabels {
    pub(super) category: String,
    pub(super) action: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct UpstreamLabels {
    upstream: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(super) struct UpstreamErrorLabels {
    pub(super) upstream: String,
    pub(super) kind: &'static str,
}

/// A gauge of non-negative counts (the default `Gauge` is `i64`).
type CountGauge = Gauge<u64, AtomicU64>;

fn latency_histogram() -> Histogram {
    Histogram::new(UPSTREAM_LATENCY_BUCKETS)
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

/// The DNS area's handles.
#[derive(Debug)]
pub(super) struct DnsMetrics {
    pub(super) queries: [[HotCounter; QueryResult::ALL.len()]; Protocol::ALL.len()],
    pub(super) malformed: [HotCounter; Protocol::ALL.len()],
    pub(super) blocked: Family<BlockedLabels, HotCounter>,
    cache_hits: HotCounter,
    cache_misses: HotCounter,
    cache_entries: CountGauge,
    cache_bytes: CountGauge,
    upstream_latency: Family<UpstreamLabels, Histogram, fn() -> Histogram>,
    pub(super) upstream_errors: Family<UpstreamErrorLabels, Counter>,
    upstream_up: Family<UpstreamLabels, Gauge>,
}

impl DnsMetrics {
    /// Registers the area's metrics and pre-creates every fixed-label
    /// series.
    pub(super) fn register(r: &mut Registry) -> Self {
        let queries_family = Family::<QueryLabels, HotCounter>::default();
        r.register(
            counter_name(QUERIES_TOTAL),
            "DNS queries answered, by protocol and result",
            queries_family.clone(),
        );
        let queries = Protocol::ALL.map(|p| {
            QueryResult::ALL.map(|res| {
                queries_family.get_or_create_owned(&QueryLabels {
                    protocol: p.as_str(),
                    result: res.as_str(),
                })
            })
        });
        let malformed_family = Family::<ProtocolLabels, HotCounter>::default();
        r.register(
            counter_name(MALFORMED_TOTAL),
            "Client DNS messages that could not be parsed, by protocol",
            malformed_family.clone(),
        );
        let malformed = Protocol::ALL.map(|p| {
            malformed_family.get_or_create_owned(&ProtocolLabels {
                protocol: p.as_str(),
            })
        });
        let blocked = Family::<BlockedLabels, HotCounter>::default();
        r.register(
            counter_name(BLOCKED_TOTAL),
            "Queries answered from the blocklist, by list category and block action",
            blocked.clone(),
        );
        let cache_hits = HotCounter::default();
        r.register(
            counter_name(CACHE_HITS_TOTAL),
            "Answer-cache lookups that hit",
            cache_hits.clone(),
        );
        let cache_misses = HotCounter::default();
        r.register(
            counter_name(CACHE_MISSES_TOTAL),
            "Answer-cache lookups that missed",
            cache_misses.clone(),
        );
        let cache_entries = CountGauge::default();
        r.register(
            CACHE_ENTRIES,
            "Entries in the answer cache",
            cache_entries.clone(),
        );
        let cache_bytes = CountGauge::default();
        r.register(
            CACHE_BYTES,
            "The answer cache's weight against cache.max_memory in bytes (each entry counts at least max_memory / max_entries)",
            cache_bytes.clone(),
        );
        let upstream_latency =
            Family::<UpstreamLabels, Histogram, fn() -> Histogram>::new_with_constructor(
                latency_histogram,
            );
        r.register(
            UPSTREAM_LATENCY_SECONDS,
            "Round-trip time of upstream DNS exchanges in seconds, by upstream",
            upstream_latency.clone(),
        );
        let upstream_errors = Family::<UpstreamErrorLabels, Counter>::default();
        r.register(
            counter_name(UPSTREAM_ERRORS_TOTAL),
            "Failed upstream DNS exchanges, by upstream and kind",
            upstream_errors.clone(),
        );
        let upstream_up = Family::<UpstreamLabels, Gauge>::default();
        r.register(
            UPSTREAM_UP,
            "Whether the upstream is considered healthy (1) or not (0)",
            upstream_up.clone(),
        );
        Self {
            queries,
            malformed,
            blocked,
            cache_hits,
            cache_misses,
            cache_entries,
            cache_bytes,
            upstream_latency,
            upstream_errors,
            upstream_up,
        }
    }
}

impl Metrics {
    /// Counts one answered query. Hot path: one atomic add.
    #[inline]
    pub fn query(&self, protocol: Protocol, result: QueryResult) {
        self.dns.queries[protocol as usize][result as usize].inc();
    }

    /// Counts one unparsable client message. Hot path: one atomic add.
    #[inline]
    pub fn malformed(&self, protocol: Protocol) {
        self.dns.malformed[protocol as usize].inc();
    }

    /// The `ward_blocked_total` handle for a category and action. Takes the
    /// family's lock: call it when a list is put in force and cache the
    /// handle per category, not per query. Calls with the same labels
    /// return handles to the same series.
    pub fn blocked_counter(&self, category: &str, action: &'static str) -> HotCounter {
        self.dns.blocked.get_or_create_owned(&BlockedLabels {
            category: category.to_owned(),
            action,
        })
    }

    /// Counts one answer-cache hit.
    #[inline]
    pub fn cache_hit(&self) {
        self.dns.cache_hits.inc();
    }

    /// Counts one answer-cache miss.
    #[inline]
    pub fn cache_miss(&self) {
        self.dns.cache_misses.inc();
    }

    /// Publishes the answer cache's size.
    pub fn set_cache_size(&self, entries: u64, bytes: u64) {
        self.dns.cache_entries.set(entries);
        self.dns.cache_bytes.set(bytes);
    }

    /// The handles for one upstream, with every error kind's series
    /// created at zero (so `rate()` works before the first error). Takes
    /// family locks: call once per configured upstream and keep the result.
    pub fn upstream_handles(&self, upstream: &str) -> UpstreamHandles {
        let labels = UpstreamLabels {
            upstream: upstream.to_owned(),
        };
        UpstreamHandles {
            latency: self.dns.upstream_latency.get_or_create_owned(&labels),
            errors: UpstreamError::ALL.map(|kind| {
                self.dns
                    .upstream_errors
                    .get_or_create_owned(&UpstreamErrorLabels {
                        upstream: upstream.to_owned(),
                        kind: kind.as_str(),
                    })
            }),
            up: self.dns.upstream_up.get_or_create_owned(&labels),
        }
    }
}
