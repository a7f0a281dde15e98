//! The compliance report document (format `ward-compliance-report/1`),
//! built from counter deltas and the list state; pure, no I/O.
//!
//! The schema is `docs/compliance-report.schema.json`; the prose in
//! `docs/compliance-report.md`. What a report can hold is fixed by the
//! types here: counts, identifiers of the list and the node, times. There
//! is no field that could carry a client address or a queried name.
//!
//! A school node (`report.kind = "school"`) adds two optional fields,
//! `kind` and `school`: its profiles (the [`Label`] an operator chose and
//! an age), every list in force, and the counts per profile, list,
//! category and channel under the same small-count rule. An ISP report
//! leaves both out, so its bytes are what they were before schools.

use std::collections::{BTreeMap, BTreeSet};

use jiff::Timestamp;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

pub use crate::config::ReportKind;
use crate::metrics::{CounterSnapshot, ProfileCell, ReportChannel};
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
    /// `school` for a school node; left out (an ISP node) otherwise.
    #[serde(default, skip_serializing_if = "ReportKind::is_isp")]
    pub kind: ReportKind,
    /// Only in a school report (and required there).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub school: Option<School>,
}

/// A profile or list name in a school report: `[a-z0-9][a-z0-9.-]*`, at
/// most 64 bytes, not an IPv4 address, as the node's config reader
/// requires (a label an operator chose). Anything else does not parse, so
/// no client address can travel as a label.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Label(String);

/// Why a [`Label`] was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "invalid profile or list name {0:?}: lowercase letters, digits, '.' and '-', at most 64 bytes, not an IP address"
)]
pub struct BadLabel(String);

impl TryFrom<String> for Label {
    type Error = BadLabel;

    fn try_from(s: String) -> Result<Self, BadLabel> {
        if crate::profiles::valid_name(&s) {
            Ok(Self(s))
        } else {
            Err(BadLabel(s))
        }
    }
}

impl From<Label> for String {
    fn from(l: Label) -> Self {
        l.0
    }
}

impl Label {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for Label {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// What a school node reports beyond an ISP node.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct School {
    /// Every `[[profile]]`, in config order.
    pub profiles: Vec<ProfileInfo>,
    /// Every list: the national one first (named `national`), then each
    /// `[[lists]]` entry in config order, with what is in force.
    pub lists: Vec<ListSerial>,
    /// profile → list → category → channel → count, small counts
    /// suppressed. Every category of each list a profile applies (the
    /// national list's included) has a row, zeros included; a row has
    /// the channels that apply profiles (today `dns`). No totals.
    pub blocked: BTreeMap<Label, ProfileCounts>,
}

/// One profile's counts: list → category → channel → count.
pub type ProfileCounts = BTreeMap<Label, BTreeMap<String, BTreeMap<String, Count>>>;

/// One profile: its name and the age of its readers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProfileInfo {
    pub name: Label,
    pub age: u8,
}

/// One list a school node enforces, by name; `list_id`, `serial` and
/// `sha256` are `null` for a `[[lists]]` entry that has never loaded
/// (its profiles answer SERVFAIL for what it would decide).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListSerial {
    pub name: Label,
    pub list_id: Option<String>,
    pub serial: Option<u64>,
    pub sha256: Option<String>,
}

/// The channels per-profile counts are kept for: the SNI and HTTP
/// filters do not apply profiles yet.
pub const PROFILE_CHANNELS: [ReportChannel; 1] = [ReportChannel::Dns];

/// What a school report is built from besides the counters.
#[derive(Debug, Clone, Default)]
pub struct SchoolWindow {
    pub profiles: Vec<ProfileInfo>,
    pub lists: Vec<ListSerial>,
    /// The (profile, list, category) rows every report has, even at zero:
    /// each profile with each category of the national list and of every
    /// list it applies that is in force.
    pub rows: BTreeSet<(String, String, String)>,
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
        kind: ReportKind::Isp,
        school: None,
    }
}

