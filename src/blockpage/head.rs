//! Reading an HTTP/1.x request head from an untrusted client.
//!
//! [`parse_head`] is pure: bytes in, a [`RequestHead`] (or "need more")
//! out. The grammar is httparse's, so obs-fold and the other legacy forms
//! are exactly as strict as there. On top of it this module extracts the
//! one thing the block page and the HTTP Host filter decide on: the
//! requested host, from the absolute-form target first (RFC 9112 §3.2.2),
//! else the single `Host` header.
//!
//! [`read_head`] drives it over a socket under a byte limit and an overall
//! deadline (a slow client cannot hold a task past it). It parses only
//! when new bytes could have changed the answer: once on the first bytes
//! and once at the end of the first line (so garbage such as a TLS
//! ClientHello is rejected at once), then whenever a blank line appears.
//! Finding the blank line scans each byte once, so a head arriving one
//! byte per segment costs linear time, not quadratic.

use std::net::Ipv6Addr;
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt};
use tokio::time::Instant;

/// Default cap on the size of a request head.
pub const DEFAULT_MAX_BYTES: usize = 16 * 1024;
/// Default time a client gets to send its whole request head.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);

/// Header slots tried first; a head with more header lines is parsed again
/// with one slot per line.
const INLINE_HEADERS: usize = 64;
/// Most bytes asked of the socket per read.
const READ_CHUNK: usize = 4096;

/// Limits on reading one request head.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HeadLimits {
    /// Largest head accepted, including the blank line.
    pub max_bytes: usize,
    /// Time allowed for the whole head, from the start of [`read_head`].
    pub timeout: Duration,
}

impl Default for HeadLimits {
    fn default() -> Self {
        Self {
            max_bytes: DEFAULT_MAX_BYTES,
            timeout: DEFAULT_TIMEOUT,
        }
    }
}

/// The parts of a request head that ward uses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestHead {
    /// As sent (methods are case-sensitive).
    pub method: String,
    /// The request target as sent.
    pub target: String,
    /// The requested host: from an absolute-form (or CONNECT
    /// authority-form) target, else the `Host` header; lowercased, port
    /// removed, an IPv6 literal without its brackets. `None` when absent
    /// or empty.
    pub host: Option<String>,
    /// Every `Accept-Language` field line, joined with `, `.
    pub accept_language: Option<String>,
    /// Bytes of the head, including the blank line that ends it.
    pub len: usize,
}

