//! The RPZ feed (`[rpz]` of `ward serve`): the national list in force as
//! a Response Policy Zone for resolvers that are not ward, transferred
//! over AXFR (RFC 5936) with TSIG (RFC 8945, hmac-sha256) and an address
//! ACL.
//!
//! The zone is exactly what `ward list export --format rpz` writes for
//! the same list with the default options (every category NXDOMAIN, TTL
//! 300): both walk `list::export::RpzZone`. It is built from the verified
//! list in the store, never anything else; once per list, on the first
//! query after an activation, then kept (`zone.rs`). `feed.rs` serves it,
//! `tsig.rs` signs and checks.
//!
//! Not built yet: IXFR diffs (an IXFR gets the whole zone), NOTIFY and
//! the HTTPS copy.

pub mod feed;
pub mod metrics;
pub mod tsig;
pub mod zone;

pub use self::feed::{Feed, FeedSockets};
