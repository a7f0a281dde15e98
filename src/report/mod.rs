//! Compliance reports: one signed JSON document per window, spooled to
//! disk, delivered to the ministry's collector over HTTPS.
//!
//! Two tasks, started by `ward serve` when `[report]` is configured:
//!
//! * **windows**: at each multiple of `report.interval` (wall clock, so
//!   every node's windows line up), take a snapshot of the counters,
//!   subtract the previous one, build the report ([`body`]), and write it
//!   to the spool ([`spool`]) before anything is sent. On SIGTERM the
//!   window in progress is closed early and spooled too.
//! * **delivery**: send the oldest spooled report ([`send`]); on 2xx
//!   delete it and go on, on another 4xx move it to `rejected/`, on a
//!   network error, 408, 429, 5xx, 1xx or 3xx wait (exponential back-off with jitter, or
//!   `Retry-After`) and retry the same report. Reports therefore arrive
//!   in window order; a restart resends the spool, oldest first.
//!
//! Delivery is at least once: a crash after the collector accepted a
//! report but before it was deleted resends it, and the collector drops
//! the duplicate by `report_id`. See `docs/compliance-report.md`.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use jiff::Timestamp;
use serde::{Deserialize, Serialize};
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;
use tracing::{debug, error, info, warn};

use self::body::{Label, ListInForce, ListSerial, PolicyDigest, ProfileInfo, SchoolWindow, Window};
use self::send::{Backoff, Sender};
use self::spool::Spool;
use crate::config::{Config, ReportKind, ReportSettings};
use crate::keys::KeyId;
use crate::metrics::{CounterSnapshot, Metrics, SendResult};
use crate::profiles::{NATIONAL_LIST_NAME, ProfileStore, Profiles};
use crate::store::{Activation, Active, ListStore};

pub mod body;
pub mod send;
pub mod spool;

/// In `spool_dir`: which artifact is in force and since when, so a
/// restart does not reset `list.activated_at`.
pub const SINCE_FILE: &str = "list-in-force.state";

/// In `spool_dir`: the end of the last window spooled, so a restart
/// after the wall clock stepped back never repeats or overlaps a window.
pub const WINDOW_END_FILE: &str = "last-window-end.state";

/// Why the reporter cannot start.
#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    #[error("cannot open the report spool {dir}: {source}")]
    Spool {
        dir: PathBuf,
        source: std::io::Error,
    },
    /// Shown, not a `source`: the text is already in this message.
    #[error("report.url: {0}")]
    Client(send::ClientError),
}

/// The policy-relevant settings of a config (see [`PolicyDigest`]).
pub fn policy_digest(config: &Config, trusted: &[KeyId]) -> String {
    let b = &config.block;
    PolicyDigest {
        block_action: b.mode.as_str().to_owned(),
        sinkhole_ipv4: b.ipv4.iter().map(ToString::to_string).collect(),
        sinkhole_ipv6: b.ipv6.iter().map(ToString::to_string).collect(),
        block_ttl: b.ttl,
        trusted_key_ids: trusted.iter().map(ToString::to_string).collect(),
        list_url: config.list.url.as_ref().map(|u| u.to_string()),
        require_list: config.list.require_list,
        min_count: config
            .report
            .as_ref()
            .map_or(crate::config::DEFAULT_MIN_COUNT, |r| r.min_count),
        sni: config
            .sni
            .as_ref()
            .map(|s| s.on_unparsable.as_str().to_owned()),
        http: config
            .http
            .as_ref()
            .map(|s| s.on_unparsable.as_str().to_owned()),
    }
    .digest()
}

/// The end of the window that contains `t`: the next multiple of
/// `interval` (seconds since the epoch) strictly after `t`.
pub fn window_end_after(t: Timestamp, interval: Duration) -> Timestamp {
    let step = i64::try_from(interval.as_secs().max(1)).unwrap_or(i64::MAX);
    let secs = t.as_second();
    let end = (secs.div_euclid(step) + 1).saturating_mul(step);
    Timestamp::from_second(end).unwrap_or(Timestamp::MAX)
}

/// The last multiple of `interval` at or before `t`.
fn window_floor(t: Timestamp, interval: Duration) -> Timestamp {
    let step = i64::try_from(interval.as_secs().max(1)).unwrap_or(i64::MAX);
    let secs = t.as_second();
    Timestamp::from_second(secs.div_euclid(step).saturating_mul(step)).unwrap_or(t)
}

