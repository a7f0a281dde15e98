//! Imports through the compiler, and round trips through the export.

use std::collections::{BTreeMap, BTreeSet};

use ed25519_dalek::SigningKey;
use proptest::prelude::*;

use super::*;
use crate::list::build::build_from_str;
use crate::list::export::{self, Action, RpzOptions};
use crate::list::{
    BuildError, BuildOptions, BuildStats, Bytes, Compiler, ImportOptions, ListArtifact,
    TrustedKeys, Verified, verify,
};

fn key() -> SigningKey {
    SigningKey::from_bytes(&[5; 32])
}

fn opts() -> BuildOptions {
    let now = jiff::Timestamp::now();
    BuildOptions {
        list_id: "import".into(),
        serial: 1,
        issued_at: now,
        expires_at: now + jiff::SignedDuration::from_hours(1),
        confidential: BTreeSet::new(),
        min_age: Default::default(),
    }
}

fn import_opts(format: Format, category: &str) -> ImportOptions {
    ImportOptions {
        format,
        category: category.into(),
        zone: None,
        skip_unsupported: false,
    }
}

fn open(bytes: Vec<u8>) -> Verified<ListArtifact> {
    let trust: TrustedKeys = [key().verifying_key()].into_iter().collect();
    verify(Bytes::Owned(bytes), &trust).unwrap()
}

type Built = Result<(Verified<ListArtifact>, BuildStats), BuildError>;

/// Imports `text`, builds, and returns the list (or the build's error)
/// with the lines left out.
fn import(text: &[u8], o: &ImportOptions) -> (Built, Vec<String>) {
    let mut c = Compiler::new();
    let skipped = c
        .import("in.txt", text, o)
        .unwrap()
        .iter()
        .map(ToString::to_string)
        .collect();
    let built = c
        .build(&opts(), &key())
        .map(|(bytes, stats)| (open(bytes), stats));
    (built, skipped)
}

/// The list's plaintext rules as `(name, kind, category)`.
fn rules_of(list: &ListArtifact) -> BTreeSet<(String, RuleKind, String)> {
    let names: Vec<String> = list
        .manifest()
        .categories
        .iter()
        .map(|c| c.name.clone())
        .collect();
    let mut out = BTreeSet::new();
    list.for_each_plain_rule(|name, kind, c| {
        out.insert((name.to_owned(), kind, names[usize::from(c)].clone()));
    })
    .unwrap();
    out
}

fn errors_of(built: Built) -> Vec<String> {
    match built {
        Err(BuildError::Source(errors)) => errors.iter().map(ToString::to_string).collect(),
        Err(e) => panic!("{e}"),
        Ok(_) => panic!("the build succeeded"),
    }
}

fn rule(name: &str, kind: RuleKind, category: &str) -> (String, RuleKind, String) {
    (name.into(), kind, category.into())
}

#[test]
fn each_format_into_its_category() {
    use RuleKind::{Exact, Subtree};
    type Case = (Format, &'static str, Vec<(&'static str, RuleKind)>);
    let cases: [Case; 4] = [
        (
            Format::Hosts,
            "# hosts\n127.0.0.1 localhost\n0.0.0.0 a.example b.example\n0.0.0.0 a.example\n",
            vec![("a.example", Exact), ("b.example", Exact)],
        ),
        (
            Format::Domains,
            "a.example\n*.b.example\n# c.example\n",
            vec![("a.example", Subtree), ("b.example", Subtree)],
        ),
        (
            Format::Adblock,
            "[Adblock Plus 2.0]\n! c\n||a.example^\n|b.example^\nc.example\n",
            vec![
                ("a.example", Subtree),
                ("b.example", Exact),
                ("c.example", Subtree),
            ],
        ),
        (
            Format::Rpz,
            "$ORIGIN z.\n@ SOA a. b. 1 2 3 4 5\na.example CNAME .\n*.b.example CNAME .\n",
            vec![("a.example", Exact), ("b.example", Subtree)],
        ),
    ];
    for (format, text, want) in cases {
        let (built, skipped) = import(text.as_bytes(), &import_opts(format, "ads"));
        assert!(skipped.is_empty());
        let (list, _) = built.unwrap();
        let want: BTreeSet<_> = want.iter().map(|(n, k)| rule(n, *k, "ads")).collect();
        assert_eq!(rules_of(&list), want, "{format:?}");
    }
}

