//! Signed list deltas: the rules that change from one serial of a list to
//! a later one, and a base list with deltas in force ([`Overlay`]).
//!
//! * [`diff()`]: the publisher computes a delta from two verified full
//!   lists and signs it (`ward list delta`).
//! * [`open`]: the only way to a [`VerifiedDelta`]: signature by a trusted
//!   key, then the manifest against the payload, then every record.
//! * [`Overlay`]: a verified base plus a chain of verified deltas, each
//!   bound to the exact full artifact before it by its SHA-256; answers
//!   lookups without rebuilding the base's name index.
//! * [`publish`]: the static directory a mirror serves (full list, its
//!   zstd copy, deltas, a signed index).
//!
//! See docs/list-updates.md for the formats.

use std::path::PathBuf;

use crate::keys::KeyId;
use crate::list::VerifyError;

pub mod diff;
mod envelope;
pub mod format;
pub mod overlay;
pub mod publish;
pub mod verify;

pub use diff::{DiffStats, diff};
pub use format::DeltaManifest;
pub use overlay::{AppliedDelta, Overlay};
pub use verify::{ListDelta, VerifiedDelta, open, open_file};

/// Why a delta cannot be made, verified or applied.
#[derive(Debug, thiserror::Error)]
pub enum DeltaError {
    #[error("cannot read {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("corrupt {what}: {reason}")]
    Corrupt { what: &'static str, reason: String },
    #[error("unsupported {what} format version {found}; this ward reads version 1; upgrade ward")]
    UnsupportedVersion { what: &'static str, found: u16 },
    #[error("{what} signed by unknown key {key_id}: not among the {trusted} trusted key(s)")]
    UnknownKey {
        what: &'static str,
        key_id: KeyId,
        trusted: usize,
    },
    #[error("bad signature: the {what} was modified or corrupted after signing (key {key_id})")]
    BadSignature { what: &'static str, key_id: KeyId },
    #[error("signed delta manifest is invalid: {reason}")]
    Manifest { reason: String },
    #[error("the delta is for list {found:?}, not {expected:?}")]
    ListId { expected: String, found: String },
    #[error("a delta must lead to a later serial: {base} -> {target}")]
    SerialOrder { base: u64, target: u64 },
    #[error(
        "refused: the delta leads to serial {serial}, not newer than serial {in_force} in force (rollback or replay)"
    )]
    Rollback { in_force: u64, serial: u64 },
    #[error(
        "the delta applies to serial {base}, but serial {in_force} is in force (a gap in the chain to {serial})"
    )]
    Gap {
        in_force: u64,
        base: u64,
        serial: u64,
    },
    #[error(
        "the delta applies to another artifact of serial {serial} (SHA-256 {found}, the one in force is {expected}): two different lists carry that serial"
    )]
    BaseMismatch {
        serial: u64,
        expected: String,
        found: String,
    },
    #[error(
        "serial {serial} is keyed with another salt than the base: build it with `ward list build --salt-from` the previous list, or publish it as a full list only"
    )]
    SaltDiffers { serial: u64 },
    #[error(
        "category `{category}` changes confidentiality between the two lists: a delta cannot carry that; publish a full list"
    )]
    Confidentiality { category: String },
    #[error(
        "serial {serial} has no suffix filter (built by an old ward): rebuild it to make deltas"
    )]
    NoFilter { serial: u64 },
    #[error("serial {serial} is not above serial {latest}, which the directory already publishes")]
    NotNewer { latest: u64, serial: u64 },
    #[error(
        "the delta for serial {serial} patches a confidential filter of {blocks} blocks, the one in force has {have}"
    )]
    FilterMismatch { serial: u64, blocks: u64, have: u64 },
    #[error("{0} is too large for a delta")]
    TooLarge(&'static str),
    #[error(transparent)]
    List(#[from] VerifyError),
}

#[cfg(test)]
mod tests;
