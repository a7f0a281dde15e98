//! What the updater keeps in `list.state_dir` across restarts, and the
//! rules that stop a rollback or an equivocation.
//!
//! Files:
//!
//! * `list.ward`: the last-known-good artifact, the one in force. Replaced
//!   only by an atomic rename of a fully written, fsynced and verified
//!   download.
//! * `list.prev.ward`: the list in force before the last activation, a
//!   hard link made just before the rename; the start-up fallback when
//!   `list.ward` is unusable.
//! * `state.json`: the highest serial ever accepted and its SHA-256, the
//!   list id the node follows, and the HTTP validators of `list.ward`.
//!   Written atomically after each activation.
//! * `.incoming-*.ward`: downloads in progress; any found at start-up were
//!   left by a crash and are removed.
//!
//! A crash between the rename of `list.ward` and the write of
//! `state.json` leaves a newer `list.ward` than `state.json` records; the
//! start-up load reconciles the two (the highest serial is the larger of
//! both), so the node never forgets a serial it has enforced.

use std::io;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::fetch::{TEMP_PREFIX, Validators};
use crate::list::ListArtifact;

/// The last-known-good artifact, inside the state directory.
pub const LIST_FILE: &str = "list.ward";
/// The list in force before the last activation (a hard link).
pub const PREV_FILE: &str = "list.prev.ward";
/// The updater's memory, inside the state directory.
pub const STATE_FILE: &str = "state.json";
/// Version of the `state.json` layout.
pub const STATE_VERSION: u32 = 1;

/// Why `state.json` cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum StateError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("{path}: corrupt state file: {source}")]
    Corrupt {
        path: PathBuf,
        #[source]
        source: serde_json::Error,
    },
    #[error("{path}: state version {found} is not {STATE_VERSION}")]
    Version { path: PathBuf, found: u32 },
}

/// The contents of `state.json`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct State {
    pub version: u32,
    /// The list id this node follows; set by the first list accepted.
    pub list_id: Option<String>,
    /// The highest serial ever accepted (0: none yet).
    pub highest_serial: u64,
    /// SHA-256 (hex) of the artifact accepted with `highest_serial`.
    pub highest_sha256: Option<String>,
    /// HTTP validators of the artifact whose SHA-256 is `validators_for`,
    /// sent with the next poll only while that artifact is in force.
    pub validators: Validators,
    pub validators_for: Option<String>,
}

impl State {
    pub fn path(dir: &Path) -> PathBuf {
        dir.join(STATE_FILE)
    }

    /// Reads `state.json`; a missing file is the empty state.
    pub fn load(dir: &Path) -> Result<Self, StateError> {
        let path = Self::path(dir);
        let bytes = match std::fs::read(&path) {
            Ok(b) => b,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Self::default()),
            Err(source) => return Err(StateError::Read { path, source }),
        };
        let state: Self = match serde_json::from_slice(&bytes) {
            Ok(state) => state,
            Err(source) => return Err(StateError::Corrupt { path, source }),
        };
        if state.version != STATE_VERSION {
            return Err(StateError::Version {
                path,
                found: state.version,
            });
        }
        Ok(state)
    }

    /// Writes `state.json` atomically (temp file, fsync, rename, fsync dir).
    pub fn save(&self, dir: &Path) -> io::Result<()> {
        let mut state = self.clone();
        state.version = STATE_VERSION;
        let mut text = serde_json::to_vec_pretty(&state).map_err(io::Error::other)?;
        text.push(b'\n');
        crate::fsx::write_atomic(&Self::path(dir), &text, 0o644, true)
    }

    /// Records `list` as accepted (after it was judged [`Verdict::Accept`]
    /// or found in `list.ward` at start-up): raises the highest serial if
    /// it is higher and pins the list id.
    pub fn remember(&mut self, list: &ListArtifact) {
        if self.list_id.is_none() {
            self.list_id = Some(list.list_id().to_owned());
        }
        let newer = list.serial() > self.highest_serial;
        if newer || (list.serial() == self.highest_serial && self.highest_sha256.is_none()) {
            self.highest_serial = list.serial();
            self.highest_sha256 = Some(hex::encode(list.sha256()));
        }
    }
}

/// Whether a verified candidate may replace the list in force.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Newer (or the highest one, re-installed): activate it.
    Accept,
    /// The very list in force.
    Same,
    /// Older than a serial this node has accepted.
    Rollback { serial: u64, highest: u64 },
    /// The serial already accepted, with other content: the signer has
    /// issued two different lists under one serial.
    Equivocation {
        serial: u64,
        accepted: String,
        offered: String,
    },
    /// Another list (e.g. a school profile list) signed by a trusted key.
    WrongList { follows: String, offered: String },
    /// Past its expiry already, while a list is in force.
    Expired {
        serial: u64,
        expires_at: jiff::Timestamp,
    },
}

/// Judges `candidate` against what this node has accepted and what is in
/// force (`current_sha256`), now.
pub fn judge(state: &State, current_sha256: Option<[u8; 32]>, candidate: &ListArtifact) -> Verdict {
    judge_at(state, current_sha256, candidate, jiff::Timestamp::now())
}

/// Judges `candidate` at `now`. The one rule for every source of a list
/// (see `update::keeper`): list id, serial never going back, no second
/// content under one serial, and no expired list in place of one in force.
/// With no list in force an expired list is accepted: it still blocks.
pub fn judge_at(
    state: &State,
    current_sha256: Option<[u8; 32]>,
    candidate: &ListArtifact,
    now: jiff::Timestamp,
) -> Verdict {
    if let Some(follows) = &state.list_id
        && follows != candidate.list_id()
    {
        return Verdict::WrongList {
            follows: follows.clone(),
            offered: candidate.list_id().to_owned(),
        };
    }
    let serial = candidate.serial();
    let sha = candidate.sha256();
    if serial < state.highest_serial {
        return Verdict::Rollback {
            serial,
            highest: state.highest_serial,
        };
    }
    if serial == state.highest_serial
        && let Some(accepted) = &state.highest_sha256
        && *accepted != hex::encode(sha)
    {
        return Verdict::Equivocation {
            serial,
            accepted: accepted.clone(),
            offered: hex::encode(sha),
        };
    }
    if current_sha256 == Some(sha) {
        Verdict::Same
    } else if current_sha256.is_some() && candidate.is_expired(now) {
        Verdict::Expired {
            serial,
            expires_at: candidate.manifest().expires_at,
        }
    } else {
        Verdict::Accept
    }
}

/// The second name of the live list while it becomes `list.prev.ward`
/// (a hard link, then renamed): a crash between the two leaves it.
pub const PREV_STAGED_FILE: &str = "list.prev.ward.new";

/// Removes what a crash left behind (downloads, temporary files, a staged
/// previous list); returns how many.
pub fn remove_stale_downloads(dir: &Path) -> usize {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return 0;
    };
    let mut removed = 0;
    for entry in entries.flatten() {
        let name = entry.file_name();
        let name = name.to_string_lossy();
        // Ours, and the temp files of `fsx::write_atomic` for state.json.
        let ours = name.starts_with(TEMP_PREFIX)
            || name.starts_with(".state.json.tmp-")
            || name == PREV_STAGED_FILE;
        if ours && std::fs::remove_file(entry.path()).is_ok() {
            removed += 1;
        }
    }
    removed
}
