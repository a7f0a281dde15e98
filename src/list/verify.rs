//! Verifying an artifact and opening its payload.
//!
//! Order of checks, so nothing unsigned is ever trusted:
//!
//! 1. Fixed header: magic, version, reserved bytes, manifest length within
//!    the file, zero padding.
//! 2. The header's key id must name a trusted key ([`TrustedKeys`]).
//! 3. Ed25519 `verify_strict` over the domain-separated digest of header,
//!    manifest and payload.
//! 4. Only now is the manifest parsed; its key id, format, payload length,
//!    payload hash and section bounds must agree with the file.
//! 5. The fst and the hashed table are opened in place (no copy).
//!
//! Expiry is separate ([`ListArtifact::check_expiry`]): an expired list is
//! still authentic, and whether to keep enforcing it is the caller's policy.
//! The node keeps enforcing (never fail open); `ward list verify` fails.

use std::fmt;
use std::ops::Deref;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use ed25519_dalek::{Signature, VerifyingKey};
use sha2::{Digest, Sha256};

use super::format::{self, FORMAT_VERSION, HEADER_LEN, MAGIC, MAX_MANIFEST_LEN, Manifest};
use super::hashed::HashedTable;
use crate::keys::KeyId;

/// Why an artifact was rejected.
#[derive(Debug, thiserror::Error)]
pub enum VerifyError {
    #[error("cannot read {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path} is a directory, not a list file")]
    IsDirectory { path: PathBuf },
    #[error("empty file: not a ward list")]
    Empty,
    #[error("not a ward list: the file does not start with \"WARDLIST\"")]
    BadMagic,
    #[error("corrupt or truncated file: {len} bytes is shorter than the {HEADER_LEN}-byte header")]
    ShortHeader { len: usize },
    #[error(
        "unsupported list format version {found}; this ward reads version {FORMAT_VERSION}; upgrade ward"
    )]
    UnsupportedVersion { found: u16 },
    #[error("corrupt file: reserved header bytes (offset 10..12) are not zero")]
    Reserved,
    #[error("corrupt file: manifest length {len} exceeds the limit of {MAX_MANIFEST_LEN} bytes")]
    ManifestTooLarge { len: usize },
    #[error(
        "truncated file: {len} bytes, but the header announces a manifest ending at byte {needed}"
    )]
    TruncatedManifest { len: usize, needed: usize },
    #[error("corrupt file: non-zero padding byte at offset {offset}")]
    Padding { offset: usize },
    #[error(
        "signed by unknown key {key_id}: not among the {trusted} trusted key(s); add its .pub with --trust / list.trusted_keys if the ministry rotated keys"
    )]
    UnknownKey { key_id: KeyId, trusted: usize },
    #[error("truncated file: the payload should be {expected} bytes but {found} are present")]
    Truncated { expected: u64, found: u64 },
    #[error("corrupt file: {extra} unexpected byte(s) after the payload")]
    TrailingData { extra: u64 },
    #[error("bad signature: the file was modified or corrupted after signing (key {key_id})")]
    BadSignature { key_id: KeyId },
    #[error("signed manifest is invalid: {reason}")]
    Manifest { reason: String },
    #[error(
        "signed name index is malformed: {reason}; the list cannot be used, ask the ministry to rebuild it"
    )]
    MalformedIndex { reason: String },
    #[error("cannot get {bytes} bytes of memory to check the name index: {source}")]
    CheckMemory {
        bytes: usize,
        source: std::io::Error,
    },
    #[error(
        "list expired at {expires_at} (serial {serial}); the ministry must publish a newer list"
    )]
    Expired {
        expires_at: jiff::Timestamp,
        serial: u64,
    },
}

/// The set of public keys a verifier accepts.
#[derive(Clone, Default)]
pub struct TrustedKeys {
    keys: Vec<(KeyId, VerifyingKey)>,
}

impl fmt::Debug for TrustedKeys {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list()
            .entries(self.keys.iter().map(|(id, _)| id))
            .finish()
    }
}

impl TrustedKeys {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn add(&mut self, key: VerifyingKey) {
        let id = KeyId::of(&key);
        if !self.keys.iter().any(|(k, _)| *k == id) {
            self.keys.push((id, key));
        }
    }

