//! The annual evaluation report (`GET /report?year=`, `GET
//! /report.csv?year=`): per ISP, over the report windows of one calendar
//! year (UTC), how compliant its nodes were, how fast they took new
//! lists, how long they were silent, and what they blocked.
//!
//! Built in two passes over the year's windows (each node's windows in
//! order, fed node by node, so memory holds the totals, not the windows):
//!
//! 1. [`Annual::observe`]: when each serial was first in force anywhere
//!    (the earliest `window_end` of a window reporting it); the "latest
//!    serial" at a time is the highest serial of its list first seen by
//!    then. This is the collector's definition of "latest" everywhere
//!    (the highest any node reports), applied over time.
//! 2. [`Annual::add`]: the per-ISP numbers; then [`Annual::finish`].
//!
//! What each number means is also written on the page ([`DEFINITIONS`]).

use std::collections::{BTreeMap, BTreeSet};

use jiff::{SignedDuration, Timestamp};
use maud::{Markup, html};

use super::{CountSum, Nav, csv, page, second};
use crate::collector::lag::{LagRow, percentile};
use crate::collector::params::Range;
use crate::collector::store::WindowRow;

/// One ISP's year.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct IspYear {
    pub isp_id: String,
    /// Nodes in the registry now.
    pub registered_nodes: usize,
    /// Nodes with at least one report window in the year.
    pub reporting_nodes: usize,
    pub windows: u64,
    /// Windows whose serial was the latest of its list at the window's end.
    pub on_latest: u64,
    /// ... and whose list was not past `expires_at`.
    pub compliant: u64,
    /// Node activations of the year's serials.
    pub activations: usize,
    pub lag_p50_seconds: Option<f64>,
    pub lag_p95_seconds: Option<f64>,
    /// Gaps longer than the silent threshold between a node's windows,
    /// or after its last window to the end of the year (or now).
    pub silent_periods: u64,
    pub silent_seconds: i64,
    /// Per category, all channels and windows.
    pub blocked: BTreeMap<String, CountSum>,
}

impl IspYear {
    fn share(&self, n: u64) -> Option<f64> {
        // Window counts are far below 2^52: exact in f64.
        (self.windows > 0).then(|| n as f64 * 100.0 / self.windows as f64)
    }

    pub fn on_latest_percent(&self) -> Option<f64> {
        self.share(self.on_latest)
    }

    pub fn compliant_percent(&self) -> Option<f64> {
        self.share(self.compliant)
    }
}

/// The whole report.
#[derive(Debug, Clone, PartialEq)]
pub struct AnnualReport {
    pub year: i16,
    pub range: Range,
    /// The end of what was counted: the end of the year, or now.
    pub until: Timestamp,
    /// The year's serials: (list, serial, first in force anywhere).
    pub serials: Vec<(String, u64, Timestamp)>,
    pub isps: Vec<IspYear>,
    /// The silent threshold used.
    pub silent_after: SignedDuration,
}

#[derive(Debug, Default)]
struct Acc {
    year: IspYear,
    nodes: BTreeSet<String>,
}

/// The two passes' state.
#[derive(Debug)]
pub struct Annual {
    year: i16,
    range: Range,
    until: Timestamp,
    silent_after: SignedDuration,
    first_seen: BTreeMap<(String, u64), Timestamp>,
    /// Per list: (time, highest serial first seen by then), by time.
    timeline: BTreeMap<String, Vec<(Timestamp, u64)>>,
    isps: BTreeMap<String, Acc>,
    /// Per (isp, node): the end of its latest window so far.
    last_end: BTreeMap<(String, String), Timestamp>,
}

impl Annual {
    /// For `year` (its `range`), counting until `now` at the latest, a
    /// node silent after `silent_after` without a window.
    pub fn new(year: i16, range: Range, now: Timestamp, silent_after: SignedDuration) -> Self {
        Self {
            year,
            range,
            until: range.to.min(now),
            silent_after,
            first_seen: BTreeMap::new(),
            timeline: BTreeMap::new(),
            isps: BTreeMap::new(),
            last_end: BTreeMap::new(),
        }
    }

