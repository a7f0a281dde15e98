//! The dashboard's HTML and CSV (pure: data in, text out; tested without a
//! server). Server-rendered, no JavaScript, no external asset (the server
//! sends a CSP that forbids both), Vietnamese first with English, the 111
//! hotline in every footer. The HTML (and its inline SVG) is written as
//! `maud` templates: every value put in is escaped by the template engine,
//! never by hand.
//!
//! * [`mod@overview`]: `GET /`: latest serial per list, per ISP the nodes in
//!   each state and the share current, then every node.
//! * [`node`]: `GET /nodes/{isp}/{node}`: one node, blocked counts by
//!   category over time ([`svg`] chart and a table of the same numbers).
//! * [`lag`]: `GET /lag`: activation lag per serial.
//! * [`annual`]: `GET /report?year=`, `GET /report.csv?year=`: the annual
//!   evaluation report per ISP.
//! * [`csv`]: RFC 4180 fields and the `GET /export.csv` rows.
//! * [`svg`]: the inline bar charts.
//! * [`probes`]: the table of probe results.
//! * [`schools`]: `GET /schools`, `GET /schools.csv`: the school nodes,
//!   their profiles, lists and blocked counts per profile.

use std::fmt::Write as _;

use jiff::Timestamp;
use maud::{DOCTYPE, Markup, PreEscaped, Render, html};

use super::state::NodeState;
use super::store::BlockedCount;
use crate::blockpage::page::DEFAULT_HOTLINE;

pub mod annual;
pub mod csv;
pub mod lag;
pub mod node;
pub mod overview;
pub mod probes;
pub mod schools;
pub mod svg;

pub use overview::{IspSummary, overview, summarise};

/// The `Content-Security-Policy` of every page: nothing loads, nothing
/// runs; inline styles and `data:` images only; forms post to the
/// collector itself.
pub const CSP: &str = "default-src 'none'; style-src 'unsafe-inline'; img-src data:; form-action 'self'; base-uri 'none'; frame-ancestors 'none'";

/// Categories shown only as counts, with neutral wording, whatever the
/// ministry's list marks confidential: the report carries no names for
/// any category, but these get no drill-down and no descriptive label.
pub const CONFIDENTIAL_CATEGORIES: &[&str] = &["csam"];

/// Vietnamese / English label of a state.
pub fn state_label(state: NodeState) -> &'static str {
    match state {
        NodeState::Current => "Mới nhất / Current",
        NodeState::Behind => "Phiên bản cũ / Behind",
        NodeState::Stale => "Hết hạn / Stale",
        NodeState::Silent => "Mất liên lạc / Silent",
    }
}

/// Which page the navigation marks as the current one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Nav {
    Overview,
    Schools,
    Lag,
    Export,
    /// A page not in the navigation (node, annual report, 404).
    None,
}

const STYLE: &str = "*{box-sizing:border-box}\
body{font-family:system-ui,sans-serif;margin:0 auto;padding:1rem 1.2rem;max-width:72rem;color:#1a1a1a;line-height:1.4}\
h1{font-size:1.5rem;margin:.6rem 0}h2{font-size:1.15rem;margin:1.4rem 0 .4rem}small{color:#555;font-weight:normal}\
nav{display:flex;flex-wrap:wrap;gap:.4rem 1rem;padding:.5rem 0;border-bottom:2px solid #0b3d91;margin-bottom:.6rem}\
nav a{color:#0b3d91;text-decoration:none;font-weight:600}nav a[aria-current]{text-decoration:underline}\
a{color:#0b3d91}.scroll{overflow-x:auto}\
table{border-collapse:collapse;margin:.5rem 0}th,td{border:1px solid #bbb;padding:.3rem .6rem;text-align:left;vertical-align:top}\
th{background:#eee}td.n,th.n{text-align:right;font-variant-numeric:tabular-nums}\
.current{color:#05690b}.behind{color:#8a5a00}.stale{color:#9a3412}.silent{color:#b00020;font-weight:bold}\
.latest{border:2px solid #0b3d91;border-radius:.4rem;padding:.6rem 1rem;margin:.8rem 0;background:#f3f6fc}\
.latest .serial{font-size:1.8rem;font-weight:bold}.note{color:#444;font-size:.9rem}\
dl.facts{display:grid;grid-template-columns:max-content 1fr;gap:.2rem 1rem}dl.facts dt{font-weight:600}dl.facts dd{margin:0;overflow-wrap:anywhere}\
svg{width:100%;max-width:60rem;height:auto;display:block}.scroll svg{min-width:36rem}.below{font-style:italic}td.n{white-space:nowrap}\
@media (max-width:40rem){body{padding:.6rem}dl.facts{grid-template-columns:1fr;gap:0}dl.facts dd{margin-bottom:.5rem}}\
form{margin:.5rem 0}label{display:inline-block;margin:.2rem .6rem .2rem 0}input,button{font:inherit}\
footer{margin-top:2rem;padding-top:.6rem;border-top:1px solid #bbb;color:#333}\
@media print{nav,form{display:none}body{max-width:none}}";

