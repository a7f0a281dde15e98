//! Hosts files: `ADDRESS NAME [NAME…]` per line, `#` comments.
//!
//! ```text
//! # StevenBlack-style blocklist
//! 127.0.0.1 localhost
//! 0.0.0.0 ads.example.com tracker.example.com   # both blocked
//! ::1 ip6-localhost
//! ```
//!
//! Every name becomes an exact rule: a hosts file answers for the names it
//! lists and not for the names under them. The address may be any IP
//! address (`0.0.0.0`, `127.0.0.1`, `::`, `::1` in blocklists; anything
//! else overrides the name's answer, which ward's list turns into a
//! block too). The names every hosts file carries for the machine itself
//! (`localhost`, `localhost.localdomain`, `broadcasthost`, `ip6-…`, …)
//! are skipped.

use std::net::IpAddr;

use super::{Rule, rule_name, text};
use crate::list::source::LineError;

/// Parses one hosts line (without its line end): its rules, none for
/// blank and comment lines.
pub fn parse_line(raw: &[u8]) -> Result<Vec<Rule>, LineError> {
    let text = text(raw)?;
    let text = text.split_once('#').map_or(text, |(before, _)| before);
    let mut fields = text.split_ascii_whitespace();
    let Some(address) = fields.next() else {
        return Ok(Vec::new());
    };
    if !is_address(address) {
        return Err(LineError::Malformed(
            "expected `ADDRESS NAME…`: the first field is not an IP address",
        ));
    }
    let mut rules = Vec::new();
    let mut names = 0;
    for name in fields {
        names += 1;
        if is_machine_name(name) {
            continue;
        }
        rules.push(Rule::exact(rule_name(name)?));
    }
    if names == 0 {
        return Err(LineError::Malformed(
            "expected `ADDRESS NAME…`: an address with no name",
        ));
    }
    Ok(rules)
}

/// An IPv4 or IPv6 address, the latter with an optional zone (`fe80::1%lo0`).
pub(super) fn is_address(field: &str) -> bool {
    let bare = match field.split_once('%') {
        Some((addr, _zone)) if addr.contains(':') => addr,
        _ => field,
    };
    bare.parse::<IpAddr>().is_ok()
}

/// Names hosts files carry for the machine itself, not for blocking.
fn is_machine_name(name: &str) -> bool {
    let name = name.strip_suffix('.').unwrap_or(name);
    const NAMES: [&str; 6] = [
        "localhost",
        "localhost.localdomain",
        "local",
        "broadcasthost",
        "0.0.0.0",
        "localhost6",
    ];
    NAMES.iter().any(|n| n.eq_ignore_ascii_case(name))
        || (name.len() > 4
            && name.as_bytes()[..4].eq_ignore_ascii_case(b"ip6-")
            && !name.contains('.'))
        || name
            .parse::<IpAddr>()
            .is_ok_and(|a| a.is_loopback() || a.is_unspecified())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::NameError;
    use crate::list::RuleKind;

    fn names(line: &str) -> Vec<String> {
        parse_line(line.as_bytes())
            .unwrap()
            .into_iter()
            .map(|r| {
                assert_eq!(r.kind, RuleKind::Exact);
                r.name.to_string()
            })
            .collect()
    }

    fn err(line: &[u8]) -> LineError {
        parse_line(line).unwrap_err()
    }

    #[test]
    fn addresses_names_and_comments() {
        assert_eq!(names("0.0.0.0 ads.example.com"), ["ads.example.com"]);
        assert_eq!(
            names("127.0.0.1\tA.example.com  b.example.com. # two"),
            ["a.example.com", "b.example.com"]
        );
        assert_eq!(names(":: v6.example.com"), ["v6.example.com"]);
        assert_eq!(names("::1 v6.example.com"), ["v6.example.com"]);
        assert_eq!(names("fe80::1%lo0 zone.example.com"), ["zone.example.com"]);
        assert_eq!(
            names("192.0.2.7 pinned.example.com"),
            ["pinned.example.com"]
        );
        assert_eq!(names("0.0.0.0 bücher.example"), ["xn--bcher-kva.example"]);
        assert_eq!(
            names("\u{feff}0.0.0.0 bom.example.com\r"),
            ["bom.example.com"]
        );
        assert!(names("").is_empty());
        assert!(names("   # 0.0.0.0 commented.example.com").is_empty());
    }

    #[test]
    fn the_machine_s_own_names_are_skipped() {
        for line in [
            "127.0.0.1 localhost",
            "127.0.0.1 localhost.localdomain",
            "127.0.0.1 LOCAL",
            "255.255.255.255 broadcasthost",
            "::1 localhost ip6-localhost ip6-loopback",
            "fe00::0 ip6-localnet",
            "ff02::1 ip6-allnodes",
            "0.0.0.0 0.0.0.0",
            "::1 ::1",
        ] {
            assert!(names(line).is_empty(), "{line}");
        }
        assert_eq!(
            names("127.0.0.1 localhost real.example.com"),
            ["real.example.com"]
        );
    }

    #[test]
    fn bad_lines() {
        assert!(matches!(err(b"ads.example.com"), LineError::Malformed(_)));
        assert!(matches!(err(b"0.0.0.0"), LineError::Malformed(_)));
        assert!(matches!(
            err(b"999.0.0.1 a.example.com"),
            LineError::Malformed(_)
        ));
        assert_eq!(err(b"0.0.0.0 myrouter"), LineError::SingleLabel);
        assert_eq!(
            err(b"0.0.0.0 ok.example.com 10.0.0.1"),
            LineError::Name(NameError::IpLiteral)
        );
        assert!(matches!(
            err(b"0.0.0.0 *.example.com"),
            LineError::Syntax(_)
        ));
        assert_eq!(
            err(b"0.0.0.0 a..example.com"),
            LineError::Name(NameError::EmptyLabel)
        );
        assert!(matches!(
            err(b"0.0.0.0 \xff\xfe.com"),
            LineError::InvalidUtf8 { offset: 8 }
        ));
        assert!(matches!(err(b"\x00\x01\x02 \x03"), LineError::Malformed(_)));
        // Multi-byte characters where a prefix is compared.
        assert!(matches!(
            err("0.0.0.0 ip6é".as_bytes()),
            LineError::SingleLabel
        ));
        let long = format!("0.0.0.0 {}.com", "a".repeat(300));
        assert!(matches!(
            err(long.as_bytes()),
            LineError::Name(NameError::LabelTooLong { .. })
        ));
    }

    #[test]
    fn errors_never_quote_the_name() {
        for line in [
            "0.0.0.0 secret-name",
            "0.0.0.0 secret-name..com",
            "0.0.0.0 secret-name!.com",
            "secret-name.com",
        ] {
            let e = err(line.as_bytes()).to_string();
            assert!(!e.contains("secret"), "{e}");
        }
    }
}
