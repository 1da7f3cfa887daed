//! Datagram endpoints (asyncio's `create_datagram_endpoint` and
//! `_SelectorDatagramTransport`). Flow control is the stream transport's
//! (`FlowControl`); a queued datagram counts its length plus 8 bytes, added
//! and subtracted consistently (gh-135444).

use std::cell::RefCell;
use std::collections::VecDeque;
use std::ffi::{c_int, c_void};
use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::path::PathBuf;
use std::rc::Rc;
use std::sync::Arc;

use socket2::{Domain, SockAddr, Socket, Type};

use crate::base_events::{EventLoop, IoEvent, IoHandler, IoToken, Ready, MAX_READ};
use crate::dns::{resolve, AddrEntry};
use crate::error::*;
use crate::futures::{Future, Outcome};
use crate::sys::{self, Hints, RawAddr};
use crate::transports::{Closing, ExtraInfo, FlowControl, DEFAULT_HIGH};

/// What asyncio adds per queued datagram.
const DATAGRAM_OVERHEAD: usize = 8;

/// Callbacks of a datagram protocol.
#[repr(C)]
#[derive(Clone, Copy, Default)]
pub struct DatagramProtocol {
    pub connection_made: Option<extern "C" fn(d: *mut Datagram, ud: *mut c_void)>,
    pub connection_lost: Option<extern "C" fn(d: *mut Datagram, err: c_int, ud: *mut c_void)>,
    pub pause_writing: Option<extern "C" fn(d: *mut Datagram, ud: *mut c_void)>,
    pub resume_writing: Option<extern "C" fn(d: *mut Datagram, ud: *mut c_void)>,
    pub datagram_received: Option<
        extern "C" fn(
            d: *mut Datagram,
            data: *const u8,
            len: usize,
            addr: *const libc::sockaddr,
            addrlen: libc::socklen_t,
            ud: *mut c_void,
        ),
    >,
    /// An error from a send or a receive (ICMP: ECONNREFUSED; EMSGSIZE);
    /// the endpoint stays open.
    pub error_received: Option<extern "C" fn(d: *mut Datagram, err: c_int, ud: *mut c_void)>,
}

/// A datagram waiting to be sent, and where to (None: the connected peer).
type Queued = (Vec<u8>, Option<SockAddr>);

/// What an outbox keeps of its bytes' capacity between batches: a burst of
/// large replies should not pin their memory for the endpoint's life.
const OUTBOX_KEEP: usize = 64 * 1024;

/// The replies held while a received batch is delivered: each one's
/// address (if it needs one) and bytes one after another in `bytes`, and
/// in `held` where each one ends there and how long its address is. A
/// reply costs one copy and, once the buffer has grown, no allocation (a
/// Vec per reply cost a malloc and a free per datagram).
#[derive(Default)]
struct Outbox {
    bytes: Vec<u8>,
    held: Vec<(usize, u8)>,
}

impl Outbox {
    fn push(&mut self, data: &[u8], addr: Option<RawAddr<'_>>) -> Result<(), i32> {
        let a = addr.map_or(&[][..], |a| a.as_bytes());
        // Vec::try_reserve is a call even when there is room, which there
        // is for all but a batch's first replies.
        if self.held.len() == self.held.capacity() {
            self.held.try_reserve(1).map_err(|_| EDDY_ENOMEM)?;
        }
        let n = a.len() + data.len();
        if self.bytes.capacity() - self.bytes.len() < n {
            self.bytes.try_reserve(n).map_err(|_| EDDY_ENOMEM)?;
        }
        self.bytes.extend_from_slice(a);
        self.bytes.extend_from_slice(data);
        // RawAddr holds at most a sockaddr_storage: 128 bytes.
        self.held.push((self.bytes.len(), a.len() as u8));
        Ok(())
    }

    fn len(&self) -> usize {
        self.held.len()
    }

    fn is_empty(&self) -> bool {
        self.held.is_empty()
    }

    /// The held replies from the `skip`th on, in order.
    fn iter(&self, skip: usize) -> impl Iterator<Item = (&[u8], Option<RawAddr<'_>>)> {
        let start = |i: usize| if i == 0 { 0 } else { self.held[i - 1].0 };
        (skip..self.held.len()).map(move |i| {
            let (end, alen) = (self.held[i].0, usize::from(self.held[i].1));
            let (addr, data) = self.bytes[start(i)..end].split_at(alen);
            // Checked by RawAddr::new when it was pushed.
            (data, (alen > 0).then_some(RawAddr::from_checked(addr)))
        })
    }

