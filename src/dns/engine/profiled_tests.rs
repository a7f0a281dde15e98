//! The profile step against a real engine: a real cache filled by a real
//! forward to a loopback upstream, and the memo of what a profile allowed.
//! A memo must never let through a name the profile blocks, and never
//! outlive the profiles snapshot it was made under.

use std::net::{IpAddr, Ipv4Addr, SocketAddr, UdpSocket};
use std::sync::Arc;
use std::time::Duration;

use ed25519_dalek::SigningKey;
use proptest::prelude::*;

use super::*;
use crate::dns::answer::BlockMode;
use crate::dns::wire::{self, TYPE_CNAME};
use crate::list::build::build_from_str;
use crate::list::{BuildOptions, Bytes, ListArtifact, TrustedKeys, Verified};
use crate::profiles::{ExtraList, ProfileSettings, Profiles};
use crate::store::Snapshot;

fn verified(id: &str, source: &str) -> Verified<ListArtifact> {
    let key = SigningKey::from_bytes(&[9; 32]);
    let opts = BuildOptions {
        list_id: id.into(),
        serial: 1,
        issued_at: jiff::Timestamp::now(),
        expires_at: jiff::Timestamp::now() + jiff::SignedDuration::from_hours(24),
        confidential: Default::default(),
        min_age: Default::default(),
    };
    let (bytes, _) = build_from_str(source, &opts, &key).unwrap();
    let trust: TrustedKeys = [key.verifying_key()].into_iter().collect();
    crate::list::verify(Bytes::Owned(bytes), &trust).unwrap()
}

fn snapshot(id: &str, source: &str) -> Snapshot {
    ListStore::with(verified(id, source)).load_full().unwrap()
}

/// A loopback upstream: every name `N` is a CNAME to `cdn.N`, which has
/// an A record; TTL one hour.
fn upstream() -> SocketAddr {
    let sock = UdpSocket::bind("127.0.0.1:0").unwrap();
    let addr = sock.local_addr().unwrap();
    std::thread::spawn(move || {
        let mut buf = [0u8; 4096];
        while let Ok((n, from)) = sock.recv_from(&mut buf) {
            let Ok(q) = query::parse(&buf[..n]) else {
                continue;
            };
            let mut out = Vec::new();
            wire::put_header(
                &mut out,
                &Header {
                    id: q.header.id,
                    flags: flags::QR | flags::RD | flags::RA,
                    qdcount: 1,
                    ancount: 2,
                    nscount: 0,
                    arcount: 0,
                },
            );
            out.extend_from_slice(q.question);
            let name = NameKey::to_forward(q.key.as_bytes());
            let mut target = Vec::new();
            wire::put_name(&mut target, &format!("cdn.{name}"));
            wire::put_record_at_qname(&mut out, TYPE_CNAME, CLASS_IN, 3600, &target);
            // The A record's owner: the CNAME target, in full.
            out.extend_from_slice(&target);
            out.extend_from_slice(&TYPE_A.to_be_bytes());
            out.extend_from_slice(&CLASS_IN.to_be_bytes());
            out.extend_from_slice(&3600u32.to_be_bytes());
            out.extend_from_slice(&4u16.to_be_bytes());
            out.extend_from_slice(&[192, 0, 2, 10]);
            let _ = sock.send_to(&out, from);
        }
    });
    addr
}

fn engine(national: &str) -> Engine {
    let store = Arc::new(ListStore::new());
    store.swap(verified("national", national));
    let settings = Settings {
        allow_clients: vec!["10.0.0.0/8".parse().unwrap()],
        block: BlockAnswer {
            mode: BlockMode::NxDomain,
            ipv4: vec![],
            ipv6: vec![],
            ttl: 60,
        },
        cache: Some(CacheLimits {
            max_entries: 1000,
            max_memory: 1 << 20,
            min_ttl: 0,
            max_ttl: 86_400,
            max_negative_ttl: 3600,
        }),
        upstream: UpstreamSettings {
            addrs: vec![upstream()],
            timeout: Duration::from_secs(5),
            attempts: 3,
            edns_payload: 1232,
        },
        query_log: false,
    };
    Engine::new(
        settings,
        store,
        Arc::clone(crate::metrics::Metrics::new().dns()),
    )
}

/// Profile `p<i>` for client 10.0.0.<i+1>, with the given lists.
fn profile(i: u8, lists: &[&str]) -> ProfileSettings {
    ProfileSettings {
        name: format!("p{i}"),
        clients: vec![IpNet::from(IpAddr::V4(Ipv4Addr::new(10, 0, 0, i + 1)))],
        listen: Vec::new(),
        client_ids: Vec::new(),
        age: 10,
        lists: lists.iter().map(|&l| l.to_owned()).collect(),
        block_categories: Vec::new(),
        allow: None,
        mode: crate::profiles::Mode::Deny,
        schedule: Vec::new(),
        bypass: Default::default(),
        school: Default::default(),
        safe_search: Default::default(),
    }
}

fn client(i: u8) -> SocketAddr {
    SocketAddr::new(IpAddr::V4(Ipv4Addr::new(10, 0, 0, i + 1)), 5353)
}

/// What a client got: "ok" (NOERROR with both records), "filtered" (the
/// profile's block: NXDOMAIN with EDE 17), "censored" (the national
/// list's: EDE 16), or what else.
fn answer(bytes: &[u8]) -> String {
    let rcode = bytes[3] & 0x0F;
    let ancount = wire::get_u16(bytes, 6);
    // The EDE option: code 15, length, INFO-CODE.
    let has_ede = |code: u16| {
        bytes
            .windows(6)
            .any(|w| w[0..2] == [0, 15] && w[4..6] == code.to_be_bytes())
    };
    match (rcode, ancount) {
        (0, 2) => "ok".into(),
        (3, _) if has_ede(ede::FILTERED) => "filtered".into(),
        (3, _) if has_ede(ede::CENSORED) => "censored".into(),
        (r, n) => format!("rcode {r} with {n} answers"),
    }
}

