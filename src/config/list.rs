//! `[list]`: the signed list, whom to trust for it, and how it is kept
//! current.

use std::path::PathBuf;
use std::time::Duration;

use serde::Serialize;

use super::extract::{self, Got, Table};
use crate::keys::PublicKeyFile;
use crate::readers::CaBundle;
use crate::spelling::{self, Bytes};

/// `list.state_dir`.
pub const DEFAULT_STATE_DIR: &str = "/var/lib/ward";
/// Under the temporary directory, the state directory of the embedded demo
/// configuration.
pub const DEMO_STATE_DIR: &str = "ward-demo";
/// `list.require_list`.
pub const DEFAULT_REQUIRE_LIST: bool = false;
/// `list.poll_interval`: how often the updater asks `list.url` for a newer
/// list (each wait is jittered by ±10 %).
pub const DEFAULT_POLL_INTERVAL: Duration = Duration::from_secs(300);
pub const MIN_POLL_INTERVAL: Duration = Duration::from_secs(1);
pub const MAX_POLL_INTERVAL: Duration = Duration::from_secs(86_400);
/// `list.timeout`: the whole download, connection to last byte. Generous:
/// a 10-million-name list is about 140 MB.
pub const DEFAULT_FETCH_TIMEOUT: Duration = Duration::from_secs(300);
pub const MIN_FETCH_TIMEOUT: Duration = Duration::from_millis(100);
pub const MAX_FETCH_TIMEOUT: Duration = Duration::from_secs(3600);
/// `list.max_size`: the download cap, 2 GiB.
pub const DEFAULT_MAX_LIST_SIZE: u64 = 2 << 30;
/// The smallest `list.max_size` accepted (a list header and manifest).
pub const MIN_MAX_LIST_SIZE: u64 = 4096;

/// `[list]`: the signed list and whom to trust for it.
///
/// Written by `ListSettings::written`: the updater's keys
/// (`poll_interval`, `ca_file`, `timeout`, `max_size`) only with `url`,
/// as `ListSettings::extract` accepts them only then.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ListSettings {
    /// A signed list artifact on disk. Required in a config file.
    #[serde(
        serialize_with = "spelling::path_some",
        skip_serializing_if = "Option::is_none"
    )]
    pub file: Option<PathBuf>,
    /// `.pub` files of the keys whose signatures are accepted, each read
    /// and parsed when the config was loaded (written as its path).
    /// Non-empty in a config file.
    pub trusted_keys: Vec<PublicKeyFile>,
    /// Where the last-known-good list and other state are kept.
    #[serde(serialize_with = "spelling::path")]
    pub state_dir: PathBuf,
    /// Refuse to serve without a valid list.
    pub require_list: bool,
    /// Where the updater fetches new lists from (HTTPS only). `None`: the
    /// list comes from `file` alone and changes on SIGHUP.
    #[serde(
        serialize_with = "spelling::display_some",
        skip_serializing_if = "Option::is_none"
    )]
    pub url: Option<reqwest::Url>,
    /// Time between polls of `url`.
    #[serde(skip)]
    pub poll_interval: Duration,
    /// Extra CA certificates (PEM) trusted for `url`, besides the
    /// system's; read when the config was loaded.
    #[serde(skip)]
    pub ca_file: Option<CaBundle>,
    /// Limit on one whole download.
    #[serde(skip)]
    pub timeout: Duration,
    /// Largest artifact the updater downloads, bytes.
    #[serde(skip)]
    pub max_size: u64,
    /// Not a config key: true only in [`Config::embedded`](super::Config::embedded), meaning "use
    /// [`crate::list::DEMO_ARTIFACT`] and [`crate::list::DEMO_PUBLIC_KEY`]".
    #[serde(skip)]
    pub demo: bool,
}

/// `[list]` as written: the settings, and the updater's keys when there
/// is a `url` to update from.
#[derive(Debug, Serialize)]
pub(super) struct WrittenList<'a> {
    #[serde(flatten)]
    settings: &'a ListSettings,
    #[serde(flatten, skip_serializing_if = "Option::is_none")]
    updater: Option<UpdaterKeys<'a>>,
}

/// The keys only used with `list.url`.
#[derive(Debug, Serialize)]
struct UpdaterKeys<'a> {
    #[serde(serialize_with = "spelling::duration")]
    poll_interval: Duration,
    #[serde(serialize_with = "spelling::duration")]
    timeout: Duration,
    max_size: Bytes,
    #[serde(skip_serializing_if = "Option::is_none")]
    ca_file: Option<&'a CaBundle>,
}

