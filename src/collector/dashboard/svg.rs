//! Inline SVG bar charts (pure): drawn on the server, no script, no font
//! or image to load. Every chart has a `<title>` and every bar its number
//! in a `<title>`; the pages put a table of the same numbers below.

use std::fmt::Write as _;

use super::{CountSum, escape};

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
    /// Shown as text beside the row (escaped here).
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
) -> String {
    let height = ROW * series.len() as f64 + AXIS + 4.0;
    let mut s = String::with_capacity(1024 + series.len() * buckets * 120);
    let _ = write!(
        s,
        "<svg viewBox=\"0 0 {WIDTH} {height}\" width=\"{WIDTH}\" height=\"{height}\" role=\"img\" aria-label=\"{t}\" font-family=\"system-ui,sans-serif\" font-size=\"13\"><title>{t}</title>",
        t = escape(title)
    );
    let plot = WIDTH - LEFT - RIGHT;
    let step = if buckets == 0 {
        plot
    } else {
        plot / buckets as f64
    };
    let bar = (step * 0.8).max(1.0);
    for (row, series) in series.iter().enumerate() {
        let top = ROW * row as f64 + 4.0;
        let base = top + BAR_AREA + MARK + 2.0;
        let max = series.points.iter().map(|p| p.exact).max().unwrap_or(0);
        let label = escape(&series.label);
        let _ = write!(
            s,
            "<g class=\"series\"><rect x=\"2\" y=\"{y:.1}\" width=\"12\" height=\"12\" fill=\"{c}\"/><text x=\"20\" y=\"{ty:.1}\">{label}</text>\
<text x=\"{mx:.1}\" y=\"{ty:.1}\" fill=\"#444\">max {max}</text>\
<line x1=\"{LEFT}\" y1=\"{base:.1}\" x2=\"{x2:.1}\" y2=\"{base:.1}\" stroke=\"#999\"/>",
            y = top + 14.0,
            ty = top + 25.0,
            c = series.colour,
            mx = WIDTH - RIGHT + 6.0,
            x2 = WIDTH - RIGHT,
        );
        for (i, p) in series.points.iter().enumerate() {
            let x = LEFT + step * i as f64 + (step - bar) / 2.0;
            // Counts are far below 2^52: exact in f64.
            let h = if max == 0 {
                0.0
            } else {
                BAR_AREA * p.exact as f64 / max as f64
            };
            if p.exact > 0 {
                let _ = write!(
                    s,
                    "<rect class=\"bar\" x=\"{x:.1}\" y=\"{:.1}\" width=\"{bar:.1}\" height=\"{h:.1}\" fill=\"{}\"><title>{label}: {}</title></rect>",
                    base - h,
                    series.colour,
                    p.exact
                );
            }
            if p.is_lower_bound() {
                let _ = write!(
                    s,
                    "<rect class=\"below\" x=\"{x:.1}\" y=\"{:.1}\" width=\"{bar:.1}\" height=\"{MARK}\" fill=\"none\" stroke=\"{}\" stroke-width=\"1.2\" stroke-dasharray=\"2 1.5\"><title>{label}: ≥ {} ({} × &lt;{})</title></rect>",
                    base - h - MARK - 1.0,
                    series.colour,
                    p.exact,
                    p.suppressed,
                    p.below
                );
            }
        }
        s.push_str("</g>");
    }
    let axis_y = ROW * series.len() as f64 + 18.0;
    for (i, text) in axis {
        let x = LEFT + step * *i as f64;
        let _ = write!(
            s,
            "<line x1=\"{x:.1}\" y1=\"{:.1}\" x2=\"{x:.1}\" y2=\"{:.1}\" stroke=\"#999\"/><text x=\"{x:.1}\" y=\"{axis_y:.1}\" text-anchor=\"middle\" fill=\"#333\">{}</text>",
            axis_y - 16.0,
            axis_y - 11.0,
            escape(text)
        );
    }
    s.push_str("</svg>");
    s
}

/// One bar of [`hbars`]: its name, value and colour.
pub type HBar<'a> = (&'a str, f64, &'a str);

/// Horizontal bars, one group per row: each value a bar on a common
/// scale, its number written after it. `rows`: label, then (name, value,
/// colour) per bar.
pub fn hbars(title: &str, unit: &str, rows: &[(String, Vec<HBar<'_>>)]) -> String {
    const BAR: f64 = 14.0;
    let max = rows
        .iter()
        .flat_map(|(_, bars)| bars.iter().map(|b| b.1))
        .fold(0.0_f64, f64::max);
    let group = |n: usize| n as f64 * (BAR + 3.0) + 12.0;
    let height: f64 = rows.iter().map(|(_, b)| group(b.len())).sum::<f64>() + 4.0;
    let mut s = String::new();
    let _ = write!(
        s,
        "<svg viewBox=\"0 0 {WIDTH} {height:.0}\" width=\"{WIDTH}\" height=\"{height:.0}\" role=\"img\" aria-label=\"{t}\" font-family=\"system-ui,sans-serif\" font-size=\"12\"><title>{t}</title>",
        t = escape(title)
    );
    let plot = WIDTH - LEFT - RIGHT - 40.0;
    let mut y = 4.0;
    for (label, bars) in rows {
        let _ = write!(
            s,
            "<text x=\"2\" y=\"{:.1}\">{}</text>",
            y + BAR,
            escape(label)
        );
        for (name, value, colour) in bars {
            let w = if max > 0.0 { plot * value / max } else { 0.0 };
            let _ = write!(
                s,
                "<rect class=\"hbar\" x=\"{LEFT}\" y=\"{y:.1}\" width=\"{w:.1}\" height=\"{BAR}\" fill=\"{colour}\"><title>{n}: {v} {unit}</title></rect><text x=\"{:.1}\" y=\"{:.1}\" fill=\"#333\">{n} {v} {unit}</text>",
                LEFT + w + 4.0,
                y + BAR - 3.0,
                v = super::amount(*value),
                n = escape(name),
                unit = escape(unit),
            );
            y += BAR + 3.0;
        }
        y += 12.0;
    }
    s.push_str("</svg>");
    s
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
        let svg = small_multiples("t & u", 4, &[(0, "18:00".into())], &series);
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
        );
        assert_eq!(svg.matches("class=\"hbar\"").count(), 2);
        assert!(
            svg.contains("width=\"470.0\" height=\"14\" fill=\"#111\""),
            "{svg}"
        );
        assert!(svg.contains("width=\"117.5\""), "{svg}");
        assert!(svg.contains(">max 4.000 s</text>"), "{svg}");
    }
}
