//! CSV (RFC 4180: comma-separated, CRLF line ends, a field quoted when it
//! holds a comma, quote, CR or LF, quotes doubled) and the rows of
//! `GET /export.csv`.

use crate::collector::store::{BlockedCount, WindowRow};

/// The columns of `GET /export.csv`, in order.
pub const EXPORT_COLUMNS: [&str; 15] = [
    "isp_id",
    "node_id",
    "report_id",
    "window_start",
    "window_end",
    "received_at",
    "list_id",
    "list_serial",
    "list_stale",
    "queries_total",
    "category",
    "channel",
    "count",
    "below_min_count",
    "flags",
];

/// Appends one field, quoted if it must be.
pub fn field(out: &mut String, text: &str) {
    if text.contains([',', '"', '\r', '\n']) {
        out.push('"');
        out.push_str(&text.replace('"', "\"\""));
        out.push('"');
    } else {
        out.push_str(text);
    }
}

/// Appends one record and its CRLF.
pub fn record<S: AsRef<str>>(out: &mut String, fields: &[S]) {
    for (i, f) in fields.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        field(out, f.as_ref());
    }
    out.push_str("\r\n");
}

/// The header line of the export.
pub fn export_header() -> String {
    let mut out = String::new();
    record(&mut out, &EXPORT_COLUMNS);
    out
}

/// The export's rows for one window: one per category and channel (a
/// window without any count gets one row with those columns empty, so
/// every stored window appears). `count` is the exact count, empty when
/// it was suppressed; `below_min_count` is then `n` of `"<n"`.
pub fn export_rows(out: &mut String, w: &WindowRow) {
    let fixed = [
        w.isp_id.clone(),
        w.node_id.clone(),
        w.report_id.clone(),
        w.window_start.to_string(),
        w.window_end.to_string(),
        w.received_at.to_string(),
        w.list_id.clone().unwrap_or_default(),
        w.list_serial.map(|s| s.to_string()).unwrap_or_default(),
        w.list_stale.to_string(),
        w.queries_total.to_string(),
    ];
    let flags: Vec<&str> = w.flags.iter().map(|f| f.as_str()).collect();
    let flags = flags.join(";");
    let mut row = |category: &str, channel: &str, count: String, below: String| {
        let mut fields: Vec<&str> = fixed.iter().map(String::as_str).collect();
        fields.extend([
            category,
            channel,
            count.as_str(),
            below.as_str(),
            flags.as_str(),
        ]);
        record(out, &fields);
    };
    if w.blocked.is_empty() {
        row("", "", String::new(), String::new());
    }
    for cell in &w.blocked {
        let (count, below) = match cell.count {
            BlockedCount::Exact(n) => (n.to_string(), String::new()),
            BlockedCount::Below(n) => (String::new(), n.to_string()),
        };
        row(&cell.category, &cell.channel, count, below);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::collector::store::WindowFlag;

    #[test]
    fn fields_are_quoted_only_when_they_must_be() {
        let mut out = String::new();
        record(
            &mut out,
            &["plain", "a,b", "say \"hi\"", "two\nlines", "", "cr\r"],
        );
        assert_eq!(
            out,
            "plain,\"a,b\",\"say \"\"hi\"\"\",\"two\nlines\",,\"cr\r\"\r\n"
        );
    }

    #[test]
    fn one_row_per_category_and_channel_suppressed_counts_apart() {
        let start: jiff::Timestamp = "2026-11-29T12:00:00Z".parse().unwrap();
        let mut w = crate::collector::dashboard::node::tests::window(
            "n,1",
            start,
            5,
            &[
                ("adult", "dns", BlockedCount::Exact(12)),
                ("adult", "sni", BlockedCount::Below(5)),
            ],
        );
        w.flags = vec![WindowFlag::Overlap, WindowFlag::Backwards];
        let mut out = export_header();
        export_rows(&mut out, &w);
        let lines: Vec<&str> = out.split("\r\n").collect();
        assert_eq!(lines[0], EXPORT_COLUMNS.join(","));
        assert_eq!(
            lines[1],
            "isp<a>,\"n,1\",\"r-n,1-2026-11-29T12:00:00Z\",2026-11-29T12:00:00Z,2026-11-29T12:05:00Z,2026-11-29T12:05:00Z,national,7,false,100,adult,dns,12,,overlap;backwards"
        );
        assert!(
            lines[2].ends_with(",adult,sni,,5,overlap;backwards"),
            "{}",
            lines[2]
        );
        assert_eq!(lines.len(), 4, "header, two rows, the empty rest");
        w.blocked.clear();
        let mut out = String::new();
        export_rows(&mut out, &w);
        assert!(out.ends_with(",100,,,,,overlap;backwards\r\n"), "{out}");
    }
}
