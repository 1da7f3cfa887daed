/* TLS bulk throughput, eddy to eddy: a sink server and a source client in
 * two processes.
 *
 *   tls_bulk server PORT CERT KEY        counts bytes, exits after one connection
 *   tls_bulk client PORT CA_PEM BYTES    sends BYTES in 64 KiB writes, honouring pause_writing
 */
#include <eddy.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

/* ---- server: a sink ---- */
static unsigned long long received;
static double t0;
static eddy_loop_t *loop;

static void sink_made(eddy_transport_t *t, void *ud) {
    (void)t;
    (void)ud;
    t0 = now();
}
static void sink_data(eddy_transport_t *t, const uint8_t *d, size_t n, void *ud) {
    (void)t;
    (void)d;
    (void)ud;
    received += n;
}
static void sink_lost(eddy_transport_t *t, int err, void *ud) {
    (void)t;
    (void)ud;
    double el = now() - t0;
    printf("received=%llu seconds=%.3f MiB_per_sec=%.1f err=%s\n", received, el, received / el / 1048576.0,
           eddy_err_name(err));
    eddy_loop_stop(loop);
}
static const eddy_protocol_t sink = {.connection_made = sink_made, .data_received = sink_data, .connection_lost = sink_lost};
static int sink_factory(void *fud, const eddy_protocol_t **p, void **ud) {
    (void)fud;
    *p = &sink;
    *ud = NULL;
    return 0;
}

/* ---- client: a source ---- */
static unsigned long long to_send;
static int paused, finished;
static char block[65536];

static void pump(eddy_transport_t *t) {
    while (!paused && to_send > 0) {
        size_t n = to_send < sizeof block ? (size_t)to_send : sizeof block;
        if (eddy_transport_write(t, block, n) != 0)
            return;
        to_send -= n;
    }
    if (to_send == 0)
        eddy_transport_close(t);
}
static void src_made(eddy_transport_t *t, void *ud) {
    (void)ud;
    pump(t);
}
static void src_pause(eddy_transport_t *t, void *ud) {
    (void)t;
    (void)ud;
    paused = 1;
}
static void src_resume(eddy_transport_t *t, void *ud) {
    (void)ud;
    paused = 0;
    pump(t);
}
static void src_lost(eddy_transport_t *t, int err, void *ud) {
    (void)t;
    (void)ud;
    if (err)
        fprintf(stderr, "client: %s\n", eddy_strerror(err));
    finished = 1;
    eddy_loop_stop(loop);
}
static const eddy_protocol_t source = {
    .connection_made = src_made, .pause_writing = src_pause, .resume_writing = src_resume, .connection_lost = src_lost};

int main(int argc, char **argv) {
    if (argc < 5)
        return 2;
    eddy_new_event_loop(&loop);
    eddy_tls_config_t *tls;
    eddy_future_t *f;
    int rc;
    if (strcmp(argv[1], "server") == 0) {
        if ((rc = eddy_tls_config_new_server(argv[3], argv[4], &tls)) != 0)
            return 1;
        eddy_server_options_t o;
        eddy_server_options_init(&o);
        o.tls = tls;
        rc = eddy_loop_create_server(loop, sink_factory, NULL, "127.0.0.1", (uint16_t)atoi(argv[2]), &o, &f);
        if (rc == 0)
            rc = eddy_loop_run_until_complete(loop, f);
        if (rc != 0)
            return 1;
        void *server;
        eddy_future_result(f, &server, NULL);
        eddy_server_retain(server);
        eddy_future_release(f);
        printf("ready\n");
        fflush(stdout);
        eddy_loop_run_forever(loop);
        eddy_server_close(server);
        eddy_server_release(server);
    } else {
        eddy_tls_config_new_client(&tls);
        eddy_tls_config_load_verify_locations(tls, argv[3]);
        to_send = strtoull(argv[4], NULL, 10);
        eddy_connection_options_t o;
        eddy_connection_options_init(&o);
        o.tls = tls;
        rc = eddy_loop_create_connection(loop, &source, NULL, "localhost", (uint16_t)atoi(argv[2]), &o, &f);
        if (rc == 0)
            rc = eddy_loop_run_until_complete(loop, f);
        if (rc != 0) {
            fprintf(stderr, "connect: %s\n", eddy_strerror(rc));
            return 1;
        }
        eddy_future_release(f);
        /* The transfer may be over already (connection_made ran before the
           future completed). */
        if (!finished)
            eddy_loop_run_forever(loop);
    }
    eddy_tls_config_release(tls);
    eddy_loop_close(loop);
    eddy_loop_release(loop);
    return 0;
}