/// Truncates to whole milliseconds, the precision of windows and report
/// ids (so a run's last, partial window and the next run's first never
/// share a start even within one second).
fn whole_millis(t: Timestamp) -> Timestamp {
    Timestamp::from_millisecond(t.as_millisecond()).unwrap_or(t)
}

/// `SINCE_FILE`'s content.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct Since {
    sha256: String,
    activated_at: Timestamp,
}

/// The window task's memory between reports.
#[derive(Debug)]
struct WindowState {
    start: Timestamp,
    baseline: CounterSnapshot,
    /// Activations up to this generation are already reported.
    seen_generation: u64,
    since: Option<Since>,
}

/// The compliance reporter.
#[derive(Debug)]
pub struct Reporter {
    settings: ReportSettings,
    spool: Spool,
    sender: Sender,
    metrics: Arc<Metrics>,
    store: Arc<ListStore>,
    /// The school profiles, with `[[profile]]` (read by school reports).
    profiles: Option<Arc<ProfileStore>>,
    config_digest: String,
    started_at: Timestamp,
    /// Activations up to this generation happened while ward started.
    startup_generation: u64,
    spooled: Notify,
    state: Mutex<WindowState>,
}

impl Reporter {
    /// Opens the spool and sets up the HTTPS client with the node key
    /// (read when the config was loaded).
    /// `started_at` is when the process started: the first window begins
    /// there, and the counters were zero then.
    pub fn new(
        settings: &ReportSettings,
        config_digest: String,
        store: Arc<ListStore>,
        metrics: Arc<Metrics>,
        started_at: Timestamp,
    ) -> Result<Self, ReportError> {
        let key = settings.key.key().clone();
        let spool = Spool::open(&settings.spool_dir, settings.spool_max_bytes).map_err(|e| {
            ReportError::Spool {
                dir: settings.spool_dir.clone(),
                source: e,
            }
        })?;
        let sender = Sender::new(settings.url.clone(), settings.ca_file.as_ref(), key)
            .map_err(ReportError::Client)?;
        let since = read_since(&settings.spool_dir);
        let startup_generation = store.load().as_ref().map_or(0, |a| a.generation);
        let started_at = whole_millis(started_at);
        let mut start = started_at;
        if let Some(last_end) = read_window_end(&settings.spool_dir)
            && last_end > started_at
        {
            error!(
                started_at = %started_at,
                last_window_end = %last_end,
                "the wall clock is behind the end of the last spooled report window (it stepped back?); the first window starts there instead, so windows never overlap. Check NTP"
            );
            start = last_end;
        }
        Ok(Self {
            settings: settings.clone(),
            spool,
            sender,
            metrics,
            store,
            profiles: None,
            config_digest,
            started_at,
            startup_generation,
            spooled: Notify::new(),
            state: Mutex::new(WindowState {
                start,
                baseline: CounterSnapshot::default(),
                seen_generation: 0,
                since,
            }),
        })
    }

    /// Reads the school profiles from `store` (for `kind = "school"`).
    pub fn with_profiles(mut self, store: Option<Arc<ProfileStore>>) -> Self {
        self.profiles = store;
        self
    }

    /// Runs both tasks until `shutdown`; then closes the window in
    /// progress into the spool.
    pub async fn run(self: Arc<Self>, shutdown: CancellationToken) {
        let waiting = self.spool.len().unwrap_or(0);
        self.metrics.set_report_spool(waiting);
        info!(
            url = %self.sender.url(),
            interval = %humantime::format_duration(self.settings.interval),
            spool = %self.settings.spool_dir.display(),
            waiting,
            "compliance reports enabled"
        );
        let delivery = tokio::spawn(Arc::clone(&self).deliver(shutdown.clone()));
        Arc::clone(&self).windows(shutdown).await;
        let _ = delivery.await;
    }

