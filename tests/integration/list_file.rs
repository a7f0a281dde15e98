//! Never fail open when `list.file` changes under `ward serve`: in-place
//! overwrites, truncation and replacement keep the verified list in force
//! (it lives in sealed memory), raise an alarm and count it; and a file
//! offered on SIGHUP or at start-up passes the same acceptance rule as a
//! download (rollback, another list id, expiry, equivocation).

use std::io::Write;
use std::net::{Ipv4Addr, SocketAddr};
use std::path::Path;
use std::time::Duration;

use hickory_proto::op::Message;
use hickory_proto::rr::RecordType;

use crate::serve::{config, key};
use crate::serve_lifecycle::http_get;
use crate::support::client::{a_records, ede, query, udp};
use crate::support::upstream::TestUpstream;
use crate::support::ward::{TEST_LIST, Ward, write_list, write_list_as};

/// A blocked-name query that was never asked before (so never cached).
async fn fresh_blocked(dns: SocketAddr, n: u32) -> Message {
    let name = format!("fresh{n}.blocked.test.");
    udp(dns, &query(&name, RecordType::A, Some((1232, false)))).await
}

/// Asserts that a never-cached name under a listed domain is blocked by
/// `serial`.
async fn assert_blocked(dns: SocketAddr, n: u32, serial: u64) {
    let m = fresh_blocked(dns, n).await;
    assert_eq!(a_records(&m), vec![Ipv4Addr::new(192, 0, 2, 1)], "{m:?}");
    let (code, text) = ede(&m).expect("an EDE");
    assert_eq!(code, 16);
    assert!(text.contains(&format!("serial {serial} ")), "{text}");
}

/// The value of a metric series line, e.g. `ward_list_file_diverged`.
pub(crate) async fn metric(admin: SocketAddr, series: &str) -> Option<f64> {
    let (_, body) = http_get(admin, "/metrics").await;
    body.lines()
        .find_map(|l| l.strip_prefix(series)?.strip_prefix(' ')?.parse().ok())
}

