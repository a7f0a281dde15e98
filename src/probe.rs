//! `ward probe`'s mechanism: ask a resolver (any resolver: ward, Unbound,
//! BIND, PowerDNS) for listed names and judge each answer; open TLS
//! connections with a listed name as SNI and judge the handshake.
//!
//! Judging is pure ([`judge_dns`], [`judge_tls`]); the I/O around it is
//! blocking and bounded by a timeout per exchange. A DNS answer counts as
//! blocked when it carries an Extended DNS Error 15 (Blocked), 16
//! (Censored) or 17 (Filtered), is NXDOMAIN, or gives only sinkhole
//! addresses. A TLS handshake counts as blocked when the path answers a
//! fatal `access_denied` alert, or closes or resets the connection before
//! the server's hello.

pub mod deliver;
pub mod result;

use std::io::{Read, Write};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, TcpStream, UdpSocket};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde::Serialize;

use crate::dns::wire::{
    self, CLASS_CH, CLASS_IN, Header, RCODE_NXDOMAIN, RCODE_REFUSED, RCODE_SERVFAIL, Reader,
    RecordRef, TYPE_A, TYPE_AAAA, TYPE_OPT, TYPE_TXT, flags,
};

/// The Extended DNS Error codes that mean "filtered on purpose".
pub const BLOCKING_EDE: [u16; 3] = [15, 16, 17];
/// Addresses every common filter uses as a sinkhole, besides `--sinkhole`.
pub const DEFAULT_SINKHOLES: [IpAddr; 3] = [
    IpAddr::V4(Ipv4Addr::UNSPECIFIED),
    IpAddr::V4(Ipv4Addr::LOCALHOST),
    IpAddr::V6(Ipv6Addr::UNSPECIFIED),
];
/// The EDNS payload size the probe advertises.
const PAYLOAD: u16 = 1232;

/// The parts of a DNS answer the verdict depends on.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DnsAnswer {
    pub rcode: u8,
    /// Extended DNS Error codes, in order.
    pub ede: Vec<u16>,
    /// A and AAAA records of the answer section.
    pub addresses: Vec<IpAddr>,
    /// TXT strings of the answer section.
    pub txt: Vec<String>,
    pub truncated: bool,
}

/// How a probe of one name on one channel came out.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "verdict", content = "detail", rename_all = "snake_case")]
pub enum Verdict {
    /// Filtered, and how it showed.
    Blocked(String),
    /// Answered as if unfiltered.
    NotBlocked(String),
    /// No usable answer (timeout, SERVFAIL, refused connection, …).
    Failed(String),
}

impl Verdict {
    pub fn is_blocked(&self) -> bool {
        matches!(self, Self::Blocked(_))
    }
}

