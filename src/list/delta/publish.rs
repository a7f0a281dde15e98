//! The static directory a mirror serves (`ward list publish`).
//!
//! ```text
//! DIR/index.ward-index          signed index: latest serial, files, deltas
//! DIR/list-<serial>.ward        the latest full list (and the earlier ones
//!                               kept to compute deltas from)
//! DIR/list-<serial>.ward.zst    the latest full list, zstd-compressed
//! DIR/delta-<from>-<to>.wdelta  a delta from each kept serial to the latest
//! ```
//!
//! Every file is written atomically (temp file, fsync, rename), new files
//! before the index that names them, and old files are removed only after
//! the new index is in place: a mirror copying the directory at any moment
//! sees an index whose files all exist.

use std::path::{Path, PathBuf};

use ed25519_dalek::SigningKey;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::DeltaError;
use super::envelope::{self, INDEX};
use crate::keys::KeyId;
use crate::list::{Bytes, ListArtifact, TrustedKeys, Verified};

/// The index's file name.
pub const INDEX_FILE: &str = "index.ward-index";
/// How many earlier serials get a delta to the latest, by default.
pub const DEFAULT_KEEP: usize = 8;
/// zstd level of the compressed full list, by default: the smallest
/// file (68.8 % of a 1M-name list, against 73.0 % at level 9 and 79.0 %
/// at 3), at seconds of CPU per million names.
pub const ZSTD_LEVEL: i32 = 19;

/// The signed index.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Index {
    pub format: u16,
    pub list_id: String,
    pub key_id: String,
    pub published_at: jiff::Timestamp,
    pub latest: FullEntry,
    /// Deltas leading to the latest serial, newest base first.
    pub deltas: Vec<DeltaEntry>,
}

/// A file in the directory.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileEntry {
    /// Name relative to the directory.
    pub file: String,
    pub size: u64,
    /// SHA-256 of the file, hex.
    pub sha256: String,
}

/// The latest full list.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FullEntry {
    pub serial: u64,
    pub expires_at: jiff::Timestamp,
    #[serde(flatten)]
    pub plain: FileEntry,
    /// The same list compressed with zstd; its `sha256` is the
    /// compressed file's (the list is verified after decompression).
    pub zst: FileEntry,
}

/// One delta to the latest serial.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeltaEntry {
    pub base_serial: u64,
    /// SHA-256 of the base's full artifact, hex.
    pub base_sha256: String,
    pub serial: u64,
    #[serde(flatten)]
    pub file: FileEntry,
}

/// What a publish did.
#[derive(Debug, Clone, Default)]
pub struct Published {
    pub serial: u64,
    pub full_size: u64,
    pub zst_size: u64,
    /// (base serial, delta size) for each delta written.
    pub deltas: Vec<(u64, u64)>,
    /// Earlier serials no delta could be made from, and why.
    pub skipped: Vec<(u64, String)>,
    pub removed: Vec<String>,
}

/// Verifies and parses an index.
pub fn open_index(bytes: &[u8], trust: &TrustedKeys) -> Result<Index, DeltaError> {
    let opened = envelope::open(INDEX, bytes, trust)?;
    let index: Index =
        serde_json::from_slice(opened.manifest).map_err(|e| DeltaError::Manifest {
            reason: format!("index: {e}"),
        })?;
    if index.key_id != opened.key_id.to_string() || !opened.payload.is_empty() {
        return Err(DeltaError::Manifest {
            reason: "index: key id differs from the header's, or a payload follows".into(),
        });
    }
    Ok(index)
}

fn entry(file: String, bytes: &[u8]) -> FileEntry {
    FileEntry {
        file,
        size: bytes.len() as u64,
        sha256: hex::encode(Sha256::digest(bytes)),
    }
}

fn io_err(path: &Path) -> impl FnOnce(std::io::Error) -> DeltaError + '_ {
    move |source| DeltaError::Io {
        path: path.to_path_buf(),
        source,
    }
}

fn write(path: &Path, bytes: &[u8]) -> Result<(), DeltaError> {
    crate::fsx::write_atomic(path, bytes, 0o644, true).map_err(io_err(path))
}

/// The full lists kept in `dir` (`list-<serial>.ward`), verified, newest
/// first. A file that fails verification is reported, not used.
fn kept_lists(
    dir: &Path,
    trust: &TrustedKeys,
    skipped: &mut Vec<(u64, String)>,
) -> Result<Vec<(PathBuf, Verified<ListArtifact>)>, DeltaError> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).map_err(io_err(dir))? {
        let e = e.map_err(io_err(dir))?;
        let name = e.file_name().to_string_lossy().into_owned();
        let Some(serial) = name
            .strip_prefix("list-")
            .and_then(|s| s.strip_suffix(".ward"))
            .and_then(|s| s.parse::<u64>().ok())
        else {
            continue;
        };
        match crate::list::open_file(&e.path(), trust) {
            Ok(l) => out.push((e.path(), l)),
            Err(err) => skipped.push((serial, format!("{name}: {err}"))),
        }
    }
    out.sort_by_key(|(_, l)| std::cmp::Reverse(l.serial()));
    Ok(out)
}

