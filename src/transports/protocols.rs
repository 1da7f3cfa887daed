//! Stream protocols (asyncio's `protocols.py`): the table of callbacks a
//! stream transport calls. It is part of the stream transport, as the
//! datagram and subprocess protocol tables are part of theirs. NULL members are no-ops, as asyncio's base-class methods are.
//! When `get_buffer` is set, the protocol is a BufferedProtocol and
//! `get_buffer`/`buffer_updated` replace `data_received`.

use std::cell::RefCell;
use std::ffi::{c_int, c_void};
use std::rc::Rc;
use std::sync::Arc;

use super::Transport;

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

impl Protocol {
    /// The callbacks as addresses, to tell whether two tables are the same.
    fn addresses(&self) -> [usize; 8] {
        [
            self.connection_made.map_or(0, |f| f as usize),
            self.connection_lost.map_or(0, |f| f as usize),
            self.pause_writing.map_or(0, |f| f as usize),
            self.resume_writing.map_or(0, |f| f as usize),
            self.data_received.map_or(0, |f| f as usize),
            self.eof_received.map_or(0, |f| f as usize),
            self.get_buffer.map_or(0, |f| f as usize),
            self.buffer_updated.map_or(0, |f| f as usize),
        ]
    }
}

/// The copy of a C table that a server's connections share, as long as its
/// factory keeps handing out the same table with the same contents: 8 bytes
/// per connection instead of 64.
#[derive(Default)]
pub(crate) struct SharedTable {
    last: RefCell<Option<(*const Protocol, Rc<Protocol>)>>,
}

impl SharedTable {
    pub(crate) fn slot(&self, table: &Protocol, ud: *mut c_void, origin: *const Protocol) -> ProtocolSlot {
        let mut last = self.last.borrow_mut();
        let shared = match &*last {
            Some((o, t)) if *o == origin && t.addresses() == table.addresses() => t.clone(),
            _ => {
                let t = Rc::new(*table);
                *last = Some((origin, t.clone()));
                t
            }
        };
        ProtocolSlot::C { table: shared, ud, origin }
    }
}

/// A protocol implemented inside the library (the subprocess pipes', for
/// instance), with asyncio's base-class defaults.
pub trait StreamProtocol {
    fn connection_made(&self, _t: &Arc<Transport>) {}
    fn connection_lost(&self, _t: &Arc<Transport>, _err: c_int) {}
    fn pause_writing(&self, _t: &Arc<Transport>) {}
    fn resume_writing(&self, _t: &Arc<Transport>) {}
    fn data_received(&self, _t: &Arc<Transport>, _data: &[u8]) {}
    fn eof_received(&self, _t: &Arc<Transport>) -> bool {
        false
    }
}

/// A transport's protocol: a C table (copied, with its data and the
/// caller's table pointer, which get_protocol returns and nothing here
/// dereferences), or one of the library's own.
#[derive(Clone)]
pub enum ProtocolSlot {
    C { table: Rc<Protocol>, ud: *mut c_void, origin: *const Protocol },
    Internal(Rc<dyn StreamProtocol>),
}

impl ProtocolSlot {
    pub fn new(table: &Protocol, ud: *mut c_void, origin: *const Protocol) -> Self {
        ProtocolSlot::C { table: Rc::new(*table), ud, origin }
    }

    pub(crate) fn is_buffered(&self) -> bool {
        matches!(self, ProtocolSlot::C { table, .. } if table.get_buffer.is_some())
    }

    /// The caller's table and data (NULL, NULL for the library's own).
    pub(crate) fn origin(&self) -> (*const Protocol, *mut c_void) {
        match self {
            ProtocolSlot::C { origin, ud, .. } => (*origin, *ud),
            ProtocolSlot::Internal(_) => (std::ptr::null(), std::ptr::null_mut()),
        }
    }

    pub(crate) fn connection_made(&self, t: &Arc<Transport>) {
        match self {
            ProtocolSlot::C { table, ud, .. } => {
                if let Some(f) = table.connection_made {
                    f(t.c_ptr(), *ud)
                }
            }
            ProtocolSlot::Internal(p) => p.connection_made(t),
        }
    }

    pub(crate) fn connection_lost(&self, t: &Arc<Transport>, err: c_int) {
        match self {
            ProtocolSlot::C { table, ud, .. } => {
                if let Some(f) = table.connection_lost {
                    f(t.c_ptr(), err, *ud)
                }
            }
            ProtocolSlot::Internal(p) => p.connection_lost(t, err),
        }
    }

