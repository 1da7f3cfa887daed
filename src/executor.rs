//! Thread-pool executors and `loop.run_in_executor` (asyncio's
//! `ThreadPoolExecutor` and `base_events.run_in_executor`).
//!
//! Work runs on worker threads; its outcome is handed back to the loop with
//! the call_soon_threadsafe queue and lands in the future on the loop's
//! thread. Cancelling the future before the work starts keeps it from
//! running; work already running finishes and its result is discarded.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;

use crate::base_events::{EventLoop, Job};
use crate::error::*;
use crate::futures::{Future, Outcome};

/// What a piece of work produced: a (pointer, count) value, or an error
/// code with an optional message. The pointer is carried as an address so
/// the outcome can cross threads; the library never dereferences it.
pub type WorkOutput = Result<(usize, i64), (i32, Option<std::ffi::CString>)>;

/// Frees a value nobody will receive (the future was cancelled, or the loop
/// closed): set by library-made work whose results it knows how to free.
pub type Discard = fn(usize, i64);

pub type WorkFn = Box<dyn FnOnce() -> WorkOutput + Send>;

struct Work {
    run: Box<dyn FnOnce() + Send>,
    cancelled: Arc<AtomicBool>,
}

#[derive(Default)]
struct PoolState {
    queue: VecDeque<Work>,
    threads: Vec<JoinHandle<()>>,
    idle: usize,
    shutdown: bool,
}

struct Shared {
    state: Mutex<PoolState>,
    work_ready: Condvar,
    max_workers: usize,
}

/// A thread pool. Threads start on demand, up to `max_workers`.
pub struct Executor {
    shared: Arc<Shared>,
}

/// asyncio's default size: min(32, cpus + 4).
pub fn default_workers() -> usize {
    let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
    (cpus + 4).min(32)
}

