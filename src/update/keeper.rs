//! The one acceptance rule for every list ward enforces, whatever its
//! source: `list.url` downloads, `list.file` (at start-up and on SIGHUP),
//! the seed, and the last-known-good copy in `list.state_dir`.
//!
//! A candidate is first copied into sealed memory and verified (signature,
//! trusted key, hash, format, deep check of the name index); then
//! [`state::judge_at`] compares it with what this node has accepted: an
//! older serial is a *rollback*, the same serial with other bytes an
//! *equivocation*, another list id a *wrong list*, and a list already past
//! its expiry is *expired*. Any of those keeps the list in force, counts
//! `ward_list_rejected_total{reason}` and returns a [`Refusal`] whose
//! message the caller logs as an alarm. Nothing else can put a list in
//! force.
//!
//! An accepted candidate is recorded in `state.json`, swapped into the
//! [`ListStore`], and is the last-known-good `state_dir/list.ward` (the
//! previous one kept as `list.prev.ward`): a download is renamed into
//! place before the swap; the verified bytes of a `list.file` are written
//! there just after it, off the activation's critical path. So the node's
//! last-known-good copy is one only ward writes: after a restart, a
//! `list.file` that was corrupted, truncated or rolled back is refused
//! again and the last accepted list is enforced.
//!
//! With no list in force (start-up), a candidate the rule refuses is still
//! better than none: if nothing acceptable is found, the first verified
//! candidate is enforced with an alarm. An older or expired list blocks
//! more than SERVFAIL does, and the highest serial never goes down, so
//! the next update can still only move forward.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use jiff::Timestamp;
use tracing::{debug, error, info, warn};

use super::fetch::{TempFile, Validators};
use super::state::{self, LIST_FILE, PREV_FILE, State, Verdict};
use super::{FetchResult, ListMetrics};
use super::{open_checked, verify_result};
use crate::list::{ListArtifact, TrustedKeys, Verified};
use crate::store::ListStore;

/// Why a candidate list was not put in force. The list in force stays.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    /// The `ward_list_rejected_total` reason (and `ward_list_fetch_total`
    /// result for a poll).
    pub result: FetchResult,
    pub reason: String,
}

impl Refusal {
    fn new(result: FetchResult, reason: String) -> Self {
        Self { result, reason }
    }
}

impl std::fmt::Display for Refusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.reason)
    }
}

/// A verified list waiting for the rule, and how it reaches `state_dir`.
#[derive(Debug)]
pub struct Candidate {
    list: Verified<ListArtifact>,
    disk: Disk,
}

/// How an accepted candidate becomes the last-known-good `list.ward`.
#[derive(Debug)]
enum Disk {
    /// A download already written and fsynced in `state_dir`: renamed
    /// into place before the swap (the rename is the commit point).
    Renamed(TempFile),
    /// A file ward does not own (`list.file`, the seed): its verified
    /// bytes are written to `state_dir` after the swap, off the
    /// activation's critical path.
    Written,
    /// Already in `state_dir`, or no state directory.
    Nothing,
}

impl Candidate {
    pub fn list(&self) -> &ListArtifact {
        &self.list
    }
}

/// What [`Keeper::offer`] did with an acceptable candidate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Offered {
    /// Put in force at `swapped_at`; the serial of the list it replaced.
    Activated {
        previous: Option<u64>,
        swapped_at: std::time::Instant,
    },
    /// It is the list in force already.
    Same,
}

/// Where start-up looks for a list, in order.
#[derive(Debug, Clone)]
pub struct Origin {
    pub path: PathBuf,
    /// For logs: "list.file", "last-known-good list", ...
    pub what: &'static str,
    /// Copy into `state_dir` before verifying (a file ward does not own).
    pub stage: bool,
}

/// Holds the acceptance state (`state.json`) and applies the rule.
#[derive(Debug)]
pub struct Keeper {
    trust: TrustedKeys,
    /// `list.state_dir`, or `None` when a `list.file` node could not use
    /// it (rollback protection then lasts only as long as the process).
    dir: Option<PathBuf>,
    store: Arc<ListStore>,
    metrics: Arc<ListMetrics>,
    state: Mutex<State>,
    equivocation: AtomicBool,
    /// Made by [`Keeper::read_only`]: a dry run, so a load is no news.
    read_only: bool,
}

