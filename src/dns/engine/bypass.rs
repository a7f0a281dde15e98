//! The engine's side of `[profile.bypass]` (`policy::bypass`): names a
//! profile answers itself, and `ech` taken out of the HTTPS/SVCB answers
//! its clients get.
//!
//! The names (`use-application-dns.net`, `mask.icloud.com`,
//! `mask-h2.icloud.com`, `_dns.resolver.arpa`) are answered right after the
//! national list allows them, before the profile's lists, the cache and
//! any upstream: at once, as Apple asks of networks that turn Private
//! Relay off. NXDOMAIN and NODATA carry the `[block]` SOA, so negative
//! caches keep them for `block.ttl`. `_dns.resolver.arpa` SVCB gets ward's
//! own DoT/DoH records instead when it has some for the address asked
//! (`dns::discovery`), whatever the switch: `ddr` is about resolvers
//! other than ward.
//!
//! `ech` is taken out on the way to the client, never in the cache: the
//! cache is shared with clients whose profile keeps `ech` (and with those
//! without a profile), so what it holds stays as the upstream sent it, and
//! a client without a profile pays nothing (its path never gets here).
//! An answer ward changed loses AD: its records are no longer the signed
//! ones. One that cannot be taken apart is SERVFAIL, never passed on with
//! its `ech`.

use std::borrow::Cow;
use std::net::IpAddr;
use std::time::Instant;

use super::{Engine, Finish, Pending, Step, cached_reply, client_reply};
use crate::dns::QueryResult;
use crate::dns::answer::{BlockAnswer, BlockMode, Body, Reply, ede};
use crate::dns::cache::Entry;
use crate::dns::ech;
use crate::dns::query::Query;
use crate::dns::response::Upstreamed;
use crate::dns::wire::{HEADER_LEN, RCODE_SERVFAIL, TYPE_SVCB, flags};
use crate::policy::bypass::{Answer, Hit, Switch};
use crate::policy::{ProfileId, Via};
use crate::profiles::Profiles;
use crate::store::Active;

/// The EDE 17 text of a name a switch answers.
fn ede_text(switch: Switch) -> &'static str {
    match switch {
        Switch::CanaryDomain => {
            "ward: [profile.bypass] canary_domain: this network keeps DNS filtering on"
        }
        Switch::PrivateRelay => {
            "ward: [profile.bypass] private_relay: iCloud Private Relay is not available on this network"
        }
        Switch::Ddr | Switch::EncryptedDns | Switch::Ech => "ward: [profile.bypass]",
    }
}

/// The EDE text of an HTTPS/SVCB answer ward could not take `ech` out of.
const STRIP_FAILED: &str =
    "ward: an HTTPS/SVCB answer could not be read to remove ech ([profile.bypass] ech)";

impl Engine {
    /// The answer to a name a profile's switch covers (`hit`), counted in
    /// `ward_bypass_blocked_total`.
    pub(super) fn bypass_reply(
        &self,
        q: &Query<'_>,
        active: &Active,
        hit: Hit,
        profile: (&Profiles, ProfileId),
        finish: &mut Finish<'_>,
        client: IpAddr,
    ) -> Step {
        // `ddr` keeps clients from upgrading to a resolver that is not
        // ward; ward's own endpoints keep them on the filter.
        if hit.switch == Switch::Ddr
            && let Some(step) = self.designated(q, active, Some(profile), finish, client)
        {
            return step;
        }
        self.metrics.bypass(hit.switch);
        self.log(client, active, &q.key, q.qtype, None, hit.switch.key());
        let body = match hit.answer {
            Answer::NxDomain => self.negative_body(BlockMode::NxDomain, q.qtype, active),
            Answer::NoData => self.ddr_body(q.qtype, active),
        };
        let mut reply = Reply::with_body(&q.header, q.question, &body);
        if hit.answer == Answer::NxDomain {
            reply = reply.with_ede(ede::FILTERED, ede_text(hit.switch));
        }
        finish.reply(reply, QueryResult::Blocked)
    }

    /// The answer to `_dns.resolver.arpa` when ward designates nothing
    /// for this query (RFC 9462): NODATA, never the upstreams' records,
    /// which would take the client past the filter.
    fn ddr_body(&self, qtype: u16, active: &Active) -> Body {
        self.negative_body(BlockMode::Sinkhole, qtype, active)
    }

