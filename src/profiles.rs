//! School profiles: the `[[lists]]` and `[[profile]]` settings, and the
//! snapshot of profiles in force that the DNS engine reads once per query.
//!
//! ```text
//! config ─▶ ExtraListSettings, ProfileSettings
//! update::profiles (start, SIGHUP) ─▶ Profiles::build ─▶ ProfileStore ─▶ dns::engine
//! ```
//!
//! A [`Profiles`] snapshot holds every [`Profile`] put together with the
//! lists in force, the [`Selector`] that picks one per client address, and
//! each extra list as loaded (or not). The engine loads it once per query;
//! a rebuild swaps the whole snapshot, so a query never sees half of one.
//!
//! The verdict itself is `policy`'s; this module only assembles its inputs.

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use arc_swap::ArcSwap;
use ipnet::IpNet;
use serde::Serialize;

use crate::domain::DomainName;
use crate::list::RuleKind;
use crate::policy::bypass::Bypass;
use crate::policy::{
    ListenerId, NameRules, Overlap, Profile, ProfileId, SafeSearch, Selector, Via,
};
use crate::spelling;
use crate::store::Snapshot;

mod hours;
mod memo;

pub use self::hours::{
    DEFAULT_TIME_ZONE, Mode, NodeSettings, TEST_NOW_ENV, default_time_zone, now, now_in, time_zone,
};

/// The youngest `age` a profile can have.
pub const MIN_AGE: u8 = 0;
/// The oldest `age` a profile can have: the oldest a list can rate a
/// category for.
pub const MAX_AGE: u8 = crate::list::build::MAX_AGE;
/// Longest list or profile name, bytes.
pub const MAX_NAME_LEN: usize = 64;
/// The name the national list goes by where lists are named (the `list`
/// label of `ward_profile_blocked_total`, school reports); reserved, so
/// no `[[lists]]` entry can take it.
pub const NATIONAL_LIST_NAME: &str = "national";

/// One `[[lists]]` entry: an extra list that profiles can apply.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ExtraListSettings {
    /// `[a-z0-9][a-z0-9.-]*`, unique; profiles name the list by it.
    pub name: String,
    #[serde(flatten)]
    pub origin: ListOrigin,
}

/// Where an extra list comes from.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(untagged)]
pub enum ListOrigin {
    /// A plain source file in the national source format, compiled when
    /// loaded (`source`).
    Source {
        #[serde(serialize_with = "spelling::path")]
        source: PathBuf,
    },
    /// A signed artifact (`file` and/or `url`), verified against its own
    /// `trusted_keys` exactly like the national list.
    Signed {
        /// On disk; with `url`, the seed used until a download.
        #[serde(
            serialize_with = "spelling::path_some",
            skip_serializing_if = "Option::is_none"
        )]
        file: Option<PathBuf>,
        /// Read once, with the config.
        trusted_keys: Vec<crate::keys::PublicKeyFile>,
        /// `url` and the updater's keys: downloaded like `list.url`.
        #[serde(flatten, skip_serializing_if = "Option::is_none")]
        update: Option<ListUpdate>,
    },
}

/// Where a signed extra list is downloaded from, and how: the keys of
/// `list.url`, with the same defaults.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ListUpdate {
    /// HTTPS only.
    #[serde(serialize_with = "spelling::display")]
    pub url: reqwest::Url,
    /// Time between polls.
    #[serde(serialize_with = "spelling::duration")]
    pub poll_interval: Duration,
    /// Limit on one whole download.
    #[serde(serialize_with = "spelling::duration")]
    pub timeout: Duration,
    /// Largest artifact downloaded, bytes.
    #[serde(serialize_with = "spelling::byte_size")]
    pub max_size: u64,
    /// Extra CA certificates trusted for `url`; read with the config.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ca_file: Option<crate::readers::CaBundle>,
}

