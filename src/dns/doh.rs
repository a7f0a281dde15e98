//! DNS over HTTPS (RFC 8484): `GET /dns-query?dns=` and `POST /dns-query`
//! over HTTP/2 and HTTP/1.1 on TLS, answered by the same engine as UDP
//! and TCP, padded (RFC 8467) and with a `Cache-Control` from the answer.
//!
//! * [`request`]: a request's head to a query, or the refusal's status
//!   (pure, fuzzed).
//! * [`freshness`]: the answer's `Cache-Control` (pure).
//! * [`server`]: the TLS accept loop, the HTTP connections and their
//!   limits.
//! * [`metrics`]: requests by result, connections closed.
//!
//! A client id (which school profile a query gets) comes from the path,
//! `/dns-query/<id>`, or else from the TLS server name, the first label
//! under the configured server name (`school-42.dns.example.vn`).

pub mod freshness;
pub mod metrics;
pub mod request;
pub mod server;

pub use metrics::DohMetrics;
pub use server::{ALPN, Doh, DohLimits, accept_loop};