    fn clear(&mut self) {
        self.held.clear();
        self.bytes.clear();
        if self.bytes.capacity() > OUTBOX_KEEP {
            self.bytes = Vec::new();
        }
    }
}

#[derive(Clone, Copy)]
struct Slot {
    table: DatagramProtocol,
    ud: *mut c_void,
    origin: *const DatagramProtocol,
}

struct State {
    fd: Option<OwnedFd>,
    token: Option<IoToken>,
    proto: Option<Slot>,
    close: Closing,
    started: bool,
    readable: bool,
    buffer: VecDeque<Queued>,
    /// Set while a received batch is delivered: sendto then keeps what
    /// it would have sent at once in `outbox`, and the batch's replies
    /// leave together in one sendmmsg after the last datagram_received.
    batching: bool,
    outbox: Outbox,
    flow: FlowControl,
}

pub struct Datagram {
    lp: Arc<EventLoop>,
    raw_fd: RawFd,
    /// The address every datagram must go to (remote_addr), and whether
    /// the socket is connected to it (not with allow_broadcast).
    remote: Option<SockAddr>,
    connected: bool,
    /// The receive slot per datagram: the largest datagram of the family.
    slot_len: usize,
    st: RefCell<State>,
}

/// Receive slots: a UDP datagram is at most 65,535 bytes with its 8-byte
/// header, so 64 KiB slots hold any (16 per batch); other families
/// (AF_UNIX) keep asyncio's 256 KiB recvfrom size (4 per batch).
const UDP_SLOT: usize = 64 * 1024;

thread_local! {
    /// The receive batch, shared by the datagram endpoints of the thread's
    /// loop (one loop runs on one thread); taken out for one read and its
    /// callbacks, so a read nested in a callback makes its own.
    static RECV_BATCH: std::cell::Cell<Option<Box<sys::RecvBatch>>> = const { std::cell::Cell::new(None) };
}

impl Datagram {
    fn start(
        lp: &Arc<EventLoop>,
        fd: OwnedFd,
        remote: Option<SockAddr>,
        connected: bool,
        slot: Slot,
        fut: Arc<Future>,
    ) -> Result<Arc<Datagram>, (i32, OwnedFd)> {
        let raw_fd = fd.as_raw_fd();
        let slot_len = match sys::socket_domain(raw_fd) {
            Ok(libc::AF_INET | libc::AF_INET6) => UDP_SLOT,
            _ => MAX_READ,
        };
        let d = Arc::new(Datagram {
            lp: lp.clone(),
            raw_fd,
            remote,
            connected,
            slot_len,
            st: RefCell::new(State {
                fd: Some(fd),
                token: None,
                proto: Some(slot),
                close: Closing::default(),
                started: false,
                readable: false,
                buffer: VecDeque::new(),
                batching: false,
                outbox: Outbox::default(),
                flow: FlowControl::new(DEFAULT_HIGH),
            }),
        });
        let token = match lp.register_io(raw_fd, d.clone()) {
            Ok(t) => t,
            Err(e) => return Err((e, d.st.borrow_mut().fd.take().expect("just made"))),
        };
        d.st.borrow_mut().token = Some(token);
        let me = d.clone();
        lp.push_ready(Ready::Job(Box::new(move |_| {
            if let Some(p) = me.slot() {
                if let Some(f) = p.table.connection_made {
                    f(me.c_ptr(), p.ud);
                }
            }
            let pending = {
                let mut st = me.st.borrow_mut();
                st.started = true;
                st.readable
            };
            if pending {
                me.read_ready();
            }
            if fut.complete(Outcome::Result(me.c_ptr().cast(), 0)).is_err() {
                me.abort();
            }
        })));
        Ok(d)
    }

    pub fn c_ptr(self: &Arc<Self>) -> *mut Datagram {
        Arc::as_ptr(self).cast_mut()
    }

    pub fn get_loop(&self) -> &Arc<EventLoop> {
        &self.lp
    }

    fn slot(&self) -> Option<Slot> {
        self.st.borrow().proto
    }

    fn error_received(self: &Arc<Self>, err: i32) {
        if let Some(p) = self.slot() {
            if let Some(f) = p.table.error_received {
                f(self.c_ptr(), err, p.ud);
            }
        }
    }

