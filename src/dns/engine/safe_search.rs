//! The engine's safe-search step: a name of a search engine that the
//! client's profile enforces (`[profile.safe_search]`) is answered as a
//! CNAME to the engine's restricted host, followed by that host's own
//! records.
//!
//! ```text
//! www.google.com.vn. A?  ─▶  www.google.com.vn.          CNAME forcesafesearch.google.com.
//!                            forcesafesearch.google.com.  A     216.239.38.120
//! ```
//!
//! * Only after the national list and the profile's own lists allow the
//!   question: a blocked name stays blocked. The target is judged the
//!   same way (the national list, then the profile), and so is every name
//!   its answer leads to (the response-side check of any forward).
//! * A, AAAA and HTTPS are rewritten; every other type (and ANY) gets
//!   NODATA. An HTTPS query gets the target's HTTPS records, never the
//!   original name's, whose address hints would lead to the unrestricted
//!   host.
//! * The target's records are asked of the upstreams like any forward
//!   (ward's own OPT, no ECS) under the target's own cache key, and
//!   cached like any answer: every profile that sends a name to the same
//!   host shares the entry, and a client asking the host directly gets it
//!   as it is. The CNAME is put in front of the entry's records on each
//!   answer (their names decompressed, since the question they were
//!   compressed against is not the client's).
//! * The answer always carries the CNAME: an address alone under the
//!   original name breaks clients that check it (YouTube on iOS broke
//!   that way behind AdGuard Home).
//! * An upstream failure is SERVFAIL with its EDE, as for any forward:
//!   never the unrestricted address.
//!
//! Every answer shaped here counts in `ward_safe_search_rewrites_total`
//! by engine, and carries EDE 4 (Forged Answer) naming the engine.

use std::net::IpAddr;
use std::time::Instant;

use super::profiled::Selected;
use super::{Engine, Finish, Pending, Step, client_reply};
use crate::dns::QueryResult;
use crate::dns::answer::{Reply, ede};
use crate::dns::cache::{Entry, KeyBuf};
use crate::dns::query::Query;
use crate::dns::response::Upstreamed;
use crate::dns::wire::{
    self, CLASS_IN, HEADER_LEN, Header, RCODE_NOERROR, RCODE_SERVFAIL, Reader, RecordRef, TYPE_A,
    TYPE_AAAA, TYPE_CNAME, TYPE_DNAME, TYPE_HTTPS, TYPE_NS, TYPE_SOA, flags,
};
use crate::domain::NameKey;
use crate::policy::safe_search::{Engine as SearchEngine, Target};
use crate::policy::{self, Context, Rewrite, Verdict};
use crate::store::Active;

/// `PTR`, `MX` and `SRV`: record types whose RDATA holds a name that an
/// upstream may have compressed (besides those in `wire`).
const TYPE_PTR: u16 = 12;
const TYPE_MX: u16 = 15;
const TYPE_SRV: u16 = 33;

/// The TTL of the CNAME when the target's answer holds no record to take
/// one from.
const DEFAULT_CNAME_TTL: u32 = 300;

/// A forward that asks for a safe-search host on behalf of a name the
/// client asked for.
#[derive(Debug)]
pub(super) struct Redirect {
    pub(super) engine: SearchEngine,
    pub(super) target: &'static Target,
    /// The name the client asked for (for the query log).
    pub(super) asked: NameKey,
}

/// The EDE text of a safe-search answer.
fn ede_text(engine: SearchEngine) -> &'static str {
    match engine {
        SearchEngine::Google => "safe search (google)",
        SearchEngine::YouTube => "safe search (youtube)",
        SearchEngine::Bing => "safe search (bing)",
        SearchEngine::DuckDuckGo => "safe search (duckduckgo)",
        SearchEngine::Ecosia => "safe search (ecosia)",
        SearchEngine::Pixabay => "safe search (pixabay)",
    }
}

/// The answer records of a rewrite: the CNAME (owner: the question, by a
/// pointer to offset 12) and then the target's records, decompressed.
#[derive(Debug, PartialEq, Eq)]
pub(super) struct Rewritten {
    pub(super) body: Vec<u8>,
    pub(super) counts: [u16; 3],
    pub(super) ttls: Vec<(u16, u32)>,
}

