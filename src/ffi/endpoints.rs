//! `eddy_loop_create_connection` and friends, `eddy_loop_create_server`
//! and friends, and the pipe constructors, with their options.

use std::ffi::{c_char, c_int, c_void};

use super::server::{eddy_protocol_factory_fn, factory};
use super::transport::protocol_arg;
use super::*;
use crate::endpoints::{self, ConnectOptions, ServerOptions};
use crate::transports::Protocol;
use crate::sslproto::{self, TlsConfig, TlsOptions};

/// create_connection's options; fill with `eddy_connection_options_init`.
#[repr(C)]
pub struct eddy_connection_options_t {
    /// 0: any.
    pub family: c_int,
    pub proto: c_int,
    pub flags: c_int,
    /// Bind locally first (NULL and 0: don't).
    pub local_host: *const c_char,
    pub local_port: u16,
    /// < 0: off (asyncio's None, the default); else Happy Eyeballs.
    pub happy_eyeballs_delay: f64,
    /// 0: asyncio's None.
    pub interleave: c_int,
    pub all_errors: bool,
    /// -1: none; else connect this connected socket instead.
    pub sock: c_int,
    /// A client configuration (`eddy_tls_config_new_client`); NULL: plain.
    /// connect_accepted_socket takes a server configuration instead.
    pub tls: *mut TlsConfig,
    /// The name to verify (default: `host`; required for Unix sockets).
    pub server_hostname: *const c_char,
    /// Seconds; 0: 60. Negative: `EDDY_EINVAL`.
    pub tls_handshake_timeout: f64,
    /// How long close waits for the peer's close_notify; 0: 30.
    pub tls_shutdown_timeout: f64,
}

/// create_server's options; fill with `eddy_server_options_init`.
#[repr(C)]
pub struct eddy_server_options_t {
    pub family: c_int,
    pub flags: c_int,
    /// 100.
    pub backlog: c_int,
    /// true.
    pub reuse_address: bool,
    pub reuse_port: bool,
    pub keep_alive: bool,
    /// true.
    pub start_serving: bool,
    /// true: a Unix server unlinks its path on close.
    pub cleanup_socket: bool,
    /// Listen on these bound sockets instead of host/port.
    pub socks: *const c_int,
    pub nsocks: usize,
    /// A server configuration (`eddy_tls_config_new_server`); NULL: plain.
    pub tls: *mut TlsConfig,
    /// Seconds; 0: 60. Negative: `EDDY_EINVAL`.
    pub tls_handshake_timeout: f64,
    /// How long close waits for the peer's close_notify; 0: 30.
    pub tls_shutdown_timeout: f64,
}

/// asyncio's defaults: no local address, Happy Eyeballs off, no socket,
/// no TLS, timeouts 60 s and 30 s. NULL is a no-op (nothing to fill).
#[no_mangle]
pub extern "C" fn eddy_connection_options_init(o: *mut eddy_connection_options_t) {
    put(
        o,
        eddy_connection_options_t {
            family: 0,
            proto: 0,
            flags: 0,
            local_host: std::ptr::null(),
            local_port: 0,
            happy_eyeballs_delay: -1.0,
            interleave: 0,
            all_errors: false,
            sock: -1,
            tls: std::ptr::null_mut(),
            server_hostname: std::ptr::null(),
            tls_handshake_timeout: sslproto::HANDSHAKE_TIMEOUT,
            tls_shutdown_timeout: sslproto::SHUTDOWN_TIMEOUT,
        },
    )
}

/// asyncio's defaults: backlog 100, reuse_address on, start_serving on,
/// cleanup_socket on. NULL is a no-op (nothing to fill).
#[no_mangle]
pub extern "C" fn eddy_server_options_init(o: *mut eddy_server_options_t) {
    let d = ServerOptions::default();
    put(
        o,
        eddy_server_options_t {
            family: d.family,
            flags: d.flags,
            backlog: d.backlog,
            reuse_address: d.reuse_address,
            reuse_port: d.reuse_port,
            keep_alive: d.keep_alive,
            start_serving: d.start_serving,
            cleanup_socket: d.cleanup_socket,
            socks: std::ptr::null(),
            nsocks: 0,
            tls: std::ptr::null_mut(),
            tls_handshake_timeout: sslproto::HANDSHAKE_TIMEOUT,
            tls_shutdown_timeout: sslproto::SHUTDOWN_TIMEOUT,
        },
    )
}