    /// One recvmmsg per event, each datagram delivered by its own
    /// datagram_received, in order. A full batch may leave more queued, so
    /// the endpoint reads again next iteration (edge-triggered poller); a
    /// short one means the kernel found the queue empty (an error that
    /// arrives during the call is kept for the next read and comes with an
    /// edge of its own).
    fn read_ready(self: &Arc<Self>) {
        if !self.open_for_reading() {
            return;
        }
        let Some(mut batch) = RECV_BATCH.take().or_else(|| sys::RecvBatch::new().ok().map(Box::new)) else {
            self.error_received(EDDY_ENOMEM);
            return;
        };
        match batch.recv(self.raw_fd, self.slot_len) {
            Ok(n) => {
                let more = n == sys::RecvBatch::slots(self.slot_len);
                self.st.borrow_mut().readable = more;
                if more {
                    self.lp.io_again(self.clone(), IoEvent::READABLE);
                }
                self.st.borrow_mut().batching = true;
                for i in 0..n {
                    // asyncio stops reading at close(): the rest of the
                    // batch goes the way of what close leaves unread.
                    if i > 0 && !self.open_for_reading() {
                        break;
                    }
                    if let Some(p) = self.slot() {
                        if let Some(f) = p.table.datagram_received {
                            let (data, addr, addrlen) = batch.datagram(i);
                            f(self.c_ptr(), data.as_ptr(), data.len(), addr, addrlen, p.ud);
                        }
                    }
                }
                self.st.borrow_mut().batching = false;
                self.flush_outbox();
            }
            Err(e) if e == EDDY_EAGAIN => self.st.borrow_mut().readable = false,
            Err(e) => {
                // Keep reading: more may be queued behind the error.
                self.lp.io_again(self.clone(), IoEvent::READABLE);
                self.error_received(e);
            }
        }
        RECV_BATCH.set(Some(batch));
    }

    fn open_for_reading(&self) -> bool {
        let st = self.st.borrow();
        st.started && !st.close.is_closing()
    }

    fn send_one(&self, data: &[u8], addr: Option<RawAddr<'_>>) -> Result<usize, i32> {
        match addr {
            Some(a) if !self.connected => sys::sendto(self.raw_fd, data, a),
            _ => sys::send(self.raw_fd, data),
        }
    }

    /// asyncio's `sendto`. `addr` None: the remote address. A different
    /// address on an endpoint with a remote one is `EDDY_EINVAL`, and so
    /// is no address on one without. A send error is passed to
    /// error_received on the next iteration; the endpoint stays open.
    pub fn sendto(self: &Arc<Self>, data: &[u8], addr: Option<RawAddr<'_>>) -> Result<(), i32> {
        let mut st = self.st.borrow_mut();
        if st.close.is_closing() {
            return Err(EDDY_ECLOSED);
        }
        let addr = match (&self.remote, addr) {
            (Some(r), Some(a)) if RawAddr::of(r) != a => return Err(EDDY_EINVAL),
            (Some(r), _) => RawAddr::of(r),
            (None, Some(a)) => a,
            (None, None) => return Err(EDDY_EINVAL),
        };
        // A connected socket's kept datagrams need no address (the kernel
        // sends to the peer).
        let keep = (!self.connected).then_some(addr);
        let send_now = st.flow.size() == 0;
        if send_now && st.batching {
            return st.outbox.push(data, keep);
        }
        drop(st);
        if send_now {
            match self.send_one(data, Some(addr)) {
                Ok(_) => return Ok(()),
                Err(e) if e == EDDY_EAGAIN => {}
                Err(e) => {
                    self.schedule_error(e);
                    return Ok(());
                }
            }
        }
        let copy = sys::try_to_vec(data)?;
        {
            let mut st = self.st.borrow_mut();
            st.flow.grow(data.len() + DATAGRAM_OVERHEAD);
            st.buffer.push_back((copy, keep.map(RawAddr::to_sockaddr)));
        }
        self.maybe_pause();
        Ok(())
    }

