//! DNS wire format: a bounds-checked reader and the few writers ward needs.
//!
//! Everything that touches bytes from the network goes through [`Reader`],
//! which never indexes out of bounds and returns a flat [`WireError`].
//! Names are decoded with compression pointers that must point strictly
//! backwards (so loops are impossible) and at most [`MAX_POINTER_HOPS`]
//! hops. This module is pure: no I/O, no allocation on the parse path.

use crate::domain::{MAX_LABEL_LEN, NameKey};

/// Fixed DNS header length.
pub const HEADER_LEN: usize = 12;
/// Longest name on the wire, length bytes included (RFC 1035 §2.3.4).
pub const MAX_WIRE_NAME: usize = 255;
/// Compression pointers followed while decoding one name.
pub const MAX_POINTER_HOPS: usize = 64;

pub const TYPE_A: u16 = 1;
pub const TYPE_NS: u16 = 2;
pub const TYPE_CNAME: u16 = 5;
pub const TYPE_HINFO: u16 = 13;
pub const TYPE_SOA: u16 = 6;
pub const TYPE_TXT: u16 = 16;
pub const TYPE_AAAA: u16 = 28;
pub const TYPE_DNAME: u16 = 39;
pub const TYPE_OPT: u16 = 41;
pub const TYPE_SVCB: u16 = 64;
pub const TYPE_HTTPS: u16 = 65;
pub const TYPE_ANY: u16 = 255;
pub const CLASS_IN: u16 = 1;
pub const CLASS_CH: u16 = 3;

pub const RCODE_NOERROR: u8 = 0;
pub const RCODE_FORMERR: u8 = 1;
pub const RCODE_SERVFAIL: u8 = 2;
pub const RCODE_NXDOMAIN: u8 = 3;
pub const RCODE_NOTIMP: u8 = 4;
pub const RCODE_REFUSED: u8 = 5;
/// Extended RCODE 16 (BADVERS): upper 8 bits go in the OPT TTL.
pub const RCODE_BADVERS_HIGH: u8 = 1;

pub const OPT_CLIENT_SUBNET: u16 = 8;
pub const OPT_EDE: u16 = 15;

/// Header flag bits (in the 16-bit flags word).
pub mod flags {
    pub const QR: u16 = 0x8000;
    pub const AA: u16 = 0x0400;
    pub const TC: u16 = 0x0200;
    pub const RD: u16 = 0x0100;
    pub const RA: u16 = 0x0080;
    pub const AD: u16 = 0x0020;
    pub const CD: u16 = 0x0010;
    pub const OPCODE_MASK: u16 = 0x7800;
    pub const RCODE_MASK: u16 = 0x000F;
}

/// Why bytes are not a well-formed DNS message. Carries the byte offset.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum WireError {
    #[error("message ends early at byte {at}")]
    Short { at: usize },
    #[error("bad label length at byte {at}: over 63, or a reserved label type")]
    LabelType { at: usize },
    #[error("compression pointer at byte {at} does not point backwards")]
    BadPointer { at: usize },
    #[error("too many compression pointers in the name at byte {at}")]
    PointerLoop { at: usize },
    #[error("name over 255 bytes at byte {at}")]
    NameTooLong { at: usize },
    #[error("more than one OPT record")]
    DuplicateOpt,
    #[error("OPT record with a non-root owner or outside the additional section")]
    BadOpt,
    #[error("{extra} bytes after the last record")]
    Trailing { extra: usize },
}

