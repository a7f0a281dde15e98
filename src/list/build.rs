//! Compiling source lists into a signed artifact (the ministry's side).
//!
//! The compiler streams every source line once, keeping only a compact
//! arena of reversed-label keys, so ten million entries fit well under
//! 2 GiB. Entries are then sorted, merged, checked for conflicts and
//! emitted: plaintext rules into an `fst` map, confidential rules as keyed
//! hashes into the hashed table. The manifest describes both and the whole
//! is signed.

use std::collections::{BTreeMap, BTreeSet};
use std::io::{self, BufRead};

use ed25519_dalek::{Signer, SigningKey};
use sha2::{Digest, Sha256};

use super::filter;
use super::format::{
    self, CategoryInfo, FORMAT_VERSION, FilterSection, HEADER_LEN, HashedSection, Header,
    MAX_MANIFEST_LEN, Manifest, PayloadInfo, RuleKind, RuleValue, Section,
};
use super::hashed::{self, NameHash, SuffixHasher};
use super::import::{self, Event, MAX_LINE_LEN, Parser};
use super::source::{LineError, SourceError, is_category, parse_line};
use crate::domain::DomainName;
use crate::keys::KeyId;

/// What the signed manifest says about the list, beyond its rules.
#[derive(Debug, Clone)]
pub struct BuildOptions {
    pub list_id: String,
    pub serial: u64,
    pub issued_at: jiff::Timestamp,
    pub expires_at: jiff::Timestamp,
    /// Categories whose names are stored only as keyed hashes.
    pub confidential: BTreeSet<String>,
    /// The youngest age for which a category is acceptable, by category
    /// name (`--min-age CATEGORY=AGE`), recorded in the manifest.
    pub min_age: BTreeMap<String, u8>,
}

/// How to read a source in another format ([`Compiler::import`]).
#[derive(Debug, Clone)]
pub struct ImportOptions {
    pub format: import::Format,
    /// The category of every rule: these formats have no column for it.
    pub category: String,
    /// RPZ: the zone's name, where the file does not say it.
    pub zone: Option<DomainName>,
    /// Leave out lines the format allows but a ward list cannot say
    /// ([`LineError::Unsupported`]), instead of failing the build; they
    /// are returned, to be reported as warnings.
    pub skip_unsupported: bool,
}

/// The oldest age a category can be rated for: school pupils and
/// students, in years.
pub const MAX_AGE: u8 = 25;

/// Why a build failed.
#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    #[error("{} invalid line(s) in the source", .0.len())]
    Source(Vec<SourceError>),
    #[error("cannot read {file}: {source}")]
    Read {
        file: String,
        source: std::io::Error,
    },
    #[error("list id must match [a-z0-9][a-z0-9.-]* and be at most 64 bytes")]
    BadListId,
    #[error("expires_at must be after issued_at")]
    BadValidity,
    #[error("confidential category {0:?} is not a valid category name ([a-z0-9-]+)")]
    BadConfidential(String),
    #[error("category {0:?} is not a valid category name ([a-z0-9-]+, at most 63 bytes)")]
    BadCategory(String),
    #[error("--min-age {0}: an age is 0 to {MAX_AGE} years")]
    BadMinAge(String),
    #[error("--min-age {0}: a confidential category is blocked for every age and cannot be rated")]
    MinAgeConfidential(String),
    #[error("--min-age {0}: no rule of the source is in that category")]
    MinAgeUnused(String),
    #[error(
        "too many categories: at most {} are supported",
        RuleValue::MAX_CATEGORY
    )]
    TooManyCategories,
    #[error("source too large: at most 4 GiB of names and 2^32 entries per build")]
    TooLarge,
    #[error("two confidential names hash to the same value; run the build again (new salt)")]
    HashCollision,
    #[error("cannot build the name index: {0}")]
    Fst(#[from] fst::Error),
    #[error("cannot draw random salt: {0}")]
    Random(String),
}

