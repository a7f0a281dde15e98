//! School profiles over DNS: real `dig` from different loopback source
//! addresses gets different answers for the same name, per profile.

use std::net::SocketAddr;
use std::path::Path;

use ed25519_dalek::SigningKey;

use crate::serve::{config, key};
use crate::serve_lifecycle::http_get;
use crate::support::upstream::TestUpstream;
use crate::support::ward::{TEST_LIST, Ward, write_list};

/// A signed extra list `age.ward` (trusted via `age.pub`) rating `social`
/// for 13 and over; `forum` has no rating, so it blocks every age.
pub(crate) fn write_age_list(dir: &Path) {
    let key = SigningKey::from_bytes(&[7; 32]);
    let now = jiff::Timestamp::now();
    let opts = ward::list::BuildOptions {
        list_id: "moet-age".into(),
        serial: 5,
        issued_at: now,
        expires_at: now + jiff::SignedDuration::from_hours(24),
        confidential: Default::default(),
        min_age: [("social".to_string(), 13)].into_iter().collect(),
    };
    let source = "social.test social\nforum.test forum\n";
    let (bytes, _) = ward::list::build::build_from_str(source, &opts, &key).unwrap();
    std::fs::write(dir.join("age.ward"), bytes).unwrap();
    std::fs::write(
        dir.join("age.pub"),
        ward::keys::public_file_text(&key.verifying_key()),
    )
    .unwrap();
}

const PROFILES: &str = r#"
[[lists]]
name = "school"
source = "school.txt"

[[lists]]
name = "age"
file = "age.ward"
trusted_keys = ["age.pub"]

[[lists]]
name = "missing"
file = "missing.ward"
trusted_keys = ["age.pub"]

[[profile]]
name = "primary"
clients = ["127.0.0.2"]
age = 10
lists = ["school", "age"]
allow = "allow.txt"

[[profile]]
name = "secondary"
clients = ["127.0.0.3/32"]
age = 15
lists = ["age"]

[[profile]]
name = "broken"
clients = ["127.0.0.4"]
age = 12
lists = ["missing"]
"#;

/// `dig -b SOURCE @ward ARGS...`: its whole output.
pub(crate) async fn dig(w: &Ward, source: &str, args: &[&str]) -> String {
    dig_at(w.dns, source, args).await
}

/// `dig -b SOURCE @SERVER ARGS...`: its whole output.
async fn dig_at(server: SocketAddr, source: &str, args: &[&str]) -> String {
    let out = tokio::process::Command::new("dig")
        .args(["-b", source, &format!("@{}", server.ip())])
        .args(["-p", &server.port().to_string(), "+tries=1", "+time=5"])
        .args(args)
        .output()
        .await
        .unwrap();
    String::from_utf8_lossy(&out.stdout).into_owned()
}

pub(crate) fn have_dig() -> bool {
    let have = std::process::Command::new("dig").arg("-v").output().is_ok();
    assert!(
        have || std::env::var_os("WARD_REQUIRE_DIG").is_none(),
        "dig is required but missing"
    );
    have
}

fn start(dir: &Path, up: &TestUpstream) -> Ward {
    write_files(dir);
    let cfg = format!("{}{PROFILES}", config(&[up.addr], "", ""));
    Ward::start(dir, &cfg, true)
}

/// The national list, the extra lists and the allow file of [`PROFILES`].
fn write_files(dir: &Path) {
    write_list(dir, &key(), 1, TEST_LIST);
    write_age_list(dir);
    std::fs::write(
        dir.join("school.txt"),
        "# the school's own list\ngames.test games\n=late.example.test games\n",
    )
    .unwrap();
    // blocked.test is on the national list: allow cannot unblock it.
    std::fs::write(dir.join("allow.txt"), "blocked.test\n=ok.games.test\n").unwrap();
}

pub(crate) fn allowed(text: &str) -> bool {
    text.contains("status: NOERROR") && text.contains("192.0.2.200") && !text.contains("EDE")
}

pub(crate) fn filtered(text: &str, list: &str, category: &str) -> bool {
    text.contains("192.0.2.1\n")
        && text.contains("EDE: 17 (Filtered)")
        && text.contains(&format!("list {list} serial"))
        && text.contains(&format!("(category {category})"))
}

