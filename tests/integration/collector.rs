//! `ward collector`, the real binary: real `ward serve` nodes report to it
//! over HTTPS (the test CA), and bad input is refused with a reason,
//! counted and never stored. The same on PostgreSQL when
//! `WARD_TEST_POSTGRES` names a test database (see
//! `collector::postgres::tests`).

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use ed25519_dalek::SigningKey;
use ward::collector::postgres::PostgresStore;
use ward::collector::sqlite::SqliteStore;
use ward::collector::store::Storage;
use ward::report::send::{self, SIGNATURE_HEADER};

use crate::serve::key;
use crate::support::collector::{Collector, PgSchema, off_runtime, postgres_url};
use crate::support::upstream::TestUpstream;
use crate::support::ward::{TEST_LIST, Ward, write_list};

/// Generous: these wait for a few one-second windows.
pub(crate) const WAIT: Duration = Duration::from_secs(60);

pub(crate) fn node_key(seed: u8) -> SigningKey {
    SigningKey::from_bytes(&[seed; 32])
}

/// Writes `dir/<name>.key` and `.pub` for `key`; returns the `.key` path.
fn write_key(dir: &Path, name: &str, key: &SigningKey) -> PathBuf {
    ward::keys::write_pair(&dir.join(name), key, true).unwrap();
    dir.join(format!("{name}.key"))
}

/// A registry of `(isp, node, key seed)` in `dir`; returns its path.
fn registry(dir: &Path, nodes: &[(&str, &str, u8)]) -> PathBuf {
    let mut text = String::new();
    for (isp, node, seed) in nodes {
        write_key(dir, &format!("{isp}-{node}"), &node_key(*seed));
        text.push_str(&format!(
            "[[node]]\nisp_id = \"{isp}\"\nnode_id = \"{node}\"\nkey = \"{isp}-{node}.pub\"\n\n"
        ));
    }
    let path = dir.join("registry.toml");
    std::fs::write(&path, text).unwrap();
    path
}

/// A collector in `dir` with the test CA's certificate (`dir/ca.pem`).
fn collector(dir: &Path, nodes: &[(&str, &str, u8)], extra: &str) -> Collector {
    collector_every(dir, nodes, "1m", extra)
}

/// [`collector`] expecting a report every `report_interval`.
pub(crate) fn collector_every(
    dir: &Path,
    nodes: &[(&str, &str, u8)],
    report_interval: &str,
    extra: &str,
) -> Collector {
    crate::support::https::make_tls(dir);
    registry(dir, nodes);
    Collector::start(
        dir,
        &format!(
            "listen = \"127.0.0.1:0\"\nregistry = \"registry.toml\"\nstorage = \"collector.db\"\n\
             report_interval = \"{report_interval}\"\n{extra}\n[tls]\ncert = \"server.pem\"\nkey = \"server.key\"\n"
        ),
    )
}

/// A `ward serve` node in its own directory under `dir`, enforcing list
/// `serial`, reporting every second to `c` as `isp`/`node` with key `seed`.
pub(crate) fn node(
    dir: &Path,
    upstream: SocketAddr,
    c: &Collector,
    ca: &Path,
    (isp, node, seed): (&str, &str, u8),
    serial: u64,
) -> Ward {
    let home = dir.join(format!("{isp}-{node}"));
    std::fs::create_dir_all(&home).unwrap();
    write_list(&home, &key(), serial, TEST_LIST);
    let node_key = write_key(&home, "node", &node_key(seed));
    let config = format!(
        r#"
[dns]
listen = ["127.0.0.1:0"]
upstreams = ["{upstream}"]

[list]
file = "list.ward"
trusted_keys = ["list.pub"]
state_dir = "state"

[admin]
listen = "off"

[report]
isp_id = "{isp}"
node_id = "{node}"
key = {node_key:?}
url = "{}"
ca_file = {ca:?}
interval = "1s"
spool_dir = "spool"
"#,
        c.url
    );
    Ward::start(&home, &config, false)
}

