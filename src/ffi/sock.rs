//! `eddy_loop_sock_*`: socket operations on fds the caller owns.

use std::ffi::{c_int, c_void};

use super::*;
use crate::sock;
use crate::sys::UserAddr;

/// `sock_recvfrom`'s result: one allocation, `data` points just past the
/// struct (free the whole with `eddy_free`).
#[repr(C)]
pub struct eddy_datagram_msg_t {
    pub addr: libc::sockaddr_storage,
    pub addrlen: libc::socklen_t,
    pub len: usize,
    pub data: *mut u8,
}

fn pack_datagram(data: &[u8], from: &socket2::SockAddr) -> Result<usize, c_int> {
    let head = std::mem::size_of::<eddy_datagram_msg_t>();
    // SAFETY: calloc of the header plus the data; NULL is checked below.
    let p = unsafe { libc::calloc(1, head + data.len()) }.cast::<eddy_datagram_msg_t>();
    // SAFETY: zeroed memory is a valid eddy_datagram_msg_t (all fields are
    // integers, a byte array or a pointer).
    let msg = unsafe { p.as_mut() }.ok_or(EDDY_ENOMEM)?;
    // SAFETY: the data area starts just past the header inside the same
    // allocation and has room for data.len() bytes; the address is at most
    // sizeof(sockaddr_storage) bytes.
    unsafe {
        msg.data = p.cast::<u8>().add(head);
        std::ptr::copy_nonoverlapping(data.as_ptr(), msg.data, data.len());
        std::ptr::copy_nonoverlapping(
            from.as_ptr().cast::<u8>(),
            (&mut msg.addr as *mut libc::sockaddr_storage).cast::<u8>(),
            from.len() as usize,
        );
    }
    msg.addrlen = from.len();
    msg.len = data.len();
    Ok(p as usize)
}

/// Receives up to `nbytes` from `fd`. The value: `ptr` a buffer (free with
/// `eddy_free`; NULL at EOF), `n` its length. `EDDY_ENOMEM` when `nbytes`
/// cannot be allocated. Like every `eddy_loop_sock_*`: `EDDY_EBUSY` for an
/// fd a transport, server or datagram endpoint owns, `EDDY_EINVAL` for a
/// length past `SSIZE_MAX`.
#[no_mangle]
pub extern "C" fn eddy_loop_sock_recv(r#loop: *mut EventLoop, fd: c_int, nbytes: usize, out: *mut *mut Future) -> c_int {
    start_on_loop(r#loop, out, |lp| sock::sock_recv(lp, fd, nbytes))
}

/// Receives into `buf` (which must stay valid until the future is done or
/// cancelled). The value's `n` is the count (0 at EOF).
#[no_mangle]
pub extern "C" fn eddy_loop_sock_recv_into(
    r#loop: *mut EventLoop,
    fd: c_int,
    buf: *mut c_void,
    len: usize,
    out: *mut *mut Future,
) -> c_int {
    start_on_loop(r#loop, out, |lp| sock::sock_recv_into(lp, fd, lent(buf, len)?))
}

/// Receives one datagram of up to `bufsize` bytes. The value: `ptr` an
/// `eddy_datagram_msg_t` (free with `eddy_free`), `n` the length.
/// `EDDY_ENOMEM` when `bufsize` cannot be allocated.
#[no_mangle]
pub extern "C" fn eddy_loop_sock_recvfrom(
    r#loop: *mut EventLoop,
    fd: c_int,
    bufsize: usize,
    out: *mut *mut Future,
) -> c_int {
    start_on_loop(r#loop, out, |lp| sock::sock_recvfrom(lp, fd, bufsize, pack_datagram))
}

/// Receives one datagram into `buf` and its sender into `addr` (`*addrlen`
/// in: capacity, out: the address's length; both may be NULL). All three
/// must stay valid until the future is done or cancelled. `n` is the count.
#[no_mangle]
pub extern "C" fn eddy_loop_sock_recvfrom_into(
    r#loop: *mut EventLoop,
    fd: c_int,
    buf: *mut c_void,
    len: usize,
    addr: *mut libc::sockaddr,
    addrlen: *mut libc::socklen_t,
    out: *mut *mut Future,
) -> c_int {
    start_on_loop(r#loop, out, |lp| {
        // SAFETY: as for buf: valid until the operation ends (docs/api.md).
        let addr = unsafe { UserAddr::new(addr, addrlen) };
        sock::sock_recvfrom_into(lp, fd, lent(buf, len)?, addr)
    })
}

/// Sends all of `data` (what the kernel does not take at once is copied).
/// `n` is 0; on error nothing tells how much was sent.
#[no_mangle]
pub extern "C" fn eddy_loop_sock_sendall(
    r#loop: *mut EventLoop,
    fd: c_int,
    data: *const c_void,
    len: usize,
    out: *mut *mut Future,
) -> c_int {
    start_on_loop(r#loop, out, |lp| sock::sock_sendall(lp, fd, bytes(data, len)?))
}

/// Sends one datagram to `addr`. `n` is the count sent.
#[no_mangle]
pub extern "C" fn eddy_loop_sock_sendto(
    r#loop: *mut EventLoop,
    fd: c_int,
    data: *const c_void,
    len: usize,
    addr: *const libc::sockaddr,
    addrlen: libc::socklen_t,
    out: *mut *mut Future,
) -> c_int {
    start_on_loop(r#loop, out, |lp| sock::sock_sendto(lp, fd, bytes(data, len)?, sockaddr_arg(addr, addrlen)?))
}

/// Connects `fd` to `addr`; a refused connection fails with
/// `EDDY_ECONNREFUSED`.
#[no_mangle]
pub extern "C" fn eddy_loop_sock_connect(
    r#loop: *mut EventLoop,
    fd: c_int,
    addr: *const libc::sockaddr,
    addrlen: libc::socklen_t,
    out: *mut *mut Future,
) -> c_int {
    start_on_loop(r#loop, out, |lp| sock::sock_connect(lp, fd, sockaddr_arg(addr, addrlen)?))
}

/// Accepts a connection; `n` is the new fd (non-blocking, close-on-exec;
/// the caller owns it).
#[no_mangle]
pub extern "C" fn eddy_loop_sock_accept(r#loop: *mut EventLoop, fd: c_int, out: *mut *mut Future) -> c_int {
    start_on_loop(r#loop, out, |lp| sock::sock_accept(lp, fd))
}