    pub fn ids(&self) -> impl Iterator<Item = KeyId> + '_ {
        self.keys.iter().map(|(id, _)| *id)
    }

    pub fn len(&self) -> usize {
        self.keys.len()
    }

    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    pub(crate) fn find(&self, id: KeyId) -> Option<&VerifyingKey> {
        self.keys.iter().find(|(k, _)| *k == id).map(|(_, v)| v)
    }
}

impl FromIterator<VerifyingKey> for TrustedKeys {
    fn from_iter<I: IntoIterator<Item = VerifyingKey>>(iter: I) -> Self {
        let mut t = Self::new();
        for k in iter {
            t.add(k);
        }
        t
    }
}

/// Proof that a value passed verification. Only this module constructs it.
#[derive(Debug)]
pub struct Verified<T>(T);

impl<T> Deref for Verified<T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.0
    }
}

/// The bytes of an artifact: a mapping of a sealed memory file, embedded,
/// or owned. Never a mapping of a file another process could change.
pub enum Bytes {
    Sealed(memmap2::Mmap),
    Static(&'static [u8]),
    Owned(Vec<u8>),
}

impl fmt::Debug for Bytes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let kind = match self {
            Self::Sealed(_) => "Sealed",
            Self::Static(_) => "Static",
            Self::Owned(_) => "Owned",
        };
        write!(f, "Bytes::{kind}({} bytes)", self.as_slice().len())
    }
}

impl Bytes {
    pub fn as_slice(&self) -> &[u8] {
        match self {
            Self::Sealed(m) => m,
            Self::Static(s) => s,
            Self::Owned(v) => v,
        }
    }
}

/// A byte range of shared artifact bytes, usable as fst storage.
#[derive(Clone, Debug)]
pub struct Slice {
    bytes: Arc<Bytes>,
    start: usize,
    end: usize,
}

impl AsRef<[u8]> for Slice {
    #[inline]
    fn as_ref(&self) -> &[u8] {
        // start..end was checked against the length when the Slice was made
        // and the bytes are immutable.
        &self.bytes.as_slice()[self.start..self.end]
    }
}

/// Where the two suffix filters are in the artifact, and their sizes.
#[derive(Debug, Clone, Copy)]
pub(super) struct FilterRanges {
    pub(super) plain: (usize, usize),
    pub(super) plain_blocks: u64,
    pub(super) secret: (usize, usize),
    pub(super) secret_blocks: u64,
    pub(super) seed: u64,
}

/// A verified, opened list: the manifest plus its payload, used in place.
pub struct ListArtifact {
    pub(super) bytes: Arc<Bytes>,
    pub(super) manifest: Manifest,
    pub(super) key_id: KeyId,
    pub(super) names: fst::raw::Fst<Slice>,
    pub(super) hashed: (usize, usize),
    /// The suffix filters, if the list has them.
    pub(super) filter: Option<FilterRanges>,
    pub(super) salt: [u8; 32],
    /// SHA-256 of the whole file, computed on first use: verification
    /// only needs the payload's digest, and this costs a second pass.
    pub(super) sha256: std::sync::OnceLock<[u8; 32]>,
    /// Set once a lookup faulted on a malformed index.
    pub(super) faulted: std::sync::atomic::AtomicBool,
}

impl fmt::Debug for ListArtifact {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ListArtifact")
            .field("list_id", &self.manifest.list_id)
            .field("serial", &self.manifest.serial)
            .field("entries", &self.manifest.entries)
            .finish()
    }
}

impl ListArtifact {
    pub fn manifest(&self) -> &Manifest {
        &self.manifest
    }

    pub fn list_id(&self) -> &str {
        &self.manifest.list_id
    }

    pub fn serial(&self) -> u64 {
        self.manifest.serial
    }

    pub fn key_id(&self) -> KeyId {
        self.key_id
    }

    /// SHA-256 of the whole artifact file.
    pub fn sha256(&self) -> [u8; 32] {
        *self
            .sha256
            .get_or_init(|| Sha256::digest(self.bytes.as_slice()).into())
    }

    /// Size of the artifact in bytes.
    pub fn len(&self) -> usize {
        self.bytes.as_slice().len()
    }

    pub fn is_empty(&self) -> bool {
        self.manifest.entries == 0
    }

    /// The whole artifact file.
    pub fn as_bytes(&self) -> &[u8] {
        self.bytes.as_slice()
    }