    /// Pass 1, every window of the year in any order.
    pub fn observe(&mut self, w: &WindowRow) {
        if let (Some(id), Some(serial)) = (&w.list_id, w.list_serial) {
            let e = self
                .first_seen
                .entry((id.clone(), serial))
                .or_insert(w.window_end);
            *e = (*e).min(w.window_end);
        }
    }

    /// Between the passes.
    fn timeline(&mut self) {
        if !self.timeline.is_empty() || self.first_seen.is_empty() {
            return;
        }
        let mut per_list: BTreeMap<String, Vec<(Timestamp, u64)>> = BTreeMap::new();
        for ((id, serial), at) in &self.first_seen {
            per_list.entry(id.clone()).or_default().push((*at, *serial));
        }
        for (id, mut points) in per_list {
            points.sort();
            let mut highest = 0;
            for p in &mut points {
                highest = highest.max(p.1);
                p.1 = highest;
            }
            self.timeline.insert(id, points);
        }
    }

    /// The latest serial of `list` at `t`.
    fn latest_at(&self, list: &str, t: Timestamp) -> Option<u64> {
        let points = self.timeline.get(list)?;
        let i = points.partition_point(|(at, _)| *at <= t);
        (i > 0).then(|| points[i - 1].1)
    }

    /// Registers an ISP's registered nodes (so an ISP whose nodes never
    /// reported still gets a row).
    pub fn registered(&mut self, isp_id: &str, nodes: usize) {
        let acc = self.isps.entry(isp_id.to_owned()).or_default();
        acc.year.registered_nodes = nodes;
    }

    /// Pass 2: every window of the year once, each node's in window order.
    pub fn add(&mut self, w: &WindowRow) {
        self.timeline();
        let latest = match (&w.list_id, w.list_serial) {
            (Some(id), Some(serial)) => self
                .latest_at(id, w.window_end)
                .map(|latest| serial >= latest),
            _ => None,
        };
        let key = (w.isp_id.clone(), w.node_id.clone());
        let gap = self
            .last_end
            .get(&key)
            .map(|end| w.window_start.duration_since(*end));
        let end = self.last_end.entry(key).or_insert(w.window_end);
        *end = (*end).max(w.window_end);
        let acc = self.isps.entry(w.isp_id.clone()).or_default();
        acc.nodes.insert(w.node_id.clone());
        let y = &mut acc.year;
        y.windows += 1;
        if latest == Some(true) {
            y.on_latest += 1;
            if !w.list_stale {
                y.compliant += 1;
            }
        }
        if let Some(gap) = gap
            && gap > self.silent_after
        {
            y.silent_periods += 1;
            y.silent_seconds += gap.as_secs();
        }
        for cell in &w.blocked {
            y.blocked
                .entry(cell.category.clone())
                .or_default()
                .add(cell.count);
        }
    }

    /// The report, with the activation lags of the storage.
    pub fn finish(mut self, lags: &[LagRow]) -> AnnualReport {
        self.timeline();
        // Trailing silence: after a node's last window to the end.
        for ((isp, _), end) in &self.last_end {
            let gap = self.until.duration_since(*end);
            if gap > self.silent_after
                && let Some(acc) = self.isps.get_mut(isp)
            {
                acc.year.silent_periods += 1;
                acc.year.silent_seconds += gap.as_secs();
            }
        }
        let serials: Vec<(String, u64, Timestamp)> = self
            .first_seen
            .iter()
            .filter(|(_, at)| **at >= self.range.from && **at < self.range.to)
            .map(|((id, s), at)| (id.clone(), *s, *at))
            .collect();
        let of_year: BTreeSet<(&str, u64)> =
            serials.iter().map(|(id, s, _)| (id.as_str(), *s)).collect();
        let mut isps = Vec::with_capacity(self.isps.len());
        for (isp_id, acc) in self.isps {
            let mut y = acc.year;
            y.isp_id = isp_id;
            y.reporting_nodes = acc.nodes.len();
            let mut l: Vec<f64> = lags
                .iter()
                .filter(|r| {
                    r.isp_id == y.isp_id && of_year.contains(&(r.list_id.as_str(), r.serial))
                })
                .map(|r| r.lag_seconds)
                .collect();
            l.sort_by(f64::total_cmp);
            y.activations = l.len();
            if !l.is_empty() {
                y.lag_p50_seconds = Some(percentile(&l, 50));
                y.lag_p95_seconds = Some(percentile(&l, 95));
            }
            isps.push(y);
        }
        AnnualReport {
            year: self.year,
            range: self.range,
            until: self.until,
            serials,
            isps,
            silent_after: self.silent_after,
        }
    }
}

