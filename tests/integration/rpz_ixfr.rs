//! The `[rpz]` feed after a new list: NOTIFY to a secondary (this test
//! plays it, on a UDP socket of its own), IXFR of the changes read by
//! `dig`, and the zone file over HTTPS read by `curl` (ETag, 304, the
//! ACL).

use std::net::UdpSocket;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use hickory_proto::op::{Message, OpCode};
use hickory_proto::rr::{RData, RecordType};

use crate::list_file::metric;
use crate::rpz_feed::{SECRET, config, dig, feed_addr, key_arg, records, source};
use crate::serve::key;
use crate::support::https::make_tls;
use crate::support::ward::{Ward, write_list};

/// Waits for a NOTIFY on `secondary`, checks it, answers it; the serial
/// in its SOA.
fn take_notify(secondary: &UdpSocket) -> u32 {
    let mut buf = [0u8; 4096];
    let (len, from) = secondary.recv_from(&mut buf).expect("a NOTIFY within 60 s");
    let msg = Message::from_vec(&buf[..len]).expect("a DNS message");
    assert_eq!(msg.op_code, OpCode::Notify);
    assert!(msg.metadata.authoritative);
    assert_eq!(msg.queries[0].name().to_ascii(), "child.rpz.");
    assert_eq!(msg.queries[0].query_type(), RecordType::SOA);
    assert!(
        msg.signature.is_some()
            || msg
                .additionals
                .iter()
                .any(|r| r.record_type() == RecordType::TSIG),
        "signed with the feed's key"
    );
    let RData::SOA(soa) = &msg.answers[0].data else {
        panic!("no SOA in {msg:?}");
    };
    // The answer: the header with QR set and the question, unsigned.
    let mut answer = buf[..len].to_vec();
    answer[2] |= 0x80;
    answer[6..12].copy_from_slice(&[0, 0, 0, 0, 0, 0]);
    // The header, then child.rpz. (11 bytes in wire form), type, class.
    let question_end = 12 + 11 + 4;
    answer.truncate(question_end);
    secondary.send_to(&answer, from).unwrap();
    soa.serial
}

fn curl(d: &Path, args: &[&str]) -> (String, String) {
    let out = Command::new("curl")
        .args(["-sS", "--max-time", "20", "--cacert"])
        .arg(d.join("ca.pem"))
        .args(["-D", "-", "-o"])
        .arg(d.join("body"))
        .args(args)
        .output()
        .unwrap();
    let head = String::from_utf8_lossy(&out.stdout).into_owned();
    let body = std::fs::read_to_string(d.join("body")).unwrap_or_default();
    let _ = std::fs::remove_file(d.join("body"));
    (head, body)
}

