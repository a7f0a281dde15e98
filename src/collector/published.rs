//! `[published]`: the collector follows the list the ministry publishes,
//! so "latest serial" is what was published, not only the highest serial
//! some node happens to report (which says nothing when every node is
//! behind).
//!
//! Each poll reads the artifact (a conditional GET of the list endpoint
//! with the updater's [`Fetcher`], or the file if its size or mtime
//! changed), verifies its signature against `trusted_keys` exactly as a
//! node would, and keeps its manifest: list id, serial, issue and expiry.
//! Nothing else of the list is kept. A failed fetch or verification, or a
//! serial lower than one already seen (a rollback), keeps the previous
//! one and is logged and counted; until the first good read the collector
//! falls back to the highest reported serial.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use arc_swap::ArcSwapOption;
use jiff::Timestamp;
use serde::Serialize;
use tokio_util::sync::CancellationToken;
use tracing::{error, info, warn};

use crate::config::collector::{PublishedSettings, PublishedSource};
use crate::list::{ListArtifact, TrustedKeys};
use crate::update::fetch::{Fetched, Fetcher, Validators};

/// The published list, as last verified.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Published {
    pub list_id: String,
    pub serial: u64,
    pub issued_at: Timestamp,
    pub expires_at: Timestamp,
    /// SHA-256 of the artifact, hex.
    pub sha256: String,
    /// When the collector verified it.
    pub verified_at: Timestamp,
}

/// What one poll did (the `result` label of
/// `ward_collector_published_checks_total`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CheckResult {
    /// A new serial was verified and is now the latest.
    New,
    /// Nothing changed (304, same file, or the same serial again).
    Unchanged,
    /// The download or the read failed.
    FetchError,
    /// The artifact did not verify.
    VerifyError,
    /// It verified, but its serial is lower than one already seen, or
    /// its list id differs: refused.
    Refused,
}

impl CheckResult {
    pub const ALL: [Self; 5] = [
        Self::New,
        Self::Unchanged,
        Self::FetchError,
        Self::VerifyError,
        Self::Refused,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::New => "new",
            Self::Unchanged => "unchanged",
            Self::FetchError => "fetch_error",
            Self::VerifyError => "verify_error",
            Self::Refused => "refused",
        }
    }
}

/// Why `[published]` cannot be set up.
#[derive(Debug, thiserror::Error)]
pub enum PublishedError {
    /// The HTTPS client for the list endpoint cannot be set up.
    #[error("{0}")]
    Client(crate::update::fetch::ClientError),
}

/// Follows the published list.
pub struct Tracker {
    source: Source,
    trust: TrustedKeys,
    poll_interval: Duration,
    latest: ArcSwapOption<Published>,
    /// The file's (len, mtime) or the endpoint's validators at the last
    /// good read.
    seen: Mutex<Seen>,
}

enum Source {
    Url {
        fetcher: Fetcher,
        /// Where downloads land before verification (removed after).
        dir: PathBuf,
    },
    File(PathBuf),
}

#[derive(Default)]
struct Seen {
    validators: Validators,
    file: Option<(u64, Option<SystemTime>)>,
}

impl std::fmt::Debug for Tracker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tracker")
            .field("latest", &self.latest.load().as_deref().map(|p| p.serial))
            .finish_non_exhaustive()
    }
}

impl Tracker {
    /// Trusts the keys read with the config and prepares the fetcher;
    /// `download_dir` holds a download while it is verified.
    pub fn new(settings: &PublishedSettings, download_dir: &Path) -> Result<Self, PublishedError> {
        let trust: TrustedKeys = settings.trusted_keys.iter().map(|k| *k.key()).collect();
        let source = match &settings.source {
            PublishedSource::Url(url) => Source::Url {
                fetcher: Fetcher::new(
                    url.clone(),
                    settings.ca_file.as_ref(),
                    settings.timeout,
                    settings.max_size,
                )
                .map_err(PublishedError::Client)?,
                dir: download_dir.to_path_buf(),
            },
            PublishedSource::File(path) => Source::File(path.clone()),
        };
        Ok(Self {
            source,
            trust,
            poll_interval: settings.poll_interval,
            latest: ArcSwapOption::empty(),
            seen: Mutex::new(Seen::default()),
        })
    }

    /// The published list as last verified; `None` before the first good
    /// read.
    pub fn latest(&self) -> Option<Arc<Published>> {
        self.latest.load_full()
    }

    fn seen(&self) -> std::sync::MutexGuard<'_, Seen> {
        // A poisoned lock only means a poll panicked mid-update of plain
        // data; the data is still usable.
        self.seen
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// One poll. Never changes the latest list except to a verified,
    /// newer serial of the same list.
    pub async fn check(&self) -> (CheckResult, Option<String>) {
        // Holds a download until it is verified (removed on drop).
        let candidate = match self.candidate().await {
            Ok(candidate) => candidate,
            Err(stop) => return stop,
        };
        let published = match self.verify(&candidate.path).await {
            Ok(published) => published,
            Err(why) => return (CheckResult::VerifyError, Some(why.to_string())),
        };
        let previous = self.latest();
        if let Some(prev) = &previous
            && let Err(why) = follows(prev, &published)
        {
            return (CheckResult::Refused, Some(why.to_string()));
        }
        self.remember(candidate.validators);
        if previous.is_some_and(|p| p.serial == published.serial) {
            return (CheckResult::Unchanged, None);
        }
        self.latest.store(Some(Arc::new(published)));
        (CheckResult::New, None)
    }

