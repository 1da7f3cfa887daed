//! fd watchers (asyncio's `add_reader` / `add_writer`), level-triggered as
//! asyncio's selectors are. They live in their own level-triggered epoll,
//! which is nested in the loop's (edge-triggered) poller: when it shows
//! activity, the loop keeps re-polling it each iteration until it is quiet.

use std::collections::HashMap;
use std::os::fd::RawFd;
use std::rc::Rc;
use std::sync::Arc;

use crate::base_events::{EventLoop, Ready, WATCHERS};
use crate::error::*;
use crate::events::{Callback, Handle};
use crate::sys::{Epoll, EDGE_READ, HANGUP, READABLE, WRITABLE};

/// The library's own readiness callback.
pub(crate) type WatchFn = dyn Fn(&Arc<EventLoop>);

/// What runs when a watched fd is ready: a user's callback, or the
/// library's own (sock_* operations waiting for readiness).
#[derive(Clone)]
pub(crate) enum Watcher {
    User(Arc<Handle>),
    Internal(Rc<WatchFn>),
}

impl Watcher {
    fn cancel(&self) {
        if let Watcher::User(h) = self {
            h.cancel()
        }
    }

    fn to_ready(&self) -> Ready {
        match self {
            Watcher::User(h) => Ready::Handle(h.clone()),
            Watcher::Internal(f) => {
                let f = f.clone();
                Ready::Job(Box::new(move |lp| f(lp)))
            }
        }
    }
}

#[derive(Default)]
struct Watch {
    reader: Option<Watcher>,
    writer: Option<Watcher>,
}

impl Watch {
    fn interest(&self) -> u32 {
        (if self.reader.is_some() { READABLE } else { 0 }) | (if self.writer.is_some() { WRITABLE } else { 0 })
    }
}

#[derive(Default)]
pub(crate) struct Watchers {
    epoll: Option<Epoll>,
    fds: HashMap<RawFd, Watch>,
    /// The nested epoll reported events last time: poll it again without
    /// waiting for a new edge.
    pending: bool,
    scratch: Vec<(RawFd, u32)>,
}

impl Watchers {
    pub(crate) fn pending(&self) -> bool {
        self.pending
    }

    /// No fd is watched.
    pub(crate) fn is_empty(&self) -> bool {
        self.fds.is_empty()
    }

    /// Queues the callbacks of ready fds: for each fd the reader, then the
    /// writer (asyncio's `_process_events`).
    pub(crate) fn collect(&mut self, ready: &mut std::collections::VecDeque<Ready>) {
        let Some(ep) = &self.epoll else { return };
        self.scratch.clear();
        ep.ready(&mut self.scratch);
        self.pending = !self.scratch.is_empty();
        for &(fd, ev) in &self.scratch {
            let Some(w) = self.fds.get(&fd) else { continue };
            if ev & (READABLE | HANGUP) != 0 {
                if let Some(r) = &w.reader {
                    ready.push_back(r.to_ready());
                }
            }
            if ev & (WRITABLE | HANGUP) != 0 {
                if let Some(wr) = &w.writer {
                    ready.push_back(wr.to_ready());
                }
            }
        }
    }

    /// Brings the kernel's set in line after `fd`'s watch changed from
    /// `before` to its current interest.
    fn sync(&mut self, fd: RawFd, before: u32) -> Result<(), i32> {
        let after = self.fds.get(&fd).map_or(0, Watch::interest);
        let ep = self.epoll.as_ref().expect("created before any fd is added");
        match ep.set(fd, after, before != 0) {
            // The fd was closed and its number reused since it was
            // registered: the kernel forgot it, so add it afresh.
            Err(e) if e == EDDY_ENOENT && after != 0 => ep.set(fd, after, false),
            // Removing an fd the kernel already dropped (closed) is done.
            Err(e) if after == 0 && (e == EDDY_ENOENT || e == EDDY_EBADF) => Ok(()),
            r => r,
        }
    }
}

impl EventLoop {
    fn watchers_epoll_ready(&self) -> Result<(), i32> {
        if self.watchers.borrow().epoll.is_some() {
            return Ok(());
        }
        let ep = Epoll::new()?;
        self.with_poller(|p| p.add(ep.raw(), WATCHERS, EDGE_READ))?;
        self.watchers.borrow_mut().epoll = Some(ep);
        Ok(())
    }

    pub(crate) fn add_watch(&self, fd: RawFd, watcher: Watcher, writer: bool) -> Result<(), i32> {
        if fd < 0 {
            return Err(EDDY_EINVAL);
        }
        self.check_closed()?;
        self.watchers_epoll_ready()?;
        let mut w = self.watchers.borrow_mut();
        let entry = w.fds.entry(fd).or_default();
        let before = entry.interest();
        let slot = if writer { &mut entry.writer } else { &mut entry.reader };
        let old = slot.replace(watcher);
        if let Some(old) = &old {
            old.cancel();
        }
        if let Err(e) = w.sync(fd, before) {
            let entry = w.fds.get_mut(&fd).expect("just inserted");
            *(if writer { &mut entry.writer } else { &mut entry.reader }) = old;
            if entry.interest() == 0 {
                w.fds.remove(&fd);
            }
            return Err(e);
        }
        Ok(())
    }

    fn remove_watch(&self, fd: RawFd, writer: bool) -> Result<bool, i32> {
        self.remove_watch_if(fd, writer, |_| true)
    }

    /// Removes `fd`'s reader or writer if `is_it` accepts it; returns
    /// whether one was removed.
    pub(crate) fn remove_watch_if(&self, fd: RawFd, writer: bool, is_it: impl Fn(&Watcher) -> bool) -> Result<bool, i32> {
        if self.is_closed() {
            return Ok(false);
        }
        let mut w = self.watchers.borrow_mut();
        let Some(entry) = w.fds.get_mut(&fd) else { return Ok(false) };
        let before = entry.interest();
        let slot = if writer { &mut entry.writer } else { &mut entry.reader };
        let Some(old) = slot.take_if(|x| is_it(x)) else {
            return Ok(false);
        };
        old.cancel();
        if entry.interest() == 0 {
            w.fds.remove(&fd);
        }
        w.sync(fd, before)?;
        Ok(true)
    }

    /// asyncio's `add_reader`: replaces an earlier reader of `fd`.
    /// `EDDY_EBUSY` for an fd a transport owns (as for all four).
    pub fn add_reader(&self, fd: RawFd, cb: Callback) -> Result<(), i32> {
        self.check_fd_free(fd)?;
        self.add_watch(fd, Watcher::User(Handle::new(cb)), false)
    }

    /// Returns whether a reader was registered.
    pub fn remove_reader(&self, fd: RawFd) -> Result<bool, i32> {
        self.check_fd_free(fd)?;
        self.remove_watch(fd, false)
    }

    pub fn add_writer(&self, fd: RawFd, cb: Callback) -> Result<(), i32> {
        self.check_fd_free(fd)?;
        self.add_watch(fd, Watcher::User(Handle::new(cb)), true)
    }

    pub fn remove_writer(&self, fd: RawFd) -> Result<bool, i32> {
        self.check_fd_free(fd)?;
        self.remove_watch(fd, true)
    }
}
