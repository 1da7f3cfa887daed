# cython: language_level=3, freethreading_compatible=False
"""The asyncio event loop over eddy's C API (include/eddy.h).

How the two loops are mapped onto each other:

* eddy runs the loop: `run_forever` calls `eddy_loop_run_forever` with the
  GIL held, and eddy's poll hooks release it while the poll may block (C
  callbacks still declare `with gil`: eddy may call some from elsewhere).
* Ready callbacks (call_soon) live in a Python list, as in asyncio's deque;
  one eddy callback per iteration drains the callbacks that were ready when
  it started, so a callback scheduled by a callback runs in the next
  iteration, after eddy's poll (asyncio's order; eddy skips a poll that
  would not block when the last one is less than 50 µs old).
* Timers are eddy timers (`eddy_loop_call_at`), readers and writers are eddy
  readers and writers, the sock_* methods and getaddrinfo/getnameinfo are
  eddy operations whose eddy futures complete asyncio futures.
* An exception that must leave the loop (KeyboardInterrupt, SystemExit) is
  kept, eddy's loop is stopped, and run_forever raises it once eddy returns.
"""

cimport cython
from cpython.contextvars cimport (PyContext_CheckExact, PyContext_CopyCurrent, PyContext_Enter,
                                  PyContext_Exit, PyContext_New)
from cpython.buffer cimport PyObject_GetBuffer, PyBuffer_Release, PyBUF_WRITABLE, PyBUF_SIMPLE
from cpython.bytes cimport PyBytes_FromStringAndSize, PyBytes_AS_STRING, PyBytes_GET_SIZE
from cpython.exc cimport PyErr_CheckSignals
from libc.stdint cimport int64_t, uint16_t, uint32_t
from libc.string cimport memset, memcpy, strlen

from eddyloop._eddy cimport *

import asyncio
import concurrent.futures
import errno as _errno
import os
import signal as _signal
import socket as _socket
import sys
import threading
import time as _time
import warnings
import weakref

from asyncio import base_events, coroutines, events, futures, tasks
from asyncio import constants as _constants
from asyncio import format_helpers
from asyncio.log import logger


ctypedef sockaddr c_sockaddr

cdef extern from "pythread.h":
    unsigned long PyThread_get_thread_ident()

cdef extern from "Python.h":
    ctypedef struct PyThreadState:
        pass
    PyThreadState *PyEval_SaveThread() nogil
    void PyEval_RestoreThread(PyThreadState *tstate) nogil

cdef extern from "<sys/socket.h>":
    ctypedef unsigned short sa_family_t
    struct sockaddr_storage:
        sa_family_t ss_family

cdef extern from "<netinet/in.h>":
    struct in_addr:
        pass
    struct in6_addr:
        pass
    struct sockaddr_in:
        sa_family_t sin_family
        uint16_t sin_port
        in_addr sin_addr
    struct sockaddr_in6:
        sa_family_t sin6_family
        uint16_t sin6_port
        uint32_t sin6_flowinfo
        in6_addr sin6_addr
        uint32_t sin6_scope_id
    uint16_t htons(uint16_t)
    uint16_t ntohs(uint16_t)
    uint32_t htonl(uint32_t)
    uint32_t ntohl(uint32_t)

cdef extern from "<arpa/inet.h>":
    int inet_pton(int af, const char *src, void *dst)
    const char *inet_ntop(int af, const void *src, char *dst, socklen_t size)

cdef extern from "<sys/un.h>":
    struct sockaddr_un:
        sa_family_t sun_family
        char sun_path[108]

cdef extern from *:
    """
    #include <stddef.h>
    #define EDDYLOOP_SUN_PATH_OFFSET offsetof(struct sockaddr_un, sun_path)
    """
    size_t EDDYLOOP_SUN_PATH_OFFSET


# --- errors ----------------------------------------------------------------

_UNSET = object()  # create_datagram_endpoint's reuse_address default

def version():
    """The version of the eddy library linked into this module."""
    return eddy_version_string().decode()


cdef object _connect_error(eddy_future_t *ef, bint all_errors):
    """asyncio's exception for a failed create_connection, from the error
    of each step eddy tried: an ExceptionGroup with all_errors, else the one
    error, or 'Multiple exceptions: ...'."""
    cdef int code = 0
    cdef const char *msg = NULL
    cdef size_t i
    excs = []
    for i in range(eddy_future_error_count(ef)):
        eddy_future_error_at(ef, i, &code, &msg)
        excs.append(OSError(-code, msg.decode('utf-8', 'replace')))
    if all_errors:
        return ExceptionGroup('create_connection failed', excs)
    if len({str(e) for e in excs}) == 1:
        return excs[0]
    return OSError('Multiple exceptions: {}'.format(', '.join(str(e) for e in excs)))


cdef object _error(int rc, const char *message=NULL):
    """The Python exception for an eddy error code: an errno becomes the
    matching OSError subclass, a resolver code a socket.gaierror."""
    cdef str name = eddy_err_name(rc).decode()
    cdef str text = (message if message != NULL else eddy_strerror(rc)).decode(
        'utf-8', 'replace')
    if rc == EDDY_ECANCELED:
        return asyncio.CancelledError()
    if -4000 < rc < 0:
        return OSError(-rc, os.strerror(-rc))
    if name.startswith('EDDY_EAI_'):
        code = getattr(_socket, name[5:], None)
        if code is not None:
            return _socket.gaierror(code, text)
    if rc == EDDY_ECLOSED:
        return RuntimeError('Event loop is closed')
    return RuntimeError(f'{name}: {text}')


# --- handles ---------------------------------------------------------------

cdef extern from *:
    """
    /* Whether this thread's current context holds no variables: a copy of
       it is then as good as a new empty context. */
    static int eddyloop_current_context_is_empty(void) {
        PyObject *ctx = PyThreadState_Get()->context;
        return ctx == NULL || PyObject_Length(ctx) == 0;
    }
    """
    bint eddyloop_current_context_is_empty()

cdef extern from *:
    """
    /* Empties a list but keeps its item array, up to 4096 slots: the ready
       list is emptied after every batch and refilled at once, and
       list.clear() freed the array each time, so that the next append
       allocated it again (a third of the binding's own part of a chained
       call_soon). Only for a list nothing else can reach meanwhile (the
       drain's own batch): a destructor run by a decref below must not
       append to it. */
    static void eddyloop_list_empty(PyObject *op) {
        PyListObject *l = (PyListObject *)op;
        Py_ssize_t i = Py_SIZE(l);
        if (l->allocated > 4096) {
            PyList_SetSlice(op, 0, i, NULL);
            return;
        }
        Py_SET_SIZE(l, 0);
        while (--i >= 0) {
            Py_XDECREF(l->ob_item[i]);
        }
    }
    """
    void eddyloop_list_empty(list op)

cdef extern from "Python.h":
    void PyObject_GC_Track(void *op)
    void PyObject_GC_UnTrack(void *op)
    int PyObject_GC_IsTracked(object op)


@cython.freelist(250)
cdef class Handle:
    """asyncio.Handle's interface: a callback scheduled on the loop."""
    cdef readonly object _callback
    cdef readonly object _args
    cdef object _context
    cdef Loop _loop
    cdef readonly bint _cancelled
    cdef public object _source_traceback
    cdef object _repr

    def __init__(self, callback, args, loop, context=None):
        self._init(callback, args, loop, context)

    cdef _init(self, callback, args, Loop loop, context):
        # None: made in an empty context, and runs in an empty one (see
        # _call). Most callbacks are, and the copy was a third of the
        # cost of call_soon.
        if context is None and not eddyloop_current_context_is_empty():
            context = PyContext_CopyCurrent()
        self._callback = callback
        self._args = args
        self._loop = loop
        self._context = context
        if loop._debug:
            self._source_traceback = format_helpers.extract_stack(
                sys._getframe(1))

    def _repr_info(self):
        info = [self.__class__.__name__]
        if self._cancelled:
            info.append('cancelled')
        if self._callback is not None:
            info.append(format_helpers._format_callback_source(
                self._callback, self._args))
        if self._source_traceback:
            frame = self._source_traceback[-1]
            info.append(f'created at {frame[0]}:{frame[1]}')
        return info

    def __repr__(self):
        if self._repr is not None:
            return self._repr
        return '<{}>'.format(' '.join(self._repr_info()))

    def get_context(self):
        if self._context is None:
            self._context = PyContext_New()
        return self._context

    def cancel(self):
        if not self._cancelled:
            self._cancelled = True
            if self._loop._debug:
                # Keep the repr: it tells which callback was cancelled.
                self._repr = repr(self)
            self._callback = None
            self._args = None

    def cancelled(self):
        return self._cancelled

    def _run(self):
        self._call()

    cdef _call(self):
        """Runs the callback in its context; an exception other than
        KeyboardInterrupt and SystemExit goes to the exception handler.
        Enters the context through the C API: Context.run's method lookup
        and argument tuple cost as much as the rest of the call."""
        cdef object context = self._context
        cdef Loop loop = self._loop
        try:
            if context is None and not loop._empty_context_entered:
                # The loop's empty context stands in for a copy of an empty
                # one; it becomes the handle's own if the callback set a
                # variable in it (get_context shows it, as asyncio's would).
                context = loop._empty_context
                loop._empty_context_entered = True
                try:
                    self._call_in(context)
                finally:
                    loop._empty_context_entered = False
                    if len(context):
                        self._context = context
                        loop._empty_context = PyContext_New()
            elif context is None:
                # A handle run from inside another one's callback.
                self._context = context = PyContext_New()
                self._call_in(context)
            elif PyContext_CheckExact(context):
                self._call_in(context)
            else:
                context.run(self._callback, *self._args)
        except (SystemExit, KeyboardInterrupt):
            raise
        except BaseException as exc:
            cb = format_helpers._format_callback_source(
                self._callback, self._args)
            context = {
                'message': f'Exception in callback {cb}',
                'exception': exc,
                'handle': self,
            }
            if self._source_traceback:
                context['source_traceback'] = self._source_traceback
            self._loop.call_exception_handler(context)

    cdef inline _call_in(self, context):
        PyContext_Enter(context)
        try:
            self._callback(*self._args)
        finally:
            PyContext_Exit(context)


