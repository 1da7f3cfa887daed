//! `eddy_loop_create_datagram_endpoint` and `eddy_datagram_*`.

use std::ffi::{c_char, c_int, c_void};

use super::transport::{copy_out, extra_bytes, extra_name};
use super::*;
use crate::datagram::{self, Datagram, DatagramOptions, DatagramProtocol};

/// create_datagram_endpoint's options; fill with
/// `eddy_datagram_options_init`.
#[repr(C)]
pub struct eddy_datagram_options_t {
    /// AF_UNIX: the path to bind.
    pub local_host: *const c_char,
    pub local_port: u16,
    /// AF_UNIX: the path to connect to.
    pub remote_host: *const c_char,
    pub remote_port: u16,
    pub family: c_int,
    pub proto: c_int,
    pub flags: c_int,
    pub reuse_port: bool,
    pub allow_broadcast: bool,
    /// -1: none; else use this datagram socket (no other option allowed).
    pub sock: c_int,
}

/// No addresses, family 0, sock -1. NULL is a no-op (nothing to fill).
#[no_mangle]
pub extern "C" fn eddy_datagram_options_init(o: *mut eddy_datagram_options_t) {
    put(
        o,
        eddy_datagram_options_t {
            local_host: std::ptr::null(),
            local_port: 0,
            remote_host: std::ptr::null(),
            remote_port: 0,
            family: 0,
            proto: 0,
            flags: 0,
            reuse_port: false,
            allow_broadcast: false,
            sock: -1,
        },
    )
}

/// A datagram endpoint bound to the local address and/or connected to the
/// remote one (names resolved off the loop). The future's value is the
/// `eddy_datagram_t*` (borrowed until its connection_lost returns).
#[no_mangle]
pub extern "C" fn eddy_loop_create_datagram_endpoint(
    r#loop: *mut EventLoop,
    proto: *const DatagramProtocol,
    ud: *mut c_void,
    opts: *const eddy_datagram_options_t,
    out: *mut *mut Future,
) -> c_int {
    start_on_loop(r#loop, out, |lp| {
        let table = *arg(proto)?;
        datagram::create_datagram_endpoint(lp, table, ud, proto, datagram_options(opts)?)
    })
}

fn datagram_options(o: *const eddy_datagram_options_t) -> Result<DatagramOptions, c_int> {
    // SAFETY: a non-null options pointer points to an initialised struct.
    let Some(o) = (unsafe { o.as_ref() }) else { return Ok(DatagramOptions::default()) };
    Ok(DatagramOptions {
        local_host: opt_str(o.local_host)?,
        local_port: o.local_port,
        remote_host: opt_str(o.remote_host)?,
        remote_port: o.remote_port,
        family: o.family,
        proto: o.proto,
        flags: o.flags,
        reuse_port: o.reuse_port,
        allow_broadcast: o.allow_broadcast,
        sock: (o.sock >= 0).then_some(o.sock),
    })
}

/// Sends one datagram (empty ones too) to `addr`, or to the remote address
/// when `addr` is NULL. `EDDY_EINVAL` for an address other than the
/// endpoint's remote one, or none where there is none; `EDDY_ECLOSED`
/// once closing. A send error goes to error_received; the endpoint stays
/// open.
#[no_mangle]
pub extern "C" fn eddy_datagram_sendto(
    d: *mut Datagram,
    data: *const c_void,
    len: usize,
    addr: *const libc::sockaddr,
    addrlen: libc::socklen_t,
) -> c_int {
    guard(|| {
        let d = bound_arg(d)?;
        let data = bytes(data, len)?;
        let addr = if addr.is_null() { None } else { Some(raw_addr_arg(addr, addrlen)?) };
        d.sendto(data, addr)?;
        Ok(0)
    })
}

/// Drops queued datagrams; connection_lost(0) follows.
#[no_mangle]
pub extern "C" fn eddy_datagram_abort(d: *mut Datagram) -> c_int {
    guard(|| {
        bound_arg(d)?.abort();
        Ok(0)
    })
}

/// Sends what is queued, then connection_lost(0). Idempotent.
#[no_mangle]
pub extern "C" fn eddy_datagram_close(d: *mut Datagram) -> c_int {
    guard(|| {
        bound_arg(d)?.close();
        Ok(0)
    })
}

/// 1 once closing.
#[no_mangle]
pub extern "C" fn eddy_datagram_is_closing(d: *const Datagram) -> c_int {
    guard(|| Ok(bound_arg(d)?.is_closing() as c_int))
}

/// "sockname", "peername" (connected endpoints) and "socket", as for
/// transports.
#[no_mangle]
pub extern "C" fn eddy_datagram_get_extra_info(d: *const Datagram, name: *const c_char, buf: *mut c_void, len: *mut usize) -> c_int {
    guard(|| {
        let d = bound_arg(d)?;
        copy_out(&extra_bytes(d.get_extra_info(extra_name(name, len)?).ok_or(EDDY_ENOENT)?), buf, len)
    })
}

/// Queued bytes, counting 8 more per datagram (asyncio 3.13).
#[no_mangle]
pub extern "C" fn eddy_datagram_get_write_buffer_size(d: *const Datagram) -> usize {
    guard_or(0, || bound_arg(d).map_or(0, |d| d.get_write_buffer_size()))
}

/// Switches the protocol for the next event.
#[no_mangle]
pub extern "C" fn eddy_datagram_set_protocol(d: *mut Datagram, proto: *const DatagramProtocol, ud: *mut c_void) -> c_int {
    guard(|| {
        let d = bound_arg(d)?;
        d.set_protocol(*arg(proto)?, ud, proto)?;
        Ok(0)
    })
}

/// The current protocol and its data (NULL after connection_lost).
#[no_mangle]
pub extern "C" fn eddy_datagram_get_protocol(
    d: *const Datagram,
    proto: *mut *const DatagramProtocol,
    ud: *mut *mut c_void,
) -> c_int {
    guard(|| {
        let (p, u) = bound_arg(d)?.get_protocol().unwrap_or((std::ptr::null(), std::ptr::null_mut()));
        put(proto, p);
        put(ud, u);
        Ok(0)
    })
}

/// Takes one more reference. Thread-safe; NULL is a no-op.
#[no_mangle]
pub extern "C" fn eddy_datagram_retain(d: *mut Datagram) {
    guard_or((), || retain(d))
}

/// Drops one reference. Thread-safe; NULL is a no-op.
#[no_mangle]
pub extern "C" fn eddy_datagram_release(d: *mut Datagram) {
    guard_or((), || release(d))
}
