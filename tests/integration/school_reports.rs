//! A school node's reports end to end: a real `ward serve` with
//! `kind = "school"` and two profiles gets real `dig` queries from
//! 127.0.0.2 (primary, age 10) and 127.0.0.3 (secondary, age 15), reports
//! to a real `ward collector`, and the collector's schools view shows the
//! node, its profiles and ages, the serial of each list and the counts
//! per profile: in headless Chromium (asserted on the visible text) and
//! in the CSV export, parsed.

use std::collections::BTreeMap;

use ward::collector::sqlite::SqliteStore;
use ward::collector::store::Storage;

use crate::blockpage::{artifacts_dir, chromium, run_chromium, text_of};
use crate::collector::{client, collector_every, demo_user, node_key, wait_for_db};
use crate::report::assert_schema_valid;
use crate::schools::{dig, have_dig, write_age_list};
use crate::serve::{config, key};
use crate::support::upstream::TestUpstream;
use crate::support::ward::{TEST_LIST, Ward, write_list};

const PROFILES: &str = r#"
[[lists]]
name = "school"
source = "school.txt"

[[lists]]
name = "age"
file = "age.ward"
trusted_keys = ["age.pub"]

[[profile]]
name = "primary"
clients = ["127.0.0.2"]
age = 10
lists = ["school", "age"]

[[profile]]
name = "secondary"
clients = ["127.0.0.3"]
age = 15
lists = ["age"]
"#;

/// `n` times `name A`, as one dig command line.
fn times(name: &str, n: usize) -> Vec<&str> {
    std::iter::repeat_n([name, "A"], n).flatten().collect()
}

/// One CSV row of `/schools.csv`, by column name.
type Row = BTreeMap<String, String>;

