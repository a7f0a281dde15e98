//! Tests of the verdict with a profile and of profile selection, each
//! against a table of cases and against a naive model on random input.

use std::collections::{BTreeMap, BTreeSet};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use ed25519_dalek::SigningKey;
use ipnet::IpNet;
use proptest::prelude::*;

use super::*;
use crate::list::build::build_from_str;
use crate::list::{BuildOptions, Bytes, RuleKind, TrustedKeys};
use crate::store::Snapshot;

/// Builds and verifies a list from source text with category age ratings.
fn build(id: &str, source: &str, min_age: &[(&str, u8)]) -> Snapshot {
    let key = SigningKey::from_bytes(&[7; 32]);
    let opts = BuildOptions {
        list_id: id.into(),
        serial: 1,
        issued_at: jiff::Timestamp::now(),
        expires_at: jiff::Timestamp::now() + jiff::SignedDuration::from_hours(24),
        confidential: ["csam".to_string()].into_iter().collect(),
        // Only categories the source uses can be rated (random lists may
        // leave some out).
        min_age: min_age
            .iter()
            .filter(|(c, _)| {
                source
                    .lines()
                    .any(|l| l.split_whitespace().nth(1) == Some(c))
            })
            .map(|&(c, a)| (c.to_string(), a))
            .collect(),
    };
    let (bytes, _) = build_from_str(source, &opts, &key).unwrap();
    let trust: TrustedKeys = [key.verifying_key()].into_iter().collect();
    let list = crate::list::verify(Bytes::Owned(bytes), &trust).unwrap();
    crate::store::ListStore::with(list).load_full().unwrap()
}

fn national() -> Snapshot {
    build(
        "national",
        "blocked.test adult\nhidden.test csam\nsocial-national.test social\n",
        &[],
    )
}

fn school() -> Snapshot {
    build(
        "school",
        "\
social.test      social
=exact.test      social
dating.test      dating
games.test       games
social-national.test social
",
        &[("social", 13), ("dating", 18)],
    )
}

fn key(name: &str) -> NameKey {
    key_of_text(name.as_bytes()).unwrap()
}

fn allow(rules: &[(&str, RuleKind)]) -> NameRules {
    let mut set = NameRules::default();
    for &(name, kind) in rules {
        set.insert(&key(name), kind);
    }
    set
}

/// The list and category name of a verdict, `None` for allow.
fn shown(v: Result<Verdict, Unloaded>, national: &ListArtifact, p: &Profile) -> String {
    match v {
        Ok(Verdict::Allow) => "allow".into(),
        Ok(Verdict::Block(b)) => match b.list {
            ListRef::National => format!("national:{}", b.category_name(national)),
            ListRef::Extra(i) => format!("extra{i}:{}", b.category_name(p.list(i).unwrap())),
            ListRef::Garden => "garden".into(),
        },
        Err(Unloaded { index }) => format!("unloaded{index}"),
    }
}

#[test]
fn allow_rules_match_the_name_and_for_subtrees_everything_under_it() {
    let rules = allow(&[("a.test", RuleKind::Subtree), ("b.test", RuleKind::Exact)]);
    assert_eq!(rules.len(), 2);
    for (name, want) in [
        ("a.test", true),
        ("x.y.a.test", true),
        ("xa.test", false),
        ("test", false),
        ("b.test", true),
        ("x.b.test", false),
        ("c.test", false),
    ] {
        assert_eq!(rules.matches(&key(name)), want, "{name}");
    }
    // A wire label holding a dot is not a label boundary.
    let wire = key_of_wire(b"\x03x.a\x04test\x00");
    assert!(!allow(&[("a.test", RuleKind::Subtree)]).matches(&wire));
    assert!(!rules.matches(&NameKey::default()));
}

#[test]
fn categories_block_below_their_age_and_unrated_ones_always() {
    let cat = |min_age| crate::list::format::CategoryInfo {
        name: "social".into(),
        entries: 1,
        confidential: false,
        min_age,
    };
    let extra = ["social".to_string()];
    for (min_age, age, extra_blocked, want) in [
        (Some(13), 10, false, true),
        (Some(13), 12, false, true),
        (Some(13), 13, false, false),
        (Some(13), 15, false, false),
        (Some(13), 15, true, true),
        (None, 25, false, true),
        (Some(0), 0, false, false),
    ] {
        let block: &[String] = if extra_blocked { &extra } else { &[] };
        assert_eq!(
            category_blocks(&cat(min_age), age, block),
            want,
            "{min_age:?} at {age}, block_categories {block:?}"
        );
    }
}

