//! A DoH request's head and body to a DNS query, or the HTTP status that
//! refuses it (RFC 8484 §4.1). Pure; fuzzed by `doh_request`.
//!
//! * `GET /dns-query?dns=<base64url, no padding>` and `POST /dns-query`
//!   with `Content-Type: application/dns-message`;
//! * `/dns-query/<client-id>`: the same, with a client id that picks a
//!   school profile. The id must be one DNS label (letters, digits and
//!   hyphens, 1–63 bytes, no hyphen first or last), compared case-folded;
//!   a malformed one is a 400. Whether a well-formed id is configured is
//!   never told: an unknown one gets the default profile.
//!
//! Refusals, checked in this order: another path 404; another method
//! 405; a malformed client id 400; for GET a missing, repeated or
//! non-base64url `dns` parameter (padding included) 400 and one over
//! 65,535 bytes decoded 413; for POST another content type 415 and a body
//! over 65,535 bytes 413; then a message that is not a DNS query (shorter
//! than a header, or a response) 400.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

use crate::dns::wire::{HEADER_LEN, flags};
use crate::instrument::label_enum;
use crate::policy::ClientId;

/// The path DoH is served on, as RFC 8484's examples and every client's
/// default template use.
pub const PATH: &str = "/dns-query";
/// The media type of a DNS message (RFC 8484 §6).
pub const CONTENT_TYPE: &str = "application/dns-message";
/// The largest DNS message (and so the largest POST body).
pub const MAX_MESSAGE: usize = u16::MAX as usize;
/// The longest `dns` parameter whose decoding can fit [`MAX_MESSAGE`].
const MAX_ENCODED: usize = MAX_MESSAGE.div_ceil(3) * 4;

/// The request method, as far as DoH cares.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    Get,
    Post,
    /// Anything else (HEAD, PUT, OPTIONS, …): 405.
    Other,
}

/// What [`route`] reads of a request.
#[derive(Debug, Clone, Copy)]
pub struct Head<'a> {
    pub method: Method,
    /// The URI's path, without its query.
    pub path: &'a str,
    /// The URI's query, without the `?`.
    pub query: Option<&'a str>,
    /// The `Content-Type` header's value, if any.
    pub content_type: Option<&'a [u8]>,
    /// The `Content-Length` header's value, if any and a number.
    pub content_length: Option<u64>,
}

/// A request [`route`] accepts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Route {
    /// A GET: the message came in the URI.
    Get {
        client_id: Option<ClientId>,
        message: Vec<u8>,
    },
    /// A POST: the message is the body, to be read (at most
    /// [`MAX_MESSAGE`] bytes) and passed to [`check_query`].
    Post { client_id: Option<ClientId> },
}

impl Route {
    pub fn client_id(&self) -> Option<ClientId> {
        match self {
            Self::Get { client_id, .. } | Self::Post { client_id } => *client_id,
        }
    }
}

label_enum! {
    /// How a DoH request ended (`ward_doh_requests_total{result}`).
    pub enum Outcome {
        /// Answered with a DNS message (whatever its RCODE).
        Ok = "ok",
        /// 400: a bad `dns` parameter, client id or message.
        BadRequest = "bad_request",
        /// 404: another path.
        NotFound = "not_found",
        /// 405: another method.
        MethodNotAllowed = "method_not_allowed",
        /// 413: a message over 65,535 bytes.
        PayloadTooLarge = "payload_too_large",
        /// 415: a POST with another content type.
        UnsupportedMediaType = "unsupported_media_type",
        /// 408: a POST body that did not arrive within the idle timeout.
        Timeout = "timeout",
        /// 503: the listener's queries in flight are at their cap.
        Busy = "busy",
    }
}

/// Why a request is refused; [`Refusal::status`] is its HTTP status.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    #[error("not found: DNS over HTTPS is served on /dns-query")]
    NotFound,
    #[error("method not allowed: use GET or POST")]
    MethodNotAllowed,
    #[error("the client id in the path is not one DNS label (letters, digits, hyphens; 1-63)")]
    BadClientId,
    #[error("a GET needs exactly one dns parameter")]
    NoDnsParameter,
    #[error("the dns parameter is not base64url without padding")]
    BadBase64,
    #[error("the DNS message is over 65535 bytes")]
    TooLarge,
    #[error("the content type must be application/dns-message")]
    WrongContentType,
    #[error("the message is not a DNS query")]
    NotAQuery,
    #[error("the request body did not arrive in time")]
    Timeout,
    #[error("too many queries in flight; try again")]
    Busy,
}

impl Refusal {
    /// The HTTP status code.
    pub fn status(self) -> u16 {
        match self {
            Self::NotFound => 404,
            Self::MethodNotAllowed => 405,
            Self::BadClientId | Self::NoDnsParameter | Self::BadBase64 | Self::NotAQuery => 400,
            Self::TooLarge => 413,
            Self::WrongContentType => 415,
            Self::Timeout => 408,
            Self::Busy => 503,
        }
    }

