"""asyncio's loop, uvloop, rloop and eddyloop raced in one run (issue 12's
`make bench-python`), pinned as `make bench` pins: every server (and the
loop-core programs) on SERVER_CPU, every load client on CLIENT_CPU. Each
round runs every loop once per benchmark, in an order that rotates from
round to round; the table shows medians over rounds and, per row, eddyloop
against the better of uvloop and rloop (>= 1.0: eddyloop at least as good).

    python3 python/benches/bench_python.py     (make bench-python)

Rows (each loop in a fresh process, bench_servers.py):
  core     chained call_soon (callbacks/s) and CALLBACKS/TIMERS timers (CPU µs
           per timer): loop_core.chained_call_soon and loop_core.timers
  echo     protocol echo, the shared C load client (benches/echo_load)
  streams  asyncio.start_server reader/writer echo, same client
  http     aiohttp hello under wrk -t1 -c100
  tls      protocol echo over ssl.SSLContext, a Python TLS client (uvloop)

Environment (defaults in brackets):
  ROUNDS [5]  ONLY [all]: a space-separated subset of core echo streams http tls
  LOOPS [asyncio uvloop rloop eddyloop]
  ECHO_SECS [2]  CONNS [100]  SIZE [1024]     (echo, streams, tls)
  TLS_CONNS [100]  WRK_DURATION [5s]
  CALLBACKS [500000]  TIMERS [200000]
  SERVER_CPU [1]  CLIENT_CPU [0]  LOAD [build/benches/echo_load]
  OUT [build/bench-python]: results.tsv (every run) and table.md
"""
import importlib.metadata
import os
import re
import select
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
SERVERS = os.path.join(HERE, 'bench_servers.py')
ROWS = ['core', 'echo', 'streams', 'http', 'tls']


def env(name, default):
    return os.environ.get(name, default)


ROUNDS = int(env('ROUNDS', '5'))
ONLY = env('ONLY', 'all').split()
LOOPS = env('LOOPS', 'asyncio uvloop rloop eddyloop').split()
ECHO_SECS = env('ECHO_SECS', '2')
CONNS = env('CONNS', '100')
TLS_CONNS = env('TLS_CONNS', '100')
SIZE = env('SIZE', '1024')
WRK_DURATION = env('WRK_DURATION', '5s')
CALLBACKS = env('CALLBACKS', '500000')
TIMERS = env('TIMERS', '200000')
SERVER_CPU = int(env('SERVER_CPU', '1'))
CLIENT_CPU = int(env('CLIENT_CPU', '0'))
LOAD = env('LOAD', 'build/benches/echo_load')
OUT = env('OUT', 'build/bench-python')

# metric: (label, better)
METRICS = {
    'callbacks_per_sec': ('chained call_soon, callbacks/s', 'higher'),
    'timer_cpu_us': (f'{int(TIMERS):,} timers, CPU µs per timer', 'lower'),
    'echo_us': (f'protocol echo {CONNS} conns x {SIZE} B, server CPU µs per message', 'lower'),
    'streams_us': (f'streams echo {CONNS} conns x {SIZE} B, server CPU µs per message', 'lower'),
    'http_rps': ('aiohttp hello, wrk -c100, requests/s', 'higher'),
    'http_us': ('aiohttp hello, wrk -c100, server CPU µs per request', 'lower'),
    'tls_us': (f'TLS echo {TLS_CONNS} conns x {SIZE} B, server CPU µs per message', 'lower'),
}


def log(*a):
    print(*a, file=sys.stderr, flush=True)


def pinned(cpu):
    return lambda: os.sched_setaffinity(0, {cpu})


def cpu_ns(pid):
    """The scheduler's run time of every thread of PID, as benches/run.sh
    reads it (/proc/PID/task/*/schedstat, exact to the nanosecond)."""
    total = 0
    task_dir = f'/proc/{pid}/task'
    for tid in os.listdir(task_dir):
        try:
            with open(f'{task_dir}/{tid}/schedstat') as f:
                total += int(f.read().split()[0])
        except (FileNotFoundError, ProcessLookupError):
            pass  # a thread that ended meanwhile
    return total


def kv(key, line):
    m = re.search(rf'\b{key}=(\S+)', line)
    return float(m.group(1)) if m else None


def tail(f, lines=3):
    """The last LINES lines of the temporary file F (a child's stderr)."""
    f.seek(0)
    return ''.join(f.readlines()[-lines:]).rstrip()


def read_line(proc, timeout, what):
    """The next line of PROC's stdout within TIMEOUT seconds, or None."""
    ready, _, _ = select.select([proc.stdout], [], [], timeout)
    line = proc.stdout.readline() if ready else ''
    if not line:
        log(f'  {what}: no output (exit {proc.poll()})')
        return None
    return line


