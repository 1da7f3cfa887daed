//! Error names and messages, versions, and freeing what the library
//! allocated for the caller.

use std::ffi::{c_char, c_int, c_uint, c_void};

use super::guard_or;
use crate::error;

/// The library's major version.
pub const EDDY_VERSION_MAJOR: c_uint = 0;
/// The library's minor version (part of the soname before 1.0).
pub const EDDY_VERSION_MINOR: c_uint = 1;
/// The library's patch version.
pub const EDDY_VERSION_PATCH: c_uint = 0;
/// `(major << 16) | (minor << 8) | patch`, as returned by `eddy_version()`.
pub const EDDY_VERSION_HEX: c_uint = 0x000100;

/// A static, NUL-terminated description of `err` (0 or an `EDDY_E*` code).
/// Never NULL; unknown codes give "unknown error". Thread-safe.
#[no_mangle]
pub extern "C" fn eddy_strerror(err: c_int) -> *const c_char {
    guard_or(c"internal error".as_ptr(), || error::strerror(err).as_ptr())
}

/// The symbolic name of `err` ("EDDY_EINVAL"), static. Never NULL; unknown
/// codes give "EDDY_UNKNOWN". Thread-safe.
#[no_mangle]
pub extern "C" fn eddy_err_name(err: c_int) -> *const c_char {
    guard_or(c"EDDY_UNKNOWN".as_ptr(), || error::err_name(err).as_ptr())
}

/// The runtime library's version as `EDDY_VERSION_HEX` encodes it.
#[no_mangle]
pub extern "C" fn eddy_version() -> c_uint {
    EDDY_VERSION_HEX
}

/// The runtime library's version as "MAJOR.MINOR.PATCH" (static).
#[no_mangle]
pub extern "C" fn eddy_version_string() -> *const c_char {
    concat!(env!("CARGO_PKG_VERSION"), "\0").as_ptr().cast()
}

/// Frees memory the library allocated for the caller (a sock_recv buffer,
/// an `eddy_nameinfo_t`, ...). NULL is a no-op.
#[no_mangle]
pub extern "C" fn eddy_free(p: *mut c_void) {
    // SAFETY: the library allocates what it hands to the caller with
    // malloc, and free(NULL) is a no-op.
    unsafe { libc::free(p) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn version_constants_match_the_crate() {
        let v: Vec<c_uint> = env!("CARGO_PKG_VERSION").split('.').map(|p| p.parse().unwrap()).collect();
        assert_eq!(v, [EDDY_VERSION_MAJOR, EDDY_VERSION_MINOR, EDDY_VERSION_PATCH]);
        assert_eq!(EDDY_VERSION_HEX, (v[0] << 16) | (v[1] << 8) | v[2]);
    }
}