    /// One sendmmsg of the datagrams at the front of `q`.
    fn send_batch<'a>(&self, q: impl Iterator<Item = (&'a [u8], Option<RawAddr<'a>>)>) -> Result<usize, i32> {
        let connected = self.connected;
        sys::sendmmsg(self.raw_fd, q.map(|(d, a)| (d, a.filter(|_| !connected))))
    }

    /// Sends what sendto kept back during a batch, as sendto would have
    /// sent it: an error goes to error_received on the next iteration,
    /// and from the first EAGAIN on the datagrams join the queue. They
    /// were sent as far as the protocol knows, so an abort in the batch
    /// does not drop them; close() waits for them.
    fn flush_outbox(self: &Arc<Self>) {
        let mut out = {
            let mut st = self.st.borrow_mut();
            if st.outbox.is_empty() {
                return;
            }
            if st.fd.is_none() {
                st.outbox.clear();
                return;
            }
            std::mem::take(&mut st.outbox)
        };
        let mut next = 0;
        while next < out.len() {
            match self.send_batch(out.iter(next)) {
                Ok(n) => next += n,
                Err(e) if e == EDDY_EAGAIN => break,
                Err(e) => {
                    self.schedule_error(e);
                    next += 1;
                }
            }
        }
        let (queued, lost_now) = {
            let mut st = self.st.borrow_mut();
            let queued = next < out.len() && !st.close.lost;
            if queued {
                for (d, a) in out.iter(next) {
                    st.flow.grow(d.len() + DATAGRAM_OVERHEAD);
                    st.buffer.push_back((d.to_vec(), a.map(RawAddr::to_sockaddr)));
                }
            }
            out.clear();
            st.outbox = out;
            (queued, st.close.closing && !st.close.lost && st.buffer.is_empty())
        };
        if queued {
            self.maybe_pause();
        }
        if lost_now {
            self.schedule_connection_lost(0);
        }
    }

    fn schedule_error(self: &Arc<Self>, err: i32) {
        let me = self.clone();
        self.lp.push_ready(Ready::Job(Box::new(move |_| me.error_received(err))));
    }

    fn maybe_pause(self: &Arc<Self>) {
        let pause = self.st.borrow_mut().flow.should_pause();
        if let (true, Some(p)) = (pause, self.slot()) {
            if let Some(f) = p.table.pause_writing {
                f(self.c_ptr(), p.ud);
            }
        }
    }

    /// Flushes the queue with sendmmsg, in order. A datagram the kernel
    /// refuses (EMSGSIZE, ECONNREFUSED from an earlier ICMP) is dropped and
    /// reported to error_received, as asyncio's `_sendto_ready` does, and
    /// the ones behind it still go.
    fn write_ready(self: &Arc<Self>) {
        loop {
            let r = {
                let st = self.st.borrow();
                if st.close.lost || st.buffer.is_empty() {
                    break;
                }
                self.send_batch(st.buffer.iter().map(|(d, a)| (&d[..], a.as_ref().map(RawAddr::of))))
            };
            let (sent, err) = match r {
                Err(e) if e == EDDY_EAGAIN => return,
                Ok(n) => (n, None),
                Err(e) => (1, Some(e)),
            };
            {
                let mut st = self.st.borrow_mut();
                let bytes: usize = st.buffer.drain(..sent).map(|(d, _)| d.len() + DATAGRAM_OVERHEAD).sum();
                st.flow.shrink(bytes);
            }
            if let Some(e) = err {
                self.error_received(e);
            }
        }
        let resume = self.st.borrow_mut().flow.should_resume();
        if let (true, Some(p)) = (resume, self.slot()) {
            if let Some(f) = p.table.resume_writing {
                f(self.c_ptr(), p.ud);
            }
        }
        let (empty, closing) = {
            let st = self.st.borrow();
            (st.buffer.is_empty(), st.close.closing)
        };
        if empty && closing {
            self.connection_lost(0);
        }
    }

    pub fn get_write_buffer_size(&self) -> usize {
        self.st.borrow().flow.size()
    }

    pub fn is_closing(&self) -> bool {
        self.st.borrow().close.is_closing()
    }

    /// connection_lost(0) follows on the next iteration, or after the
    /// queued datagrams are sent.
    pub fn close(self: &Arc<Self>) {
        let empty = {
            let mut st = self.st.borrow_mut();
            if !st.close.close() {
                return;
            }
            st.buffer.is_empty() && st.outbox.is_empty()
        };
        if empty {
            self.schedule_connection_lost(0);
        }
    }

    /// Drops queued datagrams; connection_lost(0) on the next iteration.
    pub fn abort(self: &Arc<Self>) {
        let buffer = {
            let mut st = self.st.borrow_mut();
            if !st.close.abort() {
                return;
            }
            st.flow.clear();
            std::mem::take(&mut st.buffer)
        };
        drop(buffer);
        self.schedule_connection_lost(0);
    }

    fn schedule_connection_lost(self: &Arc<Self>, err: i32) {
        if !self.st.borrow_mut().close.lose() {
            return;
        }
        let me = self.clone();
        self.lp.push_ready(Ready::Job(Box::new(move |_| me.connection_lost(err))));
    }

    fn connection_lost(self: &Arc<Self>, err: i32) {
        let proto = {
            let mut st = self.st.borrow_mut();
            st.close.lost = true;
            if st.fd.is_none() {
                return;
            }
            st.proto.take()
        };
        if let Some(p) = proto {
            if let Some(f) = p.table.connection_lost {
                f(self.c_ptr(), err, p.ud);
            }
        }
        let (fd, token) = {
            let mut st = self.st.borrow_mut();
            (st.fd.take(), st.token.take())
        };
        if let Some(token) = token {
            self.lp.deregister_io(self.raw_fd, token);
        }
        drop(fd);
    }

    pub fn set_protocol(&self, table: DatagramProtocol, ud: *mut c_void, origin: *const DatagramProtocol) -> Result<(), i32> {
        let mut st = self.st.borrow_mut();
        if st.proto.is_none() {
            return Err(EDDY_ECLOSED);
        }
        st.proto = Some(Slot { table, ud, origin });
        Ok(())
    }

    pub fn get_protocol(&self) -> Option<(*const DatagramProtocol, *mut c_void)> {
        self.st.borrow().proto.map(|p| (p.origin, p.ud))
    }

    pub fn get_extra_info(&self, name: &str) -> Option<ExtraInfo> {
        self.st.borrow().fd.as_ref()?;
        match name {
            "socket" => Some(ExtraInfo::Fd(self.raw_fd)),
            "sockname" => sys::sockname(self.raw_fd).map(ExtraInfo::Address),
            "peername" if self.connected => self.remote.clone().map(ExtraInfo::Address),
            _ => None,
        }
    }
}

