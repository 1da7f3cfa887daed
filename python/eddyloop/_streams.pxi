# Stream transports over eddy_transport_t, and servers over eddy_server_t.
# Included by _loop.pyx.
#
# Ownership: eddy's data pointer for a connection is the Python Transport,
# which the loop holds for eddy (Loop._lend) from the moment eddy may call it
# until connection_lost has returned (or the connection failed before
# connection_made, or the loop closed). The Transport retains the
# eddy_transport_t from connection_made on, so its methods stay safe after
# the connection is gone (eddy then answers EDDY_ECLOSED).

from libc.stdlib cimport malloc, free


cdef eddy_protocol_t _PLAIN_PROTOCOL
cdef eddy_protocol_t _BUFFERED_PROTOCOL


cdef inline const eddy_protocol_t *_protocol_table(protocol):
    if isinstance(protocol, asyncio.BufferedProtocol):
        return &_BUFFERED_PROTOCOL
    return &_PLAIN_PROTOCOL


# eddy may call back into it while a reference cycle is being collected:
# its attributes must stay valid until it is deallocated.
@cython.no_gc_clear
cdef class Transport(_Core):
    """asyncio.Transport's interface over an eddy stream transport (TCP or
    Unix socket)."""
    cdef eddy_transport_t *_t
    cdef Loop _loop
    cdef object _protocol
    cdef object _server
    cdef bint _made
    cdef bint _lost
    cdef Py_buffer _view
    cdef bint _has_view
    cdef object _sock
    cdef object _pipe
    cdef dict _extra
    cdef object _close_exc
    cdef bint _eof_written
    cdef bint _close_called

    def __cinit__(self, Loop loop, protocol, server=None):
        self._loop = loop
        self._protocol = protocol
        self._server = server
        self._extra = {}

    def __dealloc__(self):
        if self._has_view:
            PyBuffer_Release(&self._view)
        if self._t != NULL:
            eddy_transport_release(self._t)

    cdef void *_give_to_eddy(self):
        """The data pointer for eddy, with the reference eddy holds."""
        return self._loop._lend(self)

    cdef _take_back_from_eddy(self):
        self._loop._lent.discard(self)

    def __repr__(self):
        info = [self.__class__.__name__]
        if self._t == NULL:
            info.append('pending')
        elif self._lost:
            info.append('closed')
        elif self._loop.is_closed() and not self._close_called:
            # Nobody closed it: the loop's close let go of eddy's copy of
            # the fd without connection_lost, and the pipe or socket object
            # the transport holds is still open (asyncio says 'open' too).
            info.append('open')
        elif self.is_closing():
            info.append('closing')
        return '<{}>'.format(' '.join(info))

    cdef int _check(self, int rc) except -1:
        if rc < 0:
            raise _error(rc)
        return rc

    cdef _fatal_error(self, exc, message):
        """asyncio's _fatal_error: report to the exception handler (except
        for plain connection errors) and abort."""
        if not isinstance(exc, OSError) or self._loop._debug:
            self._loop.call_exception_handler({
                'message': message,
                'exception': exc,
                'transport': self._facade(),
                'protocol': self._protocol,
            })
        if self._t != NULL:
            eddy_transport_abort(self._t)

    # --- the asyncio.Transport interface -----------------------------------

    def get_extra_info(self, name, default=None):
        """peername, sockname and socket come from eddy."""
        if name in self._extra:
            return self._extra[name]
        if name == 'socket':
            return self._socket() or default
        if name == 'pipe':
            return self._pipe if self._pipe is not None else default
        return default

    cdef _load_addresses(self):
        """peername and sockname, read once the connection is made (as
        asyncio reads them when it makes the transport): they stay
        answerable after the connection is gone."""
        for name in ('peername', 'sockname'):
            value = self._address(name)
            if value is not None:
                self._extra[name] = value

    cdef object _address(self, str name):
        cdef sockaddr_storage ss
        cdef size_t n = sizeof(ss)
        if self._t == NULL:
            return None
        key = name.encode()
        if eddy_transport_get_extra_info(self._t, key, &ss, &n) < 0:
            return None
        return _sockaddr_to_py(<c_sockaddr *>&ss, <socklen_t>n)

    cdef object _socket(self):
        """asyncio's TransportSocket over eddy's fd; detached when the
        connection is lost, so it can never close an fd eddy reused."""
        cdef int fd = -1
        cdef size_t n = sizeof(fd)
        if self._sock is not None:
            return self._sock
        if self._t == NULL or self._lost:
            return None
        if eddy_transport_get_extra_info(self._t, b'socket', &fd, &n) < 0:
            return None
        from asyncio import trsock
        self._sock = trsock.TransportSocket(_socket.socket(fileno=fd))
        return self._sock

    def is_closing(self):
        if self._t == NULL:
            return False
        return bool(eddy_transport_is_closing(self._t))

    def close(self):
        self._close_called = True
        if self._t != NULL:
            eddy_transport_close(self._t)

    def abort(self):
        self._close_called = True
        if self._t != NULL:
            eddy_transport_abort(self._t)

    def _force_close(self, exc):
        """Abort, with `exc` for connection_lost: what asyncio's
        SSLProtocol calls on a fatal TLS error."""
        self._close_called = True
        if self._t != NULL and not self._lost:
            if self._close_exc is None:
                self._close_exc = exc
            eddy_transport_abort(self._t)

    def set_protocol(self, protocol):
        if self._t != NULL and not self._lost:
            self._check(eddy_transport_set_protocol(self._t, _protocol_table(protocol),
                                                    <void *>self))
        self._protocol = protocol

    def get_protocol(self):
        return self._protocol

    def is_reading(self):
        return self._t != NULL and bool(eddy_transport_is_reading(self._t))

    def pause_reading(self):
        if self._t != NULL:
            eddy_transport_pause_reading(self._t)

    def resume_reading(self):
        if self._t != NULL:
            eddy_transport_resume_reading(self._t)

    def write(self, data):
        cdef Py_buffer view
        cdef int rc
        if not isinstance(data, (bytes, bytearray, memoryview)):
            raise TypeError(f'data argument must be a bytes-like object, '
                            f'not {type(data).__name__!r}')
        _check_eddy_thread(self._loop)
        PyObject_GetBuffer(data, &view, PyBUF_SIMPLE)
        try:
            if view.len == 0:
                return
            rc = eddy_transport_write(self._t, view.buf, view.len)
        finally:
            PyBuffer_Release(&view)
        self._write_result(rc)

    cdef _write_result(self, int rc):
        if rc >= 0 or rc == EDDY_ECLOSED:
            # asyncio drops writes once the connection is lost.
            return
        if rc == EDDY_EPIPE and self._eof_written:
            raise RuntimeError('Cannot call write() after write_eof()')
        if rc == EDDY_EBUSY:
            raise RuntimeError('unable to write; sendfile is in progress')
        # A send error: connection_lost follows with it, as in asyncio.

    def writelines(self, list_of_data):
        cdef Py_ssize_t i, n
        cdef eddy_buf_t *bufs
        cdef Py_buffer *views
        cdef int rc
        _check_eddy_thread(self._loop)
        chunks = list(list_of_data)
        n = len(chunks)
        if n == 0:
            return
        bufs = <eddy_buf_t *>malloc(n * sizeof(eddy_buf_t))
        views = <Py_buffer *>malloc(n * sizeof(Py_buffer))
        if bufs == NULL or views == NULL:
            free(bufs)
            free(views)
            raise MemoryError()
        i = 0
        try:
            while i < n:
                PyObject_GetBuffer(chunks[i], &views[i], PyBUF_SIMPLE)
                bufs[i].base = views[i].buf
                bufs[i].len = views[i].len
                i += 1
            rc = eddy_transport_writelines(self._t, bufs, n)
        finally:
            while i > 0:
                i -= 1
                PyBuffer_Release(&views[i])
            free(bufs)
            free(views)
        self._write_result(rc)

    def can_write_eof(self):
        return self._t != NULL and bool(eddy_transport_can_write_eof(self._t))

    def write_eof(self):
        if self._t != NULL:
            # EPIPE from write then means "after write_eof", not a peer
            # gone (which asyncio drops silently).
            self._eof_written = True
            eddy_transport_write_eof(self._t)

    def get_write_buffer_size(self):
        return eddy_transport_get_write_buffer_size(self._t) if self._t != NULL else 0

    def get_write_buffer_limits(self):
        cdef size_t low = 0, high = 0
        if self._t != NULL:
            self._check(eddy_transport_get_write_buffer_limits(self._t, &low, &high))
        return (low, high)

    def set_write_buffer_limits(self, high=None, low=None):
        if self._t == NULL:
            return
        h = -1 if high is None else high
        l = -1 if low is None else low
        if (high is not None and high < 0) or (low is not None and low < 0) or \
                (high is not None and low is not None and high < low):
            raise ValueError(f'high ({high!r}) must be >= low ({low!r}) must be >= 0')
        self._check(eddy_transport_set_write_buffer_limits(self._t, h, l))

    # --- eddy's calls into the protocol --------------------------------------

    cdef _connection_made(self, eddy_transport_t *t):
        if self._t == NULL:
            self._t = t
            eddy_transport_retain(t)
        self._made = True
        self._load_addresses()
        try:
            self._protocol.connection_made(self._facade())
        except (SystemExit, KeyboardInterrupt):
            raise
        except BaseException as exc:
            self._fatal_error(exc, 'Fatal error: protocol.connection_made() call failed.')

    cdef _adopt_socket(self, sock):
        """The caller's socket object stays the transport's 'socket' (asyncio
        keeps it); eddy owns the fd."""
        from asyncio import trsock
        self._sock = trsock.TransportSocket(sock)

    cdef _adopt_pipe(self, pipe):
        self._pipe = pipe

    @property
    def _pipe_object(self):
        """The pipe object a pipe transport closes after connection_lost
        (asyncio's `_pipe`; code that closes the pipe itself sets it to
        None, as CPython's tests do)."""
        return self._pipe

    @_pipe_object.setter
    def _pipe_object(self, pipe):
        self._pipe = pipe

    cdef _connection_lost(self, int err):
        self._lost = True
        # eddy reads no more. The buffer's owner (the protocol) is not
        # visible to the garbage collector through the view: let go of it
        # before a cycle through this transport can be collected.
        if self._has_view:
            PyBuffer_Release(&self._view)
            self._has_view = False
        try:
            exc = self._close_exc if err == 0 else _error(err)
            self._close_exc = None
            self._protocol.connection_lost(exc)
        finally:
            if self._sock is not None:
                self._sock._sock.detach()
            if self._pipe is not None:
                self._pipe.close()
            if self._server is not None:
                (<Server>self._server)._detach(self)
            self._take_back_from_eddy()

    cdef _data_received(self, const uint8_t *data, size_t n):
        try:
            self._protocol.data_received(PyBytes_FromStringAndSize(<const char *>data, n))
        except (SystemExit, KeyboardInterrupt):
            raise
        except BaseException as exc:
            self._fatal_error(exc, 'Fatal error: protocol.data_received() call failed.')

    cdef bint _eof_received(self) except -1:
        try:
            keep_open = self._protocol.eof_received()
        except (SystemExit, KeyboardInterrupt):
            raise
        except BaseException as exc:
            self._fatal_error(exc, 'Fatal error: protocol.eof_received() call failed.')
            return False
        return bool(keep_open)

    cdef _flow(self, bint pause):
        try:
            if pause:
                self._protocol.pause_writing()
            else:
                self._protocol.resume_writing()
        except (SystemExit, KeyboardInterrupt):
            raise
        except BaseException as exc:
            self._loop.call_exception_handler({
                'message': f'protocol.{"pause" if pause else "resume"}_writing() failed',
                'exception': exc,
                'transport': self._facade(),
                'protocol': self._protocol,
            })

    cdef int _get_buffer(self, size_t sizehint, void **buf, size_t *n) except? -1:
        if self._has_view:
            PyBuffer_Release(&self._view)
            self._has_view = False
        try:
            b = self._protocol.get_buffer(<Py_ssize_t>sizehint if sizehint else -1)
            PyObject_GetBuffer(b, &self._view, PyBUF_WRITABLE)
            self._has_view = True
            if self._view.len == 0:
                raise RuntimeError('get_buffer() returned an empty buffer')
        except (SystemExit, KeyboardInterrupt):
            raise
        except BaseException as exc:
            self._fatal_error(exc, 'Fatal error: protocol.get_buffer() call failed.')
            return EDDY_EINVAL
        buf[0] = self._view.buf
        n[0] = self._view.len
        return 0

    cdef _buffer_updated(self, size_t nbytes):
        if self._has_view:
            PyBuffer_Release(&self._view)
            self._has_view = False
        try:
            self._protocol.buffer_updated(nbytes)
        except (SystemExit, KeyboardInterrupt):
            raise
        except BaseException as exc:
            self._fatal_error(exc, 'Fatal error: protocol.buffer_updated() call failed.')


