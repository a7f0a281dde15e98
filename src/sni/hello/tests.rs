//! Tests for the ClientHello reader: the real client captures in
//! `../shared/fixtures/tls` under every kind of split, and synthetic hellos
//! for each error. The record-layer helpers here (`strip_records`,
//! `reframe`, `find_extension`) are a simple reference implementation the
//! reader is compared against.

use proptest::prelude::*;

use super::*;

/// The repository's copy of `../shared/fixtures/tls` (CI clones the
/// repository alone); `fixtures_match_the_shared_originals` keeps the two
/// identical.
const FIXTURE_DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/tls/");

/// Cap used where the test is not about the cap.
const MAX: usize = 128 * 1024;

/// A TCP fixture and what its README says it carries.
struct Fixture {
    file: &'static str,
    sni: &'static [u8],
    alpn: &'static [&'static [u8]],
    ech: bool,
}

const FIXTURES: &[Fixture] = &[
    Fixture {
        file: "curl-openssl.bin",
        sni: b"blocked.example.test",
        alpn: &[b"h2", b"http/1.1"],
        ech: false,
    },
    Fixture {
        file: "openssl-s_client.bin",
        sni: b"xn--bcher-kva.example.test",
        alpn: &[],
        ech: false,
    },
    Fixture {
        file: "python-ssl.bin",
        sni: b"Mixed.Case.Example.TEST",
        alpn: &[],
        ech: false,
    },
    Fixture {
        file: "node-tls.bin",
        sni: b"node.example.test",
        alpn: &[],
        ech: false,
    },
    Fixture {
        file: "java17.bin",
        sni: b"java.example.test",
        alpn: &[],
        ech: false,
    },
    Fixture {
        file: "chromium.bin",
        sni: b"chromium.example.test",
        alpn: &[b"h2", b"http/1.1"],
        ech: true,
    },
];

impl Fixture {
    fn bytes(&self) -> Vec<u8> {
        let path = format!("{FIXTURE_DIR}{}", self.file);
        std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
    }

    fn expected(&self) -> ClientHello {
        ClientHello {
            server_names: vec![self.sni.to_vec()],
            alpn: self.alpn.iter().map(|p| p.to_vec()).collect(),
            ech_present: self.ech,
        }
    }
}

// ---------------------------------------------------------------------
// Reference helpers.

/// Splits a stream of complete handshake records into its record version
/// and the concatenated handshake bytes.
fn strip_records(stream: &[u8]) -> (u16, Vec<u8>) {
    let mut rest = stream;
    let mut version = None;
    let mut handshake = Vec::new();
    while !rest.is_empty() {
        assert_eq!(rest[0], 22, "fixture record is a handshake record");
        version.get_or_insert(u16::from_be_bytes([rest[1], rest[2]]));
        let len = usize::from(u16::from_be_bytes([rest[3], rest[4]]));
        handshake.extend_from_slice(&rest[5..5 + len]);
        rest = &rest[5 + len..];
    }
    (version.unwrap(), handshake)
}

/// Wraps `handshake` in records of the given fragment sizes, cycled.
fn reframe(version: u16, handshake: &[u8], sizes: &[usize]) -> Vec<u8> {
    let mut out = Vec::new();
    let mut rest = handshake;
    for &size in sizes.iter().cycle() {
        if rest.is_empty() {
            break;
        }
        let (fragment, tail) = rest.split_at(size.clamp(1, MAX_RECORD_LEN).min(rest.len()));
        out.extend_from_slice(&record(22, version, fragment));
        rest = tail;
    }
    out
}

/// One record.
fn record(content_type: u8, version: u16, body: &[u8]) -> Vec<u8> {
    let mut out = vec![content_type];
    out.extend_from_slice(&version.to_be_bytes());
    out.extend_from_slice(&u16::try_from(body.len()).unwrap().to_be_bytes());
    out.extend_from_slice(body);
    out
}

/// Wraps a handshake message in records of at most 2^14 bytes, version 3.1.
fn records(handshake: &[u8]) -> Vec<u8> {
    reframe(0x0301, handshake, &[MAX_PLAINTEXT_RECORD_LEN])
}

/// Feeds `stream` in chunks of the given sizes, cycled; returns the last
/// progress.
fn feed_chunks(stream: &[u8], sizes: &[usize], max: usize) -> Progress {
    let mut reader = HelloReader::new(max);
    let mut progress = reader.feed(&[]);
    let mut rest = stream;
    for &size in sizes.iter().cycle() {
        if rest.is_empty() {
            break;
        }
        let (chunk, tail) = rest.split_at(size.max(1).min(rest.len()));
        progress = reader.feed(chunk);
        rest = tail;
    }
    progress
}

fn one_byte_at_a_time(stream: &[u8], max: usize) -> Progress {
    feed_chunks(stream, &[1], max)
}

/// Offset in the handshake message of its first extension, past the
/// fixed fields and the extensions length.
fn extensions_start(message: &[u8]) -> usize {
    let mut at = 4 + 2 + 32;
    at += 1 + usize::from(message[at]);
    at += 2 + usize::from(u16::from_be_bytes([message[at], message[at + 1]]));
    at += 1 + usize::from(message[at]);
    at + 2
}