impl Default for ListSettings {
    /// No list and no keys: not valid in a config file by itself.
    fn default() -> Self {
        Self {
            file: None,
            trusted_keys: Vec::new(),
            state_dir: PathBuf::from(DEFAULT_STATE_DIR),
            require_list: DEFAULT_REQUIRE_LIST,
            url: None,
            poll_interval: DEFAULT_POLL_INTERVAL,
            ca_file: None,
            timeout: DEFAULT_FETCH_TIMEOUT,
            max_size: DEFAULT_MAX_LIST_SIZE,
            demo: false,
        }
    }
}

/// Writes `[list]` (for `#[serde(serialize_with)]` on [`super::Config`]).
pub(super) fn list_section<S: serde::Serializer>(
    list: &ListSettings,
    s: S,
) -> Result<S::Ok, S::Error> {
    list.written().serialize(s)
}

impl ListSettings {
    /// The section as written to a file.
    pub(super) fn written(&self) -> WrittenList<'_> {
        WrittenList {
            settings: self,
            updater: self.url.is_some().then_some(UpdaterKeys {
                poll_interval: self.poll_interval,
                timeout: self.timeout,
                max_size: Bytes(self.max_size),
                ca_file: self.ca_file.as_ref(),
            }),
        }
    }

    pub(super) fn extract(mut t: Table<'_, '_>) -> Self {
        use extract::{boolean, duration, https_url, path};
        let d = Self::default();
        // A bad URL is reported once; the keys that depend on it are then
        // judged as if it were good.
        let url_given = t.has("url");
        let url = t.get("url", https_url).ok();
        let file = match t.get("file", path) {
            Got::Missing if !url_given => {
                t.error(
                    "file",
                    "required unless list.url is set: set it to the signed list artifact (.ward file) to enforce",
                );
                None
            }
            got => got.ok(),
        };
        let trusted_keys = trusted_keys(&mut t);
        let ca_file = t.get("ca_file", extract::ca_file).ok();
        let max_size = max_size(&mut t, d.max_size);
        let s = Self {
            file,
            trusted_keys,
            state_dir: t.get("state_dir", path).or(d.state_dir),
            require_list: t.get("require_list", boolean).or(d.require_list),
            poll_interval: t
                .get(
                    "poll_interval",
                    duration(MIN_POLL_INTERVAL, MAX_POLL_INTERVAL),
                )
                .or(d.poll_interval),
            timeout: t
                .get("timeout", duration(MIN_FETCH_TIMEOUT, MAX_FETCH_TIMEOUT))
                .or(d.timeout),
            max_size,
            ca_file,
            url,
            demo: false,
        };
        if !url_given {
            updater_keys_need_url(&mut t);
        }
        s
    }
}

/// `trusted_keys`: required, and not empty.
fn trusted_keys(t: &mut Table<'_, '_>) -> Vec<PublicKeyFile> {
    match t.list("trusted_keys", extract::public_key_file) {
        Got::Missing => {
            t.error(
                "trusted_keys",
                "required: list the .pub file(s) of the key(s) the list is signed with",
            );
            Vec::new()
        }
        Got::Ok(v) if v.is_empty() => {
            t.error(
                "trusted_keys",
                "empty: no list could be verified; list the .pub file(s) of the key(s) the list is signed with",
            );
            v
        }
        got => got.or(Vec::new()),
    }
}

/// `max_size`, at least [`MIN_MAX_LIST_SIZE`].
fn max_size(t: &mut Table<'_, '_>, default: u64) -> u64 {
    match t.get("max_size", extract::byte_size) {
        Got::Ok(n) if n < MIN_MAX_LIST_SIZE => {
            t.error(
                "max_size",
                format!("{n} bytes is too small for any list; the minimum is {MIN_MAX_LIST_SIZE}"),
            );
            default
        }
        got => got.or(default),
    }
}

/// The updater's keys without `url`: each one is a mistake to report.
fn updater_keys_need_url(t: &mut Table<'_, '_>) {
    for key in ["poll_interval", "ca_file", "timeout", "max_size"] {
        if t.has(key) {
            t.error(
                key,
                "only used with list.url; set list.url or remove this key",
            );
        }
    }
}
