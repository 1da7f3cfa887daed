# Subprocess transports over eddy_process_t. Included by _loop.pyx; the
# ownership rule is the stream transports' (_streams.pxi).

import subprocess as _subprocess

cdef eddy_subprocess_protocol_t _SUBPROCESS_PROTOCOL

# Popen's arguments that eddy's options carry.
_POPEN_KWARGS = frozenset({'cwd', 'env', 'close_fds', 'start_new_session', 'pass_fds'})
# The others are accepted with Popen's default (a no-op) and refused with
# any other value, rather than silently dropped.
_POPEN_DEFAULTS = {
    'executable': None, 'preexec_fn': None, 'restore_signals': True, 'user': None,
    'group': None, 'extra_groups': None, 'umask': -1, 'process_group': None,
    'pipesize': -1, 'startupinfo': None, 'creationflags': 0,
}


# eddy may call back into it while a reference cycle is being collected:
# its attributes must stay valid until it is deallocated.
@cython.no_gc_clear
cdef class Process(_Core):
    """asyncio.SubprocessTransport's interface over an eddy process."""
    cdef eddy_process_t *_p
    cdef Loop _loop
    cdef object _protocol
    cdef bint _made
    cdef bint _lost
    cdef int _pid
    cdef dict _pipes
    cdef list _exit_waiters

    def __cinit__(self, Loop loop, protocol):
        self._loop = loop
        self._protocol = protocol
        self._pipes = {}
        self._exit_waiters = []

    def __dealloc__(self):
        if self._p != NULL:
            eddy_process_release(self._p)

    cdef void *_give_to_eddy(self):
        return self._loop._lend(self)

    cdef _take_back_from_eddy(self):
        self._loop._lent.discard(self)

    def __repr__(self):
        info = [self.__class__.__name__]
        if self._lost:
            info.append('closed')
        elif self.is_closing():
            info.append('closing')
        if self._p != NULL:
            info.append(f'pid={self._pid}')
            rc = self.get_returncode()
            info.append('running' if rc is None else f'returncode={rc}')
        return '<{}>'.format(' '.join(info))

    def get_pid(self):
        return self._pid if self._p != NULL else None

    def get_returncode(self):
        cdef int code
        if self._p == NULL or eddy_process_get_returncode(self._p, &code) < 0:
            return None
        return code

    def get_pipe_transport(self, fd):
        """The child's fd 0, 1 or 2 as a stream transport; None when that fd
        is not a pipe."""
        cdef eddy_transport_t *t
        cdef Transport tr
        if fd in self._pipes:
            return (<Transport>self._pipes[fd])._facade()
        if self._p == NULL or fd not in (0, 1, 2):
            return None
        t = eddy_process_get_pipe_transport(self._p, fd)
        if t == NULL:
            return None
        # Its events go to the process's protocol (eddy routes them).
        tr = Transport(self._loop, None)
        tr._t = t
        eddy_transport_retain(t)
        tr._made = True
        self._pipes[fd] = tr
        return tr._facade()

    async def _wait(self):
        """The return code once the child exited (what
        asyncio.subprocess.Process.wait awaits)."""
        rc = self.get_returncode()
        if rc is not None:
            return rc
        waiter = self._loop.create_future()
        self._exit_waiters.append(waiter)
        return await waiter

    cdef _wake_waiters(self):
        # After connection_lost, as asyncio does.
        rc = self.get_returncode()
        for waiter in self._exit_waiters:
            if not waiter.cancelled():
                waiter.set_result(rc)
        self._exit_waiters = []

    def get_extra_info(self, name, default=None):
        # 'subprocess' (asyncio's Popen object) has no counterpart: eddy
        # spawns the child itself.
        return default

    def get_protocol(self):
        return self._protocol

    def set_protocol(self, protocol):
        self._protocol = protocol

    def is_closing(self):
        return self._p != NULL and bool(eddy_process_is_closing(self._p))

    def close(self):
        """Close the pipes; kill the child if it still runs."""
        if self._p != NULL and not self._lost:
            eddy_process_close(self._p)

    def send_signal(self, signal):
        cdef int rc
        if self._p == NULL or self._lost:
            # asyncio raises once the transport is finished; between the
            # child's exit and connection_lost a signal is a no-op.
            raise ProcessLookupError()
        rc = eddy_process_send_signal(self._p, signal)
        if rc < 0 and rc != -_errno.ESRCH:
            raise _error(rc)

    def terminate(self):
        self.send_signal(_signal.SIGTERM)

    def kill(self):
        self.send_signal(_signal.SIGKILL)

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


