//! Prometheus metrics: one [`Metrics`] struct of handles, registered once.
//!
//! Every name is a `ward_` constant below; `docs/metrics.md` describes each
//! one and gives example alerts. Label values are always bounded: fixed
//! enums ([`Protocol`], [`QueryResult`], [`UpstreamError`]), category names
//! from the signed list, and upstream addresses from the config. Never a
//! queried name or a client address.
//!
//! # Cost on the query path
//!
//! A `Family` lookup takes a read lock and hashes the label set. None of
//! that happens per query:
//!
//! * label sets drawn from small enums are created at construction and
//!   indexed from arrays ([`Metrics::query`], [`Metrics::malformed`]);
//! * open label sets hand out cloned handles that callers cache
//!   ([`Metrics::blocked_counter`] per list, [`Metrics::upstream_handles`]
//!   per upstream).
//!
//! Either way a hot-path update is one relaxed atomic add. The measured
//! numbers are in `docs/metrics.md`.

use std::fmt;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::Duration;

use jiff::Timestamp;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::metrics::info::Info;
use prometheus_client::registry::Registry;

use crate::list::ListArtifact;

mod report;
pub use report::{
    CounterSnapshot, REPORT_DROPPED_TOTAL, REPORT_LAST_SUCCESS_TIMESTAMP_SECONDS,
    REPORT_SENT_TOTAL, REPORT_SPOOL_REPORTS, REPORT_SPOOL_WRITE_ERRORS_TOTAL, ReportChannel,
    SendResult,
};

/// Queries answered, by protocol and result.
pub const QUERIES_TOTAL: &str = "ward_queries_total";
/// Queries answered from the blocklist, by category and action.
pub const BLOCKED_TOTAL: &str = "ward_blocked_total";
/// Client messages that could not be parsed, by protocol.
pub const MALFORMED_TOTAL: &str = "ward_malformed_total";
/// Answer-cache lookups that hit.
pub const CACHE_HITS_TOTAL: &str = "ward_cache_hits_total";
/// Answer-cache lookups that missed.
pub const CACHE_MISSES_TOTAL: &str = "ward_cache_misses_total";
/// Entries in the answer cache.
pub const CACHE_ENTRIES: &str = "ward_cache_entries";
/// Approximate bytes held by the answer cache.
pub const CACHE_BYTES: &str = "ward_cache_bytes";
/// Round-trip time of upstream exchanges, by upstream.
pub const UPSTREAM_LATENCY_SECONDS: &str = "ward_upstream_latency_seconds";
/// Failed upstream exchanges, by upstream and kind.
pub const UPSTREAM_ERRORS_TOTAL: &str = "ward_upstream_errors_total";
/// Whether an upstream is considered healthy (1) or not (0).
pub const UPSTREAM_UP: &str = "ward_upstream_up";
/// Serial of the list in force.
pub const LIST_SERIAL: &str = "ward_list_serial";
/// When the list in force was issued, unix seconds.
pub const LIST_ISSUED_TIMESTAMP_SECONDS: &str = "ward_list_issued_timestamp_seconds";
/// When the list in force expires, unix seconds.
pub const LIST_EXPIRES_TIMESTAMP_SECONDS: &str = "ward_list_expires_timestamp_seconds";
/// When this node put the list in force, unix seconds.
pub const LIST_ACTIVATED_TIMESTAMP_SECONDS: &str = "ward_list_activated_timestamp_seconds";
/// Rules in the list in force.
pub const LIST_ENTRIES: &str = "ward_list_entries";
/// Whether a verified list is in force (1) or not (0).
pub const LIST_LOADED: &str = "ward_list_loaded";
/// Whether the list in force is past its expiry (1) or not (0).
pub const LIST_STALE: &str = "ward_list_stale";
/// Polls of `list.url`, by result.
pub const LIST_FETCH_TOTAL: &str = "ward_list_fetch_total";
/// 1 while the endpoint offers a second, different artifact under the
/// highest serial accepted (an equivocation), until a newer list is
/// accepted.
pub const LIST_EQUIVOCATION: &str = "ward_list_equivocation";
/// The last activation: seconds from download start to the swap.
pub const LIST_ACTIVATION_SECONDS: &str = "ward_list_activation_seconds";
/// List loads or reloads that failed (the old list stays in force).
pub const LIST_RELOAD_FAILURES_TOTAL: &str = "ward_list_reload_failures_total";
/// Candidate lists refused by the acceptance rule, from any source, by
/// reason.
pub const LIST_REJECTED_TOTAL: &str = "ward_list_rejected_total";
/// Times the list file on disk was found to differ from the list in force.
pub const LIST_FILE_CHANGES_TOTAL: &str = "ward_list_file_changes_total";
/// 1 while the list file on disk differs from the list in force.
pub const LIST_FILE_DIVERGED: &str = "ward_list_file_diverged";
/// Whether the node is ready to serve (1) or not (0), as `/readyz` says.
pub const READY: &str = "ward_ready";
/// Connections steered to the TLS (SNI) filter, by outcome.
pub const SNI_CONNECTIONS_TOTAL: &str = "ward_sni_connections_total";
/// Requests steered to the HTTP (Host) filter, by outcome.
pub const HTTP_REQUESTS_TOTAL: &str = "ward_http_requests_total";
/// Connections or requests the SNI/HTTP filters could not read a name
/// from, by filter (`sni`, `http`) and reason.
pub const WEB_UNPARSABLE_TOTAL: &str = "ward_web_unparsable_total";
/// ClientHellos carrying an encrypted_client_hello extension (decided on
/// the outer, public name).
pub const SNI_ECH_PRESENT_TOTAL: &str = "ward_sni_ech_present_total";
/// Connections or requests blocked by the SNI/HTTP filters, by channel
/// and list category.
pub const WEB_BLOCKED_TOTAL: &str = "ward_web_blocked_total";
/// Block notice pages served, by list category (`unlisted` when the
/// requested host is not on the list, e.g. a visit to the bare address).
pub const BLOCKPAGE_VIEWS_TOTAL: &str = "ward_blockpage_views_total";
/// Always 1; the `version` label carries the build's version.
pub const BUILD_INFO: &str = "ward_build_info";