    pub(super) fn hashed_table(&self) -> HashedTable<'_> {
        let (start, end) = self.hashed;
        let h = &self.manifest.payload.hashed;
        // The shape was checked by `open_payload`; this cannot fail.
        HashedTable::new(&self.bytes.as_slice()[start..end], h.count, h.bucket_bits)
            .expect("hashed table shape checked at open")
    }

    /// Fails once `now` is past `expires_at`.
    pub fn check_expiry(&self, now: jiff::Timestamp) -> Result<(), VerifyError> {
        if now >= self.manifest.expires_at {
            return Err(VerifyError::Expired {
                expires_at: self.manifest.expires_at,
                serial: self.manifest.serial,
            });
        }
        Ok(())
    }

    pub fn is_expired(&self, now: jiff::Timestamp) -> bool {
        self.check_expiry(now).is_err()
    }

    /// Reads every node of the name index once (`sweep_nodes`) and every
    /// record of the confidential table, refusing structures a lookup
    /// could fault on. Linear in the index size (about 0.5 s for ten
    /// million names on one CPU), and the node runs it off the serving
    /// path; `ward list verify` always runs it.
    pub fn deep_check(&self) -> Result<(), VerifyError> {
        let bad = |reason: &str| VerifyError::MalformedIndex {
            reason: reason.to_owned(),
        };
        let walked = super::guard::guarded(|| sweep_nodes(&self.names));
        match walked {
            Ok(Ok(true)) => {}
            Ok(Err(e)) => return Err(e),
            Ok(Ok(false)) => {
                return Err(bad(
                    "a node or a transition is out of place in the index (the nodes do not chain down from the root)",
                ));
            }
            Err(()) => return Err(bad("a node cannot be read")),
        }
        let categories = self.manifest.categories.len();
        let valid = |v: u32| {
            let r = super::format::RuleValue::unpack(v);
            (r.exact.is_some() || r.subtree.is_some())
                && [r.exact, r.subtree]
                    .iter()
                    .flatten()
                    .all(|&c| usize::from(c) < categories)
        };
        let table = self.hashed_table();
        let mut previous: Option<&[u8]> = None;
        for (hash, value) in table.iter() {
            if previous.is_some_and(|p| p >= hash) {
                return Err(bad("confidential table is not sorted"));
            }
            if !valid(value) {
                return Err(bad("confidential rule with an unknown category"));
            }
            previous = Some(hash);
        }
        Ok(())
    }
}

#[cfg(test)]
impl Verified<ListArtifact> {
    /// The same list matched without its suffix filter, to test that the
    /// filter never changes an answer.
    pub(super) fn without_filter(mut self) -> Self {
        self.0.filter = None;
        self
    }
}

/// Bytes before an fst's first node: its version and type, 8 bytes each.
/// No node has an address below this but the empty final node, 0.
const FST_HEADER: usize = 16;

/// Checks every node of an fst in one backward sweep over its bytes.
///
/// The fst builder writes each node once, directly after the one before,
/// and the root last; a node's address is its last byte. So the address
/// of the node written before a node is that node's first byte minus one,
/// and from the root the sweep meets every node once, reading the index
/// in address order from the end. (The depth-first walk it replaced
/// followed transitions, jumping around the whole index for each node;
/// for ten million names it took 0.7 s of the 0.83 s `ward list verify`.)
///
/// Accepted means: every node from the root down to the header decodes,
/// outputs included, and every transition leads to the empty final node or to the address
/// of a node the sweep decoded, lower than its own. So every node a lookup
/// can reach was decoded here, and every path through the index ends.
/// A panic inside fst's decoding is the caller's to contain. `Err` only
/// when the memory for the check cannot be had.
pub(super) fn sweep_nodes<D: AsRef<[u8]>>(fst: &fst::raw::Fst<D>) -> Result<bool, VerifyError> {
    let root = fst.root().addr();
    if root == 0 {
        // The empty final node: no node is stored.
        return Ok(true);
    }
    if root < FST_HEADER || root >= fst.as_bytes().len() {
        return Ok(false);
    }
    // Addresses where the sweep found a node, and addresses a transition
    // leads to: the second must be a subset of the first. One bit per
    // byte of the index (18 MB each for ten million names), mapped
    // anonymously so that both go back to the system when the check ends:
    // from the heap, the allocator may keep them, and every swap would
    // leave the node that much larger.
    let mut nodes = Bitmap::new(root + 1)?;
    let mut targets = Bitmap::new(root + 1)?;
    let mut addr = root;
    loop {
        let node = fst.node(addr);
        // `as_slice` is the node's bytes, from its first byte to `addr`.
        let size = node.as_slice().len();
        if size == 0 || size > addr + 1 - FST_HEADER {
            return Ok(false);
        }
        let first = addr + 1 - size;
        nodes.set(addr);
        // Outputs are decoded as lookups decode them, so that a packed
        // size fst cannot read panics here, in the guard, and not in a
        // lookup. One size serves all of a node's outputs, and the last
        // transition's lies lowest: if it decodes, every other does.
        let _ = node.final_output();
        if let Some(last) = node.len().checked_sub(1) {
            let _ = node.transition(last);
        }
        for i in 0..node.len() {
            let to = node.transition_addr(i);
            if to == 0 {
                continue;
            }
            if to < FST_HEADER || to >= first {
                return Ok(false);
            }
            // The node written just before this one is the sweep's next
            // stop, checked there; most transitions lead to it.
            if to + 1 != first {
                targets.set(to);
            }
        }
        if first == FST_HEADER {
            break;
        }
        addr = first - 1;
    }
    Ok(targets.is_subset_of(&nodes))
}

