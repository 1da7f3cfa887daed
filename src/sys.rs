//! The few syscall wrappers the safe crates do not cover.

use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};

use nix::errno::Errno;

/// An epoll instance: the loop's poller (edge-triggered, each fd registered
/// once for both directions) and the fd watchers' set nested in it
/// (level-triggered, as asyncio's selectors are).
pub(crate) struct Epoll {
    fd: OwnedFd,
}

pub(crate) const READABLE: u32 = libc::EPOLLIN as u32;
pub(crate) const WRITABLE: u32 = libc::EPOLLOUT as u32;
pub(crate) const HANGUP: u32 = (libc::EPOLLHUP | libc::EPOLLERR) as u32;
/// What the loop's poller watches an fd for: both directions and the
/// peer's FIN, edge-triggered.
pub(crate) const EDGE_BOTH: u32 = (libc::EPOLLIN | libc::EPOLLRDHUP | libc::EPOLLOUT | libc::EPOLLET) as u32;
/// The same for an fd the loop only reads (the waker, the signal pipe, the
/// watchers' epoll).
pub(crate) const EDGE_READ: u32 = (libc::EPOLLIN | libc::EPOLLRDHUP | libc::EPOLLET) as u32;

impl Epoll {
    pub(crate) fn new() -> Result<Self, i32> {
        // SAFETY: epoll_create1 has no memory arguments.
        let fd = unsafe { libc::epoll_create1(libc::EPOLL_CLOEXEC) };
        if fd < 0 {
            return Err(-Errno::last_raw());
        }
        // SAFETY: fd was just returned by the kernel and nothing else owns it.
        Ok(Self { fd: unsafe { OwnedFd::from_raw_fd(fd) } })
    }

    fn ctl(&self, op: libc::c_int, fd: RawFd, events: u32, data: u64) -> Result<(), i32> {
        let mut ev = libc::epoll_event { events, u64: data };
        // SAFETY: ev is a valid epoll_event for the duration of the call; the
        // kernel validates fd and returns EBADF/EPERM for unusable ones.
        let rc = unsafe { libc::epoll_ctl(self.fd.as_raw_fd(), op, fd, &mut ev) };
        if rc < 0 {
            return Err(-Errno::last_raw());
        }
        Ok(())
    }

    /// Adds `fd`, watched for `events`; its events carry `token`.
    pub(crate) fn add(&self, fd: RawFd, token: usize, events: u32) -> Result<(), i32> {
        self.ctl(libc::EPOLL_CTL_ADD, fd, events, token as u64)
    }

    pub(crate) fn delete(&self, fd: RawFd) -> Result<(), i32> {
        self.ctl(libc::EPOLL_CTL_DEL, fd, 0, 0)
    }

    /// Adds, modifies or removes `fd` so that it is watched for `events`
    /// (0 removes it); its events carry the fd. `registered` says whether
    /// it is in the set now.
    pub(crate) fn set(&self, fd: RawFd, events: u32, registered: bool) -> Result<(), i32> {
        let op = match (registered, events != 0) {
            (false, true) => libc::EPOLL_CTL_ADD,
            (true, true) => libc::EPOLL_CTL_MOD,
            (true, false) => libc::EPOLL_CTL_DEL,
            (false, false) => return Ok(()),
        };
        self.ctl(op, fd, events, fd as u64)
    }

    /// Waits up to `timeout` (None: without limit) for events, into
    /// `events`; a timeout is rounded up to whole milliseconds, so that a
    /// timer due in less than one does not make the loop spin.
    pub(crate) fn wait(&self, events: &mut EpollEvents, timeout: Option<std::time::Duration>) -> Result<(), i32> {
        let ms = match timeout {
            None => -1,
            // A busy loop's poll: no 128-bit millisecond arithmetic for it.
            Some(t) if t.is_zero() => 0,
            Some(t) => {
                let ms = t.saturating_add(std::time::Duration::from_nanos(999_999)).as_millis();
                libc::c_int::try_from(ms).unwrap_or(libc::c_int::MAX)
            }
        };
        events.len = 0;
        let cap = libc::c_int::try_from(events.buf.len()).unwrap_or(libc::c_int::MAX);
        // SAFETY: buf is writable for cap entries.
        let n = unsafe { libc::epoll_wait(self.fd.as_raw_fd(), events.buf.as_mut_ptr(), cap, ms) };
        if n < 0 {
            return Err(-Errno::last_raw());
        }
        events.len = n as usize;
        Ok(())
    }

    /// Polls without blocking; returns (fd, events) pairs.
    pub(crate) fn ready(&self, out: &mut Vec<(RawFd, u32)>) {
        let mut events = EpollEvents::with_capacity(64);
        if self.wait(&mut events, Some(std::time::Duration::ZERO)).is_ok() {
            out.extend(events.iter().map(|(fd, bits)| (fd as RawFd, bits)));
        }
    }

    pub(crate) fn raw(&self) -> RawFd {
        self.fd.as_raw_fd()
    }
}

/// The events of the last `Epoll::wait`, in a buffer kept for the next.
pub(crate) struct EpollEvents {
    buf: Vec<libc::epoll_event>,
    len: usize,
}

impl EpollEvents {
    pub(crate) fn with_capacity(n: usize) -> Self {
        Self { buf: vec![libc::epoll_event { events: 0, u64: 0 }; n], len: 0 }
    }

    pub(crate) fn len(&self) -> usize {
        self.len
    }

    /// Forgets the last wait's events (an iteration that skipped its poll).
    pub(crate) fn clear(&mut self) {
        self.len = 0;
    }

    /// (token, epoll bits) of each event, in the kernel's order.
    #[inline]
    pub(crate) fn iter(&self) -> impl Iterator<Item = (usize, u32)> + '_ {
        self.buf[..self.len].iter().map(|e| (e.u64 as usize, e.events))
    }
}

/// An eventfd that wakes the loop's poller from another thread: each write
/// is a new edge, so it is never read except to unblock a full counter.
pub(crate) struct EventFd {
    fd: OwnedFd,
}

impl EventFd {
    pub(crate) fn new() -> Result<Self, i32> {
        // SAFETY: eventfd has no memory arguments.
        let fd = unsafe { libc::eventfd(0, libc::EFD_CLOEXEC | libc::EFD_NONBLOCK) };
        if fd < 0 {
            return Err(-Errno::last_raw());
        }
        // SAFETY: fd was just returned by the kernel and nothing else owns it.
        Ok(Self { fd: unsafe { OwnedFd::from_raw_fd(fd) } })
    }

