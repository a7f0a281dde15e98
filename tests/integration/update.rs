//! The list updater against a real HTTPS server (rustls, a test CA minted
//! at start-up): new serials, 304s, forgeries, rollbacks, equivocation,
//! size caps, hangs, failures and back-off, restarts with the endpoint
//! down, kill -9 during activation, and a hundred swaps under load.

use std::net::{Ipv4Addr, SocketAddr};
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use ed25519_dalek::SigningKey;
use hickory_proto::op::ResponseCode;
use hickory_proto::rr::RecordType;

use crate::serve::key;
use crate::serve_lifecycle::http_get;
use crate::support::client::{a_records, ede, query, udp};
use crate::support::https::{ListServer, Mode};
use crate::support::upstream::TestUpstream;
use crate::support::ward::{TEST_LIST, Ward};
use crate::util::ward;

const LIST_ID: &str = "test-national";
const SINKHOLE: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 1);
const WWW: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 10);

/// A signed artifact of `source`, valid for a week from now.
fn artifact(key: &SigningKey, list_id: &str, serial: u64, source: &str) -> Vec<u8> {
    let now = jiff::Timestamp::now();
    artifact_at(
        key,
        list_id,
        serial,
        source,
        now,
        now + jiff::SignedDuration::from_hours(168),
    )
}

fn artifact_at(
    key: &SigningKey,
    list_id: &str,
    serial: u64,
    source: &str,
    issued_at: jiff::Timestamp,
    expires_at: jiff::Timestamp,
) -> Vec<u8> {
    let opts = ward::list::BuildOptions {
        list_id: list_id.into(),
        serial,
        issued_at,
        expires_at,
        confidential: ["csam".to_string()].into_iter().collect(),
        min_age: Default::default(),
    };
    ward::list::build::build_from_str(source, &opts, key)
        .expect("test list builds")
        .0
}

/// The test list plus `extra` rules.
fn list(serial: u64, extra: &str) -> Vec<u8> {
    artifact(&key(), LIST_ID, serial, &format!("{TEST_LIST}{extra}"))
}

/// A config following `server`, polling every second, with `extra` lines
/// appended to `[list]`.
fn config(dir: &Path, up: SocketAddr, server: &ListServer, extra: &str) -> String {
    std::fs::write(
        dir.join("list.pub"),
        ward::keys::public_file_text(&key().verifying_key()),
    )
    .unwrap();
    format!(
        r#"
[dns]
listen = ["127.0.0.1:0"]
upstreams = ["{up}"]
upstream_timeout = "400ms"
upstream_attempts = 1

[list]
url = "{url}"
ca_file = {ca:?}
trusted_keys = ["list.pub"]
state_dir = "state"
{defaults}
{extra}

[block]
sinkhole_ipv4 = ["192.0.2.1"]
sinkhole_ipv6 = ["2001:db8::1"]

[admin]
listen = "127.0.0.1:0"
"#,
        url = server.url,
        ca = server.ca_file,
        defaults = ["poll_interval = \"1s\"", "timeout = \"2s\""]
            .into_iter()
            .filter(|d| !extra.contains(&d[..d.find(' ').unwrap_or(0)]))
            .collect::<Vec<_>>()
            .join("\n"),
    )
}

/// The value of one series (`name` or `name{labels}`) in a scrape.
fn metric(text: &str, series: &str) -> Option<f64> {
    text.lines()
        .find_map(|l| l.strip_prefix(series)?.strip_prefix(' ')?.parse().ok())
}

async fn scrape(w: &Ward) -> String {
    http_get(w.admin.expect("admin enabled"), "/metrics")
        .await
        .1
}

async fn series(w: &Ward, series: &str) -> f64 {
    metric(&scrape(w).await, series).unwrap_or(-1.0)
}

fn fetches(result: &str) -> String {
    format!("ward_list_fetch_total{{result=\"{result}\"}}")
}