/// Waits (polling, at most 20 s) until the series has the value.
async fn wait_metric(admin: SocketAddr, series: &str, want: f64) -> bool {
    for _ in 0..200 {
        if metric(admin, series).await == Some(want) {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    false
}

/// Overwrites a file in place with bytes of the same length, as
/// `dd conv=notrunc` does: same inode, new content.
fn overwrite_in_place(path: &Path) {
    let len = std::fs::metadata(path).unwrap().len() as usize;
    // xorshift64: random-looking bytes, as from /dev/urandom.
    let mut x = 0x9e37_79b9_7f4a_7c15_u64;
    let garbage: Vec<u8> = (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect();
    let mut f = std::fs::OpenOptions::new().write(true).open(path).unwrap();
    f.write_all(&garbage).unwrap();
    f.sync_all().unwrap();
}

#[tokio::test]
async fn a_list_file_overwritten_truncated_or_replaced_keeps_blocking_and_alarms() {
    let up = TestUpstream::start().await;
    let dir = tempfile::tempdir().unwrap();
    let list = write_list(dir.path(), &key(), 1, TEST_LIST);
    let w = Ward::start(dir.path(), &config(&[up.addr], "", ""), true);
    let admin = w.admin.unwrap();
    assert_blocked(w.dns, 0, 1).await;
    assert!(wait_metric(admin, "ward_list_file_diverged", 0.0).await);

    // 1. Same-size garbage written in place.
    overwrite_in_place(&list);
    assert!(
        wait_metric(admin, "ward_list_file_changes_total", 1.0).await,
        "{}",
        w.logs()
    );
    assert!(w.wait_for_log("ALARM: the list file changed on disk"));
    assert_eq!(metric(admin, "ward_list_file_diverged").await, Some(1.0));
    for n in 1..20 {
        assert_blocked(w.dns, n, 1).await;
    }
    let (status, body) = http_get(admin, "/readyz").await;
    assert_eq!(
        status, 200,
        "still enforcing: ready, with a warning: {body}"
    );
    assert!(body.contains("no longer holds the list in force"), "{body}");

    // The copy ward keeps in state_dir, written in place by someone else,
    // then truncated: the list in force is not a mapping of it either.
    let kept = dir.path().join("state").join("list.ward");
    overwrite_in_place(&kept);
    for n in 100..150 {
        assert_blocked(w.dns, n, 1).await;
    }
    std::fs::File::create(&kept).unwrap();
    for n in 150..160 {
        assert_blocked(w.dns, n, 1).await;
    }

    // 2. Truncated to nothing: no SIGBUS, still blocking.
    std::fs::File::create(&list).unwrap();
    assert!(wait_metric(admin, "ward_list_file_changes_total", 2.0).await);
    assert!(w.wait_for_log("was truncated to 0 bytes"));
    for n in 20..40 {
        assert_blocked(w.dns, n, 1).await;
    }
    // SIGHUP now reads the empty file: refused, serial 1 stays.
    w.signal("HUP");
    assert!(w.wait_for_log("SIGHUP reload failed; keeping the current list"));
    assert_blocked(w.dns, 40, 1).await;

    // 3. Replaced (rename) by a valid newer list: noticed, and loaded on
    //    SIGHUP, after which the file and the list in force agree.
    write_list(dir.path(), &key(), 2, TEST_LIST);
    assert!(wait_metric(admin, "ward_list_file_changes_total", 3.0).await);
    assert_blocked(w.dns, 41, 1).await;
    w.signal("HUP");
    assert!(w.wait_for_log("SIGHUP: list reloaded"));
    assert_blocked(w.dns, 42, 2).await;
    assert!(wait_metric(admin, "ward_list_file_diverged", 0.0).await);
    assert!(w.wait_for_log("the list file holds the list in force again"));
    up.stop().await;
}

/// One refused offer: list id, serial, (issued, expires), source text,
/// the `ward_list_rejected_total` reason and the logged message.
type Round<'a> = (
    &'a str,
    u64,
    (jiff::Timestamp, jiff::Timestamp),
    &'a str,
    &'a str,
    &'a str,
);

#[tokio::test]
async fn sighup_and_restart_apply_the_updaters_rule_to_list_file() {
    let up = TestUpstream::start().await;
    let dir = tempfile::tempdir().unwrap();
    let now = jiff::Timestamp::now();
    let day = jiff::SignedDuration::from_hours(24);
    write_list(dir.path(), &key(), 5, TEST_LIST);
    let cfg = config(&[up.addr], "", "");
    let mut w = Ward::start(dir.path(), &cfg, true);
    let admin = w.admin.unwrap();
    assert_blocked(w.dns, 0, 5).await;

    // Each round writes list.ward anew and offers it with SIGHUP.
    let rounds: [Round; 4] = [
        (
            "test-national",
            4,
            (now, now + day),
            TEST_LIST,
            "rollback",
            "rollback refused: serial 4 is older than serial 5",
        ),
        (
            "school-list",
            6,
            (now, now + day),
            TEST_LIST,
            "wrong_list",
            "list id \"school-list\" refused",
        ),
        (
            "test-national",
            7,
            (now - day - day, now - day),
            TEST_LIST,
            "expired",
            "expired list refused: serial 7",
        ),
        (
            "test-national",
            5,
            (now, now + day),
            "other.test adult\n",
            "equivocation",
            "EQUIVOCATION: serial 5",
        ),
    ];
    for (list_id, serial, validity, source, reason, message) in rounds {
        write_list_as(dir.path(), &key(), list_id, serial, validity, source);
        w.signal("HUP");
        assert!(w.wait_for_log(message), "{reason}: {}", w.logs());
        let series = format!("ward_list_rejected_total{{reason=\"{reason}\"}}");
        assert!(wait_metric(admin, &series, 1.0).await, "{series}");
        assert_blocked(w.dns, serial as u32 + 100, 5).await;
    }
    assert_eq!(metric(admin, "ward_list_equivocation").await, Some(1.0));
    let failures = metric(admin, "ward_list_reload_failures_total").await;
    assert_eq!(failures, Some(4.0));

    // A restart with the rolled-back file: the last-known-good copy in
    // state_dir (serial 5) is enforced, with an alarm.
    w.signal("TERM");
    assert_eq!(w.wait_exit(), Some(0));
    write_list_as(
        dir.path(),
        &key(),
        "test-national",
        4,
        (now, now + day),
        TEST_LIST,
    );
    let w = Ward::start(dir.path(), &cfg, true);
    assert!(w.wait_for_log("rollback refused: serial 4 is older than serial 5"));
    assert!(w.wait_for_log("last-known-good list loaded"));
    assert_blocked(w.dns, 0, 5).await;
    // And a truncated list file at start-up: the same.
    drop(w);
    std::fs::File::create(dir.path().join("list.ward")).unwrap();
    let w = Ward::start(dir.path(), &cfg, true);
    assert!(w.wait_for_log("ALARM: the list file (list.file) is unusable"));
    assert_blocked(w.dns, 1, 5).await;
    up.stop().await;
}
