//! Building responses on the wire: blocked answers, errors, local TXT, and
//! the final encoding step shared by every answer (EDNS, truncation).
//!
//! A [`Reply`] is a response before its OPT record: header flags, the
//! question exactly as the client sent it, and a body of already-encoded
//! records. [`Reply::encode`] adds the client's OPT (with an Extended DNS
//! Error when there is one) and applies the UDP size limit, setting TC when
//! the answer does not fit.

use super::query::Query;
use super::wire::{
    self, CLASS_IN, Header, RCODE_NOERROR, RCODE_NXDOMAIN, RCODE_REFUSED, TYPE_A, TYPE_AAAA,
    TYPE_SOA, TYPE_TXT, flags,
};
use std::net::{Ipv4Addr, Ipv6Addr};

/// Extended DNS Error codes ward uses (RFC 8914 §4).
pub mod ede {
    /// A policy's answer in place of the real one (safe search).
    pub const FORGED_ANSWER: u16 = 4;
    pub const NOT_READY: u16 = 14;
    pub const CENSORED: u16 = 16;
    pub const FILTERED: u16 = 17;
    pub const PROHIBITED: u16 = 18;
    pub const NO_REACHABLE_AUTHORITY: u16 = 22;
    pub const NETWORK_ERROR: u16 = 23;
}

/// SOA names in synthesised negative answers. `.invalid` (RFC 6761) can
/// never collide with a real zone.
const SOA_MNAME: &str = "block.ward.invalid";
const SOA_RNAME: &str = "hostmaster.ward.invalid";

/// How a blocked name is answered (`block.action`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BlockMode {
    /// An answer pointing at the sinkhole addresses.
    Sinkhole,
    /// NXDOMAIN: the name does not exist.
    NxDomain,
    /// REFUSED.
    Refused,
}

impl BlockMode {
    /// The config-file spellings.
    pub const CHOICES: &[(&str, Self)] = &[
        ("sinkhole", Self::Sinkhole),
        ("nxdomain", Self::NxDomain),
        ("refused", Self::Refused),
    ];

    /// The config-file spelling (also the `action` label of
    /// `ward_blocked_total`).
    pub fn as_str(&self) -> &'static str {
        match self {
            Self::Sinkhole => "sinkhole",
            Self::NxDomain => "nxdomain",
            Self::Refused => "refused",
        }
    }
}

impl serde::Serialize for BlockMode {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

/// The settings a blocked answer needs: `[block]`, whose keys are
/// `action`, `sinkhole_ipv4`, `sinkhole_ipv6` and `ttl`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct BlockAnswer {
    #[serde(rename = "action")]
    pub mode: BlockMode,
    #[serde(rename = "sinkhole_ipv4")]
    pub ipv4: Vec<Ipv4Addr>,
    #[serde(rename = "sinkhole_ipv6")]
    pub ipv6: Vec<Ipv6Addr>,
    pub ttl: u32,
}

/// A response without its OPT record, borrowing every byte it sends: the
/// per-query path builds one on the stack and encodes it into a reused
/// buffer, so a blocked or cached answer allocates nothing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Reply<'a> {
    pub id: u16,
    /// Header flags including the 4-bit RCODE.
    pub flags: u16,
    /// The question section, or empty for none.
    pub question: &'a [u8],
    /// Encoded answer, authority and additional records (no OPT).
    pub body: &'a [u8],
    pub counts: [u16; 3],
    /// Offsets of TTL fields in `body` and their stored values: each is
    /// written out as `ttl - elapsed` (a cache hit counting down).
    pub ttls: &'a [(u16, u32)],
    pub elapsed: u32,
    /// Extended RCODE bits for the OPT record (BADVERS).
    pub ext_rcode: u8,
    pub ede: Option<(u16, &'a str)>,
}

/// How the client's side of EDNS looks, for the OPT we send back.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClientEdns {
    /// The client sent OPT: we answer with one.
    pub present: bool,
    pub dnssec_ok: bool,
    /// Largest UDP response the client takes (512 without EDNS).
    pub udp_limit: usize,
}

impl ClientEdns {
    pub fn of(q: &Query<'_>) -> Self {
        Self {
            present: q.edns.is_some(),
            dnssec_ok: q.dnssec_ok(),
            udp_limit: q.udp_limit(),
        }
    }

    /// What to assume when the query could not be parsed.
    pub const NONE: Self = Self {
        present: false,
        dnssec_ok: false,
        udp_limit: 512,
    };
}

