//! SIGHUP: the national list as before, then the config file ward was
//! started with, read again with the same loader (`Config::load`).
//!
//! * Invalid (any error): every error is logged with its `file:line`, an
//!   alarm follows, `ward_config_reload_failed_total` counts it, and
//!   nothing changes: the profiles and lists in force keep serving.
//! * Valid: the `[[lists]]` and `[[profile]]`s are put in force
//!   ([`ProfileKeeper::reload`]); every other section is compared with
//!   the config ward started with, and those that differ are named in one
//!   warning: they need a restart and are not applied.
//!
//! Without `--config` (the embedded defaults) there is no file to read.

use std::path::PathBuf;
use std::sync::Arc;

use tracing::{error, info, warn};

use crate::config::Config;
use crate::metrics::Metrics;
use crate::update::ListSource;
use crate::update::profiles::ProfileKeeper;

/// What SIGHUP reloads.
pub(super) struct Reloader {
    /// `--config`, if given.
    pub(super) path: Option<PathBuf>,
    /// The config ward started with: the sections a reload does not apply.
    pub(super) started: Config,
    pub(super) keeper: Arc<ProfileKeeper>,
    pub(super) metrics: Arc<Metrics>,
    /// The `[dot]`/`[doh]` certificates, read again from the files ward
    /// started with, whether or not the config re-read succeeds.
    pub(super) certs: super::encrypted::Encrypted,
}

impl Reloader {
    /// One SIGHUP.
    pub(super) async fn hangup(&self, source: &ListSource) {
        let _ = source.reload(self.metrics.list()).await;
        self.certs.reload().await;
        let Some(path) = &self.path else {
            info!("SIGHUP: no --config file to re-read");
            return;
        };
        info!(path = %path.display(), "SIGHUP: re-reading the config");
        let read = {
            let path = path.clone();
            tokio::task::spawn_blocking(move || Config::load(&path)).await
        };
        let config = match read {
            Ok(Ok(config)) => config,
            Ok(Err(errors)) => {
                for e in &errors.0 {
                    error!("config error: {e}");
                }
                return self.refused(&format!(
                    "{} error(s) in {}",
                    errors.0.len(),
                    path.display()
                ));
            }
            Err(e) => return self.refused(&format!("the config read task failed: {e}")),
        };
        let mut config = config;
        if let Err(reason) = bind_listeners(&self.started, &mut config) {
            return self.refused(&reason);
        }
        let restart = restart_sections(&self.started, &config);
        if !restart.is_empty() {
            warn!(
                sections = %restart.join(", "),
                "SIGHUP: these sections changed and need a restart; they are not applied (only [[lists]] and [[profile]] are)"
            );
        }
        if let Err(overlaps) = self.keeper.reload(&config).await {
            let text: Vec<String> = overlaps.iter().map(ToString::to_string).collect();
            return self.refused(&text.join("; "));
        }
        info!(
            profiles = config.profiles.len(),
            lists = config.lists.len(),
            "SIGHUP: config reloaded"
        );
        // Counted last: once it moves, the reload is done and logged.
        self.metrics.reload().succeeded(jiff::Timestamp::now());
    }

    fn refused(&self, reason: &str) {
        error!(
            %reason,
            "ALARM: SIGHUP: the config was not reloaded; the profiles and lists in force keep serving"
        );
        self.metrics.reload().failed();
    }
}

/// Points each profile's `listen` addresses at the sockets ward bound at
/// start: the new config numbered them by its own `[dns] listen`, which a
/// reload does not apply (a changed order would otherwise select the
/// wrong profile). An address ward does not listen on is refused.
fn bind_listeners(started: &Config, new: &mut Config) -> Result<(), String> {
    for profile in &mut new.profiles {
        for listen in &mut profile.listen {
            let Some(place) = started.dns.listen.iter().position(|a| *a == listen.addr) else {
                return Err(format!(
                    "profile {}: listen {} is not an address ward listens on; a new [dns] listen address needs a restart",
                    profile.name, listen.addr
                ));
            };
            // `[dns] listen` is bounded far below u16::MAX by the config
            // reader; saturating selects nothing rather than wrap.
            listen.listener = crate::policy::ListenerId(u16::try_from(place).unwrap_or(u16::MAX));
        }
    }
    Ok(())
}

/// The sections of `new` that differ from `old`, other than those a
/// reload applies (`[[lists]]`, `[[profile]]`). Settings that name a file
/// carry what was read from it, so a changed key file or CA bundle counts.
fn restart_sections(old: &Config, new: &Config) -> Vec<&'static str> {
    let sections = [
        ("[dns]", old.dns != new.dns),
        ("[cache]", old.cache != new.cache),
        ("[limits]", old.limits != new.limits),
        ("[list]", old.list != new.list),
        ("[block]", old.block != new.block),
        ("[admin]", old.admin != new.admin),
        ("[log]", old.log != new.log),
        ("[sni]", old.sni != new.sni),
        ("[http]", old.http != new.http),
        ("[blockpage]", old.blockpage != new.blockpage),
        ("[process]", old.process != new.process),
        ("[report]", old.report != new.report),
        ("[dot]", !same_listener(&old.dot, &new.dot)),
        ("[doh]", !same_listener(&old.doh, &new.doh)),
    ];
    sections
        .into_iter()
        .filter_map(|(name, changed)| changed.then_some(name))
        .collect()
}

