//! `ward serve`: start-up order, signals, and the background tasks.
//!
//! Start-up, in this order (STYLE §11):
//!
//! 1. the configuration is already loaded and validated (CLI);
//! 2. bind every DNS socket, the admin listener, the web listeners,
//!    the `[rpz]` feed and the `[doh]` listeners;
//! 3. load and verify the list from disk (with `list.url`: the
//!    last-known-good list in `state_dir`, else the `list.file` seed, else
//!    one poll of the endpoint); with none, follow `list.require_list`
//!    (refuse to start, or serve SERVFAIL/EDE 14 and report not ready:
//!    never unfiltered answers); then every extra list (`[[lists]]`;
//!    one with `url` and nothing on disk is polled once) and the
//!    `[[profile]]`s over them (a list that fails is logged and its
//!    profiles answer SERVFAIL/EDE 14 for what it would decide);
//! 4. serve.
//!
//! Signals: SIGHUP polls `list.url` at once, or offers `list.file` to the
//! acceptance rule (see [`crate::update`]); a refusal keeps the current
//! list, logs an alarm and counts it. Then it re-reads the config file
//! and puts its `[[lists]]` and `[[profile]]`s in force (`reload`); an
//! invalid config changes nothing. SIGTERM and SIGINT stop receiving and
//! drain in-flight answers for at most [`DRAIN_LIMIT`].
//!
//! [`run`] reads as that order; each step is a function below, the
//! services it starts are in `services`, the web listeners in `web`, the
//! SIGHUP re-read in `reload`, and the background tasks in `tasks`.

use std::future::Future;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::signal::unix::{SignalKind, signal};
use tokio_util::sync::CancellationToken;
use tracing::{error, info, warn};

use self::reload::Reloader;
use self::services::Services;
use self::web::WebListeners;
use crate::config::Config;
use crate::dns::Listeners;
use crate::keys::DEMO_KEY_ID;
use crate::metrics::Metrics;
use crate::report::Reporter;
use crate::rpz::FeedSockets;
use crate::store::ListStore;
use crate::update::profiles::ProfileKeeper;
use crate::update::source::{log_list, publish_list};
use crate::update::{ListSource, SourceError};

mod doh;
mod encrypted;
mod reload;
mod services;
mod tasks;
mod web;

pub use self::tasks::engine_settings;

/// Longest graceful drain on SIGTERM.
pub const DRAIN_LIMIT: Duration = Duration::from_secs(5);