@cython.trashcan(True)
cdef class TimerHandle(Handle):
    """asyncio.TimerHandle's interface over an eddy timer."""
    cdef readonly double _when
    cdef eddy_handle_t *_eh
    cdef public bint _scheduled
    # The loop's list of pending timers (see Loop._timers_head): a set
    # would hash every timer through __hash__ twice.
    cdef TimerHandle _next
    cdef void *_prev
    cdef bint _linked

    def __init__(self, when, callback, args, loop, context=None):
        self._init(callback, args, loop, context)
        self._when = when

    def _repr_info(self):
        info = Handle._repr_info(self)
        pos = 2 if self._cancelled else 1
        info.insert(pos, f'when={self._when}')
        return info

    def __hash__(self):
        return hash(self._when)

    def __lt__(self, other):
        if isinstance(other, TimerHandle):
            return self._when < (<TimerHandle>other)._when
        return NotImplemented

    def __le__(self, other):
        if isinstance(other, TimerHandle):
            return self._when < (<TimerHandle>other)._when or self.__eq__(other)
        return NotImplemented

    def __gt__(self, other):
        if isinstance(other, TimerHandle):
            return self._when > (<TimerHandle>other)._when
        return NotImplemented

    def __ge__(self, other):
        if isinstance(other, TimerHandle):
            return self._when > (<TimerHandle>other)._when or self.__eq__(other)
        return NotImplemented

    def __eq__(self, other):
        if isinstance(other, TimerHandle):
            o = <TimerHandle>other
            return (self._when == o._when and self._callback == o._callback
                    and self._args == o._args and self._cancelled == o._cancelled)
        return NotImplemented

    def when(self):
        return self._when

    def cancel(self):
        if not self._cancelled:
            self._unschedule()
        Handle.cancel(self)

    cdef _unschedule(self):
        """Takes the timer off eddy's queue and out of the loop's list of
        pending timers (which holds the reference eddy's data pointer
        borrows)."""
        if self._eh != NULL:
            eddy_handle_cancel(self._eh)
            eddy_handle_release(self._eh)
            self._eh = NULL
        self._scheduled = False
        self._unlink()

    cdef inline void _link(self):
        cdef Loop loop = self._loop
        self._next = loop._timers_head
        if self._next is not None:
            self._next._prev = <void *>self
        self._prev = NULL
        loop._timers_head = self
        self._linked = True
        # While pending, the loop's list keeps the timer alive, so the
        # cycle collector has nothing to find through it unless the loop
        # itself is garbage (an unclosed loop: __del__ closes it, which
        # unlinks every timer). Untracked, 200,000 pending timers no longer
        # make each full collection walk them: that walk was 40% of the
        # CPU per timer.
        PyObject_GC_UnTrack(<void *>self)

    cdef inline void _unlink(self):
        cdef Loop loop
        if not self._linked:
            return
        loop = self._loop
        self._linked = False
        if not PyObject_GC_IsTracked(self):
            PyObject_GC_Track(<void *>self)
        if self._next is not None:
            self._next._prev = self._prev
        if self._prev == NULL:
            loop._timers_head = self._next
        else:
            (<TimerHandle>self._prev)._next = self._next
        self._prev = NULL
        self._next = None

    def __dealloc__(self):
        if self._eh != NULL:
            eddy_handle_release(self._eh)


# --- C callbacks -----------------------------------------------------------
# None lets an exception escape into eddy: what must leave the loop is kept
# by Loop._interrupt. None takes the GIL either: eddy calls them on the
# loop's thread from inside run_forever (or from a call the binding makes),
# and that thread holds the GIL except between the poll hooks below, around
# a poll that may block, where eddy calls nothing. (Taking it with
# PyGILState_Ensure cost ~80 instructions per callback, 3% of a chained
# call_soon.)

cdef void _release_gil(void *ud) noexcept nogil:
    (<PyThreadState **>ud)[0] = PyEval_SaveThread()


cdef void _take_gil(void *ud) noexcept nogil:
    PyEval_RestoreThread((<PyThreadState **>ud)[0])


cdef void _drain_cb(void *ud) noexcept:
    cdef Loop loop = <Loop>ud
    try:
        loop._drain()
    except BaseException as exc:
        loop._interrupt(exc)


cdef void _wake_cb(void *ud) noexcept:
    cdef Loop loop = <Loop>ud
    try:
        loop._wake_pending = False
        if loop._ready:
            loop._schedule_drain()
    except BaseException as exc:
        loop._interrupt(exc)


cdef void _timer_cb(void *ud) noexcept:
    cdef TimerHandle h = <TimerHandle>ud
    cdef Loop loop = h._loop
    try:
        if h._eh != NULL:
            eddy_handle_release(h._eh)
            h._eh = NULL
        h._scheduled = False
        h._unlink()
        if loop._pending_exc is not None:
            # The loop is on its way out: keep the callback for the next run,
            # as asyncio keeps its ready queue.
            loop._ready.append(h)
            loop._schedule_drain()
        else:
            loop._run_handle(h)
    except BaseException as exc:
        loop._interrupt(exc)


cdef void _io_cb(void *ud) noexcept:
    cdef _IoWatch w = <_IoWatch>ud
    cdef Loop loop = w.loop
    try:
        if w.handle._cancelled:
            # asyncio drops a cancelled reader or writer when it fires.
            loop._remove_watch(w.fd, w.writer)
        elif loop._pending_exc is None:
            loop._run_handle(w.handle)
    except BaseException as exc:
        loop._interrupt(exc)


cdef void _wakeup_fd_cb(void *ud) noexcept:
    cdef Loop loop = <Loop>ud
    try:
        loop._read_wakeup_fd()
    except BaseException as exc:
        loop._interrupt(exc)


cdef void _op_done_cb(eddy_future_t *f, void *ud) noexcept:
    cdef _Op op = <_Op>ud
    # Lent when the callback was registered; `op` holds it for this call.
    op.loop._lent.discard(op)
    try:
        op._complete()
    except BaseException as exc:
        op.loop._interrupt(exc)


@cython.final
cdef class _IoWatch:
    """A reader or writer: the handle and the fd eddy calls back for. The
    loop's dict of watches owns it; eddy borrows it."""
    cdef Loop loop
    cdef Handle handle
    cdef int fd
    cdef bint writer


# --- addresses -------------------------------------------------------------

cdef object _sockaddr_to_py(const sockaddr *sa, socklen_t salen):
    """A C address as the socket module shows it (host, port[, flowinfo,
    scope_id]) or a Unix path."""
    cdef char buf[64]
    cdef const sockaddr_in *sin
    cdef const sockaddr_in6 *sin6
    cdef const sockaddr_un *sun
    cdef size_t n
    cdef int family = (<const sockaddr_storage *>sa).ss_family
    if family == _socket.AF_INET:
        sin = <const sockaddr_in *>sa
        inet_ntop(family, &sin.sin_addr, buf, sizeof(buf))
        return (buf.decode(), ntohs(sin.sin_port))
    if family == _socket.AF_INET6:
        sin6 = <const sockaddr_in6 *>sa
        inet_ntop(family, &sin6.sin6_addr, buf, sizeof(buf))
        return (buf.decode(), ntohs(sin6.sin6_port), ntohl(sin6.sin6_flowinfo),
                sin6.sin6_scope_id)
    if family == _socket.AF_UNIX:
        sun = <const sockaddr_un *>sa
        if salen <= EDDYLOOP_SUN_PATH_OFFSET:
            return ''
        n = salen - EDDYLOOP_SUN_PATH_OFFSET
        if sun.sun_path[0] == 0:
            return PyBytes_FromStringAndSize(sun.sun_path, n)
        path = PyBytes_FromStringAndSize(sun.sun_path, n).split(b'\0', 1)[0]
        return os.fsdecode(path)
    return (family, PyBytes_FromStringAndSize(<const char *>sa, salen))


cdef socklen_t _py_to_sockaddr(int family, address, sockaddr_storage *out) except 0:
    """Fills `out` with a numeric address; ValueError when the host is not
    numeric (the caller resolves first)."""
    cdef sockaddr_in *sin
    cdef sockaddr_in6 *sin6
    cdef sockaddr_un *sun
    cdef bytes host, path
    memset(out, 0, sizeof(sockaddr_storage))
    if family == _socket.AF_INET or family == _socket.AF_INET6:
        if not isinstance(address, tuple) or len(address) < 2:
            raise TypeError(f'address must be a tuple, not {type(address).__name__}')
        port = address[1]
        if not isinstance(port, int):
            raise TypeError(f"'{type(port).__name__}' object cannot be interpreted as an integer")
        if not 0 <= port <= 65535:
            raise OverflowError('port must be 0-65535.')
        host = (address[0] or ('0.0.0.0' if family == _socket.AF_INET else '::')).encode('idna')
        if family == _socket.AF_INET:
            sin = <sockaddr_in *>out
            sin.sin_family = family
            sin.sin_port = htons(port)
            if inet_pton(family, host, &sin.sin_addr) != 1:
                raise ValueError('not a numeric address')
            return sizeof(sockaddr_in)
        sin6 = <sockaddr_in6 *>out
        sin6.sin6_family = family
        sin6.sin6_port = htons(port)
        if len(address) > 2:
            sin6.sin6_flowinfo = htonl(address[2])
        if len(address) > 3:
            sin6.sin6_scope_id = address[3]
        if inet_pton(family, host.split(b'%', 1)[0], &sin6.sin6_addr) != 1:
            raise ValueError('not a numeric address')
        return sizeof(sockaddr_in6)
    if family == _socket.AF_UNIX:
        path = os.fsencode(address)
        if len(path) >= sizeof(sun.sun_path):
            raise OSError(_errno.ENAMETOOLONG, 'AF_UNIX path too long')
        sun = <sockaddr_un *>out
        sun.sun_family = family
        memcpy(sun.sun_path, PyBytes_AS_STRING(path), len(path))
        if len(path) and path[0] == 0:
            return EDDYLOOP_SUN_PATH_OFFSET + len(path)
        return EDDYLOOP_SUN_PATH_OFFSET + len(path) + 1
    raise ValueError(f'unsupported address family {family}')


# --- eddy operations completing asyncio futures ----------------------------

cdef enum OpKind:
    OP_RECV, OP_RECV_INTO, OP_RECVFROM, OP_RECVFROM_INTO, OP_COUNT, OP_NONE,
    OP_ACCEPT, OP_SENDFILE, OP_GETADDRINFO, OP_GETNAMEINFO, OP_TRANSPORT, OP_SERVER, OP_DATAGRAM,
    OP_PROCESS


