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

use self::fetch::{Fetched, Fetcher};
pub use self::keeper::{Candidate, Keeper, Offered, Origin, Refusal};
pub use self::local::{LocalError, LocalList};
pub use self::metrics::ListMetrics;
pub use self::source::{ListSource, LoadError, SourceError};
use self::state::LIST_FILE;
use crate::config::ListSettings;
use crate::instrument::label_enum;
use crate::list::{self, ListArtifact, TrustedKeys, Verified, VerifyError};
use crate::store::ListStore;

pub mod extra;
pub mod fetch;
pub mod keeper;
pub mod local;
pub mod metrics;
pub mod profiles;
pub mod source;
pub mod state;
#[cfg(test)]
mod tests;
pub mod watch;

/// The longest wait between polls after failures.
pub const MAX_BACKOFF: Duration = Duration::from_secs(30 * 60);
/// When the first poll after start-up comes (jittered), at the latest.
pub const FIRST_POLL_DELAY: Duration = Duration::from_secs(2);
/// The largest back-off multiplier of `poll_interval`.
const MAX_BACKOFF_FACTOR: u32 = 16;

label_enum! {
    /// The outcome of one poll of `list.url` (`ward_list_fetch_total`),
    /// and the reasons the acceptance rule refuses a candidate list from
    /// any source (`ward_list_rejected_total`).
    pub enum FetchResult {
        /// A newer list was downloaded, verified and put in force.
        Ok = "ok",
        /// 304, or the very list in force again.
        NotModified = "not_modified",
        /// A status other than 200/304.
        HttpError = "http_error",
        /// Connection, TLS or protocol failure (including a refused redirect).
        Network = "network",
        /// No complete answer within `list.timeout`.
        Timeout = "timeout",
        /// Larger than `list.max_size`.
        TooLarge = "too_large",
        /// Signed by a trusted key, but the signature does not verify.
        BadSignature = "bad_signature",
        /// Signed by a key not in `list.trusted_keys`.
        UntrustedKey = "untrusted_key",
        /// Older than the highest serial accepted.
        Rollback = "rollback",
        /// Same serial as the highest accepted, different content.
        Equivocation = "equivocation",
        /// Not a well-formed artifact (truncated, garbage, bad index).
        Corrupt = "corrupt",
        /// A valid artifact of another list id than the one this node follows.
        WrongList = "wrong_list",
        /// The download could not be stored or activated on local disk.
        Io = "io",
        /// Already past its expiry, while a list is in force.
        Expired = "expired",
    }
}

impl FetchResult {
    /// Whether this is a reason to refuse a candidate list (a
    /// `ward_list_rejected_total` label).
    pub const fn is_refusal(self) -> bool {
        matches!(
            self,
            Self::BadSignature
                | Self::UntrustedKey
                | Self::Rollback
                | Self::Equivocation
                | Self::Corrupt
                | Self::WrongList
                | Self::Io
                | Self::Expired
        )
    }

    /// Whether the poll failed (and the updater backs off).
    pub const fn is_failure(self) -> bool {
        !matches!(self, Self::Ok | Self::NotModified)
    }
}

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
    /// Each `[[lists]]` entry, in config order (absent without any).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub extra_lists: Vec<ExtraListStatus>,
}

/// One extra list (`[[lists]]`) in `/list/status`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExtraListStatus {
    /// Its `[[lists]]` name.
    pub name: String,
    /// Where it comes from: `source PATH`, `file PATH`, or the URL.
    pub origin: String,
    /// A version is in force.
    pub loaded: bool,
    pub list_id: Option<String>,
    pub serial: Option<u64>,
    pub sha256: Option<String>,
    pub entries: Option<u64>,
    pub expires_at: Option<Timestamp>,
    pub activated_at: Option<Timestamp>,
    /// Past `expires_at`: still enforced.
    pub stale: bool,
    /// Why the last load, reload or poll failed (the version in force, if
    /// any, stays); `None` after a success.
    pub last_error: Option<String>,
    /// With `url` only.
    pub updater: Option<UpdaterStatus>,
}

impl ExtraListStatus {
    /// `loaded`, `never loaded`, and the last error if any.
    pub fn state(&self) -> String {
        match (self.loaded, &self.last_error) {
            (true, None) => "loaded".to_owned(),
            (true, Some(e)) => {
                format!("loaded; the last update failed, version in force kept: {e}")
            }
            (false, None) => "never loaded".to_owned(),
            (false, Some(e)) => format!("never loaded: {e}"),
        }
    }
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
    keeper: Arc<Keeper>,
    seed: Option<PathBuf>,
    poll_interval: Duration,
    store: Arc<ListStore>,
    metrics: Arc<ListMetrics>,
    status: Mutex<UpdaterStatus>,
    poke: Notify,
    /// Called after each activation, before it is logged and counted (an
    /// extra list's profiles are put together again with it).
    on_activate: std::sync::OnceLock<Arc<Hook>>,
}

