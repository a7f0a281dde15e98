//! The per-query pipeline, from raw bytes to raw bytes.
//!
//! ```text
//! parse ─▶ ACL ─▶ local (CH TXT list.ward.) ─▶ list lookup ─▶ cache ─▶ forward
//!   │        │                                    │            │          │
//! FORMERR  REFUSED                           blocked answer  patched   response-side
//! NOTIMP                                     (+EDE 16)       copy      check, cache
//! ```
//!
//! [`Engine::prepare`] runs everything that needs no I/O and either
//! answers at once (blocked, cached, refused, malformed) into the caller's
//! buffer or hands back a [`Pending`] forward; [`Engine::forward`] does
//! the upstream exchange. Listeners answer the common cases without
//! spawning a task, and the blocked and cached answers allocate nothing:
//! a blocked answer's records are built once per list and query type, a
//! cached one is copied from the cache entry with its TTLs patched on the
//! way out.
//!
//! The list is loaded once per query from the [`ListStore`]. With no
//! verified list at all, ward answers SERVFAIL with EDE 14 (Not Ready):
//! it never forwards a query it could not check.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Instant;

use arc_swap::ArcSwap;
use ipnet::IpNet;

use super::answer::{self, BlockAnswer, BlockMode, Body, ClientEdns, Reply, ede};
use super::cache::{Cache, CacheLimits, Entry, Insert, KeyBuf};
use super::discovery::{self, Discovery};
use super::ech;
use super::metrics::DnsMetrics;
use super::query::{self, Query, Reject};
use super::response::Upstreamed;
use super::upstream::{Failure, UpstreamSettings, Upstreams};
use super::wire::{
    CLASS_CH, CLASS_IN, Header, RCODE_FORMERR, RCODE_NOERROR, RCODE_NOTIMP, RCODE_NXDOMAIN,
    RCODE_REFUSED, RCODE_SERVFAIL, TYPE_A, TYPE_AAAA, TYPE_ANY, TYPE_TXT, flags,
};
use super::{Protocol, QueryResult};
use crate::domain::NameKey;
use crate::instrument::HotCounter;
use crate::policy::{self, Block, Category, Context, Verdict, Via};
use crate::profiles::ProfileStore;
use crate::store::{Active, ListStore};

mod bypass;
mod profiled;
#[cfg(test)]
mod profiled_tests;
mod querylog;
mod safe_search;

pub use self::querylog::truncate_client;

/// TTL of the local `list.ward.` TXT answer.
const LOCAL_TTL: u32 = 0;
/// The reversed key of `list.ward.`, the CH TXT name compliance probes ask.
const LIST_WARD_KEY: &[u8] = b"ward.list.";

/// Everything the engine needs from the configuration.
#[derive(Debug, Clone)]
pub struct Settings {
    pub allow_clients: Vec<IpNet>,
    pub block: BlockAnswer,
    pub cache: Option<CacheLimits>,
    pub upstream: UpstreamSettings,
    /// Log every query (client, name, verdict). Off by default: children's
    /// browsing is private.
    pub query_log: bool,
}

/// What to do with a packet.
#[derive(Debug)]
pub enum Step {
    /// Send back the bytes [`Engine::prepare`] wrote to its buffer.
    Reply,
    /// Ask upstream, then send what [`Engine::forward`] returns.
    Forward(Box<Pending>),
    /// Send nothing.
    Drop,
}

/// A query waiting for an upstream answer. Owns what it needs, so the
/// receive buffer can be reused at once.
#[derive(Debug)]
pub struct Pending {
    header: Header,
    /// The client's question, as sent.
    question: Vec<u8>,
    /// The same question with the name lowercased: what goes upstream.
    lower: Vec<u8>,
    key: NameKey,
    qtype: u16,
    edns: ClientEdns,
    cache_key: KeyBuf,
    protocol: Protocol,
    client: IpAddr,
    via: Via,
    /// Set when the question is a safe-search name: `lower` and `key` are
    /// then the target's, and the reply is the CNAME and its records.
    redirect: Option<Box<safe_search::Redirect>>,
}