/// The navigation: each page's link, the current one marked.
fn navigation(nav: Nav) -> Markup {
    let links = [
        (Nav::Overview, "/", "Tổng quan / Overview"),
        (Nav::Schools, "/schools", "Trường học / Schools"),
        (Nav::Lag, "/lag", "Độ trễ kích hoạt / Activation lag"),
        (
            Nav::Export,
            "/export",
            "Xuất dữ liệu, báo cáo năm / Export, annual report",
        ),
    ];
    html! {
        nav aria-label="Điều hướng / Navigation" {
            @for (target, href, label) in links {
                a href=(href) aria-current=[(target == nav).then_some("page")] { (label) }
            }
        }
    }
}

/// A whole page: head (with the style), navigation, `body`, footer.
pub fn page(title: &str, nav: Nav, body: Markup) -> String {
    html! {
        (DOCTYPE)
        html lang="vi" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { "ward — " (title) }
                // A constant of this file, not data: the style sheet's
                // text must reach the browser as written.
                style { (PreEscaped(STYLE)) }
            }
            body {
                (navigation(nav))
                main { (body) }
                footer {
                    "Tổng đài quốc gia bảo vệ trẻ em " (DEFAULT_HOTLINE)
                    " / National child protection hotline " (DEFAULT_HOTLINE)
                }
            }
        }
    }
    .into_string()
}

/// The 404 page for a node the collector does not know.
pub fn not_found(isp_id: &str, node_id: &str) -> String {
    let body = html! {
        h1 { "Không tìm thấy nút " small { "/ Node not found" } }
        p {
            "Nút " code { (isp_id) } " / " code { (node_id) }
            " không có trong sổ đăng ký và chưa từng gửi báo cáo."
        }
        p { "Node " code { (isp_id) } " / " code { (node_id) } " is not registered and has never reported." }
        p { a href="/" { "Về tổng quan / Back to the overview" } }
    };
    page("Không tìm thấy / Not found", Nav::None, body)
}

/// A form asking for a year, to `action`.
fn year_form(action: &str, year: i16, button: &str) -> Markup {
    html! {
        form method="get" action=(action) {
            label { "Năm / Year " input name="year" value=(year) size="6" inputmode="numeric"; }
            button type="submit" { (button) }
        }
    }
}

/// The export form: a CSV of report windows, and the annual report.
pub fn export_form(now: Timestamp) -> String {
    let to = second(now);
    let from = second(now - jiff::SignedDuration::from_hours(24));
    let year = now.to_zoned_datetime(jiff::tz::TimeZone::UTC).year();
    let body = html! {
        h1 { "Xuất dữ liệu " small { "/ Export" } }
        h2 { "Cửa sổ báo cáo (CSV) " small { "/ Report windows (CSV)" } }
        p.note {
            "Mỗi dòng: một cửa sổ báo cáo × loại × kênh; thời gian RFC 3339 (UTC). / One row per report window, category and channel; times in RFC 3339 (UTC). At most "
            (super::params::MAX_EXPORT_DAYS) " days."
        }
        form method="get" action="/export.csv" {
            label { "Từ / From " input name="from" value=(from) size="22"; }
            label { "Đến / To " input name="to" value=(to) size="22"; }
            button type="submit" { "Tải CSV / Download CSV" }
        }
        h2 { "Báo cáo đánh giá năm " small { "/ Annual evaluation report" } }
        (year_form("/report", year, "Xem / View"))
        (year_form("/report.csv", year, "Tải CSV / Download CSV"))
    };
    page("Xuất dữ liệu / Export", Nav::Export, body)
}

/// A number of seconds (or any measure) with the precision that keeps it
/// readable: three decimals below 10, one below 1,000, none above.
pub fn amount(v: f64) -> String {
    if v.abs() < 10.0 {
        format!("{v:.3}")
    } else if v.abs() < 1000.0 {
        format!("{v:.1}")
    } else {
        format!("{v:.0}")
    }
}

/// A duration in the unit that reads best: seconds, minutes or hours.
pub fn duration_text(seconds: f64) -> String {
    if seconds < 120.0 {
        format!("{} s", amount(seconds))
    } else if seconds < 7200.0 {
        format!("{:.1} min", seconds / 60.0)
    } else {
        format!("{:.1} h", seconds / 3600.0)
    }
}

/// A timestamp to whole seconds, RFC 3339.
pub fn second(t: Timestamp) -> String {
    t.round(jiff::Unit::Second).unwrap_or(t).to_string()
}

/// One path segment, percent-encoded (RFC 3986 unreserved kept).
pub fn path_segment(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for b in text.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(b));
        } else {
            let _ = write!(out, "%{b:02X}");
        }
    }
    out
}

