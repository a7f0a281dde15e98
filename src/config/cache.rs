//! `[cache]`: the answer cache's bounds and TTL clamps, read into the
//! cache's own [`CacheLimits`].

use super::extract::{self, Got, Table};
pub use crate::dns::cache::CacheLimits;

/// `cache.max_entries`; 0 disables the cache.
pub const DEFAULT_CACHE_MAX_ENTRIES: usize = 100_000;
/// `cache.max_memory`: 64 MiB.
pub const DEFAULT_CACHE_MAX_MEMORY: u64 = 64 << 20;
/// `cache.min_ttl`, seconds.
pub const DEFAULT_MIN_TTL: u32 = 0;
/// `cache.max_ttl`, seconds: one day.
pub const DEFAULT_MAX_TTL: u32 = 86_400;
/// `cache.max_negative_ttl`, seconds.
pub const DEFAULT_MAX_NEGATIVE_TTL: u32 = 3_600;
/// The largest TTL DNS allows (RFC 2181 §8).
pub const MAX_DNS_TTL: u32 = i32::MAX as u32;

impl Default for CacheLimits {
    fn default() -> Self {
        Self {
            max_entries: DEFAULT_CACHE_MAX_ENTRIES,
            max_memory: DEFAULT_CACHE_MAX_MEMORY,
            min_ttl: DEFAULT_MIN_TTL,
            max_ttl: DEFAULT_MAX_TTL,
            max_negative_ttl: DEFAULT_MAX_NEGATIVE_TTL,
        }
    }
}

impl CacheLimits {
    pub(super) fn extract(mut t: Table<'_, '_>) -> Self {
        use extract::{byte_size, integer};
        let d = Self::default();
        let ttl = || integer(0, MAX_DNS_TTL.into());
        let max_memory = match t.get("max_memory", byte_size) {
            Got::Ok(0) => {
                t.error(
                    "max_memory",
                    "must be greater than 0; to disable the cache set cache.max_entries = 0",
                );
                d.max_memory
            }
            got => got.or(d.max_memory),
        };
        let s = Self {
            max_entries: t
                .get("max_entries", integer(0, usize::MAX as i128))
                .or(d.max_entries),
            max_memory,
            min_ttl: t.get("min_ttl", ttl()).or(d.min_ttl),
            max_ttl: t.get("max_ttl", ttl()).or(d.max_ttl),
            max_negative_ttl: t.get("max_negative_ttl", ttl()).or(d.max_negative_ttl),
        };
        if s.min_ttl > s.max_ttl {
            t.error(
                "min_ttl",
                format!(
                    "{} is greater than cache.max_ttl ({}); lower min_ttl or raise max_ttl",
                    s.min_ttl, s.max_ttl
                ),
            );
        }
        s
    }
}