#[test]
fn a_name_with_its_wildcard_is_one_subtree_rule() {
    let zone = b"$ORIGIN z.\n@ SOA a. b. 1 2 3 4 5\n\
                 *.a.example CNAME .\na.example CNAME .\na.example A 192.0.2.1\n\
                 b.example CNAME .\n";
    let (built, _) = import(zone, &import_opts(Format::Rpz, "ads"));
    let (list, stats) = built.unwrap();
    assert_eq!(
        rules_of(&list),
        [
            rule("a.example", RuleKind::Subtree, "ads"),
            rule("b.example", RuleKind::Exact, "ads"),
        ]
        .into_iter()
        .collect()
    );
    assert_eq!((stats.rules, stats.duplicates, stats.lines), (2, 2, 6));

    // In ward's own format both rules stay, as they always have.
    let (bytes, stats) = build_from_str("=a.example x\na.example x\n", &opts(), &key()).unwrap();
    assert_eq!((stats.rules, stats.duplicates), (2, 0));
    assert_eq!(rules_of(&open(bytes)).len(), 2);
}

#[test]
fn an_import_beside_a_ward_source() {
    // The import's exact rule merges into the ward source's subtree rule
    // of the same category; a different category is a rule of its own.
    let mut c = Compiler::new();
    c.add_source("own.txt", &b"a.example ads\nb.example adult\n"[..])
        .unwrap();
    c.import(
        "hosts",
        &b"0.0.0.0 a.example b.example\n"[..],
        &import_opts(Format::Hosts, "ads"),
    )
    .unwrap();
    let (bytes, stats) = c.build(&opts(), &key()).unwrap();
    assert_eq!(
        rules_of(&open(bytes)),
        [
            rule("a.example", RuleKind::Subtree, "ads"),
            rule("b.example", RuleKind::Exact, "ads"),
            rule("b.example", RuleKind::Subtree, "adult"),
        ]
        .into_iter()
        .collect()
    );
    assert_eq!(stats.duplicates, 1);
}

#[test]
fn unsupported_lines_fail_the_build_unless_left_out() {
    let text = b"||a.example^\n@@||ok.a.example^\nexample.com##.ad\n||bad..example^\n";
    let (built, skipped) = import(text, &import_opts(Format::Adblock, "ads"));
    assert!(skipped.is_empty());
    let errors = errors_of(built);
    assert_eq!(errors.len(), 3, "{errors:?}");
    assert!(errors[0].starts_with("in.txt:2: unsupported: an exception"));
    assert!(errors[1].starts_with("in.txt:3: unsupported: a cosmetic"));
    assert!(errors[2].starts_with("in.txt:4: empty label"));

    // Left out, the unsupported lines come back; a malformed one still
    // fails the build.
    let mut o = import_opts(Format::Adblock, "ads");
    o.skip_unsupported = true;
    let (built, skipped) = import(text, &o);
    assert_eq!(skipped.len(), 2, "{skipped:?}");
    assert!(skipped[0].starts_with("in.txt:2: unsupported: "));
    assert_eq!(errors_of(built).len(), 1);
    let (built, skipped) = import(&text[..text.len() - 16], &o);
    assert_eq!(skipped.len(), 2);
    let (list, _) = built.unwrap();
    assert_eq!(rules_of(&list).len(), 1);
}

