//! TLS ClientHello reader: reassembles records and handshake fragments
//! and extracts the server names and ALPN. Pure: no I/O.
//!
//! # Design
//!
//! The SNI proxy feeds [`HelloReader::feed`] every byte it reads from the
//! client, in order and in whatever chunks the socket delivers (one byte
//! at a time is legal). The proxy keeps its own copy of those bytes to
//! replay upstream; the reader keeps only the reassembled handshake
//! message.
//!
//! * **Incremental.** The record layer is a byte-level state machine: each
//!   record header byte is checked as it arrives, and record bodies are
//!   appended to the reassembly buffer in one copy. The ClientHello itself
//!   is parsed exactly once, when its last byte arrives. Total work is
//!   linear in the bytes fed, however they are chunked, so a client
//!   trickling a 128 KiB hello one byte per segment costs 128 Ki small
//!   steps, not a reparse per segment.
//! * **Split-invariant.** Every verdict is taken at a fixed byte of the
//!   stream, never at a chunk boundary, so any partition of the same
//!   bytes into `feed` calls gives the same [`Progress`]. The tests and the
//!   `tls_hello` fuzz target check this.
//! * **Reassembly across records.** A ClientHello may be cut into many
//!   handshake records, down to one byte each: a known DPI evasion, and
//!   legal (RFC 8446 §5.1). nginx `ssl_preread` reassembles too; so do we.
//! * **Caps.** `max` bounds the bytes fed (record headers included) before
//!   the hello is complete: the byte after `max` fails with
//!   [`HelloError::TooLarge`]. As soon as the handshake header is in, a
//!   declared length that cannot fit in `max` even with the fewest
//!   possible record headers fails the same way, without waiting for the
//!   bytes. Memory is therefore bounded by `max`.
//! * **Record length.** RFC 8446 §5.1 caps a plaintext record at 2^14
//!   bytes, and some stacks send exactly 2^14. We accept up to
//!   2^14 + 2048 ([`MAX_RECORD_LEN`]), the largest record any TLS version
//!   has allowed on the wire (RFC 5246 §6.2.3). We are a filter, not an
//!   endpoint: being stricter than needed would only turn an odd client's
//!   hello into a failure the policy must then handle, and `max` bounds
//!   the total anyway. Anything longer is not TLS of any version.
//! * **First bytes.** The first byte must be 22 (handshake record) and the
//!   record version 3.0 to 3.4 (nginx checks only the major version), else
//!   [`HelloError::NotTls`] on that byte, so an HTTP request or any other
//!   protocol is recognised on the first `feed`. An SSLv2-compatible hello
//!   is NotTls too: it cannot carry extensions, so it has no SNI.
//! * **Later records.** A record of another type (alert, change_cipher_spec,
//!   application data) or version arriving before the hello is complete is
//!   [`HelloError::Malformed`]: the stream did start as TLS, but no client
//!   interleaves records inside its first flight. A zero-length handshake
//!   record is Malformed too (RFC 8446 §5.1: "MUST NOT send zero-length
//!   fragments of Handshake types"); nginx tolerates it.
//! * **Strict message, lenient surroundings.** Inside the ClientHello every
//!   length must match exactly: no overruns, no trailing bytes after the
//!   extensions. Bytes after the message (the client pipelining early data,
//!   or a second handshake message in the same record) are not looked at.
//! * **Duplicate extensions are Malformed** (RFC 8446 §4.2: "There MUST NOT
//!   be more than one extension of the same type"). nginx reads the first
//!   server_name extension and skips any later one; a second extension
//!   could then carry the name the server actually uses, so we refuse the
//!   ambiguity rather than pick one. OpenSSL and rustls refuse such a
//!   hello as well.
//! * **Every host_name.** RFC 6066 allows one host_name, but servers differ
//!   in which one they would use, so all of them are returned and the
//!   caller matches each. Entries of unknown name types are skipped by
//!   their length (nginx refuses them; OpenSSL too). Names are raw bytes:
//!   case folding and IDN handling are the caller's job.
//! * **ECH.** An encrypted_client_hello extension only sets
//!   [`ClientHello::ech_present`]; the names are then the outer ones.
//!
//! Untrusted bytes are read through a bounds-checked cursor; this module
//! denies indexing, `unwrap` and `expect` outside its tests.

#![deny(clippy::indexing_slicing, clippy::unwrap_used, clippy::expect_used)]