impl Keeper {
    /// Prepares `dir` (created if missing; stale downloads removed) and
    /// reads `state.json`. With `required` (`list.url`), a directory that
    /// cannot be created is an error; without (`list.file` alone), it is an
    /// alarm and the node keeps its state in memory.
    pub fn new(
        raw_dir: &Path,
        required: bool,
        trust: TrustedKeys,
        store: Arc<ListStore>,
        metrics: Arc<ListMetrics>,
    ) -> Result<Self, std::io::Error> {
        let usable = std::fs::create_dir_all(raw_dir).and_then(|()| writable(raw_dir));
        let dir = match usable {
            Ok(()) => Some(raw_dir.to_path_buf()),
            Err(e) if required => {
                return Err(std::io::Error::new(
                    e.kind(),
                    format!(
                        "cannot use list.state_dir {}: {e}; create it, writable by ward",
                        raw_dir.display()
                    ),
                ));
            }
            Err(e) => {
                error!(
                    error = %e,
                    dir = %raw_dir.display(),
                    "ALARM: list.state_dir is not writable; no last-known-good copy is kept and rollback protection lasts only until a restart"
                );
                None
            }
        };
        if let Some(dir) = &dir {
            let removed = state::remove_stale_downloads(dir);
            if removed > 0 {
                info!(removed, dir = %dir.display(), "removed unfinished downloads left by an earlier run");
            }
        }
        // Read even from a directory ward cannot write: its serials still
        // protect against a rollback.
        let state = State::load(raw_dir).unwrap_or_else(|reason| {
                error!(%reason, "ALARM: the list state is unreadable; it is set aside and rebuilt from the lists in list.state_dir");
                set_aside(raw_dir);
                rebuilt(raw_dir, &trust)
            });
        Ok(Self {
            trust,
            dir,
            store,
            metrics,
            state: Mutex::new(state),
            equivocation: AtomicBool::new(false),
            read_only: false,
        })
    }

    /// A keeper that only reads `raw_dir` (its `state.json` and lists) and
    /// never writes anywhere: [`Keeper::load_initial`] then picks the list
    /// a start-up would, records nothing and commits nothing (`ward check
    /// --config`).
    pub fn read_only(
        raw_dir: &Path,
        trust: TrustedKeys,
        store: Arc<ListStore>,
        metrics: Arc<ListMetrics>,
    ) -> Self {
        let state = State::load(raw_dir).unwrap_or_else(|reason| {
            warn!(%reason, "the list state is unreadable; judging by the lists in list.state_dir");
            rebuilt(raw_dir, &trust)
        });
        Self {
            trust,
            dir: None,
            store,
            metrics,
            state: Mutex::new(state),
            equivocation: AtomicBool::new(false),
            read_only: true,
        }
    }

    pub fn trusted(&self) -> &TrustedKeys {
        &self.trust
    }

    /// The state directory in use.
    pub fn dir(&self) -> Option<&Path> {
        self.dir.as_deref()
    }

    pub fn store(&self) -> &Arc<ListStore> {
        &self.store
    }

    /// The highest serial ever accepted.
    pub fn highest_serial(&self) -> u64 {
        lock(&self.state).highest_serial
    }

    /// Whether the last candidate offered under the highest serial had
    /// other bytes (cleared by the next activation).
    pub fn equivocation(&self) -> bool {
        self.equivocation.load(Ordering::Relaxed)
    }

    /// The validators to send with the next poll: those of the list in
    /// force, if the last download was it.
    pub fn validators(&self) -> Validators {
        let current = self.store.load().as_ref().map(|a| hex::encode(a.sha256()));
        let state = lock(&self.state);
        match (&state.validators_for, current) {
            (Some(for_sha), Some(sha)) if *for_sha == sha => state.validators.clone(),
            _ => Validators::default(),
        }
    }

    /// Reads a file ward does not own (`list.file`, the seed) into
    /// sealed memory and verifies it (blocking). If it is accepted, those
    /// very bytes become the copy in `state_dir`.
    pub fn stage(&self, path: &Path) -> Result<Candidate, Refusal> {
        let disk = match self.dir {
            Some(_) => Disk::Written,
            None => Disk::Nothing,
        };
        self.open(&path.display().to_string(), path, disk)
    }

