//! Error codes: negative errno for system errors (as libuv), the library's own
//! codes below -4000. The values are literals so cbindgen can copy them into
//! the header; a unit test checks each against the platform's errno.

use std::ffi::CStr;

/// `-E2BIG`: Argument list too long.
pub const EDDY_E2BIG: i32 = -7;
/// `-EACCES`: Permission denied.
pub const EDDY_EACCES: i32 = -13;
/// `-EADDRINUSE`: Address already in use.
pub const EDDY_EADDRINUSE: i32 = -98;
/// `-EADDRNOTAVAIL`: Cannot assign requested address.
pub const EDDY_EADDRNOTAVAIL: i32 = -99;
/// `-EAFNOSUPPORT`: Address family not supported by protocol.
pub const EDDY_EAFNOSUPPORT: i32 = -97;
/// `-EAGAIN`: Resource temporarily unavailable.
pub const EDDY_EAGAIN: i32 = -11;
/// `-EALREADY`: Operation already in progress.
pub const EDDY_EALREADY: i32 = -114;
/// `-EBADF`: Bad file descriptor.
pub const EDDY_EBADF: i32 = -9;
/// `-EBUSY`: Device or resource busy.
pub const EDDY_EBUSY: i32 = -16;
/// `-ECANCELED`: Operation canceled.
pub const EDDY_ECANCELED: i32 = -125;
/// `-ECHILD`: No child processes.
pub const EDDY_ECHILD: i32 = -10;
/// `-ECONNABORTED`: Software caused connection abort.
pub const EDDY_ECONNABORTED: i32 = -103;
/// `-ECONNREFUSED`: Connection refused.
pub const EDDY_ECONNREFUSED: i32 = -111;
/// `-ECONNRESET`: Connection reset by peer.
pub const EDDY_ECONNRESET: i32 = -104;
/// `-EDEADLK`: Resource deadlock avoided.
pub const EDDY_EDEADLK: i32 = -35;
/// `-EDESTADDRREQ`: Destination address required.
pub const EDDY_EDESTADDRREQ: i32 = -89;
/// `-EDOM`: Numerical argument out of domain.
pub const EDDY_EDOM: i32 = -33;
/// `-EEXIST`: File exists.
pub const EDDY_EEXIST: i32 = -17;
/// `-EFAULT`: Bad address.
pub const EDDY_EFAULT: i32 = -14;
/// `-EFBIG`: File too large.
pub const EDDY_EFBIG: i32 = -27;
/// `-EHOSTDOWN`: Host is down.
pub const EDDY_EHOSTDOWN: i32 = -112;
/// `-EHOSTUNREACH`: No route to host.
pub const EDDY_EHOSTUNREACH: i32 = -113;
/// `-EILSEQ`: Invalid or incomplete multibyte or wide character.
pub const EDDY_EILSEQ: i32 = -84;
/// `-EINPROGRESS`: Operation now in progress.
pub const EDDY_EINPROGRESS: i32 = -115;
/// `-EINTR`: Interrupted system call.
pub const EDDY_EINTR: i32 = -4;
/// `-EINVAL`: Invalid argument.
pub const EDDY_EINVAL: i32 = -22;
/// `-EIO`: Input/output error.
pub const EDDY_EIO: i32 = -5;
/// `-EISCONN`: Transport endpoint is already connected.
pub const EDDY_EISCONN: i32 = -106;
/// `-EISDIR`: Is a directory.
pub const EDDY_EISDIR: i32 = -21;
/// `-ELOOP`: Too many levels of symbolic links.
pub const EDDY_ELOOP: i32 = -40;
/// `-EMFILE`: Too many open files.
pub const EDDY_EMFILE: i32 = -24;
/// `-EMLINK`: Too many links.
pub const EDDY_EMLINK: i32 = -31;
/// `-EMSGSIZE`: Message too long.
pub const EDDY_EMSGSIZE: i32 = -90;
/// `-ENAMETOOLONG`: File name too long.
pub const EDDY_ENAMETOOLONG: i32 = -36;
/// `-ENETDOWN`: Network is down.
pub const EDDY_ENETDOWN: i32 = -100;
/// `-ENETRESET`: Network dropped connection on reset.
pub const EDDY_ENETRESET: i32 = -102;
/// `-ENETUNREACH`: Network is unreachable.
pub const EDDY_ENETUNREACH: i32 = -101;
/// `-ENFILE`: Too many open files in system.
pub const EDDY_ENFILE: i32 = -23;
/// `-ENOBUFS`: No buffer space available.
pub const EDDY_ENOBUFS: i32 = -105;
/// `-ENODATA`: No data available.
pub const EDDY_ENODATA: i32 = -61;
/// `-ENODEV`: No such device.
pub const EDDY_ENODEV: i32 = -19;
/// `-ENOENT`: No such file or directory.
pub const EDDY_ENOENT: i32 = -2;
/// `-ENOEXEC`: Exec format error.
pub const EDDY_ENOEXEC: i32 = -8;
/// `-ENOLCK`: No locks available.
pub const EDDY_ENOLCK: i32 = -37;
/// `-ENOMEM`: Cannot allocate memory.
pub const EDDY_ENOMEM: i32 = -12;
/// `-ENONET`: Machine is not on the network.
pub const EDDY_ENONET: i32 = -64;
/// `-ENOPROTOOPT`: Protocol not available.
pub const EDDY_ENOPROTOOPT: i32 = -92;
/// `-ENOSPC`: No space left on device.
pub const EDDY_ENOSPC: i32 = -28;
/// `-ENOSYS`: Function not implemented.
pub const EDDY_ENOSYS: i32 = -38;
/// `-ENOTBLK`: Block device required.
pub const EDDY_ENOTBLK: i32 = -15;
/// `-ENOTCONN`: Transport endpoint is not connected.
pub const EDDY_ENOTCONN: i32 = -107;
/// `-ENOTDIR`: Not a directory.
pub const EDDY_ENOTDIR: i32 = -20;
/// `-ENOTEMPTY`: Directory not empty.
pub const EDDY_ENOTEMPTY: i32 = -39;
/// `-ENOTSOCK`: Socket operation on non-socket.
pub const EDDY_ENOTSOCK: i32 = -88;
/// `-ENOTSUP`: Operation not supported.
pub const EDDY_ENOTSUP: i32 = -95;
/// `-ENOTTY`: Inappropriate ioctl for device.
pub const EDDY_ENOTTY: i32 = -25;
/// `-ENXIO`: No such device or address.
pub const EDDY_ENXIO: i32 = -6;
/// `-EOVERFLOW`: Value too large for defined data type.
pub const EDDY_EOVERFLOW: i32 = -75;
/// `-EPERM`: Operation not permitted.
pub const EDDY_EPERM: i32 = -1;
/// `-EPIPE`: Broken pipe.
pub const EDDY_EPIPE: i32 = -32;
/// `-EPROTO`: Protocol error.
pub const EDDY_EPROTO: i32 = -71;
/// `-EPROTONOSUPPORT`: Protocol not supported.
pub const EDDY_EPROTONOSUPPORT: i32 = -93;
/// `-EPROTOTYPE`: Protocol wrong type for socket.
pub const EDDY_EPROTOTYPE: i32 = -91;
/// `-ERANGE`: Numerical result out of range.
pub const EDDY_ERANGE: i32 = -34;
/// `-EREMOTEIO`: Remote I/O error.
pub const EDDY_EREMOTEIO: i32 = -121;
/// `-EROFS`: Read-only file system.
pub const EDDY_EROFS: i32 = -30;
/// `-ESHUTDOWN`: Cannot send after transport endpoint shutdown.
pub const EDDY_ESHUTDOWN: i32 = -108;
/// `-ESOCKTNOSUPPORT`: Socket type not supported.
pub const EDDY_ESOCKTNOSUPPORT: i32 = -94;
/// `-ESPIPE`: Illegal seek.
pub const EDDY_ESPIPE: i32 = -29;
/// `-ESRCH`: No such process.
pub const EDDY_ESRCH: i32 = -3;
/// `-ETIME`: Timer expired.
pub const EDDY_ETIME: i32 = -62;
/// `-ETIMEDOUT`: Connection timed out.
pub const EDDY_ETIMEDOUT: i32 = -110;
/// `-ETXTBSY`: Text file busy.
pub const EDDY_ETXTBSY: i32 = -26;
/// `-EUNATCH`: Protocol driver not attached.
pub const EDDY_EUNATCH: i32 = -49;
/// `-EXDEV`: Invalid cross-device link.
pub const EDDY_EXDEV: i32 = -18;