cdef void _tr_connection_made(eddy_transport_t *t, void *ud) noexcept:
    cdef Transport tr = <Transport>ud
    try:
        tr._connection_made(t)
    except BaseException as exc:
        tr._loop._interrupt(exc)


cdef void _tr_connection_lost(eddy_transport_t *t, int err, void *ud) noexcept:
    cdef Transport tr = <Transport>ud
    try:
        tr._connection_lost(err)
    except BaseException as exc:
        tr._loop._interrupt(exc)


cdef void _tr_pause_writing(eddy_transport_t *t, void *ud) noexcept:
    cdef Transport tr = <Transport>ud
    try:
        tr._flow(True)
    except BaseException as exc:
        tr._loop._interrupt(exc)


cdef void _tr_resume_writing(eddy_transport_t *t, void *ud) noexcept:
    cdef Transport tr = <Transport>ud
    try:
        tr._flow(False)
    except BaseException as exc:
        tr._loop._interrupt(exc)


cdef void _tr_data_received(eddy_transport_t *t, const uint8_t *data, size_t n,
                            void *ud) noexcept:
    cdef Transport tr = <Transport>ud
    try:
        tr._data_received(data, n)
    except BaseException as exc:
        tr._loop._interrupt(exc)


cdef bint _tr_eof_received(eddy_transport_t *t, void *ud) noexcept:
    cdef Transport tr = <Transport>ud
    try:
        return tr._eof_received()
    except BaseException as exc:
        tr._loop._interrupt(exc)
        return False


