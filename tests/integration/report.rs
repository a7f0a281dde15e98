//! Compliance reports from the real `ward serve` to a real HTTPS collector
//! (tests/integration/support/receiver.rs): content and privacy, signature,
//! schema, delivery through outages, kill -9, a full spool, refusals.

use std::collections::{BTreeSet, HashSet};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use hickory_proto::rr::RecordType;
use tokio::net::UdpSocket;

use crate::serve::key;
use crate::serve_lifecycle::http_get;
use crate::support::client::query;
use crate::support::receiver::{Answer, Received, Receiver};
use crate::support::upstream::TestUpstream;
use crate::support::ward::{TEST_LIST, Ward, write_list};

/// Generous: these wait for a few one-second windows.
const WAIT: Duration = Duration::from_secs(60);

/// The client addresses the tests query from.
const CLIENTS: [&str; 5] = [
    "127.0.0.2",
    "127.0.0.3",
    "127.0.0.4",
    "127.0.0.77",
    "127.0.0.201",
];

/// The names the tests query (blocked and allowed).
const NAMES: [&str; 6] = [
    "blocked.test",
    "www.blocked.test",
    "tracker.test",
    "exact.example.test",
    "secret.test",
    "www.example.test",
];

fn node_key(dir: &Path) -> PathBuf {
    let key = ed25519_dalek::SigningKey::from_bytes(&[9; 32]);
    ward::keys::write_pair(&dir.join("node"), &key, true).unwrap();
    dir.join("node.key")
}

fn node_public(dir: &Path) -> ed25519_dalek::VerifyingKey {
    ward::keys::read_public(&dir.join("node.pub")).unwrap()
}

fn config(dir: &Path, upstream: SocketAddr, receiver: &Receiver, extra: &str) -> String {
    let node_key = node_key(dir);
    let interval = if extra.contains("interval") {
        ""
    } else {
        "interval = \"1s\""
    };
    format!(
        r#"
[dns]
listen = ["127.0.0.1:0"]
upstreams = ["{upstream}"]
allow_clients = ["127.0.0.0/8"]

[list]
file = "list.ward"
trusted_keys = ["list.pub"]
state_dir = "state"

[admin]
listen = "127.0.0.1:0"

[report]
isp_id = "test-isp"
node_id = "node-1"
key = {node_key:?}
url = "{}"
ca_file = {:?}
{interval}
spool_dir = "spool"
{extra}
"#,
        receiver.url, receiver.ca_file
    )
}

fn start(dir: &Path, upstream: SocketAddr, receiver: &Receiver, extra: &str) -> Ward {
    if !dir.join("list.ward").exists() {
        write_list(dir, &key(), 1, TEST_LIST);
    }
    Ward::start(dir, &config(dir, upstream, receiver, extra), true)
}

/// One query from `client` (a loopback address); waits for the answer.
async fn ask_from(client: &str, server: SocketAddr, name: &str) {
    let sock = UdpSocket::bind(format!("{client}:0")).await.unwrap();
    sock.connect(server).await.unwrap();
    let m = query(name, RecordType::A, None);
    sock.send(&m.to_vec().unwrap()).await.unwrap();
    let mut buf = vec![0u8; 4096];
    tokio::time::timeout(Duration::from_secs(10), sock.recv(&mut buf))
        .await
        .expect("an answer")
        .unwrap();
}

async fn scrape(w: &Ward) -> String {
    http_get(w.admin.expect("admin enabled"), "/metrics")
        .await
        .1
}

fn metric(text: &str, series: &str) -> f64 {
    text.lines()
        .find_map(|l| l.strip_prefix(series)?.strip_prefix(' ')?.parse().ok())
        .unwrap_or(-1.0)
}

