//! Tests of build → verify → match, including the tamper and property tests.

use std::collections::{BTreeMap, BTreeSet};

use ed25519_dalek::SigningKey;
use proptest::prelude::*;

use super::build::build_from_str;
use super::guard;
use super::verify::sweep_nodes;
use super::*;
use crate::domain::{DomainName, NameKey};

fn key(seed: u8) -> SigningKey {
    SigningKey::from_bytes(&[seed; 32])
}

fn opts(confidential: &[&str]) -> BuildOptions {
    let issued_at: jiff::Timestamp = "2026-01-01T00:00:00Z".parse().unwrap();
    BuildOptions {
        list_id: "test".into(),
        serial: 7,
        issued_at,
        expires_at: "2126-01-01T00:00:00Z".parse().unwrap(),
        confidential: confidential.iter().map(|s| s.to_string()).collect(),
        min_age: Default::default(),
    }
}

fn trust(keys: &[&SigningKey]) -> TrustedKeys {
    keys.iter().map(|k| k.verifying_key()).collect()
}

fn build(source: &str, confidential: &[&str]) -> Vec<u8> {
    build_from_str(source, &opts(confidential), &key(1))
        .unwrap()
        .0
}

fn open(bytes: Vec<u8>) -> Verified<ListArtifact> {
    verify(Bytes::Owned(bytes), &trust(&[&key(1)])).unwrap()
}

/// (category, rule, kind) for a textual name, or None when allowed.
fn check(list: &ListArtifact, name: &str) -> Option<(String, Option<String>, RuleKind)> {
    let key = DomainName::parse(name).unwrap().key();
    let m = list.lookup(&key)?;
    Some((
        category_name(list, &m).to_owned(),
        list.rule_text(&key, &m),
        m.kind,
    ))
}

const SAMPLE: &str = "\
example.com        gambling
=exact.example.org adult
*.wild.example.net violence
deep.sub.example.com adult
bücher.example     violence
secret.example.com csam
=only.secret.test  csam
";

#[test]
fn matching_semantics() {
    let list = open(build(SAMPLE, &["csam"]));
    let blocked = |n: &str| check(&list, n).map(|(c, r, _)| (c, r));
    let plain = |c: &str, r: &str| Some((c.to_owned(), Some(r.to_owned())));
    // A rule blocks its name and everything under it.
    assert_eq!(blocked("example.com"), plain("gambling", "example.com"));
    assert_eq!(blocked("a.b.example.com"), plain("gambling", "example.com"));
    // Case and one trailing dot do not matter.
    assert_eq!(
        blocked("WWW.Example.COM."),
        plain("gambling", "example.com")
    );
    // Label boundaries: no partial-label or infix matches.
    assert_eq!(blocked("notexample.com"), None);
    assert_eq!(blocked("example.com.evil.org"), None);
    assert_eq!(blocked("com"), None);
    // The deepest rule wins.
    assert_eq!(
        blocked("x.deep.sub.example.com"),
        plain("adult", "deep.sub.example.com")
    );
    assert_eq!(blocked("sub.example.com"), plain("gambling", "example.com"));
    // Exact rules match only their own name.
    assert_eq!(
        blocked("exact.example.org"),
        plain("adult", "=exact.example.org")
    );
    assert_eq!(blocked("www.exact.example.org"), None);
    assert_eq!(blocked("example.org"), None);
    // `*.` is the default (subtree).
    assert_eq!(
        blocked("wild.example.net"),
        plain("violence", "wild.example.net")
    );
    assert_eq!(
        blocked("a.wild.example.net"),
        plain("violence", "wild.example.net")
    );
    // IDN in the source and in queries.
    assert_eq!(
        blocked("Bücher.example"),
        plain("violence", "xn--bcher-kva.example")
    );
    assert_eq!(
        blocked("www.xn--bcher-kva.example"),
        plain("violence", "xn--bcher-kva.example")
    );
    // Confidential rules match but never reveal their text.
    assert_eq!(blocked("secret.example.com"), Some(("csam".into(), None)));
    assert_eq!(blocked("a.secret.example.com"), Some(("csam".into(), None)));
    assert_eq!(blocked("only.secret.test"), Some(("csam".into(), None)));
    assert_eq!(blocked("x.only.secret.test"), None);
}

