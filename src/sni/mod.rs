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
mod proxy;
mod relay;
mod sys;

pub use self::proxy::{Filter, bind, check_privileges, serve};

use std::net::IpAddr;

use crate::domain::NameKey;
use crate::list::Match;
use crate::metrics::Unparsable;
use crate::store::Active;

/// The verdict on the names a client sent.
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

/// Judges the names of one connection: blocked if *any* name is listed.
/// Names are normalised as the DNS path does (ASCII case folded, one
/// trailing dot dropped); a name with non-ASCII bytes is converted to its
/// A-label form first (clients must send A-labels, but a U-label must not
/// slip past the list). An IP literal or an invalid name, with no listed
/// name beside it, makes the connection unparsable.
pub fn decide<'a>(names: impl IntoIterator<Item = &'a [u8]>, active: &Active) -> Decision {
    let mut problem = None;
    let mut any = false;
    for raw in names {
        any = true;
        let key = match name_key(raw) {
            Ok(key) => key,
            Err(reason) => {
                problem.get_or_insert(reason);
                continue;
            }
        };
        if let Some(m) = active.lookup(&key) {
            return blocked(active, &m, key);
        }
    }
    match (any, problem) {
        (false, _) => Decision::Unparsable(Unparsable::NoName),
        (true, Some(reason)) => Decision::Unparsable(reason),
        (true, None) => Decision::Allowed,
    }
}

fn blocked(active: &Active, m: &Match, key: NameKey) -> Decision {
    Decision::Blocked {
        category: active.category_name(m).to_owned(),
        confidential: m.confidential,
        key: Box::new(key),
    }
}

/// The list key of a server name or host, or why there is none.
pub fn name_key(raw: &[u8]) -> Result<NameKey, Unparsable> {
    let trimmed = raw.strip_suffix(b".").unwrap_or(raw);
    if trimmed.is_empty() {
        return Err(Unparsable::NoName);
    }
    let text = std::str::from_utf8(trimmed).map_err(|_| Unparsable::BadName)?;
    let unbracketed = text
        .strip_prefix('[')
        .and_then(|t| t.strip_suffix(']'))
        .unwrap_or(text);
    if unbracketed.parse::<IpAddr>().is_ok() {
        return Err(Unparsable::IpLiteral);
    }
    let key = if text.is_ascii() {
        NameKey::from_text(text.as_bytes())
    } else {
        let ascii = idna::domain_to_ascii(text).map_err(|_| Unparsable::BadName)?;
        NameKey::from_text(ascii.as_bytes())
    };
    let key = key.ok_or(Unparsable::BadName)?;
    // Only list-able bytes can name a list entry; anything else (spaces,
    // slashes, control bytes) is not a host name.
    if !key.is_listable() {
        return Err(Unparsable::BadName);
    }
    Ok(key)
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