/// Builds a school node's report: [`build`], with `kind` and the
/// `school` section. A counted (profile, list, category) outside
/// `school.rows` (a profile or list gone since the counters began) gets
/// its row too; a name that is not a valid [`Label`] cannot have been
/// counted (the config reader refuses it) and is left out.
pub fn build_school(w: &Window<'_>, school: &SchoolWindow, delta: &CounterSnapshot) -> Report {
    let mut report = build(w, delta);
    let mut rows = school.rows.clone();
    rows.extend(
        delta
            .profile_blocked
            .keys()
            .filter(|cell| PROFILE_CHANNELS.contains(&cell.channel))
            .map(|c| (c.profile.clone(), c.list.clone(), c.category.clone())),
    );
    let mut blocked: BTreeMap<Label, ProfileCounts> = BTreeMap::new();
    for (profile, list, category) in rows {
        let (Ok(p), Ok(l)) = (Label::try_from(profile), Label::try_from(list)) else {
            continue;
        };
        let row = PROFILE_CHANNELS
            .into_iter()
            .map(|channel| {
                let cell = ProfileCell {
                    profile: p.0.clone(),
                    list: l.0.clone(),
                    category: category.clone(),
                    channel,
                };
                let n = delta.profile_blocked.get(&cell).copied().unwrap_or(0);
                (channel.as_str().to_owned(), Count::of(n, w.min_count))
            })
            .collect();
        blocked
            .entry(p)
            .or_default()
            .entry(l)
            .or_default()
            .insert(category, row);
    }
    report.kind = ReportKind::School;
    report.school = Some(School {
        profiles: school.profiles.clone(),
        lists: school.lists.clone(),
        blocked,
    });
    report
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

    fn school_fixture() -> (Window<'static>, SchoolWindow) {
        let w = Window {
            isp_id: "moet",
            node_id: "thcs-1",
            start: ts("2026-11-29T18:00:00Z"),
            end: ts("2026-11-29T18:05:00Z"),
            node_started_at: ts("2026-11-29T17:00:00Z"),
            config_digest: "00",
            min_count: 5,
            list: None,
            categories: ["adult", "csam"].map(String::from).into(),
            activations: &[],
        };
        let label = |s: &str| Label::try_from(s.to_owned()).unwrap();
        let serial = |name: &str, id: Option<(&str, u64)>| ListSerial {
            name: label(name),
            list_id: id.map(|(i, _)| i.to_owned()),
            serial: id.map(|(_, s)| s),
            sha256: id.map(|_| "ab".repeat(32)),
        };
        let rows = [
            ("primary", "national", "adult"),
            ("primary", "national", "csam"),
            ("primary", "school", "games"),
            ("secondary", "national", "adult"),
            ("secondary", "national", "csam"),
        ]
        .map(|(p, l, c)| (p.to_owned(), l.to_owned(), c.to_owned()))
        .into();
        let school = SchoolWindow {
            profiles: vec![
                ProfileInfo {
                    name: label("primary"),
                    age: 10,
                },
                ProfileInfo {
                    name: label("secondary"),
                    age: 15,
                },
            ],
            lists: vec![
                serial("national", Some(("test-national", 3))),
                serial("school", Some(("school", 1))),
                serial("missing", None),
            ],
            rows,
        };
        (w, school)
    }

    fn cell(p: &str, l: &str, c: &str) -> ProfileCell {
        ProfileCell {
            profile: p.into(),
            list: l.into(),
            category: c.into(),
            channel: ReportChannel::Dns,
        }
    }

    #[test]
    fn an_isp_report_has_no_school_fields() {
        let (w, _) = school_fixture();
        let json: serde_json::Value =
            serde_json::from_slice(&build(&w, &CounterSnapshot::default()).to_bytes()).unwrap();
        let keys: Vec<&String> = json.as_object().unwrap().keys().collect();
        assert_eq!(
            keys,
            [
                "activations",
                "config_digest",
                "counters",
                "format",
                "isp_id",
                "list",
                "min_count",
                "node_id",
                "node_started_at",
                "report_id",
                "ward_version",
                "window_end",
                "window_start"
            ],
            "the same fields as before schools, so the same bytes"
        );
    }

    #[test]
    fn a_school_report_counts_per_profile_with_every_row_suppressed_alike() {
        let (w, school) = school_fixture();
        let mut delta = CounterSnapshot::default();
        delta
            .profile_blocked
            .insert(cell("primary", "school", "games"), 12);
        delta
            .profile_blocked
            .insert(cell("primary", "national", "csam"), 1);
        delta
            .profile_blocked
            .insert(cell("secondary", "national", "adult"), 5);
        // A profile removed since the counters began still gets its row.
        delta
            .profile_blocked
            .insert(cell("gone", "age", "social"), 0);
        let r = build_school(&w, &school, &delta);
        assert_eq!(r.kind, ReportKind::School);
        let bytes = r.to_bytes();
        let json: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
        assert_eq!(json["kind"], "school");
        let s = &json["school"];
        assert_eq!(
            s["profiles"],
            serde_json::json!([{"name": "primary", "age": 10}, {"name": "secondary", "age": 15}])
        );
        assert_eq!(
            s["lists"][0],
            serde_json::json!({"name": "national", "list_id": "test-national", "serial": 3, "sha256": "ab".repeat(32)})
        );
        assert_eq!(
            s["lists"][2],
            serde_json::json!({"name": "missing", "list_id": null, "serial": null, "sha256": null})
        );
        let b = &s["blocked"];
        assert_eq!(
            b["primary"]["school"]["games"],
            serde_json::json!({"dns": 12})
        );
        // A confidential category is a row like any other, suppressed
        // under min_count; zero and one look the same.
        assert_eq!(
            b["primary"]["national"]["csam"],
            serde_json::json!({"dns": "<5"})
        );
        assert_eq!(
            b["primary"]["national"]["adult"],
            serde_json::json!({"dns": "<5"})
        );
        assert_eq!(
            b["secondary"]["national"]["adult"],
            serde_json::json!({"dns": 5})
        );
        assert_eq!(
            b["secondary"]["national"]["csam"],
            serde_json::json!({"dns": "<5"})
        );
        assert_eq!(b["gone"]["age"]["social"], serde_json::json!({"dns": "<5"}));
        assert_eq!(b.as_object().unwrap().len(), 3);
        // No totals anywhere in the section.
        let section: Vec<&String> = s.as_object().unwrap().keys().collect();
        assert_eq!(section, ["blocked", "lists", "profiles"]);
        let back: Report = serde_json::from_slice(&bytes).unwrap();
        assert_eq!(back, r);
    }

    #[test]
    fn a_school_report_carries_no_address_and_no_name() {
        // Whatever was asked, a report holds labels from the config,
        // list identifiers, categories and counts: the asked names and
        // the clients never reach the builder, and a label cannot hold
        // an IPv6 address, a URL or an upper-case name.
        let (w, school) = school_fixture();
        let mut delta = CounterSnapshot::default();
        delta
            .profile_blocked
            .insert(cell("primary", "school", "games"), 7);
        let text = String::from_utf8(build_school(&w, &school, &delta).to_bytes()).unwrap();
        for absent in ["127.0.0", "games.test", "client", "qname", "address"] {
            assert!(!text.contains(absent), "{absent} in {text}");
        }
        for bad in ["2001:db8::1", "10.0.0.7", "http://x", "Primary", "", "a b"] {
            assert!(Label::try_from(bad.to_owned()).is_err(), "{bad}");
            let json = format!("{{\"name\": {bad:?}, \"age\": 10}}");
            assert!(
                serde_json::from_str::<ProfileInfo>(&json).is_err(),
                "{json}"
            );
        }
        // An unlabelable counted name is left out, not sent.
        delta
            .profile_blocked
            .insert(cell("Bad Name", "school", "games"), 9);
        let text = String::from_utf8(build_school(&w, &school, &delta).to_bytes()).unwrap();
        assert!(!text.contains("Bad Name"), "{text}");
    }

    proptest::proptest! {
        /// Per-profile cells follow the small-count rule too, and every
        /// row has exactly the profile channels.
        #[test]
        fn prop_no_small_profile_count_is_ever_exact(
            cells in proptest::collection::vec((0usize..3, 0usize..3, 0usize..3, 0u64..12), 0..30),
            min_count in 5u64..9,
        ) {
            let (mut w, school) = school_fixture();
            w.min_count = min_count;
            let (profiles, lists, categories) =
                (["primary", "secondary", "p3"], ["national", "school", "age"], ["adult", "csam", "games"]);
            let mut delta = CounterSnapshot::default();
            for (p, l, c, n) in &cells {
                *delta
                    .profile_blocked
                    .entry(cell(profiles[*p], lists[*l], categories[*c]))
                    .or_default() += n;
            }
            let json: serde_json::Value =
                serde_json::from_slice(&build_school(&w, &school, &delta).to_bytes()).unwrap();
            let blocked = &json["school"]["blocked"];
            for (c, n) in &delta.profile_blocked {
                let got = &blocked[c.profile.as_str()][c.list.as_str()][c.category.as_str()]["dns"];
                if *n < min_count {
                    proptest::prop_assert_eq!(got, &serde_json::json!(format!("<{min_count}")));
                } else {
                    proptest::prop_assert_eq!(got, &serde_json::json!(n));
                }
            }
            for lists in blocked.as_object().unwrap().values() {
                for categories in lists.as_object().unwrap().values() {
                    for row in categories.as_object().unwrap().values() {
                        let row = row.as_object().unwrap();
                        proptest::prop_assert_eq!(row.len(), 1);
                        if let Some(n) = row["dns"].as_u64() {
                            proptest::prop_assert!(n >= min_count);
                        }
                    }
                }
            }
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