#[test]
fn exact_and_subtree_on_one_name() {
    let list = open(build("example.com gambling\n=example.com adult\n", &[]));
    assert_eq!(check(&list, "example.com").unwrap().0, "adult");
    assert_eq!(check(&list, "www.example.com").unwrap().0, "gambling");
    let m = list.manifest();
    assert_eq!(m.entries, 2);
}

#[test]
fn wire_keys_match_like_text() {
    let list = open(build(SAMPLE, &["csam"]));
    let k = NameKey::from_wire_labels([&b"WWW"[..], b"EXAMPLE", b"Com", b""]);
    assert_eq!(category_name(&list, &list.lookup(&k).unwrap()), "gambling");
    // A label with bytes no rule can hold still lets its parents match.
    let k = NameKey::from_wire_labels([&b"we ird\x00"[..], b"example", b"com"]);
    assert!(list.lookup(&k).is_some());
    let k = NameKey::from_wire_labels([&b"a.b"[..], b"secret", b"example", b"com"]);
    assert!(list.lookup(&k).unwrap().confidential);
    // A dot inside a wire label cannot fake a boundary.
    let k = NameKey::from_wire_labels([&b"example.com"[..]]);
    assert!(list.lookup(&k).is_none());
    // Overlong names never match and never panic.
    let label = [b'a'; 63];
    let k = NameKey::from_wire_labels([&label[..], &label, &label, &label, b"example", b"com"]);
    assert!(list.lookup(&k).is_none());
}

#[test]
fn manifest_counts_and_duplicates() {
    let src = "a.com x\na.com x\n*.a.com x\n=b.com y\n=b.com y\nc.com s\nc.com s\n";
    let (bytes, stats) = build_from_str(src, &opts(&["s"]), &key(1)).unwrap();
    assert_eq!(stats.rules, 3);
    assert_eq!(stats.duplicates, 4);
    assert_eq!(stats.confidential_rules, 1);
    let list = open(bytes);
    let m = list.manifest();
    let counts: BTreeMap<_, _> = m
        .categories
        .iter()
        .map(|c| (c.name.as_str(), (c.entries, c.confidential)))
        .collect();
    assert_eq!(counts["x"], (1, false));
    assert_eq!(counts["y"], (1, false));
    assert_eq!(counts["s"], (1, true));
    assert_eq!(m.confidential, vec!["s".to_string()]);
    assert_eq!(m.serial, 7);
    assert_eq!(m.list_id, "test");
    assert_eq!(
        m.key_id,
        crate::keys::KeyId::of(&key(1).verifying_key()).to_string()
    );
}

#[test]
fn every_bad_line_is_reported_in_one_pass() {
    let src = "\
good.com ok
bad..com ok
1.2.3.4 ok
good2.com
toolong.com x y
com ok
a.com BAD
conflict.com one
conflict.com two
leak.com s
leak.com plain
";
    let Err(BuildError::Source(errors)) = build_from_str(src, &opts(&["s"]), &key(1)) else {
        panic!("build must fail");
    };
    let lines: Vec<usize> = errors.iter().map(|e| e.line).collect();
    assert_eq!(lines, vec![2, 3, 4, 5, 6, 7, 9, 11]);
    for e in &errors {
        let text = e.to_string();
        assert!(
            text.starts_with(&format!("<source>:{}: ", e.line)),
            "{text}"
        );
        assert!(!text.contains("leak"), "{text}");
    }
    assert!(
        errors[6].to_string().contains("<source>:8"),
        "{}",
        errors[6]
    );
}

#[test]
fn bad_options_are_refused() {
    let mut o = opts(&[]);
    o.list_id = "Bad Id".into();
    assert!(matches!(
        build_from_str("a.com x", &o, &key(1)),
        Err(BuildError::BadListId)
    ));
    let mut o = opts(&[]);
    o.expires_at = o.issued_at;
    assert!(matches!(
        build_from_str("a.com x", &o, &key(1)),
        Err(BuildError::BadValidity)
    ));
    let o = opts(&["Not_Valid"]);
    assert!(matches!(
        build_from_str("a.com x", &o, &key(1)),
        Err(BuildError::BadConfidential(_))
    ));
}