    pub(crate) fn wake(&self) -> Result<(), i32> {
        let one = 1u64.to_ne_bytes();
        match retry_raw(|| {
            // SAFETY: one is readable for its 8 bytes.
            unsafe { libc::write(self.fd.as_raw_fd(), one.as_ptr().cast(), one.len()) }
        }) {
            // The counter would overflow: a wake-up is pending anyway; reset
            // it and write again so that this one is an edge too.
            Err(e) if e == -libc::EAGAIN => {
                let mut buf = [0u8; 8];
                read(self.fd.as_raw_fd(), &mut buf)?;
                self.wake()
            }
            r => r.map(drop),
        }
    }

    pub(crate) fn raw(&self) -> RawFd {
        self.fd.as_raw_fd()
    }
}

/// Seconds on the monotonic clock.
/// Called at least once per loop iteration, so straight to libc: nix's
/// wrapper costs more instructions than the clock read itself.
pub(crate) fn monotonic() -> f64 {
    let mut ts = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: `ts` is a valid, writable timespec for the call.
    let rc = unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
    assert_eq!(rc, 0, "CLOCK_MONOTONIC is always available");
    ts.tv_sec as f64 + ts.tv_nsec as f64 * 1e-9
}

/// A `getaddrinfo` result list, freed on drop unless handed to the caller.
pub(crate) struct AddrInfoList(std::ptr::NonNull<libc::addrinfo>);

// SAFETY: the list is plain memory owned by this value alone.
unsafe impl Send for AddrInfoList {}

impl AddrInfoList {
    /// Gives the list up as an address; `eddy_freeaddrinfo` frees it.
    pub(crate) fn into_raw(self) -> usize {
        let p = self.0.as_ptr() as usize;
        std::mem::forget(self);
        p
    }
}

impl Drop for AddrInfoList {
    fn drop(&mut self) {
        // SAFETY: the pointer came from getaddrinfo and is freed once.
        unsafe { libc::freeaddrinfo(self.0.as_ptr()) }
    }
}

/// Frees a list given up by `into_raw` that nobody received.
pub(crate) fn discard_addrinfo(p: usize, _: i64) {
    if let Some(p) = std::ptr::NonNull::new(p as *mut libc::addrinfo) {
        drop(AddrInfoList(p));
    }
}

/// The fields of `struct addrinfo` that hints use.
#[derive(Clone, Copy, Default)]
pub struct Hints {
    pub flags: i32,
    pub family: i32,
    pub socktype: i32,
    pub protocol: i32,
}

/// glibc's GNU-extension codes, which the libc crate does not name.
const GLIBC_EAI_NODATA: i32 = -5;
const GLIBC_EAI_ADDRFAMILY: i32 = -9;

/// Maps a getaddrinfo/getnameinfo failure to an eddy code.
fn eai_error(rc: i32) -> i32 {
    use crate::error::*;
    match rc {
        libc::EAI_SYSTEM => -Errno::last_raw(),
        GLIBC_EAI_ADDRFAMILY => EDDY_EAI_ADDRFAMILY,
        libc::EAI_AGAIN => EDDY_EAI_AGAIN,
        libc::EAI_BADFLAGS => EDDY_EAI_BADFLAGS,
        libc::EAI_FAIL => EDDY_EAI_FAIL,
        libc::EAI_FAMILY => EDDY_EAI_FAMILY,
        libc::EAI_MEMORY => EDDY_EAI_MEMORY,
        GLIBC_EAI_NODATA => EDDY_EAI_NODATA,
        libc::EAI_NONAME => EDDY_EAI_NONAME,
        libc::EAI_OVERFLOW => EDDY_EAI_OVERFLOW,
        libc::EAI_SERVICE => EDDY_EAI_SERVICE,
        libc::EAI_SOCKTYPE => EDDY_EAI_SOCKTYPE,
        _ => EDDY_EAI_FAIL,
    }
}

/// Blocking getaddrinfo(3) (run it on a worker thread).
pub(crate) fn getaddrinfo(
    host: Option<&std::ffi::CStr>,
    port: Option<&std::ffi::CStr>,
    hints: Hints,
) -> Result<AddrInfoList, i32> {
    // SAFETY: an all-zero addrinfo is a valid "no hints" value.
    let mut h: libc::addrinfo = unsafe { std::mem::zeroed() };
    h.ai_flags = hints.flags;
    h.ai_family = hints.family;
    h.ai_socktype = hints.socktype;
    h.ai_protocol = hints.protocol;
    let mut res: *mut libc::addrinfo = std::ptr::null_mut();
    let c = |s: Option<&std::ffi::CStr>| s.map_or(std::ptr::null(), |s| s.as_ptr());
    // SAFETY: the strings are NUL-terminated or NULL, h and res are valid
    // for the call, and res is only read on success.
    let rc = unsafe { libc::getaddrinfo(c(host), c(port), &h, &mut res) };
    if rc != 0 {
        return Err(eai_error(rc));
    }
    std::ptr::NonNull::new(res).map(AddrInfoList).ok_or(crate::error::EDDY_EAI_NONAME)
}

/// Blocking getnameinfo(3): (host, service).
pub(crate) fn getnameinfo(addr: &socket2::SockAddr, flags: i32) -> Result<(Vec<u8>, Vec<u8>), i32> {
    let mut host = vec![0u8; 1025];
    let mut serv = vec![0u8; 32];
    // SAFETY: addr is a valid socket address of the given length, and the
    // buffers are writable for the lengths passed.
    let rc = unsafe {
        libc::getnameinfo(
            addr.as_ptr().cast(),
            addr.len(),
            host.as_mut_ptr().cast(),
            host.len() as libc::socklen_t,
            serv.as_mut_ptr().cast(),
            serv.len() as libc::socklen_t,
            flags,
        )
    };
    if rc != 0 {
        return Err(eai_error(rc));
    }
    let cut = |mut v: Vec<u8>| {
        let n = v.iter().position(|&b| b == 0).unwrap_or(v.len());
        v.truncate(n);
        v
    };
    Ok((cut(host), cut(serv)))
}

/// Retries a syscall interrupted by a signal; maps failures to eddy codes.
fn retry<T>(mut f: impl FnMut() -> nix::Result<T>) -> Result<T, i32> {
    loop {
        match f() {
            Err(Errno::EINTR) => continue,
            r => return r.map_err(|e| -(e as i32)),
        }
    }
}

/// A raw libc call returning a count or -1, retried on EINTR; errno only
/// read on failure (the hot paths' read and send).
#[inline(always)]
fn retry_raw(mut f: impl FnMut() -> isize) -> Result<usize, i32> {
    loop {
        let rc = f();
        if rc >= 0 {
            return Ok(rc as usize);
        }
        let e = Errno::last_raw();
        if e != libc::EINTR {
            return Err(-e);
        }
    }
}

