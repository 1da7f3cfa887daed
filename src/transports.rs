//! The stream transport (asyncio's `_SelectorSocketTransport` and the Unix
//! pipe transports): one implementation for TCP, Unix sockets and pipes,
//! with the I/O calls chosen by kind, and the write flow control shared
//! with other transports (asyncio's `_FlowControlMixin`).
//!
//! The fd is registered once, for both directions, in the loop's
//! edge-triggered poller. A read happens once per readiness edge; a read
//! that fills the loop's buffer is repeated on the next iteration without
//! waiting for an edge. Writes go straight to the kernel when nothing is
//! buffered; only what the kernel did not take is buffered and flushed
//! with writev when the fd turns writable.

use std::cell::{Cell, Ref, RefCell, RefMut};
use std::ops::{Deref, DerefMut};
use std::collections::VecDeque;
use std::ffi::c_void;
use std::io::IoSlice;
use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::sync::{Arc, Weak};

use socket2::SockAddr;

use crate::base_events::{new_read_buffer, EventLoop, IoEvent, IoHandler, IoToken, Ready};
use crate::error::*;
use crate::events::ErrorContext;
use crate::futures::Future;
use crate::sys;

pub mod protocols;

pub use protocols::{Protocol, ProtocolSlot, StreamProtocol};
pub(crate) use protocols::SharedTable;

/// asyncio's flow-control defaults.
pub(crate) const DEFAULT_HIGH: usize = 64 * 1024;
/// How many buffers one writev takes.
const MAX_IOV: usize = 64;

/// Work to run with a transport once something happens to it.
pub(crate) type TransportJob = Box<dyn FnOnce(&Arc<Transport>)>;

/// The kinds of fd a stream transport serves.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Kind {
    Tcp,
    Unix,
    ReadPipe,
    WritePipe,
    /// The application side of a TLS connection (no fd of its own).
    Tls,
}

impl Kind {
    pub(crate) fn is_socket(self) -> bool {
        matches!(self, Kind::Tcp | Kind::Unix)
    }
    fn reads(self) -> bool {
        self != Kind::WritePipe
    }
    fn writes(self) -> bool {
        self != Kind::ReadPipe
    }
}

/// Write flow control (asyncio's `_FlowControlMixin`): the size of a
/// transport's write buffer and its limits; pause above `high`, resume at or
/// below `low`. The stream and datagram transports keep one each.
#[derive(Clone, Copy, Debug)]
pub struct FlowControl {
    high: usize,
    low: usize,
    paused: bool,
    size: usize,
}

impl FlowControl {
    pub fn new(high: usize) -> Self {
        Self { high, low: high / 4, paused: false, size: 0 }
    }

    /// The write buffer's size (asyncio's `get_write_buffer_size`).
    pub fn size(&self) -> usize {
        self.size
    }

    pub fn grow(&mut self, n: usize) {
        self.size += n;
    }

    pub fn shrink(&mut self, n: usize) {
        self.size -= n;
    }

    /// The buffer was dropped (abort): no resume follows.
    pub fn clear(&mut self) {
        self.size = 0;
    }

    /// asyncio's `_set_write_buffer_limits`; `None` means "derive it".
    pub fn set_limits(&mut self, high: Option<usize>, low: Option<usize>, default_high: usize) -> Result<(), i32> {
        let high = match (high, low) {
            (Some(h), _) => h,
            (None, Some(l)) => l.saturating_mul(4),
            (None, None) => default_high,
        };
        let low = low.unwrap_or(high / 4);
        if high < low {
            return Err(EDDY_EINVAL);
        }
        self.high = high;
        self.low = low;
        Ok(())
    }

    pub fn limits(&self) -> (usize, usize) {
        (self.low, self.high)
    }

    pub fn is_paused(&self) -> bool {
        self.paused
    }

    /// True once when the size goes above high.
    pub fn should_pause(&mut self) -> bool {
        if self.size > self.high && !self.paused {
            self.paused = true;
            return true;
        }
        false
    }

    /// True once when paused and the size is back at or below low.
    pub fn should_resume(&mut self) -> bool {
        if self.paused && self.size <= self.low {
            self.paused = false;
            return true;
        }
        false
    }
}

/// The TLS layer of a TLS transport (sslproto's, asyncio's `SSLProtocol`):
/// where a TLS transport behaves differently from a plain one, the stream
/// transport hands over to it. Its methods are the TLS versions of the
/// transport's methods of the same names.
pub(crate) trait TlsLayer {
    /// The plain transport under it.
    fn lower(&self) -> &Arc<Transport>;
    /// Encrypts `slices` and sends the records; the count is the plaintext.
    fn write(&self, t: &Transport, slices: &[IoSlice]) -> Result<usize, i32>;
    fn resume_reading(&self, t: &Arc<Transport>);
    fn set_write_buffer_limits(&self, high: Option<usize>, low: Option<usize>) -> Result<(), i32>;
    /// close() once the transport is marked closing.
    fn close(&self, t: &Arc<Transport>);
    fn get_extra_info(&self, name: &str) -> Option<ExtraInfo>;
    /// sslproto's own state, for its methods on the transport.
    fn as_any(&self) -> &dyn std::any::Any;
}

