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

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4};
use std::path::{Path, PathBuf};
use std::time::Duration;

use ipnet::{IpNet, Ipv4Net, Ipv6Net};

use self::extract::{Got, Invalid, Report, Table};
use crate::keys;

pub mod collector;
mod extract;
pub mod registry;
mod report;
#[cfg(test)]
mod tests;
pub mod web;

pub use self::web::{BlockPageSettings, InterceptMode, InterceptSettings, OnUnparsable, RelayMode};

pub use self::report::*;

// ---- Defaults and limits ---------------------------------------------------

/// Where the system resolver configuration is read from when
/// `dns.upstreams` is not set.
pub const RESOLV_CONF: &str = "/etc/resolv.conf";

const LOCALHOST: Ipv4Addr = Ipv4Addr::LOCALHOST;

/// `dns.listen`.
pub const DEFAULT_LISTEN: &[SocketAddr] = &[SocketAddr::V4(SocketAddrV4::new(LOCALHOST, 5353))];
/// The port of an upstream given without one, and of `nameserver` lines.
pub const DEFAULT_UPSTREAM_PORT: u16 = 53;
/// `dns.allow_clients`: loopback only.
pub const DEFAULT_ALLOW_CLIENTS: &[IpNet] = &[
    IpNet::V4(Ipv4Net::new_assert(Ipv4Addr::new(127, 0, 0, 0), 8)),
    IpNet::V6(Ipv6Net::new_assert(Ipv6Addr::LOCALHOST, 128)),
];
/// `dns.upstream_timeout`.
pub const DEFAULT_UPSTREAM_TIMEOUT: Duration = Duration::from_secs(2);
pub const MIN_UPSTREAM_TIMEOUT: Duration = Duration::from_millis(10);
pub const MAX_UPSTREAM_TIMEOUT: Duration = Duration::from_secs(30);
/// `dns.upstream_attempts`.
pub const DEFAULT_UPSTREAM_ATTEMPTS: u32 = 2;
pub const MAX_UPSTREAM_ATTEMPTS: u32 = 5;
/// `dns.tcp_idle_timeout`.
pub const DEFAULT_TCP_IDLE_TIMEOUT: Duration = Duration::from_secs(10);
pub const MIN_TCP_IDLE_TIMEOUT: Duration = Duration::from_millis(100);
pub const MAX_TCP_IDLE_TIMEOUT: Duration = Duration::from_secs(3600);
/// `dns.tcp_max_connections`.
pub const DEFAULT_TCP_MAX_CONNECTIONS: usize = 1024;
/// `dns.udp_workers`: 0 means one per CPU.
pub const DEFAULT_UDP_WORKERS: usize = 0;
pub const MAX_UDP_WORKERS: usize = 256;
/// `dns.edns_payload`: the DNS Flag Day 2020 size.
pub const DEFAULT_EDNS_PAYLOAD: u16 = 1232;
pub const MIN_EDNS_PAYLOAD: u16 = 512;
pub const MAX_EDNS_PAYLOAD: u16 = 4096;

/// `cache.max_entries`; 0 disables the cache.
pub const DEFAULT_CACHE_MAX_ENTRIES: usize = 100_000;
/// `cache.max_memory`: 64 MiB.
pub const DEFAULT_CACHE_MAX_MEMORY: u64 = 64 << 20;
/// `cache.min_ttl`, seconds.
pub const DEFAULT_MIN_TTL: u32 = 0;
/// `cache.max_ttl`, seconds: one day.
pub const DEFAULT_MAX_TTL: u32 = 86_400;
/// `cache.max_negative_ttl`, seconds.
pub const DEFAULT_MAX_NEGATIVE_TTL: u32 = 3_600;
/// The largest TTL DNS allows (RFC 2181 §8).
pub const MAX_DNS_TTL: u32 = i32::MAX as u32;

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