/// Offset in the handshake message of the extension `ext_type` (its type
/// field).
fn find_extension(message: &[u8], ext_type: u16) -> Option<usize> {
    let mut at = extensions_start(message);
    while at + 4 <= message.len() {
        let ty = u16::from_be_bytes([message[at], message[at + 1]]);
        if ty == ext_type {
            return Some(at);
        }
        at += 4 + usize::from(u16::from_be_bytes([message[at + 2], message[at + 3]]));
    }
    None
}

/// Adds `delta` to the big-endian u16 at `at`.
fn bump_u16(bytes: &mut [u8], at: usize, delta: i32) {
    let v = i32::from(u16::from_be_bytes([bytes[at], bytes[at + 1]])) + delta;
    bytes[at..at + 2].copy_from_slice(&u16::try_from(v).unwrap().to_be_bytes());
}

/// Adds `delta` to the big-endian u24 at `at`.
fn bump_u24(bytes: &mut [u8], at: usize, delta: i32) {
    let v = (i32::from(bytes[at]) << 16 | i32::from(bytes[at + 1]) << 8 | i32::from(bytes[at + 2]))
        + delta;
    bytes[at..at + 3].copy_from_slice(&v.to_be_bytes()[1..]);
}

/// A small xorshift generator for deterministic "random" splits.
struct XorShift(u64);

impl XorShift {
    fn below(&mut self, n: usize) -> usize {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 % n as u64) as usize
    }

    fn sizes(&mut self, count: usize, up_to: usize) -> Vec<usize> {
        (0..count).map(|_| 1 + self.below(up_to)).collect()
    }
}

// ---------------------------------------------------------------------
// Synthetic hellos.

/// An extension: type and body.
fn ext(ext_type: u16, body: &[u8]) -> Vec<u8> {
    let mut out = ext_type.to_be_bytes().to_vec();
    out.extend_from_slice(&u16::try_from(body.len()).unwrap().to_be_bytes());
    out.extend_from_slice(body);
    out
}

/// server_name extension with the given (name_type, name) entries.
fn sni_ext(entries: &[(u8, &[u8])]) -> Vec<u8> {
    let mut list = Vec::new();
    for (name_type, name) in entries {
        list.push(*name_type);
        list.extend_from_slice(&u16::try_from(name.len()).unwrap().to_be_bytes());
        list.extend_from_slice(name);
    }
    let mut body = u16::try_from(list.len()).unwrap().to_be_bytes().to_vec();
    body.extend_from_slice(&list);
    ext(0, &body)
}

fn alpn_ext(protocols: &[&[u8]]) -> Vec<u8> {
    let mut list = Vec::new();
    for p in protocols {
        list.push(u8::try_from(p.len()).unwrap());
        list.extend_from_slice(p);
    }
    let mut body = u16::try_from(list.len()).unwrap().to_be_bytes().to_vec();
    body.extend_from_slice(&list);
    ext(16, &body)
}

/// A ClientHello handshake message (header included) with the given
/// extensions, or none at all (no extensions length either).
fn hello(extensions: Option<&[Vec<u8>]>) -> Vec<u8> {
    hello_with_suites(&[0x13, 0x01, 0x13, 0x02], extensions)
}

/// The same with the given cipher_suites list.
fn hello_with_suites(suites: &[u8], extensions: Option<&[Vec<u8>]>) -> Vec<u8> {
    let mut body = vec![3, 3];
    body.extend_from_slice(&[0xab; 32]); // random
    body.push(32);
    body.extend_from_slice(&[0xcd; 32]); // session_id
    body.extend_from_slice(&u16::try_from(suites.len()).unwrap().to_be_bytes());
    body.extend_from_slice(suites);
    body.extend_from_slice(&[1, 0]); // compression_methods
    if let Some(extensions) = extensions {
        let all: Vec<u8> = extensions.concat();
        body.extend_from_slice(&u16::try_from(all.len()).unwrap().to_be_bytes());
        body.extend_from_slice(&all);
    }
    let mut message = vec![1];
    message.extend_from_slice(&u32::try_from(body.len()).unwrap().to_be_bytes()[1..]);
    message.extend_from_slice(&body);
    message
}

fn hello_with(extensions: &[Vec<u8>]) -> Vec<u8> {
    hello(Some(extensions))
}

fn done(progress: Progress) -> ClientHello {
    match progress {
        Progress::Done(hello) => hello,
        other => panic!("expected Done, got {other:?}"),
    }
}

fn malformed(progress: Progress) -> (usize, &'static str) {
    match progress {
        Progress::Failed(HelloError::Malformed { offset, what }) => (offset, what),
        other => panic!("expected Malformed, got {other:?}"),
    }
}

fn names(hello: &ClientHello) -> Vec<&[u8]> {
    hello.server_names.iter().map(Vec::as_slice).collect()
}

