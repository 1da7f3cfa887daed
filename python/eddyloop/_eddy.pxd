# Declarations of the C API in include/eddy.h that the binding uses (only
# those). Keep in step with the header: a changed signature must fail the
# C compile, which is why the header itself is included, not copied.

from libc.stdint cimport int64_t, uint8_t
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

cdef extern from "eddy.h" nogil:
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
        EDDY_ERUNNING
        EDDY_EINVALSTATE
        EDDY_EWRONGTHREAD
        EDDY_ECANCELED
        EDDY_ENOENT
        EDDY_EINVAL
        EDDY_EAI_ADDRFAMILY
        EDDY_EAI_SYSTEM

    const char *eddy_strerror(int err)
    const char *eddy_err_name(int err)
    const char *eddy_version_string()
    void eddy_free(void *p)

    int eddy_new_event_loop(eddy_loop_t **out)
    int eddy_loop_run_forever(eddy_loop_t *loop)
    int eddy_loop_stop(eddy_loop_t *loop)
    int eddy_loop_close(eddy_loop_t *loop)
    int eddy_loop_is_running(const eddy_loop_t *loop)
    int eddy_loop_is_closed(const eddy_loop_t *loop)
    void eddy_loop_release(eddy_loop_t *loop)
    double eddy_loop_time(const eddy_loop_t *loop)

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