/// `block.action`.
pub const DEFAULT_BLOCK_ACTION: BlockAction = BlockAction::Sinkhole;
/// `block.sinkhole_ipv4`: unroutable, like AdGuard Home and Blocky. ISPs
/// point it at their block-page server.
pub const DEFAULT_SINKHOLE_IPV4: &[Ipv4Addr] = &[Ipv4Addr::UNSPECIFIED];
/// `block.sinkhole_ipv6`.
pub const DEFAULT_SINKHOLE_IPV6: &[Ipv6Addr] = &[Ipv6Addr::UNSPECIFIED];
/// `block.ttl`, seconds.
pub const DEFAULT_BLOCK_TTL: u32 = 60;
pub const MAX_BLOCK_TTL: u32 = 86_400;

/// `admin.listen`.
pub const DEFAULT_ADMIN_LISTEN: Option<SocketAddr> =
    Some(SocketAddr::V4(SocketAddrV4::new(LOCALHOST, 9153)));
/// The `admin.listen` value that disables the admin server (as does "").
pub const ADMIN_OFF: &str = "off";

/// `log.level`.
pub const DEFAULT_LOG_LEVEL: &str = "info";
/// The values `log.level` accepts.
pub const LOG_LEVELS: &[&str] = &["error", "warn", "info", "debug", "trace"];
/// `log.format`.
pub const DEFAULT_LOG_FORMAT: LogFormat = LogFormat::Text;
/// `log.query_log`: off, so children's queries are not recorded unless an
/// operator decides to.
pub const DEFAULT_QUERY_LOG: bool = false;

// ---- Types -------------------------------------------------------------------

/// The whole validated configuration.
#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    pub dns: DnsSettings,
    pub cache: CacheSettings,
    pub list: ListSettings,
    pub block: BlockSettings,
    pub admin: AdminSettings,
    pub log: LogSettings,
    pub process: ProcessSettings,
    /// `[sni]`: the transparent TLS filter; `None`: off.
    pub sni: Option<InterceptSettings>,
    /// `[http]`: the transparent HTTP Host filter; `None`: off.
    pub http: Option<InterceptSettings>,
    /// `[blockpage]`: the notice page; `None`: off.
    pub blockpage: Option<BlockPageSettings>,
    /// `[report]`: compliance reports; `None` when the section is absent.
    pub report: Option<ReportSettings>,
}

/// `[process]`: whom to run as after binding, when started as root.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ProcessSettings {
    /// Switch to this user after binding every socket. Must exist.
    pub user: Option<String>,
    /// ... and this group; default: the user's primary group.
    pub group: Option<String>,
}

/// `[dns]`: the resolver itself.
#[derive(Debug, Clone, PartialEq)]
pub struct DnsSettings {
    /// Addresses to serve DNS on, UDP and TCP. Non-empty, no duplicates.
    pub listen: Vec<SocketAddr>,
    /// Recursive resolvers to forward allowed queries to, in order of
    /// preference.
    pub upstreams: Vec<SocketAddr>,
    /// Client networks allowed to query; others are refused.
    pub allow_clients: Vec<IpNet>,
    /// How long to wait for one upstream answer.
    pub upstream_timeout: Duration,
    /// Tries per upstream before failing over to the next.
    pub upstream_attempts: u32,
    /// A client TCP connection idle this long is closed.
    pub tcp_idle_timeout: Duration,
    /// Concurrent client TCP connections.
    pub tcp_max_connections: usize,
    /// UDP worker threads per listen address, each with its own
    /// `SO_REUSEPORT` socket; 0 is one per CPU.
    pub udp_workers: usize,
    /// The EDNS UDP payload size ward advertises.
    pub edns_payload: u16,
}

/// `[cache]`: the answer cache.
#[derive(Debug, Clone, PartialEq)]
pub struct CacheSettings {
    /// Entries; 0 disables the cache.
    pub max_entries: usize,
    /// Approximate memory bound, bytes.
    pub max_memory: u64,
    /// Cached answers live at least this long, seconds.
    pub min_ttl: u32,
    /// ... and at most this long. `>= min_ttl`.
    pub max_ttl: u32,
    /// Cap on negative (NXDOMAIN, NODATA) caching, seconds.
    pub max_negative_ttl: u32,
}