#[test]
fn the_verdict_with_a_profile_follows_age_allow_and_the_mandatory_national_list() {
    let national = national();
    let school = school();
    let profile = |age, block: &[&str], allowed: &[(&str, RuleKind)]| {
        let block: Vec<String> = block.iter().map(|s| s.to_string()).collect();
        Profile::new(
            format!("age{age}"),
            age,
            &block,
            allow(allowed),
            [(0, Some(school.clone()))],
        )
    };
    let primary = profile(10, &[], &[]);
    let secondary = profile(15, &[], &[]);
    let thirteen = profile(13, &[], &[]);
    let strict = profile(15, &["social"], &[]);
    let lenient = profile(
        10,
        &[],
        &[
            ("games.test", RuleKind::Subtree),
            ("blocked.test", RuleKind::Subtree),
            ("social-national.test", RuleKind::Subtree),
        ],
    );
    let cases: &[(&Profile, &str, &str)] = &[
        (&primary, "www.social.test", "extra0:social"),
        (&secondary, "www.social.test", "allow"),
        (&thirteen, "www.social.test", "allow"),
        (&thirteen, "dating.test", "extra0:dating"),
        (&strict, "www.social.test", "extra0:social"),
        (&primary, "exact.test", "extra0:social"),
        (&primary, "www.exact.test", "allow"),
        (&secondary, "dating.test", "extra0:dating"),
        (&secondary, "games.test", "extra0:games"),
        (&primary, "example.test", "allow"),
        // The national list first, whatever the profile's age or allow.
        (&secondary, "blocked.test", "national:adult"),
        (&lenient, "a.blocked.test", "national:adult"),
        (&secondary, "social-national.test", "national:social"),
        (&lenient, "social-national.test", "national:social"),
        (&lenient, "hidden.test", "national:csam"),
        // Allow covers the profile's own lists.
        (&lenient, "games.test", "allow"),
        (&lenient, "x.games.test", "allow"),
        (&lenient, "social.test", "extra0:social"),
    ];
    for &(p, name, want) in cases {
        let got = shown(decide_for(&national, Some(p), &key(name)), &national, p);
        assert_eq!(got, want, "{} {name}", p.name);
    }
    // Without a profile: the national list alone.
    assert_eq!(
        decide_for(&national, None, &key("social.test")),
        Ok(Verdict::Allow)
    );
    assert!(matches!(
        decide_for(&national, None, &key("blocked.test")),
        Ok(Verdict::Block(Block {
            list: ListRef::National,
            ..
        }))
    ));
}

#[test]
fn explain_says_what_every_list_found() {
    let national = national();
    let school = school();
    let strict = Profile::new(
        "strict".into(),
        15,
        &["dating".to_string()],
        allow(&[("blocked.test", RuleKind::Subtree)]),
        [(3, None), (0, Some(school.clone()))],
    );
    // The national list blocks; the allow file covers the name but lifts
    // nothing the national list says.
    let e = explain(&national, Some(&strict), &key("blocked.test"));
    assert!(e.national.is_some() && e.allowed);
    assert!(matches!(e.verdict(), Ok(Verdict::Block(b)) if b.list == ListRef::National));
    // Every list is asked, in order, even after one has decided.
    let e = explain(&national, Some(&strict), &key("www.social.test"));
    assert_eq!(e.national, None);
    assert_eq!(e.lists.len(), 2);
    assert_eq!(e.lists[0].outcome, Outcome::Unloaded);
    let Outcome::Match { block, rating } = e.lists[1].outcome else {
        panic!("{e:?}");
    };
    assert_eq!(
        (block.list, block.category_name(&school)),
        (ListRef::Extra(0), "social")
    );
    assert_eq!(rating, Rating::OldEnough { min_age: 13 });
    assert_eq!(e.verdict(), Err(Unloaded { index: 3 }));
    let e = explain(&national, Some(&strict), &key("dating.test"));
    assert!(matches!(
        e.lists[1].outcome,
        Outcome::Match {
            rating: Rating::TooYoung { min_age: 18 },
            ..
        }
    ));
    let e = explain(&national, Some(&strict), &key("games.test"));
    assert!(matches!(
        e.lists[1].outcome,
        Outcome::Match {
            rating: Rating::Unrated,
            ..
        }
    ));
    let teen = Profile::new(
        "teen".into(),
        15,
        &["social".to_string()],
        NameRules::default(),
        [(0, Some(school.clone()))],
    );
    let e = explain(&national, Some(&teen), &key("social.test"));
    assert!(matches!(
        e.lists[0].outcome,
        Outcome::Match {
            rating: Rating::BlockCategories { min_age: 13 },
            ..
        }
    ));
    let young = Profile::new(
        "young".into(),
        10,
        &[],
        NameRules::default(),
        [(0, Some(school))],
    );
    let e = explain(&national, Some(&young), &key("social.test"));
    assert!(matches!(
        e.lists[0].outcome,
        Outcome::Match {
            rating: Rating::TooYoung { min_age: 13 },
            ..
        }
    ));
    // Without a profile: the national list alone.
    let e = explain(&national, None, &key("social.test"));
    assert_eq!((e.national, e.allowed, e.lists.len()), (None, false, 0));
    assert_eq!(e.verdict(), Ok(Verdict::Allow));
}