cdef int _tr_get_buffer(eddy_transport_t *t, size_t sizehint, void **buf, size_t *n,
                        void *ud) noexcept:
    cdef Transport tr = <Transport>ud
    try:
        return tr._get_buffer(sizehint, buf, n)
    except BaseException as exc:
        tr._loop._interrupt(exc)
        return EDDY_EINVAL


cdef void _tr_buffer_updated(eddy_transport_t *t, size_t nbytes, void *ud) noexcept:
    cdef Transport tr = <Transport>ud
    try:
        tr._buffer_updated(nbytes)
    except BaseException as exc:
        tr._loop._interrupt(exc)


_PLAIN_PROTOCOL.connection_made = _tr_connection_made
_PLAIN_PROTOCOL.connection_lost = _tr_connection_lost
_PLAIN_PROTOCOL.pause_writing = _tr_pause_writing
_PLAIN_PROTOCOL.resume_writing = _tr_resume_writing
_PLAIN_PROTOCOL.data_received = _tr_data_received
_PLAIN_PROTOCOL.eof_received = _tr_eof_received
_PLAIN_PROTOCOL.get_buffer = NULL
_PLAIN_PROTOCOL.buffer_updated = NULL
_BUFFERED_PROTOCOL = _PLAIN_PROTOCOL
_BUFFERED_PROTOCOL.data_received = NULL
_BUFFERED_PROTOCOL.get_buffer = _tr_get_buffer
_BUFFERED_PROTOCOL.buffer_updated = _tr_buffer_updated


