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
    LIST_ACTIVATED_TIMESTAMP_SECONDS, LIST_ACTIVATION_SECONDS, LIST_ENTRIES, LIST_EQUIVOCATION,
    LIST_EXPIRES_TIMESTAMP_SECONDS, LIST_FETCH_TOTAL, LIST_FILE_CHANGES_TOTAL, LIST_FILE_DIVERGED,
    LIST_ISSUED_TIMESTAMP_SECONDS, LIST_LOADED, LIST_REJECTED_TOTAL, LIST_RELOAD_FAILURES_TOTAL,
    LIST_SERIAL, LIST_STALE, counter_name,
};
use crate::instrument::CountGauge;
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
    }
}
