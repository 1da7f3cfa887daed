"""Run CPython's own asyncio tests (from this interpreter's test.test_asyncio)
against eddyloop, or against asyncio's own loop, uvloop or rloop for reference.

    python3 python/tests/conformance.py                 # eddyloop
    python3 python/tests/conformance.py --loop asyncio  # the reference
    python3 python/tests/conformance.py --loop uvloop   # or rloop
    python3 python/tests/conformance.py --module test_events -v

Each test runs in its own subprocess with a timeout (a pool of --jobs
workers), so a test that hangs or crashes the interpreter counts as failed
and cannot take the others with it. Prints passed/failed/skipped per module.

Two kinds of module:
* mixin: the loop-agnostic test mixin is combined with a TestCase whose
  loop factory (create_event_loop / new_loop) makes the loop under test.
* policy: the module takes its loop from the event loop policy (asyncio.run,
  IsolatedAsyncioTestCase, asyncio.new_event_loop), so the child installs
  the policy of the loop under test (eddyloop's, uvloop's or rloop's;
  asyncio's own default for --loop asyncio). "on eddy" in the table counts
  the tests that did create an eddyloop loop: the others ran on loops the
  tests make themselves (test_utils.TestLoop) and tell nothing about
  eddyloop.
"""
import argparse
import concurrent.futures
import importlib
import json
import os
import resource
import signal
import subprocess
import sys
import unittest

# module: (kind, [(mixin class, base class, factory method name)]); the
# factory method 'setUp' stands for a setUp that makes self.loop the loop
# under test (what the mixins without a factory method expect of their
# TestCase).
MODULES = {
    'test_events': ('mixin', [('EventLoopTestsMixin', 'test_utils.TestCase',
                               'create_event_loop'),
                              ('SubprocessTestsMixin', 'test_utils.TestCase', 'setUp')]),
    'test_sock_lowlevel': ('mixin', [('BaseSockTestsMixin', 'test_utils.TestCase',
                                      'create_event_loop')]),
    'test_sendfile': ('mixin', [('SendfileTestsBase', 'test_utils.TestCase',
                                 'create_event_loop')]),
    'test_server': ('mixin', [('BaseStartServer', 'unittest.TestCase', 'new_loop')]),
    'test_buffered_proto': ('mixin', [('BaseTestBufferedProtocol', 'unittest.TestCase',
                                       'new_loop')]),
    'test_subprocess': ('mixin', [('SubprocessMixin', 'test_utils.TestCase', 'setUp')]),
    'test_streams': ('policy', None),
    'test_ssl': ('policy', None),
    # Its other class, SslProtoHandshakeTests, drives SSLProtocol with mock
    # loops and transports: it tests asyncio's code, not a loop.
    'test_sslproto': ('mixin', [('BaseStartTLS', 'unittest.TestCase', 'new_loop')]),
    'test_locks': ('policy', None),
    'test_queues': ('policy', None),
    'test_timeouts': ('policy', None),
    'test_taskgroups': ('policy', None),
    'test_waitfor': ('policy', None),
    'test_runners': ('policy', None),
}


# The tests that cannot pass on a loop other than asyncio's own, because
# they patch or read asyncio's internals rather than test a loop's
# behaviour (docs/python.md, "Failures that test asyncio's internals").
# --check fails on any other failure.
WHITE_BOX = {
    ('test_events', 'test_timeout_rounding'): 'patches loop._run_once to count iterations',
    ('test_events', 'test_prompt_cancellation'): 'cleans up with loop._stop_serving(sock)',
    ('test_events', 'test_create_server_multiple_hosts_ipv4'):
        'patches base_events.socket with a mock and replaces loop._start_serving',
    ('test_events', 'test_create_server_multiple_hosts_ipv6'):
        'patches base_events.socket with a mock and replaces loop._start_serving',
    ('test_sock_lowlevel', 'test_sendto_blocking'):
        'a mock.Mock socket whose sendto raises BlockingIOError; eddy sends on the real fd',
    ('test_sendfile', 'test_sendfile_force_unsupported_native'): 'patches loop._sendfile_native',
    ('test_subprocess', 'test_close_dont_kill_finished'):
        "mocks kill on get_extra_info('subprocess'), a Popen object eddy does not have",
    ('test_subprocess', 'test_close_kill_running'):
        "mocks kill on get_extra_info('subprocess'), a Popen object eddy does not have",
    ('test_subprocess', 'test_pause_reading'):
        'spies on loop.connect_read_pipe, through which asyncio (not eddy) makes the pipes',
    ('test_subprocess', 'test_popen_error'): 'patches subprocess.Popen, which eddy does not spawn through',
    ('test_subprocess', 'test_popen_error_with_stdin_pipe'):
        'patches subprocess.Popen, which eddy does not spawn through',
}


