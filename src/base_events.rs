//! The event loop (asyncio's `base_events.py`): lifecycle, scheduling, the
//! poll phase, debug mode and the exception handler.

use std::any::Any;
use std::cell::{Cell, RefCell, RefMut};
use std::cmp::Ordering as CmpOrdering;
use std::collections::{BinaryHeap, VecDeque};
use std::num::NonZeroUsize;
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::error::*;
use crate::events::{self, Callback, DetachedReport, ErrorContext, Handle};
use crate::executor::{self, Executor};
use crate::futures::{DoneCallback, Future};
use crate::selector_events::Watchers;
use crate::slab::Slab;
use crate::sys;
use crate::tasks::{self, TaskFactory};
use crate::unix_events::{Signals, SIGNALS};

/// asyncio's `MAXIMUM_SELECT_TIMEOUT`.
const MAXIMUM_SELECT_TIMEOUT: f64 = 24.0 * 3600.0;
/// asyncio's `_MIN_SCHEDULED_TIMER_HANDLES` and the cancelled fraction that
/// triggers a heap rebuild.
const MIN_SCHEDULED_TIMER_HANDLES: usize = 100;
/// `time.get_clock_info('monotonic').resolution` on Linux.
const CLOCK_RESOLUTION: f64 = 1e-9;
/// With a busy-poll interval set, the clock is checked once this much work
/// was done without a poll: iterations that skipped theirs, and the
/// callbacks a binding's claimed iterations ran (see `may_skip_poll`).
const BUSY_POLL_CLOCK_EVERY: usize = 8;
/// asyncio's `max_size`: one read per event is at most this much (the
/// size of the loop's read buffer, which every stream read uses).
pub(crate) const MAX_READ: usize = 256 * 1024;
/// The tokens of the loop's own fds in its poller; the I/O handlers' tokens
/// start at FIRST_IO_TOKEN.
const WAKER: usize = 0;
pub(crate) const WATCHERS: usize = 1;

/// Work queued for the next run phase.
pub(crate) enum Ready {
    Call(Callback),
    Handle(Arc<Handle>),
    Done(Arc<Future>, DoneCallback),
    Step(Arc<Future>),
    Job(LoopJob),
}

/// What the poller said about one registered fd: its epoll bits, read
/// where a handler asks (a handler tests one or two of them).
#[derive(Clone, Copy, Debug)]
pub(crate) struct IoEvent(u32);

const EPOLLIN: u32 = libc::EPOLLIN as u32;
const EPOLLPRI: u32 = libc::EPOLLPRI as u32;
const EPOLLOUT: u32 = libc::EPOLLOUT as u32;
const EPOLLERR: u32 = libc::EPOLLERR as u32;
const EPOLLHUP: u32 = libc::EPOLLHUP as u32;
const EPOLLRDHUP: u32 = libc::EPOLLRDHUP as u32;

impl IoEvent {
    /// A handler run again without a new edge: to read.
    pub(crate) const READABLE: IoEvent = IoEvent(EPOLLIN);

    /// There is something to read: data, the peer's FIN or an error.
    #[inline]
    pub fn readable(self) -> bool {
        self.0 & (EPOLLIN | EPOLLPRI | EPOLLHUP) != 0
    }

    /// A write may make progress (or fail with the pending error).
    #[inline]
    pub fn writable(self) -> bool {
        self.0 & (EPOLLOUT | EPOLLHUP) != 0 || self.0 == EPOLLERR
    }

    /// The peer hung up or the fd has an error pending.
    #[inline]
    pub fn hangup(self) -> bool {
        self.0 & (EPOLLERR | EPOLLHUP) != 0
    }

    /// The peer will send no more (EPOLLRDHUP with data, or EPOLLHUP).
    #[inline]
    pub fn read_closed(self) -> bool {
        // The first test is the usual answer: neither bit.
        self.0 & (EPOLLHUP | EPOLLRDHUP) != 0 && self.0 & (EPOLLHUP | EPOLLIN) != 0
    }
}

/// An object with an fd in the loop's (edge-triggered) poller: transports,
/// servers' listening sockets.
pub(crate) trait IoHandler {
    fn on_io(self: Arc<Self>, lp: &Arc<EventLoop>, ev: IoEvent);
    /// The loop is closing: release the fd without calling back.
    fn close_silently(&self);
}

/// Registered I/O handlers by token, and the ones that asked to be run
/// again without waiting for a new edge (a read that filled the buffer, a
/// resumed reader, an accept batch cut at the backlog).
#[derive(Default)]
pub(crate) struct IoRegistry {
    /// Each handler with the generation its token carries.
    slots: Slab<(u32, Arc<dyn IoHandler>)>,
    /// The next registration's generation.
    generation: u32,
    again: IoBatch,
    /// The previous iteration's `again`, emptied: its capacity is reused,
    /// so a steady loop allocates nothing per iteration.
    spare: IoBatch,
    /// The fds the handlers own, for refusing the caller's own operations
    /// on them (`check_fd_free`): kept here, at registration, so that the
    /// check costs a lookup and no syscall.
    fds: FdSet,
}

impl IoRegistry {
    /// The handler an event's token names, if it is still registered: a
    /// token of a handler that left the poller earlier in the same batch
    /// names nothing, even when a new handler has its slot (another
    /// generation), as asyncio skips the cancelled handle of a removed
    /// reader.
    #[inline]
    fn handler(&self, token: usize) -> Option<Arc<dyn IoHandler>> {
        let slot = (token & SLOT_MASK).wrapping_sub(FIRST_IO_TOKEN);
        match self.slots.get(slot) {
            Some((generation, h)) if *generation as usize == token >> 32 => Some(h.clone()),
            _ => None,
        }
    }
}

/// The handlers that asked to run again, in order.
type IoBatch = Vec<(Arc<dyn IoHandler>, IoEvent)>;

/// A set of fds as a bitmap indexed by fd number. fds are small and dense,
/// so this costs a bit per fd number (1.25 KiB at 10,000 connections) where
/// a hash set costs tens of bytes per member, and a lookup is a shift.
#[derive(Default)]
struct FdSet(Vec<u64>);

impl FdSet {
    fn insert(&mut self, fd: std::os::fd::RawFd) {
        let Ok(i) = usize::try_from(fd) else { return };
        if i / 64 >= self.0.len() {
            self.0.resize(i / 64 + 1, 0);
        }
        self.0[i / 64] |= 1 << (i % 64);
    }

    fn remove(&mut self, fd: std::os::fd::RawFd) {
        let Ok(i) = usize::try_from(fd) else { return };
        if let Some(w) = self.0.get_mut(i / 64) {
            *w &= !(1 << (i % 64));
        }
    }

    fn contains(&self, fd: std::os::fd::RawFd) -> bool {
        usize::try_from(fd).is_ok_and(|i| self.0.get(i / 64).is_some_and(|w| w & (1 << (i % 64)) != 0))
    }
}

/// A registered fd's token: never zero (the loop's own tokens come first),
/// so an `Option<IoToken>` in every transport costs no more than the token.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct IoToken(NonZeroUsize);

/// Tokens below this are the loop's own (waker, watchers, signals). A
/// handler's token is its slot plus this in the low 32 bits and its
/// registration's generation in the high 32.
const FIRST_IO_TOKEN: usize = 16;
const SLOT_MASK: usize = 0xffff_ffff;

pub(crate) type LoopJob = Box<dyn FnOnce(&Arc<EventLoop>)>;

/// Work handed over by other threads.
pub(crate) enum Job {
    Call(Callback),
    Handle(Arc<Handle>),
    Boxed(SendJob),
}

pub(crate) type SendJob = Box<dyn FnOnce(&Arc<EventLoop>) + Send>;

impl From<Job> for Ready {
    fn from(job: Job) -> Self {
        match job {
            Job::Call(cb) => Ready::Call(cb),
            Job::Handle(h) => Ready::Handle(h),
            Job::Boxed(f) => Ready::Job(f),
        }
    }
}

enum TimerTarget {
    Call(Callback),
    Handle(Arc<Handle>),
    Job(LoopJob),
}

