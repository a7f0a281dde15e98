//! Parsing a client's query straight from the wire.
//!
//! One pass over the packet yields everything the per-query path needs:
//! the header, the question's position (so it can be echoed byte for byte,
//! 0x20 case included), its reversed-label key for the list lookup, and
//! the client's EDNS state. Nothing is allocated.

use super::wire::{
    self, CLASS_IN, Edns, HEADER_LEN, Header, OPT_CLIENT_SUBNET, Reader, RecordRef, TYPE_OPT,
    WireError, flags,
};
use crate::domain::NameKey;

/// A well-formed query.
#[derive(Debug, Clone)]
pub struct Query<'a> {
    pub packet: &'a [u8],
    pub header: Header,
    /// The question section: name, type and class as the client sent them.
    pub question: &'a [u8],
    pub qtype: u16,
    pub qclass: u16,
    pub key: NameKey,
    pub edns: Option<Edns>,
}

impl Query<'_> {
    /// The question name in wire form (as sent, case preserved).
    pub fn qname_wire(&self) -> &[u8] {
        &self.question[..self.question.len() - 4]
    }

    pub fn recursion_desired(&self) -> bool {
        self.header.has(flags::RD)
    }

    pub fn checking_disabled(&self) -> bool {
        self.header.has(flags::CD)
    }

    pub fn dnssec_ok(&self) -> bool {
        self.edns.is_some_and(|e| e.dnssec_ok)
    }

    /// Largest UDP response the client accepts.
    pub fn udp_limit(&self) -> usize {
        match self.edns {
            Some(e) => usize::from(e.udp_size.max(512)),
            None => 512,
        }
    }

    pub fn is_class_in(&self) -> bool {
        self.qclass == CLASS_IN
    }
}

/// A packet that cannot be answered normally.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reject {
    /// Not worth an answer: shorter than a header, or a response.
    Drop,
    /// Malformed after a readable header: answer FORMERR. `question` is
    /// the echoable question, if it was intact.
    FormErr {
        header: Header,
        question: Option<(usize, usize)>,
        error: WireError,
    },
    /// More or fewer than one question.
    QuestionCount { header: Header },
    /// An opcode other than QUERY.
    NotImp {
        header: Header,
        question: Option<(usize, usize)>,
    },
    /// EDNS version other than 0 (RFC 6891 §6.1.3).
    BadVersion {
        header: Header,
        question: (usize, usize),
        dnssec_ok: bool,
    },
}

/// Parses a query. Trailing bytes after the last record are ignored, as
/// most servers do; everything before them must be well formed.
#[inline]
pub fn parse(packet: &[u8]) -> Result<Query<'_>, Reject> {
    if packet.len() < HEADER_LEN {
        return Err(Reject::Drop);
    }
    let mut r = Reader::new(packet);
    let header = Header::read(&mut r).map_err(|_| Reject::Drop)?;
    if header.has(flags::QR) {
        return Err(Reject::Drop);
    }
    let form_err = |error, question| Reject::FormErr {
        header,
        question,
        error,
    };
    if header.opcode() != 0 {
        let question = (header.qdcount == 1)
            .then(|| read_question(&mut r.clone()).ok())
            .flatten()
            .map(|(s, e, ..)| (s, e));
        return Err(Reject::NotImp { header, question });
    }
    if header.qdcount != 1 {
        return Err(Reject::QuestionCount { header });
    }
    let (qstart, qend, qname, qtype, qclass) =
        read_question(&mut r).map_err(|e| form_err(e, None))?;
    let question = Some((qstart, qend));

    let mut edns = None;
    let sections = [
        (header.ancount, false),
        (header.nscount, false),
        (header.arcount, true),
    ];
    for (count, additional) in sections {
        for _ in 0..count {
            let rr = RecordRef::read(&mut r).map_err(|e| form_err(e, question))?;
            if rr.rtype != TYPE_OPT {
                continue;
            }
            if !additional || packet.get(rr.start) != Some(&0) {
                return Err(form_err(WireError::BadOpt, question));
            }
            if edns.is_some() {
                return Err(form_err(WireError::DuplicateOpt, question));
            }
            let mut e = Edns {
                udp_size: rr.class.max(512),
                version: (rr.ttl >> 16) as u8,
                dnssec_ok: rr.ttl & 0x8000 != 0,
                client_subnet: false,
            };
            wire::opt_options(&packet[rr.rdata_at..rr.end], |code, _| {
                if code == OPT_CLIENT_SUBNET {
                    e.client_subnet = true;
                }
            })
            .map_err(|e| form_err(e, question))?;
            edns = Some(e);
        }
    }
    if let Some(e) = edns
        && e.version != 0
    {
        return Err(Reject::BadVersion {
            header,
            question: (qstart, qend),
            dnssec_ok: e.dnssec_ok,
        });
    }
    Ok(Query {
        packet,
        header,
        question: &packet[qstart..qend],
        qtype,
        qclass,
        key: NameKey::from_uncompressed_wire(qname),
        edns,
    })
}

