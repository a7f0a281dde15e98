//! What the dashboard, API and export read from the storage (blocking:
//! the server calls these from `spawn_blocking`). Long ranges are read
//! node by node in chunks of time, so memory holds one node's chunk of
//! windows, not the whole range.

use std::time::Duration;

use jiff::{SignedDuration, Timestamp};

use super::dashboard::annual::{Annual, AnnualReport};
use super::dashboard::node::NodeDetail;
use super::dashboard::schools::SchoolView;
use super::params::Range;
use super::published::Published;
use super::state::{self, NodeView, SILENT_AFTER};
use super::store::{Storage, StorageError, WindowQuery, WindowRow};
use crate::config::registry::Registry;

/// The export reads each node's windows a day at a time.
pub const EXPORT_CHUNK: SignedDuration = SignedDuration::from_hours(24);
/// The annual report, a week at a time.
pub const ANNUAL_CHUNK: SignedDuration = SignedDuration::from_hours(24 * 7);

/// Every node's view now, against the published list when known.
pub fn node_views(
    store: &dyn Storage,
    published: Option<&Published>,
    registry: &Registry,
    now: Timestamp,
    interval: Duration,
) -> Result<Vec<NodeView>, StorageError> {
    Ok(state::nodes_against(
        &store.nodes()?,
        published,
        registry,
        now,
        interval,
    ))
}

/// One node's detail and its windows in `range`; `None`: no such node
/// (neither registered nor ever reported).
pub fn node_detail(
    store: &dyn Storage,
    published: Option<&Published>,
    registry: &Registry,
    now: Timestamp,
    interval: Duration,
    (isp_id, node_id): (&str, &str),
    range: Range,
) -> Result<Option<(NodeDetail, Vec<WindowRow>)>, StorageError> {
    let views = node_views(store, published, registry, now, interval)?;
    let Some(view) = views
        .into_iter()
        .find(|v| v.isp_id == isp_id && v.node_id == node_id)
    else {
        return Ok(None);
    };
    let lags = store.activation_lags()?;
    let windows = store.windows(&WindowQuery {
        isp_id: Some(isp_id.to_owned()),
        node_id: Some(node_id.to_owned()),
        from: range.from,
        to: range.to,
    })?;
    Ok(Some((NodeDetail::new(view, &lags, range), windows)))
}

/// Every school node (its latest report a school report) with its
/// per-profile counts summed over `range`; ISP nodes are left out.
pub fn schools(store: &dyn Storage, range: Range) -> Result<Vec<SchoolView>, StorageError> {
    store
        .schools()?
        .into_iter()
        .map(|school| {
            let windows = store.windows(&WindowQuery {
                isp_id: Some(school.isp_id.clone()),
                node_id: Some(school.node_id.clone()),
                from: range.from,
                to: range.to,
            })?;
            Ok(SchoolView::new(school, &windows))
        })
        .collect()
}

/// Which windows of `range` a chunked walk visits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Take {
    /// Those overlapping the range (as [`Storage::windows`]).
    Overlapping,
    /// Those starting in it.
    Starting,
}

/// Calls `f` on each window of `range`, node by node (every node that has
/// reported), each node's in window order, each window once (a window
/// spanning two chunks is taken in the one its start falls in). Stops at
/// the first error of `f`.
pub fn for_each_window<E: From<StorageError>>(
    store: &dyn Storage,
    range: Range,
    chunk: SignedDuration,
    take: Take,
    mut f: impl FnMut(&WindowRow) -> Result<(), E>,
) -> Result<(), E> {
    let nodes = store.nodes()?;
    for node in &nodes {
        let mut from = range.from;
        let mut first = true;
        while from < range.to {
            let to = (from + chunk).min(range.to);
            let windows = store.windows(&WindowQuery {
                isp_id: Some(node.isp_id.clone()),
                node_id: Some(node.node_id.clone()),
                from,
                to,
            })?;
            for w in &windows {
                let starts_here = w.window_start >= from && w.window_start < to;
                let straddles = first && take == Take::Overlapping && w.window_start < from;
                if starts_here || straddles {
                    f(w)?;
                }
            }
            from = to;
            first = false;
        }
    }
    Ok(())
}