    async fn windows(self: Arc<Self>, shutdown: CancellationToken) {
        loop {
            let start = lock(&self.state).start;
            let end = window_end_after(start, self.settings.interval);
            tokio::select! {
                () = sleep_until(end) => {}
                () = shutdown.cancelled() => {
                    let now = whole_millis(Timestamp::now());
                    if now > start {
                        self.close_window_blocking(now).await;
                    }
                    return;
                }
            }
            // A clock that jumped ahead makes one long window, not a burst.
            let end = window_floor(Timestamp::now(), self.settings.interval).max(end);
            self.close_window_blocking(end).await;
        }
    }

    /// [`Self::close_window`] off the async workers: it fsyncs, and the
    /// DNS loops share those threads.
    async fn close_window_blocking(self: &Arc<Self>, end: Timestamp) {
        let me = Arc::clone(self);
        if let Err(e) = tokio::task::spawn_blocking(move || me.close_window(end)).await {
            error!(error = %e, "the report window task failed");
        }
    }

    /// Runs a spool operation off the async workers.
    async fn on_spool<T: Send + 'static>(
        self: &Arc<Self>,
        f: impl FnOnce(&Spool) -> std::io::Result<T> + Send + 'static,
    ) -> std::io::Result<T> {
        let me = Arc::clone(self);
        tokio::task::spawn_blocking(move || f(&me.spool))
            .await
            .unwrap_or_else(|e| Err(std::io::Error::other(e)))
    }

    /// Builds the report for `[start, end)` and spools it.
    fn close_window(&self, end: Timestamp) {
        let (report, snapshot, seen_generation) = self.build_report(end);
        let name = spool::file_name(report.window_start.as_millisecond(), &report.report_id);
        let bytes = report.to_bytes();
        match self.spool.push(&name, &bytes) {
            Ok(pushed) => {
                // Only now is the window reported: a failed write leaves
                // the start and baseline where they were, so the next
                // report covers this window too and nothing is lost.
                self.commit_window(end, snapshot, seen_generation);
                if pushed.dropped > 0 {
                    self.metrics.report_dropped(pushed.dropped);
                }
                self.metrics.set_report_spool(pushed.reports);
                debug!(
                    report_id = %report.report_id,
                    window_start = %report.window_start,
                    window_end = %report.window_end,
                    bytes = bytes.len(),
                    "report spooled"
                );
                self.spooled.notify_one();
            }
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                self.keep_spooled(&report, &name, end);
            }
            Err(e) => {
                self.metrics.report_spool_write_failed();
                error!(
                    error = %e,
                    report_id = %report.report_id,
                    spool = %self.settings.spool_dir.display(),
                    "ALARM: cannot write the compliance report to the spool; the next report will cover this window too"
                );
            }
        }
    }

    /// The report for the window ending at `end`, with the counter
    /// snapshot and the activation generation it covers: both are
    /// committed to the state only once the report is on disk.
    fn build_report(&self, end: Timestamp) -> (body::Report, CounterSnapshot, u64) {
        let mut st = lock(&self.state);
        let snapshot = self.metrics.snapshot();
        let delta = snapshot.since(&st.baseline);
        let active = self.store.load_full();
        let (activations, seen_generation) = self.unreported_activations(&st);
        let list = active.as_ref().map(|a| self.list_in_force(&mut st, a, end));
        let window = Window {
            isp_id: &self.settings.isp_id,
            node_id: &self.settings.node_id,
            start: st.start,
            end,
            node_started_at: self.started_at,
            config_digest: &self.config_digest,
            min_count: self.settings.min_count,
            list,
            categories: category_names(active.as_deref()),
            activations: &activations,
        };
        let report = match self.settings.kind {
            ReportKind::Isp => body::build(&window, &delta),
            ReportKind::School => {
                let profiles = self.profiles.as_ref().map(|p| p.load_full());
                let school = school_window(active.as_deref(), profiles.as_deref());
                body::build_school(&window, &school, &delta)
            }
        };
        (report, snapshot, seen_generation)
    }

    /// The activations not yet reported, each with whether it happened
    /// while ward started, and the newest generation seen.
    fn unreported_activations(&self, st: &WindowState) -> (Vec<(Activation, bool)>, u64) {
        let mut activations = Vec::new();
        let mut seen_generation = st.seen_generation;
        for a in self.store.activations_after(st.seen_generation) {
            seen_generation = seen_generation.max(a.generation);
            let at_startup = a.generation <= self.startup_generation;
            // A restart that reloads the list already in force is not
            // an activation.
            let reloaded = at_startup
                && st
                    .since
                    .as_ref()
                    .is_some_and(|s| s.sha256 == hex::encode(a.sha256));
            if !reloaded {
                activations.push((a, at_startup));
            }
        }
        (activations, seen_generation)
    }

    /// The list in force at `end`. A list not in force before has its
    /// activation time recorded in [`SINCE_FILE`].
    fn list_in_force(&self, st: &mut WindowState, a: &Active, end: Timestamp) -> ListInForce {
        let sha = hex::encode(a.sha256());
        let since = match &st.since {
            Some(s) if s.sha256 == sha => s.activated_at,
            _ => {
                let s = Since {
                    sha256: sha.clone(),
                    activated_at: a.activated_at,
                };
                write_since(&self.settings.spool_dir, &s);
                st.since = Some(s);
                a.activated_at
            }
        };
        let m = a.manifest();
        ListInForce {
            list_id: m.list_id.clone(),
            serial: m.serial,
            sha256: sha,
            issued_at: m.issued_at,
            expires_at: m.expires_at,
            activated_at: since,
            stale: a.is_expired(end),
        }
    }

    /// Marks the window ending at `end` as reported.
    fn commit_window(&self, end: Timestamp, snapshot: CounterSnapshot, seen_generation: u64) {
        {
            let mut st = lock(&self.state);
            st.baseline = snapshot;
            st.start = end;
            st.seen_generation = seen_generation;
        }
        write_window_end(&self.settings.spool_dir, end);
    }

    /// A report with this window start is already spooled (the clock
    /// stepped back and the window-end state was lost). Keeps it, and
    /// carries this window's counts (the baseline stays) into a report
    /// that starts after the spooled one ends.
    fn keep_spooled(&self, report: &body::Report, name: &str, end: Timestamp) {
        let existing = std::fs::read(self.settings.spool_dir.join(name))
            .ok()
            .and_then(|b| serde_json::from_slice::<body::Report>(&b).ok())
            .map(|r| r.window_end);
        let next_start = existing.filter(|&t| t > report.window_start).unwrap_or(end);
        lock(&self.state).start = next_start;
        self.metrics.report_spool_write_failed();
        error!(
            report_id = %report.report_id,
            window_start = %report.window_start,
            next_window_start = %next_start,
            "ALARM: a report for this window start is already spooled (the wall clock stepped back?); it is kept, not replaced, and this window's counts go into the next report. Check NTP"
        );
    }

    /// Sends spooled reports, oldest first, until `shutdown`.
    async fn deliver(self: Arc<Self>, shutdown: CancellationToken) {
        let mut backoff = Backoff::new(self.settings.interval);
        loop {
            let next = match self.on_spool(Spool::take_oldest).await {
                Ok(next) => next,
                Err(e) => {
                    error!(error = %e, spool = %self.settings.spool_dir.display(), "cannot read the report spool");
                    None
                }
            };
            let Some(item) = next else {
                tokio::select! {
                    () = self.spooled.notified() => continue,
                    () = shutdown.cancelled() => return,
                }
            };
            let report_id = report_id_of(&item.name);
            let began = std::time::Instant::now();
            let sent = tokio::select! {
                sent = self.sender.send(report_id, item.body) => sent,
                () = shutdown.cancelled() => {
                    self.spool.release();
                    return;
                }
            };
            self.metrics.report_sent(sent.result);
            let retry = match sent.result {
                SendResult::Ok => self.delivered(&item.name, &sent, began, &mut backoff).await,
                SendResult::Rejected => self.rejected(&item.name, &sent, &mut backoff).await,
                _ => Some(self.undelivered(report_id, &sent, &mut backoff)),
            };
            if let Some(wait) = retry
                && !wait_or_stop(wait, &shutdown).await
            {
                return;
            }
            let waiting = self.on_spool(|s| s.len()).await.unwrap_or(0);
            self.metrics.set_report_spool(waiting);
        }
    }

    /// The collector took the report: deletes it from the spool. Returns
    /// how long to wait before the next one if it could not be deleted.
    async fn delivered(
        self: &Arc<Self>,
        name: &str,
        sent: &send::Sent,
        began: std::time::Instant,
        backoff: &mut Backoff,
    ) -> Option<Duration> {
        let report_id = report_id_of(name);
        self.metrics.report_delivered(Timestamp::now());
        info!(
            report_id,
            status = sent.status,
            elapsed_ms = u64::try_from(began.elapsed().as_millis()).unwrap_or(u64::MAX),
            "compliance report delivered"
        );
        let owned = name.to_owned();
        if let Err(e) = self.on_spool(move |s| s.done(&owned)).await {
            // It will be sent again (the collector drops the duplicate by
            // report_id); not at once, or a read-only spool would hammer
            // the collector.
            error!(error = %e, report_id, "cannot delete a delivered report from the spool; it will be sent again");
            self.spool.release();
            return Some(backoff.wait(None));
        }
        backoff.reset();
        None
    }

    /// The collector refused the report: moves it to `rejected/`.
    /// Returns how long to wait before the next one if it could not be
    /// moved.
    async fn rejected(
        self: &Arc<Self>,
        name: &str,
        sent: &send::Sent,
        backoff: &mut Backoff,
    ) -> Option<Duration> {
        let report_id = report_id_of(name);
        error!(
            report_id,
            status = sent.status,
            detail = %sent.detail,
            "the collector refused a compliance report; kept in rejected/, not retried"
        );
        let owned = name.to_owned();
        match self.on_spool(move |s| s.reject(&owned)).await {
            Ok(pruned) => {
                if pruned > 0 {
                    self.metrics.report_dropped(pruned);
                }
                None
            }
            Err(e) => {
                error!(error = %e, report_id, "cannot move the refused report to rejected/");
                self.spool.release();
                Some(backoff.wait(None))
            }
        }
    }

    /// The report did not get through: it stays in the spool. Returns how
    /// long to wait before trying again.
    fn undelivered(&self, report_id: &str, sent: &send::Sent, backoff: &mut Backoff) -> Duration {
        self.spool.release();
        if sent.result == SendResult::Unexpected {
            error!(
                report_id,
                status = sent.status,
                detail = %sent.detail,
                url = %self.sender.url(),
                "report.url did not answer as the collector (redirects are not followed); fix report.url. The report stays in the spool and is retried"
            );
        }
        let wait = backoff.wait(sent.retry_after);
        warn!(
            report_id,
            result = sent.result.as_str(),
            detail = %sent.detail,
            retry_in = %humantime::format_duration(Duration::from_secs(wait.as_secs().max(1))),
            "compliance report not delivered; will retry"
        );
        wait
    }
}

