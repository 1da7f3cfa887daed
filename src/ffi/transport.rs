//! `eddy_transport_*`: the stream transport API (TCP, Unix, pipes).

use std::ffi::{c_char, c_int, c_void, CStr};

use super::*;
use crate::transports::{ExtraInfo, Protocol, ProtocolSlot, Transport};

/// A buffer for `eddy_transport_writelines`.
#[repr(C)]
pub struct eddy_buf_t {
    pub base: *const c_void,
    pub len: usize,
}

/// A protocol table argument, copied; the caller's pointer is kept only to
/// be returned by get_protocol.
pub(crate) fn protocol_arg(proto: *const Protocol, ud: *mut c_void) -> Result<ProtocolSlot, c_int> {
    Ok(ProtocolSlot::new(arg(proto)?, ud, proto))
}

/// Closes the transport: reading stops now, buffered data is flushed, then
/// connection_lost(0) runs (never inside this call). Idempotent.
#[no_mangle]
pub extern "C" fn eddy_transport_close(t: *mut Transport) -> c_int {
    guard(|| {
        bound_arg(t)?.close();
        Ok(0)
    })
}

/// 1 once closing (close, abort, EOF or an error), else 0.
#[no_mangle]
pub extern "C" fn eddy_transport_is_closing(t: *const Transport) -> c_int {
    guard(|| Ok(bound_arg(t)?.is_closing() as c_int))
}

/// Copies extra information into `buf` (`*len` in: capacity, out: size):
/// "peername" and "sockname" (struct sockaddr bytes), "socket" and "pipe"
/// (an int fd). `EDDY_ENOENT` for unknown or absent keys; `EDDY_ENOBUFS`
/// with `*len` set to the size needed when `buf` is too small.
#[no_mangle]
pub extern "C" fn eddy_transport_get_extra_info(
    t: *const Transport,
    name: *const c_char,
    buf: *mut c_void,
    len: *mut usize,
) -> c_int {
    guard(|| {
        let t = bound_arg(t)?;
        copy_out(&extra_bytes(t.get_extra_info(extra_name(name, len)?).ok_or(EDDY_ENOENT)?), buf, len)
    })
}

/// get_extra_info's name (a name that is not UTF-8 names nothing), after
/// the check that the length out-parameter is there.
pub(crate) fn extra_name<'a>(name: *const c_char, len: *mut usize) -> Result<&'a str, c_int> {
    if name.is_null() || len.is_null() {
        return Err(EDDY_EINVAL);
    }
    // SAFETY: a non-null name is a NUL-terminated string (docs/api.md),
    // valid for the call.
    unsafe { CStr::from_ptr(name) }.to_str().map_err(|_| EDDY_ENOENT)
}

/// The bytes C gets for an extra-info value: struct sockaddr bytes, an
/// int, DER, or a NUL-terminated string (`*len` counts the NUL).
pub(crate) fn extra_bytes(info: ExtraInfo) -> Vec<u8> {
    match info {
        // SAFETY: a SockAddr's storage is readable for len() bytes.
        ExtraInfo::Address(a) => unsafe { std::slice::from_raw_parts(a.as_ptr().cast::<u8>(), a.len() as usize) }.to_vec(),
        ExtraInfo::Fd(fd) => fd.to_ne_bytes().to_vec(),
        ExtraInfo::Bytes(b) => b,
        ExtraInfo::Str(s) => {
            let mut b = s.into_bytes();
            b.push(0);
            b
        }
    }
}

/// Writes `bytes` to (`buf`, `*len`) with the ENOBUFS rule of docs/api.md.
pub(crate) fn copy_out(bytes: &[u8], buf: *mut c_void, len: *mut usize) -> Result<c_int, c_int> {
    // SAFETY: len is non-null (checked by the caller) and points to a size.
    let cap = unsafe { *len };
    // SAFETY: as above.
    unsafe { *len = bytes.len() };
    if cap < bytes.len() || (buf.is_null() && !bytes.is_empty()) {
        return Err(EDDY_ENOBUFS);
    }
    // SAFETY: buf is writable for cap >= bytes.len() bytes.
    unsafe { std::ptr::copy_nonoverlapping(bytes.as_ptr(), buf.cast::<u8>(), bytes.len()) };
    Ok(0)
}

/// Switches the protocol for the next event (the buffered or plain read
/// path is chosen again). `EDDY_ECLOSED` after connection_lost.
#[no_mangle]
pub extern "C" fn eddy_transport_set_protocol(t: *mut Transport, proto: *const Protocol, ud: *mut c_void) -> c_int {
    guard(|| {
        bound_arg(t)?.set_protocol(protocol_arg(proto, ud)?)?;
        Ok(0)
    })
}

/// The current protocol table and data (both NULL after connection_lost).
/// Either output may be NULL.
#[no_mangle]
pub extern "C" fn eddy_transport_get_protocol(t: *const Transport, proto: *mut *const Protocol, ud: *mut *mut c_void) -> c_int {
    guard(|| {
        let (p, d) = bound_arg(t)?.get_protocol().unwrap_or((std::ptr::null(), std::ptr::null_mut()));
        put(proto, p);
        put(ud, d);
        Ok(0)
    })
}

