"""Stream transports and servers on eddyloop: protocol callback order, flow
control, BufferedProtocol, errors from protocol callbacks."""
import asyncio
import os
import socket
import sys
import tempfile

import pytest

import eddyloop


class Recorder(asyncio.Protocol):
    """Records every callback in order; data is kept separately."""

    def __init__(self, loop, echo=False):
        self.events = []
        self.data = bytearray()
        self.echo = echo
        self.transport = None
        self.lost = loop.create_future()

    def connection_made(self, transport):
        self.events.append('connection_made')
        self.transport = transport

    def data_received(self, data):
        if not self.events or self.events[-1] != 'data_received':
            self.events.append('data_received')
        self.data += data
        if self.echo:
            self.transport.write(data)

    def eof_received(self):
        self.events.append('eof_received')
        if self.echo:
            # Everything was echoed; close flushes it, then the peer sees EOF.
            self.transport.close()
            return True
        return False

    def connection_lost(self, exc):
        self.events.append('connection_lost')
        self.lost.set_result(exc)


async def tcp_connection(loop):
    """A TCP server of Recorders and one client connection, once both ends
    have their connection_made: (server, client transport, client
    Recorder, server-side Recorder)."""
    servers = []

    def factory():
        p = Recorder(loop)
        servers.append(p)
        return p

    server = await loop.create_server(factory, '127.0.0.1', 0)
    port = server.sockets[0].getsockname()[1]
    tr, client = await loop.create_connection(lambda: Recorder(loop), '127.0.0.1', port)
    while not servers or servers[0].transport is None:
        await asyncio.sleep(0)
    return server, tr, client, servers[0]


def test_protocol_callback_order_tcp(any_loop):
    loop = any_loop
    servers = []

    def factory():
        p = Recorder(loop, echo=True)
        servers.append(p)
        return p

    async def main():
        server = await loop.create_server(factory, '127.0.0.1', 0)
        port = server.sockets[0].getsockname()[1]
        tr, client = await loop.create_connection(lambda: Recorder(loop), '127.0.0.1', port)
        # create_connection returns after connection_made.
        assert client.events == ['connection_made']
        assert tr.get_extra_info('peername') == ('127.0.0.1', port)
        assert tr.get_extra_info('socket').fileno() >= 0
        assert tr.can_write_eof()
        tr.write(b'hello ')
        tr.writelines([b'wor', bytearray(b'ld')])
        tr.write_eof()
        assert await client.lost is None
        await servers[0].lost
        server.close()
        await server.wait_closed()
        return client, servers[0]

    client, srv = loop.run_until_complete(main())
    want = ['connection_made', 'data_received', 'eof_received', 'connection_lost']
    assert srv.events == want
    assert client.events == want
    assert srv.data == client.data == b'hello world'


def test_protocol_callback_order_unix(any_loop):
    loop = any_loop
    with tempfile.TemporaryDirectory() as d:
        path = os.path.join(d, 'sock')
        servers = []

        def factory():
            servers.append(Recorder(loop, echo=True))
            return servers[-1]

        async def main():
            server = await loop.create_unix_server(factory, path)
            tr, client = await loop.create_unix_connection(lambda: Recorder(loop), path)
            tr.write(b'unix')
            tr.write_eof()
            await client.lost
            await servers[0].lost
            server.close()
            await server.wait_closed()
            return client

        client = loop.run_until_complete(main())
        assert client.data == b'unix'
        assert client.events == ['connection_made', 'data_received', 'eof_received',
                                 'connection_lost']


class ShortBuffer(asyncio.BufferedProtocol):
    def __init__(self, loop, size):
        self.buf = bytearray(size)
        self.calls = []
        self.data = bytearray()
        self.lost = loop.create_future()

    def connection_made(self, transport):
        self.calls.append('connection_made')

    def get_buffer(self, sizehint):
        self.calls.append('get_buffer')
        return self.buf

    def buffer_updated(self, nbytes):
        assert self.calls[-1] == 'get_buffer'
        self.calls.append('buffer_updated')
        assert 0 < nbytes <= len(self.buf)
        self.data += self.buf[:nbytes]

    def eof_received(self):
        self.calls.append('eof_received')

    def connection_lost(self, exc):
        self.calls.append('connection_lost')
        self.lost.set_result(exc)


