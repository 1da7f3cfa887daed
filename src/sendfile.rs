//! `loop.sendfile` and `loop.sock_sendfile`: sendfile(2) on a socket, or
//! asyncio's fallback of reading the file and sending it, and the same on a
//! transport, which hands its writing over for the duration (a TLS
//! transport can only take the fallback, through its own write path).

use std::cell::Cell;
use std::os::fd::RawFd;
use std::rc::Rc;
use std::sync::Arc;

use crate::base_events::{EventLoop, Ready};
use crate::error::*;
use crate::futures::{DoneCallback, Future, Outcome};
use crate::sock::{done, run_op, Attempt};
use crate::sys;
use crate::transports::{DrainJob, Transport};

impl Transport {
    /// asyncio's `loop.sendfile` on this transport: reading pauses, the
    /// buffer drains, then sendfile(2) (or the read-and-send fallback) runs
    /// on the socket; write() fails with EDDY_EBUSY meanwhile. A TLS
    /// transport can only take the fallback (asyncio's FALLBACK mode): the
    /// file goes through write() in 16 KiB pieces. The value is the count
    /// sent; if the connection goes first, the error (EDDY_ECLOSED after a
    /// close).
    pub fn sendfile(self: &Arc<Self>, file: RawFd, offset: i64, count: usize, fallback: bool) -> Result<Arc<Future>, i32> {
        let tls = self.tls.is_some();
        if !self.kind.is_socket() && !tls {
            return Err(EDDY_ENOTSUP);
        }
        // A closing transport takes no file even while it still flushes
        // (asyncio: "Transport is closing"), where write() is still taken.
        if self.is_closing() {
            return Err(EDDY_ECLOSED);
        }
        self.check_writable()?;
        if file < 0 {
            return Err(EDDY_EINVAL);
        }
        check_file_range(offset, count)?;
        if tls && !fallback {
            return Err(EDDY_ENOTSUP);
        }
        let was_reading = self.is_reading();
        self.pause_reading();
        let fut = Future::new(&self.lp);
        let done = fut.clone();
        let finish = move |t: &Arc<Transport>, outcome: Outcome| {
            if let Some(s) = t.state_mut().takeover.as_mut() {
                s.active = false;
            }
            if was_reading {
                t.resume_reading();
            }
            let _ = done.complete(outcome);
        };
        let job: DrainJob = if tls {
            // asyncio's _SendfileFallbackProtocol: the protocol sees no
            // pause_writing/resume_writing of the file's writes (see
            // tls_pause_writing); one paused before gets its resume_writing
            // when the sendfile ends, once the buffer is below its limit.
            let lower = self.link().lower.clone();
            let was_paused = lower.state().flow.is_paused();
            let restore = move |t: &Arc<Transport>, outcome: Outcome| {
                if let Some(s) = t.state_mut().takeover.as_mut() {
                    s.active = false;
                }
                if was_paused && !lower.state().flow.is_paused() && !t.is_closing() {
                    t.tls_resume_writing();
                }
                finish(t, outcome);
            };
            let end = if count == 0 { None } else { Some(offset + count as i64) };
            let pump = SendfileByWrites { file, offset, pos: offset, end, piece: Vec::new(), finish: Box::new(restore) };
            Box::new(move |t, _| pump.step(t.clone()))
        } else {
            Box::new(move |t, drained| match drained.and_then(|()| sendfile_on(&t.lp, t.raw_fd, file, offset, count, fallback)) {
                Err(e) => finish(t, Outcome::Error(e, None)),
                Ok(op) => {
                    t.takeover().op = Some(op.clone());
                    let t = t.clone();
                    op.add_done(DoneCallback::Internal(Box::new(move |op: &Arc<Future>| {
                        let outcome = match op.result() {
                            Ok((_, n)) => Outcome::Result(std::ptr::null_mut(), n),
                            Err(e) => Outcome::Error(e, None),
                        };
                        if let Some(s) = t.state_mut().takeover.as_mut() {
                            s.op = None;
                        }
                        finish(&t, outcome);
                    })));
                }
            })
        };
        self.takeover().active = true;
        if tls {
            // The pump waits for the plain transport's buffer itself. Its
            // writes may call pause_writing: not inside this call.
            let me = self.clone();
            self.lp.push_ready(Ready::Job(Box::new(move |_| job(&me, Ok(())))));
        } else if self.state().flow.size() == 0 {
            job(self, Ok(()));
        } else {
            self.takeover().on_drained = Some(job);
        }
        Ok(fut)
    }
}

/// asyncio's `_sendfile_fallback` for a TLS transport: a piece of the file
/// at a time through the transport's own write path, each once the plain
/// transport has sent the previous one, one piece per loop iteration.
struct SendfileByWrites {
    file: RawFd,
    offset: i64,
    pos: i64,
    end: Option<i64>,
    piece: Vec<u8>,
    finish: SendfileFinish,
}

/// Ends a sendfile: restores the transport and completes its future.
type SendfileFinish = Box<dyn FnOnce(&Arc<Transport>, Outcome)>;

/// asyncio's fallback block size.
const SENDFILE_PIECE: usize = 16 * 1024;