/// `[list]`: the signed list and whom to trust for it.
#[derive(Debug, Clone, PartialEq)]
pub struct ListSettings {
    /// A signed list artifact on disk. Required in a config file.
    pub file: Option<PathBuf>,
    /// `.pub` files of the keys whose signatures are accepted. Non-empty in
    /// a config file; each was read and parsed when the config was loaded.
    pub trusted_keys: Vec<PathBuf>,
    /// Where the last-known-good list and other state are kept.
    pub state_dir: PathBuf,
    /// Refuse to serve without a valid list.
    pub require_list: bool,
    /// Where the updater fetches new lists from (HTTPS only). `None`: the
    /// list comes from `file` alone and changes on SIGHUP.
    pub url: Option<reqwest::Url>,
    /// Time between polls of `url`.
    pub poll_interval: Duration,
    /// Extra CA certificates (PEM) trusted for `url`, besides the system's.
    pub ca_file: Option<PathBuf>,
    /// Limit on one whole download.
    pub timeout: Duration,
    /// Largest artifact the updater downloads, bytes.
    pub max_size: u64,
    /// Not a config key: true only in [`Config::embedded`], meaning "use
    /// [`crate::list::DEMO_ARTIFACT`] and [`crate::list::DEMO_PUBLIC_KEY`]".
    pub demo: bool,
}

/// What a blocked name gets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BlockAction {
    /// An answer pointing at the sinkhole addresses.
    Sinkhole,
    /// NXDOMAIN: the name does not exist.
    Nxdomain,
    /// REFUSED.
    Refused,
}

impl BlockAction {
    const CHOICES: &[(&str, Self)] = &[
        ("sinkhole", Self::Sinkhole),
        ("nxdomain", Self::Nxdomain),
        ("refused", Self::Refused),
    ];

    /// The config-file spelling.
    pub fn as_str(&self) -> &'static str {
        match self {
            Self::Sinkhole => "sinkhole",
            Self::Nxdomain => "nxdomain",
            Self::Refused => "refused",
        }
    }
}

/// `[block]`: how blocked names are answered.
#[derive(Debug, Clone, PartialEq)]
pub struct BlockSettings {
    pub action: BlockAction,
    /// A records of a sinkhole answer. Empty: A queries get no records.
    pub sinkhole_ipv4: Vec<Ipv4Addr>,
    /// AAAA records of a sinkhole answer. Empty: AAAA queries get no
    /// records.
    pub sinkhole_ipv6: Vec<Ipv6Addr>,
    /// TTL of block answers, seconds.
    pub ttl: u32,
}

/// `[admin]`: the HTTP admin and metrics endpoint.
#[derive(Debug, Clone, PartialEq)]
pub struct AdminSettings {
    /// `None`: disabled (`listen = "off"`).
    pub listen: Option<SocketAddr>,
}

/// `log.format`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    Text,
    Json,
}

impl LogFormat {
    const CHOICES: &[(&str, Self)] = &[("text", Self::Text), ("json", Self::Json)];

    /// The config-file spelling.
    pub fn as_str(&self) -> &'static str {
        match self {
            Self::Text => "text",
            Self::Json => "json",
        }
    }
}

/// `[log]`.
#[derive(Debug, Clone, PartialEq)]
pub struct LogSettings {
    /// One of [`LOG_LEVELS`].
    pub level: String,
    pub format: LogFormat,
    /// Log every client query (name, client, verdict).
    pub query_log: bool,
}

/// One problem in a config file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    /// The file as named to [`Config::load`] or [`Config::parse`].
    pub file: String,
    /// 1-based; `None` when the problem is not on one line (a missing key
    /// of an absent section, an unreadable file).
    pub line: Option<usize>,
    /// Dotted key path, e.g. `dns.listen[1]`; empty for the whole file.
    pub key: String,
    pub message: String,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.file)?;
        if let Some(line) = self.line {
            write!(f, ":{line}")?;
        }
        if !self.key.is_empty() {
            write!(f, ": {}", self.key)?;
        }
        write!(f, ": {}", self.message)
    }
}

