/* cross-thread wake-ups, eddy side: two threads, one loop each; every
 * callback on one loop schedules the answer on the other with
 * eddy_loop_call_soon_threadsafe. One round trip = two wake-ups.
 *
 *   wakeup_eddy [ROUND_TRIPS] [CPU_A CPU_B]   (default 1,000,000; CPUs 0 1, -1: unpinned)
 *
 * Prints: round_trips=N seconds=<wall> round_trips_per_sec=<rate>
 *         us_per_round_trip=<wall / N> cpu_us_per_round_trip=<process CPU / N>
 */
#include "bench_util.h"

#include <eddy.h>

static eddy_loop_t *loop_a, *loop_b;
static long round_trips, n;
static int cpu_b;

static void stop_b(void *ud) {
    (void)ud;
    eddy_loop_stop(loop_b);
}

static void pong(void *ud);

/* Runs on loop A. */
static void ping(void *ud) {
    (void)ud;
    if (++round_trips > n) {
        eddy_loop_stop(loop_a);
        eddy_loop_call_soon_threadsafe(loop_b, stop_b, NULL, NULL);
        return;
    }
    eddy_loop_call_soon_threadsafe(loop_b, pong, NULL, NULL);
}

/* Runs on loop B. */
static void pong(void *ud) {
    (void)ud;
    eddy_loop_call_soon_threadsafe(loop_a, ping, NULL, NULL);
}

static void *thread_b(void *arg) {
    (void)arg;
    bench_pin_self(cpu_b);
    eddy_loop_run_forever(loop_b);
    return NULL;
}

int main(int argc, char **argv) {
    n = bench_arg(argc, argv, 1, 1000000);
    int cpu_a = (int)bench_arg(argc, argv, 2, 0);
    cpu_b = (int)bench_arg(argc, argv, 3, 1);
    bench_pin_self(cpu_a);
    if (eddy_new_event_loop(&loop_a) != 0 || eddy_new_event_loop(&loop_b) != 0)
        return 1;
    pthread_t tb;
    pthread_create(&tb, NULL, thread_b, NULL);
    double c0 = bench_cpu(), t0 = bench_now();
    eddy_loop_call_soon(loop_a, ping, NULL, NULL);
    eddy_loop_run_forever(loop_a);
    pthread_join(tb, NULL);
    double c1 = bench_cpu(), t1 = bench_now();
    long done = round_trips - 1;
    printf("round_trips=%ld seconds=%.3f round_trips_per_sec=%.0f us_per_round_trip=%.3f cpu_us_per_round_trip=%.3f\n",
           done, t1 - t0, done / (t1 - t0), (t1 - t0) * 1e6 / done, (c1 - c0) * 1e6 / done);
    eddy_loop_close(loop_a);
    eddy_loop_close(loop_b);
    eddy_loop_release(loop_a);
    eddy_loop_release(loop_b);
    return 0;
}