impl IoHandler for Datagram {
    fn on_io(self: Arc<Self>, _lp: &Arc<EventLoop>, ev: IoEvent) {
        if ev.readable() || ev.hangup() {
            self.read_ready();
        }
        if ev.writable() {
            self.write_ready();
        }
    }

    fn close_silently(&self) {
        let taken = {
            let mut st = self.st.borrow_mut();
            st.close = Closing { closing: true, lost: true };
            st.token = None;
            (st.proto.take(), std::mem::take(&mut st.buffer), st.fd.take())
        };
        drop(taken);
    }
}

/// create_datagram_endpoint's options (asyncio's keyword arguments).
#[derive(Default)]
pub struct DatagramOptions {
    /// For AF_UNIX, the path.
    pub local_host: Option<String>,
    pub local_port: u16,
    pub remote_host: Option<String>,
    pub remote_port: u16,
    pub family: i32,
    pub proto: i32,
    pub flags: i32,
    pub reuse_port: bool,
    pub allow_broadcast: bool,
    /// A datagram socket to use instead (eddy owns it once this succeeds).
    pub sock: Option<RawFd>,
}

/// asyncio's `create_datagram_endpoint`: the future's value is the
/// endpoint, after connection_made.
pub fn create_datagram_endpoint(
    lp: &Arc<EventLoop>,
    table: DatagramProtocol,
    ud: *mut c_void,
    origin: *const DatagramProtocol,
    opts: DatagramOptions,
) -> Result<Arc<Future>, i32> {
    lp.check_closed()?;
    let slot = Slot { table, ud, origin };
    let fut = Future::new(lp);
    if let Some(fd) = opts.sock {
        let others = opts.local_host.is_some()
            || opts.remote_host.is_some()
            || opts.local_port != 0
            || opts.remote_port != 0
            || opts.family != 0
            || opts.reuse_port
            || opts.allow_broadcast;
        if others || sys::socket_type(fd)? != libc::SOCK_DGRAM {
            return Err(EDDY_EINVAL);
        }
        sys::set_nonblocking(fd)?;
        let remote = sys::peername(fd);
        let connected = remote.is_some();
        Datagram::start(lp, sys::own_fd(fd), remote, connected, slot, fut.clone()).map_err(|(e, fd)| {
            // On failure the caller keeps its socket.
            let _ = std::os::fd::IntoRawFd::into_raw_fd(fd);
            e
        })?;
        return Ok(fut);
    }
    if opts.family == libc::AF_UNIX {
        let local = opts.local_host.as_ref().map(PathBuf::from);
        let remote = opts.remote_host.as_ref().map(PathBuf::from);
        let sock = Socket::new(Domain::UNIX, Type::DGRAM.nonblocking().cloexec(), None).map_err(|e| from_io(&e))?;
        if let Some(p) = &local {
            // Before the stale socket goes, as create_unix_server does.
            let addr = sys::unix_addr(p)?;
            if let Ok(meta) = std::fs::symlink_metadata(p) {
                use std::os::unix::fs::FileTypeExt;
                if meta.file_type().is_socket() {
                    let _ = std::fs::remove_file(p);
                }
            }
            sock.bind(&addr).map_err(|e| from_io(&e))?;
        }
        let remote = remote.map(|p| sys::unix_addr(&p)).transpose()?;
        if let Some(r) = &remote {
            sock.connect(r).map_err(|e| from_io(&e))?;
        }
        let connected = remote.is_some();
        Datagram::start(lp, sock.into(), remote, connected, slot, fut.clone()).map_err(|(e, _)| e)?;
        return Ok(fut);
    }
    if opts.local_host.is_none() && opts.remote_host.is_none() && opts.local_port == 0 && opts.remote_port == 0 {
        if opts.family == 0 {
            return Err(EDDY_EINVAL);
        }
        let sock = Socket::new(Domain::from(opts.family), Type::DGRAM.nonblocking().cloexec(), None).map_err(|e| from_io(&e))?;
        Datagram::start(lp, sock.into(), None, false, slot, fut.clone()).map_err(|(e, _)| e)?;
        return Ok(fut);
    }
    let hints = Hints { flags: opts.flags, family: opts.family, socktype: libc::SOCK_DGRAM, protocol: opts.proto };
    let want_local = opts.local_host.is_some() || opts.local_port != 0;
    let want_remote = opts.remote_host.is_some() || opts.remote_port != 0;
    let done = fut.clone();
    let opts = Rc::new(opts);
    let o = opts.clone();
    let after_local = move |lp: &Arc<EventLoop>, local: Vec<AddrEntry>| {
        if !want_remote {
            return finish(lp, &done, slot, &o, local, Vec::new());
        }
        let (done2, o2) = (done.clone(), o.clone());
        let r = resolve(
            lp,
            o.remote_host.as_deref(),
            o.remote_port,
            hints,
            Box::new(move |lp, remote| match remote {
                Ok(remote) => finish(lp, &done2, slot, &o2, local, remote),
                Err(e) => done2.fail(e, None),
            }),
        );
        if let Err(e) = r {
            done.fail(e, None);
        }
    };
    if want_local {
        let failed = fut.clone();
        resolve(
            lp,
            opts.local_host.as_deref(),
            opts.local_port,
            Hints { flags: opts.flags | libc::AI_PASSIVE, ..hints },
            Box::new(move |lp, local| match local {
                Ok(local) => after_local(lp, local),
                Err(e) => failed.fail(e, None),
            }),
        )?;
    } else {
        after_local(lp, Vec::new());
    }
    Ok(fut)
}

