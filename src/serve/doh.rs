//! `[doh]` in `ward serve`: its listeners bound before the privilege drop
//! (port 443 needs root or `CAP_NET_BIND_SERVICE`), then served through
//! the engine once a list is in force.

use std::sync::Arc;

use tokio::net::TcpListener;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;
use tracing::info;

use super::ServeError;
use crate::config::EncryptedSettings;
use crate::dns::Engine;
use crate::dns::doh::{self, ALPN, Doh, DohLimits, DohMetrics};
use crate::tls::Certs;

/// Binds every `[doh] listen` address.
pub(super) async fn bind(settings: &EncryptedSettings) -> Result<Vec<TcpListener>, ServeError> {
    let mut listeners = Vec::with_capacity(settings.listen.len());
    for &addr in &settings.listen {
        let listener = TcpListener::bind(addr)
            .await
            .map_err(|source| ServeError::BindDoh { addr, source })?;
        listeners.push(listener);
    }
    Ok(listeners)
}

/// The limits `[doh]` sets; queries in flight per listener are not a key
/// (every connection's streams together, capped at the default).
fn limits(settings: &EncryptedSettings) -> DohLimits {
    let defaults = DohLimits::default();
    DohLimits {
        max_connections: settings.max_connections,
        max_connections_per_client: settings.max_connections_per_client,
        max_streams: settings.max_streams.unwrap_or(defaults.max_streams),
        max_queries: defaults.max_queries,
        handshake_timeout: settings.handshake_timeout,
        idle_timeout: settings.idle_timeout,
    }
}

/// Serves DoH on `listeners` until `shutdown`, with `certs` (the
/// `[doh]` keeper's, which reloads them).
pub(super) fn spawn(
    settings: &EncryptedSettings,
    certs: &Arc<Certs>,
    listeners: Vec<TcpListener>,
    engine: &Arc<Engine>,
    metrics: &Arc<DohMetrics>,
    shutdown: &CancellationToken,
    background: &mut JoinSet<()>,
) -> Result<(), ServeError> {
    let tls = certs.server_config(&ALPN).map_err(ServeError::DohTls)?;
    let doh = Arc::new(Doh {
        engine: Arc::clone(engine),
        metrics: Arc::clone(metrics),
        limits: limits(settings),
        server_name: settings.server_name.clone(),
    });
    for listener in listeners {
        let addr = listener.local_addr().map_err(ServeError::LocalAddr)?;
        info!("listening for DoH on {addr}");
        background.spawn(doh::accept_loop(
            listener,
            Arc::clone(&tls),
            Arc::clone(&doh),
            shutdown.clone(),
        ));
    }
    Ok(())
}
