//! Deltas: tamper and chain checks, and the property that a base with any
//! chain of deltas answers every name as the full list of the last serial.

use std::collections::BTreeMap;
use std::sync::Arc;

use ed25519_dalek::SigningKey;
use proptest::prelude::*;

use super::*;
use crate::domain::DomainName;
use crate::list::{BuildOptions, Bytes, Compiler, ListArtifact, RuleKind, TrustedKeys, Verified};

const SALT: [u8; 32] = [9; 32];

fn key(seed: u8) -> SigningKey {
    SigningKey::from_bytes(&[seed; 32])
}

fn trust() -> TrustedKeys {
    [key(1).verifying_key()].into_iter().collect()
}

fn opts(serial: u64) -> BuildOptions {
    BuildOptions {
        list_id: "test".into(),
        serial,
        issued_at: "2026-01-01T00:00:00Z".parse().unwrap(),
        expires_at: "2126-01-01T00:00:00Z".parse().unwrap(),
        confidential: ["csam".to_string()].into_iter().collect(),
        min_age: Default::default(),
    }
}

fn build_salted(source: &str, serial: u64, salt: [u8; 32]) -> Arc<Verified<ListArtifact>> {
    let mut c = Compiler::new();
    c.add_source("<source>", source.as_bytes()).unwrap();
    let (bytes, _) = c.build_with_salt(&opts(serial), &key(1), salt).unwrap();
    Arc::new(crate::list::verify(Bytes::Owned(bytes), &trust()).unwrap())
}

fn build(source: &str, serial: u64) -> Arc<Verified<ListArtifact>> {
    build_salted(source, serial, SALT)
}

fn delta(old: &ListArtifact, new: &ListArtifact) -> Vec<u8> {
    diff(old, new, &key(1)).unwrap().0
}

/// What a lookup says, in terms that do not depend on category ids.
fn verdict(
    categories: &[crate::list::format::CategoryInfo],
    m: Option<crate::list::Match>,
) -> Option<(String, RuleKind, bool, u8)> {
    m.map(|m| {
        (
            categories[usize::from(m.category)].name.clone(),
            m.kind,
            m.confidential,
            m.labels,
        )
    })
}

fn same_answers(overlay: &Overlay, full: &ListArtifact, names: &[String]) {
    for name in names {
        let key = DomainName::parse(name).unwrap().key();
        let got = verdict(overlay.categories(), overlay.lookup(&key));
        let want = verdict(&full.manifest().categories, full.lookup(&key));
        assert_eq!(got, want, "{name}");
        if let Some(m) = overlay.lookup(&key) {
            assert_eq!(
                overlay.rule_text(&key, &m),
                full.rule_text(&key, &full.lookup(&key).unwrap())
            );
        }
    }
}

const OLD: &str = "\
example.com gambling
=exact.example.org adult
sub.example.com adult
hidden.example.net csam
";
const NEW: &str = "\
example.com gambling
=exact.example.org gambling
new.example.org adult
secret.example.net csam
";