    /// Its label in `ward_doh_requests_total`.
    pub fn outcome(self) -> Outcome {
        match self.status() {
            404 => Outcome::NotFound,
            405 => Outcome::MethodNotAllowed,
            413 => Outcome::PayloadTooLarge,
            415 => Outcome::UnsupportedMediaType,
            408 => Outcome::Timeout,
            503 => Outcome::Busy,
            _ => Outcome::BadRequest,
        }
    }
}

/// Reads a request's head: where the query is and which client id it
/// names, or why it is refused.
pub fn route(head: &Head<'_>) -> Result<Route, Refusal> {
    let rest = head.path.strip_prefix(PATH).ok_or(Refusal::NotFound)?;
    let id = match rest {
        "" => None,
        _ => {
            let id = rest.strip_prefix('/').ok_or(Refusal::NotFound)?;
            if id.contains('/') {
                return Err(Refusal::NotFound);
            }
            Some(id)
        }
    };
    if head.method == Method::Other {
        return Err(Refusal::MethodNotAllowed);
    }
    let client_id = match id {
        None => None,
        Some(id) => Some(ClientId::parse(id).ok_or(Refusal::BadClientId)?),
    };
    match head.method {
        Method::Get => {
            let message = dns_parameter(head.query.unwrap_or(""))?;
            check_query(&message)?;
            Ok(Route::Get { client_id, message })
        }
        Method::Post => {
            if !is_dns_message(head.content_type) {
                return Err(Refusal::WrongContentType);
            }
            if head.content_length.is_some_and(|n| n > MAX_MESSAGE as u64) {
                return Err(Refusal::TooLarge);
            }
            Ok(Route::Post { client_id })
        }
        Method::Other => Err(Refusal::MethodNotAllowed),
    }
}

/// The one `dns` parameter of a query string, decoded.
fn dns_parameter(query: &str) -> Result<Vec<u8>, Refusal> {
    let mut found = None;
    for pair in query.split('&') {
        let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
        if key != "dns" {
            continue;
        }
        if found.replace(value).is_some() {
            return Err(Refusal::NoDnsParameter);
        }
    }
    let encoded = found.ok_or(Refusal::NoDnsParameter)?;
    if encoded.len() > MAX_ENCODED {
        return Err(Refusal::TooLarge);
    }
    let message = URL_SAFE_NO_PAD
        .decode(encoded)
        .map_err(|_| Refusal::BadBase64)?;
    if message.len() > MAX_MESSAGE {
        return Err(Refusal::TooLarge);
    }
    Ok(message)
}

/// Whether a `Content-Type` value is `application/dns-message` (any
/// case, parameters allowed).
fn is_dns_message(value: Option<&[u8]>) -> bool {
    let Some(value) = value else { return false };
    let media = value.split(|&b| b == b';').next().unwrap_or_default();
    media
        .trim_ascii()
        .eq_ignore_ascii_case(CONTENT_TYPE.as_bytes())
}

