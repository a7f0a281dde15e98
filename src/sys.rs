//! The only module with `unsafe` code: thin wrappers over OS facilities
//! that have no safe interface. Each block states why it is sound.

use std::fs::File;
use std::io;
use std::net::SocketAddr;
use std::os::fd::{AsRawFd, BorrowedFd};

use nix::libc;

/// Copies the first `len` bytes of `file` (a list file, or a list
/// compiled in memory) into an anonymous memory file,
/// seals it against every change, and maps it read-only.
///
/// This is how every list ward enforces is held: the bytes verified are
/// the bytes served, whatever happens to the file they came from. An
/// in-place overwrite (`cp`, `curl -o`, `dd conv=notrunc`) cannot change
/// them, and a truncation cannot make a lookup fault (SIGBUS), since the
/// mapping is of the sealed copy, never of the file.
///
/// Returns `Ok(None)` when `memfd_create` fails (a kernel before 3.17, a
/// seccomp filter, no descriptor left): the caller reads into the heap
/// instead, which is just as immutable.
///
/// Soundness of the `mmap`: after `F_SEAL_WRITE | F_SEAL_SHRINK |
/// F_SEAL_GROW | F_SEAL_SEAL`, no process (ward included) can write,
/// shrink or grow the memory file, or lift the seals, so the mapped bytes
/// never change and never go away while the `Mmap` lives.
#[allow(unsafe_code)]
pub fn sealed_copy(file: impl io::Read, len: u64) -> io::Result<Option<memmap2::Mmap>> {
    use nix::fcntl::{FcntlArg, SealFlag, fcntl};
    use nix::sys::memfd::{MFdFlags, memfd_create};

    // No memfd (old kernel, seccomp) or none now (out of descriptors or
    // memory): the heap copy is just as immutable.
    let Ok(fd) = memfd_create(
        c"ward-list",
        MFdFlags::MFD_CLOEXEC | MFdFlags::MFD_ALLOW_SEALING,
    ) else {
        return Ok(None);
    };
    let mut copy = File::from(fd);
    let copied = io::copy(&mut file.take(len), &mut copy)?;
    if copied != len {
        // Truncated while being copied: map what there is; verification
        // refuses it.
        copy.set_len(copied)?;
    }
    fcntl(
        &copy,
        FcntlArg::F_ADD_SEALS(
            SealFlag::F_SEAL_WRITE
                | SealFlag::F_SEAL_SHRINK
                | SealFlag::F_SEAL_GROW
                | SealFlag::F_SEAL_SEAL,
        ),
    )?;
    if copied == 0 {
        // A zero-length mapping is an error; an empty file is simply empty.
        return Ok(None);
    }
    // SAFETY: see above; the Mmap owns the mapping and unmaps on drop, and
    // the mapping keeps the memory file alive after `copy` is closed.
    unsafe { memmap2::MmapOptions::new().map(&copy) }.map(Some)
}

/// Datagrams received with one `recvmmsg(2)`: up to `capacity` messages
/// of at most `slot` bytes each, in buffers reused from call to call.
pub struct RecvBatch {
    slot: usize,
    bufs: Vec<u8>,
    addrs: Vec<libc::sockaddr_storage>,
    iovs: Vec<libc::iovec>,
    hdrs: Vec<libc::mmsghdr>,
    received: usize,
}

impl std::fmt::Debug for RecvBatch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RecvBatch")
            .field("capacity", &self.hdrs.len())
            .field("slot", &self.slot)
            .field("received", &self.received)
            .finish()
    }
}

/// One received datagram.
#[derive(Debug, Clone, Copy)]
pub struct Datagram<'a> {
    pub bytes: &'a [u8],
    pub from: Option<SocketAddr>,
    /// The datagram was longer than the slot and was cut (`MSG_TRUNC`).
    pub truncated: bool,
}

impl RecvBatch {
    pub fn new(capacity: usize, slot: usize) -> Self {
        let capacity = capacity.max(1);
        // SAFETY: all-zero bytes are a valid sockaddr_storage (family
        // AF_UNSPEC); the kernel fills it in.
        let zero_addr: libc::sockaddr_storage = unsafe { std::mem::zeroed() };
        let (iovs, hdrs) = message_slots(capacity);
        Self {
            slot,
            bufs: vec![0; capacity * slot],
            addrs: vec![zero_addr; capacity],
            iovs,
            hdrs,
            received: 0,
        }
    }

