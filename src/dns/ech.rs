//! Removing `ech` (SvcParamKey 5, RFC 9460 §14.3.2 and the ECH draft)
//! from the HTTPS and SVCB records of an answer, for profiles whose
//! `[profile.bypass] ech` is on: without an ECH configuration a browser
//! sends its real server name in the clear, where the SNI filter can
//! judge it.
//!
//! The input is an answer's record bytes as ward keeps them (what follows
//! the question: `response::Upstreamed::body`, a cache entry's body), so
//! compression pointers count from `base`, where the body starts in the
//! message (header and question before it; the client's question has the
//! same length as the one ward asked). Taking bytes out of a record moves
//! everything after it, so every pointer in the body is rewritten: in
//! owner names, in the RDATA names of the types that may be compressed
//! (NS, CNAME, SOA, PTR, MX, and DNAME, SRV and the SVCB TargetName,
//! which must not be but sometimes are), and the TTL offsets the cache
//! counts down move with their records. A pointer into bytes that were
//! taken out cannot be rewritten: that answer is an error, never passed on
//! with its `ech`.
//!
//! A `mandatory` list (key 0) that names `ech` loses that entry (and goes
//! when it empties), so the record stays valid without it.
//!
//! Pure and bounds-checked: any bytes give `Ok` or an error, never a
//! panic (fuzzed through `fuzz_targets/dns_query.rs`).

use super::wire::{
    HEADER_LEN, TYPE_CNAME, TYPE_DNAME, TYPE_HTTPS, TYPE_NS, TYPE_SOA, TYPE_SVCB, WireError,
};

/// SvcParamKey `ech`.
pub const KEY_ECH: u16 = 5;
/// SvcParamKey `mandatory`.
pub const KEY_MANDATORY: u16 = 0;

const TYPE_PTR: u16 = 12;
const TYPE_MX: u16 = 15;
const TYPE_SRV: u16 = 33;

/// Can an answer to `qtype` carry SVCB-form records?
#[inline]
pub fn applies(qtype: u16) -> bool {
    qtype == TYPE_HTTPS || qtype == TYPE_SVCB
}

/// A body with `ech` taken out, and its TTL offsets moved to match.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stripped {
    pub body: Vec<u8>,
    pub ttls: Vec<(u16, u32)>,
    /// How many `ech` parameters were taken out.
    pub removed: usize,
}

/// Why a body could not be stripped.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StripError {
    #[error(transparent)]
    Wire(#[from] WireError),
    #[error("malformed SvcParams at byte {at}")]
    BadParams { at: usize },
    #[error("compression pointer at byte {at} points where no name is")]
    BadPointer { at: usize },
}

/// One record's SvcParams, rewritten.
#[derive(Debug)]
struct Edit {
    /// Where its params start and end (body offsets).
    from: usize,
    to: usize,
    params: Vec<u8>,
}

impl Edit {
    fn shrink(&self) -> usize {
        (self.to - self.from) - self.params.len()
    }
}

/// Takes `ech` out of every SVCB and HTTPS record of `body` (`counts`
/// records, starting at message offset `base`, with TTL fields at
/// `ttls`). `Ok(None)` when no record has one: nothing to change.
pub fn strip(
    base: usize,
    body: &[u8],
    counts: [u16; 3],
    ttls: &[(u16, u32)],
) -> Result<Option<Stripped>, StripError> {
    let total: usize = counts.iter().map(|&c| usize::from(c)).sum();
    let mut edits = Vec::new();
    let mut pos = 0;
    for _ in 0..total {
        let rr = Record::read(body, pos)?;
        if (rr.rtype == TYPE_SVCB || rr.rtype == TYPE_HTTPS)
            && let Some(edit) = svc_edit(body, &rr)?
        {
            edits.push(edit);
        }
        pos = rr.end;
    }
    if edits.is_empty() {
        return Ok(None);
    }
    let removed = edits.len();
    let map = Map {
        base,
        len: body.len(),
        edits: &edits,
    };
    let shrink: usize = edits.iter().map(Edit::shrink).sum();
    let mut out = Vec::with_capacity(body.len() - shrink);
    let mut pos = 0;
    let mut next_edit = edits.iter().peekable();
    for _ in 0..total {
        let rr = Record::read(body, pos)?;
        copy_name(body, rr.start, rr.fixed, &mut out, &map)?;
        // Type, class, TTL; then RDLENGTH, perhaps shorter.
        out.extend_from_slice(&body[rr.fixed..rr.fixed + 8]);
        let edit = next_edit.next_if(|e| e.from >= rr.rdata && e.to <= rr.end);
        let rdlen = (rr.end - rr.rdata) - edit.map_or(0, |e| e.shrink());
        // Never more than the original's, which fit in 16 bits.
        out.extend_from_slice(&(rdlen as u16).to_be_bytes());
        copy_rdata(body, &rr, edit, &mut out, &map)?;
        pos = rr.end;
    }
    let ttls = ttls
        .iter()
        .map(|&(at, ttl)| {
            let at = map.body_offset(usize::from(at))?;
            // Below the original offset, which fit in 16 bits.
            Ok((at as u16, ttl))
        })
        .collect::<Result<_, StripError>>()?;
    Ok(Some(Stripped {
        body: out,
        ttls,
        removed,
    }))
}

