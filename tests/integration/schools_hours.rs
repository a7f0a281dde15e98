//! School hours and walled gardens over DNS, with real `dig`: a
//! schedule's categories are blocked inside its window and allowed
//! outside, the window opening while ward runs; a walled garden resolves
//! only its allow file. The clock is set with the test-only
//! `WARD_TEST_NOW` (ward runs on from that instant).

use std::path::Path;

use crate::schools::{allowed, censored, dig, filtered, have_dig, write_age_list};
use crate::serve::{config, key};
use crate::support::upstream::TestUpstream;
use crate::support::ward::{TEST_LIST, Ward, write_list};

/// Monday 2025-03-03, 08:00 in Ho Chi Minh City (01:00 UTC).
const MONDAY_8AM: &str = "2025-03-03T08:00:00+07:00";

/// `age.ward` rates `social` 13+: allowed at 15 outside a window.
const HOURS: &str = r#"
[node]
time_zone = "Asia/Ho_Chi_Minh"

[[lists]]
name = "age"
file = "age.ward"
trusted_keys = ["age.pub"]

# Inside its window at the test clock's start.
[[profile]]
name = "lessons"
clients = ["127.0.0.2"]
age = 15
lists = ["age"]
[[profile.schedule]]
days = ["mon", "tue", "wed", "thu", "fri"]
start = "07:00"
end = "11:30"
categories = ["social"]

# An overnight window from Sunday that is still open on Monday morning.
[[profile]]
name = "boarding"
clients = ["127.0.0.3"]
age = 15
lists = ["age"]
[[profile.schedule]]
days = ["sun"]
start = "21:00"
end = "08:30"
categories = ["social"]

# Opens a few seconds after the test clock's start.
[[profile]]
name = "afternoon"
clients = ["127.0.0.4"]
age = 15
lists = ["age"]
[[profile.schedule]]
days = ["mon"]
start = "08:01"
end = "09:00"
categories = ["social"]

# Saturday only: closed on Monday.
[[profile]]
name = "weekend"
clients = ["127.0.0.5"]
age = 15
lists = ["age"]
[[profile.schedule]]
days = ["sat"]
start = "00:00"
end = "24:00"
categories = ["social"]
"#;

fn files(dir: &Path) {
    write_list(dir, &key(), 1, TEST_LIST);
    write_age_list(dir);
}

#[tokio::test]
async fn a_schedule_blocks_inside_its_window_and_opens_on_time() {
    if !have_dig() {
        return;
    }
    let up = TestUpstream::start_wildcard().await;
    let dir = tempfile::tempdir().unwrap();
    files(dir.path());
    let cfg = format!("{}{HOURS}", config(&[up.addr], "", ""));
    // 08:00:57: "afternoon" opens three seconds after ward starts its clock.
    let w = Ward::try_start_with_env(
        dir.path(),
        &cfg,
        true,
        &[("WARD_TEST_NOW", "2025-03-03T08:00:57+07:00")],
    )
    .unwrap_or_else(|logs| panic!("ward did not start:\n{logs}"));
    // Inside the window: the rated category blocks at 15.
    let text = dig(&w, "127.0.0.2", &["www.social.test", "A"]).await;
    assert!(filtered(&text, "age", "social"), "{text}");
    // The overnight window from Sunday 21:00 still holds on Monday 08:00.
    let text = dig(&w, "127.0.0.3", &["www.social.test", "A"]).await;
    assert!(filtered(&text, "age", "social"), "{text}");
    // Closed windows: the profile's normal rules (15 is old enough).
    let text = dig(&w, "127.0.0.5", &["www.social.test", "A"]).await;
    assert!(allowed(&text), "{text}");
    // Without a profile, nothing is scheduled.
    let text = dig(&w, "127.0.0.1", &["www.social.test", "A"]).await;
    assert!(allowed(&text), "{text}");
    // National entries are never scheduled away, in or out of a window.
    for source in ["127.0.0.2", "127.0.0.5"] {
        let text = dig(&w, source, &["blocked.test", "A"]).await;
        assert!(censored(&text), "{source}: {text}");
    }
    // "afternoon" opens at 08:01 on ward's clock: ward rebuilds its
    // profiles at the edge, and the (cached) name is blocked from then on.
    assert!(
        w.wait_for_log("a schedule window opened or closed"),
        "{}",
        w.logs()
    );
    let text = dig(&w, "127.0.0.4", &["www.social.test", "A"]).await;
    assert!(filtered(&text, "age", "social"), "{text}");
    up.stop().await;
}

