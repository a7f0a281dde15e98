//! Configuration: a TOML file read into a validated, typed [`Config`],
//! with every problem reported at once as `FILE:LINE: KEY.PATH: message`.
//!
//! The text is parsed into spanned TOML values, then each section's keys
//! are read into typed settings (the mechanism is in `extract.rs`). Bad
//! values, wrong types, unknown keys and cross-key conflicts are all
//! recorded, with the line they are on, and returned together as
//! [`ConfigErrors`]. A TOML syntax error stops before validation and is
//! reported alone.
//!
//! Defaults are the `DEFAULT_*` constants. Relative paths in a config file
//! are relative to the working directory of the process, not to the file.
//! `ward serve` without `--config` runs on [`Config::embedded`]. See
//! `docs/configuration.md` for every key.

use std::path::Path;

use serde::Serialize;

use self::extract::{Report, Table};

mod block;
mod bypass;
mod cache;
pub mod collector;
mod discovery;
mod dns;
mod encrypted;
mod error;
mod extract;
mod limits;
mod list;
mod lists;
mod print;
mod process;
mod profile;
#[cfg(test)]
mod profile_tests;
pub mod registry;
mod report;
mod rpz;
mod safe_search;
mod schedule;
#[cfg(test)]
mod schedule_tests;
#[cfg(test)]
mod tests;
pub mod web;

pub use self::block::*;
pub use self::cache::*;
pub use self::dns::*;
pub use self::encrypted::{EncryptedSettings, Transport};
pub use self::error::*;
pub use self::limits::*;
pub use self::list::*;
pub use self::process::*;
pub use self::rpz::*;

pub use self::web::{BlockPageSettings, InterceptMode, InterceptSettings, OnUnparsable, RelayMode};

pub use self::report::*;
pub use crate::profiles::{
    AllowFile, ExtraListSettings, ListOrigin, NodeSettings, ProfileListen, ProfileSettings,
};

/// The whole validated configuration. Its `Serialize` writes it as a
/// config file (see [`Config::to_toml`]), the sections in this order.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Config {
    pub dns: DnsSettings,
    pub cache: CacheLimits,
    /// `[limits]`: UDP rate limits (off by default).
    pub limits: LimitSettings,
    #[serde(serialize_with = "list::list_section")]
    pub list: ListSettings,
    pub block: BlockAnswer,
    pub admin: AdminSettings,
    pub log: LogSettings,
    /// `[sni]`: the transparent TLS filter; `None`: off.
    #[serde(
        serialize_with = "web::sni_section",
        skip_serializing_if = "Option::is_none"
    )]
    pub sni: Option<InterceptSettings>,
    /// `[http]`: the transparent HTTP Host filter; `None`: off.
    #[serde(
        serialize_with = "web::http_section",
        skip_serializing_if = "Option::is_none"
    )]
    pub http: Option<InterceptSettings>,
    /// `[blockpage]`: the notice page; `None`: off.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub blockpage: Option<BlockPageSettings>,
    #[serde(skip_serializing_if = "ProcessSettings::is_unset")]
    pub process: ProcessSettings,
    /// `[report]`: compliance reports; `None` when the section is absent.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub report: Option<ReportSettings>,
    /// `[node]`: the node's time zone (schedules).
    #[serde(skip_serializing_if = "NodeSettings::is_default")]
    pub node: NodeSettings,
    /// `[[lists]]`: extra lists that profiles apply (none by default).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub lists: Vec<ExtraListSettings>,
    /// `[[profile]]`: client groups and what they get beyond the national
    /// list (none by default: every client gets the national list alone).
    #[serde(rename = "profile", skip_serializing_if = "Vec::is_empty")]
    pub profiles: Vec<ProfileSettings>,
    /// `[dot]`: DNS over TLS; `None`: off.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dot: Option<EncryptedSettings>,
    /// `[doh]`: DNS over HTTPS; `None`: off.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub doh: Option<EncryptedSettings>,
    /// `[rpz]`: the national list as a zone for other resolvers; `None`:
    /// off. Written last: it holds the `[[rpz.tsig]]` sub-tables.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rpz: Option<RpzSettings>,
}

/// The text of a TOML file, or the one error that it cannot be read.
pub(crate) fn read_text(path: &Path) -> Result<String, ConfigErrors> {
    let label = path.display().to_string();
    let fail = |message| Err(ConfigErrors::whole_file(&label, message));
    match std::fs::metadata(path) {
        Ok(meta) if meta.is_dir() => return fail("is a directory, not a config file".into()),
        Ok(_) => {}
        Err(e) => return fail(format!("cannot read config file: {e}")),
    }
    let bytes = match std::fs::read(path) {
        Ok(bytes) => bytes,
        Err(e) => return fail(format!("cannot read config file: {e}")),
    };
    String::from_utf8(bytes).or_else(|e| {
        fail(format!(
            "not UTF-8 text (invalid byte at offset {})",
            e.utf8_error().valid_up_to()
        ))
    })
}

/// Parses `text` as TOML and reads it with `extract`; every problem at
/// once, in line order.
pub(crate) fn parse_with_extract<T>(
    text: &str,
    file_label: &str,
    extract: impl FnOnce(Table<'_, '_>) -> T,
) -> Result<T, ConfigErrors> {
    let mut report = Report::new(file_label, text);
    let doc = match toml::de::DeTable::parse(text) {
        Ok(doc) => doc,
        Err(e) => {
            report.error(e.span(), "", format!("TOML syntax error: {}", e.message()));
            return Err(ConfigErrors(report.errors));
        }
    };
    let value = extract(Table::root(&mut report, doc.get_ref()));
    let mut errors = report.errors;
    if errors.is_empty() {
        return Ok(value);
    }
    errors.sort_by_key(|e| e.line.unwrap_or(usize::MAX));
    Err(ConfigErrors(errors))
}

