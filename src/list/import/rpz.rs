//! Response Policy Zones (draft-vixie-dnsop-dns-rpz) as RPZ producers
//! write them: an RFC 1035 master file.
//!
//! ```text
//! $ORIGIN child.rpz.
//! $TTL 300
//! @ IN SOA localhost. hostmaster.localhost. ( 7 3600 600
//!                                            604800 300 )   ; serial 7
//!   NS localhost.
//! bad.example        CNAME .       ; NXDOMAIN
//! *.bad.example      CNAME .       ; with the line above: one subtree rule
//! quiet.example      CNAME *.      ; NODATA: exact rule
//! *.page.example     A 192.0.2.1   ; local data: subtree rule
//! ok.example         CNAME rpz-passthru.   ; unsupported: an allow rule
//! 32.1.2.0.192.rpz-ip CNAME .      ; unsupported: an IP trigger
//! ```
//!
//! The master-file syntax read: `$ORIGIN`, `$TTL`, relative and absolute
//! owners, `@`, a blank owner (the previous one), optional TTL and class in
//! either order, `;` comments, quoted strings, `\X` and `\DDD` escapes,
//! and parentheses across lines. `$INCLUDE` is refused (give the file as
//! another source) and so is `$GENERATE` (a BIND extension).
//!
//! The zone's name (the apex, cut off every owner to give the trigger) is
//! `--zone` if given, else the owner of the SOA record if the file starts
//! with it, else the `$ORIGIN` in force at the first record. Every record
//! at the apex (SOA, NS, TXT, …), every DNSSEC record and the TXT naming
//! the list in ward's own export (`list.ward`) are skipped.
//!
//! A QNAME trigger is a rule whatever its action: `CNAME .` (NXDOMAIN),
//! `CNAME *.` (NODATA), `CNAME rpz-drop.` (drop: the name is blocked; ward
//! answers its own way), or local data (any other record, a CNAME to any
//! other name). `name` gives an exact rule, `*.name` a subtree rule of
//! `name` (which covers `name` itself too: ward has no rule for "only the
//! names under it"). Unsupported, with the line: `CNAME rpz-passthru.` and
//! its older form, a CNAME to the trigger name itself (allow rules: the
//! national list has none), `CNAME rpz-tcp-only.` (not a block), and the
//! triggers other than QNAME (`rpz-ip`, `rpz-client-ip`, `rpz-nsdname`,
//! `rpz-nsip`).

use super::{Event, MAX_LINE_LEN, Rule, rule_name};
use crate::domain::{DomainName, MAX_LABEL_LEN, NameError};
use crate::list::source::LineError;

/// Most bytes of tokens one record may gather across parenthesised lines.
const MAX_RECORD_LEN: usize = 4 * MAX_LINE_LEN;

/// A name as labels, lowercase, left to right; absolute (the root is
/// empty).
type Labels = Vec<String>;

/// Reads a zone file line by line.
#[derive(Debug)]
pub struct ZoneReader {
    /// The apex, once known.
    apex: Option<Labels>,
    /// The last `$ORIGIN`.
    origin: Option<Labels>,
    /// The last owner, for records whose owner field is blank.
    owner: Option<Labels>,
    /// The record being gathered while parentheses are open.
    pending: Option<Pending>,
    in_paren: bool,
    /// "cannot tell the zone's name" was said once.
    no_apex_said: bool,
}

#[derive(Debug)]
struct Pending {
    line: usize,
    blank_owner: bool,
    tokens: Vec<Token>,
    len: usize,
    /// An error was reported; the rest of the record is read and dropped.
    broken: bool,
}

#[derive(Debug, Clone)]
struct Token {
    bytes: Vec<u8>,
    quoted: bool,
}

impl Token {
    fn is(&self, word: &str) -> bool {
        !self.quoted && self.bytes.eq_ignore_ascii_case(word.as_bytes())
    }
}