    /// Verifies a file already in `state_dir` (a download) (blocking).
    pub fn check(&self, file: TempFile) -> Result<Candidate, Refusal> {
        let path = file.path().to_path_buf();
        self.open("downloaded list", &path, Disk::Renamed(file))
    }

    /// Verifies `path`; `shown` names it in messages.
    fn open(&self, shown: &str, path: &Path, disk: Disk) -> Result<Candidate, Refusal> {
        match open_checked(path, &self.trust) {
            Ok(list) => Ok(Candidate { list, disk }),
            Err(e) => Err(self.refuse(Refusal::new(
                verify_result(&e),
                format!("{shown} rejected: {e}"),
            ))),
        }
    }

    /// Counts a refusal.
    fn refuse(&self, refusal: Refusal) -> Refusal {
        self.metrics.list_rejected(refusal.result);
        refusal
    }

    /// Applies the rule to `candidate` against the list in force and, if
    /// it passes, puts it in force (blocking: rename, fsyncs, state file).
    /// `validators` are the HTTP validators of a download.
    pub fn offer(
        &self,
        candidate: Candidate,
        validators: Option<Validators>,
    ) -> Result<Offered, Refusal> {
        let current = self.store.load_full();
        let verdict = state::judge_at(
            &lock(&self.state),
            current.as_ref().map(|a| a.sha256()),
            &candidate.list,
            Timestamp::now(),
        );
        match verdict {
            Verdict::Accept => {}
            Verdict::Same => {
                if let Some(validators) = validators {
                    let mut state = lock(&self.state);
                    state.validators = validators;
                    state.validators_for = Some(hex::encode(candidate.list.sha256()));
                    self.save_state(&state);
                }
                return Ok(Offered::Same);
            }
            refused => return Err(self.refuse(self.refusal(refused))),
        }
        let sha = hex::encode(candidate.list.sha256());
        let written = match candidate.disk {
            Disk::Renamed(file) => {
                self.commit(Some(file), false)?;
                false
            }
            Disk::Written => true,
            Disk::Nothing => false,
        };
        {
            let mut state = lock(&self.state);
            state.remember(&candidate.list);
            if let Some(validators) = validators {
                state.validators = validators;
                state.validators_for = Some(sha);
            }
            self.save_state(&state);
        }
        let previous = self.store.swap(candidate.list);
        let swapped_at = std::time::Instant::now();
        self.equivocation.store(false, Ordering::Relaxed);
        self.metrics.set_equivocation(false);
        if written {
            self.write_in_force();
        }
        Ok(Offered::Activated {
            previous: previous.map(|p| p.serial()),
            swapped_at,
        })
    }

    /// The refusal for a verdict other than accept or same; raises the
    /// equivocation alarm.
    fn refusal(&self, verdict: Verdict) -> Refusal {
        match verdict {
            Verdict::Rollback { serial, highest } => Refusal::new(
                FetchResult::Rollback,
                format!(
                    "rollback refused: serial {serial} is older than serial {highest}, already accepted"
                ),
            ),
            Verdict::Equivocation {
                serial,
                accepted,
                offered,
            } => {
                self.metrics.set_equivocation(true);
                self.equivocation.store(true, Ordering::Relaxed);
                Refusal::new(
                    FetchResult::Equivocation,
                    format!(
                        "EQUIVOCATION: serial {serial} was accepted with sha256 {accepted}, and is now offered with sha256 {offered}; the signer issued two different lists under one serial (key compromise or publishing error); report it to the ministry"
                    ),
                )
            }
            Verdict::WrongList { follows, offered } => Refusal::new(
                FetchResult::WrongList,
                format!(
                    "list id {offered:?} refused: this node follows {follows:?} (remove state.json from list.state_dir to follow another list)"
                ),
            ),
            Verdict::Expired { serial, expires_at } => Refusal::new(
                FetchResult::Expired,
                format!(
                    "expired list refused: serial {serial} expired at {expires_at}; the ministry must publish a newer list"
                ),
            ),
            Verdict::Accept | Verdict::Same => {
                Refusal::new(FetchResult::Io, "internal: not a refusal".to_owned())
            }
        }
    }