/// A cursor over a message.
#[derive(Debug, Clone)]
pub struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    pub fn new(buf: &'a [u8]) -> Self {
        Self { buf, pos: 0 }
    }

    pub fn at(buf: &'a [u8], pos: usize) -> Self {
        Self { buf, pos }
    }

    pub fn pos(&self) -> usize {
        self.pos
    }

    pub fn remaining(&self) -> usize {
        self.buf.len().saturating_sub(self.pos)
    }

    pub fn take(&mut self, n: usize) -> Result<&'a [u8], WireError> {
        let end = self
            .pos
            .checked_add(n)
            .filter(|&e| e <= self.buf.len())
            .ok_or(WireError::Short { at: self.pos })?;
        let out = &self.buf[self.pos..end];
        self.pos = end;
        Ok(out)
    }

    pub fn u8(&mut self) -> Result<u8, WireError> {
        Ok(self.take(1)?[0])
    }

    pub fn u16(&mut self) -> Result<u16, WireError> {
        let b = self.take(2)?;
        Ok(u16::from_be_bytes([b[0], b[1]]))
    }

    pub fn u32(&mut self) -> Result<u32, WireError> {
        let b = self.take(4)?;
        Ok(u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
    }

    /// Reads a name starting here, following compression pointers, and
    /// calls `label` for each label from left to right. Leaves the cursor
    /// after the name's in-place bytes. Returns the uncompressed wire length.
    pub fn name(&mut self, mut label: impl FnMut(&'a [u8])) -> Result<usize, WireError> {
        let start = self.pos;
        let mut pos = self.pos;
        let mut resume = None;
        let mut hops = 0;
        let mut wire_len = 1usize;
        // Pointers must point before the earliest byte of this name seen so
        // far, so every hop strictly decreases `floor`: no loops possible.
        let mut floor = start;
        loop {
            let len = *self.buf.get(pos).ok_or(WireError::Short { at: pos })?;
            match len & 0xC0 {
                0x00 => {
                    if len == 0 {
                        pos += 1;
                        break;
                    }
                    // The top two bits are clear, so len <= 63 = MAX_LABEL_LEN.
                    let len = usize::from(len);
                    let bytes = self
                        .buf
                        .get(pos + 1..pos + 1 + len)
                        .ok_or(WireError::Short { at: pos })?;
                    wire_len += len + 1;
                    if wire_len > MAX_WIRE_NAME {
                        return Err(WireError::NameTooLong { at: start });
                    }
                    label(bytes);
                    pos += 1 + len;
                }
                0xC0 => {
                    let lo = *self.buf.get(pos + 1).ok_or(WireError::Short { at: pos })?;
                    let target = (usize::from(len & 0x3F) << 8) | usize::from(lo);
                    if target >= floor || target < HEADER_LEN {
                        return Err(WireError::BadPointer { at: pos });
                    }
                    hops += 1;
                    if hops > MAX_POINTER_HOPS {
                        return Err(WireError::PointerLoop { at: start });
                    }
                    if resume.is_none() {
                        resume = Some(pos + 2);
                    }
                    floor = target;
                    pos = target;
                }
                _ => return Err(WireError::LabelType { at: pos }),
            }
        }
        self.pos = resume.unwrap_or(pos);
        Ok(wire_len)
    }

    /// Skips a name.
    pub fn skip_name(&mut self) -> Result<(), WireError> {
        self.name(|_| {}).map(|_| ())
    }

    /// The parser's way to a question's key as one call: the name's bytes
    /// through [`Reader::plain_name`] and [`NameKey::from_uncompressed_wire`],
    /// anything else through [`Reader::name_key`]. The tests hold it to
    /// `name_key`: same key, error and cursor on any bytes. (The parser
    /// itself builds the key inside the `Query`, so as not to move it.)
    #[cfg(test)]
    pub fn question_key(&mut self) -> Result<NameKey, WireError> {
        match self.plain_name() {
            Some(name) => Ok(NameKey::from_uncompressed_wire(name)),
            None => self.name_key(),
        }
    }

    /// The bytes of the name at the cursor, up to and including its root
    /// label, if it has no compression pointer, no reserved label type,
    /// fits in 255 bytes and lies inside the message; the cursor moves
    /// past it. `None` otherwise, with the cursor unchanged: then
    /// [`Reader::name_key`] reads it (or says what is wrong with it).
    ///
    /// Lets a caller build the key where it keeps it
    /// ([`NameKey::from_uncompressed_wire`]), instead of moving a
    /// 272-byte key out of a `Result` at every level.
    #[inline]
    pub fn plain_name(&mut self) -> Option<&'a [u8]> {
        let start = self.pos;
        let mut pos = start;
        loop {
            match self.buf.get(pos) {
                Some(0) => break,
                Some(&len) if len & 0xC0 == 0 => pos += 1 + usize::from(len),
                _ => return None,
            }
            if pos - start >= MAX_WIRE_NAME {
                return None;
            }
        }
        let name = &self.buf[start..=pos];
        self.pos = pos + 1;
        Some(name)
    }

    /// Reads a name into a [`NameKey`].
    pub fn name_key(&mut self) -> Result<NameKey, WireError> {
        let mut labels: [&[u8]; 128] = [&[]; 128];
        let mut n = 0;
        self.name(|l| {
            // At most 127 labels fit in 255 bytes; the length check in
            // `name` fires before a 128th.
            if n < labels.len() {
                labels[n] = l;
                n += 1;
            }
        })?;
        Ok(NameKey::from_wire_labels(labels[..n].iter().copied()))
    }
}

