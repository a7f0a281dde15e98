//! The page's two languages and which one comes first (`Accept-Language`,
//! RFC 9110 §12.5.4).
//!
//! The page always carries both. Vietnamese leads unless the client
//! prefers English strictly more: a higher q-value for a range whose
//! primary subtag is `en` (`en`, `en-US`) than for any `vi` range, with
//! `*` standing for a language the header does not name.

/// A language of the page.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lang {
    Vi,
    En,
}

impl Lang {
    /// Both languages, in index order.
    pub const ALL: [Self; 2] = [Self::Vi, Self::En];

    /// The BCP 47 tag.
    pub const fn tag(self) -> &'static str {
        match self {
            Self::Vi => "vi",
            Self::En => "en",
        }
    }

    /// Index into per-language arrays.
    pub const fn index(self) -> usize {
        self as usize
    }

    /// Parses a tag as written in a template (`vi`, `en`).
    pub fn from_tag(tag: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|l| l.tag() == tag)
    }
}

/// The two languages in the order the page shows them.
pub fn negotiate(accept_language: Option<&str>) -> [Lang; 2] {
    let Some(header) = accept_language else {
        return [Lang::Vi, Lang::En];
    };
    let (vi, en) = (quality(header, Lang::Vi), quality(header, Lang::En));
    if en > vi {
        [Lang::En, Lang::Vi]
    } else {
        [Lang::Vi, Lang::En]
    }
}

/// The weight (0..=1000) the header gives `lang`: the highest q of a range
/// with `lang` as its primary subtag, else the q of `*`, else 0.
fn quality(header: &str, lang: Lang) -> u16 {
    let mut named: Option<u16> = None;
    let mut wildcard: Option<u16> = None;
    for item in header.split(',') {
        let mut parts = item.split(';');
        let range = parts.next().unwrap_or("").trim();
        if range.is_empty() {
            continue;
        }
        let mut q = Some(1000);
        for param in parts {
            let Some((name, value)) = param.split_once('=') else {
                continue;
            };
            if name.trim().eq_ignore_ascii_case("q") {
                q = parse_q(value.trim());
            }
        }
        // An unparsable weight drops the range, as if never sent.
        let Some(q) = q else {
            continue;
        };
        let primary = range.split('-').next().unwrap_or(range);
        if range == "*" {
            wildcard = Some(wildcard.map_or(q, |w| w.max(q)));
        } else if primary.eq_ignore_ascii_case(lang.tag()) {
            named = Some(named.map_or(q, |n| n.max(q)));
        }
    }
    named.or(wildcard).unwrap_or(0)
}

/// `qvalue = ( "0" [ "." 0*3DIGIT ] ) / ( "1" [ "." 0*3("0") ] )`, in
/// thousandths.
fn parse_q(text: &str) -> Option<u16> {
    let (int, frac) = text.split_once('.').unwrap_or((text, ""));
    if frac.len() > 3 || !frac.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let mut thousandths: u16 = 0;
    for (i, b) in frac.bytes().enumerate() {
        thousandths += u16::from(b - b'0') * [100, 10, 1][i];
    }
    match int {
        "0" => Some(thousandths),
        "1" if thousandths == 0 => Some(1000),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn first(header: Option<&str>) -> Lang {
        negotiate(header)[0]
    }

    #[test]
    fn vietnamese_first_by_default() {
        assert_eq!(first(None), Lang::Vi);
        assert_eq!(first(Some("")), Lang::Vi);
        assert_eq!(first(Some("vi")), Lang::Vi);
        assert_eq!(first(Some("vi-VN,vi;q=0.9,en-US;q=0.8,en;q=0.7")), Lang::Vi);
        assert_eq!(first(Some("fr, de")), Lang::Vi);
        assert_eq!(first(Some("*")), Lang::Vi);
        // A tie keeps Vietnamese first.
        assert_eq!(first(Some("en, vi")), Lang::Vi);
    }

    #[test]
    fn english_first_when_preferred() {
        assert_eq!(first(Some("en")), Lang::En);
        assert_eq!(first(Some("en-US,en;q=0.9")), Lang::En);
        assert_eq!(first(Some("EN-gb")), Lang::En);
        assert_eq!(first(Some("vi;q=0.5, en;q=0.8")), Lang::En);
        assert_eq!(first(Some("vi;q=0, *;q=0.1")), Lang::En);
        assert_eq!(first(Some("fr, en;q=0.5")), Lang::En);
        assert_eq!(negotiate(Some("en")), [Lang::En, Lang::Vi]);
    }

    #[test]
    fn q_values_are_respected() {
        assert_eq!(first(Some("en;q=0.3, vi;q=0.4")), Lang::Vi);
        assert_eq!(first(Some("en;q=0.401, vi;q=0.4")), Lang::En);
        assert_eq!(first(Some("en;q=0, vi;q=0")), Lang::Vi);
        assert_eq!(first(Some("en ; Q=1.000")), Lang::En);
        // An invalid weight drops that range.
        assert_eq!(first(Some("en;q=2")), Lang::Vi);
        assert_eq!(first(Some("en;q=0.5555")), Lang::Vi);
        assert_eq!(first(Some("en;q=abc")), Lang::Vi);
        // The named range beats the wildcard.
        assert_eq!(first(Some("*;q=0.9, vi;q=0.1")), Lang::En);
    }

    #[test]
    fn parse_q_grammar() {
        assert_eq!(parse_q("0"), Some(0));
        assert_eq!(parse_q("0."), Some(0));
        assert_eq!(parse_q("0.5"), Some(500));
        assert_eq!(parse_q("0.05"), Some(50));
        assert_eq!(parse_q("0.123"), Some(123));
        assert_eq!(parse_q("1"), Some(1000));
        assert_eq!(parse_q("1.000"), Some(1000));
        assert_eq!(parse_q("1.001"), None);
        assert_eq!(parse_q("-0"), None);
        assert_eq!(parse_q(""), None);
        assert_eq!(parse_q(".5"), None);
    }

    #[test]
    fn garbage_headers_do_not_panic() {
        for h in [
            ",,,",
            ";;;",
            "q=1",
            "en;q",
            "en;=",
            ";q=1",
            "\u{1F600};q=0.5",
            "-",
        ] {
            let _ = negotiate(Some(h));
        }
    }
}