impl std::error::Error for ConfigError {}

/// Every problem found in a config file, in file order; never empty.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigErrors(pub Vec<ConfigError>);

impl fmt::Display for ConfigErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, e) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str("\n")?;
            }
            write!(f, "{e}")?;
        }
        Ok(())
    }
}

impl std::error::Error for ConfigErrors {}

impl ConfigErrors {
    fn whole_file(file: &str, message: String) -> Self {
        Self(vec![ConfigError {
            file: file.to_owned(),
            line: None,
            key: String::new(),
            message,
        }])
    }
}

// ---- Defaults ----------------------------------------------------------------

impl Default for DnsSettings {
    /// The defaults, with no upstreams (a config file's default comes from
    /// `/etc/resolv.conf`; see [`Config::parse`]).
    fn default() -> Self {
        Self {
            listen: DEFAULT_LISTEN.to_vec(),
            upstreams: Vec::new(),
            allow_clients: DEFAULT_ALLOW_CLIENTS.to_vec(),
            upstream_timeout: DEFAULT_UPSTREAM_TIMEOUT,
            upstream_attempts: DEFAULT_UPSTREAM_ATTEMPTS,
            tcp_idle_timeout: DEFAULT_TCP_IDLE_TIMEOUT,
            tcp_max_connections: DEFAULT_TCP_MAX_CONNECTIONS,
            udp_workers: DEFAULT_UDP_WORKERS,
            edns_payload: DEFAULT_EDNS_PAYLOAD,
        }
    }
}

impl Default for CacheSettings {
    fn default() -> Self {
        Self {
            max_entries: DEFAULT_CACHE_MAX_ENTRIES,
            max_memory: DEFAULT_CACHE_MAX_MEMORY,
            min_ttl: DEFAULT_MIN_TTL,
            max_ttl: DEFAULT_MAX_TTL,
            max_negative_ttl: DEFAULT_MAX_NEGATIVE_TTL,
        }
    }
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

impl Default for BlockSettings {
    fn default() -> Self {
        Self {
            action: DEFAULT_BLOCK_ACTION,
            sinkhole_ipv4: DEFAULT_SINKHOLE_IPV4.to_vec(),
            sinkhole_ipv6: DEFAULT_SINKHOLE_IPV6.to_vec(),
            ttl: DEFAULT_BLOCK_TTL,
        }
    }
}

impl Default for AdminSettings {
    fn default() -> Self {
        Self {
            listen: DEFAULT_ADMIN_LISTEN,
        }
    }
}

impl Default for LogSettings {
    fn default() -> Self {
        Self {
            level: DEFAULT_LOG_LEVEL.to_owned(),
            format: DEFAULT_LOG_FORMAT,
            query_log: DEFAULT_QUERY_LOG,
        }
    }
}

// ---- Loading -----------------------------------------------------------------

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
            cache: CacheSettings::default(),
            list: ListSettings {
                state_dir: std::env::temp_dir().join(DEMO_STATE_DIR),
                demo: true,
                ..ListSettings::default()
            },
            block: BlockSettings::default(),
            admin: AdminSettings::default(),
            log: LogSettings::default(),
            process: ProcessSettings::default(),
            sni: None,
            http: None,
            blockpage: None,
            report: None,
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
        let cache = CacheSettings::extract(root.table("cache"));
        let list = ListSettings::extract(root.table("list"));
        Self {
            report: ReportSettings::extract(root.table("report"), &list),
            dns,
            cache,
            list,
            block: BlockSettings::extract(root.table("block")),
            admin: AdminSettings::extract(root.table("admin")),
            log: LogSettings::extract(root.table("log")),
            process: ProcessSettings::extract(root.table("process"), needs_net_admin),
            sni,
            http,
            blockpage,
        }
    }
}