/// Polls a metric until `ok(value)`.
async fn wait_metric(w: &Ward, series: &str, ok: impl Fn(f64) -> bool) -> f64 {
    let deadline = std::time::Instant::now() + WAIT;
    loop {
        let v = metric(&scrape(w).await, series);
        if ok(v) || std::time::Instant::now() > deadline {
            return v;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Accepted reports must chain: unique ids, each window starting where the
/// previous one ended.
fn assert_chain(reports: &[Received]) {
    let mut ids = HashSet::new();
    for r in reports {
        assert!(ids.insert(r.report_id()), "duplicate {}", r.report_id());
    }
    for pair in reports.windows(2) {
        let (a, b) = (pair[0].json(), pair[1].json());
        assert_eq!(
            a["window_end"], b["window_start"],
            "gap or disorder between {} and {}",
            a["report_id"], b["report_id"]
        );
    }
}

/// Every body ever received holds no client address and no queried name.
fn assert_private(received: &[Received]) {
    assert!(!received.is_empty());
    for r in received {
        let body = String::from_utf8_lossy(&r.body);
        for needle in CLIENTS
            .iter()
            .chain(NAMES.iter())
            .chain(["127.0.0.1"].iter())
        {
            assert!(!body.contains(needle), "{needle} in a report: {body}");
        }
    }
}

/// Validates a report against docs/compliance-report.schema.json.
pub(crate) fn assert_schema_valid(report: &serde_json::Value) {
    static SCHEMA: std::sync::OnceLock<jsonschema::Validator> = std::sync::OnceLock::new();
    let validator = SCHEMA.get_or_init(|| {
        let text =
            std::fs::read_to_string(crate::util::repo().join("docs/compliance-report.schema.json"))
                .unwrap();
        let schema: serde_json::Value = serde_json::from_str(&text).unwrap();
        jsonschema::validator_for(&schema).expect("the schema compiles")
    });
    let errors: Vec<String> = validator
        .iter_errors(report)
        .map(|e| format!("{} at {}", e, e.instance_path()))
        .collect();
    assert!(errors.is_empty(), "{errors:#?}\n{report:#}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reports_are_signed_valid_and_hold_counts_but_no_address_or_name() {
    let up = TestUpstream::start().await;
    let dir = tempfile::tempdir().unwrap();
    let receiver = Receiver::start(dir.path()).await;
    let w = start(dir.path(), up.addr, &receiver, "");
    // adult: 2 names × 5 clients = 10 blocks (exact); ads 2 (< 5);
    // violence 1; csam (confidential) 1; allowed names too.
    for client in CLIENTS {
        ask_from(client, w.dns, "blocked.test").await;
        ask_from(client, w.dns, "www.blocked.test").await;
        ask_from(client, w.dns, "www.example.test").await;
    }
    for name in [
        "tracker.test",
        "tracker.test",
        "exact.example.test",
        "secret.test",
    ] {
        ask_from(CLIENTS[0], w.dns, name).await;
    }
    // Some report counts the adult blocks exactly.
    let found = receiver
        .wait_for(WAIT, |rs| {
            rs.iter()
                .any(|r| r.json()["counters"]["blocked"]["adult"]["dns"].is_u64())
        })
        .await;
    assert!(found, "no report with the adult count\n{}", w.logs());
    let received = receiver.received();
    assert_private(&received);

    let public = node_public(dir.path());
    let mut totals = std::collections::BTreeMap::<String, u64>::new();
    for r in &received {
        let sig = r.signature.as_deref().expect("signed");
        ward::report::send::verify_signature(sig, &r.body, &[public]).expect("signature verifies");
        assert_eq!(r.content_type.as_deref(), Some("application/json"));
        assert_eq!(r.report_id_header.as_deref(), Some(r.report_id().as_str()));
        assert_schema_valid(&r.json());
        let j = r.json();
        assert_eq!(j["isp_id"], "test-isp");
        assert_eq!(j["node_id"], "node-1");
        assert_eq!(j["list"]["serial"], 1);
        assert_eq!(j["list"]["list_id"], "test-national");
        assert_eq!(j["list"]["stale"], false);
        for (category, row) in j["counters"]["blocked"].as_object().unwrap() {
            for channel in ["dns", "sni", "http"] {
                let cell = &row[channel];
                match cell.as_u64() {
                    Some(n) => {
                        assert!(n >= 5, "{category}/{channel} = {n} sent exactly");
                        *totals.entry(format!("{category}/{channel}")).or_default() += n;
                    }
                    None => assert_eq!(cell, "<5", "{category}/{channel}"),
                }
            }
        }
        assert!(j["counters"].get("blocked_total").is_none());
    }
    // 10 adult blocks; a window boundary may split them, and a part
    // under 5 is then suppressed.
    let adult = totals.get("adult/dns").copied().unwrap_or(0);
    assert!((5..=10).contains(&adult), "{totals:?}");
    assert_eq!(totals.len(), 1, "only adult/dns reaches 5: {totals:?}");
    let ids: HashSet<String> = received.iter().map(Received::report_id).collect();
    assert_eq!(ids.len(), received.len(), "one delivery per report");
    // Every category of the list has a row, small or not.
    let first = received[0].json();
    let categories: BTreeSet<&String> = first["counters"]["blocked"]
        .as_object()
        .unwrap()
        .keys()
        .collect();
    for c in ["adult", "ads", "violence", "csam"] {
        assert!(categories.iter().any(|k| *k == c), "{c} missing");
    }
    // The collector records a report before its answer reaches ward.
    let ok = wait_metric(&w, "ward_report_sent_total{result=\"ok\"}", |v| v >= 1.0).await;
    assert!(ok >= 1.0);
    let last_ok = wait_metric(&w, "ward_report_last_success_timestamp_seconds", |v| {
        v > 1.0e9
    })
    .await;
    assert!(last_ok > 1.0e9);
    let last = received.last().unwrap();
    println!("report size: {} bytes (4 categories)", last.body.len());
    // Delivery latency as ward logs it (sign, TLS, POST, answer).
    let logs = w.logs();
    let latencies: Vec<u64> = logs
        .lines()
        .filter(|l| l.contains("compliance report delivered"))
        .filter_map(|l| {
            l.split("elapsed_ms=")
                .nth(1)?
                .split_whitespace()
                .next()?
                .parse()
                .ok()
        })
        .collect();
    println!("delivery latency, ms: {latencies:?}");
    assert!(!latencies.is_empty(), "{logs}");
    // Nor do the node's logs or anything it keeps in the spool.
    let mut kept = vec![("logs".to_owned(), logs.clone())];
    for sub in ["spool", "spool/rejected"] {
        for entry in std::fs::read_dir(dir.path().join(sub)).unwrap() {
            let path = entry.unwrap().path();
            if path.is_file() {
                let text = String::from_utf8_lossy(&std::fs::read(&path).unwrap()).into_owned();
                kept.push((path.display().to_string(), text));
            }
        }
    }
    assert!(kept.len() > 1, "nothing in the spool to check");
    for (what, text) in &kept {
        for needle in CLIENTS.iter().chain(NAMES.iter()) {
            assert!(!text.contains(needle), "{needle} in {what}:\n{text}");
        }
    }
    if std::env::var_os("WARD_PRINT_REPORT").is_some() {
        println!("{}", String::from_utf8_lossy(&last.body));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn collector_down_for_several_intervals_then_back_gets_every_report_once_in_order() {
    let up = TestUpstream::start().await;
    let dir = tempfile::tempdir().unwrap();
    let mut receiver = Receiver::start(dir.path()).await;
    let w = start(dir.path(), up.addr, &receiver, "");
    assert!(receiver.wait_for(WAIT, |rs| rs.len() >= 2).await);
    receiver.stop();
    let stopped_at = receiver.received().len();
    // Several windows pass while the collector is away; they pile up.
    let failed = wait_metric(&w, "ward_report_sent_total{result=\"network\"}", |v| {
        v >= 2.0
    })
    .await;
    assert!(failed >= 2.0, "{}", w.logs());
    let spooled = wait_metric(&w, "ward_report_spool_reports", |v| v >= 3.0).await;
    assert!(spooled >= 3.0, "{}", w.logs());
    for client in CLIENTS {
        ask_from(client, w.dns, "blocked.test").await;
        ask_from(client, w.dns, "www.blocked.test").await;
    }
    receiver.restart().await;
    // Everything spooled arrives, then reporting goes on.
    let target = stopped_at + spooled as usize + 2;
    assert!(
        receiver.wait_for(WAIT, |rs| rs.len() >= target).await,
        "{}",
        w.logs()
    );
    let accepted = receiver.accepted();
    assert_eq!(accepted.len(), receiver.received().len());
    assert_chain(&accepted);
    assert_private(&accepted);
    let adult: u64 = accepted
        .iter()
        .filter_map(|r| r.json()["counters"]["blocked"]["adult"]["dns"].as_u64())
        .sum();
    assert!(
        (5..=10).contains(&adult),
        "the outage's blocks are reported: {adult}"
    );
    assert!(wait_metric(&w, "ward_report_spool_reports", |v| v <= 1.0).await <= 1.0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_mid_send_and_restart_loses_and_duplicates_nothing() {
    let up = TestUpstream::start().await;
    let dir = tempfile::tempdir().unwrap();
    let mut receiver = Receiver::start(dir.path()).await;
    receiver.answer(Answer::Hold);
    let w = start(dir.path(), up.addr, &receiver, "");
    // The first report is read by the collector, which never answers; more
    // windows close meanwhile.
    assert!(receiver.wait_for(WAIT, |rs| !rs.is_empty()).await);
    let held = receiver.received()[0].report_id();
    assert!(wait_metric(&w, "ward_report_spool_reports", |v| v >= 3.0).await >= 3.0);
    drop(w); // SIGKILL, with the request still open
    receiver.stop();
    receiver.answer(Answer::Accept);
    receiver.restart().await;

    let w = start(dir.path(), up.addr, &receiver, "");
    let seen_before: BTreeSet<String> = receiver
        .received()
        .iter()
        .map(Received::report_id)
        .collect();
    assert!(
        receiver
            .wait_for(WAIT, |_| {
                let accepted: BTreeSet<String> = receiver
                    .accepted()
                    .iter()
                    .map(Received::report_id)
                    .collect();
                accepted.is_superset(&seen_before) && accepted.len() >= seen_before.len() + 3
            })
            .await,
        "{}",
        w.logs()
    );
    let accepted = receiver.accepted();
    assert_eq!(accepted[0].report_id(), held, "the held report goes first");
    let ids: Vec<String> = accepted.iter().map(Received::report_id).collect();
    let unique: HashSet<&String> = ids.iter().collect();
    assert_eq!(unique.len(), ids.len(), "a duplicate: {ids:?}");
    // Window order throughout; chained within each run.
    let starts: Vec<String> = accepted
        .iter()
        .map(|r| r.json()["window_start"].as_str().unwrap().to_owned())
        .collect();
    let mut sorted = starts.clone();
    sorted.sort();
    assert_eq!(starts, sorted);
    let runs: BTreeSet<String> = accepted
        .iter()
        .map(|r| r.json()["node_started_at"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(runs.len(), 2, "reports of both runs");
    for run in &runs {
        let of_run: Vec<Received> = accepted
            .iter()
            .filter(|r| r.json()["node_started_at"] == run.as_str())
            .cloned()
            .collect();
        assert_chain(&of_run);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn full_spool_drops_the_oldest_report_and_counts_it() {
    let up = TestUpstream::start().await;
    let dir = tempfile::tempdir().unwrap();
    let receiver = Receiver::start(dir.path()).await;
    receiver.answer(Answer::Status(503));
    let w = start(dir.path(), up.addr, &receiver, "spool_max_bytes = 4096");
    let dropped = wait_metric(&w, "ward_report_dropped_total", |v| v >= 2.0).await;
    assert!(dropped >= 2.0, "{}", w.logs());
    let spool = dir.path().join("spool");
    let files: Vec<(String, u64)> = std::fs::read_dir(&spool)
        .unwrap()
        .map(|e| e.unwrap())
        .filter(|e| e.file_name().to_string_lossy().ends_with(".json"))
        .map(|e| {
            (
                e.file_name().to_string_lossy().into_owned(),
                e.metadata().unwrap().len(),
            )
        })
        .collect();
    let bytes: u64 = files.iter().map(|(_, n)| n).sum();
    assert!(bytes <= 4096, "{files:?}");
    assert!(files.len() >= 2, "{files:?}");
    assert!(
        metric(
            &scrape(&w).await,
            "ward_report_sent_total{result=\"server_error\"}"
        ) >= 1.0
    );
    // Back to accepting: what arrives starts after the dropped ones.
    receiver.answer(Answer::Accept);
    assert!(
        receiver
            .wait_for(WAIT, |rs| rs.iter().filter(|r| r.status == 200).count()
                >= 3)
            .await
    );
    let accepted = receiver.accepted();
    assert_chain(&accepted);
    let first = accepted[0].json();
    assert_ne!(
        first["window_start"], first["node_started_at"],
        "the oldest report (the first window) was dropped"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refused_report_lands_in_rejected_without_a_retry_loop() {
    let up = TestUpstream::start().await;
    let dir = tempfile::tempdir().unwrap();
    let receiver = Receiver::start(dir.path()).await;
    receiver.answer(Answer::Status(400));
    let w = start(dir.path(), up.addr, &receiver, "");
    let rejected = wait_metric(&w, "ward_report_sent_total{result=\"rejected\"}", |v| {
        v >= 3.0
    })
    .await;
    assert!(rejected >= 3.0, "{}", w.logs());
    assert!(w.wait_for_log("the collector refused a compliance report"));
    let received = receiver.received();
    let ids: Vec<String> = received.iter().map(Received::report_id).collect();
    let unique: HashSet<&String> = ids.iter().collect();
    assert_eq!(
        unique.len(),
        ids.len(),
        "a refused report was sent again: {ids:?}"
    );
    let kept: Vec<String> = std::fs::read_dir(dir.path().join("spool/rejected"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert!(kept.len() >= 3, "{kept:?}");
    for id in &ids[..3] {
        assert!(
            kept.iter().any(|k| k.contains(id.as_str())),
            "{id} not in rejected/"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_spools_the_window_in_progress_and_the_next_start_sends_it() {
    let up = TestUpstream::start().await;
    let dir = tempfile::tempdir().unwrap();
    let mut receiver = Receiver::start(dir.path()).await;
    // Hourly windows: the only report of this run is the one SIGTERM closes.
    let mut w = start(dir.path(), up.addr, &receiver, "interval = \"1h\"");
    for client in CLIENTS {
        ask_from(client, w.dns, "blocked.test").await;
    }
    receiver.stop();
    w.signal("TERM");
    assert_eq!(w.wait_exit(), Some(0), "{}", w.logs());
    let spooled: Vec<String> = std::fs::read_dir(dir.path().join("spool"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".json"))
        .collect();
    assert_eq!(spooled.len(), 1, "{spooled:?}");
    receiver.restart().await;
    let w = start(dir.path(), up.addr, &receiver, "interval = \"1h\"");
    assert!(
        receiver.wait_for(WAIT, |rs| !rs.is_empty()).await,
        "{}",
        w.logs()
    );
    let first = receiver.received()[0].json();
    assert_eq!(first["window_start"], first["node_started_at"]);
    assert_eq!(first["counters"]["blocked"]["adult"]["dns"], 5, "{first:#}");
    assert_eq!(first["activations"].as_array().unwrap().len(), 1);
    // The second run reloads the same list: no activation, and the list is
    // in force since the first run's activation.
    receiver.stop();
    let mut w = w;
    w.signal("TERM");
    assert_eq!(w.wait_exit(), Some(0), "{}", w.logs());
    let second: Vec<serde_json::Value> = std::fs::read_dir(dir.path().join("spool"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .map(|p| serde_json::from_slice::<serde_json::Value>(&std::fs::read(p).unwrap()).unwrap())
        // TERM can come after the collector recorded the first run's
        // report but before ward read the 2xx and deleted it: that copy
        // stays (at least once) and is not the window checked here.
        .filter(|r| r["report_id"] != first["report_id"])
        .collect();
    assert_eq!(second.len(), 1, "{second:#?}");
    assert_eq!(
        second[0]["activations"],
        serde_json::json!([]),
        "{:#}",
        second[0]
    );
    assert_eq!(
        second[0]["list"]["activated_at"],
        first["list"]["activated_at"]
    );
    assert_ne!(second[0]["node_started_at"], first["node_started_at"]);
}

#[tokio::test]
async fn config_check_reads_the_report_section() {
    let dir = tempfile::tempdir().unwrap();
    let receiver = Receiver::start(dir.path()).await;
    write_list(dir.path(), &key(), 1, TEST_LIST);
    let good = config(dir.path(), "192.0.2.53:53".parse().unwrap(), &receiver, "");
    std::fs::write(dir.path().join("good.toml"), &good).unwrap();
    let r = crate::util::ward(dir.path(), &["config", "check", "good.toml"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(
        r.stdout.contains(&format!(
            "reports every 1s to {} as test-isp/node-1",
            receiver.url
        )),
        "{}",
        r.stdout
    );
    let bad = good
        .replace("node_id = \"node-1\"\n", "")
        .replace("interval = \"1s\"", "interval = \"0s\"")
        .replace("url = \"https://", "url = \"http://");
    std::fs::write(dir.path().join("bad.toml"), bad).unwrap();
    let r = crate::util::ward(dir.path(), &["config", "check", "bad.toml"]);
    assert_eq!(r.code, 64, "{}", r.stderr);
    for want in [
        "report.node_id: required in [report]",
        "report.url: ",
        "report.interval: must be between 1s and 1day",
        "3 error(s) in bad.toml",
    ] {
        assert!(r.stderr.contains(want), "{want}\n{}", r.stderr);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn throttled_delivery_waits_out_retry_after() {
    let up = TestUpstream::start().await;
    let dir = tempfile::tempdir().unwrap();
    let receiver = Receiver::start(dir.path()).await;
    receiver.answer(Answer::Throttle(3));
    let w = start(dir.path(), up.addr, &receiver, "");
    assert!(receiver.wait_for(WAIT, |rs| !rs.is_empty()).await);
    receiver.answer(Answer::Accept);
    assert!(receiver.wait_for(WAIT, |rs| rs.len() >= 2).await);
    let rs = receiver.received();
    assert_eq!(rs[0].status, 429);
    assert_eq!(
        rs[1].report_id(),
        rs[0].report_id(),
        "the same report again"
    );
    // The back-off alone would retry after about 1 s (at most 1.2 s).
    let waited = rs[1].at - rs[0].at;
    assert!(
        waited >= Duration::from_millis(2500),
        "retried after {waited:?}, before Retry-After: 3"
    );
    assert!(
        metric(
            &scrape(&w).await,
            "ward_report_sent_total{result=\"throttled\"}"
        ) >= 1.0
    );
}

/// The reports of `spool_dir`, oldest first (what waits for delivery).
fn spooled(dir: &Path) -> Vec<(String, serde_json::Value)> {
    let mut out: Vec<(String, serde_json::Value)> = std::fs::read_dir(dir)
        .map(|d| d.filter_map(Result::ok).collect::<Vec<_>>())
        .unwrap_or_default()
        .into_iter()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .filter_map(|p| {
            let text = std::fs::read_to_string(&p).ok()?;
            Some((text.clone(), serde_json::from_str(&text).ok()?))
        })
        .collect();
    out.sort_by(|a, b| {
        a.1["window_start"]
            .as_str()
            .cmp(&b.1["window_start"].as_str())
    });
    out
}

/// Blocks by the SNI and HTTP filters are counted per channel: ward in a
/// router namespace with nftables redirect, curl in a client namespace.
/// The collector is unreachable from there, so the reports are read from
/// the spool, where they wait.
#[test]
fn sni_and_http_blocks_are_reported_per_channel() {
    use crate::support::netns::{self, Lab, REDIRECT_RULES, SERVER_V4};
    if !netns::available() {
        return;
    }
    let lab = Lab::new();
    lab.nft(&lab.router, REDIRECT_RULES);
    let dir = tempfile::tempdir().unwrap();
    let node_key = node_key(dir.path());
    let examples = crate::util::repo().join("examples");
    let config = format!(
        r#"[dns]
listen = ["10.77.1.1:53"]
upstreams = ["10.77.2.2:53"]
allow_clients = ["10.77.1.0/24"]
[list]
file = {:?}
trusted_keys = [{:?}]
state_dir = "state"
[admin]
listen = "127.0.0.1:9153"
[sni]
listen = ["0.0.0.0:8443"]
mode = "redirect"
[http]
listen = ["0.0.0.0:8080"]
mode = "redirect"
[report]
isp_id = "test-isp"
node_id = "router"
key = {node_key:?}
url = "https://127.0.0.1:9/reports"
interval = "5s"
spool_dir = "spool"
"#,
        examples.join("demo.ward"),
        examples.join("demo.pub"),
    );
    let w = Ward::start_in_netns(dir.path(), &config, &lab.router);
    let curl = |args: &[&str]| {
        let mut all = vec!["curl", "-sS", "--max-time", "10"];
        all.extend_from_slice(args);
        lab.exec(&lab.client, &all)
    };
    // 10 TLS connections and 10 HTTP requests for an adult name, within at
    // most two windows: one of them holds at least 5 of each.
    for _ in 0..10 {
        let out = curl(&[
            "-k",
            "--resolve",
            &format!("blocked.example.test:443:{SERVER_V4}"),
            "https://blocked.example.test/",
        ]);
        assert_eq!(out.status.code(), Some(35), "{}", w.logs());
        curl(&[
            "--resolve",
            &format!("www.blocked.example.test:80:{SERVER_V4}"),
            "http://www.blocked.example.test/",
        ]);
    }
    let exact = |reports: &[(String, serde_json::Value)], channel: &str| -> u64 {
        reports
            .iter()
            .filter_map(|(_, r)| r["counters"]["blocked"]["adult"][channel].as_u64())
            .sum()
    };
    let deadline = std::time::Instant::now() + WAIT;
    let reports = loop {
        let reports = spooled(&dir.path().join("spool"));
        if (exact(&reports, "sni") >= 5 && exact(&reports, "http") >= 5)
            || std::time::Instant::now() > deadline
        {
            break reports;
        }
        std::thread::sleep(Duration::from_millis(200));
    };
    let (sni, http) = (exact(&reports, "sni"), exact(&reports, "http"));
    assert!((5..=10).contains(&sni), "sni {sni}\n{}", w.logs());
    assert!((5..=10).contains(&http), "http {http}");
    assert_eq!(exact(&reports, "dns"), 0, "no DNS query was made");
    for (text, r) in &reports {
        assert_schema_valid(r);
        for needle in ["10.77.", "blocked.example.test", "fd77:"] {
            assert!(!text.contains(needle), "{needle} in a report: {text}");
        }
    }
}
