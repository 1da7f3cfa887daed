//! Subprocesses (asyncio's `base_subprocess.py` and the Unix spawning in
//! `unix_events.py`). Children are watched with a pidfd in the poller and
//! reaped with waitpid on their own pid only (never `waitpid(-1)`, which
//! would steal other libraries' children). Their pipes are ordinary stream
//! transports whose protocol forwards to the subprocess protocol.

use std::cell::RefCell;
use std::ffi::{c_int, c_void, CString};
use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::os::unix::ffi::OsStrExt;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::rc::Rc;
use std::sync::{Arc, Weak};


use crate::base_events::{EventLoop, IoEvent, IoHandler, IoToken, Ready};
use crate::error::*;
use crate::futures::{Future, Outcome};
use crate::sys;
use crate::transports::{Kind, ProtocolSlot, StreamProtocol, Transport};
use crate::unix_events::Child;

/// Callbacks of a subprocess protocol.
#[repr(C)]
#[derive(Clone, Copy, Default)]
pub struct SubprocessProtocol {
    pub connection_made: Option<extern "C" fn(p: *mut Process, ud: *mut c_void)>,
    /// Last: after the child exited and every pipe closed.
    pub connection_lost: Option<extern "C" fn(p: *mut Process, err: c_int, ud: *mut c_void)>,
    pub pause_writing: Option<extern "C" fn(p: *mut Process, ud: *mut c_void)>,
    pub resume_writing: Option<extern "C" fn(p: *mut Process, ud: *mut c_void)>,
    /// Output of the child's fd 1 or 2.
    pub pipe_data_received: Option<extern "C" fn(p: *mut Process, fd: c_int, data: *const u8, len: usize, ud: *mut c_void)>,
    /// Once per piped fd (0, 1, 2).
    pub pipe_connection_lost: Option<extern "C" fn(p: *mut Process, fd: c_int, err: c_int, ud: *mut c_void)>,
    pub process_exited: Option<extern "C" fn(p: *mut Process, ud: *mut c_void)>,
}

/// Where a child's stdin, stdout or stderr goes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StdioMode {
    Pipe,
    /// stderr only: wherever stdout goes.
    Stdout,
    DevNull,
    Inherit,
    /// A copy of this fd of the caller's.
    Fd(RawFd),
}

pub struct SubprocessOptions {
    pub stdio: [StdioMode; 3],
    pub cwd: Option<PathBuf>,
    /// "K=V" entries; None: inherit.
    pub env: Option<Vec<CString>>,
    pub close_fds: bool,
    pub start_new_session: bool,
    /// The caller's fds the child keeps at the same numbers, whatever
    /// close_fds says (Popen's pass_fds).
    pub pass_fds: Vec<RawFd>,
}

impl Default for SubprocessOptions {
    fn default() -> Self {
        Self {
            stdio: [StdioMode::Pipe; 3],
            cwd: None,
            env: None,
            close_fds: true,
            start_new_session: false,
            pass_fds: Vec::new(),
        }
    }
}

struct State {
    proto: Option<(SubprocessProtocol, *mut c_void)>,
    returncode: Option<i32>,
    pidfd: Option<(OwnedFd, Option<IoToken>)>,
    pipes: [Option<Arc<Transport>>; 3],
    pipe_open: [bool; 3],
    closing: bool,
    /// connection_made has run: the exit may be reported.
    made: bool,
    /// connection_lost is scheduled or done.
    finished: bool,
    /// The loop's reference while the process is live.
    keepalive: Option<Arc<Process>>,
}

pub struct Process {
    lp: Arc<EventLoop>,
    pid: i32,
    st: RefCell<State>,
}

/// A pipe's protocol: forwards to the process.
struct PipeProtocol {
    process: Weak<Process>,
    fd: c_int,
}