/// Totals for the build log.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BuildStats {
    pub lines: u64,
    pub rules: u64,
    pub duplicates: u64,
    pub confidential_rules: u64,
}

#[derive(Clone, Copy)]
struct RawEntry {
    offset: u32,
    len: u8,
    kind: RuleKind,
    category: u16,
    file: u16,
    line: u32,
    /// An imported exact rule: it merges into a subtree rule of the same
    /// name and category, which covers the name already.
    merges: bool,
}

/// Accumulates source files, then builds.
pub struct Compiler {
    arena: Vec<u8>,
    entries: Vec<RawEntry>,
    categories: BTreeMap<String, u16>,
    category_names: Vec<String>,
    files: Vec<String>,
    errors: Vec<SourceError>,
    lines: u64,
}

impl std::fmt::Debug for Compiler {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Compiler")
            .field("entries", &self.entries.len())
            .field("errors", &self.errors.len())
            .finish()
    }
}

impl Default for Compiler {
    fn default() -> Self {
        Self::new()
    }
}

impl Compiler {
    pub fn new() -> Self {
        Self {
            arena: Vec::new(),
            entries: Vec::new(),
            categories: BTreeMap::new(),
            category_names: Vec::new(),
            files: Vec::new(),
            errors: Vec::new(),
            lines: 0,
        }
    }

    /// Reads one source. `label` names it in error messages.
    pub fn add_source(&mut self, label: &str, mut reader: impl BufRead) -> Result<(), BuildError> {
        let file = self.add_file(label)?;
        let mut buf = Vec::with_capacity(256);
        let mut line_no = 0usize;
        loop {
            buf.clear();
            let n = reader
                .read_until(b'\n', &mut buf)
                .map_err(|source| BuildError::Read {
                    file: label.to_owned(),
                    source,
                })?;
            if n == 0 {
                break;
            }
            line_no += 1;
            self.lines += 1;
            let line = buf.strip_suffix(b"\n").unwrap_or(&buf);
            let parsed = match parse_line(line) {
                Ok(Some(parsed)) => parsed,
                Ok(None) => continue,
                Err(error) => {
                    self.error(label, line_no, error);
                    continue;
                }
            };
            let Ok(category) = self.category_id(parsed.category) else {
                return Err(BuildError::TooManyCategories);
            };
            self.push(file, line_no, &parsed.name, parsed.kind, category, false)?;
        }
        Ok(())
    }

    /// Reads one source in another format ([`import`]), every rule in
    /// `opts.category`. Bad lines are kept for [`Compiler::build`] to
    /// report, as with [`Compiler::add_source`]; returns the unsupported
    /// lines left out when `opts.skip_unsupported` is set.
    pub fn import(
        &mut self,
        label: &str,
        mut reader: impl BufRead,
        opts: &ImportOptions,
    ) -> Result<Vec<SourceError>, BuildError> {
        if !is_category(&opts.category) {
            return Err(BuildError::BadCategory(opts.category.clone()));
        }
        let file = self.add_file(label)?;
        let mut parser = Parser::new(opts.format, opts.zone.as_ref());
        let mut skipped = Vec::new();
        let mut events = Vec::new();
        let mut buf = Vec::with_capacity(256);
        let mut line_no = 0usize;
        loop {
            let read = read_line_capped(&mut reader, &mut buf, MAX_LINE_LEN).map_err(|source| {
                BuildError::Read {
                    file: label.to_owned(),
                    source,
                }
            })?;
            let Some(too_long) = read else { break };
            line_no += 1;
            self.lines += 1;
            if too_long {
                parser.too_long(line_no, &mut events);
            } else {
                parser.feed(line_no, &buf, &mut events);
            }
            self.take(file, opts, &mut events, &mut skipped)?;
        }
        parser.finish(&mut events);
        self.take(file, opts, &mut events, &mut skipped)?;
        Ok(skipped)
    }