/// Adds the signed list `artifact` to `dir` as its latest serial: the
/// full list and its zstd copy, a delta from each of the `keep` newest
/// earlier serials kept there, and a new signed index; then removes what
/// the index no longer names (full lists beyond `keep` earlier serials,
/// older zstd copies and deltas).
pub fn publish(
    dir: &Path,
    artifact: &[u8],
    key: &SigningKey,
    trust: &TrustedKeys,
    keep: usize,
    zstd_level: i32,
    now: jiff::Timestamp,
) -> Result<Published, DeltaError> {
    let new = crate::list::verify(Bytes::Owned(artifact.to_vec()), trust)?;
    new.deep_check()?;
    let index_path = dir.join(INDEX_FILE);
    match std::fs::read(&index_path) {
        Ok(bytes) => {
            let old = open_index(&bytes, trust)?;
            if old.list_id != new.list_id() {
                return Err(DeltaError::ListId {
                    expected: old.list_id,
                    found: new.list_id().to_owned(),
                });
            }
            if new.serial() <= old.latest.serial {
                return Err(DeltaError::NotNewer {
                    latest: old.latest.serial,
                    serial: new.serial(),
                });
            }
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(io_err(&index_path)(e)),
    }
    let mut report = Published {
        serial: new.serial(),
        ..Published::default()
    };
    let earlier = kept_lists(dir, trust, &mut report.skipped)?;

    let full_name = format!("list-{}.ward", new.serial());
    let zst_name = format!("{full_name}.zst");
    let zst = zstd::bulk::compress(artifact, zstd_level).map_err(io_err(dir))?;
    write(&dir.join(&full_name), artifact)?;
    write(&dir.join(&zst_name), &zst)?;
    report.full_size = artifact.len() as u64;
    report.zst_size = zst.len() as u64;

    let mut deltas = Vec::new();
    let mut bases = Vec::new();
    for (_, old) in earlier
        .iter()
        .filter(|(_, l)| l.serial() < new.serial() && l.list_id() == new.list_id())
        .take(keep)
    {
        bases.push(old.serial());
        match super::diff(old, &new, key) {
            Ok((bytes, _)) => {
                let name = format!("delta-{}-{}.wdelta", old.serial(), new.serial());
                write(&dir.join(&name), &bytes)?;
                report.deltas.push((old.serial(), bytes.len() as u64));
                deltas.push(DeltaEntry {
                    base_serial: old.serial(),
                    base_sha256: hex::encode(old.sha256()),
                    serial: new.serial(),
                    file: entry(name, &bytes),
                });
            }
            Err(e) => report.skipped.push((old.serial(), e.to_string())),
        }
    }
    let index = Index {
        format: envelope::VERSION,
        list_id: new.list_id().to_owned(),
        key_id: KeyId::of(&key.verifying_key()).to_string(),
        published_at: now,
        latest: FullEntry {
            serial: new.serial(),
            expires_at: new.manifest().expires_at,
            plain: entry(full_name.clone(), artifact),
            zst: entry(zst_name.clone(), &zst),
        },
        deltas,
    };
    // Plain structs of strings and integers always serialise.
    let json = serde_json::to_vec_pretty(&index).expect("an Index serialises to JSON");
    write(&index_path, &envelope::seal(INDEX, &json, &[], key)?)?;

    // What the new index does not name goes, except the full lists of
    // the serials deltas were made from (the next publish needs them).
    let mut wanted: Vec<String> = vec![INDEX_FILE.into(), full_name, zst_name];
    wanted.extend(index.deltas.iter().map(|d| d.file.file.clone()));
    wanted.extend(bases.iter().map(|s| format!("list-{s}.ward")));
    for e in std::fs::read_dir(dir).map_err(io_err(dir))? {
        let e = e.map_err(io_err(dir))?;
        let name = e.file_name().to_string_lossy().into_owned();
        let ours = (name.starts_with("list-")
            && (name.ends_with(".ward") || name.ends_with(".ward.zst")))
            || (name.starts_with("delta-") && name.ends_with(".wdelta"));
        if ours && !wanted.contains(&name) {
            std::fs::remove_file(e.path()).map_err(io_err(&e.path()))?;
            report.removed.push(name);
        }
    }
    crate::fsx::sync_dir(dir).map_err(io_err(dir))?;
    Ok(report)
}