/// Response header flags for a query's header: QR, RA, the client's
/// opcode, RD and CD, and `rcode`.
pub fn response_flags(query: &Header, rcode: u8) -> u16 {
    flags::QR
        | flags::RA
        | (query.flags & (flags::OPCODE_MASK | flags::RD | flags::CD))
        | u16::from(rcode & 0x0F)
}

impl<'a> Reply<'a> {
    /// An answer with no records.
    pub fn empty(query: &Header, question: &'a [u8], rcode: u8) -> Self {
        Self {
            id: query.id,
            flags: response_flags(query, rcode),
            question,
            body: &[],
            counts: [0; 3],
            ttls: &[],
            elapsed: 0,
            ext_rcode: 0,
            ede: None,
        }
    }

    /// An answer carrying a prepared body (its RCODE and records).
    pub fn with_body(query: &Header, question: &'a [u8], body: &'a Body) -> Self {
        Self {
            body: &body.bytes,
            counts: body.counts,
            ..Self::empty(query, question, body.rcode)
        }
    }

    pub fn with_ede(mut self, code: u16, text: &'a str) -> Self {
        self.ede = Some((code, text));
        self
    }

    pub fn rcode(&self) -> u8 {
        (self.flags & flags::RCODE_MASK) as u8
    }

    /// Encodes the reply for the client into a new buffer.
    pub fn encode(&self, client: ClientEdns, our_payload: u16, udp: bool) -> Vec<u8> {
        let mut out = Vec::with_capacity(12 + self.question.len() + self.body.len() + 64);
        self.encode_into(&mut out, client, our_payload, udp);
        out
    }

    /// Encodes the reply for the client into `out`, replacing what it
    /// held. `udp` applies the client's size limit: a reply that does not
    /// fit is cut to header and question with TC set, so the client
    /// retries over TCP.
    ///
    /// Over UDP the answer is at most the smaller of the client's EDNS
    /// size and ward's own advertised size (`dns.edns_payload`); above it,
    /// TC with an empty body sends the client to TCP. A client's claim of a
    /// 4096-byte buffer must not turn ward into an amplifier beyond what it
    /// advertises.
    pub fn encode_into(&self, out: &mut Vec<u8>, client: ClientEdns, our_payload: u16, udp: bool) {
        out.clear();
        self.put(out, client, our_payload, false);
        let limit = client.udp_limit.min(usize::from(our_payload).max(512));
        if udp && out.len() > limit {
            out.clear();
            self.put(out, client, our_payload, true);
        }
    }

    fn put(&self, out: &mut Vec<u8>, client: ClientEdns, our_payload: u16, cut: bool) {
        let opt = client.present;
        let (flags, counts) = if cut {
            (self.flags | flags::TC, [0; 3])
        } else {
            (self.flags, self.counts)
        };
        wire::put_header(
            out,
            &Header {
                id: self.id,
                flags,
                qdcount: u16::from(!self.question.is_empty()),
                ancount: counts[0],
                nscount: counts[1],
                arcount: counts[2] + u16::from(opt),
            },
        );
        out.extend_from_slice(self.question);
        if !cut {
            let at = out.len();
            out.extend_from_slice(self.body);
            super::response::patch_ttls(&mut out[at..], self.ttls, self.elapsed);
        }
        if opt {
            // A truncated answer drops the EDE too: it must stay small.
            let ede = self.ede.filter(|_| !cut).map(|(c, t)| (c, t.as_bytes()));
            wire::put_opt_ede(out, our_payload, self.ext_rcode, client.dnssec_ok, ede);
        }
    }
}

/// Prepared records for an answer: its RCODE, the encoded records (owner
/// names point at the question) and the section counts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Body {
    pub rcode: u8,
    pub bytes: Vec<u8>,
    pub counts: [u16; 3],
}

/// TTL of the RFC 8482 answer to an ANY query.
pub const ANY_TTL: u32 = 3600;

/// The answer to a query of type ANY (RFC 8482 §4.2): one synthesized
/// HINFO record, CPU "RFC8482" and OS "", for the question's name. ANY
/// answers in full are an amplifier, and no client needs them.
pub fn any_body() -> Body {
    let mut bytes = Vec::with_capacity(21);
    bytes.extend_from_slice(&[0xC0, 0x0C]); // the question's name
    bytes.extend_from_slice(&wire::TYPE_HINFO.to_be_bytes());
    bytes.extend_from_slice(&wire::CLASS_IN.to_be_bytes());
    bytes.extend_from_slice(&ANY_TTL.to_be_bytes());
    bytes.extend_from_slice(&9u16.to_be_bytes());
    bytes.extend_from_slice(b"\x07RFC8482\x00");
    Body {
        rcode: RCODE_NOERROR,
        bytes,
        counts: [1, 0, 0],
    }
}

