/* A UDP echo server; with --selftest it also runs a client on the same
 * loop that sends 1000 datagrams and counts the echoes.
 *
 *   ./udp_echo [port] [--selftest]     (default port 9999)
 */
#include <eddy.h>

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void echo_received(eddy_datagram_t *d, const uint8_t *data, size_t len, const struct sockaddr *addr,
                          socklen_t addrlen, void *ud) {
    (void)ud;
    eddy_datagram_sendto(d, data, len, addr, addrlen);
}

static void echo_error(eddy_datagram_t *d, int err, void *ud) {
    (void)d;
    (void)ud;
    fprintf(stderr, "udp_echo: %s\n", eddy_strerror(err));
}

static const eddy_datagram_protocol_t echo_protocol = {
    .datagram_received = echo_received,
    .error_received = echo_error,
};

struct client {
    eddy_loop_t *loop;
    int sent, received;
};

/* UDP may drop what does not fit the socket buffers, so the client keeps
 * a window of 64 datagrams in flight rather than bursting all 1000. */
static void send_next(eddy_datagram_t *d, struct client *c) {
    char msg[32];
    int n = snprintf(msg, sizeof msg, "datagram %d", c->sent++);
    eddy_datagram_sendto(d, msg, (size_t)n, NULL, 0);
}

static void client_made(eddy_datagram_t *d, void *ud) {
    struct client *c = ud;
    while (c->sent < 64)
        send_next(d, c);
}

static void client_received(eddy_datagram_t *d, const uint8_t *data, size_t len, const struct sockaddr *addr,
                            socklen_t addrlen, void *ud) {
    (void)data;
    (void)len;
    (void)addr;
    (void)addrlen;
    struct client *c = ud;
    c->received++;
    if (c->sent < 1000)
        send_next(d, c);
    else if (c->received == c->sent)
        eddy_datagram_close(d);
}

static void client_lost(eddy_datagram_t *d, int err, void *ud) {
    (void)d;
    (void)err;
    eddy_loop_stop(((struct client *)ud)->loop);
}

static const eddy_datagram_protocol_t client_protocol = {
    .connection_made = client_made,
    .connection_lost = client_lost,
    .datagram_received = client_received,
};

static void on_signal(void *loop) {
    eddy_loop_stop(loop);
}

static void give_up(void *loop) {
    fprintf(stderr, "udp_echo: timed out waiting for echoes\n");
    eddy_loop_stop(loop);
}

int main(int argc, char **argv) {
    int port = argc > 1 && argv[1][0] != '-' ? atoi(argv[1]) : 9999;
    int selftest = argc > 1 && strcmp(argv[argc - 1], "--selftest") == 0;
    eddy_loop_t *loop;
    if (eddy_new_event_loop(&loop) != 0)
        return 1;
    eddy_loop_add_signal_handler(loop, SIGINT, on_signal, loop);
    eddy_loop_add_signal_handler(loop, SIGTERM, on_signal, loop);

    eddy_datagram_options_t o;
    eddy_datagram_options_init(&o);
    o.local_host = "127.0.0.1";
    o.local_port = (uint16_t)port;
    eddy_future_t *f;
    int rc = eddy_loop_create_datagram_endpoint(loop, &echo_protocol, NULL, &o, &f);
    if (rc == 0)
        rc = eddy_loop_run_until_complete(loop, f);
    if (rc != 0) {
        fprintf(stderr, "create_datagram_endpoint: %s\n", eddy_strerror(rc));
        return 1;
    }
    void *server;
    eddy_future_result(f, &server, NULL);
    eddy_datagram_retain(server);
    eddy_future_release(f);
    printf("udp echo on 127.0.0.1:%d\n", port);
    fflush(stdout);

    struct client c = {.loop = loop};
    if (selftest) {
        eddy_datagram_options_init(&o);
        o.remote_host = "127.0.0.1";
        o.remote_port = (uint16_t)port;
        eddy_future_t *client;
        if (eddy_loop_create_datagram_endpoint(loop, &client_protocol, &c, &o, &client) == 0)
            eddy_future_release(client); /* the protocol's callbacks carry on */
        eddy_loop_call_later(loop, 10.0, give_up, loop, NULL);
    }
    eddy_loop_run_forever(loop);
    if (selftest)
        printf("%d datagrams sent, %d echoed\n", c.sent, c.received);

    eddy_datagram_close(server);
    eddy_datagram_release(server);
    rc = eddy_loop_close(loop);
    eddy_loop_release(loop);
    return rc == 0 && (!selftest || c.received == c.sent) ? 0 : 1;
}