/// Polls the collector's database until `done` holds.
pub(crate) fn wait_for_db(c: &Collector, what: &str, mut done: impl FnMut(&SqliteStore) -> bool) {
    let deadline = Instant::now() + WAIT;
    let store = SqliteStore::open(&c.db).unwrap();
    while !done(&store) {
        assert!(
            Instant::now() < deadline,
            "timed out waiting for {what}\ncollector logs:\n{}",
            c.logs()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nodes_of_two_isps_report_and_the_api_shows_their_states() {
    let up = TestUpstream::start().await;
    let dir = tempfile::tempdir().unwrap();
    // isp-b/n1 is held on serial 1 while the others run serial 2; isp-b/n2
    // is registered but never starts.
    let running = [
        (("isp-a", "n1", 11), 2),
        (("isp-a", "n2", 12), 2),
        (("isp-b", "n1", 13), 1),
    ];
    let registered = [
        ("isp-a", "n1", 11),
        ("isp-a", "n2", 12),
        ("isp-b", "n1", 13),
        ("isp-b", "n2", 14),
    ];
    let c = collector(dir.path(), &registered, &demo_user());
    let ca = dir.path().join("ca.pem");
    let wards: Vec<Ward> = running
        .iter()
        .map(|(n, serial)| node(dir.path(), up.addr, &c, &ca, *n, *serial))
        .collect();
    wait_for_db(&c, "two reports from every running node", |s| {
        let rows = s.nodes().unwrap();
        rows.len() == 3 && rows.iter().all(|n| n.reports >= 2)
    });

    let http = client(&ca);
    let api = c.url.replace("/v1/reports", "/api/nodes");
    let resp = http.get(&api).send().await.unwrap();
    assert_eq!(resp.status().as_u16(), 401);
    assert!(resp.headers().contains_key("www-authenticate"));
    let resp = http
        .get(&api)
        .basic_auth("demo", Some("wrong"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 401);
    let resp = http
        .get(&api)
        .basic_auth("demo", Some("demo"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 200);
    let json: serde_json::Value = serde_json::from_str(&resp.text().await.unwrap()).unwrap();
    let got: Vec<(String, String, String, serde_json::Value)> = json
        .as_array()
        .unwrap()
        .iter()
        .map(|n| {
            (
                n["isp_id"].as_str().unwrap().to_owned(),
                n["node_id"].as_str().unwrap().to_owned(),
                n["state"].as_str().unwrap().to_owned(),
                n["list_serial"].clone(),
            )
        })
        .collect();
    let want = [
        ("isp-a", "n1", "current", serde_json::json!(2)),
        ("isp-a", "n2", "current", serde_json::json!(2)),
        ("isp-b", "n1", "behind", serde_json::json!(1)),
        ("isp-b", "n2", "silent", serde_json::Value::Null),
    ]
    .map(|(i, n, s, l)| (i.to_owned(), n.to_owned(), s.to_owned(), l));
    assert_eq!(got, want, "{json:#}");
    for n in json.as_array().unwrap().iter().take(3) {
        assert!(n["last_report_at"].is_string(), "{n}");
    }

    // Activation lag: serial 2 went live on two nodes, serial 1 on one.
    let lag = http
        .get(c.url.replace("/v1/reports", "/api/lag"))
        .basic_auth("demo", Some("demo"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let lag: serde_json::Value = serde_json::from_str(&lag).unwrap();
    let got: Vec<(u64, u64)> = lag
        .as_array()
        .unwrap()
        .iter()
        .map(|l| (l["serial"].as_u64().unwrap(), l["nodes"].as_u64().unwrap()))
        .collect();
    assert_eq!(got, [(2, 2), (1, 1)], "{lag:#}");
    for l in lag.as_array().unwrap() {
        assert!(l["p50_seconds"].as_f64().unwrap() >= 0.0, "{l}");
        assert!(
            l["max_seconds"].as_f64().unwrap() >= l["p95_seconds"].as_f64().unwrap(),
            "{l}"
        );
    }

    // The overview page says the same (server-rendered, behind the login).
    let page = c.url.replace("/v1/reports", "/");
    assert_eq!(http.get(&page).send().await.unwrap().status().as_u16(), 401);
    let html = http
        .get(&page)
        .basic_auth("demo", Some("demo"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    for want in [
        "<code>test-national</code>: số hiệu / serial <strong class=\"serial\">2</strong>",
        "<td><a href=\"#isp-isp-a\">isp-a</a></td><td class=\"n\">2</td><td class=\"n current\">2</td><td class=\"n behind\">0</td><td class=\"n stale\">0</td><td class=\"n silent\">0</td><td class=\"n\">100 %</td>",
        "<td><a href=\"#isp-isp-b\">isp-b</a></td><td class=\"n\">2</td><td class=\"n current\">0</td><td class=\"n behind\">1</td><td class=\"n stale\">0</td><td class=\"n silent\">1</td><td class=\"n\">0 %</td>",
        "hotline 111",
    ] {
        assert!(html.contains(want), "{want}\nin\n{html}");
    }
    let metrics = http
        .get(c.url.replace("/v1/reports", "/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    for line in [
        "ward_collector_nodes{state=\"current\"} 2\n",
        "ward_collector_nodes{state=\"behind\"} 1\n",
        "ward_collector_nodes{state=\"stale\"} 0\n",
        "ward_collector_nodes{state=\"silent\"} 1\n",
    ] {
        assert!(metrics.contains(line), "{line}in\n{metrics}");
    }

    drop(wards);
    let store = SqliteStore::open(&c.db).unwrap();
    let rows = store.nodes().unwrap();
    for n in &rows {
        assert_eq!(n.flagged, 0, "consecutive windows are not flagged: {n:?}");
        assert!(n.activated_at.is_some(), "{n:?}");
    }
    let total: u64 = rows.iter().map(|n| n.reports).sum();
    assert_eq!(store.report_count().unwrap(), total);
    let logs = c.logs();
    assert!(!logs.contains("report refused"), "{logs}");
    assert!(!logs.contains("ERROR"), "{logs}");
}

/// A `[[user]]` demo/demo for the collector config.
pub(crate) fn demo_user() -> String {
    use argon2::PasswordHasher;
    let hash = argon2::Argon2::default()
        .hash_password_with_salt(b"demo", b"collector-test-salt")
        .unwrap();
    format!("[[user]]\nname = \"demo\"\npassword_hash = \"{hash}\"\n")
}

/// An HTTPS client trusting the test CA.
pub(crate) fn client(ca: &Path) -> reqwest::Client {
    ward::update::fetch::install_crypto();
    let mut b = reqwest::Client::builder().https_only(true);
    for cert in ward::update::fetch::read_ca_file(ca).unwrap() {
        b = b.add_root_certificate(cert);
    }
    b.build().unwrap()
}

/// POSTs `body` with `signature`; returns the status and the answer.
async fn post(
    c: &Collector,
    http: &reqwest::Client,
    signature: Option<&str>,
    body: Vec<u8>,
) -> (u16, String) {
    let mut req = http
        .post(&c.url)
        .header("content-type", "application/json")
        .body(body);
    if let Some(s) = signature {
        req = req.header(SIGNATURE_HEADER, s);
    }
    let resp = req.send().await.expect("the collector answers");
    let status = resp.status().as_u16();
    (status, resp.text().await.unwrap())
}

/// A valid report body of `isp`/`node` for the window starting at `start`.
fn report_body(isp: &str, node: &str, start: jiff::Timestamp) -> (String, Vec<u8>) {
    let w = ward::report::body::Window {
        isp_id: isp,
        node_id: node,
        start,
        end: start + jiff::SignedDuration::from_secs(60),
        node_started_at: start,
        config_digest: "00",
        min_count: 5,
        list: None,
        categories: ["adult".to_owned()].into(),
        activations: &[],
    };
    let r = ward::report::body::build(&w, &ward::metrics::CounterSnapshot::default());
    (r.report_id.clone(), r.to_bytes())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_input_is_refused_with_a_reason_counted_and_never_stored() {
    let dir = tempfile::tempdir().unwrap();
    let c = collector(dir.path(), &[("isp", "n1", 21)], "max_body = \"4KiB\"");
    let http = client(&dir.path().join("ca.pem"));
    let good = node_key(21);
    let start: jiff::Timestamp = "2026-11-29T18:00:00Z".parse().unwrap();
    let (id, body) = report_body("isp", "n1", start);

    // An unregistered key.
    let (status, text) = post(
        &c,
        &http,
        Some(&send::sign(&node_key(99), &body)),
        body.clone(),
    )
    .await;
    assert_eq!(status, 403, "{text}");
    assert!(text.contains("is not registered"), "{text}");

    // A tampered body.
    let sig = send::sign(&good, &body);
    let mut tampered = body.clone();
    let at = tampered.iter().position(|b| *b == b'0').unwrap();
    tampered[at] = b'1';
    let (status, text) = post(&c, &http, Some(&sig), tampered).await;
    assert_eq!(status, 403, "{text}");
    assert!(text.contains("does not match the body"), "{text}");

    // No signature at all.
    let (status, text) = post(&c, &http, None, body.clone()).await;
    assert_eq!(status, 403, "{text}");
    assert!(text.contains("no Ward-Signature"), "{text}");

    // Oversized (signed, so only the size is wrong).
    let mut big = body.clone();
    big.extend(std::iter::repeat_n(b' ', 5000));
    let (status, text) = post(&c, &http, Some(&send::sign(&good, &big)), big).await;
    assert_eq!(status, 413, "{text}");

    // Broken JSON, correctly signed.
    let broken = b"{\"format\": \"ward-compliance-report/1\", ".to_vec();
    let (status, text) = post(&c, &http, Some(&send::sign(&good, &broken)), broken).await;
    assert_eq!(status, 400, "{text}");
    assert!(text.contains("not JSON"), "{text}");

    // A good report, then the same again: acknowledged both times, stored once.
    let (status, text) = post(&c, &http, Some(&sig), body.clone()).await;
    assert_eq!((status, text.as_str()), (200, "stored\n"));
    let (status, text) = post(&c, &http, Some(&sig), body.clone()).await;
    assert_eq!(status, 200, "{text}");
    assert!(text.starts_with("duplicate"), "{text}");

    let store = SqliteStore::open(&c.db).unwrap();
    assert_eq!(store.report_count().unwrap(), 1);
    let stored = store.report(&id).unwrap().unwrap();
    assert_eq!(stored.body, body);

    let metrics = http
        .get(c.url.replace("/v1/reports", "/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    for (result, n) in [
        ("unknown_key", 1),
        ("bad_signature", 1),
        ("unsigned", 1),
        ("too_large", 1),
        ("invalid", 1),
        ("stored", 1),
        ("duplicate", 1),
        ("wrong_node", 0),
    ] {
        let line = format!("ward_collector_reports_total{{result=\"{result}\"}} {n}\n");
        assert!(metrics.contains(&line), "{line}in\n{metrics}");
    }
}

#[test]
fn a_bad_config_exits_64_naming_every_problem() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("c.toml"),
        "listen = \"x\"\nregistry = \"missing.toml\"\nstorage = \"postgres://ward:hunter2@db?sslmode=prefer\"\n",
    )
    .unwrap();
    let run = crate::util::ward(dir.path(), &["collector", "--config", "c.toml"]);
    assert_eq!(run.code, 64, "{run:?}");
    for want in [
        "c.toml:1: listen: invalid address",
        "missing.toml: cannot read config file",
        "c.toml:3: storage: sslmode=prefer falls back to plain text",
    ] {
        assert!(run.stderr.contains(want), "{want}\n{}", run.stderr);
    }
    assert!(!run.stderr.contains("hunter2"), "{}", run.stderr);
}

/// Four writers POST one distinct window of isp/n1 (key `seed`) after
/// another; once 200 are acknowledged the collector is killed (SIGKILL)
/// under them. Returns the ids of every acknowledged report.
async fn post_until_killed(
    c: &mut Collector,
    http: &reqwest::Client,
    seed: u8,
    base: jiff::Timestamp,
) -> Vec<String> {
    let acked = std::sync::Arc::new(std::sync::Mutex::new(Vec::<String>::new()));
    let mut writers = Vec::new();
    for w in 0..4i64 {
        let (http, url, acked) = (http.clone(), c.url.clone(), acked.clone());
        writers.push(tokio::spawn(async move {
            for i in 0..100_000i64 {
                let start = base + jiff::SignedDuration::from_mins(i * 4 + w);
                let (id, body) = report_body("isp", "n1", start);
                let sig = send::sign(&node_key(seed), &body);
                let sent = http
                    .post(&url)
                    .header(SIGNATURE_HEADER, sig)
                    .body(body)
                    .send()
                    .await;
                match sent {
                    Ok(r) if r.status().as_u16() == 200 => acked.lock().unwrap().push(id),
                    Ok(r) => panic!("unexpected answer {}", r.status()),
                    Err(_) => return,
                }
            }
        }));
    }
    let deadline = Instant::now() + WAIT;
    while acked.lock().unwrap().len() < 200 {
        assert!(Instant::now() < deadline, "too few reports acknowledged");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    c.kill();
    for w in writers {
        w.await.unwrap();
    }
    acked.lock().unwrap().clone()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_mid_ingest_loses_no_acknowledged_report() {
    let dir = tempfile::tempdir().unwrap();
    let mut c = collector(dir.path(), &[("isp", "n1", 31)], "");
    let http = client(&dir.path().join("ca.pem"));
    let base: jiff::Timestamp = "2026-11-29T00:00:00Z".parse().unwrap();
    let acked = post_until_killed(&mut c, &http, 31, base).await;
    let store = SqliteStore::open(&c.db).unwrap();
    for id in &acked {
        assert!(
            store.report(id).unwrap().is_some(),
            "report {id} was acknowledged but is not stored"
        );
    }
    let stored = store.report_count().unwrap();
    assert!(stored >= acked.len() as u64, "{stored} < {}", acked.len());
    drop(store);

    // The database survived: a restarted collector takes the next report.
    let config = std::fs::read_to_string(dir.path().join("collector.toml")).unwrap();
    let c = Collector::start(dir.path(), &config);
    let (_, body) = report_body("isp", "n1", base - jiff::SignedDuration::from_hours(1));
    let (status, text) = post(&c, &http, Some(&send::sign(&node_key(31), &body)), body).await;
    assert_eq!(status, 200, "{text}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sighup_reloads_the_registry_and_a_broken_one_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let c = collector(dir.path(), &[("isp", "n1", 41)], "");
    let http = client(&dir.path().join("ca.pem"));
    let start: jiff::Timestamp = "2026-11-29T18:00:00Z".parse().unwrap();
    let send_as = |node: &'static str, seed: u8| {
        let (_, body) = report_body("isp", node, start);
        (send::sign(&node_key(seed), &body), body)
    };

    let (sig, body) = send_as("n2", 42);
    let (status, text) = post(&c, &http, Some(&sig), body.clone()).await;
    assert_eq!(status, 403, "{text}");

    // n2 registered, then SIGHUP: accepted.
    registry(dir.path(), &[("isp", "n1", 41), ("isp", "n2", 42)]);
    c.hangup();
    c.wait_for_log("SIGHUP: registry reloaded", 1);
    let (status, text) = post(&c, &http, Some(&sig), body).await;
    assert_eq!((status, text.as_str()), (200, "stored\n"));

    // A broken registry is refused whole; the previous one stays.
    std::fs::write(dir.path().join("registry.toml"), "[[node]]\nisp_id = 1\n").unwrap();
    c.hangup();
    c.wait_for_log("has errors; keeping the previous one", 1);
    let (sig, body) = send_as("n1", 41);
    let (status, text) = post(&c, &http, Some(&sig), body).await;
    assert_eq!((status, text.as_str()), (200, "stored\n"));
}

/// `[published]`: the collector follows the list endpoint itself. A node
/// on serial 2 is `behind` once serial 3 is published, though no node
/// reports 3; a rollback on the endpoint is refused and serial 3 stays.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_published_serial_comes_from_the_list_endpoint() {
    use crate::support::https::ListServer;
    let up = TestUpstream::start().await;
    let dir = tempfile::tempdir().unwrap();
    let endpoint_dir = dir.path().join("endpoint");
    std::fs::create_dir_all(&endpoint_dir).unwrap();
    let endpoint = ListServer::start(&endpoint_dir).await;
    let published = |serial| {
        let opts = ward::list::BuildOptions {
            list_id: "test-national".into(),
            serial,
            issued_at: jiff::Timestamp::now(),
            expires_at: jiff::Timestamp::now() + jiff::SignedDuration::from_hours(24),
            confidential: Default::default(),
            min_age: Default::default(),
        };
        ward::list::build::build_from_str(TEST_LIST, &opts, &key())
            .unwrap()
            .0
    };
    endpoint.publish(published(3));
    std::fs::write(
        dir.path().join("ministry.pub"),
        ward::keys::public_file_text(&key().verifying_key()),
    )
    .unwrap();
    let extra = format!(
        "{}\n[published]\nurl = \"{}\"\nca_file = {:?}\ntrusted_keys = [\"ministry.pub\"]\npoll_interval = \"5s\"\n",
        demo_user(),
        endpoint.url,
        endpoint.ca_file,
    );
    let c = collector(dir.path(), &[("isp-a", "n1", 31)], &extra);
    c.wait_for_log("published list verified", 1);
    let ca = dir.path().join("ca.pem");
    let _node = node(dir.path(), up.addr, &c, &ca, ("isp-a", "n1", 31), 2);
    wait_for_db(&c, "a report", |s| {
        s.nodes().unwrap().first().is_some_and(|n| n.reports >= 1)
    });

    let http = client(&ca);
    let get = |path: &'static str| {
        let (http, url) = (http.clone(), c.url.replace("/v1/reports", path));
        async move {
            http.get(url)
                .basic_auth("demo", Some("demo"))
                .send()
                .await
                .unwrap()
                .text()
                .await
                .unwrap()
        }
    };
    let nodes: serde_json::Value = serde_json::from_str(&get("/api/nodes").await).unwrap();
    assert_eq!(nodes[0]["state"], "behind", "{nodes:#}");
    assert_eq!(nodes[0]["list_serial"], 2, "{nodes:#}");
    assert_eq!(nodes[0]["latest_serial"], 3, "{nodes:#}");
    let metrics = get("/metrics").await;
    for line in [
        "ward_collector_published_serial 3\n",
        "ward_collector_published_checks_total{result=\"new\"} 1\n",
        "ward_collector_nodes{state=\"behind\"} 1\n",
    ] {
        assert!(metrics.contains(line), "{line}in\n{metrics}");
    }

    // A rollback on the endpoint: refused at the next poll; 3 stays.
    endpoint.publish(published(1));
    c.wait_for_log("a rollback, refused", 1);
    let metrics = get("/metrics").await;
    assert!(
        metrics.contains("ward_collector_published_serial 3\n"),
        "{metrics}"
    );
    let nodes: serde_json::Value = serde_json::from_str(&get("/api/nodes").await).unwrap();
    assert_eq!(nodes[0]["latest_serial"], 3, "{nodes:#}");
}

/// A collector in `dir` storing into PostgreSQL at `url`.
fn pg_collector(dir: &Path, nodes: &[(&str, &str, u8)], url: &str, extra: &str) -> Collector {
    crate::support::https::make_tls(dir);
    registry(dir, nodes);
    Collector::start(
        dir,
        &format!(
            "listen = \"127.0.0.1:0\"\nregistry = \"registry.toml\"\nstorage = {url:?}\n\
             report_interval = \"1m\"\n{extra}\n[tls]\ncert = \"server.pem\"\nkey = \"server.key\"\n"
        ),
    )
}

/// Polls the PostgreSQL store at `url` until `done` holds.
fn wait_for_pg(
    c: &Collector,
    url: &str,
    what: &str,
    mut done: impl FnMut(&PostgresStore) -> bool + Send,
) {
    off_runtime(|| {
        let deadline = Instant::now() + WAIT;
        let store = PostgresStore::open(url).unwrap();
        while !done(&store) {
            assert!(
                Instant::now() < deadline,
                "timed out waiting for {what}\ncollector logs:\n{}",
                c.logs()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    });
}

/// The password of a `postgres://` URL, if any.
fn pg_password(url: &str) -> Option<String> {
    let config: postgres::Config = url.parse().unwrap();
    config
        .get_password()
        .map(|p| String::from_utf8_lossy(p).into_owned())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nodes_report_into_postgres_and_the_api_shows_their_states() {
    let Some(admin) = postgres_url() else { return };
    let schema = PgSchema::new(&admin);
    let up = TestUpstream::start().await;
    let dir = tempfile::tempdir().unwrap();
    // isp-b/n1 is held on serial 1; isp-b/n2 is registered, never started.
    let running = [(("isp-a", "n1", 51), 2), (("isp-b", "n1", 52), 1)];
    let registered = [
        ("isp-a", "n1", 51),
        ("isp-b", "n1", 52),
        ("isp-b", "n2", 53),
    ];
    let c = pg_collector(dir.path(), &registered, &schema.url, &demo_user());
    let ca = dir.path().join("ca.pem");
    let wards: Vec<Ward> = running
        .iter()
        .map(|(n, serial)| node(dir.path(), up.addr, &c, &ca, *n, *serial))
        .collect();
    wait_for_pg(
        &c,
        &schema.url,
        "two reports from every running node",
        |s| {
            let rows = s.nodes().unwrap();
            rows.len() == 2 && rows.iter().all(|n| n.reports >= 2)
        },
    );

    let http = client(&ca);
    let json: serde_json::Value = serde_json::from_str(
        &http
            .get(c.url.replace("/v1/reports", "/api/nodes"))
            .basic_auth("demo", Some("demo"))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap(),
    )
    .unwrap();
    let got: Vec<(&str, &str, &str)> = json
        .as_array()
        .unwrap()
        .iter()
        .map(|n| {
            (
                n["isp_id"].as_str().unwrap(),
                n["node_id"].as_str().unwrap(),
                n["state"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        got,
        [
            ("isp-a", "n1", "current"),
            ("isp-b", "n1", "behind"),
            ("isp-b", "n2", "silent")
        ],
        "{json:#}"
    );
    let lag: serde_json::Value = serde_json::from_str(
        &http
            .get(c.url.replace("/v1/reports", "/api/lag"))
            .basic_auth("demo", Some("demo"))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap(),
    )
    .unwrap();
    let serials: Vec<(u64, u64)> = lag
        .as_array()
        .unwrap()
        .iter()
        .map(|l| (l["serial"].as_u64().unwrap(), l["nodes"].as_u64().unwrap()))
        .collect();
    assert_eq!(serials, [(2, 1), (1, 1)], "{lag:#}");

    drop(wards);
    let url = schema.url.clone();
    let (rows, count) = off_runtime(|| {
        let store = PostgresStore::open(&url).unwrap();
        (store.nodes().unwrap(), store.report_count().unwrap())
    });
    for n in &rows {
        assert_eq!(n.flagged, 0, "consecutive windows are not flagged: {n:?}");
        assert!(n.activated_at.is_some(), "{n:?}");
    }
    assert_eq!(count, rows.iter().map(|n| n.reports).sum::<u64>());
    let logs = c.logs();
    assert!(logs.contains("PostgreSQL storage open"), "{logs}");
    assert!(!logs.contains("report refused"), "{logs}");
    assert!(!logs.contains("ERROR"), "{logs}");
    if let Some(pw) = pg_password(&admin) {
        assert!(
            !logs.contains(&format!(":{pw}@")),
            "the password is never logged: {logs}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_mid_ingest_loses_no_acknowledged_report_on_postgres() {
    let Some(admin) = postgres_url() else { return };
    let schema = PgSchema::new(&admin);
    let dir = tempfile::tempdir().unwrap();
    let mut c = pg_collector(dir.path(), &[("isp", "n1", 61)], &schema.url, "");
    let http = client(&dir.path().join("ca.pem"));
    let base: jiff::Timestamp = "2026-11-29T00:00:00Z".parse().unwrap();
    let acked = post_until_killed(&mut c, &http, 61, base).await;
    let url = schema.url.clone();
    let (missing, stored) = off_runtime(|| {
        let store = PostgresStore::open(&url).unwrap();
        let missing: Vec<String> = acked
            .iter()
            .filter(|id| store.report(id).unwrap().is_none())
            .cloned()
            .collect();
        (missing, store.report_count().unwrap())
    });
    assert!(
        missing.is_empty(),
        "acknowledged but not stored: {missing:?}"
    );
    assert!(stored >= acked.len() as u64, "{stored} < {}", acked.len());

    // A restarted collector takes the next report.
    let config = std::fs::read_to_string(dir.path().join("collector.toml")).unwrap();
    let c = Collector::start(dir.path(), &config);
    let (_, body) = report_body("isp", "n1", base - jiff::SignedDuration::from_hours(1));
    let (status, text) = post(&c, &http, Some(&send::sign(&node_key(61), &body)), body).await;
    assert_eq!(status, 200, "{text}");
}

#[test]
fn collector_check_shows_a_postgres_url_without_its_password() {
    let dir = tempfile::tempdir().unwrap();
    registry(dir.path(), &[("isp", "n1", 71)]);
    std::fs::write(
        dir.path().join("c.toml"),
        "registry = \"registry.toml\"\n\
         storage = \"postgres://ward:Secret-In-User@db.example/ward?password=Secret-In-Query&sslmode=disable\"\n",
    )
    .unwrap();
    // --check connects to nothing: db.example is never resolved.
    let run = crate::util::ward(dir.path(), &["collector", "--config", "c.toml", "--check"]);
    assert_eq!(run.code, 0, "{run:?}");
    assert!(
        run.stdout.contains(
            "PostgreSQL at postgres://ward:***@db.example/ward?password=***&sslmode=disable"
        ),
        "{run:?}"
    );
    assert!(!format!("{run:?}").contains("Secret-In"), "{run:?}");
}