/// One `[[profile]]` entry.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ProfileSettings {
    /// Unique; a label an operator chose.
    pub name: String,
    /// The client networks the profile applies to (none for a profile
    /// selected by `listen` alone).
    #[serde(
        serialize_with = "spelling::displays",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub clients: Vec<IpNet>,
    /// `[dns] listen` addresses whose queries get this profile, whatever
    /// the client's address.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub listen: Vec<ProfileListen>,
    /// `client_ids`: DoT/DoH client ids (first label of the TLS server
    /// name, or the DoH path's last segment) whose queries get this
    /// profile, before any listener or network.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub client_ids: Vec<crate::policy::ClientId>,
    /// The age of the readers, [`MIN_AGE`]..=[`MAX_AGE`].
    pub age: u8,
    /// Names of `[[lists]]` entries, in the order they are asked.
    pub lists: Vec<String>,
    /// Categories blocked whatever the age.
    pub block_categories: Vec<String>,
    /// Names never blocked by this profile's own lists.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub allow: Option<AllowFile>,
    /// `deny`, or `allow_only`: a walled garden of the `allow` file.
    #[serde(skip_serializing_if = "Mode::is_deny")]
    pub mode: Mode,
    /// `[[profile.schedule]]`: categories blocked at set times.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub schedule: Vec<crate::policy::schedule::Window>,
    /// `[profile.bypass]`: every switch on unless turned off.
    pub bypass: Bypass,
    /// The school's name and how to reach it, shown on the block page
    /// next to the hotline.
    #[serde(flatten)]
    pub school: SchoolContact,
    /// `[profile.safe_search]`: engines whose names go to their
    /// safe-search hosts.
    #[serde(skip_serializing_if = "SafeSearch::is_off")]
    pub safe_search: SafeSearch,
}

/// Longest `school_name` or `school_contact`, in characters.
pub const MAX_SCHOOL_TEXT: usize = 120;

/// What the block page shows a profile's readers besides the national
/// hotline (`school_name`, `school_contact`): plain text, at most
/// [`MAX_SCHOOL_TEXT`] characters, no control characters.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct SchoolContact {
    #[serde(rename = "school_name", skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(rename = "school_contact", skip_serializing_if = "Option::is_none")]
    pub contact: Option<String>,
}

/// Is `text` fit for `school_name`/`school_contact`: not blank, at most
/// [`MAX_SCHOOL_TEXT`] characters, no control characters (no line breaks:
/// it is one line of the page)?
pub fn valid_school_text(text: &str) -> bool {
    !text.trim().is_empty()
        && text.chars().count() <= MAX_SCHOOL_TEXT
        && !text.chars().any(char::is_control)
}

/// One `listen` address of a profile: one of the `[dns] listen`
/// addresses, with its place there (what the listener sockets are
/// numbered by, in that order).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProfileListen {
    pub addr: SocketAddr,
    pub listener: ListenerId,
}

impl Serialize for ProfileListen {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(&self.addr)
    }
}

/// An `allow` file, read when the config was loaded.
#[derive(Debug, Clone, PartialEq)]
pub struct AllowFile {
    pub path: PathBuf,
    pub entries: Vec<(DomainName, RuleKind)>,
}

impl Serialize for AllowFile {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        spelling::path(&self.path, s)
    }
}

impl AllowFile {
    /// The rules a [`Profile`] checks.
    pub fn rules(&self) -> NameRules {
        let mut rules = NameRules::default();
        for (name, kind) in &self.entries {
            rules.insert(&name.key(), *kind);
        }
        rules
    }
}

/// Is `name` a valid list or profile name: `[a-z0-9][a-z0-9.-]*`, at most
/// [`MAX_NAME_LEN`] bytes, and not an IPv4 address? Names go into metrics
/// and school reports, which never carry a client address.
pub fn valid_name(name: &str) -> bool {
    let b = name.as_bytes();
    !b.is_empty()
        && b.len() <= MAX_NAME_LEN
        && (b[0].is_ascii_lowercase() || b[0].is_ascii_digit())
        && b.iter()
            .all(|&c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == b'.' || c == b'-')
        && name.parse::<std::net::Ipv4Addr>().is_err()
}

/// One extra list as the snapshot holds it.
#[derive(Debug, Clone)]
pub struct ExtraList {
    /// Its `[[lists]]` name.
    pub name: String,
    /// The artifact in force; `None` when it never loaded.
    pub list: Option<Snapshot>,
}

