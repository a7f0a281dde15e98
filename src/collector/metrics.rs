//! The collector's own metrics (`GET /metrics`): what it received and how
//! fast it stored it. Labels are bounded: the ingest result only, never a
//! node, ISP or address.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

use super::ingest::IngestResult;
use super::probes::ProbeIngest;
use super::published::CheckResult;
use super::state::{NodeState, NodeView};

/// `ward_collector_reports_total{result}`.
pub const REPORTS_TOTAL: &str = "ward_collector_reports_total";
/// `ward_collector_probes_total{result}`: probe-result POSTs.
pub const PROBES_TOTAL: &str = "ward_collector_probes_total";
/// `ward_collector_nodes{state}`: nodes per state, at the last scrape.
pub const NODES: &str = "ward_collector_nodes";
/// `ward_collector_ingest_seconds`: request body read to answer.
pub const INGEST_SECONDS: &str = "ward_collector_ingest_seconds";

/// `ward_collector_published_checks_total{result}`: polls of `[published]`.
pub const PUBLISHED_CHECKS_TOTAL: &str = "ward_collector_published_checks_total";
/// `ward_collector_published_serial`: the latest verified published serial
/// (0: none verified yet).
pub const PUBLISHED_SERIAL: &str = "ward_collector_published_serial";

