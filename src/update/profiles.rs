//! The school profiles while `ward serve` runs: every extra list
//! ([`ExtraSource`]) and the `[[profile]]`s put together over them into the
//! [`ProfileStore`] snapshot the engine reads.
//!
//! ```text
//! start:   Config ─▶ ProfileKeeper::load ─▶ ExtraSource::load_initial (each list) ─▶ Profiles::build ─▶ store
//! SIGHUP:  Config (re-read, valid) ─▶ ProfileKeeper::reload ─▶ each list kept or opened, reloaded ─▶ build ─▶ swap
//! ```
//!
//! A SIGHUP reload matches lists by name: a list whose settings did not
//! change is reloaded in place (its source compiled again, its file
//! offered to the acceptance rule); one whose settings changed gets a new
//! source that shares the old one's store, so the version in force stays
//! until the new one is accepted; a removed list is dropped with its
//! metric series. Any failure keeps the version in force. Then the
//! profiles are built again (a new `generation`) and swapped in whole: the
//! next query sees the new profiles and lists together, never half of
//! either.

use std::path::PathBuf;
use std::sync::{Arc, Mutex, OnceLock};

use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::{error, info};

use super::extra::ExtraSource;
use super::metrics::ExtraListFamilies;
use crate::config::Config;
use crate::policy::Overlap;
use crate::profiles::{ExtraList, ProfileSettings, ProfileStore, Profiles};
use crate::store::ListStore;

/// Every extra list and profile in force, and the snapshot built from
/// them.
#[derive(Debug)]
pub struct ProfileKeeper {
    store: Arc<ProfileStore>,
    families: ExtraListFamilies,
    /// `list.state_dir` as ward started: where the extra lists keep their
    /// state. A new one needs a restart, like every `[list]` key.
    state_dir: PathBuf,
    state: Mutex<State>,
    /// The updaters of lists with `url`.
    tasks: TaskTracker,
    /// Set by [`start`](Self::start): updaters run until it is cancelled.
    shutdown: OnceLock<CancellationToken>,
    /// Poked by every rebuild: the schedule timer looks again at when the
    /// new snapshot's windows next open or close.
    rebuilt: tokio::sync::Notify,
}

#[derive(Debug)]
struct State {
    profiles: Vec<ProfileSettings>,
    lists: Vec<Arc<ExtraSource>>,
    /// `[node] time_zone`: schedules are read in it.
    time_zone: jiff::tz::TimeZone,
}

/// The longest the schedule timer sleeps without looking at the clock
/// again (the wall clock can be stepped).
const SCHEDULE_RECHECK: std::time::Duration = std::time::Duration::from_secs(60);

impl ProfileKeeper {
    /// Sets up and loads every `[[lists]]` entry of `config` and builds
    /// the `[[profile]]`s over them (blocking: reads, compiles and
    /// verifies every list). A list that fails is logged and stays
    /// unloaded. Overlapping networks cannot come from a validated config.
    pub fn load(config: &Config, families: ExtraListFamilies) -> Result<Self, Vec<Overlap>> {
        check_overlaps(&config.profiles)?;
        let keeper = Self {
            store: Arc::new(ProfileStore::new(Profiles::default())),
            families,
            state_dir: config.list.state_dir.clone(),
            state: Mutex::new(State {
                profiles: Vec::new(),
                lists: Vec::new(),
                time_zone: config.node.time_zone.clone(),
            }),
            tasks: TaskTracker::new(),
            shutdown: OnceLock::new(),
            rebuilt: tokio::sync::Notify::new(),
        };
        let lists: Vec<Arc<ExtraSource>> = config
            .lists
            .iter()
            .map(|settings| {
                let source = Arc::new(ExtraSource::open(
                    settings,
                    &keeper.state_dir,
                    Arc::new(ListStore::new()),
                    Arc::new(keeper.families.handles(&settings.name)),
                ));
                source.load_initial();
                source
            })
            .collect();
        *lock(&keeper.state) = State {
            profiles: config.profiles.clone(),
            lists,
            time_zone: config.node.time_zone.clone(),
        };
        keeper.rebuild();
        Ok(keeper)
    }