impl StreamProtocol for PipeProtocol {
    fn connection_lost(&self, _t: &Arc<Transport>, err: c_int) {
        if let Some(p) = self.process.upgrade() {
            p.pipe_lost(self.fd, err);
        }
    }
    fn pause_writing(&self, _t: &Arc<Transport>) {
        if let Some(p) = self.process.upgrade() {
            p.with_proto(|proto, ud, me| {
                if let Some(f) = proto.pause_writing {
                    f(me, ud)
                }
            });
        }
    }
    fn resume_writing(&self, _t: &Arc<Transport>) {
        if let Some(p) = self.process.upgrade() {
            p.with_proto(|proto, ud, me| {
                if let Some(f) = proto.resume_writing {
                    f(me, ud)
                }
            });
        }
    }
    fn data_received(&self, _t: &Arc<Transport>, data: &[u8]) {
        if let Some(p) = self.process.upgrade() {
            let fd = self.fd;
            p.with_proto(|proto, ud, me| {
                if let Some(f) = proto.pipe_data_received {
                    f(me, fd, data.as_ptr(), data.len(), ud)
                }
            });
        }
    }
}

fn stdio_for(mode: StdioMode, child_end: Option<OwnedFd>) -> Result<Stdio, i32> {
    Ok(match mode {
        StdioMode::Pipe | StdioMode::Stdout => Stdio::from(child_end.expect("made for pipes")),
        StdioMode::DevNull => Stdio::null(),
        StdioMode::Inherit => Stdio::inherit(),
        StdioMode::Fd(fd) => Stdio::from(sys::dup_fd(fd)?),
    })
}

impl Process {
    pub fn c_ptr(self: &Arc<Self>) -> *mut Process {
        Arc::as_ptr(self).cast_mut()
    }

    pub fn get_loop(&self) -> &Arc<EventLoop> {
        &self.lp
    }

    pub fn get_pid(&self) -> i32 {
        self.pid
    }

    fn with_proto(self: &Arc<Self>, f: impl FnOnce(&SubprocessProtocol, *mut c_void, *mut Process)) {
        let proto = self.st.borrow().proto;
        if let Some((table, ud)) = proto {
            f(&table, ud, self.c_ptr());
        }
    }

    fn pipe_lost(self: &Arc<Self>, fd: c_int, err: c_int) {
        self.st.borrow_mut().pipe_open[fd as usize] = false;
        self.with_proto(|p, ud, me| {
            if let Some(f) = p.pipe_connection_lost {
                f(me, fd, err, ud)
            }
        });
        self.try_finish();
    }

    /// The child may have exited: reap it, tell the protocol, maybe finish.
    pub(crate) fn exited(self: &Arc<Self>) {
        {
            let st = self.st.borrow();
            if st.returncode.is_some() || !st.made {
                return;
            }
        }
        let Ok(Some(code)) = sys::reap(self.pid, false) else { return };
        let pidfd = {
            let mut st = self.st.borrow_mut();
            st.returncode = Some(code);
            st.pidfd.take()
        };
        if let Some((fd, Some(token))) = &pidfd {
            self.lp.deregister_io(fd.as_raw_fd(), *token);
        }
        drop(pidfd);
        self.with_proto(|p, ud, me| {
            if let Some(f) = p.process_exited {
                f(me, ud)
            }
        });
        self.try_finish();
    }

    /// connection_lost comes last: after the exit and every pipe's loss.
    fn try_finish(self: &Arc<Self>) {
        {
            let mut st = self.st.borrow_mut();
            if st.finished || st.returncode.is_none() || st.pipe_open.iter().any(|o| *o) {
                return;
            }
            st.finished = true;
        }
        let me = self.clone();
        self.lp.push_ready(Ready::Job(Box::new(move |_| {
            me.with_proto(|p, ud, ptr| {
                if let Some(f) = p.connection_lost {
                    f(ptr, 0, ud)
                }
            });
            let keep = {
                let mut st = me.st.borrow_mut();
                st.proto = None;
                st.pipes = [None, None, None];
                st.keepalive.take()
            };
            drop(keep);
        })));
    }

    /// The exit code, -signum when killed; None while it runs.
    pub fn get_returncode(&self) -> Option<i32> {
        self.st.borrow().returncode
    }

    pub fn get_pipe_transport(&self, fd: c_int) -> Option<Arc<Transport>> {
        self.st.borrow().pipes.get(usize::try_from(fd).ok()?)?.clone()
    }

    /// `-ESRCH` once the child has been reaped (uvloop's rule).
    pub fn send_signal(&self, sig: c_int) -> Result<(), i32> {
        if self.st.borrow().returncode.is_some() {
            return Err(EDDY_ESRCH);
        }
        sys::kill(self.pid, sig)
    }

