/* An echo server that prints its event loop's utilisation every second:
 * the share of the time the loop was not blocked in its poll, over the
 * last second (1 - idle / elapsed, as Node.js's eventLoopUtilization).
 *
 *   ./metrics [port] [reports]   (default 8888 and 0: report until SIGINT
 *                                 or SIGTERM; otherwise stop after that
 *                                 many reports)
 */
#include <eddy.h>

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>

static void data_received(eddy_transport_t *t, const uint8_t *data, size_t len, void *ud) {
    (void)ud;
    eddy_transport_write(t, data, len);
}

static const eddy_protocol_t echo_protocol = {
    .data_received = data_received,
};

static int echo_factory(void *factory_ud, const eddy_protocol_t **proto, void **ud) {
    (void)factory_ud;
    *proto = &echo_protocol;
    *ud = NULL;
    return 0;
}

struct reporter {
    eddy_loop_t *loop;
    eddy_loop_metrics_t last;
    double last_time;
    long left; /* reports still to print; 0: no limit */
};

static eddy_loop_metrics_t read_metrics(eddy_loop_t *loop) {
    eddy_loop_metrics_t m = {.size = sizeof m};
    eddy_loop_get_metrics(loop, &m);
    return m;
}

/* A timer callback: runs on the loop's thread, where the counters are
 * readable while the loop runs. */
static void report(void *ud) {
    struct reporter *r = ud;
    eddy_loop_metrics_t m = read_metrics(r->loop);
    double now = eddy_loop_time(r->loop);
    double elapsed = now - r->last_time;
    double idle = m.idle_time - r->last.idle_time;
    double utilisation = elapsed > 0 ? 1.0 - idle / elapsed : 0.0;
    printf("utilisation=%.1f%% iterations=%llu callbacks=%llu events=%llu connections=%llu\n",
           100.0 * utilisation, (unsigned long long)(m.iterations - r->last.iterations),
           (unsigned long long)(m.callbacks - r->last.callbacks),
           (unsigned long long)(m.events - r->last.events),
           /* the listening socket is one of the loop's fds */
           (unsigned long long)(m.io_handles > 0 ? m.io_handles - 1 : 0));
    fflush(stdout);
    r->last = m;
    r->last_time = now;
    if (r->left > 0 && --r->left == 0) {
        eddy_loop_stop(r->loop);
        return;
    }
    eddy_loop_call_later(r->loop, 1.0, report, r, NULL);
}

static void on_signal(void *loop) {
    eddy_loop_stop(loop);
}

int main(int argc, char **argv) {
    int port = argc > 1 ? atoi(argv[1]) : 8888;
    eddy_loop_t *loop;
    int rc = eddy_new_event_loop(&loop);
    if (rc != 0) {
        fprintf(stderr, "eddy_new_event_loop: %s\n", eddy_strerror(rc));
        return 1;
    }
    eddy_loop_add_signal_handler(loop, SIGINT, on_signal, loop);
    eddy_loop_add_signal_handler(loop, SIGTERM, on_signal, loop);

    eddy_server_options_t opts;
    eddy_server_options_init(&opts);
    opts.backlog = 1024;
    eddy_future_t *started;
    rc = eddy_loop_create_server(loop, echo_factory, NULL, "127.0.0.1", (uint16_t)port, &opts, &started);
    if (rc == 0)
        rc = eddy_loop_run_until_complete(loop, started);
    if (rc != 0) {
        fprintf(stderr, "create_server: %s\n", eddy_strerror(rc));
        return 1;
    }
    void *server;
    eddy_future_result(started, &server, NULL);
    eddy_server_retain(server);
    eddy_future_release(started);
    printf("echo server on 127.0.0.1:%d\n", port);
    fflush(stdout);

    struct reporter r = {loop, read_metrics(loop), eddy_loop_time(loop), argc > 2 ? atol(argv[2]) : 0};
    eddy_loop_call_later(loop, 1.0, report, &r, NULL);
    eddy_loop_run_forever(loop);

    eddy_server_close(server);
    eddy_server_abort_clients(server);
    eddy_future_t *closed;
    eddy_server_wait_closed(server, &closed);
    eddy_loop_run_until_complete(loop, closed);
    eddy_future_release(closed);
    eddy_server_release(server);
    rc = eddy_loop_close(loop);
    eddy_loop_release(loop);
    return rc == 0 ? 0 : 1;
}