/// Asks `name` as client `i` on a runtime, forwarding when it must.
fn ask(rt: &tokio::runtime::Runtime, engine: &Engine, i: u8, name: &str) -> String {
    let packet = crate::probe::query(7, name, TYPE_A, CLASS_IN);
    let reply = rt
        .block_on(engine.handle(
            &packet,
            client(i),
            Protocol::Udp,
            crate::policy::ListenerId(0),
        ))
        .expect("an answer");
    answer(&reply)
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

fn lists(sources: &[(&str, &str)]) -> Vec<ExtraList> {
    sources
        .iter()
        .map(|&(name, source)| ExtraList {
            name: name.into(),
            list: Some(snapshot(name, source)),
        })
        .collect()
}

#[test]
fn a_rebuild_rechecks_every_cache_hit_and_a_memo_is_per_profile() {
    let rt = runtime();
    let engine = engine("national-only.test adult\n");
    let extra = || lists(&[("games", "cdn.www.game.test games\n")]);
    // p0 without lists, p1 with `games`, which blocks the CNAME target.
    let store = Arc::new(ProfileStore::new(
        Profiles::build(&[profile(0, &[]), profile(1, &["games"])], extra()).unwrap(),
    ));
    let engine = engine.with_profiles(Arc::clone(&store));
    // p0: a forward, then hits (the first remembers the allow).
    for _ in 0..3 {
        assert_eq!(ask(&rt, &engine, 0, "www.game.test"), "ok");
    }
    // p1 hits the same entry: p0's memo says nothing for p1.
    for _ in 0..2 {
        assert_eq!(ask(&rt, &engine, 1, "www.game.test"), "filtered");
    }
    // p0 still gets it (its memo holds), and a client with no profile too.
    assert_eq!(ask(&rt, &engine, 0, "www.game.test"), "ok");
    assert_eq!(ask(&rt, &engine, 50, "www.game.test"), "ok");

    // A reload: p0 now applies `games` as well. Same cache entry, new
    // snapshot: the hit is checked again and blocked.
    let old = store.load_full();
    store
        .swap(Profiles::build(&[profile(0, &["games"]), profile(1, &["games"])], extra()).unwrap());
    assert_ne!(old.generation, store.load().generation);
    for _ in 0..2 {
        assert_eq!(ask(&rt, &engine, 0, "www.game.test"), "filtered");
    }
    // Back to an allowing profile: allowed again, and remembered anew.
    store.swap(Profiles::build(&[profile(0, &[]), profile(1, &["games"])], extra()).unwrap());
    for _ in 0..2 {
        assert_eq!(ask(&rt, &engine, 0, "www.game.test"), "ok");
    }
    // The national list blocks whatever a profile remembered.
    assert_eq!(ask(&rt, &engine, 0, "national-only.test"), "censored");
}

/// The names the random lists and questions are drawn from.
const NAMES: [&str; 6] = [
    "a.test", "b.test", "c.test", "x.a.test", "y.b.test", "z.test",
];

proptest! {
    #![proptest_config(ProptestConfig::with_cases(24))]

    /// Random lists, profiles, questions and reloads: every answer a
    /// profiled client gets equals what its profile says of the question
    /// and the CNAME target right then, asked afresh (the naive model).
    #[test]
    fn memoised_answers_equal_asking_every_time(
        generations in proptest::collection::vec(
            // Per reload: which names each of two lists blocks, and which
            // lists each of three profiles applies.
            (proptest::collection::vec(proptest::bits::u8::between(0, 6), 2),
             proptest::collection::vec(proptest::bits::u8::between(0, 2), 3)),
            1..4,
        ),
        asks in proptest::collection::vec((0u8..3, 0usize..NAMES.len()), 24),
    ) {
        let rt = runtime();
        let engine = engine("never-asked.test adult\n");
        let build = |(blocks, uses): &(Vec<u8>, Vec<u8>)| {
            let source = |bits: u8| {
                let mut text = String::new();
                for (i, name) in NAMES.iter().enumerate() {
                    if bits & (1 << i) != 0 {
                        // Blocks the question's CNAME target (`cdn.` …).
                        text.push_str(&format!("=cdn.{name} games\n"));
                    }
                }
                text
            };
            let l0 = source(blocks[0]);
            let l1 = source(blocks[1]);
            let extra = lists(&[("l0", &l0), ("l1", &l1)]);
            let settings: Vec<ProfileSettings> = uses
                .iter()
                .enumerate()
                .map(|(i, &u)| {
                    let mut applied = Vec::new();
                    if u & 1 != 0 { applied.push("l0"); }
                    if u & 2 != 0 { applied.push("l1"); }
                    profile(i as u8, &applied)
                })
                .collect();
            Profiles::build(&settings, extra).unwrap()
        };
        let store = Arc::new(ProfileStore::new(build(&generations[0])));
        let engine = engine.with_profiles(Arc::clone(&store));
        for (g, generation) in generations.iter().enumerate() {
            if g > 0 {
                store.swap(build(generation));
            }
            let (blocks, uses) = generation;
            for &(c, n) in &asks {
                let applied = uses[usize::from(c)];
                let blocked = (0..2).any(|l| applied & (1 << l) != 0 && blocks[l] & (1 << n) != 0);
                let want = if blocked { "filtered" } else { "ok" };
                prop_assert_eq!(ask(&rt, &engine, c, NAMES[n]), want, "client {} name {} generation {}", c, NAMES[n], g);
            }
        }
    }
}