// ---------------------------------------------------------------------
// 1. The fixtures.

#[test]
fn fixtures_parse_to_the_names_in_the_readme() {
    for f in FIXTURES {
        let hello = done(parse(&f.bytes(), MAX));
        assert_eq!(hello, f.expected(), "{}", f.file);
    }
}

#[test]
fn python_fixture_keeps_the_mixed_case_name() {
    let f = FIXTURES
        .iter()
        .find(|f| f.file == "python-ssl.bin")
        .unwrap();
    let hello = done(parse(&f.bytes(), MAX));
    assert_eq!(names(&hello), [b"Mixed.Case.Example.TEST".as_slice()]);
}

#[test]
fn chromium_fixture_has_grease_ech_and_alpn() {
    let f = FIXTURES.iter().find(|f| f.file == "chromium.bin").unwrap();
    let hello = done(parse(&f.bytes(), MAX));
    assert!(hello.ech_present);
    assert_eq!(hello.alpn, [b"h2".to_vec(), b"http/1.1".to_vec()]);
}

// ---------------------------------------------------------------------
// 2. Re-split fixtures.

#[test]
fn fixtures_parse_fed_one_byte_at_a_time() {
    for f in FIXTURES {
        assert_eq!(
            done(one_byte_at_a_time(&f.bytes(), MAX)),
            f.expected(),
            "{}",
            f.file
        );
    }
}

#[test]
fn fixtures_parse_in_one_byte_records() {
    for f in FIXTURES {
        let (version, handshake) = strip_records(&f.bytes());
        let stream = reframe(version, &handshake, &[1]);
        assert_eq!(stream.len(), handshake.len() * 6);
        assert_eq!(done(parse(&stream, MAX)), f.expected(), "{} whole", f.file);
        assert_eq!(
            done(one_byte_at_a_time(&stream, MAX)),
            f.expected(),
            "{} bytewise",
            f.file
        );
    }
}

#[test]
fn fixtures_parse_with_records_split_inside_the_sni_extension() {
    for f in FIXTURES {
        let (version, handshake) = strip_records(&f.bytes());
        let sni = find_extension(&handshake, 0).unwrap();
        let name = sni + 9; // type, ext length, list length, name type, name length
        assert_eq!(&handshake[name..name + f.sni.len()], f.sni, "{}", f.file);
        // Cut before the extension, inside each of its length fields, and
        // inside the name, in two records and in three.
        let cuts = [
            sni,
            sni + 1,
            sni + 3,
            sni + 5,
            sni + 6,
            sni + 8,
            name,
            name + 3,
            name + f.sni.len() - 1,
        ];
        for cut in cuts {
            let stream = reframe(version, &handshake, &[cut, handshake.len()]);
            assert_eq!(
                done(parse(&stream, MAX)),
                f.expected(),
                "{} cut at {cut}",
                f.file
            );
            assert_eq!(
                done(one_byte_at_a_time(&stream, MAX)),
                f.expected(),
                "{} cut at {cut}",
                f.file
            );
            let stream = reframe(version, &handshake, &[cut, 2, handshake.len()]);
            assert_eq!(
                done(parse(&stream, MAX)),
                f.expected(),
                "{} cuts at {cut}, +2",
                f.file
            );
        }
    }
}

#[test]
fn fixtures_parse_with_random_splits() {
    let mut rng = XorShift(0x5eed_1e55_c0ff_ee00);
    for f in FIXTURES {
        let bytes = f.bytes();
        let (version, handshake) = strip_records(&bytes);
        for _ in 0..50 {
            let chunks = rng.sizes(8, 64);
            assert_eq!(
                done(feed_chunks(&bytes, &chunks, MAX)),
                f.expected(),
                "{} {chunks:?}",
                f.file
            );
            let fragments = rng.sizes(8, 300);
            let stream = reframe(version, &handshake, &fragments);
            assert_eq!(
                done(feed_chunks(&stream, &chunks, MAX)),
                f.expected(),
                "{} records {fragments:?} chunks {chunks:?}",
                f.file
            );
        }
    }
}

// ---------------------------------------------------------------------
// 3. Truncation, lies, caps, odd streams.

#[test]
fn every_prefix_of_a_fixture_needs_more() {
    for f in FIXTURES {
        let bytes = f.bytes();
        for end in 0..bytes.len() {
            assert_eq!(
                parse(&bytes[..end], MAX),
                Progress::NeedMore,
                "{} prefix {end}",
                f.file
            );
        }
    }
}

#[test]
fn every_prefix_of_a_fixture_in_one_byte_records_needs_more() {
    for f in FIXTURES {
        let (version, handshake) = strip_records(&f.bytes());
        let stream = reframe(version, &handshake, &[1]);
        let mut reader = HelloReader::new(MAX);
        let (last, prefix) = stream.split_last().unwrap();
        for (i, b) in prefix.iter().enumerate() {
            assert_eq!(
                reader.feed(&[*b]),
                Progress::NeedMore,
                "{} byte {i}",
                f.file
            );
        }
        assert_eq!(done(reader.feed(&[*last])), f.expected(), "{}", f.file);
    }
}

