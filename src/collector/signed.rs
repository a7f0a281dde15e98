//! The first half of accepting anything signed (a compliance report, a
//! probe result): the `Ward-Signature` header names a registered key, and
//! the signature over the exact body bytes verifies under it, in the
//! body's signing context. Pure; only then is the body parsed, by the
//! caller (`ingest` for reports, `probes` for probe results).

use ed25519_dalek::VerifyingKey;

use crate::keys::KeyId;
use crate::report::send::{self, SignatureError};

/// Why a signed body is not authentic.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Unauthentic {
    /// No `Ward-Signature` header.
    Unsigned,
    /// The header is not `ed25519 keyid=…; sig=…`.
    Malformed(SignatureError),
    /// No registered signer has this key.
    UnknownKey { key_id: String },
    /// The signature does not match the body.
    BadSignature { key_id: String },
}

/// A body whose signature verified, and who signed it.
#[derive(Debug)]
pub struct Authentic<'r, S> {
    pub signer: &'r S,
    pub key_id: KeyId,
    /// The header as received (stored with the body, as proof).
    pub header: String,
}

/// Checks `header` over `body` in `context` against the key of the signer
/// `find` returns for the header's key id.
pub fn authenticate<'r, S>(
    header: Option<&str>,
    body: &[u8],
    context: &[u8],
    find: impl FnOnce(&KeyId) -> Option<(&'r S, &'r VerifyingKey)>,
) -> Result<Authentic<'r, S>, Unauthentic> {
    let header = header.ok_or(Unauthentic::Unsigned)?;
    let key_id = send::signer_key_id(header).map_err(Unauthentic::Malformed)?;
    let (signer, key) = find(&key_id).ok_or_else(|| Unauthentic::UnknownKey {
        key_id: key_id.to_string(),
    })?;
    send::verify_signature_in(context, header, body, std::slice::from_ref(key)).map_err(
        |e| match e {
            SignatureError::Malformed => Unauthentic::Malformed(e),
            SignatureError::UnknownKey { key_id } => Unauthentic::UnknownKey { key_id },
            SignatureError::BadSignature { key_id } => Unauthentic::BadSignature { key_id },
        },
    )?;
    Ok(Authentic {
        signer,
        key_id,
        header: header.to_owned(),
    })
}
