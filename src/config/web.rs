//! `[sni]`, `[http]` and `[blockpage]`: the web-side filters and the block
//! notice page. Each section is optional; an absent section disables that
//! listener. See `docs/deploy-sni.md` for the nftables side.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use serde::Serialize;

use super::extract::{self, Got, Invalid, Table};
use crate::blockpage::{BlockPage, PageError, PageSettings};
use crate::spelling::{self, Bytes};

/// `sni.read_timeout` / `http.read_timeout`: the whole ClientHello or
/// request head must arrive within this.
pub const DEFAULT_READ_TIMEOUT: Duration = Duration::from_secs(10);
pub const MIN_READ_TIMEOUT: Duration = Duration::from_millis(100);
pub const MAX_READ_TIMEOUT: Duration = Duration::from_secs(300);
/// `sni.max_hello_size`: OpenSSL servers accept ClientHellos up to about
/// 128 KiB, so anything a server would take must fit.
pub const DEFAULT_MAX_HELLO: u64 = 128 << 10;
/// `http.max_head_size`: nginx's `large_client_header_buffers` default is
/// 4 × 8 KiB.
pub const DEFAULT_MAX_HEAD: u64 = 32 << 10;
/// The smallest read cap accepted: a minimal ClientHello is ~50 bytes,
/// a minimal request head ~20; anything under 512 rejects real clients.
pub const MIN_READ_CAP: u64 = 512;
pub const MAX_READ_CAP: u64 = 1 << 20;
/// `connect_timeout`: reaching the original destination.
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// `idle_timeout`: a relayed connection with no byte in either direction
/// for this long is closed (nginx `proxy_timeout` is 10 min).
pub const DEFAULT_IDLE_TIMEOUT: Duration = Duration::from_secs(600);
pub const MAX_IDLE_TIMEOUT: Duration = Duration::from_secs(86_400);
/// `mark`: the `SO_MARK` of ward's outbound connections ("WD"), which the
/// nftables rules skip so that they are not steered back into ward.
pub const DEFAULT_MARK: u32 = 0x5744;
/// `max_connections`, per listener.
pub const DEFAULT_MAX_CONNECTIONS: usize = 10_000;
/// `blockpage.hotline`: the national child-protection hotline.
pub const DEFAULT_HOTLINE: &str = "111";
/// `blockpage.appeal_url`.
pub const DEFAULT_APPEAL_URL: &str = "https://tongdai111.vn/";
/// `blockpage.blocked_by`: RFC 7725 `Link: <…>; rel="blocked-by"`, the
/// party implementing the block: the ISP, so there is no sensible default;
/// empty omits the header.
pub const DEFAULT_BLOCKED_BY: &str = "";
/// `blockpage.max_head_size`.
pub const DEFAULT_PAGE_MAX_HEAD: u64 = 16 << 10;

/// How steered connections reach the listener.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InterceptMode {
    /// nftables `redirect`/`dnat`: the original destination is read with
    /// `SO_ORIGINAL_DST` (`IP6T_SO_ORIGINAL_DST` for IPv6).
    Redirect,
    /// nftables `tproxy`: the listener is `IP_TRANSPARENT`, the original
    /// destination is the accepted socket's local address, and outbound
    /// connections leave from the client's own address.
    Tproxy,
}

impl InterceptMode {
    pub(super) const CHOICES: &[(&str, Self)] =
        &[("redirect", Self::Redirect), ("tproxy", Self::Tproxy)];

    pub fn as_str(&self) -> &'static str {
        match self {
            Self::Redirect => "redirect",
            Self::Tproxy => "tproxy",
        }
    }
}

impl Serialize for InterceptMode {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

/// What to do when no name can be read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OnUnparsable {
    Allow,
    Block,
}

impl OnUnparsable {
    pub(super) const CHOICES: &[(&str, Self)] = &[("allow", Self::Allow), ("block", Self::Block)];

    pub fn as_str(&self) -> &'static str {
        match self {
            Self::Allow => "allow",
            Self::Block => "block",
        }
    }
}

