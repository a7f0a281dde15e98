//! The list updater: follows `list.url`, verifies every download, persists
//! the last-known-good list, and swaps it in. It never rolls back and
//! never fails open.
//!
//! One poll ([`Updater::poll`]):
//!
//! 1. conditional GET into a temporary file in `state_dir` ([`fetch`]);
//! 2. off the async workers: memory-map and verify it (signature, trusted
//!    key, hash, format, a deep check of the name index);
//! 3. judge it against the highest serial ever accepted ([`state::judge`]):
//!    older is a *rollback*, the same serial with other bytes an
//!    *equivocation*, another list id a *wrong list*: all rejected;
//! 4. activate: rename the file over `state_dir/list.ward` (fsync file and
//!    directory), record the serial in `state.json`, then swap the
//!    already-mapped list into the [`ListStore`]. The mapping belongs to
//!    the renamed inode, so the bytes verified are the bytes served.
//!
//! Any failure leaves the list in force untouched, counts
//! `ward_list_fetch_total{result}`, logs at error level, and backs off:
//! after `k` failures in a row the next poll waits `poll_interval × 2^(k-1)`
//! (at most ×16 and at most [`MAX_BACKOFF`], never less than
//! `poll_interval`), jittered by ±10 % like every wait, so thousands of
//! nodes do not poll in step.
//!
//! Before the rename, the list in force is hard-linked as
//! `list.prev.ward`, so the previous artifact stays on disk after the new
//! one is live.
//!
//! Start-up ([`Updater::load_initial`]) takes `state_dir/list.ward`, else
//! `list.prev.ward`, else the `list.file` seed (copied into `state_dir` first, so a package
//! upgrade replacing the seed cannot pull pages from under the mapping),
//! else one poll of the network; all before any DNS answer is sent.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use jiff::Timestamp;
use serde::{Deserialize, Serialize};
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;
use tracing::{debug, error, info, warn};

use self::fetch::{Fetched, Fetcher, TempFile, Validators};
use self::state::{LIST_FILE, PREV_FILE, State, Verdict};
use crate::config::ListSettings;
use crate::list::{self, ListArtifact, TrustedKeys, Verified, VerifyError};
use crate::metrics::{FetchResult, Metrics};
use crate::store::ListStore;

pub mod fetch;
pub mod state;
#[cfg(test)]
mod tests;

/// The longest wait between polls after failures.
pub const MAX_BACKOFF: Duration = Duration::from_secs(30 * 60);
/// When the first poll after start-up comes (jittered), at the latest.
pub const FIRST_POLL_DELAY: Duration = Duration::from_secs(2);
/// The largest back-off multiplier of `poll_interval`.
const MAX_BACKOFF_FACTOR: u32 = 16;

/// The updater's view for `/list/status` and `ward list status`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct UpdaterStatus {
    pub url: String,
    pub poll_interval_seconds: u64,
    pub last_poll_at: Option<Timestamp>,
    /// A `ward_list_fetch_total` result label.
    pub last_result: Option<String>,
    pub last_error: Option<String>,
    pub last_success_at: Option<Timestamp>,
    pub consecutive_failures: u32,
    pub next_poll_at: Option<Timestamp>,
    pub highest_serial: u64,
    pub equivocation: bool,
}

/// The list in force and how it is kept current: `GET /list/status` on
/// the admin listener, printed by `ward list status`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ListStatus {
    /// Where lists come from: the URL, `file PATH`, or the embedded demo.
    pub source: String,
    pub loaded: bool,
    pub list_id: Option<String>,
    pub serial: Option<u64>,
    pub sha256: Option<String>,
    pub entries: Option<u64>,
    pub issued_at: Option<Timestamp>,
    pub expires_at: Option<Timestamp>,
    pub activated_at: Option<Timestamp>,
    /// Past `expires_at` with no newer list: still enforced.
    pub stale: bool,
    /// With `list.url` only.
    pub updater: Option<UpdaterStatus>,
}