# --- servers -------------------------------------------------------------------

cdef int _server_factory(void *factory_ud, const eddy_protocol_t **proto,
                         void **ud) noexcept:
    """A new connection on a server: make its protocol and Transport."""
    cdef Server server = <Server>factory_ud
    cdef Transport tr
    try:
        try:
            protocol = server._protocol_factory()
        except (SystemExit, KeyboardInterrupt):
            raise
        except BaseException as exc:
            server._loop.call_exception_handler({
                'message': 'Error in protocol factory of a server',
                'exception': exc,
            })
            return EDDY_EINVAL
        if server._ssl is not None:
            protocol = _ssl_protocol(server._loop, protocol, server._ssl, None, True, None,
                                     server._ssl_handshake_timeout,
                                     server._ssl_shutdown_timeout)
        tr = Transport(server._loop, protocol, server)
        proto[0] = _protocol_table(protocol)
        ud[0] = tr._give_to_eddy()
        # A client from its accept on, as asyncio's transport constructor
        # attaches it and eddy's server counts it.
        server._attach(tr)
        return 0
    except BaseException as exc:
        server._loop._interrupt(exc)
        return EDDY_EINVAL


# Up to 3.12.0, asyncio's Server.wait_closed returns at once on a closed
# server; from 3.12.1 on it also waits for the server's connections to be
# gone (gh-79033). Code written for 3.11 relies on the first: `close()` then
# `await wait_closed()` with a connection still open.
cdef bint _WAIT_CLOSED_SKIPS_CONNECTIONS = sys.version_info < (3, 12, 1)