struct TimerEntry {
    when: f64,
    seq: u64,
    target: TimerTarget,
}

impl TimerEntry {
    fn cancelled(&self) -> bool {
        matches!(&self.target, TimerTarget::Handle(h) if h.cancelled())
    }

    /// Takes the entry out of the heap's accounting; returns whether it was
    /// a counted cancelled entry.
    fn unschedule(&self) -> bool {
        matches!(&self.target, TimerTarget::Handle(h) if h.unschedule())
    }

    fn into_ready(self) -> Ready {
        match self.target {
            TimerTarget::Call(cb) => Ready::Call(cb),
            TimerTarget::Handle(h) => Ready::Handle(h),
            TimerTarget::Job(f) => Ready::Job(f),
        }
    }
}

impl PartialEq for TimerEntry {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == CmpOrdering::Equal
    }
}
impl Eq for TimerEntry {}
impl PartialOrd for TimerEntry {
    fn partial_cmp(&self, other: &Self) -> Option<CmpOrdering> {
        Some(self.cmp(other))
    }
}
impl Ord for TimerEntry {
    // Reversed: BinaryHeap is a max-heap and the earliest (when, seq) must be
    // on top; seq makes equal deadlines fire in scheduling order.
    fn cmp(&self, other: &Self) -> CmpOrdering {
        other.when.total_cmp(&self.when).then(other.seq.cmp(&self.seq))
    }
}

/// The thread-safe half of the loop: call_soon_threadsafe's queue and the
/// waker. `pending` coalesces wake-ups: only the first job queued since the
/// loop last drained writes to the eventfd.
pub(crate) struct Remote {
    state: Mutex<RemoteState>,
    pending: AtomicBool,
    /// Apart from the queue's lock, so the loop never wakes into a mutex
    /// the waking thread still holds; close takes it for writing, so no
    /// wake is in flight (and the eventfd is gone) once close returns.
    waker: std::sync::RwLock<Option<sys::EventFd>>,
}

struct RemoteState {
    queue: Vec<Job>,
    closed: bool,
}

impl Remote {
    pub(crate) fn push(&self, job: Job) -> Result<(), Job> {
        let wake = {
            let mut st = self.state.lock().unwrap_or_else(|e| e.into_inner());
            if st.closed {
                return Err(job);
            }
            st.queue.push(job);
            !self.pending.swap(true, Ordering::AcqRel)
        };
        if wake {
            // A failed wake leaves the job queued for the next poll; the
            // eventfd only fails when its counter is saturated, which means
            // a wake-up is already pending.
            if let Some(w) = &*self.waker.read().unwrap_or_else(|e| e.into_inner()) {
                let _ = w.wake();
            }
        }
        Ok(())
    }

    fn take(&self, into: &mut VecDeque<Ready>) {
        self.pending.store(false, Ordering::Release);
        // Drained in place: the queue keeps its capacity for the next batch.
        let mut st = self.state.lock().unwrap_or_else(|e| e.into_inner());
        into.extend(st.queue.drain(..).map(Ready::from));
    }

    fn close(&self) -> Vec<Job> {
        let jobs = {
            let mut st = self.state.lock().unwrap_or_else(|e| e.into_inner());
            st.closed = true;
            std::mem::take(&mut st.queue)
        };
        self.waker.write().unwrap_or_else(|e| e.into_inner()).take();
        jobs
    }
}

/// The exception handler installed by `set_exception_handler`.
pub trait ExceptionHandler {
    fn call(&self, lp: &Arc<EventLoop>, ctx: &ErrorContext);
    fn as_any(&self) -> &dyn Any;
}

/// Called around each poll that may block (see `set_poll_hooks`).
pub trait PollHooks {
    fn before_wait(&self);
    fn after_wait(&self);
}

struct Core {
    ready: VecDeque<Ready>,
    timers: BinaryHeap<TimerEntry>,
    timer_seq: u64,
    stopping: bool,
}

struct Poller {
    poll: sys::Epoll,
    events: sys::EpollEvents,
}

/// The loop's own counters (behind `metrics`). Plain cells: only the loop's
/// thread updates or reads them, so the hot path pays an add, no atomic.
#[derive(Default)]
struct Counters {
    iterations: Cell<u64>,
    events: Cell<u64>,
    callbacks: Cell<u64>,
    idle_time: Cell<f64>,
    timers_scheduled: Cell<u64>,
}

fn bump(c: &Cell<u64>, n: u64) {
    c.set(c.get().wrapping_add(n));
}

/// What the loop reports about itself (libuv's `uv_metrics_info` and
/// `uv_metrics_idle_time`), counted since the loop was made.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Metrics {
    /// Iterations (asyncio's `_run_once` passes).
    pub iterations: u64,
    /// Readiness events the poll returned.
    pub events: u64,
    /// Callbacks run: handles, timers, I/O handling, task steps.
    pub callbacks: u64,
    /// Seconds spent blocked in the poll.
    pub idle_time: f64,
    /// Timers scheduled (call_later, call_at and the library's own).
    pub timers_scheduled: u64,
    /// fds in the poller now: transports, servers, datagram endpoints.
    pub io_handles: u64,
}

pub struct EventLoop {
    core: RefCell<Core>,
    poller: RefCell<Option<Poller>>,
    pub(crate) remote: Arc<Remote>,
    pub(crate) watchers: RefCell<Watchers>,
    closed: AtomicBool,
    running_thread: AtomicUsize,
    debug: AtomicBool,
    slow_callback_duration: Cell<f64>,
    /// See `set_busy_poll_interval`; 0 polls every iteration.
    busy_poll_interval: Cell<f64>,
    /// When the last poll was made, for `busy_poll_interval` (-inf: the
    /// next iteration polls).
    last_poll: Cell<f64>,
    /// Work since the clock was last read for `busy_poll_interval`: one
    /// per skipped poll, and what `claim_iteration` callers report.
    busy_work: Cell<usize>,
    /// See `set_late_poll`.
    late_poll: Cell<bool>,
    /// `claim_iteration` found the busy-poll interval over: the next
    /// iteration polls.
    poll_due: Cell<bool>,
    exception_handler: RefCell<Option<Rc<dyn ExceptionHandler>>>,
    poll_hooks: RefCell<Option<Rc<dyn PollHooks>>>,
    pub(crate) task_factory: RefCell<Option<Rc<dyn TaskFactory>>>,
    pub(crate) tasks: RefCell<tasks::Registry>,
    timer_cancels: Arc<AtomicUsize>,
    external_refs: AtomicUsize,
    pub(crate) default_executor: RefCell<Option<Arc<Executor>>>,
    pub(crate) default_executor_shut: Cell<bool>,
    pub(crate) executor_waiters: RefCell<executor::Waiters>,
    pub(crate) signals: RefCell<Signals>,
    pub(crate) io: RefCell<IoRegistry>,
    /// The shared read buffer (asyncio's max_size, 256 KiB), allocated on
    /// the first read; borrowed for a read (see `shared_read_buffer`).
    read_buffer: RefCell<Option<sys::ReadBuf>>,
    counters: Counters,
    /// The thread `run_iteration` is bound to (0 until its first call).
    driver_thread: AtomicUsize,
}

