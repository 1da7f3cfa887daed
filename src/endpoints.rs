//! TCP and Unix endpoints (asyncio's `create_connection`,
//! `create_unix_connection`, `connect_accepted_socket`, `create_server`,
//! `create_unix_server`), the pipe transports' constructors
//! (`connect_read_pipe`, `connect_write_pipe`).

use std::cell::RefCell;
use std::ffi::c_void;
use std::os::fd::{AsRawFd, IntoRawFd, OwnedFd, RawFd};
use std::path::PathBuf;
use std::rc::Rc;
use std::sync::{Arc, Weak};

use socket2::{Domain, SockAddr, Socket, Type};

use crate::base_events::{EventLoop, Ready};
use crate::dns::{resolve, AddrEntry};
use crate::error::*;
use crate::futures::{DoneCallback, Future, Outcome};
use crate::server::{ProtocolFactory, Server, Socket as ListenSocket};
use crate::sock;
use crate::sys::{self, Hints};
use crate::sslproto::{Handshake, TlsOptions, TlsProtocol};
use crate::transports::{Kind, ProtocolSlot, Transport};

fn kind_of(addr_family: i32) -> Kind {
    if addr_family == libc::AF_UNIX {
        Kind::Unix
    } else {
        Kind::Tcp
    }
}

/// Starts a transport on a connected socket and completes `fut` with it
/// once connection_made has run. On failure the fd comes back.
fn start_transport(
    lp: &Arc<EventLoop>,
    fd: OwnedFd,
    kind: Kind,
    proto: ProtocolSlot,
    fut: &Arc<Future>,
    tls: Option<&TlsOptions>,
) -> Result<(), (i32, OwnedFd)> {
    if let Some(tls) = tls {
        // The plain transport carries the records; the future gets the
        // application's transport once the handshake is done.
        let conn = match tls.connection() {
            Ok(c) => c,
            Err((e, m)) => {
                fut.fail(e, Some(m));
                return Ok(());
            }
        };
        let lower = Transport::start(lp, fd, kind, TlsProtocol::placeholder(), None, None)?;
        let hs = Handshake { waiter: Some(fut.clone()), call_connection_made: true };
        Transport::new_tls(&lower, conn, proto, hs, tls.handshake_timeout, tls.shutdown_timeout);
        return Ok(());
    }
    let done = fut.clone();
    Transport::start(
        lp,
        fd,
        kind,
        proto,
        None,
        Some(Box::new(move |t: &Arc<Transport>| {
            if done.complete(Outcome::Result(t.c_ptr().cast::<c_void>(), 0)).is_err() {
                // The caller gave up (cancelled) meanwhile.
                t.abort();
            }
        })),
    )?;
    Ok(())
}

/// create_connection's options (asyncio's keyword arguments).
#[derive(Default)]
pub struct ConnectOptions {
    pub tls: Option<TlsOptions>,
    pub family: i32,
    pub proto: i32,
    pub flags: i32,
    pub local_host: Option<String>,
    pub local_port: u16,
    pub happy_eyeballs_delay: Option<f64>,
    pub interleave: usize,
    pub all_errors: bool,
    /// A connected socket to use instead (eddy owns it once this succeeds).
    pub sock: Option<RawFd>,
}

fn check_stream(fd: RawFd) -> Result<(), i32> {
    if fd < 0 {
        return Err(EDDY_EINVAL);
    }
    if sys::socket_type(fd)? != libc::SOCK_STREAM {
        return Err(EDDY_EINVAL);
    }
    Ok(())
}

fn family_of(fd: RawFd) -> i32 {
    sys::sockname(fd).map_or(libc::AF_INET, |a| i32::from(a.family()))
}

