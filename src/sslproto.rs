//! TLS (asyncio's `sslproto.py`), on rustls with the ring provider.
//!
//! A TLS connection is two stream transports: the plain one on the socket
//! (its protocol is the library's `TlsProtocol`) and the application's,
//! which has the same API and callbacks as a plain transport and moves
//! data through the rustls connection. `start_tls` builds the same pair
//! around a live plain transport.

use std::cell::RefCell;
use std::ffi::c_int;
use std::io::{IoSlice, Read, Write};
use std::path::Path;
use std::sync::{Arc, Mutex};

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::{ClientConfig, DigitallySignedStruct, RootCertStore, ServerConfig, SignatureScheme};

use crate::error::*;
use crate::base_events::Ready;
use crate::futures::Future;
use crate::sys;
use crate::transports::{ExtraInfo, Kind, ProtocolSlot, State, StreamProtocol, TlsLayer, Transport};

/// asyncio's `SSL_HANDSHAKE_TIMEOUT` and `SSL_SHUTDOWN_TIMEOUT`.
pub(crate) const HANDSHAKE_TIMEOUT: f64 = 60.0;
pub(crate) const SHUTDOWN_TIMEOUT: f64 = 30.0;
/// asyncio's TLS write limits (`FLOW_CONTROL_HIGH_WATER_SSL_WRITE`).
pub(crate) const TLS_HIGH: usize = 512 * 1024;

/// The system's trust store (Debian's bundle).
const SYSTEM_CA_BUNDLE: &str = "/etc/ssl/certs/ca-certificates.crt";

fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

fn tls_error(e: impl std::fmt::Display) -> (i32, String) {
    (EDDY_ETLS, e.to_string())
}

struct ConfigState {
    roots: RootCertStore,
    verify: bool,
    alpn: Vec<Vec<u8>>,
    cert: Option<(Vec<CertificateDer<'static>>, Arc<PrivateKeyDer<'static>>)>,
}

/// A TLS configuration (`eddy_tls_config_t`): a connection takes a
/// snapshot when it starts, so later changes affect later connections only.
pub struct TlsConfig {
    server: bool,
    st: Mutex<ConfigState>,
}

/// The largest PEM file the TLS loaders read (4 MiB; `EDDY_EFBIG` past
/// it): far more than a certificate
/// chain, a key or a CA bundle needs (a system bundle is about 200 KiB),
/// and small enough that a wrong path (/dev/zero, a disk image) cannot take
/// the process's memory.
pub const EDDY_TLS_MAX_PEM_FILE: u64 = 4 << 20;

/// A PEM file's contents: `EDDY_EINVAL` for anything but a regular file (a
/// device or a FIFO has no size to check and may never end), `EDDY_EFBIG`
/// past `EDDY_TLS_MAX_PEM_FILE`.
fn read_pem(path: &Path) -> Result<Vec<u8>, i32> {
    use std::os::unix::fs::OpenOptionsExt;
    // Non-blocking, so that opening a FIFO does not wait for a writer.
    let f = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(path)
        .map_err(|e| from_io(&e))?;
    let meta = f.metadata().map_err(|e| from_io(&e))?;
    if !meta.is_file() {
        return Err(EDDY_EINVAL);
    }
    if meta.len() > EDDY_TLS_MAX_PEM_FILE {
        return Err(EDDY_EFBIG);
    }
    // The file may have grown since: read one byte past the limit at most.
    let mut data = Vec::new();
    f.take(EDDY_TLS_MAX_PEM_FILE + 1).read_to_end(&mut data).map_err(|e| from_io(&e))?;
    if data.len() as u64 > EDDY_TLS_MAX_PEM_FILE {
        return Err(EDDY_EFBIG);
    }
    Ok(data)
}

fn load_certs(path: &Path) -> Result<Vec<CertificateDer<'static>>, i32> {
    let pem = read_pem(path)?;
    let certs: Vec<_> = CertificateDer::pem_slice_iter(&pem).collect::<Result<_, _>>().map_err(|e| pem_error(&e))?;
    if certs.is_empty() {
        return Err(EDDY_ETLS);
    }
    Ok(certs)
}