/// The 12-byte header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Header {
    pub id: u16,
    pub flags: u16,
    pub qdcount: u16,
    pub ancount: u16,
    pub nscount: u16,
    pub arcount: u16,
}

impl Header {
    pub fn read(r: &mut Reader<'_>) -> Result<Self, WireError> {
        Ok(Self {
            id: r.u16()?,
            flags: r.u16()?,
            qdcount: r.u16()?,
            ancount: r.u16()?,
            nscount: r.u16()?,
            arcount: r.u16()?,
        })
    }

    pub fn opcode(&self) -> u8 {
        ((self.flags & flags::OPCODE_MASK) >> 11) as u8
    }

    pub fn rcode(&self) -> u8 {
        (self.flags & flags::RCODE_MASK) as u8
    }

    pub fn has(&self, flag: u16) -> bool {
        self.flags & flag != 0
    }
}

/// One resource record's position in a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RecordRef {
    /// Offset of the owner name.
    pub start: usize,
    pub rtype: u16,
    pub class: u16,
    pub ttl: u32,
    /// Offset of the TTL field.
    pub ttl_at: usize,
    /// Offset and length of the RDATA.
    pub rdata_at: usize,
    pub rdlen: usize,
    /// Offset just past the record.
    pub end: usize,
}

impl RecordRef {
    /// Reads one record at the cursor.
    pub fn read(r: &mut Reader<'_>) -> Result<Self, WireError> {
        let start = r.pos();
        r.skip_name()?;
        let rtype = r.u16()?;
        let class = r.u16()?;
        let ttl_at = r.pos();
        let ttl = r.u32()?;
        let rdlen = usize::from(r.u16()?);
        let rdata_at = r.pos();
        r.take(rdlen)?;
        Ok(Self {
            start,
            rtype,
            class,
            ttl,
            ttl_at,
            rdata_at,
            rdlen,
            end: r.pos(),
        })
    }
}

/// EDNS(0) as a client sent it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Edns {
    /// Advertised UDP payload size (values under 512 are read as 512).
    pub udp_size: u16,
    pub version: u8,
    /// The DNSSEC OK bit.
    pub dnssec_ok: bool,
    /// The client sent an EDNS Client Subnet option (ward never forwards it).
    pub client_subnet: bool,
}

/// Reads OPT RDATA options, calling `f(code, data)` for each.
pub fn opt_options<'a>(rdata: &'a [u8], mut f: impl FnMut(u16, &'a [u8])) -> Result<(), WireError> {
    let mut r = Reader::new(rdata);
    while r.remaining() > 0 {
        let code = r.u16()?;
        let len = usize::from(r.u16()?);
        f(code, r.take(len)?);
    }
    Ok(())
}

/// Appends a 12-byte header.
pub fn put_header(out: &mut Vec<u8>, h: &Header) {
    for v in [h.id, h.flags, h.qdcount, h.ancount, h.nscount, h.arcount] {
        out.extend_from_slice(&v.to_be_bytes());
    }
}

