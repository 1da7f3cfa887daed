//! `loop.getaddrinfo` and `loop.getnameinfo`: the blocking resolver calls
//! run on the loop's default executor, as asyncio runs them; and the
//! resolution the endpoints (stream and datagram) do before they connect
//! or bind.

use std::ffi::{CStr, CString};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use socket2::SockAddr;

use crate::base_events::{EventLoop, Job, Ready, Remote};
use crate::error::*;
use crate::events::ErrorContext;
use crate::executor::{run_in_executor, Discard};
use crate::futures::{DoneCallback, Future};
use crate::sys;

pub use crate::sys::Hints;

/// Resolves `host`/`port`; the future's pointer is the `struct addrinfo`
/// list (freed with freeaddrinfo by whoever receives it).
pub fn getaddrinfo(
    lp: &Arc<EventLoop>,
    host: Option<CString>,
    port: Option<CString>,
    hints: Hints,
) -> Result<Arc<Future>, i32> {
    let watch = SlowLookup::watch(lp, host.as_deref(), port.as_deref());
    let work = Box::new(move || {
        SlowLookup::time(watch, || sys::getaddrinfo(host.as_deref(), port.as_deref(), hints))
            .map(|list| (list.into_raw(), 0))
            .map_err(|e| (e, None))
    });
    run_in_executor(lp, None, work, Some(sys::discard_addrinfo))
}

/// asyncio's `_getaddrinfo_debug`: in debug mode (as it is when the lookup
/// starts), a getaddrinfo that takes at least slow_callback_duration is
/// reported the way eddy reports slow callbacks: to the exception handler,
/// error 0, "Getting address info HOST:PORT took N.NNNms".
pub(crate) struct SlowLookup {
    remote: Arc<Remote>,
    threshold: f64,
    what: String,
}

impl SlowLookup {
    pub(crate) fn watch(lp: &Arc<EventLoop>, host: Option<&CStr>, port: Option<&CStr>) -> Option<Self> {
        let show = |s: Option<&CStr>| s.map(|s| s.to_string_lossy().into_owned()).unwrap_or_default();
        lp.get_debug().then(|| SlowLookup {
            remote: lp.remote.clone(),
            threshold: lp.slow_callback_duration(),
            what: format!("{}:{}", show(host), show(port)),
        })
    }

    /// Runs the lookup `f` (on an executor thread) and reports it to the
    /// loop if it was slow.
    pub(crate) fn time<T>(watch: Option<Self>, f: impl FnOnce() -> T) -> T {
        let Some(w) = watch else { return f() };
        let t0 = Instant::now();
        let r = f();
        let dt = t0.elapsed().as_secs_f64();
        if dt >= w.threshold {
            let msg = format!("Getting address info {} took {:.3}ms", w.what, dt * 1e3);
            let _ = w.remote.push(Job::Boxed(Box::new(move |lp: &Arc<EventLoop>| lp.report(ErrorContext::new(msg, 0)))));
        }
        r
    }
}

/// Packs (host, service) into the value the future carries.
pub type NamePacker = fn(&[u8], &[u8]) -> Result<usize, i32>;

/// Looks up the name of `addr`; the future's pointer is whatever `pack`
/// made of (host, service), freed by `discard` if nobody receives it.
pub fn getnameinfo(
    lp: &Arc<EventLoop>,
    addr: socket2::SockAddr,
    flags: i32,
    pack: NamePacker,
    discard: Discard,
) -> Result<Arc<Future>, i32> {
    let work = Box::new(move || {
        let (host, serv) = sys::getnameinfo(&addr, flags).map_err(|e| (e, None))?;
        pack(&host, &serv).map(|p| (p, 0)).map_err(|e| (e, None))
    });
    run_in_executor(lp, None, work, Some(discard))
}

/// One resolved address: (family, socktype, protocol, address).
pub(crate) type AddrEntry = (i32, i32, i32, SockAddr);
type Resolved = Result<Vec<AddrEntry>, i32>;
type Then = Box<dyn FnOnce(&Arc<EventLoop>, Resolved)>;

/// Resolves `host`/`port` and continues with the addresses on a later
/// iteration. Numeric hosts and the wildcard need no lookup and are done
/// on the loop (asyncio's `_ipaddr_info`); names go to the executor.
pub(crate) fn resolve(lp: &Arc<EventLoop>, host: Option<&str>, port: u16, mut hints: Hints, then: Then) -> Result<(), i32> {
    let port = CString::new(port.to_string()).expect("digits");
    hints.flags |= libc::AI_NUMERICSERV;
    let numeric = host.is_none_or(|h| h.parse::<std::net::IpAddr>().is_ok());
    let host = host.map(|h| CString::new(h).map_err(|_| EDDY_EINVAL)).transpose()?;
    if numeric {
        hints.flags |= libc::AI_NUMERICHOST;
        let r = sys::getaddrinfo(host.as_deref(), Some(&port), hints).map(|l| sys::addrinfo_entries(&l));
        lp.push_ready(Ready::Job(Box::new(move |lp| then(lp, r.and_then(non_empty)))));
        return Ok(());
    }
    let slot: Arc<Mutex<Vec<AddrEntry>>> = Arc::default();
    let out = slot.clone();
    let watch = SlowLookup::watch(lp, host.as_deref(), Some(&port));
    let work = Box::new(move || {
        let list = SlowLookup::time(watch, || sys::getaddrinfo(host.as_deref(), Some(&port), hints)).map_err(|e| (e, None))?;
        *out.lock().unwrap_or_else(|e| e.into_inner()) = sys::addrinfo_entries(&list);
        Ok((0, 0))
    });
    let fut = run_in_executor(lp, None, work, None)?;
    fut.add_done(DoneCallback::Internal(Box::new(move |f: &Arc<Future>| {
        let r = f.result().map(|_| std::mem::take(&mut *slot.lock().unwrap_or_else(|e| e.into_inner())));
        then(f.get_loop(), r.and_then(non_empty))
    })));
    Ok(())
}

fn non_empty(v: Vec<AddrEntry>) -> Resolved {
    if v.is_empty() {
        Err(EDDY_EAI_NONAME)
    } else {
        Ok(v)
    }
}