def test_buffered_protocol_short_buffer(any_loop):
    loop = any_loop
    payload = bytes(range(256)) * 40  # 10 KiB through a 7-byte buffer

    async def main():
        proto = ShortBuffer(loop, 7)
        server = await loop.create_server(lambda: proto, '127.0.0.1', 0)
        port = server.sockets[0].getsockname()[1]
        r, w = await asyncio.open_connection('127.0.0.1', port)
        w.write(payload)
        w.write_eof()
        await w.drain()
        await proto.lost
        w.close()
        await w.wait_closed()
        server.close()
        await server.wait_closed()
        return proto

    proto = loop.run_until_complete(main())
    assert proto.data == payload
    assert proto.calls[0] == 'connection_made'
    assert proto.calls[-2:] == ['eof_received', 'connection_lost']
    assert proto.calls.count('buffer_updated') >= len(payload) // 7


class FlowRecorder(asyncio.Protocol):
    def __init__(self):
        self.events = []
        self.transport = None

    def connection_made(self, transport):
        self.transport = transport

    def pause_writing(self):
        self.events.append(('pause', self.transport.get_write_buffer_size()))

    def resume_writing(self):
        self.events.append(('resume', self.transport.get_write_buffer_size()))


def test_flow_control_watermarks(any_loop):
    loop = any_loop
    """pause_writing once the buffer passes the high watermark, then
    resume_writing once it drains to the low one."""
    peers = []

    class Sink(asyncio.Protocol):
        def connection_made(self, transport):
            self.transport = transport
            transport.pause_reading()  # let the writer's buffer fill up
            peers.append(self)

        def data_received(self, data):
            pass

    async def main():
        server = await loop.create_server(Sink, '127.0.0.1', 0)
        port = server.sockets[0].getsockname()[1]
        tr, proto = await loop.create_connection(FlowRecorder, '127.0.0.1', port)
        tr.set_write_buffer_limits(high=64 * 1024, low=16 * 1024)
        assert tr.get_write_buffer_limits() == (16 * 1024, 64 * 1024)
        chunk = b'x' * 65536
        while not proto.events:
            tr.write(chunk)
            await asyncio.sleep(0)
        assert proto.events[0][0] == 'pause'
        assert proto.events[0][1] > 64 * 1024
        while not peers:
            await asyncio.sleep(0)
        peers[0].transport.resume_reading()
        while len(proto.events) < 2:
            await asyncio.sleep(0.001)
        tr.close()
        peers[0].transport.close()
        server.close()
        await server.wait_closed()
        return proto.events

    events = loop.run_until_complete(main())
    assert [e[0] for e in events] == ['pause', 'resume']
    assert events[1][1] <= 16 * 1024


def test_exception_in_data_received_goes_to_handler(any_loop):
    loop = any_loop
    contexts = []
    loop.set_exception_handler(lambda lp, ctx: contexts.append(ctx))

    class Bad(Recorder):
        def data_received(self, data):
            raise ValueError('bad protocol')

    protos = []

    async def main():
        server = await loop.create_server(lambda: protos.append(Bad(loop)) or protos[-1],
                                          '127.0.0.1', 0)
        port = server.sockets[0].getsockname()[1]
        r, w = await asyncio.open_connection('127.0.0.1', port)
        w.write(b'x')
        while not protos:
            await asyncio.sleep(0)
        await protos[0].lost
        w.close()
        server.close()
        await server.wait_closed()

    loop.run_until_complete(main())
    [ctx] = contexts
    assert ctx['message'] == 'Fatal error: protocol.data_received() call failed.'
    assert isinstance(ctx['exception'], ValueError)
    assert ctx['protocol'] is protos[0]
    assert ctx['transport'] is protos[0].transport
    # The transport was aborted: connection_lost came.
    assert protos[0].events[-1] == 'connection_lost'


def test_server_object(loop):
    async def main():
        server = await loop.create_server(asyncio.Protocol, '127.0.0.1', 0,
                                          start_serving=False)
        assert server.get_loop() is loop
        assert not server.is_serving()
        await server.start_serving()
        assert server.is_serving()
        [sock] = server.sockets
        assert sock.getsockname()[0] == '127.0.0.1'
        async with server:
            pass
        assert not server.is_serving()
        assert server.sockets == ()

        server = await loop.create_server(asyncio.Protocol, '127.0.0.1', 0)
        task = asyncio.ensure_future(server.serve_forever())
        await asyncio.sleep(0)
        with pytest.raises(RuntimeError, match='already being awaited'):
            await server.serve_forever()
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert not server.is_serving()

    loop.run_until_complete(main())


