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

/// A connection from `source` (another loopback address) that sends half
/// a request head and then nothing.
async fn slow_client(source: Ipv4Addr, to: SocketAddr) -> Option<TcpStream> {
    let socket = TcpSocket::new_v4().ok()?;
    socket.bind(SocketAddr::from((source, 0))).ok()?;
    let mut stream = socket.connect(to).await.ok()?;
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
    let socket = TcpSocket::new_v4().ok()?;
    socket.bind(SocketAddr::from((source, 0))).ok()?;
    let mut stream = socket.connect(to).await.ok()?;
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
    drop(reader);
    up.stop().await;
}