/// One record's offsets in the body.
#[derive(Debug)]
struct Record {
    start: usize,
    /// Where the type field starts (just past the owner name).
    fixed: usize,
    rtype: u16,
    rdata: usize,
    end: usize,
}

impl Record {
    fn read(body: &[u8], start: usize) -> Result<Self, WireError> {
        let fixed = name_end(body, start, body.len())?;
        let field = |at: usize| -> Result<u16, WireError> {
            match body.get(at..at + 2) {
                Some(b) => Ok(u16::from_be_bytes([b[0], b[1]])),
                None => Err(WireError::Short { at }),
            }
        };
        let rtype = field(fixed)?;
        let rdlen = usize::from(field(fixed + 8)?);
        let rdata = fixed + 10;
        let end = rdata + rdlen;
        if end > body.len() {
            return Err(WireError::Short { at: rdata });
        }
        Ok(Self {
            start,
            fixed,
            rtype,
            rdata,
            end,
        })
    }
}

/// Where the name at `pos` ends in place (after its root label or its
/// pointer), if it ends by `limit`; and where its pointer is, if it has
/// one.
fn name_at(buf: &[u8], mut pos: usize, limit: usize) -> Result<(usize, Option<usize>), WireError> {
    let limit = limit.min(buf.len());
    loop {
        let len = *buf
            .get(pos)
            .filter(|_| pos < limit)
            .ok_or(WireError::Short { at: pos })?;
        match len & 0xC0 {
            0x00 if len == 0 => return Ok((pos + 1, None)),
            0x00 => pos += 1 + usize::from(len),
            0xC0 if pos + 2 <= limit => return Ok((pos + 2, Some(pos))),
            0xC0 => return Err(WireError::Short { at: pos }),
            _ => return Err(WireError::LabelType { at: pos }),
        }
    }
}

/// [`name_at`]'s end alone.
fn name_end(buf: &[u8], pos: usize, limit: usize) -> Result<usize, WireError> {
    name_at(buf, pos, limit).map(|(end, _)| end)
}

/// The edit of an SVCB/HTTPS record's params, if it has `ech`.
fn svc_edit(body: &[u8], rr: &Record) -> Result<Option<Edit>, StripError> {
    // SvcPriority, then TargetName, then the params to the end.
    let target = rr.rdata + 2;
    if target > rr.end {
        return Err(StripError::BadParams { at: rr.rdata });
    }
    let from = name_end(body, target, rr.end)?;
    let params = &body[from..rr.end];
    if !params_of(params, from)?.any(|(key, _)| key == KEY_ECH) {
        return Ok(None);
    }
    let mut out = Vec::with_capacity(params.len());
    for (key, value) in params_of(params, from)? {
        match key {
            KEY_ECH => {}
            KEY_MANDATORY => {
                if value.len() % 2 != 0 {
                    return Err(StripError::BadParams { at: from });
                }
                let keep: Vec<u8> = value
                    .chunks_exact(2)
                    .filter(|k| u16::from_be_bytes([k[0], k[1]]) != KEY_ECH)
                    .flatten()
                    .copied()
                    .collect();
                if !keep.is_empty() {
                    put_param(&mut out, key, &keep);
                }
            }
            _ => put_param(&mut out, key, value),
        }
    }
    Ok(Some(Edit {
        from,
        to: rr.end,
        params: out,
    }))
}

