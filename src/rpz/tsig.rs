//! TSIG (RFC 8945) with HMAC-SHA256: checking a request's signature and
//! signing every message of the response.
//!
//! A request's MAC covers the message without its TSIG record (ARCOUNT
//! one less, the original ID) and the TSIG variables (§4.3.3). The first
//! response message's MAC covers the request's MAC, the message and the
//! variables; each later one the previous MAC, the message and the timers
//! only (§5.3.1). Only full-length MACs are accepted.

use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;

use crate::config::TsigKeySettings;
use crate::dns::wire::{Reader, WireError};

/// The TSIG record type and the class its records carry.
pub const TYPE_TSIG: u16 = 250;
const CLASS_ANY: u16 = 255;
/// `hmac-sha256.` on the wire.
const HMAC_SHA256: &[u8] = b"\x0bhmac-sha256\x00";
const MAC_LEN: usize = 32;
/// Fudge of the TSIGs ward signs, seconds (RFC 8945 §10 recommends 300).
pub const FUDGE: u16 = 300;

/// TSIG error codes (RFC 8945 §3) carried in the TSIG record of a NOTAUTH
/// answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TsigError {
    BadSig = 16,
    BadKey = 17,
    BadTime = 18,
}

impl TsigError {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::BadSig => "BADSIG",
            Self::BadKey => "BADKEY",
            Self::BadTime => "BADTIME",
        }
    }
}

/// A key the feed accepts.
#[derive(Clone)]
pub struct Key {
    /// The name on the wire, lower case.
    name: Vec<u8>,
    secret: Vec<u8>,
}

impl std::fmt::Debug for Key {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Key").finish_non_exhaustive()
    }
}

impl Key {
    pub fn new(settings: &TsigKeySettings) -> Self {
        Self {
            name: super::zone::name_wire(&settings.name),
            secret: settings.secret.0.clone(),
        }
    }

    fn mac(&self) -> Hmac<Sha256> {
        // HMAC takes keys of any length.
        Hmac::<Sha256>::new_from_slice(&self.secret).expect("HMAC accepts keys of any length")
    }
}

/// The TSIG record of a request, as read.
#[derive(Debug, Clone)]
pub struct RequestTsig {
    /// Where the record starts: the signed message is the bytes before.
    pub start: usize,
    /// The key name, uncompressed, lower case.
    pub key_name: Vec<u8>,
    pub algorithm: Vec<u8>,
    pub time_signed: u64,
    pub fudge: u16,
    pub mac: Vec<u8>,
    pub original_id: u16,
    pub error: u16,
    pub other: Vec<u8>,
}

/// A name at `r` in uncompressed wire form, lower case.
pub fn read_name(r: &mut Reader<'_>) -> Result<Vec<u8>, WireError> {
    let mut out = Vec::new();
    r.name(|label| {
        out.push(label.len() as u8);
        out.extend(label.iter().map(u8::to_ascii_lowercase));
    })?;
    out.push(0);
    Ok(out)
}

/// Reads the TSIG record whose owner starts at `start` (the last record
/// of the message).
pub fn read_record(msg: &[u8], start: usize) -> Result<RequestTsig, WireError> {
    let mut r = Reader::at(msg, start);
    let key_name = read_name(&mut r)?;
    let _rtype = r.u16()?;
    let _class = r.u16()?;
    let _ttl = r.u32()?;
    let rdlen = usize::from(r.u16()?);
    let end = r.pos() + rdlen;
    let algorithm = read_name(&mut r)?;
    let hi = u64::from(r.u16()?);
    let lo = u64::from(r.u32()?);
    let fudge = r.u16()?;
    let mac_len = usize::from(r.u16()?);
    let mac = r.take(mac_len)?.to_vec();
    let original_id = r.u16()?;
    let error = r.u16()?;
    let other_len = usize::from(r.u16()?);
    let other = r.take(other_len)?.to_vec();
    if r.pos() != end {
        return Err(WireError::Short { at: r.pos() });
    }
    if r.remaining() != 0 {
        return Err(WireError::Trailing {
            extra: r.remaining(),
        });
    }
    Ok(RequestTsig {
        start,
        key_name,
        algorithm,
        time_signed: (hi << 32) | lo,
        fudge,
        mac,
        original_id,
        error,
        other,
    })
}

