//! Matching a name against a verified list.
//!
//! A lookup first screens the name's suffixes (one per label boundary)
//! against the suffix filter ([`super::filter`]); most names stop there.
//! For the depths the filter flags:
//!
//! * plaintext: one walk down the `fst` along the reversed-label key, no
//!   further than the deepest flagged depth. Each time the walk crosses a
//!   label boundary (`.`) at a final state, a rule for that suffix exists;
//! * confidential: the flagged suffixes are hashed with the list's salt
//!   and probed in the hashed table.
//!
//! The deepest rule wins; at equal depth an exact rule beats a subtree
//! rule, and an exact rule counts only on the full name.
//!
//! A lookup allocates nothing and never panics, whatever bytes the key holds.

use std::sync::atomic::Ordering;

use super::filter::{self, Filter};
use super::format::{RuleKind, RuleValue};
use super::guard::guarded;
use super::hashed::SuffixHasher;
use super::verify::ListArtifact;
use crate::domain::NameKey;

/// Category id of the match returned when the name index is malformed
/// and a lookup faulted: ward fails closed and treats the name as blocked.
/// Real category ids stop at [`RuleValue::MAX_CATEGORY`].
pub const FAULT_CATEGORY: u16 = u16::MAX;

/// The rule that decided a lookup.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Match {
    /// Index into the manifest's categories.
    pub category: u16,
    pub kind: RuleKind,
    /// True when the rule lives in the hashed (confidential) table.
    pub confidential: bool,
    /// Number of labels of the rule's name (its depth from the root).
    pub labels: u8,
    /// Length of the key prefix that names the rule.
    key_len: u8,
}

impl Match {
    /// The rule of a block that no list rule made (a name outside a
    /// profile's walled garden): the root, not confidential, and no key
    /// of its own, so it has no rule text.
    pub const fn unlisted() -> Self {
        Self {
            category: 0,
            kind: RuleKind::Subtree,
            confidential: false,
            labels: 0,
            key_len: 0,
        }
    }

    fn with_key_len(mut self, len: usize) -> Self {
        self.key_len = u8::try_from(len).unwrap_or(u8::MAX);
        self
    }

    pub(super) fn beats(&self, other: &Self) -> bool {
        (self.labels, self.kind == RuleKind::Exact) > (other.labels, other.kind == RuleKind::Exact)
    }
}

impl ListArtifact {
    /// The best rule for `key`, if any.
    pub fn lookup(&self, key: &NameKey) -> Option<Match> {
        self.lookup_bytes(key.as_bytes())
    }

    /// The best rule for raw reversed-label key bytes (as stored by the
    /// DNS cache). Bytes that are not a well-formed key match nothing.
    pub fn lookup_bytes(&self, bytes: &[u8]) -> Option<Match> {
        let (plain_limit, secret_depths) = self.screen(bytes, None, |_| {});
        let plain = if plain_limit == 0 {
            None
        } else {
            let Ok(plain) = guarded(|| self.lookup_plain(bytes, plain_limit)) else {
                return Some(self.fault(bytes));
            };
            plain
        };
        if secret_depths == 0 || self.manifest.payload.hashed.count == 0 {
            return plain;
        }
        let table = self.hashed_table();
        let secret = self.lookup_hashed(bytes, secret_depths, |h| {
            table.get(h).map(RuleValue::unpack)
        });
        match (plain, secret) {
            (Some(p), Some(s)) => Some(if s.beats(&p) { s } else { p }),
            (p, s) => p.or(s),
        }
    }