/// The body of the answer for a blocked query of type `qtype` (class IN).
/// It depends only on the settings, the type and the list serial, so the
/// engine builds it once per list and type and reuses it for every query.
pub fn blocked_body(block: &BlockAnswer, qtype: u16, serial: u64) -> Body {
    let (rcode, records) = match block.mode {
        BlockMode::Refused => (RCODE_REFUSED, false),
        BlockMode::NxDomain => (RCODE_NXDOMAIN, false),
        BlockMode::Sinkhole => (RCODE_NOERROR, true),
    };
    let mut body = Body {
        rcode,
        bytes: Vec::new(),
        counts: [0; 3],
    };
    let mut answers = 0u16;
    if records {
        match qtype {
            TYPE_A => {
                for ip in &block.ipv4 {
                    wire::put_record_at_qname(
                        &mut body.bytes,
                        TYPE_A,
                        CLASS_IN,
                        block.ttl,
                        &ip.octets(),
                    );
                    answers += 1;
                }
            }
            TYPE_AAAA => {
                for ip in &block.ipv6 {
                    wire::put_record_at_qname(
                        &mut body.bytes,
                        TYPE_AAAA,
                        CLASS_IN,
                        block.ttl,
                        &ip.octets(),
                    );
                    answers += 1;
                }
            }
            _ => {}
        }
    }
    body.counts[0] = answers;
    // NXDOMAIN and NODATA carry an SOA whose TTL and MINIMUM are the block
    // TTL, so negative caches forget the block as quickly as positive ones.
    if rcode != RCODE_REFUSED && answers == 0 {
        put_soa(&mut body.bytes, block.ttl, serial);
        body.counts[1] = 1;
    }
    body
}

fn put_soa(out: &mut Vec<u8>, ttl: u32, serial: u64) {
    let mut rdata = Vec::with_capacity(64);
    wire::put_name(&mut rdata, SOA_MNAME);
    wire::put_name(&mut rdata, SOA_RNAME);
    // The SOA serial field is 32 bits; list serials wrap into it.
    for v in [serial as u32, 3600, 600, 86400, ttl] {
        rdata.extend_from_slice(&v.to_be_bytes());
    }
    wire::put_record_at_qname(out, TYPE_SOA, CLASS_IN, ttl, &rdata);
}

