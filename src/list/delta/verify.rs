//! Verifying a delta. [`open`] is the only constructor of a
//! [`VerifiedDelta`]; whether the delta fits the list in force is
//! checked when it is applied ([`super::Overlay::apply`]).

use std::ops::Deref;

use sha2::{Digest, Sha256};

use super::DeltaError;
use super::envelope::{self, DELTA};
use super::format::{self, DeltaManifest, RecordSection};
use crate::keys::KeyId;
use crate::list::TrustedKeys;
use crate::list::filter::Filter;
use crate::list::format::RuleValue;
use crate::list::hashed::NameHash;

/// A delta's authentic contents, decoded.
pub struct ListDelta {
    manifest: DeltaManifest,
    key_id: KeyId,
    sha256: [u8; 32],
    len: usize,
    base_sha256: [u8; 32],
    target_sha256: [u8; 32],
    pub(super) salt: [u8; 32],
    /// Plaintext keys and their rules after the delta (target ids).
    pub(super) plain: Vec<(Box<[u8]>, RuleValue)>,
    /// Confidential hashes and their rules after the delta.
    pub(super) hashed: Vec<(NameHash, RuleValue)>,
    /// The target's confidential filter, or its changed blocks.
    pub(super) filter: Option<FilterUpdate>,
}

impl std::fmt::Debug for ListDelta {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ListDelta")
            .field("list_id", &self.manifest.list_id)
            .field("base", &self.manifest.base.serial)
            .field("serial", &self.manifest.target.serial)
            .field("plain", &self.plain.len())
            .field("hashed", &self.hashed.len())
            .finish()
    }
}

impl ListDelta {
    pub fn manifest(&self) -> &DeltaManifest {
        &self.manifest
    }
    pub fn list_id(&self) -> &str {
        &self.manifest.list_id
    }
    /// The serial the delta applies to.
    pub fn base_serial(&self) -> u64 {
        self.manifest.base.serial
    }
    /// The serial the delta leads to.
    pub fn serial(&self) -> u64 {
        self.manifest.target.serial
    }
    /// SHA-256 of the full artifact the delta applies to.
    pub fn base_sha256(&self) -> [u8; 32] {
        self.base_sha256
    }
    /// SHA-256 of the full artifact whose rules base + delta equal.
    pub fn target_sha256(&self) -> [u8; 32] {
        self.target_sha256
    }
    pub fn key_id(&self) -> KeyId {
        self.key_id
    }
    /// SHA-256 of the delta file itself.
    pub fn sha256(&self) -> [u8; 32] {
        self.sha256
    }
    /// Size of the delta file in bytes.
    pub fn len(&self) -> usize {
        self.len
    }
    pub fn is_empty(&self) -> bool {
        self.plain.is_empty() && self.hashed.is_empty()
    }
    /// Names whose plaintext rules change.
    pub fn plain_changes(&self) -> usize {
        self.plain.len()
    }
    /// Confidential names whose rules change.
    pub fn confidential_changes(&self) -> usize {
        self.hashed.len()
    }
}

/// The target's confidential filter as a delta carries it.
#[derive(Debug, Clone)]
pub(super) enum FilterUpdate {
    /// The whole filter and its block count.
    Full(Vec<u8>, u64),
    /// The blocks that differ from the base's filter of `blocks` blocks.
    Patch {
        blocks: u64,
        changed: Vec<(usize, Vec<u8>)>,
    },
}

/// Proof that a delta's signature and contents were checked. Only
/// [`open`] makes one.
#[derive(Debug)]
pub struct VerifiedDelta(ListDelta);

impl Deref for VerifiedDelta {
    type Target = ListDelta;
    fn deref(&self) -> &ListDelta {
        &self.0
    }
}

