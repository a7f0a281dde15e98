//! The list area's registration: the list in force (serial, dates,
//! entries, loaded, stale), updates and refusals, the watch on the file on
//! disk, and activation time. The handles and what they count are
//! `update::metrics`'s.

use std::sync::atomic::AtomicU64;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;

use super::{
    CONFIG_RELOAD_FAILED_TOTAL, CONFIG_RELOAD_LAST_SUCCESS_TIMESTAMP_SECONDS,
    CONFIG_RELOAD_SUCCEEDED_TOTAL, EXTRA_LIST_ACTIVATED_TIMESTAMP_SECONDS, EXTRA_LIST_ENTRIES,
    EXTRA_LIST_EQUIVOCATION, EXTRA_LIST_EXPIRES_TIMESTAMP_SECONDS, EXTRA_LIST_FETCH_TOTAL,
    EXTRA_LIST_ISSUED_TIMESTAMP_SECONDS, EXTRA_LIST_LAST_SUCCESS_TIMESTAMP_SECONDS,
    EXTRA_LIST_LOADED, EXTRA_LIST_REJECTED_TOTAL, EXTRA_LIST_RELOAD_FAILURES_TOTAL,
    EXTRA_LIST_SERIAL, EXTRA_LIST_STALE, LIST_ACTIVATED_TIMESTAMP_SECONDS, LIST_ACTIVATION_SECONDS,
    LIST_ENTRIES, LIST_EQUIVOCATION, LIST_EXPIRES_TIMESTAMP_SECONDS, LIST_FETCH_TOTAL,
    LIST_FILE_CHANGES_TOTAL, LIST_FILE_DIVERGED, LIST_ISSUED_TIMESTAMP_SECONDS, LIST_LOADED,
    LIST_REJECTED_TOTAL, LIST_RELOAD_FAILURES_TOTAL, LIST_SERIAL, LIST_STALE, counter_name,
};
use crate::instrument::CountGauge;
use crate::update::metrics::{ExtraListFamilies, ReloadMetrics};
use crate::update::{FetchResult, ListMetrics};

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ResultLabels {
    result: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ReasonLabels {
    reason: &'static str,
}

/// Registers the area's metrics and pre-creates every fixed-label series.
pub(super) fn register(r: &mut Registry) -> ListMetrics {
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
    ListMetrics {
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
        // The national list's freshness is `activated_at` and the fetch
        // results; this one is the extra lists'.
        last_success: Gauge::default(),
    }
}

/// Registers the extra lists' families (labelled by `list`); their series
/// are created as each list is configured.
pub(super) fn register_extra(r: &mut Registry) -> ExtraListFamilies {
    let f = ExtraListFamilies::default();
    r.register(
        EXTRA_LIST_SERIAL,
        "Serial of each extra list in force (0 when none)",
        f.serial.clone(),
    );
    r.register(
        EXTRA_LIST_ISSUED_TIMESTAMP_SECONDS,
        "When each extra list in force was issued, unix seconds",
        f.issued_at.clone(),
    );
    r.register(
        EXTRA_LIST_EXPIRES_TIMESTAMP_SECONDS,
        "When each extra list in force expires, unix seconds",
        f.expires_at.clone(),
    );
    r.register(
        EXTRA_LIST_ACTIVATED_TIMESTAMP_SECONDS,
        "When this node put each extra list in force, unix seconds",
        f.activated_at.clone(),
    );
    r.register(
        EXTRA_LIST_LAST_SUCCESS_TIMESTAMP_SECONDS,
        "The last successful load, reload or poll of each extra list, unix seconds",
        f.last_success.clone(),
    );
    r.register(
        EXTRA_LIST_ENTRIES,
        "Rules in each extra list in force",
        f.entries.clone(),
    );
    r.register(
        EXTRA_LIST_LOADED,
        "Whether each extra list is in force (1) or not (0)",
        f.loaded.clone(),
    );
    r.register(
        EXTRA_LIST_STALE,
        "Whether each extra list in force is past its expiry (1) or not (0); it is still enforced",
        f.expired.clone(),
    );
    r.register(
        EXTRA_LIST_EQUIVOCATION,
        "1 while an extra list's source offers different content under the highest serial accepted",
        f.equivocation.clone(),
    );
    r.register(
        counter_name(EXTRA_LIST_RELOAD_FAILURES_TOTAL),
        "Extra list loads or reloads that failed; the version in force stays",
        f.failures.clone(),
    );
    r.register(
        counter_name(EXTRA_LIST_FETCH_TOTAL),
        "Polls of an extra list's url, by result",
        f.fetch.clone(),
    );
    r.register(
        counter_name(EXTRA_LIST_REJECTED_TOTAL),
        "Candidate extra lists refused by the acceptance rule, by reason; the version in force stays",
        f.rejected.clone(),
    );
    f
}

/// Registers SIGHUP's config re-read metrics.
pub(super) fn register_reload(r: &mut Registry) -> ReloadMetrics {
    let m = ReloadMetrics::default();
    r.register(
        counter_name(CONFIG_RELOAD_SUCCEEDED_TOTAL),
        "Config files re-read on SIGHUP and put in force",
        m.ok.clone(),
    );
    r.register(
        counter_name(CONFIG_RELOAD_FAILED_TOTAL),
        "Config files re-read on SIGHUP and refused; the config in force stays",
        m.failed.clone(),
    );
    r.register(
        CONFIG_RELOAD_LAST_SUCCESS_TIMESTAMP_SECONDS,
        "When a config re-read on SIGHUP was last put in force, unix seconds (0: never)",
        m.last_success.clone(),
    );
    m
}
