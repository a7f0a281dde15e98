//! The report spool: one file per report in `spool_dir`, written
//! atomically and durably (temp, fsync, rename, fsync dir) before the first
//! send, deleted only after the collector answered 2xx.
//!
//! File names are `<window start, 20-digit unix milliseconds>-<report id>.json`,
//! so name order is window order and the oldest report is sent first.
//! Reports the collector refused (a 4xx other than 408 and 429) move to
//! `rejected/`, which keeps the newest [`MAX_REJECTED`]; each older one
//! pruned from there is counted in `ward_report_dropped_total` too.
//!
//! The spool is bounded by `spool_max_bytes`: before a new report is
//! written, the oldest reports (never the one being sent) are deleted
//! until it fits, and counted in `ward_report_dropped_total`. That, and
//! pruning `rejected/`, are the only ways a report is lost. A report larger than the whole bound is
//! still written, so the spool always holds the newest report.

use std::io;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use tracing::{error, warn};

use crate::fsx;

/// Sub-directory of refused reports.
pub const REJECTED_DIR: &str = "rejected";
/// How many refused reports are kept for inspection.
pub const MAX_REJECTED: usize = 100;
/// Suffix of spooled reports.
const SUFFIX: &str = ".json";

/// A report read back from the spool.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Spooled {
    pub name: String,
    pub body: Vec<u8>,
}

/// What [`Spool::push`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Pushed {
    /// Older reports deleted to make room.
    pub dropped: u64,
    /// Reports in the spool afterwards.
    pub reports: usize,
}

/// The spool directory.
#[derive(Debug)]
pub struct Spool {
    dir: PathBuf,
    max_bytes: u64,
    /// The report being sent, which a full spool must not delete; also
    /// serialises every directory change.
    in_flight: Mutex<Option<String>>,
}

/// The file name of a report.
pub fn file_name(window_start_millis: i64, report_id: &str) -> String {
    format!("{:020}-{report_id}{SUFFIX}", window_start_millis.max(0))
}

/// Whether `name` is a temporary file of [`fsx::write_atomic`]:
/// `.<target name>.tmp-<pid>-<12 hex digits>`.
fn is_write_atomic_temp(name: &str) -> bool {
    let Some(rest) = name.strip_prefix('.') else {
        return false;
    };
    let Some((target, tail)) = rest.rsplit_once(".tmp-") else {
        return false;
    };
    let Some((pid, rnd)) = tail.split_once('-') else {
        return false;
    };
    !target.is_empty()
        && !pid.is_empty()
        && pid.bytes().all(|b| b.is_ascii_digit())
        && rnd.len() == 12
        && rnd.bytes().all(|b| b.is_ascii_hexdigit())
}

fn is_report(name: &str) -> bool {
    name.starts_with(|c: char| c.is_ascii_digit()) && name.ends_with(SUFFIX)
}

