//! Unix signal handlers (asyncio's `unix_events.add_signal_handler`).
//!
//! The C-level handler writes the signal number to the loop's self-pipe;
//! the loop reads it and runs the callback as an ordinary callback, once
//! per delivered signal. The disposition eddy replaced is put back when the
//! handler is removed or the loop closes. A signal belongs to one loop at a
//! time: adding it on another loop moves it there.

use std::collections::HashMap;
use std::os::fd::{AsRawFd, OwnedFd};
use std::sync::{Arc, Mutex, Weak};

use crate::base_events::{EventLoop, IoHandler, Ready};
use crate::error::*;
use crate::events::Callback;
use crate::sys::{self, Disposition};

pub(crate) const SIGNALS: usize = 2;

/// A child process the SIGCHLD fallback watches (base_subprocess's
/// process implements it; the signal code does not need to know it).
pub(crate) trait Child: IoHandler {
    /// Whether its exit status has been collected.
    fn reaped(&self) -> bool;
    /// It may have exited: try waitpid on its own pid.
    fn try_reap(self: Arc<Self>);
}

/// The dispositions eddy replaced, by signal, process-wide.
static SAVED: Mutex<Vec<(i32, Disposition)>> = Mutex::new(Vec::new());

#[derive(Default)]
pub(crate) struct Signals {
    pipe: Option<(OwnedFd, OwnedFd)>,
    handlers: HashMap<i32, Callback>,
    /// Children watched through SIGCHLD (no pidfd available).
    children: Vec<Weak<dyn Child>>,
}

impl Signals {
    /// No signal handler and no child watched through SIGCHLD.
    pub(crate) fn is_empty(&self) -> bool {
        self.handlers.is_empty() && self.children.is_empty()
    }
}

/// asyncio's `_check_signal`: a valid signal number.
fn check_signal(sig: i32) -> Result<(), i32> {
    if sig < 1 || sig > sys::max_signal() {
        return Err(EDDY_EINVAL);
    }
    Ok(())
}

fn saved() -> std::sync::MutexGuard<'static, Vec<(i32, Disposition)>> {
    SAVED.lock().unwrap_or_else(|e| e.into_inner())
}

impl EventLoop {
    fn signal_pipe(&self) -> Result<i32, i32> {
        if let Some((_, w)) = &self.signals.borrow().pipe {
            return Ok(w.as_raw_fd());
        }
        let (r, w) = sys::pipe()?;
        self.with_poller(|p| p.add(r.as_raw_fd(), SIGNALS, sys::EDGE_READ))?;
        let fd = w.as_raw_fd();
        self.signals.borrow_mut().pipe = Some((r, w));
        Ok(fd)
    }

    /// Routes `sig` to this loop's self-pipe, saving the disposition the
    /// first time eddy takes it over.
    fn route(&self, sig: i32) -> Result<(), i32> {
        let pipe = self.signal_pipe()?;
        let mut saved = saved();
        let installed = saved.iter().any(|(s, _)| *s == sig);
        if let Some(old) = sys::route_signal(sig, pipe, installed)? {
            saved.push((sig, old));
        }
        Ok(())
    }

    /// Puts back the disposition eddy replaced, if the signal is ours.
    fn unroute(&self, sig: i32) {
        let pipe = self.signals.borrow().pipe.as_ref().map_or(-1, |(_, w)| w.as_raw_fd());
        if sys::signal_routed_to(sig, pipe) {
            let mut saved = saved();
            if let Some(i) = saved.iter().position(|(s, _)| *s == sig) {
                let (_, old) = saved.swap_remove(i);
                sys::restore_signal(sig, &old);
            }
        }
    }

    /// asyncio's `add_signal_handler`: replaces an earlier handler of `sig`.
    pub fn add_signal_handler(&self, sig: i32, cb: Callback) -> Result<(), i32> {
        check_signal(sig)?;
        self.check_closed()?;
        // Checked after the loop, in asyncio's order: sigaction refuses them.
        if sig == libc::SIGKILL || sig == libc::SIGSTOP {
            return Err(EDDY_EINVAL);
        }
        self.route(sig)?;
        self.signals.borrow_mut().handlers.insert(sig, cb);
        Ok(())
    }

    /// The SIGCHLD fallback of child watching: each SIGCHLD makes every
    /// watched child try waitpid on its own pid.
    pub(crate) fn watch_child<C: Child + 'static>(&self, p: &Arc<C>) -> Result<(), i32> {
        self.route(libc::SIGCHLD)?;
        self.signals.borrow_mut().children.push(Arc::downgrade(p) as Weak<dyn Child>);
        // It may have exited before the handler was in place.
        self.push_ready(Ready::Job(Box::new(|lp| lp.reap_children())));
        Ok(())
    }

    fn reap_children(self: &Arc<Self>) {
        let children: Vec<Arc<dyn Child>> = {
            let mut s = self.signals.borrow_mut();
            s.children.retain(|c| c.upgrade().is_some_and(|p| !p.reaped()));
            s.children.iter().filter_map(Weak::upgrade).collect()
        };
        for c in children {
            c.try_reap();
        }
    }

    /// Returns whether a handler was removed.
    pub fn remove_signal_handler(&self, sig: i32) -> Result<bool, i32> {
        check_signal(sig)?;
        let removed = self.signals.borrow_mut().handlers.remove(&sig).is_some();
        let children_need_it = sig == libc::SIGCHLD && !self.signals.borrow().children.is_empty();
        if removed && !children_need_it {
            self.unroute(sig);
        }
        Ok(removed)
    }

    /// Turns the signal numbers waiting in the self-pipe into callbacks.
    pub(crate) fn collect_signals(&self, ready: &mut std::collections::VecDeque<Ready>) {
        let signals = self.signals.borrow();
        let Some((r, _)) = &signals.pipe else { return };
        let mut buf = [0u8; 64];
        let mut child_exited = false;
        loop {
            let n = sys::read_some(r.as_raw_fd(), &mut buf);
            for sig in &buf[..n] {
                let sig = i32::from(*sig);
                child_exited |= sig == libc::SIGCHLD;
                if let Some(cb) = signals.handlers.get(&sig) {
                    ready.push_back(Ready::Call(*cb));
                }
            }
            if n < buf.len() {
                break;
            }
        }
        if child_exited && !signals.children.is_empty() {
            ready.push_back(Ready::Job(Box::new(|lp| lp.reap_children())));
        }
    }

    /// At close: every handler removed, the self-pipe closed.
    pub(crate) fn close_signals(&self) {
        let sigs: Vec<i32> = self.signals.borrow().handlers.keys().copied().collect();
        let children = std::mem::take(&mut self.signals.borrow_mut().children);
        for child in children.iter().filter_map(Weak::upgrade) {
            child.close_silently();
        }
        for sig in sigs {
            let _ = self.remove_signal_handler(sig);
        }
        self.unroute(libc::SIGCHLD);
        let pipe = self.signals.borrow_mut().pipe.take();
        drop(pipe);
    }
}