impl DnsSettings {
    fn extract(mut t: Table<'_, '_>, resolv_conf: impl FnOnce() -> Option<String>) -> Self {
        use extract::{duration, integer, ip_net, socket_addr, socket_addr_or_ip};
        let d = Self::default();
        let listen = non_empty(&mut t, "listen", socket_addr, DEFAULT_LISTEN.to_vec());
        let upstream = socket_addr_or_ip(DEFAULT_UPSTREAM_PORT);
        let upstreams = match t.list("upstreams", |v| {
            let addr = upstream(v)?;
            check_upstream(addr, &listen)?;
            Ok(addr)
        }) {
            Got::Missing => {
                let found = resolv_conf()
                    .map(|text| system_upstreams(&text, &listen))
                    .unwrap_or_default();
                if found.is_empty() {
                    t.error_unplaced(
                        "upstreams",
                        format!(
                            "not set and {RESOLV_CONF} names no usable nameserver; set dns.upstreams to your recursive resolvers, e.g. [\"192.0.2.53\"]"
                        ),
                    );
                }
                found
            }
            Got::Ok(v) if v.is_empty() => {
                t.error(
                    "upstreams",
                    "empty: ward would have nowhere to send allowed queries; name at least one recursive resolver, or remove the key to use /etc/resolv.conf",
                );
                v
            }
            got => got.or(Vec::new()),
        };
        Self {
            upstreams,
            allow_clients: non_empty(&mut t, "allow_clients", ip_net, d.allow_clients),
            upstream_timeout: t
                .get(
                    "upstream_timeout",
                    duration(MIN_UPSTREAM_TIMEOUT, MAX_UPSTREAM_TIMEOUT),
                )
                .or(d.upstream_timeout),
            upstream_attempts: t
                .get(
                    "upstream_attempts",
                    integer(1, MAX_UPSTREAM_ATTEMPTS.into()),
                )
                .or(d.upstream_attempts),
            tcp_idle_timeout: t
                .get(
                    "tcp_idle_timeout",
                    duration(MIN_TCP_IDLE_TIMEOUT, MAX_TCP_IDLE_TIMEOUT),
                )
                .or(d.tcp_idle_timeout),
            tcp_max_connections: t
                .get("tcp_max_connections", integer(1, usize::MAX as i128))
                .or(d.tcp_max_connections),
            udp_workers: t
                .get("udp_workers", integer(0, MAX_UDP_WORKERS as i128))
                .or(d.udp_workers),
            edns_payload: t
                .get(
                    "edns_payload",
                    integer(MIN_EDNS_PAYLOAD.into(), MAX_EDNS_PAYLOAD.into()),
                )
                .or(d.edns_payload),
            listen,
        }
    }
}

