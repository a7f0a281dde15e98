//! `ward serve`: start-up order, signals, and the background tasks.
//!
//! Start-up, in this order (STYLE §11):
//!
//! 1. the configuration is already loaded and validated (CLI);
//! 2. bind every DNS socket and the admin listener;
//! 3. load and verify the list from disk; with none, follow
//!    `list.require_list` (refuse to start, or serve SERVFAIL/EDE 14 and
//!    report not ready: never unfiltered answers);
//! 4. serve.
//!
//! Signals: SIGHUP re-reads and verifies the list file and swaps it in; a
//! failure keeps the current list, logs an error and counts it. SIGTERM
//! and SIGINT stop receiving and drain in-flight answers for at most
//! [`DRAIN_LIMIT`].

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use tokio::net::TcpListener;
use tokio::signal::unix::{SignalKind, signal};
use tokio_util::sync::CancellationToken;
use tracing::{error, info, warn};

use crate::admin::{self, AdminState, Readiness, ReadinessProbe};
use crate::config::{BlockAction, Config};
use crate::dns::answer::{BlockAnswer, BlockMode};
use crate::dns::cache::CacheLimits;
use crate::dns::upstream::UpstreamSettings;
use crate::dns::{Engine, Listeners, Server, Settings, TcpLimits};
use crate::keys::{self, DEMO_KEY_ID};
use crate::list::{self, Bytes, ListArtifact, TrustedKeys, Verified};
use crate::metrics::Metrics;
use crate::store::ListStore;

/// Longest graceful drain on SIGTERM.
pub const DRAIN_LIMIT: Duration = Duration::from_secs(5);
/// How often gauges (cache size, list freshness, readiness) are refreshed.
const GAUGE_INTERVAL: Duration = Duration::from_secs(5);
/// How often idle upstreams are probed for health.
const PROBE_INTERVAL: Duration = Duration::from_secs(10);

/// Where the list comes from, resolved from the configuration.
#[derive(Debug, Clone)]
enum ListSource {
    Demo,
    File {
        path: std::path::PathBuf,
        trust: TrustedKeys,
    },
    None,
}

impl ListSource {
    fn of(config: &Config) -> anyhow::Result<Self> {
        if config.list.demo {
            return Ok(Self::Demo);
        }
        let mut trust = TrustedKeys::new();
        for path in &config.list.trusted_keys {
            trust.add(keys::read_public(path)?);
        }
        Ok(match &config.list.file {
            Some(path) => Self::File {
                path: path.clone(),
                trust,
            },
            None => Self::None,
        })
    }

    fn load(&self) -> Result<Verified<ListArtifact>, String> {
        match self {
            Self::Demo => {
                let key = keys::parse_public(list::DEMO_PUBLIC_KEY)
                    .map_err(|e| format!("embedded demo key: {e}"))?;
                list::verify(
                    Bytes::Static(list::DEMO_ARTIFACT),
                    &[key].into_iter().collect(),
                )
                .map_err(|e| format!("embedded demo list: {e}"))
            }
            Self::File { path, trust } => list::open_file(path, trust)
                .and_then(|l| l.deep_check().map(|()| l))
                // Computed here, off the serving path, for `list.ward` TXT.
                .inspect(|l| {
                    let _ = l.sha256();
                })
                .map_err(|e| format!("{}: {e}", path.display())),
            Self::None => Err("no list source configured (list.file)".into()),
        }
    }

    fn trusts_demo_key(&self) -> bool {
        match self {
            Self::Demo => true,
            Self::File { trust, .. } => trust.ids().any(|id| id.to_string() == DEMO_KEY_ID),
            Self::None => false,
        }
    }
}

/// The engine settings a configuration asks for.
pub fn engine_settings(config: &Config) -> Settings {
    let dns = &config.dns;
    let c = &config.cache;
    Settings {
        allow_clients: dns.allow_clients.clone(),
        block: BlockAnswer {
            mode: match config.block.action {
                BlockAction::Sinkhole => BlockMode::Sinkhole,
                BlockAction::Nxdomain => BlockMode::NxDomain,
                BlockAction::Refused => BlockMode::Refused,
            },
            ipv4: config.block.sinkhole_ipv4.clone(),
            ipv6: config.block.sinkhole_ipv6.clone(),
            ttl: config.block.ttl,
        },
        cache: Some(CacheLimits {
            max_entries: c.max_entries,
            max_memory: c.max_memory,
            min_ttl: c.min_ttl,
            max_ttl: c.max_ttl,
            max_negative_ttl: c.max_negative_ttl,
        }),
        upstream: UpstreamSettings {
            addrs: dns.upstreams.clone(),
            timeout: dns.upstream_timeout,
            attempts: dns.upstream_attempts,
            edns_payload: dns.edns_payload,
        },
        query_log: config.log.query_log,
    }
}

struct Probe {
    engine: Arc<Engine>,
}

impl ReadinessProbe for Probe {
    fn readiness(&self) -> Readiness {
        let mut reasons = Vec::new();
        if self.engine.store().load().is_none() {
            reasons.push("no verified list is loaded".to_owned());
        }
        if !self.engine.upstreams().any_healthy() {
            reasons.push("no upstream resolver answered in the last 60 s".to_owned());
        }
        Readiness {
            ready: reasons.is_empty(),
            reasons,
        }
    }
}