# eddy may call back into it while a reference cycle is being collected:
# its attributes must stay valid until it is deallocated.
@cython.no_gc_clear
cdef class Server:
    """asyncio.Server's interface over an eddy server."""
    cdef eddy_server_t *_s
    cdef Loop _loop
    cdef object _protocol_factory
    cdef set _clients
    cdef list _closing_waiters
    cdef readonly tuple _sockets
    cdef list _given_socks
    cdef object _serving_forever_fut
    cdef object _ssl
    cdef object _ssl_handshake_timeout
    cdef object _ssl_shutdown_timeout
    cdef object __weakref__

    def __cinit__(self, Loop loop, protocol_factory):
        self._loop = loop
        self._protocol_factory = protocol_factory
        self._clients = set()
        self._closing_waiters = []
        loop._servers.add(self)

    def __dealloc__(self):
        if self._s != NULL:
            eddy_server_release(self._s)

    cdef _take_back_from_eddy(self):
        self._loop._lent.discard(self)

    cdef void *_give_to_eddy(self):
        # eddy borrows the Server as the factory's data for as long as it
        # listens; the reference is dropped in close().
        return self._loop._lend(self)

    cdef _attach(self, Transport tr):
        self._clients.add(tr)

    cdef _detach(self, Transport tr):
        self._clients.discard(tr)

    def __repr__(self):
        return f'<{self.__class__.__name__} sockets={self.sockets!r}>'

    def get_loop(self):
        return self._loop

    @property
    def _waiters(self):
        """asyncio.Server._waiters, read-only: the futures of the pending
        wait_closed() calls, then None once the server is closed and its
        last connection is gone (when eddy completes wait_closed).
        CPython's test_server reads it."""
        if self._s != NULL and self._sockets is None and not self._clients:
            return None
        return list(self._closing_waiters)

    def is_serving(self):
        return self._s != NULL and bool(eddy_server_is_serving(self._s))

    @property
    def sockets(self):
        if self._s == NULL or self._sockets is None:
            return ()
        return self._sockets

    cdef _load_sockets(self):
        cdef int fds[64]
        cdef size_t n = 0
        cdef size_t i
        from asyncio import trsock
        if eddy_server_get_sockets(self._s, fds, 64, &n) < 0:
            self._sockets = ()
            return
        # The sockets the caller passed stay the same objects, as in asyncio.
        given = {s.fileno(): s for s in self._given_socks or ()}
        self._sockets = tuple(
            trsock.TransportSocket(given.get(fds[i]) or _socket.socket(fileno=fds[i]))
            for i in range(min(n, 64)))

    cdef _forget_sockets(self):
        # The socket objects view eddy's fds: detach them before eddy closes
        # those, so they can never close a reused fd.
        if self._sockets:
            for s in self._sockets:
                s._sock.detach()
        for s in self._given_socks or ():
            s.detach()
        self._sockets = None
        self._given_socks = None

    def close(self):
        """Stop listening; connections stay open."""
        if self._s == NULL:
            return
        self._forget_sockets()
        eddy_server_close(self._s)
        # eddy calls the factory no more.
        self._take_back_from_eddy()
        if (self._serving_forever_fut is not None and
                not self._serving_forever_fut.done()):
            self._serving_forever_fut.cancel()
            self._serving_forever_fut = None

    def close_clients(self):
        if self._s != NULL:
            eddy_server_close_clients(self._s)

    def abort_clients(self):
        if self._s != NULL:
            eddy_server_abort_clients(self._s)

    async def start_serving(self):
        cdef int rc = eddy_server_start_serving(self._s)
        if rc < 0:
            raise _error(rc)
        if self._sockets is None or not self._sockets:
            self._load_sockets()
        await tasks.sleep(0)

    async def serve_forever(self):
        cdef _Op op
        if self._serving_forever_fut is not None:
            raise RuntimeError(
                f'server {self!r} is already being awaited on serve_forever()')
        if self._sockets is None:
            raise RuntimeError(f'server {self!r} is closed')
        op = _Op(self._loop, OP_NONE)
        self._serving_forever_fut = op.start(eddy_server_serve_forever(self._s, &op.ef))
        try:
            await self._serving_forever_fut
        except asyncio.CancelledError:
            try:
                self.close()
                await self.wait_closed()
            finally:
                raise
        finally:
            self._serving_forever_fut = None

    async def wait_closed(self):
        cdef _Op op
        if self._s == NULL:
            return
        if _WAIT_CLOSED_SKIPS_CONNECTIONS and self._sockets is None:
            return
        op = _Op(self._loop, OP_NONE)
        waiter = op.start(eddy_server_wait_closed(self._s, &op.ef))
        self._closing_waiters.append(waiter)
        try:
            await waiter
        finally:
            self._closing_waiters.remove(waiter)

    async def __aenter__(self):
        return self

    async def __aexit__(self, *exc):
        self.close()
        await self.wait_closed()


