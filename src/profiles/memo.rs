//! "Profile P allows every name of cache entry E": remembered per
//! profiles snapshot, so that a profiled client's cache hit costs one
//! load and compare instead of a lookup of the question and of every
//! chain name in each of the profile's lists.
//!
//! A direct-mapped table of atomic slots. A slot holds `E << 16 | P`
//! (the entry's id from the cache, the profile's id), or 0. The value is
//! the whole key, not a hash of it, so a slot says "clean" for exactly
//! one (entry, profile) pair: another pair that maps to the same slot
//! overwrites it, and the next hit of the first pair asks the lists
//! again. Entry ids are never reused (the cache gives each stored answer
//! a new one, and a replaced entry is a new entry), so a slot can never
//! come to mean another entry (no ABA).
//!
//! The table lives in the [`super::Profiles`] snapshot: a reload, a list
//! update or any other rebuild makes a new snapshot with an empty table,
//! so no memo outlives the profiles and lists it was computed with. Only
//! allows are remembered; a block or an unknown verdict is asked again on
//! every query.

use std::sync::atomic::{AtomicU64, Ordering};

use crate::policy::ProfileId;

/// Fewest slots a table with profiles has (32 KiB).
const MIN_SLOTS: usize = 1 << 12;
/// Most slots a table has (512 KiB).
const MAX_SLOTS: usize = 1 << 16;
/// Slots per profile, before the bounds.
const SLOTS_PER_PROFILE: usize = 1 << 10;
/// Entry ids at or past this do not fit beside a profile id in a slot;
/// they are not remembered (2^48 answers stored: never in practice).
const ID_LIMIT: u64 = 1 << 48;

/// The table of one profiles snapshot.
pub(super) struct AllowMemo {
    slots: Box<[AtomicU64]>,
    /// 64 − log2(slots): the slot is the top bits of the mixed key.
    shift: u32,
}

impl std::fmt::Debug for AllowMemo {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "AllowMemo({} slots)", self.slots.len())
    }
}

impl Default for AllowMemo {
    fn default() -> Self {
        Self::new(0)
    }
}

impl AllowMemo {
    /// A table for `profiles` profiles: 1024 slots (8 KiB) each, at least
    /// [`MIN_SLOTS`], at most [`MAX_SLOTS`]; two slots without profiles
    /// (never asked: no client has a profile).
    pub(super) fn new(profiles: usize) -> Self {
        let n = if profiles == 0 {
            2
        } else {
            profiles
                .saturating_mul(SLOTS_PER_PROFILE)
                .clamp(MIN_SLOTS, MAX_SLOTS)
                .next_power_of_two()
        };
        Self {
            slots: (0..n).map(|_| AtomicU64::new(0)).collect(),
            shift: 64 - n.trailing_zeros(),
        }
    }

    /// The slot value for (entry, profile); `None` when it cannot be
    /// remembered (a verdict entry's id 0, or an id too large).
    #[inline]
    fn key(entry: u64, profile: ProfileId) -> Option<u64> {
        (entry != 0 && entry < ID_LIMIT).then(|| entry << 16 | u64::from(profile.0))
    }

    #[inline]
    fn slot(&self, key: u64) -> &AtomicU64 {
        // Fibonacci hashing: consecutive entry ids and the profile id
        // spread over the table. At least two slots: the shift is below 64.
        let i = key.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> self.shift;
        // `i` is below the slot count (the top log2(slots) bits), and the
        // count is a power of two: the mask changes nothing but spares a
        // division.
        &self.slots[i as usize & (self.slots.len() - 1)]
    }

    /// Has `profile` allowed every name of `entry` in this snapshot?
    #[inline]
    pub(super) fn allows(&self, entry: u64, profile: ProfileId) -> bool {
        // Relaxed: the slot carries no other data; a value read is a fact
        // about immutable inputs (the entry's names, this snapshot's
        // profile), whichever thread wrote it.
        Self::key(entry, profile).is_some_and(|k| self.slot(k).load(Ordering::Relaxed) == k)
    }

    /// Remembers that `profile` allowed every name of `entry`.
    #[inline]
    pub(super) fn remember(&self, entry: u64, profile: ProfileId) {
        if let Some(k) = Self::key(entry, profile) {
            self.slot(k).store(k, Ordering::Relaxed);
        }
    }

    /// Bytes the table holds.
    pub(super) fn bytes(&self) -> usize {
        self.slots.len() * std::mem::size_of::<AtomicU64>()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exact_per_entry_and_profile() {
        let memo = AllowMemo::new(50);
        assert_eq!(memo.bytes(), MAX_SLOTS * 8);
        let (a, b) = (ProfileId(0), ProfileId(1));
        assert!(!memo.allows(7, a));
        memo.remember(7, a);
        assert!(memo.allows(7, a));
        assert!(!memo.allows(7, b), "another profile");
        assert!(!memo.allows(8, a), "another entry");
        // Verdict entries (id 0) and ids past the limit are never kept.
        memo.remember(0, a);
        assert!(!memo.allows(0, a));
        memo.remember(ID_LIMIT, a);
        assert!(!memo.allows(ID_LIMIT, a));
    }

    #[test]
    fn a_colliding_pair_evicts_never_aliases() {
        // Two slots: pairs collide all the time.
        let memo = AllowMemo::new(0);
        let p = ProfileId(3);
        let slot = |id| memo.slot(AllowMemo::key(id, p).unwrap()) as *const AtomicU64;
        let other = (2..).find(|&id| slot(id) == slot(1)).unwrap();
        memo.remember(1, p);
        memo.remember(other, p);
        assert!(memo.allows(other, p));
        assert!(!memo.allows(1, p), "evicted, not aliased");
        // Full tables: many pairs, none answers for another.
        let memo = AllowMemo::new(1);
        for id in 1..=20_000u64 {
            memo.remember(id, ProfileId((id % 7) as u16));
        }
        for id in 1..=20_000u64 {
            assert!(!memo.allows(id, ProfileId((id % 7 + 1) as u16)));
        }
        assert!(memo.allows(20_000, ProfileId((20_000 % 7) as u16)));
    }

    #[test]
    fn sizes() {
        assert_eq!(AllowMemo::new(0).bytes(), 16);
        assert_eq!(AllowMemo::new(1).bytes(), MIN_SLOTS * 8);
        assert_eq!(AllowMemo::new(10).bytes(), 16_384 * 8);
        assert_eq!(AllowMemo::new(1000).bytes(), MAX_SLOTS * 8);
    }
}