impl EventLoop {
    /// A new loop (asyncio's `new_event_loop`); the caller holds the one
    /// external reference.
    #[allow(clippy::new_ret_no_self)]
    pub fn new() -> Result<LoopRef, i32> {
        let poll = sys::Epoll::new()?;
        let waker = sys::EventFd::new()?;
        poll.add(waker.raw(), WAKER, sys::EDGE_READ)?;
        let lp = Arc::new(EventLoop {
            core: RefCell::new(Core {
                ready: VecDeque::new(),
                timers: BinaryHeap::new(),
                timer_seq: 0,
                stopping: false,
            }),
            poller: RefCell::new(Some(Poller { poll, events: sys::EpollEvents::with_capacity(1024) })),
            remote: Arc::new(Remote {
                state: Mutex::new(RemoteState { queue: Vec::new(), closed: false }),
                pending: AtomicBool::new(false),
                waker: std::sync::RwLock::new(Some(waker)),
            }),
            watchers: RefCell::new(Watchers::default()),
            closed: AtomicBool::new(false),
            running_thread: AtomicUsize::new(0),
            debug: AtomicBool::new(false),
            slow_callback_duration: Cell::new(0.1),
            busy_poll_interval: Cell::new(0.0),
            last_poll: Cell::new(f64::NEG_INFINITY),
            busy_work: Cell::new(0),
            late_poll: Cell::new(false),
            poll_due: Cell::new(false),
            exception_handler: RefCell::new(None),
            poll_hooks: RefCell::new(None),
            task_factory: RefCell::new(None),
            tasks: RefCell::new(tasks::Registry::default()),
            timer_cancels: Arc::new(AtomicUsize::new(0)),
            external_refs: AtomicUsize::new(1),
            default_executor: RefCell::new(None),
            default_executor_shut: Cell::new(false),
            executor_waiters: RefCell::new(executor::Waiters::default()),
            signals: RefCell::new(Signals::default()),
            io: RefCell::new(IoRegistry::default()),
            read_buffer: RefCell::new(None),
            counters: Counters::default(),
            driver_thread: AtomicUsize::new(0),
        });
        Ok(LoopRef(lp))
    }

    // ---- state -------------------------------------------------------------

    pub fn is_closed(&self) -> bool {
        self.closed.load(Ordering::Acquire)
    }

    pub fn is_running(&self) -> bool {
        self.running_thread.load(Ordering::Acquire) != 0
    }

    pub(crate) fn check_closed(&self) -> Result<(), i32> {
        if self.is_closed() {
            Err(EDDY_ECLOSED)
        } else {
            Ok(())
        }
    }

    /// asyncio's `_check_thread`: in debug mode, a non-thread-safe call made
    /// while the loop runs in another thread is refused. Touches only
    /// atomics, so it is safe to call from any thread.
    pub fn check_thread(&self) -> Result<(), i32> {
        if self.debug.load(Ordering::Relaxed) {
            let owner = self.running_thread.load(Ordering::Acquire);
            if owner != 0 && owner != events::thread_id() {
                return Err(EDDY_EWRONGTHREAD);
            }
        }
        Ok(())
    }

    pub fn set_debug(&self, enabled: bool) {
        self.debug.store(enabled, Ordering::Relaxed)
    }

    pub fn get_debug(&self) -> bool {
        self.debug.load(Ordering::Relaxed)
    }

    pub fn slow_callback_duration(&self) -> f64 {
        self.slow_callback_duration.get()
    }

    pub fn set_slow_callback_duration(&self, seconds: f64) -> Result<(), i32> {
        if seconds.is_nan() || seconds < 0.0 {
            return Err(EDDY_EINVAL);
        }
        self.slow_callback_duration.set(seconds);
        Ok(())
    }

    /// While callbacks are ready, the iteration's poll (which would not
    /// block) is skipped when the last poll was less than `seconds` ago:
    /// a loop busy with chains of callbacks then pays no system call per
    /// iteration, and sees I/O readiness at most `seconds` (and
    /// `BUSY_POLL_CLOCK_EVERY` iterations) late. Polls that
    /// may block, the first iteration of each run, and `run_iteration`
    /// always poll; work from other threads is taken every iteration.
    pub fn set_busy_poll_interval(&self, seconds: f64) -> Result<(), i32> {
        if seconds.is_nan() || seconds < 0.0 {
            return Err(EDDY_EINVAL);
        }
        self.busy_poll_interval.set(seconds);
        Ok(())
    }

    /// With `on`, each iteration first runs the callbacks that were ready
    /// when it began, then polls (not blocking if they left work ready),
    /// then runs the I/O callbacks and the due timers; what any of these
    /// schedule waits for the next iteration, as always. An fd that those
    /// first callbacks make ready (a reply to what they wrote) is then seen
    /// in the same iteration, ahead of the callbacks they scheduled:
    /// libuv's order, where idle work runs before the poll. Off, the
    /// default, the poll comes first, as in asyncio (docs/semantics.md
    /// item 3). The order of the callbacks within each phase, the snapshot
    /// rule and the place of timers are the same either way: the late poll
    /// runs the timers that were due when the iteration began.
    pub fn set_late_poll(&self, on: bool) {
        self.late_poll.set(on);
    }

    /// The loop's clock: monotonic seconds, read on every call.
    pub fn time(&self) -> f64 {
        sys::monotonic()
    }

    // ---- scheduling --------------------------------------------------------

    /// Inlined everywhere: whether LLVM inlined it into call_soon moved
    /// with unrelated changes elsewhere (+7 instructions per callback).
    #[inline(always)]
    pub(crate) fn push_ready(&self, item: Ready) {
        self.core.borrow_mut().ready.push_back(item)
    }

    /// asyncio's `call_soon`. With `want_handle`, the handle is returned so
    /// the caller can cancel it.
    pub fn call_soon(&self, cb: Callback, want_handle: bool) -> Result<Option<Arc<Handle>>, i32> {
        self.check_closed()?;
        if want_handle {
            let h = Handle::new(cb);
            self.push_ready(Ready::Handle(h.clone()));
            Ok(Some(h))
        } else {
            self.push_ready(Ready::Call(cb));
            Ok(None)
        }
    }

    /// asyncio's `call_soon_threadsafe`: callable from any thread.
    pub fn call_soon_threadsafe(&self, cb: Callback, want_handle: bool) -> Result<Option<Arc<Handle>>, i32> {
        let (job, h) = if want_handle {
            let h = Handle::new(cb);
            (Job::Handle(h.clone()), Some(h))
        } else {
            (Job::Call(cb), None)
        };
        self.remote.push(job).map_err(|_| EDDY_ECLOSED)?;
        Ok(h)
    }

    pub fn call_later(&self, delay: f64, cb: Callback, want_handle: bool) -> Result<Option<Arc<Handle>>, i32> {
        if delay.is_nan() {
            return Err(EDDY_EINVAL);
        }
        self.call_at(self.time() + delay, cb, want_handle)
    }

    pub fn call_at(&self, when: f64, cb: Callback, want_handle: bool) -> Result<Option<Arc<Handle>>, i32> {
        if when.is_nan() {
            return Err(EDDY_EINVAL);
        }
        self.check_closed()?;
        let (target, h) = if want_handle {
            let h = Handle::new_timer(cb, when, self.timer_cancels.clone());
            (TimerTarget::Handle(h.clone()), Some(h))
        } else {
            (TimerTarget::Call(cb), None)
        };
        self.push_timer(when, target);
        Ok(h)
    }

    /// call_later for the library's own work.
    pub(crate) fn call_later_job(&self, delay: f64, job: LoopJob) -> Result<(), i32> {
        self.check_closed()?;
        self.push_timer(self.time() + delay, TimerTarget::Job(job));
        Ok(())
    }

    fn push_timer(&self, when: f64, target: TimerTarget) {
        bump(&self.counters.timers_scheduled, 1);
        let mut core = self.core.borrow_mut();
        core.timer_seq += 1;
        let seq = core.timer_seq;
        core.timers.push(TimerEntry { when, seq, target });
    }

    /// Only sets a flag: the current run phase completes, then run_forever
    /// returns.
    pub fn stop(&self) {
        self.core.borrow_mut().stopping = true;
    }

    // ---- running -----------------------------------------------------------

    pub fn run_forever(self: &Arc<Self>) -> Result<(), i32> {
        self.check_closed()?;
        // Callbacks may release the caller's last reference while we run.
        let me = Arc::clone(self);
        me.run_entered(RunGuard::enter(&me)?);
        Ok(())
    }

    /// Runs until stopped; `running` is the run this thread entered.
    fn run_entered(self: &Arc<Self>, running: RunGuard<'_>) {
        self.last_poll.set(f64::NEG_INFINITY);
        loop {
            self.run_once(None);
            if self.core.borrow().stopping {
                break;
            }
        }
        drop(running);
        self.close_if_released();
    }

