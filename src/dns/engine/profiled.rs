//! The engine's profile step: what a client's profile says about a
//! question that the national list allows, and about the names a cached
//! or fresh answer leads to.
//!
//! The national list is asked first, always, exactly as for a client
//! without a profile: its block stands (EDE 16). A profile's own block
//! answers the same way (sinkhole, NXDOMAIN or REFUSED as `[block]` says)
//! with EDE 17 (Filtered) and its list and category in the EXTRA-TEXT; a
//! name a profile cannot decide because one of its lists never loaded is
//! answered SERVFAIL with EDE 14, never unfiltered.
//!
//! The cache is shared by every client, so a cached answer served to a
//! profiled client is checked against its profile: the question and the
//! names the answer leads to. That it allowed all of them is remembered
//! per (cache entry, profile) in the profiles snapshot
//! ([`Profiles::allowed`]); the next hit of the same entry by the same
//! profile costs one load and compare. A new snapshot (reload, list
//! update) starts with no memo, and a block is never remembered.

use std::net::IpAddr;
use std::sync::Arc;

use super::{BlockedCounters, Engine, Finish, Pending, Step};
use crate::dns::QueryResult;
use crate::dns::answer::{self, Body, Reply, ede};
use crate::dns::cache::Entry;
use crate::dns::query::Query;
use crate::dns::wire::{Header, RCODE_SERVFAIL};
use crate::domain::NameKey;
use crate::instrument::HotCounter;
use crate::policy::bypass::{ENCRYPTED_DNS_CATEGORY, Switch};
use crate::policy::{self, Block, Category, ListRef, Profile, ProfileId, Unloaded, Verdict, Via};
use crate::profiles::{NATIONAL_LIST_NAME, ProfileStore, Profiles};
use crate::store::Active;

/// What a profile says against an answer.
#[derive(Debug, Clone, Copy)]
pub(super) enum Said {
    /// One of its lists blocks a name.
    Block(Block),
    /// A list it needs never loaded, and no loaded one blocks.
    Unknown(Unloaded),
}

/// The profile's word on a question and the names an answer leads to
/// (reversed-label keys): the first block, else the first name it cannot
/// decide; `None` when it allows them all. A walled garden judges the
/// question only ([`Profile::decide_chain_key`]).
#[inline]
pub(super) fn says<'a>(
    profile: &Profile,
    question: Option<&[u8]>,
    chain: impl Iterator<Item = &'a [u8]>,
) -> Option<Said> {
    let mut unknown = None;
    let verdicts = question
        .map(|q| profile.decide_key(q))
        .into_iter()
        .chain(chain.map(|name| profile.decide_chain_key(name)));
    for verdict in verdicts {
        match verdict {
            Ok(Verdict::Allow) => {}
            Ok(Verdict::Block(block)) => return Some(Said::Block(block)),
            Err(u) => {
                unknown.get_or_insert(Said::Unknown(u));
            }
        }
    }
    unknown
}

/// A client's profile, with the snapshot it is in and its id there.
#[derive(Clone, Copy)]
pub(super) struct Selected<'a> {
    pub(super) all: &'a Profiles,
    pub(super) id: ProfileId,
    pub(super) profile: &'a Profile,
}

impl Selected<'_> {
    /// Has the profile allowed every name of this cache entry before,
    /// under this snapshot?
    #[inline]
    pub(super) fn allowed(&self, entry: &Entry) -> bool {
        self.all.allowed(self.id, entry.id())
    }

    /// The profile's word on a cache entry's chain names; an allow is
    /// remembered (the question was allowed before this is asked).
    #[inline]
    pub(super) fn says_chain(&self, entry: &Entry) -> Option<Said> {
        let said = says(self.profile, None, entry.chain());
        if said.is_none() {
            self.all.remember_allowed(self.id, entry.id());
        }
        said
    }
}

/// The profile among `profiles` of a query from `client` that arrived on
/// `via`.
#[inline]
pub(super) fn select(
    profiles: Option<&Arc<Profiles>>,
    client: IpAddr,
    via: Via,
) -> Option<Selected<'_>> {
    let all = profiles?;
    let (id, profile) = all.select_on(client, via)?;
    Some(Selected { all, id, profile })
}

/// EDE texts and counter handles for profile answers, built once per
/// profiles snapshot and national list.
#[derive(Debug, Default)]
pub(super) struct ProfileParts {
    generation: u64,
    /// The national list's generation `profiles[_].national` is for.
    national: u64,
    /// By extra list, in `[[lists]]` order.
    lists: Vec<ListParts>,
    /// By profile ([`ProfileId`]): `ward_profile_blocked_total` handles.
    profiles: Vec<ProfileCounters>,
    /// `ward_blocked_total{category="walled-garden"}`.
    garden: Option<HotCounter>,
}