fn probes() -> Vec<String> {
    [
        "example.com",
        "sub.example.com",
        "a.sub.example.com",
        "exact.example.org",
        "x.exact.example.org",
        "new.example.org",
        "a.new.example.org",
        "hidden.example.net",
        "a.hidden.example.net",
        "secret.example.net",
        "b.secret.example.net",
        "other.example",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect()
}

#[test]
fn delta_turns_old_into_new() {
    let (old, new) = (build(OLD, 1), build(NEW, 2));
    let (bytes, stats) = diff(&old, &new, &key(1)).unwrap();
    // sub removed; exact changed (remove + add); new added; hidden
    // removed, secret added.
    assert_eq!((stats.added, stats.removed), (3, 3));
    assert_eq!((stats.plain_names, stats.confidential_names), (3, 2));
    // No plaintext confidential name in the delta.
    for secret in [&b"hidden"[..], b"secret"] {
        assert!(!bytes.windows(secret.len()).any(|w| w == secret));
    }
    let d = open(&bytes, &trust()).unwrap();
    assert_eq!((d.base_serial(), d.serial()), (1, 2));
    assert_eq!(d.base_sha256(), old.sha256());
    assert_eq!(d.target_sha256(), new.sha256());
    let overlay = Overlay::apply(Arc::clone(&old), [d]).unwrap();
    assert_eq!((overlay.base_serial(), overlay.serial()), (1, 2));
    assert_eq!(overlay.sha256(), new.sha256());
    same_answers(&overlay, &new, &probes());
}

#[test]
fn tampered_or_foreign_deltas_are_refused() {
    let (old, new) = (build(OLD, 1), build(NEW, 2));
    let bytes = delta(&old, &new);
    for at in [0, 9, 20, 40, 100, bytes.len() - 1] {
        let mut t = bytes.clone();
        t[at] ^= 1;
        assert!(open(&t, &trust()).is_err(), "flip at {at}");
    }
    let mut cut = bytes.clone();
    cut.pop();
    assert!(matches!(
        open(&cut, &trust()),
        Err(DeltaError::BadSignature { .. })
    ));
    let other: TrustedKeys = [key(2).verifying_key()].into_iter().collect();
    assert!(matches!(
        open(&bytes, &other),
        Err(DeltaError::UnknownKey { .. })
    ));
    // A full list is not a delta, nor a delta a full list.
    assert!(matches!(
        open(old.as_bytes(), &trust()),
        Err(DeltaError::Corrupt { .. })
    ));
    assert!(crate::list::verify(Bytes::Owned(bytes), &trust()).is_err());
}

#[test]
fn chain_rules() {
    let s1 = build(OLD, 1);
    let s2 = build(NEW, 2);
    let s3 = build("example.com adult\n", 3);
    let d12 = open(&delta(&s1, &s2), &trust()).unwrap();
    let d23 = open(&delta(&s2, &s3), &trust()).unwrap();
    // Gap: 2 -> 3 on base 1.
    let mut o = Overlay::new(Arc::clone(&s1));
    assert!(matches!(o.push(&d23), Err(DeltaError::Gap { .. })));
    o.push(&d12).unwrap();
    // Replay of an applied delta.
    assert!(matches!(o.push(&d12), Err(DeltaError::Rollback { .. })));
    o.push(&d23).unwrap();
    assert_eq!(o.serial(), 3);
    assert_eq!(o.applied().len(), 2);
    same_answers(&o, &s3, &probes());
    // Another artifact signed under serial 2 (equivocation): a delta from
    // it does not fit a chain that went through the first.
    let s2b = build(&format!("{NEW}z.example gambling\n"), 2);
    assert_ne!(s2b.sha256(), s2.sha256());
    let d2b3 = open(&delta(&s2b, &s3), &trust()).unwrap();
    let mut o = Overlay::new(Arc::clone(&s1));
    o.push(&d12).unwrap();
    let before = o.serial();
    assert!(matches!(
        o.push(&d2b3),
        Err(DeltaError::BaseMismatch { .. })
    ));
    assert_eq!(o.serial(), before, "a refused delta changes nothing");
    // Another list id.
    let mut other = opts(2);
    other.list_id = "other".into();
    let mut c = Compiler::new();
    c.add_source("<s>", NEW.as_bytes()).unwrap();
    let (b, _) = c.build_with_salt(&other, &key(1), SALT).unwrap();
    let other = crate::list::verify(Bytes::Owned(b), &trust()).unwrap();
    assert!(matches!(
        diff(&s1, &other, &key(1)),
        Err(DeltaError::ListId { .. })
    ));
    // Backwards.
    assert!(matches!(
        diff(&s2, &s1, &key(1)),
        Err(DeltaError::SerialOrder { .. })
    ));
}

#[test]
fn salts_must_agree_when_confidential_rules_exist() {
    let old = build_salted(OLD, 1, [1; 32]);
    let new = build_salted(NEW, 2, [2; 32]);
    assert!(matches!(
        diff(&old, &new, &key(1)),
        Err(DeltaError::SaltDiffers { .. })
    ));
    // Without confidential rules the salt does not matter.
    let old = build_salted("a.example gambling\n", 1, [1; 32]);
    let new = build_salted("b.example gambling\n", 2, [2; 32]);
    let d = open(&delta(&old, &new), &trust()).unwrap();
    let o = Overlay::apply(Arc::clone(&old), [d]).unwrap();
    same_answers(&o, &new, &["a.example".into(), "x.b.example".into()]);
}

/// The names the property test draws rules from and looks up.
fn universe() -> Vec<String> {
    let mut names = Vec::new();
    for tld in ["com", "org"] {
        for sld in ["a", "b", "c"] {
            names.push(format!("{sld}.{tld}"));
            for sub in ["x", "y"] {
                names.push(format!("{sub}.{sld}.{tld}"));
                names.push(format!("w.{sub}.{sld}.{tld}"));
            }
        }
    }
    names
}

const CATEGORIES: [&str; 4] = ["adult", "gambling", "csam", "violence"];

/// One serial's source: per name, an optional exact and an optional
/// subtree rule, each a category index; the exact rule is dropped when
/// it would mix confidential and plaintext categories on one name.
fn source_of(rules: &BTreeMap<usize, (Option<usize>, Option<usize>)>) -> String {
    let names = universe();
    let mut out = String::new();
    for (&n, &(exact, subtree)) in rules {
        let conf = |c: usize| CATEGORIES[c] == "csam";
        let exact = match (exact, subtree) {
            (Some(e), Some(s)) if conf(e) != conf(s) => None,
            (e, _) => e,
        };
        if let Some(c) = exact {
            out.push_str(&format!("={} {}\n", names[n], CATEGORIES[c]));
        }
        if let Some(c) = subtree {
            out.push_str(&format!("{} {}\n", names[n], CATEGORIES[c]));
        }
    }
    out
}

fn serial_rules() -> impl Strategy<Value = BTreeMap<usize, (Option<usize>, Option<usize>)>> {
    let n = universe().len();
    proptest::collection::btree_map(
        0..n,
        (
            proptest::option::of(0..4usize),
            proptest::option::of(0..4usize),
        ),
        0..12,
    )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    #[test]
    fn base_plus_deltas_equals_full_list(serials in proptest::collection::vec(serial_rules(), 2..5)) {
        let lists: Vec<_> = serials
            .iter()
            .enumerate()
            .map(|(i, r)| build(&source_of(r), 10 + i as u64))
            .collect();
        let mut overlay = Overlay::new(Arc::clone(&lists[0]));
        for pair in lists.windows(2) {
            let d = open(&delta(&pair[0], &pair[1]), &trust()).unwrap();
            overlay.push(&d).unwrap();
        }
        let last = lists.last().unwrap();
        prop_assert_eq!(overlay.serial(), last.serial());
        let mut names = universe();
        names.extend(universe().iter().map(|n| format!("z.{n}")));
        names.push("unlisted.net".into());
        same_answers(&overlay, last, &names);
        // One delta straight from the first serial says the same.
        let d = open(&delta(&lists[0], last), &trust()).unwrap();
        let direct = Overlay::apply(Arc::clone(&lists[0]), [d]).unwrap();
        same_answers(&direct, last, &names);
    }
}

#[test]
fn publish_keeps_a_consistent_directory() {
    let dir = tempfile::tempdir().unwrap();
    let now: jiff::Timestamp = "2026-06-01T00:00:00Z".parse().unwrap();
    let sources = [
        OLD,
        NEW,
        "example.com adult\n",
        "example.com adult\nb.example gambling\n",
    ];
    let lists: Vec<_> = sources
        .iter()
        .enumerate()
        .map(|(i, s)| build(s, 1 + i as u64))
        .collect();
    for (i, l) in lists.iter().enumerate() {
        let p = publish::publish(
            dir.path(),
            l.as_bytes(),
            &key(1),
            &trust(),
            2,
            publish::ZSTD_LEVEL,
            now,
        )
        .unwrap();
        assert_eq!(p.deltas.len(), i.min(2), "serial {}", l.serial());
    }
    let index = publish::open_index(
        &std::fs::read(dir.path().join(publish::INDEX_FILE)).unwrap(),
        &trust(),
    )
    .unwrap();
    assert_eq!(index.latest.serial, 4);
    let bases: Vec<u64> = index.deltas.iter().map(|d| d.base_serial).collect();
    assert_eq!(bases, [3, 2]);
    // Every file the index names is there with its size and hash, the
    // zstd copy decompresses to the full list, each delta applies.
    let read = |f: &publish::FileEntry| {
        let b = std::fs::read(dir.path().join(&f.file)).unwrap();
        assert_eq!(b.len() as u64, f.size);
        assert_eq!(hex::encode(sha2::Sha256::digest(&b)), f.sha256);
        b
    };
    use sha2::Digest;
    let full = read(&index.latest.plain);
    assert_eq!(full, lists[3].as_bytes());
    let zst = read(&index.latest.zst);
    assert_eq!(zstd::bulk::decompress(&zst, full.len()).unwrap(), full);
    for d in &index.deltas {
        let v = open(&read(&d.file), &trust()).unwrap();
        let base = &lists[(d.base_serial - 1) as usize];
        let o = Overlay::apply(Arc::clone(base), [v]).unwrap();
        same_answers(&o, &lists[3], &probes());
    }
    // Old serials beyond K are gone; an older or equal serial is refused.
    let mut names: Vec<String> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert_eq!(
        names,
        [
            "delta-2-4.wdelta",
            "delta-3-4.wdelta",
            "index.ward-index",
            "list-2.ward",
            "list-3.ward",
            "list-4.ward",
            "list-4.ward.zst"
        ]
    );
    assert!(matches!(
        publish::publish(
            dir.path(),
            lists[2].as_bytes(),
            &key(1),
            &trust(),
            2,
            publish::ZSTD_LEVEL,
            now
        ),
        Err(DeltaError::NotNewer { .. })
    ));
    // A tampered index is refused.
    let mut idx = std::fs::read(dir.path().join(publish::INDEX_FILE)).unwrap();
    let at = idx.len() - 3;
    idx[at] ^= 1;
    assert!(publish::open_index(&idx, &trust()).is_err());
}

#[test]
fn confidential_filter_travels_whole_or_as_changed_blocks() {
    // 40 confidential names need two filter blocks where none need one:
    // the delta carries the whole filter; one more name, only the blocks
    // it changes.
    let many: String = (0..40).map(|i| format!("c{i}.example csam\n")).collect();
    let s1 = build("example.com gambling\n", 1);
    let s2 = build(&format!("example.com gambling\n{many}"), 2);
    let s3 = build(
        &format!("example.com gambling\n{many}late.example csam\n"),
        3,
    );
    let d12 = delta(&s1, &s2);
    let d23 = delta(&s2, &s3);
    let patch = |d: &[u8]| {
        open(d, &trust())
            .unwrap()
            .manifest()
            .payload
            .filter
            .unwrap()
            .patch
    };
    assert!(!patch(&d12));
    assert!(patch(&d23));
    let mut o = Overlay::new(Arc::clone(&s1));
    o.push(&open(&d12, &trust()).unwrap()).unwrap();
    o.push(&open(&d23, &trust()).unwrap()).unwrap();
    let mut names: Vec<String> = (0..40).map(|i| format!("x.c{i}.example")).collect();
    names.extend([
        "late.example".into(),
        "a.late.example".into(),
        "example.com".into(),
    ]);
    same_answers(&o, &s3, &names);
}
