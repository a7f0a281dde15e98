//! The overview page (`GET /`): the latest serial per list, per ISP the
//! nodes in each state and the share that is current, then every node
//! (each linked to its page).

use std::collections::BTreeMap;
use std::fmt::Write as _;

use jiff::Timestamp;

use super::{Nav, escape, node_href, page, second, state_label};
use crate::collector::state::{NodeState, NodeView};

/// Per ISP: nodes in each state.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct IspSummary {
    pub counts: BTreeMap<NodeState, usize>,
    pub total: usize,
}

impl IspSummary {
    /// The share of nodes that are current, in percent (0 with no nodes).
    pub fn compliance_percent(&self) -> f64 {
        if self.total == 0 {
            return 0.0;
        }
        let current = self.counts.get(&NodeState::Current).copied().unwrap_or(0);
        // Node counts are far below 2^52: exact in f64.
        current as f64 * 100.0 / self.total as f64
    }
}

/// Nodes per ISP and state.
pub fn summarise(views: &[NodeView]) -> BTreeMap<String, IspSummary> {
    let mut out: BTreeMap<String, IspSummary> = BTreeMap::new();
    for v in views {
        let s = out.entry(v.isp_id.clone()).or_default();
        *s.counts.entry(v.state).or_default() += 1;
        s.total += 1;
    }
    out
}

/// The latest serial per list: the highest any node reports.
pub fn latest_serials(views: &[NodeView]) -> BTreeMap<&str, u64> {
    let mut latest: BTreeMap<&str, u64> = BTreeMap::new();
    for v in views {
        if let (Some(id), Some(serial)) = (&v.list_id, v.latest_serial) {
            let e = latest.entry(id).or_insert(serial);
            *e = (*e).max(serial);
        }
    }
    latest
}

/// The anchor of an ISP's first row in the node table.
fn isp_anchor(isp: &str) -> String {
    format!("isp-{}", super::path_segment(isp))
}