    /// Makes a staged copy the last-known-good `list.ward`, keeping the
    /// one it replaces as `list.prev.ward`. `previous`: the candidate is
    /// `list.prev.ward` itself, linked back as `list.ward`.
    fn commit(&self, file: Option<TempFile>, previous: bool) -> Result<(), Refusal> {
        let Some(dir) = &self.dir else {
            return Ok(());
        };
        let live = dir.join(LIST_FILE);
        let result = match file {
            Some(file) => {
                keep_previous(dir);
                file.commit(&live)
            }
            None if previous => TempFile::new_in(dir).and_then(|temp| {
                std::fs::hard_link(dir.join(PREV_FILE), temp.path())?;
                temp.commit(&live)
            }),
            None => Ok(()),
        };
        result.map_err(|e| {
            self.refuse(Refusal::new(
                FetchResult::Io,
                format!("cannot install the list in {}: {e}", dir.display()),
            ))
        })
    }

    /// Writes the list in force to `state_dir/list.ward` (temp file,
    /// fsync, rename), keeping the one it replaces as `list.prev.ward`. A
    /// failure leaves the list in force and an older copy on disk.
    fn write_in_force(&self) {
        let Some(active) = self.store.load_full() else {
            return;
        };
        let result = self
            .write_copy(active.as_bytes())
            .and_then(|temp| self.commit(Some(temp), false));
        if let Err(refusal) = result {
            error!(reason = %refusal, "ALARM: the list is in force, but its last-known-good copy in list.state_dir was not updated");
        }
    }

    /// A new file in `state_dir` holding `bytes`, fsynced.
    fn write_copy(&self, bytes: &[u8]) -> Result<TempFile, Refusal> {
        let Some(dir) = &self.dir else {
            return Err(Refusal::new(FetchResult::Io, "no list.state_dir".into()));
        };
        TempFile::new_in(dir)
            .and_then(|temp| write_durably(temp.path(), bytes).map(|()| temp))
            .map_err(|e| {
                self.refuse(Refusal::new(
                    FetchResult::Io,
                    format!("cannot write the list into {}: {e}", dir.display()),
                ))
            })
    }

    /// Start-up (blocking): the first candidate of `origins` that verifies
    /// and passes the rule; else the first that verifies, with an alarm;
    /// else `None`. The list returned is committed and recorded, but not
    /// swapped in: the caller does that.
    pub fn load_initial(&self, origins: &[Origin]) -> Option<Verified<ListArtifact>> {
        let mut fallback: Option<(Candidate, &Origin, Refusal)> = None;
        for origin in origins {
            if !origin.stage && !origin.path.exists() {
                continue;
            }
            let opened = if origin.stage {
                self.stage(&origin.path)
            } else {
                self.open(
                    &origin.path.display().to_string(),
                    &origin.path,
                    Disk::Nothing,
                )
            };
            let candidate = match opened {
                Ok(c) => c,
                Err(refusal) => {
                    error!(reason = %refusal, "ALARM: the {} is unusable", origin.what);
                    continue;
                }
            };
            let verdict =
                state::judge_at(&lock(&self.state), None, &candidate.list, Timestamp::now());
            if matches!(verdict, Verdict::Accept | Verdict::Same) {
                return self.install(candidate, origin);
            }
            let refusal = self.refuse(self.refusal(verdict));
            error!(reason = %refusal, path = %origin.path.display(), "ALARM: the {} is refused", origin.what);
            // Keep the best refused list: the followed list id first, then
            // the highest serial.
            let better = fallback
                .as_ref()
                .is_none_or(|(best, _, _)| self.rank(&candidate.list) > self.rank(&best.list));
            if better {
                fallback = Some((candidate, origin, refusal));
            }
        }
        let (candidate, origin, refusal) = fallback?;
        error!(
            serial = candidate.list.serial(),
            reason = %refusal,
            "ALARM: no acceptable list on disk; enforcing the {} anyway, since an older list blocks more than none; the state and the last-known-good copy are left as they are",
            origin.what
        );
        // Not recorded and not committed: the node still follows its list
        // id from its highest serial, and the next acceptable list replaces
        // this one.
        Some(candidate.list)
    }

