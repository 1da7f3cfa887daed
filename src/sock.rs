//! The `loop.sock_*` methods (asyncio's `selector_events.py`): each tries
//! the syscall first and waits for readiness only when it would block. The
//! wait is a one-shot watcher on the fd that the operation removes when it
//! completes or its future is cancelled, so the fd is never left
//! registered. An fd a transport, server or datagram endpoint owns is
//! refused with `EDDY_EBUSY` (asyncio's RuntimeError): the caller's
//! operation would take its data.

use std::cell::RefCell;
use std::os::fd::RawFd;
use std::rc::{Rc, Weak};
use std::sync::Arc;

use socket2::SockAddr;

use crate::base_events::EventLoop;
use crate::error::*;
use crate::executor::{Discard, WorkOutput};
use crate::futures::{Future, Outcome};
use crate::selector_events::{WatchFn, Watcher};
use crate::sys::{self, MallocBuf, UserAddr, UserBuf};

/// One try of an operation.
pub(crate) enum Attempt {
    Done(WorkOutput),
    /// Would block: try again when the fd is ready.
    Again,
}

pub(crate) fn done(v: Result<(usize, i64), i32>) -> Attempt {
    Attempt::Done(v.map_err(|e| (e, None)))
}

/// Maps a syscall result: EAGAIN means wait, anything else is final.
fn attempt<T>(r: Result<T, i32>, ok: impl FnOnce(T) -> Result<(usize, i64), i32>) -> Attempt {
    match r {
        Err(e) if e == EDDY_EAGAIN => Attempt::Again,
        r => done(r.and_then(ok)),
    }
}

/// Completes `fut`; a value nobody can receive any more (the caller
/// released the future while it was pending) is freed instead.
fn complete(fut: &Arc<Future>, out: WorkOutput, discard: Option<Discard>) {
    if !fut.is_awaited() {
        if let (Some(free), Ok((p, n))) = (discard, &out) {
            free(*p, *n);
        }
    }
    let _ = fut.complete(Outcome::from(out));
}

fn free_malloced(p: usize, _: i64) {
    sys::free(p);
}

fn close_accepted(_: usize, fd: i64) {
    drop(sys::own_fd(fd as RawFd));
}

/// asyncio checks in debug mode only that the socket is non-blocking (a
/// blocking one would stall the loop).
fn check_fd(lp: &EventLoop, fd: RawFd) -> Result<(), i32> {
    if fd < 0 {
        return Err(EDDY_EINVAL);
    }
    lp.check_closed()?;
    if lp.get_debug() && !sys::is_nonblocking(fd)? {
        return Err(EDDY_EINVAL);
    }
    Ok(())
}

/// Runs `op` now and, while it would block, each time `fd` is ready for
/// reading (or writing, with `writer`).
pub(crate) fn run_op(
    lp: &Arc<EventLoop>,
    fd: RawFd,
    writer: bool,
    discard: Option<Discard>,
    mut op: impl FnMut() -> Attempt + 'static,
) -> Result<Arc<Future>, i32> {
    check_fd(lp, fd)?;
    let fut = Future::new(lp);
    if let Attempt::Done(out) = op() {
        complete(&fut, out, None);
        return Ok(fut);
    }
    let op = RefCell::new(op);
    let waiting = fut.clone();
    let watcher: Rc<WatchFn> = Rc::new(move |_| {
        if waiting.done() {
            return;
        }
        let next = (op.borrow_mut())();
        if let Attempt::Done(out) = next {
            complete(&waiting, out, discard);
        }
    });
    let mine: Weak<WatchFn> = Rc::downgrade(&watcher);
    lp.add_watch(fd, Watcher::Internal(watcher), writer)?;
    fut.set_completion_hook(Box::new(move |f: &Future| {
        // Only our own watcher: a later operation on the fd may have
        // replaced it (asyncio's one waiter per direction).
        let _ = f.get_loop().remove_watch_if(fd, writer, |w| {
            matches!(w, Watcher::Internal(x) if std::ptr::addr_eq(Rc::as_ptr(x), mine.as_ptr()))
        });
    }));
    Ok(fut)
}

/// Receives up to `nbytes`; the value is a malloc'd buffer and its length
/// (NULL and 0 at EOF).
pub fn sock_recv(lp: &Arc<EventLoop>, fd: RawFd, nbytes: usize) -> Result<Arc<Future>, i32> {
    lp.check_fd_free(fd)?;
    let mut buf = Some(MallocBuf::new(nbytes)?);
    run_op(lp, fd, false, Some(free_malloced), move || {
        let b = buf.as_mut().expect("taken only when done");
        attempt(sys::recv(fd, b.as_mut_slice()), |n| {
            let p = if n == 0 { 0 } else { buf.take().expect("once").into_raw() };
            Ok((p, n as i64))
        })
    })
}