/// A zeroed bitmap in its own anonymous mapping, unmapped when dropped.
struct Bitmap(memmap2::MmapMut);

impl Bitmap {
    /// Room for bits `0..bits`.
    fn new(bits: usize) -> Result<Self, VerifyError> {
        let bytes = bits.div_ceil(8).max(1);
        memmap2::MmapMut::map_anon(bytes)
            .map(Self)
            .map_err(|source| VerifyError::CheckMemory { bytes, source })
    }

    /// Sets bit `i`. Callers keep `i` below the size given to `new`; a
    /// larger one panics, which the deep check's guard contains.
    #[inline]
    fn set(&mut self, i: usize) {
        self.0[i / 8] |= 1 << (i % 8);
    }

    fn is_subset_of(&self, other: &Self) -> bool {
        // A fold without an early exit, so the compiler can vectorise it.
        let stray = self
            .0
            .iter()
            .zip(other.0.iter())
            .fold(0u8, |acc, (a, b)| acc | (a & !b));
        stray == 0
    }
}

/// Copies a file into sealed memory ([`crate::sys::sealed_copy`]), then
/// verifies the copy: the bytes verified are the bytes used, whatever
/// happens to the file afterwards.
pub fn open_file(path: &Path, trust: &TrustedKeys) -> Result<Verified<ListArtifact>, VerifyError> {
    verify(read_file(path)?, trust)
}

/// Reads a file into memory nobody else can change: a sealed memory file
/// where the kernel has them, else the heap. Never a mapping of the file
/// itself, which another process could overwrite or truncate under us.
pub fn read_file(path: &Path) -> Result<Bytes, VerifyError> {
    use std::io::Read;
    let io = |source| VerifyError::Io {
        path: path.to_path_buf(),
        source,
    };
    let file = std::fs::File::open(path).map_err(io)?;
    let meta = file.metadata().map_err(io)?;
    if meta.is_dir() {
        return Err(VerifyError::IsDirectory {
            path: path.to_path_buf(),
        });
    }
    if !meta.is_file() {
        // FIFOs and devices: read them as they come.
        let mut v = Vec::new();
        (&file).read_to_end(&mut v).map_err(io)?;
        return Ok(Bytes::Owned(v));
    }
    if let Some(map) = crate::sys::sealed_copy(&file, meta.len()).map_err(io)? {
        return Ok(Bytes::Sealed(map));
    }
    let mut v = Vec::new();
    (&file).take(meta.len()).read_to_end(&mut v).map_err(io)?;
    Ok(Bytes::Owned(v))
}

/// What the header says, unverified.
#[derive(Debug, Clone, Copy)]
pub(crate) struct RawParts<'a> {
    pub(crate) header: format::Header,
    pub(crate) header_bytes: &'a [u8],
    pub(crate) manifest: &'a [u8],
    pub(crate) payload: &'a [u8],
}

