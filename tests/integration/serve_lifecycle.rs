//! `ward serve` over its life: reloads, list swaps, missing lists, admin
//! endpoints, signals, hostile packets, and what reaches the upstream.

use std::net::{Ipv4Addr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use hickory_proto::op::{Message, ResponseCode};
use hickory_proto::rr::RecordType;
use hickory_proto::rr::rdata::opt::{ClientSubnet, EdnsCode, EdnsOption};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpStream, UdpSocket};

use crate::serve::{config, key, start};
use crate::support::client::{a_records, ede, query, udp, udp_raw, udp_silent};
use crate::support::upstream::TestUpstream;
use crate::support::ward::{TEST_LIST, Ward, write_list};

/// A minimal HTTP/1.1 GET; returns (status, body).
pub(crate) async fn http_get(addr: SocketAddr, path: &str) -> (u16, String) {
    let mut s = TcpStream::connect(addr).await.unwrap();
    let req = format!("GET {path} HTTP/1.1\r\nHost: ward\r\nConnection: close\r\n\r\n");
    s.write_all(req.as_bytes()).await.unwrap();
    let mut buf = Vec::new();
    s.read_to_end(&mut buf).await.unwrap();
    let text = String::from_utf8_lossy(&buf).into_owned();
    let status = text
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let body = text
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_owned())
        .unwrap_or_default();
    (status, body)
}