cdef void _sp_connection_made(eddy_process_t *p, void *ud) noexcept:
    cdef Process proc = <Process>ud
    try:
        if proc._p == NULL:
            proc._p = p
            eddy_process_retain(p)
            proc._pid = eddy_process_get_pid(p)
            # Taken now: eddy forgets a pipe once it closed, and asyncio's
            # get_pipe_transport still answers then.
            for fd in range(3):
                proc.get_pipe_transport(fd)
        proc._made = True
        proc._call('connection_made', (proc._facade(),))
    except BaseException as exc:
        proc._loop._interrupt(exc)


cdef void _sp_connection_lost(eddy_process_t *p, int err, void *ud) noexcept:
    cdef Process proc = <Process>ud
    try:
        proc._lost = True
        try:
            proc._call('connection_lost', (None if err == 0 else _error(err),))
        finally:
            proc._wake_waiters()
            proc._take_back_from_eddy()
    except BaseException as exc:
        proc._loop._interrupt(exc)


cdef void _sp_pause_writing(eddy_process_t *p, void *ud) noexcept:
    cdef Process proc = <Process>ud
    try:
        proc._call('pause_writing')
    except BaseException as exc:
        proc._loop._interrupt(exc)


cdef void _sp_resume_writing(eddy_process_t *p, void *ud) noexcept:
    cdef Process proc = <Process>ud
    try:
        proc._call('resume_writing')
    except BaseException as exc:
        proc._loop._interrupt(exc)


cdef void _sp_pipe_data_received(eddy_process_t *p, int fd, const uint8_t *data, size_t n,
                                 void *ud) noexcept:
    cdef Process proc = <Process>ud
    try:
        proc._call('pipe_data_received',
                   (fd, PyBytes_FromStringAndSize(<const char *>data, n)))
    except BaseException as exc:
        proc._loop._interrupt(exc)


cdef void _sp_pipe_connection_lost(eddy_process_t *p, int fd, int err,
                                   void *ud) noexcept:
    cdef Process proc = <Process>ud
    try:
        proc._call('pipe_connection_lost', (fd, None if err == 0 else _error(err)))
    except BaseException as exc:
        proc._loop._interrupt(exc)


cdef void _sp_process_exited(eddy_process_t *p, void *ud) noexcept:
    cdef Process proc = <Process>ud
    try:
        proc._call('process_exited')
    except BaseException as exc:
        proc._loop._interrupt(exc)


_SUBPROCESS_PROTOCOL.connection_made = _sp_connection_made
_SUBPROCESS_PROTOCOL.connection_lost = _sp_connection_lost
_SUBPROCESS_PROTOCOL.pause_writing = _sp_pause_writing
_SUBPROCESS_PROTOCOL.resume_writing = _sp_resume_writing
_SUBPROCESS_PROTOCOL.pipe_data_received = _sp_pipe_data_received
_SUBPROCESS_PROTOCOL.pipe_connection_lost = _sp_pipe_connection_lost
_SUBPROCESS_PROTOCOL.process_exited = _sp_process_exited


cdef int _stdio_fd(value) except? -5:
    """Popen's stdin/stdout/stderr value as eddy's fd or mode."""
    if value is None:
        return EDDY_SUBPROCESS_INHERIT
    if value == _subprocess.PIPE:
        return EDDY_SUBPROCESS_PIPE
    if value == _subprocess.STDOUT:
        return EDDY_SUBPROCESS_STDOUT
    if value == _subprocess.DEVNULL:
        return EDDY_SUBPROCESS_DEVNULL
    return _fileobj_to_fd(value)


cdef _check_popen_text_args(universal_newlines, bufsize, encoding, errors, text):
    """asyncio's checks: the pipes carry bytes, unbuffered."""
    if universal_newlines:
        raise ValueError('universal_newlines must be False')
    if bufsize != 0:
        raise ValueError('bufsize must be 0')
    if text:
        raise ValueError('text must be False')
    if encoding is not None:
        raise ValueError('encoding must be None')
    if errors is not None:
        raise ValueError('errors must be None')