/// The last errno as a Result, for raw libc calls.
fn check(rc: isize) -> nix::Result<usize> {
    if rc < 0 {
        Err(Errno::last())
    } else {
        Ok(rc as usize)
    }
}

pub(crate) fn recv(fd: RawFd, buf: &mut [u8]) -> Result<usize, i32> {
    use nix::sys::socket::{recv, MsgFlags};
    retry(|| recv(fd, buf, MsgFlags::empty()))
}

/// send(2) that never raises SIGPIPE.
#[inline]
pub(crate) fn send(fd: RawFd, buf: &[u8]) -> Result<usize, i32> {
    // SAFETY: buf is valid for reads of buf.len() bytes.
    retry_raw(|| unsafe { libc::send(fd, buf.as_ptr().cast(), buf.len(), libc::MSG_NOSIGNAL) })
}

pub(crate) fn sendto(fd: RawFd, buf: &[u8], addr: RawAddr<'_>) -> Result<usize, i32> {
    let a = addr.as_bytes();
    retry(|| {
        // SAFETY: buf and the address are valid for the lengths passed.
        check(unsafe {
            libc::sendto(fd, buf.as_ptr().cast(), buf.len(), libc::MSG_NOSIGNAL, a.as_ptr().cast(), a.len() as libc::socklen_t)
        })
    })
}

/// A socket address borrowed as the bytes of a `struct sockaddr`, checked
/// to hold its family's whole address. The datagram path sends to it
/// without building a `SockAddr`: zeroing and filling that 128-byte
/// storage, then moving it into the outbox, cost more per datagram than
/// the rest of the send.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct RawAddr<'a>(&'a [u8]);

impl<'a> RawAddr<'a> {
    /// `EDDY_EINVAL` for fewer bytes than `sa_family` and its family's
    /// address need (AF_INET, AF_INET6), or more than a `sockaddr_storage`.
    pub fn new(bytes: &'a [u8]) -> Result<Self, i32> {
        if bytes.len() < 2 || bytes.len() > std::mem::size_of::<libc::sockaddr_storage>() {
            return Err(crate::error::EDDY_EINVAL);
        }
        let family = i32::from(libc::sa_family_t::from_ne_bytes([bytes[0], bytes[1]]));
        let min = match family {
            libc::AF_INET => std::mem::size_of::<libc::sockaddr_in>(),
            libc::AF_INET6 => std::mem::size_of::<libc::sockaddr_in6>(),
            _ => 2,
        };
        if bytes.len() < min {
            return Err(crate::error::EDDY_EINVAL);
        }
        Ok(Self(bytes))
    }

    /// Bytes that passed `new` before (kept in a buffer since).
    pub fn from_checked(bytes: &'a [u8]) -> Self {
        Self(bytes)
    }

    pub fn of(a: &'a socket2::SockAddr) -> Self {
        // SAFETY: a SockAddr's storage is initialised for its len() bytes
        // and lives as long as the borrow.
        Self(unsafe { std::slice::from_raw_parts(a.as_ptr().cast::<u8>(), a.len() as usize) })
    }

    pub fn as_bytes(self) -> &'a [u8] {
        self.0
    }

    pub fn to_sockaddr(self) -> socket2::SockAddr {
        let b = self.0;
        // SAFETY: the storage is written for exactly b.len() bytes, which
        // new() bounded by its size.
        let (_, sa) = unsafe {
            socket2::SockAddr::try_init(|storage, out_len| {
                std::ptr::copy_nonoverlapping(b.as_ptr(), storage.cast::<u8>(), b.len());
                *out_len = b.len() as libc::socklen_t;
                Ok(())
            })
        }
        .expect("the closure cannot fail");
        sa
    }
}

pub(crate) fn recvfrom(fd: RawFd, buf: &mut [u8]) -> Result<(usize, socket2::SockAddr), i32> {
    retry(|| {
        let mut n = 0;
        // SAFETY: buf is writable for its length; the storage and its length
        // come from try_init and are written by the kernel.
        let res = unsafe {
            socket2::SockAddr::try_init(|storage, len| {
                n = check(libc::recvfrom(fd, buf.as_mut_ptr().cast(), buf.len(), 0, storage.cast(), len))
                    .map_err(std::io::Error::from)?;
                Ok(())
            })
        };
        res.map(|(_, addr)| (n, addr)).map_err(|e| Errno::from_raw(e.raw_os_error().unwrap_or(libc::EIO)))
    })
}

pub(crate) fn connect(fd: RawFd, addr: &socket2::SockAddr) -> Result<(), i32> {
    // SAFETY: addr is a valid address of addr.len() bytes. EINTR is not
    // retried: the connection goes on in the background, like EINPROGRESS.
    let rc = unsafe { libc::connect(fd, addr.as_ptr().cast(), addr.len()) };
    if rc < 0 {
        return Err(-Errno::last_raw());
    }
    Ok(())
}

/// accept4 with the new fd non-blocking and close-on-exec.
pub(crate) fn accept(fd: RawFd) -> Result<RawFd, i32> {
    use nix::sys::socket::{accept4, SockFlag};
    retry(|| accept4(fd, SockFlag::SOCK_NONBLOCK | SockFlag::SOCK_CLOEXEC))
}

fn getsockopt_int(fd: RawFd, level: i32, name: i32) -> Result<i32, i32> {
    let mut v: libc::c_int = 0;
    let mut len = std::mem::size_of::<libc::c_int>() as libc::socklen_t;
    // SAFETY: v and len are valid for the call and sized for an int option.
    let rc = unsafe { libc::getsockopt(fd, level, name, (&mut v as *mut libc::c_int).cast(), &mut len) };
    if rc < 0 {
        return Err(-Errno::last_raw());
    }
    Ok(v)
}

/// The pending error of a socket (SO_ERROR), as an eddy code (0: none).
pub(crate) fn socket_error(fd: RawFd) -> i32 {
    getsockopt_int(fd, libc::SOL_SOCKET, libc::SO_ERROR).map_or_else(|e| e, |v| -v)
}

pub(crate) fn socket_type(fd: RawFd) -> Result<i32, i32> {
    getsockopt_int(fd, libc::SOL_SOCKET, libc::SO_TYPE)
}

