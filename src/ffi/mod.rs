//! The C boundary. Every export is a thin shim: the panic boundary
//! (`guard`), argument checks (`arg`, `loop_arg`, ...), then one call into
//! the safe core. This is the only module that dereferences raw pointers.
//! Its type names are C's (`eddy_*_t`), hence the lint exception.
#![allow(non_camel_case_types)]
// Exports take raw pointers by design; `arg` and friends are where they are
// checked and dereferenced.
#![allow(clippy::not_unsafe_ptr_arg_deref)]

use std::ffi::{c_int, c_void};
use std::mem::ManuallyDrop;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::Arc;

use crate::base_events::EventLoop;
use crate::error::*;
use crate::events::{self, Callback, ErrorContext};
use crate::futures::Future;

pub mod datagram;
pub mod dns;
pub mod endpoints;
pub mod error;
pub mod event_loop;
pub mod executor;
pub mod future;
pub mod handle;
pub mod policy;
pub mod sendfile;
pub mod server;
pub mod sock;
pub mod sslproto;
pub mod subprocess;
pub mod transport;

// SAFETY: a Callback is a C function pointer and the caller's opaque data
// pointer, which the library never dereferences. docs/api.md makes the caller
// responsible for the data being usable on the thread that runs the
// callback (the loop's), which is what call_soon_threadsafe needs.
unsafe impl Send for Callback {}
// SAFETY: as above; a Callback is immutable once made.
unsafe impl Sync for Callback {}

/// Runs `f` behind the panic boundary: its `Err(code)` or `Ok(value)` is
/// returned to C, and a panic becomes `EDDY_EPANIC`, reported to the
/// running loop's exception handler (if any; the panic hook has already
/// written the panic to stderr).
#[inline]
pub(crate) fn guard(f: impl FnOnce() -> Result<c_int, c_int>) -> c_int {
    guard_or(EDDY_EPANIC, || f().unwrap_or_else(|e| e))
}

/// The panic boundary for exports whose return value is not a code: `neutral`
/// is returned on panic.
#[inline]
pub(crate) fn guard_or<T>(neutral: T, f: impl FnOnce() -> T) -> T {
    match catch_unwind(AssertUnwindSafe(f)) {
        Ok(v) => v,
        Err(_) => {
            report_panic();
            neutral
        }
    }
}

fn report_panic() {
    let lp = events::get_running_loop();
    if lp.is_null() {
        return;
    }
    // SAFETY: a running loop is kept alive by run_forever's own reference
    // for as long as it is registered as running in this thread.
    let lp = unsafe { borrow_arc(lp) };
    let _ = catch_unwind(AssertUnwindSafe(|| {
        lp.report(ErrorContext::new("a panic was caught at the C boundary", EDDY_EPANIC))
    }));
}

/// A shared reference to the object behind a non-null pointer.
pub(crate) fn arg<'a, T>(p: *const T) -> Result<&'a T, c_int> {
    // SAFETY: docs/api.md's ownership rules: a non-null object pointer passed to
    // the library is one the library handed out and the caller still holds
    // a reference to, so it points to a live T for the call's duration.
    unsafe { p.as_ref() }.ok_or(EDDY_EINVAL)
}

/// The `Arc` behind a pointer that came from `Arc::into_raw`/`Arc::as_ptr`,
/// without touching its count.
///
/// # Safety
/// `p` must be non-null and point to a `T` owned by a live `Arc`.
pub(crate) unsafe fn borrow_arc<T>(p: *const T) -> ManuallyDrop<Arc<T>> {
    // SAFETY: per this function's contract; ManuallyDrop keeps the count.
    ManuallyDrop::new(unsafe { Arc::from_raw(p) })
}

/// A C object argument as its `Arc` (not counted), or `EDDY_EINVAL` for NULL.
pub(crate) fn arc_arg<T>(p: *const T) -> Result<ManuallyDrop<Arc<T>>, c_int> {
    if p.is_null() {
        return Err(EDDY_EINVAL);
    }
    // SAFETY: see `arg`: every object the library hands out lives in an Arc.
    Ok(unsafe { borrow_arc(p) })
}

/// A loop argument for a non-thread-safe call (checked in debug mode).
pub(crate) fn loop_arg(p: *const EventLoop) -> Result<ManuallyDrop<Arc<EventLoop>>, c_int> {
    let lp = arc_arg(p)?;
    lp.check_thread()?;
    Ok(lp)
}

