//! The RPZ feed (`[rpz]` of `ward serve`): the national list in force as
//! a Response Policy Zone for resolvers that are not ward, transferred
//! over AXFR (RFC 5936) and IXFR (RFC 1995) with TSIG (RFC 8945,
//! hmac-sha256) and an address ACL, announced by NOTIFY (RFC 1996), and
//! served as a zone file over HTTPS.
//!
//! The zone is exactly what `ward list export --format rpz` writes for
//! the same list with the same actions (`action`, `category_actions`;
//! TTL 300): both walk `list::export::RpzZone`. It is built from the verified
//! list in the store, never anything else; once per list, when the list
//! is put in force, then kept (`zone.rs`), with the changes from the
//! previous list (`ixfr.rs`). `feed.rs` serves it, `notify.rs` announces
//! it, `https.rs` serves its text, `tsig.rs` signs and checks.

pub mod feed;
pub mod https;
pub mod ixfr;
pub mod metrics;
pub mod notify;
pub mod tsig;
pub mod zone;

pub use self::feed::{Feed, FeedSockets};
