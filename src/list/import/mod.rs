//! Lists in other formats, read as sources: `ward list build --format
//! rpz|hosts|domains|adblock`, so that the ministry can take in lists it
//! already has.
//!
//! None of these formats has a category column: every rule of an import
//! takes the one category given (`--category`). Each line is read by a
//! pure function ([`hosts::parse_line`], [`domains::parse_line`],
//! [`adblock::parse_line`]); a zone file needs a little state across lines
//! (`$ORIGIN`, the last owner, parentheses), which [`rpz::ZoneReader`]
//! keeps. [`Parser`] puts the four behind one interface for the compiler.
//!
//! | format | line | rule |
//! |---|---|---|
//! | `rpz` | `name CNAME .`, `CNAME *.`, `CNAME rpz-drop.`, local data | `=name` (exact) |
//! | `rpz` | `*.name …` (with or without `name …`) | `name` (subtree) |
//! | `hosts` | `0.0.0.0 name [name…]` | `=name` for each (hosts files match exact names) |
//! | `domains` | `name` or `*.name` | `name` (subtree) |
//! | `adblock` | `\|\|name^`, `\|\|name^$important`, `name` | `name` (subtree) |
//! | `adblock` | `\|name^` | `=name` (exact) |
//!
//! Two kinds of bad line, both reported as `file:line: reason`, all at
//! once, never quoting the name (it may belong to a confidential
//! category):
//!
//! * malformed in its own format, or a name ward refuses (the rules of
//!   [`DomainName`], at least two labels): always an error;
//! * valid in its format, but saying something a ward list cannot
//!   ([`LineError::Unsupported`]): allow rules (`rpz-passthru`, `@@`), IP
//!   and name-server triggers, cosmetic and URL filters, modifiers. These
//!   are errors too, unless the caller chose to leave them out
//!   (`--skip-unsupported`): a national list must not quietly differ from
//!   the list it was made from.
//!
//! An exact rule whose name also has a subtree rule in the same category
//! adds nothing; the compiler merges it into the subtree rule (counted as
//! a duplicate), so `name` plus `*.name` in a zone is one subtree rule,
//! the mirror of what `ward list export --format rpz` writes.

pub mod adblock;
pub mod domains;
pub mod hosts;
pub mod rpz;

use super::format::RuleKind;
use super::source::LineError;
use crate::domain::{DomainName, NameError};

/// The formats ward imports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// A Response Policy Zone (RFC 1035 master file).
    Rpz,
    /// `ADDRESS NAME…` lines.
    Hosts,
    /// One name per line.
    Domains,
    /// The DNS subset of Adblock Plus / AdGuard filter syntax.
    Adblock,
}

/// Longest line an import reads; a longer one is an error (and is never
/// held in memory whole).
pub const MAX_LINE_LEN: usize = 64 * 1024;

/// One rule read from an imported line; its category is the import's.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rule {
    pub name: DomainName,
    pub kind: RuleKind,
}

impl Rule {
    fn exact(name: DomainName) -> Self {
        Self {
            name,
            kind: RuleKind::Exact,
        }
    }

    fn subtree(name: DomainName) -> Self {
        Self {
            name,
            kind: RuleKind::Subtree,
        }
    }
}

/// What reading a line gave, at the line it belongs to (a zone record
/// spanning lines belongs to its first).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    Rule { line: usize, rule: Rule },
    Error { line: usize, error: LineError },
}

/// One of the import formats, fed line by line.
#[derive(Debug)]
pub struct Parser(Inner);

#[derive(Debug)]
enum Inner {
    Rpz(Box<rpz::ZoneReader>),
    Hosts,
    Domains,
    Adblock,
}

impl Parser {
    /// A parser for `format`. `zone` is the RPZ zone's name where the file
    /// does not say it (`--zone`); the other formats ignore it.
    pub fn new(format: Format, zone: Option<&DomainName>) -> Self {
        Self(match format {
            Format::Rpz => Inner::Rpz(Box::new(rpz::ZoneReader::new(zone))),
            Format::Hosts => Inner::Hosts,
            Format::Domains => Inner::Domains,
            Format::Adblock => Inner::Adblock,
        })
    }

    /// Reads line number `line` (without its line end), pushing what it
    /// gave to `out`.
    pub fn feed(&mut self, line: usize, raw: &[u8], out: &mut Vec<Event>) {
        let rules = match &mut self.0 {
            Inner::Rpz(zone) => {
                zone.feed(line, raw, out);
                return;
            }
            Inner::Hosts => hosts::parse_line(raw),
            Inner::Domains => domains::parse_line(raw).map(|r| r.into_iter().collect()),
            Inner::Adblock => adblock::parse_line(raw),
        };
        match rules {
            Ok(rules) => out.extend(rules.into_iter().map(|rule| Event::Rule { line, rule })),
            Err(error) => out.push(Event::Error { line, error }),
        }
    }

    /// Line number `line` was longer than [`MAX_LINE_LEN`] and was not read.
    pub fn too_long(&mut self, line: usize, out: &mut Vec<Event>) {
        if let Inner::Rpz(zone) = &mut self.0 {
            zone.skip_line();
        }
        out.push(Event::Error {
            line,
            error: LineError::TooLong { max: MAX_LINE_LEN },
        });
    }

    /// The end of the file: a zone record still open is an error.
    pub fn finish(&mut self, out: &mut Vec<Event>) {
        if let Inner::Rpz(zone) = &mut self.0 {
            zone.finish(out);
        }
    }
}

/// A line's text: without a CR line end or a byte order mark, valid UTF-8.
fn text(raw: &[u8]) -> Result<&str, LineError> {
    let raw = raw.strip_suffix(b"\r").unwrap_or(raw);
    let raw = raw.strip_prefix("\u{feff}".as_bytes()).unwrap_or(raw);
    std::str::from_utf8(raw).map_err(|e| LineError::InvalidUtf8 {
        offset: e.valid_up_to(),
    })
}

/// A rule's name, checked as in ward's own sources: the rules of
/// [`DomainName`] (IDN mapped to A-labels) and at least two labels.
fn rule_name(text: &str) -> Result<DomainName, LineError> {
    if text.is_empty() || text == "." {
        return Err(NameError::Empty.into());
    }
    if text.contains('*') {
        return Err(LineError::Syntax(
            "a wildcard is allowed only as a leading `*.`",
        ));
    }
    let name = DomainName::parse(text)?;
    if name.label_count() < 2 {
        return Err(LineError::SingleLabel);
    }
    Ok(name)
}

#[cfg(test)]
mod tests;
