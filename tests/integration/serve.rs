//! `ward serve` answering real queries from a real client, forwarding to a
//! real authoritative server, all on loopback.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::path::Path;
use std::time::Duration;

use ed25519_dalek::SigningKey;
use hickory_proto::op::{Message, ResponseCode};
use hickory_proto::rr::{RData, RecordType};

use crate::support::client::{self, a_records, aaaa_records, ede, query, tcp, udp, udp_raw};
use crate::support::upstream::{TestUpstream, dead_addr, silent_upstream};
use crate::support::ward::{TEST_LIST, Ward, write_list};

pub(crate) fn key() -> SigningKey {
    SigningKey::from_bytes(&[42; 32])
}

/// A config for the test list in `dir` with these upstreams and extra
/// TOML appended to the `[block]` table.
pub(crate) fn config(upstreams: &[SocketAddr], block_extra: &str, extra: &str) -> String {
    let ups: Vec<String> = upstreams.iter().map(|u| format!("\"{u}\"")).collect();
    format!(
        r#"
[dns]
listen = ["127.0.0.1:0"]
upstreams = [{}]
allow_clients = ["127.0.0.0/8", "::1/128"]
upstream_timeout = "400ms"
upstream_attempts = 1

[list]
file = "list.ward"
trusted_keys = ["list.pub"]
state_dir = "state"

[block]
sinkhole_ipv4 = ["192.0.2.1"]
sinkhole_ipv6 = ["2001:db8::1"]
ttl = 60
{block_extra}

[admin]
listen = "127.0.0.1:0"
{extra}
"#,
        ups.join(", ")
    )
}

pub(crate) fn start(dir: &Path, upstreams: &[SocketAddr], block_extra: &str, extra: &str) -> Ward {
    write_list(dir, &key(), 1, TEST_LIST);
    Ward::start(dir, &config(upstreams, block_extra, extra), true)
}

#[tokio::test]
async fn sinkhole_answers_with_ede_and_never_asks_upstream_for_blocked_names() {
    let up = TestUpstream::start().await;
    let dir = tempfile::tempdir().unwrap();
    let w = start(dir.path(), &[up.addr], "", "");

    let a = udp(
        w.dns,
        &query("blocked.test.", RecordType::A, Some((1232, false))),
    )
    .await;
    assert_eq!(a.metadata.response_code, ResponseCode::NoError);
    assert_eq!(a_records(&a), vec![Ipv4Addr::new(192, 0, 2, 1)]);
    assert_eq!(a.answers[0].ttl, 60);
    let (code, text) = ede(&a).expect("an Extended DNS Error");
    assert_eq!(code, 16, "Censored");
    assert!(
        text.contains("test-national") && text.contains("serial 1"),
        "{text}"
    );

    let aaaa = udp(
        w.dns,
        &query("www.blocked.test.", RecordType::AAAA, Some((1232, false))),
    )
    .await;
    assert_eq!(
        aaaa_records(&aaaa),
        vec!["2001:db8::1".parse::<Ipv6Addr>().unwrap()]
    );

    for qtype in [
        RecordType::MX,
        RecordType::HTTPS,
        RecordType::SVCB,
        RecordType::TXT,
    ] {
        let m = udp(w.dns, &query("blocked.test.", qtype, Some((1232, false)))).await;
        assert_eq!(m.metadata.response_code, ResponseCode::NoError, "{qtype}");
        assert!(m.answers.is_empty(), "{qtype}: NODATA");
        assert_eq!(m.authorities.len(), 1, "{qtype}: SOA");
        assert_eq!(m.authorities[0].record_type(), RecordType::SOA);
        assert_eq!(m.authorities[0].ttl, 60);
        assert_eq!(ede(&m).unwrap().0, 16);
    }

    // A sibling of a blocked name is answered from upstream.
    let s = udp(w.dns, &query("sibling.test.", RecordType::A, None)).await;
    assert_eq!(a_records(&s), vec![Ipv4Addr::new(192, 0, 2, 20)]);
    assert!(s.edns.is_none(), "no OPT for a client without EDNS");
    // The upstream's record for www.blocked.test (192.0.2.99) is never seen.
    let b = udp(w.dns, &query("www.blocked.test.", RecordType::A, None)).await;
    assert_eq!(a_records(&b), vec![Ipv4Addr::new(192, 0, 2, 1)]);

    // Exact rules block only their name.
    let e = udp(w.dns, &query("exact.example.test.", RecordType::A, None)).await;
    assert_eq!(a_records(&e), vec![Ipv4Addr::new(192, 0, 2, 1)]);
    let e = udp(
        w.dns,
        &query("www.exact.example.test.", RecordType::A, None),
    )
    .await;
    assert_eq!(
        e.metadata.response_code,
        ResponseCode::NXDomain,
        "forwarded"
    );
    up.stop().await;
}

