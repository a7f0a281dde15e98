//! The schools view (`GET /schools`) and its CSV (`GET /schools.csv`):
//! every node whose latest report is a school report (`kind =
//! "school"`), its profiles and their ages, the serial of each list it
//! enforces, and the blocked counts of a time range per profile, list
//! and category. ISP nodes are not shown here and nothing about them
//! changes.
//!
//! Counts suppressed below `min_count` stay suppressed: sums over the
//! range are [`CountSum`]s, a lower bound with the number of suppressed
//! cells beside it, never a guess.

use std::collections::BTreeMap;

use jiff::Timestamp;
use maud::{Markup, html};

use super::csv::record;
use super::node::category_label;
use super::{CountSum, Nav, is_confidential, node_href, page, second};
use crate::collector::params::Range;
use crate::collector::store::{SchoolRow, WindowRow};

/// A cell of the schools view: profile, list, category, channel.
pub type CellKey = (String, String, String, String);

/// One school node and its counts over the range.
#[derive(Debug, Clone, PartialEq)]
pub struct SchoolView {
    pub school: SchoolRow,
    /// Report windows of the node in the range.
    pub windows: usize,
    /// The blocked counts of the range, summed per cell.
    pub counts: BTreeMap<CellKey, CountSum>,
}

impl SchoolView {
    /// Sums the per-profile counts of `windows` (the node's, in the
    /// range).
    pub fn new(school: SchoolRow, windows: &[WindowRow]) -> Self {
        let mut counts: BTreeMap<CellKey, CountSum> = BTreeMap::new();
        for w in windows {
            for c in &w.profiles {
                let key = (
                    c.profile.clone(),
                    c.list.clone(),
                    c.category.clone(),
                    c.channel.clone(),
                );
                counts.entry(key).or_default().add(c.count);
            }
        }
        Self {
            school,
            windows: windows.len(),
            counts,
        }
    }

    /// The counts of one profile by list and category, every channel
    /// added up.
    fn by_category(&self, profile: &str) -> BTreeMap<(&str, &str), CountSum> {
        let mut out: BTreeMap<(&str, &str), CountSum> = BTreeMap::new();
        for ((p, list, category, _), sum) in &self.counts {
            if p == profile {
                out.entry((list, category)).or_default().merge(sum);
            }
        }
        out
    }

    /// Profiles with counts but no longer among the node's profiles (a
    /// profile renamed or removed within the range).
    fn former_profiles(&self) -> Vec<&str> {
        let mut names: Vec<&str> = self
            .counts
            .keys()
            .map(|(p, ..)| p.as_str())
            .filter(|p| !self.school.profiles.iter().any(|x| x.name.as_str() == *p))
            .collect();
        names.dedup();
        names
    }

    /// The serial in force of the list named `list`, for the CSV.
    fn list_fields(&self, list: &str) -> (String, String) {
        self.school
            .lists
            .iter()
            .find(|l| l.name.as_str() == list)
            .map_or_else(Default::default, |l| {
                (
                    l.list_id.clone().unwrap_or_default(),
                    l.serial.map(|s| s.to_string()).unwrap_or_default(),
                )
            })
    }
}

/// The schools page.
pub fn schools_page(
    schools: &[SchoolView],
    range: Range,
    confidential: &[String],
    now: Timestamp,
) -> String {
    let hours = range.to.duration_since(range.from).as_hours();
    let csv = format!(
        "/schools.csv?from={}&to={}",
        second(range.from),
        second(range.to)
    );
    let body = html! {
        h1 { "Trường học " small { "/ Schools" } }
        p { "Thời điểm / As of: " time { (second(now)) } }
        p {
            "Từ / From " time { (second(range.from)) } " đến / to " time { (second(range.to)) } " (UTC). "
            a href=(csv) { "Tải CSV / Download CSV" }
        }
        form method="get" {
            label {
                "Giờ gần nhất / Last hours "
                input name="hours" size="4" inputmode="numeric" value=(hours);
            }
            button type="submit" { "Xem / View" }
        }
        p.note {
            "Các nút khai báo " code { "kind = \"school\"" } ". Hồ sơ và tuổi do nhà trường đặt; không có địa chỉ hay tên truy vấn nào rời khỏi nút. "
            "Số đếm dưới " code { "min_count" } " bị ẩn: tổng là cận dưới (≥), kèm số ô bị ẩn. "
            "/ Nodes that declare " code { "kind = \"school\"" } ". Profile names and ages are labels the school chose; no client address or queried name leaves a node. "
            "Counts below " code { "min_count" } " are suppressed: sums are lower bounds (≥), with the number of suppressed cells."
        }
        @if schools.is_empty() {
            p { "Chưa có trường nào gửi báo cáo / No school has reported yet." }
        }
        @for s in schools {
            (school(s, confidential))
        }
    };
    page("Trường học / Schools", Nav::Schools, body)
}

