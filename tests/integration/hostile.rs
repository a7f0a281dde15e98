//! `ward serve` under hostile load (bounded in count and time, loopback
//! only): what one client does must not take the service from others.

use std::net::{Ipv4Addr, SocketAddr};
use std::time::Duration;

use hickory_proto::op::Message;
use hickory_proto::rr::RecordType;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};

use crate::serve::start;
use crate::serve_lifecycle::http_get;
use crate::support::client::{a_records, query, udp};
use crate::support::upstream::TestUpstream;
use crate::support::ward::{TEST_LIST, Ward, write_list};

/// Open file descriptors of a process.
fn open_fds(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd"))
        .map(|d| d.count())
        .unwrap_or(0)
}

/// Established TCP connections whose local end is `port` (ward's side of
/// its clients' connections), from `/proc/net/tcp`.
fn established_on(port: u16) -> usize {
    let text = std::fs::read_to_string("/proc/net/tcp").unwrap_or_default();
    text.lines()
        .skip(1)
        .filter(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            let local_port = f
                .get(1)
                .and_then(|a| a.rsplit(':').next())
                .and_then(|p| u16::from_str_radix(p, 16).ok());
            local_port == Some(port) && f.get(3) == Some(&"01")
        })
        .count()
}

/// A TCP connection to `to` from `source` (another loopback address).
async fn connect_from(source: Ipv4Addr, to: SocketAddr) -> Option<TcpStream> {
    let socket = TcpSocket::new_v4().ok()?;
    socket.bind(SocketAddr::from((source, 0))).ok()?;
    socket.connect(to).await.ok()
}

/// A connection from `source` (another loopback address) that sends half
/// a request head and then nothing.
async fn slow_client(source: Ipv4Addr, to: SocketAddr) -> Option<TcpStream> {
    let mut stream = connect_from(source, to).await?;
    stream
        .write_all(b"GET /metrics HTTP/1.1\r\nHo")
        .await
        .ok()?;
    Some(stream)
}

#[tokio::test]
async fn slow_admin_clients_hold_no_more_than_their_share() {
    let up = TestUpstream::start().await;
    let dir = tempfile::tempdir().unwrap();
    let w = start(dir.path(), &[up.addr], "", "");
    let admin = w.admin.unwrap();
    let before = open_fds(w.pid());

    // 300 slowloris connections from 127.0.0.2, all kept open here.
    let mut held = Vec::new();
    for _ in 0..300 {
        if let Some(s) = slow_client(Ipv4Addr::new(127, 0, 0, 2), admin).await {
            held.push(s);
        }
    }
    assert!(held.len() >= 250, "{} connected", held.len());

    // A monitoring system on another address still gets its answer, and
    // DNS is untouched.
    let (status, body) = http_get(admin, "/readyz").await;
    assert_eq!(status, 200, "{body}");
    let m = udp(w.dns, &query("www.example.test.", RecordType::A, None)).await;
    assert_eq!(a_records(&m), vec![Ipv4Addr::new(192, 0, 2, 10)]);

    // ward holds at most its per-client share of them, not 300 sockets.
    let during = open_fds(w.pid());
    assert!(
        during < before + 2 * ward::admin::MAX_PER_CLIENT,
        "{before} fds before, {during} with 300 slow clients"
    );
    // Each refused one is counted, by reason, never by address.
    let refused = metric(
        admin,
        r#"ward_connections_closed_total{listener="admin",reason="client_cap"}"#,
    )
    .await;
    assert!(refused >= 200.0, "{refused} counted");
    drop(held);
    up.stop().await;
}

/// The test config with these `[dns]` TCP limits.
fn tcp_config(up: SocketAddr, limits: &str) -> String {
    crate::serve::config(&[up], "", "").replace(
        "upstream_attempts = 1",
        &format!("upstream_attempts = 1\n{limits}"),
    )
}

/// Sends one DNS query over `stream` and reads its answer.
async fn tcp_exchange(stream: &mut TcpStream, name: &str) -> Option<Message> {
    let bytes = query(name, RecordType::A, None).to_vec().ok()?;
    stream.write_u16(bytes.len() as u16).await.ok()?;
    stream.write_all(&bytes).await.ok()?;
    let len = stream.read_u16().await.ok()?;
    let mut buf = vec![0u8; usize::from(len)];
    stream.read_exact(&mut buf).await.ok()?;
    Message::from_vec(&buf).ok()
}

/// A TCP connection from `source` that asked one question and keeps the
/// connection open.
async fn tcp_client(source: Ipv4Addr, to: SocketAddr) -> Option<TcpStream> {
    let mut stream = connect_from(source, to).await?;
    tcp_exchange(&mut stream, "www.example.test.").await?;
    Some(stream)
}

