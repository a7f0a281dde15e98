//! Where the list comes from, chosen from `[list]`, and what SIGHUP does
//! with it. Every source goes through the one acceptance rule
//! ([`super::Keeper`]), except the embedded demo list.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use tracing::{error, info};

use super::ListMetrics;
use super::keeper::{Keeper, Offered, Origin, Refusal};
use super::state::{LIST_FILE, PREV_FILE};
use super::{Updater, UpdaterStatus};
use crate::config::ListSettings;
use crate::keys::{self, DEMO_KEY_ID, KeyId};
use crate::list::{self, Bytes, ListArtifact, TrustedKeys, Verified};
use crate::store::ListStore;

/// Where start-up looks for a list, in order. Following `list.url`: the
/// last-known-good list in `dir` (`list.state_dir`), the one before it,
/// then the `file` seed. With `list.file` alone: the file first, then
/// those two.
pub(crate) fn start_origins(
    follows_url: bool,
    file: Option<&Path>,
    dir: Option<&Path>,
) -> Vec<Origin> {
    let file = file.map(|path| Origin {
        path: path.to_path_buf(),
        what: if follows_url {
            "seed list (list.file)"
        } else {
            "list file (list.file)"
        },
        stage: true,
    });
    let kept = dir.into_iter().flat_map(|dir| {
        [
            Origin {
                path: dir.join(LIST_FILE),
                what: "last-known-good list",
                stage: false,
            },
            Origin {
                path: dir.join(PREV_FILE),
                what: "previous list",
                stage: false,
            },
        ]
    });
    if follows_url {
        kept.chain(file).collect()
    } else {
        file.into_iter().chain(kept).collect()
    }
}

/// Why the list source cannot be set up.
#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    #[error(transparent)]
    StateDir(#[from] std::io::Error),
    /// The text of the client error, not its `source`: it is this
    /// message already.
    #[error("{0}")]
    Fetcher(super::fetch::ClientError),
    #[error("no list source configured (list.file or list.url)")]
    NoSource,
}

