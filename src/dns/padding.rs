//! EDNS(0) Padding (RFC 7830) for the encrypted transports, with the
//! block-length strategy of RFC 8467 §4.1: a response is padded so that
//! its length is a multiple of [`RESPONSE_BLOCK`] (468) bytes, which hides
//! the exact size of an answer (and so which name it was for) from an
//! observer of the TLS records.
//!
//! [`pad`] works on an encoded response, whatever built it (a blocked
//! answer, a cache hit, a forward): it adds the Padding option (code 12)
//! to the message's OPT record, or resizes one already there. It pads
//! only a message with an OPT record, i.e. one answering a query that
//! carried EDNS (RFC 7830 §3: no OPT in the query, no padding), and only
//! when the OPT record is the message's last record (always so for
//! ward's own answers; a record after it, such as a TSIG, would be
//! invalidated, and names after it may point into it). A message is
//! never made longer than 65,535 bytes. Pure; fuzzed by `doh_request`.

use super::wire::{Header, Reader, RecordRef, TYPE_OPT, WireError, opt_options, set_u16};

/// The block length responses are padded to (RFC 8467 §4.1).
pub const RESPONSE_BLOCK: usize = 468;
/// EDNS option code of Padding (RFC 7830).
pub const OPT_PADDING: u16 = 12;
/// The largest DNS message over a stream transport.
const MAX_MESSAGE: usize = u16::MAX as usize;

/// What [`pad`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Padding {
    /// The message now ends in a Padding option and its length is a
    /// multiple of the block.
    Padded,
    /// No OPT record: the query had no EDNS, so the answer is not padded.
    NoOpt,
    /// The OPT record is not the last record: left as it is.
    OptNotLast,
    /// Padding to the next block would pass 65,535 bytes: left as it is.
    TooLarge,
    /// Not a well-formed message: left as it is.
    Malformed(WireError),
}

/// Pads `msg` (an encoded DNS message) to a multiple of `block` bytes
/// (a `block` of 0 is read as 1) by adding or resizing the Padding option
/// of its OPT record. Any Padding options already there are replaced by
/// one; other options keep their order. The message is left unchanged
/// unless the result is [`Padding::Padded`].
pub fn pad(msg: &mut Vec<u8>, block: usize) -> Padding {
    let block = block.max(1);
    let opt = match find_opt(msg) {
        Ok(Some(opt)) => opt,
        Ok(None) => return Padding::NoOpt,
        Err(e) => return Padding::Malformed(e),
    };
    if opt.end != msg.len() {
        return Padding::OptNotLast;
    }
    let mut kept = Vec::with_capacity(opt.rdlen);
    let rdata = &msg[opt.rdata_at..opt.end];
    let read = opt_options(rdata, |code, data| {
        if code != OPT_PADDING {
            kept.extend_from_slice(&code.to_be_bytes());
            // `data` came out of a u16 length field.
            kept.extend_from_slice(&(data.len() as u16).to_be_bytes());
            kept.extend_from_slice(data);
        }
    });
    if let Err(e) = read {
        return Padding::Malformed(e);
    }
    // The message with an empty Padding option; the option's content
    // brings it to the next multiple of the block.
    let unpadded = opt.rdata_at + kept.len() + 4;
    let fill = (block - unpadded % block) % block;
    let total = unpadded + fill;
    let rdlen = kept.len() + 4 + fill;
    if total > MAX_MESSAGE || rdlen > MAX_MESSAGE {
        return Padding::TooLarge;
    }
    msg.truncate(opt.rdata_at);
    msg.extend_from_slice(&kept);
    msg.extend_from_slice(&OPT_PADDING.to_be_bytes());
    // Both below 65,536: checked above.
    msg.extend_from_slice(&(fill as u16).to_be_bytes());
    msg.resize(total, 0);
    set_u16(msg, opt.rdata_at - 2, rdlen as u16);
    Padding::Padded
}

