"""A real framework on eddyloop: aiohttp's server answers wrk, and aiohttp's
client fetches from aiohttp's server, both on an eddyloop loop."""
import asyncio
import re
import shutil

import pytest

import eddyloop

web = pytest.importorskip('aiohttp.web', reason='aiohttp is not installed')
aiohttp = pytest.importorskip('aiohttp', reason='aiohttp is not installed')

HELLO = b'Hello, world'


def _app():
    async def hello(request):
        return web.Response(body=HELLO)

    async def echo(request):
        # The client's port shows whether the request came on a kept-alive
        # connection.
        body = await request.read()
        return web.json_response({
            'method': request.method,
            'port': request.transport.get_extra_info('peername')[1],
            'body': body.decode(),
        })

    app = web.Application()
    app.router.add_get('/', hello)
    app.router.add_route('*', '/echo', echo)
    return app


async def _serve(loop):
    assert asyncio.get_running_loop() is loop
    runner = web.AppRunner(_app(), access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, '127.0.0.1', 0)
    await site.start()
    return runner, runner.addresses[0][1]


def _run(main):
    loop = eddyloop.new_event_loop()
    try:
        return loop.run_until_complete(main(loop))
    finally:
        loop.run_until_complete(loop.shutdown_asyncgens())
        loop.close()


def _wrk_counts(out):
    """requests, socket errors and non-2xx/3xx responses from wrk's report
    (it prints the last two only when they are not zero)."""
    requests = re.search(r'^\s*(\d+) requests in ', out, re.M)
    assert requests, out
    errors = re.search(
        r'Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)', out)
    non_2xx = re.search(r'Non-2xx or 3xx responses: (\d+)', out)
    return (int(requests.group(1)),
            sum(map(int, errors.groups())) if errors else 0,
            int(non_2xx.group(1)) if non_2xx else 0)


def test_wrk_counts_parses_errors():
    out = ('  7 requests in 2.00s, 1.00KB read\n'
           '  Socket errors: connect 1, read 2, write 0, timeout 3\n'
           '  Non-2xx or 3xx responses: 4\n')
    assert _wrk_counts(out) == (7, 6, 4)


@pytest.mark.skipif(shutil.which('wrk') is None, reason='wrk is not installed')
def test_aiohttp_server_answers_wrk():
    async def main(loop):
        runner, port = await _serve(loop)
        try:
            proc = await asyncio.create_subprocess_exec(
                'wrk', '-c100', '-t2', '-d2s', f'http://127.0.0.1:{port}/',
                stdout=asyncio.subprocess.PIPE)
            out, _ = await proc.communicate()
            assert proc.returncode == 0
            return out.decode()
        finally:
            await runner.cleanup()

    out = _run(main)
    print(out)  # shown with `pytest -s`: docs/python.md quotes the figures
    requests, errors, non_2xx = _wrk_counts(out)
    assert requests > 0, out
    assert errors == 0, out
    assert non_2xx == 0, out


def test_aiohttp_client_fetches_from_aiohttp_server():
    async def main(loop):
        runner, port = await _serve(loop)
        base = f'http://127.0.0.1:{port}'
        try:
            connector = aiohttp.TCPConnector(limit=1)
            async with aiohttp.ClientSession(connector=connector) as session:
                for _ in range(5):
                    async with session.get(base + '/') as resp:
                        assert resp.status == 200
                        assert await resp.read() == HELLO
                ports = set()
                for i in range(3):
                    async with session.get(base + '/echo') as resp:
                        got = await resp.json()
                        assert got['method'] == 'GET'
                        ports.add(got['port'])
                body = 'x' * 100_000 + 'end'
                async with session.post(base + '/echo', data=body) as resp:
                    assert resp.status == 200
                    got = await resp.json()
                assert got['method'] == 'POST'
                assert got['body'] == body
                ports.add(got['port'])
                # Keep-alive: every request went over the one connection.
                assert len(ports) == 1
        finally:
            await runner.cleanup()

    _run(main)
