//! Checking and taking apart an upstream's response.
//!
//! [`accept`] makes sure a response answers the question ward asked (ID,
//! QR, question), then splits it into what is reused for the client: the
//! record bytes after the question, the offset of every TTL so cached
//! copies can count down, the TTL to cache for, and every name the answer
//! leads to (owners, CNAME/DNAME targets, SVCB/HTTPS targets) for the
//! response-side list check.
//!
//! What the client gets is cut down to what it needs: the answer section,
//! and the authority section only for a negative answer (its SOA says how
//! long to cache the negative). The additional section, the upstream's OPT
//! (the client gets ward's own) and a positive answer's authority records
//! are dropped: they are trailing sections, so no kept record's
//! compression pointer can point into them. A TTL above 2^31 − 1 is read
//! as 0 and written so (RFC 2181 §8).

use super::wire::{
    self, HEADER_LEN, Header, RCODE_NOERROR, RCODE_NXDOMAIN, Reader, RecordRef, TYPE_CNAME,
    TYPE_DNAME, TYPE_HTTPS, TYPE_OPT, TYPE_SOA, TYPE_SVCB, WireError, flags,
};
use crate::domain::NameKey;

/// A response that answers our question.
#[derive(Debug, Clone)]
pub struct Upstreamed {
    pub header: Header,
    /// Answer, authority, additional counts; the OPT is not counted.
    pub counts: [u16; 3],
    /// Records after the question, without the upstream's OPT.
    pub body: Vec<u8>,
    /// (offset in `body` of a TTL field, that TTL).
    pub ttls: Vec<(u16, u32)>,
    /// How long the whole response may be cached, before clamping; `None`
    /// when it must not be cached.
    pub cache_ttl: Option<u32>,
    /// Names the answer leads to, for the response-side list check.
    pub chain: Vec<NameKey>,
}

impl Upstreamed {
    pub fn rcode(&self) -> u8 {
        self.header.rcode()
    }
}

/// Why a response was not taken.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Rejected {
    /// Not an answer to our query (wrong ID or question): possibly
    /// spoofed. Keep waiting for the real one.
    #[error("response does not match the query")]
    Mismatch,
    /// The answer did not fit in UDP: ask again over TCP.
    #[error("response truncated")]
    Truncated,
    #[error("malformed response: {0}")]
    Malformed(#[from] WireError),
}

/// Checks `resp` against our query (`id` and `question`, the question
/// section we sent) and takes it apart.
pub fn accept(resp: &[u8], id: u16, question: &[u8]) -> Result<Upstreamed, Rejected> {
    let (header, qend) = answers(resp, id, question)?;
    let negative = header.rcode() == RCODE_NXDOMAIN
        || (header.rcode() == RCODE_NOERROR && header.ancount == 0);
    let kept = keep_records(resp, &header, qend, negative)?;
    // Only sections the client needs are kept; see the module docs.
    let counts = [header.ancount, if negative { header.nscount } else { 0 }, 0];
    let cache_ttl = if negative {
        kept.negative_ttl
    } else if header.rcode() == RCODE_NOERROR {
        kept.min_ttl
    } else {
        None
    };
    let mut body = resp[qend..kept.body_end].to_vec();
    // The TTLs as read (a top-bit TTL is 0 from here on).
    patch_ttls(&mut body, &kept.ttls, 0);
    Ok(Upstreamed {
        header,
        counts,
        body,
        ttls: kept.ttls,
        cache_ttl,
        chain: kept.chain,
    })
}

/// Whether `resp` answers our query: its ID, QR, one question equal to
/// ours (case aside), and not truncated. The header and where the
/// question ends.
fn answers(resp: &[u8], id: u16, question: &[u8]) -> Result<(Header, usize), Rejected> {
    let header = Header::read(&mut Reader::new(resp))?;
    if header.id != id || !header.has(flags::QR) || header.qdcount != 1 {
        return Err(Rejected::Mismatch);
    }
    let qend = HEADER_LEN + question.len();
    match resp.get(HEADER_LEN..qend) {
        Some(q) if q.eq_ignore_ascii_case(question) => {}
        _ => return Err(Rejected::Mismatch),
    }
    if header.has(flags::TC) {
        return Err(Rejected::Truncated);
    }
    Ok((header, qend))
}

/// What [`keep_records`] found in the records the client gets.
struct Kept {
    /// (offset after the question of a TTL field, that TTL).
    ttls: Vec<(u16, u32)>,
    /// Names the answer leads to.
    chain: Vec<NameKey>,
    /// Where the last kept record ends.
    body_end: usize,
    /// The smallest TTL of a kept record.
    min_ttl: Option<u32>,
    /// A negative answer's TTL: its SOA's, capped by the SOA minimum.
    negative_ttl: Option<u32>,
}