#[test]
fn record_length_lies() {
    let f = &FIXTURES[0];
    let bytes = f.bytes();
    // Longer than the bytes: the hello ends inside the record, which is
    // fine (the rest of the record is not the reader's business).
    let mut longer = bytes.clone();
    bump_u16(&mut longer, 3, 1);
    assert_eq!(done(parse(&longer, MAX)), f.expected());
    // Shorter: the last handshake byte is read as the next record's type.
    let mut shorter = bytes.clone();
    bump_u16(&mut shorter, 3, -1);
    let (offset, what) = malformed(parse(&shorter, MAX));
    assert_eq!(offset, bytes.len() - 1);
    assert_eq!(
        what,
        "non-handshake record before the ClientHello was complete"
    );
    // Beyond any TLS version's limit.
    let mut huge = bytes.clone();
    huge[3..5].copy_from_slice(&u16::try_from(MAX_RECORD_LEN + 1).unwrap().to_be_bytes());
    assert_eq!(
        malformed(parse(&huge[..5], MAX)),
        (3, "record longer than 2^14 + 2048 bytes")
    );
}

#[test]
fn handshake_length_lies() {
    let f = &FIXTURES[0];
    let bytes = f.bytes();
    // Longer: the reader waits for another record...
    let mut longer = bytes.clone();
    bump_u24(&mut longer, 6, 1);
    assert_eq!(parse(&longer, MAX), Progress::NeedMore);
    // ...whose byte is then trailing data after the extensions.
    longer.extend_from_slice(&record(22, 0x0301, &[0]));
    assert_eq!(
        malformed(parse(&longer, MAX)).1,
        "trailing bytes after the extensions"
    );
    // Shorter: the message ends inside the extensions.
    let mut shorter = bytes.clone();
    bump_u24(&mut shorter, 6, -1);
    assert_eq!(
        malformed(parse(&shorter, MAX)).1,
        "extensions overrun the message"
    );
    // Far too short for the fixed fields.
    let mut tiny = bytes.clone();
    tiny[6..9].copy_from_slice(&[0, 0, 20]);
    assert_eq!(malformed(parse(&tiny, MAX)), (4 + 2, "random truncated"));
}

#[test]
fn extensions_length_lies() {
    for f in FIXTURES {
        let (version, handshake) = strip_records(&f.bytes());
        let len_at = extensions_start(&handshake) - 2;
        for (delta, what) in [
            (1, "extensions overrun the message"),
            (-1, "trailing bytes after the extensions"),
        ] {
            let mut lie = handshake.clone();
            bump_u16(&mut lie, len_at, delta);
            let stream = reframe(version, &lie, &[MAX_RECORD_LEN]);
            assert_eq!(malformed(parse(&stream, MAX)).1, what, "{} {delta}", f.file);
        }
    }
}

#[test]
fn server_name_length_lies() {
    for f in FIXTURES {
        let (version, handshake) = strip_records(&f.bytes());
        let sni = find_extension(&handshake, 0).unwrap();
        // (field offset, delta, expected error)
        let cases = [
            (sni + 2, 1, "trailing bytes after the server_name list"),
            (sni + 2, -1, "server_name list overruns the extension"),
            (sni + 4, 1, "server_name list overruns the extension"),
            (sni + 4, -1, "trailing bytes after the server_name list"),
            (sni + 7, 1, "server name overruns the server_name list"),
            // The last name byte is read as the next entry's type.
            (sni + 7, -1, "server name overruns the server_name list"),
        ];
        for (at, delta, what) in cases {
            let mut lie = handshake.clone();
            bump_u16(&mut lie, at, delta);
            let stream = reframe(version, &lie, &[MAX_RECORD_LEN]);
            assert_eq!(
                malformed(parse(&stream, MAX)).1,
                what,
                "{} field {} {delta}",
                f.file,
                at - sni
            );
        }
    }
}

#[test]
fn length_lies_point_at_the_lying_field() {
    let message = hello_with(&[sni_ext(&[(0, b"a.test")])]);
    let sni = find_extension(&message, 0).unwrap();
    let mut lie = message.clone();
    bump_u16(&mut lie, sni + 7, 1);
    assert_eq!(
        malformed(parse(&records(&lie), MAX)),
        (sni + 7, "server name overruns the server_name list")
    );
}

/// A hello of more than 100 KiB. One extension cannot hold 100 KiB (its
/// length is 16 bits, and so is the whole extensions block's), so the
/// bulk is a maximal padding extension plus 40 000 bytes of cipher suites.
fn hello_of_100_kib() -> Vec<u8> {
    let sni = sni_ext(&[(0, b"padded.example.test")]);
    let padding = ext(21, &vec![0; 0xffff - sni.len() - 4]);
    let suites: Vec<u8> = (0..20_000u16)
        .flat_map(|s| (s | 0x8000).to_be_bytes())
        .collect();
    let message = hello_with_suites(&suites, Some(&[sni, padding]));
    assert!(message.len() > 100 * 1024);
    message
}

