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
//! * [`engine`]: the per-query pipeline: ACL, list, cache, forward.
//! * [`udp`]: the UDP fast path: worker threads, `recvmmsg`/`sendmmsg`.
//! * [`server`]: UDP and TCP listeners.

pub mod answer;
pub mod cache;
pub mod engine;
pub mod limit;
pub mod query;
pub mod response;
pub mod server;
pub mod tcp;
pub mod udp;
pub mod upstream;
pub mod wire;

pub use engine::{Engine, Settings, Step};
pub use server::{Listeners, Server, TcpLimits};