#[tokio::test]
async fn a_new_list_is_notified_sent_as_ixfr_and_served_over_https() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    write_list(d, &key(), 2026120701, &source(""));
    make_tls(d);
    let secondary = UdpSocket::bind("127.0.0.1:0").unwrap();
    secondary
        .set_read_timeout(Some(Duration::from_secs(60)))
        .unwrap();
    let port = secondary.local_addr().unwrap().port();
    let text = config(d, "127.0.0.1:0", "\"127.0.0.1/32\"", true).replace(
        "zone = \"child.rpz.\"\n",
        &format!(
            "zone = \"child.rpz.\"\ncategory_actions = [\"gambling=nodata\", \"later=redirect\"]\nnotify = [\"127.0.0.1:{port}\"]\nhttps_listen = [\"127.0.0.1:0\"]\ncert = \"server.pem\"\nkey = \"server.key\"\n"
        ),
    );
    let w = Ward::start(d, &text, true);
    let admin = w.admin.unwrap();
    let feed = feed_addr(&w, "TCP");
    let https = feed_addr(&w, "HTTPS");
    let (host, dport) = (format!("@{}", feed.ip()), feed.port().to_string());
    let at = |extra: &[&str]| {
        let mut args = vec![host.as_str(), "-p", dport.as_str()];
        args.extend_from_slice(extra);
        dig(&args)
    };
    let good = key_arg(SECRET);

    // At start, the zone served is announced.
    assert_eq!(take_notify(&secondary), 2026120701, "{}", w.logs());

    // A new list: one name more, one fewer.
    let next = source("new.example adult\n").replace("n7.filler7.example gambling\n", "");
    write_list(d, &key(), 2026120702, &next);
    w.signal("HUP");
    assert!(w.wait_for_log("SIGHUP: list reloaded"), "{}", w.logs());
    assert_eq!(take_notify(&secondary), 2026120702, "{}", w.logs());
    let series = "ward_rpz_notify_total{result=\"acknowledged\"}";
    for _ in 0..200 {
        if metric(admin, series).await == Some(2.0) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(metric(admin, series).await, Some(2.0));

    // IXFR from the first serial: exactly the changes, framed by SOAs.
    let text = at(&["-y", &good, "child.rpz", "IXFR=2026120701"]);
    assert!(!text.contains("failed"), "{text}");
    assert!(!text.contains("verify failure"), "{text}");
    let got = records(&text);
    let soas: Vec<&String> = got.iter().filter(|r| r.contains(" SOA ")).collect();
    let serials: Vec<&str> = soas
        .iter()
        .map(|r| r.split_whitespace().nth(6).unwrap())
        .collect();
    assert_eq!(
        serials,
        ["2026120702", "2026120701", "2026120702", "2026120702"],
        "{text}"
    );
    let body: Vec<&String> = got
        .iter()
        .filter(|r| !r.contains(" SOA ") && !r.contains(" TXT "))
        .collect();
    assert_eq!(
        body,
        [
            // gambling=nodata; `later` is in no list yet: ignored.
            "n7.filler7.example.child.rpz. 300 IN CNAME *.",
            "*.n7.filler7.example.child.rpz. 300 IN CNAME *.",
            "new.example.child.rpz. 300 IN CNAME .",
            "*.new.example.child.rpz. 300 IN CNAME .",
        ],
        "{text}"
    );
    let txts: Vec<&String> = got.iter().filter(|r| r.contains(" TXT ")).collect();
    assert_eq!(txts.len(), 2, "{text}");
    assert!(txts[0].contains("serial=2026120701"), "{text}");
    assert!(txts[1].contains("serial=2026120702"), "{text}");

    // From a serial the history does not hold: the whole zone.
    let text = at(&["-y", &good, "child.rpz", "IXFR=2026000000"]);
    assert!(records(&text).len() > 6000, "{text}");
    let transfers =
        |result: &str| format!("ward_rpz_transfers_total{{kind=\"ixfr\",result=\"{result}\"}}");
    assert_eq!(metric(admin, &transfers("incremental")).await, Some(1.0));
    assert_eq!(metric(admin, &transfers("ok")).await, Some(1.0));
    assert_eq!(
        metric(admin, "ward_rpz_secondary_serial{secondary=\"127.0.0.1\"}").await,
        Some(2026120702.0)
    );

    // The zone file over HTTPS, with its ETag.
    let url = format!("https://127.0.0.1:{}/child.rpz", https.port());
    let (head, body) = curl(d, &[&url]);
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    assert!(body.contains("$ORIGIN child.rpz."), "{body:.300}");
    assert!(body.contains("serial=2026120702"), "{body:.300}");
    assert!(body.contains("\nnew.example CNAME .\n"), "{body:.300}");
    assert!(
        body.contains("\nn8.filler8.example CNAME *.\n"),
        "{body:.300}"
    );
    assert!(!body.contains("secret.example"));
    let etag = head
        .lines()
        .find_map(|l| {
            l.strip_prefix("etag: ")
                .or_else(|| l.strip_prefix("ETag: "))
        })
        .expect("an ETag")
        .trim()
        .to_owned();
    assert!(etag.starts_with("\"2026120702-"), "{etag}");
    let (head, body) = curl(d, &["-H", &format!("If-None-Match: {etag}"), &url]);
    assert!(head.starts_with("HTTP/1.1 304"), "{head}");
    assert!(body.is_empty());
    let (head, _) = curl(d, &["--interface", "127.0.0.2", &url]);
    assert!(head.starts_with("HTTP/1.1 403"), "{head}");
    let other = format!("https://127.0.0.1:{}/other.rpz", https.port());
    let (head, _) = curl(d, &[&other]);
    assert!(head.starts_with("HTTP/1.1 404"), "{head}");
    for (result, want) in [("ok", 1.0), ("not_modified", 1.0), ("refused", 1.0)] {
        let series = format!("ward_rpz_https_requests_total{{result=\"{result}\"}}");
        assert_eq!(metric(admin, &series).await, Some(want), "{series}");
    }
}

/// Unbound has no TSIG; its `rpz: url:` takes the zone file over HTTPS,
/// checked against the test CA.
#[test]
fn unbound_takes_the_zone_over_https() {
    use crate::support::netns::{self, Lab};
    if !netns::available() || !crate::rpz_feed::unbound() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    write_list(d, &key(), 2026120701, &source(""));
    make_tls(d);
    let mut lab = Lab::new();
    let ns = lab.server.clone();
    let text = config(d, "127.0.0.1:5300", "\"127.0.0.0/8\"", false).replace(
        "zone = \"child.rpz.\"\n",
        "zone = \"child.rpz.\"\nhttps_listen = [\"127.0.0.1:8443\"]\ncert = \"server.pem\"\nkey = \"server.key\"\n",
    );
    let _w = Ward::start_in_netns(d, &text, &ns);
    lab.wait_tcp(&ns, "127.0.0.1", 8443);
    let copy = d.join("child.rpz.copy");
    std::fs::write(
        d.join("unbound.conf"),
        format!(
            r#"server:
    interface: 127.0.0.1
    port: 53
    do-ip6: no
    username: ""
    chroot: ""
    directory: "{dir}"
    pidfile: ""
    use-syslog: no
    logfile: ""
    verbosity: 1
    tls-cert-bundle: "{dir}/ca.pem"
    module-config: "respip iterator"
    local-data: "ok.example. A 192.0.2.10"
forward-zone:
    name: "."
    forward-addr: 127.0.0.1@9
rpz:
    name: "child.rpz."
    url: "https://127.0.0.1:8443/child.rpz"
    zonefile: "{copy}"
"#,
            dir = d.display(),
            copy = copy.display()
        ),
    )
    .unwrap();
    let conf = d.join("unbound.conf");
    lab.spawn(
        &ns,
        &["unbound", "-d", "-p", "-c", conf.to_str().unwrap()],
        d,
        &d.join("unbound.log"),
    );
    lab.wait_tcp(&ns, "127.0.0.1", 53);
    let log = || std::fs::read_to_string(d.join("unbound.log")).unwrap_or_default();
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    loop {
        let text = std::fs::read_to_string(&copy).unwrap_or_default();
        if text.contains("2026120701") && text.contains("bad.example") {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no download:\n{}",
            log()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    let status = |name: &str| crate::rpz_feed::status(&lab, &ns, name);
    for name in ["bad.example", "www.bad.example", "exact.example"] {
        assert_eq!(status(name), "NXDOMAIN", "{name}\n{}", log());
    }
    assert_eq!(status("ok.example"), "NOERROR");
}
