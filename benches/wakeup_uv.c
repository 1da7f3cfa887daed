/* cross-thread wake-ups, libuv side: the same job as wakeup_eddy.c (the
 * shape of libuv's own async benchmarks): two threads, one loop each, one
 * uv_async_t per loop; each async callback answers with uv_async_send on
 * the other loop's handle. One round trip = two wake-ups.
 *
 *   wakeup_uv [ROUND_TRIPS] [CPU_A CPU_B]   (default 1,000,000; CPUs 0 1, -1: unpinned)
 *
 * Prints the same line as wakeup_eddy.
 */
#include "bench_util.h"

#include <stdatomic.h>
#include <uv.h>

static uv_loop_t loop_a, loop_b;
static uv_async_t async_a, async_b;
static long round_trips, n;
static atomic_int finished;
static int cpu_b;

/* Runs on loop A. */
static void ping(uv_async_t *h) {
    (void)h;
    if (++round_trips > n) {
        atomic_store(&finished, 1);
        uv_close((uv_handle_t *)&async_a, NULL);
        uv_async_send(&async_b);
        return;
    }
    uv_async_send(&async_b);
}

/* Runs on loop B. */
static void pong(uv_async_t *h) {
    (void)h;
    if (atomic_load(&finished)) {
        uv_close((uv_handle_t *)&async_b, NULL);
        return;
    }
    uv_async_send(&async_a);
}

static void *thread_b(void *arg) {
    (void)arg;
    bench_pin_self(cpu_b);
    uv_run(&loop_b, UV_RUN_DEFAULT);
    return NULL;
}

int main(int argc, char **argv) {
    n = bench_arg(argc, argv, 1, 1000000);
    int cpu_a = (int)bench_arg(argc, argv, 2, 0);
    cpu_b = (int)bench_arg(argc, argv, 3, 1);
    bench_pin_self(cpu_a);
    uv_loop_init(&loop_a);
    uv_loop_init(&loop_b);
    uv_async_init(&loop_a, &async_a, ping);
    uv_async_init(&loop_b, &async_b, pong);
    pthread_t tb;
    pthread_create(&tb, NULL, thread_b, NULL);
    double c0 = bench_cpu(), t0 = bench_now();
    uv_async_send(&async_a);
    uv_run(&loop_a, UV_RUN_DEFAULT);
    pthread_join(tb, NULL);
    double c1 = bench_cpu(), t1 = bench_now();
    long done = round_trips - 1;
    printf("round_trips=%ld seconds=%.3f round_trips_per_sec=%.0f us_per_round_trip=%.3f cpu_us_per_round_trip=%.3f\n",
           done, t1 - t0, done / (t1 - t0), (t1 - t0) * 1e6 / done, (c1 - c0) * 1e6 / done);
    uv_loop_close(&loop_a);
    uv_loop_close(&loop_b);
    return 0;
}