/// Each `(key, value)` of `params` (which start at body offset `at`), once
/// the whole list is known to be well formed.
fn params_of(params: &[u8], at: usize) -> Result<impl Iterator<Item = (u16, &[u8])>, StripError> {
    let mut rest = params;
    while !rest.is_empty() {
        let bad = StripError::BadParams {
            at: at + params.len() - rest.len(),
        };
        let [_, _, l0, l1, tail @ ..] = rest else {
            return Err(bad);
        };
        let len = usize::from(u16::from_be_bytes([*l0, *l1]));
        rest = tail.get(len..).ok_or(bad)?;
    }
    let mut rest = params;
    Ok(std::iter::from_fn(move || {
        let [k0, k1, l0, l1, tail @ ..] = rest else {
            return None;
        };
        let len = usize::from(u16::from_be_bytes([*l0, *l1]));
        let (value, tail) = tail.split_at_checked(len)?;
        rest = tail;
        Some((u16::from_be_bytes([*k0, *k1]), value))
    }))
}

fn put_param(out: &mut Vec<u8>, key: u16, value: &[u8]) {
    out.extend_from_slice(&key.to_be_bytes());
    // A value from a param that fit, or a shorter mandatory list.
    out.extend_from_slice(&(value.len() as u16).to_be_bytes());
    out.extend_from_slice(value);
}

/// Old offsets to new ones.
struct Map<'a> {
    /// Where the body starts in the message.
    base: usize,
    /// The old body's length.
    len: usize,
    /// In body order.
    edits: &'a [Edit],
}

impl Map<'_> {
    /// The new body offset of old body offset `at`; an error inside
    /// params that changed (no name or TTL is there).
    fn body_offset(&self, at: usize) -> Result<usize, StripError> {
        if at >= self.len {
            return Err(StripError::BadPointer { at });
        }
        let mut shift = 0;
        for e in self.edits {
            if at >= e.to {
                shift += e.shrink();
            } else if at >= e.from {
                return Err(StripError::BadPointer { at });
            }
        }
        Ok(at - shift)
    }

    /// A compression pointer's new target.
    fn pointer(&self, target: usize) -> Result<usize, StripError> {
        if target < HEADER_LEN {
            return Err(StripError::BadPointer { at: target });
        }
        match target.checked_sub(self.base) {
            None => Ok(target),
            Some(at) => Ok(self.base + self.body_offset(at)?),
        }
    }
}

/// Copies the name at `pos` (which must end by `limit`) with its pointer,
/// if any, moved; returns where it ended.
fn copy_name(
    body: &[u8],
    pos: usize,
    limit: usize,
    out: &mut Vec<u8>,
    map: &Map<'_>,
) -> Result<usize, StripError> {
    let (end, pointer) = name_at(body, pos, limit)?;
    let Some(last) = pointer else {
        out.extend_from_slice(&body[pos..end]);
        return Ok(end);
    };
    out.extend_from_slice(&body[pos..last]);
    let target = (usize::from(body[last] & 0x3F) << 8) | usize::from(body[last + 1]);
    let moved = map.pointer(target)?;
    // Never above the old target, which fit in 14 bits.
    out.extend_from_slice(&(0xC000 | moved as u16).to_be_bytes());
    Ok(end)
}