    /// With `url`, a list with nothing on disk is polled once, before
    /// serving (as the national list is); the snapshot is built again if
    /// any was.
    pub async fn first_polls(&self) {
        let lists = self.lists();
        let waiting: Vec<_> = lists
            .iter()
            .filter(|l| l.updater().is_some() && l.store().load().is_none())
            .collect();
        if waiting.is_empty() {
            return;
        }
        let mut polls = tokio::task::JoinSet::new();
        for list in waiting {
            let list = Arc::clone(list);
            polls.spawn(async move { list.first_poll().await });
        }
        while polls.join_next().await.is_some() {}
        self.rebuild();
    }

    /// Starts the updaters of the lists with `url` until `shutdown`;
    /// lists a SIGHUP adds are started too.
    pub fn start(self: &Arc<Self>, shutdown: &CancellationToken) {
        let _ = self.shutdown.set(shutdown.clone());
        for list in self.lists() {
            self.start_one(&list);
        }
        self.tasks
            .spawn(schedule_timer(Arc::downgrade(self), shutdown.clone()));
    }

    fn start_one(self: &Arc<Self>, list: &ExtraSource) {
        let Some(shutdown) = self.shutdown.get() else {
            return;
        };
        let keeper = Arc::downgrade(self);
        list.start(&self.tasks, shutdown, move || {
            // A new version of the list (called off the async workers,
            // before the activation is counted): the profiles are put
            // together with it.
            if let Some(keeper) = keeper.upgrade() {
                keeper.rebuild();
            }
        });
    }

    /// Waits for the updaters to stop (after `shutdown`).
    pub async fn wait(&self) {
        self.tasks.close();
        self.tasks.wait().await;
    }

    /// The snapshot the engine reads.
    pub fn store(&self) -> &Arc<ProfileStore> {
        &self.store
    }

    /// The extra lists, in `[[lists]]` order.
    pub fn lists(&self) -> Vec<Arc<ExtraSource>> {
        lock(&self.state).lists.clone()
    }

    /// SIGHUP with a valid new `config`: every list reloaded (or opened,
    /// or dropped), the profiles replaced, and the snapshot built again.
    /// Overlapping networks (which a validated config cannot have) keep
    /// everything as it was.
    pub async fn reload(self: &Arc<Self>, config: &Config) -> Result<(), Vec<Overlap>> {
        check_overlaps(&config.profiles)?;
        let old = self.lists();
        let mut lists = Vec::with_capacity(config.lists.len());
        // Opened now: their updaters start once they are in force.
        let mut fresh = Vec::new();
        for settings in &config.lists {
            let previous = old.iter().find(|s| s.name() == settings.name);
            let source = match previous {
                Some(kept) if kept.settings() == settings => {
                    kept.reload().await;
                    Arc::clone(kept)
                }
                _ => {
                    let this = Arc::clone(self);
                    let settings = settings.clone();
                    let (store, metrics) = match previous {
                        Some(p) => {
                            // Its old updater must not write the store
                            // the new source now owns.
                            p.stop();
                            (Arc::clone(p.store()), Arc::clone(p.metrics()))
                        }
                        None => (
                            Arc::new(ListStore::new()),
                            Arc::new(self.families.handles(&settings.name)),
                        ),
                    };
                    // A version in force is kept unless the new one is
                    // accepted; with none, the first load's fallbacks
                    // (the last-known-good copy) apply.
                    let in_force = store.load().is_some();
                    let name = settings.name.clone();
                    let opened = tokio::task::spawn_blocking(move || {
                        let source = Arc::new(ExtraSource::open(
                            &settings,
                            &this.state_dir,
                            store,
                            metrics,
                        ));
                        if !in_force {
                            source.load_initial();
                        }
                        source
                    })
                    .await;
                    let Ok(source) = opened else {
                        error!(list = name, "extra list set-up task failed");
                        continue;
                    };
                    if previous.is_some() {
                        info!(list = name, "extra list settings changed");
                    }
                    if in_force {
                        source.reload().await;
                    }
                    fresh.push(Arc::clone(&source));
                    source
                }
            };
            lists.push(source);
        }
        for gone in old
            .iter()
            .filter(|o| !config.lists.iter().any(|s| s.name == o.name()))
        {
            info!(list = gone.name(), "extra list removed");
            gone.stop();
            self.families.remove(gone.name());
        }
        {
            let mut state = lock(&self.state);
            state.profiles = config.profiles.clone();
            state.lists = lists;
            state.time_zone = config.node.time_zone.clone();
        }
        for source in &fresh {
            self.start_one(source);
        }
        let this = Arc::clone(self);
        let _ = tokio::task::spawn_blocking(move || this.rebuild()).await;
        Ok(())
    }