#[test]
fn empty_list_builds_and_matches_nothing() {
    let list = open(build("# nothing\n\n", &["csam"]));
    assert_eq!(list.manifest().entries, 0);
    assert!(check(&list, "example.com").is_none());
}

#[test]
fn trust_set_and_unknown_keys() {
    let bytes = build(SAMPLE, &["csam"]);
    // Signed by key 1: a set holding key 1 among others accepts it.
    let ok = verify(Bytes::Owned(bytes.clone()), &trust(&[&key(2), &key(1)]));
    assert!(ok.is_ok());
    // A valid signature from a key nobody trusts is refused.
    let err = verify(Bytes::Owned(bytes.clone()), &trust(&[&key(2)])).unwrap_err();
    assert!(matches!(err, VerifyError::UnknownKey { .. }), "{err}");
    assert!(err.to_string().contains("unknown key"));
    let err = verify(Bytes::Owned(bytes), &TrustedKeys::new()).unwrap_err();
    assert!(matches!(err, VerifyError::UnknownKey { trusted: 0, .. }));
}

#[test]
fn a_key_id_pointing_at_another_trusted_key_fails_the_signature() {
    let mut bytes = build(SAMPLE, &[]);
    let other = crate::keys::KeyId::of(&key(2).verifying_key());
    bytes[16..24].copy_from_slice(&other.0);
    let err = verify(Bytes::Owned(bytes), &trust(&[&key(1), &key(2)])).unwrap_err();
    assert!(matches!(err, VerifyError::BadSignature { .. }), "{err}");
}

#[test]
fn expiry_is_reported() {
    let mut o = opts(&[]);
    o.issued_at = "2020-01-01T00:00:00Z".parse().unwrap();
    o.expires_at = "2020-01-08T00:00:00Z".parse().unwrap();
    let (bytes, _) = build_from_str(SAMPLE, &o, &key(1)).unwrap();
    let list = open(bytes);
    let err = list.check_expiry(jiff::Timestamp::now()).unwrap_err();
    assert!(err.to_string().contains("expired"), "{err}");
    assert!(
        list.check_expiry("2020-01-02T00:00:00Z".parse().unwrap())
            .is_ok()
    );
    // Expired lists still match: the node keeps enforcing.
    assert!(check(&list, "example.com").is_some());
}

#[test]
fn every_flipped_byte_is_rejected() {
    let bytes = build(SAMPLE, &["csam"]);
    let t = trust(&[&key(1)]);
    for i in 0..bytes.len() {
        for mask in [0x01u8, 0x80, 0xFF] {
            let mut b = bytes.clone();
            b[i] ^= mask;
            assert!(
                verify(Bytes::Owned(b), &t).is_err(),
                "flipping byte {i} with {mask:#04x} was accepted"
            );
        }
    }
}

#[test]
fn every_truncation_and_extension_is_rejected() {
    let bytes = build(SAMPLE, &["csam"]);
    let t = trust(&[&key(1)]);
    for len in 0..bytes.len() {
        let err = verify(Bytes::Owned(bytes[..len].to_vec()), &t).unwrap_err();
        if len > 200 {
            assert!(err.to_string().contains("truncated"), "{len}: {err}");
        }
    }
    let mut longer = bytes.clone();
    longer.push(0);
    let err = verify(Bytes::Owned(longer), &t).unwrap_err();
    assert!(
        matches!(err, VerifyError::TrailingData { extra: 1 }),
        "{err}"
    );
}

#[test]
fn garbage_is_rejected_clearly() {
    let t = trust(&[&key(1)]);
    let cases: [(&[u8], &str); 5] = [
        (b"", "empty"),
        (b"hello world, this is not a list at all", "not a ward list"),
        (b"WARD", "truncated"),
        (b"WARDLIST\x01\x00\x00\x00", "truncated"),
        (&[0u8; 200], "not a ward list"),
    ];
    for (bytes, want) in cases {
        let err = verify(Bytes::Owned(bytes.to_vec()), &t)
            .unwrap_err()
            .to_string();
        assert!(err.contains(want), "{bytes:?}: {err}");
    }
    let mut v2 = build(SAMPLE, &[]);
    v2[8] = 2;
    let err = verify(Bytes::Owned(v2), &t).unwrap_err().to_string();
    assert!(err.contains("unsupported list format version 2"), "{err}");
}

