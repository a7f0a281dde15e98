//! A node's compliance state from its latest report (pure): the
//! overview's and `GET /api/nodes`' `state`.
//!
//! In order of precedence:
//!
//! * `silent`: no report received for more than [`SILENT_AFTER`] report
//!   intervals;
//! * `stale`: it reported no list in force, or its list past
//!   `expires_at` (still enforced, but nothing newer arrived);
//! * `behind`: it enforces an older serial than the latest published;
//! * `current`: it enforces the latest.
//!
//! "Latest published" is the serial of the list the collector verified
//! from `[published]` ([`super::published`]), or the highest serial any
//! node of the same list reports if that is higher (the collector polls
//! less often than nodes may), or the highest reported alone when
//! `[published]` is not configured or has not been read yet
//! ([`latest_serials`]).

use std::collections::BTreeMap;
use std::time::Duration;

use jiff::Timestamp;
use serde::Serialize;

use super::store::NodeRow;
use crate::config::registry::Registry;

/// A node is silent after this many report intervals without a report.
pub const SILENT_AFTER: u32 = 3;

/// A node's state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum NodeState {
    Current,
    Behind,
    Stale,
    Silent,
}

impl NodeState {
    pub const ALL: [Self; 4] = [Self::Current, Self::Behind, Self::Stale, Self::Silent];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Current => "current",
            Self::Behind => "behind",
            Self::Stale => "stale",
            Self::Silent => "silent",
        }
    }
}

/// The highest serial reported per list id.
pub fn latest_serials(rows: &[NodeRow]) -> BTreeMap<String, u64> {
    let mut out: BTreeMap<String, u64> = BTreeMap::new();
    for row in rows {
        if let (Some(id), Some(serial)) = (&row.list_id, row.list_serial) {
            let e = out.entry(id.clone()).or_insert(serial);
            *e = (*e).max(serial);
        }
    }
    out
}

/// The state of `row` at `now`, for nodes reporting every `interval`.
pub fn node_state(
    row: &NodeRow,
    latest: &BTreeMap<String, u64>,
    now: Timestamp,
    interval: Duration,
) -> NodeState {
    let silent_after = interval.saturating_mul(SILENT_AFTER);
    let since = now.duration_since(row.last_report_at);
    let silent = match Duration::try_from(since) {
        Ok(d) => d > silent_after,
        // A report from the future (skewed clock): not silent.
        Err(_) => false,
    };
    if silent {
        return NodeState::Silent;
    }
    let (Some(id), Some(serial)) = (&row.list_id, row.list_serial) else {
        return NodeState::Stale;
    };
    if row.list_stale {
        return NodeState::Stale;
    }
    match latest.get(id) {
        Some(&newest) if serial < newest => NodeState::Behind,
        _ => NodeState::Current,
    }
}

/// One node as `GET /api/nodes` shows it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct NodeView {
    pub isp_id: String,
    pub node_id: String,
    pub state: NodeState,
    pub list_id: Option<String>,
    pub list_serial: Option<u64>,
    /// The latest serial of its list (the one `current` compares with).
    pub latest_serial: Option<u64>,
    /// `null`: registered, never reported (and so `silent`).
    pub last_report_at: Option<Timestamp>,
    pub last_window_end: Option<Timestamp>,
    pub activated_at: Option<Timestamp>,
    pub reports: u64,
    pub flagged: u64,
    /// In the registry now (a node removed from it keeps its history).
    pub registered: bool,
}

/// Every node: the registered ones (those that never reported are
/// `silent`) and any other that has reports, by ISP then node.
pub fn nodes(
    rows: &[NodeRow],
    registry: &Registry,
    now: Timestamp,
    interval: Duration,
) -> Vec<NodeView> {
    nodes_against(rows, None, registry, now, interval)
}

