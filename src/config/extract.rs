//! The mechanism under [`super`]: walks a spanned TOML document and turns
//! its values into typed ones, recording every problem (with line and key
//! path) instead of stopping at the first.
//!
//! A [`Table`] is one TOML table being read. Each `get`/`list`/`table` call
//! names a key it knows; when the `Table` is dropped, every key it was not
//! asked about is reported as unknown, with a spelling suggestion. So adding
//! a config key is one call, and a forgotten key can never be silently
//! accepted.
//!
//! Value parsers are plain functions from a TOML value to a Rust value or
//! an [`Invalid`] message; the message becomes the error text.

use std::fmt::Display;
use std::net::{IpAddr, SocketAddr};
use std::ops::Range;
use std::path::PathBuf;
use std::time::Duration;

use toml::Spanned;
use toml::de::{DeTable, DeValue};

use super::ConfigError;
use crate::keys::PublicKeyFile;
use crate::readers::CaBundle;

/// Why a value was refused; the text is shown to the operator.
#[derive(Debug)]
pub(crate) struct Invalid(pub(crate) String);

impl From<String> for Invalid {
    fn from(s: String) -> Self {
        Self(s)
    }
}

/// The outcome of reading one key.
#[derive(Debug)]
pub(crate) enum Got<T> {
    /// The key is not in the file.
    Missing,
    /// The key is there but its value was refused; the error is recorded.
    Bad,
    Ok(T),
}

impl<T> Got<T> {
    /// The value, or `default` when missing or refused (the error is
    /// already recorded, so validation can go on and find more).
    pub(crate) fn or(self, default: T) -> T {
        match self {
            Self::Ok(v) => v,
            Self::Missing | Self::Bad => default,
        }
    }

    pub(crate) fn ok(self) -> Option<T> {
        match self {
            Self::Ok(v) => Some(v),
            Self::Missing | Self::Bad => None,
        }
    }
}

/// The errors found so far, and how to turn byte offsets into lines.
#[derive(Debug)]
pub(crate) struct Report {
    file: String,
    line_starts: Vec<usize>,
    /// The last line (a final newline does not start a new one).
    last_line: usize,
    pub(crate) errors: Vec<ConfigError>,
}

impl Report {
    pub(crate) fn new(file: &str, text: &str) -> Self {
        let line_starts = std::iter::once(0)
            .chain(text.match_indices('\n').map(|(i, _)| i + 1))
            .collect();
        Self {
            file: file.to_owned(),
            line_starts,
            last_line: text.lines().count().max(1),
            errors: Vec::new(),
        }
    }

    /// The 1-based line holding byte `offset`; the end of the text counts
    /// as the last line.
    pub(crate) fn line(&self, offset: usize) -> usize {
        // line_starts[0] == 0 <= offset, so the partition point is >= 1.
        self.line_starts
            .partition_point(|&start| start <= offset)
            .min(self.last_line)
    }

    pub(crate) fn error(
        &mut self,
        span: Option<Range<usize>>,
        key: impl Into<String>,
        message: impl Into<String>,
    ) {
        let line = span.map(|s| self.line(s.start));
        self.errors.push(ConfigError {
            file: self.file.clone(),
            line,
            key: key.into(),
            message: message.into(),
        });
    }
}

/// One TOML table being read. Reports its unknown keys when dropped.
#[derive(Debug)]
pub(crate) struct Table<'r, 'a> {
    report: &'r mut Report,
    /// Dotted path of this table; empty for the document root.
    path: String,
    /// `None` when the table is absent or was not a table.
    entries: Option<&'a DeTable<'a>>,
    /// Where the table is declared (its `[header]`), if it is.
    span: Option<Range<usize>>,
    known: Vec<&'static str>,
}

impl<'r, 'a> Table<'r, 'a> {
    pub(crate) fn root(report: &'r mut Report, doc: &'a DeTable<'a>) -> Self {
        Self {
            report,
            path: String::new(),
            entries: Some(doc),
            span: None,
            known: Vec::new(),
        }
    }

    /// Dotted path of `key` in this table.
    pub(crate) fn path_of(&self, key: &str) -> String {
        if self.path.is_empty() {
            key.to_owned()
        } else {
            format!("{}.{key}", self.path)
        }
    }