@cython.final
cdef class _Op:
    """One eddy future and the asyncio future it completes. While eddy runs
    the operation this object holds what eddy borrows (the data sent, the
    buffer received into, the address)."""
    cdef Loop loop
    cdef eddy_future_t *ef
    cdef object fut
    cdef OpKind kind
    cdef object keep
    cdef Py_buffer view
    cdef bint has_view
    cdef sockaddr_storage addr
    cdef socklen_t addrlen
    cdef int64_t offset
    cdef int64_t file_pos
    cdef bint all_errors

    def __cinit__(self, Loop loop, int kind):
        _check_eddy_thread(loop)
        self.loop = loop
        self.kind = <OpKind>kind
        self.fut = loop.create_future()

    cdef object start(self, int rc):
        """Hooks the eddy future up after the call that made it returned
        `rc`; returns the asyncio future."""
        if rc < 0:
            self._release()
            raise _error(rc)
        rc = eddy_future_add_done_callback(self.ef, _op_done_cb, self.loop._lend(self))
        if rc < 0:
            self.loop._lent.discard(self)
            eddy_future_cancel(self.ef)
            self._release()
            raise _error(rc)
        self.fut.add_done_callback(self._on_asyncio_done)
        return self.fut

    def _on_asyncio_done(self, fut):
        # Cancelling the asyncio future cancels eddy's operation; eddy still
        # calls back, which frees what it borrowed.
        if fut.cancelled() and self.ef != NULL:
            eddy_future_cancel(self.ef)

    cdef _release(self):
        if self.has_view:
            PyBuffer_Release(&self.view)
            self.has_view = False
        if self.ef != NULL:
            eddy_future_release(self.ef)
            self.ef = NULL
        self.keep = None

    cdef _complete(self):
        cdef void *ptr = NULL
        cdef int64_t n = 0
        cdef int rc
        if eddy_future_cancelled(self.ef):
            self._failed()
            self._release()
            if not self.fut.done():
                self.fut.cancel()
            return
        rc = eddy_future_result(self.ef, &ptr, &n)
        if rc != 0:
            self._failed()
        if self.fut.done():
            if rc == 0:
                self._discard(ptr, n)
            self._release()
            return
        try:
            if rc == 0:
                self.fut.set_result(self._value(ptr, n))
            elif eddy_future_error_count(self.ef) > 0:
                self.fut.set_exception(_connect_error(self.ef, self.all_errors))
            else:
                self.fut.set_exception(_error(rc, eddy_future_error_message(self.ef)))
        finally:
            self._release()

    cdef _failed(self):
        """eddy will not call back the connection or server it was making:
        drop the reference it held."""
        if self.kind == OP_TRANSPORT:
            if not (<Transport>self.keep)._made:
                (<Transport>self.keep)._take_back_from_eddy()
        elif self.kind == OP_SERVER:
            (<Server>self.keep)._take_back_from_eddy()
        elif self.kind == OP_DATAGRAM:
            if not (<DatagramTransport>self.keep)._made:
                (<DatagramTransport>self.keep)._take_back_from_eddy()
        elif self.kind == OP_PROCESS:
            if not (<Process>self.keep)._made:
                (<Process>self.keep)._take_back_from_eddy()
        elif self.kind == OP_SENDFILE:
            # eddy left the fd's position after what was sent (asyncio
            # does too); the file object, which may buffer, follows it as
            # after a success.
            try:
                pos = os.lseek(self.keep.fileno(), 0, os.SEEK_CUR)
                if pos != self.file_pos:
                    self.keep.seek(pos)
            except (OSError, ValueError):
                pass  # the caller closed the file meanwhile

    cdef _discard(self, void *ptr, int64_t n):
        """Frees a result nobody will take (the asyncio future was
        cancelled after eddy finished)."""
        if self.kind == OP_TRANSPORT or self.kind == OP_DATAGRAM:
            self.keep.abort()
        elif self.kind == OP_PROCESS:
            self.keep.close()
        elif self.kind == OP_SERVER:
            eddy_server_close(<eddy_server_t *>ptr)
            (<Server>self.keep)._take_back_from_eddy()
        elif self.kind == OP_ACCEPT:
            os.close(n)
        elif self.kind == OP_GETADDRINFO:
            eddy_freeaddrinfo(<addrinfo *>ptr)
        elif self.kind in (OP_RECV, OP_RECVFROM, OP_GETNAMEINFO):
            eddy_free(ptr)

    cdef object _value(self, void *ptr, int64_t n):
        cdef eddy_datagram_msg_t *msg
        cdef eddy_nameinfo_t *ni
        cdef addrinfo *ai
        if self.kind == OP_RECV:
            try:
                return PyBytes_FromStringAndSize(<char *>ptr, n) if ptr != NULL else b''
            finally:
                eddy_free(ptr)
        if self.kind == OP_RECV_INTO or self.kind == OP_COUNT:
            return n
        if self.kind == OP_NONE:
            return None
        if self.kind == OP_RECVFROM:
            msg = <eddy_datagram_msg_t *>ptr
            try:
                return (PyBytes_FromStringAndSize(<char *>msg.data, msg.len),
                        _sockaddr_to_py(<c_sockaddr *>ptr, msg.addrlen))
            finally:
                eddy_free(ptr)
        if self.kind == OP_RECVFROM_INTO:
            return (n, _sockaddr_to_py(<c_sockaddr *>&self.addr, self.addrlen))
        if self.kind == OP_ACCEPT:
            conn = _socket.socket(fileno=n)
            conn.setblocking(False)
            try:
                addr = conn.getpeername()
            except OSError:
                addr = None
            return (conn, addr)
        if self.kind == OP_SENDFILE:
            if n:
                self.keep.seek(self.offset + n)
            return n
        if self.kind == OP_TRANSPORT:
            return ((<Transport>self.keep)._facade(), (<Transport>self.keep)._protocol)
        if self.kind == OP_DATAGRAM:
            dg = <DatagramTransport>self.keep
            if dg._address is not None:
                # sendto checks against the address eddy resolved.
                dg._address = dg.get_extra_info('peername', dg._address)
            return (dg._facade(), dg._protocol)
        if self.kind == OP_PROCESS:
            return ((<Process>self.keep)._facade(), (<Process>self.keep)._protocol)
        if self.kind == OP_SERVER:
            server = <Server>self.keep
            server._s = <eddy_server_t *>ptr
            eddy_server_retain(server._s)
            server._load_sockets()
            return server
        if self.kind == OP_GETADDRINFO:
            ai = <addrinfo *>ptr
            result = []
            try:
                while ai != NULL:
                    result.append((
                        _socket.AddressFamily(ai.ai_family),
                        _socket.SocketKind(ai.ai_socktype),
                        ai.ai_protocol,
                        ai.ai_canonname.decode() if ai.ai_canonname != NULL else '',
                        _sockaddr_to_py(ai.ai_addr, ai.ai_addrlen)))
                    ai = ai.ai_next
            finally:
                eddy_freeaddrinfo(<addrinfo *>ptr)
            return result
        if self.kind == OP_GETNAMEINFO:
            ni = <eddy_nameinfo_t *>ptr
            try:
                return (ni.host.decode(), ni.serv.decode())
            finally:
                eddy_free(ptr)
        raise AssertionError(self.kind)

    cdef int take_buffer(self, obj, bint writable) except -1:
        PyObject_GetBuffer(obj, &self.view, PyBUF_WRITABLE if writable else PyBUF_SIMPLE)
        self.has_view = True
        return 0

    def __dealloc__(self):
        if self.has_view:
            PyBuffer_Release(&self.view)
        if self.ef != NULL:
            eddy_future_release(self.ef)


cdef class _Core:
    """A Cython transport. What protocols and users see is its facade, an
    instance of asyncio's transport classes (_transport_class); the core
    holds it weakly, so the two never form a cycle and a finished
    connection is freed by reference counting alone, as asyncio's are. A
    facade nobody holds any more is made anew when needed."""
    cdef object _py_ref

    cdef object _facade(self):
        py = self._py_ref() if self._py_ref is not None else None
        if py is None:
            py = _FACADES[type(self)](self)
            self._py_ref = weakref.ref(py)
        return py


include "_streams.pxi"
include "_datagram.pxi"
include "_subprocess.pxi"


def _transport_class(name, core, bases, **attrs):
    """A subclass of asyncio's transport classes `bases` over a Cython
    transport `core`. (The Cython class cannot derive from them itself: both
    lay out instance memory, BaseTransport for its __slots__.) Every method of the
    core is a slot filled with the core's bound method when the transport is
    made, so a call costs what a call on the core costs."""
    names = tuple(n for n, v in vars(core).items()
                  if callable(v) and not n.startswith('__'))

    def __init__(self, core):
        self._core = core
        for n in names:
            setattr(self, n, getattr(core, n))

    def __repr__(self):
        return repr(self._core).replace(core.__name__, name, 1)

    return type(name, bases, dict(
        __slots__=('_core', '__weakref__') + names, __init__=__init__, __repr__=__repr__,
        __module__='eddyloop', __doc__=core.__doc__, **attrs))


# start_tls may put TLS over a stream transport (asyncio's flag).
StreamTransport = _transport_class(
    'StreamTransport', Transport, (asyncio.Transport,), _start_tls_compatible=True,
    _pipe=property(lambda self: self._core._pipe_object,
                   lambda self, pipe: setattr(self._core, '_pipe_object', pipe)))
# Also an asyncio.Transport, as asyncio's own datagram transport is (and
# CPython's tests check).
_DatagramTransport = _transport_class('DatagramTransport', DatagramTransport,
                                      (asyncio.Transport, asyncio.DatagramTransport))
_SubprocessTransport = _transport_class('SubprocessTransport', Process,
                                        (asyncio.SubprocessTransport,))
_FACADES = {Transport: StreamTransport, DatagramTransport: _DatagramTransport,
            Process: _SubprocessTransport}


def _run_until_complete_cb(fut):
    if not fut.cancelled():
        exc = fut.exception()
        if isinstance(exc, (SystemExit, KeyboardInterrupt)):
            # run_forever has already left with it.
            return
    futures._get_loop(fut).stop()


cdef _check_socket(Loop loop, sock):
    if not isinstance(sock, _socket.socket):
        raise TypeError(f'a socket object is required, not {type(sock).__name__}')
    if hasattr(sock, 'do_handshake'):
        raise TypeError('Socket cannot be of type SSLSocket')
    if loop._debug and sock.gettimeout() != 0:
        raise ValueError('the socket must be non-blocking')


# --- the loop --------------------------------------------------------------

cdef double _BUSY_POLL_INTERVAL = 50e-6

cdef inline int _check_eddy_thread(Loop loop) except -1:
    """eddy's non-thread-safe calls must not run beside eddy_loop_run_forever
    in another thread: that would be a data race inside eddy, not just the
    lost wake-up asyncio tolerates outside debug mode. Refused with asyncio's
    debug-mode error."""
    if loop._thread_ident != 0 and PyThread_get_thread_ident() != loop._thread_ident:
        raise RuntimeError(
            'Non-thread-safe operation invoked on an event loop other '
            'than the current one')
    return 0


