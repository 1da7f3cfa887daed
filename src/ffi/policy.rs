//! Obtaining loops and event loop policies (asyncio's module-level
//! functions). The policy is a thin compatibility layer: a table of three
//! functions; the default one keeps a current loop per thread.

use std::ffi::{c_int, c_void};
use std::sync::Mutex;

use super::*;
use crate::base_events::LoopRef;

/// asyncio's AbstractEventLoopPolicy as a table of functions. Every
/// function member must be set.
#[repr(C)]
#[derive(Clone, Copy)]
pub struct eddy_policy_t {
    /// Stores this thread's current loop in `*out` (borrowed), or returns
    /// `EDDY_ENOENT`.
    pub get_event_loop: Option<extern "C" fn(ud: *mut c_void, out: *mut *mut EventLoop) -> c_int>,
    /// Makes `loop` (NULL: none) this thread's current loop; keeps a
    /// reference.
    pub set_event_loop: Option<extern "C" fn(ud: *mut c_void, r#loop: *mut EventLoop) -> c_int>,
    /// Creates a loop and stores one reference in `*out`.
    pub new_event_loop: Option<extern "C" fn(ud: *mut c_void, out: *mut *mut EventLoop) -> c_int>,
    pub ud: *mut c_void,
}

struct Installed(eddy_policy_t);
// SAFETY: the table holds C function pointers and the caller's data
// pointer, which the library never dereferences; docs/api.md leaves its thread
// use to the caller.
unsafe impl Send for Installed {}

static POLICY: Mutex<Option<Installed>> = Mutex::new(None);

extern "C" fn default_get_event_loop(_ud: *mut c_void, out: *mut *mut EventLoop) -> c_int {
    guard(|| {
        let lp = events::current_loop().ok_or(EDDY_ENOENT)?;
        put(out, lp.cast_mut());
        Ok(0)
    })
}

extern "C" fn default_set_event_loop(_ud: *mut c_void, r#loop: *mut EventLoop) -> c_int {
    guard(|| {
        let lp = if r#loop.is_null() { None } else { Some(LoopRef::from_arc(&*arc_arg(r#loop)?)) };
        events::set_current_loop(lp);
        Ok(0)
    })
}

extern "C" fn default_new_event_loop(_ud: *mut c_void, out: *mut *mut EventLoop) -> c_int {
    guard(|| {
        if out.is_null() {
            return Err(EDDY_EINVAL);
        }
        put(out, EventLoop::new()?.into_raw().cast_mut());
        Ok(0)
    })
}

const DEFAULT_POLICY: eddy_policy_t = eddy_policy_t {
    get_event_loop: Some(default_get_event_loop),
    set_event_loop: Some(default_set_event_loop),
    new_event_loop: Some(default_new_event_loop),
    ud: std::ptr::null_mut(),
};

/// A copy of the current policy, taken so that no lock is held while its
/// functions run (they may call back into these functions).
fn current() -> eddy_policy_t {
    POLICY.lock().unwrap_or_else(|e| e.into_inner()).as_ref().map_or(DEFAULT_POLICY, |p| p.0)
}

/// Calls a policy function that stores a loop through an out-parameter,
/// and writes that loop to `out` only when the function kept its contract:
/// it returned 0 and stored a loop. A policy that returns 0 without one
/// gives `EDDY_EINVAL` (as a task factory that lies does), so the caller's
/// pointer is never left as it was with a success code.
fn ask_policy(f: Option<extern "C" fn(*mut c_void, *mut *mut EventLoop) -> c_int>, ud: *mut c_void, out: *mut *mut EventLoop) -> Result<c_int, c_int> {
    required(out)?;
    let mut lp: *mut EventLoop = std::ptr::null_mut();
    let rc = (f.ok_or(EDDY_EINVAL)?)(ud, &mut lp);
    if rc != 0 {
        return Err(if rc < 0 { rc } else { EDDY_EINVAL });
    }
    if lp.is_null() {
        return Err(EDDY_EINVAL);
    }
    put(out, lp);
    Ok(0)
}

/// A new loop, made by the current policy; the caller owns one reference.
/// `EDDY_EINVAL` (and `*out` untouched) when the policy's new_event_loop
/// returns 0 without storing a loop.
#[no_mangle]
pub extern "C" fn eddy_new_event_loop(out: *mut *mut EventLoop) -> c_int {
    guard(|| {
        let p = current();
        ask_policy(p.new_event_loop, p.ud, out)
    })
}

/// The loop running in this thread (borrowed), or NULL.
#[no_mangle]
pub extern "C" fn eddy_get_running_loop() -> *mut EventLoop {
    guard_or(std::ptr::null_mut(), || events::get_running_loop().cast_mut())
}

/// The running loop, else the policy's current loop for this thread
/// (borrowed). `EDDY_ENOENT` when there is neither: no loop is created.
/// `EDDY_EINVAL` (and `*out` untouched) when the policy's get_event_loop
/// returns 0 without storing a loop.
#[no_mangle]
pub extern "C" fn eddy_get_event_loop(out: *mut *mut EventLoop) -> c_int {
    guard(|| {
        required(out)?;
        let running = events::get_running_loop();
        if !running.is_null() {
            put(out, running.cast_mut());
            return Ok(0);
        }
        let p = current();
        ask_policy(p.get_event_loop, p.ud, out)
    })
}

/// Makes `loop` this thread's current loop through the policy (NULL
/// clears); the policy keeps a reference.
#[no_mangle]
pub extern "C" fn eddy_set_event_loop(r#loop: *mut EventLoop) -> c_int {
    guard(|| {
        let p = current();
        Ok((p.set_event_loop.ok_or(EDDY_EINVAL)?)(p.ud, r#loop))
    })
}

/// Copies the current policy (the default one when none was set).
#[no_mangle]
pub extern "C" fn eddy_get_event_loop_policy(out: *mut eddy_policy_t) -> c_int {
    guard(|| {
        if out.is_null() {
            return Err(EDDY_EINVAL);
        }
        put(out, current());
        Ok(0)
    })
}

/// Installs a policy (copied); NULL restores the default. `EDDY_EINVAL`
/// when a function member is NULL.
#[no_mangle]
pub extern "C" fn eddy_set_event_loop_policy(policy: *const eddy_policy_t) -> c_int {
    guard(|| {
        let new = if policy.is_null() {
            None
        } else {
            let p = *arg(policy)?;
            if p.get_event_loop.is_none() || p.set_event_loop.is_none() || p.new_event_loop.is_none() {
                return Err(EDDY_EINVAL);
            }
            Some(Installed(p))
        };
        *POLICY.lock().unwrap_or_else(|e| e.into_inner()) = new;
        Ok(0)
    })
}