    /// Files what an import's parser gave: rules as entries, bad lines as
    /// errors, or (if so asked) unsupported lines as skipped.
    fn take(
        &mut self,
        file: u16,
        opts: &ImportOptions,
        events: &mut Vec<Event>,
        skipped: &mut Vec<SourceError>,
    ) -> Result<(), BuildError> {
        for event in events.drain(..) {
            match event {
                Event::Rule { line, rule } => {
                    // Looked up per rule, as for ward's own lines, so that
                    // the category appears only with a rule in it.
                    let Ok(category) = self.category_id(&opts.category) else {
                        return Err(BuildError::TooManyCategories);
                    };
                    let merges = rule.kind == RuleKind::Exact;
                    self.push(file, line, &rule.name, rule.kind, category, merges)?;
                }
                Event::Error { line, error } => {
                    let e = SourceError {
                        file: self.files[usize::from(file)].clone(),
                        line,
                        error,
                    };
                    if opts.skip_unsupported && matches!(e.error, LineError::Unsupported(_)) {
                        skipped.push(e);
                    } else {
                        self.errors.push(e);
                    }
                }
            }
        }
        Ok(())
    }

    fn add_file(&mut self, label: &str) -> Result<u16, BuildError> {
        let file = u16::try_from(self.files.len()).map_err(|_| BuildError::TooLarge)?;
        self.files.push(label.to_owned());
        Ok(file)
    }

    /// Adds one rule's entry.
    fn push(
        &mut self,
        file: u16,
        line: usize,
        name: &DomainName,
        kind: RuleKind,
        category: u16,
        merges: bool,
    ) -> Result<(), BuildError> {
        let key = name.key();
        let offset = u32::try_from(self.arena.len()).map_err(|_| BuildError::TooLarge)?;
        let line = u32::try_from(line).map_err(|_| BuildError::TooLarge)?;
        let bytes = key.as_bytes();
        self.arena.extend_from_slice(bytes);
        self.entries.push(RawEntry {
            offset,
            // A validated name's key is at most 254 bytes.
            len: u8::try_from(bytes.len()).map_err(|_| BuildError::TooLarge)?,
            kind,
            category,
            file,
            line,
            merges,
        });
        Ok(())
    }

    fn error(&mut self, file: &str, line: usize, error: LineError) {
        self.errors.push(SourceError {
            file: file.to_owned(),
            line,
            error,
        });
    }

    fn category_id(&mut self, name: &str) -> Result<u16, ()> {
        if let Some(&id) = self.categories.get(name) {
            return Ok(id);
        }
        let id = u16::try_from(self.category_names.len()).map_err(|_| ())?;
        if id > RuleValue::MAX_CATEGORY {
            return Err(());
        }
        self.categories.insert(name.to_owned(), id);
        self.category_names.push(name.to_owned());
        Ok(id)
    }

    fn key(&self, e: &RawEntry) -> &[u8] {
        let start = e.offset as usize;
        &self.arena[start..start + usize::from(e.len)]
    }

    fn location(&self, e: &RawEntry) -> String {
        format!("{}:{}", self.files[usize::from(e.file)], e.line)
    }

    /// Sorts, merges and checks the entries, then writes and signs the
    /// artifact. Returns its bytes.
    pub fn build(
        self,
        opts: &BuildOptions,
        key: &SigningKey,
    ) -> Result<(Vec<u8>, BuildStats), BuildError> {
        let salt = random_salt()?;
        self.build_with_salt(opts, key, salt)
    }

