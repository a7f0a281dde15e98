//! The updater's metric handles and what it records: the list in force
//! (serial, dates, entries, loaded, stale), polls and refusals, the watch
//! on the file on disk, and activation time.
//!
//! `metrics` names and registers the families and fills these handles
//! once at start-up; the updater only records.

use std::sync::atomic::AtomicU64;
use std::time::Duration;

use jiff::Timestamp;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::gauge::Gauge;

use super::FetchResult;
use crate::instrument::CountGauge;
use crate::list::ListArtifact;

/// The updater's handles, filled by `metrics` at registration.
#[derive(Debug)]
pub struct ListMetrics {
    pub(crate) serial: CountGauge,
    pub(crate) issued_at: Gauge,
    pub(crate) expires_at: Gauge,
    pub(crate) activated_at: Gauge,
    pub(crate) entries: CountGauge,
    pub(crate) loaded: Gauge,
    pub(crate) expired: Gauge,
    pub(crate) reload_failures: Counter,
    pub(crate) fetch: [Counter; FetchResult::ALL.len()],
    /// Series only for refusal reasons; the others count nowhere.
    pub(crate) rejected: [Counter; FetchResult::ALL.len()],
    pub(crate) file_changes: Counter,
    pub(crate) file_diverged: Gauge,
    pub(crate) equivocation: Gauge,
    pub(crate) activation: Gauge<f64, AtomicU64>,
}

impl ListMetrics {
    /// Publishes the list in force (`None`: no list; every list gauge
    /// reads 0). `activated_at` is when this node put the list in force;
    /// `now` decides `ward_list_stale`.
    pub fn set_list(&self, list: Option<&ListArtifact>, activated_at: Timestamp, now: Timestamp) {
        let Some(list) = list else {
            self.loaded.set(0);
            self.expired.set(0);
            self.serial.set(0);
            self.issued_at.set(0);
            self.expires_at.set(0);
            self.activated_at.set(0);
            self.entries.set(0);
            return;
        };
        let m = list.manifest();
        self.serial.set(m.serial);
        self.issued_at.set(m.issued_at.as_second());
        self.expires_at.set(m.expires_at.as_second());
        self.activated_at.set(activated_at.as_second());
        self.entries.set(m.entries);
        self.expired.set(i64::from(list.is_expired(now)));
        self.loaded.set(1);
    }

    /// Recomputes `ward_list_stale` against `now` (to the second) from
    /// the published expiry, so the gauge turns 1 when the list lapses even
    /// if nothing calls [`set_list`](Self::set_list) again. The admin
    /// listener calls this before each scrape.
    pub fn refresh_expiry(&self, now: Timestamp) {
        if self.loaded.get() == 1 {
            self.expired
                .set(i64::from(now.as_second() >= self.expires_at.get()));
        }
    }

    /// Counts one failed list load or reload.
    pub fn list_reload_failed(&self) {
        self.reload_failures.inc();
    }

    /// Counts one poll of `list.url`.
    pub fn list_fetch(&self, result: FetchResult) {
        self.fetch[result as usize].inc();
    }

    /// Counts one candidate list refused by the acceptance rule.
    pub fn list_rejected(&self, reason: FetchResult) {
        self.rejected[reason as usize].inc();
    }

    /// Records whether the list file on disk differs from the list in
    /// force; `changed` counts a newly noticed difference.
    pub fn set_list_file_diverged(&self, diverged: bool, changed: bool) {
        if changed {
            self.file_changes.inc();
        }
        self.file_diverged.set(i64::from(diverged));
    }

    /// Raises or clears the equivocation alarm.
    pub fn set_equivocation(&self, on: bool) {
        self.equivocation.set(i64::from(on));
    }

    /// Records how long the last activation took.
    pub fn set_activation(&self, elapsed: Duration) {
        self.activation.set(elapsed.as_secs_f64());
    }
}
