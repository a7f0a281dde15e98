//! Ed25519 keys: generation, key ids, and the two small text files.
//!
//! ```text
//! PREFIX.key (mode 0600)
//!   # ward Ed25519 signing key — keep secret. key id: 3f2a…
//!   ward-ed25519-secret-v1 <64 hex digits: the 32-byte seed>
//! PREFIX.pub
//!   # ward Ed25519 public key. key id: 3f2a…
//!   ward-ed25519-public-v1 <64 hex digits>
//! ```
//!
//! Lines starting with `#` and blank lines are ignored, so operators can
//! annotate files. A key id is the first 8 bytes of
//! `SHA-256("ward-key-id-v1\0" || public key)`, printed as 16 hex digits.
//! The same keys sign lists (ministry), compliance reports (ISP nodes) and
//! probe results.

use std::fmt;
use std::path::{Path, PathBuf};

use ed25519_dalek::{SigningKey, VerifyingKey};
use sha2::{Digest, Sha256};

use crate::fsx;

const SECRET_TAG: &str = "ward-ed25519-secret-v1";
const PUBLIC_TAG: &str = "ward-ed25519-public-v1";
const KEY_ID_CONTEXT: &[u8] = b"ward-key-id-v1\0";

/// The demo key's id. `serve` warns when it is trusted.
pub const DEMO_KEY_ID: &str = "2eb19ba9f19c0819";

/// Short identifier of a public key.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct KeyId(pub [u8; 8]);

impl KeyId {
    pub fn of(key: &VerifyingKey) -> Self {
        let digest = Sha256::new()
            .chain_update(KEY_ID_CONTEXT)
            .chain_update(key.as_bytes())
            .finalize();
        let mut id = [0u8; 8];
        id.copy_from_slice(&digest[..8]);
        Self(id)
    }

    /// Parses 16 hex digits.
    pub fn parse(text: &str) -> Option<Self> {
        let mut id = [0u8; 8];
        hex::decode_to_slice(text, &mut id).ok()?;
        Some(Self(id))
    }
}

impl fmt::Display for KeyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&hex::encode(self.0))
    }
}

impl fmt::Debug for KeyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "KeyId({self})")
    }
}

/// Problems reading or writing key files.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("cannot read key file {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot write key file {path}: {source}")]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}:{line}: {reason}")]
    Format {
        path: PathBuf,
        line: usize,
        reason: String,
    },
    #[error("{path}: no key found (expected a line starting with `{tag}`)")]
    Missing { path: PathBuf, tag: &'static str },
    #[error(
        "{path}: this is a secret (signing) key; pass the matching .pub file, never the secret"
    )]
    SecretWherePublicExpected { path: PathBuf },
    #[error("{path}: this is a public key; signing needs the .key file")]
    PublicWhereSecretExpected { path: PathBuf },
    /// The key line of a `.pub` file holds no usable key (line 0: the key
    /// as a whole). `problem` is shown, not a `source`.
    #[error("{path}:0: {problem}")]
    UnusablePublic {
        path: PathBuf,
        problem: PublicKeyError,
    },
    /// A key given as text ([`parse_public`]) is not usable.
    #[error(transparent)]
    Public(#[from] PublicKeyError),
}

/// Why 32 bytes are not an Ed25519 public key ward accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum PublicKeyError {
    #[error("not a valid Ed25519 public key (not a curve point)")]
    NotCurvePoint,
    #[error("weak Ed25519 public key (small-order point) refused")]
    Weak,
}

/// Generates a new signing key from the operating system's RNG.
pub fn generate() -> Result<SigningKey, getrandom::Error> {
    let mut seed = [0u8; 32];
    getrandom::fill(&mut seed)?;
    Ok(SigningKey::from_bytes(&seed))
}

/// Writes `PREFIX.key` (0600) and `PREFIX.pub` (0644). Refuses to replace
/// existing files unless `overwrite`.
pub fn write_pair(
    prefix: &Path,
    key: &SigningKey,
    overwrite: bool,
) -> Result<(PathBuf, PathBuf), KeyError> {
    let secret_path = with_suffix(prefix, "key");
    let public_path = with_suffix(prefix, "pub");
    let id = KeyId::of(&key.verifying_key());
    let secret = format!(
        "# ward Ed25519 signing key. Keep secret. key id: {id}\n{SECRET_TAG} {}\n",
        hex::encode(key.to_bytes())
    );
    let public = public_file_text(&key.verifying_key());
    for (path, text, mode) in [(&secret_path, secret, 0o600), (&public_path, public, 0o644)] {
        fsx::write_atomic(path, text.as_bytes(), mode, overwrite).map_err(|source| {
            KeyError::Write {
                path: path.clone(),
                source,
            }
        })?;
    }
    Ok((secret_path, public_path))
}