/// asyncio's `create_connection`: the future's value is the transport.
pub fn create_connection(
    lp: &Arc<EventLoop>,
    proto: ProtocolSlot,
    host: Option<String>,
    port: u16,
    mut opts: ConnectOptions,
) -> Result<Arc<Future>, i32> {
    lp.check_closed()?;
    if let Some(sock) = opts.sock.take() {
        if host.is_some() {
            return Err(EDDY_EINVAL);
        }
        return connect_socket(lp, proto, sock, opts.tls.as_ref());
    }
    let host = host.ok_or(EDDY_EINVAL)?;
    if let Some(tls) = &mut opts.tls {
        // server_hostname defaults to the host (asyncio).
        tls.server_hostname.get_or_insert_with(|| host.clone());
    }
    let fut = Future::new(lp);
    let hints = Hints { flags: opts.flags, family: opts.family, socktype: libc::SOCK_STREAM, protocol: opts.proto };
    let done = fut.clone();
    resolve(
        lp,
        Some(&host),
        port,
        hints,
        Box::new(move |lp, remote| {
            let failed = done.clone();
            let remote = match remote {
                Ok(r) => r,
                Err(e) => return done.fail(e, None),
            };
            if opts.local_host.is_none() && opts.local_port == 0 {
                return Connector::run(lp, proto, done, remote, Vec::new(), &opts);
            }
            let local_host = opts.local_host.clone();
            let hints = Hints { flags: libc::AI_PASSIVE, ..hints };
            let r = resolve(
                lp,
                local_host.as_deref(),
                opts.local_port,
                hints,
                Box::new(move |lp, local| match local {
                    Ok(local) => Connector::run(lp, proto, done, remote, local, &opts),
                    Err(e) => done.fail(e, None),
                }),
            );
            if let Err(e) = r {
                failed.fail(e, None);
            }
        }),
    )?;
    Ok(fut)
}

/// asyncio's `_interleave_addrinfos`.
fn interleave(addrs: Vec<AddrEntry>, first_family_count: usize) -> Vec<AddrEntry> {
    let mut groups: Vec<(i32, std::collections::VecDeque<AddrEntry>)> = Vec::new();
    for a in addrs {
        match groups.iter_mut().find(|(f, _)| *f == a.0) {
            Some((_, g)) => g.push_back(a),
            None => groups.push((a.0, std::collections::VecDeque::from([a]))),
        }
    }
    let mut out = Vec::new();
    if first_family_count > 1 {
        if let Some((_, g)) = groups.first_mut() {
            for _ in 0..(first_family_count - 1).min(g.len()) {
                out.push(g.pop_front().expect("counted"));
            }
        }
    }
    while groups.iter().any(|(_, g)| !g.is_empty()) {
        for (_, g) in groups.iter_mut() {
            if let Some(a) = g.pop_front() {
                out.push(a);
            }
        }
    }
    out
}

/// asyncio's message for a failed connect (sock_connect's).
fn connect_failed(addr: &SockAddr) -> String {
    format!("Connect call failed {}", describe(addr))
}

fn describe(addr: &SockAddr) -> String {
    match addr.as_socket() {
        Some(s) => format!("('{}', {})", s.ip(), s.port()),
        None => addr.as_pathname().map_or_else(|| "<unix>".to_string(), |p| format!("'{}'", p.display())),
    }
}

/// One connect in flight. The attempt's future holds the connector (through
/// its done callback), so the connector holds the future weakly: a strong
/// reference both ways would keep the socket open forever when the loop
/// closes with the connect pending and the future never completes.
struct Attempt {
    fd: Option<OwnedFd>,
    fut: Weak<Future>,
}

impl Attempt {
    fn running(&self) -> bool {
        self.fut.upgrade().is_some_and(|f| !f.done())
    }
}

/// The connection attempts of one create_connection: one after another,
/// or staggered (Happy Eyeballs, asyncio's `staggered_race`).
struct Connector {
    proto: ProtocolSlot,
    fut: Arc<Future>,
    addrs: Vec<AddrEntry>,
    local: Vec<AddrEntry>,
    next: usize,
    attempts: Vec<Attempt>,
    errors: Vec<(i32, String)>,
    delay: Option<f64>,
    all_errors: bool,
    finished: bool,
    tls: Option<TlsOptions>,
}