/// Parses the schools CSV (RFC 4180, CRLF); none of this test's values
/// needs quoting, which the unit tests cover.
fn parse_csv(text: &str) -> Vec<Row> {
    let mut lines = text.split("\r\n").filter(|l| !l.is_empty());
    let header: Vec<&str> = lines.next().expect("a header").split(',').collect();
    lines
        .map(|l| {
            let fields: Vec<&str> = l.split(',').collect();
            assert_eq!(fields.len(), header.len(), "{l}");
            header
                .iter()
                .zip(fields)
                .map(|(h, f)| ((*h).to_owned(), f.to_owned()))
                .collect()
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_school_nodes_report_reaches_the_schools_view_and_its_csv() {
    if !have_dig() {
        return;
    }
    let up = TestUpstream::start_wildcard().await;
    let dir = tempfile::tempdir().unwrap();
    let c = collector_every(dir.path(), &[("moet", "thcs-1", 71)], "3s", &demo_user());
    let ca = dir.path().join("ca.pem");
    let home = dir.path().join("school");
    std::fs::create_dir_all(&home).unwrap();
    write_list(&home, &key(), 1, TEST_LIST);
    write_age_list(&home);
    std::fs::write(home.join("school.txt"), "games.test games\n").unwrap();
    ward::keys::write_pair(&home.join("node"), &node_key(71), true).unwrap();
    let cfg = format!(
        "{}{PROFILES}\n[report]\nisp_id = \"moet\"\nnode_id = \"thcs-1\"\nkey = \"node.key\"\nurl = \"{}\"\nca_file = {ca:?}\ninterval = \"3s\"\nspool_dir = \"spool\"\nkind = \"school\"\n",
        config(&[up.addr], "", ""),
        c.url
    );
    let w = Ward::start(&home, &cfg, true);

    // A window has just closed when its report is stored: the queries
    // then fall into one or two windows, so at least one count of 12 is
    // over min_count.
    wait_for_db(&c, "a first school report", |s| {
        s.schools().unwrap().len() == 1
    });
    let asked = [
        ("127.0.0.2", "games.test", 12, "EDE: 17 (Filtered)"),
        ("127.0.0.2", "www.social.test", 6, "EDE: 17 (Filtered)"),
        ("127.0.0.3", "forum.test", 12, "EDE: 17 (Filtered)"),
        ("127.0.0.3", "blocked.test", 6, "EDE: 16 (Censored)"),
        ("127.0.0.3", "www.social.test", 3, "status: NOERROR"),
        ("127.0.0.1", "blocked.test", 6, "EDE: 16 (Censored)"),
    ];
    for (source, name, n, want) in asked {
        let out = dig(&w, source, &times(name, n)).await;
        assert_eq!(out.matches(want).count(), n, "{source} {name}: {out}");
    }
    let after = jiff::Timestamp::now();
    wait_for_db(&c, "a school report after the queries", |s| {
        s.schools()
            .unwrap()
            .iter()
            .any(|n| n.last_window_end > after)
    });
    // No more reports from here on: the CSV and the page below must show
    // the same windows (a report arriving between them made the page's
    // sum differ from the CSV's).
    drop(w);

    // Every stored body is a valid school report, and holds no address.
    let store = SqliteStore::open(&c.db).unwrap();
    let windows = store
        .windows(&ward::collector::store::WindowQuery {
            isp_id: None,
            node_id: None,
            from: after - jiff::SignedDuration::from_hours(1),
            to: after + jiff::SignedDuration::from_hours(1),
        })
        .unwrap();
    assert!(windows.len() >= 2, "{windows:?}");
    for win in &windows {
        let body = store.report(&win.report_id).unwrap().unwrap().body;
        let json: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert_schema_valid(&json);
        assert_eq!(json["kind"], "school");
        let text = String::from_utf8(body).unwrap();
        for absent in ["127.0.0", "games.test", "forum.test", "social.test"] {
            assert!(!text.contains(absent), "{absent} in {text}");
        }
    }

    // The CSV: one row per profile, list, category and channel.
    let http = client(&ca);
    let base = c.url.replace("/v1/reports", "");
    let resp = http
        .get(format!("{base}/schools.csv?hours=1"))
        .basic_auth("demo", Some("demo"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 200);
    let disposition = resp.headers()["content-disposition"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(
        disposition.starts_with("attachment; filename=\"ward-schools-"),
        "{disposition}"
    );
    let csv = resp.text().await.unwrap();
    let rows = parse_csv(&csv);
    let cell = |profile: &str, list: &str, category: &str| -> &Row {
        rows.iter()
            .find(|r| r["profile"] == profile && r["list"] == list && r["category"] == category)
            .unwrap_or_else(|| panic!("no {profile}/{list}/{category} in\n{csv}"))
    };
    let exact = |r: &Row| r["blocked"].parse::<u64>().unwrap();
    for r in &rows {
        assert_eq!(
            (r["isp_id"].as_str(), r["node_id"].as_str()),
            ("moet", "thcs-1")
        );
        assert_eq!(r["channel"], "dns", "{r:?}");
        let age = if r["profile"] == "primary" {
            "10"
        } else {
            "15"
        };
        assert_eq!(r["age"], age, "{r:?}");
        let serial = match r["list"].as_str() {
            "national" => "1",
            "age" => "5",
            _ => r["list_serial"].as_str(),
        };
        assert_eq!(r["list_serial"], serial, "{r:?}");
        assert!(!r["list_serial"].is_empty(), "{r:?}");
        // Exactly what was asked, never more; suppressed cells apart.
        assert!(
            r["suppressed_cells"] == "0" || r["below_min_count"] == "5",
            "{r:?}"
        );
    }
    let games = cell("primary", "school", "games");
    assert!((6..=12).contains(&exact(games)), "{games:?}");
    let forum = cell("secondary", "age", "forum");
    assert!((6..=12).contains(&exact(forum)), "{forum:?}");
    assert!(exact(cell("primary", "age", "social")) <= 6);
    assert!(exact(cell("secondary", "national", "adult")) <= 6);
    assert_eq!(
        exact(cell("secondary", "age", "social")),
        0,
        "allowed at 15"
    );
    assert_eq!(exact(cell("primary", "national", "adult")), 0);
    // Confidential categories are rows like any other, by name only.
    cell("primary", "national", "csam");
    assert!(
        !rows
            .iter()
            .any(|r| r["profile"] == "secondary" && r["list"] == "school"),
        "secondary does not apply the school list:\n{csv}"
    );

    // The same login as the rest of the dashboard.
    for path in ["/schools", "/schools.csv"] {
        let status = http.get(format!("{base}{path}")).send().await.unwrap();
        assert_eq!(status.status().as_u16(), 401, "{path}");
    }
    let bad = http
        .get(format!("{base}/schools?hours=x"))
        .basic_auth("demo", Some("demo"))
        .send()
        .await
        .unwrap();
    assert_eq!(bad.status().as_u16(), 400);

    browser(&base, games).await;
    let logs = c.logs();
    assert!(!logs.contains("ERROR"), "{logs}");
    up.stop().await;
}

/// The schools view in headless Chromium, asserted on the visible text;
/// `games` is the CSV's row for primary's games, whose sum the page must
/// show the same way.
async fn browser(base: &str, games: &Row) {
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
    let dom = run_chromium(bin, "vi", &dump, &format!("{with_login}/schools?hours=1")).await;
    let text = text_of(&dom);
    let sum = match games["suppressed_cells"].as_str() {
        "0" => games["blocked"].clone(),
        n => format!("≥ {} ({n} × &lt;5)", games["blocked"]),
    };
    for want in [
        "Trường học / Schools",
        "moet / thcs-1",
        "primary (10 tuổi / age 10), secondary (15 tuổi / age 15)",
        "national test-national 1",
        "age moet-age 5",
        "Profile primary, age 10",
        "Profile secondary, age 15",
        &format!("school games {sum}"),
        "csam (bảo mật / confidential)",
        "Tải CSV / Download CSV",
        "Tổng đài quốc gia bảo vệ trẻ em 111",
    ] {
        assert!(text.contains(want), "{want}\nin\n{text}");
    }
    assert!(!dom.to_ascii_lowercase().contains("<script"));
    let file = artifacts_dir().join("collector-schools-desktop.png");
    let _ = std::fs::remove_file(&file);
    let args = [
        insecure,
        format!("--screenshot={}", file.display()),
        "--window-size=1280,1600".to_owned(),
    ];
    run_chromium(bin, "vi", &args, &format!("{with_login}/schools?hours=1")).await;
    let png = std::fs::read(&file).unwrap_or_default();
    assert!(
        png.starts_with(b"\x89PNG"),
        "no screenshot at {}",
        file.display()
    );
    eprintln!("screenshot: {}", file.display());
}
