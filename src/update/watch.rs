//! Notices when the file that should hold the list in force no longer
//! does: `list.file` overwritten, truncated or replaced, or the updater's
//! `state_dir/list.ward` changed by someone other than ward.
//!
//! The list in force never changes with the file: it is a verified copy in
//! sealed memory ([`crate::sys::sealed_copy`]). The watch only tells the
//! operator, because a restart, or a SIGHUP with `list.file`, would read
//! the file again. Every [`WATCH_INTERVAL`] the file's stamp (device,
//! inode, size, mtime) is compared with the one last checked; on a change,
//! and every [`REHASH_INTERVAL`] regardless (a same-size write with its
//! mtime put back), the file is hashed and compared with the SHA-256 of
//! the list in force. A difference logs an alarm, counts
//! `ward_list_file_changes_total` and sets `ward_list_file_diverged` until
//! the file and the list in force agree again.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};
use tokio_util::sync::CancellationToken;
use tracing::{error, info};

use super::ListMetrics;
use crate::fsx::Stamp;
use crate::store::ListStore;

/// How often the file's stamp is read.
pub const WATCH_INTERVAL: Duration = Duration::from_secs(2);
/// How often the file is hashed even when its stamp did not change.
pub const REHASH_INTERVAL: Duration = Duration::from_secs(5 * 60);

/// Watches one file against the list in force.
#[derive(Debug)]
pub struct FileWatch {
    path: PathBuf,
    /// What to tell the operator to do about a difference.
    hint: &'static str,
    store: Arc<ListStore>,
    metrics: Arc<ListMetrics>,
    diverged: AtomicBool,
}

/// What one look found.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Look {
    Same,
    Differs(String),
}

impl FileWatch {
    pub fn new(
        path: PathBuf,
        hint: &'static str,
        store: Arc<ListStore>,
        metrics: Arc<ListMetrics>,
    ) -> Self {
        Self {
            path,
            hint,
            store,
            metrics,
            diverged: AtomicBool::new(false),
        }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Whether the file differed from the list in force at the last look.
    pub fn diverged(&self) -> bool {
        self.diverged.load(Ordering::Relaxed)
    }

    /// Looks every [`WATCH_INTERVAL`] until `shutdown`.
    pub async fn run(self: Arc<Self>, shutdown: CancellationToken) {
        // (stamp, sha256 of the list in force) at the last hash.
        let mut checked: Option<(Option<Stamp>, [u8; 32])> = None;
        let mut hashed_at = Instant::now();
        // A difference seen once, not yet confirmed: an activation renames
        // the new list into place just before it swaps it in, so a look in
        // between would see a difference that is gone a moment later.
        let mut suspect = false;
        loop {
            if let Some(active) = self.store.load_full() {
                let sha = active.sha256();
                let stamp = Stamp::read(&self.path).ok();
                let due = hashed_at.elapsed() >= REHASH_INTERVAL;
                if due || checked != Some((stamp, sha)) {
                    let path = self.path.clone();
                    let look = tokio::task::spawn_blocking(move || look(&path, sha)).await;
                    hashed_at = Instant::now();
                    // A swap while hashing: look again at the next tick.
                    let swapped = self.store.load().as_ref().map(|a| a.sha256()) != Some(sha);
                    match (look, swapped) {
                        (Ok(Look::Differs(_)), false) if !suspect && !self.diverged() => {
                            // Look again at the next tick before alarming.
                            suspect = true;
                            checked = None;
                        }
                        (Ok(look), false) => {
                            suspect = false;
                            let changed = checked.is_some_and(|(s, _)| s != stamp);
                            self.record(&look, changed || checked.is_none(), active.serial());
                            checked = Some((stamp, sha));
                        }
                        _ => {}
                    }
                }
            }
            tokio::select! {
                () = tokio::time::sleep(WATCH_INTERVAL) => {}
                () = shutdown.cancelled() => return,
            }
        }
    }

    /// Logs and counts a newly found difference (or its end).
    fn record(&self, look: &Look, changed: bool, serial: u64) {
        let was = self.diverged();
        match look {
            Look::Differs(what) => {
                let new = !was || changed;
                if new {
                    error!(
                        path = %self.path.display(),
                        serial,
                        "ALARM: the list file {what}; it no longer holds the list in force. ward keeps enforcing its verified copy of serial {serial} in memory; {}",
                        self.hint
                    );
                }
                self.diverged.store(true, Ordering::Relaxed);
                self.metrics.set_list_file_diverged(true, new);
            }
            Look::Same => {
                if was {
                    info!(path = %self.path.display(), serial, "the list file holds the list in force again");
                }
                self.diverged.store(false, Ordering::Relaxed);
                self.metrics.set_list_file_diverged(false, false);
            }
        }
    }
}

/// Compares the file at `path` with the SHA-256 of the list in force
/// (blocking: reads the whole file).
fn look(path: &Path, sha: [u8; 32]) -> Look {
    let mut file = match std::fs::File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Look::Differs("was removed".to_owned());
        }
        Err(e) => return Look::Differs(format!("cannot be read ({e})")),
    };
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    let mut len = 0u64;
    loop {
        match file.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => {
                hasher.update(&buf[..n]);
                len += n as u64;
            }
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Look::Differs(format!("cannot be read ({e})")),
        }
    }
    let found: [u8; 32] = hasher.finalize().into();
    if found == sha {
        Look::Same
    } else if len == 0 {
        Look::Differs("was truncated to 0 bytes".to_owned())
    } else {
        Look::Differs(format!(
            "changed on disk ({len} bytes, sha256 {})",
            hex::encode(found)
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn look_tells_same_changed_truncated_and_removed() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("l.ward");
        std::fs::write(&path, b"list bytes").unwrap();
        let sha: [u8; 32] = Sha256::digest(b"list bytes").into();
        assert_eq!(look(&path, sha), Look::Same);
        std::fs::write(&path, b"list bytez").unwrap();
        assert!(
            matches!(look(&path, sha), Look::Differs(w) if w.starts_with("changed on disk (10 bytes"))
        );
        std::fs::write(&path, b"").unwrap();
        assert_eq!(
            look(&path, sha),
            Look::Differs("was truncated to 0 bytes".into())
        );
        std::fs::remove_file(&path).unwrap();
        assert_eq!(look(&path, sha), Look::Differs("was removed".into()));
    }
}