#[test]
fn hello_of_100_kib_parses_under_a_128_kib_cap() {
    let message = hello_of_100_kib();
    let stream = records(&message);
    assert!(stream.len() > 100 * 1024 && stream.len() < 128 * 1024);
    let hello = done(parse(&stream, 128 * 1024));
    assert_eq!(names(&hello), [b"padded.example.test".as_slice()]);
    // The padding extension alone, the largest one there can be, also
    // parses.
    let sni = sni_ext(&[(0, b"padded.example.test")]);
    let padding = ext(21, &vec![0; 0xffff - sni.len() - 4]);
    assert_eq!(
        done(parse(&records(&hello_with(&[sni, padding])), MAX)),
        hello
    );
    // One byte at a time stays linear: 100 Ki feeds.
    assert_eq!(done(one_byte_at_a_time(&stream, 128 * 1024)), hello);
}

#[test]
fn hello_of_100_kib_is_too_large_under_a_64_kib_cap_at_once() {
    let message = hello_of_100_kib();
    let stream = records(&message);
    // The declared length alone decides: the first record header plus the
    // handshake header.
    let mut reader = HelloReader::new(64 * 1024);
    assert_eq!(reader.feed(&stream[..8]), Progress::NeedMore);
    assert_eq!(
        reader.feed(&stream[8..9]),
        Progress::Failed(HelloError::TooLarge { max: 64 * 1024 })
    );
}

#[test]
fn cap_counts_record_headers_and_is_exact() {
    let f = &FIXTURES[3];
    let (version, handshake) = strip_records(&f.bytes());
    let stream = reframe(version, &handshake, &[1]);
    // Exactly enough.
    assert_eq!(done(parse(&stream, stream.len())), f.expected());
    assert_eq!(
        done(one_byte_at_a_time(&stream, stream.len())),
        f.expected()
    );
    // One byte short: the declared length fits in fewer headers, so only
    // the running count catches it, at the byte past the cap.
    let max = stream.len() - 1;
    let mut reader = HelloReader::new(max);
    assert_eq!(reader.feed(&stream[..max]), Progress::NeedMore);
    assert_eq!(
        reader.feed(&stream[max..]),
        Progress::Failed(HelloError::TooLarge { max })
    );
    // A cap below the message itself fails as soon as its length is in.
    let whole = f.bytes();
    let max = whole.len() - 1;
    assert_eq!(
        parse(&whole[..9], max),
        Progress::Failed(HelloError::TooLarge { max })
    );
    assert_eq!(done(parse(&whole, whole.len())), f.expected());
}

#[test]
fn declared_length_counts_the_fewest_record_headers() {
    // A message longer than one record needs at least two headers.
    let message = hello_with(&[ext(21, &vec![0; MAX_RECORD_LEN])]);
    let stream = reframe(0x0303, &message, &[MAX_RECORD_LEN]);
    assert_eq!(stream.len(), message.len() + 2 * 5);
    assert_eq!(done(parse(&stream, stream.len())), ClientHello::default());
    let max = stream.len() - 1;
    assert_eq!(
        parse(&stream[..9], max),
        Progress::Failed(HelloError::TooLarge { max })
    );
}

#[test]
fn duplicate_extensions_are_malformed() {
    let message = hello_with(&[
        sni_ext(&[(0, b"a.test")]),
        ext(23, &[]),
        sni_ext(&[(0, b"b.test")]),
    ]);
    let second = 4 + 2 + 32 + 33 + 6 + 2 + 2 + 15 + 4;
    assert_eq!(
        malformed(parse(&records(&message), MAX)),
        (second, "duplicate extension type")
    );
    // Any type, not just the ones we read.
    let message = hello_with(&[ext(0x1234, &[1]), ext(0x1234, &[2])]);
    assert_eq!(
        malformed(parse(&records(&message), MAX)).1,
        "duplicate extension type"
    );
    // Distinct types that share a bitmap word are fine.
    let message = hello_with(&[ext(1, &[]), ext(63, &[]), ext(64, &[]), ext(0xffff, &[])]);
    assert_eq!(done(parse(&records(&message), MAX)), ClientHello::default());
}

#[test]
fn http_request_is_not_tls_on_the_first_byte() {
    let mut reader = HelloReader::new(MAX);
    assert!(matches!(
        reader.feed(b"G"),
        Progress::Failed(HelloError::NotTls(_))
    ));
    assert!(matches!(
        parse(b"GET / HTTP/1.1\r\n", MAX),
        Progress::Failed(HelloError::NotTls(_))
    ));
    // The verdict sticks.
    assert!(matches!(
        reader.feed(b"ET / HTTP/1.1\r\n"),
        Progress::Failed(HelloError::NotTls(_))
    ));
}