impl ListStatus {
    /// The status of `store` now.
    pub fn of(source: String, store: &ListStore, updater: Option<UpdaterStatus>) -> Self {
        let now = Timestamp::now();
        let mut s = Self {
            source,
            updater,
            ..Self::default()
        };
        if let Some(active) = store.load().as_ref() {
            let m = active.manifest();
            s.loaded = true;
            s.list_id = Some(m.list_id.clone());
            s.serial = Some(m.serial);
            s.sha256 = Some(hex::encode(active.sha256()));
            s.entries = Some(m.entries);
            s.issued_at = Some(m.issued_at);
            s.expires_at = Some(m.expires_at);
            s.activated_at = Some(active.activated_at);
            s.stale = active.is_expired(now);
        }
        s
    }
}

/// Follows `list.url`.
#[derive(Debug)]
pub struct Updater {
    fetcher: Fetcher,
    trust: TrustedKeys,
    dir: PathBuf,
    seed: Option<PathBuf>,
    poll_interval: Duration,
    store: Arc<ListStore>,
    metrics: Arc<Metrics>,
    state: Mutex<State>,
    status: Mutex<UpdaterStatus>,
    poke: Notify,
}

/// What a poll did, for the caller's logs and tests.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PollOutcome {
    pub result: FetchResult,
    pub error: Option<String>,
}

impl Updater {
    /// Prepares `state_dir` (created if missing; stale downloads removed)
    /// and reads `state.json`.
    pub fn new(
        settings: &ListSettings,
        trust: TrustedKeys,
        store: Arc<ListStore>,
        metrics: Arc<Metrics>,
    ) -> anyhow::Result<Self> {
        use anyhow::Context;
        let url = settings.url.clone().context("the updater needs list.url")?;
        let dir = settings.state_dir.clone();
        std::fs::create_dir_all(&dir).with_context(|| {
            format!(
                "cannot create list.state_dir {}; create it, writable by ward",
                dir.display()
            )
        })?;
        let removed = state::remove_stale_downloads(&dir);
        if removed > 0 {
            info!(removed, dir = %dir.display(), "removed unfinished downloads left by an earlier run");
        }
        let state = State::load(&dir).unwrap_or_else(|reason| {
            error!(%reason, "ALARM: the updater state is unreadable; rollback protection restarts from the list on disk");
            State::default()
        });
        let fetcher = Fetcher::new(
            url.clone(),
            settings.ca_file.as_deref(),
            settings.timeout,
            settings.max_size,
        )
        .map_err(anyhow::Error::msg)?;
        let status = UpdaterStatus {
            url: url.to_string(),
            poll_interval_seconds: settings.poll_interval.as_secs(),
            highest_serial: state.highest_serial,
            ..UpdaterStatus::default()
        };
        Ok(Self {
            fetcher,
            trust,
            dir,
            seed: settings.file.clone(),
            poll_interval: settings.poll_interval,
            store,
            metrics,
            state: Mutex::new(state),
            status: Mutex::new(status),
            poke: Notify::new(),
        })
    }

    /// The last-known-good list in `state_dir`, else the one before it,
    /// else the seed file. Blocking (reads and verifies whole files): call
    /// it from `spawn_blocking`.
    pub fn load_initial(&self) -> Option<Verified<ListArtifact>> {
        for (name, what) in [
            (LIST_FILE, "last-known-good list"),
            (PREV_FILE, "previous list"),
        ] {
            let path = self.dir.join(name);
            match open_checked(&path, &self.trust) {
                Ok(list) => {
                    if name == PREV_FILE {
                        self.restore_previous();
                    }
                    self.adopt(&list);
                    info!(path = %path.display(), serial = list.serial(), "{what} loaded");
                    return Some(list);
                }
                Err(reason) if path.exists() => {
                    error!(%reason, path = %path.display(), "ALARM: the {what} is unusable");
                }
                Err(_) => debug!(path = %path.display(), "no {what}"),
            }
        }
        let seed = self.seed.as_deref()?;
        match self.install_seed(seed) {
            Ok(list) => Some(list),
            Err(reason) => {
                error!(%reason, seed = %seed.display(), "ALARM: the seed list is unusable");
                None
            }
        }
    }

    /// Records a list found in `state_dir` as accepted.
    fn adopt(&self, list: &ListArtifact) {
        let mut state = lock(&self.state);
        if state
            .list_id
            .as_deref()
            .is_some_and(|id| id != list.list_id())
        {
            error!(
                follows = state.list_id.as_deref().unwrap_or_default(),
                found = list.list_id(),
                "ALARM: the list in state_dir has another list id than the state records; using it"
            );
            state.list_id = None;
        }
        state.remember(list);
        self.save_state(&state);
    }

