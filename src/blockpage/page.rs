//! The notice itself: settings, the loaded template, and the 451 response
//! for one request (pure: no I/O besides loading the template once).

use std::fmt::Write as _;
use std::path::PathBuf;

use jiff::Timestamp;
use jiff::tz::TimeZone;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;

use super::head::RequestHead;
use super::lang::{Lang, negotiate};
use super::template::{
    self, Missing, ParseError, Reason, Template, TemplateProblem, Value, Values,
};
use crate::list::ListArtifact;
use crate::policy::{self, Context, ListRef, Verdict};
use crate::profiles::{Reader, SchoolContact};
use crate::store::Active;

/// The national child-protection hotline (Tổng đài quốc gia bảo vệ trẻ em).
pub const DEFAULT_HOTLINE: &str = "111";
/// Metrics category for a page shown for a host not on the list (or with
/// no list in force).
pub const UNLISTED_LABEL: &str = "unlisted";
/// Metrics category when the list's index faulted or names no category
/// (the same label `ward_blocked_total` uses for a faulted lookup).
pub const UNKNOWN_LABEL: &str = policy::INDEX_FAULT_NAME;
/// From this age on a profile's readers get the teen wording
/// (`{{if teen}}`); younger ones the child wording (`{{if child}}`).
pub const TEEN_AGE: u8 = 13;
/// Hours east of UTC of the dates on the page: Vietnam (ICT, no DST).
const VIETNAM_UTC_OFFSET_HOURS: i8 = 7;

/// Sent with every notice (RFC 7725 §3 for the status).
const CONTENT_SECURITY_POLICY: &str =
    "default-src 'none'; style-src 'unsafe-inline'; img-src data:";

/// Operator settings for the page (`[blockpage]` in the config).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PageSettings {
    /// A template file replacing the built-in one.
    pub template: Option<PathBuf>,
    /// Where to report a wrongly blocked site (`http(s)://` or `mailto:`);
    /// empty hides the link.
    pub appeal_url: String,
    /// URI identifying the ISP that implements the block, sent as
    /// `Link: <URI>; rel="blocked-by"` (RFC 7725 §4); empty omits it.
    pub blocked_by: String,
    /// The hotline shown and dialled.
    pub hotline: String,
}

impl Default for PageSettings {
    fn default() -> Self {
        Self {
            template: None,
            appeal_url: String::new(),
            blocked_by: String::new(),
            hotline: DEFAULT_HOTLINE.to_owned(),
        }
    }
}

/// Why the page could not be set up. Template problems name `file:line`.
#[derive(Debug, thiserror::Error)]
pub enum PageError {
    #[error("cannot read the block page template {}: {source}", path.display())]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{file}:{line}: {problem}")]
    Template {
        file: String,
        line: usize,
        problem: TemplateProblem,
    },
    #[error("{file}: {missing}; see docs/blockpage.md")]
    Incomplete { file: String, missing: Missing },
    #[error("blockpage.{key}: {problem}")]
    Setting {
        key: &'static str,
        problem: SettingProblem,
    },
}

/// A `[blockpage]` setting that cannot be used.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum SettingProblem {
    #[error("must be a phone number: digits, spaces and + - . ( ) only, as in \"111\"")]
    Hotline,
    #[error(
        "must be an http://, https:// or mailto: URL with no spaces or control characters, \
         or empty to hide the link"
    )]
    AppealUrl,
    #[error(
        "must be an absolute ASCII URI (e.g. https://isp.example/blocking) with no spaces, \
         quotes or angle brackets, or empty to omit the Link header"
    )]
    BlockedBy,
}

/// The block notice, loaded once at start-up.
#[derive(Debug)]
pub struct BlockPage {
    template: Template,
    hotline: String,
    hotline_tel: String,
    appeal_url: String,
    blocked_by: String,
}

