//! The block page template: HTML with a few `{{…}}` tags.
//!
//! The language is deliberately tiny, so an operator can localise the page
//! with a text editor and the loader can check every tag up front:
//!
//! * `{{name}}`: a value (host, hotline, serial, …), always HTML-escaped;
//! * `{{if name}}…{{else}}…{{end}}`: shown when the value is not empty;
//! * `{{section vi}}…{{end}}`, `{{section en}}…{{end}}`: the two language
//!   sections; the page places them with `{{first}}` and `{{second}}` in
//!   the order `Accept-Language` asks for;
//! * `{{reason vi adult pornography}}…{{end}}`: the wording for one or
//!   more list categories in one language, shown by `{{reason_vi}}` /
//!   `{{reason_en}}`. The keys `:other` (any category without its own
//!   wording), `:confidential` and `:unlisted` are special;
//! * `{{! comment }}`, or `{{!-- comment --}}` when it contains `}}`.
//!
//! Only substituted values are escaped: the template's own text is the
//! operator's HTML. The `:confidential` wording may not use `host` or
//! `category`, and the renderer never receives them for a confidential
//! block anyway. `docs/blockpage.md` is the operator's reference.

use std::collections::HashMap;
use std::fmt;

use super::lang::Lang;

/// The default template, wording included.
pub(crate) const EMBEDDED: &str = include_str!("../template.html");
/// How errors name the default template.
pub(crate) const EMBEDDED_NAME: &str = "template.html (built in)";

/// Reason key for categories without their own wording.
pub const OTHER: &str = ":other";
/// Reason key for confidential categories (neutral wording).
pub const CONFIDENTIAL: &str = ":confidential";
/// Reason key for a host the list does not hold, or no list in force.
pub const UNLISTED: &str = ":unlisted";

/// A value the page fills in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Value {
    /// Tag of the first language (`vi`, `en`), for `<html lang>`.
    Lang,
    Hotline,
    /// The hotline as a `tel:` target: digits and a leading `+` only.
    HotlineTel,
    AppealUrl,
    BlockedBy,
    /// The blocked host; empty unless the list in force blocks it under a
    /// category that is not confidential.
    Host,
    /// The category name, under the same condition as `Host`.
    Category,
    ListId,
    Serial,
    /// The list's issue date, `YYYY-MM-DD`.
    Issued,
    /// The list's issue date, `DD/MM/YYYY`.
    IssuedDmy,
    /// Today, `YYYY-MM-DD`.
    Date,
    /// Today, `DD/MM/YYYY`.
    DateDmy,
    /// `child` when the reader's profile is younger than
    /// the page's `TEEN_AGE` (13), else empty: for `{{if child}}`.
    Child,
    /// `teen` when the reader's profile is that age or older, else empty.
    Teen,
    /// The reader's profile's `school_name`.
    SchoolName,
    /// The reader's profile's `school_contact`.
    SchoolContact,
    /// The `[[lists]]` name of the profile's list that blocked; empty when
    /// the national list blocked.
    SchoolList,
}

impl Value {
    pub const ALL: [Self; 18] = [
        Self::Lang,
        Self::Hotline,
        Self::HotlineTel,
        Self::AppealUrl,
        Self::BlockedBy,
        Self::Host,
        Self::Category,
        Self::ListId,
        Self::Serial,
        Self::Issued,
        Self::IssuedDmy,
        Self::Date,
        Self::DateDmy,
        Self::Child,
        Self::Teen,
        Self::SchoolName,
        Self::SchoolContact,
        Self::SchoolList,
    ];

    /// The name written in templates.
    pub const fn name(self) -> &'static str {
        match self {
            Self::Lang => "lang",
            Self::Hotline => "hotline",
            Self::HotlineTel => "hotline_tel",
            Self::AppealUrl => "appeal_url",
            Self::BlockedBy => "blocked_by",
            Self::Host => "host",
            Self::Category => "category",
            Self::ListId => "list_id",
            Self::Serial => "serial",
            Self::Issued => "issued",
            Self::IssuedDmy => "issued_dmy",
            Self::Date => "date",
            Self::DateDmy => "date_dmy",
            Self::Child => "child",
            Self::Teen => "teen",
            Self::SchoolName => "school_name",
            Self::SchoolContact => "school_contact",
            Self::SchoolList => "school_list",
        }
    }

    fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|v| v.name() == name)
    }

    /// True for values that would identify what was blocked.
    const fn identifies(self) -> bool {
        matches!(self, Self::Host | Self::Category | Self::SchoolList)
    }
}