/// What each number means, Vietnamese then English; on the page and in
/// docs/collector.md.
pub const DEFINITIONS: &[(&str, &str, &str)] = &[
    (
        "Nút / Nodes",
        "Số nút trong sổ đăng ký hiện tại; số nút có ít nhất một báo cáo trong năm.",
        "Nodes in the registry now; nodes with at least one report window in the year.",
    ),
    (
        "Cửa sổ / Windows",
        "Số cửa sổ báo cáo đã lưu có thời điểm bắt đầu trong năm (cả cửa sổ bị gắn cờ).",
        "Stored report windows starting in the year (flagged ones included).",
    ),
    (
        "Số hiệu mới nhất / On latest",
        "Tỷ lệ cửa sổ mà danh sách áp dụng là số hiệu mới nhất của nó tại cuối cửa sổ (số hiệu cao nhất đã được bất kỳ nút nào áp dụng trước đó).",
        "Share of windows whose list in force was its latest serial at the window's end (the highest serial any node had reported by then).",
    ),
    (
        "Tuân thủ / Compliant",
        "Như trên, và danh sách chưa quá hạn (expires_at).",
        "As above, and the list not past its expires_at.",
    ),
    (
        "Độ trễ / Lag p50, p95",
        "Trên các lần kích hoạt đầu tiên của các nút thuộc nhà mạng, với các số hiệu lần đầu xuất hiện trong năm: activated_at − issued_at, hạng gần nhất.",
        "Over the ISP's nodes' first activations of the serials first in force in the year: activated_at − issued_at, nearest rank.",
    ),
    (
        "Mất liên lạc / Silent",
        "Số khoảng trống giữa hai cửa sổ liên tiếp của một nút (hoặc sau cửa sổ cuối đến hết năm hay đến nay) dài hơn 3 chu kỳ báo cáo, và tổng thời gian của chúng. Trước báo cáo đầu tiên của nút không được tính.",
        "Gaps between a node's consecutive windows (or after its last window to the end of the year, or now) longer than 3 report intervals, and their total length. Time before a node's first report is not counted.",
    ),
    (
        "Lượt chặn / Blocked",
        "Tổng chính xác các số đếm theo loại (mọi kênh). Số đếm dưới min_count bị ẩn (\"<5\") không bao giờ được đoán: khi có, tổng là giới hạn dưới (≥), kèm số ô bị ẩn.",
        "Exact sums of the counts per category (all channels). Counts suppressed below min_count (\"<5\") are never guessed: where there are any, the total is a lower bound (≥), with the number of suppressed cells.",
    ),
];

fn percent(p: Option<f64>) -> String {
    p.map_or_else(|| "—".to_owned(), |p| format!("{p:.1} %"))
}

fn seconds(s: Option<f64>) -> String {
    s.map_or_else(|| "—".to_owned(), super::amount)
}

fn silent_time(s: i64) -> String {
    // Seconds in a year are far below 2^52: exact in f64.
    super::duration_text(s as f64)
}