/// The text of a `.pub` file.
pub fn public_file_text(key: &VerifyingKey) -> String {
    format!(
        "# ward Ed25519 public key. key id: {}\n{PUBLIC_TAG} {}\n",
        KeyId::of(key),
        hex::encode(key.as_bytes())
    )
}

fn with_suffix(prefix: &Path, ext: &str) -> PathBuf {
    let mut s = prefix.as_os_str().to_owned();
    s.push(".");
    s.push(ext);
    PathBuf::from(s)
}

/// A signing key file read once (by `config`, when it loads): the file
/// as named, and the key it held then.
#[derive(Clone, PartialEq, Eq)]
pub struct SecretKeyFile {
    path: PathBuf,
    key: SigningKey,
}

impl SecretKeyFile {
    /// Reads the signing key at `path` ([`read_secret`]).
    pub fn read(path: &Path) -> Result<Self, KeyError> {
        Ok(Self {
            key: read_secret(path)?,
            path: path.to_path_buf(),
        })
    }

    /// The file, as the configuration names it.
    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn key(&self) -> &SigningKey {
        &self.key
    }
}

/// The path and the key id, never the secret.
impl fmt::Debug for SecretKeyFile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SecretKeyFile")
            .field("path", &self.path)
            .field("key_id", &KeyId::of(&self.key.verifying_key()).to_string())
            .finish()
    }
}

/// Written as its path, the way the configuration names it.
impl serde::Serialize for SecretKeyFile {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        crate::spelling::path(&self.path, s)
    }
}

/// A public key file read once (by `config`, when it loads): the file as
/// named, and the key it held then (`list.trusted_keys`, `[published]
/// trusted_keys`).
#[derive(Clone, PartialEq, Eq)]
pub struct PublicKeyFile {
    path: PathBuf,
    key: VerifyingKey,
}

impl PublicKeyFile {
    /// Reads the public key at `path` ([`read_public`]).
    pub fn read(path: &Path) -> Result<Self, KeyError> {
        Ok(Self {
            key: read_public(path)?,
            path: path.to_path_buf(),
        })
    }

    /// The file, as the configuration names it.
    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn key(&self) -> &VerifyingKey {
        &self.key
    }
}

/// The path and the key id.
impl fmt::Debug for PublicKeyFile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PublicKeyFile")
            .field("path", &self.path)
            .field("key_id", &KeyId::of(&self.key).to_string())
            .finish()
    }
}

/// Written as its path, the way the configuration names it.
impl serde::Serialize for PublicKeyFile {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        crate::spelling::path(&self.path, s)
    }
}

/// Reads a signing key file.
pub fn read_secret(path: &Path) -> Result<SigningKey, KeyError> {
    let text = read(path)?;
    let bytes = parse_one(path, &text, SECRET_TAG, PUBLIC_TAG)?;
    Ok(SigningKey::from_bytes(&bytes))
}

/// Reads a public key file.
pub fn read_public(path: &Path) -> Result<VerifyingKey, KeyError> {
    let text = read(path)?;
    let bytes = parse_one(path, &text, PUBLIC_TAG, SECRET_TAG)?;
    parse_public_bytes(&bytes).map_err(|problem| KeyError::UnusablePublic {
        path: path.to_path_buf(),
        problem,
    })
}

/// Parses a public key from its text form (the key line alone, or a whole
/// `.pub` file).
pub fn parse_public(text: &str) -> Result<VerifyingKey, KeyError> {
    let bytes = parse_one(Path::new("<key>"), text, PUBLIC_TAG, SECRET_TAG)?;
    Ok(parse_public_bytes(&bytes)?)
}

fn parse_public_bytes(bytes: &[u8; 32]) -> Result<VerifyingKey, PublicKeyError> {
    let key = VerifyingKey::from_bytes(bytes).map_err(|_| PublicKeyError::NotCurvePoint)?;
    if key.is_weak() {
        return Err(PublicKeyError::Weak);
    }
    Ok(key)
}

