//! Relaying an allowed connection both ways until both sides are done.
//!
//! Each direction is a pump from one socket to the other; the two run
//! concurrently on shared `&TcpStream`s (readiness and `try_io` need no
//! `&mut`). A pump that reads end-of-stream half-closes the other side
//! (FIN) and stops, so half-close propagates; the relay ends when both
//! pumps have, on the first error (a reset tears both down), or when no
//! byte moved either way for the idle timeout.
//!
//! `splice(2)` moves the bytes socket → pipe → socket inside the kernel
//! (no copy to user space). The copy mode is the fallback (taken
//! automatically where splice is refused) and the baseline the benchmark
//! compares against.

use std::io;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use nix::fcntl::{OFlag, SpliceFFlags, splice};
use tokio::io::Interest;
use tokio::net::TcpStream;

use super::sockopt;
use crate::config::RelayMode;

/// Bytes moved per splice / read: one default pipe's capacity.
const CHUNK: usize = 64 << 10;

/// Bytes relayed, client → server and server → client.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Relayed {
    pub(crate) up: u64,
    pub(crate) down: u64,
}

/// Relays until both directions end. Errors: a socket error in either
/// direction, or `TimedOut` after `idle` without traffic.
pub(crate) async fn relay(
    client: &TcpStream,
    server: &TcpStream,
    mode: RelayMode,
    idle: Duration,
) -> io::Result<Relayed> {
    let activity = Activity::new();
    let both = async {
        let (up, down) = match mode {
            RelayMode::Splice => tokio::try_join!(
                pump_splice(client, server, &activity),
                pump_splice(server, client, &activity)
            )?,
            RelayMode::Copy => tokio::try_join!(
                pump_copy(client, server, &activity),
                pump_copy(server, client, &activity)
            )?,
        };
        Ok(Relayed { up, down })
    };
    tokio::select! {
        r = both => r,
        () = activity.idle_for(idle) => Err(io::Error::new(
            io::ErrorKind::TimedOut,
            "idle timeout",
        )),
    }
}

/// When bytes last moved, as milliseconds since the relay started.
struct Activity {
    start: Instant,
    last_ms: AtomicU64,
}

impl Activity {
    fn new() -> Self {
        Self {
            start: Instant::now(),
            last_ms: AtomicU64::new(0),
        }
    }

    fn touch(&self) {
        let ms = u64::try_from(self.start.elapsed().as_millis()).unwrap_or(u64::MAX);
        self.last_ms.store(ms, Ordering::Relaxed);
    }

    /// Completes once nothing moved for `idle`.
    async fn idle_for(&self, idle: Duration) {
        loop {
            let last = self.start + Duration::from_millis(self.last_ms.load(Ordering::Relaxed));
            let deadline = last + idle;
            if Instant::now() >= deadline {
                return;
            }
            tokio::time::sleep_until(deadline.into()).await;
        }
    }
}

/// Splices `src` to `dst`. Where the kernel cannot splice these sockets
/// (no pipe available, `EINVAL`/`ENOSYS` before the first byte), it falls
/// back to [`pump_copy`] for this direction.
async fn pump_splice(src: &TcpStream, dst: &TcpStream, activity: &Activity) -> io::Result<u64> {
    let Ok((pipe_r, pipe_w)) = nix::unistd::pipe2(OFlag::O_NONBLOCK | OFlag::O_CLOEXEC) else {
        return pump_copy(src, dst, activity).await;
    };
    let flags = SpliceFFlags::SPLICE_F_MOVE | SpliceFFlags::SPLICE_F_NONBLOCK;
    let mut total = 0u64;
    loop {
        // The pipe is empty here (drained below), so EAGAIN can only mean
        // the socket has nothing to read.
        let n = loop {
            src.readable().await?;
            match src.try_io(Interest::READABLE, || {
                splice(src, None, &pipe_w, None, CHUNK, flags).map_err(io::Error::from)
            }) {
                Ok(n) => break n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                Err(e) if total == 0 && splice_unsupported(&e) => {
                    return pump_copy(src, dst, activity).await;
                }
                Err(e) => return Err(e),
            }
        };
        if n == 0 {
            sockopt::shutdown_write(dst);
            return Ok(total);
        }
        let mut left = n;
        while left > 0 {
            dst.writable().await?;
            match dst.try_io(Interest::WRITABLE, || {
                splice(&pipe_r, None, dst, None, left, flags).map_err(io::Error::from)
            }) {
                Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                Ok(m) => left -= m.min(left),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                Err(e) => return Err(e),
            }
        }
        total += n as u64;
        activity.touch();
    }
}

/// `splice(2)` refused these descriptors (not a reason to drop the
/// connection: copy instead).
fn splice_unsupported(e: &io::Error) -> bool {
    matches!(
        e.raw_os_error(),
        Some(code) if code == nix::libc::EINVAL || code == nix::libc::ENOSYS
    )
}

async fn pump_copy(src: &TcpStream, dst: &TcpStream, activity: &Activity) -> io::Result<u64> {
    let mut buf = vec![0u8; CHUNK];
    let mut total = 0u64;
    loop {
        let n = loop {
            src.readable().await?;
            match src.try_read(&mut buf) {
                Ok(n) => break n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                Err(e) => return Err(e),
            }
        };
        if n == 0 {
            sockopt::shutdown_write(dst);
            return Ok(total);
        }
        let mut sent = 0;
        while sent < n {
            dst.writable().await?;
            match dst.try_write(&buf[sent..n]) {
                Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                Ok(m) => sent += m,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                Err(e) => return Err(e),
            }
        }
        total += n as u64;
        activity.touch();
    }
}
