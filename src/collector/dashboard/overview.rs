//! The overview page (`GET /`): the latest serial per list, per ISP the
//! nodes in each state and the share that is current, then every node
//! (each linked to its page).

use jiff::Timestamp;
use maud::{Markup, html};
use std::collections::BTreeMap;

use super::{Nav, node_href, page, second, state_label};
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
    let mut latest = latest_serials(views);
    if let Some(p) = published {
        let e = latest.entry(p.list_id.as_str()).or_insert(p.serial);
        *e = (*e).max(p.serial);
    }
    let body = html! {
        h1 { "Tổng quan tuân thủ " small { "/ Compliance overview" } }
        p { "Thời điểm / As of: " time { (second(now)) } }
        (latest_section(&latest))
        (isp_table(views))
        (node_table(views))
        (probe_section(probes))
    };
    page(
        "Tổng quan tuân thủ / Compliance overview",
        Nav::Overview,
        body,
    )
}

/// The latest serial of each list.
fn latest_section(latest: &BTreeMap<&str, u64>) -> Markup {
    html! {
        section.latest aria-labelledby="latest" {
            h2 #latest { "Số hiệu danh sách mới nhất " small { "/ Latest published serial" } }
            ul {
                @if latest.is_empty() {
                    li { "Chưa có báo cáo / No report yet" }
                }
                @for (id, serial) in latest {
                    li { code { (id) } ": số hiệu / serial " strong.serial { (serial) } }
                }
            }
            p.note {
                "Số hiệu của danh sách được công bố (" code { "[published]" }
                "), hoặc cao nhất mà một nút báo cáo nếu cao hơn / The serial of the published list ("
                code { "[published]" } "), or the highest any node reports if higher."
            }
        }
    }
}

/// Per ISP: nodes in each state and the share current.
fn isp_table(views: &[NodeView]) -> Markup {
    html! {
        h2 { "Theo nhà mạng " small { "/ By ISP" } }
        div.scroll {
            table {
                tr {
                    th { "Nhà mạng / ISP" } th { "Số nút / Nodes" }
                    @for state in NodeState::ALL { th { (state_label(state)) } }
                    th { "Tuân thủ / Compliance" }
                }
                @for (isp, s) in summarise(views) {
                    tr {
                        td { a href={ "#" (isp_anchor(&isp)) } { (isp) } }
                        td.n { (s.total) }
                        @for state in NodeState::ALL {
                            td class={ "n " (state.as_str()) } {
                                (s.counts.get(&state).copied().unwrap_or(0))
                            }
                        }
                        td.n { (format!("{:.0}", s.compliance_percent())) " %" }
                    }
                }
            }
        }
    }
}

/// Every node, linked to its page; the first row of each ISP carries the
/// ISP's anchor.
fn node_table(views: &[NodeView]) -> Markup {
    let anchors = views.iter().enumerate().map(|(i, v)| {
        let first = i == 0 || views[i - 1].isp_id != v.isp_id;
        (first.then(|| isp_anchor(&v.isp_id)), v)
    });
    html! {
        h2 { "Các nút " small { "/ Nodes" } }
        div.scroll {
            table {
                tr {
                    th { "Nhà mạng / ISP" } th { "Nút / Node" } th { "Trạng thái / State" }
                    th { "Số hiệu / Serial" } th { "Báo cáo cuối / Last report" }
                }
                @for (anchor, v) in anchors {
                    tr id=[anchor] {
                        td { (v.isp_id) }
                        td { a href=(node_href(&v.isp_id, &v.node_id)) { (v.node_id) } }
                        td class=(v.state.as_str()) { (state_label(v.state)) }
                        td.n {
                            @match v.list_serial {
                                Some(s) => { (s) }
                                None => { "—" }
                            }
                        }
                        td {
                            @match v.last_report_at {
                                Some(t) => { (second(t)) }
                                None => { "chưa bao giờ / never" }
                            }
                        }
                    }
                }
            }
        }
    }
}

/// Probes beside the self-reports: each ISP's latest probe result.
fn probe_section(probes: &[crate::collector::store::ProbeRow]) -> Markup {
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
    html! {
        h2 #probes { "Thăm dò gần nhất theo nhà mạng " small { "/ Latest probe per ISP" } }
        @if latest_per_isp.is_empty() {
            p { "Chưa có kết quả thăm dò / No probe results yet (" code { "ward probe --report-to" } ")." }
        } @else {
            (super::probes::table(&latest_per_isp))
        }
    }
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

    #[test]
    fn hostile_ids_come_out_escaped() {
        use crate::collector::dashboard::tests::{HOSTILE, assert_hostile_escaped};
        let mut v = view(HOSTILE, HOSTILE, NodeState::Current, Some(7));
        v.list_id = Some(HOSTILE.into());
        let html = overview(&[v], &[], None, "2026-11-29T18:00:01Z".parse().unwrap());
        assert_hostile_escaped(&html);
        assert!(
            html.contains("<li><code>&lt;script&gt;alert(1)&lt;/script&gt;&quot;x</code>"),
            "list id: {html}"
        );
        assert!(
            html.contains("<a href=\"/nodes/%3Cscript%3Ealert%281%29%3C%2Fscript%3E%22x/"),
            "node link: {html}"
        );
    }
}