impl Executor {
    pub fn new(max_workers: usize) -> Arc<Executor> {
        let max_workers = if max_workers == 0 { default_workers() } else { max_workers };
        Arc::new(Executor {
            shared: Arc::new(Shared {
                state: Mutex::new(PoolState::default()),
                work_ready: Condvar::new(),
                max_workers,
            }),
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, PoolState> {
        self.shared.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn submit(&self, work: Work) -> Result<(), i32> {
        let mut st = self.lock();
        if st.shutdown {
            return Err(EDDY_ECLOSED);
        }
        st.queue.push_back(work);
        if st.idle < st.queue.len() && st.threads.len() < self.shared.max_workers {
            let shared = self.shared.clone();
            let spawned = std::thread::Builder::new()
                .name("eddy-worker".into())
                .spawn(move || worker(&shared));
            match spawned {
                Ok(t) => st.threads.push(t),
                // Queued work still runs on the threads that exist.
                Err(_) if !st.threads.is_empty() => {}
                Err(e) => {
                    st.queue.pop_back();
                    return Err(from_io(&e));
                }
            }
        }
        drop(st);
        self.shared.work_ready.notify_one();
        Ok(())
    }

    /// Refuses new work; queued work still runs. With `wait`, returns once
    /// every worker has finished (a worker never waits for itself).
    pub fn shutdown(&self, wait: bool) {
        let threads = {
            let mut st = self.lock();
            st.shutdown = true;
            if wait {
                std::mem::take(&mut st.threads)
            } else {
                Vec::new()
            }
        };
        self.shared.work_ready.notify_all();
        let me = std::thread::current().id();
        for t in threads {
            if t.thread().id() != me {
                let _ = t.join();
            }
        }
    }
}

impl Drop for Executor {
    fn drop(&mut self) {
        self.shutdown(false);
    }
}

fn worker(shared: &Shared) {
    loop {
        let work = {
            let mut st = shared.state.lock().unwrap_or_else(|e| e.into_inner());
            loop {
                if let Some(w) = st.queue.pop_front() {
                    break w;
                }
                if st.shutdown {
                    return;
                }
                st.idle += 1;
                st = shared.work_ready.wait(st).unwrap_or_else(|e| e.into_inner());
                st.idle -= 1;
            }
        };
        if !work.cancelled.load(Ordering::Acquire) {
            (work.run)();
        }
    }
}

impl EventLoop {
    /// The loop's default executor, made on first use.
    pub fn default_executor(&self) -> Result<Arc<Executor>, i32> {
        let mut slot = self.default_executor.borrow_mut();
        match &*slot {
            Some(ex) => Ok(ex.clone()),
            None if self.default_executor_shut.get() => Err(EDDY_ECLOSED),
            None => Ok(slot.insert(Executor::new(0)).clone()),
        }
    }

    pub fn set_default_executor(&self, ex: Arc<Executor>) -> Result<(), i32> {
        self.check_closed()?;
        *self.default_executor.borrow_mut() = Some(ex);
        Ok(())
    }

    /// Takes the default executor away (close, shutdown_default_executor).
    pub(crate) fn take_default_executor(&self) -> Option<Arc<Executor>> {
        self.default_executor_shut.set(true);
        self.default_executor.borrow_mut().take()
    }
}

/// asyncio's `run_in_executor`: `work` runs on `ex` (the loop's default
/// when None); its output completes the returned future on the loop.
pub fn run_in_executor(
    lp: &Arc<EventLoop>,
    ex: Option<&Arc<Executor>>,
    work: WorkFn,
    discard: Option<Discard>,
) -> Result<Arc<Future>, i32> {
    lp.check_closed()?;
    let ex = match ex {
        Some(ex) => ex.clone(),
        None => lp.default_executor()?,
    };
    let fut = Future::new(lp);
    let id = lp.executor_waiters.borrow_mut().insert(fut.clone());
    let cancelled = Arc::new(AtomicBool::new(false));
    let flag = cancelled.clone();
    fut.set_completion_hook(Box::new(move |f: &Future| {
        if f.cancelled() {
            flag.store(true, Ordering::Release);
        }
    }));
    let remote = lp.remote.clone();
    let run = Box::new(move || {
        let delivery = Delivery { id, output: Some(work()), discard };
        // If the loop closed meanwhile, the job is dropped and so is the
        // delivery, which frees what it can.
        let _ = remote.push(Job::Boxed(Box::new(move |lp: &Arc<EventLoop>| delivery.deliver(lp))));
    });
    if let Err(e) = ex.submit(Work { run, cancelled }) {
        lp.executor_waiters.borrow_mut().remove(id);
        return Err(e);
    }
    Ok(fut)
}

/// A work outcome on its way to the loop. Whatever no future takes is
/// discarded when it is dropped.
struct Delivery {
    id: u64,
    output: Option<WorkOutput>,
    discard: Option<Discard>,
}

impl Delivery {
    fn deliver(mut self, lp: &Arc<EventLoop>) {
        let fut = lp.executor_waiters.borrow_mut().remove(self.id);
        // Only the loop's reference left: nobody can receive the value, so
        // it is discarded (freed) when self drops.
        if let Some(fut) = fut.filter(|f| !f.done() && f.is_awaited()) {
            let _ = fut.complete(Outcome::from(self.output.take().expect("delivered once")));
        }
    }
}

impl Drop for Delivery {
    fn drop(&mut self) {
        if let (Some(free), Some(Ok((p, n)))) = (self.discard, self.output.take()) {
            free(p, n);
        }
    }
}

/// The futures of work in flight, by id: the loop's own reference keeps a
/// future alive until its work reports back.
#[derive(Default)]
pub(crate) struct Waiters {
    next: u64,
    map: std::collections::HashMap<u64, Arc<Future>>,
}

impl Waiters {
    pub(crate) fn insert(&mut self, fut: Arc<Future>) -> u64 {
        self.next += 1;
        self.map.insert(self.next, fut);
        self.next
    }

    pub(crate) fn remove(&mut self, id: u64) -> Option<Arc<Future>> {
        self.map.remove(&id)
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.map.is_empty()
    }
}

/// asyncio's `shutdown_default_executor`: the future completes once the
/// default executor's threads have all finished.
pub fn shutdown_default_executor(lp: &Arc<EventLoop>) -> Result<Arc<Future>, i32> {
    lp.check_closed()?;
    let Some(ex) = lp.take_default_executor() else {
        let fut = Future::new(lp);
        fut.complete(Outcome::Result(std::ptr::null_mut(), 0))?;
        return Ok(fut);
    };
    let joiner = Executor::new(1);
    let work: WorkFn = Box::new(move || {
        ex.shutdown(true);
        Ok((0, 0))
    });
    let fut = run_in_executor(lp, Some(&joiner), work, None);
    joiner.shutdown(false);
    fut
}