/// Walks every record after the question (at `qend`), checking each, and
/// notes what the client gets: the answer section, and the authority
/// section of a `negative` answer. The OPT and what follows it are
/// dropped.
fn keep_records(
    resp: &[u8],
    header: &Header,
    qend: usize,
    negative: bool,
) -> Result<Kept, Rejected> {
    let mut r = Reader::at(resp, qend);
    let mut kept = Kept {
        ttls: Vec::new(),
        chain: Vec::new(),
        body_end: qend,
        min_ttl: None,
        negative_ttl: None,
    };
    let mut opt_seen = false;
    let sections = [
        (0usize, header.ancount),
        (1, header.nscount),
        (2, header.arcount),
    ];
    for (section, count) in sections {
        for _ in 0..count {
            let rr = RecordRef::read(&mut r)?;
            if rr.rtype == TYPE_OPT {
                if section != 2 || opt_seen {
                    return Err(WireError::BadOpt.into());
                }
                // Records after an OPT would shift if it were cut out, and
                // their compression pointers could break; additional
                // records are optional, so drop them with the OPT.
                opt_seen = true;
                continue;
            }
            if opt_seen || section == 2 || (section == 1 && !negative) {
                continue;
            }
            kept.body_end = rr.end;
            // RFC 2181 §8: a TTL with the top bit set means 0.
            let ttl = if rr.ttl > MAX_TTL { 0 } else { rr.ttl };
            // Offsets into a message of at most 64 KiB fit in u16.
            kept.ttls.push(((rr.ttl_at - qend) as u16, ttl));
            kept.min_ttl = Some(kept.min_ttl.map_or(ttl, |m| m.min(ttl)));
            if section == 0 {
                collect_chain(resp, &rr, &mut kept.chain)?;
            }
            if section == 1 && rr.rtype == TYPE_SOA && negative {
                let minimum = soa_minimum(resp, &rr)?;
                kept.negative_ttl = Some(ttl.min(minimum));
            }
        }
    }
    Ok(kept)
}

/// The largest TTL a record may carry (RFC 2181 §8): 2^31 − 1.
pub const MAX_TTL: u32 = i32::MAX as u32;

impl Upstreamed {
    /// Caps every TTL at `max` (in the body and for the cache).
    pub fn cap_ttls(&mut self, max: u32) {
        if self.ttls.iter().all(|&(_, ttl)| ttl <= max) {
            return;
        }
        for (_, ttl) in &mut self.ttls {
            *ttl = (*ttl).min(max);
        }
        patch_ttls(&mut self.body, &self.ttls, 0);
        self.cache_ttl = self.cache_ttl.map(|t| t.min(max));
    }
}

fn collect_chain(msg: &[u8], rr: &RecordRef, chain: &mut Vec<NameKey>) -> Result<(), WireError> {
    chain.push(Reader::at(msg, rr.start).name_key()?);
    let target_at = match rr.rtype {
        TYPE_CNAME | TYPE_DNAME => Some(rr.rdata_at),
        // SvcPriority (2 bytes), then TargetName.
        TYPE_SVCB | TYPE_HTTPS if rr.rdlen > 2 => Some(rr.rdata_at + 2),
        _ => None,
    };
    if let Some(at) = target_at {
        let mut r = Reader::at(&msg[..rr.end], at);
        chain.push(r.name_key()?);
    }
    Ok(())
}

fn soa_minimum(msg: &[u8], rr: &RecordRef) -> Result<u32, WireError> {
    let mut r = Reader::at(&msg[..rr.end], rr.rdata_at);
    r.skip_name()?;
    r.skip_name()?;
    r.take(16)?;
    r.u32()
}