fn read(path: &Path) -> Result<String, KeyError> {
    let bytes = std::fs::read(path).map_err(|source| KeyError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    String::from_utf8(bytes).map_err(|e| KeyError::Format {
        path: path.to_path_buf(),
        line: 0,
        reason: format!("not UTF-8 text (byte {})", e.utf8_error().valid_up_to()),
    })
}

fn parse_one(
    path: &Path,
    text: &str,
    tag: &'static str,
    other: &'static str,
) -> Result<[u8; 32], KeyError> {
    let format_err = |line: usize, reason: String| KeyError::Format {
        path: path.to_path_buf(),
        line,
        reason,
    };
    let mut found = None;
    for (i, line) in text.lines().enumerate() {
        let line_no = i + 1;
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let (t, value) = line.split_once(char::is_whitespace).unwrap_or((line, ""));
        if t == other {
            return Err(if tag == PUBLIC_TAG {
                KeyError::SecretWherePublicExpected {
                    path: path.to_path_buf(),
                }
            } else {
                KeyError::PublicWhereSecretExpected {
                    path: path.to_path_buf(),
                }
            });
        }
        if t != tag {
            return Err(format_err(
                line_no,
                format!("expected `{tag} <64 hex digits>`"),
            ));
        }
        if found.is_some() {
            return Err(format_err(line_no, "more than one key in the file".into()));
        }
        let mut bytes = [0u8; 32];
        hex::decode_to_slice(value.trim(), &mut bytes)
            .map_err(|_| format_err(line_no, "key must be exactly 64 hex digits".into()))?;
        found = Some(bytes);
    }
    found.ok_or(KeyError::Missing {
        path: path.to_path_buf(),
        tag,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_modes() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let prefix = dir.path().join("k");
        let key = generate().unwrap();
        let (s, p) = write_pair(&prefix, &key, false).unwrap();
        assert_eq!(
            std::fs::metadata(&s).unwrap().permissions().mode() & 0o777,
            0o600
        );
        assert_eq!(read_secret(&s).unwrap().to_bytes(), key.to_bytes());
        assert_eq!(read_public(&p).unwrap(), key.verifying_key());
        assert!(write_pair(&prefix, &key, false).is_err());
        // Swapped files get a helpful error.
        assert!(matches!(
            read_public(&s),
            Err(KeyError::SecretWherePublicExpected { .. })
        ));
        assert!(matches!(
            read_secret(&p),
            Err(KeyError::PublicWhereSecretExpected { .. })
        ));
    }

    #[test]
    fn public_key_file_holds_the_key_and_writes_its_path() {
        let dir = tempfile::tempdir().unwrap();
        let key = generate().unwrap();
        let (s, p) = write_pair(&dir.path().join("k"), &key, false).unwrap();
        let file = PublicKeyFile::read(&p).unwrap();
        assert_eq!(file.path(), p);
        assert_eq!(file.key(), &key.verifying_key());
        let id = KeyId::of(&key.verifying_key()).to_string();
        assert!(format!("{file:?}").contains(&id), "{file:?}");
        assert_eq!(
            serde_json::to_string(&file).unwrap(),
            serde_json::to_string(&p).unwrap()
        );
        // The errors of `read_public`, word for word.
        assert_eq!(
            PublicKeyFile::read(&s).unwrap_err().to_string(),
            read_public(&s).unwrap_err().to_string()
        );
    }

    #[test]
    fn bad_files() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("x.pub");
        for (text, want) in [
            ("", "no key found"),
            ("# only a comment\n", "no key found"),
            (
                "ward-ed25519-public-v1 abcd\n",
                ":1: key must be exactly 64 hex",
            ),
            ("hello\n", ":1: expected"),
        ] {
            std::fs::write(&p, text).unwrap();
            let e = read_public(&p).unwrap_err().to_string();
            assert!(e.contains(want), "{text:?}: {e}");
        }
        // A small-order point is refused.
        let weak = format!("{PUBLIC_TAG} {}\n", "00".repeat(32));
        std::fs::write(&p, weak).unwrap();
        assert!(read_public(&p).is_err());
        // A directory is an error, not a panic.
        assert!(read_public(dir.path()).is_err());
    }
}