# --loop: the module that provides new_event_loop and EventLoopPolicy, as
# uvloop's API does (eddyloop and rloop follow it); None: asyncio's own loop.
LOOP_MODULES = {'eddy': 'eddyloop', 'uvloop': 'uvloop', 'rloop': 'rloop', 'asyncio': None}


def _executor_visible(loop):
    """test_utils.TestCase.close_loop reads loop._default_executor, which
    uvloop keeps in a C field Python cannot see: without this every uvloop
    test that closes its loop that way fails in its cleanup. None makes
    close_loop go straight to loop.close(), which shuts uvloop's executor
    down itself."""
    loop._default_executor = None
    return loop


def loop_factory(which):
    if LOOP_MODULES[which] is None:
        import asyncio
        return asyncio.SelectorEventLoop
    new_event_loop = importlib.import_module(LOOP_MODULES[which]).new_event_loop
    if which != 'uvloop':
        return new_event_loop
    return lambda: _executor_visible(new_event_loop())


def loop_policy(which):
    """The EventLoopPolicy of the loop under test (not asyncio's)."""
    policy = importlib.import_module(LOOP_MODULES[which]).EventLoopPolicy
    if which != 'uvloop':
        return policy()

    class Policy(policy):
        def new_event_loop(self):
            return _executor_visible(super().new_event_loop())
    return Policy()


def _loop_setup(base, factory):
    def setUp(self):
        base.setUp(self)
        self.loop = factory()
        self.set_event_loop(self.loop)
    return setUp


def test_classes(module_name, which):
    """The TestCase classes to run for a module, by name."""
    module = importlib.import_module(f'test.test_asyncio.{module_name}')
    kind, mixins = MODULES[module_name]
    classes = {}
    if kind == 'mixin':
        from test.test_asyncio import utils as test_utils  # noqa: F401 (eval)
        for mixin_name, base_name, factory_method in mixins:
            mixin = getattr(module, mixin_name)
            base = eval(base_name)
            factory = loop_factory(which)
            if factory_method == 'setUp':
                method = _loop_setup(base, factory)
            else:
                method = lambda self, f=factory: f()  # noqa: E731
            cls = type(f'{mixin_name}On{which.capitalize()}', (mixin, base),
                       {factory_method: method, '__module__': module.__name__})
            classes[cls.__name__] = cls
    else:
        for name, obj in vars(module).items():
            if (isinstance(obj, type) and issubclass(obj, unittest.TestCase)
                    and obj.__module__ == module.__name__):
                classes[name] = obj
    return classes


def list_tests(module_name, which):
    loader = unittest.TestLoader()
    out = []
    for cls_name, cls in test_classes(module_name, which).items():
        for test in loader.getTestCaseNames(cls):
            out.append((cls_name, test))
    return out


def run_one(module_name, cls_name, test_name, which):
    """Child side: run one test; print one JSON line with the outcome."""
    # A shell that starts a job in the background without job control has
    # it ignore SIGINT, and Python then keeps it ignored; test_runners'
    # Ctrl-C tests need the interpreter's usual KeyboardInterrupt.
    if signal.getsignal(signal.SIGINT) == signal.SIG_IGN:
        signal.signal(signal.SIGINT, signal.default_int_handler)
    created = [0]
    if which == 'eddy':
        import eddyloop
        orig_init = eddyloop.Loop.__init__

        def counting_init(self, *a, **kw):
            created[0] += 1
            orig_init(self, *a, **kw)
        eddyloop.Loop.__init__ = counting_init
    if LOOP_MODULES[which] is not None and MODULES[module_name][0] == 'policy':
        import asyncio
        asyncio.set_event_loop_policy(loop_policy(which))
    cls = test_classes(module_name, which)[cls_name]
    result = unittest.TestResult()
    # Through a suite, so setUpModule/setUpClass run as under unittest.
    unittest.TestSuite([cls(test_name)]).run(result)
    if result.skipped:
        status, detail = 'skipped', result.skipped[0][1]
    elif result.errors or result.failures or result.unexpectedSuccesses:
        status = 'failed'
        detail = ''.join(tb for _, tb in result.errors + result.failures)[-3000:]
    else:
        status, detail = 'passed', ''
    sys.stdout.flush()
    print('\nCONFORMANCE-RESULT ' + json.dumps(
        {'status': status, 'detail': detail, 'eddy_loops': created[0]}))
    sys.stdout.flush()
    # Skip interpreter teardown: a test's leftovers must not change its
    # outcome, and a hang there would eat the timeout.
    os._exit(0)


def limit_memory():
    # The machine is shared: a test that runs away (a mocked loop spinning
    # and recording every call) fails with MemoryError instead.
    resource.setrlimit(resource.RLIMIT_AS, (CHILD_MEMORY, CHILD_MEMORY))