/// The values for one rendering.
#[derive(Debug, Default, Clone)]
pub struct Values([String; Value::ALL.len()]);

impl Values {
    pub fn set(&mut self, value: Value, text: impl Into<String>) {
        self.0[value as usize] = text.into();
    }

    pub fn get(&self, value: Value) -> &str {
        &self.0[value as usize]
    }
}

/// Which reason wording to show.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reason<'a> {
    /// A listed, non-confidential category (falls back to `:other`).
    Category(&'a str),
    /// Blocked, category not to be worded (`:other`).
    Other,
    Confidential,
    /// Not on the list, or no list (falls back to `:other`).
    Unlisted,
}

/// Where a tag that fills in a section or reason may appear.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Slot {
    First,
    Second,
    Reason(Lang),
}

impl Slot {
    fn from_name(name: &str) -> Option<Self> {
        Some(match name {
            "first" => Self::First,
            "second" => Self::Second,
            "reason_vi" => Self::Reason(Lang::Vi),
            "reason_en" => Self::Reason(Lang::En),
            _ => return None,
        })
    }
}

#[derive(Debug, Clone)]
enum Node {
    Text(String),
    Value(Value),
    Slot(Slot),
    If {
        value: Value,
        then: Vec<Self>,
        otherwise: Vec<Self>,
    },
}

/// A problem in a template, reported with its file and line.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TemplateProblem {
    #[error("`{{{{` is not closed by `}}}}` (tags look like {{{{host}}}})")]
    Unterminated,
    #[error("empty tag `{{{{}}}}`")]
    Empty,
    #[error(
        "unknown placeholder `{{{{{0}}}}}`; values are {values}, and first, second, \
         reason_vi, reason_en; see docs/blockpage.md",
        values = value_names()
    )]
    UnknownPlaceholder(String),
    #[error("`{{{{{tag}}}}}` cannot be used {place}")]
    NotHere { tag: String, place: &'static str },
    #[error("`{{{{{0} …}}}}` must be at the top level of the template, not inside another tag")]
    NotTopLevel(&'static str),
    #[error("`{{{{{tag}}}}}`: expected {usage}")]
    Usage { tag: String, usage: &'static str },
    #[error("unknown language {0:?}: the page has sections vi and en")]
    UnknownLanguage(String),
    #[error(
        "{0:?} is neither a category name ([a-z0-9-]+) nor one of :other, :confidential, :unlisted"
    )]
    BadReasonKey(String),
    #[error("{what} is already defined at line {first_line}")]
    Duplicate { what: String, first_line: usize },
    #[error("`{{{{{0}}}}}` is never closed by `{{{{end}}}}`")]
    Unclosed(String),
    #[error(
        "`{{{{{0}}}}}` without an opening `{{{{if …}}}}`, `{{{{section …}}}}` or `{{{{reason …}}}}`"
    )]
    Stray(&'static str),
    #[error(
        "the :confidential wording must not use `{0}`: a confidential block never names the site nor its category"
    )]
    ConfidentialShows(&'static str),
}

fn value_names() -> String {
    Value::ALL.map(Value::name).join(", ")
}

/// A part every template must have.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Missing {
    Section(Lang),
    Reason(Lang, &'static str),
    Slot(&'static str),
}

impl fmt::Display for Missing {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Section(lang) => write!(
                f,
                "the template defines no `{{{{section {}}}}}` … `{{{{end}}}}`",
                lang.tag()
            ),
            Self::Reason(lang, key) => write!(
                f,
                "the template defines no `{{{{reason {} {key}}}}}` … `{{{{end}}}}`",
                lang.tag()
            ),
            Self::Slot(name) => write!(
                f,
                "the page never places `{{{{{name}}}}}`, so a language section would be missing"
            ),
        }
    }
}

/// A parsed, checked template.
#[derive(Debug)]
pub struct Template {
    page: Vec<Node>,
    sections: [Vec<Node>; 2],
    /// Per language: reason key → wording.
    reasons: [HashMap<String, Vec<Node>>; 2],
}

/// Why a template was refused: `Err((line, problem))` or a missing part.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ParseError {
    At {
        line: usize,
        problem: TemplateProblem,
    },
    Missing(Missing),
}

