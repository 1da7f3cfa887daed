/* chained callbacks, eddy side: N call_soon callbacks, each scheduling the
 * next, so every loop iteration (poll with a zero timeout, then the ready
 * queue) runs exactly one callback.
 *
 *   callbacks_eddy [N]     (default 10,000,000)
 *
 * Prints: callbacks=N seconds=<wall> callbacks_per_sec=<rate> ns_per_callback=<wall / N>
 */
#include "bench_util.h"

#include <eddy.h>

static eddy_loop_t *loop;
static long count, n;

static void next(void *ud) {
    if (++count == n) {
        eddy_loop_stop(loop);
        return;
    }
    eddy_loop_call_soon(loop, next, ud, NULL);
}

int main(int argc, char **argv) {
    n = bench_arg(argc, argv, 1, 10000000);
    if (eddy_new_event_loop(&loop) != 0)
        return 1;
    double t0 = bench_now();
    eddy_loop_call_soon(loop, next, NULL, NULL);
    eddy_loop_run_forever(loop);
    double t1 = bench_now();
    printf("callbacks=%ld seconds=%.3f callbacks_per_sec=%.0f ns_per_callback=%.1f\n", count, t1 - t0,
           count / (t1 - t0), (t1 - t0) * 1e9 / count);
    eddy_loop_close(loop);
    eddy_loop_release(loop);
    return 0;
}
