/* chained callbacks, libuv side: the same job as callbacks_eddy.c. libuv
 * has no call_soon; the closest thing that runs one callback per loop
 * iteration without I/O is an idle handle: each callback stops it (it ran)
 * and starts it again (schedules the next), so each iteration runs one
 * callback. Like eddy, libuv polls with a zero timeout on every such
 * iteration (its loop always holds the threadpool's eventfd).
 *
 *   callbacks_uv [N]       (default 10,000,000)
 *
 * Prints the same line as callbacks_eddy.
 */
#include "bench_util.h"

#include <uv.h>

static long count, n;

static void next(uv_idle_t *h) {
    uv_idle_stop(h);
    if (++count == n)
        return;
    uv_idle_start(h, next);
}

int main(int argc, char **argv) {
    n = bench_arg(argc, argv, 1, 10000000);
    uv_loop_t *loop = uv_default_loop();
    uv_idle_t idle;
    uv_idle_init(loop, &idle);
    double t0 = bench_now();
    uv_idle_start(&idle, next);
    uv_run(loop, UV_RUN_DEFAULT);
    double t1 = bench_now();
    printf("callbacks=%ld seconds=%.3f callbacks_per_sec=%.0f ns_per_callback=%.1f\n", count, t1 - t0,
           count / (t1 - t0), (t1 - t0) * 1e9 / count);
    uv_close((uv_handle_t *)&idle, NULL);
    uv_run(loop, UV_RUN_DEFAULT);
    uv_loop_close(loop);
    return 0;
}
