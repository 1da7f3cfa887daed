/* The HTTP hello server on libuv: the same job as examples-c/http_hello.c
 * (same response, same request counting: a request is a head ending in a
 * blank line; bodies are ignored). Answers go out with uv_try_write, one
 * writev for pipelined requests; what the kernel does not take is copied
 * and queued with uv_write.
 *
 *   http_uv [port]        (default 8080; SIGINT or SIGTERM stops it)
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

static const char RESPONSE[] =
    "HTTP/1.1 200 OK\r\n"
    "Content-Type: text/plain\r\n"
    "Content-Length: 13\r\n"
    "\r\n"
    "Hello, World!";

#define READ_BUF (256 * 1024)
static char read_buf[READ_BUF];

struct conn {
    uv_tcp_t tcp;
    int matched;
};

struct write_req {
    uv_write_t req;
    uv_buf_t buf;
};

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf) {
    (void)h;
    (void)suggested;
    *buf = uv_buf_init(read_buf, READ_BUF);
}

static void on_close(uv_handle_t *h) {
    free(h);
}

static void on_written(uv_write_t *req, int status) {
    struct write_req *w = (struct write_req *)req;
    (void)status;
    free(w->buf.base);
    free(w);
}

/* Sends what the kernel takes now, queues a copy of the rest. */
static void send_bufs(uv_stream_t *s, uv_buf_t *bufs, unsigned n) {
    size_t total = 0;
    for (unsigned i = 0; i < n; i++)
        total += bufs[i].len;
    int w = uv_try_write(s, bufs, n);
    if (w >= 0 && (size_t)w == total)
        return;
    if (w < 0 && w != UV_EAGAIN) {
        uv_close((uv_handle_t *)s, on_close);
        return;
    }
    size_t skip = w > 0 ? (size_t)w : 0;
    struct write_req *r = malloc(sizeof *r);
    char *copy = malloc(total - skip), *p = copy;
    for (unsigned i = 0; i < n; i++) {
        if (skip >= bufs[i].len) {
            skip -= bufs[i].len;
            continue;
        }
        memcpy(p, bufs[i].base + skip, bufs[i].len - skip);
        p += bufs[i].len - skip;
        skip = 0;
    }
    r->buf = uv_buf_init(copy, (unsigned)(p - copy));
    uv_write(&r->req, s, &r->buf, 1, on_written);
}

static void on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf) {
    static const char END[] = "\r\n\r\n";
    struct conn *c = (struct conn *)s;
    if (nread < 0) {
        if (!uv_is_closing((uv_handle_t *)s))
            uv_close((uv_handle_t *)s, on_close);
        return;
    }
    int requests = 0;
    const unsigned char *data = (const unsigned char *)buf->base;
    for (ssize_t i = 0; i < nread; i++) {
        if (data[i] == (unsigned char)END[c->matched]) {
            if (++c->matched == 4) {
                requests++;
                c->matched = 0;
            }
        } else {
            c->matched = data[i] == '\r' ? 1 : 0;
        }
    }
    while (requests > 0) {
        uv_buf_t bufs[64];
        int n = requests < 64 ? requests : 64;
        for (int i = 0; i < n; i++)
            bufs[i] = uv_buf_init((char *)RESPONSE, sizeof RESPONSE - 1);
        send_bufs(s, bufs, (unsigned)n);
        requests -= n;
        if (uv_is_closing((uv_handle_t *)s))
            return;
    }
}

static void on_connection(uv_stream_t *server, int status) {
    if (status < 0)
        return;
    struct conn *c = calloc(1, sizeof *c);
    uv_tcp_init(server->loop, &c->tcp);
    if (uv_accept(server, (uv_stream_t *)&c->tcp) != 0) {
        uv_close((uv_handle_t *)&c->tcp, on_close);
        return;
    }
    uv_tcp_nodelay(&c->tcp, 1);
    uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read);
}

static void on_signal(uv_signal_t *h, int signum) {
    (void)signum;
    uv_stop(h->loop);
}

int main(int argc, char **argv) {
    int port = argc > 1 ? atoi(argv[1]) : 8080;
    signal(SIGPIPE, SIG_IGN); /* as eddy (and CPython) do: a write to a closed peer is an error, not a kill */
    uv_loop_t *loop = uv_default_loop();
    uv_tcp_t server;
    struct sockaddr_in addr;
    uv_ip4_addr("127.0.0.1", port, &addr);
    uv_tcp_init(loop, &server);
    int rc = uv_tcp_bind(&server, (const struct sockaddr *)&addr, 0);
    if (rc == 0)
        rc = uv_listen((uv_stream_t *)&server, 1024, on_connection);
    if (rc != 0) {
        fprintf(stderr, "listen: %s\n", uv_strerror(rc));
        return 1;
    }
    uv_signal_t sigint, sigterm;
    uv_signal_init(loop, &sigint);
    uv_signal_start(&sigint, on_signal, SIGINT);
    uv_signal_init(loop, &sigterm);
    uv_signal_start(&sigterm, on_signal, SIGTERM);
    printf("http://127.0.0.1:%d/\n", port);
    fflush(stdout);
    uv_run(loop, UV_RUN_DEFAULT);
    return 0;
}
