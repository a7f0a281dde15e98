//! Why a name gets its verdict, list by list: what `ward check --config`
//! shows an operator.
//!
//! [`explain`] asks every list a client's verdict depends on (the
//! national list, then each of its profile's lists in order) and records
//! what each one says, even after one has decided, so that an operator
//! sees the whole picture ("the national list blocks it; the school list
//! would too, but the allow file lifts that"). [`Explanation::verdict`]
//! folds those findings into the verdict; a property test holds it equal
//! to [`decide_for`](super::decide_for), the function the node answers
//! with.
//!
//! Pure: no I/O, no metrics, no configuration types.

use super::bypass::Hit;
use super::profile::Profile;
use super::{Block, ListRef, Unloaded, Verdict};
use crate::domain::NameKey;
use crate::list::{FAULT_CATEGORY, ListArtifact};

/// What every list said about one name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Explanation {
    /// The national list's block, if it lists the name. It stands,
    /// whatever the profile says.
    pub national: Option<Block>,
    /// The profile's `allow` file covers the name: the profile's own lists
    /// do not block it (the national list still does). `false` without a
    /// profile.
    pub allowed: bool,
    /// The profile is a walled garden (`mode = "allow_only"`) and its
    /// allow file does not cover the name: blocked, whatever its lists say.
    pub outside_garden: bool,
    /// Each of the profile's lists, in the order they are asked.
    pub lists: Vec<Finding>,
    /// A `[profile.bypass]` switch of the profile answers the name itself
    /// (after the national list, before the profile's lists: the node
    /// answers it so unless the national list blocks it).
    pub bypass: Option<Hit>,
}

/// What one of the profile's lists says about a name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Finding {
    /// The list's place among the extra lists (`[[lists]]` order).
    pub index: u16,
    pub outcome: Outcome,
}

/// One list's answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// The list has never loaded: what it would say cannot be known.
    Unloaded,
    /// No rule of the list covers the name.
    NoMatch,
    /// A rule covers the name; `rating` says whether it blocks for the
    /// profile, and why.
    Match { block: Block, rating: Rating },
}

/// Why a matched category blocks for a profile, or does not.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rating {
    /// The lookup faulted on a malformed index: blocks (fail closed).
    Fault,
    /// A category id the manifest lacks: blocks (fail closed).
    Unknown,
    /// No minimum age: blocks for every profile that uses the list.
    Unrated,
    /// The profile is younger than the category's minimum age: blocks.
    TooYoung { min_age: u8 },
    /// The profile is old enough, but lists the category in
    /// `block_categories`: blocks.
    BlockCategories { min_age: u8 },
    /// The profile is old enough, but a `[[profile.schedule]]` window
    /// that lists the category is open: blocks until it closes.
    /// `window` is its place among the profile's schedule entries.
    Scheduled { min_age: u8, window: u16 },
    /// The profile is old enough: does not block.
    OldEnough { min_age: u8 },
}

impl Rating {
    /// Does a match with this rating block?
    pub fn blocks(self) -> bool {
        !matches!(self, Self::OldEnough { .. })
    }
}

impl Explanation {
    /// The verdict these findings make: the national block; else allowed
    /// by the profile's `allow` file; else the first of the profile's
    /// lists that blocks; else, if one of them never loaded, unknowable;
    /// else allowed. Always equal to `decide_for` on the same input.
    pub fn verdict(&self) -> Result<Verdict, Unloaded> {
        if let Some(block) = self.national {
            return Ok(Verdict::Block(block));
        }
        if self.outside_garden {
            return Ok(Verdict::Block(super::garden_block()));
        }
        if self.allowed {
            return Ok(Verdict::Allow);
        }
        let mut unloaded = None;
        for finding in &self.lists {
            match finding.outcome {
                Outcome::Match { block, rating } if rating.blocks() => {
                    return Ok(Verdict::Block(block));
                }
                Outcome::Unloaded => {
                    unloaded.get_or_insert(Unloaded {
                        index: finding.index,
                    });
                }
                Outcome::Match { .. } | Outcome::NoMatch => {}
            }
        }
        unloaded.map_or(Ok(Verdict::Allow), Err)
    }
}

/// Asks every list a client with `profile` (or none) depends on about
/// `key`, and says what each one found.
pub fn explain(national: &ListArtifact, profile: Option<&Profile>, key: &NameKey) -> Explanation {
    let national = national.lookup(key).map(|rule| Block::of(national, rule));
    let Some(profile) = profile else {
        return Explanation {
            national,
            allowed: false,
            outside_garden: false,
            lists: Vec::new(),
            bypass: None,
        };
    };
    let lists = profile
        .rated()
        .map(|(index, loaded)| {
            let outcome = match loaded {
                None => Outcome::Unloaded,
                Some((list, blocks)) => match list.lookup(key) {
                    None => Outcome::NoMatch,
                    Some(rule) => {
                        let block = Block {
                            list: ListRef::Extra(index),
                            ..Block::of(list, rule)
                        };
                        Outcome::Match {
                            block,
                            rating: rating(list, blocks, profile, rule.category),
                        }
                    }
                },
            };
            Finding { index, outcome }
        })
        .collect();
    let allowed = profile.allows(key);
    Explanation {
        national,
        allowed,
        outside_garden: profile.is_allow_only() && !allowed,
        lists,
        bypass: profile.bypass().answer(key),
    }
}

/// The rating of category `id` of `list` for `profile`, read from the
/// profile's table `blocks` (the one its verdicts use), the category's
/// minimum age and the profile's open schedule windows.
fn rating(list: &ListArtifact, blocks: &[bool], profile: &Profile, id: u16) -> Rating {
    let age = profile.age;
    if id == FAULT_CATEGORY {
        return Rating::Fault;
    }
    let (Some(info), Some(&blocks)) = (
        list.manifest().categories.get(usize::from(id)),
        blocks.get(usize::from(id)),
    ) else {
        return Rating::Unknown;
    };
    match info.min_age {
        None => Rating::Unrated,
        Some(min_age) if !blocks => Rating::OldEnough { min_age },
        Some(min_age) if age < min_age => Rating::TooYoung { min_age },
        Some(min_age) => match profile.scheduled(&info.name) {
            Some(open) => Rating::Scheduled {
                min_age,
                window: open.index,
            },
            None => Rating::BlockCategories { min_age },
        },
    }
}