impl BlockPage {
    /// Loads the template (the built-in one unless `settings.template`)
    /// and checks the settings.
    pub fn new(settings: &PageSettings) -> Result<Self, PageError> {
        let template = match &settings.template {
            None => load(template::EMBEDDED_NAME, template::EMBEDDED)?,
            Some(path) => {
                let text = std::fs::read_to_string(path).map_err(|source| PageError::Read {
                    path: path.clone(),
                    source,
                })?;
                load(&path.display().to_string(), &text)?
            }
        };
        let setting = |key, problem| PageError::Setting { key, problem };
        let hotline = settings.hotline.trim();
        if !hotline.bytes().any(|b| b.is_ascii_digit())
            || !hotline
                .bytes()
                .all(|b| b.is_ascii_digit() || b" +-.()".contains(&b))
        {
            return Err(setting("hotline", SettingProblem::Hotline));
        }
        let appeal_url = settings.appeal_url.trim();
        if !appeal_url.is_empty()
            && (!["https://", "http://", "mailto:"]
                .iter()
                .any(|s| appeal_url.len() > s.len() && appeal_url.starts_with(s))
                || !appeal_url.chars().all(is_uri_char))
        {
            return Err(setting("appeal_url", SettingProblem::AppealUrl));
        }
        let blocked_by = settings.blocked_by.trim();
        if !blocked_by.is_empty() && !is_absolute_ascii_uri(blocked_by) {
            return Err(setting("blocked_by", SettingProblem::BlockedBy));
        }
        let plus = if hotline.starts_with('+') { "+" } else { "" };
        let digits: String = hotline.chars().filter(char::is_ascii_digit).collect();
        Ok(Self {
            template,
            hotline: hotline.to_owned(),
            hotline_tel: format!("{plus}{digits}"),
            appeal_url: appeal_url.to_owned(),
            blocked_by: blocked_by.to_owned(),
        })
    }

    /// The built-in template with default settings (no appeal link, no
    /// `Link` header). For demos and tests.
    pub fn embedded_default() -> Self {
        // The embedded template is checked by the unit test
        // `embedded_template_parses`, and the default settings are valid.
        Self::new(&PageSettings::default()).expect("built-in block page is valid")
    }

    /// Complete HTTP/1.1 451 response bytes for a request, using the list
    /// in force. Counts the view in `views`.
    pub fn respond(&self, head: &RequestHead, list: Option<&Active>, views: &PageViews) -> Vec<u8> {
        self.respond_at(head, list, None, views, Timestamp::now())
    }

    /// [`BlockPage::respond`] for a reader whose address selects a
    /// profile: the verdict is the profile's (`policy::decide_for`), and
    /// the page words it for the profile's age and names its school; a
    /// confidential block gets the same neutral page as anyone.
    pub fn respond_for(
        &self,
        head: &RequestHead,
        list: Option<&Active>,
        reader: Option<Reader<'_>>,
        views: &PageViews,
    ) -> Vec<u8> {
        self.respond_at(head, list, reader, views, Timestamp::now())
    }

    pub(crate) fn respond_at(
        &self,
        head: &RequestHead,
        list: Option<&Active>,
        reader: Option<Reader<'_>>,
        views: &PageViews,
        now: Timestamp,
    ) -> Vec<u8> {
        let order = negotiate(head.accept_language.as_deref());
        let decision = decide_for(head.host.as_deref(), list, reader);
        views.count(decision.label);
        let body = self.render(order, &decision, list, now);
        let mut out = String::with_capacity(body.len() + 1024);
        // Writing to a String cannot fail.
        let _ = write!(
            out,
            "HTTP/1.1 451 Unavailable For Legal Reasons\r\n\
             Date: {}\r\n\
             Content-Type: text/html; charset=utf-8\r\n\
             Content-Length: {}\r\n\
             Content-Language: {}, {}\r\n\
             Vary: Accept-Language\r\n\
             Cache-Control: no-store\r\n",
            http_date(now),
            body.len(),
            order[0].tag(),
            order[1].tag(),
        );
        if !self.blocked_by.is_empty() {
            let _ = write!(out, "Link: <{}>; rel=\"blocked-by\"\r\n", self.blocked_by);
        }
        let _ = write!(
            out,
            "Content-Security-Policy: {CONTENT_SECURITY_POLICY}\r\n\
             Referrer-Policy: no-referrer\r\n\
             X-Content-Type-Options: nosniff\r\n\
             Connection: close\r\n\r\n"
        );
        let mut bytes = out.into_bytes();
        if head.method != "HEAD" {
            bytes.extend_from_slice(body.as_bytes());
        }
        bytes
    }