pub(crate) fn is_nonblocking(fd: RawFd) -> Result<bool, i32> {
    // SAFETY: F_GETFL takes no pointer argument.
    let flags = unsafe { libc::fcntl(fd, libc::F_GETFL) };
    if flags < 0 {
        return Err(-Errno::last_raw());
    }
    Ok(flags & libc::O_NONBLOCK != 0)
}

/// sendfile(2) from `offset`, which it advances.
pub(crate) fn sendfile(out_fd: RawFd, in_fd: RawFd, offset: &mut i64, count: usize) -> Result<usize, i32> {
    retry(|| {
        // SAFETY: offset points to a valid off_t for the call.
        check(unsafe { libc::sendfile(out_fd, in_fd, offset, count) })
    })
}

pub(crate) fn pread(fd: RawFd, buf: &mut [u8], offset: i64) -> Result<usize, i32> {
    retry(|| {
        // SAFETY: buf is writable for its length.
        check(unsafe { libc::pread(fd, buf.as_mut_ptr().cast(), buf.len(), offset) })
    })
}

pub(crate) fn seek_to(fd: RawFd, offset: i64) -> Result<(), i32> {
    // SAFETY: lseek takes no pointer argument.
    if unsafe { libc::lseek(fd, offset, libc::SEEK_SET) } < 0 {
        return Err(-Errno::last_raw());
    }
    Ok(())
}

pub(crate) fn file_size(fd: RawFd) -> Result<i64, i32> {
    // SAFETY: an all-zero stat is a valid buffer for fstat to fill.
    let mut st: libc::stat = unsafe { std::mem::zeroed() };
    // SAFETY: st is writable for the call.
    if unsafe { libc::fstat(fd, &mut st) } < 0 {
        return Err(-Errno::last_raw());
    }
    Ok(st.st_size)
}

/// A Unix socket address; `EDDY_ENAMETOOLONG` for a path that does not fit
/// in `sun_path` (socket2 reports that without an errno, which would read
/// as `EDDY_EIO`).
pub(crate) fn unix_addr(path: &std::path::Path) -> Result<socket2::SockAddr, i32> {
    socket2::SockAddr::unix(path).map_err(|e| match e.kind() {
        std::io::ErrorKind::InvalidInput => crate::error::EDDY_ENAMETOOLONG,
        _ => crate::error::from_io(&e),
    })
}

/// A copy of `data` whose allocation fails with `EDDY_ENOMEM` rather than
/// aborting: the size is the caller's.
pub(crate) fn try_to_vec(data: &[u8]) -> Result<Vec<u8>, i32> {
    let mut v = Vec::new();
    v.try_reserve_exact(data.len()).map_err(|_| crate::error::EDDY_ENOMEM)?;
    v.extend_from_slice(data);
    Ok(v)
}

/// Memory from malloc, for values handed to C callers (who free them with
/// `eddy_free`). Freed on drop unless given up with `into_raw`.
pub(crate) struct MallocBuf {
    ptr: std::ptr::NonNull<u8>,
    len: usize,
}

impl MallocBuf {
    pub(crate) fn new(len: usize) -> Result<Self, i32> {
        if len > isize::MAX as usize {
            return Err(crate::error::EDDY_EINVAL);
        }
        // SAFETY: calloc has no preconditions; NULL is handled below. Zeroed
        // memory makes every byte of the slice below initialised.
        let p = unsafe { libc::calloc(len.max(1), 1) }.cast::<u8>();
        let ptr = std::ptr::NonNull::new(p).ok_or(crate::error::EDDY_ENOMEM)?;
        Ok(Self { ptr, len })
    }

    pub(crate) fn as_mut_slice(&mut self) -> &mut [u8] {
        // SAFETY: the allocation is len initialised (zeroed) bytes, owned by
        // self.
        unsafe { std::slice::from_raw_parts_mut(self.ptr.as_ptr(), self.len) }
    }

    pub(crate) fn into_raw(self) -> usize {
        let p = self.ptr.as_ptr() as usize;
        std::mem::forget(self);
        p
    }
}

impl Drop for MallocBuf {
    fn drop(&mut self) {
        // SAFETY: the pointer came from malloc and is freed once.
        unsafe { libc::free(self.ptr.as_ptr().cast()) }
    }
}

/// A buffer the C caller lends until an operation completes
/// (sock_recv_into): docs/api.md makes it valid and unaliased until then.
pub(crate) struct UserBuf {
    ptr: *mut u8,
    len: usize,
}

impl UserBuf {
    /// # Safety
    /// `ptr` must be writable for `len` bytes until the operation using this
    /// buffer completes or is cancelled, and not accessed by anyone else
    /// meanwhile.
    pub(crate) unsafe fn new(ptr: *mut u8, len: usize) -> Self {
        Self { ptr, len }
    }

    pub(crate) fn as_mut_slice(&mut self) -> &mut [u8] {
        if self.len == 0 {
            return &mut [];
        }
        // SAFETY: per the constructor's contract.
        unsafe { std::slice::from_raw_parts_mut(self.ptr, self.len) }
    }
}

/// Where a C caller wants a peer address written (sock_recvfrom_into).
pub(crate) struct UserAddr {
    addr: *mut libc::sockaddr,
    len: *mut libc::socklen_t,
}

impl UserAddr {
    /// # Safety
    /// Either pointer may be NULL (nothing is written); otherwise `*len`
    /// holds the capacity of `addr` and both stay valid until the operation
    /// completes or is cancelled.
    pub(crate) unsafe fn new(addr: *mut libc::sockaddr, len: *mut libc::socklen_t) -> Self {
        Self { addr, len }
    }

    /// Writes as much of `from` as fits and the full length, as
    /// recvfrom(2) does.
    pub(crate) fn write(&self, from: &socket2::SockAddr) {
        if self.addr.is_null() || self.len.is_null() {
            return;
        }
        // SAFETY: per the constructor's contract.
        unsafe {
            let cap = *self.len as usize;
            let n = (from.len() as usize).min(cap);
            std::ptr::copy_nonoverlapping(from.as_ptr().cast::<u8>(), self.addr.cast::<u8>(), n);
            *self.len = from.len();
        }
    }
}

static FORK_GENERATION: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
static FORK_HOOK: std::sync::Once = std::sync::Once::new();

extern "C" fn forked_child() {
    FORK_GENERATION.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
}

/// Counts the fork()s this process descends from (asyncio's `on_fork`
/// resets the running loop in the child).
pub(crate) fn fork_generation() -> u64 {
    FORK_HOOK.call_once(|| {
        // SAFETY: the child handler only touches an atomic, which is
        // async-signal-safe as fork's child handlers must be.
        unsafe { libc::pthread_atfork(None, None, Some(forked_child)) };
    });
    FORK_GENERATION.load(std::sync::atomic::Ordering::Relaxed)
}