impl Serialize for OnUnparsable {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

/// How allowed connections are relayed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RelayMode {
    /// `splice(2)` through a pipe: no copy into user space.
    Splice,
    /// A read/write loop through a user-space buffer.
    Copy,
}

impl RelayMode {
    pub(super) const CHOICES: &[(&str, Self)] = &[("splice", Self::Splice), ("copy", Self::Copy)];

    pub fn as_str(&self) -> &'static str {
        match self {
            Self::Splice => "splice",
            Self::Copy => "copy",
        }
    }
}

impl Serialize for RelayMode {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

/// `[sni]` or `[http]`: a transparent filtering proxy. Written by
/// `sni_section` or `http_section`, which name the read cap.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct InterceptSettings {
    /// Where the steered traffic arrives. Non-empty.
    #[serde(serialize_with = "spelling::displays")]
    pub listen: Vec<SocketAddr>,
    pub mode: InterceptMode,
    /// Deadline for the whole ClientHello / request head.
    #[serde(serialize_with = "spelling::duration")]
    pub read_timeout: Duration,
    /// Cap on the bytes read before a verdict: `max_hello_size` in
    /// `[sni]`, `max_head_size` in `[http]`.
    #[serde(skip)]
    pub max_read: usize,
    #[serde(serialize_with = "spelling::duration")]
    pub connect_timeout: Duration,
    #[serde(serialize_with = "spelling::duration")]
    pub idle_timeout: Duration,
    /// `SO_MARK` of outbound connections; 0: none.
    pub mark: u32,
    pub on_unparsable: OnUnparsable,
    #[serde(serialize_with = "spelling::count")]
    pub max_connections: usize,
    pub relay: RelayMode,
}

/// `[sni]` or `[http]` as written: the settings and the read cap under
/// the section's own key.
#[derive(Debug, Serialize)]
pub(super) struct WrittenIntercept<'a> {
    #[serde(flatten)]
    settings: &'a InterceptSettings,
    #[serde(skip_serializing_if = "Option::is_none")]
    max_hello_size: Option<Bytes>,
    #[serde(skip_serializing_if = "Option::is_none")]
    max_head_size: Option<Bytes>,
}

/// Writes `[sni]`, read cap as `max_hello_size`.
pub(super) fn sni_section<S: serde::Serializer>(
    sni: &Option<InterceptSettings>,
    s: S,
) -> Result<S::Ok, S::Error> {
    sni.as_ref()
        .map(|settings| WrittenIntercept {
            settings,
            max_hello_size: Some(Bytes(settings.max_read as u64)),
            max_head_size: None,
        })
        .serialize(s)
}

/// Writes `[http]`, read cap as `max_head_size`.
pub(super) fn http_section<S: serde::Serializer>(
    http: &Option<InterceptSettings>,
    s: S,
) -> Result<S::Ok, S::Error> {
    http.as_ref()
        .map(|settings| WrittenIntercept {
            settings,
            max_hello_size: None,
            max_head_size: Some(Bytes(settings.max_read as u64)),
        })
        .serialize(s)
}

impl InterceptSettings {
    fn defaults(max_read: u64) -> Self {
        Self {
            listen: Vec::new(),
            mode: InterceptMode::Redirect,
            read_timeout: DEFAULT_READ_TIMEOUT,
            max_read: usize::try_from(max_read).unwrap_or(usize::MAX),
            connect_timeout: DEFAULT_CONNECT_TIMEOUT,
            idle_timeout: DEFAULT_IDLE_TIMEOUT,
            mark: DEFAULT_MARK,
            on_unparsable: OnUnparsable::Allow,
            max_connections: DEFAULT_MAX_CONNECTIONS,
            relay: RelayMode::Splice,
        }
    }

    /// The defaults of `[sni]` (with no listener).
    pub fn sni_defaults() -> Self {
        Self::defaults(DEFAULT_MAX_HELLO)
    }