    fn close_if_released(self: &Arc<Self>) {
        if self.external_refs.load(Ordering::Acquire) == 0 {
            // The last external reference went while the loop ran.
            let _ = self.close();
        }
    }

    /// One iteration for a loop driven from outside (libuv's `uv_run` with
    /// `UV_RUN_ONCE`/`UV_RUN_NOWAIT`): the poll waits at most `timeout`
    /// seconds (negative: as long as the loop would). Returns whether the
    /// loop still has work that could make progress (`has_work`).
    pub fn run_iteration(self: &Arc<Self>, timeout: f64) -> Result<bool, i32> {
        if timeout.is_nan() {
            return Err(EDDY_EINVAL);
        }
        self.check_closed()?;
        self.check_driver_thread()?;
        let max_wait = (timeout >= 0.0).then(|| Duration::from_secs_f64(timeout.min(MAXIMUM_SELECT_TIMEOUT)));
        // Callbacks may release the caller's last reference while we run.
        let me = Arc::clone(self);
        {
            let _running = RunGuard::enter(&me)?;
            me.last_poll.set(f64::NEG_INFINITY);
            me.run_once(max_wait);
        }
        me.close_if_released();
        Ok(me.has_work())
    }

    /// A loop driven by `run_iteration` belongs to the first thread that
    /// called it: the core's state is not thread-safe, and a foreign loop
    /// embedding eddy stays on its own thread. A loop running in another
    /// thread is refused the same way.
    fn check_driver_thread(&self) -> Result<(), i32> {
        let me = events::thread_id();
        let running = self.running_thread.load(Ordering::Acquire);
        if running != 0 && running != me {
            return Err(EDDY_EWRONGTHREAD);
        }
        match self.driver_thread.compare_exchange(0, me, Ordering::AcqRel, Ordering::Acquire) {
            Ok(_) => Ok(()),
            Err(owner) if owner == me => Ok(()),
            Err(_) => Err(EDDY_EWRONGTHREAD),
        }
    }

    /// Whether an iteration could still make progress: ready callbacks,
    /// live timers, fds in the poller (transports, servers, datagram
    /// endpoints, pipes), fd watchers, signal handlers, executor work in
    /// flight, or work queued from another thread.
    pub fn has_work(&self) -> bool {
        if self.is_closed() {
            return false;
        }
        let core = self.core.borrow();
        let io = self.io.borrow();
        !core.ready.is_empty()
            || core.timers.len() > self.timer_cancels.load(Ordering::Relaxed)
            || !io.slots.is_empty()
            || !io.again.is_empty()
            || !self.watchers.borrow().is_empty()
            || !self.signals.borrow().is_empty()
            || !self.executor_waiters.borrow().is_empty()
            || self.remote.pending.load(Ordering::Acquire)
    }

    /// The poller's fd, readable while it holds I/O events: a foreign loop
    /// polls it to learn when to run an iteration. The loop keeps it.
    pub fn backend_fd(&self) -> Result<std::os::fd::RawFd, i32> {
        let guard = self.poller.borrow();
        Ok(guard.as_ref().ok_or(EDDY_ECLOSED)?.poll.raw())
    }

    /// How long a foreign loop may wait on `backend_fd` before the next
    /// iteration: 0 when work is ready or a timer is due, the seconds until
    /// the next timer, or `None` when nothing is scheduled. Ready work and
    /// timers do not make the fd readable, hence this.
    pub fn backend_timeout(&self) -> Result<Option<f64>, i32> {
        self.check_closed()?;
        Ok(self.prepare_poll().0.map(|d| d.as_secs_f64()))
    }

    /// The loop's counters now; from the loop's thread (callbacks included).
    pub fn metrics(&self) -> Metrics {
        let c = &self.counters;
        Metrics {
            iterations: c.iterations.get(),
            events: c.events.get(),
            callbacks: c.callbacks.get(),
            idle_time: c.idle_time.get(),
            timers_scheduled: c.timers_scheduled.get(),
            io_handles: self.io.borrow().slots.len() as u64,
        }
    }

    /// Runs until `fut` is done; returns its outcome as a code (0 for a
    /// result, the error, or `EDDY_ECANCELED`).
    pub fn run_until_complete(self: &Arc<Self>, fut: &Arc<Future>) -> Result<i32, i32> {
        self.check_closed()?;
        if !Arc::ptr_eq(fut.get_loop(), self) {
            return Err(EDDY_EINVAL);
        }
        let me = Arc::clone(self);
        // Entered before the future is touched: a thread that loses the
        // race for the loop must not add a callback to it.
        let running = RunGuard::enter(&me)?;
        // Callbacks may release the caller's reference to the future.
        let fut = Arc::clone(fut);
        fut.add_done(DoneCallback::Stop);
        me.run_entered(running);
        fut.remove_done(|cb| matches!(cb, DoneCallback::Stop));
        if !fut.done() {
            return Err(EDDY_EINVALSTATE);
        }
        Ok(fut.outcome_code())
    }

    /// One iteration, in asyncio's `_run_once` order (see `set_late_poll`
    /// for the other); the poll waits at most `max_wait` (None: as long as
    /// the loop would).
    ///
    /// asyncio appends the I/O handlers to the ready queue after what was
    /// already there and before the due timers, then runs that snapshot.
    /// The I/O handlers are run straight from the poll's batch instead, at
    /// the same place in the order: the callbacks queued before the poll
    /// (`pre`), the batch, then what the poll phase queued after it (work
    /// from other threads, signals, fd watchers, due timers: `post`).
    /// Anything scheduled while these run goes behind the snapshot, to the
    /// next iteration, as in asyncio.
    fn run_once(self: &Arc<Self>, max_wait: Option<Duration>) {
        bump(&self.counters.iterations, 1);
        if self.late_poll.get() {
            self.run_once_late(max_wait);
        } else {
            self.run_once_as::<false>(max_wait);
        }
    }

    #[inline(never)]
    fn run_once_late(self: &Arc<Self>, max_wait: Option<Duration>) {
        self.run_once_as::<true>(max_wait);
    }

    /// The iteration; `LATE`: the callbacks ready at its start run before
    /// the poll (`run_ready_first`), and what they schedule waits behind
    /// the poll phase's callbacks, which run in this iteration.
    #[inline(always)]
    fn run_once_as<const LATE: bool>(self: &Arc<Self>, max_wait: Option<Duration>) {
        let cutoff = if LATE { self.run_ready_first() } else { None };
        let (timeout, now) = self.prepare_poll();
        let timeout = match (timeout, max_wait) {
            (Some(t), Some(m)) => Some(t.min(m)),
            (t, m) => t.or(m),
        };
        let mut pre = self.core.borrow().ready.len();
        let (now, mut batch) = self.poll(timeout, now);
        // After the late poll's first phase, the timers due when it began
        // run now, not those that fell due (or were made) while it ran:
        // those run behind what it scheduled, as on asyncio's order, where
        // the next poll finds them. A poll that waited had nothing queued
        // to keep that order with.
        let now = match cutoff {
            Some(start) if timeout == Some(Duration::ZERO) => Some(start),
            _ => now,
        };
        self.collect_due_timers(now);
        let mut post = self.core.borrow().ready.len() - pre;
        if LATE {
            // `pre` is what the first phase scheduled: it waits for the next
            // iteration, behind the due timers and other poll-phase work.
            if post > 0 && pre > 0 {
                self.core.borrow_mut().ready.rotate_left(pre);
            }
            pre = 0;
        }
        let debug = self.get_debug();
        // Popped from the back, in the order they asked.
        batch.reverse();
        // Borrowed until the snapshot has run: the handlers read the fds'
        // events from the poller's buffer; registering and deregistering
        // only borrow it too, and nothing polls while the loop runs.
        let poller = self.poller.borrow();
        let events = poller.as_ref().map(|p| &p.events);
        let mut seen = 0;
        self.guarded(|| {
            if pre > 0 {
                self.run_queued(&mut pre, debug);
            }
            while let Some((h, ev)) = batch.pop() {
                self.run_io(h, ev, debug);
            }
            if let Some(events) = events {
                let mut it = events.iter();
                if seen > 0 {
                    // Resuming after a panic.
                    it.nth(seen - 1);
                }
                for (token, bits) in it {
                    seen += 1;
                    if token < FIRST_IO_TOKEN {
                        continue;
                    }
                    let h = self.io.borrow().handler(token);
                    if let Some(h) = h {
                        self.run_io(h, IoEvent(bits), debug);
                    }
                }
            }
            if post > 0 {
                self.run_queued(&mut post, debug);
            }
        });
        drop(poller);
        if batch.capacity() > 0 {
            self.io.borrow_mut().spare = batch;
        }
    }

