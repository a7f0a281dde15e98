//! The `Cache-Control` of a DoH answer (RFC 8484 §5.1): an HTTP cache may
//! keep an answer no longer than the DNS would. Pure.
//!
//! * NOERROR or NXDOMAIN with records: `max-age` of the smallest TTL in
//!   the answer and authority sections, an SOA's MINIMUM counting as a
//!   TTL too (RFC 2308's negative TTL);
//! * NOERROR or NXDOMAIN without records (nothing says how long it
//!   holds): `max-age=0`;
//! * any other RCODE (SERVFAIL, REFUSED, FORMERR, …) or a message that
//!   does not parse: `no-store`, since such an answer says something
//!   about this moment or this client, not about the name.

use crate::dns::wire::{
    Header, RCODE_NOERROR, RCODE_NXDOMAIN, Reader, RecordRef, TYPE_OPT, TYPE_SOA,
};

/// How long an HTTP cache may keep an answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Freshness {
    MaxAge(u32),
    NoStore,
}

impl Freshness {
    /// The `Cache-Control` header value.
    pub fn header_value(self) -> String {
        match self {
            Self::MaxAge(secs) => format!("max-age={secs}"),
            Self::NoStore => "no-store".to_owned(),
        }
    }
}

/// The freshness of an encoded answer.
pub fn of_answer(answer: &[u8]) -> Freshness {
    smallest_ttl(answer).unwrap_or(Freshness::NoStore)
}

fn smallest_ttl(answer: &[u8]) -> Option<Freshness> {
    let mut r = Reader::new(answer);
    let h = Header::read(&mut r).ok()?;
    if !matches!(h.rcode(), RCODE_NOERROR | RCODE_NXDOMAIN) {
        return None;
    }
    for _ in 0..h.qdcount {
        r.skip_name().ok()?;
        r.take(4).ok()?;
    }
    let mut smallest: Option<u32> = None;
    for _ in 0..u32::from(h.ancount) + u32::from(h.nscount) {
        let rec = RecordRef::read(&mut r).ok()?;
        if rec.rtype == TYPE_OPT {
            continue;
        }
        // A TTL with the top bit set is read as 0 (RFC 2181 §8).
        let mut ttl = if rec.ttl > i32::MAX as u32 {
            0
        } else {
            rec.ttl
        };
        if rec.rtype == TYPE_SOA && rec.rdlen >= 4 {
            let end = rec.rdata_at + rec.rdlen;
            let minimum = answer.get(end - 4..end)?;
            ttl = ttl.min(u32::from_be_bytes([
                minimum[0], minimum[1], minimum[2], minimum[3],
            ]));
        }
        smallest = Some(smallest.map_or(ttl, |s| s.min(ttl)));
    }
    Some(Freshness::MaxAge(smallest.unwrap_or(0)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dns::wire::{
        CLASS_IN, RCODE_SERVFAIL, TYPE_A, flags, put_header, put_name, put_opt, put_record_at_qname,
    };

    fn answer(rcode: u8, records: &[(u16, u32, Vec<u8>)], authority: usize) -> Vec<u8> {
        let mut out = Vec::new();
        put_header(
            &mut out,
            &Header {
                id: 0,
                flags: flags::QR | flags::RA | u16::from(rcode),
                qdcount: 1,
                ancount: (records.len() - authority) as u16,
                nscount: authority as u16,
                arcount: 1,
            },
        );
        put_name(&mut out, "example.test");
        out.extend_from_slice(&TYPE_A.to_be_bytes());
        out.extend_from_slice(&CLASS_IN.to_be_bytes());
        for (t, ttl, rdata) in records {
            put_record_at_qname(&mut out, *t, CLASS_IN, *ttl, rdata);
        }
        put_opt(&mut out, 1232, 0, false, &[]);
        out
    }

    fn soa(minimum: u32) -> Vec<u8> {
        let mut rdata = vec![0, 0];
        rdata.extend_from_slice(&[0; 16]);
        rdata.extend_from_slice(&minimum.to_be_bytes());
        rdata
    }

    #[test]
    fn smallest_ttl_of_the_answers() {
        let a = answer(
            0,
            &[
                (TYPE_A, 300, vec![192, 0, 2, 1]),
                (TYPE_A, 60, vec![192, 0, 2, 2]),
            ],
            0,
        );
        assert_eq!(of_answer(&a), Freshness::MaxAge(60));
        assert_eq!(of_answer(&a).header_value(), "max-age=60");
    }

    #[test]
    fn negative_answers_use_the_soa_minimum() {
        let a = answer(RCODE_NXDOMAIN, &[(TYPE_SOA, 3600, soa(30))], 1);
        assert_eq!(of_answer(&a), Freshness::MaxAge(30));
        let a = answer(0, &[(TYPE_SOA, 10, soa(300))], 1);
        assert_eq!(of_answer(&a), Freshness::MaxAge(10));
    }

    #[test]
    fn no_records_is_max_age_0_and_errors_are_not_stored() {
        assert_eq!(of_answer(&answer(0, &[], 0)), Freshness::MaxAge(0));
        assert_eq!(
            of_answer(&answer(RCODE_SERVFAIL, &[(TYPE_A, 60, vec![0; 4])], 0)),
            Freshness::NoStore
        );
        assert_eq!(Freshness::NoStore.header_value(), "no-store");
        assert_eq!(of_answer(b"junk"), Freshness::NoStore);
    }

    #[test]
    fn a_ttl_with_the_top_bit_is_zero() {
        let a = answer(0, &[(TYPE_A, 0x8000_0000, vec![192, 0, 2, 1])], 0);
        assert_eq!(of_answer(&a), Freshness::MaxAge(0));
    }
}
