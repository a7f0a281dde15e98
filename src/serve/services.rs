//! Step 4 of start-up: the engine, the DNS server and every background
//! task, started once a list is in force; and the drain at the end.

use std::sync::Arc;

use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;
use tracing::{error, info, warn};

use super::tasks::{self, Probe};
use super::{DRAIN_LIMIT, Node, ServeError, Sockets};
use crate::admin::{self, AdminState};
use crate::config::Config;
use crate::dns::limit::Limiter;
use crate::dns::{Engine, Listeners, Server, TcpLimits};
use crate::process::Notifier;
use crate::report::Reporter;
use crate::rpz::Feed;
use crate::update::ListSource;
use crate::update::profiles::ProfileKeeper;
use crate::update::watch::FileWatch;

/// What runs while ward serves.
pub(super) struct Services {
    server: Server,
    background: JoinSet<()>,
    notifier: Option<Arc<Notifier>>,
    /// Its extra lists' updaters are drained with the background tasks.
    profiles: Option<Arc<ProfileKeeper>>,
}

impl Services {
    pub(super) fn start(
        config: &Config,
        sockets: Sockets,
        source: &ListSource,
        reporter: Option<Arc<Reporter>>,
        node: &Node,
        shutdown: &CancellationToken,
    ) -> Result<Self, ServeError> {
        let mut engine = Engine::new(
            tasks::engine_settings(config),
            Arc::clone(&node.store),
            Arc::clone(node.metrics.dns()),
        );
        if let Some(keeper) = &node.profiles {
            engine = engine.with_profiles(Arc::clone(keeper.store()));
        }
        let discovery = config.discovery();
        if discovery.is_none() && (config.dot.is_some() || config.doh.is_some()) {
            info!(
                "_dns.resolver.arpa answers NODATA: no certificate of [dot]/[doh] covers a specific [dns] listen address (see docs/encrypted-dns.md, Discovery)"
            );
        }
        let engine = engine.with_discovery(discovery);
        let engine = Arc::new(engine);
        let dns_addrs = sockets.dns.local_addrs();
        let server = start_dns(config, sockets.dns, &engine, node, shutdown);
        let mut background = JoinSet::new();
        let watch = watch_list_file(source, node);
        if let Some(watch) = &watch {
            background.spawn(Arc::clone(watch).run(shutdown.clone()));
        }
        let probe = || Probe {
            engine: Arc::clone(&engine),
            source: source.clone(),
            watch: watch.clone(),
            profiles: node.profiles.clone(),
        };
        if let Some(listener) = sockets.admin {
            let state = AdminState {
                metrics: Arc::clone(&node.metrics),
                probe: Arc::new(probe()),
            };
            background.spawn(serve_admin(listener, state, shutdown.clone()));
        }
        background.spawn(tasks::trim_memory(shutdown.clone()));
        background.spawn(tasks::gauges(
            probe(),
            Arc::clone(&node.metrics),
            shutdown.clone(),
        ));
        background.spawn(tasks::probe_upstreams(
            Arc::clone(&engine),
            shutdown.clone(),
        ));
        sockets.web.spawn(
            config,
            &node.store,
            node.profiles.as_ref().map(|keeper| keeper.store()),
            &node.metrics,
            shutdown,
            &mut background,
        )?;
        if let (Some(settings), Some(mut feed_sockets)) = (&config.rpz, sockets.rpz) {
            let https = feed_sockets.take_https();
            let feed = Arc::new(Feed::new(
                settings,
                &config.block,
                Arc::clone(&node.store),
                Arc::clone(node.metrics.rpz()),
            ));
            feed.spawn(feed_sockets, shutdown, &mut background);
            crate::rpz::https::spawn(&feed, https, shutdown, &mut background);
        }
        if let (Some(settings), Some(keeper)) = (&config.doh, &node.tls.doh) {
            super::doh::spawn(
                settings,
                keeper.certs(),
                sockets.doh,
                &engine,
                node.metrics.doh(),
                shutdown,
                &mut background,
            )?;
        }
        node.tls.start_dot(
            config,
            sockets.dot,
            &engine,
            &node.metrics,
            shutdown,
            &mut background,
        )?;
        node.tls.watch(shutdown, &mut background);
        if let Some(updater) = source.updater() {
            background.spawn(Arc::clone(updater).run(shutdown.clone()));
        }
        if let Some(keeper) = &node.profiles {
            keeper.start(shutdown);
        }
        if let Some(reporter) = reporter {
            background.spawn(reporter.run(shutdown.clone()));
        }
        let notifier = Notifier::from_env().map(Arc::new);
        if let Some(notifier) = &notifier {
            let self_query = dns_addrs.first().copied();
            spawn_systemd_tasks(notifier, node, self_query, &mut background, shutdown);
        }
        Ok(Self {
            server,
            background,
            notifier,
            profiles: node.profiles.clone(),
        })
    }

