/* timers, eddy side: schedule N timers with spread-out deadlines and run
 * them all (libuv's million_timers shape: timer i fires after
 * 1 + i / 1000 ms, so deadlines cover 1..N/1000 ms, 1000 per millisecond).
 *
 *   timers_eddy [N]        (default 1,000,000)
 *
 * Prints: timers=N sched_ms=<wall time of the N call_later calls>
 *         run_wall_ms=<run until the last fired> run_cpu_ms=<CPU of the run>
 *         total_cpu_ms=<schedule + run CPU> maxrss_kib=<peak RSS>
 */
#include "bench_util.h"

#include <eddy.h>

static eddy_loop_t *loop;
static long fired, n;

static void on_timer(void *ud) {
    (void)ud;
    if (++fired == n)
        eddy_loop_stop(loop);
}

int main(int argc, char **argv) {
    n = bench_arg(argc, argv, 1, 1000000);
    if (eddy_new_event_loop(&loop) != 0)
        return 1;
    double c0 = bench_cpu(), t0 = bench_now();
    for (long i = 0; i < n; i++) {
        double delay = (double)(1 + i / 1000) * 1e-3;
        if (eddy_loop_call_later(loop, delay, on_timer, NULL, NULL) != 0) {
            fprintf(stderr, "call_later failed\n");
            return 1;
        }
    }
    double c1 = bench_cpu(), t1 = bench_now();
    eddy_loop_run_forever(loop);
    double c2 = bench_cpu(), t2 = bench_now();
    if (fired != n) {
        fprintf(stderr, "fired %ld of %ld\n", fired, n);
        return 1;
    }
    printf("timers=%ld sched_ms=%.1f run_wall_ms=%.1f run_cpu_ms=%.1f total_cpu_ms=%.1f maxrss_kib=%ld\n", n,
           (t1 - t0) * 1e3, (t2 - t1) * 1e3, (c2 - c1) * 1e3, (c2 - c0) * 1e3, bench_maxrss_kib());
    eddy_loop_close(loop);
    eddy_loop_release(loop);
    return 0;
}
