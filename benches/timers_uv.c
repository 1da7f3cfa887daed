/* timers, libuv side: the same job as timers_eddy.c (libuv's own
 * million_timers benchmark: timer i fires after 1 + i / 1000 ms). The
 * uv_timer_t handles live in one array the program allocates, as in
 * million_timers; closing them afterwards is not timed (eddy has nothing
 * to close).
 *
 *   timers_uv [N]          (default 1,000,000)
 *
 * Prints the same line as timers_eddy.
 */
#include "bench_util.h"

#include <uv.h>

static long fired, n;

static void on_timer(uv_timer_t *t) {
    (void)t;
    fired++;
}

int main(int argc, char **argv) {
    n = bench_arg(argc, argv, 1, 1000000);
    uv_loop_t *loop = uv_default_loop();
    uv_timer_t *timers = malloc((size_t)n * sizeof *timers);
    if (timers == NULL)
        return 1;
    double c0 = bench_cpu(), t0 = bench_now();
    for (long i = 0; i < n; i++) {
        uv_timer_init(loop, &timers[i]);
        if (uv_timer_start(&timers[i], on_timer, (uint64_t)(1 + i / 1000), 0) != 0) {
            fprintf(stderr, "uv_timer_start failed\n");
            return 1;
        }
    }
    double c1 = bench_cpu(), t1 = bench_now();
    uv_run(loop, UV_RUN_DEFAULT);
    double c2 = bench_cpu(), t2 = bench_now();
    if (fired != n) {
        fprintf(stderr, "fired %ld of %ld\n", fired, n);
        return 1;
    }
    printf("timers=%ld sched_ms=%.1f run_wall_ms=%.1f run_cpu_ms=%.1f total_cpu_ms=%.1f maxrss_kib=%ld\n", n,
           (t1 - t0) * 1e3, (t2 - t1) * 1e3, (c2 - c1) * 1e3, (c2 - c0) * 1e3, bench_maxrss_kib());
    for (long i = 0; i < n; i++)
        uv_close((uv_handle_t *)&timers[i], NULL);
    uv_run(loop, UV_RUN_DEFAULT);
    uv_loop_close(loop);
    free(timers);
    return 0;
}