/// What blocked answers need, built once per list: counter handles, the
/// EDE text of each category and the answer records for each kind of
/// query type.
#[derive(Debug)]
struct BlockedCounters {
    generation: u64,
    by_category: Vec<HotCounter>,
    /// The EDE text for each category.
    texts: Vec<Box<str>>,
    /// The EDE text for a match outside the categories (the list-index
    /// fault pseudo-category, or an index the manifest lacks).
    fault: Box<str>,
    unknown: Box<str>,
    /// Blocked answer bodies for A, AAAA and every other type.
    bodies: [Body; 3],
}

impl BlockedCounters {
    /// No parts: generation 0 matches no list (generations start at 1).
    fn none() -> Self {
        let empty = || Body {
            rcode: 0,
            bytes: Vec::new(),
            counts: [0; 3],
        };
        Self {
            generation: 0,
            by_category: Vec::new(),
            texts: Vec::new(),
            fault: Box::default(),
            unknown: Box::default(),
            bodies: [empty(), empty(), empty()],
        }
    }

    fn body(&self, qtype: u16) -> &Body {
        match qtype {
            TYPE_A => &self.bodies[0],
            TYPE_AAAA => &self.bodies[1],
            _ => &self.bodies[2],
        }
    }
}

/// The per-list parts of blocked answers, as [`Engine::per_list`] found or
/// built them.
enum PerList {
    /// The stored parts, for the list in force.
    Current(arc_swap::Guard<Arc<BlockedCounters>>),
    /// Parts just built for a list that was not stored yet.
    Fresh(Arc<BlockedCounters>),
}

impl std::ops::Deref for PerList {
    type Target = BlockedCounters;

    fn deref(&self) -> &BlockedCounters {
        match self {
            Self::Current(guard) => guard,
            Self::Fresh(fresh) => fresh,
        }
    }
}

/// The DNS engine: shared by every listener.
#[derive(Debug)]
pub struct Engine {
    settings: Settings,
    store: Arc<ListStore>,
    cache: Option<Cache>,
    upstreams: Upstreams,
    metrics: Arc<DnsMetrics>,
    /// Parts for the last list a block was answered under; before the
    /// first, empty parts of generation 0, which no list has.
    blocked: ArcSwap<BlockedCounters>,
    /// The RFC 8482 answer to ANY queries.
    any: Body,
    /// The school profiles (`ward serve` always gives a store, so that a
    /// SIGHUP can add the first profile); while it holds none, every
    /// client takes the national-list path with no profile lookup at all.
    profiles: Option<Arc<ProfileStore>>,
    /// Per-profiles parts of profile answers (EDE texts, counters).
    profile_parts: ArcSwap<profiled::ProfileParts>,
    /// ward's own DoT/DoH endpoints for `_dns.resolver.arpa` (RFC 9462);
    /// `None`: nothing to designate.
    discovery: Option<Arc<Discovery>>,
}

impl Engine {
    pub fn new(settings: Settings, store: Arc<ListStore>, metrics: Arc<DnsMetrics>) -> Self {
        let upstreams = Upstreams::new(&settings.upstream, &metrics);
        let cache = settings.cache.and_then(Cache::new);
        Self {
            settings,
            store,
            cache,
            upstreams,
            metrics,
            blocked: ArcSwap::from_pointee(BlockedCounters::none()),
            any: answer::any_body(),
            profiles: None,
            profile_parts: ArcSwap::from_pointee(profiled::ProfileParts::default()),
            discovery: None,
        }
    }

    /// Answers `_dns.resolver.arpa` SVCB with `discovery`'s records.
    pub fn with_discovery(mut self, discovery: Option<Discovery>) -> Self {
        self.discovery = discovery.map(Arc::new);
        self
    }

    pub fn store(&self) -> &Arc<ListStore> {
        &self.store
    }

    pub fn upstreams(&self) -> &Upstreams {
        &self.upstreams
    }

    pub fn metrics(&self) -> &Arc<DnsMetrics> {
        &self.metrics
    }

    /// Counts a message that could not be read at all (a datagram longer
    /// than the listener reads, say).
    pub fn count_malformed(&self, protocol: Protocol) {
        self.metrics.malformed(protocol);
    }

