//! `eddy_tls_config_*` and `eddy_loop_start_tls`.

use std::ffi::{c_char, c_int};
use std::path::PathBuf;

use super::*;
use crate::sslproto::{self, TlsConfig};
use crate::transports::Transport;

/// A required path argument.
fn path(p: *const c_char) -> Result<PathBuf, c_int> {
    opt_path(p).ok_or(EDDY_EINVAL)
}

/// A client configuration trusting the system's store (Debian's
/// /etc/ssl/certs; empty, not an error, where the system has none). It
/// verifies the server by default.
#[no_mangle]
pub extern "C" fn eddy_tls_config_new_client(out: *mut *mut TlsConfig) -> c_int {
    guard(|| {
        required(out)?;
        give(out, TlsConfig::new_client());
        Ok(0)
    })
}

/// A server configuration from a PEM certificate chain and a PEM private
/// key. `-ENOENT` and friends for unreadable files, `EDDY_ETLS` for
/// contents rustls refuses (no certificate, a key that does not match).
/// Every PEM loader reads regular files only (`EDDY_EINVAL` for a device
/// or a FIFO) of at most `EDDY_TLS_MAX_PEM_FILE` bytes (4 MiB; `EDDY_EFBIG`
/// past that).
#[no_mangle]
pub extern "C" fn eddy_tls_config_new_server(
    cert_chain_pem_path: *const c_char,
    key_pem_path: *const c_char,
    out: *mut *mut TlsConfig,
) -> c_int {
    guard(|| {
        required(out)?;
        give(out, TlsConfig::new_server(&path(cert_chain_pem_path)?, &path(key_pem_path)?)?);
        Ok(0)
    })
}

/// Adds the certificates of a PEM file to the trusted roots. The file's
/// limits are those of `eddy_tls_config_new_server`.
#[no_mangle]
pub extern "C" fn eddy_tls_config_load_verify_locations(c: *mut TlsConfig, ca_pem_path: *const c_char) -> c_int {
    guard(|| {
        arg(c)?.load_verify_locations(&path(ca_pem_path)?)?;
        Ok(0)
    })
}

/// The certificate this side presents (a client's, for mutual TLS). The
/// files' limits are those of `eddy_tls_config_new_server`.
#[no_mangle]
pub extern "C" fn eddy_tls_config_set_certificate(
    c: *mut TlsConfig,
    cert_chain_pem_path: *const c_char,
    key_pem_path: *const c_char,
) -> c_int {
    guard(|| {
        arg(c)?.set_certificate(&path(cert_chain_pem_path)?, &path(key_pem_path)?)?;
        Ok(0)
    })
}

/// Clients: verify the server (default on). Servers: require client
/// certificates, verified against the roots added with
/// load_verify_locations.
#[no_mangle]
pub extern "C" fn eddy_tls_config_set_verify(c: *mut TlsConfig, verify: bool) -> c_int {
    guard(|| {
        arg(c)?.set_verify(verify);
        Ok(0)
    })
}

/// The ALPN protocols to offer (client) or accept (server), in order of
/// preference. `EDDY_EINVAL` for an empty or over-long name.
#[no_mangle]
pub extern "C" fn eddy_tls_config_set_alpn_protocols(c: *mut TlsConfig, protos: *const *const c_char, n: usize) -> c_int {
    guard(|| {
        let c = arg(c)?;
        let protos = slice(protos, n)?;
        let mut list = Vec::new();
        list.try_reserve_exact(n).map_err(|_| EDDY_ENOMEM)?;
        for &p in protos {
            list.push(c_string(p).ok_or(EDDY_EINVAL)?.into_bytes());
        }
        c.set_alpn_protocols(list)?;
        Ok(0)
    })
}

/// Takes one more reference. Thread-safe; NULL is a no-op.
#[no_mangle]
pub extern "C" fn eddy_tls_config_retain(c: *mut TlsConfig) {
    guard_or((), || retain(c))
}

/// Drops one reference (connections keep their own). Thread-safe; NULL is
/// a no-op.
#[no_mangle]
pub extern "C" fn eddy_tls_config_release(c: *mut TlsConfig) {
    guard_or((), || release(c))
}

/// Upgrades a live TCP or Unix transport to TLS. Its protocol carries over
/// (connection_made is not called again) and the future's value is the new
/// transport; the old one is handed over and must not be used again. A
/// verification or protocol failure fails the future with `EDDY_ETLS` and a
/// message (eddy_future_error_message), a timeout with `-ETIMEDOUT`; either
/// way the connection is closed. `handshake_timeout` 0 means 60 s;
/// negative is `EDDY_EINVAL`.
#[no_mangle]
pub extern "C" fn eddy_loop_start_tls(
    r#loop: *mut EventLoop,
    t: *mut Transport,
    tls: *mut TlsConfig,
    server_side: bool,
    server_hostname: *const c_char,
    handshake_timeout: f64,
    out: *mut *mut Future,
) -> c_int {
    guard(|| {
        loop_arg(r#loop)?;
        required(out)?;
        let t = arc_arg(t)?;
        let config = arc_arg(tls)?;
        let timeout = sslproto::timeout_or_default(handshake_timeout, sslproto::HANDSHAKE_TIMEOUT)?;
        let name = c_string(server_hostname).map(|s| s.into_string().map_err(|_| EDDY_EINVAL)).transpose()?;
        give(out, sslproto::start_tls(&t, &config, server_side, name, timeout)?);
        Ok(0)
    })
}
