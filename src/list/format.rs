//! The signed artifact's byte layout and its manifest.
//!
//! ```text
//! offset  size  field
//!      0     8  magic "WARDLIST"
//!      8     2  format version, u16 LE (1)
//!     10     2  reserved, must be zero
//!     12     4  manifest length M, u32 LE
//!     16     8  signing key id (first 8 bytes of SHA-256 over the public key)
//!     24    64  Ed25519 signature
//!     88     M  manifest, UTF-8 JSON
//!   88+M     P  zero padding to a multiple of 8
//!      …     …  payload (its length is in the manifest; nothing may follow)
//! ```
//!
//! The signature covers a domain-separated digest of everything else:
//!
//! ```text
//! msg = "ward-list-signature-v1\0" || header[0..24] || manifest || SHA-256(payload)
//! ```
//!
//! so every byte of the file is either signed, the signature itself (checked
//! with `verify_strict`, which rejects malleable encodings), or padding that
//! must be zero.
//!
//! The payload holds two sections, each 8-byte aligned:
//!
//! * `names`: an `fst` map from reversed-label keys (`com.example.`) to a
//!   packed [`RuleValue`].
//! * `hashed`: the confidential table (see `list::hashed`).
//! * `filter`: the suffix filter (see [`super::filter`]), 64-byte aligned
//!   within the payload.

use serde::{Deserialize, Serialize};

/// First bytes of every artifact.
pub const MAGIC: &[u8; 8] = b"WARDLIST";
/// The only format version this build reads and writes.
pub const FORMAT_VERSION: u16 = 1;
/// Length of the fixed header, signature included.
pub const HEADER_LEN: usize = 88;
/// Largest manifest we accept. Manifests are a few KiB; this bounds work on
/// garbage before the signature is checked.
pub const MAX_MANIFEST_LEN: usize = 1 << 20;
/// Domain separation for list signatures.
pub const SIGNATURE_CONTEXT: &[u8] = b"ward-list-signature-v1\0";
/// Domain separation for confidential name hashes.
pub const HASH_CONTEXT: &[u8] = b"ward-confidential-name-v1\0";

/// Rounds up to the next multiple of 8.
pub(crate) fn align8(n: usize) -> usize {
    n.div_ceil(8) * 8
}

/// The digest that is signed.
pub(crate) fn signed_message(header: &[u8], manifest: &[u8], payload_hash: &[u8; 32]) -> Vec<u8> {
    let mut msg = Vec::with_capacity(SIGNATURE_CONTEXT.len() + header.len() + manifest.len() + 32);
    msg.extend_from_slice(SIGNATURE_CONTEXT);
    msg.extend_from_slice(header);
    msg.extend_from_slice(manifest);
    msg.extend_from_slice(payload_hash);
    msg
}

/// The signed description of a list.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    /// Same as the header's format version.
    pub format: u16,
    pub list_id: String,
    /// Strictly increasing per `list_id`.
    pub serial: u64,
    pub issued_at: jiff::Timestamp,
    pub expires_at: jiff::Timestamp,
    /// Hex key id of the signing key; equals the header's key id.
    pub key_id: String,
    /// Every category, in id order. A rule's category id indexes this.
    pub categories: Vec<CategoryInfo>,
    /// Names of the confidential categories (also flagged per category).
    pub confidential: Vec<String>,
    /// Total number of rules after merging duplicates.
    pub entries: u64,
    /// Per-list salt for confidential name hashes, hex.
    pub salt: String,
    pub payload: PayloadInfo,
}

/// One category and its rule count.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CategoryInfo {
    pub name: String,
    pub entries: u64,
    pub confidential: bool,
    /// The youngest age for which the category is acceptable
    /// (`ward list build --min-age`). Only lists other than the national
    /// one use it: there every category is mandatory. Absent in lists
    /// built before it existed, and for unrated categories.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_age: Option<u8>,
}

