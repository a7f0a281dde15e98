//! Fuzz target `import_lines`: lists in other formats read as sources
//! (`ward list build --format rpz|hosts|domains|adblock`).
//!
//! The first byte picks the format (`r`, `h`, `d`, `a`; any other byte by
//! its value modulo four) and whether unsupported lines are left out (bit
//! 7); the rest is the file, split on `\n` as the compiler splits it.
//!
//! * `list::import::Parser` line by line, with the zone `z` for RPZ;
//! * the same bytes through `Compiler::import` and `build` with a fixed
//!   signing key.
//!
//! Errors are fine; panics are not. Invariants checked:
//!
//! * every event names a line of the input;
//! * a build succeeds exactly when no line gave an error that is not left
//!   out;
//! * a list that builds verifies, and every rule the parser gave is found
//!   by `lookup` at its own depth in the import's category, a subtree rule
//!   as a subtree rule.

#![no_main]

use std::sync::OnceLock;

use ed25519_dalek::SigningKey;
use libfuzzer_sys::fuzz_target;
use ward::domain::DomainName;
use ward::list::import::{Event, Format, MAX_LINE_LEN, Parser};
use ward::list::source::LineError;
use ward::list::{BuildError, BuildOptions, Bytes, Compiler, ImportOptions, RuleKind, TrustedKeys};

fn signing_key() -> &'static SigningKey {
    static KEY: OnceLock<SigningKey> = OnceLock::new();
    KEY.get_or_init(|| SigningKey::from_bytes(&[7u8; 32]))
}

fn trusted() -> &'static TrustedKeys {
    static TRUST: OnceLock<TrustedKeys> = OnceLock::new();
    TRUST.get_or_init(|| std::iter::once(signing_key().verifying_key()).collect())
}

fuzz_target!(|data: &[u8]| {
    let Some((&head, text)) = data.split_first() else {
        return;
    };
    let format = match head & 0x7f {
        b'r' => Format::Rpz,
        b'h' => Format::Hosts,
        b'd' => Format::Domains,
        b'a' => Format::Adblock,
        b => [Format::Rpz, Format::Hosts, Format::Domains, Format::Adblock][usize::from(b % 4)],
    };
    let skip_unsupported = head & 0x80 != 0;
    let zone = DomainName::parse("z").expect("a valid zone name");

    // The parser alone, exactly as the compiler splits lines.
    let mut parser = Parser::new(format, Some(&zone));
    let mut events = Vec::new();
    let mut lines = 0usize;
    for line in text.split_inclusive(|&b| b == b'\n') {
        lines += 1;
        let line = line.strip_suffix(b"\n").unwrap_or(line);
        if line.len() > MAX_LINE_LEN {
            parser.too_long(lines, &mut events);
        } else {
            parser.feed(lines, line, &mut events);
        }
    }
    parser.finish(&mut events);
    let mut failing = false;
    let mut rules = Vec::new();
    for e in events {
        match e {
            Event::Rule { line, rule } => {
                assert!((1..=lines).contains(&line), "rule at line {line} of {lines}");
                assert!(rule.name.label_count() >= 2);
                rules.push(rule);
            }
            Event::Error { line, error } => {
                assert!((1..=lines).contains(&line), "error at line {line} of {lines}");
                let _ = error.to_string();
                if !(skip_unsupported && matches!(error, LineError::Unsupported(_))) {
                    failing = true;
                }
            }
        }
    }

    let opts = ImportOptions {
        format,
        category: "imported".into(),
        zone: Some(zone),
        skip_unsupported,
    };
    let mut compiler = Compiler::new();
    match compiler.import("fuzz", text, &opts) {
        Ok(_) => {}
        Err(BuildError::TooLarge) => return,
        Err(e) => panic!("unexpected error reading a byte slice: {e}"),
    }
    let build = BuildOptions {
        list_id: "fuzz".into(),
        serial: 1,
        issued_at: jiff::Timestamp::from_second(1_767_225_600).unwrap(), // 2026-01-01
        expires_at: jiff::Timestamp::from_second(4_922_899_200).unwrap(), // 2126-01-01
        confidential: Default::default(),
        min_age: Default::default(),
    };
    let bytes = match compiler.build(&build, signing_key()) {
        Ok((bytes, _)) => {
            assert!(!failing, "a build succeeded although a line failed");
            bytes
        }
        Err(BuildError::Source(errors)) => {
            assert!(failing, "the build failed but the parser gave no error: {errors:?}");
            return;
        }
        Err(BuildError::HashCollision) => return,
        Err(e) => panic!("unexpected build error: {e}"),
    };
    let list = ward::list::verify(Bytes::Owned(bytes), trusted())
        .unwrap_or_else(|e| panic!("a freshly built list does not verify: {e}"));
    for rule in &rules {
        let m = list
            .lookup(&rule.name.key())
            .unwrap_or_else(|| panic!("imported name {:?} is not found", rule.name));
        assert_eq!(usize::from(m.labels), rule.name.label_count());
        if rule.kind == RuleKind::Subtree {
            assert_eq!(m.kind, RuleKind::Subtree, "{:?}", rule.name);
        }
        let shown = ward::policy::Block::of(&list, m).category_name(&list);
        assert_eq!(shown, "imported");
    }
});