    /// Screens every suffix (depth >= 2) against the filters. Returns how
    /// many key bytes the fst walk must cover (0: none) and a bit mask of
    /// the depths where a confidential rule may exist. Without a filter,
    /// everything must be checked. A delta overlay passes the target's
    /// confidential filter as `secret_override`, and sees every suffix's
    /// plaintext filter hash through `on_plain` (never called without a
    /// filter).
    #[inline]
    pub(super) fn screen(
        &self,
        key: &[u8],
        secret_override: Option<Filter<'_>>,
        mut on_plain: impl FnMut(u64),
    ) -> (usize, u128) {
        let Some(f) = &self.filter else {
            return (key.len(), u128::MAX);
        };
        let bytes = self.bytes.as_slice();
        // Ranges and block counts were checked when the list was opened.
        let (Some(plain), Some(secret)) = (
            Filter::new(&bytes[f.plain.0..f.plain.1], f.plain_blocks),
            Filter::new(&bytes[f.secret.0..f.secret.1], f.secret_blocks),
        ) else {
            return (key.len(), u128::MAX);
        };
        let secret = secret_override.unwrap_or(secret);
        // Two passes: hash every suffix first, then probe. The probes are
        // independent loads, so their cache misses overlap instead of
        // queueing behind each other's branches.
        let mut probes = [(0usize, 0u32, 0u64, 0u64); MAX_PROBES];
        let mut n = 0;
        let mut depth = 0u32;
        let mut start = 0;
        while let Some(dot) = key[start..].iter().position(|&b| b == b'.') {
            let end = start + dot + 1;
            if !is_listable(&key[start..end - 1]) {
                // No rule can hold this label, so none can sit below it.
                break;
            }
            depth += 1;
            // Single-label rules are refused by the builder.
            if depth >= 2 && n < MAX_PROBES {
                let (hp, hs) = filter::hashes(&key[..end], f.seed);
                plain.touch(hp);
                secret.touch(hs);
                on_plain(hp);
                probes[n] = (end, depth, hp, hs);
                n += 1;
            }
            start = end;
        }
        let mut plain_limit = 0;
        let mut secret_depths = 0u128;
        for &(end, depth, hp, hs) in &probes[..n] {
            if plain.may_contain(hp) {
                plain_limit = end;
            }
            if secret.may_contain(hs) {
                secret_depths |= 1u128 << depth;
            }
        }
        (plain_limit, secret_depths)
    }

    /// A lookup faulted on a malformed index: fail closed, and raise the
    /// alarm once per list.
    #[cold]
    pub(super) fn fault(&self, key: &[u8]) -> Match {
        if !self.faulted.swap(true, Ordering::Relaxed) {
            tracing::error!(
                list_id = self.list_id(),
                serial = self.serial(),
                "ALARM: the list's name index is malformed; lookups fail closed (names are blocked)"
            );
        }
        Match {
            category: FAULT_CATEGORY,
            kind: RuleKind::Subtree,
            confidential: false,
            labels: 0,
            key_len: 0,
        }
        .with_key_len(key.len())
    }

    /// True once a lookup on this list has faulted.
    pub fn has_faulted(&self) -> bool {
        self.faulted.load(Ordering::Relaxed)
    }

    /// The rule as written in a source list (`example.com`,
    /// `=www.example.com`), or `None` for a confidential rule, whose text
    /// must never be shown.
    pub fn rule_text(&self, key: &NameKey, m: &Match) -> Option<String> {
        if m.confidential {
            return None;
        }
        let prefix = key.as_bytes().get(..usize::from(m.key_len))?;
        let name = NameKey::to_forward(prefix);
        Some(match m.kind {
            RuleKind::Exact => format!("={name}"),
            RuleKind::Subtree => name,
        })
    }

    /// A keyed hash of a name under this list's salt, for showing a
    /// confidential name without its text (`ward check`, logs).
    pub fn redacted(&self, key: &NameKey) -> String {
        hex::encode(SuffixHasher::hash_key(&self.salt, key.as_bytes()))
    }

    /// Calls `f(name, kind, category)` for every plaintext rule, in key
    /// order (confidential rules are hashes and cannot be listed). Linear
    /// in the list; for `ward probe`'s sampling, never for serving. A
    /// malformed index stops the walk with an error (lists that passed
    /// [`ListArtifact::deep_check`] never do).
    pub fn for_each_plain_rule(
        &self,
        mut f: impl FnMut(&str, RuleKind, u16),
    ) -> Result<(), super::VerifyError> {
        use fst::Streamer;
        guarded(|| {
            let mut stream = self.names.stream();
            while let Some((key, out)) = stream.next() {
                // Values are packed u32s written by the builder.
                let v = RuleValue::unpack(out.value() as u32);
                let name = NameKey::to_forward(key);
                if let Some(c) = v.exact {
                    f(&name, RuleKind::Exact, c);
                }
                if let Some(c) = v.subtree {
                    f(&name, RuleKind::Subtree, c);
                }
            }
        })
        .map_err(|()| super::VerifyError::MalformedIndex {
            reason: "a node cannot be read".into(),
        })
    }