impl Connector {
    fn run(lp: &Arc<EventLoop>, proto: ProtocolSlot, fut: Arc<Future>, addrs: Vec<AddrEntry>, local: Vec<AddrEntry>, opts: &ConnectOptions) {
        if fut.done() {
            return;
        }
        let k = if opts.interleave == 0 && opts.happy_eyeballs_delay.is_some() { 1 } else { opts.interleave };
        let addrs = if k > 0 { interleave(addrs, k) } else { addrs };
        let c = Rc::new(RefCell::new(Connector {
            proto,
            fut: fut.clone(),
            addrs,
            local,
            next: 0,
            attempts: Vec::new(),
            errors: Vec::new(),
            delay: opts.happy_eyeballs_delay,
            all_errors: opts.all_errors,
            finished: false,
            tls: opts.tls.clone(),
        }));
        let weak = Rc::downgrade(&c);
        fut.set_completion_hook(Box::new(move |_| {
            // Done one way or another (won, failed or cancelled): stop the
            // rest.
            if let Some(c) = weak.upgrade() {
                Connector::finish(&c);
            }
        }));
        Connector::start_next(lp, &c);
    }

    fn finish(c: &Rc<RefCell<Connector>>) {
        let attempts = {
            let mut me = c.borrow_mut();
            me.finished = true;
            std::mem::take(&mut me.attempts)
        };
        for f in attempts.iter().filter_map(|a| a.fut.upgrade()) {
            f.cancel();
        }
    }

    fn start_next(lp: &Arc<EventLoop>, c: &Rc<RefCell<Connector>>) {
        loop {
            let (entry, local) = {
                let mut me = c.borrow_mut();
                if me.finished {
                    return;
                }
                if me.next >= me.addrs.len() {
                    let idle = !me.attempts.iter().any(Attempt::running);
                    drop(me);
                    if idle {
                        Connector::fail_all(c);
                    }
                    return;
                }
                me.next += 1;
                let e = me.addrs[me.next - 1].clone();
                let local = me.local.iter().find(|l| l.0 == e.0).map(|l| l.3.clone());
                if !me.local.is_empty() && local.is_none() {
                    me.errors.push((EDDY_EADDRNOTAVAIL, format!("no matching local address with family={} found", e.0)));
                    continue;
                }
                (e, local)
            };
            match Connector::attempt(lp, c, &entry, local) {
                Ok(()) => return,
                Err(e) => c.borrow_mut().errors.push(e),
            }
        }
    }

    /// Starts connecting to `entry`; the error of the step that failed, with
    /// asyncio's message for it.
    fn attempt(lp: &Arc<EventLoop>, c: &Rc<RefCell<Connector>>, entry: &AddrEntry, local: Option<SockAddr>) -> Result<(), (i32, String)> {
        let connect_failed = |e: i32| (e, connect_failed(&entry.3));
        let ty = Type::STREAM.nonblocking().cloexec();
        let sock = Socket::new(Domain::from(entry.0), ty, Some(socket2::Protocol::from(entry.2)))
            .map_err(|e| connect_failed(from_io(&e)))?;
        if let Some(l) = local {
            sock.bind(&l).map_err(|e| {
                let e = from_io(&e);
                let reason = strerror(e).to_string_lossy().to_lowercase();
                (e, format!("error while attempting to bind on address {}: {reason}", describe(&l)))
            })?;
        }
        let fd: OwnedFd = sock.into();
        let f = sock::sock_connect(lp, fd.as_raw_fd(), entry.3.clone()).map_err(connect_failed)?;
        let index = c.borrow().attempts.len();
        c.borrow_mut().attempts.push(Attempt { fd: Some(fd), fut: Arc::downgrade(&f) });
        // The pending attempt keeps the connector alive.
        let me = c.clone();
        let addr = entry.3.clone();
        f.add_done(DoneCallback::Internal(Box::new(move |f: &Arc<Future>| {
            Connector::attempt_done(f.get_loop(), &me, index, f, &addr);
        })));
        if let Some(d) = c.borrow().delay {
            let weak = Rc::downgrade(c);
            let _ = lp.call_later_job(
                d,
                Box::new(move |lp| {
                    if let Some(c) = weak.upgrade() {
                        let still_running = c.borrow().attempts.get(index).is_some_and(Attempt::running);
                        if still_running && c.borrow().next == index + 1 {
                            Connector::start_next(lp, &c);
                        }
                    }
                }),
            );
        }
        Ok(())
    }

