//! The updater's metric handles and what it records: the list in force
//! (serial, dates, entries, loaded, stale), polls and refusals, the watch
//! on the file on disk, and activation time.
//!
//! `metrics` names and registers the families and fills these handles
//! once at start-up; the updater only records. Each extra list
//! (`[[lists]]`) gets the same handles, drawn from families labelled by
//! `list` ([`ExtraListFamilies`]) when it is configured; a SIGHUP that
//! removes the list removes its series. A `SIGHUP` re-read of the config
//! counts into [`ReloadMetrics`].

use std::sync::atomic::AtomicU64;
use std::time::Duration;

use jiff::Timestamp;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
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
    /// Extra lists only (unregistered for the national list): the last
    /// successful load, reload or poll.
    pub(crate) last_success: Gauge,
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

    /// Records a successful load, reload or poll at `now`.
    pub fn set_last_success(&self, now: Timestamp) {
        self.last_success.set(now.as_second());
    }

    /// Records how long the last activation took.
    pub fn set_activation(&self, elapsed: Duration) {
        self.activation.set(elapsed.as_secs_f64());
    }
}

/// The `list` label of an extra list's series: its `[[lists]]` name
/// (bounded by the config).
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(crate) struct ListLabel {
    pub(crate) list: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(crate) struct ListResultLabels {
    pub(crate) list: String,
    pub(crate) result: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(crate) struct ListReasonLabels {
    pub(crate) list: String,
    pub(crate) reason: &'static str,
}

/// The families of the extra lists' metrics, registered by `metrics`;
/// [`handles`](Self::handles) makes one list's [`ListMetrics`].
#[derive(Debug, Clone, Default)]
pub struct ExtraListFamilies {
    pub(crate) serial: Family<ListLabel, CountGauge>,
    pub(crate) issued_at: Family<ListLabel, Gauge>,
    pub(crate) expires_at: Family<ListLabel, Gauge>,
    pub(crate) activated_at: Family<ListLabel, Gauge>,
    pub(crate) entries: Family<ListLabel, CountGauge>,
    pub(crate) loaded: Family<ListLabel, Gauge>,
    pub(crate) expired: Family<ListLabel, Gauge>,
    pub(crate) last_success: Family<ListLabel, Gauge>,
    pub(crate) equivocation: Family<ListLabel, Gauge>,
    pub(crate) failures: Family<ListLabel, Counter>,
    pub(crate) fetch: Family<ListResultLabels, Counter>,
    pub(crate) rejected: Family<ListReasonLabels, Counter>,
}

impl ExtraListFamilies {
    /// The handles of the extra list `list`, its series created now (a
    /// list configured again after a removal starts from zero).
    pub fn handles(&self, list: &str) -> ListMetrics {
        let label = ListLabel { list: list.into() };
        let result = |r: FetchResult| ListResultLabels {
            list: list.into(),
            result: r.as_str(),
        };
        let reason = |r: FetchResult| ListReasonLabels {
            list: list.into(),
            reason: r.as_str(),
        };
        ListMetrics {
            serial: self.serial.get_or_create_owned(&label),
            issued_at: self.issued_at.get_or_create_owned(&label),
            expires_at: self.expires_at.get_or_create_owned(&label),
            activated_at: self.activated_at.get_or_create_owned(&label),
            entries: self.entries.get_or_create_owned(&label),
            loaded: self.loaded.get_or_create_owned(&label),
            expired: self.expired.get_or_create_owned(&label),
            reload_failures: self.failures.get_or_create_owned(&label),
            fetch: FetchResult::ALL.map(|r| self.fetch.get_or_create_owned(&result(r))),
            rejected: FetchResult::ALL.map(|r| match r.is_refusal() {
                true => self.rejected.get_or_create_owned(&reason(r)),
                false => Counter::default(),
            }),
            // Not kept per extra list: the watch is the national list's.
            file_changes: Counter::default(),
            file_diverged: Gauge::default(),
            equivocation: self.equivocation.get_or_create_owned(&label),
            activation: Gauge::default(),
            last_success: self.last_success.get_or_create_owned(&label),
        }
    }

    /// Removes every series of `list` (no longer configured).
    pub fn remove(&self, list: &str) {
        let label = ListLabel { list: list.into() };
        for family in [
            &self.issued_at,
            &self.expires_at,
            &self.activated_at,
            &self.loaded,
            &self.expired,
            &self.last_success,
            &self.equivocation,
        ] {
            family.remove(&label);
        }
        self.serial.remove(&label);
        self.entries.remove(&label);
        self.failures.remove(&label);
        for r in FetchResult::ALL {
            self.fetch.remove(&ListResultLabels {
                list: list.into(),
                result: r.as_str(),
            });
            self.rejected.remove(&ListReasonLabels {
                list: list.into(),
                reason: r.as_str(),
            });
        }
    }
}

/// SIGHUP's re-reads of the config file.
#[derive(Debug, Clone, Default)]
pub struct ReloadMetrics {
    pub(crate) ok: Counter,
    pub(crate) failed: Counter,
    pub(crate) last_success: Gauge,
}

impl ReloadMetrics {
    /// Counts a config put in force at `now`.
    pub fn succeeded(&self, now: Timestamp) {
        self.ok.inc();
        self.last_success.set(now.as_second());
    }

    /// Counts a config refused (the one in force stays).
    pub fn failed(&self) {
        self.failed.inc();
    }
}
