//! `eddy_loop_sendfile` and `eddy_loop_sock_sendfile`.

use std::ffi::c_int;

use super::*;
use crate::sendfile;
use crate::transports::Transport;

/// Sends a file over a stream transport: `n` is the count sent. Reading
/// pauses and write() fails with `EDDY_EBUSY` meanwhile. TCP and Unix
/// transports use sendfile(2), falling back to reading and sending as
/// `eddy_loop_sock_sendfile` does; a TLS transport always goes through its
/// write path in 16 KiB pieces (`EDDY_ENOTSUP` when `fallback` is false);
/// pipes: `EDDY_ENOTSUP`. If the connection is lost or closed first, the
/// future fails with its error (`EDDY_ECLOSED` after close or abort). The
/// file position is left after what was sent, on success, failure or
/// cancellation alike (unmoved when nothing was sent and it failed).
#[no_mangle]
pub extern "C" fn eddy_loop_sendfile(
    r#loop: *mut EventLoop,
    t: *mut Transport,
    file_fd: c_int,
    offset: i64,
    count: usize,
    fallback: bool,
    out: *mut *mut Future,
) -> c_int {
    start_on_loop(r#loop, out, |_| arc_arg(t)?.sendfile(file_fd, offset, count, fallback))
}

/// Sends `count` bytes (0: to the end) of `file_fd` from `offset` over the
/// stream socket `sock_fd` with sendfile(2), or by reading and sending when
/// sendfile cannot serve them (a /proc file, for instance) and `fallback`
/// is true; with `fallback` false that fails with `EDDY_ENOTSUP` (asyncio's
/// SendfileNotAvailableError). `n` is the count sent; the file position is
/// left at offset + n. When the future fails or is cancelled after bytes
/// went out, the position is left after them too (the count is not in the
/// future then): the caller learns it with lseek.
#[no_mangle]
pub extern "C" fn eddy_loop_sock_sendfile(
    r#loop: *mut EventLoop,
    sock_fd: c_int,
    file_fd: c_int,
    offset: i64,
    count: usize,
    fallback: bool,
    out: *mut *mut Future,
) -> c_int {
    start_on_loop(r#loop, out, |lp| sendfile::sock_sendfile(lp, sock_fd, file_fd, offset, count, fallback))
}