#[tokio::test]
async fn nxdomain_and_refused_modes() {
    let up = TestUpstream::start().await;
    let dir = tempfile::tempdir().unwrap();
    let w = start(dir.path(), &[up.addr], "action = \"nxdomain\"", "");
    let m = udp(
        w.dns,
        &query("blocked.test.", RecordType::A, Some((1232, false))),
    )
    .await;
    assert_eq!(m.metadata.response_code, ResponseCode::NXDomain);
    assert!(m.answers.is_empty());
    assert_eq!(m.authorities[0].record_type(), RecordType::SOA);
    assert_eq!(m.authorities[0].ttl, 60);
    assert_eq!(ede(&m).unwrap().0, 16);
    drop(w);

    let dir = tempfile::tempdir().unwrap();
    let w = start(dir.path(), &[up.addr], "action = \"refused\"", "");
    let m = udp(
        w.dns,
        &query("a.blocked.test.", RecordType::A, Some((1232, false))),
    )
    .await;
    assert_eq!(m.metadata.response_code, ResponseCode::Refused);
    assert_eq!(ede(&m).unwrap().0, 16);
    up.stop().await;
}

#[tokio::test]
async fn confidential_names_are_blocked_without_leaking() {
    let up = TestUpstream::start().await;
    let dir = tempfile::tempdir().unwrap();
    let w = start(dir.path(), &[up.addr], "", "[log]\nquery_log = true");
    let m = udp(
        w.dns,
        &query("www.secret.test.", RecordType::A, Some((1232, false))),
    )
    .await;
    assert_eq!(a_records(&m), vec![Ipv4Addr::new(192, 0, 2, 1)]);
    let (code, text) = ede(&m).unwrap();
    assert_eq!(code, 16);
    assert!(!text.contains("secret"), "{text}");
    assert!(w.wait_for_log("confidential:"), "query log entry");
    assert!(!w.logs().contains("secret"), "{}", w.logs());
    // The client's address is logged only as its /24.
    assert!(w.wait_for_log("127.0.0.0/24"), "{}", w.logs());
    assert!(!w.logs().contains("127.0.0.1 "), "{}", w.logs());
    up.stop().await;
}

#[tokio::test]
async fn cname_to_a_blocked_name_is_blocked() {
    let up = TestUpstream::start().await;
    let dir = tempfile::tempdir().unwrap();
    let w = start(dir.path(), &[up.addr], "", "");
    let m = udp(
        w.dns,
        &query("cloak.example.test.", RecordType::A, Some((1232, false))),
    )
    .await;
    assert_eq!(a_records(&m), vec![Ipv4Addr::new(192, 0, 2, 1)], "{m:?}");
    assert!(
        m.answers.iter().all(|r| r.record_type() == RecordType::A),
        "no CNAME leaks"
    );
    let (code, text) = ede(&m).unwrap();
    assert_eq!(code, 16);
    assert!(text.contains("ads"), "{text}");
    up.stop().await;
}

/// The question section of a raw message (it follows the 12-byte header
/// and is never compressed).
fn question_bytes(m: &[u8]) -> &[u8] {
    let mut end = 12;
    while m[end] != 0 {
        end += 1 + usize::from(m[end]);
    }
    &m[12..end + 5]
}

