/* A TCP echo client: sends N messages one at a time and checks each echo.
 *
 *   ./echo_client [port] [messages] [size]   (defaults 8888 1000 1024)
 */
#include <eddy.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct client {
    eddy_loop_t *loop;
    eddy_future_t *done;
    unsigned char *msg;
    size_t size, got;
    long left;
    int bad;
};

static void send_one(eddy_transport_t *t, struct client *c) {
    c->got = 0;
    eddy_transport_write(t, c->msg, c->size);
}

static void connection_made(eddy_transport_t *t, void *ud) {
    send_one(t, ud);
}

static void data_received(eddy_transport_t *t, const uint8_t *data, size_t len, void *ud) {
    struct client *c = ud;
    if (c->got + len > c->size || memcmp(data, c->msg + c->got, len) != 0)
        c->bad = 1;
    c->got += len;
    if (c->got < c->size)
        return;
    if (--c->left > 0 && !c->bad) {
        send_one(t, c);
        return;
    }
    eddy_transport_close(t);
}

static void connection_lost(eddy_transport_t *t, int err, void *ud) {
    (void)t;
    struct client *c = ud;
    eddy_future_set_result(c->done, NULL, err);
}

static const eddy_protocol_t client_protocol = {
    .connection_made = connection_made,
    .connection_lost = connection_lost,
    .data_received = data_received,
};

int main(int argc, char **argv) {
    int port = argc > 1 ? atoi(argv[1]) : 8888;
    struct client c = {0};
    c.left = argc > 2 ? atol(argv[2]) : 1000;
    c.size = argc > 3 ? (size_t)atol(argv[3]) : 1024;
    c.msg = malloc(c.size);
    for (size_t i = 0; i < c.size; i++)
        c.msg[i] = (unsigned char)(i * 7 + 3);
    long total = c.left;

    eddy_new_event_loop(&c.loop);
    eddy_loop_create_future(c.loop, &c.done);
    eddy_future_t *conn;
    int rc = eddy_loop_create_connection(c.loop, &client_protocol, &c, "127.0.0.1", (uint16_t)port, NULL, &conn);
    if (rc == 0)
        rc = eddy_loop_run_until_complete(c.loop, conn);
    if (rc != 0) {
        fprintf(stderr, "create_connection: %s (%s)\n", eddy_strerror(rc),
                eddy_future_error_message(conn) ? eddy_future_error_message(conn) : "");
        return 1;
    }
    eddy_future_release(conn);
    eddy_loop_run_until_complete(c.loop, c.done);
    printf("%ld messages of %zu bytes echoed%s\n", total - c.left, c.size, c.bad ? ", MISMATCH" : "");
    eddy_future_release(c.done);
    eddy_loop_close(c.loop);
    eddy_loop_release(c.loop);
    free(c.msg);
    return c.bad || c.left > 0 ? 1 : 0;
}
