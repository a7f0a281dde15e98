//! The RPZ feed's registration; the handles are `rpz::metrics`'s.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;

use super::{
    RPZ_HTTPS_REQUESTS_TOTAL, RPZ_NOTIFY_TOTAL, RPZ_SECONDARY_LAST_TRANSFER, RPZ_SECONDARY_SERIAL,
    RPZ_SERIAL, RPZ_TRANSFERS_TOTAL, counter_name,
};
use crate::rpz::metrics::{HttpsResult, Kind, NotifyResult, Outcome, RpzMetrics, SecondaryLabels};

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
    #[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
    struct NotifyLabels {
        result: NotifyResult,
    }
    let family = Family::<NotifyLabels, Counter>::default();
    r.register(
        counter_name(RPZ_NOTIFY_TOTAL),
        "NOTIFY messages to configured secondaries after a new list, by result",
        family.clone(),
    );
    let notify =
        NotifyResult::ALL.map(|result| family.get_or_create_owned(&NotifyLabels { result }));
    #[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
    struct HttpsLabels {
        result: HttpsResult,
    }
    let family = Family::<HttpsLabels, Counter>::default();
    r.register(
        counter_name(RPZ_HTTPS_REQUESTS_TOTAL),
        "Requests for the RPZ zone file over HTTPS, by result",
        family.clone(),
    );
    let https = HttpsResult::ALL.map(|result| family.get_or_create_owned(&HttpsLabels { result }));
    let last_transfer = Family::<SecondaryLabels, Gauge>::default();
    r.register(
        RPZ_SECONDARY_LAST_TRANSFER,
        "Unix time of each secondary's last complete AXFR or IXFR",
        last_transfer.clone(),
    );
    let secondary_serial = Family::<SecondaryLabels, Gauge>::default();
    r.register(
        RPZ_SECONDARY_SERIAL,
        "The zone serial each secondary was last sent",
        secondary_serial.clone(),
    );
    RpzMetrics::new(
        transfers,
        serial,
        notify,
        https,
        last_transfer,
        secondary_serial,
    )
}
