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