/// A TXT answer body: one record of several strings, in class `class`.
pub fn txt_body(class: u16, strings: &[String], ttl: u32) -> Body {
    let mut rdata = Vec::new();
    for s in strings {
        for chunk in s.as_bytes().chunks(255) {
            // chunks(255) bounds the length byte.
            rdata.push(chunk.len() as u8);
            rdata.extend_from_slice(chunk);
        }
    }
    let mut bytes = Vec::new();
    wire::put_record_at_qname(&mut bytes, TYPE_TXT, class, ttl, &rdata);
    Body {
        rcode: RCODE_NOERROR,
        bytes,
        counts: [1, 0, 0],
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dns::query::parse;
    use crate::dns::wire::{OPT_EDE, Reader, RecordRef, put_opt};

    fn query(qtype: u16, edns: bool) -> Vec<u8> {
        let mut m = Vec::new();
        wire::put_header(
            &mut m,
            &Header {
                id: 7,
                flags: flags::RD,
                qdcount: 1,
                ancount: 0,
                nscount: 0,
                arcount: u16::from(edns),
            },
        );
        m.extend_from_slice(b"\x07BlOcKed\x04test\x00");
        m.extend_from_slice(&qtype.to_be_bytes());
        m.extend_from_slice(&CLASS_IN.to_be_bytes());
        if edns {
            put_opt(&mut m, 1232, 0, true, &[]);
        }
        m
    }

    fn block(mode: BlockMode) -> BlockAnswer {
        BlockAnswer {
            mode,
            ipv4: vec![Ipv4Addr::new(192, 0, 2, 1)],
            ipv6: vec!["2001:db8::1".parse().unwrap()],
            ttl: 60,
        }
    }

    fn records(msg: &[u8]) -> (Header, Vec<RecordRef>) {
        let mut r = Reader::new(msg);
        let h = Header::read(&mut r).unwrap();
        for _ in 0..h.qdcount {
            r.skip_name().unwrap();
            r.take(4).unwrap();
        }
        let n = h.ancount + h.nscount + h.arcount;
        let rrs = (0..n).map(|_| RecordRef::read(&mut r).unwrap()).collect();
        assert_eq!(r.remaining(), 0);
        (h, rrs)
    }

    #[test]
    fn sinkhole_a_echoes_question_and_carries_ede() {
        let m = query(TYPE_A, true);
        let q = parse(&m).unwrap();
        let body = blocked_body(&block(BlockMode::Sinkhole), q.qtype, 9);
        let reply = Reply::with_body(&q.header, q.question, &body)
            .with_ede(ede::CENSORED, "list=x serial=9");
        let out = reply.encode(ClientEdns::of(&q), 1232, true);
        let (h, rrs) = records(&out);
        assert_eq!(h.id, 7);
        assert!(h.has(flags::QR) && h.has(flags::RD) && h.has(flags::RA));
        assert_eq!(h.rcode(), RCODE_NOERROR);
        assert_eq!(&out[12..12 + 14], b"\x07BlOcKed\x04test\x00");
        assert_eq!((h.ancount, h.nscount, h.arcount), (1, 0, 1));
        assert_eq!(rrs[0].rtype, TYPE_A);
        assert_eq!(rrs[0].ttl, 60);
        assert_eq!(&out[rrs[0].rdata_at..rrs[0].end], &[192, 0, 2, 1]);
        let opt = rrs[1];
        let mut ede_seen = None;
        wire::opt_options(&out[opt.rdata_at..opt.end], |c, d| {
            if c == OPT_EDE {
                ede_seen = Some(d.to_vec());
            }
        })
        .unwrap();
        assert_eq!(ede_seen.unwrap(), b"\x00\x10list=x serial=9");
        assert_eq!(opt.ttl & 0x8000, 0x8000, "DO echoed");
    }

    #[test]
    fn other_types_get_nodata_with_soa_and_nxdomain_mode() {
        for qtype in [15u16, wire::TYPE_HTTPS, wire::TYPE_SVCB, TYPE_TXT] {
            let m = query(qtype, false);
            let q = parse(&m).unwrap();
            let body = blocked_body(&block(BlockMode::Sinkhole), q.qtype, 1);
            let out = Reply::with_body(&q.header, q.question, &body)
                .with_ede(16, "")
                .encode(ClientEdns::of(&q), 1232, true);
            let (h, rrs) = records(&out);
            assert_eq!((h.rcode(), h.ancount, h.nscount, h.arcount), (0, 0, 1, 0));
            assert_eq!(rrs[0].rtype, TYPE_SOA);
            assert_eq!(rrs[0].ttl, 60);
        }
        let m = query(TYPE_A, false);
        let q = parse(&m).unwrap();
        let body = blocked_body(&block(BlockMode::NxDomain), q.qtype, 1);
        let out = Reply::with_body(&q.header, q.question, &body)
            .with_ede(16, "")
            .encode(ClientEdns::of(&q), 1232, true);
        let (h, _) = records(&out);
        assert_eq!((h.rcode(), h.ancount, h.nscount), (RCODE_NXDOMAIN, 0, 1));
        let body = blocked_body(&block(BlockMode::Refused), q.qtype, 1);
        let out = Reply::with_body(&q.header, q.question, &body)
            .with_ede(16, "")
            .encode(ClientEdns::of(&q), 1232, true);
        let (h, _) = records(&out);
        assert_eq!((h.rcode(), h.ancount, h.nscount), (RCODE_REFUSED, 0, 0));
    }

    #[test]
    fn oversized_udp_reply_is_truncated() {
        let m = query(TYPE_A, false);
        let q = parse(&m).unwrap();
        let mut b = block(BlockMode::Sinkhole);
        b.ipv4 = (0..40).map(|i| Ipv4Addr::new(10, 0, 0, i)).collect();
        let body = blocked_body(&b, q.qtype, 1);
        let reply = Reply::with_body(&q.header, q.question, &body).with_ede(16, "");
        let out = reply.encode(ClientEdns::of(&q), 1232, true);
        let (h, _) = records(&out);
        assert!(h.has(flags::TC));
        assert_eq!((h.qdcount, h.ancount), (1, 0));
        let tcp = reply.encode(ClientEdns::of(&q), 1232, false);
        let (h, _) = records(&tcp);
        assert!(!h.has(flags::TC));
        assert_eq!(h.ancount, 40);
    }
}