    /// Blocks until at least one datagram arrives (or the socket's receive
    /// timeout passes: `WouldBlock`), then takes every datagram already
    /// queued, up to the capacity. Returns how many it took.
    pub fn recv(&mut self, fd: BorrowedFd<'_>) -> io::Result<usize> {
        self.received = 0;
        let slot = self.slot;
        for (i, ((iov, hdr), addr)) in self
            .iovs
            .iter_mut()
            .zip(self.hdrs.iter_mut())
            .zip(self.addrs.iter_mut())
            .enumerate()
        {
            iov.iov_base = self.bufs[i * slot..].as_mut_ptr().cast();
            iov.iov_len = slot;
            let namelen = std::mem::size_of::<libc::sockaddr_storage>() as libc::socklen_t;
            point(hdr, std::ptr::from_mut(addr).cast(), namelen, iov);
        }
        // SAFETY: every header points at its own iovec and address slot,
        // and every iovec at its own `slot`-byte part of `bufs`; all of
        // them live in `self`, which is borrowed mutably for the call, and
        // the Vecs are never resized after `new`. The kernel writes at most
        // `iov_len` bytes per buffer and `msg_namelen` per address.
        let n = unsafe {
            libc::recvmmsg(
                fd.as_raw_fd(),
                self.hdrs.as_mut_ptr(),
                self.hdrs.len() as libc::c_uint,
                libc::MSG_WAITFORONE,
                std::ptr::null_mut(),
            )
        };
        if n < 0 {
            return Err(io::Error::last_os_error());
        }
        // n >= 0 was just checked, and n <= capacity.
        self.received = n as usize;
        Ok(self.received)
    }

    /// The `i`th datagram of the last [`RecvBatch::recv`].
    pub fn get(&self, i: usize) -> Option<Datagram<'_>> {
        if i >= self.received {
            return None;
        }
        let hdr = &self.hdrs[i];
        let len = (hdr.msg_len as usize).min(self.slot);
        Some(Datagram {
            bytes: &self.bufs[i * self.slot..i * self.slot + len],
            from: socket_addr(&self.addrs[i], hdr.msg_hdr.msg_namelen),
            truncated: hdr.msg_hdr.msg_flags & libc::MSG_TRUNC != 0,
        })
    }
}

/// Empty iovecs and message headers for `capacity` messages of a batch.
fn message_slots(capacity: usize) -> (Vec<libc::iovec>, Vec<libc::mmsghdr>) {
    let empty = libc::iovec {
        iov_base: std::ptr::null_mut(),
        iov_len: 0,
    };
    // SAFETY: all-zero bytes are a valid mmsghdr (null pointers, zero
    // lengths); `point` sets every pointer before a header is used.
    let zero_hdr: libc::mmsghdr = unsafe { std::mem::zeroed() };
    (vec![empty; capacity], vec![zero_hdr; capacity])
}

/// Points a message header at one address and one buffer, with no
/// control data and cleared flags and length.
fn point(
    hdr: &mut libc::mmsghdr,
    name: *mut libc::c_void,
    namelen: libc::socklen_t,
    iov: &mut libc::iovec,
) {
    hdr.msg_hdr.msg_name = name;
    hdr.msg_hdr.msg_namelen = namelen;
    hdr.msg_hdr.msg_iov = std::ptr::from_mut(iov);
    hdr.msg_hdr.msg_iovlen = 1;
    hdr.msg_hdr.msg_control = std::ptr::null_mut();
    hdr.msg_hdr.msg_controllen = 0;
    hdr.msg_hdr.msg_flags = 0;
    hdr.msg_len = 0;
}

/// A received source address, IPv4 or IPv6.
fn socket_addr(storage: &libc::sockaddr_storage, len: libc::socklen_t) -> Option<SocketAddr> {
    let len = len as usize;
    match libc::c_int::from(storage.ss_family) {
        libc::AF_INET if len >= std::mem::size_of::<libc::sockaddr_in>() => {
            // SAFETY: the kernel wrote a sockaddr_in (family AF_INET and
            // length checked); sockaddr_storage is large and aligned
            // enough for every sockaddr type.
            let sin: &libc::sockaddr_in = unsafe { &*std::ptr::from_ref(storage).cast() };
            let ip = std::net::Ipv4Addr::from(sin.sin_addr.s_addr.to_ne_bytes());
            Some(SocketAddr::from((ip, u16::from_be(sin.sin_port))))
        }
        libc::AF_INET6 if len >= std::mem::size_of::<libc::sockaddr_in6>() => {
            // SAFETY: as above, for sockaddr_in6.
            let sin6: &libc::sockaddr_in6 = unsafe { &*std::ptr::from_ref(storage).cast() };
            let ip = std::net::Ipv6Addr::from(sin6.sin6_addr.s6_addr);
            Some(SocketAddr::V6(std::net::SocketAddrV6::new(
                ip,
                u16::from_be(sin6.sin6_port),
                sin6.sin6_flowinfo,
                sin6.sin6_scope_id,
            )))
        }
        _ => None,
    }
}