#[tokio::test]
async fn question_case_is_echoed_on_miss_and_hit() {
    let up = TestUpstream::start().await;
    let dir = tempfile::tempdir().unwrap();
    let w = start(dir.path(), &[up.addr], "", "");
    // The first spelling is a miss, the others are cache hits; the
    // question must come back byte for byte (0x20 case included).
    for spelling in [
        "wWw.ExAmPlE.tEsT.",
        "WWW.EXAMPLE.TEST.",
        "www.example.test.",
        "BlOcKeD.TeSt.",
    ] {
        let q = client::raw_query(0x0A20, spelling, 1);
        let answer = client::udp_raw(w.dns, &q).await.expect("an answer");
        assert_eq!(question_bytes(&answer), question_bytes(&q), "{spelling}");
        assert!(
            question_bytes(&q).iter().any(|b| b.is_ascii_uppercase())
                || spelling == "www.example.test.",
            "the client really sent mixed case"
        );
        let m = Message::from_vec(&answer).unwrap();
        assert_eq!(m.answers.len(), 1, "{spelling}");
    }
    up.stop().await;
}

#[tokio::test]
async fn truncated_over_udp_complete_over_tcp() {
    let up = TestUpstream::start().await;
    let dir = tempfile::tempdir().unwrap();
    let w = start(dir.path(), &[up.addr], "", "");
    // The upstream truncates this answer at ward's 1232 bytes, so ward
    // itself must have retried over TCP to get it whole.
    let q = query("big.example.test.", RecordType::TXT, None);
    let m = udp(w.dns, &q).await;
    assert!(m.metadata.truncation, "512-byte client gets TC");
    assert!(m.answers.is_empty());
    let m = tcp(w.tcp, &q).await;
    assert!(!m.metadata.truncation);
    let strings: usize = m
        .answers
        .iter()
        .map(|r| match &r.data {
            RData::TXT(t) => t.txt_data.len(),
            _ => 0,
        })
        .sum();
    assert_eq!(strings, 40);
    // A client claiming a bigger buffer than ward advertises (1232) still
    // gets TC over UDP: ward never answers more than it advertises. (The
    // whole answer is about 4.1 kB, so 8192 would once have had it all.)
    for size in [4096, 8192] {
        let bytes = udp_raw(
            w.dns,
            &query("big.example.test.", RecordType::TXT, Some((size, false)))
                .to_vec()
                .unwrap(),
        )
        .await
        .expect("an answer");
        assert!(bytes.len() <= 1232, "{size}: {} bytes", bytes.len());
        let m = Message::from_vec(&bytes).unwrap();
        assert!(m.metadata.truncation, "{size}-byte client gets TC at 1232");
        assert!(m.answers.is_empty());
    }
    let m = udp(
        w.dns,
        &query("big.example.test.", RecordType::TXT, Some((1232, false))),
    )
    .await;
    assert!(m.metadata.truncation, "1232-byte client gets TC");
    up.stop().await;
}

/// ANY is answered with RFC 8482's one HINFO record, never forwarded: a
/// full ANY answer is an amplifier.
#[tokio::test]
async fn any_gets_the_rfc8482_answer() {
    let up = TestUpstream::start().await;
    let dir = tempfile::tempdir().unwrap();
    let w = start(dir.path(), &[up.addr], "", "");
    let m = udp(
        w.dns,
        &query("www.example.test.", RecordType::ANY, Some((4096, false))),
    )
    .await;
    assert_eq!(m.metadata.response_code, ResponseCode::NoError);
    assert_eq!(m.answers.len(), 1, "{m:?}");
    assert_eq!(m.answers[0].record_type(), RecordType::HINFO);
    match &m.answers[0].data {
        RData::HINFO(h) => {
            assert_eq!(&*h.cpu, b"RFC8482");
            assert!(h.os.is_empty());
        }
        other => panic!("{other:?}"),
    }
    assert!(m.authorities.is_empty() && m.additionals.is_empty());
    // A blocked name is still answered as blocked.
    let m = udp(
        w.dns,
        &query("blocked.test.", RecordType::ANY, Some((1232, false))),
    )
    .await;
    assert_eq!(ede(&m).unwrap().0, 16);
    up.stop().await;
}

