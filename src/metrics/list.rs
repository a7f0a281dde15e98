//! The list area: the list in force (serial, dates, entries, loaded,
//! stale), updates and refusals, the watch on the file on disk, and
//! activation time.

use std::sync::atomic::AtomicU64;
use std::time::Duration;

use jiff::Timestamp;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;

use super::{
    FetchResult, LIST_ACTIVATED_TIMESTAMP_SECONDS, LIST_ACTIVATION_SECONDS, LIST_ENTRIES,
    LIST_EQUIVOCATION, LIST_EXPIRES_TIMESTAMP_SECONDS, LIST_FETCH_TOTAL, LIST_FILE_CHANGES_TOTAL,
    LIST_FILE_DIVERGED, LIST_ISSUED_TIMESTAMP_SECONDS, LIST_LOADED, LIST_REJECTED_TOTAL,
    LIST_RELOAD_FAILURES_TOTAL, LIST_SERIAL, LIST_STALE, Metrics, counter_name,
};
use crate::list::ListArtifact;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ResultLabels {
    result: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ReasonLabels {
    reason: &'static str,
}

/// A gauge of non-negative counts (the default `Gauge` is `i64`).
type CountGauge = Gauge<u64, AtomicU64>;

/// The list area's handles.
#[derive(Debug)]
pub(super) struct ListMetrics {
    serial: CountGauge,
    issued_at: Gauge,
    expires_at: Gauge,
    activated_at: Gauge,
    entries: CountGauge,
    loaded: Gauge,
    expired: Gauge,
    reload_failures: Counter,
    pub(super) fetch: [Counter; FetchResult::ALL.len()],
    rejected: [Counter; FetchResult::ALL.len()],
    file_changes: Counter,
    file_diverged: Gauge,
    equivocation: Gauge,
    activation: Gauge<f64, AtomicU64>,
}

impl ListMetrics {
    /// Registers the area's metrics and pre-creates every fixed-label
    /// series.
    pub(super) fn register(r: &mut Registry) -> Self {
        let gauge = |r: &mut Registry, name: &'static str, help: &'static str| {
            let g = Gauge::default();
            r.register(name, help, g.clone());
            g
        };
        let count = |r: &mut Registry, name: &'static str, help: &'static str| {
            let g = CountGauge::default();
            r.register(name, help, g.clone());
            g
        };
        let counter = |r: &mut Registry, name: &'static str, help: &'static str| {
            let c = Counter::default();
            r.register(counter_name(name), help, c.clone());
            c
        };
        let serial = count(r, LIST_SERIAL, "Serial of the list in force");
        let issued_at = gauge(
            r,
            LIST_ISSUED_TIMESTAMP_SECONDS,
            "When the list in force was issued, unix seconds",
        );
        let expires_at = gauge(
            r,
            LIST_EXPIRES_TIMESTAMP_SECONDS,
            "When the list in force expires, unix seconds",
        );
        let activated_at = gauge(
            r,
            LIST_ACTIVATED_TIMESTAMP_SECONDS,
            "When this node put the list in force, unix seconds",
        );
        let entries = count(r, LIST_ENTRIES, "Rules in the list in force");
        let loaded = gauge(
            r,
            LIST_LOADED,
            "Whether a verified list is in force (1) or not (0)",
        );
        let expired = gauge(
            r,
            LIST_STALE,
            "Whether the list in force is past its expiry (1) or not (0); an expired list is still enforced",
        );
        let reload_failures = counter(
            r,
            LIST_RELOAD_FAILURES_TOTAL,
            "List loads or reloads that failed; the previous list stays in force",
        );
        let fetch_family = Family::<ResultLabels, Counter>::default();
        r.register(
            counter_name(LIST_FETCH_TOTAL),
            "Polls of list.url, by result",
            fetch_family.clone(),
        );
        let fetch = FetchResult::ALL.map(|res| {
            fetch_family.get_or_create_owned(&ResultLabels {
                result: res.as_str(),
            })
        });
        let rejected_family = Family::<ReasonLabels, Counter>::default();
        r.register(
            counter_name(LIST_REJECTED_TOTAL),
            "Candidate lists refused by the acceptance rule (any source), by reason; the list in force stays",
            rejected_family.clone(),
        );
        // Only refusal reasons are series; the others count nowhere.
        let rejected = FetchResult::ALL.map(|res| match res.is_refusal() {
            true => rejected_family.get_or_create_owned(&ReasonLabels {
                reason: res.as_str(),
            }),
            false => Counter::default(),
        });
        let file_changes = counter(
            r,
            LIST_FILE_CHANGES_TOTAL,
            "Times the list file on disk was found to differ from the list in force",
        );
        let file_diverged = gauge(
            r,
            LIST_FILE_DIVERGED,
            "1 while the list file on disk differs from the verified list in force (which stays in force)",
        );
        let equivocation = gauge(
            r,
            LIST_EQUIVOCATION,
            "1 while the list endpoint offers different content under the highest serial accepted",
        );
        let activation = Gauge::<f64, AtomicU64>::default();
        r.register(
            LIST_ACTIVATION_SECONDS,
            "The last list activation: seconds from download start to the swap",
            activation.clone(),
        );
        Self {
            serial,
            issued_at,
            expires_at,
            activated_at,
            entries,
            loaded,
            expired,
            reload_failures,
            fetch,
            rejected,
            file_changes,
            file_diverged,
            equivocation,
            activation,
        }
    }
}

impl Metrics {
    /// Publishes the list in force (`None`: no list; every list gauge
    /// reads 0). `activated_at` is when this node put the list in force;
    /// `now` decides `ward_list_stale`.
    pub fn set_list(&self, list: Option<&ListArtifact>, activated_at: Timestamp, now: Timestamp) {
        let g = &self.list;
        let Some(list) = list else {
            g.loaded.set(0);
            g.expired.set(0);
            g.serial.set(0);
            g.issued_at.set(0);
            g.expires_at.set(0);
            g.activated_at.set(0);
            g.entries.set(0);
            return;
        };
        let m = list.manifest();
        g.serial.set(m.serial);
        g.issued_at.set(m.issued_at.as_second());
        g.expires_at.set(m.expires_at.as_second());
        g.activated_at.set(activated_at.as_second());
        g.entries.set(m.entries);
        g.expired.set(i64::from(list.is_expired(now)));
        g.loaded.set(1);
    }

    /// Recomputes `ward_list_stale` against `now` (to the second) from
    /// the published expiry, so the gauge turns 1 when the list lapses even
    /// if nothing calls [`set_list`](Self::set_list) again. The admin
    /// listener calls this before each scrape.
    pub fn refresh_expiry(&self, now: Timestamp) {
        let g = &self.list;
        if g.loaded.get() == 1 {
            g.expired
                .set(i64::from(now.as_second() >= g.expires_at.get()));
        }
    }

    /// Counts one failed list load or reload.
    pub fn list_reload_failed(&self) {
        self.list.reload_failures.inc();
    }

    /// Counts one poll of `list.url`.
    pub fn list_fetch(&self, result: FetchResult) {
        self.list.fetch[result as usize].inc();
    }

    /// Counts one candidate list refused by the acceptance rule.
    pub fn list_rejected(&self, reason: FetchResult) {
        self.list.rejected[reason as usize].inc();
    }

    /// Records whether the list file on disk differs from the list in
    /// force; `changed` counts a newly noticed difference.
    pub fn set_list_file_diverged(&self, diverged: bool, changed: bool) {
        if changed {
            self.list.file_changes.inc();
        }
        self.list.file_diverged.set(i64::from(diverged));
    }

    /// Raises or clears the equivocation alarm.
    pub fn set_equivocation(&self, on: bool) {
        self.list.equivocation.set(i64::from(on));
    }

    /// Records how long the last activation took.
    pub fn set_activation(&self, elapsed: Duration) {
        self.list.activation.set(elapsed.as_secs_f64());
    }
}