    fn attempt_done(lp: &Arc<EventLoop>, c: &Rc<RefCell<Connector>>, index: usize, f: &Arc<Future>, addr: &SockAddr) {
        if c.borrow().finished {
            return;
        }
        match f.result() {
            Ok(_) => {
                let (fd, proto, fut, tls) = {
                    let mut me = c.borrow_mut();
                    let fd = me.attempts.get_mut(index).and_then(|a| a.fd.take());
                    (fd, me.proto.clone(), me.fut.clone(), me.tls.clone())
                };
                let Some(fd) = fd else { return };
                let kind = kind_of(i32::from(addr.family()));
                // Completing (or failing) the future ends the other attempts
                // through its completion hook.
                if let Err((e, _closed)) = start_transport(lp, fd, kind, proto, &fut, tls.as_ref()) {
                    fut.fail(e, None);
                }
            }
            Err(e) => {
                {
                    let mut me = c.borrow_mut();
                    if let Some(a) = me.attempts.get_mut(index) {
                        a.fd = None;
                    }
                    me.errors.push((e, connect_failed(addr)));
                }
                let last_running = { c.borrow().next == index + 1 };
                let others_running = c.borrow().attempts.iter().any(Attempt::running);
                if last_running || !others_running {
                    Connector::start_next(lp, c);
                }
            }
        }
    }

    /// asyncio's reporting: one error, or identical ones, as is; otherwise
    /// the first code with a message naming them all. Every error is also
    /// a cause of the future's (eddy_future_error_at), from which a binding
    /// makes asyncio's exception group (`all_errors`).
    fn fail_all(c: &Rc<RefCell<Connector>>) {
        let (fut, errors, all) = {
            let mut me = c.borrow_mut();
            (me.fut.clone(), std::mem::take(&mut me.errors), me.all_errors)
        };
        let Some(first) = errors.first() else {
            return fut.fail(EDDY_ECONNREFUSED, None);
        };
        let same = errors.iter().all(|e| e == first);
        let msg = if errors.len() == 1 || (same && !all) {
            first.1.clone()
        } else {
            let parts: Vec<String> = errors.iter().map(|(e, m)| format!("[Errno {}] {m}", -e)).collect();
            let head = if all { "create_connection failed" } else { "Multiple exceptions" };
            format!("{head}: {}", parts.join(", "))
        };
        fut.fail_with_causes(first.0, msg, errors);
    }
}

