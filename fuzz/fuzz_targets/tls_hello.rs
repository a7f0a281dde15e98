//! Fuzz target `tls_hello`: the TLS ClientHello reader
//! (`ward::sni::hello`) from the raw bytes a client sends.
//!
//! The whole input is the TCP stream. For every input:
//!
//! * it is parsed whole, with a 128 KiB cap and with a small cap derived
//!   from the first byte (so `TooLarge` is reached too);
//! * it is fed again in chunks whose sizes come from the first 16 bytes,
//!   and one byte at a time: the outcome must be the same as the whole
//!   parse, whatever it is (the reader takes every verdict at a fixed
//!   byte of the stream, never at a chunk boundary);
//! * when the whole parse succeeds, the handshake bytes are cut out of
//!   their records and re-framed into records whose sizes come from the
//!   input (down to one byte each, the DPI evasion the reader must see
//!   through): that stream must give the same ClientHello.
//!
//! Panics and failed `assert!`s are findings. Seeds: the six real client
//! hellos of `../shared/fixtures/tls` (`fuzz/make_seeds.sh` copies them).

#![no_main]

use libfuzzer_sys::fuzz_target;
use ward::sni::hello::{HelloReader, MAX_RECORD_LEN, Progress, parse};

const MAX: usize = 128 * 1024;

/// Feeds `stream` in chunks of the given sizes (cycled); the last progress.
fn feed_chunks(stream: &[u8], sizes: &[usize], max: usize) -> Progress {
    let mut reader = HelloReader::new(max);
    let mut progress = reader.feed(&[]);
    let mut rest = stream;
    for &size in sizes.iter().cycle() {
        if rest.is_empty() {
            break;
        }
        let (chunk, tail) = rest.split_at(size.clamp(1, rest.len()));
        let next = reader.feed(chunk);
        if progress != Progress::NeedMore {
            assert_eq!(next, progress, "a final outcome must stick");
        }
        progress = next;
        rest = tail;
    }
    progress
}

/// Sizes in `1..=modulus` taken from `bytes`, or `[1]` if there are none.
fn sizes(bytes: &[u8], modulus: usize) -> Vec<usize> {
    let sizes: Vec<usize> = bytes
        .iter()
        .map(|&b| usize::from(b) % modulus + 1)
        .collect();
    if sizes.is_empty() { vec![1] } else { sizes }
}

/// The first record's version and the handshake message, cut out of a
/// stream the reader accepted (so its records are well-formed up to the
/// end of the message).
fn handshake_of(stream: &[u8]) -> (u16, Vec<u8>) {
    let mut rest = stream;
    let mut version = None;
    let mut handshake = Vec::new();
    loop {
        if let Some(&[_, a, b, c]) = handshake.first_chunk::<4>() {
            let len = 4 + (usize::from(a) << 16 | usize::from(b) << 8 | usize::from(c));
            if handshake.len() >= len {
                handshake.truncate(len);
                return (version.expect("at least one record"), handshake);
            }
        }
        let (header, body) = rest.split_at(5);
        version.get_or_insert(u16::from_be_bytes([header[1], header[2]]));
        let len = usize::from(u16::from_be_bytes([header[3], header[4]])).min(body.len());
        handshake.extend_from_slice(&body[..len]);
        rest = &body[len..];
    }
}

/// `handshake` in handshake records of the given sizes (cycled).
fn reframe(version: u16, handshake: &[u8], sizes: &[usize]) -> Vec<u8> {
    let mut out = Vec::new();
    let mut rest = handshake;
    for &size in sizes.iter().cycle() {
        if rest.is_empty() {
            break;
        }
        let (fragment, tail) = rest.split_at(size.clamp(1, MAX_RECORD_LEN).min(rest.len()));
        out.push(22);
        out.extend_from_slice(&version.to_be_bytes());
        out.extend_from_slice(&u16::try_from(fragment.len()).unwrap().to_be_bytes());
        out.extend_from_slice(fragment);
        rest = tail;
    }
    out
}

fuzz_target!(|data: &[u8]| {
    let head = &data[..data.len().min(16)];
    let chunks = sizes(head, 64);

    let whole = parse(data, MAX);
    assert_eq!(
        feed_chunks(data, &chunks, MAX),
        whole,
        "chunked feed differs"
    );
    assert_eq!(
        feed_chunks(data, &[1], MAX),
        whole,
        "byte-wise feed differs"
    );

    let small = usize::from(data.first().copied().unwrap_or(0)) * 4;
    let capped = parse(data, small);
    assert_eq!(
        feed_chunks(data, &chunks, small),
        capped,
        "chunked feed differs (small cap)"
    );

    if let Progress::Done(hello) = whole {
        let (version, handshake) = handshake_of(data);
        let fragments = sizes(data.get(16..32).unwrap_or_default(), 300);
        let stream = reframe(version, &handshake, &fragments);
        let expected = Progress::Done(hello);
        assert_eq!(
            parse(&stream, usize::MAX),
            expected,
            "re-framed records differ"
        );
        assert_eq!(
            feed_chunks(&stream, &chunks, usize::MAX),
            expected,
            "re-framed, chunked differs"
        );
        let one_byte_records = reframe(version, &handshake, &[1]);
        assert_eq!(
            parse(&one_byte_records, usize::MAX),
            expected,
            "one-byte records differ"
        );
    }
});
