//! Rate limits on UDP (`[limits]`): queries per client prefix
//! (`client_qps`) and identical responses per client prefix (`rrl`, as
//! BIND's and Knot's response rate limiting), with slip.
//!
//! Both are GCRA token buckets (a bucket per key, refilled at the
//! configured rate, holding one second's worth) kept in a fixed table of
//! atomic slots: memory is bounded and set at start, no lock is taken,
//! and an idle key costs nothing. Each key has two candidate slots; a new
//! key takes an empty or expired one, or else the one with the smaller
//! debt. So a collision or an eviction only ever makes a limit *more*
//! lenient for the key that lost its slot: a client is never limited for
//! another client's traffic, and a heavy sender (whose slot carries the
//! most debt) is the last to be evicted.
//!
//! Only UDP is limited. TCP cannot be spoofed, is bounded by the
//! connection limits, and is where a truncated ("slipped") answer sends a
//! real client: limiting it too would lock out the subscribers behind a
//! CGNAT address that a slip is meant to spare.
//!
//! A limited query or response is dropped, or, every `slip`-th time,
//! answered with an empty truncated (TC) response of the query's size, so
//! a real client behind the same prefix retries over TCP while a reflected
//! flood gains nothing. `slip = 0` never slips; `1` always does.

use std::hash::{BuildHasher, Hasher, RandomState};
use std::net::IpAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use ipnet::IpNet;

use super::answer::response_flags;
use super::metrics::{DnsMetrics, LimitAction, LimitKind};
use super::wire::{
    HEADER_LEN, Header, MAX_WIRE_NAME, RCODE_NOERROR, RCODE_NXDOMAIN, Reader, flags, get_u16,
    set_u16,
};
/// `[limits]`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct LimitSettings {
    /// Queries per second per client prefix; 0: off.
    pub client_qps: u32,
    /// IPv4 clients are counted by this prefix length.
    pub client_prefix_v4: u8,
    /// IPv6 clients are counted by this prefix length.
    pub client_prefix_v6: u8,
    /// Identical responses per second per client prefix; 0: off.
    pub rrl: u32,
    /// Every `slip`-th limited answer is sent truncated instead of dropped.
    pub slip: u32,
    /// Clients never limited.
    #[serde(serialize_with = "crate::spelling::displays")]
    pub exempt: Vec<IpNet>,
}

impl LimitSettings {
    /// Whether any limit is on.
    pub fn enabled(&self) -> bool {
        self.client_qps > 0 || self.rrl > 0
    }
}

/// What to do with a query or a response.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Admit {
    Pass,
    Drop,
    /// Send an empty truncated answer instead.
    Slip,
}

/// Slots per table (two per key are candidates): 2 MiB each.
const TABLE_SLOTS: usize = 1 << 18;

/// The smallest page size of the platforms ward runs on.
const PAGE_BYTES: usize = 4096;

/// The UDP rate limits of one `ward serve`.
#[derive(Debug)]
pub struct Limiter {
    settings: LimitSettings,
    clients: Option<RateTable>,
    responses: Option<RateTable>,
    /// Limited answers so far, for choosing which ones slip.
    limited: AtomicU64,
    hasher: RandomState,
    epoch: Instant,
    metrics: Arc<DnsMetrics>,
}

impl Limiter {
    /// `None` when every limit is off.
    pub fn new(settings: &LimitSettings, metrics: Arc<DnsMetrics>) -> Option<Self> {
        if !settings.enabled() {
            return None;
        }
        let table = |rate| (rate > 0).then(|| RateTable::new(rate, TABLE_SLOTS));
        Some(Self {
            clients: table(settings.client_qps),
            responses: table(settings.rrl),
            settings: settings.clone(),
            limited: AtomicU64::new(0),
            hasher: RandomState::new(),
            epoch: Instant::now(),
            metrics,
        })
    }

    /// A query from `client` arrived at `now`: is it answered?
    pub fn query(&self, client: IpAddr, now: Instant) -> Admit {
        let Some(table) = &self.clients else {
            return Admit::Pass;
        };
        let Some(prefix) = self.prefix(client) else {
            return Admit::Pass;
        };
        let key = self.hasher.hash_one(prefix);
        if table.admit(key, self.micros(now)) {
            return Admit::Pass;
        }
        self.limited(LimitKind::ClientQps)
    }

