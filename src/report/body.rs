//! The compliance report document (format `ward-compliance-report/1`),
//! built from counter deltas and the list state; pure, no I/O.
//!
//! The schema is `docs/compliance-report.schema.json`; the prose in
//! `docs/compliance-report.md`. What a report can hold is fixed by the
//! types here: counts, identifiers of the list and the node, times. There
//! is no field that could carry a client address or a queried name.

use std::collections::{BTreeMap, BTreeSet};

use jiff::Timestamp;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::metrics::{CounterSnapshot, ReportChannel};
use crate::store::Activation;

/// The `format` field of every report this build writes.
pub const FORMAT: &str = "ward-compliance-report/1";
/// Domain separation for report ids.
const REPORT_ID_CONTEXT: &[u8] = b"ward-report-id-v1\0";
/// Domain separation for the config digest.
const CONFIG_DIGEST_CONTEXT: &[u8] = b"ward-config-digest-v1\0";

/// One compliance report.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Report {
    pub format: String,
    /// Deterministic from isp, node and window start; see [`report_id`].
    pub report_id: String,
    pub isp_id: String,
    pub node_id: String,
    pub window_start: Timestamp,
    pub window_end: Timestamp,
    /// When this ward process started: a window that does not start where
    /// the previous one ended after a restart is downtime, not a lost
    /// report.
    pub node_started_at: Timestamp,
    pub ward_version: String,
    /// SHA-256 over the policy-relevant settings; see [`PolicyDigest`].
    pub config_digest: String,
    /// The `min_count` the counts were suppressed under.
    pub min_count: u64,
    /// The list in force at `window_end`; `null` when none is.
    pub list: Option<ListInForce>,
    /// Every list put in force during the window, oldest first.
    pub activations: Vec<ActivationLag>,
    pub counters: Counters,
}

/// The list in force.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListInForce {
    pub list_id: String,
    pub serial: u64,
    pub sha256: String,
    pub issued_at: Timestamp,
    pub expires_at: Timestamp,
    /// When this node first enforced this artifact (kept across restarts).
    pub activated_at: Timestamp,
    /// Past `expires_at` with no newer list (still enforced).
    pub stale: bool,
}

/// One activation and its lag.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ActivationLag {
    pub list_id: String,
    pub serial: u64,
    pub sha256: String,
    pub issued_at: Timestamp,
    pub activated_at: Timestamp,
    /// `activated_at − issued_at`, seconds (negative only with a skewed
    /// clock).
    pub lag_seconds: f64,
    /// Loaded while ward started (from disk or a first download) rather
    /// than by the running updater.
    pub at_startup: bool,
}

/// A per-category count: exact from `min_count` up, else `"<min_count"`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Count {
    Exact(u64),
    Below(String),
}

impl Count {
    /// Applies the small-count rule.
    pub fn of(n: u64, min_count: u64) -> Self {
        if n < min_count {
            Self::Below(format!("<{min_count}"))
        } else {
            Self::Exact(n)
        }
    }
}

/// The window's counters.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Counters {
    /// DNS queries answered (every result, blocked and allowed together).
    pub queries_total: u64,
    /// category → channel (`dns`, `sni`, `http`) → count, small counts
    /// suppressed. No total is sent (see `docs/compliance-report.md`).
    pub blocked: BTreeMap<String, BTreeMap<String, Count>>,
    /// Failed upstream exchanges by kind.
    pub upstream_failures: BTreeMap<String, u64>,
    /// Failed polls of `list.url` by reason.
    pub list_fetch_failures: BTreeMap<String, u64>,
    /// Client DNS messages that could not be parsed.
    pub malformed_packets: u64,
}

/// The report id: the first 16 bytes, hex, of SHA-256 over a context,
/// the ISP id, the node id and the window start (unix milliseconds).
pub fn report_id(isp_id: &str, node_id: &str, window_start: Timestamp) -> String {
    let digest = Sha256::new()
        .chain_update(REPORT_ID_CONTEXT)
        .chain_update(isp_id.as_bytes())
        .chain_update([0])
        .chain_update(node_id.as_bytes())
        .chain_update([0])
        .chain_update(window_start.as_millisecond().to_be_bytes())
        .finalize();
    hex::encode(&digest[..16])
}

/// The policy-relevant settings, in the canonical form the config digest
/// is computed over. Listen addresses, upstreams, client networks, cache
/// sizes, paths and logging are left out: they change how ward runs, not
/// what it blocks.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PolicyDigest {
    pub block_action: String,
    pub sinkhole_ipv4: Vec<String>,
    pub sinkhole_ipv6: Vec<String>,
    pub block_ttl: u32,
    /// Key ids trusted for lists, sorted.
    pub trusted_key_ids: Vec<String>,
    /// `list.url`, or `null` for a list from `list.file` alone.
    pub list_url: Option<String>,
    pub require_list: bool,
    pub min_count: u64,
    /// `[sni]` / `[http]`: `null` when off, else their `on_unparsable`.
    pub sni: Option<String>,
    pub http: Option<String>,
}