pub(crate) fn censored(text: &str) -> bool {
    text.contains("192.0.2.1\n") && text.contains("EDE: 16 (Censored)")
}

#[tokio::test]
async fn each_profile_gets_its_own_answer_over_dig() {
    if !have_dig() {
        return;
    }
    let up = TestUpstream::start_wildcard().await;
    let dir = tempfile::tempdir().unwrap();
    let w = start(dir.path(), &up);
    // No profile first, so that the answer is cached: the cache is shared
    // and must not carry the unprofiled verdict to a profiled client.
    for name in ["games.test", "later.example.test"] {
        let text = dig(&w, "127.0.0.1", &[name, "A"]).await;
        assert!(text.contains("NOERROR") && !text.contains("EDE"), "{text}");
    }
    let text = dig(&w, "127.0.0.2", &["games.test", "A"]).await;
    assert!(filtered(&text, "school", "games"), "{text}");
    // A cached answer whose chain leads to a name the profile blocks.
    let text = dig(&w, "127.0.0.2", &["later.example.test", "A"]).await;
    assert!(text.contains("EDE: 17 (Filtered)"), "{text}");
    // Its allow file unblocks the profile's own lists...
    let text = dig(&w, "127.0.0.2", &["ok.games.test", "A"]).await;
    assert!(allowed(&text), "{text}");
    // ...but never the national list, which blocks every profile.
    for source in ["127.0.0.1", "127.0.0.2", "127.0.0.3", "127.0.0.4"] {
        let text = dig(&w, source, &["www.blocked.test", "A"]).await;
        assert!(censored(&text), "{source}: {text}");
    }
    // The secondary profile does not use the school list.
    let text = dig(&w, "127.0.0.3", &["games.test", "A"]).await;
    assert!(allowed(&text), "{text}");
    // Each block is counted under the client's profile, the list that
    // blocked (the national one as "national") and its category.
    let (status, metrics) = http_get(w.admin.unwrap(), "/metrics").await;
    assert_eq!(status, 200);
    let series = |profile: &str, list: &str, category: &str| {
        format!(
            "ward_profile_blocked_total{{profile=\"{profile}\",list=\"{list}\",category=\"{category}\",channel=\"dns\"}} "
        )
    };
    for (profile, list, category, n) in [
        ("primary", "school", "games", 2),
        ("primary", "national", "adult", 1),
        ("secondary", "national", "adult", 1),
        ("broken", "national", "adult", 1),
        ("primary", "national", "csam", 0),
        ("secondary", "age", "forum", 0),
    ] {
        let want = format!("{}{n}", series(profile, list, category));
        assert!(metrics.lines().any(|l| l == want), "{want}\n{metrics}");
    }
    // A list a profile does not use has no series for it.
    assert!(!metrics.contains(&series("secondary", "school", "games")));
    up.stop().await;
}

#[tokio::test]
async fn age_ratings_and_an_unloaded_list_end_to_end() {
    if !have_dig() {
        return;
    }
    let up = TestUpstream::start_wildcard().await;
    let dir = tempfile::tempdir().unwrap();
    let w = start(dir.path(), &up);
    // social=13: blocked at 10, allowed at 15 and without a profile.
    let text = dig(&w, "127.0.0.2", &["www.social.test", "A"]).await;
    assert!(filtered(&text, "age", "social"), "{text}");
    let text = dig(&w, "127.0.0.3", &["www.social.test", "A"]).await;
    assert!(allowed(&text), "{text}");
    let text = dig(&w, "127.0.0.1", &["www.social.test", "A"]).await;
    assert!(allowed(&text), "{text}");
    // No rating: blocked at every age that uses the list.
    for source in ["127.0.0.2", "127.0.0.3"] {
        let text = dig(&w, source, &["forum.test", "A", "+tcp"]).await;
        assert!(filtered(&text, "age", "forum"), "{source}: {text}");
    }
    // The broken profile's only list never loaded: SERVFAIL, EDE 14,
    // never an unfiltered answer; the national list still blocks.
    let text = dig(&w, "127.0.0.4", &["www.example.test", "A"]).await;
    assert!(
        text.contains("status: SERVFAIL") && text.contains("EDE: 14 (Not Ready)"),
        "{text}"
    );
    assert!(text.contains("list missing is not loaded"), "{text}");
    let text = dig(&w, "127.0.0.4", &["blocked.test", "A"]).await;
    assert!(censored(&text), "{text}");
    // Every list in force is visible, the national one first.
    let text = dig(
        &w,
        "127.0.0.1",
        &["+short", "-c", "CH", "-t", "TXT", "list.ward"],
    )
    .await;
    let lines: Vec<&str> = text.lines().collect();
    assert!(
        lines[0].starts_with("\"list=test-national\" \"serial=1\""),
        "{text}"
    );
    assert!(
        lines
            .iter()
            .any(|l| l.starts_with("\"name=school\" \"list=school\"")),
        "{text}"
    );
    assert!(
        lines
            .iter()
            .any(|l| l.starts_with("\"name=age\" \"list=moet-age\" \"serial=5\"")),
        "{text}"
    );
    assert!(lines.contains(&"\"name=missing\" \"not-loaded\""), "{text}");
    // And /readyz says which list is missing, for which profile.
    let admin = w.admin.unwrap();
    let (status, body) = http_get(admin, "/readyz").await;
    assert_eq!(status, 503, "{body}");
    assert!(
        body.contains("extra list missing is not loaded; profile(s) broken"),
        "{body}"
    );
    up.stop().await;
}

