//! `ward serve` under hostile load (bounded in count and time, loopback
//! only): what one client does must not take the service from others.

use std::net::{Ipv4Addr, SocketAddr};

use hickory_proto::rr::RecordType;
use tokio::io::AsyncWriteExt;
use tokio::net::{TcpSocket, TcpStream};

use crate::serve::start;
use crate::serve_lifecycle::http_get;
use crate::support::client::{a_records, query, udp};
use crate::support::upstream::TestUpstream;

/// Open file descriptors of a process.
fn open_fds(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd"))
        .map(|d| d.count())
        .unwrap_or(0)
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