/// TLS content type of a handshake record.
const CONTENT_HANDSHAKE: u8 = 22;
/// Handshake message type of a ClientHello.
const HANDSHAKE_CLIENT_HELLO: u8 = 1;
/// Content type (1), legacy record version (2), length (2).
const RECORD_HEADER_LEN: usize = 5;
/// Message type (1), 24-bit length (3).
const HANDSHAKE_HEADER_LEN: usize = 4;
/// RFC 8446 §5.1 limit on a plaintext record.
pub const MAX_PLAINTEXT_RECORD_LEN: usize = 1 << 14;
/// Longest record accepted: 2^14 + 2048, the TLS 1.2 ciphertext limit and
/// the largest any version allows (see the module documentation).
pub const MAX_RECORD_LEN: usize = MAX_PLAINTEXT_RECORD_LEN + 2048;
/// Longest legacy_session_id (RFC 8446 §4.1.2).
const MAX_SESSION_ID_LEN: usize = 32;

const EXT_SERVER_NAME: u16 = 0;
const EXT_ALPN: u16 = 16;
const EXT_ENCRYPTED_CLIENT_HELLO: u16 = 0xfe0d;
const NAME_TYPE_HOST_NAME: u8 = 0;

/// What the reader learned from a complete ClientHello.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ClientHello {
    /// Every `host_name` entry of the server_name extension, raw bytes as
    /// sent (not normalised, not validated), in order. Empty when the
    /// extension is absent.
    pub server_names: Vec<Vec<u8>>,
    /// ALPN protocol names, as sent.
    pub alpn: Vec<Vec<u8>>,
    /// An encrypted_client_hello extension (0xfe0d) is present: the names
    /// above are the outer (public) ones.
    pub ech_present: bool,
}

/// Why the bytes are not a ClientHello ward can read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HelloError {
    /// The first bytes are not a TLS handshake record.
    #[error("not TLS: {0}")]
    NotTls(&'static str),
    /// More than the configured cap arrived, or was announced, before the
    /// hello was complete.
    #[error("ClientHello larger than {max} bytes")]
    TooLarge { max: usize },
    /// A length or field is inconsistent. For record-layer faults `offset`
    /// counts bytes of the TCP stream; for faults inside the handshake
    /// message it counts bytes of the reassembled message, whose type byte
    /// is offset 0 (the record headers are not part of it).
    #[error("malformed ClientHello at byte {offset}: {what}")]
    Malformed { offset: usize, what: &'static str },
}

/// Result of feeding bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Progress {
    /// The hello is not complete yet: feed more.
    NeedMore,
    /// The hello is complete and well-formed.
    Done(ClientHello),
    /// The stream is not a readable ClientHello.
    Failed(HelloError),
}

impl From<Result<ClientHello, HelloError>> for Progress {
    fn from(outcome: Result<ClientHello, HelloError>) -> Self {
        match outcome {
            Ok(hello) => Self::Done(hello),
            Err(error) => Self::Failed(error),
        }
    }
}

/// Reads a whole stream prefix at once: `HelloReader::new(max).feed(bytes)`.
pub fn parse(bytes: &[u8], max: usize) -> Progress {
    HelloReader::new(max).feed(bytes)
}

/// Incremental reader. Feed it every byte received, in order.
///
/// Once `feed` has returned [`Progress::Done`] or [`Progress::Failed`],
/// later calls return the same outcome and ignore their bytes.
#[derive(Debug)]
pub struct HelloReader {
    max: usize,
    /// Stream bytes consumed so far, record headers included. Never above
    /// `max`; bytes after the end of the hello are not consumed.
    consumed: usize,
    record: Record,
    /// The reassembled handshake message, header included; never longer
    /// than the message.
    message: Vec<u8>,
    /// The message's declared body length, once its header is in.
    body_len: Option<usize>,
    outcome: Option<Result<ClientHello, HelloError>>,
}

/// Where the record layer is.
#[derive(Debug, Clone, Copy)]
enum Record {
    /// `got` bytes of a record header are in; `len` holds the length bytes
    /// read so far.
    Header { got: usize, len: usize },
    /// Inside a record body, `left` bytes to go (never 0).
    Body { left: usize },
}

impl Record {
    const START: Self = Self::Header { got: 0, len: 0 };
}

impl HelloReader {
    /// A reader that gives up with [`HelloError::TooLarge`] once more than
    /// `max` bytes are needed for the hello.
    pub fn new(max: usize) -> Self {
        Self {
            max,
            consumed: 0,
            record: Record::START,
            message: Vec::new(),
            body_len: None,
            outcome: None,
        }
    }