/// Profiles for the block page: a primary school (age 10) with its name
/// and contact, a secondary (15) without, and a library profile for
/// 127.0.0.1, where headless Chromium connects from.
const PAGE_PROFILES: &str = r#"
[blockpage]
listen = ["127.0.0.1:0"]

[[lists]]
name = "age"
file = "age.ward"
trusted_keys = ["age.pub"]

[[profile]]
name = "primary"
clients = ["127.0.0.2"]
age = 10
lists = ["age"]
school_name = "Trường Tiểu học Kim Đồng"
school_contact = "024 3825 1234"

[[profile]]
name = "secondary"
clients = ["127.0.0.3"]
age = 15
lists = ["age"]

[[profile]]
name = "library"
clients = ["127.0.0.1"]
age = 8
lists = ["age"]
school_name = "Thư viện Kim Đồng"
"#;

/// `GET /` with `Host: host` to the block page, from `source` (the
/// client socket bound to that loopback address): the whole response.
async fn page_from(source: &str, page: std::net::SocketAddr, host: &str) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.bind(format!("{source}:0").parse().unwrap()).unwrap();
    let mut stream = socket.connect(page).await.unwrap();
    let request = format!("GET / HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut out = Vec::new();
    stream.read_to_end(&mut out).await.unwrap();
    String::from_utf8(out).unwrap()
}

#[tokio::test]
async fn the_block_page_knows_the_reader_by_address() {
    let up = TestUpstream::start_wildcard().await;
    let dir = tempfile::tempdir().unwrap();
    write_list(dir.path(), &key(), 1, TEST_LIST);
    write_age_list(dir.path());
    let cfg = format!("{}{PAGE_PROFILES}", config(&[up.addr], "", ""));
    let w = Ward::start(dir.path(), &cfg, true);
    assert!(w.wait_for_log("block page listening on "), "{}", w.logs());
    let page = crate::support::ward::find_addr(&w.logs(), "block page listening on ").unwrap();

    // The same blocked name, two readers: child and teen wording.
    let child = page_from("127.0.0.2", page, "blocked.test").await;
    assert!(child.starts_with("HTTP/1.1 451 "), "{child}");
    assert!(
        child.contains("Trang này không dành cho các bạn nhỏ"),
        "{child}"
    );
    assert!(child.contains("This page is not for children"), "{child}");
    assert!(child.contains("Trường Tiểu học Kim Đồng"), "{child}");
    assert!(child.contains("School contact: 024 3825 1234"), "{child}");
    let teen = page_from("127.0.0.3", page, "blocked.test").await;
    assert!(teen.starts_with("HTTP/1.1 451 "), "{teen}");
    assert!(
        teen.contains("by Vietnam’s national child-protection list"),
        "{teen}"
    );
    assert!(
        !teen.contains("các bạn nhỏ") && !teen.contains("Kim Đồng"),
        "{teen}"
    );
    // A profile's own list: social is 13+, so only the child's page
    // names it; the teen was never blocked.
    let child = page_from("127.0.0.2", page, "www.social.test").await;
    assert!(child.contains("www.social.test"), "{child}");
    let teen = page_from("127.0.0.3", page, "www.social.test").await;
    assert!(!teen.contains("www.social.test"), "{teen}");
    // Confidential: the neutral page, no school detail.
    let secret = page_from("127.0.0.2", page, "secret.test").await;
    assert!(secret.contains("không an toàn cho trẻ em"), "{secret}");
    assert!(
        !secret.contains("Kim Đồng") && !secret.contains("secret.test"),
        "{secret}"
    );

    // What a browser shows, from 127.0.0.1 (the library profile).
    if let Some(bin) = crate::blockpage::chromium() {
        let url = format!("http://blocked.test:{}/", page.port());
        let dom = crate::blockpage::run_chromium(bin, "vi", &["--dump-dom".to_owned()], &url).await;
        let text = crate::blockpage::text_of(&dom);
        assert!(
            text.contains("Trang này không dành cho các bạn nhỏ"),
            "{text}"
        );
        assert!(text.contains("Thư viện Kim Đồng"), "{text}");
        assert!(
            text.contains("Tổng đài quốc gia bảo vệ trẻ em 111"),
            "{text}"
        );
    } else {
        assert!(
            std::env::var("WARD_REQUIRE_CHROMIUM").as_deref() != Ok("1"),
            "WARD_REQUIRE_CHROMIUM=1 but chromium is not installed"
        );
        eprintln!("SKIPPED (Chromium part): chromium not installed");
    }
    up.stop().await;
}