/// Waits (up to 30 s) until `series` reads at least `want`.
async fn until_at_least(w: &Ward, series_name: &str, want: f64) -> bool {
    for _ in 0..300 {
        if series(w, series_name).await >= want {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    false
}

async fn a(w: &Ward, name: &str) -> Vec<Ipv4Addr> {
    a_records(&udp(w.dns, &query(name, RecordType::A, None)).await)
}

/// The files in `dir`, minus the previous list (present once a second
/// list was activated).
fn files_in(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n != "list.prev.ward")
        .collect();
    v.sort();
    v
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn updater_follows_new_serials_and_a_304_changes_nothing() {
    let up = TestUpstream::start().await;
    let dir = tempfile::tempdir().unwrap();
    let server = ListServer::start(dir.path()).await;
    let one = list(1, "");
    server.publish(one.clone());
    // No list on disk at all: fetched before the first answer.
    let w = Ward::start(dir.path(), &config(dir.path(), up.addr, &server, ""), true);
    assert_eq!(a(&w, "blocked.test.").await, vec![SINKHOLE]);
    assert_eq!(a(&w, "www.example.test.").await, vec![WWW]);
    assert_eq!(series(&w, "ward_list_serial").await, 1.0);
    assert!(
        w.wait_for_log("fetching the list before serving"),
        "{}",
        w.logs()
    );

    // Unchanged: conditional requests, answered 304, nothing swapped.
    assert!(
        until_at_least(&w, &fetches("not_modified"), 2.0).await,
        "{}",
        w.logs()
    );
    let seen = server.requests();
    let etag = server.etag().unwrap();
    assert!(seen[0].if_none_match.is_none(), "{seen:?}");
    assert!(
        seen[1..]
            .iter()
            .all(|s| s.if_none_match.as_deref() == Some(etag.as_str()) && s.status == 304),
        "{seen:?}"
    );
    assert!(
        seen[0]
            .user_agent
            .as_deref()
            .unwrap_or_default()
            .starts_with("ward/")
    );
    assert_eq!(
        w.logs().matches("new list activated").count(),
        1,
        "a 304 swapped:\n{}",
        w.logs()
    );

    // Serial 2 blocks www.example.test: live within a couple of polls.
    let two = list(2, "=www.example.test adult\n");
    server.publish(two.clone());
    assert!(
        until_at_least(&w, "ward_list_serial", 2.0).await,
        "{}",
        w.logs()
    );
    assert_eq!(a(&w, "www.example.test.").await, vec![SINKHOLE]);
    let text = scrape(&w).await;
    assert!(metric(&text, &fetches("ok")).unwrap() >= 2.0, "{text}");
    let activation = metric(&text, "ward_list_activation_seconds").unwrap();
    assert!(activation > 0.0, "{text}");
    assert!(metric(&text, "ward_list_activated_timestamp_seconds").unwrap() > 0.0);

    // On disk: the artifact in force and the serial, nothing else.
    let state = dir.path().join("state");
    assert_eq!(files_in(&state), ["list.ward", "state.json"]);
    // The previous artifact stays on disk after the new one is live.
    assert!(std::fs::read(state.join("list.prev.ward")).unwrap() == one);
    assert!(std::fs::read(state.join("list.ward")).unwrap() == two);
    let st: serde_json::Value =
        serde_json::from_slice(&std::fs::read(state.join("state.json")).unwrap()).unwrap();
    assert_eq!(st["highest_serial"], 2);

    // `ward list status` reads it all back from the admin listener.
    let admin = w.admin.unwrap().to_string();
    let r = ward(dir.path(), &["list", "status", "--admin", &admin]);
    assert_eq!(r.code, 0, "{r:?}");
    assert!(r.stdout.contains("test-national serial 2"), "{}", r.stdout);
    assert!(r.stdout.contains(&server.url), "{}", r.stdout);
    assert!(r.stdout.contains("highest serial: 2"), "{}", r.stdout);
    let r = ward(dir.path(), &["list", "status", "--admin", &admin, "--json"]);
    let v: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
    assert_eq!(v["serial"], 2);
    assert_eq!(v["stale"], false);
    assert!(v["updater"]["next_poll_at"].is_string(), "{v}");
    // A wrong address: a clear error, exit 1.
    let r = ward(dir.path(), &["list", "status", "--admin", "127.0.0.1:1"]);
    assert_eq!(r.code, 1, "{r:?}");
    assert!(r.stderr.contains("is `ward serve` running"), "{}", r.stderr);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forged_old_equivocal_and_foreign_lists_are_refused() {
    let up = TestUpstream::start().await;
    let dir = tempfile::tempdir().unwrap();
    let server = ListServer::start(dir.path()).await;
    let two = list(2, "=www.example.test adult\n");
    server.publish(two.clone());
    let w = Ward::start(dir.path(), &config(dir.path(), up.addr, &server, ""), true);
    assert_eq!(series(&w, "ward_list_serial").await, 2.0);

    let still_enforcing = async |w: &Ward| {
        assert_eq!(series(w, "ward_list_serial").await, 2.0, "{}", w.logs());
        assert_eq!(a(w, "www.example.test.").await, vec![SINKHOLE]);
        assert_eq!(a(w, "blocked.test.").await, vec![SINKHOLE]);
    };

    // A byte flipped in the payload of a newer list.
    let mut forged = list(3, "=sibling.test adult\n");
    let at = forged.len() - 10;
    forged[at] ^= 1;
    server.publish(forged);
    assert!(
        until_at_least(&w, &fetches("bad_signature"), 1.0).await,
        "{}",
        w.logs()
    );
    still_enforcing(&w).await;

    // Signed by a key nobody trusts.
    server.publish(artifact(
        &SigningKey::from_bytes(&[9; 32]),
        LIST_ID,
        4,
        TEST_LIST,
    ));
    assert!(
        until_at_least(&w, &fetches("untrusted_key"), 1.0).await,
        "{}",
        w.logs()
    );

    // Garbage.
    server.publish(b"<html>maintenance</html>".to_vec());
    assert!(
        until_at_least(&w, &fetches("corrupt"), 1.0).await,
        "{}",
        w.logs()
    );

    // An older serial: a rollback.
    server.publish(list(1, ""));
    assert!(
        until_at_least(&w, &fetches("rollback"), 1.0).await,
        "{}",
        w.logs()
    );
    still_enforcing(&w).await;

    // The same serial with other content: equivocation, alarmed.
    server.publish(list(2, "=sibling.test adult\n"));
    assert!(
        until_at_least(&w, &fetches("equivocation"), 1.0).await,
        "{}",
        w.logs()
    );
    assert_eq!(series(&w, "ward_list_equivocation").await, 1.0);
    assert!(w.wait_for_log("EQUIVOCATION"), "{}", w.logs());
    assert!(w.wait_for_log("ERROR"), "{}", w.logs());
    still_enforcing(&w).await;
    assert_eq!(
        a(&w, "sibling.test.").await,
        vec![Ipv4Addr::new(192, 0, 2, 20)]
    );
    let (code, body) = http_get(w.admin.unwrap(), "/readyz").await;
    assert_eq!(code, 200, "{body}");
    assert!(
        body.contains("warning: the list endpoint equivocates"),
        "{body}"
    );

    // A valid list of another list id (say, a school profile).
    server.publish(artifact(&key(), "school-profile", 9, TEST_LIST));
    assert!(
        until_at_least(&w, &fetches("wrong_list"), 1.0).await,
        "{}",
        w.logs()
    );
    still_enforcing(&w).await;

    // The same bytes as in force, with a new ETag: nothing to do.
    server.publish(two);
    let before = series(&w, &fetches("not_modified")).await;
    assert!(until_at_least(&w, &fetches("not_modified"), before + 1.0).await);

    // A proper serial 3 goes through, and clears the alarm.
    server.publish(list(3, "=www.example.test adult\n=sibling.test adult\n"));
    assert!(
        until_at_least(&w, "ward_list_serial", 3.0).await,
        "{}",
        w.logs()
    );
    assert_eq!(a(&w, "sibling.test.").await, vec![SINKHOLE]);
    assert_eq!(series(&w, "ward_list_equivocation").await, 0.0);
    // No download was left behind by the rejections.
    assert_eq!(
        files_in(&dir.path().join("state")),
        ["list.ward", "state.json"]
    );
}

/// Sends SIGHUP (an immediate poll) until `series` reaches `want`.
async fn poll_until(w: &Ward, series_name: &str, want: f64) -> bool {
    for _ in 0..10 {
        w.signal("HUP");
        for _ in 0..50 {
            if series(w, series_name).await >= want {
                return true;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
    false
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn size_cap_timeouts_and_downgrades_are_refused() {
    let up = TestUpstream::start().await;
    let dir = tempfile::tempdir().unwrap();
    let server = ListServer::start(dir.path()).await;
    server.publish(list(1, ""));
    let w = Ward::start(
        dir.path(),
        &config(dir.path(), up.addr, &server, "max_size = \"64KiB\""),
        true,
    );
    assert_eq!(series(&w, "ward_list_serial").await, 1.0);
    server.publish(list(2, "=www.example.test adult\n"));

    // Announced too large: refused before the body.
    server.set_mode(Mode::Huge { len: 10 << 30 });
    assert!(
        poll_until(&w, &fetches("too_large"), 1.0).await,
        "{}",
        w.logs()
    );
    assert!(
        w.wait_for_log("the server announced 10737418240 bytes"),
        "{}",
        w.logs()
    );
    // Endless chunked body: cut off at the cap.
    server.set_mode(Mode::Endless);
    assert!(
        poll_until(&w, &fetches("too_large"), 2.0).await,
        "{}",
        w.logs()
    );
    assert!(
        w.wait_for_log("download stopped at the cap"),
        "{}",
        w.logs()
    );
    // Never answers: list.timeout ends it.
    server.set_mode(Mode::Hang);
    assert!(
        poll_until(&w, &fetches("timeout"), 1.0).await,
        "{}",
        w.logs()
    );
    // Slow-loris: a trickle that would outlast list.timeout.
    server.set_mode(Mode::Slow { bytes_per_sec: 50 });
    assert!(
        poll_until(&w, &fetches("timeout"), 2.0).await,
        "{}",
        w.logs()
    );
    // A redirect to plain http is refused, not followed.
    let plain = format!("http://127.0.0.1:{}/national.ward", server.addr.port());
    server.set_mode(Mode::Redirect(plain));
    assert!(
        poll_until(&w, &fetches("network"), 1.0).await,
        "{}",
        w.logs()
    );
    assert!(w.wait_for_log("not https"), "{}", w.logs());

    // Through all of it: the list in force, and no partial files.
    assert_eq!(series(&w, "ward_list_serial").await, 1.0);
    assert_eq!(a(&w, "blocked.test.").await, vec![SINKHOLE]);
    assert_eq!(a(&w, "www.example.test.").await, vec![WWW]);
    assert_eq!(
        files_in(&dir.path().join("state")),
        ["list.ward", "state.json"]
    );
    server.set_mode(Mode::Serve);
    assert!(
        poll_until(&w, "ward_list_serial", 2.0).await,
        "{}",
        w.logs()
    );
    assert_eq!(a(&w, "www.example.test.").await, vec![SINKHOLE]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failures_back_off_then_recover() {
    let up = TestUpstream::start().await;
    let dir = tempfile::tempdir().unwrap();
    let server = ListServer::start(dir.path()).await;
    server.publish(list(1, ""));
    let w = Ward::start(dir.path(), &config(dir.path(), up.addr, &server, ""), true);
    assert_eq!(series(&w, "ward_list_serial").await, 1.0);
    server.publish(list(2, "=www.example.test adult\n"));

    // 500s: the gaps between polls double.
    server.set_mode(Mode::Status(500));
    let start = server.request_count();
    let mut arrivals = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(40);
    while arrivals.len() < 4 && Instant::now() < deadline {
        if server.request_count() > start + arrivals.len() {
            arrivals.push(Instant::now());
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(arrivals.len(), 4, "{}", w.logs());
    let gaps: Vec<f64> = arrivals
        .windows(2)
        .map(|p| (p[1] - p[0]).as_secs_f64())
        .collect();
    // After 1, 2 and 3 failures: about 1 s, 2 s, 4 s (each ±10 %).
    assert!(
        gaps[1] > gaps[0] * 1.5 && gaps[2] > gaps[1] * 1.5,
        "gaps {gaps:?}"
    );
    assert_eq!(series(&w, "ward_list_serial").await, 1.0);
    let admin = w.admin.unwrap().to_string();
    let r = ward(dir.path(), &["list", "status", "--admin", &admin]);
    assert_eq!(r.code, 1, "{r:?}");
    assert!(
        r.stdout.contains("the server answered HTTP 500"),
        "{}",
        r.stdout
    );
    let (code, body) = http_get(w.admin.unwrap(), "/readyz").await;
    assert_eq!(code, 200, "{body}");
    assert!(
        body.contains("warning: the last list update failed (http_error)"),
        "{body}"
    );

    // The endpoint recovers; SIGHUP polls at once instead of waiting out
    // the back-off.
    server.set_mode(Mode::Serve);
    w.signal("HUP");
    assert!(
        until_at_least(&w, "ward_list_serial", 2.0).await,
        "{}",
        w.logs()
    );
    assert!(
        w.wait_for_log("SIGHUP: polling the list endpoint now"),
        "{}",
        w.logs()
    );
    let r = ward(dir.path(), &["list", "status", "--admin", &admin]);
    assert_eq!(r.code, 0, "{r:?}");
    assert!(r.stdout.contains("0 in a row"), "{}", r.stdout);
    assert!(series(&w, &fetches("http_error")).await >= 4.0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restart_with_the_endpoint_down_enforces_the_last_known_good_list_at_once() {
    let up = TestUpstream::start().await;
    let dir = tempfile::tempdir().unwrap();
    let server = ListServer::start(dir.path()).await;
    server.publish(list(2, "=www.example.test adult\n"));
    let cfg = config(dir.path(), up.addr, &server, "require_list = true");
    let mut w = Ward::start(dir.path(), &cfg, true);
    assert_eq!(series(&w, "ward_list_serial").await, 2.0);
    w.signal("TERM");
    assert_eq!(w.wait_exit(), Some(0));

    // The endpoint is down; the very first query is already filtered.
    server.set_mode(Mode::Status(503));
    let w = Ward::start(dir.path(), &cfg, true);
    assert_eq!(a(&w, "www.example.test.").await, vec![SINKHOLE]);
    assert!(
        w.wait_for_log("last-known-good list loaded"),
        "{}",
        w.logs()
    );
    assert_eq!(series(&w, "ward_list_serial").await, 2.0);
    assert!(until_at_least(&w, &fetches("http_error"), 1.0).await);
    assert_eq!(a(&w, "blocked.test.").await, vec![SINKHOLE]);
    drop(w);

    // No list anywhere and require_list: refuses to start, says why.
    let empty = tempfile::tempdir().unwrap();
    let cfg = config(empty.path(), up.addr, &server, "require_list = true");
    let logs = Ward::try_start(empty.path(), &cfg, true)
        .err()
        .expect("must not start");
    assert!(logs.contains("list.require_list is true"), "{logs}");
    assert!(logs.contains("HTTP 503"), "{logs}");

    // Without require_list: serves, but SERVFAIL/EDE 14, never unfiltered,
    // and not ready; the list arrives when the endpoint recovers.
    let cfg = config(empty.path(), up.addr, &server, "");
    let w = Ward::start(empty.path(), &cfg, true);
    let m = udp(
        w.dns,
        &query("www.example.test.", RecordType::A, Some((1232, false))),
    )
    .await;
    assert_eq!(m.metadata.response_code, ResponseCode::ServFail);
    assert_eq!(ede(&m).map(|e| e.0), Some(14));
    let (code, body) = http_get(w.admin.unwrap(), "/readyz").await;
    assert_eq!(code, 503, "{body}");
    server.set_mode(Mode::Serve);
    assert!(
        until_at_least(&w, "ward_list_serial", 2.0).await,
        "{}",
        w.logs()
    );
    assert_eq!(a(&w, "www.example.test.").await, vec![SINKHOLE]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stale_list_is_still_enforced_and_reported() {
    let up = TestUpstream::start().await;
    let dir = tempfile::tempdir().unwrap();
    let server = ListServer::start(dir.path()).await;
    let now = jiff::Timestamp::now();
    let day = jiff::SignedDuration::from_hours(24);
    server.publish(artifact_at(
        &key(),
        LIST_ID,
        1,
        TEST_LIST,
        now - day * 2,
        now - day,
    ));
    let w = Ward::start(dir.path(), &config(dir.path(), up.addr, &server, ""), true);
    assert_eq!(a(&w, "blocked.test.").await, vec![SINKHOLE]);
    assert_eq!(series(&w, "ward_list_stale").await, 1.0);
    let (code, body) = http_get(w.admin.unwrap(), "/readyz").await;
    assert_eq!(code, 200, "{body}");
    assert!(body.contains("is stale"), "{body}");
    assert!(w.wait_for_log("the list in force is stale"), "{}", w.logs());
    let r = ward(
        dir.path(),
        &["list", "status", "--admin", &w.admin.unwrap().to_string()],
    );
    assert_eq!(r.code, 1, "{r:?}");
    assert!(r.stdout.contains("STALE"), "{}", r.stdout);
}

/// kill -9 at many points of a poll (during the slow download, during
/// verification, around the rename): every restart finds a complete list,
/// the old one or the new one, and the serial never goes back.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_during_activation_leaves_the_old_list_or_the_new_one() {
    let up = TestUpstream::start().await;
    let dir = tempfile::tempdir().unwrap();
    let server = ListServer::start(dir.path()).await;
    // Big enough that download and verification take a while.
    let bulk: String = (0..60_000)
        .map(|i| format!("bulk{i}.example adult\n"))
        .collect();
    let mut serial = 1;
    server.publish(artifact(
        &key(),
        LIST_ID,
        serial,
        &format!("{TEST_LIST}{bulk}"),
    ));
    let cfg = config(
        dir.path(),
        up.addr,
        &server,
        "poll_interval = \"1h\"\ntimeout = \"20s\"",
    );
    let mut last_seen = 1.0;
    // (delay before kill -9, slow download). Slow rounds trickle the
    // artifact over about 400 ms, so the kill lands mid-download; fast
    // rounds land around verification, the rename and the swap (which
    // take a few ms; the unit tests stop at each of those steps exactly).
    let rounds = [
        (100, true),
        (250, true),
        (380, true),
        (0, false),
        (2, false),
        (4, false),
        (8, false),
        (15, false),
        (200, false),
    ];
    let mut outcomes = (0, 0);
    for (round, (delay_ms, slow)) in rounds.into_iter().enumerate() {
        let mut w = Ward::start(dir.path(), &cfg, true);
        let have = series(&w, "ward_list_serial").await;
        assert!(
            have >= last_seen,
            "round {round}: serial went back from {last_seen} to {have}"
        );
        last_seen = have;
        let before = have;
        // The new list also blocks www.example.test.
        serial += 1;
        let new = artifact(
            &key(),
            LIST_ID,
            serial,
            &format!("{TEST_LIST}=www.example.test adult\n{bulk}"),
        );
        if slow {
            server.set_mode(Mode::Slow {
                bytes_per_sec: new.len() * 5 / 2,
            });
        }
        server.publish(new);
        w.signal("HUP");
        tokio::time::sleep(Duration::from_millis(delay_ms)).await;
        w.signal("KILL");
        let _ = w.wait_exit();

        // Restart with the endpoint down: old or new, and consistent.
        server.set_mode(Mode::Status(503));
        let w = Ward::start(dir.path(), &cfg, true);
        let have = series(&w, "ward_list_serial").await;
        assert!(
            have == before || have == serial as f64,
            "round {round}: serial {have}, expected {before} or {serial}\n{}",
            w.logs()
        );
        if have == before {
            outcomes.0 += 1;
        } else {
            outcomes.1 += 1;
        }
        eprintln!("kill -9 round {round} after {delay_ms} ms: serial {have} (published {serial})");
        let www = a(&w, "www.example.test.").await;
        if have == serial as f64 {
            assert_eq!(www, vec![SINKHOLE], "round {round}");
        }
        assert_eq!(
            a(&w, "bulk59999.example.").await,
            vec![SINKHOLE],
            "round {round}"
        );
        let state = dir.path().join("state");
        assert_eq!(
            files_in(&state),
            ["list.ward", "state.json"],
            "round {round}"
        );
        drop(w);
        server.set_mode(Mode::Serve);
    }
    // Both outcomes happened, so the kills did land before and after
    // the commit point.
    assert!(outcomes.0 > 0 && outcomes.1 > 0, "old/new: {outcomes:?}");
}

/// A hundred swaps while queries stream: every query is answered, and
/// always correctly for one of the two snapshots.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hundred_swaps_under_load_lose_nothing() {
    let up = TestUpstream::start().await;
    let dir = tempfile::tempdir().unwrap();
    let server = ListServer::start(dir.path()).await;
    let a_list = "common.test adult\na-only.test adult\n";
    let b_list = "common.test adult\nb-only.test adult\n";
    server.publish(artifact(&key(), LIST_ID, 1, a_list));
    let w = Ward::start(
        dir.path(),
        &config(dir.path(), up.addr, &server, "poll_interval = \"1h\""),
        true,
    );
    let dns = w.dns;
    let stop = Arc::new(AtomicBool::new(false));
    let answered = Arc::new(AtomicU64::new(0));
    let load = {
        let (stop, answered) = (Arc::clone(&stop), Arc::clone(&answered));
        tokio::spawn(async move {
            let socket = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
            let mut errors = Vec::new();
            let names = [
                "www.common.test.",
                "sibling.test.",
                "a-only.test.",
                "b-only.test.",
            ];
            let mut i = 0u64;
            // Bounded: stops when the swaps are done, or after 200k queries.
            while !stop.load(Ordering::Relaxed) && i < 200_000 {
                let name = names[(i % 4) as usize];
                i += 1;
                let mut m = query(name, RecordType::A, None);
                m.metadata.id = (i % 65_536) as u16;
                let bytes = m.to_vec().unwrap();
                socket.send_to(&bytes, dns).await.unwrap();
                let mut buf = vec![0u8; 4096];
                let got = tokio::time::timeout(Duration::from_secs(2), socket.recv(&mut buf)).await;
                let Ok(Ok(n)) = got else {
                    errors.push(format!("query {i} ({name}): no answer"));
                    continue;
                };
                let r = hickory_proto::op::Message::from_vec(&buf[..n]).unwrap();
                let ips = a_records(&r);
                let ok = match name {
                    "www.common.test." => ips == [SINKHOLE],
                    "sibling.test." => ips == [Ipv4Addr::new(192, 0, 2, 20)],
                    // Blocked in one snapshot, NXDOMAIN upstream in the other.
                    _ => ips == [SINKHOLE] || r.metadata.response_code == ResponseCode::NXDomain,
                };
                if !ok || r.metadata.id != m.metadata.id {
                    errors.push(format!(
                        "query {i} ({name}): {:?} {ips:?}",
                        r.metadata.response_code
                    ));
                }
                answered.fetch_add(1, Ordering::Relaxed);
            }
            errors
        })
    };
    for serial in 2..=101u64 {
        let source = if serial % 2 == 0 { b_list } else { a_list };
        server.publish(artifact(&key(), LIST_ID, serial, source));
        w.signal("HUP");
        assert!(
            until_at_least(&w, "ward_list_serial", serial as f64).await,
            "swap {serial}\n{}",
            w.logs()
        );
    }
    stop.store(true, Ordering::Relaxed);
    let errors = load.await.unwrap();
    let answered = answered.load(Ordering::Relaxed);
    assert!(
        errors.is_empty(),
        "{} bad of {answered}: {:?}",
        errors.len(),
        &errors[..errors.len().min(10)]
    );
    assert!(answered > 1000, "only {answered} queries during 100 swaps");
    assert_eq!(series(&w, &fetches("ok")).await, 101.0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restarted_node_catches_up_without_waiting_a_whole_interval() {
    let up = TestUpstream::start().await;
    let dir = tempfile::tempdir().unwrap();
    let server = ListServer::start(dir.path()).await;
    server.publish(list(1, ""));
    let cfg = config(dir.path(), up.addr, &server, "poll_interval = \"1h\"");
    let mut w = Ward::start(dir.path(), &cfg, true);
    assert_eq!(series(&w, "ward_list_serial").await, 1.0);
    w.signal("TERM");
    assert_eq!(w.wait_exit(), Some(0));

    // While it was down, the ministry published serial 2.
    server.publish(list(2, "=www.example.test adult\n"));
    let w = Ward::start(dir.path(), &cfg, true);
    // Serial 1 from disk at once, then serial 2 on the first poll, long
    // before the hour is up.
    assert!(
        w.wait_for_log("last-known-good list loaded"),
        "{}",
        w.logs()
    );
    assert!(
        until_at_least(&w, "ward_list_serial", 2.0).await,
        "{}",
        w.logs()
    );
    assert_eq!(a(&w, "www.example.test.").await, vec![SINKHOLE]);
}
