//! Domain names as ward matches them.
//!
//! Two forms live here:
//!
//! * [`DomainName`]: a validated, lowercase A-label name without a trailing
//!   dot, parsed from text (list sources, the CLI). Unicode input is mapped
//!   to A-labels with UTS-46.
//! * [`NameKey`]: the *reversed-label key* used by the list payload. The name
//!   `www.Example.com.` becomes `com.example.www.`: labels in reverse order,
//!   each followed by a dot. Matching "this name or anything under it" is then
//!   a prefix walk that stops on label boundaries.
//!
//! Keys can be built from a [`DomainName`] or straight from DNS wire labels
//! ([`NameKey::from_wire_labels`]) without allocating. Wire labels may carry
//! any byte; such labels can never equal a list label, so they simply fail to
//! match while their parents are still checked.

use std::fmt;
use std::net::IpAddr;

/// Longest textual name, without the trailing dot (RFC 1035 §2.3.4 wire
/// limit of 255 octets minus length bytes).
pub const MAX_NAME_LEN: usize = 253;
/// Longest label (RFC 1035 §2.3.4).
pub const MAX_LABEL_LEN: usize = 63;
/// Capacity of a key buffer: the longest name plus its final dot.
pub const MAX_KEY_LEN: usize = MAX_NAME_LEN + 1;

/// Why text is not a domain name ward can list or match.
///
/// Messages never quote the name itself: a name in a confidential category
/// must not reach logs or terminals, and the caller knows where it came from.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NameError {
    #[error("empty name")]
    Empty,
    #[error("empty label (two dots in a row, or a leading dot)")]
    EmptyLabel,
    #[error("label {label} is {len} bytes long; a label holds at most 63 bytes")]
    LabelTooLong { label: usize, len: usize },
    #[error("name is {len} bytes long as an A-label; a name holds at most 253 bytes")]
    NameTooLong { len: usize },
    #[error(
        "bad label: label {label} contains {found}, only letters, digits, '-' and '_' are allowed"
    )]
    BadCharacter { label: usize, found: String },
    #[error("bad label: label {label} is not a valid IDN ({reason})")]
    BadIdn { label: usize, reason: &'static str },
    #[error("bad label: Unicode name cannot be converted to an A-label (UTS-46)")]
    Idna,
    #[error("IP literal: ward lists names, not addresses")]
    IpLiteral,
}

/// A validated domain name: lowercase A-labels, no trailing dot, at most 253
/// bytes, every label 1..=63 bytes of `[a-z0-9_-]`.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct DomainName(String);

impl DomainName {
    /// Parses text, accepting Unicode (mapped with UTS-46), any case and one
    /// trailing dot.
    pub fn parse(text: &str) -> Result<Self, NameError> {
        let text = text.strip_suffix('.').unwrap_or(text);
        if text.is_empty() {
            return Err(NameError::Empty);
        }
        if is_ip_literal(text) {
            return Err(NameError::IpLiteral);
        }
        let needs_idna = !text.is_ascii() || text.split('.').any(is_ace_label);
        let ascii = if needs_idna {
            // Empty labels and per-label errors are reported by our own
            // checks below with better wording; UTS-46 only maps.
            if text.split('.').any(str::is_empty) {
                return Err(NameError::EmptyLabel);
            }
            idna::domain_to_ascii_cow(text.as_bytes(), idna::AsciiDenyList::EMPTY)
                .map_err(|_| NameError::Idna)?
                .into_owned()
        } else {
            text.to_ascii_lowercase()
        };
        validate_ascii(&ascii)?;
        if is_ip_literal(&ascii) {
            return Err(NameError::IpLiteral);
        }
        Ok(Self(ascii))
    }

    /// The name as lowercase A-labels, without a trailing dot.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The labels, left to right.
    pub fn labels(&self) -> impl DoubleEndedIterator<Item = &str> {
        self.0.split('.')
    }

    /// Number of labels.
    pub fn label_count(&self) -> usize {
        self.labels().count()
    }

