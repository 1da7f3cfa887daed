//! `eddy_loop_subprocess_exec`, `eddy_loop_subprocess_shell` and
//! `eddy_process_*`.

use std::ffi::{c_char, c_int, c_void};

use super::transport::{copy_out, extra_name};
use super::*;
use crate::base_subprocess::{self, Process, StdioMode, SubprocessOptions, SubprocessProtocol};
use crate::transports::Transport;

/// A pipe between the parent and the child (the default).
pub const EDDY_SUBPROCESS_PIPE: c_int = -1;
/// stderr only: into the same place as stdout.
pub const EDDY_SUBPROCESS_STDOUT: c_int = -2;
/// /dev/null.
pub const EDDY_SUBPROCESS_DEVNULL: c_int = -3;
/// The parent's own.
pub const EDDY_SUBPROCESS_INHERIT: c_int = -4;

/// Options for the subprocess functions; fill with
/// `eddy_subprocess_options_init`.
#[repr(C)]
pub struct eddy_subprocess_options_t {
    /// One of the EDDY_SUBPROCESS_* modes or an fd >= 0 (the child gets a
    /// copy; the fd stays the caller's).
    pub stdin_fd: c_int,
    pub stdout_fd: c_int,
    pub stderr_fd: c_int,
    /// NULL: inherit.
    pub cwd: *const c_char,
    /// NULL-terminated "K=V" strings; NULL: inherit.
    pub env: *const *const c_char,
    /// true: the child gets no fd but 0, 1, 2 (and `pass_fds`).
    pub close_fds: bool,
    pub start_new_session: bool,
    /// fds the child inherits at the same numbers, whatever `close_fds`
    /// says (Popen's pass_fds). They stay the caller's: not closed, their
    /// close-on-exec flag in the parent unchanged. Read during the call
    /// only. A negative fd: `EDDY_EINVAL`; one that is not open: the
    /// future fails with `EDDY_EBADF`. 0, 1 and 2 are the child's stdio
    /// whatever this says.
    pub pass_fds: *const c_int,
    /// NULL with a non-zero count: `EDDY_EINVAL`; more than 2^20:
    /// `EDDY_E2BIG`.
    pub npass_fds: usize,
}

/// Pipes for all three, inherited cwd and environment, close_fds on. NULL
/// is a no-op (nothing to fill).
#[no_mangle]
pub extern "C" fn eddy_subprocess_options_init(o: *mut eddy_subprocess_options_t) {
    put(
        o,
        eddy_subprocess_options_t {
            stdin_fd: EDDY_SUBPROCESS_PIPE,
            stdout_fd: EDDY_SUBPROCESS_PIPE,
            stderr_fd: EDDY_SUBPROCESS_PIPE,
            cwd: std::ptr::null(),
            env: std::ptr::null(),
            close_fds: true,
            start_new_session: false,
            pass_fds: std::ptr::null(),
            npass_fds: 0,
        },
    )
}

fn mode(v: c_int) -> Result<StdioMode, c_int> {
    Ok(match v {
        EDDY_SUBPROCESS_PIPE => StdioMode::Pipe,
        EDDY_SUBPROCESS_STDOUT => StdioMode::Stdout,
        EDDY_SUBPROCESS_DEVNULL => StdioMode::DevNull,
        EDDY_SUBPROCESS_INHERIT => StdioMode::Inherit,
        fd if fd >= 0 => StdioMode::Fd(fd),
        _ => return Err(EDDY_EINVAL),
    })
}

/// The most entries argv, env or pass_fds may have: more is `EDDY_E2BIG`.
const MAX_LIST: usize = 1 << 20;

/// Copies a NULL-terminated array of strings.
fn strings(p: *const *const c_char) -> Result<Vec<std::ffi::CString>, c_int> {
    let mut out = Vec::new();
    let mut i = 0;
    loop {
        // SAFETY: p points to a NULL-terminated array of C strings.
        let s = unsafe { *p.add(i) };
        if s.is_null() {
            return Ok(out);
        }
        out.push(c_string(s).ok_or(EDDY_EINVAL)?);
        i += 1;
        if i > MAX_LIST {
            return Err(EDDY_E2BIG);
        }
    }
}

fn options(o: *const eddy_subprocess_options_t) -> Result<SubprocessOptions, c_int> {
    // SAFETY: a non-null options pointer points to an initialised struct.
    let Some(o) = (unsafe { o.as_ref() }) else { return Ok(SubprocessOptions::default()) };
    Ok(SubprocessOptions {
        stdio: [mode(o.stdin_fd)?, mode(o.stdout_fd)?, mode(o.stderr_fd)?],
        cwd: c_string(o.cwd).map(|c| std::path::PathBuf::from(<std::ffi::OsString as std::os::unix::ffi::OsStringExt>::from_vec(c.into_bytes()))),
        env: if o.env.is_null() { None } else { Some(strings(o.env)?) },
        close_fds: o.close_fds,
        start_new_session: o.start_new_session,
        pass_fds: fd_list(o.pass_fds, o.npass_fds)?,
    })
}

