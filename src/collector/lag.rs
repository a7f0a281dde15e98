//! Activation lag per list serial (pure): how long each new list took to
//! go live across the nodes, as p50, p95 and max (nearest rank).

use serde::Serialize;

/// One node's first activation of one serial.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LagRow {
    pub isp_id: String,
    pub node_id: String,
    pub list_id: String,
    pub serial: u64,
    /// `activated_at − issued_at`, seconds.
    pub lag_seconds: f64,
}

/// The distribution for one serial.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LagSummary {
    pub list_id: String,
    pub serial: u64,
    /// Nodes that activated it.
    pub nodes: usize,
    pub p50_seconds: f64,
    pub p95_seconds: f64,
    pub max_seconds: f64,
}

/// The nearest-rank `p`-th percentile of sorted, non-empty `values`.
pub(crate) fn percentile(sorted: &[f64], p: usize) -> f64 {
    // rank = ceil(p/100 × n), 1-based, at least 1.
    let rank = (p * sorted.len()).div_ceil(100).max(1);
    sorted[rank.min(sorted.len()) - 1]
}

/// Per (list, serial), newest serial first.
pub fn distribution(rows: &[LagRow]) -> Vec<LagSummary> {
    let mut groups: std::collections::BTreeMap<(String, u64), Vec<f64>> = Default::default();
    for r in rows {
        groups
            .entry((r.list_id.clone(), r.serial))
            .or_default()
            .push(r.lag_seconds);
    }
    let mut out: Vec<LagSummary> = groups
        .into_iter()
        .filter(|(_, lags)| !lags.is_empty())
        .map(|((list_id, serial), mut lags)| {
            lags.sort_by(f64::total_cmp);
            LagSummary {
                list_id,
                serial,
                nodes: lags.len(),
                p50_seconds: percentile(&lags, 50),
                p95_seconds: percentile(&lags, 95),
                max_seconds: lags[lags.len() - 1],
            }
        })
        .collect();
    out.sort_by(|a, b| a.list_id.cmp(&b.list_id).then(b.serial.cmp(&a.serial)));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(node: &str, serial: u64, lag: f64) -> LagRow {
        LagRow {
            isp_id: "isp".into(),
            node_id: node.into(),
            list_id: "national".into(),
            serial,
            lag_seconds: lag,
        }
    }

    #[test]
    fn nearest_rank_percentiles_per_serial() {
        let mut rows: Vec<LagRow> = (1..=20)
            .map(|i| row(&format!("n{i}"), 7, f64::from(i)))
            .collect();
        rows.push(row("n1", 6, 3.5));
        let d = distribution(&rows);
        assert_eq!(d.len(), 2);
        assert_eq!((d[0].serial, d[0].nodes), (7, 20));
        assert_eq!(d[0].p50_seconds, 10.0);
        assert_eq!(d[0].p95_seconds, 19.0);
        assert_eq!(d[0].max_seconds, 20.0);
        assert_eq!((d[1].serial, d[1].nodes), (6, 1));
        assert_eq!(
            (d[1].p50_seconds, d[1].p95_seconds, d[1].max_seconds),
            (3.5, 3.5, 3.5)
        );
        assert!(distribution(&[]).is_empty());
    }
}