impl Config {
    /// What `ward serve` runs on without `--config`: the defaults, the
    /// embedded demo list and key, state under the temporary directory, and
    /// upstreams from `/etc/resolv.conf`. If that names no usable
    /// nameserver, there are no upstreams and allowed queries get SERVFAIL.
    pub fn embedded() -> Self {
        let mut dns = DnsSettings::default();
        dns.upstreams = std::fs::read_to_string(RESOLV_CONF)
            .map(|text| system_upstreams(&text, &dns.listen))
            .unwrap_or_default();
        Self {
            dns,
            cache: CacheLimits::default(),
            limits: LimitSettings::default(),
            list: ListSettings {
                state_dir: std::env::temp_dir().join(DEMO_STATE_DIR),
                demo: true,
                ..ListSettings::default()
            },
            block: BlockAnswer::default(),
            admin: AdminSettings::default(),
            log: LogSettings::default(),
            process: ProcessSettings::default(),
            sni: None,
            http: None,
            blockpage: None,
            report: None,
            lists: Vec::new(),
            profiles: Vec::new(),
            dot: None,
            doh: None,
            rpz: None,
            node: NodeSettings::default(),
        }
    }

    /// Reads and validates a config file.
    pub fn load(path: &Path) -> Result<Self, ConfigErrors> {
        let text = read_text(path)?;
        Self::parse(&text, &path.display().to_string())
    }

    /// Validates config text; `file_label` names it in errors. Reads
    /// `/etc/resolv.conf` if `dns.upstreams` is not set, and every
    /// `list.trusted_keys` file.
    pub fn parse(text: &str, file_label: &str) -> Result<Self, ConfigErrors> {
        Self::parse_with(text, file_label, || {
            std::fs::read_to_string(RESOLV_CONF).ok()
        })
    }

    /// [`Config::parse`] with the text of resolv.conf supplied by the
    /// caller (tests).
    pub(crate) fn parse_with(
        text: &str,
        file_label: &str,
        resolv_conf: impl FnOnce() -> Option<String>,
    ) -> Result<Self, ConfigErrors> {
        let mut report = Report::new(file_label, text);
        let doc = match toml::de::DeTable::parse(text) {
            Ok(doc) => doc,
            Err(e) => {
                // Only the first: after a syntax error the parser's guesses
                // produce a cascade of spurious ones.
                report.error(e.span(), "", format!("TOML syntax error: {}", e.message()));
                return Err(ConfigErrors(report.errors));
            }
        };
        let config = Self::extract(Table::root(&mut report, doc.get_ref()), resolv_conf);
        let mut errors = report.errors;
        if errors.is_empty() {
            return Ok(config);
        }
        errors.sort_by_key(|e| e.line.unwrap_or(usize::MAX));
        Err(ConfigErrors(errors))
    }

    /// Reads every section. One line per section.
    fn extract(mut root: Table<'_, '_>, resolv_conf: impl FnOnce() -> Option<String>) -> Self {
        let sni = root.has("sni").then(|| {
            InterceptSettings::extract(
                root.table("sni"),
                "max_hello_size",
                InterceptSettings::sni_defaults(),
            )
        });
        let http = root.has("http").then(|| {
            InterceptSettings::extract(
                root.table("http"),
                "max_head_size",
                InterceptSettings::http_defaults(),
            )
        });
        let blockpage = root
            .has("blockpage")
            .then(|| BlockPageSettings::extract(root.table("blockpage")));
        // SO_MARK and IP_TRANSPARENT on every outbound connection need
        // CAP_NET_ADMIN, which ward's own setuid() drop would lose.
        let needs_net_admin = [&sni, &http]
            .into_iter()
            .flatten()
            .any(|s| s.mark != 0 || s.mode == InterceptMode::Tproxy);
        let dns = DnsSettings::extract(root.table("dns"), resolv_conf);
        let cache = CacheLimits::extract(root.table("cache"));
        let list = ListSettings::extract(root.table("list"));
        let (lists, list_names) = lists::extract(&mut root);
        let profiles = profile::extract(&mut root, &list_names, &dns.listen);
        let dot = root
            .has("dot")
            .then(|| EncryptedSettings::extract(root.table("dot"), Transport::Dot))
            .flatten();
        let doh = root
            .has("doh")
            .then(|| EncryptedSettings::extract(root.table("doh"), Transport::Doh))
            .flatten();
        let rpz = root
            .has("rpz")
            .then(|| RpzSettings::extract(root.table("rpz")))
            .flatten();
        Self {
            report: ReportSettings::extract(root.table("report"), &list),
            dns,
            cache,
            limits: LimitSettings::extract(root.table("limits")),
            list,
            block: BlockAnswer::extract(root.table("block")),
            admin: AdminSettings::extract(root.table("admin")),
            log: LogSettings::extract(root.table("log")),
            process: ProcessSettings::extract(root.table("process"), needs_net_admin),
            sni,
            http,
            blockpage,
            lists,
            profiles,
            dot,
            doh,
            rpz,
            node: schedule::node(root.table("node")),
        }
    }
}

// ---- Writing -----------------------------------------------------------------