#[test]
fn a_list_that_never_loaded_makes_the_answer_unknown_unless_another_blocks() {
    let national = national();
    let school = school();
    let p = Profile::new(
        "p".into(),
        10,
        &[],
        allow(&[("allowed.test", RuleKind::Subtree)]),
        [(0, None), (1, Some(school))],
    );
    let decide = |name| shown(decide_for(&national, Some(&p), &key(name)), &national, &p);
    assert_eq!(decide("example.test"), "unloaded0");
    assert_eq!(decide("social.test"), "extra1:social");
    assert_eq!(decide("blocked.test"), "national:adult");
    assert_eq!(decide("allowed.test"), "allow");
    assert_eq!(p.list_indexes().collect::<Vec<_>>(), [0, 1]);
    assert!(p.list(0).is_none());
}

fn net(s: &str) -> IpNet {
    s.parse().unwrap()
}

#[test]
fn the_most_specific_network_or_the_listener_selects_the_profile() {
    let selector = Selector::new(
        [
            (net("10.0.0.0/8"), ProfileId(0)),
            (net("10.1.0.0/16"), ProfileId(1)),
            (net("10.1.2.0/24"), ProfileId(2)),
            (net("10.1.3.7/32"), ProfileId(3)),
            (net("0.0.0.0/0"), ProfileId(4)),
            (net("2001:db8::/32"), ProfileId(5)),
            (net("2001:db8:1::/48"), ProfileId(6)),
            // Host bits are ignored, as in every router.
            (net("192.0.2.77/24"), ProfileId(7)),
        ],
        [(ListenerId(1), ProfileId(8))],
    )
    .unwrap();
    let ip = |s: &str| s.parse::<IpAddr>().unwrap();
    let cases: &[(&str, Option<u16>, Option<u16>)] = &[
        ("10.9.9.9", None, Some(0)),
        ("10.1.9.9", None, Some(1)),
        ("10.1.2.3", None, Some(2)),
        ("10.1.3.6", None, Some(1)),
        ("10.1.3.7", None, Some(3)),
        ("10.1.3.8", None, Some(1)),
        ("11.0.0.0", None, Some(4)),
        ("255.255.255.255", None, Some(4)),
        ("0.0.0.0", None, Some(4)),
        ("::ffff:10.1.2.3", None, Some(2)),
        ("2001:db8:1::5", None, Some(6)),
        ("2001:db8:2::5", None, Some(5)),
        ("2001:db9::1", None, None),
        ("192.0.2.1", None, Some(7)),
        // The listener's profile wins over the client's network; other
        // listeners (with a profile of their own or not, known or not)
        // leave the choice to the network.
        ("10.1.2.3", Some(1), Some(8)),
        ("2001:db9::1", Some(1), Some(8)),
        ("10.1.2.3", Some(0), Some(2)),
        ("10.1.2.3", Some(2), Some(2)),
        ("2001:db9::1", Some(0), None),
    ];
    for &(client, listener, want) in cases {
        let got = selector.select(ip(client), listener.map(ListenerId));
        assert_eq!(got, want.map(ProfileId), "{client} via {listener:?}");
    }
    assert!(Selector::default().is_empty());
    assert!(!selector.is_empty());
}