/// The TLS part of an options struct. `server`: the call takes a server's
/// configuration (servers, accepted sockets), which verifies no name;
/// otherwise a client's. Without a configuration, a name to verify is
/// an error (asyncio: server_hostname needs ssl).
fn tls_options(
    config: *const TlsConfig,
    server_hostname: *const c_char,
    handshake_timeout: f64,
    shutdown_timeout: f64,
    server: bool,
) -> Result<Option<TlsOptions>, c_int> {
    if config.is_null() {
        return if server_hostname.is_null() { Ok(None) } else { Err(EDDY_EINVAL) };
    }
    let config = Arc::clone(&*arc_arg(config)?);
    if config.is_server() != server || (server && !server_hostname.is_null()) {
        return Err(EDDY_EINVAL);
    }
    Ok(Some(TlsOptions {
        config,
        server_hostname: opt_str(server_hostname)?,
        handshake_timeout: sslproto::timeout_or_default(handshake_timeout, sslproto::HANDSHAKE_TIMEOUT)?,
        shutdown_timeout: sslproto::timeout_or_default(shutdown_timeout, sslproto::SHUTDOWN_TIMEOUT)?,
    }))
}

fn connect_options(o: *const eddy_connection_options_t) -> Result<ConnectOptions, c_int> {
    // SAFETY: a non-null options pointer points to an initialised struct.
    let Some(o) = (unsafe { o.as_ref() }) else { return Ok(ConnectOptions::default()) };
    if o.interleave < 0 || o.happy_eyeballs_delay.is_nan() {
        return Err(EDDY_EINVAL);
    }
    let tls = tls_options(o.tls, o.server_hostname, o.tls_handshake_timeout, o.tls_shutdown_timeout, false)?;
    Ok(ConnectOptions {
        tls,
        family: o.family,
        proto: o.proto,
        flags: o.flags,
        local_host: opt_str(o.local_host)?,
        local_port: o.local_port,
        happy_eyeballs_delay: (o.happy_eyeballs_delay >= 0.0).then_some(o.happy_eyeballs_delay),
        interleave: o.interleave as usize,
        all_errors: o.all_errors,
        sock: (o.sock >= 0).then_some(o.sock),
    })
}

fn server_options(o: *const eddy_server_options_t) -> Result<ServerOptions, c_int> {
    // SAFETY: a non-null options pointer points to an initialised struct.
    let Some(o) = (unsafe { o.as_ref() }) else { return Ok(ServerOptions::default()) };
    let tls = tls_options(o.tls, std::ptr::null(), o.tls_handshake_timeout, o.tls_shutdown_timeout, true)?;
    let socks = slice(o.socks, o.nsocks)?;
    let mut socks_owned = Vec::new();
    socks_owned.try_reserve_exact(socks.len()).map_err(|_| EDDY_ENOMEM)?;
    socks_owned.extend_from_slice(socks);
    let socks = socks_owned;
    Ok(ServerOptions {
        family: o.family,
        flags: o.flags,
        backlog: o.backlog,
        reuse_address: o.reuse_address,
        reuse_port: o.reuse_port,
        keep_alive: o.keep_alive,
        start_serving: o.start_serving,
        cleanup_socket: o.cleanup_socket,
        socks,
        tls,
    })
}

/// Connects to `host`:`port` (resolved off the loop; every address tried
/// in order, or raced with Happy Eyeballs) and makes a transport for
/// `proto`. The future's value is the `eddy_transport_t*` (borrowed: valid
/// until its connection_lost returns); it completes after connection_made.
#[no_mangle]
pub extern "C" fn eddy_loop_create_connection(
    r#loop: *mut EventLoop,
    proto: *const Protocol,
    ud: *mut c_void,
    host: *const c_char,
    port: u16,
    opts: *const eddy_connection_options_t,
    out: *mut *mut Future,
) -> c_int {
    start_on_loop(r#loop, out, |lp| {
        let f = endpoints::create_connection(lp, protocol_arg(proto, ud)?, opt_str(host)?, port, connect_options(opts)?)?;
        Ok(f)
    })
}