/// asyncio's `create_unix_connection`.
pub fn create_unix_connection(
    lp: &Arc<EventLoop>,
    proto: ProtocolSlot,
    path: Option<PathBuf>,
    sock: Option<RawFd>,
    tls: Option<TlsOptions>,
) -> Result<Arc<Future>, i32> {
    lp.check_closed()?;
    // Unlike TCP there is no host to default the name to (asyncio).
    if tls.as_ref().is_some_and(|t| t.server_hostname.is_none()) {
        return Err(EDDY_EINVAL);
    }
    match (path, sock) {
        (Some(_), Some(_)) | (None, None) => Err(EDDY_EINVAL),
        (None, Some(sock)) => {
            if family_of(sock) != libc::AF_UNIX {
                return Err(EDDY_EINVAL);
            }
            connect_socket(lp, proto, sock, tls.as_ref())
        }
        (Some(path), None) => {
            let addr = sys::unix_addr(&path)?;
            let sock = Socket::new(Domain::UNIX, Type::STREAM.nonblocking().cloexec(), None).map_err(|e| from_io(&e))?;
            let fd: OwnedFd = sock.into();
            let fut = Future::new(lp);
            let connecting = sock::sock_connect(lp, fd.as_raw_fd(), addr)?;
            let done = fut.clone();
            let mut fd = Some(fd);
            connecting.add_done(DoneCallback::Internal(Box::new(move |f: &Arc<Future>| {
                let fd = fd.take().expect("once");
                match f.result() {
                    Ok(_) => {
                        if let Err((e, _closed)) = start_transport(f.get_loop(), fd, Kind::Unix, proto, &done, tls.as_ref()) {
                            done.fail(e, None);
                        }
                    }
                    Err(e) => done.fail(e, Some(format!("Connect call failed '{}'", path.display()))),
                }
            })));
            Ok(fut)
        }
    }
}

/// Starts a transport on an fd the caller hands over: eddy owns it once
/// this succeeds; on failure it stays the caller's, open.
fn adopt(lp: &Arc<EventLoop>, fd: RawFd, kind: Kind, proto: ProtocolSlot, tls: Option<&TlsOptions>) -> Result<Arc<Future>, i32> {
    sys::set_nonblocking(fd)?;
    let fut = Future::new(lp);
    start_transport(lp, sys::own_fd(fd), kind, proto, &fut, tls).map_err(|(e, fd)| {
        let _ = fd.into_raw_fd();
        e
    })?;
    Ok(fut)
}

/// asyncio's `connect_accepted_socket`: a transport for a connected stream
/// socket; with `tls` (a server configuration), the TLS server side of it.
pub fn connect_accepted_socket(lp: &Arc<EventLoop>, proto: ProtocolSlot, fd: RawFd, tls: Option<&TlsOptions>) -> Result<Arc<Future>, i32> {
    connect_socket(lp, proto, fd, tls)
}

/// A transport (TLS if asked) on a connected stream socket the caller
/// hands over.
fn connect_socket(lp: &Arc<EventLoop>, proto: ProtocolSlot, fd: RawFd, tls: Option<&TlsOptions>) -> Result<Arc<Future>, i32> {
    lp.check_closed()?;
    check_stream(fd)?;
    adopt(lp, fd, kind_of(family_of(fd)), proto, tls)
}

/// create_server's options (asyncio's keyword arguments).
pub struct ServerOptions {
    pub family: i32,
    pub flags: i32,
    pub backlog: i32,
    pub reuse_address: bool,
    pub reuse_port: bool,
    pub keep_alive: bool,
    pub start_serving: bool,
    pub cleanup_socket: bool,
    /// Bound sockets to listen on instead (eddy owns them once this
    /// succeeds).
    pub socks: Vec<RawFd>,
    /// TLS: a server configuration and its timeouts.
    pub tls: Option<TlsOptions>,
}

impl Default for ServerOptions {
    fn default() -> Self {
        Self {
            family: 0,
            flags: 0,
            backlog: 100,
            reuse_address: true,
            reuse_port: false,
            keep_alive: false,
            start_serving: true,
            cleanup_socket: true,
            socks: Vec::new(),
            tls: None,
        }
    }
}

/// Completes `fut` with the server (the future keeps a reference), after
/// one iteration when serving starts (asyncio's `sleep(0)`).
fn finish_server(lp: &Arc<EventLoop>, fut: &Arc<Future>, server: Arc<Server>, start: bool) -> Result<(), i32> {
    if start {
        server.start_serving()?;
    }
    let ptr = Arc::as_ptr(&server).cast_mut().cast::<c_void>();
    fut.hold(Box::new(server));
    let done = fut.clone();
    lp.push_ready(Ready::Job(Box::new(move |_| {
        let _ = done.complete(Outcome::Result(ptr, 0));
    })));
    Ok(())
}

