/* An HTTPS-capable client: connects with TLS, sends an HTTP/1.0 GET and
 * prints the answer.
 *
 *   ./tls_client HOST PORT [CA_PEM [PATH]]
 *
 * CA_PEM adds a trusted root (for a test server's self-signed certificate);
 * without it the system's store is used.
 */
#include <eddy.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct fetch {
    eddy_future_t *done;
    const char *host, *path;
    size_t received;
};

static void connection_made(eddy_transport_t *t, void *ud) {
    struct fetch *f = ud;
    char req[512];
    int n = snprintf(req, sizeof req, "GET %s HTTP/1.0\r\nHost: %s\r\n\r\n", f->path, f->host);
    eddy_transport_write(t, req, (size_t)n);
}

static void data_received(eddy_transport_t *t, const uint8_t *data, size_t len, void *ud) {
    (void)t;
    struct fetch *f = ud;
    f->received += len;
    fwrite(data, 1, len, stdout);
}

static void connection_lost(eddy_transport_t *t, int err, void *ud) {
    (void)t;
    struct fetch *f = ud;
    eddy_future_set_result(f->done, NULL, err);
}

static const eddy_protocol_t protocol = {
    .connection_made = connection_made,
    .data_received = data_received,
    .connection_lost = connection_lost,
};

int main(int argc, char **argv) {
    if (argc < 3) {
        fprintf(stderr, "usage: %s HOST PORT [CA_PEM [PATH]]\n", argv[0]);
        return 2;
    }
    struct fetch f = {.host = argv[1], .path = argc > 4 ? argv[4] : "/"};
    eddy_loop_t *loop;
    eddy_new_event_loop(&loop);
    eddy_loop_create_future(loop, &f.done);

    eddy_tls_config_t *tls;
    eddy_tls_config_new_client(&tls);
    if (argc > 3 && eddy_tls_config_load_verify_locations(tls, argv[3]) != 0) {
        fprintf(stderr, "cannot load %s\n", argv[3]);
        return 1;
    }
    const char *alpn[] = {"http/1.1"};
    eddy_tls_config_set_alpn_protocols(tls, alpn, 1);

    eddy_connection_options_t o;
    eddy_connection_options_init(&o);
    o.tls = tls;
    eddy_future_t *conn;
    int rc = eddy_loop_create_connection(loop, &protocol, &f, argv[1], (uint16_t)atoi(argv[2]), &o, &conn);
    if (rc == 0)
        rc = eddy_loop_run_until_complete(loop, conn);
    if (rc != 0) {
        const char *msg = eddy_future_error_message(conn);
        fprintf(stderr, "connect: %s (%s)\n", eddy_strerror(rc), msg ? msg : "");
        return 1;
    }
    void *t;
    eddy_future_result(conn, &t, NULL);
    char version[32] = "";
    size_t len = sizeof version;
    eddy_transport_get_extra_info(t, "tls_version", version, &len);
    fprintf(stderr, "connected with %s\n", version);
    eddy_future_release(conn);
    eddy_loop_run_until_complete(f.done ? loop : loop, f.done);
    fprintf(stderr, "%zu bytes received\n", f.received);
    eddy_future_release(f.done);
    eddy_tls_config_release(tls);
    eddy_loop_close(loop);
    eddy_loop_release(loop);
    return f.received > 0 ? 0 : 1;
}