    /// Publishes the cache size to the metrics (called periodically).
    pub fn publish_cache_size(&self) {
        if let Some(cache) = &self.cache {
            let (entries, bytes) = cache.size();
            self.metrics.set_cache_size(entries, bytes);
        }
    }

    /// Everything up to the upstream exchange. A [`Step::Reply`] answer
    /// is left in `out` (its previous contents are replaced). `listener`
    /// is the `[dns] listen` address the query arrived on (by its place),
    /// which may select a profile.
    ///
    /// The steps: parse; `screen` what needs no list (ACL, CHAOS, other
    /// classes); take the list in force; `decide` under it (blocked, ANY,
    /// cached), else hand the upstream a `pending` query.
    pub fn prepare(
        &self,
        packet: &[u8],
        client: SocketAddr,
        protocol: Protocol,
        via: impl Into<Via>,
        out: &mut Vec<u8>,
    ) -> Step {
        let via = via.into();
        let client_ip = client.ip().to_canonical();
        let q = match query::parse(packet) {
            Ok(q) => q,
            Err(reject) => return self.reject(&reject, packet, protocol, out),
        };
        let mut finish = Finish {
            metrics: &self.metrics,
            protocol,
            via,
            edns: ClientEdns::of(&q),
            payload: self.settings.upstream.edns_payload,
            out,
        };
        if let Some(step) = self.screen(&q, client_ip, &mut finish) {
            return step;
        }
        let guard = self.store.load();
        let Some(active) = guard.as_ref() else {
            return finish.reply(not_ready(&q.header, q.question), QueryResult::ServFail);
        };
        self.decide(&q, active, client_ip, &mut finish)
    }

    /// Answers the queries no list is needed for: a client outside
    /// `allow_clients` (REFUSED), the CHAOS class (the local TXT records),
    /// and every class but IN (REFUSED). `None`: go on to the list.
    #[inline]
    fn screen(&self, q: &Query<'_>, client_ip: IpAddr, finish: &mut Finish<'_>) -> Option<Step> {
        if !self.allowed(client_ip) {
            let reply = Reply::empty(&q.header, q.question, RCODE_REFUSED)
                .with_ede(ede::PROHIBITED, "client not allowed");
            return Some(finish.reply(reply, QueryResult::Refused));
        }
        if q.qclass == CLASS_CH {
            return Some(match self.local_body(q) {
                Some(Ok(body)) => {
                    let mut reply = Reply::with_body(&q.header, q.question, &body);
                    reply.flags |= flags::AA;
                    finish.reply(reply, QueryResult::Local)
                }
                Some(Err(())) => {
                    finish.reply(not_ready(&q.header, q.question), QueryResult::ServFail)
                }
                None => finish.reply(
                    Reply::empty(&q.header, q.question, RCODE_REFUSED),
                    QueryResult::Refused,
                ),
            });
        }
        if q.qclass != CLASS_IN {
            return Some(finish.reply(
                Reply::empty(&q.header, q.question, RCODE_REFUSED),
                QueryResult::Refused,
            ));
        }
        None
    }

