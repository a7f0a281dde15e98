//! Prometheus metrics: one [`Metrics`] struct of handles, registered once.
//!
//! Every name is a `ward_` constant below; `docs/metrics.md` describes each
//! one and gives example alerts. Label values are always bounded: fixed
//! enums (`dns::Protocol`, `dns::QueryResult`, `dns::metrics::UpstreamError`,
//! `sni::Unparsable`, `update::FetchResult`, …), category names from the
//! signed list, and upstream addresses from the config. Never a queried
//! name or a client address.
//!
//! # Who depends on whom
//!
//! Each area declares its own label enums (with `instrument::label_enum!`)
//! and holds its own handles: [`DnsMetrics`], [`WebMetrics`],
//! [`PageViews`], [`ListMetrics`]. This module sits above the areas: it
//! names every family, registers it, pre-creates its series, and fills
//! the areas' handles (`metrics/{dns,list,web,limits}.rs`). The areas
//! depend only on the leaf `instrument`, never on this module, so their
//! vocabulary lives with them and no import runs both ways.
//!
//! # Cost on the query path
//!
//! A `Family` lookup takes a read lock and hashes the label set. None of
//! that happens per query:
//!
//! * label sets drawn from small enums are created at construction and
//!   indexed from arrays (`DnsMetrics::query`, `DnsMetrics::malformed`);
//! * open label sets hand out cloned handles that callers cache
//!   (`DnsMetrics::blocked_counter` per list, `DnsMetrics::upstream_handles`
//!   per upstream).
//!
//! Either way a hot-path update is one relaxed atomic add. The measured
//! numbers are in `docs/metrics.md`.

use std::fmt;
use std::sync::Arc;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::info::Info;
use prometheus_client::registry::Registry;

use crate::blockpage::PageViews;
use crate::dns::DnsMetrics;
use crate::dns::doh::DohMetrics;
use crate::rpz::metrics::RpzMetrics;
use crate::sni::WebMetrics;
use crate::tls::TlsMetrics;
use crate::update::ListMetrics;
use crate::update::metrics::{ExtraListFamilies, ReloadMetrics};

mod dns;
mod doh;
mod limits;
mod list;
mod report;
mod rpz;
mod tls;
mod web;

pub use self::limits::Listener;
pub use self::tls::{
    TLS_CERT_EXPIRY_TIMESTAMP_SECONDS, TLS_CERT_RELOAD_FAILURES_TOTAL, TLS_HANDSHAKE_FAILURES_TOTAL,
};
pub use report::{
    CounterSnapshot, ProfileCell, REPORT_DROPPED_TOTAL, REPORT_LAST_SUCCESS_TIMESTAMP_SECONDS,
    REPORT_SENT_TOTAL, REPORT_SPOOL_REPORTS, REPORT_SPOOL_WRITE_ERRORS_TOTAL, ReportChannel,
    SendResult,
};

/// Queries answered, by protocol and result.
pub const QUERIES_TOTAL: &str = "ward_queries_total";
/// Queries answered from the blocklist, by category and action.
pub const BLOCKED_TOTAL: &str = "ward_blocked_total";
/// Queries from clients with a school profile answered blocked, by
/// profile, list (`national` for the national list, else the `[[lists]]`
/// name), category and channel (`dns`: the only channel that applies
/// profiles today).
pub const PROFILE_BLOCKED_TOTAL: &str = "ward_profile_blocked_total";
/// Queries of profiled clients answered by a safe-search rule, by engine
/// (never by client).
pub const SAFE_SEARCH_REWRITES_TOTAL: &str = "ward_safe_search_rewrites_total";
/// Answers a profile's `[profile.bypass]` switches gave in place of a
/// way around the filter, by switch (`kind`): never by client.
pub const BYPASS_BLOCKED_TOTAL: &str = "ward_bypass_blocked_total";
/// Client messages that could not be parsed, by protocol.
pub const MALFORMED_TOTAL: &str = "ward_malformed_total";
/// Answer-cache lookups that hit.
pub const CACHE_HITS_TOTAL: &str = "ward_cache_hits_total";
/// Answer-cache lookups that missed.
pub const CACHE_MISSES_TOTAL: &str = "ward_cache_misses_total";
/// Entries in the answer cache.
pub const CACHE_ENTRIES: &str = "ward_cache_entries";
/// The answer cache's weight against `cache.max_memory`: each entry's
/// approximate size, at least `max_memory / max_entries`.
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
/// Serial of each extra list (`[[lists]]`) in force, by `list`.
pub const EXTRA_LIST_SERIAL: &str = "ward_extra_list_serial";
/// When each extra list in force was issued, unix seconds, by `list`.
pub const EXTRA_LIST_ISSUED_TIMESTAMP_SECONDS: &str = "ward_extra_list_issued_timestamp_seconds";
/// When each extra list in force expires, unix seconds, by `list`.
pub const EXTRA_LIST_EXPIRES_TIMESTAMP_SECONDS: &str = "ward_extra_list_expires_timestamp_seconds";
/// When this node put each extra list in force, unix seconds, by `list`.
pub const EXTRA_LIST_ACTIVATED_TIMESTAMP_SECONDS: &str =
    "ward_extra_list_activated_timestamp_seconds";