def test_server_waiters_until_the_last_connection_is_gone(any_loop):
    """asyncio.Server._waiters (CPython's test_server reads it): a list
    while the server is open or a connection remains, None once closed
    with no connection left."""
    loop = any_loop

    async def main():
        server, tr, client, srv = await tcp_connection(loop)
        assert server._waiters == []
        server.close()
        assert server._sockets is None
        assert server._waiters == []
        tr.close()
        await srv.lost
        assert server._waiters is None
        await server.wait_closed()

    loop.run_until_complete(main())


def test_create_server_with_sock_keeps_the_socket_object(loop):
    async def main():
        sock = socket.create_server(('127.0.0.1', 0))
        server = await loop.create_server(asyncio.Protocol, sock=sock)
        assert server.sockets[0].fileno() == sock.fileno()
        server.close()
        await server.wait_closed()
        return sock

    sock = loop.run_until_complete(main())
    assert sock.fileno() == -1  # detached: eddy closed the fd


def test_connection_errors_and_bad_arguments(loop):
    probe = socket.socket()
    probe.bind(('127.0.0.1', 0))
    port = probe.getsockname()[1]
    probe.close()

    async def main():
        with pytest.raises(ConnectionRefusedError):
            await loop.create_connection(asyncio.Protocol, '127.0.0.1', port)
        with pytest.raises(ValueError, match='host/port and sock can not be specified'):
            await loop.create_connection(asyncio.Protocol, '127.0.0.1', port,
                                         sock=socket.socket())
        with pytest.raises(ValueError, match='host and port was not specified'):
            await loop.create_connection(asyncio.Protocol)
        with pytest.raises(ValueError, match='server_hostname is only meaningful with ssl'):
            await loop.create_connection(asyncio.Protocol, '127.0.0.1', port,
                                         server_hostname='x')
        with pytest.raises(TypeError, match='ssl argument must be an SSLContext or None'):
            await loop.create_server(asyncio.Protocol, '127.0.0.1', 0, ssl=True)
        with pytest.raises(OSError) as info:
            s = await loop.create_server(asyncio.Protocol, '127.0.0.1', 0)
            taken = s.sockets[0].getsockname()[1]
            try:
                await loop.create_server(asyncio.Protocol, '127.0.0.1', taken,
                                         reuse_address=False)
            finally:
                s.close()
        assert info.value.errno == __import__('errno').EADDRINUSE

    loop.run_until_complete(main())


def test_transport_write_type_and_after_close(loop):
    async def main():
        server = await loop.create_server(asyncio.Protocol, '127.0.0.1', 0)
        port = server.sockets[0].getsockname()[1]
        tr, proto = await loop.create_connection(lambda: Recorder(loop), '127.0.0.1', port)
        with pytest.raises(TypeError, match='data argument must be a bytes-like object'):
            tr.write('str')
        tr.close()
        assert tr.is_closing()
        tr.write(b'dropped')  # asyncio ignores writes once closing
        await proto.lost
        tr.write(b'dropped')
        server.close()
        await server.wait_closed()

    loop.run_until_complete(main())


def test_write_after_close_while_flushing_is_sent(any_loop):
    """A write after close() while the buffer still drains is appended and
    flushed before connection_lost (docs/semantics.md item 68): asyncio's
    SSLProtocol relies on it when it closes a paused transport."""
    loop = any_loop

    async def main():
        server, tr, client, srv = await tcp_connection(loop)
        srv.transport.pause_reading()
        # Small kernel buffers: most of the write stays in the transport's.
        tr.get_extra_info('socket').setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 16384)
        srv.transport.get_extra_info('socket').setsockopt(
            socket.SOL_SOCKET, socket.SO_RCVBUF, 16384)
        tr.set_write_buffer_limits(high=1 << 30)
        tr.write(b'a' * 4_000_000)
        assert tr.get_write_buffer_size() > 0
        tr.close()
        tr.write(b'b' * 10)
        srv.transport.resume_reading()
        assert await client.lost is None
        await srv.lost
        server.close()
        await server.wait_closed()
        return srv

    srv = loop.run_until_complete(main())
    assert len(srv.data) == 4_000_010
    assert srv.data.endswith(b'a' + b'b' * 10)
    assert srv.events == ['connection_made', 'data_received', 'eof_received', 'connection_lost']


