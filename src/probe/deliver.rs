//! Delivering signed probe results (`ward probe --report-to`) so that none
//! is lost: each result is first written to the spool directory
//! (atomically, [`crate::fsx::write_atomic`]), then every spooled result is
//! POSTed, oldest first, and removed once the collector answered 2xx.
//!
//! * 2xx (stored or a duplicate): delivered; the file is removed.
//! * 4xx other than 408/429: the collector read it and refused it; a
//!   retry would get the same answer. The file moves to
//!   `spool/rejected/` (kept for the operator, never re-sent).
//! * Anything else (no connection, timeout, 5xx, 408, 429, a redirect):
//!   the file stays and is sent first on the next run; the remaining
//!   spooled results are not tried in this run (the collector is down).
//!
//! A spool file is the `Ward-Signature` value, a newline, then the body
//! exactly as signed. Its name, `<probed_at ms>-<probe_id>.probe`, sorts
//! oldest first.

use std::path::{Path, PathBuf};

use crate::metrics::SendResult;
use crate::report::send::Sender;

/// The header naming the probe id (also in the body).
pub const PROBE_ID_HEADER: &str = "Ward-Probe-Id";
/// Spool file suffix.
const SUFFIX: &str = ".probe";
/// Where refused results are kept.
const REJECTED: &str = "rejected";