/// A forwarded answer carries the answer (and, when negative, the SOA),
/// never the upstream's authority or additional records, and no TTL above
/// 2^31 - 1 (RFC 2181 reads those as 0).
#[tokio::test]
async fn forwarded_answers_are_trimmed_and_their_ttls_capped() {
    let up = TestUpstream::start().await;
    let dir = tempfile::tempdir().unwrap();
    let w = start(dir.path(), &[up.addr], "", "");
    let q = query("mail.example.test.", RecordType::MX, Some((1232, false)));
    // The upstream itself adds the MX target's addresses.
    let direct = udp(up.addr, &q).await;
    assert!(!direct.additionals.is_empty(), "{direct:?}");
    let m = udp(w.dns, &q).await;
    assert_eq!(m.answers.len(), 1);
    assert!(m.authorities.is_empty(), "{m:?}");
    assert!(m.additionals.is_empty(), "{m:?}");
    // Twice: the cached copy is trimmed too.
    let m = udp(w.dns, &q).await;
    assert!(m.additionals.is_empty(), "{m:?}");

    let q = query("forever.example.test.", RecordType::A, None);
    let direct = udp(up.addr, &q).await;
    assert_eq!(direct.answers[0].ttl, u32::MAX);
    let m = udp(w.dns, &q).await;
    assert_eq!(a_records(&m), vec![Ipv4Addr::new(192, 0, 2, 44)]);
    assert_eq!(m.answers[0].ttl, 0, "RFC 2181 §8");

    // A negative answer keeps its SOA.
    let m = udp(w.dns, &query("nothing.example.test.", RecordType::A, None)).await;
    assert_eq!(m.metadata.response_code, ResponseCode::NXDomain);
    assert_eq!(m.authorities[0].record_type(), RecordType::SOA);
    up.stop().await;
}

#[tokio::test]
async fn clients_outside_the_acl_are_refused() {
    let up = TestUpstream::start().await;
    let dir = tempfile::tempdir().unwrap();
    write_list(dir.path(), &key(), 1, TEST_LIST);
    let cfg = config(&[up.addr], "", "").replace(
        r#"allow_clients = ["127.0.0.0/8", "::1/128"]"#,
        r#"allow_clients = ["10.0.0.0/8"]"#,
    );
    let w = Ward::start(dir.path(), &cfg, true);
    let m = udp(
        w.dns,
        &query("www.example.test.", RecordType::A, Some((1232, false))),
    )
    .await;
    assert_eq!(m.metadata.response_code, ResponseCode::Refused);
    assert!(m.answers.is_empty());
    let m = tcp(w.tcp, &query("blocked.test.", RecordType::A, None)).await;
    assert_eq!(m.metadata.response_code, ResponseCode::Refused);
    up.stop().await;
}

#[tokio::test]
async fn fails_over_when_the_first_upstream_is_dead() {
    let up = TestUpstream::start().await;
    let dead = dead_addr().await;
    let (silent, _keep) = silent_upstream().await;
    let dir = tempfile::tempdir().unwrap();
    let w = start(dir.path(), &[dead, silent, up.addr], "", "");
    let m = udp(w.dns, &query("www.example.test.", RecordType::A, None)).await;
    assert_eq!(a_records(&m), vec![Ipv4Addr::new(192, 0, 2, 10)]);
    let m = tcp(w.tcp, &query("sibling.test.", RecordType::A, None)).await;
    assert_eq!(a_records(&m), vec![Ipv4Addr::new(192, 0, 2, 20)]);
    up.stop().await;
}

#[tokio::test]
async fn servfail_with_ede_when_every_upstream_is_dead() {
    let dead = dead_addr().await;
    let (silent, _keep) = silent_upstream().await;
    let dir = tempfile::tempdir().unwrap();
    let w = start(dir.path(), &[dead], "", "");
    let m = udp(
        w.dns,
        &query("www.example.test.", RecordType::A, Some((1232, false))),
    )
    .await;
    assert_eq!(m.metadata.response_code, ResponseCode::ServFail);
    assert_eq!(ede(&m).unwrap().0, 23, "Network Error");
    // Blocked names are still answered, never SERVFAIL or unfiltered.
    let m = udp(w.dns, &query("blocked.test.", RecordType::A, None)).await;
    assert_eq!(a_records(&m), vec![Ipv4Addr::new(192, 0, 2, 1)]);
    drop(w);

    let dir = tempfile::tempdir().unwrap();
    let w = start(dir.path(), &[silent], "", "");
    let m = udp(
        w.dns,
        &query("www.example.test.", RecordType::A, Some((1232, false))),
    )
    .await;
    assert_eq!(m.metadata.response_code, ResponseCode::ServFail);
    assert_eq!(ede(&m).unwrap().0, 22, "No Reachable Authority");
}

