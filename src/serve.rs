//! `ward serve`: start-up order, signals, and the background tasks.
//!
//! Start-up, in this order (STYLE §11):
//!
//! 1. the configuration is already loaded and validated (CLI);
//! 2. bind every DNS socket and the admin listener;
//! 3. load and verify the list from disk (with `list.url`: the
//!    last-known-good list in `state_dir`, else the `list.file` seed, else
//!    one poll of the endpoint); with none, follow `list.require_list`
//!    (refuse to start, or serve SERVFAIL/EDE 14 and report not ready:
//!    never unfiltered answers);
//! 4. serve.
//!
//! Signals: SIGHUP polls `list.url` at once (see [`crate::update`]), or
//! re-reads and verifies `list.file` and swaps it in; a failure keeps the
//! current list, logs an error and counts it. SIGTERM
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

use crate::admin::{self, AdminState, ListStatus, Readiness, ReadinessProbe};
use crate::blockpage::BlockPage;
use crate::blockpage::head::HeadLimits;
use crate::config::{BlockAction, Config};
use crate::dns::answer::{BlockAnswer, BlockMode};
use crate::dns::cache::CacheLimits;
use crate::dns::upstream::UpstreamSettings;
use crate::dns::{Engine, Listeners, Server, Settings, TcpLimits};
use crate::keys::DEMO_KEY_ID;
use crate::metrics::Channel;
use crate::metrics::Metrics;
use crate::sni;
use crate::store::ListStore;
use crate::update::ListSource;
use crate::update::source::{log_list, publish_list};
use crate::update::watch::FileWatch;

/// Longest graceful drain on SIGTERM.
pub const DRAIN_LIMIT: Duration = Duration::from_secs(5);
/// How often gauges (cache size, list freshness, readiness) are refreshed.
const GAUGE_INTERVAL: Duration = Duration::from_secs(5);
/// How often idle upstreams are probed for health.
const PROBE_INTERVAL: Duration = Duration::from_secs(10);

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
    source: ListSource,
    watch: Option<Arc<FileWatch>>,
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
        Some(ListStatus::of(
            self.source.describe(),
            self.engine.store(),
            self.source.updater_status(),
        ))
    }
}

/// UDP workers per listen address: as configured, or one per CPU for 0.
fn udp_workers(configured: usize) -> usize {
    if configured > 0 {
        return configured;
    }
    std::thread::available_parallelism().map_or(1, usize::from)
}