    /// The defaults of `[http]` (with no listener).
    pub fn http_defaults() -> Self {
        Self::defaults(DEFAULT_MAX_HEAD)
    }

    /// Reads a present `[sni]` (`cap_key` = `max_hello_size`) or `[http]`
    /// (`max_head_size`) section.
    pub(super) fn extract(mut t: Table<'_, '_>, cap_key: &'static str, d: Self) -> Self {
        use extract::{duration, integer, one_of, socket_addr};
        let listen = match t.list("listen", socket_addr) {
            Got::Missing => {
                t.error_unplaced(
                    "listen",
                    "required: the address nftables steers the traffic to, e.g. [\"0.0.0.0:8443\"]; remove the section to disable this filter",
                );
                Vec::new()
            }
            Got::Ok(v) if v.is_empty() => {
                t.error(
                    "listen",
                    "must not be empty; remove the section to disable this filter",
                );
                v
            }
            got => got.or(Vec::new()),
        };
        let max_read = t.get(cap_key, read_cap).or(d.max_read);
        Self {
            listen,
            mode: t.get("mode", one_of(InterceptMode::CHOICES)).or(d.mode),
            read_timeout: t
                .get("read_timeout", duration(MIN_READ_TIMEOUT, MAX_READ_TIMEOUT))
                .or(d.read_timeout),
            max_read,
            connect_timeout: t
                .get(
                    "connect_timeout",
                    duration(MIN_READ_TIMEOUT, MAX_READ_TIMEOUT),
                )
                .or(d.connect_timeout),
            idle_timeout: t
                .get(
                    "idle_timeout",
                    duration(Duration::from_secs(1), MAX_IDLE_TIMEOUT),
                )
                .or(d.idle_timeout),
            mark: t.get("mark", integer(0, u32::MAX.into())).or(d.mark),
            on_unparsable: t
                .get("on_unparsable", one_of(OnUnparsable::CHOICES))
                .or(d.on_unparsable),
            max_connections: t
                .get("max_connections", integer(1, 1_000_000))
                .or(d.max_connections),
            relay: t.get("relay", one_of(RelayMode::CHOICES)).or(d.relay),
        }
    }
}

/// `[blockpage]`: the HTTP notice page the sinkhole addresses point at.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct BlockPageSettings {
    /// Non-empty.
    #[serde(serialize_with = "spelling::displays")]
    pub listen: Vec<SocketAddr>,
    /// An operator's template; `None`: the embedded one.
    #[serde(
        serialize_with = "spelling::path_some",
        skip_serializing_if = "Option::is_none"
    )]
    pub template: Option<PathBuf>,
    pub appeal_url: String,
    pub blocked_by: String,
    pub hotline: String,
    #[serde(serialize_with = "spelling::duration")]
    pub read_timeout: Duration,
    #[serde(rename = "max_head_size", serialize_with = "spelling::byte_size")]
    pub max_head: usize,
    /// The page built from `template` and the settings above when the
    /// config was loaded; `ward serve` serves it as it is.
    #[serde(skip)]
    pub page: BuiltPage,
}

/// The page built with the config. It has no equality of its own, and
/// each holds what its template file held when read, so it compares equal
/// to any other: two settings are equal when their keys are (the same
/// template file). Its `Debug` does not print a whole parsed template.
#[derive(Clone)]
pub struct BuiltPage(pub Arc<BlockPage>);

impl std::fmt::Debug for BuiltPage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("BuiltPage")
    }
}

impl PartialEq for BuiltPage {
    fn eq(&self, _: &Self) -> bool {
        true
    }
}

impl Eq for BuiltPage {}