#[test]
fn overlong_lines_are_errors_and_are_not_kept() {
    let mut text = b"0.0.0.0 a.example\n0.0.0.0 ".to_vec();
    text.extend(std::iter::repeat_n(b'b', 3 * MAX_LINE_LEN));
    text.extend_from_slice(b".example\n0.0.0.0 c.example");
    let (built, _) = import(&text, &import_opts(Format::Hosts, "ads"));
    assert_eq!(
        errors_of(built),
        [format!(
            "in.txt:2: line is longer than {MAX_LINE_LEN} bytes"
        )]
    );
    // A line exactly at the limit is read.
    let mut text = vec![b'#'; MAX_LINE_LEN];
    text.extend_from_slice(b"\n0.0.0.0 c.example\n");
    let (built, _) = import(&text, &import_opts(Format::Hosts, "ads"));
    assert_eq!(rules_of(&built.unwrap().0).len(), 1);
    // Inside an RPZ record's parentheses: the record is dropped, and the
    // line said once.
    let mut zone = b"$ORIGIN z.\n@ SOA a. b. 1 2 3 4 5\na.example TXT (\n".to_vec();
    zone.extend(std::iter::repeat_n(b'x', MAX_LINE_LEN + 1));
    zone.extend_from_slice(b"\n)\nb.example CNAME .\n");
    let (built, _) = import(&zone, &import_opts(Format::Rpz, "ads"));
    assert_eq!(
        errors_of(built),
        [format!(
            "in.txt:4: line is longer than {MAX_LINE_LEN} bytes"
        )]
    );
}

#[test]
fn binary_garbage_is_reported_not_a_panic() {
    let mut x = 0x9e37_79b9_7f4a_7c15u64;
    let garbage: Vec<u8> = (0..50_000)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x >> 32) as u8
        })
        .collect();
    for format in [Format::Rpz, Format::Hosts, Format::Domains, Format::Adblock] {
        let mut o = import_opts(format, "ads");
        o.zone = Some(DomainName::parse("z").unwrap());
        let (built, _) = import(&garbage, &o);
        assert!(!errors_of(built).is_empty(), "{format:?}");
    }
}

#[test]
fn a_category_appears_only_with_a_rule_in_it() {
    let (built, _) = import(
        b"# nothing\n127.0.0.1 localhost\n",
        &import_opts(Format::Hosts, "ads"),
    );
    let (list, stats) = built.unwrap();
    assert!(list.manifest().categories.is_empty());
    assert_eq!((stats.rules, stats.lines), (0, 2));
}

#[test]
fn a_bad_category_is_refused() {
    let mut c = Compiler::new();
    let e = c
        .import("x", &b""[..], &import_opts(Format::Domains, "Ads"))
        .unwrap_err();
    assert!(matches!(e, BuildError::BadCategory(_)), "{e}");
}

// ---- round trips through `ward list export` ----

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
const CATEGORIES: [&str; 3] = ["adult", "gambling", "social"];

/// A ward source: per name, an exact rule, a subtree rule or both, each in
/// one of the categories. Returns the source text and, per name, whether
/// it has an exact and a subtree rule.
fn arb_source() -> impl Strategy<Value = (String, BTreeMap<String, (bool, bool)>)> {
    let name = prop::collection::vec(prop::sample::select(LABELS), 2..=4).prop_map(|l| l.join("."));
    let entry = (name, 0u8..3, 0usize..3, 0usize..3);
    prop::collection::vec(entry, 0..40).prop_map(|entries| {
        // One entry per name (IDN spellings are the same name).
        let mut by_name: BTreeMap<String, (u8, usize, usize)> = BTreeMap::new();
        for (name, shape, c1, c2) in entries {
            let name = DomainName::parse(&name).unwrap().to_string();
            by_name.insert(name, (shape, c1, c2));
        }
        let mut source = String::new();
        let mut shapes = BTreeMap::new();
        for (name, (shape, c1, c2)) in by_name {
            let (exact, subtree) = [(true, false), (false, true), (true, true)][usize::from(shape)];
            if exact {
                source.push_str(&format!("={name} {}\n", CATEGORIES[c1]));
            }
            if subtree {
                source.push_str(&format!("{name} {}\n", CATEGORIES[c2]));
            }
            shapes.insert(name, (exact, subtree));
        }
        (source, shapes)
    })
}

fn arb_action() -> impl Strategy<Value = Action> {
    prop::sample::select(vec![Action::Nxdomain, Action::Nodata, Action::Redirect])
}

