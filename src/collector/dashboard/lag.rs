//! The lag page (`GET /lag`): per list and serial, newest first, how long
//! the serial took to go live across the nodes (`/api/lag`'s numbers):
//! a bar chart and the table.

use maud::{Markup, html};

use super::{Nav, page, svg};
use crate::collector::lag::LagSummary;

/// The lag page, from [`crate::collector::lag::distribution`].
pub fn lag_page(summaries: &[LagSummary], now: jiff::Timestamp) -> String {
    let body = html! {
        h1 { "Độ trễ kích hoạt " small { "/ Activation lag" } }
        p { "Thời điểm / As of: " time { (super::second(now)) } }
        p.note {
            "Với mỗi số hiệu: thời gian từ khi danh sách được phát hành (" code { "issued_at" }
            ") đến khi từng nút bắt đầu áp dụng nó (lần kích hoạt đầu tiên); p50, p95 theo hạng gần nhất. / For each serial: the time from the list's "
            code { "issued_at" } " to each node's first activation of it; p50 and p95 by nearest rank."
        }
        @if summaries.is_empty() {
            p { "Chưa có lần kích hoạt nào / No activation reported yet." }
        } @else {
            (chart(summaries))
            (table(summaries))
        }
    };
    page("Độ trễ kích hoạt / Activation lag", Nav::Lag, body)
}

/// p50, p95 and max of each serial as bars.
fn chart(summaries: &[LagSummary]) -> Markup {
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
    html! {
        div.scroll {
            (svg::hbars("Độ trễ kích hoạt theo số hiệu / Activation lag per serial", "s", &rows))
        }
    }
}

/// The same numbers as a table.
fn table(summaries: &[LagSummary]) -> Markup {
    html! {
        div.scroll {
            table {
                tr {
                    th { "Danh sách / List" } th.n { "Số hiệu / Serial" } th.n { "Số nút / Nodes" }
                    th.n { "p50 (s)" } th.n { "p95 (s)" } th.n { "max (s)" }
                }
                @for s in summaries {
                    tr {
                        td { code { (s.list_id) } }
                        td.n { (s.serial) }
                        td.n { (s.nodes) }
                        td.n { (format!("{:.3}", s.p50_seconds)) }
                        td.n { (format!("{:.3}", s.p95_seconds)) }
                        td.n { (format!("{:.3}", s.max_seconds)) }
                    }
                }
            }
        }
    }
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

    #[test]
    fn a_hostile_list_id_comes_out_escaped() {
        use crate::collector::dashboard::tests::{HOSTILE, assert_hostile_escaped};
        let s = LagSummary {
            list_id: HOSTILE.into(),
            serial: 1,
            nodes: 1,
            p50_seconds: 1.0,
            p95_seconds: 1.0,
            max_seconds: 1.0,
        };
        let html = lag_page(&[s], "2026-11-29T18:00:00Z".parse().unwrap());
        assert_hostile_escaped(&html);
        // In the chart's labels too.
        assert!(
            html.contains(">&lt;script&gt;alert(1)&lt;/script&gt;&quot;x #1</text>"),
            "{html}"
        );
    }
}
