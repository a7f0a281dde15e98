//! The web area's registration: connections through the SNI filter and
//! requests through the HTTP filter by outcome, names that could not be
//! read, ECH, blocks by category, and block pages served. The handles and
//! what they count are `sni::metrics`'s and `blockpage`'s.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::registry::Registry;

use super::{
    BLOCKPAGE_VIEWS_TOTAL, HTTP_REQUESTS_TOTAL, SNI_CONNECTIONS_TOTAL, SNI_ECH_PRESENT_TOTAL,
    WEB_BLOCKED_TOTAL, WEB_UNPARSABLE_TOTAL, counter_name,
};
use crate::blockpage::PageViews;
use crate::sni::metrics::WebBlockedLabels;
use crate::sni::{Channel, Unparsable, WebMetrics, WebResult};

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ResultLabels {
    result: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct UnparsableLabels {
    filter: &'static str,
    reason: &'static str,
}

/// Registers the area's metrics and pre-creates every fixed-label series.
pub(super) fn register(r: &mut Registry) -> WebMetrics {
    let sni_family = Family::<ResultLabels, Counter>::default();
    r.register(
        counter_name(SNI_CONNECTIONS_TOTAL),
        "Connections through the TLS (SNI) filter, by outcome",
        sni_family.clone(),
    );
    let http_family = Family::<ResultLabels, Counter>::default();
    r.register(
        counter_name(HTTP_REQUESTS_TOTAL),
        "Requests through the HTTP (Host) filter, by outcome",
        http_family.clone(),
    );
    let results = Channel::ALL.map(|c| {
        let family = match c {
            Channel::Sni => &sni_family,
            Channel::Http => &http_family,
        };
        WebResult::ALL.map(|res| {
            family.get_or_create_owned(&ResultLabels {
                result: res.as_str(),
            })
        })
    });
    let unparsable_family = Family::<UnparsableLabels, Counter>::default();
    r.register(
        counter_name(WEB_UNPARSABLE_TOTAL),
        "Connections (SNI) or requests (HTTP) with no usable name, by filter and reason",
        unparsable_family.clone(),
    );
    let unparsable = Channel::ALL.map(|c| {
        Unparsable::ALL.map(|reason| {
            unparsable_family.get_or_create_owned(&UnparsableLabels {
                filter: c.as_str(),
                reason: reason.as_str(),
            })
        })
    });
    let sni_ech = Counter::default();
    r.register(
        counter_name(SNI_ECH_PRESENT_TOTAL),
        "ClientHellos with an encrypted_client_hello extension (decided on the outer name)",
        sni_ech.clone(),
    );
    let blocked = Family::<WebBlockedLabels, Counter>::default();
    r.register(
        counter_name(WEB_BLOCKED_TOTAL),
        "Connections or requests blocked by the SNI/HTTP filters, by channel and list category",
        blocked.clone(),
    );
    let blockpage_views = PageViews::default();
    r.register(
        counter_name(BLOCKPAGE_VIEWS_TOTAL),
        "Block notice pages served, by list category",
        blockpage_views.0.clone(),
    );
    WebMetrics {
        results,
        unparsable,
        sni_ech,
        blocked,
        page_views: blockpage_views,
    }
}