impl SendfileByWrites {
    fn step(mut self, t: Arc<Transport>) {
        let lower = t.link().lower.clone();
        if t.is_closing() {
            return self.done(&t, Err(EDDY_ECLOSED));
        }
        if lower.get_write_buffer_size() > 0 {
            lower.takeover().on_drained = Some(Box::new(move |_, drained| match drained {
                Ok(()) => self.step(t),
                Err(e) => self.done(&t, Err(e)),
            }));
            return;
        }
        let want = self.end.map_or(SENDFILE_PIECE, |end| ((end - self.pos) as usize).min(SENDFILE_PIECE));
        if want == 0 {
            return self.done(&t, Ok(()));
        }
        self.piece.resize(want, 0);
        let n = match sys::pread(self.file, &mut self.piece, self.pos) {
            Ok(0) => return self.done(&t, Ok(())),
            Ok(n) => n,
            Err(e) => return self.done(&t, Err(e)),
        };
        if let Err(e) = t.write_checked(&self.piece[..n], true) {
            return self.done(&t, Err(e));
        }
        self.pos += n as i64;
        let lp = t.lp.clone();
        lp.push_ready(Ready::Job(Box::new(move |_| self.step(t))));
    }

    /// Leaves the file position after what was sent, on an error too
    /// (asyncio does).
    fn done(self, t: &Arc<Transport>, r: Result<(), i32>) {
        let sent = self.pos - self.offset;
        let moved = if sent > 0 { sys::seek_to(self.file, self.pos) } else { Ok(()) };
        (self.finish)(t, match r.and(moved) {
            Ok(()) => Outcome::Result(std::ptr::null_mut(), sent),
            Err(e) => Outcome::Error(e, None),
        });
    }
}

/// asyncio's `SENDFILE_FALLBACK_READBUFFER_SIZE`.
const FALLBACK_CHUNK: usize = 256 * 1024;

/// Sends `count` bytes (0: to the end) of `file` from `offset` with
/// sendfile(2), or by reading and sending when sendfile cannot be used and
/// `fallback` allows it. The value is the count sent; the file position is
/// left at offset + sent.
pub fn sock_sendfile(
    lp: &Arc<EventLoop>,
    sock: RawFd,
    file: RawFd,
    offset: i64,
    count: usize,
    fallback: bool,
) -> Result<Arc<Future>, i32> {
    lp.check_fd_free(sock)?;
    sendfile_on(lp, sock, file, offset, count, fallback)
}

/// A sendfile range: `EDDY_EINVAL` for a negative offset or an end past
/// what a file offset can hold.
fn check_file_range(offset: i64, count: usize) -> Result<(), i32> {
    match i64::try_from(count) {
        Ok(c) if offset >= 0 && c <= i64::MAX - offset => Ok(()),
        _ => Err(EDDY_EINVAL),
    }
}

/// `sock_sendfile` on any socket, a transport's own included (its
/// sendfile, once its buffer has drained).
fn sendfile_on(
    lp: &Arc<EventLoop>,
    sock: RawFd,
    file: RawFd,
    offset: i64,
    count: usize,
    fallback: bool,
) -> Result<Arc<Future>, i32> {
    if file < 0 || sock < 0 {
        return Err(EDDY_EINVAL);
    }
    check_file_range(offset, count)?;
    if sys::socket_type(sock)? != libc::SOCK_STREAM {
        return Err(EDDY_EINVAL);
    }
    let end = if count == 0 { sys::file_size(file)?.max(offset) } else { offset + count as i64 };
    // How far the file has been sent, shared with the hook that leaves the
    // position there when the operation fails or is cancelled.
    let sent_to = Rc::new(Cell::new(offset));
    let pos = sent_to.clone();
    let mut native = true;
    let mut pending: Vec<u8> = Vec::new();
    let mut pending_off = 0;
    let finish = move |pos: i64| -> Attempt {
        done(sys::seek_to(file, pos).map(|()| (0, pos - offset)))
    };
    let fut = run_op(lp, sock, true, None, move || loop {
        if pending_off < pending.len() {
            match sys::send(sock, &pending[pending_off..]) {
                Ok(n) => {
                    pending_off += n;
                    pos.set(pos.get() + n as i64);
                    continue;
                }
                Err(e) if e == EDDY_EAGAIN => return Attempt::Again,
                Err(e) => return done(Err(e)),
            }
        }
        if pos.get() >= end {
            return finish(pos.get());
        }
        let want = (end - pos.get()) as usize;
        if native {
            let mut off = pos.get();
            match sys::sendfile(sock, file, &mut off, want.min(0x7fff_f000)) {
                Ok(0) => return finish(pos.get()),
                Ok(_) => pos.set(off),
                Err(e) if e == EDDY_EAGAIN => return Attempt::Again,
                // sendfile cannot serve this pair (asyncio's
                // SendfileNotAvailableError): only before the first byte.
                Err(e) if pos.get() == offset && (e == EDDY_EINVAL || e == EDDY_ENOSYS || e == EDDY_ENOTSUP) => {
                    if !fallback {
                        return done(Err(EDDY_ENOTSUP));
                    }
                    native = false
                }
                Err(e) => return done(Err(e)),
            }
        } else {
            pending.resize(want.min(FALLBACK_CHUNK), 0);
            match sys::pread(file, &mut pending, pos.get()) {
                Ok(0) => return finish(pos.get()),
                Ok(n) => {
                    pending.truncate(n);
                    pending_off = 0;
                }
                Err(e) => return done(Err(e)),
            }
        }
    })?;
    // asyncio leaves the position after what was sent on an error or a
    // cancellation too (_sock_sendfile_update_filepos), where the future
    // cannot carry the count.
    fut.add_completion_hook(Box::new(move |f: &Future| {
        if f.failed() && sent_to.get() > offset {
            let _ = sys::seek_to(file, sent_to.get());
        }
    }));
    Ok(fut)
}