/// The OPT record of the additional section, if any; an error when the
/// message is malformed, has trailing bytes or more than one OPT.
fn find_opt(msg: &[u8]) -> Result<Option<RecordRef>, WireError> {
    let mut r = Reader::new(msg);
    let h = Header::read(&mut r)?;
    for _ in 0..h.qdcount {
        r.skip_name()?;
        r.take(4)?;
    }
    let before_additional = u32::from(h.ancount) + u32::from(h.nscount);
    let mut opt = None;
    for i in 0..before_additional + u32::from(h.arcount) {
        let rec = RecordRef::read(&mut r)?;
        if rec.rtype == TYPE_OPT && i >= before_additional {
            if opt.is_some() {
                return Err(WireError::DuplicateOpt);
            }
            if msg.get(rec.start) != Some(&0) {
                return Err(WireError::BadOpt);
            }
            opt = Some(rec);
        }
    }
    if r.remaining() > 0 {
        return Err(WireError::Trailing {
            extra: r.remaining(),
        });
    }
    Ok(opt)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dns::wire::{
        CLASS_IN, Header, TYPE_A, flags, put_header, put_name, put_opt, put_record_at_qname,
    };

    /// A response to `example.test A` with `answers` A records and, when
    /// `options` is `Some`, an OPT record carrying them.
    fn response(answers: u16, options: Option<&[(u16, &[u8])]>) -> Vec<u8> {
        let mut out = Vec::new();
        put_header(
            &mut out,
            &Header {
                id: 7,
                flags: flags::QR | flags::RD | flags::RA,
                qdcount: 1,
                ancount: answers,
                nscount: 0,
                arcount: u16::from(options.is_some()),
            },
        );
        put_name(&mut out, "example.test");
        out.extend_from_slice(&TYPE_A.to_be_bytes());
        out.extend_from_slice(&CLASS_IN.to_be_bytes());
        for i in 0..answers {
            put_record_at_qname(&mut out, TYPE_A, CLASS_IN, 60, &[192, 0, 2, i as u8]);
        }
        if let Some(options) = options {
            put_opt(&mut out, 1232, 0, false, options);
        }
        out
    }

    /// The options of the message's OPT record, in order.
    fn options(msg: &[u8]) -> Vec<(u16, Vec<u8>)> {
        let opt = find_opt(msg).unwrap().unwrap();
        let mut v = Vec::new();
        opt_options(&msg[opt.rdata_at..opt.end], |c, d| v.push((c, d.to_vec()))).unwrap();
        v
    }

    #[test]
    fn pads_to_the_block_and_keeps_other_options() {
        let ede: &[u8] = &[0, 16, b'x'];
        let mut msg = response(2, Some(&[(15, ede)]));
        let before = msg.clone();
        assert_eq!(pad(&mut msg, RESPONSE_BLOCK), Padding::Padded);
        assert_eq!(msg.len(), RESPONSE_BLOCK);
        let opts = options(&msg);
        assert_eq!(opts[0], (15, ede.to_vec()));
        assert_eq!(opts[1].0, OPT_PADDING);
        assert!(opts[1].1.iter().all(|&b| b == 0));
        assert_eq!(opts.len(), 2);
        // Everything before the OPT's RDATA length is untouched.
        let opt = find_opt(&before).unwrap().unwrap();
        assert_eq!(msg[..opt.rdata_at - 2], before[..opt.rdata_at - 2]);
    }

    #[test]
    fn resizes_existing_padding_and_is_idempotent() {
        let mut msg = response(1, Some(&[(OPT_PADDING, &[0; 1000])]));
        assert!(msg.len() > RESPONSE_BLOCK);
        assert_eq!(pad(&mut msg, RESPONSE_BLOCK), Padding::Padded);
        assert_eq!(msg.len(), RESPONSE_BLOCK);
        assert_eq!(options(&msg).len(), 1);
        let once = msg.clone();
        assert_eq!(pad(&mut msg, RESPONSE_BLOCK), Padding::Padded);
        assert_eq!(msg, once);
    }

    #[test]
    fn an_exact_multiple_gets_an_empty_option() {
        // Grow the message until the empty option lands on the block.
        for answers in 0..40 {
            let mut msg = response(answers, Some(&[]));
            assert_eq!(pad(&mut msg, 64), Padding::Padded);
            assert_eq!(msg.len() % 64, 0, "{answers} answers");
            let opts = options(&msg);
            assert_eq!(opts.len(), 1);
            assert!(opts[0].1.len() < 64);
        }
    }

    #[test]
    fn no_opt_means_no_padding() {
        let mut msg = response(1, None);
        let before = msg.clone();
        assert_eq!(pad(&mut msg, RESPONSE_BLOCK), Padding::NoOpt);
        assert_eq!(msg, before);
    }

    #[test]
    fn an_opt_before_another_record_is_left_alone() {
        let mut msg = response(1, Some(&[]));
        // Another additional record after the OPT.
        put_record_at_qname(&mut msg, TYPE_A, CLASS_IN, 60, &[192, 0, 2, 9]);
        msg[11] = 2;
        let before = msg.clone();
        assert_eq!(pad(&mut msg, RESPONSE_BLOCK), Padding::OptNotLast);
        assert_eq!(msg, before);
    }

    #[test]
    fn never_past_65535_bytes() {
        // One big option: 65,000 bytes of message, whose next multiple of
        // 468 (65,052 → 65,520 is fine) or, with a bigger one, past the cap.
        let big = vec![1u8; 65_480];
        let mut msg = response(0, Some(&[(65001, &big)]));
        let before = msg.clone();
        assert!(msg.len() + 4 > 65_520, "{}", msg.len());
        assert_eq!(pad(&mut msg, RESPONSE_BLOCK), Padding::TooLarge);
        assert_eq!(msg, before);
        let mut msg = response(0, Some(&[(65001, &big[..60_000])]));
        assert_eq!(pad(&mut msg, RESPONSE_BLOCK), Padding::Padded);
        assert_eq!(msg.len() % RESPONSE_BLOCK, 0);
        assert!(msg.len() <= 65_535);
    }

    #[test]
    fn malformed_messages_are_left_alone() {
        for bytes in [
            &b""[..],
            &[0; 11],
            &[0, 0, 0x80, 0, 0, 1, 0, 0, 0, 0, 0, 0][..],
        ] {
            let mut msg = bytes.to_vec();
            assert!(matches!(pad(&mut msg, 468), Padding::Malformed(_)));
            assert_eq!(msg, bytes);
        }
        let mut trailing = response(1, Some(&[]));
        trailing.push(0);
        assert!(matches!(
            pad(&mut trailing.clone(), 468),
            Padding::Malformed(WireError::Trailing { extra: 1 })
        ));
    }
}