/// A non-blocking, close-on-exec pipe: (read end, write end).
pub(crate) fn pipe() -> Result<(OwnedFd, OwnedFd), i32> {
    use nix::fcntl::OFlag;
    nix::unistd::pipe2(OFlag::O_NONBLOCK | OFlag::O_CLOEXEC).map_err(|e| -(e as i32))
}

/// A close-on-exec pipe for a child's stdio: both ends blocking (a child
/// must not inherit O_NONBLOCK); the parent makes its own end non-blocking.
pub(crate) fn child_pipe() -> Result<(OwnedFd, OwnedFd), i32> {
    nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC).map_err(|e| -(e as i32))
}

/// Reads what is there without blocking; 0 when empty or at EOF.
pub(crate) fn read_some(fd: RawFd, buf: &mut [u8]) -> usize {
    loop {
        // SAFETY: buf is writable for its length.
        let n = unsafe { libc::read(fd, buf.as_mut_ptr().cast(), buf.len()) };
        if n < 0 && Errno::last() == Errno::EINTR {
            continue;
        }
        return n.max(0) as usize;
    }
}

/// The highest signal number (SIGRTMAX).
pub(crate) fn max_signal() -> i32 {
    libc::SIGRTMAX()
}

const NSIG: usize = 65;
/// For each signal, the self-pipe (write end) of the loop that handles it.
static SIGNAL_PIPES: [std::sync::atomic::AtomicI32; NSIG] = [const { std::sync::atomic::AtomicI32::new(-1) }; NSIG];

/// The C-level handler: writes the signal number to the owning loop's
/// self-pipe. Only async-signal-safe calls; errno is preserved.
extern "C" fn on_signal(sig: libc::c_int) {
    let Some(slot) = SIGNAL_PIPES.get(sig as usize) else { return };
    let fd = slot.load(std::sync::atomic::Ordering::Relaxed);
    if fd >= 0 {
        let saved = Errno::last_raw();
        let byte = sig as u8;
        // SAFETY: write(2) is async-signal-safe; byte is valid for 1 byte.
        // A full pipe drops the byte: the loop is far behind anyway.
        unsafe { libc::write(fd, (&byte as *const u8).cast(), 1) };
        Errno::set_raw(saved);
    }
}

/// A signal's disposition, as saved when eddy took the signal over.
pub(crate) struct Disposition(libc::sigaction);

/// Routes `sig` to `pipe`; installs the handler (SA_RESTART) unless
/// `installed`, returning the disposition it replaced.
pub(crate) fn route_signal(sig: i32, pipe: RawFd, installed: bool) -> Result<Option<Disposition>, i32> {
    SIGNAL_PIPES[sig as usize].store(pipe, std::sync::atomic::Ordering::Relaxed);
    if installed {
        return Ok(None);
    }
    // SAFETY: an all-zero sigaction is valid; the fields set below make it
    // a handler with an empty mask.
    let mut act: libc::sigaction = unsafe { std::mem::zeroed() };
    act.sa_sigaction = on_signal as extern "C" fn(libc::c_int) as usize;
    act.sa_flags = libc::SA_RESTART;
    // SAFETY: zeroed old is a valid out-buffer; act is fully initialised
    // and its handler only does async-signal-safe work.
    let mut old: libc::sigaction = unsafe { std::mem::zeroed() };
    let rc = unsafe {
        libc::sigemptyset(&mut act.sa_mask);
        libc::sigaction(sig, &act, &mut old)
    };
    if rc < 0 {
        SIGNAL_PIPES[sig as usize].store(-1, std::sync::atomic::Ordering::Relaxed);
        return Err(-Errno::last_raw());
    }
    Ok(Some(Disposition(old)))
}

/// Whether `sig` is routed to `pipe`.
pub(crate) fn signal_routed_to(sig: i32, pipe: RawFd) -> bool {
    SIGNAL_PIPES[sig as usize].load(std::sync::atomic::Ordering::Relaxed) == pipe
}

/// Stops routing `sig` and puts back the disposition eddy replaced.
pub(crate) fn restore_signal(sig: i32, old: &Disposition) {
    SIGNAL_PIPES[sig as usize].store(-1, std::sync::atomic::Ordering::Relaxed);
    // SAFETY: old was filled in by sigaction for this signal.
    unsafe { libc::sigaction(sig, &old.0, std::ptr::null_mut()) };
}