/// Whether two `[dot]`/`[doh]` sections differ only in what their
/// certificate files hold, which a reload applies.
fn same_listener(
    old: &Option<crate::config::EncryptedSettings>,
    new: &Option<crate::config::EncryptedSettings>,
) -> bool {
    let files = |s: &Option<crate::config::EncryptedSettings>| {
        s.clone().map(|mut s| {
            s.certs.clear();
            s
        })
    };
    files(old) == files(new)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn profile_listen_follows_the_sockets_bound_at_start() {
        use crate::policy::ListenerId;
        use crate::profiles::ProfileListen;
        let a: std::net::SocketAddr = "127.0.0.1:5353".parse().unwrap();
        let b: std::net::SocketAddr = "127.0.0.1:5354".parse().unwrap();
        let mut started = Config::embedded();
        started.dns.listen = vec![a, b];
        // The new file lists the addresses the other way round.
        let mut new = started.clone();
        new.dns.listen = vec![b, a];
        new.profiles.push(crate::profiles::ProfileSettings {
            name: "p".into(),
            clients: Vec::new(),
            age: 10,
            lists: Vec::new(),
            block_categories: Vec::new(),
            allow: None,
            mode: crate::profiles::Mode::Deny,
            schedule: Vec::new(),
            bypass: Default::default(),
            listen: vec![ProfileListen {
                addr: b,
                listener: ListenerId(0),
            }],
            client_ids: Vec::new(),
            school: Default::default(),
            safe_search: Default::default(),
        });
        bind_listeners(&started, &mut new).unwrap();
        assert_eq!(new.profiles[0].listen[0].listener, ListenerId(1));
        new.profiles[0].listen[0].addr = "127.0.0.1:5399".parse().unwrap();
        let err = bind_listeners(&started, &mut new).unwrap_err();
        assert!(
            err.contains("127.0.0.1:5399 is not an address ward listens on"),
            "{err}"
        );
    }

    #[test]
    fn names_the_sections_that_need_a_restart() {
        let old = Config::embedded();
        let mut new = old.clone();
        assert!(restart_sections(&old, &new).is_empty());
        new.profiles.push(crate::profiles::ProfileSettings {
            name: "p".into(),
            clients: vec!["127.0.0.2/32".parse().unwrap()],
            age: 10,
            lists: Vec::new(),
            block_categories: Vec::new(),
            allow: None,
            mode: crate::profiles::Mode::Deny,
            schedule: Vec::new(),
            bypass: Default::default(),
            listen: Vec::new(),
            client_ids: Vec::new(),
            school: Default::default(),
            safe_search: Default::default(),
        });
        assert!(restart_sections(&old, &new).is_empty(), "profiles apply");
        new.cache.max_entries += 1;
        new.log.query_log = !new.log.query_log;
        new.list.require_list = !new.list.require_list;
        assert_eq!(restart_sections(&old, &new), ["[cache]", "[list]", "[log]"]);
    }

    #[test]
    fn renewed_certificate_files_need_no_restart() {
        let dir = tempfile::tempdir().unwrap();
        let (cert, key) = (dir.path().join("c.pem"), dir.path().join("c.key"));
        let read = || {
            let pair = rcgen::KeyPair::generate().unwrap();
            let c = rcgen::CertificateParams::new(vec!["dns.example.vn".to_owned()])
                .unwrap()
                .self_signed(&pair)
                .unwrap();
            std::fs::write(&cert, c.pem()).unwrap();
            std::fs::write(&key, pair.serialize_pem()).unwrap();
            crate::readers::Certified::read(&cert, &key).unwrap()
        };
        let section = |certified| crate::config::EncryptedSettings {
            listen: vec!["127.0.0.1:853".parse().unwrap()],
            cert: vec![cert.clone()],
            key: vec![key.clone()],
            server_name: Some("dns.example.vn".into()),
            handshake_timeout: std::time::Duration::from_secs(5),
            idle_timeout: std::time::Duration::from_secs(30),
            max_connections: 100,
            max_connections_per_client: 25,
            max_streams: None,
            certs: vec![certified],
        };
        let mut old = Config::embedded();
        old.dot = Some(section(read()));
        let mut new = old.clone();
        new.dot = Some(section(read()));
        assert_ne!(old.dot, new.dot, "the files hold another certificate");
        assert!(restart_sections(&old, &new).is_empty());
        if let Some(dot) = &mut new.dot {
            dot.max_connections = 5;
        }
        assert_eq!(restart_sections(&old, &new), ["[dot]"]);
    }
}