/// Upper bounds of the upstream latency buckets, in seconds: a 1-2.5-5
/// series from 0.5 ms (a resolver on the same host) to 5 s (past any sane
/// upstream timeout). Round bounds keep `le` labels readable in alerts.
pub const UPSTREAM_LATENCY_BUCKETS: [f64; 13] = [
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
];

/// Transport a query arrived on.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Protocol {
    Udp,
    Tcp,
}

impl Protocol {
    /// Every variant, in declaration order (the order indexes arrays).
    pub const ALL: [Self; 2] = [Self::Udp, Self::Tcp];

    /// The label value.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Udp => "udp",
            Self::Tcp => "tcp",
        }
    }
}

/// How a query was answered.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum QueryResult {
    /// Answered by an upstream.
    Forwarded,
    /// Answered from the cache.
    Cached,
    /// Answered from the blocklist.
    Blocked,
    /// Refused (client not allowed, or policy).
    Refused,
    /// Answered locally (e.g. `version.bind`, the list's own TXT record).
    Local,
    /// SERVFAIL: no list, or no upstream answered.
    ServFail,
    /// FORMERR: the query could not be parsed.
    FormErr,
    /// NOTIMP: an opcode this resolver does not implement.
    NotImp,
}

impl QueryResult {
    /// Every variant, in declaration order (the order indexes arrays).
    pub const ALL: [Self; 8] = [
        Self::Forwarded,
        Self::Cached,
        Self::Blocked,
        Self::Refused,
        Self::Local,
        Self::ServFail,
        Self::FormErr,
        Self::NotImp,
    ];

    /// The label value.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Forwarded => "forwarded",
            Self::Cached => "cached",
            Self::Blocked => "blocked",
            Self::Refused => "refused",
            Self::Local => "local",
            Self::ServFail => "servfail",
            Self::FormErr => "formerr",
            Self::NotImp => "notimp",
        }
    }
}

/// A web-side filter: which of `[sni]`, `[http]` saw the traffic.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Channel {
    Sni,
    Http,
}

impl Channel {
    pub const ALL: [Self; 2] = [Self::Sni, Self::Http];

    /// The label value.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Sni => "sni",
            Self::Http => "http",
        }
    }
}

/// The outcome of one connection (SNI) or request (HTTP) through a
/// web-side filter (`ward_sni_connections_total`,
/// `ward_http_requests_total`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum WebResult {
    /// A name was read, not listed: relayed to the original destination.
    Allowed,
    /// A name was read and is listed: TLS alert or the 451 page.
    Blocked,
    /// No usable name; `on_unparsable = "allow"` relayed it.
    UnparsableAllowed,
    /// No usable name; `on_unparsable = "block"` refused it.
    UnparsableBlocked,
    /// No verified list in force: refused, never relayed unchecked.
    NotReady,
    /// The client sent no complete hello/head within the deadline.
    Timeout,
    /// Allowed, but the original destination could not be reached.
    ConnectFailed,
    /// The client went away or the socket failed before a verdict.
    ClientError,
}

impl WebResult {
    /// Every variant, in declaration order (the order indexes arrays).
    pub const ALL: [Self; 8] = [
        Self::Allowed,
        Self::Blocked,
        Self::UnparsableAllowed,
        Self::UnparsableBlocked,
        Self::NotReady,
        Self::Timeout,
        Self::ConnectFailed,
        Self::ClientError,
    ];

    /// The label value.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Allowed => "allowed",
            Self::Blocked => "blocked",
            Self::UnparsableAllowed => "unparsable_allowed",
            Self::UnparsableBlocked => "unparsable_blocked",
            Self::NotReady => "not_ready",
            Self::Timeout => "timeout",
            Self::ConnectFailed => "connect_failed",
            Self::ClientError => "client_error",
        }
    }
}

/// Why no name could be taken from a ClientHello or request head
/// (`ward_web_unparsable_total`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Unparsable {
    /// A ClientHello without a server_name (or a request without a host).
    NoName,
    /// The name is an IP address literal.
    IpLiteral,
    /// The name is not a valid host name.
    BadName,
    /// The bytes are not TLS (SNI) or not HTTP (HTTP filter).
    WrongProtocol,
    /// Inconsistent lengths, duplicate or overlong extensions.
    Malformed,
    /// Larger than the configured cap.
    TooLarge,
}