/// One school: its facts, lists and each profile's counts.
fn school(s: &SchoolView, confidential: &[String]) -> Markup {
    let r = &s.school;
    html! {
        section.school {
            h2 {
                a href=(node_href(&r.isp_id, &r.node_id)) { code { (r.isp_id) } " / " code { (r.node_id) } }
            }
            dl.facts {
                dt { "Báo cáo cuối / Last report" } dd { (second(r.last_report_at)) }
                dt { "Cửa sổ trong khoảng / Windows in range" } dd { (s.windows) }
                dt { "Hồ sơ / Profiles" }
                dd {
                    @if r.profiles.is_empty() { "không có / none" }
                    @for (i, p) in r.profiles.iter().enumerate() {
                        @if i > 0 { ", " }
                        code { (p.name) } " (" (p.age) " tuổi / age " (p.age) ")"
                    }
                }
            }
            h3 { "Danh sách đang áp dụng " small { "/ Lists in force" } }
            table {
                thead { tr { th { "Danh sách / List" } th { "Mã / List id" } th.n { "Số hiệu / Serial" } } }
                tbody {
                    @for l in &r.lists {
                        tr {
                            td { code { (l.name) } }
                            @match (&l.list_id, l.serial) {
                                (Some(id), Some(serial)) => {
                                    td { code { (id) } }
                                    td.n { (serial) }
                                }
                                _ => {
                                    td colspan="2" { "chưa tải / not loaded" }
                                }
                            }
                        }
                    }
                }
            }
            @for p in &r.profiles {
                h3 { "Hồ sơ " code { (p.name) } ", " (p.age) " tuổi " small { "/ Profile " (p.name) ", age " (p.age) } }
                (counts(s, p.name.as_str(), confidential))
            }
            @for p in s.former_profiles() {
                h3 { "Hồ sơ cũ " code { (p) } " " small { "/ Former profile " (p) } }
                (counts(s, p, confidential))
            }
        }
    }
}

/// One profile's blocked counts by list and category.
fn counts(s: &SchoolView, profile: &str, confidential: &[String]) -> Markup {
    let rows = s.by_category(profile);
    html! {
        @if rows.is_empty() {
            p { "Không có số liệu trong khoảng này / No counts in this range." }
        } @else {
            table {
                thead { tr { th { "Danh sách / List" } th { "Loại / Category" } th.n { "Bị chặn / Blocked" } } }
                tbody {
                    @for ((list, category), sum) in &rows {
                        tr {
                            td { code { (list) } }
                            td { (category_label(category, confidential)) }
                            td.n.below[sum.is_lower_bound()] { (sum) }
                        }
                    }
                }
            }
            @if rows.keys().any(|(_, c)| is_confidential(c, confidential)) {
                p.note { "Loại bảo mật chỉ hiển thị số đếm / Confidential categories are shown as counts only." }
            }
        }
    }
}

/// The columns of `GET /schools.csv`, in order.
pub const SCHOOL_COLUMNS: [&str; 15] = [
    "isp_id",
    "node_id",
    "from",
    "to",
    "windows",
    "profile",
    "age",
    "list",
    "list_id",
    "list_serial",
    "category",
    "channel",
    "blocked",
    "suppressed_cells",
    "below_min_count",
];

