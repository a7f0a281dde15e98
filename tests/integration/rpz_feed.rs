//! The `[rpz]` feed of `ward serve`, read by real clients: `dig` (AXFR and
//! SOA, with and without TSIG, from inside and outside `allow_transfer`)
//! and Unbound as an RPZ secondary (`rpz: primary:`), in a network
//! namespace of its own like the export test.

use std::collections::BTreeSet;
use std::fmt::Write as _;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use crate::list_file::metric;
use crate::serve::key;
use crate::support::netns::{self, Lab};
use crate::support::ward::{Ward, find_addr, write_list};

/// A base64 secret of 32 bytes.
pub(crate) const SECRET: &str = "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=";
pub(crate) const OTHER_SECRET: &str = "ZmVkY2JhOTg3NjU0MzIxMGZlZGNiYTk4NzY1NDMyMTA=";

/// Enough names for a transfer of several messages.
pub(crate) fn source(extra: &str) -> String {
    let mut s = String::from("bad.example adult\n=exact.example adult\nsecret.example csam\n");
    for i in 0..3000 {
        writeln!(s, "n{i}.filler{}.example gambling", i % 40).unwrap();
    }
    s.push_str(extra);
    s
}

pub(crate) fn config(dir: &Path, feed: &str, allow: &str, tsig: bool) -> String {
    let tsig = if tsig {
        std::fs::write(dir.join("feed.secret"), format!("{SECRET}\n")).unwrap();
        "[[rpz.tsig]]\nname = \"feed-key.\"\nalgorithm = \"hmac-sha256\"\nsecret_file = \"feed.secret\"\n"
    } else {
        ""
    };
    format!(
        r#"
[dns]
listen = ["127.0.0.1:0"]
upstreams = ["127.0.0.1:9"]

[list]
file = "list.ward"
trusted_keys = ["list.pub"]
state_dir = "state"

[admin]
listen = "127.0.0.1:0"

[rpz]
listen = ["{feed}"]
zone = "child.rpz."
allow_transfer = [{allow}]
{tsig}"#
    )
}