impl Unparsable {
    /// Every variant, in declaration order (the order indexes arrays).
    pub const ALL: [Self; 6] = [
        Self::NoName,
        Self::IpLiteral,
        Self::BadName,
        Self::WrongProtocol,
        Self::Malformed,
        Self::TooLarge,
    ];

    /// The label value.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::NoName => "no_name",
            Self::IpLiteral => "ip_literal",
            Self::BadName => "bad_name",
            Self::WrongProtocol => "wrong_protocol",
            Self::Malformed => "malformed",
            Self::TooLarge => "too_large",
        }
    }
}

/// Why an upstream exchange failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum UpstreamError {
    /// No answer within the timeout.
    Timeout,
    /// A socket error (unreachable, reset, …).
    Network,
    /// The upstream answered SERVFAIL.
    ServFail,
    /// The upstream answered REFUSED.
    Refused,
    /// The answer did not parse or did not match the question.
    Malformed,
    /// The UDP answer was truncated (TC), so it was retried over TCP.
    Truncated,
}

impl UpstreamError {
    /// Every variant, in declaration order (the order indexes arrays).
    pub const ALL: [Self; 6] = [
        Self::Timeout,
        Self::Network,
        Self::ServFail,
        Self::Refused,
        Self::Malformed,
        Self::Truncated,
    ];

    /// The label value.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Timeout => "timeout",
            Self::Network => "network",
            Self::ServFail => "servfail",
            Self::Refused => "refused",
            Self::Malformed => "malformed",
            Self::Truncated => "truncated",
        }
    }
}

/// The outcome of one poll of `list.url` (`ward_list_fetch_total`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum FetchResult {
    /// A newer list was downloaded, verified and put in force.
    Ok,
    /// 304, or the very list in force again.
    NotModified,
    /// A status other than 200/304.
    HttpError,
    /// Connection, TLS or protocol failure (including a refused redirect).
    Network,
    /// No complete answer within `list.timeout`.
    Timeout,
    /// Larger than `list.max_size`.
    TooLarge,
    /// Signed by a trusted key, but the signature does not verify.
    BadSignature,
    /// Signed by a key not in `list.trusted_keys`.
    UntrustedKey,
    /// Older than the highest serial accepted.
    Rollback,
    /// Same serial as the highest accepted, different content.
    Equivocation,
    /// Not a well-formed artifact (truncated, garbage, bad index).
    Corrupt,
    /// A valid artifact of another list id than the one this node follows.
    WrongList,
    /// The download could not be stored or activated on local disk.
    Io,
    /// Already past its expiry, while a list is in force.
    Expired,
}

impl FetchResult {
    /// Every variant, in declaration order (the order indexes arrays).
    pub const ALL: [Self; 14] = [
        Self::Ok,
        Self::NotModified,
        Self::HttpError,
        Self::Network,
        Self::Timeout,
        Self::TooLarge,
        Self::BadSignature,
        Self::UntrustedKey,
        Self::Rollback,
        Self::Equivocation,
        Self::Corrupt,
        Self::WrongList,
        Self::Io,
        Self::Expired,
    ];

