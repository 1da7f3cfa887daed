//! Tasks (asyncio's `tasks.py`). C has no coroutines: a task is a future
//! driven by a step function that runs soon after creation and again each
//! time what it awaits is done. Each step either completes the task or says
//! what it waits for next (`await_` or `yield_`).

use std::any::Any;
use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::ffi::{c_void, CString};
use std::rc::Rc;
use std::sync::Arc;

use crate::base_events::{EventLoop, Ready};
use crate::error::*;
use crate::events::ErrorContext;
use crate::futures::{DoneCallback, Future, Outcome};

pub type StepFn = extern "C" fn(task: *mut Future, user_data: *mut c_void);

/// `set_task_factory`'s factory.
pub trait TaskFactory {
    fn create(&self, lp: &Arc<EventLoop>, step: StepFn, data: *mut c_void) -> Result<Arc<Future>, i32>;
    fn as_any(&self) -> &dyn Any;
}

pub(crate) struct TaskState {
    step: StepFn,
    data: *mut c_void,
    id: u64,
    inner: RefCell<Inner>,
}

#[derive(Default)]
enum Next {
    #[default]
    Nothing,
    Await(Arc<Future>),
    Yield,
}

#[derive(Default)]
struct Inner {
    awaiting: Option<Arc<Future>>,
    in_step: bool,
    next: Next,
    /// asyncio's `cancelling()`: cancel requests so far.
    cancelling: u32,
    /// Cancelled from inside its own step: ends cancelled when it returns.
    cancel_in_step: bool,
}

/// The loop's pending tasks, held strongly: a task lives until it is done or
/// the loop closes (where asyncio would find it in a GC cycle and report it
/// destroyed while pending).
#[derive(Default)]
pub(crate) struct Registry {
    next_id: u64,
    pending: HashMap<u64, Arc<Future>>,
}

fn state(task: &Future) -> &TaskState {
    task.task.as_ref().expect("only tasks reach here")
}

/// asyncio's `loop.create_task`: through the factory when one is set.
pub fn create_task(lp: &Arc<EventLoop>, step: StepFn, data: *mut c_void) -> Result<Arc<Future>, i32> {
    let factory = lp.task_factory.borrow().clone();
    match factory {
        Some(f) => f.create(lp, step, data),
        None => new_task(lp, step, data),
    }
}

/// A task whose first step is scheduled with call_soon.
pub fn new_task(lp: &Arc<EventLoop>, step: StepFn, data: *mut c_void) -> Result<Arc<Future>, i32> {
    lp.check_closed()?;
    let id = {
        let mut reg = lp.tasks.borrow_mut();
        reg.next_id += 1;
        reg.next_id
    };
    let task = Future::with_task(lp, Some(TaskState { step, data, id, inner: RefCell::default() }));
    lp.tasks.borrow_mut().pending.insert(id, task.clone());
    lp.push_ready(Ready::Step(task.clone()));
    Ok(task)
}

pub fn set_task_factory(lp: &EventLoop, factory: Option<Rc<dyn TaskFactory>>) {
    *lp.task_factory.borrow_mut() = factory;
}

pub fn get_task_factory(lp: &EventLoop) -> Option<Rc<dyn TaskFactory>> {
    lp.task_factory.borrow().clone()
}

/// Runs one step of `task`.
pub(crate) fn step(task: &Arc<Future>) {
    if task.done() {
        return;
    }
    let ts = state(task);
    {
        let mut i = ts.inner.borrow_mut();
        i.in_step = true;
        i.next = Next::Nothing;
        i.cancel_in_step = false;
        i.awaiting = None;
    }
    (ts.step)(Arc::as_ptr(task).cast_mut(), ts.data);
    let (next, cancel_in_step) = {
        let mut i = ts.inner.borrow_mut();
        i.in_step = false;
        (std::mem::take(&mut i.next), i.cancel_in_step)
    };
    if task.done() {
        return;
    }
    if cancel_in_step {
        let _ = task.complete(Outcome::Cancelled);
        return;
    }
    match next {
        Next::Await(fut) => {
            ts.inner.borrow_mut().awaiting = Some(fut.clone());
            fut.add_done(DoneCallback::Wakeup(task.clone()));
        }
        Next::Yield => task.get_loop().push_ready(Ready::Step(task.clone())),
        Next::Nothing => {
            let msg = CString::new("task step returned without completing or awaiting").ok();
            let _ = task.complete(Outcome::Error(EDDY_EINVALSTATE, msg));
        }
    }
}

