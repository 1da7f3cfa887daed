/*
 * eddy.h: asyncio's low-level event loop API for C.
 *
 * GENERATED FILE: do not edit. Produced by cbindgen from the Rust sources
 * (src/ffi/) using cbindgen.toml; regenerate with `make header`.
 *
 * Conventions (docs/guide.md, "Errors"):
 * - Functions that can fail return 0 (or a documented non-negative value)
 *   or a negative EDDY_E* code.
 * - Out-parameters are required: NULL gives EDDY_EINVAL and nothing is
 *   done. An out-parameter whose comment says it "may be NULL" is optional,
 *   and that comment says what then happens to the result.
 * - Lengths and counts: one past SSIZE_MAX bytes (or a total of several
 *   lengths past it) gives EDDY_EINVAL before any memory is read or
 *   written; the object stays as it was and nothing is sent.
 * - An fd owned by a transport, server or datagram endpoint is refused by
 *   the sock_* and add/remove_reader/writer functions with EDDY_EBUSY.
 */

#ifndef EDDY_H
#define EDDY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <sys/socket.h>

/* Defined by <netdb.h>; only pointers to it appear here. */
struct addrinfo;

/**
 * `-E2BIG`: Argument list too long.
 */
#define EDDY_E2BIG -7

/**
 * `-EACCES`: Permission denied.
 */
#define EDDY_EACCES -13

/**
 * `-EADDRINUSE`: Address already in use.
 */
#define EDDY_EADDRINUSE -98

/**
 * `-EADDRNOTAVAIL`: Cannot assign requested address.
 */
#define EDDY_EADDRNOTAVAIL -99

/**
 * `-EAFNOSUPPORT`: Address family not supported by protocol.
 */
#define EDDY_EAFNOSUPPORT -97

/**
 * `-EAGAIN`: Resource temporarily unavailable.
 */
#define EDDY_EAGAIN -11

/**
 * `-EALREADY`: Operation already in progress.
 */
#define EDDY_EALREADY -114

/**
 * `-EBADF`: Bad file descriptor.
 */
#define EDDY_EBADF -9

/**
 * `-EBUSY`: Device or resource busy.
 */
#define EDDY_EBUSY -16

/**
 * `-ECANCELED`: Operation canceled.
 */
#define EDDY_ECANCELED -125

/**
 * `-ECHILD`: No child processes.
 */
#define EDDY_ECHILD -10

/**
 * `-ECONNABORTED`: Software caused connection abort.
 */
#define EDDY_ECONNABORTED -103

/**
 * `-ECONNREFUSED`: Connection refused.
 */
#define EDDY_ECONNREFUSED -111

/**
 * `-ECONNRESET`: Connection reset by peer.
 */
#define EDDY_ECONNRESET -104

/**
 * `-EDEADLK`: Resource deadlock avoided.
 */
#define EDDY_EDEADLK -35

/**
 * `-EDESTADDRREQ`: Destination address required.
 */
#define EDDY_EDESTADDRREQ -89

/**
 * `-EDOM`: Numerical argument out of domain.
 */
#define EDDY_EDOM -33

/**
 * `-EEXIST`: File exists.
 */
#define EDDY_EEXIST -17

/**
 * `-EFAULT`: Bad address.
 */
#define EDDY_EFAULT -14

/**
 * `-EFBIG`: File too large.
 */
#define EDDY_EFBIG -27

/**
 * `-EHOSTDOWN`: Host is down.
 */
#define EDDY_EHOSTDOWN -112

/**
 * `-EHOSTUNREACH`: No route to host.
 */
#define EDDY_EHOSTUNREACH -113

/**
 * `-EILSEQ`: Invalid or incomplete multibyte or wide character.
 */
#define EDDY_EILSEQ -84

/**
 * `-EINPROGRESS`: Operation now in progress.
 */
#define EDDY_EINPROGRESS -115

/**
 * `-EINTR`: Interrupted system call.
 */
#define EDDY_EINTR -4

/**
 * `-EINVAL`: Invalid argument.
 */
#define EDDY_EINVAL -22

/**
 * `-EIO`: Input/output error.
 */
#define EDDY_EIO -5

/**
 * `-EISCONN`: Transport endpoint is already connected.
 */
#define EDDY_EISCONN -106

/**
 * `-EISDIR`: Is a directory.
 */
#define EDDY_EISDIR -21

/**
 * `-ELOOP`: Too many levels of symbolic links.
 */
#define EDDY_ELOOP -40

/**
 * `-EMFILE`: Too many open files.
 */
#define EDDY_EMFILE -24

/**
 * `-EMLINK`: Too many links.
 */
#define EDDY_EMLINK -31

/**
 * `-EMSGSIZE`: Message too long.
 */
#define EDDY_EMSGSIZE -90

/**
 * `-ENAMETOOLONG`: File name too long.
 */
#define EDDY_ENAMETOOLONG -36

/**
 * `-ENETDOWN`: Network is down.
 */
#define EDDY_ENETDOWN -100

/**
 * `-ENETRESET`: Network dropped connection on reset.
 */
#define EDDY_ENETRESET -102

/**
 * `-ENETUNREACH`: Network is unreachable.
 */
#define EDDY_ENETUNREACH -101

/**
 * `-ENFILE`: Too many open files in system.
 */
#define EDDY_ENFILE -23

/**
 * `-ENOBUFS`: No buffer space available.
 */
#define EDDY_ENOBUFS -105

/**
 * `-ENODATA`: No data available.
 */
#define EDDY_ENODATA -61

/**
 * `-ENODEV`: No such device.
 */
#define EDDY_ENODEV -19

/**
 * `-ENOENT`: No such file or directory.
 */
#define EDDY_ENOENT -2

/**
 * `-ENOEXEC`: Exec format error.
 */
#define EDDY_ENOEXEC -8

/**
 * `-ENOLCK`: No locks available.
 */
#define EDDY_ENOLCK -37

/**
 * `-ENOMEM`: Cannot allocate memory.
 */
#define EDDY_ENOMEM -12

/**
 * `-ENONET`: Machine is not on the network.
 */
#define EDDY_ENONET -64

/**
 * `-ENOPROTOOPT`: Protocol not available.
 */
#define EDDY_ENOPROTOOPT -92

/**
 * `-ENOSPC`: No space left on device.
 */
#define EDDY_ENOSPC -28

/**
 * `-ENOSYS`: Function not implemented.
 */
#define EDDY_ENOSYS -38

/**
 * `-ENOTBLK`: Block device required.
 */
#define EDDY_ENOTBLK -15

/**
 * `-ENOTCONN`: Transport endpoint is not connected.
 */
#define EDDY_ENOTCONN -107

/**
 * `-ENOTDIR`: Not a directory.
 */
#define EDDY_ENOTDIR -20

/**
 * `-ENOTEMPTY`: Directory not empty.
 */
#define EDDY_ENOTEMPTY -39

/**
 * `-ENOTSOCK`: Socket operation on non-socket.
 */
#define EDDY_ENOTSOCK -88

/**
 * `-ENOTSUP`: Operation not supported.
 */
#define EDDY_ENOTSUP -95

/**
 * `-ENOTTY`: Inappropriate ioctl for device.
 */
#define EDDY_ENOTTY -25

/**
 * `-ENXIO`: No such device or address.
 */
#define EDDY_ENXIO -6

/**
 * `-EOVERFLOW`: Value too large for defined data type.
 */
#define EDDY_EOVERFLOW -75

/**
 * `-EPERM`: Operation not permitted.
 */
#define EDDY_EPERM -1

/**
 * `-EPIPE`: Broken pipe.
 */
#define EDDY_EPIPE -32

/**
 * `-EPROTO`: Protocol error.
 */
#define EDDY_EPROTO -71

/**
 * `-EPROTONOSUPPORT`: Protocol not supported.
 */
#define EDDY_EPROTONOSUPPORT -93

/**
 * `-EPROTOTYPE`: Protocol wrong type for socket.
 */
#define EDDY_EPROTOTYPE -91

/**
 * `-ERANGE`: Numerical result out of range.
 */
#define EDDY_ERANGE -34

/**
 * `-EREMOTEIO`: Remote I/O error.
 */
#define EDDY_EREMOTEIO -121

/**
 * `-EROFS`: Read-only file system.
 */
#define EDDY_EROFS -30

/**
 * `-ESHUTDOWN`: Cannot send after transport endpoint shutdown.
 */
#define EDDY_ESHUTDOWN -108

/**
 * `-ESOCKTNOSUPPORT`: Socket type not supported.
 */
#define EDDY_ESOCKTNOSUPPORT -94

/**
 * `-ESPIPE`: Illegal seek.
 */
#define EDDY_ESPIPE -29

/**
 * `-ESRCH`: No such process.
 */
#define EDDY_ESRCH -3

/**
 * `-ETIME`: Timer expired.
 */
#define EDDY_ETIME -62

/**
 * `-ETIMEDOUT`: Connection timed out.
 */
#define EDDY_ETIMEDOUT -110

/**
 * `-ETXTBSY`: Text file busy.
 */
#define EDDY_ETXTBSY -26

/**
 * `-EUNATCH`: Protocol driver not attached.
 */