/// `ward check` at the test clock: the schedule and until when; the time
/// zone decides (08:00 in Ho Chi Minh City is 01:00 UTC, before 07:00).
#[test]
fn ward_check_names_the_schedule_and_the_time_zone_decides() {
    let dir = tempfile::tempdir().unwrap();
    files(dir.path());
    let check = |zone: &str, client: &str| {
        let cfg = format!(
            "{}{}",
            config(&["127.0.0.1:53".parse().unwrap()], "", ""),
            HOURS.replace("Asia/Ho_Chi_Minh", zone)
        );
        std::fs::write(dir.path().join("ward.toml"), cfg).unwrap();
        let out = std::process::Command::new(crate::util::ward_bin())
            .args(["check", "--config", "ward.toml", "--client", client])
            .arg("www.social.test")
            .current_dir(dir.path())
            .env("WARD_TEST_NOW", MONDAY_8AM)
            .output()
            .unwrap();
        assert!(out.status.success(), "{out:?}");
        String::from_utf8(out.stdout).unwrap()
    };
    let text = check("Asia/Ho_Chi_Minh", "127.0.0.2");
    assert!(
        text.starts_with("www.social.test\tblock\tlist=age category=social"),
        "{text}"
    );
    assert!(
        text.contains("schedule[0] (mon,tue,wed,thu,fri 07:00-11:30) blocks it until Mon 2025-03-03 11:30 Asia/Ho_Chi_Minh"),
        "{text}"
    );
    assert!(text.contains("profile lessons (age 15)"), "{text}");
    let text = check("UTC", "127.0.0.2");
    assert!(text.starts_with("www.social.test\tallow"), "{text}");
    // "afternoon" opens at 08:01: at 08:00 the age rules.
    let text = check("Asia/Ho_Chi_Minh", "127.0.0.4");
    assert!(text.starts_with("www.social.test\tallow"), "{text}");
    assert!(text.contains("rated 13+, profile age 15"), "{text}");
}

const GARDEN: &str = r#"
[[profile]]
name = "kindergarten"
clients = ["127.0.0.2"]
age = 5
mode = "allow_only"
allow = "allow.txt"
"#;

#[tokio::test]
async fn a_walled_garden_resolves_only_its_allow_file() {
    if !have_dig() {
        return;
    }
    let up = TestUpstream::start_wildcard().await;
    let dir = tempfile::tempdir().unwrap();
    write_list(dir.path(), &key(), 1, TEST_LIST);
    // blocked.test is national: the allow file cannot let it through.
    std::fs::write(dir.path().join("allow.txt"), "kids.test\nblocked.test\n").unwrap();
    let cfg = format!("{}{GARDEN}", config(&[up.addr], "", ""));
    let w = Ward::start(dir.path(), &cfg, true);
    for name in ["kids.test", "www.kids.test"] {
        let text = dig(&w, "127.0.0.2", &[name, "A"]).await;
        assert!(allowed(&text), "{name}: {text}");
    }
    // Everything else: the block answer with EDE 17, whatever the type,
    // cached for another client first or not.
    let text = dig(&w, "127.0.0.1", &["search.test", "A"]).await;
    assert!(allowed(&text), "{text}");
    for name in ["www.example.test", "search.test", "tracker-free.test"] {
        let text = dig(&w, "127.0.0.2", &[name, "A"]).await;
        assert!(
            text.contains("192.0.2.1\n")
                && text.contains("EDE: 17 (Filtered)")
                && text.contains("walled garden"),
            "{name}: {text}"
        );
    }
    let text = dig(&w, "127.0.0.2", &["www.example.test", "AAAA"]).await;
    assert!(
        text.contains("2001:db8::1") && text.contains("EDE: 17"),
        "{text}"
    );
    let text = dig(&w, "127.0.0.2", &["blocked.test", "A"]).await;
    assert!(censored(&text), "{text}");
    // Counted, never by client.
    let (status, metrics) = crate::serve_lifecycle::http_get(w.admin.unwrap(), "/metrics").await;
    assert_eq!(status, 200);
    let want = "ward_profile_blocked_total{profile=\"kindergarten\",list=\"walled-garden\",category=\"walled-garden\",channel=\"dns\"} 4";
    assert!(metrics.lines().any(|l| l == want), "{want}\n{metrics}");
    // ward check says why.
    let out = std::process::Command::new(crate::util::ward_bin())
        .args(["check", "--config", "ward.toml", "--client", "127.0.0.2"])
        .args(["www.example.test", "kids.test"])
        .current_dir(dir.path())
        .output()
        .unwrap();
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(
        text.contains("www.example.test\tblock\toutside the walled garden"),
        "{text}"
    );
    assert!(
        text.contains("profile kindergarten (age 5, mode allow_only)"),
        "{text}"
    );
    assert!(text.contains("kids.test\tallow"), "{text}");
    up.stop().await;
}