/// What accepted a connection (a server, asyncio's `_attach`/`_detach`):
/// told when the connection is lost, so that it can forget it. The server
/// implements it; the transport does not need to know the server.
pub(crate) trait Acceptor {
    /// The client at `index` (given to `join_server`) is gone.
    fn detach(&self, index: usize);
}

/// An acceptor as its connections hold it: one per server, so that each
/// transport keeps a thin `Weak` to it. A `Weak<dyn Acceptor>` is two
/// words, which would make every transport bigger, and boxing it cost an
/// allocation per connection.
pub(crate) struct AcceptorLink(pub(crate) Weak<dyn Acceptor>);

/// The closing states of a transport (asyncio's `_closing`, then the
/// connection_lost that follows), shared by the stream and datagram
/// transports.
#[derive(Clone, Copy, Default, Debug)]
pub struct Closing {
    /// close(), abort() or a fatal error: no more reads or user writes.
    pub closing: bool,
    /// connection_lost is scheduled or done.
    pub lost: bool,
}

impl Closing {
    pub fn is_closing(&self) -> bool {
        self.closing || self.lost
    }

    /// close(): false when closing had already begun.
    pub fn close(&mut self) -> bool {
        if self.is_closing() {
            return false;
        }
        self.closing = true;
        true
    }

    /// abort() or a fatal error: false once connection_lost is due.
    pub fn abort(&mut self) -> bool {
        if self.lost {
            return false;
        }
        self.closing = true;
        true
    }

    /// close() came while data was buffered and connection_lost is not due
    /// yet (it is once the buffer drains): a stream transport still takes
    /// writes and flushes them first (docs/semantics.md item 68, which
    /// asyncio's SSLProtocol relies on: it closes its transport while
    /// paused and writes its close_notify from resume_writing, which the
    /// flush calls before it checks whether the buffer is empty).
    pub fn flushing(&self) -> bool {
        self.closing && !self.lost
    }

    /// connection_lost is now due: false when it already was.
    pub fn lose(&mut self) -> bool {
        !std::mem::replace(&mut self.lost, true)
    }
}

/// What `get_extra_info` found.
pub enum ExtraInfo {
    Address(SockAddr),
    Fd(RawFd),
    Bytes(Vec<u8>),
    /// A string (the C side adds the NUL).
    Str(String),
}

pub(crate) struct State {
    pub(crate) fd: Option<OwnedFd>,
    token: Option<IoToken>,
    pub(crate) proto: Option<ProtocolSlot>,
    pub(crate) close: Closing,
    /// connection_made has run: reading may start.
    pub(crate) started: bool,
    pub(crate) reading_paused: bool,
    pub(crate) eof_received: bool,
    eof_written: bool,
    buffer: VecDeque<Vec<u8>>,
    /// Bytes of the front chunk already written.
    front_sent: usize,
    pub(crate) flow: FlowControl,
    /// An operation that has taken over the writing (loop.sendfile, in
    /// sendfile.rs), boxed: rare.
    pub(crate) takeover: Option<Box<Takeover>>,
    /// The server that accepted this connection, and the connection's
    /// index in its client slab (a u32 beside the small fields: a usize
    /// would make every transport 8 bytes bigger; a server holds fewer
    /// connections than fds exist).
    server: Option<Weak<AcceptorLink>>,
    server_index: u32,
    /// An accepted connection's peer, kept for get_extra_info after the
    /// peer has gone (asyncio caches it too). Internet addresses only: a
    /// SockAddr is 128 bytes, an idle connection's biggest field.
    peername: Option<std::net::SocketAddr>,
}

impl State {
    /// A transport's state before connection_made: `fd` is None for a
    /// transport over another one (TLS); `high` is the default write limit.
    pub(crate) fn new(fd: Option<OwnedFd>, proto: ProtocolSlot, high: usize, peername: Option<std::net::SocketAddr>) -> State {
        State {
            fd,
            token: None,
            proto: Some(proto),
            close: Closing::default(),
            started: false,
            reading_paused: false,
            eof_received: false,
            eof_written: false,
            buffer: VecDeque::new(),
            front_sent: 0,
            flow: FlowControl::new(high),
            takeover: None,
            server: None,
            server_index: 0,
            peername,
        }
    }

    /// Reading may happen now (the `hot::READS` bit).
    fn reader_ready(&self) -> bool {
        self.started && !self.close.closing && !self.reading_paused && !self.eof_received && self.proto.is_some()
    }
}

