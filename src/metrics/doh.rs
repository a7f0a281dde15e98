//! DoH's registration; the handles are `dns::doh::metrics`'s. Its closed
//! connections are a row of the limits area's
//! `ward_connections_closed_total` (`listener="dns_doh"`).

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::registry::Registry;

use super::limits::{LimitMetrics, Listener};
use super::{DOH_REQUESTS_TOTAL, counter_name};
use crate::dns::doh::DohMetrics;
use crate::dns::doh::request::Outcome;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    result: Outcome,
}

pub(super) fn register(r: &mut Registry, limits: &LimitMetrics) -> DohMetrics {
    let family = Family::<RequestLabels, Counter>::default();
    r.register(
        counter_name(DOH_REQUESTS_TOTAL),
        "DNS-over-HTTPS requests, by result (ok, or the HTTP refusal)",
        family.clone(),
    );
    let requests = Outcome::ALL.map(|result| family.get_or_create_owned(&RequestLabels { result }));
    DohMetrics::new(requests, limits.closed[Listener::DnsDoh as usize].clone())
}
