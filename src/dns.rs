//! `loop.getaddrinfo` and `loop.getnameinfo`: the blocking resolver calls
//! run on the loop's default executor, as asyncio runs them.

use std::ffi::CString;
use std::sync::Arc;

use crate::base_events::EventLoop;
use crate::executor::{run_in_executor, Discard};
use crate::futures::Future;
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
    let work = Box::new(move || {
        sys::getaddrinfo(host.as_deref(), port.as_deref(), hints)
            .map(|list| (list.into_raw(), 0))
            .map_err(|e| (e, None))
    });
    run_in_executor(lp, None, work, Some(sys::discard_addrinfo))
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