/// A list that must not be empty; `default` when absent.
fn non_empty<T: PartialEq>(
    t: &mut Table<'_, '_>,
    key: &'static str,
    parse: impl FnMut(&toml::de::DeValue<'_>) -> Result<T, Invalid>,
    default: Vec<T>,
) -> Vec<T> {
    match t.list(key, parse) {
        Got::Ok(v) if v.is_empty() => {
            t.error(key, "must not be empty; remove the key to use the default");
            default
        }
        got => got.or(default),
    }
}

fn check_upstream(addr: SocketAddr, listen: &[SocketAddr]) -> Result<(), Invalid> {
    if addr.ip().is_unspecified() || addr.port() == 0 {
        return Err(Invalid(format!(
            "{addr} is not a resolver address; name a recursive resolver"
        )));
    }
    if is_own_address(addr, listen) {
        return Err(Invalid(format!(
            "{addr} is one of ward's own dns.listen addresses; queries would loop"
        )));
    }
    Ok(())
}

/// Whether a query sent to `addr` would come back to ward itself.
fn is_own_address(addr: SocketAddr, listen: &[SocketAddr]) -> bool {
    listen.iter().any(|l| {
        l.port() == addr.port()
            && (l.ip() == addr.ip() || (l.ip().is_unspecified() && addr.ip().is_loopback()))
    })
}

/// The `nameserver` lines of a resolv.conf, minus ward's own addresses.
fn system_upstreams(resolv_conf: &str, listen: &[SocketAddr]) -> Vec<SocketAddr> {
    parse_resolv_conf(resolv_conf)
        .into_iter()
        .filter(|a| !is_own_address(*a, listen))
        .collect()
}

/// The `nameserver` addresses of resolv.conf text, port 53, in order,
/// without duplicates. Comments (`#`, `;`) and other lines are skipped, as
/// are link-local IPv6 entries with a `%scope`, which would be unusable
/// without it.
pub fn parse_resolv_conf(text: &str) -> Vec<SocketAddr> {
    let mut out: Vec<SocketAddr> = Vec::new();
    for line in text.lines() {
        let line = line.split(['#', ';']).next().unwrap_or_default();
        let mut words = line.split_whitespace();
        if words.next() != Some("nameserver") {
            continue;
        }
        let Some(Ok(ip)) = words.next().map(str::parse::<IpAddr>) else {
            continue;
        };
        let addr = SocketAddr::new(ip, DEFAULT_UPSTREAM_PORT);
        if !out.contains(&addr) {
            out.push(addr);
        }
    }
    out
}

impl CacheSettings {
    fn extract(mut t: Table<'_, '_>) -> Self {
        use extract::{byte_size, integer};
        let d = Self::default();
        let ttl = || integer(0, MAX_DNS_TTL.into());
        let max_memory = match t.get("max_memory", byte_size) {
            Got::Ok(0) => {
                t.error(
                    "max_memory",
                    "must be greater than 0; to disable the cache set cache.max_entries = 0",
                );
                d.max_memory
            }
            got => got.or(d.max_memory),
        };
        let s = Self {
            max_entries: t
                .get("max_entries", integer(0, usize::MAX as i128))
                .or(d.max_entries),
            max_memory,
            min_ttl: t.get("min_ttl", ttl()).or(d.min_ttl),
            max_ttl: t.get("max_ttl", ttl()).or(d.max_ttl),
            max_negative_ttl: t.get("max_negative_ttl", ttl()).or(d.max_negative_ttl),
        };
        if s.min_ttl > s.max_ttl {
            t.error(
                "min_ttl",
                format!(
                    "{} is greater than cache.max_ttl ({}); lower min_ttl or raise max_ttl",
                    s.min_ttl, s.max_ttl
                ),
            );
        }
        s
    }
}

impl ListSettings {
    fn extract(mut t: Table<'_, '_>) -> Self {
        use extract::{boolean, byte_size, duration, https_url, path};
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
        let trusted_keys = match t.list("trusted_keys", |v| {
            let p = path(v)?;
            keys::read_public(&p).map_err(|e| Invalid(e.to_string()))?;
            Ok(p)
        }) {
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
        };
        let ca_file = t
            .get("ca_file", |v| {
                let p = path(v)?;
                crate::readers::read_ca_file(&p).map_err(Invalid)?;
                Ok(p)
            })
            .ok();
        let max_size = match t.get("max_size", byte_size) {
            Got::Ok(n) if n < MIN_MAX_LIST_SIZE => {
                t.error(
                    "max_size",
                    format!(
                        "{n} bytes is too small for any list; the minimum is {MIN_MAX_LIST_SIZE}"
                    ),
                );
                d.max_size
            }
            got => got.or(d.max_size),
        };
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
            for key in ["poll_interval", "ca_file", "timeout", "max_size"] {
                if t.has(key) {
                    t.error(
                        key,
                        "only used with list.url; set list.url or remove this key",
                    );
                }
            }
        }
        s
    }
}

