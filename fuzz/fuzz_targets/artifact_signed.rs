//! Fuzz target `artifact_signed`: what lies behind the signature.
//!
//! `artifact_load` cannot get past the Ed25519 check with mutated input.
//! This target takes an input laid out like an artifact (it shares the
//! seed corpus `fuzz/seeds/artifact_load/`), repairs what a signer
//! controls and signs it with the demo secret key (`examples/demo.key`),
//! then verifies against the demo public key:
//!
//! * header: magic, version 1, zero reserved bytes, the demo key id and the
//!   (possibly re-serialised) manifest length are written anew;
//! * manifest: if the input's manifest is a JSON object, its `key_id`,
//!   `payload.len` and `payload.sha256` are set to match; the other fields
//!   (format, sections, salt, hashed table shape, categories, ...) are kept
//!   as fuzzed. Non-JSON manifests are signed as they are;
//! * payload: everything after the padded manifest, as fuzzed.
//!
//! So the verifier's post-signature checks (manifest parsing, section
//! bounds, the hashed table's shape, the fst's header) and the matcher all
//! see arbitrary, but validly signed, data. A panic here needs a trusted
//! signing key to trigger, so it is a robustness finding rather than an
//! attack from the network; it is still a bug (ward promises never to
//! panic on a lookup).
//!
//! Set `WARD_FUZZ_SIGNED_OUT=FILE` when running one input to get the
//! re-signed artifact as a file (then `ward check --list FILE --trust
//! examples/demo.pub NAME` reproduces outside the fuzzer).
//!
//! Set `WARD_FUZZ_SKIP_KNOWN=1` to skip lookups on lists that hit the
//! known finding (fst root address outside the name index) and look past it.
//!
//! Invariant: a re-signed input is never rejected for its header,
//! signature, key or length; only `VerifyError::Manifest` may come back.

#![no_main]

use std::sync::OnceLock;

use ed25519_dalek::{Signer, SigningKey};
use libfuzzer_sys::fuzz_target;
use sha2::{Digest, Sha256};
use ward::domain::NameKey;
use ward::keys::KeyId;
use ward::list::format::{FORMAT_VERSION, HEADER_LEN, MAGIC, MAX_MANIFEST_LEN, SIGNATURE_CONTEXT};
use ward::list::{Bytes, ListArtifact, TrustedKeys, VerifyError};

fn demo_secret() -> &'static SigningKey {
    static KEY: OnceLock<SigningKey> = OnceLock::new();
    KEY.get_or_init(|| {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../examples/demo.key");
        ward::keys::read_secret(std::path::Path::new(path)).expect("examples/demo.key reads")
    })
}

fn trusted() -> &'static TrustedKeys {
    static TRUST: OnceLock<TrustedKeys> = OnceLock::new();
    TRUST.get_or_init(|| {
        let key = ward::keys::parse_public(ward::list::DEMO_PUBLIC_KEY)
            .expect("the demo public key parses");
        assert_eq!(
            key,
            demo_secret().verifying_key(),
            "demo.key matches demo.pub"
        );
        std::iter::once(key).collect()
    })
}

/// `WARD_FUZZ_SIGNED_OUT=FILE`: write each re-signed artifact there before
/// verifying it, so a crash input can be turned into a real `.ward` file.
fn dump_path() -> Option<&'static std::path::Path> {
    static PATH: OnceLock<Option<std::path::PathBuf>> = OnceLock::new();
    PATH.get_or_init(|| std::env::var_os("WARD_FUZZ_SIGNED_OUT").map(Into::into))
        .as_deref()
}

fn align8(n: usize) -> usize {
    n.div_ceil(8) * 8
}

/// Rewrites the fields a signer fills in from the payload.
fn repair_manifest(manifest: &[u8], payload: &[u8], key_id: KeyId) -> Vec<u8> {
    let Ok(serde_json::Value::Object(mut m)) = serde_json::from_slice(manifest) else {
        return manifest.to_vec();
    };
    if m.contains_key("key_id") {
        m.insert("key_id".into(), key_id.to_string().into());
    }
    if let Some(serde_json::Value::Object(p)) = m.get_mut("payload") {
        if p.contains_key("len") {
            p.insert("len".into(), (payload.len() as u64).into());
        }
        if p.contains_key("sha256") {
            let hash: [u8; 32] = Sha256::digest(payload).into();
            let hex: String = hash.iter().map(|b| format!("{b:02x}")).collect();
            p.insert("sha256".into(), hex.into());
        }
    }
    serde_json::to_vec_pretty(&serde_json::Value::Object(m)).unwrap_or_else(|_| manifest.to_vec())
}

