//! Fuzz target `http_head`: the HTTP request-head parser
//! (`ward::blockpage::head::parse_head`) shared by the block page and the
//! `[http]` Host filter, from the raw bytes a client sends.
//!
//! Every input is parsed whole and then grown byte by byte, as
//! `read_head` sees a slow client: a prefix may need more bytes or fail,
//! but once a prefix parses to a head, the whole input must parse to the
//! same head (a head is decided by its own bytes, never by what follows
//! it). A parsed host must be lowercase, non-empty, without a port or
//! brackets. Panics and failed `assert!`s are findings. Seeds: requests
//! the tests use (`fuzz/seeds/http_head/`).

#![no_main]

use libfuzzer_sys::fuzz_target;
use ward::blockpage::head::parse_head;

fuzz_target!(|data: &[u8]| {
    let whole = parse_head(data);
    if let Ok(Some(head)) = &whole {
        assert!(head.len <= data.len());
        if let Some(host) = &head.host {
            assert!(!host.is_empty());
            assert!(!host.bytes().any(|b| b.is_ascii_uppercase()), "{host:?}");
            assert!(!host.starts_with('['), "{host:?}");
        }
        // The head alone parses to the same head.
        match parse_head(&data[..head.len]) {
            Ok(Some(again)) => assert_eq!(again.host, head.host),
            other => panic!("the head alone gave {other:?}"),
        }
    }
    // Prefixes, for inputs short enough to keep this cheap.
    if data.len() <= 512 {
        for end in 0..data.len() {
            if let Ok(Some(head)) = parse_head(&data[..end]) {
                match &whole {
                    Ok(Some(w)) => assert_eq!(w.host, head.host),
                    other => panic!("prefix of {end} bytes parsed, the whole gave {other:?}"),
                }
                break;
            }
        }
    }
});
