//! `eddy_future_*` and `eddy_task_*`.

use std::ffi::{c_char, c_int, c_void};

use super::event_loop::eddy_task_step_fn;
use super::*;
use crate::tasks;

/// A done callback: the future is borrowed for the call.
pub type eddy_future_cb = Option<extern "C" fn(fut: *mut Future, user_data: *mut c_void)>;

/// Completes the future with a value; its done callbacks are scheduled.
/// `EDDY_EINVALSTATE` when already done, or for a task outside its step.
#[no_mangle]
pub extern "C" fn eddy_future_set_result(f: *mut Future, ptr: *mut c_void, n: i64) -> c_int {
    guard(|| {
        bound_arg(f)?.set_result(ptr, n)?;
        Ok(0)
    })
}

/// Completes the future with `err` (a negative code; else `EDDY_EINVAL`)
/// and an optional message, which is copied.
#[no_mangle]
pub extern "C" fn eddy_future_set_error(f: *mut Future, err: c_int, message: *const c_char) -> c_int {
    guard(|| {
        bound_arg(f)?.set_error(err, c_string(message))?;
        Ok(0)
    })
}

/// 1 if the future was pending and is now cancelled (for a task: asked to
/// cancel), 0 if it was already done.
#[no_mangle]
pub extern "C" fn eddy_future_cancel(f: *mut Future) -> c_int {
    guard(|| Ok(bound_arg(f)?.cancel() as c_int))
}

/// 1 once the future has a result, an error or is cancelled.
#[no_mangle]
pub extern "C" fn eddy_future_done(f: *const Future) -> c_int {
    guard(|| Ok(bound_arg(f)?.done() as c_int))
}

/// 1 if the future was cancelled.
#[no_mangle]
pub extern "C" fn eddy_future_cancelled(f: *const Future) -> c_int {
    guard(|| Ok(bound_arg(f)?.cancelled() as c_int))
}

/// 0 with the value in `*ptr`/`*n` (each may be NULL), or the future's
/// error, `EDDY_ECANCELED`, or `EDDY_EINVALSTATE` while pending.
#[no_mangle]
pub extern "C" fn eddy_future_result(f: *const Future, ptr: *mut *mut c_void, n: *mut i64) -> c_int {
    guard(|| {
        let (p, v) = bound_arg(f)?.result()?;
        put(ptr, p);
        put(n, v);
        Ok(0)
    })
}

/// The error's message, valid while the future lives; NULL when none.
#[no_mangle]
pub extern "C" fn eddy_future_error_message(f: *const Future) -> *const c_char {
    guard_or(std::ptr::null(), || bound_arg(f).map_or(std::ptr::null(), |f| f.error_message()))
}

/// How many errors of single steps a failed future's error comes with, in
/// the order they happened: create_connection gives one per address it
/// tried (or could not bind a local address for); 0 for other futures.
#[no_mangle]
pub extern "C" fn eddy_future_error_count(f: *const Future) -> usize {
    guard_or(0, || bound_arg(f).map_or(0, |f| f.cause_count()))
}

/// The `i`th of those errors: `*code` and `*message` (asyncio's message
/// for that step, valid while the future lives). `EDDY_EINVAL` for NULL
/// arguments or `i` out of range.
#[no_mangle]
pub extern "C" fn eddy_future_error_at(f: *const Future, i: usize, code: *mut c_int, message: *mut *const c_char) -> c_int {
    guard(|| {
        if code.is_null() || message.is_null() {
            return Err(EDDY_EINVAL);
        }
        let (e, m) = bound_arg(f)?.cause(i).ok_or(EDDY_EINVAL)?;
        put(code, e);
        put(message, m);
        Ok(0)
    })
}

/// Schedules `cb(f, ud)` for when the future is done (at once, via
/// call_soon, if it is done already).
#[no_mangle]
pub extern "C" fn eddy_future_add_done_callback(f: *mut Future, cb: eddy_future_cb, ud: *mut c_void) -> c_int {
    guard(|| {
        bound_arg(f)?.add_done_callback(cb.ok_or(EDDY_EINVAL)?, ud);
        Ok(0)
    })
}

/// Removes every registration of (`cb`, `ud`); returns how many.
#[no_mangle]
pub extern "C" fn eddy_future_remove_done_callback(f: *mut Future, cb: eddy_future_cb, ud: *mut c_void) -> c_int {
    guard(|| Ok(bound_arg(f)?.remove_done_callback(cb.ok_or(EDDY_EINVAL)?, ud) as c_int))
}

/// The future's loop (borrowed); NULL for a NULL future.
#[no_mangle]
pub extern "C" fn eddy_future_get_loop(f: *const Future) -> *mut EventLoop {
    guard_or(std::ptr::null_mut(), || {
        arg(f).map_or(std::ptr::null_mut(), |f| Arc::as_ptr(f.get_loop()).cast_mut())
    })
}

/// Takes one more reference. Thread-safe; NULL is a no-op.
#[no_mangle]
pub extern "C" fn eddy_future_retain(f: *mut Future) {
    guard_or((), || retain(f))
}

/// Drops one reference. Thread-safe; NULL is a no-op. A result pointer the
/// library allocated is never freed here: it belongs to the caller.
#[no_mangle]
pub extern "C" fn eddy_future_release(f: *mut Future) {
    guard_or((), || release(f))
}

/// 1 for a task, 0 for a plain future.
#[no_mangle]
pub extern "C" fn eddy_future_is_task(f: *const Future) -> c_int {
    guard(|| Ok(arg(f)?.is_task() as c_int))
}

/// A task that bypasses the task factory. `*out` (may be NULL) receives a
/// reference, as for `eddy_loop_create_task`.
#[no_mangle]
pub extern "C" fn eddy_task_new(
    r#loop: *mut EventLoop,
    step: eddy_task_step_fn,
    ud: *mut c_void,
    out: *mut *mut Future,
) -> c_int {
    guard(|| {
        let lp = loop_arg(r#loop)?;
        give(out, tasks::new_task(&lp, step.ok_or(EDDY_EINVAL)?, ud)?);
        Ok(0)
    })
}

/// From inside the task's step: run the next step when `awaited` is done.
/// `EDDY_EINVALSTATE` outside the step; `EDDY_EINVAL` for the task itself or
/// a future of another loop.
#[no_mangle]
pub extern "C" fn eddy_task_await(task: *mut Future, awaited: *mut Future) -> c_int {
    guard(|| {
        tasks::await_(&*bound_arg(task)?, &*bound_arg(awaited)?)?;
        Ok(0)
    })
}

/// From inside the task's step: run the next step on the next iteration.
#[no_mangle]
pub extern "C" fn eddy_task_yield(task: *mut Future) -> c_int {
    guard(|| {
        tasks::yield_(&*bound_arg(task)?)?;
        Ok(0)
    })
}

/// The number of pending cancel requests (non-zero: the step should wind
/// down). `EDDY_EINVAL` for a plain future.
#[no_mangle]
pub extern "C" fn eddy_task_cancelling(task: *const Future) -> c_int {
    guard(|| Ok(tasks::cancelling(&**bound_arg(task)?)? as c_int))
}