#[tokio::test]
async fn cached_answers_count_their_ttl_down() {
    let up = TestUpstream::start().await;
    let dir = tempfile::tempdir().unwrap();
    let w = start(dir.path(), &[up.addr], "", "");
    let first = udp(w.dns, &query("short.example.test.", RecordType::A, None)).await;
    assert_eq!(first.answers[0].ttl, 30);
    // Stop the upstream: the second answer can only come from the cache.
    up.stop().await;
    tokio::time::sleep(Duration::from_millis(2100)).await;
    let second = udp(w.dns, &query("SHORT.example.test.", RecordType::A, None)).await;
    assert_eq!(a_records(&second), vec![Ipv4Addr::new(192, 0, 2, 30)]);
    let ttl = second.answers[0].ttl;
    assert!(
        (26..=28).contains(&ttl),
        "TTL counted down from 30 to {ttl}"
    );
}

#[tokio::test]
async fn dnssec_ok_bit_is_echoed() {
    let up = TestUpstream::start().await;
    let dir = tempfile::tempdir().unwrap();
    let w = start(dir.path(), &[up.addr], "", "");
    for name in ["www.example.test.", "blocked.test."] {
        let m = udp(w.dns, &query(name, RecordType::A, Some((1232, true)))).await;
        assert!(m.edns.as_ref().unwrap().flags().dnssec_ok, "{name}");
        let m = udp(w.dns, &query(name, RecordType::A, Some((1232, false)))).await;
        assert!(!m.edns.as_ref().unwrap().flags().dnssec_ok, "{name}");
    }
    up.stop().await;
}

#[tokio::test]
async fn chaos_txt_reports_the_list_in_force() {
    let up = TestUpstream::start().await;
    let dir = tempfile::tempdir().unwrap();
    let w = start(dir.path(), &[up.addr], "", "");
    let mut q = query("list.ward.", RecordType::TXT, None);
    q.queries[0].set_query_class(hickory_proto::rr::DNSClass::CH);
    let m = udp(w.dns, &q).await;
    let RData::TXT(txt) = &m.answers[0].data else {
        panic!("TXT expected: {m:?}");
    };
    let strings: Vec<String> = txt
        .txt_data
        .iter()
        .map(|s| String::from_utf8_lossy(s).into_owned())
        .collect();
    let sha = {
        use sha2::Digest;
        hex::encode(sha2::Sha256::digest(
            std::fs::read(dir.path().join("list.ward")).unwrap(),
        ))
    };
    assert_eq!(
        strings,
        vec![
            "list=test-national".to_string(),
            "serial=1".into(),
            format!("sha256={sha}")
        ]
    );
    up.stop().await;
}

#[tokio::test]
async fn ipv6_listener_and_client() {
    let up = TestUpstream::start().await;
    let dir = tempfile::tempdir().unwrap();
    write_list(dir.path(), &key(), 1, TEST_LIST);
    let cfg = config(&[up.addr], "", "")
        .replace(r#"listen = ["127.0.0.1:0"]"#, r#"listen = ["[::1]:0"]"#);
    let Ok(w) = Ward::try_start(dir.path(), &cfg, true) else {
        // A machine without IPv6 loopback cannot run this test; say so.
        assert!(
            std::net::UdpSocket::bind("[::1]:0").is_err(),
            "ward failed to start on ::1"
        );
        eprintln!("skipped: no IPv6 loopback");
        return;
    };
    assert!(matches!(w.dns.ip(), IpAddr::V6(_)));
    let m = client::udp(w.dns, &query("blocked.test.", RecordType::A, None)).await;
    assert_eq!(a_records(&m), vec![Ipv4Addr::new(192, 0, 2, 1)]);
    up.stop().await;
}