class Server:
    """A bench_servers.py server on SERVER_CPU; .port once it listens."""

    def __init__(self, kind, loop, *extra):
        # stderr to a file: a server that logs under load must not block on
        # a full pipe.
        self.stderr = tempfile.TemporaryFile('w+')
        self.proc = subprocess.Popen(
            [sys.executable, SERVERS, 'serve', kind, loop, *extra],
            stdout=subprocess.PIPE, stderr=self.stderr, text=True,
            preexec_fn=pinned(SERVER_CPU))
        line = read_line(self.proc, 30, f'{kind} server on {loop}')
        m = re.search(r'listening 127\.0\.0\.1:(\d+)', line or '')
        self.port = int(m.group(1)) if m else None
        if self.port is None:
            self.stop()

    def cpu_ns(self):
        return cpu_ns(self.proc.pid)

    def stop(self):
        # The figures are taken: how a loop shuts down is not measured.
        self.proc.kill()
        self.proc.wait()
        # Whatever the server said (a failed start, errors logged under load).
        if self.stderr.tell():
            log(f'  server stderr: {tail(self.stderr)}')
        self.stderr.close()


def measure(kind, loop, client, unit_key, extra=()):
    """Starts KIND's server on LOOP and runs CLIENT(port, mark), which
    returns the load client's output line and calls mark('start') where the
    measured window starts (the TLS client after its handshakes); the window
    ends when CLIENT returns. Returns (line, server CPU µs per UNIT_KEY of
    the line) or (None, None)."""
    server = Server(kind, loop, *extra)
    if server.port is None:
        return None, None
    try:
        window = {}

        def mark(key):
            window[key] = server.cpu_ns()
        line = client(server.port, mark)
        if not line or 'start' not in window:
            return None, None
        mark('end')
        units = kv(unit_key, line)
        if not units:
            log(f'  {kind} on {loop}: no {unit_key} in {line!r}')
            return None, None
        return line, (window['end'] - window['start']) / 1e3 / units
    finally:
        server.stop()


def echo_load_client(port, mark):
    mark('start')
    r = subprocess.run([LOAD, str(port), CONNS, SIZE, ECHO_SECS], capture_output=True,
                       text=True, preexec_fn=pinned(CLIENT_CPU))
    if r.returncode:
        log(f'  echo_load failed: {r.stderr.strip()}')
        return None
    return r.stdout.strip()


def wrk_client(port, mark):
    mark('start')
    r = subprocess.run(['wrk', '-t1', '-c100', f'-d{WRK_DURATION}', f'http://127.0.0.1:{port}/'],
                       capture_output=True, text=True, preexec_fn=pinned(CLIENT_CPU))
    out = r.stdout
    if r.returncode or re.search(r'Socket errors|Non-2xx', out):
        log(f'  wrk failed or saw errors:\n{out}{r.stderr}')
        return None
    rps = re.search(r'^Requests/sec:\s*(\S+)', out, re.M)
    reqs = re.search(r'^\s*(\d+) requests in', out, re.M)
    return f'requests={reqs.group(1)} requests_per_sec={rps.group(1)}' if rps and reqs else None


def tls_client_for(ca):
    def client(port, mark):
        stderr = tempfile.TemporaryFile('w+')
        proc = subprocess.Popen(
            [sys.executable, SERVERS, 'tls-client', str(port), ca, TLS_CONNS, SIZE, ECHO_SECS],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=stderr, text=True,
            preexec_fn=pinned(CLIENT_CPU))
        try:
            if read_line(proc, 60, 'tls client handshakes') is None:
                log(tail(stderr))
                return None
            mark('start')
            proc.stdin.write('go\n')
            proc.stdin.flush()
            line = read_line(proc, float(ECHO_SECS) + 30, 'tls client')
            return line and line.strip()
        finally:
            proc.kill()
            proc.wait()
            stderr.close()
    return client


def make_cert(tmp):
    cert, key = os.path.join(tmp, 'cert.pem'), os.path.join(tmp, 'key.pem')
    subprocess.run(['openssl', 'req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '1',
                    '-subj', '/CN=localhost', '-addext', 'subjectAltName=DNS:localhost',
                    '-keyout', key, '-out', cert], check=True, capture_output=True)
    return cert, key


def run_round(rnd, loops, rows, cert, key, record):
    for row in rows:
        for loop in loops:
            if row == 'core':
                r = subprocess.run([sys.executable, SERVERS, 'core', loop, CALLBACKS, TIMERS],
                                   capture_output=True, text=True, preexec_fn=pinned(SERVER_CPU))
                if r.returncode:
                    log(f'  core on {loop} failed: {r.stderr[-2000:]}')
                    continue
                line = r.stdout.strip()
                record('callbacks_per_sec', loop, kv('callbacks_per_sec', line))
                record('timer_cpu_us', loop, kv('timer_cpu_us', line))
            elif row in ('echo', 'streams'):
                kind = 'protocol' if row == 'echo' else 'streams'
                line, us = measure(kind, loop, echo_load_client, 'messages')
                record(f'{row}_us', loop, us)
            elif row == 'http':
                line, us = measure('http', loop, wrk_client, 'requests')
                record('http_rps', loop, line and kv('requests_per_sec', line))
                record('http_us', loop, us)
            elif row == 'tls':
                line, us = measure('tls', loop, tls_client_for(cert), 'messages', (cert, key))
                record('tls_us', loop, us)
            log(f'  round {rnd} {row} {loop}: {line}' + (f' server_cpu_us={us:.2f}'
                                                        if row != 'core' and us else ''))