#[test]
fn confidential_names_never_appear_in_the_artifact() {
    let secrets = [
        "secret-one.example.com",
        "hidden-two.example.net",
        "xn--bcher-kva.secret",
    ];
    let src: String = secrets
        .iter()
        .map(|s| format!("{s} csam\n"))
        .collect::<String>()
        + "public.example.com adult\n";
    let bytes = build(&src, &["csam"]);
    let contains = |needle: &[u8]| bytes.windows(needle.len()).any(|w| w == needle);
    for s in secrets {
        let name = DomainName::parse(s).unwrap();
        for form in [name.as_str().as_bytes(), name.key().as_bytes()] {
            let backwards: Vec<u8> = form.iter().rev().copied().collect();
            assert!(!contains(form) && !contains(&backwards), "{s} in plaintext");
        }
        for label in name.labels().filter(|l| l.len() > 6) {
            let backwards: Vec<u8> = label.bytes().rev().collect();
            assert!(!contains(label.as_bytes()), "label {label} of {s}");
            assert!(!contains(&backwards), "label {label} of {s}, reversed");
        }
    }
    // The fst encodes key bytes, so a raw search alone proves little:
    // decode every plaintext key as well, and check that the decoder sees
    // the public name but none of the confidential ones.
    let list = open(bytes);
    let mut keys = Vec::new();
    let mut stream = list.names.stream();
    while let Some((k, _)) = fst::Streamer::next(&mut stream) {
        keys.push(k.to_vec());
    }
    assert_eq!(keys, vec![b"com.example.public.".to_vec()]);
    for s in secrets {
        let m = list.lookup(&DomainName::parse(s).unwrap().key()).unwrap();
        assert!(m.confidential);
        assert_eq!(
            list.rule_text(&DomainName::parse(s).unwrap().key(), &m),
            None
        );
    }
}

#[test]
fn equal_sources_give_equal_payload_names_section() {
    // Category ids are assigned in name order, whatever the source order.
    let a = open(build("a.com zz\nb.com aa\n", &[]));
    let b = open(build("b.com aa\na.com zz\n", &[]));
    let names = |l: &ListArtifact| {
        let s = l.manifest().payload.names;
        let start = l.as_bytes().len() - l.manifest().payload.len as usize;
        l.as_bytes()[start + s.offset as usize..][..s.len as usize].to_vec()
    };
    assert_eq!(names(&a), names(&b));
}

#[test]
fn store_swaps_atomically() {
    let store = crate::store::ListStore::new();
    assert!(store.load().is_none());
    store.swap(open(build("a.com x\n", &[])));
    let first = store.load_full().unwrap();
    let mut o = opts(&[]);
    o.serial = 8;
    let (bytes, _) = build_from_str("b.com x\n", &o, &key(1)).unwrap();
    let old = store.swap(open(bytes)).unwrap();
    assert_eq!(old.serial(), 7);
    assert_eq!(store.load().as_ref().unwrap().serial(), 8);
    // A reader holding the old snapshot keeps a working list.
    assert!(
        first
            .lookup(&DomainName::parse("a.com").unwrap().key())
            .is_some()
    );
}

#[test]
fn demo_artifact_verifies_and_matches_its_source() {
    let key = crate::keys::parse_public(DEMO_PUBLIC_KEY).unwrap();
    let list = verify(Bytes::Static(DEMO_ARTIFACT), &[key].into_iter().collect()).unwrap();
    assert!(list.check_expiry(jiff::Timestamp::now()).is_ok());
    let source = include_str!("../../examples/demo.txt");
    for line in source.lines() {
        let Ok(Some(rule)) = source::parse_line(line.as_bytes()) else {
            continue;
        };
        let m = list
            .lookup(&rule.name.key())
            .expect("every demo rule matches");
        assert_eq!(category_name(&list, &m), rule.category, "{line}");
    }
}