/// The least a message must be for the engine to see it: a whole header
/// with QR clear, at most [`MAX_MESSAGE`] bytes. The engine parses the
/// rest and answers FORMERR itself when it can.
pub fn check_query(message: &[u8]) -> Result<(), Refusal> {
    if message.len() > MAX_MESSAGE {
        return Err(Refusal::TooLarge);
    }
    if message.len() < HEADER_LEN {
        return Err(Refusal::NotAQuery);
    }
    if u16::from_be_bytes([message[2], message[3]]) & flags::QR != 0 {
        return Err(Refusal::NotAQuery);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `example.com A`, ID 0, RD: RFC 8484 §4.1.1's example.
    const RFC_GET: &str = "AAABAAABAAAAAAAAA3d3dwdleGFtcGxlA2NvbQAAAQAB";

    fn get(path: &str, query: Option<&str>) -> Result<Route, Refusal> {
        route(&Head {
            method: Method::Get,
            path,
            query,
            content_type: None,
            content_length: None,
        })
    }

    fn post(path: &str, ct: Option<&str>, len: Option<u64>) -> Result<Route, Refusal> {
        route(&Head {
            method: Method::Post,
            path,
            query: None,
            content_type: ct.map(str::as_bytes),
            content_length: len,
        })
    }

    #[test]
    fn rfc_8484_get_example() {
        let Ok(Route::Get { client_id, message }) = get(PATH, Some(&format!("dns={RFC_GET}")))
        else {
            panic!("refused")
        };
        assert_eq!(client_id, None);
        assert_eq!(message.len(), 33);
        assert_eq!(&message[13..16], b"www");
    }

    #[test]
    fn other_parameters_are_ignored_but_dns_must_be_there_once() {
        let q = format!("ct=x&dns={RFC_GET}&x");
        assert!(get(PATH, Some(&q)).is_ok());
        assert_eq!(get(PATH, None), Err(Refusal::NoDnsParameter));
        assert_eq!(get(PATH, Some("dn=AAAA")), Err(Refusal::NoDnsParameter));
        let twice = format!("dns={RFC_GET}&dns={RFC_GET}");
        assert_eq!(get(PATH, Some(&twice)), Err(Refusal::NoDnsParameter));
    }

    #[test]
    fn bad_base64_is_400() {
        for bad in [
            format!("dns={RFC_GET}="),     // padding
            format!("dns={RFC_GET}A"),     // a length no encoding has
            "dns=AAAB+AAB/AAAAAAA".into(), // standard alphabet
            "dns=AAA%41AAAAAAAAAAAAAA".into(),
            "dns=AAAAAAAAAAAAAAB".into(), // trailing bits set
        ] {
            assert_eq!(
                get(PATH, Some(&bad)).map(|_| ()),
                Err(Refusal::BadBase64),
                "{bad}"
            );
            assert_eq!(Refusal::BadBase64.status(), 400);
        }
    }

    #[test]
    fn not_a_query_is_400() {
        // Empty, short of a header, a response (QR set).
        for q in ["dns=", "dns=AAAB", "dns=AACBAAABAAAAAAAA"] {
            assert_eq!(get(PATH, Some(q)), Err(Refusal::NotAQuery), "{q}");
        }
    }

    #[test]
    fn oversize_get_is_413() {
        let big = "A".repeat(MAX_ENCODED + 4);
        assert_eq!(
            get(PATH, Some(&format!("dns={big}"))),
            Err(Refusal::TooLarge)
        );
        // The cap is exactly the longest message's encoding.
        let longest = URL_SAFE_NO_PAD.encode(vec![0u8; MAX_MESSAGE]);
        assert_eq!(longest.len(), MAX_ENCODED);
        let over = URL_SAFE_NO_PAD.encode(vec![0u8; MAX_MESSAGE + 1]);
        assert_eq!(
            get(PATH, Some(&format!("dns={over}"))),
            Err(Refusal::TooLarge)
        );
    }

    #[test]
    fn post_checks_content_type_and_length() {
        let ct = Some(CONTENT_TYPE);
        assert_eq!(
            post(PATH, ct, Some(33)),
            Ok(Route::Post { client_id: None })
        );
        assert!(post(PATH, Some("Application/DNS-Message; x=y"), None).is_ok());
        for wrong in [None, Some("text/plain"), Some("application/dns-message2")] {
            assert_eq!(post(PATH, wrong, Some(33)), Err(Refusal::WrongContentType));
        }
        assert_eq!(
            post(PATH, ct, Some(MAX_MESSAGE as u64 + 1)),
            Err(Refusal::TooLarge)
        );
        assert_eq!(Refusal::TooLarge.status(), 413);
        assert_eq!(Refusal::WrongContentType.status(), 415);
    }

    #[test]
    fn paths_and_methods() {
        let q = Some("dns=AAABAAABAAAAAAAAA3d3dwdleGFtcGxlA2NvbQAAAQAB");
        for p in [
            "/",
            "/dns-query2",
            "/dns-query/a/b",
            "/dns-query/a/",
            "/x/dns-query",
        ] {
            assert_eq!(get(p, q), Err(Refusal::NotFound), "{p}");
        }
        let other = route(&Head {
            method: Method::Other,
            path: PATH,
            query: q,
            content_type: None,
            content_length: None,
        });
        assert_eq!(other, Err(Refusal::MethodNotAllowed));
        assert_eq!(Refusal::MethodNotAllowed.status(), 405);
        // Unknown paths are 404 whatever the method.
        let other = route(&Head {
            method: Method::Other,
            path: "/x",
            query: None,
            content_type: None,
            content_length: None,
        });
        assert_eq!(other, Err(Refusal::NotFound));
    }

    #[test]
    fn client_id_from_the_path() {
        let q = Some("dns=AAABAAABAAAAAAAAA3d3dwdleGFtcGxlA2NvbQAAAQAB");
        let r = get("/dns-query/School-42", q).unwrap();
        assert_eq!(
            r.client_id().as_ref().map(ClientId::as_str),
            Some("school-42")
        );
        let r = post("/dns-query/a", Some(CONTENT_TYPE), None).unwrap();
        assert_eq!(r.client_id().as_ref().map(ClientId::as_str), Some("a"));
        let long = "a".repeat(64);
        for bad in [
            "/dns-query/",
            "/dns-query/-a",
            "/dns-query/a-",
            "/dns-query/a.b",
        ] {
            assert_eq!(get(bad, q), Err(Refusal::BadClientId), "{bad}");
        }
        assert_eq!(
            get(&format!("/dns-query/{long}"), q),
            Err(Refusal::BadClientId)
        );
        assert!(get(&format!("/dns-query/{}", &long[..63]), q).is_ok());
    }

    #[test]
    fn every_refusal_has_a_4xx_or_503_status() {
        for r in [
            Refusal::NotFound,
            Refusal::MethodNotAllowed,
            Refusal::BadClientId,
            Refusal::NoDnsParameter,
            Refusal::BadBase64,
            Refusal::TooLarge,
            Refusal::WrongContentType,
            Refusal::NotAQuery,
            Refusal::Timeout,
            Refusal::Busy,
        ] {
            let s = r.status();
            assert!((400..500).contains(&s) || s == 503, "{r:?}");
            assert_ne!(r.outcome(), Outcome::Ok);
        }
    }
}