    /// The late poll's first phase: runs the callbacks that were ready when
    /// the iteration began, under the same unwind guard as the snapshot.
    /// Returns the clock when it began, if it ran any (-inf when there was
    /// no timer to compare with, so no clock read).
    #[inline(never)]
    fn run_ready_first(self: &Arc<Self>) -> Option<f64> {
        let (mut ready, no_timers) = {
            let core = self.core.borrow();
            (core.ready.len(), core.timers.is_empty())
        };
        if ready == 0 {
            return None;
        }
        let start = if no_timers { f64::NEG_INFINITY } else { self.time() };
        let debug = self.get_debug();
        self.guarded(|| self.run_queued(&mut ready, debug));
        Some(start)
    }

    /// Runs `f` again after each panic inside the library's own part of a
    /// callback, reporting it as asyncio reports an exception, until `f`
    /// returns: the loop must not go down. One unwind guard per phase
    /// rather than per callback keeps it off the per-callback path; `f`
    /// keeps its place (counters, batch) outside the guard, so a panic
    /// resumes with the next item.
    #[inline(always)]
    fn guarded(self: &Arc<Self>, mut f: impl FnMut()) {
        while std::panic::catch_unwind(std::panic::AssertUnwindSafe(&mut f)).is_err() {
            self.report(ErrorContext::new("Exception in callback", EDDY_EPANIC));
        }
    }

    #[inline(always)]
    fn run_io(self: &Arc<Self>, h: Arc<dyn IoHandler>, ev: IoEvent, debug: bool) {
        bump(&self.counters.callbacks, 1);
        if debug {
            self.run_timed(None, None, || h.on_io(self, ev));
        } else {
            h.on_io(self, ev);
        }
    }

    /// Runs the next `left` callbacks of the ready queue, counting down.
    #[inline(always)]
    fn run_queued(self: &Arc<Self>, left: &mut usize, debug: bool) {
        while *left > 0 {
            *left -= 1;
            let Some(item) = self.core.borrow_mut().ready.pop_front() else {
                *left = 0;
                return;
            };
            if debug {
                self.run_item_timed(item);
            } else {
                self.run_item(item);
            }
        }
    }

    /// Drops cancelled timers and computes the poll timeout, with the clock
    /// reading it was computed from (when it read the clock).
    fn prepare_poll(&self) -> (Option<Duration>, Option<f64>) {
        let mut core = self.core.borrow_mut();
        let cancelled = self.timer_cancels.load(Ordering::Relaxed);
        if core.timers.len() > MIN_SCHEDULED_TIMER_HANDLES && cancelled * 2 > core.timers.len() {
            let mut removed = 0;
            core.timers.retain(|t| {
                if t.cancelled() {
                    removed += usize::from(t.unschedule());
                    false
                } else {
                    true
                }
            });
            self.uncount_cancelled(removed);
        } else {
            while core.timers.peek().is_some_and(TimerEntry::cancelled) {
                let t = core.timers.pop().expect("peeked");
                self.uncount_cancelled(usize::from(t.unschedule()));
            }
        }
        if self.work_ready(&core) {
            return (Some(Duration::ZERO), None);
        }
        match core.timers.peek() {
            Some(t) => {
                let now = self.time();
                let secs = (t.when - now).clamp(0.0, MAXIMUM_SELECT_TIMEOUT);
                (Some(Duration::from_secs_f64(secs)), Some(now))
            }
            None => (None, None),
        }
    }

    /// Whether the next iteration has something to run without waiting
    /// (or to stop): its poll would not block.
    fn work_ready(&self, core: &Core) -> bool {
        !core.ready.is_empty()
            || core.stopping
            || self.watchers.borrow().pending()
            || !self.io.borrow().again.is_empty()
    }

