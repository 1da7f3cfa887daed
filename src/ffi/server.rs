//! `eddy_server_*` and the protocol factory a server calls.

use std::ffi::{c_int, c_void};
use std::rc::Rc;

use super::*;
use crate::transports::{Protocol, ProtocolSlot, SharedTable};
use crate::server::Server;

/// Called by a server once per accepted connection: store the protocol
/// table and its data in `*proto` / `*ud` and return 0, or return a
/// negative code to refuse (the connection is closed).
pub type eddy_protocol_factory_fn =
    Option<extern "C" fn(factory_ud: *mut c_void, proto: *mut *const Protocol, ud: *mut *mut c_void) -> c_int>;

/// The core's factory: calls the C factory and copies the table it gives
/// (one copy shared while the factory gives the same table).
pub(crate) fn factory(f: eddy_protocol_factory_fn, ud: *mut c_void) -> Result<crate::server::ProtocolFactory, c_int> {
    let f = f.ok_or(EDDY_EINVAL)?;
    let shared = SharedTable::default();
    Ok(Rc::new(move || -> Result<ProtocolSlot, c_int> {
        let mut proto: *const Protocol = std::ptr::null();
        let mut pud: *mut c_void = std::ptr::null_mut();
        let rc = f(ud, &mut proto, &mut pud);
        if rc < 0 {
            return Err(rc);
        }
        Ok(shared.slot(arg(proto)?, pud, proto))
    }))
}

/// Stops listening and closes the listening sockets; connections stay
/// open. Idempotent.
#[no_mangle]
pub extern "C" fn eddy_server_close(s: *mut Server) -> c_int {
    guard(|| {
        bound_arg(s)?.close();
        Ok(0)
    })
}

/// close() on every client transport.
#[no_mangle]
pub extern "C" fn eddy_server_close_clients(s: *mut Server) -> c_int {
    guard(|| {
        bound_arg(s)?.close_clients();
        Ok(0)
    })
}

/// abort() on every client transport.
#[no_mangle]
pub extern "C" fn eddy_server_abort_clients(s: *mut Server) -> c_int {
    guard(|| {
        bound_arg(s)?.abort_clients();
        Ok(0)
    })
}

/// `*out` (required) completes once the server is closed and every client
/// is gone.
#[no_mangle]
pub extern "C" fn eddy_server_wait_closed(s: *mut Server, out: *mut *mut Future) -> c_int {
    guard(|| {
        required(out)?;
        give(out, bound_arg(s)?.wait_closed());
        Ok(0)
    })
}

/// Starts listening (idempotent). `EDDY_ECLOSED` once closed.
#[no_mangle]
pub extern "C" fn eddy_server_start_serving(s: *mut Server) -> c_int {
    guard(|| {
        bound_arg(s)?.start_serving()?;
        Ok(0)
    })
}

/// Serves until `*out` (required) is cancelled, which closes the server.
/// `EDDY_EBUSY` while another serve_forever runs; `EDDY_ECLOSED` once
/// closed.
#[no_mangle]
pub extern "C" fn eddy_server_serve_forever(s: *mut Server, out: *mut *mut Future) -> c_int {
    guard(|| {
        required(out)?;
        give(out, bound_arg(s)?.serve_forever()?);
        Ok(0)
    })
}

/// 1 while listening.
#[no_mangle]
pub extern "C" fn eddy_server_is_serving(s: *const Server) -> c_int {
    guard(|| Ok(bound_arg(s)?.is_serving() as c_int))
}

/// Copies up to `cap` listening fds (borrowed) into `fds` (NULL when `cap`
/// is 0, to ask for the count); `*n` (required) is how many there are.
#[no_mangle]
pub extern "C" fn eddy_server_get_sockets(s: *const Server, fds: *mut c_int, cap: usize, n: *mut usize) -> c_int {
    guard(|| {
        let socks = bound_arg(s)?.get_sockets();
        required(n)?;
        let fds = slice_mut(fds, cap)?;
        for (dst, fd) in fds.iter_mut().zip(&socks) {
            *dst = *fd;
        }
        put(n, socks.len());
        Ok(0)
    })
}

/// The server's loop (borrowed).
#[no_mangle]
pub extern "C" fn eddy_server_get_loop(s: *const Server) -> *mut EventLoop {
    guard_or(std::ptr::null_mut(), || arg(s).map_or(std::ptr::null_mut(), |s| Arc::as_ptr(s.get_loop()).cast_mut()))
}

/// Takes one more reference. Thread-safe; NULL is a no-op.
#[no_mangle]
pub extern "C" fn eddy_server_retain(s: *mut Server) {
    guard_or((), || retain(s))
}

/// Drops one reference; a serving server keeps serving until closed.
#[no_mangle]
pub extern "C" fn eddy_server_release(s: *mut Server) {
    guard_or((), || release(s))
}