/// Why asking a resolver gave no usable answer. The text becomes a
/// [`Verdict::Failed`] detail.
#[derive(Debug, thiserror::Error)]
pub enum ProbeError {
    #[error("malformed answer: {0}")]
    Malformed(#[source] wire::WireError),
    #[error("an answer to another query")]
    OtherQuery,
    #[error("malformed answer: record data out of range")]
    RdataOutOfRange,
    /// `rtype`: "A" or "AAAA".
    #[error("bad {rtype} record")]
    BadAddress { rtype: &'static str },
    #[error("bind: {0}")]
    Bind(#[source] std::io::Error),
    #[error("{0}")]
    Socket(#[source] std::io::Error),
    /// Connecting to, or receiving from, `resolver` over UDP.
    #[error("{resolver}: {source}")]
    Udp {
        resolver: SocketAddr,
        #[source]
        source: std::io::Error,
    },
    #[error("send to {resolver}: {source}")]
    Send {
        resolver: SocketAddr,
        #[source]
        source: std::io::Error,
    },
    #[error("no answer from {resolver} within {timeout:?}")]
    Timeout {
        resolver: SocketAddr,
        timeout: Duration,
    },
    #[error("{resolver} (TCP): {source}")]
    Tcp {
        resolver: SocketAddr,
        #[source]
        source: std::io::Error,
    },
    #[error("query too long")]
    QueryTooLong,
}

/// A query for `name` (`qtype`, `class`) with EDNS, so EDEs can come back.
pub fn query(id: u16, name: &str, qtype: u16, class: u16) -> Vec<u8> {
    let mut q = Vec::with_capacity(64);
    wire::put_header(
        &mut q,
        &Header {
            id,
            flags: flags::RD,
            qdcount: 1,
            ancount: 0,
            nscount: 0,
            arcount: 1,
        },
    );
    wire::put_name(&mut q, name);
    q.extend_from_slice(&qtype.to_be_bytes());
    q.extend_from_slice(&class.to_be_bytes());
    wire::put_opt(&mut q, PAYLOAD, 0, false, &[]);
    q
}

/// Parses an answer to the query with `id`; every read is bounds-checked.
pub fn parse_answer(id: u16, bytes: &[u8]) -> Result<DnsAnswer, ProbeError> {
    let bad = ProbeError::Malformed;
    let mut r = Reader::new(bytes);
    let h = Header::read(&mut r).map_err(bad)?;
    if h.id != id || !h.has(flags::QR) {
        return Err(ProbeError::OtherQuery);
    }
    let mut out = DnsAnswer {
        rcode: h.rcode(),
        truncated: h.has(flags::TC),
        ..DnsAnswer::default()
    };
    for _ in 0..h.qdcount {
        r.skip_name().map_err(bad)?;
        r.take(4).map_err(bad)?;
    }
    let sections = [h.ancount, h.nscount, h.arcount];
    for (section, count) in sections.into_iter().enumerate() {
        for _ in 0..count {
            let rr = RecordRef::read(&mut r).map_err(bad)?;
            // RecordRef::read took these bytes from `bytes`, so the range
            // is inside it; `get` keeps that from being a panic anyway.
            let rdata = bytes
                .get(rr.rdata_at..rr.rdata_at + rr.rdlen)
                .ok_or(ProbeError::RdataOutOfRange)?;
            match (section, rr.rtype) {
                (0, TYPE_A) if rdata.len() == 4 => {
                    let a: [u8; 4] = rdata
                        .try_into()
                        .map_err(|_| ProbeError::BadAddress { rtype: "A" })?;
                    out.addresses.push(IpAddr::from(a));
                }
                (0, TYPE_AAAA) if rdata.len() == 16 => {
                    let a: [u8; 16] = rdata
                        .try_into()
                        .map_err(|_| ProbeError::BadAddress { rtype: "AAAA" })?;
                    out.addresses.push(IpAddr::from(a));
                }
                (0, TYPE_TXT) => {
                    let mut t = Reader::new(rdata);
                    while t.remaining() > 0 {
                        let len = usize::from(t.u8().map_err(bad)?);
                        let s = t.take(len).map_err(bad)?;
                        out.txt.push(String::from_utf8_lossy(s).into_owned());
                    }
                }
                (2, TYPE_OPT) => {
                    out.rcode = out
                        .rcode
                        .saturating_add(((rr.ttl >> 24) as u8).saturating_mul(16));
                    wire::opt_options(rdata, |code, data| {
                        if code == wire::OPT_EDE
                            && let Some(&[hi, lo]) =
                                data.get(..2).and_then(|d| <&[u8; 2]>::try_from(d).ok())
                        {
                            out.ede.push(u16::from_be_bytes([hi, lo]));
                        }
                    })
                    .map_err(bad)?;
                }
                _ => {}
            }
        }
    }
    Ok(out)
}

/// The verdict on a DNS answer for a listed name.
pub fn judge_dns(a: &DnsAnswer, sinkholes: &[IpAddr]) -> Verdict {
    if let Some(code) = a.ede.iter().find(|c| BLOCKING_EDE.contains(c)) {
        return Verdict::Blocked(format!("EDE {code}"));
    }
    match a.rcode {
        RCODE_NXDOMAIN => return Verdict::Blocked("NXDOMAIN".into()),
        RCODE_SERVFAIL => return Verdict::Failed("SERVFAIL".into()),
        RCODE_REFUSED => return Verdict::Failed("REFUSED without a filtering EDE".into()),
        0 => {}
        other => return Verdict::Failed(format!("rcode {other}")),
    }
    if a.addresses.is_empty() {
        return Verdict::NotBlocked("NOERROR without addresses".into());
    }
    let first = a
        .addresses
        .first()
        .map(ToString::to_string)
        .unwrap_or_default();
    if a.addresses.iter().all(|ip| sinkholes.contains(ip)) {
        return Verdict::Blocked(format!("sinkhole {first}"));
    }
    Verdict::NotBlocked(format!("resolved to {first}"))
}

/// Asks `resolver` over UDP (TCP when truncated), up to `tries` times.
pub fn ask(
    resolver: SocketAddr,
    name: &str,
    qtype: u16,
    class: u16,
    timeout: Duration,
    tries: u32,
) -> Result<DnsAnswer, ProbeError> {
    let mut attempt = 1;
    loop {
        let id = crate::dns::upstream::random_id();
        let q = query(id, name, qtype, class);
        match udp_exchange(resolver, &q, timeout).and_then(|b| parse_answer(id, &b)) {
            Ok(a) if a.truncated => {
                return tcp_exchange(resolver, &q, timeout).and_then(|b| parse_answer(id, &b));
            }
            Ok(a) => return Ok(a),
            // The last attempt's error is the one reported.
            Err(e) if attempt >= tries => return Err(e),
            Err(_) => attempt += 1,
        }
    }
}

fn udp_exchange(resolver: SocketAddr, q: &[u8], timeout: Duration) -> Result<Vec<u8>, ProbeError> {
    let any: SocketAddr = if resolver.is_ipv4() {
        (Ipv4Addr::UNSPECIFIED, 0).into()
    } else {
        (Ipv6Addr::UNSPECIFIED, 0).into()
    };
    let sock = UdpSocket::bind(any).map_err(ProbeError::Bind)?;
    sock.connect(resolver)
        .map_err(|source| ProbeError::Udp { resolver, source })?;
    sock.set_read_timeout(Some(timeout))
        .map_err(ProbeError::Socket)?;
    sock.send(q)
        .map_err(|source| ProbeError::Send { resolver, source })?;
    let mut buf = vec![0u8; 65_535];
    match sock.recv(&mut buf) {
        Ok(n) => Ok(buf[..n].to_vec()),
        Err(e)
            if matches!(
                e.kind(),
                std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
            ) =>
        {
            Err(ProbeError::Timeout { resolver, timeout })
        }
        Err(source) => Err(ProbeError::Udp { resolver, source }),
    }
}

/// A TCP stream whose reads and writes all share one deadline: a peer
/// that drips a byte at a time cannot stretch an exchange past it.
struct Deadlined<'a> {
    tcp: &'a TcpStream,
    deadline: Instant,
}

impl Deadlined<'_> {
    fn left(&self) -> std::io::Result<Duration> {
        let left = self.deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(std::io::Error::new(
                std::io::ErrorKind::TimedOut,
                "deadline passed",
            ));
        }
        Ok(left)
    }
}

impl Read for Deadlined<'_> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        self.tcp.set_read_timeout(Some(self.left()?))?;
        self.tcp.read(buf)
    }
}