/// Why `ward serve` could not start (or stopped early).
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    #[error("cannot bind the DNS listeners")]
    BindDns(#[source] std::io::Error),
    #[error("cannot bind the [dot] listeners")]
    BindDot(#[source] std::io::Error),
    #[error("cannot set up TLS")]
    Tls(#[source] crate::readers::ReadError),
    #[error("cannot bind the admin listener on {addr}")]
    BindAdmin {
        addr: std::net::SocketAddr,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot bind the RPZ feed on {addr}")]
    BindRpz {
        addr: std::net::SocketAddr,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot bind the DoH listener on {addr}")]
    BindDoh {
        addr: std::net::SocketAddr,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot set up TLS for DoH")]
    DohTls(#[source] crate::readers::ReadError),
    #[error("{section}")]
    Web {
        section: &'static str,
        #[source]
        source: crate::sni::SetupError,
    },
    #[error(transparent)]
    WebPrivileges(crate::sni::SetupError),
    #[error("cannot read a bound socket's address")]
    LocalAddr(#[source] std::io::Error),
    /// Shown, not a `source`: the text is already in this message.
    #[error("cannot drop privileges: {0}")]
    Privileges(crate::process::ProcessError),
    #[error(transparent)]
    ListSource(#[from] SourceError),
    #[error("no verified list could be loaded and list.require_list is true: {0}")]
    NoList(String),
    /// A validated config cannot have these; reported all the same.
    #[error("[[profile]]: {0}")]
    Profiles(String),
    #[error("the list load task failed")]
    LoadTask(#[source] tokio::task::JoinError),
    #[error("cannot start the compliance reporter")]
    Reporter(#[source] crate::report::ReportError),
    #[error("cannot install the {0} handler")]
    Signal(&'static str, #[source] std::io::Error),
}

/// What every part of the node shares.
#[derive(Debug, Clone)]
struct Node {
    started_at: jiff::Timestamp,
    metrics: Arc<Metrics>,
    store: Arc<ListStore>,
    /// The extra lists and school profiles (none without `[[profile]]`;
    /// a SIGHUP may add them).
    profiles: Option<Arc<ProfileKeeper>>,
    /// The `[dot]`/`[doh]` certificates in force.
    tls: encrypted::Encrypted,
}

/// Runs the daemon until SIGTERM/SIGINT or `stop` resolves. `path` is the
/// file `config` was read from, read again on SIGHUP (`None`: the
/// embedded defaults).
pub async fn run(
    config: Config,
    path: Option<PathBuf>,
    stop: impl Future<Output = ()> + Send + 'static,
) -> Result<(), ServeError> {
    // Large buffers in their own mappings, so bursts leave no holes in
    // the heap (see `sys::tune_allocator`).
    crate::sys::tune_allocator();
    let metrics = Arc::new(Metrics::new());
    let mut node = Node {
        started_at: jiff::Timestamp::now(),
        tls: encrypted::Encrypted::new(&config, &metrics),
        metrics,
        store: Arc::new(ListStore::new()),
        profiles: None,
    };
    // 2. Bind everything first, so a port clash fails start-up cleanly.
    let sockets = Sockets::bind(&config).await?;
    // 2b. Every socket is bound: root is no longer needed.
    sockets.drop_privileges(&config)?;
    // After the drop, so state_dir is created by (and belongs to) the
    // user ward runs as.
    let source = open_source(&config, &node)?;
    // 3. The list, before any socket serves.
    load_first_list(&config, &source, &node).await?;
    // 3. The extra lists and the profiles over them, also before serving.
    let keeper = load_profiles(&config, &node).await?;
    node.profiles = Some(Arc::clone(&keeper));
    // 3b. The spool is opened (and what it holds is resent) before the
    // first answer, so a bad spool fails start-up.
    let reporter = start_reporter(&config, &source, &node)?;
    // 4. Serve, until a signal says stop.
    let shutdown = CancellationToken::new();
    let services = Services::start(&config, sockets, &source, reporter, &node, &shutdown)?;
    let reloader = Reloader {
        path,
        keeper,
        metrics: Arc::clone(&node.metrics),
        certs: node.tls.clone(),
        started: config,
    };
    wait_for_stop(&source, &reloader, stop).await?;
    services.drain(shutdown).await;
    info!("stopped");
    Ok(())
}

/// Every listening socket, bound before the privilege drop.
struct Sockets {
    dns: Listeners,
    admin: Option<TcpListener>,
    web: WebListeners,
    /// `[rpz]`: the feed's TCP and UDP sockets.
    rpz: Option<FeedSockets>,
    /// `[doh]`: one TCP listener per address.
    doh: Vec<TcpListener>,
    /// `[dot] listen`.
    dot: Vec<TcpListener>,
}

impl Sockets {
    async fn bind(config: &Config) -> Result<Self, ServeError> {
        check_open_files(config);
        let workers = tasks::udp_workers(config.dns.udp_workers);
        let dns = Listeners::bind(&config.dns.listen, workers)
            .await
            .map_err(ServeError::BindDns)?;
        let admin = match config.admin.listen {
            Some(addr) => Some(
                TcpListener::bind(addr)
                    .await
                    .map_err(|source| ServeError::BindAdmin { addr, source })?,
            ),
            None => None,
        };
        let web = WebListeners::bind(config)?;
        let rpz = match &config.rpz {
            Some(settings) => Some(
                FeedSockets::bind(settings)
                    .await
                    .map_err(|(addr, source)| ServeError::BindRpz { addr, source })?,
            ),
            None => None,
        };
        let doh = match &config.doh {
            Some(settings) => doh::bind(settings).await?,
            None => Vec::new(),
        };
        let dot = match &config.dot {
            Some(settings) => {
                crate::dns::dot::bind(&settings.listen).map_err(ServeError::BindDot)?
            }
            None => Vec::new(),
        };
        Ok(Self {
            dns,
            admin,
            web,
            rpz,
            doh,
            dot,
        })
    }

    /// Switches to `[process] user` (or warns about running as root), then
    /// checks the web filters can still mark their outbound sockets.
    fn drop_privileges(&self, config: &Config) -> Result<(), ServeError> {
        match (&config.process.user, crate::process::is_root()) {
            (Some(user), _) => {
                crate::process::drop_privileges(user, config.process.group.as_deref())
                    .map_err(ServeError::Privileges)?;
            }
            (None, true) => warn!(
                "running as root; set [process] user (or run under the packaged systemd unit) so a compromise does not get root"
            ),
            (None, false) => {}
        }
        self.web.check_privileges(config)
    }
}

/// Raises the open-files limit and warns when the listeners' connection
/// caps could use it up: a process out of file descriptors cannot open
/// the sockets it forwards DNS queries on.
fn check_open_files(config: &Config) {
    let limit = crate::process::raise_open_files();
    let web = |s: &Option<crate::config::InterceptSettings>| {
        s.as_ref()
            .map_or(0, |s| s.max_connections.saturating_mul(s.listen.len() * 2))
    };
    // Each relayed web connection holds two sockets; DNS TCP one; plus
    // the admin cap and room for forwards, lists and logs.
    let needed = (config.dns.tcp_max_connections * config.dns.listen.len())
        .saturating_add(web(&config.sni))
        .saturating_add(web(&config.http))
        .saturating_add(config.dot.as_ref().map_or(0, |s| s.max_connections))
        .saturating_add(crate::admin::MAX_CONNECTIONS)
        .saturating_add(1024) as u64;
    if limit > 0 && limit < needed {
        warn!(
            limit,
            needed,
            "the open-files limit (RLIMIT_NOFILE) is below what the connection caps allow; raise LimitNOFILE= or lower the caps, or a flood of connections can starve DNS forwarding"
        );
    }
}

/// The list source of `[list]`, with a warning when the demo key is
/// trusted.
fn open_source(config: &Config, node: &Node) -> Result<ListSource, ServeError> {
    let source = ListSource::of(&config.list, &node.store, node.metrics.list())?;
    if source.trusts_demo_key() {
        warn!(
            key_id = DEMO_KEY_ID,
            "the DEMO key is trusted: anyone can sign lists for this node; never use it in production"
        );
    }
    Ok(source)
}

/// Puts the first list in force: from disk, else (with `list.url`) one
/// poll of the endpoint. With none, `list.require_list` decides: refuse
/// to start, or answer SERVFAIL/EDE 14 (never unfiltered) until one is.
async fn load_first_list(
    config: &Config,
    source: &ListSource,
    node: &Node,
) -> Result<(), ServeError> {
    let initial = {
        let source = source.clone();
        tokio::task::spawn_blocking(move || source.load())
            .await
            .map_err(ServeError::LoadTask)?
    };
    let missing = match (initial, source.updater()) {
        (Ok(list), _) => {
            log_list("list loaded", &list, None);
            node.store.swap(list);
            None
        }
        (Err(reason), Some(updater)) => {
            // Nothing on disk: one poll of the network, still before
            // serving; a success puts the list in force itself.
            info!(%reason, "fetching the list before serving");
            let outcome = updater.poll().await;
            node.store.load().is_none().then(|| {
                format!(
                    "{reason}; and the endpoint: {}",
                    outcome.error.as_deref().unwrap_or(outcome.result.as_str())
                )
            })
        }
        (Err(reason), None) => Some(reason.to_string()),
    };
    if let Some(reason) = missing {
        if config.list.require_list {
            return Err(ServeError::NoList(reason));
        }
        node.metrics.list().list_reload_failed();
        error!(%reason, "ALARM: no verified list loaded; answering SERVFAIL (EDE 14) until one is, never unfiltered");
    }
    publish_list(node.metrics.list(), &node.store);
    Ok(())
}

/// Loads every `[[lists]]` entry and builds the `[[profile]]`s over them.
/// Without profiles the snapshot is empty and every client takes the
/// national-list path (a SIGHUP may add some). A list that fails to load
/// is logged and its profiles answer SERVFAIL for what it would decide.
async fn load_profiles(config: &Config, node: &Node) -> Result<Arc<ProfileKeeper>, ServeError> {
    let (owned, families) = (config.clone(), node.metrics.extra_lists().clone());
    let built = tokio::task::spawn_blocking(move || ProfileKeeper::load(&owned, families))
        .await
        .map_err(ServeError::LoadTask)?;
    let keeper = built.map_err(|overlaps| {
        let text: Vec<String> = overlaps.iter().map(ToString::to_string).collect();
        ServeError::Profiles(text.join("; "))
    })?;
    // A list with `url` and nothing on disk: one poll, still before
    // serving.
    keeper.first_polls().await;
    Ok(Arc::new(keeper))
}

/// The compliance reporter, with `[report]`.
fn start_reporter(
    config: &Config,
    source: &ListSource,
    node: &Node,
) -> Result<Option<Arc<Reporter>>, ServeError> {
    let Some(settings) = &config.report else {
        return Ok(None);
    };
    let digest = crate::report::policy_digest(config, &source.trusted_ids());
    let reporter = Reporter::new(
        settings,
        digest,
        Arc::clone(&node.store),
        Arc::clone(&node.metrics),
        node.started_at,
    )
    .map_err(ServeError::Reporter)?
    .with_profiles(
        node.profiles
            .as_ref()
            .map(|keeper| Arc::clone(keeper.store())),
    );
    Ok(Some(Arc::new(reporter)))
}

/// Handles SIGHUP (the list, then the config) until SIGTERM, SIGINT or
/// `stop`.
async fn wait_for_stop(
    source: &ListSource,
    reloader: &Reloader,
    stop: impl Future<Output = ()>,
) -> Result<(), ServeError> {
    let install = |kind, name| signal(kind).map_err(|e| ServeError::Signal(name, e));
    let mut hup = install(SignalKind::hangup(), "SIGHUP")?;
    let mut term = install(SignalKind::terminate(), "SIGTERM")?;
    let mut int = install(SignalKind::interrupt(), "SIGINT")?;
    tokio::pin!(stop);
    loop {
        tokio::select! {
            _ = hup.recv() => reloader.hangup(source).await,
            _ = term.recv() => { info!("SIGTERM: draining"); break; }
            _ = int.recv() => { info!("SIGINT: draining"); break; }
            () = &mut stop => { info!("stopping"); break; }
        }
    }
    Ok(())
}