#[test]
fn garbage_is_not_tls() {
    for garbage in [
        &b"\x00"[..],
        b"\xff\xff\xff\xff",
        b"SSH-2.0-OpenSSH_9.2\r\n",
        b"\x16\x02",             // major version 2
        b"\x16\x03\x05",         // 3.5
        b"\x16\xfe\xfd",         // DTLS 1.2
        b"\x80\x2e\x01\x03\x01", // SSLv2-compatible hello
    ] {
        assert!(
            matches!(parse(garbage, MAX), Progress::Failed(HelloError::NotTls(_))),
            "{garbage:?}"
        );
    }
}

#[test]
fn alert_record_first_is_not_tls() {
    let alert = record(21, 0x0301, &[2, 40]);
    assert!(matches!(
        parse(&alert, MAX),
        Progress::Failed(HelloError::NotTls(_))
    ));
    assert!(matches!(
        parse(&alert[..1], MAX),
        Progress::Failed(HelloError::NotTls(_))
    ));
}

#[test]
fn record_versions_3_0_to_3_4_are_accepted() {
    let message = hello_with(&[sni_ext(&[(0, b"v.test")])]);
    for version in 0x0300..=0x0304 {
        let stream = reframe(version, &message, &[MAX_RECORD_LEN]);
        assert_eq!(
            names(&done(parse(&stream, MAX))),
            [b"v.test".as_slice()],
            "{version:#06x}"
        );
    }
}

#[test]
fn later_records_must_be_handshake_records() {
    let f = &FIXTURES[2];
    let (version, handshake) = strip_records(&f.bytes());
    let (head, tail) = handshake.split_at(100);
    let first = record(22, version, head);
    for (interloper, what) in [
        (
            record(21, version, &[1, 0]),
            "non-handshake record before the ClientHello was complete",
        ),
        (
            record(20, version, &[1]),
            "non-handshake record before the ClientHello was complete",
        ),
        (
            record(23, version, &[1, 2, 3]),
            "non-handshake record before the ClientHello was complete",
        ),
        (
            record(22, 0x0305, tail),
            "record version above 3.4 (TLS 1.3)",
        ),
        (record(22, 0x0403, tail), "record major version is not 3"),
    ] {
        let mut stream = first.clone();
        stream.extend_from_slice(&interloper);
        stream.extend_from_slice(&record(22, version, tail));
        let at = first.len()
            + if interloper[0] != 22 {
                0
            } else if interloper[1] != 3 {
                1
            } else {
                2
            };
        assert_eq!(malformed(parse(&stream, MAX)), (at, what));
    }
}

#[test]
fn zero_length_handshake_records_are_malformed() {
    assert_eq!(
        malformed(parse(&record(22, 0x0301, &[]), MAX)),
        (3, "zero-length handshake record")
    );
    let f = &FIXTURES[1];
    let (version, handshake) = strip_records(&f.bytes());
    let (head, tail) = handshake.split_at(10);
    let mut stream = record(22, version, head);
    stream.extend_from_slice(&record(22, version, &[]));
    stream.extend_from_slice(&record(22, version, tail));
    assert_eq!(
        malformed(parse(&stream, MAX)),
        (15 + 3, "zero-length handshake record")
    );
}

#[test]
fn record_length_limit_is_lenient_up_to_2_14_plus_2048() {
    for len in [
        MAX_PLAINTEXT_RECORD_LEN,
        MAX_PLAINTEXT_RECORD_LEN + 1,
        MAX_RECORD_LEN,
    ] {
        // A hello that fills the record exactly.
        let fixed = hello_with(&[ext(21, &[])]).len();
        let message = hello_with(&[ext(21, &vec![0; len - fixed])]);
        assert_eq!(message.len(), len);
        assert_eq!(
            done(parse(&record(22, 0x0301, &message), MAX)),
            ClientHello::default()
        );
    }
    let mut header = record(22, 0x0301, &[]);
    header[3..5].copy_from_slice(&u16::try_from(MAX_RECORD_LEN + 1).unwrap().to_be_bytes());
    assert_eq!(
        malformed(parse(&header, MAX)),
        (3, "record longer than 2^14 + 2048 bytes")
    );
}

#[test]
fn first_handshake_message_must_be_a_client_hello() {
    let mut message = hello_with(&[]);
    message[0] = 2; // server_hello
    assert_eq!(
        malformed(parse(&records(&message), MAX)),
        (0, "first handshake message is not a ClientHello")
    );
    // Found at the first handshake byte.
    assert_eq!(
        malformed(one_byte_at_a_time(&records(&message)[..6], MAX)),
        (0, "first handshake message is not a ClientHello")
    );
}

#[test]
fn hello_without_extensions_has_no_names() {
    let message = hello(None);
    assert_eq!(done(parse(&records(&message), MAX)), ClientHello::default());
    // An empty extensions block is the same.
    assert_eq!(
        done(parse(&records(&hello_with(&[])), MAX)),
        ClientHello::default()
    );
}

#[test]
fn hello_without_sni_has_no_names() {
    let message = hello_with(&[alpn_ext(&[b"h2"]), ext(0x2b, &[2, 3, 4])]);
    let hello = done(parse(&records(&message), MAX));
    assert!(hello.server_names.is_empty());
    assert_eq!(hello.alpn, [b"h2".to_vec()]);
    assert!(!hello.ech_present);
}

