//! One extra list (`[[lists]]`) and how it is kept: loaded at start,
//! before any socket serves, and again on each SIGHUP.
//!
//! A `source` list is compiled with [`LocalList`]; a source that does not
//! compile keeps the version compiled before (each bad line is logged as
//! `file:line`). A signed list is a [`ListSource`] of its own, exactly like
//! the national list: the one acceptance rule ([`super::Keeper`]:
//! signature by one of the list's own `trusted_keys`, format and index
//! checks, no rollback below the highest serial accepted, no equivocation,
//! no other list id, not expired in place of a list in force), its own
//! last-known-good copy and `state.json` in `list.state_dir/lists/NAME/`.
//! A refusal keeps the version in force.
//!
//! A list that never loaded stays unloaded: the profiles that use it
//! answer SERVFAIL (EDE 14) for the names it would decide, never an
//! unfiltered answer. Each list's version in force is in a [`ListStore`]
//! of its own; the profile keeper (`update/profiles.rs`) puts the
//! profiles together with them.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::{Instrument, error, info, info_span};

use super::local::{LocalError, LocalList};
use super::metrics::ListMetrics;
use super::source::{ListSource, log_list, publish_list};
use super::{ExtraListStatus, ListStatus, Updater};
use crate::config::ListSettings;
use crate::list::{self, ListArtifact, TrustedKeys, Verified, VerifyError};
use crate::policy::Overlap;
use crate::profiles::{
    ExtraList, ExtraListSettings, ListOrigin, ProfileSettings, ProfileStore, Profiles,
};
use crate::store::ListStore;

/// Where the extra lists keep their state, under `list.state_dir`.
pub const LISTS_DIR: &str = "lists";

/// The state directory of the extra list `name` under `state_dir`.
pub fn state_dir_of(state_dir: &Path, name: &str) -> PathBuf {
    state_dir.join(LISTS_DIR).join(name)
}

/// One extra list: its settings, how it is loaded, and its version in
/// force.
#[derive(Debug)]
pub struct ExtraSource {
    settings: ExtraListSettings,
    store: Arc<ListStore>,
    metrics: Arc<ListMetrics>,
    kind: Kind,
    /// The last failure to load or reload it, until a success.
    last_error: Mutex<Option<String>>,
    /// Stops its updater (with `url`), once started.
    runner: Mutex<Option<CancellationToken>>,
}

#[derive(Debug)]
enum Kind {
    Local(Box<LocalList>),
    Signed(ListSource),
    /// It could not be set up (the reason is `last_error`).
    Broken,
}

impl ExtraSource {
    /// Sets the list up (its state directory under `state_dir`, for a
    /// signed list; its updater, with `url`) without loading it. `store`
    /// holds the version in force, if any (kept across a change of the
    /// list's settings). Blocking; never fails: a list that cannot be set
    /// up stays unloaded, with the reason logged.
    pub fn open(
        settings: &ExtraListSettings,
        state_dir: &Path,
        store: Arc<ListStore>,
        metrics: Arc<ListMetrics>,
    ) -> Self {
        let span = info_span!("extra_list", list = %settings.name);
        let _entered = span.enter();
        let (kind, failure) = match &settings.origin {
            ListOrigin::Source { source } => match LocalList::new(&settings.name, source) {
                Ok(local) => (Kind::Local(Box::new(local)), None),
                Err(e) => (Kind::Broken, Some(crate::errors::chain(&e))),
            },
            ListOrigin::Signed {
                file,
                trusted_keys,
                update,
            } => {
                // `[list]` of its own: the same source, rule and updater.
                let d = ListSettings::default();
                let list = ListSettings {
                    file: file.clone(),
                    trusted_keys: trusted_keys.clone(),
                    state_dir: state_dir_of(state_dir, &settings.name),
                    require_list: false,
                    url: update.as_ref().map(|u| u.url.clone()),
                    poll_interval: update.as_ref().map_or(d.poll_interval, |u| u.poll_interval),
                    ca_file: update.as_ref().and_then(|u| u.ca_file.clone()),
                    timeout: update.as_ref().map_or(d.timeout, |u| u.timeout),
                    max_size: update.as_ref().map_or(d.max_size, |u| u.max_size),
                    demo: false,
                };
                match ListSource::of(&list, &store, &metrics) {
                    Ok(source) => (Kind::Signed(source), None),
                    Err(e) => (Kind::Broken, Some(crate::errors::chain(&e))),
                }
            }
        };
        if let Some(error) = &failure {
            error!(%error, "ALARM: extra list cannot be set up; the version in force, if any, stays");
            metrics.list_reload_failed();
        }
        Self {
            settings: settings.clone(),
            store,
            metrics,
            kind,
            last_error: Mutex::new(failure),
            runner: Mutex::new(None),
        }
    }