/// Every profile with the lists in force, and how clients select them.
#[derive(Debug, Default)]
pub struct Profiles {
    /// Unique per build within this process; never 0.
    pub generation: u64,
    selector: Selector,
    profiles: Vec<Profile>,
    /// By profile, as `profiles`.
    schools: Vec<SchoolContact>,
    lists: Vec<ExtraList>,
    /// What each profile has allowed of which cache entries, in this
    /// snapshot only.
    memo: memo::AllowMemo,
    /// When a schedule window of a profile next opens or closes: the
    /// snapshot must be built again then.
    next_change: Option<jiff::Timestamp>,
    /// The time its schedules were read at.
    built_at: Option<jiff::Timestamp>,
}

/// The profile a client's address selects, with what the block page
/// shows its readers and the lists its blocks can name.
#[derive(Debug, Clone, Copy)]
pub struct Reader<'a> {
    pub profile: &'a Profile,
    pub school: &'a SchoolContact,
    /// Every extra list, in `[[lists]]` order (a block's
    /// `policy::ListRef::Extra` indexes it).
    pub lists: &'a [ExtraList],
}

/// The profiles in force, swapped whole.
///
/// Always present under `ward serve`, so a SIGHUP can add the first
/// profile or remove the last; [`in_use`](Self::in_use) is one relaxed
/// load, so a node without profiles pays that and no snapshot load.
#[derive(Debug)]
pub struct ProfileStore {
    snapshot: ArcSwap<Profiles>,
    in_use: AtomicBool,
}

impl ProfileStore {
    /// A store holding `profiles`.
    pub fn new(profiles: Profiles) -> Self {
        let in_use = AtomicBool::new(!profiles.is_empty());
        Self {
            snapshot: ArcSwap::from_pointee(profiles),
            in_use,
        }
    }

    /// Whether any profile is in force: without one, no client needs the
    /// snapshot at all.
    #[inline]
    pub fn in_use(&self) -> bool {
        self.in_use.load(Ordering::Relaxed)
    }

    /// The snapshot in force. Cheap; take it once per query.
    #[inline]
    pub fn load(&self) -> arc_swap::Guard<Arc<Profiles>> {
        self.snapshot.load()
    }

    /// The snapshot in force as an owned `Arc`.
    pub fn load_full(&self) -> Arc<Profiles> {
        self.snapshot.load_full()
    }

    /// Puts `profiles` in force; returns the snapshot it replaces. A query
    /// under way keeps the snapshot it loaded; the next one sees these.
    pub fn swap(&self, profiles: Profiles) -> Arc<Profiles> {
        let in_use = !profiles.is_empty();
        let old = self.snapshot.swap(Arc::new(profiles));
        self.in_use.store(in_use, Ordering::Relaxed);
        old
    }
}

static GENERATIONS: AtomicU64 = AtomicU64::new(0);

impl Profiles {
    /// [`Profiles::build_at`] now, schedules read in the default time
    /// zone ([`DEFAULT_TIME_ZONE`]).
    pub fn build(
        settings: &[ProfileSettings],
        lists: Vec<ExtraList>,
    ) -> Result<Self, Vec<Overlap>> {
        Self::build_at(settings, lists, &now_in(&default_time_zone()))
    }

    /// Puts each profile together with the lists in force (`lists` in
    /// `[[lists]]` order) and its schedule windows as they stand at `now`
    /// (in the node's time zone). A profile's list name that is not among
    /// `lists` cannot happen with a validated config; it is treated as a
    /// list that never loaded (fail closed).
    pub fn build_at(
        settings: &[ProfileSettings],
        lists: Vec<ExtraList>,
        now: &jiff::ZonedDateTime,
    ) -> Result<Self, Vec<Overlap>> {
        let profiles = settings
            .iter()
            .map(|p| {
                let used =
                    p.lists
                        .iter()
                        .map(|name| match lists.iter().position(|l| &l.name == name) {
                            Some(i) => (index(i), lists[i].list.clone()),
                            None => (u16::MAX, None),
                        });
                let allow = p.allow.as_ref().map(AllowFile::rules).unwrap_or_default();
                let categories = p.bypass.block_categories(&p.block_categories);
                let profile = Profile::new(p.name.clone(), p.age, &categories, allow, used)
                    .with_safe_search(p.safe_search)
                    .with_bypass(p.bypass)
                    .with_schedule(&p.schedule, now);
                match p.mode {
                    Mode::Deny => profile,
                    Mode::AllowOnly => profile.allow_only(),
                }
            })
            .collect();
        let next_change = settings
            .iter()
            .filter_map(|p| crate::policy::schedule::next_change(&p.schedule, now))
            .map(|z| z.timestamp())
            .min();
        let networks = settings
            .iter()
            .enumerate()
            .flat_map(|(i, p)| p.clients.iter().map(move |&net| (net, ProfileId(index(i)))));
        let listeners = settings.iter().enumerate().flat_map(|(i, p)| {
            p.listen
                .iter()
                .map(move |l| (l.listener, ProfileId(index(i))))
        });
        let client_ids = settings
            .iter()
            .enumerate()
            .flat_map(|(i, p)| p.client_ids.iter().map(move |&c| (c, ProfileId(index(i)))));
        let selector = Selector::new(networks, listeners)?.with_client_ids(client_ids)?;
        Ok(Self {
            generation: GENERATIONS.fetch_add(1, Ordering::Relaxed) + 1,
            selector,
            memo: memo::AllowMemo::new(settings.len()),
            profiles,
            schools: settings.iter().map(|p| p.school.clone()).collect(),
            lists,
            next_change,
            built_at: Some(now.timestamp()),
        })
    }

