//! `ward probe` against real resolvers on loopback: `ward serve` with the
//! newest list, `ward serve` still on an older serial, and a resolver that
//! filters nothing (the test authoritative server with a wildcard). Plus
//! the SNI channel against a TLS server that completes handshakes and one
//! that answers `access_denied`, and `ward list build --canary-domain`.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener};
use std::path::Path;

use crate::support::receiver::Receiver;
use crate::support::upstream::TestUpstream;
use crate::support::ward::Ward;
use crate::util::{Run, ward};

const SOURCE: &str = "\
blocked.test        adult
tracker.test        ads
=exact.example.test violence
gambling.test       gambling
secret.test         csam
";

/// `ward` in a blocking thread, so in-process servers keep running.
async fn ward_async(dir: &Path, args: &[&str]) -> Run {
    let dir = dir.to_path_buf();
    let args: Vec<String> = args.iter().map(|a| (*a).to_owned()).collect();
    tokio::task::spawn_blocking(move || {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        ward(&dir, &args)
    })
    .await
    .unwrap()
}

/// The ministry's key and lists with serials 1 and 2, each with its canary.
fn publish(dir: &Path) {
    let r = ward(dir, &["keygen", "--out", "ministry"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    std::fs::write(dir.join("source.txt"), SOURCE).unwrap();
    for serial in ["1", "2"] {
        let out = format!("v{serial}.ward");
        let r = ward(
            dir,
            &[
                "list",
                "build",
                "--key",
                "ministry.key",
                "--serial",
                serial,
                "--list-id",
                "vn-national",
                "--valid-for",
                "7d",
                "--confidential",
                "csam",
                "--canary-domain",
                "canary.test",
                "-o",
                &out,
                "source.txt",
            ],
        );
        assert_eq!(r.code, 0, "{}", r.stderr);
        assert!(
            r.stdout
                .contains(&format!("canary: s{serial}.canary.test (category canary)")),
            "{}",
            r.stdout
        );
    }
}

fn serve(dir: &Path, list: &str, upstream: SocketAddr) -> Ward {
    let node = dir.join(format!("node-{list}"));
    std::fs::create_dir_all(&node).unwrap();
    let config = format!(
        r#"
[dns]
listen = ["127.0.0.1:0"]
upstreams = ["{upstream}"]
[list]
file = {:?}
trusted_keys = [{:?}]
state_dir = "state"
[admin]
listen = "off"
"#,
        dir.join(list),
        dir.join("ministry.pub")
    );
    Ward::start(&node, &config, false)
}

async fn probe(dir: &Path, resolver: SocketAddr, extra: &[&str]) -> (Run, serde_json::Value) {
    let resolver = resolver.to_string();
    let mut args = vec![
        "probe",
        "--resolver",
        &resolver,
        "--list",
        "v2.ward",
        "--trust",
        "ministry.pub",
        "--json",
        "--timeout",
        "1s",
    ];
    args.extend_from_slice(extra);
    let r = ward_async(dir, &args).await;
    let json = serde_json::from_str(&r.stdout).unwrap_or(serde_json::Value::Null);
    (r, json)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn probe_tells_current_old_and_unfiltered_resolvers_apart() {
    let up = TestUpstream::start_wildcard().await;
    let dir = tempfile::tempdir().unwrap();
    publish(dir.path());
    let current = serve(dir.path(), "v2.ward", up.addr);
    let old = serve(dir.path(), "v1.ward", up.addr);

    let (r, j) = probe(dir.path(), current.dns, &[]).await;
    assert_eq!(r.code, 0, "{}\n{}", r.stdout, r.stderr);
    assert_eq!(j["compliant"], true);
    assert_eq!(j["serial_seen"], 2);
    assert_eq!(j["canary"]["name"], "s2.canary.test");
    assert_eq!(j["canary"]["dns"]["verdict"], "blocked");
    assert_eq!(j["dns"]["share_blocked"], 1.0);
    // Every public entry was sampled (4 of them), never the confidential one.
    assert_eq!(j["names"].as_array().unwrap().len(), 4, "{j:#}");
    assert!(!r.stdout.contains("secret.test"));
    assert!(!r.stdout.contains("csam"));

    // Still on serial 1: its own canary (s1) is blocked, the newest (s2)
    // is not, and CH TXT says so too.
    let (r, j) = probe(dir.path(), old.dns, &[]).await;
    assert_eq!(r.code, 2, "{}\n{}", r.stdout, r.stderr);
    assert_eq!(j["compliant"], false);
    assert_eq!(j["serial_seen"], 1);
    assert_eq!(j["canary"]["dns"]["verdict"], "not_blocked", "{j:#}");
    let reasons = j["reasons"].to_string();
    assert!(reasons.contains("does not enforce serial 2"), "{reasons}");
    assert!(reasons.contains("older than 2"), "{reasons}");
    assert_eq!(j["dns"]["share_blocked"], 0.8, "4 of 5: all but the canary");

    // A resolver that filters nothing, judged by its answers alone.
    let (r, j) = probe(dir.path(), up.addr, &[]).await;
    assert_eq!(r.code, 2, "{}\n{}", r.stdout, r.stderr);
    assert_eq!(j["serial_seen"], serde_json::Value::Null);
    assert_eq!(j["dns"]["blocked"], 0, "{j:#}");
    assert_eq!(j["dns"]["not_blocked"].as_array().unwrap().len(), 5);

    // Text output says the same.
    let text = ward_async(
        dir.path(),
        &[
            "probe",
            "--resolver",
            &old.dns.to_string(),
            "--list",
            "v2.ward",
            "--trust",
            "ministry.pub",
        ],
    )
    .await;
    assert_eq!(text.code, 2);
    assert!(text.stdout.contains("NOT COMPLIANT"), "{}", text.stdout);
    assert!(
        text.stdout
            .contains("s2.canary.test [canary]: dns NOT blocked"),
        "{}",
        text.stdout
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn probe_judges_the_tls_path_by_its_handshake() {
    let up = TestUpstream::start_wildcard().await;
    let dir = tempfile::tempdir().unwrap();
    publish(dir.path());
    let node = serve(dir.path(), "v2.ward", up.addr);

    // A path that refuses every ClientHello with a fatal access_denied
    // alert, as ward's SNI filter does.
    let alerting = TcpListener::bind("127.0.0.1:0").unwrap();
    let alert_addr = alerting.local_addr().unwrap();
    std::thread::spawn(move || {
        for conn in alerting.incoming() {
            let Ok(mut c) = conn else { continue };
            let mut buf = [0u8; 4096];
            let _ = c.read(&mut buf);
            let _ = c.write_all(&[0x15, 0x03, 0x03, 0x00, 0x02, 0x02, 0x31]);
        }
    });
    let (r, j) = probe(dir.path(), node.dns, &["--sni", &alert_addr.to_string()]).await;
    assert_eq!(r.code, 0, "{}\n{}", r.stdout, r.stderr);
    assert_eq!(j["sni"]["share_blocked"], 1.0, "{j:#}");
    assert_eq!(j["canary"]["sni"]["detail"], "alert access_denied");

    // A path that lets every handshake through.
    let open = Receiver::start(dir.path()).await;
    let port = open
        .url
        .split(':')
        .nth(2)
        .unwrap()
        .split('/')
        .next()
        .unwrap();
    let open_addr = format!("127.0.0.1:{port}");
    let (r, j) = probe(dir.path(), node.dns, &["--sni", &open_addr]).await;
    assert_eq!(r.code, 2, "{}\n{}", r.stdout, r.stderr);
    assert_eq!(j["sni"]["blocked"], 0, "{j:#}");
    assert_eq!(j["dns"]["share_blocked"], 1.0);
    assert!(j["reasons"].to_string().contains("not blocked over TLS"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn probe_errors_exit_1() {
    let dir = tempfile::tempdir().unwrap();
    publish(dir.path());
    // Nothing listens there: no answer at all is an error, not a verdict.
    let dead = crate::support::upstream::dead_addr().await;
    let (r, _) = probe(dir.path(), dead, &[]).await;
    assert_eq!(r.code, 1, "{}\n{}", r.stdout, r.stderr);
    assert!(r.stderr.contains("no usable DNS answer"), "{}", r.stderr);
    // An untrusted list.
    std::fs::write(
        dir.path().join("other.pub"),
        ward::keys::public_file_text(
            &ed25519_dalek::SigningKey::from_bytes(&[3; 32]).verifying_key(),
        ),
    )
    .unwrap();
    let r = ward(
        dir.path(),
        &[
            "probe",
            "--resolver",
            "127.0.0.1",
            "--list",
            "v2.ward",
            "--trust",
            "other.pub",
        ],
    );
    assert_eq!(r.code, 1, "{}", r.stderr);
    // A bad canary domain.
    let r = ward(
        dir.path(),
        &[
            "list",
            "build",
            "--key",
            "ministry.key",
            "--serial",
            "3",
            "--list-id",
            "vn-national",
            "--valid-for",
            "7d",
            "--canary-domain",
            "bad..domain",
            "-o",
            "v3.ward",
            "source.txt",
        ],
    );
    assert_eq!(r.code, 64, "{}", r.stderr);
    assert!(r.stderr.contains("--canary-domain"), "{}", r.stderr);
    let r = ward(
        dir.path(),
        &[
            "list",
            "build",
            "--key",
            "ministry.key",
            "--serial",
            "3",
            "--list-id",
            "vn-national",
            "--valid-for",
            "7d",
            "--canary-domain",
            "canary.test",
            "--confidential",
            "canary",
            "-o",
            "v3.ward",
            "source.txt",
        ],
    );
    assert_eq!(r.code, 64, "{}", r.stderr);
}

/// `ward probe --sni` against ward's own SNI filter: ward in a router
/// namespace behind nftables redirect, the probe in the client namespace.
#[test]
fn probe_through_wards_sni_filter() {
    use crate::support::netns::{self, Lab, SERVER_V4};
    if !netns::available() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    publish(dir.path());
    let lab = Lab::new();
    lab.nft(
        &lab.router,
        r#"
table inet ward {
    chain prerouting {
        type nat hook prerouting priority dstnat; policy accept;
        fib daddr type local return
        iifname "r0" tcp dport 443 redirect to :8443
    }
}
"#,
    );
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
"#,
        dir.path().join("v2.ward"),
        dir.path().join("ministry.pub"),
    );
    let w = Ward::start_in_netns(dir.path(), &config, &lab.router);
    let bin = crate::util::ward_bin();
    let (list, trust) = (dir.path().join("v2.ward"), dir.path().join("ministry.pub"));
    let sni = format!("{SERVER_V4}:443");
    let out = lab.exec(
        &lab.client,
        &[
            bin.to_str().unwrap(),
            "probe",
            "--resolver",
            "10.77.1.1",
            "--list",
            list.to_str().unwrap(),
            "--trust",
            trust.to_str().unwrap(),
            "--sni",
            &sni,
            "--json",
        ],
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{stdout}\n{}\n{}",
        String::from_utf8_lossy(&out.stderr),
        w.logs()
    );
    let j: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(j["serial_seen"], 2);
    assert_eq!(j["sni"]["share_blocked"], 1.0, "{j:#}");
    assert_eq!(j["sni"]["probed"], 5);
    assert_eq!(j["canary"]["sni"]["detail"], "alert access_denied");
}