    pub fn name(&self) -> &str {
        &self.settings.name
    }

    pub fn settings(&self) -> &ExtraListSettings {
        &self.settings
    }

    /// The version in force.
    pub fn store(&self) -> &Arc<ListStore> {
        &self.store
    }

    pub fn metrics(&self) -> &Arc<ListMetrics> {
        &self.metrics
    }

    /// The last failure to load or reload it, until a success.
    pub fn last_error(&self) -> Option<String> {
        lock(&self.last_error).clone()
    }

    /// Where it comes from, for status: `source PATH`, `file PATH`, or
    /// the URL.
    pub fn describe(&self) -> String {
        match &self.settings.origin {
            ListOrigin::Source { source } => format!("source {}", source.display()),
            ListOrigin::Signed {
                update: Some(u), ..
            } => u.url.to_string(),
            ListOrigin::Signed { file, .. } => match file {
                Some(file) => format!("file {}", file.display()),
                None => "nothing".to_owned(),
            },
        }
    }

    /// Its updater, with `url`.
    pub fn updater(&self) -> Option<&Arc<Updater>> {
        match &self.kind {
            Kind::Signed(source) => source.updater(),
            _ => None,
        }
    }

    /// Starts its updater (with `url`) on `tasks`, until `shutdown` or
    /// [`stop`](Self::stop); `on_activate` runs after each activation.
    pub fn start(
        &self,
        tasks: &TaskTracker,
        shutdown: &CancellationToken,
        on_activate: impl Fn() + Send + Sync + 'static,
    ) {
        let Some(updater) = self.updater() else {
            return;
        };
        updater.on_activate(on_activate);
        let token = shutdown.child_token();
        if let Some(old) = lock(&self.runner).replace(token.clone()) {
            old.cancel();
        }
        let span = info_span!("extra_list", list = %self.settings.name);
        tasks.spawn(Arc::clone(updater).run(token).instrument(span));
    }

    /// Stops its updater, if it runs.
    pub fn stop(&self) {
        if let Some(token) = lock(&self.runner).take() {
            token.cancel();
        }
    }

    /// With `url` and nothing in force: one poll now (before serving, as
    /// for the national list).
    pub async fn first_poll(&self) {
        let Some(updater) = self.updater() else {
            return;
        };
        if self.store.load().is_some() {
            return;
        }
        let span = info_span!("extra_list", list = %self.settings.name);
        let outcome = updater.poll().instrument(span).await;
        publish_list(&self.metrics, &self.store);
        *lock(&self.last_error) = outcome.error;
    }

    /// The first load (blocking): a local source compiled; a signed list
    /// from its file, else its last-known-good copy. A list already in
    /// force (its settings changed on SIGHUP) is kept unless the new one
    /// is accepted.
    pub fn load_initial(&self) {
        let span = info_span!("extra_list", list = %self.settings.name);
        let _entered = span.enter();
        let outcome = match &self.kind {
            Kind::Broken => return,
            Kind::Local(local) => self.compiled(local),
            Kind::Signed(source) => match source.load() {
                Ok(list) => {
                    log_list("extra list loaded", &list, None);
                    self.store.swap(list);
                    Ok(())
                }
                Err(reason) if source.updater().is_some() => {
                    // Not a failure yet: the updater fetches it.
                    info!(%reason, "extra list: nothing on disk yet; fetching it");
                    return;
                }
                Err(e) => Err(crate::errors::chain(&e)),
            },
        };
        self.record(outcome);
    }