    /// Must the snapshot be built again at `now` for its schedules: has a
    /// window opened or closed since it was built (or did the clock go
    /// back past its building)?
    pub fn schedule_stale(&self, now: jiff::Timestamp) -> bool {
        self.next_change.is_some_and(|at| now >= at) || self.built_at.is_some_and(|at| now < at)
    }

    /// When a schedule window next opens or closes, if any profile has
    /// one.
    pub fn next_change(&self) -> Option<jiff::Timestamp> {
        self.next_change
    }

    /// No profile: every client gets the national list alone.
    #[inline]
    pub fn is_empty(&self) -> bool {
        self.profiles.is_empty()
    }

    /// The profile of a client, if any.
    #[inline]
    pub fn select(&self, client: IpAddr) -> Option<&Profile> {
        self.select_id(client).map(|(_, p)| p)
    }

    /// The profile of a client with its id (what [`Profiles::allowed`]
    /// is keyed by), whatever listener it asked on.
    #[inline]
    pub fn select_id(&self, client: IpAddr) -> Option<(ProfileId, &Profile)> {
        self.select_on(client, Via::default())
    }

    /// The profile of a query from `client` that arrived `via`: its client
    /// id's profile, else the listener's, else the most specific client
    /// network's.
    #[inline]
    pub fn select_on(&self, client: IpAddr, via: Via) -> Option<(ProfileId, &Profile)> {
        let id = self.selector.select_via(client, via)?;
        Some((id, self.profiles.get(usize::from(id.0))?))
    }

    /// A client id of profile `id`, if it has any.
    pub fn client_id_of(&self, id: ProfileId) -> Option<crate::policy::ClientId> {
        self.selector.client_id_of(id)
    }

    /// Has profile `id` allowed the question and every chain name of the
    /// cache entry `entry` (its [`crate::dns::cache::Entry::id`]) under
    /// this snapshot? Exact: true only after [`Profiles::remember_allowed`]
    /// for that very pair, in this snapshot; an evicted memo is false.
    #[inline]
    pub fn allowed(&self, id: ProfileId, entry: u64) -> bool {
        self.memo.allows(entry, id)
    }

    /// Remembers that profile `id`, as put together in this snapshot,
    /// allows the question and every chain name of cache entry `entry`.
    /// Call it only with an allow of all of them (never for a block, or a
    /// name a list that never loaded could not decide).
    #[inline]
    pub fn remember_allowed(&self, id: ProfileId, entry: u64) {
        self.memo.remember(entry, id);
    }

    /// Bytes of this snapshot's verdict memo.
    pub fn memo_bytes(&self) -> usize {
        self.memo.bytes()
    }