    /// The reversed-label key of this name.
    pub fn key(&self) -> NameKey {
        let mut key = NameKey::new();
        for label in self.labels().rev() {
            // A validated name always fits: 253 bytes plus one final dot.
            key.push_label(label.as_bytes());
        }
        key
    }
}

impl fmt::Display for DomainName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for DomainName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "DomainName({:?})", self.0)
    }
}

impl std::str::FromStr for DomainName {
    type Err = NameError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

fn is_ace_label(label: &str) -> bool {
    label.len() >= 4 && label[..4].eq_ignore_ascii_case("xn--")
}

/// True for text that is an IP address: dotted IPv4, IPv6 (optionally in
/// brackets), or a name whose last label is all digits, which browsers and
/// the WHATWG URL standard also read as IPv4.
fn is_ip_literal(text: &str) -> bool {
    let bare = text
        .strip_prefix('[')
        .and_then(|t| t.strip_suffix(']'))
        .unwrap_or(text);
    if bare.parse::<IpAddr>().is_ok() {
        return true;
    }
    match text.rsplit('.').next() {
        Some(last) => !last.is_empty() && last.bytes().all(|b| b.is_ascii_digit()),
        None => false,
    }
}

/// Checks an already lowercased ASCII name.
fn validate_ascii(name: &str) -> Result<(), NameError> {
    if name.is_empty() {
        return Err(NameError::Empty);
    }
    for (i, label) in name.split('.').enumerate() {
        let label_no = i + 1;
        if label.is_empty() {
            return Err(NameError::EmptyLabel);
        }
        if label.len() > MAX_LABEL_LEN {
            return Err(NameError::LabelTooLong {
                label: label_no,
                len: label.len(),
            });
        }
        if let Some(bad) = label.chars().find(|&c| !is_label_char(c)) {
            return Err(NameError::BadCharacter {
                label: label_no,
                found: describe_char(bad),
            });
        }
    }
    if name.len() > MAX_NAME_LEN {
        return Err(NameError::NameTooLong { len: name.len() });
    }
    Ok(())
}

fn is_label_char(c: char) -> bool {
    c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_'
}

fn is_label_byte(b: u8) -> bool {
    b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_'
}

fn describe_char(c: char) -> String {
    if c.is_ascii_graphic() {
        format!("'{c}'")
    } else {
        format!("U+{:04X}", c as u32)
    }
}

/// A reversed-label key in a fixed buffer: `com.example.www.`.
///
/// Building one never allocates. Keys built from wire labels may contain
/// bytes that no list label can hold; a `.` inside a wire label is replaced
/// by `0xFF` so that it cannot fake a label boundary.
#[derive(Clone)]
pub struct NameKey {
    buf: [u8; MAX_KEY_LEN],
    len: usize,
    labels: u8,
    /// Set when the name did not fit; such a key never matches.
    overflow: bool,
}

impl NameKey {
    /// An empty key (the root).
    pub fn new() -> Self {
        Self {
            buf: [0; MAX_KEY_LEN],
            len: 0,
            labels: 0,
            overflow: false,
        }
    }

    /// Builds a key from labels given left to right (`www`, `example`,
    /// `com`), as they appear in a DNS question. Case is folded; the root
    /// label (empty) ends the name.
    pub fn from_wire_labels<'a, I>(labels: I) -> Self
    where
        I: IntoIterator<Item = &'a [u8]>,
        I::IntoIter: DoubleEndedIterator,
    {
        let mut key = Self::new();
        for label in labels.into_iter().rev() {
            if label.is_empty() {
                continue;
            }
            key.push_label(label);
        }
        key
    }

    /// Builds a key from an uncompressed wire-format name: length-prefixed
    /// labels ending with the root label, as the question of a query
    /// carries it. The same key as [`NameKey::from_wire_labels`] gives for
    /// those labels, built in one pass without collecting them first: each
    /// label is written straight to its place counted from the end.
    /// Anything that is not such a name (a compression pointer, a label
    /// running past the end) gives an overflowed key, which never matches.
    #[inline]
    pub fn from_uncompressed_wire(name: &[u8]) -> Self {
        let mut key = Self::new();
        // One exit, so the key is built where the caller keeps it rather
        // than copied there (272 bytes) from each early return.
        if !key.write_uncompressed_wire(name) {
            key.overflow = true;
        }
        key
    }

