//! The node page (`GET /nodes/{isp}/{node}`) and its JSON
//! (`GET /api/nodes/{isp}/{node}`): the node's state, list and serial in
//! force, activation and its lag, last report, and blocked counts by
//! category over time: windows bucketed so the chart stays readable
//! whatever their number, drawn as [`super::svg::small_multiples`] with a
//! table of the same numbers below.

use std::collections::{BTreeMap, BTreeSet};

use jiff::{SignedDuration, Timestamp};
use maud::{Markup, html};
use serde::Serialize;

use super::svg::{self, Series};
use super::{CountSum, Nav, duration_text, is_confidential, page, second, state_label};
use crate::collector::lag::LagRow;
use crate::collector::params::Range;
use crate::collector::state::NodeView;
use crate::collector::store::{BlockedCount, WindowRow};

/// At most this many bars per category.
pub const MAX_BUCKETS: usize = 48;

/// Everything the node page shows.
#[derive(Debug, Clone, Serialize)]
pub struct NodeDetail {
    #[serde(flatten)]
    pub view: NodeView,
    /// This node's first activation of its current serial: `activated_at
    /// − issued_at`, seconds.
    pub activation_lag_seconds: Option<f64>,
    pub from: Timestamp,
    pub to: Timestamp,
}

impl NodeDetail {
    /// The view, and the lag of its current serial from `lags` (the
    /// storage's `activation_lags`).
    pub fn new(view: NodeView, lags: &[LagRow], range: Range) -> Self {
        let lag = lags
            .iter()
            .find(|l| {
                l.isp_id == view.isp_id
                    && l.node_id == view.node_id
                    && Some(&l.list_id) == view.list_id.as_ref()
                    && Some(l.serial) == view.list_serial
            })
            .map(|l| l.lag_seconds);
        Self {
            view,
            activation_lag_seconds: lag,
            from: range.from,
            to: range.to,
        }
    }
}

/// A window as `GET /api/nodes/{isp}/{node}` shows it.
#[derive(Debug, Clone, Serialize)]
pub struct WindowJson<'a> {
    pub report_id: &'a str,
    pub window_start: Timestamp,
    pub window_end: Timestamp,
    pub received_at: Timestamp,
    pub list_id: Option<&'a str>,
    pub list_serial: Option<u64>,
    pub list_stale: bool,
    pub queries_total: u64,
    pub flags: Vec<&'static str>,
    pub blocked: Vec<CellJson<'a>>,
}

/// One count: `count` exact, or `null` with `below_min_count` = n for `"<n"`.
#[derive(Debug, Clone, Serialize)]
pub struct CellJson<'a> {
    pub category: &'a str,
    pub channel: &'a str,
    pub count: Option<u64>,
    pub below_min_count: Option<u64>,
}

/// The JSON of the node API: the detail and its windows.
pub fn json(detail: &NodeDetail, windows: &[WindowRow]) -> serde_json::Value {
    let windows: Vec<WindowJson<'_>> = windows
        .iter()
        .map(|w| WindowJson {
            report_id: &w.report_id,
            window_start: w.window_start,
            window_end: w.window_end,
            received_at: w.received_at,
            list_id: w.list_id.as_deref(),
            list_serial: w.list_serial,
            list_stale: w.list_stale,
            queries_total: w.queries_total,
            flags: w.flags.iter().map(|f| f.as_str()).collect(),
            blocked: w
                .blocked
                .iter()
                .map(|c| CellJson {
                    category: &c.category,
                    channel: &c.channel,
                    count: match c.count {
                        BlockedCount::Exact(n) => Some(n),
                        BlockedCount::Below(_) => None,
                    },
                    below_min_count: match c.count {
                        BlockedCount::Exact(_) => None,
                        BlockedCount::Below(n) => Some(n),
                    },
                })
                .collect(),
        })
        .collect();
    let mut value = serde_json::to_value(detail).unwrap_or_default();
    if let Some(map) = value.as_object_mut() {
        map.insert(
            "windows".into(),
            serde_json::to_value(windows).unwrap_or_default(),
        );
    }
    value
}

/// Windows gathered by the bucket their start falls in.
#[derive(Debug, Clone, PartialEq)]
pub struct Bucket {
    pub start: Timestamp,
    pub end: Timestamp,
    pub windows: usize,
    pub queries: u64,
    /// Per category, summed over channels.
    pub blocked: BTreeMap<String, CountSum>,
}