    /// `response` is about to go to `client` at `now`: does it go? Keyed
    /// by the question's name and type and the response code; error
    /// responses (SERVFAIL, REFUSED, FORMERR, NOTIMP) by code alone, as
    /// BIND's `errors-per-second`.
    pub fn response(&self, client: IpAddr, response: &[u8], now: Instant) -> Admit {
        let Some(table) = &self.responses else {
            return Admit::Pass;
        };
        let Some(prefix) = self.prefix(client) else {
            return Admit::Pass;
        };
        let mut h = self.hasher.build_hasher();
        h.write_u128(prefix);
        let rcode = response.get(3).map_or(0, |b| b & 0x0F);
        h.write_u8(rcode);
        if rcode == RCODE_NOERROR || rcode == RCODE_NXDOMAIN {
            hash_question(&mut h, response);
        }
        if table.admit(h.finish(), self.micros(now)) {
            return Admit::Pass;
        }
        self.limited(LimitKind::Rrl)
    }

    /// Counts one limited answer and picks its fate.
    fn limited(&self, kind: LimitKind) -> Admit {
        let n = self.limited.fetch_add(1, Ordering::Relaxed);
        let slip = u64::from(self.settings.slip);
        let admit = if slip > 0 && n.is_multiple_of(slip) {
            Admit::Slip
        } else {
            Admit::Drop
        };
        let action = match admit {
            Admit::Slip => LimitAction::Slip,
            _ => LimitAction::Drop,
        };
        self.metrics.rate_limited(kind, action);
        admit
    }

    /// The client's prefix as one number (family in the top bits), or
    /// `None` for an exempt client.
    fn prefix(&self, client: IpAddr) -> Option<u128> {
        let client = client.to_canonical();
        if self.settings.exempt.iter().any(|net| net.contains(&client)) {
            return None;
        }
        Some(match client {
            IpAddr::V4(v4) => {
                let bits = u32::from(v4) & mask32(self.settings.client_prefix_v4);
                (1u128 << 127) | u128::from(bits)
            }
            IpAddr::V6(v6) => u128::from(v6) & mask128(self.settings.client_prefix_v6),
        })
    }

    fn micros(&self, now: Instant) -> u64 {
        // Wraps after 2^64 µs; the table compares times modulo 2^44 anyway.
        now.saturating_duration_since(self.epoch).as_micros() as u64
    }
}

fn mask32(len: u8) -> u32 {
    u32::MAX
        .checked_shl(32 - u32::from(len.min(32)))
        .unwrap_or(0)
}

fn mask128(len: u8) -> u128 {
    u128::MAX
        .checked_shl(128 - u32::from(len.min(128)))
        .unwrap_or(0)
}

/// Feeds the question's name (lowercased) and type to `h`; a malformed
/// question just hashes what was read of it.
fn hash_question(h: &mut impl Hasher, response: &[u8]) {
    let mut r = Reader::at(response, HEADER_LEN);
    let mut name = [0u8; MAX_WIRE_NAME];
    let mut len = 0;
    let walked = r.name(|label| {
        // `name` stops before the labels exceed MAX_WIRE_NAME in all.
        let end = len + 1 + label.len();
        if let Some(slot) = name.get_mut(len..end) {
            slot[0] = label.len() as u8;
            slot[1..].copy_from_slice(label);
            len = end;
        }
    });
    name[..len].make_ascii_lowercase();
    h.write(&name[..len]);
    if walked.is_ok() {
        h.write(r.take(2).unwrap_or_default());
    }
}

/// Rewrites the response in `out` as an empty truncated one (header and
/// question only, TC set, NOERROR): what a slipped response is. False
/// when there is no whole question to keep.
pub fn slip_response(out: &mut Vec<u8>) -> bool {
    let Some(end) = question_end(out) else {
        return false;
    };
    out.truncate(end);
    let f = get_u16(out, 2);
    set_u16(out, 2, (f | flags::TC) & !flags::RCODE_MASK & !flags::AA);
    clear_counts(out);
    true
}

/// An empty truncated answer to `query` in `out`, for a slipped query.
/// False (send nothing) when the query has no whole question or is a
/// response itself.
pub fn slip_query(query: &[u8], out: &mut Vec<u8>) -> bool {
    let Some(end) = question_end(query) else {
        return false;
    };
    let Ok(header) = Header::read(&mut Reader::new(query)) else {
        return false;
    };
    if header.has(flags::QR) || header.qdcount != 1 {
        return false;
    }
    out.clear();
    out.extend_from_slice(&query[..end]);
    set_u16(out, 2, response_flags(&header, RCODE_NOERROR) | flags::TC);
    clear_counts(out);
    true
}