// ---- property test against a naive reference matcher ----

/// The specification, written as plainly as possible.
fn reference(
    rules: &BTreeMap<(String, RuleKind), String>,
    query: &str,
) -> Option<(String, RuleKind, usize)> {
    let mut best: Option<(String, RuleKind, usize)> = None;
    for ((name, kind), cat) in rules {
        let hit = match kind {
            RuleKind::Exact => query == name,
            RuleKind::Subtree => query == name || query.ends_with(&format!(".{name}")),
        };
        if !hit {
            continue;
        }
        let depth = name.split('.').count();
        let better = match &best {
            None => true,
            Some((_, k, d)) => (depth, *kind == RuleKind::Exact) > (*d, *k == RuleKind::Exact),
        };
        if better {
            best = Some((cat.clone(), *kind, depth));
        }
    }
    best
}

const LABELS: &[&str] = &[
    "a",
    "b",
    "ex",
    "com",
    "vn",
    "bücher",
    "xn--bcher-kva",
    "x-1",
    "_srv",
];

fn arb_name(min: usize, max: usize) -> impl Strategy<Value = String> {
    prop::collection::vec(prop::sample::select(LABELS), min..=max).prop_map(|l| l.join("."))
}

/// Mangles case and adds a trailing dot, as clients do.
fn arb_spelling(name: String) -> impl Strategy<Value = String> {
    (any::<u64>(), any::<bool>()).prop_map(move |(bits, dot)| {
        let mut out: String = name
            .chars()
            .enumerate()
            .map(|(i, c)| {
                if bits >> (i % 64) & 1 == 1 {
                    c.to_uppercase().collect::<String>()
                } else {
                    c.to_string()
                }
            })
            .collect();
        if dot {
            out.push('.');
        }
        out
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    #[test]
    fn prop_fst_matcher_equals_reference(
        raw_rules in prop::collection::vec(
            (arb_name(2, 4), any::<bool>(), 0usize..4, any::<bool>()), 0..40),
        queries in prop::collection::vec(arb_name(1, 5).prop_flat_map(arb_spelling), 1..40),
    ) {
        // Categories c0, c1 are plain; s0, s1 are confidential. A name is
        // either all-confidential or all-plain, and has one category per
        // kind, as the builder requires.
        let mut rules: BTreeMap<(String, RuleKind), String> = BTreeMap::new();
        let mut secret_names: BTreeSet<String> = BTreeSet::new();
        let mut plain_names: BTreeSet<String> = BTreeSet::new();
        let mut source = String::new();
        for (name, exact, cat, secret) in raw_rules {
            let canon = DomainName::parse(&name).unwrap().to_string();
            let secret = if secret_names.contains(&canon) { true }
                else if plain_names.contains(&canon) { false } else { secret };
            if secret { secret_names.insert(canon.clone()); } else { plain_names.insert(canon.clone()); }
            let kind = if exact { RuleKind::Exact } else { RuleKind::Subtree };
            let cat = format!("{}{}", if secret { "s" } else { "c" }, cat % 2);
            let cat = rules.entry((canon, kind)).or_insert(cat).clone();
            source.push_str(&format!("{}{name} {cat}\n", if exact { "=" } else { "" }));
        }
        let (bytes, _) = build_from_str(&source, &opts(&["s0", "s1"]), &key(1)).unwrap();
        let unfiltered = open(bytes.clone()).without_filter();
        let list = open(bytes);
        for q in queries {
            let Ok(name) = DomainName::parse(&q) else { continue };
            let want = reference(&rules, name.as_str());
            let key = name.key();
            let got = list.lookup(&key).map(|m| {
                (category_name(&list, &m).to_owned(), m.kind, usize::from(m.labels))
            });
            prop_assert_eq!(&got, &want, "query {:?} source:\n{}", q, source);
            // The suffix filter only ever saves work.
            prop_assert_eq!(list.lookup(&key), unfiltered.lookup(&key));
            if let Some(m) = list.lookup(&key) {
                prop_assert_eq!(m.confidential, category_name(&list, &m).starts_with('s'));
            }
            // Wire labels in the client's spelling give the same answer.
            let trimmed = q.strip_suffix('.').unwrap_or(&q);
            if trimmed.is_ascii() {
                let wire = NameKey::from_wire_labels(trimmed.split('.').map(str::as_bytes));
                prop_assert_eq!(list.lookup(&wire), list.lookup(&key));
            }
        }
    }
}

/// Lists signed by a trusted key whose fst index is malformed (found by
/// the `artifact_signed` fuzz target): the deep check refuses them, and a
/// lookup on one never panics; it fails closed.
#[test]
fn bug_malformed_signed_fst_fails_closed() {
    let key = crate::keys::parse_public(DEMO_PUBLIC_KEY).unwrap();
    let trust: TrustedKeys = [key].into_iter().collect();
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures");
    let names = [
        "blocked.example.test",
        "xn--bcher-kva.example.test",
        "a.b.c.example.test",
        "x.y",
    ];
    let mut any_faulted = 0;
    for file in [
        "bug-fst-root-addr-out-of-bounds.ward",
        "bug-fst-end-addr-sub-overflow.ward",
        "bug-fst-transition-sub-overflow.ward",
    ] {
        let list = open_file(std::path::Path::new(&format!("{dir}/{file}")), &trust)
            .unwrap_or_else(|e| panic!("{file}: signature still valid: {e}"));
        let err = list.deep_check().unwrap_err();
        assert!(
            matches!(err, VerifyError::MalformedIndex { .. }),
            "{file}: {err}"
        );
        let mut faulted = false;
        for n in names {
            let key = DomainName::parse(n).unwrap().key();
            if let Some(m) = list.lookup(&key) {
                faulted |= m.category == FAULT_CATEGORY;
            }
        }
        assert_eq!(faulted, list.has_faulted(), "{file}");
        any_faulted += usize::from(faulted);
    }
    // Each of these panicked inside fst before lookups were guarded.
    assert_eq!(
        any_faulted, 3,
        "every malformed index faulted and was contained"
    );
    // A sound list passes the deep check.
    let good = verify(Bytes::Static(DEMO_ARTIFACT), &trust).unwrap();
    good.deep_check().unwrap();
    open(build(SAMPLE, &["csam"])).deep_check().unwrap();
}

#[test]
fn plain_rules_are_listed_but_never_confidential_ones() {
    let list = open(build(
        "b.example adult\n=a.example adult\na.example gambling\nhidden.example csam\n",
        &["csam"],
    ));
    let mut seen = Vec::new();
    list.for_each_plain_rule(|name, kind, category| {
        let c = &list.manifest().categories[usize::from(category)].name;
        seen.push((name.to_owned(), kind, c.clone()));
    })
    .unwrap();
    seen.sort();
    assert_eq!(
        seen,
        [
            ("a.example".into(), RuleKind::Exact, "adult".into()),
            ("a.example".into(), RuleKind::Subtree, "gambling".into()),
            ("b.example".into(), RuleKind::Subtree, "adult".into()),
        ]
    );
}

#[test]
fn canary_names() {
    assert_eq!(canary_name(7, "Canary.Example."), "s7.canary.example");
}

/// The depth-first walk the sweep replaced: every node reachable from the
/// root decodes and its transitions stay inside the index.
fn reachable_nodes_in_bounds(fst: &fst::raw::Fst<Vec<u8>>) -> bool {
    let len = fst.as_bytes().len();
    let mut seen = BTreeSet::new();
    let mut stack = vec![fst.root().addr()];
    while let Some(addr) = stack.pop() {
        if addr == 0 || !seen.insert(addr) {
            continue;
        }
        let node = fst.node(addr);
        for i in 0..node.len() {
            let to = node.transition_addr(i);
            if to >= len {
                return false;
            }
            stack.push(to);
        }
    }
    true
}

fn fst_of(keys: &BTreeSet<Vec<u8>>) -> Vec<u8> {
    let mut b = fst::raw::Builder::memory();
    for (i, k) in keys.iter().enumerate() {
        // A BTreeSet yields distinct keys in order, which is all the
        // builder asks; an in-memory writer cannot fail.
        b.insert(k, i as u64 % 7).unwrap();
    }
    // Writing to memory cannot fail.
    b.into_inner().unwrap()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// Every index the builder writes passes the sweep; after any one-byte
    /// change, an index the sweep accepts also passes the walk it replaced,
    /// and reading all of it (every key, every lookup) never panics.
    #[test]
    fn sweep_accepts_built_indexes_and_only_readable_mutants(
        keys in prop::collection::btree_set(prop::collection::vec(97u8..110, 0..12), 0..60),
        edits in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..24),
    ) {
        use fst::Streamer;
        let bytes = fst_of(&keys);
        // The builder's own output opens, and a tiny index's bitmaps map.
        let built = fst::raw::Fst::new(bytes.clone()).unwrap();
        prop_assert!(sweep_nodes(&built).unwrap());
        prop_assert!(reachable_nodes_in_bounds(&built));
        for (at, value) in edits {
            let mut mutant = bytes.clone();
            // Any byte; fst::raw::Fst::new refuses most changes to the
            // header and the footer (count, root address, checksum).
            let i = at.index(mutant.len());
            mutant[i] = value;
            let Ok(Ok(fst)) = guard::guarded(|| fst::raw::Fst::new(mutant)) else {
                continue;
            };
            if !matches!(guard::guarded(|| sweep_nodes(&fst)), Ok(Ok(true))) {
                continue;
            }
            prop_assert_eq!(guard::guarded(|| reachable_nodes_in_bounds(&fst)), Ok(true));
            let read = guard::guarded(|| {
                let mut stream = fst.stream();
                let mut n = 0;
                while let Some((key, _)) = stream.next() {
                    n += 1;
                    if n > 100_000 {
                        break;
                    }
                    let _ = key.len();
                }
                for k in &keys {
                    let _ = fst.get(k);
                }
            });
            prop_assert!(read.is_ok(), "an index the sweep accepted panicked when read");
        }
    }
}

/// Hand-made damage the sweep must refuse, each of which the depth-first
/// walk it replaced let through or never looked at.
#[test]
fn sweep_refuses_transitions_into_the_middle_of_a_node() {
    // "ab", "ac", "b": the root's "a" leads to a two-transition node.
    let keys: BTreeSet<Vec<u8>> = [b"ab".to_vec(), b"ac".to_vec(), b"b".to_vec()]
        .into_iter()
        .collect();
    let bytes = fst_of(&keys);
    // The builder's own output opens, and a tiny index's bitmaps map.
    let good = fst::raw::Fst::new(bytes.clone()).unwrap();
    assert!(sweep_nodes(&good).unwrap());
    let root = good.root();
    // Point each of the root's transitions one byte lower, into the bytes
    // of the node below it, by rewriting the root's address field.
    let mut refused = 0;
    for i in 0..root.len() {
        let target = root.transition_addr(i);
        if target < 17 {
            continue;
        }
        // Find the bytes of the root holding this address (packed,
        // little-endian, as a delta from the root or absolute): try every
        // one-byte decrement in the root's bytes and keep those that move
        // exactly this transition to target - 1.
        let start = root.addr() + 1 - root.as_slice().len();
        for at in start..=root.addr() {
            let mut mutant = bytes.clone();
            mutant[at] = mutant[at].wrapping_add(1);
            let Ok(fst) = fst::raw::Fst::new(mutant.clone()) else {
                continue;
            };
            let moved = guard::guarded(|| {
                let r = fst.root();
                r.len() == root.len() && r.transition_addr(i) + 1 == target
            });
            if moved == Ok(true) {
                assert!(matches!(
                    guard::guarded(|| sweep_nodes(&fst)),
                    Ok(Ok(false))
                ));
                refused += 1;
            }
        }
    }
    assert!(
        refused > 0,
        "no mutation moved a transition: the test found nothing to check"
    );
}

/// The category name of a match, as every enforcement point renders it
/// ([`crate::policy::Block::category_name`]).
fn category_name<'a>(list: &'a ListArtifact, m: &Match) -> &'a str {
    crate::policy::Block::of(list, *m).category_name(list)
}