/// Puts the CNAME to `target` in front of the target's records: `body`
/// and `counts` as an upstream answered `target_question` (its names may
/// be compressed against that question), `ttls` the stored TTL of each
/// record. `None` if the records cannot be read (they were checked when
/// taken, so only on a bug).
pub(super) fn rewrite_body(
    target_question: &[u8],
    target_name: &str,
    body: &[u8],
    counts: [u16; 3],
    ttls: &[(u16, u32)],
) -> Option<Rewritten> {
    // The records as they sat in the upstream's message, so that their
    // compression pointers resolve: a header's room, the question, them.
    let mut msg = vec![0u8; HEADER_LEN];
    msg.extend_from_slice(target_question);
    let base = msg.len();
    msg.extend_from_slice(body);
    let cname_ttl = ttls
        .iter()
        .map(|&(_, ttl)| ttl)
        .min()
        .unwrap_or(DEFAULT_CNAME_TTL);
    let mut rdata = Vec::new();
    wire::put_name(&mut rdata, target_name);
    let mut out = Vec::with_capacity(body.len() + 64);
    wire::put_record_at_qname(&mut out, TYPE_CNAME, CLASS_IN, cname_ttl, &rdata);
    // The CNAME's TTL field: after its owner pointer, type and class.
    let mut new_ttls = vec![(6u16, cname_ttl)];
    let mut r = Reader::at(&msg, base);
    let total = counts.iter().map(|&c| usize::from(c)).sum::<usize>();
    for _ in 0..total {
        let rr = RecordRef::read(&mut r).ok()?;
        put_plain_name(&msg, rr.start, &mut out)?;
        out.extend_from_slice(&rr.rtype.to_be_bytes());
        out.extend_from_slice(&rr.class.to_be_bytes());
        let ttl_at = u16::try_from(out.len()).ok()?;
        let old_at = rr.ttl_at - base;
        let ttl = ttls
            .iter()
            .find(|&&(at, _)| usize::from(at) == old_at)
            .map_or(rr.ttl, |&(_, ttl)| ttl);
        new_ttls.push((ttl_at, ttl));
        out.extend_from_slice(&ttl.to_be_bytes());
        let len_at = out.len();
        out.extend_from_slice(&[0, 0]);
        put_rdata(&msg, &rr, &mut out)?;
        let rdlen = u16::try_from(out.len() - len_at - 2).ok()?;
        wire::set_u16(&mut out, len_at, rdlen);
    }
    u16::try_from(out.len()).ok()?;
    Some(Rewritten {
        body: out,
        counts: [counts[0].checked_add(1)?, counts[1], counts[2]],
        ttls: new_ttls,
    })
}

/// Appends the name at `at` of `msg` without compression.
fn put_plain_name(msg: &[u8], at: usize, out: &mut Vec<u8>) -> Option<usize> {
    let mut r = Reader::at(msg, at);
    r.name(|label| {
        // A label read from the wire is at most 63 bytes.
        out.push(label.len() as u8);
        out.extend_from_slice(label);
    })
    .ok()?;
    out.push(0);
    Some(r.pos())
}

/// Appends a record's RDATA with any name in it decompressed.
fn put_rdata(msg: &[u8], rr: &RecordRef, out: &mut Vec<u8>) -> Option<()> {
    let rdata = msg.get(rr.rdata_at..rr.rdata_at + rr.rdlen)?;
    let end = rr.rdata_at + rr.rdlen;
    let (fixed_before, names, rest) = match rr.rtype {
        TYPE_CNAME | TYPE_DNAME | TYPE_NS | TYPE_PTR => (0, 1, false),
        TYPE_MX => (2, 1, false),
        TYPE_SRV => (6, 1, false),
        TYPE_SOA => (0, 2, true),
        _ => {
            out.extend_from_slice(rdata);
            return Some(());
        }
    };
    out.extend_from_slice(rdata.get(..fixed_before)?);
    let mut at = rr.rdata_at + fixed_before;
    for _ in 0..names {
        at = put_plain_name(msg, at, out)?;
    }
    if rest {
        out.extend_from_slice(msg.get(at..end)?);
    } else if at != end {
        return None;
    }
    Some(())
}

/// The question ward asks for a target: its name, the client's type, IN.
fn target_question(target: &Target, qtype: u16) -> Vec<u8> {
    let mut question = Vec::with_capacity(target.name.len() + 6);
    wire::put_name(&mut question, target.name);
    question.extend_from_slice(&qtype.to_be_bytes());
    question.extend_from_slice(&CLASS_IN.to_be_bytes());
    question
}

/// The client's reply: its question, the CNAME and the target's records
/// (`upstream_flags` their RCODE), or SERVFAIL if they cannot be read.
/// AD is never set: the CNAME is ward's own.
fn reply<'a>(
    h: &Header,
    question: &'a [u8],
    upstream_flags: u16,
    rewritten: Option<&'a Rewritten>,
    edns: crate::dns::answer::ClientEdns,
    engine: SearchEngine,
) -> (Reply<'a>, QueryResult) {
    let Some(rw) = rewritten else {
        let reply = Reply::empty(h, question, RCODE_SERVFAIL)
            .with_ede(ede::FORGED_ANSWER, "safe-search answer could not be built");
        return (reply, QueryResult::ServFail);
    };
    let mut reply = client_reply(
        h,
        question,
        upstream_flags & !flags::AD,
        rw.counts,
        &rw.body,
        edns,
    );
    reply.ttls = &rw.ttls;
    reply = reply.with_ede(ede::FORGED_ANSWER, ede_text(engine));
    (reply, QueryResult::Forwarded)
}