CHILD_MEMORY = 2 << 30


def spawn(module_name, cls_name, test_name, which, timeout):
    cmd = [sys.executable, os.path.abspath(__file__), '--one', module_name, cls_name,
           test_name, '--loop', which]
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout,
                              preexec_fn=limit_memory)
    except subprocess.TimeoutExpired:
        return {'status': 'failed', 'detail': f'timeout after {timeout}s', 'eddy_loops': 0}
    for line in proc.stdout.splitlines():
        if line.startswith('CONFORMANCE-RESULT '):
            return json.loads(line.split(' ', 1)[1])
    return {'status': 'failed', 'eddy_loops': 0,
            'detail': f'child exited {proc.returncode}: {proc.stderr[-2000:]}'}


def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    ap.add_argument('--loop', choices=list(LOOP_MODULES), default='eddy')
    ap.add_argument('--module', action='append', help='only these modules')
    ap.add_argument('--jobs', type=int, default=2)
    ap.add_argument('--timeout', type=float, default=60)
    ap.add_argument('--json', help='write every outcome to this file')
    ap.add_argument('-v', '--verbose', action='store_true',
                    help='print each failure with its traceback tail')
    ap.add_argument('--check', action='store_true',
                    help='exit 1 if a test outside WHITE_BOX fails (make test)')
    ap.add_argument('--one', nargs=3, metavar=('MODULE', 'CLASS', 'TEST'),
                    help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.one:
        run_one(*args.one, args.loop)
        return 0

    modules = args.module or list(MODULES)
    jobs = []
    for m in modules:
        for cls_name, test in list_tests(m, args.loop):
            jobs.append((m, cls_name, test))
    outcomes = {}
    with concurrent.futures.ThreadPoolExecutor(args.jobs) as pool:
        futs = {pool.submit(spawn, *job, args.loop, args.timeout): job for job in jobs}
        for fut in concurrent.futures.as_completed(futs):
            outcomes[futs[fut]] = fut.result()

    print(f'CPython {sys.version.split()[0]} test.test_asyncio on '
          f'{LOOP_MODULES[args.loop] or "asyncio SelectorEventLoop"}')
    header = f'{"module":<22}{"passed":>8}{"failed":>8}{"skipped":>9}'
    if args.loop == 'eddy':
        header += f'{"on eddy":>9}'
    print(header)
    totals = [0, 0, 0, 0]
    for m in modules:
        counts = [0, 0, 0, 0]
        for (mm, cls_name, test), out in sorted(outcomes.items()):
            if mm != m:
                continue
            counts[['passed', 'failed', 'skipped'].index(out['status'])] += 1
            counts[3] += out['eddy_loops'] > 0
            if args.verbose and out['status'] == 'failed':
                print(f'--- FAIL {m}.{cls_name}.{test}\n{out["detail"]}')
        totals = [a + b for a, b in zip(totals, counts)]
        line = f'{m:<22}{counts[0]:>8}{counts[1]:>8}{counts[2]:>9}'
        if args.loop == 'eddy':
            line += f'{counts[3]:>9}'
        print(line)
    line = f'{"total":<22}{totals[0]:>8}{totals[1]:>8}{totals[2]:>9}'
    if args.loop == 'eddy':
        line += f'{totals[3]:>9}'
    print(line)
    if args.json:
        with open(args.json, 'w') as f:
            json.dump([{'module': m, 'class': c, 'test': t, **o}
                       for (m, c, t), o in sorted(outcomes.items())], f, indent=1)
    if args.check:
        # test_runners' tests install their own policy and never make the
        # loop under test: a failure there says nothing about eddyloop (three
        # of them time out on a loaded machine on every loop), so it is
        # shown, not counted.
        failed = [(m, c, t) for (m, c, t), o in sorted(outcomes.items())
                  if o['status'] == 'failed' and (m, t) not in WHITE_BOX]
        for m, c, t in failed:
            if m == 'test_runners':
                print(f'(failed, not counted: {m}.{c}.{t}: {outcomes[(m, c, t)]["detail"][-200:]})')
        unexpected = [(m, c, t) for m, c, t in failed if m != 'test_runners']
        for m, c, t in unexpected:
            print(f'FAIL {m}.{c}.{t}: not one of the white-box tests\n'
                  f'{outcomes[(m, c, t)]["detail"]}')
        if unexpected:
            print(f'{len(unexpected)} unexpected failure(s)')
            return 1
        white = sum(1 for (m, c, t), o in outcomes.items()
                    if o['status'] == 'failed' and (m, t) in WHITE_BOX)
        print(f'no unexpected failure ({white} white-box tests failed, as listed)')
    return 0


if __name__ == '__main__':
    sys.exit(main())