pub(crate) fn set_nodelay(fd: RawFd) {
    let one: libc::c_int = 1;
    // SAFETY: one is a valid int option value for the call.
    unsafe {
        libc::setsockopt(
            fd,
            libc::IPPROTO_TCP,
            libc::TCP_NODELAY,
            (&one as *const libc::c_int).cast(),
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
}

#[inline]
pub(crate) fn read(fd: RawFd, buf: &mut [u8]) -> Result<usize, i32> {
    // Straight to libc: this is the hottest call of a stream transport, and
    // nix's wrapper (BorrowedFd, its own Result) costs a third as much again.
    // SAFETY: buf is valid for writes of buf.len() bytes.
    retry_raw(|| unsafe { libc::read(fd, buf.as_mut_ptr().cast(), buf.len()) })
}

/// The loop's read buffer, page aligned: `malloc` hands out a block this
/// size from `mmap` 16 bytes past a page start, and the kernel's copy into
/// a buffer that is not cache-line aligned is measurably slower for large
/// reads.
pub(crate) struct ReadBuf {
    ptr: std::ptr::NonNull<u8>,
    len: usize,
}

impl ReadBuf {
    const ALIGN: usize = 4096;

    pub(crate) fn new(len: usize) -> Self {
        let layout = Self::layout(len);
        // SAFETY: the layout's size is not zero (layout() ensures it).
        let p = unsafe { std::alloc::alloc_zeroed(layout) };
        let ptr = std::ptr::NonNull::new(p).unwrap_or_else(|| std::alloc::handle_alloc_error(layout));
        Self { ptr, len }
    }

    fn layout(len: usize) -> std::alloc::Layout {
        std::alloc::Layout::from_size_align(len.max(1), Self::ALIGN).expect("a read buffer's size fits a layout")
    }
}

impl std::ops::Deref for ReadBuf {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        // SAFETY: ptr points to len initialised (zeroed at allocation)
        // bytes owned by self.
        unsafe { std::slice::from_raw_parts(self.ptr.as_ptr(), self.len) }
    }
}

impl std::ops::DerefMut for ReadBuf {
    fn deref_mut(&mut self) -> &mut [u8] {
        // SAFETY: as in deref, and &mut self makes the borrow unique.
        unsafe { std::slice::from_raw_parts_mut(self.ptr.as_ptr(), self.len) }
    }
}

impl Drop for ReadBuf {
    fn drop(&mut self) {
        // SAFETY: ptr was allocated in new() with this same layout.
        unsafe { std::alloc::dealloc(self.ptr.as_ptr(), Self::layout(self.len)) }
    }
}

/// read(2) into a buffer a BufferedProtocol's get_buffer returned; its
/// contract (docs/api.md) is that the buffer is writable for `len` bytes until
/// buffer_updated is called.
pub(crate) fn read_into_protocol_buffer(fd: RawFd, p: *mut u8, len: usize) -> Result<usize, i32> {
    retry(|| {
        // SAFETY: per get_buffer's contract, p is writable for len bytes.
        check(unsafe { libc::read(fd, p.cast(), len) })
    })
}

/// Copies into a buffer a BufferedProtocol's get_buffer returned (at
/// least `data.len()` bytes long, per its contract).
pub(crate) fn copy_into_protocol_buffer(p: *mut u8, data: &[u8]) {
    // SAFETY: per get_buffer's contract, p is writable for len >= data.len()
    // bytes until buffer_updated is called.
    unsafe { std::ptr::copy_nonoverlapping(data.as_ptr(), p, data.len()) }
}

/// sendmsg(2) of several buffers that never raises SIGPIPE.
pub(crate) fn sendmsg(fd: RawFd, bufs: &[std::io::IoSlice]) -> Result<usize, i32> {
    use nix::sys::socket::{sendmsg, MsgFlags};
    retry(|| sendmsg::<()>(fd, bufs, &[], MsgFlags::MSG_NOSIGNAL, None))
}

pub(crate) fn writev(fd: RawFd, bufs: &[std::io::IoSlice]) -> Result<usize, i32> {
    retry(|| nix::sys::uio::writev(
        // SAFETY: the fd is owned by the caller's transport for the call.
        unsafe { std::os::fd::BorrowedFd::borrow_raw(fd) },
        bufs,
    ))
}

pub(crate) fn shutdown_write(fd: RawFd) -> Result<(), i32> {
    nix::sys::socket::shutdown(fd, nix::sys::socket::Shutdown::Write).map_err(|e| -(e as i32))
}

fn address_of(fd: RawFd, peer: bool) -> Option<socket2::SockAddr> {
    // SAFETY: storage and len come from try_init and are filled by the
    // kernel for this fd.
    let r = unsafe {
        socket2::SockAddr::try_init(|storage, len| {
            let rc = if peer {
                libc::getpeername(fd, storage.cast(), len)
            } else {
                libc::getsockname(fd, storage.cast(), len)
            };
            if rc < 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        })
    };
    r.ok().map(|(_, a)| a)
}

pub(crate) fn sockname(fd: RawFd) -> Option<socket2::SockAddr> {
    address_of(fd, false)
}

pub(crate) fn peername(fd: RawFd) -> Option<socket2::SockAddr> {
    address_of(fd, true)
}

/// accept4(2), non-blocking and close-on-exec, with the peer's address.
pub(crate) fn accept_from(fd: RawFd) -> Result<(OwnedFd, socket2::SockAddr), i32> {
    loop {
        let mut conn = -1;
        // SAFETY: storage and len come from try_init and are filled by the
        // kernel; the new fd is owned below.
        let r = unsafe {
            socket2::SockAddr::try_init(|storage, len| {
                conn = libc::accept4(fd, storage.cast(), len, libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC);
                if conn < 0 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            })
        };
        match r {
            // SAFETY: conn is a new fd nobody else owns.
            Ok((_, addr)) => return Ok((unsafe { OwnedFd::from_raw_fd(conn) }, addr)),
            Err(e) if e.raw_os_error() == Some(libc::EINTR) => continue,
            Err(e) => return Err(crate::error::from_io(&e)),
        }
    }
}

/// The (family, socktype, protocol, address) entries of a getaddrinfo list.
pub(crate) fn addrinfo_entries(list: &AddrInfoList) -> Vec<(i32, i32, i32, socket2::SockAddr)> {
    let mut out = Vec::new();
    let mut p = list.0.as_ptr().cast_const();
    while !p.is_null() {
        // SAFETY: p walks the list getaddrinfo returned, which lives as long
        // as `list`.
        let ai = unsafe { &*p };
        let len = ai.ai_addrlen as usize;
        if !ai.ai_addr.is_null() && len <= std::mem::size_of::<libc::sockaddr_storage>() {
            // SAFETY: ai_addr is readable for ai_addrlen bytes.
            let r = unsafe {
                socket2::SockAddr::try_init(|storage, out_len| {
                    std::ptr::copy_nonoverlapping(ai.ai_addr.cast::<u8>(), storage.cast::<u8>(), len);
                    *out_len = ai.ai_addrlen;
                    Ok(())
                })
            };
            if let Ok((_, a)) = r {
                out.push((ai.ai_family, ai.ai_socktype, ai.ai_protocol, a));
            }
        }
        p = ai.ai_next;
    }
    out
}

/// The type of what `fd` refers to (S_IFIFO, S_IFSOCK, ...).
pub(crate) fn file_type(fd: RawFd) -> Result<u32, i32> {
    // SAFETY: an all-zero stat is a valid buffer for fstat to fill.
    let mut st: libc::stat = unsafe { std::mem::zeroed() };
    // SAFETY: st is writable for the call.
    if unsafe { libc::fstat(fd, &mut st) } < 0 {
        return Err(-Errno::last_raw());
    }
    Ok(st.st_mode & libc::S_IFMT)
}

pub(crate) fn set_nonblocking(fd: RawFd) -> Result<(), i32> {
    // SAFETY: fcntl with integer arguments only.
    let flags = unsafe { libc::fcntl(fd, libc::F_GETFL) };
    // SAFETY: as above.
    if flags < 0 || unsafe { libc::fcntl(fd, libc::F_SETFL, flags | libc::O_NONBLOCK) } < 0 {
        return Err(-Errno::last_raw());
    }
    Ok(())
}

/// Takes ownership of an fd the caller handed over.
pub(crate) fn own_fd(fd: RawFd) -> OwnedFd {
    // SAFETY: docs/api.md: an fd passed to connect_accepted_socket, the pipe
    // functions or `sock`/`socks` belongs to eddy once the call succeeds;
    // callers take ownership only at that point.
    unsafe { OwnedFd::from_raw_fd(fd) }
}

/// Writing to a pipe whose reader is gone must not kill the process with
/// SIGPIPE (sockets use MSG_NOSIGNAL): ignore it if it has its default
/// disposition, as CPython does at start-up.
pub(crate) fn ignore_sigpipe() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        // SAFETY: querying and setting SIGPIPE's disposition with valid
        // sigaction structs.
        unsafe {
            let mut old: libc::sigaction = std::mem::zeroed();
            if libc::sigaction(libc::SIGPIPE, std::ptr::null(), &mut old) == 0 && old.sa_sigaction == libc::SIG_DFL {
                libc::signal(libc::SIGPIPE, libc::SIG_IGN);
            }
        }
    });
}