impl BlockPageSettings {
    pub(super) fn extract(mut t: Table<'_, '_>) -> Self {
        use extract::{duration, path, socket_addr, string};
        let listen = match t.list("listen", socket_addr) {
            Got::Missing => {
                t.error_unplaced(
                    "listen",
                    "required: where the block page is served, e.g. [\"192.0.2.1:80\"] (the sinkhole address); remove the section to disable it",
                );
                Vec::new()
            }
            got => got.or(Vec::new()),
        };
        let text = |v: &toml::de::DeValue<'_>| string(v).map(str::to_owned);
        let settings = PageSettings {
            template: t.get("template", path).ok(),
            appeal_url: t.get("appeal_url", text).or(DEFAULT_APPEAL_URL.to_owned()),
            blocked_by: t.get("blocked_by", text).or(DEFAULT_BLOCKED_BY.to_owned()),
            hotline: t.get("hotline", text).or(DEFAULT_HOTLINE.to_owned()),
        };
        let read_timeout = t
            .get("read_timeout", duration(MIN_READ_TIMEOUT, MAX_READ_TIMEOUT))
            .or(DEFAULT_READ_TIMEOUT);
        let max_head = (t.get("max_head_size", read_cap))
            .or(usize::try_from(DEFAULT_PAGE_MAX_HEAD).unwrap_or(usize::MAX));
        // Build the page here, once, and hand it to `ward serve`: a bad
        // template or setting is a config error (a template error names
        // its own file:line), never a start-up surprise.
        let page = BlockPage::new(&settings).unwrap_or_else(|e| {
            match e {
                PageError::Setting { key, problem } => t.error(key, problem.to_string()),
                other => t.error("template", other.to_string()),
            }
            // A stand-in: a config with an error is refused whole.
            BlockPage::embedded_default()
        });
        let PageSettings {
            template,
            appeal_url,
            blocked_by,
            hotline,
        } = settings;
        Self {
            listen,
            template,
            appeal_url,
            blocked_by,
            hotline,
            read_timeout,
            max_head,
            page: BuiltPage(Arc::new(page)),
        }
    }
}

/// A read cap (`max_hello_size`, `max_head_size`): a byte size in
/// `MIN_READ_CAP..=MAX_READ_CAP`.
fn read_cap(v: &toml::de::DeValue<'_>) -> Result<usize, Invalid> {
    let n = extract::byte_size(v)?;
    if !(MIN_READ_CAP..=MAX_READ_CAP).contains(&n) {
        return Err(Invalid(format!(
            "must be between {MIN_READ_CAP} bytes and 1MiB, found {n} bytes"
        )));
    }
    Ok(usize::try_from(n).unwrap_or(usize::MAX))
}

#[cfg(test)]
mod tests {
    use super::super::Config;
    use crate::blockpage::head::parse_head;
    use crate::blockpage::template::EMBEDDED;
    use crate::metrics::Metrics;

    /// The page `ward serve` shows is the one built when the config was
    /// loaded, from the template as it was then: the file is not read
    /// again.
    #[test]
    fn the_page_is_built_once_with_the_config() {
        let dir = tempfile::tempdir().unwrap();
        let template = dir.path().join("page.html");
        let marked = EMBEDDED.replacen("<body", "<!-- read once --><body", 1);
        assert_ne!(marked, EMBEDDED, "the embedded template has a <body");
        std::fs::write(&template, &marked).unwrap();
        let text = format!(
            "[dns]\nupstreams = [\"192.0.2.53\"]\n[list]\nfile = \"x.ward\"\ntrusted_keys = [{:?}]\n[blockpage]\nlisten = [\"127.0.0.1:80\"]\ntemplate = {:?}\nhotline = \"1800 1567\"\n",
            concat!(env!("CARGO_MANIFEST_DIR"), "/examples/demo.pub"),
            template.display().to_string(),
        );
        let config = Config::parse_with(&text, "t.toml", || None).unwrap();
        std::fs::remove_file(&template).unwrap();
        let page = config.blockpage.unwrap().page.0;
        let head = parse_head(b"GET / HTTP/1.1\r\nHost: blocked.test\r\n\r\n")
            .unwrap()
            .unwrap();
        let response =
            String::from_utf8(page.respond(&head, None, Metrics::new().page_views())).unwrap();
        assert!(response.contains("<!-- read once -->"), "{response}");
        assert!(response.contains("1800 1567"), "{response}");
    }
}
