//! eddy: asyncio's low-level event loop API as a C library.
//!
//! The core modules are safe Rust and are named after the asyncio modules
//! whose contracts they implement; `ffi` is the C boundary and the only place
//! that deals in raw pointers.

// Objects are Arc-allocated for their atomic, C-visible reference count; a
// loop and its objects are used from one thread (docs/api.md, Threads).
#![allow(clippy::arc_with_non_send_sync)]

pub mod base_events;
pub mod base_subprocess;
pub mod datagram;
pub mod dns;
pub mod endpoints;
pub mod error;
pub mod events;
pub mod executor;
pub mod ffi;
pub mod futures;
pub mod selector_events;
pub mod sendfile;
pub mod server;
pub mod sock;
mod slab;
pub mod sslproto;
mod sys;
pub mod tasks;
pub mod transports;
pub mod unix_events;

pub use base_events::{EventLoop, LoopRef};
pub use events::{Callback, ErrorContext, Handle};
pub use futures::Future;
