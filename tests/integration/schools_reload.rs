//! SIGHUP while `ward serve` runs: the config file is read again and its
//! `[[lists]]` and `[[profile]]`s are put in force; an invalid config, a
//! broken source or a refused signed list keep what is in force.

use std::net::SocketAddr;
use std::path::Path;
use std::time::Instant;

use ed25519_dalek::SigningKey;

use crate::schools::{allowed, censored, dig, filtered, have_dig};
use crate::serve::{config, key};
use crate::serve_lifecycle::http_get;
use crate::support::upstream::TestUpstream;
use crate::support::ward::{START_WAIT, TEST_LIST, Ward, write_list};

/// The signed extra list `age.ward` at `serial` (trusted via `age.pub`):
/// `forum` blocks every age.
fn write_age(dir: &Path, serial: u64, source: &str) {
    let key = SigningKey::from_bytes(&[7; 32]);
    let now = jiff::Timestamp::now();
    let opts = ward::list::BuildOptions {
        list_id: "moet-age".into(),
        serial,
        issued_at: now,
        expires_at: now + jiff::SignedDuration::from_hours(24),
        confidential: Default::default(),
        min_age: Default::default(),
    };
    let (bytes, _) = ward::list::build::build_from_str(source, &opts, &key).unwrap();
    ward::fsx::write_atomic(&dir.join("age.ward"), &bytes, 0o644, true).unwrap();
    std::fs::write(
        dir.join("age.pub"),
        ward::keys::public_file_text(&key.verifying_key()),
    )
    .unwrap();
}

const LISTS: &str = r#"
[[lists]]
name = "school"
source = "school.txt"

[[lists]]
name = "age"
file = "age.ward"
trusted_keys = ["age.pub"]
"#;

fn write_config(dir: &Path, up: SocketAddr, profiles: &str) {
    let text = format!("{}{LISTS}{profiles}", config(&[up], "", ""));
    std::fs::write(dir.join("ward.toml"), text).unwrap();
}

fn start(dir: &Path, up: SocketAddr, profiles: &str) -> Ward {
    write_list(dir, &key(), 1, TEST_LIST);
    write_age(dir, 5, "forum.test forum\n");
    std::fs::write(dir.join("school.txt"), "games.test games\n").unwrap();
    let text = format!("{}{LISTS}{profiles}", config(&[up], "", ""));
    Ward::start(dir, &text, true)
}

/// The value of the series `series` (exactly) on `/metrics`.
async fn metric(w: &Ward, series: &str) -> Option<f64> {
    let (_, body) = http_get(w.admin.unwrap(), "/metrics").await;
    body.lines()
        .find_map(|l| l.strip_prefix(series)?.strip_prefix(' '))
        .and_then(|v| v.parse().ok())
}