    /// [`Compiler::build`] keyed with a given salt instead of a fresh one:
    /// the salt of the list's previous serial (`ward list build
    /// --salt-from`), so that a delta between the two can carry
    /// confidential names as the same keyed hashes.
    pub fn build_with_salt(
        mut self,
        opts: &BuildOptions,
        key: &SigningKey,
        salt: [u8; 32],
    ) -> Result<(Vec<u8>, BuildStats), BuildError> {
        validate_options(opts)?;
        if let Some(c) = opts
            .min_age
            .keys()
            .find(|c| !self.category_names.contains(c))
        {
            return Err(BuildError::MinAgeUnused(c.clone()));
        }
        let names = self.renumber_categories(opts)?;
        let confidential: Vec<bool> = names
            .iter()
            .map(|n| opts.confidential.contains(n))
            .collect();
        let entries = self.sorted_entries();
        let mut merged = self.merge(&entries, &names, &confidential, &salt)?;
        self.errors.append(&mut merged.conflicts);
        if !self.errors.is_empty() {
            let mut errors = self.errors;
            errors.sort_by(|a, b| (&a.file, a.line).cmp(&(&b.file, b.line)));
            return Err(BuildError::Source(errors));
        }
        // The names are in the merged tables now; free them before the
        // payload is laid out.
        drop(entries);
        drop(self);

        let stats = merged.stats.clone();
        let categories = category_infos(&names, &merged.per_category, &confidential, opts);
        let payload = merged.encode()?;
        let payload_hash: [u8; 32] = Sha256::digest(&payload.bytes).into();
        let key_id = KeyId::of(&key.verifying_key());
        let manifest = Manifest {
            format: FORMAT_VERSION,
            list_id: opts.list_id.clone(),
            serial: opts.serial,
            issued_at: opts.issued_at,
            expires_at: opts.expires_at,
            key_id: key_id.to_string(),
            categories,
            confidential: opts.confidential.iter().cloned().collect(),
            entries: stats.rules,
            salt: hex::encode(salt),
            payload: payload.info(&payload_hash),
        };
        let out = sign(&manifest, &payload.bytes, &payload_hash, key_id, key)?;
        Ok((out, stats))
    }

    /// Registers the confidential categories, then gives every category a
    /// stable id in name order, so equal sources give equal payloads.
    /// Returns the names in id order.
    fn renumber_categories(&mut self, opts: &BuildOptions) -> Result<Vec<String>, BuildError> {
        for c in &opts.confidential {
            if self.category_id(c).is_err() {
                return Err(BuildError::TooManyCategories);
            }
        }
        let mut sorted: Vec<(String, u16)> = self
            .category_names
            .iter()
            .cloned()
            .enumerate()
            .map(|(i, n)| (n, i as u16))
            .collect();
        sorted.sort();
        let mut remap = vec![0u16; sorted.len()];
        for (new, (_, old)) in sorted.iter().enumerate() {
            // At most MAX_CATEGORY categories exist, checked in category_id.
            remap[usize::from(*old)] = new as u16;
        }
        for e in &mut self.entries {
            e.category = remap[usize::from(e.category)];
        }
        Ok(sorted.into_iter().map(|(n, _)| n).collect())
    }

    /// Takes the entries sorted by key, then kind, then source order, so
    /// the first occurrence of a duplicate is the one reported.
    fn sorted_entries(&mut self) -> Vec<RawEntry> {
        let mut entries = std::mem::take(&mut self.entries);
        entries.sort_unstable_by(|a, b| {
            self.key(a)
                .cmp(self.key(b))
                .then(a.kind.cmp(&b.kind))
                .then((a.file, a.line).cmp(&(b.file, b.line)))
        });
        entries
    }

