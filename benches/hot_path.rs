//! Micro-benchmarks of the per-query hot path, and the instruction-count
//! harness behind `bench/callgrind.sh` (see docs/performance.md).
//!
//! ```text
//! cargo bench --bench hot_path                  # criterion
//! bench/callgrind.sh                            # instructions per query
//! ```
//!
//! The fixture is a real [`Engine`] as `ward serve` builds it: a signed
//! list of `WARD_BENCH_ENTRIES` generated names (default 100 000, built
//! once and kept in the system's temp directory), the answer cache, and a
//! loopback UDP upstream (a thread answering every query with one A
//! record) that the cached name is forwarded to once, so the cached path
//! serves what a real forward stored.
//!
//! Measured pieces: parsing a query from the wire, the list lookup of an
//! allowed and of a blocked name, and [`Engine::prepare`] end to end
//! (everything between `recvmmsg` and `sendmmsg` on the UDP fast path) for
//! a cache hit, for a blocked name answered from the cache's verdict (a
//! repeated query under the same list), and for a blocked name on an
//! engine without a cache (the list lookup every time: the first query of
//! a name, or the first after a swap). And what `[limits]` adds when on:
//! the per-query and per-answer checks.
//!
//! With `WARD_SCALE=N` it runs `N` queries per thread of the cached and
//! the blocked path on 1 and then 2 threads at once, and prints queries per
//! second: the engine's own scaling with cores, without sockets.
//!
//! With `WARD_CALLGRIND=PATH:N` the binary skips criterion and runs `N`
//! queries of one path (`parse`, `lookup-allowed`, `lookup-blocked`,
//! `cached`, `blocked` or `blocked-nocache`) in a function of its own
//! (`callgrind_loop`), so `valgrind --tool=callgrind
//! --toggle-collect='*callgrind_loop*'` counts the instructions of exactly
//! those queries.

use std::hint::black_box;
use std::net::{IpAddr, Ipv4Addr, SocketAddr, UdpSocket};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use criterion::Criterion;
use ward::dns::answer::{BlockAnswer, BlockMode};
use ward::dns::cache::CacheLimits;
use ward::dns::limit::{LimitSettings, Limiter};
use ward::dns::upstream::UpstreamSettings;
use ward::dns::wire::{self, CLASS_IN, Header, TYPE_A, flags};
use ward::dns::{Engine, Protocol, Settings, Step, query};
use ward::domain::NameKey;
use ward::list::{BuildOptions, Compiler};
use ward::metrics::Metrics;
use ward::policy::ListenerId;
use ward::store::ListStore;

const ALLOWED: &str = "www.example.vn";
/// The listener every query arrives on (no profile selects it).
const LISTENER: ListenerId = ListenerId(0);
const BLOCKED: &str = "www.blocked-bench.vn";
/// Blocked by the school profile's own list, not the national one.
const FILTERED: &str = "www.games-bench.vn";

struct Fixture {
    engine: Arc<Engine>,
    /// The same engine without an answer cache.
    uncached: Engine,
    store: Arc<ListStore>,
    cached: Vec<u8>,
    blocked: Vec<u8>,
    client: SocketAddr,
    /// An engine with 50 school profiles over 10 000 client networks; its
    /// cache holds the allowed name too.
    profiled: Arc<Engine>,
    /// A client of profile 7, in a /16 that holds 200 of its networks.
    pupil: SocketAddr,
    /// A client in the same /16 that no profile selects.
    outsider: SocketAddr,
    filtered: Vec<u8>,
}

/// The extra lists of the school profiles: `[[lists]]` name and source.
const SCHOOL_LISTS: [(&str, &str); 3] = [
    ("school", "games-bench.vn games\nsocial-bench.vn social\n"),
    ("district", "chat-bench.vn chat\nvideo-bench.vn video\n"),
    ("local", "shop-bench.vn shopping\n"),
];