/// Overwrites a big-endian u16 at `at`. `at + 2 <= out.len()` is the
/// caller's invariant (offsets come from a parse of the same buffer).
pub fn set_u16(out: &mut [u8], at: usize, v: u16) {
    if let Some(slot) = out.get_mut(at..at + 2) {
        slot.copy_from_slice(&v.to_be_bytes());
    }
}

/// Overwrites a big-endian u32 at `at` (same invariant as [`set_u16`]).
pub fn set_u32(out: &mut [u8], at: usize, v: u32) {
    if let Some(slot) = out.get_mut(at..at + 4) {
        slot.copy_from_slice(&v.to_be_bytes());
    }
}

/// Reads a big-endian u16 at `at`, or 0 past the end.
pub fn get_u16(buf: &[u8], at: usize) -> u16 {
    buf.get(at..at + 2)
        .map_or(0, |b| u16::from_be_bytes([b[0], b[1]]))
}

/// Appends a record whose owner is a compression pointer to offset 12 (the
/// question name).
pub fn put_record_at_qname(out: &mut Vec<u8>, rtype: u16, class: u16, ttl: u32, rdata: &[u8]) {
    out.extend_from_slice(&[0xC0, 0x0C]);
    out.extend_from_slice(&rtype.to_be_bytes());
    out.extend_from_slice(&class.to_be_bytes());
    out.extend_from_slice(&ttl.to_be_bytes());
    // RDATA built by ward is always far below 64 KiB.
    out.extend_from_slice(&(rdata.len() as u16).to_be_bytes());
    out.extend_from_slice(rdata);
}

/// Appends a dotted ASCII name in uncompressed wire form. Labels over 63
/// bytes are cut; only used for ward's own fixed names.
pub fn put_name(out: &mut Vec<u8>, dotted: &str) {
    for label in dotted
        .trim_end_matches('.')
        .split('.')
        .filter(|l| !l.is_empty())
    {
        let l = &label.as_bytes()[..label.len().min(MAX_LABEL_LEN)];
        out.push(l.len() as u8);
        out.extend_from_slice(l);
    }
    out.push(0);
}

/// Appends an OPT record: our payload size, the DO bit, an extended RCODE
/// (upper 8 bits) and options as (code, data) pairs.
pub fn put_opt(
    out: &mut Vec<u8>,
    payload: u16,
    ext_rcode: u8,
    dnssec_ok: bool,
    options: &[(u16, &[u8])],
) {
    put_opt_fixed(out, payload, ext_rcode, dnssec_ok);
    let rdlen: usize = options.iter().map(|(_, d)| 4 + d.len()).sum();
    out.extend_from_slice(&(rdlen.min(usize::from(u16::MAX)) as u16).to_be_bytes());
    for (code, data) in options {
        out.extend_from_slice(&code.to_be_bytes());
        out.extend_from_slice(&(data.len().min(usize::from(u16::MAX)) as u16).to_be_bytes());
        out.extend_from_slice(data);
    }
}

/// The fixed part of an OPT record, up to its RDLENGTH.
fn put_opt_fixed(out: &mut Vec<u8>, payload: u16, ext_rcode: u8, dnssec_ok: bool) {
    out.push(0); // root owner
    out.extend_from_slice(&TYPE_OPT.to_be_bytes());
    out.extend_from_slice(&payload.to_be_bytes());
    out.push(ext_rcode);
    out.push(0); // version 0
    out.extend_from_slice(&(if dnssec_ok { 0x8000u16 } else { 0 }).to_be_bytes());
}

