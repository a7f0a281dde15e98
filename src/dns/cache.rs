//! The response cache: wire-format answers, patched on the way out.
//!
//! An entry keeps the record bytes an upstream sent (after the question,
//! without its OPT), the offsets of their TTLs, and the names the answer
//! leads to. A hit copies the bytes, counts the TTLs down and lets the
//! caller put the client's own ID, question (0x20 case) and OPT around it,
//! like dnsdist's packet cache.
//!
//! Keys are the question's reversed-label key plus type, class, and the
//! DO and CD bits. The list is checked *before* the cache on every query,
//! so a name a new list blocks is blocked on the very next query. An entry
//! also remembers the list generation its chain names were checked under;
//! after a swap, a hit re-checks those names against the new list and is
//! dropped if any is now blocked (CNAME cloaking after a list update).
//!
//! Because an entry remembers the list generation it was checked under, a
//! hit under that same generation needs no list lookup at all: the
//! question and every chain name were looked up in exactly this list when
//! the entry was stored or last re-checked. Blocked names are cached the
//! same way, as *verdict* entries (the match, no records): a repeated
//! blocked query under the same list skips the index walk. Verdicts of
//! confidential rules are never cached, so no confidential name is kept
//! in memory beyond its query.
//!
//! The cache is bounded by entries and by memory at once: each entry
//! weighs at least `max_memory / max_entries`, so the weight limit
//! enforces both.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use quick_cache::Weighter;
use quick_cache::sync::Cache as QuickCache;

use crate::domain::NameKey;
use crate::list::Match;

/// Bytes of a cache key: 2 type + 2 class + 1 flags + the name key.
const KEY_CAP: usize = 5 + crate::domain::MAX_KEY_LEN;
/// Fixed per-entry overhead counted against the memory limit.
const ENTRY_OVERHEAD: usize = 160;

/// Limits and TTL clamps; written as `[cache]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct CacheLimits {
    #[serde(serialize_with = "crate::spelling::count")]
    pub max_entries: usize,
    #[serde(serialize_with = "crate::spelling::byte_size")]
    pub max_memory: u64,
    pub min_ttl: u32,
    pub max_ttl: u32,
    pub max_negative_ttl: u32,
}

/// A cache key built on the stack.
#[derive(Clone)]
pub struct KeyBuf {
    buf: [u8; KEY_CAP],
    len: usize,
}

impl std::fmt::Debug for KeyBuf {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "KeyBuf({} bytes)", self.len)
    }
}

impl KeyBuf {
    pub fn new(
        name: &NameKey,
        qtype: u16,
        qclass: u16,
        dnssec_ok: bool,
        checking_disabled: bool,
    ) -> Self {
        let mut buf = [0u8; KEY_CAP];
        buf[0..2].copy_from_slice(&qtype.to_be_bytes());
        buf[2..4].copy_from_slice(&qclass.to_be_bytes());
        buf[4] = u8::from(dnssec_ok) | (u8::from(checking_disabled) << 1);
        let n = name.as_bytes();
        // A NameKey is at most MAX_KEY_LEN bytes, so it fits after the 5.
        buf[5..5 + n.len()].copy_from_slice(n);
        Self {
            buf,
            len: 5 + n.len(),
        }
    }

    pub fn as_bytes(&self) -> &[u8] {
        &self.buf[..self.len]
    }
}

/// A cached response body.
#[derive(Debug)]
pub struct Entry {
    /// Upstream header flags (RCODE, AD, …).
    pub flags: u16,
    pub counts: [u16; 3],
    body: Box<[u8]>,
    ttls: Box<[(u16, u32)]>,
    /// Names the answer leads to, as concatenated length-prefixed keys.
    chain: Box<[u8]>,
    stored: Instant,
    expires: Instant,
    generation: AtomicU64,
    /// Unique per stored answer in this process (never 0); 0 for verdict
    /// entries. A replaced entry is a new entry with a new id, so an id
    /// always stands for the same names: what memos of a profile's
    /// verdict are keyed by.
    id: u64,
    weight: u64,
    /// For a verdict entry: the rule that blocks the name under
    /// `generation`. Such an entry has no records.
    verdict: Option<Match>,
}

impl Entry {
    /// The record bytes as stored (TTLs as they were when stored).
    pub fn body(&self) -> &[u8] {
        &self.body
    }

    /// Offsets of the TTL fields in [`Entry::body`], and their values.
    pub fn ttls(&self) -> &[(u16, u32)] {
        &self.ttls
    }

    /// Whole seconds since the entry was stored: what its TTLs have
    /// counted down by at `now`.
    pub fn elapsed(&self, now: Instant) -> u32 {
        let secs = now.saturating_duration_since(self.stored).as_secs();
        u32::try_from(secs).unwrap_or(u32::MAX)
    }