    /// Takes the next bytes of the stream.
    pub fn feed(&mut self, bytes: &[u8]) -> Progress {
        if self.outcome.is_none() {
            match self.advance(bytes) {
                Ok(None) => return Progress::NeedMore,
                Ok(Some(hello)) => self.outcome = Some(Ok(hello)),
                Err(error) => self.outcome = Some(Err(error)),
            }
            // The message is read; free it.
            self.message = Vec::new();
        }
        self.outcome
            .clone()
            .map_or(Progress::NeedMore, Progress::from)
    }

    /// Consumes `bytes` until they run out (`Ok(None)`) or the hello is
    /// complete or failed.
    fn advance(&mut self, mut bytes: &[u8]) -> Result<Option<ClientHello>, HelloError> {
        while let Some((&byte, rest)) = bytes.split_first() {
            if self.consumed >= self.max {
                return Err(HelloError::TooLarge { max: self.max });
            }
            match self.record {
                Record::Header { got, len } => {
                    self.record = self.header_byte(got, len, byte)?;
                    self.consumed += 1;
                    bytes = rest;
                }
                Record::Body { left } => {
                    // Stop at the end of the record, of the handshake
                    // header (so it is checked at its own byte), of the
                    // message, and of the cap.
                    let take = left
                        .min(self.message_wants())
                        .min(self.max - self.consumed)
                        .min(bytes.len());
                    // Each term is positive (a body is never empty, the
                    // message is incomplete, the cap and the bytes are
                    // checked above), so the loop always progresses.
                    debug_assert!(take > 0, "record body step without progress");
                    let Some((chunk, rest)) = bytes.split_at_checked(take) else {
                        // Unreachable: take <= bytes.len().
                        return Ok(None);
                    };
                    self.message.extend_from_slice(chunk);
                    self.consumed += take;
                    bytes = rest;
                    self.record = match left - take {
                        0 => Record::START,
                        left => Record::Body { left },
                    };
                    if let Some(hello) = self.check_message()? {
                        return Ok(Some(hello));
                    }
                }
            }
        }
        Ok(None)
    }

    /// Checks byte `got` of a record header, which sits at stream offset
    /// `self.consumed`.
    fn header_byte(&self, got: usize, len: usize, byte: u8) -> Result<Record, HelloError> {
        let offset = self.consumed;
        // Only the very first record decides whether this is TLS at all.
        let first = offset < RECORD_HEADER_LEN;
        let fail = |not_tls: &'static str, malformed: &'static str| {
            if first {
                HelloError::NotTls(not_tls)
            } else {
                HelloError::Malformed {
                    offset,
                    what: malformed,
                }
            }
        };
        match got {
            0 if byte != CONTENT_HANDSHAKE => Err(fail(
                "first byte is not a TLS handshake record (22)",
                "non-handshake record before the ClientHello was complete",
            )),
            1 if byte != 3 => Err(fail(
                "record major version is not 3",
                "record major version is not 3",
            )),
            2 if byte > 4 => Err(fail(
                "record version above 3.4 (TLS 1.3)",
                "record version above 3.4 (TLS 1.3)",
            )),
            3 => Ok(Record::Header {
                got: 4,
                len: usize::from(byte) << 8,
            }),
            4 => {
                let len = len | usize::from(byte);
                let offset = offset - 1;
                if len == 0 {
                    Err(HelloError::Malformed {
                        offset,
                        what: "zero-length handshake record",
                    })
                } else if len > MAX_RECORD_LEN {
                    Err(HelloError::Malformed {
                        offset,
                        what: "record longer than 2^14 + 2048 bytes",
                    })
                } else {
                    Ok(Record::Body { left: len })
                }
            }
            _ => Ok(Record::Header { got: got + 1, len }),
        }
    }

    /// How many more message bytes to take before the next check: the
    /// rest of the handshake header, then the rest of the message. Never 0
    /// while the message is incomplete: `check_message` sets `body_len` as
    /// soon as the header is in.
    fn message_wants(&self) -> usize {
        let have = self.message.len();
        match self.body_len {
            None => HANDSHAKE_HEADER_LEN.saturating_sub(have),
            Some(body_len) => (HANDSHAKE_HEADER_LEN + body_len).saturating_sub(have),
        }
    }

