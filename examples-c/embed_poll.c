/* eddy inside someone else's event loop: a plain poll() loop (standing in
 * for a GUI toolkit's or a game's main loop) drives an eddy echo server
 * with eddy_loop_backend_fd, eddy_loop_backend_timeout and
 * eddy_loop_run_once.
 *
 *   ./embed_poll [port]        (default 8888; SIGINT or SIGTERM stops it)
 */
#include <eddy.h>

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
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

/* eddy's signal handlers run as loop callbacks: the signal wakes the
 * backend fd, and the next run_once calls this. */
static bool quit;
static void on_signal(void *ud) {
    (void)ud;
    quit = true;
}

/* One turn of the host loop: wait on eddy's backend fd (next to whatever
 * fds the host has of its own) no longer than eddy allows, then let eddy
 * run what is due. Returns false on a fatal error. */
static bool host_turn(eddy_loop_t *loop) {
    double timeout = eddy_loop_backend_timeout(loop);
    /* Rounded up: waking a little early would only spin until the timer
     * is due. -1 (nothing scheduled) waits for the fd alone. */
    int ms = timeout < 0 ? -1 : (int)(timeout * 1000 + 0.999);
    struct pollfd fds[1] = {{eddy_loop_backend_fd(loop), POLLIN, 0}};
    if (poll(fds, 1, ms) < 0 && errno != EINTR) {
        perror("poll");
        return false;
    }
    /* Always run an iteration: the fd may be readable, a timer due, or
     * callbacks ready. run_once(0) never blocks the host. */
    int rc = eddy_loop_run_once(loop, 0);
    if (rc < 0) {
        fprintf(stderr, "run_once: %s\n", eddy_strerror(rc));
        return false;
    }
    return true;
}

int main(int argc, char **argv) {
    int port = argc > 1 ? atoi(argv[1]) : 8888;
    eddy_loop_t *loop;
    int rc = eddy_new_event_loop(&loop);
    if (rc != 0) {
        fprintf(stderr, "eddy_new_event_loop: %s\n", eddy_strerror(rc));
        return 1;
    }
    eddy_loop_add_signal_handler(loop, SIGINT, on_signal, NULL);
    eddy_loop_add_signal_handler(loop, SIGTERM, on_signal, NULL);

    eddy_server_options_t opts;
    eddy_server_options_init(&opts);
    opts.backlog = 1024;
    eddy_future_t *started;
    rc = eddy_loop_create_server(loop, echo_factory, NULL, "127.0.0.1", (uint16_t)port, &opts, &started);
    if (rc != 0) {
        fprintf(stderr, "create_server: %s\n", eddy_strerror(rc));
        return 1;
    }
    while (!eddy_future_done(started))
        if (!host_turn(loop))
            return 1;
    void *server;
    rc = eddy_future_result(started, &server, NULL);
    if (rc != 0) {
        fprintf(stderr, "create_server: %s\n", eddy_strerror(rc));
        return 1;
    }
    eddy_server_retain(server);
    eddy_future_release(started);
    printf("echo server on 127.0.0.1:%d, driven by poll()\n", port);
    fflush(stdout);

    bool ok = true;
    while (ok && !quit)
        ok = host_turn(loop);

    /* Shutting down is more of the same: close, then turn the host loop
     * until the server says it is closed. */
    eddy_server_close(server);
    eddy_server_abort_clients(server);
    eddy_future_t *closed;
    eddy_server_wait_closed(server, &closed);
    while (ok && !eddy_future_done(closed))
        ok = host_turn(loop);
    eddy_future_release(closed);
    eddy_server_release(server);

    eddy_loop_metrics_t m = {.size = sizeof m};
    if (eddy_loop_get_metrics(loop, &m) == 0)
        printf("iterations=%llu callbacks=%llu events=%llu\n", (unsigned long long)m.iterations,
               (unsigned long long)m.callbacks, (unsigned long long)m.events);
    rc = eddy_loop_close(loop);
    eddy_loop_release(loop);
    return ok && rc == 0 ? 0 : 1;
}
