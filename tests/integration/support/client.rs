//! A DNS client for tests: messages are encoded and decoded by
//! hickory-proto, sent over real UDP and TCP sockets on loopback.

use std::net::SocketAddr;
use std::str::FromStr;
use std::time::Duration;

use hickory_proto::op::{Edns, Message, MessageType, OpCode, Query};
use std::net::{Ipv4Addr, Ipv6Addr};

use hickory_proto::rr::{DNSClass, Name, RData, RecordType};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpStream, UdpSocket};

/// How long a test waits for any one answer.
pub const ANSWER_WAIT: Duration = Duration::from_secs(10);

/// Builds a query. `edns` is (payload size, DO bit).
pub fn query(name: &str, rtype: RecordType, edns: Option<(u16, bool)>) -> Message {
    let mut m = Message::new(rand_id(), MessageType::Query, OpCode::Query);
    m.metadata.recursion_desired = true;
    let mut q = Query::query(Name::from_str(name).expect("valid test name"), rtype);
    q.set_query_class(DNSClass::IN);
    m.add_query(q);
    if let Some((size, dnssec_ok)) = edns {
        let mut e = Edns::new();
        e.set_max_payload(size);
        e.set_dnssec_ok(dnssec_ok);
        m.set_edns(e);
    }
    m
}

fn rand_id() -> u16 {
    use std::sync::atomic::{AtomicU16, Ordering};
    static NEXT: AtomicU16 = AtomicU16::new(0x4000);
    NEXT.fetch_add(7919, Ordering::Relaxed)
}

fn local_for(server: SocketAddr) -> &'static str {
    if server.is_ipv4() {
        "127.0.0.1:0"
    } else {
        "[::1]:0"
    }
}

/// Sends raw bytes over UDP and waits for one datagram back.
pub async fn udp_raw(server: SocketAddr, bytes: &[u8]) -> Option<Vec<u8>> {
    let sock = UdpSocket::bind(local_for(server)).await.unwrap();
    sock.connect(server).await.unwrap();
    sock.send(bytes).await.unwrap();
    let mut buf = vec![0u8; 65_535];
    match tokio::time::timeout(ANSWER_WAIT, sock.recv(&mut buf)).await {
        Ok(Ok(n)) => Some(buf[..n].to_vec()),
        _ => None,
    }
}

/// Sends raw bytes over UDP; returns true if nothing came back within
/// `wait`.
pub async fn udp_silent(server: SocketAddr, bytes: &[u8], wait: Duration) -> bool {
    let sock = UdpSocket::bind(local_for(server)).await.unwrap();
    sock.connect(server).await.unwrap();
    sock.send(bytes).await.unwrap();
    let mut buf = vec![0u8; 65_535];
    tokio::time::timeout(wait, sock.recv(&mut buf))
        .await
        .is_err()
}

/// Sends a message over UDP and decodes the answer.
pub async fn udp(server: SocketAddr, m: &Message) -> Message {
    let bytes = udp_raw(server, &m.to_vec().unwrap())
        .await
        .expect("an answer over UDP");
    let answer = Message::from_vec(&bytes).expect("a well-formed answer");
    assert_eq!(answer.metadata.id, m.metadata.id, "answer ID matches");
    answer
}

/// Sends a message over TCP and decodes the answer.
pub async fn tcp(server: SocketAddr, m: &Message) -> Message {
    let bytes = m.to_vec().unwrap();
    let fut = async {
        let mut s = TcpStream::connect(server).await.unwrap();
        s.write_u16(bytes.len() as u16).await.unwrap();
        s.write_all(&bytes).await.unwrap();
        let len = s.read_u16().await.unwrap();
        let mut buf = vec![0u8; usize::from(len)];
        s.read_exact(&mut buf).await.unwrap();
        buf
    };
    let buf = tokio::time::timeout(ANSWER_WAIT, fut)
        .await
        .expect("an answer over TCP");
    Message::from_vec(&buf).expect("a well-formed answer")
}

/// The Extended DNS Error (code, text) in an answer, if any.
pub fn ede(m: &Message) -> Option<(u16, String)> {
    let edns = m.edns.as_ref()?;
    let opt = edns.options();
    for (code, option) in opt.as_ref() {
        if u16::from(*code) == 15
            && let hickory_proto::rr::rdata::opt::EdnsOption::Unknown(_, data) = option
        {
            let info = u16::from_be_bytes([data[0], data[1]]);
            return Some((info, String::from_utf8_lossy(&data[2..]).into_owned()));
        }
    }
    None
}

/// A query built byte by byte, keeping the name's case exactly as given
/// (hickory's encoder lowercases names, which would hide 0x20 bugs).
pub fn raw_query(id: u16, name: &str, qtype: u16) -> Vec<u8> {
    let mut m = Vec::new();
    m.extend_from_slice(&id.to_be_bytes());
    m.extend_from_slice(&[0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0]);
    for label in name.trim_end_matches('.').split('.') {
        m.push(label.len() as u8);
        m.extend_from_slice(label.as_bytes());
    }
    m.extend_from_slice(&[0]);
    m.extend_from_slice(&qtype.to_be_bytes());
    m.extend_from_slice(&[0, 1]);
    m
}

/// The A records in an answer section.
pub fn a_records(m: &Message) -> Vec<Ipv4Addr> {
    m.answers
        .iter()
        .filter_map(|r| match &r.data {
            RData::A(a) => Some(a.0),
            _ => None,
        })
        .collect()
}

/// The AAAA records in an answer section.
pub fn aaaa_records(m: &Message) -> Vec<Ipv6Addr> {
    m.answers
        .iter()
        .filter_map(|r| match &r.data {
            RData::AAAA(a) => Some(a.0),
            _ => None,
        })
        .collect()
}