impl PolicyDigest {
    /// `sha256` hex of the context and the canonical JSON.
    pub fn digest(&self) -> String {
        let mut sorted = self.clone();
        sorted.trusted_key_ids.sort();
        sorted.trusted_key_ids.dedup();
        // Serialising plain strings, numbers and vectors cannot fail.
        let json = serde_json::to_vec(&sorted).unwrap_or_default();
        hex::encode(
            Sha256::new()
                .chain_update(CONFIG_DIGEST_CONTEXT)
                .chain_update(json)
                .finalize(),
        )
    }
}

/// Everything a report is built from besides the counters.
#[derive(Debug, Clone)]
pub struct Window<'a> {
    pub isp_id: &'a str,
    pub node_id: &'a str,
    pub start: Timestamp,
    pub end: Timestamp,
    pub node_started_at: Timestamp,
    pub config_digest: &'a str,
    pub min_count: u64,
    pub list: Option<ListInForce>,
    /// Categories of the lists in force during the window: each gets a
    /// row even at zero, so a zero is as hidden as a one.
    pub categories: BTreeSet<String>,
    pub activations: &'a [(Activation, bool)],
}

/// Builds the report for one window from the counter delta.
pub fn build(w: &Window<'_>, delta: &CounterSnapshot) -> Report {
    let mut categories = w.categories.clone();
    categories.extend(delta.blocked.keys().map(|(c, _)| c.clone()));
    let blocked = categories
        .into_iter()
        .map(|category| {
            let row = ReportChannel::ALL
                .into_iter()
                .map(|ch| {
                    let n = delta
                        .blocked
                        .get(&(category.clone(), ch))
                        .copied()
                        .unwrap_or(0);
                    (ch.as_str().to_owned(), Count::of(n, w.min_count))
                })
                .collect();
            (category, row)
        })
        .collect();
    let strings = |m: &BTreeMap<&'static str, u64>| {
        m.iter()
            .map(|(k, v)| ((*k).to_owned(), *v))
            .collect::<BTreeMap<_, _>>()
    };
    Report {
        format: FORMAT.to_owned(),
        report_id: report_id(w.isp_id, w.node_id, w.start),
        isp_id: w.isp_id.to_owned(),
        node_id: w.node_id.to_owned(),
        window_start: w.start,
        window_end: w.end,
        node_started_at: w.node_started_at,
        ward_version: env!("CARGO_PKG_VERSION").to_owned(),
        config_digest: w.config_digest.to_owned(),
        min_count: w.min_count,
        list: w.list.clone(),
        activations: w
            .activations
            .iter()
            .map(|(a, at_startup)| ActivationLag {
                list_id: a.list_id.clone(),
                serial: a.serial,
                sha256: hex::encode(a.sha256),
                issued_at: a.issued_at,
                activated_at: a.activated_at,
                lag_seconds: (a.activated_at - a.issued_at).as_secs_f64(),
                at_startup: *at_startup,
            })
            .collect(),
        counters: Counters {
            queries_total: delta.queries,
            blocked,
            upstream_failures: strings(&delta.upstream_errors),
            list_fetch_failures: strings(&delta.list_fetch_failures),
            malformed_packets: delta.malformed,
        },
    }
}

