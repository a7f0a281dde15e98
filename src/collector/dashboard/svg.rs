//! Inline SVG bar charts (pure): drawn on the server, no script, no font
//! or image to load. Every chart has a `<title>` and every bar its number
//! in a `<title>`; the pages put a table of the same numbers below.

use maud::{Markup, html};

use super::CountSum;

/// Colour-blind-safe (Okabe–Ito, without the yellow that vanishes on
/// white), dark enough for white text nowhere and visible on white.
const PALETTE: [&str; 7] = [
    "#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00", "#000000",
];
/// Confidential categories: neutral grey.
pub const CONFIDENTIAL_COLOUR: &str = "#6B6B6B";

/// The fixed colour of a category: the same on every page and every day
/// (common names have their own; others by a hash of the name).
pub fn colour(category: &str, confidential: bool) -> &'static str {
    if confidential {
        return CONFIDENTIAL_COLOUR;
    }
    let i = match category {
        "adult" => 0,
        "gambling" => 1,
        "malware" | "phishing" => 2,
        "drugs" => 3,
        "ads" => 4,
        "violence" => 5,
        _ => {
            // FNV-1a: stable across builds, unlike the std hasher.
            let h = category.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| {
                (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
            });
            // The modulus is below 7: the cast cannot truncate.
            (h % PALETTE.len() as u64) as usize
        }
    };
    PALETTE[i]
}

/// One category's row of the chart.
#[derive(Debug, Clone)]
pub struct Series {
    /// Shown as text beside the row (escaped by the template).
    pub label: String,
    pub colour: &'static str,
    /// One per bucket.
    pub points: Vec<CountSum>,
}

const WIDTH: f64 = 760.0;
const LEFT: f64 = 180.0;
const RIGHT: f64 = 70.0;
const ROW: f64 = 60.0;
const BAR_AREA: f64 = 40.0;
const AXIS: f64 = 26.0;
/// Height of the dashed mark of suppressed counts.
const MARK: f64 = 5.0;

/// A coordinate with one decimal, as the charts write them.
fn f1(v: f64) -> String {
    format!("{v:.1}")
}

/// Small multiples: one row per series, a bar per bucket scaled to the
/// row's own maximum (written at the right), a dashed outline on top of a
/// bar where counts below `min_count` were suppressed in that bucket (its
/// true total is higher by an unknown amount). `axis` labels buckets by
/// index along the bottom.
pub fn small_multiples(
    title: &str,
    buckets: usize,
    axis: &[(usize, String)],
    series: &[Series],
) -> Markup {
    let height = ROW * series.len() as f64 + AXIS + 4.0;
    let plot = WIDTH - LEFT - RIGHT;
    let step = if buckets == 0 {
        plot
    } else {
        plot / buckets as f64
    };
    let axis_y = ROW * series.len() as f64 + 18.0;
    html! {
        svg viewBox=(format!("0 0 {WIDTH} {height}")) width=(WIDTH.to_string()) height=(height.to_string())
            role="img" aria-label=(title) font-family="system-ui,sans-serif" font-size="13" {
            title { (title) }
            @for (row, series) in series.iter().enumerate() {
                (series_row(series, ROW * row as f64 + 4.0, step))
            }
            @for (i, text) in axis {
                @let x = f1(LEFT + step * *i as f64);
                line x1=(x) y1=(f1(axis_y - 16.0)) x2=(x) y2=(f1(axis_y - 11.0)) stroke="#999" {}
                text x=(x) y=(f1(axis_y)) text-anchor="middle" fill="#333" { (text) }
            }
        }
    }
}

/// One series of [`small_multiples`]: its label, maximum, baseline and
/// bars, `top` down the chart.
fn series_row(series: &Series, top: f64, step: f64) -> Markup {
    let bar = (step * 0.8).max(1.0);
    let base = top + BAR_AREA + MARK + 2.0;
    let max = series.points.iter().map(|p| p.exact).max().unwrap_or(0);
    let ty = f1(top + 25.0);
    let label = &series.label;
    html! {
        g.series {
            rect x="2" y=(f1(top + 14.0)) width="12" height="12" fill=(series.colour) {}
            text x="20" y=(ty) { (label) }
            text x=(f1(WIDTH - RIGHT + 6.0)) y=(ty) fill="#444" { "max " (max) }
            line x1=(LEFT.to_string()) y1=(f1(base)) x2=(f1(WIDTH - RIGHT)) y2=(f1(base)) stroke="#999" {}
            @for (i, p) in series.points.iter().enumerate() {
                @let x = f1(LEFT + step * i as f64 + (step - bar) / 2.0);
                // Counts are far below 2^52: exact in f64.
                @let h = if max == 0 { 0.0 } else { BAR_AREA * p.exact as f64 / max as f64 };
                @if p.exact > 0 {
                    rect.bar x=(x) y=(f1(base - h)) width=(f1(bar)) height=(f1(h)) fill=(series.colour) {
                        title { (label) ": " (p.exact) }
                    }
                }
                @if p.is_lower_bound() {
                    rect.below x=(x) y=(f1(base - h - MARK - 1.0)) width=(f1(bar)) height=(MARK.to_string())
                        fill="none" stroke=(series.colour) stroke-width="1.2" stroke-dasharray="2 1.5" {
                        title { (label) ": " (p) }
                    }
                }
            }
        }
    }
}