/// Why no request head could be read.
#[derive(Debug, thiserror::Error)]
pub enum HeadError {
    #[error("request head larger than the limit")]
    TooLarge,
    /// Not a valid HTTP/1.x request head. The text describes the problem
    /// and never quotes the client's bytes.
    #[error("malformed request head: {0}")]
    Malformed(String),
    #[error("timed out waiting for the request head")]
    Timeout,
    #[error("reading the request head: {0}")]
    Io(#[from] std::io::Error),
    #[error("connection closed before a complete request head")]
    Closed,
}

fn malformed(what: &str) -> HeadError {
    HeadError::Malformed(what.to_owned())
}

/// Parses the request head at the start of `buf`. `Ok(None)`: the head is
/// not complete yet. Bytes after the head (a body, a pipelined request)
/// are ignored; [`RequestHead::len`] says where they start.
pub fn parse_head(buf: &[u8]) -> Result<Option<RequestHead>, HeadError> {
    let mut headers = [httparse::EMPTY_HEADER; INLINE_HEADERS];
    match parse_with(buf, &mut headers) {
        Err(Parse::TooManyHeaders) => {
            // Every header line ends in a LF, so this many slots suffice.
            let lines = buf.iter().filter(|&&b| b == b'\n').count() + 1;
            let mut headers = vec![httparse::EMPTY_HEADER; lines];
            parse_with(buf, &mut headers).map_err(Parse::into_error)
        }
        other => other.map_err(Parse::into_error),
    }
}

enum Parse {
    TooManyHeaders,
    Failed(HeadError),
}

impl Parse {
    fn into_error(self) -> HeadError {
        match self {
            Self::TooManyHeaders => malformed("too many header fields"),
            Self::Failed(e) => e,
        }
    }
}

fn parse_with<'b>(
    buf: &'b [u8],
    headers: &mut [httparse::Header<'b>],
) -> Result<Option<RequestHead>, Parse> {
    let mut req = httparse::Request::new(headers);
    let len = match req.parse(buf) {
        Ok(httparse::Status::Complete(len)) => len,
        Ok(httparse::Status::Partial) => return Ok(None),
        Err(httparse::Error::TooManyHeaders) => return Err(Parse::TooManyHeaders),
        Err(e) => return Err(Parse::Failed(HeadError::Malformed(e.to_string()))),
    };
    let (Some(method), Some(target)) = (req.method, req.path) else {
        // httparse fills both on Complete; stay total anyway.
        return Err(Parse::Failed(malformed("incomplete request line")));
    };
    let mut host_header = None;
    let mut accept_language: Option<String> = None;
    for h in req.headers.iter() {
        if h.name.eq_ignore_ascii_case("host") {
            if host_header.is_some() {
                return Err(Parse::Failed(malformed("more than one Host header")));
            }
            host_header = Some(h.value);
        } else if h.name.eq_ignore_ascii_case("accept-language") {
            let Ok(v) = std::str::from_utf8(h.value) else {
                continue;
            };
            let v = v.trim();
            if v.is_empty() {
                continue;
            }
            match &mut accept_language {
                Some(all) => {
                    all.push_str(", ");
                    all.push_str(v);
                }
                None => accept_language = Some(v.to_owned()),
            }
        }
    }
    // A Host header must be valid even where the target overrides it
    // (RFC 9112 §3.2).
    let from_header = match host_header {
        Some(v) => normalize_authority(v.trim_ascii())
            .ok_or_else(|| Parse::Failed(malformed("invalid Host header")))?,
        None => None,
    };
    let host = match target_authority(method, target).map_err(Parse::Failed)? {
        // Unlike a Host header, a target's authority cannot be empty.
        Some(authority) => match normalize_authority(authority.as_bytes()) {
            Some(Some(host)) => Some(host),
            _ => {
                return Err(Parse::Failed(malformed(
                    "invalid authority in the request target",
                )));
            }
        },
        None => from_header,
    };
    Ok(Some(RequestHead {
        method: method.to_owned(),
        target: target.to_owned(),
        host,
        accept_language,
        len,
    }))
}

/// The authority carried by the request target, if it has one: the
/// absolute form (`http://host:port/path`) or, for CONNECT, the authority
/// form (`host:port`). Origin form (`/path`) and asterisk form (`*`) carry
/// none.
fn target_authority<'t>(method: &str, target: &'t str) -> Result<Option<&'t str>, HeadError> {
    if method == "CONNECT" {
        return Ok(Some(target));
    }
    if target.starts_with('/') || target == "*" {
        return Ok(None);
    }
    let Some((scheme, rest)) = target.split_once("://") else {
        return Err(malformed(
            "request target is not in origin or absolute form",
        ));
    };
    let mut chars = scheme.bytes();
    let scheme_ok = chars.next().is_some_and(|b| b.is_ascii_alphabetic())
        && chars.all(|b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'-' | b'.'));
    if !scheme_ok {
        return Err(malformed("request target has an invalid scheme"));
    }
    let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    Ok(Some(&rest[..end]))
}

/// `host[:port]` → lowercased host. `Some(None)`: empty (allowed by RFC
/// 9112 for a Host header with no authority). `None`: invalid, including
/// userinfo, which RFC 9110 §4.2.4 says to treat as an error.
fn normalize_authority(text: &[u8]) -> Option<Option<String>> {
    let (host, port) = if let Some(rest) = text.strip_prefix(b"[") {
        let close = rest.iter().position(|&b| b == b']')?;
        let literal = std::str::from_utf8(&rest[..close]).ok()?;
        literal.parse::<Ipv6Addr>().ok()?;
        let after = &rest[close + 1..];
        let port = match after {
            [] => &[][..],
            [b':', port @ ..] => port,
            _ => return None,
        };
        (literal.as_bytes(), port)
    } else {
        match text.iter().position(|&b| b == b':') {
            Some(i) => (&text[..i], &text[i + 1..]),
            None => (text, &[][..]),
        }
    };
    if !port.iter().all(u8::is_ascii_digit) {
        return None;
    }
    if !text.starts_with(b"[") && !host.iter().copied().all(is_reg_name_byte) {
        return None;
    }
    if host.is_empty() {
        return if port.is_empty() { Some(None) } else { None };
    }
    // Only ASCII passed the checks above.
    let host = String::from_utf8_lossy(host).to_ascii_lowercase();
    Some(Some(host))
}