    /// Builds the snapshot from the lists and profiles in force and swaps
    /// it in (blocking: the selector over every client network).
    pub fn rebuild(&self) {
        // Held while building, so that two rebuilds cannot swap out of
        // order.
        let state = lock(&self.state);
        let lists = state
            .lists
            .iter()
            .map(|s| ExtraList {
                name: s.name().to_owned(),
                list: s.store().load_full(),
            })
            .collect();
        let now = crate::profiles::now_in(&state.time_zone);
        match Profiles::build_at(&state.profiles, lists, &now) {
            Ok(built) => {
                let generation = built.generation;
                self.store.swap(built);
                self.rebuilt.notify_one();
                info!(
                    generation,
                    profiles = state.profiles.len(),
                    lists = state.lists.len(),
                    "profiles in force"
                );
            }
            Err(overlaps) => {
                let text: Vec<String> = overlaps.iter().map(ToString::to_string).collect();
                error!(overlaps = %text.join("; "), "ALARM: profiles not rebuilt; keeping those in force");
            }
        }
    }

    /// Each extra list's entry in `/list/status`, in `[[lists]]` order.
    pub fn status(&self) -> Vec<super::ExtraListStatus> {
        self.lists().iter().map(|l| l.status()).collect()
    }

    /// Refreshes every extra list's gauges (expiry).
    pub fn publish(&self) {
        for list in self.lists() {
            list.publish();
        }
    }
}

/// Builds the profiles again whenever a schedule window opens or closes,
/// so that a snapshot (its verdict tables and allow memo) never outlives
/// the windows it was built under. Sleeps until the snapshot's next
/// change, at most [`SCHEDULE_RECHECK`], or until a rebuild.
async fn schedule_timer(keeper: std::sync::Weak<ProfileKeeper>, shutdown: CancellationToken) {
    loop {
        let (wait, stale) = {
            let Some(k) = keeper.upgrade() else { return };
            let snapshot = k.store.load();
            let now = crate::profiles::now();
            let wait = snapshot
                .next_change()
                .map(|at| at.duration_since(now))
                .and_then(|d| std::time::Duration::try_from(d).ok())
                .map_or(SCHEDULE_RECHECK, |d| d.min(SCHEDULE_RECHECK));
            (wait, snapshot.schedule_stale(now))
        };
        if stale {
            let Some(k) = keeper.upgrade() else { return };
            info!("a schedule window opened or closed: profiles rebuilt");
            if tokio::task::spawn_blocking(move || k.rebuild())
                .await
                .is_err()
            {
                error!("profiles rebuild task failed");
            }
            continue;
        }
        let Some(k) = keeper.upgrade() else { return };
        tokio::select! {
            () = shutdown.cancelled() => return,
            () = tokio::time::sleep(wait) => {}
            () = k.rebuilt.notified() => {}
        }
    }
}

/// Whether the profiles' networks overlap (a validated config's cannot).
fn check_overlaps(profiles: &[ProfileSettings]) -> Result<(), Vec<Overlap>> {
    Profiles::build(profiles, Vec::new()).map(drop)
}

