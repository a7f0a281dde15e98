//! `[limits]`: UDP rate limits, read into the limiter's own
//! [`LimitSettings`].
//!
//! Both limits are off by default. A resolver's clients are often many
//! subscribers behind one address (CGNAT, a school's NAT): a
//! carrier-grade NAT address serves thousands of subscribers, and a
//! /24 of them hundreds of thousands, so any per-prefix default low
//! enough to stop a single flooding host would cut off real users, and
//! one high enough never to do so would stop nothing. Response sizes are
//! bounded whatever the limits (`dns.edns_payload`, RFC 8482 for ANY), and
//! only `dns.allow_clients` get answers at all. `docs/security.md` gives
//! values for each kind of deployment.

use super::extract::{self, Table};
pub use crate::dns::limit::LimitSettings;

/// `limits.client_qps`: off.
pub const DEFAULT_CLIENT_QPS: u32 = 0;
/// `limits.client_prefix_v4`: a /24, as BIND's and Knot's RRL.
pub const DEFAULT_CLIENT_PREFIX_V4: u8 = 24;
/// `limits.client_prefix_v6`: a /56, a household's delegation.
pub const DEFAULT_CLIENT_PREFIX_V6: u8 = 56;
/// `limits.rrl`: off.
pub const DEFAULT_RRL: u32 = 0;
/// `limits.slip`: every second limited answer is sent truncated, as BIND
/// and Knot do by default.
pub const DEFAULT_SLIP: u32 = 2;
/// The largest rate either limit takes.
pub const MAX_RATE: u32 = 1_000_000;
/// The largest `slip` (BIND's bound).
pub const MAX_SLIP: u32 = 10;

impl Default for LimitSettings {
    fn default() -> Self {
        Self {
            client_qps: DEFAULT_CLIENT_QPS,
            client_prefix_v4: DEFAULT_CLIENT_PREFIX_V4,
            client_prefix_v6: DEFAULT_CLIENT_PREFIX_V6,
            rrl: DEFAULT_RRL,
            slip: DEFAULT_SLIP,
            exempt: Vec::new(),
        }
    }
}

impl LimitSettings {
    pub(super) fn extract(mut t: Table<'_, '_>) -> Self {
        use extract::{integer, ip_net};
        let d = Self::default();
        let rate = || integer(0, MAX_RATE.into());
        Self {
            client_qps: t.get("client_qps", rate()).or(d.client_qps),
            client_prefix_v4: t
                .get("client_prefix_v4", integer(8, 32))
                .or(d.client_prefix_v4),
            client_prefix_v6: t
                .get("client_prefix_v6", integer(16, 128))
                .or(d.client_prefix_v6),
            rrl: t.get("rrl", rate()).or(d.rrl),
            slip: t.get("slip", integer(0, MAX_SLIP.into())).or(d.slip),
            exempt: t.list("exempt", ip_net).or(d.exempt),
        }
    }
}
