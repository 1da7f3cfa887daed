//! Servers (asyncio's `base_events.Server` and `create_server`'s accept
//! loop in `selector_events.py`).

use std::cell::RefCell;
use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::path::PathBuf;
use std::rc::Rc;
use std::sync::{Arc, Weak};


use crate::base_events::{EventLoop, IoEvent, IoHandler, IoToken};
use crate::error::*;
use crate::events::{ErrorContext, Opaque};
use crate::futures::{Future, Outcome};
use crate::slab::Slab;
use crate::sslproto::{Handshake, TlsOptions, TlsProtocol};
use crate::sys;
use crate::transports::{Acceptor, AcceptorLink, Kind, ProtocolSlot, Transport};

/// asyncio's `ACCEPT_RETRY_DELAY`.
const ACCEPT_RETRY_DELAY: f64 = 1.0;

/// Makes the protocol for each accepted connection (or refuses it).
pub type ProtocolFactory = Rc<dyn Fn() -> Result<ProtocolSlot, i32>>;

/// A bound listening socket and what `cleanup_socket` needs to unlink its
/// path only if it is still ours.
pub(crate) struct Socket {
    pub fd: OwnedFd,
    pub unix_path: Option<(PathBuf, u64, u64)>,
}

struct Listener {
    server: RefCell<Option<Arc<Server>>>,
    fd: RawFd,
    token: RefCell<Option<IoToken>>,
}

struct State {
    sockets: Vec<Socket>,
    listeners: Vec<Arc<Listener>>,
    serving: bool,
    closed: bool,
    /// Accepting is paused after EMFILE and friends.
    backing_off: bool,
    clients: Slab<Arc<Transport>>,
    waiters: Vec<Arc<Future>>,
    serve_forever: Option<Arc<Future>>,
}

pub struct Server {
    lp: Arc<EventLoop>,
    factory: ProtocolFactory,
    /// Connections are TLS with these settings.
    tls: Option<TlsOptions>,
    backlog: i32,
    cleanup_socket: bool,
    /// What the accepted transports hold to find this server again.
    link: Arc<AcceptorLink>,
    st: RefCell<State>,
}

impl Server {
    pub(crate) fn new(
        lp: &Arc<EventLoop>,
        sockets: Vec<Socket>,
        factory: ProtocolFactory,
        backlog: i32,
        cleanup_socket: bool,
        tls: Option<TlsOptions>,
    ) -> Arc<Server> {
        Arc::new_cyclic(|me: &Weak<Server>| Server {
            lp: lp.clone(),
            factory,
            tls,
            backlog: if backlog > 0 { backlog } else { 100 },
            cleanup_socket,
            link: Arc::new(AcceptorLink(me.clone() as Weak<dyn Acceptor>)),
            st: RefCell::new(State {
                sockets,
                listeners: Vec::new(),
                serving: false,
                closed: false,
                backing_off: false,
                clients: Slab::default(),
                waiters: Vec::new(),
                serve_forever: None,
            }),
        })
    }

    pub fn get_loop(&self) -> &Arc<EventLoop> {
        &self.lp
    }

    pub fn is_serving(&self) -> bool {
        self.st.borrow().serving
    }

    /// The listening fds (borrowed); empty once closed.
    pub fn get_sockets(&self) -> Vec<RawFd> {
        self.st.borrow().sockets.iter().map(|s| s.fd.as_raw_fd()).collect()
    }

    /// listen() and watch every socket; idempotent.
    pub fn start_serving(self: &Arc<Self>) -> Result<(), i32> {
        let fds = {
            let st = self.st.borrow();
            if st.closed {
                return Err(EDDY_ECLOSED);
            }
            if st.serving {
                return Ok(());
            }
            st.sockets.iter().map(|s| s.fd.as_raw_fd()).collect::<Vec<_>>()
        };
        for &fd in &fds {
            sys::listen(fd, self.backlog)?;
        }
        let mut listeners = Vec::new();
        for fd in fds {
            let l = Arc::new(Listener { server: RefCell::new(Some(self.clone())), fd, token: RefCell::new(None) });
            let token = self.lp.register_io(fd, l.clone())?;
            *l.token.borrow_mut() = Some(token);
            listeners.push(l);
        }
        let mut st = self.st.borrow_mut();
        st.listeners = listeners;
        st.serving = true;
        Ok(())
    }

