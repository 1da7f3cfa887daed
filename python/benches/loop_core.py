"""Loop-core throughput of eddyloop against asyncio's loop, uvloop and rloop:
chained call_soon callbacks per second, and timers per CPU-second for
200,000 timers. Alternates the loops each round (so load on a shared
machine hits all of them alike) and prints medians, with ratios to asyncio
and eddyloop's ratio to the best of uvloop and rloop.

    taskset -c 1 python3 python/benches/loop_core.py [--rounds 5] \
        [--loop eddyloop --loop rloop ...]

uvloop and rloop are skipped (with a note) when they are not installed.
`chained_call_soon(loop)` and `timers(loop)` are also run by
`make bench-python`.
"""
import argparse
import asyncio
import statistics
import time

import eddyloop

N_CALLBACKS = 500_000
N_TIMERS = 200_000


def chained_call_soon(loop):
    """Each callback schedules the next: one loop iteration per callback."""
    left = [N_CALLBACKS]

    def step():
        left[0] -= 1
        if left[0]:
            loop.call_soon(step)
        else:
            loop.stop()

    loop.call_soon(step)
    t0 = time.perf_counter()
    loop.run_forever()
    return N_CALLBACKS / (time.perf_counter() - t0)


def timers(loop):
    """CPU seconds per timer: schedule N timers over 0.5 s, run them all."""
    fired = [0]

    def on_timer():
        fired[0] += 1
        if fired[0] == N_TIMERS:
            loop.stop()

    now = loop.time()
    c0 = time.process_time()
    for i in range(N_TIMERS):
        loop.call_at(now + 0.5 * i / N_TIMERS, on_timer)
    loop.run_forever()
    return N_TIMERS / (time.process_time() - c0)


def _factories():
    """Every loop this Python can run, by name: asyncio's own first."""
    factories = {'asyncio': asyncio.SelectorEventLoop,
                 'eddyloop': eddyloop.new_event_loop}
    for name in ('uvloop', 'rloop'):
        try:
            module = __import__(name)
        except ImportError:
            continue
        factories[name] = module.new_event_loop
    return factories


def main():
    available = _factories()
    ap = argparse.ArgumentParser()
    ap.add_argument('--rounds', type=int, default=5)
    ap.add_argument('--loop', action='append', choices=list(available),
                    help='a loop to run (repeatable; default: all installed)')
    ap.add_argument('--bench', action='append', choices=('callbacks', 'timers'),
                    help='a benchmark to run (repeatable; default: both)')
    args = ap.parse_args()
    names = args.loop or list(available)
    benches = [(b, fn) for b, fn in (('callbacks', chained_call_soon), ('timers', timers))
               if not args.bench or b in args.bench]
    for name in ('uvloop', 'rloop'):
        if name not in available:
            print(f'({name} is not installed: skipped)')
    results = {(name, b): [] for name in names for b, _ in benches}
    for _ in range(args.rounds):
        for name in names:
            for bench, fn in benches:
                loop = available[name]()
                try:
                    results[name, bench].append(fn(loop))
                finally:
                    loop.close()
    med = {key: statistics.median(v) for key, v in results.items()}
    header = f'{"loop":<10}'
    for bench, _ in benches:
        header += f'{bench + "/s" if bench == "callbacks" else "timers/CPU-s":>16}{"vs asyncio":>11}'
    print(header)
    for name in names:
        row = f'{name:<10}'
        for bench, _ in benches:
            v = med[name, bench]
            base = med.get(('asyncio', bench))
            row += f'{v:>16,.0f}' + (f'{v / base:>11.2f}' if base else f'{"-":>11}')
        print(row)
    rivals = [n for n in ('uvloop', 'rloop') if n in names]
    if 'eddyloop' in names and rivals:
        for bench, _ in benches:
            best = max(rivals, key=lambda n: med[n, bench])
            print(f'eddyloop / best of {"+".join(rivals)} ({best}) on {bench}: '
                  f'{med["eddyloop", bench] / med[best, bench]:.2f}')


if __name__ == '__main__':
    main()