/// Listens on every address of `host` (NULL: all interfaces) and `port`
/// (0: an ephemeral port per family); `factory` makes each connection's
/// protocol. The future's value is the `eddy_server_t*`, owned by the
/// future (retain it to keep it longer); a serving server keeps serving
/// until closed.
#[no_mangle]
pub extern "C" fn eddy_loop_create_server(
    r#loop: *mut EventLoop,
    factory_fn: eddy_protocol_factory_fn,
    factory_ud: *mut c_void,
    host: *const c_char,
    port: u16,
    opts: *const eddy_server_options_t,
    out: *mut *mut Future,
) -> c_int {
    start_on_loop(r#loop, out, |lp| {
        let f = endpoints::create_server(lp, factory(factory_fn, factory_ud)?, opt_str(host)?, port, server_options(opts)?)?;
        Ok(f)
    })
}

/// Connects to the Unix socket at `path` (or `opts->sock`).
#[no_mangle]
pub extern "C" fn eddy_loop_create_unix_connection(
    r#loop: *mut EventLoop,
    proto: *const Protocol,
    ud: *mut c_void,
    path: *const c_char,
    opts: *const eddy_connection_options_t,
    out: *mut *mut Future,
) -> c_int {
    start_on_loop(r#loop, out, |lp| {
        let o = connect_options(opts)?;
        let f = endpoints::create_unix_connection(lp, protocol_arg(proto, ud)?, opt_path(path), o.sock, o.tls)?;
        Ok(f)
    })
}

/// Listens on the Unix socket `path` (a stale socket file there is removed
/// first; any other file is `EDDY_EADDRINUSE`), or on `opts->socks`.
#[no_mangle]
pub extern "C" fn eddy_loop_create_unix_server(
    r#loop: *mut EventLoop,
    factory_fn: eddy_protocol_factory_fn,
    factory_ud: *mut c_void,
    path: *const c_char,
    opts: *const eddy_server_options_t,
    out: *mut *mut Future,
) -> c_int {
    start_on_loop(r#loop, out, |lp| {
        let f = endpoints::create_unix_server(lp, factory(factory_fn, factory_ud)?, opt_path(path), server_options(opts)?)?;
        Ok(f)
    })
}

/// Makes a transport for an already connected stream socket `fd` (eddy
/// owns it once this returns 0). With `opts->tls`, a server configuration
/// (`eddy_tls_config_new_server`), eddy is the TLS server on it: the
/// future completes with the TLS transport after the handshake (a client
/// configuration or a `server_hostname` is `EDDY_EINVAL`). The other
/// options are connect's and do not apply.
#[no_mangle]
pub extern "C" fn eddy_loop_connect_accepted_socket(
    r#loop: *mut EventLoop,
    proto: *const Protocol,
    ud: *mut c_void,
    fd: c_int,
    opts: *const eddy_connection_options_t,
    out: *mut *mut Future,
) -> c_int {
    start_on_loop(r#loop, out, |lp| {
        let tls = accepted_socket_tls(opts)?;
        endpoints::connect_accepted_socket(lp, protocol_arg(proto, ud)?, fd, tls.as_ref())
    })
}

fn accepted_socket_tls(o: *const eddy_connection_options_t) -> Result<Option<TlsOptions>, c_int> {
    // SAFETY: a non-null options pointer points to an initialised struct.
    let Some(o) = (unsafe { o.as_ref() }) else { return Ok(None) };
    tls_options(o.tls, o.server_hostname, o.tls_handshake_timeout, o.tls_shutdown_timeout, true)
}

/// A read transport for a pipe, socket or character device `fd` (made
/// non-blocking; eddy owns it once this returns 0).
#[no_mangle]
pub extern "C" fn eddy_loop_connect_read_pipe(
    r#loop: *mut EventLoop,
    proto: *const Protocol,
    ud: *mut c_void,
    fd: c_int,
    out: *mut *mut Future,
) -> c_int {
    start_on_loop(r#loop, out, |lp| endpoints::connect_read_pipe(lp, protocol_arg(proto, ud)?, fd))
}

/// A write transport for a pipe, socket or character device `fd`; notices
/// the reader going away.
#[no_mangle]
pub extern "C" fn eddy_loop_connect_write_pipe(
    r#loop: *mut EventLoop,
    proto: *const Protocol,
    ud: *mut c_void,
    fd: c_int,
    out: *mut *mut Future,
) -> c_int {
    start_on_loop(r#loop, out, |lp| endpoints::connect_write_pipe(lp, protocol_arg(proto, ud)?, fd))
}
