//! Fuzz target `artifact_load`: loading an untrusted artifact file.
//!
//! The input is the whole file, handed to `ward::list::verify` as
//! `Bytes::Owned` with the demo public key (`ward::list::DEMO_PUBLIC_KEY`)
//! as the only trusted key. This is what `ward list verify`, `ward serve`
//! and a list download do with bytes from the network or disk. The input
//! also goes to `inspect_unverified`, which `ward list info` runs on
//! untrusted files without a key.
//!
//! The seed corpus (`fuzz/seeds/artifact_load/`) holds real artifacts
//! signed with the demo key, so verification succeeds on the seeds; most
//! mutations then fail the signature check, which is the point: nothing
//! past the header may be parsed before the signature holds. (The target
//! `artifact_signed` re-signs its input to fuzz what lies behind the
//! signature.)
//!
//! When verification succeeds, the list is queried with names cut from the
//! input and with the demo list's names, exercising the matcher.

#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use ward::domain::NameKey;
use ward::list::{Bytes, ListArtifact, TrustedKeys, VerifyError};

fn trusted() -> &'static TrustedKeys {
    static TRUST: OnceLock<TrustedKeys> = OnceLock::new();
    TRUST.get_or_init(|| {
        let key = ward::keys::parse_public(ward::list::DEMO_PUBLIC_KEY)
            .expect("the demo public key parses");
        std::iter::once(key).collect()
    })
}

/// Names every seed artifact uses (see `fuzz/seeds/README.md`).
const KNOWN_NAMES: &[&[u8]] = &[
    b"blocked.example.test",
    b"www.blocked.example.test",
    b"a.casino.example.test",
    b"exact.example.test",
    b"www.exact.example.test",
    b"xn--bcher-kva.example.test",
    b"csam-demo.example.test",
    b"deep.csam-demo.example.test",
    b"not-listed.example",
    b"example.test",
    b"test",
];

fn query(list: &ListArtifact, key: &NameKey) {
    if let Some(m) = list.lookup(key) {
        let _ = ward::policy::Block::of(list, m).category_name(list);
        let text = list.rule_text(key, &m);
        assert_eq!(
            text.is_none(),
            m.confidential,
            "rule text of a confidential rule"
        );
        if let Some(text) = text {
            // The rule is a suffix of the queried name, on a label boundary.
            let rule = text.strip_prefix('=').unwrap_or(&text);
            let name = NameKey::to_forward(key.as_bytes());
            assert!(
                name == rule || name.ends_with(&format!(".{rule}")),
                "rule {text:?} does not cover {name:?}"
            );
        }
        assert!(usize::from(m.labels) <= key.label_count());
    }
    let _ = list.redacted(key);
}

fn exercise(list: &ListArtifact, data: &[u8]) {
    let _ = list.manifest();
    let _ = (list.list_id(), list.serial(), list.key_id(), list.sha256());
    let _ = (list.len(), list.is_empty(), list.as_bytes().len());
    let _ = list.check_expiry(jiff::Timestamp::UNIX_EPOCH);
    let _ = list.is_expired(jiff::Timestamp::MAX);
    let _ = format!("{list:?}");

    for name in KNOWN_NAMES {
        if let Some(key) = NameKey::from_text(name) {
            query(list, &key);
        }
    }
    // Names cut from the input: runs of bytes between separators that cannot
    // occur in a name, both as dotted text and as wire labels.
    let pieces = data
        .split(|&b| b == 0 || b == b'"' || b == b'\n' || b.is_ascii_whitespace())
        .filter(|p| !p.is_empty())
        .take(32);
    for piece in pieces {
        if let Some(key) = NameKey::from_text(piece) {
            query(list, &key);
        }
        let wire = NameKey::from_wire_labels(piece.split(|&b| b == b'.'));
        query(list, &wire);
    }
}

fuzz_target!(|data: &[u8]| {
    let unverified = ward::list::verify::inspect_unverified(data);

    match ward::list::verify(Bytes::Owned(data.to_vec()), trusted()) {
        Ok(list) => {
            // What verified must also be readable without the key, and the
            // same.
            let (key_id, manifest) = unverified.expect("a verified list is inspectable");
            assert_eq!(key_id, list.key_id());
            assert_eq!(&manifest, list.manifest());
            assert_eq!(list.as_bytes(), data);
            exercise(&list, data);
        }
        Err(e) => {
            // Every error must render (the CLI prints it).
            let msg = e.to_string();
            assert!(!msg.is_empty());
            if let VerifyError::Io { .. } | VerifyError::IsDirectory { .. } = e {
                panic!("file-system error from in-memory bytes: {e}");
            }
        }
    }
});