cdef _check_ssl_args(ssl, ssl_handshake_timeout, ssl_shutdown_timeout):
    """asyncio's checks of the TLS-only arguments."""
    if ssl_handshake_timeout is not None and not ssl:
        raise ValueError('ssl_handshake_timeout is only meaningful with ssl')
    if ssl_shutdown_timeout is not None and not ssl:
        raise ValueError('ssl_shutdown_timeout is only meaningful with ssl')


cdef _check_server_ssl(ssl, ssl_handshake_timeout, ssl_shutdown_timeout):
    if isinstance(ssl, bool):
        raise TypeError('ssl argument must be an SSLContext or None')
    _check_ssl_args(ssl, ssl_handshake_timeout, ssl_shutdown_timeout)


cdef object _ssl_protocol(Loop loop, app_protocol, sslcontext, waiter, bint server_side,
                          server_hostname, ssl_handshake_timeout, ssl_shutdown_timeout,
                          bint call_connection_made=True):
    """TLS over an eddy transport: asyncio's own SSLProtocol (Python's ssl
    over MemoryBIOs) is the eddy transport's protocol and wraps the
    application's, as asyncio's _make_ssl_transport does. The application
    gets SSLProtocol's app transport."""
    from asyncio import sslproto
    return sslproto.SSLProtocol(
        loop, app_protocol, None if isinstance(sslcontext, bool) else sslcontext, waiter,
        server_side, server_hostname, call_connection_made=call_connection_made,
        ssl_handshake_timeout=ssl_handshake_timeout,
        ssl_shutdown_timeout=ssl_shutdown_timeout)


cdef _check_stream_socket(sock):
    if sock is not None:
        if hasattr(sock, 'do_handshake'):
            raise TypeError('Socket cannot be of type SSLSocket')
        if sock.type != _socket.SOCK_STREAM:
            raise ValueError(f'A Stream Socket was expected, got {sock!r}')


cdef int _port_number(port) except -1:
    if port is None:
        return 0
    if isinstance(port, (str, bytes)):
        try:
            return int(port)
        except ValueError:
            return _socket.getservbyname(port if isinstance(port, str) else port.decode(),
                                         'tcp')
    if not isinstance(port, int):
        raise TypeError(f'port must be an int, not {type(port).__name__}')
    if not 0 <= port <= 65535:
        raise OverflowError('port must be 0-65535.')
    return port
