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

use std::cell::RefCell;
use std::collections::VecDeque;
use std::ffi::c_void;
use std::io::IoSlice;
use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::sync::{Arc, Weak};

use socket2::SockAddr;

use crate::base_events::{EventLoop, IoEvent, IoHandler, IoToken, Ready};
use crate::error::*;
use crate::events::ErrorContext;
use crate::futures::{DoneCallback, Future, Outcome};
use crate::protocols::{Protocol, ProtocolSlot};
use crate::server::Server;
use crate::sslproto::{self, Handshake, TlsLink, TlsProtocol};
use crate::sock;
use crate::sys;

/// asyncio's `max_size`: one read per event is at most this much.
pub(crate) const MAX_READ: usize = 256 * 1024;
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
    fn is_socket(self) -> bool {
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

/// What `get_extra_info` found.
pub enum ExtraInfo {
    Address(SockAddr),
    Fd(RawFd),
    Bytes(Vec<u8>),
    /// A string (the C side adds the NUL).
    Str(String),
}

struct State {
    fd: Option<OwnedFd>,
    token: Option<IoToken>,
    proto: Option<ProtocolSlot>,
    /// close(), abort() or a fatal error: no more reads or user writes.
    closing: bool,
    /// connection_lost is scheduled or done.
    conn_lost: bool,
    /// connection_made has run: reading may start.
    started: bool,
    reading_paused: bool,
    eof_received: bool,
    eof_written: bool,
    /// An edge was seen and not yet drained (kept while paused).
    readable: bool,
    /// The poller saw the peer's FIN (or a pipe's hang-up): a short read
    /// does not mean drained, the EOF is still to be read.
    peer_closed: bool,
    buffer: VecDeque<Vec<u8>>,
    /// Bytes of the front chunk already written.
    front_sent: usize,
    flow: FlowControl,
    /// loop.sendfile's state (boxed: rare).
    sendfile: Option<Box<Sendfile>>,
    /// The server that accepted this connection, and the connection's
    /// index in its client slab.
    server: Option<(Weak<Server>, usize)>,
    /// An accepted connection's peer, kept for get_extra_info after the
    /// peer has gone (asyncio caches it too). Internet addresses only: a
    /// SockAddr is 128 bytes, an idle connection's biggest field.
    peername: Option<std::net::SocketAddr>,
}

impl State {
    /// The protocol to read for, if reading may happen now.
    fn reader(&self) -> Option<ProtocolSlot> {
        if !self.started || self.closing || self.reading_paused || self.eof_received {
            return None;
        }
        self.proto.clone()
    }
}

pub struct Transport {
    lp: Arc<EventLoop>,
    kind: Kind,
    raw_fd: RawFd,
    st: RefCell<State>,
    /// Kind::Tls: the rustls connection and the plain transport under it
    /// (boxed: plain connections should not pay for its size).
    tls: Option<Box<TlsLink>>,
}

impl Transport {
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
        let t = Arc::new(Transport {
            lp: lp.clone(),
            kind,
            raw_fd,
            st: RefCell::new(State {
                fd: Some(fd),
                token: None,
                proto: Some(proto),
                closing: false,
                conn_lost: false,
                started: false,
                reading_paused: false,
                eof_received: false,
                eof_written: false,
                readable: false,
                peer_closed: false,
                buffer: VecDeque::new(),
                front_sent: 0,
                flow: FlowControl::new(DEFAULT_HIGH),
                sendfile: None,
                server: None,
                peername: peername.and_then(|a| a.as_socket()),
            }),
            tls: None,
        });
        let token = match lp.register_io(raw_fd, t.clone()) {
            Ok(token) => token,
            Err(e) => {
                let fd = t.st.borrow_mut().fd.take().expect("just made");
                return Err((e, fd));
            }
        };
        t.st.borrow_mut().token = Some(token);
        let me = t.clone();
        lp.push_ready(Ready::Job(Box::new(move |_| {
            if let Some(p) = me.protocol() {
                p.connection_made(&me);
            }
            let pending_read = {
                let mut st = me.st.borrow_mut();
                st.started = true;
                st.readable
            };
            if pending_read {
                me.read_ready();
            }
            if let Some(f) = on_made {
                f(&me);
            }
        })));
        Ok(t)
    }

    /// Called by the server that accepted the connection: connection_lost
    /// removes the transport from the server's clients at `index`.
    pub(crate) fn join_server(&self, server: Weak<Server>, index: usize) {
        self.st.borrow_mut().server = Some((server, index));
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

    /// Plain TCP and Unix transports can be upgraded with start_tls.
    pub(crate) fn can_start_tls(&self) -> bool {
        self.kind.is_socket()
    }

    pub(crate) fn protocol(&self) -> Option<ProtocolSlot> {
        self.st.borrow().proto.clone()
    }

    // ---- the read side -------------------------------------------------------

    /// One read (asyncio's `_read_ready`).
    fn read_ready(self: &Arc<Self>) {
        let proto = self.st.borrow().reader();
        if let Some(proto) = proto {
            self.read_with(proto);
        }
    }

    #[inline]
    fn read_with(self: &Arc<Self>, proto: ProtocolSlot) {
        if proto.is_buffered() {
            self.read_buffered(proto);
        } else {
            self.read_data(proto);
        }
    }

    #[inline]
    fn read_data(self: &Arc<Self>, proto: ProtocolSlot) {
        let mut buf = self.lp.take_read_buffer();
        let r = sys::read(self.raw_fd, &mut buf);
        if let Ok(n) = r {
            if n > 0 {
                self.after_read(n == buf.len());
                proto.data_received(self, &buf[..n]);
            }
        }
        self.lp.put_read_buffer(buf);
        self.read_result(r.map(|n| n > 0));
    }

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
        self.read_result(r.map(|n| n > 0));
    }

    /// Bookkeeping after a read of n > 0 bytes: a full read means more may
    /// be waiting, and so does a FIN seen with the data (no further edge
    /// will come for it), so read again next iteration.
    #[inline]
    fn after_read(self: &Arc<Self>, full: bool) {
        let again = {
            let mut st = self.st.borrow_mut();
            st.readable = full || st.peer_closed;
            st.readable
        };
        if again {
            self.lp.io_again(self.clone(), IoEvent { readable: true, ..Default::default() });
        }
    }

    #[inline]
    fn read_result(self: &Arc<Self>, r: Result<bool, i32>) {
        match r {
            Ok(true) => {}
            Ok(false) => {
                self.st.borrow_mut().readable = false;
                self.eof();
            }
            Err(e) if e == EDDY_EAGAIN => self.st.borrow_mut().readable = false,
            Err(e) => self.fatal(e, None),
        }
    }

    /// asyncio's `_read_ready__on_eof` (and the read pipe's EOF).
    fn eof(self: &Arc<Self>) {
        self.st.borrow_mut().eof_received = true;
        let keep_open = self.protocol().is_some_and(|p| p.eof_received(self));
        if self.kind == Kind::ReadPipe || !keep_open {
            self.close();
        }
    }

    pub fn is_reading(&self) -> bool {
        let st = self.st.borrow();
        self.kind.reads() && !st.closing && !st.reading_paused && !st.eof_received && !st.conn_lost
    }

    /// Idempotent; never fails on a closing transport.
    pub fn pause_reading(&self) {
        self.st.borrow_mut().reading_paused = true;
    }

    pub fn resume_reading(self: &Arc<Self>) {
        let pending = {
            let mut st = self.st.borrow_mut();
            if st.closing || !st.reading_paused {
                return;
            }
            st.reading_paused = false;
            st.readable
        };
        if let Some(link) = &self.tls {
            self.tls_deliver(Vec::new());
            link.lower.resume_reading();
            return;
        }
        if pending {
            // The edge was consumed while paused: read on the next
            // iteration rather than wait for one that may never come.
            self.lp.io_again(self.clone(), IoEvent { readable: true, ..Default::default() });
        }
    }

    // ---- the write side ------------------------------------------------------

    /// Ok(true) when nothing is buffered (a write may go straight out).
    fn check_writable(&self) -> Result<bool, i32> {
        let st = self.st.borrow();
        if !self.kind.writes() {
            return Err(EDDY_ENOTSUP);
        }
        if st.eof_written {
            return Err(EDDY_EPIPE);
        }
        if st.closing || st.conn_lost {
            return Err(EDDY_ECLOSED);
        }
        if st.sendfile.as_ref().is_some_and(|s| s.active) {
            return Err(EDDY_EBUSY);
        }
        Ok(st.flow.size() == 0)
    }

    /// asyncio's `write`: sends at once when nothing is buffered, buffers
    /// the rest. A failure of the send is returned and also ends the
    /// connection (connection_lost follows with the same code).
    pub fn write(self: &Arc<Self>, data: &[u8]) -> Result<(), i32> {
        // The echo/HTTP hot path: one buffer, no IoSlice array, no sums.
        let empty = self.check_writable()?;
        self.write_checked(data, empty)
    }

    /// write() once the checks have passed; `empty`: nothing is buffered.
    fn write_checked(self: &Arc<Self>, data: &[u8], empty: bool) -> Result<(), i32> {
        if data.is_empty() {
            return Ok(());
        }
        let mut sent = 0;
        if empty {
            let r = match (&self.tls, self.kind.is_socket()) {
                (None, true) => sys::send(self.raw_fd, data),
                _ => self.io_write(&[IoSlice::new(data)]),
            };
            sent = self.sent_now(r)?;
            if sent == data.len() {
                return Ok(());
            }
        }
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
            let mut st = self.st.borrow_mut();
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
            let mut n = 0;
            {
                let mut conn = link.conn.borrow_mut();
                for s in slices {
                    sslproto::write_plaintext(&mut conn, s).map_err(|e| from_io(&e))?;
                    n += s.len();
                }
            }
            self.tls_flush();
            return Ok(n);
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
    fn maybe_pause(self: &Arc<Self>) {
        let pause = self.st.borrow_mut().flow.should_pause();
        if pause {
            if let Some(p) = self.protocol() {
                p.pause_writing(self);
            }
        }
    }

    /// asyncio's `_maybe_resume_protocol`.
    fn maybe_resume(self: &Arc<Self>) {
        let resume = self.st.borrow_mut().flow.should_resume();
        if resume {
            if let Some(p) = self.protocol() {
                p.resume_writing(self);
            }
        }
    }


    /// Flushes the buffer when the fd is writable (asyncio's `_write_ready`).
    fn write_ready(self: &Arc<Self>) {
        let r = {
            let st = self.st.borrow();
            if st.flow.size() == 0 || st.conn_lost {
                return;
            }
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
            let st = self.st.borrow();
            (st.flow.size() == 0, st.closing, st.eof_written)
        };
        if empty {
            if closing {
                self.connection_lost(0);
            } else if eof {
                self.shutdown_write();
            }
            let drained = self.st.borrow_mut().sendfile.as_mut().and_then(|s| s.on_drained.take());
            if let Some(f) = drained {
                f(self, Ok(()));
            }
        }
    }

    fn consume(&self, mut n: usize) {
        let mut st = self.st.borrow_mut();
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
            self.st.borrow_mut().eof_written = true;
            self.close();
            return Ok(());
        }
        let now = {
            let mut st = self.st.borrow_mut();
            if st.closing || st.eof_written {
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
            Some(link) => link.lower.get_write_buffer_size(),
            None => self.st.borrow().flow.size(),
        }
    }

    pub fn get_write_buffer_limits(&self) -> (usize, usize) {
        match &self.tls {
            Some(link) => link.lower.get_write_buffer_limits(),
            None => self.st.borrow().flow.limits(),
        }
    }

    /// May pause at once, never resumes (item 82).
    pub fn set_write_buffer_limits(self: &Arc<Self>, high: Option<usize>, low: Option<usize>) -> Result<(), i32> {
        if let Some(link) = &self.tls {
            link.lower.st.borrow_mut().flow.set_limits(high, low, sslproto::TLS_HIGH)?;
            link.lower.maybe_pause();
            return Ok(());
        }
        self.st.borrow_mut().flow.set_limits(high, low, DEFAULT_HIGH)?;
        self.maybe_pause();
        Ok(())
    }

    // ---- closing ---------------------------------------------------------------

    pub fn is_closing(&self) -> bool {
        let st = self.st.borrow();
        st.closing || st.conn_lost
    }

    /// asyncio's `close`: stops reading now; connection_lost(0) follows on
    /// the next iteration, or once the buffer has drained.
    pub fn close(self: &Arc<Self>) {
        let flushed = {
            let mut st = self.st.borrow_mut();
            if st.closing || st.conn_lost {
                return;
            }
            st.closing = true;
            st.flow.size() == 0
        };
        if let Some(link) = &self.tls {
            // close_notify now; the socket closes when the peer's arrives
            // (closing earlier, with its records unread, would reset the
            // connection and lose data in flight) or after the shutdown
            // timeout. connection_lost comes from the plain transport's.
            link.conn.borrow_mut().send_close_notify();
            self.tls_flush();
            if self.st.borrow().eof_received {
                link.lower.close();
            } else {
                link.lower.resume_reading();
                let lower = Arc::downgrade(&link.lower);
                let _ = self.lp.call_later_job(
                    link.shutdown_timeout,
                    Box::new(move |_| {
                        if let Some(l) = lower.upgrade() {
                            l.close();
                        }
                    }),
                );
            }
            return;
        }
        if flushed {
            self.schedule_connection_lost(0);
        }
    }

    /// asyncio's `abort`: drops the buffer; connection_lost(0) follows.
    pub fn abort(self: &Arc<Self>) {
        self.force_close(0)
    }

    fn force_close(self: &Arc<Self>, err: i32) {
        if let Some(link) = &self.tls {
            self.st.borrow_mut().closing = true;
            link.lower.force_close(err);
            return;
        }
        let buffer = {
            let mut st = self.st.borrow_mut();
            if st.conn_lost {
                return;
            }
            st.closing = true;
            st.flow.clear();
            st.front_sent = 0;
            std::mem::take(&mut st.buffer)
        };
        drop(buffer);
        self.schedule_connection_lost(err);
    }

    /// A fatal error: I/O errors go only to connection_lost; a protocol's
    /// misbehaviour is also reported to the exception handler.
    fn fatal(self: &Arc<Self>, err: i32, report: Option<&str>) {
        if let Some(msg) = report {
            let mut ctx = ErrorContext::new(msg, err);
            ctx.transport = crate::events::Opaque(self.c_ptr().cast());
            self.lp.report(ctx);
        }
        self.force_close(err);
    }

    fn schedule_connection_lost(self: &Arc<Self>, err: i32) {
        {
            let mut st = self.st.borrow_mut();
            if st.conn_lost {
                return;
            }
            st.conn_lost = true;
        }
        let me = self.clone();
        self.lp.push_ready(Ready::Job(Box::new(move |_| me.connection_lost(err))));
    }

    /// asyncio's `_call_connection_lost`: the protocol's last callback, then
    /// the fd is closed and the transport leaves its server.
    fn connection_lost(self: &Arc<Self>, err: i32) {
        let (proto, server) = {
            let mut st = self.st.borrow_mut();
            st.conn_lost = true;
            if st.fd.is_none() {
                return;
            }
            (st.proto.take(), st.server.take())
        };
        if let Some(p) = proto {
            p.connection_lost(self, err);
        }
        self.end_sendfile(err);
        self.release_fd();
        if let Some((server, index)) = server {
            if let Some(server) = server.upgrade() {
                server.detach(index);
            }
        }
    }

    fn release_fd(&self) {
        let (fd, token) = {
            let mut st = self.st.borrow_mut();
            (st.fd.take(), st.token.take())
        };
        if let Some(token) = token {
            self.lp.deregister_io(self.raw_fd, token);
        }
        drop(fd);
    }

    // ---- protocol and extra info -------------------------------------------------

    /// Takes effect for the next event; the read path (buffered or not) is
    /// chosen again from the new protocol.
    pub fn set_protocol(&self, proto: ProtocolSlot) -> Result<(), i32> {
        let mut st = self.st.borrow_mut();
        if st.proto.is_none() {
            return Err(EDDY_ECLOSED);
        }
        st.proto = Some(proto);
        Ok(())
    }

    /// The caller's table and data; None after connection_lost.
    pub fn get_protocol(&self) -> Option<(*const Protocol, *mut c_void)> {
        self.st.borrow().proto.as_ref().map(ProtocolSlot::origin)
    }

    pub fn get_extra_info(&self, name: &str) -> Option<ExtraInfo> {
        if let Some(link) = &self.tls {
            return self.tls_extra_info(link, name);
        }
        let st = self.st.borrow();
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

    /// asyncio's `loop.sendfile` on this transport: reading pauses, the
    /// buffer drains, then sendfile(2) (or the read-and-send fallback) runs
    /// on the socket; write() fails with EDDY_EBUSY meanwhile. A TLS
    /// transport can only take the fallback (asyncio's FALLBACK mode): the
    /// file goes through write() in 16 KiB pieces. The value is the count
    /// sent; if the connection goes first, the error (EDDY_ECLOSED after a
    /// close).
    pub fn sendfile(self: &Arc<Self>, file: RawFd, offset: i64, count: usize, fallback: bool) -> Result<Arc<Future>, i32> {
        let tls = self.tls.is_some();
        if !self.kind.is_socket() && !tls {
            return Err(EDDY_ENOTSUP);
        }
        self.check_writable()?;
        if file < 0 {
            return Err(EDDY_EINVAL);
        }
        sock::check_file_range(offset, count)?;
        if tls && !fallback {
            return Err(EDDY_ENOTSUP);
        }
        let was_reading = self.is_reading();
        self.pause_reading();
        let fut = Future::new(&self.lp);
        let done = fut.clone();
        let finish = move |t: &Arc<Transport>, outcome: Outcome| {
            if let Some(s) = t.st.borrow_mut().sendfile.as_mut() {
                s.active = false;
            }
            if was_reading {
                t.resume_reading();
            }
            let _ = done.complete(outcome);
        };
        let job: DrainJob = if tls {
            // asyncio's _SendfileFallbackProtocol: the protocol sees no
            // pause_writing/resume_writing of the file's writes (see
            // tls_pause_writing); one paused before gets its resume_writing
            // when the sendfile ends, once the buffer is below its limit.
            let lower = self.link().lower.clone();
            let was_paused = lower.st.borrow().flow.is_paused();
            let restore = move |t: &Arc<Transport>, outcome: Outcome| {
                if let Some(s) = t.st.borrow_mut().sendfile.as_mut() {
                    s.active = false;
                }
                if was_paused && !lower.st.borrow().flow.is_paused() && !t.is_closing() {
                    t.tls_resume_writing();
                }
                finish(t, outcome);
            };
            let end = if count == 0 { None } else { Some(offset + count as i64) };
            let pump = SendfileByWrites { file, offset, pos: offset, end, piece: Vec::new(), finish: Box::new(restore) };
            Box::new(move |t, _| pump.step(t.clone()))
        } else {
            Box::new(move |t, drained| match drained.and_then(|()| sock::sendfile_on(&t.lp, t.raw_fd, file, offset, count, fallback)) {
                Err(e) => finish(t, Outcome::Error(e, None)),
                Ok(op) => {
                    t.sendfile_state().op = Some(op.clone());
                    let t = t.clone();
                    op.add_done(DoneCallback::Internal(Box::new(move |op: &Arc<Future>| {
                        let outcome = match op.result() {
                            Ok((_, n)) => Outcome::Result(std::ptr::null_mut(), n),
                            Err(e) => Outcome::Error(e, None),
                        };
                        if let Some(s) = t.st.borrow_mut().sendfile.as_mut() {
                            s.op = None;
                        }
                        finish(&t, outcome);
                    })));
                }
            })
        };
        self.sendfile_state().active = true;
        if tls {
            // The pump waits for the plain transport's buffer itself. Its
            // writes may call pause_writing: not inside this call.
            let me = self.clone();
            self.lp.push_ready(Ready::Job(Box::new(move |_| job(&me, Ok(())))));
        } else if self.st.borrow().flow.size() == 0 {
            job(self, Ok(()));
        } else {
            self.sendfile_state().on_drained = Some(job);
        }
        Ok(fut)
    }

    fn sendfile_state(&self) -> std::cell::RefMut<'_, Sendfile> {
        std::cell::RefMut::map(self.st.borrow_mut(), |st| &mut **st.sendfile.get_or_insert_with(Default::default))
    }

    /// The connection is going: a sendfile waiting for the buffer to drain
    /// fails, and one in progress on the fd stops (its fd watch goes before
    /// the fd is closed and its number reused).
    fn end_sendfile(self: &Arc<Self>, err: i32) {
        let Some(state) = self.st.borrow_mut().sendfile.take() else { return };
        let Sendfile { on_drained, op, .. } = *state;
        let err = if err != 0 { err } else { EDDY_ECLOSED };
        if let Some(op) = op {
            op.fail(err, None);
        }
        if let Some(f) = on_drained {
            f(self, Err(err));
        }
    }
}

/// What to run once a transport's write buffer is empty, or the error that
/// ended the connection first.
type DrainJob = Box<dyn FnOnce(&Arc<Transport>, Result<(), i32>)>;

/// loop.sendfile's state on a transport.
#[derive(Default)]
struct Sendfile {
    /// User writes fail with EDDY_EBUSY.
    active: bool,
    on_drained: Option<DrainJob>,
    /// The sendfile(2) operation on the transport's fd.
    op: Option<Arc<Future>>,
}

/// asyncio's `_sendfile_fallback` for a TLS transport: a piece of the file
/// at a time through the transport's own write path, each once the plain
/// transport has sent the previous one, one piece per loop iteration.
struct SendfileByWrites {
    file: RawFd,
    offset: i64,
    pos: i64,
    end: Option<i64>,
    piece: Vec<u8>,
    finish: SendfileFinish,
}

/// Ends a sendfile: restores the transport and completes its future.
type SendfileFinish = Box<dyn FnOnce(&Arc<Transport>, Outcome)>;

/// asyncio's fallback block size.
const SENDFILE_PIECE: usize = 16 * 1024;

impl SendfileByWrites {
    fn step(mut self, t: Arc<Transport>) {
        let lower = t.link().lower.clone();
        if t.is_closing() {
            return self.done(&t, Err(EDDY_ECLOSED));
        }
        if lower.get_write_buffer_size() > 0 {
            lower.sendfile_state().on_drained = Some(Box::new(move |_, drained| match drained {
                Ok(()) => self.step(t),
                Err(e) => self.done(&t, Err(e)),
            }));
            return;
        }
        let want = self.end.map_or(SENDFILE_PIECE, |end| ((end - self.pos) as usize).min(SENDFILE_PIECE));
        if want == 0 {
            return self.done(&t, Ok(()));
        }
        self.piece.resize(want, 0);
        let n = match sys::pread(self.file, &mut self.piece, self.pos) {
            Ok(0) => return self.done(&t, Ok(())),
            Ok(n) => n,
            Err(e) => return self.done(&t, Err(e)),
        };
        if let Err(e) = t.write_checked(&self.piece[..n], true) {
            return self.done(&t, Err(e));
        }
        self.pos += n as i64;
        let lp = t.lp.clone();
        lp.push_ready(Ready::Job(Box::new(move |_| self.step(t))));
    }

    /// Leaves the file position after what was sent (asyncio does too).
    fn done(self, t: &Arc<Transport>, r: Result<(), i32>) {
        let sent = self.pos - self.offset;
        let r = r.and_then(|()| if sent > 0 { sys::seek_to(self.file, self.pos) } else { Ok(()) });
        (self.finish)(t, match r {
            Ok(()) => Outcome::Result(std::ptr::null_mut(), sent),
            Err(e) => Outcome::Error(e, None),
        });
    }
}

/// The TLS layer (asyncio's `SSLProtocol` and `_SSLProtocolTransport`).
impl Transport {
    /// Wraps `lower` (whose protocol becomes the TLS one) in an application
    /// transport for `app`, and starts the handshake; `hs.waiter`
    /// completes with the application transport, or fails with
    /// `EDDY_ETLS` (and a message) or `-ETIMEDOUT`, closing `lower`.
    pub(crate) fn start_tls(
        lower: &Arc<Transport>,
        conn: rustls::Connection,
        app: ProtocolSlot,
        hs: Handshake,
        handshake_timeout: f64,
        shutdown_timeout: f64,
    ) -> Arc<Transport> {
        let lp = lower.lp.clone();
        let t = Arc::new(Transport {
            lp: lp.clone(),
            kind: Kind::Tls,
            raw_fd: lower.raw_fd,
            st: RefCell::new(State {
                fd: None,
                token: None,
                proto: Some(app),
                closing: false,
                conn_lost: false,
                started: false,
                reading_paused: false,
                eof_received: false,
                eof_written: false,
                readable: false,
                peer_closed: false,
                buffer: VecDeque::new(),
                front_sent: 0,
                flow: FlowControl::new(sslproto::TLS_HIGH),
                sendfile: None,
                server: None,
                peername: None,
            }),
            tls: Some(Box::new(TlsLink {
                lower: lower.clone(),
                conn: RefCell::new(conn),
                handshake: RefCell::new(Some(hs)),
                shutdown_timeout,
                pending: RefCell::new(Vec::new()),
                eof_pending: std::cell::Cell::new(false),
            })),
        });
        let _ = lower.st.borrow_mut().flow.set_limits(None, None, sslproto::TLS_HIGH);
        let proto = std::rc::Rc::new(TlsProtocol { app: RefCell::new(Some(t.clone())) });
        let _ = lower.set_protocol(ProtocolSlot::Internal(proto));
        // A client speaks first; a server's records are empty until then.
        t.tls_flush();
        let weak = Arc::downgrade(&t);
        let _ = lp.call_later_job(
            handshake_timeout,
            Box::new(move |_| {
                if let Some(t) = weak.upgrade() {
                    t.tls_fail(EDDY_ETIMEDOUT, "TLS handshake timed out".to_string());
                }
            }),
        );
        t
    }

    fn link(&self) -> &TlsLink {
        self.tls.as_ref().expect("a TLS transport")
    }

    /// Sends what rustls has to send through the plain transport.
    pub(crate) fn tls_flush(&self) {
        let link = self.link();
        let records = sslproto::pending_records(&mut link.conn.borrow_mut());
        if !records.is_empty() {
            let _ = link.lower.write(&records);
        }
    }

    /// The handshake failed (or timed out): the waiter fails and the plain
    /// transport closes. After the handshake, a protocol error ends the
    /// connection like an I/O error.
    fn tls_fail(self: &Arc<Self>, err: i32, msg: String) {
        let link = self.link();
        let hs = link.handshake.borrow_mut().take();
        match hs {
            Some(hs) => {
                if let Some(w) = hs.waiter {
                    w.fail(err, Some(msg));
                }
                self.st.borrow_mut().closing = true;
                link.lower.abort();
            }
            None if err != EDDY_ETIMEDOUT => self.force_close(err),
            None => {}
        }
    }

    /// TLS records from the plain transport.
    pub(crate) fn tls_received(self: &Arc<Self>, mut data: &[u8]) {
        let link = self.link();
        let mut plain = Vec::new();
        let mut closed = false;
        let mut failure = None;
        {
            let mut conn = link.conn.borrow_mut();
            while !data.is_empty() && failure.is_none() {
                if let Err(e) = conn.read_tls(&mut data) {
                    failure = Some((EDDY_ETLS, format!("TLS error: {e}")));
                    break;
                }
                match conn.process_new_packets() {
                    Ok(_) => match sslproto::read_plaintext(&mut conn, &mut plain) {
                        Ok(open) => closed |= !open,
                        Err(e) => failure = Some((EDDY_ETLS, format!("TLS error: {e}"))),
                    },
                    Err(e) => failure = Some((EDDY_ETLS, sslproto::describe(&e))),
                }
            }
        }
        // Alerts and handshake answers go out before anything else.
        self.tls_flush();
        if let Some((err, msg)) = failure {
            return self.tls_fail(err, msg);
        }
        let done = link.handshake.borrow().is_some() && !link.conn.borrow().is_handshaking();
        if done {
            self.tls_handshake_done();
        }
        if closed {
            if link.handshake.borrow().is_some() {
                return self.tls_eof();
            }
            if self.st.borrow().closing {
                // Our close_notify was answered: the socket can go.
                self.st.borrow_mut().eof_received = true;
                return link.lower.close();
            }
            link.eof_pending.set(true);
        }
        self.tls_deliver(plain);
    }

    fn tls_handshake_done(self: &Arc<Self>) {
        let Some(hs) = self.link().handshake.borrow_mut().take() else { return };
        let me = self.clone();
        self.lp.push_ready(Ready::Job(Box::new(move |_| {
            if hs.call_connection_made {
                if let Some(p) = me.protocol() {
                    p.connection_made(&me);
                }
            }
            me.st.borrow_mut().started = true;
            if let Some(w) = hs.waiter {
                if w.complete(crate::futures::Outcome::Result(me.c_ptr().cast(), 0)).is_err() {
                    me.abort();
                    return;
                }
            }
            me.tls_deliver(Vec::new());
        })));
    }

    /// Gives plaintext to the protocol, or keeps it (and stops reading the
    /// socket) until connection_made has run and reading is not paused.
    fn tls_deliver(self: &Arc<Self>, plain: Vec<u8>) {
        let link = self.link();
        let (data, hold) = {
            let st = self.st.borrow();
            let mut pending = link.pending.borrow_mut();
            pending.extend_from_slice(&plain);
            if st.closing || st.conn_lost {
                // Nobody reads any more: drop it, keep the socket drained.
                pending.clear();
                return;
            }
            let hold = !st.started || st.reading_paused;
            if hold || pending.is_empty() {
                (Vec::new(), hold)
            } else {
                (std::mem::take(&mut *pending), false)
            }
        };
        if hold {
            if !link.pending.borrow().is_empty() {
                link.lower.pause_reading();
            }
            return;
        }
        // Reading may have been held back for this data.
        link.lower.resume_reading();
        self.tls_feed(&data);
        // EOF only after every byte before it was delivered.
        if link.eof_pending.take() {
            self.tls_eof();
        }
    }

    fn tls_feed(self: &Arc<Self>, data: &[u8]) {
        if data.is_empty() {
            return;
        }
        let Some(proto) = self.protocol() else { return };
        if !proto.is_buffered() {
            return proto.data_received(self, data);
        }
        // asyncio's _feed_data_to_buffered_proto: fill buffers as far as
        // they go, with the remaining size as the hint.
        let mut rest = data;
        while !rest.is_empty() {
            let (p, len) = match proto.get_buffer(self, rest.len()) {
                Ok(b) => b,
                Err(e) => return self.fatal(e, Some("Fatal error: protocol.get_buffer() call failed.")),
            };
            let n = len.min(rest.len());
            sys::copy_into_protocol_buffer(p, &rest[..n]);
            rest = &rest[n..];
            proto.buffer_updated(self, n);
        }
    }

    /// The peer's close_notify (or its FIN): TLS cannot half-close, so the
    /// application sees EOF and the connection closes.
    pub(crate) fn tls_eof(self: &Arc<Self>) {
        if self.link().handshake.borrow().is_some() {
            return self.tls_fail(EDDY_ECONNRESET, "connection closed during the TLS handshake".to_string());
        }
        let already = std::mem::replace(&mut self.st.borrow_mut().eof_received, true);
        if already {
            return;
        }
        if let Some(p) = self.protocol() {
            p.eof_received(self);
        }
        self.close();
    }

    /// The plain transport is gone: so is the application's.
    pub(crate) fn tls_lower_lost(self: &Arc<Self>, err: i32) {
        if self.link().handshake.borrow().is_some() {
            let e = if err != 0 { err } else { EDDY_ECONNRESET };
            return self.tls_fail(e, "connection lost during the TLS handshake".to_string());
        }
        let (proto, err) = {
            let mut st = self.st.borrow_mut();
            st.conn_lost = true;
            st.closing = true;
            // connection_lost only follows a connection_made (asyncio's
            // SSLProtocol: not while the handshake runs). After the peer's
            // close_notify, answering it into a closed socket is no error.
            let proto = if st.started { st.proto.take() } else { None };
            (proto, if st.eof_received { 0 } else { err })
        };
        if let Some(p) = proto {
            p.connection_lost(self, err);
        }
    }

    /// Flow control of the plain transport, passed on to the application's
    /// protocol except while a sendfile writes (it waits for the buffer
    /// itself, and restores the protocol's state when it ends).
    pub(crate) fn tls_pause_writing(self: &Arc<Self>) {
        if !self.sendfile_writing() {
            if let Some(p) = self.protocol() {
                p.pause_writing(self);
            }
        }
    }

    pub(crate) fn tls_resume_writing(self: &Arc<Self>) {
        if !self.sendfile_writing() {
            if let Some(p) = self.protocol() {
                p.resume_writing(self);
            }
        }
    }

    fn sendfile_writing(&self) -> bool {
        self.st.borrow().sendfile.as_ref().is_some_and(|s| s.active)
    }

    fn tls_extra_info(&self, link: &TlsLink, name: &str) -> Option<ExtraInfo> {
        let conn = link.conn.borrow();
        match name {
            "peercert" => conn.peer_certificates()?.first().map(|c| ExtraInfo::Bytes(c.as_ref().to_vec())),
            "cipher" => conn.negotiated_cipher_suite().map(|s| ExtraInfo::Str(format!("{:?}", s.suite()))),
            "tls_version" => conn.protocol_version().map(|v| {
                ExtraInfo::Str(
                    match v {
                        rustls::ProtocolVersion::TLSv1_3 => "TLSv1.3",
                        rustls::ProtocolVersion::TLSv1_2 => "TLSv1.2",
                        _ => "TLS",
                    }
                    .to_string(),
                )
            }),
            "alpn_protocol" => conn.alpn_protocol().map(|a| ExtraInfo::Str(String::from_utf8_lossy(a).into_owned())),
            _ => link.lower.get_extra_info(name),
        }
    }
}

impl IoHandler for Transport {
    fn on_io(self: Arc<Self>, _lp: &Arc<EventLoop>, ev: IoEvent) {
        if self.kind == Kind::WritePipe {
            // A write pipe is readable or in error only when its reader went
            // away (asyncio's _UnixWritePipeTransport._read_ready).
            if ev.readable || ev.hangup {
                let pending = self.st.borrow().flow.size() > 0;
                if pending {
                    self.fatal(EDDY_EPIPE, None);
                } else {
                    self.close();
                }
                return;
            }
        }
        // The reader before the writer, as asyncio's _process_events.
        if ev.readable && self.kind.reads() {
            let proto = {
                let mut st = self.st.borrow_mut();
                st.readable = true;
                st.peer_closed |= ev.read_closed;
                st.reader()
            };
            if let Some(proto) = proto {
                self.read_with(proto);
            }
        }
        if ev.writable {
            self.write_ready();
        }
    }

    fn close_silently(&self) {
        let (proto, buffer) = {
            let mut st = self.st.borrow_mut();
            st.closing = true;
            st.conn_lost = true;
            st.token = None;
            (st.proto.take(), std::mem::take(&mut st.buffer))
        };
        drop((proto, buffer));
        let fd = self.st.borrow_mut().fd.take();
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