impl ZoneReader {
    /// A reader for a zone whose name is `zone`, or is to be taken from
    /// the file.
    pub fn new(zone: Option<&DomainName>) -> Self {
        Self {
            apex: zone.map(|z| z.labels().map(str::to_owned).collect()),
            origin: None,
            owner: None,
            pending: None,
            in_paren: false,
            no_apex_said: false,
        }
    }

    /// Reads line number `line` (without its line end).
    pub fn feed(&mut self, line: usize, raw: &[u8], out: &mut Vec<Event>) {
        let raw = raw.strip_suffix(b"\r").unwrap_or(raw);
        let raw = raw.strip_prefix("\u{feff}".as_bytes()).unwrap_or(raw);
        let pending = self.pending.get_or_insert_with(|| Pending {
            line,
            blank_owner: raw.first().is_some_and(|b| *b == b' ' || *b == b'\t'),
            tokens: Vec::new(),
            len: 0,
            broken: false,
        });
        let mut result = tokenize(raw, &mut self.in_paren, pending);
        if result.is_ok() && pending.len > MAX_RECORD_LEN {
            result = Err(LineError::Malformed(
                "a record longer than 256 KiB (parentheses left open?)",
            ));
        }
        if let Err(error) = result {
            if !pending.broken {
                out.push(Event::Error { line, error });
                pending.broken = true;
            }
            pending.tokens.clear();
        }
        if self.in_paren {
            return;
        }
        if let Some(record) = self.pending.take()
            && !record.broken
            && !record.tokens.is_empty()
        {
            let first = record.line;
            match self.record(record) {
                Ok(Some(rule)) => out.push(Event::Rule { line: first, rule }),
                Ok(None) => {}
                Err(error) => out.push(Event::Error { line: first, error }),
            }
        }
    }

    /// A line too long to read: the record it belongs to is dropped (its
    /// error is the caller's).
    pub fn skip_line(&mut self) {
        if let Some(p) = &mut self.pending {
            p.broken = true;
            p.tokens.clear();
        }
    }

    /// The end of the file.
    pub fn finish(&mut self, out: &mut Vec<Event>) {
        if let Some(p) = self.pending.take()
            && self.in_paren
            && !p.broken
        {
            out.push(Event::Error {
                line: p.line,
                error: LineError::Malformed("a `(` here is never closed"),
            });
        }
        self.in_paren = false;
    }

    /// One whole record (or directive): its rule, if it has one.
    fn record(&mut self, p: Pending) -> Result<Option<Rule>, LineError> {
        let mut fields = p.tokens.as_slice();
        if !p.blank_owner && fields[0].bytes.first() == Some(&b'$') && !fields[0].quoted {
            self.directive(fields)?;
            return Ok(None);
        }
        let owner = if p.blank_owner {
            self.owner.clone().ok_or(LineError::Malformed(
                "the line starts with a blank (the previous owner) but there is none",
            ))?
        } else {
            let owner = self.name(&fields[0])?;
            fields = &fields[1..];
            owner
        };
        self.owner = Some(owner.clone());
        let (rtype, rdata) = record_type(fields)?;
        let Some(apex) = self.apex_at(&owner, &rtype)? else {
            return Ok(None);
        };
        if owner == apex {
            return Ok(None);
        }
        let Some(trigger) = owner.strip_suffix(apex.as_slice()) else {
            return Err(LineError::Malformed(
                "the owner name is outside the zone (check $ORIGIN and --zone)",
            ));
        };
        if rtype == "SOA" {
            return Err(LineError::Malformed("an SOA record below the zone's apex"));
        }
        if DNSSEC_TYPES.contains(&rtype.as_str()) {
            return Ok(None);
        }
        // The TXT naming the list in ward's own export: not a rule.
        if rtype == "TXT" && trigger.join(".") == crate::list::export::INFO_NAME {
            return Ok(None);
        }
        check_trigger_kind(trigger)?;
        if rtype == "CNAME" {
            let [target] = rdata else {
                return Err(LineError::Malformed("a CNAME takes one target name"));
            };
            self.check_cname_action(trigger, target)?;
        }
        let (kind_subtree, labels) = match trigger.split_first() {
            Some((first, rest)) if first == "*" => (true, rest),
            _ => (false, trigger),
        };
        if labels.is_empty() {
            return Err(LineError::Malformed(
                "a wildcard at the zone's apex would block every name",
            ));
        }
        let name = rule_name(&labels.join("."))?;
        Ok(Some(if kind_subtree {
            Rule::subtree(name)
        } else {
            Rule::exact(name)
        }))
    }