    pub(crate) fn pause_writing(&self, t: &Arc<Transport>) {
        match self {
            ProtocolSlot::C { table, ud, .. } => {
                if let Some(f) = table.pause_writing {
                    f(t.c_ptr(), *ud)
                }
            }
            ProtocolSlot::Internal(p) => p.pause_writing(t),
        }
    }

    pub(crate) fn resume_writing(&self, t: &Arc<Transport>) {
        match self {
            ProtocolSlot::C { table, ud, .. } => {
                if let Some(f) = table.resume_writing {
                    f(t.c_ptr(), *ud)
                }
            }
            ProtocolSlot::Internal(p) => p.resume_writing(t),
        }
    }

    /// Inline: on the per-message read path.
    #[inline(always)]
    pub(crate) fn data_received(&self, t: &Arc<Transport>, data: &[u8]) {
        match self {
            ProtocolSlot::C { table, ud, .. } => {
                if let Some(f) = table.data_received {
                    f(t.c_ptr(), data.as_ptr(), data.len(), *ud)
                }
            }
            ProtocolSlot::Internal(p) => p.data_received(t, data),
        }
    }

    pub(crate) fn eof_received(&self, t: &Arc<Transport>) -> bool {
        match self {
            ProtocolSlot::C { table, ud, .. } => table.eof_received.is_some_and(|f| f(t.c_ptr(), *ud)),
            ProtocolSlot::Internal(p) => p.eof_received(t),
        }
    }

    /// BufferedProtocol's get_buffer: a buffer of len > 0 bytes, or the
    /// protocol's error (EDDY_EINVAL for an empty or NULL buffer, or one
    /// longer than memory can hold).
    pub(crate) fn get_buffer(&self, t: &Arc<Transport>, sizehint: usize) -> Result<(*mut u8, usize), c_int> {
        let ProtocolSlot::C { table, ud, .. } = self else { return Err(crate::error::EDDY_EINVAL) };
        let f = table.get_buffer.ok_or(crate::error::EDDY_EINVAL)?;
        let (mut p, mut len): (*mut c_void, usize) = (std::ptr::null_mut(), 0);
        let rc = f(t.c_ptr(), sizehint, &mut p, &mut len, *ud);
        if rc < 0 {
            return Err(rc);
        }
        if p.is_null() || len == 0 || len > isize::MAX as usize {
            return Err(crate::error::EDDY_EINVAL);
        }
        Ok((p.cast(), len))
    }

    pub(crate) fn buffer_updated(&self, t: &Arc<Transport>, n: usize) {
        if let ProtocolSlot::C { table, ud, .. } = self {
            if let Some(f) = table.buffer_updated {
                f(t.c_ptr(), n, *ud)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    extern "C" fn made(_t: *mut Transport, _ud: *mut c_void) {}
    extern "C" fn lost(_t: *mut Transport, _err: c_int, _ud: *mut c_void) {}

    fn table_of(slot: &ProtocolSlot) -> Rc<Protocol> {
        match slot {
            ProtocolSlot::C { table, .. } => table.clone(),
            ProtocolSlot::Internal(_) => panic!("a C slot"),
        }
    }

    /// A server's connections share one copy while its factory hands out
    /// the same table unchanged; a changed table (same pointer, new
    /// callbacks) or another table gets a copy of its own, so the "copied
    /// at the call" contract holds.
    #[test]
    fn a_factory_table_is_shared_until_it_changes() {
        let shared = SharedTable::default();
        let mut t = Protocol { connection_made: Some(made), ..Default::default() };
        let origin: *const Protocol = &t;
        let mut data = 0u8;
        let ud: *mut c_void = (&mut data as *mut u8).cast();
        let a = shared.slot(&t, std::ptr::null_mut(), origin);
        let b = shared.slot(&t, ud, origin);
        assert!(Rc::ptr_eq(&table_of(&a), &table_of(&b)));
        assert_eq!(b.origin(), (origin, ud));

        t.connection_lost = Some(lost);
        let c = shared.slot(&t, std::ptr::null_mut(), origin);
        assert!(!Rc::ptr_eq(&table_of(&b), &table_of(&c)));
        assert!(table_of(&c).connection_lost.is_some());
        assert!(table_of(&a).connection_lost.is_none());

        let other = t;
        let d = shared.slot(&other, std::ptr::null_mut(), &other);
        assert!(!Rc::ptr_eq(&table_of(&c), &table_of(&d)));
    }
}