#[test]
fn every_host_name_is_returned_in_order() {
    let message = hello_with(&[sni_ext(&[(0, b"first.test"), (0, b"second.test")])]);
    let hello = done(parse(&records(&message), MAX));
    assert_eq!(
        names(&hello),
        [b"first.test".as_slice(), b"second.test".as_slice()]
    );
}

#[test]
fn unknown_name_types_are_skipped() {
    let message = hello_with(&[sni_ext(&[(7, b"\x01\x02"), (0, b"real.test"), (255, b"")])]);
    assert_eq!(
        names(&done(parse(&records(&message), MAX))),
        [b"real.test".as_slice()]
    );
    // Only unknown types: no names, not an error.
    let message = hello_with(&[sni_ext(&[(1, b"x")])]);
    assert!(done(parse(&records(&message), MAX)).server_names.is_empty());
}

#[test]
fn names_are_raw_bytes() {
    let raw: &[u8] = b"B\xc3\xbccher.Example.TEST.";
    let message = hello_with(&[sni_ext(&[(0, raw)])]);
    assert_eq!(names(&done(parse(&records(&message), MAX))), [raw]);
}

#[test]
fn empty_server_name_list_or_name_is_malformed() {
    let message = hello_with(&[ext(0, &[0, 0])]);
    assert_eq!(
        malformed(parse(&records(&message), MAX)).1,
        "empty server_name list"
    );
    let message = hello_with(&[sni_ext(&[(0, b"")])]);
    assert_eq!(
        malformed(parse(&records(&message), MAX)).1,
        "empty host_name"
    );
    // An empty extension body has no list length at all.
    let message = hello_with(&[ext(0, &[])]);
    assert_eq!(
        malformed(parse(&records(&message), MAX)).1,
        "server_name list overruns the extension"
    );
}

#[test]
fn alpn_errors_are_malformed() {
    let message = hello_with(&[alpn_ext(&[b"h2", b""])]);
    assert_eq!(
        malformed(parse(&records(&message), MAX)).1,
        "empty ALPN protocol name"
    );
    let message = hello_with(&[ext(16, &[0, 0])]);
    assert_eq!(
        malformed(parse(&records(&message), MAX)).1,
        "empty ALPN list"
    );
    let message = hello_with(&[ext(16, &[0, 3, 5, b'h', b'2'])]);
    assert_eq!(
        malformed(parse(&records(&message), MAX)).1,
        "ALPN protocol name overruns the ALPN list"
    );
    let message = hello_with(&[ext(16, &[0, 3, 2, b'h', b'2', 0])]);
    assert_eq!(
        malformed(parse(&records(&message), MAX)).1,
        "trailing bytes after the ALPN list"
    );
}

#[test]
fn ech_extension_is_reported() {
    let message = hello_with(&[sni_ext(&[(0, b"public.test")]), ext(0xfe0d, &[0, 1, 2])]);
    let hello = done(parse(&records(&message), MAX));
    assert!(hello.ech_present);
    assert_eq!(names(&hello), [b"public.test".as_slice()]);
}

#[test]
fn fixed_field_errors_are_malformed() {
    let base = hello_with(&[]);
    // session_id length (offset 38) above 32.
    let mut m = base.clone();
    m[38] = 33;
    assert_eq!(
        malformed(parse(&records(&m), MAX)),
        (38, "session_id longer than 32 bytes")
    );
    // cipher_suites length (offset 71): odd, then zero.
    let mut m = base.clone();
    m[72] = 3;
    assert_eq!(malformed(parse(&records(&m), MAX)).0, 71);
    let mut m = base.clone();
    m[72] = 0;
    let (offset, what) = malformed(parse(&records(&m), MAX));
    assert_eq!(
        (offset, what),
        (71, "cipher_suites length is not a positive even number")
    );
    // No compression methods (offset 77).
    let mut m = base.clone();
    m[77] = 0;
    assert_eq!(malformed(parse(&records(&m), MAX)).0, 77);
}

#[test]
fn trailing_bytes_inside_the_message_are_malformed() {
    let mut message = hello_with(&[sni_ext(&[(0, b"a.test")])]);
    message.push(0);
    bump_u24(&mut message, 1, 1);
    let (offset, what) = malformed(parse(&records(&message), MAX));
    assert_eq!(
        (offset, what),
        (message.len() - 1, "trailing bytes after the extensions")
    );
}

#[test]
fn bytes_after_the_hello_are_ignored() {
    let f = &FIXTURES[4];
    let (version, handshake) = strip_records(&f.bytes());
    // Inside the last record: another handshake message.
    let mut within = handshake.clone();
    within.extend_from_slice(&[20, 0, 0, 1, 0xff]);
    let stream = reframe(version, &within, &[MAX_RECORD_LEN]);
    assert_eq!(done(parse(&stream, MAX)), f.expected());
    // After the record: change_cipher_spec and application data.
    let mut after = f.bytes();
    after.extend_from_slice(&record(20, 0x0303, &[1]));
    after.extend_from_slice(&record(23, 0x0303, b"early data"));
    assert_eq!(done(parse(&after, MAX)), f.expected());
    // Those bytes do not count against the cap.
    let len = f.bytes().len();
    assert_eq!(done(parse(&after, len)), f.expected());
}