    /// Folds each name's sorted entries into one rule and files it in the
    /// plaintext or the confidential table. Conflicts are collected, not
    /// returned as errors, so that every one is reported.
    fn merge(
        &self,
        entries: &[RawEntry],
        names: &[String],
        confidential: &[bool],
        salt: &[u8; 32],
    ) -> Result<Merged, BuildError> {
        let mut merged = Merged {
            stats: BuildStats {
                lines: self.lines,
                ..BuildStats::default()
            },
            per_category: vec![0u64; names.len()],
            plain: fst::MapBuilder::memory(),
            secret: Vec::new(),
            plain_filter: Vec::new(),
            secret_filter: Vec::new(),
            conflicts: Vec::new(),
        };
        let seed = filter::seed_of(salt);
        for group in entries.chunk_by(|a, b| self.key(a) == self.key(b)) {
            let group_key = self.key(&group[0]);
            let folded = self.fold(group, names, confidential, &mut merged);
            if let (Some(c), Some(p)) = (folded.confidential, folded.plain) {
                // This one error explains the group; drop category clashes.
                merged.conflicts.push(self.mixed_conflict(c, p));
                continue;
            }
            merged.conflicts.extend(folded.conflicts);
            let is_confidential = folded.confidential.is_some();
            merged.add_rule(group_key, folded.value, is_confidential, salt, seed)?;
        }
        Ok(merged)
    }

    /// Folds the entries of one name into its rule value, counting rules
    /// and duplicates and noting category clashes.
    fn fold<'e>(
        &self,
        group: &'e [RawEntry],
        names: &[String],
        confidential: &[bool],
        merged: &mut Merged,
    ) -> Folded<'e> {
        let mut folded = Folded {
            value: RuleValue::default(),
            conflicts: Vec::new(),
            confidential: None,
            plain: None,
        };
        let mut first_of: [Option<&RawEntry>; 2] = [None, None];
        for e in group {
            if e.merges
                && group
                    .iter()
                    .any(|s| s.kind == RuleKind::Subtree && s.category == e.category)
            {
                // The subtree rule covers the name; it is the one noted
                // below, and it has the same confidentiality.
                merged.stats.duplicates += 1;
                continue;
            }
            let slot = match e.kind {
                RuleKind::Exact => 0,
                RuleKind::Subtree => 1,
            };
            match first_of[slot] {
                None => {
                    first_of[slot] = Some(e);
                    folded.value.set(e.kind, e.category);
                    merged.per_category[usize::from(e.category)] += 1;
                    merged.stats.rules += 1;
                }
                Some(first) if first.category == e.category => merged.stats.duplicates += 1,
                Some(first) => {
                    let msg = format!(
                        "conflicting category: this name is already listed at {} in category `{}`; \
                         a name has one category per rule kind",
                        self.location(first),
                        names[usize::from(first.category)]
                    );
                    folded.conflicts.push(self.conflict(e, msg));
                }
            }
            if confidential[usize::from(e.category)] {
                folded.confidential.get_or_insert(e);
            } else {
                folded.plain.get_or_insert(e);
            }
        }
        folded
    }

    /// The error for a name listed in both a confidential and a plaintext
    /// category, reported at the later of the two.
    fn mixed_conflict(&self, confidential: &RawEntry, plain: &RawEntry) -> SourceError {
        let (c, p) = (confidential, plain);
        let (later, earlier) = if (c.file, c.line) > (p.file, p.line) {
            (c, p)
        } else {
            (p, c)
        };
        let msg = format!(
            "this name is also listed at {}; a name in a confidential category \
             cannot also appear in a plaintext category",
            self.location(earlier)
        );
        self.conflict(later, msg)
    }

    fn conflict(&self, e: &RawEntry, msg: String) -> SourceError {
        SourceError {
            file: self.files[usize::from(e.file)].clone(),
            line: e.line as usize,
            error: LineError::Conflict(msg),
        }
    }
}

/// One name's entries folded together: its rule value, its category
/// clashes, and its first confidential and first plaintext entry.
struct Folded<'e> {
    value: RuleValue,
    conflicts: Vec<SourceError>,
    confidential: Option<&'e RawEntry>,
    plain: Option<&'e RawEntry>,
}

/// The merged rules: the plaintext and confidential tables, the hashes for
/// their filters, the counts, and the conflicts found on the way.
struct Merged {
    stats: BuildStats,
    per_category: Vec<u64>,
    plain: fst::MapBuilder<Vec<u8>>,
    secret: Vec<(NameHash, u32)>,
    plain_filter: Vec<u64>,
    secret_filter: Vec<u64>,
    conflicts: Vec<SourceError>,
}