    pub fn is_closing(&self) -> bool {
        let st = self.st.borrow();
        st.closing || st.finished
    }

    /// Closes the pipes and kills a child that still runs; the usual
    /// callbacks follow.
    pub fn close(&self) {
        let pipes = {
            let mut st = self.st.borrow_mut();
            if st.closing {
                return;
            }
            st.closing = true;
            st.pipes.clone()
        };
        for t in pipes.into_iter().flatten() {
            t.close();
        }
        let _ = self.send_signal(libc::SIGKILL);
    }
}

impl Child for Process {
    fn reaped(&self) -> bool {
        self.get_returncode().is_some()
    }

    fn try_reap(self: Arc<Self>) {
        self.exited();
    }
}

impl IoHandler for Process {
    fn on_io(self: Arc<Self>, _lp: &Arc<EventLoop>, ev: IoEvent) {
        if ev.readable() || ev.hangup() {
            self.exited();
        }
    }

    /// The loop closes under a live child: kill and reap it so no zombie is
    /// left, without calling back.
    fn close_silently(&self) {
        let (running, keep) = {
            let mut st = self.st.borrow_mut();
            st.closing = true;
            st.finished = true;
            st.proto = None;
            st.pidfd = None;
            st.pipes = [None, None, None];
            (st.returncode.is_none(), st.keepalive.take())
        };
        if running {
            let _ = sys::kill(self.pid, libc::SIGKILL);
            if let Ok(Some(code)) = sys::reap(self.pid, true) {
                self.st.borrow_mut().returncode = Some(code);
            }
        }
        drop(keep);
    }
}

/// asyncio's `subprocess_exec`: the future's value is the process
/// (borrowed until its connection_lost returns), after connection_made. A
/// spawn failure (missing program, bad cwd) fails the future with the
/// errno; nothing is left behind.
pub fn subprocess_exec(
    lp: &Arc<EventLoop>,
    proto: SubprocessProtocol,
    ud: *mut c_void,
    argv: Vec<CString>,
    opts: SubprocessOptions,
) -> Result<Arc<Future>, i32> {
    lp.check_closed()?;
    // A negative pass_fds entry is Popen's ValueError ("bad value(s) in
    // fds_to_keep"), not an fd that happens to be closed.
    if argv.is_empty()
        || opts.stdio[0] == StdioMode::Stdout
        || opts.stdio[1] == StdioMode::Stdout
        || opts.pass_fds.iter().any(|&fd| fd < 0)
    {
        return Err(EDDY_EINVAL);
    }
    let fut = Future::new(lp);
    match spawn(lp, proto, ud, &argv, &opts, &fut) {
        Ok(()) => {}
        Err(e) => {
            let _ = fut.complete(Outcome::Error(e, None));
        }
    }
    Ok(fut)
}

/// asyncio's `subprocess_shell`: `/bin/sh -c cmd`.
pub fn subprocess_shell(
    lp: &Arc<EventLoop>,
    proto: SubprocessProtocol,
    ud: *mut c_void,
    cmd: CString,
    opts: SubprocessOptions,
) -> Result<Arc<Future>, i32> {
    let argv = vec![CString::new("/bin/sh").expect("no NUL"), CString::new("-c").expect("no NUL"), cmd];
    subprocess_exec(lp, proto, ud, argv, opts)
}

