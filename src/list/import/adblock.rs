//! The DNS subset of Adblock Plus / AdGuard filter syntax, as AdGuard Home
//! and Blocky read it.
//!
//! ```text
//! [Adblock Plus 2.0]
//! ! Title: a filter list
//! ||ads.example.com^             subtree rule
//! ||ads.example.net^$important   subtree rule ($important is moot: no exceptions)
//! |exact.example.org^            exact rule: that name only
//! tracker.example.com            subtree rule (see below)
//! 0.0.0.0 host.example.com       a hosts line, as AdGuard Home reads it: exact rule
//! @@||good.example.com^          unsupported: an exception
//! example.com##.banner           unsupported: cosmetic
//! ```
//!
//! A bare name is read as a subtree rule, as Blocky and ward's own
//! domain-list export read it (AdGuard Home reads it as that name only).
//! Everything that is not about names in DNS is unsupported: exceptions
//! (`@@`), cosmetic and scriptlet rules (`##`, `#@#`, `#?#`, `#$#`, …),
//! regular expressions (`/…/`), URL rules (a scheme, a path, a `*`
//! pattern, `||name` without `^`) and modifiers other than `$important`
//! (`$domain=`, `$client=`, `$dnstype=`, `$third-party`, …), which narrow a
//! rule to clients, types or pages a national list cannot tell apart.

use super::{Rule, hosts, rule_name, text};
use crate::list::source::LineError;

/// Parses one line (without its line end): its rules, none for blank,
/// comment and header lines.
pub fn parse_line(raw: &[u8]) -> Result<Vec<Rule>, LineError> {
    let line = text(raw)?.trim();
    if line.is_empty() {
        return Ok(Vec::new());
    }
    if is_comment(line) || (line.starts_with('[') && line.ends_with(']')) {
        return Ok(Vec::new());
    }
    if is_cosmetic(line) {
        return Err(LineError::Unsupported(
            "a cosmetic or scriptlet rule (`##`, `#@#`, `#$#`, …) acts on pages, not names",
        ));
    }
    if line.starts_with("@@") {
        return Err(LineError::Unsupported(
            "an exception (`@@`): ward's list has no allow rules",
        ));
    }
    if line.contains(char::is_whitespace) {
        return match line.split_ascii_whitespace().next() {
            Some(first) if hosts::is_address(first) => hosts::parse_line(line.as_bytes()),
            _ => Err(LineError::Malformed(
                "a space inside a rule (only hosts lines, `ADDRESS NAME…`, have fields)",
            )),
        };
    }
    if line.len() > 1 && line.starts_with('/') && line.ends_with('/') {
        return Err(LineError::Unsupported(
            "a regular expression: ward lists names and subtrees",
        ));
    }
    let (pattern, modifiers) = line.split_once('$').unwrap_or((line, ""));
    if !modifiers.is_empty()
        && modifiers
            .split(',')
            .any(|m| !m.trim().eq_ignore_ascii_case("important"))
    {
        return Err(LineError::Unsupported(
            "a modifier other than `$important`: it narrows the rule to clients, types or pages",
        ));
    }
    let (kind, rest) = if let Some(rest) = pattern.strip_prefix("||") {
        (Kind::Subtree, rest)
    } else if let Some(rest) = pattern.strip_prefix('|') {
        (Kind::Exact, rest)
    } else {
        (Kind::Bare, pattern)
    };
    if rest.contains(['/', ':', '?', '=', '&']) {
        return Err(LineError::Unsupported(
            "a URL rule (a scheme, a port or a path): not a name",
        ));
    }
    let name = match rest.strip_suffix("^|").or_else(|| rest.strip_suffix('^')) {
        Some(name) => name,
        None if kind == Kind::Bare => rest,
        None => {
            return Err(LineError::Unsupported(
                "a pattern without `^` after the name matches any address that starts with it",
            ));
        }
    };
    if name.contains(['*', '|', '^', '@', '$']) || name.starts_with('.') || name.ends_with('.') {
        return Err(LineError::Unsupported(
            "a pattern rule (`*`, a leading or trailing `.`, a separator inside the name): ward lists names and subtrees",
        ));
    }
    let name = rule_name(name)?;
    Ok(vec![match kind {
        Kind::Exact => Rule::exact(name),
        Kind::Subtree | Kind::Bare => Rule::subtree(name),
    }])
}

#[derive(PartialEq, Eq)]
enum Kind {
    Subtree,
    Exact,
    Bare,
}

/// `!` comments, and `#` comments as hosts files write them (`# text`,
/// `#### Section`), but not a generic cosmetic rule (`##.banner`).
fn is_comment(line: &str) -> bool {
    if line.starts_with('!') {
        return true;
    }
    if !line.starts_with('#') {
        return false;
    }
    let rest = line.trim_start_matches('#');
    rest.is_empty()
        || rest.starts_with(char::is_whitespace)
        || !COSMETIC.iter().any(|m| line.starts_with(m))
}

