"""TLS on eddyloop: ssl= with Python's ssl.SSLContext (certificates, verify
modes, SNI callbacks) over eddy's plain transports, start_tls, and asyncio's
errors for bad ssl= combinations."""
import asyncio
import os
import socket
import ssl
import tempfile

import pytest


test_utils = pytest.importorskip('test.test_asyncio.utils')

# keycert3.pem is for 'localhost', signed by pycacert.pem.
CERT = test_utils.SIGNED_CERTFILE
CA = test_utils.SIGNING_CA


def server_context():
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(CERT)
    return ctx


def client_context():
    """Verifies the server's certificate and its host name."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.load_verify_locations(CA)
    return ctx


class Echo(asyncio.Protocol):
    """Echoes; records its callbacks in order."""

    def __init__(self, loop):
        self.events = []
        self.lost = loop.create_future()

    def connection_made(self, transport):
        self.events.append('connection_made')
        self.transport = transport

    def data_received(self, data):
        self.events.append('data_received')
        self.transport.write(data)

    def eof_received(self):
        self.events.append('eof_received')

    def connection_lost(self, exc):
        self.events.append('connection_lost')
        self.lost.set_result(exc)


class Client(asyncio.Protocol):
    def __init__(self, loop, want):
        self.events = []
        self.data = bytearray()
        self.want = want
        self.got = loop.create_future()
        self.lost = loop.create_future()

    def connection_made(self, transport):
        self.events.append('connection_made')
        self.transport = transport

    def data_received(self, data):
        if self.events[-1] != 'data_received':
            self.events.append('data_received')
        self.data += data
        if len(self.data) >= self.want and not self.got.done():
            self.got.set_result(bytes(self.data))

    def connection_lost(self, exc):
        self.events.append('connection_lost')
        self.lost.set_result(exc)


def test_tls_echo_tcp_with_sni_callback(any_loop):
    loop = any_loop
    sni = []
    sctx = server_context()
    sctx.sni_callback = lambda sslobj, name, ctx: sni.append(name)
    servers = []
    payload = os.urandom(100_000)

    def factory():
        servers.append(Echo(loop))
        return servers[-1]

    async def main():
        server = await loop.create_server(factory, '127.0.0.1', 0, ssl=sctx)
        port = server.sockets[0].getsockname()[1]
        tr, client = await loop.create_connection(
            lambda: Client(loop, len(payload)), '127.0.0.1', port, ssl=client_context(),
            server_hostname='localhost')
        # Returned after the handshake, with connection_made done.
        assert client.events == ['connection_made']
        assert isinstance(tr, asyncio.Transport)
        sslobj = tr.get_extra_info('ssl_object')
        assert sslobj.server_hostname == 'localhost'
        assert dict(x[0] for x in tr.get_extra_info('peercert')['subject'])[
            'commonName'] == 'localhost'
        assert tr.get_extra_info('peername') == ('127.0.0.1', port)
        assert tr.get_extra_info('socket').family == socket.AF_INET
        tr.write(payload)
        assert await client.got == payload
        tr.close()
        assert await client.lost is None
        assert await servers[0].lost is None
        server.close()
        await server.wait_closed()
        assert client.events == ['connection_made', 'data_received', 'connection_lost']

    loop.run_until_complete(main())
    assert sni == ['localhost']
    assert servers[0].events[0] == 'connection_made'
    assert servers[0].events[-1] == 'connection_lost'


def test_tls_verify_failure(any_loop):
    loop = any_loop

    async def main():
        server = await loop.create_server(lambda: Echo(loop), '127.0.0.1', 0,
                                          ssl=server_context())
        port = server.sockets[0].getsockname()[1]
        # The certificate is for 'localhost'.
        with pytest.raises(ssl.SSLCertVerificationError):
            await loop.create_connection(lambda: Client(loop, 1), '127.0.0.1', port,
                                         ssl=client_context(), server_hostname='wrong.test')
        # An unknown CA: the default context does not trust pycacert.
        with pytest.raises(ssl.SSLCertVerificationError):
            await loop.create_connection(lambda: Client(loop, 1), '127.0.0.1', port,
                                         ssl=ssl.create_default_context(),
                                         server_hostname='localhost')
        # CERT_NONE accepts it.
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
        tr, _ = await loop.create_connection(lambda: Client(loop, 1), '127.0.0.1', port,
                                             ssl=ctx, server_hostname='wrong.test')
        tr.close()
        server.close()
        await server.wait_closed()

    loop.run_until_complete(main())


def test_tls_client_certificate_required(loop):
    async def main():
        sctx = server_context()
        sctx.verify_mode = ssl.CERT_REQUIRED
        sctx.load_verify_locations(CA)
        peers = []

        class Peer(Echo):
            def connection_made(self, transport):
                super().connection_made(transport)
                peers.append(transport.get_extra_info('peercert'))

        server = await loop.create_server(lambda: Peer(loop), '127.0.0.1', 0, ssl=sctx)
        port = server.sockets[0].getsockname()[1]
        cctx = client_context()
        cctx.load_cert_chain(CERT)
        tr, client = await loop.create_connection(lambda: Client(loop, 2), '127.0.0.1', port,
                                                  ssl=cctx, server_hostname='localhost')
        tr.write(b'hi')
        assert await client.got == b'hi'
        tr.close()
        await client.lost
        server.close()
        await server.wait_closed()
        assert peers and peers[0]['subject']

    loop.run_until_complete(main())


def test_tls_unix_and_accepted_socket(loop):
    async def main():
        with tempfile.TemporaryDirectory() as d:
            path = os.path.join(d, 'sock')
            server = await loop.create_unix_server(lambda: Echo(loop), path,
                                                   ssl=server_context())
            tr, client = await loop.create_unix_connection(
                lambda: Client(loop, 3), path, ssl=client_context(),
                server_hostname='localhost')
            tr.write(b'abc')
            assert await client.got == b'abc'
            tr.close()
            await client.lost
            server.close()
            await server.wait_closed()

        a, b = socket.socketpair()
        a.setblocking(False)
        b.setblocking(False)
        echo = Echo(loop)
        accepted = loop.create_task(loop.connect_accepted_socket(
            lambda: echo, a, ssl=server_context()))
        tr, client = await loop.create_connection(
            lambda: Client(loop, 3), sock=b, ssl=client_context(),
            server_hostname='localhost')
        str_, _ = await accepted
        assert str_.get_extra_info('ssl_object').server_side
        tr.write(b'xyz')
        assert await client.got == b'xyz'
        tr.close()
        await client.lost
        await echo.lost

    loop.run_until_complete(main())


def test_start_tls_both_sides(any_loop):
    loop = any_loop

    async def main():
        upgraded = loop.create_future()

        async def handle(reader, writer):
            assert await reader.readline() == b'STARTTLS\n'
            writer.write(b'OK\n')
            await writer.drain()
            await writer.start_tls(server_context())
            data = await reader.readexactly(5)
            writer.write(data.upper())
            await writer.drain()
            writer.close()
            upgraded.set_result(writer.get_extra_info('ssl_object') is not None)

        server = await asyncio.start_server(handle, '127.0.0.1', 0)
        port = server.sockets[0].getsockname()[1]
        reader, writer = await asyncio.open_connection('127.0.0.1', port)
        writer.write(b'STARTTLS\n')
        assert await reader.readline() == b'OK\n'
        await writer.start_tls(client_context(), server_hostname='localhost')
        assert writer.get_extra_info('ssl_object').version().startswith('TLS')
        writer.write(b'hello')
        assert await reader.readexactly(5) == b'HELLO'
        assert await upgraded
        writer.close()
        await writer.wait_closed()
        server.close()
        await server.wait_closed()

    loop.run_until_complete(main())


def test_sendfile_over_tls_falls_back(loop):
    async def main():
        data = os.urandom(50_000)
        server = await loop.create_server(lambda: Echo(loop), '127.0.0.1', 0,
                                          ssl=server_context())
        port = server.sockets[0].getsockname()[1]
        tr, client = await loop.create_connection(
            lambda: Client(loop, len(data)), '127.0.0.1', port, ssl=client_context(),
            server_hostname='localhost')
        with tempfile.TemporaryFile() as f:
            f.write(data)
            f.seek(0)
            with pytest.raises(RuntimeError, match='fallback is disabled'):
                await loop.sendfile(tr, f, fallback=False)
            assert await loop.sendfile(tr, f) == len(data)
            assert f.tell() == len(data)
        assert await client.got == data
        tr.close()
        await client.lost
        server.close()
        await server.wait_closed()

    loop.run_until_complete(main())


def test_bad_ssl_combinations(loop):
    async def main():
        lsock = socket.socket()
        lsock.bind(('127.0.0.1', 0))
        lsock.listen()
        port = lsock.getsockname()[1]
        f = asyncio.Protocol
        cases = [
            (loop.create_connection(f, '127.0.0.1', port, server_hostname='x'),
             ValueError, 'server_hostname is only meaningful with ssl'),
            (loop.create_connection(f, '127.0.0.1', port, ssl_handshake_timeout=1),
             ValueError, 'ssl_handshake_timeout is only meaningful with ssl'),
            (loop.create_connection(f, '127.0.0.1', port, ssl_shutdown_timeout=1),
             ValueError, 'ssl_shutdown_timeout is only meaningful with ssl'),
            (loop.create_connection(f, sock=socket.socket(), ssl=True),
             ValueError, 'You must set server_hostname when using ssl without a host'),
            (loop.create_server(f, '127.0.0.1', 0, ssl=True),
             TypeError, 'ssl argument must be an SSLContext or None'),
            (loop.create_server(f, '127.0.0.1', 0, ssl_handshake_timeout=1),
             ValueError, 'ssl_handshake_timeout is only meaningful with ssl'),
            (loop.create_unix_connection(f, '/nonexistent', ssl=True),
             ValueError, 'you have to pass server_hostname when using ssl'),
            (loop.create_unix_connection(f, '/nonexistent', server_hostname='x'),
             ValueError, 'server_hostname is only meaningful with ssl'),
            (loop.create_connection(f, '127.0.0.1', port, ssl=client_context(),
                                    server_hostname='localhost', ssl_handshake_timeout=-1),
             ValueError, 'ssl_handshake_timeout should be a positive number, got -1'),
            (loop.start_tls(None, None, True),
             TypeError, 'sslcontext is expected to be an instance of ssl.SSLContext'),
        ]
        for coro, exc, message in cases:
            with pytest.raises(exc) as info:
                await coro
            assert str(info.value).startswith(message), (str(info.value), message)
        lsock.close()

    loop.run_until_complete(main())


def test_finished_tls_connection_freed_without_gc(any_loop):
    """Reference counting alone frees a closed TLS connection and its
    context (no cycle through the transport), as on asyncio."""
    import gc
    import weakref
    loop = any_loop

    async def main(cctx):
        server = await loop.create_server(lambda: Echo(loop), '127.0.0.1', 0,
                                          ssl=server_context())
        port = server.sockets[0].getsockname()[1]
        tr, client = await loop.create_connection(lambda: Client(loop, 1), '127.0.0.1', port,
                                                  ssl=cctx, server_hostname='localhost')
        tr.write(b'x')
        await client.got
        tr.close()
        await client.lost
        server.close()
        await server.wait_closed()

    gc.disable()
    try:
        cctx = client_context()
        loop.run_until_complete(main(cctx))
        loop.run_until_complete(asyncio.sleep(0))
        ref = weakref.ref(cctx)
        del cctx
        assert ref() is None
    finally:
        gc.enable()


def test_refused_tls_connection_leaves_no_unclosed_transport(loop, recwarn):
    import gc
    s = socket.socket()
    s.bind(('127.0.0.1', 0))
    port = s.getsockname()[1]
    with s:
        with pytest.raises(ConnectionRefusedError):
            loop.run_until_complete(loop.create_connection(
                asyncio.Protocol, '127.0.0.1', port, ssl=client_context(),
                server_hostname='localhost'))
        gc.collect()
    assert not [w for w in recwarn if issubclass(w.category, ResourceWarning)]
