//! The engine's settings and the tasks `ward serve` runs beside the
//! listeners: readiness, gauges, the systemd notifications and watchdog,
//! and upstream health probes.

use std::sync::Arc;
use std::time::Duration;

use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

use crate::admin::{ListStatus, Readiness, ReadinessProbe};
use crate::config::Config;
use crate::dns::Engine;
use crate::dns::Settings;
use crate::dns::upstream::UpstreamSettings;
use crate::metrics::Metrics;
use crate::store::ListStore;
use crate::update::ListSource;
use crate::update::profiles::ProfileKeeper;
use crate::update::source::publish_list;
use crate::update::watch::FileWatch;

/// How often gauges (cache size, list freshness, readiness) are refreshed.
const GAUGE_INTERVAL: Duration = Duration::from_secs(5);
/// How often idle upstreams are probed for health.
const PROBE_INTERVAL: Duration = Duration::from_secs(10);

/// The engine settings a configuration asks for.
pub fn engine_settings(config: &Config) -> Settings {
    let dns = &config.dns;
    Settings {
        allow_clients: dns.allow_clients.clone(),
        block: config.block.clone(),
        cache: Some(config.cache),
        upstream: UpstreamSettings {
            addrs: dns.upstreams.clone(),
            timeout: dns.upstream_timeout,
            attempts: dns.upstream_attempts,
            edns_payload: dns.edns_payload,
        },
        query_log: config.log.query_log,
    }
}

/// What `/readyz`, `/list/status` and the `ward_ready` gauge report.
pub(super) struct Probe {
    pub(super) engine: Arc<Engine>,
    pub(super) source: ListSource,
    pub(super) watch: Option<Arc<FileWatch>>,
    pub(super) profiles: Option<Arc<ProfileKeeper>>,
}

impl ReadinessProbe for Probe {
    fn readiness(&self) -> Readiness {
        let mut reasons = Vec::new();
        let mut warnings = Vec::new();
        match self.engine.store().load().as_ref() {
            None => reasons.push("no verified list is loaded".to_owned()),
            Some(active) if active.is_expired(jiff::Timestamp::now()) => warnings.push(format!(
                "the list in force (serial {}) is stale: it expired at {} and no newer list has arrived; still enforcing it",
                active.serial(),
                active.manifest().expires_at
            )),
            Some(_) => {}
        }
        if let Some(profiles) = self.engine.profiles() {
            for (list, users) in profiles.load().unloaded() {
                if users.is_empty() {
                    warnings.push(format!(
                        "extra list {list} is not loaded (no profile uses it)"
                    ));
                } else {
                    reasons.push(format!(
                        "extra list {list} is not loaded; profile(s) {} answer SERVFAIL for names it would decide",
                        users.join(", ")
                    ));
                }
            }
        }
        if !self.engine.upstreams().any_healthy() {
            reasons.push("no upstream resolver answered in the last 60 s".to_owned());
        }
        if self.source.equivocation() {
            let who = match self.source {
                ListSource::Url(_) => "the list endpoint",
                _ => "list.file",
            };
            warnings.push(format!(
                "{who} equivocates (two lists under one serial); see the logs"
            ));
        }
        if let Some(status) = self.source.updater_status()
            && let (Some(result), Some(error)) = (&status.last_result, &status.last_error)
        {
            warnings.push(format!("the last list update failed ({result}): {error}"));
        }
        if let Some(watch) = self.watch.as_ref().filter(|w| w.diverged()) {
            warnings.push(format!(
                "{} no longer holds the list in force (still enforced from memory); see the logs",
                watch.path().display()
            ));
        }
        Readiness {
            ready: reasons.is_empty(),
            reasons,
            warnings,
        }
    }

    fn list_status(&self) -> Option<ListStatus> {
        let mut status = ListStatus::of(
            self.source.describe(),
            self.engine.store(),
            self.source.updater_status(),
        );
        if let Some(keeper) = &self.profiles {
            status.extra_lists = keeper.status();
        }
        Some(status)
    }
}

/// UDP workers per listen address: as configured, or one per CPU for 0.
pub(super) fn udp_workers(configured: usize) -> usize {
    if configured > 0 {
        return configured;
    }
    std::thread::available_parallelism().map_or(1, usize::from)
}

pub(super) async fn gauges(probe: Probe, metrics: Arc<Metrics>, shutdown: CancellationToken) {
    let engine = Arc::clone(&probe.engine);
    loop {
        engine.publish_cache_size();
        publish_list(metrics.list(), engine.store());
        if let Some(keeper) = &probe.profiles {
            keeper.publish();
        }
        metrics.set_ready(probe.readiness().ready);
        tokio::select! {
            () = tokio::time::sleep(GAUGE_INTERVAL) => {}
            () = shutdown.cancelled() => break,
        }
    }
}

/// How often [`trim_memory`] runs.
const TRIM_INTERVAL: Duration = Duration::from_secs(30);

/// Returns freed memory to the system every [`TRIM_INTERVAL`], so that the
/// resident set comes back down after a burst of connections or forwards
/// (the soak test of `bench/soak.sh` measures it).
pub(super) async fn trim_memory(shutdown: CancellationToken) {
    loop {
        tokio::select! {
            () = tokio::time::sleep(TRIM_INTERVAL) => {}
            () = shutdown.cancelled() => break,
        }
        crate::sys::release_free_memory();
    }
}

/// `READY=1` once a verified list is in force (at once, normally; later
/// if ward started without one and the updater fetches it).
pub(super) async fn notify_ready(
    notifier: Arc<crate::process::Notifier>,
    store: Arc<ListStore>,
    shutdown: CancellationToken,
) {
    loop {
        if let Some(active) = store.load().as_ref() {
            notifier.notify(&format!(
                "READY=1\nSTATUS=enforcing {} serial {}",
                active.list_id(),
                active.serial()
            ));
            return;
        }
        tokio::select! {
            () = tokio::time::sleep(Duration::from_millis(200)) => {}
            () = shutdown.cancelled() => return,
        }
    }
}

/// `WATCHDOG=1` every `interval`, but only after a query to ward's own
/// listener was answered: a stuck serving loop stops the pings.
pub(super) async fn feed_watchdog(
    notifier: Arc<crate::process::Notifier>,
    target: std::net::SocketAddr,
    interval: Duration,
    shutdown: CancellationToken,
) {
    info!(%target, ?interval, "systemd watchdog: self-query every interval");
    loop {
        match crate::process::self_query(target, interval).await {
            Ok(()) => notifier.notify("WATCHDOG=1"),
            Err(reason) => {
                warn!(%reason, "watchdog self-query failed; not feeding the systemd watchdog");
            }
        }
        tokio::select! {
            () = tokio::time::sleep(interval) => {}
            () = shutdown.cancelled() => return,
        }
    }
}

pub(super) async fn probe_upstreams(engine: Arc<Engine>, shutdown: CancellationToken) {
    loop {
        for index in engine.upstreams().needs_probe() {
            engine.upstreams().probe(index).await;
        }
        tokio::select! {
            () = tokio::time::sleep(PROBE_INTERVAL) => {}
            () = shutdown.cancelled() => break,
        }
    }
}