    /// Points `list.ward` at the previous list again (after the current
    /// one was found unusable), so the next activation keeps a good
    /// previous copy.
    fn restore_previous(&self) {
        let result = TempFile::new_in(&self.dir).and_then(|temp| {
            std::fs::hard_link(self.dir.join(PREV_FILE), temp.path())?;
            temp.commit(&self.dir.join(LIST_FILE))
        });
        if let Err(e) = result {
            warn!(error = %e, "cannot restore the previous list as list.ward");
        }
    }

    /// Copies the seed into `state_dir`, verifies the copy, and makes it
    /// the last-known-good list.
    fn install_seed(&self, seed: &Path) -> Result<Verified<ListArtifact>, String> {
        let temp = TempFile::new_in(&self.dir).map_err(|e| e.to_string())?;
        copy_durably(seed, temp.path()).map_err(|e| {
            format!(
                "cannot copy {} into {}: {e}",
                seed.display(),
                self.dir.display()
            )
        })?;
        let list = open_checked(temp.path(), &self.trust)
            .map_err(|e| format!("{}: {e}", seed.display()))?;
        let mut state = lock(&self.state);
        if list.serial() < state.highest_serial {
            // Enforcing an older list beats enforcing none; the next poll
            // can still only move forward from `highest_serial`.
            warn!(
                serial = list.serial(),
                highest = state.highest_serial,
                "the seed list is older than the highest serial accepted; enforcing it until the endpoint answers"
            );
        }
        temp.commit(&self.dir.join(LIST_FILE))
            .map_err(|e| format!("cannot install the seed in {}: {e}", self.dir.display()))?;
        state
            .list_id
            .get_or_insert_with(|| list.list_id().to_owned());
        state.remember(&list);
        // The validators belonged to whatever was there before.
        state.validators = Validators::default();
        state.validators_for = None;
        self.save_state(&state);
        info!(seed = %seed.display(), serial = list.serial(), "seed list installed as last-known-good");
        Ok(list)
    }

    /// The keys downloads must be signed with.
    pub fn trusted(&self) -> &TrustedKeys {
        &self.trust
    }

    /// The endpoint followed.
    pub fn url(&self) -> &reqwest::Url {
        self.fetcher.url()
    }

    /// Asks for an immediate poll (SIGHUP).
    pub fn poke(&self) {
        self.poke.notify_one();
    }

    /// The status for `/list/status`.
    pub fn status(&self) -> UpdaterStatus {
        lock(&self.status).clone()
    }

    /// Polls until `shutdown`: every `poll_interval` (±10 %), sooner on
    /// [`poke`](Self::poke), later after failures.
    ///
    /// The first poll comes [`FIRST_POLL_DELAY`] after start-up, not a
    /// whole interval later: a node restarted after downtime catches up
    /// with the ministry at once instead of enforcing an old list for
    /// another `poll_interval`.
    pub async fn run(self: Arc<Self>, shutdown: CancellationToken) {
        let mut first = true;
        loop {
            let mut wait = self.next_wait();
            if std::mem::take(&mut first) {
                wait = wait.min(jitter(FIRST_POLL_DELAY));
            }
            lock(&self.status).next_poll_at = Timestamp::now()
                .checked_add(jiff::SignedDuration::try_from(wait).unwrap_or_default())
                .ok();
            tokio::select! {
                () = tokio::time::sleep(wait) => {}
                () = self.poke.notified() => info!("SIGHUP: polling the list endpoint now"),
                () = shutdown.cancelled() => break,
            }
            tokio::select! {
                _ = self.poll() => {}
                () = shutdown.cancelled() => break,
            }
        }
    }

    fn next_wait(&self) -> Duration {
        let failures = lock(&self.status).consecutive_failures;
        let base = if failures == 0 {
            self.poll_interval
        } else {
            let factor = 1u32 << (failures - 1).min(MAX_BACKOFF_FACTOR.trailing_zeros());
            self.poll_interval
                .saturating_mul(factor)
                .min(MAX_BACKOFF.max(self.poll_interval))
        };
        jitter(base)
    }