/// eddy: object is closed.
pub const EDDY_ECLOSED: i32 = -4001;
/// eddy: an event loop is already running.
pub const EDDY_ERUNNING: i32 = -4002;
/// eddy: invalid state.
pub const EDDY_EINVALSTATE: i32 = -4003;
/// eddy: non-thread-safe call from a thread other than the loop's.
pub const EDDY_EWRONGTHREAD: i32 = -4004;
/// eddy: internal error: a Rust panic was caught.
pub const EDDY_EPANIC: i32 = -4005;
/// eddy: TLS error.
pub const EDDY_ETLS: i32 = -4006;
/// getaddrinfo `EAI_ADDRFAMILY`: address family for hostname not supported.
pub const EDDY_EAI_ADDRFAMILY: i32 = -4100;
/// getaddrinfo `EAI_AGAIN`: temporary failure in name resolution.
pub const EDDY_EAI_AGAIN: i32 = -4101;
/// getaddrinfo `EAI_BADFLAGS`: bad value for ai_flags.
pub const EDDY_EAI_BADFLAGS: i32 = -4102;
/// getaddrinfo `EAI_CANCELED`: request canceled.
pub const EDDY_EAI_CANCELED: i32 = -4103;
/// getaddrinfo `EAI_FAIL`: non-recoverable failure in name resolution.
pub const EDDY_EAI_FAIL: i32 = -4104;
/// getaddrinfo `EAI_FAMILY`: ai_family not supported.
pub const EDDY_EAI_FAMILY: i32 = -4105;
/// getaddrinfo `EAI_MEMORY`: memory allocation failure.
pub const EDDY_EAI_MEMORY: i32 = -4106;
/// getaddrinfo `EAI_NODATA`: no address associated with hostname.
pub const EDDY_EAI_NODATA: i32 = -4107;
/// getaddrinfo `EAI_NONAME`: name or service not known.
pub const EDDY_EAI_NONAME: i32 = -4108;
/// getaddrinfo `EAI_OVERFLOW`: argument buffer overflow.
pub const EDDY_EAI_OVERFLOW: i32 = -4109;
/// getaddrinfo `EAI_PROTOCOL`: resolved protocol is unknown.
pub const EDDY_EAI_PROTOCOL: i32 = -4110;
/// getaddrinfo `EAI_SERVICE`: servname not supported for ai_socktype.
pub const EDDY_EAI_SERVICE: i32 = -4111;
/// getaddrinfo `EAI_SOCKTYPE`: ai_socktype not supported.
pub const EDDY_EAI_SOCKTYPE: i32 = -4112;
/// getaddrinfo `EAI_SYSTEM`: system error.
pub const EDDY_EAI_SYSTEM: i32 = -4113;

