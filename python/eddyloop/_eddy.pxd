# Declarations of the C API in include/eddy.h that the binding uses (only
# those). Keep in step with the header: a changed signature must fail the
# C compile, which is why the header itself is included, not copied.

from libc.stdint cimport int64_t, uint8_t, uint16_t
cdef extern from "<sys/socket.h>":
    ctypedef unsigned int socklen_t
    struct sockaddr:
        pass

cdef extern from "<netdb.h>":
    struct addrinfo:
        int ai_flags
        int ai_family
        int ai_socktype
        int ai_protocol
        socklen_t ai_addrlen
        sockaddr *ai_addr
        char *ai_canonname
        addrinfo *ai_next

# Not `nogil`: the callback types below then name functions that run with
# the GIL held, which the binding's callbacks do (see "C callbacks" in
# _loop.pyx); the binding calls eddy only while it holds the GIL.
cdef extern from "eddy.h":
    ctypedef struct eddy_loop_t:
        pass
    ctypedef struct eddy_handle_t:
        pass
    ctypedef struct eddy_future_t:
        pass

    ctypedef void (*eddy_callback_fn)(void *user_data) noexcept
    ctypedef void (*eddy_future_cb)(eddy_future_t *fut, void *user_data) noexcept

    ctypedef struct eddy_nameinfo_t:
        char host[1025]
        char serv[32]

    ctypedef struct eddy_datagram_msg_t:
        socklen_t addrlen
        size_t len
        uint8_t *data

    enum:
        EDDY_ECLOSED
        EDDY_ECANCELED
        EDDY_EINVAL
        EDDY_EPIPE
        EDDY_EBUSY

    const char *eddy_strerror(int err)
    const char *eddy_err_name(int err)
    const char *eddy_version_string()
    void eddy_free(void *p)

    int eddy_new_event_loop(eddy_loop_t **out)
    int eddy_loop_run_forever(eddy_loop_t *loop)
    int eddy_loop_stop(eddy_loop_t *loop)
    int eddy_loop_close(eddy_loop_t *loop)
    int eddy_loop_is_running(const eddy_loop_t *loop)
    void eddy_loop_release(eddy_loop_t *loop)
    double eddy_loop_time(const eddy_loop_t *loop)
    int eddy_loop_set_busy_poll_interval(eddy_loop_t *loop, double seconds)
    int eddy_loop_claim_iteration(eddy_loop_t *loop, size_t ran)
    int eddy_loop_set_late_poll(eddy_loop_t *loop, int on)
    int eddy_loop_set_poll_hooks(eddy_loop_t *loop, eddy_callback_fn before,
                                 eddy_callback_fn after, void *ud)

    int eddy_loop_call_soon(eddy_loop_t *loop, eddy_callback_fn cb, void *ud,
                            eddy_handle_t **out)
    int eddy_loop_call_soon_threadsafe(eddy_loop_t *loop, eddy_callback_fn cb,
                                       void *ud, eddy_handle_t **out)
    int eddy_loop_call_at(eddy_loop_t *loop, double when, eddy_callback_fn cb,
                          void *ud, eddy_handle_t **out)

    int eddy_loop_add_reader(eddy_loop_t *loop, int fd, eddy_callback_fn cb, void *ud)
    int eddy_loop_remove_reader(eddy_loop_t *loop, int fd)
    int eddy_loop_add_writer(eddy_loop_t *loop, int fd, eddy_callback_fn cb, void *ud)
    int eddy_loop_remove_writer(eddy_loop_t *loop, int fd)

    int eddy_handle_cancel(eddy_handle_t *h)
    void eddy_handle_release(eddy_handle_t *h)

    int eddy_future_cancel(eddy_future_t *f)
    int eddy_future_cancelled(const eddy_future_t *f)
    int eddy_future_result(const eddy_future_t *f, void **ptr, int64_t *n)
    const char *eddy_future_error_message(const eddy_future_t *f)
    size_t eddy_future_error_count(const eddy_future_t *f)
    int eddy_future_error_at(const eddy_future_t *f, size_t i, int *code, const char **message)
    int eddy_future_add_done_callback(eddy_future_t *f, eddy_future_cb cb, void *ud)
    void eddy_future_release(eddy_future_t *f)

    int eddy_loop_getaddrinfo(eddy_loop_t *loop, const char *host, const char *port,
                              const addrinfo *hints, eddy_future_t **out)
    int eddy_loop_getnameinfo(eddy_loop_t *loop, const sockaddr *addr,
                              socklen_t addrlen, int flags, eddy_future_t **out)
    void eddy_freeaddrinfo(addrinfo *ai)

    int eddy_loop_sock_recv(eddy_loop_t *loop, int fd, size_t nbytes,
                            eddy_future_t **out)
    int eddy_loop_sock_recv_into(eddy_loop_t *loop, int fd, void *buf, size_t len,
                                 eddy_future_t **out)
    int eddy_loop_sock_recvfrom(eddy_loop_t *loop, int fd, size_t bufsize,
                                eddy_future_t **out)
    int eddy_loop_sock_recvfrom_into(eddy_loop_t *loop, int fd, void *buf, size_t len,
                                     sockaddr *addr, socklen_t *addrlen,
                                     eddy_future_t **out)
    int eddy_loop_sock_sendall(eddy_loop_t *loop, int fd, const void *data,
                               size_t len, eddy_future_t **out)
    int eddy_loop_sock_sendto(eddy_loop_t *loop, int fd, const void *data, size_t len,
                              const sockaddr *addr, socklen_t addrlen,
                              eddy_future_t **out)
    int eddy_loop_sock_connect(eddy_loop_t *loop, int fd, const sockaddr *addr,
                               socklen_t addrlen, eddy_future_t **out)
    int eddy_loop_sock_accept(eddy_loop_t *loop, int fd, eddy_future_t **out)
    int eddy_loop_sock_sendfile(eddy_loop_t *loop, int sock_fd, int file_fd,
                                int64_t offset, size_t count, bint fallback,
                                eddy_future_t **out)

    # --- streams: transports, connections, servers -----------------------
    ctypedef struct eddy_transport_t:
        pass
    ctypedef struct eddy_server_t:
        pass
    ctypedef struct eddy_tls_config_t:
        pass

    ctypedef struct eddy_protocol_t:
        void (*connection_made)(eddy_transport_t *t, void *ud) noexcept
        void (*connection_lost)(eddy_transport_t *t, int err, void *ud) noexcept
        void (*pause_writing)(eddy_transport_t *t, void *ud) noexcept
        void (*resume_writing)(eddy_transport_t *t, void *ud) noexcept
        void (*data_received)(eddy_transport_t *t, const uint8_t *data, size_t len,
                              void *ud) noexcept
        bint (*eof_received)(eddy_transport_t *t, void *ud) noexcept
        int (*get_buffer)(eddy_transport_t *t, size_t sizehint, void **buf, size_t *len,
                          void *ud) noexcept
        void (*buffer_updated)(eddy_transport_t *t, size_t nbytes, void *ud) noexcept

    ctypedef int (*eddy_protocol_factory_fn)(void *factory_ud, const eddy_protocol_t **proto,
                                             void **ud) noexcept

    ctypedef struct eddy_connection_options_t:
        int family
        int proto
        int flags
        const char *local_host
        uint16_t local_port
        double happy_eyeballs_delay
        int interleave
        bint all_errors
        int sock
        eddy_tls_config_t *tls
        const char *server_hostname
        double tls_handshake_timeout
        double tls_shutdown_timeout

    ctypedef struct eddy_server_options_t:
        int family
        int flags
        int backlog
        bint reuse_address
        bint reuse_port
        bint keep_alive
        bint start_serving
        bint cleanup_socket
        const int *socks
        size_t nsocks
        eddy_tls_config_t *tls
        double tls_handshake_timeout
        double tls_shutdown_timeout

    ctypedef struct eddy_buf_t:
        const void *base
        size_t len

    void eddy_connection_options_init(eddy_connection_options_t *o)
    void eddy_server_options_init(eddy_server_options_t *o)
    int eddy_loop_create_connection(eddy_loop_t *loop, const eddy_protocol_t *proto, void *ud,
                                    const char *host, uint16_t port,
                                    const eddy_connection_options_t *opts,
                                    eddy_future_t **out)
    int eddy_loop_create_server(eddy_loop_t *loop, eddy_protocol_factory_fn factory_fn,
                                void *factory_ud, const char *host, uint16_t port,
                                const eddy_server_options_t *opts, eddy_future_t **out)
    int eddy_loop_create_unix_connection(eddy_loop_t *loop, const eddy_protocol_t *proto,
                                         void *ud, const char *path,
                                         const eddy_connection_options_t *opts,
                                         eddy_future_t **out)
    int eddy_loop_create_unix_server(eddy_loop_t *loop, eddy_protocol_factory_fn factory_fn,
                                     void *factory_ud, const char *path,
                                     const eddy_server_options_t *opts, eddy_future_t **out)
    int eddy_loop_connect_accepted_socket(eddy_loop_t *loop, const eddy_protocol_t *proto,
                                          void *ud, int fd,
                                          const eddy_connection_options_t *opts,
                                          eddy_future_t **out)

    int eddy_loop_sendfile(eddy_loop_t *loop, eddy_transport_t *t, int file_fd,
                           int64_t offset, size_t count, bint fallback,
                           eddy_future_t **out)
    int eddy_loop_connect_read_pipe(eddy_loop_t *loop, const eddy_protocol_t *proto,
                                    void *ud, int fd, eddy_future_t **out)
    int eddy_loop_connect_write_pipe(eddy_loop_t *loop, const eddy_protocol_t *proto,
                                     void *ud, int fd, eddy_future_t **out)

    int eddy_server_close(eddy_server_t *s)
    int eddy_server_close_clients(eddy_server_t *s)
    int eddy_server_abort_clients(eddy_server_t *s)
    int eddy_server_wait_closed(eddy_server_t *s, eddy_future_t **out)
    int eddy_server_start_serving(eddy_server_t *s)
    int eddy_server_serve_forever(eddy_server_t *s, eddy_future_t **out)
    int eddy_server_is_serving(const eddy_server_t *s)
    int eddy_server_get_sockets(const eddy_server_t *s, int *fds, size_t cap, size_t *n)
    void eddy_server_retain(eddy_server_t *s)
    void eddy_server_release(eddy_server_t *s)

    int eddy_transport_close(eddy_transport_t *t)
    int eddy_transport_is_closing(const eddy_transport_t *t)
    int eddy_transport_get_extra_info(const eddy_transport_t *t, const char *name,
                                      void *buf, size_t *len)
    int eddy_transport_set_protocol(eddy_transport_t *t, const eddy_protocol_t *proto,
                                    void *ud)
    void eddy_transport_retain(eddy_transport_t *t)
    void eddy_transport_release(eddy_transport_t *t)
    int eddy_transport_is_reading(const eddy_transport_t *t)
    int eddy_transport_pause_reading(eddy_transport_t *t)
    int eddy_transport_resume_reading(eddy_transport_t *t)
    int eddy_transport_write(eddy_transport_t *t, const void *data, size_t len)
    int eddy_transport_writelines(eddy_transport_t *t, const eddy_buf_t *bufs, size_t n)
    int eddy_transport_can_write_eof(const eddy_transport_t *t)
    int eddy_transport_write_eof(eddy_transport_t *t)
    int eddy_transport_abort(eddy_transport_t *t)
    size_t eddy_transport_get_write_buffer_size(const eddy_transport_t *t)
    int eddy_transport_get_write_buffer_limits(const eddy_transport_t *t, size_t *low,
                                               size_t *high)
    int eddy_transport_set_write_buffer_limits(eddy_transport_t *t, int64_t high, int64_t low)

    # --- datagrams ---------------------------------------------------------
    ctypedef struct eddy_datagram_t:
        pass

    ctypedef struct eddy_datagram_options_t:
        const char *local_host
        uint16_t local_port
        const char *remote_host
        uint16_t remote_port
        int family
        int proto
        int flags
        bint reuse_port
        bint allow_broadcast
        int sock

    ctypedef struct eddy_datagram_protocol_t:
        void (*connection_made)(eddy_datagram_t *d, void *ud) noexcept
        void (*connection_lost)(eddy_datagram_t *d, int err, void *ud) noexcept
        void (*pause_writing)(eddy_datagram_t *d, void *ud) noexcept
        void (*resume_writing)(eddy_datagram_t *d, void *ud) noexcept
        void (*datagram_received)(eddy_datagram_t *d, const uint8_t *data, size_t len,
                                  const sockaddr *addr, socklen_t addrlen,
                                  void *ud) noexcept
        void (*error_received)(eddy_datagram_t *d, int err, void *ud) noexcept

    void eddy_datagram_options_init(eddy_datagram_options_t *o)
    int eddy_loop_create_datagram_endpoint(eddy_loop_t *loop,
                                           const eddy_datagram_protocol_t *proto,
                                           void *ud, const eddy_datagram_options_t *opts,
                                           eddy_future_t **out)
    int eddy_datagram_sendto(eddy_datagram_t *d, const void *data, size_t len,
                             const sockaddr *addr, socklen_t addrlen)
    int eddy_datagram_abort(eddy_datagram_t *d)
    int eddy_datagram_close(eddy_datagram_t *d)
    int eddy_datagram_is_closing(const eddy_datagram_t *d)
    int eddy_datagram_get_extra_info(const eddy_datagram_t *d, const char *name,
                                     void *buf, size_t *len)
    size_t eddy_datagram_get_write_buffer_size(const eddy_datagram_t *d)
    int eddy_datagram_set_protocol(eddy_datagram_t *d, const eddy_datagram_protocol_t *proto,
                                   void *ud)
    void eddy_datagram_retain(eddy_datagram_t *d)
    void eddy_datagram_release(eddy_datagram_t *d)

    # --- subprocesses --------------------------------------------------------
    ctypedef struct eddy_process_t:
        pass

    enum:
        EDDY_SUBPROCESS_PIPE
        EDDY_SUBPROCESS_STDOUT
        EDDY_SUBPROCESS_DEVNULL
        EDDY_SUBPROCESS_INHERIT
        EDDY_EINVALSTATE

    ctypedef struct eddy_subprocess_options_t:
        int stdin_fd
        int stdout_fd
        int stderr_fd
        const char *cwd
        const char *const *env
        bint close_fds
        bint start_new_session
        const int *pass_fds
        size_t npass_fds

    ctypedef struct eddy_subprocess_protocol_t:
        void (*connection_made)(eddy_process_t *p, void *ud) noexcept
        void (*connection_lost)(eddy_process_t *p, int err, void *ud) noexcept
        void (*pause_writing)(eddy_process_t *p, void *ud) noexcept
        void (*resume_writing)(eddy_process_t *p, void *ud) noexcept
        void (*pipe_data_received)(eddy_process_t *p, int fd, const uint8_t *data,
                                   size_t len, void *ud) noexcept
        void (*pipe_connection_lost)(eddy_process_t *p, int fd, int err, void *ud) noexcept
        void (*process_exited)(eddy_process_t *p, void *ud) noexcept

    void eddy_subprocess_options_init(eddy_subprocess_options_t *o)
    int eddy_loop_subprocess_exec(eddy_loop_t *loop, const eddy_subprocess_protocol_t *proto,
                                  void *ud, const char *const *argv,
                                  const eddy_subprocess_options_t *opts, eddy_future_t **out)
    int eddy_loop_subprocess_shell(eddy_loop_t *loop, const eddy_subprocess_protocol_t *proto,
                                   void *ud, const char *cmd,
                                   const eddy_subprocess_options_t *opts, eddy_future_t **out)
    int eddy_process_get_pid(const eddy_process_t *p)
    eddy_transport_t *eddy_process_get_pipe_transport(const eddy_process_t *p, int fd)
    int eddy_process_get_returncode(const eddy_process_t *p, int *out)
    int eddy_process_send_signal(eddy_process_t *p, int signum)
    int eddy_process_close(eddy_process_t *p)
    int eddy_process_is_closing(const eddy_process_t *p)
    void eddy_process_retain(eddy_process_t *p)
    void eddy_process_release(eddy_process_t *p)
