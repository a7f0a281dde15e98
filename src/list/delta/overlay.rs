//! A verified base list with a chain of verified deltas in force, matched
//! without rebuilding the base's name index.
//!
//! The deltas' records are folded into two small maps (plaintext key →
//! rules, confidential hash → rules) that override the base per key. A
//! lookup screens the name as the base does, in the same pass also asking
//! a set of the overlay's keys' filter hashes whether any suffix of the
//! name was changed. If none was (nearly every name), the base's answer
//! stands; otherwise each suffix is looked up exactly, the overlay first,
//! the base's fst second. Confidential rules need no such test: a delta
//! that changes them carries the target list's confidential filter, which
//! replaces the base's in the screen, and the probes at the depths it
//! flags read the overlay's hashes before the base's table.
//!
//! Category ids in answers are the overlay's ([`Overlay::categories`]):
//! the last delta's categories, then any category only older serials had.

use std::collections::{HashMap, HashSet};
use std::hash::{BuildHasherDefault, Hasher};
use std::sync::Arc;

use super::DeltaError;
use super::verify::{FilterUpdate, VerifiedDelta};
use crate::domain::NameKey;
use crate::list::filter::{self, Filter};
use crate::list::format::{CategoryInfo, RuleValue};
use crate::list::guard::guarded;
use crate::list::hashed::NameHash;
use crate::list::matcher::{FAULT_CATEGORY, Match, is_listable, pick};
use crate::list::{ListArtifact, Verified};

/// Filter hashes are uniform already: use them as they are.
#[derive(Default)]
struct IdentityHasher(u64);

impl Hasher for IdentityHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = self.0.rotate_left(8) ^ u64::from(b);
        }
    }
    fn write_u64(&mut self, n: u64) {
        self.0 = n;
    }
}

type HashSet64 = HashSet<u64, BuildHasherDefault<IdentityHasher>>;

/// One delta in force: enough to name it in status and logs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AppliedDelta {
    pub base_serial: u64,
    pub serial: u64,
    /// SHA-256 of the delta file.
    pub sha256: [u8; 32],
    /// Size of the delta file.
    pub len: usize,
}

/// A base list and the deltas in force over it.
#[derive(Clone)]
pub struct Overlay {
    base: Arc<Verified<ListArtifact>>,
    applied: Vec<AppliedDelta>,
    serial: u64,
    /// SHA-256 of the full artifact whose rules this overlay has.
    sha256: [u8; 32],
    issued_at: jiff::Timestamp,
    expires_at: jiff::Timestamp,
    entries: u64,
    categories: Vec<CategoryInfo>,
    /// Base category id → overlay category id.
    base_map: Vec<u16>,
    plain: HashMap<Box<[u8]>, RuleValue>,
    /// The plaintext filter hashes (base seed) of `plain`'s keys.
    plain_hashes: HashSet64,
    hashed: HashMap<NameHash, RuleValue>,
    /// The confidential filter of the newest serial that changed a
    /// confidential rule, and its block count.
    secret_filter: Option<Arc<(Vec<u8>, u64)>>,
}

impl std::fmt::Debug for Overlay {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Overlay")
            .field("list_id", &self.base.list_id())
            .field("base_serial", &self.base.serial())
            .field("serial", &self.serial)
            .field("deltas", &self.applied.len())
            .field("plain", &self.plain.len())
            .field("hashed", &self.hashed.len())
            .finish()
    }
}

impl Overlay {
    /// The base alone, no delta in force.
    pub fn new(base: Arc<Verified<ListArtifact>>) -> Self {
        let m = base.manifest();
        let categories = m.categories.clone();
        // At most MAX_CATEGORY + 1 categories in a verified list.
        let base_map = (0..categories.len()).map(|i| i as u16).collect();
        Self {
            serial: m.serial,
            sha256: base.sha256(),
            issued_at: m.issued_at,
            expires_at: m.expires_at,
            entries: m.entries,
            categories,
            base_map,
            applied: Vec::new(),
            plain: HashMap::new(),
            plain_hashes: HashSet64::default(),
            hashed: HashMap::new(),
            secret_filter: None,
            base,
        }
    }

    /// The base with `deltas` applied in order.
    pub fn apply(
        base: Arc<Verified<ListArtifact>>,
        deltas: impl IntoIterator<Item = VerifiedDelta>,
    ) -> Result<Self, DeltaError> {
        let mut o = Self::new(base);
        for d in deltas {
            o.push(&d)?;
        }
        Ok(o)
    }