#[test]
fn the_outcome_sticks() {
    let f = &FIXTURES[0];
    let mut reader = HelloReader::new(MAX);
    assert_eq!(done(reader.feed(&f.bytes())), f.expected());
    assert_eq!(done(reader.feed(b"anything")), f.expected());
    assert_eq!(done(reader.feed(&[])), f.expected());
}

#[test]
fn empty_feeds_need_more() {
    let mut reader = HelloReader::new(MAX);
    assert_eq!(reader.feed(&[]), Progress::NeedMore);
    assert_eq!(HelloReader::new(0).feed(&[]), Progress::NeedMore);
    assert_eq!(
        HelloReader::new(0).feed(&[22]),
        Progress::Failed(HelloError::TooLarge { max: 0 })
    );
}

// ---------------------------------------------------------------------
// 4. Properties.

proptest! {
    #[test]
    fn prop_any_split_parses_the_same(
        index in 0..FIXTURES.len(),
        fragments in proptest::collection::vec(1usize..700, 1..24),
        chunks in proptest::collection::vec(1usize..700, 1..24),
    ) {
        let f = &FIXTURES[index];
        let bytes = f.bytes();
        let whole = parse(&bytes, MAX);
        prop_assert_eq!(&whole, &Progress::Done(f.expected()));
        prop_assert_eq!(&feed_chunks(&bytes, &chunks, MAX), &whole);
        let (version, handshake) = strip_records(&bytes);
        let stream = reframe(version, &handshake, &fragments);
        prop_assert_eq!(&parse(&stream, MAX), &whole);
        prop_assert_eq!(&feed_chunks(&stream, &chunks, MAX), &whole);
    }

    #[test]
    fn prop_arbitrary_bytes_never_panic(
        tls_start in any::<bool>(),
        random in proptest::collection::vec(any::<u8>(), 0..2048),
        chunks in proptest::collection::vec(1usize..64, 1..8),
    ) {
        // Half the cases start like a TLS record, to get past the first
        // bytes.
        let mut bytes = if tls_start { vec![22, 3, 1] } else { Vec::new() };
        bytes.extend_from_slice(&random);
        let whole = parse(&bytes, 4096);
        prop_assert_eq!(feed_chunks(&bytes, &chunks, 4096), whole);
    }

    #[test]
    fn prop_arbitrary_messages_never_panic(
        body in proptest::collection::vec(any::<u8>(), 0..2048),
        fragments in proptest::collection::vec(1usize..300, 1..8),
        chunks in proptest::collection::vec(1usize..64, 1..8),
    ) {
        // Past the record layer: a framed handshake message of random
        // content, reframed and rechunked.
        let mut message = vec![1];
        message.extend_from_slice(&u32::try_from(body.len()).unwrap().to_be_bytes()[1..]);
        message.extend_from_slice(&body);
        let whole = parse(&records(&message), MAX);
        let stream = reframe(0x0303, &message, &fragments);
        prop_assert_eq!(&parse(&stream, MAX), &whole);
        prop_assert_eq!(&feed_chunks(&stream, &chunks, MAX), &whole);
    }

    #[test]
    fn prop_mutated_fixtures_split_the_same(
        index in 0..FIXTURES.len(),
        edits in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..4),
        cut in any::<prop::sample::Index>(),
        chunks in proptest::collection::vec(1usize..400, 1..8),
        max in 300usize..3000,
    ) {
        let mut bytes = FIXTURES[index].bytes();
        for (at, value) in &edits {
            let at = at.index(bytes.len());
            bytes[at] = *value;
        }
        bytes.truncate(cut.index(bytes.len() + 1));
        let whole = parse(&bytes, max);
        prop_assert_eq!(feed_chunks(&bytes, &chunks, max), whole);
    }
}

/// The copies in `tests/fixtures/tls` are byte for byte the shared
/// reference captures, wherever those are present (a developer machine;
/// CI has only the repository).
#[test]
fn fixtures_match_the_shared_originals() {
    let shared = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/fixtures/tls");
    let Ok(entries) = std::fs::read_dir(&shared) else {
        eprintln!("{} not present: nothing to compare", shared.display());
        return;
    };
    let mut compared = 0;
    for entry in entries {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_str().unwrap().to_owned();
        let copy = std::fs::read(format!("{FIXTURE_DIR}{name}")).unwrap_or_else(|e| {
            panic!(
                "tests/fixtures/tls/{name} is missing ({e}): copy it from {}",
                shared.display()
            )
        });
        assert!(
            copy == std::fs::read(&path).unwrap(),
            "tests/fixtures/tls/{name} differs from {}",
            path.display()
        );
        compared += 1;
    }
    assert!(
        compared >= 6,
        "only {compared} fixtures in {}",
        shared.display()
    );
}