impl Spool {
    /// Opens (creating, mode 0750) `dir` and `dir/rejected`, and removes
    /// temporary files a crash left behind (only names
    /// [`fsx::write_atomic`] makes; an operator's dotfiles stay).
    pub fn open(dir: &Path, max_bytes: u64) -> io::Result<Self> {
        use std::os::unix::fs::DirBuilderExt;
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o750)
            .create(dir.join(REJECTED_DIR))?;
        for entry in std::fs::read_dir(dir)? {
            let entry = entry?;
            let name = entry.file_name();
            if is_write_atomic_temp(&name.to_string_lossy()) && entry.file_type()?.is_file() {
                let _ = std::fs::remove_file(entry.path());
            }
        }
        Ok(Self {
            dir: dir.to_path_buf(),
            max_bytes,
            in_flight: Mutex::new(None),
        })
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Option<String>> {
        // The guarded value is a plain name; a panic elsewhere leaves it
        // usable.
        self.in_flight.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Spooled reports, oldest first, with their sizes.
    fn list(&self) -> io::Result<Vec<(String, u64)>> {
        let mut out = Vec::new();
        for entry in std::fs::read_dir(&self.dir)? {
            let entry = entry?;
            let Ok(name) = entry.file_name().into_string() else {
                continue;
            };
            if is_report(&name) && entry.file_type()?.is_file() {
                out.push((name, entry.metadata()?.len()));
            }
        }
        out.sort();
        Ok(out)
    }

    /// Number of reports waiting.
    pub fn len(&self) -> io::Result<usize> {
        let _guard = self.lock();
        Ok(self.list()?.len())
    }

    pub fn is_empty(&self) -> io::Result<bool> {
        Ok(self.len()? == 0)
    }

    /// Writes a report durably, first deleting the oldest reports (never
    /// the one in flight) while the spool would exceed its bound.
    pub fn push(&self, name: &str, body: &[u8]) -> io::Result<Pushed> {
        let guard = self.lock();
        let mut files = self.list()?;
        let mut total: u64 = files.iter().map(|(_, len)| len).sum();
        let need = u64::try_from(body.len()).unwrap_or(u64::MAX);
        let mut dropped = 0;
        let mut i = 0;
        while total + need > self.max_bytes && i < files.len() {
            let (victim, len) = &files[i];
            if guard.as_deref() == Some(victim.as_str()) || victim == name {
                i += 1;
                continue;
            }
            match std::fs::remove_file(self.dir.join(victim)) {
                Ok(()) => {
                    warn!(
                        report = %victim,
                        max_bytes = self.max_bytes,
                        "report spool full: dropped the oldest report unsent"
                    );
                    dropped += 1;
                    total -= len;
                    files.remove(i);
                }
                Err(e) if e.kind() == io::ErrorKind::NotFound => {
                    total -= len;
                    files.remove(i);
                }
                Err(e) => return Err(e),
            }
        }
        if total + need > self.max_bytes {
            warn!(
                max_bytes = self.max_bytes,
                size = need,
                "report spool over its bound: the newest report is kept anyway"
            );
        }
        // Never replace a spooled report: the same name means the same
        // report id, i.e. a window start repeated (a clock stepped back).
        // The caller alarms on AlreadyExists.
        fsx::write_atomic(&self.dir.join(name), body, 0o640, false)?;
        let reports = files.iter().filter(|(n, _)| n != name).count() + 1;
        if dropped > 0 {
            fsx::sync_dir(&self.dir)?;
        }
        Ok(Pushed { dropped, reports })
    }

    /// The oldest report, marked in flight (a full spool will not delete
    /// it) until [`Spool::done`], [`Spool::reject`] or [`Spool::release`].
    pub fn take_oldest(&self) -> io::Result<Option<Spooled>> {
        let mut guard = self.lock();
        for (name, _) in self.list()? {
            match std::fs::read(self.dir.join(&name)) {
                Ok(body) => {
                    *guard = Some(name.clone());
                    return Ok(Some(Spooled { name, body }));
                }
                Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
                Err(e) => return Err(e),
            }
        }
        Ok(None)
    }

    /// The report was delivered: delete it.
    pub fn done(&self, name: &str) -> io::Result<()> {
        let mut guard = self.lock();
        *guard = None;
        match std::fs::remove_file(self.dir.join(name)) {
            Ok(()) => fsx::sync_dir(&self.dir),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(e),
        }
    }

    /// The send failed and will be retried: no longer in flight.
    pub fn release(&self) {
        *self.lock() = None;
    }

    /// The collector refused the report: move it to `rejected/`, keeping
    /// the newest [`MAX_REJECTED`] there. Returns how many older refused
    /// reports were pruned (each one a lost report, for
    /// `ward_report_dropped_total`).
    pub fn reject(&self, name: &str) -> io::Result<u64> {
        let mut guard = self.lock();
        *guard = None;
        let rejected = self.dir.join(REJECTED_DIR);
        std::fs::rename(self.dir.join(name), rejected.join(name))?;
        fsx::sync_dir(&rejected)?;
        fsx::sync_dir(&self.dir)?;
        let mut old: Vec<String> = std::fs::read_dir(&rejected)?
            .filter_map(|e| e.ok()?.file_name().into_string().ok())
            .filter(|n| is_report(n))
            .collect();
        old.sort();
        let excess = old.len().saturating_sub(MAX_REJECTED);
        let mut pruned = 0;
        for n in &old[..excess] {
            match std::fs::remove_file(rejected.join(n)) {
                Ok(()) => {
                    error!(
                        report = %n,
                        kept = MAX_REJECTED,
                        "rejected/ full: deleted the oldest refused report; it is lost"
                    );
                    pruned += 1;
                }
                Err(e) => error!(error = %e, report = %n, "cannot prune rejected/"),
            }
        }
        Ok(pruned)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(dir: &Path) -> Vec<String> {
        let mut v: Vec<String> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        v.sort();
        v
    }

    #[test]
    fn oldest_first_survives_reopen_and_cleans_temps() {
        let dir = tempfile::tempdir().unwrap();
        let spool = Spool::open(dir.path(), 1 << 20).unwrap();
        spool.push(&file_name(20, "b"), b"two").unwrap();
        spool.push(&file_name(10, "a"), b"one").unwrap();
        std::fs::write(dir.path().join(".x.json.tmp-1-00aa11bb22cc"), b"torn").unwrap();
        std::fs::write(dir.path().join(".operator-notes"), b"mine").unwrap();
        std::fs::write(dir.path().join(".x.json.tmp-1-00"), b"not ours").unwrap();
        drop(spool);
        let spool = Spool::open(dir.path(), 1 << 20).unwrap();
        assert_eq!(
            names(dir.path()),
            [
                ".operator-notes".to_owned(),
                ".x.json.tmp-1-00".into(),
                file_name(10, "a"),
                file_name(20, "b"),
                REJECTED_DIR.into()
            ]
        );
        let first = spool.take_oldest().unwrap().unwrap();
        assert_eq!(first.body, b"one");
        spool.done(&first.name).unwrap();
        let second = spool.take_oldest().unwrap().unwrap();
        assert_eq!(second.body, b"two");
        spool.release();
        assert_eq!(spool.len().unwrap(), 1);
    }

    #[test]
    fn write_atomic_temps_are_recognised() {
        // The names write_atomic really uses.
        for target in ["x.json", &file_name(10, "a"), "last-window-end.state"] {
            let tmp = fsx::temp_path(&Path::new("/spool").join(target)).unwrap();
            let name = tmp.file_name().unwrap().to_str().unwrap();
            assert!(is_write_atomic_temp(name), "{name}");
        }
        for name in [
            ".x.json",
            ".tmp-1-0123456789ab",
            ".x.tmp-1-0123",
            ".x.tmp-a-0123456789ab",
            "x.json.tmp-1-0123456789ab",
        ] {
            assert!(!is_write_atomic_temp(name), "{name}");
        }
    }

    #[test]
    fn a_spooled_report_is_never_replaced() {
        let dir = tempfile::tempdir().unwrap();
        let spool = Spool::open(dir.path(), 1 << 20).unwrap();
        let name = file_name(10, "a");
        spool.push(&name, b"first").unwrap();
        let e = spool.push(&name, b"second").unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::AlreadyExists);
        assert_eq!(std::fs::read(dir.path().join(&name)).unwrap(), b"first");
    }

    #[test]
    fn full_spool_drops_oldest_but_not_in_flight() {
        let dir = tempfile::tempdir().unwrap();
        let spool = Spool::open(dir.path(), 25).unwrap();
        let body = [b'x'; 10];
        assert_eq!(spool.push(&file_name(1, "a"), &body).unwrap().dropped, 0);
        assert_eq!(spool.push(&file_name(2, "b"), &body).unwrap().dropped, 0);
        let p = spool.push(&file_name(3, "c"), &body).unwrap();
        assert_eq!((p.dropped, p.reports), (1, 2));
        assert!(!dir.path().join(file_name(1, "a")).exists());
        // b is in flight: d pushes c out instead.
        assert_eq!(
            spool.take_oldest().unwrap().unwrap().name,
            file_name(2, "b")
        );
        let p = spool.push(&file_name(4, "d"), &body).unwrap();
        assert_eq!((p.dropped, p.reports), (1, 2));
        assert!(dir.path().join(file_name(2, "b")).exists());
        assert!(!dir.path().join(file_name(3, "c")).exists());
        // One report over the whole bound is still kept.
        let p = spool.push(&file_name(5, "e"), &[b'y'; 100]).unwrap();
        assert_eq!(p.reports, 2, "b (in flight) and e");
    }

    #[test]
    fn rejected_reports_move_aside_and_are_pruned() {
        let dir = tempfile::tempdir().unwrap();
        let spool = Spool::open(dir.path(), 1 << 20).unwrap();
        let mut pruned = 0;
        for i in 0..(MAX_REJECTED as i64 + 3) {
            let name = file_name(i, "r");
            spool.push(&name, b"{}").unwrap();
            pruned += spool.reject(&name).unwrap();
        }
        assert_eq!(pruned, 3, "every prune is counted");
        assert!(spool.is_empty().unwrap());
        let kept = names(&dir.path().join(REJECTED_DIR));
        assert_eq!(kept.len(), MAX_REJECTED);
        assert_eq!(kept[0], file_name(3, "r"));
    }
}