/// Why the spool cannot be written, read or tidied. Each names the file
/// or directory.
#[derive(Debug, thiserror::Error)]
pub enum SpoolError {
    #[error("cannot create the spool directory {dir}: {source}")]
    CreateSpool {
        dir: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot write {path}: {source}")]
    Write {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// A spool file, or the spool directory.
    #[error("cannot read {path}: {source}")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{path}: not a spooled probe result")]
    NotSpooled { path: PathBuf },
    #[error("{path}: the signature line is not text")]
    SignatureNotText { path: PathBuf },
    #[error("cannot remove {path}: {source}")]
    Remove {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot sync {dir}: {source}")]
    Sync {
        dir: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// `rejected/`.
    #[error("cannot create {dir}: {source}")]
    CreateRejected {
        dir: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// Into `rejected/`.
    #[error("cannot move {path}: {source}")]
    Move {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

/// One signed result, as spooled.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Signed {
    pub probe_id: String,
    pub signature: String,
    pub body: Vec<u8>,
}

/// The spool file name of a result.
pub fn file_name(probed_at: jiff::Timestamp, probe_id: &str) -> String {
    format!("{:016}-{probe_id}{SUFFIX}", probed_at.as_millisecond())
}

/// Writes `s` to `dir/name` durably (creating `dir`).
pub fn spool(dir: &Path, name: &str, s: &Signed) -> Result<PathBuf, SpoolError> {
    std::fs::create_dir_all(dir).map_err(|source| SpoolError::CreateSpool {
        dir: dir.to_path_buf(),
        source,
    })?;
    let path = dir.join(name);
    let mut bytes = Vec::with_capacity(s.signature.len() + 1 + s.body.len());
    bytes.extend_from_slice(s.signature.as_bytes());
    bytes.push(b'\n');
    bytes.extend_from_slice(&s.body);
    if let Err(source) = crate::fsx::write_atomic(&path, &bytes, 0o600, true) {
        return Err(SpoolError::Write { path, source });
    }
    Ok(path)
}

/// Reads one spool file.
fn read(path: &Path) -> Result<Signed, SpoolError> {
    let bytes = std::fs::read(path).map_err(|source| SpoolError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    let at = bytes
        .iter()
        .position(|b| *b == b'\n')
        .ok_or_else(|| SpoolError::NotSpooled {
            path: path.to_path_buf(),
        })?;
    let (sig, body) = bytes.split_at(at);
    let signature = String::from_utf8(sig.to_vec()).map_err(|_| SpoolError::SignatureNotText {
        path: path.to_path_buf(),
    })?;
    let probe_id = path
        .file_name()
        .and_then(|n| n.to_str())
        .and_then(|n| n.strip_suffix(SUFFIX))
        .and_then(|n| n.split_once('-'))
        .map(|(_, id)| id.to_owned())
        .unwrap_or_default();
    Ok(Signed {
        probe_id,
        signature,
        // `split_at` left the newline at the start of the body.
        body: body.get(1..).unwrap_or_default().to_vec(),
    })
}

/// The spooled results, oldest first.
pub fn pending(dir: &Path) -> Result<Vec<PathBuf>, SpoolError> {
    let unreadable = |source| SpoolError::Read {
        path: dir.to_path_buf(),
        source,
    };
    let entries = match std::fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(unreadable(e)),
    };
    let mut out = Vec::new();
    for entry in entries {
        let entry = entry.map_err(unreadable)?;
        let name = entry.file_name();
        let Some(name) = name.to_str() else { continue };
        // Temporary files of write_atomic start with '.'.
        if name.ends_with(SUFFIX) && !name.starts_with('.') {
            out.push(entry.path());
        }
    }
    out.sort();
    Ok(out)
}

/// What one delivery run did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Delivery {
    /// Probe ids the collector acknowledged.
    pub delivered: Vec<String>,
    /// Refused (4xx), with the collector's answer; moved to `rejected/`.
    pub rejected: Vec<(String, String)>,
    /// Still spooled, with why the first of them failed.
    pub kept: Vec<String>,
    pub failure: Option<String>,
}

/// POSTs every spooled result in `dir`, oldest first (see the module
/// docs for what each answer does).
pub async fn flush(sender: &Sender, dir: &Path) -> Result<Delivery, SpoolError> {
    let mut out = Delivery::default();
    for path in pending(dir)? {
        let signed = read(&path)?;
        if out.failure.is_some() {
            out.kept.push(signed.probe_id);
            continue;
        }
        let sent = sender
            .post_signed(
                Some((PROBE_ID_HEADER, &signed.probe_id)),
                &signed.signature,
                signed.body,
            )
            .await;
        match sent.result {
            SendResult::Ok => {
                if let Err(source) = std::fs::remove_file(&path) {
                    return Err(SpoolError::Remove { path, source });
                }
                crate::fsx::sync_dir(dir).map_err(|source| SpoolError::Sync {
                    dir: dir.to_path_buf(),
                    source,
                })?;
                out.delivered.push(signed.probe_id);
            }
            SendResult::Rejected => {
                let rejected = dir.join(REJECTED);
                if let Err(source) = std::fs::create_dir_all(&rejected) {
                    return Err(SpoolError::CreateRejected {
                        dir: rejected,
                        source,
                    });
                }
                if let Some(name) = path.file_name()
                    && let Err(source) = std::fs::rename(&path, rejected.join(name))
                {
                    return Err(SpoolError::Move { path, source });
                }
                out.rejected.push((signed.probe_id, sent.detail));
            }
            _ => {
                out.failure = Some(sent.detail);
                out.kept.push(signed.probe_id);
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spool_files_round_trip_and_sort_oldest_first() {
        let dir = tempfile::tempdir().unwrap();
        let s = |id: &str| Signed {
            probe_id: id.into(),
            signature: "ed25519 keyid=00; sig=00".into(),
            body: b"{\"a\":\n1}".to_vec(),
        };
        let late: jiff::Timestamp = "2026-11-29T18:00:00Z".parse().unwrap();
        let early: jiff::Timestamp = "2026-11-29T17:00:00Z".parse().unwrap();
        spool(dir.path(), &file_name(late, "bb"), &s("bb")).unwrap();
        spool(dir.path(), &file_name(early, "aa"), &s("aa")).unwrap();
        std::fs::write(dir.path().join(".tmp.probe"), "x").unwrap();
        std::fs::write(dir.path().join("other.txt"), "x").unwrap();
        let p = pending(dir.path()).unwrap();
        assert_eq!(p.len(), 2, "{p:?}");
        assert_eq!(read(&p[0]).unwrap(), s("aa"));
        assert_eq!(read(&p[1]).unwrap(), s("bb"));
        assert!(pending(&dir.path().join("missing")).unwrap().is_empty());
        std::fs::write(dir.path().join("1-x.probe"), "no newline").unwrap();
        assert!(read(&dir.path().join("1-x.probe")).is_err());
    }
}
