//! `ward collector`: the ministry's side of compliance reporting. It
//! receives the signed reports of `ward serve` nodes, verifies them against
//! the registry of node keys, and stores them.
//!
//! * [`ingest`] (pure): header and body to an accepted report or a
//!   rejection with its reason and status.
//! * [`store`]: the [`store::Storage`] trait and its contract;
//!   [`sqlite`] is the embedded default, [`postgres`] the national-scale
//!   one (two connections, versioned migrations under an advisory lock,
//!   TLS by rustls).
//! * [`writer`]: group commit: one thread batches concurrent reports into
//!   one transaction.
//! * [`server`]: the HTTP(S) listener and routes.
//! * [`probes`]: probe results (`ward probe --report-to`): verification
//!   (pure), `POST /v1/probes`, `GET /api/probes`, and the cells of a
//!   probe row for the dashboard.
//! * [`state`] (pure): a node's state (current, behind, stale, silent).
//! * [`published`]: follows the list the ministry publishes (`[published]`)
//!   for the latest serial.
//! * [`lag`] (pure): activation lag per serial (p50, p95, max).
//! * [`dashboard`] (pure): the server-rendered pages (overview, node, lag,
//!   export form, annual report), their SVG charts and the CSV.
//! * [`params`] (pure): query parameters (ranges, year) or a 400's reason.
//! * [`views`]: what the pages read from the storage; long ranges node
//!   by node in chunks of time.
//! * [`auth`]: HTTP basic auth against `[[user]]` (Argon2 hashes), with a
//!   short cache of successful logins.
//! * [`metrics`]: the collector's own Prometheus metrics.
//!
//! Limits and what is not built: the end of `docs/collector.md`.

use std::future::Future;
use std::sync::Arc;

use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::config::collector::{CollectorConfig, StorageSettings};

pub mod auth;
#[cfg(test)]
mod conformance;
pub mod dashboard;
pub mod ingest;
pub mod lag;
pub mod metrics;
pub mod params;
pub mod postgres;
pub mod probes;
pub mod published;
pub mod server;
pub mod signed;
pub mod sqlite;
pub mod state;
pub mod store;
pub mod views;
pub mod writer;

