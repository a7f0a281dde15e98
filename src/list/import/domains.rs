//! Domain lists: one name per line, `#` comments.
//!
//! ```text
//! # a domain list
//! ads.example.com
//! *.tracker.example.net     # the same as tracker.example.net
//! ```
//!
//! Every name becomes a subtree rule: the consumers of such lists (Blocky,
//! Pi-hole's and dnsmasq's domain lists, most firewalls) block the names
//! under a listed name too, and `ward list export --format domains`
//! writes subtree rules this way. A leading `*.` says the same thing.
//! (AdGuard Home reads a bare name as that name only; a list written for
//! it that relies on this is better imported as `--format hosts`.)

use super::{Rule, rule_name, text};
use crate::list::source::LineError;

/// Parses one line (without its line end): its rule, none for blank and
/// comment lines.
pub fn parse_line(raw: &[u8]) -> Result<Option<Rule>, LineError> {
    let text = text(raw)?;
    let text = text.split_once('#').map_or(text, |(before, _)| before);
    let mut fields = text.split_ascii_whitespace();
    let Some(name) = fields.next() else {
        return Ok(None);
    };
    if fields.next().is_some() {
        return Err(LineError::Malformed(
            "expected one name per line (a hosts file? use --format hosts)",
        ));
    }
    let name = name.strip_prefix("*.").unwrap_or(name);
    Ok(Some(Rule::subtree(rule_name(name)?)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::NameError;
    use crate::list::RuleKind;

    fn name(line: &str) -> Option<String> {
        parse_line(line.as_bytes()).unwrap().map(|r| {
            assert_eq!(r.kind, RuleKind::Subtree);
            r.name.to_string()
        })
    }

    fn err(line: &[u8]) -> LineError {
        parse_line(line).unwrap_err()
    }

    #[test]
    fn names_wildcards_and_comments() {
        assert_eq!(name("ads.example.com").as_deref(), Some("ads.example.com"));
        assert_eq!(
            name("  *.T.example.net.  # note").as_deref(),
            Some("t.example.net")
        );
        assert_eq!(
            name("bücher.example\r").as_deref(),
            Some("xn--bcher-kva.example")
        );
        assert_eq!(name(""), None);
        assert_eq!(name("# just a comment"), None);
        assert_eq!(name(" \t "), None);
    }

    #[test]
    fn bad_lines() {
        assert!(matches!(
            err(b"0.0.0.0 a.example.com"),
            LineError::Malformed(_)
        ));
        assert_eq!(err(b"com"), LineError::SingleLabel);
        assert_eq!(err(b"*."), LineError::Name(NameError::Empty));
        assert!(matches!(err(b"a.*.example.com"), LineError::Syntax(_)));
        assert!(matches!(err(b"**.example.com"), LineError::Syntax(_)));
        assert_eq!(err(b"10.0.0.1"), LineError::Name(NameError::IpLiteral));
        assert_eq!(err(b".example.com"), LineError::Name(NameError::EmptyLabel));
        assert!(matches!(
            err(b"\xc3\x28.com"),
            LineError::InvalidUtf8 { offset: 0 }
        ));
        assert!(matches!(
            err(b"a\x00b.example.com"),
            LineError::Name(NameError::BadCharacter { .. })
        ));
        let e = err(b"secret-name!.com").to_string();
        assert!(!e.contains("secret"), "{e}");
    }
}