pub(crate) fn listen(fd: RawFd, backlog: i32) -> Result<(), i32> {
    // SAFETY: listen takes no pointer arguments.
    if unsafe { libc::listen(fd, backlog) } < 0 {
        return Err(-Errno::last_raw());
    }
    Ok(())
}

/// (device, inode) of a path, to recognise it later.
pub(crate) fn file_id(path: &std::path::Path) -> Option<(u64, u64)> {
    use std::os::unix::fs::MetadataExt;
    std::fs::symlink_metadata(path).ok().map(|m| (m.dev(), m.ino()))
}

/// Whether `path` is still the file with this (device, inode).
pub(crate) fn same_file(path: &std::path::Path, dev: u64, ino: u64) -> bool {
    file_id(path) == Some((dev, ino))
}

/// Frees what `MallocBuf::into_raw` (or a C-facing packer) gave up.
pub(crate) fn free(p: usize) {
    // SAFETY: p is 0 or came from malloc/calloc and is freed once, by the
    // one party that still has it.
    unsafe { libc::free(p as *mut libc::c_void) }
}

/// pidfd_open(2): an fd that turns readable when `pid` exits.
pub(crate) fn pidfd_open(pid: i32) -> Result<OwnedFd, i32> {
    // SAFETY: pidfd_open takes a pid and flags, no pointers.
    let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0) };
    if fd < 0 {
        return Err(-Errno::last_raw());
    }
    // SAFETY: the kernel returned a new fd that nothing else owns; pidfds
    // are always close-on-exec.
    Ok(unsafe { OwnedFd::from_raw_fd(fd as RawFd) })
}

/// waitpid(pid, WNOHANG) (`block`: without WNOHANG): the exit code, or
/// -signum when a signal killed it; None while it runs.
pub(crate) fn reap(pid: i32, block: bool) -> Result<Option<i32>, i32> {
    use nix::sys::wait::{waitpid, WaitPidFlag, WaitStatus};
    let flags = if block { None } else { Some(WaitPidFlag::WNOHANG) };
    match retry(|| waitpid(nix::unistd::Pid::from_raw(pid), flags))? {
        WaitStatus::Exited(_, code) => Ok(Some(code)),
        WaitStatus::Signaled(_, sig, _) => Ok(Some(-(sig as i32))),
        _ => Ok(None),
    }
}

pub(crate) fn kill(pid: i32, sig: i32) -> Result<(), i32> {
    // SAFETY: kill takes integers only.
    if unsafe { libc::kill(pid, sig) } < 0 {
        return Err(-Errno::last_raw());
    }
    Ok(())
}

/// What the child does between fork and exec: start a new session, mark
/// every inherited fd above stderr close-on-exec (marking, not closing,
/// keeps std's exec-error pipe working until exec), then clear the mark on
/// the passed fds, which may be close-on-exec in the parent and must
/// survive either way. `pass_fds` is moved in because the child may not
/// allocate.
pub(crate) fn configure_child(cmd: &mut std::process::Command, close_fds: bool, new_session: bool, pass_fds: Vec<RawFd>) {
    use std::os::unix::process::CommandExt;
    if !close_fds && !new_session && pass_fds.is_empty() {
        return;
    }
    // SAFETY: the closure runs in the forked child before exec, allocates
    // nothing and makes only async-signal-safe syscalls (setsid,
    // close_range, fcntl).
    unsafe {
        cmd.pre_exec(move || {
            if new_session && libc::setsid() < 0 {
                return Err(std::io::Error::last_os_error());
            }
            if close_fds && libc::syscall(libc::SYS_close_range, 3u32, u32::MAX, libc::CLOSE_RANGE_CLOEXEC) < 0 {
                return Err(std::io::Error::last_os_error());
            }
            for &fd in &pass_fds {
                let flags = libc::fcntl(fd, libc::F_GETFD);
                if flags < 0 || libc::fcntl(fd, libc::F_SETFD, flags & !libc::FD_CLOEXEC) < 0 {
                    return Err(std::io::Error::last_os_error());
                }
            }
            Ok(())
        });
    }
}

/// `EDDY_EBADF` unless `fd` is open in this process.
pub(crate) fn check_fd_open(fd: RawFd) -> Result<(), i32> {
    // SAFETY: F_GETFD reads the fd's flags and touches no memory.
    if unsafe { libc::fcntl(fd, libc::F_GETFD) } < 0 {
        return Err(-Errno::last_raw());
    }
    Ok(())
}

/// A close-on-exec duplicate of a caller's fd (which stays the caller's).
pub(crate) fn dup_fd(fd: RawFd) -> Result<OwnedFd, i32> {
    if fd < 0 {
        return Err(crate::error::EDDY_EBADF);
    }
    // SAFETY: the fd is the caller's, borrowed for this call only.
    let b = unsafe { std::os::fd::BorrowedFd::borrow_raw(fd) };
    b.try_clone_to_owned().map_err(|e| crate::error::from_io(&e))
}

pub(crate) fn socket_domain(fd: RawFd) -> Result<i32, i32> {
    getsockopt_int(fd, libc::SOL_SOCKET, libc::SO_DOMAIN)
}

/// Memory for one `recvmmsg(2)`: `RECV_BATCH_BYTES` split into slots of
/// one datagram each, the slot size chosen per call. Anonymous `mmap`
/// memory, so a page costs RAM only once a datagram has been written to
/// it: a batch of small datagrams touches one page per slot.
pub(crate) struct RecvBatch {
    mem: std::ptr::NonNull<u8>,
    hdrs: Vec<libc::mmsghdr>,
    iovs: Vec<libc::iovec>,
    addrs: Vec<libc::sockaddr_storage>,
    slot_len: usize,
    /// How many slots the last recv filled.
    filled: usize,
}

/// The whole batch: 16 UDP datagrams of up to 64 KiB, or 4 AF_UNIX ones
/// of up to 256 KiB (asyncio's recvfrom size).
pub(crate) const RECV_BATCH_BYTES: usize = 1 << 20;

