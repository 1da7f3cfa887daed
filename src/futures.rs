//! Futures (asyncio's `futures.py`). A future's value is a pointer and a
//! count; its error is a code and an optional message.

use std::cell::RefCell;
use std::ffi::{c_char, c_void, CString};
use std::sync::Arc;

use crate::base_events::{EventLoop, Ready};
use crate::error::*;
use crate::events::DetachedReport;
use crate::tasks::{self, TaskState};

/// A user's done callback: the future (borrowed for the call) and the data.
pub type FutureCbFn = extern "C" fn(fut: *mut Future, user_data: *mut c_void);

pub(crate) type FutureJob = Box<dyn FnOnce(&Arc<Future>)>;

pub(crate) enum DoneCallback {
    User(FutureCbFn, *mut c_void),
    /// A task awaiting this future: its next step.
    Wakeup(Arc<Future>),
    /// run_until_complete's stop.
    Stop,
    Internal(FutureJob),
}

enum Status {
    Pending,
    Result(*mut c_void, i64),
    Error(i32, Option<CString>),
    Cancelled,
}

struct State {
    status: Status,
    callbacks: Vec<DoneCallback>,
    /// Whether anyone looked at the error (asyncio's `__log_traceback`).
    retrieved: bool,
}

pub struct Future {
    lp: Arc<EventLoop>,
    state: RefCell<State>,
    pub(crate) task: Option<TaskState>,
    /// Runs synchronously when the future completes, before any callback is
    /// scheduled: operations use it to stop work the moment they are
    /// cancelled (unregister a watcher, keep queued work from starting).
    completion_hook: RefCell<Option<CompletionHook>>,
    /// An object the future's value points to and owns a reference to
    /// (create_server's server).
    held: RefCell<Option<Box<dyn std::any::Any>>>,
    /// The errors of the steps that led to the future's error, in order
    /// (create_connection: each address tried, each failed local bind).
    causes: RefCell<Vec<(i32, CString)>>,
}

pub(crate) type CompletionHook = Box<dyn FnOnce(&Future)>;

/// How a future ended, for completing it.
pub(crate) enum Outcome {
    Result(*mut c_void, i64),
    Error(i32, Option<CString>),
    Cancelled,
}

impl From<crate::executor::WorkOutput> for Outcome {
    fn from(out: crate::executor::WorkOutput) -> Self {
        match out {
            Ok((p, n)) => Outcome::Result(p as *mut c_void, n),
            Err((e, m)) => Outcome::Error(e, m),
        }
    }
}

impl Future {
    /// asyncio's `loop.create_future`: allowed on a closed loop.
    pub fn new(lp: &Arc<EventLoop>) -> Arc<Future> {
        Self::with_task(lp, None)
    }

    pub(crate) fn with_task(lp: &Arc<EventLoop>, task: Option<TaskState>) -> Arc<Future> {
        Arc::new(Future {
            lp: lp.clone(),
            state: RefCell::new(State { status: Status::Pending, callbacks: Vec::new(), retrieved: false }),
            task,
            completion_hook: RefCell::new(None),
            held: RefCell::new(None),
            causes: RefCell::new(Vec::new()),
        })
    }

    /// Whether anyone can still receive the outcome: a reference besides
    /// the caller's, or a done callback (which holds no reference).
    pub(crate) fn is_awaited(self: &Arc<Self>) -> bool {
        Arc::strong_count(self) > 1 || !self.state.borrow().callbacks.is_empty()
    }

    /// Keeps `value` alive as long as the future.
    pub(crate) fn hold(&self, value: Box<dyn std::any::Any>) {
        *self.held.borrow_mut() = Some(value);
    }

    pub(crate) fn set_completion_hook(&self, hook: CompletionHook) {
        *self.completion_hook.borrow_mut() = Some(hook);
    }

    /// Runs `hook` when the future completes, after the hook set before
    /// (run_op's own); at once if it is done already.
    pub(crate) fn add_completion_hook(&self, hook: CompletionHook) {
        if self.done() {
            return hook(self);
        }
        let mut slot = self.completion_hook.borrow_mut();
        *slot = Some(match slot.take() {
            Some(first) => Box::new(move |f: &Future| {
                first(f);
                hook(f)
            }),
            None => hook,
        });
    }

    pub fn get_loop(&self) -> &Arc<EventLoop> {
        &self.lp
    }

    pub fn is_task(&self) -> bool {
        self.task.is_some()
    }

    pub fn done(&self) -> bool {
        !matches!(self.state.borrow().status, Status::Pending)
    }

    pub fn cancelled(&self) -> bool {
        matches!(self.state.borrow().status, Status::Cancelled)
    }

    /// Ended with an error or cancelled; unlike result(), this does not
    /// count as retrieving the error.
    pub(crate) fn failed(&self) -> bool {
        matches!(self.state.borrow().status, Status::Error(..) | Status::Cancelled)
    }