/// Datagrams to send with one `sendmmsg(2)`. Callers fill the next
/// message's buffer in place ([`SendBatch::next_buf`]) and then
/// [`SendBatch::commit`] it with its destination.
pub struct SendBatch {
    bufs: Vec<Vec<u8>>,
    addrs: Vec<socket2::SockAddr>,
    iovs: Vec<libc::iovec>,
    hdrs: Vec<libc::mmsghdr>,
    len: usize,
}

impl std::fmt::Debug for SendBatch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SendBatch")
            .field("capacity", &self.bufs.len())
            .field("len", &self.len)
            .finish()
    }
}

impl SendBatch {
    pub fn new(capacity: usize) -> Self {
        let capacity = capacity.max(1);
        let nowhere = socket2::SockAddr::from(SocketAddr::from(([0, 0, 0, 0], 0)));
        let (iovs, hdrs) = message_slots(capacity);
        Self {
            bufs: (0..capacity).map(|_| Vec::with_capacity(4096)).collect(),
            addrs: vec![nowhere; capacity],
            iovs,
            hdrs,
            len: 0,
        }
    }

    /// The buffer for the next message, or `None` when the batch is full
    /// (flush it first).
    pub fn next_buf(&mut self) -> Option<&mut Vec<u8>> {
        self.bufs.get_mut(self.len)
    }

    /// Queues the message written to [`SendBatch::next_buf`] for `to`.
    pub fn commit(&mut self, to: SocketAddr) {
        if let Some(addr) = self.addrs.get_mut(self.len) {
            *addr = socket2::SockAddr::from(to);
            self.len += 1;
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Sends every queued message and empties the batch. A message the
    /// kernel refuses (an unreachable destination, say) is skipped, as a
    /// failed `sendto` would be; returns how many were skipped.
    pub fn flush(&mut self, fd: BorrowedFd<'_>) -> usize {
        let len = self.len;
        self.len = 0;
        for i in 0..len {
            let buf = &mut self.bufs[i];
            self.iovs[i] = libc::iovec {
                iov_base: buf.as_mut_ptr().cast(),
                iov_len: buf.len(),
            };
            let addr = &self.addrs[i];
            // The kernel only reads a sendmmsg destination.
            let name = addr.as_ptr().cast_mut().cast();
            point(&mut self.hdrs[i], name, addr.len(), &mut self.iovs[i]);
        }
        let mut sent = 0;
        let mut skipped = 0;
        while sent < len {
            // SAFETY: headers `sent..len` point at their own iovec and
            // address, each iovec at its own buffer; all live in `self`,
            // borrowed mutably and not resized during the call. The kernel
            // only reads through these pointers.
            let n = unsafe {
                libc::sendmmsg(
                    fd.as_raw_fd(),
                    self.hdrs[sent..len].as_mut_ptr(),
                    (len - sent) as libc::c_uint,
                    0,
                )
            };
            if n > 0 {
                sent += n as usize;
            } else if n < 0 && io::Error::last_os_error().kind() == io::ErrorKind::Interrupted {
                continue;
            } else {
                // The first remaining message failed: drop it, go on.
                sent += 1;
                skipped += 1;
            }
        }
        skipped
    }
}

/// Allocations from this size up get their own mapping, returned to the
/// system when freed: [`tune_allocator`].
pub const MMAP_THRESHOLD: usize = 64 << 10;

/// Fixes glibc's mmap threshold at [`MMAP_THRESHOLD`]. By default glibc
/// raises the threshold each time a large mapped block is freed (up to
/// 32 MiB), so after a burst of large buffers (TCP reads, HTTP bodies)
/// later ones come from the arenas and leave them fragmented: the soak
/// test measured the resident set staying about 2 MB above where a run
/// without the attacks ended. A fixed threshold keeps large buffers
/// mapped, so they leave no holes. A no-op on other C libraries.
#[allow(unsafe_code)]
pub fn tune_allocator() {
    // SAFETY: mallopt takes two integers and only changes malloc's
    // parameters; it is thread-safe. The threshold (64 KiB) is within the
    // range glibc accepts (at most 32 MiB on 64-bit).
    #[cfg(target_env = "gnu")]
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, MMAP_THRESHOLD as libc::c_int);
    }
}

/// Hands memory the allocator holds but no longer uses back to the
/// system. glibc's malloc keeps freed memory in its per-thread arenas;
/// after a burst (thousands of connections, a flood of forwards) that
/// stays in the resident set for good unless trimmed. `malloc_trim(0)`
/// releases the free pages of every arena (since glibc 2.8, not only the
/// top of the heap), locking one arena at a time. A no-op on other C
/// libraries.
#[allow(unsafe_code)]
pub fn release_free_memory() {
    // SAFETY: malloc_trim takes no pointers and is thread-safe; it only
    // returns free pages to the kernel.
    #[cfg(target_env = "gnu")]
    unsafe {
        libc::malloc_trim(0);
    }
}