/// 50 profiles of 200 client networks each (10 000 in all): profile `i`
/// has 127.(100 + i).0.0/24 to 127.(100 + i).199.0/24 (inside
/// `allow_clients`, so that the ACL costs what it costs the other
/// paths). Every one has the three local lists of [`SCHOOL_LISTS`].
fn school_profiles() -> Arc<ward::profiles::ProfileStore> {
    use ward::profiles::{ExtraListSettings, ListOrigin, ProfileSettings};
    let dir = std::env::temp_dir().join(format!("ward-bench-school-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let lists: Vec<ExtraListSettings> = SCHOOL_LISTS
        .iter()
        .map(|&(name, text)| {
            let source = dir.join(format!("{name}.txt"));
            std::fs::write(&source, text).expect("source");
            ExtraListSettings {
                name: name.into(),
                origin: ListOrigin::Source { source },
            }
        })
        .collect();
    let profiles: Vec<ProfileSettings> = (0..50u8)
        .map(|i| ProfileSettings {
            name: format!("p{i}"),
            clients: (0..200u8)
                .map(|j| {
                    format!("127.{}.{j}.0/24", 100 + u16::from(i))
                        .parse()
                        .expect("net")
                })
                .collect(),
            listen: Vec::new(),
            client_ids: Vec::new(),
            age: 10,
            lists: SCHOOL_LISTS.iter().map(|&(name, _)| name.into()).collect(),
            block_categories: Vec::new(),
            allow: None,
            mode: ward::profiles::Mode::Deny,
            schedule: Vec::new(),
            bypass: Default::default(),
            school: Default::default(),
            safe_search: Default::default(),
        })
        .collect();
    let store = ward::update::extra::profile_store(&lists, &profiles).expect("no overlap");
    let _ = std::fs::remove_dir_all(&dir);
    store
}

fn entries() -> usize {
    std::env::var("WARD_BENCH_ENTRIES")
        .ok()
        .map(|v| v.parse().expect("WARD_BENCH_ENTRIES is a number"))
        .unwrap_or(100_000)
}

/// A query as a stub resolver sends it: RD, one question, EDNS 1232 (the
/// probe's own query).
fn query_bytes(name: &str, id: u16) -> Vec<u8> {
    ward::probe::query(id, name, TYPE_A, CLASS_IN)
}

/// The generated source: the blocked bench name and `n` names, of which
/// the first `changed` are replaced by as many others (a later serial).
fn source(n: usize, changed: usize) -> String {
    let mut source = String::with_capacity(n * 32);
    source.push_str("blocked-bench.vn adult\n");
    for i in 0..n {
        if i < changed {
            source.push_str(&format!("d{i:x}.added{}.vn adult\n", i % 7));
        } else {
            source.push_str(&format!("n{i:x}.site{}.vn adult\n", i % 1009));
        }
    }
    source
}

/// The list of `artifact(n)` with a delta of 1 000 changed names in force
/// (500 removed, 500 added), for `lookup-*-delta`.
fn overlay(base: &std::path::Path, n: usize) -> ward::list::delta::Overlay {
    let key_path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("examples/demo.key");
    let key = ward::keys::read_secret(&key_path).expect("examples/demo.key");
    let trust: ward::list::TrustedKeys = [key.verifying_key()].into_iter().collect();
    let base = Arc::new(ward::list::open_file(base, &trust).expect("base list"));
    let m = base.manifest();
    let mut salt = [0u8; 32];
    hex::decode_to_slice(&m.salt, &mut salt).expect("salt");
    let opts = BuildOptions {
        list_id: m.list_id.clone(),
        serial: m.serial + 1,
        issued_at: m.issued_at,
        expires_at: m.expires_at,
        confidential: Default::default(),
        min_age: Default::default(),
    };
    let mut c = Compiler::new();
    c.add_source("<generated>", source(n, 500).as_bytes())
        .expect("generated source");
    let (bytes, _) = c.build_with_salt(&opts, &key, salt).expect("build");
    let target = ward::list::verify(ward::list::Bytes::Owned(bytes), &trust).expect("target");
    let (delta, _) = ward::list::delta::diff(&base, &target, &key).expect("delta");
    let delta = ward::list::delta::open(&delta, &trust).expect("delta verifies");
    ward::list::delta::Overlay::apply(base, [delta]).expect("delta applies")
}

/// The signed artifact: `n` generated names in `adult` plus the blocked
/// bench name, built once per size.
fn artifact(n: usize) -> PathBuf {
    let path = std::env::temp_dir().join(format!("ward-hot-path-{n}.ward"));
    if path.exists() {
        return path;
    }
    let source = source(n, 0);
    let key_path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("examples/demo.key");
    let key = ward::keys::read_secret(&key_path).expect("examples/demo.key");
    let now = jiff::Timestamp::now();
    let opts = BuildOptions {
        list_id: "bench".into(),
        serial: 1,
        issued_at: now,
        expires_at: now
            .checked_add(jiff::SignedDuration::from_hours(24 * 365))
            .expect("time"),
        confidential: Default::default(),
        min_age: Default::default(),
    };
    let mut c = Compiler::new();
    c.add_source("<generated>", source.as_bytes())
        .expect("generated source");
    let (bytes, _) = c.build(&opts, &key).expect("build");
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, bytes).expect("write artifact");
    std::fs::rename(&tmp, &path).expect("rename artifact");
    path
}

/// A loopback upstream: answers every query with its question and one A
/// record (192.0.2.10, TTL 3600).
fn upstream() -> SocketAddr {
    let sock = UdpSocket::bind("127.0.0.1:0").expect("bind upstream");
    let addr = sock.local_addr().expect("upstream address");
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
                    ancount: 1,
                    nscount: 0,
                    arcount: 0,
                },
            );
            out.extend_from_slice(q.question);
            wire::put_record_at_qname(&mut out, TYPE_A, CLASS_IN, 3600, &[192, 0, 2, 10]);
            let _ = sock.send_to(&out, from);
        }
    });
    addr
}