/// Why the collector could not run.
#[derive(Debug, thiserror::Error)]
pub enum CollectorError {
    #[error(transparent)]
    Storage(#[from] store::StorageError),
    #[error("cannot listen on {addr}: {error}")]
    Bind {
        addr: std::net::SocketAddr,
        error: std::io::Error,
    },
    /// Shown, not a `source`: the text is already in this message.
    #[error("[published]: {0}")]
    Published(published::PublishedError),
    #[error("serving: {0}")]
    Serve(std::io::Error),
}

/// Opens the storage, binds the listener and serves until `shutdown`
/// resolves. The startup order: storage (migrations) first, so a broken
/// database fails before anything listens.
pub async fn run(
    config: CollectorConfig,
    shutdown: impl Future<Output = ()> + Send,
) -> Result<(), CollectorError> {
    let store = open_storage(&config.storage).await?;
    // Built from the files when the config was loaded.
    let tls = config.tls.as_ref().map(|t| Arc::clone(&t.server));
    let listener =
        TcpListener::bind(config.listen)
            .await
            .map_err(|error| CollectorError::Bind {
                addr: config.listen,
                error,
            })?;
    if config.users.is_empty() {
        tracing::info!("no [[user]] configured: the API refuses every login");
    }
    tracing::info!(
        nodes = config.registry.nodes().len(),
        probers = config.registry.probers().len(),
        "registry loaded"
    );
    let metrics = Arc::new(metrics::CollectorMetrics::new());
    let published = published_tracker(config.published.as_ref())?;
    // systemd (Type=notify): ready once the storage is open and the
    // listener bound; the watchdog is fed only while the storage answers.
    let notifier = crate::process::Notifier::from_env().map(Arc::new);
    let stopping = CancellationToken::new();
    if let Some(n) = &notifier {
        notify_ready(n, config.registry.nodes().len(), &store, &stopping);
    }
    if let Some(tracker) = &published {
        follow_published(tracker, &metrics, &stopping);
    }
    let shutdown = async move {
        shutdown.await;
        if let Some(n) = &notifier {
            n.notify("STOPPING=1");
        }
        stopping.cancel();
    };
    let writer = writer::Writer::start(Arc::clone(&store)).map_err(CollectorError::Serve)?;
    let registry_file = config.registry_file.clone();
    let app = Arc::new(server::App {
        registry: arc_swap::ArcSwap::from_pointee(config.registry),
        store,
        writer,
        metrics,
        max_body: usize::try_from(config.max_body).unwrap_or(usize::MAX),
        users: config.users,
        report_interval: config.report_interval,
        logins: auth::LoginCache::default(),
        confidential: dashboard::CONFIDENTIAL_CATEGORIES
            .iter()
            .map(|c| (*c).to_owned())
            .collect(),
        published,
    });
    tokio::spawn(reload_on_hangup(Arc::clone(&app), registry_file));
    server::serve(listener, tls, app, shutdown)
        .await
        .map_err(CollectorError::Serve)
}

/// Opens (and migrates) the configured storage off the async workers.
async fn open_storage(
    settings: &StorageSettings,
) -> Result<Arc<dyn store::Storage>, CollectorError> {
    let joined = |e| CollectorError::Serve(std::io::Error::other(e));
    Ok(match settings {
        StorageSettings::Sqlite(path) => {
            let path = path.clone();
            let store = tokio::task::spawn_blocking(move || sqlite::SqliteStore::open(&path))
                .await
                .map_err(joined)??;
            Arc::new(store)
        }
        StorageSettings::Postgres(pg) => {
            let target = pg.target.clone();
            let store =
                tokio::task::spawn_blocking(move || postgres::PostgresStore::open_target(target))
                    .await
                    .map_err(joined)??;
            Arc::new(store)
        }
    })
}

/// The tracker of the published list, if `[published]` is configured.
fn published_tracker(
    settings: Option<&crate::config::collector::PublishedSettings>,
) -> Result<Option<Arc<published::Tracker>>, CollectorError> {
    let Some(settings) = settings else {
        return Ok(None);
    };
    // Downloads go to the unit's StateDirectory (a disk, with room for a
    // list), else the temporary directory.
    let downloads = std::env::var_os("STATE_DIRECTORY")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(std::env::temp_dir);
    let tracker =
        published::Tracker::new(settings, &downloads).map_err(CollectorError::Published)?;
    Ok(Some(Arc::new(tracker)))
}

/// Tells systemd the collector is ready, and feeds its watchdog if it
/// asks for one.
fn notify_ready(
    notifier: &Arc<crate::process::Notifier>,
    nodes: usize,
    store: &Arc<dyn store::Storage>,
    stopping: &CancellationToken,
) {
    notifier.notify(&format!(
        "READY=1\nSTATUS=receiving reports for {nodes} nodes"
    ));
    if let Some(interval) = crate::process::watchdog_interval() {
        tokio::spawn(feed_watchdog(
            Arc::clone(notifier),
            Arc::clone(store),
            interval,
            stopping.clone(),
        ));
    }
}

/// Follows the published list until `stopping`, counting each check and
/// exporting the newest serial.
fn follow_published(
    tracker: &Arc<published::Tracker>,
    metrics: &Arc<metrics::CollectorMetrics>,
    stopping: &CancellationToken,
) {
    let counted = Arc::clone(metrics);
    let on_check = move |result, new: Option<&published::Published>| {
        counted.count_published(result);
        if let Some(p) = new {
            counted.set_published_serial(p.serial);
        }
    };
    tokio::spawn(Arc::clone(tracker).run(on_check, stopping.clone()));
}

/// `WATCHDOG=1` every `interval`, but only after the storage answered a
/// read within it: a wedged database stops the pings and systemd restarts
/// the collector. (The listener itself is not probed yet.)
async fn feed_watchdog(
    notifier: Arc<crate::process::Notifier>,
    store: Arc<dyn store::Storage>,
    interval: std::time::Duration,
    stopping: CancellationToken,
) {
    loop {
        let check = Arc::clone(&store);
        let read = tokio::task::spawn_blocking(move || check.report_count());
        match tokio::time::timeout(interval, read).await {
            Ok(Ok(Ok(_))) => notifier.notify("WATCHDOG=1"),
            _ => tracing::warn!(
                "watchdog: the storage did not answer; not feeding the systemd watchdog"
            ),
        }
        tokio::select! {
            () = tokio::time::sleep(interval) => {}
            () = stopping.cancelled() => return,
        }
    }
}

/// SIGHUP (the unit's `ExecReload`): reads the registry file again and
/// swaps it in whole; a registry with errors is refused and the previous
/// one kept. The rest of the config is read only at start.
async fn reload_on_hangup(app: Arc<server::App>, path: std::path::PathBuf) {
    use tokio::signal::unix::{SignalKind, signal};
    let Ok(mut hangups) = signal(SignalKind::hangup()) else {
        tracing::warn!("cannot handle SIGHUP: the registry is reloaded only by a restart");
        return;
    };
    while hangups.recv().await.is_some() {
        let file = path.clone();
        match tokio::task::spawn_blocking(move || crate::config::registry::Registry::load(&file))
            .await
        {
            Ok(Ok(registry)) => {
                tracing::info!(nodes = registry.nodes().len(), "SIGHUP: registry reloaded");
                app.registry.store(Arc::new(registry));
            }
            Ok(Err(errors)) => tracing::error!(
                "SIGHUP: registry {} has errors; keeping the previous one:\n{errors}",
                path.display()
            ),
            Err(error) => {
                tracing::error!(%error, "SIGHUP: registry reload failed; keeping the previous one")
            }
        }
    }
}