/// The read side's edge bookkeeping, apart from the State's RefCell: the
/// per-message path (an event, then a read) updates it without a borrow.
#[derive(Default)]
pub(crate) struct ReadEdge {
    /// An edge was seen and not yet drained (kept while paused).
    readable: Cell<bool>,
    /// The poller saw the peer's FIN (or a pipe's hang-up): a short read
    /// does not mean drained, the EOF is still to be read.
    peer_closed: Cell<bool>,
}

/// Bits of `Transport::hot`: the answers the per-message paths need from
/// the State, so that a read, a direct send and the writable check test
/// one Cell instead of borrowing the RefCell and testing four or five
/// fields each (callgrind: the borrows and tests were ~25 of ~280
/// instructions per echoed message at 100 connections). They are
/// recomputed whenever a mutable borrow of the State ends (`StateMut`),
/// the only way the State changes, so they cannot go stale.
mod hot {
    /// `State::reader` would give the protocol: reading may happen now.
    pub(super) const READS: u8 = 1;
    /// A write may go straight to send(2): a plain socket, open, nothing
    /// buffered, no takeover, no EOF written.
    pub(super) const SENDS: u8 = 2;
    /// The writable side has something to flush.
    pub(super) const FLUSH: u8 = 4;
}

pub struct Transport {
    pub(crate) lp: Arc<EventLoop>,
    pub(crate) kind: Kind,
    pub(crate) raw_fd: RawFd,
    pub(crate) edge: ReadEdge,
    st: RefCell<State>,
    /// `hot` bits of the State (see there).
    hot: Cell<u8>,
    /// Kind::Tls: the TLS layer (sslproto's) and the plain transport under
    /// it (boxed: plain connections should not pay for its size).
    pub(crate) tls: Option<Box<dyn TlsLayer>>,
}

/// A mutable borrow of a transport's State that refreshes the transport's
/// `hot` bits when it ends.
pub(crate) struct StateMut<'a> {
    st: RefMut<'a, State>,
    t: &'a Transport,
}

impl Deref for StateMut<'_> {
    type Target = State;
    fn deref(&self) -> &State {
        &self.st
    }
}

impl DerefMut for StateMut<'_> {
    fn deref_mut(&mut self) -> &mut State {
        &mut self.st
    }
}

impl Drop for StateMut<'_> {
    fn drop(&mut self) {
        self.t.hot.set(self.t.hot_bits(&self.st));
    }
}

impl Transport {
    /// A transport over `st` (not registered anywhere yet).
    pub(crate) fn new(lp: &Arc<EventLoop>, kind: Kind, raw_fd: RawFd, st: State, tls: Option<Box<dyn TlsLayer>>) -> Transport {
        let t = Transport { lp: lp.clone(), kind, raw_fd, edge: ReadEdge::default(), st: RefCell::new(st), hot: Cell::new(0), tls };
        t.hot.set(t.hot_bits(&t.st.borrow()));
        t
    }