/// A library object that belongs to one loop: calls on it are made on that
/// loop's thread (checked in debug mode).
pub(crate) trait LoopBound {
    fn home(&self) -> &EventLoop;
}

// Every object but the loop reaches its loop with get_loop.
macro_rules! loop_bound {
    ($($t:ty),*) => {$(
        impl LoopBound for $t {
            fn home(&self) -> &EventLoop {
                self.get_loop()
            }
        }
    )*};
}
loop_bound!(Future, crate::transports::Transport, crate::datagram::Datagram, crate::server::Server, crate::base_subprocess::Process);

/// An object argument for a non-thread-safe call: its `Arc` (not counted),
/// `EDDY_EINVAL` for NULL.
#[inline]
pub(crate) fn bound_arg<T: LoopBound>(p: *const T) -> Result<ManuallyDrop<Arc<T>>, c_int> {
    let o = arc_arg(p)?;
    o.home().check_thread()?;
    Ok(o)
}

/// `n` elements of `T` as a byte count a slice (and read/write(2)) can
/// hold: at most `isize::MAX` bytes. Checked before any memory is touched,
/// so that an absurd length is an error, not a read past the caller's
/// buffer or an allocation that aborts.
fn span<T>(n: usize) -> Result<usize, c_int> {
    n.checked_mul(std::mem::size_of::<T>()).filter(|&b| b <= isize::MAX as usize).ok_or(EDDY_EINVAL)
}

/// An array argument the caller passes for the duration of the call: empty
/// for `n == 0` (any pointer), `EDDY_EINVAL` for NULL or a span too large
/// for memory.
pub(crate) fn slice<'a, T>(p: *const T, n: usize) -> Result<&'a [T], c_int> {
    span::<T>(n)?;
    if n == 0 {
        return Ok(&[]);
    }
    if p.is_null() {
        return Err(EDDY_EINVAL);
    }
    // SAFETY: the caller passes p readable for n elements for the call, and
    // n elements fit in isize::MAX bytes (checked above).
    Ok(unsafe { std::slice::from_raw_parts(p, n) })
}

/// As `slice`, for an array the library writes into during the call.
pub(crate) fn slice_mut<'a, T>(p: *mut T, n: usize) -> Result<&'a mut [T], c_int> {
    span::<T>(n)?;
    if n == 0 {
        return Ok(&mut []);
    }
    if p.is_null() {
        return Err(EDDY_EINVAL);
    }
    // SAFETY: the caller passes p writable for n elements for the call, not
    // aliased meanwhile, and n elements fit in isize::MAX bytes.
    Ok(unsafe { std::slice::from_raw_parts_mut(p, n) })
}

/// A byte range the caller passes for the duration of the call.
pub(crate) fn bytes<'a>(data: *const c_void, len: usize) -> Result<&'a [u8], c_int> {
    slice(data.cast::<u8>(), len)
}

/// A buffer the caller lends until an operation completes (docs/api.md: valid
/// and untouched by the caller until the future is done or cancelled).
pub(crate) fn lent(buf: *mut c_void, len: usize) -> Result<crate::sys::UserBuf, c_int> {
    span::<u8>(len)?;
    if buf.is_null() && len > 0 {
        return Err(EDDY_EINVAL);
    }
    // SAFETY: per docs/api.md as above; len fits a slice (checked).
    Ok(unsafe { crate::sys::UserBuf::new(buf.cast(), len) })
}

/// The total length of several byte ranges, `EDDY_EINVAL` when it does not
/// fit in memory (each part alone may).
pub(crate) fn total_len(parts: &[&[u8]]) -> Result<usize, c_int> {
    parts.iter().try_fold(0usize, |sum, p| sum.checked_add(p.len())).and_then(|t| span::<u8>(t).ok()).ok_or(EDDY_EINVAL)
}

/// Writes a new reference to `obj` through `out`, or drops it when `out` is
/// NULL (the caller did not ask for it).
pub(crate) fn give<T>(out: *mut *mut T, obj: Arc<T>) {
    if !out.is_null() {
        // SAFETY: a non-null out-parameter points to writable storage for a
        // pointer (docs/api.md conventions).
        unsafe { *out = Arc::into_raw(obj).cast_mut() };
    }
}

