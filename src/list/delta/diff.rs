//! Computing a delta from two verified full lists (the publisher's side).

use ed25519_dalek::SigningKey;
use sha2::{Digest, Sha256};

use super::DeltaError;
use super::envelope::{self, DELTA};
use super::format::{self, DeltaManifest, DeltaPayload, Endpoint, FilterPart, RecordSection};
use crate::keys::KeyId;
use crate::list::ListArtifact;
use crate::list::format::{RuleKind, RuleValue, align8};
use crate::list::hashed::{HASH_LEN, NameHash};

/// What a delta changes, for the log.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DiffStats {
    /// Rules added (a changed category counts as removed and added).
    pub added: u64,
    pub removed: u64,
    /// Names whose rules changed: plaintext and confidential.
    pub plain_names: u64,
    pub confidential_names: u64,
}

/// Signs the delta that turns `old`'s rules into `new`'s. Both must be
/// serials of one list, `new` the later, keyed with the same salt when
/// either holds confidential rules (`ward list build --salt-from`).
pub fn diff(
    old: &ListArtifact,
    new: &ListArtifact,
    key: &SigningKey,
) -> Result<(Vec<u8>, DiffStats), DeltaError> {
    if old.list_id() != new.list_id() {
        return Err(DeltaError::ListId {
            expected: old.list_id().to_owned(),
            found: new.list_id().to_owned(),
        });
    }
    if new.serial() <= old.serial() {
        return Err(DeltaError::SerialOrder {
            base: old.serial(),
            target: new.serial(),
        });
    }
    let any_secret = old.hashed_table().len() + new.hashed_table().len() > 0;
    if any_secret && old.salt != new.salt {
        return Err(DeltaError::SaltDiffers {
            serial: new.serial(),
        });
    }
    check_categories(&old.manifest().categories, &new.manifest().categories)?;
    let old_names: Vec<&str> = old
        .manifest()
        .categories
        .iter()
        .map(|c| c.name.as_str())
        .collect();
    let new_names: Vec<&str> = new
        .manifest()
        .categories
        .iter()
        .map(|c| c.name.as_str())
        .collect();
    let mut stats = DiffStats::default();
    let mut count = |a: Option<RuleValue>, b: Option<RuleValue>| -> bool {
        let (a, b) = (a.unwrap_or_default(), b.unwrap_or_default());
        let mut changed = false;
        for kind in [RuleKind::Exact, RuleKind::Subtree] {
            let was = a.get(kind).map(|c| old_names.get(usize::from(c)).copied());
            let is = b.get(kind).map(|c| new_names.get(usize::from(c)).copied());
            if was != is {
                changed = true;
                stats.removed += u64::from(was.is_some());
                stats.added += u64::from(is.is_some());
            }
        }
        changed
    };

    let mut plain: Vec<(Vec<u8>, RuleValue)> = Vec::new();
    new.for_each_plain_pair(old, |key, a, b| {
        if count(a, b) {
            plain.push((key.to_vec(), b.unwrap_or_default()));
        }
    })?;

    let mut hashed: Vec<(NameHash, RuleValue)> = Vec::new();
    {
        let (ot, nt) = (old.hashed_table(), new.hashed_table());
        let (mut oi, mut ni) = (ot.iter().peekable(), nt.iter().peekable());
        let as_hash = |h: &[u8]| {
            let mut out = [0u8; HASH_LEN];
            out.copy_from_slice(h);
            out
        };
        loop {
            let (h, a, b) = match (oi.peek(), ni.peek()) {
                (None, None) => break,
                (Some(&(ho, vo)), Some(&(hn, vn))) if ho == hn => {
                    oi.next();
                    ni.next();
                    (as_hash(ho), Some(vo), Some(vn))
                }
                (Some(&(ho, vo)), Some(&(hn, _))) if ho < hn => {
                    oi.next();
                    (as_hash(ho), Some(vo), None)
                }
                (Some(&(ho, vo)), None) => {
                    oi.next();
                    (as_hash(ho), Some(vo), None)
                }
                (_, Some(&(hn, vn))) => {
                    ni.next();
                    (as_hash(hn), None, Some(vn))
                }
            };
            let (a, b) = (a.map(RuleValue::unpack), b.map(RuleValue::unpack));
            if count(a, b) {
                hashed.push((h, b.unwrap_or_default()));
            }
        }
    }
    stats.plain_names = plain.len() as u64;
    stats.confidential_names = hashed.len() as u64;

    // The target's confidential filter, when the confidential rules
    // change: the node screens with it instead of the base's.
    // Only its changed blocks when the base's has as many (the block
    // count follows the number of confidential names in steps of ~36).
    let filter_bytes = if hashed.is_empty() {
        None
    } else {
        let f = new.filter.ok_or(DeltaError::NoFilter {
            serial: new.serial(),
        })?;
        let target = &new.as_bytes()[f.secret.0..f.secret.1];
        match old.filter {
            Some(o) if o.secret_blocks == f.secret_blocks => {
                let base = &old.as_bytes()[o.secret.0..o.secret.1];
                let mut patch = Vec::new();
                let bb = crate::list::filter::BLOCK_BYTES;
                for (i, (a, b)) in base.chunks(bb).zip(target.chunks(bb)).enumerate() {
                    if a != b {
                        let i = u32::try_from(i).map_err(|_| DeltaError::TooLarge("filter"))?;
                        patch.extend_from_slice(&i.to_le_bytes());
                        patch.extend_from_slice(b);
                    }
                }
                Some((std::borrow::Cow::Owned(patch), f.secret_blocks, true))
            }
            _ => Some((std::borrow::Cow::Borrowed(target), f.secret_blocks, false)),
        }
    };

    let mut payload = format::encode_plain(&plain);
    let plain_section = RecordSection {
        offset: 0,
        len: payload.len() as u64,
        count: plain.len() as u64,
    };
    payload.resize(align8(payload.len()), 0);
    let hashed_bytes = format::encode_hashed(&hashed);
    let hashed_section = RecordSection {
        offset: payload.len() as u64,
        len: hashed_bytes.len() as u64,
        count: hashed.len() as u64,
    };
    payload.extend_from_slice(&hashed_bytes);
    payload.resize(align8(payload.len()), 0);
    let filter = filter_bytes.map(|(bytes, blocks, patch)| {
        let part = FilterPart {
            offset: payload.len() as u64,
            len: bytes.len() as u64,
            blocks,
            patch,
        };
        payload.extend_from_slice(&bytes);
        part
    });
    let nm = new.manifest();
    let manifest = DeltaManifest {
        format: envelope::VERSION,
        list_id: nm.list_id.clone(),
        key_id: KeyId::of(&key.verifying_key()).to_string(),
        base: Endpoint {
            serial: old.serial(),
            sha256: hex::encode(old.sha256()),
        },
        target: Endpoint {
            serial: new.serial(),
            sha256: hex::encode(new.sha256()),
        },
        issued_at: nm.issued_at,
        expires_at: nm.expires_at,
        salt: nm.salt.clone(),
        categories: nm.categories.clone(),
        confidential: nm.confidential.clone(),
        entries: nm.entries,
        added: stats.added,
        removed: stats.removed,
        payload: DeltaPayload {
            len: payload.len() as u64,
            sha256: hex::encode(Sha256::digest(&payload)),
            plain: plain_section,
            hashed: hashed_section,
            filter,
        },
    };
    // Plain structs of strings and integers always serialise.
    let json = serde_json::to_vec_pretty(&manifest).expect("a DeltaManifest serialises to JSON");
    Ok((envelope::seal(DELTA, &json, &payload, key)?, stats))
}

/// A category both lists have must keep its confidentiality: a name
/// moving between plaintext and keyed hash needs a full list.
pub(super) fn check_categories(
    base: &[crate::list::format::CategoryInfo],
    target: &[crate::list::format::CategoryInfo],
) -> Result<(), DeltaError> {
    for t in target {
        if let Some(b) = base.iter().find(|b| b.name == t.name)
            && b.confidential != t.confidential
        {
            return Err(DeltaError::Confidentiality {
                category: t.name.clone(),
            });
        }
    }
    Ok(())
}