    /// The file to verify: the list file if it changed, or a fresh
    /// download. Otherwise the poll's result: unchanged, or why the
    /// read failed.
    async fn candidate(&self) -> Result<Candidate, (CheckResult, Option<String>)> {
        match &self.source {
            Source::File(path) => {
                let stamp = match std::fs::metadata(path) {
                    Ok(m) => (m.len(), m.modified().ok()),
                    Err(e) => {
                        return Err((
                            CheckResult::FetchError,
                            Some(format!("cannot read {}: {e}", path.display())),
                        ));
                    }
                };
                if self.seen().file == Some(stamp) {
                    return Err((CheckResult::Unchanged, None));
                }
                Ok(Candidate {
                    path: path.clone(),
                    _download: None,
                    validators: None,
                })
            }
            Source::Url { fetcher, dir } => {
                let since = self.seen().validators.clone();
                match fetcher.fetch(dir, &since).await {
                    Ok(Fetched::NotModified) => Err((CheckResult::Unchanged, None)),
                    Ok(Fetched::Downloaded {
                        file, validators, ..
                    }) => Ok(Candidate {
                        path: file.path().to_path_buf(),
                        _download: Some(file),
                        validators: Some(validators),
                    }),
                    Err(e) => Err((
                        CheckResult::FetchError,
                        Some(format!("{}: {e}", fetcher.url())),
                    )),
                }
            }
        }
    }

    /// Verifies the file at `path` off the async workers.
    async fn verify(&self, path: &Path) -> Result<Published, NotVerified> {
        let trust = self.trust.clone();
        let read = path.to_path_buf();
        let verified = tokio::task::spawn_blocking(move || {
            crate::list::open_file(&read, &trust).map(|list| manifest_of(&list))
        })
        .await;
        match verified {
            Ok(Ok(p)) => Ok(p),
            Ok(Err(source)) => Err(NotVerified::List {
                path: path.to_path_buf(),
                source,
            }),
            Err(e) => Err(NotVerified::Task(e)),
        }
    }

    /// Remembers what was read, so an unchanged source is not read again:
    /// the endpoint's validators, or the file's length and mtime.
    fn remember(&self, validators: Option<Validators>) {
        let mut seen = self.seen();
        if let Some(v) = validators {
            seen.validators = v;
        }
        if let Source::File(path) = &self.source {
            seen.file = std::fs::metadata(path)
                .ok()
                .map(|m| (m.len(), m.modified().ok()));
        }
    }

    /// Polls until `shutdown`: at once, then every `poll_interval`.
    /// `on_check` hears every result, with the newly verified list for
    /// [`CheckResult::New`] (the collector counts them in its metrics).
    pub async fn run(
        self: Arc<Self>,
        on_check: impl Fn(CheckResult, Option<&Published>) + Send + 'static,
        shutdown: CancellationToken,
    ) {
        loop {
            let (result, problem) = self.check().await;
            let new = match result {
                CheckResult::New => self.latest(),
                _ => None,
            };
            on_check(result, new.as_deref());
            match (result, problem) {
                (CheckResult::New, _) => {
                    if let Some(p) = new {
                        info!(
                            list_id = %p.list_id,
                            serial = p.serial,
                            "published list verified: this serial is now the latest"
                        );
                    }
                }
                (CheckResult::Unchanged, _) => {}
                (CheckResult::FetchError, Some(problem)) => {
                    warn!(%problem, "cannot read the published list; keeping the last verified serial")
                }
                (_, Some(problem)) => {
                    error!(%problem, "ALARM: the published list was refused; keeping the last verified serial")
                }
                (_, None) => {}
            }
            tokio::select! {
                () = tokio::time::sleep(crate::update::jitter(self.poll_interval)) => {}
                () = shutdown.cancelled() => return,
            }
        }
    }
}

/// A list file to verify.
struct Candidate {
    path: PathBuf,
    /// The download at `path`, removed when this is dropped.
    _download: Option<crate::update::fetch::TempFile>,
    /// The endpoint's validators for the download.
    validators: Option<Validators>,
}

/// Why a published list file did not verify.
#[derive(Debug, thiserror::Error)]
enum NotVerified {
    #[error("{}: {source}", .path.display())]
    List {
        path: PathBuf,
        source: crate::list::VerifyError,
    },
    #[error(transparent)]
    Task(tokio::task::JoinError),
}

/// Why a verified published list may not follow the one before.
#[derive(Debug, thiserror::Error)]
enum NotFollowing {
    #[error(
        "the published list is now {now:?}, not {was:?}: refused; restart the collector to follow another list"
    )]
    OtherList { now: String, was: String },
    #[error("serial {new} is lower than serial {seen} already seen: a rollback, refused")]
    Rollback { new: u64, seen: u64 },
}

/// Whether `published` may follow `prev`: the same list, and no lower
/// serial. The error says why not.
fn follows(prev: &Published, published: &Published) -> Result<(), NotFollowing> {
    if prev.list_id != published.list_id {
        return Err(NotFollowing::OtherList {
            now: published.list_id.clone(),
            was: prev.list_id.clone(),
        });
    }
    if published.serial < prev.serial {
        return Err(NotFollowing::Rollback {
            new: published.serial,
            seen: prev.serial,
        });
    }
    Ok(())
}

fn manifest_of(list: &ListArtifact) -> Published {
    let m = list.manifest();
    Published {
        list_id: m.list_id.clone(),
        serial: m.serial,
        issued_at: m.issued_at,
        expires_at: m.expires_at,
        sha256: hex::encode(list.sha256()),
        verified_at: Timestamp::now(),
    }
}

#[cfg(test)]
mod tests;