/// RFC 3986 reg-name: unreserved, pct-encoded, sub-delims.
fn is_reg_name_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric()
        || matches!(
            b,
            b'-' | b'.'
                | b'_'
                | b'~'
                | b'%'
                | b'!'
                | b'$'
                | b'&'
                | b'\''
                | b'('
                | b')'
                | b'*'
                | b'+'
                | b','
                | b';'
                | b'='
        )
}

/// Where [`read_head`] is in the buffer, so that each byte is scanned once.
#[derive(Debug, Default)]
struct Scan {
    /// Bytes before this index have been checked for a blank line's end.
    scanned: usize,
    /// Parsed at least once (on the first bytes).
    tried: bool,
    /// The first LF has been seen (and parsed at).
    first_line: bool,
}

impl Scan {
    /// True when the bytes added since the last call could have changed
    /// the parse result.
    fn worth_parsing(&mut self, buf: &[u8]) -> bool {
        let mut worth = false;
        if !self.tried && !buf.is_empty() {
            self.tried = true;
            worth = true;
        }
        while self.scanned < buf.len() {
            let i = self.scanned;
            self.scanned += 1;
            if buf[i] != b'\n' {
                continue;
            }
            if !self.first_line {
                self.first_line = true;
                worth = true;
            }
            // A blank line ends here: "\n\n" or "\n\r\n".
            let blank = match i {
                0 => false,
                1 => buf[0] == b'\n',
                _ => buf[i - 1] == b'\n' || (buf[i - 1] == b'\r' && buf[i - 2] == b'\n'),
            };
            if blank {
                // Stop here: if this blank line does not complete the head
                // (blank lines before the request line), the scan resumes
                // after it on the next call.
                return true;
            }
        }
        worth
    }
}

/// Reads one request head from `stream` within `limits`.
///
/// Everything read is appended to `buf` (the caller may replay it, e.g.
/// to an origin server); bytes already in `buf` are taken as the start of
/// the head. At most `limits.max_bytes` bytes are held in `buf`.
pub async fn read_head<S: AsyncRead + Unpin>(
    stream: &mut S,
    buf: &mut Vec<u8>,
    limits: &HeadLimits,
) -> Result<RequestHead, HeadError> {
    let deadline = Instant::now() + limits.timeout;
    let mut scan = Scan::default();
    loop {
        while scan.worth_parsing(buf) {
            if let Some(head) = parse_head(buf)? {
                if head.len > limits.max_bytes {
                    return Err(HeadError::TooLarge);
                }
                return Ok(head);
            }
        }
        if buf.len() >= limits.max_bytes {
            return Err(HeadError::TooLarge);
        }
        let want = (limits.max_bytes - buf.len()).min(READ_CHUNK);
        buf.reserve(want);
        let mut limited = (&mut *stream).take(want as u64);
        let n = match tokio::time::timeout_at(deadline, limited.read_buf(buf)).await {
            Err(_) => return Err(HeadError::Timeout),
            Ok(result) => result?,
        };
        if n == 0 {
            return Err(HeadError::Closed);
        }
    }
}

#[cfg(test)]
mod tests {
    use tokio::io::AsyncWriteExt;

    use super::*;

    fn parse(text: &str) -> Result<Option<RequestHead>, HeadError> {
        parse_head(text.as_bytes())
    }

    fn host(text: &str) -> Option<String> {
        parse(text).unwrap().unwrap().host
    }

    fn is_malformed(text: &str) -> bool {
        matches!(parse(text), Err(HeadError::Malformed(_)))
    }