    fn lookup(&mut self, key: &'static str) -> Option<&'a Spanned<DeValue<'a>>> {
        if !self.known.contains(&key) {
            self.known.push(key);
        }
        self.entries?.get(key)
    }

    /// Reads `key` with `parse`.
    pub(crate) fn get<T>(
        &mut self,
        key: &'static str,
        parse: impl FnOnce(&DeValue<'_>) -> Result<T, Invalid>,
    ) -> Got<T> {
        let Some(value) = self.lookup(key) else {
            return Got::Missing;
        };
        match parse(value.get_ref()) {
            Ok(v) => Got::Ok(v),
            Err(Invalid(message)) => {
                let path = self.path_of(key);
                self.report.error(Some(value.span()), path, message);
                Got::Bad
            }
        }
    }

    /// Reads `key` as an array, each element with `parse`. Every bad
    /// element is reported (as `key[i]`), and so is every duplicate: all
    /// lists in ward's config are sets.
    pub(crate) fn list<T: PartialEq>(
        &mut self,
        key: &'static str,
        mut parse: impl FnMut(&DeValue<'_>) -> Result<T, Invalid>,
    ) -> Got<Vec<T>> {
        let Some(value) = self.lookup(key) else {
            return Got::Missing;
        };
        let path = self.path_of(key);
        let DeValue::Array(items) = value.get_ref() else {
            let found = describe(value.get_ref());
            self.report.error(
                Some(value.span()),
                path,
                format!("expected an array, found {found}; write [...] even for one entry"),
            );
            return Got::Bad;
        };
        // The good values, with their index in the array.
        let mut out: Vec<(usize, T)> = Vec::with_capacity(items.len());
        let mut bad = false;
        for (i, item) in items.iter().enumerate() {
            match parse(item.get_ref()) {
                Ok(v) => {
                    if let Some((first, _)) = out.iter().find(|(_, o)| *o == v) {
                        self.report.error(
                            Some(item.span()),
                            format!("{path}[{i}]"),
                            format!("duplicate of {path}[{first}]"),
                        );
                        bad = true;
                    }
                    out.push((i, v));
                }
                Err(Invalid(message)) => {
                    self.report
                        .error(Some(item.span()), format!("{path}[{i}]"), message);
                    bad = true;
                }
            }
        }
        if bad {
            Got::Bad
        } else {
            Got::Ok(out.into_iter().map(|(_, v)| v).collect())
        }
    }

    /// The sub-table `key`. An absent table reads as empty, so every key in
    /// it takes its default.
    pub(crate) fn table(&mut self, key: &'static str) -> Table<'_, 'a> {
        let value = self.lookup(key);
        let path = self.path_of(key);
        let entries = match value.map(|v| (v, v.get_ref())) {
            None => None,
            Some((_, DeValue::Table(t))) => Some(t),
            Some((v, other)) => {
                let found = describe(other);
                self.report.error(
                    Some(v.span()),
                    path.clone(),
                    format!("expected a table ([{path}]), found {found}"),
                );
                None
            }
        };
        Table {
            report: self.report,
            span: value.map(Spanned::span),
            path,
            entries,
            known: Vec::new(),
        }
    }

    /// Reads `key` as an array of tables (`[[key]]`), each with `read`,
    /// which gets the table as `key[i]`. A non-table element is reported.
    pub(crate) fn tables<T>(
        &mut self,
        key: &'static str,
        mut read: impl FnMut(Table<'_, 'a>) -> Option<T>,
    ) -> Got<Vec<T>> {
        let Some(value) = self.lookup(key) else {
            return Got::Missing;
        };
        let path = self.path_of(key);
        let DeValue::Array(items) = value.get_ref() else {
            let found = describe(value.get_ref());
            self.report.error(
                Some(value.span()),
                path.clone(),
                format!("expected an array of tables ([[{path}]]), found {found}"),
            );
            return Got::Bad;
        };
        let mut out = Vec::with_capacity(items.len());
        let mut bad = false;
        for (i, item) in items.iter().enumerate() {
            let DeValue::Table(entries) = item.get_ref() else {
                let found = describe(item.get_ref());
                self.report.error(
                    Some(item.span()),
                    format!("{path}[{i}]"),
                    format!("expected a table ([[{path}]]), found {found}"),
                );
                bad = true;
                continue;
            };
            let table = Table {
                report: self.report,
                path: format!("{path}[{i}]"),
                entries: Some(entries),
                span: Some(item.span()),
                known: Vec::new(),
            };
            match read(table) {
                Some(v) => out.push(v),
                None => bad = true,
            }
        }
        if bad { Got::Bad } else { Got::Ok(out) }
    }

    /// Whether this table is in the file (and is a table).
    pub(crate) fn is_present(&self) -> bool {
        self.entries.is_some()
    }

    /// Whether `key` is in the file (whatever its value).
    pub(crate) fn has(&self, key: &str) -> bool {
        self.entries.is_some_and(|t| t.get(key).is_some())
    }

    /// Reports a problem with `key`: at its value's line if it is in the
    /// file, else at the table's header.
    pub(crate) fn error(&mut self, key: &str, message: impl Into<String>) {
        let span = self
            .entries
            .and_then(|t| t.get(key))
            .map(Spanned::span)
            .or_else(|| self.span.clone());
        let path = self.path_of(key);
        self.report.error(span, path, message);
    }

    /// Reports a problem with `key` that no line of the file shows, such
    /// as a default that could not be worked out.
    pub(crate) fn error_unplaced(&mut self, key: &str, message: impl Into<String>) {
        let path = self.path_of(key);
        self.report.error(None, path, message);
    }
}

impl Drop for Table<'_, '_> {
    fn drop(&mut self) {
        let Some(entries) = self.entries else {
            return;
        };
        for (key, value) in entries.iter() {
            let key = key.get_ref().as_ref();
            if self.known.contains(&key) {
                continue;
            }
            let is_section = self.path.is_empty() && value.get_ref().is_table();
            let (what, name, hint) = if is_section {
                (
                    "section",
                    format!("[{key}]"),
                    suggest(key, &self.known).map(|k| format!("[{k}]")),
                )
            } else {
                (
                    "key",
                    self.path_of(key),
                    suggest(key, &self.known).map(|k| self.path_of(k)),
                )
            };
            let message = match hint {
                Some(hint) => format!("unknown {what} `{name}`; did you mean `{hint}`?"),
                None => format!("unknown {what} `{name}`"),
            };
            let path = self.path_of(key);
            self.report
                .error(Some(key_span(entries, key)), path, message);
        }
    }
}

fn key_span(entries: &DeTable<'_>, key: &str) -> Range<usize> {
    entries
        .get_key_value(key)
        .map(|(k, _)| k.span())
        .unwrap_or_default()
}

/// The known key closest to `unknown`, if it is plausibly a typo.
fn suggest<'k>(unknown: &str, known: &[&'k str]) -> Option<&'k str> {
    known
        .iter()
        .map(|k| (edit_distance(unknown, k), *k))
        .filter(|&(d, k)| d <= (k.len() / 3).max(1))
        .min_by_key(|&(d, _)| d)
        .map(|(_, k)| k)
}