impl Template {
    /// Parses and checks `text`.
    pub fn parse(text: &str) -> Result<Self, ParseError> {
        let tokens = tokenize(text)?;
        let mut p = Parser {
            tokens,
            pos: 0,
            defs: Defs::default(),
            slots: Vec::new(),
        };
        let (page, stop) = p.block(Ctx::Page, true)?;
        match stop {
            Stop::Eof => {}
            Stop::End(line) => return Err(at(line, TemplateProblem::Stray("end"))),
            Stop::Else(line) => return Err(at(line, TemplateProblem::Stray("else"))),
        }
        for slot in ["first", "second"] {
            let want = Slot::from_name(slot);
            if !p.slots.iter().any(|s| Some(*s) == want) {
                return Err(ParseError::Missing(Missing::Slot(slot)));
            }
        }
        let Defs { sections, reasons } = p.defs;
        let mut section_nodes: [Vec<Node>; 2] = Default::default();
        for lang in Lang::ALL {
            let Some((_, nodes)) = &sections[lang.index()] else {
                return Err(ParseError::Missing(Missing::Section(lang)));
            };
            section_nodes[lang.index()] = nodes.clone();
            for key in [OTHER, CONFIDENTIAL] {
                if !reasons[lang.index()].contains_key(key) {
                    return Err(ParseError::Missing(Missing::Reason(lang, key)));
                }
            }
        }
        let reasons = reasons.map(|m| m.into_iter().map(|(k, (_, n))| (k, n)).collect());
        Ok(Self {
            page,
            sections: section_nodes,
            reasons,
        })
    }

    /// The page for `values`, sections in `order`, with `reason`'s wording.
    pub fn render(&self, values: &Values, order: [Lang; 2], reason: Reason<'_>) -> String {
        let r = Renderer {
            template: self,
            values,
            order,
            reasons: Lang::ALL.map(|lang| self.reason(lang, reason)),
        };
        let mut out = String::with_capacity(16 * 1024);
        r.nodes(&self.page, &mut out);
        out
    }

    fn reason(&self, lang: Lang, reason: Reason<'_>) -> &[Node] {
        let map = &self.reasons[lang.index()];
        let specific = match reason {
            Reason::Category(name) => map.get(name),
            Reason::Other => None,
            Reason::Confidential => map.get(CONFIDENTIAL),
            Reason::Unlisted => map.get(UNLISTED),
        };
        // `:other` and `:confidential` exist: `parse` checked.
        specific
            .or_else(|| map.get(OTHER))
            .map_or(&[], Vec::as_slice)
    }
}

struct Renderer<'t> {
    template: &'t Template,
    values: &'t Values,
    order: [Lang; 2],
    reasons: [&'t [Node]; 2],
}

impl Renderer<'_> {
    /// Nesting is bounded: `parse` allows sections and reasons to be placed
    /// only where they cannot place themselves.
    fn nodes(&self, nodes: &[Node], out: &mut String) {
        for node in nodes {
            match node {
                Node::Text(text) => out.push_str(text),
                Node::Value(v) => escape_into(self.values.get(*v), out),
                Node::If {
                    value,
                    then,
                    otherwise,
                } => {
                    if self.values.get(*value).is_empty() {
                        self.nodes(otherwise, out);
                    } else {
                        self.nodes(then, out);
                    }
                }
                Node::Slot(Slot::First) => {
                    self.nodes(&self.template.sections[self.order[0].index()], out);
                }
                Node::Slot(Slot::Second) => {
                    self.nodes(&self.template.sections[self.order[1].index()], out);
                }
                Node::Slot(Slot::Reason(lang)) => self.nodes(self.reasons[lang.index()], out),
            }
        }
    }
}

/// Appends `text` with `& < > " '` escaped, safe in element content and
/// in quoted attribute values.
pub fn escape_into(text: &str, out: &mut String) {
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
}

/// `text`, HTML-escaped.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    escape_into(text, &mut out);
    out
}

fn at(line: usize, problem: TemplateProblem) -> ParseError {
    ParseError::At { line, problem }
}

