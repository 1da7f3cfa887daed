//! `eddy_loop_getaddrinfo`, `eddy_loop_getnameinfo` and
//! `eddy_freeaddrinfo`: the resolver calls that run on the executor.

use std::ffi::{c_char, c_int};

use super::*;
use crate::dns::{self, Hints};

/// `getnameinfo`'s result (free with `eddy_free`).
#[repr(C)]
pub struct eddy_nameinfo_t {
    pub host: [c_char; 1025],
    pub serv: [c_char; 32],
}

/// Resolves `host`/`port` (either may be NULL) off the loop's thread. The
/// future's pointer is a `struct addrinfo` list for `eddy_freeaddrinfo`;
/// failures are `EDDY_EAI_*` codes.
#[no_mangle]
pub extern "C" fn eddy_loop_getaddrinfo(
    r#loop: *mut EventLoop,
    host: *const c_char,
    port: *const c_char,
    hints: *const libc::addrinfo,
    out: *mut *mut Future,
) -> c_int {
    start_on_loop(r#loop, out, |lp| {
        // SAFETY: a non-null hints points to a struct addrinfo (docs/api.md).
        let hints = unsafe { hints.as_ref() }.map_or(Hints::default(), |h| Hints {
            flags: h.ai_flags,
            family: h.ai_family,
            socktype: h.ai_socktype,
            protocol: h.ai_protocol,
        });
        dns::getaddrinfo(lp, c_string(host), c_string(port), hints)
    })
}

fn pack_nameinfo(host: &[u8], serv: &[u8]) -> Result<usize, c_int> {
    // SAFETY: malloc of the struct's size; checked for NULL below.
    let p = unsafe { libc::calloc(1, std::mem::size_of::<eddy_nameinfo_t>()) }.cast::<eddy_nameinfo_t>();
    // SAFETY: calloc returned zeroed memory for one eddy_nameinfo_t, which
    // is valid for every bit pattern.
    let ni = unsafe { p.as_mut() }.ok_or(EDDY_ENOMEM)?;
    let copy = |dst: &mut [c_char], src: &[u8]| {
        let n = src.len().min(dst.len() - 1);
        for (d, s) in dst.iter_mut().zip(&src[..n]) {
            *d = *s as c_char;
        }
    };
    copy(&mut ni.host, host);
    copy(&mut ni.serv, serv);
    Ok(p as usize)
}

fn discard_nameinfo(p: usize, _: i64) {
    super::error::eddy_free(p as *mut c_void)
}

/// Looks up the host and service names of `addr` off the loop's thread.
/// The future's pointer is an `eddy_nameinfo_t` (free with `eddy_free`).
#[no_mangle]
pub extern "C" fn eddy_loop_getnameinfo(
    r#loop: *mut EventLoop,
    addr: *const libc::sockaddr,
    addrlen: libc::socklen_t,
    flags: c_int,
    out: *mut *mut Future,
) -> c_int {
    start_on_loop(r#loop, out, |lp| {
        let addr = sockaddr_arg(addr, addrlen)?;
        dns::getnameinfo(lp, addr, flags, pack_nameinfo, discard_nameinfo)
    })
}

/// Frees a list from `eddy_loop_getaddrinfo`. NULL is a no-op.
#[no_mangle]
pub extern "C" fn eddy_freeaddrinfo(ai: *mut libc::addrinfo) {
    if !ai.is_null() {
        // SAFETY: the list came from getaddrinfo via this library and the
        // caller frees it once.
        unsafe { libc::freeaddrinfo(ai) }
    }
}
