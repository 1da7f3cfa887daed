//! `eddy_loop_*`: lifecycle, debug mode, scheduling, fd watchers, the
//! exception handler and the task factory.

use std::any::Any;
use std::ffi::{c_char, c_int, c_void, CString};
use std::rc::Rc;
use std::sync::Arc;

use super::*;
use crate::base_events::{self, ExceptionHandler, LoopRef, PollHooks};
use crate::events::{Handle, Opaque};
use crate::base_subprocess::Process;
use crate::datagram::Datagram;
use crate::server::Server;
use crate::transports::Transport;
use crate::tasks::{self, StepFn, TaskFactory};


/// A plain callback: runs with the data pointer given when it was scheduled.
pub type eddy_callback_fn = Option<extern "C" fn(user_data: *mut c_void)>;

/// What the exception handler is told (asyncio's context dict). Pointers
/// are borrowed for the duration of the handler call.
#[repr(C)]
pub struct eddy_error_context_t {
    /// Never NULL.
    pub message: *const c_char,
    /// 0 or an `EDDY_E*` code.
    pub error: c_int,
    pub handle: *mut Handle,
    pub future: *mut Future,
    pub transport: *mut Transport,
    pub datagram: *mut Datagram,
    pub process: *mut Process,
    pub server: *mut Server,
}