/// [`nodes`], with the published list's serial as the floor of its list's
/// latest serial.
pub fn nodes_against(
    rows: &[NodeRow],
    published: Option<&super::published::Published>,
    registry: &Registry,
    now: Timestamp,
    interval: Duration,
) -> Vec<NodeView> {
    let mut latest = latest_serials(rows);
    if let Some(p) = published {
        let e = latest.entry(p.list_id.clone()).or_insert(p.serial);
        *e = (*e).max(p.serial);
    }
    let mut out: BTreeMap<(String, String), NodeView> = BTreeMap::new();
    for row in rows {
        let registered = registry
            .nodes()
            .iter()
            .any(|n| n.isp_id == row.isp_id && n.node_id == row.node_id);
        out.insert(
            (row.isp_id.clone(), row.node_id.clone()),
            NodeView {
                isp_id: row.isp_id.clone(),
                node_id: row.node_id.clone(),
                state: node_state(row, &latest, now, interval),
                list_id: row.list_id.clone(),
                list_serial: row.list_serial,
                latest_serial: row.list_id.as_ref().and_then(|id| latest.get(id).copied()),
                last_report_at: Some(row.last_report_at),
                last_window_end: Some(row.last_window_end),
                activated_at: row.activated_at,
                reports: row.reports,
                flagged: row.flagged,
                registered,
            },
        );
    }
    for n in registry.nodes() {
        out.entry((n.isp_id.clone(), n.node_id.clone()))
            .or_insert_with(|| NodeView {
                isp_id: n.isp_id.clone(),
                node_id: n.node_id.clone(),
                state: NodeState::Silent,
                list_id: None,
                list_serial: None,
                latest_serial: None,
                last_report_at: None,
                last_window_end: None,
                activated_at: None,
                reports: 0,
                flagged: 0,
                registered: true,
            });
    }
    out.into_values().collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ts(s: &str) -> Timestamp {
        s.parse().unwrap()
    }

    fn row(node: &str, serial: Option<u64>, last: &str, stale: bool) -> NodeRow {
        NodeRow {
            isp_id: "isp".into(),
            node_id: node.into(),
            last_report_at: ts(last),
            last_window_end: ts(last),
            list_id: serial.map(|_| "national".to_owned()),
            list_serial: serial,
            activated_at: None,
            list_stale: stale,
            reports: 1,
            flagged: 0,
        }
    }

    #[test]
    fn states_in_order_of_precedence() {
        let rows = [
            row("current", Some(5), "2026-11-29T18:00:00Z", false),
            row("behind", Some(4), "2026-11-29T18:00:00Z", false),
            row("stale", Some(5), "2026-11-29T18:00:00Z", true),
            row("no-list", None, "2026-11-29T18:00:00Z", false),
            row("silent", Some(5), "2026-11-29T17:44:59Z", false),
            row("just-not-silent", Some(4), "2026-11-29T17:45:00Z", false),
            row("future", Some(5), "2026-11-29T19:00:00Z", false),
        ];
        let latest = latest_serials(&rows);
        assert_eq!(latest["national"], 5);
        let now = ts("2026-11-29T18:00:00Z");
        let five_minutes = Duration::from_secs(300);
        let got: Vec<_> = rows
            .iter()
            .map(|r| node_state(r, &latest, now, five_minutes).as_str())
            .collect();
        assert_eq!(
            got,
            [
                "current", "behind", "stale", "stale", "silent", "behind", "current"
            ]
        );
    }

    #[test]
    fn registered_nodes_that_never_reported_are_silent() {
        use crate::config::registry::RegisteredNode;
        let key = |seed: u8| ed25519_dalek::SigningKey::from_bytes(&[seed; 32]).verifying_key();
        let registry = Registry::from_nodes(vec![
            RegisteredNode {
                isp_id: "isp".into(),
                node_id: "a".into(),
                key: key(1),
            },
            RegisteredNode {
                isp_id: "isp".into(),
                node_id: "never".into(),
                key: key(2),
            },
        ]);
        let rows = [
            row("a", Some(2), "2026-11-29T18:00:00Z", false),
            row("gone", Some(1), "2026-11-29T18:00:00Z", false),
        ];
        let views = nodes(
            &rows,
            &registry,
            ts("2026-11-29T18:00:01Z"),
            Duration::from_secs(60),
        );
        let got: Vec<_> = views
            .iter()
            .map(|v| (v.node_id.as_str(), v.state, v.registered, v.latest_serial))
            .collect();
        assert_eq!(
            got,
            [
                ("a", NodeState::Current, true, Some(2)),
                ("gone", NodeState::Behind, false, Some(2)),
                ("never", NodeState::Silent, true, None),
            ]
        );
        let json = serde_json::to_value(&views[2]).unwrap();
        assert_eq!(json["state"], "silent");
        assert!(json["last_report_at"].is_null());
    }

    #[test]
    fn latest_serial_is_per_list() {
        let mut other = row("x", Some(9), "2026-11-29T18:00:00Z", false);
        other.list_id = Some("regional".into());
        let rows = [row("a", Some(3), "2026-11-29T18:00:00Z", false), other];
        let latest = latest_serials(&rows);
        assert_eq!(latest.len(), 2);
        assert_eq!(latest["national"], 3);
        assert_eq!(
            node_state(
                &rows[0],
                &latest,
                ts("2026-11-29T18:00:00Z"),
                Duration::from_secs(60)
            ),
            NodeState::Current
        );
    }

    #[test]
    fn the_published_serial_is_the_floor_of_its_lists_latest() {
        let rows = [row("a", Some(3), "2026-11-29T18:00:00Z", false)];
        let now = ts("2026-11-29T18:00:30Z");
        let published = |serial| crate::collector::published::Published {
            list_id: "national".into(),
            serial,
            issued_at: now,
            expires_at: now,
            sha256: String::new(),
            verified_at: now,
        };
        let registry = Registry::default();
        let interval = Duration::from_secs(60);
        let with = |p: &crate::collector::published::Published| {
            nodes_against(&rows, Some(p), &registry, now, interval)
        };
        // Published 4, no node has it: behind.
        let v = with(&published(4));
        assert_eq!(
            (v[0].state, v[0].latest_serial),
            (NodeState::Behind, Some(4))
        );
        // Published 2 (the collector's poll is late): the node's 3 wins.
        let v = with(&published(2));
        assert_eq!(
            (v[0].state, v[0].latest_serial),
            (NodeState::Current, Some(3))
        );
        // Not configured: the highest reported.
        let v = nodes(&rows, &registry, now, interval);
        assert_eq!(
            (v[0].state, v[0].latest_serial),
            (NodeState::Current, Some(3))
        );
    }
}
