use std::net::IpAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use hickory_proto::op::{Message, MessageType, Query, ResponseCode};
use hickory_proto::rr::{Name, RecordType};

use super::*;
use crate::metrics::Metrics;

const SECOND: u64 = 1_000_000;

fn admitted(table: &RateTable, key: u64, now: u64, tries: usize) -> usize {
    (0..tries).filter(|_| table.admit(key, now)).count()
}

#[test]
fn a_bucket_holds_one_second_and_refills_at_the_rate() {
    let t = RateTable::new(10, 64);
    assert_eq!(admitted(&t, 7, 5 * SECOND, 100), 10);
    // A tenth of a second later: one token back.
    assert_eq!(admitted(&t, 7, 5 * SECOND + SECOND / 10, 100), 1);
    // Idle for a while: full again, never more.
    assert_eq!(admitted(&t, 7, 60 * SECOND, 100), 10);
}

#[test]
fn keys_do_not_share_buckets() {
    let t = RateTable::new(5, 1 << 10);
    assert_eq!(admitted(&t, 1, SECOND, 50), 5);
    assert_eq!(admitted(&t, 2 << 44 | 99, SECOND, 50), 5);
    assert_eq!(admitted(&t, 1, SECOND, 50), 0);
}

#[test]
fn a_collision_only_ever_lets_more_through() {
    // Two slots in all: every key competes for the same two.
    let t = RateTable::new(3, 2);
    let heavy = 1u64 << 44;
    assert_eq!(admitted(&t, heavy, SECOND, 10), 3);
    // Other keys take the free slot or the lighter one; each is answered.
    for k in 2..50u64 {
        assert!(t.admit(k << 44, SECOND), "key {k}");
    }
    // The heavy key kept its slot (it carries the most debt) and is still
    // limited.
    assert!(!t.admit(heavy, SECOND));
}

#[test]
fn the_clock_wrapping_past_44_bits_does_not_limit_anyone_for_long() {
    let t = RateTable::new(2, 16);
    let edge = TIME_MASK - 10;
    assert_eq!(admitted(&t, 5, edge, 10), 2);
    // Across the wrap: the bucket refills as time goes on.
    assert_eq!(admitted(&t, 5, edge + 2 * SECOND, 10), 2);
    // Almost a whole wrap later the clock reads just before the slot's
    // time: far more ahead than any bucket runs, so stale, not debt.
    let later = edge + 2 * SECOND + (1 << 44) - 5 * SECOND;
    assert_eq!(admitted(&t, 5, later, 10), 2);
}

fn limiter(s: LimitSettings) -> Limiter {
    Limiter::new(&s, Arc::clone(Metrics::new().dns())).expect("a limit is on")
}

fn settings(client_qps: u32, rrl: u32, slip: u32) -> LimitSettings {
    LimitSettings {
        client_qps,
        client_prefix_v4: 24,
        client_prefix_v6: 56,
        rrl,
        slip,
        exempt: Vec::new(),
    }
}

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

fn passed(l: &Limiter, client: &str, now: Instant, n: usize) -> usize {
    (0..n)
        .filter(|_| l.query(ip(client), now) == Admit::Pass)
        .count()
}

#[test]
fn off_is_no_limiter_at_all() {
    assert!(Limiter::new(&settings(0, 0, 2), Arc::clone(Metrics::new().dns())).is_none());
}

#[test]
fn clients_are_counted_by_prefix() {
    let now = Instant::now() + Duration::from_secs(1);
    let l = limiter(settings(5, 0, 0));
    assert_eq!(passed(&l, "192.0.2.1", now, 20), 5);
    // Same /24: same bucket, already empty.
    assert_eq!(passed(&l, "192.0.2.200", now, 20), 0);
    assert_eq!(passed(&l, "198.51.100.1", now, 20), 5);
    // IPv6 by /56; an IPv4-mapped address is its IPv4 self.
    assert_eq!(passed(&l, "2001:db8:0:100::1", now, 20), 5);
    assert_eq!(passed(&l, "2001:db8:0:1ff::9", now, 20), 0);
    assert_eq!(passed(&l, "2001:db8:0:200::1", now, 20), 5);
    assert_eq!(passed(&l, "::ffff:192.0.2.9", now, 20), 0);

    let mut s = settings(5, 0, 0);
    s.client_prefix_v4 = 32;
    s.exempt = vec!["203.0.113.0/24".parse().unwrap()];
    let l = limiter(s);
    assert_eq!(passed(&l, "192.0.2.1", now, 20), 5);
    assert_eq!(passed(&l, "192.0.2.2", now, 20), 5);
    assert_eq!(passed(&l, "203.0.113.9", now, 20), 20, "exempt");
}

