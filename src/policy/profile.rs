//! Profiles: what a client gets beyond the national list.
//!
//! A [`Profile`] names the extra lists that apply to its clients, how old
//! those clients are, the categories it blocks whatever the age, and the
//! names it never blocks with its own lists. [`decide_for`] is the verdict
//! with a profile: the national list first (mandatory: no profile setting
//! can change its answer), then the profile's allow rules, then each of the
//! profile's lists in order.
//!
//! Age ratings are applied when a profile is put together with the lists
//! in force ([`Profile::new`]), not per query: each of the profile's lists
//! gets a table from category id to "blocks", so that a match costs one
//! index. The table is rebuilt whenever a list or the profiles change.
//!
//! Pure: no I/O, no metrics, no configuration types.

use super::bypass::Bypass;
use super::safe_search::{Rewrite, SafeSearch};
use super::schedule::{self, Window};
use super::{Block, Category, ListRef, Verdict};
use crate::domain::NameKey;
use crate::list::format::CategoryInfo;
use crate::list::{FAULT_CATEGORY, ListArtifact, Match, RuleKind};
use crate::store::Snapshot;
use std::collections::HashSet;

/// Names never blocked by a profile's own lists (its `allow` file): each
/// name exactly, or the name and everything under it.
#[derive(Debug, Clone, Default)]
pub struct NameRules {
    exact: HashSet<Box<[u8]>>,
    subtree: HashSet<Box<[u8]>>,
}

impl NameRules {
    /// Adds one rule. An overflowed key (never a name) is ignored.
    pub fn insert(&mut self, key: &NameKey, kind: RuleKind) {
        let bytes = key.as_bytes();
        if bytes.is_empty() {
            return;
        }
        let set = match kind {
            RuleKind::Exact => &mut self.exact,
            RuleKind::Subtree => &mut self.subtree,
        };
        set.insert(bytes.into());
    }

    /// Number of rules.
    pub fn len(&self) -> usize {
        self.exact.len() + self.subtree.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Does a rule cover this name?
    pub fn matches(&self, key: &NameKey) -> bool {
        self.matches_key(key.as_bytes())
    }

    /// [`NameRules::matches`] for the bytes of a key (a cached answer's
    /// chain names).
    pub fn matches_key(&self, bytes: &[u8]) -> bool {
        if bytes.is_empty() {
            return false;
        }
        if self.exact.contains(bytes) {
            return true;
        }
        // Every parent of the name, and the name itself: the key is
        // reversed, so they are its prefixes that end on a label's dot.
        !self.subtree.is_empty()
            && bytes
                .iter()
                .enumerate()
                .filter(|&(_, &b)| b == b'.')
                .any(|(i, _)| self.subtree.contains(&bytes[..=i]))
    }
}

/// Does a category of a non-national list block for a reader of `age`?
///
/// A category with a minimum age blocks below it; one without blocks for
/// every age; `block_categories` block whatever the age. (The national
/// list does not come here: all of it is mandatory.)
pub fn category_blocks(info: &CategoryInfo, age: u8, block_categories: &[String]) -> bool {
    match info.min_age {
        None => true,
        Some(min) => age < min || block_categories.contains(&info.name),
    }
}

/// One of a profile's lists, rated for the profile's age.
#[derive(Debug, Clone)]
struct RatedList {
    /// Where the list sits among the extra lists (`[[lists]]` order).
    index: u16,
    /// `None` while the list has never loaded.
    loaded: Option<Loaded>,
}

#[derive(Debug, Clone)]
struct Loaded {
    list: Snapshot,
    /// By category id: does a match in it block? Ids past the end (not in
    /// the manifest) block, as the index fault does: fail closed.
    blocks: Box<[bool]>,
}

/// A profile put together with the lists in force.
#[derive(Debug, Clone)]
pub struct Profile {
    pub name: String,
    /// The age of its readers, in years.
    pub age: u8,
    allow: NameRules,
    lists: Vec<RatedList>,
    /// `[profile.bypass]`: the names and records it answers itself.
    bypass: Bypass,
    /// Which engines' names go to their safe-search hosts.
    safe_search: SafeSearch,
    /// `block_categories`: blocked whatever the age and the time.
    block_categories: Vec<String>,
    /// `mode = "allow_only"`: only names its allow file covers resolve.
    allow_only: bool,
    /// Its `[[profile.schedule]]` windows that were open when it was put
    /// together (see [`Profile::with_schedule`]).
    open: Vec<OpenWindow>,
}

/// A schedule window open when a profile was put together.
#[derive(Debug, Clone)]
pub struct OpenWindow {
    pub window: Window,
    /// Its place among the profile's `[[profile.schedule]]` entries.
    pub index: u16,
    /// When this opening closes, in the node's time zone.
    pub until: Option<jiff::ZonedDateTime>,
}

/// A profile's list that has never loaded: what it would block cannot be
/// known, so a name it does not allow for other reasons cannot be answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Unloaded {
    /// The list's place among the extra lists.
    pub index: u16,
}