    fn uncount_cancelled(&self, n: usize) {
        if n > 0 {
            let _ = self
                .timer_cancels
                .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |c| Some(c.saturating_sub(n)));
        }
    }

    /// Polls and queues what became ready, except the fds' events: they
    /// stay in the poller's buffer, and the handlers that asked to run
    /// again are returned, for run_once to run. Idle time is the span around a
    /// poll that may block, read with the clock `prepare_poll` already read
    /// (`before`) when there are timers; the reading after the poll is
    /// returned for `collect_due_timers`, so a loop with timers reads the
    /// clock no more often than it did before idle time was measured.
    /// Inlined into both orders of `run_once_as` by attribute: with two
    /// callers the compiler stopped inlining it (+40 instructions per
    /// iteration, callgrind).
    #[inline(always)]
    fn poll(self: &Arc<Self>, timeout: Option<Duration>, before: Option<f64>) -> (Option<f64>, IoBatch) {
        let mut watchers_ready = false;
        let mut remote_ready = false;
        let mut signals_ready = false;
        let mut after = None;
        let mut batch = IoBatch::new();
        {
            let mut guard = self.poller.borrow_mut();
            let Some(p) = guard.as_mut() else { return (None, batch) };
            if self.skips_poll(timeout) {
                // The buffer still holds the last poll's events.
                p.events.clear();
            } else {
                let may_block = timeout != Some(Duration::ZERO);
                let t0 = may_block.then(|| before.unwrap_or_else(|| self.time()));
                let hooks = if may_block { self.poll_hooks.borrow().clone() } else { None };
                if let Some(h) = &hooks {
                    h.before_wait();
                }
                let polled = p.poll.wait(&mut p.events, timeout);
                if let Some(h) = &hooks {
                    h.after_wait();
                }
                if let Some(t0) = t0 {
                    let t1 = self.time();
                    let idle = &self.counters.idle_time;
                    idle.set(idle.get() + (t1 - t0).max(0.0));
                    after = Some(t1);
                }
                if let Err(e) = polled {
                    if e != EDDY_EINTR {
                        drop(guard);
                        let message = format!("poll failed: {}", strerror(e).to_string_lossy());
                        self.report(ErrorContext::new(message, e));
                        return (after, batch);
                    }
                }
            }
            let mut io = self.io.borrow_mut();
            let io = &mut *io;
            // The handlers that asked to run again; `again` takes the
            // spare's capacity for the next iteration.
            if !io.again.is_empty() {
                batch = std::mem::replace(&mut io.again, std::mem::take(&mut io.spare));
            }
            // The fds' events stay in the buffer, for run_once.
            for (token, _) in p.events.iter() {
                if token < FIRST_IO_TOKEN {
                    match token {
                        WAKER => remote_ready = true,
                        WATCHERS => watchers_ready = true,
                        SIGNALS => signals_ready = true,
                        _ => {}
                    }
                }
            }
            bump(&self.counters.events, p.events.len() as u64);
        }
        if remote_ready || self.remote.pending.load(Ordering::Acquire) {
            let mut core = self.core.borrow_mut();
            self.remote.take(&mut core.ready);
        }
        if signals_ready {
            self.collect_signals(&mut self.core.borrow_mut().ready);
        }
        let mut watchers = self.watchers.borrow_mut();
        if watchers_ready || watchers.pending() {
            watchers.collect(&mut self.core.borrow_mut().ready);
        }
        (after, batch)
    }

    /// Whether this iteration skips its poll (`set_busy_poll_interval`);
    /// records the time of a poll it does not skip. The clock is read
    /// every `BUSY_POLL_CLOCK_EVERY` skipped iterations only: with nothing
    /// but a chained callback per iteration, reading it each time cost as
    /// much as the library's part of the iteration.
    fn skips_poll(&self, timeout: Option<Duration>) -> bool {
        if self.busy_poll_interval.get() == 0.0 {
            return false;
        }
        let due = self.poll_due.replace(false);
        if !due && timeout == Some(Duration::ZERO) && self.may_skip_poll(1) {
            return true;
        }
        self.busy_work.set(0);
        self.last_poll.set(self.time());
        false
    }

    /// Counts `work` done without a poll by an iteration that would not
    /// block; whether it may skip its poll under the busy-poll interval
    /// (never before the run's first). The clock is read once
    /// `BUSY_POLL_CLOCK_EVERY` work has added up: a long batch reads it at
    /// once, so I/O waits no more than the interval behind it.
    fn may_skip_poll(&self, work: usize) -> bool {
        if self.last_poll.get() == f64::NEG_INFINITY {
            return false;
        }
        let done = self.busy_work.get().saturating_add(work);
        if done < BUSY_POLL_CLOCK_EVERY {
            self.busy_work.set(done);
            return true;
        }
        self.busy_work.set(0);
        self.time() - self.last_poll.get() < self.busy_poll_interval.get()
    }

    /// For a caller that keeps its own queue of ready callbacks and runs
    /// it from one of the loop's callbacks (a language binding, as the
    /// Python binding's drain): true when the loop's next iteration would
    /// do nothing but run that callback again, so the caller may run its
    /// next batch at once, the iteration counted as if it had run. That
    /// is: the loop runs with a busy-poll interval, the interval lets the
    /// poll be skipped, no stop was asked, and no callback, timer (even a
    /// later one: its due time is not read here), handler run-again, fd
    /// watcher or work from another thread is waiting. False otherwise;
    /// when the poll was due, the next iteration makes it. `ran`: how many
    /// callbacks the caller's last batch ran, counted toward the next
    /// clock reading as the loop's own skipped iterations are, whether or
    /// not the claim is granted: after a long batch the poll is due even
    /// when other work refuses the claim.
    pub fn claim_iteration(&self, ran: usize) -> bool {
        if self.busy_poll_interval.get() == 0.0 || !self.is_running() {
            return false;
        }
        if !self.may_skip_poll(ran.max(1)) {
            self.poll_due.set(true);
            return false;
        }
        let core = self.core.borrow();
        if self.work_ready(&core) || !core.timers.is_empty() || self.remote.pending.load(Ordering::Acquire) {
            return false;
        }
        bump(&self.counters.iterations, 1);
        true
    }

    /// `now`: a clock reading taken since the poll returned, if any.
    /// Inlined by attribute, as `poll` is.
    #[inline(always)]
    fn collect_due_timers(&self, now: Option<f64>) {
        let mut core = self.core.borrow_mut();
        // No clock read when there is no timer (a callback-only loop).
        if core.timers.is_empty() {
            return;
        }
        let end = now.unwrap_or_else(|| self.time()) + CLOCK_RESOLUTION;
        while core.timers.peek().is_some_and(|t| t.when < end) {
            let t = core.timers.pop().expect("peeked");
            self.uncount_cancelled(usize::from(t.unschedule()));
            core.ready.push_back(t.into_ready());
        }
    }

    #[inline]
    fn run_item(self: &Arc<Self>, item: Ready) {
        if matches!(&item, Ready::Handle(h) if h.cancelled()) {
            return;
        }
        bump(&self.counters.callbacks, 1);
        match item {
            Ready::Call(cb) => cb.call(),
            Ready::Handle(h) => h.run(),
            Ready::Done(fut, cb) => fut.run_done_callback(cb),
            Ready::Step(task) => tasks::step(&task),
            Ready::Job(f) => f(self),
        }
    }

    fn run_item_timed(self: &Arc<Self>, item: Ready) {
        let handle = match &item {
            Ready::Handle(h) => Some(h.clone()),
            _ => None,
        };
        let future = match &item {
            Ready::Step(t) => Some(t.clone()),
            _ => None,
        };
        self.run_timed(handle, future, || self.run_item(item));
    }

    /// Debug mode: runs `f` and reports it when it took at least
    /// slow_callback_duration.
    fn run_timed(self: &Arc<Self>, handle: Option<Arc<Handle>>, future: Option<Arc<Future>>, f: impl FnOnce()) {
        let t0 = self.time();
        f();
        let dt = self.time() - t0;
        if dt >= self.slow_callback_duration.get() {
            let what = if future.is_some() { "task step" } else { "callback" };
            let mut ctx = ErrorContext::new(format!("Executing {what} took {dt:.3} seconds"), 0);
            ctx.handle = handle;
            ctx.future = future;
            self.report(ctx);
        }
    }

    // ---- closing -----------------------------------------------------------

    /// asyncio's `close`: idempotent, refused while running. Pending
    /// callbacks are dropped, pending tasks are reported as destroyed, and
    /// every fd the loop holds is closed.
    pub fn close(self: &Arc<Self>) -> Result<(), i32> {
        if self.is_running() {
            return Err(EDDY_ERUNNING);
        }
        if self.closed.swap(true, Ordering::AcqRel) {
            return Ok(());
        }
        self.close_signals();
        let io = std::mem::take(&mut *self.io.borrow_mut());
        for (_, h) in io.slots.iter() {
            h.close_silently();
        }
        let jobs = self.remote.close();
        let (ready, timers) = {
            let mut core = self.core.borrow_mut();
            core.stopping = false;
            (std::mem::take(&mut core.ready), std::mem::take(&mut core.timers))
        };
        let watchers = std::mem::take(&mut *self.watchers.borrow_mut());
        let poller = self.poller.borrow_mut().take();
        let waiters = std::mem::take(&mut *self.executor_waiters.borrow_mut());
        if let Some(ex) = self.take_default_executor() {
            ex.shutdown(false);
        }
        // Dropped outside every borrow: destructors may report.
        drop((jobs, ready, timers, watchers, poller, waiters, io));
        tasks::destroy_pending(self);
        Ok(())
    }

    // ---- errors ------------------------------------------------------------

    /// Hooks run just before and after every poll that may block (not
    /// around the non-blocking poll of a busy iteration): an embedder that
    /// holds a lock while its callbacks run, such as an interpreter lock,
    /// lets go of it only while the loop waits. They must not call into
    /// the loop.
    pub fn set_poll_hooks(&self, hooks: Option<Rc<dyn PollHooks>>) {
        *self.poll_hooks.borrow_mut() = hooks;
    }

    pub fn set_exception_handler(&self, handler: Option<Rc<dyn ExceptionHandler>>) {
        *self.exception_handler.borrow_mut() = handler;
    }

    pub fn get_exception_handler(&self) -> Option<Rc<dyn ExceptionHandler>> {
        self.exception_handler.borrow().clone()
    }

    /// asyncio's `call_exception_handler`.
    pub fn report(self: &Arc<Self>, ctx: ErrorContext) {
        self.call_exception_handler(&ctx)
    }

    pub fn call_exception_handler(self: &Arc<Self>, ctx: &ErrorContext) {
        match self.get_exception_handler() {
            Some(h) => h.call(self, ctx),
            None => default_exception_handler(ctx),
        }
    }

    /// A report from a place that cannot enter the loop (a destructor, or
    /// another thread): delivered to the handler on the loop's next
    /// iteration, or written to stderr when the loop is closed.
    pub(crate) fn report_detached(&self, r: DetachedReport) {
        let fallback = ErrorContext::new(r.message.clone(), r.error);
        let job = Job::Boxed(Box::new(move |lp: &Arc<EventLoop>| {
            lp.report(ErrorContext::new(r.message, r.error))
        }));
        if self.remote.push(job).is_err() {
            // Closed: no handler will run again, so log as the default does.
            default_exception_handler(&fallback);
        }
    }

    pub(crate) fn with_poller<T>(&self, f: impl FnOnce(&sys::Epoll) -> Result<T, i32>) -> Result<T, i32> {
        let guard = self.poller.borrow();
        let p = guard.as_ref().ok_or(EDDY_ECLOSED)?;
        f(&p.poll)
    }

    /// Adds `fd` to the poller for both directions, once for its life
    /// (no epoll_ctl per write or per pause).
    pub(crate) fn register_io(&self, fd: std::os::fd::RawFd, h: Arc<dyn IoHandler>) -> Result<IoToken, i32> {
        let (slot, generation) = {
            let mut io = self.io.borrow_mut();
            let generation = io.generation;
            io.generation = generation.wrapping_add(1);
            (io.slots.insert((generation, h)), generation)
        };
        let token = IoToken(NonZeroUsize::new((slot + FIRST_IO_TOKEN) | (generation as usize) << 32).expect("above zero"));
        if let Err(e) = self.with_poller(|p| p.add(fd, token.0.get(), sys::EDGE_BOTH)) {
            self.release_token(token);
            return Err(e);
        }
        self.io.borrow_mut().fds.insert(fd);
        Ok(token)
    }

    /// `EDDY_EBUSY` when `fd` belongs to a transport, server or datagram
    /// endpoint of this loop: reading, writing or watching it behind the
    /// owner's back would take its data (asyncio's RuntimeError, docs/semantics.md
    /// item 25).
    pub(crate) fn check_fd_free(&self, fd: std::os::fd::RawFd) -> Result<(), i32> {
        if self.io.borrow().fds.contains(fd) {
            return Err(EDDY_EBUSY);
        }
        Ok(())
    }

    /// Removes `fd` from the poller and frees its token (before the fd is
    /// closed).
    pub(crate) fn deregister_io(&self, fd: std::os::fd::RawFd, token: IoToken) {
        let _ = self.with_poller(|p| p.delete(fd));
        self.io.borrow_mut().fds.remove(fd);
        self.release_token(token);
    }

    fn release_token(&self, token: IoToken) {
        // Dropped after the borrow: the last reference to a handler may go
        // here, and its drop may reach the registry again.
        let old = self.io.borrow_mut().slots.remove((token.0.get() & SLOT_MASK) - FIRST_IO_TOKEN);
        drop(old);
    }

    /// The loop's read buffer, borrowed for one read and its callback (a
    /// borrow flag costs less than moving the buffer out and back); None
    /// for a read nested in that callback, which takes a `new_read_buffer`.
    #[inline(always)]
    pub(crate) fn shared_read_buffer(&self) -> Option<RefMut<'_, sys::ReadBuf>> {
        let b = self.read_buffer.try_borrow_mut().ok()?;
        Some(RefMut::map(b, |b| b.get_or_insert_with(new_read_buffer)))
    }

    /// Runs `h` again on the next iteration without waiting for an edge.
    pub(crate) fn io_again(&self, h: Arc<dyn IoHandler>, ev: IoEvent) {
        self.io.borrow_mut().again.push((h, ev));
    }

    // ---- external references ------------------------------------------------

    fn retain_external(&self) {
        self.external_refs.fetch_add(1, Ordering::AcqRel);
    }
}

