//! A delta's manifest and payload records.
//!
//! The payload holds three sections, each 8-byte aligned:
//!
//! ```text
//! plain:   count × (u8 key length, reversed-label key, u32 LE value)
//!          sorted by key, strictly
//! hashed:  count × (16-byte keyed name hash, u32 LE value)
//!          sorted by hash, strictly
//! filter:  the target list's confidential suffix filter (present only
//!          when the delta changes a confidential rule)
//! ```
//!
//! A value is the packed [`RuleValue`] the key has *after* the delta, in
//! the target's category ids; zero means the key has no rule any more.
//! So a record says, for one name, which rules were added (with kind and
//! category) and which were removed. Confidential names are keyed hashes
//! under the list's salt, exactly as the full list stores them.

use serde::{Deserialize, Serialize};

use crate::domain::MAX_KEY_LEN;
use crate::list::format::{CategoryInfo, RuleValue};
use crate::list::hashed::{HASH_LEN, NameHash};

/// Which full list a delta starts from or leads to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Endpoint {
    pub serial: u64,
    /// SHA-256 of the whole full artifact at that serial, hex.
    pub sha256: String,
}

/// The signed description of a delta.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeltaManifest {
    pub format: u16,
    pub list_id: String,
    /// Hex key id of the signing key; equals the header's.
    pub key_id: String,
    /// The full artifact the delta applies to (or the target of the delta
    /// before it in a chain).
    pub base: Endpoint,
    /// The full artifact whose rules base + delta equal.
    pub target: Endpoint,
    /// The target's issue and expiry times.
    pub issued_at: jiff::Timestamp,
    pub expires_at: jiff::Timestamp,
    /// The list's salt, hex: the base's, the target's and the delta's
    /// hashes are all keyed with it.
    pub salt: String,
    /// The target's categories, in id order; values index this.
    pub categories: Vec<CategoryInfo>,
    /// The target's confidential categories.
    pub confidential: Vec<String>,
    /// The target's rule count.
    pub entries: u64,
    /// Rules added and rules removed (a changed category counts as both).
    pub added: u64,
    pub removed: u64,
    pub payload: DeltaPayload,
}

/// Where the payload's sections are, and its digest.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeltaPayload {
    pub len: u64,
    pub sha256: String,
    pub plain: RecordSection,
    pub hashed: RecordSection,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub filter: Option<FilterPart>,
}

/// A run of records.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RecordSection {
    pub offset: u64,
    pub len: u64,
    pub count: u64,
}

/// The target's confidential suffix filter: whole, or (`patch`) only
/// the blocks that differ from the base's, as (u32 LE block index,
/// 64-byte block) in increasing index order, when both have `blocks`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FilterPart {
    pub offset: u64,
    pub len: u64,
    pub blocks: u64,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub patch: bool,
}

/// Bytes of one patched filter block: index and block.
pub(super) const PATCH_RECORD: usize = 4 + crate::list::filter::BLOCK_BYTES;

/// Bytes of one hashed record.
pub(super) const HASHED_RECORD: usize = HASH_LEN + 4;

pub(super) fn encode_plain(records: &[(Vec<u8>, RuleValue)]) -> Vec<u8> {
    let mut out = Vec::new();
    for (key, value) in records {
        // Keys come from verified lists: at most MAX_KEY_LEN (254) bytes.
        out.push(u8::try_from(key.len()).unwrap_or(u8::MAX));
        out.extend_from_slice(key);
        out.extend_from_slice(&value.pack().to_le_bytes());
    }
    out
}

pub(super) fn encode_hashed(records: &[(NameHash, RuleValue)]) -> Vec<u8> {
    let mut out = Vec::with_capacity(records.len() * HASHED_RECORD);
    for (hash, value) in records {
        out.extend_from_slice(hash);
        out.extend_from_slice(&value.pack().to_le_bytes());
    }
    out
}

/// A plaintext record: key and packed value.
pub(super) type PlainRecord = (Box<[u8]>, u32);

/// Decodes the plain section, checking every key's form and the order.
pub(super) fn decode_plain(bytes: &[u8], count: u64) -> Result<Vec<PlainRecord>, String> {
    let mut out = Vec::new();
    let mut at = 0usize;
    let mut previous: Option<&[u8]> = None;
    for i in 0..count {
        let len = usize::from(
            *bytes
                .get(at)
                .ok_or_else(|| format!("plain record {i} is cut short"))?,
        );
        let key = bytes
            .get(at + 1..at + 1 + len)
            .ok_or_else(|| format!("plain record {i} is cut short"))?;
        let v = bytes
            .get(at + 1 + len..at + 5 + len)
            .ok_or_else(|| format!("plain record {i} is cut short"))?;
        if !is_rule_key(key) {
            return Err(format!("plain record {i} does not hold a rule's name"));
        }
        if previous.is_some_and(|p| p >= key) {
            return Err(format!("plain record {i} is out of order"));
        }
        previous = Some(key);
        out.push((key.into(), u32::from_le_bytes([v[0], v[1], v[2], v[3]])));
        at += 5 + len;
    }
    if at != bytes.len() {
        return Err(format!(
            "{} byte(s) after the last plain record",
            bytes.len() - at
        ));
    }
    Ok(out)
}

/// Decodes the hashed section, checking the order.
pub(super) fn decode_hashed(bytes: &[u8], count: u64) -> Result<Vec<(NameHash, u32)>, String> {
    let want = usize::try_from(count)
        .ok()
        .and_then(|c| c.checked_mul(HASHED_RECORD));
    if want != Some(bytes.len()) {
        return Err(format!(
            "confidential section is {} bytes, not {count} records",
            bytes.len()
        ));
    }
    let mut out: Vec<(NameHash, u32)> = Vec::with_capacity(bytes.len() / HASHED_RECORD);
    for (i, rec) in bytes.chunks_exact(HASHED_RECORD).enumerate() {
        let mut h = [0u8; HASH_LEN];
        h.copy_from_slice(&rec[..HASH_LEN]);
        if out.last().is_some_and(|(p, _)| *p >= h) {
            return Err(format!("confidential record {i} is out of order"));
        }
        let v = &rec[HASH_LEN..];
        out.push((h, u32::from_le_bytes([v[0], v[1], v[2], v[3]])));
    }
    Ok(out)
}

/// True for a reversed-label key a rule can have: at least two labels,
/// each of `[a-z0-9_-]`, each with its trailing dot, and no longer than
/// a name's key.
pub(super) fn is_rule_key(key: &[u8]) -> bool {
    if key.is_empty() || key.len() > MAX_KEY_LEN || key.last() != Some(&b'.') {
        return false;
    }
    let mut labels = 0;
    for label in key[..key.len() - 1].split(|&b| b == b'.') {
        if label.is_empty()
            || label.len() > crate::domain::MAX_LABEL_LEN
            || !label
                .iter()
                .all(|&b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_')
        {
            return false;
        }
        labels += 1;
    }
    labels >= 2
}
