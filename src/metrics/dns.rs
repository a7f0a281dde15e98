//! The DNS area's registration: queries by protocol and result,
//! malformed messages, blocks by category, the answer cache, and each
//! upstream's latency, errors and health. The handles and what they count
//! are `dns::metrics`'s.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

use super::{
    BLOCKED_TOTAL, BYPASS_BLOCKED_TOTAL, CACHE_BYTES, CACHE_ENTRIES, CACHE_HITS_TOTAL,
    CACHE_MISSES_TOTAL, MALFORMED_TOTAL, PROFILE_BLOCKED_TOTAL, QUERIES_TOTAL,
    SAFE_SEARCH_REWRITES_TOTAL, UPSTREAM_ERRORS_TOTAL, UPSTREAM_LATENCY_BUCKETS,
    UPSTREAM_LATENCY_SECONDS, UPSTREAM_UP, counter_name,
};
use crate::dns::metrics::{
    BlockedLabels, DnsMetrics, ProfileBlockedLabels, UpstreamErrorLabels, UpstreamLabels,
};
use crate::dns::{Protocol, QueryResult};
use crate::instrument::{CountGauge, HotCounter};
use crate::policy::bypass::Switch;
use crate::policy::safe_search::Engine;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct QueryLabels {
    protocol: &'static str,
    result: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct EngineLabels {
    engine: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ProtocolLabels {
    protocol: &'static str,
}

fn latency_histogram() -> Histogram {
    Histogram::new(UPSTREAM_LATENCY_BUCKETS)
}

/// Registers the area's metrics and pre-creates every fixed-label series.
/// The rate-limit and TCP-close rows are the limits area's; `Metrics::new`
/// fills them in once that area is registered.
pub(super) fn register(r: &mut Registry) -> DnsMetrics {
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
    let profile_blocked = Family::<ProfileBlockedLabels, HotCounter>::default();
    r.register(
        counter_name(PROFILE_BLOCKED_TOTAL),
        "Queries from clients with a school profile answered blocked, by profile, list, category and channel",
        profile_blocked.clone(),
    );
    let safe_search = Family::<EngineLabels, HotCounter>::default();
    r.register(
        counter_name(SAFE_SEARCH_REWRITES_TOTAL),
        "Queries of clients with a school profile answered by a safe-search rule (a CNAME to the engine's safe host, or NODATA), by engine",
        safe_search.clone(),
    );
    let safe_search =
        Engine::ALL.map(|e| safe_search.get_or_create_owned(&EngineLabels { engine: e.as_str() }));
    let bypass = register_bypass(r);
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
    DnsMetrics {
        queries,
        malformed,
        blocked,
        profile_blocked,
        safe_search,
        bypass,
        cache_hits,
        cache_misses,
        cache_entries,
        cache_bytes,
        upstream_latency,
        upstream_errors,
        upstream_up,
        rate_limited: Default::default(),
        tcp_closed: Default::default(),
    }
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct BypassLabels {
    kind: &'static str,
}

/// `ward_bypass_blocked_total{kind}`, every switch's series at 0.
fn register_bypass(r: &mut Registry) -> [HotCounter; Switch::ALL.len()] {
    let family = Family::<BypassLabels, HotCounter>::default();
    r.register(
        counter_name(BYPASS_BLOCKED_TOTAL),
        "Answers given by a profile's [profile.bypass] switches instead of a way around the filter, by switch",
        family.clone(),
    );
    Switch::ALL.map(|s| family.get_or_create_owned(&BypassLabels { kind: s.key() }))
}