#[cold]
pub(crate) fn new_read_buffer() -> sys::ReadBuf {
    sys::ReadBuf::new(MAX_READ)
}

impl Drop for EventLoop {
    fn drop(&mut self) {
        self.remote.close();
    }
}

/// The default exception handler: the message, then one line per field.
pub fn default_exception_handler(ctx: &ErrorContext) {
    use std::fmt::Write;
    let mut s = String::new();
    let msg = if ctx.message.is_empty() { "Unhandled exception in event loop" } else { &ctx.message };
    let _ = writeln!(s, "eddy: {msg}");
    if ctx.error != 0 {
        let _ = writeln!(
            s,
            "  error: {} ({})",
            err_name(ctx.error).to_string_lossy(),
            strerror(ctx.error).to_string_lossy()
        );
    }
    if let Some(f) = &ctx.future {
        let _ = writeln!(s, "  future: {:p}", Arc::as_ptr(f));
    }
    if let Some(h) = &ctx.handle {
        let _ = writeln!(s, "  handle: {:p}", Arc::as_ptr(h));
    }
    for (name, p) in [
        ("process", ctx.process),
        ("server", ctx.server),
        ("datagram", ctx.datagram),
        ("transport", ctx.transport),
    ] {
        if !p.0.is_null() {
            let _ = writeln!(s, "  {name}: {:p}", p.0);
        }
    }
    eprint!("{s}");
}

/// Marks the loop running in this thread for as long as it lives, and undoes
/// it even if a panic unwinds through run_forever.
pub(crate) struct RunGuard<'a>(&'a Arc<EventLoop>);

impl<'a> RunGuard<'a> {
    /// Enters a run in one atomic step (a compare-and-swap on the loop's
    /// running thread), so that of two threads racing to run one loop
    /// exactly one gets in; the other, like a thread that already runs a
    /// loop, gets `EDDY_ERUNNING`.
    pub(crate) fn enter(lp: &'a Arc<EventLoop>) -> Result<Self, i32> {
        if !events::get_running_loop().is_null() {
            return Err(EDDY_ERUNNING);
        }
        lp.running_thread
            .compare_exchange(0, events::thread_id(), Ordering::AcqRel, Ordering::Acquire)
            .map_err(|_| EDDY_ERUNNING)?;
        events::set_running_loop(Arc::as_ptr(lp));
        Ok(RunGuard(lp))
    }
}

impl Drop for RunGuard<'_> {
    fn drop(&mut self) {
        self.0.core.borrow_mut().stopping = false;
        events::set_running_loop(std::ptr::null());
        self.0.running_thread.store(0, Ordering::Release);
    }
}

/// A user's reference to a loop (what `eddy_loop_t *` stands for). Loops
/// are also referenced internally (by futures, for instance); when the last
/// user reference goes, the loop is closed, unless it is running, in which
/// case run_forever closes it on return.
pub struct LoopRef(Arc<EventLoop>);

impl LoopRef {
    pub fn arc(&self) -> &Arc<EventLoop> {
        &self.0
    }

    /// Gives up the reference as a raw pointer (for the C boundary).
    pub fn into_raw(self) -> *const EventLoop {
        let me = std::mem::ManuallyDrop::new(self);
        Arc::as_ptr(&me.0)
    }

    /// A new user reference to `lp`.
    pub fn from_arc(lp: &Arc<EventLoop>) -> LoopRef {
        lp.retain_external();
        LoopRef(lp.clone())
    }

    /// Takes back a reference made by `into_raw`.
    pub fn from_arc_owned(lp: Arc<EventLoop>) -> LoopRef {
        LoopRef(lp)
    }
}

impl Clone for LoopRef {
    fn clone(&self) -> Self {
        LoopRef::from_arc(&self.0)
    }
}

impl Drop for LoopRef {
    fn drop(&mut self) {
        if self.0.external_refs.fetch_sub(1, Ordering::AcqRel) == 1 && !self.0.is_running() {
            let _ = self.0.close();
        }
    }
}

#[cfg(test)]
// Small integers stand for user data pointers; they are never dereferenced.
#[allow(clippy::manual_dangling_ptr)]
mod tests {
    use super::*;
    use std::cell::RefCell;
    use std::ffi::c_void;

    thread_local! {
        static LOG: RefCell<Vec<usize>> = const { RefCell::new(Vec::new()) };
        static LOOP: RefCell<Option<Arc<EventLoop>>> = const { RefCell::new(None) };
    }

    extern "C" fn record(ud: *mut c_void) {
        LOG.with(|l| l.borrow_mut().push(ud as usize));
    }

    /// Records, then schedules `record(ud + 100)` with call_soon.
    extern "C" fn record_and_chain(ud: *mut c_void) {
        record(ud);
        let lp = LOOP.with(|l| l.borrow().clone()).unwrap();
        lp.call_soon(Callback::new(record, (ud as usize + 100) as *mut c_void), false).unwrap();
        lp.stop();
    }

    fn cb(n: usize) -> Callback {
        Callback::new(record, n as *mut c_void)
    }