    /// Walks the plaintext rules of `old` and of `self` side by side, in
    /// key order, and calls `f(key, in_old, in_new)` for every name either
    /// list has, with its rules in each (`None`: the list has no rule for
    /// the name). `key` is the reversed-label form
    /// ([`NameKey::to_forward`] turns it back). Category ids are each
    /// list's own: the caller compares what they mean, not the numbers.
    pub fn for_each_plain_pair(
        &self,
        old: &Self,
        mut f: impl FnMut(&[u8], Option<RuleValue>, Option<RuleValue>),
    ) -> Result<(), super::VerifyError> {
        use fst::Streamer;
        guarded(|| {
            let mut olds = old.names.stream();
            let mut news = self.names.stream();
            let owned = |item: Option<(&[u8], fst::raw::Output)>| {
                // Values are packed u32s written by the builder.
                item.map(|(k, v)| (k.to_vec(), RuleValue::unpack(v.value() as u32)))
            };
            let mut a = owned(olds.next());
            let mut b = owned(news.next());
            loop {
                match (&a, &b) {
                    (None, None) => break,
                    (Some((ka, va)), Some((kb, vb))) if ka == kb => {
                        f(ka, Some(*va), Some(*vb));
                        a = owned(olds.next());
                        b = owned(news.next());
                    }
                    (Some((ka, va)), Some((kb, _))) if ka < kb => {
                        f(ka, Some(*va), None);
                        a = owned(olds.next());
                    }
                    (Some((ka, va)), None) => {
                        f(ka, Some(*va), None);
                        a = owned(olds.next());
                    }
                    (_, Some((kb, vb))) => {
                        f(kb, None, Some(*vb));
                        b = owned(news.next());
                    }
                }
            }
        })
        .map_err(|()| super::VerifyError::MalformedIndex {
            reason: "a node cannot be read".into(),
        })
    }

    /// Walks the fst along `key[..limit]`: the blocked path's hot loop.
    /// `fst::Node::find_input` is no longer inlined into it since 7ed9192
    /// (callgrind `lookup-blocked` 3,416 → 3,844; see
    /// docs/list-updates.md); this `#[inline]` did not bring it back.
    #[inline]
    pub(super) fn lookup_plain(&self, key: &[u8], limit: usize) -> Option<Match> {
        let fst = &self.names;
        let mut node = fst.root();
        let mut out = fst::raw::Output::zero();
        let mut best = None;
        let mut labels = 0u8;
        for (i, &b) in key.iter().enumerate().take(limit) {
            let Some(ti) = node.find_input(b) else {
                break;
            };
            let t = node.transition(ti);
            out = out.cat(t.out);
            node = fst.node(t.addr);
            if b == b'.' {
                labels = labels.saturating_add(1);
                if node.is_final() {
                    // Values are packed u32s written by the builder; a
                    // wider value cannot come from a verified list, and a
                    // truncated one simply decodes to other categories.
                    let v = RuleValue::unpack(out.cat(node.final_output()).value() as u32);
                    let full = i + 1 == key.len();
                    if let Some(m) = pick(v, full, labels, i + 1, false) {
                        best = Some(m);
                    }
                }
            }
        }
        best
    }

    /// Probes the confidential table (`get`: the list's own, or a delta
    /// overlay's over it) at the depths set in `depths`.
    #[inline]
    pub(super) fn lookup_hashed(
        &self,
        key: &[u8],
        depths: u128,
        get: impl Fn(&super::hashed::NameHash) -> Option<RuleValue>,
    ) -> Option<Match> {
        let mut hasher = SuffixHasher::new(&self.salt);
        let mut best = None;
        let mut start = 0;
        let mut labels = 0u8;
        while start < key.len() {
            let Some(dot) = key[start..].iter().position(|&b| b == b'.') else {
                break;
            };
            let end = start + dot + 1;
            if !is_listable(&key[start..end - 1]) {
                break;
            }
            hasher.update(&key[start..end]);
            labels = labels.saturating_add(1);
            // Single-label rules are refused by the builder: skip the hash.
            if (2..128).contains(&labels)
                && depths & (1u128 << labels) != 0
                && let Some(v) = get(&hasher.current())
            {
                let full = end == key.len();
                if let Some(m) = pick(v, full, labels, end, true) {
                    best = Some(m);
                }
            }
            start = end;
        }
        best
    }
}

/// Suffixes screened per name: a name has at most 127 labels, and depth 1
/// is never screened, so 126 suffices; depths up to 127 fit the u128 mask.
const MAX_PROBES: usize = 126;

/// True when a label holds only bytes a rule's label can hold.
pub(super) fn is_listable(label: &[u8]) -> bool {
    label
        .iter()
        .all(|&b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_')
}

/// The rule a key's value contributes at one depth.
pub(super) fn pick(
    v: RuleValue,
    full: bool,
    labels: u8,
    key_len: usize,
    confidential: bool,
) -> Option<Match> {
    let (category, kind) = match (full.then_some(v.exact).flatten(), v.subtree) {
        (Some(c), _) => (c, RuleKind::Exact),
        (None, Some(c)) => (c, RuleKind::Subtree),
        (None, None) => return None,
    };
    Some(Match {
        category,
        kind,
        confidential,
        labels,
        // A key is at most MAX_KEY_LEN (254) bytes.
        key_len: u8::try_from(key_len).unwrap_or(u8::MAX),
    })
}
