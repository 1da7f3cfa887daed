/* Bulk throughput, libuv side: the same job as bulk_eddy.c. The source
 * issues 64 KiB uv_writes while less than 64 KiB is queued (eddy's
 * high-water mark) and goes on when the queue is back at 16 KiB (eddy's
 * low-water mark); write requests come from a free list. uv_write does not
 * copy (the data is one static chunk); eddy copies what the kernel does
 * not take at once, as asyncio's write() does. The sink reads into one
 * 256 KiB buffer, eddy's read size.
 *
 *   bulk_uv source PORT [BYTES]   (default 1 GiB; closes after the last byte)
 *   bulk_uv sink PORT             (closes when the client's EOF arrives)
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

#define CHUNK (64 * 1024)
#define HIGH (64 * 1024)
#define LOW (16 * 1024)
#define READ_BUF (256 * 1024)

static char chunk[CHUNK];
static char read_buf[READ_BUF];
static long long total_bytes = 1LL << 30;

struct req {
    uv_write_t w;
    struct req *next;
};
static struct req *free_reqs;

struct source {
    uv_tcp_t tcp;
    long long sent;
    int in_flight;
};

static void on_close(uv_handle_t *h) {
    free(h);
}

static void pump(struct source *s);

static void on_written(uv_write_t *w, int status) {
    struct req *r = (struct req *)w;
    struct source *s = (struct source *)w->handle;
    r->next = free_reqs;
    free_reqs = r;
    s->in_flight--;
    if (status < 0) {
        if (!uv_is_closing((uv_handle_t *)s))
            uv_close((uv_handle_t *)s, on_close);
        return;
    }
    if (s->sent == total_bytes && s->in_flight == 0) {
        uv_close((uv_handle_t *)s, on_close);
        return;
    }
    if (uv_stream_get_write_queue_size((uv_stream_t *)s) <= LOW)
        pump(s);
}

static void pump(struct source *s) {
    uv_stream_t *st = (uv_stream_t *)s;
    while (s->sent < total_bytes && uv_stream_get_write_queue_size(st) <= HIGH) {
        long long left = total_bytes - s->sent;
        uv_buf_t b = uv_buf_init(chunk, left < CHUNK ? (unsigned)left : CHUNK);
        struct req *r = free_reqs;
        if (r != NULL)
            free_reqs = r->next;
        else
            r = malloc(sizeof *r);
        s->sent += b.len;
        s->in_flight++;
        if (uv_write(&r->w, st, &b, 1, on_written) != 0) {
            uv_close((uv_handle_t *)s, on_close);
            return;
        }
    }
}

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf) {
    (void)h;
    (void)suggested;
    *buf = uv_buf_init(read_buf, READ_BUF);
}

static void sink_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf) {
    (void)buf;
    if (nread < 0) {
        if (!uv_is_closing((uv_handle_t *)s))
            uv_close((uv_handle_t *)s, on_close);
        return;
    }
    /* counted like bulk_eddy's sink, which keeps the total per connection */
    ((struct source *)s)->sent += nread;
}

static int is_source;

static void on_connection(uv_stream_t *server, int status) {
    if (status < 0)
        return;
    struct source *s = calloc(1, sizeof *s);
    uv_tcp_init(server->loop, &s->tcp);
    if (uv_accept(server, (uv_stream_t *)&s->tcp) != 0) {
        uv_close((uv_handle_t *)&s->tcp, on_close);
        return;
    }
    uv_tcp_nodelay(&s->tcp, 1);
    if (is_source)
        pump(s);
    else
        uv_read_start((uv_stream_t *)&s->tcp, on_alloc, sink_read);
}

static void on_signal(uv_signal_t *h, int signum) {
    (void)signum;
    uv_stop(h->loop);
}

int main(int argc, char **argv) {
    if (argc < 3 || (strcmp(argv[1], "source") != 0 && strcmp(argv[1], "sink") != 0)) {
        fprintf(stderr, "usage: %s source|sink PORT [BYTES]\n", argv[0]);
        return 2;
    }
    is_source = strcmp(argv[1], "source") == 0;
    int port = atoi(argv[2]);
    if (argc > 3)
        total_bytes = atoll(argv[3]);
    memset(chunk, 'x', sizeof chunk);
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
    printf("bulk %s on 127.0.0.1:%d\n", argv[1], port);
    fflush(stdout);
    uv_run(loop, UV_RUN_DEFAULT);
    return 0;
}