/// The overview page. `probes`: the newest probe results (newest first);
/// the latest of each ISP is shown beside the self-reports.
/// `published`: the published list, shown even before any node runs it.
pub fn overview(
    views: &[NodeView],
    probes: &[crate::collector::store::ProbeRow],
    published: Option<&crate::collector::published::Published>,
    now: Timestamp,
) -> String {
    let mut h = String::with_capacity(4096 + views.len() * 256);
    h.push_str("<h1>Tổng quan tuân thủ <small>/ Compliance overview</small></h1>\n");
    let _ = writeln!(
        h,
        "<p>Thời điểm / As of: <time>{}</time></p>",
        escape(&second(now))
    );

    let mut latest = latest_serials(views);
    if let Some(p) = published {
        let e = latest.entry(p.list_id.as_str()).or_insert(p.serial);
        *e = (*e).max(p.serial);
    }
    h.push_str("<section class=\"latest\" aria-labelledby=\"latest\">\n<h2 id=\"latest\">Số hiệu danh sách mới nhất <small>/ Latest published serial</small></h2>\n<ul>\n");
    if latest.is_empty() {
        h.push_str("<li>Chưa có báo cáo / No report yet</li>\n");
    }
    for (id, serial) in &latest {
        let _ = writeln!(
            h,
            "<li><code>{}</code>: số hiệu / serial <strong class=\"serial\">{serial}</strong></li>",
            escape(id)
        );
    }
    h.push_str("</ul>\n<p class=\"note\">Số hiệu của danh sách được công bố (<code>[published]</code>), hoặc cao nhất mà một nút báo cáo nếu cao hơn / The serial of the published list (<code>[published]</code>), or the highest any node reports if higher.</p>\n</section>\n");

    h.push_str("<h2>Theo nhà mạng <small>/ By ISP</small></h2>\n<div class=\"scroll\"><table>\n<tr><th>Nhà mạng / ISP</th><th>Số nút / Nodes</th>");
    for state in NodeState::ALL {
        let _ = write!(h, "<th>{}</th>", state_label(state));
    }
    h.push_str("<th>Tuân thủ / Compliance</th></tr>\n");
    for (isp, s) in summarise(views) {
        let _ = write!(
            h,
            "<tr><td><a href=\"#{}\">{}</a></td><td class=\"n\">{}</td>",
            escape(&isp_anchor(&isp)),
            escape(&isp),
            s.total
        );
        for state in NodeState::ALL {
            let n = s.counts.get(&state).copied().unwrap_or(0);
            let _ = write!(h, "<td class=\"n {}\">{n}</td>", state.as_str());
        }
        let _ = writeln!(
            h,
            "<td class=\"n\">{:.0} %</td></tr>",
            s.compliance_percent()
        );
    }
    h.push_str("</table></div>\n");

    h.push_str("<h2>Các nút <small>/ Nodes</small></h2>\n<div class=\"scroll\"><table>\n<tr><th>Nhà mạng / ISP</th><th>Nút / Node</th><th>Trạng thái / State</th><th>Số hiệu / Serial</th><th>Báo cáo cuối / Last report</th></tr>\n");
    let mut previous_isp: Option<&str> = None;
    for v in views {
        let serial = v
            .list_serial
            .map_or_else(|| "—".to_owned(), |s| s.to_string());
        let last = v
            .last_report_at
            .map_or_else(|| "chưa bao giờ / never".to_owned(), second);
        let id = if previous_isp == Some(v.isp_id.as_str()) {
            String::new()
        } else {
            format!(" id=\"{}\"", escape(&isp_anchor(&v.isp_id)))
        };
        previous_isp = Some(&v.isp_id);
        let _ = writeln!(
            h,
            "<tr{id}><td>{}</td><td><a href=\"{}\">{}</a></td><td class=\"{}\">{}</td><td class=\"n\">{}</td><td>{}</td></tr>",
            escape(&v.isp_id),
            node_href(&v.isp_id, &v.node_id),
            escape(&v.node_id),
            v.state.as_str(),
            state_label(v.state),
            escape(&serial),
            escape(&last),
        );
    }
    h.push_str("</table></div>\n");

    // Probes beside the self-reports: each ISP's latest probe result.
    h.push_str("<h2 id=\"probes\">Thăm dò gần nhất theo nhà mạng <small>/ Latest probe per ISP</small></h2>\n");
    let mut seen: Vec<&str> = Vec::new();
    let latest_per_isp: Vec<crate::collector::store::ProbeRow> = probes
        .iter()
        .filter(|p| {
            let first = !seen.contains(&p.isp_id.as_str());
            seen.push(&p.isp_id);
            first
        })
        .cloned()
        .collect();
    if latest_per_isp.is_empty() {
        h.push_str("<p>Chưa có kết quả thăm dò / No probe results yet (<code>ward probe --report-to</code>).</p>\n");
    } else {
        h.push_str(&super::probes::table(&latest_per_isp));
    }
    page(
        "Tổng quan tuân thủ / Compliance overview",
        Nav::Overview,
        &h,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn view(isp: &str, node: &str, state: NodeState, serial: Option<u64>) -> NodeView {
        NodeView {
            isp_id: isp.into(),
            node_id: node.into(),
            state,
            list_id: serial.map(|_| "national".into()),
            list_serial: serial,
            latest_serial: serial.map(|_| 7),
            last_report_at: serial.map(|_| "2026-11-29T18:00:00.5Z".parse().unwrap()),
            last_window_end: None,
            activated_at: None,
            reports: 1,
            flagged: 0,
            registered: true,
        }
    }

    #[test]
    fn the_overview_counts_states_per_isp_and_escapes() {
        let views = [
            view("isp-a", "n1", NodeState::Current, Some(7)),
            view("isp-a", "n2", NodeState::Behind, Some(6)),
            view("isp-b", "n1", NodeState::Current, Some(7)),
            view("isp-b", "<n2>", NodeState::Silent, None),
        ];
        let s = summarise(&views);
        assert_eq!(s["isp-a"].total, 2);
        assert_eq!(s["isp-a"].compliance_percent(), 50.0);
        assert_eq!(s["isp-b"].counts[&NodeState::Silent], 1);
        let html = overview(&views, &[], None, "2026-11-29T18:00:01Z".parse().unwrap());
        assert!(
            html.contains(
                "<code>national</code>: số hiệu / serial <strong class=\"serial\">7</strong>"
            ),
            "{html}"
        );
        assert!(html.contains("<td><a href=\"#isp-isp-a\">isp-a</a></td><td class=\"n\">2</td><td class=\"n current\">1</td><td class=\"n behind\">1</td><td class=\"n stale\">0</td><td class=\"n silent\">0</td><td class=\"n\">50 %</td>"), "{html}");
        assert!(html.contains("&lt;n2&gt;"), "escaped: {html}");
        assert!(
            html.contains("<a href=\"/nodes/isp-b/%3Cn2%3E\">&lt;n2&gt;</a>"),
            "{html}"
        );
        assert!(html.contains("<tr id=\"isp-isp-b\"><td>isp-b</td><td><a href=\"/nodes/isp-b/n1\">n1</a></td><td class=\"current\">"), "{html}");
        assert!(!html.contains("<n2>"));
        assert!(html.contains("chưa bao giờ / never"));
        assert!(html.contains("2026-11-29T18:00:01Z"));
        assert!(html.contains("hotline 111"));
        assert!(!html.contains("<script"), "no JavaScript");
        assert!(
            !html.contains("http://") && !html.contains("https://"),
            "no external assets"
        );
    }

    #[test]
    fn no_nodes_no_division_by_zero() {
        assert_eq!(IspSummary::default().compliance_percent(), 0.0);
        let html = overview(&[], &[], None, "2026-11-29T18:00:00Z".parse().unwrap());
        assert!(html.contains("No report yet"));
    }
}