/// The shape of every call that starts an operation on a loop: the
/// future's out-parameter is required, the loop is checked, then `start`
/// runs and its future is handed out.
pub(crate) fn start_on_loop(
    lp: *const EventLoop,
    out: *mut *mut Future,
    start: impl FnOnce(&Arc<EventLoop>) -> Result<Arc<Future>, c_int>,
) -> c_int {
    guard(|| {
        required(out)?;
        let lp = loop_arg(lp)?;
        give(out, start(&lp)?);
        Ok(0)
    })
}

/// The out-parameter rule (docs/api.md, the header's preamble): every
/// out-parameter is required, NULL is `EDDY_EINVAL` and nothing is done,
/// unless its doc comment says it may be NULL and what then happens to the
/// result.
pub(crate) fn required<T>(out: *mut T) -> Result<(), c_int> {
    if out.is_null() {
        return Err(EDDY_EINVAL);
    }
    Ok(())
}

/// Writes `value` through an optional out-pointer.
pub(crate) fn put<T>(out: *mut T, value: T) {
    if !out.is_null() {
        // SAFETY: a non-null out-parameter points to writable storage for T.
        unsafe { *out = value };
    }
}

/// retain for any Arc-backed C object (thread-safe, NULL is a no-op).
pub(crate) fn retain<T>(p: *const T) {
    if !p.is_null() {
        // SAFETY: p is a live object the caller holds a reference to.
        unsafe { Arc::increment_strong_count(p) }
    }
}

/// release for any Arc-backed C object (thread-safe, NULL is a no-op).
pub(crate) fn release<T>(p: *const T) {
    if !p.is_null() {
        // SAFETY: p is a live object and the caller gives up one reference.
        unsafe { Arc::decrement_strong_count(p) }
    }
}

/// A callback from C: NULL is `EDDY_EINVAL`.
pub(crate) fn callback(f: event_loop::eddy_callback_fn, ud: *mut c_void) -> Result<Callback, c_int> {
    Ok(Callback::new(f.ok_or(EDDY_EINVAL)?, ud))
}

/// A C string argument (may be NULL) copied into an owned string.
pub(crate) fn c_string(p: *const std::ffi::c_char) -> Option<std::ffi::CString> {
    if p.is_null() {
        return None;
    }
    // SAFETY: a non-null string argument is NUL-terminated (docs/api.md).
    Some(unsafe { std::ffi::CStr::from_ptr(p) }.to_owned())
}

/// An optional path argument (any bytes but NUL, as Unix paths are).
pub(crate) fn opt_path(p: *const std::ffi::c_char) -> Option<std::path::PathBuf> {
    use std::os::unix::ffi::OsStringExt;
    c_string(p).map(|s| std::path::PathBuf::from(std::ffi::OsString::from_vec(s.into_bytes())))
}

/// An optional UTF-8 string argument (host names, paths given as text);
/// `EDDY_EINVAL` for invalid UTF-8.
pub(crate) fn opt_str(p: *const std::ffi::c_char) -> Result<Option<String>, c_int> {
    c_string(p).map(|s| s.into_string().map_err(|_| EDDY_EINVAL)).transpose()
}

/// A socket address argument copied into an owned address; `EDDY_EINVAL`
/// for NULL or a length outside (0, sizeof(struct sockaddr_storage)].
pub(crate) fn sockaddr_arg(addr: *const libc::sockaddr, len: libc::socklen_t) -> Result<socket2::SockAddr, c_int> {
    Ok(raw_addr_arg(addr, len)?.to_sockaddr())
}

/// A socket address argument borrowed for the call (the datagram send
/// path); the same checks as `sockaddr_arg`.
pub(crate) fn raw_addr_arg<'a>(addr: *const libc::sockaddr, len: libc::socklen_t) -> Result<crate::sys::RawAddr<'a>, c_int> {
    if addr.is_null() || len as usize > std::mem::size_of::<libc::sockaddr_storage>() {
        return Err(EDDY_EINVAL);
    }
    // SAFETY: the caller passes an address readable for `len` bytes for
    // the call (docs/api.md), and the length is bounded above.
    crate::sys::RawAddr::new(unsafe { std::slice::from_raw_parts(addr.cast::<u8>(), len as usize) })
}