impl BlockSettings {
    fn extract(mut t: Table<'_, '_>) -> Self {
        use extract::{integer, ip, one_of};
        let d = Self::default();
        Self {
            action: t.get("action", one_of(BlockAction::CHOICES)).or(d.action),
            sinkhole_ipv4: t
                .list("sinkhole_ipv4", ip("IPv4", "192.0.2.1"))
                .or(d.sinkhole_ipv4),
            sinkhole_ipv6: t
                .list("sinkhole_ipv6", ip("IPv6", "2001:db8::1"))
                .or(d.sinkhole_ipv6),
            ttl: t.get("ttl", integer(1, MAX_BLOCK_TTL.into())).or(d.ttl),
        }
    }
}

impl AdminSettings {
    fn extract(mut t: Table<'_, '_>) -> Self {
        let listen = t.get("listen", |v| match v.as_str() {
            Some("" | ADMIN_OFF) => Ok(None),
            _ => extract::socket_addr(v)
                .map(Some)
                .map_err(|Invalid(m)| Invalid(format!("{m}, or \"{ADMIN_OFF}\""))),
        });
        Self {
            listen: listen.or(DEFAULT_ADMIN_LISTEN),
        }
    }
}

impl ProcessSettings {
    fn extract(mut t: Table<'_, '_>, needs_net_admin: bool) -> Self {
        let user = t
            .get("user", |v| {
                let name = extract::string(v)?;
                match nix::unistd::User::from_name(name) {
                    Ok(Some(_)) => Ok(name.to_owned()),
                    Ok(None) => Err(Invalid(format!(
                        "no such user {name:?}; create it (the Debian package creates \"ward\") or name an existing one"
                    ))),
                    Err(e) => Err(Invalid(format!("cannot look up user {name:?}: {e}"))),
                }
            })
            .ok();
        let group = t
            .get("group", |v| {
                let name = extract::string(v)?;
                match nix::unistd::Group::from_name(name) {
                    Ok(Some(_)) => Ok(name.to_owned()),
                    Ok(None) => Err(Invalid(format!("no such group {name:?}"))),
                    Err(e) => Err(Invalid(format!("cannot look up group {name:?}: {e}"))),
                }
            })
            .ok();
        if group.is_some() && user.is_none() && !t.has("user") {
            t.error("group", "only used with process.user; set the user too");
        }
        if t.has("user") && needs_net_admin {
            t.error(
                "user",
                "cannot be combined with [sni]/[http] using a mark or tproxy mode: those need CAP_NET_ADMIN on every outbound connection, which dropping to a user loses; run ward under systemd as User=ward with AmbientCapabilities=CAP_NET_BIND_SERVICE CAP_NET_ADMIN (docs/deploy-sni.md), or set mark = 0 in redirect mode",
            );
        }
        Self { user, group }
    }
}

impl LogSettings {
    fn extract(mut t: Table<'_, '_>) -> Self {
        use extract::{boolean, one_of, one_of_names};
        let d = Self::default();
        Self {
            level: t
                .get("level", one_of_names(LOG_LEVELS))
                .ok()
                .map_or(d.level, str::to_owned),
            format: t.get("format", one_of(LogFormat::CHOICES)).or(d.format),
            query_log: t.get("query_log", boolean).or(d.query_log),
        }
    }
}

// ---- Writing -----------------------------------------------------------------