    #[test]
    fn host_header_is_lowercased_and_port_stripped() {
        let head = parse("GET /x?y HTTP/1.1\r\nHost: Blocked.Example.TEST:8080\r\n\r\nbody")
            .unwrap()
            .unwrap();
        assert_eq!(head.method, "GET");
        assert_eq!(head.target, "/x?y");
        assert_eq!(head.host.as_deref(), Some("blocked.example.test"));
        assert_eq!(
            head.len,
            "GET /x?y HTTP/1.1\r\nHost: Blocked.Example.TEST:8080\r\n\r\n".len()
        );
        assert_eq!(head.accept_language, None);
    }

    #[test]
    fn absolute_target_overrides_host_header() {
        assert_eq!(
            host("GET http://Real.Example:81/p HTTP/1.1\r\nHost: other.example\r\n\r\n").as_deref(),
            Some("real.example")
        );
        assert_eq!(
            host("GET https://real.example?q HTTP/1.1\r\nHost: other.example\r\n\r\n").as_deref(),
            Some("real.example")
        );
        // The absolute form also counts without any Host header.
        assert_eq!(
            host("GET http://real.example/ HTTP/1.0\r\n\r\n").as_deref(),
            Some("real.example")
        );
        assert_eq!(
            host("CONNECT tunnel.example:443 HTTP/1.1\r\nHost: tunnel.example:443\r\n\r\n")
                .as_deref(),
            Some("tunnel.example")
        );
    }

    #[test]
    fn ipv6_literals_lose_their_brackets() {
        assert_eq!(
            host("GET / HTTP/1.1\r\nHost: [2001:DB8::1]:8080\r\n\r\n").as_deref(),
            Some("2001:db8::1")
        );
        assert_eq!(
            host("GET http://[::1]/ HTTP/1.1\r\n\r\n").as_deref(),
            Some("::1")
        );
        assert!(is_malformed("GET / HTTP/1.1\r\nHost: [not-v6]\r\n\r\n"));
        assert!(is_malformed("GET / HTTP/1.1\r\nHost: [::1]x\r\n\r\n"));
        assert!(is_malformed("GET / HTTP/1.1\r\nHost: 2001:db8::1\r\n\r\n"));
    }

    #[test]
    fn missing_or_empty_host_is_none() {
        assert_eq!(host("GET / HTTP/1.0\r\n\r\n"), None);
        assert_eq!(host("GET / HTTP/1.1\r\nHost:\r\n\r\n"), None);
        assert_eq!(host("OPTIONS * HTTP/1.1\r\nHost: \r\n\r\n"), None);
    }

    #[test]
    fn invalid_hosts_and_targets_are_malformed() {
        for text in [
            "GET / HTTP/1.1\r\nHost: a.example\r\nhost: b.example\r\n\r\n",
            "GET http://x.example/ HTTP/1.1\r\nHost: a\r\nHOST: a\r\n\r\n",
            "GET / HTTP/1.1\r\nHost: a.example:80x\r\n\r\n",
            "GET / HTTP/1.1\r\nHost: <script>\r\n\r\n",
            "GET / HTTP/1.1\r\nHost: a b\r\n\r\n",
            "GET / HTTP/1.1\r\nHost: :80\r\n\r\n",
            "GET http://user@a.example/ HTTP/1.1\r\n\r\n",
            "GET http:///path HTTP/1.1\r\nHost: a.example\r\n\r\n",
            "GET 1http://a.example/ HTTP/1.1\r\n\r\n",
            "GET relative/path HTTP/1.1\r\nHost: a.example\r\n\r\n",
            "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n",
            "\u{16}\u{3}\u{1}\u{0}",
            "GET / HTTP/1.1\r\nHost: a.example\r\n folded\r\n\r\n",
        ] {
            assert!(is_malformed(text), "{text:?}");
        }
    }

    #[test]
    fn empty_authority_in_absolute_target_is_malformed() {
        assert!(is_malformed("GET http:///x HTTP/1.1\r\n\r\n"));
    }

