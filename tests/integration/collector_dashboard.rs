//! The collector's dashboard, API and export against real nodes: two
//! ISPs, three `ward serve` nodes, one held on an older serial, one that
//! reported and was then stopped (and so goes silent). The pages, the
//! JSON and the CSV must show exactly that; headless Chromium renders the
//! overview and a node page (screenshots in `target/test-artifacts/`).

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use ward::collector::sqlite::SqliteStore;
use ward::collector::store::Storage;

use crate::blockpage::{artifacts_dir, chromium, run_chromium, text_of};
use crate::collector::{WAIT, client, collector_every, demo_user, node, wait_for_db};
use crate::support::upstream::TestUpstream;
use crate::support::ward::Ward;

/// GET with the demo login; the status and the body.
async fn get(http: &reqwest::Client, url: &str) -> (u16, String, reqwest::header::HeaderMap) {
    let resp = http
        .get(url)
        .basic_auth("demo", Some("demo"))
        .send()
        .await
        .unwrap();
    let status = resp.status().as_u16();
    let headers = resp.headers().clone();
    (status, resp.text().await.unwrap(), headers)
}

/// Twelve queries for a listed adult name, from one client.
async fn ask_blocked(w: &Ward) {
    let sock = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
    sock.connect(w.dns).await.unwrap();
    for _ in 0..12 {
        let m =
            crate::support::client::query("blocked.test", hickory_proto::rr::RecordType::A, None);
        sock.send(&m.to_vec().unwrap()).await.unwrap();
        let mut buf = vec![0u8; 4096];
        tokio::time::timeout(Duration::from_secs(10), sock.recv(&mut buf))
            .await
            .expect("an answer")
            .unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_dashboard_api_and_export_show_two_isps_a_behind_and_a_stopped_node() {
    let up = TestUpstream::start().await;
    let dir = tempfile::tempdir().unwrap();
    let started = jiff::Timestamp::now();
    let registered = [
        ("isp-a", "n1", 51),
        ("isp-a", "n2", 52),
        ("isp-b", "n1", 53),
    ];
    // The nodes report every second; the collector expects one every 2 s,
    // so a node is silent after 6 s without one (the running nodes have a
    // sixfold margin).
    let c = collector_every(dir.path(), &registered, "2s", &demo_user());
    let ca = dir.path().join("ca.pem");
    let a1 = node(dir.path(), up.addr, &c, &ca, registered[0], 2);
    let a2 = node(dir.path(), up.addr, &c, &ca, registered[1], 2);
    let b1 = node(dir.path(), up.addr, &c, &ca, registered[2], 1);
    wait_for_db(&c, "two reports from every node", |s| {
        let rows = s.nodes().unwrap();
        rows.len() == 3 && rows.iter().all(|n| n.reports >= 2)
    });
    ask_blocked(&a1).await;

    // isp-a/n2 stops; wait until the collector calls it silent.
    drop(a2);
    let http = client(&ca);
    let base = c.url.replace("/v1/reports", "");
    let deadline = Instant::now() + WAIT;
    let states = loop {
        let (status, body, _) = get(&http, &format!("{base}/api/nodes")).await;
        assert_eq!(status, 200, "{body}");
        let json: serde_json::Value = serde_json::from_str(&body).unwrap();
        let states: Vec<(String, String, String)> = json
            .as_array()
            .unwrap()
            .iter()
            .map(|n| {
                (
                    format!(
                        "{}/{}",
                        n["isp_id"].as_str().unwrap(),
                        n["node_id"].as_str().unwrap()
                    ),
                    n["state"].as_str().unwrap().to_owned(),
                    n["list_serial"].to_string(),
                )
            })
            .collect();
        if states
            .iter()
            .any(|(id, s, _)| id == "isp-a/n2" && s == "silent")
        {
            break states;
        }
        assert!(
            Instant::now() < deadline,
            "isp-a/n2 never went silent: {states:?}\n{}",
            c.logs()
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    };
    let want = [
        ("isp-a/n1", "current", "2"),
        ("isp-a/n2", "silent", "2"),
        ("isp-b/n1", "behind", "1"),
    ]
    .map(|(a, b, c)| (a.to_owned(), b.to_owned(), c.to_owned()));
    assert_eq!(states, want);
    // The blocked queries have been reported (a report after them stored).
    let asked = jiff::Timestamp::now();
    wait_for_db(&c, "a report of isp-a/n1 after the queries", |s| {
        s.nodes()
            .unwrap()
            .iter()
            .any(|n| n.node_id == "n1" && n.isp_id == "isp-a" && n.last_window_end > asked)
    });

    // /api/overview.
    let (status, body, _) = get(&http, &format!("{base}/api/overview")).await;
    assert_eq!(status, 200, "{body}");
    let o: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(
        o["latest_serials"],
        serde_json::json!({"test-national": 2}),
        "{o:#}"
    );
    let isps = o["isps"].as_array().unwrap();
    let row = |i: usize| {
        let r = &isps[i];
        (
            r["isp_id"].as_str().unwrap().to_owned(),
            ["nodes", "current", "behind", "stale", "silent"].map(|k| r[k].as_u64().unwrap()),
            r["compliance_percent"].as_f64().unwrap(),
        )
    };
    assert_eq!(isps.len(), 2, "{o:#}");
    assert_eq!(row(0), ("isp-a".to_owned(), [2, 1, 0, 0, 1], 50.0));
    assert_eq!(row(1), ("isp-b".to_owned(), [1, 0, 1, 0, 0], 0.0));

    // The overview page.
    let (status, html, headers) = get(&http, &format!("{base}/")).await;
    assert_eq!(status, 200);
    assert!(
        headers["content-security-policy"]
            .to_str()
            .unwrap()
            .starts_with("default-src 'none'")
    );
    for want in [
        "<code>test-national</code>: số hiệu / serial <strong class=\"serial\">2</strong>",
        "<td><a href=\"#isp-isp-a\">isp-a</a></td><td class=\"n\">2</td><td class=\"n current\">1</td><td class=\"n behind\">0</td><td class=\"n stale\">0</td><td class=\"n silent\">1</td><td class=\"n\">50 %</td>",
        "<td><a href=\"#isp-isp-b\">isp-b</a></td><td class=\"n\">1</td><td class=\"n current\">0</td><td class=\"n behind\">1</td><td class=\"n stale\">0</td><td class=\"n silent\">0</td><td class=\"n\">0 %</td>",
        "<td><a href=\"/nodes/isp-a/n2\">n2</a></td><td class=\"silent\">Mất liên lạc / Silent</td><td class=\"n\">2</td>",
        "<td><a href=\"/nodes/isp-b/n1\">n1</a></td><td class=\"behind\">Phiên bản cũ / Behind</td><td class=\"n\">1</td>",
        "<a href=\"/lag\">",
        "<a href=\"/export\">",
        "hotline 111",
    ] {
        assert!(html.contains(want), "{want}\nin\n{html}");
    }

    // The node pages: the one held behind, and the one with blocked counts.
    let (status, html, _) = get(&http, &format!("{base}/nodes/isp-b/n1")).await;
    assert_eq!(status, 200, "{html}");
    for want in [
        "<dd class=\"behind\">Phiên bản cũ / Behind</dd>",
        "<code>test-national</code>, số hiệu / serial <strong>1</strong> (mới nhất / latest: 2)",
        "csam (bảo mật / confidential)",
        "class=\"below\"",
        "No probe results yet",
    ] {
        assert!(html.contains(want), "{want}\nin\n{html}");
    }
    // Every category of the list, one chart row each.
    assert_eq!(html.matches("<g class=\"series\">").count(), 4, "{html}");
    let (_, html, _) = get(&http, &format!("{base}/nodes/isp-a/n1?hours=1")).await;
    assert!(
        html.contains("<dd class=\"current\">Mới nhất / Current</dd>"),
        "{html}"
    );
    assert!(
        html.contains("fill=\"#0072B2\"><title>adult: "),
        "an adult bar: {html}"
    );
    assert!(!html.contains("<script"));
    let (_, html, _) = get(&http, &format!("{base}/nodes/isp-a/n2")).await;
    assert!(
        html.contains("<dd class=\"silent\">Mất liên lạc / Silent</dd>"),
        "{html}"
    );
    let (status, html, _) = get(&http, &format!("{base}/nodes/isp-c/%3Cn9%3E")).await;
    assert_eq!(status, 404);
    assert!(
        html.contains("<code>isp-c</code> / <code>&lt;n9&gt;</code>"),
        "{html}"
    );
    let (status, body, _) = get(&http, &format!("{base}/nodes/isp-a/n1?from=yesterday")).await;
    assert_eq!(status, 400);
    assert!(
        body.contains("from=\"yesterday\" is not an RFC 3339 time"),
        "{body}"
    );
    let unauthorized = http
        .get(format!("{base}/nodes/isp-a/n1"))
        .send()
        .await
        .unwrap();
    assert_eq!(unauthorized.status().as_u16(), 401);

    // /api/nodes/{isp}/{node}: the windows with their counts.
    let (status, body, _) = get(&http, &format!("{base}/api/nodes/isp-b/n1")).await;
    assert_eq!(status, 200, "{body}");
    let n: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(
        (n["state"].as_str(), n["list_serial"].as_u64()),
        (Some("behind"), Some(1))
    );
    assert!(
        n["activation_lag_seconds"].as_f64().unwrap() >= 0.0,
        "{n:#}"
    );
    let windows = n["windows"].as_array().unwrap();
    assert!(windows.len() >= 2, "{n:#}");
    for w in windows {
        assert_eq!(w["list_serial"], 1, "{w}");
        // Four categories, three channels.
        assert_eq!(w["blocked"].as_array().unwrap().len(), 12, "{w}");
    }
    let (status, _, _) = get(&http, &format!("{base}/api/nodes/isp-b/zz")).await;
    assert_eq!(status, 404);

    // The lag page: serial 2 on two nodes, serial 1 on one.
    let (status, html, _) = get(&http, &format!("{base}/lag")).await;
    assert_eq!(status, 200);
    assert!(
        html.contains(
            "<tr><td><code>test-national</code></td><td class=\"n\">2</td><td class=\"n\">2</td>"
        ),
        "{html}"
    );
    assert!(
        html.contains(
            "<tr><td><code>test-national</code></td><td class=\"n\">1</td><td class=\"n\">1</td>"
        ),
        "{html}"
    );
    assert_eq!(html.matches("class=\"hbar\"").count(), 6, "{html}");

    // The export: every stored window, one row per category and channel.
    let to = jiff::Timestamp::now() + jiff::SignedDuration::from_mins(1);
    let from = started - jiff::SignedDuration::from_mins(1);
    let resp = http
        // jiff writes UTC as `Z`: nothing to percent-encode.
        .get(format!("{base}/export.csv?from={from}&to={to}"))
        .basic_auth("demo", Some("demo"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 200);
    assert!(
        resp.headers()["content-disposition"]
            .to_str()
            .unwrap()
            .starts_with("attachment; filename=\"ward-export-")
    );
    let csv = resp.text().await.unwrap();
    let store = SqliteStore::open(&c.db).unwrap();
    let mut lines = csv.split("\r\n");
    assert_eq!(
        lines.next(),
        Some(
            "isp_id,node_id,report_id,window_start,window_end,received_at,list_id,list_serial,list_stale,queries_total,category,channel,count,below_min_count,flags"
        )
    );
    let mut ids: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    let mut adult_exact: Vec<u64> = Vec::new();
    let mut rows = 0;
    for line in lines.filter(|l| !l.is_empty()) {
        let f: Vec<&str> = line.split(',').collect();
        assert_eq!(f.len(), 15, "{line}");
        rows += 1;
        ids.entry(format!("{}/{}", f[0], f[1]))
            .or_default()
            .insert(f[2].to_owned());
        let serial = if f[0] == "isp-b" { "1" } else { "2" };
        assert_eq!((f[6], f[7]), ("test-national", serial), "{line}");
        // Exactly one of count and below_min_count.
        assert!(f[12].is_empty() != f[13].is_empty(), "{line}");
        if f[12].is_empty() {
            assert_eq!(f[13], "5", "{line}");
        }
        if (f[0], f[1], f[10], f[11]) == ("isp-a", "n1", "adult", "dns") && !f[12].is_empty() {
            adult_exact.push(f[12].parse().unwrap());
        }
    }
    let stored = store.nodes().unwrap();
    for n in &stored {
        let key = format!("{}/{}", n.isp_id, n.node_id);
        assert_eq!(
            ids[&key].len() as u64,
            n.reports,
            "{key}: every stored window"
        );
    }
    assert_eq!(ids.len(), 3);
    assert_eq!(rows as u64, store.report_count().unwrap() * 12);
    // 12 blocked queries, in at most two one-second windows: at least one
    // count is exact, and the exact ones never add up to more than 12.
    assert!(!adult_exact.is_empty(), "{csv}");
    assert!(adult_exact.iter().sum::<u64>() <= 12, "{adult_exact:?}");
    for (query, want) in [
        ("", "both from= and to= are required"),
        (
            "?from=2026-11-02T00:00:00Z&to=2026-11-01T00:00:00Z",
            "empty or inverted",
        ),
        (
            "?from=x&to=2026-11-01T00:00:00Z",
            "from=\"x\" is not an RFC 3339 time",
        ),
    ] {
        let (status, body, _) = get(&http, &format!("{base}/export.csv{query}")).await;
        assert_eq!(status, 400, "{query}");
        assert!(body.contains(want), "{body}");
    }

    // The annual report of this year.
    let year = jiff::Timestamp::now()
        .to_zoned_datetime(jiff::tz::TimeZone::UTC)
        .year();
    let (status, html, _) = get(&http, &format!("{base}/report?year={year}")).await;
    assert_eq!(status, 200, "{html}");
    assert!(html.contains(&format!("Annual evaluation report {year}")));
    assert!(html.contains("What the numbers mean"));
    let (status, csv, headers) = get(&http, &format!("{base}/report.csv?year={year}")).await;
    assert_eq!(status, 200, "{csv}");
    assert!(
        headers["content-disposition"]
            .to_str()
            .unwrap()
            .contains("ward-annual-")
    );
    let isp_rows: Vec<Vec<&str>> = csv
        .lines()
        .skip(1)
        .map(|l| l.split(',').collect())
        .collect();
    // Per ISP and category: four categories each.
    assert_eq!(isp_rows.len(), 8, "{csv}");
    for r in &isp_rows {
        let (registered, reporting) = if r[1] == "isp-a" {
            ("2", "2")
        } else {
            ("1", "1")
        };
        assert_eq!((r[2], r[3]), (registered, reporting), "{r:?}");
        if r[1] == "isp-b" {
            // Never on the latest serial.
            assert_eq!(r[5], "0.000", "{r:?}");
        }
        if r[1] == "isp-a" {
            // The stopped node's silence so far.
            assert!(r[10].parse::<u64>().unwrap() >= 1, "{r:?}");
        }
    }
    let (status, _, _) = get(&http, &format!("{base}/report?year=1999")).await;
    assert_eq!(status, 400);

    browser(&base).await;
    drop((a1, b1));
    let logs = c.logs();
    assert!(!logs.contains("ERROR"), "{logs}");
}

/// Headless Chromium: the overview and a node page, authenticated with
/// the credentials in the URL (Chromium turns them into the basic-auth
/// header of a top-level navigation); the collector's test certificate is
/// not in Chromium's store, so certificate errors are ignored here.
async fn browser(base: &str) {
    let Some(bin) = chromium() else {
        assert!(
            std::env::var("WARD_REQUIRE_CHROMIUM").as_deref() != Ok("1"),
            "WARD_REQUIRE_CHROMIUM=1 but chromium is not installed (apt-get install -y chromium)"
        );
        eprintln!(
            "SKIPPED: chromium not installed; set WARD_REQUIRE_CHROMIUM=1 to make this a failure"
        );
        return;
    };
    let with_login = base.replace("https://", "https://demo:demo@");
    let insecure = "--ignore-certificate-errors".to_owned();
    let dump = [insecure.clone(), "--dump-dom".to_owned()];

    // Without the login: the 401 (headless Chromium cannot answer its
    // login prompt and shows nothing), so the login below is what lets it
    // in.
    let dom = run_chromium(bin, "vi", &dump, &format!("{base}/")).await;
    assert!(
        !dom.contains("Tổng quan tuân thủ") && !dom.contains("isp-a"),
        "{dom}"
    );

    let dom = run_chromium(bin, "vi", &dump, &format!("{with_login}/")).await;
    let text = text_of(&dom);
    for want in [
        "Tổng quan tuân thủ / Compliance overview",
        "test-national : số hiệu / serial 2",
        "isp-a n2 Mất liên lạc / Silent 2",
        "isp-b n1 Phiên bản cũ / Behind 1",
        "Tổng đài quốc gia bảo vệ trẻ em 111",
    ] {
        assert!(text.contains(want), "{want}\nin\n{text}");
    }
    assert!(!dom.to_ascii_lowercase().contains("<script"));
    let dom = run_chromium(bin, "vi", &dump, &format!("{with_login}/nodes/isp-b/n1")).await;
    let text = text_of(&dom);
    for want in [
        "Phiên bản cũ / Behind",
        "serial 1 (mới nhất / latest: 2)",
        "csam (bảo mật / confidential)",
        "Tổng đài quốc gia bảo vệ trẻ em 111",
    ] {
        assert!(text.contains(want), "{want}\nin\n{text}");
    }
    assert!(dom.contains("<svg"), "the chart is rendered: {dom}");

    let year = jiff::Timestamp::now()
        .to_zoned_datetime(jiff::tz::TimeZone::UTC)
        .year();
    let report = format!("/report?year={year}");
    let dir = artifacts_dir();
    for (name, path, size) in [
        ("collector-overview-desktop.png", "/", "1280,1000"),
        ("collector-overview-phone.png", "/", "412,1400"),
        (
            "collector-node-desktop.png",
            "/nodes/isp-a/n1?hours=1",
            "1280,1600",
        ),
        ("collector-node-phone.png", "/nodes/isp-b/n1", "412,2000"),
        ("collector-lag-desktop.png", "/lag", "1280,800"),
        ("collector-report-desktop.png", report.as_str(), "1280,1300"),
        ("collector-export-phone.png", "/export", "412,900"),
    ] {
        let file = dir.join(name);
        let _ = std::fs::remove_file(&file);
        let args = [
            insecure.clone(),
            format!("--screenshot={}", file.display()),
            format!("--window-size={size}"),
        ];
        run_chromium(bin, "vi", &args, &format!("{with_login}{path}")).await;
        let png = std::fs::read(&file).unwrap_or_default();
        assert!(
            png.starts_with(b"\x89PNG"),
            "no screenshot at {}",
            file.display()
        );
        eprintln!("screenshot: {}", file.display());
    }
}