/// The names of the active list's categories (none without a list).
fn category_names(active: Option<&Active>) -> BTreeSet<String> {
    active
        .map(|a| {
            a.manifest()
                .categories
                .iter()
                .map(|c| c.name.clone())
                .collect()
        })
        .unwrap_or_default()
}

/// What a school report says besides the counts: the profiles, every
/// list with what is in force, and the rows each report has even at zero
/// (each profile × the national list's categories and those of every
/// list it applies that is in force).
fn school_window(national: Option<&Active>, profiles: Option<&Profiles>) -> SchoolWindow {
    let label = |name: &str| Label::try_from(name.to_owned()).ok();
    let serial = |name: &str, list: Option<&Active>| {
        Some(ListSerial {
            name: label(name)?,
            list_id: list.map(|l| l.list_id().to_owned()),
            serial: list.map(|l| l.serial()),
            sha256: list.map(|l| hex::encode(l.sha256())),
        })
    };
    let mut w = SchoolWindow::default();
    w.lists.extend(serial(NATIONAL_LIST_NAME, national));
    let Some(all) = profiles else {
        return w;
    };
    w.lists.extend(
        all.lists()
            .iter()
            .filter_map(|e| serial(&e.name, e.list.as_deref())),
    );
    for p in all.profiles() {
        let Some(name) = label(&p.name) else { continue };
        w.profiles.push(ProfileInfo { name, age: p.age });
        let mut rows = |list: &str, artifact: &Active| {
            for c in &artifact.manifest().categories {
                w.rows
                    .insert((p.name.clone(), list.to_owned(), c.name.clone()));
            }
        };
        if let Some(national) = national {
            rows(NATIONAL_LIST_NAME, national);
        }
        for i in p.list_indexes() {
            if let Some(extra) = all.list(i)
                && let Some(list) = &extra.list
            {
                rows(&extra.name, list);
            }
        }
    }
    w
}