    /// Applies one more delta: it must continue this overlay exactly (same
    /// list, starting at this serial, bound to the full artifact of this
    /// serial, keyed with the base's salt). On error `self` is unchanged.
    pub fn push(&mut self, d: &VerifiedDelta) -> Result<(), DeltaError> {
        if d.list_id() != self.base.list_id() {
            return Err(DeltaError::ListId {
                expected: self.base.list_id().to_owned(),
                found: d.list_id().to_owned(),
            });
        }
        if d.serial() <= self.serial {
            return Err(DeltaError::Rollback {
                in_force: self.serial,
                serial: d.serial(),
            });
        }
        if d.base_serial() != self.serial {
            return Err(DeltaError::Gap {
                in_force: self.serial,
                base: d.base_serial(),
                serial: d.serial(),
            });
        }
        if d.base_sha256() != self.sha256 {
            return Err(DeltaError::BaseMismatch {
                serial: self.serial,
                expected: hex::encode(self.sha256),
                found: hex::encode(d.base_sha256()),
            });
        }
        if !d.hashed.is_empty() && d.salt != self.base.salt {
            return Err(DeltaError::SaltDiffers { serial: d.serial() });
        }
        let target = &d.manifest().categories;
        super::diff::check_categories(&self.categories, target)?;

        // The new category table: the delta's, then the ones only older
        // serials had (no rule is in them any more, but old values may
        // still name them until overridden).
        let mut categories = target.clone();
        let mut remap = Vec::with_capacity(self.categories.len());
        for c in &self.categories {
            let id = match categories.iter().position(|t| t.name == c.name) {
                Some(i) => i,
                None => {
                    categories.push(CategoryInfo {
                        entries: 0,
                        ..c.clone()
                    });
                    categories.len() - 1
                }
            };
            let id = u16::try_from(id)
                .ok()
                .filter(|&i| i <= RuleValue::MAX_CATEGORY)
                .ok_or(DeltaError::TooLarge("category table"))?;
            remap.push(id);
        }
        let remap_value = |v: RuleValue| RuleValue {
            exact: v.exact.map(|c| remap[usize::from(c)]),
            subtree: v.subtree.map(|c| remap[usize::from(c)]),
        };
        let seed = filter::seed_of(&self.base.salt);
        let mut next = self.clone();
        for m in &mut next.base_map {
            *m = remap[usize::from(*m)];
        }
        for v in next.plain.values_mut() {
            *v = remap_value(*v);
        }
        for v in next.hashed.values_mut() {
            *v = remap_value(*v);
        }
        for (key, value) in &d.plain {
            next.plain_hashes.insert(filter::hashes(key, seed).0);
            next.plain.insert(key.clone(), *value);
        }
        for (hash, value) in &d.hashed {
            next.hashed.insert(*hash, *value);
        }
        match &d.filter {
            None => {}
            Some(FilterUpdate::Full(bytes, blocks)) => {
                next.secret_filter = Some(Arc::new((bytes.clone(), *blocks)));
            }
            Some(FilterUpdate::Patch { blocks, changed }) => {
                // The filter in force: the last delta's, else the base's.
                let (mut bytes, have) = match (&self.secret_filter, self.base.filter) {
                    (Some(f), _) => (f.0.clone(), f.1),
                    (None, Some(b)) => (
                        self.base.as_bytes()[b.secret.0..b.secret.1].to_vec(),
                        b.secret_blocks,
                    ),
                    (None, None) => (Vec::new(), 0),
                };
                if have != *blocks {
                    return Err(DeltaError::FilterMismatch {
                        serial: d.serial(),
                        blocks: *blocks,
                        have,
                    });
                }
                let bb = filter::BLOCK_BYTES;
                for (i, block) in changed {
                    // Indices were checked below `blocks`, the filter's size.
                    bytes[i * bb..(i + 1) * bb].copy_from_slice(block);
                }
                next.secret_filter = Some(Arc::new((bytes, have)));
            }
        }
        next.categories = categories;
        next.serial = d.serial();
        next.sha256 = d.target_sha256();
        next.issued_at = d.manifest().issued_at;
        next.expires_at = d.manifest().expires_at;
        next.entries = d.manifest().entries;
        next.applied.push(AppliedDelta {
            base_serial: d.base_serial(),
            serial: d.serial(),
            sha256: d.sha256(),
            len: d.len(),
        });
        *self = next;
        Ok(())
    }