    /// One poll: fetch, verify, judge, activate. Never disturbs the list in
    /// force unless a newer verified one replaces it.
    pub async fn poll(&self) -> PollOutcome {
        let started = Instant::now();
        let outcome = match self.poll_inner(started).await {
            Ok(result) => PollOutcome {
                result,
                error: None,
            },
            Err((result, reason)) => PollOutcome {
                result,
                error: Some(reason),
            },
        };
        self.metrics.list_fetch(outcome.result);
        let now = Timestamp::now();
        {
            let mut status = lock(&self.status);
            status.last_poll_at = Some(now);
            status.last_result = Some(outcome.result.as_str().to_owned());
            status.last_error.clone_from(&outcome.error);
            if outcome.result.is_failure() {
                status.consecutive_failures = status.consecutive_failures.saturating_add(1);
            } else {
                status.consecutive_failures = 0;
                status.last_success_at = Some(now);
            }
            status.highest_serial = lock(&self.state).highest_serial;
        }
        if let Some(reason) = &outcome.error {
            let serial = self.store.load().as_ref().map(|a| a.serial());
            error!(
                result = outcome.result.as_str(),
                %reason,
                url = %self.fetcher.url(),
                ?serial,
                "ALARM: list update failed; keeping the list in force"
            );
        }
        if let Some(active) = self.store.load().as_ref()
            && active.is_expired(now)
        {
            warn!(
                serial = active.serial(),
                expires_at = %active.manifest().expires_at,
                "the list in force is stale (past expires_at) and no newer list has arrived; still enforcing it"
            );
        }
        outcome
    }

    async fn poll_inner(&self, started: Instant) -> Result<FetchResult, (FetchResult, String)> {
        let current = self.store.load_full();
        let current_sha = current.as_ref().map(|a| a.sha256());
        let since = {
            let state = lock(&self.state);
            match (&state.validators_for, current_sha) {
                (Some(for_sha), Some(sha)) if *for_sha == hex::encode(sha) => {
                    state.validators.clone()
                }
                _ => Validators::default(),
            }
        };
        let fetched = self
            .fetcher
            .fetch(&self.dir, &since)
            .await
            .map_err(|e| (e.result(), e.to_string()))?;
        let (file, len, validators) = match fetched {
            Fetched::NotModified => {
                debug!("list endpoint: 304 not modified");
                return Ok(FetchResult::NotModified);
            }
            Fetched::Downloaded {
                file,
                len,
                validators,
            } => (file, len, validators),
        };

        let downloaded = started.elapsed();
        // Verify off the async workers: this hashes and walks the whole file.
        let trust = self.trust.clone();
        let (file, verified) = tokio::task::spawn_blocking(move || {
            let verified = open_checked(file.path(), &trust);
            (file, verified)
        })
        .await
        .map_err(|e| (FetchResult::Io, format!("verification task failed: {e}")))?;
        let list =
            verified.map_err(|e| (verify_result(&e), format!("downloaded list rejected: {e}")))?;
        let verify_time = started.elapsed() - downloaded;

        let verdict = state::judge(&lock(&self.state), current_sha, &list);
        match verdict {
            Verdict::Accept => {}
            Verdict::Same => {
                // The list in force, re-sent (no ETag support, or a new
                // ETag for the same bytes): remember the validators.
                let mut state = lock(&self.state);
                state.validators = validators;
                state.validators_for = Some(hex::encode(list.sha256()));
                self.save_state(&state);
                return Ok(FetchResult::NotModified);
            }
            Verdict::Rollback { serial, highest } => {
                return Err((
                    FetchResult::Rollback,
                    format!(
                        "rollback refused: serial {serial} is older than serial {highest}, already accepted"
                    ),
                ));
            }
            Verdict::Equivocation {
                serial,
                accepted,
                offered,
            } => {
                self.metrics.set_equivocation(true);
                lock(&self.status).equivocation = true;
                return Err((
                    FetchResult::Equivocation,
                    format!(
                        "EQUIVOCATION: serial {serial} was accepted with sha256 {accepted}, and is now offered with sha256 {offered}; the signer issued two different lists under one serial (key compromise or publishing error); report it to the ministry"
                    ),
                ));
            }
            Verdict::WrongList { follows, offered } => {
                return Err((
                    FetchResult::WrongList,
                    format!(
                        "the endpoint served list id {offered:?}, but this node follows {follows:?}"
                    ),
                ));
            }
        }

        // Activate: the rename is the commit point on disk; the swap
        // follows immediately.
        let dir = self.dir.clone();
        let (list, committed) = tokio::task::spawn_blocking(move || {
            keep_previous(&dir);
            let committed = file.commit(&dir.join(LIST_FILE));
            (list, committed)
        })
        .await
        .map_err(|e| (FetchResult::Io, format!("activation task failed: {e}")))?;
        committed.map_err(|e| {
            (
                FetchResult::Io,
                format!("cannot install the new list in {}: {e}", self.dir.display()),
            )
        })?;
        {
            let mut state = lock(&self.state);
            state.remember(&list);
            state.validators = validators;
            state.validators_for = Some(hex::encode(list.sha256()));
            self.save_state(&state);
        }
        let (serial, issued_at) = (list.serial(), list.manifest().issued_at);
        let previous = self.store.swap(list);
        let elapsed = started.elapsed();
        self.metrics.set_activation(elapsed);
        self.metrics.set_equivocation(false);
        lock(&self.status).equivocation = false;
        if let Some(active) = self.store.load().as_ref() {
            self.metrics
                .set_list(Some(active), active.activated_at, Timestamp::now());
        }
        info!(
            serial,
            previous = previous.as_ref().map(|p| p.serial()),
            bytes = len,
            %issued_at,
            download_ms = downloaded.as_millis() as u64,
            verify_ms = verify_time.as_millis() as u64,
            activation_ms = elapsed.as_millis() as u64,
            "new list activated"
        );
        Ok(FetchResult::Ok)
    }