    fn take_log() -> Vec<usize> {
        LOG.with(|l| std::mem::take(&mut *l.borrow_mut()))
    }

    #[test]
    fn call_soon_is_fifo_and_snapshot_defers_new_work() {
        let lp = EventLoop::new().unwrap();
        let a = lp.arc().clone();
        LOOP.with(|l| *l.borrow_mut() = Some(a.clone()));
        a.call_soon(Callback::new(record_and_chain, 1 as *mut c_void), false).unwrap();
        a.call_soon(cb(2), false).unwrap();
        a.run_forever().unwrap();
        // stop() lets the rest of the snapshot run; 101 waits for the next run.
        assert_eq!(take_log(), [1, 2]);
        a.stop();
        a.run_forever().unwrap();
        assert_eq!(take_log(), [101]);
        LOOP.with(|l| l.borrow_mut().take());
    }

    struct Reports(RefCell<Vec<(String, i32)>>);

    impl ExceptionHandler for Reports {
        fn call(&self, _lp: &Arc<EventLoop>, ctx: &ErrorContext) {
            self.0.borrow_mut().push((ctx.message.clone(), ctx.error));
        }
        fn as_any(&self) -> &dyn Any {
            self
        }
    }

    #[test]
    fn a_panic_in_a_callback_is_reported_and_the_rest_of_the_batch_runs() {
        let lp = EventLoop::new().unwrap();
        let a = lp.arc();
        let reports = Rc::new(Reports(RefCell::new(Vec::new())));
        a.set_exception_handler(Some(reports.clone()));
        a.call_soon(cb(1), false).unwrap();
        a.push_ready(Ready::Job(Box::new(|_| panic!("a bug in the library"))));
        a.call_soon(cb(2), false).unwrap();
        a.push_ready(Ready::Job(Box::new(|_| panic!("another"))));
        a.call_soon(cb(3), false).unwrap();
        a.stop();
        let hook = std::panic::take_hook();
        std::panic::set_hook(Box::new(|_| {}));
        a.run_forever().unwrap();
        std::panic::set_hook(hook);
        assert_eq!(take_log(), [1, 2, 3]);
        let expected = ("Exception in callback".to_string(), EDDY_EPANIC);
        assert_eq!(*reports.0.borrow(), [expected.clone(), expected]);
    }

    #[test]
    fn equal_deadlines_fire_in_scheduling_order_and_after_ready_callbacks() {
        let lp = EventLoop::new().unwrap();
        let a = lp.arc();
        let when = a.time() - 1.0;
        for i in 0..20 {
            a.call_at(when, cb(i), false).unwrap();
        }
        a.call_soon(cb(99), false).unwrap();
        a.stop();
        a.run_forever().unwrap();
        let mut expected = vec![99];
        expected.extend(0..20);
        assert_eq!(take_log(), expected);
    }

    #[test]
    fn cancelled_timers_do_not_run_and_the_heap_is_rebuilt() {
        let lp = EventLoop::new().unwrap();
        let a = lp.arc();
        let handles: Vec<_> = (0..300).map(|i| a.call_later(3600.0, cb(i), true).unwrap().unwrap()).collect();
        for h in &handles[..200] {
            h.cancel();
        }
        assert_eq!(a.timer_cancels.load(Ordering::Relaxed), 200);
        a.stop();
        a.run_forever().unwrap();
        assert_eq!(a.core.borrow().timers.len(), 100);
        assert_eq!(a.timer_cancels.load(Ordering::Relaxed), 0);
        assert!(take_log().is_empty());
    }

    extern "C" fn record_and_stop(ud: *mut c_void) {
        record(ud);
        LOOP.with(|l| l.borrow().clone()).unwrap().stop();
    }

    #[test]
    fn threadsafe_call_wakes_a_waiting_loop() {
        let lp = EventLoop::new().unwrap();
        let a = lp.arc().clone();
        LOOP.with(|l| *l.borrow_mut() = Some(a.clone()));
        a.call_later(5.0, cb(1), false).unwrap();
        let remote = a.remote.clone();
        let t0 = a.time();
        let th = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(20));
            let _ = remote.push(Job::Call(Callback::new(record_and_stop, 7 as *mut c_void)));
        });
        a.run_forever().unwrap();
        th.join().unwrap();
        assert!(a.time() - t0 < 2.0);
        assert_eq!(take_log(), [7]);
        LOOP.with(|l| l.borrow_mut().take());
    }

    #[test]
    fn close_drops_pending_work_and_refuses_scheduling() {
        let lp = EventLoop::new().unwrap();
        let a = lp.arc().clone();
        a.call_soon(cb(1), false).unwrap();
        a.close().unwrap();
        a.close().unwrap();
        assert_eq!(a.call_soon(cb(2), false).err(), Some(EDDY_ECLOSED));
        assert_eq!(a.run_forever().unwrap_err(), EDDY_ECLOSED);
        assert!(take_log().is_empty());
    }

    #[test]
    fn last_user_reference_closes_the_loop() {
        let lp = EventLoop::new().unwrap();
        let a = lp.arc().clone();
        let second = lp.clone();
        drop(lp);
        assert!(!a.is_closed());
        drop(second);
        assert!(a.is_closed());
    }

    struct Quiet;

    impl IoHandler for Quiet {
        fn on_io(self: Arc<Self>, _lp: &Arc<EventLoop>, _ev: IoEvent) {}
        fn close_silently(&self) {}
    }

    /// The epoll bits read as mio's accessors read them (the loop polled
    /// through mio before): a FIN with data is readable and read-closed, an error alone
    /// is writable (the write reports it) and a hang-up is everything.
    #[test]
    fn epoll_bits_read_as_the_handlers_expect() {
        let ev = |bits: i32| IoEvent(bits as u32);
        let all = |e: IoEvent| (e.readable(), e.writable(), e.hangup(), e.read_closed());
        assert_eq!(all(ev(libc::EPOLLIN)), (true, false, false, false));
        assert_eq!(all(ev(libc::EPOLLOUT)), (false, true, false, false));
        assert_eq!(all(ev(libc::EPOLLIN | libc::EPOLLRDHUP)), (true, false, false, true));
        assert_eq!(all(ev(libc::EPOLLRDHUP | libc::EPOLLOUT)), (false, true, false, false));
        assert_eq!(all(ev(libc::EPOLLERR)), (false, true, true, false));
        assert_eq!(all(ev(libc::EPOLLERR | libc::EPOLLOUT)), (false, true, true, false));
        assert_eq!(all(ev(libc::EPOLLHUP)), (true, true, true, true));
        assert_eq!(all(ev(libc::EPOLLPRI)), (true, false, false, false));
        assert_eq!(all(IoEvent::READABLE), (true, false, false, false));
    }

    /// An event collected for a handler that has since left the poller must
    /// not reach the handler that took its slot.
    #[test]
    fn a_stale_token_names_no_handler_even_when_its_slot_is_reused() {
        use std::os::fd::AsRawFd;
        let lp = EventLoop::new().unwrap();
        let l = lp.arc().clone();
        let (a, b) = std::os::unix::net::UnixStream::pair().unwrap();
        let first: Arc<dyn IoHandler> = Arc::new(Quiet);
        let old = l.register_io(a.as_raw_fd(), first.clone()).unwrap();
        assert!(l.io.borrow().handler(old.0.get()).is_some_and(|h| Arc::ptr_eq(&h, &first)));
        l.deregister_io(a.as_raw_fd(), old);
        let second: Arc<dyn IoHandler> = Arc::new(Quiet);
        let new = l.register_io(b.as_raw_fd(), second.clone()).unwrap();
        assert_eq!(old.0.get() & SLOT_MASK, new.0.get() & SLOT_MASK, "the slot is reused");
        assert!(l.io.borrow().handler(old.0.get()).is_none());
        assert!(l.io.borrow().handler(new.0.get()).is_some_and(|h| Arc::ptr_eq(&h, &second)));
        l.deregister_io(b.as_raw_fd(), new);
        assert_eq!(l.close(), Ok(()));
    }
}
