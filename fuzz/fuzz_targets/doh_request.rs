//! Fuzz target `doh_request`: a DoH request's head and body
//! (`ward::dns::doh::request`), the EDNS padding of an answer
//! (`ward::dns::padding::pad`) and its `Cache-Control`
//! (`ward::dns::doh::freshness`), from raw bytes.
//!
//! The input is split as `method byte | path?query \0 content-type \0
//! body`. A request is accepted or refused with one of RFC 8484's
//! statuses; an accepted GET holds a DNS query of at most 65,535 bytes; a
//! client id is one lowercase LDH label. The body, read as an answer, is
//! padded: a padded message is a multiple of 468 bytes, at most 65,535,
//! and padding it again changes nothing; a message not padded is left
//! byte for byte. Panics and failed `assert!`s are findings. Seeds:
//! `fuzz/seeds/doh_request/`.

#![no_main]

use libfuzzer_sys::fuzz_target;
use ward::dns::doh::freshness;
use ward::dns::doh::request::{Head, Method, Route, check_query, route};
use ward::dns::padding::{Padding, RESPONSE_BLOCK, pad};

fuzz_target!(|data: &[u8]| {
    let Some((&m, rest)) = data.split_first() else {
        return;
    };
    let method = match m % 3 {
        0 => Method::Get,
        1 => Method::Post,
        _ => Method::Other,
    };
    let mut parts = rest.splitn(3, |&b| b == 0);
    let target = String::from_utf8_lossy(parts.next().unwrap_or_default());
    let content_type = parts.next();
    let body = parts.next().unwrap_or_default();
    let (path, query) = match target.split_once('?') {
        Some((p, q)) => (p, Some(q)),
        None => (&*target, None),
    };
    let head = Head {
        method,
        path,
        query,
        content_type,
        content_length: Some(body.len() as u64),
    };
    match route(&head) {
        Ok(r) => {
            if let Some(id) = r.client_id() {
                let s = id.as_str();
                assert!((1..=63).contains(&s.len()), "{s:?}");
                assert!(s.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-'));
            }
            match r {
                Route::Get { message, .. } => {
                    assert_eq!(method, Method::Get);
                    assert!(message.len() <= 65_535);
                    assert_eq!(check_query(&message), Ok(()));
                }
                Route::Post { .. } => {
                    assert_eq!(method, Method::Post);
                    let _ = check_query(body);
                }
            }
        }
        Err(refusal) => {
            assert!(
                [400, 404, 405, 413, 415].contains(&refusal.status()),
                "{refusal:?}"
            );
        }
    }

    let _ = freshness::of_answer(body);
    let mut msg = body.to_vec();
    match pad(&mut msg, RESPONSE_BLOCK) {
        Padding::Padded => {
            assert_eq!(msg.len() % RESPONSE_BLOCK, 0);
            assert!(msg.len() <= 65_535);
            let once = msg.clone();
            assert_eq!(pad(&mut msg, RESPONSE_BLOCK), Padding::Padded);
            assert_eq!(msg, once, "padding twice changed the message");
            // Padding never changes the answer's freshness.
            assert_eq!(freshness::of_answer(&msg), freshness::of_answer(body));
        }
        _ => assert_eq!(msg, body, "a message not padded was changed"),
    }
});