/// Where the payload's sections are, and its digest.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PayloadInfo {
    /// Payload length in bytes.
    pub len: u64,
    /// SHA-256 of the payload, hex.
    pub sha256: String,
    /// The fst map of plaintext rules.
    pub names: Section,
    /// The confidential hash table.
    pub hashed: HashedSection,
    /// The suffix filter (absent in lists built before it existed, which
    /// are then matched without it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub filter: Option<FilterSection>,
}

/// A byte range inside the payload.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Section {
    pub offset: u64,
    pub len: u64,
}

/// The confidential table's range, record count and bucket index size.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HashedSection {
    pub offset: u64,
    pub len: u64,
    pub count: u64,
    pub bucket_bits: u8,
}

/// The suffix filter's range and the block counts of its two halves
/// (plaintext blocks first, then confidential blocks).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FilterSection {
    pub offset: u64,
    pub len: u64,
    pub plain_blocks: u64,
    pub secret_blocks: u64,
}

/// Whether a rule covers the name only or the name and its subtree.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum RuleKind {
    /// `=example.com`: this name only.
    Exact,
    /// `example.com` or `*.example.com`: the name and every name under it.
    Subtree,
}

/// What one key maps to: up to one subtree rule and one exact rule, each a
/// category id. Packed as `(exact + 1) << 16 | (subtree + 1)`, zero meaning
/// "no rule of that kind".
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct RuleValue {
    pub subtree: Option<u16>,
    pub exact: Option<u16>,
}

impl RuleValue {
    /// Largest category id: ids are stored plus one in 16 bits.
    pub const MAX_CATEGORY: u16 = u16::MAX - 1;

    pub fn pack(self) -> u32 {
        let enc = |c: Option<u16>| c.map_or(0, |c| u32::from(c) + 1);
        (enc(self.exact) << 16) | enc(self.subtree)
    }

    pub fn unpack(v: u32) -> Self {
        let dec = |x: u32| {
            let x = x & 0xFFFF;
            // x - 1 fits in u16 because x is masked to 16 bits.
            (x != 0).then(|| (x - 1) as u16)
        };
        Self {
            subtree: dec(v),
            exact: dec(v >> 16),
        }
    }

    pub fn get(self, kind: RuleKind) -> Option<u16> {
        match kind {
            RuleKind::Exact => self.exact,
            RuleKind::Subtree => self.subtree,
        }
    }

    pub fn set(&mut self, kind: RuleKind, cat: u16) {
        match kind {
            RuleKind::Exact => self.exact = Some(cat),
            RuleKind::Subtree => self.subtree = Some(cat),
        }
    }
}

/// The unverified fixed header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Header {
    pub(crate) version: u16,
    pub(crate) manifest_len: usize,
    pub(crate) key_id: [u8; 8],
    pub(crate) signature: [u8; 64],
}

impl Header {
    pub(crate) fn encode(&self) -> [u8; HEADER_LEN] {
        let mut out = [0u8; HEADER_LEN];
        out[0..8].copy_from_slice(MAGIC);
        out[8..10].copy_from_slice(&self.version.to_le_bytes());
        // 10..12 reserved, zero.
        // A manifest is at most MAX_MANIFEST_LEN, which fits in u32; the
        // builder checks that before encoding.
        out[12..16].copy_from_slice(&(self.manifest_len as u32).to_le_bytes());
        out[16..24].copy_from_slice(&self.key_id);
        out[24..88].copy_from_slice(&self.signature);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rule_value_round_trips() {
        for v in [
            RuleValue::default(),
            RuleValue {
                subtree: Some(0),
                exact: None,
            },
            RuleValue {
                subtree: None,
                exact: Some(7),
            },
            RuleValue {
                subtree: Some(RuleValue::MAX_CATEGORY),
                exact: Some(RuleValue::MAX_CATEGORY),
            },
        ] {
            assert_eq!(RuleValue::unpack(v.pack()), v);
        }
    }

    #[test]
    fn align() {
        assert_eq!(align8(0), 0);
        assert_eq!(align8(1), 8);
        assert_eq!(align8(8), 8);
        assert_eq!(align8(89), 96);
    }
}