/// Edit distance by characters, counting a swap of two neighbours as one
/// edit (optimal string alignment).
fn edit_distance(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    // d[i][j]: distance between a[..i] and b[..j].
    let mut d = vec![vec![0usize; b.len() + 1]; a.len() + 1];
    for (i, row) in d.iter_mut().enumerate() {
        row[0] = i;
    }
    for (j, cell) in d[0].iter_mut().enumerate() {
        *cell = j;
    }
    for i in 1..=a.len() {
        for j in 1..=b.len() {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            let mut best = (d[i - 1][j] + 1)
                .min(d[i][j - 1] + 1)
                .min(d[i - 1][j - 1] + cost);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                best = best.min(d[i - 2][j - 2] + 1);
            }
            d[i][j] = best;
        }
    }
    d[a.len()][b.len()]
}

/// A value's type (and, for short scalars, the value) for error messages.
pub(crate) fn describe(value: &DeValue<'_>) -> String {
    match value {
        DeValue::String(s) => format!("string {s:?}"),
        DeValue::Integer(i) => format!("integer {i}"),
        DeValue::Float(f) => format!("float {f}"),
        DeValue::Boolean(b) => format!("boolean {b}"),
        other => other.type_str().to_owned(),
    }
}

// ---- Value parsers -------------------------------------------------------