    /// ward's own DoT/DoH records (`dns::discovery`) for a
    /// `_dns.resolver.arpa` SVCB query, if it designates any for the
    /// address the query came to. `profile`: the client's, which the
    /// designated transport must select again: when it would not (the
    /// profile comes from the `[dns] listen` address), the records carry
    /// the profile's client id, and without one nothing is designated.
    /// `None`: the query goes on as before (NODATA under `ddr`, else
    /// upstream).
    pub(super) fn designated(
        &self,
        q: &Query<'_>,
        active: &Active,
        profile: Option<(&Profiles, ProfileId)>,
        finish: &mut Finish<'_>,
        client: IpAddr,
    ) -> Option<Step> {
        if q.qtype != TYPE_SVCB {
            return None;
        }
        let listener = finish.via.listener.map(|l| l.0);
        let designation = self
            .discovery
            .as_ref()?
            .for_query(listener, finish.protocol)?;
        let body = match profile {
            Some((all, id))
                if all.select_on(client, Via::encrypted(None)).map(|(i, _)| i) != Some(id) =>
            {
                Cow::Owned(designation.body_for(all.client_id_of(id)?)?)
            }
            _ => Cow::Borrowed(designation.body()),
        };
        self.log(client, active, &q.key, q.qtype, None, "designated");
        let mut reply = Reply::with_body(&q.header, q.question, &body);
        reply.flags |= flags::AA;
        Some(finish.reply(reply, QueryResult::Local))
    }

    /// The answer to `_dns.resolver.arpa` for any client: ward's own
    /// designation if it has one for the address asked ([`Self::designated`]),
    /// else NODATA. Never forwarded (RFC 9462 §6.4): an upstream's
    /// designation would name a resolver past the filter, for clients
    /// with no profile too.
    pub(super) fn resolver_arpa(
        &self,
        q: &Query<'_>,
        active: &Active,
        profile: Option<(&Profiles, ProfileId)>,
        finish: &mut Finish<'_>,
        client: IpAddr,
    ) -> Step {
        if self.discovery.is_some()
            && let Some(step) = self.designated(q, active, profile, finish, client)
        {
            return step;
        }
        let body = self.ddr_body(q.qtype, active);
        finish.reply(
            Reply::with_body(&q.header, q.question, &body),
            QueryResult::Local,
        )
    }

    /// NXDOMAIN (`mode` NxDomain) or NODATA (a sinkhole with no
    /// addresses) with the `[block]` SOA and TTL.
    fn negative_body(&self, mode: BlockMode, qtype: u16, active: &Active) -> Body {
        let settings = BlockAnswer {
            mode,
            ipv4: Vec::new(),
            ipv6: Vec::new(),
            ttl: self.settings.block.ttl,
        };
        crate::dns::answer::blocked_body(&settings, qtype, active.serial())
    }

    /// A cache hit for a client whose profile strips `ech`, of a type that
    /// can carry it: the cached answer with `ech` taken out.
    #[cold]
    pub(super) fn cached_without_ech(
        &self,
        q: &Query<'_>,
        entry: &Entry,
        finish: &mut Finish<'_>,
        now: Instant,
    ) -> Step {
        let base = HEADER_LEN + q.question.len();
        let reply = cached_reply(q, entry, finish.edns, now);
        match ech::strip(base, entry.body(), entry.counts, entry.ttls()) {
            Ok(None) => finish.reply(reply, QueryResult::Cached),
            Ok(Some(stripped)) => {
                self.metrics.bypass(Switch::Ech);
                let reply = Reply {
                    body: &stripped.body,
                    ttls: &stripped.ttls,
                    flags: reply.flags & !flags::AD,
                    ..reply
                };
                finish.reply(reply, QueryResult::Cached)
            }
            Err(_) => {
                let reply = Reply::empty(&q.header, q.question, RCODE_SERVFAIL)
                    .with_ede(ede::FILTERED, STRIP_FAILED);
                finish.reply(reply, QueryResult::ServFail)
            }
        }
    }

    /// A forwarded answer for a client whose profile strips `ech`: `Some`
    /// with the reply encoded into `out` when ward changed it (or could not
    /// read it); `None` when it goes out as it came.
    pub(super) fn forwarded_without_ech(
        &self,
        p: &Pending,
        answer: &Upstreamed,
        out: &mut Vec<u8>,
    ) -> Option<QueryResult> {
        if !ech::applies(p.qtype) {
            return None;
        }
        let store = self.profiles.as_ref().filter(|s| s.in_use())?;
        let all = store.load();
        let (_, profile) = all.select_on(p.client, p.via)?;
        if !profile.bypass().ech {
            return None;
        }
        let base = HEADER_LEN + p.question.len();
        let udp = p.protocol == crate::dns::Protocol::Udp;
        let payload = self.settings.upstream.edns_payload;
        match ech::strip(base, &answer.body, answer.counts, &answer.ttls) {
            Ok(None) => None,
            Ok(Some(stripped)) => {
                self.metrics.bypass(Switch::Ech);
                let reply = client_reply(
                    &p.header,
                    &p.question,
                    answer.header.flags & !flags::AD,
                    answer.counts,
                    &stripped.body,
                    p.edns,
                );
                reply.encode_into(out, p.edns, payload, udp);
                Some(QueryResult::Forwarded)
            }
            Err(_) => {
                Reply::empty(&p.header, &p.question, RCODE_SERVFAIL)
                    .with_ede(ede::FILTERED, STRIP_FAILED)
                    .encode_into(out, p.edns, payload, udp);
                Some(QueryResult::ServFail)
            }
        }
    }
}