    pub fn set_result(self: &Arc<Self>, ptr: *mut c_void, n: i64) -> Result<(), i32> {
        tasks::check_manual_completion(self)?;
        self.complete(Outcome::Result(ptr, n))
    }

    /// `err` must be a negative code.
    pub fn set_error(self: &Arc<Self>, err: i32, message: Option<CString>) -> Result<(), i32> {
        if err >= 0 {
            return Err(EDDY_EINVAL);
        }
        tasks::check_manual_completion(self)?;
        self.complete(Outcome::Error(err, message))
    }

    /// Completes the future with an error made by the library (its message
    /// copied); a future already done is left alone.
    pub(crate) fn fail(self: &Arc<Self>, err: i32, message: Option<String>) {
        let _ = self.complete(Outcome::Error(err, message.and_then(|m| CString::new(m).ok())));
    }

    /// fail(), with the errors of the steps that led to it.
    pub(crate) fn fail_with_causes(self: &Arc<Self>, err: i32, message: String, causes: Vec<(i32, String)>) {
        if self.done() {
            return;
        }
        *self.causes.borrow_mut() =
            causes.into_iter().filter_map(|(e, m)| CString::new(m).ok().map(|m| (e, m))).collect();
        self.fail(err, Some(message));
    }

    /// How many step errors the future's error comes with.
    pub fn cause_count(&self) -> usize {
        self.causes.borrow().len()
    }

    /// The `i`th step error: its code and message (valid while the future
    /// lives: the list never changes once the future is done).
    pub fn cause(&self, i: usize) -> Option<(i32, *const c_char)> {
        self.causes.borrow().get(i).map(|(e, m)| (*e, m.as_ptr()))
    }

    /// Returns whether the future was pending (and is now cancelled, or for
    /// a task, being cancelled).
    pub fn cancel(self: &Arc<Self>) -> bool {
        if self.is_task() {
            return tasks::cancel(self);
        }
        self.complete(Outcome::Cancelled).is_ok()
    }

    /// Completes the future and schedules its done callbacks.
    pub(crate) fn complete(self: &Arc<Self>, outcome: Outcome) -> Result<(), i32> {
        let callbacks = {
            let mut st = self.state.borrow_mut();
            if !matches!(st.status, Status::Pending) {
                return Err(EDDY_EINVALSTATE);
            }
            st.status = match outcome {
                Outcome::Result(p, n) => Status::Result(p, n),
                Outcome::Error(e, m) => Status::Error(e, m),
                Outcome::Cancelled => Status::Cancelled,
            };
            std::mem::take(&mut st.callbacks)
        };
        let hook = self.completion_hook.borrow_mut().take();
        if let Some(hook) = hook {
            hook(self);
        }
        if self.is_task() {
            tasks::finished(self);
        }
        for cb in callbacks {
            self.schedule(cb);
        }
        Ok(())
    }

    /// Callbacks are never run synchronously; on a closed loop they are
    /// dropped, as nothing will run them.
    fn schedule(self: &Arc<Self>, cb: DoneCallback) {
        if !self.lp.is_closed() {
            self.lp.push_ready(Ready::Done(self.clone(), cb));
        }
    }

    /// The result, or the error, `EDDY_ECANCELED`, or `EDDY_EINVALSTATE`
    /// while pending.
    pub fn result(&self) -> Result<(*mut c_void, i64), i32> {
        let mut st = self.state.borrow_mut();
        match &st.status {
            Status::Pending => Err(EDDY_EINVALSTATE),
            Status::Cancelled => Err(EDDY_ECANCELED),
            Status::Result(p, n) => Ok((*p, *n)),
            Status::Error(e, _) => {
                let e = *e;
                st.retrieved = true;
                Err(e)
            }
        }
    }

    /// 0 for a result, else the error code (the future must be done).
    pub fn outcome_code(&self) -> i32 {
        match self.result() {
            Ok(_) => 0,
            Err(e) => e,
        }
    }

    /// The error message, valid while the future lives; null when none.
    pub fn error_message(&self) -> *const c_char {
        let mut st = self.state.borrow_mut();
        st.retrieved = true;
        match &st.status {
            Status::Error(_, Some(m)) => m.as_ptr(),
            _ => std::ptr::null(),
        }
    }

    pub(crate) fn add_done(self: &Arc<Self>, cb: DoneCallback) {
        let mut st = self.state.borrow_mut();
        if matches!(st.status, Status::Pending) {
            st.callbacks.push(cb);
        } else {
            drop(st);
            self.schedule(cb);
        }
    }

    pub fn add_done_callback(self: &Arc<Self>, f: FutureCbFn, data: *mut c_void) {
        self.add_done(DoneCallback::User(f, data))
    }

    /// Removes every registration equal to (f, data); returns how many.
    pub fn remove_done_callback(&self, f: FutureCbFn, data: *mut c_void) -> usize {
        self.remove_done(|cb| matches!(cb, DoneCallback::User(g, d) if *g as usize == f as usize && *d == data))
    }