/// Element hiding, CSS, scriptlet and HTML filtering rules: a `#`
/// separator with a marker, or `$$`.
fn is_cosmetic(line: &str) -> bool {
    COSMETIC.iter().any(|m| line.contains(m))
}

const COSMETIC: [&str; 9] = [
    "##", "#@#", "#?#", "#@?#", "#$#", "#@$#", "#%#", "#@%#", "$$",
];

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::NameError;
    use crate::list::RuleKind;

    fn rules(line: &str) -> Vec<(String, RuleKind)> {
        parse_line(line.as_bytes())
            .unwrap()
            .into_iter()
            .map(|r| (r.name.to_string(), r.kind))
            .collect()
    }

    fn one(line: &str) -> (String, RuleKind) {
        let r = rules(line);
        assert_eq!(r.len(), 1, "{line}");
        r.into_iter().next().unwrap()
    }

    fn err(line: &str) -> LineError {
        parse_line(line.as_bytes()).unwrap_err()
    }

    #[test]
    fn the_dns_forms() {
        use RuleKind::{Exact, Subtree};
        assert_eq!(
            one("||ads.example.com^"),
            ("ads.example.com".into(), Subtree)
        );
        assert_eq!(
            one("||ads.example.com^|"),
            ("ads.example.com".into(), Subtree)
        );
        assert_eq!(
            one("||Ads.Example.net^$important"),
            ("ads.example.net".into(), Subtree)
        );
        assert_eq!(
            one("|exact.example.org^"),
            ("exact.example.org".into(), Exact)
        );
        assert_eq!(
            one("  tracker.example.com \r"),
            ("tracker.example.com".into(), Subtree)
        );
        assert_eq!(
            one("||bücher.example^"),
            ("xn--bcher-kva.example".into(), Subtree)
        );
        assert_eq!(
            one("0.0.0.0 host.example.com"),
            ("host.example.com".into(), Exact)
        );
        assert_eq!(rules("127.0.0.1 localhost"), []);
    }

    #[test]
    fn comments_and_headers_are_skipped() {
        for line in [
            "",
            "   ",
            "[Adblock Plus 2.0]",
            "! Title: list",
            "!##not cosmetic, a comment",
            "# also a comment",
            "#comment",
            "#### Section ####",
            "## Section",
            "#see ##.ad for an example",
        ] {
            assert_eq!(rules(line), [], "{line:?}");
        }
    }

    #[test]
    fn what_is_not_about_names_is_unsupported() {
        assert!(
            err("||example.com/ads/banner.gif")
                .to_string()
                .contains("a URL rule")
        );
        for line in [
            "@@||good.example.com^",
            "@@||good.example.com^$important",
            "example.com##.banner",
            "##.ad",
            "example.com#@#.banner",
            "example.com#?#div:has(a)",
            "example.com#$#body { x: y }",
            "example.com#%#//scriptlet('x')",
            "example.com$$script",
            "/ads[0-9]+\\.example\\.com/",
            "||example.com^$third-party",
            "||example.com^$domain=other.com",
            "||example.com^$client=10.0.0.1",
            "||example.com^$dnstype=AAAA",
            "||example.com^$important,badfilter",
            "||example.com/ads/banner.gif",
            "|https://example.com^",
            "||example.com:8080^",
            "||example.com",
            "|example.com",
            "||ads*.example.com^",
            "||*.example.com^",
            "://example.",
            ".example.com",
            "example.",
            "||example.com^^",
        ] {
            assert!(
                matches!(err(line), LineError::Unsupported(_)),
                "{line:?}: {:?}",
                parse_line(line.as_bytes())
            );
        }
    }

    #[test]
    fn bad_lines() {
        assert_eq!(err("||com^"), LineError::SingleLabel);
        assert_eq!(err("||10.0.0.1^"), LineError::Name(NameError::IpLiteral));
        assert_eq!(
            err("||a..example.com^"),
            LineError::Name(NameError::EmptyLabel)
        );
        assert!(matches!(err("||^"), LineError::Name(NameError::Empty)));
        assert!(matches!(err("a.com b.com"), LineError::Malformed(_)));
        assert!(matches!(
            parse_line(b"||\xff.com^").unwrap_err(),
            LineError::InvalidUtf8 { offset: 2 }
        ));
        assert!(matches!(
            err("||a_b!.example.com^"),
            LineError::Name(NameError::BadCharacter { .. })
        ));
        for line in [
            "||secret-name!.com^",
            "secret-name..com",
            "@@||secret-name.com^",
        ] {
            let e = err(line).to_string();
            assert!(!e.contains("secret"), "{e}");
        }
    }
}