impl Profile {
    /// Rates each of the profile's `lists` (its place among the extra
    /// lists, and the artifact in force if one has loaded) for `age`.
    pub fn new(
        name: String,
        age: u8,
        block_categories: &[String],
        allow: NameRules,
        lists: impl IntoIterator<Item = (u16, Option<Snapshot>)>,
    ) -> Self {
        let lists = lists
            .into_iter()
            .map(|(index, list)| RatedList {
                index,
                loaded: list.map(|list| {
                    let blocks = list
                        .manifest()
                        .categories
                        .iter()
                        .map(|c| category_blocks(c, age, block_categories))
                        .collect();
                    Loaded { list, blocks }
                }),
            })
            .collect();
        Self {
            name,
            age,
            allow,
            lists,
            bypass: Bypass::OFF,
            safe_search: SafeSearch::default(),
            block_categories: block_categories.to_vec(),
            allow_only: false,
            open: Vec::new(),
        }
    }

    /// The profile with its `windows` as they stand at `now` (in the
    /// node's time zone): the categories of each open window block in
    /// every list, whatever the age, as `block_categories` do. The
    /// profile is put together again when a window opens or closes
    /// ([`schedule::next_change`]), so the tables stay per-snapshot
    /// constants and a query pays nothing for schedules.
    pub fn with_schedule(mut self, windows: &[Window], now: &jiff::ZonedDateTime) -> Self {
        let at = now.datetime();
        self.open = schedule::open_windows(windows, now)
            .into_iter()
            .filter_map(|i| {
                let window = windows.get(usize::from(i))?.clone();
                let until = window
                    .closes(&at)
                    .and_then(|end| end.to_zoned_datetime(now.time_zone().clone()).ok());
                Some(OpenWindow {
                    window,
                    index: i,
                    until,
                })
            })
            .collect();
        if self.open.is_empty() {
            return self;
        }
        for rated in &mut self.lists {
            let Some(loaded) = &mut rated.loaded else {
                continue;
            };
            let categories = &loaded.list.manifest().categories;
            for (blocks, info) in loaded.blocks.iter_mut().zip(categories) {
                *blocks = *blocks
                    || self
                        .open
                        .iter()
                        .any(|o| o.window.categories.contains(&info.name));
            }
        }
        self
    }

    /// The profile as a walled garden (`mode = "allow_only"`): a question
    /// its allow file does not cover is blocked
    /// ([`ListRef::Garden`]).
    pub fn allow_only(mut self) -> Self {
        self.allow_only = true;
        self
    }

    /// Is the profile a walled garden?
    pub fn is_allow_only(&self) -> bool {
        self.allow_only
    }

    /// The schedule windows open when the profile was put together.
    pub fn open_windows(&self) -> &[OpenWindow] {
        &self.open
    }

    /// The open window that blocks category `name`, unless
    /// `block_categories` blocks it anyway (for `explain`).
    pub(super) fn scheduled(&self, name: &str) -> Option<&OpenWindow> {
        if self.block_categories.iter().any(|c| c == name) {
            return None;
        }
        self.open
            .iter()
            .find(|o| o.window.categories.iter().any(|c| c == name))
    }

    /// The profile with these safe-search settings.
    pub fn with_safe_search(mut self, safe_search: SafeSearch) -> Self {
        self.safe_search = safe_search;
        self
    }

    /// The profile's `[profile.safe_search]`.
    pub fn safe_search_settings(&self) -> SafeSearch {
        self.safe_search
    }

    /// The safe-search rewrite of a name the lists allow, if the profile
    /// enforces the engine it belongs to.
    #[inline]
    pub fn safe_search(&self, key: &[u8]) -> Option<Rewrite> {
        self.safe_search.rewrite(key)
    }