    /// The apex, fixed at the first record; `None` while it cannot be told
    /// (said once).
    fn apex_at(&mut self, owner: &Labels, rtype: &str) -> Result<Option<Labels>, LineError> {
        if self.apex.is_none() {
            if rtype == "SOA" {
                self.apex = Some(owner.clone());
            } else if let Some(origin) = &self.origin {
                self.apex = Some(origin.clone());
            } else if self.no_apex_said {
                return Ok(None);
            } else {
                self.no_apex_said = true;
                return Err(LineError::Malformed(
                    "cannot tell the zone's name: start the file with its SOA record, or give --zone",
                ));
            }
        }
        Ok(self.apex.clone())
    }

    /// The CNAME targets that say something other than "block".
    fn check_cname_action(&self, trigger: &[String], target: &Token) -> Result<(), LineError> {
        let target = self.name(target)?;
        match target.as_slice() {
            [t] if t == "rpz-passthru" => Err(LineError::Unsupported(
                "`CNAME rpz-passthru.` is an allow rule: the national list has none",
            )),
            [t] if t == "rpz-tcp-only" => Err(LineError::Unsupported(
                "`CNAME rpz-tcp-only.` makes clients use TCP; it does not block",
            )),
            t if t == trigger => Err(LineError::Unsupported(
                "a CNAME to the trigger name itself is the old form of rpz-passthru, an allow rule",
            )),
            _ => Ok(()),
        }
    }

    fn directive(&mut self, fields: &[Token]) -> Result<(), LineError> {
        let args = &fields[1..];
        if fields[0].is("$ORIGIN") {
            let [name] = args else {
                return Err(LineError::Malformed("$ORIGIN takes one name"));
            };
            self.origin = Some(self.name(name)?);
            Ok(())
        } else if fields[0].is("$TTL") {
            match args {
                [ttl] if is_ttl(ttl) => Ok(()),
                _ => Err(LineError::Malformed("$TTL takes one TTL")),
            }
        } else if fields[0].is("$INCLUDE") {
            Err(LineError::Malformed(
                "$INCLUDE is not followed: give the included file as another SOURCE",
            ))
        } else if fields[0].is("$GENERATE") {
            Err(LineError::Malformed(
                "$GENERATE (a BIND extension) is not expanded",
            ))
        } else {
            Err(LineError::Malformed(
                "unknown directive: $ORIGIN and $TTL are read",
            ))
        }
    }

    /// A name field as an absolute name: `@` is the origin, a name without
    /// a final dot is relative to it.
    fn name(&self, token: &Token) -> Result<Labels, LineError> {
        if token.quoted {
            return Err(LineError::Malformed("a quoted string where a name belongs"));
        }
        let origin = || {
            self.origin
                .as_ref()
                .or(self.apex.as_ref())
                .cloned()
                .ok_or(LineError::Malformed(
                    "a relative name (or `@`) but no $ORIGIN: add one, or give --zone",
                ))
        };
        if token.bytes == b"@" {
            return origin();
        }
        let (mut labels, absolute) = decode_name(&token.bytes)?;
        if !absolute {
            labels.extend(origin()?);
        }
        Ok(labels)
    }
}

/// Record types that carry no policy (a signed zone's records).
const DNSSEC_TYPES: [&str; 9] = [
    "RRSIG",
    "NSEC",
    "NSEC3",
    "NSEC3PARAM",
    "DNSKEY",
    "DS",
    "CDS",
    "CDNSKEY",
    "ZONEMD",
];

