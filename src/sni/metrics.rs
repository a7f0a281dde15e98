//! The web filters' metric handles and what they record: connections
//! through the SNI filter and requests through the HTTP filter by
//! outcome, names that could not be read, ECH, blocks by category, and
//! (through [`PageViews`]) the notice pages the HTTP filter serves.
//!
//! `metrics` names and registers the families and fills these handles
//! once at start-up; the filters only record.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;

use super::{Channel, Unparsable, WebResult};
use crate::blockpage::PageViews;

/// The labels of `ward_web_blocked_total`.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(crate) struct WebBlockedLabels {
    pub(crate) channel: &'static str,
    pub(crate) category: String,
}

/// The web filters' handles, filled by `metrics` at registration.
#[derive(Debug)]
pub struct WebMetrics {
    pub(crate) results: [[Counter; WebResult::ALL.len()]; Channel::ALL.len()],
    pub(crate) unparsable: [[Counter; Unparsable::ALL.len()]; Channel::ALL.len()],
    pub(crate) sni_ech: Counter,
    pub(crate) blocked: Family<WebBlockedLabels, Counter>,
    pub(crate) page_views: PageViews,
}

impl WebMetrics {
    /// Counts one connection/request through a web-side filter.
    pub fn web(&self, channel: Channel, result: WebResult) {
        self.results[channel as usize][result as usize].inc();
    }

    /// Counts one connection/request with no usable name.
    pub fn web_unparsable(&self, channel: Channel, reason: Unparsable) {
        self.unparsable[channel as usize][reason as usize].inc();
    }

    /// Counts one ClientHello with an ECH extension.
    pub fn sni_ech(&self) {
        self.sni_ech.inc();
    }

    /// Counts one connection/request blocked by a web-side filter. Takes
    /// the family's lock: fine per connection, not meant per packet.
    pub fn web_blocked(&self, channel: Channel, category: &str) {
        self.blocked
            .get_or_create(&WebBlockedLabels {
                channel: channel.as_str(),
                category: category.to_owned(),
            })
            .inc();
    }

    /// The block-page view counter (`ward_blockpage_views_total`), shared
    /// by the HTTP filter and the block-page listener.
    pub fn page_views(&self) -> &PageViews {
        &self.page_views
    }
}