    /// The query under the list in force: blocked, the ANY answer, a
    /// cached answer, or a forward. A client's profile is asked after the
    /// national list allows, and again on a cache hit (the cache is shared
    /// by every client, so its chain names are checked for this one).
    #[inline]
    fn decide(
        &self,
        q: &Query<'_>,
        active: &Active,
        client_ip: IpAddr,
        finish: &mut Finish<'_>,
    ) -> Step {
        let cache_key = KeyBuf::new(
            &q.key,
            q.qtype,
            q.qclass,
            q.dnssec_ok(),
            q.checking_disabled(),
        );
        let now = Instant::now();
        // An entry stored (or re-checked) under the list in force was
        // looked up in exactly this list: its verdict, or its answer,
        // stands without a lookup. Otherwise the list decides.
        let entry = self.cache.as_ref().and_then(|c| c.get(&cache_key, now));
        let checked = entry
            .as_ref()
            .is_some_and(|e| e.generation() == active.generation);
        let verdict = match &entry {
            Some(e) if checked => Verdict::of(active, e.verdict()),
            _ => policy::decide(active, &q.key, &Context::NONE),
        };
        if let Verdict::Block(block) = verdict {
            if let (Some(cache), false) = (&self.cache, checked) {
                cache.insert_verdict(&cache_key, block.rule, active.generation, now);
            }
            self.log(client_ip, active, &q.key, q.qtype, Some(&block), "blocked");
            self.count_national_for_profile(client_ip, active, &block);
            let per_list = self.per_list(active);
            return finish.reply(
                self.blocked_reply(&q.header, q.question, q.qtype, &per_list, &block),
                QueryResult::Blocked,
            );
        }
        let profiles = self
            .profiles
            .as_ref()
            .filter(|p| p.in_use())
            .map(|p| p.load());
        let profile = profiled::select(profiles.as_deref(), client_ip, finish.via);
        // The profile allowed this entry's question and chain before,
        // under this very snapshot: neither is asked again.
        let remembered = match (&profile, &entry) {
            (Some(p), Some(e)) => p.allowed(e),
            _ => false,
        };
        if let Some(p) = profile
            && let Some(step) = self.profile_first(q, active, p, remembered, finish, client_ip, now)
        {
            return step;
        }
        // `_dns.resolver.arpa`: ward's own DoT/DoH or NODATA, before the
        // cache, never an upstream's answer. A length compare for most
        // names.
        if q.key.as_bytes() == discovery::DDR_KEY {
            return self.resolver_arpa(
                q,
                active,
                profile.map(|p| (p.all, p.id)),
                finish,
                client_ip,
            );
        }
        if q.qtype == TYPE_ANY {
            // Allowed, but never forwarded: RFC 8482's minimal answer.
            self.log(client_ip, active, &q.key, q.qtype, None, "any");
            return finish.reply(
                Reply::with_body(&q.header, q.question, &self.any),
                QueryResult::Local,
            );
        }
        if let Some(cache) = &self.cache {
            if let Some(entry) = entry {
                // The question is allowed. An answer from an older list
                // stands if none of the names it leads to is now blocked; a
                // verdict from an older list no longer holds at all.
                let stands = checked
                    || (entry.verdict().is_none() && self.chain_still_clean(active, entry.chain()));
                if stands {
                    if let Some(p) = profile
                        && !remembered
                        && let Some(said) = p.says_chain(&entry)
                    {
                        return self.profile_reply(
                            q,
                            active,
                            (p.all, p.id),
                            said,
                            finish,
                            client_ip,
                        );
                    }
                    if !checked {
                        entry.set_generation(active.generation);
                    }
                    self.metrics.cache_hit();
                    self.log(client_ip, active, &q.key, q.qtype, None, "cached");
                    if let Some(p) = profile
                        && p.profile.bypass().ech
                        && ech::applies(q.qtype)
                    {
                        return self.cached_without_ech(q, &entry, finish, now);
                    }
                    let reply = cached_reply(q, &entry, finish.edns, now);
                    return finish.reply(reply, QueryResult::Cached);
                }
                cache.remove(&cache_key);
            }
            self.metrics.cache_miss();
        }
        Step::Forward(pending(q, cache_key, finish, client_ip))
    }

    /// The upstream exchange and the response-side check.
    pub async fn forward(&self, p: Pending) -> Vec<u8> {
        let udp = p.protocol == Protocol::Udp;
        let payload = self.settings.upstream.edns_payload;
        let checking_disabled = p.header.has(flags::CD);
        let result = self
            .upstreams
            .exchange(&p.lower, checking_disabled, p.edns.dnssec_ok)
            .await;
        let mut out = Vec::new();
        let outcome = match result {
            Err(failure) => {
                upstream_failed(&p.header, &p.question, failure)
                    .encode_into(&mut out, p.edns, payload, udp);
                QueryResult::ServFail
            }
            Ok(answer) => self.answered(&p, answer, &mut out),
        };
        self.metrics.query(p.protocol, outcome);
        out
    }

