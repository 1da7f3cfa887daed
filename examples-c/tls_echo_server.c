/* A TLS echo server.
 *
 *   ./tls_echo_server PORT CERT_PEM KEY_PEM    (SIGINT or SIGTERM stops it)
 *
 * Try it with: openssl s_client -connect 127.0.0.1:PORT -CAfile ca.pem
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

static void on_signal(void *loop) {
    eddy_loop_stop(loop);
}

int main(int argc, char **argv) {
    if (argc < 4) {
        fprintf(stderr, "usage: %s PORT CERT_PEM KEY_PEM\n", argv[0]);
        return 2;
    }
    eddy_tls_config_t *tls;
    int rc = eddy_tls_config_new_server(argv[2], argv[3], &tls);
    if (rc != 0) {
        fprintf(stderr, "certificate: %s\n", eddy_strerror(rc));
        return 1;
    }
    eddy_loop_t *loop;
    eddy_new_event_loop(&loop);
    eddy_loop_add_signal_handler(loop, SIGINT, on_signal, loop);
    eddy_loop_add_signal_handler(loop, SIGTERM, on_signal, loop);

    eddy_server_options_t opts;
    eddy_server_options_init(&opts);
    opts.tls = tls;
    eddy_future_t *started;
    rc = eddy_loop_create_server(loop, echo_factory, NULL, "127.0.0.1", (uint16_t)atoi(argv[1]), &opts, &started);
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
    printf("TLS echo server on 127.0.0.1:%s\n", argv[1]);
    fflush(stdout);

    eddy_loop_run_forever(loop);

    eddy_server_close(server);
    eddy_server_abort_clients(server);
    eddy_future_t *closed;
    eddy_server_wait_closed(server, &closed);
    eddy_loop_run_until_complete(loop, closed);
    eddy_future_release(closed);
    eddy_server_release(server);
    eddy_tls_config_release(tls);
    rc = eddy_loop_close(loop);
    eddy_loop_release(loop);
    return rc == 0 ? 0 : 1;
}