impl Engine {
    /// Answers a question the client's profile sends to a safe-search
    /// host (`rewrite`), after the national list and the profile allowed
    /// it: NODATA for a type that is not rewritten, else the CNAME and the
    /// target's records from the cache, or a forward for them.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn safe_search(
        &self,
        q: &Query<'_>,
        active: &Active,
        selected: Selected<'_>,
        rewrite: Rewrite,
        finish: &mut Finish<'_>,
        client_ip: IpAddr,
        now: Instant,
    ) -> Step {
        self.metrics.safe_search(rewrite.engine);
        let engine = rewrite.engine;
        if !matches!(q.qtype, TYPE_A | TYPE_AAAA | TYPE_HTTPS) {
            self.log(client_ip, active, &q.key, q.qtype, None, "safe-search");
            let reply = Reply::empty(&q.header, q.question, RCODE_NOERROR)
                .with_ede(ede::FORGED_ANSWER, ede_text(engine));
            return finish.reply(reply, QueryResult::Local);
        }
        let target = rewrite.target;
        // The target is judged like any name the answer leads to.
        if let Verdict::Block(block) = policy::decide(active, &target.key, &Context::NONE) {
            self.log(
                client_ip,
                active,
                &q.key,
                q.qtype,
                Some(&block),
                "blocked-chain",
            );
            self.count_national_for_profile(client_ip, active, &block);
            let per_list = self.per_list(active);
            let reply = self.blocked_reply(&q.header, q.question, q.qtype, &per_list, &block);
            return finish.reply(reply, QueryResult::Blocked);
        }
        let all = (selected.all, selected.id);
        if let Some(said) = super::profiled::says(
            selected.profile,
            None,
            std::iter::once(target.key.as_bytes()),
        ) {
            return self.profile_reply(q, active, all, said, finish, client_ip);
        }
        let cache_key = KeyBuf::new(
            &target.key,
            q.qtype,
            q.qclass,
            q.dnssec_ok(),
            q.checking_disabled(),
        );
        let question = target_question(target, q.qtype);
        if let Some(cache) = &self.cache {
            if let Some(entry) = cache.get(&cache_key, now) {
                let checked = entry.generation() == active.generation;
                let stands = entry.verdict().is_none()
                    && (checked || self.chain_still_clean(active, entry.chain()));
                if stands {
                    if !selected.allowed(&entry)
                        && let Some(said) = selected.says_chain(&entry)
                    {
                        return self.profile_reply(q, active, all, said, finish, client_ip);
                    }
                    if !checked {
                        entry.set_generation(active.generation);
                    }
                    self.metrics.cache_hit();
                    self.log(client_ip, active, &q.key, q.qtype, None, "safe-search");
                    return self.cached_rewrite(
                        q,
                        (&question, target),
                        &entry,
                        finish,
                        engine,
                        now,
                    );
                }
                cache.remove(&cache_key);
            }
            self.metrics.cache_miss();
        }
        Step::Forward(Box::new(Pending {
            header: q.header,
            question: q.question.to_vec(),
            lower: question,
            key: target.key.clone(),
            qtype: q.qtype,
            edns: finish.edns,
            cache_key,
            protocol: finish.protocol,
            client: client_ip,
            via: finish.via,
            redirect: Some(Box::new(Redirect {
                engine,
                target,
                asked: q.key.clone(),
            })),
        }))
    }

    fn cached_rewrite(
        &self,
        q: &Query<'_>,
        (target_question, target): (&[u8], &Target),
        entry: &Entry,
        finish: &mut Finish<'_>,
        engine: SearchEngine,
        now: Instant,
    ) -> Step {
        let rewritten = rewrite_body(
            target_question,
            target.name,
            entry.body(),
            entry.counts,
            entry.ttls(),
        );
        let (mut reply, result) = reply(
            &q.header,
            q.question,
            entry.flags,
            rewritten.as_ref(),
            finish.edns,
            engine,
        );
        reply.elapsed = entry.elapsed(now);
        let result = if result == QueryResult::Forwarded {
            QueryResult::Cached
        } else {
            result
        };
        finish.reply(reply, result)
    }

    /// The client's reply to a forward for a safe-search host, once the
    /// answer passed the checks and was cached (`answered`).
    pub(super) fn redirected(
        &self,
        p: &Pending,
        redirect: &Redirect,
        active: &Active,
        answer: &Upstreamed,
        out: &mut Vec<u8>,
    ) -> QueryResult {
        self.log(
            p.client,
            active,
            &redirect.asked,
            p.qtype,
            None,
            "safe-search",
        );
        let rewritten = rewrite_body(
            &p.lower,
            redirect.target.name,
            &answer.body,
            answer.counts,
            &answer.ttls,
        );
        let (reply, result) = reply(
            &p.header,
            &p.question,
            answer.header.flags,
            rewritten.as_ref(),
            p.edns,
            redirect.engine,
        );
        let udp = p.protocol == crate::dns::Protocol::Udp;
        reply.encode_into(out, p.edns, self.settings.upstream.edns_payload, udp);
        result
    }
}

#[cfg(test)]
mod tests;