/// The node page's address (each segment percent-encoded; the template
/// escapes it for the attribute).
pub fn node_href(isp_id: &str, node_id: &str) -> String {
    format!("/nodes/{}/{}", path_segment(isp_id), path_segment(node_id))
}

/// Whether `category` is shown only as counts.
pub fn is_confidential(category: &str, confidential: &[String]) -> bool {
    confidential.iter().any(|c| c == category)
}

/// A sum of blocked counts: the exact ones added up, and how many cells
/// were suppressed below `min_count` (their value is unknown, between 0
/// and `min_count − 1`: the sum is then a lower bound).
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct CountSum {
    pub exact: u64,
    /// Cells reported as `"<n"`.
    pub suppressed: u64,
    /// The largest `n` of those (`min_count`): each is below it.
    pub below: u64,
}

impl CountSum {
    pub fn add(&mut self, count: BlockedCount) {
        match count {
            BlockedCount::Exact(n) => self.exact = self.exact.saturating_add(n),
            BlockedCount::Below(n) => {
                self.suppressed += 1;
                self.below = self.below.max(n);
            }
        }
    }

    pub fn merge(&mut self, other: &Self) {
        self.exact = self.exact.saturating_add(other.exact);
        self.suppressed += other.suppressed;
        self.below = self.below.max(other.below);
    }

    /// The exact sum is only a lower bound.
    pub fn is_lower_bound(&self) -> bool {
        self.suppressed > 0
    }

    /// `12`, or `≥ 12 (3 × <5)`: never a made-up number for the
    /// suppressed part. HTML (the `<` escaped): see [`Render`].
    pub fn display(&self) -> String {
        self.render().into_string()
    }
}

impl Render for CountSum {
    /// `12`, or `≥ 12 (3 × <5)`, escaped by the template.
    fn render(&self) -> Markup {
        html! {
            @if self.suppressed == 0 {
                (self.exact)
            } @else {
                "≥ " (self.exact) " (" (self.suppressed) " × <" (self.below) ")"
            }
        }
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A value that would run a script, or break out of an attribute,
    /// if it reached a page unescaped.
    pub(crate) const HOSTILE: &str = "<script>alert(1)</script>\"x";

    /// `html` shows [`HOSTILE`] escaped, and never as markup.
    pub(crate) fn assert_hostile_escaped(html: &str) {
        assert!(
            html.contains("&lt;script&gt;alert(1)&lt;/script&gt;&quot;x"),
            "{html}"
        );
        assert!(!html.contains("<script") && !html.contains("\"x"), "{html}");
    }

    #[test]
    fn pages_have_nav_footer_and_nothing_external() {
        let html = page("t<", Nav::Lag, html! { p { "x" } });
        assert!(html.contains("<title>ward — t&lt;</title>"));
        assert!(html.contains("<a href=\"/lag\" aria-current=\"page\">"));
        assert!(html.contains("<a href=\"/\">Tổng quan / Overview</a>"));
        assert!(html.contains("National child protection hotline 111"));
        assert!(!html.contains("<script") && !html.contains("http"));
        let form = export_form("2026-11-29T18:00:00.7Z".parse().unwrap());
        assert!(
            form.contains("name=\"from\" value=\"2026-11-28T18:00:01Z\""),
            "{form}"
        );
        assert!(form.contains("name=\"year\" value=\"2026\""));
        assert!(!form.contains("<script") && !form.contains("http"));
    }

    #[test]
    fn node_links_are_encoded_and_escaped() {
        assert_eq!(node_href("vnpt", "hn-01"), "/nodes/vnpt/hn-01");
        assert_eq!(node_href("a/b", "<x\"&"), "/nodes/a%2Fb/%3Cx%22%26");
        let html = not_found("<isp>", "n\"1");
        assert!(
            html.contains("<code>&lt;isp&gt;</code> / <code>n&quot;1</code>"),
            "{html}"
        );
        assert!(!html.contains("<isp>"));
    }

    #[test]
    fn suppressed_counts_make_a_lower_bound_never_a_number() {
        let mut s = CountSum::default();
        s.add(BlockedCount::Exact(7));
        assert_eq!(s.display(), "7");
        s.add(BlockedCount::Below(5));
        s.add(BlockedCount::Below(5));
        assert!(s.is_lower_bound());
        assert_eq!(s.display(), "≥ 7 (2 × &lt;5)");
        let mut t = CountSum::default();
        t.merge(&s);
        assert_eq!(t, s);
    }

    #[test]
    fn hostile_values_come_out_escaped_on_the_404_and_in_titles() {
        assert_hostile_escaped(&not_found(HOSTILE, HOSTILE));
        assert_hostile_escaped(&page(HOSTILE, Nav::None, html! { p { (HOSTILE) } }));
    }
}