/// Waits until `f` holds, polling; false after 20 s.
async fn eventually(mut f: impl AsyncFnMut() -> bool) -> bool {
    for _ in 0..200 {
        if f().await {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    false
}

#[tokio::test]
async fn sighup_swaps_in_a_new_list_and_it_beats_the_cache() {
    let up = TestUpstream::start().await;
    let dir = tempfile::tempdir().unwrap();
    let w = start(dir.path(), &[up.addr], "", "");
    // Cache allowed answers: one direct, one through a CNAME.
    let m = udp(w.dns, &query("www.example.test.", RecordType::A, None)).await;
    assert_eq!(a_records(&m), vec![Ipv4Addr::new(192, 0, 2, 10)]);
    let m = udp(w.dns, &query("later.example.test.", RecordType::A, None)).await;
    assert_eq!(a_records(&m), vec![Ipv4Addr::new(192, 0, 2, 77)]);

    // Serial 2 blocks www.example.test and the CNAME target late.example.test.
    let list2 = format!("{TEST_LIST}=www.example.test adult\n=late.example.test adult\n");
    write_list(dir.path(), &key(), 2, &list2);
    w.signal("HUP");
    assert!(w.wait_for_log("SIGHUP: list reloaded"), "{}", w.logs());
    // The reload says how long it took, from the signal to the swap.
    assert!(
        w.logs()
            .lines()
            .any(|l| l.contains("SIGHUP: list reloaded") && l.contains("activation_ms=")),
        "{}",
        w.logs()
    );
    // stderr is a pipe here, as under systemd: no colour escape codes.
    assert!(!w.logs().contains('\x1b'), "{}", w.logs());
    let m = udp(w.dns, &query("www.example.test.", RecordType::A, None)).await;
    assert_eq!(
        a_records(&m),
        vec![Ipv4Addr::new(192, 0, 2, 1)],
        "cached answer not served"
    );
    let m = udp(
        w.dns,
        &query("later.example.test.", RecordType::A, Some((1232, false))),
    )
    .await;
    assert_eq!(
        a_records(&m),
        vec![Ipv4Addr::new(192, 0, 2, 1)],
        "cached CNAME chain re-checked"
    );
    assert!(ede(&m).unwrap().1.contains("serial 2"));

    // A corrupt file on SIGHUP keeps serial 2 in force.
    let mut bytes = std::fs::read(dir.path().join("list.ward")).unwrap();
    let n = bytes.len();
    bytes[n - 3] ^= 0x40;
    std::fs::write(dir.path().join("list.ward"), &bytes).unwrap();
    w.signal("HUP");
    assert!(
        w.wait_for_log("SIGHUP reload failed; keeping the current list"),
        "{}",
        w.logs()
    );
    let m = udp(
        w.dns,
        &query("www.example.test.", RecordType::A, Some((1232, false))),
    )
    .await;
    assert!(ede(&m).unwrap().1.contains("serial 2"));
    let admin = w.admin.unwrap();
    let (_, metrics) = http_get(admin, "/metrics").await;
    assert!(
        metrics.contains("ward_list_reload_failures_total 1"),
        "{metrics}"
    );
    up.stop().await;
}

/// A blocked name is answered from the cache's verdict while the same list
/// is in force: byte for byte what the list lookup gave. A swap to a list
/// that no longer blocks it ends the verdict at once: the next query is
/// forwarded.
#[tokio::test]
async fn a_cached_verdict_holds_only_for_its_own_list() {
    let up = TestUpstream::start().await;
    let dir = tempfile::tempdir().unwrap();
    let w = start(dir.path(), &[up.addr], "", "");
    let q = query("www.blocked.test.", RecordType::A, Some((1232, false)))
        .to_vec()
        .unwrap();
    let first = udp_raw(w.dns, &q).await.expect("an answer");
    let second = udp_raw(w.dns, &q).await.expect("an answer");
    assert_eq!(
        first, second,
        "the cached verdict answers exactly as the lookup did"
    );
    let m = Message::from_vec(&second).unwrap();
    assert_eq!(a_records(&m), vec![Ipv4Addr::new(192, 0, 2, 1)]);
    assert!(ede(&m).unwrap().1.contains("serial 1"));

    // Serial 2 drops `blocked.test`.
    let list2: String = TEST_LIST
        .lines()
        .filter(|l| !l.starts_with("blocked.test"))
        .map(|l| format!("{l}\n"))
        .collect();
    write_list(dir.path(), &key(), 2, &list2);
    w.signal("HUP");
    assert!(w.wait_for_log("SIGHUP: list reloaded"), "{}", w.logs());
    let m = Message::from_vec(&udp_raw(w.dns, &q).await.expect("an answer")).unwrap();
    assert_eq!(
        a_records(&m),
        vec![Ipv4Addr::new(192, 0, 2, 99)],
        "forwarded once the list no longer blocks it"
    );
    assert!(ede(&m).is_none());
    up.stop().await;
}

#[tokio::test]
async fn admin_endpoints_report_health_readiness_and_metrics() {
    let up = TestUpstream::start().await;
    let dir = tempfile::tempdir().unwrap();
    let w = start(dir.path(), &[up.addr], "", "");
    let admin = w.admin.unwrap();
    assert_eq!(http_get(admin, "/healthz").await.0, 200);
    assert!(eventually(async || http_get(admin, "/readyz").await.0 == 200).await);
    udp(w.dns, &query("blocked.test.", RecordType::A, None)).await;
    udp(w.dns, &query("www.example.test.", RecordType::A, None)).await;
    udp(w.dns, &query("www.example.test.", RecordType::A, None)).await;
    let (status, m) = http_get(admin, "/metrics").await;
    assert_eq!(status, 200);
    for want in [
        r#"ward_queries_total{protocol="udp",result="blocked"} 1"#,
        r#"ward_queries_total{protocol="udp",result="forwarded"} 1"#,
        r#"ward_queries_total{protocol="udp",result="cached"} 1"#,
        r#"ward_blocked_total{category="adult",action="sinkhole"} 1"#,
        "ward_cache_hits_total 1",
        "ward_list_serial 1",
        "ward_list_loaded 1",
        "ward_upstream_latency_seconds",
    ] {
        assert!(m.contains(want), "missing {want}:\n{m}");
    }
    assert!(!m.contains("blocked.test"), "no names in metrics");
    assert_eq!(http_get(admin, "/nope").await.0, 404);
    up.stop().await;
}

#[tokio::test]
async fn without_a_list_ward_serves_servfail_and_is_not_ready() {
    let up = TestUpstream::start().await;
    let dir = tempfile::tempdir().unwrap();
    // A list file that does not verify: signed by an untrusted key.
    write_list(dir.path(), &key(), 1, TEST_LIST);
    let other = ed25519_dalek::SigningKey::from_bytes(&[9; 32]);
    std::fs::write(
        dir.path().join("list.pub"),
        ward::keys::public_file_text(&other.verifying_key()),
    )
    .unwrap();
    let w = Ward::start(dir.path(), &config(&[up.addr], "", ""), true);
    assert!(
        w.logs().contains("ALARM: no verified list loaded"),
        "{}",
        w.logs()
    );
    for name in ["www.example.test.", "blocked.test."] {
        let m = udp(w.dns, &query(name, RecordType::A, Some((1232, false)))).await;
        assert_eq!(m.metadata.response_code, ResponseCode::ServFail, "{name}");
        assert_eq!(ede(&m).unwrap().0, 14, "Not Ready");
    }
    let (status, body) = http_get(w.admin.unwrap(), "/readyz").await;
    assert_eq!(status, 503);
    assert!(body.contains("no verified list"), "{body}");
    drop(w);

    // With require_list, ward refuses to start at all.
    let cfg = config(&[up.addr], "", "").replace(
        "state_dir = \"state\"",
        "state_dir = \"state\"\nrequire_list = true",
    );
    let logs = Ward::try_start(dir.path(), &cfg, true)
        .err()
        .expect("ward must not start");
    assert!(logs.contains("require_list"), "{logs}");
    up.stop().await;
}

#[tokio::test]
async fn sigterm_drains_and_exits_cleanly() {
    let up = TestUpstream::start().await;
    let dir = tempfile::tempdir().unwrap();
    let mut w = start(dir.path(), &[up.addr], "", "");
    udp(w.dns, &query("www.example.test.", RecordType::A, None)).await;
    w.signal("TERM");
    assert_eq!(w.wait_exit(), Some(0), "{}", w.logs());
    assert!(w.logs().contains("stopped"));
    up.stop().await;
}

#[tokio::test]
async fn malformed_packets_never_stop_the_server() {
    let up = TestUpstream::start().await;
    let dir = tempfile::tempdir().unwrap();
    let w = start(dir.path(), &[up.addr], "", "");
    let header = |qd: u16, extra: &[u8]| {
        let mut m = vec![0x12, 0x34, 0x01, 0x00];
        m.extend_from_slice(&qd.to_be_bytes());
        m.extend_from_slice(&[0, 0, 0, 0, 0, 0]);
        m.extend_from_slice(extra);
        m
    };
    // Cases that still have a header get FORMERR with the same ID.
    let mut long_label = vec![64u8];
    long_label.extend_from_slice(&[b'a'; 64]);
    long_label.extend_from_slice(&[0, 0, 1, 0, 1]);
    let formerr_cases: Vec<(&str, Vec<u8>)> = vec![
        ("compression loop", header(1, &[0xC0, 0x0C, 0, 1, 0, 1])),
        ("label over 63", header(1, &long_label)),
        ("qdcount 0", header(0, &[])),
        (
            "qdcount 2",
            header(2, b"\x01a\x00\x00\x01\x00\x01\x01b\x00\x00\x01\x00\x01"),
        ),
        ("question cut short", header(1, b"\x07exam")),
    ];
    for (what, packet) in &formerr_cases {
        let answer = udp_raw(w.dns, packet)
            .await
            .unwrap_or_else(|| panic!("{what}: no answer"));
        let m = Message::from_vec(&answer).unwrap();
        assert_eq!(m.metadata.id, 0x1234, "{what}");
        assert_eq!(m.metadata.response_code, ResponseCode::FormErr, "{what}");
    }
    // Cases without a usable header are dropped silently.
    for (what, packet) in [
        ("truncated header", vec![0x12, 0x34, 0x01]),
        ("empty", vec![]),
    ] {
        assert!(
            udp_silent(w.dns, &packet, Duration::from_millis(300)).await,
            "{what}"
        );
    }
    // A well-formed query padded past the 4096 bytes the UDP fast path
    // reads is cut by the kernel: counted as malformed, never answered.
    let mut huge = query("www.example.test.", RecordType::A, None)
        .to_vec()
        .unwrap();
    huge.resize(5000, 0);
    assert!(
        udp_silent(w.dns, &huge, Duration::from_millis(300)).await,
        "a 5000-byte datagram is not answered"
    );
    // Random garbage, deterministic seed: whatever happens, no crash.
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    for _ in 0..300 {
        let len = (x % 100) as usize;
        let mut p = Vec::with_capacity(len);
        for _ in 0..len {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            p.push(x as u8);
        }
        let sock = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        sock.send_to(&p, w.dns).await.unwrap();
    }
    // The same garbage over TCP closes only that connection.
    let mut s = TcpStream::connect(w.tcp).await.unwrap();
    s.write_all(&[0, 5, 1, 2, 3, 4, 5]).await.unwrap();
    let mut buf = [0u8; 16];
    let n = tokio::time::timeout(Duration::from_secs(10), s.read(&mut buf))
        .await
        .unwrap()
        .unwrap_or(0);
    assert_eq!(n, 0, "connection closed after garbage");
    // A NOTIFY (opcode 4) gets NOTIMP.
    let mut notify = query("www.example.test.", RecordType::SOA, None);
    notify.metadata.op_code = hickory_proto::op::OpCode::Notify;
    let m = Message::from_vec(&udp_raw(w.dns, &notify.to_vec().unwrap()).await.unwrap()).unwrap();
    assert_eq!(m.metadata.response_code, ResponseCode::NotImp);

    // Still alive and correct.
    let m = udp(w.dns, &query("www.example.test.", RecordType::A, None)).await;
    assert_eq!(a_records(&m), vec![Ipv4Addr::new(192, 0, 2, 10)]);
    let (_, metrics) = http_get(w.admin.unwrap(), "/metrics").await;
    let malformed: u64 = metrics
        .lines()
        .filter(|l| l.starts_with("ward_malformed_total{"))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<u64>().ok())
        .sum();
    assert!(malformed >= 8, "malformed counted: {malformed}\n{metrics}");
    up.stop().await;
}

/// An upstream that records every query it gets and answers each with an
/// empty NOERROR, except `signed.example.test A`, which gets an A record
/// and an RRSIG (type 46) in raw wire form.
async fn recording_upstream() -> (SocketAddr, Arc<Mutex<Vec<Vec<u8>>>>) {
    let sock = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let addr = sock.local_addr().unwrap();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let log = Arc::clone(&seen);
    tokio::spawn(async move {
        let mut buf = vec![0u8; 4096];
        while let Ok((n, src)) = sock.recv_from(&mut buf).await {
            log.lock().unwrap().push(buf[..n].to_vec());
            let Ok(q) = Message::from_vec(&buf[..n]) else {
                continue;
            };
            if q.queries[0].name().to_string() == "signed.example.test." {
                let _ = sock.send_to(&signed_answer(&buf[..n]), src).await;
                continue;
            }
            let mut r = Message::response(q.metadata.id, q.metadata.op_code);
            r.metadata.recursion_available = true;
            r.add_queries(q.queries.clone());
            let _ = sock.send_to(&r.to_vec().unwrap(), src).await;
        }
    });
    (addr, seen)
}

/// A response to `query` (whose question is copied) with `A 192.0.2.44`
/// and an RRSIG over it, both owned by the question name.
fn signed_answer(query: &[u8]) -> Vec<u8> {
    let mut qend = 12;
    while query[qend] != 0 {
        qend += 1 + usize::from(query[qend]);
    }
    qend += 5;
    let mut r = query[..qend].to_vec();
    r[2] = 0x81; // QR, RD
    r[3] = 0x80; // RA
    r[6..12].copy_from_slice(&[0, 2, 0, 0, 0, 0]);
    r.extend_from_slice(&[0xC0, 12, 0, 1, 0, 1, 0, 0, 1, 0x2C, 0, 4, 192, 0, 2, 44]);
    // RRSIG: type covered A, alg 13, 3 labels, orig TTL 300, expiry,
    // inception, key tag, signer "test.", 64-byte signature.
    let mut rdata = vec![
        0, 1, 13, 3, 0, 0, 1, 0x2C, 0x70, 0, 0, 0, 0x60, 0, 0, 0, 0x12, 0x34,
    ];
    rdata.extend_from_slice(b"\x04test\x00");
    rdata.extend_from_slice(&[0xAB; 64]);
    r.extend_from_slice(&[0xC0, 12, 0, 46, 0, 1, 0, 0, 1, 0x2C]);
    r.extend_from_slice(&(rdata.len() as u16).to_be_bytes());
    r.extend_from_slice(&rdata);
    r
}

#[tokio::test]
async fn rrsigs_pass_through_to_validating_clients() {
    let (up, _seen) = recording_upstream().await;
    let dir = tempfile::tempdir().unwrap();
    let w = start(dir.path(), &[up], "", "");
    for _ in 0..2 {
        // Miss, then hit: both carry the signature unchanged.
        let m = udp(
            w.dns,
            &query("signed.example.test.", RecordType::A, Some((1232, true))),
        )
        .await;
        let types: Vec<RecordType> = m.answers.iter().map(|r| r.record_type()).collect();
        assert_eq!(types, vec![RecordType::A, RecordType::RRSIG], "{m:?}");
        assert!(m.edns.as_ref().unwrap().flags().dnssec_ok);
    }
}

#[tokio::test]
async fn upstream_queries_carry_no_client_data() {
    let (up, seen) = recording_upstream().await;
    let dir = tempfile::tempdir().unwrap();
    let w = start(dir.path(), &[up], "", "");
    // Let the health probe's `. NS` arrive first, then forget it.
    tokio::time::sleep(Duration::from_millis(300)).await;
    seen.lock().unwrap().clear();

    let mut q = query("WwW.Example.Test.", RecordType::A, Some((1232, true)));
    let subnet = ClientSubnet::new("198.51.100.0".parse().unwrap(), 24, 0);
    q.edns
        .as_mut()
        .unwrap()
        .options_mut()
        .insert(EdnsOption::Subnet(subnet));
    q.metadata.checking_disabled = true;
    let m = udp(w.dns, &q).await;
    assert_eq!(m.metadata.response_code, ResponseCode::NoError);
    // Blocked names never go upstream.
    udp(
        w.dns,
        &query("blocked.test.", RecordType::A, Some((1232, false))),
    )
    .await;
    udp(w.dns, &query("x.secret.test.", RecordType::A, None)).await;

    let seen = seen.lock().unwrap().clone();
    let queries: Vec<Message> = seen
        .iter()
        .map(|b| Message::from_vec(b).unwrap())
        .filter(|m| m.queries[0].name().to_string() != ".")
        .collect();
    assert_eq!(
        queries.len(),
        1,
        "only the allowed query went upstream: {queries:?}"
    );
    let fwd = &queries[0];
    assert_eq!(fwd.queries[0].name().to_string(), "www.example.test.");
    assert_ne!(fwd.metadata.id, q.metadata.id, "fresh query ID");
    assert!(fwd.metadata.checking_disabled, "CD passed on");
    let edns = fwd.edns.as_ref().expect("ward's own OPT");
    assert!(edns.flags().dnssec_ok, "DO passed on");
    assert!(edns.option(EdnsCode::Subnet).is_none(), "ECS stripped");
    assert!(
        edns.options().as_ref().is_empty(),
        "no client options at all"
    );
    assert!(
        !seen
            .iter()
            .any(|b| b.windows(3).any(|w| w == [198, 51, 100])),
        "client subnet bytes absent"
    );
}

/// `dig` from bind9-dnsutils against ward. CI installs dig and sets
/// WARD_REQUIRE_DIG=1, so there this test cannot skip.
#[tokio::test]
async fn dig_sees_sinkhole_and_ede() {
    let have_dig = std::process::Command::new("dig").arg("-v").output().is_ok();
    if !have_dig {
        assert!(
            std::env::var_os("WARD_REQUIRE_DIG").is_none(),
            "dig is required but missing"
        );
        eprintln!("skipped: dig not installed");
        return;
    }
    let up = TestUpstream::start().await;
    let dir = tempfile::tempdir().unwrap();
    let w = start(dir.path(), &[up.addr], "", "");
    let port = w.dns.port().to_string();
    // `dig @127.0.0.1 -p PORT +tries=1 +time=5 ARGS...`, its stdout.
    let dig = async |args: &[&str]| {
        let out = tokio::process::Command::new("dig")
            .args(["@127.0.0.1", "-p", &port, "+tries=1", "+time=5"])
            .args(args)
            .output()
            .await
            .unwrap();
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let text = dig(&["www.blocked.test", "A"]).await;
    assert!(text.contains("192.0.2.1"), "{text}");
    assert!(text.contains("EDE: 16 (Censored)"), "{text}");
    let text = dig(&["+tcp", "www.example.test", "A"]).await;
    assert!(text.contains("192.0.2.10"), "{text}");
    // The compliance-probe query, exactly as the README writes it.
    let text = dig(&["+short", "-c", "CH", "-t", "TXT", "list.ward"]).await;
    assert!(
        text.contains("serial=1") && text.contains("sha256="),
        "{text}"
    );
    up.stop().await;
}

#[tokio::test]
async fn tcp_connections_are_capped_and_idle_ones_closed() {
    let up = TestUpstream::start().await;
    let dir = tempfile::tempdir().unwrap();
    write_list(dir.path(), &key(), 1, TEST_LIST);
    let cfg = config(&[up.addr], "", "").replace(
        "upstream_attempts = 1",
        "upstream_attempts = 1\ntcp_max_connections = 2\ntcp_idle_timeout = \"300ms\"",
    );
    let w = Ward::start(dir.path(), &cfg, true);
    let held_a = TcpStream::connect(w.tcp).await.unwrap();
    let held_b = TcpStream::connect(w.tcp).await.unwrap();
    // Give the server a moment to take both permits, then a third
    // connection is closed at once without an answer.
    tokio::time::sleep(Duration::from_millis(100)).await;
    let mut third = TcpStream::connect(w.tcp).await.unwrap();
    let q = query("www.example.test.", RecordType::A, None)
        .to_vec()
        .unwrap();
    let _ = third.write_u16(q.len() as u16).await;
    let _ = third.write_all(&q).await;
    let mut buf = [0u8; 2];
    let got = tokio::time::timeout(Duration::from_secs(10), third.read(&mut buf))
        .await
        .unwrap();
    assert!(
        matches!(got, Ok(0) | Err(_)),
        "over the cap: closed, got {got:?}"
    );
    // The idle ones are closed by the server after the idle timeout.
    for mut s in [held_a, held_b] {
        let got = tokio::time::timeout(Duration::from_secs(10), s.read(&mut buf))
            .await
            .unwrap();
        assert!(
            matches!(got, Ok(0) | Err(_)),
            "idle connection closed, got {got:?}"
        );
    }
    // Freed permits: a new connection is served, pipelined queries too.
    let mut s = TcpStream::connect(w.tcp).await.unwrap();
    let q2 = query("sibling.test.", RecordType::A, None)
        .to_vec()
        .unwrap();
    let mut both = Vec::new();
    for q in [&q, &q2] {
        both.extend_from_slice(&(q.len() as u16).to_be_bytes());
        both.extend_from_slice(q);
    }
    s.write_all(&both).await.unwrap();
    let mut ids = Vec::new();
    for _ in 0..2 {
        let len = s.read_u16().await.unwrap();
        let mut msg = vec![0u8; usize::from(len)];
        s.read_exact(&mut msg).await.unwrap();
        ids.push(Message::from_vec(&msg).unwrap().metadata.id);
    }
    ids.sort_unstable();
    let mut want = vec![
        u16::from_be_bytes([q[0], q[1]]),
        u16::from_be_bytes([q2[0], q2[1]]),
    ];
    want.sort_unstable();
    assert_eq!(ids, want);
    up.stop().await;
}

/// hickory's own client (hickory-net), over UDP and over TCP.
#[tokio::test]
async fn hickory_client_over_udp_and_tcp() {
    use hickory_net::client::{Client, ClientHandle};
    use hickory_net::runtime::TokioRuntimeProvider;
    use hickory_net::tcp::TcpClientStream;
    use hickory_net::udp::UdpClientStream;
    use hickory_proto::rr::{DNSClass, Name};
    use std::str::FromStr;

    let up = TestUpstream::start().await;
    let dir = tempfile::tempdir().unwrap();
    let w = start(dir.path(), &[up.addr], "", "");

    let stream = UdpClientStream::builder(w.dns, TokioRuntimeProvider::default()).build();
    let (mut client, bg) = Client::<TokioRuntimeProvider>::from_sender(stream);
    tokio::spawn(bg);
    let r = client
        .query(
            Name::from_str("www.blocked.test.").unwrap(),
            DNSClass::IN,
            RecordType::A,
        )
        .await
        .unwrap();
    assert_eq!(a_records(&r), vec![Ipv4Addr::new(192, 0, 2, 1)]);

    let (connect, handle) = TcpClientStream::new(
        w.tcp,
        None,
        Some(Duration::from_secs(5)),
        TokioRuntimeProvider::default(),
    );
    let stream = connect.await.unwrap();
    let (mut client, bg) = Client::<TokioRuntimeProvider>::new(stream, handle);
    tokio::spawn(bg);
    let r = client
        .query(
            Name::from_str("www.example.test.").unwrap(),
            DNSClass::IN,
            RecordType::A,
        )
        .await
        .unwrap();
    assert_eq!(a_records(&r), vec![Ipv4Addr::new(192, 0, 2, 10)]);
    up.stop().await;
}

/// An upstream that ignores the first `drop_first` queries (other than the
/// health probe's `. NS`) and answers the rest with an empty NOERROR.
async fn flaky_upstream(drop_first: usize) -> SocketAddr {
    let sock = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let addr = sock.local_addr().unwrap();
    tokio::spawn(async move {
        let mut dropped = 0;
        let mut buf = vec![0u8; 4096];
        while let Ok((n, src)) = sock.recv_from(&mut buf).await {
            let Ok(q) = Message::from_vec(&buf[..n]) else {
                continue;
            };
            if q.queries[0].name().to_string() != "." && dropped < drop_first {
                dropped += 1;
                continue;
            }
            let mut r = Message::response(q.metadata.id, q.metadata.op_code);
            r.metadata.recursion_available = true;
            r.add_queries(q.queries.clone());
            let _ = sock.send_to(&r.to_vec().unwrap(), src).await;
        }
    });
    addr
}

#[tokio::test]
async fn a_sole_upstream_marked_down_is_still_tried() {
    let up = flaky_upstream(3).await;
    let dir = tempfile::tempdir().unwrap();
    let w = start(dir.path(), &[up], "", "");
    for i in 0..3 {
        let m = udp(
            w.dns,
            &query(
                &format!("n{i}.example.test."),
                RecordType::A,
                Some((1232, false)),
            ),
        )
        .await;
        assert_eq!(
            m.metadata.response_code,
            ResponseCode::ServFail,
            "query {i} dropped upstream"
        );
        assert_eq!(ede(&m).unwrap().0, 22);
    }
    assert!(w.wait_for_log("upstream marked down"), "{}", w.logs());
    // Marked down, but it is the only one: it is tried, and it answers.
    let m = udp(w.dns, &query("n3.example.test.", RecordType::A, None)).await;
    assert_eq!(m.metadata.response_code, ResponseCode::NoError);
    assert!(
        w.wait_for_log("upstream is answering again"),
        "{}",
        w.logs()
    );
}

/// `dns.udp_workers = 3`: three sockets share the port (`SO_REUSEPORT`, as
/// the kernel's own table shows), and clients on many source ports, which
/// the kernel spreads over them, all get right answers: blocked, forwarded
/// and cached.
#[tokio::test]
async fn udp_workers_share_one_port_and_all_answer() {
    let up = TestUpstream::start().await;
    let dir = tempfile::tempdir().unwrap();
    write_list(dir.path(), &key(), 1, TEST_LIST);
    let cfg = config(&[up.addr], "", "").replace(
        "upstream_attempts = 1\n",
        "upstream_attempts = 1\nudp_workers = 3\n",
    );
    let w = Ward::start(dir.path(), &cfg, true);
    let line = format!("listening for UDP on {} with 3 workers", w.dns);
    assert!(w.logs().contains(&line), "{}", w.logs());

    let port = format!(":{:04X}", w.dns.port());
    let table = std::fs::read_to_string("/proc/net/udp").unwrap();
    let bound = table
        .lines()
        .skip(1)
        .filter(|l| {
            l.split_whitespace()
                .nth(1)
                .is_some_and(|a| a.ends_with(&port))
        })
        .count();
    assert_eq!(bound, 3, "UDP sockets on port {}:\n{table}", w.dns.port());

    for i in 0..60 {
        // `udp` binds a fresh client socket per query: a new source port.
        if i % 2 == 0 {
            let m = udp(
                w.dns,
                &query("www.blocked.test.", RecordType::A, Some((1232, false))),
            )
            .await;
            assert_eq!(
                a_records(&m),
                vec![Ipv4Addr::new(192, 0, 2, 1)],
                "query {i}"
            );
            assert_eq!(ede(&m).map(|(code, _)| code), Some(16), "query {i}");
        } else {
            let m = udp(w.dns, &query("www.example.test.", RecordType::A, None)).await;
            assert_eq!(
                a_records(&m),
                vec![Ipv4Addr::new(192, 0, 2, 10)],
                "query {i}"
            );
        }
    }
    let (_, metrics) = http_get(w.admin.unwrap(), "/metrics").await;
    let hits: u64 = metrics
        .lines()
        .find(|l| l.starts_with("ward_cache_hits_total "))
        .and_then(|l| l.rsplit(' ').next()?.parse().ok())
        .unwrap_or(0);
    assert!(
        hits >= 25,
        "later allowed queries come from the cache: {hits}\n{metrics}"
    );
    up.stop().await;
}