fn spawn(
    lp: &Arc<EventLoop>,
    proto: SubprocessProtocol,
    ud: *mut c_void,
    argv: &[CString],
    opts: &SubprocessOptions,
    fut: &Arc<Future>,
) -> Result<(), i32> {
    // Checked here, before any pipe exists, so that a closed fd is a plain
    // EBADF with nothing to undo rather than a failure in the child.
    for &fd in &opts.pass_fds {
        sys::check_fd_open(fd)?;
    }
    let os = |c: &CString| std::ffi::OsStr::from_bytes(c.as_bytes()).to_owned();
    let mut cmd = Command::new(os(&argv[0]));
    cmd.args(argv[1..].iter().map(os));
    if let Some(cwd) = &opts.cwd {
        cmd.current_dir(cwd);
    }
    if let Some(env) = &opts.env {
        cmd.env_clear();
        for kv in env {
            let b = kv.as_bytes();
            let i = b.iter().position(|&c| c == b'=').ok_or(EDDY_EINVAL)?;
            cmd.env(std::ffi::OsStr::from_bytes(&b[..i]), std::ffi::OsStr::from_bytes(&b[i + 1..]));
        }
    }
    // Parent ends of the pipes, and the child ends handed to the child.
    let mut parent: [Option<OwnedFd>; 3] = [None, None, None];
    let mut child: [Option<OwnedFd>; 3] = [None, None, None];
    for i in 0..3 {
        if opts.stdio[i] == StdioMode::Pipe {
            let (r, w) = sys::child_pipe()?;
            let (p, c) = if i == 0 { (w, r) } else { (r, w) };
            sys::set_nonblocking(p.as_raw_fd())?;
            parent[i] = Some(p);
            child[i] = Some(c);
        }
    }
    if opts.stdio[2] == StdioMode::Stdout {
        child[2] = Some(match opts.stdio[1] {
            StdioMode::Pipe => child[1].as_ref().expect("piped").try_clone().map_err(|e| from_io(&e))?,
            StdioMode::Fd(fd) => sys::dup_fd(fd)?,
            StdioMode::Inherit => sys::dup_fd(1)?,
            _ => std::fs::File::options().write(true).open("/dev/null").map_err(|e| from_io(&e))?.into(),
        });
    }
    let [c0, c1, c2] = child;
    cmd.stdin(stdio_for(opts.stdio[0], c0)?);
    cmd.stdout(stdio_for(opts.stdio[1], c1)?);
    cmd.stderr(stdio_for(opts.stdio[2], c2)?);
    sys::configure_child(&mut cmd, opts.close_fds, opts.start_new_session, opts.pass_fds.clone());
    let child = cmd.spawn().map_err(|e| from_io(&e))?;
    // The Command held the child ends; they close with it here.
    drop(cmd);
    let pid = child.id() as i32;
    drop(child);

    let process = Arc::new(Process {
        lp: lp.clone(),
        pid,
        st: RefCell::new(State {
            proto: Some((proto, ud)),
            returncode: None,
            pidfd: None,
            pipes: [None, None, None],
            pipe_open: [false; 3],
            closing: false,
            made: false,
            finished: false,
            keepalive: None,
        }),
    });
    process.st.borrow_mut().keepalive = Some(process.clone());
    // connection_made first (and the future), then the pipes start: pipe
    // events, and the exit, can only follow it.
    let me = process.clone();
    let done = fut.clone();
    lp.push_ready(Ready::Job(Box::new(move |_| {
        me.with_proto(|p, ud, ptr| {
            if let Some(f) = p.connection_made {
                f(ptr, ud)
            }
        });
        me.st.borrow_mut().made = true;
        let _ = done.complete(Outcome::Result(me.c_ptr().cast(), 0));
        // An exit noticed before now was held back; look again.
        me.exited();
    })));
    // A pidfd in the poller; where the kernel (or valgrind) has none,
    // SIGCHLD through the loop's self-pipe, then waitpid on this pid only.
    let watched = match sys::pidfd_open(pid) {
        Ok(pidfd) => lp.register_io(pidfd.as_raw_fd(), process.clone()).map(|token| {
            process.st.borrow_mut().pidfd = Some((pidfd, Some(token)));
        }),
        Err(_) => lp.watch_child(&process),
    };
    if let Err(e) = watched {
        let _ = sys::kill(pid, libc::SIGKILL);
        let _ = sys::reap(pid, true);
        let mut st = process.st.borrow_mut();
        st.proto = None;
        st.keepalive = None;
        return Err(e);
    }
    if parent[0].is_some() {
        sys::ignore_sigpipe();
    }
    for (i, end) in parent.into_iter().enumerate() {
        let Some(end) = end else { continue };
        let kind = if i == 0 { Kind::WritePipe } else { Kind::ReadPipe };
        let pp = ProtocolSlot::Internal(Rc::new(PipeProtocol { process: Arc::downgrade(&process), fd: i as c_int }));
        match Transport::start(lp, end, kind, pp, None, None) {
            Ok(t) => {
                let mut st = process.st.borrow_mut();
                st.pipes[i] = Some(t);
                st.pipe_open[i] = true;
            }
            Err((e, _closed)) => {
                process.close();
                return Err(e);
            }
        }
    }
    Ok(())
}