    /// Both halves, for callers that do not care to split them.
    pub async fn handle(
        &self,
        packet: &[u8],
        client: SocketAddr,
        protocol: Protocol,
        via: impl Into<Via>,
    ) -> Option<Vec<u8>> {
        let mut out = Vec::new();
        match self.prepare(packet, client, protocol, via, &mut out) {
            Step::Reply => Some(out),
            Step::Forward(p) => Some(self.forward(*p).await),
            Step::Drop => None,
        }
    }

    /// The response-side half of a forward: checks the answer against the
    /// newest list, caches it, and encodes the client's reply into `out`.
    fn answered(&self, p: &Pending, mut answer: Upstreamed, out: &mut Vec<u8>) -> QueryResult {
        // `cache.max_ttl` caps the TTLs the client sees too, as Unbound's
        // cache-max-ttl does.
        if let Some(limits) = &self.settings.cache {
            answer.cap_ttls(limits.max_ttl);
        }
        let udp = p.protocol == Protocol::Udp;
        let payload = self.settings.upstream.edns_payload;
        // The list may have changed while we waited: use the newest.
        let guard = self.store.load();
        let Some(active) = guard.as_ref() else {
            not_ready(&p.header, &p.question).encode_into(out, p.edns, payload, udp);
            return QueryResult::ServFail;
        };
        // CNAME cloaking: any name the answer leads to that is blocked
        // blocks the whole answer. The question itself is also re-checked
        // against the newest list.
        let decide = |key: &NameKey| policy::decide(active, key, &Context::NONE).block();
        let blocked = answer
            .chain
            .iter()
            .find_map(|name| decide(name).map(|b| (b, "blocked-chain")))
            .or_else(|| decide(&p.key).map(|b| (b, "blocked")));
        if let Some((block, verdict)) = blocked {
            self.log(p.client, active, &p.key, p.qtype, Some(&block), verdict);
            self.count_national_for_profile(p.client, active, &block);
            let per_list = self.per_list(active);
            self.blocked_reply(&p.header, &p.question, p.qtype, &per_list, &block)
                .encode_into(out, p.edns, payload, udp);
            return QueryResult::Blocked;
        }
        if let (Some(cache), Some(ttl)) = (&self.cache, answer.cache_ttl) {
            let rcode = answer.rcode();
            cache.insert(
                &p.cache_key,
                Insert {
                    flags: answer.header.flags,
                    counts: answer.counts,
                    body: &answer.body,
                    ttls: &answer.ttls,
                    chain: &answer.chain,
                    ttl,
                    negative: rcode == RCODE_NXDOMAIN || answer.counts[0] == 0,
                    generation: active.generation,
                },
                Instant::now(),
            );
        }
        if let Some(result) = self.profile_answer(p, active, &answer.chain, out) {
            return result;
        }
        if let Some(redirect) = &p.redirect {
            return self.redirected(p, redirect, active, &answer, out);
        }
        self.log(p.client, active, &p.key, p.qtype, None, "forwarded");
        if let Some(result) = self.forwarded_without_ech(p, &answer, out) {
            return result;
        }
        client_reply(
            &p.header,
            &p.question,
            answer.header.flags,
            answer.counts,
            &answer.body,
            p.edns,
        )
        .encode_into(out, p.edns, payload, udp);
        QueryResult::Forwarded
    }