#define EDDY_EUNATCH -49

/**
 * `-EXDEV`: Invalid cross-device link.
 */
#define EDDY_EXDEV -18

/**
 * eddy: object is closed.
 */
#define EDDY_ECLOSED -4001

/**
 * eddy: an event loop is already running.
 */
#define EDDY_ERUNNING -4002

/**
 * eddy: invalid state.
 */
#define EDDY_EINVALSTATE -4003

/**
 * eddy: non-thread-safe call from a thread other than the loop's.
 */
#define EDDY_EWRONGTHREAD -4004

/**
 * eddy: internal error: a Rust panic was caught.
 */
#define EDDY_EPANIC -4005

/**
 * eddy: TLS error.
 */
#define EDDY_ETLS -4006

/**
 * getaddrinfo `EAI_ADDRFAMILY`: address family for hostname not supported.
 */
#define EDDY_EAI_ADDRFAMILY -4100

/**
 * getaddrinfo `EAI_AGAIN`: temporary failure in name resolution.
 */
#define EDDY_EAI_AGAIN -4101

/**
 * getaddrinfo `EAI_BADFLAGS`: bad value for ai_flags.
 */
#define EDDY_EAI_BADFLAGS -4102

/**
 * getaddrinfo `EAI_CANCELED`: request canceled.
 */
#define EDDY_EAI_CANCELED -4103

/**
 * getaddrinfo `EAI_FAIL`: non-recoverable failure in name resolution.
 */
#define EDDY_EAI_FAIL -4104

/**
 * getaddrinfo `EAI_FAMILY`: ai_family not supported.
 */
#define EDDY_EAI_FAMILY -4105

/**
 * getaddrinfo `EAI_MEMORY`: memory allocation failure.
 */
#define EDDY_EAI_MEMORY -4106

/**
 * getaddrinfo `EAI_NODATA`: no address associated with hostname.
 */
#define EDDY_EAI_NODATA -4107

/**
 * getaddrinfo `EAI_NONAME`: name or service not known.
 */
#define EDDY_EAI_NONAME -4108

/**
 * getaddrinfo `EAI_OVERFLOW`: argument buffer overflow.
 */
#define EDDY_EAI_OVERFLOW -4109

/**
 * getaddrinfo `EAI_PROTOCOL`: resolved protocol is unknown.
 */
#define EDDY_EAI_PROTOCOL -4110

/**
 * getaddrinfo `EAI_SERVICE`: servname not supported for ai_socktype.
 */
#define EDDY_EAI_SERVICE -4111

/**
 * getaddrinfo `EAI_SOCKTYPE`: ai_socktype not supported.
 */
#define EDDY_EAI_SOCKTYPE -4112

/**
 * getaddrinfo `EAI_SYSTEM`: system error.
 */
#define EDDY_EAI_SYSTEM -4113

/**
 * The library's major version.
 */
#define EDDY_VERSION_MAJOR 0

/**
 * The library's minor version (part of the soname before 1.0).
 */
#define EDDY_VERSION_MINOR 1

/**
 * The library's patch version.
 */
#define EDDY_VERSION_PATCH 0

/**
 * `(major << 16) | (minor << 8) | patch`, as returned by `eddy_version()`.
 */
#define EDDY_VERSION_HEX 256

/**
 * A pipe between the parent and the child (the default).
 */
#define EDDY_SUBPROCESS_PIPE -1

/**
 * stderr only: into the same place as stdout.
 */
#define EDDY_SUBPROCESS_STDOUT -2

/**
 * /dev/null.
 */
#define EDDY_SUBPROCESS_DEVNULL -3

/**
 * The parent's own.
 */
#define EDDY_SUBPROCESS_INHERIT -4

/**
 * The largest PEM file the TLS loaders read (4 MiB; `EDDY_EFBIG` past
 * it): far more than a certificate
 * chain, a key or a CA bundle needs (a system bundle is about 200 KiB),
 * and small enough that a wrong path (/dev/zero, a disk image) cannot take
 * the process's memory.
 */
#define EDDY_TLS_MAX_PEM_FILE (4 << 20)

typedef struct eddy_datagram_t eddy_datagram_t;

typedef struct eddy_loop_t eddy_loop_t;

/**
 * A thread pool. Threads start on demand, up to `max_workers`.
 */
typedef struct eddy_executor_t eddy_executor_t;

typedef struct eddy_future_t eddy_future_t;

/**
 * A scheduled callback (asyncio's `Handle` and `TimerHandle`).
 */
typedef struct eddy_handle_t eddy_handle_t;

typedef struct eddy_process_t eddy_process_t;

typedef struct eddy_server_t eddy_server_t;

/**
 * A TLS configuration (`eddy_tls_config_t`): a connection takes a
 * snapshot when it starts, so later changes affect later connections only.
 */
typedef struct eddy_tls_config_t eddy_tls_config_t;

typedef struct eddy_transport_t eddy_transport_t;

/**
 * create_datagram_endpoint's options; fill with
 * `eddy_datagram_options_init`.
 */
typedef struct eddy_datagram_options_t {
  /**
   * AF_UNIX: the path to bind.
   */
  const char *local_host;
  uint16_t local_port;
  /**
   * AF_UNIX: the path to connect to.
   */
  const char *remote_host;
  uint16_t remote_port;
  int family;
  int proto;
  int flags;
  bool reuse_port;
  bool allow_broadcast;
  /**
   * -1: none; else use this datagram socket (no other option allowed).
   */
  int sock;
} eddy_datagram_options_t;

/**
 * Callbacks of a datagram protocol.
 */
typedef struct eddy_datagram_protocol_t {
  void (*connection_made)(struct eddy_datagram_t *d, void *ud);
  void (*connection_lost)(struct eddy_datagram_t *d, int err, void *ud);
  void (*pause_writing)(struct eddy_datagram_t *d, void *ud);
  void (*resume_writing)(struct eddy_datagram_t *d, void *ud);
  void (*datagram_received)(struct eddy_datagram_t *d,
                            const uint8_t *data,
                            size_t len,
                            const struct sockaddr *addr,
                            socklen_t addrlen,
                            void *ud);
  /**
   * An error from a send or a receive (ICMP: ECONNREFUSED; EMSGSIZE);
   * the endpoint stays open.
   */
  void (*error_received)(struct eddy_datagram_t *d, int err, void *ud);
} eddy_datagram_protocol_t;

/**
 * create_connection's options; fill with `eddy_connection_options_init`.
 */
typedef struct eddy_connection_options_t {
  /**
   * 0: any.
   */
  int family;
  int proto;
  int flags;
  /**
   * Bind locally first (NULL and 0: don't).
   */
  const char *local_host;
  uint16_t local_port;
  /**
   * < 0: off (asyncio's None, the default); else Happy Eyeballs.
   */
  double happy_eyeballs_delay;
  /**
   * 0: asyncio's None.
   */
  int interleave;
  bool all_errors;
  /**
   * -1: none; else connect this connected socket instead.
   */
  int sock;
  /**
   * A client configuration (`eddy_tls_config_new_client`); NULL: plain.
   * connect_accepted_socket takes a server configuration instead.
   */
  struct eddy_tls_config_t *tls;
  /**
   * The name to verify (default: `host`; required for Unix sockets).
   */
  const char *server_hostname;
  /**
   * Seconds; 0: 60. Negative: `EDDY_EINVAL`.
   */
  double tls_handshake_timeout;
  /**
   * How long close waits for the peer's close_notify; 0: 30.
   */
  double tls_shutdown_timeout;
} eddy_connection_options_t;

/**
 * create_server's options; fill with `eddy_server_options_init`.
 */
typedef struct eddy_server_options_t {
  int family;
  int flags;
  /**
   * 100.
   */
  int backlog;
  /**
   * true.
   */
  bool reuse_address;
  bool reuse_port;
  bool keep_alive;
  /**
   * true.
   */
  bool start_serving;
  /**
   * true: a Unix server unlinks its path on close.
   */
  bool cleanup_socket;
  /**
   * Listen on these bound sockets instead of host/port.
   */
  const int *socks;
  size_t nsocks;
  /**
   * A server configuration (`eddy_tls_config_new_server`); NULL: plain.
   */
  struct eddy_tls_config_t *tls;
  /**
   * Seconds; 0: 60. Negative: `EDDY_EINVAL`.
   */
  double tls_handshake_timeout;
  /**
   * How long close waits for the peer's close_notify; 0: 30.
   */
  double tls_shutdown_timeout;
} eddy_server_options_t;

/**
 * Callbacks of a stream protocol (Protocol and BufferedProtocol).
 */
typedef struct eddy_protocol_t {
  void (*connection_made)(struct eddy_transport_t *t, void *ud);
  /**
   * `err` 0: clean close or EOF.
   */
  void (*connection_lost)(struct eddy_transport_t *t, int err, void *ud);
  void (*pause_writing)(struct eddy_transport_t *t, void *ud);
  void (*resume_writing)(struct eddy_transport_t *t, void *ud);
  void (*data_received)(struct eddy_transport_t *t, const uint8_t *data, size_t len, void *ud);
  /**
   * true: keep the write side open.
   */
  bool (*eof_received)(struct eddy_transport_t *t, void *ud);
  /**
   * Buffered protocol: store a buffer of `*len` (> 0) bytes in `*buf`
   * and return 0, or return a negative code (a fatal error).
   * `sizehint` 0 means no hint.
   */
  int (*get_buffer)(struct eddy_transport_t *t, size_t sizehint, void **buf, size_t *len, void *ud);
  void (*buffer_updated)(struct eddy_transport_t *t, size_t nbytes, void *ud);
} eddy_protocol_t;