/// Lays out and signs an artifact as the builder does.
fn sign(manifest: &[u8], payload: &[u8]) -> Vec<u8> {
    let key = demo_secret();
    let key_id = KeyId::of(&key.verifying_key());
    let mut out = Vec::with_capacity(HEADER_LEN + manifest.len() + 8 + payload.len());
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&FORMAT_VERSION.to_le_bytes());
    out.extend_from_slice(&[0, 0]);
    out.extend_from_slice(&(manifest.len() as u32).to_le_bytes());
    out.extend_from_slice(&key_id.0);
    let payload_hash: [u8; 32] = Sha256::digest(payload).into();
    let mut msg = Vec::with_capacity(SIGNATURE_CONTEXT.len() + 24 + manifest.len() + 32);
    msg.extend_from_slice(SIGNATURE_CONTEXT);
    msg.extend_from_slice(&out[..24]);
    msg.extend_from_slice(manifest);
    msg.extend_from_slice(&payload_hash);
    out.extend_from_slice(&key.sign(&msg).to_bytes());
    out.extend_from_slice(manifest);
    out.resize(align8(out.len()), 0);
    out.extend_from_slice(payload);
    out
}

fn query(list: &ListArtifact, key: &NameKey) {
    if let Some(m) = list.lookup(key) {
        let _ = ward::policy::Block::of(list, m).category_name(list);
        let _ = list.rule_text(key, &m);
        assert!(usize::from(m.labels) <= key.label_count());
    }
    let _ = list.redacted(key);
}

/// `WARD_FUZZ_SKIP_KNOWN=1`: skip lookups on lists whose fst root address
/// lies outside the name index, the known finding in docs/fuzzing.md, so
/// the fuzzer can look for other failures behind it.
fn skip_known() -> bool {
    static SKIP: OnceLock<bool> = OnceLock::new();
    *SKIP.get_or_init(|| std::env::var_os("WARD_FUZZ_SKIP_KNOWN").is_some_and(|v| v != "0"))
}

/// True when the name index's footer points its root node outside the index.
fn fst_root_out_of_bounds(list: &ListArtifact) -> bool {
    let bytes = list.as_bytes();
    let manifest_len = u32::from_le_bytes([bytes[12], bytes[13], bytes[14], bytes[15]]) as usize;
    let payload_start = align8(HEADER_LEN + manifest_len);
    let names = list.manifest().payload.names;
    let start = payload_start + names.offset as usize;
    let fst = &bytes[start..start + names.len as usize];
    // fst footer: ... | len u64 | root address u64 | checksum u32 (format
    // 3; formats 1 and 2 have no checksum). Fst::new refuses < 32 bytes.
    if fst.len() < 32 {
        return false;
    }
    let version = u64::from_le_bytes(fst[..8].try_into().expect("8 bytes"));
    let end = if version <= 2 {
        fst.len()
    } else {
        fst.len() - 4
    };
    let root = u64::from_le_bytes(fst[end - 8..end].try_into().expect("8 bytes"));
    root != 0 && root >= fst.len() as u64
}

fn exercise(list: &ListArtifact, data: &[u8]) {
    let _ = format!("{list:?}");
    let _ = list.check_expiry(jiff::Timestamp::UNIX_EPOCH);
    if skip_known() && fst_root_out_of_bounds(list) {
        return;
    }
    for name in [
        &b"blocked.example.test"[..],
        b"www.blocked.example.test",
        b"a.casino.example.test",
        b"exact.example.test",
        b"xn--bcher-kva.example.test",
        b"csam-demo.example.test",
        b"x.csam-demo.example.test",
        b"example.test",
    ] {
        query(list, &NameKey::from_text(name).expect("a valid name"));
    }
    // Keys cut from the input: every byte string can reach the fst walk.
    for piece in data.split(|&b| b == 0 || b == b'"' || b == b'\n').take(32) {
        if let Some(key) = NameKey::from_text(piece) {
            query(list, &key);
        }
        query(
            list,
            &NameKey::from_wire_labels(piece.split(|&b| b == b'.')),
        );
    }
}

fuzz_target!(|data: &[u8]| {
    if data.len() < HEADER_LEN {
        return;
    }
    let manifest_len = u32::from_le_bytes([data[12], data[13], data[14], data[15]]) as usize;
    // Clamp to the input so that any length the fuzzer writes is usable.
    let manifest_end = HEADER_LEN + manifest_len.min(data.len() - HEADER_LEN);
    let body_start = align8(manifest_end).min(data.len());
    let manifest = &data[HEADER_LEN..manifest_end];
    let payload = &data[body_start..];
    let key_id = KeyId::of(&demo_secret().verifying_key());
    let manifest = repair_manifest(manifest, payload, key_id);
    if manifest.len() > MAX_MANIFEST_LEN {
        return;
    }
    let artifact = sign(&manifest, payload);
    if let Some(path) = dump_path() {
        // For reproducing a finding with the `ward` CLI (docs/fuzzing.md).
        std::fs::write(path, &artifact).expect("write WARD_FUZZ_SIGNED_OUT");
    }

    match ward::list::verify(Bytes::Owned(artifact.clone()), trusted()) {
        Ok(list) => {
            assert_eq!(list.as_bytes(), &artifact[..]);
            exercise(&list, data);
        }
        Err(VerifyError::Manifest { reason }) => assert!(!reason.is_empty()),
        Err(e) => panic!("a correctly signed artifact was rejected before its manifest: {e}"),
    }
});