class DatagramRecorder(asyncio.DatagramProtocol):
    def __init__(self, loop):
        self.events = []
        self.got = loop.create_future()
        self.lost = loop.create_future()

    def connection_made(self, transport):
        self.events.append('connection_made')
        self.transport = transport

    def datagram_received(self, data, addr):
        self.events.append('datagram_received')
        self.got.set_result((data, addr))

    def error_received(self, exc):
        self.events.append('error_received')

    def connection_lost(self, exc):
        self.events.append('connection_lost')
        self.lost.set_result(exc)


def test_datagram_endpoints(any_loop):
    loop = any_loop

    async def main():
        st, sp = await loop.create_datagram_endpoint(
            lambda: DatagramRecorder(loop), local_addr=('127.0.0.1', 0))
        addr = st.get_extra_info('sockname')
        ct, cp = await loop.create_datagram_endpoint(
            lambda: DatagramRecorder(loop), remote_addr=addr)
        ct.sendto(b'ping')
        data, caddr = await sp.got
        assert caddr == ct.get_extra_info('sockname')
        st.sendto(b'pong', caddr)
        assert await cp.got == (b'pong', addr)
        with pytest.raises(ValueError, match='Invalid address: must be None or'):
            ct.sendto(b'x', ('127.0.0.2', 9))
        with pytest.raises(TypeError, match='data argument must be a bytes-like object'):
            ct.sendto('text')
        ct.close()
        st.close()
        assert await cp.lost is None
        assert await sp.lost is None
        with pytest.raises(ValueError, match='unexpected address family'):
            await loop.create_datagram_endpoint(asyncio.DatagramProtocol)
        return data, sp.events, cp.events

    data, server_events, client_events = loop.run_until_complete(main())
    assert data == b'ping'
    want = ['connection_made', 'datagram_received', 'connection_lost']
    assert server_events == client_events == want


def test_transports_are_asyncio_transports(any_loop):
    loop = any_loop

    async def main():
        server = await loop.create_server(lambda: Recorder(loop, echo=True), '127.0.0.1', 0)
        port = server.sockets[0].getsockname()[1]
        tr, client = await loop.create_connection(lambda: Recorder(loop), '127.0.0.1', port)
        # The object the protocol got is the one returned.
        assert client.transport is tr
        assert isinstance(tr, asyncio.Transport)
        assert isinstance(tr, asyncio.ReadTransport)
        assert isinstance(tr, asyncio.WriteTransport)
        tr.close()
        await client.lost
        server.close()
        await server.wait_closed()

        r, w = os.pipe()
        rt, rp = await loop.connect_read_pipe(lambda: Recorder(loop), os.fdopen(r, 'rb'))
        wt, wp = await loop.connect_write_pipe(asyncio.BaseProtocol, os.fdopen(w, 'wb'))
        assert isinstance(rt, asyncio.ReadTransport)
        assert isinstance(wt, asyncio.WriteTransport)
        wt.close()
        await rp.lost

        dt, dp = await loop.create_datagram_endpoint(
            lambda: DatagramRecorder(loop), local_addr=('127.0.0.1', 0))
        assert dp.transport is dt
        # asyncio's datagram transport is an asyncio.Transport (and, from
        # 3.12 on, also an asyncio.DatagramTransport).
        assert isinstance(dt, asyncio.Transport)
        if isinstance(loop, eddyloop.Loop) or sys.version_info >= (3, 12):
            assert isinstance(dt, asyncio.DatagramTransport)
        dt.close()
        await dp.lost

    loop.run_until_complete(main())