/// Copies a record's RDATA, its names' pointers moved and `edit`'s params
/// in place of the old ones.
fn copy_rdata(
    body: &[u8],
    rr: &Record,
    edit: Option<&Edit>,
    out: &mut Vec<u8>,
    map: &Map<'_>,
) -> Result<(), StripError> {
    let (at, end) = (rr.rdata, rr.end);
    // The RDATA as fixed bytes and names: (bytes before, names).
    let (fixed, names): (usize, usize) = match rr.rtype {
        TYPE_NS | TYPE_CNAME | TYPE_DNAME | TYPE_PTR => (0, 1),
        TYPE_MX => (2, 1),
        TYPE_SRV => (6, 1),
        TYPE_SVCB | TYPE_HTTPS => (2, 1),
        TYPE_SOA => (0, 2),
        _ => {
            out.extend_from_slice(&body[at..end]);
            return Ok(());
        }
    };
    if at + fixed > end {
        return Err(WireError::Short { at }.into());
    }
    out.extend_from_slice(&body[at..at + fixed]);
    let mut pos = at + fixed;
    for _ in 0..names {
        pos = copy_name(body, pos, end, out, map)?;
    }
    match edit {
        Some(e) if e.from == pos => out.extend_from_slice(&e.params),
        Some(_) => return Err(StripError::BadParams { at: pos }),
        None => out.extend_from_slice(&body[pos..end]),
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dns::wire::{CLASS_IN, TYPE_A};

    /// `www.example.test. HTTPS` as a question (17 + 4 bytes).
    const QUESTION: &[u8] = b"\x03www\x07example\x04test\x00\x00\x41\x00\x01";
    const BASE: usize = HEADER_LEN + QUESTION.len();

    fn rr(out: &mut Vec<u8>, owner: &[u8], rtype: u16, ttl: u32, rdata: &[u8]) -> (u16, u32) {
        out.extend_from_slice(owner);
        out.extend_from_slice(&rtype.to_be_bytes());
        out.extend_from_slice(&CLASS_IN.to_be_bytes());
        let at = out.len() as u16;
        out.extend_from_slice(&ttl.to_be_bytes());
        out.extend_from_slice(&(rdata.len() as u16).to_be_bytes());
        out.extend_from_slice(rdata);
        (at, ttl)
    }

    fn param(key: u16, value: &[u8]) -> Vec<u8> {
        let mut p = Vec::new();
        put_param(&mut p, key, value);
        p
    }

    /// Priority 1, target `.`, then `params`.
    fn https(params: &[&[u8]]) -> Vec<u8> {
        let mut rdata = vec![0, 1, 0];
        for p in params {
            rdata.extend_from_slice(p);
        }
        rdata
    }

    /// The message a client would get: header, question, body.
    fn message(body: &[u8], counts: [u16; 3]) -> Vec<u8> {
        let mut m = vec![0, 1, 0x81, 0x80, 0, 1];
        for c in counts {
            m.extend_from_slice(&c.to_be_bytes());
        }
        m.extend_from_slice(QUESTION);
        m.extend_from_slice(body);
        m
    }

    fn parse(m: &[u8]) -> hickory_proto::op::Message {
        hickory_proto::op::Message::from_vec(m).expect("the stripped message parses")
    }

    #[test]
    fn takes_ech_out_and_keeps_the_rest() {
        let alpn = param(1, b"\x02h2\x02h3");
        let ech = param(KEY_ECH, b"\x00\x05hello");
        let hint = param(4, &[192, 0, 2, 10]);
        let mut body = Vec::new();
        let t1 = rr(
            &mut body,
            &[0xC0, 0x0C],
            TYPE_HTTPS,
            300,
            &https(&[&alpn, &hint, &ech]),
        );
        // An A record whose owner is new, then one that points at it:
        // both after the cut, so the pointer must move.
        let owner_at = body.len();
        let t2 = rr(&mut body, b"\x01x\xC0\x10", TYPE_A, 60, &[192, 0, 2, 1]);
        let ptr = (BASE + owner_at) as u16 | 0xC000;
        let t3 = rr(&mut body, &ptr.to_be_bytes(), TYPE_A, 30, &[192, 0, 2, 2]);
        let ttls = [t1, t2, t3];
        let before = format!("{:?}", parse(&message(&body, [3, 0, 0])).answers);
        assert!(before.contains("EchConfig"), "{before}");
        let s = strip(BASE, &body, [3, 0, 0], &ttls).unwrap().unwrap();
        assert_eq!(s.removed, 1);
        assert_eq!(s.body.len(), body.len() - ech.len());
        let m = parse(&message(&s.body, [3, 0, 0]));
        let answers = m.answers;
        assert_eq!(answers.len(), 3);
        let text = format!("{answers:?}");
        assert!(!text.contains("EchConfig"), "{text}");
        assert!(text.contains("h3") && text.contains("192.0.2.10"), "{text}");
        assert_eq!(answers[2].name.to_ascii(), "x.example.test.");
        assert_eq!(answers[1].name.to_ascii(), "x.example.test.");
        // TTL offsets moved with their records.
        for (&(at, ttl), record) in s.ttls.iter().zip(&answers) {
            let at = usize::from(at);
            let got = u32::from_be_bytes(s.body[at..at + 4].try_into().unwrap());
            assert_eq!((got, ttl), (record.ttl, record.ttl));
        }
        // Stripping again finds nothing.
        assert_eq!(strip(BASE, &s.body, [3, 0, 0], &s.ttls).unwrap(), None);
    }

    #[test]
    fn without_ech_nothing_changes() {
        let mut body = Vec::new();
        let t = rr(
            &mut body,
            &[0xC0, 0x0C],
            TYPE_HTTPS,
            300,
            &https(&[&param(1, b"\x02h2")]),
        );
        assert_eq!(strip(BASE, &body, [1, 0, 0], &[t]).unwrap(), None);
        let mut body = Vec::new();
        let t = rr(&mut body, &[0xC0, 0x0C], TYPE_A, 300, &[192, 0, 2, 1]);
        assert_eq!(strip(BASE, &body, [1, 0, 0], &[t]).unwrap(), None);
        assert_eq!(strip(BASE, &[], [0, 0, 0], &[]).unwrap(), None);
    }

    #[test]
    fn mandatory_loses_ech() {
        let ech = param(KEY_ECH, b"\x00\x01x");
        let alpn = param(1, b"\x02h2");
        // mandatory = alpn, ech: keeps alpn.
        let mut body = Vec::new();
        let mandatory = param(KEY_MANDATORY, &[0, 1, 0, 5]);
        let t = rr(
            &mut body,
            &[0xC0, 0x0C],
            TYPE_HTTPS,
            300,
            &https(&[&mandatory, &alpn, &ech]),
        );
        let s = strip(BASE, &body, [1, 0, 0], &[t]).unwrap().unwrap();
        let want = https(&[&param(KEY_MANDATORY, &[0, 1]), &alpn]);
        assert!(s.body.ends_with(&want), "{:?}", s.body);
        // mandatory = ech alone: the whole key goes.
        let mut body = Vec::new();
        let mandatory = param(KEY_MANDATORY, &[0, 5]);
        let t = rr(
            &mut body,
            &[0xC0, 0x0C],
            TYPE_SVCB,
            300,
            &https(&[&mandatory, &alpn, &ech]),
        );
        let s = strip(BASE, &body, [1, 0, 0], &[t]).unwrap().unwrap();
        assert!(s.body.ends_with(&https(&[&alpn])), "{:?}", s.body);
        parse(&message(&s.body, [1, 0, 0]));
    }

    #[test]
    fn a_cname_chain_and_several_records() {
        let ech = param(KEY_ECH, b"\x00\x02ab");
        let mut body = Vec::new();
        let mut ttls = vec![rr(
            &mut body,
            &[0xC0, 0x0C],
            TYPE_CNAME,
            300,
            b"\x03cdn\xC0\x10",
        )];
        let target_at = (BASE + body.len() - 6) as u16 | 0xC000;
        for i in 0..3u8 {
            let rdata = https(&[&param(1, b"\x02h2"), &param(4, &[192, 0, 2, i]), &ech]);
            ttls.push(rr(
                &mut body,
                &target_at.to_be_bytes(),
                TYPE_HTTPS,
                60,
                &rdata,
            ));
        }
        let s = strip(BASE, &body, [4, 0, 0], &ttls).unwrap().unwrap();
        assert_eq!(s.removed, 3);
        let m = parse(&message(&s.body, [4, 0, 0]));
        assert_eq!(m.answers.len(), 4);
        for r in &m.answers[1..] {
            assert_eq!(r.name.to_ascii(), "cdn.example.test.");
        }
        assert!(!format!("{:?}", m.answers).contains("EchConfig"));
    }

    #[test]
    fn bad_bytes_are_errors() {
        let ech = param(KEY_ECH, b"\x00\x01x");
        let mut good = Vec::new();
        let t = rr(&mut good, &[0xC0, 0x0C], TYPE_HTTPS, 300, &https(&[&ech]));
        // Every truncation and every single-byte change: no panic.
        for cut in 0..good.len() {
            let _ = strip(BASE, &good[..cut], [1, 0, 0], &[t]);
        }
        for i in 0..good.len() {
            for b in [0x00, 0x3F, 0x40, 0xC0, 0xFF] {
                let mut bad = good.clone();
                bad[i] = b;
                let _ = strip(BASE, &bad, [1, 0, 0], &[t]);
                let _ = strip(0, &bad, [1, 1, 1], &[(u16::MAX, 1)]);
            }
        }
        // A param running past the record.
        let mut body = Vec::new();
        let mut rdata = https(&[&ech]);
        rdata.extend_from_slice(&[0, 1, 0, 9, 1]);
        rr(&mut body, &[0xC0, 0x0C], TYPE_HTTPS, 300, &rdata);
        assert!(matches!(
            strip(BASE, &body, [1, 0, 0], &[]),
            Err(StripError::BadParams { .. })
        ));
        // A later pointer into the params that were taken out.
        let mut body = Vec::new();
        rr(&mut body, &[0xC0, 0x0C], TYPE_HTTPS, 300, &https(&[&ech]));
        let into = (BASE + body.len() - 2) as u16 | 0xC000;
        rr(&mut body, &into.to_be_bytes(), TYPE_A, 300, &[192, 0, 2, 1]);
        assert!(matches!(
            strip(BASE, &body, [2, 0, 0], &[]),
            Err(StripError::BadPointer { .. })
        ));
    }
}