/**
 * Called by a server once per accepted connection: store the protocol
 * table and its data in `*proto` / `*ud` and return 0, or return a
 * negative code to refuse (the connection is closed).
 */
typedef int (*eddy_protocol_factory_fn)(void *factory_ud,
                                        const struct eddy_protocol_t **proto,
                                        void **ud);

/**
 * A plain callback: runs with the data pointer given when it was scheduled.
 */
typedef void (*eddy_callback_fn)(void *user_data);

/**
 * What the exception handler is told (asyncio's context dict). Pointers
 * are borrowed for the duration of the handler call.
 */
typedef struct eddy_error_context_t {
  /**
   * Never NULL.
   */
  const char *message;
  /**
   * 0 or an `EDDY_E*` code.
   */
  int error;
  struct eddy_handle_t *handle;
  struct eddy_future_t *future;
  struct eddy_transport_t *transport;
  struct eddy_datagram_t *datagram;
  struct eddy_process_t *process;
  struct eddy_server_t *server;
} eddy_error_context_t;

/**
 * An exception handler: called on the loop's thread with the context.
 */
typedef void (*eddy_exception_handler_fn)(struct eddy_loop_t *loop,
                                          const struct eddy_error_context_t *ctx,
                                          void *user_data);

/**
 * A task's step function (C's stand-in for a coroutine).
 */
typedef void (*eddy_task_step_fn)(struct eddy_future_t *task, void *user_data);

/**
 * A task factory: make a task for `step`/`step_ud` and store one reference
 * to it in `*out`; return 0 or a negative code.
 */
typedef int (*eddy_task_factory_fn)(struct eddy_loop_t *loop,
                                    eddy_task_step_fn step,
                                    void *step_ud,
                                    struct eddy_future_t **out,
                                    void *factory_ud);

/**
 * What the loop reports about itself (`eddy_loop_get_metrics`), counted
 * since the loop was made. Set `size` to `sizeof` the struct before the
 * call: later versions add fields at the end, and the library fills only
 * those that fit in `size`.
 *
 * eddy's addition (libuv's `uv_metrics_t` and `uv_metrics_idle_time`).
 */
typedef struct eddy_loop_metrics_t {
  /**
   * Set by the caller: the size of the struct it passes.
   */
  size_t size;
  /**
   * Loop iterations (passes of run_forever's loop, or run_once calls that
   * ran).
   */
  uint64_t iterations;
  /**
   * I/O readiness events the poll delivered (one per ready fd per poll,
   * the loop's own wake-up and signal fds included).
   */
  uint64_t events;
  /**
   * Callbacks run: call_soon and timer callbacks, I/O handling (transport
   * and server events), task steps, done callbacks. Cancelled handles are
   * not counted.
   */
  uint64_t callbacks;
  /**
   * Seconds spent blocked in the poll (libuv's `uv_metrics_idle_time`);
   * event-loop utilisation over an interval is 1 - idle / elapsed.
   */
  double idle_time;
  /**
   * Timers scheduled: call_later, call_at and the library's own.
   */
  uint64_t timers_scheduled;
  /**
   * fds in the loop's poller now: transports, servers, datagram
   * endpoints, subprocess pipes.
   */
  uint64_t io_handles;
} eddy_loop_metrics_t;

/**
 * Work for an executor: runs on a worker thread; stores its value in
 * `*result_ptr` / `*result_n` and returns 0, or returns a negative code
 * that becomes the future's error.
 */
typedef int (*eddy_work_fn)(void *user_data, void **result_ptr, int64_t *result_n);

/**
 * A done callback: the future is borrowed for the call.
 */
typedef void (*eddy_future_cb)(struct eddy_future_t *fut, void *user_data);

/**
 * asyncio's AbstractEventLoopPolicy as a table of functions. Every
 * function member must be set.
 */
typedef struct eddy_policy_t {
  /**
   * Stores this thread's current loop in `*out` (borrowed), or returns
   * `EDDY_ENOENT`.
   */
  int (*get_event_loop)(void *ud, struct eddy_loop_t **out);
  /**
   * Makes `loop` (NULL: none) this thread's current loop; keeps a
   * reference.
   */
  int (*set_event_loop)(void *ud, struct eddy_loop_t *loop);
  /**
   * Creates a loop and stores one reference in `*out`.
   */
  int (*new_event_loop)(void *ud, struct eddy_loop_t **out);
  void *ud;
} eddy_policy_t;

/**
 * Options for the subprocess functions; fill with
 * `eddy_subprocess_options_init`.
 */
typedef struct eddy_subprocess_options_t {
  /**
   * One of the EDDY_SUBPROCESS_* modes or an fd >= 0 (the child gets a
   * copy; the fd stays the caller's).
   */
  int stdin_fd;
  int stdout_fd;
  int stderr_fd;
  /**
   * NULL: inherit.
   */
  const char *cwd;
  /**
   * NULL-terminated "K=V" strings; NULL: inherit.
   */
  const char *const *env;
  /**
   * true: the child gets no fd but 0, 1, 2 (and `pass_fds`).
   */
  bool close_fds;
  bool start_new_session;
  /**
   * fds the child inherits at the same numbers, whatever `close_fds`
   * says (Popen's pass_fds). They stay the caller's: not closed, their
   * close-on-exec flag in the parent unchanged. Read during the call
   * only. A negative fd: `EDDY_EINVAL`; one that is not open: the
   * future fails with `EDDY_EBADF`. 0, 1 and 2 are the child's stdio
   * whatever this says.
   */
  const int *pass_fds;
  /**
   * NULL with a non-zero count: `EDDY_EINVAL`; more than 2^20:
   * `EDDY_E2BIG`.
   */
  size_t npass_fds;
} eddy_subprocess_options_t;

/**
 * Callbacks of a subprocess protocol.
 */
typedef struct eddy_subprocess_protocol_t {
  void (*connection_made)(struct eddy_process_t *p, void *ud);
  /**
   * Last: after the child exited and every pipe closed.
   */
  void (*connection_lost)(struct eddy_process_t *p, int err, void *ud);
  void (*pause_writing)(struct eddy_process_t *p, void *ud);
  void (*resume_writing)(struct eddy_process_t *p, void *ud);
  /**
   * Output of the child's fd 1 or 2.
   */
  void (*pipe_data_received)(struct eddy_process_t *p,
                             int fd,
                             const uint8_t *data,
                             size_t len,
                             void *ud);
  /**
   * Once per piped fd (0, 1, 2).
   */
  void (*pipe_connection_lost)(struct eddy_process_t *p, int fd, int err, void *ud);
  void (*process_exited)(struct eddy_process_t *p, void *ud);
} eddy_subprocess_protocol_t;

/**
 * A buffer for `eddy_transport_writelines`.
 */
typedef struct eddy_buf_t {
  const void *base;
  size_t len;
} eddy_buf_t;

/**
 * `getnameinfo`'s result (free with `eddy_free`).
 */
typedef struct eddy_nameinfo_t {
  char host[1025];
  char serv[32];
} eddy_nameinfo_t;

/**
 * `sock_recvfrom`'s result: one allocation, `data` points just past the
 * struct (free the whole with `eddy_free`).
 */
typedef struct eddy_datagram_msg_t {
  struct sockaddr_storage addr;
  socklen_t addrlen;
  size_t len;
  uint8_t *data;
} eddy_datagram_msg_t;