/// Checks a request's signature against `keys` at `now` (unix seconds).
/// `Ok`: the key's index. `Err`: the TSIG error to answer with; for
/// BADTIME the key's index too (that answer is signed).
pub fn verify(
    keys: &[Key],
    msg: &[u8],
    tsig: &RequestTsig,
    now: u64,
) -> Result<usize, (TsigError, Option<usize>)> {
    let Some(index) = keys
        .iter()
        .position(|k| k.name == tsig.key_name && tsig.algorithm == HMAC_SHA256)
    else {
        return Err((TsigError::BadKey, None));
    };
    let key = &keys[index];
    if tsig.mac.len() != MAC_LEN {
        return Err((TsigError::BadSig, None));
    }
    let mut mac = key.mac();
    let Some(head) = msg.get(..tsig.start) else {
        return Err((TsigError::BadSig, None));
    };
    if head.len() < 12 {
        return Err((TsigError::BadSig, None));
    }
    // The message as it was before the TSIG was added.
    let arcount = u16::from_be_bytes([head[10], head[11]]).wrapping_sub(1);
    mac.update(&tsig.original_id.to_be_bytes());
    mac.update(&head[2..10]);
    mac.update(&arcount.to_be_bytes());
    mac.update(&head[12..]);
    variables(
        &mut mac,
        &key.name,
        tsig.time_signed,
        tsig.fudge,
        tsig.error,
        &tsig.other,
    );
    if mac.verify_slice(&tsig.mac).is_err() {
        return Err((TsigError::BadSig, None));
    }
    if now.abs_diff(tsig.time_signed) > u64::from(tsig.fudge) {
        return Err((TsigError::BadTime, Some(index)));
    }
    Ok(index)
}

/// The TSIG variables (RFC 8945 §4.3.3).
fn variables(
    mac: &mut Hmac<Sha256>,
    key_name: &[u8],
    time_signed: u64,
    fudge: u16,
    error: u16,
    other: &[u8],
) {
    mac.update(key_name);
    mac.update(&CLASS_ANY.to_be_bytes());
    mac.update(&0u32.to_be_bytes());
    mac.update(HMAC_SHA256);
    timers(mac, time_signed, fudge);
    mac.update(&error.to_be_bytes());
    mac.update(&(other.len() as u16).to_be_bytes());
    mac.update(other);
}

fn timers(mac: &mut Hmac<Sha256>, time_signed: u64, fudge: u16) {
    mac.update(&time_signed.to_be_bytes()[2..]);
    mac.update(&fudge.to_be_bytes());
}

/// Signs the messages of one response, each over the MAC before it.
#[derive(Debug)]
pub struct Signer {
    key: Key,
    /// The request's MAC, then each signed message's.
    prior: Vec<u8>,
    first: bool,
    /// Signs a request: no prior MAC at all, not even its length
    /// (RFC 8945 §4.3.1).
    request: bool,
    /// Carried in every TSIG of the response (the request's original ID
    /// is the response's ID).
    error: u16,
    /// Time signed: now, or the request's for BADTIME.
    time_signed: u64,
    other: Vec<u8>,
}

impl Signer {
    /// Signs a response to a request signed with `key` whose MAC was
    /// `request_mac`, at `now`.
    pub fn new(key: &Key, request_mac: &[u8], now: u64) -> Self {
        Self {
            key: key.clone(),
            prior: request_mac.to_vec(),
            first: true,
            request: false,
            error: 0,
            time_signed: now,
            other: Vec::new(),
        }
    }

    /// Signs a request of ours (a NOTIFY) with `key`, at `now`.
    pub fn request(key: &Key, now: u64) -> Self {
        Self {
            request: true,
            ..Self::new(key, &[], now)
        }
    }

    /// The signer of a BADTIME answer: the request's time, and the
    /// server's in the other data (RFC 8945 §5.2.3).
    pub fn bad_time(key: &Key, request: &RequestTsig, now: u64) -> Self {
        Self {
            key: key.clone(),
            prior: request.mac.clone(),
            first: true,
            request: false,
            error: TsigError::BadTime as u16,
            time_signed: request.time_signed,
            other: now.to_be_bytes()[2..].to_vec(),
        }
    }

    /// Appends a TSIG record to `msg` (a complete message) and counts it.
    pub fn sign(&mut self, msg: &mut Vec<u8>) {
        let mut mac = self.key.mac();
        if !self.request {
            mac.update(&(self.prior.len() as u16).to_be_bytes());
            mac.update(&self.prior);
        }
        mac.update(msg);
        if self.first {
            variables(
                &mut mac,
                &self.key.name,
                self.time_signed,
                FUDGE,
                self.error,
                &self.other,
            );
        } else {
            timers(&mut mac, self.time_signed, FUDGE);
        }
        let digest = mac.finalize().into_bytes().to_vec();
        let id = [msg[0], msg[1]];
        append(
            msg,
            &self.key.name,
            self.time_signed,
            &digest,
            id,
            self.error,
            &self.other,
        );
        self.prior = digest;
        self.first = false;
        self.request = false;
    }
}

