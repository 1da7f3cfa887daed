/* An echo server with N event loops on N threads sharing one port: each
 * thread runs its own loop and its own listening socket, all bound to the
 * same address with SO_REUSEPORT (eddy_server_options_t.reuse_port), so
 * the kernel spreads incoming connections over the loops. A connection
 * stays on the loop that accepted it; the loops share nothing.
 *
 *   ./multi_loop [port] [loops]     (default 8888, 2; SIGINT or SIGTERM stops it)
 *
 * The main thread runs loop 0 and owns the signal handlers (a signal
 * belongs to one loop); on SIGINT it stops its own loop and asks every
 * other loop to stop with eddy_loop_call_soon_threadsafe, the one call
 * that may cross threads. At exit each loop prints how many connections it
 * served and how many bytes it echoed.
 */
#include <eddy.h>

#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>

struct worker {
    int id;
    uint16_t port;
    eddy_loop_t *loop;
    eddy_server_t *server;
    pthread_t thread;
    int rc;
    /* Touched only by the worker's own loop thread while it runs. */
    long connections;
    long long bytes;
};

static int nworkers;
static struct worker *workers;
static pthread_barrier_t started;

static void data_received(eddy_transport_t *t, const uint8_t *data, size_t len, void *ud) {
    ((struct worker *)ud)->bytes += (long long)len;
    eddy_transport_write(t, data, len);
}

static const eddy_protocol_t echo_protocol = {
    .data_received = data_received,
};

/* Runs on the loop that accepted the connection. */
static int echo_factory(void *factory_ud, const eddy_protocol_t **proto, void **ud) {
    struct worker *w = factory_ud;
    w->connections++;
    *proto = &echo_protocol;
    *ud = w;
    return 0;
}

/* Creates the worker's loop and its listening socket (on the calling
 * thread, which is the one that will run the loop). */
static int start_worker(struct worker *w) {
    int rc = eddy_new_event_loop(&w->loop);
    if (rc != 0)
        return rc;
    eddy_server_options_t opts;
    eddy_server_options_init(&opts);
    opts.backlog = 1024;
    opts.reuse_port = true;
    eddy_future_t *fut;
    rc = eddy_loop_create_server(w->loop, echo_factory, w, "127.0.0.1", w->port, &opts, &fut);
    if (rc == 0)
        rc = eddy_loop_run_until_complete(w->loop, fut);
    if (rc == 0) {
        void *server;
        eddy_future_result(fut, &server, NULL);
        w->server = server;
        eddy_server_retain(w->server);
    }
    eddy_future_release(fut);
    return rc;
}

static void stop_worker(struct worker *w) {
    if (w->server != NULL) {
        eddy_server_close(w->server);
        eddy_server_abort_clients(w->server);
        eddy_future_t *closed;
        if (eddy_server_wait_closed(w->server, &closed) == 0) {
            eddy_loop_run_until_complete(w->loop, closed);
            eddy_future_release(closed);
        }
        eddy_server_release(w->server);
    }
    if (w->loop != NULL) {
        eddy_loop_close(w->loop);
        eddy_loop_release(w->loop);
    }
}

static void *worker_main(void *arg) {
    struct worker *w = arg;
    w->rc = start_worker(w);
    pthread_barrier_wait(&started);
    if (w->rc == 0)
        eddy_loop_run_forever(w->loop);
    stop_worker(w);
    return NULL;
}

static void stop_loop(void *loop) {
    eddy_loop_stop(loop);
}

static void on_signal(void *ud) {
    (void)ud;
    for (int i = 1; i < nworkers; i++)
        eddy_loop_call_soon_threadsafe(workers[i].loop, stop_loop, workers[i].loop, NULL);
    eddy_loop_stop(workers[0].loop);
}

int main(int argc, char **argv) {
    int port = argc > 1 ? atoi(argv[1]) : 8888;
    nworkers = argc > 2 ? atoi(argv[2]) : 2;
    if (nworkers < 1 || nworkers > 256) {
        fprintf(stderr, "loops: 1..256\n");
        return 2;
    }
    workers = calloc((size_t)nworkers, sizeof *workers);
    pthread_barrier_init(&started, NULL, (unsigned)nworkers);
    for (int i = 0; i < nworkers; i++) {
        workers[i].id = i;
        workers[i].port = (uint16_t)port;
    }
    for (int i = 1; i < nworkers; i++)
        pthread_create(&workers[i].thread, NULL, worker_main, &workers[i]);

    struct worker *w0 = &workers[0];
    w0->rc = start_worker(w0);
    if (w0->rc == 0) {
        eddy_loop_add_signal_handler(w0->loop, SIGINT, on_signal, NULL);
        eddy_loop_add_signal_handler(w0->loop, SIGTERM, on_signal, NULL);
    }
    pthread_barrier_wait(&started);
    int failed = 0;
    for (int i = 0; i < nworkers; i++) {
        if (workers[i].rc != 0) {
            fprintf(stderr, "loop %d: create_server: %s\n", i, eddy_strerror(workers[i].rc));
            failed = 1;
        }
    }
    if (failed) {
        /* Loops that did start are stopped by the same path as SIGINT. */
        for (int i = 1; i < nworkers; i++)
            if (workers[i].rc == 0)
                eddy_loop_call_soon_threadsafe(workers[i].loop, stop_loop, workers[i].loop, NULL);
    } else {
        printf("echo server on 127.0.0.1:%d with %d loops\n", port, nworkers);
        fflush(stdout);
        eddy_loop_run_forever(w0->loop);
    }
    stop_worker(w0);
    for (int i = 1; i < nworkers; i++)
        pthread_join(workers[i].thread, NULL);
    for (int i = 0; i < nworkers; i++)
        printf("loop %d: connections=%ld bytes=%lld\n", i, workers[i].connections, workers[i].bytes);
    pthread_barrier_destroy(&started);
    free(workers);
    return failed;
}
