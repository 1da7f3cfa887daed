"""The processes that `bench_python.py` (make bench-python) starts, one loop
per process, so that each figure is one interpreter's CPU on one core.

    bench_servers.py core LOOP CALLBACKS TIMERS
        loop_core's chained_call_soon and timers on fresh LOOP loops; prints
        callbacks_per_sec=... timer_cpu_us=...
    bench_servers.py serve KIND LOOP [CERT KEY]
        KIND: protocol | streams | http | tls. Listens on 127.0.0.1 (a port
        of the kernel's choosing), prints "listening 127.0.0.1:PORT", then
        serves until killed.
    bench_servers.py tls-client PORT CA CONNECTIONS SIZE SECONDS
        CONNECTIONS TLS connections doing ping-pong with SIZE-byte messages
        (echo_load's pattern) on uvloop (asyncio's loop without it), the
        same client for every server loop. Prints "ready" once every
        handshake is done, waits for a line on stdin, runs SECONDS, prints
        messages=... seconds=... msgs_per_sec=... (the handshakes stay out
        of the server CPU that bench_python.py measures).

LOOP: asyncio | uvloop | rloop | eddyloop.
"""
import asyncio
import importlib
import os
import ssl
import sys
import time

LOOP_MODULES = {'uvloop': 'uvloop', 'rloop': 'rloop', 'eddyloop': 'eddyloop'}


def new_loop(name):
    if name == 'asyncio':
        return asyncio.SelectorEventLoop()
    return importlib.import_module(LOOP_MODULES[name]).new_event_loop()


def core(name, callbacks, timers):
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    import loop_core
    # loop_core's functions read these at call time.
    loop_core.N_CALLBACKS = int(callbacks)
    loop_core.N_TIMERS = int(timers)
    results = []
    for fn in (loop_core.chained_call_soon, loop_core.timers):
        loop = new_loop(name)
        try:
            results.append(fn(loop))
        finally:
            loop.close()
    print(f'callbacks_per_sec={results[0]:.0f} timer_cpu_us={1e6 / results[1]:.3f}', flush=True)


class Echo(asyncio.Protocol):
    def connection_made(self, transport):
        self.transport = transport

    def data_received(self, data):
        self.transport.write(data)


async def streams_echo(reader, writer):
    while True:
        data = await reader.read(65536)
        if not data:
            break
        writer.write(data)
        await writer.drain()
    writer.close()


async def start(kind, cert, key):
    """Starts KIND's server on the running loop; returns its port."""
    loop = asyncio.get_running_loop()
    if kind == 'protocol':
        server = await loop.create_server(Echo, '127.0.0.1', 0)
    elif kind == 'tls':
        ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        ctx.load_cert_chain(cert, key)
        server = await loop.create_server(Echo, '127.0.0.1', 0, ssl=ctx)
    elif kind == 'streams':
        server = await asyncio.start_server(streams_echo, '127.0.0.1', 0)
    else:
        from aiohttp import web

        async def hello(request):
            return web.Response(text='Hello, World!')
        app = web.Application()
        app.router.add_get('/', hello)
        # No access log: the figure is the loop and aiohttp's HTTP path, not
        # the logging module.
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, '127.0.0.1', 0)
        await site.start()
        return runner.addresses[0][1]
    return server.sockets[0].getsockname()[1]


def serve(kind, name, cert=None, key=None):
    loop = new_loop(name)
    asyncio.set_event_loop(loop)
    port = loop.run_until_complete(start(kind, cert, key))
    print(f'listening 127.0.0.1:{port}', flush=True)
    loop.run_forever()


class PingPong(asyncio.Protocol):
    """echo_load's connection: one message in flight, the next one sent when
    the whole echo is back."""

    def __init__(self, msg, state):
        self.msg, self.state, self.got = msg, state, 0

    def connection_made(self, transport):
        self.transport = transport

    def data_received(self, data):
        self.got += len(data)
        if self.got >= len(self.msg):
            self.got -= len(self.msg)
            self.state['messages'] += 1
            if self.state['running']:
                self.transport.write(self.msg)


async def tls_client(port, ca, connections, size, seconds):
    loop = asyncio.get_running_loop()
    ctx = ssl.create_default_context(cafile=ca)
    msg = b'x' * size
    state = {'messages': 0, 'running': True}
    conns = [(await loop.create_connection(lambda: PingPong(msg, state), '127.0.0.1', port,
                                           ssl=ctx, server_hostname='localhost'))[1]
             for _ in range(connections)]
    print('ready', flush=True)
    await loop.run_in_executor(None, sys.stdin.readline)
    t0 = time.perf_counter()
    for c in conns:
        c.transport.write(msg)
    await asyncio.sleep(seconds)
    state['running'] = False
    elapsed = time.perf_counter() - t0
    n = state['messages']
    print(f'messages={n} seconds={elapsed:.3f} msgs_per_sec={n / elapsed:.0f}', flush=True)


def main(argv):
    cmd = argv[0]
    if cmd == 'core':
        core(*argv[1:])
    elif cmd == 'serve':
        serve(*argv[1:])
    elif cmd == 'tls-client':
        port, ca, connections, size, seconds = argv[1:]
        try:
            import uvloop
            loop = uvloop.new_event_loop()
        except ImportError:
            loop = asyncio.new_event_loop()
        loop.run_until_complete(tls_client(int(port), ca, int(connections), int(size),
                                           float(seconds)))
        # The connections are dropped with the process: their shutdown is
        # not part of any figure.
        sys.stdout.flush()
        os._exit(0)
    else:
        sys.exit(f'unknown command {cmd}')


if __name__ == '__main__':
    main(sys.argv[1:])