impl Report {
    /// The body as sent and signed: compact JSON.
    pub fn to_bytes(&self) -> Vec<u8> {
        // Every field serialises (strings, integers, finite floats).
        serde_json::to_vec(self).unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ts(s: &str) -> Timestamp {
        s.parse().unwrap()
    }

    #[test]
    fn small_counts_are_suppressed_and_zero_is_indistinguishable() {
        assert_eq!(Count::of(0, 5), Count::Below("<5".into()));
        assert_eq!(Count::of(4, 5), Count::Below("<5".into()));
        assert_eq!(Count::of(5, 5), Count::Exact(5));
        assert_eq!(Count::of(9, 10), Count::Below("<10".into()));
        assert_eq!(
            serde_json::to_string(&Count::of(1, 5)).unwrap(),
            "\"<5\"",
            "a string, not a number"
        );
        assert_eq!(serde_json::to_string(&Count::of(7, 5)).unwrap(), "7");
    }

    #[test]
    fn report_ids_are_deterministic_and_distinct() {
        let t = ts("2026-11-29T18:00:00Z");
        let a = report_id("isp", "node", t);
        assert_eq!(a, report_id("isp", "node", t));
        assert_eq!(a.len(), 32);
        assert_ne!(a, report_id("isp", "node2", t));
        assert_ne!(a, report_id("isp2", "node", t));
        // The separator keeps ("ab","c") and ("a","bc") apart.
        assert_ne!(report_id("ab", "c", t), report_id("a", "bc", t));
        assert_ne!(a, report_id("isp", "node", ts("2026-11-29T18:05:00Z")));
    }

    #[test]
    fn every_category_gets_every_channel_and_no_total() {
        let mut delta = CounterSnapshot::default();
        delta
            .blocked
            .insert(("adult".into(), ReportChannel::Dns), 12);
        delta
            .blocked
            .insert(("adult".into(), ReportChannel::Sni), 2);
        delta
            .blocked
            .insert(("gone".into(), ReportChannel::Http), 6);
        delta.queries = 100;
        let w = Window {
            isp_id: "isp",
            node_id: "n1",
            start: ts("2026-11-29T18:00:00Z"),
            end: ts("2026-11-29T18:05:00Z"),
            node_started_at: ts("2026-11-29T17:00:00Z"),
            config_digest: "00",
            min_count: 5,
            list: None,
            categories: ["adult", "gambling"].map(String::from).into(),
            activations: &[],
        };
        let r = build(&w, &delta);
        let json: serde_json::Value = serde_json::from_slice(&r.to_bytes()).unwrap();
        let blocked = &json["counters"]["blocked"];
        assert_eq!(blocked["adult"]["dns"], 12);
        assert_eq!(blocked["adult"]["sni"], "<5");
        assert_eq!(blocked["adult"]["http"], "<5");
        assert_eq!(blocked["gambling"]["dns"], "<5");
        assert_eq!(blocked["gone"]["http"], 6);
        assert_eq!(json["counters"]["queries_total"], 100);
        assert!(json["counters"].get("blocked_total").is_none());
        // Round trip.
        let back: Report = serde_json::from_slice(&r.to_bytes()).unwrap();
        assert_eq!(back, r);
    }

    proptest::proptest! {
        /// Whatever the counts, no cell under min_count is sent exactly,
        /// every category gets all three channels, and no total appears.
        #[test]
        fn prop_no_small_count_is_ever_exact(
            cells in proptest::collection::vec((0usize..6, 0usize..3, 0u64..12), 0..30),
            min_count in 5u64..9,
        ) {
            let names = ["a", "b", "c-d", "e1", "f", "g"];
            let mut delta = CounterSnapshot::default();
            for (c, ch, n) in &cells {
                *delta
                    .blocked
                    .entry((names[*c].to_owned(), ReportChannel::ALL[*ch]))
                    .or_default() += n;
            }
            let w = Window {
                isp_id: "i",
                node_id: "n",
                start: ts("2026-11-29T18:00:00Z"),
                end: ts("2026-11-29T18:05:00Z"),
                node_started_at: ts("2026-11-29T18:00:00Z"),
                config_digest: "00",
                min_count,
                list: None,
                categories: ["a".to_owned()].into(),
                activations: &[],
            };
            let json: serde_json::Value =
                serde_json::from_slice(&build(&w, &delta).to_bytes()).unwrap();
            let blocked = json["counters"]["blocked"].as_object().unwrap();
            proptest::prop_assert!(blocked.contains_key("a"));
            for ((category, channel), n) in &delta.blocked {
                let cell = &blocked[category.as_str()][channel.as_str()];
                if *n < min_count {
                    proptest::prop_assert_eq!(cell, &serde_json::json!(format!("<{min_count}")));
                } else {
                    proptest::prop_assert_eq!(cell, &serde_json::json!(n));
                }
            }
            for row in blocked.values() {
                proptest::prop_assert_eq!(row.as_object().unwrap().len(), 3);
                for cell in row.as_object().unwrap().values() {
                    if let Some(n) = cell.as_u64() {
                        proptest::prop_assert!(n >= min_count);
                    }
                }
            }
            let counters = json["counters"].as_object().unwrap();
            let keys: Vec<&String> = counters.keys().collect();
            proptest::prop_assert_eq!(
                keys,
                ["blocked", "list_fetch_failures", "malformed_packets", "queries_total", "upstream_failures"]
                    .iter()
                    .map(|s| &**s)
                    .collect::<Vec<&str>>()
            );
        }
    }

    #[test]
    fn config_digest_ignores_key_order() {
        let mut p = PolicyDigest {
            block_action: "sinkhole".into(),
            sinkhole_ipv4: vec!["0.0.0.0".into()],
            sinkhole_ipv6: vec!["::".into()],
            block_ttl: 60,
            trusted_key_ids: vec!["bb".into(), "aa".into()],
            list_url: None,
            require_list: false,
            min_count: 5,
            sni: None,
            http: Some("allow".into()),
        };
        let a = p.digest();
        p.trusted_key_ids.reverse();
        assert_eq!(a, p.digest());
        p.block_ttl = 61;
        assert_ne!(a, p.digest());
        p.block_ttl = 60;
        p.sni = Some("block".into());
        assert_ne!(a, p.digest());
    }
}