    /// Accepts up to `backlog` connections (asyncio's `_accept_connection`).
    fn accept_batch(self: &Arc<Self>, l: &Arc<Listener>) {
        for _ in 0..self.backlog {
            if self.st.borrow().backing_off || !self.is_serving() {
                return;
            }
            match sys::accept_from(l.fd) {
                Ok((fd, peer)) => self.new_connection(fd, peer),
                Err(e) if e == EDDY_EAGAIN => return,
                Err(e) if e == EDDY_EMFILE || e == EDDY_ENFILE || e == EDDY_ENOBUFS || e == EDDY_ENOMEM => {
                    self.back_off(e);
                    return;
                }
                // The peer gave up before we accepted: try the next one.
                Err(e) if e == EDDY_ECONNABORTED => continue,
                Err(e) => {
                    let mut ctx = ErrorContext::new("accept() failed", e);
                    ctx.server = Opaque(Arc::as_ptr(self).cast_mut().cast());
                    self.lp.report(ctx);
                    return;
                }
            }
        }
        // The batch was cut at backlog: the edge is spent, so continue on
        // the next iteration.
        self.lp.io_again(l.clone(), IoEvent::READABLE);
    }

    /// Out of fds: report, stop accepting, retry later (never spin).
    fn back_off(self: &Arc<Self>, err: i32) {
        self.st.borrow_mut().backing_off = true;
        let mut ctx = ErrorContext::new("socket.accept() out of system resource", err);
        ctx.server = Opaque(Arc::as_ptr(self).cast_mut().cast());
        self.lp.report(ctx);
        let me = Arc::downgrade(self);
        let resume = Box::new(move |_: &Arc<EventLoop>| {
            let Some(s) = me.upgrade() else { return };
            s.st.borrow_mut().backing_off = false;
            let listeners = s.st.borrow().listeners.clone();
            for l in listeners {
                s.lp.io_again(l, IoEvent::READABLE);
            }
        });
        let _ = self.lp.call_later_job(ACCEPT_RETRY_DELAY, resume);
    }

    fn new_connection(self: &Arc<Self>, fd: OwnedFd, peer: socket2::SockAddr) {
        let kind = if peer.is_unix() { Kind::Unix } else { Kind::Tcp };
        let proto = match (self.factory)() {
            Ok(p) => p,
            Err(_) => return, // refused: dropping fd closes it
        };
        let Some(tls) = &self.tls else {
            return self.add_client(Transport::start(&self.lp, fd, kind, proto, Some(peer), None));
        };
        // TLS: the plain transport is the client the server tracks; the
        // application's transport appears after the handshake. A failed
        // handshake just closes the connection (asyncio reports it only in
        // debug mode).
        let conn = match tls.connection() {
            Ok(c) => c,
            Err(_) => return,
        };
        let lower = Transport::start(&self.lp, fd, kind, TlsProtocol::placeholder(), Some(peer), None);
        if let Ok(lower) = &lower {
            let hs = Handshake { waiter: None, call_connection_made: true };
            Transport::new_tls(lower, conn, proto, hs, tls.handshake_timeout, tls.shutdown_timeout);
        }
        self.add_client(lower);
    }

    fn add_client(self: &Arc<Self>, t: Result<Arc<Transport>, (i32, OwnedFd)>) {
        match t {
            Ok(t) => {
                let index = self.st.borrow_mut().clients.insert(t.clone());
                match u32::try_from(index) {
                    Ok(i) => t.join_server(Arc::downgrade(&self.link), i),
                    // 2^32 live connections do not fit in memory; should
                    // the index outgrow a u32 anyway, the connection is
                    // refused rather than left untracked.
                    Err(_) => {
                        self.st.borrow_mut().clients.remove(index);
                        t.abort();
                    }
                }
            }
            Err((e, _closed)) => {
                let mut ctx = ErrorContext::new("could not set up an accepted connection", e);
                ctx.server = Opaque(Arc::as_ptr(self).cast_mut().cast());
                self.lp.report(ctx);
            }
        }
    }

