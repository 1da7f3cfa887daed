"""conformance.py for several CPython versions and loops, one table per
version with the loops side by side (issue 12's `make conformance`).

    python3 python/tests/conformance_matrix.py      (make conformance)

Each version X.Y runs in the venv build/python-venv-X.Y (make conformance
makes them: eddyloop, uvloop, rloop, Cython, pytest, setuptools, wheel),
each loop in a run of conformance.py of its own. Cells are
passed/failed/skipped.

Environment (defaults in brackets), or the matching options:
  VERSIONS [3.11 3.12 3.13]
  LOOPS [asyncio uvloop rloop eddy]
  MODULES [all of conformance.py's]   a space-separated subset
  JOBS [2]  TIMEOUT [60]              conformance.py's --jobs, --timeout
  RESULTS [build/conformance]: X.Y-LOOP.json (every outcome) and .txt
                                 (conformance.py's output, failures with -v)
"""
import argparse
import json
import os
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from conformance import LOOP_MODULES, MODULES  # noqa: E402

LOOP_TITLES = {'asyncio': 'asyncio', 'uvloop': 'uvloop', 'rloop': 'rloop', 'eddy': 'eddyloop'}


def run(version, loop, modules, args):
    python = os.path.join(args.venvs, f'python-venv-{version}', 'bin', 'python')
    out = os.path.join(args.results, f'{version}-{loop}')
    cmd = [python, os.path.join(HERE, 'conformance.py'), '--loop', loop, '-v',
           '--jobs', str(args.jobs), '--timeout', str(args.timeout), '--json', out + '.json']
    for m in modules:
        cmd += ['--module', m]
    print(f'== CPython {version}, {LOOP_TITLES[loop]}: {" ".join(cmd)}', file=sys.stderr,
          flush=True)
    if os.path.exists(out + '.json'):
        os.remove(out + '.json')  # a failed run must not leave the last one's figures
    with open(out + '.txt', 'w') as f:
        r = subprocess.run(cmd, stdout=f, stderr=subprocess.STDOUT)
    if r.returncode:
        print(f'   failed (exit {r.returncode}): see {out}.txt', file=sys.stderr)


def counts(path, modules):
    """module -> [passed, failed, skipped] from one run's JSON, or None."""
    try:
        with open(path) as f:
            outcomes = json.load(f)
    except (OSError, ValueError):
        return None
    table = {m: [0, 0, 0] for m in modules}
    for o in outcomes:
        if o['module'] in table:
            table[o['module']][['passed', 'failed', 'skipped'].index(o['status'])] += 1
    return table


def print_table(version, loops, modules, args):
    per_loop = {lp: counts(os.path.join(args.results, f'{version}-{lp}.json'), modules)
                for lp in loops}
    print(f'\nCPython {version} (passed/failed/skipped)\n')
    print('| module | ' + ' | '.join(LOOP_TITLES[lp] for lp in loops) + ' |')
    print('|---' * (len(loops) + 1) + '|')
    totals = {lp: [0, 0, 0] for lp in loops}
    for m in modules + ['total']:
        cells = []
        for lp in loops:
            t = per_loop[lp]
            if t is None:
                cells.append('n/a')
                continue
            c = totals[lp] if m == 'total' else t[m]
            if m != 'total':
                totals[lp] = [a + b for a, b in zip(totals[lp], c)]
            cells.append('/'.join(map(str, c)))
        name = '**total**' if m == 'total' else m
        print(f'| {name} | ' + ' | '.join(cells) + ' |')


def main():
    e = os.environ.get
    ap = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    ap.add_argument('--versions', default=e('VERSIONS', '3.11 3.12 3.13'))
    ap.add_argument('--loops', default=e('LOOPS', 'asyncio uvloop rloop eddy'))
    ap.add_argument('--modules', default=e('MODULES', ' '.join(MODULES)))
    ap.add_argument('--jobs', type=int, default=int(e('JOBS', '2')))
    ap.add_argument('--timeout', type=float, default=float(e('TIMEOUT', '60')))
    ap.add_argument('--results', default=e('RESULTS', 'build/conformance'))
    ap.add_argument('--venvs', default='build', help='where the python-venv-X.Y are')
    ap.add_argument('--print-only', action='store_true',
                    help='print the tables from the results already there')
    args = ap.parse_args()
    loops = ['eddy' if lp == 'eddyloop' else lp for lp in args.loops.split()]
    for lp in loops:
        if lp not in LOOP_MODULES:
            sys.exit(f'unknown loop {lp}: one of {" ".join(LOOP_MODULES)}')
    modules = args.modules.split()
    for m in modules:
        if m not in MODULES:
            sys.exit(f'unknown module {m}')
    os.makedirs(args.results, exist_ok=True)
    versions = args.versions.split()
    if not args.print_only:
        for v in versions:
            for lp in loops:
                run(v, lp, modules, args)
    for v in versions:
        print_table(v, loops, modules, args)


if __name__ == '__main__':
    main()
