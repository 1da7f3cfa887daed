//! `eddy_handle_*`: scheduled callbacks.

use std::ffi::c_int;

use super::*;
use crate::events::Handle;

/// Cancels the callback: it will not run. Idempotent.
#[no_mangle]
pub extern "C" fn eddy_handle_cancel(h: *mut Handle) -> c_int {
    guard(|| {
        arg(h)?.cancel();
        Ok(0)
    })
}

/// 1 if cancelled, else 0.
#[no_mangle]
pub extern "C" fn eddy_handle_cancelled(h: *const Handle) -> c_int {
    guard(|| Ok(arg(h)?.cancelled() as c_int))
}

/// The timer's deadline on the loop's clock. `EDDY_EINVAL` for call_soon
/// handles.
#[no_mangle]
pub extern "C" fn eddy_handle_when(h: *const Handle, out: *mut f64) -> c_int {
    guard(|| {
        let when = arg(h)?.when().ok_or(EDDY_EINVAL)?;
        if out.is_null() {
            return Err(EDDY_EINVAL);
        }
        put(out, when);
        Ok(0)
    })
}

/// Takes one more reference. Thread-safe; NULL is a no-op.
#[no_mangle]
pub extern "C" fn eddy_handle_retain(h: *mut Handle) {
    guard_or((), || retain(h))
}

/// Drops one reference (the callback stays scheduled). Thread-safe; NULL is
/// a no-op.
#[no_mangle]
pub extern "C" fn eddy_handle_release(h: *mut Handle) {
    guard_or((), || release(h))
}