#[test]
fn slip_picks_every_nth_limited_answer() {
    let now = Instant::now() + Duration::from_secs(1);
    let fates = |slip| {
        let l = limiter(settings(1, 0, slip));
        (0..7)
            .map(|_| l.query(ip("192.0.2.1"), now))
            .collect::<Vec<_>>()
    };
    use Admit::{Drop, Pass, Slip};
    assert_eq!(fates(0), [Pass, Drop, Drop, Drop, Drop, Drop, Drop]);
    assert_eq!(fates(1), [Pass, Slip, Slip, Slip, Slip, Slip, Slip]);
    assert_eq!(fates(2), [Pass, Slip, Drop, Slip, Drop, Slip, Drop]);
}

fn message(name: &str, rtype: RecordType, response: Option<ResponseCode>) -> Vec<u8> {
    let mut m = Message::query();
    m.metadata.id = 0x1234;
    m.metadata.recursion_desired = true;
    m.add_query(Query::query(Name::from_ascii(name).unwrap(), rtype));
    if let Some(code) = response {
        m.metadata.message_type = MessageType::Response;
        m.metadata.response_code = code;
    }
    m.to_vec().unwrap()
}

#[test]
fn identical_responses_are_limited_by_name_type_and_code() {
    let now = Instant::now() + Duration::from_secs(1);
    let l = limiter(settings(0, 3, 0));
    let pass = |bytes: &[u8]| {
        (0..10)
            .filter(|_| l.response(ip("192.0.2.1"), bytes, now) == Admit::Pass)
            .count()
    };
    let noerror = Some(ResponseCode::NoError);
    assert_eq!(pass(&message("big.example.", RecordType::TXT, noerror)), 3);
    // The same question in other letter case is the same response.
    assert_eq!(pass(&message("BiG.eXample.", RecordType::TXT, noerror)), 0);
    assert_eq!(pass(&message("big.example.", RecordType::A, noerror)), 3);
    assert_eq!(
        pass(&message("other.example.", RecordType::TXT, noerror)),
        3
    );
    let nx = Some(ResponseCode::NXDomain);
    assert_eq!(pass(&message("big.example.", RecordType::TXT, nx)), 3);
    // Errors count by code alone, whatever the name.
    let refused = Some(ResponseCode::Refused);
    assert_eq!(pass(&message("a.example.", RecordType::A, refused)), 3);
    assert_eq!(pass(&message("b.example.", RecordType::A, refused)), 0);
    // Queries are not limited by this table.
    assert_eq!(passed(&l, "192.0.2.1", now, 10), 10);
}

#[test]
fn a_slipped_query_gets_an_empty_truncated_answer() {
    let query = message("www.example.", RecordType::A, None);
    let mut out = Vec::new();
    assert!(slip_query(&query, &mut out));
    let m = Message::from_vec(&out).unwrap();
    assert_eq!(m.metadata.id, 0x1234);
    assert_eq!(m.metadata.message_type, MessageType::Response);
    assert!(m.metadata.truncation);
    assert!(m.metadata.recursion_desired);
    assert!(m.answers.is_empty() && m.additionals.is_empty());
    assert_eq!(m.queries[0].name().to_ascii(), "www.example.");
    assert!(out.len() <= query.len(), "never larger than the query");

    // Nothing for a response, a short packet, or a question cut short.
    let response = message("www.example.", RecordType::A, Some(ResponseCode::NoError));
    assert!(!slip_query(&response, &mut out));
    assert!(!slip_query(&query[..5], &mut out));
    assert!(!slip_query(&query[..query.len() - 2], &mut out));
}

#[test]
fn a_slipped_response_keeps_only_its_question() {
    let mut m = Message::response(0x4321, hickory_proto::op::OpCode::Query);
    m.metadata.response_code = ResponseCode::NXDomain;
    m.metadata.authoritative = true;
    m.add_query(Query::query(
        Name::from_ascii("big.example.").unwrap(),
        RecordType::TXT,
    ));
    let txt = hickory_proto::rr::rdata::TXT::new(vec!["x".repeat(200)]);
    m.add_answer(hickory_proto::rr::Record::from_rdata(
        Name::from_ascii("big.example.").unwrap(),
        60,
        hickory_proto::rr::RData::TXT(txt),
    ));
    let mut out = m.to_vec().unwrap();
    assert!(slip_response(&mut out));
    let s = Message::from_vec(&out).unwrap();
    assert!(s.metadata.truncation);
    assert_eq!(s.metadata.response_code, ResponseCode::NoError);
    assert!(!s.metadata.authoritative);
    assert!(s.answers.is_empty());
    assert_eq!(s.queries.len(), 1);
}
