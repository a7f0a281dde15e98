//! `[admin]`, `[log]` and `[process]`: the admin listener, logging, and
//! whom to run as.

use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};

use serde::Serialize;

use super::extract::{self, Invalid, Table};

/// `admin.listen`.
pub const DEFAULT_ADMIN_LISTEN: Option<SocketAddr> =
    Some(SocketAddr::V4(SocketAddrV4::new(Ipv4Addr::LOCALHOST, 9153)));
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

/// `[admin]`: the HTTP admin and metrics endpoint.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AdminSettings {
    /// `None`: disabled (`listen = "off"`).
    #[serde(serialize_with = "admin_listen")]
    pub listen: Option<SocketAddr>,
}

/// `admin.listen`: the address, or [`ADMIN_OFF`].
fn admin_listen<S: serde::Serializer>(
    listen: &Option<SocketAddr>,
    s: S,
) -> Result<S::Ok, S::Error> {
    match listen {
        Some(addr) => s.collect_str(addr),
        None => s.serialize_str(ADMIN_OFF),
    }
}

impl Default for AdminSettings {
    fn default() -> Self {
        Self {
            listen: DEFAULT_ADMIN_LISTEN,
        }
    }
}

/// `log.format`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    Text,
    Json,
}

impl LogFormat {
    pub(super) const CHOICES: &[(&str, Self)] = &[("text", Self::Text), ("json", Self::Json)];

    /// The config-file spelling.
    pub fn as_str(&self) -> &'static str {
        match self {
            Self::Text => "text",
            Self::Json => "json",
        }
    }
}

impl Serialize for LogFormat {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

/// `[log]`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LogSettings {
    /// One of [`LOG_LEVELS`].
    pub level: String,
    pub format: LogFormat,
    /// Log every client query (name, client, verdict).
    pub query_log: bool,
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

/// `[process]`: whom to run as after binding, when started as root.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct ProcessSettings {
    /// Switch to this user after binding every socket. Must exist.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    /// ... and this group; default: the user's primary group. Only
    /// with `user`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub group: Option<String>,
}

impl ProcessSettings {
    /// Neither key is set: the section is not written.
    pub(super) fn is_unset(&self) -> bool {
        self.user.is_none() && self.group.is_none()
    }
}

impl AdminSettings {
    pub(super) fn extract(mut t: Table<'_, '_>) -> Self {
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

impl LogSettings {
    pub(super) fn extract(mut t: Table<'_, '_>) -> Self {
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

impl ProcessSettings {
    pub(super) fn extract(mut t: Table<'_, '_>, needs_net_admin: bool) -> Self {
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