pub(crate) fn dig(args: &[&str]) -> String {
    let out = Command::new("dig")
        .args(["+time=5", "+tries=1"])
        .args(args)
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The records of a zone as `dig` prints them (whitespace collapsed),
/// without TSIG.
pub(crate) fn records(text: &str) -> Vec<String> {
    text.lines()
        .filter(|l| !l.starts_with(';') && !l.trim().is_empty() && !l.contains("TSIG"))
        .map(|l| l.split_whitespace().collect::<Vec<_>>().join(" "))
        .collect()
}

/// `ward list export --format rpz` of `dir`'s list, as `dig` would print
/// it: every owner absolute, TTL and class spelled out.
fn exported(dir: &Path) -> BTreeSet<String> {
    let out = Command::new(env!("CARGO_BIN_EXE_ward"))
        .args(["list", "export", "--format", "rpz", "--list"])
        .arg(dir.join("list.ward"))
        .arg("--trust")
        .arg(dir.join("list.pub"))
        .output()
        .unwrap();
    assert!(out.status.success());
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .filter(|l| !l.starts_with([';', '$']))
        .map(|l| {
            let (owner, rest) = l.split_once(' ').unwrap();
            let owner = match owner {
                "@" => "child.rpz.".to_owned(),
                o => format!("{o}.child.rpz."),
            };
            let (rtype, data) = rest.split_once(' ').unwrap();
            format!("{owner} 300 IN {rtype} {data}")
        })
        .collect()
}

/// The feed's address for `transport` (`TCP` or `HTTPS`), from its log
/// line: logged as the feed starts, maybe after the DNS listener.
pub(crate) fn feed_addr(w: &Ward, transport: &str) -> std::net::SocketAddr {
    let line = format!("rpz feed listening for {transport} on ");
    assert!(w.wait_for_log(&line), "{}", w.logs());
    find_addr(&w.logs(), &line).unwrap()
}

pub(crate) fn key_arg(secret: &str) -> String {
    format!("hmac-sha256:feed-key:{secret}")
}

#[tokio::test]
async fn dig_transfers_the_signed_zone_and_others_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    write_list(d, &key(), 2026120701, &source(""));
    // The feed answers 127.0.0.1 only: 127.0.0.2 is outside the ACL.
    let w = Ward::start(d, &config(d, "127.0.0.1:0", "\"127.0.0.1/32\"", true), true);
    let feed = feed_addr(&w, "TCP");
    let (host, port) = (format!("@{}", feed.ip()), feed.port().to_string());
    let at = |extra: &[&str]| {
        let mut args = vec![host.as_str(), "-p", port.as_str()];
        args.extend_from_slice(extra);
        dig(&args)
    };
    let good = key_arg(SECRET);

    // A signed AXFR: dig checks the TSIG of every message.
    let text = at(&["-y", &good, "child.rpz", "AXFR"]);
    assert!(!text.contains("Transfer failed"), "{text}\n{}", w.logs());
    assert!(!text.contains("tsig verify failure"), "{text}");
    let got = records(&text);
    assert!(got.first().unwrap().contains(" SOA "), "{text}");
    assert!(got.last().unwrap().contains(" SOA "), "{text}");
    assert!(got[0].contains(" 2026120701 "), "{}", got[0]);
    let messages: usize = text
        .split("messages ")
        .nth(1)
        .and_then(|s| s.split(',').next())
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    assert!(messages > 1, "one message only: {text}");
    let mut set: BTreeSet<String> = got.iter().cloned().collect();
    assert_eq!(
        got.len(),
        set.len() + 1,
        "the SOA twice, nothing else twice"
    );
    set.retain(|r| !r.contains(" TXT "));
    let mut want = exported(d);
    want.retain(|r| !r.contains(" TXT "));
    assert_eq!(set, want, "the transfer is the export");
    assert!(!text.contains("secret.example"), "confidential names never");

    // The SOA over UDP and TCP, signed.
    for transport in ["+notcp", "+tcp"] {
        let text = at(&[transport, "-y", &good, "child.rpz", "SOA"]);
        assert!(text.contains("status: NOERROR"), "{text}");
        assert!(text.contains(" 2026120701 3600 600 604800 300"), "{text}");
        assert!(!text.contains("verify failure"), "{text}");
    }
    // A wrong key, no key, an unknown key name.
    let text = at(&["-y", &key_arg(OTHER_SECRET), "child.rpz", "AXFR"]);
    assert!(text.contains("Transfer failed"), "{text}");
    assert!(text.contains("BADSIG"), "{text}");
    let text = at(&["+tcp", "child.rpz", "SOA"]);
    assert!(text.contains("status: NOTAUTH"), "{text}");
    let text = at(&[
        "-y",
        &format!("hmac-sha256:other-key:{SECRET}"),
        "child.rpz",
        "AXFR",
    ]);
    assert!(text.contains("BADKEY"), "{text}");
    // Outside the ACL, even with the right key.
    let text = at(&["-b", "127.0.0.2", "-y", &good, "child.rpz", "AXFR"]);
    assert!(text.contains("Transfer failed"), "{text}");
    let text = at(&["-b", "127.0.0.2", "-y", &good, "child.rpz", "SOA"]);
    assert!(text.contains("status: REFUSED"), "{text}");
    // Another zone.
    let text = at(&["-y", &good, "other.rpz", "SOA"]);
    assert!(text.contains("status: REFUSED"), "{text}");

    // A new list: the next transfer serves its zone.
    write_list(d, &key(), 2026120702, &source("new.example adult\n"));
    w.signal("HUP");
    assert!(w.wait_for_log("SIGHUP: list reloaded"), "{}", w.logs());
    let text = at(&["-y", &good, "child.rpz", "AXFR"]);
    let got = records(&text);
    assert!(got[0].contains(" 2026120702 "), "{text}");
    assert!(
        got.contains(&"new.example.child.rpz. 300 IN CNAME .".to_owned()),
        "{text}"
    );
    // An IXFR from the serial served: the SOA alone.
    let text = at(&["-y", &good, "child.rpz", "IXFR=2026120702"]);
    assert_eq!(records(&text).len(), 1, "{text}");

    let admin = w.admin.unwrap();
    let series = |kind: &str, result: &str| {
        format!("ward_rpz_transfers_total{{kind=\"{kind}\",result=\"{result}\"}}")
    };
    assert_eq!(metric(admin, &series("axfr", "ok")).await, Some(2.0));
    assert_eq!(metric(admin, &series("axfr", "notauth")).await, Some(2.0));
    assert_eq!(metric(admin, &series("axfr", "refused")).await, Some(1.0));
    assert_eq!(
        metric(admin, &series("ixfr", "up_to_date")).await,
        Some(1.0)
    );
    assert_eq!(metric(admin, "ward_rpz_serial").await, Some(2026120702.0));
}