    fn chain_still_clean<'a>(
        &self,
        active: &Active,
        mut chain: impl Iterator<Item = &'a [u8]>,
    ) -> bool {
        chain.all(|key| active.lookup_bytes(key).is_none())
    }

    fn allowed(&self, ip: IpAddr) -> bool {
        self.settings
            .allow_clients
            .iter()
            .any(|net| net.contains(&ip))
    }

    /// Counts a block and builds its answer from the per-list parts.
    fn blocked_reply<'a>(
        &self,
        header: &Header,
        question: &'a [u8],
        qtype: u16,
        per_list: &'a BlockedCounters,
        block: &Block,
    ) -> Reply<'a> {
        let listed = match block.category {
            Category::Listed(index) => {
                let index = usize::from(index);
                per_list
                    .by_category
                    .get(index)
                    .zip(per_list.texts.get(index))
            }
            Category::IndexFault | Category::Unknown => None,
        };
        let text = match (listed, block.category) {
            (Some((counter, text)), _) => {
                counter.inc();
                text
            }
            (None, Category::IndexFault) => &per_list.fault,
            (None, _) => &per_list.unknown,
        };
        Reply::with_body(header, question, per_list.body(qtype)).with_ede(ede::CENSORED, text)
    }

    /// Counter handles and EDE texts for the list in force, built on the
    /// first block after each swap.
    fn per_list(&self, active: &Active) -> PerList {
        let current = self.blocked.load();
        if current.generation == active.generation {
            // A guard, not a clone: no shared reference count is written
            // on the per-query path.
            return PerList::Current(current);
        }
        let action = match self.settings.block.mode {
            BlockMode::Sinkhole => "sinkhole",
            BlockMode::NxDomain => "nxdomain",
            BlockMode::Refused => "refused",
        };
        let categories = &active.manifest().categories;
        let fresh = Arc::new(BlockedCounters {
            generation: active.generation,
            by_category: categories
                .iter()
                .map(|c| self.metrics.blocked_counter(&c.name, action))
                .collect(),
            texts: categories
                .iter()
                .map(|c| ede_text(active, &c.name))
                .collect(),
            fault: ede_text(active, policy::INDEX_FAULT_NAME),
            unknown: ede_text(active, policy::UNKNOWN_NAME),
            bodies: [TYPE_A, TYPE_AAAA, TYPE_TXT]
                .map(|t| answer::blocked_body(&self.settings.block, t, active.serial())),
        });
        self.blocked.store(Arc::clone(&fresh));
        PerList::Fresh(fresh)
    }

    /// Class CH: `list.ward. TXT` reports the list in force (one record),
    /// then each extra list (one record each). `None` for
    /// any other CH question; `Some(Err(()))` when no list is loaded.
    fn local_body(&self, q: &Query<'_>) -> Option<Result<Body, ()>> {
        if q.qtype != TYPE_TXT || q.key.as_bytes() != LIST_WARD_KEY {
            return None;
        }
        let guard = self.store.load();
        let Some(active) = guard.as_ref() else {
            return Some(Err(()));
        };
        let strings = [
            format!("list={}", active.list_id()),
            format!("serial={}", active.serial()),
            format!("sha256={}", hex::encode(active.sha256())),
        ];
        let mut body = answer::txt_body(q.qclass, &strings, LOCAL_TTL);
        self.extra_list_records(q.qclass, &mut body);
        Some(Ok(body))
    }

    fn reject(
        &self,
        reject: &Reject,
        packet: &[u8],
        protocol: Protocol,
        out: &mut Vec<u8>,
    ) -> Step {
        let payload = self.settings.upstream.edns_payload;
        let udp = protocol == Protocol::Udp;
        let question =
            |range: &Option<(usize, usize)>| range.map_or(&[][..], |(s, e)| &packet[s..e]);
        let (reply, edns, result) = match reject {
            Reject::Drop => {
                self.metrics.malformed(protocol);
                return Step::Drop;
            }
            Reject::FormErr {
                header,
                question: q,
                ..
            } => {
                self.metrics.malformed(protocol);
                (
                    Reply::empty(header, question(q), RCODE_FORMERR),
                    ClientEdns::NONE,
                    QueryResult::FormErr,
                )
            }
            Reject::QuestionCount { header } => {
                self.metrics.malformed(protocol);
                (
                    Reply::empty(header, &[], RCODE_FORMERR),
                    ClientEdns::NONE,
                    QueryResult::FormErr,
                )
            }
            Reject::NotImp {
                header,
                question: q,
            } => (
                Reply::empty(header, question(q), RCODE_NOTIMP),
                ClientEdns::NONE,
                QueryResult::NotImp,
            ),
            Reject::BadVersion {
                header,
                question: (s, e),
                dnssec_ok,
            } => {
                let mut reply = Reply::empty(header, &packet[*s..*e], RCODE_NOERROR);
                reply.ext_rcode = super::wire::RCODE_BADVERS_HIGH;
                let edns = ClientEdns {
                    present: true,
                    dnssec_ok: *dnssec_ok,
                    udp_limit: 512,
                };
                (reply, edns, QueryResult::FormErr)
            }
        };
        self.metrics.query(protocol, result);
        reply.encode_into(out, edns, payload, udp);
        Step::Reply
    }
}