/// An exception handler: called on the loop's thread with the context.
pub type eddy_exception_handler_fn =
    Option<extern "C" fn(r#loop: *mut EventLoop, ctx: *const eddy_error_context_t, user_data: *mut c_void)>;

/// A task's step function (C's stand-in for a coroutine).
pub type eddy_task_step_fn = Option<extern "C" fn(task: *mut Future, user_data: *mut c_void)>;

/// A task factory: make a task for `step`/`step_ud` and store one reference
/// to it in `*out`; return 0 or a negative code.
pub type eddy_task_factory_fn = Option<
    extern "C" fn(
        r#loop: *mut EventLoop,
        step: eddy_task_step_fn,
        step_ud: *mut c_void,
        out: *mut *mut Future,
        factory_ud: *mut c_void,
    ) -> c_int,
>;

fn ptr_of<T>(a: &Option<Arc<T>>) -> *mut T {
    a.as_ref().map_or(std::ptr::null_mut(), |a| Arc::as_ptr(a).cast_mut())
}

/// Calls `f` with the C view of `ctx` (valid during the call).
fn with_c_context(ctx: &ErrorContext, f: impl FnOnce(&eddy_error_context_t)) {
    let message = CString::new(ctx.message.replace('\0', " ")).unwrap_or_default();
    let c = eddy_error_context_t {
        message: message.as_ptr(),
        error: ctx.error,
        handle: ptr_of(&ctx.handle),
        future: ptr_of(&ctx.future),
        transport: ctx.transport.0.cast(),
        datagram: ctx.datagram.0.cast(),
        process: ctx.process.0.cast(),
        server: ctx.server.0.cast(),
    };
    f(&c)
}

/// The core's view of a C context; the handle and future are retained for
/// as long as the context lives.
fn from_c_context(c: &eddy_error_context_t) -> Result<ErrorContext, c_int> {
    let message = c_string(c.message).ok_or(EDDY_EINVAL)?;
    fn counted<T>(p: *const T) -> Option<Arc<T>> {
        arc_arg(p).ok().map(|a| Arc::clone(&a))
    }
    Ok(ErrorContext {
        message: message.to_string_lossy().into_owned(),
        error: c.error,
        handle: counted(c.handle),
        future: counted(c.future),
        transport: Opaque(c.transport.cast()),
        datagram: Opaque(c.datagram.cast()),
        process: Opaque(c.process.cast()),
        server: Opaque(c.server.cast()),
    })
}

struct CExceptionHandler {
    f: extern "C" fn(*mut EventLoop, *const eddy_error_context_t, *mut c_void),
    ud: *mut c_void,
}

impl ExceptionHandler for CExceptionHandler {
    fn call(&self, lp: &Arc<EventLoop>, ctx: &ErrorContext) {
        with_c_context(ctx, |c| (self.f)(Arc::as_ptr(lp).cast_mut(), c, self.ud))
    }
    fn as_any(&self) -> &dyn Any {
        self
    }
}

struct CPollHooks {
    before: extern "C" fn(*mut c_void),
    after: extern "C" fn(*mut c_void),
    ud: *mut c_void,
}

impl PollHooks for CPollHooks {
    fn before_wait(&self) {
        (self.before)(self.ud)
    }
    fn after_wait(&self) {
        (self.after)(self.ud)
    }
}

struct CTaskFactory {
    f: extern "C" fn(*mut EventLoop, eddy_task_step_fn, *mut c_void, *mut *mut Future, *mut c_void) -> c_int,
    ud: *mut c_void,
}

impl TaskFactory for CTaskFactory {
    fn create(&self, lp: &Arc<EventLoop>, step: StepFn, data: *mut c_void) -> Result<Arc<Future>, c_int> {
        let mut out: *mut Future = std::ptr::null_mut();
        let rc = (self.f)(Arc::as_ptr(lp).cast_mut(), Some(step), data, &mut out, self.ud);
        if rc < 0 {
            return Err(rc);
        }
        if out.is_null() {
            return Err(EDDY_EINVAL);
        }
        // SAFETY: the factory's contract is to store one reference it gives
        // up to the caller, made by this library.
        let task = unsafe { Arc::from_raw(out) };
        if !Arc::ptr_eq(task.get_loop(), lp) {
            return Err(EDDY_EINVAL);
        }
        Ok(task)
    }
    fn as_any(&self) -> &dyn Any {
        self
    }
}

/// Runs the loop until `eddy_loop_stop` is called. `EDDY_ERUNNING` when this
/// or another loop is already running in this thread, or this loop in
/// another thread; `EDDY_ECLOSED` after close.
#[no_mangle]
pub extern "C" fn eddy_loop_run_forever(r#loop: *mut EventLoop) -> c_int {
    guard(|| {
        loop_arg(r#loop)?.run_forever()?;
        Ok(0)
    })
}

/// Runs the loop until `fut` is done and returns its outcome: 0 for a
/// result, its error code, or `EDDY_ECANCELED`. `EDDY_EINVALSTATE` when the
/// loop was stopped before the future completed; `EDDY_EINVAL` for a future
/// of another loop.
#[no_mangle]
pub extern "C" fn eddy_loop_run_until_complete(r#loop: *mut EventLoop, fut: *mut Future) -> c_int {
    guard(|| {
        let lp = loop_arg(r#loop)?;
        let fut = arc_arg(fut)?;
        lp.run_until_complete(&fut)
    })
}

/// Asks the loop to stop once the callbacks of the current iteration have
/// run. Before run_forever, the next run does exactly one iteration.
#[no_mangle]
pub extern "C" fn eddy_loop_stop(r#loop: *mut EventLoop) -> c_int {
    guard(|| {
        loop_arg(r#loop)?.stop();
        Ok(0)
    })
}

/// Closes the loop: pending callbacks are dropped without running, pending
/// tasks are reported as destroyed, and every fd the loop holds is closed.
/// Idempotent; `EDDY_ERUNNING` while it runs. Once it returns, eddy calls
/// nothing this loop was given again (callbacks, done callbacks, protocols,
/// factories), whatever is then done with its futures, handles, transports
/// and servers: every `ud` lent to the loop may be freed.
#[no_mangle]
pub extern "C" fn eddy_loop_close(r#loop: *mut EventLoop) -> c_int {
    guard(|| {
        loop_arg(r#loop)?.close()?;
        Ok(0)
    })
}

/// 1 while run_forever, run_until_complete or run_once executes, else 0.
#[no_mangle]
pub extern "C" fn eddy_loop_is_running(r#loop: *const EventLoop) -> c_int {
    guard(|| Ok(arg(r#loop)?.is_running() as c_int))
}

/// 1 after close, else 0. Thread-safe.
#[no_mangle]
pub extern "C" fn eddy_loop_is_closed(r#loop: *const EventLoop) -> c_int {
    guard(|| Ok(arg(r#loop)?.is_closed() as c_int))
}

/// C has no async generators: cancels every pending task; `*out` (may be
/// NULL) completes once all of them have finished.
#[no_mangle]
pub extern "C" fn eddy_loop_shutdown_asyncgens(r#loop: *mut EventLoop, out: *mut *mut Future) -> c_int {
    guard(|| {
        give(out, tasks::shutdown_asyncgens(&*loop_arg(r#loop)?)?);
        Ok(0)
    })
}

/// Takes one more reference to the loop. Thread-safe; NULL is a no-op.
#[no_mangle]
pub extern "C" fn eddy_loop_retain(r#loop: *mut EventLoop) {
    guard_or((), || {
        if let Ok(lp) = arc_arg(r#loop) {
            let _ = LoopRef::from_arc(&lp).into_raw();
        }
    })
}

/// Drops one reference. When the last user reference goes, the loop is
/// closed first (or, if it is running, when run_forever returns). NULL is a
/// no-op.
#[no_mangle]
pub extern "C" fn eddy_loop_release(r#loop: *mut EventLoop) {
    guard_or((), || {
        if !r#loop.is_null() {
            // SAFETY: the caller gives up a reference made by this library.
            drop(LoopRef::from_arc_owned(unsafe { Arc::from_raw(r#loop) }));
        }
    })
}

/// Turns debug mode on or off: slow callbacks and slow getaddrinfo lookups
/// are reported, and calls from a thread other than the running loop's
/// return `EDDY_EWRONGTHREAD`.
#[no_mangle]
pub extern "C" fn eddy_loop_set_debug(r#loop: *mut EventLoop, enabled: bool) -> c_int {
    guard(|| {
        arg(r#loop)?.set_debug(enabled);
        Ok(0)
    })
}

/// 1 in debug mode, else 0.
#[no_mangle]
pub extern "C" fn eddy_loop_get_debug(r#loop: *const EventLoop) -> c_int {
    guard(|| Ok(arg(r#loop)?.get_debug() as c_int))
}

/// In debug mode, callbacks (and getaddrinfo lookups) taking at least this
/// long are reported to the exception handler (default 0.1 s). `EDDY_EINVAL`
/// for negative or NaN.
#[no_mangle]
pub extern "C" fn eddy_loop_set_slow_callback_duration(r#loop: *mut EventLoop, seconds: f64) -> c_int {
    guard(|| {
        loop_arg(r#loop)?.set_slow_callback_duration(seconds)?;
        Ok(0)
    })
}

/// While callbacks are ready (the poll would not block), skips the poll of
/// an iteration that comes less than `seconds` after the last poll: a loop
/// busy with chains of callbacks makes no system call per iteration and
/// sees fds become ready at most `seconds` (and 8 iterations) late. The
/// clock is read every 8th iteration that skipped. Polls that may block, the
/// first iteration of each run_forever and every run_once still poll;
/// call_soon_threadsafe work is taken every iteration. 0 (the default)
/// polls every iteration, as asyncio does. `EDDY_EINVAL` for negative or
/// NaN.
///
/// eddy's addition (libuv and asyncio always poll).
#[no_mangle]
pub extern "C" fn eddy_loop_set_busy_poll_interval(r#loop: *mut EventLoop, seconds: f64) -> c_int {
    guard(|| {
        loop_arg(r#loop)?.set_busy_poll_interval(seconds)?;
        Ok(0)
    })
}

/// For a binding that keeps its own queue of ready callbacks and runs it
/// from one eddy callback, rescheduled with `eddy_loop_call_soon` while
/// its queue is not empty (as the Python binding does): returns 1 when the
/// loop's next iteration would do nothing but run that callback again, and
/// counts that iteration as run, so the caller may take its next batch at
/// once instead of going through the loop. That is when a busy-poll
/// interval is set (`eddy_loop_set_busy_poll_interval`) and lets the
/// iteration skip its poll, the loop is running, no stop was asked, and
/// no other callback, no timer (due or not), no fd watcher event and no
/// call_soon_threadsafe work is waiting. Returns 0 otherwise (then the
/// caller reschedules and returns; if the poll was due, the next iteration
/// makes it). `ran` is how many callbacks the caller's batch just ran:
/// the loop reads its clock once 8 of them (or of its own skipped polls)
/// have added up, so a long batch is followed by a poll once the interval
/// is over. `EDDY_EINVAL` for NULL.
///
/// eddy's addition (asyncio and libuv have no such call).
#[no_mangle]
pub extern "C" fn eddy_loop_claim_iteration(r#loop: *mut EventLoop, ran: usize) -> c_int {
    guard(|| Ok(c_int::from(loop_arg(r#loop)?.claim_iteration(ran))))
}

/// With `on` non-zero, each iteration runs the callbacks that were ready
/// when it began before it polls, then the I/O callbacks and the due
/// timers: an fd those callbacks make ready (a peer's reply to what they
/// wrote) is seen in the same iteration, ahead of the callbacks they
/// scheduled. That is libuv's order (idle work before the poll), which
/// uvloop gives Python; a request-response server then finds the next
/// request already read when its handler's task resumes. 0, the default,
/// polls first, as asyncio does (docs/semantics.md item 3). Either way the
/// callbacks within a phase keep their order, what any callback schedules
/// runs in the next iteration, and a timer runs where asyncio's order puts
/// it: only those due when the iteration began run in it. `EDDY_EINVAL`
/// for NULL.
///
/// eddy's addition (asyncio polls first; libuv always polls late).
#[no_mangle]
pub extern "C" fn eddy_loop_set_late_poll(r#loop: *mut EventLoop, on: c_int) -> c_int {
    guard(|| {
        loop_arg(r#loop)?.set_late_poll(on != 0);
        Ok(0)
    })
}

/// Calls `before(ud)` just before every poll that may block and `after(ud)`
/// as soon as it returns, on the loop's thread: an embedder that holds a
/// lock while its callbacks run (an interpreter lock) lets go of it only
/// while the loop waits. The non-blocking poll of an iteration with
/// callbacks ready is not wrapped. The hooks must not call into the loop.
/// Both NULL removes them; one NULL is `EDDY_EINVAL`.
///
/// eddy's addition (libuv's prepare/check handles run around every poll).
#[no_mangle]
pub extern "C" fn eddy_loop_set_poll_hooks(
    r#loop: *mut EventLoop,
    before: eddy_callback_fn,
    after: eddy_callback_fn,
    ud: *mut c_void,
) -> c_int {
    guard(|| {
        let lp = loop_arg(r#loop)?;
        let hooks = match (before, after) {
            (Some(before), Some(after)) => Some(Rc::new(CPollHooks { before, after, ud }) as Rc<dyn PollHooks>),
            (None, None) => None,
            _ => return Err(EDDY_EINVAL),
        };
        lp.set_poll_hooks(hooks);
        Ok(0)
    })
}

#[no_mangle]
pub extern "C" fn eddy_loop_time(r#loop: *const EventLoop) -> f64 {
    guard_or(f64::NAN, || arg(r#loop).map_or(f64::NAN, |lp| lp.time()))
}

fn schedule(
    out: *mut *mut Handle,
    f: impl FnOnce(bool) -> Result<Option<Arc<Handle>>, c_int>,
) -> Result<c_int, c_int> {
    if let Some(h) = f(!out.is_null())? {
        give(out, h);
    }
    Ok(0)
}

/// Schedules `cb(ud)` for the next iteration, after the callbacks already
/// queued. `*out` receives a handle for cancelling it; it may be NULL, and
/// then no handle is made (the callback still runs).
#[no_mangle]
pub extern "C" fn eddy_loop_call_soon(
    r#loop: *mut EventLoop,
    cb: eddy_callback_fn,
    ud: *mut c_void,
    out: *mut *mut Handle,
) -> c_int {
    guard(|| {
        let lp = loop_arg(r#loop)?;
        let cb = callback(cb, ud)?;
        schedule(out, |h| lp.call_soon(cb, h))
    })
}

/// call_soon from any thread: wakes the loop if it is waiting. Wake-ups are
/// coalesced. `EDDY_ECLOSED` once the loop is closed. `out` may be NULL,
/// as for call_soon.
#[no_mangle]
pub extern "C" fn eddy_loop_call_soon_threadsafe(
    r#loop: *mut EventLoop,
    cb: eddy_callback_fn,
    ud: *mut c_void,
    out: *mut *mut Handle,
) -> c_int {
    guard(|| {
        let lp = arc_arg(r#loop)?;
        let cb = callback(cb, ud)?;
        schedule(out, |h| lp.call_soon_threadsafe(cb, h))
    })
}

/// Schedules `cb(ud)` `delay` seconds from now (negative: due now).
/// `EDDY_EINVAL` for NaN. Equal deadlines run in the order scheduled.
/// `out` may be NULL, as for call_soon.
#[no_mangle]
pub extern "C" fn eddy_loop_call_later(
    r#loop: *mut EventLoop,
    delay: f64,
    cb: eddy_callback_fn,
    ud: *mut c_void,
    out: *mut *mut Handle,
) -> c_int {
    guard(|| {
        let lp = loop_arg(r#loop)?;
        let cb = callback(cb, ud)?;
        schedule(out, |h| lp.call_later(delay, cb, h))
    })
}

/// Schedules `cb(ud)` at `when` on the loop's clock (`eddy_loop_time`).
/// `out` may be NULL, as for call_soon.
#[no_mangle]
pub extern "C" fn eddy_loop_call_at(
    r#loop: *mut EventLoop,
    when: f64,
    cb: eddy_callback_fn,
    ud: *mut c_void,
    out: *mut *mut Handle,
) -> c_int {
    guard(|| {
        let lp = loop_arg(r#loop)?;
        let cb = callback(cb, ud)?;
        schedule(out, |h| lp.call_at(when, cb, h))
    })
}

/// Calls `cb(ud)` whenever `fd` is readable (level-triggered), replacing an
/// earlier reader of `fd`. The fd stays the caller's. `EDDY_EBUSY` for an
/// fd a transport, server or datagram endpoint owns (as for the other
/// three watcher functions and every `eddy_loop_sock_*`).
#[no_mangle]
pub extern "C" fn eddy_loop_add_reader(r#loop: *mut EventLoop, fd: c_int, cb: eddy_callback_fn, ud: *mut c_void) -> c_int {
    guard(|| {
        loop_arg(r#loop)?.add_reader(fd, callback(cb, ud)?)?;
        Ok(0)
    })
}

/// 1 if a reader of `fd` was removed, 0 if there was none; `EDDY_EBUSY` as
/// for add_reader.
#[no_mangle]
pub extern "C" fn eddy_loop_remove_reader(r#loop: *mut EventLoop, fd: c_int) -> c_int {
    guard(|| Ok(loop_arg(r#loop)?.remove_reader(fd)? as c_int))
}

/// Calls `cb(ud)` whenever `fd` is writable (level-triggered), replacing an
/// earlier writer of `fd`. `EDDY_EBUSY` as for add_reader.
#[no_mangle]
pub extern "C" fn eddy_loop_add_writer(r#loop: *mut EventLoop, fd: c_int, cb: eddy_callback_fn, ud: *mut c_void) -> c_int {
    guard(|| {
        loop_arg(r#loop)?.add_writer(fd, callback(cb, ud)?)?;
        Ok(0)
    })
}

/// 1 if a writer of `fd` was removed, 0 if there was none; `EDDY_EBUSY` as
/// for add_reader.
#[no_mangle]
pub extern "C" fn eddy_loop_remove_writer(r#loop: *mut EventLoop, fd: c_int) -> c_int {
    guard(|| Ok(loop_arg(r#loop)?.remove_writer(fd)? as c_int))
}

/// Passes `ctx` to the loop's exception handler (or the default one).
/// `EDDY_EINVAL` when `ctx` or its message is NULL.
#[no_mangle]
pub extern "C" fn eddy_loop_call_exception_handler(r#loop: *mut EventLoop, ctx: *const eddy_error_context_t) -> c_int {
    guard(|| {
        let lp = loop_arg(r#loop)?;
        lp.call_exception_handler(&from_c_context(arg(ctx)?)?);
        Ok(0)
    })
}

/// Installs `fn(loop, ctx, ud)` as the exception handler; NULL restores the
/// default.
#[no_mangle]
pub extern "C" fn eddy_loop_set_exception_handler(
    r#loop: *mut EventLoop,
    r#fn: eddy_exception_handler_fn,
    ud: *mut c_void,
) -> c_int {
    guard(|| {
        let lp = loop_arg(r#loop)?;
        lp.set_exception_handler(r#fn.map(|f| Rc::new(CExceptionHandler { f, ud }) as Rc<dyn ExceptionHandler>));
        Ok(0)
    })
}

/// Writes the handler and its data (NULL, NULL for the default). Either
/// output may be NULL.
#[no_mangle]
pub extern "C" fn eddy_loop_get_exception_handler(
    r#loop: *const EventLoop,
    r#fn: *mut eddy_exception_handler_fn,
    ud: *mut *mut c_void,
) -> c_int {
    guard(|| {
        let lp = loop_arg(r#loop)?;
        let h = lp.get_exception_handler();
        let c = h.as_ref().and_then(|h| h.as_any().downcast_ref::<CExceptionHandler>());
        put(r#fn, c.map(|c| c.f));
        put(ud, c.map_or(std::ptr::null_mut(), |c| c.ud));
        Ok(0)
    })
}

/// The default handler: writes the message and the context's fields to
/// stderr.
#[no_mangle]
pub extern "C" fn eddy_loop_default_exception_handler(r#loop: *mut EventLoop, ctx: *const eddy_error_context_t) -> c_int {
    guard(|| {
        loop_arg(r#loop)?;
        base_events::default_exception_handler(&from_c_context(arg(ctx)?)?);
        Ok(0)
    })
}

/// A new pending future on this loop (allowed on a closed loop, as in
/// asyncio).
#[no_mangle]
pub extern "C" fn eddy_loop_create_future(r#loop: *mut EventLoop, out: *mut *mut Future) -> c_int {
    guard(|| {
        let lp = loop_arg(r#loop)?;
        if out.is_null() {
            return Err(EDDY_EINVAL);
        }
        give(out, Future::new(&lp));
        Ok(0)
    })
}

/// A task running `step(task, ud)` soon, through the task factory if one is
/// set. `*out` (may be NULL) receives a reference.
#[no_mangle]
pub extern "C" fn eddy_loop_create_task(
    r#loop: *mut EventLoop,
    step: eddy_task_step_fn,
    ud: *mut c_void,
    out: *mut *mut Future,
) -> c_int {
    guard(|| {
        let lp = loop_arg(r#loop)?;
        give(out, tasks::create_task(&lp, step.ok_or(EDDY_EINVAL)?, ud)?);
        Ok(0)
    })
}

/// Installs a task factory for `eddy_loop_create_task`; NULL restores the
/// default.
#[no_mangle]
pub extern "C" fn eddy_loop_set_task_factory(
    r#loop: *mut EventLoop,
    r#fn: eddy_task_factory_fn,
    ud: *mut c_void,
) -> c_int {
    guard(|| {
        let lp = loop_arg(r#loop)?;
        tasks::set_task_factory(&lp, r#fn.map(|f| Rc::new(CTaskFactory { f, ud }) as Rc<dyn TaskFactory>));
        Ok(0)
    })
}

/// Writes the factory and its data (NULL, NULL for the default). Either
/// output may be NULL.
#[no_mangle]
pub extern "C" fn eddy_loop_get_task_factory(
    r#loop: *const EventLoop,
    r#fn: *mut eddy_task_factory_fn,
    ud: *mut *mut c_void,
) -> c_int {
    guard(|| {
        let lp = loop_arg(r#loop)?;
        let f = tasks::get_task_factory(&lp);
        let c = f.as_ref().and_then(|f| f.as_any().downcast_ref::<CTaskFactory>());
        put(r#fn, c.map(|c| c.f));
        put(ud, c.map_or(std::ptr::null_mut(), |c| c.ud));
        Ok(0)
    })
}

/// Runs `cb(ud)` on the loop, as an ordinary callback, once per delivery of
/// `signum`; replaces an earlier handler. `EDDY_EINVAL` for SIGKILL,
/// SIGSTOP and numbers outside 1..SIGRTMAX. The disposition it replaced is
/// restored on removal and when the loop closes.
#[no_mangle]
pub extern "C" fn eddy_loop_add_signal_handler(r#loop: *mut EventLoop, signum: c_int, cb: eddy_callback_fn, ud: *mut c_void) -> c_int {
    guard(|| {
        loop_arg(r#loop)?.add_signal_handler(signum, callback(cb, ud)?)?;
        Ok(0)
    })
}

/// 1 if a handler of `signum` was removed, 0 if there was none.
#[no_mangle]
pub extern "C" fn eddy_loop_remove_signal_handler(r#loop: *mut EventLoop, signum: c_int) -> c_int {
    guard(|| Ok(loop_arg(r#loop)?.remove_signal_handler(signum)? as c_int))
}

/// Runs one iteration of the loop, as one pass of `eddy_loop_run_forever`
/// (asyncio's `_run_once`): polls for I/O for at most `timeout` seconds (0:
/// does not block; negative: as long as the loop would, until the next timer
/// or forever when nothing is scheduled), then runs the callbacks that were
/// due when the iteration began; callbacks they schedule wait for the next
/// iteration. `eddy_loop_stop` during the iteration only ends it, as for
/// run_forever.
///
/// Returns 1 while the loop still has work that could make progress (ready
/// callbacks, live timers, transports, servers, datagram endpoints, fd
/// watchers, signal handlers, executor work in flight), 0 when nothing is
/// left. Errors: `EDDY_EINVAL` for NULL or a NaN timeout, `EDDY_ECLOSED`
/// after close, `EDDY_ERUNNING` when this loop (run_forever, or run_once
/// from one of its callbacks) or another loop is running in this thread,
/// `EDDY_EWRONGTHREAD` from the wrong thread: the first run_once binds the
/// loop to its calling thread, and run_once from any other thread (or while
/// the loop runs in another thread) is refused.
///
/// eddy's addition for embedding (libuv's `uv_run` with `UV_RUN_ONCE` or
/// `UV_RUN_NOWAIT`); asyncio has no public equivalent.
#[no_mangle]
pub extern "C" fn eddy_loop_run_once(r#loop: *mut EventLoop, timeout: f64) -> c_int {
    guard(|| Ok(loop_arg(r#loop)?.run_iteration(timeout)? as c_int))
}

/// An fd that is readable while the loop has I/O events to process: a
/// foreign loop polls it (for reading) and calls `eddy_loop_run_once` when
/// it is. It is the same for the loop's life, close-on-exec, and belongs to
/// the loop: do not read, close or change it. Ready callbacks and due timers
/// do not make it readable: wait at most `eddy_loop_backend_timeout`.
/// `EDDY_EINVAL` for NULL, `EDDY_ECLOSED` after close. From the loop's
/// thread.
///
/// eddy's addition for embedding (libuv's `uv_backend_fd`).
#[no_mangle]
pub extern "C" fn eddy_loop_backend_fd(r#loop: *const EventLoop) -> c_int {
    guard(|| arg(r#loop)?.backend_fd())
}

/// How long a foreign loop may wait on `eddy_loop_backend_fd` before it
/// calls `eddy_loop_run_once`: 0 when callbacks are ready or a timer is due,
/// the seconds until the next timer otherwise, -1 when nothing is scheduled
/// (wait for the fd alone). NaN for NULL or a closed loop. From the loop's
/// thread; the value holds until something is scheduled.
///
/// eddy's addition for embedding (libuv's `uv_backend_timeout`).
#[no_mangle]
pub extern "C" fn eddy_loop_backend_timeout(r#loop: *const EventLoop) -> f64 {
    guard_or(f64::NAN, || match arg(r#loop).and_then(|lp| lp.backend_timeout()) {
        Ok(Some(secs)) => secs,
        Ok(None) => -1.0,
        Err(_) => f64::NAN,
    })
}

/// What the loop reports about itself (`eddy_loop_get_metrics`), counted
/// since the loop was made. Set `size` to `sizeof` the struct before the
/// call: later versions add fields at the end, and the library fills only
/// those that fit in `size`.
///
/// eddy's addition (libuv's `uv_metrics_t` and `uv_metrics_idle_time`).
#[repr(C)]
#[derive(Clone, Copy)]
pub struct eddy_loop_metrics_t {
    /// Set by the caller: the size of the struct it passes.
    pub size: usize,
    /// Loop iterations (passes of run_forever's loop, or run_once calls that
    /// ran).
    pub iterations: u64,
    /// I/O readiness events the poll delivered (one per ready fd per poll,
    /// the loop's own wake-up and signal fds included).
    pub events: u64,
    /// Callbacks run: call_soon and timer callbacks, I/O handling (transport
    /// and server events), task steps, done callbacks. Cancelled handles are
    /// not counted.
    pub callbacks: u64,
    /// Seconds spent blocked in the poll (libuv's `uv_metrics_idle_time`);
    /// event-loop utilisation over an interval is 1 - idle / elapsed.
    pub idle_time: f64,
    /// Timers scheduled: call_later, call_at and the library's own.
    pub timers_scheduled: u64,
    /// fds in the loop's poller now: transports, servers, datagram
    /// endpoints, subprocess pipes.
    pub io_handles: u64,
}

/// Fills `*out` with the loop's counters, up to `out->size` bytes: only the
/// fields that fit entirely are written (`size` itself is left as is).
/// `EDDY_EINVAL` for a NULL loop or `out`, or an `out->size` smaller than
/// `sizeof(size_t)`. Cheap (no syscall); from the loop's thread, callbacks
/// included. Works on a closed loop (the counters stay readable).
///
/// eddy's addition (libuv's `uv_metrics_info`).
#[no_mangle]
pub extern "C" fn eddy_loop_get_metrics(r#loop: *const EventLoop, out: *mut eddy_loop_metrics_t) -> c_int {
    guard(|| {
        let lp = arg(r#loop)?;
        if out.is_null() {
            return Err(EDDY_EINVAL);
        }
        // SAFETY: a non-null `out` points to a struct the caller owns whose
        // first field, `size`, it has set; reading that field needs no more.
        let size = unsafe { std::ptr::addr_of!((*out).size).read() };
        if size < std::mem::size_of::<usize>() {
            return Err(EDDY_EINVAL);
        }
        let m = lp.metrics();
        let full = eddy_loop_metrics_t {
            size,
            iterations: m.iterations,
            events: m.events,
            callbacks: m.callbacks,
            idle_time: m.idle_time,
            timers_scheduled: m.timers_scheduled,
            io_handles: m.io_handles,
        };
        // Every field after `size` is 8 bytes wide.
        macro_rules! end {
            ($field:ident) => {
                std::mem::offset_of!(eddy_loop_metrics_t, $field) + 8
            };
        }
        let ends = [
            end!(iterations),
            end!(events),
            end!(callbacks),
            end!(idle_time),
            end!(timers_scheduled),
            end!(io_handles),
        ];
        let len = ends.iter().copied().filter(|&end| end <= size).max().unwrap_or(0);
        let skip = std::mem::size_of::<usize>();
        if len > skip {
            // SAFETY: the caller's struct is writable for `size` bytes (its
            // contract), and `len <= size`; `full` is a local of the same
            // layout, and bytes [skip, len) end at a field boundary.
            unsafe {
                std::ptr::copy_nonoverlapping(
                    std::ptr::addr_of!(full).cast::<u8>().add(skip),
                    out.cast::<u8>().add(skip),
                    len - skip,
                )
            };
        }
        Ok(0)
    })
}
