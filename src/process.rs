//! The process and its supervisor: dropping root after binding, and the
//! systemd notification protocol (`READY=1`, `WATCHDOG=1`, `STOPPING=1`).
//!
//! # Privilege drop
//!
//! Started as root outside systemd (systemd starts ward as `User=ward`
//! with `CAP_NET_BIND_SERVICE` instead), ward binds every socket first and
//! then, with `[process] user`, calls `setgroups([])`, `setgid`, `setuid`
//! in that order and checks that root cannot be regained (`setuid(0)` must
//! fail and every real, effective and saved id must be the target's).
//! glibc applies each call to every thread of the process, tokio's workers
//! included. A failure is fatal: ward never keeps running as root when a
//! user is configured.
//!
//! # Notification
//!
//! With `$NOTIFY_SOCKET` set (`Type=notify`), [`Notifier`] sends datagrams
//! to it; abstract socket names (`@…`) are supported. The watchdog is fed
//! only after a DNS query sent to ward's own listener comes back answered,
//! so a wedged serving loop stops the pings and systemd restarts ward; a
//! timer that merely pinged would keep a dead resolver "alive".

use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::os::unix::net::UnixDatagram;
use std::time::Duration;

use nix::unistd::{Gid, Group, ResGid, ResUid, Uid, User};
use tracing::{debug, info, warn};