/// A callback after an activation.
struct Hook(Box<dyn Fn() + Send + Sync>);

impl std::fmt::Debug for Hook {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Hook")
    }
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
        metrics: Arc<ListMetrics>,
    ) -> Result<Self, SourceError> {
        let url = settings.url.clone().ok_or(SourceError::NoSource)?;
        let keeper = Keeper::new(
            &settings.state_dir,
            true,
            trust,
            Arc::clone(&store),
            Arc::clone(&metrics),
        )?;
        let fetcher = Fetcher::new(
            url.clone(),
            settings.ca_file.as_ref(),
            settings.timeout,
            settings.max_size,
        )
        .map_err(SourceError::Fetcher)?;
        let status = UpdaterStatus {
            url: url.to_string(),
            poll_interval_seconds: settings.poll_interval.as_secs(),
            highest_serial: keeper.highest_serial(),
            ..UpdaterStatus::default()
        };
        Ok(Self {
            fetcher,
            keeper: Arc::new(keeper),
            seed: settings.file.clone(),
            poll_interval: settings.poll_interval,
            store,
            metrics,
            status: Mutex::new(status),
            poke: Notify::new(),
            on_activate: std::sync::OnceLock::new(),
        })
    }

    /// The last-known-good list in `state_dir`, else the one before it,
    /// else the seed file, by the one acceptance rule ([`Keeper`]).
    /// Blocking (reads and verifies whole files): call it from
    /// `spawn_blocking`.
    pub fn load_initial(&self) -> Option<Verified<ListArtifact>> {
        let dir = self.keeper.dir()?;
        let origins = source::start_origins(true, self.seed.as_deref(), Some(dir));
        self.keeper.load_initial(&origins)
    }

    /// The file whose bytes must be those of the list in force.
    pub fn live_file(&self) -> Option<PathBuf> {
        self.keeper.dir().map(|d| d.join(LIST_FILE))
    }

    /// The keys downloads must be signed with.
    pub fn trusted(&self) -> &TrustedKeys {
        self.keeper.trusted()
    }

    /// The endpoint followed.
    pub fn url(&self) -> &reqwest::Url {
        self.fetcher.url()
    }

    /// Calls `hook` after every activation from now on, on a blocking
    /// thread, before the activation is logged and counted (once per
    /// updater: a second hook is ignored).
    pub fn on_activate(&self, hook: impl Fn() + Send + Sync + 'static) {
        let _ = self.on_activate.set(Arc::new(Hook(Box::new(hook))));
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
                self.metrics.set_last_success(now);
            }
            status.highest_serial = self.keeper.highest_serial();
            status.equivocation = self.keeper.equivocation();
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
        let since = self.keeper.validators();
        let fetched = self
            .fetcher
            .fetch(self.keeper.dir().unwrap_or(Path::new(".")), &since)
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
        // Verify, judge and activate off the async workers: this hashes
        // and walks the whole file, renames and fsyncs.
        let keeper = Arc::clone(&self.keeper);
        let hook = self.on_activate.get().cloned();
        let offered = tokio::task::spawn_blocking(move || {
            let candidate = keeper.check(file)?;
            let verify_time = started.elapsed() - downloaded;
            let serial = candidate.list().serial();
            let issued_at = candidate.list().manifest().issued_at;
            let offered = keeper.offer(candidate, Some(validators))?;
            if let (Offered::Activated { .. }, Some(hook)) = (offered, hook) {
                // Still off the async workers: the hook may build.
                (hook.0)();
            }
            Ok::<_, Refusal>((offered, serial, issued_at, verify_time))
        })
        .await
        .map_err(|e| (FetchResult::Io, format!("activation task failed: {e}")))?;
        let (offered, serial, issued_at, verify_time) =
            offered.map_err(|refusal| (refusal.result, refusal.reason))?;
        let (previous, swapped_at) = match offered {
            // The list in force, re-sent (no ETag support, or a new ETag
            // for the same bytes): its validators are remembered.
            Offered::Same => return Ok(FetchResult::NotModified),
            Offered::Activated {
                previous,
                swapped_at,
            } => (previous, swapped_at),
        };
        let elapsed = swapped_at.saturating_duration_since(started);
        self.metrics.set_activation(elapsed);
        if let Some(active) = self.store.load().as_ref() {
            self.metrics
                .set_list(Some(active), active.activated_at, Timestamp::now());
        }
        info!(
            serial,
            previous,
            bytes = len,
            %issued_at,
            download_ms = downloaded.as_millis() as u64,
            verify_ms = verify_time.as_millis() as u64,
            activation_ms = elapsed.as_millis() as u64,
            "new list activated"
        );
        Ok(FetchResult::Ok)
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

/// The fetch result a verification failure counts as.
pub(crate) fn verify_result(e: &VerifyError) -> FetchResult {
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

/// Locks a mutex; a poisoned one (a panic while held) still holds
/// consistent data here, since every critical section only assigns.
fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}