#[test]
fn ambiguous_networks_and_listeners_are_all_reported() {
    let err = Selector::new(
        [
            (net("10.0.0.0/8"), ProfileId(0)),
            (net("10.0.0.0/8"), ProfileId(1)),
            (net("10.0.0.0/8"), ProfileId(0)),
            (net("2001:db8::1/32"), ProfileId(2)),
            (net("2001:db8::/32"), ProfileId(3)),
            (net("10.0.0.0/9"), ProfileId(1)),
        ],
        [
            (ListenerId(3), ProfileId(0)),
            (ListenerId(3), ProfileId(2)),
            (ListenerId(3), ProfileId(0)),
        ],
    )
    .unwrap_err();
    assert_eq!(err.len(), 3, "{err:?}");
    assert!(err.contains(&Overlap::Network {
        net: net("10.0.0.0/8"),
        first: ProfileId(0),
        second: ProfileId(1),
    }));
    assert!(err.contains(&Overlap::Network {
        net: net("2001:db8::/32"),
        first: ProfileId(2),
        second: ProfileId(3),
    }));
    assert!(err.contains(&Overlap::Listener {
        listener: ListenerId(3),
        first: ProfileId(0),
        second: ProfileId(2),
    }));
}

#[test]
fn a_client_id_comes_before_listener_and_network() {
    use crate::policy::{ClientId, Via};
    let ip = |s: &str| s.parse::<IpAddr>().unwrap();
    let id = |s: &str| ClientId::parse(s).unwrap();
    let selector = Selector::new(
        [(net("10.0.0.0/8"), ProfileId(0))],
        [(ListenerId(1), ProfileId(1))],
    )
    .unwrap()
    .with_client_ids([(id("school-42"), ProfileId(2)), (id("lab"), ProfileId(3))])
    .unwrap();
    let from = ip("10.1.2.3");
    let via = |listener: Option<u16>, client_id: Option<&str>| Via {
        listener: listener.map(ListenerId),
        client_id: client_id.map(id),
    };
    assert_eq!(
        selector.select_via(from, via(Some(1), Some("school-42"))),
        Some(ProfileId(2))
    );
    assert_eq!(
        selector.select_via(from, via(None, Some("lab"))),
        Some(ProfileId(3))
    );
    // An id no profile has: as if there were none, never an error.
    assert_eq!(
        selector.select_via(from, via(Some(1), Some("other"))),
        Some(ProfileId(1))
    );
    assert_eq!(
        selector.select_via(from, via(None, Some("other"))),
        Some(ProfileId(0))
    );
    assert_eq!(
        selector.select_via(ip("192.0.2.1"), via(None, Some("other"))),
        None
    );
    let twice = Selector::default()
        .with_client_ids([(id("a"), ProfileId(0)), (id("a"), ProfileId(1))])
        .unwrap_err();
    assert_eq!(
        twice,
        vec![Overlap::ClientId {
            id: id("a"),
            first: ProfileId(0),
            second: ProfileId(1)
        }]
    );
}