impl Merged {
    /// Files one name's rule in its table. Names arrive in key order, as
    /// the fst map requires.
    fn add_rule(
        &mut self,
        key: &[u8],
        value: RuleValue,
        confidential: bool,
        salt: &[u8; 32],
        seed: u64,
    ) -> Result<(), BuildError> {
        let (plain_hash, secret_hash) = filter::hashes(key, seed);
        if confidential {
            self.stats.confidential_rules +=
                u64::from(value.exact.is_some()) + u64::from(value.subtree.is_some());
            self.secret
                .push((SuffixHasher::hash_key(salt, key), value.pack()));
            self.secret_filter.push(secret_hash);
        } else {
            self.plain.insert(key, u64::from(value.pack()))?;
            self.plain_filter.push(plain_hash);
        }
        Ok(())
    }

    /// Lays out the payload: the fst map, the hashed table and the filter,
    /// each aligned.
    fn encode(self) -> Result<Payload, BuildError> {
        let mut secret = self.secret;
        secret.sort_unstable_by_key(|r| r.0);
        if secret.windows(2).any(|w| w[0].0 == w[1].0) {
            return Err(BuildError::HashCollision);
        }
        if u32::try_from(secret.len()).is_err() {
            return Err(BuildError::TooLarge);
        }
        let bucket_bits = hashed::bucket_bits_for(secret.len());
        let hashed_bytes = hashed::encode(&secret, bucket_bits);
        let names_bytes = self.plain.into_inner()?;

        let mut payload = names_bytes;
        let names = Section {
            offset: 0,
            len: payload.len() as u64,
        };
        payload.resize(format::align8(payload.len()), 0);
        let hashed = HashedSection {
            offset: payload.len() as u64,
            len: hashed_bytes.len() as u64,
            count: secret.len() as u64,
            bucket_bits,
        };
        payload.extend_from_slice(&hashed_bytes);
        drop(hashed_bytes);
        let (plain_bits, plain_blocks) = filter::encode(self.plain_filter.into_iter());
        let (secret_bits, secret_blocks) = filter::encode(self.secret_filter.into_iter());
        payload.resize(
            payload.len().div_ceil(filter::BLOCK_BYTES) * filter::BLOCK_BYTES,
            0,
        );
        let filter = FilterSection {
            offset: payload.len() as u64,
            len: (plain_bits.len() + secret_bits.len()) as u64,
            plain_blocks,
            secret_blocks,
        };
        payload.extend_from_slice(&plain_bits);
        payload.extend_from_slice(&secret_bits);
        Ok(Payload {
            bytes: payload,
            names,
            hashed,
            filter,
        })
    }
}

/// The payload's bytes and where each section lies in them.
struct Payload {
    bytes: Vec<u8>,
    names: Section,
    hashed: HashedSection,
    filter: FilterSection,
}

impl Payload {
    /// The manifest's description of this payload.
    fn info(&self, sha256: &[u8; 32]) -> PayloadInfo {
        PayloadInfo {
            len: self.bytes.len() as u64,
            sha256: hex::encode(sha256),
            names: self.names,
            hashed: self.hashed,
            filter: Some(self.filter),
        }
    }
}

/// The manifest's category table, in id order.
fn category_infos(
    names: &[String],
    per_category: &[u64],
    confidential: &[bool],
    opts: &BuildOptions,
) -> Vec<CategoryInfo> {
    names
        .iter()
        .zip(per_category)
        .zip(confidential)
        .map(|((name, &entries), &confidential)| CategoryInfo {
            name: name.clone(),
            entries,
            confidential,
            min_age: opts.min_age.get(name.as_str()).copied(),
        })
        .collect()
}