#[derive(Debug, Clone, Copy)]
enum Tok<'a> {
    Text(&'a str),
    Tag(&'a str),
}

/// Splits `text` into literal text and tags, each with its line number.
fn tokenize(text: &str) -> Result<Vec<(usize, Tok<'_>)>, ParseError> {
    let mut tokens = Vec::new();
    let mut line = 1;
    let mut rest = text;
    while let Some(open) = rest.find("{{") {
        let (literal, after) = rest.split_at(open);
        if !literal.is_empty() {
            tokens.push((line, Tok::Text(literal)));
            line += literal.matches('\n').count();
        }
        let after = &after[2..];
        // `{{!-- … --}}` may contain `}}`; every other tag ends at the first.
        let closer = if after.starts_with("!--") {
            "--}}"
        } else {
            "}}"
        };
        let Some(close) = after.find(closer) else {
            return Err(at(line, TemplateProblem::Unterminated));
        };
        let tag = &after[..close];
        tokens.push((line, Tok::Tag(tag)));
        line += tag.matches('\n').count();
        rest = &after[close + closer.len()..];
    }
    if !rest.is_empty() {
        tokens.push((line, Tok::Text(rest)));
    }
    Ok(tokens)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Ctx {
    Page,
    Section,
    Reason { confidential: bool },
}

impl Ctx {
    fn place(self) -> &'static str {
        match self {
            Self::Page => "here",
            Self::Section => "inside a section",
            Self::Reason { .. } => "inside a reason",
        }
    }
}

enum Stop {
    Eof,
    End(usize),
    Else(usize),
}

/// Definitions seen so far, with the line of each.
#[derive(Default)]
struct Defs {
    sections: [Option<(usize, Vec<Node>)>; 2],
    reasons: [HashMap<String, (usize, Vec<Node>)>; 2],
}

struct Parser<'a> {
    tokens: Vec<(usize, Tok<'a>)>,
    pos: usize,
    defs: Defs,
    /// Every slot placed in the page, to check `first`/`second` are there.
    slots: Vec<Slot>,
}

/// A tag being parsed: its line, its trimmed text and its arguments.
struct TagAt<'t> {
    line: usize,
    text: &'t str,
    args: Vec<&'t str>,
}

impl TagAt<'_> {
    /// The error for a tag used with the wrong arguments.
    fn usage(&self, usage: &'static str) -> ParseError {
        at(
            self.line,
            TemplateProblem::Usage {
                tag: self.text.to_owned(),
                usage,
            },
        )
    }

    /// The error for a tag whose `{{end}}` never comes.
    fn unclosed(&self) -> ParseError {
        at(self.line, TemplateProblem::Unclosed(self.text.to_owned()))
    }
}