    /// The body with TTLs counted down to now.
    #[cfg(test)]
    pub fn body_now(&self, now: Instant) -> Vec<u8> {
        let mut body = self.body.to_vec();
        super::response::patch_ttls(&mut body, &self.ttls, self.elapsed(now));
        body
    }

    /// The chain names, as keys.
    pub fn chain(&self) -> impl Iterator<Item = &[u8]> {
        let mut rest: &[u8] = &self.chain;
        std::iter::from_fn(move || {
            let (&len, tail) = rest.split_first()?;
            let (key, tail) = tail.split_at_checked(usize::from(len))?;
            rest = tail;
            Some(key)
        })
    }

    /// The rule that blocked the name, for a verdict entry.
    pub fn verdict(&self) -> Option<Match> {
        self.verdict
    }

    /// The list generation the chain was last checked against.
    pub fn generation(&self) -> u64 {
        self.generation.load(Ordering::Relaxed)
    }

    pub fn set_generation(&self, generation: u64) {
        self.generation.store(generation, Ordering::Relaxed);
    }

    /// This entry's id: unique among the answers stored in this process,
    /// never 0 for an answer; 0 for a verdict entry.
    #[inline]
    pub fn id(&self) -> u64 {
        self.id
    }
}

/// The last id given to a stored answer (ids start at 1). Process-wide,
/// so that two caches never share an id.
static ENTRY_IDS: AtomicU64 = AtomicU64::new(0);

#[derive(Clone)]
struct ByWeight {
    floor: u64,
}

impl Weighter<Box<[u8]>, Arc<Entry>> for ByWeight {
    fn weight(&self, _key: &Box<[u8]>, val: &Arc<Entry>) -> u64 {
        val.weight.max(self.floor)
    }
}

/// The cache.
pub struct Cache {
    inner: QuickCache<Box<[u8]>, Arc<Entry>, ByWeight>,
    limits: CacheLimits,
}

impl std::fmt::Debug for Cache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Cache")
            .field("entries", &self.inner.len())
            .field("weight", &self.inner.weight())
            .finish()
    }
}

/// What to store for one response.
#[derive(Debug)]
pub struct Insert<'a> {
    pub flags: u16,
    pub counts: [u16; 3],
    pub body: &'a [u8],
    pub ttls: &'a [(u16, u32)],
    pub chain: &'a [NameKey],
    /// TTL before clamping.
    pub ttl: u32,
    pub negative: bool,
    pub generation: u64,
}

impl Cache {
    /// A cache with these limits, or `None` when `max_entries` is 0.
    pub fn new(limits: CacheLimits) -> Option<Self> {
        if limits.max_entries == 0 || limits.max_memory == 0 {
            return None;
        }
        let floor = (limits.max_memory / limits.max_entries as u64).max(1);
        let inner =
            QuickCache::with_weighter(limits.max_entries, limits.max_memory, ByWeight { floor });
        Some(Self { inner, limits })
    }

    /// A live entry for `key`, or `None`. Expired entries are removed.
    pub fn get(&self, key: &KeyBuf, now: Instant) -> Option<Arc<Entry>> {
        let entry = self.inner.get(key.as_bytes())?;
        if now >= entry.expires {
            self.inner.remove(key.as_bytes());
            return None;
        }
        Some(entry)
    }

    /// Drops an entry (a re-check found a blocked name in its chain).
    pub fn remove(&self, key: &KeyBuf) {
        self.inner.remove(key.as_bytes());
    }

    /// Stores a response. TTLs are clamped to the configured range; a TTL
    /// of zero after clamping is not stored.
    pub fn insert(&self, key: &KeyBuf, item: Insert<'_>, now: Instant) {
        let ttl = if item.negative {
            item.ttl.min(self.limits.max_negative_ttl)
        } else {
            item.ttl.clamp(
                self.limits.min_ttl,
                self.limits.max_ttl.max(self.limits.min_ttl),
            )
        };
        if ttl == 0 {
            return;
        }
        let mut chain = Vec::new();
        for k in item.chain {
            let b = k.as_bytes();
            // Keys are at most 254 bytes.
            chain.push(b.len() as u8);
            chain.extend_from_slice(b);
        }
        // The TTLs handed out follow the same clamps, so a record never
        // claims to live longer than its entry, nor shorter than min_ttl.
        let lo = self.limits.min_ttl.min(ttl);
        let ttls: Box<[(u16, u32)]> = item
            .ttls
            .iter()
            .map(|&(at, t)| (at, t.clamp(lo, ttl)))
            .collect();
        let weight =
            (ENTRY_OVERHEAD + key.len + item.body.len() + chain.len() + ttls.len() * 8) as u64;
        let entry = Entry {
            flags: item.flags,
            counts: item.counts,
            body: item.body.into(),
            ttls,
            chain: chain.into(),
            stored: now,
            expires: now + Duration::from_secs(u64::from(ttl)),
            generation: AtomicU64::new(item.generation),
            id: ENTRY_IDS.fetch_add(1, Ordering::Relaxed) + 1,
            weight,
            verdict: None,
        };
        self.inner.insert(key.as_bytes().into(), Arc::new(entry));
    }

