//! The compliance reporter's metrics, and the counter snapshots its
//! reports are computed from.
//!
//! Kept apart from the query-path metrics: nothing here runs per query.
//! [`Metrics::snapshot`] reads every counter a report needs once per
//! report window. Counters with fixed labels are read directly; the
//! families with open label sets (`category`, `upstream`) are read by
//! encoding a private registry holding only those families and parsing
//! the text, because `prometheus-client` offers no iteration over a
//! family. The query path is untouched: no new lock or atomic per query.

use std::collections::BTreeMap;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;

use super::{
    BLOCKED_TOTAL, Metrics, PROFILE_BLOCKED_TOTAL, UPSTREAM_ERRORS_TOTAL, WEB_BLOCKED_TOTAL,
    counter_name,
};
use crate::dns::metrics::UpstreamError;
use crate::dns::metrics::{BlockedLabels, ProfileBlockedLabels, UpstreamErrorLabels};
use crate::instrument::HotCounter;
use crate::sni::Channel;
use crate::sni::metrics::WebBlockedLabels;
use crate::update::FetchResult;

/// Report deliveries, by result.
pub const REPORT_SENT_TOTAL: &str = "ward_report_sent_total";
/// Reports waiting in the spool (not counting `rejected/`).
pub const REPORT_SPOOL_REPORTS: &str = "ward_report_spool_reports";
/// When a report was last accepted by the collector, unix seconds.
pub const REPORT_LAST_SUCCESS_TIMESTAMP_SECONDS: &str =
    "ward_report_last_success_timestamp_seconds";
/// Reports dropped unsent: pushed out of a full spool, or pruned from
/// `rejected/`.
pub const REPORT_DROPPED_TOTAL: &str = "ward_report_dropped_total";
/// Window reports that could not be written to the spool (the next report
/// covers the window instead; nothing is lost).
pub const REPORT_SPOOL_WRITE_ERRORS_TOTAL: &str = "ward_report_spool_write_errors_total";

/// The outcome of one delivery attempt (`ward_report_sent_total`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum SendResult {
    /// 2xx: delivered, removed from the spool.
    Ok,
    /// A 4xx other than 408 and 429: kept in `rejected/`, not retried.
    Rejected,
    /// 429: retried after `Retry-After` or the back-off.
    Throttled,
    /// 5xx: retried.
    ServerError,
    /// Connection, TLS or protocol failure: retried.
    Network,
    /// No answer within the send timeout, or 408: retried.
    Timeout,
    /// 1xx or 3xx: `report.url` points somewhere that is not the
    /// collector (redirects are not followed on purpose): retried, since
    /// the report is fine and the operator must fix the URL.
    Unexpected,
}

impl SendResult {
    /// Every variant, in declaration order (the order indexes arrays).
    pub const ALL: [Self; 7] = [
        Self::Ok,
        Self::Rejected,
        Self::Throttled,
        Self::ServerError,
        Self::Network,
        Self::Timeout,
        Self::Unexpected,
    ];

    /// The label value.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Ok => "ok",
            Self::Rejected => "rejected",
            Self::Throttled => "throttled",
            Self::ServerError => "server_error",
            Self::Network => "network",
            Self::Timeout => "timeout",
            Self::Unexpected => "unexpected_status",
        }
    }

    /// Whether the report stays in the spool for another attempt.
    pub const fn is_retried(self) -> bool {
        !matches!(self, Self::Ok | Self::Rejected)
    }
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct SentLabels {
    result: &'static str,
}

/// The reporter's handles.
#[derive(Debug)]
pub(super) struct ReportMetrics {
    sent: [Counter; SendResult::ALL.len()],
    spool_reports: Gauge,
    last_success: Gauge,
    dropped: Counter,
    spool_write_errors: Counter,
    /// Clones of the open-label families a report reads (they share their
    /// series with the ones in the main registry).
    open: Registry,
}