/// A copy: the caller's array is read during the call only.
fn fd_list(p: *const c_int, n: usize) -> Result<Vec<c_int>, c_int> {
    let fds = slice(p, n)?;
    if fds.len() > MAX_LIST {
        return Err(EDDY_E2BIG);
    }
    Ok(fds.to_vec())
}

/// Runs `argv[0]` (searched in PATH) with `argv`. The future's value is the
/// `eddy_process_t*` (borrowed until its connection_lost returns), after
/// connection_made; a spawn failure fails the future with the errno.
#[no_mangle]
pub extern "C" fn eddy_loop_subprocess_exec(
    r#loop: *mut EventLoop,
    proto: *const SubprocessProtocol,
    ud: *mut c_void,
    argv: *const *const c_char,
    opts: *const eddy_subprocess_options_t,
    out: *mut *mut Future,
) -> c_int {
    start_on_loop(r#loop, out, |lp| {
        let table = *arg(proto)?;
        if argv.is_null() {
            return Err(EDDY_EINVAL);
        }
        base_subprocess::subprocess_exec(lp, table, ud, strings(argv)?, options(opts)?)
    })
}

/// Runs `cmd` with /bin/sh -c.
#[no_mangle]
pub extern "C" fn eddy_loop_subprocess_shell(
    r#loop: *mut EventLoop,
    proto: *const SubprocessProtocol,
    ud: *mut c_void,
    cmd: *const c_char,
    opts: *const eddy_subprocess_options_t,
    out: *mut *mut Future,
) -> c_int {
    start_on_loop(r#loop, out, |lp| {
        let table = *arg(proto)?;
        let cmd = c_string(cmd).ok_or(EDDY_EINVAL)?;
        base_subprocess::subprocess_shell(lp, table, ud, cmd, options(opts)?)
    })
}

/// The child's pid.
#[no_mangle]
pub extern "C" fn eddy_process_get_pid(p: *const Process) -> c_int {
    guard(|| Ok(bound_arg(p)?.get_pid()))
}

/// The transport of the child's fd 0, 1 or 2 (borrowed); NULL when that fd
/// is not a pipe.
#[no_mangle]
pub extern "C" fn eddy_process_get_pipe_transport(p: *const Process, fd: c_int) -> *mut Transport {
    guard_or(std::ptr::null_mut(), || {
        bound_arg(p)
            .ok()
            .and_then(|p| p.get_pipe_transport(fd))
            .map_or(std::ptr::null_mut(), |t| Arc::as_ptr(&t).cast_mut())
    })
}

/// The exit code, or -signum when a signal killed the child.
/// `EDDY_EINVALSTATE` while it runs; `EDDY_EINVAL` for a NULL `out`, in
/// any state.
#[no_mangle]
pub extern "C" fn eddy_process_get_returncode(p: *const Process, out: *mut c_int) -> c_int {
    guard(|| {
        let p = bound_arg(p)?;
        required(out)?;
        let rc = p.get_returncode().ok_or(EDDY_EINVALSTATE)?;
        put(out, rc);
        Ok(0)
    })
}

/// SIGKILL. `-ESRCH` once the child has been reaped.
#[no_mangle]
pub extern "C" fn eddy_process_kill(p: *mut Process) -> c_int {
    guard(|| {
        bound_arg(p)?.send_signal(libc::SIGKILL)?;
        Ok(0)
    })
}

/// Sends `signum`. `-ESRCH` once the child has been reaped.
#[no_mangle]
pub extern "C" fn eddy_process_send_signal(p: *mut Process, signum: c_int) -> c_int {
    guard(|| {
        bound_arg(p)?.send_signal(signum)?;
        Ok(0)
    })
}

/// SIGTERM. `-ESRCH` once the child has been reaped.
#[no_mangle]
pub extern "C" fn eddy_process_terminate(p: *mut Process) -> c_int {
    guard(|| {
        bound_arg(p)?.send_signal(libc::SIGTERM)?;
        Ok(0)
    })
}

/// Closes the pipes and kills a child that still runs; process_exited and
/// connection_lost follow.
#[no_mangle]
pub extern "C" fn eddy_process_close(p: *mut Process) -> c_int {
    guard(|| {
        bound_arg(p)?.close();
        Ok(0)
    })
}

/// 1 once closing or finished.
#[no_mangle]
pub extern "C" fn eddy_process_is_closing(p: *const Process) -> c_int {
    guard(|| Ok(bound_arg(p)?.is_closing() as c_int))
}

/// "pid" (an int). `EDDY_ENOENT` for other keys.
#[no_mangle]
pub extern "C" fn eddy_process_get_extra_info(p: *const Process, name: *const c_char, buf: *mut c_void, len: *mut usize) -> c_int {
    guard(|| {
        let p = bound_arg(p)?;
        match extra_name(name, len)? {
            "pid" => copy_out(&p.get_pid().to_ne_bytes(), buf, len),
            _ => Err(EDDY_ENOENT),
        }
    })
}

/// Takes one more reference. Thread-safe; NULL is a no-op.
#[no_mangle]
pub extern "C" fn eddy_process_retain(p: *mut Process) {
    guard_or((), || retain(p))
}

/// Drops one reference. Thread-safe; NULL is a no-op.
#[no_mangle]
pub extern "C" fn eddy_process_release(p: *mut Process) {
    guard_or((), || release(p))
}
