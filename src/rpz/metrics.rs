//! The feed's handles: transfers by kind and result, and the serial
//! served. The one registry registers them (`metrics/rpz.rs`).

use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::gauge::Gauge;

use crate::instrument::label_enum;

label_enum! {
    /// What a secondary asked for (`ward_rpz_transfers_total{kind}`).
    pub enum Kind {
        Axfr = "axfr",
        /// Answered with the whole zone, or the SOA alone when current.
        Ixfr = "ixfr",
        /// An SOA query (a secondary checking the serial).
        Soa = "soa",
    }
}

label_enum! {
    /// How it ended (`ward_rpz_transfers_total{result}`).
    pub enum Outcome {
        /// Sent in full.
        Ok = "ok",
        /// IXFR from the serial served: the SOA alone.
        UpToDate = "up_to_date",
        /// The address is not in `allow_transfer`, or the query was not
        /// one the feed answers.
        Refused = "refused",
        /// A missing or bad TSIG signature (NOTAUTH).
        Notauth = "notauth",
        /// No verified list in force, or its zone cannot be built.
        Servfail = "servfail",
        /// The connection failed mid-transfer.
        Failed = "failed",
    }
}

/// The feed's metrics, every series pre-created.
#[derive(Debug, Clone)]
pub struct RpzMetrics {
    pub transfers: [[Counter; Outcome::ALL.len()]; Kind::ALL.len()],
    /// The serial of the zone served (0 before the first).
    pub serial: Gauge,
}

impl RpzMetrics {
    pub fn count(&self, kind: Kind, outcome: Outcome) {
        self.transfers[kind as usize][outcome as usize].inc();
    }
}