#ifdef __cplusplus
extern "C" {
#endif // __cplusplus

/**
 * No addresses, family 0, sock -1. NULL is a no-op (nothing to fill).
 */
void eddy_datagram_options_init(struct eddy_datagram_options_t *o);

/**
 * A datagram endpoint bound to the local address and/or connected to the
 * remote one (names resolved off the loop). The future's value is the
 * `eddy_datagram_t*` (borrowed until its connection_lost returns).
 */
int eddy_loop_create_datagram_endpoint(struct eddy_loop_t *loop,
                                       const struct eddy_datagram_protocol_t *proto,
                                       void *ud,
                                       const struct eddy_datagram_options_t *opts,
                                       struct eddy_future_t **out);

/**
 * Sends one datagram (empty ones too) to `addr`, or to the remote address
 * when `addr` is NULL. `EDDY_EINVAL` for an address other than the
 * endpoint's remote one, or none where there is none; `EDDY_ECLOSED`
 * once closing. A send error goes to error_received; the endpoint stays
 * open.
 */
int eddy_datagram_sendto(struct eddy_datagram_t *d,
                         const void *data,
                         size_t len,
                         const struct sockaddr *addr,
                         socklen_t addrlen);

/**
 * Drops queued datagrams; connection_lost(0) follows.
 */
int eddy_datagram_abort(struct eddy_datagram_t *d);

/**
 * Sends what is queued, then connection_lost(0). Idempotent.
 */
int eddy_datagram_close(struct eddy_datagram_t *d);

/**
 * 1 once closing.
 */
int eddy_datagram_is_closing(const struct eddy_datagram_t *d);

/**
 * "sockname", "peername" (connected endpoints) and "socket", as for
 * transports.
 */
int eddy_datagram_get_extra_info(const struct eddy_datagram_t *d,
                                 const char *name,
                                 void *buf,
                                 size_t *len);

/**
 * Queued bytes, counting 8 more per datagram (asyncio 3.13).
 */
size_t eddy_datagram_get_write_buffer_size(const struct eddy_datagram_t *d);

/**
 * Switches the protocol for the next event.
 */
int eddy_datagram_set_protocol(struct eddy_datagram_t *d,
                               const struct eddy_datagram_protocol_t *proto,
                               void *ud);

/**
 * The current protocol and its data (NULL after connection_lost).
 */
int eddy_datagram_get_protocol(const struct eddy_datagram_t *d,
                               const struct eddy_datagram_protocol_t **proto,
                               void **ud);

/**
 * Takes one more reference. Thread-safe; NULL is a no-op.
 */
void eddy_datagram_retain(struct eddy_datagram_t *d);

/**
 * Drops one reference. Thread-safe; NULL is a no-op.
 */
void eddy_datagram_release(struct eddy_datagram_t *d);

/**
 * Resolves `host`/`port` (either may be NULL) off the loop's thread. The
 * future's pointer is a `struct addrinfo` list for `eddy_freeaddrinfo`;
 * failures are `EDDY_EAI_*` codes.
 */
int eddy_loop_getaddrinfo(struct eddy_loop_t *loop,
                          const char *host,
                          const char *port,
                          const struct addrinfo *hints,
                          struct eddy_future_t **out);

/**
 * Looks up the host and service names of `addr` off the loop's thread.
 * The future's pointer is an `eddy_nameinfo_t` (free with `eddy_free`).
 */
int eddy_loop_getnameinfo(struct eddy_loop_t *loop,
                          const struct sockaddr *addr,
                          socklen_t addrlen,
                          int flags,
                          struct eddy_future_t **out);

/**
 * Frees a list from `eddy_loop_getaddrinfo`. NULL is a no-op.
 */
void eddy_freeaddrinfo(struct addrinfo *ai);

/**
 * asyncio's defaults: no local address, Happy Eyeballs off, no socket,
 * no TLS, timeouts 60 s and 30 s. NULL is a no-op (nothing to fill).
 */
void eddy_connection_options_init(struct eddy_connection_options_t *o);

/**
 * asyncio's defaults: backlog 100, reuse_address on, start_serving on,
 * cleanup_socket on. NULL is a no-op (nothing to fill).
 */
void eddy_server_options_init(struct eddy_server_options_t *o);

/**
 * Connects to `host`:`port` (resolved off the loop; every address tried
 * in order, or raced with Happy Eyeballs) and makes a transport for
 * `proto`. The future's value is the `eddy_transport_t*` (borrowed: valid
 * until its connection_lost returns); it completes after connection_made.
 */
int eddy_loop_create_connection(struct eddy_loop_t *loop,
                                const struct eddy_protocol_t *proto,
                                void *ud,
                                const char *host,
                                uint16_t port,
                                const struct eddy_connection_options_t *opts,
                                struct eddy_future_t **out);

/**
 * Listens on every address of `host` (NULL: all interfaces) and `port`
 * (0: an ephemeral port per family); `factory` makes each connection's
 * protocol. The future's value is the `eddy_server_t*`, owned by the
 * future (retain it to keep it longer); a serving server keeps serving
 * until closed.
 */
int eddy_loop_create_server(struct eddy_loop_t *loop,
                            eddy_protocol_factory_fn factory_fn,
                            void *factory_ud,
                            const char *host,
                            uint16_t port,
                            const struct eddy_server_options_t *opts,
                            struct eddy_future_t **out);

/**
 * Connects to the Unix socket at `path` (or `opts->sock`).
 */
int eddy_loop_create_unix_connection(struct eddy_loop_t *loop,
                                     const struct eddy_protocol_t *proto,
                                     void *ud,
                                     const char *path,
                                     const struct eddy_connection_options_t *opts,
                                     struct eddy_future_t **out);

/**
 * Listens on the Unix socket `path` (a stale socket file there is removed
 * first; any other file is `EDDY_EADDRINUSE`), or on `opts->socks`.
 */
int eddy_loop_create_unix_server(struct eddy_loop_t *loop,
                                 eddy_protocol_factory_fn factory_fn,
                                 void *factory_ud,
                                 const char *path,
                                 const struct eddy_server_options_t *opts,
                                 struct eddy_future_t **out);

/**
 * Makes a transport for an already connected stream socket `fd` (eddy
 * owns it once this returns 0). With `opts->tls`, a server configuration
 * (`eddy_tls_config_new_server`), eddy is the TLS server on it: the
 * future completes with the TLS transport after the handshake (a client
 * configuration or a `server_hostname` is `EDDY_EINVAL`). The other
 * options are connect's and do not apply.
 */
int eddy_loop_connect_accepted_socket(struct eddy_loop_t *loop,
                                      const struct eddy_protocol_t *proto,
                                      void *ud,
                                      int fd,
                                      const struct eddy_connection_options_t *opts,
                                      struct eddy_future_t **out);

/**
 * A read transport for a pipe, socket or character device `fd` (made
 * non-blocking; eddy owns it once this returns 0).
 */
int eddy_loop_connect_read_pipe(struct eddy_loop_t *loop,
                                const struct eddy_protocol_t *proto,
                                void *ud,
                                int fd,
                                struct eddy_future_t **out);

/**
 * A write transport for a pipe, socket or character device `fd`; notices
 * the reader going away.
 */
int eddy_loop_connect_write_pipe(struct eddy_loop_t *loop,
                                 const struct eddy_protocol_t *proto,
                                 void *ud,
                                 int fd,
                                 struct eddy_future_t **out);

/**
 * A static, NUL-terminated description of `err` (0 or an `EDDY_E*` code).
 * Never NULL; unknown codes give "unknown error". Thread-safe.
 */
const char *eddy_strerror(int err);

/**
 * The symbolic name of `err` ("EDDY_EINVAL"), static. Never NULL; unknown
 * codes give "EDDY_UNKNOWN". Thread-safe.
 */
const char *eddy_err_name(int err);

/**
 * The runtime library's version as `EDDY_VERSION_HEX` encodes it.
 */
unsigned int eddy_version(void);

/**
 * The runtime library's version as "MAJOR.MINOR.PATCH" (static).
 */
const char *eddy_version_string(void);

/**
 * Frees memory the library allocated for the caller (a sock_recv buffer,
 * an `eddy_nameinfo_t`, ...). NULL is a no-op.
 */
void eddy_free(void *p);

/**
 * Runs the loop until `eddy_loop_stop` is called. `EDDY_ERUNNING` when this
 * or another loop is already running in this thread, or this loop in
 * another thread; `EDDY_ECLOSED` after close.
 */
int eddy_loop_run_forever(struct eddy_loop_t *loop);

/**
 * Runs the loop until `fut` is done and returns its outcome: 0 for a
 * result, its error code, or `EDDY_ECANCELED`. `EDDY_EINVALSTATE` when the
 * loop was stopped before the future completed; `EDDY_EINVAL` for a future
 * of another loop.
 */
int eddy_loop_run_until_complete(struct eddy_loop_t *loop, struct eddy_future_t *fut);

/**
 * Asks the loop to stop once the callbacks of the current iteration have
 * run. Before run_forever, the next run does exactly one iteration.
 */
int eddy_loop_stop(struct eddy_loop_t *loop);

/**
 * Closes the loop: pending callbacks are dropped without running, pending
 * tasks are reported as destroyed, and every fd the loop holds is closed.
 * Idempotent; `EDDY_ERUNNING` while it runs. Once it returns, eddy calls
 * nothing this loop was given again (callbacks, done callbacks, protocols,
 * factories), whatever is then done with its futures, handles, transports
 * and servers: every `ud` lent to the loop may be freed.
 */
int eddy_loop_close(struct eddy_loop_t *loop);

/**
 * 1 while run_forever, run_until_complete or run_once executes, else 0.
 */
int eddy_loop_is_running(const struct eddy_loop_t *loop);

/**
 * 1 after close, else 0. Thread-safe.
 */
int eddy_loop_is_closed(const struct eddy_loop_t *loop);

/**
 * C has no async generators: cancels every pending task; `*out` (may be
 * NULL) completes once all of them have finished.
 */
int eddy_loop_shutdown_asyncgens(struct eddy_loop_t *loop, struct eddy_future_t **out);

/**
 * Takes one more reference to the loop. Thread-safe; NULL is a no-op.
 */
void eddy_loop_retain(struct eddy_loop_t *loop);

/**
 * Drops one reference. When the last user reference goes, the loop is
 * closed first (or, if it is running, when run_forever returns). NULL is a
 * no-op.
 */
void eddy_loop_release(struct eddy_loop_t *loop);

/**
 * Turns debug mode on or off: slow callbacks and slow getaddrinfo lookups
 * are reported, and calls from a thread other than the running loop's
 * return `EDDY_EWRONGTHREAD`.
 */
int eddy_loop_set_debug(struct eddy_loop_t *loop, bool enabled);

/**
 * 1 in debug mode, else 0.
 */
int eddy_loop_get_debug(const struct eddy_loop_t *loop);

/**
 * In debug mode, callbacks (and getaddrinfo lookups) taking at least this
 * long are reported to the exception handler (default 0.1 s). `EDDY_EINVAL`
 * for negative or NaN.
 */
int eddy_loop_set_slow_callback_duration(struct eddy_loop_t *loop, double seconds);

/**
 * While callbacks are ready (the poll would not block), skips the poll of
 * an iteration that comes less than `seconds` after the last poll: a loop
 * busy with chains of callbacks makes no system call per iteration and
 * sees fds become ready at most `seconds` (and 8 iterations) late. The
 * clock is read every 8th iteration that skipped. Polls that may block, the
 * first iteration of each run_forever and every run_once still poll;
 * call_soon_threadsafe work is taken every iteration. 0 (the default)
 * polls every iteration, as asyncio does. `EDDY_EINVAL` for negative or
 * NaN.
 *
 * eddy's addition (libuv and asyncio always poll).
 */
int eddy_loop_set_busy_poll_interval(struct eddy_loop_t *loop, double seconds);

/**
 * For a binding that keeps its own queue of ready callbacks and runs it
 * from one eddy callback, rescheduled with `eddy_loop_call_soon` while
 * its queue is not empty (as the Python binding does): returns 1 when the
 * loop's next iteration would do nothing but run that callback again, and
 * counts that iteration as run, so the caller may take its next batch at
 * once instead of going through the loop. That is when a busy-poll
 * interval is set (`eddy_loop_set_busy_poll_interval`) and lets the
 * iteration skip its poll, the loop is running, no stop was asked, and
 * no other callback, no timer (due or not), no fd watcher event and no
 * call_soon_threadsafe work is waiting. Returns 0 otherwise (then the
 * caller reschedules and returns; if the poll was due, the next iteration
 * makes it). `ran` is how many callbacks the caller's batch just ran:
 * the loop reads its clock once 8 of them (or of its own skipped polls)
 * have added up, so a long batch is followed by a poll once the interval
 * is over. `EDDY_EINVAL` for NULL.
 *
 * eddy's addition (asyncio and libuv have no such call).
 */
int eddy_loop_claim_iteration(struct eddy_loop_t *loop, size_t ran);

/**
 * With `on` non-zero, each iteration runs the callbacks that were ready
 * when it began before it polls, then the I/O callbacks and the due
 * timers: an fd those callbacks make ready (a peer's reply to what they
 * wrote) is seen in the same iteration, ahead of the callbacks they
 * scheduled. That is libuv's order (idle work before the poll), which
 * uvloop gives Python; a request-response server then finds the next
 * request already read when its handler's task resumes. 0, the default,
 * polls first, as asyncio does (docs/semantics.md item 3). Either way the
 * callbacks within a phase keep their order, what any callback schedules
 * runs in the next iteration, and a timer runs where asyncio's order puts
 * it: only those due when the iteration began run in it. `EDDY_EINVAL`
 * for NULL.
 *
 * eddy's addition (asyncio polls first; libuv always polls late).
 */
int eddy_loop_set_late_poll(struct eddy_loop_t *loop, int on);

/**
 * Calls `before(ud)` just before every poll that may block and `after(ud)`
 * as soon as it returns, on the loop's thread: an embedder that holds a
 * lock while its callbacks run (an interpreter lock) lets go of it only
 * while the loop waits. The non-blocking poll of an iteration with
 * callbacks ready is not wrapped. The hooks must not call into the loop.
 * Both NULL removes them; one NULL is `EDDY_EINVAL`.
 *
 * eddy's addition (libuv's prepare/check handles run around every poll).
 */
int eddy_loop_set_poll_hooks(struct eddy_loop_t *loop,
                             eddy_callback_fn before,
                             eddy_callback_fn after,
                             void *ud);

double eddy_loop_time(const struct eddy_loop_t *loop);

/**
 * Schedules `cb(ud)` for the next iteration, after the callbacks already
 * queued. `*out` receives a handle for cancelling it; it may be NULL, and
 * then no handle is made (the callback still runs).
 */
int eddy_loop_call_soon(struct eddy_loop_t *loop,
                        eddy_callback_fn cb,
                        void *ud,
                        struct eddy_handle_t **out);

/**
 * call_soon from any thread: wakes the loop if it is waiting. Wake-ups are
 * coalesced. `EDDY_ECLOSED` once the loop is closed. `out` may be NULL,
 * as for call_soon.
 */
int eddy_loop_call_soon_threadsafe(struct eddy_loop_t *loop,
                                   eddy_callback_fn cb,
                                   void *ud,
                                   struct eddy_handle_t **out);

/**
 * Schedules `cb(ud)` `delay` seconds from now (negative: due now).
 * `EDDY_EINVAL` for NaN. Equal deadlines run in the order scheduled.
 * `out` may be NULL, as for call_soon.
 */
int eddy_loop_call_later(struct eddy_loop_t *loop,
                         double delay,
                         eddy_callback_fn cb,
                         void *ud,
                         struct eddy_handle_t **out);

/**
 * Schedules `cb(ud)` at `when` on the loop's clock (`eddy_loop_time`).
 * `out` may be NULL, as for call_soon.
 */
int eddy_loop_call_at(struct eddy_loop_t *loop,
                      double when,
                      eddy_callback_fn cb,
                      void *ud,
                      struct eddy_handle_t **out);

/**
 * Calls `cb(ud)` whenever `fd` is readable (level-triggered), replacing an
 * earlier reader of `fd`. The fd stays the caller's. `EDDY_EBUSY` for an
 * fd a transport, server or datagram endpoint owns (as for the other
 * three watcher functions and every `eddy_loop_sock_*`).
 */
int eddy_loop_add_reader(struct eddy_loop_t *loop, int fd, eddy_callback_fn cb, void *ud);

/**
 * 1 if a reader of `fd` was removed, 0 if there was none; `EDDY_EBUSY` as
 * for add_reader.
 */
int eddy_loop_remove_reader(struct eddy_loop_t *loop, int fd);

/**
 * Calls `cb(ud)` whenever `fd` is writable (level-triggered), replacing an
 * earlier writer of `fd`. `EDDY_EBUSY` as for add_reader.
 */
int eddy_loop_add_writer(struct eddy_loop_t *loop, int fd, eddy_callback_fn cb, void *ud);

/**
 * 1 if a writer of `fd` was removed, 0 if there was none; `EDDY_EBUSY` as
 * for add_reader.
 */
int eddy_loop_remove_writer(struct eddy_loop_t *loop, int fd);

/**
 * Passes `ctx` to the loop's exception handler (or the default one).
 * `EDDY_EINVAL` when `ctx` or its message is NULL.
 */
int eddy_loop_call_exception_handler(struct eddy_loop_t *loop,
                                     const struct eddy_error_context_t *ctx);

/**
 * Installs `fn(loop, ctx, ud)` as the exception handler; NULL restores the
 * default.
 */
int eddy_loop_set_exception_handler(struct eddy_loop_t *loop,
                                    eddy_exception_handler_fn fn,
                                    void *ud);

/**
 * Writes the handler and its data (NULL, NULL for the default). Either
 * output may be NULL.
 */
int eddy_loop_get_exception_handler(const struct eddy_loop_t *loop,
                                    eddy_exception_handler_fn *fn,
                                    void **ud);

/**
 * The default handler: writes the message and the context's fields to
 * stderr.
 */
int eddy_loop_default_exception_handler(struct eddy_loop_t *loop,
                                        const struct eddy_error_context_t *ctx);

/**
 * A new pending future on this loop (allowed on a closed loop, as in
 * asyncio).
 */
int eddy_loop_create_future(struct eddy_loop_t *loop, struct eddy_future_t **out);

/**
 * A task running `step(task, ud)` soon, through the task factory if one is
 * set. `*out` (may be NULL) receives a reference.
 */
int eddy_loop_create_task(struct eddy_loop_t *loop,
                          eddy_task_step_fn step,
                          void *ud,
                          struct eddy_future_t **out);

/**
 * Installs a task factory for `eddy_loop_create_task`; NULL restores the
 * default.
 */
int eddy_loop_set_task_factory(struct eddy_loop_t *loop, eddy_task_factory_fn fn, void *ud);

/**
 * Writes the factory and its data (NULL, NULL for the default). Either
 * output may be NULL.
 */
int eddy_loop_get_task_factory(const struct eddy_loop_t *loop, eddy_task_factory_fn *fn, void **ud);

/**
 * Runs `cb(ud)` on the loop, as an ordinary callback, once per delivery of
 * `signum`; replaces an earlier handler. `EDDY_EINVAL` for SIGKILL,
 * SIGSTOP and numbers outside 1..SIGRTMAX. The disposition it replaced is
 * restored on removal and when the loop closes.
 */
int eddy_loop_add_signal_handler(struct eddy_loop_t *loop,
                                 int signum,
                                 eddy_callback_fn cb,
                                 void *ud);

/**
 * 1 if a handler of `signum` was removed, 0 if there was none.
 */
int eddy_loop_remove_signal_handler(struct eddy_loop_t *loop, int signum);

/**
 * Runs one iteration of the loop, as one pass of `eddy_loop_run_forever`
 * (asyncio's `_run_once`): polls for I/O for at most `timeout` seconds (0:
 * does not block; negative: as long as the loop would, until the next timer
 * or forever when nothing is scheduled), then runs the callbacks that were
 * due when the iteration began; callbacks they schedule wait for the next
 * iteration. `eddy_loop_stop` during the iteration only ends it, as for
 * run_forever.
 *
 * Returns 1 while the loop still has work that could make progress (ready
 * callbacks, live timers, transports, servers, datagram endpoints, fd
 * watchers, signal handlers, executor work in flight), 0 when nothing is
 * left. Errors: `EDDY_EINVAL` for NULL or a NaN timeout, `EDDY_ECLOSED`
 * after close, `EDDY_ERUNNING` when this loop (run_forever, or run_once
 * from one of its callbacks) or another loop is running in this thread,
 * `EDDY_EWRONGTHREAD` from the wrong thread: the first run_once binds the
 * loop to its calling thread, and run_once from any other thread (or while
 * the loop runs in another thread) is refused.
 *
 * eddy's addition for embedding (libuv's `uv_run` with `UV_RUN_ONCE` or
 * `UV_RUN_NOWAIT`); asyncio has no public equivalent.
 */
int eddy_loop_run_once(struct eddy_loop_t *loop, double timeout);

/**
 * An fd that is readable while the loop has I/O events to process: a
 * foreign loop polls it (for reading) and calls `eddy_loop_run_once` when
 * it is. It is the same for the loop's life, close-on-exec, and belongs to
 * the loop: do not read, close or change it. Ready callbacks and due timers
 * do not make it readable: wait at most `eddy_loop_backend_timeout`.
 * `EDDY_EINVAL` for NULL, `EDDY_ECLOSED` after close. From the loop's
 * thread.
 *
 * eddy's addition for embedding (libuv's `uv_backend_fd`).
 */
int eddy_loop_backend_fd(const struct eddy_loop_t *loop);

/**
 * How long a foreign loop may wait on `eddy_loop_backend_fd` before it
 * calls `eddy_loop_run_once`: 0 when callbacks are ready or a timer is due,
 * the seconds until the next timer otherwise, -1 when nothing is scheduled
 * (wait for the fd alone). NaN for NULL or a closed loop. From the loop's
 * thread; the value holds until something is scheduled.
 *
 * eddy's addition for embedding (libuv's `uv_backend_timeout`).
 */
double eddy_loop_backend_timeout(const struct eddy_loop_t *loop);

/**
 * Fills `*out` with the loop's counters, up to `out->size` bytes: only the
 * fields that fit entirely are written (`size` itself is left as is).
 * `EDDY_EINVAL` for a NULL loop or `out`, or an `out->size` smaller than
 * `sizeof(size_t)`. Cheap (no syscall); from the loop's thread, callbacks
 * included. Works on a closed loop (the counters stay readable).
 *
 * eddy's addition (libuv's `uv_metrics_info`).
 */
int eddy_loop_get_metrics(const struct eddy_loop_t *loop, struct eddy_loop_metrics_t *out);

/**
 * A thread pool of at most `max_workers` threads (0: min(32, cpus + 4)),
 * started on demand. Thread-safe.
 */
int eddy_executor_new_thread_pool(size_t max_workers, struct eddy_executor_t **out);

/**
 * Refuses new work (`EDDY_ECLOSED`); queued work still runs. With `wait`,
 * returns once every worker thread has finished. Thread-safe.
 */
int eddy_executor_shutdown(struct eddy_executor_t *ex, bool wait);

/**
 * Takes one more reference. Thread-safe; NULL is a no-op.
 */
void eddy_executor_retain(struct eddy_executor_t *ex);

/**
 * Drops one reference; the last one shuts the pool down without waiting.
 * Thread-safe; NULL is a no-op.
 */
void eddy_executor_release(struct eddy_executor_t *ex);

/**
 * Runs `fn(ud, &ptr, &n)` on `ex` (NULL: the loop's default executor);
 * `*out` (required) receives the future, which gets the value or error on
 * the loop's thread. Cancelling the
 * future before the work starts keeps it from running; a result produced
 * after cancellation is dropped (not freed: it is the caller's to manage).
 */
int eddy_loop_run_in_executor(struct eddy_loop_t *loop,
                              struct eddy_executor_t *ex,
                              eddy_work_fn fn,
                              void *ud,
                              struct eddy_future_t **out);

/**
 * Replaces the loop's default executor (the loop keeps a reference).
 */
int eddy_loop_set_default_executor(struct eddy_loop_t *loop, struct eddy_executor_t *ex);

/**
 * Shuts the default executor down; `*out` (may be NULL) completes once its
 * threads have finished. Later default-executor work gets `EDDY_ECLOSED`.
 */
int eddy_loop_shutdown_default_executor(struct eddy_loop_t *loop, struct eddy_future_t **out);

/**
 * Completes the future with a value; its done callbacks are scheduled.
 * `EDDY_EINVALSTATE` when already done, or for a task outside its step.
 */
int eddy_future_set_result(struct eddy_future_t *f, void *ptr, int64_t n);

/**
 * Completes the future with `err` (a negative code; else `EDDY_EINVAL`)
 * and an optional message, which is copied.
 */
int eddy_future_set_error(struct eddy_future_t *f, int err, const char *message);

/**
 * 1 if the future was pending and is now cancelled (for a task: asked to
 * cancel), 0 if it was already done.
 */
int eddy_future_cancel(struct eddy_future_t *f);

/**
 * 1 once the future has a result, an error or is cancelled.
 */
int eddy_future_done(const struct eddy_future_t *f);

/**
 * 1 if the future was cancelled.
 */
int eddy_future_cancelled(const struct eddy_future_t *f);

/**
 * 0 with the value in `*ptr`/`*n` (each may be NULL), or the future's
 * error, `EDDY_ECANCELED`, or `EDDY_EINVALSTATE` while pending.
 */
int eddy_future_result(const struct eddy_future_t *f, void **ptr, int64_t *n);

/**
 * The error's message, valid while the future lives; NULL when none.
 */
const char *eddy_future_error_message(const struct eddy_future_t *f);

/**
 * How many errors of single steps a failed future's error comes with, in
 * the order they happened: create_connection gives one per address it
 * tried (or could not bind a local address for); 0 for other futures.
 */
size_t eddy_future_error_count(const struct eddy_future_t *f);

/**
 * The `i`th of those errors: `*code` and `*message` (asyncio's message
 * for that step, valid while the future lives). `EDDY_EINVAL` for NULL
 * arguments or `i` out of range.
 */
int eddy_future_error_at(const struct eddy_future_t *f, size_t i, int *code, const char **message);

/**
 * Schedules `cb(f, ud)` for when the future is done (at once, via
 * call_soon, if it is done already).
 */
int eddy_future_add_done_callback(struct eddy_future_t *f, eddy_future_cb cb, void *ud);

/**
 * Removes every registration of (`cb`, `ud`); returns how many.
 */
int eddy_future_remove_done_callback(struct eddy_future_t *f, eddy_future_cb cb, void *ud);

/**
 * The future's loop (borrowed); NULL for a NULL future.
 */
struct eddy_loop_t *eddy_future_get_loop(const struct eddy_future_t *f);

/**
 * Takes one more reference. Thread-safe; NULL is a no-op.
 */
void eddy_future_retain(struct eddy_future_t *f);

/**
 * Drops one reference. Thread-safe; NULL is a no-op. A result pointer the
 * library allocated is never freed here: it belongs to the caller.
 */
void eddy_future_release(struct eddy_future_t *f);

/**
 * 1 for a task, 0 for a plain future.
 */
int eddy_future_is_task(const struct eddy_future_t *f);

/**
 * A task that bypasses the task factory. `*out` (may be NULL) receives a
 * reference, as for `eddy_loop_create_task`.
 */
int eddy_task_new(struct eddy_loop_t *loop,
                  eddy_task_step_fn step,
                  void *ud,
                  struct eddy_future_t **out);

/**
 * From inside the task's step: run the next step when `awaited` is done.
 * `EDDY_EINVALSTATE` outside the step; `EDDY_EINVAL` for the task itself or
 * a future of another loop.
 */
int eddy_task_await(struct eddy_future_t *task, struct eddy_future_t *awaited);

/**
 * From inside the task's step: run the next step on the next iteration.
 */
int eddy_task_yield(struct eddy_future_t *task);

/**
 * The number of pending cancel requests (non-zero: the step should wind
 * down). `EDDY_EINVAL` for a plain future.
 */
int eddy_task_cancelling(const struct eddy_future_t *task);

/**
 * Cancels the callback: it will not run. Idempotent.
 */
int eddy_handle_cancel(struct eddy_handle_t *h);

/**
 * 1 if cancelled, else 0.
 */
int eddy_handle_cancelled(const struct eddy_handle_t *h);

/**
 * The timer's deadline on the loop's clock. `EDDY_EINVAL` for call_soon
 * handles.
 */
int eddy_handle_when(const struct eddy_handle_t *h, double *out);

/**
 * Takes one more reference. Thread-safe; NULL is a no-op.
 */
void eddy_handle_retain(struct eddy_handle_t *h);

/**
 * Drops one reference (the callback stays scheduled). Thread-safe; NULL is
 * a no-op.
 */
void eddy_handle_release(struct eddy_handle_t *h);

/**
 * A new loop, made by the current policy; the caller owns one reference.
 * `EDDY_EINVAL` (and `*out` untouched) when the policy's new_event_loop
 * returns 0 without storing a loop.
 */
int eddy_new_event_loop(struct eddy_loop_t **out);

/**
 * The loop running in this thread (borrowed), or NULL.
 */
struct eddy_loop_t *eddy_get_running_loop(void);

/**
 * The running loop, else the policy's current loop for this thread
 * (borrowed). `EDDY_ENOENT` when there is neither: no loop is created.
 * `EDDY_EINVAL` (and `*out` untouched) when the policy's get_event_loop
 * returns 0 without storing a loop.
 */
int eddy_get_event_loop(struct eddy_loop_t **out);

/**
 * Makes `loop` this thread's current loop through the policy (NULL
 * clears); the policy keeps a reference.
 */
int eddy_set_event_loop(struct eddy_loop_t *loop);

/**
 * Copies the current policy (the default one when none was set).
 */
int eddy_get_event_loop_policy(struct eddy_policy_t *out);

/**
 * Installs a policy (copied); NULL restores the default. `EDDY_EINVAL`
 * when a function member is NULL.
 */
int eddy_set_event_loop_policy(const struct eddy_policy_t *policy);

/**
 * Sends a file over a stream transport: `n` is the count sent. Reading
 * pauses and write() fails with `EDDY_EBUSY` meanwhile. TCP and Unix
 * transports use sendfile(2), falling back to reading and sending as
 * `eddy_loop_sock_sendfile` does; a TLS transport always goes through its
 * write path in 16 KiB pieces (`EDDY_ENOTSUP` when `fallback` is false);
 * pipes: `EDDY_ENOTSUP`. If the connection is lost or closed first, the
 * future fails with its error (`EDDY_ECLOSED` after close or abort). The
 * file position is left after what was sent, on success, failure or
 * cancellation alike (unmoved when nothing was sent and it failed).
 */
int eddy_loop_sendfile(struct eddy_loop_t *loop,
                       struct eddy_transport_t *t,
                       int file_fd,
                       int64_t offset,
                       size_t count,
                       bool fallback,
                       struct eddy_future_t **out);

/**
 * Sends `count` bytes (0: to the end) of `file_fd` from `offset` over the
 * stream socket `sock_fd` with sendfile(2), or by reading and sending when
 * sendfile cannot serve them (a /proc file, for instance) and `fallback`
 * is true; with `fallback` false that fails with `EDDY_ENOTSUP` (asyncio's
 * SendfileNotAvailableError). `n` is the count sent; the file position is
 * left at offset + n. When the future fails or is cancelled after bytes
 * went out, the position is left after them too (the count is not in the
 * future then): the caller learns it with lseek.
 */
int eddy_loop_sock_sendfile(struct eddy_loop_t *loop,
                            int sock_fd,
                            int file_fd,
                            int64_t offset,
                            size_t count,
                            bool fallback,
                            struct eddy_future_t **out);

/**
 * Stops listening and closes the listening sockets; connections stay
 * open. Idempotent.
 */
int eddy_server_close(struct eddy_server_t *s);

/**
 * close() on every client transport.
 */
int eddy_server_close_clients(struct eddy_server_t *s);

/**
 * abort() on every client transport.
 */
int eddy_server_abort_clients(struct eddy_server_t *s);

/**
 * `*out` (required) completes once the server is closed and every client
 * is gone.
 */
int eddy_server_wait_closed(struct eddy_server_t *s, struct eddy_future_t **out);

/**
 * Starts listening (idempotent). `EDDY_ECLOSED` once closed.
 */
int eddy_server_start_serving(struct eddy_server_t *s);

/**
 * Serves until `*out` (required) is cancelled, which closes the server.
 * `EDDY_EBUSY` while another serve_forever runs; `EDDY_ECLOSED` once
 * closed.
 */
int eddy_server_serve_forever(struct eddy_server_t *s, struct eddy_future_t **out);

/**
 * 1 while listening.
 */
int eddy_server_is_serving(const struct eddy_server_t *s);

/**
 * Copies up to `cap` listening fds (borrowed) into `fds` (NULL when `cap`
 * is 0, to ask for the count); `*n` (required) is how many there are.
 */
int eddy_server_get_sockets(const struct eddy_server_t *s, int *fds, size_t cap, size_t *n);

/**
 * The server's loop (borrowed).
 */
struct eddy_loop_t *eddy_server_get_loop(const struct eddy_server_t *s);

/**
 * Takes one more reference. Thread-safe; NULL is a no-op.
 */
void eddy_server_retain(struct eddy_server_t *s);

/**
 * Drops one reference; a serving server keeps serving until closed.
 */
void eddy_server_release(struct eddy_server_t *s);

/**
 * Receives up to `nbytes` from `fd`. The value: `ptr` a buffer (free with
 * `eddy_free`; NULL at EOF), `n` its length. `EDDY_ENOMEM` when `nbytes`
 * cannot be allocated. Like every `eddy_loop_sock_*`: `EDDY_EBUSY` for an
 * fd a transport, server or datagram endpoint owns, `EDDY_EINVAL` for a
 * length past `SSIZE_MAX`.
 */
int eddy_loop_sock_recv(struct eddy_loop_t *loop,
                        int fd,
                        size_t nbytes,
                        struct eddy_future_t **out);

/**
 * Receives into `buf` (which must stay valid until the future is done or
 * cancelled). The value's `n` is the count (0 at EOF).
 */
int eddy_loop_sock_recv_into(struct eddy_loop_t *loop,
                             int fd,
                             void *buf,
                             size_t len,
                             struct eddy_future_t **out);

/**
 * Receives one datagram of up to `bufsize` bytes. The value: `ptr` an
 * `eddy_datagram_msg_t` (free with `eddy_free`), `n` the length.
 * `EDDY_ENOMEM` when `bufsize` cannot be allocated.
 */
int eddy_loop_sock_recvfrom(struct eddy_loop_t *loop,
                            int fd,
                            size_t bufsize,
                            struct eddy_future_t **out);

/**
 * Receives one datagram into `buf` and its sender into `addr` (`*addrlen`
 * in: capacity, out: the address's length; both may be NULL). All three
 * must stay valid until the future is done or cancelled. `n` is the count.
 */
int eddy_loop_sock_recvfrom_into(struct eddy_loop_t *loop,
                                 int fd,
                                 void *buf,
                                 size_t len,
                                 struct sockaddr *addr,
                                 socklen_t *addrlen,
                                 struct eddy_future_t **out);

/**
 * Sends all of `data` (what the kernel does not take at once is copied).
 * `n` is 0; on error nothing tells how much was sent.
 */
int eddy_loop_sock_sendall(struct eddy_loop_t *loop,
                           int fd,
                           const void *data,
                           size_t len,
                           struct eddy_future_t **out);

/**
 * Sends one datagram to `addr`. `n` is the count sent.
 */
int eddy_loop_sock_sendto(struct eddy_loop_t *loop,
                          int fd,
                          const void *data,
                          size_t len,
                          const struct sockaddr *addr,
                          socklen_t addrlen,
                          struct eddy_future_t **out);

/**
 * Connects `fd` to `addr`; a refused connection fails with
 * `EDDY_ECONNREFUSED`.
 */
int eddy_loop_sock_connect(struct eddy_loop_t *loop,
                           int fd,
                           const struct sockaddr *addr,
                           socklen_t addrlen,
                           struct eddy_future_t **out);

/**
 * Accepts a connection; `n` is the new fd (non-blocking, close-on-exec;
 * the caller owns it).
 */
int eddy_loop_sock_accept(struct eddy_loop_t *loop, int fd, struct eddy_future_t **out);

/**
 * A client configuration trusting the system's store (Debian's
 * /etc/ssl/certs; empty, not an error, where the system has none). It
 * verifies the server by default.
 */
int eddy_tls_config_new_client(struct eddy_tls_config_t **out);

/**
 * A server configuration from a PEM certificate chain and a PEM private
 * key. `-ENOENT` and friends for unreadable files, `EDDY_ETLS` for
 * contents rustls refuses (no certificate, a key that does not match).
 * Every PEM loader reads regular files only (`EDDY_EINVAL` for a device
 * or a FIFO) of at most `EDDY_TLS_MAX_PEM_FILE` bytes (4 MiB; `EDDY_EFBIG`
 * past that).
 */
int eddy_tls_config_new_server(const char *cert_chain_pem_path,
                               const char *key_pem_path,
                               struct eddy_tls_config_t **out);

/**
 * Adds the certificates of a PEM file to the trusted roots. The file's
 * limits are those of `eddy_tls_config_new_server`.
 */
int eddy_tls_config_load_verify_locations(struct eddy_tls_config_t *c, const char *ca_pem_path);

/**
 * The certificate this side presents (a client's, for mutual TLS). The
 * files' limits are those of `eddy_tls_config_new_server`.
 */
int eddy_tls_config_set_certificate(struct eddy_tls_config_t *c,
                                    const char *cert_chain_pem_path,
                                    const char *key_pem_path);

/**
 * Clients: verify the server (default on). Servers: require client
 * certificates, verified against the roots added with
 * load_verify_locations.
 */
int eddy_tls_config_set_verify(struct eddy_tls_config_t *c, bool verify);

/**
 * The ALPN protocols to offer (client) or accept (server), in order of
 * preference. `EDDY_EINVAL` for an empty or over-long name.
 */
int eddy_tls_config_set_alpn_protocols(struct eddy_tls_config_t *c,
                                       const char *const *protos,
                                       size_t n);

/**
 * Takes one more reference. Thread-safe; NULL is a no-op.
 */
void eddy_tls_config_retain(struct eddy_tls_config_t *c);

/**
 * Drops one reference (connections keep their own). Thread-safe; NULL is
 * a no-op.
 */
void eddy_tls_config_release(struct eddy_tls_config_t *c);

/**
 * Upgrades a live TCP or Unix transport to TLS. Its protocol carries over
 * (connection_made is not called again) and the future's value is the new
 * transport; the old one is handed over and must not be used again. A
 * verification or protocol failure fails the future with `EDDY_ETLS` and a
 * message (eddy_future_error_message), a timeout with `-ETIMEDOUT`; either
 * way the connection is closed. `handshake_timeout` 0 means 60 s;
 * negative is `EDDY_EINVAL`.
 */
int eddy_loop_start_tls(struct eddy_loop_t *loop,
                        struct eddy_transport_t *t,
                        struct eddy_tls_config_t *tls,
                        bool server_side,
                        const char *server_hostname,
                        double handshake_timeout,
                        struct eddy_future_t **out);

/**
 * Pipes for all three, inherited cwd and environment, close_fds on. NULL
 * is a no-op (nothing to fill).
 */
void eddy_subprocess_options_init(struct eddy_subprocess_options_t *o);

/**
 * Runs `argv[0]` (searched in PATH) with `argv`. The future's value is the
 * `eddy_process_t*` (borrowed until its connection_lost returns), after
 * connection_made; a spawn failure fails the future with the errno.
 */
int eddy_loop_subprocess_exec(struct eddy_loop_t *loop,
                              const struct eddy_subprocess_protocol_t *proto,
                              void *ud,
                              const char *const *argv,
                              const struct eddy_subprocess_options_t *opts,
                              struct eddy_future_t **out);

/**
 * Runs `cmd` with /bin/sh -c.
 */
int eddy_loop_subprocess_shell(struct eddy_loop_t *loop,
                               const struct eddy_subprocess_protocol_t *proto,
                               void *ud,
                               const char *cmd,
                               const struct eddy_subprocess_options_t *opts,
                               struct eddy_future_t **out);

/**
 * The child's pid.
 */
int eddy_process_get_pid(const struct eddy_process_t *p);

/**
 * The transport of the child's fd 0, 1 or 2 (borrowed); NULL when that fd
 * is not a pipe.
 */
struct eddy_transport_t *eddy_process_get_pipe_transport(const struct eddy_process_t *p, int fd);

/**
 * The exit code, or -signum when a signal killed the child.
 * `EDDY_EINVALSTATE` while it runs; `EDDY_EINVAL` for a NULL `out`, in
 * any state.
 */
int eddy_process_get_returncode(const struct eddy_process_t *p, int *out);

/**
 * SIGKILL. `-ESRCH` once the child has been reaped.
 */
int eddy_process_kill(struct eddy_process_t *p);

/**
 * Sends `signum`. `-ESRCH` once the child has been reaped.
 */
int eddy_process_send_signal(struct eddy_process_t *p, int signum);

/**
 * SIGTERM. `-ESRCH` once the child has been reaped.
 */
int eddy_process_terminate(struct eddy_process_t *p);

/**
 * Closes the pipes and kills a child that still runs; process_exited and
 * connection_lost follow.
 */
int eddy_process_close(struct eddy_process_t *p);

/**
 * 1 once closing or finished.
 */
int eddy_process_is_closing(const struct eddy_process_t *p);

/**
 * "pid" (an int). `EDDY_ENOENT` for other keys.
 */
int eddy_process_get_extra_info(const struct eddy_process_t *p,
                                const char *name,
                                void *buf,
                                size_t *len);

/**
 * Takes one more reference. Thread-safe; NULL is a no-op.
 */
void eddy_process_retain(struct eddy_process_t *p);

/**
 * Drops one reference. Thread-safe; NULL is a no-op.
 */
void eddy_process_release(struct eddy_process_t *p);

/**
 * Closes the transport: reading stops now, buffered data is flushed, then
 * connection_lost(0) runs (never inside this call). Idempotent.
 */
int eddy_transport_close(struct eddy_transport_t *t);

/**
 * 1 once closing (close, abort, EOF or an error), else 0.
 */
int eddy_transport_is_closing(const struct eddy_transport_t *t);

/**
 * Copies extra information into `buf` (`*len` in: capacity, out: size):
 * "peername" and "sockname" (struct sockaddr bytes), "socket" and "pipe"
 * (an int fd). `EDDY_ENOENT` for unknown or absent keys; `EDDY_ENOBUFS`
 * with `*len` set to the size needed when `buf` is too small.
 */
int eddy_transport_get_extra_info(const struct eddy_transport_t *t,
                                  const char *name,
                                  void *buf,
                                  size_t *len);

/**
 * Switches the protocol for the next event (the buffered or plain read
 * path is chosen again). `EDDY_ECLOSED` after connection_lost.
 */
int eddy_transport_set_protocol(struct eddy_transport_t *t,
                                const struct eddy_protocol_t *proto,
                                void *ud);

/**
 * The current protocol table and data (both NULL after connection_lost).
 * Either output may be NULL.
 */
int eddy_transport_get_protocol(const struct eddy_transport_t *t,
                                const struct eddy_protocol_t **proto,
                                void **ud);

/**
 * Takes one more reference. Thread-safe; NULL is a no-op.
 */
void eddy_transport_retain(struct eddy_transport_t *t);

/**
 * Drops one reference; the loop keeps its own while the transport is
 * open. Thread-safe; NULL is a no-op.
 */
void eddy_transport_release(struct eddy_transport_t *t);

/**
 * 1 while data is being read (not paused, not closing, no EOF yet).
 */
int eddy_transport_is_reading(const struct eddy_transport_t *t);

/**
 * Stops data_received until resume_reading. Idempotent; 0 even when
 * closing.
 */
int eddy_transport_pause_reading(struct eddy_transport_t *t);

/**
 * Resumes reading. Idempotent; 0 even when closing.
 */
int eddy_transport_resume_reading(struct eddy_transport_t *t);

/**
 * Sends `data` now if nothing is buffered and copies what the kernel does
 * not take. After close(), while the buffer still drains (before
 * connection_lost), data is still taken and flushed before
 * connection_lost, as asyncio does (a TLS transport refuses it).
 * `EDDY_ECLOSED` after abort, connection loss or any other close,
 * `EDDY_EPIPE` after write_eof, `EDDY_EBUSY` during sendfile; a send error
 * is returned and connection_lost follows with it.
 */
int eddy_transport_write(struct eddy_transport_t *t, const void *data, size_t len);

/**
 * Writes `n` buffers with one writev when nothing is buffered. The
 * same rules as eddy_transport_write.
 */
int eddy_transport_writelines(struct eddy_transport_t *t, const struct eddy_buf_t *bufs, size_t n);

/**
 * 1 for sockets and write pipes, 0 for read pipes.
 */
int eddy_transport_can_write_eof(const struct eddy_transport_t *t);

/**
 * Half-closes: shutdown(SHUT_WR) once the buffer drains (a write pipe
 * closes). No-op when closing or done already.
 */
int eddy_transport_write_eof(struct eddy_transport_t *t);

/**
 * Closes at once, dropping buffered data; connection_lost(0) follows on
 * the next iteration.
 */
int eddy_transport_abort(struct eddy_transport_t *t);

/**
 * Bytes buffered in user space (0 for NULL).
 */
size_t eddy_transport_get_write_buffer_size(const struct eddy_transport_t *t);

/**
 * The flow-control limits (defaults: low 16 KiB, high 64 KiB). Either
 * output may be NULL (that limit is not reported).
 */
int eddy_transport_get_write_buffer_limits(const struct eddy_transport_t *t,
                                           size_t *low,
                                           size_t *high);

/**
 * Sets the limits (-1: derived as asyncio does: high = 4 * low, low =
 * high / 4, default high 64 KiB). `EDDY_EINVAL` unless high >= low >= 0.
 * May call pause_writing at once; never resume_writing.
 */
int eddy_transport_set_write_buffer_limits(struct eddy_transport_t *t, int64_t high, int64_t low);

#ifdef __cplusplus
}  // extern "C"
#endif  // __cplusplus

#endif  /* EDDY_H */