    pub(crate) fn state(&self) -> Ref<'_, State> {
        self.st.borrow()
    }

    pub(crate) fn state_mut(&self) -> StateMut<'_> {
        StateMut { st: self.st.borrow_mut(), t: self }
    }

    fn hot_bits(&self, st: &State) -> u8 {
        let mut bits = 0;
        if st.reader_ready() {
            bits |= hot::READS;
        }
        if self.tls.is_none()
            && self.kind.is_socket()
            && !st.eof_written
            && !st.close.is_closing()
            && !st.takeover.as_ref().is_some_and(|s| s.active)
            && st.flow.size() == 0
        {
            bits |= hot::SENDS;
        }
        if st.flow.size() != 0 && !st.close.lost {
            bits |= hot::FLUSH;
        }
        bits
    }

    /// Wraps `fd` (now owned) and registers it; connection_made, then the
    /// start of reading, then `on_made` follow on the next iteration.
    pub(crate) fn start(
        lp: &Arc<EventLoop>,
        fd: OwnedFd,
        kind: Kind,
        proto: ProtocolSlot,
        peername: Option<SockAddr>,
        on_made: Option<TransportJob>,
    ) -> Result<Arc<Transport>, (i32, OwnedFd)> {
        if let Err(e) = lp.check_closed() {
            return Err((e, fd));
        }
        if kind == Kind::Tcp {
            sys::set_nodelay(fd.as_raw_fd());
        }
        let raw_fd = fd.as_raw_fd();
        let st = State::new(Some(fd), proto, DEFAULT_HIGH, peername.and_then(|a| a.as_socket()));
        let t = Arc::new(Transport::new(lp, kind, raw_fd, st, None));
        let token = match lp.register_io(raw_fd, t.clone()) {
            Ok(token) => token,
            Err(e) => {
                let fd = t.state_mut().fd.take().expect("just made");
                return Err((e, fd));
            }
        };
        t.state_mut().token = Some(token);
        let me = t.clone();
        lp.push_ready(Ready::Job(Box::new(move |lp| {
            if let Some(p) = me.protocol() {
                p.connection_made(&me);
            }
            match on_made {
                // asyncio adds the reader before it resolves the creation
                // waiter, but the reader first runs after the next select,
                // behind the waiter's done callbacks (docs/semantics.md item
                // 58): reading starts after the callbacks that completing the
                // waiter has just queued, so whoever awaits the transport
                // has it before any data_received.
                Some(f) => {
                    f(&me);
                    let me = me.clone();
                    lp.push_ready(Ready::Job(Box::new(move |_| me.start_reading())));
                }
                None => me.start_reading(),
            }
        })));
        Ok(t)
    }

    /// Reads from now on, at once when the fd turned readable before.
    fn start_reading(self: &Arc<Self>) {
        self.state_mut().started = true;
        if self.edge.readable.get() {
            self.read_ready();
        }
    }

    /// Called by the server that accepted the connection: connection_lost
    /// removes the transport from the server's clients at `index`.
    pub(crate) fn join_server(&self, server: Weak<AcceptorLink>, index: u32) {
        let mut st = self.state_mut();
        st.server = Some(server);
        st.server_index = index;
    }

    pub fn c_ptr(self: &Arc<Self>) -> *mut Transport {
        Arc::as_ptr(self).cast_mut()
    }

    pub fn get_loop(&self) -> &Arc<EventLoop> {
        &self.lp
    }

    pub fn kind(&self) -> Kind {
        self.kind
    }

    pub(crate) fn protocol(&self) -> Option<ProtocolSlot> {
        self.state().proto.clone()
    }

    // ---- the read side -------------------------------------------------------

    /// One read (asyncio's `_read_ready`), inline into on_io: the
    /// per-message path.
    #[inline(always)]
    fn read_ready(self: &Arc<Self>) {
        if self.hot.get() & hot::READS != 0 {
            let proto = self.state().proto.clone();
            if let Some(proto) = proto {
                self.read_with(proto);
            }
        }
    }

    /// Inline into on_io, with read_data: the per-message path.
    #[inline(always)]
    fn read_with(self: &Arc<Self>, proto: ProtocolSlot) {
        if proto.is_buffered() {
            self.read_buffered(proto);
        } else {
            self.read_data(proto);
        }
    }

    /// No closure given to the loop: whether the compiler inlined one here
    /// moved with unrelated code, by ~18 instructions per echoed message.
    #[inline(always)]
    fn read_data(self: &Arc<Self>, proto: ProtocolSlot) {
        let r = match self.lp.shared_read_buffer() {
            Some(mut buf) => self.read_into(&proto, &mut buf),
            None => self.read_nested(&proto),
        };
        if !matches!(r, Ok(n) if n > 0) {
            self.read_result(r.map(|n| n > 0));
        }
    }

    /// A read from inside another read's callback, which holds the loop's
    /// buffer: into a buffer of its own. Rare, so out of on_io's frame.
    #[cold]
    #[inline(never)]
    fn read_nested(self: &Arc<Self>, proto: &ProtocolSlot) -> Result<usize, i32> {
        self.read_into(proto, &mut new_read_buffer())
    }

    /// One read into `buf`, delivered to `proto`.
    #[inline(always)]
    fn read_into(self: &Arc<Self>, proto: &ProtocolSlot, buf: &mut [u8]) -> Result<usize, i32> {
        let r = sys::read(self.raw_fd, buf);
        if let Ok(n) = r {
            if n > 0 {
                self.after_read(n == buf.len());
                proto.data_received(self, &buf[..n]);
            }
        }
        r
    }

    #[inline(never)]
    fn read_buffered(self: &Arc<Self>, proto: ProtocolSlot) {
        let (p, len) = match proto.get_buffer(self, 0) {
            Ok(b) => b,
            Err(err) => return self.fatal(err, Some("Fatal error: protocol.get_buffer() call failed.")),
        };
        let r = sys::read_into_protocol_buffer(self.raw_fd, p, len);
        if let Ok(n) = r {
            if n > 0 {
                self.after_read(n == len);
                proto.buffer_updated(self, n);
            }
        }
        if !matches!(r, Ok(n) if n > 0) {
            self.read_result(r.map(|n| n > 0));
        }
    }

    /// Bookkeeping after a read of n > 0 bytes: a full read means more may
    /// be waiting, and so does a FIN seen with the data (no further edge
    /// will come for it), so read again next iteration.
    #[inline(always)]
    fn after_read(self: &Arc<Self>, full: bool) {
        let again = full || self.edge.peer_closed.get();
        self.edge.readable.set(again);
        if again {
            self.lp.io_again(self.clone(), IoEvent::READABLE);
        }
    }

    /// What a read that delivered nothing means: EOF, drained, or an error.
    #[cold]
    fn read_result(self: &Arc<Self>, r: Result<bool, i32>) {
        match r {
            Ok(true) => {}
            Ok(false) => {
                self.edge.readable.set(false);
                self.eof();
            }
            Err(e) if e == EDDY_EAGAIN => self.edge.readable.set(false),
            Err(e) => self.fatal(e, None),
        }
    }

    /// asyncio's `_read_ready__on_eof` (and the read pipe's EOF).
    fn eof(self: &Arc<Self>) {
        self.state_mut().eof_received = true;
        let keep_open = self.protocol().is_some_and(|p| p.eof_received(self));
        if self.kind == Kind::ReadPipe || !keep_open {
            self.close();
        }
    }

    pub fn is_reading(&self) -> bool {
        let st = self.state();
        self.kind.reads() && !st.close.closing && !st.reading_paused && !st.eof_received && !st.close.lost
    }

    /// Idempotent; never fails on a closing transport.
    pub fn pause_reading(&self) {
        self.state_mut().reading_paused = true;
    }

    pub fn resume_reading(self: &Arc<Self>) {
        let pending = {
            let mut st = self.state_mut();
            if st.close.closing || !st.reading_paused {
                return;
            }
            st.reading_paused = false;
            self.edge.readable.get()
        };
        if let Some(link) = &self.tls {
            return link.resume_reading(self);
        }
        if pending {
            // The edge was consumed while paused: read on the next
            // iteration rather than wait for one that may never come.
            self.lp.io_again(self.clone(), IoEvent::READABLE);
        }
    }

    // ---- the write side ------------------------------------------------------

    /// Ok(true) when nothing is buffered (a write may go straight out).
    pub(crate) fn check_writable(&self) -> Result<bool, i32> {
        let st = self.state();
        if !self.kind.writes() {
            return Err(EDDY_ENOTSUP);
        }
        if st.eof_written {
            return Err(EDDY_EPIPE);
        }
        if st.close.is_closing() && !(st.close.flushing() && self.tls.is_none()) {
            return Err(EDDY_ECLOSED);
        }
        if st.takeover.as_ref().is_some_and(|s| s.active) {
            return Err(EDDY_EBUSY);
        }
        Ok(st.flow.size() == 0)
    }

    /// asyncio's `write`: sends at once when nothing is buffered, buffers
    /// the rest. A failure of the send is returned and also ends the
    /// connection (connection_lost follows with the same code). Inline: the
    /// C shim and this are one function on the per-message path.
    #[inline(always)]
    pub fn write(self: &Arc<Self>, data: &[u8]) -> Result<(), i32> {
        // The echo/HTTP hot path: one buffer, no IoSlice array, no sums,
        // no borrow of the State.
        if self.hot.get() & hot::SENDS != 0 && !data.is_empty() {
            return match sys::send(self.raw_fd, data) {
                Ok(n) if n == data.len() => Ok(()),
                r => self.write_rest(data, r),
            };
        }
        self.write_checking(data)
    }

    /// write() off the direct path: checks first, then buffers or sends.
    #[inline(never)]
    fn write_checking(self: &Arc<Self>, data: &[u8]) -> Result<(), i32> {
        let empty = self.check_writable()?;
        self.write_checked(data, empty)
    }

    /// write() once the checks have passed; `empty`: nothing is buffered.
    /// Inline, down to the send: the rest (a short send, an error, a
    /// buffer) is `write_rest`.
    #[inline(always)]
    pub(crate) fn write_checked(self: &Arc<Self>, data: &[u8], empty: bool) -> Result<(), i32> {
        if data.is_empty() {
            return Ok(());
        }
        if !empty {
            return self.write_rest(data, Ok(0));
        }
        let r = match (&self.tls, self.kind.is_socket()) {
            (None, true) => sys::send(self.raw_fd, data),
            _ => self.io_write(&[IoSlice::new(data)]),
        };
        match r {
            Ok(n) if n == data.len() => Ok(()),
            r => self.write_rest(data, r),
        }
    }

    /// What a direct send `r` did not take of `data` is buffered; a send
    /// error ends the connection and is returned.
    #[inline(never)]
    fn write_rest(self: &Arc<Self>, data: &[u8], r: Result<usize, i32>) -> Result<(), i32> {
        let sent = self.sent_now(r)?;
        self.buffer_rest(&[data], sent);
        Ok(())
    }

    /// asyncio's `writelines`: one writev for all of `bufs`.
    pub fn writelines(self: &Arc<Self>, bufs: &[&[u8]]) -> Result<(), i32> {
        if let [one] = bufs {
            return self.write(one);
        }
        let empty = self.check_writable()?;
        let total: usize = bufs.iter().map(|b| b.len()).sum();
        if total == 0 {
            return Ok(());
        }
        let mut sent = 0;
        if empty {
            let slices: Vec<IoSlice> =
                bufs.iter().filter(|b| !b.is_empty()).take(MAX_IOV).map(|b| IoSlice::new(b)).collect();
            sent = self.sent_now(self.io_write(&slices))?;
            if sent == total {
                return Ok(());
            }
        }
        self.buffer_rest(bufs, sent);
        Ok(())
    }

    /// What a direct write took: EAGAIN is nothing, any other error ends
    /// the connection and is returned.
    #[inline]
    fn sent_now(self: &Arc<Self>, r: Result<usize, i32>) -> Result<usize, i32> {
        match r {
            Ok(n) => Ok(n),
            Err(e) if e == EDDY_EAGAIN => Ok(0),
            Err(e) => {
                self.fatal(e, None);
                Err(e)
            }
        }
    }

    /// Buffers what is left of `bufs` after the first `skip` bytes.
    fn buffer_rest(self: &Arc<Self>, bufs: &[&[u8]], mut skip: usize) {
        {
            let mut st = self.state_mut();
            for b in bufs {
                if skip >= b.len() {
                    skip -= b.len();
                    continue;
                }
                st.buffer.push_back(b[skip..].to_vec());
                st.flow.grow(b.len() - skip);
                skip = 0;
            }
        }
        self.maybe_pause();
    }

    fn io_write(&self, slices: &[IoSlice]) -> Result<usize, i32> {
        if let Some(link) = &self.tls {
            return link.write(self, slices);
        }
        if self.kind.is_socket() {
            match slices {
                // One buffer: send(2) is cheaper than building a msghdr.
                [one] => sys::send(self.raw_fd, one),
                _ => sys::sendmsg(self.raw_fd, slices),
            }
        } else {
            sys::writev(self.raw_fd, slices)
        }
    }

    /// asyncio's `_maybe_pause_protocol`.
    pub(crate) fn maybe_pause(self: &Arc<Self>) {
        let pause = self.state_mut().flow.should_pause();
        if pause {
            if let Some(p) = self.protocol() {
                p.pause_writing(self);
            }
        }
    }

    /// Whether `ev` tells that a write pipe's reader went away, which was
    /// then handled. Out of line: its fstat buffer made on_io's frame, on
    /// the sockets' per-message path, three times bigger.
    #[cold]
    #[inline(never)]
    fn write_pipe_lost_its_reader(self: &Arc<Self>, ev: IoEvent) -> bool {
        let gone = ev.hangup() || ev.readable() && !self.is_char_device();
        if gone {
            self.reader_gone();
        }
        gone
    }

    /// A write pipe is readable or in error only when its reader went away
    /// (asyncio's _UnixWritePipeTransport._read_ready).
    #[cold]
    fn reader_gone(self: &Arc<Self>) {
        let pending = self.state().flow.size() > 0;
        if pending {
            self.fatal(EDDY_EPIPE, None);
        } else {
            self.close();
        }
    }

    /// asyncio's `_maybe_resume_protocol`.
    fn maybe_resume(self: &Arc<Self>) {
        let resume = self.state_mut().flow.should_resume();
        if resume {
            if let Some(p) = self.protocol() {
                p.resume_writing(self);
            }
        }
    }


    /// Flushes the buffer when the fd is writable (asyncio's `_write_ready`).
    /// Every readable edge of a socket comes with a writable one: the check
    /// for nothing to flush is inline, the flush is not.
    #[inline]
    fn write_ready(self: &Arc<Self>) {
        if self.hot.get() & hot::FLUSH != 0 {
            self.flush();
        }
    }

    #[inline(never)]
    fn flush(self: &Arc<Self>) {
        let r = {
            let st = self.state();
            let mut slices = Vec::with_capacity(st.buffer.len().min(MAX_IOV));
            for (i, b) in st.buffer.iter().take(MAX_IOV).enumerate() {
                slices.push(IoSlice::new(if i == 0 { &b[st.front_sent..] } else { b }));
            }
            self.io_write(&slices)
        };
        match r {
            Ok(n) => self.consume(n),
            Err(e) if e == EDDY_EAGAIN => return,
            Err(e) => return self.fatal(e, None),
        }
        self.maybe_resume();
        let (empty, closing, eof) = {
            let st = self.state();
            (st.flow.size() == 0, st.close.closing, st.eof_written)
        };
        if empty {
            if closing {
                self.connection_lost(0);
            } else if eof {
                self.shutdown_write();
            }
            let drained = self.state_mut().takeover.as_mut().and_then(|s| s.on_drained.take());
            if let Some(f) = drained {
                f(self, Ok(()));
            }
        }
    }

    fn consume(&self, mut n: usize) {
        let mut st = self.state_mut();
        st.flow.shrink(n);
        while n > 0 {
            let left = st.buffer[0].len() - st.front_sent;
            if n >= left {
                n -= left;
                st.buffer.pop_front();
                st.front_sent = 0;
            } else {
                st.front_sent += n;
                n = 0;
            }
        }
    }

    fn shutdown_write(self: &Arc<Self>) {
        if self.kind.is_socket() {
            let _ = sys::shutdown_write(self.raw_fd);
        } else {
            self.close();
        }
    }

    pub fn can_write_eof(&self) -> bool {
        self.kind.writes() && self.kind != Kind::Tls
    }

    /// asyncio's `write_eof`: shutdown(SHUT_WR) now, or once the buffer
    /// drains. For a write pipe it is close().
    pub fn write_eof(self: &Arc<Self>) -> Result<(), i32> {
        if !self.can_write_eof() {
            return Err(EDDY_ENOTSUP);
        }
        if !self.kind.is_socket() {
            self.state_mut().eof_written = true;
            self.close();
            return Ok(());
        }
        let now = {
            let mut st = self.state_mut();
            if st.close.closing || st.eof_written {
                return Ok(());
            }
            st.eof_written = true;
            st.flow.size() == 0
        };
        if now {
            self.shutdown_write();
        }
        Ok(())
    }

    /// For TLS: the records and plaintext not yet on the socket.
    pub fn get_write_buffer_size(&self) -> usize {
        match &self.tls {
            Some(link) => link.lower().get_write_buffer_size(),
            None => self.state().flow.size(),
        }
    }

    pub fn get_write_buffer_limits(&self) -> (usize, usize) {
        match &self.tls {
            Some(link) => link.lower().get_write_buffer_limits(),
            None => self.state().flow.limits(),
        }
    }

    /// May pause at once, never resumes (item 82).
    pub fn set_write_buffer_limits(self: &Arc<Self>, high: Option<usize>, low: Option<usize>) -> Result<(), i32> {
        if let Some(link) = &self.tls {
            return link.set_write_buffer_limits(high, low);
        }
        self.state_mut().flow.set_limits(high, low, DEFAULT_HIGH)?;
        self.maybe_pause();
        Ok(())
    }

    // ---- closing ---------------------------------------------------------------

    pub fn is_closing(&self) -> bool {
        self.state().close.is_closing()
    }

    /// asyncio's `close`: stops reading now; connection_lost(0) follows on
    /// the next iteration, or once the buffer has drained.
    pub fn close(self: &Arc<Self>) {
        let flushed = {
            let mut st = self.state_mut();
            if !st.close.close() {
                return;
            }
            st.flow.size() == 0
        };
        if let Some(link) = &self.tls {
            return link.close(self);
        }
        if flushed {
            self.schedule_connection_lost(0);
        }
    }

    /// asyncio's `abort`: drops the buffer; connection_lost(0) follows.
    pub fn abort(self: &Arc<Self>) {
        self.force_close(0)
    }

    pub(crate) fn force_close(self: &Arc<Self>, err: i32) {
        if let Some(link) = &self.tls {
            self.state_mut().close.closing = true;
            link.lower().force_close(err);
            return;
        }
        let buffer = {
            let mut st = self.state_mut();
            if !st.close.abort() {
                return;
            }
            st.flow.clear();
            st.front_sent = 0;
            std::mem::take(&mut st.buffer)
        };
        drop(buffer);
        self.schedule_connection_lost(err);
    }

    /// A fatal error: I/O errors go only to connection_lost; a protocol's
    /// misbehaviour is also reported to the exception handler.
    pub(crate) fn fatal(self: &Arc<Self>, err: i32, report: Option<&str>) {
        if let Some(msg) = report {
            let mut ctx = ErrorContext::new(msg, err);
            ctx.transport = crate::events::Opaque(self.c_ptr().cast());
            self.lp.report(ctx);
        }
        self.force_close(err);
    }

    fn schedule_connection_lost(self: &Arc<Self>, err: i32) {
        if !self.state_mut().close.lose() {
            return;
        }
        let me = self.clone();
        self.lp.push_ready(Ready::Job(Box::new(move |_| me.connection_lost(err))));
    }

    /// asyncio's `_call_connection_lost`: the protocol's last callback, then
    /// the fd is closed and the transport leaves its server.
    fn connection_lost(self: &Arc<Self>, err: i32) {
        let (proto, server) = {
            let mut st = self.state_mut();
            st.close.lost = true;
            if st.fd.is_none() {
                return;
            }
            (st.proto.take(), st.server.take().map(|link| (link, st.server_index)))
        };
        if let Some(p) = proto {
            p.connection_lost(self, err);
        }
        self.end_takeover(err);
        self.release_fd();
        if let Some((link, index)) = server {
            if let Some(server) = link.upgrade().and_then(|l| l.0.upgrade()) {
                server.detach(index as usize);
            }
        }
    }

    fn release_fd(&self) {
        let (fd, token) = {
            let mut st = self.state_mut();
            (st.fd.take(), st.token.take())
        };
        if let Some(token) = token {
            self.lp.deregister_io(self.raw_fd, token);
        }
        drop(fd);
    }

    /// A character device (a tty) is readable when it has input, which
    /// says nothing about a reader going away: asyncio watches a write
    /// pipe's readability only on pipes and sockets. Asked only when a
    /// write pipe turns readable.
    #[cold]
    #[inline(never)]
    fn is_char_device(&self) -> bool {
        sys::file_type(self.raw_fd) == Ok(libc::S_IFCHR)
    }

    // ---- protocol and extra info -------------------------------------------------

    /// Takes effect for the next event; the read path (buffered or not) is
    /// chosen again from the new protocol.
    pub fn set_protocol(&self, proto: ProtocolSlot) -> Result<(), i32> {
        let mut st = self.state_mut();
        if st.proto.is_none() {
            return Err(EDDY_ECLOSED);
        }
        st.proto = Some(proto);
        Ok(())
    }

    /// The caller's table and data; None after connection_lost.
    pub fn get_protocol(&self) -> Option<(*const Protocol, *mut c_void)> {
        self.state().proto.as_ref().map(ProtocolSlot::origin)
    }

    pub fn get_extra_info(&self, name: &str) -> Option<ExtraInfo> {
        if let Some(link) = &self.tls {
            return link.get_extra_info(name);
        }
        let st = self.state();
        st.fd.as_ref()?;
        match name {
            "socket" if self.kind.is_socket() => Some(ExtraInfo::Fd(self.raw_fd)),
            "pipe" if !self.kind.is_socket() => Some(ExtraInfo::Fd(self.raw_fd)),
            "sockname" if self.kind.is_socket() => sys::sockname(self.raw_fd).map(ExtraInfo::Address),
            "peername" if self.kind.is_socket() => {
                st.peername.map(SockAddr::from).or_else(|| sys::peername(self.raw_fd)).map(ExtraInfo::Address)
            }
            _ => None,
        }
    }

    pub(crate) fn takeover(&self) -> TakeoverMut<'_> {
        let mut st = self.state_mut();
        st.takeover.get_or_insert_with(Default::default);
        TakeoverMut(st)
    }

    /// The connection is going: a takeover waiting for the buffer to drain
    /// fails, and one in progress on the fd stops (its fd watch goes before
    /// the fd is closed and its number reused).
    fn end_takeover(self: &Arc<Self>, err: i32) {
        let Some(state) = self.state_mut().takeover.take() else { return };
        let Takeover { on_drained, op, .. } = *state;
        let err = if err != 0 { err } else { EDDY_ECLOSED };
        if let Some(op) = op {
            op.fail(err, None);
        }
        if let Some(f) = on_drained {
            f(self, Err(err));
        }
    }
}

