//! The node page (`GET /nodes/{isp}/{node}`) and its JSON
//! (`GET /api/nodes/{isp}/{node}`): the node's state, list and serial in
//! force, activation and its lag, last report, and blocked counts by
//! category over time: windows bucketed so the chart stays readable
//! whatever their number, drawn as [`super::svg::small_multiples`] with a
//! table of the same numbers below.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;

use jiff::{SignedDuration, Timestamp};
use serde::Serialize;

use super::svg::{self, Series};
use super::{CountSum, Nav, duration_text, escape, is_confidential, page, second, state_label};
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

/// The node page. `probes`: the probe results section, HTML, when there
/// are any (rendered by its own module; `None` shows that there are none
/// yet).
pub fn node_page(
    detail: &NodeDetail,
    windows: &[WindowRow],
    confidential: &[String],
    probes: Option<&str>,
    now: Timestamp,
) -> String {
    let v = &detail.view;
    let mut h = String::with_capacity(8192);
    let _ = writeln!(
        h,
        "<h1>Nút <code>{}</code> / <code>{}</code> <small>/ Node</small></h1>",
        escape(&v.isp_id),
        escape(&v.node_id)
    );
    let _ = writeln!(
        h,
        "<p>Thời điểm / As of: <time>{}</time></p>",
        escape(&second(now))
    );
    let none = "—".to_owned();
    let list = match (&v.list_id, v.list_serial) {
        (Some(id), Some(serial)) => format!(
            "<code>{}</code>, số hiệu / serial <strong>{serial}</strong>{}",
            escape(id),
            match v.latest_serial {
                Some(latest) if latest > serial => {
                    format!(" (mới nhất / latest: {latest})")
                }
                _ => String::new(),
            }
        ),
        _ => "không có danh sách / no list in force".to_owned(),
    };
    let _ = writeln!(
        h,
        "<dl class=\"facts\">\n\
<dt>Trạng thái / State</dt><dd class=\"{}\">{}</dd>\n\
<dt>Danh sách đang áp dụng / List in force</dt><dd>{list}</dd>\n\
<dt>Kích hoạt lúc / Activated at</dt><dd>{}</dd>\n\
<dt>Độ trễ kích hoạt / Activation lag</dt><dd>{}</dd>\n\
<dt>Báo cáo cuối / Last report</dt><dd>{}</dd>\n\
<dt>Số báo cáo / Reports</dt><dd>{} (bị gắn cờ / flagged: {})</dd>\n\
<dt>Đăng ký / Registered</dt><dd>{}</dd>\n</dl>",
        v.state.as_str(),
        state_label(v.state),
        escape(&v.activated_at.map_or_else(|| none.clone(), second)),
        escape(
            &detail
                .activation_lag_seconds
                .map_or_else(|| none.clone(), duration_text)
        ),
        escape(
            &v.last_report_at
                .map_or_else(|| "chưa bao giờ / never".to_owned(), second)
        ),
        v.reports,
        v.flagged,
        if v.registered {
            "có / yes"
        } else {
            "không (đã gỡ khỏi sổ đăng ký) / no (removed from the registry)"
        },
    );

    let range = Range {
        from: detail.from,
        to: detail.to,
    };
    let _ = writeln!(
        h,
        "<h2>Số lượt chặn theo loại <small>/ Blocked by category</small></h2>\n\
<p>Từ / From <time>{}</time> đến / to <time>{}</time> (UTC): {} cửa sổ báo cáo / report windows.</p>",
        escape(&second(range.from)),
        escape(&second(range.to)),
        windows.len()
    );
    let _ = writeln!(
        h,
        "<form method=\"get\"><label>Giờ gần nhất / Last hours <input name=\"hours\" size=\"4\" inputmode=\"numeric\" value=\"{}\"></label><button type=\"submit\">Xem / View</button></form>",
        range.to.duration_since(range.from).as_hours()
    );
    let buckets = buckets(windows, range, MAX_BUCKETS);
    let categories: BTreeSet<&str> = windows
        .iter()
        .flat_map(|w| w.blocked.iter().map(|c| c.category.as_str()))
        .collect();
    if categories.is_empty() {
        h.push_str("<p>Không có số liệu trong khoảng này / No counts in this range.</p>\n");
    } else {
        let width = buckets
            .first()
            .map_or(SignedDuration::ZERO, |b| b.end.duration_since(b.start));
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
        h.push_str("<div class=\"scroll\">");
        h.push_str(&svg::small_multiples(
            "Số lượt chặn theo loại theo thời gian / Blocked by category over time",
            buckets.len(),
            &axis,
            &series,
        ));
        h.push_str("</div>\n");
        let _ = writeln!(
            h,
            "<p class=\"note\">Mỗi cột: tổng các kênh (DNS, SNI, HTTP) trong {}; mỗi hàng có thang riêng (max bên phải). \
Khung nét đứt: có số đếm dưới ngưỡng <code>min_count</code> bị ẩn (báo cáo ghi \"&lt;5\"), nên tổng thực tế lớn hơn một lượng không rõ; số đó không bao giờ được đoán. \
/ Each bar: all channels (DNS, SNI, HTTP) over {}; each row has its own scale (max at the right). \
Dashed outline: counts below the report's <code>min_count</code> were suppressed (reported as \"&lt;5\"), so the true total is higher by an unknown amount; it is never guessed.</p>",
            escape(&duration_text(width.as_secs_f64())),
            escape(&duration_text(width.as_secs_f64())),
        );
        if categories.iter().any(|c| is_confidential(c, confidential)) {
            h.push_str("<p class=\"note\">Loại bảo mật chỉ hiển thị số đếm / Confidential categories are shown as counts only.</p>\n");
        }
        // The same numbers as a table, newest bucket first.
        h.push_str("<div class=\"scroll\"><table>\n<caption>Số liệu của biểu đồ / The chart's numbers</caption>\n<tr><th>Từ / From (UTC)</th><th class=\"n\">Cửa sổ / Windows</th>");
        for c in &categories {
            let _ = write!(
                h,
                "<th class=\"n\">{}</th>",
                escape(&category_label(c, confidential))
            );
        }
        h.push_str("</tr>\n");
        let mut total: BTreeMap<&str, CountSum> = BTreeMap::new();
        for b in buckets.iter().rev() {
            if b.windows == 0 {
                continue;
            }
            let _ = write!(
                h,
                "<tr><td>{}</td><td class=\"n\">{}</td>",
                escape(&second(b.start)),
                b.windows
            );
            for c in &categories {
                let sum = b.blocked.get(*c).copied().unwrap_or_default();
                total.entry(c).or_default().merge(&sum);
                cell(&mut h, &sum);
            }
            h.push_str("</tr>\n");
        }
        let _ = write!(
            h,
            "<tr><th>Tổng / Total</th><th class=\"n\">{}</th>",
            windows.len()
        );
        for c in &categories {
            cell(&mut h, &total.get(c).copied().unwrap_or_default());
        }
        h.push_str("</tr>\n</table></div>\n");
    }
    h.push_str("<h2 id=\"probes\">Kết quả thăm dò <small>/ Probe results</small></h2>\n");
    match probes {
        Some(section) => h.push_str(section),
        None => h.push_str("<p>Chưa có kết quả thăm dò / No probe results yet.</p>\n"),
    }
    let title = format!("Nút / Node {} / {}", v.isp_id, v.node_id);
    page(&title, Nav::None, &h)
}

fn cell(h: &mut String, sum: &CountSum) {
    if sum.is_lower_bound() {
        let _ = write!(h, "<td class=\"n below\">{}</td>", sum.display());
    } else {
        let _ = write!(h, "<td class=\"n\">{}</td>", sum.display());
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
}