impl Write for Deadlined<'_> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.tcp.set_write_timeout(Some(self.left()?))?;
        self.tcp.write(buf)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.tcp.set_write_timeout(Some(self.left()?))?;
        self.tcp.flush()
    }
}

fn tcp_exchange(resolver: SocketAddr, q: &[u8], timeout: Duration) -> Result<Vec<u8>, ProbeError> {
    let io = |source| ProbeError::Tcp { resolver, source };
    let deadline = Instant::now() + timeout;
    let tcp = TcpStream::connect_timeout(&resolver, timeout).map_err(io)?;
    let mut s = Deadlined {
        tcp: &tcp,
        deadline,
    };
    let len = u16::try_from(q.len()).map_err(|_| ProbeError::QueryTooLong)?;
    let mut framed = len.to_be_bytes().to_vec();
    framed.extend_from_slice(q);
    s.write_all(&framed).map_err(io)?;
    let mut len = [0u8; 2];
    s.read_exact(&mut len).map_err(io)?;
    let mut buf = vec![0u8; usize::from(u16::from_be_bytes(len))];
    s.read_exact(&mut buf).map_err(io)?;
    Ok(buf)
}

/// What `CH TXT list.ward.` says: `(list id, serial)`; `None` from a
/// resolver that is not ward (or an answer without a serial).
pub fn ward_list_serial(resolver: SocketAddr, timeout: Duration) -> Option<(String, u64)> {
    let a = ask(resolver, "list.ward.", TYPE_TXT, CLASS_CH, timeout, 2).ok()?;
    let field = |key: &str| {
        a.txt
            .iter()
            .find_map(|t| t.strip_prefix(key)?.strip_prefix('='))
            .map(str::to_owned)
    };
    Some((field("list")?, field("serial")?.parse().ok()?))
}