    /// The profile with `[profile.bypass]` switches `bypass` (off until
    /// given). `encrypted_dns` also needs [`Bypass::block_categories`]
    /// passed to [`Profile::new`].
    pub fn with_bypass(mut self, bypass: Bypass) -> Self {
        self.bypass = bypass;
        self
    }

    /// The profile's `[profile.bypass]` switches.
    #[inline]
    pub fn bypass(&self) -> &Bypass {
        &self.bypass
    }

    /// The extra lists this profile uses, in order.
    pub fn list_indexes(&self) -> impl Iterator<Item = u16> + '_ {
        self.lists.iter().map(|l| l.index)
    }

    /// The artifact in force for the profile's list at `index`, if any.
    pub fn list(&self, index: u16) -> Option<&Snapshot> {
        self.lists
            .iter()
            .find(|l| l.index == index)
            .and_then(|l| l.loaded.as_ref())
            .map(|l| &l.list)
    }

    /// Each of the profile's lists in order: its place among the extra
    /// lists, and, once loaded, the artifact and its table from category
    /// id to "blocks" (for `explain`).
    pub(super) fn rated(&self) -> impl Iterator<Item = (u16, Option<(&Snapshot, &[bool])>)> + '_ {
        self.lists.iter().map(|l| {
            (
                l.index,
                l.loaded.as_ref().map(|l| (&l.list, l.blocks.as_ref())),
            )
        })
    }

    /// Does the profile's `allow` file cover the name?
    pub fn allows(&self, key: &NameKey) -> bool {
        self.allow.matches(key)
    }

    /// The profile's own verdict on a name the national list allows (the
    /// second half of [`decide_for`]). `Err` when it depends on a list
    /// that has never loaded.
    #[inline]
    pub fn decide(&self, key: &NameKey) -> Result<Verdict, Unloaded> {
        self.decide_key(key.as_bytes())
    }

    /// [`Profile::decide`] for the bytes of a key: a question. A walled
    /// garden blocks what its allow file does not cover. An empty key
    /// (an overflowed name) matches no rule.
    #[inline]
    pub fn decide_key(&self, key: &[u8]) -> Result<Verdict, Unloaded> {
        if self.allow_only && !self.allow.matches_key(key) {
            return Ok(Verdict::Block(garden_block()));
        }
        self.decide_chain_key(key)
    }

    /// The verdict on a name an answer leads to (a CNAME, DNAME or SVCB
    /// target): the profile's allow file and lists, never its walled
    /// garden, which chooses the names a reader may ask for, not the
    /// content networks those names are served from.
    pub fn decide_chain_key(&self, key: &[u8]) -> Result<Verdict, Unloaded> {
        if self.allow.matches_key(key) {
            return Ok(Verdict::Allow);
        }
        let mut unloaded = None;
        for rated in &self.lists {
            let Some(loaded) = &rated.loaded else {
                unloaded.get_or_insert(Unloaded { index: rated.index });
                continue;
            };
            let Some(rule) = loaded.list.lookup_bytes(key) else {
                continue;
            };
            let blocks = rule.category == FAULT_CATEGORY
                || loaded
                    .blocks
                    .get(usize::from(rule.category))
                    .copied()
                    .unwrap_or(true);
            if blocks {
                let block = Block::of(&loaded.list, rule);
                return Ok(Verdict::Block(Block {
                    list: ListRef::Extra(rated.index),
                    ..block
                }));
            }
        }
        // A list that has loaded may block what an unloaded one would
        // not; only without such a block is the answer unknowable.
        unloaded.map_or(Ok(Verdict::Allow), Err)
    }
}

/// The block of a name outside a walled garden: no list and no rule.
pub fn garden_block() -> Block {
    Block {
        list: ListRef::Garden,
        rule: Match::unlisted(),
        category: Category::Unknown,
    }
}

/// Decides one name for a client with `profile` (or none: the national
/// list alone). The national list is asked first and its block stands,
/// whatever the profile allows. `Err` when the profile's verdict depends
/// on a list that has never loaded.
pub fn decide_for(
    national: &ListArtifact,
    profile: Option<&Profile>,
    key: &NameKey,
) -> Result<Verdict, Unloaded> {
    if let Some(rule) = national.lookup(key) {
        return Ok(Verdict::Block(Block::of(national, rule)));
    }
    match profile {
        None => Ok(Verdict::Allow),
        Some(profile) => profile.decide(key),
    }
}
