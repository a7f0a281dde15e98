//! The lag page (`GET /lag`): per list and serial, newest first, how long
//! the serial took to go live across the nodes (`/api/lag`'s numbers):
//! a bar chart and the table.

use std::fmt::Write as _;

use super::{Nav, escape, page, svg};
use crate::collector::lag::LagSummary;

/// The lag page, from [`crate::collector::lag::distribution`].
pub fn lag_page(summaries: &[LagSummary], now: jiff::Timestamp) -> String {
    let mut h = String::with_capacity(4096);
    h.push_str("<h1>Độ trễ kích hoạt <small>/ Activation lag</small></h1>\n");
    let _ = writeln!(
        h,
        "<p>Thời điểm / As of: <time>{}</time></p>\n\
<p class=\"note\">Với mỗi số hiệu: thời gian từ khi danh sách được phát hành (<code>issued_at</code>) đến khi từng nút bắt đầu áp dụng nó (lần kích hoạt đầu tiên); p50, p95 theo hạng gần nhất. \
/ For each serial: the time from the list's <code>issued_at</code> to each node's first activation of it; p50 and p95 by nearest rank.</p>",
        escape(&super::second(now))
    );
    if summaries.is_empty() {
        h.push_str("<p>Chưa có lần kích hoạt nào / No activation reported yet.</p>\n");
        return page("Độ trễ kích hoạt / Activation lag", Nav::Lag, &h);
    }
    let rows: Vec<(String, Vec<svg::HBar<'_>>)> = summaries
        .iter()
        .map(|s| {
            (
                format!("{} #{}", s.list_id, s.serial),
                vec![
                    ("p50", s.p50_seconds, "#0072B2"),
                    ("p95", s.p95_seconds, "#E69F00"),
                    ("max", s.max_seconds, "#D55E00"),
                ],
            )
        })
        .collect();
    h.push_str("<div class=\"scroll\">");
    h.push_str(&svg::hbars(
        "Độ trễ kích hoạt theo số hiệu / Activation lag per serial",
        "s",
        &rows,
    ));
    h.push_str("</div>\n<div class=\"scroll\"><table>\n<tr><th>Danh sách / List</th><th class=\"n\">Số hiệu / Serial</th><th class=\"n\">Số nút / Nodes</th><th class=\"n\">p50 (s)</th><th class=\"n\">p95 (s)</th><th class=\"n\">max (s)</th></tr>\n");
    for s in summaries {
        let _ = writeln!(
            h,
            "<tr><td><code>{}</code></td><td class=\"n\">{}</td><td class=\"n\">{}</td><td class=\"n\">{:.3}</td><td class=\"n\">{:.3}</td><td class=\"n\">{:.3}</td></tr>",
            escape(&s.list_id),
            s.serial,
            s.nodes,
            s.p50_seconds,
            s.p95_seconds,
            s.max_seconds
        );
    }
    h.push_str("</table></div>\n");
    page("Độ trễ kích hoạt / Activation lag", Nav::Lag, &h)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_group_of_bars_and_one_row_per_serial_newest_first() {
        let s = |serial, p50, max| LagSummary {
            list_id: "nat<x>".into(),
            serial,
            nodes: 3,
            p50_seconds: p50,
            p95_seconds: max,
            max_seconds: max,
        };
        let html = lag_page(
            &[s(2, 1.5, 4.0), s(1, 0.5, 2.0)],
            "2026-11-29T18:00:00Z".parse().unwrap(),
        );
        assert_eq!(html.matches("class=\"hbar\"").count(), 6);
        assert!(html.contains("<tr><td><code>nat&lt;x&gt;</code></td><td class=\"n\">2</td><td class=\"n\">3</td><td class=\"n\">1.500</td><td class=\"n\">4.000</td><td class=\"n\">4.000</td></tr>"), "{html}");
        assert!(html.find("<td class=\"n\">2</td>") < html.find("<td class=\"n\">1</td>"));
        assert!(html.contains("aria-current=\"page\">Độ trễ"));
        assert!(!html.contains("<script") && !html.contains("http") && !html.contains("<x>"));
        let empty = lag_page(&[], "2026-11-29T18:00:00Z".parse().unwrap());
        assert!(empty.contains("No activation reported yet") && empty.contains("hotline 111"));
    }
}
