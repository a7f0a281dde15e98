//! Fuzz target `source_line`: the list source format, from one line to a
//! signed artifact.
//!
//! The input is treated as source text (lines split on `\n`, as the
//! compiler reads them). For every input:
//!
//! * `parse_line` on the whole input and on every line;
//! * `DomainName::parse` on the lossy UTF-8 text and `NameKey::from_text`
//!   on the raw bytes (whole input and each line);
//! * a full `Compiler::add_source` + `build` with a fixed signing key.
//!
//! Errors are fine; panics are not. Invariants checked (a failed `assert!`
//! is a finding, like a panic):
//!
//! * a parsed `DomainName` parses again to itself, and its key equals
//!   `NameKey::from_text` of its text;
//! * a build that succeeds verifies with the same key, and every accepted
//!   line's name is found by `lookup` with the right category, rule kind,
//!   depth and confidentiality; a name below a subtree rule is found too.

#![no_main]

use std::collections::{BTreeMap, BTreeSet};
use std::sync::OnceLock;

use ed25519_dalek::SigningKey;
use libfuzzer_sys::fuzz_target;
use ward::domain::{DomainName, NameKey};
use ward::list::source::parse_line;
use ward::list::{BuildError, BuildOptions, Bytes, Compiler, RuleKind, TrustedKeys};

fn signing_key() -> &'static SigningKey {
    static KEY: OnceLock<SigningKey> = OnceLock::new();
    KEY.get_or_init(|| SigningKey::from_bytes(&[7u8; 32]))
}

fn trusted() -> &'static TrustedKeys {
    static TRUST: OnceLock<TrustedKeys> = OnceLock::new();
    TRUST.get_or_init(|| std::iter::once(signing_key().verifying_key()).collect())
}

/// Categories starting with `c` (as in the demo's `csam`) are built as
/// confidential, so the hashed table is exercised as well as the fst.
fn is_confidential(category: &str) -> bool {
    category.starts_with('c')
}

/// Checks the pure name functions on one piece of input.
fn check_name_text(bytes: &[u8]) {
    let text = String::from_utf8_lossy(bytes);
    if let Ok(name) = DomainName::parse(&text) {
        check_domain_name(&name);
    }
    if let Some(key) = NameKey::from_text(bytes) {
        assert!(!key.is_overflow());
        assert!(key.as_bytes().len() <= ward::domain::MAX_KEY_LEN);
        let _ = NameKey::to_forward(key.as_bytes());
    }
    let wire = NameKey::from_wire_labels(bytes.split(|&b| b == b'.'));
    let _ = wire.is_listable();
}

fn check_domain_name(name: &DomainName) {
    let s = name.as_str();
    assert!(
        !s.is_empty() && s.len() <= ward::domain::MAX_NAME_LEN,
        "{name:?}"
    );
    let again = DomainName::parse(s);
    assert_eq!(
        again.as_ref(),
        Ok(name),
        "DomainName::parse is not idempotent"
    );
    let key = name.key();
    assert!(key.is_listable(), "{name:?} has an unlistable key");
    let from_text = NameKey::from_text(s.as_bytes()).expect("a valid name has a text key");
    assert_eq!(key.as_bytes(), from_text.as_bytes());
    assert_eq!(key.label_count(), name.label_count());
    assert_eq!(NameKey::to_forward(key.as_bytes()), s);
}

/// What the accepted lines say a lookup of each name must return.
#[derive(Default)]
struct Expected {
    exact: Option<String>,
    subtree: Option<String>,
}

