/* UDP echo server on libuv: the same job as examples-c/udp_echo.c (the
 * eddy side of the UDP pair). The socket reads with recvmmsg
 * (uv_udp_init_ex with UV_UDP_RECVMMSG: the buffer holds 20 slots of
 * 64 KiB, libuv's batch); each datagram goes back at once
 * (uv_udp_try_send), and only one the kernel does not take is copied and
 * queued with uv_udp_send, which is what eddy_datagram_sendto does.
 *
 *   udp_echo_uv [port]        (default 9999; SIGINT or SIGTERM stops it)
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

#define SLOT (64 * 1024)
#define SLOTS 20

static char read_buf[SLOT * SLOTS];

struct send_req {
    uv_udp_send_t req;
    uv_buf_t buf;
};

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf) {
    (void)h;
    (void)suggested;
    *buf = uv_buf_init(read_buf, sizeof read_buf);
}

static void on_sent(uv_udp_send_t *req, int status) {
    struct send_req *s = (struct send_req *)req;
    (void)status;
    free(s->buf.base);
    free(s);
}

static void on_recv(uv_udp_t *h, ssize_t nread, const uv_buf_t *buf, const struct sockaddr *addr, unsigned flags) {
    (void)flags;
    if (nread < 0 || addr == NULL) /* an error, or the end of a batch */
        return;
    uv_buf_t out = uv_buf_init(buf->base, (unsigned)nread);
    if (uv_udp_try_send(h, &out, 1, addr) == nread)
        return;
    struct send_req *s = malloc(sizeof *s);
    s->buf = uv_buf_init(malloc((size_t)nread + 1), (unsigned)nread);
    memcpy(s->buf.base, buf->base, (size_t)nread);
    uv_udp_send(&s->req, h, &s->buf, 1, addr, on_sent);
}

static void on_signal(uv_signal_t *h, int signum) {
    (void)signum;
    uv_stop(h->loop);
}

int main(int argc, char **argv) {
    int port = argc > 1 ? atoi(argv[1]) : 9999;
    uv_loop_t *loop = uv_default_loop();
    uv_udp_t udp;
    struct sockaddr_in addr;
    uv_ip4_addr("127.0.0.1", port, &addr);
    int rc = uv_udp_init_ex(loop, &udp, AF_INET | UV_UDP_RECVMMSG);
    if (rc == 0)
        rc = uv_udp_bind(&udp, (const struct sockaddr *)&addr, 0);
    if (rc == 0)
        rc = uv_udp_recv_start(&udp, on_alloc, on_recv);
    if (rc != 0) {
        fprintf(stderr, "udp: %s\n", uv_strerror(rc));
        return 1;
    }
    if (!uv_udp_using_recvmmsg(&udp)) {
        fprintf(stderr, "udp_echo_uv: libuv does not use recvmmsg here\n");
        return 1;
    }
    uv_signal_t sigint, sigterm;
    uv_signal_init(loop, &sigint);
    uv_signal_start(&sigint, on_signal, SIGINT);
    uv_signal_init(loop, &sigterm);
    uv_signal_start(&sigterm, on_signal, SIGTERM);
    printf("udp echo on 127.0.0.1:%d\n", port);
    fflush(stdout);
    uv_run(loop, UV_RUN_DEFAULT);
    return 0;
}
