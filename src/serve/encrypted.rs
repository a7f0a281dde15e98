//! The `[dot]` and `[doh]` certificates (`tls::Keeper`s): made once at
//! start from what the config read, reloaded on SIGHUP (before the config
//! is re-read, and whatever it says) and when their files change.
//!
//! The `[dot]` listener is started here too; the `[doh]` listener takes
//! its `Certs` from [`Encrypted::doh`].

use std::sync::Arc;

use tokio::net::TcpListener;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use super::{DRAIN_LIMIT, ServeError};
use crate::config::{Config, EncryptedSettings};
use crate::dns::Engine;
use crate::dns::dot::{Dot, DotSettings};
use crate::metrics::{Listener, Metrics};
use crate::tls::{Files, Keeper, Section};

/// Each encrypted section's certificate keeper, if the section is on.
#[derive(Debug, Clone, Default)]
pub(super) struct Encrypted {
    pub(super) dot: Option<Arc<Keeper>>,
    pub(super) doh: Option<Arc<Keeper>>,
}

impl Encrypted {
    /// The certificates the config read, in force, their expiry published.
    pub(super) fn new(config: &Config, metrics: &Metrics) -> Self {
        let keeper = |section, settings: &Option<EncryptedSettings>| {
            settings.as_ref().map(|s| {
                let files = Files {
                    cert: s.cert.clone(),
                    key: s.key.clone(),
                    server_name: s.server_name.clone(),
                };
                Arc::new(Keeper::new(
                    section,
                    files,
                    s.certs.clone(),
                    Arc::clone(metrics.tls()),
                ))
            })
        };
        Self {
            dot: keeper(Section::Dot, &config.dot),
            doh: keeper(Section::Doh, &config.doh),
        }
    }

    fn keepers(&self) -> impl Iterator<Item = &Arc<Keeper>> {
        self.dot.iter().chain(&self.doh)
    }

    /// SIGHUP: every section's files read again; a refused one keeps its
    /// certificates (the keeper logs and counts it).
    pub(super) async fn reload(&self) {
        for keeper in self.keepers() {
            let keeper = Arc::clone(keeper);
            let _ = tokio::task::spawn_blocking(move || keeper.reload("SIGHUP")).await;
        }
    }

    /// Watches every section's files until `shutdown`.
    pub(super) fn watch(&self, shutdown: &CancellationToken, background: &mut JoinSet<()>) {
        for keeper in self.keepers() {
            background.spawn(Arc::clone(keeper).watch(shutdown.clone()));
        }
    }

    /// Starts the `[dot]` listeners bound at start-up, if any.
    pub(super) fn start_dot(
        &self,
        config: &Config,
        listeners: Vec<TcpListener>,
        engine: &Arc<Engine>,
        metrics: &Metrics,
        shutdown: &CancellationToken,
        background: &mut JoinSet<()>,
    ) -> Result<(), ServeError> {
        let (Some(settings), Some(keeper)) = (&config.dot, &self.dot) else {
            return Ok(());
        };
        let settings = DotSettings {
            server_name: settings.server_name.clone(),
            handshake_timeout: settings.handshake_timeout,
            idle_timeout: settings.idle_timeout,
            max_connections: settings.max_connections,
            max_connections_per_client: settings.max_connections_per_client,
        };
        let dot = Dot::new(
            listeners,
            settings,
            keeper.certs(),
            Arc::clone(engine),
            Arc::clone(metrics.tls()),
            metrics.closed_row(Listener::DnsDot),
        )
        .map_err(ServeError::Tls)?;
        background.spawn(dot.serve(DRAIN_LIMIT, shutdown.clone()));
        Ok(())
    }
}