    fn render(
        &self,
        order: [Lang; 2],
        d: &Decision<'_>,
        list: Option<&Active>,
        now: Timestamp,
    ) -> String {
        let vietnam = TimeZone::fixed(jiff::tz::offset(VIETNAM_UTC_OFFSET_HOURS));
        let mut v = Values::default();
        v.set(Value::Lang, order[0].tag());
        v.set(Value::Hotline, self.hotline.as_str());
        v.set(Value::HotlineTel, self.hotline_tel.as_str());
        v.set(Value::AppealUrl, self.appeal_url.as_str());
        v.set(Value::BlockedBy, self.blocked_by.as_str());
        if let Some(shown) = &d.shown {
            v.set(Value::Host, shown.host.as_str());
            v.set(Value::Category, shown.category);
        }
        if let Some(reader) = &d.reader {
            if reader.age < TEEN_AGE {
                v.set(Value::Child, "child");
            } else {
                v.set(Value::Teen, "teen");
            }
            v.set(
                Value::SchoolName,
                reader.school.name.as_deref().unwrap_or(""),
            );
            v.set(
                Value::SchoolContact,
                reader.school.contact.as_deref().unwrap_or(""),
            );
            v.set(Value::SchoolList, reader.list.unwrap_or(""));
        }
        if let Some(active) = list {
            let m = active.manifest();
            let issued = m.issued_at.to_zoned_datetime(vietnam.clone());
            v.set(Value::ListId, m.list_id.as_str());
            v.set(Value::Serial, m.serial.to_string());
            v.set(Value::Issued, issued.strftime("%Y-%m-%d").to_string());
            v.set(Value::IssuedDmy, issued.strftime("%d/%m/%Y").to_string());
        }
        let today = now.to_zoned_datetime(vietnam);
        v.set(Value::Date, today.strftime("%Y-%m-%d").to_string());
        v.set(Value::DateDmy, today.strftime("%d/%m/%Y").to_string());
        self.template.render(&v, order, d.reason)
    }
}

fn load(file: &str, text: &str) -> Result<Template, PageError> {
    Template::parse(text).map_err(|e| match e {
        ParseError::At { line, problem } => PageError::Template {
            file: file.to_owned(),
            line,
            problem,
        },
        ParseError::Missing(missing) => PageError::Incomplete {
            file: file.to_owned(),
            missing,
        },
    })
}

/// What the page says about a request's host.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Decision<'a> {
    reason: Reason<'a>,
    /// The metrics category.
    label: &'a str,
    /// Shown on the page: only for a non-confidential block.
    shown: Option<Shown<'a>>,
    /// The reader's profile, for its wording and school: never for a
    /// confidential block (the neutral page says nothing more).
    reader: Option<ShownReader<'a>>,
}

/// What the page tells a profile's reader.
#[derive(Debug, Clone, PartialEq, Eq)]
struct ShownReader<'a> {
    age: u8,
    school: &'a SchoolContact,
    /// The profile's list that blocked (`None`: the national list, or
    /// nothing blocked).
    list: Option<&'a str>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct Shown<'a> {
    /// The host as a reader knows it (IDNs in Unicode).
    host: String,
    category: &'a str,
}

/// The decision for a reader without a profile: the national list alone.
#[cfg(test)]
fn decide<'a>(host: Option<&str>, list: Option<&'a Active>) -> Decision<'a> {
    decide_for(host, list, None)
}