#[derive(Debug)]
struct ListParts {
    texts: Vec<Box<str>>,
    counters: Vec<HotCounter>,
    fault: Box<str>,
    unknown: Box<str>,
    unloaded: Box<str>,
    /// The list's `encrypted-dns` category, if it has one, and its
    /// `ward_bypass_blocked_total{kind="encrypted_dns"}` handle.
    encrypted_dns: Option<(u16, HotCounter)>,
}

/// One profile's blocked counters, resolved when the parts are built so
/// that a block costs an index and an atomic add.
#[derive(Debug, Default)]
struct ProfileCounters {
    /// By national category id.
    national: Vec<HotCounter>,
    /// By extra list, then category id; empty for a list the profile does
    /// not use or that has not loaded.
    extra: Vec<Vec<HotCounter>>,
    /// Its blocks outside its walled garden (`list` and `category`
    /// "walled-garden"); `None` for a profile that is not one.
    garden: Option<HotCounter>,
}

/// The EDE 17 text of a name outside the client's walled garden.
const GARDEN_TEXT: &str = "filtered: this client's profile is a walled garden (mode allow_only) and the name is not in its allow list";

/// The EDE 14 text for a profile list that is not in the snapshot at all.
const UNLOADED_TEXT: &str =
    "a list of this client's profile is not loaded; ward will not answer unfiltered";

impl ProfileParts {
    fn build(engine: &Engine, all: &Profiles, national: &Active) -> Self {
        let action = engine.settings.block.mode.as_str();
        let lists = all
            .lists()
            .iter()
            .map(|extra| {
                let text = |list: &Active, category: &str| -> Box<str> {
                    format!(
                        "filtered by list {} serial {} (category {category})",
                        extra.name,
                        list.serial()
                    )
                    .into()
                };
                let unloaded = format!(
                    "list {} is not loaded; ward will not answer unfiltered",
                    extra.name
                )
                .into();
                match &extra.list {
                    None => ListParts {
                        texts: Vec::new(),
                        counters: Vec::new(),
                        fault: Box::default(),
                        unknown: Box::default(),
                        unloaded,
                        encrypted_dns: None,
                    },
                    Some(list) => {
                        let categories = &list.manifest().categories;
                        ListParts {
                            texts: categories.iter().map(|c| text(list, &c.name)).collect(),
                            counters: categories
                                .iter()
                                .map(|c| engine.metrics.blocked_counter(&c.name, action))
                                .collect(),
                            fault: text(list, policy::INDEX_FAULT_NAME),
                            unknown: text(list, policy::UNKNOWN_NAME),
                            unloaded,
                            encrypted_dns: categories
                                .iter()
                                .position(|c| c.name == ENCRYPTED_DNS_CATEGORY)
                                .and_then(|i| u16::try_from(i).ok())
                                .map(|i| (i, engine.metrics.bypass_counter(Switch::EncryptedDns))),
                        }
                    }
                }
            })
            .collect();
        let metrics = &engine.metrics;
        let profiles = all
            .profiles()
            .iter()
            .map(|profile| {
                let counters = |list: &str, list_artifact: &Active| -> Vec<HotCounter> {
                    list_artifact
                        .manifest()
                        .categories
                        .iter()
                        .map(|c| metrics.profile_blocked_counter(&profile.name, list, &c.name))
                        .collect()
                };
                let extra = all
                    .lists()
                    .iter()
                    .enumerate()
                    .map(|(i, extra)| {
                        let used = profile.list_indexes().any(|x| usize::from(x) == i);
                        match &extra.list {
                            Some(list) if used => counters(&extra.name, list),
                            _ => Vec::new(),
                        }
                    })
                    .collect();
                ProfileCounters {
                    national: counters(NATIONAL_LIST_NAME, national),
                    extra,
                    garden: profile.is_allow_only().then(|| {
                        metrics.profile_blocked_counter(
                            &profile.name,
                            policy::GARDEN_NAME,
                            policy::GARDEN_NAME,
                        )
                    }),
                }
            })
            .collect();
        let garden = all
            .profiles()
            .iter()
            .any(Profile::is_allow_only)
            .then(|| engine.metrics.blocked_counter(policy::GARDEN_NAME, action));
        Self {
            generation: all.generation,
            national: national.generation,
            lists,
            profiles,
            garden,
        }
    }

    fn list(&self, r: ListRef) -> Option<&ListParts> {
        match r {
            ListRef::Extra(i) => self.lists.get(usize::from(i)),
            ListRef::National | ListRef::Garden => None,
        }
    }

    /// Counts a block outside profile `id`'s walled garden.
    fn count_garden(&self, id: ProfileId) {
        let profile = self.profiles.get(usize::from(id.0));
        for counter in [
            self.garden.as_ref(),
            profile.and_then(|p| p.garden.as_ref()),
        ]
        .into_iter()
        .flatten()
        {
            counter.inc();
        }
    }

