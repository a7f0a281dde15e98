//! The source list format that the ministry edits.
//!
//! ```text
//! # comment
//! example.com        gambling   # example.com and every name under it
//! *.example.org      gambling   # same as example.org
//! =exact.example.net adult      # that name only
//! bücher.example     violence   # IDN, stored as xn--bcher-kva.example
//! ```
//!
//! One entry per line: `NAME CATEGORY`, separated by spaces or tabs. `#`
//! starts a comment; blank lines are skipped; a UTF-8 byte order mark and
//! CRLF line ends are accepted. `CATEGORY` matches `[a-z0-9-]+`.
//!
//! Parsing a line is pure ([`parse_line`]); errors never quote the name, so
//! a bad line in a confidential category cannot leak through a build log.

use std::fmt;

use super::format::RuleKind;
use crate::domain::{DomainName, NameError};

/// Longest category name.
pub const MAX_CATEGORY_LEN: usize = 63;

/// One valid source line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceLine<'a> {
    pub name: DomainName,
    pub kind: RuleKind,
    pub category: &'a str,
}

/// Why a source line is invalid.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LineError {
    #[error("line is not valid UTF-8 (byte {offset})")]
    InvalidUtf8 { offset: usize },
    #[error("unknown syntax: expected `NAME CATEGORY`, found {fields} fields")]
    FieldCount { fields: usize },
    #[error("missing category: expected `NAME CATEGORY`")]
    MissingCategory,
    #[error("unknown syntax: {0}")]
    Syntax(&'static str),
    #[error("bad category: must match [a-z0-9-]+ and be at most 63 bytes")]
    BadCategory,
    #[error("{0}")]
    Name(#[from] NameError),
    #[error(
        "single-label name: a rule must have at least two labels (it would block a whole top-level domain)"
    )]
    SingleLabel,
    #[error("{0}")]
    Conflict(String),
    /// Imported formats (`ward list build --format`): a line that is
    /// malformed in its own format.
    #[error("{0}")]
    Malformed(&'static str),
    /// Imported formats: a line that is valid in its format but says
    /// something a ward list cannot (an allow rule, an IP trigger, a
    /// cosmetic filter). `--skip-unsupported` leaves such lines out.
    #[error("unsupported: {0}")]
    Unsupported(&'static str),
    #[error("line is longer than {max} bytes")]
    TooLong { max: usize },
}

/// An invalid line with its location.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceError {
    pub file: String,
    pub line: usize,
    pub error: LineError,
}

impl fmt::Display for SourceError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}: {}", self.file, self.line, self.error)
    }
}

/// True for a valid category name: `[a-z0-9-]+`, at most
/// [`MAX_CATEGORY_LEN`] bytes.
pub fn is_category(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= MAX_CATEGORY_LEN
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
}