/// The naive selection: every network that contains the address, the
/// longest wins.
fn naive_select(nets: &[(IpNet, ProfileId)], addr: IpAddr) -> Option<ProfileId> {
    nets.iter()
        .filter(|(n, _)| n.contains(&addr))
        .max_by_key(|(n, _)| n.prefix_len())
        .map(|&(_, id)| id)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn selection_equals_the_naive_longest_match(
        nets in proptest::collection::btree_map((any::<u8>(), 0u8..=8, any::<bool>()), 0u16..6, 0..24),
        probes in proptest::collection::vec((any::<u8>(), any::<bool>()), 32),
    ) {
        // Networks inside 10.0.0.0/24 and 2001:db8::/120 so that they nest
        // and collide often; one profile per network.
        let nets: Vec<(IpNet, ProfileId)> = nets
            .into_iter()
            .map(|((host, len, v6), id)| {
                let n = if v6 {
                    IpNet::new(IpAddr::V6(Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, u16::from(host))), 120 + len)
                } else {
                    IpNet::new(IpAddr::V4(Ipv4Addr::new(10, 0, 0, host)), 24 + len)
                };
                (n.unwrap().trunc(), ProfileId(id))
            })
            .collect::<BTreeMap<_, _>>()
            .into_iter()
            .collect();
        let selector = Selector::new(nets.iter().copied(), []).unwrap();
        for (host, v6) in probes {
            let addr = if v6 {
                IpAddr::V6(Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, u16::from(host)))
            } else {
                IpAddr::V4(Ipv4Addr::new(10, 0, 0, host))
            };
            prop_assert_eq!(selector.select(addr, None), naive_select(&nets, addr), "{}", addr);
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// IPv4 networks from /8 to /32 in a few /16 buckets, some of them
    /// dense (indexed by /24): wide networks that start in an earlier
    /// bucket, narrow ones nested inside, and addresses just either side
    /// of each /16 and /24 border.
    #[test]
    fn selection_across_buckets_equals_the_naive_longest_match(
        nets in proptest::collection::btree_map((0u8..3, any::<u8>(), any::<u8>(), 8u8..=32), 0u16..6, 0..48),
        probes in proptest::collection::vec((0u8..5, any::<u8>(), any::<u8>()), 48),
    ) {
        let nets: Vec<(IpNet, ProfileId)> = nets
            .into_iter()
            .map(|((b, c, d, len), id)| {
                let n = IpNet::new(IpAddr::V4(Ipv4Addr::new(10, b, c, d)), len).unwrap();
                (n.trunc(), ProfileId(id))
            })
            .collect::<BTreeMap<_, _>>()
            .into_iter()
            .collect();
        let selector = Selector::new(nets.iter().copied(), []).unwrap();
        let edges = [
            Ipv4Addr::new(9, 255, 255, 255),
            Ipv4Addr::new(10, 0, 0, 0),
            Ipv4Addr::new(10, 255, 255, 255),
            Ipv4Addr::new(11, 0, 0, 0),
            Ipv4Addr::new(0, 0, 0, 0),
            Ipv4Addr::new(255, 255, 255, 255),
        ];
        let probes = probes
            .into_iter()
            .map(|(b, c, d)| Ipv4Addr::new(10, b, c, d))
            // The first and last address of each probe's /16 and /24.
            .flat_map(|a| {
                let [x, y, z, _] = a.octets();
                [
                    a,
                    Ipv4Addr::new(x, y, 0, 0),
                    Ipv4Addr::new(x, y, 255, 255),
                    Ipv4Addr::new(x, y, z, 0),
                    Ipv4Addr::new(x, y, z, 255),
                ]
            })
            .chain(edges);
        for a in probes {
            let addr = IpAddr::V4(a);
            prop_assert_eq!(selector.select(addr, None), naive_select(&nets, addr), "{}", addr);
        }
    }
}

/// Names the random lists and queries are drawn from: every name of up
/// to three labels from {a, b} under `t`.
fn universe() -> Vec<String> {
    let mut names = vec!["t".to_string()];
    for depth in 1..=3 {
        let mut next = Vec::new();
        for n in names.iter().filter(|n| n.matches('.').count() == depth - 1) {
            for l in ["a", "b"] {
                next.push(format!("{l}.{n}"));
            }
        }
        names.extend(next);
    }
    names.retain(|n| n != "t");
    names
}

/// A random list: (name index, exact?) → category index.
type Rules = BTreeMap<(usize, bool), usize>;

fn rules() -> impl Strategy<Value = Rules> {
    proptest::collection::btree_map((0usize..14, any::<bool>()), 0usize..3, 0..6)
}

const CATEGORIES: [&str; 3] = ["c0", "c1", "c2"];

fn source(rules: &Rules, names: &[String]) -> String {
    let mut s = String::new();
    for (&(n, exact), &c) in rules {
        let eq = if exact { "=" } else { "" };
        s.push_str(&format!("{eq}{} {}\n", names[n], CATEGORIES[c]));
    }
    s
}