    /// Counts a block of category `category` of list `list` for profile
    /// `id` (`ward_profile_blocked_total`).
    #[inline]
    fn count(&self, id: ProfileId, list: ListRef, category: u16) {
        let Some(p) = self.profiles.get(usize::from(id.0)) else {
            return;
        };
        let by_category = match list {
            ListRef::Garden => return,
            ListRef::National => &p.national,
            ListRef::Extra(i) => match p.extra.get(usize::from(i)) {
                Some(c) => c,
                None => return,
            },
        };
        if let Some(counter) = by_category.get(usize::from(category)) {
            counter.inc();
        }
    }
}

/// The profile parts as [`Engine::profile_parts`] found or built them.
pub(super) enum Parts {
    /// The stored parts: a guard, so no shared reference count is written
    /// on the per-query path.
    Current(arc_swap::Guard<Arc<ProfileParts>>),
    Fresh(Arc<ProfileParts>),
}

impl std::ops::Deref for Parts {
    type Target = ProfileParts;

    fn deref(&self) -> &ProfileParts {
        match self {
            Self::Current(guard) => guard,
            Self::Fresh(fresh) => fresh,
        }
    }
}

impl Engine {
    /// Applies the profiles in `store` to the clients they select.
    pub fn with_profiles(mut self, store: Arc<ProfileStore>) -> Self {
        self.profiles = Some(store);
        self
    }

    /// The profiles in force, if any are configured.
    pub fn profiles(&self) -> Option<&Arc<ProfileStore>> {
        self.profiles.as_ref()
    }

    fn profile_parts(&self, all: &Profiles, national: &Active) -> Parts {
        let current = self.profile_parts.load();
        if current.generation == all.generation && current.national == national.generation {
            return Parts::Current(current);
        }
        let fresh = Arc::new(ProfileParts::build(self, all, national));
        self.profile_parts.store(Arc::clone(&fresh));
        Parts::Fresh(fresh)
    }

    /// Counts a national-list block under the client's profile, if it has
    /// one (`ward_profile_blocked_total{list="national"}`): a profile
    /// lookup on the blocked path only, and none without `[[profile]]`.
    pub(super) fn count_national_for_profile(
        &self,
        client: IpAddr,
        active: &Active,
        block: &Block,
    ) {
        let in_use = self.profiles.as_ref().filter(|p| p.in_use());
        let (Some(store), Category::Listed(category)) = (in_use, block.category) else {
            return;
        };
        let all = store.load();
        if let Some((id, _)) = all.select_id(client) {
            self.profile_parts(&all, active)
                .count(id, ListRef::National, category);
        }
    }