/// The CSV of the schools view: a row per school, profile, list,
/// category and channel. `blocked` is the sum of the exact counts; when
/// `suppressed_cells` is above 0 it is a lower bound, each of those cells
/// below `below_min_count`. A school without counts in the range gets one
/// row with the profile columns empty, so every school appears.
pub fn schools_csv(schools: &[SchoolView], range: Range) -> String {
    let mut out = String::new();
    record(&mut out, &SCHOOL_COLUMNS);
    let (from, to) = (range.from.to_string(), range.to.to_string());
    for s in schools {
        let r = &s.school;
        let windows = s.windows.to_string();
        let fixed = [&r.isp_id, &r.node_id, &from, &to, &windows];
        if s.counts.is_empty() {
            let mut fields: Vec<&str> = fixed.iter().map(|f| f.as_str()).collect();
            fields.extend([""; 10]);
            record(&mut out, &fields);
        }
        for ((profile, list, category, channel), sum) in &s.counts {
            let age = r
                .profiles
                .iter()
                .find(|p| p.name.as_str() == profile)
                .map(|p| p.age.to_string())
                .unwrap_or_default();
            let (list_id, serial) = s.list_fields(list);
            let (exact, suppressed, below) = (
                sum.exact.to_string(),
                sum.suppressed.to_string(),
                if sum.suppressed > 0 {
                    sum.below.to_string()
                } else {
                    String::new()
                },
            );
            let mut fields: Vec<&str> = fixed.iter().map(|f| f.as_str()).collect();
            fields.extend([
                profile.as_str(),
                age.as_str(),
                list.as_str(),
                list_id.as_str(),
                serial.as_str(),
                category.as_str(),
                channel.as_str(),
                exact.as_str(),
                suppressed.as_str(),
                below.as_str(),
            ]);
            record(&mut out, &fields);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::collector::dashboard::node::tests::window;
    use crate::collector::dashboard::tests::{HOSTILE, assert_hostile_escaped};
    use crate::collector::store::{BlockedCount, ProfileBlockedCell};
    use crate::report::body::{Label, ListSerial, ProfileInfo};

    fn sum_of(cells: &[BlockedCount]) -> CountSum {
        let mut s = CountSum::default();
        for c in cells {
            s.add(*c);
        }
        s
    }

    fn ts(s: &str) -> Timestamp {
        s.parse().unwrap()
    }

    fn label(s: &str) -> Label {
        Label::try_from(s.to_owned()).unwrap()
    }

    fn row(isp: &str, node: &str) -> SchoolRow {
        SchoolRow {
            isp_id: isp.into(),
            node_id: node.into(),
            last_report_at: ts("2026-11-29T18:10:01Z"),
            last_window_end: ts("2026-11-29T18:10:00Z"),
            profiles: vec![
                ProfileInfo {
                    name: label("primary"),
                    age: 10,
                },
                ProfileInfo {
                    name: label("secondary"),
                    age: 15,
                },
            ],
            lists: vec![
                ListSerial {
                    name: label("national"),
                    list_id: Some("vn-national".into()),
                    serial: Some(42),
                    sha256: Some("ab".repeat(32)),
                },
                ListSerial {
                    name: label("school"),
                    list_id: None,
                    serial: None,
                    sha256: None,
                },
            ],
        }
    }

    fn cell(p: &str, l: &str, c: &str, count: BlockedCount) -> ProfileBlockedCell {
        ProfileBlockedCell {
            profile: p.into(),
            list: l.into(),
            category: c.into(),
            channel: "dns".into(),
            count,
        }
    }

    fn view() -> SchoolView {
        let start = ts("2026-11-29T18:00:00Z");
        let mut a = window("s1", start, 5, &[]);
        a.profiles = vec![
            cell("primary", "national", "adult", BlockedCount::Exact(7)),
            cell("primary", "national", "csam", BlockedCount::Below(5)),
            cell("secondary", "national", "adult", BlockedCount::Below(5)),
        ];
        let mut b = window("s1", start + jiff::SignedDuration::from_mins(5), 5, &[]);
        b.profiles = vec![
            cell("primary", "national", "adult", BlockedCount::Exact(9)),
            cell("primary", "national", "csam", BlockedCount::Below(5)),
            cell("secondary", "national", "adult", BlockedCount::Exact(6)),
            cell("old", "national", "adult", BlockedCount::Exact(5)),
        ];
        SchoolView::new(row("moet", "thcs-1"), &[a, b])
    }

    fn range() -> Range {
        Range {
            from: ts("2026-11-29T00:00:00Z"),
            to: ts("2026-11-30T00:00:00Z"),
        }
    }

    #[test]
    fn sums_per_profile_keep_suppressed_cells_apart() {
        let v = view();
        assert_eq!(v.windows, 2);
        let key = |p: &str, c: &str| {
            (
                p.to_owned(),
                "national".to_owned(),
                c.to_owned(),
                "dns".to_owned(),
            )
        };
        assert_eq!(
            v.counts[&key("primary", "adult")],
            sum_of(&[BlockedCount::Exact(16)])
        );
        assert_eq!(
            v.counts[&key("primary", "csam")],
            sum_of(&[BlockedCount::Below(5), BlockedCount::Below(5)])
        );
        assert_eq!(
            v.counts[&key("secondary", "adult")].display(),
            "≥ 6 (1 × &lt;5)"
        );
        assert_eq!(v.former_profiles(), ["old"]);
    }

    #[test]
    fn the_page_shows_profiles_ages_serials_and_counts() {
        let html = schools_page(
            &[view()],
            range(),
            &["csam".to_owned()],
            ts("2026-11-29T18:11:00Z"),
        );
        for want in [
            "<a href=\"/nodes/moet/thcs-1\"><code>moet</code> / <code>thcs-1</code></a>",
            "<code>primary</code> (10 tuổi / age 10), <code>secondary</code> (15 tuổi / age 15)",
            "<td><code>national</code></td><td><code>vn-national</code></td><td class=\"n\">42</td>",
            "<td><code>school</code></td><td colspan=\"2\">chưa tải / not loaded</td>",
            "Profile primary, age 10",
            "<td><code>national</code></td><td>adult</td><td class=\"n\">16</td>",
            "<td>csam (bảo mật / confidential)</td><td class=\"n below\">≥ 0 (2 × &lt;5)</td>",
            "Former profile old",
            "href=\"/schools.csv?from=2026-11-29T00:00:00Z&amp;to=2026-11-30T00:00:00Z\"",
            "aria-current=\"page\"",
        ] {
            assert!(html.contains(want), "{want}\nin\n{html}");
        }
        assert!(!html.contains("<script"));
        let empty = schools_page(&[], range(), &[], ts("2026-11-29T18:11:00Z"));
        assert!(empty.contains("No school has reported yet"), "{empty}");
    }

    #[test]
    fn hostile_values_come_out_escaped() {
        let mut v = view();
        v.school.isp_id = HOSTILE.into();
        v.school.node_id = HOSTILE.into();
        v.school.lists[0].list_id = Some(HOSTILE.into());
        v.counts.insert(
            (
                "primary".into(),
                "national".into(),
                HOSTILE.into(),
                "dns".into(),
            ),
            CountSum::default(),
        );
        assert_hostile_escaped(&schools_page(
            &[v],
            range(),
            &[],
            ts("2026-11-29T18:11:00Z"),
        ));
    }

    #[test]
    fn the_csv_has_a_row_per_cell_quoted_where_needed() {
        let mut v = view();
        v.school.node_id = "thcs,1".into();
        let mut bare = view();
        bare.school.node_id = "quiet".into();
        bare.counts.clear();
        let csv = schools_csv(&[v, bare], range());
        let lines: Vec<&str> = csv.split("\r\n").collect();
        assert_eq!(lines[0], SCHOOL_COLUMNS.join(","));
        assert_eq!(
            lines[1],
            "moet,\"thcs,1\",2026-11-29T00:00:00Z,2026-11-30T00:00:00Z,2,old,,national,vn-national,42,adult,dns,5,0,"
        );
        assert!(
            lines.contains(
                &"moet,\"thcs,1\",2026-11-29T00:00:00Z,2026-11-30T00:00:00Z,2,primary,10,national,vn-national,42,csam,dns,0,2,5"
            ),
            "{csv}"
        );
        assert!(
            lines.contains(
                &"moet,\"thcs,1\",2026-11-29T00:00:00Z,2026-11-30T00:00:00Z,2,secondary,15,national,vn-national,42,adult,dns,6,1,5"
            ),
            "{csv}"
        );
        assert_eq!(
            lines[lines.len() - 2],
            "moet,quiet,2026-11-29T00:00:00Z,2026-11-30T00:00:00Z,2,,,,,,,,,,"
        );
        assert_eq!(
            lines.len(),
            1 + 4 + 1 + 1,
            "header, four cells, the bare school, the end"
        );
    }
}