/// Refuses the triggers other than QNAME: their names sit under these
/// labels, just below the apex.
fn check_trigger_kind(trigger: &[String]) -> Result<(), LineError> {
    match trigger.last().map(String::as_str) {
        Some("rpz-ip") => Err(LineError::Unsupported(
            "an IP trigger (`rpz-ip`): ward lists names, not the addresses in answers",
        )),
        Some("rpz-client-ip") => Err(LineError::Unsupported(
            "a client-IP trigger (`rpz-client-ip`): the national list is the same for every client",
        )),
        Some("rpz-nsdname") => Err(LineError::Unsupported(
            "an NSDNAME trigger (`rpz-nsdname`): ward matches query names, not name servers",
        )),
        Some("rpz-nsip") => Err(LineError::Unsupported(
            "an NSIP trigger (`rpz-nsip`): ward matches query names, not name server addresses",
        )),
        _ => Ok(()),
    }
}

/// Skips the optional TTL and class (either order) and returns the type,
/// upper case, and the data fields.
fn record_type(fields: &[Token]) -> Result<(String, &[Token]), LineError> {
    let mut i = 0;
    let (mut ttl, mut class) = (false, false);
    while i < fields.len() {
        if !ttl && is_ttl(&fields[i]) {
            ttl = true;
        } else if !class && is_class(&fields[i]) {
            class = true;
        } else {
            break;
        }
        i += 1;
    }
    let Some(rtype) = fields.get(i) else {
        return Err(LineError::Malformed("a record without a type"));
    };
    let ok = !rtype.quoted
        && rtype.bytes.first().is_some_and(u8::is_ascii_alphabetic)
        && rtype.bytes.len() <= 16
        && rtype
            .bytes
            .iter()
            .all(|b| b.is_ascii_alphanumeric() || *b == b'-');
    if !ok {
        return Err(LineError::Malformed("the record type is not a type"));
    }
    // Checked above: ASCII letters, digits and '-'.
    let rtype = String::from_utf8_lossy(&rtype.bytes).to_ascii_uppercase();
    Ok((rtype, &fields[i + 1..]))
}

/// A TTL: seconds, or BIND's units (`1h30m`).
fn is_ttl(t: &Token) -> bool {
    !t.quoted
        && t.bytes.first().is_some_and(u8::is_ascii_digit)
        && t.bytes.len() <= 32
        && t.bytes.iter().all(|b| {
            b.is_ascii_digit() || matches!(b.to_ascii_lowercase(), b's' | b'm' | b'h' | b'd' | b'w')
        })
}

fn is_class(t: &Token) -> bool {
    ["IN", "CH", "CHAOS", "HS", "HESIOD", "CS", "ANY"]
        .iter()
        .any(|c| t.is(c))
        || (!t.quoted
            && t.bytes.len() > 5
            && t.bytes[..5].eq_ignore_ascii_case(b"CLASS")
            && t.bytes[5..].iter().all(u8::is_ascii_digit))
}