/// The decision on a request's host for `reader` (or a client without a
/// profile): the verdict the DNS gave it (`policy::decide_for`).
fn decide_for<'a>(
    host: Option<&str>,
    list: Option<&'a Active>,
    reader: Option<Reader<'a>>,
) -> Decision<'a> {
    let shown_reader = |list: Option<&'a str>| {
        reader.map(|r| ShownReader {
            age: r.profile.age,
            school: r.school,
            list,
        })
    };
    // Not a block: someone opened the page's address. Today's page,
    // with no wording about a block for the reader's age.
    let unlisted = Decision {
        reason: Reason::Unlisted,
        label: UNLISTED_LABEL,
        shown: None,
        reader: None,
    };
    let unknown = Decision {
        reason: Reason::Other,
        label: UNKNOWN_LABEL,
        shown: None,
        reader: shown_reader(None),
    };
    let (Some(active), Some(host)) = (list, host) else {
        return unlisted;
    };
    // The same key as the DNS and SNI paths: an IDN host in Unicode is
    // looked up by its A-labels.
    let Ok(key) = policy::key_of_text(host.as_bytes()) else {
        return unlisted;
    };
    let block = match reader {
        None => policy::decide(active, &key, &Context::NONE),
        // A list of the profile's that never loaded: DNS answered
        // SERVFAIL, so nobody was sent here; blocked, reason unknown.
        Some(r) => match policy::decide_for(active, Some(r.profile), &key) {
            Ok(verdict) => verdict,
            Err(_) => return unknown,
        },
    };
    let Verdict::Block(block) = block else {
        return unlisted;
    };
    let (artifact, list_name): (&'a ListArtifact, Option<&'a str>) = match block.list {
        // Outside the reader's walled garden: no list, no category; the
        // host is not shown (a list might hold it as confidential).
        ListRef::Garden => {
            return Decision {
                reason: Reason::Category(policy::GARDEN_NAME),
                label: policy::GARDEN_NAME,
                shown: None,
                reader: shown_reader(None),
            };
        }
        ListRef::National => (active, None),
        ListRef::Extra(i) => {
            let extra = reader.and_then(|r| r.lists.get(usize::from(i)));
            match extra.and_then(|l| l.list.as_deref().map(|a| (&**a, l.name.as_str()))) {
                Some((artifact, name)) => (artifact, Some(name)),
                None => return unknown,
            }
        }
    };
    // The fault and unknown pseudo-categories have no info.
    let Some(info) = block.category_info(artifact) else {
        return unknown;
    };
    if block.confidential() || info.confidential {
        return Decision {
            reason: Reason::Confidential,
            label: &info.name,
            shown: None,
            reader: None,
        };
    }
    let (unicode, valid) = idna::domain_to_unicode(host);
    Decision {
        reason: Reason::Category(&info.name),
        label: &info.name,
        shown: Some(Shown {
            host: if valid.is_ok() {
                unicode
            } else {
                host.to_owned()
            },
            category: &info.name,
        }),
        reader: shown_reader(list_name),
    }
}

/// Characters allowed in a configured URL shown in an `href` (where it is
/// HTML-escaped anyway).
fn is_uri_char(c: char) -> bool {
    !c.is_control() && !c.is_whitespace()
}

/// `scheme:rest`, printable ASCII, nothing that could end the `<…>` of a
/// `Link` header.
fn is_absolute_ascii_uri(s: &str) -> bool {
    let Some((scheme, rest)) = s.split_once(':') else {
        return false;
    };
    let mut sb = scheme.bytes();
    sb.next().is_some_and(|b| b.is_ascii_alphabetic())
        && sb.all(|b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'-' | b'.'))
        && !rest.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_graphic() && !matches!(b, b'<' | b'>' | b'"'))
}

/// IMF-fixdate (RFC 9110 §5.6.7).
pub(crate) fn http_date(now: Timestamp) -> String {
    now.strftime("%a, %d %b %Y %H:%M:%S GMT").to_string()
}

/// A short plain-text response that closes the connection (400, 431).
pub(crate) fn plain_response(status: &str, text: &str) -> Vec<u8> {
    format!(
        "HTTP/1.1 {status}\r\n\
         Date: {}\r\n\
         Content-Type: text/plain; charset=utf-8\r\n\
         Content-Length: {}\r\n\
         Cache-Control: no-store\r\n\
         X-Content-Type-Options: nosniff\r\n\
         Connection: close\r\n\r\n{text}",
        http_date(Timestamp::now()),
        text.len(),
    )
    .into_bytes()
}

/// The labels of `ward_blockpage_views_total`.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(crate) struct CategoryLabels {
    pub(crate) category: String,
}

/// Notice pages served, by list category (`ward_blockpage_views_total`).
/// `metrics` registers the family; clones share its series.
#[derive(Clone, Debug, Default)]
pub struct PageViews(pub(crate) Family<CategoryLabels, Counter>);

impl PageViews {
    /// Counts one page served for `category` (a list category name, or
    /// `unlisted`). Takes the family's lock: once per page, not per packet.
    pub fn count(&self, category: &str) {
        self.0
            .get_or_create(&CategoryLabels {
                category: category.to_owned(),
            })
            .inc();
    }
}

#[cfg(test)]
#[path = "tests.rs"]
mod tests;