impl ReportMetrics {
    pub(super) fn register(
        r: &mut Registry,
        blocked: &Family<BlockedLabels, HotCounter>,
        profile_blocked: &Family<ProfileBlockedLabels, HotCounter>,
        web_blocked: &Family<WebBlockedLabels, Counter>,
        upstream_errors: &Family<UpstreamErrorLabels, Counter>,
    ) -> Self {
        let sent_family = Family::<SentLabels, Counter>::default();
        r.register(
            counter_name(REPORT_SENT_TOTAL),
            "Compliance report delivery attempts, by result",
            sent_family.clone(),
        );
        let sent = SendResult::ALL.map(|res| {
            sent_family.get_or_create_owned(&SentLabels {
                result: res.as_str(),
            })
        });
        let spool_reports = Gauge::default();
        r.register(
            REPORT_SPOOL_REPORTS,
            "Compliance reports waiting in the spool for delivery",
            spool_reports.clone(),
        );
        let last_success = Gauge::default();
        r.register(
            REPORT_LAST_SUCCESS_TIMESTAMP_SECONDS,
            "When the collector last accepted a compliance report, unix seconds (0: never)",
            last_success.clone(),
        );
        let dropped = Counter::default();
        r.register(
            counter_name(REPORT_DROPPED_TOTAL),
            "Compliance reports lost: dropped unsent from a full spool, or pruned from rejected/",
            dropped.clone(),
        );
        let spool_write_errors = Counter::default();
        r.register(
            counter_name(REPORT_SPOOL_WRITE_ERRORS_TOTAL),
            "Report windows that could not be written to the spool; the next report covers them",
            spool_write_errors.clone(),
        );
        let mut open = Registry::default();
        open.register(counter_name(BLOCKED_TOTAL), "", blocked.clone());
        open.register(counter_name(WEB_BLOCKED_TOTAL), "", web_blocked.clone());
        open.register(
            counter_name(PROFILE_BLOCKED_TOTAL),
            "",
            profile_blocked.clone(),
        );
        open.register(
            counter_name(UPSTREAM_ERRORS_TOTAL),
            "",
            upstream_errors.clone(),
        );
        Self {
            sent,
            spool_reports,
            last_success,
            dropped,
            spool_write_errors,
            open,
        }
    }
}

/// A report channel: where a block happened.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ReportChannel {
    Dns,
    Sni,
    Http,
}

impl ReportChannel {
    pub const ALL: [Self; 3] = [Self::Dns, Self::Sni, Self::Http];

    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Dns => "dns",
            Self::Sni => "sni",
            Self::Http => "http",
        }
    }
}

impl From<Channel> for ReportChannel {
    fn from(c: Channel) -> Self {
        match c {
            Channel::Sni => Self::Sni,
            Channel::Http => Self::Http,
        }
    }
}

/// One cell of the per-profile counts: profile, list, category, channel.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ProfileCell {
    pub profile: String,
    pub list: String,
    pub category: String,
    pub channel: ReportChannel,
}

/// Every counter a compliance report needs, cumulative since start-up.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CounterSnapshot {
    /// DNS queries answered, every protocol and result.
    pub queries: u64,
    /// Blocks by (category, channel).
    pub blocked: BTreeMap<(String, ReportChannel), u64>,
    /// Blocks for clients with a school profile, by (profile, list,
    /// category, channel); the list is `national` or a `[[lists]]` name.
    pub profile_blocked: BTreeMap<ProfileCell, u64>,
    /// Failed upstream exchanges by kind, summed over upstreams.
    pub upstream_errors: BTreeMap<&'static str, u64>,
    /// Failed polls of `list.url` by result.
    pub list_fetch_failures: BTreeMap<&'static str, u64>,
    /// Client DNS messages that could not be parsed.
    pub malformed: u64,
}

impl CounterSnapshot {
    /// `self - earlier`, key by key (a counter never goes down within a
    /// process, so saturation only guards against misuse).
    pub fn since(&self, earlier: &Self) -> Self {
        fn sub<K: Ord + Clone>(a: &BTreeMap<K, u64>, b: &BTreeMap<K, u64>) -> BTreeMap<K, u64> {
            a.iter()
                .map(|(k, v)| (k.clone(), v.saturating_sub(b.get(k).copied().unwrap_or(0))))
                .collect()
        }
        Self {
            queries: self.queries.saturating_sub(earlier.queries),
            blocked: sub(&self.blocked, &earlier.blocked),
            profile_blocked: sub(&self.profile_blocked, &earlier.profile_blocked),
            upstream_errors: sub(&self.upstream_errors, &earlier.upstream_errors),
            list_fetch_failures: sub(&self.list_fetch_failures, &earlier.list_fetch_failures),
            malformed: self.malformed.saturating_sub(earlier.malformed),
        }
    }
}

impl Metrics {
    /// Counts one delivery attempt.
    pub fn report_sent(&self, result: SendResult) {
        self.report.sent[result as usize].inc();
    }

    /// Publishes the number of reports waiting in the spool.
    pub fn set_report_spool(&self, reports: usize) {
        self.report
            .spool_reports
            .set(i64::try_from(reports).unwrap_or(i64::MAX));
    }

