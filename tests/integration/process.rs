//! `ward serve` as an operating-system process: dropping root after
//! binding a privileged port, and the systemd notification protocol.

use std::net::{Ipv4Addr, SocketAddr, UdpSocket};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::UnixDatagram;
use std::time::{Duration, Instant};

use hickory_proto::rr::RecordType;

use crate::serve::{config, key};
use crate::support::client::{a_records, query, udp};
use crate::support::upstream::TestUpstream;
use crate::support::ward::{TEST_LIST, Ward, write_list};

/// Root is needed to test dropping it. CI runs as root and sets
/// `WARD_REQUIRE_ROOT=1`, so there this test cannot be skipped silently.
fn is_root() -> bool {
    let root = std::fs::read_to_string("/proc/self/status")
        .unwrap()
        .lines()
        .any(|l| l.starts_with("Uid:") && l.split_whitespace().nth(2) == Some("0"));
    if !root {
        assert!(
            std::env::var_os("WARD_REQUIRE_ROOT").is_none(),
            "WARD_REQUIRE_ROOT is set but the tests do not run as root"
        );
        eprintln!("skipped: needs root");
    }
    root
}

/// A free privileged port on 127.0.0.1 (UDP and TCP).
fn privileged_port() -> u16 {
    (600..1024)
        .find(|&p| {
            UdpSocket::bind((Ipv4Addr::LOCALHOST, p)).is_ok()
                && std::net::TcpListener::bind((Ipv4Addr::LOCALHOST, p)).is_ok()
        })
        .expect("a free port below 1024")
}

/// `Field:` of /proc/PID/status, whitespace-split.
fn status_field(pid: u32, field: &str) -> Vec<String> {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap()
        .lines()
        .find_map(|l| l.strip_prefix(field))
        .map(|rest| rest.split_whitespace().map(str::to_owned).collect())
        .unwrap_or_default()
}

#[tokio::test]
async fn root_binds_a_privileged_port_then_runs_as_nobody() {
    if !is_root() {
        return;
    }
    let up = TestUpstream::start().await;
    let dir = tempfile::tempdir().unwrap();
    // nobody must be able to read the list and key after the drop.
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    write_list(dir.path(), &key(), 1, TEST_LIST);
    let port = privileged_port();
    let cfg = config(&[up.addr], "", "[process]\nuser = \"nobody\"").replace(
        "listen = [\"127.0.0.1:0\"]",
        &format!("listen = [\"127.0.0.1:{port}\"]"),
    );
    let w = Ward::start(dir.path(), &cfg, true);
    assert_eq!(w.dns, SocketAddr::from((Ipv4Addr::LOCALHOST, port)));
    assert!(w.wait_for_log("dropped root privileges"), "{}", w.logs());

    let nobody = nix_uid("nobody");
    let pid = w.pid();
    let uids = status_field(pid, "Uid:");
    assert_eq!(uids.len(), 4, "{uids:?}");
    assert!(
        uids.iter().all(|u| *u == nobody.0.to_string()),
        "real, effective, saved, fs uid: {uids:?}"
    );
    let gids = status_field(pid, "Gid:");
    assert!(gids.iter().all(|g| *g == nobody.1.to_string()), "{gids:?}");
    assert!(
        status_field(pid, "Groups:").is_empty(),
        "supplementary groups cleared"
    );
    for caps in ["CapEff:", "CapPrm:", "CapAmb:"] {
        assert_eq!(status_field(pid, caps), ["0000000000000000"], "{caps}");
    }

    // Still serving, on the privileged port, as nobody.
    let m = udp(w.dns, &query("blocked.test.", RecordType::A, None)).await;
    assert_eq!(a_records(&m), vec![Ipv4Addr::new(192, 0, 2, 1)]);
    let m = udp(w.dns, &query("www.example.test.", RecordType::A, None)).await;
    assert_eq!(a_records(&m), vec![Ipv4Addr::new(192, 0, 2, 10)]);
}

/// (uid, gid) of a user, from /etc/passwd.
fn nix_uid(user: &str) -> (u32, u32) {
    let passwd = std::fs::read_to_string("/etc/passwd").unwrap();
    let line = passwd
        .lines()
        .find(|l| l.split(':').next() == Some(user))
        .unwrap_or_else(|| panic!("no user {user}"));
    let f: Vec<&str> = line.split(':').collect();
    (f[2].parse().unwrap(), f[3].parse().unwrap())
}

#[tokio::test]
async fn tells_systemd_it_is_ready_and_feeds_the_watchdog_through_its_own_listener() {
    let up = TestUpstream::start().await;
    let dir = tempfile::tempdir().unwrap();
    write_list(dir.path(), &key(), 7, TEST_LIST);
    let notify_path = dir.path().join("notify.sock");
    let notify = UnixDatagram::bind(&notify_path).unwrap();
    notify
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let mut w = Ward::try_start_with_env(
        dir.path(),
        &config(&[up.addr], "", ""),
        true,
        &[
            ("NOTIFY_SOCKET", notify_path.to_str().unwrap()),
            // A 400 ms watchdog: fed every 200 ms.
            ("WATCHDOG_USEC", "400000"),
        ],
    )
    .unwrap();
    let mut buf = [0u8; 256];
    let mut got = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(10);
    while got.iter().filter(|m: &&String| *m == "WATCHDOG=1").count() < 3
        && Instant::now() < deadline
    {
        let n = notify.recv(&mut buf).expect("a notification");
        got.push(String::from_utf8_lossy(&buf[..n]).into_owned());
    }
    assert_eq!(
        got.first().map(String::as_str),
        Some("READY=1\nSTATUS=enforcing test-national serial 7"),
        "{got:?}"
    );
    assert!(
        got.iter().filter(|m| *m == "WATCHDOG=1").count() >= 3,
        "{got:?}"
    );
    // Each ping followed an answered self-query: CH TXT list.ward. is
    // counted as a local answer.
    let text = crate::serve_lifecycle::http_get(w.admin.unwrap(), "/metrics")
        .await
        .1;
    assert!(
        text.lines().any(|l| l
            .starts_with("ward_queries_total{protocol=\"udp\",result=\"local\"}")
            && !l.ends_with(" 0")),
        "{text}"
    );

    w.signal("TERM");
    let n = notify.recv(&mut buf).expect("STOPPING=1");
    let mut last = String::from_utf8_lossy(&buf[..n]).into_owned();
    while last == "WATCHDOG=1" {
        let n = notify.recv(&mut buf).expect("STOPPING=1");
        last = String::from_utf8_lossy(&buf[..n]).into_owned();
    }
    assert_eq!(last, "STOPPING=1");
    assert_eq!(w.wait_exit(), Some(0));
}
