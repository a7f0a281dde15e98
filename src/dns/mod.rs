//! The DNS side of `ward serve`: a filtering forwarder that works on the
//! wire format end to end.
//!
//! * [`wire`]: bounds-checked reader and writers (pure).
//! * [`query`]: one-pass parse of a client query (pure).
//! * [`answer`]: blocked answers, errors, EDNS and truncation (pure).
//! * [`response`]: checking and taking apart upstream responses (pure).
//! * [`cache`]: the wire-format response cache.
//! * [`upstream`]: forwarding with timeouts, retries, failover and health.
//! * [`limit`]: UDP rate limits per client prefix, with slip.
//! * [`discovery`]: the `_dns.resolver.arpa` SVCB records of `[dot]` and
//!   `[doh]` (RFC 9462), built once per configuration (pure).
//! * [`engine`]: the per-query pipeline: ACL, list, cache, forward.
//! * [`metrics`]: the handles the DNS side records into.
//! * [`udp`]: the UDP fast path: worker threads, `recvmmsg`/`sendmmsg`.
//! * [`server`]: UDP and TCP listeners.
//! * [`doh`]: DNS over HTTPS (RFC 8484).
//! * [`dot`]: DNS over TLS, the TCP listener's connections over TLS.
//! * [`padding`]: EDNS(0) Padding for the encrypted transports (pure).

pub mod answer;
pub mod cache;
pub mod discovery;
pub mod doh;
pub mod dot;
pub mod ech;
pub mod engine;
pub mod limit;
pub mod metrics;
pub mod padding;
pub mod query;
pub mod response;
pub mod server;
pub mod tcp;
pub mod udp;
pub mod upstream;
pub mod wire;

pub use engine::{Engine, Settings, Step};
pub use metrics::DnsMetrics;
pub use server::{Listeners, Server, TcpLimits};

use crate::instrument::label_enum;

label_enum! {
    /// Transport a query arrived on.
    pub enum Protocol {
        Udp = "udp",
        Tcp = "tcp",
        /// DNS over TLS (RFC 7858), `[dot]`.
        Dot = "dot",
        /// DNS over HTTPS (RFC 8484), `[doh]`.
        Doh = "doh",
    }
}

label_enum! {
    /// How a query was answered.
    pub enum QueryResult {
        /// Answered by an upstream.
        Forwarded = "forwarded",
        /// Answered from the cache.
        Cached = "cached",
        /// Answered from the blocklist.
        Blocked = "blocked",
        /// Refused (client not allowed, or policy).
        Refused = "refused",
        /// Answered locally (e.g. `version.bind`, the list's own TXT record).
        Local = "local",
        /// SERVFAIL: no list, or no upstream answered.
        ServFail = "servfail",
        /// FORMERR: the query could not be parsed.
        FormErr = "formerr",
        /// NOTIMP: an opcode this resolver does not implement.
        NotImp = "notimp",
    }
}