    pub(crate) fn remove_done(&self, pred: impl Fn(&DoneCallback) -> bool) -> usize {
        let removed: Vec<DoneCallback> = {
            let mut st = self.state.borrow_mut();
            let (gone, kept) = std::mem::take(&mut st.callbacks).into_iter().partition(|cb| pred(cb));
            st.callbacks = kept;
            gone
        };
        removed.len()
    }

    pub(crate) fn run_done_callback(self: &Arc<Self>, cb: DoneCallback) {
        match cb {
            DoneCallback::User(f, data) => f(Arc::as_ptr(self).cast_mut(), data),
            DoneCallback::Wakeup(task) => tasks::wakeup(&task),
            DoneCallback::Stop => self.lp.stop(),
            DoneCallback::Internal(f) => f(self),
        }
    }
}

impl Drop for Future {
    fn drop(&mut self) {
        let st = self.state.get_mut();
        if let Status::Error(e, m) = &st.status {
            if !st.retrieved {
                let kind = if self.task.is_some() { "Task" } else { "Future" };
                let detail = m.as_ref().map(|m| format!(": {}", m.to_string_lossy())).unwrap_or_default();
                self.lp.report_detached(DetachedReport {
                    message: format!("{kind} exception was never retrieved{detail}"),
                    error: *e,
                });
            }
        }
    }
}

#[cfg(test)]
// Small integers stand for user data pointers; they are never dereferenced.
#[allow(clippy::manual_dangling_ptr)]
mod tests {
    use super::*;
    use crate::tasks;
    use std::cell::RefCell;

    thread_local!(static SEEN: RefCell<Vec<(usize, i64)>> = const { RefCell::new(Vec::new()) });

    extern "C" fn seen(fut: *mut Future, ud: *mut c_void) {
        // The callback gets the future it was registered on.
        assert!(!fut.is_null());
        SEEN.with(|s| s.borrow_mut().push((ud as usize, 0)));
    }

    #[test]
    fn done_callbacks_are_scheduled_in_order_never_called_synchronously() {
        let lp = EventLoop::new().unwrap();
        let a = lp.arc();
        let f = Future::new(a);
        f.add_done_callback(seen, 1 as *mut c_void);
        f.add_done_callback(seen, 2 as *mut c_void);
        f.add_done_callback(seen, 1 as *mut c_void);
        assert_eq!(f.remove_done_callback(seen, 1 as *mut c_void), 2);
        f.add_done_callback(seen, 3 as *mut c_void);
        f.set_result(std::ptr::null_mut(), 5).unwrap();
        assert!(SEEN.with(|s| s.borrow().is_empty()));
        assert_eq!(f.set_result(std::ptr::null_mut(), 6), Err(EDDY_EINVALSTATE));
        assert_eq!(a.run_until_complete(&f), Ok(0));
        assert_eq!(SEEN.with(|s| s.borrow().iter().map(|x| x.0).collect::<Vec<_>>()), [2, 3]);
        assert_eq!(f.result().unwrap().1, 5);
    }

    thread_local! {
        static AWAITED: RefCell<Option<Arc<Future>>> = const { RefCell::new(None) };
        static TASK: RefCell<Option<Arc<Future>>> = const { RefCell::new(None) };
    }

    extern "C" fn await_then_finish(task: *mut Future, _: *mut c_void) {
        let awaited = AWAITED.with(|a| a.borrow().clone()).unwrap();
        let me = TASK.with(|t| t.borrow().clone()).unwrap();
        assert_eq!(Arc::as_ptr(&me), task.cast_const());
        if !awaited.done() {
            tasks::await_(&me, &awaited).unwrap();
        } else {
            let n = awaited.result().unwrap().1;
            me.set_result(std::ptr::null_mut(), n + 1).unwrap();
        }
    }

    extern "C" fn complete(_: *mut c_void) {
        let f = AWAITED.with(|a| a.borrow().clone()).unwrap();
        f.set_result(std::ptr::null_mut(), 41).unwrap();
    }

    #[test]
    fn a_task_resumes_when_its_future_completes() {
        let lp = EventLoop::new().unwrap();
        let a = lp.arc();
        AWAITED.with(|x| *x.borrow_mut() = Some(Future::new(a)));
        let task = tasks::create_task(a, await_then_finish, std::ptr::null_mut()).unwrap();
        TASK.with(|t| *t.borrow_mut() = Some(task.clone()));
        a.call_later(0.001, crate::events::Callback::new(complete, std::ptr::null_mut()), false).unwrap();
        assert_eq!(a.run_until_complete(&task), Ok(0));
        assert_eq!(task.result().unwrap().1, 42);
        TASK.with(|t| t.borrow_mut().take());
        AWAITED.with(|x| x.borrow_mut().take());
    }
}