/// Splits `range` into at most `max` equal buckets (whole seconds, at
/// least one) and sums each window into the one its start falls in
/// (clamped to the range: a window straddling `from` counts in the
/// first).
pub fn buckets(windows: &[WindowRow], range: Range, max: usize) -> Vec<Bucket> {
    let span = range.to.duration_since(range.from).as_secs().max(1);
    let max = i64::try_from(max.max(1)).unwrap_or(1);
    let width = (span + max - 1) / max;
    let width = width.max(1);
    let n = (span + width - 1) / width;
    let mut out: Vec<Bucket> = (0..n)
        .map(|i| {
            let start = range.from + SignedDuration::from_secs(i * width);
            Bucket {
                start,
                end: (start + SignedDuration::from_secs(width)).min(range.to),
                windows: 0,
                queries: 0,
                blocked: BTreeMap::new(),
            }
        })
        .collect();
    for w in windows {
        let offset = w.window_start.duration_since(range.from).as_secs().max(0);
        let i = usize::try_from((offset / width).min(n - 1)).unwrap_or(0);
        let Some(b) = out.get_mut(i) else { continue };
        b.windows += 1;
        b.queries = b.queries.saturating_add(w.queries_total);
        for cell in &w.blocked {
            b.blocked
                .entry(cell.category.clone())
                .or_default()
                .add(cell.count);
        }
    }
    out
}

/// The label of a category: its name, and for a confidential one a
/// neutral note (never a description).
pub fn category_label(category: &str, confidential: &[String]) -> String {
    if is_confidential(category, confidential) {
        format!("{category} (bảo mật / confidential)")
    } else {
        category.to_owned()
    }
}

/// A bucket boundary on the axis: the time of day, or the date for
/// buckets of a day or more.
fn tick(t: Timestamp, width: SignedDuration) -> String {
    let z = t.to_zoned_datetime(jiff::tz::TimeZone::UTC);
    if width >= SignedDuration::from_hours(24) {
        z.strftime("%m-%d").to_string()
    } else if width >= SignedDuration::from_hours(1) {
        z.strftime("%m-%d %H:%M").to_string()
    } else {
        z.strftime("%H:%M").to_string()
    }
}

/// The node page. `probes`: the probe results section, when there are
/// any (rendered by its own module; `None` shows that there are none yet).
pub fn node_page(
    detail: &NodeDetail,
    windows: &[WindowRow],
    confidential: &[String],
    probes: Option<Markup>,
    now: Timestamp,
) -> String {
    let v = &detail.view;
    let range = Range {
        from: detail.from,
        to: detail.to,
    };
    let body = html! {
        h1 { "Nút " code { (v.isp_id) } " / " code { (v.node_id) } " " small { "/ Node" } }
        p { "Thời điểm / As of: " time { (second(now)) } }
        (facts(detail))
        h2 { "Số lượt chặn theo loại " small { "/ Blocked by category" } }
        p {
            "Từ / From " time { (second(range.from)) } " đến / to " time { (second(range.to)) }
            " (UTC): " (windows.len()) " cửa sổ báo cáo / report windows."
        }
        form method="get" {
            label {
                "Giờ gần nhất / Last hours "
                input name="hours" size="4" inputmode="numeric" value=(range.to.duration_since(range.from).as_hours());
            }
            button type="submit" { "Xem / View" }
        }
        (blocked(windows, range, confidential))
        h2 #probes { "Kết quả thăm dò " small { "/ Probe results" } }
        @match probes {
            Some(section) => { (section) }
            None => { p { "Chưa có kết quả thăm dò / No probe results yet." } }
        }
    };
    let title = format!("Nút / Node {} / {}", v.isp_id, v.node_id);
    page(&title, Nav::None, body)
}

/// The node's state, list, activation, last report and registration.
fn facts(detail: &NodeDetail) -> Markup {
    let v = &detail.view;
    let none = "—".to_owned();
    html! {
        dl.facts {
            dt { "Trạng thái / State" } dd class=(v.state.as_str()) { (state_label(v.state)) }
            dt { "Danh sách đang áp dụng / List in force" }
            dd {
                @match (&v.list_id, v.list_serial) {
                    (Some(id), Some(serial)) => {
                        code { (id) } ", số hiệu / serial " strong { (serial) }
                        @if let Some(latest) = v.latest_serial.filter(|l| *l > serial) {
                            " (mới nhất / latest: " (latest) ")"
                        }
                    }
                    _ => { "không có danh sách / no list in force" }
                }
            }
            dt { "Kích hoạt lúc / Activated at" }
            dd { (v.activated_at.map_or_else(|| none.clone(), second)) }
            dt { "Độ trễ kích hoạt / Activation lag" }
            dd { (detail.activation_lag_seconds.map_or_else(|| none.clone(), duration_text)) }
            dt { "Báo cáo cuối / Last report" }
            dd { (v.last_report_at.map_or_else(|| "chưa bao giờ / never".to_owned(), second)) }
            dt { "Số báo cáo / Reports" } dd { (v.reports) " (bị gắn cờ / flagged: " (v.flagged) ")" }
            dt { "Đăng ký / Registered" }
            dd {
                @if v.registered { "có / yes" }
                @else { "không (đã gỡ khỏi sổ đăng ký) / no (removed from the registry)" }
            }
        }
    }
}

