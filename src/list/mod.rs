//! The signed national list: source format, compiler, artifact format,
//! verifier and matcher.
//!
//! * [`source`]: the text format the ministry edits, one rule per line.
//! * [`build`]: compiles sources into a signed artifact.
//! * [`import`]: lists in other formats (RPZ, hosts, domains, adblock) read
//!   as sources.
//! * [`export`]: a verified list as an RPZ zone, a domain list or hosts.
//! * [`format`](mod@format): the artifact's byte layout and manifest.
//! * [`hashed`]: the keyed-hash table for confidential categories.
//! * [`filter`]: the suffix filter that lets most names skip both.
//! * [`verify`](mod@verify): signature and integrity checks; yields [`Verified`] lists.
//! * [`matcher`]: name lookups against a verified list.

pub mod build;
pub mod delta;
pub mod export;
pub mod filter;
pub mod format;
mod guard;
pub mod hashed;
pub mod import;
pub mod matcher;
pub mod source;
pub mod verify;

pub use build::{BuildError, BuildOptions, BuildStats, Compiler, ImportOptions};
pub use format::{Manifest, RuleKind};
pub use matcher::{FAULT_CATEGORY, Match};
pub use verify::{Bytes, ListArtifact, TrustedKeys, Verified, VerifyError, open_file, verify};

/// The category of canary entries (`ward list build --canary-domain`).
pub const CANARY_CATEGORY: &str = "canary";

/// The canary's name for a serial: `s<serial>.<domain>`. A probe asks for
/// the canary of the newest serial: only a node enforcing that serial (or
/// a newer one, which carries it too only if the ministry keeps it) blocks
/// it.
pub fn canary_name(serial: u64, domain: &str) -> String {
    format!(
        "s{serial}.{}",
        domain.trim_end_matches('.').to_ascii_lowercase()
    )
}

/// The demo artifact, built from `examples/demo.txt` with the demo key.
/// The embedded defaults of `ward serve` and `ward check` use it.
pub const DEMO_ARTIFACT: &[u8] = include_bytes!("../../examples/demo.ward");
/// The demo public key (see `examples/demo.pub`). Demo only.
pub const DEMO_PUBLIC_KEY: &str = include_str!("../../examples/demo.pub");

#[cfg(test)]
mod tests;
