"""Fixtures shared by the binding's tests."""
import asyncio

import pytest

import eddyloop


@pytest.fixture
def loop():
    loop = eddyloop.new_event_loop()
    yield loop
    if not loop.is_closed():
        loop.run_until_complete(loop.shutdown_default_executor())
        loop.close()


@pytest.fixture(params=['eddyloop', 'asyncio'])
def any_loop(request):
    """eddyloop, and asyncio's own loop to show the expectation is
    asyncio's behaviour. It is the current loop too: asyncio's child
    watcher on 3.11 wants that for subprocesses."""
    loop = (eddyloop.new_event_loop() if request.param == 'eddyloop'
            else asyncio.SelectorEventLoop())
    asyncio.set_event_loop(loop)
    yield loop
    asyncio.set_event_loop(None)
    if not loop.is_closed():
        loop.run_until_complete(loop.shutdown_default_executor())
        loop.close()