/// The last successful load, reload or poll of each extra list, unix
/// seconds, by `list`.
pub const EXTRA_LIST_LAST_SUCCESS_TIMESTAMP_SECONDS: &str =
    "ward_extra_list_last_success_timestamp_seconds";
/// Rules in each extra list in force, by `list`.
pub const EXTRA_LIST_ENTRIES: &str = "ward_extra_list_entries";
/// Whether each extra list is in force (1) or not (0), by `list`.
pub const EXTRA_LIST_LOADED: &str = "ward_extra_list_loaded";
/// Whether each extra list in force is past its expiry, by `list`.
pub const EXTRA_LIST_STALE: &str = "ward_extra_list_stale";
/// 1 while an extra list's source offers two lists under one serial.
pub const EXTRA_LIST_EQUIVOCATION: &str = "ward_extra_list_equivocation";
/// Loads or reloads of an extra list that failed, by `list` (the version
/// in force stays).
pub const EXTRA_LIST_RELOAD_FAILURES_TOTAL: &str = "ward_extra_list_reload_failures_total";
/// Polls of an extra list's `url`, by `list` and result.
pub const EXTRA_LIST_FETCH_TOTAL: &str = "ward_extra_list_fetch_total";
/// Candidate extra lists refused by the acceptance rule, by `list` and
/// reason.
pub const EXTRA_LIST_REJECTED_TOTAL: &str = "ward_extra_list_rejected_total";
/// Config files re-read on SIGHUP and put in force.
pub const CONFIG_RELOAD_SUCCEEDED_TOTAL: &str = "ward_config_reload_succeeded_total";
/// Config files re-read on SIGHUP and refused (the one in force stays).
pub const CONFIG_RELOAD_FAILED_TOTAL: &str = "ward_config_reload_failed_total";
/// When a config re-read on SIGHUP was last put in force, unix seconds.
pub const CONFIG_RELOAD_LAST_SUCCESS_TIMESTAMP_SECONDS: &str =
    "ward_config_reload_last_success_timestamp_seconds";
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
/// UDP answers held back by `[limits]`, by limit (`client_qps`, `rrl`)
/// and action (`drop`, `slip`). Never by client.
pub const RATE_LIMITED_TOTAL: &str = "ward_rate_limited_total";
/// Client connections ward closed itself, by listener (`dns_tcp`,
/// `dns_dot`, `admin`, `dns_doh`) and reason (`client_cap`, `full`, `evicted`,
/// `idle`, `write_timeout`, `lifetime`, `handshake`, `http_error`).
pub const CONNECTIONS_CLOSED_TOTAL: &str = "ward_connections_closed_total";
/// DNS-over-HTTPS requests, by result (`ok`, `bad_request`, `not_found`,
/// `method_not_allowed`, `payload_too_large`, `unsupported_media_type`,
/// `timeout`, `busy`).
pub const DOH_REQUESTS_TOTAL: &str = "ward_doh_requests_total";
/// Queries to the `[rpz]` feed, by kind (`axfr`, `ixfr`, `soa`) and
/// result.
pub const RPZ_TRANSFERS_TOTAL: &str = "ward_rpz_transfers_total";
/// Serial of the zone the `[rpz]` feed serves.
pub const RPZ_SERIAL: &str = "ward_rpz_serial";
/// NOTIFY messages the `[rpz]` feed sent, by result (`acknowledged`,
/// `unanswered`, `failed`).
pub const RPZ_NOTIFY_TOTAL: &str = "ward_rpz_notify_total";
/// Requests for the `[rpz]` zone file over HTTPS, by result.
pub const RPZ_HTTPS_REQUESTS_TOTAL: &str = "ward_rpz_https_requests_total";
/// Unix time of each secondary's last complete transfer (`secondary`:
/// its address).
pub const RPZ_SECONDARY_LAST_TRANSFER: &str = "ward_rpz_secondary_last_transfer_timestamp_seconds";
/// The zone serial each secondary was last sent.
pub const RPZ_SECONDARY_SERIAL: &str = "ward_rpz_secondary_serial";
/// Always 1; the `version` label carries the build's version.
pub const BUILD_INFO: &str = "ward_build_info";