fn bind_all(addrs: Vec<AddrEntry>, opts: &ServerOptions) -> Result<Vec<ListenSocket>, i32> {
    let mut out: Vec<ListenSocket> = Vec::new();
    let mut seen: Vec<SockAddr> = Vec::new();
    for (family, _, protocol, addr) in addrs {
        if seen.contains(&addr) {
            continue;
        }
        seen.push(addr.clone());
        let sock = Socket::new(Domain::from(family), Type::STREAM.nonblocking().cloexec(), Some(socket2::Protocol::from(protocol)))
            .map_err(|e| from_io(&e))?;
        let set = |r: std::io::Result<()>| r.map_err(|e| from_io(&e));
        if opts.reuse_address {
            set(sock.set_reuse_address(true))?;
        }
        if opts.reuse_port {
            set(sock.set_reuse_port(true))?;
        }
        if opts.keep_alive {
            set(sock.set_keepalive(true))?;
        }
        if family == libc::AF_INET6 {
            set(sock.set_only_v6(true))?;
        }
        match sock.bind(&addr) {
            Ok(()) => out.push(ListenSocket { fd: sock.into(), unix_path: None }),
            Err(e) if e.raw_os_error() == Some(libc::EADDRNOTAVAIL) => continue,
            Err(e) => return Err(from_io(&e)),
        }
    }
    if out.is_empty() {
        return Err(EDDY_EADDRNOTAVAIL);
    }
    Ok(out)
}

/// Validates the caller's listening sockets (stream, non-blocking,
/// listening), then takes them over.
fn adopt_listeners(opts: &ServerOptions) -> Result<Vec<ListenSocket>, i32> {
    for &fd in &opts.socks {
        check_stream(fd)?;
        sys::set_nonblocking(fd)?;
        sys::listen(fd, opts.backlog)?;
    }
    Ok(opts.socks.iter().map(|&fd| ListenSocket { fd: sys::own_fd(fd), unix_path: None }).collect())
}

/// asyncio's `create_server`: every address of `host` (None: all
/// interfaces), or the given listening sockets.
pub fn create_server(
    lp: &Arc<EventLoop>,
    factory: ProtocolFactory,
    host: Option<String>,
    port: u16,
    opts: ServerOptions,
) -> Result<Arc<Future>, i32> {
    lp.check_closed()?;
    let fut = Future::new(lp);
    if !opts.socks.is_empty() {
        if host.is_some() {
            return Err(EDDY_EINVAL);
        }
        let sockets = adopt_listeners(&opts)?;
        let server = Server::new(lp, sockets, factory, opts.backlog, false, opts.tls.clone());
        finish_server(lp, &fut, server, opts.start_serving)?;
        return Ok(fut);
    }
    let hints = Hints { flags: libc::AI_PASSIVE | opts.flags, family: opts.family, socktype: libc::SOCK_STREAM, protocol: 0 };
    let done = fut.clone();
    resolve(
        lp,
        host.as_deref().filter(|h| !h.is_empty()),
        port,
        hints,
        Box::new(move |lp, addrs| {
            let r = addrs.and_then(|a| bind_all(a, &opts)).and_then(|sockets| {
                let server = Server::new(lp, sockets, factory, opts.backlog, false, opts.tls.clone());
                finish_server(lp, &done, server, opts.start_serving)
            });
            if let Err(e) = r {
                done.fail(e, None);
            }
        }),
    )?;
    Ok(fut)
}