/// The printable HTML report.
pub fn html(r: &AnnualReport, confidential: &[String]) -> String {
    let body = html! {
        h1 { "Báo cáo đánh giá năm " (r.year) " " small { "/ Annual evaluation report " (r.year) } }
        p {
            "Từ / From " time { (second(r.range.from)) } " đến / to " time { (second(r.until)) }
            " (UTC). Ngưỡng mất liên lạc / Silent after: " (r.silent_after.as_secs()) " s."
        }
        p.note {
            "Số hiệu trong năm / Serials of the year: "
            @if r.serials.is_empty() { "—" }
            @for (i, (id, serial, _)) in r.serials.iter().enumerate() {
                @if i > 0 { ", " }
                code { (id) } " #" (serial)
            }
            "."
        }
        (isp_table(r))
        h2 { "Lượt chặn theo loại " small { "/ Blocked by category" } }
        (blocked_table(r, confidential))
        h2 { "Ý nghĩa các số liệu " small { "/ What the numbers mean" } }
        dl {
            @for (term, vi, en) in DEFINITIONS {
                dt { strong { (term) } }
                dd { (vi) br; (en) }
            }
        }
    };
    page(
        &format!("Báo cáo năm {0} / Annual report {0}", r.year),
        Nav::None,
        body,
    )
}

/// Per ISP: nodes, windows, compliance, activation lag, silent periods.
fn isp_table(r: &AnnualReport) -> Markup {
    html! {
        div.scroll {
            table {
                tr {
                    th { "Nhà mạng / ISP" } th.n { "Nút / Nodes (đăng ký / registered)" }
                    th.n { "Nút báo cáo / Reporting" } th.n { "Cửa sổ / Windows" }
                    th.n { "Số hiệu mới nhất / On latest" } th.n { "Tuân thủ / Compliant" }
                    th.n { "Kích hoạt / Activations" } th.n { "Độ trễ p50 (s)" } th.n { "Độ trễ p95 (s)" }
                    th.n { "Mất liên lạc / Silent periods" } th.n { "Thời gian mất liên lạc / Silent time" }
                }
                @for y in &r.isps {
                    tr {
                        td { (y.isp_id) }
                        td.n { (y.registered_nodes) }
                        td.n { (y.reporting_nodes) }
                        td.n { (y.windows) }
                        td.n { (percent(y.on_latest_percent())) }
                        td.n { (percent(y.compliant_percent())) }
                        td.n { (y.activations) }
                        td.n { (seconds(y.lag_p50_seconds)) }
                        td.n { (seconds(y.lag_p95_seconds)) }
                        td.n { (y.silent_periods) }
                        td.n { (silent_time(y.silent_seconds)) }
                    }
                }
            }
        }
    }
}

/// Per ISP and category: the blocked counts of the year.
fn blocked_table(r: &AnnualReport, confidential: &[String]) -> Markup {
    let categories: BTreeSet<&str> = r
        .isps
        .iter()
        .flat_map(|y| y.blocked.keys().map(String::as_str))
        .collect();
    html! {
        @if categories.is_empty() {
            p { "Không có số liệu / No counts." }
        } @else {
            div.scroll {
                table {
                    tr {
                        th { "Nhà mạng / ISP" }
                        @for c in &categories { th.n { (super::node::category_label(c, confidential)) } }
                    }
                    @for y in &r.isps {
                        tr {
                            td { (y.isp_id) }
                            @for c in &categories {
                                @let sum = y.blocked.get(*c).copied().unwrap_or_default();
                                td class=(if sum.is_lower_bound() { "n below" } else { "n" }) { (sum) }
                            }
                        }
                    }
                }
            }
        }
    }
}

/// The columns of `GET /report.csv`.
pub const CSV_COLUMNS: [&str; 17] = [
    "year",
    "isp_id",
    "registered_nodes",
    "reporting_nodes",
    "windows",
    "on_latest_percent",
    "compliant_percent",
    "activations",
    "lag_p50_seconds",
    "lag_p95_seconds",
    "silent_periods",
    "silent_seconds",
    "category",
    "blocked_total",
    "blocked_lower_bound",
    "suppressed_cells",
    "min_count",
];