type Question<'a> = (usize, usize, &'a [u8], u16, u16);

/// Reads the question at the cursor, which must be the first byte after
/// the header. The name comes back as its wire bytes, checked: the caller
/// builds the key in place with [`NameKey::from_uncompressed_wire`].
fn read_question<'a>(r: &mut Reader<'a>) -> Result<Question<'a>, WireError> {
    let start = r.pos();
    // The question is the first name in the message, so it cannot be
    // compressed: a pointer must lead to an earlier byte of the message
    // but not into the header, and nothing lies between. Every name that
    // is not plain is therefore malformed, and the general reader says
    // how; it cannot succeed here, and if it did the query would get a
    // FORMERR rather than a wrong key.
    let Some(name) = r.plain_name() else {
        r.name_key()?;
        return Err(WireError::BadPointer { at: start });
    };
    let qtype = r.u16()?;
    let qclass = r.u16()?;
    // Without compression, the question's bytes are all of it.
    let end = r.pos();
    Ok((start, end, name, qtype, qclass))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dns::wire::{TYPE_A, put_header, put_opt};

    pub(crate) fn query(name: &[u8], qtype: u16, edns: Option<(u16, bool)>) -> Vec<u8> {
        let mut m = Vec::new();
        put_header(
            &mut m,
            &Header {
                id: 0x1234,
                flags: flags::RD,
                qdcount: 1,
                ancount: 0,
                nscount: 0,
                arcount: u16::from(edns.is_some()),
            },
        );
        m.extend_from_slice(name);
        m.extend_from_slice(&qtype.to_be_bytes());
        m.extend_from_slice(&CLASS_IN.to_be_bytes());
        if let Some((size, dnssec_ok)) = edns {
            put_opt(&mut m, size, 0, dnssec_ok, &[]);
        }
        m
    }

    #[test]
    fn parses_a_query_with_edns() {
        let m = query(b"\x03WwW\x07example\x03com\x00", TYPE_A, Some((4096, true)));
        let q = parse(&m).unwrap();
        assert_eq!(q.header.id, 0x1234);
        assert_eq!(q.qtype, TYPE_A);
        assert_eq!(q.key.as_bytes(), b"com.example.www.");
        assert_eq!(q.qname_wire(), b"\x03WwW\x07example\x03com\x00");
        assert!(q.dnssec_ok());
        assert_eq!(q.udp_limit(), 4096);
        let m = query(b"\x01a\x00", TYPE_A, Some((100, false)));
        assert_eq!(parse(&m).unwrap().udp_limit(), 512);
        let m = query(b"\x01a\x00", TYPE_A, None);
        assert_eq!(parse(&m).unwrap().udp_limit(), 512);
    }

    #[test]
    fn rejects_what_it_must() {
        assert!(matches!(parse(&[0; 11]), Err(Reject::Drop)));
        let mut m = query(b"\x01a\x00", TYPE_A, None);
        m[2] |= 0x80; // QR
        assert!(matches!(parse(&m), Err(Reject::Drop)));
        let mut m = query(b"\x01a\x00", TYPE_A, None);
        m[2] |= 0x28; // opcode 5 (UPDATE)
        assert!(matches!(
            parse(&m),
            Err(Reject::NotImp {
                question: Some(_),
                ..
            })
        ));
        let mut m = query(b"\x01a\x00", TYPE_A, None);
        m[5] = 2;
        assert!(matches!(parse(&m), Err(Reject::QuestionCount { .. })));
        m[5] = 0;
        assert!(matches!(parse(&m), Err(Reject::QuestionCount { .. })));
        let m = query(b"\xC0\x0C", TYPE_A, None);
        assert!(matches!(
            parse(&m),
            Err(Reject::FormErr { question: None, .. })
        ));
        // Two OPT records.
        let mut m = query(b"\x01a\x00", TYPE_A, Some((1232, false)));
        put_opt(&mut m, 1232, 0, false, &[]);
        m[11] = 2;
        assert!(matches!(
            parse(&m),
            Err(Reject::FormErr {
                error: WireError::DuplicateOpt,
                ..
            })
        ));
        // EDNS version 1.
        let mut m = query(b"\x01a\x00", TYPE_A, Some((1232, false)));
        let opt_ttl = m.len() - 6;
        m[opt_ttl + 1] = 1;
        assert!(matches!(parse(&m), Err(Reject::BadVersion { .. })));
        // arcount says 1 but no record follows.
        let mut m = query(b"\x01a\x00", TYPE_A, None);
        m[11] = 1;
        assert!(matches!(
            parse(&m),
            Err(Reject::FormErr {
                question: Some(_),
                ..
            })
        ));
    }

    #[test]
    fn notices_client_subnet() {
        let mut m = query(b"\x01a\x00", TYPE_A, None);
        m[11] = 1;
        put_opt(
            &mut m,
            1232,
            0,
            false,
            &[(OPT_CLIENT_SUBNET, &[0, 1, 24, 0, 192, 0, 2])],
        );
        assert!(parse(&m).unwrap().edns.unwrap().client_subnet);
    }
}