#[tokio::test]
async fn a_listen_address_selects_its_profile_before_the_client_network() {
    if !have_dig() {
        return;
    }
    let up = TestUpstream::start_wildcard().await;
    let dir = tempfile::tempdir().unwrap();
    write_files(dir.path());
    // Two listen addresses; the second is the school's own, selected by a
    // profile with no client networks at all.
    let base = config(&[up.addr], "", "");
    let two = r#"listen = ["127.0.0.1:0", "127.0.0.5:0"]"#;
    let cfg = base.replacen(r#"listen = ["127.0.0.1:0"]"#, two, 1);
    assert!(cfg.contains(two), "{cfg}");
    let cfg = format!(
        r#"{cfg}{PROFILES}
[[profile]]
name = "school-port"
listen = ["127.0.0.5:0"]
age = 10
lists = ["school"]
"#
    );
    let w = Ward::start(dir.path(), &cfg, false);
    let logs = w.logs();
    let udp: Vec<SocketAddr> = logs
        .match_indices("listening for UDP on ")
        .filter_map(|(at, marker)| {
            let rest = &logs[at + marker.len()..];
            let end = rest.find(char::is_whitespace).unwrap_or(rest.len());
            rest[..end].parse().ok()
        })
        .collect();
    let national = udp
        .iter()
        .copied()
        .find(|a| a.ip().to_string() == "127.0.0.1");
    let school = udp
        .iter()
        .copied()
        .find(|a| a.ip().to_string() == "127.0.0.5");
    let (Some(national), Some(school)) = (national, school) else {
        panic!("two UDP listeners expected:\n{logs}");
    };
    for transport in ["+notcp", "+tcp"] {
        // The same client, the same name: the school's address applies the
        // profile's list (EDE 17)...
        let text = dig_at(school, "127.0.0.1", &["games.test", "A", transport]).await;
        assert!(filtered(&text, "school", "games"), "{transport}: {text}");
        // ...the other gives the national list alone.
        let text = dig_at(national, "127.0.0.1", &["games.test", "A", transport]).await;
        assert!(allowed(&text), "{transport}: {text}");
        // The listener wins over the client's own profile (secondary does
        // not use the school list), and the national list still blocks.
        let text = dig_at(school, "127.0.0.3", &["games.test", "A", transport]).await;
        assert!(filtered(&text, "school", "games"), "{transport}: {text}");
        let text = dig_at(national, "127.0.0.3", &["games.test", "A", transport]).await;
        assert!(allowed(&text), "{transport}: {text}");
        let text = dig_at(school, "127.0.0.1", &["www.blocked.test", "A", transport]).await;
        assert!(censored(&text), "{transport}: {text}");
    }
    up.stop().await;
}