fn pem_error(e: &rustls::pki_types::pem::Error) -> i32 {
    match e {
        rustls::pki_types::pem::Error::Io(io) => from_io(io),
        _ => EDDY_ETLS,
    }
}

fn load_key(path: &Path) -> Result<PrivateKeyDer<'static>, i32> {
    PrivateKeyDer::from_pem_slice(&read_pem(path)?).map_err(|e| pem_error(&e))
}

impl TlsConfig {
    fn with(server: bool, roots: RootCertStore, cert: Option<(Vec<CertificateDer<'static>>, Arc<PrivateKeyDer<'static>>)>) -> Arc<Self> {
        Arc::new(TlsConfig {
            server,
            st: Mutex::new(ConfigState { roots, verify: !server, alpn: Vec::new(), cert }),
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, ConfigState> {
        self.st.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// A client configuration trusting the system's store (empty where the
    /// system has none); it verifies the server by default.
    pub fn new_client() -> Arc<Self> {
        let mut roots = RootCertStore::empty();
        if let Ok(pem) = read_pem(Path::new(SYSTEM_CA_BUNDLE)) {
            roots.add_parsable_certificates(CertificateDer::pem_slice_iter(&pem).flatten());
        }
        Self::with(false, roots, None)
    }

    /// A server configuration from PEM files.
    pub fn new_server(cert_chain: &Path, key: &Path) -> Result<Arc<Self>, i32> {
        let chain = load_certs(cert_chain)?;
        let key = load_key(key)?;
        let cfg = Self::with(true, RootCertStore::empty(), Some((chain.clone(), Arc::new(key.clone_key()))));
        // Refuse a key that does not match its certificate now, not at the
        // first handshake.
        cfg.server_config().map_err(|(e, _)| e)?;
        Ok(cfg)
    }

    /// Adds the certificates of a PEM file to the trusted roots.
    pub fn load_verify_locations(&self, path: &Path) -> Result<(), i32> {
        let certs = load_certs(path)?;
        let mut st = self.lock();
        for c in certs {
            st.roots.add(c).map_err(|_| EDDY_ETLS)?;
        }
        Ok(())
    }

    /// The certificate this side presents (a client's, for mutual TLS).
    pub fn set_certificate(&self, cert_chain: &Path, key: &Path) -> Result<(), i32> {
        let chain = load_certs(cert_chain)?;
        let key = load_key(key)?;
        self.lock().cert = Some((chain, Arc::new(key)));
        Ok(())
    }

    /// Clients: verify the server (default on). Servers: require client
    /// certificates.
    pub fn set_verify(&self, verify: bool) {
        self.lock().verify = verify;
    }

    pub fn set_alpn_protocols(&self, protos: Vec<Vec<u8>>) -> Result<(), i32> {
        if protos.iter().any(|p| p.is_empty() || p.len() > 255) {
            return Err(EDDY_EINVAL);
        }
        self.lock().alpn = protos;
        Ok(())
    }

    pub fn is_server(&self) -> bool {
        self.server
    }

    fn client_config(&self) -> Result<Arc<ClientConfig>, (i32, String)> {
        let st = self.lock();
        let builder = ClientConfig::builder_with_provider(provider()).with_safe_default_protocol_versions().map_err(tls_error)?;
        let builder = if st.verify {
            builder.with_root_certificates(st.roots.clone())
        } else {
            builder.dangerous().with_custom_certificate_verifier(Arc::new(NoVerify(provider())))
        };
        let mut cfg = match &st.cert {
            Some((chain, key)) => builder.with_client_auth_cert(chain.clone(), key.clone_key()).map_err(tls_error)?,
            None => builder.with_no_client_auth(),
        };
        cfg.alpn_protocols = st.alpn.clone();
        Ok(Arc::new(cfg))
    }

    fn server_config(&self) -> Result<Arc<ServerConfig>, (i32, String)> {
        let st = self.lock();
        let builder = ServerConfig::builder_with_provider(provider()).with_safe_default_protocol_versions().map_err(tls_error)?;
        let builder = if st.verify {
            let v = rustls::server::WebPkiClientVerifier::builder_with_provider(Arc::new(st.roots.clone()), provider())
                .build()
                .map_err(tls_error)?;
            builder.with_client_cert_verifier(v)
        } else {
            builder.with_no_client_auth()
        };
        let (chain, key) = st.cert.as_ref().ok_or((EDDY_EINVAL, "a server needs a certificate".to_string()))?;
        let mut cfg = builder.with_single_cert(chain.clone(), key.clone_key()).map_err(tls_error)?;
        cfg.alpn_protocols = st.alpn.clone();
        Ok(Arc::new(cfg))
    }

    /// A new rustls connection for one side.
    pub(crate) fn connection(&self, server_side: bool, server_name: Option<&str>) -> Result<rustls::Connection, (i32, String)> {
        let mut conn: rustls::Connection = if server_side {
            rustls::ServerConnection::new(self.server_config()?).map_err(tls_error)?.into()
        } else {
            let name = server_name.ok_or((EDDY_EINVAL, "server_hostname is needed".to_string()))?;
            let name =
                ServerName::try_from(name.to_string()).map_err(|_| (EDDY_EINVAL, format!("invalid server_hostname {name:?}")))?;
            rustls::ClientConnection::new(self.client_config()?, name).map_err(tls_error)?.into()
        };
        // Flow control is the plain transport's (asyncio's TLS limits on
        // its buffer): rustls itself must take whatever is written.
        conn.set_buffer_limit(None);
        Ok(conn)
    }
}

/// set_verify(false) on a client: accept any certificate (signatures are
/// still checked, so the handshake itself stays sound).
#[derive(Debug)]
struct NoVerify(Arc<CryptoProvider>);

impl ServerCertVerifier for NoVerify {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.0.signature_verification_algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.0.signature_verification_algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

/// Describes a rustls failure the way asyncio users know it.
pub(crate) fn describe(e: &rustls::Error) -> String {
    match e {
        rustls::Error::InvalidCertificate(_) => format!("certificate verify failed: {e}"),
        _ => format!("TLS error: {e}"),
    }
}

/// The TLS side of an application transport: the rustls connection, the
/// plain transport under it, and the handshake's waiter.
pub(crate) struct TlsLink {
    pub lower: Arc<Transport>,
    pub conn: RefCell<rustls::Connection>,
    pub handshake: RefCell<Option<Handshake>>,
    /// How long close waits for the peer's close_notify.
    pub shutdown_timeout: f64,
    /// Plaintext not yet delivered (before connection_made or while
    /// reading is paused), and the peer's close_notify behind it.
    pub pending: RefCell<Vec<u8>>,
    pub eof_pending: std::cell::Cell<bool>,
}

/// What completes with the handshake.
pub(crate) struct Handshake {
    /// create_connection's or start_tls's future (none on a server).
    pub waiter: Option<Arc<Future>>,
    /// Whether the application's connection_made is due (not for
    /// start_tls).
    pub call_connection_made: bool,
}

/// TLS for a connection: the configuration (a snapshot is taken), the
/// name to verify, and the handshake timeout.
#[derive(Clone)]
pub struct TlsOptions {
    pub config: Arc<TlsConfig>,
    pub server_hostname: Option<String>,
    pub handshake_timeout: f64,
    pub shutdown_timeout: f64,
}

impl TlsOptions {
    /// A new TLS connection: the server side for a server's configuration.
    pub(crate) fn connection(&self) -> Result<rustls::Connection, (i32, String)> {
        self.config.connection(self.config.is_server(), self.server_hostname.as_deref())
    }
}

/// The plain transport's protocol: TLS records in and out.
pub(crate) struct TlsProtocol {
    pub app: RefCell<Option<Arc<Transport>>>,
}

impl TlsProtocol {
    /// The protocol of a plain transport whose TLS side is set up next.
    pub(crate) fn placeholder() -> crate::transports::ProtocolSlot {
        crate::transports::ProtocolSlot::Internal(std::rc::Rc::new(TlsProtocol { app: RefCell::new(None) }))
    }

    fn app(&self) -> Option<Arc<Transport>> {
        self.app.borrow().clone()
    }
}

impl StreamProtocol for TlsProtocol {
    fn connection_made(&self, _t: &Arc<Transport>) {
        if let Some(app) = self.app() {
            app.tls_flush();
        }
    }
    fn connection_lost(&self, _t: &Arc<Transport>, err: c_int) {
        let app = self.app.borrow_mut().take();
        if let Some(app) = app {
            app.tls_lower_lost(err);
        }
    }
    fn pause_writing(&self, _t: &Arc<Transport>) {
        if let Some(app) = self.app() {
            app.tls_pause_writing();
        }
    }
    fn resume_writing(&self, _t: &Arc<Transport>) {
        if let Some(app) = self.app() {
            app.tls_resume_writing();
        }
    }
    fn data_received(&self, _t: &Arc<Transport>, data: &[u8]) {
        if let Some(app) = self.app() {
            app.tls_received(data);
        }
    }
    fn eof_received(&self, _t: &Arc<Transport>) -> bool {
        // The peer closed without close_notify: the app sees EOF.
        if let Some(app) = self.app() {
            app.tls_eof();
        }
        false
    }
}

/// Reads rustls's plaintext into `out`; Ok(false) at close_notify.
pub(crate) fn read_plaintext(conn: &mut rustls::Connection, out: &mut Vec<u8>) -> Result<bool, std::io::Error> {
    let mut buf = [0u8; 16384];
    loop {
        match conn.reader().read(&mut buf) {
            Ok(0) => return Ok(false),
            Ok(n) => out.extend_from_slice(&buf[..n]),
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => return Ok(true),
            Err(e) => return Err(e),
        }
    }
}

/// Takes the TLS records rustls has to send.
pub(crate) fn pending_records(conn: &mut rustls::Connection) -> Vec<u8> {
    let mut out = Vec::new();
    while conn.wants_write() {
        if conn.write_tls(&mut out).is_err() {
            break;
        }
    }
    out
}

/// Feeds plaintext to rustls (it buffers what it cannot encrypt yet).
pub(crate) fn write_plaintext(conn: &mut rustls::Connection, data: &[u8]) -> std::io::Result<()> {
    conn.writer().write_all(data)
}

/// Checks start_tls's and the connection options' timeouts: 0 means the
/// default, a negative value is EINVAL.
pub fn timeout_or_default(v: f64, default: f64) -> Result<f64, i32> {
    if v.is_nan() || v < 0.0 {
        return Err(EDDY_EINVAL);
    }
    Ok(if v == 0.0 { default } else { v })
}

/// asyncio's `loop.start_tls`: upgrades a live plain transport. Its protocol
/// carries over to the new TLS transport (no second connection_made); the
/// old transport is handed over and must not be used again. On failure or
/// timeout the old transport is closed and the future fails.
pub fn start_tls(
    t: &Arc<Transport>,
    config: &Arc<TlsConfig>,
    server_side: bool,
    server_hostname: Option<String>,
    handshake_timeout: f64,
) -> Result<Arc<Future>, i32> {
    t.get_loop().check_closed()?;
    // Plain TCP and Unix transports can be upgraded.
    if !t.kind.is_socket() || config.is_server() != server_side {
        return Err(EDDY_EINVAL);
    }
    if t.is_closing() {
        return Err(EDDY_ECLOSED);
    }
    let app = t.protocol().ok_or(EDDY_ECLOSED)?;
    let conn = config.connection(server_side, server_hostname.as_deref()).map_err(|(e, _)| e)?;
    let fut = Future::new(t.get_loop());
    let hs = Handshake { waiter: Some(fut.clone()), call_connection_made: false };
    Transport::new_tls(t, conn, app, hs, handshake_timeout, SHUTDOWN_TIMEOUT);
    Ok(fut)
}

/// The TLS layer (asyncio's `SSLProtocol` and `_SSLProtocolTransport`).
impl Transport {
    /// Wraps `lower` (whose protocol becomes the TLS one) in an application
    /// transport for `app`, and starts the handshake; `hs.waiter`
    /// completes with the application transport, or fails with
    /// `EDDY_ETLS` (and a message) or `-ETIMEDOUT`, closing `lower`.
    pub(crate) fn new_tls(
        lower: &Arc<Transport>,
        conn: rustls::Connection,
        app: ProtocolSlot,
        hs: Handshake,
        handshake_timeout: f64,
        shutdown_timeout: f64,
    ) -> Arc<Transport> {
        let lp = lower.lp.clone();
        let link = TlsLink {
            lower: lower.clone(),
            conn: RefCell::new(conn),
            handshake: RefCell::new(Some(hs)),
            shutdown_timeout,
            pending: RefCell::new(Vec::new()),
            eof_pending: std::cell::Cell::new(false),
        };
        let t = Arc::new(Transport::new(&lp, Kind::Tls, lower.raw_fd, State::new(None, app, TLS_HIGH, None), Some(Box::new(link))));
        let _ = lower.state_mut().flow.set_limits(None, None, TLS_HIGH);
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

    pub(crate) fn link(&self) -> &TlsLink {
        self.tls.as_ref().and_then(|l| l.as_any().downcast_ref()).expect("a TLS transport")
    }

    /// Sends what rustls has to send through the plain transport.
    pub(crate) fn tls_flush(&self) {
        let link = self.link();
        let records = pending_records(&mut link.conn.borrow_mut());
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
                self.state_mut().close.closing = true;
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
                    Ok(_) => match read_plaintext(&mut conn, &mut plain) {
                        Ok(open) => closed |= !open,
                        Err(e) => failure = Some((EDDY_ETLS, format!("TLS error: {e}"))),
                    },
                    Err(e) => failure = Some((EDDY_ETLS, describe(&e))),
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
            if self.state().close.closing {
                // Our close_notify was answered: the socket can go.
                self.state_mut().eof_received = true;
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
            me.state_mut().started = true;
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
            let st = self.state();
            let mut pending = link.pending.borrow_mut();
            pending.extend_from_slice(&plain);
            if st.close.is_closing() {
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
        let already = std::mem::replace(&mut self.state_mut().eof_received, true);
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
            let mut st = self.state_mut();
            st.close.lost = true;
            st.close.closing = true;
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
        if !self.taken_over() {
            if let Some(p) = self.protocol() {
                p.pause_writing(self);
            }
        }
    }

    pub(crate) fn tls_resume_writing(self: &Arc<Self>) {
        if !self.taken_over() {
            if let Some(p) = self.protocol() {
                p.resume_writing(self);
            }
        }
    }

    fn taken_over(&self) -> bool {
        self.state().takeover.as_ref().is_some_and(|s| s.active)
    }
}

impl TlsLink {
    fn tls_extra_info(&self, name: &str) -> Option<ExtraInfo> {
        let link = self;
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

impl TlsLayer for TlsLink {
    fn lower(&self) -> &Arc<Transport> {
        &self.lower
    }

    fn write(&self, t: &Transport, slices: &[IoSlice]) -> Result<usize, i32> {
        let mut n = 0;
        {
            let mut conn = self.conn.borrow_mut();
            for s in slices {
                write_plaintext(&mut conn, s).map_err(|e| from_io(&e))?;
                n += s.len();
            }
        }
        t.tls_flush();
        Ok(n)
    }

    fn resume_reading(&self, t: &Arc<Transport>) {
        t.tls_deliver(Vec::new());
        self.lower.resume_reading();
    }

    fn set_write_buffer_limits(&self, high: Option<usize>, low: Option<usize>) -> Result<(), i32> {
        self.lower.state_mut().flow.set_limits(high, low, TLS_HIGH)?;
        self.lower.maybe_pause();
        Ok(())
    }

    fn close(&self, t: &Arc<Transport>) {
        // close_notify now; the socket closes when the peer's arrives
        // (closing earlier, with its records unread, would reset the
        // connection and lose data in flight) or after the shutdown
        // timeout. connection_lost comes from the plain transport's.
        self.conn.borrow_mut().send_close_notify();
        t.tls_flush();
        if t.state().eof_received {
            self.lower.close();
        } else {
            self.lower.resume_reading();
            let lower = Arc::downgrade(&self.lower);
            let _ = t.lp.call_later_job(
                self.shutdown_timeout,
                Box::new(move |_| {
                    if let Some(l) = lower.upgrade() {
                        l.close();
                    }
                }),
            );
        }
    }

    fn get_extra_info(&self, name: &str) -> Option<ExtraInfo> {
        self.tls_extra_info(name)
    }

    fn as_any(&self) -> &dyn std::any::Any {
        self
    }
}