/// A transport's takeover, borrowed mutably (made if there was none).
pub(crate) struct TakeoverMut<'a>(StateMut<'a>);

impl Deref for TakeoverMut<'_> {
    type Target = Takeover;
    fn deref(&self) -> &Takeover {
        self.0.takeover.as_deref().expect("made by Transport::takeover")
    }
}

impl DerefMut for TakeoverMut<'_> {
    fn deref_mut(&mut self) -> &mut Takeover {
        self.0.takeover.as_deref_mut().expect("made by Transport::takeover")
    }
}

/// What to run once a transport's write buffer is empty, or the error that
/// ended the connection first.
pub(crate) type DrainJob = Box<dyn FnOnce(&Arc<Transport>, Result<(), i32>)>;

/// An operation that takes over a transport's writing (loop.sendfile): it
/// waits for the buffer to drain, and user writes fail meanwhile.
#[derive(Default)]
pub(crate) struct Takeover {
    /// User writes fail with EDDY_EBUSY.
    pub active: bool,
    pub on_drained: Option<DrainJob>,
    /// The operation on the transport's fd (sendfile(2)).
    pub op: Option<Arc<Future>>,
}

impl IoHandler for Transport {
    fn on_io(self: Arc<Self>, _lp: &Arc<EventLoop>, ev: IoEvent) {
        // The reader before the writer, as asyncio's _process_events. (A
        // write pipe does not read: tested second, off the sockets' path.)
        if ev.readable() && self.kind.reads() {
            self.edge.readable.set(true);
            if ev.read_closed() {
                self.edge.peer_closed.set(true);
            }
            self.read_ready();
        } else if self.kind == Kind::WritePipe && self.write_pipe_lost_its_reader(ev) {
            return;
        }
        if ev.writable() {
            self.write_ready();
        }
    }

    fn close_silently(&self) {
        let (proto, buffer) = {
            let mut st = self.state_mut();
            st.close = Closing { closing: true, lost: true };
            st.token = None;
            (st.proto.take(), std::mem::take(&mut st.buffer))
        };
        drop((proto, buffer));
        let fd = self.state_mut().fd.take();
        drop(fd);
    }
}

#[cfg(test)]
mod tests {
    /// An idle connection costs one Transport (in an Arc: at 216 bytes, a
    /// 240-byte malloc chunk) and two slab slots: keep big, rarely used
    /// state (TLS, sendfile, a 128-byte SockAddr, a protocol table a
    /// server's connections can share) out of line.
    #[test]
    fn an_idle_connection_stays_small() {
        let size = std::mem::size_of::<super::Transport>();
        assert!(size <= 216, "Transport is {size} bytes");
    }
}
