//! `eddy_executor_*` and `eddy_loop_run_in_executor`.

use std::ffi::{c_int, c_void};
use std::sync::Arc;

use super::*;
use crate::executor::{self, Executor, WorkFn};

/// Work for an executor: runs on a worker thread; stores its value in
/// `*result_ptr` / `*result_n` and returns 0, or returns a negative code
/// that becomes the future's error.
pub type eddy_work_fn =
    Option<extern "C" fn(user_data: *mut c_void, result_ptr: *mut *mut c_void, result_n: *mut i64) -> c_int>;

struct SendPtr(*mut c_void);
// SAFETY: the caller's data pointer is handed to its own work function on
// the worker thread; docs/api.md makes the caller responsible for that use.
unsafe impl Send for SendPtr {}

/// A thread pool of at most `max_workers` threads (0: min(32, cpus + 4)),
/// started on demand. Thread-safe.
#[no_mangle]
pub extern "C" fn eddy_executor_new_thread_pool(max_workers: usize, out: *mut *mut Executor) -> c_int {
    guard(|| {
        if out.is_null() {
            return Err(EDDY_EINVAL);
        }
        give(out, Executor::new(max_workers));
        Ok(0)
    })
}

/// Refuses new work (`EDDY_ECLOSED`); queued work still runs. With `wait`,
/// returns once every worker thread has finished. Thread-safe.
#[no_mangle]
pub extern "C" fn eddy_executor_shutdown(ex: *mut Executor, wait: bool) -> c_int {
    guard(|| {
        arg(ex)?.shutdown(wait);
        Ok(0)
    })
}

/// Takes one more reference. Thread-safe; NULL is a no-op.
#[no_mangle]
pub extern "C" fn eddy_executor_retain(ex: *mut Executor) {
    guard_or((), || retain(ex))
}

/// Drops one reference; the last one shuts the pool down without waiting.
/// Thread-safe; NULL is a no-op.
#[no_mangle]
pub extern "C" fn eddy_executor_release(ex: *mut Executor) {
    guard_or((), || release(ex))
}

/// Runs `fn(ud, &ptr, &n)` on `ex` (NULL: the loop's default executor);
/// `*out` (required) receives the future, which gets the value or error on
/// the loop's thread. Cancelling the
/// future before the work starts keeps it from running; a result produced
/// after cancellation is dropped (not freed: it is the caller's to manage).
#[no_mangle]
pub extern "C" fn eddy_loop_run_in_executor(
    r#loop: *mut EventLoop,
    ex: *mut Executor,
    r#fn: eddy_work_fn,
    ud: *mut c_void,
    out: *mut *mut Future,
) -> c_int {
    guard(|| {
        required(out)?;
        let lp = loop_arg(r#loop)?;
        let f = r#fn.ok_or(EDDY_EINVAL)?;
        let ex = (!ex.is_null()).then(|| arc_arg(ex)).transpose()?;
        let ud = SendPtr(ud);
        let work: WorkFn = Box::new(move || {
            let ud = ud;
            let (mut p, mut n) = (std::ptr::null_mut(), 0i64);
            match f(ud.0, &mut p, &mut n) {
                rc if rc < 0 => Err((rc, None)),
                _ => Ok((p as usize, n)),
            }
        });
        give(out, executor::run_in_executor(&lp, ex.as_deref(), work, None)?);
        Ok(0)
    })
}

/// Replaces the loop's default executor (the loop keeps a reference).
#[no_mangle]
pub extern "C" fn eddy_loop_set_default_executor(r#loop: *mut EventLoop, ex: *mut Executor) -> c_int {
    guard(|| {
        let lp = loop_arg(r#loop)?;
        lp.set_default_executor(Arc::clone(&*arc_arg(ex)?))?;
        Ok(0)
    })
}

/// Shuts the default executor down; `*out` (may be NULL) completes once its
/// threads have finished. Later default-executor work gets `EDDY_ECLOSED`.
#[no_mangle]
pub extern "C" fn eddy_loop_shutdown_default_executor(r#loop: *mut EventLoop, out: *mut *mut Future) -> c_int {
    guard(|| {
        give(out, executor::shutdown_default_executor(&*loop_arg(r#loop)?)?);
        Ok(0)
    })
}