def fmt(v):
    if v is None:
        return 'n/a'
    if v >= 1000:
        return f'{v:,.0f}'
    return f'{v:.2f}' if v < 10 else f'{v:.1f}'


def table(results, loops):
    """Medians per loop; the ratio is the median over rounds of eddyloop
    against the better of uvloop and rloop in the same round, so a change
    in what else the machine does between rounds affects both sides."""
    rivals = [lp for lp in ('uvloop', 'rloop') if lp in loops]
    head = ['row (better)'] + loops + ['eddyloop vs best of ' + '/'.join(rivals), 'rounds']
    lines = ['| ' + ' | '.join(head) + ' |', '|---' * len(head) + '|']
    for metric, (label, better) in METRICS.items():
        per_loop = {lp: [v for v in results.get(metric, {}).get(lp, {}).values()] for lp in loops}
        if not any(per_loop.values()):
            continue
        medians = [fmt(statistics.median(v)) if v else 'n/a' for v in per_loop.values()]
        ratios = []
        by_round = results[metric]
        for rnd, e in by_round.get('eddyloop', {}).items():
            others = [by_round[lp][rnd] for lp in rivals if rnd in by_round.get(lp, {})]
            if others:
                ratios.append(e / max(others) if better == 'higher' else min(others) / e)
        ratio = f'{statistics.median(ratios):.2f}' if ratios else 'n/a'
        counts = '+'.join(str(len(v)) for v in per_loop.values())
        lines.append(f'| {label} ({better}) | ' + ' | '.join(medians) + f' | {ratio} | {counts} |')
    return '\n'.join(lines)


def versions(loops):
    out = [f'CPython {sys.version.split()[0]}']
    for lp in loops:
        if lp == 'asyncio':
            continue
        try:
            out.append(f'{lp} {importlib.metadata.version(lp)}')
        except importlib.metadata.PackageNotFoundError:
            out.append(f'{lp} missing')
    return ', '.join(out)


def main():
    rows = ROWS if ONLY == ['all'] else [r for r in ROWS if r in ONLY]
    if not os.access(LOAD, os.X_OK) and set(rows) & {'echo', 'streams'}:
        sys.exit(f'{LOAD} missing: make bench-bins builds it (make bench-python does)')
    if 'http' in rows and not shutil.which('wrk'):
        log('wrk not installed: no aiohttp row')
        rows.remove('http')
    os.makedirs(OUT, exist_ok=True)
    results = {}  # metric -> loop -> round -> value
    tsv = open(os.path.join(OUT, 'results.tsv'), 'w')
    load_start = open('/proc/loadavg').read().split()[:3]
    t0 = time.time()
    with tempfile.TemporaryDirectory() as tmp:
        cert, key = make_cert(tmp) if 'tls' in rows else (None, None)
        for rnd in range(1, ROUNDS + 1):
            # Each loop takes each place in the order in turn.
            k = (rnd - 1) % len(LOOPS)
            order = LOOPS[k:] + LOOPS[:k]

            def record(metric, loop, value, rnd=rnd):
                if value:
                    results.setdefault(metric, {}).setdefault(loop, {})[rnd] = value
                    tsv.write(f'{metric}\t{loop}\t{value}\t{rnd}\n')
                    tsv.flush()
            log(f'== round {rnd}/{ROUNDS}: {" ".join(order)}')
            run_round(rnd, order, rows, cert, key, record)
    tsv.close()
    text = table(results, LOOPS)
    with open(os.path.join(OUT, 'table.md'), 'w') as f:
        f.write(text + '\n')
    print()
    print(f'{versions(LOOPS)} on {os.cpu_count()} CPUs, Linux {os.uname().release}; '
          f'servers on CPU {SERVER_CPU}, clients on CPU {CLIENT_CPU}')
    print(f'Load average at start: {" ".join(load_start)}, at end: '
          f'{" ".join(open("/proc/loadavg").read().split()[:3])}; '
          f'{time.time() - t0:.0f} s, {ROUNDS} rounds')
    print('Loop columns: medians over rounds. Ratio: median over rounds of eddyloop against the '
          'better of uvloop and rloop in that round (>= 1.0: eddyloop at least as good). '
          f'Raw runs: {OUT}/results.tsv')
    print()
    print(text)


if __name__ == '__main__':
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    main()
