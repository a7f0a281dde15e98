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

// ---- `ward probe --report-to`: results signed, sent to a real collector ----

/// A `ward collector` in `dir` (its own TLS files from the test CA,
/// `dir/ca.pem`) whose registry has one node and the prober whose public
/// key is `prober_pub`; basic auth demo/demo.
fn probe_collector(dir: &Path, prober_pub: &Path) -> crate::support::collector::Collector {
    std::fs::create_dir_all(dir).unwrap();
    crate::support::https::make_tls(dir);
    let node = ed25519_dalek::SigningKey::from_bytes(&[61; 32]);
    ward::keys::write_pair(&dir.join("node"), &node, true).unwrap();
    std::fs::write(
        dir.join("registry.toml"),
        format!(
            "[[node]]\nisp_id = \"isp-a\"\nnode_id = \"n1\"\nkey = \"node.pub\"\n\n\
             [[prober]]\nprober_id = \"ministry-hn\"\nkey = {prober_pub:?}\n"
        ),
    )
    .unwrap();
    crate::support::collector::Collector::start(
        dir,
        &format!(
            "listen = \"127.0.0.1:0\"\nregistry = \"registry.toml\"\nstorage = \"collector.db\"\n\
             max_body = \"64KiB\"\n{}\
             [tls]\ncert = \"server.pem\"\nkey = \"server.key\"\n",
            crate::collector::demo_user()
        ),
    )
}

