//! Fuzz target `dns_query`: the request handler path from raw bytes.
//!
//! Feeds arbitrary bytes to `Engine::prepare` exactly as the UDP and TCP
//! listeners do (client 127.0.0.1, the demo list, a cache), then checks
//! that whatever comes back is itself a well-formed DNS message with the
//! query's ID. The same bytes also go through the pure parsers behind it:
//! the query parser, and the upstream-response parser (`response::accept`),
//! which reads what upstream servers send, and what it accepts through
//! `ech::strip` (taking `ech` out of HTTPS/SVCB records): a stripped body
//! must hold as many well-formed records as the original, strip to
//! nothing more a second time, and keep every TTL offset inside it.
//!
//! No upstream is reachable (the one configured is a closed loopback
//! port and `forward` is never awaited), so the target stays in-process.

#![no_main]

use std::net::SocketAddr;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use libfuzzer_sys::fuzz_target;
use ward::dns::answer::{BlockAnswer, BlockMode};
use ward::dns::cache::CacheLimits;
use ward::dns::upstream::UpstreamSettings;
use ward::dns::wire::{Header, Reader};
use ward::dns::{Engine, Protocol, Settings, Step, ech, query, response};
use ward::list::{Bytes, DEMO_ARTIFACT, DEMO_PUBLIC_KEY, TrustedKeys};
use ward::metrics::Metrics;
use ward::policy::ListenerId;
use ward::store::ListStore;

fn engine() -> &'static Engine {
    static ENGINE: OnceLock<Engine> = OnceLock::new();
    ENGINE.get_or_init(|| {
        let key = ward::keys::parse_public(DEMO_PUBLIC_KEY).expect("demo key parses");
        let trust: TrustedKeys = std::iter::once(key).collect();
        let list = ward::list::verify(Bytes::Static(DEMO_ARTIFACT), &trust).expect("demo list verifies");
        let settings = Settings {
            allow_clients: vec!["127.0.0.0/8".parse().unwrap()],
            block: BlockAnswer {
                mode: BlockMode::Sinkhole,
                ipv4: vec!["192.0.2.1".parse().unwrap()],
                ipv6: vec!["2001:db8::1".parse().unwrap()],
                ttl: 60,
            },
            cache: Some(CacheLimits {
                max_entries: 1000,
                max_memory: 1 << 20,
                min_ttl: 0,
                max_ttl: 86400,
                max_negative_ttl: 3600,
            }),
            upstream: UpstreamSettings {
                addrs: vec!["127.0.0.1:9".parse().unwrap()],
                timeout: Duration::from_millis(10),
                attempts: 1,
                edns_payload: 1232,
            },
            query_log: false,
        };
        Engine::new(settings, Arc::new(ListStore::with(list)), Arc::clone(Metrics::new().dns()))
    })
}

/// `ech::strip` on an accepted answer: same records, no `ech` left, TTLs
/// inside the body.
fn check_strip(question: &[u8], body: &[u8], counts: [u16; 3], ttls: &[(u16, u32)]) {
    let base = 12 + question.len();
    let Ok(Some(s)) = ech::strip(base, body, counts, ttls) else {
        return;
    };
    let mut message = vec![0, 0, 0x81, 0x80, 0, 1];
    for c in counts {
        message.extend_from_slice(&c.to_be_bytes());
    }
    message.extend_from_slice(question);
    message.extend_from_slice(&s.body);
    let mut r = Reader::at(&message, base);
    for _ in 0..counts.iter().map(|&c| u32::from(c)).sum::<u32>() {
        ward::dns::wire::RecordRef::read(&mut r).expect("a stripped record reads");
    }
    assert_eq!(r.remaining(), 0, "nothing after the records");
    assert!(s.body.len() < body.len(), "something was taken out");
    assert_eq!(s.ttls.len(), ttls.len());
    for &(at, _) in &s.ttls {
        assert!(usize::from(at) + 4 <= s.body.len(), "TTL offset inside the body");
    }
    assert_eq!(
        ech::strip(base, &s.body, counts, &s.ttls),
        Ok(None),
        "a second strip finds no ech"
    );
}

/// A reply must parse as a header plus its announced records.
fn check_reply(query: &[u8], reply: &[u8], udp: bool) {
    let mut r = Reader::new(reply);
    let h = Header::read(&mut r).expect("reply has a header");
    assert_eq!(&reply[..2], &query[..2], "reply echoes the query ID");
    assert!(h.flags & 0x8000 != 0, "reply has QR set");
    for _ in 0..h.qdcount {
        r.skip_name().expect("question name");
        r.take(4).expect("question type and class");
    }
    for _ in 0..(u32::from(h.ancount) + u32::from(h.nscount) + u32::from(h.arcount)) {
        ward::dns::wire::RecordRef::read(&mut r).expect("well-formed record");
    }
    if udp {
        assert!(reply.len() <= 65_535);
    }
}

fuzz_target!(|data: &[u8]| {
    let _ = query::parse(data);
    if data.len() >= 2 {
        let id = u16::from_be_bytes([data[0], data[1]]);
        let _ = response::accept(data, id, b"\x03www\x07example\x04test\x00\x00\x01\x00\x01");
        let question = b"\x03www\x07example\x04test\x00\x00\x41\x00\x01";
        if let Ok(answer) = response::accept(data, id, question) {
            check_strip(question, &answer.body, answer.counts, &answer.ttls);
        }
    }
    // The raw bytes as a body, too: strip reads its own input bounds.
    if let [c0, c1, c2, rest @ ..] = data {
        let counts = [u16::from(*c0 & 7), u16::from(*c1 & 3), u16::from(*c2 & 3)];
        let _ = ech::strip(12 + usize::from(*c0 >> 3), rest, counts, &[(0, 1), (u16::MAX, 2)]);
    }
    let client: SocketAddr = "127.0.0.1:5353".parse().unwrap();
    // One reply buffer reused across calls, as a UDP worker reuses its
    // send slots: a stale byte left from an earlier answer would show.
    let mut reply = Vec::new();
    for protocol in [Protocol::Udp, Protocol::Tcp] {
        match engine().prepare(data, client, protocol, ListenerId(0), &mut reply) {
            Step::Reply => check_reply(data, &reply, protocol == Protocol::Udp),
            Step::Forward(_) | Step::Drop => {}
        }
    }
    // A client outside the ACL gets the same treatment.
    let outsider: SocketAddr = "198.51.100.7:5353".parse().unwrap();
    if let Step::Reply = engine().prepare(data, outsider, Protocol::Udp, ListenerId(0), &mut reply) {
        check_reply(data, &reply, true);
    }
});
