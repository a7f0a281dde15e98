//! The signed envelope of a delta and of a publish index: the artifact's
//! header layout (magic, version, manifest length, key id, Ed25519
//! signature) with a magic and a signature context of their own, so that
//! no signature over one kind of file is valid for another.
//!
//! ```text
//! msg = CONTEXT || header[0..24] || manifest || SHA-256(payload)
//! ```

use ed25519_dalek::{Signature, Signer, SigningKey};
use sha2::{Digest, Sha256};

use super::DeltaError;
use crate::keys::KeyId;
use crate::list::TrustedKeys;
use crate::list::format::{HEADER_LEN, MAX_MANIFEST_LEN, align8};

/// Format version of deltas and indexes.
pub(super) const VERSION: u16 = 1;

/// What a signed file is: its magic and its signature context.
#[derive(Debug, Clone, Copy)]
pub(super) struct Kind {
    pub(super) magic: &'static [u8; 8],
    pub(super) context: &'static [u8],
    /// For error messages: "delta", "publish index".
    pub(super) what: &'static str,
}

pub(super) const DELTA: Kind = Kind {
    magic: b"WARDDLTA",
    context: b"ward-delta-signature-v1\0",
    what: "list delta",
};

pub(super) const INDEX: Kind = Kind {
    magic: b"WARDINDX",
    context: b"ward-index-signature-v1\0",
    what: "publish index",
};

fn message(kind: Kind, header: &[u8], manifest: &[u8], payload_hash: &[u8; 32]) -> Vec<u8> {
    let mut msg = Vec::with_capacity(kind.context.len() + header.len() + manifest.len() + 32);
    msg.extend_from_slice(kind.context);
    msg.extend_from_slice(header);
    msg.extend_from_slice(manifest);
    msg.extend_from_slice(payload_hash);
    msg
}

/// Signs `manifest` and `payload` into a file of `kind`.
pub(super) fn seal(
    kind: Kind,
    manifest: &[u8],
    payload: &[u8],
    key: &SigningKey,
) -> Result<Vec<u8>, DeltaError> {
    if manifest.len() > MAX_MANIFEST_LEN {
        return Err(DeltaError::TooLarge("manifest"));
    }
    let mut header = [0u8; HEADER_LEN];
    header[0..8].copy_from_slice(kind.magic);
    header[8..10].copy_from_slice(&VERSION.to_le_bytes());
    // Checked above: at most MAX_MANIFEST_LEN, which fits in u32.
    header[12..16].copy_from_slice(&(manifest.len() as u32).to_le_bytes());
    header[16..24].copy_from_slice(&KeyId::of(&key.verifying_key()).0);
    let payload_hash: [u8; 32] = Sha256::digest(payload).into();
    let sig = key.sign(&message(kind, &header[..24], manifest, &payload_hash));
    header[24..88].copy_from_slice(&sig.to_bytes());
    let body = align8(HEADER_LEN + manifest.len());
    let mut out = Vec::with_capacity(body + payload.len());
    out.extend_from_slice(&header);
    out.extend_from_slice(manifest);
    out.resize(body, 0);
    out.extend_from_slice(payload);
    Ok(out)
}

/// An authentic file: who signed it, its manifest bytes (not yet parsed)
/// and its payload.
#[derive(Debug)]
pub(super) struct Opened<'a> {
    pub(super) key_id: KeyId,
    pub(super) manifest: &'a [u8],
    pub(super) payload: &'a [u8],
}

/// Checks the header, then the signature; nothing unsigned is returned.
pub(super) fn open<'a>(
    kind: Kind,
    bytes: &'a [u8],
    trust: &TrustedKeys,
) -> Result<Opened<'a>, DeltaError> {
    let corrupt = |reason: String| DeltaError::Corrupt {
        what: kind.what,
        reason,
    };
    if bytes.len() < 8 || &bytes[..8] != kind.magic {
        return Err(corrupt(format!(
            "the file does not start with {:?}",
            String::from_utf8_lossy(kind.magic)
        )));
    }
    if bytes.len() < HEADER_LEN {
        return Err(corrupt(format!(
            "{} bytes is shorter than the {HEADER_LEN}-byte header",
            bytes.len()
        )));
    }
    let version = u16::from_le_bytes([bytes[8], bytes[9]]);
    if version != VERSION {
        return Err(DeltaError::UnsupportedVersion {
            what: kind.what,
            found: version,
        });
    }
    if bytes[10..12] != [0, 0] {
        return Err(corrupt("reserved header bytes are not zero".into()));
    }
    let manifest_len = u32::from_le_bytes([bytes[12], bytes[13], bytes[14], bytes[15]]) as usize;
    if manifest_len > MAX_MANIFEST_LEN {
        return Err(corrupt(format!(
            "manifest length {manifest_len} is too large"
        )));
    }
    let manifest_end = HEADER_LEN + manifest_len;
    let body = align8(manifest_end);
    if bytes.len() < body {
        return Err(corrupt(format!(
            "truncated: {} bytes, the manifest ends at byte {body}",
            bytes.len()
        )));
    }
    if bytes[manifest_end..body].iter().any(|&b| b != 0) {
        return Err(corrupt("non-zero padding after the manifest".into()));
    }
    let mut id = [0u8; 8];
    id.copy_from_slice(&bytes[16..24]);
    let key_id = KeyId(id);
    let Some(key) = trust.find(key_id) else {
        return Err(DeltaError::UnknownKey {
            what: kind.what,
            key_id,
            trusted: trust.len(),
        });
    };
    let mut sig = [0u8; 64];
    sig.copy_from_slice(&bytes[24..88]);
    let manifest = &bytes[HEADER_LEN..manifest_end];
    let payload = &bytes[body..];
    let payload_hash: [u8; 32] = Sha256::digest(payload).into();
    let msg = message(kind, &bytes[..24], manifest, &payload_hash);
    if key
        .verify_strict(&msg, &Signature::from_bytes(&sig))
        .is_err()
    {
        return Err(DeltaError::BadSignature {
            what: kind.what,
            key_id,
        });
    }
    Ok(Opened {
        key_id,
        manifest,
        payload,
    })
}