/// Upper bounds of the upstream latency buckets, in seconds: a 1-2.5-5
/// series from 0.5 ms (a resolver on the same host) to 5 s (past any sane
/// upstream timeout). Round bounds keep `le` labels readable in alerts.
pub const UPSTREAM_LATENCY_BUCKETS: [f64; 13] = [
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
];

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct VersionLabels {
    version: &'static str,
}

/// Every metric of the process. Make one at start-up, share it in an `Arc`.
///
/// The handles are kept by area: the DNS side, the web filters and the
/// updater are each handed their own ([`dns`](Self::dns),
/// [`web`](Self::web), [`list`](Self::list)); the limits and the reporter's
/// handles stay here. Each area's file here registers its metrics.
pub struct Metrics {
    registry: Registry,
    dns: Arc<DnsMetrics>,
    list: Arc<ListMetrics>,
    extra_lists: ExtraListFamilies,
    reload: ReloadMetrics,
    web: Arc<WebMetrics>,
    limits: limits::LimitMetrics,
    ready: Gauge,
    /// The compliance reporter's metrics (`metrics/report.rs`).
    report: report::ReportMetrics,
    rpz: Arc<RpzMetrics>,
    doh: Arc<DohMetrics>,
    /// The `[dot]`/`[doh]` TLS listeners' (`metrics/tls.rs`).
    tls: Arc<TlsMetrics>,
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
        let mut dns = dns::register(&mut r);
        let list = list::register(&mut r);
        let extra_lists = list::register_extra(&mut r);
        let reload = list::register_reload(&mut r);
        let web = web::register(&mut r);
        let rpz = rpz::register(&mut r);
        let tls = tls::register(&mut r);
        let limits = limits::LimitMetrics::register(&mut r);
        let doh = doh::register(&mut r, &limits);
        // The DNS side counts into the limits' families too: its rows of
        // the series pre-created there.
        dns.rate_limited = limits.limited.clone();
        dns.tcp_closed = limits.closed[Listener::DnsTcp as usize].clone();
        let report = report::ReportMetrics::register(
            &mut r,
            &dns.blocked,
            &dns.profile_blocked,
            &web.blocked,
            &dns.upstream_errors,
        );
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
            dns: Arc::new(dns),
            list: Arc::new(list),
            extra_lists,
            reload,
            web: Arc::new(web),
            limits,
            ready,
            report,
            rpz: Arc::new(rpz),
            doh: Arc::new(doh),
            tls: Arc::new(tls),
        }
    }

    /// The DNS side's handles.
    pub fn dns(&self) -> &Arc<DnsMetrics> {
        &self.dns
    }

    /// The web filters' handles (the block page's among them).
    pub fn web(&self) -> &Arc<WebMetrics> {
        &self.web
    }

    /// The block-page view counter, shared by the HTTP filter and the
    /// block-page listener.
    pub fn page_views(&self) -> &PageViews {
        self.web.page_views()
    }

    /// The updater's handles.
    pub fn list(&self) -> &Arc<ListMetrics> {
        &self.list
    }

    /// The RPZ feed's handles.
    pub fn rpz(&self) -> &Arc<RpzMetrics> {
        &self.rpz
    }

    /// DoH's handles.
    pub fn doh(&self) -> &Arc<DohMetrics> {
        &self.doh
    }

    /// The `[dot]`/`[doh]` TLS listeners' handles.
    pub fn tls(&self) -> &Arc<TlsMetrics> {
        &self.tls
    }

    /// The families each extra list's handles are drawn from.
    pub fn extra_lists(&self) -> &ExtraListFamilies {
        &self.extra_lists
    }

    /// SIGHUP's config re-reads.
    pub fn reload(&self) -> &ReloadMetrics {
        &self.reload
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
mod tests;