/// Parses one line (without its line end). `Ok(None)` for blank and
/// comment-only lines.
pub fn parse_line(raw: &[u8]) -> Result<Option<SourceLine<'_>>, LineError> {
    let raw = raw.strip_suffix(b"\r").unwrap_or(raw);
    let raw = raw.strip_prefix("\u{feff}".as_bytes()).unwrap_or(raw);
    let text = std::str::from_utf8(raw).map_err(|e| LineError::InvalidUtf8 {
        offset: e.valid_up_to(),
    })?;
    let text = match text.find('#') {
        Some(i) => &text[..i],
        None => text,
    };
    let mut fields = text.split_ascii_whitespace();
    let Some(name) = fields.next() else {
        return Ok(None);
    };
    let Some(category) = fields.next() else {
        return Err(LineError::MissingCategory);
    };
    let extra = fields.count();
    if extra > 0 {
        return Err(LineError::FieldCount { fields: 2 + extra });
    }
    if !is_category(category) {
        return Err(LineError::BadCategory);
    }
    let (kind, name) = match name.strip_prefix('=') {
        Some(rest) => {
            if rest.starts_with('*') {
                return Err(LineError::Syntax(
                    "`=` (exact name) cannot be combined with a `*.` wildcard",
                ));
            }
            if rest.starts_with('=') {
                return Err(LineError::Syntax("`=` may appear only once"));
            }
            (RuleKind::Exact, rest)
        }
        None => (RuleKind::Subtree, name.strip_prefix("*.").unwrap_or(name)),
    };
    if name.is_empty() {
        return Err(NameError::Empty.into());
    }
    if name.contains('*') {
        return Err(LineError::Syntax(
            "a wildcard is allowed only as a leading `*.`",
        ));
    }
    let name = DomainName::parse(name)?;
    if name.label_count() < 2 {
        return Err(LineError::SingleLabel);
    }
    Ok(Some(SourceLine {
        name,
        kind,
        category,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(line: &str) -> (String, RuleKind, String) {
        let l = parse_line(line.as_bytes()).unwrap().unwrap();
        (l.name.to_string(), l.kind, l.category.to_owned())
    }

    fn err(line: &str) -> LineError {
        parse_line(line.as_bytes()).unwrap_err()
    }

    #[test]
    fn accepts_the_documented_forms() {
        assert_eq!(
            ok("example.com gambling"),
            ("example.com".into(), RuleKind::Subtree, "gambling".into())
        );
        assert_eq!(
            ok("*.example.com\tgambling  # note"),
            ("example.com".into(), RuleKind::Subtree, "gambling".into())
        );
        assert_eq!(
            ok("=Exact.Example.NET. adult"),
            ("exact.example.net".into(), RuleKind::Exact, "adult".into())
        );
        assert_eq!(
            ok("\u{feff}bücher.example violence\r"),
            (
                "xn--bcher-kva.example".into(),
                RuleKind::Subtree,
                "violence".into()
            )
        );
        assert_eq!(parse_line(b"").unwrap(), None);
        assert_eq!(parse_line(b"   # only a comment").unwrap(), None);
        assert_eq!(parse_line(b"\t\r").unwrap(), None);
    }

    #[test]
    fn reports_each_kind_of_error() {
        assert_eq!(err("example.com"), LineError::MissingCategory);
        assert_eq!(err("a.com b c"), LineError::FieldCount { fields: 3 });
        assert_eq!(err("a.com Gambling"), LineError::BadCategory);
        assert_eq!(err("a.com gam_bling"), LineError::BadCategory);
        assert!(matches!(err("=*.a.com x"), LineError::Syntax(_)));
        assert!(matches!(err("==a.com x"), LineError::Syntax(_)));
        assert!(matches!(err("a.*.com x"), LineError::Syntax(_)));
        assert!(matches!(err("**.a.com x"), LineError::Syntax(_)));
        assert_eq!(err("= x"), LineError::Name(NameError::Empty));
        assert_eq!(err("*. x"), LineError::Name(NameError::Empty));
        assert_eq!(err("10.0.0.1 x"), LineError::Name(NameError::IpLiteral));
        assert_eq!(err("com x"), LineError::SingleLabel);
        assert_eq!(err("a..com x"), LineError::Name(NameError::EmptyLabel));
        assert!(matches!(
            err(&format!("{}.com x", "a".repeat(64))),
            LineError::Name(NameError::LabelTooLong { .. })
        ));
        assert!(matches!(
            parse_line(b"a.com \xff").unwrap_err(),
            LineError::InvalidUtf8 { offset: 6 }
        ));
    }

    #[test]
    fn errors_never_quote_the_name() {
        let secret = "secret-name";
        for line in [
            format!("{secret}.com"),
            format!("{secret}.com a b"),
            format!("{secret}..com x"),
            format!("{secret}!.com x"),
            format!("{}{secret}.com x", "a".repeat(60)),
        ] {
            let e = err(&line).to_string();
            assert!(!e.contains(secret), "{e}");
        }
    }
}
