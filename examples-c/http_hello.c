/* A minimal HTTP/1.1 keep-alive server answering every request with
 * "Hello, World!". Enough for curl and wrk; not a real HTTP parser (it
 * counts request heads by their blank line and ignores bodies).
 *
 *   ./http_hello [port]     (default 8080; SIGINT or SIGTERM stops it)
 */
#include <eddy.h>

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char RESPONSE[] =
    "HTTP/1.1 200 OK\r\n"
    "Content-Type: text/plain\r\n"
    "Content-Length: 13\r\n"
    "\r\n"
    "Hello, World!";

/* Per connection: how much of "\r\n\r\n" the previous read ended with. */
struct conn {
    int matched;
};

static void connection_made(eddy_transport_t *t, void *ud) {
    (void)t;
    ((struct conn *)ud)->matched = 0;
}

static void data_received(eddy_transport_t *t, const uint8_t *data, size_t len, void *ud) {
    static const char END[] = "\r\n\r\n";
    struct conn *c = ud;
    int requests = 0;
    for (size_t i = 0; i < len; i++) {
        if (data[i] == (uint8_t)END[c->matched]) {
            if (++c->matched == 4) {
                requests++;
                c->matched = 0;
            }
        } else {
            c->matched = data[i] == '\r' ? 1 : 0;
        }
    }
    if (requests == 1) {
        eddy_transport_write(t, RESPONSE, sizeof RESPONSE - 1);
    } else if (requests > 1) {
        /* Pipelined requests: one writev for all the answers. */
        eddy_buf_t bufs[64];
        while (requests > 0) {
            int n = requests < 64 ? requests : 64;
            for (int i = 0; i < n; i++)
                bufs[i] = (eddy_buf_t){RESPONSE, sizeof RESPONSE - 1};
            eddy_transport_writelines(t, bufs, (size_t)n);
            requests -= n;
        }
    }
}

static void connection_lost(eddy_transport_t *t, int err, void *ud) {
    (void)t;
    (void)err;
    free(ud);
}

static const eddy_protocol_t http_protocol = {
    .connection_made = connection_made,
    .connection_lost = connection_lost,
    .data_received = data_received,
};

static int http_factory(void *factory_ud, const eddy_protocol_t **proto, void **ud) {
    (void)factory_ud;
    struct conn *c = calloc(1, sizeof *c);
    if (c == NULL)
        return EDDY_ENOMEM;
    *proto = &http_protocol;
    *ud = c;
    return 0;
}

static void on_signal(void *loop) {
    eddy_loop_stop(loop);
}

int main(int argc, char **argv) {
    int port = argc > 1 ? atoi(argv[1]) : 8080;
    eddy_loop_t *loop;
    if (eddy_new_event_loop(&loop) != 0)
        return 1;
    eddy_loop_add_signal_handler(loop, SIGINT, on_signal, loop);
    eddy_loop_add_signal_handler(loop, SIGTERM, on_signal, loop);

    eddy_server_options_t opts;
    eddy_server_options_init(&opts);
    opts.backlog = 1024;
    eddy_future_t *started;
    int rc = eddy_loop_create_server(loop, http_factory, NULL, "127.0.0.1", (uint16_t)port, &opts, &started);
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
    printf("http://127.0.0.1:%d/\n", port);
    fflush(stdout);

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