/// Locks a mutex; a poisoned one still holds consistent data here, since
/// every critical section only assigns.
fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::{Verdict, key_of_text};
    use crate::profiles::{ExtraListSettings, ListOrigin};

    fn config(dir: &std::path::Path, profiles: bool) -> Config {
        let mut config = Config::embedded();
        config.list.state_dir = dir.join("state");
        config.lists = vec![ExtraListSettings {
            name: "school".into(),
            origin: ListOrigin::Source {
                source: dir.join("school.txt"),
            },
        }];
        if profiles {
            config.profiles = vec![ProfileSettings {
                name: "primary".into(),
                clients: vec!["127.0.0.2/32".parse().unwrap()],
                age: 10,
                lists: vec!["school".into()],
                block_categories: Vec::new(),
                allow: None,
                mode: crate::profiles::Mode::Deny,
                schedule: Vec::new(),
                bypass: Default::default(),
                listen: Vec::new(),
                client_ids: Vec::new(),
                school: Default::default(),
                safe_search: Default::default(),
            }];
        }
        config
    }

    /// Whether the profile of 127.0.0.2 blocks `name`; `None` without one.
    fn blocks(keeper: &ProfileKeeper, name: &str) -> Option<bool> {
        let store = keeper.store();
        if !store.in_use() {
            return None;
        }
        let all = store.load();
        let profile = all.select("127.0.0.2".parse().unwrap())?;
        let key = key_of_text(name.as_bytes()).unwrap();
        Some(matches!(profile.decide(&key), Ok(Verdict::Block(_))))
    }

    #[tokio::test]
    async fn reloads_keep_a_broken_source_and_follow_a_fixed_one() {
        let dir = tempfile::tempdir().unwrap();
        let source = dir.path().join("school.txt");
        std::fs::write(&source, "games.test games\n").unwrap();
        let keeper =
            Arc::new(ProfileKeeper::load(&config(dir.path(), true), Default::default()).unwrap());
        assert_eq!(blocks(&keeper, "games.test"), Some(true));
        let first = keeper.store().load().generation;

        // Broken: the version compiled before stays, with the reason.
        std::fs::write(&source, "social.test social\nbad..test games\n").unwrap();
        keeper.reload(&config(dir.path(), true)).await.unwrap();
        assert_eq!(blocks(&keeper, "games.test"), Some(true));
        assert_eq!(blocks(&keeper, "social.test"), Some(false));
        let error = keeper.lists()[0].last_error().unwrap();
        assert!(error.contains("1 invalid line(s)"), "{error}");
        assert!(keeper.store().load().generation > first);

        // Fixed: the new version, and the error is gone.
        std::fs::write(&source, "social.test social\n").unwrap();
        keeper.reload(&config(dir.path(), true)).await.unwrap();
        assert_eq!(blocks(&keeper, "games.test"), Some(false));
        assert_eq!(blocks(&keeper, "social.test"), Some(true));
        assert_eq!(keeper.lists()[0].last_error(), None);

        // The last profile removed: nobody pays for profiles; added back.
        keeper.reload(&config(dir.path(), false)).await.unwrap();
        assert_eq!(blocks(&keeper, "social.test"), None);
        keeper.reload(&config(dir.path(), true)).await.unwrap();
        assert_eq!(blocks(&keeper, "social.test"), Some(true));

        // A list removed from the config is gone from the snapshot.
        let mut none = config(dir.path(), false);
        none.lists.clear();
        keeper.reload(&none).await.unwrap();
        assert!(keeper.store().load().lists().is_empty());
        assert!(keeper.lists().is_empty());
    }

    #[tokio::test]
    async fn overlapping_networks_change_nothing() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("school.txt"), "games.test games\n").unwrap();
        let good = config(dir.path(), true);
        let keeper = Arc::new(ProfileKeeper::load(&good, Default::default()).unwrap());
        let generation = keeper.store().load().generation;
        let mut bad = good.clone();
        let mut twin = bad.profiles[0].clone();
        twin.name = "twin".into();
        bad.profiles.push(twin);
        assert!(keeper.reload(&bad).await.is_err());
        assert_eq!(keeper.store().load().generation, generation);
        assert_eq!(blocks(&keeper, "games.test"), Some(true));
    }
}
