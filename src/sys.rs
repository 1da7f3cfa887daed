//! The few syscall wrappers the safe crates do not cover.

use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};

use nix::errno::Errno;

/// A level-triggered epoll instance, for fd watchers (asyncio's selectors are
/// level-triggered; mio is edge-triggered). It is nested in mio's poller.
pub(crate) struct LevelEpoll {
    fd: OwnedFd,
}

pub(crate) const READABLE: u32 = libc::EPOLLIN as u32;
pub(crate) const WRITABLE: u32 = libc::EPOLLOUT as u32;
pub(crate) const HANGUP: u32 = (libc::EPOLLHUP | libc::EPOLLERR) as u32;

impl LevelEpoll {
    pub(crate) fn new() -> Result<Self, i32> {
        // SAFETY: epoll_create1 has no memory arguments.
        let fd = unsafe { libc::epoll_create1(libc::EPOLL_CLOEXEC) };
        if fd < 0 {
            return Err(-Errno::last_raw());
        }
        // SAFETY: fd was just returned by the kernel and nothing else owns it.
        Ok(Self { fd: unsafe { OwnedFd::from_raw_fd(fd) } })
    }

    /// Adds, modifies or removes `fd` so that it is watched for `events`
    /// (0 removes it). `registered` says whether it is in the set now.
    pub(crate) fn set(&self, fd: RawFd, events: u32, registered: bool) -> Result<(), i32> {
        let op = match (registered, events != 0) {
            (false, true) => libc::EPOLL_CTL_ADD,
            (true, true) => libc::EPOLL_CTL_MOD,
            (true, false) => libc::EPOLL_CTL_DEL,
            (false, false) => return Ok(()),
        };
        let mut ev = libc::epoll_event { events, u64: fd as u64 };
        // SAFETY: ev is a valid epoll_event for the duration of the call; the
        // kernel validates fd and returns EBADF/EPERM for unusable ones.
        let rc = unsafe { libc::epoll_ctl(self.fd.as_raw_fd(), op, fd, &mut ev) };
        if rc < 0 {
            return Err(-Errno::last_raw());
        }
        Ok(())
    }

    /// Polls without blocking; returns (fd, events) pairs.
    pub(crate) fn ready(&self, out: &mut Vec<(RawFd, u32)>) {
        let mut buf = [libc::epoll_event { events: 0, u64: 0 }; 64];
        // SAFETY: buf is writable for buf.len() entries.
        let n = unsafe { libc::epoll_wait(self.fd.as_raw_fd(), buf.as_mut_ptr(), buf.len() as i32, 0) };
        for ev in buf.iter().take(n.max(0) as usize) {
            out.push((ev.u64 as RawFd, ev.events));
        }
    }

    pub(crate) fn raw(&self) -> RawFd {
        self.fd.as_raw_fd()
    }
}

/// Seconds on the monotonic clock.
pub(crate) fn monotonic() -> f64 {
    let ts = nix::time::clock_gettime(nix::time::ClockId::CLOCK_MONOTONIC)
        .expect("CLOCK_MONOTONIC is always available");
    ts.tv_sec() as f64 + ts.tv_nsec() as f64 * 1e-9
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