    /// The reply to what a profile said, counted under its result.
    fn said_reply<'a>(
        header: &Header,
        question: &'a [u8],
        qtype: u16,
        per_list: &'a BlockedCounters,
        parts: &'a ProfileParts,
        (id, said): (ProfileId, Said),
    ) -> (Reply<'a>, QueryResult) {
        match said {
            Said::Block(block) if block.list == ListRef::Garden => {
                parts.count_garden(id);
                let reply = Reply::with_body(header, question, per_list.body(qtype))
                    .with_ede(ede::FILTERED, GARDEN_TEXT);
                (reply, QueryResult::Blocked)
            }
            Said::Block(block) => {
                let list = parts.list(block.list);
                let text = list.map_or(UNLOADED_TEXT, |l| match block.category {
                    Category::Listed(c) => {
                        let i = usize::from(c);
                        if let Some(counter) = l.counters.get(i) {
                            counter.inc();
                            parts.count(id, block.list, c);
                        }
                        if let Some((_, bypass)) = l.encrypted_dns.as_ref().filter(|e| e.0 == c) {
                            bypass.inc();
                        }
                        l.texts.get(i).map_or(&*l.unknown, |t| t)
                    }
                    Category::IndexFault => &l.fault,
                    Category::Unknown => &l.unknown,
                });
                let reply = Reply::with_body(header, question, per_list.body(qtype))
                    .with_ede(ede::FILTERED, text);
                (reply, QueryResult::Blocked)
            }
            Said::Unknown(u) => {
                let text = parts
                    .list(ListRef::Extra(u.index))
                    .map_or(UNLOADED_TEXT, |l| &l.unloaded);
                let reply =
                    Reply::empty(header, question, RCODE_SERVFAIL).with_ede(ede::NOT_READY, text);
                (reply, QueryResult::ServFail)
            }
        }
    }

    /// What the client's profile answers before the cache and the
    /// upstreams: a `[profile.bypass]` switch's own answer, a block of the
    /// question (not asked again when the memo says the profile allowed
    /// this cache entry: `remembered`), or a safe-search rewrite. `None`:
    /// the query goes on.
    #[inline]
    #[allow(clippy::too_many_arguments)]
    pub(super) fn profile_first(
        &self,
        q: &Query<'_>,
        active: &Active,
        p: Selected<'_>,
        remembered: bool,
        finish: &mut Finish<'_>,
        client_ip: IpAddr,
        now: std::time::Instant,
    ) -> Option<Step> {
        if let Some(hit) = p.profile.bypass().answer(&q.key) {
            return Some(self.bypass_reply(q, active, hit, (p.all, p.id), finish, client_ip));
        }
        if !remembered
            && let Some(said) = says(p.profile, Some(q.key.as_bytes()), std::iter::empty())
        {
            return Some(self.profile_reply(q, active, (p.all, p.id), said, finish, client_ip));
        }
        let rewrite = p.profile.safe_search(q.key.as_bytes())?;
        Some(self.safe_search(q, active, p, rewrite, finish, client_ip, now))
    }

    /// Answers a query the client's profile blocks or cannot decide.
    pub(super) fn profile_reply(
        &self,
        q: &Query<'_>,
        active: &Active,
        (all, id): (&Profiles, ProfileId),
        said: Said,
        finish: &mut Finish<'_>,
        client: std::net::IpAddr,
    ) -> Step {
        self.log_said(client, all, &q.key, q.qtype, said);
        let per_list = self.per_list(active);
        let parts = self.profile_parts(all, active);
        let (reply, result) = Self::said_reply(
            &q.header,
            q.question,
            q.qtype,
            &per_list,
            &parts,
            (id, said),
        );
        finish.reply(reply, result)
    }

    /// The response-side check of a forwarded answer against the client's
    /// profile (newest profiles): the question and every name the answer
    /// leads to. `Some` when it blocked or could not decide, with the reply
    /// encoded into `out`.
    pub(super) fn profile_answer(
        &self,
        p: &Pending,
        active: &Active,
        chain: &[NameKey],
        out: &mut Vec<u8>,
    ) -> Option<QueryResult> {
        let store = self.profiles.as_ref().filter(|p| p.in_use())?;
        let all = store.load();
        let (id, profile) = all.select_on(p.client, p.via)?;
        let chain = chain.iter().map(NameKey::as_bytes);
        let said = says(profile, Some(p.key.as_bytes()), chain)?;
        self.log_said(p.client, &all, &p.key, p.qtype, said);
        let per_list = self.per_list(active);
        let parts = self.profile_parts(&all, active);
        let (reply, result) = Self::said_reply(
            &p.header,
            &p.question,
            p.qtype,
            &per_list,
            &parts,
            (id, said),
        );
        let udp = p.protocol == crate::dns::Protocol::Udp;
        reply.encode_into(out, p.edns, self.settings.upstream.edns_payload, udp);
        Some(result)
    }

    /// One TXT record per extra list, after the national list's record
    /// of `list.ward.`: its `[[lists]]` name, list id, serial and SHA-256,
    /// or that it is not loaded.
    pub(super) fn extra_list_records(&self, class: u16, body: &mut Body) {
        let Some(store) = &self.profiles else {
            return;
        };
        for extra in store.load().lists() {
            let name = format!("name={}", extra.name);
            let strings = match &extra.list {
                Some(list) => vec![
                    name,
                    format!("list={}", list.list_id()),
                    format!("serial={}", list.serial()),
                    format!("sha256={}", hex::encode(list.sha256())),
                ],
                None => vec![name, "not-loaded".to_owned()],
            };
            let record = answer::txt_body(class, &strings, super::LOCAL_TTL);
            body.bytes.extend_from_slice(&record.bytes);
            body.counts[0] = body.counts[0].saturating_add(1);
        }
    }

    fn log_said(
        &self,
        client: std::net::IpAddr,
        all: &Profiles,
        key: &NameKey,
        qtype: u16,
        said: Said,
    ) {
        if !self.settings.query_log {
            return;
        }
        let (block, list) = match said {
            Said::Block(b) if b.list == ListRef::Garden => {
                let store = self.store.load();
                if let Some(active) = store.as_ref() {
                    self.log(client, active, key, qtype, None, policy::GARDEN_NAME);
                }
                return;
            }
            Said::Block(b) => {
                let ListRef::Extra(i) = b.list else { return };
                (b, all.list(i).and_then(|l| l.list.as_ref()))
            }
            Said::Unknown(_) => {
                // Nothing decided the name: log it as not ready.
                let store = self.store.load();
                if let Some(active) = store.as_ref() {
                    self.log(client, active, key, qtype, None, "profile-not-ready");
                }
                return;
            }
        };
        if let Some(list) = list {
            self.log(client, list, key, qtype, Some(&block), "filtered");
        }
    }
}