    /// Remembers that the list of `generation` blocks this name by rule
    /// `m`, for `max_ttl` seconds (the verdict holds as long as that list
    /// is in force; the expiry only bounds how long the entry occupies
    /// room). Confidential verdicts are not stored.
    pub fn insert_verdict(&self, key: &KeyBuf, m: Match, generation: u64, now: Instant) {
        if m.confidential || self.limits.max_ttl == 0 {
            return;
        }
        let entry = Entry {
            flags: 0,
            counts: [0; 3],
            body: Box::default(),
            ttls: Box::default(),
            chain: Box::default(),
            stored: now,
            expires: now + Duration::from_secs(u64::from(self.limits.max_ttl)),
            generation: AtomicU64::new(generation),
            id: 0,
            weight: (ENTRY_OVERHEAD + key.len) as u64,
            verdict: Some(m),
        };
        self.inner.insert(key.as_bytes().into(), Arc::new(entry));
    }

    /// (entries, bytes) for the metrics.
    pub fn size(&self) -> (u64, u64) {
        (self.inner.len() as u64, self.inner.weight())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits() -> CacheLimits {
        CacheLimits {
            max_entries: 100,
            max_memory: 1 << 20,
            min_ttl: 0,
            max_ttl: 3600,
            max_negative_ttl: 300,
        }
    }

    fn key(name: &str) -> KeyBuf {
        KeyBuf::new(
            &NameKey::from_text(name.as_bytes()).unwrap(),
            1,
            1,
            false,
            false,
        )
    }

    fn insert(c: &Cache, name: &str, ttl: u32, now: Instant) {
        let body = [0u8, 0, 0, 0, 0, 0, 0, 0, 0, 60];
        let chain = [NameKey::from_text(name.as_bytes()).unwrap()];
        c.insert(
            &key(name),
            Insert {
                flags: 0,
                counts: [1, 0, 0],
                body: &body,
                ttls: &[(6, ttl)],
                chain: &chain,
                ttl,
                negative: false,
                generation: 1,
            },
            now,
        );
    }

    #[test]
    fn hit_counts_down_and_expires() {
        let c = Cache::new(limits()).unwrap();
        let t0 = Instant::now();
        insert(&c, "a.example", 60, t0);
        let e = c
            .get(&key("a.example"), t0 + Duration::from_secs(10))
            .unwrap();
        assert_eq!(
            &e.body_now(t0 + Duration::from_secs(10))[6..10],
            &50u32.to_be_bytes()
        );
        assert_eq!(e.chain().collect::<Vec<_>>(), vec![&b"example.a."[..]]);
        assert!(
            c.get(&key("a.example"), t0 + Duration::from_secs(60))
                .is_none()
        );
        assert_eq!(c.size().0, 0);
        // Keys differ by type and DO bit.
        let k = KeyBuf::new(
            &NameKey::from_text(b"a.example").unwrap(),
            28,
            1,
            false,
            false,
        );
        assert_ne!(k.as_bytes(), key("a.example").as_bytes());
    }

    #[test]
    fn ttl_clamps() {
        let mut l = limits();
        l.min_ttl = 30;
        l.max_ttl = 100;
        let c = Cache::new(l).unwrap();
        let t0 = Instant::now();
        insert(&c, "short.example", 5, t0);
        assert!(
            c.get(&key("short.example"), t0 + Duration::from_secs(20))
                .is_some()
        );
        insert(&c, "long.example", 5000, t0);
        let e = c.get(&key("long.example"), t0).unwrap();
        assert_eq!(&e.body_now(t0)[6..10], &100u32.to_be_bytes());
        assert!(
            c.get(&key("long.example"), t0 + Duration::from_secs(101))
                .is_none()
        );
    }

    #[test]
    fn bounded_by_entries_and_memory() {
        let c = Cache::new(CacheLimits {
            max_entries: 10,
            ..limits()
        })
        .unwrap();
        let t0 = Instant::now();
        for i in 0..100 {
            insert(&c, &format!("n{i}.example"), 60, t0);
        }
        assert!(c.size().0 <= 10, "{:?}", c.size());
        let c = Cache::new(CacheLimits {
            max_memory: 4096,
            ..limits()
        })
        .unwrap();
        for i in 0..100 {
            insert(&c, &format!("n{i}.example"), 60, t0);
        }
        assert!(c.size().1 <= 4096, "{:?}", c.size());
        assert!(
            Cache::new(CacheLimits {
                max_entries: 0,
                ..limits()
            })
            .is_none()
        );
    }
}