/// Why the privilege drop or the watchdog's self-query failed.
#[derive(Debug, thiserror::Error)]
pub enum ProcessError {
    // The privilege drop ([`drop_privileges`]).
    #[error("cannot look up user {user:?}: {source}")]
    LookupUser {
        user: String,
        #[source]
        source: nix::Error,
    },
    #[error("no such user {user:?}")]
    NoSuchUser { user: String },
    #[error("cannot look up group {group:?}: {source}")]
    LookupGroup {
        group: String,
        #[source]
        source: nix::Error,
    },
    #[error("no such group {group:?}")]
    NoSuchGroup { group: String },
    #[error(
        "process.user is {user:?} (uid {uid}), but ward runs as uid {current} without the privilege to switch; start it as root or as that user"
    )]
    CannotSwitch {
        user: String,
        uid: Uid,
        current: Uid,
    },
    #[error("setgroups([]): {0}")]
    SetGroups(#[source] nix::Error),
    #[error("setgid({gid}): {source}")]
    SetGid {
        gid: Gid,
        #[source]
        source: nix::Error,
    },
    #[error("setuid({uid}): {source}")]
    SetUid {
        uid: Uid,
        #[source]
        source: nix::Error,
    },
    #[error("setuid(0) still succeeds after dropping privileges")]
    RootRegainable,
    #[error("getresuid: {0}")]
    GetResUid(#[source] nix::Error),
    #[error("getresgid: {0}")]
    GetResGid(#[source] nix::Error),
    #[error("ids after the switch are uid {ids:?} gid {gids:?}, not {uid} / {gid}")]
    NotSwitched {
        ids: ResUid,
        gids: ResGid,
        uid: Uid,
        gid: Gid,
    },

    // The watchdog's self-query ([`self_query`]).
    #[error("bind: {0}")]
    Bind(#[source] io::Error),
    #[error("send to {target}: {source}")]
    Send {
        target: SocketAddr,
        #[source]
        source: io::Error,
    },
    #[error("receive from {target}: {source}")]
    Receive {
        target: SocketAddr,
        #[source]
        source: io::Error,
    },
    #[error("no answer from {target} within {timeout:?}")]
    NoAnswer {
        target: SocketAddr,
        timeout: Duration,
    },
}

/// Switches to `user` (and `group`, default the user's primary group) and
/// proves root is gone. Call after every socket is bound.
pub fn drop_privileges(user: &str, group: Option<&str>) -> Result<(), ProcessError> {
    let u = User::from_name(user)
        .map_err(|source| ProcessError::LookupUser {
            user: user.to_owned(),
            source,
        })?
        .ok_or_else(|| ProcessError::NoSuchUser {
            user: user.to_owned(),
        })?;
    let gid = match group {
        Some(name) => {
            Group::from_name(name)
                .map_err(|source| ProcessError::LookupGroup {
                    group: name.to_owned(),
                    source,
                })?
                .ok_or_else(|| ProcessError::NoSuchGroup {
                    group: name.to_owned(),
                })?
                .gid
        }
        None => u.gid,
    };
    let current = Uid::effective();
    if !current.is_root() {
        if current == u.uid && Gid::effective() == gid {
            debug!(user, "already running as the configured user");
            return Ok(());
        }
        return Err(ProcessError::CannotSwitch {
            user: user.to_owned(),
            uid: u.uid,
            current,
        });
    }
    nix::unistd::setgroups(&[]).map_err(ProcessError::SetGroups)?;
    nix::unistd::setgid(gid).map_err(|source| ProcessError::SetGid { gid, source })?;
    nix::unistd::setuid(u.uid).map_err(|source| ProcessError::SetUid { uid: u.uid, source })?;

    // Root must be gone for good: no way back, and every id switched.
    if !u.uid.is_root() && nix::unistd::setuid(Uid::from_raw(0)).is_ok() {
        return Err(ProcessError::RootRegainable);
    }
    let ids = nix::unistd::getresuid().map_err(ProcessError::GetResUid)?;
    let gids = nix::unistd::getresgid().map_err(ProcessError::GetResGid)?;
    let uid_ok = [ids.real, ids.effective, ids.saved]
        .iter()
        .all(|&i| i == u.uid);
    let gid_ok = [gids.real, gids.effective, gids.saved]
        .iter()
        .all(|&g| g == gid);
    if !uid_ok || !gid_ok {
        return Err(ProcessError::NotSwitched {
            ids,
            gids,
            uid: u.uid,
            gid,
        });
    }
    info!(
        user,
        uid = u.uid.as_raw(),
        gid = gid.as_raw(),
        "dropped root privileges"
    );
    Ok(())
}

/// Raises the soft limit on open files to the hard limit (systemd's
/// default soft limit is 1,024, its hard limit 524,288), and returns the
/// limit in force. Every listener has its own connection cap, so no one of
/// them can use up what the others, and DNS above all, need.
pub fn raise_open_files() -> u64 {
    use nix::sys::resource::{Resource, getrlimit, setrlimit};
    let Ok((soft, hard)) = getrlimit(Resource::RLIMIT_NOFILE) else {
        return 0;
    };
    if soft < hard && setrlimit(Resource::RLIMIT_NOFILE, hard, hard).is_ok() {
        return hard;
    }
    soft
}

/// Whether the process runs as root (for a warning when no user is set).
pub fn is_root() -> bool {
    Uid::effective().is_root()
}

/// A connection to systemd's notification socket.
#[derive(Debug)]
pub struct Notifier {
    socket: UnixDatagram,
    path: String,
}

impl Notifier {
    /// From `$NOTIFY_SOCKET`; `None` when not started by systemd with
    /// `Type=notify` (or the socket cannot be used, which is logged).
    pub fn from_env() -> Option<Self> {
        let path = std::env::var("NOTIFY_SOCKET").ok()?;
        match UnixDatagram::unbound() {
            Ok(socket) => Some(Self { socket, path }),
            Err(e) => {
                warn!(error = %e, "cannot create the systemd notification socket");
                None
            }
        }
    }

    /// Sends one state string, e.g. `READY=1`. Failures are logged, never
    /// fatal: systemd acts on missing notifications itself.
    pub fn notify(&self, state: &str) {
        if let Err(e) = self.send(state) {
            warn!(error = %e, state, socket = self.path, "systemd notification failed");
        }
    }

    fn send(&self, state: &str) -> io::Result<()> {
        if let Some(name) = self.path.strip_prefix('@') {
            use std::os::linux::net::SocketAddrExt;
            let addr = std::os::unix::net::SocketAddr::from_abstract_name(name.as_bytes())?;
            self.socket.send_to_addr(state.as_bytes(), &addr)?;
        } else {
            self.socket.send_to(state.as_bytes(), &self.path)?;
        }
        Ok(())
    }
}

/// How often to feed the watchdog: half of `$WATCHDOG_USEC`, if the
/// watchdog is meant for this process (`$WATCHDOG_PID`, when set).
pub fn watchdog_interval() -> Option<Duration> {
    if let Ok(pid) = std::env::var("WATCHDOG_PID")
        && pid.trim() != std::process::id().to_string()
    {
        return None;
    }
    let usec: u64 = std::env::var("WATCHDOG_USEC").ok()?.trim().parse().ok()?;
    (usec > 0).then(|| Duration::from_micros(usec / 2))
}

/// Where a self-query should go to reach a listener bound to `addr`: a
/// wildcard address is reached over loopback of the same family.
pub fn self_query_target(addr: SocketAddr) -> SocketAddr {
    let ip = match addr.ip() {
        IpAddr::V4(v4) if v4.is_unspecified() => IpAddr::V4(Ipv4Addr::LOCALHOST),
        IpAddr::V6(v6) if v6.is_unspecified() => IpAddr::V6(Ipv6Addr::LOCALHOST),
        ip => ip,
    };
    SocketAddr::new(ip, addr.port())
}

/// Sends `CH TXT list.ward.` to `target` over UDP and waits up to
/// `timeout` for an answer with the same ID: proof that the serving loop
/// receives, answers and sends.
pub async fn self_query(target: SocketAddr, timeout: Duration) -> Result<(), ProcessError> {
    let any: IpAddr = if target.is_ipv4() {
        Ipv4Addr::UNSPECIFIED.into()
    } else {
        Ipv6Addr::UNSPECIFIED.into()
    };
    let socket = tokio::net::UdpSocket::bind(SocketAddr::new(any, 0))
        .await
        .map_err(ProcessError::Bind)?;
    let id = crate::dns::upstream::random_id();
    socket
        .send_to(&watchdog_query(id), target)
        .await
        .map_err(|source| ProcessError::Send { target, source })?;
    let mut buf = [0u8; 1232];
    let wait = async {
        loop {
            let (n, from) = socket.recv_from(&mut buf).await?;
            let is_answer = n >= 12 && buf[..2] == id.to_be_bytes() && buf[2] & 0x80 != 0;
            if from == target && is_answer {
                return Ok::<(), io::Error>(());
            }
        }
    };
    match tokio::time::timeout(timeout, wait).await {
        Ok(Ok(())) => Ok(()),
        Ok(Err(source)) => Err(ProcessError::Receive { target, source }),
        Err(_) => Err(ProcessError::NoAnswer { target, timeout }),
    }
}

/// `CH TXT list.ward.` with ID `id`, RD clear.
fn watchdog_query(id: u16) -> Vec<u8> {
    use crate::dns::wire::{self, Header};
    let mut q = Vec::with_capacity(32);
    wire::put_header(
        &mut q,
        &Header {
            id,
            flags: 0,
            qdcount: 1,
            ancount: 0,
            nscount: 0,
            arcount: 0,
        },
    );
    wire::put_name(&mut q, "list.ward.");
    q.extend_from_slice(&16u16.to_be_bytes()); // TXT
    q.extend_from_slice(&3u16.to_be_bytes()); // CH
    q
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn watchdog_query_is_well_formed() {
        let q = watchdog_query(0xabcd);
        let parsed = crate::dns::query::parse(&q);
        assert!(parsed.is_ok(), "{parsed:?}");
    }

    #[test]
    fn notifier_sends_to_path_and_abstract_sockets() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("notify");
        let server = UnixDatagram::bind(&path).unwrap();
        let n = Notifier {
            socket: UnixDatagram::unbound().unwrap(),
            path: path.to_string_lossy().into_owned(),
        };
        n.notify("READY=1");
        let mut buf = [0u8; 64];
        let len = server.recv(&mut buf).unwrap();
        assert_eq!(&buf[..len], b"READY=1");

        use std::os::linux::net::SocketAddrExt;
        let name = format!("ward-test-{}", std::process::id());
        let addr = std::os::unix::net::SocketAddr::from_abstract_name(name.as_bytes()).unwrap();
        let server = UnixDatagram::bind_addr(&addr).unwrap();
        let n = Notifier {
            socket: UnixDatagram::unbound().unwrap(),
            path: format!("@{name}"),
        };
        n.notify("WATCHDOG=1");
        let len = server.recv(&mut buf).unwrap();
        assert_eq!(&buf[..len], b"WATCHDOG=1");
    }

    #[test]
    fn wildcard_listeners_are_reached_over_loopback() {
        assert_eq!(
            self_query_target("0.0.0.0:53".parse().unwrap()),
            "127.0.0.1:53".parse().unwrap()
        );
        assert_eq!(
            self_query_target("[::]:53".parse().unwrap()),
            "[::1]:53".parse().unwrap()
        );
        assert_eq!(
            self_query_target("192.0.2.53:53".parse().unwrap()),
            "192.0.2.53:53".parse().unwrap()
        );
    }
}
