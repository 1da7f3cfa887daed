# Datagram transports over eddy_datagram_t. Included by _loop.pyx; the
# ownership rule is the stream transports' (_streams.pxi).

cdef eddy_datagram_protocol_t _DATAGRAM_PROTOCOL


# eddy may call back into it while a reference cycle is being collected:
# its attributes must stay valid until it is deallocated.
@cython.no_gc_clear
cdef class DatagramTransport(_Core):
    """asyncio.DatagramTransport's interface over an eddy datagram
    endpoint."""
    cdef eddy_datagram_t *_d
    cdef Loop _loop
    cdef object _protocol
    cdef object _address
    cdef int _family
    cdef bint _made
    cdef bint _lost
    cdef object _sock

    def __cinit__(self, Loop loop, protocol, int family, address):
        self._loop = loop
        self._protocol = protocol
        self._family = family
        self._address = address

    def __dealloc__(self):
        if self._d != NULL:
            eddy_datagram_release(self._d)

    cdef void *_give_to_eddy(self):
        return self._loop._lend(self)

    cdef _take_back_from_eddy(self):
        self._loop._lent.discard(self)

    def __repr__(self):
        state = 'closed' if self._lost else ('closing' if self.is_closing() else 'open')
        return f'<{self.__class__.__name__} {state}>'

    def sendto(self, data, addr=None):
        """Send one datagram to addr (or the remote address)."""
        cdef Py_buffer view
        cdef sockaddr_storage ss
        cdef socklen_t sslen = 0
        cdef int rc
        if not isinstance(data, (bytes, bytearray, memoryview)):
            raise TypeError(f'data argument must be a bytes-like object, '
                            f'not {type(data).__name__!r}')
        if self._address is not None:
            if addr not in (None, self._address):
                raise ValueError(f'Invalid address: must be None or {self._address}')
            addr = None
        if addr is not None:
            if self._family in (_socket.AF_INET, _socket.AF_INET6) and \
                    not _is_numeric(self._family, addr):
                addr = _socket.getaddrinfo(addr[0], addr[1], self._family,
                                           _socket.SOCK_DGRAM)[0][4]
            sslen = _py_to_sockaddr(self._family, addr, &ss)
        if self._d == NULL or self._lost:
            return
        PyObject_GetBuffer(data, &view, PyBUF_SIMPLE)
        try:
            rc = eddy_datagram_sendto(self._d, view.buf, view.len,
                                      <c_sockaddr *>&ss if sslen else NULL, sslen)
        finally:
            PyBuffer_Release(&view)
        if rc < 0 and rc != EDDY_ECLOSED:
            raise _error(rc)

    def close(self):
        if self._d != NULL:
            eddy_datagram_close(self._d)

    def abort(self):
        if self._d != NULL:
            eddy_datagram_abort(self._d)

    def is_closing(self):
        return self._d != NULL and bool(eddy_datagram_is_closing(self._d))

    def get_write_buffer_size(self):
        return eddy_datagram_get_write_buffer_size(self._d) if self._d != NULL else 0

    def set_protocol(self, protocol):
        if self._d != NULL and not self._lost:
            rc = eddy_datagram_set_protocol(self._d, &_DATAGRAM_PROTOCOL, <void *>self)
            if rc < 0:
                raise _error(rc)
        self._protocol = protocol

    def get_protocol(self):
        return self._protocol

    def get_extra_info(self, name, default=None):
        cdef sockaddr_storage ss
        cdef size_t n = sizeof(ss)
        cdef int fd = -1
        if self._d == NULL:
            return default
        if name == 'socket':
            if self._sock is None and not self._lost:
                n = sizeof(fd)
                if eddy_datagram_get_extra_info(self._d, b'socket', &fd, &n) == 0:
                    from asyncio import trsock
                    self._sock = trsock.TransportSocket(_socket.socket(fileno=fd))
            return self._sock if self._sock is not None else default
        if name in ('peername', 'sockname'):
            if eddy_datagram_get_extra_info(self._d, name.encode(), &ss, &n) < 0:
                return default
            return _sockaddr_to_py(<c_sockaddr *>&ss, <socklen_t>n)
        return default

    cdef _call(self, name, tuple args=()):
        try:
            getattr(self._protocol, name)(*args)
        except (SystemExit, KeyboardInterrupt):
            raise
        except BaseException as exc:
            self._loop.call_exception_handler({
                'message': f'Fatal error: protocol.{name}() call failed.',
                'exception': exc,
                'transport': self._facade(),
                'protocol': self._protocol,
            })


cdef void _dg_connection_made(eddy_datagram_t *d, void *ud) noexcept:
    cdef DatagramTransport tr = <DatagramTransport>ud
    try:
        if tr._d == NULL:
            tr._d = d
            eddy_datagram_retain(d)
        tr._made = True
        tr._call('connection_made', (tr._facade(),))
    except BaseException as exc:
        tr._loop._interrupt(exc)


cdef void _dg_connection_lost(eddy_datagram_t *d, int err, void *ud) noexcept:
    cdef DatagramTransport tr = <DatagramTransport>ud
    try:
        tr._lost = True
        try:
            tr._call('connection_lost', (None if err == 0 else _error(err),))
        finally:
            if tr._sock is not None:
                tr._sock._sock.detach()
            tr._take_back_from_eddy()
    except BaseException as exc:
        tr._loop._interrupt(exc)


cdef void _dg_pause_writing(eddy_datagram_t *d, void *ud) noexcept:
    cdef DatagramTransport tr = <DatagramTransport>ud
    try:
        tr._call('pause_writing')
    except BaseException as exc:
        tr._loop._interrupt(exc)


cdef void _dg_resume_writing(eddy_datagram_t *d, void *ud) noexcept:
    cdef DatagramTransport tr = <DatagramTransport>ud
    try:
        tr._call('resume_writing')
    except BaseException as exc:
        tr._loop._interrupt(exc)


cdef void _dg_datagram_received(eddy_datagram_t *d, const uint8_t *data, size_t n,
                                const sockaddr *addr, socklen_t addrlen,
                                void *ud) noexcept:
    cdef DatagramTransport tr = <DatagramTransport>ud
    try:
        tr._call('datagram_received', (
            PyBytes_FromStringAndSize(<const char *>data, n),
            _sockaddr_to_py(addr, addrlen) if addr != NULL and addrlen else None))
    except BaseException as exc:
        tr._loop._interrupt(exc)


cdef void _dg_error_received(eddy_datagram_t *d, int err, void *ud) noexcept:
    cdef DatagramTransport tr = <DatagramTransport>ud
    try:
        tr._call('error_received', (_error(err),))
    except BaseException as exc:
        tr._loop._interrupt(exc)


_DATAGRAM_PROTOCOL.connection_made = _dg_connection_made
_DATAGRAM_PROTOCOL.connection_lost = _dg_connection_lost
_DATAGRAM_PROTOCOL.pause_writing = _dg_pause_writing
_DATAGRAM_PROTOCOL.resume_writing = _dg_resume_writing
_DATAGRAM_PROTOCOL.datagram_received = _dg_datagram_received
_DATAGRAM_PROTOCOL.error_received = _dg_error_received