    /// The full list under the deltas.
    pub fn base(&self) -> &Arc<Verified<ListArtifact>> {
        &self.base
    }
    pub fn list_id(&self) -> &str {
        self.base.list_id()
    }
    /// The serial in force: the last delta's, or the base's.
    pub fn serial(&self) -> u64 {
        self.serial
    }
    pub fn base_serial(&self) -> u64 {
        self.base.serial()
    }
    /// SHA-256 of the full artifact of [`Overlay::serial`], to which the
    /// next delta must be bound.
    pub fn sha256(&self) -> [u8; 32] {
        self.sha256
    }
    pub fn issued_at(&self) -> jiff::Timestamp {
        self.issued_at
    }
    pub fn expires_at(&self) -> jiff::Timestamp {
        self.expires_at
    }
    /// Rule count of the serial in force.
    pub fn entries(&self) -> u64 {
        self.entries
    }
    /// The categories [`Match::category`] indexes.
    pub fn categories(&self) -> &[CategoryInfo] {
        &self.categories
    }
    /// The deltas in force, oldest first.
    pub fn applied(&self) -> &[AppliedDelta] {
        &self.applied
    }

    /// The best rule for `key`, if any.
    pub fn lookup(&self, key: &NameKey) -> Option<Match> {
        self.lookup_bytes(key.as_bytes())
    }

    /// The best rule for raw reversed-label key bytes, as
    /// [`ListArtifact::lookup_bytes`] gives for the full list of
    /// [`Overlay::serial`].
    pub fn lookup_bytes(&self, bytes: &[u8]) -> Option<Match> {
        let base: &ListArtifact = &self.base;
        let secret_filter = self
            .secret_filter
            .as_deref()
            .and_then(|(b, n)| Filter::new(b, *n));
        let mut touched = false;
        let hashes = &self.plain_hashes;
        let (plain_limit, secret_depths) =
            base.screen(bytes, secret_filter, |h| touched |= hashes.contains(&h));
        // Without a base filter the screen computes no hashes.
        touched |= base.filter.is_none() && !self.plain.is_empty();
        let plain = if touched {
            match guarded(|| self.exact_plain(bytes)) {
                Ok(m) => m,
                Err(()) => return Some(base.fault(bytes)),
            }
        } else if plain_limit == 0 {
            None
        } else {
            match guarded(|| base.lookup_plain(bytes, plain_limit)) {
                Ok(m) => m.map(|m| self.remap(m)),
                Err(()) => return Some(base.fault(bytes)),
            }
        };
        if secret_depths == 0 || (base.manifest.payload.hashed.count == 0 && self.hashed.is_empty())
        {
            return plain;
        }
        let table = base.hashed_table();
        let secret = base.lookup_hashed(bytes, secret_depths, |h| match self.hashed.get(h) {
            Some(v) => Some(*v),
            None => table.get(h).map(|v| self.remap_value(RuleValue::unpack(v))),
        });
        match (plain, secret) {
            (Some(p), Some(s)) => Some(if s.beats(&p) { s } else { p }),
            (p, s) => p.or(s),
        }
    }

    /// Every plaintext suffix looked up exactly: the overlay's rules,
    /// else the base's.
    fn exact_plain(&self, key: &[u8]) -> Option<Match> {
        let mut best = None;
        let mut labels = 0u8;
        let mut start = 0;
        while let Some(dot) = key[start..].iter().position(|&b| b == b'.') {
            let end = start + dot + 1;
            if !is_listable(&key[start..end - 1]) {
                break;
            }
            labels = labels.saturating_add(1);
            let prefix = &key[..end];
            let value = match self.plain.get(prefix) {
                Some(v) => Some(*v),
                // Values are packed u32s written by the builder.
                None => self
                    .base
                    .names
                    .get(prefix)
                    .map(|o| self.remap_value(RuleValue::unpack(o.value() as u32))),
            };
            if let Some(m) = value.and_then(|v| pick(v, end == key.len(), labels, end, false)) {
                best = Some(m);
            }
            start = end;
        }
        best
    }

    fn remap(&self, mut m: Match) -> Match {
        if m.category != FAULT_CATEGORY {
            m.category = self.map_category(m.category);
        }
        m
    }

    fn map_category(&self, c: u16) -> u16 {
        // A verified base's values name only its own categories; anything
        // else fails closed as a fault would.
        self.base_map
            .get(usize::from(c))
            .copied()
            .unwrap_or(FAULT_CATEGORY)
    }

    fn remap_value(&self, v: RuleValue) -> RuleValue {
        RuleValue {
            exact: v.exact.map(|c| self.map_category(c)),
            subtree: v.subtree.map(|c| self.map_category(c)),
        }
    }

    /// The rule as written in a source list, or `None` for a
    /// confidential rule (see [`ListArtifact::rule_text`]).
    pub fn rule_text(&self, key: &NameKey, m: &Match) -> Option<String> {
        self.base.rule_text(key, m)
    }

    /// A keyed hash of a name, for showing a confidential name.
    pub fn redacted(&self, key: &NameKey) -> String {
        self.base.redacted(key)
    }
}