/// Signs the manifest and payload and writes the artifact: header,
/// manifest, padding to 8 bytes, payload.
fn sign(
    manifest: &Manifest,
    payload: &[u8],
    payload_hash: &[u8; 32],
    key_id: KeyId,
    key: &SigningKey,
) -> Result<Vec<u8>, BuildError> {
    // Serialising plain structs of strings and integers to a Vec cannot
    // fail: there are no maps with non-string keys and no I/O.
    let manifest_bytes =
        serde_json::to_vec_pretty(manifest).expect("a Manifest always serialises to JSON");
    if manifest_bytes.len() > MAX_MANIFEST_LEN {
        return Err(BuildError::TooManyCategories);
    }
    let mut header = Header {
        version: FORMAT_VERSION,
        manifest_len: manifest_bytes.len(),
        key_id: key_id.0,
        signature: [0u8; 64],
    };
    let msg = format::signed_message(&header.encode()[..24], &manifest_bytes, payload_hash);
    header.signature = key.sign(&msg).to_bytes();

    let body_start = format::align8(HEADER_LEN + manifest_bytes.len());
    let mut out = Vec::with_capacity(body_start + payload.len());
    out.extend_from_slice(&header.encode());
    out.extend_from_slice(&manifest_bytes);
    out.resize(body_start, 0);
    out.extend_from_slice(payload);
    Ok(out)
}

fn validate_options(opts: &BuildOptions) -> Result<(), BuildError> {
    let id = opts.list_id.as_bytes();
    let id_ok = !id.is_empty()
        && id.len() <= 64
        && (id[0].is_ascii_lowercase() || id[0].is_ascii_digit())
        && id
            .iter()
            .all(|&b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'.');
    if !id_ok {
        return Err(BuildError::BadListId);
    }
    if opts.expires_at <= opts.issued_at {
        return Err(BuildError::BadValidity);
    }
    for c in &opts.confidential {
        if !super::source::is_category(c) {
            return Err(BuildError::BadConfidential(c.clone()));
        }
    }
    for (c, &age) in &opts.min_age {
        if age > MAX_AGE {
            return Err(BuildError::BadMinAge(format!("{c}={age}")));
        }
        if opts.confidential.contains(c) {
            return Err(BuildError::MinAgeConfidential(c.clone()));
        }
    }
    Ok(())
}

/// Reads one line into `buf`, without its `\n`, keeping at most `max`
/// bytes: `None` at the end of the input, `Some(true)` for a longer line
/// (read to its end but not kept).
fn read_line_capped(
    reader: &mut impl BufRead,
    buf: &mut Vec<u8>,
    max: usize,
) -> io::Result<Option<bool>> {
    buf.clear();
    let (mut any, mut too_long) = (false, false);
    loop {
        let chunk = match reader.fill_buf() {
            Ok(chunk) => chunk,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        if chunk.is_empty() {
            return Ok(any.then_some(too_long));
        }
        any = true;
        let end = chunk.iter().position(|&b| b == b'\n');
        let part = &chunk[..end.unwrap_or(chunk.len())];
        if !too_long {
            if buf.len() + part.len() > max {
                too_long = true;
                buf.clear();
            } else {
                buf.extend_from_slice(part);
            }
        }
        let used = end.map_or(chunk.len(), |i| i + 1);
        reader.consume(used);
        if end.is_some() {
            return Ok(Some(too_long));
        }
    }
}

fn random_salt() -> Result<[u8; 32], BuildError> {
    let mut salt = [0u8; 32];
    getrandom::fill(&mut salt).map_err(|e| BuildError::Random(e.to_string()))?;
    Ok(salt)
}

/// Builds an artifact from in-memory source text. Convenient for tests and
/// tools; the CLI streams files instead.
pub fn build_from_str(
    source: &str,
    opts: &BuildOptions,
    key: &SigningKey,
) -> Result<(Vec<u8>, BuildStats), BuildError> {
    let mut c = Compiler::new();
    c.add_source("<source>", source.as_bytes())?;
    c.build(opts, key)
}