/// One bar of [`hbars`]: its name, value and colour.
pub type HBar<'a> = (&'a str, f64, &'a str);

/// Horizontal bars, one group per row: each value a bar on a common
/// scale, its number written after it. `rows`: label, then (name, value,
/// colour) per bar.
pub fn hbars(title: &str, unit: &str, rows: &[(String, Vec<HBar<'_>>)]) -> Markup {
    const BAR: f64 = 14.0;
    let max = rows
        .iter()
        .flat_map(|(_, bars)| bars.iter().map(|b| b.1))
        .fold(0.0_f64, f64::max);
    let group = |n: usize| n as f64 * (BAR + 3.0) + 12.0;
    let height = format!(
        "{:.0}",
        rows.iter().map(|(_, b)| group(b.len())).sum::<f64>() + 4.0
    );
    let plot = WIDTH - LEFT - RIGHT - 40.0;
    // Each group's top: 4, then each group below the previous one.
    let tops = rows.iter().scan(4.0, |y, (_, bars)| {
        let top = *y;
        *y += group(bars.len());
        Some(top)
    });
    html! {
        svg viewBox=(format!("0 0 {WIDTH} {height}")) width=(WIDTH.to_string()) height=(height)
            role="img" aria-label=(title) font-family="system-ui,sans-serif" font-size="12" {
            title { (title) }
            @for ((label, bars), top) in rows.iter().zip(tops) {
                text x="2" y=(f1(top + BAR)) { (label) }
                @for (j, (name, value, colour)) in bars.iter().enumerate() {
                    @let y = top + j as f64 * (BAR + 3.0);
                    @let w = if max > 0.0 { plot * value / max } else { 0.0 };
                    @let v = super::amount(*value);
                    rect.hbar x=(LEFT.to_string()) y=(f1(y)) width=(f1(w)) height=(BAR.to_string()) fill=(colour) {
                        title { (name) ": " (v) " " (unit) }
                    }
                    text x=(f1(LEFT + w + 4.0)) y=(f1(y + BAR - 3.0)) fill="#333" { (name) " " (v) " " (unit) }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sum(exact: u64, suppressed: u64) -> CountSum {
        CountSum {
            exact,
            suppressed,
            below: if suppressed > 0 { 5 } else { 0 },
        }
    }

    #[test]
    fn bars_for_counts_dashed_marks_for_suppressed_and_escaped_labels() {
        let series = [
            Series {
                label: "adult<x>".into(),
                colour: colour("adult", false),
                points: vec![sum(10, 0), sum(0, 0), sum(5, 1), sum(0, 2)],
            },
            Series {
                label: "csam".into(),
                colour: colour("csam", true),
                points: vec![sum(0, 1), sum(0, 0), sum(0, 0), sum(0, 0)],
            },
        ];
        let svg = small_multiples("t & u", 4, &[(0, "18:00".into())], &series).into_string();
        assert_eq!(svg.matches("class=\"bar\"").count(), 2, "{svg}");
        assert_eq!(svg.matches("class=\"below\"").count(), 3, "{svg}");
        // The tallest bar fills the row; 5 of 10 is half of it.
        assert!(
            svg.contains("height=\"40.0\" fill=\"#0072B2\"><title>adult&lt;x&gt;: 10</title>"),
            "{svg}"
        );
        assert!(
            svg.contains("height=\"20.0\" fill=\"#0072B2\"><title>adult&lt;x&gt;: 5</title>"),
            "{svg}"
        );
        assert!(
            svg.contains("<title>adult&lt;x&gt;: ≥ 0 (2 × &lt;5)</title>"),
            "{svg}"
        );
        assert!(svg.contains("fill=\"#6B6B6B\""), "confidential is grey");
        assert!(svg.contains("max 10") && svg.contains("max 0"));
        assert!(svg.contains("aria-label=\"t &amp; u\""));
        assert!(!svg.contains("<x>") && !svg.contains("<script"));
        // Inline SVG needs no namespace: no URL at all.
        assert!(!svg.contains("http"));
    }

    #[test]
    fn colours_are_fixed_and_distinct_for_common_categories() {
        let common = ["adult", "gambling", "malware", "drugs", "ads", "violence"];
        let colours: std::collections::BTreeSet<_> =
            common.iter().map(|c| colour(c, false)).collect();
        assert_eq!(colours.len(), common.len());
        assert_eq!(colour("x-new", false), colour("x-new", false));
        assert_eq!(colour("adult", true), CONFIDENTIAL_COLOUR);
    }

    #[test]
    fn hbars_scale_to_the_largest_value() {
        let svg = hbars(
            "lag",
            "s",
            &[("2".into(), vec![("p50", 1.0, "#000"), ("max", 4.0, "#111")])],
        )
        .into_string();
        assert_eq!(svg.matches("class=\"hbar\"").count(), 2);
        assert!(
            svg.contains("width=\"470.0\" height=\"14\" fill=\"#111\""),
            "{svg}"
        );
        assert!(svg.contains("width=\"117.5\""), "{svg}");
        assert!(svg.contains(">max 4.000 s</text>"), "{svg}");
    }
}