/// Sends SIGHUP and waits until `series` reaches `value`: the reload is
/// done (its outcome counted last).
async fn hangup(w: &Ward, series: &str, value: f64) {
    w.signal("HUP");
    let deadline = Instant::now() + START_WAIT;
    while metric(w, series).await != Some(value) {
        assert!(
            Instant::now() < deadline,
            "{series} never reached {value}\n{}",
            w.logs()
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
}

const OK: &str = "ward_config_reload_succeeded_total";
const FAILED: &str = "ward_config_reload_failed_total";

const PRIMARY: &str = r#"
[[profile]]
name = "primary"
clients = ["127.0.0.2"]
age = 10
lists = ["school", "age"]
"#;

#[tokio::test]
async fn sighup_puts_new_profiles_and_sources_in_force_on_the_next_query() {
    if !have_dig() {
        return;
    }
    let up = TestUpstream::start_wildcard().await;
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    // No profile at first: every client gets the national list alone.
    let w = start(d, up.addr, "");
    let text = dig(&w, "127.0.0.2", &["games.test", "A"]).await;
    assert!(allowed(&text), "{text}");
    // Cached for everyone: the cache must not carry this to a profile.
    let text = dig(&w, "127.0.0.2", &["social.test", "A"]).await;
    assert!(allowed(&text), "{text}");

    // The first profile, added by SIGHUP.
    write_config(d, up.addr, PRIMARY);
    hangup(&w, OK, 1.0).await;
    let text = dig(&w, "127.0.0.2", &["games.test", "A"]).await;
    assert!(filtered(&text, "school", "games"), "{text}");
    let text = dig(&w, "127.0.0.2", &["forum.test", "A"]).await;
    assert!(filtered(&text, "age", "forum"), "{text}");
    let text = dig(&w, "127.0.0.3", &["games.test", "A"]).await;
    assert!(allowed(&text), "not in the profile: {text}");

    // A changed source and a changed profile, together.
    std::fs::write(
        d.join("school.txt"),
        "games.test games\nsocial.test social\n",
    )
    .unwrap();
    let changed = r#"
[[profile]]
name = "primary"
clients = ["127.0.0.2", "127.0.0.3"]
age = 10
lists = ["school"]
"#;
    write_config(d, up.addr, changed);
    hangup(&w, OK, 2.0).await;
    // The cached answer is not served to the profile that now blocks it.
    let text = dig(&w, "127.0.0.2", &["social.test", "A"]).await;
    assert!(filtered(&text, "school", "social"), "{text}");
    let text = dig(&w, "127.0.0.3", &["games.test", "A"]).await;
    assert!(filtered(&text, "school", "games"), "{text}");
    let text = dig(&w, "127.0.0.2", &["forum.test", "A"]).await;
    assert!(allowed(&text), "the age list no longer applies: {text}");
    // The national list blocks whatever the profiles say.
    let text = dig(&w, "127.0.0.2", &["blocked.test", "A"]).await;
    assert!(censored(&text), "{text}");

    // The last profile removed: back to the national list alone.
    write_config(d, up.addr, "");
    hangup(&w, OK, 3.0).await;
    let text = dig(&w, "127.0.0.2", &["games.test", "A"]).await;
    assert!(allowed(&text), "{text}");
    assert_eq!(metric(&w, FAILED).await, Some(0.0));
    assert!(w.wait_for_log("SIGHUP: config reloaded"), "{}", w.logs());
    up.stop().await;
}

#[tokio::test]
async fn a_broken_config_source_or_list_keeps_what_is_in_force() {
    if !have_dig() {
        return;
    }
    let up = TestUpstream::start_wildcard().await;
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let w = start(d, up.addr, PRIMARY);
    let blocks_games = async |w: &Ward| {
        let text = dig(w, "127.0.0.2", &["games.test", "A"]).await;
        assert!(filtered(&text, "school", "games"), "{text}");
    };
    blocks_games(&w).await;

    // An invalid config: every error with its line, nothing applied.
    let broken = r#"
[[profile]]
name = "primary"
clients = ["127.0.0.2"]
age = 99
lists = ["nosuch"]
"#;
    write_config(d, up.addr, broken);
    std::fs::write(
        d.join("school.txt"),
        "games.test games\nsocial.test social\n",
    )
    .unwrap();
    hangup(&w, FAILED, 1.0).await;
    // Logged before it was counted; read through a pipe, so waited for.
    assert!(
        w.wait_for_log("ALARM: SIGHUP: the config was not reloaded"),
        "{}",
        w.logs()
    );
    let logs = w.logs();
    let file = d.join("ward.toml");
    let file = file.display();
    assert!(
        logs.contains(&format!(
            "{file}:36: profile[0].age: must be between 0 and 25"
        )),
        "{logs}"
    );
    assert!(
        logs.contains(&format!(
            "{file}:37: profile[0].lists[0]: unknown list \"nosuch\""
        )),
        "{logs}"
    );
    blocks_games(&w).await;
    // Not even the source, changed meanwhile, was compiled again.
    let text = dig(&w, "127.0.0.2", &["social.test", "A"]).await;
    assert!(allowed(&text), "{text}");

    // A broken line in a source: the config is refused with file:line,
    // and the version compiled before keeps blocking.
    write_config(d, up.addr, PRIMARY);
    std::fs::write(
        d.join("school.txt"),
        "social.test social\nbad..test games\n",
    )
    .unwrap();
    hangup(&w, FAILED, 2.0).await;
    assert!(
        w.wait_for_log("lists[0].source: school.txt:2: empty label"),
        "{}",
        w.logs()
    );
    blocks_games(&w).await;

    // A signed list rolled back, then corrupted: refused, the one in force
    // stays; a newer one is taken.
    std::fs::write(d.join("school.txt"), "games.test games\n").unwrap();
    write_age(d, 4, "forum.test forum\n");
    hangup(&w, OK, 1.0).await;
    assert!(w.wait_for_log("rollback refused"), "{}", w.logs());
    let ch = async |w: &Ward| {
        dig(
            w,
            "127.0.0.1",
            &["+short", "-c", "CH", "-t", "TXT", "list.ward"],
        )
        .await
    };
    let text = ch(&w).await;
    assert!(
        text.contains("\"name=age\" \"list=moet-age\" \"serial=5\""),
        "{text}"
    );
    // `ward list status` shows every list, and why this one is held back.
    let admin = w.admin.unwrap().to_string();
    let r = crate::util::ward(d, &["list", "status", "--admin", &admin]);
    assert_eq!(r.code, 1, "{r:?}");
    for part in [
        "source:         file list.ward\nlist:           test-national serial 1",
        "extra list:     school\nsource:         source school.txt\nlist:           school serial ",
        "extra list:     age\nsource:         file age.ward\nlist:           moet-age serial 5 (1 rules)\nsha256:         ",
        "state:          loaded; the last update failed, version in force kept: rollback refused: serial 4 is older than serial 5",
    ] {
        assert!(r.stdout.contains(part), "{part:?} not in\n{}", r.stdout);
    }
    let text = dig(&w, "127.0.0.2", &["forum.test", "A"]).await;
    assert!(filtered(&text, "age", "forum"), "{text}");
    std::fs::write(d.join("age.ward"), b"WARDLIST garbage").unwrap();
    hangup(&w, OK, 2.0).await;
    let text = dig(&w, "127.0.0.2", &["forum.test", "A"]).await;
    assert!(filtered(&text, "age", "forum"), "{text}");
    write_age(d, 6, "forum.test forum\nchat.test chat\n");
    hangup(&w, OK, 3.0).await;
    let text = ch(&w).await;
    assert!(
        text.contains("\"name=age\" \"list=moet-age\" \"serial=6\""),
        "{text}"
    );
    let text = dig(&w, "127.0.0.2", &["chat.test", "A"]).await;
    assert!(filtered(&text, "age", "chat"), "{text}");
    assert_eq!(
        metric(
            &w,
            "ward_extra_list_rejected_total{list=\"age\",reason=\"rollback\"}"
        )
        .await,
        Some(1.0)
    );
    assert_eq!(
        metric(&w, "ward_extra_list_serial{list=\"age\"}").await,
        Some(6.0)
    );
    let r = crate::util::ward(d, &["list", "status", "--admin", &admin, "--json"]);
    assert_eq!(r.code, 0, "{r:?}");
    let v: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
    assert_eq!(v["serial"], 1);
    assert_eq!(v["extra_lists"][0]["name"], "school");
    assert_eq!(v["extra_lists"][0]["loaded"], true);
    assert_eq!(v["extra_lists"][1]["origin"], "file age.ward");
    assert_eq!(v["extra_lists"][1]["serial"], 6);
    assert_eq!(v["extra_lists"][1]["last_error"], serde_json::Value::Null);
    up.stop().await;
}