/// Picks the first (local, remote) pair of one family and sets the socket
/// up (asyncio's loop over `addr_pairs_info`).
fn finish(lp: &Arc<EventLoop>, fut: &Arc<Future>, slot: Slot, o: &DatagramOptions, local: Vec<AddrEntry>, remote: Vec<AddrEntry>) {
    let families: Vec<i32> = if local.is_empty() {
        remote.iter().map(|e| e.0).collect()
    } else {
        local.iter().map(|e| e.0).collect()
    };
    let mut last = EDDY_EADDRNOTAVAIL;
    for fam in families {
        let l = local.iter().find(|e| e.0 == fam).map(|e| e.3.clone());
        let r = remote.iter().find(|e| e.0 == fam).map(|e| e.3.clone());
        if (!local.is_empty() && l.is_none()) || (!remote.is_empty() && r.is_none()) {
            continue;
        }
        let attempt = (|| -> Result<(), i32> {
            let sock = Socket::new(Domain::from(fam), Type::DGRAM.nonblocking().cloexec(), None).map_err(|e| from_io(&e))?;
            let set = |r: std::io::Result<()>| r.map_err(|e| from_io(&e));
            if o.reuse_port {
                set(sock.set_reuse_port(true))?;
            }
            if o.allow_broadcast {
                set(sock.set_broadcast(true))?;
            }
            if let Some(l) = &l {
                set(sock.bind(l))?;
            }
            let connected = r.is_some() && !o.allow_broadcast;
            if let (true, Some(r)) = (connected, &r) {
                set(sock.connect(r))?;
            }
            Datagram::start(lp, sock.into(), r.clone(), connected, slot, fut.clone()).map_err(|(e, _)| e)?;
            Ok(())
        })();
        match attempt {
            Ok(()) => return,
            Err(e) => last = e,
        }
    }
    fut.fail(last, None);
}