#[tokio::test]
async fn clients_holding_every_tcp_slot_cannot_lock_out_a_new_one() {
    let up = TestUpstream::start().await;
    let dir = tempfile::tempdir().unwrap();
    write_list(dir.path(), &crate::serve::key(), 1, TEST_LIST);
    let w = Ward::start(
        dir.path(),
        &tcp_config(up.addr, "tcp_max_connections = 8"),
        true,
    );

    // Four addresses hold two connections each: every slot, each
    // connection alive and idle.
    let mut held = Vec::new();
    for host in 2..6 {
        for _ in 0..2 {
            let c = tcp_client(Ipv4Addr::new(127, 0, 0, host), w.tcp).await;
            held.push(c.expect("admitted"));
        }
    }
    // One address holds at most a quarter of the slots: a third
    // connection from 127.0.0.2 is closed at once.
    let third = tcp_client(Ipv4Addr::new(127, 0, 0, 2), w.tcp).await;
    assert!(third.is_none(), "a third connection from one address");

    // A new client gets in: the longest-idle connection makes room.
    let mut fresh = TcpStream::connect(w.tcp).await.unwrap();
    let m = tcp_exchange(&mut fresh, "www.example.test.")
        .await
        .expect("a new client is answered");
    assert_eq!(a_records(&m), vec![Ipv4Addr::new(192, 0, 2, 10)]);
    let admin = w.admin.unwrap();
    let closed = |reason: &str| {
        format!(r#"ward_connections_closed_total{{listener="dns_tcp",reason="{reason}"}}"#)
    };
    assert_eq!(metric(admin, &closed("client_cap")).await, 1.0);
    assert_eq!(metric(admin, &closed("evicted")).await, 1.0);
    drop(held);
    up.stop().await;
}

#[tokio::test]
async fn a_client_that_does_not_read_is_closed_after_the_write_timeout() {
    let up = TestUpstream::start().await;
    let dir = tempfile::tempdir().unwrap();
    write_list(dir.path(), &crate::serve::key(), 1, TEST_LIST);
    let w = Ward::start(
        dir.path(),
        &tcp_config(up.addr, "tcp_idle_timeout = \"1s\""),
        true,
    );
    let port = w.tcp.port();
    // The big answer, once, so that it is cached.
    let mut probe = TcpStream::connect(w.tcp).await.unwrap();
    let q = query("big.example.test.", RecordType::TXT, None)
        .to_vec()
        .unwrap();
    probe.write_u16(q.len() as u16).await.unwrap();
    probe.write_all(&q).await.unwrap();
    let len = probe.read_u16().await.unwrap();
    let mut answer = vec![0u8; usize::from(len)];
    probe.read_exact(&mut answer).await.unwrap();
    drop(probe);

    // 3,000 queries for a 4 kB answer (12 MB, past any socket buffer),
    // never reading one answer.
    let mut reader = TcpStream::connect(w.tcp).await.unwrap();
    let mut frame = Vec::new();
    for _ in 0..3000 {
        frame.extend_from_slice(&(q.len() as u16).to_be_bytes());
        frame.extend_from_slice(&q);
    }
    // The kernel takes what it can; the rest may block (ward stops
    // reading once its answers back up): bounded.
    let _ = tokio::time::timeout(Duration::from_secs(5), reader.write_all(&frame)).await;

    // ward closes it once its writes stall for the timeout (1 s here):
    // no established connection is left on ward's port.
    let mut closed = false;
    for _ in 0..300 {
        if established_on(port) == 0 {
            closed = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(closed, "ward still holds the non-reading connection");
    let stalled = metric(
        w.admin.unwrap(),
        r#"ward_connections_closed_total{listener="dns_tcp",reason="write_timeout"}"#,
    )
    .await;
    assert_eq!(stalled, 1.0);
    drop(reader);
    up.stop().await;
}

/// The test config with this `[limits]` section.
fn limits_config(up: SocketAddr, limits: &str) -> String {
    format!(
        "{}\n[limits]\n{limits}\n",
        crate::serve::config(&[up], "", "")
    )
}

/// The value of one metric series (0 when it is not exposed yet).
async fn metric(admin: SocketAddr, series: &str) -> f64 {
    crate::list_file::metric(admin, series).await.unwrap_or(0.0)
}

const QPS_DROPPED: &str = r#"ward_rate_limited_total{limit="client_qps",action="drop"}"#;
const RRL_SLIPPED: &str = r#"ward_rate_limited_total{limit="rrl",action="slip"}"#;

/// Sends `count` queries for `name` from `source`, in bursts of 25, and
/// after each burst collects answers until every query sent is accounted
/// for: answered here, or counted by ward in `limited` (a dropped query
/// has no answer to wait for). Bursts keep every socket buffer on the way
/// from overflowing, so nothing is lost unaccounted. Bounded: gives up
/// after 20 s without progress. Returns the answers and the time taken.
async fn flood(
    source: Ipv4Addr,
    w: &Ward,
    name: &str,
    count: usize,
    limited: &str,
) -> (Vec<Message>, Duration) {
    let sock = tokio::net::UdpSocket::bind((source, 0)).await.unwrap();
    sock.connect(w.dns).await.unwrap();
    let admin = w.admin.unwrap();
    let before = metric(admin, limited).await;
    let q = query(name, RecordType::A, None).to_vec().unwrap();
    let started = std::time::Instant::now();
    let mut answers = Vec::new();
    let mut buf = vec![0u8; 65_535];
    let mut sent = 0;
    while sent < count {
        let burst = 25.min(count - sent);
        for _ in 0..burst {
            sock.send(&q).await.unwrap();
        }
        sent += burst;
        let mut quiet = 0;
        while quiet < 200 {
            let held = metric(admin, limited).await - before;
            if answers.len() + held as usize >= sent {
                break;
            }
            match tokio::time::timeout(Duration::from_millis(100), sock.recv(&mut buf)).await {
                Ok(Ok(n)) => {
                    answers.push(Message::from_vec(&buf[..n]).unwrap());
                    quiet = 0;
                }
                _ => quiet += 1,
            }
        }
    }
    (answers, started.elapsed())
}

#[tokio::test]
async fn a_flood_from_one_address_is_limited_while_another_is_answered() {
    let up = TestUpstream::start().await;
    let dir = tempfile::tempdir().unwrap();
    write_list(dir.path(), &crate::serve::key(), 1, TEST_LIST);
    let limits = "client_qps = 20\nclient_prefix_v4 = 32\nslip = 0\nexempt = [\"127.0.0.4\"]";
    let w = Ward::start(dir.path(), &limits_config(up.addr, limits), true);
    let admin = w.admin.unwrap();

    // 500 queries from 127.0.0.2: a second's worth of tokens, plus what
    // refilled while they were sent, are answered; the rest are dropped
    // and counted.
    let (answers, elapsed) = flood(
        Ipv4Addr::new(127, 0, 0, 2),
        &w,
        "www.example.test.",
        500,
        QPS_DROPPED,
    )
    .await;
    let allowed = 20.0 + 20.0 * elapsed.as_secs_f64() + 1.0;
    assert!(
        (answers.len() as f64) <= allowed,
        "{} answered in {elapsed:?}",
        answers.len()
    );
    let dropped = metric(admin, QPS_DROPPED).await;
    assert_eq!(dropped as usize + answers.len(), 500);

    // Another address is answered normally, at once.
    let sock = tokio::net::UdpSocket::bind((Ipv4Addr::new(127, 0, 0, 3), 0))
        .await
        .unwrap();
    sock.connect(w.dns).await.unwrap();
    let q = query("www.example.test.", RecordType::A, None);
    sock.send(&q.to_vec().unwrap()).await.unwrap();
    let mut buf = vec![0u8; 4096];
    let n = tokio::time::timeout(Duration::from_secs(10), sock.recv(&mut buf))
        .await
        .expect("answered")
        .unwrap();
    let m = Message::from_vec(&buf[..n]).unwrap();
    assert_eq!(a_records(&m), vec![Ipv4Addr::new(192, 0, 2, 10)]);

    // An exempt address is never limited.
    let (answers, _) = flood(
        Ipv4Addr::new(127, 0, 0, 4),
        &w,
        "www.example.test.",
        300,
        QPS_DROPPED,
    )
    .await;
    assert_eq!(answers.len(), 300);
    assert_eq!(metric(admin, QPS_DROPPED).await, dropped);
    up.stop().await;
}

#[tokio::test]
async fn identical_answers_past_the_rrl_rate_slip_to_truncated_and_tcp_still_answers() {
    let up = TestUpstream::start().await;
    let dir = tempfile::tempdir().unwrap();
    write_list(dir.path(), &crate::serve::key(), 1, TEST_LIST);
    let w = Ward::start(
        dir.path(),
        &limits_config(up.addr, "rrl = 5\nslip = 1"),
        true,
    );
    let admin = w.admin.unwrap();

    // slip = 1: every limited answer is sent as an empty truncated one,
    // so every query gets something back.
    let (answers, elapsed) = flood(
        Ipv4Addr::new(127, 0, 0, 5),
        &w,
        "www.example.test.",
        200,
        "ward_no_such_metric",
    )
    .await;
    assert_eq!(answers.len(), 200);
    let full: Vec<_> = answers.iter().filter(|m| !m.metadata.truncation).collect();
    let slipped: Vec<_> = answers.iter().filter(|m| m.metadata.truncation).collect();
    assert!(
        full.len() as f64 <= 5.0 + 5.0 * elapsed.as_secs_f64() + 1.0,
        "{} full answers in {elapsed:?}",
        full.len()
    );
    assert_eq!(slipped.len() as f64, metric(admin, RRL_SLIPPED).await);
    for m in &slipped {
        assert!(m.answers.is_empty(), "{m:?}");
        assert_eq!(m.queries.len(), 1);
    }
    for m in &full {
        assert_eq!(a_records(m), vec![Ipv4Addr::new(192, 0, 2, 10)]);
    }

    // A real client retries over TCP, which is never limited.
    let mut stream = connect_from(Ipv4Addr::new(127, 0, 0, 5), w.tcp)
        .await
        .expect("connected");
    let m = tcp_exchange(&mut stream, "www.example.test.")
        .await
        .expect("answered over TCP");
    assert!(!m.metadata.truncation);
    assert_eq!(a_records(&m), vec![Ipv4Addr::new(192, 0, 2, 10)]);
    up.stop().await;
}