/// The DNS verdict on a listed name (A query).
pub fn probe_dns(
    resolver: SocketAddr,
    name: &str,
    sinkholes: &[IpAddr],
    timeout: Duration,
) -> Verdict {
    match ask(resolver, name, TYPE_A, CLASS_IN, timeout, 2) {
        Ok(a) => judge_dns(&a, sinkholes),
        Err(e) => Verdict::Failed(e.to_string()),
    }
}

/// How a TLS handshake attempt ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TlsOutcome {
    /// The server's hello arrived (whatever its certificate).
    Proceeded,
    /// A fatal alert before the server's hello.
    Alert(String),
    /// Closed or reset before the server's hello.
    Closed(String),
    /// No TCP connection, or no answer in time.
    Failed(String),
}

/// The verdict on a TLS handshake for a listed name.
pub fn judge_tls(o: &TlsOutcome) -> Verdict {
    match o {
        TlsOutcome::Proceeded => Verdict::NotBlocked("the TLS handshake proceeded".into()),
        TlsOutcome::Alert(a) if a == "AccessDenied" => {
            Verdict::Blocked("alert access_denied".into())
        }
        TlsOutcome::Alert(a) => Verdict::NotBlocked(format!("alert {a} (not access_denied)")),
        TlsOutcome::Closed(how) => {
            Verdict::Blocked(format!("connection {how} before the server hello"))
        }
        TlsOutcome::Failed(e) => Verdict::Failed(e.clone()),
    }
}

/// Opens TCP to `addr` and sends a ClientHello with `name` as SNI. The
/// certificate is not checked: only whether the handshake gets past the
/// hello matters.
pub fn tls_handshake(addr: SocketAddr, name: &str, timeout: Duration) -> TlsOutcome {
    use rustls::pki_types::ServerName;
    crate::update::fetch::install_crypto();
    let Ok(server_name) = ServerName::try_from(name.to_owned()) else {
        return TlsOutcome::Failed(format!("{name:?} is not a valid SNI name"));
    };
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = match rustls::ClientConfig::builder_with_provider(Arc::clone(&provider))
        .with_safe_default_protocol_versions()
    {
        Ok(b) => b
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(AnyCertificate(provider)))
            .with_no_client_auth(),
        Err(e) => return TlsOutcome::Failed(format!("TLS setup: {e}")),
    };
    let mut conn = match rustls::ClientConnection::new(Arc::new(config), server_name) {
        Ok(c) => c,
        Err(e) => return TlsOutcome::Failed(format!("TLS setup: {e}")),
    };
    // One deadline for the whole handshake, not per read.
    let deadline = Instant::now() + timeout;
    let tcp = match TcpStream::connect_timeout(&addr, timeout) {
        Ok(t) => t,
        Err(e) => return TlsOutcome::Failed(format!("connect to {addr}: {e}")),
    };
    let mut tcp = Deadlined {
        tcp: &tcp,
        deadline,
    };
    loop {
        if conn.wants_write()
            && let Err(e) = conn.write_tls(&mut tcp)
        {
            return io_outcome(&e);
        }
        if !conn.is_handshaking() {
            return TlsOutcome::Proceeded;
        }
        match conn.read_tls(&mut tcp) {
            Ok(0) => return TlsOutcome::Closed("closed".into()),
            Ok(_) => {}
            Err(e) => return io_outcome(&e),
        }
        match conn.process_new_packets() {
            Ok(_) => {
                // A server hello (or anything after it) means the path let
                // the handshake through.
                if conn.negotiated_cipher_suite().is_some() {
                    return TlsOutcome::Proceeded;
                }
            }
            Err(rustls::Error::AlertReceived(alert)) => {
                return TlsOutcome::Alert(format!("{alert:?}"));
            }
            Err(e) => return TlsOutcome::Failed(format!("TLS: {e}")),
        }
    }
}