    /// SIGHUP: a local source is compiled again; a signed list's file is
    /// offered to the rule. A failure keeps the version in force.
    pub async fn reload(self: &Arc<Self>) {
        let span = info_span!("extra_list", list = %self.settings.name);
        let outcome = match &self.kind {
            Kind::Broken => Err(self.last_error().unwrap_or_default()),
            Kind::Local(_) => {
                let this = Arc::clone(self);
                let compiled = tokio::task::spawn_blocking(move || match &this.kind {
                    Kind::Local(local) => {
                        let span = info_span!("extra_list", list = %this.settings.name);
                        span.in_scope(|| this.compiled(local))
                    }
                    _ => Ok(()),
                });
                compiled
                    .await
                    .unwrap_or_else(|e| Err(format!("reload task failed: {e}")))
            }
            Kind::Signed(source) if source.updater().is_some() => {
                // A poll at once; its outcome is the updater's.
                let _ = source.reload(&self.metrics).await;
                return;
            }
            Kind::Signed(source) => {
                let refusal = source.reload(&self.metrics).instrument(span.clone()).await;
                if let Some(refusal) = refusal {
                    // The source has logged the alarm and counted it.
                    *lock(&self.last_error) = Some(refusal.reason);
                    return;
                }
                Ok(())
            }
        };
        span.in_scope(|| self.record(outcome));
    }

    /// Compiles the local source and puts it in force; on failure, logs
    /// every bad line and keeps the version compiled before.
    fn compiled(&self, local: &LocalList) -> Result<(), String> {
        match local.reload() {
            Ok(list) => {
                log_list("extra list compiled", &list, None);
                self.store.swap(list);
                Ok(())
            }
            Err(e) => {
                if let LocalError::Source { errors, .. } = &e {
                    for line in errors {
                        error!(%line, "bad line in an extra list source");
                    }
                }
                self.metrics.list_reload_failed();
                Err(crate::errors::chain(&e))
            }
        }
    }

    /// Publishes the outcome of a load or reload: gauges, the last error,
    /// and an alarm on failure.
    fn record(&self, outcome: Result<(), String>) {
        publish_list(&self.metrics, &self.store);
        let now = jiff::Timestamp::now();
        match outcome {
            Ok(()) => {
                self.metrics.set_last_success(now);
                *lock(&self.last_error) = None;
            }
            Err(error) => {
                match self.store.load().as_ref() {
                    Some(active) => error!(
                        %error,
                        serial = active.serial(),
                        "ALARM: extra list not reloaded; keeping the version in force"
                    ),
                    None => error!(
                        %error,
                        "ALARM: extra list not loaded; its profiles answer SERVFAIL (EDE 14) for names it would decide, never unfiltered"
                    ),
                }
                *lock(&self.last_error) = Some(error);
            }
        }
    }

    /// Its entry in `/list/status`.
    pub fn status(&self) -> ExtraListStatus {
        let updater = self.updater().map(|u| u.status());
        let list = ListStatus::of(self.describe(), &self.store, None);
        // A list with `url` fails or succeeds by its polls.
        let last_error = match &updater {
            Some(u) => u.last_error.clone(),
            None => self.last_error(),
        };
        ExtraListStatus {
            name: self.settings.name.clone(),
            origin: list.source,
            loaded: list.loaded,
            list_id: list.list_id,
            serial: list.serial,
            sha256: list.sha256,
            entries: list.entries,
            expires_at: list.expires_at,
            activated_at: list.activated_at,
            stale: list.stale,
            last_error,
            updater,
        }
    }