    fn save_state(&self, state: &State) {
        if let Err(e) = state.save(&self.dir) {
            error!(error = %e, dir = %self.dir.display(), "ALARM: cannot write the updater state; rollback protection may be lost on restart");
        }
    }
}

/// Opens, verifies and deep-checks an artifact, and computes its SHA-256
/// (so nothing on the serving path ever hashes the file).
///
/// The file's SHA-256 and the deep check are independent reads of the
/// verified bytes, so they run side by side: with a second CPU, a
/// 10-million-name list is in force about a fifth sooner.
pub fn open_checked(
    path: &Path,
    trust: &TrustedKeys,
) -> Result<Verified<ListArtifact>, VerifyError> {
    let list = list::open_file(path, trust)?;
    std::thread::scope(|scope| {
        let hashing = scope.spawn(|| {
            let _ = list.sha256();
        });
        let checked = list.deep_check();
        // A panic while hashing is impossible (SHA-256 over a byte slice);
        // if one happened, the digest is computed again on first use.
        let _ = hashing.join();
        checked
    })?;
    Ok(list)
}

/// Keeps the list in force as `list.prev.ward` (a hard link: no copy)
/// before a new one replaces it, so the previous artifact stays on disk
/// after the new one is live, and start-up can fall back to it.
fn keep_previous(dir: &Path) {
    let (live, prev) = (dir.join(LIST_FILE), dir.join(PREV_FILE));
    if !live.exists() {
        return;
    }
    let _ = std::fs::remove_file(&prev);
    if let Err(e) = std::fs::hard_link(&live, &prev) {
        warn!(error = %e, "cannot keep the previous list as {}", prev.display());
    }
}

/// The fetch result a verification failure counts as.
fn verify_result(e: &VerifyError) -> FetchResult {
    match e {
        VerifyError::UnknownKey { .. } => FetchResult::UntrustedKey,
        VerifyError::BadSignature { .. } => FetchResult::BadSignature,
        VerifyError::Io { .. } => FetchResult::Io,
        _ => FetchResult::Corrupt,
    }
}

/// `d` scaled by a random factor in [0.9, 1.1).
pub fn jitter(d: Duration) -> Duration {
    let mut b = [0u8; 8];
    // Without randomness, no jitter: still correct, only less spread.
    if getrandom::fill(&mut b).is_err() {
        return d;
    }
    let unit = (u64::from_le_bytes(b) >> 11) as f64 / (1u64 << 53) as f64;
    d.mul_f64(0.9 + 0.2 * unit)
}

fn copy_durably(from: &Path, to: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::OpenOptionsExt;
    let mut src = std::fs::File::open(from)?;
    let mut dst = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o644)
        .open(to)?;
    std::io::copy(&mut src, &mut dst)?;
    dst.sync_all()
}

/// Locks a mutex; a poisoned one (a panic while held) still holds
/// consistent data here, since every critical section only assigns.
fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}