/// Splits the file along its header without trusting anything.
pub(crate) fn split(bytes: &[u8]) -> Result<RawParts<'_>, VerifyError> {
    if bytes.is_empty() {
        return Err(VerifyError::Empty);
    }
    if bytes.len() < MAGIC.len() {
        return Err(if MAGIC.starts_with(bytes) {
            VerifyError::ShortHeader { len: bytes.len() }
        } else {
            VerifyError::BadMagic
        });
    }
    if &bytes[..8] != MAGIC {
        return Err(VerifyError::BadMagic);
    }
    if bytes.len() < HEADER_LEN {
        return Err(VerifyError::ShortHeader { len: bytes.len() });
    }
    let version = u16::from_le_bytes([bytes[8], bytes[9]]);
    if version != FORMAT_VERSION {
        return Err(VerifyError::UnsupportedVersion { found: version });
    }
    if bytes[10..12] != [0, 0] {
        return Err(VerifyError::Reserved);
    }
    let manifest_len = u32::from_le_bytes([bytes[12], bytes[13], bytes[14], bytes[15]]) as usize;
    if manifest_len > MAX_MANIFEST_LEN {
        return Err(VerifyError::ManifestTooLarge { len: manifest_len });
    }
    let manifest_end = HEADER_LEN + manifest_len;
    let body_start = format::align8(manifest_end);
    if bytes.len() < body_start {
        return Err(VerifyError::TruncatedManifest {
            len: bytes.len(),
            needed: body_start,
        });
    }
    if let Some(i) = bytes[manifest_end..body_start].iter().position(|&b| b != 0) {
        return Err(VerifyError::Padding {
            offset: manifest_end + i,
        });
    }
    let mut key_id = [0u8; 8];
    key_id.copy_from_slice(&bytes[16..24]);
    let mut signature = [0u8; 64];
    signature.copy_from_slice(&bytes[24..88]);
    Ok(RawParts {
        header: format::Header {
            version,
            manifest_len,
            key_id,
            signature,
        },
        header_bytes: &bytes[..24],
        manifest: &bytes[HEADER_LEN..manifest_end],
        payload: &bytes[body_start..],
    })
}

/// Parses the manifest *without* checking the signature. Only for display
/// (`ward list info` without `--trust`) and diagnostics.
pub fn inspect_unverified(bytes: &[u8]) -> Result<(KeyId, Manifest), VerifyError> {
    let parts = split(bytes)?;
    let manifest = parse_manifest(parts.manifest)?;
    Ok((KeyId(parts.header.key_id), manifest))
}

fn parse_manifest(bytes: &[u8]) -> Result<Manifest, VerifyError> {
    serde_json::from_slice(bytes).map_err(|e| VerifyError::Manifest {
        reason: e.to_string(),
    })
}

/// Verifies artifact bytes against a trust set.
pub fn verify(bytes: Bytes, trust: &TrustedKeys) -> Result<Verified<ListArtifact>, VerifyError> {
    let bytes = Arc::new(bytes);
    let all = bytes.as_slice();
    let parts = split(all)?;
    let (key_id, payload_hash) = check_signature(all, &parts, trust)?;

    // From here on the manifest is authentic.
    let manifest = parse_manifest(parts.manifest)?;
    let salt = check_manifest(&manifest, key_id, parts.payload.len(), &payload_hash)?;
    let payload = Payload {
        start: all.len() - parts.payload.len(),
        len: parts.payload.len(),
    };
    let (ns, ne) = payload.section(manifest.payload.names)?;
    let h = manifest.payload.hashed;
    let (hs, he) = payload.section(format::Section {
        offset: h.offset,
        len: h.len,
    })?;
    HashedTable::new(&all[hs..he], h.count, h.bucket_bits).map_err(|e| bad(e.to_string()))?;
    let filter = match manifest.payload.filter {
        None => None,
        Some(f) => Some(filter_ranges(all, &payload, f, &salt)?),
    };
    let names = fst::raw::Fst::new(Slice {
        bytes: Arc::clone(&bytes),
        start: ns,
        end: ne,
    })
    .map_err(|e| bad(format!("name index: {e}")))?;
    Ok(Verified(ListArtifact {
        bytes,
        manifest,
        key_id,
        names,
        hashed: (hs, he),
        filter,
        salt,
        sha256: std::sync::OnceLock::new(),
        faulted: std::sync::atomic::AtomicBool::new(false),
    }))
}