    /// Tells systemd, stops receiving, answers what is in flight (at most
    /// [`DRAIN_LIMIT`]), then stops every background task.
    pub(super) async fn drain(mut self, shutdown: CancellationToken) {
        if let Some(notifier) = &self.notifier {
            notifier.notify("STOPPING=1");
        }
        if !self.server.drain(DRAIN_LIMIT).await {
            warn!(limit = ?DRAIN_LIMIT, "drain limit reached; dropping unanswered queries");
        }
        shutdown.cancel();
        while self.background.join_next().await.is_some() {}
        if let Some(keeper) = &self.profiles {
            keeper.wait().await;
        }
    }
}

/// The DNS server on the bound listeners, with the configured TCP and
/// rate limits.
fn start_dns(
    config: &Config,
    listeners: Listeners,
    engine: &Arc<Engine>,
    node: &Node,
    shutdown: &CancellationToken,
) -> Server {
    Server::start(
        Arc::clone(engine),
        listeners,
        TcpLimits {
            idle_timeout: config.dns.tcp_idle_timeout,
            max_connections: config.dns.tcp_max_connections,
        },
        Limiter::new(&config.limits, Arc::clone(node.metrics.dns())).map(Arc::new),
        shutdown.clone(),
    )
}

/// The admin listener (metrics, health) until `shutdown`.
async fn serve_admin(
    listener: tokio::net::TcpListener,
    state: AdminState,
    shutdown: CancellationToken,
) {
    if let Err(error) =
        admin::serve(listener, state, async move { shutdown.cancelled().await }).await
    {
        error!(%error, "admin listener failed");
    }
}

/// Tells systemd READY once a list is in force and, if it asks for a
/// watchdog, feeds it while a query to `self_query` is answered.
fn spawn_systemd_tasks(
    notifier: &Arc<Notifier>,
    node: &Node,
    self_query: Option<std::net::SocketAddr>,
    background: &mut JoinSet<()>,
    shutdown: &CancellationToken,
) {
    background.spawn(tasks::notify_ready(
        Arc::clone(notifier),
        Arc::clone(&node.store),
        shutdown.clone(),
    ));
    if let (Some(interval), Some(addr)) = (crate::process::watchdog_interval(), self_query) {
        background.spawn(tasks::feed_watchdog(
            Arc::clone(notifier),
            crate::process::self_query_target(addr),
            interval,
            shutdown.clone(),
        ));
    }
}

/// The watch on the file that should hold the list in force, if any.
fn watch_list_file(source: &ListSource, node: &Node) -> Option<Arc<FileWatch>> {
    let path = source.watched_file()?;
    let hint = match source {
        ListSource::Url(_) => {
            "only ward writes this file: a restart would refuse a bad copy and fall back"
        }
        _ => "send SIGHUP once the new file is complete to load it",
    };
    Some(Arc::new(FileWatch::new(
        path,
        hint,
        Arc::clone(&node.store),
        Arc::clone(node.metrics.list()),
    )))
}