/// `GET /api/probes[?query]` as demo.
async fn api_probes(
    http: &reqwest::Client,
    c: &crate::support::collector::Collector,
    query: &str,
) -> Vec<serde_json::Value> {
    let url = c.url.replace("/v1/reports", "/api/probes") + query;
    let resp = http
        .get(&url)
        .basic_auth("demo", Some("demo"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 200);
    let json: serde_json::Value = serde_json::from_str(&resp.text().await.unwrap()).unwrap();
    json.as_array().unwrap().clone()
}

/// POSTs `body` to `/v1/probes` with `signature`.
async fn post_probe(
    http: &reqwest::Client,
    c: &crate::support::collector::Collector,
    signature: &str,
    body: Vec<u8>,
) -> (u16, String) {
    let resp = http
        .post(c.url.replace("/v1/reports", "/v1/probes"))
        .header(ward::report::send::SIGNATURE_HEADER, signature)
        .body(body)
        .send()
        .await
        .unwrap();
    (resp.status().as_u16(), resp.text().await.unwrap())
}

fn spooled(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .map(|d| {
            d.map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
                .filter(|n| n.ends_with(".probe"))
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    names
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn probe_results_reach_the_collector_signed_and_none_is_lost() {
    let up = TestUpstream::start_wildcard().await;
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    publish(d);
    for name in ["prober", "rogue"] {
        let r = ward(d, &["keygen", "--out", name]);
        assert_eq!(r.code, 0, "{}", r.stderr);
    }
    let current = serve(d, "v2.ward", up.addr);
    let old = serve(d, "v1.ward", up.addr);
    let mut c = probe_collector(&d.join("collector"), &d.join("prober.pub"));
    let ca = d.join("collector/ca.pem");
    let http = crate::collector::client(&ca);
    let probe_to = |c: &crate::support::collector::Collector, key: &str, isp: &str| {
        let url = c.url.replace("/v1/reports", "/v1/probes");
        let ca = ca.display().to_string();
        let args: Vec<String> = [
            "--report-to",
            url.as_str(),
            "--key",
            key,
            "--prober-id",
            "ministry-hn",
            "--isp",
            isp,
            "--node",
            "n1",
            "--ca-file",
            ca.as_str(),
            "--spool-dir",
            "spool",
        ]
        .map(str::to_owned)
        .to_vec();
        args
    };
    fn as_strs(v: &[String]) -> Vec<&str> {
        v.iter().map(String::as_str).collect()
    }

    // The current node: compliant, delivered, spool empty again.
    let args = probe_to(&c, "prober.key", "isp-a");
    let (r, j) = probe(d, current.dns, &as_strs(&args)).await;
    assert_eq!(r.code, 0, "{}\n{}", r.stdout, r.stderr);
    assert_eq!(j["compliant"], true, "stdout is the probe's own JSON");
    assert!(r.stderr.contains("delivered to"), "{}", r.stderr);
    assert!(spooled(&d.join("spool")).is_empty());

    // The node on the old serial: not compliant (exit 2), delivered.
    let args = probe_to(&c, "prober.key", "isp-b");
    let (r, _) = probe(d, old.dns, &as_strs(&args)).await;
    assert_eq!(r.code, 2, "{}\n{}", r.stdout, r.stderr);
    assert!(r.stderr.contains("delivered to"), "{}", r.stderr);

    let rows = api_probes(&http, &c, "").await;
    assert_eq!(rows.len(), 2, "{rows:#?}");
    let (newest, first) = (&rows[0], &rows[1]);
    assert_eq!(newest["isp_id"], "isp-b", "newest first: {rows:#?}");
    assert_eq!(newest["compliant"], false);
    assert_eq!(newest["serial_seen"], 1);
    assert_eq!(newest["list_serial"], 2);
    assert_eq!(newest["resolver"], old.dns.to_string());
    assert!(
        newest["reasons"]
            .as_array()
            .unwrap()
            .iter()
            .any(|r| r.as_str().unwrap().contains("does not enforce serial 2")),
        "{newest:#}"
    );
    assert_eq!(first["isp_id"], "isp-a");
    assert_eq!(first["node_id"], "n1");
    assert_eq!(first["prober_id"], "ministry-hn");
    assert_eq!(first["compliant"], true);
    assert_eq!(first["serial_seen"], 2);
    assert_eq!(first["reasons"], serde_json::json!([]));
    assert_eq!(first["dns"]["probed"], 5, "the canary and 4 public names");
    assert_eq!(first["dns"]["blocked"], 5);
    let only_a = api_probes(&http, &c, "?isp=isp-a").await;
    assert_eq!(only_a.len(), 1);
    assert_eq!(only_a[0]["probe_id"], first["probe_id"]);
    let resp = http
        .get(c.url.replace("/v1/reports", "/api/probes"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 401, "behind the login");

    // Beside the self-reports: the overview shows each ISP's latest probe,
    // the node page of isp-a/n1 its own.
    let page = |path: &str| {
        let (http, url) = (http.clone(), c.url.replace("/v1/reports", path));
        async move {
            let resp = http
                .get(url)
                .basic_auth("demo", Some("demo"))
                .send()
                .await
                .unwrap();
            (resp.status().as_u16(), resp.text().await.unwrap())
        }
    };
    let (status, html) = page("/").await;
    assert_eq!(status, 200);
    let section = &html[html.find("id=\"probes\"").expect("a probe section")..];
    for want in [
        "<td>isp-a</td><td>n1</td>",
        "<td>isp-b</td><td>n1</td>",
        "<td class=\"compliant\">tuân thủ / compliant</td>",
        "<td class=\"not-compliant\">không tuân thủ / not compliant</td>",
        "<td class=\"n\">5/5 (0 failed)</td>",
        "does not enforce serial 2",
    ] {
        assert!(section.contains(want), "{want} in\n{section}");
    }
    // isp-a/n1 is registered (it never reported: silent): its page shows
    // its own probe only.
    let (status, html) = page("/nodes/isp-a/n1").await;
    assert_eq!(status, 200, "{html}");
    let section = &html[html.find("id=\"probes\"").unwrap()..];
    assert!(section.contains("<td>isp-a</td><td>n1</td>"), "{section}");
    assert!(!section.contains("isp-b"), "{section}");

    // An unregistered prober key: refused (403), not stored, kept aside.
    let args = probe_to(&c, "rogue.key", "isp-a");
    let (r, _) = probe(d, current.dns, &as_strs(&args)).await;
    assert_eq!(r.code, 0, "delivery never changes the exit code");
    assert!(
        r.stderr.contains("refused") && r.stderr.contains("403"),
        "{}",
        r.stderr
    );
    assert!(
        r.stderr.contains("not registered as a prober"),
        "{}",
        r.stderr
    );
    assert_eq!(spooled(&d.join("spool/rejected")).len(), 1);
    assert!(spooled(&d.join("spool")).is_empty());
    assert_eq!(api_probes(&http, &c, "").await.len(), 2);

    // By hand: a result signed with the prober's key. Tampered: 403.
    // Under the report context: 403. Replayed: stored once.
    let key = ward::keys::read_secret(&d.join("prober.key")).unwrap();
    let at: jiff::Timestamp = "2026-11-29T12:00:00Z".parse().unwrap();
    let resolver = "192.0.2.53:53".to_owned();
    let result = ward::probe::result::ProbeResult {
        format: ward::probe::result::FORMAT.into(),
        probe_id: ward::probe::result::probe_id("ministry-hn", &resolver, at),
        prober_id: "ministry-hn".into(),
        isp_id: "isp-c".into(),
        node_id: None,
        resolver,
        probed_at: at,
        list_id: "vn-national".into(),
        list_serial: 2,
        serial_seen: None,
        compliant: Some(true),
        reasons: vec![],
        canary: None,
        dns: ward::probe::result::Channel {
            probed: 3,
            blocked: 3,
            failed: 0,
            not_blocked: vec![],
        },
        sni: None,
    };
    let body = result.to_bytes();
    let context = ward::report::send::PROBE_SIGNATURE_CONTEXT;
    let sig = ward::report::send::sign_in(context, &key, &body);
    let tampered = String::from_utf8(body.clone())
        .unwrap()
        .replace("\"list_serial\":2", "\"list_serial\":3")
        .into_bytes();
    assert_ne!(tampered, body);
    let (status, text) = post_probe(&http, &c, &sig, tampered).await;
    assert_eq!(status, 403, "{text}");
    assert!(text.contains("does not match the body"), "{text}");
    let report_sig = ward::report::send::sign(&key, &body);
    let (status, text) = post_probe(&http, &c, &report_sig, body.clone()).await;
    assert_eq!(
        status, 403,
        "a report signature is no probe signature: {text}"
    );
    let (status, text) = post_probe(&http, &c, &sig, body.clone()).await;
    assert_eq!((status, text.as_str()), (200, "stored\n"));
    let (status, text) = post_probe(&http, &c, &sig, body.clone()).await;
    assert_eq!(status, 200, "{text}");
    assert!(text.starts_with("duplicate"), "{text}");
    // And the probe signature is no report signature either.
    let (status, text) = {
        let resp = http
            .post(&c.url)
            .header(ward::report::send::SIGNATURE_HEADER, &sig)
            .body(body.clone())
            .send()
            .await
            .unwrap();
        (resp.status().as_u16(), resp.text().await.unwrap())
    };
    assert_eq!(status, 403, "{text}");
    let rows = api_probes(&http, &c, "?isp=isp-c").await;
    assert_eq!(rows.len(), 1, "{rows:#?}");

    let metrics = http
        .get(c.url.replace("/v1/reports", "/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    for (result, n) in [
        ("stored", 3),
        ("duplicate", 1),
        ("unknown_key", 1),
        ("bad_signature", 2),
        ("invalid", 0),
    ] {
        let line = format!("ward_collector_probes_total{{result=\"{result}\"}} {n}\n");
        assert!(metrics.contains(&line), "{line}in\n{metrics}");
    }

    // The collector down: the probe still gives its verdict (exit 0), says
    // the result could not be delivered, and keeps it in the spool.
    let down_url = c.url.clone();
    c.kill();
    let args = probe_to(&c, "prober.key", "isp-a");
    let (r, j) = probe(d, current.dns, &as_strs(&args)).await;
    assert_eq!(r.code, 0, "{}\n{}", r.stdout, r.stderr);
    assert_eq!(j["compliant"], true);
    assert!(
        r.stderr.contains("cannot deliver 1 probe result(s)")
            && r.stderr.contains("sent first on the next run"),
        "{}",
        r.stderr
    );
    let kept = spooled(&d.join("spool"));
    assert_eq!(kept.len(), 1, "{kept:?}");
    drop(down_url);

    // Back (on a new port): the next run delivers the kept one first,
    // then its own.
    let config = std::fs::read_to_string(d.join("collector/collector.toml")).unwrap();
    let c = crate::support::collector::Collector::start(&d.join("collector"), &config);
    let args = probe_to(&c, "prober.key", "isp-b");
    let (r, _) = probe(d, old.dns, &as_strs(&args)).await;
    assert_eq!(r.code, 2, "{}\n{}", r.stdout, r.stderr);
    assert_eq!(r.stderr.matches("delivered to").count(), 2, "{}", r.stderr);
    assert!(spooled(&d.join("spool")).is_empty());
    let kept_id = kept[0]
        .trim_end_matches(".probe")
        .split_once('-')
        .unwrap()
        .1
        .to_owned();
    let rows = api_probes(&http, &c, "").await;
    assert_eq!(rows.len(), 5, "{rows:#?}");
    let delivered_late: Vec<_> = rows.iter().filter(|r| r["probe_id"] == kept_id).collect();
    assert_eq!(delivered_late.len(), 1, "{rows:#?}");
    assert_eq!(delivered_late[0]["isp_id"], "isp-a");
    assert_eq!(delivered_late[0]["compliant"], true);
}

#[test]
fn report_to_flags_are_checked_before_probing() {
    let dir = tempfile::tempdir().unwrap();
    let base = [
        "probe",
        "--resolver",
        "127.0.0.1:9",
        "--list",
        "missing.ward",
        "--trust",
        "missing.pub",
    ];
    for (extra, want) in [
        (
            &["--report-to", "https://localhost/v1/probes"][..],
            "--report-to needs --key",
        ),
        (
            &[
                "--report-to",
                "https://localhost/v1/probes",
                "--key",
                "k.key",
            ][..],
            "--report-to needs --prober-id",
        ),
        (
            &[
                "--report-to",
                "https://localhost/v1/probes",
                "--key",
                "k.key",
                "--prober-id",
                "p",
                "--isp",
                "i",
            ][..],
            "--report-to needs --spool-dir",
        ),
        (
            &[
                "--report-to",
                "http://localhost/v1/probes",
                "--key",
                "k.key",
            ][..],
            "not an https:// URL",
        ),
        (
            &[
                "--report-to",
                "https://localhost/v1/probes",
                "--key",
                "k.key",
                "--prober-id",
                "p q",
                "--isp",
                "i",
                "--spool-dir",
                "s",
            ][..],
            "--prober-id \"p q\"",
        ),
        (
            &["--key", "k.key"][..],
            "--key is only used with --report-to",
        ),
        (&["--isp", "x"][..], "--isp is only used with --report-to"),
    ] {
        let mut args = base.to_vec();
        args.extend_from_slice(extra);
        let r = ward(dir.path(), &args);
        assert_eq!(r.code, 64, "{extra:?}: {}", r.stderr);
        assert!(r.stderr.contains(want), "{want}\nin {}", r.stderr);
    }
}
