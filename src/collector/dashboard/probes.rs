//! The probe results table of the overview and the node pages.

use maud::{Markup, html};

use crate::collector::store::ProbeRow;

/// A table of probe results (newest first as given), for the dashboard:
/// bilingual header, one row per probe ([`row_cells`]).
pub fn table(rows: &[ProbeRow]) -> Markup {
    html! {
        div.scroll {
            table.probes {
                tr {
                    th { "Thời điểm / Probed at" } th { "Nhà mạng / ISP" } th { "Nút / Node" }
                    th { "Máy chủ DNS / Resolver" } th { "Bên thăm dò / Prober" }
                    th { "Số hiệu / Serial" } th { "Nút báo / Node says" }
                    th { "Kết luận / Verdict" } th { "DNS chặn / DNS blocked" } th { "Lý do / Reasons" }
                }
                @for p in rows {
                    tr { (row_cells(p)) }
                }
            }
        }
    }
}

/// A probe row's table cells (escaped by the template): probed at, ISP, node, resolver, prober, list
/// serial, serial seen, verdict, DNS blocked/probed (failed), reasons. The
/// verdict cell has class `compliant`, `not-compliant` or `no-verdict`.
pub fn row_cells(p: &ProbeRow) -> Markup {
    let (class, verdict) = match p.compliant {
        Some(true) => ("compliant", "tuân thủ / compliant"),
        Some(false) => ("not-compliant", "không tuân thủ / not compliant"),
        None => ("no-verdict", "không kết luận / no verdict"),
    };
    html! {
        td { (p.probed_at.strftime("%Y-%m-%d %H:%M:%S UTC").to_string()) }
        td { (p.isp_id) }
        td { (p.node_id.as_deref().unwrap_or("–")) }
        td { (p.resolver) }
        td { (p.prober_id) }
        td.n { (p.list_serial) }
        td.n {
            @match p.serial_seen {
                Some(s) => { (s) }
                None => { "–" }
            }
        }
        td class=(class) { (verdict) }
        td.n { (p.dns.blocked) "/" (p.dns.probed) " (" (p.dns.failed) " failed)" }
        td { (p.reasons.join("; ")) }
    }
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
        let html = row_cells(&row).into_string();
        assert!(
            html.contains("<td>&lt;script&gt;x&lt;/script&gt; &amp; more</td>"),
            "{html}"
        );
        assert!(!html.contains("<script>"), "{html}");
        assert!(html.contains("<td>2026-11-29 18:00:00 UTC</td>"), "{html}");
        assert!(html.contains("class=\"not-compliant\""), "{html}");
        assert!(html.contains("4/5 (1 failed)"), "{html}");
    }

    #[test]
    fn hostile_probe_fields_come_out_escaped_in_the_table() {
        use crate::collector::dashboard::tests::{HOSTILE, assert_hostile_escaped};
        let r = sample("p1", "isp", "2026-11-29T18:00:00Z");
        let row = ProbeRow {
            probe_id: r.probe_id.clone(),
            prober_id: HOSTILE.into(),
            isp_id: HOSTILE.into(),
            node_id: Some(HOSTILE.into()),
            resolver: HOSTILE.into(),
            probed_at: r.probed_at,
            received_at: r.probed_at,
            list_id: HOSTILE.into(),
            list_serial: 2,
            serial_seen: Some(2),
            compliant: None,
            reasons: vec![HOSTILE.into()],
            dns: crate::collector::store::ProbeCounts {
                probed: 1,
                blocked: 1,
                failed: 0,
            },
            sni: None,
        };
        let html = table(std::slice::from_ref(&row)).into_string();
        assert_hostile_escaped(&html);
        let shown = "<td>&lt;script&gt;alert(1)&lt;/script&gt;&quot;x</td>";
        // ISP, node, resolver, prober, reasons.
        assert_eq!(html.matches(shown).count(), 5, "{html}");
        assert!(html.contains("<td class=\"no-verdict\">"), "{html}");
    }
}