pub(crate) fn string<'v>(value: &'v DeValue<'_>) -> Result<&'v str, Invalid> {
    value
        .as_str()
        .ok_or_else(|| Invalid(format!("expected a string, found {}", describe(value))))
}

pub(crate) fn boolean(value: &DeValue<'_>) -> Result<bool, Invalid> {
    value
        .as_bool()
        .ok_or_else(|| Invalid(format!("expected true or false, found {}", describe(value))))
}

/// An integer in `min..=max`.
pub(crate) fn integer<T: TryFrom<i128>>(
    min: i128,
    max: i128,
) -> impl Fn(&DeValue<'_>) -> Result<T, Invalid> {
    move |value| {
        let DeValue::Integer(i) = value else {
            return Err(Invalid(format!(
                "expected an integer, found {}",
                describe(value)
            )));
        };
        let range = || format!("must be between {min} and {max}, found {i}");
        let n = i128::from_str_radix(i.as_str(), i.radix()).map_err(|_| Invalid(range()))?;
        if n < min || n > max {
            return Err(Invalid(range()));
        }
        T::try_from(n).map_err(|_| Invalid(range()))
    }
}

/// A duration string such as `"2s"` or `"1500ms"`, in `min..=max`.
pub(crate) fn duration(
    min: Duration,
    max: Duration,
) -> impl Fn(&DeValue<'_>) -> Result<Duration, Invalid> {
    move |value| {
        let Some(text) = value.as_str() else {
            return Err(Invalid(format!(
                "expected a duration string like \"2s\" or \"1500ms\", found {}",
                describe(value)
            )));
        };
        let d = humantime::parse_duration(text).map_err(|e| {
            Invalid(format!(
                "invalid duration {text:?} ({e}); write e.g. \"2s\" or \"1500ms\""
            ))
        })?;
        if d < min || d > max {
            return Err(Invalid(format!(
                "must be between {} and {}, found {text:?}",
                humantime::format_duration(min),
                humantime::format_duration(max)
            )));
        }
        Ok(d)
    }
}

/// Byte-size units, longest first so "MiB" is tried before "B".
const BYTE_UNITS: &[(&str, u64)] = &[
    ("kib", 1 << 10),
    ("mib", 1 << 20),
    ("gib", 1 << 30),
    ("tib", 1 << 40),
    ("kb", 1_000),
    ("mb", 1_000_000),
    ("gb", 1_000_000_000),
    ("tb", 1_000_000_000_000),
    ("b", 1),
];

/// A size in bytes: an integer, or a string such as `"64MiB"` or `"100MB"`.
pub(crate) fn byte_size(value: &DeValue<'_>) -> Result<u64, Invalid> {
    let bad = |what: &dyn Display| {
        Invalid(format!(
            "expected a size in bytes (an integer, or a string like \"64MiB\" or \"100MB\"), found {what}"
        ))
    };
    match value {
        DeValue::Integer(_) => integer(0, u64::MAX.into())(value),
        DeValue::String(s) => parse_byte_size(s).ok_or_else(|| bad(&format!("{s:?}"))),
        other => Err(bad(&describe(other))),
    }
}

fn parse_byte_size(text: &str) -> Option<u64> {
    let text = text.trim();
    let digits = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(digits);
    let number: u64 = number.parse().ok()?;
    let unit = unit.trim().to_ascii_lowercase();
    let scale = if unit.is_empty() {
        1
    } else {
        BYTE_UNITS.iter().find(|(u, _)| *u == unit)?.1
    };
    number.checked_mul(scale)
}

/// One of a fixed set of strings, each standing for a value.
pub(crate) fn one_of<T: Copy>(
    choices: &'static [(&'static str, T)],
) -> impl Fn(&DeValue<'_>) -> Result<T, Invalid> {
    move |value| {
        let names = || {
            choices
                .iter()
                .map(|(name, _)| format!("\"{name}\""))
                .collect::<Vec<_>>()
                .join(", ")
        };
        let Some(text) = value.as_str() else {
            return Err(Invalid(format!(
                "expected one of {}, found {}",
                names(),
                describe(value)
            )));
        };
        choices
            .iter()
            .find(|(name, _)| *name == text)
            .map(|(_, v)| *v)
            .ok_or_else(|| Invalid(format!("expected one of {}, found {text:?}", names())))
    }
}