/// What a task's awaited future calls when it is done.
pub(crate) fn wakeup(task: &Arc<Future>) {
    step(task)
}

/// asyncio's `Task.cancel`: asks; the step sees `cancelling() > 0` and
/// decides. Returns false when the task is done.
pub(crate) fn cancel(task: &Arc<Future>) -> bool {
    if task.done() {
        return false;
    }
    let awaited = {
        let mut i = state(task).inner.borrow_mut();
        i.cancelling += 1;
        if i.in_step {
            i.cancel_in_step = true;
            return true;
        }
        i.awaiting.clone()
    };
    // Cancelling what it awaits wakes the task; a task not awaiting anything
    // has its next step queued already and will see the request there.
    if let Some(fut) = awaited {
        fut.cancel();
    }
    true
}

/// Only the task's own step may complete it.
pub(crate) fn check_manual_completion(fut: &Future) -> Result<(), i32> {
    match &fut.task {
        Some(ts) if !ts.inner.borrow().in_step => Err(EDDY_EINVALSTATE),
        _ => Ok(()),
    }
}

pub(crate) fn finished(task: &Arc<Future>) {
    let ts = state(task);
    let awaited = ts.inner.borrow_mut().awaiting.take();
    let me = task.get_loop().tasks.borrow_mut().pending.remove(&ts.id);
    drop((awaited, me));
}

fn in_step(task: &Future) -> Result<&TaskState, i32> {
    let ts = task.task.as_ref().ok_or(EDDY_EINVAL)?;
    if !ts.inner.borrow().in_step {
        return Err(EDDY_EINVALSTATE);
    }
    Ok(ts)
}

/// From inside the step: run the next step once `fut` is done.
pub fn await_(task: &Arc<Future>, fut: &Arc<Future>) -> Result<(), i32> {
    let ts = in_step(task)?;
    if Arc::ptr_eq(task, fut) || !Arc::ptr_eq(task.get_loop(), fut.get_loop()) {
        return Err(EDDY_EINVAL);
    }
    ts.inner.borrow_mut().next = Next::Await(fut.clone());
    Ok(())
}

/// From inside the step: run the next step on the next iteration.
pub fn yield_(task: &Arc<Future>) -> Result<(), i32> {
    in_step(task)?.inner.borrow_mut().next = Next::Yield;
    Ok(())
}

/// The number of cancel requests (0 when none); EINVAL for a plain future.
pub fn cancelling(task: &Future) -> Result<u32, i32> {
    Ok(task.task.as_ref().ok_or(EDDY_EINVAL)?.inner.borrow().cancelling)
}

/// At close: every task still pending is reported and let go. Their awaited
/// futures are released first, which breaks task <-> future cycles.
pub(crate) fn destroy_pending(lp: &Arc<EventLoop>) {
    let pending = std::mem::take(&mut lp.tasks.borrow_mut().pending);
    for task in pending.into_values() {
        let awaited = state(&task).inner.borrow_mut().awaiting.take();
        drop(awaited);
        let mut ctx = ErrorContext::new("Task was destroyed but it is pending!", 0);
        ctx.future = Some(task);
        lp.report(ctx);
    }
}

/// C has no async generators; this cancels every pending task and completes
/// once all of them are done.
pub fn shutdown_asyncgens(lp: &Arc<EventLoop>) -> Result<Arc<Future>, i32> {
    lp.check_closed()?;
    let all = Future::new(lp);
    let pending: Vec<Arc<Future>> = lp.tasks.borrow().pending.values().cloned().collect();
    if pending.is_empty() {
        all.complete(Outcome::Result(std::ptr::null_mut(), 0))?;
        return Ok(all);
    }
    let remaining = Rc::new(Cell::new(pending.len()));
    for task in pending {
        task.cancel();
        let (all, remaining) = (all.clone(), remaining.clone());
        task.add_done(DoneCallback::Internal(Box::new(move |_| {
            remaining.set(remaining.get() - 1);
            if remaining.get() == 0 {
                let _ = all.complete(Outcome::Result(std::ptr::null_mut(), 0));
            }
        })));
    }
    Ok(all)
}