    /// Refreshes its gauges (expiry).
    pub fn publish(&self) {
        publish_list(&self.metrics, &self.store);
    }
}

impl Drop for ExtraSource {
    /// A list no longer configured stops polling.
    fn drop(&mut self) {
        self.stop();
    }
}

/// Logs what the profiles are built over, once loaded.
pub fn log_loaded(sources: &[Arc<ExtraSource>]) {
    for source in sources {
        let loaded = source.store().load();
        match loaded.as_ref() {
            Some(list) => info!(
                list = source.name(),
                list_id = list.list_id(),
                serial = list.serial(),
                "extra list in force"
            ),
            None => info!(list = source.name(), "extra list not loaded"),
        }
    }
}

/// Why an extra list did not load (the one-shot [`load`]).
#[derive(Debug, thiserror::Error)]
pub enum ExtraError {
    #[error(transparent)]
    Local(#[from] LocalError),
    #[error("{}: {source}", .path.display())]
    Verify {
        path: PathBuf,
        #[source]
        source: VerifyError,
    },
    /// A list with `url` and no `file`: only `ward serve` downloads it.
    #[error("no file to load: the list is downloaded from {url:?} by ward serve")]
    NotOnDisk { url: String },
}

/// Loads one extra list now, without `state_dir` (no last-known-good
/// copy, no rollback state): for tools that look at a config
/// (`ward check`) and for benchmarks, not for `ward serve`.
pub fn load(settings: &ExtraListSettings) -> Result<Verified<ListArtifact>, ExtraError> {
    match &settings.origin {
        ListOrigin::Source { source } => Ok(LocalList::new(&settings.name, source)?.reload()?),
        ListOrigin::Signed {
            file: None, update, ..
        } => Err(ExtraError::NotOnDisk {
            url: update
                .as_ref()
                .map(|u| u.url.to_string())
                .unwrap_or_default(),
        }),
        ListOrigin::Signed {
            file: Some(file),
            trusted_keys,
            ..
        } => {
            let trust: TrustedKeys = trusted_keys.iter().map(|k| *k.key()).collect();
            let verify = |source| ExtraError::Verify {
                path: file.clone(),
                source,
            };
            let list = list::open_file(file, &trust).map_err(verify)?;
            list.check_expiry(jiff::Timestamp::now()).map_err(verify)?;
            Ok(list)
        }
    }
}

/// Loads every extra list with [`load`] (logging each failure with all
/// its lines) and builds the profiles over them, schedules as they stand
/// at `now` (in the node's time zone).
pub fn load_profiles(
    lists: &[ExtraListSettings],
    profiles: &[ProfileSettings],
    now: &jiff::ZonedDateTime,
) -> Result<Profiles, Vec<Overlap>> {
    let loaded = lists
        .iter()
        .map(|settings| ExtraList {
            name: settings.name.clone(),
            list: match load(settings) {
                Ok(list) => ListStore::with(list).load_full(),
                Err(e) => {
                    let error = crate::errors::chain(&e);
                    error!(list = settings.name, %error, "extra list not loaded");
                    if let ExtraError::Local(LocalError::Source { errors, .. }) = &e {
                        for line in errors {
                            error!(list = settings.name, %line, "bad line in an extra list source");
                        }
                    }
                    None
                }
            },
        })
        .collect();
    Profiles::build_at(profiles, loaded, now)
}

/// [`load_profiles`] in a store.
pub fn profile_store(
    lists: &[ExtraListSettings],
    profiles: &[ProfileSettings],
) -> Result<Arc<ProfileStore>, Vec<Overlap>> {
    let now = crate::profiles::now_in(&crate::profiles::default_time_zone());
    Ok(Arc::new(ProfileStore::new(load_profiles(
        lists, profiles, &now,
    )?)))
}

/// Locks a mutex; a poisoned one still holds consistent data here, since
/// every critical section only assigns.
fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}