impl RecvBatch {
    pub(crate) fn new() -> Result<Self, i32> {
        // SAFETY: an anonymous private mapping; no pointer argument.
        let p = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                RECV_BATCH_BYTES,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
                -1,
                0,
            )
        };
        if p == libc::MAP_FAILED {
            return Err(-Errno::last_raw());
        }
        let mem = std::ptr::NonNull::new(p.cast::<u8>()).ok_or(crate::error::EDDY_ENOMEM)?;
        Ok(Self { mem, hdrs: Vec::new(), iovs: Vec::new(), addrs: Vec::new(), slot_len: 0, filled: 0 })
    }

    /// How many datagrams one `recv` takes at most with `slot_len`-byte slots.
    pub(crate) fn slots(slot_len: usize) -> usize {
        RECV_BATCH_BYTES / slot_len
    }

    /// One recvmmsg(2) of up to `slots(slot_len)` datagrams; how many came.
    pub(crate) fn recv(&mut self, fd: RawFd, slot_len: usize) -> Result<usize, i32> {
        let n = Self::slots(slot_len);
        if self.slot_len != slot_len {
            self.lay_out(slot_len);
        } else {
            // The kernel rewrote the name length of the slots it filled;
            // the rest of each header stays as lay_out made it.
            for h in &mut self.hdrs[..self.filled] {
                h.msg_hdr.msg_namelen = std::mem::size_of::<libc::sockaddr_storage>() as libc::socklen_t;
            }
        }
        self.filled = 0;
        // SAFETY: each header points at its own iovec (a slot inside the
        // mapping) and its own address storage, all alive and unaliased
        // for the call (lay_out sized the vectors, which do not move
        // after); no timeout.
        let r = retry_raw(|| unsafe {
            libc::recvmmsg(fd, self.hdrs.as_mut_ptr(), n as libc::c_uint, 0, std::ptr::null_mut()) as isize
        });
        if let Ok(got) = r {
            self.filled = got;
        }
        r
    }

    /// Points the headers at `slot_len`-byte slots of the mapping.
    #[cold]
    fn lay_out(&mut self, slot_len: usize) {
        let n = Self::slots(slot_len);
        // SAFETY: all-zero is a valid value of these plain C structs.
        self.hdrs = vec![unsafe { std::mem::zeroed() }; n];
        self.iovs = vec![libc::iovec { iov_base: std::ptr::null_mut(), iov_len: 0 }; n];
        // SAFETY: as above.
        self.addrs = vec![unsafe { std::mem::zeroed() }; n];
        self.slot_len = slot_len;
        for i in 0..n {
            self.iovs[i] = libc::iovec {
                // SAFETY: i * slot_len + slot_len <= RECV_BATCH_BYTES, inside the mapping.
                iov_base: unsafe { self.mem.as_ptr().add(i * slot_len) }.cast(),
                iov_len: slot_len,
            };
            let h = &mut self.hdrs[i].msg_hdr;
            h.msg_name = (&mut self.addrs[i] as *mut libc::sockaddr_storage).cast();
            h.msg_namelen = std::mem::size_of::<libc::sockaddr_storage>() as libc::socklen_t;
            h.msg_iov = &mut self.iovs[i];
            h.msg_iovlen = 1;
        }
    }

    /// Datagram `i` of the last `recv` (i below what it returned): its
    /// bytes and its sender's address (length 0 when the sender has none).
    pub(crate) fn datagram(&self, i: usize) -> (&[u8], *const libc::sockaddr, libc::socklen_t) {
        let h = &self.hdrs[i];
        let len = (h.msg_len as usize).min(self.slot_len);
        // SAFETY: the kernel wrote msg_len bytes (at most the slot) at slot
        // i; the mapping is zero-filled, so every byte is initialised.
        let data = unsafe { std::slice::from_raw_parts(self.mem.as_ptr().add(i * self.slot_len), len) };
        (data, (&self.addrs[i] as *const libc::sockaddr_storage).cast(), h.msg_hdr.msg_namelen)
    }
}

impl Drop for RecvBatch {
    fn drop(&mut self) {
        // SAFETY: the mapping made in new(), unmapped once.
        unsafe { libc::munmap(self.mem.as_ptr().cast(), RECV_BATCH_BYTES) };
    }
}

/// At most this many datagrams go to one sendmmsg(2).
pub(crate) const SEND_BATCH: usize = 32;

/// sendmmsg(2) of up to `SEND_BATCH` datagrams from `msgs`, each one buffer
/// with its address (None: the connected peer), never raising SIGPIPE.
/// How many the kernel took, from the first; an error only when the first
/// failed (the kernel reports a later one's error to the next call).
pub(crate) fn sendmmsg<'a>(
    fd: RawFd,
    msgs: impl Iterator<Item = (&'a [u8], Option<RawAddr<'a>>)>,
) -> Result<usize, i32> {
    // Only the headers used are initialised: zeroing all SEND_BATCH of them
    // (2 KiB) cost more per call than filling the few a batch holds.
    let mut hdrs = [const { std::mem::MaybeUninit::<libc::mmsghdr>::uninit() }; SEND_BATCH];
    let mut iovs = [libc::iovec { iov_base: std::ptr::null_mut(), iov_len: 0 }; SEND_BATCH];
    let mut n = 0;
    for (data, addr) in msgs.take(SEND_BATCH) {
        // The kernel only reads through iov_base (sendmmsg).
        iovs[n] = libc::iovec { iov_base: data.as_ptr().cast_mut().cast(), iov_len: data.len() };
        // The kernel only reads the name (sendmmsg), from any alignment.
        let (name, namelen) = addr.map_or((std::ptr::null(), 0), |a| (a.0.as_ptr(), a.0.len()));
        hdrs[n].write(libc::mmsghdr {
            msg_hdr: libc::msghdr {
                msg_name: name.cast_mut().cast(),
                msg_namelen: namelen as libc::socklen_t,
                msg_iov: &mut iovs[n],
                msg_iovlen: 1,
                msg_control: std::ptr::null_mut(),
                msg_controllen: 0,
                msg_flags: 0,
            },
            msg_len: 0,
        });
        n += 1;
    }
    // SAFETY: the first n headers are initialised and point at iovecs and
    // addresses borrowed from `msgs` for 'a, which outlives the call; the
    // kernel reads no further than n.
    retry_raw(|| unsafe { libc::sendmmsg(fd, hdrs.as_mut_ptr().cast(), n as libc::c_uint, libc::MSG_NOSIGNAL) as isize })
}