    /// After message bytes arrived: checks the handshake header once it is
    /// in, and parses the message once it is complete.
    fn check_message(&mut self) -> Result<Option<ClientHello>, HelloError> {
        let body_len = match self.body_len {
            Some(body_len) => body_len,
            None => {
                if self
                    .message
                    .first()
                    .is_some_and(|&t| t != HANDSHAKE_CLIENT_HELLO)
                {
                    return Err(HelloError::Malformed {
                        offset: 0,
                        what: "first handshake message is not a ClientHello",
                    });
                }
                let Some(&[_, a, b, c]) = self.message.first_chunk::<HANDSHAKE_HEADER_LEN>() else {
                    return Ok(None);
                };
                let body_len = usize::from(a) << 16 | usize::from(b) << 8 | usize::from(c);
                if self.fewest_bytes_to_complete(body_len) > self.max {
                    return Err(HelloError::TooLarge { max: self.max });
                }
                self.body_len = Some(body_len);
                self.message.reserve_exact(body_len);
                body_len
            }
        };
        if self.message.len() < HANDSHAKE_HEADER_LEN + body_len {
            return Ok(None);
        }
        parse_message(&self.message).map(Some)
    }

    /// Stream bytes the hello needs in all, given its body length: what is
    /// consumed, the rest of the current record, then full-size records.
    fn fewest_bytes_to_complete(&self, body_len: usize) -> usize {
        let missing = (HANDSHAKE_HEADER_LEN + body_len).saturating_sub(self.message.len());
        let in_record = match self.record {
            Record::Body { left } => left.min(missing),
            Record::Header { .. } => 0,
        };
        let beyond = missing - in_record;
        self.consumed
            .saturating_add(missing)
            .saturating_add(beyond.div_ceil(MAX_RECORD_LEN) * RECORD_HEADER_LEN)
    }
}

/// Parses a complete handshake message (header included) as a ClientHello
/// (RFC 8446 §4.1.2, RFC 5246 §7.4.1.2).
fn parse_message(message: &[u8]) -> Result<ClientHello, HelloError> {
    let mut c = Cursor::new(message);
    c.skip(HANDSHAKE_HEADER_LEN, "handshake header truncated")?;
    c.skip(2, "legacy_version truncated")?;
    c.skip(32, "random truncated")?;
    let session_id = c.prefixed_u8("session_id overruns the message")?;
    if session_id.len() > MAX_SESSION_ID_LEN {
        return Err(session_id.err_at_len("session_id longer than 32 bytes"));
    }
    let suites = c.prefixed_u16("cipher_suites overrun the message")?;
    if suites.len() < 2 || suites.len() % 2 != 0 {
        return Err(suites.err_at_len("cipher_suites length is not a positive even number"));
    }
    let compression = c.prefixed_u8("compression_methods overrun the message")?;
    if compression.is_empty() {
        return Err(compression.err_at_len("no compression_methods"));
    }
    let mut hello = ClientHello::default();
    if c.is_empty() {
        // No extensions at all (SSLv3-era clients): no names.
        return Ok(hello);
    }
    let mut extensions = c.prefixed_u16("extensions overrun the message")?;
    c.expect_end("trailing bytes after the extensions")?;
    let mut seen = SeenTypes::default();
    while !extensions.is_empty() {
        let at = extensions.offset();
        let ext_type = extensions.u16("extension header truncated")?;
        let body = extensions.prefixed_u16("extension overruns the extensions block")?;
        if !seen.insert(ext_type) {
            return Err(HelloError::Malformed {
                offset: at,
                what: "duplicate extension type",
            });
        }
        match ext_type {
            EXT_SERVER_NAME => read_server_names(body, &mut hello.server_names)?,
            EXT_ALPN => read_alpn(body, &mut hello.alpn)?,
            EXT_ENCRYPTED_CLIENT_HELLO => hello.ech_present = true,
            _ => {}
        }
    }
    Ok(hello)
}

/// server_name extension body (RFC 6066 §3).
fn read_server_names(mut body: Cursor<'_>, names: &mut Vec<Vec<u8>>) -> Result<(), HelloError> {
    let mut list = body.prefixed_u16("server_name list overruns the extension")?;
    body.expect_end("trailing bytes after the server_name list")?;
    if list.is_empty() {
        return Err(list.err_at_len("empty server_name list"));
    }
    while !list.is_empty() {
        let name_type = list.u8("server_name entry truncated")?;
        let name = list.prefixed_u16("server name overruns the server_name list")?;
        if name_type == NAME_TYPE_HOST_NAME {
            if name.is_empty() {
                return Err(name.err_at_len("empty host_name"));
            }
            names.push(name.rest().to_vec());
        }
    }
    Ok(())
}