/// Why no list could be loaded from disk at start-up.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error("embedded demo key: {0}")]
    DemoKey(#[source] crate::keys::KeyError),
    #[error("embedded demo list: {0}")]
    DemoList(#[source] list::VerifyError),
    /// `list.file`, and the last-known-good and previous lists in
    /// `list.state_dir`, are all missing or refused (each is logged).
    #[error("{path}: no usable list")]
    NoUsableFile { path: PathBuf },
    /// With `list.url`: nothing usable on disk yet.
    #[error("no usable list in list.state_dir or list.file")]
    NoUsableList,
}

/// Where the list comes from, resolved from the configuration.
#[derive(Debug, Clone)]
pub enum ListSource {
    /// The embedded demo list (`ward serve` without a config).
    Demo,
    /// `list.file` alone: read at start-up and on SIGHUP.
    File { path: PathBuf, keeper: Arc<Keeper> },
    /// `list.url`: the updater owns the list (seeded from `list.file`).
    Url(Arc<Updater>),
}

impl ListSource {
    /// Prepares the source (the state directory, the updater) with the
    /// trusted keys read with the config. Call it after the privilege drop, so `state_dir`
    /// belongs to the user ward runs as.
    pub fn of(
        settings: &ListSettings,
        store: &Arc<ListStore>,
        metrics: &Arc<ListMetrics>,
    ) -> Result<Self, SourceError> {
        if settings.demo {
            return Ok(Self::Demo);
        }
        let trust: TrustedKeys = settings.trusted_keys.iter().map(|k| *k.key()).collect();
        if settings.url.is_some() {
            let updater = Updater::new(settings, trust, Arc::clone(store), Arc::clone(metrics))?;
            return Ok(Self::Url(Arc::new(updater)));
        }
        let Some(path) = &settings.file else {
            return Err(SourceError::NoSource);
        };
        let keeper = Keeper::new(
            &settings.state_dir,
            false,
            trust,
            Arc::clone(store),
            Arc::clone(metrics),
        )?;
        Ok(Self::File {
            path: path.clone(),
            keeper: Arc::new(keeper),
        })
    }

    /// Loads the list from disk (blocking), before any socket serves.
    /// With `list.file`: the file if it passes the rule, else the
    /// last-known-good copy in `state_dir`. With `list.url`: the
    /// last-known-good list, else the seed.
    pub fn load(&self) -> Result<Verified<ListArtifact>, LoadError> {
        match self {
            Self::Demo => {
                let key = keys::parse_public(list::DEMO_PUBLIC_KEY).map_err(LoadError::DemoKey)?;
                list::verify(
                    Bytes::Static(list::DEMO_ARTIFACT),
                    &[key].into_iter().collect(),
                )
                .map_err(LoadError::DemoList)
            }
            Self::File { path, keeper } => {
                let origins = start_origins(false, Some(path), keeper.dir());
                keeper
                    .load_initial(&origins)
                    .ok_or_else(|| LoadError::NoUsableFile { path: path.clone() })
            }
            Self::Url(updater) => updater.load_initial().ok_or(LoadError::NoUsableList),
        }
    }

    /// The list `ward serve` would put in force at start-up from disk:
    /// the same files in the same order, judged by the same rule against
    /// `state.json`, but nothing is written, created or fetched (`ward
    /// check --config`). With `list.url` and nothing usable on disk, a
    /// start-up would poll the endpoint: that is [`LoadError::NoUsableList`]
    /// here.
    pub fn peek(
        settings: &ListSettings,
        metrics: &Arc<ListMetrics>,
    ) -> Result<Verified<ListArtifact>, LoadError> {
        if settings.demo {
            return Self::Demo.load();
        }
        let trust: TrustedKeys = settings.trusted_keys.iter().map(|k| *k.key()).collect();
        let keeper = Keeper::read_only(
            &settings.state_dir,
            trust,
            Arc::new(ListStore::new()),
            Arc::clone(metrics),
        );
        let url = settings.url.is_some();
        let origins = start_origins(url, settings.file.as_deref(), Some(&settings.state_dir));
        keeper
            .load_initial(&origins)
            .ok_or_else(|| match (&settings.file, url) {
                (Some(path), false) => LoadError::NoUsableFile { path: path.clone() },
                _ => LoadError::NoUsableList,
            })
    }

    /// SIGHUP: polls `list.url` at once, or offers `list.file` to the
    /// rule and swaps it in if it passes; a refusal keeps the list in
    /// force, logs an alarm, counts it and is returned.
    pub async fn reload(&self, metrics: &ListMetrics) -> Option<Refusal> {
        let (path, keeper) = match self {
            Self::Url(updater) => {
                updater.poke();
                return None;
            }
            Self::Demo => {
                info!("SIGHUP: the embedded demo list never changes");
                return None;
            }
            Self::File { path, keeper } => (path.clone(), Arc::clone(keeper)),
        };
        let started = Instant::now();
        // Verification reads the whole file: keep it off the async workers.
        let offered =
            tokio::task::spawn_blocking(move || keeper.offer(keeper.stage(&path)?, None)).await;
        let store = match self {
            Self::File { keeper, .. } => keeper.store(),
            _ => return None,
        };
        match offered {
            Ok(Ok(Offered::Same)) => {
                let serial = store.load().as_ref().map(|a| a.serial());
                info!(?serial, "SIGHUP: list unchanged");
                metrics.set_last_success(jiff::Timestamp::now());
                None
            }
            Ok(Ok(Offered::Activated { swapped_at, .. })) => {
                let elapsed = swapped_at.saturating_duration_since(started);
                metrics.set_activation(elapsed);
                if let Some(active) = store.load().as_ref() {
                    log_list("SIGHUP: list reloaded", active, Some(elapsed));
                }
                publish_list(metrics, store);
                metrics.set_last_success(jiff::Timestamp::now());
                None
            }
            Ok(Err(refusal)) => {
                metrics.list_reload_failed();
                let serial = store.load().as_ref().map(|a| a.serial());
                error!(
                    result = refusal.result.as_str(),
                    reason = %refusal,
                    ?serial,
                    "ALARM: SIGHUP reload failed; keeping the current list"
                );
                Some(refusal)
            }
            Err(error) => {
                error!(%error, "SIGHUP reload task failed");
                Some(Refusal {
                    result: super::FetchResult::Io,
                    reason: format!("reload task failed: {error}"),
                })
            }
        }
    }

    /// The file on disk whose bytes must be those of the list in force:
    /// `list.file`, or the last-known-good copy the updater keeps.
    pub fn watched_file(&self) -> Option<PathBuf> {
        match self {
            Self::Demo => None,
            Self::File { path, .. } => Some(path.clone()),
            Self::Url(updater) => updater.live_file(),
        }
    }

    /// The updater, with `list.url`.
    pub fn updater(&self) -> Option<&Arc<Updater>> {
        match self {
            Self::Url(updater) => Some(updater),
            _ => None,
        }
    }

    /// The updater's status, with `list.url`.
    pub fn updater_status(&self) -> Option<UpdaterStatus> {
        self.updater().map(|u| u.status())
    }

    /// Whether a candidate was offered under the highest serial with other
    /// bytes (an equivocation), until a newer list is accepted.
    pub fn equivocation(&self) -> bool {
        match self {
            Self::Demo => false,
            Self::File { keeper, .. } => keeper.equivocation(),
            Self::Url(updater) => updater.status().equivocation,
        }
    }

    pub fn trusts_demo_key(&self) -> bool {
        self.trusted_ids()
            .iter()
            .any(|id| id.to_string() == DEMO_KEY_ID)
    }

    /// The ids of the keys lists must be signed with.
    pub fn trusted_ids(&self) -> Vec<KeyId> {
        let trust = match self {
            Self::Demo => {
                return KeyId::parse(DEMO_KEY_ID).into_iter().collect();
            }
            Self::File { keeper, .. } => keeper.trusted(),
            Self::Url(updater) => updater.trusted(),
        };
        trust.ids().collect()
    }

    /// For `/list/status`: the URL, `file PATH`, or the demo list.
    pub fn describe(&self) -> String {
        match self {
            Self::Demo => "embedded demo list".to_owned(),
            Self::File { path, .. } => format!("file {}", path.display()),
            Self::Url(updater) => updater.url().to_string(),
        }
    }
}

/// Logs a list put in force; `activation`: for a reload, the time from the
/// signal to the swap.
pub fn log_list(msg: &str, list: &ListArtifact, activation: Option<std::time::Duration>) {
    let expired = list.is_expired(jiff::Timestamp::now());
    info!(
        activation_ms = activation.map(|d| d.as_millis() as u64),
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

/// Publishes the list in force (or none) as gauges.
pub fn publish_list(metrics: &ListMetrics, store: &ListStore) {
    let now = jiff::Timestamp::now();
    match store.load().as_ref() {
        Some(active) => metrics.set_list(Some(&active.list), active.activated_at, now),
        None => metrics.set_list(None, now, now),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `ward check --config` and `ward serve` look in the same places in
    /// the same order: the one list of origins.
    #[test]
    fn start_up_looks_in_the_same_order_for_serve_and_peek() {
        let paths = |url, file: Option<&str>, dir: Option<&str>| -> Vec<String> {
            start_origins(url, file.map(Path::new), dir.map(Path::new))
                .iter()
                .map(|o| format!("{}:{}", o.path.display(), o.stage))
                .collect()
        };
        assert_eq!(
            paths(false, Some("seed.ward"), Some("/s")),
            [
                "seed.ward:true",
                "/s/list.ward:false",
                "/s/list.prev.ward:false"
            ]
        );
        assert_eq!(
            paths(true, Some("seed.ward"), Some("/s")),
            [
                "/s/list.ward:false",
                "/s/list.prev.ward:false",
                "seed.ward:true"
            ]
        );
        assert_eq!(paths(false, Some("f.ward"), None), ["f.ward:true"]);
        assert_eq!(paths(true, None, Some("/s")).len(), 2);
    }
}