    /// The body of [`NameKey::from_uncompressed_wire`] on an empty key;
    /// false when the name is not such a name (the key is then unusable).
    #[inline(always)]
    fn write_uncompressed_wire(&mut self, name: &[u8]) -> bool {
        let Some(total) = name.len().checked_sub(1).filter(|&t| t <= MAX_KEY_LEN) else {
            return false;
        };
        let mut pos = 0;
        let mut end = total;
        loop {
            let Some(&len) = name.get(pos) else {
                return false;
            };
            if len == 0 {
                break;
            }
            let len = usize::from(len);
            let label = name.get(pos + 1..pos + 1 + len);
            let at = end.checked_sub(len + 1);
            let (Some(label), Some(at), true) = (label, at, len <= MAX_LABEL_LEN) else {
                return false;
            };
            for (dst, &b) in self.buf[at..end - 1].iter_mut().zip(label) {
                *dst = match b {
                    b'.' => 0xFF,
                    _ => b.to_ascii_lowercase(),
                };
            }
            self.buf[end - 1] = b'.';
            end = at;
            pos += 1 + len;
            self.labels = self.labels.saturating_add(1);
        }
        if end != 0 || pos + 1 != name.len() {
            return false;
        }
        self.len = total;
        true
    }

    /// Builds a key from dotted text (an SNI host name, a Host header).
    /// One trailing dot is ignored. Returns `None` for empty names and empty
    /// labels, which no list entry can match.
    pub fn from_text(text: &[u8]) -> Option<Self> {
        let text = text.strip_suffix(b".").unwrap_or(text);
        if text.is_empty() || text.len() > MAX_NAME_LEN {
            return None;
        }
        let mut key = Self::new();
        for label in text.split(|&b| b == b'.').rev() {
            if label.is_empty() {
                return None;
            }
            key.push_label(label);
        }
        (!key.overflow).then_some(key)
    }

    /// Appends one label (the next one *down* the tree), folding ASCII case.
    pub fn push_label(&mut self, label: &[u8]) {
        if self.overflow || label.is_empty() || label.len() > MAX_LABEL_LEN {
            self.overflow = true;
            return;
        }
        let end = self.len + label.len() + 1;
        if end > MAX_KEY_LEN {
            self.overflow = true;
            return;
        }
        for (dst, &b) in self.buf[self.len..end - 1].iter_mut().zip(label) {
            *dst = match b {
                b'.' => 0xFF,
                _ => b.to_ascii_lowercase(),
            };
        }
        self.buf[end - 1] = b'.';
        self.len = end;
        self.labels = self.labels.saturating_add(1);
    }

    /// The key bytes. Empty for an overflowed key.
    pub fn as_bytes(&self) -> &[u8] {
        if self.overflow {
            &[]
        } else {
            &self.buf[..self.len]
        }
    }

    /// Number of labels in the key.
    pub fn label_count(&self) -> usize {
        usize::from(self.labels)
    }

    /// True when the name was too long to hold; it matches nothing.
    pub fn is_overflow(&self) -> bool {
        self.overflow
    }

    /// True when every label consists of list-able bytes (`[a-z0-9_-]`).
    pub fn is_listable(&self) -> bool {
        !self.overflow
            && self
                .as_bytes()
                .iter()
                .all(|&b| b == b'.' || is_label_byte(b))
    }

