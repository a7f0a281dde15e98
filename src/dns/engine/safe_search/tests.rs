//! The rewritten answer is a message real clients read: hickory decodes
//! it into the CNAME and the target's records, whatever compression the
//! upstream used.

use std::net::Ipv4Addr;
use std::str::FromStr;

use hickory_proto::op::{Message, MessageType, OpCode, Query};
use hickory_proto::rr::rdata::{A, CNAME, SOA};
use hickory_proto::rr::{Name, RData, Record, RecordType};

use super::*;
use crate::dns::answer::ClientEdns;
use crate::dns::response::accept;

fn name(s: &str) -> Name {
    Name::from_str(s).unwrap()
}

/// An upstream's answer to `target`'s question, as hickory writes it
/// (compressed), taken apart as ward takes every answer.
fn upstream(
    target: &str,
    qtype: RecordType,
    answers: Vec<Record>,
    authority: Vec<Record>,
) -> (Vec<u8>, Upstreamed) {
    let mut m = Message::new(0x1234, MessageType::Response, OpCode::Query);
    m.add_query(Query::query(name(target), qtype));
    for r in answers {
        m.add_answer(r);
    }
    for r in authority {
        m.add_authority(r);
    }
    let bytes = m.to_vec().unwrap();
    let wire_len = target.trim_end_matches('.').len() + 2;
    let question = &bytes[HEADER_LEN..HEADER_LEN + wire_len + 4];
    let question = question.to_vec();
    let up = accept(&bytes, 0x1234, &question).unwrap();
    (question, up)
}

/// The client's reply to `asked`, decoded by hickory.
fn client_view(asked: &str, qtype: u16, target: &str, question: &[u8], up: &Upstreamed) -> Message {
    let mut client_q = Vec::new();
    wire::put_name(&mut client_q, asked);
    client_q.extend_from_slice(&qtype.to_be_bytes());
    client_q.extend_from_slice(&CLASS_IN.to_be_bytes());
    let rw = rewrite_body(question, target, &up.body, up.counts, &up.ttls).unwrap();
    let header = Header {
        id: 7,
        flags: flags::RD,
        qdcount: 1,
        ancount: 0,
        nscount: 0,
        arcount: 0,
    };
    let edns = ClientEdns::NONE;
    let (reply, result) = reply(
        &header,
        &client_q,
        up.header.flags,
        Some(&rw),
        edns,
        SearchEngine::Google,
    );
    assert_eq!(result, QueryResult::Forwarded);
    Message::from_vec(&reply.encode(edns, 1232, false)).unwrap()
}

#[test]
fn an_address_answer_gets_the_cname_in_front() {
    let target = "forcesafesearch.google.com.";
    let a = Record::from_rdata(
        name(target),
        300,
        RData::A(A(Ipv4Addr::new(216, 239, 38, 120))),
    );
    let (question, up) = upstream(target, RecordType::A, vec![a], vec![]);
    let m = client_view("www.google.com.vn.", 1, target, &question, &up);
    assert_eq!(m.answers.len(), 2, "{m:?}");
    assert_eq!(m.answers[0].name, name("www.google.com.vn."));
    assert_eq!(m.answers[0].data, RData::CNAME(CNAME(name(target))));
    assert_eq!(m.answers[0].ttl, 300);
    assert_eq!(m.answers[1].name, name(target));
    assert_eq!(
        m.answers[1].data,
        RData::A(A(Ipv4Addr::new(216, 239, 38, 120)))
    );
    assert!(!m.metadata.authentic_data);
}

#[test]
fn a_chain_and_a_negative_answer_are_decompressed() {
    let target = "restrict.youtube.com.";
    // The target is itself a CNAME (pointer into the question), then an A.
    let c = Record::from_rdata(
        name(target),
        600,
        RData::CNAME(CNAME(name("edge.youtube.com."))),
    );
    let a = Record::from_rdata(
        name("edge.youtube.com."),
        60,
        RData::A(A(Ipv4Addr::new(192, 0, 2, 7))),
    );
    let (question, up) = upstream(target, RecordType::A, vec![c, a], vec![]);
    let m = client_view("m.youtube.com.", 1, target, &question, &up);
    let names: Vec<String> = m.answers.iter().map(|r| r.name.to_string()).collect();
    assert_eq!(names, ["m.youtube.com.", target, "edge.youtube.com."]);
    assert_eq!(
        m.answers[0].ttl, 60,
        "the CNAME lives no longer than the records"
    );
    assert_eq!(
        m.answers[1].data,
        RData::CNAME(CNAME(name("edge.youtube.com.")))
    );

    // NODATA for the target (no HTTPS records): the CNAME and the SOA.
    let soa = SOA::new(
        name("ns1.youtube.com."),
        name("dns-admin.youtube.com."),
        1,
        900,
        900,
        1800,
        60,
    );
    let soa = Record::from_rdata(name("youtube.com."), 60, RData::SOA(soa));
    let (question, up) = upstream(target, RecordType::HTTPS, vec![], vec![soa.clone()]);
    let m = client_view("www.youtube.com.", 65, target, &question, &up);
    assert_eq!(m.answers.len(), 1);
    assert_eq!(m.answers[0].data, RData::CNAME(CNAME(name(target))));
    assert_eq!(m.authorities.len(), 1);
    assert_eq!(m.authorities[0].data, soa.data);
}

#[test]
fn unreadable_records_are_servfail_never_the_records() {
    assert_eq!(
        rewrite_body(b"\x00\x00\x01\x00\x01", "a.b", b"\xc0", [1, 0, 0], &[]),
        None
    );
    let header = Header {
        id: 1,
        flags: 0,
        qdcount: 1,
        ancount: 0,
        nscount: 0,
        arcount: 0,
    };
    let (reply, result) = reply(
        &header,
        b"\x00\x00\x01\x00\x01",
        0,
        None,
        ClientEdns::NONE,
        SearchEngine::Bing,
    );
    assert_eq!(result, QueryResult::ServFail);
    assert_eq!(reply.rcode(), RCODE_SERVFAIL);
    assert!(reply.body.is_empty());
}