    /// How good a refused list is as a stopgap: the followed list id
    /// first, then the highest serial.
    fn rank(&self, list: &ListArtifact) -> (bool, u64) {
        let state = lock(&self.state);
        let followed = state
            .list_id
            .as_deref()
            .is_none_or(|id| id == list.list_id());
        (followed, list.serial())
    }

    fn install(&self, candidate: Candidate, origin: &Origin) -> Option<Verified<ListArtifact>> {
        let previous = origin.path.file_name() == Some(PREV_FILE.as_ref())
            && self.dir.as_deref() == origin.path.parent();
        let file = match candidate.disk {
            Disk::Renamed(temp) => Some(temp),
            Disk::Written => match self.write_copy(candidate.list.as_bytes()) {
                Ok(temp) => Some(temp),
                Err(refusal) => {
                    warn!(reason = %refusal, "the list is enforced, but its last-known-good copy was not written");
                    None
                }
            },
            Disk::Nothing => None,
        };
        if let Err(refusal) = self.commit(file, previous) {
            warn!(reason = %refusal, "the list is enforced, but its last-known-good copy was not updated");
        }
        let list = candidate.list;
        let mut state = lock(&self.state);
        state.remember(&list);
        if origin.stage {
            // The validators belonged to whatever was there before.
            state.validators = Validators::default();
            state.validators_for = None;
        }
        self.save_state(&state);
        if self.read_only {
            debug!(path = %origin.path.display(), serial = list.serial(), "{} would be loaded", origin.what);
        } else {
            info!(path = %origin.path.display(), serial = list.serial(), "{} loaded", origin.what);
        }
        Some(list)
    }

    fn save_state(&self, state: &State) {
        let Some(dir) = &self.dir else { return };
        if let Err(e) = state.save(dir) {
            error!(error = %e, dir = %dir.display(), "ALARM: cannot write the list state; rollback protection may be lost on restart");
        }
    }
}

/// Moves an unreadable `state.json` aside (`state.json.corrupt`), so that
/// the next save does not destroy what an operator may want to see.
fn set_aside(dir: &Path) {
    let path = State::path(dir);
    if path.exists() {
        let _ = std::fs::rename(&path, dir.join("state.json.corrupt"));
    }
}

/// The state as the lists ward itself wrote into `dir` say it was: their
/// list id and highest serial. Used when `state.json` is lost, so that a
/// rolled-back `list.file` is not accepted because the record is gone.
fn rebuilt(dir: &Path, trust: &TrustedKeys) -> State {
    let mut state = State::default();
    for name in [LIST_FILE, PREV_FILE] {
        if let Ok(list) = open_checked(&dir.join(name), trust) {
            state.remember(&list);
        }
    }
    state
}

/// Whether ward can create files in `dir`.
fn writable(dir: &Path) -> std::io::Result<()> {
    let probe = TempFile::new_in(dir)?;
    std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(probe.path())
        .map(drop)
}

/// Keeps the list in force as `list.prev.ward` (a hard link: no copy)
/// before a new one replaces it, so the previous artifact stays on disk
/// after the new one is live, and start-up can fall back to it.
fn keep_previous(dir: &Path) {
    let (live, prev) = (dir.join(LIST_FILE), dir.join(PREV_FILE));
    if !live.exists() {
        return;
    }
    // A second name for the live file, renamed over the old previous one:
    // at every instant `list.prev` is either the old previous list or the
    // new one, never missing.
    let staged = dir.join(state::PREV_STAGED_FILE);
    let _ = std::fs::remove_file(&staged);
    let kept = std::fs::hard_link(&live, &staged)
        .and_then(|()| std::fs::rename(&staged, &prev))
        .and_then(|()| crate::fsx::sync_dir(dir));
    if let Err(e) = kept {
        let _ = std::fs::remove_file(&staged);
        warn!(error = %e, "cannot keep the previous list as {}", prev.display());
    }
}

/// Writes `bytes` to a new file at `to` and fsyncs it.
fn write_durably(to: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut dst = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o644)
        .open(to)?;
    dst.write_all(bytes)?;
    dst.sync_all()
}

/// Locks a mutex; a poisoned one (a panic while held) still holds
/// consistent data here, since every critical section only assigns.
fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}
