/* Bulk throughput, eddy side: a TCP server that either streams BYTES to
 * every client in 64 KiB writes (source) or swallows what clients send
 * (sink). benches/bulk_peer.c is the plain C other end.
 *
 *   bulk_eddy source PORT [BYTES]   (default 1 GiB; closes after the last byte)
 *   bulk_eddy sink PORT             (closes when the client's EOF arrives)
 *
 * The source writes until eddy calls pause_writing (asyncio's flow
 * control: more than 64 KiB buffered) and goes on in resume_writing;
 * eddy_transport_close flushes what is buffered before the socket closes.
 * SIGINT or SIGTERM stops the server.
 */
#include <eddy.h>

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CHUNK (64 * 1024)

static uint8_t chunk[CHUNK];
static long long total_bytes = 1LL << 30;

struct source {
    long long sent;
    bool paused;
};

static void pump(eddy_transport_t *t, struct source *s) {
    while (!s->paused && s->sent < total_bytes) {
        long long left = total_bytes - s->sent;
        size_t n = left < CHUNK ? (size_t)left : CHUNK;
        s->sent += (long long)n;
        if (eddy_transport_write(t, chunk, n) != 0)
            return;
    }
    if (s->sent == total_bytes) {
        s->sent++; /* closed once */
        eddy_transport_close(t);
    }
}

static void source_made(eddy_transport_t *t, void *ud) {
    pump(t, ud);
}

static void source_pause(eddy_transport_t *t, void *ud) {
    (void)t;
    ((struct source *)ud)->paused = true;
}

static void source_resume(eddy_transport_t *t, void *ud) {
    struct source *s = ud;
    s->paused = false;
    pump(t, s);
}

static void source_lost(eddy_transport_t *t, int err, void *ud) {
    (void)t;
    (void)err;
    free(ud);
}

static const eddy_protocol_t source_protocol = {
    .connection_made = source_made,
    .connection_lost = source_lost,
    .pause_writing = source_pause,
    .resume_writing = source_resume,
};

static void sink_received(eddy_transport_t *t, const uint8_t *data, size_t len, void *ud) {
    (void)t;
    (void)data;
    *(long long *)ud += (long long)len;
}

static void sink_lost(eddy_transport_t *t, int err, void *ud) {
    (void)t;
    (void)err;
    free(ud);
}

static const eddy_protocol_t sink_protocol = {
    .connection_lost = sink_lost,
    .data_received = sink_received,
    /* eof_received NULL: returns false, so the transport closes at EOF. */
};

static int factory(void *factory_ud, const eddy_protocol_t **proto, void **ud) {
    bool source = factory_ud != NULL;
    *ud = calloc(1, source ? sizeof(struct source) : sizeof(long long));
    if (*ud == NULL)
        return EDDY_ENOMEM;
    *proto = source ? &source_protocol : &sink_protocol;
    return 0;
}

static void on_signal(void *loop) {
    eddy_loop_stop(loop);
}

int main(int argc, char **argv) {
    if (argc < 3 || (strcmp(argv[1], "source") != 0 && strcmp(argv[1], "sink") != 0)) {
        fprintf(stderr, "usage: %s source|sink PORT [BYTES]\n", argv[0]);
        return 2;
    }
    bool source = strcmp(argv[1], "source") == 0;
    int port = atoi(argv[2]);
    if (argc > 3)
        total_bytes = atoll(argv[3]);
    memset(chunk, 'x', sizeof chunk);
    eddy_loop_t *loop;
    if (eddy_new_event_loop(&loop) != 0)
        return 1;
    eddy_loop_add_signal_handler(loop, SIGINT, on_signal, loop);
    eddy_loop_add_signal_handler(loop, SIGTERM, on_signal, loop);
    eddy_server_options_t opts;
    eddy_server_options_init(&opts);
    opts.backlog = 1024;
    eddy_future_t *started;
    int rc = eddy_loop_create_server(loop, factory, source ? (void *)1 : NULL, "127.0.0.1", (uint16_t)port, &opts,
                                     &started);
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
    printf("bulk %s on 127.0.0.1:%d\n", argv[1], port);
    fflush(stdout);
    eddy_loop_run_forever(loop);
    eddy_server_close(server);
    eddy_server_abort_clients(server);
    eddy_future_t *closed;
    eddy_server_wait_closed(server, &closed);
    eddy_loop_run_until_complete(loop, closed);
    eddy_future_release(closed);
    eddy_server_release(server);
    eddy_loop_close(loop);
    eddy_loop_release(loop);
    return 0;
}
