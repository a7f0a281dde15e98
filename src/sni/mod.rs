//! Web-side enforcement: the transparent TLS (SNI) and HTTP (Host)
//! filters, for clients that bypass the resolver (another DNS server, DoH,
//! hard-coded addresses).
//!
//! ```text
//! nftables redirect/tproxy ─▶ accept ─▶ original destination
//!      ─▶ read ClientHello (hello.rs) / request head (blockpage::head), capped + deadline
//!      ─▶ name(s) ─▶ list in force ─▶ blocked:  TLS alert access_denied / 451 page, FIN
//!                                  └▶ allowed:  connect (SO_MARK), replay, relay (splice)
//! ```
//!
//! The verdict uses the same list snapshot, the same reversed-label keys
//! and the same matcher as the DNS path. With no verified list in force a
//! connection is refused, never relayed unchecked. See
//! `docs/deploy-sni.md` for the nftables rules and the known limits.

pub mod hello;
mod http;
pub mod metrics;
mod proxy;
mod relay;
mod sockopt;

pub use self::metrics::WebMetrics;
pub use self::proxy::{Filter, SetupError, bind, check_privileges, serve};

use crate::domain::NameKey;
use crate::instrument::label_enum;
use crate::policy::{self, Context, NameProblem, Verdict};
use crate::store::Active;

label_enum! {
    /// A web-side filter: which of `[sni]`, `[http]` saw the traffic.
    pub enum Channel {
        Sni = "sni",
        Http = "http",
    }
}

label_enum! {
    /// The outcome of one connection (SNI) or request (HTTP) through a
    /// web-side filter (`ward_sni_connections_total`,
    /// `ward_http_requests_total`).
    pub enum WebResult {
        /// A name was read, not listed: relayed to the original destination.
        Allowed = "allowed",
        /// A name was read and is listed: TLS alert or the 451 page.
        Blocked = "blocked",
        /// No usable name; `on_unparsable = "allow"` relayed it.
        UnparsableAllowed = "unparsable_allowed",
        /// No usable name; `on_unparsable = "block"` refused it.
        UnparsableBlocked = "unparsable_blocked",
        /// No verified list in force: refused, never relayed unchecked.
        NotReady = "not_ready",
        /// The client sent no complete hello/head within the deadline.
        Timeout = "timeout",
        /// Allowed, but the original destination could not be reached.
        ConnectFailed = "connect_failed",
        /// The client went away or the socket failed before a verdict.
        ClientError = "client_error",
    }
}

label_enum! {
    /// Why no name could be taken from a ClientHello or request head
    /// (`ward_web_unparsable_total`).
    pub enum Unparsable {
        /// A ClientHello without a server_name (or a request without a host).
        NoName = "no_name",
        /// The name is an IP address literal.
        IpLiteral = "ip_literal",
        /// The name is not a valid host name.
        BadName = "bad_name",
        /// The bytes are not TLS (SNI) or not HTTP (HTTP filter).
        WrongProtocol = "wrong_protocol",
        /// Inconsistent lengths, duplicate or overlong extensions.
        Malformed = "malformed",
        /// Larger than the configured cap.
        TooLarge = "too_large",
    }
}

/// The verdict on the names a client sent, as the web filters render it.
#[derive(Debug, Clone)]
pub enum Decision {
    /// A name is listed. `category` is the list's category name (or
    /// `list-index-fault` after a lookup fault, which fails closed).
    Blocked {
        category: String,
        confidential: bool,
        /// The name that matched, as a key (for the query log, which
        /// redacts confidential names).
        key: Box<NameKey>,
    },
    /// Every name is valid and none is listed.
    Allowed,
    /// No name ward can judge.
    Unparsable(Unparsable),
}

/// Judges the names of one connection by [`policy::decide_names`]:
/// blocked if *any* name is listed. An IP literal or an invalid name,
/// with no listed name beside it, makes the connection unparsable.
pub fn decide<'a>(names: impl IntoIterator<Item = &'a [u8]>, active: &Active) -> Decision {
    match policy::decide_names(active, names, &Context::NONE) {
        Ok((Verdict::Block(block), Some(key))) => Decision::Blocked {
            category: block.category_name(active).to_owned(),
            confidential: block.confidential(),
            key: Box::new(key),
        },
        Ok(_) => Decision::Allowed,
        Err(problem) => Decision::Unparsable(unparsable(problem)),
    }
}

/// The `ward_web_unparsable_total` reason for a name without a key.
fn unparsable(problem: NameProblem) -> Unparsable {
    match problem {
        NameProblem::NoName => Unparsable::NoName,
        NameProblem::IpLiteral => Unparsable::IpLiteral,
        NameProblem::BadName => Unparsable::BadName,
    }
}

/// The list key of a server name or host, or why there is none
/// ([`policy::key_of_text`]).
pub fn name_key(raw: &[u8]) -> Result<NameKey, Unparsable> {
    policy::key_of_text(raw).map_err(unparsable)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn name_keys() {
        let key = |s: &str| name_key(s.as_bytes()).map(|k| k.as_bytes().to_vec());
        assert_eq!(
            key("Mixed.Case.Example.TEST"),
            Ok(b"test.example.case.mixed.".to_vec())
        );
        assert_eq!(key("example.test."), Ok(b"test.example.".to_vec()));
        assert_eq!(
            key("bücher.example.test"),
            key("xn--bcher-kva.example.test")
        );
        assert_eq!(key("192.0.2.1"), Err(Unparsable::IpLiteral));
        assert_eq!(key("[2001:db8::1]"), Err(Unparsable::IpLiteral));
        assert_eq!(key("2001:db8::1"), Err(Unparsable::IpLiteral));
        assert_eq!(key(""), Err(Unparsable::NoName));
        assert_eq!(key("a..b"), Err(Unparsable::BadName));
        assert_eq!(key("a b.test"), Err(Unparsable::BadName));
        assert_eq!(name_key(b"\xff.test").map(|_| ()), Err(Unparsable::BadName));
    }
}