impl Config {
    /// Every key as TOML, such that [`Config::parse`] gives back an equal
    /// config. For file configs only: the embedded demo list
    /// ([`ListSettings::demo`]) has no TOML spelling and is written as a
    /// comment, and paths that are not UTF-8 are written lossily.
    pub fn to_toml(&self) -> String {
        fn q(text: &str) -> String {
            toml::Value::String(text.to_owned()).to_string()
        }
        fn qp(path: &Path) -> String {
            q(&path.to_string_lossy())
        }
        fn d(duration: Duration) -> String {
            q(&humantime::format_duration(duration).to_string())
        }
        fn arr<T>(items: &[T], f: impl Fn(&T) -> String) -> String {
            let items: Vec<String> = items.iter().map(f).collect();
            format!("[{}]", items.join(", "))
        }
        let show = |x: &dyn fmt::Display| q(&x.to_string());
        let (dns, cache, list, block) = (&self.dns, &self.cache, &self.list, &self.block);
        let mut out = vec![
            "[dns]".to_owned(),
            format!("listen = {}", arr(&dns.listen, |a| show(a))),
            format!("upstreams = {}", arr(&dns.upstreams, |a| show(a))),
            format!("allow_clients = {}", arr(&dns.allow_clients, |n| show(n))),
            format!("upstream_timeout = {}", d(dns.upstream_timeout)),
            format!("upstream_attempts = {}", dns.upstream_attempts),
            format!("tcp_idle_timeout = {}", d(dns.tcp_idle_timeout)),
            format!("tcp_max_connections = {}", dns.tcp_max_connections),
            format!("udp_workers = {}", dns.udp_workers),
            format!("edns_payload = {}", dns.edns_payload),
            String::new(),
            "[cache]".to_owned(),
            format!("max_entries = {}", cache.max_entries),
            format!(
                "max_memory = {}",
                extract::byte_size_to_toml(cache.max_memory)
            ),
            format!("min_ttl = {}", cache.min_ttl),
            format!("max_ttl = {}", cache.max_ttl),
            format!("max_negative_ttl = {}", cache.max_negative_ttl),
            String::new(),
            "[list]".to_owned(),
        ];
        if list.demo {
            out.push("# the embedded demo list and key (not expressible in a file)".to_owned());
        }
        if let Some(file) = &list.file {
            out.push(format!("file = {}", qp(file)));
        }
        if !list.demo {
            out.push(format!(
                "trusted_keys = {}",
                arr(&list.trusted_keys, |p| qp(p))
            ));
        }
        if let Some(url) = &list.url {
            out.extend([
                format!("url = {}", q(url.as_str())),
                format!("poll_interval = {}", d(list.poll_interval)),
                format!("timeout = {}", d(list.timeout)),
                format!("max_size = {}", extract::byte_size_to_toml(list.max_size)),
            ]);
            if let Some(ca) = &list.ca_file {
                out.push(format!("ca_file = {}", qp(ca)));
            }
        }
        out.extend([
            format!("state_dir = {}", qp(&list.state_dir)),
            format!("require_list = {}", list.require_list),
            String::new(),
            "[block]".to_owned(),
            format!("action = {}", q(block.action.as_str())),
            format!("sinkhole_ipv4 = {}", arr(&block.sinkhole_ipv4, |a| show(a))),
            format!("sinkhole_ipv6 = {}", arr(&block.sinkhole_ipv6, |a| show(a))),
            format!("ttl = {}", block.ttl),
            String::new(),
            "[admin]".to_owned(),
            format!(
                "listen = {}",
                self.admin.listen.map_or_else(|| q(ADMIN_OFF), |a| show(&a))
            ),
            String::new(),
            "[log]".to_owned(),
            format!("level = {}", q(&self.log.level)),
            format!("format = {}", q(self.log.format.as_str())),
            format!("query_log = {}", self.log.query_log),
        ]);
        for (section, cap_key, settings) in [
            ("sni", "max_hello_size", &self.sni),
            ("http", "max_head_size", &self.http),
        ] {
            if let Some(s) = settings {
                out.push(String::new());
                out.extend(s.to_toml(section, cap_key));
            }
        }
        if let Some(page) = &self.blockpage {
            out.push(String::new());
            out.extend(page.to_toml());
        }
        if let Some(user) = &self.process.user {
            out.extend([
                String::new(),
                "[process]".to_owned(),
                format!("user = {}", q(user)),
            ]);
            if let Some(group) = &self.process.group {
                out.push(format!("group = {}", q(group)));
            }
        }
        if let Some(report) = &self.report {
            out.push(String::new());
            out.extend(report.to_toml_lines(q));
        }
        let mut text = out.join("\n");
        text.push('\n');
        text
    }
}