/// Runs the daemon until SIGTERM/SIGINT or `stop` resolves.
pub async fn run(
    config: Config,
    stop: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let source = ListSource::of(&config)?;
    if source.trusts_demo_key() {
        warn!(
            key_id = DEMO_KEY_ID,
            "the DEMO key is trusted: anyone can sign lists for this node; never use it in production"
        );
    }

    // 2. Bind everything first, so a port clash fails start-up cleanly.
    let listeners = Listeners::bind(&config.dns.listen)
        .await
        .context("cannot bind the DNS listeners")?;
    let admin_listener = match config.admin.listen {
        Some(addr) => Some(
            TcpListener::bind(addr)
                .await
                .with_context(|| format!("cannot bind the admin listener on {addr}"))?,
        ),
        None => None,
    };

    // 3. The list, before any socket serves.
    let metrics = Arc::new(Metrics::new());
    let store = Arc::new(ListStore::new());
    let initial = {
        let source = source.clone();
        tokio::task::spawn_blocking(move || source.load()).await?
    };
    match initial {
        Ok(list) => {
            log_list("list loaded", &list);
            store.swap(list);
        }
        Err(reason) if config.list.require_list => {
            anyhow::bail!(
                "no verified list could be loaded and list.require_list is true: {reason}"
            );
        }
        Err(reason) => {
            metrics.list_reload_failed();
            error!(%reason, "ALARM: no verified list loaded; answering SERVFAIL (EDE 14) until one is, never unfiltered");
        }
    }
    publish_list(&metrics, &store);

    // 4. Serve.
    let engine = Arc::new(Engine::new(
        engine_settings(&config),
        Arc::clone(&store),
        Arc::clone(&metrics),
    ));
    let shutdown = CancellationToken::new();
    let server = Server::start(
        Arc::clone(&engine),
        listeners,
        TcpLimits {
            idle_timeout: config.dns.tcp_idle_timeout,
            max_connections: config.dns.tcp_max_connections,
        },
        shutdown.clone(),
    );
    let mut background = tokio::task::JoinSet::new();
    if let Some(listener) = admin_listener {
        let state = AdminState {
            metrics: Arc::clone(&metrics),
            probe: Arc::new(Probe {
                engine: Arc::clone(&engine),
            }),
        };
        let token = shutdown.clone();
        background.spawn(async move {
            if let Err(error) =
                admin::serve(listener, state, async move { token.cancelled().await }).await
            {
                error!(%error, "admin listener failed");
            }
        });
    }
    background.spawn(gauges(
        Arc::clone(&engine),
        Arc::clone(&metrics),
        shutdown.clone(),
    ));
    background.spawn(probe_upstreams(Arc::clone(&engine), shutdown.clone()));

    let mut hup = signal(SignalKind::hangup()).context("cannot install the SIGHUP handler")?;
    let mut term = signal(SignalKind::terminate()).context("cannot install the SIGTERM handler")?;
    let mut int = signal(SignalKind::interrupt()).context("cannot install the SIGINT handler")?;
    tokio::pin!(stop);
    loop {
        tokio::select! {
            _ = hup.recv() => {
                // Verification reads the whole file: keep it off the
                // async workers.
                let source = source.clone();
                match tokio::task::spawn_blocking(move || source.load()).await {
                    Ok(loaded) => reload(loaded, &store, &metrics),
                    Err(error) => error!(%error, "SIGHUP reload task failed"),
                }
            }
            _ = term.recv() => { info!("SIGTERM: draining"); break; }
            _ = int.recv() => { info!("SIGINT: draining"); break; }
            () = &mut stop => { info!("stopping"); break; }
        }
    }
    if !server.drain(DRAIN_LIMIT).await {
        warn!(limit = ?DRAIN_LIMIT, "drain limit reached; dropping unanswered queries");
    }
    shutdown.cancel();
    while background.join_next().await.is_some() {}
    info!("stopped");
    Ok(())
}

/// SIGHUP: swap in the freshly verified list; keep the old one on failure.
fn reload(loaded: Result<Verified<ListArtifact>, String>, store: &ListStore, metrics: &Metrics) {
    match loaded {
        Ok(list) => {
            let current = store.load_full();
            if let Some(cur) = &current
                && cur.sha256() == list.sha256()
            {
                info!(serial = list.serial(), "SIGHUP: list unchanged");
                return;
            }
            store.swap(list);
            if let Some(active) = store.load().as_ref() {
                log_list("SIGHUP: list reloaded", active);
            }
            publish_list(metrics, store);
        }
        Err(reason) => {
            metrics.list_reload_failed();
            let serial = store.load().as_ref().map(|a| a.serial());
            error!(%reason, ?serial, "ALARM: SIGHUP reload failed; keeping the current list");
        }
    }
}

fn log_list(msg: &str, list: &ListArtifact) {
    let expired = list.is_expired(jiff::Timestamp::now());
    info!(
        list_id = list.list_id(),
        serial = list.serial(),
        entries = list.manifest().entries,
        expires_at = %list.manifest().expires_at,
        key_id = %list.key_id(),
        "{msg}"
    );
    if expired {
        error!(
            serial = list.serial(),
            "ALARM: the list in force has expired; still enforcing it until a newer one arrives"
        );
    }
}

fn publish_list(metrics: &Metrics, store: &ListStore) {
    let now = jiff::Timestamp::now();
    match store.load().as_ref() {
        Some(active) => metrics.set_list(Some(&active.list), active.activated_at, now),
        None => metrics.set_list(None, now, now),
    }
}

async fn gauges(engine: Arc<Engine>, metrics: Arc<Metrics>, shutdown: CancellationToken) {
    let probe = Probe {
        engine: Arc::clone(&engine),
    };
    loop {
        engine.publish_cache_size();
        publish_list(&metrics, engine.store());
        metrics.set_ready(probe.readiness().ready);
        tokio::select! {
            () = tokio::time::sleep(GAUGE_INTERVAL) => {}
            () = shutdown.cancelled() => break,
        }
    }
}

async fn probe_upstreams(engine: Arc<Engine>, shutdown: CancellationToken) {
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
