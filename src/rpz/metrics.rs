//! The feed's handles: transfers by kind and result, the serial served,
//! each secondary's last transfer, NOTIFY and HTTPS results. The one
//! registry registers them (`metrics/rpz.rs`).

use std::net::IpAddr;
use std::sync::Mutex;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
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
        /// Sent in full: the SOA, or the whole zone (an AXFR, or an IXFR
        /// from a serial the history does not reach).
        Ok = "ok",
        /// IXFR: the changes since the secondary's serial.
        Incremental = "incremental",
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

label_enum! {
    /// How a NOTIFY to one secondary ended (`ward_rpz_notify_total`).
    pub enum NotifyResult {
        /// The secondary answered.
        Acknowledged = "acknowledged",
        /// No answer after every retry.
        Unanswered = "unanswered",
        /// It could not be sent, or the answer was an error.
        Failed = "failed",
    }
}

label_enum! {
    /// How a request for the HTTPS copy ended (`ward_rpz_https_requests_total`).
    pub enum HttpsResult {
        /// The zone file was sent.
        Ok = "ok",
        /// `If-None-Match` named the zone served: 304.
        NotModified = "not_modified",
        /// The address is not in `allow_transfer`: 403.
        Refused = "refused",
        /// Another path or method: 404 or 405.
        NotFound = "not_found",
        /// No zone to serve: 503.
        Unavailable = "unavailable",
    }
}

/// Most secondaries with series of their own; transfers to any further
/// address are counted under [`OTHER_SECONDARY`].
pub const MAX_SECONDARIES: usize = 256;
/// The `secondary` label past [`MAX_SECONDARIES`].
pub const OTHER_SECONDARY: &str = "other";

/// The `secondary` label: the address the transfer went to.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct SecondaryLabels {
    pub secondary: String,
}

/// The feed's metrics, every fixed series pre-created.
#[derive(Debug)]
pub struct RpzMetrics {
    pub transfers: [[Counter; Outcome::ALL.len()]; Kind::ALL.len()],
    /// The serial of the zone served (0 before the first).
    pub serial: Gauge,
    pub notify: [Counter; NotifyResult::ALL.len()],
    pub https: [Counter; HttpsResult::ALL.len()],
    /// Unix time of each secondary's last complete transfer.
    pub last_transfer: Family<SecondaryLabels, Gauge>,
    /// The serial each secondary was last sent.
    pub secondary_serial: Family<SecondaryLabels, Gauge>,
    /// Secondaries with series of their own.
    known: Mutex<Vec<IpAddr>>,
}

impl RpzMetrics {
    pub fn new(
        transfers: [[Counter; Outcome::ALL.len()]; Kind::ALL.len()],
        serial: Gauge,
        notify: [Counter; NotifyResult::ALL.len()],
        https: [Counter; HttpsResult::ALL.len()],
        last_transfer: Family<SecondaryLabels, Gauge>,
        secondary_serial: Family<SecondaryLabels, Gauge>,
    ) -> Self {
        Self {
            transfers,
            serial,
            notify,
            https,
            last_transfer,
            secondary_serial,
            known: Mutex::new(Vec::new()),
        }
    }

    pub fn count(&self, kind: Kind, outcome: Outcome) {
        self.transfers[kind as usize][outcome as usize].inc();
    }

    /// A complete transfer of the zone of `serial` to `peer`.
    pub fn transferred(&self, peer: IpAddr, serial: u32) {
        let secondary = {
            // A poisoned lock only means a panic elsewhere mid-push; the
            // addresses are plain data.
            let mut known = self.known.lock().unwrap_or_else(|e| e.into_inner());
            if known.contains(&peer) {
                peer.to_string()
            } else if known.len() < MAX_SECONDARIES {
                known.push(peer);
                peer.to_string()
            } else {
                OTHER_SECONDARY.to_owned()
            }
        };
        let labels = SecondaryLabels { secondary };
        let now = jiff::Timestamp::now().as_second();
        self.last_transfer.get_or_create(&labels).set(now);
        self.secondary_serial
            .get_or_create(&labels)
            .set(i64::from(serial));
    }
}
