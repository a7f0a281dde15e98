//! The block decision, in one place.
//!
//! ```text
//! text or wire name ─▶ name::key_of_text / the query parser ─▶ NameKey
//! (list snapshot, key, Context) ─▶ decide ─▶ Verdict::Allow | Verdict::Block(Block)
//! ```
//!
//! Every enforcement point renders the same [`Verdict`]: the DNS answer
//! (`dns::engine`, and the response-side check of answer chains), the
//! TLS alert and 451 page (`sni`), the block page (`blockpage`), and
//! `ward check`. A [`Block`] says which list, which rule and which
//! category decided; special categories are compared by id
//! ([`Category::IndexFault`]), never by name.
//!
//! The request [`Context`] is empty today; the school profiles add the
//! client's profile to it, so that a profile's lists and categories change
//! the verdict here and nowhere else.
//!
//! Pure: no I/O, no metrics, no configuration types.

pub mod bypass;
mod client_id;
mod explain;
mod name;
mod profile;
#[cfg(test)]
mod profile_tests;
pub mod safe_search;
pub mod schedule;
#[cfg(test)]
mod schedule_tests;
mod select;
#[cfg(test)]
mod tests;

pub use self::client_id::ClientId;
pub use self::explain::{Explanation, Finding, Outcome, Rating, explain};
pub use self::name::{NameProblem, key_of_text, key_of_wire};
pub use self::profile::{
    NameRules, OpenWindow, Profile, Unloaded, category_blocks, decide_for, garden_block,
};
pub use self::safe_search::{Rewrite, SafeSearch};
pub use self::select::{ListenerId, Overlap, ProfileId, Selector, Via};

use crate::domain::NameKey;
use crate::list::format::CategoryInfo;
use crate::list::{FAULT_CATEGORY, ListArtifact, Match};

/// The name of the pseudo-category of a lookup that faulted on a
/// malformed index (the name is blocked: fail closed).
pub const INDEX_FAULT_NAME: &str = "list-index-fault";
/// The category name of a block outside a walled garden (answers,
/// metrics, logs).
pub const GARDEN_NAME: &str = "walled-garden";
/// The name shown for a category id the list's manifest lacks.
pub const UNKNOWN_NAME: &str = "unknown";

/// What is known about the request besides the name. Empty today: the
/// school profiles will carry the client's profile here.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Context {}

impl Context {
    /// A request with nothing known about it: the national list alone.
    pub const NONE: Self = Self {};
}

/// The decision on one name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    Allow,
    Block(Block),
}

impl Verdict {
    /// The verdict a lookup result stands for (a cached one, say).
    #[inline]
    pub fn of(list: &ListArtifact, rule: Option<Match>) -> Self {
        match rule {
            None => Self::Allow,
            Some(rule) => Self::Block(Block::of(list, rule)),
        }
    }

    /// The block, if it is one.
    pub fn block(self) -> Option<Block> {
        match self {
            Self::Allow => None,
            Self::Block(b) => Some(b),
        }
    }
}

/// Which list a block came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ListRef {
    /// The national list: mandatory for every client.
    National,
    /// An extra list a profile applies, by its place among the extra
    /// lists (`[[lists]]` order).
    Extra(u16),
    /// No list: the name is outside the client's walled garden
    /// (`mode = "allow_only"` and not in its allow file).
    Garden,
}

/// The category of a block, by id.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Category {
    /// An index into the list's manifest categories.
    Listed(u16),
    /// A lookup faulted on a malformed index: blocked, fail closed.
    IndexFault,
    /// An id the manifest does not have: blocked all the same.
    Unknown,
}

/// Why a name is blocked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Block {
    pub list: ListRef,
    /// The rule that matched (its kind, depth, and whether it is
    /// confidential).
    pub rule: Match,
    pub category: Category,
}

impl Block {
    /// The block a matched rule of `list` stands for.
    #[inline]
    pub fn of(list: &ListArtifact, rule: Match) -> Self {
        let category = if rule.category == FAULT_CATEGORY {
            Category::IndexFault
        } else if usize::from(rule.category) < list.manifest().categories.len() {
            Category::Listed(rule.category)
        } else {
            Category::Unknown
        };
        Self {
            list: ListRef::National,
            rule,
            category,
        }
    }

    /// The category as the list describes it (`None` for the fault and
    /// unknown pseudo-categories).
    pub fn category_info<'a>(&self, list: &'a ListArtifact) -> Option<&'a CategoryInfo> {
        match self.category {
            Category::Listed(i) => list.manifest().categories.get(usize::from(i)),
            Category::IndexFault | Category::Unknown => None,
        }
    }

    /// The category's name, for answers, logs and pages.
    pub fn category_name<'a>(&self, list: &'a ListArtifact) -> &'a str {
        match self.category {
            Category::IndexFault => INDEX_FAULT_NAME,
            _ => self
                .category_info(list)
                .map_or(UNKNOWN_NAME, |c| c.name.as_str()),
        }
    }

    /// The rule lives in the confidential (hashed) table: its name must
    /// never be shown or stored in plaintext.
    pub fn confidential(&self) -> bool {
        self.rule.confidential
    }
}

/// Decides one name.
#[inline]
pub fn decide(list: &ListArtifact, key: &NameKey, _ctx: &Context) -> Verdict {
    Verdict::of(list, list.lookup(key))
}

/// The verdict on several names of one request (a ClientHello's SNI and
/// a Host header, say): blocked if *any* name is listed. Without a listed
/// name, a name that has no key (or no name at all) is the problem
/// reported; else the request is allowed.
pub fn decide_names<'a>(
    list: &ListArtifact,
    names: impl IntoIterator<Item = &'a [u8]>,
    ctx: &Context,
) -> Result<(Verdict, Option<NameKey>), NameProblem> {
    let mut problem = None;
    let mut any = false;
    for raw in names {
        any = true;
        let key = match key_of_text(raw) {
            Ok(key) => key,
            Err(reason) => {
                problem.get_or_insert(reason);
                continue;
            }
        };
        if let verdict @ Verdict::Block(_) = decide(list, &key, ctx) {
            return Ok((verdict, Some(key)));
        }
    }
    match (any, problem) {
        (false, _) => Err(NameProblem::NoName),
        (true, Some(reason)) => Err(reason),
        (true, None) => Ok((Verdict::Allow, None)),
    }
}