/// Receives into the caller's buffer; the value is the count.
pub(crate) fn sock_recv_into(lp: &Arc<EventLoop>, fd: RawFd, mut buf: UserBuf) -> Result<Arc<Future>, i32> {
    lp.check_fd_free(fd)?;
    run_op(lp, fd, false, None, move || attempt(sys::recv(fd, buf.as_mut_slice()), |n| Ok((0, n as i64))))
}

/// Packs a received datagram and its sender into the future's value.
pub type DatagramPacker = fn(&[u8], &SockAddr) -> Result<usize, i32>;

/// Receives one datagram of up to `bufsize` bytes; the value is what `pack`
/// makes of it.
pub fn sock_recvfrom(lp: &Arc<EventLoop>, fd: RawFd, bufsize: usize, pack: DatagramPacker) -> Result<Arc<Future>, i32> {
    lp.check_fd_free(fd)?;
    let mut buf = MallocBuf::new(bufsize)?;
    run_op(lp, fd, false, Some(free_malloced), move || {
        let buf = buf.as_mut_slice();
        attempt(sys::recvfrom(fd, buf), |(n, addr)| Ok((pack(&buf[..n], &addr)?, n as i64)))
    })
}

/// Receives one datagram into the caller's buffer, and its sender into the
/// caller's address storage; the value is the count.
pub(crate) fn sock_recvfrom_into(lp: &Arc<EventLoop>, fd: RawFd, mut buf: UserBuf, addr: UserAddr) -> Result<Arc<Future>, i32> {
    lp.check_fd_free(fd)?;
    run_op(lp, fd, false, None, move || {
        attempt(sys::recvfrom(fd, buf.as_mut_slice()), |(n, from)| {
            addr.write(&from);
            Ok((0, n as i64))
        })
    })
}

/// Sends all of `data` (copying what the kernel does not take at once).
pub fn sock_sendall(lp: &Arc<EventLoop>, fd: RawFd, data: &[u8]) -> Result<Arc<Future>, i32> {
    lp.check_fd_free(fd)?;
    check_fd(lp, fd)?;
    let sent = match sys::send(fd, data) {
        Ok(n) => n,
        Err(e) if e == EDDY_EAGAIN => 0,
        Err(e) => {
            let fut = Future::new(lp);
            complete(&fut, Err((e, None)), None);
            return Ok(fut);
        }
    };
    let mut rest = sys::try_to_vec(&data[sent..])?;
    let mut off = 0;
    run_op(lp, fd, true, None, move || loop {
        if off == rest.len() {
            rest = Vec::new();
            return done(Ok((0, 0)));
        }
        match sys::send(fd, &rest[off..]) {
            Ok(n) => off += n,
            Err(e) if e == EDDY_EAGAIN => return Attempt::Again,
            Err(e) => return done(Err(e)),
        }
    })
}

/// Sends one datagram to `addr`; the value is the count sent.
pub fn sock_sendto(lp: &Arc<EventLoop>, fd: RawFd, data: &[u8], addr: SockAddr) -> Result<Arc<Future>, i32> {
    lp.check_fd_free(fd)?;
    check_fd(lp, fd)?;
    match sys::sendto(fd, data, sys::RawAddr::of(&addr)) {
        Err(e) if e == EDDY_EAGAIN => {}
        r => {
            let fut = Future::new(lp);
            complete(&fut, r.map(|n| (0, n as i64)).map_err(|e| (e, None)), None);
            return Ok(fut);
        }
    }
    let data = sys::try_to_vec(data)?;
    run_op(lp, fd, true, None, move || attempt(sys::sendto(fd, &data, sys::RawAddr::of(&addr)), |n| Ok((0, n as i64))))
}

/// Connects `fd` to `addr`; a connection in progress is waited for and its
/// outcome read from SO_ERROR.
pub fn sock_connect(lp: &Arc<EventLoop>, fd: RawFd, addr: SockAddr) -> Result<Arc<Future>, i32> {
    lp.check_fd_free(fd)?;
    let mut started = false;
    run_op(lp, fd, true, None, move || {
        if started {
            return match sys::socket_error(fd) {
                0 => done(Ok((0, 0))),
                e => done(Err(e)),
            };
        }
        started = true;
        match sys::connect(fd, &addr) {
            Ok(()) => done(Ok((0, 0))),
            Err(e) if e == EDDY_EINPROGRESS || e == EDDY_EINTR || e == EDDY_EAGAIN => Attempt::Again,
            Err(e) => done(Err(e)),
        }
    })
}

/// Accepts a connection; the value's count is the new fd (non-blocking,
/// close-on-exec).
pub fn sock_accept(lp: &Arc<EventLoop>, fd: RawFd) -> Result<Arc<Future>, i32> {
    lp.check_fd_free(fd)?;
    run_op(lp, fd, false, Some(close_accepted), move || attempt(sys::accept(fd), |c| Ok((0, c as i64))))
}