fn fixture() -> Fixture {
    let store = Arc::new(ListStore::new());
    let trust = [ward::keys::parse_public(ward::list::DEMO_PUBLIC_KEY).expect("demo key")]
        .into_iter()
        .collect();
    let list = ward::list::open_file(&artifact(entries()), &trust).expect("bench list verifies");
    store.swap(list);
    let settings = Settings {
        allow_clients: vec!["127.0.0.0/8".parse().expect("net")],
        block: BlockAnswer {
            mode: BlockMode::NxDomain,
            ipv4: vec![],
            ipv6: vec![],
            ttl: 60,
        },
        cache: Some(CacheLimits {
            max_entries: 100_000,
            max_memory: 64 << 20,
            min_ttl: 0,
            max_ttl: 86_400,
            max_negative_ttl: 3600,
        }),
        upstream: UpstreamSettings {
            addrs: vec![upstream()],
            timeout: Duration::from_secs(2),
            attempts: 2,
            edns_payload: 1232,
        },
        query_log: false,
    };
    let uncached = Engine::new(
        Settings {
            cache: None,
            ..settings.clone()
        },
        Arc::clone(&store),
        Arc::clone(Metrics::new().dns()),
    );
    let profiled = Arc::new(
        Engine::new(
            settings.clone(),
            Arc::clone(&store),
            Arc::clone(Metrics::new().dns()),
        )
        .with_profiles(school_profiles()),
    );
    // As `ward serve` runs without `[[profile]]`: an empty profile store
    // (a SIGHUP may fill it), which the engine skips on one flag.
    let empty = ward::profiles::ProfileStore::new(ward::profiles::Profiles::default());
    let engine = Arc::new(
        Engine::new(
            settings,
            Arc::clone(&store),
            Arc::clone(Metrics::new().dns()),
        )
        .with_profiles(Arc::new(empty)),
    );
    let pupil = SocketAddr::new(IpAddr::V4(Ipv4Addr::new(127, 107, 123, 45)), 40_000);
    let outsider = SocketAddr::new(IpAddr::V4(Ipv4Addr::new(127, 107, 250, 1)), 40_000);
    let client = SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), 40_000);
    let cached = query_bytes(ALLOWED, 0x1234);
    let blocked = query_bytes(BLOCKED, 0x4321);
    // One real forward puts the allowed name in the cache.
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let first = rt
        .block_on(engine.handle(&cached, client, Protocol::Udp, LISTENER))
        .expect("the upstream answers");
    assert_eq!(wire::get_u16(&first, 6), 1, "one answer record");
    let first = rt
        .block_on(profiled.handle(&cached, pupil, Protocol::Udp, LISTENER))
        .expect("the upstream answers");
    assert_eq!(wire::get_u16(&first, 6), 1, "one answer record");
    let f = Fixture {
        profiled,
        pupil,
        outsider,
        filtered: query_bytes(FILTERED, 0x5678),
        engine,
        uncached,
        store,
        cached,
        blocked,
        client,
    };
    // Both measured paths answer at once, with what they must.
    let mut out = Vec::new();
    assert!(matches!(f.prepare(&f.cached, &mut out), Step::Reply));
    assert_eq!(wire::get_u16(&out, 2) & 0x000F, 0, "cache hit is NOERROR");
    assert_eq!(wire::get_u16(&out, 6), 1, "cache hit carries the A record");
    assert!(matches!(f.prepare(&f.blocked, &mut out), Step::Reply));
    assert_eq!(
        wire::get_u16(&out, 2) & 0x000F,
        3,
        "blocked name is NXDOMAIN"
    );
    let mut again = Vec::new();
    assert!(matches!(f.prepare(&f.blocked, &mut again), Step::Reply));
    assert_eq!(again, out, "the cached verdict answers as the lookup did");
    let step = f
        .uncached
        .prepare(&f.blocked, f.client, Protocol::Udp, LISTENER, &mut again);
    assert!(matches!(step, Step::Reply));
    assert_eq!(again, out, "the engine without a cache answers the same");
    for (packet, client, rcode) in [
        (&f.cached, f.pupil, 0),
        (&f.cached, f.outsider, 0),
        (&f.filtered, f.pupil, 3),
    ] {
        let step = f
            .profiled
            .prepare(packet, client, Protocol::Udp, LISTENER, &mut out);
        assert!(matches!(step, Step::Reply));
        assert_eq!(wire::get_u16(&out, 2) & 0x000F, rcode, "profiled answer");
    }
    f
}