/// Runs the daemon until SIGTERM/SIGINT or `stop` resolves.
pub async fn run(
    config: Config,
    stop: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let started_at = jiff::Timestamp::now();
    let metrics = Arc::new(Metrics::new());
    let store = Arc::new(ListStore::new());

    // 2. Bind everything first, so a port clash fails start-up cleanly.
    let listeners = Listeners::bind(&config.dns.listen, udp_workers(config.dns.udp_workers))
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
    let web = WebListeners::bind(&config)?;

    // 2b. Every socket is bound: root is no longer needed.
    match (&config.process.user, crate::process::is_root()) {
        (Some(user), _) => crate::process::drop_privileges(user, config.process.group.as_deref())
            .map_err(|e| anyhow::anyhow!("cannot drop privileges: {e}"))?,
        (None, true) => warn!(
            "running as root; set [process] user (or run under the packaged systemd unit) so a compromise does not get root"
        ),
        (None, false) => {}
    }
    web.check_privileges(&config)?;

    // After the drop, so state_dir is created by (and belongs to) the
    // user ward runs as.
    let source = ListSource::of(&config.list, &store, &metrics)?;
    if source.trusts_demo_key() {
        warn!(
            key_id = DEMO_KEY_ID,
            "the DEMO key is trusted: anyone can sign lists for this node; never use it in production"
        );
    }

    // 3. The list, before any socket serves.
    let initial = {
        let source = source.clone();
        tokio::task::spawn_blocking(move || source.load()).await?
    };
    let missing = match (initial, &source) {
        (Ok(list), _) => {
            log_list("list loaded", &list, None);
            store.swap(list);
            None
        }
        (Err(reason), ListSource::Url(updater)) => {
            // Nothing on disk: one poll of the network, still before
            // serving; a success puts the list in force itself.
            info!(%reason, "fetching the list before serving");
            let outcome = updater.poll().await;
            store.load().is_none().then(|| {
                format!(
                    "{reason}; and the endpoint: {}",
                    outcome.error.as_deref().unwrap_or(outcome.result.as_str())
                )
            })
        }
        (Err(reason), _) => Some(reason),
    };
    if let Some(reason) = missing {
        if config.list.require_list {
            anyhow::bail!(
                "no verified list could be loaded and list.require_list is true: {reason}"
            );
        }
        metrics.list_reload_failed();
        error!(%reason, "ALARM: no verified list loaded; answering SERVFAIL (EDE 14) until one is, never unfiltered");
    }
    publish_list(&metrics, &store);

    // 3b. Compliance reports: the spool is opened (and what it holds is
    // resent) before the first answer, so a bad spool fails start-up.
    let reporter = match &config.report {
        Some(settings) => {
            let digest = crate::report::policy_digest(&config, &source.trusted_ids());
            let reporter = crate::report::Reporter::new(
                settings,
                digest,
                Arc::clone(&store),
                Arc::clone(&metrics),
                started_at,
            )
            .context("cannot start the compliance reporter")?;
            Some(Arc::new(reporter))
        }
        None => None,
    };

    // 4. Serve.
    let engine = Arc::new(Engine::new(
        engine_settings(&config),
        Arc::clone(&store),
        Arc::clone(&metrics),
    ));
    let shutdown = CancellationToken::new();
    let dns_addrs = listeners.local_addrs();
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
    let watch = source.watched_file().map(|path| {
        let hint = match &source {
            ListSource::Url(_) => {
                "only ward writes this file: a restart would refuse a bad copy and fall back"
            }
            _ => "send SIGHUP once the new file is complete to load it",
        };
        Arc::new(FileWatch::new(
            path,
            hint,
            Arc::clone(&store),
            Arc::clone(&metrics),
        ))
    });
    if let Some(watch) = &watch {
        background.spawn(Arc::clone(watch).run(shutdown.clone()));
    }
    if let Some(listener) = admin_listener {
        let state = AdminState {
            metrics: Arc::clone(&metrics),
            probe: Arc::new(Probe {
                engine: Arc::clone(&engine),
                source: source.clone(),
                watch: watch.clone(),
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
        Probe {
            engine: Arc::clone(&engine),
            source: source.clone(),
            watch: watch.clone(),
        },
        Arc::clone(&metrics),
        shutdown.clone(),
    ));
    background.spawn(probe_upstreams(Arc::clone(&engine), shutdown.clone()));
    web.spawn(&config, &store, &metrics, &shutdown, &mut background)?;
    if let Some(updater) = source.updater() {
        background.spawn(Arc::clone(updater).run(shutdown.clone()));
    }
    if let Some(reporter) = reporter {
        background.spawn(reporter.run(shutdown.clone()));
    }
    let notifier = crate::process::Notifier::from_env().map(Arc::new);
    if let Some(notifier) = &notifier {
        background.spawn(notify_ready(
            Arc::clone(notifier),
            Arc::clone(&store),
            shutdown.clone(),
        ));
        if let (Some(interval), Some(&addr)) =
            (crate::process::watchdog_interval(), dns_addrs.first())
        {
            background.spawn(feed_watchdog(
                Arc::clone(notifier),
                crate::process::self_query_target(addr),
                interval,
                shutdown.clone(),
            ));
        }
    }

    let mut hup = signal(SignalKind::hangup()).context("cannot install the SIGHUP handler")?;
    let mut term = signal(SignalKind::terminate()).context("cannot install the SIGTERM handler")?;
    let mut int = signal(SignalKind::interrupt()).context("cannot install the SIGINT handler")?;
    tokio::pin!(stop);
    loop {
        tokio::select! {
            _ = hup.recv() => source.reload(&metrics).await,
            _ = term.recv() => { info!("SIGTERM: draining"); break; }
            _ = int.recv() => { info!("SIGINT: draining"); break; }
            () = &mut stop => { info!("stopping"); break; }
        }
    }
    if let Some(notifier) = &notifier {
        notifier.notify("STOPPING=1");
    }
    if !server.drain(DRAIN_LIMIT).await {
        warn!(limit = ?DRAIN_LIMIT, "drain limit reached; dropping unanswered queries");
    }
    shutdown.cancel();
    while background.join_next().await.is_some() {}
    info!("stopped");
    Ok(())
}

/// The bound sockets of `[sni]`, `[http]` and `[blockpage]`.
struct WebListeners {
    sni: Vec<TcpListener>,
    http: Vec<TcpListener>,
    page: Vec<TcpListener>,
}

impl WebListeners {
    fn bind(config: &Config) -> anyhow::Result<Self> {
        let sni = match &config.sni {
            Some(s) => sni::bind(s).context("[sni]")?,
            None => Vec::new(),
        };
        let http = match &config.http {
            Some(s) => sni::bind(s).context("[http]")?,
            None => Vec::new(),
        };
        let mut page = Vec::new();
        if let Some(p) = &config.blockpage {
            for addr in &p.listen {
                let std = std::net::TcpListener::bind(addr)
                    .and_then(|l| l.set_nonblocking(true).map(|()| l))
                    .with_context(|| format!("[blockpage]: cannot listen on {addr}"))?;
                page.push(TcpListener::from_std(std)?);
            }
        }
        Ok(Self { sni, http, page })
    }

    /// After the privilege drop: can the filters still mark their
    /// outbound sockets?
    fn check_privileges(&self, config: &Config) -> anyhow::Result<()> {
        for (listeners, settings) in [(&self.sni, &config.sni), (&self.http, &config.http)] {
            if let (false, Some(s)) = (listeners.is_empty(), settings) {
                sni::check_privileges(s)?;
            }
        }
        Ok(())
    }

    /// Starts every web listener. Called after the list is loaded.
    fn spawn(
        self,
        config: &Config,
        store: &Arc<ListStore>,
        metrics: &Arc<Metrics>,
        shutdown: &CancellationToken,
        tasks: &mut tokio::task::JoinSet<()>,
    ) -> anyhow::Result<()> {
        let page = match &config.blockpage {
            Some(p) => Some(Arc::new(
                BlockPage::new(&p.page_settings())
                    .map_err(|e| anyhow::anyhow!("[blockpage]: {e}"))?,
            )),
            None if config.http.is_some() => Some(Arc::new(BlockPage::embedded_default())),
            None => None,
        };
        for (listeners, settings, channel, kind) in [
            (self.sni, &config.sni, Channel::Sni, "TLS (SNI)"),
            (self.http, &config.http, Channel::Http, "HTTP (Host)"),
        ] {
            let Some(settings) = settings else { continue };
            let filter = Arc::new(sni::Filter {
                channel,
                settings: settings.clone(),
                store: Arc::clone(store),
                metrics: Arc::clone(metrics),
                page: page.clone(),
                query_log: config.log.query_log,
            });
            for listener in listeners {
                info!(
                    mode = settings.mode.as_str(),
                    "{kind} filter listening on {}",
                    listener.local_addr()?
                );
                tasks.spawn(sni::serve(listener, Arc::clone(&filter), shutdown.clone()));
            }
        }
        if let (Some(p), Some(page)) = (&config.blockpage, &page) {
            for listener in self.page {
                info!("block page listening on {}", listener.local_addr()?);
                tasks.spawn(crate::blockpage::serve(
                    listener,
                    Arc::clone(page),
                    Arc::clone(store),
                    Arc::clone(metrics),
                    HeadLimits {
                        max_bytes: p.max_head,
                        timeout: p.read_timeout,
                    },
                    shutdown.clone(),
                ));
            }
        }
        Ok(())
    }
}

async fn gauges(probe: Probe, metrics: Arc<Metrics>, shutdown: CancellationToken) {
    let engine = Arc::clone(&probe.engine);
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

/// `READY=1` once a verified list is in force (at once, normally; later
/// if ward started without one and the updater fetches it).
async fn notify_ready(
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
async fn feed_watchdog(
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