/// Every code the library can return: (code, name, message).
pub(crate) static CODES: &[(i32, &CStr, &CStr)] = &[
    (EDDY_E2BIG, c"EDDY_E2BIG", c"Argument list too long"),
    (EDDY_EACCES, c"EDDY_EACCES", c"Permission denied"),
    (EDDY_EADDRINUSE, c"EDDY_EADDRINUSE", c"Address already in use"),
    (EDDY_EADDRNOTAVAIL, c"EDDY_EADDRNOTAVAIL", c"Cannot assign requested address"),
    (EDDY_EAFNOSUPPORT, c"EDDY_EAFNOSUPPORT", c"Address family not supported by protocol"),
    (EDDY_EAGAIN, c"EDDY_EAGAIN", c"Resource temporarily unavailable"),
    (EDDY_EALREADY, c"EDDY_EALREADY", c"Operation already in progress"),
    (EDDY_EBADF, c"EDDY_EBADF", c"Bad file descriptor"),
    (EDDY_EBUSY, c"EDDY_EBUSY", c"Device or resource busy"),
    (EDDY_ECANCELED, c"EDDY_ECANCELED", c"Operation canceled"),
    (EDDY_ECHILD, c"EDDY_ECHILD", c"No child processes"),
    (EDDY_ECONNABORTED, c"EDDY_ECONNABORTED", c"Software caused connection abort"),
    (EDDY_ECONNREFUSED, c"EDDY_ECONNREFUSED", c"Connection refused"),
    (EDDY_ECONNRESET, c"EDDY_ECONNRESET", c"Connection reset by peer"),
    (EDDY_EDEADLK, c"EDDY_EDEADLK", c"Resource deadlock avoided"),
    (EDDY_EDESTADDRREQ, c"EDDY_EDESTADDRREQ", c"Destination address required"),
    (EDDY_EDOM, c"EDDY_EDOM", c"Numerical argument out of domain"),
    (EDDY_EEXIST, c"EDDY_EEXIST", c"File exists"),
    (EDDY_EFAULT, c"EDDY_EFAULT", c"Bad address"),
    (EDDY_EFBIG, c"EDDY_EFBIG", c"File too large"),
    (EDDY_EHOSTDOWN, c"EDDY_EHOSTDOWN", c"Host is down"),
    (EDDY_EHOSTUNREACH, c"EDDY_EHOSTUNREACH", c"No route to host"),
    (EDDY_EILSEQ, c"EDDY_EILSEQ", c"Invalid or incomplete multibyte or wide character"),
    (EDDY_EINPROGRESS, c"EDDY_EINPROGRESS", c"Operation now in progress"),
    (EDDY_EINTR, c"EDDY_EINTR", c"Interrupted system call"),
    (EDDY_EINVAL, c"EDDY_EINVAL", c"Invalid argument"),
    (EDDY_EIO, c"EDDY_EIO", c"Input/output error"),
    (EDDY_EISCONN, c"EDDY_EISCONN", c"Transport endpoint is already connected"),
    (EDDY_EISDIR, c"EDDY_EISDIR", c"Is a directory"),
    (EDDY_ELOOP, c"EDDY_ELOOP", c"Too many levels of symbolic links"),
    (EDDY_EMFILE, c"EDDY_EMFILE", c"Too many open files"),
    (EDDY_EMLINK, c"EDDY_EMLINK", c"Too many links"),
    (EDDY_EMSGSIZE, c"EDDY_EMSGSIZE", c"Message too long"),
    (EDDY_ENAMETOOLONG, c"EDDY_ENAMETOOLONG", c"File name too long"),
    (EDDY_ENETDOWN, c"EDDY_ENETDOWN", c"Network is down"),
    (EDDY_ENETRESET, c"EDDY_ENETRESET", c"Network dropped connection on reset"),
    (EDDY_ENETUNREACH, c"EDDY_ENETUNREACH", c"Network is unreachable"),
    (EDDY_ENFILE, c"EDDY_ENFILE", c"Too many open files in system"),
    (EDDY_ENOBUFS, c"EDDY_ENOBUFS", c"No buffer space available"),
    (EDDY_ENODATA, c"EDDY_ENODATA", c"No data available"),
    (EDDY_ENODEV, c"EDDY_ENODEV", c"No such device"),
    (EDDY_ENOENT, c"EDDY_ENOENT", c"No such file or directory"),
    (EDDY_ENOEXEC, c"EDDY_ENOEXEC", c"Exec format error"),
    (EDDY_ENOLCK, c"EDDY_ENOLCK", c"No locks available"),
    (EDDY_ENOMEM, c"EDDY_ENOMEM", c"Cannot allocate memory"),
    (EDDY_ENONET, c"EDDY_ENONET", c"Machine is not on the network"),
    (EDDY_ENOPROTOOPT, c"EDDY_ENOPROTOOPT", c"Protocol not available"),
    (EDDY_ENOSPC, c"EDDY_ENOSPC", c"No space left on device"),
    (EDDY_ENOSYS, c"EDDY_ENOSYS", c"Function not implemented"),
    (EDDY_ENOTBLK, c"EDDY_ENOTBLK", c"Block device required"),
    (EDDY_ENOTCONN, c"EDDY_ENOTCONN", c"Transport endpoint is not connected"),
    (EDDY_ENOTDIR, c"EDDY_ENOTDIR", c"Not a directory"),
    (EDDY_ENOTEMPTY, c"EDDY_ENOTEMPTY", c"Directory not empty"),
    (EDDY_ENOTSOCK, c"EDDY_ENOTSOCK", c"Socket operation on non-socket"),
    (EDDY_ENOTSUP, c"EDDY_ENOTSUP", c"Operation not supported"),
    (EDDY_ENOTTY, c"EDDY_ENOTTY", c"Inappropriate ioctl for device"),
    (EDDY_ENXIO, c"EDDY_ENXIO", c"No such device or address"),
    (EDDY_EOVERFLOW, c"EDDY_EOVERFLOW", c"Value too large for defined data type"),
    (EDDY_EPERM, c"EDDY_EPERM", c"Operation not permitted"),
    (EDDY_EPIPE, c"EDDY_EPIPE", c"Broken pipe"),
    (EDDY_EPROTO, c"EDDY_EPROTO", c"Protocol error"),
    (EDDY_EPROTONOSUPPORT, c"EDDY_EPROTONOSUPPORT", c"Protocol not supported"),
    (EDDY_EPROTOTYPE, c"EDDY_EPROTOTYPE", c"Protocol wrong type for socket"),
    (EDDY_ERANGE, c"EDDY_ERANGE", c"Numerical result out of range"),
    (EDDY_EREMOTEIO, c"EDDY_EREMOTEIO", c"Remote I/O error"),
    (EDDY_EROFS, c"EDDY_EROFS", c"Read-only file system"),
    (EDDY_ESHUTDOWN, c"EDDY_ESHUTDOWN", c"Cannot send after transport endpoint shutdown"),
    (EDDY_ESOCKTNOSUPPORT, c"EDDY_ESOCKTNOSUPPORT", c"Socket type not supported"),
    (EDDY_ESPIPE, c"EDDY_ESPIPE", c"Illegal seek"),
    (EDDY_ESRCH, c"EDDY_ESRCH", c"No such process"),
    (EDDY_ETIME, c"EDDY_ETIME", c"Timer expired"),
    (EDDY_ETIMEDOUT, c"EDDY_ETIMEDOUT", c"Connection timed out"),
    (EDDY_ETXTBSY, c"EDDY_ETXTBSY", c"Text file busy"),
    (EDDY_EUNATCH, c"EDDY_EUNATCH", c"Protocol driver not attached"),
    (EDDY_EXDEV, c"EDDY_EXDEV", c"Invalid cross-device link"),
    (EDDY_ECLOSED, c"EDDY_ECLOSED", c"object is closed"),
    (EDDY_ERUNNING, c"EDDY_ERUNNING", c"an event loop is already running"),
    (EDDY_EINVALSTATE, c"EDDY_EINVALSTATE", c"invalid state"),
    (EDDY_EWRONGTHREAD, c"EDDY_EWRONGTHREAD", c"non-thread-safe call from a thread other than the loop's"),
    (EDDY_EPANIC, c"EDDY_EPANIC", c"internal error: a Rust panic was caught"),
    (EDDY_ETLS, c"EDDY_ETLS", c"TLS error"),
    (EDDY_EAI_ADDRFAMILY, c"EDDY_EAI_ADDRFAMILY", c"address family for hostname not supported"),
    (EDDY_EAI_AGAIN, c"EDDY_EAI_AGAIN", c"temporary failure in name resolution"),
    (EDDY_EAI_BADFLAGS, c"EDDY_EAI_BADFLAGS", c"bad value for ai_flags"),
    (EDDY_EAI_CANCELED, c"EDDY_EAI_CANCELED", c"request canceled"),
    (EDDY_EAI_FAIL, c"EDDY_EAI_FAIL", c"non-recoverable failure in name resolution"),
    (EDDY_EAI_FAMILY, c"EDDY_EAI_FAMILY", c"ai_family not supported"),
    (EDDY_EAI_MEMORY, c"EDDY_EAI_MEMORY", c"memory allocation failure"),
    (EDDY_EAI_NODATA, c"EDDY_EAI_NODATA", c"no address associated with hostname"),
    (EDDY_EAI_NONAME, c"EDDY_EAI_NONAME", c"name or service not known"),
    (EDDY_EAI_OVERFLOW, c"EDDY_EAI_OVERFLOW", c"argument buffer overflow"),
    (EDDY_EAI_PROTOCOL, c"EDDY_EAI_PROTOCOL", c"resolved protocol is unknown"),
    (EDDY_EAI_SERVICE, c"EDDY_EAI_SERVICE", c"servname not supported for ai_socktype"),
    (EDDY_EAI_SOCKTYPE, c"EDDY_EAI_SOCKTYPE", c"ai_socktype not supported"),
    (EDDY_EAI_SYSTEM, c"EDDY_EAI_SYSTEM", c"system error"),
];