    fn wake_waiters(&self) {
        let waiters = {
            let mut st = self.st.borrow_mut();
            if !st.closed || !st.clients.is_empty() {
                return;
            }
            std::mem::take(&mut st.waiters)
        };
        for w in waiters {
            let _ = w.complete(Outcome::Result(std::ptr::null_mut(), 0));
        }
    }

    fn stop_listening(&self) -> Vec<Socket> {
        let (listeners, sockets) = {
            let mut st = self.st.borrow_mut();
            st.serving = false;
            (std::mem::take(&mut st.listeners), std::mem::take(&mut st.sockets))
        };
        for l in listeners {
            if let Some(token) = l.token.borrow_mut().take() {
                self.lp.deregister_io(l.fd, token);
            }
            l.server.borrow_mut().take();
        }
        sockets
    }

    /// asyncio's `Server.close`: stops listening and closes the sockets;
    /// connections stay open. Idempotent.
    pub fn close(self: &Arc<Self>) {
        let forever = {
            let mut st = self.st.borrow_mut();
            if st.closed {
                return;
            }
            st.closed = true;
            st.serve_forever.take()
        };
        let sockets = self.stop_listening();
        for s in sockets {
            if let (true, Some((path, dev, ino))) = (self.cleanup_socket, &s.unix_path) {
                if sys::same_file(path, *dev, *ino) {
                    let _ = std::fs::remove_file(path);
                }
            }
        }
        if let Some(f) = forever {
            f.cancel();
        }
        self.wake_waiters();
    }

    pub fn close_clients(self: &Arc<Self>) {
        let clients: Vec<_> = self.st.borrow().clients.iter().cloned().collect();
        for c in clients {
            c.close();
        }
    }

    pub fn abort_clients(self: &Arc<Self>) {
        let clients: Vec<_> = self.st.borrow().clients.iter().cloned().collect();
        for c in clients {
            c.abort();
        }
    }

    /// Done once the server is closed and every client has gone.
    pub fn wait_closed(self: &Arc<Self>) -> Arc<Future> {
        let f = Future::new(&self.lp);
        self.st.borrow_mut().waiters.push(f.clone());
        self.wake_waiters();
        f
    }

    /// Serves until the future is cancelled, which closes the server.
    pub fn serve_forever(self: &Arc<Self>) -> Result<Arc<Future>, i32> {
        {
            let st = self.st.borrow();
            if st.closed {
                return Err(EDDY_ECLOSED);
            }
            if st.serve_forever.is_some() {
                return Err(EDDY_EBUSY);
            }
        }
        self.start_serving()?;
        let f = Future::new(&self.lp);
        let me = Arc::downgrade(self);
        f.set_completion_hook(Box::new(move |f: &Future| {
            if f.cancelled() {
                if let Some(s) = me.upgrade() {
                    s.st.borrow_mut().serve_forever = None;
                    s.close();
                }
            }
        }));
        self.st.borrow_mut().serve_forever = Some(f.clone());
        Ok(f)
    }
}

impl IoHandler for Listener {
    fn on_io(self: Arc<Self>, _lp: &Arc<EventLoop>, ev: IoEvent) {
        let server = self.server.borrow().clone();
        if let (true, Some(s)) = (ev.readable() || ev.hangup(), server) {
            s.accept_batch(&self);
        }
    }

    fn close_silently(&self) {
        let server = self.server.borrow_mut().take();
        if let Some(s) = server {
            let sockets = {
                let mut st = s.st.borrow_mut();
                st.serving = false;
                st.closed = true;
                st.listeners.clear();
                std::mem::take(&mut st.sockets)
            };
            drop(sockets);
        }
    }
}

impl Acceptor for Server {
    /// A client transport is gone (after its connection_lost).
    fn detach(&self, index: usize) {
        let gone = self.st.borrow_mut().clients.remove(index);
        drop(gone);
        self.wake_waiters();
    }
}
