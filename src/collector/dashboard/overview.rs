//! The dashboard's HTML (pure): server-rendered, no external assets, no
//! JavaScript, Vietnamese with English. So far only the overview (`GET /`):
//! the latest serial per list, per ISP the nodes in each state and the
//! share that is current, then every node.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use jiff::Timestamp;

use super::state::{NodeState, NodeView};
use crate::blockpage::page::DEFAULT_HOTLINE;
use crate::blockpage::template::escape;

/// Vietnamese / English label of a state.
fn state_label(state: NodeState) -> &'static str {
    match state {
        NodeState::Current => "Mới nhất / Current",
        NodeState::Behind => "Phiên bản cũ / Behind",
        NodeState::Stale => "Hết hạn / Stale",
        NodeState::Silent => "Mất liên lạc / Silent",
    }
}

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

const STYLE: &str = "body{font-family:system-ui,sans-serif;margin:2rem;color:#1a1a1a}\
table{border-collapse:collapse;margin:1rem 0}th,td{border:1px solid #bbb;padding:.3rem .6rem;text-align:left}\
th{background:#eee}td.n{text-align:right}.current{color:#05690b}.behind{color:#8a5a00}\
.stale{color:#9a3412}.silent{color:#b00020;font-weight:bold}footer{margin-top:2rem;color:#444}";

/// The overview page.
pub fn overview(views: &[NodeView], now: Timestamp) -> String {
    let mut h = String::with_capacity(4096 + views.len() * 256);
    h.push_str("<!DOCTYPE html>\n<html lang=\"vi\">\n<head>\n<meta charset=\"utf-8\">\n");
    h.push_str("<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n");
    h.push_str("<title>ward — Tổng quan tuân thủ / Compliance overview</title>\n");
    let _ = writeln!(h, "<style>{STYLE}</style>\n</head>\n<body>");
    h.push_str("<h1>Tổng quan tuân thủ <small>/ Compliance overview</small></h1>\n");
    let _ = writeln!(
        h,
        "<p>Thời điểm / As of: <time>{}</time></p>",
        escape(&now.round(jiff::Unit::Second).unwrap_or(now).to_string())
    );

    // The latest serial per list (the highest any node reports).
    let mut latest: BTreeMap<&str, u64> = BTreeMap::new();
    for v in views {
        if let (Some(id), Some(serial)) = (&v.list_id, v.latest_serial) {
            latest.insert(id, serial);
        }
    }
    h.push_str("<h2>Danh sách mới nhất <small>/ Latest list</small></h2>\n<ul>\n");
    if latest.is_empty() {
        h.push_str("<li>Chưa có báo cáo / No report yet</li>\n");
    }
    for (id, serial) in &latest {
        let _ = writeln!(
            h,
            "<li><code>{}</code>: số hiệu / serial <strong>{serial}</strong></li>",
            escape(id)
        );
    }
    h.push_str("</ul>\n");

    h.push_str("<h2>Theo nhà mạng <small>/ By ISP</small></h2>\n<table>\n<tr><th>Nhà mạng / ISP</th><th>Số nút / Nodes</th>");
    for state in NodeState::ALL {
        let _ = write!(h, "<th>{}</th>", state_label(state));
    }
    h.push_str("<th>Tuân thủ / Compliance</th></tr>\n");
    for (isp, s) in summarise(views) {
        let _ = write!(
            h,
            "<tr><td>{}</td><td class=\"n\">{}</td>",
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
    h.push_str("</table>\n");

    h.push_str("<h2>Các nút <small>/ Nodes</small></h2>\n<table>\n<tr><th>Nhà mạng / ISP</th><th>Nút / Node</th><th>Trạng thái / State</th><th>Số hiệu / Serial</th><th>Báo cáo cuối / Last report</th></tr>\n");
    for v in views {
        let serial = v
            .list_serial
            .map_or_else(|| "—".to_owned(), |s| s.to_string());
        let last = v.last_report_at.map_or_else(
            || "chưa bao giờ / never".to_owned(),
            |t| t.round(jiff::Unit::Second).unwrap_or(t).to_string(),
        );
        let _ = writeln!(
            h,
            "<tr><td>{}</td><td>{}</td><td class=\"{}\">{}</td><td class=\"n\">{}</td><td>{}</td></tr>",
            escape(&v.isp_id),
            escape(&v.node_id),
            v.state.as_str(),
            state_label(v.state),
            escape(&serial),
            escape(&last),
        );
    }
    h.push_str("</table>\n");
    let _ = writeln!(
        h,
        "<footer>Tổng đài quốc gia bảo vệ trẻ em {DEFAULT_HOTLINE} / National child protection hotline {DEFAULT_HOTLINE}</footer>\n</body>\n</html>"
    );
    h
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
        let html = overview(&views, "2026-11-29T18:00:01Z".parse().unwrap());
        assert!(
            html.contains("<code>national</code>: số hiệu / serial <strong>7</strong>"),
            "{html}"
        );
        assert!(html.contains("<td>isp-a</td><td class=\"n\">2</td><td class=\"n current\">1</td><td class=\"n behind\">1</td><td class=\"n stale\">0</td><td class=\"n silent\">0</td><td class=\"n\">50 %</td>"), "{html}");
        assert!(html.contains("&lt;n2&gt;"), "escaped: {html}");
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
        let html = overview(&[], "2026-11-29T18:00:00Z".parse().unwrap());
        assert!(html.contains("No report yet"));
    }
}