    /// Records a delivery accepted at `at`.
    pub fn report_delivered(&self, at: jiff::Timestamp) {
        self.report.last_success.set(at.as_second());
    }

    /// Counts reports lost: dropped from a full spool or pruned from
    /// `rejected/`.
    pub fn report_dropped(&self, n: u64) {
        self.report.dropped.inc_by(n);
    }

    /// Counts a window report that could not be written to the spool.
    pub fn report_spool_write_failed(&self) {
        self.report.spool_write_errors.inc();
    }

    /// Every counter a compliance report needs, as of now. Takes the
    /// families' read locks once; meant for once per report window.
    pub fn snapshot(&self) -> CounterSnapshot {
        let mut s = CounterSnapshot {
            queries: self.dns.queries.iter().flatten().map(HotCounter::get).sum(),
            malformed: self.dns.malformed.iter().map(HotCounter::get).sum(),
            ..CounterSnapshot::default()
        };
        // `expired` came after the report format was fixed: a collector
        // refuses keys it does not know, so it stays out of the report
        // (still counted in `ward_list_fetch_total`).
        let reported = |r: &FetchResult| r.is_failure() && *r != FetchResult::Expired;
        for r in FetchResult::ALL.into_iter().filter(reported) {
            s.list_fetch_failures
                .insert(r.as_str(), self.list.fetch[r as usize].get());
        }
        for k in UpstreamError::ALL {
            s.upstream_errors.insert(k.as_str(), 0);
        }
        let mut text = String::new();
        // Writing to a String cannot fail, and the families are counters.
        if prometheus_client::encoding::text::encode(&mut text, &self.report.open).is_err() {
            return s;
        }
        for line in text.lines().filter(|l| !l.starts_with('#')) {
            let Some((name, labels, value)) = parse_sample(line) else {
                continue;
            };
            let label = |key: &str| labels.iter().find(|(k, _)| k == key).map(|(_, v)| v);
            match name {
                BLOCKED_TOTAL => {
                    if let Some(category) = label("category") {
                        *s.blocked
                            .entry((category.clone(), ReportChannel::Dns))
                            .or_default() += value;
                    }
                }
                WEB_BLOCKED_TOTAL => {
                    let channel = match label("channel").map(String::as_str) {
                        Some("sni") => ReportChannel::Sni,
                        Some("http") => ReportChannel::Http,
                        _ => continue,
                    };
                    if let Some(category) = label("category") {
                        *s.blocked.entry((category.clone(), channel)).or_default() += value;
                    }
                }
                PROFILE_BLOCKED_TOTAL => {
                    let channel = match label("channel").map(String::as_str) {
                        Some("dns") => ReportChannel::Dns,
                        Some("sni") => ReportChannel::Sni,
                        Some("http") => ReportChannel::Http,
                        _ => continue,
                    };
                    if let (Some(profile), Some(list), Some(category)) =
                        (label("profile"), label("list"), label("category"))
                    {
                        let cell = ProfileCell {
                            profile: profile.clone(),
                            list: list.clone(),
                            category: category.clone(),
                            channel,
                        };
                        *s.profile_blocked.entry(cell).or_default() += value;
                    }
                }
                UPSTREAM_ERRORS_TOTAL => {
                    let kind = label("kind").and_then(|k| {
                        UpstreamError::ALL
                            .iter()
                            .map(|e| e.as_str())
                            .find(|e| e == k)
                    });
                    if let Some(kind) = kind {
                        *s.upstream_errors.entry(kind).or_default() += value;
                    }
                }
                _ => {}
            }
        }
        s
    }
}

/// A sample line: name, labels, value.
type Sample<'a> = (&'a str, Vec<(String, String)>, u64);

