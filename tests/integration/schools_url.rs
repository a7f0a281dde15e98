//! A signed extra list followed over HTTPS (`[[lists]]` with `url`), like
//! the national list: verified with its own keys, activated without a
//! restart, rollbacks and garbage refused, the last good copy kept in
//! `state_dir` for the next start.

use std::path::Path;
use std::time::Instant;

use ed25519_dalek::SigningKey;

use crate::schools::{dig, filtered, have_dig};
use crate::serve::{config, key};
use crate::serve_lifecycle::http_get;
use crate::support::https::ListServer;
use crate::support::upstream::TestUpstream;
use crate::support::ward::{START_WAIT, TEST_LIST, Ward, write_list};

fn list_key() -> SigningKey {
    SigningKey::from_bytes(&[9; 32])
}

/// The ministry's age list `moet-age` at `serial`.
fn artifact(serial: u64, source: &str) -> Vec<u8> {
    let now = jiff::Timestamp::now();
    let opts = ward::list::BuildOptions {
        list_id: "moet-age".into(),
        serial,
        issued_at: now,
        expires_at: now + jiff::SignedDuration::from_hours(24),
        confidential: Default::default(),
        min_age: Default::default(),
    };
    ward::list::build::build_from_str(source, &opts, &list_key())
        .unwrap()
        .0
}

fn ward_config(dir: &Path, up: std::net::SocketAddr, server: &ListServer) -> String {
    std::fs::write(
        dir.join("moet.pub"),
        ward::keys::public_file_text(&list_key().verifying_key()),
    )
    .unwrap();
    let lists = format!(
        r#"
[[lists]]
name = "moet"
url = "{url}"
ca_file = {ca:?}
trusted_keys = ["moet.pub"]
poll_interval = "1s"
timeout = "2s"

[[profile]]
name = "primary"
clients = ["127.0.0.2"]
age = 10
lists = ["moet"]
"#,
        url = server.url,
        ca = server.ca_file,
    );
    format!("{}{lists}", config(&[up], "", ""))
}

async fn metric(w: &Ward, series: &str) -> Option<f64> {
    let (_, body) = http_get(w.admin.unwrap(), "/metrics").await;
    body.lines()
        .find_map(|l| l.strip_prefix(series)?.strip_prefix(' '))
        .and_then(|v| v.parse().ok())
}

/// Waits until `series` reads at least `want`.
async fn until(w: &Ward, series: &str, want: f64) {
    let deadline = Instant::now() + START_WAIT;
    while metric(w, series).await.is_none_or(|v| v < want) {
        assert!(
            Instant::now() < deadline,
            "{series} never reached {want}\n{}",
            w.logs()
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}

const SERIAL: &str = "ward_extra_list_serial{list=\"moet\"}";

fn fetches(result: &str) -> String {
    format!("ward_extra_list_fetch_total{{list=\"moet\",result=\"{result}\"}}")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_extra_list_follows_its_url_and_keeps_the_last_good_version() {
    if !have_dig() {
        return;
    }
    let up = TestUpstream::start_wildcard().await;
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let server = ListServer::start(d).await;
    server.publish(artifact(5, "forum.test forum\n"));
    write_list(d, &key(), 1, TEST_LIST);
    let cfg = ward_config(d, up.addr, &server);
    let mut w = Ward::start(d, &cfg, true);

    // Fetched before serving: the very first query is filtered.
    let text = dig(&w, "127.0.0.2", &["forum.test", "A"]).await;
    assert!(filtered(&text, "moet", "forum"), "{text}\n{}", w.logs());
    assert!(text.contains("list moet serial 5"), "{text}");
    assert_eq!(metric(&w, SERIAL).await, Some(5.0));
    assert!(
        metric(
            &w,
            "ward_extra_list_last_success_timestamp_seconds{list=\"moet\"}"
        )
        .await
        .is_some_and(|t| t > 0.0)
    );

    // A newer version is activated and the profiles follow it.
    server.publish(artifact(6, "forum.test forum\nchat.test chat\n"));
    until(&w, SERIAL, 6.0).await;
    let text = dig(&w, "127.0.0.2", &["chat.test", "A"]).await;
    assert!(filtered(&text, "moet", "chat"), "{text}");
    assert!(text.contains("list moet serial 6"), "{text}");

    // A rollback and garbage are refused; serial 6 stays in force.
    server.publish(artifact(4, "forum.test forum\n"));
    until(&w, &fetches("rollback"), 1.0).await;
    server.publish(b"WARDLIST and then nothing".to_vec());
    until(&w, &fetches("corrupt"), 1.0).await;
    assert_eq!(metric(&w, SERIAL).await, Some(6.0));
    let text = dig(&w, "127.0.0.2", &["chat.test", "A"]).await;
    assert!(filtered(&text, "moet", "chat"), "{text}");
    assert!(
        w.wait_for_log("extra_list{list=moet}: ward::update: ALARM: list update failed"),
        "{}",
        w.logs()
    );
    assert!(w.wait_for_log("rollback refused"), "{}", w.logs());
    let admin = w.admin.unwrap().to_string();
    let r = crate::util::ward(d, &["list", "status", "--admin", &admin]);
    assert_eq!(r.code, 1, "the last poll failed: {r:?}");
    for part in [
        format!("extra list:     moet\nsource:         {}\n", server.url),
        "list:           moet-age serial 6 (2 rules)\n".to_owned(),
        "state:          loaded\nlast poll:      ".to_owned(),
        "highest serial: 6\n".to_owned(),
    ] {
        assert!(r.stdout.contains(&part), "{part:?} not in\n{}", r.stdout);
    }
    let r = crate::util::ward(d, &["list", "status", "--admin", &admin, "--json"]);
    let v: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
    assert_eq!(v["extra_lists"][0]["serial"], 6);
    assert!(
        v["extra_lists"][0]["updater"]["last_success_at"].is_string(),
        "{v}"
    );
    // Its own state, beside the national list's.
    assert!(d.join("state/lists/moet/list.ward").exists());
    assert!(d.join("state/lists/moet/state.json").exists());

    // Restarted with the endpoint down: the last good copy is enforced.
    w.signal("TERM");
    assert_eq!(w.wait_exit(), Some(0));
    server.unpublish();
    let w = Ward::start(d, &cfg, true);
    let text = dig(&w, "127.0.0.2", &["chat.test", "A"]).await;
    assert!(filtered(&text, "moet", "chat"), "{text}");
    assert!(text.contains("list moet serial 6"), "{text}");
    up.stop().await;
}