/// One row per ISP and category (an ISP without counts: one row with the
/// category columns empty); the ISP's columns repeat on each.
pub fn to_csv(r: &AnnualReport) -> String {
    let mut out = String::new();
    csv::record(&mut out, &CSV_COLUMNS);
    let opt = |v: Option<f64>| v.map(|v| format!("{v:.3}")).unwrap_or_default();
    for y in &r.isps {
        let fixed = [
            r.year.to_string(),
            y.isp_id.clone(),
            y.registered_nodes.to_string(),
            y.reporting_nodes.to_string(),
            y.windows.to_string(),
            opt(y.on_latest_percent()),
            opt(y.compliant_percent()),
            y.activations.to_string(),
            opt(y.lag_p50_seconds),
            opt(y.lag_p95_seconds),
            y.silent_periods.to_string(),
            y.silent_seconds.to_string(),
        ];
        let mut row = |rest: [String; 5]| {
            let fields: Vec<&str> = fixed
                .iter()
                .chain(rest.iter())
                .map(String::as_str)
                .collect();
            csv::record(&mut out, &fields);
        };
        if y.blocked.is_empty() {
            row(Default::default());
        }
        for (c, sum) in &y.blocked {
            row([
                c.clone(),
                sum.exact.to_string(),
                sum.is_lower_bound().to_string(),
                sum.suppressed.to_string(),
                if sum.suppressed > 0 {
                    sum.below.to_string()
                } else {
                    String::new()
                },
            ]);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::collector::dashboard::node::tests::window;
    use crate::collector::store::BlockedCount;

    fn ts(s: &str) -> Timestamp {
        s.parse().unwrap()
    }

    /// Two ISPs. isp<a>/n1 and n2 on serial 7 from 01:00; serial 8 first
    /// in force at 02:05 (n1); n2 stays on 7 and is stale in its last
    /// window; isp-b/n1 reports once and stops.
    fn fixture() -> AnnualReport {
        let range = super::super::super::params::year_range(2026).unwrap();
        let now = ts("2026-01-01T06:00:00Z");
        let mut a = Annual::new(2026, range, now, SignedDuration::from_mins(15));
        let t = |h: i64, m: i64| ts("2026-01-01T00:00:00Z") + SignedDuration::from_mins(h * 60 + m);
        let mut windows = Vec::new();
        // n1: 01:00..03:00 every hour-long window, serial 7 then 8.
        for (i, serial) in [(1, 7), (2, 8)] {
            let mut w = window(
                "n1",
                t(i, 0),
                65,
                &[
                    ("adult", "dns", BlockedCount::Exact(10)),
                    ("adult", "sni", BlockedCount::Below(5)),
                ],
            );
            w.list_serial = Some(serial);
            windows.push(w);
        }
        // n2: 01:00 (7), 02:00 (7: behind after 02:05? its end is 03:00, so behind), a gap, 04:00 (7, stale).
        for (i, stale) in [(1, false), (2, false), (4, true)] {
            let mut w = window(
                "n2",
                t(i, 0),
                60,
                &[("adult", "dns", BlockedCount::Exact(1))],
            );
            w.list_stale = stale;
            windows.push(w);
        }
        // isp-b: one window at 01:00, then nothing.
        let mut b = window(
            "n1",
            t(1, 0),
            60,
            &[("csam", "dns", BlockedCount::Below(5))],
        );
        b.isp_id = "isp-b".into();
        windows.push(b);
        for w in &windows {
            a.observe(w);
        }
        a.registered("isp<a>", 2);
        a.registered("isp-c", 1);
        for w in &windows {
            a.add(w);
        }
        let lag = |isp: &str, node: &str, serial, s| LagRow {
            isp_id: isp.into(),
            node_id: node.into(),
            list_id: "national".into(),
            serial,
            lag_seconds: s,
        };
        a.finish(&[
            lag("isp<a>", "n1", 7, 10.0),
            lag("isp<a>", "n2", 7, 30.0),
            lag("isp<a>", "n1", 8, 20.0),
            lag("isp-b", "n1", 7, 5.0),
            lag("isp-b", "n1", 6, 500.0),
        ])
    }

    #[test]
    fn the_annual_numbers_on_a_small_fixture() {
        let r = fixture();
        let got: Vec<&str> = r.isps.iter().map(|y| y.isp_id.as_str()).collect();
        assert_eq!(got, ["isp-b", "isp-c", "isp<a>"]);
        let a = &r.isps[2];
        assert_eq!(
            (a.registered_nodes, a.reporting_nodes, a.windows),
            (2, 2, 5)
        );
        // Serial 8 first in force at 03:05 (n1's second window's end).
        assert_eq!(
            r.serials[1],
            ("national".into(), 8, ts("2026-01-01T03:05:00Z"))
        );
        // On latest: n1 both, n2's 01:00 and 02:00 (ends 03:00, before
        // 03:05) but not 04:00 (serial 7 < 8): 4 of 5; compliant the same.
        assert_eq!((a.on_latest, a.compliant), (4, 4));
        assert_eq!(a.on_latest_percent(), Some(80.0));
        // Lags of serials 7 and 8 (first seen this year): 10, 20, 30.
        assert_eq!(a.activations, 3);
        assert_eq!(
            (a.lag_p50_seconds, a.lag_p95_seconds),
            (Some(20.0), Some(30.0))
        );
        // n2: a gap 03:00→04:00 (60 min > 15); trailing: n1 ends 03:05,
        // n2 05:00, until now = 06:00: both longer than 15 min.
        assert_eq!(a.silent_periods, 3);
        assert_eq!(a.silent_seconds, (60 + 175 + 60) * 60);
        assert_eq!(a.blocked["adult"].exact, 23);
        assert_eq!(a.blocked["adult"].suppressed, 2);
        let b = &r.isps[0];
        assert_eq!((b.windows, b.on_latest, b.activations), (1, 1, 1));
        assert_eq!(b.silent_periods, 1);
        assert_eq!(b.silent_seconds, 4 * 3600);
        // isp-c: registered, never reported.
        let c = &r.isps[1];
        assert_eq!((c.registered_nodes, c.windows), (1, 0));
        assert_eq!(c.on_latest_percent(), None);

        let html = html(&r, &["csam".to_owned()]);
        assert!(
            html.contains("<td class=\"n below\">≥ 23 (2 × &lt;5)</td>"),
            "{html}"
        );
        assert!(
            html.contains("<td class=\"n below\">≥ 0 (1 × &lt;5)</td>"),
            "{html}"
        );
        assert!(html.contains("<td>isp&lt;a&gt;</td><td class=\"n\">2</td><td class=\"n\">2</td><td class=\"n\">5</td><td class=\"n\">80.0 %</td><td class=\"n\">80.0 %</td><td class=\"n\">3</td><td class=\"n\">20.0</td><td class=\"n\">30.0</td><td class=\"n\">3</td><td class=\"n\">4.9 h</td></tr>"), "{html}");
        assert!(html.contains("What the numbers mean") && html.contains("hotline 111"));
        assert!(!html.contains("<script") && !html.contains("http"));

        let csv = to_csv(&r);
        let lines: Vec<&str> = csv.lines().collect();
        assert_eq!(lines[0], CSV_COLUMNS.join(","));
        assert_eq!(
            lines[1],
            "2026,isp-b,0,1,1,100.000,100.000,1,5.000,5.000,1,14400,csam,0,true,1,5"
        );
        assert_eq!(lines[2], "2026,isp-c,1,0,0,,,0,,,0,0,,,,,");
        assert_eq!(
            lines[3],
            "2026,isp<a>,2,2,5,80.000,80.000,3,20.000,30.000,3,17700,adult,23,true,2,5"
        );
        assert_eq!(lines.len(), 4);
    }

    #[test]
    fn hostile_isp_list_and_category_come_out_escaped() {
        use crate::collector::dashboard::tests::{HOSTILE, assert_hostile_escaped};
        let mut r = fixture();
        r.serials
            .push((HOSTILE.into(), 9, ts("2026-01-01T00:00:00Z")));
        for y in &mut r.isps {
            y.isp_id = HOSTILE.into();
            y.blocked.insert(HOSTILE.into(), CountSum::default());
        }
        let html = html(&r, &[]);
        assert_hostile_escaped(&html);
        let shown = "&lt;script&gt;alert(1)&lt;/script&gt;&quot;x";
        assert!(html.contains(&format!("<code>{shown}</code> #9")), "{html}");
        assert!(
            html.contains(&format!("<th class=\"n\">{shown}</th>")),
            "{html}"
        );
        assert!(html.contains(&format!("<tr><td>{shown}</td>")), "{html}");
    }
}
