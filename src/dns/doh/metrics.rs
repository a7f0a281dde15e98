//! DoH's handles: requests by result (`ward_doh_requests_total`) and the
//! connections it closed itself
//! (`ward_connections_closed_total{listener="dns_doh"}`). Registered by
//! `metrics/doh.rs`; queries themselves are counted by the engine.

use prometheus_client::metrics::counter::Counter;

use super::request::Outcome;
use crate::instrument::{CloseReason, HotCounter};

/// DoH's handles, every series pre-created.
#[derive(Debug, Default)]
pub struct DohMetrics {
    requests: [Counter; Outcome::ALL.len()],
    closed: [HotCounter; CloseReason::ALL.len()],
}

impl DohMetrics {
    /// Handles drawn from the registry's families (`metrics/doh.rs`).
    pub fn new(
        requests: [Counter; Outcome::ALL.len()],
        closed: [HotCounter; CloseReason::ALL.len()],
    ) -> Self {
        Self { requests, closed }
    }

    /// Counts one request by how it ended.
    pub fn request(&self, outcome: Outcome) {
        self.requests[outcome as usize].inc();
    }

    /// Counts one connection DoH closed itself.
    pub fn closed(&self, reason: CloseReason) {
        self.closed[reason as usize].inc();
    }

    /// The count of requests that ended so (for tests and `/metrics`).
    pub fn requests(&self, outcome: Outcome) -> u64 {
        self.requests[outcome as usize].get()
    }

    /// The count of connections closed for `reason`.
    pub fn closes(&self, reason: CloseReason) -> u64 {
        self.closed[reason as usize].get()
    }
}