# eddy may call back into it while a reference cycle is being collected:
# its attributes must stay valid until it is deallocated.
@cython.no_gc_clear
cdef class Loop:
    """The core of eddyloop.Loop (which adds asyncio.AbstractEventLoop)."""
    cdef eddy_loop_t *_eloop
    cdef list _ready
    cdef list _ready_spare
    # The thread state the poll hooks keep while eddy waits without the GIL.
    cdef PyThreadState *_poll_tstate
    # The context of handles made in an empty one (Handle._call).
    cdef object _empty_context
    cdef bint _empty_context_entered
    cdef bint _drain_scheduled
    cdef bint _wake_pending
    # Pending timers, newest first, linked through TimerHandle._next.
    cdef TimerHandle _timers_head
    cdef dict _readers
    cdef dict _writers
    cdef set _lent
    cdef bint _debug
    cdef bint _closed
    cdef object _pending_exc
    cdef unsigned long _thread_ident
    cdef object _current_handle
    cdef object _exception_handler
    cdef object _task_factory
    cdef readonly object _default_executor
    cdef bint _executor_shutdown_called
    cdef object _asyncgens
    cdef bint _asyncgens_shutdown_called
    cdef bint _coroutine_origin_tracking_enabled
    cdef object _coroutine_origin_tracking_saved_depth
    cdef object _ssock
    cdef object _csock
    cdef object _old_wakeup_fd
    cdef bint _wakeup_installed
    cdef dict _signal_handlers
    cdef object _servers
    cdef public double slow_callback_duration

    def __cinit__(self):
        cdef int rc = eddy_new_event_loop(&self._eloop)
        if rc < 0:
            raise _error(rc)
        # A poll that would not block costs as much as a Python callback:
        # while callbacks keep the loop busy, poll at most every 50 µs
        # (fds are seen that much later; asyncio gives no bound anyway).
        rc = eddy_loop_set_busy_poll_interval(self._eloop, _BUSY_POLL_INTERVAL)
        if rc < 0:
            raise _error(rc)
        # Poll after the ready callbacks, as uvloop (libuv) does: a reply
        # that arrives while a batch runs is read before the callbacks the
        # batch scheduled. aiohttp's request loop then finds the next
        # request already parsed when the handler's task returns, instead
        # of parking on a fresh future: one task step and one future less
        # per keep-alive request (docs/python.md, "Poll order").
        rc = eddy_loop_set_late_poll(self._eloop, 1)
        if rc < 0:
            raise _error(rc)
        # eddy runs with the GIL held and lets go of it only while its poll
        # may block: re-taking it in every callback cost as much as eddy's
        # own part of an iteration.
        rc = eddy_loop_set_poll_hooks(self._eloop, _release_gil, _take_gil,
                                      <void *>&self._poll_tstate)
        if rc < 0:
            raise _error(rc)
        self._ready = []
        self._ready_spare = []
        self._empty_context = PyContext_New()
        self._readers = {}
        self._writers = {}
        self._lent = set()
        self._signal_handlers = {}
        self._asyncgens = weakref.WeakSet()
        self._servers = weakref.WeakSet()
        self.slow_callback_duration = 0.1

    def __init__(self):
        self.set_debug(coroutines._is_debug_mode())

    def __dealloc__(self):
        if self._eloop != NULL:
            eddy_loop_release(self._eloop)
            self._eloop = NULL

    def __del__(self):
        if not self._closed:
            warnings.warn(f'unclosed event loop {self!r}', ResourceWarning,
                          source=self)
            if not self.is_running():
                self.close()

    def __repr__(self):
        return (f'<{self.__class__.__name__} running={self.is_running()} '
                f'closed={self.is_closed()} debug={self.get_debug()}>')

    # --- state ---------------------------------------------------------

    cdef inline _check_closed(self):
        if self._closed:
            raise RuntimeError('Event loop is closed')

    cdef _check_running(self):
        if self.is_running():
            raise RuntimeError('This event loop is already running')
        if events._get_running_loop() is not None:
            raise RuntimeError(
                'Cannot run the event loop while another loop is running')

    cdef _check_thread(self):
        """Debug mode: non-thread-safe calls from another thread fail, as in
        asyncio."""
        if self._thread_ident == 0:
            return
        if PyThread_get_thread_ident() != self._thread_ident:
            raise RuntimeError(
                'Non-thread-safe operation invoked on an event loop other '
                'than the current one')

    cdef _check_callback(self, callback, method):
        if (coroutines.iscoroutine(callback) or
                coroutines.iscoroutinefunction(callback)):
            raise TypeError(f'coroutines cannot be used with {method}()')
        if not callable(callback):
            raise TypeError(
                f'a callable object was expected by {method}(), '
                f'got {callback!r}')

    def is_running(self):
        return bool(eddy_loop_is_running(self._eloop))

    def is_closed(self):
        return self._closed

    def get_debug(self):
        return self._debug

    def set_debug(self, enabled):
        # eddy's own debug mode stays off: it would time the binding's
        # drain callback as one slow callback and print to stderr; the
        # binding times each Python callback itself.
        self._debug = bool(enabled)
        if self.is_running():
            self.call_soon_threadsafe(self._set_coroutine_origin_tracking, self._debug)

    def time(self):
        return eddy_loop_time(self._eloop)

    cdef void *_lend(self, obj):
        """`obj` as the data pointer of an eddy callback: the loop holds it
        for eddy until the binding takes it back (`_lent.discard`) when eddy
        will not call it any more, or until close(): eddy drops its pending
        callbacks at close without calling them."""
        self._lent.add(obj)
        return <void *>obj

    # --- running ---------------------------------------------------------

    cdef _interrupt(self, exc):
        """Keeps an exception that must leave run_forever and stops eddy's
        loop; run_forever raises it once eddy returns."""
        if self._pending_exc is None:
            self._pending_exc = exc
        eddy_loop_stop(self._eloop)

    cdef _run_handle(self, Handle h):
        cdef double t0
        self._current_handle = h
        try:
            if self._debug:
                t0 = _time.monotonic()
                h._call()
                dt = _time.monotonic() - t0
                if dt >= self.slow_callback_duration:
                    logger.warning('Executing %s took %.3f seconds',
                                   _format_handle(h), dt)
            else:
                h._call()
        except (SystemExit, KeyboardInterrupt) as exc:
            self._interrupt(exc)
        finally:
            self._current_handle = None

    cdef _drain(self):
        """Runs the callbacks that were ready when this iteration's drain
        started; later ones wait for the next iteration. While eddy says
        its next iteration would only run this drain again
        (eddy_loop_claim_iteration: nothing else waiting, and the busy-poll
        interval lets the poll be skipped), that iteration's batch runs at
        once: the same order, without the iteration's own cost (a third of
        a chained call_soon). The batch's length tells eddy how much ran
        without a poll: after a long one the poll comes first."""
        cdef Py_ssize_t ran
        try:
            while True:
                ran = self._drain_batch()
                if not self._ready or self._pending_exc is not None \
                        or eddy_loop_claim_iteration(self._eloop, <size_t>ran) != 1:
                    break
        finally:
            self._drain_scheduled = False
            if self._ready:
                self._schedule_drain()

    cdef Py_ssize_t _drain_batch(self) except -1:
        """One batch; returns its length. The ready
        list is swapped for an empty one (two lists take turns) rather than
        popped from the front, so a callback costs no deque method call."""
        cdef list batch = self._ready
        cdef Py_ssize_t i = 0, n = len(batch)
        cdef Handle h
        self._ready = self._ready_spare
        self._ready_spare = None
        try:
            while i < n and self._pending_exc is None:
                h = <Handle>batch[i]
                # The handle goes as soon as it ran, as asyncio's popleft.
                batch[i] = None
                i += 1
                if not h._cancelled:
                    self._run_handle(h)
        finally:
            if i < n:
                # Left by an exception leaving the loop: they run first in
                # the next run, before what the batch scheduled.
                self._ready[:0] = batch[i:]
            eddyloop_list_empty(batch)
            self._ready_spare = batch
        return n

    cdef _schedule_drain(self):
        cdef int rc
        if self._drain_scheduled:
            return
        if self._thread_ident != 0 and PyThread_get_thread_ident() != self._thread_ident:
            # call_soon from another thread while the loop runs (allowed
            # outside debug mode in asyncio, but not woken): wake it safely.
            self._wake()
            return
        rc = eddy_loop_call_soon(self._eloop, _drain_cb, <void *>self, NULL)
        if rc < 0:
            raise _error(rc)
        self._drain_scheduled = True

    cdef _wake(self):
        cdef int rc
        if self._wake_pending:
            return
        rc = eddy_loop_call_soon_threadsafe(self._eloop, _wake_cb, <void *>self, NULL)
        if rc < 0:
            raise _error(rc)
        self._wake_pending = True

    def run_forever(self):
        """Run until stop() is called."""
        cdef int rc
        self._check_closed()
        self._check_running()
        self._set_coroutine_origin_tracking(self._debug)
        old_agen_hooks = sys.get_asyncgen_hooks()
        installed_wakeup = False
        try:
            self._thread_ident = PyThread_get_thread_ident()
            sys.set_asyncgen_hooks(firstiter=self._asyncgen_firstiter_hook,
                                   finalizer=self._asyncgen_finalizer_hook)
            if not self._wakeup_installed and \
                    threading.current_thread() is threading.main_thread():
                installed_wakeup = self._install_wakeup_fd()
            events._set_running_loop(self)
            if self._ready:
                self._schedule_drain()
            # With the GIL: the poll hooks let go of it while eddy waits.
            rc = eddy_loop_run_forever(self._eloop)
            if self._pending_exc is not None:
                exc, self._pending_exc = self._pending_exc, None
                raise exc
            if rc < 0:
                raise _error(rc)
        finally:
            self._thread_ident = 0
            events._set_running_loop(None)
            if installed_wakeup and not self._signal_handlers:
                self._uninstall_wakeup_fd()
            self._set_coroutine_origin_tracking(False)
            sys.set_asyncgen_hooks(*old_agen_hooks)

    def run_until_complete(self, future):
        """Run until the Future is done; return its result or raise its
        exception. A coroutine is wrapped in a Task."""
        self._check_closed()
        self._check_running()
        new_task = not futures.isfuture(future)
        future = tasks.ensure_future(future, loop=self)
        if new_task:
            # An exception is raised if the future didn't complete, so there
            # is no need to log the "destroy pending task" message.
            future._log_destroy_pending = False
        future.add_done_callback(_run_until_complete_cb)
        try:
            self.run_forever()
        except:
            if new_task and future.done() and not future.cancelled():
                # The coroutine raised a BaseException: consume it, the
                # caller has no access to the task.
                future.exception()
            raise
        finally:
            future.remove_done_callback(_run_until_complete_cb)
        if not future.done():
            raise RuntimeError('Event loop stopped before Future completed.')
        return future.result()

    def stop(self):
        """Stop once the callbacks of the current iteration have run."""
        eddy_loop_stop(self._eloop)

    def close(self):
        """Close the loop: pending callbacks are dropped, the default
        executor shuts down without waiting."""
        cdef int rc
        cdef TimerHandle timer
        if self.is_running():
            raise RuntimeError('Cannot close a running event loop')
        if self._closed:
            return
        if self._debug:
            logger.debug('Close %r', self)
        for sig in list(self._signal_handlers):
            self.remove_signal_handler(sig)
        self._uninstall_wakeup_fd()
        self._closed = True
        self._ready.clear()
        while self._timers_head is not None:
            timer = self._timers_head
            timer._unschedule()
        for fd in list(self._readers):
            self._remove_watch(fd, False)
        for fd in list(self._writers):
            self._remove_watch(fd, True)
        self._executor_shutdown_called = True
        executor = self._default_executor
        if executor is not None:
            self._default_executor = None
            executor.shutdown(wait=False)
        for server in list(self._servers):
            # eddy closes their fds now: the socket objects must let go.
            (<Server>server)._forget_sockets()
        rc = eddy_loop_close(self._eloop)
        # eddy calls nothing of this loop any more: pending operations,
        # servers and connections let go of what they lent it.
        lent, self._lent = self._lent, set()
        for obj in lent:
            if type(obj) is _Op:
                (<_Op>obj)._release()
        del lent
        if self._ssock is not None:
            self._ssock.close()
            self._csock.close()
            self._ssock = self._csock = None
        if rc < 0:
            raise _error(rc)

    def _set_coroutine_origin_tracking(self, enabled):
        if bool(enabled) == bool(self._coroutine_origin_tracking_enabled):
            return
        if enabled:
            self._coroutine_origin_tracking_saved_depth = (
                sys.get_coroutine_origin_tracking_depth())
            sys.set_coroutine_origin_tracking_depth(_constants.DEBUG_STACK_DEPTH)
        else:
            sys.set_coroutine_origin_tracking_depth(
                self._coroutine_origin_tracking_saved_depth)
        self._coroutine_origin_tracking_enabled = enabled

    # --- callbacks ---------------------------------------------------------

    def call_soon(self, callback, *args, context=None):
        """Arrange for callback(*args) to be called in the next iteration."""
        self._check_closed()
        if self._debug:
            self._check_thread()
            self._check_callback(callback, 'call_soon')
        h = Handle.__new__(Handle)
        (<Handle>h)._init(callback, args, self, context)
        if (<Handle>h)._source_traceback:
            del (<Handle>h)._source_traceback[-1]
        self._ready.append(h)
        self._schedule_drain()
        return h

    def call_soon_threadsafe(self, callback, *args, context=None):
        """call_soon from any thread: wakes the loop."""
        self._check_closed()
        if self._debug:
            self._check_callback(callback, 'call_soon_threadsafe')
        h = Handle.__new__(Handle)
        (<Handle>h)._init(callback, args, self, context)
        if (<Handle>h)._source_traceback:
            del (<Handle>h)._source_traceback[-1]
        self._ready.append(h)
        self._wake()
        return h

    def call_later(self, delay, callback, *args, context=None):
        """Arrange for callback(*args) to be called `delay` seconds from
        now; returns a TimerHandle."""
        if delay is None:
            raise TypeError('delay must not be None')
        timer = self._call_at(self.time() + delay, callback, args, context)
        if timer._source_traceback:
            del timer._source_traceback[-1]
        return timer

    def call_at(self, when, callback, *args, context=None):
        """Arrange for callback(*args) to be called at `when` on the loop's
        clock (time())."""
        if when is None:
            raise TypeError('when cannot be None')
        timer = self._call_at(when, callback, args, context)
        if timer._source_traceback:
            del timer._source_traceback[-1]
        return timer

    cdef TimerHandle _call_at(self, when, callback, args, context):
        cdef int rc
        cdef TimerHandle timer
        self._check_closed()
        _check_eddy_thread(self)
        if self._debug:
            self._check_callback(callback, 'call_at')
        timer = TimerHandle.__new__(TimerHandle)
        timer._init(callback, args, self, context)
        timer._when = when
        rc = eddy_loop_call_at(self._eloop, timer._when, _timer_cb, <void *>timer,
                               &timer._eh)
        if rc < 0:
            raise _error(rc)
        timer._scheduled = True
        timer._link()
        return timer

    def _timer_handle_cancelled(self, handle):
        # asyncio.TimerHandle.cancel calls this on its loop; eddy's timers
        # need no bookkeeping for it.
        pass

    # --- futures and tasks -------------------------------------------------

    def create_future(self):
        return futures.Future(loop=self)

    def create_task(self, coro, *, name=None, context=None):
        """Schedule a coroutine object; return a Task."""
        self._check_closed()
        if self._task_factory is None:
            task = tasks.Task(coro, loop=self, name=name, context=context)
            if task._source_traceback:
                del task._source_traceback[-1]
        else:
            if context is None:
                task = self._task_factory(self, coro)
            else:
                task = self._task_factory(self, coro, context=context)
            if name is not None:
                try:
                    set_name = task.set_name
                except AttributeError:
                    pass
                else:
                    set_name(name)
        return task

    def set_task_factory(self, factory):
        if factory is not None and not callable(factory):
            raise TypeError('task factory must be a callable or None')
        self._task_factory = factory

    def get_task_factory(self):
        return self._task_factory

    # --- exception handler -------------------------------------------------

    def get_exception_handler(self):
        return self._exception_handler

    def set_exception_handler(self, handler):
        if handler is not None and not callable(handler):
            raise TypeError(f'A callable object or None is expected, '
                            f'got {handler!r}')
        self._exception_handler = handler

    def default_exception_handler(self, context):
        """Logs the message and the context through asyncio's logger."""
        message = context.get('message')
        if not message:
            message = 'Unhandled exception in event loop'
        exception = context.get('exception')
        if exception is not None:
            exc_info = (type(exception), exception, exception.__traceback__)
        else:
            exc_info = False
        if ('source_traceback' not in context and
                self._current_handle is not None and
                self._current_handle._source_traceback):
            context['handle_traceback'] = self._current_handle._source_traceback
        log_lines = [message]
        for key in sorted(context):
            if key in {'message', 'exception'}:
                continue
            value = context[key]
            if key == 'source_traceback':
                tb = ''.join(__import__('traceback').format_list(value))
                value = 'Object created at (most recent call last):\n' + tb.rstrip()
            elif key == 'handle_traceback':
                tb = ''.join(__import__('traceback').format_list(value))
                value = 'Handle created at (most recent call last):\n' + tb.rstrip()
            else:
                value = repr(value)
            log_lines.append(f'{key}: {value}')
        logger.error('\n'.join(log_lines), exc_info=exc_info)

    def call_exception_handler(self, context):
        """Calls the handler set with set_exception_handler (or the default
        one) with asyncio's context dict; errors in the handler are logged."""
        if self._exception_handler is None:
            try:
                self.default_exception_handler(context)
            except (SystemExit, KeyboardInterrupt):
                raise
            except BaseException:
                logger.error('Exception in default exception handler',
                             exc_info=True)
        else:
            try:
                self._exception_handler(self, context)
            except (SystemExit, KeyboardInterrupt):
                raise
            except BaseException as exc:
                try:
                    self.default_exception_handler({
                        'message': 'Unhandled error in exception handler',
                        'exception': exc,
                        'context': context,
                    })
                except (SystemExit, KeyboardInterrupt):
                    raise
                except BaseException:
                    logger.error('Exception in default exception handler '
                                 'while handling an unexpected error '
                                 'in custom exception handler',
                                 exc_info=True)

    # --- executor ----------------------------------------------------------

    def run_in_executor(self, executor, func, *args):
        self._check_closed()
        if self._debug:
            self._check_callback(func, 'run_in_executor')
        if executor is None:
            executor = self._default_executor
            if self._executor_shutdown_called:
                raise RuntimeError('Executor shutdown has been called')
            if executor is None:
                executor = concurrent.futures.ThreadPoolExecutor(
                    thread_name_prefix='asyncio')
                self._default_executor = executor
        return futures.wrap_future(executor.submit(func, *args), loop=self)

    def set_default_executor(self, executor):
        if not isinstance(executor, concurrent.futures.ThreadPoolExecutor):
            raise TypeError('executor must be ThreadPoolExecutor')
        self._default_executor = executor

    async def shutdown_default_executor(self, timeout=None):
        """Wait for the default executor's threads to finish (at most
        `timeout` seconds, then warn and stop waiting)."""
        self._executor_shutdown_called = True
        if self._default_executor is None:
            return
        future = self.create_future()
        thread = threading.Thread(target=self._do_shutdown, args=(future,))
        thread.start()
        try:
            async with asyncio.timeout(timeout):
                await future
        except TimeoutError:
            warnings.warn('The executor did not finishing joining '
                          f'its threads within {timeout} seconds.',
                          RuntimeWarning, stacklevel=2)
            self._default_executor.shutdown(wait=False)
        else:
            thread.join()

    def _do_shutdown(self, future):
        try:
            self._default_executor.shutdown(wait=True)
            if not self.is_closed():
                self.call_soon_threadsafe(futures._set_result_unless_cancelled,
                                          future, None)
        except Exception as ex:
            if not self.is_closed() and not future.cancelled():
                self.call_soon_threadsafe(future.set_exception, ex)

    # --- async generators --------------------------------------------------

    def _asyncgen_finalizer_hook(self, agen):
        self._asyncgens.discard(agen)
        if not self.is_closed():
            self.call_soon_threadsafe(self.create_task, agen.aclose())

    def _asyncgen_firstiter_hook(self, agen):
        if self._asyncgens_shutdown_called:
            warnings.warn(
                f'asynchronous generator {agen!r} was scheduled after '
                f'loop.shutdown_asyncgens() call',
                ResourceWarning, source=self)
        self._asyncgens.add(agen)

    async def shutdown_asyncgens(self):
        """Shutdown all active asynchronous generators."""
        self._asyncgens_shutdown_called = True
        if not len(self._asyncgens):
            return
        closing_agens = list(self._asyncgens)
        self._asyncgens.clear()
        results = await asyncio.gather(
            *[ag.aclose() for ag in closing_agens], return_exceptions=True)
        for result, agen in zip(results, closing_agens):
            if isinstance(result, Exception):
                self.call_exception_handler({
                    'message': f'an error occurred during closing of '
                               f'asynchronous generator {agen!r}',
                    'exception': result,
                    'asyncgen': agen
                })

    # --- readers and writers -----------------------------------------------

    cdef _add_watch(self, fd, callback, args, bint writer):
        cdef _IoWatch w
        cdef int rc
        self._check_closed()
        _check_eddy_thread(self)
        fd = _fileobj_to_fd(fd)
        if self._debug:
            self._check_callback(callback, 'add_writer' if writer else 'add_reader')
        w = _IoWatch.__new__(_IoWatch)
        w.loop = self
        w.fd = fd
        w.writer = writer
        w.handle = Handle.__new__(Handle)
        w.handle._init(callback, args, self, None)
        if writer:
            rc = eddy_loop_add_writer(self._eloop, fd, _io_cb, <void *>w)
        else:
            rc = eddy_loop_add_reader(self._eloop, fd, _io_cb, <void *>w)
        if rc < 0:
            raise _error(rc)
        # eddy replaced any earlier watch of fd; dropping ours releases it.
        watches = self._writers if writer else self._readers
        old = watches.get(fd)
        watches[fd] = w
        if old is not None:
            (<_IoWatch>old).handle.cancel()
        return w.handle

    cdef bint _remove_watch(self, int fd, bint writer) except -1:
        _check_eddy_thread(self)
        w = (self._writers if writer else self._readers).pop(fd, None)
        if w is None:
            return False
        if writer:
            eddy_loop_remove_writer(self._eloop, fd)
        else:
            eddy_loop_remove_reader(self._eloop, fd)
        (<_IoWatch>w).handle.cancel()
        return True

    def add_reader(self, fd, callback, *args):
        """Call callback(*args) whenever fd is readable."""
        self._add_watch(fd, callback, args, False)

    def remove_reader(self, fd):
        """True if a reader of fd was removed."""
        if self._closed:
            return False
        return self._remove_watch(_fileobj_to_fd(fd), False)

    def add_writer(self, fd, callback, *args):
        """Call callback(*args) whenever fd is writable."""
        self._add_watch(fd, callback, args, True)

    def remove_writer(self, fd):
        """True if a writer of fd was removed."""
        if self._closed:
            return False
        return self._remove_watch(_fileobj_to_fd(fd), True)

    # --- signals -----------------------------------------------------------

    cdef bint _install_wakeup_fd(self) except -1:
        """Points Python's signal wake-up fd at a socketpair the loop
        watches, so a signal wakes eddy's poll and the Python-level handler
        (KeyboardInterrupt for SIGINT) runs at once. False when this thread
        cannot (not the main thread)."""
        cdef int rc
        if self._wakeup_installed:
            return True
        if self._ssock is None:
            self._ssock, self._csock = _socket.socketpair()
            self._ssock.setblocking(False)
            self._csock.setblocking(False)
        try:
            self._old_wakeup_fd = _signal.set_wakeup_fd(self._csock.fileno())
        except ValueError:
            return False
        rc = eddy_loop_add_reader(self._eloop, self._ssock.fileno(), _wakeup_fd_cb,
                                  <void *>self)
        if rc < 0:
            _signal.set_wakeup_fd(self._old_wakeup_fd)
            raise _error(rc)
        self._wakeup_installed = True
        return True

    cdef _uninstall_wakeup_fd(self):
        if not self._wakeup_installed:
            return
        self._wakeup_installed = False
        eddy_loop_remove_reader(self._eloop, self._ssock.fileno())
        try:
            _signal.set_wakeup_fd(self._old_wakeup_fd)
        except ValueError:
            pass

    cdef _read_wakeup_fd(self):
        while True:
            try:
                data = self._ssock.recv(4096)
            except (BlockingIOError, InterruptedError):
                break
            if not data:
                break
            for signum in data:
                handle = self._signal_handlers.get(signum)
                if handle is None:
                    continue
                if (<Handle>handle)._cancelled:
                    self.remove_signal_handler(signum)
                else:
                    self._ready.append(handle)
                    self._schedule_drain()
        # Runs Python's signal handlers now (SIGINT: KeyboardInterrupt).
        PyErr_CheckSignals()

    def add_signal_handler(self, sig, callback, *args):
        """Run callback(*args) on the loop when signal `sig` arrives (through
        Python's signal module and its wake-up fd)."""
        if coroutines.iscoroutine(callback) or coroutines.iscoroutinefunction(callback):
            raise TypeError('coroutines cannot be used with add_signal_handler()')
        _check_signal(sig)
        self._check_closed()
        if threading.current_thread() is not threading.main_thread():
            raise RuntimeError('set_wakeup_fd only works in main thread of the '
                               'main interpreter')
        self._install_wakeup_fd()
        handle = Handle(callback, args, self, None)
        self._signal_handlers[sig] = handle
        try:
            # A no-op Python handler: the wake-up fd carries the signal.
            _signal.signal(sig, _sighandler_noop)
            _signal.siginterrupt(sig, False)
        except OSError as exc:
            del self._signal_handlers[sig]
            if not self._signal_handlers:
                self._uninstall_wakeup_fd()
            if exc.errno == _errno.EINVAL:
                raise RuntimeError(f'sig {sig:d} cannot be caught')
            raise

    def remove_signal_handler(self, sig):
        """True if a handler of `sig` was removed."""
        _check_signal(sig)
        try:
            del self._signal_handlers[sig]
        except KeyError:
            return False
        handler = _signal.default_int_handler if sig == _signal.SIGINT else _signal.SIG_DFL
        try:
            _signal.signal(sig, handler)
        except OSError as exc:
            if exc.errno == _errno.EINVAL:
                raise RuntimeError(f'sig {sig:d} cannot be caught')
            raise
        if not self._signal_handlers and not self.is_running():
            self._uninstall_wakeup_fd()
        return True

    # --- sockets -----------------------------------------------------------

    async def sock_recv(self, sock, n):
        """Receive up to n bytes from the non-blocking socket."""
        cdef _Op op
        _check_socket(self, sock)
        op = _Op(self, OP_RECV)
        return await op.start(eddy_loop_sock_recv(self._eloop, sock.fileno(), n, &op.ef))

    async def sock_recv_into(self, sock, buf):
        """Receive into buf; return the number of bytes received."""
        cdef _Op op
        _check_socket(self, sock)
        op = _Op(self, OP_RECV_INTO)
        op.take_buffer(buf, True)
        return await op.start(eddy_loop_sock_recv_into(
            self._eloop, sock.fileno(), op.view.buf, op.view.len, &op.ef))

    async def sock_recvfrom(self, sock, bufsize):
        """Receive one datagram: (data, address)."""
        cdef _Op op
        _check_socket(self, sock)
        op = _Op(self, OP_RECVFROM)
        return await op.start(eddy_loop_sock_recvfrom(
            self._eloop, sock.fileno(), bufsize, &op.ef))

    async def sock_recvfrom_into(self, sock, buf, nbytes=0):
        """Receive one datagram into buf: (nbytes, address)."""
        cdef _Op op
        cdef size_t size
        _check_socket(self, sock)
        op = _Op(self, OP_RECVFROM_INTO)
        op.take_buffer(buf, True)
        size = op.view.len
        if nbytes:
            if nbytes < 0 or nbytes > size:
                op._release()
                raise ValueError('nbytes is greater than the length of the buffer')
            size = nbytes
        op.addrlen = sizeof(sockaddr_storage)
        return await op.start(eddy_loop_sock_recvfrom_into(
            self._eloop, sock.fileno(), op.view.buf, size, <c_sockaddr *>&op.addr,
            &op.addrlen, &op.ef))

    async def sock_sendall(self, sock, data):
        """Send all of data."""
        cdef _Op op
        _check_socket(self, sock)
        op = _Op(self, OP_NONE)
        op.take_buffer(data, False)
        return await op.start(eddy_loop_sock_sendall(
            self._eloop, sock.fileno(), op.view.buf, op.view.len, &op.ef))

    async def sock_sendto(self, sock, data, address):
        """Send one datagram to address; return the count sent."""
        cdef _Op op
        _check_socket(self, sock)
        if sock.family in (_socket.AF_INET, _socket.AF_INET6):
            address = await self._resolve_one(sock, address)
        op = _Op(self, OP_COUNT)
        op.addrlen = _py_to_sockaddr(sock.family, address, &op.addr)
        op.take_buffer(data, False)
        return await op.start(eddy_loop_sock_sendto(
            self._eloop, sock.fileno(), op.view.buf, op.view.len,
            <c_sockaddr *>&op.addr, op.addrlen, &op.ef))

    async def sock_connect(self, sock, address):
        """Connect sock to a remote address (resolved first, as asyncio
        does)."""
        cdef _Op op
        _check_socket(self, sock)
        if sock.family in (_socket.AF_INET, _socket.AF_INET6):
            address = await self._resolve_one(sock, address)
        op = _Op(self, OP_NONE)
        op.addrlen = _py_to_sockaddr(sock.family, address, &op.addr)
        return await op.start(eddy_loop_sock_connect(
            self._eloop, sock.fileno(), <c_sockaddr *>&op.addr, op.addrlen, &op.ef))

    async def sock_accept(self, sock):
        """Accept a connection: (conn, address); conn is non-blocking."""
        cdef _Op op
        _check_socket(self, sock)
        op = _Op(self, OP_ACCEPT)
        return await op.start(eddy_loop_sock_accept(self._eloop, sock.fileno(), &op.ef))

    async def sock_sendfile(self, sock, file, offset=0, count=None, *, fallback=True):
        """Send a file over a stream socket with sendfile(2) (falling back
        to read and send when allowed)."""
        cdef _Op op
        _check_socket(self, sock)
        if sock.type != _socket.SOCK_STREAM:
            raise ValueError('only SOCK_STREAM type sockets are supported')
        _check_sendfile_args(file, offset, count)
        op = _Op(self, OP_SENDFILE)
        op.keep = file
        op.offset = offset
        op.file_pos = os.lseek(file.fileno(), 0, os.SEEK_CUR)
        try:
            rc = eddy_loop_sock_sendfile(self._eloop, sock.fileno(), file.fileno(),
                                         offset, count or 0, fallback, &op.ef)
        except Exception:
            op._release()
            raise
        try:
            return await op.start(rc)
        except OSError as exc:
            if exc.errno == _errno.EOPNOTSUPP and not fallback:
                raise asyncio.SendfileNotAvailableError(
                    f'syscall sendfile is not available for socket {sock!r} '
                    f'and file {file!r} combination')
            raise

    async def _resolve_one(self, sock, address):
        if not isinstance(address, tuple) or len(address) < 2:
            raise TypeError(f'address must be a tuple, not {type(address).__name__}')
        host, port = address[:2]
        if _is_numeric(sock.family, address):
            return address
        infos = await self.getaddrinfo(host, port, family=sock.family,
                                       type=sock.type, proto=sock.proto)
        if not infos:
            raise OSError('getaddrinfo() returned empty list')
        return infos[0][4]

    # --- streams ---------------------------------------------------------

    async def create_connection(
            self, protocol_factory, host=None, port=None, *, ssl=None, family=0,
            proto=0, flags=0, sock=None, local_addr=None, server_hostname=None,
            ssl_handshake_timeout=None, ssl_shutdown_timeout=None,
            happy_eyeballs_delay=None, interleave=None, all_errors=False):
        """Connect to host:port (or take sock) and make a transport for a
        protocol from protocol_factory: (transport, protocol)."""
        if server_hostname is not None and not ssl:
            raise ValueError('server_hostname is only meaningful with ssl')
        if server_hostname is None and ssl:
            if not host:
                raise ValueError('You must set server_hostname when using ssl without a host')
            server_hostname = host
        _check_ssl_args(ssl, ssl_handshake_timeout, ssl_shutdown_timeout)
        if host is not None or port is not None:
            if sock is not None:
                raise ValueError('host/port and sock can not be specified at the same time')
        elif sock is None:
            raise ValueError('host and port was not specified and no sock specified')
        _check_stream_socket(sock)
        if happy_eyeballs_delay is not None and interleave is None:
            # Happy Eyeballs needs the families interleaved (RFC 8305).
            interleave = 1
        return await self._connect(protocol_factory, host, port, None, family, proto,
                                   flags, sock, local_addr, happy_eyeballs_delay,
                                   interleave, all_errors, False,
                                   (ssl, server_hostname, ssl_handshake_timeout,
                                    ssl_shutdown_timeout))

    async def create_unix_connection(
            self, protocol_factory, path=None, *, ssl=None, sock=None,
            server_hostname=None, ssl_handshake_timeout=None,
            ssl_shutdown_timeout=None):
        """Connect to the Unix socket at path (or take sock)."""
        if ssl:
            if server_hostname is None:
                raise ValueError('you have to pass server_hostname when using ssl')
        elif server_hostname is not None:
            raise ValueError('server_hostname is only meaningful with ssl')
        _check_ssl_args(ssl, ssl_handshake_timeout, ssl_shutdown_timeout)
        if path is not None:
            if sock is not None:
                raise ValueError('path and sock can not be specified at the same time')
            path = os.fsdecode(os.fspath(path))
        elif sock is None:
            raise ValueError('no path and sock were specified')
        else:
            if sock.family != _socket.AF_UNIX or sock.type != _socket.SOCK_STREAM:
                raise ValueError(f'A UNIX Domain Stream Socket was expected, got {sock!r}')
        return await self._connect(protocol_factory, None, None, path, 0, 0, 0, sock,
                                   None, None, None, False, False,
                                   (ssl, server_hostname, ssl_handshake_timeout,
                                    ssl_shutdown_timeout))

    async def connect_accepted_socket(
            self, protocol_factory, sock, *, ssl=None, ssl_handshake_timeout=None,
            ssl_shutdown_timeout=None):
        """A transport for an already connected (accepted) socket."""
        _check_stream_socket(sock)
        _check_ssl_args(ssl, ssl_handshake_timeout, ssl_shutdown_timeout)
        return await self._connect(protocol_factory, None, None, None, 0, 0, 0, sock,
                                   None, None, None, False, True,
                                   (ssl, '', ssl_handshake_timeout, ssl_shutdown_timeout))

    def _connect(self, protocol_factory, host, port, path, family, proto, flags,
                 sock, local_addr, happy_eyeballs_delay, interleave, all_errors,
                 accepted, ssl_args):
        cdef eddy_connection_options_t opts
        cdef const char *chost = NULL
        cdef const char *cpath = NULL
        cdef Transport tr
        cdef _Op op
        cdef int rc
        cdef void *ud
        self._check_closed()
        eddy_connection_options_init(&opts)
        opts.family = family
        opts.proto = proto
        opts.flags = flags
        opts.all_errors = all_errors
        if local_addr is not None:
            blocal = (local_addr[0] or '').encode('idna')
            if blocal:
                opts.local_host = blocal
            opts.local_port = _port_number(local_addr[1])
        if happy_eyeballs_delay is not None:
            opts.happy_eyeballs_delay = happy_eyeballs_delay
        if interleave is not None:
            opts.interleave = interleave
        if sock is not None:
            opts.sock = sock.fileno()
        if host is not None:
            bhost = host.encode('idna')
            chost = bhost
        if path is not None:
            bpath = os.fsencode(path)
            cpath = bpath
        cport = _port_number(port)
        protocol = app_protocol = protocol_factory()
        ssl, server_hostname, ssl_handshake_timeout, ssl_shutdown_timeout = ssl_args
        waiter = None
        if ssl:
            waiter = self.create_future()
            protocol = _ssl_protocol(self, app_protocol, ssl, waiter, accepted,
                                     server_hostname, ssl_handshake_timeout,
                                     ssl_shutdown_timeout)
        tr = Transport(self, protocol)
        op = _Op(self, OP_TRANSPORT)
        op.keep = tr
        op.all_errors = all_errors
        ud = tr._give_to_eddy()
        if accepted:
            rc = eddy_loop_connect_accepted_socket(self._eloop, _protocol_table(protocol),
                                                   ud, opts.sock, &opts, &op.ef)
        elif path is not None or (sock is not None and sock.family == _socket.AF_UNIX):
            if sock is not None:
                cpath = NULL
            rc = eddy_loop_create_unix_connection(self._eloop, _protocol_table(protocol),
                                                  ud, cpath, &opts, &op.ef)
        else:
            rc = eddy_loop_create_connection(self._eloop, _protocol_table(protocol), ud,
                                             chost, cport, &opts, &op.ef)
        if rc < 0:
            tr._take_back_from_eddy()
        elif sock is not None:
            tr._adopt_socket(sock)
        fut = op.start(rc)
        if waiter is None:
            return fut
        return self._tls_connected(fut, waiter, protocol._app_transport, app_protocol)

    async def _tls_connected(self, fut, waiter, app_transport, app_protocol):
        """The connection once its TLS handshake is done (asyncio's waiter)."""
        try:
            raw, _ = await fut
        except BaseException:
            # SSLProtocol made its transport already (asyncio makes it only
            # once connected): closed, it does not warn when collected.
            app_transport.close()
            raise
        try:
            await waiter
        except BaseException:
            app_transport.close()
            raw.close()
            raise
        return app_transport, app_protocol

    async def start_tls(self, transport, protocol, sslcontext, *, server_side=False,
                        server_hostname=None, ssl_handshake_timeout=None,
                        ssl_shutdown_timeout=None):
        """Put TLS over an open transport: asyncio's start_tls."""
        import ssl
        if not isinstance(sslcontext, ssl.SSLContext):
            raise TypeError(f'sslcontext is expected to be an instance of '
                            f'ssl.SSLContext, got {sslcontext!r}')
        if not getattr(transport, '_start_tls_compatible', False):
            raise TypeError(f'transport {transport!r} is not supported by start_tls()')
        waiter = self.create_future()
        ssl_protocol = _ssl_protocol(self, protocol, sslcontext, waiter, server_side,
                                     server_hostname, ssl_handshake_timeout,
                                     ssl_shutdown_timeout, False)
        # Paused first, so that the TLS protocol gets no data before its
        # connection_made.
        transport.pause_reading()
        transport.set_protocol(ssl_protocol)
        conmade_cb = self.call_soon(ssl_protocol.connection_made, transport)
        resume_cb = self.call_soon(transport.resume_reading)
        try:
            await waiter
        except BaseException:
            transport.close()
            conmade_cb.cancel()
            resume_cb.cancel()
            raise
        return ssl_protocol._app_transport

    async def sendfile(self, transport, file, offset=0, count=None, *, fallback=True):
        """Send a file over a stream transport with sendfile(2) (or reading
        and writing when that cannot serve it and fallback is true); the
        file position ends at offset + the count sent."""
        cdef _Op op
        if transport.is_closing():
            raise RuntimeError('Transport is closing')
        if type(transport) is StreamTransport:
            transport = transport._core
        if not isinstance(transport, Transport) or (<Transport>transport)._t == NULL:
            mode = getattr(transport, '_sendfile_compatible',
                           _constants._SendfileMode.UNSUPPORTED)
            if mode is _constants._SendfileMode.UNSUPPORTED:
                raise RuntimeError(f'sendfile is not supported for transport {transport!r}')
            _check_sendfile_args(file, offset, count)
            if not fallback:
                raise RuntimeError(
                    f'fallback is disabled and native sendfile is not '
                    f'supported for transport {transport!r}')
            # A TLS transport (or another Python one): asyncio's own
            # read-and-write fallback, which uses only the loop's public API.
            return await base_events.BaseEventLoop._sendfile_fallback(
                self, transport, file, offset, count)
        _check_sendfile_args(file, offset, count)
        op = _Op(self, OP_SENDFILE)
        op.keep = file
        op.offset = offset
        op.file_pos = os.lseek(file.fileno(), 0, os.SEEK_CUR)
        try:
            return await op.start(eddy_loop_sendfile(
                self._eloop, (<Transport>transport)._t, file.fileno(), offset, count or 0,
                fallback, &op.ef))
        except OSError as exc:
            if exc.errno == _errno.EOPNOTSUPP and not fallback:
                raise RuntimeError(
                    f'fallback is disabled and native sendfile is not '
                    f'supported for transport {transport!r}') from None
            raise

    async def connect_read_pipe(self, protocol_factory, pipe):
        """A read transport for a pipe, socket or character device."""
        return await self._connect_pipe(protocol_factory, pipe, False)

    async def connect_write_pipe(self, protocol_factory, pipe):
        """A write transport for a pipe, socket or character device."""
        return await self._connect_pipe(protocol_factory, pipe, True)

    def _connect_pipe(self, protocol_factory, pipe, bint write):
        cdef Transport tr
        cdef _Op op
        cdef int rc
        self._check_closed()
        fd = _fileobj_to_fd(pipe)
        protocol = protocol_factory()
        tr = Transport(self, protocol)
        op = _Op(self, OP_TRANSPORT)
        op.keep = tr
        # eddy owns a duplicate; the pipe object stays the transport's 'pipe'
        # extra and is closed after connection_lost, as asyncio closes it.
        # (Handing eddy the object's own fd would leave two owners of it.)
        fd = os.dup(fd)
        if write:
            rc = eddy_loop_connect_write_pipe(self._eloop, _protocol_table(protocol),
                                              tr._give_to_eddy(), fd, &op.ef)
        else:
            rc = eddy_loop_connect_read_pipe(self._eloop, _protocol_table(protocol),
                                             tr._give_to_eddy(), fd, &op.ef)
        if rc < 0:
            os.close(fd)
            tr._take_back_from_eddy()
        else:
            tr._adopt_pipe(pipe)
        return op.start(rc)

    # --- subprocesses --------------------------------------------------------

    async def subprocess_exec(self, protocol_factory, program, *args,
                              stdin=_subprocess.PIPE, stdout=_subprocess.PIPE,
                              stderr=_subprocess.PIPE, universal_newlines=False,
                              shell=False, bufsize=0, encoding=None, errors=None,
                              text=None, **kwargs):
        """Run program with args, its pipes connected to a
        SubprocessProtocol from protocol_factory."""
        if shell:
            raise ValueError('shell must be False')
        _check_popen_text_args(universal_newlines, bufsize, encoding, errors, text)
        argv = [os.fsencode(a) for a in (program,) + args]
        return await self._spawn(protocol_factory, argv, None, stdin, stdout, stderr,
                                 kwargs)

    async def subprocess_shell(self, protocol_factory, cmd, *, stdin=_subprocess.PIPE,
                               stdout=_subprocess.PIPE, stderr=_subprocess.PIPE,
                               universal_newlines=False, shell=True, bufsize=0,
                               encoding=None, errors=None, text=None, **kwargs):
        """Run cmd with /bin/sh -c."""
        if not isinstance(cmd, (bytes, str)):
            raise ValueError('cmd must be a string')
        if not shell:
            raise ValueError('shell must be True')
        _check_popen_text_args(universal_newlines, bufsize, encoding, errors, text)
        return await self._spawn(protocol_factory, None, os.fsencode(cmd), stdin, stdout,
                                 stderr, kwargs)

    def _spawn(self, protocol_factory, list argv, bytes cmd, stdin, stdout, stderr,
               dict kwargs):
        cdef eddy_subprocess_options_t opts
        cdef const char **cargv = NULL
        cdef const char **cenv = NULL
        cdef int *cfds = NULL
        cdef Process proc
        cdef _Op op
        cdef int rc
        cdef Py_ssize_t i
        unknown = [k for k, v in kwargs.items() if k not in _POPEN_KWARGS and
                   (k not in _POPEN_DEFAULTS or v != _POPEN_DEFAULTS[k])]
        if unknown:
            raise NotImplementedError(
                f'eddyloop does not support the Popen argument(s) {", ".join(sorted(unknown))}')
        self._check_closed()
        eddy_subprocess_options_init(&opts)
        opts.stdin_fd = _stdio_fd(stdin)
        opts.stdout_fd = _stdio_fd(stdout)
        opts.stderr_fd = _stdio_fd(stderr)
        opts.close_fds = bool(kwargs.get('close_fds', True))
        opts.start_new_session = bool(kwargs.get('start_new_session', False))
        if kwargs.get('cwd') is not None:
            bcwd = os.fsencode(kwargs['cwd'])
            opts.cwd = bcwd
        benv = None
        if kwargs.get('env') is not None:
            benv = [os.fsencode(k) + b'=' + os.fsencode(v) for k, v in kwargs['env'].items()]
        # Popen's rules: any int-like fd, duplicates ignored, a negative one
        # a ValueError, and close_fds forced on.
        pass_fds = sorted({int(fd) for fd in kwargs.get('pass_fds', ())})
        if pass_fds and pass_fds[0] < 0:
            raise ValueError('bad value(s) in fds_to_keep')
        if pass_fds and not opts.close_fds:
            warnings.warn('pass_fds overriding close_fds.', RuntimeWarning)
            opts.close_fds = True
        protocol = protocol_factory()
        proc = Process(self, protocol)
        op = _Op(self, OP_PROCESS)
        op.keep = proc
        strings = argv or []
        cargv = <const char **>malloc((len(strings) + 1) * sizeof(char *))
        if benv is not None:
            cenv = <const char **>malloc((len(benv) + 1) * sizeof(char *))
        if pass_fds:
            cfds = <int *>malloc(len(pass_fds) * sizeof(int))
        try:
            if (cargv == NULL or (benv is not None and cenv == NULL) or
                    (pass_fds and cfds == NULL)):
                raise MemoryError()
            for i in range(len(strings)):
                cargv[i] = <const char *>strings[i]
            cargv[len(strings)] = NULL
            if benv is not None:
                for i in range(len(benv)):
                    cenv[i] = <const char *>benv[i]
                cenv[len(benv)] = NULL
                opts.env = cenv
            for i in range(len(pass_fds)):
                cfds[i] = pass_fds[i]
            opts.pass_fds = cfds
            opts.npass_fds = len(pass_fds)
            if cmd is not None:
                rc = eddy_loop_subprocess_shell(self._eloop, &_SUBPROCESS_PROTOCOL,
                                                proc._give_to_eddy(), cmd, &opts, &op.ef)
            else:
                rc = eddy_loop_subprocess_exec(self._eloop, &_SUBPROCESS_PROTOCOL,
                                               proc._give_to_eddy(), cargv, &opts,
                                               &op.ef)
        finally:
            free(cargv)
            free(cenv)
            free(cfds)
        if rc < 0:
            proc._take_back_from_eddy()
        return op.start(rc)

    async def create_datagram_endpoint(
            self, protocol_factory, local_addr=None, remote_addr=None, *,
            family=0, proto=0, flags=0, reuse_address=_UNSET, reuse_port=None,
            allow_broadcast=None, sock=None):
        """A datagram endpoint bound to local_addr and/or connected to
        remote_addr (host/port pairs, or paths for AF_UNIX), or over sock."""
        cdef eddy_datagram_options_t opts
        cdef DatagramTransport tr
        cdef _Op op
        cdef int rc
        self._check_closed()
        eddy_datagram_options_init(&opts)
        if sock is not None:
            if sock.type == _socket.SOCK_STREAM:
                raise ValueError(f'A datagram socket was expected, got {sock!r}')
            if (local_addr or remote_addr or family or proto or flags or
                    reuse_port or allow_broadcast):
                given = dict(local_addr=local_addr, remote_addr=remote_addr,
                             family=family, proto=proto, flags=flags,
                             reuse_address=reuse_address, reuse_port=reuse_port,
                             allow_broadcast=allow_broadcast)
                problems = ', '.join(f'{k}={v}' for k, v in given.items() if v)
                raise ValueError(
                    f'socket modifier keyword arguments can not be used '
                    f'when sock is specified. ({problems})')
            family = sock.family
            opts.sock = sock.fileno()
        else:
            if not (local_addr or remote_addr) and family == 0:
                raise ValueError('unexpected address family')
            if reuse_address is not _UNSET:
                if reuse_address:
                    raise ValueError(
                        'Passing `reuse_address=True` is no longer supported, '
                        'as the usage of SO_REUSEPORT in UDP poses a '
                        'significant security concern.')
                warnings.warn('The *reuse_address* parameter has been deprecated '
                              'as of 3.5.10 and is scheduled for removal in 3.11.',
                              DeprecationWarning, stacklevel=2)
            opts.family = family
            opts.proto = proto
            opts.flags = flags
            opts.reuse_port = bool(reuse_port)
            opts.allow_broadcast = bool(allow_broadcast)
            if family == _socket.AF_UNIX:
                for addr in (local_addr, remote_addr):
                    if addr is not None and not isinstance(addr, (str, bytes, os.PathLike)):
                        raise TypeError('string is expected')
                blocal = os.fsencode(local_addr) if local_addr else None
                bremote = os.fsencode(remote_addr) if remote_addr else None
            else:
                for addr in (local_addr, remote_addr):
                    if addr is not None and not (isinstance(addr, tuple) and len(addr) >= 2):
                        raise TypeError('2-tuple is expected')
                blocal = (local_addr[0] or '').encode('idna') if local_addr else None
                bremote = (remote_addr[0] or '').encode('idna') if remote_addr else None
                if local_addr:
                    opts.local_port = _port_number(local_addr[1])
                if remote_addr:
                    opts.remote_port = _port_number(remote_addr[1])
            if blocal:
                opts.local_host = blocal
            if bremote:
                opts.remote_host = bremote
        protocol = protocol_factory()
        tr = DatagramTransport(self, protocol, family or 0,
                               remote_addr if sock is None else None)
        if family == 0:
            # The family comes from the resolved addresses: read it back.
            tr._family = -1
        op = _Op(self, OP_DATAGRAM)
        op.keep = tr
        rc = eddy_loop_create_datagram_endpoint(self._eloop, &_DATAGRAM_PROTOCOL,
                                                tr._give_to_eddy(), &opts, &op.ef)
        if rc < 0:
            tr._take_back_from_eddy()
        elif sock is not None:
            from asyncio import trsock
            tr._sock = trsock.TransportSocket(sock)
        result = await op.start(rc)
        if tr._family == -1:
            s = tr.get_extra_info('socket')
            tr._family = s.family if s is not None else _socket.AF_INET
        return result

    async def create_server(
            self, protocol_factory, host=None, port=None, *,
            family=_socket.AF_UNSPEC, flags=_socket.AI_PASSIVE, sock=None,
            backlog=100, ssl=None, reuse_address=None, reuse_port=None,
            keep_alive=None, ssl_handshake_timeout=None,
            ssl_shutdown_timeout=None, start_serving=True):
        """A server listening on host:port (every address of host; all
        interfaces for None or ''; a sequence of hosts), or on sock."""
        _check_server_ssl(ssl, ssl_handshake_timeout, ssl_shutdown_timeout)
        self._check_closed()
        socks = []
        if host is not None or port is not None:
            if sock is not None:
                raise ValueError('host/port and sock can not be specified at the same time')
            if host == '':
                host = None
            if host is not None and not isinstance(host, str):
                socks = await self._bind_hosts(list(host), port, family, flags,
                                               reuse_address, reuse_port)
                host = None
        else:
            if sock is None:
                raise ValueError('Neither host/port nor sock were specified')
            _check_stream_socket(sock)
            socks = [sock]
        return await self._serve(protocol_factory, host, port, None, family, flags, socks,
                                 backlog, reuse_address, reuse_port, keep_alive,
                                 start_serving, True, False,
                                 (ssl, ssl_handshake_timeout, ssl_shutdown_timeout))

    async def create_unix_server(
            self, protocol_factory, path=None, *, sock=None, backlog=100,
            ssl=None, ssl_handshake_timeout=None, ssl_shutdown_timeout=None,
            start_serving=True, cleanup_socket=True):
        """A server listening on the Unix socket path (or sock)."""
        _check_server_ssl(ssl, ssl_handshake_timeout, ssl_shutdown_timeout)
        self._check_closed()
        socks = []
        if path is not None:
            if sock is not None:
                raise ValueError('path and sock can not be specified at the same time')
            path = os.fsdecode(os.fspath(path))
        else:
            if sock is None:
                raise ValueError('path was not specified, and no sock specified')
            if sock.family != _socket.AF_UNIX or sock.type != _socket.SOCK_STREAM:
                raise ValueError(f'A UNIX Domain Stream Socket was expected, got {sock!r}')
            socks = [sock]
        return await self._serve(protocol_factory, None, None, path, 0, 0, socks, backlog,
                                 None, None, None, start_serving, cleanup_socket, True,
                                 (ssl, ssl_handshake_timeout, ssl_shutdown_timeout))

    async def _bind_hosts(self, hosts, port, family, flags, reuse_address, reuse_port):
        """Sockets bound to every address of every host (asyncio's rule for
        a sequence of hosts); eddy listens on them."""
        infos = set()
        for h in hosts:
            for info in await self.getaddrinfo(h, port, family=family,
                                               type=_socket.SOCK_STREAM, flags=flags):
                infos.add(info)
        socks = []
        try:
            for af, socktype, proto, _, sa in infos:
                s = _socket.socket(af, socktype, proto)
                socks.append(s)
                if reuse_address is None or reuse_address:
                    s.setsockopt(_socket.SOL_SOCKET, _socket.SO_REUSEADDR, 1)
                if reuse_port:
                    s.setsockopt(_socket.SOL_SOCKET, _socket.SO_REUSEPORT, 1)
                if af == _socket.AF_INET6:
                    s.setsockopt(_socket.IPPROTO_IPV6, _socket.IPV6_V6ONLY, 1)
                try:
                    s.bind(sa)
                except OSError as err:
                    raise OSError(err.errno, f'error while attempting to bind on '
                                             f'address {sa!r}: {err.strerror.lower()}') from None
        except BaseException:
            for s in socks:
                s.close()
            raise
        return socks

    def _serve(self, protocol_factory, host, port, path, family, flags, socks, backlog,
               reuse_address, reuse_port, keep_alive, start_serving, cleanup_socket,
               unix, ssl_args):
        cdef eddy_server_options_t opts
        cdef const char *chost = NULL
        cdef const char *cpath = NULL
        cdef int fds[64]
        cdef Server server
        cdef _Op op
        cdef int rc
        cdef size_t i
        if len(socks) > 64:
            raise ValueError('at most 64 sockets')
        eddy_server_options_init(&opts)
        opts.family = family
        opts.flags = flags
        opts.backlog = backlog
        if reuse_address is not None:
            opts.reuse_address = reuse_address
        opts.reuse_port = bool(reuse_port)
        opts.keep_alive = bool(keep_alive)
        opts.start_serving = start_serving
        opts.cleanup_socket = cleanup_socket
        for i in range(len(socks)):
            fds[i] = socks[i].fileno()
        opts.socks = fds if socks else NULL
        opts.nsocks = len(socks)
        if host is not None:
            bhost = host.encode('idna')
            chost = bhost
        if path is not None:
            bpath = os.fsencode(path)
            cpath = bpath
        cport = _port_number(port)
        server = Server(self, protocol_factory)
        if ssl_args[0] is not None:
            server._ssl, server._ssl_handshake_timeout, server._ssl_shutdown_timeout = ssl_args
        op = _Op(self, OP_SERVER)
        op.keep = server
        if unix:
            rc = eddy_loop_create_unix_server(self._eloop, _server_factory,
                                              server._give_to_eddy(), cpath, &opts, &op.ef)
        else:
            rc = eddy_loop_create_server(self._eloop, _server_factory, server._give_to_eddy(),
                                         chost, cport, &opts, &op.ef)
        if rc < 0:
            server._take_back_from_eddy()
        else:
            # eddy owns the fds now; the socket objects are detached before
            # eddy closes them (Server.close).
            server._given_socks = list(socks)
        return op.start(rc)

    # --- name resolution ---------------------------------------------------

    async def getaddrinfo(self, host, port, *, family=0, type=0, proto=0, flags=0):
        """socket.getaddrinfo on eddy's resolver (off the loop's thread,
        without the GIL)."""
        cdef _Op op
        cdef addrinfo hints
        cdef const char *chost = NULL
        cdef const char *cport = NULL
        memset(&hints, 0, sizeof(hints))
        hints.ai_family = family
        hints.ai_socktype = type
        hints.ai_protocol = proto
        hints.ai_flags = flags
        if host is not None:
            bhost = host.encode('idna') if isinstance(host, str) else bytes(host)
            chost = bhost
        if port is not None:
            if isinstance(port, int):
                bport = str(port).encode()
            elif isinstance(port, str):
                bport = port.encode()
            elif isinstance(port, bytes):
                bport = port
            else:
                raise OSError('Int or String expected')
            cport = bport
        self._check_closed()
        op = _Op(self, OP_GETADDRINFO)
        op.keep = (host, port)
        return await op.start(eddy_loop_getaddrinfo(self._eloop, chost, cport, &hints, &op.ef))

    async def getnameinfo(self, sockaddr, flags=0):
        """socket.getnameinfo on eddy's resolver for a numeric address;
        other addresses go to the default executor, as asyncio does."""
        cdef _Op op
        self._check_closed()
        if not isinstance(sockaddr, tuple) or len(sockaddr) < 2:
            raise TypeError('getnameinfo() argument 1 must be a tuple')
        family = _socket.AF_INET6 if ':' in str(sockaddr[0]) else _socket.AF_INET
        op = _Op(self, OP_GETNAMEINFO)
        try:
            op.addrlen = _py_to_sockaddr(family, sockaddr, &op.addr)
        except ValueError:
            op._release()
            return await self.run_in_executor(None, _socket.getnameinfo, sockaddr, flags)
        return await op.start(eddy_loop_getnameinfo(
            self._eloop, <c_sockaddr *>&op.addr, op.addrlen, flags, &op.ef))