/// The annual report of `year`.
pub fn annual(
    store: &dyn Storage,
    registry: &Registry,
    now: Timestamp,
    interval: Duration,
    year: i16,
) -> Result<AnnualReport, StorageError> {
    let range =
        super::params::year_range(year).map_err(|e| StorageError::Corrupt(e.to_string()))?;
    let silent_after = SignedDuration::try_from(interval.saturating_mul(SILENT_AFTER))
        .unwrap_or(SignedDuration::MAX);
    let mut report = Annual::new(year, range, now, silent_after);
    let mut per_isp: std::collections::BTreeMap<&str, usize> = Default::default();
    for n in registry.nodes() {
        *per_isp.entry(&n.isp_id).or_default() += 1;
    }
    for (isp, n) in per_isp {
        report.registered(isp, n);
    }
    for_each_window::<StorageError>(store, range, ANNUAL_CHUNK, Take::Starting, |w| {
        report.observe(w);
        Ok(())
    })?;
    for_each_window::<StorageError>(store, range, ANNUAL_CHUNK, Take::Starting, |w| {
        report.add(w);
        Ok(())
    })?;
    Ok(report.finish(&store.activation_lags()?))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::collector::sqlite::SqliteStore;
    use crate::collector::store::Accepted;

    /// A stored report of `node` for `[start, start + minutes)`.
    fn accepted(node: &str, start: Timestamp, minutes: i64) -> Accepted {
        let w = crate::report::body::Window {
            isp_id: "isp",
            node_id: node,
            start,
            end: start + SignedDuration::from_mins(minutes),
            node_started_at: start,
            config_digest: "00",
            min_count: 5,
            list: None,
            categories: ["adult".to_owned()].into(),
            activations: &[],
        };
        let report = crate::report::body::build(&w, &crate::metrics::CounterSnapshot::default());
        Accepted {
            body: report.to_bytes(),
            report,
            signature: "sig".into(),
            key_id: crate::keys::KeyId::of(
                &ed25519_dalek::SigningKey::from_bytes(&[1; 32]).verifying_key(),
            ),
            received_at: start,
        }
    }

    #[test]
    fn chunked_walks_visit_each_window_once_in_order() {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::open(&dir.path().join("c.db")).unwrap();
        let t0: Timestamp = "2026-11-28T23:00:00Z".parse().unwrap();
        // Two-hour windows across two day boundaries, two nodes.
        for node in ["a", "b"] {
            for i in 0..30 {
                store
                    .insert_report(&accepted(node, t0 + SignedDuration::from_hours(2 * i), 120))
                    .unwrap();
            }
        }
        let range = Range {
            from: t0 + SignedDuration::from_hours(1),
            to: t0 + SignedDuration::from_hours(49),
        };
        let mut seen = Vec::new();
        for_each_window::<StorageError>(&store, range, EXPORT_CHUNK, Take::Overlapping, |w| {
            seen.push((w.node_id.clone(), w.window_start));
            Ok(())
        })
        .unwrap();
        // Overlapping [t0+1h, t0+49h): windows starting at t0 .. t0+48h.
        assert_eq!(seen.len(), 2 * 25, "{seen:?}");
        assert_eq!(seen[0], ("a".to_owned(), t0));
        assert!(seen[..25].windows(2).all(|p| p[0].1 < p[1].1));
        let mut starting = 0;
        for_each_window::<StorageError>(&store, range, EXPORT_CHUNK, Take::Starting, |_| {
            starting += 1;
            Ok(())
        })
        .unwrap();
        assert_eq!(starting, 2 * 24);
    }
}
