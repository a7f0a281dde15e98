//! Table-driven tests of the normaliser and the verdict, including every
//! case the SNI filter's own tests had.

use ed25519_dalek::SigningKey;

use super::*;
use crate::list::build::build_from_str;
use crate::list::{BuildOptions, Bytes, RuleKind, TrustedKeys, Verified};

fn list() -> Verified<ListArtifact> {
    let key = SigningKey::from_bytes(&[9; 32]);
    let opts = BuildOptions {
        list_id: "policy-test".into(),
        serial: 3,
        issued_at: jiff::Timestamp::now(),
        expires_at: jiff::Timestamp::now() + jiff::SignedDuration::from_hours(24),
        confidential: ["csam".to_string()].into_iter().collect(),
        min_age: Default::default(),
    };
    let source = "\
blocked.test        adult
=exact.example.test violence
bücher.test         gambling
hidden.test         csam
=deep.blocked.test  violence
";
    let (bytes, _) = build_from_str(source, &opts, &key).unwrap();
    let trust: TrustedKeys = [key.verifying_key()].into_iter().collect();
    crate::list::verify(Bytes::Owned(bytes), &trust).unwrap()
}

/// A key's bytes, or why there is none.
type Want = Result<&'static [u8], NameProblem>;

/// The category, rule kind and confidentiality of a block.
type Blocked = (&'static str, RuleKind, bool);

#[test]
fn text_names_normalise_to_one_key() {
    let key = |s: &[u8]| key_of_text(s).map(|k| k.as_bytes().to_vec());
    let cases: &[(&[u8], Want)] = &[
        (b"Mixed.Case.Example.TEST", Ok(b"test.example.case.mixed.")),
        (b"example.test.", Ok(b"test.example.")),
        (
            "bücher.example.test".as_bytes(),
            Ok(b"test.example.xn--bcher-kva."),
        ),
        (
            b"xn--bcher-kva.example.test",
            Ok(b"test.example.xn--bcher-kva."),
        ),
        (
            "BÜCHER.example.test".as_bytes(),
            Ok(b"test.example.xn--bcher-kva."),
        ),
        (b"192.0.2.1", Err(NameProblem::IpLiteral)),
        (b"[2001:db8::1]", Err(NameProblem::IpLiteral)),
        (b"2001:db8::1", Err(NameProblem::IpLiteral)),
        (b"", Err(NameProblem::NoName)),
        (b".", Err(NameProblem::NoName)),
        (b"a..b", Err(NameProblem::BadName)),
        (b"a b.test", Err(NameProblem::BadName)),
        (b"\xff.test", Err(NameProblem::BadName)),
        (b"a/b.test", Err(NameProblem::BadName)),
    ];
    for (raw, want) in cases {
        let want = want.map(<[u8]>::to_vec);
        assert_eq!(key(raw), want, "{}", String::from_utf8_lossy(raw));
    }
}

#[test]
fn wire_and_text_names_give_the_same_key() {
    let wire = b"\x03WWW\x07Blocked\x04test\x00";
    assert_eq!(
        key_of_wire(wire).as_bytes(),
        key_of_text(b"www.blocked.test").unwrap().as_bytes()
    );
}

/// (name, expected category name and rule kind, or allow).
const CASES: &[(&str, Option<Blocked>)] = &[
    ("blocked.test", Some(("adult", RuleKind::Subtree, false))),
    (
        "www.Blocked.test.",
        Some(("adult", RuleKind::Subtree, false)),
    ),
    (
        "a.b.c.blocked.test",
        Some(("adult", RuleKind::Subtree, false)),
    ),
    // The deeper exact rule wins on its own name only.
    (
        "deep.blocked.test",
        Some(("violence", RuleKind::Exact, false)),
    ),
    (
        "x.deep.blocked.test",
        Some(("adult", RuleKind::Subtree, false)),
    ),
    (
        "exact.example.test",
        Some(("violence", RuleKind::Exact, false)),
    ),
    ("www.exact.example.test", None),
    ("example.test", None),
    ("notblocked.test", None),
    ("bücher.test", Some(("gambling", RuleKind::Subtree, false))),
    (
        "www.xn--bcher-kva.test",
        Some(("gambling", RuleKind::Subtree, false)),
    ),
    ("hidden.test", Some(("csam", RuleKind::Subtree, true))),
    ("a.hidden.test", Some(("csam", RuleKind::Subtree, true))),
    ("test", None),
];

#[test]
fn every_name_gets_the_verdict_of_its_deepest_rule() {
    let list = list();
    for &(name, want) in CASES {
        let key = key_of_text(name.as_bytes()).unwrap();
        let verdict = decide(&list, &key, &Context::NONE);
        match (verdict, want) {
            (Verdict::Allow, None) => {}
            (Verdict::Block(b), Some((category, kind, confidential))) => {
                assert_eq!(b.list, ListRef::National, "{name}");
                assert_eq!(b.category_name(&list), category, "{name}");
                assert!(matches!(b.category, Category::Listed(_)), "{name}");
                assert_eq!(b.rule.kind, kind, "{name}");
                assert_eq!(b.confidential(), confidential, "{name}");
                assert_eq!(
                    b.category_info(&list).map(|c| c.confidential),
                    Some(confidential),
                    "{name}"
                );
            }
            (got, want) => panic!("{name}: got {got:?}, want {want:?}"),
        }
    }
}

#[test]
fn any_listed_name_of_a_request_blocks_it() {
    let list = list();
    let names = |ns: &[&'static str]| ns.iter().map(|n| n.as_bytes()).collect::<Vec<_>>();
    let decide = |ns: &[&'static str]| decide_names(&list, names(ns), &Context::NONE);
    let blocked = |r: Result<(Verdict, Option<NameKey>), NameProblem>| match r {
        Ok((Verdict::Block(b), Some(key))) => Some((b.category_name(&list).to_owned(), key)),
        _ => None,
    };
    let (category, key) = blocked(decide(&["example.test", "www.blocked.test"])).unwrap();
    assert_eq!(category, "adult");
    assert_eq!(key.as_bytes(), b"test.blocked.www.");
    // A listed name beats an unusable one.
    assert!(blocked(decide(&["192.0.2.1", "blocked.test"])).is_some());
    assert!(matches!(
        decide(&["example.test"]),
        Ok((Verdict::Allow, None))
    ));
    let problem = |ns: &[&'static str]| decide(ns).err();
    assert_eq!(
        problem(&["example.test", "192.0.2.1"]),
        Some(NameProblem::IpLiteral)
    );
    assert_eq!(problem(&[]), Some(NameProblem::NoName));
    assert_eq!(problem(&["a..b"]), Some(NameProblem::BadName));
}

#[test]
fn faults_and_unknown_ids_are_told_apart_by_id_and_still_block() {
    // Lists whose signed index is malformed (refused by the deep check,
    // but looked up here anyway): a contained fault blocks the name.
    let key = crate::keys::parse_public(crate::list::DEMO_PUBLIC_KEY).unwrap();
    let trust: TrustedKeys = [key].into_iter().collect();
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures");
    let mut faults = 0;
    for file in [
        "bug-fst-root-addr-out-of-bounds.ward",
        "bug-fst-end-addr-sub-overflow.ward",
        "bug-fst-transition-sub-overflow.ward",
    ] {
        let list =
            crate::list::open_file(std::path::Path::new(&format!("{dir}/{file}")), &trust).unwrap();
        for name in ["blocked.example.test", "a.b.c.example.test", "x.y"] {
            let key = key_of_text(name.as_bytes()).unwrap();
            if let Verdict::Block(b) = decide(&list, &key, &Context::NONE)
                && b.category == Category::IndexFault
            {
                assert_eq!(b.category_name(&list), INDEX_FAULT_NAME);
                assert!(b.category_info(&list).is_none());
                faults += 1;
            }
        }
    }
    assert!(faults >= 3, "each malformed index faulted at least once");
}