/// Zeroes the answer, authority and additional counts of a message.
fn clear_counts(message: &mut [u8]) {
    for at in [6, 8, 10] {
        set_u16(message, at, 0);
    }
}

/// Where the first question of a message ends, if it has one whole,
/// uncompressed question (a question's name cannot hold a valid pointer).
fn question_end(message: &[u8]) -> Option<usize> {
    if message.len() < HEADER_LEN || get_u16(message, 4) == 0 {
        return None;
    }
    let mut r = Reader::at(message, HEADER_LEN);
    r.skip_name().ok()?;
    r.take(4).ok()?;
    Some(r.pos())
}

/// Bits of a slot holding the time; the rest hold a tag of the key.
const TIME_BITS: u32 = 44;
const TIME_MASK: u64 = (1 << TIME_BITS) - 1;

/// A GCRA bucket per key in fixed, lossy slots. A slot packs a tag of the
/// key (20 bits) and the bucket's theoretical arrival time (44 bits of
/// microseconds, compared modulo 2^44, about 203 days).
#[derive(Debug)]
struct RateTable {
    slots: Box<[AtomicU64]>,
    mask: usize,
    /// Microseconds per token.
    interval: u64,
    /// How far ahead of now the arrival time may run: the burst.
    tolerance: u64,
}

impl RateTable {
    fn new(rate: u32, slots: usize) -> Self {
        let count = slots.next_power_of_two().max(2);
        let interval = (1_000_000 / u64::from(rate.max(1))).max(1);
        let slots: Box<[AtomicU64]> = (0..count).map(|_| AtomicU64::new(0)).collect();
        // The allocator hands back zeroed pages that the kernel has not
        // yet backed, so untouched the table would grow in memory under
        // the first flood of many keys (2 MiB in the soak test, after
        // the attacks were over). Writing once to every page commits the
        // table now: its memory is fixed from the start, as documented.
        let per_page = PAGE_BYTES / std::mem::size_of::<AtomicU64>();
        for slot in slots.iter().step_by(per_page).chain(slots.last()) {
            slot.store(0, Ordering::Relaxed);
        }
        Self {
            slots,
            mask: count - 1,
            interval,
            // One second's worth of tokens.
            tolerance: interval * (u64::from(rate.max(1)) - 1),
        }
    }

    /// Takes a token for `key` at `now` (µs); false when its bucket is
    /// empty.
    fn admit(&self, key: u64, now: u64) -> bool {
        let now = now & TIME_MASK;
        let tag = (key >> TIME_BITS).max(1);
        let first = (key as usize) & self.mask;
        let second = (first ^ ((key >> 20) as usize | 1)) & self.mask;
        // A few tries against other threads updating the same slot; past
        // them, let it through (limits are approximate by design).
        for _ in 0..4 {
            let a = self.slots[first].load(Ordering::Relaxed);
            let b = self.slots[second].load(Ordering::Relaxed);
            let (slot, current) = if a >> TIME_BITS == tag {
                (first, a)
            } else if b >> TIME_BITS == tag {
                (second, b)
            } else {
                // A new key: it starts with a full bucket.
                let (slot, old) = if self.debt(a, now) <= self.debt(b, now) {
                    (first, a)
                } else {
                    (second, b)
                };
                let fresh = (tag << TIME_BITS) | ((now + self.interval) & TIME_MASK);
                let _ = self.slots[slot].compare_exchange(
                    old,
                    fresh,
                    Ordering::Relaxed,
                    Ordering::Relaxed,
                );
                return true;
            };
            let start = now + self.debt(current, now);
            if start - now > self.tolerance {
                return false;
            }
            let next = (tag << TIME_BITS) | ((start + self.interval) & TIME_MASK);
            if self.slots[slot]
                .compare_exchange_weak(current, next, Ordering::Relaxed, Ordering::Relaxed)
                .is_ok()
            {
                return true;
            }
        }
        true
    }

    /// How far a slot's arrival time is ahead of `now`: 0 for an empty,
    /// expired or stale slot (a time further ahead than any bucket can
    /// run is left from a wrap-around of the clock).
    fn debt(&self, slot: u64, now: u64) -> u64 {
        if slot == 0 {
            return 0;
        }
        let ahead = (slot.wrapping_sub(now)) & TIME_MASK;
        if ahead > self.tolerance + self.interval {
            0
        } else {
            ahead
        }
    }
}

#[cfg(test)]
mod tests;