static UNKNOWN_NAME: &CStr = c"EDDY_UNKNOWN";
static UNKNOWN_MESSAGE: &CStr = c"unknown error";
static OK_NAME: &CStr = c"EDDY_OK";
static OK_MESSAGE: &CStr = c"success";

fn lookup(err: i32) -> Option<&'static (i32, &'static CStr, &'static CStr)> {
    CODES.iter().find(|(code, _, _)| *code == err)
}

/// A static, NUL-terminated description of `err`; never fails.
pub fn strerror(err: i32) -> &'static CStr {
    match err {
        0 => OK_MESSAGE,
        _ => lookup(err).map_or(UNKNOWN_MESSAGE, |e| e.2),
    }
}

/// The symbolic name of `err` ("EDDY_EINVAL"); never fails.
pub fn err_name(err: i32) -> &'static CStr {
    match err {
        0 => OK_NAME,
        _ => lookup(err).map_or(UNKNOWN_NAME, |e| e.1),
    }
}

/// Maps a failed syscall's errno to an eddy code.
pub fn from_errno(e: nix::errno::Errno) -> i32 {
    -(e as i32)
}

/// Maps an `std::io::Error` to an eddy code (`EDDY_EIO` when it has no errno).
pub fn from_io(e: &std::io::Error) -> i32 {
    e.raw_os_error().map_or(EDDY_EIO, |n| -n)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errno_values_match_the_platform() {
        assert_eq!(EDDY_E2BIG, -libc::E2BIG);
        assert_eq!(EDDY_EACCES, -libc::EACCES);
        assert_eq!(EDDY_EADDRINUSE, -libc::EADDRINUSE);
        assert_eq!(EDDY_EADDRNOTAVAIL, -libc::EADDRNOTAVAIL);
        assert_eq!(EDDY_EAFNOSUPPORT, -libc::EAFNOSUPPORT);
        assert_eq!(EDDY_EAGAIN, -libc::EAGAIN);
        assert_eq!(EDDY_EALREADY, -libc::EALREADY);
        assert_eq!(EDDY_EBADF, -libc::EBADF);
        assert_eq!(EDDY_EBUSY, -libc::EBUSY);
        assert_eq!(EDDY_ECANCELED, -libc::ECANCELED);
        assert_eq!(EDDY_ECHILD, -libc::ECHILD);
        assert_eq!(EDDY_ECONNABORTED, -libc::ECONNABORTED);
        assert_eq!(EDDY_ECONNREFUSED, -libc::ECONNREFUSED);
        assert_eq!(EDDY_ECONNRESET, -libc::ECONNRESET);
        assert_eq!(EDDY_EDEADLK, -libc::EDEADLK);
        assert_eq!(EDDY_EDESTADDRREQ, -libc::EDESTADDRREQ);
        assert_eq!(EDDY_EDOM, -libc::EDOM);
        assert_eq!(EDDY_EEXIST, -libc::EEXIST);
        assert_eq!(EDDY_EFAULT, -libc::EFAULT);
        assert_eq!(EDDY_EFBIG, -libc::EFBIG);
        assert_eq!(EDDY_EHOSTDOWN, -libc::EHOSTDOWN);
        assert_eq!(EDDY_EHOSTUNREACH, -libc::EHOSTUNREACH);
        assert_eq!(EDDY_EILSEQ, -libc::EILSEQ);
        assert_eq!(EDDY_EINPROGRESS, -libc::EINPROGRESS);
        assert_eq!(EDDY_EINTR, -libc::EINTR);
        assert_eq!(EDDY_EINVAL, -libc::EINVAL);
        assert_eq!(EDDY_EIO, -libc::EIO);
        assert_eq!(EDDY_EISCONN, -libc::EISCONN);
        assert_eq!(EDDY_EISDIR, -libc::EISDIR);
        assert_eq!(EDDY_ELOOP, -libc::ELOOP);
        assert_eq!(EDDY_EMFILE, -libc::EMFILE);
        assert_eq!(EDDY_EMLINK, -libc::EMLINK);
        assert_eq!(EDDY_EMSGSIZE, -libc::EMSGSIZE);
        assert_eq!(EDDY_ENAMETOOLONG, -libc::ENAMETOOLONG);
        assert_eq!(EDDY_ENETDOWN, -libc::ENETDOWN);
        assert_eq!(EDDY_ENETRESET, -libc::ENETRESET);
        assert_eq!(EDDY_ENETUNREACH, -libc::ENETUNREACH);
        assert_eq!(EDDY_ENFILE, -libc::ENFILE);
        assert_eq!(EDDY_ENOBUFS, -libc::ENOBUFS);
        assert_eq!(EDDY_ENODATA, -libc::ENODATA);
        assert_eq!(EDDY_ENODEV, -libc::ENODEV);
        assert_eq!(EDDY_ENOENT, -libc::ENOENT);
        assert_eq!(EDDY_ENOEXEC, -libc::ENOEXEC);
        assert_eq!(EDDY_ENOLCK, -libc::ENOLCK);
        assert_eq!(EDDY_ENOMEM, -libc::ENOMEM);
        assert_eq!(EDDY_ENONET, -libc::ENONET);
        assert_eq!(EDDY_ENOPROTOOPT, -libc::ENOPROTOOPT);
        assert_eq!(EDDY_ENOSPC, -libc::ENOSPC);
        assert_eq!(EDDY_ENOSYS, -libc::ENOSYS);
        assert_eq!(EDDY_ENOTBLK, -libc::ENOTBLK);
        assert_eq!(EDDY_ENOTCONN, -libc::ENOTCONN);
        assert_eq!(EDDY_ENOTDIR, -libc::ENOTDIR);
        assert_eq!(EDDY_ENOTEMPTY, -libc::ENOTEMPTY);
        assert_eq!(EDDY_ENOTSOCK, -libc::ENOTSOCK);
        assert_eq!(EDDY_ENOTSUP, -libc::ENOTSUP);
        assert_eq!(EDDY_ENOTTY, -libc::ENOTTY);
        assert_eq!(EDDY_ENXIO, -libc::ENXIO);
        assert_eq!(EDDY_EOVERFLOW, -libc::EOVERFLOW);
        assert_eq!(EDDY_EPERM, -libc::EPERM);
        assert_eq!(EDDY_EPIPE, -libc::EPIPE);
        assert_eq!(EDDY_EPROTO, -libc::EPROTO);
        assert_eq!(EDDY_EPROTONOSUPPORT, -libc::EPROTONOSUPPORT);
        assert_eq!(EDDY_EPROTOTYPE, -libc::EPROTOTYPE);
        assert_eq!(EDDY_ERANGE, -libc::ERANGE);
        assert_eq!(EDDY_EREMOTEIO, -libc::EREMOTEIO);
        assert_eq!(EDDY_EROFS, -libc::EROFS);
        assert_eq!(EDDY_ESHUTDOWN, -libc::ESHUTDOWN);
        assert_eq!(EDDY_ESOCKTNOSUPPORT, -libc::ESOCKTNOSUPPORT);
        assert_eq!(EDDY_ESPIPE, -libc::ESPIPE);
        assert_eq!(EDDY_ESRCH, -libc::ESRCH);
        assert_eq!(EDDY_ETIME, -libc::ETIME);
        assert_eq!(EDDY_ETIMEDOUT, -libc::ETIMEDOUT);
        assert_eq!(EDDY_ETXTBSY, -libc::ETXTBSY);
        assert_eq!(EDDY_EUNATCH, -libc::EUNATCH);
        assert_eq!(EDDY_EXDEV, -libc::EXDEV);
    }

    #[test]
    fn names_and_messages_never_fail() {
        assert_eq!(err_name(EDDY_EINVAL).to_str().unwrap(), "EDDY_EINVAL");
        assert_eq!(err_name(12345).to_str().unwrap(), "EDDY_UNKNOWN");
        assert!(!strerror(EDDY_ECLOSED).to_bytes().is_empty());
        let mut seen = std::collections::HashSet::new();
        for (code, _, _) in CODES {
            assert!(seen.insert(*code), "duplicate code {code}");
        }
    }
}