/// Takes one more reference. Thread-safe; NULL is a no-op.
#[no_mangle]
pub extern "C" fn eddy_transport_retain(t: *mut Transport) {
    guard_or((), || retain(t))
}

/// Drops one reference; the loop keeps its own while the transport is
/// open. Thread-safe; NULL is a no-op.
#[no_mangle]
pub extern "C" fn eddy_transport_release(t: *mut Transport) {
    guard_or((), || release(t))
}

/// 1 while data is being read (not paused, not closing, no EOF yet).
#[no_mangle]
pub extern "C" fn eddy_transport_is_reading(t: *const Transport) -> c_int {
    guard(|| Ok(bound_arg(t)?.is_reading() as c_int))
}

/// Stops data_received until resume_reading. Idempotent; 0 even when
/// closing.
#[no_mangle]
pub extern "C" fn eddy_transport_pause_reading(t: *mut Transport) -> c_int {
    guard(|| {
        bound_arg(t)?.pause_reading();
        Ok(0)
    })
}

/// Resumes reading. Idempotent; 0 even when closing.
#[no_mangle]
pub extern "C" fn eddy_transport_resume_reading(t: *mut Transport) -> c_int {
    guard(|| {
        bound_arg(t)?.resume_reading();
        Ok(0)
    })
}

/// Sends `data` now if nothing is buffered and copies what the kernel does
/// not take. After close(), while the buffer still drains (before
/// connection_lost), data is still taken and flushed before
/// connection_lost, as asyncio does (a TLS transport refuses it).
/// `EDDY_ECLOSED` after abort, connection loss or any other close,
/// `EDDY_EPIPE` after write_eof, `EDDY_EBUSY` during sendfile; a send error
/// is returned and connection_lost follows with it.
#[no_mangle]
pub extern "C" fn eddy_transport_write(t: *mut Transport, data: *const c_void, len: usize) -> c_int {
    guard(|| {
        let t = bound_arg(t)?;
        t.write(bytes(data, len)?)?;
        Ok(0)
    })
}

/// Writes `n` buffers with one writev when nothing is buffered. The
/// same rules as eddy_transport_write.
#[no_mangle]
pub extern "C" fn eddy_transport_writelines(t: *mut Transport, bufs: *const eddy_buf_t, n: usize) -> c_int {
    guard(|| {
        let t = bound_arg(t)?;
        let bufs = slice(bufs, n)?;
        let mut slices = Vec::new();
        slices.try_reserve_exact(n).map_err(|_| EDDY_ENOMEM)?;
        for b in bufs {
            slices.push(bytes(b.base, b.len)?);
        }
        total_len(&slices)?;
        t.writelines(&slices)?;
        Ok(0)
    })
}

/// 1 for sockets and write pipes, 0 for read pipes.
#[no_mangle]
pub extern "C" fn eddy_transport_can_write_eof(t: *const Transport) -> c_int {
    guard(|| Ok(bound_arg(t)?.can_write_eof() as c_int))
}

/// Half-closes: shutdown(SHUT_WR) once the buffer drains (a write pipe
/// closes). No-op when closing or done already.
#[no_mangle]
pub extern "C" fn eddy_transport_write_eof(t: *mut Transport) -> c_int {
    guard(|| {
        bound_arg(t)?.write_eof()?;
        Ok(0)
    })
}

/// Closes at once, dropping buffered data; connection_lost(0) follows on
/// the next iteration.
#[no_mangle]
pub extern "C" fn eddy_transport_abort(t: *mut Transport) -> c_int {
    guard(|| {
        bound_arg(t)?.abort();
        Ok(0)
    })
}

/// Bytes buffered in user space (0 for NULL).
#[no_mangle]
pub extern "C" fn eddy_transport_get_write_buffer_size(t: *const Transport) -> usize {
    guard_or(0, || bound_arg(t).map_or(0, |t| t.get_write_buffer_size()))
}

/// The flow-control limits (defaults: low 16 KiB, high 64 KiB). Either
/// output may be NULL (that limit is not reported).
#[no_mangle]
pub extern "C" fn eddy_transport_get_write_buffer_limits(t: *const Transport, low: *mut usize, high: *mut usize) -> c_int {
    guard(|| {
        let (l, h) = bound_arg(t)?.get_write_buffer_limits();
        put(low, l);
        put(high, h);
        Ok(0)
    })
}

fn limit(v: i64) -> Result<Option<usize>, c_int> {
    match v {
        -1 => Ok(None),
        v if v < 0 => Err(EDDY_EINVAL),
        v => Ok(Some(v as usize)),
    }
}

/// Sets the limits (-1: derived as asyncio does: high = 4 * low, low =
/// high / 4, default high 64 KiB). `EDDY_EINVAL` unless high >= low >= 0.
/// May call pause_writing at once; never resume_writing.
#[no_mangle]
pub extern "C" fn eddy_transport_set_write_buffer_limits(t: *mut Transport, high: i64, low: i64) -> c_int {
    guard(|| {
        bound_arg(t)?.set_write_buffer_limits(limit(high)?, limit(low)?)?;
        Ok(0)
    })
}