/// Finds the signing key among the trusted ones and checks the signature
/// over header, manifest and payload hash. Returns the key id and the
/// payload's SHA-256.
fn check_signature(
    all: &[u8],
    parts: &RawParts<'_>,
    trust: &TrustedKeys,
) -> Result<(KeyId, [u8; 32]), VerifyError> {
    let key_id = KeyId(parts.header.key_id);
    let Some(key) = trust.find(key_id) else {
        return Err(VerifyError::UnknownKey {
            key_id,
            trusted: trust.len(),
        });
    };
    let payload_start = all.len() - parts.payload.len();
    let payload_hash: [u8; 32] = Sha256::digest(&all[payload_start..]).into();
    let msg = format::signed_message(parts.header_bytes, parts.manifest, &payload_hash);
    let signature = Signature::from_bytes(&parts.header.signature);
    if key.verify_strict(&msg, &signature).is_err() {
        return Err(diagnose_bad_signature(parts, key_id));
    }
    Ok((key_id, payload_hash))
}

/// Checks the authentic manifest against the header and the payload.
/// Returns the salt.
fn check_manifest(
    manifest: &Manifest,
    key_id: KeyId,
    payload_len: usize,
    payload_hash: &[u8; 32],
) -> Result<[u8; 32], VerifyError> {
    if manifest.format != FORMAT_VERSION {
        return Err(bad(format!(
            "format {} does not match header version {FORMAT_VERSION}",
            manifest.format
        )));
    }
    if manifest.key_id != key_id.to_string() {
        return Err(bad("key id differs from the header's".into()));
    }
    if manifest.payload.len != payload_len as u64 {
        return Err(bad("payload length differs from the file".into()));
    }
    if manifest.payload.sha256 != hex::encode(payload_hash) {
        return Err(bad("payload SHA-256 differs from the manifest".into()));
    }
    let mut salt = [0u8; 32];
    hex::decode_to_slice(&manifest.salt, &mut salt)
        .map_err(|_| bad("salt is not 64 hex digits".into()))?;
    if manifest.categories.len() > usize::from(format::RuleValue::MAX_CATEGORY) + 1 {
        return Err(bad("too many categories".into()));
    }
    Ok(salt)
}

/// Where the payload lies in the file.
struct Payload {
    start: usize,
    len: usize,
}

impl Payload {
    /// A manifest section as a range of the file, if it lies inside the
    /// payload.
    fn section(&self, s: format::Section) -> Result<(usize, usize), VerifyError> {
        let start = usize::try_from(s.offset).ok();
        let len = usize::try_from(s.len).ok();
        match (start, len) {
            (Some(start), Some(len)) if start.checked_add(len).is_some_and(|e| e <= self.len) => {
                Ok((self.start + start, self.start + start + len))
            }
            _ => Err(bad("a payload section lies outside the payload".into())),
        }
    }
}

/// The filter's two halves as ranges of the file, checked against their
/// block counts.
fn filter_ranges(
    all: &[u8],
    payload: &Payload,
    f: format::FilterSection,
    salt: &[u8; 32],
) -> Result<FilterRanges, VerifyError> {
    let (fs, fe) = payload.section(format::Section {
        offset: f.offset,
        len: f.len,
    })?;
    let split = f
        .plain_blocks
        .checked_mul(super::filter::BLOCK_BYTES as u64)
        .and_then(|n| usize::try_from(n).ok())
        .filter(|&n| n <= fe - fs)
        .ok_or_else(|| bad("filter blocks exceed the filter section".into()))?;
    let plain = (fs, fs + split);
    let secret = (fs + split, fe);
    if super::filter::Filter::new(&all[plain.0..plain.1], f.plain_blocks).is_none()
        || super::filter::Filter::new(&all[secret.0..secret.1], f.secret_blocks).is_none()
    {
        return Err(bad("filter size does not match its block counts".into()));
    }
    Ok(FilterRanges {
        plain,
        plain_blocks: f.plain_blocks,
        secret,
        secret_blocks: f.secret_blocks,
        seed: super::filter::seed_of(salt),
    })
}

/// An authentic manifest that does not describe its file.
fn bad(reason: String) -> VerifyError {
    VerifyError::Manifest { reason }
}

/// A signature failed. If the (unverified) manifest shows the file is
/// simply cut short or has bytes appended, say so: that is the common case
/// after a broken download and the more useful message.
fn diagnose_bad_signature(parts: &RawParts<'_>, key_id: KeyId) -> VerifyError {
    if let Ok(m) = parse_manifest(parts.manifest) {
        let found = parts.payload.len() as u64;
        if found < m.payload.len {
            return VerifyError::Truncated {
                expected: m.payload.len,
                found,
            };
        }
        if found > m.payload.len {
            return VerifyError::TrailingData {
                extra: found - m.payload.len,
            };
        }
    }
    VerifyError::BadSignature { key_id }
}