impl Fixture {
    fn prepare(&self, packet: &[u8], out: &mut Vec<u8>) -> Step {
        self.engine
            .prepare(packet, self.client, Protocol::Udp, LISTENER, out)
    }
}

fn key(name: &str) -> NameKey {
    let q = query_bytes(name, 1);
    query::parse(&q).expect("query parses").key
}

fn benches(c: &mut Criterion, f: &Fixture) {
    c.bench_function("parse_query", |b| {
        b.iter(|| query::parse(black_box(&f.cached)).map(|q| q.qtype))
    });
    let guard = f.store.load();
    let active = guard.as_ref().expect("a list is loaded");
    let (allowed, blocked) = (key(ALLOWED), key(BLOCKED));
    c.bench_function("lookup_allowed", |b| {
        b.iter(|| active.lookup(black_box(&allowed)).is_some())
    });
    c.bench_function("lookup_blocked", |b| {
        b.iter(|| active.lookup(black_box(&blocked)).is_some())
    });
    let mut out = Vec::with_capacity(4096);
    c.bench_function("prepare_cached", |b| {
        b.iter(|| matches!(f.prepare(black_box(&f.cached), &mut out), Step::Reply))
    });
    c.bench_function("prepare_blocked", |b| {
        b.iter(|| matches!(f.prepare(black_box(&f.blocked), &mut out), Step::Reply))
    });
    c.bench_function("prepare_blocked_nocache", |b| {
        b.iter(|| {
            let step = f.uncached.prepare(
                black_box(&f.blocked),
                f.client,
                Protocol::Udp,
                LISTENER,
                &mut out,
            );
            matches!(step, Step::Reply)
        })
    });
    limits(c, f);
}

/// What `[limits]` adds per UDP query when on: the `client_qps` check of a
/// query and the `rrl` check of its answer (a cached one), each for a
/// client that stays under its limit (the common case), and the check
/// of a flood's query that is dropped.
fn limits(c: &mut Criterion, f: &Fixture) {
    let on = |client_qps, rrl| LimitSettings {
        client_qps,
        client_prefix_v4: 24,
        client_prefix_v6: 56,
        rrl,
        slip: 2,
        exempt: Vec::new(),
    };
    let metrics = Arc::clone(Metrics::new().dns());
    let Some(limiter) = Limiter::new(&on(1_000_000, 1_000_000), Arc::clone(&metrics)) else {
        return;
    };
    let now = Instant::now();
    c.bench_function("limit_query", |b| {
        b.iter(|| limiter.query(black_box(f.client.ip()), now))
    });
    let mut answer = Vec::with_capacity(4096);
    f.prepare(&f.cached, &mut answer);
    c.bench_function("limit_response", |b| {
        b.iter(|| limiter.response(black_box(f.client.ip()), black_box(&answer), now))
    });
    let Some(strict) = Limiter::new(&on(1, 0), metrics) else {
        return;
    };
    c.bench_function("limit_query_flood", |b| {
        b.iter(|| strict.query(black_box(f.client.ip()), now))
    });
}

/// `n` lookups against a base list with a delta in force.
#[inline(never)]
fn lookup_loop(o: &ward::list::delta::Overlay, k: &NameKey, blocked: bool, n: usize) -> usize {
    let mut answered = 0;
    for _ in 0..n {
        answered += usize::from(o.lookup(black_box(k)).is_some() == blocked);
    }
    answered
}