/// One of a fixed set of strings.
pub(crate) fn one_of_names(
    names: &'static [&'static str],
) -> impl Fn(&DeValue<'_>) -> Result<&'static str, Invalid> {
    move |value| {
        let quoted = || {
            names
                .iter()
                .map(|name| format!("\"{name}\""))
                .collect::<Vec<_>>()
                .join(", ")
        };
        let Some(text) = value.as_str() else {
            return Err(Invalid(format!(
                "expected one of {}, found {}",
                quoted(),
                describe(value)
            )));
        };
        names
            .iter()
            .find(|name| **name == text)
            .copied()
            .ok_or_else(|| Invalid(format!("expected one of {}, found {text:?}", quoted())))
    }
}

/// A non-empty path. Relative paths stay relative (to the working
/// directory).
pub(crate) fn path(value: &DeValue<'_>) -> Result<PathBuf, Invalid> {
    let text = string(value)?;
    if text.is_empty() {
        return Err(Invalid("empty path".into()));
    }
    Ok(PathBuf::from(text))
}

/// A PEM bundle of CA certificates, read now and handed to the HTTPS
/// client that trusts it (`list.ca_file`, `report.ca_file`,
/// `[published] ca_file`).
pub(crate) fn ca_file(value: &DeValue<'_>) -> Result<CaBundle, Invalid> {
    CaBundle::read(&path(value)?).map_err(|e| Invalid(e.to_string()))
}

/// A `.pub` file, read now and handed to the module that verifies with it
/// (`list.trusted_keys`, `[published] trusted_keys`).
pub(crate) fn public_key_file(value: &DeValue<'_>) -> Result<PublicKeyFile, Invalid> {
    PublicKeyFile::read(&path(value)?).map_err(|e| Invalid(e.to_string()))
}

/// An `https://` URL with a host. Plain `http://` is refused: the list
/// must not travel where it can be withheld or swapped unnoticed (it is
/// signed, but a downgrade would still let anyone on the path hide newer
/// lists).
pub(crate) fn https_url(value: &DeValue<'_>) -> Result<reqwest::Url, Invalid> {
    let text = string(value)?;
    let url =
        reqwest::Url::parse(text).map_err(|e| Invalid(format!("invalid URL {text:?}: {e}")))?;
    match url.scheme() {
        "https" => {}
        "http" => {
            return Err(Invalid(format!(
                "{text:?} is plain http; the list must be fetched over https (no downgrade)"
            )));
        }
        other => {
            return Err(Invalid(format!(
                "unsupported scheme {other:?} in {text:?}; write an https:// URL"
            )));
        }
    }
    if url.host_str().is_none_or(str::is_empty) {
        return Err(Invalid(format!("{text:?} has no host")));
    }
    Ok(url)
}

/// `IP:PORT` or `[V6]:PORT`; the port is required.
pub(crate) fn socket_addr(value: &DeValue<'_>) -> Result<SocketAddr, Invalid> {
    let text = string(value)?;
    text.parse().map_err(|_| {
        Invalid(format!(
            "invalid address {text:?}; write IP:PORT, e.g. \"127.0.0.1:5353\" or \"[::1]:5353\""
        ))
    })
}

/// `IP`, `IP:PORT`, `[V6]:PORT`, `[V6]` or `V6`; `default_port` when none
/// is given.
pub(crate) fn socket_addr_or_ip(
    default_port: u16,
) -> impl Fn(&DeValue<'_>) -> Result<SocketAddr, Invalid> {
    move |value| {
        let text = string(value)?;
        let bare = text
            .strip_prefix('[')
            .and_then(|t| t.strip_suffix(']'))
            .unwrap_or(text);
        text.parse()
            .or_else(|_| bare.parse::<IpAddr>().map(|ip| SocketAddr::new(ip, default_port)))
            .map_err(|_| {
                Invalid(format!(
                    "invalid address {text:?}; write an IP address (port {default_port} is implied) or IP:PORT, e.g. \"192.0.2.53\", \"192.0.2.53:5300\", \"2001:db8::53\" or \"[2001:db8::53]:5300\""
                ))
            })
    }
}

/// A PEM certificate chain file, read: its path and the chain.
pub(crate) fn pem_chain(
    value: &DeValue<'_>,
) -> Result<(PathBuf, Vec<rustls::pki_types::CertificateDer<'static>>), Invalid> {
    let p = path(value)?;
    let chain = crate::readers::read_certs(&p).map_err(|e| Invalid(e.to_string()))?;
    Ok((p, chain))
}

/// A PEM private key file, read: its path and the key.
pub(crate) fn pem_key(
    value: &DeValue<'_>,
) -> Result<(PathBuf, rustls::pki_types::PrivateKeyDer<'static>), Invalid> {
    let p = path(value)?;
    let key = crate::readers::read_key(&p).map_err(|e| Invalid(e.to_string()))?;
    Ok((p, key))
}

/// An IP address of one family, via `FromStr`.
pub(crate) fn ip<T: std::str::FromStr>(
    family: &'static str,
    example: &'static str,
) -> impl Fn(&DeValue<'_>) -> Result<T, Invalid> {
    move |value| {
        let text = string(value)?;
        text.parse().map_err(|_| {
            Invalid(format!(
                "invalid {family} address {text:?}; write e.g. \"{example}\""
            ))
        })
    }
}

/// A network `ADDR/LEN`, or a bare IP meaning that one host.
pub(crate) fn ip_net(value: &DeValue<'_>) -> Result<ipnet::IpNet, Invalid> {
    let text = string(value)?;
    text.parse()
        .or_else(|_| text.parse::<IpAddr>().map(ipnet::IpNet::from))
        .map_err(|_| {
            Invalid(format!(
                "invalid network {text:?}; write ADDR/LEN or a bare IP, e.g. \"203.0.113.0/24\", \"2001:db8::/32\" or \"192.0.2.7\""
            ))
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spelling::byte_size_to_toml;

    #[test]
    fn edit_distances() {
        assert_eq!(edit_distance("", ""), 0);
        assert_eq!(edit_distance("dns", "dns"), 0);
        assert_eq!(edit_distance("dsn", "dns"), 1);
        assert_eq!(edit_distance("lisen", "listen"), 1);
        assert_eq!(edit_distance("kitten", "sitting"), 3);
        assert_eq!(edit_distance("", "abc"), 3);
        assert_eq!(suggest("dsn", &["dns", "cache", "list"]), Some("dns"));
        assert_eq!(suggest("foo", &["dns", "cache", "list"]), None);
        assert_eq!(
            suggest("upstream", &["upstreams", "listen"]),
            Some("upstreams")
        );
    }

    #[test]
    fn lines() {
        let r = Report::new("f", "a\nbc\n\nd\n");
        let got: Vec<usize> = (0..9).map(|o| r.line(o)).collect();
        assert_eq!(got, [1, 1, 2, 2, 2, 3, 4, 4, 4]);
        assert_eq!(Report::new("f", "").line(0), 1);
        assert_eq!(Report::new("f", "x").line(1), 1);
    }

    #[test]
    fn byte_sizes() {
        assert_eq!(parse_byte_size("64MiB"), Some(64 << 20));
        assert_eq!(parse_byte_size(" 2 gib "), Some(2 << 30));
        assert_eq!(parse_byte_size("5tb"), Some(5_000_000_000_000));
        assert_eq!(parse_byte_size("MiB"), None);
        assert_eq!(parse_byte_size("20000000TiB"), None);
        for n in [0, 1, 1000, 1024, 1536, 64 << 20, 3 << 30, u64::MAX] {
            let text = byte_size_to_toml(n);
            let text = text.trim_matches('"');
            assert_eq!(parse_byte_size(text), Some(n), "{text}");
        }
        assert_eq!(byte_size_to_toml(64 << 20), "\"64MiB\"");
        assert_eq!(byte_size_to_toml(1000), "1000");
    }
}