    #[test]
    fn partial_heads_need_more() {
        for text in [
            "",
            "GE",
            "GET / HTTP/1.1\r\n",
            "GET / HTTP/1.1\r\nHost: a\r\n\r",
        ] {
            assert!(parse(text).unwrap().is_none(), "{text:?}");
        }
    }

    #[test]
    fn accept_language_lines_are_joined() {
        let head = parse(
            "GET / HTTP/1.1\r\nAccept-Language: en-US\r\nHost: a\r\naccept-language: vi;q=0.5\r\n\r\n",
        )
        .unwrap()
        .unwrap();
        assert_eq!(head.accept_language.as_deref(), Some("en-US, vi;q=0.5"));
    }

    #[test]
    fn many_headers_are_accepted() {
        let mut text = String::from("GET / HTTP/1.1\r\n");
        for i in 0..500 {
            text.push_str(&format!("X-{i}: v\r\n"));
        }
        text.push_str("Host: many.example\r\n\r\n");
        assert_eq!(host(&text).as_deref(), Some("many.example"));
    }

    #[test]
    fn bare_lf_line_ends_are_accepted_like_httparse() {
        assert_eq!(
            host("GET / HTTP/1.1\nHost: lf.example\n\n").as_deref(),
            Some("lf.example")
        );
    }

    #[test]
    fn scan_parses_only_at_line_ends() {
        let text = b"GET / HTTP/1.1\r\nHost: a\r\nX: y\r\n\r\n";
        let mut scan = Scan::default();
        let mut parses = 0;
        for n in 1..=text.len() {
            while scan.worth_parsing(&text[..n]) {
                parses += 1;
                if parse_head(&text[..n]).unwrap().is_some() {
                    break;
                }
            }
        }
        // First byte, first line end, the blank line.
        assert_eq!(parses, 3);
    }

    #[test]
    fn leading_blank_lines_are_skipped() {
        let text = b"\r\n\r\nGET / HTTP/1.1\r\nHost: a.example\r\n\r\n";
        let mut scan = Scan::default();
        let mut found = None;
        for n in 1..=text.len() {
            while scan.worth_parsing(&text[..n]) {
                if let Some(h) = parse_head(&text[..n]).unwrap() {
                    found = Some((n, h));
                    break;
                }
            }
            if found.is_some() {
                break;
            }
        }
        let (n, head) = found.unwrap();
        assert_eq!(n, text.len());
        assert_eq!(head.host.as_deref(), Some("a.example"));
    }

    fn limits(max_bytes: usize, timeout: Duration) -> HeadLimits {
        HeadLimits { max_bytes, timeout }
    }

    #[tokio::test]
    async fn read_head_one_byte_at_a_time() {
        let text = b"GET / HTTP/1.1\r\nHost: slow.example\r\nAccept-Language: en\r\n\r\nrest";
        let (mut client, mut server) = tokio::io::duplex(1);
        let writer = tokio::spawn(async move {
            for b in text {
                // The reader stops after the head: the tail may not fit.
                if client.write_all(&[*b]).await.is_err() {
                    break;
                }
            }
        });
        let mut buf = Vec::new();
        let head = read_head(&mut server, &mut buf, &HeadLimits::default())
            .await
            .unwrap();
        assert_eq!(head.host.as_deref(), Some("slow.example"));
        assert_eq!(head.accept_language.as_deref(), Some("en"));
        assert!(text.starts_with(&buf));
        assert_eq!(&buf[..head.len], &text[..text.len() - 4]);
        drop(server);
        writer.await.unwrap();
    }

