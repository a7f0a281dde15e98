//! The RPZ feed's registration; the handles are `rpz::metrics`'s.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;

use super::{RPZ_SERIAL, RPZ_TRANSFERS_TOTAL, counter_name};
use crate::rpz::metrics::{Kind, Outcome, RpzMetrics};

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct TransferLabels {
    kind: Kind,
    result: Outcome,
}

pub(super) fn register(r: &mut Registry) -> RpzMetrics {
    let family = Family::<TransferLabels, Counter>::default();
    r.register(
        counter_name(RPZ_TRANSFERS_TOTAL),
        "Queries to the RPZ feed (transfers and SOA checks), by kind and result",
        family.clone(),
    );
    let transfers = Kind::ALL.map(|kind| {
        Outcome::ALL.map(|result| family.get_or_create_owned(&TransferLabels { kind, result }))
    });
    let serial = Gauge::default();
    r.register(
        RPZ_SERIAL,
        "Serial of the zone the RPZ feed serves (0 before the first is built)",
        serial.clone(),
    );
    RpzMetrics { transfers, serial }
}