/// Ingest latency buckets, seconds: a commit with fsync is milliseconds.
const INGEST_BUCKETS: [f64; 12] = [
    0.000_5, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0, 5.0,
];

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ResultLabels {
    result: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct StateLabels {
    state: &'static str,
}

/// The handles, registered once.
#[derive(Debug)]
pub struct CollectorMetrics {
    registry: Registry,
    reports: [Counter; IngestResult::ALL.len()],
    probes: [Counter; ProbeIngest::ALL.len()],
    nodes: [Gauge; NodeState::ALL.len()],
    ingest: Histogram,
    published_checks: [Counter; CheckResult::ALL.len()],
    published_serial: Gauge,
}

impl Default for CollectorMetrics {
    fn default() -> Self {
        Self::new()
    }
}

impl CollectorMetrics {
    /// Registers every metric, with every result at zero.
    pub fn new() -> Self {
        let mut registry = Registry::default();
        let family = Family::<ResultLabels, Counter>::default();
        registry.register(
            REPORTS_TOTAL.trim_end_matches("_total"),
            "Report POSTs by outcome",
            family.clone(),
        );
        let reports = IngestResult::ALL
            .map(|r| family.get_or_create_owned(&ResultLabels { result: r.as_str() }));
        let probe_family = Family::<ResultLabels, Counter>::default();
        registry.register(
            PROBES_TOTAL.trim_end_matches("_total"),
            "Probe-result POSTs by outcome",
            probe_family.clone(),
        );
        let probes = ProbeIngest::ALL
            .map(|r| probe_family.get_or_create_owned(&ResultLabels { result: r.as_str() }));
        let states = Family::<StateLabels, Gauge>::default();
        registry.register(
            NODES,
            "Nodes per state (current, behind, stale, silent), worked out at scrape time",
            states.clone(),
        );
        let nodes =
            NodeState::ALL.map(|s| states.get_or_create_owned(&StateLabels { state: s.as_str() }));
        let ingest = Histogram::new(INGEST_BUCKETS);
        registry.register(
            INGEST_SECONDS,
            "Time from a report's body read to its answer (verification and commit)",
            ingest.clone(),
        );
        let checks = Family::<ResultLabels, Counter>::default();
        registry.register(
            PUBLISHED_CHECKS_TOTAL.trim_end_matches("_total"),
            "Polls of the published list ([published]) by outcome",
            checks.clone(),
        );
        let published_checks = CheckResult::ALL
            .map(|r| checks.get_or_create_owned(&ResultLabels { result: r.as_str() }));
        let published_serial = Gauge::default();
        registry.register(
            PUBLISHED_SERIAL,
            "The latest published serial the collector verified (0: none yet, or no [published])",
            published_serial.clone(),
        );
        Self {
            registry,
            reports,
            probes,
            nodes,
            ingest,
            published_checks,
            published_serial,
        }
    }

    /// Counts one POST.
    pub fn count(&self, result: IngestResult) {
        if let Some(i) = IngestResult::ALL.iter().position(|r| *r == result) {
            self.reports[i].inc();
        }
    }

    /// Counts one probe-result POST.
    pub fn count_probe(&self, result: ProbeIngest) {
        if let Some(i) = ProbeIngest::ALL.iter().position(|r| *r == result) {
            self.probes[i].inc();
        }
    }

    /// How many POSTs had `result` (tests, logs).
    pub fn reports(&self, result: IngestResult) -> u64 {
        IngestResult::ALL
            .iter()
            .position(|r| *r == result)
            .map_or(0, |i| self.reports[i].get())
    }

    /// Sets the per-state node gauges from `views`.
    pub fn set_nodes(&self, views: &[NodeView]) {
        for (i, state) in NodeState::ALL.into_iter().enumerate() {
            let n = views.iter().filter(|v| v.state == state).count();
            self.nodes[i].set(i64::try_from(n).unwrap_or(i64::MAX));
        }
    }

    /// Counts one poll of the published list.
    pub fn count_published(&self, result: CheckResult) {
        if let Some(i) = CheckResult::ALL.iter().position(|r| *r == result) {
            self.published_checks[i].inc();
        }
    }

    pub fn set_published_serial(&self, serial: u64) {
        self.published_serial
            .set(i64::try_from(serial).unwrap_or(i64::MAX));
    }

    pub fn observe_ingest(&self, seconds: f64) {
        self.ingest.observe(seconds);
    }

    /// The OpenMetrics text exposition.
    pub fn encode(&self) -> String {
        let mut out = String::new();
        // Writing to a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut out, &self.registry);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::collector::state::NodeView;

    /// `/metrics` is open: it must never name a node or an ISP, and its
    /// label values are a fixed set.
    #[test]
    fn the_encoding_names_no_node_or_isp_and_labels_are_bounded() {
        let m = CollectorMetrics::new();
        let view = |isp: &str, node: &str, state| NodeView {
            isp_id: isp.into(),
            node_id: node.into(),
            state,
            list_id: Some("secret-list".into()),
            list_serial: Some(3),
            latest_serial: Some(3),
            last_report_at: None,
            last_window_end: None,
            activated_at: None,
            reports: 1,
            flagged: 0,
            registered: true,
        };
        m.set_nodes(&[
            view("isp-zeta", "node-omega", NodeState::Current),
            view("isp-eta", "node-psi", NodeState::Silent),
        ]);
        for r in IngestResult::ALL {
            m.count(r);
        }
        m.observe_ingest(0.01);
        let text = m.encode();
        for name in [
            "isp-zeta",
            "node-omega",
            "isp-eta",
            "node-psi",
            "secret-list",
        ] {
            assert!(!text.contains(name), "{name} in\n{text}");
        }
        let mut labels = std::collections::BTreeSet::new();
        for line in text.lines().filter(|l| !l.starts_with('#')) {
            if let Some(start) = line.find('{') {
                let end = line.find('}').unwrap();
                labels.insert(line[start + 1..end].to_owned());
            }
        }
        let allowed: std::collections::BTreeSet<String> = IngestResult::ALL
            .iter()
            .map(|r| format!("result=\"{}\"", r.as_str()))
            .chain(
                NodeState::ALL
                    .iter()
                    .map(|s| format!("state=\"{}\"", s.as_str())),
            )
            .chain(
                CheckResult::ALL
                    .iter()
                    .map(|r| format!("result=\"{}\"", r.as_str())),
            )
            .chain(
                ProbeIngest::ALL
                    .iter()
                    .map(|r| format!("result=\"{}\"", r.as_str())),
            )
            .collect();
        // The histogram's buckets are the other labels, fixed too.
        let unexpected: Vec<_> = labels
            .iter()
            .filter(|l| !allowed.contains(*l) && !l.starts_with("le=\""))
            .collect();
        let buckets = labels.iter().filter(|l| l.starts_with("le=\"")).count();
        assert_eq!(buckets, INGEST_BUCKETS.len() + 1, "{labels:?}");
        assert!(unexpected.is_empty(), "{unexpected:?}\n{text}");
        assert!(
            text.contains("ward_collector_nodes{state=\"silent\"} 1"),
            "{text}"
        );
    }
}