fuzz_target!(|data: &[u8]| {
    // Per line, exactly as the compiler splits its input.
    let _ = parse_line(data);
    check_name_text(data);

    let mut expected: BTreeMap<DomainName, Expected> = BTreeMap::new();
    let mut categories: BTreeSet<String> = BTreeSet::new();
    let mut any_error = false;
    for line in data.split(|&b| b == b'\n') {
        check_name_text(line);
        match parse_line(line) {
            Ok(Some(parsed)) => {
                check_domain_name(&parsed.name);
                assert!(parsed.name.label_count() >= 2);
                categories.insert(parsed.category.to_owned());
                let e = expected.entry(parsed.name.clone()).or_default();
                let slot = match parsed.kind {
                    RuleKind::Exact => &mut e.exact,
                    RuleKind::Subtree => &mut e.subtree,
                };
                // A second, different category for the same name and kind is
                // a conflict; the build must then fail.
                slot.get_or_insert_with(|| parsed.category.to_owned());
            }
            Ok(None) => {}
            Err(_) => any_error = true,
        }
    }

    let confidential: BTreeSet<String> = categories
        .iter()
        .filter(|c| is_confidential(c))
        .cloned()
        .collect();
    let opts = BuildOptions {
        list_id: "fuzz".into(),
        serial: 1,
        issued_at: jiff::Timestamp::from_second(1_767_225_600).unwrap(), // 2026-01-01
        expires_at: jiff::Timestamp::from_second(4_922_899_200).unwrap(), // 2126-01-01
        confidential,
        min_age: Default::default(),
    };
    let mut compiler = Compiler::new();
    match compiler.add_source("fuzz", data) {
        Ok(()) => {}
        // Only reachable with inputs far larger than libFuzzer's default
        // -max_len (65534 categories, 4 GiB of names).
        Err(BuildError::TooManyCategories | BuildError::TooLarge) => return,
        Err(e) => panic!("unexpected error reading a byte slice: {e}"),
    }
    let built = compiler.build(&opts, signing_key());
    let bytes = match built {
        Ok((bytes, stats)) => {
            assert!(
                !any_error,
                "a build succeeded although a line failed to parse"
            );
            assert!(stats.rules as usize <= 2 * expected.len());
            bytes
        }
        Err(BuildError::Source(errors)) => {
            assert!(!errors.is_empty());
            return;
        }
        Err(BuildError::HashCollision | BuildError::TooManyCategories | BuildError::TooLarge) => {
            return;
        }
        Err(e) => panic!("unexpected build error: {e}"),
    };

    let list = match ward::list::verify(Bytes::Owned(bytes), trusted()) {
        Ok(list) => list,
        Err(e) => panic!("a freshly built list does not verify: {e}"),
    };
    list.check_expiry(jiff::Timestamp::from_second(1_800_000_000).unwrap())
        .expect("the list is valid until 2126");
    let mut rules = 0u64;
    for (name, e) in &expected {
        rules += u64::from(e.exact.is_some()) + u64::from(e.subtree.is_some());
        let key = name.key();
        let m = list
            .lookup(&key)
            .unwrap_or_else(|| panic!("accepted name {name:?} is not found in the list"));
        let (category, kind) = match (&e.exact, &e.subtree) {
            (Some(c), _) => (c, RuleKind::Exact),
            (None, Some(c)) => (c, RuleKind::Subtree),
            (None, None) => unreachable!("every entry has a rule"),
        };
        let shown = ward::policy::Block::of(&list, m).category_name(&list);
        assert_eq!(shown, category, "{name:?}");
        assert_eq!(m.kind, kind, "{name:?}");
        assert_eq!(usize::from(m.labels), name.label_count(), "{name:?}");
        assert_eq!(m.confidential, is_confidential(category), "{name:?}");
        match list.rule_text(&key, &m) {
            None => assert!(m.confidential),
            Some(text) => {
                let want = match kind {
                    RuleKind::Exact => format!("={name}"),
                    RuleKind::Subtree => name.to_string(),
                };
                assert_eq!(text, want);
            }
        }
        let _ = list.redacted(&key);

        // One label further down: a subtree rule still covers it.
        let mut child = key.clone();
        child.push_label(b"fuzz-child");
        if !child.is_overflow() {
            match (&e.subtree, list.lookup(&child)) {
                (Some(_), None) => panic!("name below subtree rule {name:?} is not found"),
                (Some(_), Some(m)) => assert!(usize::from(m.labels) >= name.label_count()),
                (None, _) => {}
            }
        }
    }
    assert_eq!(list.manifest().entries, rules, "manifest rule count");
});