fn io_outcome(e: &std::io::Error) -> TlsOutcome {
    use std::io::ErrorKind as K;
    match e.kind() {
        K::ConnectionReset | K::ConnectionAborted | K::BrokenPipe | K::UnexpectedEof => {
            TlsOutcome::Closed("reset".into())
        }
        K::WouldBlock | K::TimedOut => TlsOutcome::Failed("no TLS answer in time".into()),
        _ => TlsOutcome::Failed(e.to_string()),
    }
}

/// Accepts any certificate: the probe never sends data, it only watches
/// whether the handshake is let through.
#[derive(Debug)]
struct AnyCertificate(Arc<rustls::crypto::CryptoProvider>);

impl rustls::client::danger::ServerCertVerifier for AnyCertificate {
    fn verify_server_cert(
        &self,
        _end_entity: &rustls::pki_types::CertificateDer<'_>,
        _intermediates: &[rustls::pki_types::CertificateDer<'_>],
        _server_name: &rustls::pki_types::ServerName<'_>,
        _ocsp: &[u8],
        _now: rustls::pki_types::UnixTime,
    ) -> Result<rustls::client::danger::ServerCertVerified, rustls::Error> {
        Ok(rustls::client::danger::ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &rustls::pki_types::CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &rustls::pki_types::CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

#[cfg(test)]
mod tests {
    /// A server that answers every connection with `bytes`, one byte per
    /// 50 ms, until the client goes away.
    fn dripping_server(bytes: Vec<u8>) -> SocketAddr {
        use std::io::Write;
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        std::thread::spawn(move || {
            for conn in listener.incoming() {
                let Ok(mut conn) = conn else { return };
                let bytes = bytes.clone();
                std::thread::spawn(move || {
                    for b in bytes {
                        std::thread::sleep(std::time::Duration::from_millis(50));
                        if conn.write_all(&[b]).is_err() {
                            return;
                        }
                    }
                });
            }
        });
        addr
    }

    #[test]
    fn a_dripping_dns_over_tcp_answer_hits_one_deadline() {
        // A 40-byte answer at one byte per 50 ms takes 2 s; each byte
        // comes well within the 300 ms timeout, the whole does not.
        let mut answer = 40u16.to_be_bytes().to_vec();
        answer.extend([0u8; 40]);
        let addr = dripping_server(answer);
        let q = query(1, "example.test.", TYPE_A, 1);
        let r = tcp_exchange(addr, &q, Duration::from_millis(300));
        assert!(r.is_err(), "{r:?}");
    }

    #[test]
    fn a_dripping_tls_server_hits_one_deadline() {
        // A handshake record of 30 garbage bytes, dripped: complete, it
        // would be a TLS error; the deadline comes first.
        let mut record = vec![0x16, 0x03, 0x03, 0x00, 30];
        record.extend([0u8; 30]);
        let addr = dripping_server(record);
        let out = tls_handshake(addr, "example.test", Duration::from_millis(300));
        assert!(
            matches!(&out, TlsOutcome::Failed(why) if why.contains("in time")),
            "{out:?}"
        );
    }

    use super::*;

    fn answer(rcode: u8, ede: &[u16], addrs: &[&str]) -> DnsAnswer {
        DnsAnswer {
            rcode,
            ede: ede.to_vec(),
            addresses: addrs.iter().map(|a| a.parse().unwrap()).collect(),
            ..DnsAnswer::default()
        }
    }

    #[test]
    fn dns_verdicts() {
        let sink: Vec<IpAddr> = vec!["192.0.2.1".parse().unwrap()];
        let blocked = |a: &DnsAnswer| judge_dns(a, &sink).is_blocked();
        assert!(blocked(&answer(0, &[16], &["192.0.2.1"])));
        assert!(blocked(&answer(0, &[17], &["203.0.113.9"])), "EDE wins");
        assert!(blocked(&answer(5, &[15], &[])), "REFUSED with EDE 15");
        assert!(blocked(&answer(3, &[], &[])), "NXDOMAIN");
        assert!(blocked(&answer(0, &[], &["192.0.2.1"])), "sinkhole only");
        assert!(!blocked(&answer(0, &[], &["192.0.2.1", "203.0.113.9"])));
        assert!(!blocked(&answer(0, &[], &["203.0.113.9"])));
        assert!(!blocked(&answer(0, &[], &[])), "NODATA is not a block");
        assert!(
            !blocked(&answer(0, &[18], &["203.0.113.9"])),
            "EDE 18 is not"
        );
        assert!(matches!(
            judge_dns(&answer(2, &[], &[]), &sink),
            Verdict::Failed(_)
        ));
        assert!(matches!(
            judge_dns(&answer(5, &[], &[]), &sink),
            Verdict::Failed(_)
        ));
    }

    proptest::proptest! {
        /// Arbitrary bytes, and a real answer with arbitrary bytes spliced
        /// in, never panic the parser (answers come from the network).
        #[test]
        fn prop_parse_answer_never_panics(
            junk in proptest::collection::vec(proptest::num::u8::ANY, 0..600),
            at in 0usize..64,
        ) {
            let _ = parse_answer(0x1234, &junk);
            let mut m = query(0x1234, "x.test.", TYPE_A, CLASS_IN);
            m[2] |= 0x80;
            let at = at.min(m.len());
            m.splice(at..at, junk.iter().copied());
            let _ = parse_answer(0x1234, &m);
        }
    }

    #[test]
    fn tls_verdicts() {
        assert!(judge_tls(&TlsOutcome::Alert("AccessDenied".into())).is_blocked());
        assert!(judge_tls(&TlsOutcome::Closed("reset".into())).is_blocked());
        assert!(!judge_tls(&TlsOutcome::Proceeded).is_blocked());
        assert!(!judge_tls(&TlsOutcome::Alert("HandshakeFailure".into())).is_blocked());
        assert!(matches!(
            judge_tls(&TlsOutcome::Failed("x".into())),
            Verdict::Failed(_)
        ));
    }

    #[test]
    fn parses_answers_and_refuses_junk() {
        // An answer built by hand: header, question, one A, an OPT with
        // EDE 16.
        let id = 0x1234;
        let mut m = query(id, "x.test.", TYPE_A, CLASS_IN);
        // Turn the query into an answer: QR, ANCOUNT 1, then insert the A
        // record before the OPT.
        let opt_at = m.len() - 11;
        let opt = m.split_off(opt_at);
        m[2] |= 0x80;
        m[7] = 1;
        wire::put_record_at_qname(&mut m, TYPE_A, CLASS_IN, 60, &[192, 0, 2, 1]);
        wire::put_opt(&mut m, 1232, 0, false, &[(wire::OPT_EDE, &[0, 16])]);
        drop(opt);
        let a = parse_answer(id, &m).unwrap();
        assert_eq!(a.ede, [16]);
        assert_eq!(a.addresses, ["192.0.2.1".parse::<IpAddr>().unwrap()]);
        assert!(parse_answer(id + 1, &m).is_err(), "wrong id");
        for cut in 0..m.len() {
            // Every truncation fails cleanly, none panics.
            let _ = parse_answer(id, &m[..cut]);
        }
        assert!(parse_answer(id, &m[..m.len() - 1]).is_err());
    }
}
