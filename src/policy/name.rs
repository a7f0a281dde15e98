//! The one normaliser from a name as a client sent it to the list's
//! lookup key.
//!
//! Text names (TLS SNI, HTTP Host, the block page's Host, `ward check`):
//! one trailing dot dropped, ASCII case folded, a name with non-ASCII
//! bytes mapped to A-labels by UTS-46 (clients must send A-labels, but a
//! U-label must not slip past the list), IP literals (bare or in
//! brackets) and names with bytes no list entry can hold refused.
//!
//! Wire names (DNS questions and answer chains) are already labels; the
//! query parser builds their key in the same pass that reads them
//! ([`NameKey::from_wire_labels`], case folded), which is the hot path's
//! reason for not going through text. [`key_of_wire`] is the same for an
//! uncompressed wire name held elsewhere.

use std::net::IpAddr;

use crate::domain::NameKey;

/// Why a text name has no lookup key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NameProblem {
    /// Empty (or only a dot).
    NoName,
    /// An IP address, not a name: there is nothing to look up.
    IpLiteral,
    /// Not UTF-8, not mappable to A-labels, or bytes no name can hold.
    BadName,
}

/// The lookup key of a name given as text.
pub fn key_of_text(raw: &[u8]) -> Result<NameKey, NameProblem> {
    let trimmed = raw.strip_suffix(b".").unwrap_or(raw);
    if trimmed.is_empty() {
        return Err(NameProblem::NoName);
    }
    let text = std::str::from_utf8(trimmed).map_err(|_| NameProblem::BadName)?;
    let unbracketed = text
        .strip_prefix('[')
        .and_then(|t| t.strip_suffix(']'))
        .unwrap_or(text);
    if unbracketed.parse::<IpAddr>().is_ok() {
        return Err(NameProblem::IpLiteral);
    }
    let key = if text.is_ascii() {
        NameKey::from_text(text.as_bytes())
    } else {
        let ascii = idna::domain_to_ascii(text).map_err(|_| NameProblem::BadName)?;
        NameKey::from_text(ascii.as_bytes())
    };
    let key = key.ok_or(NameProblem::BadName)?;
    // Only list-able bytes can name a list entry; anything else (spaces,
    // slashes, control bytes) is not a host name.
    if !key.is_listable() {
        return Err(NameProblem::BadName);
    }
    Ok(key)
}

/// The lookup key of an uncompressed wire-format name (labels with their
/// length bytes, ending in the root label), case folded.
pub fn key_of_wire(name: &[u8]) -> NameKey {
    NameKey::from_uncompressed_wire(name)
}