/// The report id part of a spool file name.
fn report_id_of(name: &str) -> &str {
    name.split_once('-')
        .map_or(name, |(_, rest)| rest)
        .trim_end_matches(".json")
}

/// Sleeps `d`; false if `shutdown` came first.
async fn wait_or_stop(d: Duration, shutdown: &CancellationToken) -> bool {
    tokio::select! {
        () = tokio::time::sleep(d) => true,
        () = shutdown.cancelled() => false,
    }
}

/// Sleeps until the wall clock reads `at` (re-checking, so a clock step
/// does not make a window end early or hours late).
async fn sleep_until(at: Timestamp) {
    loop {
        let left = at - Timestamp::now();
        let secs = left.as_secs_f64();
        if secs <= 0.0 {
            return;
        }
        tokio::time::sleep(Duration::from_secs_f64(secs.min(60.0))).await;
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    // Plain data: a panic elsewhere leaves it usable.
    m.lock().unwrap_or_else(|e| e.into_inner())
}

fn read_window_end(dir: &Path) -> Option<Timestamp> {
    let text = std::fs::read_to_string(dir.join(WINDOW_END_FILE)).ok()?;
    text.trim().parse().ok()
}

fn write_window_end(dir: &Path, end: Timestamp) {
    let text = format!("{end}\n");
    if let Err(e) =
        crate::fsx::write_atomic(&dir.join(WINDOW_END_FILE), text.as_bytes(), 0o640, true)
    {
        warn!(error = %e, "cannot record the end of the last report window");
    }
}

fn read_since(dir: &Path) -> Option<Since> {
    let bytes = std::fs::read(dir.join(SINCE_FILE)).ok()?;
    serde_json::from_slice(&bytes).ok()
}

fn write_since(dir: &Path, since: &Since) {
    // Serialising two strings cannot fail.
    let bytes = serde_json::to_vec(since).unwrap_or_default();
    if let Err(e) = crate::fsx::write_atomic(&dir.join(SINCE_FILE), &bytes, 0o640, true) {
        warn!(error = %e, "cannot record when the list in force was activated");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ts(s: &str) -> Timestamp {
        s.parse().unwrap()
    }

    #[test]
    fn windows_align_to_the_interval() {
        let five = Duration::from_secs(300);
        assert_eq!(
            window_end_after(ts("2026-11-29T18:02:17Z"), five),
            ts("2026-11-29T18:05:00Z")
        );
        assert_eq!(
            window_end_after(ts("2026-11-29T18:05:00Z"), five),
            ts("2026-11-29T18:10:00Z")
        );
        assert_eq!(
            window_floor(ts("2026-11-29T18:12:59Z"), five),
            ts("2026-11-29T18:10:00Z")
        );
        let one = Duration::from_secs(1);
        assert_eq!(
            window_end_after(ts("2026-11-29T18:00:00.5Z"), one),
            ts("2026-11-29T18:00:01Z")
        );
    }

    fn reporter(dir: &Path, started_at: Timestamp) -> (Reporter, Arc<Metrics>) {
        let key = crate::keys::generate().unwrap();
        crate::keys::write_pair(&dir.join("node"), &key, true).unwrap();
        let settings = ReportSettings {
            isp_id: "isp".into(),
            node_id: "node".into(),
            key: crate::keys::SecretKeyFile::read(&dir.join("node.key")).unwrap(),
            url: "https://collector.invalid/".parse().unwrap(),
            ca_file: None,
            interval: Duration::from_secs(300),
            spool_dir: dir.join("spool"),
            spool_max_bytes: 1 << 20,
            min_count: 1,
            kind: ReportKind::Isp,
        };
        let metrics = Arc::new(Metrics::new());
        let r = Reporter::new(
            &settings,
            "digest".into(),
            Arc::new(ListStore::new()),
            Arc::clone(&metrics),
            started_at,
        )
        .unwrap();
        (r, metrics)
    }

    fn spooled(dir: &Path) -> Vec<body::Report> {
        let mut names: Vec<_> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .filter(|n| n.ends_with(".json"))
            .collect();
        names.sort();
        names
            .iter()
            .map(|n| serde_json::from_slice(&std::fs::read(dir.join(n)).unwrap()).unwrap())
            .collect()
    }

    #[test]
    fn a_failed_spool_write_loses_no_window() {
        let dir = tempfile::tempdir().unwrap();
        let t0 = ts("2026-11-29T18:00:00Z");
        let (r, metrics) = reporter(dir.path(), t0);
        let spool = dir.path().join("spool");
        metrics.dns().query(
            crate::dns::Protocol::ALL[0],
            crate::dns::QueryResult::ALL[0],
        );
        // The spool directory vanishes: the write fails (even as root).
        std::fs::remove_dir_all(&spool).unwrap();
        r.close_window(ts("2026-11-29T18:05:00Z"));
        std::fs::create_dir_all(&spool).unwrap();
        metrics.dns().query(
            crate::dns::Protocol::ALL[0],
            crate::dns::QueryResult::ALL[0],
        );
        r.close_window(ts("2026-11-29T18:10:00Z"));
        let reports = spooled(&spool);
        assert_eq!(reports.len(), 1);
        assert_eq!(reports[0].window_start, t0, "covers the failed window too");
        assert_eq!(reports[0].window_end, ts("2026-11-29T18:10:00Z"));
        assert_eq!(reports[0].counters.queries_total, 2);
        let text = metrics.encode();
        assert!(
            text.contains("ward_report_spool_write_errors_total 1"),
            "{text}"
        );
        assert!(text.contains("ward_report_dropped_total 0"), "{text}");
    }

    #[test]
    fn a_clock_stepped_back_across_a_restart_repeats_no_window() {
        let dir = tempfile::tempdir().unwrap();
        let t0 = ts("2026-11-29T18:00:00Z");
        let spool = dir.path().join("spool");
        {
            let (r, _) = reporter(dir.path(), t0);
            r.close_window(ts("2026-11-29T18:05:00Z"));
        }
        // Restarted with the clock two minutes behind the last window end.
        let (r, _) = reporter(dir.path(), ts("2026-11-29T18:03:00Z"));
        r.close_window(ts("2026-11-29T18:10:00Z"));
        let reports = spooled(&spool);
        assert_eq!(reports.len(), 2);
        assert_eq!(reports[0].window_end, ts("2026-11-29T18:05:00Z"));
        assert_eq!(reports[1].window_start, ts("2026-11-29T18:05:00Z"));
        assert_ne!(reports[0].report_id, reports[1].report_id);
    }

    #[test]
    fn a_repeated_window_start_keeps_the_spooled_report() {
        let dir = tempfile::tempdir().unwrap();
        let t0 = ts("2026-11-29T18:00:00Z");
        let spool = dir.path().join("spool");
        {
            let (r, _) = reporter(dir.path(), t0);
            r.close_window(ts("2026-11-29T18:05:00Z"));
        }
        // The window-end state is lost too: the same start comes again.
        std::fs::remove_file(spool.join(WINDOW_END_FILE)).unwrap();
        let before = spooled(&spool);
        let (r, metrics) = reporter(dir.path(), t0);
        metrics.dns().query(
            crate::dns::Protocol::ALL[0],
            crate::dns::QueryResult::ALL[0],
        );
        r.close_window(ts("2026-11-29T18:04:00Z"));
        assert_eq!(spooled(&spool), before, "not replaced");
        r.close_window(ts("2026-11-29T18:10:00Z"));
        let reports = spooled(&spool);
        assert_eq!(reports.len(), 2);
        assert_eq!(reports[1].window_start, ts("2026-11-29T18:05:00Z"));
        assert_eq!(reports[1].counters.queries_total, 1, "counts carried over");
    }

    #[test]
    fn a_school_window_without_profiles_or_list_still_names_the_national_list() {
        let w = school_window(None, None);
        assert!(w.profiles.is_empty() && w.rows.is_empty());
        assert_eq!(w.lists.len(), 1);
        assert_eq!(w.lists[0].name.as_str(), NATIONAL_LIST_NAME);
        assert_eq!(
            (w.lists[0].serial, w.lists[0].list_id.as_deref()),
            (None, None)
        );
    }

    #[test]
    fn report_ids_come_back_from_file_names() {
        let name = spool::file_name(1_764_000_000, "0123456789abcdef0123456789abcdef");
        assert_eq!(report_id_of(&name), "0123456789abcdef0123456789abcdef");
    }
}