/// Splits one OpenMetrics sample line, `name{k="v",…} value`, with label
/// values unescaped. `None` for anything else.
fn parse_sample(line: &str) -> Option<Sample<'_>> {
    let (name, rest) = match line.find('{') {
        Some(i) => (&line[..i], &line[i + 1..]),
        None => {
            let (name, value) = line.split_once(' ')?;
            return Some((name, Vec::new(), value.trim().parse().ok()?));
        }
    };
    let mut labels = Vec::new();
    let mut chars = rest.char_indices();
    let mut key = String::new();
    let end = loop {
        let (i, c) = chars.next()?;
        match c {
            '}' => break i,
            ',' => {}
            '=' => {
                if chars.next()?.1 != '"' {
                    return None;
                }
                let mut value = String::new();
                loop {
                    match chars.next()?.1 {
                        '"' => break,
                        '\\' => match chars.next()?.1 {
                            'n' => value.push('\n'),
                            other => value.push(other),
                        },
                        other => value.push(other),
                    }
                }
                labels.push((std::mem::take(&mut key), value));
            }
            c => key.push(c),
        }
    };
    let value = rest[end + 1..].trim().parse().ok()?;
    Some((name, labels, value))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dns::{Protocol, QueryResult};

    #[test]
    fn parses_samples() {
        assert_eq!(
            parse_sample(r#"ward_blocked_total{category="a\"b\\c\nd",action="x"} 7"#),
            Some((
                "ward_blocked_total",
                vec![
                    ("category".into(), "a\"b\\c\nd".into()),
                    ("action".into(), "x".into())
                ],
                7
            ))
        );
        assert_eq!(parse_sample("x_total 3"), Some(("x_total", vec![], 3)));
        assert_eq!(parse_sample("x{a=\"b\" 3"), None);
        assert_eq!(parse_sample("x{a=\"b\"} nan"), None);
    }

    #[test]
    fn snapshot_reads_every_counter_and_deltas_subtract() {
        let m = Metrics::new();
        let before = m.snapshot();
        assert_eq!(before.queries, 0);
        assert_eq!(before.upstream_errors["timeout"], 0);
        assert_eq!(before.list_fetch_failures["network"], 0);
        assert!(!before.list_fetch_failures.contains_key("ok"));

        m.dns().query(Protocol::Udp, QueryResult::Blocked);
        m.dns().query(Protocol::Tcp, QueryResult::Forwarded);
        m.dns().malformed(Protocol::Udp);
        let adult = m.dns().blocked_counter("adult", "sinkhole");
        adult.inc_by(3);
        m.dns().blocked_counter("adult", "nxdomain").inc();
        m.web().web_blocked(Channel::Sni, "adult");
        m.web().web_blocked(Channel::Http, "gambling");
        m.dns()
            .upstream_handles("192.0.2.1:53")
            .error(UpstreamError::Timeout);
        m.dns()
            .upstream_handles("192.0.2.2:53")
            .error(UpstreamError::Timeout);
        m.list().list_fetch(FetchResult::Network);
        m.list().list_fetch(FetchResult::Ok);
        let primary = m
            .dns()
            .profile_blocked_counter("primary", "national", "adult");
        primary.inc_by(2);
        m.dns()
            .profile_blocked_counter("secondary", "age", "social")
            .inc();

        let now = m.snapshot();
        let d = now.since(&before);
        assert_eq!(d.queries, 2);
        assert_eq!(d.malformed, 1);
        assert_eq!(d.blocked[&("adult".into(), ReportChannel::Dns)], 4);
        assert_eq!(d.blocked[&("adult".into(), ReportChannel::Sni)], 1);
        assert_eq!(d.blocked[&("gambling".into(), ReportChannel::Http)], 1);
        assert_eq!(d.upstream_errors["timeout"], 2);
        assert_eq!(d.list_fetch_failures["network"], 1);
        let cell = |p: &str, l: &str, c: &str| ProfileCell {
            profile: p.into(),
            list: l.into(),
            category: c.into(),
            channel: ReportChannel::Dns,
        };
        assert_eq!(d.profile_blocked[&cell("primary", "national", "adult")], 2);
        assert_eq!(d.profile_blocked[&cell("secondary", "age", "social")], 1);
        assert_eq!(d.profile_blocked.len(), 2);

        adult.inc();
        primary.inc();
        let d = m.snapshot().since(&now);
        assert_eq!(d.blocked[&("adult".into(), ReportChannel::Dns)], 1);
        assert_eq!(d.profile_blocked[&cell("primary", "national", "adult")], 1);
        assert_eq!(d.profile_blocked[&cell("secondary", "age", "social")], 0);
        assert_eq!(d.queries, 0);
    }

    #[test]
    fn report_metrics_are_exposed() {
        let m = Metrics::new();
        m.report_sent(SendResult::Rejected);
        m.set_report_spool(3);
        m.report_dropped(2);
        m.report_delivered(jiff::Timestamp::from_second(1_700_000_000).unwrap());
        let text = m.encode();
        for want in [
            "ward_report_sent_total{result=\"rejected\"} 1",
            "ward_report_sent_total{result=\"ok\"} 0",
            "ward_report_spool_reports 3",
            "ward_report_dropped_total 2",
            "ward_report_last_success_timestamp_seconds 1700000000",
        ] {
            assert!(text.lines().any(|l| l == want), "{want}\n{text}");
        }
    }
}