/// The blocked counts of the range: the chart, its notes and the table of
/// the same numbers; or a line saying there are none.
fn blocked(windows: &[WindowRow], range: Range, confidential: &[String]) -> Markup {
    let buckets = buckets(windows, range, MAX_BUCKETS);
    let categories: BTreeSet<&str> = windows
        .iter()
        .flat_map(|w| w.blocked.iter().map(|c| c.category.as_str()))
        .collect();
    if categories.is_empty() {
        return html! { p { "Không có số liệu trong khoảng này / No counts in this range." } };
    }
    let width = buckets
        .first()
        .map_or(SignedDuration::ZERO, |b| b.end.duration_since(b.start));
    let over = duration_text(width.as_secs_f64());
    html! {
        div.scroll { (chart(&buckets, &categories, width, confidential)) }
        p.note {
            "Mỗi cột: tổng các kênh (DNS, SNI, HTTP) trong " (over) "; mỗi hàng có thang riêng (max bên phải). "
            "Khung nét đứt: có số đếm dưới ngưỡng " code { "min_count" } " bị ẩn (báo cáo ghi \"<5\"), nên tổng thực tế lớn hơn một lượng không rõ; số đó không bao giờ được đoán. "
            "/ Each bar: all channels (DNS, SNI, HTTP) over " (over) "; each row has its own scale (max at the right). "
            "Dashed outline: counts below the report's " code { "min_count" } " were suppressed (reported as \"<5\"), so the true total is higher by an unknown amount; it is never guessed."
        }
        @if categories.iter().any(|c| is_confidential(c, confidential)) {
            p.note { "Loại bảo mật chỉ hiển thị số đếm / Confidential categories are shown as counts only." }
        }
        (table(windows.len(), &buckets, &categories, confidential))
    }
}

/// The chart: a row per category, a bar per bucket.
fn chart(
    buckets: &[Bucket],
    categories: &BTreeSet<&str>,
    width: SignedDuration,
    confidential: &[String],
) -> Markup {
    let series: Vec<Series> = categories
        .iter()
        .map(|c| Series {
            label: category_label(c, confidential),
            colour: svg::colour(c, is_confidential(c, confidential)),
            points: buckets
                .iter()
                .map(|b| b.blocked.get(*c).copied().unwrap_or_default())
                .collect(),
        })
        .collect();
    let step = buckets.len().div_ceil(6).max(1);
    let axis: Vec<(usize, String)> = buckets
        .iter()
        .enumerate()
        .step_by(step)
        .map(|(i, b)| (i, tick(b.start, width)))
        .collect();
    svg::small_multiples(
        "Số lượt chặn theo loại theo thời gian / Blocked by category over time",
        buckets.len(),
        &axis,
        &series,
    )
}

/// The chart's numbers as a table, newest bucket first, then the totals.
fn table(
    windows: usize,
    buckets: &[Bucket],
    categories: &BTreeSet<&str>,
    confidential: &[String],
) -> Markup {
    let mut total: BTreeMap<&str, CountSum> = BTreeMap::new();
    for b in buckets.iter().filter(|b| b.windows > 0) {
        for c in categories {
            let sum = b.blocked.get(*c).copied().unwrap_or_default();
            total.entry(c).or_default().merge(&sum);
        }
    }
    html! {
        div.scroll {
            table {
                caption { "Số liệu của biểu đồ / The chart's numbers" }
                tr {
                    th { "Từ / From (UTC)" } th.n { "Cửa sổ / Windows" }
                    @for c in categories { th.n { (category_label(c, confidential)) } }
                }
                @for b in buckets.iter().rev().filter(|b| b.windows > 0) {
                    tr {
                        td { (second(b.start)) } td.n { (b.windows) }
                        @for c in categories { (cell(&b.blocked.get(*c).copied().unwrap_or_default())) }
                    }
                }
                tr {
                    th { "Tổng / Total" } th.n { (windows) }
                    @for c in categories { (cell(&total.get(c).copied().unwrap_or_default())) }
                }
            }
        }
    }
}

