//! The `[dot]`/`[doh]` TLS registration; the handles are `tls::metrics`'s.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;

use super::counter_name;
use crate::tls::metrics::{ExpiryLabels, HandshakeFailure, Section, TlsMetrics};

/// TLS handshakes on the `[dot]`/`[doh]` listeners that did not complete,
/// by section (`dot`, `doh`) and reason (`timeout`, `error`).
pub const TLS_HANDSHAKE_FAILURES_TOTAL: &str = "ward_tls_handshake_failures_total";
/// Certificate reloads (SIGHUP, or the files changed) refused, by section:
/// the certificates in force keep serving.
pub const TLS_CERT_RELOAD_FAILURES_TOTAL: &str = "ward_tls_cert_reload_failures_total";
/// notAfter of each certificate in force, unix seconds, by section and
/// certificate file (`cert`).
pub const TLS_CERT_EXPIRY_TIMESTAMP_SECONDS: &str = "ward_tls_cert_expiry_timestamp_seconds";

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct HandshakeLabels {
    section: Section,
    reason: HandshakeFailure,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct SectionLabels {
    section: Section,
}

pub(super) fn register(r: &mut Registry) -> TlsMetrics {
    let handshakes = Family::<HandshakeLabels, Counter>::default();
    r.register(
        counter_name(TLS_HANDSHAKE_FAILURES_TOTAL),
        "TLS handshakes on the [dot]/[doh] listeners that did not complete, by section and reason",
        handshakes.clone(),
    );
    let reloads = Family::<SectionLabels, Counter>::default();
    r.register(
        counter_name(TLS_CERT_RELOAD_FAILURES_TOTAL),
        "Reloads of the [dot]/[doh] certificates refused (the ones in force keep serving), by section",
        reloads.clone(),
    );
    let expiry = Family::<ExpiryLabels, Gauge>::default();
    r.register(
        TLS_CERT_EXPIRY_TIMESTAMP_SECONDS,
        "notAfter of each [dot]/[doh] certificate in force, unix seconds, by section and certificate file",
        expiry.clone(),
    );
    TlsMetrics::new(
        Section::ALL.map(|section| {
            HandshakeFailure::ALL
                .map(|reason| handshakes.get_or_create_owned(&HandshakeLabels { section, reason }))
        }),
        Section::ALL.map(|section| reloads.get_or_create_owned(&SectionLabels { section })),
        expiry,
    )
}