/// asyncio's `create_unix_server`: a stale socket at `path` is removed
/// first; any other file there is `EDDY_EADDRINUSE`.
pub fn create_unix_server(lp: &Arc<EventLoop>, factory: ProtocolFactory, path: Option<PathBuf>, opts: ServerOptions) -> Result<Arc<Future>, i32> {
    lp.check_closed()?;
    let fut = Future::new(lp);
    let sockets = match path {
        None => {
            if opts.socks.is_empty() {
                return Err(EDDY_EINVAL);
            }
            adopt_listeners(&opts)?
        }
        Some(path) => {
            // Before the stale socket goes: a path too long to bind must
            // leave it in place.
            let addr = sys::unix_addr(&path)?;
            if let Ok(meta) = std::fs::symlink_metadata(&path) {
                use std::os::unix::fs::FileTypeExt;
                if !meta.file_type().is_socket() {
                    return Err(EDDY_EADDRINUSE);
                }
                let _ = std::fs::remove_file(&path);
            }
            let sock = Socket::new(Domain::UNIX, Type::STREAM.nonblocking().cloexec(), None).map_err(|e| from_io(&e))?;
            sock.bind(&addr).map_err(|e| from_io(&e))?;
            let (dev, ino) = sys::file_id(&path).unwrap_or((0, 0));
            vec![ListenSocket { fd: sock.into(), unix_path: Some((path, dev, ino)) }]
        }
    };
    let server = Server::new(lp, sockets, factory, opts.backlog, opts.cleanup_socket, opts.tls.clone());
    finish_server(lp, &fut, server, opts.start_serving)?;
    Ok(fut)
}

/// Pipe transports are for pipes, sockets and character devices only.
fn check_pipe(fd: RawFd) -> Result<(), i32> {
    if fd < 0 {
        return Err(EDDY_EINVAL);
    }
    let t = sys::file_type(fd)?;
    if t != libc::S_IFIFO && t != libc::S_IFSOCK && t != libc::S_IFCHR {
        return Err(EDDY_EINVAL);
    }
    Ok(())
}

/// asyncio's `connect_read_pipe`.
pub fn connect_read_pipe(lp: &Arc<EventLoop>, proto: ProtocolSlot, fd: RawFd) -> Result<Arc<Future>, i32> {
    lp.check_closed()?;
    check_pipe(fd)?;
    adopt(lp, fd, Kind::ReadPipe, proto, None)
}

/// asyncio's `connect_write_pipe`.
pub fn connect_write_pipe(lp: &Arc<EventLoop>, proto: ProtocolSlot, fd: RawFd) -> Result<Arc<Future>, i32> {
    lp.check_closed()?;
    check_pipe(fd)?;
    sys::ignore_sigpipe();
    adopt(lp, fd, Kind::WritePipe, proto, None)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(family: i32, port: u16) -> AddrEntry {
        let ip: std::net::IpAddr = if family == libc::AF_INET6 { "::1".parse().unwrap() } else { "127.0.0.1".parse().unwrap() };
        (family, libc::SOCK_STREAM, 0, SockAddr::from(std::net::SocketAddr::new(ip, port)))
    }

    fn ports(v: &[AddrEntry]) -> Vec<u16> {
        v.iter().map(|e| e.3.as_socket().unwrap().port()).collect()
    }

    /// docs/semantics.md item 105: 6a,6b,6c,4x,4y gives a,x,b,y,c with k=1 and a,b,x,c,y
    /// with k=2 (ports 1,2,3 stand for a,b,c and 10,20 for x,y).
    #[test]
    fn interleave_follows_asyncio() {
        let six = libc::AF_INET6;
        let four = libc::AF_INET;
        let addrs = vec![entry(six, 1), entry(six, 2), entry(six, 3), entry(four, 10), entry(four, 20)];
        assert_eq!(ports(&interleave(addrs.clone(), 1)), [1, 10, 2, 20, 3]);
        assert_eq!(ports(&interleave(addrs, 2)), [1, 2, 10, 3, 20]);
    }
}