/// Reads and verifies a delta file.
pub fn open_file(path: &std::path::Path, trust: &TrustedKeys) -> Result<VerifiedDelta, DeltaError> {
    let bytes = std::fs::read(path).map_err(|source| DeltaError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    open(&bytes, trust)
}

/// Verifies a delta: header, trusted key and signature first, then the
/// manifest against the payload, then every record.
pub fn open(bytes: &[u8], trust: &TrustedKeys) -> Result<VerifiedDelta, DeltaError> {
    let opened = envelope::open(DELTA, bytes, trust)?;
    let bad = |reason: String| DeltaError::Manifest { reason };
    // Authentic from here on.
    let manifest: DeltaManifest =
        serde_json::from_slice(opened.manifest).map_err(|e| bad(e.to_string()))?;
    if manifest.format != envelope::VERSION {
        return Err(bad(format!(
            "format {} is not {}",
            manifest.format,
            envelope::VERSION
        )));
    }
    if manifest.key_id != opened.key_id.to_string() {
        return Err(bad("key id differs from the header's".into()));
    }
    let payload = opened.payload;
    if manifest.payload.len != payload.len() as u64
        || manifest.payload.sha256 != hex::encode(Sha256::digest(payload))
    {
        return Err(bad(
            "payload length or SHA-256 differs from the manifest".into()
        ));
    }
    if manifest.target.serial <= manifest.base.serial {
        return Err(DeltaError::SerialOrder {
            base: manifest.base.serial,
            target: manifest.target.serial,
        });
    }
    let hex32 = |s: &str, field: &str| {
        let mut out = [0u8; 32];
        hex::decode_to_slice(s, &mut out)
            .map(|()| out)
            .map_err(|_| bad(format!("{field} is not 64 hex digits")))
    };
    let base_sha256 = hex32(&manifest.base.sha256, "base.sha256")?;
    let target_sha256 = hex32(&manifest.target.sha256, "target.sha256")?;
    let salt = hex32(&manifest.salt, "salt")?;
    let cats = &manifest.categories;
    if cats.len() > usize::from(RuleValue::MAX_CATEGORY) + 1 {
        return Err(bad("too many categories".into()));
    }
    let section = |s: RecordSection| -> Result<&[u8], DeltaError> {
        let start = usize::try_from(s.offset).ok();
        let len = usize::try_from(s.len).ok();
        match (start, len) {
            (Some(a), Some(l)) if a.checked_add(l).is_some_and(|e| e <= payload.len()) => {
                Ok(&payload[a..a + l])
            }
            _ => Err(bad("a payload section lies outside the payload".into())),
        }
    };
    // A value may name only the target's categories, and only those of
    // its table's confidentiality.
    let check_value = |v: u32, confidential: bool| -> Result<RuleValue, String> {
        let r = RuleValue::unpack(v);
        if r.pack() != v {
            return Err("a rule value has stray bits".into());
        }
        for c in [r.exact, r.subtree].into_iter().flatten() {
            let Some(info) = cats.get(usize::from(c)) else {
                return Err(format!(
                    "a rule names category id {c}, which the delta lacks"
                ));
            };
            if info.confidential != confidential {
                return Err(format!(
                    "a {} record is in category `{}`, which is {}",
                    if confidential {
                        "confidential"
                    } else {
                        "plaintext"
                    },
                    info.name,
                    if info.confidential {
                        "confidential"
                    } else {
                        "not confidential"
                    }
                ));
            }
        }
        Ok(r)
    };
    let plain = format::decode_plain(
        section(manifest.payload.plain)?,
        manifest.payload.plain.count,
    )
    .map_err(bad)?
    .into_iter()
    .map(|(k, v)| check_value(v, false).map(|r| (k, r)))
    .collect::<Result<Vec<_>, _>>()
    .map_err(bad)?;
    let hashed = format::decode_hashed(
        section(manifest.payload.hashed)?,
        manifest.payload.hashed.count,
    )
    .map_err(bad)?
    .into_iter()
    .map(|(h, v)| check_value(v, true).map(|r| (h, r)))
    .collect::<Result<Vec<_>, _>>()
    .map_err(bad)?;
    let filter = match manifest.payload.filter {
        None if !hashed.is_empty() => {
            return Err(bad(
                "confidential records without the target's filter".into()
            ));
        }
        None => None,
        Some(f) => {
            let bytes = section(RecordSection {
                offset: f.offset,
                len: f.len,
                count: 0,
            })?;
            if f.patch {
                let mut changed: Vec<(usize, Vec<u8>)> = Vec::new();
                if bytes.len() % format::PATCH_RECORD != 0 {
                    return Err(bad("filter patch is not whole blocks".into()));
                }
                for rec in bytes.chunks_exact(format::PATCH_RECORD) {
                    let i = u32::from_le_bytes([rec[0], rec[1], rec[2], rec[3]]) as usize;
                    if u64::try_from(i).map_or(true, |i| i >= f.blocks)
                        || changed.last().is_some_and(|(p, _)| *p >= i)
                    {
                        return Err(bad("filter patch blocks out of range or order".into()));
                    }
                    changed.push((i, rec[4..].to_vec()));
                }
                Some(FilterUpdate::Patch {
                    blocks: f.blocks,
                    changed,
                })
            } else {
                if Filter::new(bytes, f.blocks).is_none() {
                    return Err(bad("filter size does not match its block count".into()));
                }
                Some(FilterUpdate::Full(bytes.to_vec(), f.blocks))
            }
        }
    };
    Ok(VerifiedDelta(ListDelta {
        key_id: opened.key_id,
        sha256: Sha256::digest(bytes).into(),
        len: bytes.len(),
        base_sha256,
        target_sha256,
        salt,
        plain,
        hashed,
        filter,
        manifest,
    }))
}