/// The loop callgrind counts: `n` queries of one path.
#[inline(never)]
fn callgrind_loop(f: &Fixture, path: &str, n: usize) -> usize {
    let mut out = Vec::with_capacity(4096);
    let mut answered = 0;
    match path {
        "parse" => {
            for _ in 0..n {
                answered += usize::from(query::parse(black_box(&f.cached)).is_ok());
            }
        }
        "lookup-allowed-delta" | "lookup-blocked-delta" => {
            let o = overlay(&artifact(entries()), entries());
            let (name, blocked) = match path {
                "lookup-allowed-delta" => (ALLOWED, false),
                _ => (BLOCKED, true),
            };
            let k = key(name);
            // Set-up above is outside the toggle: callgrind counts from here.
            answered += lookup_loop(&o, &k, blocked, n);
        }
        "lookup-allowed" | "lookup-blocked" => {
            let guard = f.store.load();
            let active = guard.as_ref().expect("a list is loaded");
            let (name, blocked) = match path {
                "lookup-allowed" => (ALLOWED, false),
                _ => (BLOCKED, true),
            };
            let k = key(name);
            for _ in 0..n {
                answered += usize::from(active.lookup(black_box(&k)).is_some() == blocked);
            }
        }
        "cached" | "blocked" | "blocked-nocache" => {
            let (engine, packet) = match path {
                "cached" => (&*f.engine, &f.cached),
                "blocked" => (&*f.engine, &f.blocked),
                _ => (&f.uncached, &f.blocked),
            };
            for _ in 0..n {
                let step = engine.prepare(
                    black_box(packet),
                    f.client,
                    Protocol::Udp,
                    LISTENER,
                    &mut out,
                );
                answered += usize::from(matches!(step, Step::Reply));
            }
        }
        "cached-profiled" | "cached-unmatched" | "filtered" => {
            let (client, packet) = match path {
                "cached-profiled" => (f.pupil, &f.cached),
                "cached-unmatched" => (f.outsider, &f.cached),
                _ => (f.pupil, &f.filtered),
            };
            for _ in 0..n {
                let step = f.profiled.prepare(
                    black_box(packet),
                    client,
                    Protocol::Udp,
                    LISTENER,
                    &mut out,
                );
                answered += usize::from(matches!(step, Step::Reply));
            }
        }
        other => panic!(
            "WARD_CALLGRIND path {other:?}: expected parse, lookup-allowed, lookup-blocked, cached, blocked, blocked-nocache, cached-profiled, cached-unmatched or filtered"
        ),
    }
    answered
}

/// Engine throughput with 1 and 2 threads calling [`Engine::prepare`] at
/// once on the same engine (no sockets): how far the shared state (list,
/// cache, counters) lets the per-query work scale with cores.
fn scaling(f: &Fixture, n: usize) {
    println!("| path | threads | queries/s | per thread | vs 1 thread |");
    println!("|---|---:|---:|---:|---:|");
    for (name, packet) in [("cached", &f.cached), ("blocked", &f.blocked)] {
        let mut one = 0.0;
        for threads in [1usize, 2] {
            let start = std::time::Instant::now();
            std::thread::scope(|scope| {
                for _ in 0..threads {
                    scope.spawn(|| {
                        let mut out = Vec::with_capacity(4096);
                        for _ in 0..n {
                            let step = f.prepare(black_box(packet), &mut out);
                            assert!(matches!(step, Step::Reply));
                        }
                    });
                }
            });
            let qps = (threads * n) as f64 / start.elapsed().as_secs_f64();
            if threads == 1 {
                one = qps;
            }
            println!(
                "| {name} | {threads} | {qps:.0} | {:.0} | {:.2} |",
                qps / threads as f64,
                qps / one
            );
        }
    }
}

fn main() {
    let f = fixture();
    if let Ok(n) = std::env::var("WARD_SCALE") {
        scaling(
            &f,
            n.parse()
                .expect("WARD_SCALE is a count of queries per thread"),
        );
        return;
    }
    if let Ok(spec) = std::env::var("WARD_CALLGRIND") {
        let (path, n) = spec
            .split_once(':')
            .expect("WARD_CALLGRIND=PATH:N, e.g. cached:100000");
        let n: usize = n.parse().expect("WARD_CALLGRIND count is a number");
        let answered = callgrind_loop(&f, path, n);
        assert_eq!(answered, n, "every query answered");
        println!("{path}: {n} queries");
        return;
    }
    let mut c = Criterion::default()
        .measurement_time(Duration::from_secs(3))
        .warm_up_time(Duration::from_secs(1))
        .configure_from_args();
    benches(&mut c, &f);
    c.final_summary();
}