/// The deepest rule covering `q` (exact beats subtree on the same name).
fn naive_lookup(rules: &Rules, names: &[String], q: &str) -> Option<usize> {
    rules
        .iter()
        .filter(|&(&(n, exact), _)| {
            let name = &names[n];
            q == name || (!exact && q.ends_with(&format!(".{name}")))
        })
        .max_by_key(|&(&(n, exact), _)| (names[n].len(), exact))
        .map(|(_, &c)| c)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(400))]

    #[test]
    fn the_verdict_equals_a_naive_model(
        national_rules in rules(),
        extra_rules in proptest::collection::vec(rules(), 2),
        ages in proptest::collection::vec(proptest::option::of(0u8..6), 3),
        age in 0u8..6,
        order in proptest::sample::subsequence(vec![0u16, 1], 0..=2),
        loaded in proptest::collection::vec(any::<bool>(), 2),
        blocked in proptest::sample::subsequence(CATEGORIES.to_vec(), 0..=3),
        allowed in proptest::collection::btree_set((0usize..14, any::<bool>()), 0..3),
    ) {
        let names = universe();
        let min_age: Vec<(&str, u8)> = CATEGORIES
            .iter()
            .zip(&ages)
            .filter_map(|(&c, a)| a.map(|a| (c, a)))
            .collect();
        let national = build("national", &source(&national_rules, &names), &[("c0", 3)]);
        let extras: Vec<Snapshot> = extra_rules
            .iter()
            .enumerate()
            .map(|(i, r)| build(&format!("extra{i}"), &source(r, &names), &min_age))
            .collect();
        let block: Vec<String> = blocked.iter().map(|s| s.to_string()).collect();
        let mut allow_rules = NameRules::default();
        for &(n, exact) in &allowed {
            let kind = if exact { RuleKind::Exact } else { RuleKind::Subtree };
            allow_rules.insert(&key(&names[n]), kind);
        }
        let profile = Profile::new(
            "p".into(),
            age,
            &block,
            allow_rules,
            order.iter().map(|&i| (i, loaded[usize::from(i)].then(|| extras[usize::from(i)].clone()))),
        );
        let present: BTreeSet<&str> = CATEGORIES
            .iter()
            .copied()
            .filter(|c| extra_rules.iter().any(|r| r.values().any(|&i| CATEGORIES[i] == *c)))
            .collect();
        for q in &names {
            // The explanation `ward check` shows folds into the very
            // verdict the node answers with, with and without a profile.
            for p in [Some(&profile), None] {
                prop_assert_eq!(
                    explain(&national, p, &key(q)).verdict(),
                    decide_for(&national, p, &key(q)),
                    "{}", q
                );
            }
            let got = shown(decide_for(&national, Some(&profile), &key(q)), &national, &profile);
            let want = naive(q, &names, &national_rules, &extra_rules, &ages, age, &order, &loaded, &blocked, &allowed);
            prop_assert_eq!(&got, &want, "{} (categories present {:?})", q, present);
        }
    }
}

/// The verdict, computed the slow and obvious way.
#[allow(clippy::too_many_arguments)]
fn naive(
    q: &str,
    names: &[String],
    national: &Rules,
    extras: &[Rules],
    ages: &[Option<u8>],
    age: u8,
    order: &[u16],
    loaded: &[bool],
    blocked: &[&str],
    allowed: &BTreeSet<(usize, bool)>,
) -> String {
    if let Some(c) = naive_lookup(national, names, q) {
        return format!("national:{}", CATEGORIES[c]);
    }
    let allowed_here = allowed.iter().any(|&(n, exact)| {
        let name = &names[n];
        q == name || (!exact && q.ends_with(&format!(".{name}")))
    });
    if allowed_here {
        return "allow".into();
    }
    let mut unloaded = None;
    for &i in order {
        if !loaded[usize::from(i)] {
            unloaded.get_or_insert(i);
            continue;
        }
        // Categories are numbered in the order the list first uses them;
        // the naive model goes by name instead.
        if let Some(c) = naive_lookup(&extras[usize::from(i)], names, q) {
            let name = CATEGORIES[c];
            let blocks = match ages[c] {
                None => true,
                Some(min) => age < min || blocked.contains(&name),
            };
            if blocks {
                return format!("extra{i}:{name}");
            }
        }
    }
    match unloaded {
        Some(i) => format!("unloaded{i}"),
        None => "allow".into(),
    }
}