impl Parser<'_> {
    /// Parses nodes until `{{end}}`, `{{else}}` or the end of the text.
    fn block(&mut self, ctx: Ctx, top: bool) -> Result<(Vec<Node>, Stop), ParseError> {
        let mut nodes = Vec::new();
        while let Some(&(line, tok)) = self.tokens.get(self.pos) {
            self.pos += 1;
            let tag = match tok {
                Tok::Text(text) => {
                    nodes.push(Node::Text(text.to_owned()));
                    continue;
                }
                Tok::Tag(tag) => tag.trim(),
            };
            if tag.starts_with('!') {
                continue;
            }
            let mut words = tag.split_ascii_whitespace();
            let Some(head) = words.next() else {
                return Err(at(line, TemplateProblem::Empty));
            };
            let tag = TagAt {
                line,
                text: tag,
                args: words.collect(),
            };
            match head {
                "end" | "else" if !tag.args.is_empty() => {
                    return Err(tag.usage("no arguments"));
                }
                "end" => return Ok((nodes, Stop::End(line))),
                "else" => return Ok((nodes, Stop::Else(line))),
                "if" => nodes.push(self.if_node(&tag, ctx)?),
                "section" => self.section(&tag, top)?,
                "reason" => self.reason(&tag, top)?,
                name if tag.args.is_empty() => nodes.push(self.placeholder(line, ctx, name)?),
                _ => {
                    return Err(at(
                        line,
                        TemplateProblem::UnknownPlaceholder(tag.text.to_owned()),
                    ));
                }
            }
        }
        Ok((nodes, Stop::Eof))
    }

    /// `{{if value}} … {{else}} … {{end}}`, the `{{else}}` part optional.
    fn if_node(&mut self, tag: &TagAt<'_>, ctx: Ctx) -> Result<Node, ParseError> {
        let [name] = tag.args[..] else {
            return Err(tag.usage("one value name, as in {{if host}}"));
        };
        let value = self.value(tag.line, ctx, name)?;
        let (then, stop) = self.block(ctx, false)?;
        let otherwise = match stop {
            Stop::End(_) => Vec::new(),
            Stop::Else(_) => self.body(tag.line, tag.text, ctx)?,
            Stop::Eof => return Err(tag.unclosed()),
        };
        Ok(Node::If {
            value,
            then,
            otherwise,
        })
    }

    /// `{{section lang}} … {{end}}`: one language's page section, defined
    /// once, at the top level.
    fn section(&mut self, tag: &TagAt<'_>, top: bool) -> Result<(), ParseError> {
        let line = tag.line;
        if !top {
            return Err(at(line, TemplateProblem::NotTopLevel("section")));
        }
        let [lang] = tag.args[..] else {
            return Err(tag.usage("one language, as in {{section vi}}"));
        };
        let lang = language(line, lang)?;
        let body = self.body(line, tag.text, Ctx::Section)?;
        let slot = &mut self.defs.sections[lang.index()];
        if let Some((first_line, _)) = slot {
            return Err(at(
                line,
                TemplateProblem::Duplicate {
                    what: format!("{{{{section {}}}}}", lang.tag()),
                    first_line: *first_line,
                },
            ));
        }
        *slot = Some((line, body));
        Ok(())
    }

    /// `{{reason lang key…}} … {{end}}`: one language's wording for the
    /// named categories, each defined once, at the top level.
    fn reason(&mut self, tag: &TagAt<'_>, top: bool) -> Result<(), ParseError> {
        let line = tag.line;
        if !top {
            return Err(at(line, TemplateProblem::NotTopLevel("reason")));
        }
        const USAGE: &str = "a language and category names, as in {{reason vi adult}}";
        let [lang, keys @ ..] = &tag.args[..] else {
            return Err(tag.usage(USAGE));
        };
        if keys.is_empty() {
            return Err(tag.usage(USAGE));
        }
        let lang = language(line, lang)?;
        for key in keys {
            if !is_reason_key(key) {
                return Err(at(line, TemplateProblem::BadReasonKey((*key).to_owned())));
            }
        }
        let confidential = keys.contains(&CONFIDENTIAL);
        let body = trim(self.body(line, tag.text, Ctx::Reason { confidential })?);
        let map = &mut self.defs.reasons[lang.index()];
        for key in keys {
            if let Some((first_line, _)) = map.get(*key) {
                return Err(at(
                    line,
                    TemplateProblem::Duplicate {
                        what: format!("the {} wording for {key}", lang.tag()),
                        first_line: *first_line,
                    },
                ));
            }
            map.insert((*key).to_owned(), (line, body.clone()));
        }
        Ok(())
    }

    /// `{{name}}`: a slot where the context allows it, otherwise a value.
    fn placeholder(&mut self, line: usize, ctx: Ctx, name: &str) -> Result<Node, ParseError> {
        let Some(slot) = Slot::from_name(name) else {
            return Ok(Node::Value(self.value(line, ctx, name)?));
        };
        let allowed = match slot {
            Slot::First | Slot::Second => ctx == Ctx::Page,
            Slot::Reason(_) => !matches!(ctx, Ctx::Reason { .. }),
        };
        if !allowed {
            return Err(at(
                line,
                TemplateProblem::NotHere {
                    tag: name.to_owned(),
                    place: ctx.place(),
                },
            ));
        }
        self.slots.push(slot);
        Ok(Node::Slot(slot))
    }

    /// The body of a definition opened by `tag` at `line`, up to its `{{end}}`.
    fn body(&mut self, line: usize, tag: &str, ctx: Ctx) -> Result<Vec<Node>, ParseError> {
        let (body, stop) = self.block(ctx, false)?;
        match stop {
            Stop::End(_) => Ok(body),
            Stop::Else(l) => Err(at(l, TemplateProblem::Stray("else"))),
            Stop::Eof => Err(at(line, TemplateProblem::Unclosed(tag.to_owned()))),
        }
    }

    fn value(&self, line: usize, ctx: Ctx, name: &str) -> Result<Value, ParseError> {
        let Some(value) = Value::from_name(name) else {
            return Err(at(
                line,
                TemplateProblem::UnknownPlaceholder(name.to_owned()),
            ));
        };
        if ctx == (Ctx::Reason { confidential: true }) && value.identifies() {
            return Err(at(line, TemplateProblem::ConfidentialShows(value.name())));
        }
        Ok(value)
    }
}

fn language(line: usize, tag: &str) -> Result<Lang, ParseError> {
    Lang::from_tag(tag).ok_or_else(|| at(line, TemplateProblem::UnknownLanguage(tag.to_owned())))
}

fn is_reason_key(key: &str) -> bool {
    [OTHER, CONFIDENTIAL, UNLISTED].contains(&key)
        || (!key.is_empty()
            && key
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-'))
}

/// Drops leading and trailing whitespace of a definition's body.
fn trim(mut nodes: Vec<Node>) -> Vec<Node> {
    if let Some(Node::Text(t)) = nodes.first_mut() {
        *t = t.trim_start().to_owned();
    }
    if let Some(Node::Text(t)) = nodes.last_mut() {
        *t = t.trim_end().to_owned();
    }
    nodes.retain(|n| !matches!(n, Node::Text(t) if t.is_empty()));
    nodes
}

#[cfg(test)]
mod tests;
