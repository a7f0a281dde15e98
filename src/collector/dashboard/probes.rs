//! The probe results table of the overview and the node pages.

use crate::collector::store::ProbeRow;

/// A table of probe results (newest first as given), for the dashboard:
/// bilingual header, one row per probe ([`row_cells`]).
pub fn table(rows: &[ProbeRow]) -> String {
    let mut out = String::from(
        "<div class=\"scroll\"><table class=\"probes\">\n<tr><th>Thời điểm / Probed at</th><th>Nhà mạng / ISP</th><th>Nút / Node</th><th>Máy chủ DNS / Resolver</th><th>Bên thăm dò / Prober</th><th>Số hiệu / Serial</th><th>Nút báo / Node says</th><th>Kết luận / Verdict</th><th>DNS chặn / DNS blocked</th><th>Lý do / Reasons</th></tr>\n",
    );
    for p in rows {
        out.push_str("<tr>");
        out.push_str(&row_cells(p));
        out.push_str("</tr>\n");
    }
    out.push_str("</table></div>\n");
    out
}

/// A probe row's table cells, HTML-escaped, for the dashboard: probed at,
/// ISP, node, resolver, prober, list serial, serial seen, verdict, DNS
/// blocked/probed (failed), reasons. The verdict cell has class
/// `compliant`, `not-compliant` or `no-verdict`.
pub fn row_cells(p: &ProbeRow) -> String {
    use crate::blockpage::template::escape;
    let cell = |s: &str| format!("<td>{}</td>", escape(s));
    let (class, verdict) = match p.compliant {
        Some(true) => ("compliant", "tuân thủ / compliant"),
        Some(false) => ("not-compliant", "không tuân thủ / not compliant"),
        None => ("no-verdict", "không kết luận / no verdict"),
    };
    let mut out = String::new();
    out.push_str(&cell(
        &p.probed_at.strftime("%Y-%m-%d %H:%M:%S UTC").to_string(),
    ));
    out.push_str(&cell(&p.isp_id));
    out.push_str(&cell(p.node_id.as_deref().unwrap_or("–")));
    out.push_str(&cell(&p.resolver));
    out.push_str(&cell(&p.prober_id));
    out.push_str(&format!("<td class=\"n\">{}</td>", p.list_serial));
    out.push_str(&format!(
        "<td class=\"n\">{}</td>",
        p.serial_seen
            .map_or_else(|| "–".to_owned(), |s| s.to_string())
    ));
    out.push_str(&format!("<td class=\"{class}\">{}</td>", escape(verdict)));
    out.push_str(&format!(
        "<td class=\"n\">{}/{} ({} failed)</td>",
        p.dns.blocked, p.dns.probed, p.dns.failed
    ));
    out.push_str(&cell(&p.reasons.join("; ")));
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::probe::result::tests::sample;

    #[test]
    fn cells_are_escaped() {
        let r = sample("p1", "isp", "2026-11-29T18:00:00Z");
        let row = ProbeRow {
            probe_id: r.probe_id.clone(),
            prober_id: "p1".into(),
            isp_id: "isp".into(),
            node_id: None,
            resolver: r.resolver.clone(),
            probed_at: r.probed_at,
            received_at: r.probed_at,
            list_id: "l".into(),
            list_serial: 2,
            serial_seen: None,
            compliant: Some(false),
            reasons: vec!["<script>x</script> & more".into()],
            dns: crate::collector::store::ProbeCounts {
                probed: 5,
                blocked: 4,
                failed: 1,
            },
            sni: None,
        };
        let html = row_cells(&row);
        assert!(
            html.contains("<td>&lt;script&gt;x&lt;/script&gt; &amp; more</td>"),
            "{html}"
        );
        assert!(!html.contains("<script>"), "{html}");
        assert!(html.contains("<td>2026-11-29 18:00:00 UTC</td>"), "{html}");
        assert!(html.contains("class=\"not-compliant\""), "{html}");
        assert!(html.contains("4/5 (1 failed)"), "{html}");
    }
}
