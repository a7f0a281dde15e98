//! The socket options of transparent proxying, in one place: the original
//! destination (`SO_ORIGINAL_DST`, `IP6T_SO_ORIGINAL_DST`), transparent
//! sockets (`IP_TRANSPARENT`, `IPV6_TRANSPARENT`) and `SO_MARK`. All safe
//! wrappers from `socket2`; nothing here is `unsafe`.

use std::io;
use std::net::SocketAddr;
use std::time::Duration;

use socket2::{Domain, Protocol, SockRef, Socket, Type};
use tokio::net::{TcpListener, TcpSocket, TcpStream};

use crate::config::InterceptMode;

/// Backlog of the filter listeners (nginx's default is 511; steered
/// traffic arrives in bursts).
const BACKLOG: i32 = 1024;

/// Binds a filter listener. In tproxy mode the socket is transparent, so
/// that it accepts connections addressed to any destination the nftables
/// `tproxy` rule hands it. Needs CAP_NET_ADMIN for tproxy.
pub(crate) fn bind_listener(addr: SocketAddr, mode: InterceptMode) -> io::Result<TcpListener> {
    let socket = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))?;
    socket.set_reuse_address(true)?;
    if addr.is_ipv6() {
        // An explicit [::] listener takes IPv6 only, as nginx does; IPv4
        // gets its own `listen` entry.
        socket.set_only_v6(true)?;
    }
    if mode == InterceptMode::Tproxy {
        set_transparent(&socket, addr)?;
    }
    socket.set_nonblocking(true)?;
    socket.bind(&addr.into())?;
    socket.listen(BACKLOG)?;
    TcpListener::from_std(socket.into())
}

fn set_transparent(socket: &Socket, addr: SocketAddr) -> io::Result<()> {
    match addr {
        SocketAddr::V4(_) => socket.set_ip_transparent_v4(true),
        SocketAddr::V6(_) => socket.set_ip_transparent_v6(true),
    }
}

/// Where the client meant to connect (`local`: the accepted socket's own
/// address, which the caller already has).
///
/// * redirect: the conntrack entry's original destination. For a
///   connection that was not redirected the kernel returns the socket's
///   own address; the caller treats that as a loop.
/// * tproxy: the accepted socket's local address is the original
///   destination.
pub(crate) fn original_dst(
    stream: &TcpStream,
    local: SocketAddr,
    mode: InterceptMode,
) -> io::Result<SocketAddr> {
    if mode == InterceptMode::Tproxy {
        return Ok(local);
    }
    let sock = SockRef::from(stream);
    let v4 = match local {
        SocketAddr::V4(_) => true,
        SocketAddr::V6(a) => a.ip().to_ipv4_mapped().is_some(),
    };
    let addr = if v4 {
        sock.original_dst_v4()?
    } else {
        sock.original_dst_v6()?
    };
    addr.as_socket().ok_or_else(|| {
        io::Error::new(
            io::ErrorKind::InvalidData,
            "original destination is not an IP address",
        )
    })
}

/// Opens the outbound connection to `dst`: marked with `mark` (unless 0)
/// so that the nftables rules let it pass, and in tproxy mode leaving from
/// the client's own address.
pub(crate) async fn connect(
    dst: SocketAddr,
    mode: InterceptMode,
    mark: u32,
    client: SocketAddr,
    timeout: Duration,
) -> io::Result<TcpStream> {
    let socket = Socket::new(Domain::for_address(dst), Type::STREAM, Some(Protocol::TCP))?;
    socket.set_nonblocking(true)?;
    if mark != 0 {
        socket.set_mark(mark)?;
    }
    if mode == InterceptMode::Tproxy {
        set_transparent(&socket, dst)?;
        let from = SocketAddr::new(client.ip().to_canonical(), 0);
        if from.is_ipv4() == dst.is_ipv4() {
            socket.bind(&from.into())?;
        }
    }
    let socket = TcpSocket::from_std_stream(socket.into());
    let stream = tokio::time::timeout(timeout, socket.connect(dst))
        .await
        .map_err(|_| io::Error::new(io::ErrorKind::TimedOut, "connect timed out"))??;
    stream.set_nodelay(true)?;
    Ok(stream)
}

/// Checks once, at start-up, that this process may set `mark` (and make
/// transparent sockets in tproxy mode): otherwise every allowed
/// connection would fail later, one by one.
pub(crate) fn check_privileges(mode: InterceptMode, mark: u32) -> io::Result<()> {
    let socket = Socket::new(Domain::IPV4, Type::STREAM, Some(Protocol::TCP))?;
    if mark != 0 {
        socket.set_mark(mark)?;
    }
    if mode == InterceptMode::Tproxy {
        socket.set_ip_transparent_v4(true)?;
    }
    Ok(())
}

/// Half-closes the write side (sends FIN). A socket the peer already
/// reset reports `NotConnected`, which is not worth an error.
pub(crate) fn shutdown_write(stream: &TcpStream) {
    let _ = SockRef::from(stream).shutdown(std::net::Shutdown::Write);
}
