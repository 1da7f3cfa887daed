"""A loop closed with work still pending frees the Python objects of that
work: callbacks, protocols, factories, tasks, buffers. eddy drops its
pending callbacks at close without calling them; the binding must let go of
what it lent eddy then. The tests also run on asyncio's own loop, whose
close frees them too."""
import asyncio
import gc
import os
import signal
import socket
import weakref

import pytest


class Callback:
    def __call__(self, *args):
        raise AssertionError('called after close')


class Factory:
    """A protocol factory; remembers (weakly) what it made."""

    def __init__(self):
        self.made = weakref.WeakSet()

    def __call__(self):
        p = Protocol()
        self.made.add(p)
        return p


class Protocol(asyncio.Protocol):
    def connection_made(self, transport):
        self.transport = transport


class DatagramProtocol(asyncio.DatagramProtocol):
    """One that can be weakly referenced."""


class Buffer(bytearray):
    """A bytearray that can be weakly referenced."""


def _close_and_collect(loop, refs):
    """Closes `loop` and returns the names of what is still alive."""
    loop.close()
    gc.collect()
    return [type(r()).__name__ for r in refs if r() is not None]


def _one_iteration(loop):
    loop.call_soon(loop.stop)
    loop.run_forever()


@pytest.fixture
def reports(any_loop):
    # Tasks destroyed while pending are reported, as asyncio reports them.
    seen = []
    any_loop.set_exception_handler(lambda loop, ctx: seen.append(ctx['message']))
    return seen


def _started(loop, coro):
    task = loop.create_task(coro)
    _one_iteration(loop)
    assert not task.done()
    return task


def test_pending_create_connection(any_loop, reports):
    loop = any_loop
    with socket.create_server(('127.0.0.1', 0)) as listener:
        factory = Factory()
        task = _started(loop, loop.create_connection(
            factory, *listener.getsockname()))
        refs = [weakref.ref(factory), weakref.ref(task)]
        del factory, task
        assert _close_and_collect(loop, refs) == []


def test_pending_timers_readers_writers(any_loop):
    loop = any_loop
    a, b = socket.socketpair()
    with a, b:
        objs = [Callback() for _ in range(6)]
        loop.call_later(3600, objs[0], objs[1])
        loop.call_at(loop.time() + 3600, objs[2])
        loop.add_reader(a, objs[3], objs[4])
        # Never writable: the send buffer is full.
        a.setblocking(False)
        try:
            while True:
                a.send(b'x' * 65536)
        except BlockingIOError:
            pass
        loop.add_writer(a, objs[5])
        _one_iteration(loop)
        refs = [weakref.ref(o) for o in objs]
        del objs
        assert _close_and_collect(loop, refs) == []


def test_pending_sock_operations(any_loop, reports):
    loop = any_loop
    a, b = socket.socketpair()
    listener = socket.create_server(('127.0.0.1', 0))
    with a, b, listener:
        for s in (a, b, listener):
            s.setblocking(False)
        buf = Buffer(16)
        tasks = [_started(loop, loop.sock_recv(a, 16)),
                 _started(loop, loop.sock_recv_into(b, buf)),
                 _started(loop, loop.sock_accept(listener))]
        refs = [weakref.ref(buf)] + [weakref.ref(t) for t in tasks]
        del buf, tasks
        assert _close_and_collect(loop, refs) == []


def test_open_server_and_connections(any_loop, reports):
    loop = any_loop
    server_factory = Factory()
    client_factory = Factory()

    async def start():
        server = await loop.create_server(server_factory, '127.0.0.1', 0)
        port = server.sockets[0].getsockname()[1]
        await loop.create_connection(client_factory, '127.0.0.1', port)
        while not server_factory.made:
            await asyncio.sleep(0)
        return server

    server = loop.run_until_complete(start())
    refs = [weakref.ref(server_factory), weakref.ref(client_factory)]
    refs += [weakref.ref(p) for p in server_factory.made]
    refs += [weakref.ref(p) for p in client_factory.made]
    refs += [weakref.ref(p.transport) for p in client_factory.made]
    del server_factory, client_factory
    assert len(refs) == 5
    loop.close()
    # The server object itself is the caller's; what it made is not.
    del server
    gc.collect()
    assert [type(r()).__name__ for r in refs if r() is not None] == []


def test_open_datagram_endpoint(any_loop):
    loop = any_loop
    protocol = DatagramProtocol()
    tr, p = loop.run_until_complete(loop.create_datagram_endpoint(
        lambda: protocol, local_addr=('127.0.0.1', 0)))
    refs = [weakref.ref(protocol), weakref.ref(tr)]
    del protocol, tr, p
    assert _close_and_collect(loop, refs) == []


class SubprocessProtocol(asyncio.SubprocessProtocol):
    """One that can be weakly referenced."""


def test_running_subprocess(loop):
    # eddyloop only: asyncio's child watcher keeps the transport until the
    # child exits, whether the loop is closed or not.
    protocol = SubprocessProtocol()
    tr, p = loop.run_until_complete(loop.subprocess_exec(
        lambda: protocol, 'sleep', '3600', stdin=None, stdout=None, stderr=None))
    pid = tr.get_pid()
    refs = [weakref.ref(protocol), weakref.ref(tr)]
    del protocol, tr, p
    try:
        assert _close_and_collect(loop, refs) == []
    finally:
        try:
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
        except (ProcessLookupError, ChildProcessError):
            pass  # eddy's close already did