pub(crate) fn unbound() -> bool {
    let found = Command::new("unbound").arg("-V").output().is_ok();
    if !found {
        assert!(
            std::env::var_os("WARD_REQUIRE_UNBOUND").is_none(),
            "unbound is not installed and WARD_REQUIRE_UNBOUND is set"
        );
        eprintln!("SKIPPED: unbound is not installed (apt-get install unbound)");
    }
    found
}

/// `dig` at the Unbound in `ns`: the status word.
pub(crate) fn status(lab: &Lab, ns: &str, name: &str) -> String {
    let out = lab.exec(ns, &["dig", "+time=2", "+tries=1", "@127.0.0.1", name, "A"]);
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    text.split("status: ")
        .nth(1)
        .and_then(|s| s.split(',').next())
        .unwrap_or("none")
        .to_owned()
}

#[test]
fn unbound_is_a_secondary_of_the_feed() {
    if !netns::available() || !unbound() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    write_list(d, &key(), 2026120701, &source(""));
    let mut lab = Lab::new();
    let ns = lab.server.clone();
    // Unbound has no TSIG: this feed is guarded by its ACL alone.
    // Unbound takes NOTIFY from the feed on its own port 53.
    let w = Ward::start_in_netns(
        d,
        &config(d, "127.0.0.1:5300", "\"127.0.0.0/8\"", false).replace(
            "zone = \"child.rpz.\"\n",
            "zone = \"child.rpz.\"\nnotify = [\"127.0.0.1:53\"]\n",
        ),
        &ns,
    );
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
    module-config: "respip iterator"
    local-data: "ok.example. A 192.0.2.10"
    local-data: "www.exact.example. A 192.0.2.11"
forward-zone:
    name: "."
    forward-addr: 127.0.0.1@9
rpz:
    name: "child.rpz."
    primary: 127.0.0.1@5300
    allow-notify: 127.0.0.1
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
    // Unbound writes the zone it took to its zonefile: the SOA there is
    // the list serial once the transfer is done.
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let text = std::fs::read_to_string(&copy).unwrap_or_default();
        if text.contains("2026120701") && text.contains("bad.example.child.rpz.") {
            break;
        }
        assert!(Instant::now() < deadline, "no transfer:\n{}", log());
        std::thread::sleep(Duration::from_millis(100));
    }
    for name in ["bad.example", "www.bad.example", "exact.example"] {
        assert_eq!(status(&lab, &ns, name), "NXDOMAIN", "{name}\n{}", log());
    }
    assert_eq!(status(&lab, &ns, "ok.example"), "NOERROR");
    assert_eq!(status(&lab, &ns, "www.exact.example"), "NOERROR");

    // A new list: NOTIFY, then IXFR, bring it to Unbound at once (its
    // SOA refresh is an hour away).
    write_list(d, &key(), 2026120702, &source("new.example adult\n"));
    w.signal("HUP");
    let deadline = Instant::now() + Duration::from_secs(30);
    let copied = || std::fs::read_to_string(&copy).unwrap_or_default();
    while status(&lab, &ns, "www.new.example") != "NXDOMAIN" || !copied().contains("2026120702") {
        assert!(
            Instant::now() < deadline,
            "the new list never reached Unbound:\n{}\n{}",
            log(),
            w.logs()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(w.logs().contains("NOTIFY acknowledged"), "{}", w.logs());
    let text = std::fs::read_to_string(&copy).unwrap();
    assert!(!text.contains("secret"), "{text}");

    // `ward probe` at the secondary: every sampled listed name blocked.
    let (list, trust) = (d.join("list.ward"), d.join("list.pub"));
    let out = lab.exec(
        &ns,
        &[
            env!("CARGO_BIN_EXE_ward"),
            "probe",
            "--resolver",
            "127.0.0.1:53",
            "--list",
            list.to_str().unwrap(),
            "--trust",
            trust.to_str().unwrap(),
            "--json",
            "--timeout",
            "2s",
        ],
    );
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|_| {
        panic!(
            "ward probe printed no JSON: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    });
    assert_eq!(out.status.code(), Some(0), "{json:#}");
    assert_eq!(json["compliant"], true, "{json:#}");
    assert!(json["dns"]["probed"].as_u64() > Some(10), "{json:#}");
    assert_eq!(json["dns"]["blocked"], json["dns"]["probed"], "{json:#}");
}