/// A count cell: class `below` when the sum is only a lower bound.
fn cell(sum: &CountSum) -> Markup {
    html! {
        @if sum.is_lower_bound() {
            td.n.below { (sum) }
        } @else {
            td.n { (sum) }
        }
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::collector::state::NodeState;
    use crate::collector::store::{BlockedCell, WindowFlag};

    fn ts(s: &str) -> Timestamp {
        s.parse().unwrap()
    }

    pub(crate) fn window(
        node: &str,
        start: Timestamp,
        minutes: i64,
        cells: &[(&str, &str, BlockedCount)],
    ) -> WindowRow {
        WindowRow {
            report_id: format!("r-{node}-{start}"),
            isp_id: "isp<a>".into(),
            node_id: node.into(),
            window_start: start,
            window_end: start + SignedDuration::from_mins(minutes),
            received_at: start + SignedDuration::from_mins(minutes),
            list_id: Some("national".into()),
            list_serial: Some(7),
            list_stale: false,
            queries_total: 100,
            malformed_packets: 0,
            flags: vec![],
            blocked: cells
                .iter()
                .map(|(c, ch, n)| BlockedCell {
                    category: (*c).into(),
                    channel: (*ch).into(),
                    count: *n,
                })
                .collect(),
            profiles: Vec::new(),
        }
    }

    fn view() -> NodeView {
        NodeView {
            isp_id: "isp<a>".into(),
            node_id: "n\"1".into(),
            state: NodeState::Behind,
            list_id: Some("national".into()),
            list_serial: Some(7),
            latest_serial: Some(8),
            last_report_at: Some(ts("2026-11-29T17:59:00Z")),
            last_window_end: Some(ts("2026-11-29T17:59:00Z")),
            activated_at: Some(ts("2026-11-28T10:00:02Z")),
            reports: 300,
            flagged: 1,
            registered: true,
        }
    }

    #[test]
    fn thousands_of_windows_make_at_most_48_buckets_with_exact_sums() {
        let from = ts("2026-11-28T18:00:00Z");
        let range = Range {
            from,
            to: ts("2026-11-29T18:00:00Z"),
        };
        // A window a minute for 24 h, 2 adult each, and one "<5" per hour.
        let windows: Vec<WindowRow> = (0..1440)
            .map(|i| {
                let mut cells = vec![("adult", "dns", BlockedCount::Exact(2))];
                if i % 60 == 0 {
                    cells.push(("adult", "sni", BlockedCount::Below(5)));
                }
                window("n1", from + SignedDuration::from_mins(i), 1, &cells)
            })
            .collect();
        let b = buckets(&windows, range, MAX_BUCKETS);
        assert_eq!(b.len(), 48);
        assert!(b.iter().all(|b| b.windows == 30), "{:?}", b[0]);
        assert_eq!(b[0].blocked["adult"].exact, 60);
        assert_eq!(b[0].blocked["adult"].suppressed, 1);
        assert_eq!(b[1].blocked["adult"].suppressed, 0);
        assert_eq!(
            b.iter().map(|b| b.blocked["adult"].exact).sum::<u64>(),
            2880
        );
        assert_eq!(b[47].end, range.to);
        // A window straddling `from` counts in the first bucket.
        let early = window("n1", from - SignedDuration::from_mins(1), 2, &[]);
        assert_eq!(buckets(&[early], range, MAX_BUCKETS)[0].windows, 1);
        // A short range: one-second buckets, never zero-width.
        let short = Range {
            from,
            to: from + SignedDuration::from_secs(3),
        };
        assert_eq!(buckets(&[], short, MAX_BUCKETS).len(), 3);
    }

    #[test]
    fn the_node_page_draws_counts_marks_suppressed_and_escapes() {
        let from = ts("2026-11-29T12:00:00Z");
        let range = Range {
            from,
            to: ts("2026-11-29T18:00:00Z"),
        };
        let windows = [
            window(
                "n\"1",
                from,
                5,
                &[
                    ("adult", "dns", BlockedCount::Exact(12)),
                    ("adult", "sni", BlockedCount::Below(5)),
                    ("csam", "dns", BlockedCount::Below(5)),
                    ("<img>", "dns", BlockedCount::Exact(6)),
                ],
            ),
            window(
                "n\"1",
                from + SignedDuration::from_hours(3),
                5,
                &[
                    ("adult", "dns", BlockedCount::Exact(30)),
                    ("csam", "dns", BlockedCount::Exact(5)),
                ],
            ),
        ];
        let lags = [LagRow {
            isp_id: "isp<a>".into(),
            node_id: "n\"1".into(),
            list_id: "national".into(),
            serial: 7,
            lag_seconds: 42.5,
        }];
        let detail = NodeDetail::new(view(), &lags, range);
        assert_eq!(detail.activation_lag_seconds, Some(42.5));
        let confidential = vec!["csam".to_owned()];
        let html = node_page(&detail, &windows, &confidential, None, range.to);
        assert!(
            html.contains("<code>isp&lt;a&gt;</code> / <code>n&quot;1</code>"),
            "{html}"
        );
        assert!(!html.contains("<img>") && html.contains("&lt;img&gt;"));
        assert!(
            html.contains("serial <strong>7</strong> (mới nhất / latest: 8)"),
            "{html}"
        );
        assert!(html.contains("<dd class=\"behind\">Phiên bản cũ / Behind</dd>"));
        assert!(html.contains("<dd>42.5 s</dd>"), "{html}");
        assert!(html.contains("<dd>2026-11-28T10:00:02Z</dd>"));
        assert!(html.contains("<dd>300 (bị gắn cờ / flagged: 1)</dd>"));
        // Three categories, a bar where a count is exact and above zero.
        assert_eq!(html.matches("<g class=\"series\">").count(), 3);
        assert_eq!(html.matches("class=\"bar\"").count(), 4, "{html}");
        // adult and csam in the first bucket had "<5" cells.
        assert_eq!(html.matches("class=\"below\"").count(), 2, "{html}");
        assert!(
            html.contains("<td class=\"n below\">≥ 12 (1 × &lt;5)</td>"),
            "{html}"
        );
        assert!(
            html.contains("<td class=\"n below\">≥ 42 (1 × &lt;5)</td>"),
            "total: {html}"
        );
        assert!(html.contains("csam (bảo mật / confidential)"));
        assert!(html.contains("fill=\"#6B6B6B\""));
        assert!(html.contains("shown as counts only"));
        assert!(html.contains("No probe results yet"));
        assert!(html.contains("hotline 111"));
        assert!(
            !html.contains("<script") && !html.contains("http"),
            "{html}"
        );
    }

    #[test]
    fn the_api_json_keeps_suppressed_counts_apart() {
        let range = Range {
            from: ts("2026-11-29T12:00:00Z"),
            to: ts("2026-11-29T18:00:00Z"),
        };
        let mut w = window(
            "n1",
            range.from,
            5,
            &[
                ("adult", "dns", BlockedCount::Exact(12)),
                ("adult", "sni", BlockedCount::Below(5)),
            ],
        );
        w.flags = vec![WindowFlag::Overlap];
        let detail = NodeDetail::new(view(), &[], range);
        let j = json(&detail, &[w]);
        assert_eq!(j["state"], "behind");
        assert_eq!(j["list_serial"], 7);
        assert!(j["activation_lag_seconds"].is_null());
        assert_eq!(j["from"], "2026-11-29T12:00:00Z");
        let cells = &j["windows"][0]["blocked"];
        assert_eq!(cells[0]["count"], 12);
        assert!(cells[0]["below_min_count"].is_null());
        assert!(cells[1]["count"].is_null());
        assert_eq!(cells[1]["below_min_count"], 5);
        assert_eq!(j["windows"][0]["flags"][0], "overlap");
    }

    #[test]
    fn hostile_ids_and_categories_come_out_escaped() {
        use crate::collector::dashboard::tests::{HOSTILE, assert_hostile_escaped};
        let from = ts("2026-11-29T12:00:00Z");
        let range = Range {
            from,
            to: ts("2026-11-29T18:00:00Z"),
        };
        let mut v = view();
        v.isp_id = HOSTILE.into();
        v.node_id = HOSTILE.into();
        v.list_id = Some(HOSTILE.into());
        let windows = [window(
            HOSTILE,
            from,
            5,
            &[(HOSTILE, "dns", BlockedCount::Exact(3))],
        )];
        let detail = NodeDetail::new(v, &[], range);
        let html = node_page(&detail, &windows, &[], None, range.to);
        assert_hostile_escaped(&html);
        let shown = "&lt;script&gt;alert(1)&lt;/script&gt;&quot;x";
        assert!(html.contains(&format!(
            "<h1>Nút <code>{shown}</code> / <code>{shown}</code>"
        )));
        assert!(
            html.contains(&format!("<th class=\"n\">{shown}</th>")),
            "{html}"
        );
        assert!(
            html.contains(&format!("<title>{shown}: 3</title>")),
            "{html}"
        );
    }
}