/// Writes the remaining TTLs into a copy of a cached body.
pub fn patch_ttls(body: &mut [u8], ttls: &[(u16, u32)], elapsed: u32) {
    for &(at, ttl) in ttls {
        wire::set_u32(body, usize::from(at), ttl.saturating_sub(elapsed));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dns::wire::{CLASS_IN, TYPE_A, put_header, put_opt};

    const Q: &[u8] = b"\x03www\x07example\x03com\x00\x00\x01\x00\x01";

    fn response(rcode: u8, build: impl FnOnce(&mut Vec<u8>) -> [u16; 3]) -> Vec<u8> {
        let mut body = Vec::new();
        let counts = build(&mut body);
        let mut m = Vec::new();
        put_header(
            &mut m,
            &Header {
                id: 99,
                flags: flags::QR | flags::RD | flags::RA | u16::from(rcode),
                qdcount: 1,
                ancount: counts[0],
                nscount: counts[1],
                arcount: counts[2],
            },
        );
        m.extend_from_slice(Q);
        m.extend_from_slice(&body);
        m
    }

    fn rr(out: &mut Vec<u8>, owner: &[u8], rtype: u16, ttl: u32, rdata: &[u8]) {
        out.extend_from_slice(owner);
        out.extend_from_slice(&rtype.to_be_bytes());
        out.extend_from_slice(&CLASS_IN.to_be_bytes());
        out.extend_from_slice(&ttl.to_be_bytes());
        out.extend_from_slice(&(rdata.len() as u16).to_be_bytes());
        out.extend_from_slice(rdata);
    }

    #[test]
    fn takes_apart_a_cname_chain_and_drops_opt() {
        let m = response(0, |b| {
            // www.example.com CNAME cdn.tracker.test ; cdn.tracker.test A 1.2.3.4 ; OPT
            rr(
                b,
                &[0xC0, 12],
                TYPE_CNAME,
                300,
                b"\x03cdn\x07tracker\x04test\x00",
            );
            let target_at = 12 + Q.len() + 12;
            rr(b, &[0xC0, target_at as u8], TYPE_A, 60, &[1, 2, 3, 4]);
            put_opt(b, 1232, 0, false, &[]);
            [2, 0, 1]
        });
        let u = accept(&m, 99, Q).unwrap();
        assert_eq!(u.counts, [2, 0, 0]);
        assert_eq!(u.cache_ttl, Some(60));
        let names: Vec<String> = u
            .chain
            .iter()
            .map(|k| NameKey::to_forward(k.as_bytes()))
            .collect();
        assert_eq!(
            names,
            ["www.example.com", "cdn.tracker.test", "cdn.tracker.test"]
        );
        assert_eq!(u.ttls.len(), 2);
        assert!(!u.body.is_empty() && u.body.len() < m.len() - 12 - Q.len());
    }

    #[test]
    fn negative_ttl_from_soa() {
        let m = response(RCODE_NXDOMAIN, |b| {
            let mut soa = Vec::new();
            wire::put_name(&mut soa, "ns.example.com");
            wire::put_name(&mut soa, "h.example.com");
            for v in [1u32, 2, 3, 4, 30] {
                soa.extend_from_slice(&v.to_be_bytes());
            }
            rr(b, b"\x07example\x03com\x00", TYPE_SOA, 900, &soa);
            [0, 1, 0]
        });
        let u = accept(&m, 99, Q).unwrap();
        assert_eq!(u.cache_ttl, Some(30));
        assert_eq!(u.rcode(), RCODE_NXDOMAIN);
    }

    #[test]
    fn mismatches_and_truncation() {
        let m = response(0, |_| [0, 0, 0]);
        assert_eq!(accept(&m, 98, Q).unwrap_err(), Rejected::Mismatch);
        let other = b"\x03www\x07example\x03org\x00\x00\x01\x00\x01";
        assert_eq!(accept(&m, 99, other).unwrap_err(), Rejected::Mismatch);
        let upper = b"\x03WWW\x07example\x03com\x00\x00\x01\x00\x01";
        assert!(accept(&m, 99, upper).is_ok());
        let mut tc = m.clone();
        tc[2] |= 0x02;
        assert_eq!(accept(&tc, 99, Q).unwrap_err(), Rejected::Truncated);
        let mut bad = response(0, |b| {
            rr(b, &[0xC0, 12], TYPE_A, 60, &[1, 2, 3, 4]);
            [1, 0, 0]
        });
        bad.truncate(bad.len() - 2);
        assert!(matches!(accept(&bad, 99, Q), Err(Rejected::Malformed(_))));
    }

    #[test]
    fn ttl_patching() {
        let m = response(0, |b| {
            rr(b, &[0xC0, 12], TYPE_A, 60, &[1, 2, 3, 4]);
            [1, 0, 0]
        });
        let u = accept(&m, 99, Q).unwrap();
        let mut body = u.body.clone();
        patch_ttls(&mut body, &u.ttls, 45);
        assert_eq!(&body[6..10], &15u32.to_be_bytes());
        patch_ttls(&mut body, &u.ttls, 100);
        assert_eq!(&body[6..10], &0u32.to_be_bytes());
    }
}