def test_pipe_transport_repr_after_its_loop_closed(any_loop):
    """A pipe transport nobody closed says 'open' once its loop is closed
    (its pipe object is still open; CPython's test_unclosed_pipe_transport);
    one that was closed says 'closed'."""
    loop = any_loop
    r, w = os.pipe()
    robj, wobj = os.fdopen(r, 'rb'), os.fdopen(w, 'wb')
    r2, w2 = os.pipe()
    os.close(r2)

    async def main():
        rt, _ = await loop.connect_read_pipe(asyncio.Protocol, robj)
        wt, _ = await loop.connect_write_pipe(asyncio.BaseProtocol, wobj)
        closed, proto = await loop.connect_write_pipe(lambda: Recorder(loop),
                                                      os.fdopen(w2, 'wb'))
        closed.close()
        await proto.lost
        return rt, wt, closed

    rt, wt, closed = loop.run_until_complete(main())
    loop.close()
    try:
        assert 'open' in repr(rt)
        assert 'open' in repr(wt)
        assert 'closed' in repr(closed)
    finally:
        robj.close()
        wobj.close()
        rt._pipe = None
        wt._pipe = None


def test_create_connection_errors_as_asyncio(any_loop):
    """A refused connect and a failed local bind raise asyncio's OSErrors;
    all_errors=True gives an ExceptionGroup of them."""
    loop = any_loop
    held = socket.socket()
    held.bind(('127.0.0.1', 0))
    port = held.getsockname()[1]

    async def main():
        with pytest.raises(ConnectionRefusedError) as info:
            await loop.create_connection(asyncio.Protocol, '127.0.0.1', port)
        assert info.value.strerror == f"Connect call failed ('127.0.0.1', {port})"
        with pytest.raises(OSError) as info:
            await loop.create_connection(asyncio.Protocol, '127.0.0.1', port,
                                         local_addr=('127.0.0.1', port))
        # (3.13's asyncio puts '[errno 98] ' before the reason.)
        assert info.value.strerror.startswith(
            f"error while attempting to bind on address ('127.0.0.1', {port}): ")
        assert info.value.strerror.endswith('address already in use')
        if sys.version_info >= (3, 12) or isinstance(loop, eddyloop.Loop):
            with pytest.raises(ExceptionGroup) as info:
                await loop.create_connection(asyncio.Protocol, '127.0.0.1', port,
                                             all_errors=True)
            assert info.value.message == 'create_connection failed'
            assert [type(e) for e in info.value.exceptions] == [ConnectionRefusedError]

    try:
        loop.run_until_complete(main())
    finally:
        held.close()


def test_write_after_peer_closed_is_dropped(any_loop):
    """A send error is not 'write after write_eof': the write returns and
    connection_lost follows with the error."""
    loop = any_loop

    async def main():
        a, b = socket.socketpair()
        tr, proto = await loop.connect_accepted_socket(lambda: Recorder(loop), a)
        b.close()
        for _ in range(20):
            tr.write(b'x' * 65536)
            await asyncio.sleep(0)
            if proto.lost.done():
                break
        exc = await proto.lost
        tr.write(b'more')  # dropped, no exception
        return exc

    assert isinstance(loop.run_until_complete(main()), (BrokenPipeError, ConnectionResetError))


def test_addresses_answer_after_connection_lost(any_loop):
    loop = any_loop

    async def main():
        with tempfile.TemporaryDirectory() as d:
            path = os.path.join(d, 'sock')
            server = await loop.create_unix_server(lambda: Recorder(loop, echo=True), path)
            tr, client = await loop.create_unix_connection(lambda: Recorder(loop), path)
            tr.write_eof()
            await client.lost
            # Read when the connection was made, as asyncio does.
            assert tr.get_extra_info('sockname') == ''
            assert tr.get_extra_info('peername') == path
            server.close()
            await server.wait_closed()

    loop.run_until_complete(main())


def test_wait_closed_after_close_is_the_running_pythons(any_loop):
    """close() then wait_closed() with a connection still open: up to
    3.12.0 asyncio returns at once, from 3.12.1 on it waits until the
    connection is gone. eddyloop does what the running Python's asyncio
    does."""
    loop = any_loop

    async def main():
        server, tr, client, peer = await tcp_connection(loop)
        server.close()
        waiting = asyncio.ensure_future(server.wait_closed())
        for _ in range(10):
            await asyncio.sleep(0)
        returns_at_once = sys.version_info < (3, 12, 1)
        assert waiting.done() is returns_at_once
        peer.transport.close()
        tr.close()
        await waiting
        await client.lost

    loop.run_until_complete(main())