/// application_layer_protocol_negotiation extension body (RFC 7301 §3.1).
fn read_alpn(mut body: Cursor<'_>, protocols: &mut Vec<Vec<u8>>) -> Result<(), HelloError> {
    let mut list = body.prefixed_u16("ALPN list overruns the extension")?;
    body.expect_end("trailing bytes after the ALPN list")?;
    if list.is_empty() {
        return Err(list.err_at_len("empty ALPN list"));
    }
    while !list.is_empty() {
        let protocol = list.prefixed_u8("ALPN protocol name overruns the ALPN list")?;
        if protocol.is_empty() {
            return Err(protocol.err_at_len("empty ALPN protocol name"));
        }
        protocols.push(protocol.rest().to_vec());
    }
    Ok(())
}

/// Extension types seen so far: one bit per type.
#[derive(Debug)]
struct SeenTypes([u64; 1024]);

impl Default for SeenTypes {
    fn default() -> Self {
        Self([0; 1024])
    }
}

impl SeenTypes {
    /// Records `ext_type`; false if it was already there.
    fn insert(&mut self, ext_type: u16) -> bool {
        let bit = 1u64 << (ext_type % 64);
        match self.0.get_mut(usize::from(ext_type / 64)) {
            Some(word) if *word & bit == 0 => {
                *word |= bit;
                true
            }
            // `None` is unreachable: 65536 / 64 words.
            _ => false,
        }
    }
}

/// Bounds-checked reader over part of the handshake message. Offsets in
/// errors are relative to the whole message.
#[derive(Debug)]
struct Cursor<'a> {
    bytes: &'a [u8],
    pos: usize,
    /// Offset of `bytes` in the message.
    base: usize,
    /// Offset of the length prefix that delimited `bytes`, if any.
    len_at: usize,
}

impl<'a> Cursor<'a> {
    fn new(bytes: &'a [u8]) -> Self {
        Self {
            bytes,
            pos: 0,
            base: 0,
            len_at: 0,
        }
    }

    /// Offset of the next byte in the message.
    fn offset(&self) -> usize {
        self.base + self.pos
    }

    fn rest(&self) -> &'a [u8] {
        self.bytes.get(self.pos..).unwrap_or_default()
    }

    fn len(&self) -> usize {
        self.rest().len()
    }

    fn is_empty(&self) -> bool {
        self.rest().is_empty()
    }

    /// An error blamed on the length prefix that delimited this cursor.
    fn err_at_len(&self, what: &'static str) -> HelloError {
        HelloError::Malformed {
            offset: self.len_at,
            what,
        }
    }

    fn skip(&mut self, n: usize, what: &'static str) -> Result<(), HelloError> {
        if self.len() < n {
            return Err(HelloError::Malformed {
                offset: self.offset(),
                what,
            });
        }
        self.pos += n;
        Ok(())
    }

    fn array<const N: usize>(&mut self, what: &'static str) -> Result<[u8; N], HelloError> {
        let Some(&bytes) = self.rest().first_chunk::<N>() else {
            return Err(HelloError::Malformed {
                offset: self.offset(),
                what,
            });
        };
        self.pos += N;
        Ok(bytes)
    }

    fn u8(&mut self, what: &'static str) -> Result<u8, HelloError> {
        self.array(what).map(|[b]| b)
    }

    fn u16(&mut self, what: &'static str) -> Result<u16, HelloError> {
        self.array(what).map(u16::from_be_bytes)
    }

    /// A sub-cursor over `len` bytes, where `len` is the value just read
    /// at `len_at`.
    fn sub(&mut self, len_at: usize, len: usize, what: &'static str) -> Result<Self, HelloError> {
        let base = self.offset();
        let Some(bytes) = self.rest().get(..len) else {
            return Err(HelloError::Malformed {
                offset: len_at,
                what,
            });
        };
        self.pos += len;
        Ok(Self {
            bytes,
            pos: 0,
            base,
            len_at,
        })
    }

    /// A vector with a one-byte length prefix.
    fn prefixed_u8(&mut self, what: &'static str) -> Result<Self, HelloError> {
        let len_at = self.offset();
        let len = self.u8(what)?;
        self.sub(len_at, usize::from(len), what)
    }

    /// A vector with a two-byte length prefix.
    fn prefixed_u16(&mut self, what: &'static str) -> Result<Self, HelloError> {
        let len_at = self.offset();
        let len = self.u16(what)?;
        self.sub(len_at, usize::from(len), what)
    }

    fn expect_end(&self, what: &'static str) -> Result<(), HelloError> {
        if self.is_empty() {
            Ok(())
        } else {
            Err(HelloError::Malformed {
                offset: self.offset(),
                what,
            })
        }
    }
}

#[cfg(test)]
#[allow(clippy::indexing_slicing, clippy::unwrap_used, clippy::expect_used)]
mod tests;
