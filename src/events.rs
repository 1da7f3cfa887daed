//! Handles, callbacks, error contexts and the per-thread loop bookkeeping
//! (asyncio's `events.py`).

use std::cell::Cell;
use std::ffi::c_void;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;

use crate::base_events::EventLoop;
use crate::futures::Future;

/// A plain callback: a function and the caller's data pointer, which the
/// library passes back and never dereferences.
pub type CallbackFn = extern "C" fn(user_data: *mut c_void);

#[derive(Clone, Copy, Debug)]
pub struct Callback {
    pub func: CallbackFn,
    pub data: *mut c_void,
}

impl Callback {
    pub fn new(func: CallbackFn, data: *mut c_void) -> Self {
        Self { func, data }
    }

    pub fn call(self) {
        (self.func)(self.data)
    }
}

/// A scheduled callback (asyncio's `Handle` and `TimerHandle`).
pub struct Handle {
    callback: Callback,
    when: Option<f64>,
    cancelled: AtomicBool,
    /// For timers: whether the handle is still in the loop's heap, and the
    /// loop's count of cancelled timers in it (asyncio's
    /// `_timer_cancelled_count`), so cancellation can be counted from any
    /// thread without touching the loop.
    scheduled: AtomicBool,
    timer_cancels: Option<Arc<AtomicUsize>>,
}

impl Handle {
    pub(crate) fn new(callback: Callback) -> Arc<Self> {
        Arc::new(Self {
            callback,
            when: None,
            cancelled: AtomicBool::new(false),
            scheduled: AtomicBool::new(false),
            timer_cancels: None,
        })
    }

    pub(crate) fn new_timer(callback: Callback, when: f64, counter: Arc<AtomicUsize>) -> Arc<Self> {
        Arc::new(Self {
            callback,
            when: Some(when),
            cancelled: AtomicBool::new(false),
            scheduled: AtomicBool::new(true),
            timer_cancels: Some(counter),
        })
    }

    /// Idempotent; the callback never runs afterwards.
    pub fn cancel(&self) {
        if !self.cancelled.swap(true, Ordering::AcqRel) {
            if let Some(counter) = &self.timer_cancels {
                if self.scheduled.load(Ordering::Acquire) {
                    counter.fetch_add(1, Ordering::Relaxed);
                }
            }
        }
    }

    pub fn cancelled(&self) -> bool {
        self.cancelled.load(Ordering::Acquire)
    }

    /// The absolute deadline on the loop's clock; `None` for call_soon handles.
    pub fn when(&self) -> Option<f64> {
        self.when
    }

    /// Marks the timer as taken out of the heap; returns whether it had been
    /// counted as a cancelled entry.
    pub(crate) fn unschedule(&self) -> bool {
        self.scheduled.swap(false, Ordering::AcqRel) && self.cancelled()
    }

    pub(crate) fn run(&self) {
        self.callback.call()
    }
}

/// What the exception handler is told (asyncio's context dict). The opaque
/// pointers are objects of later layers that the core passes through as is.
#[derive(Default, Clone)]
pub struct ErrorContext {
    pub message: String,
    pub error: i32,
    pub handle: Option<Arc<Handle>>,
    pub future: Option<Arc<Future>>,
    pub transport: Opaque,
    pub datagram: Opaque,
    pub process: Opaque,
    pub server: Opaque,
}

/// A pointer the core carries without knowing its type.
#[derive(Clone, Copy, Debug)]
pub struct Opaque(pub *mut c_void);

impl Default for Opaque {
    fn default() -> Self {
        Opaque(std::ptr::null_mut())
    }
}

impl ErrorContext {
    pub fn new(message: impl Into<String>, error: i32) -> Self {
        Self { message: message.into(), error, ..Default::default() }
    }
}

/// The detached part of a context, for reports made where the loop cannot be
/// entered (a destructor, another thread): it crosses threads.
pub(crate) struct DetachedReport {
    pub message: String,
    pub error: i32,
}

thread_local! {
    static THREAD_TAG: u8 = const { 0 };
    /// The running loop and the fork generation it was set in: a child
    /// process made by fork() inside a callback has no running loop.
    static RUNNING: Cell<(*const EventLoop, u64)> = const { Cell::new((std::ptr::null(), 0)) };
}

/// A non-zero number unique to the calling thread while it lives.
pub(crate) fn thread_id() -> usize {
    THREAD_TAG.with(|t| t as *const u8 as usize)
}

/// The loop running in this thread, if any (asyncio's `_get_running_loop`).
pub fn get_running_loop() -> *const EventLoop {
    let (lp, generation) = RUNNING.with(|r| r.get());
    if generation == crate::sys::fork_generation() {
        lp
    } else {
        std::ptr::null()
    }
}

pub(crate) fn set_running_loop(lp: *const EventLoop) {
    let generation = crate::sys::fork_generation();
    RUNNING.with(|r| r.set((lp, generation)))
}

thread_local! {
    /// The default policy's current loop for this thread (a user reference).
    static CURRENT: std::cell::RefCell<Option<crate::base_events::LoopRef>> =
        const { std::cell::RefCell::new(None) };
}

/// The default policy's `set_event_loop`: the thread keeps a reference.
pub fn set_current_loop(lp: Option<crate::base_events::LoopRef>) {
    let old = CURRENT.with(|c| c.replace(lp));
    drop(old);
}

/// The default policy's `get_event_loop`: never creates one (3.14's rule).
pub fn current_loop() -> Option<*const EventLoop> {
    CURRENT.with(|c| c.borrow().as_ref().map(|l| Arc::as_ptr(l.arc())))
}