cdef bint _is_numeric(int family, address) except -1:
    cdef sockaddr_storage scratch
    try:
        _py_to_sockaddr(family, address, &scratch)
    except ValueError:
        return False
    return True


cdef _check_sendfile_args(file, offset, count):
    """asyncio's checks of sendfile's and sock_sendfile's arguments."""
    if 'b' not in getattr(file, 'mode', 'b'):
        raise ValueError('file should be opened in binary mode')
    if count is not None:
        if not isinstance(count, int):
            raise TypeError(f'count must be a positive integer (got {count!r})')
        if count <= 0:
            raise ValueError(f'count must be a positive integer (got {count!r})')
    if not isinstance(offset, int):
        raise TypeError(f'offset must be a non-negative integer (got {offset!r})')
    if offset < 0:
        raise ValueError(f'offset must be a non-negative integer (got {offset!r})')


def _sighandler_noop(signum, frame):
    """Python-level handler of a signal the loop handles: the wake-up fd
    already told the loop."""


def _check_signal(sig):
    if not isinstance(sig, int):
        raise TypeError(f'sig must be an int, not {sig!r}')
    if sig not in _signal.valid_signals():
        raise ValueError(f'invalid signal number {sig}')


def _fileobj_to_fd(fileobj):
    if isinstance(fileobj, int):
        fd = fileobj
    else:
        try:
            fd = int(fileobj.fileno())
        except (AttributeError, TypeError, ValueError):
            raise ValueError(f'Invalid file object: {fileobj!r}') from None
    if fd < 0:
        raise ValueError(f'Invalid file descriptor: {fd}')
    return fd


def _format_handle(handle):
    cb = handle._callback
    if isinstance(getattr(cb, '__self__', None), tasks.Task):
        return repr(cb.__self__)
    return str(handle)