/// Builds `source`, exports it with `write`, imports the output as
/// `format` and returns the rules (all in category `imported`).
fn round_trip(
    source: &str,
    format: Format,
    write: impl Fn(&ListArtifact, &mut Vec<u8>),
) -> BTreeSet<(String, RuleKind, String)> {
    let (bytes, _) = build_from_str(source, &opts(), &key()).unwrap();
    let list = open(bytes);
    let mut text = Vec::new();
    write(&list, &mut text);
    let (built, skipped) = import(&text, &import_opts(format, "imported"));
    assert!(skipped.is_empty());
    match built {
        Ok((list, _)) => rules_of(&list),
        Err(e) => {
            let text = String::from_utf8_lossy(&text).into_owned();
            panic!("{:?}\n{text}", errors_of(Err(e)))
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// `export --format rpz`, then `build --format rpz`: the same names,
    /// exact rules exact and subtree rules subtree (a name with both is
    /// one subtree rule: in one category the exact rule adds nothing),
    /// whatever action each category was exported with.
    #[test]
    fn prop_rpz_export_then_import_keeps_every_rule(
        (source, shapes) in arb_source(),
        actions in prop::collection::vec(arb_action(), 3),
    ) {
        let rpz = RpzOptions {
            zone: "child.rpz.".into(),
            ttl: 60,
            default_action: Action::Nxdomain,
            actions: CATEGORIES.iter().map(|c| c.to_string()).zip(actions).collect(),
            sinkhole_ipv4: vec!["192.0.2.1".parse().unwrap()],
            sinkhole_ipv6: vec!["2001:db8::1".parse().unwrap()],
        };
        let got = round_trip(&source, Format::Rpz, |list, out| {
            // Categories the list does not use cannot be given actions.
            let mut rpz = rpz.clone();
            rpz.actions.retain(|c, _| list.manifest().categories.iter().any(|k| &k.name == c));
            export::write_rpz(list, &rpz, out).unwrap();
        });
        let want: BTreeSet<_> = shapes
            .iter()
            .map(|(name, &(_, subtree))| {
                let kind = if subtree { RuleKind::Subtree } else { RuleKind::Exact };
                rule(name, kind, "imported")
            })
            .collect();
        prop_assert_eq!(got, want);
    }

    /// `export --format domains`, then `build --format domains`: every
    /// name, as a subtree rule.
    #[test]
    fn prop_domains_export_then_import_gives_subtrees((source, shapes) in arb_source()) {
        let got = round_trip(&source, Format::Domains, |list, out| {
            export::write_domains(list, out).unwrap();
        });
        let want: BTreeSet<_> = shapes
            .keys()
            .map(|name| rule(name, RuleKind::Subtree, "imported"))
            .collect();
        prop_assert_eq!(got, want);
    }

    /// `export --format hosts`, then `build --format hosts`: every name, as
    /// an exact rule (hosts files match exact names).
    #[test]
    fn prop_hosts_export_then_import_gives_exact_names((source, shapes) in arb_source()) {
        let got = round_trip(&source, Format::Hosts, |list, out| {
            export::write_hosts(list, out).unwrap();
        });
        let want: BTreeSet<_> = shapes
            .keys()
            .map(|name| rule(name, RuleKind::Exact, "imported"))
            .collect();
        prop_assert_eq!(got, want);
    }

    /// No line makes a parser panic, and every error names a line that
    /// exists.
    #[test]
    fn prop_parsers_never_panic(lines in prop::collection::vec(
        prop::collection::vec(prop::sample::select(
            b"abc.*|^@$#!;()\"\\ \t\r0129:/-_=x\xc3\xbc\xff".to_vec()), 0..40),
        0..30,
    )) {
        for format in [Format::Rpz, Format::Hosts, Format::Domains, Format::Adblock] {
            let zone = DomainName::parse("z").unwrap();
            let mut p = Parser::new(format, Some(&zone));
            let mut out = Vec::new();
            for (i, line) in lines.iter().enumerate() {
                p.feed(i + 1, line, &mut out);
            }
            p.finish(&mut out);
            for e in out {
                let (Event::Rule { line, .. } | Event::Error { line, .. }) = e;
                prop_assert!((1..=lines.len()).contains(&line));
            }
        }
    }
}
