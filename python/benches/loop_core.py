"""Loop-core throughput of eddyloop against asyncio's loop (and uvloop when
installed): chained call_soon callbacks per second, and CPU per timer for
200,000 timers. Alternates the loops each round and prints medians.

    python3 python/benches/loop_core.py [--rounds 5]

A seed for issue 12's `make bench-python`: not pinned to a CPU yet.
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


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--rounds', type=int, default=5)
    args = ap.parse_args()
    factories = {'asyncio': asyncio.SelectorEventLoop, 'eddyloop': eddyloop.new_event_loop}
    try:
        import uvloop
        factories['uvloop'] = uvloop.new_event_loop
    except ImportError:
        pass
    results = {(name, b): [] for name in factories for b in ('callbacks', 'timers')}
    for _ in range(args.rounds):
        for name, factory in factories.items():
            for bench, fn in (('callbacks', chained_call_soon), ('timers', timers)):
                loop = factory()
                try:
                    results[name, bench].append(fn(loop))
                finally:
                    loop.close()
    base = {b: statistics.median(results['asyncio', b]) for b in ('callbacks', 'timers')}
    print(f'{"loop":<10}{"chained call_soon/s":>22}{"ratio":>7}{"timers/CPU-s":>16}{"ratio":>7}')
    for name in factories:
        cb = statistics.median(results[name, 'callbacks'])
        tm = statistics.median(results[name, 'timers'])
        print(f'{name:<10}{cb:>22,.0f}{cb / base["callbacks"]:>7.2f}'
              f'{tm:>16,.0f}{tm / base["timers"]:>7.2f}')


if __name__ == '__main__':
    main()
