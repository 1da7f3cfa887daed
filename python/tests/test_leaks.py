"""No leak: what a long-running server does over and over leaves the
interpreter's object count, its allocated memory blocks and the process's
resident memory flat.

Each test runs the first tenth of the work as a warm-up (caches, free
lists, eddy's slabs and the allocator's arenas reach their working size),
takes a baseline, runs the other nine tenths and compares. One thing left
behind per repetition exceeds every bound: 90,000 objects or blocks for the
connections (900,000 for the handles), and in resident memory, which also
sees eddy's own allocations, at least 2.9 MB, the smallest malloc chunk
(32 bytes) 90,000 times. A run that keeps nothing stays far below them:
+0 objects, +5 or +6 blocks, -74 KB to +192 KB resident here
(docs/python.md)."""
import asyncio
import gc
import os
import sys

import pytest

import eddyloop

# Growth allowed between the warm-up and the end, for work that keeps
# nothing: the interpreter's caches and the allocator move a little.
MAX_OBJECTS = 1_000
MAX_BLOCKS = 10_000
MAX_RSS = 2 << 20

CYCLES = 100_000
IN_FLIGHT = 8
MESSAGE = b'x' * 64
HANDLES = 1_000_000
BATCH = 1_000

_PAGE = os.sysconf('SC_PAGE_SIZE')


def _rss():
    with open('/proc/self/statm') as f:
        return int(f.read().split()[1]) * _PAGE


def _usage():
    gc.collect()
    return len(gc.get_objects()), sys.getallocatedblocks(), _rss()


def _assert_flat(before, after, what):
    objects, blocks, rss = (a - b for a, b in zip(after, before))
    # Shown with `pytest -s`: the figures docs/python.md quotes.
    print(f'\n{what}: {objects:+} objects, {blocks:+} blocks, {rss:+} bytes resident')
    assert objects < MAX_OBJECTS, f'{what}: {objects} more objects'
    assert blocks < MAX_BLOCKS, f'{what}: {blocks} more allocated blocks'
    assert rss < MAX_RSS, f'{what}: resident memory grew by {rss} bytes'


class Echo(asyncio.Protocol):
    def connection_made(self, transport):
        self.transport = transport

    def data_received(self, data):
        self.transport.write(data)


class Client(asyncio.Protocol):
    """Writes MESSAGE, closes once it is echoed whole, and completes `done`
    at connection_lost."""

    def __init__(self, done):
        self.done = done
        self.got = 0

    def connection_made(self, transport):
        self.transport = transport
        transport.write(MESSAGE)

    def data_received(self, data):
        self.got += len(data)
        if self.got == len(MESSAGE):
            self.transport.close()

    def connection_lost(self, exc):
        self.done.set_result(self.got)


def test_connect_echo_close_cycles_keep_nothing():
    loop = eddyloop.new_event_loop()

    async def cycle(port):
        done = loop.create_future()
        await loop.create_connection(lambda: Client(done), '127.0.0.1', port)
        assert await done == len(MESSAGE)

    async def cycles(port, n):
        # IN_FLIGHT workers, each running its share one after the other.
        async def worker(count):
            for _ in range(count):
                await cycle(port)
        await asyncio.gather(*(worker(n // IN_FLIGHT) for _ in range(IN_FLIGHT)))

    try:
        server = loop.run_until_complete(loop.create_server(Echo, '127.0.0.1', 0))
        port = server.sockets[0].getsockname()[1]
        loop.run_until_complete(cycles(port, CYCLES // 10))
        before = _usage()
        loop.run_until_complete(cycles(port, CYCLES - CYCLES // 10))
        after = _usage()
        server.close()
        loop.run_until_complete(server.wait_closed())
    finally:
        loop.close()
    _assert_flat(before, after, f'{CYCLES} connect/echo/close cycles')


def test_call_soon_handles_keep_nothing():
    loop = eddyloop.new_event_loop()
    ran = 0

    def callback(arg):
        nonlocal ran
        ran += 1

    async def handles(n):
        # BATCH handles per iteration, then one iteration for them to run.
        for _ in range(n // BATCH):
            for i in range(BATCH):
                loop.call_soon(callback, i)
            await asyncio.sleep(0)

    try:
        loop.run_until_complete(handles(HANDLES // 10))
        before = _usage()
        loop.run_until_complete(handles(HANDLES - HANDLES // 10))
        after = _usage()
    finally:
        loop.close()
    assert ran == HANDLES
    _assert_flat(before, after, f'{HANDLES} call_soon handles')
