"""Subprocesses on eddyloop: asyncio.create_subprocess_exec/shell, the
SubprocessProtocol callback order, signals, the Popen arguments eddy carries
and the ones it refuses."""
import asyncio
import errno
import os
import signal
import subprocess
import sys

import pytest


def test_exec_communicate_and_returncode(any_loop):
    async def main():
        p = await asyncio.create_subprocess_exec(
            sys.executable, '-c',
            'import sys; d = sys.stdin.read(); sys.stdout.write(d.upper()); '
            'sys.stderr.write("err"); sys.exit(3)',
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        assert isinstance(p.pid, int)
        out, err = await p.communicate(b'hello')
        return out, err, p.returncode

    assert any_loop.run_until_complete(main()) == (b'HELLO', b'err', 3)


def test_shell_env_cwd_and_stderr_to_stdout(any_loop, tmp_path):
    async def main():
        p = await asyncio.create_subprocess_shell(
            'echo $FOO; pwd; echo oops >&2', stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT, env={'FOO': 'bar', 'PATH': os.environ['PATH']},
            cwd=tmp_path)
        out = await p.stdout.read()
        return out.decode().split('\n'), await p.wait()

    lines, code = any_loop.run_until_complete(main())
    assert lines[:3] == ['bar', os.path.realpath(tmp_path), 'oops']
    assert code == 0


def test_kill_terminate_and_after_exit(any_loop):
    async def main():
        p = await asyncio.create_subprocess_exec(sys.executable, '-c',
                                                 'import time; time.sleep(30)')
        p.terminate()
        assert await p.wait() == -signal.SIGTERM
        # Finished: asyncio raises ProcessLookupError.
        with pytest.raises(ProcessLookupError):
            p.kill()
        p = await asyncio.create_subprocess_exec(sys.executable, '-c',
                                                 'import time; time.sleep(30)')
        p.send_signal(signal.SIGKILL)
        return await p.wait()

    assert any_loop.run_until_complete(main()) == -signal.SIGKILL


class Recorder(asyncio.SubprocessProtocol):
    def __init__(self, loop):
        self.events = []
        self.out = bytearray()
        self.done = loop.create_future()

    def connection_made(self, transport):
        self.events.append('connection_made')
        self.transport = transport

    def pipe_data_received(self, fd, data):
        if self.events[-1] != ('data', fd):
            self.events.append(('data', fd))
        self.out += data

    def pipe_connection_lost(self, fd, exc):
        self.events.append(('pipe_lost', fd))

    def process_exited(self):
        self.events.append('process_exited')

    def connection_lost(self, exc):
        self.events.append('connection_lost')
        self.done.set_result(exc)


def test_protocol_callback_order(any_loop):
    loop = any_loop

    async def main():
        tr, proto = await loop.subprocess_exec(
            lambda: Recorder(loop), sys.executable, '-c', 'print("hi")',
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
        # connection_made ran before subprocess_exec returned.
        assert proto.events == ['connection_made']
        assert isinstance(tr, asyncio.SubprocessTransport)
        assert tr.get_pid() > 0
        assert tr.get_pipe_transport(2) is None
        stdin = tr.get_pipe_transport(0)
        assert isinstance(stdin, asyncio.WriteTransport)
        assert tr.get_pipe_transport(0) is stdin
        stdin.close()
        assert await proto.done is None
        assert tr.get_returncode() == 0
        tr.close()
        return proto

    proto = loop.run_until_complete(main())
    assert bytes(proto.out).strip() == b'hi'
    ev = proto.events
    assert ev[0] == 'connection_made' and ev[-1] == 'connection_lost'
    # One pipe_connection_lost per piped fd; the order against
    # process_exited is not fixed (SEMANTICS.md item 126).
    assert sorted(e for e in ev if isinstance(e, tuple) and e[0] == 'pipe_lost') == [
        ('pipe_lost', 0), ('pipe_lost', 1)]
    assert ev.count('process_exited') == 1
    assert ev.index(('data', 1)) < ev.index(('pipe_lost', 1))


def test_pass_fds(any_loop):
    async def main():
        r, w = os.pipe()
        try:
            p = await asyncio.create_subprocess_exec(
                sys.executable, '-c', f'import os; os.write({w}, b"via fd")', pass_fds=(w,))
            assert await p.wait() == 0
            assert not os.get_inheritable(w)
            return os.read(r, 100)
        finally:
            os.close(r)
            os.close(w)

    assert any_loop.run_until_complete(main()) == b'via fd'


# The child reports which of the two write ends it has: the passed one, kept
# at its number, and not the inheritable one that was not passed.
_SEES = ('import os, sys\n'
         'def sees(fd):\n'
         '    try:\n'
         '        os.fstat(fd)\n'
         '        return True\n'
         '    except OSError:\n'
         '        return False\n'
         'passed, other = map(int, sys.argv[1:])\n'
         'os.write(passed, b"x")\n'
         'print(sees(passed), sees(other))\n')


def test_pass_fds_passes_only_those_fds(any_loop):
    async def main(**kwargs):
        r, w = os.pipe()
        r2, w2 = os.pipe()
        os.set_inheritable(w2, True)
        try:
            p = await asyncio.create_subprocess_exec(
                sys.executable, '-c', _SEES, str(w), str(w2), pass_fds=[w, w],
                stdout=subprocess.PIPE, **kwargs)
            out, _ = await p.communicate()
            assert p.returncode == 0
            assert not os.get_inheritable(w)
            assert os.get_inheritable(w2)
            return out.split(), os.read(r, 100)
        finally:
            for fd in (r, w, r2, w2):
                os.close(fd)

    assert any_loop.run_until_complete(main()) == ([b'True', b'False'], b'x')
    # Popen forces close_fds on when pass_fds is given, with a warning.
    with pytest.warns(RuntimeWarning, match='pass_fds overriding close_fds'):
        assert any_loop.run_until_complete(main(close_fds=False)) == (
            [b'True', b'False'], b'x')


def test_pass_fds_bad_fds(any_loop):
    async def main():
        nul = os.open(os.devnull, os.O_RDONLY)
        # A high number, so that no fd the spawn makes can take it.
        closed = os.dup2(nul, 987)
        os.close(closed)
        try:
            with pytest.raises(OSError) as info:
                await asyncio.create_subprocess_exec('true', pass_fds=(nul, closed))
            assert info.value.errno == errno.EBADF
            with pytest.raises(ValueError, match='bad value'):
                await asyncio.create_subprocess_exec('true', pass_fds=(-1,))
            os.fstat(nul)
        finally:
            os.close(nul)

    any_loop.run_until_complete(main())


def test_bad_arguments(loop):
    async def main():
        f = asyncio.SubprocessProtocol
        cases = [
            (loop.subprocess_exec(f, 'true', shell=True), ValueError, 'shell must be False'),
            (loop.subprocess_shell(f, 'true', shell=False), ValueError, 'shell must be True'),
            (loop.subprocess_shell(f, ['true']), ValueError, 'cmd must be a string'),
            (loop.subprocess_exec(f, 'true', bufsize=1), ValueError, 'bufsize must be 0'),
            (loop.subprocess_exec(f, 'true', universal_newlines=True), ValueError,
             'universal_newlines must be False'),
            (loop.subprocess_exec(f, 'true', text=True), ValueError, 'text must be False'),
            (loop.subprocess_exec(f, 'true', encoding='utf-8'), ValueError,
             'encoding must be None'),
            (loop.subprocess_exec(f, 'true', errors='strict'), ValueError,
             'errors must be None'),
            (loop.subprocess_exec(f, '/nonexistent/program'), FileNotFoundError, ''),
            (loop.subprocess_exec(f, 'true', preexec_fn=lambda: None), NotImplementedError,
             'eddyloop does not support the Popen argument(s) preexec_fn'),
        ]
        for coro, exc, message in cases:
            with pytest.raises(exc) as info:
                await coro
            assert str(info.value).startswith(message), (str(info.value), message)
        # Popen's defaults are accepted.
        tr, proto = await loop.subprocess_exec(lambda: Recorder(loop), 'true',
                                               creationflags=0, preexec_fn=None)
        await proto.done
        tr.close()

    loop.run_until_complete(main())