/// Appends an OPT record with at most one option, an Extended DNS Error
/// `(info code, EXTRA-TEXT)`, without building the options first.
pub fn put_opt_ede(
    out: &mut Vec<u8>,
    payload: u16,
    ext_rcode: u8,
    dnssec_ok: bool,
    ede: Option<(u16, &[u8])>,
) {
    put_opt_fixed(out, payload, ext_rcode, dnssec_ok);
    match ede {
        None => out.extend_from_slice(&0u16.to_be_bytes()),
        Some((code, text)) => {
            // EDE texts are ward's own short strings; cap them anyway so
            // the lengths below cannot wrap.
            let text = &text[..text.len().min(usize::from(u16::MAX) - 8)];
            let data_len = 2 + text.len() as u16;
            out.extend_from_slice(&(4 + data_len).to_be_bytes());
            out.extend_from_slice(&OPT_EDE.to_be_bytes());
            out.extend_from_slice(&data_len.to_be_bytes());
            out.extend_from_slice(&code.to_be_bytes());
            out.extend_from_slice(text);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn msg_with_name(name: &[u8]) -> Vec<u8> {
        let mut m = vec![0u8; 12];
        m.extend_from_slice(name);
        m
    }

    #[test]
    fn reads_plain_and_compressed_names() {
        // 12: 3www7example3com0  then at 29: pointer to 16 (example.com)
        let mut m = msg_with_name(b"\x03www\x07example\x03com\x00");
        m.extend_from_slice(&[0xC0, 16]);
        let mut r = Reader::at(&m, 12);
        let mut labels = Vec::new();
        assert_eq!(r.name(|l| labels.push(l.to_vec())).unwrap(), 17);
        assert_eq!(
            labels,
            [b"www".to_vec(), b"example".to_vec(), b"com".to_vec()]
        );
        assert_eq!(r.pos(), 29);
        let key = r.name_key().unwrap();
        assert_eq!(key.as_bytes(), b"com.example.");
        assert_eq!(r.pos(), 31);
    }

    #[test]
    fn rejects_pointer_loops_and_forward_pointers() {
        // Pointer to itself.
        let m = msg_with_name(&[0xC0, 12]);
        assert!(matches!(
            Reader::at(&m, 12).skip_name(),
            Err(WireError::BadPointer { at: 12 })
        ));
        // Two pointers pointing at each other.
        let mut m = msg_with_name(&[0xC0, 14, 0xC0, 12]);
        m.push(0);
        assert!(Reader::at(&m, 14).skip_name().is_err());
        assert!(Reader::at(&m, 12).skip_name().is_err());
        // Pointer into the header.
        let m = msg_with_name(&[0xC0, 2]);
        assert!(Reader::at(&m, 12).skip_name().is_err());
        // Label then pointer back to the label's own start: a loop.
        let m = msg_with_name(&[1, b'a', 0xC0, 12]);
        assert!(Reader::at(&m, 12).skip_name().is_err());
    }

    #[test]
    fn rejects_long_labels_names_and_reserved_types() {
        let mut name = vec![64u8];
        name.extend_from_slice(&[b'a'; 64]);
        name.push(0);
        let m = msg_with_name(&name);
        // A length byte over 63 has a top bit set: it reads as a label type.
        assert!(matches!(
            Reader::at(&m, 12).skip_name(),
            Err(WireError::LabelType { at: 12 })
        ));
        let m = msg_with_name(&[0x40, 0]);
        assert!(matches!(
            Reader::at(&m, 12).skip_name(),
            Err(WireError::LabelType { .. })
        ));
        // 5 labels of 63: 320 bytes > 255.
        let mut name = Vec::new();
        for _ in 0..5 {
            name.push(63);
            name.extend_from_slice(&[b'a'; 63]);
        }
        name.push(0);
        let m = msg_with_name(&name);
        assert!(matches!(
            Reader::at(&m, 12).skip_name(),
            Err(WireError::NameTooLong { .. })
        ));
        // Truncated mid-label.
        let m = msg_with_name(b"\x05ab");
        assert!(matches!(
            Reader::at(&m, 12).skip_name(),
            Err(WireError::Short { .. })
        ));
    }

    #[test]
    fn reader_never_reads_past_the_end() {
        let mut r = Reader::new(&[1, 2, 3]);
        assert_eq!(r.u16().unwrap(), 0x0102);
        assert!(r.u16().is_err());
        assert!(r.take(usize::MAX).is_err());
        assert_eq!(r.u8().unwrap(), 3);
        assert!(r.u8().is_err());
    }

    #[test]
    fn opt_round_trip() {
        let mut out = Vec::new();
        put_opt(&mut out, 1232, 0, true, &[(OPT_EDE, b"\x00\x10hi")]);
        let mut r = Reader::new(&out);
        let rr = RecordRef::read(&mut r).unwrap();
        assert_eq!(rr.rtype, TYPE_OPT);
        assert_eq!(rr.class, 1232);
        assert_eq!(rr.ttl, 0x8000);
        let mut seen = Vec::new();
        opt_options(&out[rr.rdata_at..rr.end], |c, d| seen.push((c, d.to_vec()))).unwrap();
        assert_eq!(seen, vec![(OPT_EDE, b"\x00\x10hi".to_vec())]);
    }

    #[test]
    fn opt_with_ede_matches_the_general_writer() {
        for ede in [None, Some((16u16, &b"hi"[..])), Some((18, &b""[..]))] {
            let mut fast = Vec::new();
            put_opt_ede(&mut fast, 1232, 1, true, ede);
            let mut data = Vec::new();
            let options: Vec<(u16, &[u8])> = match ede {
                None => vec![],
                Some((code, text)) => {
                    data.extend_from_slice(&code.to_be_bytes());
                    data.extend_from_slice(text);
                    vec![(OPT_EDE, &data[..])]
                }
            };
            let mut general = Vec::new();
            put_opt(&mut general, 1232, 1, true, &options);
            assert_eq!(fast, general);
        }
    }

    /// What a name read returns, comparably: the key's bytes, labels and
    /// overflow flag, or the error; and where the cursor ends.
    /// A read key: its bytes, label count and overflow flag.
    type KeyParts = (Vec<u8>, usize, bool);

    fn read_with(buf: &[u8], fast: bool) -> (Result<KeyParts, WireError>, usize) {
        let mut r = Reader::at(buf, HEADER_LEN);
        let got = if fast { r.question_key() } else { r.name_key() };
        let got = got.map(|k| (k.as_bytes().to_vec(), k.label_count(), k.is_overflow()));
        (got, r.pos())
    }

    #[test]
    fn question_key_matches_the_general_reader_on_known_names() {
        let mut long = Vec::new();
        for _ in 0..4 {
            long.push(63);
            long.extend_from_slice(&[b'A'; 63]);
        }
        long.push(0);
        let cases: Vec<Vec<u8>> = vec![
            b"\x03WwW\x07example\x03com\x00".to_vec(),
            b"\x00".to_vec(),
            b"\x03a.b\x02vn\x00".to_vec(),
            b"\x03www\xC0\x0C".to_vec(),
            b"\x05ab".to_vec(),
            b"\x41abc\x00".to_vec(),
            long,
        ];
        for name in cases {
            let mut buf = vec![0u8; HEADER_LEN];
            buf.extend_from_slice(&name);
            buf.extend_from_slice(&[0, 1, 0, 1]);
            assert_eq!(read_with(&buf, true), read_with(&buf, false), "{name:?}");
        }
    }

    proptest::proptest! {
        #[test]
        fn question_key_matches_the_general_reader(
            labels in proptest::collection::vec(
                proptest::collection::vec(proptest::prelude::any::<u8>(), 0..70), 0..8),
            tail in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..6),
            raw in proptest::prelude::any::<bool>(),
        ) {
            let mut buf = vec![0u8; HEADER_LEN];
            if raw {
                // Arbitrary bytes where the name should be.
                for l in &labels {
                    buf.extend_from_slice(l);
                }
            } else {
                for l in &labels {
                    buf.push(l.len().min(63) as u8);
                    buf.extend_from_slice(&l[..l.len().min(63)]);
                }
                buf.push(0);
            }
            buf.extend_from_slice(&tail);
            proptest::prop_assert_eq!(
                read_with(&buf, true),
                read_with(&buf, false)
            );
        }
    }
}
