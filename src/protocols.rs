//! Protocols (asyncio's `protocols.py`): the table of callbacks a transport
//! calls. NULL members are no-ops, as asyncio's base-class methods are.
//! When `get_buffer` is set, the protocol is a BufferedProtocol and
//! `get_buffer`/`buffer_updated` replace `data_received`.

use std::ffi::{c_int, c_void};

use crate::transports::Transport;

/// Callbacks of a stream protocol (Protocol and BufferedProtocol).
#[repr(C)]
#[derive(Clone, Copy, Default)]
pub struct Protocol {
    pub connection_made: Option<extern "C" fn(t: *mut Transport, ud: *mut c_void)>,
    /// `err` 0: clean close or EOF.
    pub connection_lost: Option<extern "C" fn(t: *mut Transport, err: c_int, ud: *mut c_void)>,
    pub pause_writing: Option<extern "C" fn(t: *mut Transport, ud: *mut c_void)>,
    pub resume_writing: Option<extern "C" fn(t: *mut Transport, ud: *mut c_void)>,
    pub data_received: Option<extern "C" fn(t: *mut Transport, data: *const u8, len: usize, ud: *mut c_void)>,
    /// true: keep the write side open.
    pub eof_received: Option<extern "C" fn(t: *mut Transport, ud: *mut c_void) -> bool>,
    /// Buffered protocol: store a buffer of `*len` (> 0) bytes in `*buf`
    /// and return 0, or return a negative code (a fatal error).
    /// `sizehint` 0 means no hint.
    pub get_buffer: Option<
        extern "C" fn(t: *mut Transport, sizehint: usize, buf: *mut *mut c_void, len: *mut usize, ud: *mut c_void) -> c_int,
    >,
    pub buffer_updated: Option<extern "C" fn(t: *mut Transport, nbytes: usize, ud: *mut c_void)>,
}

/// A transport's protocol: the copied table, its data, and the caller's
/// table pointer (returned by get_protocol, never dereferenced here).
#[derive(Clone, Copy)]
pub struct ProtocolSlot {
    pub table: Protocol,
    pub ud: *mut c_void,
    pub origin: *const Protocol,
}

impl ProtocolSlot {
    pub fn new(table: Protocol, ud: *mut c_void, origin: *const Protocol) -> Self {
        Self { table, ud, origin }
    }

    pub(crate) fn is_buffered(&self) -> bool {
        self.table.get_buffer.is_some()
    }
}