    #[tokio::test]
    async fn read_head_over_loopback_in_small_segments() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let client = tokio::spawn(async move {
            let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
            s.set_nodelay(true).unwrap();
            for chunk in b"GET http://Seg.Example/ HTTP/1.1\r\nHost: x\r\n\r\n".chunks(3) {
                s.write_all(chunk).await.unwrap();
                tokio::time::sleep(Duration::from_millis(1)).await;
            }
            s
        });
        let (mut stream, _) = listener.accept().await.unwrap();
        let mut buf = Vec::new();
        let head = read_head(&mut stream, &mut buf, &HeadLimits::default())
            .await
            .unwrap();
        assert_eq!(head.host.as_deref(), Some("seg.example"));
        drop(client.await.unwrap());
    }

    #[tokio::test]
    async fn read_head_replays_bytes_already_in_buf() {
        let (mut client, mut server) = tokio::io::duplex(64);
        client
            .write_all(b"Host: pre.example\r\n\r\n")
            .await
            .unwrap();
        let mut buf = b"GET / HTTP/1.1\r\n".to_vec();
        let head = read_head(&mut server, &mut buf, &HeadLimits::default())
            .await
            .unwrap();
        assert_eq!(head.host.as_deref(), Some("pre.example"));
    }

    #[tokio::test]
    async fn read_head_rejects_garbage_without_waiting() {
        let (mut client, mut server) = tokio::io::duplex(64);
        // A TLS ClientHello's first bytes: no line end ever comes.
        client
            .write_all(&[0x16, 0x03, 0x01, 0x02, 0x00])
            .await
            .unwrap();
        let mut buf = Vec::new();
        let r = read_head(
            &mut server,
            &mut buf,
            &limits(1024, Duration::from_secs(60)),
        )
        .await;
        assert!(matches!(r, Err(HeadError::Malformed(_))), "{r:?}");
    }

    #[tokio::test]
    async fn read_head_too_large() {
        let (mut client, mut server) = tokio::io::duplex(1 << 16);
        let mut text = b"GET / HTTP/1.1\r\nHost: big.example\r\n".to_vec();
        text.extend(b"X-Filler: ".iter().chain(&[b'a'; 2000]));
        text.extend(b"\r\n\r\n");
        client.write_all(&text).await.unwrap();
        let mut buf = Vec::new();
        let r = read_head(&mut server, &mut buf, &limits(1024, Duration::from_secs(5))).await;
        assert!(matches!(r, Err(HeadError::TooLarge)), "{r:?}");
        assert!(buf.len() <= 1024);
        // A complete head just over the limit in one read is refused too.
        let (mut client, mut server) = tokio::io::duplex(1 << 16);
        client.write_all(&text).await.unwrap();
        let mut buf = Vec::new();
        let r = read_head(
            &mut server,
            &mut buf,
            &limits(text.len() - 1, Duration::from_secs(5)),
        )
        .await;
        assert!(matches!(r, Err(HeadError::TooLarge)), "{r:?}");
        // And one exactly at the limit is accepted.
        let (mut client, mut server) = tokio::io::duplex(1 << 16);
        client.write_all(&text).await.unwrap();
        let mut buf = Vec::new();
        let head = read_head(
            &mut server,
            &mut buf,
            &limits(text.len(), Duration::from_secs(5)),
        )
        .await
        .unwrap();
        assert_eq!(head.len, text.len());
    }

    #[tokio::test]
    async fn read_head_times_out_on_a_slow_client() {
        let (mut client, mut server) = tokio::io::duplex(64);
        // Keeps trickling bytes (each read succeeds) but never finishes:
        // the deadline covers the whole head, not each read.
        let writer = tokio::spawn(async move {
            client.write_all(b"GET / HTTP/1.1\r\n").await.unwrap();
            loop {
                if client.write_all(b"X").await.is_err() {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        });
        let mut buf = Vec::new();
        let started = std::time::Instant::now();
        let r = read_head(
            &mut server,
            &mut buf,
            &limits(1 << 20, Duration::from_millis(300)),
        )
        .await;
        assert!(matches!(r, Err(HeadError::Timeout)), "{r:?}");
        assert!(started.elapsed() < Duration::from_secs(5));
        assert!(buf.len() > 20, "the client kept sending");
        drop(server);
        writer.await.unwrap();
    }

    #[tokio::test]
    async fn read_head_reports_early_close() {
        let (mut client, mut server) = tokio::io::duplex(64);
        client.write_all(b"GET / HTTP/1.1\r\nHo").await.unwrap();
        drop(client);
        let mut buf = Vec::new();
        let r = read_head(&mut server, &mut buf, &HeadLimits::default()).await;
        assert!(matches!(r, Err(HeadError::Closed)), "{r:?}");
    }
}