    /// The profile of a client, if any, with its school's details (for
    /// the block page).
    pub fn reader(&self, client: IpAddr) -> Option<Reader<'_>> {
        let id = usize::from(self.selector.select(client, None)?.0);
        Some(Reader {
            profile: self.profiles.get(id)?,
            school: self.schools.get(id)?,
            lists: &self.lists,
        })
    }

    /// Every profile, in `[[profile]]` order (a [`ProfileId`] indexes it).
    pub fn profiles(&self) -> &[Profile] {
        &self.profiles
    }

    /// The profile named `name`, if any.
    pub fn by_name(&self, name: &str) -> Option<&Profile> {
        self.profiles.iter().find(|p| p.name == name)
    }

    /// The extra lists, in `[[lists]]` order.
    pub fn lists(&self) -> &[ExtraList] {
        &self.lists
    }

    /// The extra list at `index` (a `policy::ListRef::Extra`).
    pub fn list(&self, index: u16) -> Option<&ExtraList> {
        self.lists.get(usize::from(index))
    }

    /// Each list that never loaded, with the profiles that use it.
    pub fn unloaded(&self) -> Vec<(&str, Vec<&str>)> {
        self.lists
            .iter()
            .enumerate()
            .filter(|(_, l)| l.list.is_none())
            .map(|(i, l)| {
                let users = self
                    .profiles
                    .iter()
                    .filter(|p| p.list_indexes().any(|x| usize::from(x) == i))
                    .map(|p| p.name.as_str())
                    .collect();
                (l.name.as_str(), users)
            })
            .collect()
    }
}

/// A place in a config list as an id. Configs hold far fewer than 65,535
/// lists or profiles (the config reader bounds them); past that the id
/// saturates, which selects or finds nothing (fail closed).
fn index(i: usize) -> u16 {
    u16::try_from(i).unwrap_or(u16::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        assert!(valid_name("school-local"));
        assert!(valid_name("0.moet"));
        assert!(!valid_name(""));
        assert!(!valid_name("-x"));
        assert!(!valid_name("School"));
        assert!(!valid_name("a_b"));
        assert!(valid_name(&"a".repeat(64)));
        assert!(!valid_name(&"a".repeat(65)));
        assert!(!valid_name("10.0.0.7"), "an address is no label");
        assert!(valid_name("10.0.0"));
    }

    #[test]
    fn school_texts() {
        assert!(valid_school_text("Trường Tiểu học Kim Đồng"));
        assert!(valid_school_text("024 3825 1234 · it@school.edu.vn"));
        assert!(valid_school_text(&"é".repeat(MAX_SCHOOL_TEXT)));
        assert!(!valid_school_text(&"é".repeat(MAX_SCHOOL_TEXT + 1)));
        assert!(!valid_school_text("  "));
        assert!(!valid_school_text("line\nbreak"));
        assert!(!valid_school_text("tab\there"));
        assert!(!valid_school_text("bidi\u{85}"));
    }

    #[test]
    fn selects_by_client_and_reports_unloaded_lists() {
        let p = |name: &str, net: &str| ProfileSettings {
            name: name.into(),
            clients: vec![net.parse().unwrap()],
            listen: Vec::new(),
            client_ids: Vec::new(),
            age: 10,
            lists: vec!["gone".into()],
            block_categories: Vec::new(),
            allow: None,
            mode: Mode::Deny,
            schedule: Vec::new(),
            bypass: Bypass::ALL_ON,
            school: SchoolContact::default(),
            safe_search: SafeSearch::default(),
        };
        let lists = vec![ExtraList {
            name: "gone".into(),
            list: None,
        }];
        let built =
            Profiles::build(&[p("a", "127.0.0.2/32"), p("b", "127.0.0.0/24")], lists).unwrap();
        let name = |ip: &str| built.select(ip.parse().unwrap()).map(|p| p.name.clone());
        assert_eq!(name("127.0.0.2").as_deref(), Some("a"));
        assert_eq!(name("127.0.0.3").as_deref(), Some("b"));
        assert_eq!(name("10.0.0.1"), None);
        let reader = built.reader("127.0.0.2".parse().unwrap()).unwrap();
        assert_eq!(reader.profile.name, "a");
        assert_eq!(reader.school, &SchoolContact::default());
        assert_eq!(reader.lists.len(), 1);
        assert!(built.reader("10.0.0.1".parse().unwrap()).is_none());
        assert_eq!(built.unloaded(), vec![("gone", vec!["a", "b"])]);
        assert!(
            Profiles::build(
                &[p("a", "127.0.0.0/24"), p("b", "127.0.0.0/24")],
                Vec::new()
            )
            .is_err()
        );
    }
}
