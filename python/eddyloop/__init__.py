"""eddyloop: an asyncio event loop on eddy's C library.

    import eddyloop
    eddyloop.run(main())                       # like asyncio.run
    asyncio.set_event_loop_policy(eddyloop.EventLoopPolicy())   # frameworks
"""
import asyncio as __asyncio

from ._loop import Loop as __BaseLoop, Handle, TimerHandle, version

__all__ = ('new_event_loop', 'Loop', 'EventLoopPolicy', 'run')


class Loop(__BaseLoop, __asyncio.AbstractEventLoop):
    """An asyncio event loop run by eddy."""


def new_event_loop():
    """A new eddyloop event loop."""
    return Loop()


class EventLoopPolicy(__asyncio.DefaultEventLoopPolicy):
    """asyncio's default policy, making eddyloop loops. (Its child watcher
    calls are kept for code that makes them; eddyloop's subprocesses do
    not use the watcher.)"""

    def _loop_factory(self):
        return new_event_loop()


def run(main, *, debug=None):
    """asyncio.run with an eddyloop loop."""
    with __asyncio.Runner(debug=debug, loop_factory=new_event_loop) as runner:
        return runner.run(main)
