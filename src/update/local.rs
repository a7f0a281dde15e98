//! Local lists: a plain source file, in the national source format, that
//! a school or ISP operator keeps on the node (`[[lists]]` with `source`).
//!
//! The file is compiled when loaded and again on each reload, into the
//! same artifact form as a signed list, so that every list is looked up
//! the same way. Nobody signs it: the operator who owns the file is the
//! authority. It is signed in memory with a key drawn for this process,
//! only so that it passes through the one verification path (format,
//! hashes, the deep index check) and comes out as a `Verified` list.
//!
//! A source that does not compile never replaces the version in force:
//! [`LocalList::reload`] returns every bad line (`file:line: reason`)
//! and the caller keeps what it had.

use std::io::BufReader;
use std::path::{Path, PathBuf};

use ed25519_dalek::SigningKey;

use crate::list::source::SourceError;
use crate::list::{
    BuildError, BuildOptions, Bytes, Compiler, ListArtifact, TrustedKeys, Verified, VerifyError,
};

/// How long a compiled local list stays valid: it does not expire (its
/// file is re-read on every reload), so a century.
const VALID_FOR: jiff::SignedDuration = jiff::SignedDuration::from_hours(24 * 365 * 100);

/// Why a local source did not compile.
#[derive(Debug, thiserror::Error)]
pub enum LocalError {
    #[error("cannot read {}: {source}", .path.display())]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    /// Every bad line, each as `file:line: reason`.
    #[error("{} invalid line(s) in {}", .errors.len(), .path.display())]
    Source {
        path: PathBuf,
        errors: Vec<SourceError>,
    },
    #[error("cannot compile {}: {source}", .path.display())]
    Build { path: PathBuf, source: BuildError },
    #[error("compiled {} but it does not verify: {source}", .path.display())]
    Verify { path: PathBuf, source: VerifyError },
}

/// A local source list and the key its compiled versions are signed with.
#[derive(Debug)]
pub struct LocalList {
    /// The list's name in `[[lists]]`; also its list id.
    name: String,
    path: PathBuf,
    key: SigningKey,
    trust: TrustedKeys,
}

impl LocalList {
    /// A local list named `name` (a valid list id: `[a-z0-9][a-z0-9.-]*`)
    /// read from `path`. Draws this process's signing key.
    pub fn new(name: &str, path: &Path) -> Result<Self, LocalError> {
        let mut seed = [0u8; 32];
        getrandom::fill(&mut seed).map_err(|e| LocalError::Build {
            path: path.to_owned(),
            source: BuildError::Random(e.to_string()),
        })?;
        let key = SigningKey::from_bytes(&seed);
        let trust = [key.verifying_key()].into_iter().collect();
        Ok(Self {
            name: name.to_owned(),
            path: path.to_owned(),
            key,
            trust,
        })
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Reads and compiles the source now. Its serial is the file's
    /// modification time in seconds, so that an edit shows as a new
    /// serial in `CH TXT list.ward.` and in reports.
    pub fn reload(&self) -> Result<Verified<ListArtifact>, LocalError> {
        let read = |source| LocalError::Read {
            path: self.path.clone(),
            source,
        };
        let file = std::fs::File::open(&self.path).map_err(read)?;
        let modified = file.metadata().and_then(|m| m.modified()).map_err(read)?;
        let serial = modified
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(1, |d| d.as_secs().max(1));
        let mut compiler = Compiler::new();
        let label = self.path.display().to_string();
        let built = compiler
            .add_source(&label, BufReader::new(file))
            .and_then(|()| compiler.build(&self.options(serial), &self.key));
        let bytes = match built {
            Ok((bytes, _)) => bytes,
            Err(BuildError::Source(errors)) => {
                return Err(LocalError::Source {
                    path: self.path.clone(),
                    errors,
                });
            }
            Err(BuildError::Read { source, .. }) => return Err(read(source)),
            Err(source) => {
                return Err(LocalError::Build {
                    path: self.path.clone(),
                    source,
                });
            }
        };
        // Held like every other list: a sealed memory file, mapped.
        let len = bytes.len() as u64;
        let bytes = match crate::sys::sealed_copy(bytes.as_slice(), len) {
            Ok(Some(map)) => Bytes::Sealed(map),
            Ok(None) | Err(_) => Bytes::Owned(bytes),
        };
        crate::list::verify(bytes, &self.trust).map_err(|source| LocalError::Verify {
            path: self.path.clone(),
            source,
        })
    }

    fn options(&self, serial: u64) -> BuildOptions {
        let issued_at = jiff::Timestamp::now();
        BuildOptions {
            list_id: self.name.clone(),
            serial,
            issued_at,
            expires_at: issued_at
                .checked_add(VALID_FOR)
                .unwrap_or(jiff::Timestamp::MAX),
            confidential: Default::default(),
            min_age: Default::default(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::key_of_text;

    fn blocked(list: &ListArtifact, name: &str) -> Option<String> {
        let rule = list.lookup(&key_of_text(name.as_bytes()).unwrap())?;
        Some(
            list.manifest().categories[usize::from(rule.category)]
                .name
                .clone(),
        )
    }

    /// The path of the mapping `p` points into, from /proc/self/maps.
    fn mapping_of(p: *const u8) -> Option<String> {
        let at = p as usize;
        let maps = std::fs::read_to_string("/proc/self/maps").unwrap();
        maps.lines().find_map(|line| {
            let (range, rest) = line.split_once(' ')?;
            let (lo, hi) = range.split_once('-')?;
            let (lo, hi) = (
                usize::from_str_radix(lo, 16).ok()?,
                usize::from_str_radix(hi, 16).ok()?,
            );
            (lo <= at && at < hi).then(|| {
                rest.split_whitespace()
                    .skip(4)
                    .collect::<Vec<_>>()
                    .join(" ")
            })
        })
    }

    #[test]
    fn a_source_compiles_and_a_broken_one_names_every_bad_line() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("school.txt");
        std::fs::write(&path, "# local\ngames.test games\n=only.test social\n").unwrap();
        let local = LocalList::new("school-local", &path).unwrap();
        assert_eq!(local.name(), "school-local");
        let list = local.reload().unwrap();
        assert_eq!(list.manifest().list_id, "school-local");
        assert!(list.manifest().serial > 1_600_000_000, "the file's mtime");
        assert_eq!(blocked(&list, "www.games.test").as_deref(), Some("games"));
        assert_eq!(blocked(&list, "only.test").as_deref(), Some("social"));
        assert_eq!(blocked(&list, "x.only.test"), None);
        assert_eq!(
            mapping_of(list.as_bytes().as_ptr()).as_deref(),
            Some("/memfd:ward-list (deleted)"),
            "held in a sealed memory file like the national list"
        );

        std::fs::write(&path, "ok.test a\nbad..test b\n\n10.0.0.1 c\n").unwrap();
        match local.reload() {
            Err(LocalError::Source { errors, .. }) => {
                let lines: Vec<String> = errors.iter().map(ToString::to_string).collect();
                let file = path.display();
                assert_eq!(lines.len(), 2, "{lines:?}");
                assert!(
                    lines[0].starts_with(&format!("{file}:2: empty label")),
                    "{lines:?}"
                );
                assert!(
                    lines[1].starts_with(&format!("{file}:4: IP literal")),
                    "{lines:?}"
                );
            }
            other => panic!("want the bad lines, got {other:?}"),
        }

        std::fs::remove_file(&path).unwrap();
        let err = local.reload().unwrap_err();
        assert!(matches!(err, LocalError::Read { .. }), "{err:?}");
        assert!(err.to_string().contains("school.txt"), "{err}");
    }
}