/// Appends an unsigned TSIG record carrying `error` (BADKEY, BADSIG: the
/// MAC is empty, RFC 8945 §5.3.2), the key name and time the request's.
pub fn append_unsigned(msg: &mut Vec<u8>, request: &RequestTsig, error: TsigError) {
    let id = [msg[0], msg[1]];
    append(
        msg,
        &request.key_name,
        request.time_signed,
        &[],
        id,
        error as u16,
        &[],
    );
}

fn append(
    msg: &mut Vec<u8>,
    key_name: &[u8],
    time_signed: u64,
    mac: &[u8],
    original_id: [u8; 2],
    error: u16,
    other: &[u8],
) {
    msg.extend_from_slice(key_name);
    msg.extend_from_slice(&TYPE_TSIG.to_be_bytes());
    msg.extend_from_slice(&CLASS_ANY.to_be_bytes());
    msg.extend_from_slice(&0u32.to_be_bytes());
    let rdlen = HMAC_SHA256.len() + 6 + 2 + 2 + mac.len() + 2 + 2 + 2 + other.len();
    msg.extend_from_slice(&(rdlen as u16).to_be_bytes());
    msg.extend_from_slice(HMAC_SHA256);
    msg.extend_from_slice(&time_signed.to_be_bytes()[2..]);
    msg.extend_from_slice(&FUDGE.to_be_bytes());
    msg.extend_from_slice(&(mac.len() as u16).to_be_bytes());
    msg.extend_from_slice(mac);
    msg.extend_from_slice(&original_id);
    msg.extend_from_slice(&error.to_be_bytes());
    msg.extend_from_slice(&(other.len() as u16).to_be_bytes());
    msg.extend_from_slice(other);
    let arcount = u16::from_be_bytes([msg[10], msg[11]]).saturating_add(1);
    msg[10..12].copy_from_slice(&arcount.to_be_bytes());
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(secret: &[u8]) -> Key {
        Key {
            name: super::super::zone::name_wire("k."),
            secret: secret.to_vec(),
        }
    }

    /// A query signed as a client does: the same variables as a
    /// response's first message, without a prior MAC.
    fn signed_query(k: &Key, now: u64) -> Vec<u8> {
        let mut msg = vec![0x12, 0x34, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0];
        msg.extend_from_slice(b"\x05child\x03rpz\x00\x00\xfc\x00\x01");
        let mut mac = k.mac();
        mac.update(&msg);
        variables(&mut mac, &k.name, now, FUDGE, 0, &[]);
        let digest = mac.finalize().into_bytes().to_vec();
        append(&mut msg, &k.name, now, &digest, [0x12, 0x34], 0, &[]);
        msg
    }

    /// The test query: header, question (15 bytes), then the TSIG.
    const TSIG_AT: usize = 12 + 15;

    #[test]
    fn a_signed_query_verifies_and_a_wrong_key_or_time_does_not() {
        let good = key(b"0123456789abcdef");
        let msg = signed_query(&good, 1_000_000);
        let tsig = read_record(&msg, TSIG_AT).unwrap();
        assert_eq!(
            verify(std::slice::from_ref(&good), &msg, &tsig, 1_000_100),
            Ok(0)
        );
        let other = key(b"fedcba9876543210");
        assert_eq!(
            verify(&[other], &msg, &tsig, 1_000_100),
            Err((TsigError::BadSig, None))
        );
        let mut named = good.clone();
        named.name = super::super::zone::name_wire("other.");
        assert_eq!(
            verify(&[named], &msg, &tsig, 1_000_100),
            Err((TsigError::BadKey, None))
        );
        assert_eq!(
            verify(std::slice::from_ref(&good), &msg, &tsig, 1_000_000 + 301),
            Err((TsigError::BadTime, Some(0)))
        );
        let mut flipped = msg.clone();
        flipped[20] ^= 1;
        let tsig = read_record(&flipped, TSIG_AT).unwrap();
        assert_eq!(
            verify(&[good], &flipped, &tsig, 1_000_100),
            Err((TsigError::BadSig, None))
        );
    }
}
