//! What every area records into, with no knowledge of any area (a leaf):
//! `label_enum!` for label values drawn from small enums, the sharded
//! [`HotCounter`] for counters bumped per query, and [`CloseReason`],
//! the one label vocabulary two areas share (DNS over TCP and the admin
//! listener close connections for the same reasons).
//!
//! The areas (`dns`, `sni`, `blockpage`, `update`) declare their own label
//! enums and hold their own handles; `metrics`, above them, names and
//! registers every family.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::gauge::Gauge;

/// Declares a label enum: `Variant = "label",` per variant. Each variant
/// is written once, with its label, and the macro derives `ALL` (in
/// declaration order: arrays of pre-created series are indexed by it),
/// `as_str` and prometheus-client's `EncodeLabelValue`. Nothing to keep
/// in sync by hand.
macro_rules! label_enum {
    (
        $(#[$meta:meta])*
        pub enum $name:ident {
            $( $(#[$vmeta:meta])* $variant:ident = $label:literal, )+
        }
    ) => {
        $(#[$meta])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
        pub enum $name {
            $( $(#[$vmeta])* $variant, )+
        }

        impl $name {
            /// Every variant, in declaration order (the order indexes arrays).
            pub const ALL: [Self; [$(stringify!($variant)),+].len()] = [$(Self::$variant),+];

            /// The label value.
            pub const fn as_str(self) -> &'static str {
                match self {
                    $( Self::$variant => $label, )+
                }
            }
        }

        impl prometheus_client::encoding::EncodeLabelValue for $name {
            fn encode(
                &self,
                encoder: &mut prometheus_client::encoding::LabelValueEncoder<'_>,
            ) -> std::fmt::Result {
                std::fmt::Write::write_str(encoder, self.as_str())
            }
        }
    };
}
pub(crate) use label_enum;

/// Shards of a [`HotCounter`]: enough that the UDP workers of a large
/// machine rarely share one.
const SHARDS: usize = 16;

/// A counter value split over cache-line-sized shards. Each thread adds to
/// its own shard (threads are given shards round-robin), so UDP workers on
/// different cores never write the same cache line on the per-query path;
/// a scrape sums the shards. `inc` returns the shard's previous value, not
/// the total.
#[derive(Debug, Default)]
pub struct Sharded {
    shards: [Padded; SHARDS],
}

/// One shard, alone on its cache line (128 bytes: two lines, for CPUs that
/// fetch lines in adjacent pairs).
#[derive(Debug, Default)]
#[repr(align(128))]
struct Padded(AtomicU64);

fn shard() -> usize {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    thread_local! {
        static SHARD: usize = NEXT.fetch_add(1, Ordering::Relaxed) % SHARDS;
    }
    SHARD.with(|s| *s)
}

impl prometheus_client::metrics::counter::Atomic<u64> for Sharded {
    fn inc(&self) -> u64 {
        self.inc_by(1)
    }

    fn inc_by(&self, v: u64) -> u64 {
        self.shards[shard()].0.fetch_add(v, Ordering::Relaxed)
    }

    fn get(&self) -> u64 {
        self.shards
            .iter()
            .map(|s| s.0.load(Ordering::Relaxed))
            .fold(0, u64::wrapping_add)
    }
}

/// A counter bumped on every query: sharded per thread.
pub type HotCounter = Counter<u64, Sharded>;

/// A gauge of non-negative counts (the default `Gauge` is `i64`).
pub type CountGauge = Gauge<u64, AtomicU64>;

label_enum! {
    /// Why ward closed a client connection itself
    /// (`ward_connections_closed_total`).
    pub enum CloseReason {
        /// The client already held its share of the connections; the new
        /// one was closed at once.
        ClientCap = "client_cap",
        /// Every slot was taken and none could be freed: the new
        /// connection was closed at once.
        Full = "full",
        /// Closed to make room for a new connection.
        Evicted = "evicted",
        /// No complete query or request within the idle/header timeout.
        Idle = "idle",
        /// The client did not read its answers within the write timeout.
        WriteTimeout = "write_timeout",
        /// Open longer than the connection lifetime (admin).
        Lifetime = "lifetime",
        /// The TLS handshake failed or did not finish within its timeout
        /// (DoH).
        Handshake = "handshake",
        /// The peer broke the HTTP protocol: malformed or oversized
        /// headers, an HTTP/2 flood such as rapid reset (DoH).
        HttpError = "http_error",
    }
}