    /// The label value.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Ok => "ok",
            Self::NotModified => "not_modified",
            Self::HttpError => "http_error",
            Self::Network => "network",
            Self::Timeout => "timeout",
            Self::TooLarge => "too_large",
            Self::BadSignature => "bad_signature",
            Self::UntrustedKey => "untrusted_key",
            Self::Rollback => "rollback",
            Self::Equivocation => "equivocation",
            Self::Corrupt => "corrupt",
            Self::WrongList => "wrong_list",
            Self::Io => "io",
            Self::Expired => "expired",
        }
    }

    /// Whether this is a reason to refuse a candidate list (a
    /// `ward_list_rejected_total` label).
    pub const fn is_refusal(self) -> bool {
        matches!(
            self,
            Self::BadSignature
                | Self::UntrustedKey
                | Self::Rollback
                | Self::Equivocation
                | Self::Corrupt
                | Self::WrongList
                | Self::Io
                | Self::Expired
        )
    }

    /// Whether the poll failed (and the updater backs off).
    pub const fn is_failure(self) -> bool {
        !matches!(self, Self::Ok | Self::NotModified)
    }
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ReasonLabels {
    reason: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ResultLabels {
    result: &'static str,
}

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
struct BlockedLabels {
    category: String,
    action: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct UnparsableLabels {
    filter: &'static str,
    reason: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct WebBlockedLabels {
    channel: &'static str,
    category: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct CategoryLabels {
    category: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct UpstreamLabels {
    upstream: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct UpstreamErrorLabels {
    upstream: String,
    kind: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct VersionLabels {
    version: &'static str,
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

/// The list freshness gauges.
#[derive(Debug, Default)]
struct ListGauges {
    serial: CountGauge,
    issued_at: Gauge,
    expires_at: Gauge,
    activated_at: Gauge,
    entries: CountGauge,
    loaded: Gauge,
    expired: Gauge,
}

/// Shards of a [`HotCounter`]: enough that the UDP workers of a large
/// machine rarely share one.
const SHARDS: usize = 16;

/// A counter value split over cache-line-sized shards. Each thread adds to
/// its own shard (threads are given shards round-robin), so UDP workers on
/// different cores never write the same cache line on the per-query path;
/// a scrape sums the shards. `inc` returns the shard's previous value, not
/// the total.
#[derive(Debug, Default)]
pub struct Sharded {
    shards: [Padded; SHARDS],
}

/// One shard, alone on its cache line (128 bytes: two lines, for CPUs that
/// fetch lines in adjacent pairs).
#[derive(Debug, Default)]
#[repr(align(128))]
struct Padded(AtomicU64);

fn shard() -> usize {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    thread_local! {
        static SHARD: usize = NEXT.fetch_add(1, Ordering::Relaxed) % SHARDS;
    }
    SHARD.with(|s| *s)
}

impl prometheus_client::metrics::counter::Atomic<u64> for Sharded {
    fn inc(&self) -> u64 {
        self.inc_by(1)
    }

    fn inc_by(&self, v: u64) -> u64 {
        self.shards[shard()].0.fetch_add(v, Ordering::Relaxed)
    }

    fn get(&self) -> u64 {
        self.shards
            .iter()
            .map(|s| s.0.load(Ordering::Relaxed))
            .fold(0, u64::wrapping_add)
    }
}

/// A counter bumped on every query: sharded per thread.
pub type HotCounter = Counter<u64, Sharded>;

/// Every metric of the process. Make one at start-up, share it in an `Arc`.
pub struct Metrics {
    registry: Registry,
    queries: [[HotCounter; QueryResult::ALL.len()]; Protocol::ALL.len()],
    malformed: [HotCounter; Protocol::ALL.len()],
    blocked: Family<BlockedLabels, HotCounter>,
    cache_hits: HotCounter,
    cache_misses: HotCounter,
    cache_entries: CountGauge,
    cache_bytes: CountGauge,
    upstream_latency: Family<UpstreamLabels, Histogram, fn() -> Histogram>,
    upstream_errors: Family<UpstreamErrorLabels, Counter>,
    upstream_up: Family<UpstreamLabels, Gauge>,
    list: ListGauges,
    list_reload_failures: Counter,
    list_fetch: [Counter; FetchResult::ALL.len()],
    list_rejected: [Counter; FetchResult::ALL.len()],
    list_file_changes: Counter,
    list_file_diverged: Gauge,
    list_equivocation: Gauge,
    list_activation: Gauge<f64, AtomicU64>,
    ready: Gauge,
    web: [[Counter; WebResult::ALL.len()]; Channel::ALL.len()],
    web_unparsable: [[Counter; Unparsable::ALL.len()]; Channel::ALL.len()],
    sni_ech: Counter,
    web_blocked: Family<WebBlockedLabels, Counter>,
    blockpage_views: Family<CategoryLabels, Counter>,
    /// The compliance reporter's metrics (`metrics/report.rs`).
    report: report::ReportMetrics,
}

impl fmt::Debug for Metrics {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Metrics").finish_non_exhaustive()
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

/// The name to register a counter under: prometheus-client appends
/// `_total` itself, and the constants carry the exposed name.
fn counter_name(exposed: &'static str) -> &'static str {
    // Every counter constant above ends in `_total`; `all_names_are_exposed`
    // checks the registered names against the encoded output.
    exposed
        .strip_suffix("_total")
        .expect("counter constants end in _total")
}

impl Metrics {
    /// Registers every metric and pre-creates every fixed-label series.
    pub fn new() -> Self {
        let mut r = Registry::default();

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
            "Approximate bytes held by the answer cache",
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

        let list = ListGauges::default();
        r.register(
            LIST_SERIAL,
            "Serial of the list in force",
            list.serial.clone(),
        );
        r.register(
            LIST_ISSUED_TIMESTAMP_SECONDS,
            "When the list in force was issued, unix seconds",
            list.issued_at.clone(),
        );
        r.register(
            LIST_EXPIRES_TIMESTAMP_SECONDS,
            "When the list in force expires, unix seconds",
            list.expires_at.clone(),
        );
        r.register(
            LIST_ACTIVATED_TIMESTAMP_SECONDS,
            "When this node put the list in force, unix seconds",
            list.activated_at.clone(),
        );
        r.register(
            LIST_ENTRIES,
            "Rules in the list in force",
            list.entries.clone(),
        );
        r.register(
            LIST_LOADED,
            "Whether a verified list is in force (1) or not (0)",
            list.loaded.clone(),
        );
        r.register(
            LIST_STALE,
            "Whether the list in force is past its expiry (1) or not (0); an expired list is still enforced",
            list.expired.clone(),
        );
        let list_reload_failures = Counter::default();
        r.register(
            counter_name(LIST_RELOAD_FAILURES_TOTAL),
            "List loads or reloads that failed; the previous list stays in force",
            list_reload_failures.clone(),
        );

        let fetch_family = Family::<ResultLabels, Counter>::default();
        r.register(
            counter_name(LIST_FETCH_TOTAL),
            "Polls of list.url, by result",
            fetch_family.clone(),
        );
        let list_fetch = FetchResult::ALL.map(|res| {
            fetch_family.get_or_create_owned(&ResultLabels {
                result: res.as_str(),
            })
        });
        let rejected_family = Family::<ReasonLabels, Counter>::default();
        r.register(
            counter_name(LIST_REJECTED_TOTAL),
            "Candidate lists refused by the acceptance rule (any source), by reason; the list in force stays",
            rejected_family.clone(),
        );
        let list_rejected = FetchResult::ALL.map(|res| {
            let counter = Counter::default();
            if res.is_refusal() {
                rejected_family
                    .get_or_create_owned(&ReasonLabels {
                        reason: res.as_str(),
                    })
                    .clone()
            } else {
                counter
            }
        });
        let list_file_changes = Counter::default();
        r.register(
            counter_name(LIST_FILE_CHANGES_TOTAL),
            "Times the list file on disk was found to differ from the list in force",
            list_file_changes.clone(),
        );
        let list_file_diverged = Gauge::default();
        r.register(
            LIST_FILE_DIVERGED,
            "1 while the list file on disk differs from the verified list in force (which stays in force)",
            list_file_diverged.clone(),
        );
        let list_equivocation = Gauge::default();
        r.register(
            LIST_EQUIVOCATION,
            "1 while the list endpoint offers different content under the highest serial accepted",
            list_equivocation.clone(),
        );
        let list_activation = Gauge::<f64, AtomicU64>::default();
        r.register(
            LIST_ACTIVATION_SECONDS,
            "The last list activation: seconds from download start to the swap",
            list_activation.clone(),
        );

        let sni_family = Family::<ResultLabels, Counter>::default();
        r.register(
            counter_name(SNI_CONNECTIONS_TOTAL),
            "Connections through the TLS (SNI) filter, by outcome",
            sni_family.clone(),
        );
        let http_family = Family::<ResultLabels, Counter>::default();
        r.register(
            counter_name(HTTP_REQUESTS_TOTAL),
            "Requests through the HTTP (Host) filter, by outcome",
            http_family.clone(),
        );
        let web = Channel::ALL.map(|c| {
            let family = match c {
                Channel::Sni => &sni_family,
                Channel::Http => &http_family,
            };
            WebResult::ALL.map(|res| {
                family.get_or_create_owned(&ResultLabels {
                    result: res.as_str(),
                })
            })
        });
        let unparsable_family = Family::<UnparsableLabels, Counter>::default();
        r.register(
            counter_name(WEB_UNPARSABLE_TOTAL),
            "Connections (SNI) or requests (HTTP) with no usable name, by filter and reason",
            unparsable_family.clone(),
        );
        let web_unparsable = Channel::ALL.map(|c| {
            Unparsable::ALL.map(|reason| {
                unparsable_family.get_or_create_owned(&UnparsableLabels {
                    filter: c.as_str(),
                    reason: reason.as_str(),
                })
            })
        });
        let sni_ech = Counter::default();
        r.register(
            counter_name(SNI_ECH_PRESENT_TOTAL),
            "ClientHellos with an encrypted_client_hello extension (decided on the outer name)",
            sni_ech.clone(),
        );
        let web_blocked = Family::<WebBlockedLabels, Counter>::default();
        r.register(
            counter_name(WEB_BLOCKED_TOTAL),
            "Connections or requests blocked by the SNI/HTTP filters, by channel and list category",
            web_blocked.clone(),
        );
        let blockpage_views = Family::<CategoryLabels, Counter>::default();
        r.register(
            counter_name(BLOCKPAGE_VIEWS_TOTAL),
            "Block notice pages served, by list category",
            blockpage_views.clone(),
        );

        let report =
            report::ReportMetrics::register(&mut r, &blocked, &web_blocked, &upstream_errors);

        let ready = Gauge::default();
        r.register(
            READY,
            "Whether the node is ready to serve (1) or not (0)",
            ready.clone(),
        );
        r.register(
            // An OpenMetrics info metric: prometheus-client appends `_info`.
            BUILD_INFO
                .strip_suffix("_info")
                .expect("BUILD_INFO ends in _info"),
            "Build information; the value is always 1",
            Info::new(VersionLabels {
                version: env!("CARGO_PKG_VERSION"),
            }),
        );

        Self {
            registry: r,
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
            list,
            list_reload_failures,
            list_fetch,
            list_rejected,
            list_file_changes,
            list_file_diverged,
            list_equivocation,
            list_activation,
            ready,
            web,
            web_unparsable,
            sni_ech,
            web_blocked,
            blockpage_views,
            report,
        }
    }

    /// Counts one connection/request through a web-side filter.
    pub fn web(&self, channel: Channel, result: WebResult) {
        self.web[channel as usize][result as usize].inc();
    }

    /// Counts one connection/request with no usable name.
    pub fn web_unparsable(&self, channel: Channel, reason: Unparsable) {
        self.web_unparsable[channel as usize][reason as usize].inc();
    }

    /// Counts one ClientHello with an ECH extension.
    pub fn sni_ech(&self) {
        self.sni_ech.inc();
    }

    /// Counts one connection/request blocked by a web-side filter. Takes
    /// the family's lock: fine per connection, not meant per packet.
    pub fn web_blocked(&self, channel: Channel, category: &str) {
        self.web_blocked
            .get_or_create(&WebBlockedLabels {
                channel: channel.as_str(),
                category: category.to_owned(),
            })
            .inc();
    }

    /// Counts one block page served for `category` (a list category name,
    /// or `unlisted`).
    pub fn blockpage_view(&self, category: &str) {
        self.blockpage_views
            .get_or_create(&CategoryLabels {
                category: category.to_owned(),
            })
            .inc();
    }

    /// Counts one answered query. Hot path: one atomic add.
    #[inline]
    pub fn query(&self, protocol: Protocol, result: QueryResult) {
        self.queries[protocol as usize][result as usize].inc();
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

    /// Publishes the list in force (`None`: no list; every list gauge
    /// reads 0). `activated_at` is when this node put the list in force;
    /// `now` decides `ward_list_stale`.
    pub fn set_list(&self, list: Option<&ListArtifact>, activated_at: Timestamp, now: Timestamp) {
        let g = &self.list;
        let Some(list) = list else {
            g.loaded.set(0);
            g.expired.set(0);
            g.serial.set(0);
            g.issued_at.set(0);
            g.expires_at.set(0);
            g.activated_at.set(0);
            g.entries.set(0);
            return;
        };
        let m = list.manifest();
        g.serial.set(m.serial);
        g.issued_at.set(m.issued_at.as_second());
        g.expires_at.set(m.expires_at.as_second());
        g.activated_at.set(activated_at.as_second());
        g.entries.set(m.entries);
        g.expired.set(i64::from(list.is_expired(now)));
        g.loaded.set(1);
    }

    /// Recomputes `ward_list_stale` against `now` (to the second) from
    /// the published expiry, so the gauge turns 1 when the list lapses even
    /// if nothing calls [`set_list`](Self::set_list) again. The admin
    /// listener calls this before each scrape.
    pub fn refresh_expiry(&self, now: Timestamp) {
        let g = &self.list;
        if g.loaded.get() == 1 {
            g.expired
                .set(i64::from(now.as_second() >= g.expires_at.get()));
        }
    }

    /// Counts one failed list load or reload.
    pub fn list_reload_failed(&self) {
        self.list_reload_failures.inc();
    }

    /// Counts one poll of `list.url`.
    pub fn list_fetch(&self, result: FetchResult) {
        self.list_fetch[result as usize].inc();
    }

    /// Counts one candidate list refused by the acceptance rule.
    pub fn list_rejected(&self, reason: FetchResult) {
        self.list_rejected[reason as usize].inc();
    }

    /// Records whether the list file on disk differs from the list in
    /// force; `changed` counts a newly noticed difference.
    pub fn set_list_file_diverged(&self, diverged: bool, changed: bool) {
        if changed {
            self.list_file_changes.inc();
        }
        self.list_file_diverged.set(i64::from(diverged));
    }

    /// Raises or clears the equivocation alarm.
    pub fn set_equivocation(&self, on: bool) {
        self.list_equivocation.set(i64::from(on));
    }

    /// Records how long the last activation took.
    pub fn set_activation(&self, elapsed: Duration) {
        self.list_activation.set(elapsed.as_secs_f64());
    }

    /// Publishes readiness.
    pub fn set_ready(&self, ready: bool) {
        self.ready.set(i64::from(ready));
    }

    /// The OpenMetrics text exposition, ending in `# EOF`.
    pub fn encode(&self) -> String {
        let mut out = String::with_capacity(8 * 1024);
        // Writing to a String cannot fail, and every registered metric is
        // text-encodable (no native-only histograms).
        prometheus_client::encoding::text::encode(&mut out, &self.registry)
            .expect("encoding metrics into a String cannot fail");
        out
    }
}

#[cfg(test)]
mod tests {
    use ed25519_dalek::SigningKey;

    use super::*;
    use crate::list::build::build_from_str;
    use crate::list::{BuildOptions, Bytes, TrustedKeys, Verified};

    fn ts(s: &str) -> Timestamp {
        s.parse().unwrap()
    }

    fn list() -> Verified<ListArtifact> {
        let key = SigningKey::from_bytes(&[1; 32]);
        let opts = BuildOptions {
            list_id: "metrics-test".into(),
            serial: 42,
            issued_at: ts("2026-01-01T00:00:00Z"),
            expires_at: ts("2026-02-01T00:00:00Z"),
            confidential: Default::default(),
        };
        let (bytes, _) = build_from_str(
            "example.com gambling\n=exact.example.org adult\nother.example adult\n",
            &opts,
            &key,
        )
        .unwrap();
        let trust: TrustedKeys = [key.verifying_key()].into_iter().collect();
        crate::list::verify(Bytes::Owned(bytes), &trust).unwrap()
    }

    /// The value of the series line that starts with `series ` exactly.
    fn value(text: &str, series: &str) -> Option<String> {
        text.lines()
            .find_map(|l| l.strip_prefix(series)?.strip_prefix(' '))
            .map(str::to_owned)
    }

    #[test]
    fn variant_order_matches_all() {
        for (i, p) in Protocol::ALL.into_iter().enumerate() {
            assert_eq!(p as usize, i);
        }
        for (i, r) in QueryResult::ALL.into_iter().enumerate() {
            assert_eq!(r as usize, i);
        }
        for (i, e) in UpstreamError::ALL.into_iter().enumerate() {
            assert_eq!(e as usize, i);
        }
    }

    #[test]
    fn queries_are_pre_created_and_counted() {
        let m = Metrics::new();
        let text = m.encode();
        for p in Protocol::ALL {
            for r in QueryResult::ALL {
                let s = format!(
                    "ward_queries_total{{protocol=\"{}\",result=\"{}\"}}",
                    p.as_str(),
                    r.as_str()
                );
                assert_eq!(value(&text, &s).as_deref(), Some("0"), "{s}");
            }
            let s = format!("ward_malformed_total{{protocol=\"{}\"}}", p.as_str());
            assert_eq!(value(&text, &s).as_deref(), Some("0"), "{s}");
        }
        m.query(Protocol::Udp, QueryResult::Blocked);
        m.query(Protocol::Udp, QueryResult::Blocked);
        m.query(Protocol::Tcp, QueryResult::NotImp);
        m.malformed(Protocol::Tcp);
        m.cache_hit();
        m.cache_miss();
        m.cache_miss();
        m.set_cache_size(10, 2048);
        m.list_reload_failed();
        m.set_ready(true);
        let text = m.encode();
        for (series, want) in [
            (
                r#"ward_queries_total{protocol="udp",result="blocked"}"#,
                "2",
            ),
            (r#"ward_queries_total{protocol="tcp",result="notimp"}"#, "1"),
            (
                r#"ward_queries_total{protocol="tcp",result="blocked"}"#,
                "0",
            ),
            (r#"ward_malformed_total{protocol="tcp"}"#, "1"),
            (r#"ward_malformed_total{protocol="udp"}"#, "0"),
            ("ward_cache_hits_total", "1"),
            ("ward_cache_misses_total", "2"),
            ("ward_cache_entries", "10"),
            ("ward_cache_bytes", "2048"),
            ("ward_list_reload_failures_total", "1"),
            ("ward_ready", "1"),
        ] {
            assert_eq!(
                value(&text, series).as_deref(),
                Some(want),
                "{series}\n{text}"
            );
        }
        m.set_ready(false);
        assert_eq!(value(&m.encode(), "ward_ready").as_deref(), Some("0"));
    }

    #[test]
    fn blocked_counter_handles_share_a_series() {
        let m = Metrics::new();
        let a = m.blocked_counter("adult", "sinkhole");
        let b = m.blocked_counter("adult", "sinkhole");
        let other = m.blocked_counter("adult", "nxdomain");
        a.inc();
        b.inc();
        assert_eq!(a.get(), 2);
        assert_eq!(other.get(), 0);
        let text = m.encode();
        assert_eq!(
            value(
                &text,
                r#"ward_blocked_total{category="adult",action="sinkhole"}"#
            )
            .as_deref(),
            Some("2"),
            "{text}"
        );
        assert_eq!(
            value(
                &text,
                r#"ward_blocked_total{category="adult",action="nxdomain"}"#
            )
            .as_deref(),
            Some("0")
        );
        assert_eq!(text.matches("ward_blocked_total{").count(), 2);
    }

    #[test]
    fn label_values_are_escaped() {
        let m = Metrics::new();
        m.blocked_counter("a\"b\\c\nd", "refused").inc();
        let text = m.encode();
        assert!(
            text.contains(r#"ward_blocked_total{category="a\"b\\c\nd",action="refused"} 1"#),
            "{text}"
        );
    }

    #[test]
    fn upstream_handles() {
        let m = Metrics::new();
        let h = m.upstream_handles("192.0.2.1:53");
        let again = m.upstream_handles("192.0.2.1:53");
        let text = m.encode();
        for e in UpstreamError::ALL {
            let s = format!(
                "ward_upstream_errors_total{{upstream=\"192.0.2.1:53\",kind=\"{}\"}}",
                e.as_str()
            );
            assert_eq!(value(&text, &s).as_deref(), Some("0"), "{s}");
        }
        h.observe(Duration::from_micros(300));
        h.observe(Duration::from_millis(20));
        again.observe(Duration::from_secs(10));
        h.error(UpstreamError::Timeout);
        again.error(UpstreamError::Timeout);
        h.error(UpstreamError::Truncated);
        h.set_up(true);
        let text = m.encode();
        let up = r#"upstream="192.0.2.1:53""#;
        for (series, want) in [
            (format!("ward_upstream_latency_seconds_count{{{up}}}"), "3"),
            (
                format!("ward_upstream_latency_seconds_bucket{{le=\"0.0005\",{up}}}"),
                "1",
            ),
            (
                format!("ward_upstream_latency_seconds_bucket{{le=\"0.025\",{up}}}"),
                "2",
            ),
            (
                format!("ward_upstream_latency_seconds_bucket{{le=\"5.0\",{up}}}"),
                "2",
            ),
            (
                format!("ward_upstream_latency_seconds_bucket{{le=\"+Inf\",{up}}}"),
                "3",
            ),
            (
                format!("ward_upstream_errors_total{{{up},kind=\"timeout\"}}"),
                "2",
            ),
            (
                format!("ward_upstream_errors_total{{{up},kind=\"truncated\"}}"),
                "1",
            ),
            (
                format!("ward_upstream_errors_total{{{up},kind=\"servfail\"}}"),
                "0",
            ),
            (format!("ward_upstream_up{{{up}}}"), "1"),
        ] {
            assert_eq!(
                value(&text, &series).as_deref(),
                Some(want),
                "{series}\n{text}"
            );
        }
        h.set_up(false);
        let text = m.encode();
        assert_eq!(
            value(&text, &format!("ward_upstream_up{{{up}}}")).as_deref(),
            Some("0")
        );
    }

    #[test]
    fn set_list_none_and_some() {
        let m = Metrics::new();
        let now = ts("2026-01-15T00:00:00Z");
        m.set_list(None, now, now);
        let text = m.encode();
        for name in [
            LIST_LOADED,
            LIST_STALE,
            LIST_SERIAL,
            LIST_ENTRIES,
            LIST_EXPIRES_TIMESTAMP_SECONDS,
        ] {
            assert_eq!(value(&text, name).as_deref(), Some("0"), "{name}");
        }

        let list = list();
        let activated = ts("2026-01-02T03:04:05Z");
        m.set_list(Some(&*list), activated, now);
        let text = m.encode();
        for (name, want) in [
            (LIST_LOADED, "1".to_owned()),
            (LIST_STALE, "0".to_owned()),
            (LIST_SERIAL, "42".to_owned()),
            (LIST_ENTRIES, "3".to_owned()),
            (
                LIST_ISSUED_TIMESTAMP_SECONDS,
                ts("2026-01-01T00:00:00Z").as_second().to_string(),
            ),
            (
                LIST_EXPIRES_TIMESTAMP_SECONDS,
                ts("2026-02-01T00:00:00Z").as_second().to_string(),
            ),
            (
                LIST_ACTIVATED_TIMESTAMP_SECONDS,
                activated.as_second().to_string(),
            ),
        ] {
            assert_eq!(value(&text, name), Some(want), "{name}\n{text}");
        }

        // Past expiry: set_list says so, and so does a refresh alone.
        let later = ts("2026-03-01T00:00:00Z");
        m.set_list(Some(&*list), activated, later);
        assert_eq!(value(&m.encode(), LIST_STALE).as_deref(), Some("1"));
        m.set_list(Some(&*list), activated, now);
        m.refresh_expiry(later);
        assert_eq!(value(&m.encode(), LIST_STALE).as_deref(), Some("1"));
        m.refresh_expiry(now);
        assert_eq!(value(&m.encode(), LIST_STALE).as_deref(), Some("0"));
        // Exactly at expiry counts as expired, as in `check_expiry`.
        m.refresh_expiry(ts("2026-02-01T00:00:00Z"));
        assert_eq!(value(&m.encode(), LIST_STALE).as_deref(), Some("1"));

        // Back to no list: everything reads 0, and a refresh keeps it so.
        m.set_list(None, later, later);
        m.refresh_expiry(later);
        let text = m.encode();
        assert_eq!(value(&text, LIST_LOADED).as_deref(), Some("0"));
        assert_eq!(value(&text, LIST_STALE).as_deref(), Some("0"));
        assert_eq!(value(&text, LIST_SERIAL).as_deref(), Some("0"));
    }

    #[test]
    fn all_names_are_exposed() {
        let m = Metrics::new();
        m.blocked_counter("adult", "sinkhole");
        m.upstream_handles("192.0.2.1:53");
        m.web_blocked(Channel::Sni, "adult");
        m.blockpage_view("adult");
        let text = m.encode();
        assert!(text.ends_with("# EOF\n"), "{text}");
        for name in [
            QUERIES_TOTAL,
            BLOCKED_TOTAL,
            MALFORMED_TOTAL,
            CACHE_HITS_TOTAL,
            CACHE_MISSES_TOTAL,
            CACHE_ENTRIES,
            CACHE_BYTES,
            UPSTREAM_LATENCY_SECONDS,
            UPSTREAM_ERRORS_TOTAL,
            UPSTREAM_UP,
            LIST_SERIAL,
            LIST_ISSUED_TIMESTAMP_SECONDS,
            LIST_EXPIRES_TIMESTAMP_SECONDS,
            LIST_ACTIVATED_TIMESTAMP_SECONDS,
            LIST_ENTRIES,
            LIST_LOADED,
            LIST_STALE,
            LIST_RELOAD_FAILURES_TOTAL,
            LIST_FETCH_TOTAL,
            LIST_EQUIVOCATION,
            LIST_ACTIVATION_SECONDS,
            READY,
            BUILD_INFO,
            SNI_CONNECTIONS_TOTAL,
            HTTP_REQUESTS_TOTAL,
            WEB_UNPARSABLE_TOTAL,
            SNI_ECH_PRESENT_TOTAL,
            WEB_BLOCKED_TOTAL,
            BLOCKPAGE_VIEWS_TOTAL,
            REPORT_SENT_TOTAL,
            REPORT_SPOOL_REPORTS,
            REPORT_LAST_SUCCESS_TIMESTAMP_SECONDS,
            REPORT_DROPPED_TOTAL,
            REPORT_SPOOL_WRITE_ERRORS_TOTAL,
        ] {
            assert!(name.starts_with("ward_"), "{name}");
            let sample = text.lines().any(|l| {
                !l.starts_with('#')
                    && l.strip_prefix(name).is_some_and(|rest| {
                        rest.starts_with([' ', '{'])
                            || (name == UPSTREAM_LATENCY_SECONDS && rest.starts_with("_count{"))
                    })
            });
            assert!(sample, "no sample for {name}\n{text}");
        }
        let build = format!(
            "ward_build_info{{version=\"{}\"}}",
            env!("CARGO_PKG_VERSION")
        );
        assert_eq!(value(&text, &build).as_deref(), Some("1"), "{text}");
        // Every sample line's name is one of ours.
        for l in text.lines().filter(|l| !l.starts_with('#')) {
            assert!(l.starts_with("ward_"), "{l}");
        }
    }
}