/// A response for the client built from an upstream's (or the cache's)
/// record bytes: the client's ID and question, ward's RA, the upstream's
/// RCODE, and AD only when the client asked for DNSSEC data.
fn client_reply<'a>(
    h: &Header,
    question: &'a [u8],
    upstream_flags: u16,
    counts: [u16; 3],
    body: &'a [u8],
    edns: ClientEdns,
) -> Reply<'a> {
    let rcode = (upstream_flags & flags::RCODE_MASK) as u8;
    let mut f = answer::response_flags(h, rcode);
    let wants_ad = edns.dnssec_ok || h.has(flags::AD);
    if wants_ad && upstream_flags & flags::AD != 0 {
        f |= flags::AD;
    }
    Reply {
        flags: f,
        body,
        counts,
        ..Reply::empty(h, question, rcode)
    }
}

/// Where a reply made without an upstream goes: counted under its
/// result, then encoded into the caller's buffer.
struct Finish<'a> {
    metrics: &'a DnsMetrics,
    protocol: Protocol,
    /// The listener or client id the query arrived with.
    via: Via,
    edns: ClientEdns,
    payload: u16,
    out: &'a mut Vec<u8>,
}

impl Finish<'_> {
    #[inline]
    fn reply(&mut self, reply: Reply<'_>, result: QueryResult) -> Step {
        self.metrics.query(self.protocol, result);
        let udp = self.protocol == Protocol::Udp;
        reply.encode_into(self.out, self.edns, self.payload, udp);
        Step::Reply
    }
}

/// What the upstream exchange needs of an allowed query that missed the
/// cache: the question as asked and in lower case for the upstream, and
/// the keys to check and cache the answer under.
fn pending(q: &Query<'_>, cache_key: KeyBuf, finish: &Finish<'_>, client: IpAddr) -> Box<Pending> {
    let mut lower = q.question.to_vec();
    let name_len = lower.len() - 4;
    lower[..name_len].make_ascii_lowercase();
    Box::new(Pending {
        header: q.header,
        question: q.question.to_vec(),
        lower,
        key: q.key.clone(),
        qtype: q.qtype,
        edns: finish.edns,
        cache_key,
        protocol: finish.protocol,
        client,
        via: finish.via,
        redirect: None,
    })
}

/// A cache hit as the client's reply: its ID, question and EDNS around
/// the stored records, TTLs counted down to `now`.
fn cached_reply<'a>(q: &Query<'a>, entry: &'a Entry, edns: ClientEdns, now: Instant) -> Reply<'a> {
    let mut reply = client_reply(
        &q.header,
        q.question,
        entry.flags,
        entry.counts,
        entry.body(),
        edns,
    );
    reply.ttls = entry.ttls();
    reply.elapsed = entry.elapsed(now);
    reply
}

/// The EDE EXTRA-TEXT of a blocked answer: list id, serial and category,
/// never a name.
fn ede_text(active: &Active, category: &str) -> Box<str> {
    format!(
        "blocked by list {} serial {} (category {category})",
        active.list_id(),
        active.serial()
    )
    .into()
}

fn not_ready<'a>(h: &Header, question: &'a [u8]) -> Reply<'a> {
    Reply::empty(h, question, RCODE_SERVFAIL).with_ede(
        ede::NOT_READY,
        "no verified list loaded; ward will not answer unfiltered",
    )
}

fn upstream_failed<'a>(h: &Header, question: &'a [u8], failure: Failure) -> Reply<'a> {
    let (code, text) = match failure {
        Failure::AllDown => (
            ede::NO_REACHABLE_AUTHORITY,
            "all upstream resolvers are down",
        ),
        Failure::NoAnswer => (ede::NO_REACHABLE_AUTHORITY, "no upstream resolver answered"),
        Failure::Network => (
            ede::NETWORK_ERROR,
            "network error reaching the upstream resolvers",
        ),
    };
    Reply::empty(h, question, RCODE_SERVFAIL).with_ede(code, text)
}