/// Splits one line into tokens, tracking parentheses. Stops at the first
/// error.
fn tokenize(raw: &[u8], in_paren: &mut bool, p: &mut Pending) -> Result<(), LineError> {
    let mut i = 0;
    let mut token: Option<Token> = None;
    let flush = |token: &mut Option<Token>, p: &mut Pending| {
        if let Some(t) = token.take() {
            p.len += t.bytes.len() + 1;
            p.tokens.push(t);
        }
    };
    while i < raw.len() {
        let b = raw[i];
        match b {
            b' ' | b'\t' | b'\r' => flush(&mut token, p),
            b';' => break,
            b'(' => {
                flush(&mut token, p);
                if *in_paren {
                    return Err(LineError::Malformed("a `(` inside parentheses"));
                }
                *in_paren = true;
            }
            b')' => {
                flush(&mut token, p);
                if !*in_paren {
                    return Err(LineError::Malformed("a `)` without a `(`"));
                }
                *in_paren = false;
            }
            b'"' => {
                flush(&mut token, p);
                let mut bytes = Vec::new();
                i += 1;
                loop {
                    match raw.get(i) {
                        None => {
                            return Err(LineError::Malformed(
                                "a quoted string is not closed on its line",
                            ));
                        }
                        Some(b'"') => break,
                        Some(b'\\') => {
                            bytes.push(b'\\');
                            let Some(&next) = raw.get(i + 1) else {
                                return Err(LineError::Malformed("a `\\` at the end of the line"));
                            };
                            bytes.push(next);
                            i += 2;
                        }
                        Some(&c) => {
                            bytes.push(c);
                            i += 1;
                        }
                    }
                }
                p.len += bytes.len() + 1;
                p.tokens.push(Token {
                    bytes,
                    quoted: true,
                });
            }
            b'\\' => {
                let Some(&next) = raw.get(i + 1) else {
                    return Err(LineError::Malformed("a `\\` at the end of the line"));
                };
                let t = token.get_or_insert_with(|| Token {
                    bytes: Vec::new(),
                    quoted: false,
                });
                t.bytes.extend_from_slice(&[b'\\', next]);
                i += 1;
            }
            _ => token
                .get_or_insert_with(|| Token {
                    bytes: Vec::new(),
                    quoted: false,
                })
                .bytes
                .push(b),
        }
        i += 1;
    }
    flush(&mut token, p);
    Ok(())
}

/// Decodes a name field (escapes resolved) into lowercase labels, and
/// whether it ends with the root (a final dot).
fn decode_name(bytes: &[u8]) -> Result<(Labels, bool), LineError> {
    if bytes == b"." {
        return Ok((Vec::new(), true));
    }
    let mut labels = Vec::new();
    let mut label: Vec<u8> = Vec::new();
    let mut i = 0;
    let mut ended_with_dot = false;
    while i < bytes.len() {
        ended_with_dot = false;
        match bytes[i] {
            b'\\' => {
                let digits = bytes.get(i + 1..i + 4);
                let byte = match digits {
                    Some(d) if d.iter().all(u8::is_ascii_digit) => {
                        let v = d.iter().fold(0u16, |v, &c| v * 10 + u16::from(c - b'0'));
                        i += 4;
                        u8::try_from(v)
                            .map_err(|_| LineError::Malformed("a `\\DDD` escape above 255"))?
                    }
                    _ => {
                        // The tokenizer pairs every `\` with a next byte.
                        let c = *bytes
                            .get(i + 1)
                            .ok_or(LineError::Malformed("a `\\` at the end of a name"))?;
                        i += 2;
                        c
                    }
                };
                if byte == b'.' {
                    return Err(LineError::Malformed("an escaped `.` inside a label"));
                }
                label.push(byte);
            }
            b'.' => {
                if label.is_empty() {
                    return Err(NameError::EmptyLabel.into());
                }
                labels.push(label_text(std::mem::take(&mut label), labels.len())?);
                ended_with_dot = true;
                i += 1;
            }
            b => {
                label.push(b);
                i += 1;
            }
        }
    }
    if !label.is_empty() {
        labels.push(label_text(label, labels.len())?);
    }
    if labels.is_empty() {
        return Err(NameError::Empty.into());
    }
    Ok((labels, ended_with_dot))
}

/// A label as text, lowercase. An ASCII label is held to 63 bytes here;
/// a Unicode one is checked as an A-label once it is a rule's name.
fn label_text(label: Vec<u8>, index: usize) -> Result<String, LineError> {
    if label.is_ascii() && label.len() > MAX_LABEL_LEN {
        return Err(NameError::LabelTooLong {
            label: index + 1,
            len: label.len(),
        }
        .into());
    }
    let mut text = String::from_utf8(label).map_err(|e| LineError::InvalidUtf8 {
        offset: e.utf8_error().valid_up_to(),
    })?;
    text.make_ascii_lowercase();
    Ok(text)
}

#[cfg(test)]
mod tests;
