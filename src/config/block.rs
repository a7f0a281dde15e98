//! `[block]`: how a blocked name is answered, read into the DNS
//! engine's own [`BlockAnswer`] (the key `action` is its `mode`, the keys
//! `sinkhole_ipv4`/`sinkhole_ipv6` its `ipv4`/`ipv6`).

use std::net::{Ipv4Addr, Ipv6Addr};

use super::extract::{self, Table};
pub use crate::dns::answer::{BlockAnswer, BlockMode};

/// `block.action`.
pub const DEFAULT_BLOCK_ACTION: BlockMode = BlockMode::Sinkhole;
/// `block.sinkhole_ipv4`: unroutable, like AdGuard Home and Blocky. ISPs
/// point it at their block-page server.
pub const DEFAULT_SINKHOLE_IPV4: &[Ipv4Addr] = &[Ipv4Addr::UNSPECIFIED];
/// `block.sinkhole_ipv6`.
pub const DEFAULT_SINKHOLE_IPV6: &[Ipv6Addr] = &[Ipv6Addr::UNSPECIFIED];
/// `block.ttl`, seconds.
pub const DEFAULT_BLOCK_TTL: u32 = 60;
pub const MAX_BLOCK_TTL: u32 = 86_400;

impl Default for BlockAnswer {
    fn default() -> Self {
        Self {
            mode: DEFAULT_BLOCK_ACTION,
            ipv4: DEFAULT_SINKHOLE_IPV4.to_vec(),
            ipv6: DEFAULT_SINKHOLE_IPV6.to_vec(),
            ttl: DEFAULT_BLOCK_TTL,
        }
    }
}

impl BlockAnswer {
    pub(super) fn extract(mut t: Table<'_, '_>) -> Self {
        use extract::{integer, ip, one_of};
        let d = Self::default();
        Self {
            mode: t.get("action", one_of(BlockMode::CHOICES)).or(d.mode),
            ipv4: t.list("sinkhole_ipv4", ip("IPv4", "192.0.2.1")).or(d.ipv4),
            ipv6: t
                .list("sinkhole_ipv6", ip("IPv6", "2001:db8::1"))
                .or(d.ipv6),
            ttl: t.get("ttl", integer(1, MAX_BLOCK_TTL.into())).or(d.ttl),
        }
    }
}
