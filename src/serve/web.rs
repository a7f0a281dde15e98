//! The web-side listeners of `ward serve`: `[sni]`, `[http]` and
//! `[blockpage]`, bound before the privilege drop and started after the
//! list is loaded.

use std::sync::Arc;

use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tracing::info;

use super::ServeError;
use crate::blockpage::BlockPage;
use crate::blockpage::head::HeadLimits;
use crate::config::Config;
use crate::metrics::Metrics;
use crate::profiles::ProfileStore;
use crate::sni;
use crate::sni::Channel;
use crate::store::ListStore;

/// The bound sockets of `[sni]`, `[http]` and `[blockpage]`.
pub(super) struct WebListeners {
    sni: Vec<TcpListener>,
    http: Vec<TcpListener>,
    page: Vec<TcpListener>,
}

impl WebListeners {
    pub(super) fn bind(config: &Config) -> Result<Self, ServeError> {
        let web = |section: &'static str| move |source| ServeError::Web { section, source };
        let sni = match &config.sni {
            Some(s) => sni::bind(s).map_err(web("[sni]"))?,
            None => Vec::new(),
        };
        let http = match &config.http {
            Some(s) => sni::bind(s).map_err(web("[http]"))?,
            None => Vec::new(),
        };
        let mut page = Vec::new();
        if let Some(p) = &config.blockpage {
            for &addr in &p.listen {
                let bound = std::net::TcpListener::bind(addr)
                    .and_then(|l| l.set_nonblocking(true).map(|()| l))
                    .and_then(TcpListener::from_std)
                    .map_err(|source| sni::SetupError::Listen {
                        addr,
                        mode: "plain",
                        source,
                    })
                    .map_err(web("[blockpage]"))?;
                page.push(bound);
            }
        }
        Ok(Self { sni, http, page })
    }

    /// After the privilege drop: can the filters still mark their
    /// outbound sockets?
    pub(super) fn check_privileges(&self, config: &Config) -> Result<(), ServeError> {
        for (listeners, settings) in [(&self.sni, &config.sni), (&self.http, &config.http)] {
            if let (false, Some(s)) = (listeners.is_empty(), settings) {
                sni::check_privileges(s).map_err(ServeError::WebPrivileges)?;
            }
        }
        Ok(())
    }

    /// Starts every web listener. Called after the list is loaded.
    pub(super) fn spawn(
        self,
        config: &Config,
        store: &Arc<ListStore>,
        profiles: Option<&Arc<ProfileStore>>,
        metrics: &Arc<Metrics>,
        shutdown: &CancellationToken,
        tasks: &mut tokio::task::JoinSet<()>,
    ) -> Result<(), ServeError> {
        let page = match &config.blockpage {
            // Built when the config was loaded.
            Some(p) => Some(Arc::clone(&p.page.0)),
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
                metrics: Arc::clone(metrics.web()),
                page: page.clone(),
                query_log: config.log.query_log,
            });
            for listener in listeners {
                info!(
                    mode = settings.mode.as_str(),
                    "{kind} filter listening on {}",
                    listener.local_addr().map_err(ServeError::LocalAddr)?
                );
                tasks.spawn(sni::serve(listener, Arc::clone(&filter), shutdown.clone()));
            }
        }
        if let (Some(p), Some(page)) = (&config.blockpage, &page) {
            for listener in self.page {
                info!(
                    "block page listening on {}",
                    listener.local_addr().map_err(ServeError::LocalAddr)?
                );
                tasks.spawn(crate::blockpage::serve(
                    listener,
                    Arc::clone(page),
                    Arc::clone(store),
                    profiles.cloned(),
                    metrics.page_views().clone(),
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