    /// Converts a key back to the forward text form (`www.example.com`).
    pub fn to_forward(key: &[u8]) -> String {
        let trimmed = key.strip_suffix(b".").unwrap_or(key);
        let mut out = String::with_capacity(trimmed.len());
        for (i, label) in trimmed.split(|&b| b == b'.').rev().enumerate() {
            if i > 0 {
                out.push('.');
            }
            out.push_str(&String::from_utf8_lossy(label));
        }
        out
    }
}

impl Default for NameKey {
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Debug for NameKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "NameKey({:?})", String::from_utf8_lossy(self.as_bytes()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_folds_case() {
        let n = DomainName::parse("WWW.Example.COM.").unwrap();
        assert_eq!(n.as_str(), "www.example.com");
        assert_eq!(n.key().as_bytes(), b"com.example.www.");
        assert_eq!(n.label_count(), 3);
    }

    #[test]
    fn idn_becomes_a_label() {
        let n = DomainName::parse("Bücher.example.test").unwrap();
        assert_eq!(n.as_str(), "xn--bcher-kva.example.test");
        let n = DomainName::parse("bộgiáodục.vn").unwrap();
        assert!(n.as_str().starts_with("xn--"), "{n}");
        // An A-label round-trips unchanged.
        let n = DomainName::parse("XN--BCHER-KVA.example.test").unwrap();
        assert_eq!(n.as_str(), "xn--bcher-kva.example.test");
    }

    #[test]
    fn rejects_bad_names() {
        assert_eq!(DomainName::parse(""), Err(NameError::Empty));
        assert_eq!(DomainName::parse("."), Err(NameError::Empty));
        assert_eq!(DomainName::parse("a..b"), Err(NameError::EmptyLabel));
        assert_eq!(DomainName::parse(".a.b"), Err(NameError::EmptyLabel));
        assert_eq!(DomainName::parse("a.b.."), Err(NameError::EmptyLabel));
        assert_eq!(DomainName::parse("1.2.3.4"), Err(NameError::IpLiteral));
        assert_eq!(DomainName::parse("[::1]"), Err(NameError::IpLiteral));
        assert_eq!(DomainName::parse("2001:db8::1"), Err(NameError::IpLiteral));
        assert_eq!(DomainName::parse("host.123"), Err(NameError::IpLiteral));
        assert!(matches!(
            DomainName::parse(&format!("{}.com", "a".repeat(64))),
            Err(NameError::LabelTooLong { label: 1, len: 64 })
        ));
        let long = vec!["abcdefghi"; 26].join(".");
        assert!(matches!(
            DomainName::parse(&long),
            Err(NameError::NameTooLong { .. })
        ));
        assert!(matches!(
            DomainName::parse("a b.com"),
            Err(NameError::BadCharacter { label: 1, .. })
        ));
        assert!(matches!(
            DomainName::parse("ex*ample.com"),
            Err(NameError::BadCharacter { .. })
        ));
        assert!(DomainName::parse("xn--zz.com").is_err());
    }

    #[test]
    fn max_lengths_are_accepted() {
        let label = "a".repeat(63);
        assert!(DomainName::parse(&format!("{label}.com")).is_ok());
        // 4 * 63 + 3 dots = 255 > 253; 3 * 63 + 61 + 3 dots = 253.
        let name = format!("{label}.{label}.{label}.{}", "b".repeat(61));
        assert_eq!(name.len(), 253);
        let n = DomainName::parse(&name).unwrap();
        assert_eq!(n.key().as_bytes().len(), 254);
    }

    #[test]
    fn wire_key_folds_and_guards_dots() {
        let k = NameKey::from_wire_labels([&b"WwW"[..], b"ExAmple", b"com", b""]);
        assert_eq!(k.as_bytes(), b"com.example.www.");
        let k = NameKey::from_wire_labels([&b"a.b"[..], b"com"]);
        assert_eq!(k.as_bytes(), b"com.a\xffb.");
        assert!(!k.is_listable());
    }

    #[test]
    fn text_key() {
        assert_eq!(
            NameKey::from_text(b"Mixed.Case.Example.TEST")
                .unwrap()
                .as_bytes(),
            b"test.example.case.mixed."
        );
        assert!(NameKey::from_text(b"a..b").is_none());
        assert!(NameKey::from_text(b"").is_none());
        assert_eq!(NameKey::to_forward(b"com.example.www."), "www.example.com");
    }

    #[test]
    fn overlong_wire_name_overflows() {
        let label = [b'a'; 63];
        let labels: Vec<&[u8]> = vec![&label; 5];
        let k = NameKey::from_wire_labels(labels);
        assert!(k.is_overflow());
        assert!(k.as_bytes().is_empty());
    }
}
