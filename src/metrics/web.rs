//! The web area: connections through the SNI filter and requests through
//! the HTTP filter by outcome, names that could not be read, ECH, blocks
//! by category, and block pages served.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::registry::Registry;

use super::{
    BLOCKPAGE_VIEWS_TOTAL, Channel, HTTP_REQUESTS_TOTAL, Metrics, SNI_CONNECTIONS_TOTAL,
    SNI_ECH_PRESENT_TOTAL, Unparsable, WEB_BLOCKED_TOTAL, WEB_UNPARSABLE_TOTAL, WebResult,
    counter_name,
};

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ResultLabels {
    result: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct UnparsableLabels {
    filter: &'static str,
    reason: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(super) struct WebBlockedLabels {
    pub(super) channel: &'static str,
    pub(super) category: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct CategoryLabels {
    category: String,
}

/// The web area's handles.
#[derive(Debug)]
pub(super) struct WebMetrics {
    results: [[Counter; WebResult::ALL.len()]; Channel::ALL.len()],
    unparsable: [[Counter; Unparsable::ALL.len()]; Channel::ALL.len()],
    sni_ech: Counter,
    pub(super) blocked: Family<WebBlockedLabels, Counter>,
    blockpage_views: Family<CategoryLabels, Counter>,
}

impl WebMetrics {
    /// Registers the area's metrics and pre-creates every fixed-label
    /// series.
    pub(super) fn register(r: &mut Registry) -> Self {
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
        let blockpage_views = Family::<CategoryLabels, Counter>::default();
        r.register(
            counter_name(BLOCKPAGE_VIEWS_TOTAL),
            "Block notice pages served, by list category",
            blockpage_views.clone(),
        );
        Self {
            results,
            unparsable,
            sni_ech,
            blocked,
            blockpage_views,
        }
    }
}

impl Metrics {
    /// Counts one connection/request through a web-side filter.
    pub fn web(&self, channel: Channel, result: WebResult) {
        self.web.results[channel as usize][result as usize].inc();
    }

    /// Counts one connection/request with no usable name.
    pub fn web_unparsable(&self, channel: Channel, reason: Unparsable) {
        self.web.unparsable[channel as usize][reason as usize].inc();
    }

    /// Counts one ClientHello with an ECH extension.
    pub fn sni_ech(&self) {
        self.web.sni_ech.inc();
    }

    /// Counts one connection/request blocked by a web-side filter. Takes
    /// the family's lock: fine per connection, not meant per packet.
    pub fn web_blocked(&self, channel: Channel, category: &str) {
        self.web
            .blocked
            .get_or_create(&WebBlockedLabels {
                channel: channel.as_str(),
                category: category.to_owned(),
            })
            .inc();
    }

    /// Counts one block page served for `category` (a list category name,
    /// or `unlisted`).
    pub fn blockpage_view(&self, category: &str) {
        self.web
            .blockpage_views
            .get_or_create(&CategoryLabels {
                category: category.to_owned(),
            })
            .inc();
    }
}
